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

from impl.peer_messages import AcceptedEntry, Ballot, DurableState, Proposal, Snapshot
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


# ------------------------------------------------------------------- replica (Multi-Paxos)


class ReplicaStore(Protocol):
    """Durable state of one fleet replica (``impl.consensus``).

    Every setter is a durable write: when it returns, the value survives a crash. The
    replica calls it *before* it sends the message that depends on it (a promise, a vote).
    ``image``/``restore_image`` model the operator copying a disk image and replaying it
    later (the ``rollback`` fault).
    """

    def load(self) -> DurableState: ...

    def set_promised(self, ballot: Ballot) -> None: ...

    def put_accepted(self, entry: AcceptedEntry) -> None: ...

    def put_chosen(self, slot: int, proposal: Proposal) -> None: ...

    def put_snapshot(self, snapshot: Snapshot) -> None:
        """Store ``snapshot`` and drop every accepted or chosen entry below its ``upto``."""
        ...

    def set_boots(self, boots: int) -> None: ...

    def image(self) -> DurableState: ...

    def restore_image(self, image: DurableState) -> None: ...

    def close(self) -> None: ...


class MemoryReplicaStore:
    """A replica's durable state in this process's memory (outlives the replica object)."""

    def __init__(self) -> None:
        self._state = DurableState()

    def __repr__(self) -> str:
        s = self._state
        return (
            f"MemoryReplicaStore(promised={s.promised}, {len(s.accepted)} accepted, "
            f"{len(s.chosen)} chosen, snapshot upto {s.snapshot.upto})"
        )

    def load(self) -> DurableState:
        return self._state.copy()

    def set_promised(self, ballot: Ballot) -> None:
        self._state.promised = ballot

    def put_accepted(self, entry: AcceptedEntry) -> None:
        if entry.slot >= self._state.snapshot.upto:
            self._state.accepted[entry.slot] = entry

    def put_chosen(self, slot: int, proposal: Proposal) -> None:
        if slot >= self._state.snapshot.upto:
            self._state.chosen[slot] = proposal

    def put_snapshot(self, snapshot: Snapshot) -> None:
        s = self._state
        if snapshot.upto <= s.snapshot.upto:
            return
        s.snapshot = snapshot
        s.accepted = {k: v for k, v in s.accepted.items() if k >= snapshot.upto}
        s.chosen = {k: v for k, v in s.chosen.items() if k >= snapshot.upto}

    def set_boots(self, boots: int) -> None:
        self._state.boots = boots

    def image(self) -> DurableState:
        return self._state.copy()

    def restore_image(self, image: DurableState) -> None:
        self._state = image.copy()

    def close(self) -> None:
        pass
