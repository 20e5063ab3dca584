"""model.consensus: the fleet's agreement on one log slot (single-decree Paxos), with faults.

This is the reference semantics that ``proofs/paxos_i2.py`` encodes (a finite instance, for
bounded model checking) and abstracts (a parametric EPR model, for the unbounded proof) and
that ``impl/`` implements as Multi-Paxos.

Why one slot is enough
    Multi-Paxos runs one instance of single-decree Paxos per log slot. The instances share
    their phase 1 (a ``Promise`` for ballot ``b`` answers for every slot from ``from_slot``
    on and carries the acceptor's votes in each of them), and a stable leader skips phase 1
    for later slots because its earlier promises already cover them. Project every
    Multi-Paxos message onto slot ``s``: a ``Promise`` becomes a 1b carrying the acceptor's
    highest vote *in slot s*, an ``Accept``/``Accepted`` for slot ``s`` becomes a 2a/2b,
    everything about other slots disappears. Each Multi-Paxos step projects onto one step
    of this model (or onto no step), and "chosen in slot s" is defined on the projected
    2b messages only. So a run of Multi-Paxos with two commands chosen in one slot projects
    onto a run of this model with two values chosen: I2's "at most one command per slot"
    reduces to :func:`check_i2` here, slot by slot. (Catch-up and snapshots only copy
    values that are already chosen; they are learners, not acceptors, and do not vote.)

The model
    Replicas ``0 .. n-1``; a configuration ``(n, q)``: a *quorum* is any set of ``q``
    replicas; ballots are positive integers (0 means "none"); values are strings. The
    network is the set of messages ever sent: a message is never removed and may be
    delivered any number of times, in any order, which is what an operator who drops,
    duplicates, delays and reorders can do. Phases (Lamport 2001):

    ======  =====================================================================
    1a      ``Prepare(b)``: someone wants to lead ballot ``b``
    1b      ``Promise(r, b, vote)``: replica ``r`` promises ``b`` and reports its highest
            vote below ``b`` (``None`` if it never voted)
    2a      ``Accept(b, v)``: the leader of ``b`` proposes ``v`` (one proposal per ballot)
    2b      ``Accepted(r, b, v)``: replica ``r`` voted for ``v`` in ``b``
    ======  =====================================================================

    A value is **chosen** when 2b messages for it at one ballot come from a quorum. Each
    replica has *durable* state (the ballot it promised, the votes it cast), persisted
    before it sends anything, and a volatile up/down flag. The model keeps, per replica,
    every durable image it ever had: that is what an operator can replay.

Faults are actions
    ``crash`` (the replica stops; its durable state survives) and ``restart`` (it comes
    back with its durable state). The operator owns every replica's disk (issue 14): it
    can put any older copy of a store back and change any stored byte, on any replica, any
    number of times. In the safe fleet every such change is *detected* at boot (the store
    is versioned against the HSM's NVRAM and authenticated by a tag), and the replica
    *rejoins* (``/work/notes/disk-design.md``), which projected onto one slot is one
    action, ``amnesia`` (the tampering, the crash and the restart in one step; splitting
    them would only make traces longer):

    - its votes are forgotten (the refused store is discarded);
    - its promise stays: the HSM holds the highest ballot it ever promised, exactly;
    - if it had voted in the slot (the HSM's vote ceiling says so), it is **mute** for the
      slot for ever: it sends no 1b and no 2b in it again (in Multi-Paxos it is a learner
      until it has learned every slot below its ceiling, and then a Promise that reaches
      below what it has learned is not counted, ``impl.consensus._on_promise``).

    ``amnesia`` is unbounded in number and in the replicas it hits. The old rollback
    budget ``r = max(0, 2q - n - 1)`` (:func:`rollback_budget`, whose arithmetic
    ``proofs/quorum.py`` proves) no longer limits the safe model: it is what an
    *undetected* rollback could be tolerated on, and it only survives in the variant
    ``rollback-beyond-budget``. The model does not represent the "learned ack" (a rejoined
    replica that knows the slot is chosen acknowledges an Accept for it without voting).

Unsafe variants (names from :mod:`model.variants`)
    ``minority-quorum``: a configuration with ``2q <= n`` is accepted.
    ``forget-promise-on-restart``: restart keeps the votes but resets the promised ballot.
    ``rollback-undetected``: no version and no tag check (the old store): ``rollback``
    replaces a replica's durable state by any earlier image it had, undetected, on any
    replica, any number of times (no ``amnesia``: nothing is ever detected).
    ``rollback-beyond-budget``: the bounded case of ``rollback-undetected``: undetected
    ``rollback`` on at most ``rollback_budget(n, q) + 1`` distinct replicas, one more than
    ``2q > n + r`` tolerates (it shows the old budget was tight).
    ``unauthenticated-ballots``: the store's version is checked (a whole-store rollback is
    detected: ``amnesia``) but ballots, the promise and the set of rows are not
    authenticated: ``edit_vote`` moves a stored vote to another ballot, ``edit_promise``
    sets the stored promise to any ballot (0 included), ``delete_vote`` removes a vote
    row, all undetected and unbounded.

Every action is a pure function ``state × arguments → state``; an action whose guard is
false in the given state is *disabled* and the function returns ``None``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Final

from model.variants import FLEET_VARIANT_NAMES

I2_NAME: Final = "quorum-safety"

#: The fleet variants this model implements (the others are about the vault on top).
CONSENSUS_VARIANTS: Final = (
    "minority-quorum",
    "forget-promise-on-restart",
    "rollback-beyond-budget",
    "rollback-undetected",
    "unauthenticated-ballots",
)
#: The variants in which the replica does not detect an older store (no ``amnesia``).
UNDETECTED_ROLLBACK: Final = ("rollback-undetected", "rollback-beyond-budget")
#: The variant in which edits of ballots, the promise and vote rows go undetected.
UNAUTHENTICATED: Final = "unauthenticated-ballots"
assert set(CONSENSUS_VARIANTS) <= set(FLEET_VARIANT_NAMES)


class ConfigError(ValueError):
    """A consensus configuration that the fleet refuses (with what was wrong)."""


class UnknownVariant(ValueError):
    """A variant name that is not one of ``CONSENSUS_VARIANTS``."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown consensus variant {name!r}; known: {', '.join(CONSENSUS_VARIANTS)}"
        )
        self.name = name


def rollback_budget(n: int, q: int) -> int:
    """rollback_budget: how many replicas may be rolled back, *undetected*, with quorums of
    ``q`` of ``n``.

    Two ``q``-subsets of ``n`` share at least ``2q - n`` replicas; at least one of those
    must never have been rolled back, so at most ``2q - n - 1`` may be. The safe model
    detects rollbacks (``amnesia``) and is not limited by it; ``rollback-beyond-budget``
    uses it.
    """
    return max(0, 2 * q - n - 1)


@dataclass(frozen=True)
class ConsensusConfig:
    """ConsensusConfig: ``n`` replicas, quorums of ``q``, at most one unsafe variant.

    Preconditions: ``1 <= q <= n``, and ``2q > n`` unless the variant is
    ``minority-quorum`` (the fleet refuses minority quorums).

    ``mute_rule`` is the rejoin rule's "mute for the slot"; it is ``False`` only to show
    that the rule is necessary (``amnesia`` then forgets the votes and the replica goes on
    answering in the slot); it is not a catalogue variant.
    """

    n: int = 3
    q: int = 2
    variant: str | None = None
    mute_rule: bool = True

    def __post_init__(self) -> None:
        if self.variant is not None and self.variant not in CONSENSUS_VARIANTS:
            raise UnknownVariant(self.variant)
        if not 1 <= self.q <= self.n:
            raise ConfigError(f"quorum size must be in 1..n = 1..{self.n}, got q = {self.q}")
        if 2 * self.q <= self.n and self.variant != "minority-quorum":
            raise ConfigError(
                f"quorum {self.q} of {self.n} is not a majority (2q = {2 * self.q} <= n): "
                f"two quorums could miss each other"
            )

    @property
    def replicas(self) -> range:
        return range(self.n)

    @property
    def detects_tampering(self) -> bool:
        """Whether a rolled-back or edited store is refused at boot (``amnesia``)."""
        return self.variant not in UNDETECTED_ROLLBACK

    @property
    def edits_undetected(self) -> bool:
        """Whether ``edit_vote``, ``edit_promise`` and ``delete_vote`` go undetected."""
        return self.variant == UNAUTHENTICATED

    @property
    def rollback_limit(self) -> int | None:
        """How many distinct replicas an *undetected* rollback may hit: 0 when rollbacks
        are detected (the safe fleet: ``amnesia`` instead), ``None`` (no limit) under
        ``rollback-undetected``, the budget + 1 under ``rollback-beyond-budget``."""
        if self.variant == "rollback-beyond-budget":
            return rollback_budget(self.n, self.q) + 1
        if self.variant == "rollback-undetected":
            return None
        return 0

    def quorums(self) -> Iterator[frozenset[int]]:
        """Every quorum: every ``q``-subset of the replicas, in lexicographic order."""
        for members in combinations(self.replicas, self.q):
            yield frozenset(members)


# ---------------------------------------------------------------------------------------
# Messages (the network is the set of those ever sent)

#: A vote: (ballot, value).
Vote = tuple[int, str]


@dataclass(frozen=True, order=True)
class Prepare:
    """1a: someone asks for promises at ``ballot``."""

    ballot: int


@dataclass(frozen=True, order=True)
class Promise:
    """1b: ``sender`` promised ``ballot``; ``vote`` is its highest vote below it."""

    sender: int
    ballot: int
    vote: Vote | None


@dataclass(frozen=True, order=True)
class Accept:
    """2a: the leader of ``ballot`` proposes ``value``."""

    ballot: int
    value: str


@dataclass(frozen=True, order=True)
class Accepted:
    """2b: ``sender`` voted for ``value`` in ``ballot``."""

    sender: int
    ballot: int
    value: str


Message = Prepare | Promise | Accept | Accepted


# ---------------------------------------------------------------------------------------
# State


@dataclass(frozen=True, order=True)
class Durable:
    """What a replica persists before it replies: its promise and its votes."""

    promised: int = 0
    votes: frozenset[Vote] = frozenset()

    def highest_vote_below(self, ballot: int) -> Vote | None:
        """The vote with the highest ballot below ``ballot`` (ties cannot happen in the
        safe fleet: one proposal per ballot), or ``None``."""
        below = [vote for vote in self.votes if vote[0] < ballot]
        return max(below) if below else None


@dataclass(frozen=True)
class Replica:
    """One replica: its durable state, whether it is up, every durable image it had, and
    whether it is mute for the slot (it voted in it, then went through ``amnesia``)."""

    durable: Durable = Durable()
    up: bool = True
    history: frozenset[Durable] = frozenset({Durable()})
    mute: bool = False

    def persist(self, durable: Durable) -> Replica:
        """The replica after writing ``durable`` to its disk (remembered as an image)."""
        return replace(self, durable=durable, history=self.history | {durable})


@dataclass(frozen=True)
class ConsensusState:
    """The fleet for one slot: every replica and every message ever sent.

    ``rolled_back`` is the set of replicas whose storage has been rolled back at least once
    (what the budget counts).
    """

    replicas: tuple[Replica, ...]
    network: frozenset[Message] = frozenset()
    rolled_back: frozenset[int] = frozenset()

    def replica(self, index: int) -> Replica:
        return self.replicas[index]

    def with_replica(self, index: int, replica: Replica) -> ConsensusState:
        replicas = list(self.replicas)
        replicas[index] = replica
        return replace(self, replicas=tuple(replicas))

    def send(self, message: Message) -> ConsensusState:
        return replace(self, network=self.network | {message})

    def has_voted(self, replica: int) -> bool:
        """Whether ``replica`` ever voted in the slot (what the HSM's vote ceiling says:
        a vote is persisted, with the ceiling, before its 2b is sent)."""
        return any(isinstance(m, Accepted) and m.sender == replica for m in self.network)

    def messages(self) -> list[Message]:
        """The network in a deterministic order (for printing)."""
        return sorted(self.network, key=lambda m: (type(m).__name__, repr(m)))


def initial(config: ConsensusConfig) -> ConsensusState:
    """Init: every replica up, nothing promised, nothing voted, nothing sent."""
    return ConsensusState(tuple(Replica() for _ in config.replicas))


# ---------------------------------------------------------------------------------------
# Actions: each returns the next state, or None when it is disabled


def send_prepare(state: ConsensusState, ballot: int) -> ConsensusState | None:
    """1a: broadcast ``Prepare(ballot)``. Disabled for ballots below 1."""
    if ballot < 1:
        return None
    return state.send(Prepare(ballot))


def join(state: ConsensusState, replica: int, ballot: int) -> ConsensusState | None:
    """1b: ``replica`` answers ``Prepare(ballot)``: it persists the promise, then sends it
    with its highest vote below ``ballot``.

    Enabled when the replica is up and not mute, the 1a was sent, and ``ballot`` is above
    what it already promised.
    """
    r = state.replica(replica)
    if r.mute or not r.up or Prepare(ballot) not in state.network or ballot <= r.durable.promised:
        return None
    vote = r.durable.highest_vote_below(ballot)
    durable = replace(r.durable, promised=ballot)
    return state.with_replica(replica, r.persist(durable)).send(Promise(replica, ballot, vote))


def proposable(
    state: ConsensusState, config: ConsensusConfig, ballot: int, quorum: frozenset[int]
) -> frozenset[str] | None:
    """The values the leader of ``ballot`` may propose with the 1b messages of ``quorum``:
    the value(s) of the highest vote the quorum reported, or ``None`` meaning *any* value
    when none reported a vote. Raises ``ConfigError`` if ``quorum`` is not a quorum;
    returns the empty set when some member has not promised ``ballot``.
    """
    if len(quorum) != config.q or not quorum <= set(config.replicas):
        raise ConfigError(f"{sorted(quorum)} is not a quorum of {config.q} among {config.n}")
    reports = [m for m in state.network if isinstance(m, Promise) and m.ballot == ballot]
    if any(all(m.sender != member for m in reports) for member in quorum):
        return frozenset()
    votes = [m.vote for m in reports if m.sender in quorum and m.vote is not None]
    if not votes:
        return None
    top = max(vote[0] for vote in votes)
    return frozenset(vote[1] for vote in votes if vote[0] == top)


def propose(
    state: ConsensusState,
    config: ConsensusConfig,
    ballot: int,
    quorum: frozenset[int],
    value: str,
) -> ConsensusState | None:
    """2a: the leader of ``ballot``, holding 1b messages from every member of ``quorum``,
    proposes ``value``. If some member reported a vote, ``value`` must be the value of the
    highest one. Disabled if ``ballot`` already has a proposal (one leader per ballot).

    When a member sent several 1b messages for ``ballot`` (only possible after its promise
    was forgotten or rolled back), the leader considers all of them.
    """
    if any(isinstance(m, Accept) and m.ballot == ballot for m in state.network):
        return None
    allowed = proposable(state, config, ballot, quorum)
    if allowed is not None and value not in allowed:
        return None
    return state.send(Accept(ballot, value))


def vote(state: ConsensusState, replica: int, ballot: int, value: str) -> ConsensusState | None:
    """2b: ``replica`` accepts ``Accept(ballot, value)``: it persists the vote (and the
    promise not to accept below ``ballot``), then sends ``Accepted``.

    Enabled when the replica is up and not mute, the 2a was sent, and it promised nothing
    above ``ballot``.
    """
    r = state.replica(replica)
    if r.mute or not r.up or Accept(ballot, value) not in state.network:
        return None
    if ballot < r.durable.promised:
        return None
    durable = Durable(ballot, r.durable.votes | {(ballot, value)})
    return state.with_replica(replica, r.persist(durable)).send(Accepted(replica, ballot, value))


def crash(state: ConsensusState, replica: int) -> ConsensusState | None:
    """The replica stops; its durable state survives. Disabled if it is already down."""
    r = state.replica(replica)
    if not r.up:
        return None
    return state.with_replica(replica, replace(r, up=False))


def restart(state: ConsensusState, config: ConsensusConfig, replica: int) -> ConsensusState | None:
    """The replica comes back with its durable state. Disabled if it is up.

    Under ``forget-promise-on-restart`` it keeps its votes but its promise is reset to 0.
    """
    r = state.replica(replica)
    if r.up:
        return None
    if config.variant == "forget-promise-on-restart":
        r = r.persist(replace(r.durable, promised=0))
    return state.with_replica(replica, replace(r, up=True))


def amnesia(state: ConsensusState, config: ConsensusConfig, replica: int) -> ConsensusState | None:
    """The operator rolls back or edits ``replica``'s store; at boot the replica detects it
    (version below NVRAM, or a tag that does not verify), discards the store and rejoins:
    its votes are forgotten, its promise is the HSM's (kept exactly), and if it had voted
    in the slot it becomes mute for the slot for ever (unless ``config.mute_rule`` is
    off). Enabled at any time, any number of times, unless the variant does not detect
    rollbacks (``rollback-undetected``, ``rollback-beyond-budget``).

    Under ``unauthenticated-ballots`` the promise is the stored one (the HSM does not
    hold it there), which an ``edit_promise`` may have changed.
    """
    if not config.detects_tampering:
        return None
    r = state.replica(replica)
    mute = r.mute or (config.mute_rule and state.has_voted(replica))
    forgotten = r.persist(Durable(r.durable.promised))
    return state.with_replica(replica, replace(forgotten, mute=mute))


def rollback(
    state: ConsensusState, config: ConsensusConfig, replica: int, image: Durable
) -> ConsensusState | None:
    """The operator replays an earlier disk image of ``replica``, undetected: its durable
    state becomes ``image``, one it had before. Enabled when the variant does not detect
    rollbacks, ``image`` is in its history and at most ``config.rollback_limit`` distinct
    replicas (no limit if ``None``) have then been rolled back.
    """
    limit = config.rollback_limit
    r = state.replica(replica)
    if limit == 0 or image not in r.history:
        return None
    rolled = state.rolled_back | {replica}
    if limit is not None and len(rolled) > limit:
        return None
    return replace(state.with_replica(replica, replace(r, durable=image)), rolled_back=rolled)


def edit_promise(
    state: ConsensusState, config: ConsensusConfig, replica: int, ballot: int
) -> ConsensusState | None:
    """``unauthenticated-ballots``: the operator sets ``replica``'s stored promise to
    ``ballot`` (any ballot, 0 included), undetected. Disabled if it is already that."""
    r = state.replica(replica)
    if not config.edits_undetected or ballot < 0 or ballot == r.durable.promised:
        return None
    return state.with_replica(replica, r.persist(replace(r.durable, promised=ballot)))


def edit_vote(
    state: ConsensusState, config: ConsensusConfig, replica: int, ballot: int, value: str, to: int
) -> ConsensusState | None:
    """``unauthenticated-ballots``: the operator changes the ballot of ``replica``'s stored
    vote ``(ballot, value)`` to ``to`` (the sealed value itself cannot be changed),
    undetected. Enabled when the vote is stored and ``to`` is another ballot (>= 1)."""
    r = state.replica(replica)
    if not config.edits_undetected or (ballot, value) not in r.durable.votes:
        return None
    if to < 1 or to == ballot:
        return None
    votes = (r.durable.votes - {(ballot, value)}) | {(to, value)}
    return state.with_replica(replica, r.persist(replace(r.durable, votes=votes)))


def delete_vote(
    state: ConsensusState, config: ConsensusConfig, replica: int, ballot: int, value: str
) -> ConsensusState | None:
    """``unauthenticated-ballots``: the operator deletes ``replica``'s stored vote row
    ``(ballot, value)``, undetected. Enabled when the vote is stored."""
    r = state.replica(replica)
    if not config.edits_undetected or (ballot, value) not in r.durable.votes:
        return None
    votes = r.durable.votes - {(ballot, value)}
    return state.with_replica(replica, r.persist(replace(r.durable, votes=votes)))


# ---------------------------------------------------------------------------------------
# Actions as values (what explorers enumerate and the proofs' encoding mirrors)


def _fmt_quorum(quorum: frozenset[int]) -> str:
    return "{" + ",".join(f"r{m}" for m in sorted(quorum)) + "}"


@dataclass(frozen=True)
class Action:
    """Action: one ground action, a name and its arguments; ``label`` is how traces print
    it (``join(r0,b1)``, ``propose(b1,{r0,r1},a)``, ``rollback(r1,<image>)``,
    ``edit_vote(r0,b1,a,to=b2)``). ``to`` is the new ballot of an ``edit_vote``; the
    ``ballot`` of an ``edit_promise`` is the new promise."""

    name: str
    replica: int | None = None
    ballot: int | None = None
    value: str | None = None
    quorum: frozenset[int] = field(default_factory=frozenset)
    image: Durable | None = None
    to: int | None = None

    @property
    def label(self) -> str:
        args: list[str] = []
        if self.replica is not None:
            args.append(f"r{self.replica}")
        if self.ballot is not None:
            args.append(f"b{self.ballot}")
        if self.quorum:
            args.append(_fmt_quorum(self.quorum))
        if self.value is not None:
            args.append(self.value)
        if self.to is not None:
            args.append(f"to=b{self.to}")
        if self.image is not None:
            votes = ",".join(f"b{b}:{v}" for b, v in sorted(self.image.votes))
            args.append(f"promised={self.image.promised};votes={{{votes}}}")
        return f"{self.name}({','.join(args)})"


ACTION_NAMES: Final = (
    "send_1a",
    "join",
    "propose",
    "vote",
    "crash",
    "restart",
    "amnesia",
    "rollback",
    "edit_promise",
    "edit_vote",
    "delete_vote",
)


def apply(state: ConsensusState, config: ConsensusConfig, action: Action) -> ConsensusState | None:
    """apply: the successor of ``state`` under the ground ``action`` (``None`` if disabled)."""
    name = action.name
    if name == "send_1a" and action.ballot is not None:
        return send_prepare(state, action.ballot)
    if name == "join" and action.replica is not None and action.ballot is not None:
        return join(state, action.replica, action.ballot)
    if name == "propose" and action.ballot is not None and action.value is not None:
        return propose(state, config, action.ballot, action.quorum, action.value)
    if (
        name == "vote"
        and action.replica is not None
        and action.ballot is not None
        and action.value is not None
    ):
        return vote(state, action.replica, action.ballot, action.value)
    if name == "crash" and action.replica is not None:
        return crash(state, action.replica)
    if name == "restart" and action.replica is not None:
        return restart(state, config, action.replica)
    if name == "amnesia" and action.replica is not None:
        return amnesia(state, config, action.replica)
    if name == "rollback" and action.replica is not None and action.image is not None:
        return rollback(state, config, action.replica, action.image)
    if name == "edit_promise" and action.replica is not None and action.ballot is not None:
        return edit_promise(state, config, action.replica, action.ballot)
    if name in ("edit_vote", "delete_vote") and action.replica is not None:
        b, x = action.ballot, action.value
        if b is not None and x is not None and name == "delete_vote":
            return delete_vote(state, config, action.replica, b, x)
        if b is not None and x is not None and action.to is not None:
            return edit_vote(state, config, action.replica, b, x, action.to)
    raise ValueError(f"malformed action {action}")


def ground_actions(
    state: ConsensusState,
    config: ConsensusConfig,
    ballots: Sequence[int],
    values: Sequence[str],
) -> Iterator[Action]:
    """Every ground action over ``ballots`` and ``values`` (enabled or not), in a fixed
    order; rollback targets are the replica's history in sorted order. Only the disk
    actions of ``config``'s variant are listed (``amnesia`` when tampering is detected,
    ``rollback`` when it is not, the edits under ``unauthenticated-ballots``)."""
    for b in ballots:
        yield Action("send_1a", ballot=b)
    for r in config.replicas:
        for b in ballots:
            yield Action("join", replica=r, ballot=b)
    for b in ballots:
        for quorum in config.quorums():
            for v in values:
                yield Action("propose", ballot=b, quorum=quorum, value=v)
    for r in config.replicas:
        for b in ballots:
            for v in values:
                yield Action("vote", replica=r, ballot=b, value=v)
    for r in config.replicas:
        yield Action("crash", replica=r)
        yield Action("restart", replica=r)
    if config.detects_tampering:
        for r in config.replicas:
            yield Action("amnesia", replica=r)
    if config.rollback_limit != 0:
        for r in config.replicas:
            for image in sorted(state.replica(r).history):
                yield Action("rollback", replica=r, image=image)
    if config.edits_undetected:
        for r in config.replicas:
            for p in (0, *ballots):
                yield Action("edit_promise", replica=r, ballot=p)
            for b in ballots:
                for v in values:
                    for to in ballots:
                        if to != b:
                            yield Action("edit_vote", replica=r, ballot=b, value=v, to=to)
                    yield Action("delete_vote", replica=r, ballot=b, value=v)


# ---------------------------------------------------------------------------------------
# Invariant I2 (for one slot)


def chosen(state: ConsensusState, config: ConsensusConfig) -> dict[str, list[int]]:
    """The chosen values: value -> the ballots at which a quorum sent 2b for it."""
    senders: dict[tuple[int, str], set[int]] = {}
    for m in state.network:
        if isinstance(m, Accepted):
            senders.setdefault((m.ballot, m.value), set()).add(m.sender)
    out: dict[str, list[int]] = {}
    for (ballot, value), who in sorted(senders.items()):
        if len(who) >= config.q:
            out.setdefault(value, []).append(ballot)
    return out


@dataclass(frozen=True)
class Violation:
    """An invariant that does not hold, with what was found."""

    invariant: str
    detail: str


def check_i2(state: ConsensusState, config: ConsensusConfig | None = None) -> list[Violation]:
    """check_i2: I2 ``quorum-safety`` for the slot: at most one value is chosen.

    ``config`` gives the quorum size (default: the majority of the state's replicas).
    """
    if config is None:
        n = len(state.replicas)
        config = ConsensusConfig(n, n // 2 + 1)
    values = chosen(state, config)
    if len(values) <= 1:
        return []
    detail = "; ".join(
        f"{v} chosen at ballot(s) {', '.join(map(str, bs))}" for v, bs in sorted(values.items())
    )
    return [Violation("I2", f"{len(values)} values chosen in one slot: {detail}")]


# ---------------------------------------------------------------------------------------
# A tiny explicit-state explorer (breadth first: the first violation is a shortest one)


@dataclass(frozen=True)
class Exploration:
    """What :func:`explore` found: states seen, the depth reached, a shortest violation."""

    states: int
    depth: int
    trace: tuple[tuple[str, ConsensusState], ...] | None

    @property
    def violated(self) -> bool:
        return self.trace is not None


def explore(
    config: ConsensusConfig,
    ballots: Sequence[int] = (1, 2),
    values: Sequence[str] = ("a", "b"),
    max_depth: int = 12,
    max_states: int = 2_000_000,
) -> Exploration:
    """explore: breadth-first search of every run from :func:`initial` up to ``max_depth``
    steps over ``ballots`` and ``values``; stops at the first state that breaks I2.

    Returns the number of distinct states seen, the depth fully explored, and the
    shortest violating trace as ``(action label, state)`` pairs (the first pair is
    ``("(initial)", s0)``). Raises ``RuntimeError`` past ``max_states``.
    """
    start = initial(config)
    parent: dict[ConsensusState, tuple[ConsensusState, str] | None] = {start: None}
    frontier: deque[ConsensusState] = deque([start])
    depth = 0

    def path(end: ConsensusState) -> tuple[tuple[str, ConsensusState], ...]:
        steps: list[tuple[str, ConsensusState]] = []
        node: ConsensusState | None = end
        while node is not None:
            link = parent[node]
            steps.append((link[1] if link else "(initial)", node))
            node = link[0] if link else None
        return tuple(reversed(steps))

    if check_i2(start, config):
        return Exploration(1, 0, path(start))
    while frontier and depth < max_depth:
        depth += 1
        next_frontier: deque[ConsensusState] = deque()
        for state in frontier:
            for action in ground_actions(state, config, ballots, values):
                succ = apply(state, config, action)
                if succ is None or succ in parent:
                    continue
                parent[succ] = (state, action.label)
                if check_i2(succ, config):
                    return Exploration(len(parent), depth, path(succ))
                next_frontier.append(succ)
                if len(parent) > max_states:
                    raise RuntimeError(f"more than {max_states} states")
        frontier = next_frontier
    return Exploration(len(parent), depth, None)
