"""model.fleet: the vault replicated by Multi-Paxos across ``n`` HSMs, stated abstractly.

The single-copy vault (:mod:`model.vault`) charges an attempt before it checks a guess. On
a fleet the charge is a *command*, ``ConsumeAttempt(user, registration)``, placed in a slot
of a replicated log; the rule becomes "an answer leaves the leader only after the charge is
chosen (a quorum of ``q`` replicas accepted it at one ballot) and the leader has applied
every slot before it". This module is the reference semantics of that rule, small enough
for ``proofs/fleet_vault.py`` to unroll with Z3, and the invariants it must keep:
I3 ``attempt-limit`` (:func:`check_i3_fleet`) and I6 ``durability`` (:func:`check_i6`).

What is modelled
    ``n`` replicas, quorum ``q``, one record with attempt limit ``limit``, a log of
    ``slots`` slots and ballots ``1 .. ballots`` (the model's bounds: an action that would
    pass them is disabled). Every command is a charge for one guess, named by a guess id
    ``1, 2, …`` (0 is "no command"). Per replica: ``up``, the ``promised`` ballot and the
    durable ``log`` (slot -> ``(ballot, command)`` accepted; ``(0, 0)`` is empty), all
    durable; ``lead`` (the ballot it leads, 0 for none) is volatile. Per ballot: its
    ``owner``, the ``proposals`` it made per slot (the accept messages in flight: they
    stay deliverable for ever, so the network may delay, duplicate and reorder them) and
    ``waiting`` (a client waits for the answer to that slot's guess).

What is abstracted, on purpose
    - Phase 1 is atomic: :class:`Elect` collects a quorum's promises and logs in one step
      and adopts, per slot, the command of the highest ballot it saw. A real prepare can
      interleave with accepts; an accept that lands before the promise is an accept that
      ran before :class:`Elect`, one that lands after is refused, so no safety-relevant
      interleaving is lost.
    - A ballot is a plain integer owned by the replica that started it (a real ballot is a
      ``(round, replica)`` pair; uniqueness is what matters and the owner table keeps it).
    - Only charges are commands. The vault's state after applying slots ``0 .. s-1``, all
      charges, has ``min(s, limit)`` attempts: a charge applied at the limit is refused
      (no charge, the answer is ``Destroyed``). The comparison of the guess is the
      ``correct`` argument of :class:`Answer`.
    - Rollback is one step, as in :mod:`model.consensus`: the operator stops a replica,
      restores its durable state from its oldest image (empty log, no promise) and starts
      it again (volatile state lost). Splitting it would only make traces longer. Any
      younger image loses a subset of what this one loses; the budget argument counts a
      rolled-back replica as holding nothing, so it covers every image.
    - Crash and restart are separate steps; a crash loses only volatile state.

Ghost state (what the world has been told; the invariants speak of it)
    ``answered_wrong`` and ``released`` count comparisons answered; ``destroyed`` is
    raised once an answer says the record is gone (``WrongGuess(0)`` or ``Destroyed``);
    ``answered_after_destroy`` is raised by a comparison answered for a charge that the
    log places at or past the limit (the state machine, applying the log in order, had
    destroyed the record before that charge); ``acked`` is, per slot, the last
    acknowledged ``(ballot, command)``; ``rolled`` marks replicas that were rolled back.

The unsafe variants of ``model.variants`` change one rule each; see :data:`VARIANT_RULES`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Final, TypeVar

from model.variants import FLEET_VARIANT_NAMES
from model.vault import Destroyed, Released, Violation, WrongGuess

T = TypeVar("T")

#: An accepted log entry ``(ballot, command)``; ``(0, 0)`` is an empty slot.
Entry = tuple[int, int]
EMPTY: Final[Entry] = (0, 0)

#: The secret the model's record releases (opaque, as in ``model.vault``).
SECRET: Final = 1

#: How each variant changes the safe fleet, in this model's terms.
VARIANT_RULES: Final = {
    "minority-quorum": "the configuration has 2q <= n (checked by FleetConfig)",
    "answer-before-chosen": "Answer waits only for the leader's own acceptance of the prefix",
    "serve-before-catch-up": (
        "Answer waits only for its own slot to be chosen and counts attempts from the "
        "leader's own log"
    ),
    "forget-promise-on-restart": "Restart resets the promised ballot to 0 (votes are kept)",
    "rollback-beyond-budget": "Rollback is allowed on one replica more than 2q - n - 1",
}


class UnknownFleetVariant(ValueError):
    """A variant name that is not in ``model.variants.FLEET_VARIANTS``."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown fleet variant {name!r}; known: {', '.join(sorted(FLEET_VARIANT_NAMES))}"
        )
        self.name = name


@dataclass(frozen=True)
class FleetConfig:
    """FleetConfig: the fleet's size, quorum, attempt limit, the model's bounds, a variant.

    ``replicas`` is ``n``, ``quorum`` is ``q``; the safe fleet needs ``2q > n`` and the
    ``minority-quorum`` variant is exactly the configurations with ``2q <= n``.
    """

    replicas: int = 3
    quorum: int = 2
    limit: int = 1
    slots: int = 2
    ballots: int = 2
    variant: str | None = None

    def __post_init__(self) -> None:
        if self.variant is not None and self.variant not in FLEET_VARIANT_NAMES:
            raise UnknownFleetVariant(self.variant)
        if not 1 <= self.quorum <= self.replicas:
            raise ValueError(f"need 1 <= quorum <= replicas, got q={self.quorum}")
        majority = 2 * self.quorum > self.replicas
        if majority == (self.variant == "minority-quorum"):
            raise ValueError(
                f"q={self.quorum}, n={self.replicas}: "
                + ("minority-quorum needs 2q <= n" if majority else "the fleet needs 2q > n")
            )
        if self.limit < 1 or self.slots < 1 or self.ballots < 1:
            raise ValueError("limit, slots and ballots must be at least 1")

    @staticmethod
    def for_variant(variant: str | None, replicas: int = 3, limit: int = 1) -> FleetConfig:
        """The default small instance for ``variant``: majority quorum, or ``n // 2``
        replicas for ``minority-quorum``."""
        quorum = replicas // 2 if variant == "minority-quorum" else replicas // 2 + 1
        return FleetConfig(replicas, quorum, limit, variant=variant)

    @property
    def rollback_budget(self) -> int:
        """r: how many distinct replicas may be rolled back safely, the largest r with
        2q > n + r (0 when there is none)."""
        return max(0, 2 * self.quorum - self.replicas - 1)

    @property
    def rollbacks_allowed(self) -> int:
        """How many distinct replicas the model lets the operator roll back."""
        extra = 1 if self.variant == "rollback-beyond-budget" else 0
        return self.rollback_budget + extra

    @property
    def durable_copies(self) -> int:
        """n - q + 1: the copies an acknowledged command needs so every quorum holds one."""
        return self.replicas - self.quorum + 1


# ---------------------------------------------------------------------------------------
# State


@dataclass(frozen=True)
class FleetState:
    """FleetState: the replicas, the ballots' proposals, and the ghost state.

    Tuples are indexed by replica (``up``, ``promised``, ``log``, ``lead``, ``rolled``),
    by ballot - 1 (``owner``, ``proposals``, ``waiting``) or by slot (``acked``).
    """

    up: tuple[bool, ...]
    promised: tuple[int, ...]
    log: tuple[tuple[Entry, ...], ...]
    lead: tuple[int, ...]
    ballot: int
    owner: tuple[int, ...]
    proposals: tuple[tuple[int, ...], ...]
    waiting: tuple[tuple[bool, ...], ...]
    next_guess: int
    answered_wrong: int = 0
    released: int = 0
    destroyed: bool = False
    answered_after_destroy: bool = False
    acked: tuple[Entry, ...] = ()
    rolled: tuple[bool, ...] = ()


def initial(config: FleetConfig) -> FleetState:
    """initial: replica 0 leads ballot 1, every replica has promised it, no slot is used."""
    n, slots, ballots = config.replicas, config.slots, config.ballots
    return FleetState(
        up=(True,) * n,
        promised=(1,) * n,
        log=((EMPTY,) * slots,) * n,
        lead=(1,) + (0,) * (n - 1),
        ballot=1,
        owner=(0,) + (-1,) * (ballots - 1),
        proposals=((0,) * slots,) * ballots,
        waiting=((False,) * slots,) * ballots,
        next_guess=1,
        acked=(EMPTY,) * slots,
        rolled=(False,) * n,
    )


def _put(items: tuple[T, ...], index: int, value: T) -> tuple[T, ...]:
    """``items`` with position ``index`` replaced by ``value``."""
    return (*items[:index], value, *items[index + 1 :])


def _put2(
    rows: tuple[tuple[T, ...], ...], row: int, col: int, value: T
) -> tuple[tuple[T, ...], ...]:
    """``rows`` with cell ``[row][col]`` replaced by ``value``."""
    return _put(rows, row, _put(rows[row], col, value))


def chosen(state: FleetState, config: FleetConfig, ballot: int, slot: int) -> bool:
    """chosen: ballot ``ballot``'s proposal for ``slot`` is accepted by a quorum right now."""
    command = state.proposals[ballot - 1][slot]
    if command == 0:
        return False
    holders = sum(1 for entries in state.log if entries[slot] == (ballot, command))
    return holders >= config.quorum


def holders(state: FleetState, slot: int, command: int) -> int:
    """holders: how many replicas' logs hold ``command`` in ``slot`` (at any ballot)."""
    return sum(1 for entries in state.log if entries[slot][1] == command)


# ---------------------------------------------------------------------------------------
# Actions


class Disabled(Exception):
    """Disabled: the action's guard is false in this state; ``reason`` says which part."""

    def __init__(self, action: Action, reason: str) -> None:
        super().__init__(f"{action.name} is disabled: {reason}")
        self.action = action
        self.reason = reason


@dataclass(frozen=True)
class Propose:
    """The leader of ballot ``lead[leader]`` receives a guess: it writes the charge into
    the first free slot of its ballot, accepts it itself, and sends it to the others."""

    leader: int

    @property
    def name(self) -> str:
        return f"propose(r{self.leader})"


@dataclass(frozen=True)
class Accept:
    """Replica ``replica`` receives ballot ``ballot``'s proposal for ``slot`` and accepts it
    unless it promised a higher ballot."""

    replica: int
    ballot: int
    slot: int

    @property
    def name(self) -> str:
        return f"accept(r{self.replica},b{self.ballot},s{self.slot})"


@dataclass(frozen=True)
class Answer:
    """The leader answers the guess it proposed in ``slot``: the comparison said
    ``correct``. Safe only once the charge is chosen and every slot before it applied."""

    leader: int
    slot: int
    correct: bool

    @property
    def name(self) -> str:
        verdict = "right" if self.correct else "wrong"
        return f"answer_{verdict}(r{self.leader},s{self.slot})"


@dataclass(frozen=True)
class Elect:
    """Replica ``replica`` starts the next ballot with ``quorum`` (which contains it): each
    member promises, and the new leader adopts the highest-ballot command of each slot."""

    replica: int
    quorum: tuple[int, ...]

    @property
    def name(self) -> str:
        members = ",".join(f"r{i}" for i in self.quorum)
        return f"elect(r{self.replica},{{{members}}})"


@dataclass(frozen=True)
class Crash:
    """Replica ``replica`` stops; its volatile state (leadership) is lost."""

    replica: int

    @property
    def name(self) -> str:
        return f"crash(r{self.replica})"


@dataclass(frozen=True)
class Restart:
    """A stopped replica starts again from its durable state (votes and promise)."""

    replica: int

    @property
    def name(self) -> str:
        return f"restart(r{self.replica})"


@dataclass(frozen=True)
class Rollback:
    """The operator stops replica ``replica``, restores its durable state from its oldest
    image (nothing promised, nothing accepted) and starts it again."""

    replica: int

    @property
    def name(self) -> str:
        return f"rollback(r{self.replica})"


Action = Propose | Accept | Answer | Elect | Crash | Restart | Rollback
Outcome = WrongGuess | Released | Destroyed | None


def actions(config: FleetConfig) -> tuple[Action, ...]:
    """actions: every concrete action of the model under ``config``, in a fixed order
    (the order in which the proofs prefer actions when several shortest traces exist)."""
    n, slots, ballots = config.replicas, config.slots, config.ballots
    out: list[Action] = [Propose(r) for r in range(n)]
    out += [Accept(r, b, s) for r in range(n) for b in range(1, ballots + 1) for s in range(slots)]
    out += [
        Answer(r, s, correct) for correct in (False, True) for r in range(n) for s in range(slots)
    ]
    out += [
        Elect(r, quorum)
        for r in range(n)
        for quorum in combinations(range(n), config.quorum)
        if r in quorum
    ]
    out += [Crash(r) for r in range(n)]
    out += [Restart(r) for r in range(n)]
    out += [Rollback(r) for r in range(n)]
    return tuple(out)


def attempts_before(state: FleetState, config: FleetConfig, leader: int, slot: int) -> int:
    """attempts_before: the record's attempts as the leader computes them before applying
    the charge in ``slot``: ``slot`` (every earlier slot is an applied charge), or, under
    ``serve-before-catch-up``, the charges in the leader's own log before ``slot``."""
    if config.variant == "serve-before-catch-up":
        return sum(1 for s in range(slot) if state.log[leader][s][1] != 0)
    return slot


def _ready(state: FleetState, config: FleetConfig, leader: int, slot: int) -> str | None:
    """Why the leader may not answer ``slot`` yet (``None`` when it may)."""
    b = state.lead[leader]
    if config.variant == "serve-before-catch-up":
        return None if chosen(state, config, b, slot) else f"slot {slot} is not chosen"
    for s in range(slot + 1):
        command = state.proposals[b - 1][s]
        if command == 0:
            return f"slot {s} has no proposal at ballot {b}"
        if config.variant == "answer-before-chosen":
            if state.log[leader][s] != (b, command):
                return f"the leader has not accepted slot {s}"
        elif not chosen(state, config, b, s):
            return f"slot {s} is not chosen at ballot {b}"
    return None


def step(state: FleetState, action: Action, config: FleetConfig) -> tuple[FleetState, Outcome]:
    """step: the state after ``action`` and what the client is told (``None`` if nothing).

    Raises :class:`Disabled` when the action's guard is false.
    """
    limit = config.limit
    match action:
        case Propose(leader=r):
            b = state.lead[r]
            if not state.up[r] or b == 0:
                raise Disabled(action, f"r{r} leads no ballot")
            if state.promised[r] != b:
                raise Disabled(action, f"r{r} promised ballot {state.promised[r]}")
            free = [s for s, c in enumerate(state.proposals[b - 1]) if c == 0]
            if not free:
                raise Disabled(action, "no free slot")
            s, g = free[0], state.next_guess
            return replace(
                state,
                proposals=_put2(state.proposals, b - 1, s, g),
                waiting=_put2(state.waiting, b - 1, s, True),
                next_guess=g + 1,
                log=_put2(state.log, r, s, (b, g)),
            ), None
        case Accept(replica=r, ballot=b, slot=s):
            command = state.proposals[b - 1][s]
            if not state.up[r]:
                raise Disabled(action, f"r{r} is down")
            if command == 0:
                raise Disabled(action, f"ballot {b} proposed nothing in slot {s}")
            if b < state.promised[r]:
                raise Disabled(action, f"r{r} promised ballot {state.promised[r]}")
            return replace(
                state,
                promised=_put(state.promised, r, b),
                log=_put2(state.log, r, s, (b, command)),
            ), None
        case Answer(leader=r, slot=s, correct=correct):
            b = state.lead[r]
            if not state.up[r] or b == 0:
                raise Disabled(action, f"r{r} leads no ballot")
            if not state.waiting[b - 1][s]:
                raise Disabled(action, f"no client waits on slot {s} at ballot {b}")
            why = _ready(state, config, r, s)
            if why is not None:
                raise Disabled(action, why)
            a = attempts_before(state, config, r, s)
            after = replace(
                state,
                waiting=_put2(state.waiting, b - 1, s, False),
                acked=_put(state.acked, s, (b, state.proposals[b - 1][s])),
            )
            if a >= limit:
                # The state machine refuses a charge at the limit: no charge, no compare.
                return replace(after, destroyed=True), Destroyed()
            after = replace(
                after, answered_after_destroy=state.answered_after_destroy or s >= limit
            )
            if correct:
                return replace(after, released=state.released + 1), Released(SECRET)
            return replace(
                after,
                answered_wrong=state.answered_wrong + 1,
                destroyed=state.destroyed or a + 1 >= limit,
            ), WrongGuess(limit - a - 1)
        case Elect(replica=r, quorum=quorum):
            b = state.ballot + 1
            if b > config.ballots:
                raise Disabled(action, "no ballot left in the model's bound")
            if r not in quorum or len(quorum) != config.quorum:
                raise Disabled(action, "not a quorum containing the candidate")
            if not all(state.up[i] for i in quorum):
                raise Disabled(action, "a member of the quorum is down")
            if not all(state.promised[i] < b for i in quorum):
                raise Disabled(action, "a member promised a ballot as high")
            adopted: list[int] = []
            for s in range(config.slots):
                best = EMPTY
                for i in quorum:
                    if state.log[i][s][0] > best[0]:
                        best = state.log[i][s]
                adopted.append(best[1])
            promised = state.promised
            for i in quorum:
                promised = _put(promised, i, b)
            return replace(
                state,
                ballot=b,
                owner=_put(state.owner, b - 1, r),
                lead=_put(state.lead, r, b),
                promised=promised,
                proposals=_put(state.proposals, b - 1, tuple(adopted)),
            ), None
        case Crash(replica=r):
            if not state.up[r]:
                raise Disabled(action, f"r{r} is down")
            return replace(state, up=_put(state.up, r, False), lead=_put(state.lead, r, 0)), None
        case Restart(replica=r):
            if state.up[r]:
                raise Disabled(action, f"r{r} is up")
            promised = (
                _put(state.promised, r, 0)
                if config.variant == "forget-promise-on-restart"
                else state.promised
            )
            return replace(state, up=_put(state.up, r, True), promised=promised), None
        case Rollback(replica=r):
            rolled = sum(state.rolled) + (0 if state.rolled[r] else 1)
            if rolled > config.rollbacks_allowed:
                raise Disabled(
                    action, f"{rolled} replicas rolled back, {config.rollbacks_allowed} allowed"
                )
            return replace(
                state,
                up=_put(state.up, r, True),
                lead=_put(state.lead, r, 0),
                promised=_put(state.promised, r, 0),
                log=_put(state.log, r, (EMPTY,) * config.slots),
                rolled=_put(state.rolled, r, True),
            ), None
    raise TypeError(f"not an action: {action!r}")  # pragma: no cover


def enabled(state: FleetState, config: FleetConfig) -> Iterator[tuple[Action, FleetState]]:
    """enabled: every action whose guard holds in ``state``, with its post-state."""
    for action in actions(config):
        try:
            post, _ = step(state, action, config)
        except Disabled:
            continue
        yield action, post


# ---------------------------------------------------------------------------------------
# Invariants I3 and I6

I6_NAME: Final = "durability"

#: The record's name in violations (the model has one record).
RECORD: Final = "record"


def check_i3_fleet(state: FleetState, config: FleetConfig) -> list[Violation]:
    """check_i3_fleet: I3 ``attempt-limit`` on the fleet: at most ``limit`` wrong guesses
    answered, and no comparison answered (no release, no wrong guess) for a charge the
    log places after the record was destroyed."""
    found: list[Violation] = []
    if state.answered_wrong > config.limit:
        found.append(
            Violation(
                "I3",
                RECORD,
                f"{state.answered_wrong} wrong guesses answered, limit {config.limit}",
            )
        )
    if state.answered_after_destroy:
        found.append(Violation("I3", RECORD, "a destroyed record answered a guess"))
    return found


def check_i6(state: FleetState, config: FleetConfig) -> list[Violation]:
    """check_i6: I6 ``durability``: every acknowledged command is held by at least
    ``n - q + 1`` replicas (so every quorum holds it), and every replica that accepted in
    its slot at or after the ballot it was acknowledged at holds that command."""
    found: list[Violation] = []
    for s, (b, command) in enumerate(state.acked):
        if command == 0:
            continue
        held = holders(state, s, command)
        if held < config.durable_copies:
            found.append(
                Violation(
                    "I6",
                    RECORD,
                    f"slot {s}: acknowledged command {command} held by {held} replicas, "
                    f"needs {config.durable_copies}",
                )
            )
        for r, entries in enumerate(state.log):
            ballot, other = entries[s]
            if ballot >= b and other != command:
                found.append(
                    Violation(
                        "I6",
                        RECORD,
                        f"slot {s}: r{r} accepted command {other} at ballot {ballot} after "
                        f"command {command} was acknowledged at ballot {b}",
                    )
                )
    return found
