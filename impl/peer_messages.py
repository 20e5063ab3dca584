"""impl.peer_messages: the values replicas exchange and keep durably (Multi-Paxos).

Plain frozen values, no behaviour: the consensus logic is in ``impl.consensus``, the
canonical encodings in ``impl.peer_wire``, the authenticated envelope in ``impl.peer``.

Vocabulary (``system.md``, "The fleet"):

- a **ballot** is ``(round, replica)``, totally ordered, unique per leader;
- a **slot** is a position in the replicated log (0, 1, 2 ...);
- a **proposal** is what a slot holds: a vault command (or a no-op that fills a gap left
  by a failed leader) tagged with the id of the client request it serves;
- a **snapshot** is the vault's records after applying every slot below ``upto``; it
  replaces those slots in the log (log compaction) and is how a far-behind replica catches
  up.

Messages, by phase:

======================  ==========================================================
``Prepare``             1a: a would-be leader asks for promises at ``ballot``
``Promise``             1b: promised; carries what the acceptor accepted from ``from_slot``
``Accept``              2a: the leader asks to accept ``proposal`` in ``slot``
``Accepted``            2b: accepted (sent to the leader)
``Reject``              a ballot below the acceptor's promise: carries the promise
``Commit``              the leader's commit index (everything below is chosen)
``CatchUp``             a replica asks for chosen slots from ``from_slot``
``CatchUpReply``        a snapshot (if ``from_slot`` was compacted) and chosen entries
======================  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

from impl.vault import Command, VaultRecord


@dataclass(frozen=True, order=True)
class Ballot:
    """A ballot: ``round`` first, then the proposing replica's index breaks ties."""

    round: int
    replica: int

    def __str__(self) -> str:
        return f"{self.round}.{self.replica}"


#: The ballot below every real ballot: nothing promised, nothing accepted.
ZERO_BALLOT = Ballot(0, 0)


@dataclass(frozen=True)
class Noop:
    """Fills a slot a failed leader left open; applying it changes nothing."""


LogValue = Command | Noop


@dataclass(frozen=True)
class Proposal:
    """What one slot holds: a value and the 16-byte id of the request it serves."""

    request_id: bytes
    value: LogValue

    def __repr__(self) -> str:
        return f"Proposal({self.request_id.hex()[:8]}, {type(self.value).__name__})"


@dataclass(frozen=True)
class AcceptedEntry:
    """An acceptor's vote: ``proposal`` accepted in ``slot`` at ``ballot``."""

    slot: int
    ballot: Ballot
    proposal: Proposal


@dataclass(frozen=True)
class ChosenEntry:
    """A slot known to be chosen."""

    slot: int
    proposal: Proposal


@dataclass(frozen=True)
class Snapshot:
    """The vault after applying every slot below ``upto``: records sorted by user."""

    upto: int
    records: tuple[VaultRecord, ...] = ()

    def __repr__(self) -> str:
        return f"Snapshot(upto={self.upto}, <{len(self.records)} records>)"


# ------------------------------------------------------------------------------ messages


@dataclass(frozen=True)
class Prepare:
    ballot: Ballot
    from_slot: int


@dataclass(frozen=True)
class Promise:
    ballot: Ballot
    from_slot: int
    accepted: tuple[AcceptedEntry, ...]
    committed: int


@dataclass(frozen=True)
class Accept:
    ballot: Ballot
    slot: int
    proposal: Proposal
    committed: int


@dataclass(frozen=True)
class Accepted:
    ballot: Ballot
    slot: int


@dataclass(frozen=True)
class Reject:
    ballot: Ballot
    promised: Ballot


@dataclass(frozen=True)
class Commit:
    ballot: Ballot
    committed: int


@dataclass(frozen=True)
class CatchUp:
    from_slot: int


@dataclass(frozen=True)
class CatchUpReply:
    snapshot: Snapshot | None
    entries: tuple[ChosenEntry, ...]


PeerMessage = Prepare | Promise | Accept | Accepted | Reject | Commit | CatchUp | CatchUpReply


# -------------------------------------------------------------------------- durable state


@dataclass
class DurableState:
    """What a replica keeps across a crash (written before it replies).

    ``promised``: the highest ballot promised; ``accepted``: the latest vote per slot at or
    above the snapshot; ``chosen``: slots known chosen above the snapshot; ``snapshot``:
    the compacted prefix; ``boots``: how many times the replica has started.

    ``version`` counts the store's durable writes (the HSM keeps the newest in its NVRAM,
    ``impl.nvram``, and refuses an older store); ``rejoin_until``: a replica that lost its
    state is a learner until it has applied every slot below it (``impl.consensus``);
    ``tag``: the store's authentication of all of the above (``impl.store.StoreAuth``),
    as written: an image the operator edited keeps its old tag, and does not verify.
    """

    promised: Ballot = ZERO_BALLOT
    accepted: dict[int, AcceptedEntry] = field(default_factory=dict)
    chosen: dict[int, Proposal] = field(default_factory=dict)
    snapshot: Snapshot = field(default_factory=lambda: Snapshot(0))
    boots: int = 0
    version: int = 0
    rejoin_until: int = 0
    #: not part of equality: two states are equal when they hold the same things
    tag: bytes = field(default=b"", compare=False)

    def copy(self) -> DurableState:
        return DurableState(
            self.promised,
            dict(self.accepted),
            dict(self.chosen),
            self.snapshot,
            self.boots,
            self.version,
            self.rejoin_until,
            self.tag,
        )
