"""impl.consensus on its own: durable before reply, refusals of malformed messages."""

from __future__ import annotations

import pytest

from impl.consensus import ConsensusConfig, Replica
from impl.crypto.symmetric import SeededRng
from impl.errors import ProtocolError
from impl.peer_messages import (
    Accept,
    AcceptedEntry,
    Ballot,
    CatchUpReply,
    ChosenEntry,
    Commit,
    Noop,
    PeerMessage,
    Prepare,
    Promise,
    Proposal,
    Snapshot,
)
from impl.store import MemoryReplicaStore
from impl.vault import VaultRecord

NOOP = Proposal(bytes(16), Noop())


class _Wire:
    def __init__(self, store: MemoryReplicaStore) -> None:
        self.sent: list[tuple[int, PeerMessage, object]] = []
        self._store = store

    def send(self, to: int, message: PeerMessage) -> None:
        # What the store holds at the moment the message leaves.
        self.sent.append((to, message, self._store.image()))


class _Clock:
    def __init__(self) -> None:
        self.t = 0

    def now(self) -> int:
        return self.t


class _App:
    def __init__(self) -> None:
        self.applied: list[int] = []

    def apply(self, slot: int, proposal: Proposal) -> object:
        self.applied.append(slot)
        return None

    def records(self) -> tuple[VaultRecord, ...]:
        return ()

    def restore(self, snapshot: Snapshot) -> None:
        pass


def _replica(index: int = 1) -> tuple[Replica, _Wire, MemoryReplicaStore]:
    store = MemoryReplicaStore()
    wire = _Wire(store)
    replica = Replica(index, ConsensusConfig(), store, wire, _Clock(), SeededRng(1), _App())
    replica.start()
    return replica, wire, store


def test_a_promise_is_durable_before_it_is_sent() -> None:
    replica, wire, _ = _replica()
    replica.on_message(2, Prepare(Ballot(3, 2), 0))
    ((to, message, image),) = wire.sent
    assert to == 2
    assert isinstance(message, Promise)
    assert image.promised == Ballot(3, 2)  # type: ignore[attr-defined]


def test_a_vote_is_durable_before_it_is_sent() -> None:
    replica, wire, _ = _replica()
    replica.on_message(2, Accept(Ballot(3, 2), 0, NOOP, 0))
    (_, message, image) = wire.sent[0]
    assert type(message).__name__ == "Accepted"
    assert image.accepted[0] == AcceptedEntry(0, Ballot(3, 2), NOOP)  # type: ignore[attr-defined]


def test_a_lower_ballot_is_rejected_with_the_promise() -> None:
    replica, wire, _ = _replica()
    replica.on_message(2, Prepare(Ballot(5, 2), 0))
    replica.on_message(3, Accept(Ballot(4, 3), 0, NOOP, 0))
    (_, reject, _) = wire.sent[-1]
    assert type(reject).__name__ == "Reject"
    assert replica.accepted == {}


@pytest.mark.parametrize(
    ("sender", "message", "why"),
    [
        (7, Prepare(Ballot(1, 7), 0), "not a peer"),
        (1, Prepare(Ballot(1, 1), 0), "not a peer"),  # from itself
        (2, Prepare(Ballot(1, 9), 0), "names no replica"),
        (2, Accept(Ballot(1, 3), 0, NOOP, 0), "only replica 3 leads"),
        (2, Commit(Ballot(1, 4), 5), "only replica 4 leads"),
        (2, Promise(Ballot(1, 3), 0, (), 0), "not this replica's"),
        (
            2,
            Promise(Ballot(1, 1), 4, (AcceptedEntry(2, Ballot(1, 0), NOOP),), 0),
            "below its from_slot",
        ),
        (
            2,
            CatchUpReply(None, (ChosenEntry(3, NOOP), ChosenEntry(3, NOOP))),
            "out of order",
        ),
        (2, CatchUpReply(Snapshot(10), (ChosenEntry(3, NOOP),)), "below the snapshot"),
    ],
)
def test_protocol_breaking_messages_are_refused_and_change_nothing(
    sender: int, message: PeerMessage, why: str
) -> None:
    replica, wire, store = _replica()
    before = store.image()
    with pytest.raises(ProtocolError, match=why):
        replica.on_message(sender, message)
    assert store.image() == before
    assert wire.sent == []
    assert replica.counters.extra["refused"] == 1
