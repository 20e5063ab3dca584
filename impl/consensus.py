"""impl.consensus: Multi-Paxos among the fleet's replicas ("Paxos Made Simple").

One ``Replica`` is proposer, acceptor and learner at once. It does not know whether it
runs in the simulator or on real hosts: messages leave through a ``Transport``, time comes
from a ``Clock``, durable state goes to a ``ReplicaStore``, randomness (election jitter)
from an ``Rng``, and chosen log entries go to an ``Application`` (the vault).

The protocol, per slot of the replicated log:

- **Phase 1** (leader election): a replica whose election timer expires picks a ballot
  ``(round, me)`` above every round it has seen, promises it to itself and sends
  ``Prepare(ballot, from_slot)``, where ``from_slot`` is the first slot it has not
  applied. An acceptor promises a ballot above its promise, **durably before it
  answers**, and returns its votes from ``from_slot`` on. With promises from a quorum the
  candidate leads: for every slot from ``from_slot`` up to the highest voted slot it
  re-proposes the vote with the highest ballot, or a ``Noop`` where nobody voted.
- **Phase 2**: the leader sends ``Accept(ballot, slot, proposal)``; an acceptor whose
  promise is not above ``ballot`` records the vote **durably before it answers**
  ``Accepted``. With ``Accepted`` from a quorum the slot is *chosen*.
- **Learning**: the leader applies chosen slots in order and piggybacks its commit index
  (``committed``: every slot below it is chosen) on ``Accept`` and on ``Commit``
  heartbeats. A follower that voted for a slot at the leader's ballot knows the value;
  for any other slot below ``committed`` it asks the leader (``CatchUp``) and receives
  chosen entries, or a snapshot when the slot has been compacted away.
- **Serving**: only a leader that has applied every slot it recovered in phase 1 serves
  requests (``ready``). A restarted replica therefore never serves before it has caught
  up, and what it reads is at least as new as everything chosen before it led.
- **Compaction**: every ``snapshot_every`` applied slots the replica stores a snapshot of
  the vault and drops the votes and chosen entries below it.

Ballots never repeat across replicas (the replica index breaks ties) and a replica picks
rounds above everything it has seen, so no two leaders share a ballot.

Unsafe variants (``model.variants``) exist to show what the rules buy; each is named
where it changes behaviour: ``minority-quorum`` (configuration), ``answer-before-chosen``
and ``serve-before-catch-up`` (``impl.replica``), ``forget-promise-on-restart`` (here,
in ``start``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Protocol, TypeVar

from impl.crypto.symmetric import Rng
from impl.errors import ConfigError, ProtocolError, StoreError
from impl.logs import logger
from impl.nvram import MemoryNvram, Nvram, NvramError, NvramState
from impl.peer_messages import (
    ZERO_BALLOT,
    Accept,
    Accepted,
    AcceptedEntry,
    Ballot,
    CatchUp,
    CatchUpReply,
    ChosenEntry,
    Commit,
    DurableState,
    Noop,
    PeerMessage,
    Prepare,
    Promise,
    Proposal,
    Reject,
    Snapshot,
)
from impl.store import ReplicaStore, StoreRolledBack, StoreTampered
from impl.vault import Command, VaultRecord

#: The fleet's unsafe variants (``model.variants`` has the catalogue).
FLEET_VARIANTS: Final = (
    "minority-quorum",
    "answer-before-chosen",
    "serve-before-catch-up",
    "forget-promise-on-restart",
    "rollback-beyond-budget",
    "rollback-undetected",
    "unauthenticated-ballots",
)
#: The variants under which a replica does not compare its store with its NVRAM.
UNDETECTED_ROLLBACK: Final = ("rollback-beyond-budget", "rollback-undetected")
MAX_REPLICAS: Final = 64
_log = logger(__name__)
#: The largest round, slot or commit index a message may carry. A correct fleet never
#: gets near it (2^63 elections, or log slots); refusing more keeps every ``round + 1``
#: and ``slot + 1`` a replica computes from what it heard inside the wire's u64, so a
#: faulty peer cannot make this replica's next ballot or slot unencodable.
MAX_COUNTER: Final = 2**63 - 1


@dataclass(frozen=True)
class ConsensusConfig:
    """The fleet's consensus configuration; times are in milliseconds of the replica clock.

    ``quorum`` 0 means a majority (half, rounded down, under ``minority-quorum``). A quorum
    must be a majority (``2q > n``) except under the unsafe variant ``minority-quorum``.
    """

    replicas: int = 5
    quorum: int = 0
    heartbeat_ms: int = 30
    election_timeout_ms: int = 150
    retry_ms: int = 60
    snapshot_every: int = 64
    catch_up_batch: int = 512
    variant: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.replicas <= MAX_REPLICAS:
            raise ConfigError(f"replicas must be 1..{MAX_REPLICAS}, got {self.replicas}")
        if not 0 <= self.quorum <= self.replicas:
            raise ConfigError(
                f"quorum must be 1..{self.replicas} (or 0 for a majority), got {self.quorum}"
            )
        if self.variant is not None and self.variant not in FLEET_VARIANTS:
            raise ConfigError(
                f"unknown fleet variant {self.variant!r}; known: {', '.join(FLEET_VARIANTS)}"
            )
        if 2 * self.q <= self.replicas and self.variant != "minority-quorum":
            raise ConfigError(
                f"quorum {self.q} of {self.replicas} is not a majority (2q > n fails): two "
                f"quorums could miss each other; only the unsafe variant minority-quorum "
                f"allows it"
            )
        for name in ("heartbeat_ms", "election_timeout_ms", "retry_ms", "snapshot_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.catch_up_batch < 1:
            raise ConfigError("catch_up_batch must be at least 1")

    @property
    def q(self) -> int:
        """The quorum size in effect: a majority, or half under ``minority-quorum``."""
        if self.quorum:
            return self.quorum
        if self.variant == "minority-quorum":
            return max(1, self.replicas // 2)
        return self.replicas // 2 + 1

    @property
    def rollback_budget(self) -> int:
        """How many replicas may have their storage rolled back: 2q > n + r."""
        return max(0, 2 * self.q - self.replicas - 1)

    @property
    def crash_budget(self) -> int:
        """How many replicas may be down while a quorum still answers (liveness)."""
        return self.replicas - self.q


class Transport(Protocol):
    """Where a replica's messages go (sealed and carried by someone else)."""

    def send(self, to: int, message: PeerMessage) -> None: ...


class Clock(Protocol):
    """The replica's clock, in milliseconds (it may be skewed; only timeouts use it)."""

    def now(self) -> int: ...


class Application(Protocol):
    """The replicated state machine: the vault."""

    def apply(self, slot: int, proposal: Proposal) -> object: ...

    def records(self) -> tuple[VaultRecord, ...]: ...

    def restore(self, snapshot: Snapshot) -> None: ...


class Role(Enum):
    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True)
class Lost:
    """A proposal's slot was filled by another value (leadership changed): no result."""

    slot: int


@dataclass(frozen=True)
class Observation:
    """What a replica reports to an observer (the simulator's invariant checks)."""

    kind: str  # "boot", "promise", "vote", "apply", "snapshot", "restore"
    replica: int
    slot: int
    ballot: Ballot | None = None
    proposal: Proposal | None = None


Callback = Callable[[object], None]
Observer = Callable[[Observation], None]


@dataclass
class _Inflight:
    proposal: Proposal
    acks: set[int]
    sent_at: int


@dataclass
class _Pending:
    request_id: bytes
    on_chosen: Callback | None
    on_applied: Callback


@dataclass
class Counters:
    """What a replica did, for traces and summaries."""

    elections: int = 0
    led: int = 0
    proposed: int = 0
    chosen: int = 0
    applied: int = 0
    catch_ups: int = 0
    snapshots: int = 0
    rejects_sent: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Replica:
    """Replica: one member of the fleet's Multi-Paxos group (see the module docstring)."""

    def __init__(
        self,
        index: int,
        config: ConsensusConfig,
        store: ReplicaStore,
        transport: Transport,
        clock: Clock,
        rng: Rng,
        app: Application,
        observer: Observer | None = None,
        nvram: Nvram | None = None,
    ) -> None:
        if not 0 <= index < config.replicas:
            raise ConfigError(f"replica index {index} outside 0..{config.replicas - 1}")
        self.index = index
        self.config = config
        self._store = store
        self._transport = transport
        self._clock = clock
        self._rng = rng
        self._app = app
        self._observer = observer
        #: the HSM's own non-volatile state (``impl.nvram``), out of the operator's reach
        self._nvram: Nvram = nvram if nvram is not None else MemoryNvram()
        self._nv = NvramState()
        #: a replica that refused its store is a learner until it has applied every slot
        #: below this one (the rejoin rule, ``docs/disk.rst``)
        self.rejoin_until = 0
        #: why this replica refused its store at its last start (``None``: it did not)
        self.refused: StoreError | None = None
        self.counters = Counters()
        self.up = False
        self._reset_volatile()

    def __repr__(self) -> str:
        state = self.role.value if self.up else "down"
        return (
            f"Replica({self.index}, {state}, promised={self.promised}, "
            f"applied={self.applied}, snapshot={self.snapshot.upto})"
        )

    # -------------------------------------------------------------------- lifecycle

    def _reset_volatile(self) -> None:
        self.role = Role.FOLLOWER
        self.promised = ZERO_BALLOT
        self.accepted: dict[int, AcceptedEntry] = {}
        self.chosen: dict[int, Proposal] = {}
        self.snapshot = Snapshot(0)
        self.applied = 0
        self.ballot = ZERO_BALLOT  # the ballot this replica leads or campaigns with
        self.leader_hint: int | None = None
        self._max_round = 0
        self._promises: dict[int, Promise] = {}
        self._prepare_from = 0
        self._inflight: dict[int, _Inflight] = {}
        self._pending: dict[int, _Pending] = {}
        self._next_slot = 0
        self._recovered_upto = 0
        self._election_deadline = 0
        self._last_heartbeat = 0
        self._last_catch_up = -(10**9)
        self._heard_committed = 0
        self._rejoin_pending = False

    def start(self) -> None:
        """start: come up from durable state (first boot, or a restart after a crash).

        The store must verify (``StoreTampered`` otherwise) and be at the version the
        HSM's NVRAM holds, or one write ahead of it (the write in flight at a crash;
        ``StoreRolledBack`` if older). A refused store is discarded: the replica starts
        from its HSM-held state alone and rejoins as a learner (``_amnesia``). The boot
        write burns a version (NVRAM first), so a store image written but never
        acknowledged can never later pass as current. ``NvramError`` (the replica does not
        start) if the NVRAM is unreadable or behind a store it must have written.
        """
        self._reset_volatile()
        self.refused = None
        detect = self.config.variant not in UNDETECTED_ROLLBACK
        nv = self._nvram.read()
        refused: StoreError | None = None
        try:
            durable = self._store.load()
        except StoreTampered as exc:
            if not detect:
                raise
            refused, durable = exc, DurableState()
        if detect and refused is None:
            held = nv.version if nv is not None else 0
            if durable.version < held:
                refused = StoreRolledBack(
                    f"replica {self.index}: the store is at version {durable.version}, older "
                    f"than version {held}, the newest this HSM wrote"
                )
            elif durable.version > held + 1:
                raise NvramError(
                    f"replica {self.index}: the store is at version {durable.version} but "
                    f"the HSM's NVRAM holds {held}: the NVRAM was lost or reset; this HSM "
                    f"cannot tell which store is current and must be replaced"
                )
        self._nv = nv if nv is not None else NvramState()
        if refused is not None:
            durable = self._amnesia(refused)
        else:
            boot_version = max(durable.version, self._nv.version) + 2
            self._nv = self._nv.after_write(boot_version)
            self._nvram.write(self._nv)
            self._store.set_boots(durable.boots + 1, boot_version)
        self.rejoin_until = durable.rejoin_until
        self._rejoin_pending = durable.rejoin_until > durable.snapshot.upto
        self.promised = durable.promised
        if self.config.variant == "forget-promise-on-restart" and durable.boots > 0:
            # UNSAFE: the promise is lost, so this replica may now accept a lower ballot
            # after telling a higher one it would not.
            self.promised = ZERO_BALLOT
            self._store.set_promised(ZERO_BALLOT)
            self._durable()
        self.accepted = dict(durable.accepted)
        self.chosen = dict(durable.chosen)
        self.snapshot = durable.snapshot
        self._app.restore(self.snapshot)
        self.applied = self.snapshot.upto
        self._observe(Observation("boot", self.index, self.snapshot.upto, self.promised))
        self._max_round = max(
            [self.promised.round] + [e.ballot.round for e in self.accepted.values()]
        )
        self.up = True
        self._apply_ready()
        self._arm_election_timer()

    def _amnesia(self, reason: StoreError) -> DurableState:
        """_amnesia: discard a refused store; start from the HSM-held state alone.

        The promise is the NVRAM's (every promise ever made is kept); votes, chosen
        entries and the snapshot are forgotten, and ``rejoin_until`` is the NVRAM's vote
        ceiling: every forgotten vote is in a slot below it. The new store is written at a
        version two above the NVRAM's (NVRAM first), so the refused store stays refused.
        """
        self.refused = reason
        version = self._nv.version + 2
        self._nv = self._nv.after_write(version)
        self._nvram.write(self._nv)
        fresh = DurableState(
            promised=self._nv.promised,
            boots=1,
            version=version,
            rejoin_until=self._nv.vote_ceiling,
        )
        self._store.reset(fresh)
        self.counters.extra["refused stores"] = self.counters.extra.get("refused stores", 0) + 1
        _log.warning(
            "r%d refuses its store (%s: %s); it rejoins from its HSM-held state: promised "
            "%s, a learner, not counted in any quorum, until it has applied slot %d",
            self.index,
            type(reason).__name__,
            reason,
            self._nv.promised,
            self._nv.vote_ceiling - 1 if self._nv.vote_ceiling else -1,
        )
        self._observe(Observation("amnesia", self.index, self._nv.vote_ceiling, self._nv.promised))
        return self._store.load()

    def _durable(self, promised: Ballot | None = None, voted: int | None = None) -> None:
        """_durable: after a store write, record its version (and a new promise or vote)
        in the NVRAM, before any message that depends on the write leaves."""
        version = self._store.version
        if version == self._nv.version and promised is None and voted is None:
            return
        self._nv = self._nv.after_write(version, promised, voted)
        self._nvram.write(self._nv)

    @property
    def rejoining(self) -> bool:
        """A replica that refused its store and has not yet applied every slot below its
        vote ceiling: it promises nothing, votes for nothing, does not lead."""
        return self.up and self.applied < self.rejoin_until

    def crash(self) -> None:
        """crash: lose everything volatile; the store keeps what was written."""
        self._fail_pending()
        self.up = False
        self.role = Role.FOLLOWER

    # --------------------------------------------------------------------- queries

    @property
    def is_leader(self) -> bool:
        return self.up and self.role is Role.LEADER

    @property
    def ready(self) -> bool:
        """A leader that has applied every slot it recovered: it may serve."""
        if not self.is_leader:
            return False
        if self.config.variant == "serve-before-catch-up":
            return True  # UNSAFE: serves before its recovered slots are applied
        return self.applied >= self._recovered_upto

    @property
    def next_slot(self) -> int:
        """The slot the next ``propose`` will use."""
        return self._next_slot

    @property
    def committed(self) -> int:
        return self.applied

    # --------------------------------------------------------------------- proposing

    def propose(
        self,
        request_id: bytes,
        value: Command | Noop,
        on_applied: Callback,
        on_chosen: Callback | None = None,
    ) -> int:
        """propose: put ``value`` in the next slot; ``on_applied(result)`` once applied.

        Precondition: ``ready``. ``on_applied`` receives the application's result, or a
        ``Lost`` if another value took the slot. ``on_chosen`` (if given) is called when a
        quorum has accepted, before earlier slots are applied (the unsafe variants use it).
        """
        if not self.ready:
            raise ConfigError(f"replica {self.index} is not a ready leader")
        slot = self._next_slot
        self._next_slot += 1
        proposal = Proposal(request_id, value)
        self._pending[slot] = _Pending(request_id, on_chosen, on_applied)
        self.counters.proposed += 1
        self._phase2(slot, proposal)
        return slot

    # ----------------------------------------------------------------------- timers

    def tick(self) -> None:
        """tick: act on elapsed time (heartbeats, retransmissions, elections)."""
        if not self.up:
            return
        now = self._clock.now()
        if self.role is Role.LEADER:
            if now - self._last_heartbeat >= self.config.heartbeat_ms:
                self._last_heartbeat = now
                self._broadcast(Commit(self.ballot, self.applied))
            for slot, inflight in sorted(self._inflight.items()):
                if now - inflight.sent_at >= self.config.retry_ms:
                    inflight.sent_at = now
                    message = Accept(self.ballot, slot, inflight.proposal, self.applied)
                    for peer in self._peers():
                        if peer not in inflight.acks:
                            self._transport.send(peer, message)
            return
        if now >= self._election_deadline:
            if self.rejoining:
                self._arm_election_timer()  # a learner does not campaign
            else:
                self._start_election()
        elif self.role is Role.CANDIDATE and now - self._last_heartbeat >= self.config.retry_ms:
            self._last_heartbeat = now
            prepare = Prepare(self.ballot, self._prepare_from)
            for peer in self._peers():
                if peer not in self._promises:
                    self._transport.send(peer, prepare)

    def next_deadline(self) -> int:
        """The clock time at which ``tick`` next has something to do."""
        if self.role is Role.LEADER:
            soonest = self._last_heartbeat + self.config.heartbeat_ms
            for inflight in self._inflight.values():
                soonest = min(soonest, inflight.sent_at + self.config.retry_ms)
            return soonest
        if self.role is Role.CANDIDATE:
            return min(self._election_deadline, self._last_heartbeat + self.config.retry_ms)
        return self._election_deadline

    # --------------------------------------------------------------------- messages

    def on_message(self, sender: int, message: PeerMessage) -> None:
        """on_message: handle one authenticated message from replica ``sender``.

        Raises ``ProtocolError`` (counted in ``counters.extra["refused"]``; nothing changes)
        for a message no correct replica sends: a sender outside the fleet, a ballot of a
        replica outside the fleet, a round, slot or index that is not an int in
        0..``MAX_COUNTER``, a leader message under another replica's ballot, an answer to a
        ballot that is not this replica's, a reject of a ballot not below its promise, a
        promise whose votes are out of order, a snapshot or entry that does not fit where
        it claims to go.
        """
        if not self.up:
            return
        try:
            self._validate(sender, message)
        except ProtocolError as refused:
            self.counters.extra["refused"] = self.counters.extra.get("refused", 0) + 1
            _log.debug(
                "r%d: refused %s from r%s: %s", self.index, type(message).__name__, sender, refused
            )
            raise
        match message:
            case Prepare():
                self._on_prepare(sender, message)
            case Promise():
                self._on_promise(sender, message)
            case Accept():
                self._on_accept(sender, message)
            case Accepted():
                self._on_accepted(sender, message)
            case Reject():
                self._on_reject(message)
            case Commit():
                self._on_commit(sender, message)
            case CatchUp():
                self._on_catch_up(sender, message)
            case CatchUpReply():
                self._on_catch_up_reply(message)

    def _validate(self, sender: int, message: PeerMessage) -> None:
        n = self.config.replicas
        if type(sender) is not int or not 0 <= sender < n or sender == self.index:
            raise ProtocolError(f"message from replica {sender!r}, not a peer in 0..{n - 1}")
        if not isinstance(message, _MESSAGE_TYPES):
            raise ProtocolError(f"not a peer message: {type(message).__name__}")
        self._check_numbers(message)
        match message:
            case Prepare(ballot=b) | Accept(ballot=b) | Commit(ballot=b) if b.replica != sender:
                raise ProtocolError(
                    f"{type(message).__name__} at ballot {b} sent by replica {sender}: only "
                    f"replica {b.replica} leads that ballot"
                )
            case Promise(ballot=b) | Accepted(ballot=b) | Reject(ballot=b) if (
                b.replica != self.index
            ):
                raise ProtocolError(
                    f"{type(message).__name__} for ballot {b}, which is not this replica's"
                )
            case Promise(accepted=votes) if any(
                v.ballot > message.ballot or v.slot < message.from_slot for v in votes
            ):
                raise ProtocolError(
                    "a promise carries a vote above its ballot or below its from_slot"
                )
            case Promise(accepted=votes) if not _strictly_increasing([v.slot for v in votes]):
                raise ProtocolError("a promise carries votes out of slot order or repeated")
            case Reject(ballot=b, promised=p) if not p > b:
                raise ProtocolError(
                    f"a reject of ballot {b} whose promise {p} is not above it: no acceptor "
                    "refuses a ballot at or above its promise"
                )
            case CatchUpReply(snapshot=snap, entries=entries):
                slots = [e.slot for e in entries]
                if not _strictly_increasing(slots):
                    raise ProtocolError("catch-up entries out of order or repeated")
                if snap is not None and slots and slots[0] < snap.upto:
                    raise ProtocolError("catch-up entries below the snapshot they come with")
                if snap is not None and not _strictly_increasing([r.user for r in snap.records]):
                    raise ProtocolError("a snapshot whose records are not sorted by user")
            case _:
                pass

    def _check_numbers(self, message: PeerMessage) -> None:
        """Every ballot names a replica of the fleet; every round, slot and index is an int
        in 0..MAX_COUNTER; every entry is of its type (what the wire guarantees, checked
        again for a message built in-process)."""
        n = self.config.replicas
        ballots: list[object] = []
        numbers: list[tuple[str, object]] = []
        proposals: list[object] = []
        match message:
            case Prepare(ballot=b, from_slot=f):
                ballots.append(b)
                numbers.append(("from_slot", f))
            case Promise(ballot=b, from_slot=f, accepted=votes, committed=c):
                ballots.append(b)
                numbers += [("from_slot", f), ("committed", c)]
                if not isinstance(votes, tuple):
                    raise ProtocolError("Promise.accepted: expected a tuple of votes")
                for vote in votes:
                    if not isinstance(vote, AcceptedEntry):
                        raise ProtocolError(f"Promise vote: found a {type(vote).__name__}")
                    ballots.append(vote.ballot)
                    numbers.append(("vote slot", vote.slot))
                    proposals.append(vote.proposal)
            case Accept(ballot=b, slot=slot, proposal=proposal, committed=c):
                ballots.append(b)
                numbers += [("slot", slot), ("committed", c)]
                proposals.append(proposal)
            case Accepted(ballot=b, slot=slot):
                ballots.append(b)
                numbers.append(("slot", slot))
            case Reject(ballot=b, promised=promised):
                ballots += [b, promised]
            case Commit(ballot=b, committed=c):
                ballots.append(b)
                numbers.append(("committed", c))
            case CatchUp(from_slot=f):
                numbers.append(("from_slot", f))
            case CatchUpReply(snapshot=snap, entries=entries):
                if snap is not None:
                    if not isinstance(snap, Snapshot):
                        raise ProtocolError(f"CatchUpReply.snapshot: a {type(snap).__name__}")
                    numbers.append(("snapshot upto", snap.upto))
                if not isinstance(entries, tuple):
                    raise ProtocolError("CatchUpReply.entries: expected a tuple")
                for entry in entries:
                    if not isinstance(entry, ChosenEntry):
                        raise ProtocolError(f"catch-up entry: found a {type(entry).__name__}")
                    numbers.append(("entry slot", entry.slot))
                    proposals.append(entry.proposal)
        for ballot in ballots:
            if not isinstance(ballot, Ballot):
                raise ProtocolError(f"expected a Ballot, found a {type(ballot).__name__}")
            rnd, rep = ballot.round, ballot.replica
            if type(rnd) is not int or not 0 <= rnd <= MAX_COUNTER:
                raise ProtocolError(f"ballot round {rnd!r} outside 0..{MAX_COUNTER}")
            if type(rep) is not int or not 0 <= rep < n:
                raise ProtocolError(f"ballot {ballot} names no replica of the fleet")
        for name, value in numbers:
            if type(value) is not int or not 0 <= value <= MAX_COUNTER:
                raise ProtocolError(f"{name} {value!r} outside 0..{MAX_COUNTER}")
        for item in proposals:
            if not isinstance(item, Proposal):
                raise ProtocolError(f"expected a Proposal, found a {type(item).__name__}")

    def _follow(self, sender: int, ballot: Ballot, promise: bool) -> bool:
        """A message of the leader (or candidate) of ``ballot``: refuse it below our promise
        (``Reject``, False); otherwise promise the ballot first if ``promise`` and it is
        new, step down if it outranks ours, and follow that replica (True)."""
        self._see(ballot)
        if ballot < self.promised:
            self._reject(sender, ballot)
            return False
        if promise and ballot > self.promised:
            self._promise(ballot)
        if self.role is not Role.FOLLOWER and ballot > self.ballot:
            self._step_down()
        self.leader_hint = ballot.replica
        self._arm_election_timer()
        return True

    def _on_prepare(self, sender: int, m: Prepare) -> None:
        if self.rejoining:
            return  # the rejoin rule: no promise while votes may be forgotten
        if not self._follow(sender, m.ballot, promise=True):
            return
        votes = tuple(e for slot, e in sorted(self.accepted.items()) if slot >= m.from_slot)
        self._transport.send(sender, Promise(m.ballot, m.from_slot, votes, self.applied))

    def _on_promise(self, sender: int, m: Promise) -> None:
        if self.role is not Role.CANDIDATE or m.ballot != self.ballot:
            return
        if m.committed > self._prepare_from:
            # The promiser has applied (and may have compacted) slots we have not: learn
            # them first, then campaign again.
            self._request_catch_up(sender, force=True)
            self._step_down()
            return
        self._promises[sender] = m
        if len(self._promises) >= self.config.q:
            self._become_leader()

    def _on_accept(self, sender: int, m: Accept) -> None:
        if self.rejoining:
            # The rejoin rule: no vote, no Accepted; only learn what is chosen.
            if self._follow(sender, m.ballot, promise=False):
                self._learn(sender, m.ballot, m.committed)
            return
        if not self._follow(sender, m.ballot, promise=True):
            return
        if m.slot >= self.snapshot.upto and m.slot not in self.chosen:
            self._vote(AcceptedEntry(m.slot, m.ballot, m.proposal))
        self._transport.send(sender, Accepted(m.ballot, m.slot))
        self._learn(sender, m.ballot, m.committed)

    def _on_accepted(self, sender: int, m: Accepted) -> None:
        if self.role is not Role.LEADER or m.ballot != self.ballot:
            return
        inflight = self._inflight.get(m.slot)
        if inflight is None:
            return
        inflight.acks.add(sender)
        if len(inflight.acks) >= self.config.q:
            del self._inflight[m.slot]
            self._choose(m.slot, inflight.proposal)

    def _on_reject(self, m: Reject) -> None:
        self._see(m.promised)
        if self.role is not Role.FOLLOWER and m.ballot == self.ballot and m.promised > m.ballot:
            self._step_down()

    def _on_commit(self, sender: int, m: Commit) -> None:
        if not self._follow(sender, m.ballot, promise=False):
            return
        self._learn(sender, m.ballot, m.committed)

    def _on_catch_up(self, sender: int, m: CatchUp) -> None:
        snapshot = self.snapshot if m.from_slot < self.snapshot.upto else None
        start = max(m.from_slot, self.snapshot.upto)
        end = min(self.applied, start + self.config.catch_up_batch)
        entries = tuple(ChosenEntry(s, self.chosen[s]) for s in range(start, end))
        if snapshot is None and not entries:
            return
        self._transport.send(sender, CatchUpReply(snapshot, entries))

    def _on_catch_up_reply(self, m: CatchUpReply) -> None:
        if m.snapshot is not None and m.snapshot.upto > self.applied:
            self._install_snapshot(m.snapshot)
        for entry in m.entries:
            if entry.slot >= self.applied and entry.slot not in self.chosen:
                self._store.put_chosen(entry.slot, entry.proposal)
                self._durable()
                self.chosen[entry.slot] = entry.proposal
        self._apply_ready()

    # -------------------------------------------------------------------- internals

    def _peers(self) -> list[int]:
        return [i for i in range(self.config.replicas) if i != self.index]

    def _broadcast(self, message: PeerMessage) -> None:
        for peer in self._peers():
            self._transport.send(peer, message)

    def _see(self, ballot: Ballot) -> None:
        self._max_round = max(self._max_round, ballot.round)

    def _promise(self, ballot: Ballot) -> None:
        self._store.set_promised(ballot)  # durable before the reply
        self._durable(promised=ballot)
        self.promised = ballot
        self._observe(Observation("promise", self.index, -1, ballot))

    def _vote(self, entry: AcceptedEntry) -> None:
        self._store.put_accepted(entry)  # durable before the reply
        self._durable(voted=entry.slot)
        self.accepted[entry.slot] = entry
        self._observe(Observation("vote", self.index, entry.slot, entry.ballot, entry.proposal))

    def _reject(self, sender: int, ballot: Ballot) -> None:
        self.counters.rejects_sent += 1
        self._transport.send(sender, Reject(ballot, self.promised))

    def _arm_election_timer(self) -> None:
        timeout = self.config.election_timeout_ms
        jitter = int.from_bytes(self._rng.random_bytes(2), "big") % timeout
        self._election_deadline = self._clock.now() + timeout + jitter

    def _start_election(self) -> None:
        self._fail_pending()
        self.counters.elections += 1
        self._max_round = max(self._max_round, self.promised.round) + 1
        ballot = Ballot(self._max_round, self.index)
        _log.debug("r%d: election at ballot %s", self.index, ballot)
        self._promise(ballot)
        self.role = Role.CANDIDATE
        self.ballot = ballot
        self.leader_hint = None
        self._prepare_from = self.applied
        own = tuple(e for s, e in sorted(self.accepted.items()) if s >= self.applied)
        self._promises = {self.index: Promise(ballot, self.applied, own, self.applied)}
        self._last_heartbeat = self._clock.now()
        self._arm_election_timer()
        if len(self._promises) >= self.config.q:
            self._become_leader()
            return
        self._broadcast(Prepare(ballot, self._prepare_from))

    def _become_leader(self) -> None:
        self.role = Role.LEADER
        self.counters.led += 1
        self.leader_hint = self.index
        _log.info("r%d: leader at ballot %s", self.index, self.ballot)
        highest: dict[int, AcceptedEntry] = {}
        for promise in self._promises.values():
            for entry in promise.accepted:
                best = highest.get(entry.slot)
                if best is None or entry.ballot > best.ballot:
                    highest[entry.slot] = entry
        start = self._prepare_from
        top = max(highest, default=start - 1)
        self._next_slot = max(top + 1, start)
        self._recovered_upto = self._next_slot
        self._inflight = {}
        self._last_heartbeat = self._clock.now()
        for slot in range(start, self._next_slot):
            if slot in self.chosen:
                proposal = self.chosen[slot]
            elif slot in highest:
                proposal = highest[slot].proposal
            else:
                proposal = Proposal(bytes(16), Noop())
            self._phase2(slot, proposal)
        self._broadcast(Commit(self.ballot, self.applied))

    def _phase2(self, slot: int, proposal: Proposal) -> None:
        self._vote(AcceptedEntry(slot, self.ballot, proposal))
        self._inflight[slot] = _Inflight(proposal, {self.index}, self._clock.now())
        message = Accept(self.ballot, slot, proposal, self.applied)
        if len(self._inflight[slot].acks) >= self.config.q:
            del self._inflight[slot]
            self._choose(slot, proposal)
            message = Accept(self.ballot, slot, proposal, self.applied)
        self._broadcast(message)

    def _choose(self, slot: int, proposal: Proposal) -> None:
        if slot in self.chosen or slot < self.applied:
            return
        self._store.put_chosen(slot, proposal)
        self._durable()
        self.chosen[slot] = proposal
        self.counters.chosen += 1
        _log.debug("r%d: slot %d chosen: %s", self.index, slot, type(proposal.value).__name__)
        pending = self._pending.get(slot)
        if pending is not None and pending.on_chosen is not None:
            pending.on_chosen(proposal)
        self._apply_ready()

    def _learn(self, sender: int, ballot: Ballot, committed: int) -> None:
        """Slots below ``committed`` are chosen; a vote at ``ballot`` tells the value."""
        self._heard_committed = max(self._heard_committed, committed)
        gap = False
        for slot in range(self.applied, committed):
            if slot in self.chosen:
                continue
            vote = self.accepted.get(slot)
            if vote is not None and vote.ballot == ballot:
                self._store.put_chosen(slot, vote.proposal)
                self._durable()
                self.chosen[slot] = vote.proposal
            else:
                gap = True
                break
        self._apply_ready()
        if gap:
            self._request_catch_up(sender)

    def _request_catch_up(self, sender: int, force: bool = False) -> None:
        now = self._clock.now()
        if not force and now - self._last_catch_up < self.config.retry_ms:
            return
        self._last_catch_up = now
        self.counters.catch_ups += 1
        self._transport.send(sender, CatchUp(self.applied))

    def _apply_ready(self) -> None:
        while self.applied in self.chosen:
            slot = self.applied
            proposal = self.chosen[slot]
            result = self._app.apply(slot, proposal)
            self.applied += 1
            self.counters.applied += 1
            self._observe(Observation("apply", self.index, slot, None, proposal))
            pending = self._pending.pop(slot, None)
            if pending is not None:
                if pending.request_id == proposal.request_id:
                    pending.on_applied(result)
                else:
                    pending.on_applied(Lost(slot))
        if self._rejoin_pending and self.applied >= self.rejoin_until:
            self._rejoin_pending = False
            _log.warning(
                "r%d has applied every slot below %d: it rejoins the fleet's quorums",
                self.index,
                self.rejoin_until,
            )
            self._observe(Observation("rejoin", self.index, self.applied, self.promised))
        if self.applied - self.snapshot.upto >= self.config.snapshot_every:
            self._compact()

    def _compact(self) -> None:
        snapshot = Snapshot(self.applied, self._app.records())
        self._store.put_snapshot(snapshot)
        self._durable()
        self.snapshot = snapshot
        self.accepted = {s: e for s, e in self.accepted.items() if s >= snapshot.upto}
        self.chosen = {s: p for s, p in self.chosen.items() if s >= snapshot.upto}
        self.counters.snapshots += 1
        self._observe(Observation("snapshot", self.index, snapshot.upto))

    def _install_snapshot(self, snapshot: Snapshot) -> None:
        self._store.put_snapshot(snapshot)
        self._durable()
        self.snapshot = snapshot
        self._app.restore(snapshot)
        # The pending requests the snapshot jumps over (walk them, not the slot range: a
        # snapshot may be far ahead, and a walk over 2^63 slots never ends).
        for slot in sorted(s for s in self._pending if self.applied <= s < snapshot.upto):
            self._pending.pop(slot).on_applied(Lost(slot))
        self.applied = snapshot.upto
        self.accepted = {s: e for s, e in self.accepted.items() if s >= snapshot.upto}
        self.chosen = {s: p for s, p in self.chosen.items() if s >= snapshot.upto}
        self._observe(Observation("restore", self.index, snapshot.upto))

    def _step_down(self) -> None:
        _log.debug("r%d: steps down (ballot %s)", self.index, self.ballot)
        self._fail_pending()
        self.role = Role.FOLLOWER
        self._inflight = {}
        self._promises = {}
        self._arm_election_timer()

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for slot in sorted(pending):
            pending[slot].on_applied(Lost(slot))

    def _observe(self, observation: Observation) -> None:
        if self._observer is not None:
            self._observer(observation)


_Ordered = TypeVar("_Ordered", int, str)
_MESSAGE_TYPES: Final = (Prepare, Promise, Accept, Accepted, Reject, Commit, CatchUp, CatchUpReply)


def _strictly_increasing(values: Sequence[_Ordered]) -> bool:
    return all(a < b for a, b in itertools.pairwise(values))


def describe(message: PeerMessage) -> str:
    """describe: a one-line summary of ``message`` for traces (no secret: types, numbers)."""
    match message:
        case Prepare(ballot=b, from_slot=f):
            return f"Prepare b={b} from={f}"
        case Promise(ballot=b, accepted=votes, committed=c):
            return f"Promise b={b} votes={len(votes)} c={c}"
        case Accept(ballot=b, slot=s, proposal=p, committed=c):
            return f"Accept b={b} s={s} {type(p.value).__name__} c={c}"
        case Accepted(ballot=b, slot=s):
            return f"Accepted b={b} s={s}"
        case Reject(ballot=b, promised=p):
            return f"Reject b={b} promised={p}"
        case Commit(ballot=b, committed=c):
            return f"Commit b={b} c={c}"
        case CatchUp(from_slot=f):
            return f"CatchUp from={f}"
        case CatchUpReply(snapshot=snap, entries=entries):
            upto = "-" if snap is None else str(snap.upto)
            return f"CatchUpReply snapshot={upto} entries={len(entries)}"
    return type(message).__name__  # pragma: no cover
