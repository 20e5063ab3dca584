"""impl.store: the HSM's durable state, as a log of applied vault commands.

A replica's vault is rebuilt on restart by replaying its log; what is in the log survives
a crash, what is only in the replica's memory (sessions, pending challenges) does not.
This is the seam the replicated log of the fleet (Multi-Paxos) plugs into later; here one
HSM keeps its own log. ``MemoryLog`` is the default; it lives outside the ``Hsm`` object,
so a crash that throws the ``Hsm``'s memory away keeps it, as a disk would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from impl.vault import Command


class CommandLog(Protocol):
    """Durable, append-only storage of the commands a vault has applied, in order."""

    def append(self, command: Command) -> None: ...

    def replay(self) -> Iterator[Command]: ...

    def __len__(self) -> int: ...


class MemoryLog:
    """A command log kept in this process's memory (it outlives the HSM that writes it)."""

    def __init__(self) -> None:
        self._commands: list[Command] = []

    def append(self, command: Command) -> None:
        self._commands.append(command)

    def replay(self) -> Iterator[Command]:
        return iter(list(self._commands))

    def __len__(self) -> int:
        return len(self._commands)

    def __repr__(self) -> str:
        return f"MemoryLog(<{len(self._commands)} commands>)"
