"""impl.store: the HSM's durable state, as a log of applied vault commands.

A replica's vault is rebuilt on restart by replaying its log; what is in the log survives
a crash, what is only in the replica's memory (sessions, pending challenges) does not.
This is the seam the replicated log of the fleet (Multi-Paxos) plugs into later; here one
HSM keeps its own log. ``MemoryLog`` is the default; it lives outside the ``Hsm`` object,
so a crash that throws the ``Hsm``'s memory away keeps it, as a disk would.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Final, Protocol, TypeVar

from impl.crypto.symmetric import KEY_LEN, hkdf_sha256, hmac_sha256, sha256
from impl.errors import StoreError, WireError
from impl.peer_messages import AcceptedEntry, Ballot, DurableState, Proposal, Snapshot
from impl.peer_wire import encode_ballot, encode_proposal, encode_snapshot
from impl.redact import Secret
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


class StoreTampered(StoreError):
    """A replica's store does not verify: a byte, a row or the set of rows is not what the
    HSM wrote (the operator edited it). The replica refuses the whole store."""


class StoreRolledBack(StoreError):
    """A replica's store is older than the newest state its HSM wrote (``impl.nvram``):
    the operator put an old copy back. The replica refuses the whole store."""


class StoreAuth(Enum):
    """What a store's tag covers (``DurableState.tag``).

    ``FULL`` (the fleet): the version, the promise, the boot count, the rejoin mark, the
    snapshot and the **set** of rows, each row with its slot, its ballot and its
    proposal, so an edited byte anywhere and a deleted, added or moved row are detected.
    ``VERSION``: only the version and the snapshot (the unsafe variant
    ``unauthenticated-ballots``: ballots, the promise and the row set can be edited).
    ``NONE``: nothing is checked (``rollback-undetected``, ``rollback-beyond-budget``:
    today's store before issue 14).
    """

    FULL = "full"
    VERSION = "version"
    NONE = "none"


T = TypeVar("T")

#: HKDF info of the key a store's tag is made with (from the storage key).
MANIFEST_INFO: Final = b"vaultbench store manifest v1"
TAG_LEN: Final = 32


def store_auth_for(variant: str | None) -> StoreAuth:
    """store_auth_for: what the store of a fleet running ``variant`` authenticates."""
    if variant in ("rollback-undetected", "rollback-beyond-budget"):
        return StoreAuth.NONE
    if variant == "unauthenticated-ballots":
        return StoreAuth.VERSION
    return StoreAuth.FULL


def manifest_key(storage_key: Secret) -> Secret:
    """manifest_key: the key of a store's tag, derived from the replica's storage key (so
    it too never leaves the HSM)."""
    return Secret(hkdf_sha256(storage_key.reveal(), MANIFEST_INFO))


class StoreTagger:
    """StoreTagger: computes and checks ``DurableState.tag`` (see ``StoreAuth``).

    ``tag = HMAC-SHA256(manifest key, MANIFEST_INFO || version || digest)``; the digest is
    SHA-256 over the promise, boots, rejoin mark, the snapshot's digest and the digests
    of every row sorted by table and slot (a row digest covers its table, slot, ballot and
    proposal). Row and snapshot digests are cached by object identity, so a write costs
    hashing the new row and the list of row digests, not the whole state.
    """

    def __init__(self, key: Secret, auth: StoreAuth = StoreAuth.FULL) -> None:
        if not isinstance(key, Secret) or len(key) != KEY_LEN:
            raise StoreError(f"store tag: the key must be a {KEY_LEN}-byte Secret")
        self._key: Final = manifest_key(key)
        self.auth: Final = auth
        self._rows: dict[tuple[int, int], tuple[object, bytes]] = {}
        self._snapshot: tuple[Snapshot, bytes] | None = None

    def __repr__(self) -> str:
        return f"StoreTagger({self.auth.value})"

    def tag(self, state: DurableState) -> bytes:
        """tag: the tag ``state`` (at its ``version``) must carry."""
        return hmac_sha256(
            self._key.reveal(),
            MANIFEST_INFO + _u64(state.version) + self._digest(state),
        )

    def check(self, state: DurableState, where: str) -> None:
        """check: ``StoreTampered`` unless ``state.tag`` is the tag of ``state`` (nothing
        is checked under ``StoreAuth.NONE``). Compared in constant time."""
        if self.auth is StoreAuth.NONE:
            return
        expected = self.tag(state)
        if not isinstance(state.tag, bytes) or not hmac.compare_digest(state.tag, expected):
            raise StoreTampered(
                f"{where}: the store does not verify (a row, a ballot, the promise or the "
                f"set of rows is not what this HSM wrote at version {state.version})"
            )

    def _digest(self, state: DurableState) -> bytes:
        snap = self._snapshot_digest(state.snapshot)
        if self.auth is StoreAuth.VERSION:
            return sha256(b"version|" + snap)
        parts = [
            b"full|",
            _encode(encode_ballot, state.promised),
            _u64(state.boots),
            _u64(state.rejoin_until),
            snap,
            _u64(len(state.accepted)),
        ]
        live: set[tuple[int, int]] = set()
        for slot in sorted(state.accepted):
            entry = state.accepted[slot]
            parts.append(self._row(0, slot, entry))
            live.add((0, slot))
        parts.append(_u64(len(state.chosen)))
        for slot in sorted(state.chosen):
            parts.append(self._row(1, slot, state.chosen[slot]))
            live.add((1, slot))
        if len(self._rows) > 2 * len(live) + 64:
            self._rows = {k: v for k, v in self._rows.items() if k in live}
        return sha256(b"".join(parts))

    def _row(self, table: int, slot: int, value: AcceptedEntry | Proposal) -> bytes:
        cached = self._rows.get((table, slot))
        if cached is not None and cached[0] is value:
            return cached[1]
        if isinstance(value, AcceptedEntry):
            body = (
                _u64(value.slot)
                + _encode(encode_ballot, value.ballot)
                + _encode(encode_proposal, value.proposal)
            )
        else:
            body = _encode(encode_proposal, value)
        digest = sha256(bytes((table,)) + _u64(slot) + body)
        self._rows[(table, slot)] = (value, digest)
        return digest

    def _snapshot_digest(self, snapshot: Snapshot) -> bytes:
        if self._snapshot is not None and self._snapshot[0] is snapshot:
            return self._snapshot[1]
        digest = sha256(_encode(encode_snapshot, snapshot))
        self._snapshot = (snapshot, digest)
        return digest


def _u64(value: int) -> bytes:
    if type(value) is not int or not 0 <= value < 1 << 64:
        raise StoreError(f"store tag: {value!r} is not a 64-bit unsigned integer")
    return value.to_bytes(8, "big")


def _encode(encode: Callable[[T], bytes], value: T) -> bytes:
    try:
        return encode(value)
    except WireError as exc:
        raise StoreError(f"store tag: cannot encode: {exc}") from None


class ReplicaStore(Protocol):
    """Durable state of one fleet replica (``impl.consensus``).

    Every setter is a durable write: when it returns, the value survives a crash. The
    replica calls it *before* it sends the message that depends on it (a promise, a vote),
    and then records the store's new ``version`` in its HSM's NVRAM (``impl.nvram``).
    Every write adds one to ``version`` and re-tags the state (``StoreTagger``);
    ``load`` returns what is stored, tag included, after checking the tag
    (``StoreTampered``). ``image``/``restore_image`` model the operator copying a disk
    image and putting it back later, tag and all (the ``rollback`` fault); ``restore_image``
    stores exactly what it is given, so an edited image keeps a tag that does not verify.
    """

    @property
    def version(self) -> int: ...

    def load(self) -> DurableState: ...

    def set_promised(self, ballot: Ballot) -> None: ...

    def put_accepted(self, entry: AcceptedEntry) -> None: ...

    def put_chosen(self, slot: int, proposal: Proposal) -> None: ...

    def put_snapshot(self, snapshot: Snapshot) -> None:
        """Store ``snapshot`` and drop every accepted or chosen entry below its ``upto``."""
        ...

    def set_boots(self, boots: int, version: int) -> None:
        """Record the boot count at exactly ``version`` (the boot burns versions)."""
        ...

    def reset(self, state: DurableState) -> None:
        """Replace everything with ``state`` (at its ``version``), tagged afresh: how a
        replica that refused its store starts again from its HSM-held state."""
        ...

    def image(self) -> DurableState: ...

    def restore_image(self, image: DurableState) -> None: ...

    def close(self) -> None: ...


class MemoryReplicaStore:
    """A replica's durable state in this process's memory (outlives the replica object).

    ``key`` is the replica's storage key (``impl.replica.storage_key``), which the HSM
    holds; without one, a random key is drawn (the tag's value never changes behaviour,
    only whether it verifies). The simulator's operator works on this object through
    ``image``, ``restore_image`` and ``edit``, none of which can compute a tag.
    """

    def __init__(self, key: Secret | None = None, auth: StoreAuth = StoreAuth.FULL) -> None:
        self._tagger: Final = StoreTagger(key or Secret(os.urandom(KEY_LEN)), auth)
        self._state = DurableState()
        self._state.tag = self._tagger.tag(self._state)

    def __repr__(self) -> str:
        s = self._state
        return (
            f"MemoryReplicaStore(v{s.version}, promised={s.promised}, {len(s.accepted)} "
            f"accepted, {len(s.chosen)} chosen, snapshot upto {s.snapshot.upto})"
        )

    @property
    def version(self) -> int:
        return self._state.version

    def load(self) -> DurableState:
        self._tagger.check(self._state, "memory store")
        return self._state.copy()

    def _written(self) -> None:
        self._state.version += 1
        self._state.tag = self._tagger.tag(self._state)

    def set_promised(self, ballot: Ballot) -> None:
        self._state.promised = ballot
        self._written()

    def put_accepted(self, entry: AcceptedEntry) -> None:
        if entry.slot >= self._state.snapshot.upto:
            self._state.accepted[entry.slot] = entry
            self._written()

    def put_chosen(self, slot: int, proposal: Proposal) -> None:
        if slot >= self._state.snapshot.upto:
            self._state.chosen[slot] = proposal
            self._written()

    def put_snapshot(self, snapshot: Snapshot) -> None:
        s = self._state
        if snapshot.upto <= s.snapshot.upto:
            return
        s.snapshot = snapshot
        s.accepted = {k: v for k, v in s.accepted.items() if k >= snapshot.upto}
        s.chosen = {k: v for k, v in s.chosen.items() if k >= snapshot.upto}
        self._written()

    def set_boots(self, boots: int, version: int) -> None:
        self._state.boots = boots
        self._state.version = version
        self._state.tag = self._tagger.tag(self._state)

    def reset(self, state: DurableState) -> None:
        self._state = state.copy()
        self._state.tag = self._tagger.tag(self._state)

    def image(self) -> DurableState:
        return self._state.copy()

    def restore_image(self, image: DurableState) -> None:
        self._state = image.copy()

    def close(self) -> None:
        pass
