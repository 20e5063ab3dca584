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
    pass them is disabled). Every command is a guess *request*, named by a request id
    ``1 .. slots * ballots`` (0 is "no command"); request ``g`` names the version
    ``versions[g - 1]`` it was made for (the record's attempts: the model has one
    registration, so the version's first half is fixed) and ``honest[g - 1]`` says whether
    the user's client made it. Per replica: ``up``, the ``promised`` ballot and the
    durable ``log`` (slot -> ``(ballot, request)`` accepted; ``(0, 0)`` is empty), all
    durable, and ``rejoin``, the vote ceiling its HSM gave it at its last amnesia (0:
    none); ``lead`` (the ballot it leads, 0 for none) is volatile. Per ballot: its
    ``owner``, the ``proposals`` it made per slot (the accept messages in flight: they
    stay deliverable for ever, so the network may delay, duplicate and reorder them) and
    ``waiting`` (someone waits for the answer to that slot's request).

The compare-and-swap (``docs/channel.rst``, rules 1 and 2)
    The state machine applies the log in order (:func:`apply_log`): a request whose
    version is not the record's current attempts is refused without a charge (answer
    :class:`Stale`), one at the limit is refused (``Destroyed``), any other is charged.
    The check is made when the command is *applied*, not when the leader accepts the
    request, so two requests for one version that both reach the log charge once.

The channel adversary (``system.md``, "The adversary")
    The operator relays every request, keeps every sealed one and may send it again any
    number of times, in any order: :class:`Replay` has the leader propose a captured
    request again, in any later free slot of any ballot (a request sent to a replica that
    leads no ballot is refused and changes nothing, so it is not a step). It makes
    requests that need no secret: :class:`Inject` is a guess of its own, wrong, for any
    version below the limit (``BeginRecovery`` tells anyone the current one, and changes
    nothing, so it is not a step either). :class:`Propose` is the honest client's fresh
    guess, for the version the leader reports for its slot. The adversary cannot open or
    alter a sealed request: a replay is the same request id, so it names the same version
    and has the same honesty. A request sealed to one fleet's key does not open at another
    fleet; fleet epochs are :mod:`model.budget`'s business, so this model has one fleet.

What is abstracted, on purpose
    - Phase 1 is atomic: :class:`Elect` collects a quorum's promises and logs in one step
      and adopts, per slot, the command of the highest ballot it saw. A real prepare can
      interleave with accepts; an accept that lands before the promise is an accept that
      ran before :class:`Elect`, one that lands after is refused, so no safety-relevant
      interleaving is lost.
    - A ballot is a plain integer owned by the replica that started it (a real ballot is a
      ``(round, replica)`` pair; uniqueness is what matters and the owner table keeps it).
    - Only guesses are commands (the ``Settle`` command of ``docs/channel.rst`` rule 6 is
      not modelled: it changes what the operator sees, not what is charged). The record's
      attempts before a slot are the leader's :func:`view` applied; the comparison of the
      guess is the ``correct`` argument of :class:`Answer`, free (a replay may be answered
      right or wrong; the properties do not depend on it).
    - An undetected :class:`Rollback` is one step, as in :mod:`model.consensus`: the
      operator stops a replica, restores its durable state from its oldest image (empty
      log, no promise) and starts it again (volatile state lost). Splitting it would only
      make traces longer. Any younger image loses a subset of what this one loses; the
      budget argument counts a rolled-back replica as holding nothing, so it covers every
      image. The safe fleet keeps it within the budget ``r = 2q - n - 1`` (0 for
      ``n = 3, q = 2``): the implementation detects every rollback, so this is a stronger
      adversary than it faces, kept so that the budget argument stays checked.
    - Crash and restart are separate steps; a crash loses only volatile state.

The disk adversary (``docs/i6.rst``, "The disk adversary")
    The operator owns every replica's disk: it rolls a store back to any older copy and
    edits any unauthenticated byte, on any replica, any number of times. It cannot touch
    the HSM's NVRAM: the store's version, the promise and the vote ceiling (1 + the
    highest slot the replica ever voted in). In the safe fleet every such change is
    detected at start (version below NVRAM's, or a tag that does not verify), so all of
    them are one step, :class:`Amnesia` (unbounded): the replica discards its store and
    rejoins from its HSM-held state alone: ``promised`` is kept, its ``log`` is emptied,
    ``rejoin`` becomes its vote ceiling (:func:`ceiling`), and it is a *learner*
    (:func:`learner`: some slot below ``rejoin`` is still empty in its log) until it has
    re-learned every slot below it. A learner accepts nothing and is in no
    :class:`Elect` quorum (as a candidate or a member), so it never leads, answers or
    counts. It re-learns a slot by :class:`Learn`: a command that was chosen at a ballot
    at some moment of the run (the history ghost ``ever_chosen``: the implementation's
    leader, which counted the Accepted messages, can teach it even once the votes that
    chose it are gone), stored as a vote at that ballot (a chosen
    command at its choosing ballot: every higher ballot proposes it too, so reporting it
    to a later phase 1 is sound; a "learned ack" without a vote is not modelled).

    How this over-approximates the implementation (``impl.consensus``): a replica there
    answers no Prepare and no Accept while ``applied < rejoin_until`` (the model's
    learner, which it is no longer once every slot below is learned, whether or not later
    slots are); afterwards a candidate whose ``from_slot`` is below a promiser's
    committed index catches up instead of counting it, so a promise is only counted for
    slots at or above ``rejoin_until``, where the replica forgot nothing. The model counts
    a rejoined replica in every later quorum, reporting its re-learned slots as votes at
    their choosing ballots, which is at least what the implementation allows; it may
    learn a command that is no longer chosen "right now" (its voters moved on or forgot),
    as the implementation's leader, which counted their Accepted messages, can teach it.

    I6 counts a learner as keeping every acknowledged command in a slot it has yet to
    re-learn (:func:`keepers`): it is in no quorum until it holds the command, so every
    quorum that can form still meets a holder. ``FleetConfig(rejoin=False)`` is the
    weakened fleet in which an amnesiac replica is counted at once (never a learner): it
    breaks I3 and I6, which shows the rejoin rule is necessary.

Ghost state (what the world has been told; the invariants speak of it)
    ``answered_wrong`` and ``released`` count comparisons answered; ``destroyed`` is
    raised once an answer says the record is gone (``WrongGuess(0)`` or ``Destroyed``);
    ``answered_after_destroy`` is raised by a comparison answered for a charge that the
    log (the leader's ballot's proposals before it, applied in order) places at or past
    the limit; ``charged_twice`` is raised when the state machine charges an honest
    request that the same log already charged in an earlier slot (I3's "an honest
    request is charged at most once"); ``stale`` counts requests refused as stale;
    ``acked`` is, per slot, the last acknowledged ``(ballot, request)``; ``rolled`` marks
    replicas that were rolled back undetected; ``ever_chosen`` (per ballot and slot) is
    raised once that ballot's proposal for the slot is chosen (a history variable: the
    evidence of a choice can later leave the state).

The unsafe variants of ``model.variants`` change one rule each, and so does the channel's
``replayable-guess`` (:data:`FLEET_CHANNEL_VARIANTS`); see :data:`VARIANT_RULES`. The
disk adversary's: ``rollback-undetected`` (no store check, so no :class:`Amnesia`; an
undetected :class:`Rollback` of any replica, any number of times),
``rollback-beyond-budget`` (its bounded case: one replica past the budget), and
``unauthenticated-ballots`` (a whole-store rollback is still an :class:`Amnesia`, but
:class:`EditBallot`, :class:`DeleteVote` and :class:`LowerPromise` go undetected).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Final, Literal, TypeVar

from model.variants import FLEET_VARIANT_NAMES, FLEET_VARIANTS, FleetVariant
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
    "rollback-beyond-budget": (
        "the store is not checked (no Amnesia): Rollback, undetected, is allowed on one "
        "replica more than 2q - n - 1 (the bounded case of rollback-undetected)"
    ),
    "rollback-undetected": (
        "the store is not checked (no Amnesia): Rollback, undetected, on any replica, any "
        "number of times"
    ),
    "unauthenticated-ballots": (
        "EditBallot, DeleteVote and LowerPromise change a replica's stored votes and promise "
        "undetected (a whole-store rollback is still detected: Amnesia)"
    ),
    "replayable-guess": (
        "applying a charge does not compare the version it names with the record's: a "
        "replayed request is charged again"
    ),
}

#: The channel's unsafe variants of the fleet. They belong in ``model.variants``'
#: catalogue (``FLEET_VARIANTS``); until they are there, this module keeps them.
FLEET_CHANNEL_VARIANTS: Final = (
    FleetVariant(
        "replayable-guess",
        "a guess is charged whatever version it names (no compare-and-swap when the command "
        "is applied): a replayed request is charged again",
        ("I3",),
    ),
)

FLEET_CHANNEL_VARIANT_NAMES: Final = tuple(v.name for v in FLEET_CHANNEL_VARIANTS)

#: Every fleet variant this model knows: the catalogue's, then the channel's (once the
#: catalogue lists a channel variant it is not repeated).
ALL_FLEET_VARIANT_NAMES: Final = (
    *FLEET_VARIANT_NAMES,
    *(v for v in FLEET_CHANNEL_VARIANT_NAMES if v not in FLEET_VARIANT_NAMES),
)


def any_fleet_variant(name: str) -> FleetVariant:
    """any_fleet_variant: the entry called ``name`` in ``model.variants.FLEET_VARIANTS`` or
    in :data:`FLEET_CHANNEL_VARIANTS` (``KeyError`` if neither has it)."""
    for variant in (*FLEET_VARIANTS, *FLEET_CHANNEL_VARIANTS):
        if variant.name == name:
            return variant
    raise KeyError(name)


class UnknownFleetVariant(ValueError):
    """A variant name that is not in ``model.variants.FLEET_VARIANTS`` nor in
    :data:`FLEET_CHANNEL_VARIANTS`."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown fleet variant {name!r}; known: {', '.join(sorted(ALL_FLEET_VARIANT_NAMES))}"
        )
        self.name = name


#: The variants whose replicas do not check their store: a rollback is not detected.
UNDETECTED: Final = ("rollback-undetected", "rollback-beyond-budget")

#: The configurations whose default instance has limit 2 (see ``FleetConfig.for_variant``).
CHANNEL_LIMIT_2: Final = (None, "replayable-guess")


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
    #: The rejoin rule (a replica whose store was refused is a learner until it has
    #: re-learned every slot below its vote ceiling). ``False`` is a weakened safe fleet
    #: used only to show the rule is necessary: the amnesiac replica is counted at once.
    rejoin: bool = True

    def __post_init__(self) -> None:
        if self.variant is not None and self.variant not in ALL_FLEET_VARIANT_NAMES:
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
    def for_variant(
        variant: str | None, replicas: int = 3, limit: int | None = None
    ) -> FleetConfig:
        """The default small instance for ``variant``: majority quorum, or ``n // 2``
        replicas for ``minority-quorum``. The limit defaults to 2 for the safe fleet and
        ``replayable-guess`` (a replay can be refused as stale, or charged again, only
        while the record is below its limit after one charge) and to 1 for the others."""
        quorum = replicas // 2 if variant == "minority-quorum" else replicas // 2 + 1
        if limit is None:
            limit = 2 if variant in CHANNEL_LIMIT_2 else 1
        return FleetConfig(replicas, quorum, limit, variant=variant)

    @property
    def requests(self) -> int:
        """How many distinct requests a run can make: each fresh one fills a free slot of
        the current ballot, so at most ``slots * ballots`` (request ids ``1 ..``)."""
        return self.slots * self.ballots

    @property
    def rollback_budget(self) -> int:
        """r: how many distinct replicas may be rolled back safely, the largest r with
        2q > n + r (0 when there is none)."""
        return max(0, 2 * self.quorum - self.replicas - 1)

    @property
    def rollbacks_allowed(self) -> int:
        """How many distinct replicas the model lets the operator roll back undetected:
        every one under ``rollback-undetected``, one past the budget under
        ``rollback-beyond-budget``, the budget otherwise."""
        if self.variant == "rollback-undetected":
            return self.replicas
        extra = 1 if self.variant == "rollback-beyond-budget" else 0
        return self.rollback_budget + extra

    @property
    def detects(self) -> bool:
        """Whether a replica checks its store (version and tag) when it starts: every
        configuration but ``rollback-undetected`` and ``rollback-beyond-budget``. Where it
        does, the operator's rollbacks and edits are :class:`Amnesia` steps."""
        return self.variant not in UNDETECTED

    @property
    def edits(self) -> bool:
        """Whether the operator's edits of ballots, promises and vote rows go undetected
        (``unauthenticated-ballots``: :class:`EditBallot`, :class:`DeleteVote`,
        :class:`LowerPromise`)."""
        return self.variant == "unauthenticated-ballots"

    @property
    def durable_copies(self) -> int:
        """n - q + 1: the copies an acknowledged command needs so every quorum holds one."""
        return self.replicas - self.quorum + 1


# ---------------------------------------------------------------------------------------
# State


@dataclass(frozen=True)
class FleetState:
    """FleetState: the replicas, the ballots' proposals, and the ghost state.

    Tuples are indexed by replica (``up``, ``promised``, ``log``, ``lead``, ``rolled``,
    ``rejoin``), by ballot - 1 (``owner``, ``proposals``, ``waiting``, ``ever_chosen``) or
    by slot (``acked``).
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
    versions: tuple[int, ...] = ()
    honest: tuple[bool, ...] = ()
    stale: int = 0
    charged_twice: bool = False
    rejoin: tuple[int, ...] = ()
    ever_chosen: tuple[tuple[bool, ...], ...] = ()


def initial(config: FleetConfig) -> FleetState:
    """initial: replica 0 leads ballot 1, every replica has promised it, no slot is used,
    no request was made."""
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
        versions=(0,) * config.requests,
        honest=(False,) * config.requests,
        rejoin=(0,) * n,
        ever_chosen=((False,) * slots,) * ballots,
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


def learner(state: FleetState, config: FleetConfig, replica: int) -> bool:
    """learner: ``replica`` went through amnesia and has not yet re-learned every slot
    below its vote ceiling ``rejoin[replica]`` (some such slot of its log is empty). A
    learner promises nothing, accepts nothing, and is in no quorum. Never, in the
    weakened fleet without the rejoin rule (``config.rejoin`` false)."""
    return config.rejoin and any(
        state.log[replica][s] == EMPTY for s in range(min(state.rejoin[replica], config.slots))
    )


def keepers(state: FleetState, config: FleetConfig, slot: int, command: int) -> int:
    """keepers: I6's count of copies: the replicas that hold ``command`` in ``slot``, or
    are learners that have yet to re-learn ``slot`` (below their vote ceiling, still empty:
    they may have forgotten a vote there, and they are counted in no quorum until they
    hold the slot's chosen command). A replica is counted from its amnesia on for as long
    as it keeps the command, so the count never drops when it rejoins."""
    return sum(
        1
        for r, entries in enumerate(state.log)
        if entries[slot][1] == command
        or (config.rejoin and slot < state.rejoin[r] and entries[slot] == EMPTY)
    )


def ceiling(state: FleetState, replica: int) -> int:
    """ceiling: the replica's vote ceiling as its HSM keeps it: 1 + the highest slot it
    ever voted in (0: never), the larger of ``rejoin`` (set at its last amnesia, when its
    log was emptied) and its log's highest non-empty slot + 1."""
    out = state.rejoin[replica]
    for s, entry in enumerate(state.log[replica]):
        if entry != EMPTY:
            out = max(out, s + 1)
    return out


# ---------------------------------------------------------------------------------------
# Applying commands: the compare-and-swap on the version

#: What applying one log entry does: an empty slot, a refusal because the version the
#: request names is not the record's (``Stale``), a refusal because the record is
#: destroyed, or a charge.
Verdict = Literal["empty", "stale", "destroyed", "charge"]


def verdict(state: FleetState, config: FleetConfig, command: int, attempts: int) -> Verdict:
    """verdict: what the state machine does with ``command`` applied to the record at
    ``attempts``: the version is compared first (rule 2 of ``docs/channel.rst``: stale is
    refused before anything else, without a charge), then the limit. Under
    ``replayable-guess`` the version is not compared."""
    if command == 0:
        return "empty"
    if config.variant != "replayable-guess" and state.versions[command - 1] != attempts:
        return "stale"
    if attempts >= config.limit:
        return "destroyed"
    return "charge"


def apply_log(
    state: FleetState, config: FleetConfig, commands: Sequence[int]
) -> tuple[int, tuple[Verdict, ...]]:
    """apply_log: the record's attempts after applying ``commands`` in order from a fresh
    record, and the verdict of each (empty slots are skipped)."""
    attempts, out = 0, []
    for command in commands:
        v = verdict(state, config, command, attempts)
        out.append(v)
        if v == "charge":
            attempts += 1
    return attempts, tuple(out)


def view(state: FleetState, config: FleetConfig, leader: int, slot: int) -> tuple[int, ...]:
    """view: the commands the leader applies before ``slot``: its ballot's proposals
    (every one chosen before it answers, in the safe fleet), or, under
    ``serve-before-catch-up``, the commands of its own log."""
    if config.variant == "serve-before-catch-up":
        return tuple(state.log[leader][t][1] for t in range(slot))
    b = state.lead[leader]
    return state.proposals[b - 1][:slot]


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
    """The leader of ballot ``lead[leader]`` receives the honest client's fresh guess: it
    writes the charge into the first free slot of its ballot, accepts it itself, and sends
    it to the others. The request names the version the leader reports for that slot (the
    attempts of :func:`view` applied), the newest an honest client can learn; a client
    with an older version is refused as stale, as the adversary's :class:`Inject` is."""

    leader: int

    @property
    def name(self) -> str:
        return f"propose(r{self.leader})"


@dataclass(frozen=True)
class Inject:
    """The adversary's own fresh guess (wrong: it does not hold the password), sealed for
    ``version``, which it may choose freely (``BeginRecovery`` tells anyone the current
    one). The leader treats it as any request: it takes the first free slot."""

    leader: int
    version: int

    @property
    def name(self) -> str:
        return f"inject(r{self.leader},v{self.version})"


@dataclass(frozen=True)
class Replay:
    """The adversary sends the captured request ``request`` (any request made so far, the
    honest client's or its own) to the leader again: the same sealed bytes, so the same
    version, and the leader proposes it in the first free slot of its ballot."""

    leader: int
    request: int

    @property
    def name(self) -> str:
        return f"replay(r{self.leader},g{self.request})"


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
    image (nothing promised, nothing accepted, no vote ceiling) and starts it again, and
    the replica does not notice: within the budget in the safe fleet, one replica past it
    under ``rollback-beyond-budget``, without limit under ``rollback-undetected``."""

    replica: int

    @property
    def name(self) -> str:
        return f"rollback(r{self.replica})"


@dataclass(frozen=True)
class Amnesia:
    """The operator rolls back or edits replica ``replica``'s store and restarts it; the
    replica detects it (version below its HSM's, or a tag that does not verify), discards
    the store and rejoins from its HSM-held state alone: its promise is kept, its votes
    are forgotten, ``rejoin`` becomes its vote ceiling, and it is a learner
    (:func:`learner`) until it has re-learned every slot below it (:class:`Learn`)."""

    replica: int

    @property
    def name(self) -> str:
        return f"amnesia(r{self.replica})"


@dataclass(frozen=True)
class Learn:
    """Learner ``replica`` learns slot ``slot`` by catch-up: ballot ``ballot``'s proposal
    for it, which was chosen (a quorum accepted it at ``ballot``) at some moment of the
    run (``ever_chosen``). It is stored as a vote at ``ballot`` (a chosen command at its choosing
    ballot: every higher ballot proposes the same command, so a phase-1 report of it is
    sound); the promise is unchanged."""

    replica: int
    ballot: int
    slot: int

    @property
    def name(self) -> str:
        return f"learn(r{self.replica},b{self.ballot},s{self.slot})"


@dataclass(frozen=True)
class EditBallot:
    """``unauthenticated-ballots``: the operator changes the ballot of replica
    ``replica``'s vote in ``slot`` to ``ballot``, undetected."""

    replica: int
    slot: int
    ballot: int

    @property
    def name(self) -> str:
        return f"edit_ballot(r{self.replica},s{self.slot},b{self.ballot})"


@dataclass(frozen=True)
class DeleteVote:
    """``unauthenticated-ballots``: the operator deletes replica ``replica``'s vote row for
    ``slot``, undetected."""

    replica: int
    slot: int

    @property
    def name(self) -> str:
        return f"delete_vote(r{self.replica},s{self.slot})"


@dataclass(frozen=True)
class LowerPromise:
    """``unauthenticated-ballots``: the operator lowers replica ``replica``'s stored
    promise to 0 (lowering it to any value allows no more than this), undetected."""

    replica: int

    @property
    def name(self) -> str:
        return f"lower_promise(r{self.replica})"


@dataclass(frozen=True)
class Stale:
    """The answer to a request whose version is not the record's: nothing was charged or
    compared; ``attempts`` is the record's current version (the client may ask again)."""

    attempts: int


Action = (
    Propose
    | Accept
    | Answer
    | Elect
    | Crash
    | Restart
    | Rollback
    | Inject
    | Replay
    | Amnesia
    | Learn
    | EditBallot
    | DeleteVote
    | LowerPromise
)
Outcome = WrongGuess | Released | Destroyed | Stale | None


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
    # The channel adversary's actions come last, so that a shortest trace that needs none
    # of them is reported as it was before they existed.
    out += [Inject(r, v) for r in range(n) for v in range(config.limit)]
    out += [Replay(r, g) for r in range(n) for g in range(1, config.requests + 1)]
    # The disk adversary's detected actions, then its undetected edits, last for the
    # same reason.
    if config.detects:
        out += [Amnesia(r) for r in range(n)]
        out += [
            Learn(r, b, s) for r in range(n) for b in range(1, ballots + 1) for s in range(slots)
        ]
    if config.edits:
        out += [
            EditBallot(r, s, b)
            for r in range(n)
            for s in range(slots)
            for b in range(1, ballots + 1)
        ]
        out += [DeleteVote(r, s) for r in range(n) for s in range(slots)]
        out += [LowerPromise(r) for r in range(n)]
    return tuple(out)


def attempts_before(state: FleetState, config: FleetConfig, leader: int, slot: int) -> int:
    """attempts_before: the record's attempts as the leader computes them before applying
    the command in ``slot``: the commands of its :func:`view` applied in order."""
    return apply_log(state, config, view(state, config, leader, slot))[0]


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

    Raises :class:`Disabled` when the action's guard is false. The history ghost
    ``ever_chosen`` records every ballot's proposal that is chosen after the step.
    """
    post, outcome = _step(state, action, config)
    return observe(post, config), outcome


def observe(state: FleetState, config: FleetConfig) -> FleetState:
    """observe: ``state`` with ``ever_chosen`` raised for every ballot's proposal chosen
    in it now (:func:`chosen`)."""
    ever = tuple(
        tuple(
            state.ever_chosen[b][s] or chosen(state, config, b + 1, s) for s in range(config.slots)
        )
        for b in range(config.ballots)
    )
    return state if ever == state.ever_chosen else replace(state, ever_chosen=ever)


def _step(state: FleetState, action: Action, config: FleetConfig) -> tuple[FleetState, Outcome]:
    """The step without the history ghost's update."""
    limit = config.limit
    match action:
        case Propose(leader=r):
            return _propose(state, config, action, r, None, True), None
        case Inject(leader=r, version=v):
            return _propose(state, config, action, r, v, False), None
        case Replay(leader=r, request=g):
            if not 1 <= g < state.next_guess:
                raise Disabled(action, f"no request g{g} was made")
            return _propose(state, config, action, r, None, False, replayed=g), None
        case Accept(replica=r, ballot=b, slot=s):
            command = state.proposals[b - 1][s]
            if not state.up[r]:
                raise Disabled(action, f"r{r} is down")
            if command == 0:
                raise Disabled(action, f"ballot {b} proposed nothing in slot {s}")
            if b < state.promised[r]:
                raise Disabled(action, f"r{r} promised ballot {state.promised[r]}")
            if learner(state, config, r):
                raise Disabled(action, f"r{r} is a learner")
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
            command = state.proposals[b - 1][s]
            after = replace(
                state,
                waiting=_put2(state.waiting, b - 1, s, False),
                acked=_put(state.acked, s, (b, command)),
            )
            what = verdict(state, config, command, a)
            if what == "stale":
                # Refused before anything else: no charge, no comparison.
                return replace(after, stale=state.stale + 1), Stale(a)
            if what == "destroyed":
                # The state machine refuses a charge at the limit: no charge, no compare.
                return replace(after, destroyed=True), Destroyed()
            # The ghost's log: the ballot's proposals before ``s`` (in the safe fleet, the
            # chosen log; the leader's own view differs only under serve-before-catch-up).
            truth = state.proposals[b - 1][:s]
            true_attempts, verdicts = apply_log(state, config, truth)
            again = state.honest[command - 1] and any(
                c == command and v == "charge" for c, v in zip(truth, verdicts, strict=True)
            )
            after = replace(
                after,
                answered_after_destroy=state.answered_after_destroy or true_attempts >= limit,
                charged_twice=state.charged_twice or again,
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
            if any(learner(state, config, i) for i in quorum):
                raise Disabled(action, "a member is a learner")
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
                rejoin=_put(state.rejoin, r, 0),
            ), None
        case Amnesia(replica=r):
            if not config.detects:
                raise Disabled(action, "the store is not checked")
            return replace(
                state,
                up=_put(state.up, r, True),
                lead=_put(state.lead, r, 0),
                log=_put(state.log, r, (EMPTY,) * config.slots),
                rejoin=_put(state.rejoin, r, ceiling(state, r)),
            ), None
        case Learn(replica=r, ballot=b, slot=s):
            command = state.proposals[b - 1][s]
            if not config.detects:
                raise Disabled(action, "the store is not checked")
            if not state.up[r]:
                raise Disabled(action, f"r{r} is down")
            if not (s < state.rejoin[r] and state.log[r][s] == EMPTY):
                raise Disabled(action, f"r{r} has nothing to re-learn in slot {s}")
            if command == 0:
                raise Disabled(action, f"ballot {b} proposed nothing in slot {s}")
            if not state.ever_chosen[b - 1][s]:
                raise Disabled(action, f"ballot {b}'s proposal for slot {s} was never chosen")
            return replace(state, log=_put2(state.log, r, s, (b, command))), None
        case EditBallot(replica=r, slot=s, ballot=b):
            if not config.edits:
                raise Disabled(action, "edits are detected")
            command = state.log[r][s][1]
            if command == 0:
                raise Disabled(action, f"r{r} has no vote in slot {s}")
            return replace(state, log=_put2(state.log, r, s, (b, command))), None
        case DeleteVote(replica=r, slot=s):
            if not config.edits:
                raise Disabled(action, "edits are detected")
            if state.log[r][s] == EMPTY:
                raise Disabled(action, f"r{r} has no vote in slot {s}")
            return replace(state, log=_put2(state.log, r, s, EMPTY)), None
        case LowerPromise(replica=r):
            if not config.edits:
                raise Disabled(action, "edits are detected")
            if state.promised[r] == 0:
                raise Disabled(action, f"r{r} promised nothing")
            return replace(state, promised=_put(state.promised, r, 0)), None
    raise TypeError(f"not an action: {action!r}")  # pragma: no cover


def _propose(
    state: FleetState,
    config: FleetConfig,
    action: Action,
    r: int,
    version: int | None,
    honest: bool,
    replayed: int = 0,
) -> FleetState:
    """The leader ``r`` puts a request into the first free slot of its ballot and accepts
    it: a fresh one (``replayed == 0``: the next request id, naming ``version``, or the
    leader's version for the slot when ``version`` is ``None``) or the captured request
    ``replayed``. A client (the adversary, for a replay) waits for the answer."""
    b = state.lead[r]
    if not state.up[r] or b == 0:
        raise Disabled(action, f"r{r} leads no ballot")
    if state.promised[r] != b:
        raise Disabled(action, f"r{r} promised ballot {state.promised[r]}")
    free = [s for s, c in enumerate(state.proposals[b - 1]) if c == 0]
    if not free:
        raise Disabled(action, "no free slot")
    s = free[0]
    if replayed:
        g, after = replayed, state
    else:
        g = state.next_guess
        if g > config.requests:
            raise Disabled(action, "no request id left in the model's bound")
        if version is None:
            version = attempts_before(state, config, r, s)
        after = replace(
            state,
            next_guess=g + 1,
            versions=_put(state.versions, g - 1, version),
            honest=_put(state.honest, g - 1, honest),
        )
    return replace(
        after,
        proposals=_put2(state.proposals, b - 1, s, g),
        waiting=_put2(state.waiting, b - 1, s, True),
        log=_put2(state.log, r, s, (b, g)),
    )


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
    answered, no comparison answered (no release, no wrong guess) for a charge the log
    places after the record was destroyed, and no honest request charged twice, whatever
    the adversary replayed or injected."""
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
    if state.charged_twice:
        found.append(Violation("I3", RECORD, "an honest request was charged twice"))
    return found


def check_i6(state: FleetState, config: FleetConfig) -> list[Violation]:
    """check_i6: I6 ``durability``: every acknowledged command is kept by at least
    ``n - q + 1`` replicas (so every quorum that can form holds it): held, or being
    re-learned by a learner, which is counted in no quorum until it holds it
    (:func:`keepers`); and every replica that accepted in its slot at or after the ballot
    it was acknowledged at holds that command."""
    found: list[Violation] = []
    for s, (b, command) in enumerate(state.acked):
        if command == 0:
            continue
        held = keepers(state, config, s, command)
        if held < config.durable_copies:
            found.append(
                Violation(
                    "I6",
                    RECORD,
                    f"slot {s}: acknowledged command {command} kept by {held} replicas "
                    f"(holders and learners), needs {config.durable_copies}",
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
