"""Refinement of the fleet's counting abstraction, checked on concrete states.

``proofs/fleet_vault.py`` proves I3 and I6 for every ``n``, ``q``, ``r`` and limit about a
counting abstraction (``Abstract``, ``abstract_init``, ``abstract_step``,
``fleet_invariant``) and says that ``model.fleet`` refines it is argued, not checked. This
file checks it on the model's own runs: an abstraction function :func:`alpha` maps a
concrete state to values of the abstraction's variables, and on seeded random walks every
concrete step must be a stutter or an abstract step that ``abstract_step`` allows for some
abstract action (evaluated by Z3 on the concrete values), with ``fleet_invariant`` on every
reached state of the safe fleet and ``abstract_init`` on the initial one.

The abstraction function, variable by variable (``Abstract``'s docstring gives the
meanings; the choices below are the ones that make the meanings precise):

``chosen`` (a history variable, not a state function)
    A charge is *chosen* when a quorum accepted it at one ballot (``model.fleet.chosen``)
    at some moment of the run. That is a fact about the run, not about the state:
    ``model.fleet.chosen`` is "right now", and the evidence disappears when a voter moves
    on to a higher ballot (with the same command) or is rolled back.
    :func:`test_chosen_is_not_a_function_of_the_state` shows two runs that reach the *same*
    ``FleetState``, one in which charge 1 was chosen and one in which it never was; so
    ``attempts``, ``pending`` and ``holders`` cannot be computed from a ``FleetState``
    alone. :func:`alpha` therefore takes a history variable (Abadi and Lamport's refinement
    mappings allow one): ``chosen`` maps ``(slot, command)`` to the lowest ballot at which
    the run ever saw it chosen, updated by :func:`observe` after every step. Nothing
    else is left out: every variable is computed from the state plus this history.
``attempts``
    ``min(limit, number of slots with a chosen charge)``. The abstraction counts charges in
    the order they are *chosen*, and ``choose_charge`` decides "took effect" by
    ``pre.attempts < limit``; the state machine applies them in *log* order (slot ``s``
    takes effect iff ``s < limit``). The two agree on how many charges take effect, not on
    which ones, when slots are chosen out of order (slot 1 before slot 0), which
    ``test_out_of_order_choice_is_counted_in_time_order`` shows; the counting reading is
    the one that refines.
``pending``
    ``attempts - answered_wrong - released``: the charges that took effect and whose
    comparison has not been answered (an answer for a charge past the limit is
    ``Destroyed`` and compares nothing). A charge whose client was abandoned by a leader
    change stays pending (``leader_change`` may lower ``pending`` but need not).
``answered_wrong``, ``released``
    The model's ghost counters.
``holders``
    The fewest replicas *never rolled back* that hold a committed command *at a ballot at
    or above the one it was committed at*; ``n`` while nothing is committed. Committed is
    chosen (the history above) or acknowledged (``acked``, at its ballot). The ballot bound
    matters: a never-rolled-back replica can lose a copy of a chosen command that it
    accepted at a *lower* ballot (``test_copy_below_the_chosen_ballot_can_be_lost``), so
    "replicas that were never rolled back never lose a command" (``docs/i6.rst``) holds
    only for copies at or above the chosen ballot, and counting every copy (as
    ``model.fleet.holders`` does) does not refine ``catch_up``/``choose_charge``.
``rolled``
    The distinct replicas rolled back so far: ``sum(state.rolled)``.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from functools import cache

import pytest
import z3

from model import fleet
from model.fleet import (
    EMPTY,
    Accept,
    Action,
    Answer,
    Crash,
    Disabled,
    Elect,
    FleetConfig,
    FleetState,
    Propose,
    Restart,
    actions,
    initial,
    step,
)
from model.variants import FLEET_VARIANT_NAMES
from proofs.fleet_vault import (
    ABSTRACT,
    ABSTRACT_ACTIONS,
    FLEET_INVARIANT,
    FLEET_PROPERTIES,
    Abstract,
    Params,
    abstract_init,
    abstract_step,
    bmc,
    fleet_invariant,
)

#: The history variable: ``(slot, command)`` -> the lowest ballot it was ever chosen at.
Chosen = Mapping[tuple[int, int], int]

#: An abstract state as a tuple in ``ABSTRACT`` order, and the parameters (n, q, r, limit).
AbsTuple = tuple[int, ...]
ParamTuple = tuple[int, int, int, int]


# ---------------------------------------------------------------------------------------
# The abstraction function


def observe(chosen: Chosen, state: FleetState, config: FleetConfig) -> dict[tuple[int, int], int]:
    """The history after ``state``: ``chosen`` plus what ``state`` shows chosen now."""
    out = dict(chosen)
    for s in range(config.slots):
        for b in range(1, config.ballots + 1):
            if fleet.chosen(state, config, b, s):
                key = (s, state.proposals[b - 1][s])
                out[key] = min(out.get(key, b), b)
    return out


def _copies(state: FleetState, slot: int, command: int, ballot: int, *, any_ballot: bool) -> int:
    """Replicas never rolled back whose log holds ``command`` in ``slot`` (at ``ballot`` or
    above, unless ``any_ballot``), and learners that forgot the slot (docs/disk.rst): a
    replica whose store was refused counts until it has learned the slot again, as it
    answers no Prepare for it."""
    return sum(
        1
        for r, entries in enumerate(state.log)
        if not state.rolled[r]
        and (
            (entries[slot][1] == command and (any_ballot or entries[slot][0] >= ballot))
            or (slot < state.rejoin[r] and entries[slot] == EMPTY)
        )
    )


def alpha(
    state: FleetState, config: FleetConfig, chosen: Chosen, *, any_ballot: bool = False
) -> dict[str, int]:
    """The abstraction's variables for ``state`` given the run's history ``chosen`` (see
    the module docstring). ``any_ballot`` counts every copy in ``holders`` (the reading
    that does not refine; kept for the test that shows it)."""
    committed = dict(chosen)
    for s, (b, command) in enumerate(state.acked):
        if command != 0:
            committed[(s, command)] = min(committed.get((s, command), b), b)
    attempts = min(config.limit, len({s for s, _ in chosen}))
    holders = min(
        (
            _copies(state, s, command, b, any_ballot=any_ballot)
            for (s, command), b in committed.items()
        ),
        default=config.replicas,
    )
    return {
        "attempts": attempts,
        "pending": attempts - state.answered_wrong - state.released,
        "answered_wrong": state.answered_wrong,
        "released": state.released,
        "holders": holders,
        "rolled": sum(state.rolled),
    }


def as_tuple(values: Mapping[str, int]) -> AbsTuple:
    return tuple(values[k] for k in ABSTRACT)


def params(config: FleetConfig) -> ParamTuple:
    return (config.replicas, config.quorum, config.rollback_budget, config.limit)


# ---------------------------------------------------------------------------------------
# The abstraction's formulas, evaluated on concrete values


def _abstract(values: AbsTuple) -> Abstract:
    return Abstract(*(z3.IntVal(v) for v in values))


def _params(p: ParamTuple) -> Params:
    return Params(*(z3.IntVal(v) for v in p))


def _true(formula: z3.BoolRef) -> bool:
    """A closed formula over integer constants, decided by simplification."""
    got = z3.simplify(formula)
    assert z3.is_true(got) or z3.is_false(got), got
    return bool(z3.is_true(got))


@cache
def step_actions(
    variant: str | None, p: ParamTuple, pre: AbsTuple, post: AbsTuple
) -> tuple[str, ...]:
    """The abstract actions whose ``abstract_step`` allows ``pre -> post``."""
    return tuple(
        a
        for a in ABSTRACT_ACTIONS
        if _true(abstract_step(variant, a, _params(p), _abstract(pre), _abstract(post)))
    )


@cache
def broken(p: ParamTuple, s: AbsTuple) -> tuple[str, ...]:
    """The conjuncts of ``fleet_invariant`` that ``s`` breaks."""
    out = tuple(
        name for name, conjunct in FLEET_INVARIANT if not _true(conjunct(_params(p), _abstract(s)))
    )
    assert (out == ()) == _true(fleet_invariant(_params(p), _abstract(s)))
    return out


def initial_ok(config: FleetConfig) -> bool:
    s0 = initial(config)
    a0 = as_tuple(alpha(s0, config, observe({}, s0, config)))
    return _true(abstract_init(_params(params(config)), _abstract(a0)))


# ---------------------------------------------------------------------------------------
# Runs


Run = list[tuple[Action | None, FleetState]]


#: The actions that make progress (a guess proposed, accepted, answered): a walk tries them
#: first at a step with probability ``PROGRESS``, so that runs answer guesses, not only
#: crash and roll back.
PROGRESS = 0.6


def walk(config: FleetConfig, seed: int, steps: int = 30) -> Run:
    """A seeded random walk: each step is uniform over the enabled actions (the first
    enabled action of a random permutation), or, with probability ``PROGRESS``, over the
    enabled progress actions when there is one."""
    rng = random.Random(seed)
    every = list(actions(config))
    state = initial(config)
    run: Run = [(None, state)]
    for _ in range(steps):
        rng.shuffle(every)
        if rng.random() < PROGRESS:
            every.sort(key=lambda a: not isinstance(a, Propose | Accept | Answer))
        for action in every:
            try:
                state, _ = step(state, action, config)
            except Disabled:
                continue
            run.append((action, state))
            break
        else:
            break
    return run


def replay(config: FleetConfig, names: list[str]) -> Run:
    by_name = {a.name: a for a in actions(config)}
    state = initial(config)
    run: Run = [(None, state)]
    for name in names:
        state, _ = step(state, by_name[name], config)
        run.append((by_name[name], state))
    return run


def abstract_run(config: FleetConfig, run: Run, *, any_ballot: bool = False) -> list[AbsTuple]:
    history: Chosen = {}
    out = []
    for _, state in run:
        history = observe(history, state, config)
        out.append(as_tuple(alpha(state, config, history, any_ballot=any_ballot)))
    return out


#: A step that no abstract action explains: (seed, index, concrete action, pre, post).
Gap = tuple[int, int, str, AbsTuple, AbsTuple]


def check_walks(
    config: FleetConfig, seeds: range, steps: int = 30
) -> tuple[list[Gap], list[tuple[int, int, str, tuple[str, ...]]], Counter[str]]:
    """Walk; return the steps with no abstract action, the states breaking Inv (seed,
    index, action, conjuncts), and how often each abstract action explained a step."""
    p, gaps, bad = params(config), [], []
    used: Counter[str] = Counter()
    for seed in seeds:
        run = walk(config, seed, steps)
        abstract = abstract_run(config, run)
        for i in range(1, len(run)):
            action, pre, post = run[i][0], abstract[i - 1], abstract[i]
            assert action is not None
            if broken(p, post):
                bad.append((seed, i, action.name, broken(p, post)))
            if pre == post:
                used["stutter"] += 1
                continue
            matched = step_actions(config.variant, p, pre, post)
            used.update(matched)
            if not matched:
                gaps.append((seed, i, action.name, pre, post))
    return gaps, bad, used


# ---------------------------------------------------------------------------------------
# The safe fleet

SAFE_CONFIGS = [
    FleetConfig(),  # n=3, q=2, limit 1, two slots, two ballots (the BMC's instance)
    FleetConfig(3, 2, limit=2, slots=3, ballots=3),
    FleetConfig(1, 1, limit=1, slots=2, ballots=2),
    FleetConfig(2, 2, limit=1, slots=2, ballots=3),  # r = 1
    FleetConfig(3, 3, limit=2, slots=2, ballots=2),  # r = 2
    FleetConfig(4, 3, limit=2, slots=3, ballots=3),  # r = 1
    FleetConfig(5, 3, limit=2, slots=2, ballots=3),
    FleetConfig(5, 4, limit=2, slots=2, ballots=3),  # r = 1
]

#: Walks per configuration: the BMC's instance gets most of them.
WALKS = {0: 300}
DEFAULT_WALKS = 60


def _name(c: FleetConfig) -> str:
    return f"n{c.replicas}q{c.quorum}l{c.limit}s{c.slots}b{c.ballots}"


@pytest.mark.parametrize("config", SAFE_CONFIGS, ids=_name)
def test_alpha_of_initial_satisfies_abstract_init(config: FleetConfig) -> None:
    assert initial_ok(config)


@pytest.mark.parametrize(
    ("index", "config"), list(enumerate(SAFE_CONFIGS)), ids=[_name(c) for c in SAFE_CONFIGS]
)
def test_safe_fleet_refines_the_abstraction(index: int, config: FleetConfig) -> None:
    gaps, bad, used = check_walks(config, range(WALKS.get(index, DEFAULT_WALKS)))
    assert gaps == [], f"steps no abstract action allows: {gaps[:3]}"
    assert bad == [], f"reached states breaking Inv: {bad[:3]}"
    # Not vacuous: charges are chosen, answered, committed copies added.
    assert {"choose_charge", "answer_wrong", "answer_right"} <= set(used), used
    if config.quorum < config.replicas:
        assert used["catch_up"] > 0, used
    if config.rollback_budget:
        assert used["rollback"] > 0, used


def test_leader_change_and_restart_are_stutters_of_the_safe_fleet() -> None:
    """What the walks observe: under ``alpha`` an ``elect``, ``crash`` or ``restart`` of the
    safe fleet never changes the abstract state, so ``leader_change``'s branch that lowers
    ``attempts`` (``not sees_all``) is never needed by the safe fleet."""
    for config in SAFE_CONFIGS[:2]:
        for seed in range(30):
            run = walk(config, seed)
            abstract = abstract_run(config, run)
            for i in range(1, len(run)):
                if isinstance(run[i][0], Elect | Crash | Restart):
                    assert abstract[i] == abstract[i - 1], (seed, i, run[i][0])


# ---------------------------------------------------------------------------------------
# Why alpha reads as it does (directed runs)


def test_chosen_is_not_a_function_of_the_state() -> None:
    """Two runs of the safe fleet (n = 2, q = 2, budget r = 1) reach the same state; in the
    first, charge 1 was chosen by both replicas before replica 1 was rolled back, in the
    second it never was. The abstraction must say ``attempts = 1`` after the first (a new
    leader will adopt and apply the charge) and ``0`` after the second."""
    config = FleetConfig(2, 2, limit=1, slots=2, ballots=3)
    first = replay(config, ["propose(r0)", "accept(r1,b1,s0)", "rollback(r1)"])
    second = replay(config, ["rollback(r1)", "propose(r0)"])
    # Equal but for the history ghost ``ever_chosen`` (what a learner may be taught).
    assert replace(first[-1][1], ever_chosen=()) == replace(second[-1][1], ever_chosen=())
    assert abstract_run(config, first)[-1] != abstract_run(config, second)[-1]
    assert abstract_run(config, first)[-1][ABSTRACT.index("attempts")] == 1
    assert abstract_run(config, second)[-1][ABSTRACT.index("attempts")] == 0


#: n = 5, q = 3, limit 2, one slot, three ballots: charge 1 at ballot 1 reaches r0 and r1;
#: ballot 2 (r4 with r2, r3) misses it and proposes charge 2; ballot 3 (r0 with r2, r3)
#: adopts charge 1 and chooses it; then r1, which never promised ballot 2 or 3, accepts
#: ballot 2's charge 2 over its ballot-1 copy of the chosen charge 1.
LOST_COPY = [
    "propose(r0)",
    "accept(r1,b1,s0)",
    "elect(r4,{r2,r3,r4})",
    "propose(r4)",
    "elect(r0,{r0,r2,r3})",
    "accept(r0,b3,s0)",
    "accept(r2,b3,s0)",
    "accept(r3,b3,s0)",
    "accept(r1,b2,s0)",
]


def test_copy_below_the_chosen_ballot_can_be_lost() -> None:
    config = FleetConfig(5, 3, limit=2, slots=1, ballots=3)
    run = replay(config, LOST_COPY)
    assert run[-1][1].log[1][0] == (2, 2)  # r1 (never rolled back) lost charge 1
    p = params(config)
    # Counting every copy: 4 -> 3 holders while attempts (1) < limit: no abstract action.
    every = abstract_run(config, run, any_ballot=True)
    assert step_actions(None, p, every[-2], every[-1]) == ()
    # Counting copies at or above the chosen ballot (3): r1's copy never counted; a stutter.
    bounded = abstract_run(config, run)
    assert bounded[-2] == bounded[-1]


def test_out_of_order_choice_is_counted_in_time_order() -> None:
    """limit 1: slot 1 is chosen before slot 0. The abstraction charges it (``attempts``
    and ``pending`` go to 1) although the state machine will refuse slot 1 and charge
    slot 0; choosing slot 0 afterwards is a refused ``choose_charge``; the count agrees."""
    config = FleetConfig()
    run = replay(
        config,
        ["propose(r0)", "propose(r0)", "accept(r1,b1,s1)", "accept(r1,b1,s0)"],
    )
    abstract = abstract_run(config, run)
    p = params(config)
    att, pen = ABSTRACT.index("attempts"), ABSTRACT.index("pending")
    assert (abstract[3][att], abstract[3][pen]) == (1, 1)
    assert "choose_charge" in step_actions(None, p, abstract[2], abstract[3])
    assert abstract[4][:2] == abstract[3][:2]
    assert "choose_charge" in step_actions(None, p, abstract[3], abstract[4])
    # answering slot 1 is a Destroyed (a stutter), slot 0 a wrong guess (answer_wrong)
    tail = replay(
        config,
        [
            "propose(r0)",
            "propose(r0)",
            "accept(r1,b1,s1)",
            "accept(r1,b1,s0)",
            "answer_wrong(r0,s1)",
            "answer_wrong(r0,s0)",
        ],
    )
    ab = abstract_run(config, tail)
    assert ab[5] == ab[4]
    assert step_actions(None, p, ab[5], ab[6]) == ("answer_wrong",)


# ---------------------------------------------------------------------------------------
# The unsafe variants
#
# Each variant's shortest counterexamples (``check_fleet(variant).bmc[...].trace``, pinned
# here because the BMC takes ~9 s; ``test_pinned_traces_are_the_bmc_traces`` re-derives
# them under VAULTBENCH_PROFILE=thorough) are mapped through ``alpha`` and each step is
# explained by the *variant's* ``abstract_step``: an abstract action name, several joined
# by ``|``, ``=`` for a stutter, ``NONE`` when no abstract action allows it. ``first`` is
# the first state that breaks ``fleet_invariant`` (``None``: none does), ``props`` whether
# the abstraction's I3 (``answered_wrong <= limit``) and I6 (``holders >= n - q + 1``) hold
# on the last state. Only what was observed is asserted; the report discusses it.

VARIANT_TRACES: list[tuple[str, str, list[str], list[str], int | None, dict[str, bool]]] = [
    (
        "minority-quorum",
        "I3",
        [
            "propose(r0)",
            "answer_wrong(r0,s0)",
            "elect(r1,{r1})",
            "propose(r1)",
            "answer_wrong(r1,s0)",
        ],
        # The second charge in slot 0 is chosen too (q = 1): the slot was already counted,
        # so nothing takes effect, and its answer has no pending charge: no abstract action.
        ["choose_charge", "answer_wrong", "=", "=", "NONE"],
        5,
        {"I3": False, "I6": False},
    ),
    (
        "minority-quorum",
        "I6",
        ["propose(r0)", "answer_wrong(r0,s0)"],
        # Inv holds (holders 1 >= q - rolled = 1); IndProp[I6] is what fails.
        ["choose_charge", "answer_wrong"],
        None,
        {"I3": True, "I6": False},
    ),
    (
        "answer-before-chosen",
        "I3",
        [
            "propose(r0)",
            "answer_wrong(r0,s0)",
            "elect(r1,{r1,r2})",
            "propose(r1)",
            "answer_wrong(r1,s0)",
        ],
        # The variant's abstract answer keeps ``pending``; alpha's ``pending`` (attempts -
        # answers) drops to -1, so the step breaks Inv and matches no abstract action.
        ["=", "NONE", "=", "=", "NONE"],
        2,
        {"I3": False, "I6": False},
    ),
    (
        "answer-before-chosen",
        "I6",
        ["propose(r0)", "answer_wrong(r0,s0)"],
        ["=", "NONE"],
        2,
        {"I3": True, "I6": False},
    ),
    (
        "serve-before-catch-up",
        "I3",
        [
            "propose(r0)",
            "elect(r1,{r0,r1})",
            "propose(r1)",
            "accept(r0,b2,s1)",
            "answer_wrong(r1,s1)",
        ],
        # A safe-looking abstract run: the concrete violation is ``answered_after_destroy``
        # (slot 1 compared while slot 0 is not chosen), which no abstract variable records.
        ["=", "=", "=", "choose_charge", "answer_wrong"],
        None,
        {"I3": True, "I6": True},
    ),
    (
        "forget-promise-on-restart",
        "I3",
        [
            "propose(r0)",
            "elect(r1,{r1,r2})",
            "propose(r1)",
            "accept(r2,b2,s0)",
            "answer_wrong(r1,s0)",
            "crash(r1)",
            "restart(r1)",
            "accept(r1,b1,s0)",
            "answer_wrong(r0,s0)",
        ],
        # The copy is lost at the accept after the restart; the variant's ``restart`` is
        # the abstract action that allows it (IndNext[restart]).
        ["=", "=", "=", "choose_charge", "answer_wrong", "=", "=", "restart", "NONE"],
        8,
        {"I3": False, "I6": False},
    ),
    (
        "forget-promise-on-restart",
        "I6",
        [
            "propose(r0)",
            "elect(r1,{r1,r2})",
            "propose(r1)",
            "crash(r2)",
            "restart(r2)",
            "accept(r2,b1,s0)",
            "answer_wrong(r0,s0)",
        ],
        # check_i6's second clause breaks (r1 accepted another command at ballot 2 >= the
        # acknowledged ballot 1); the abstraction has only the first (copies), which holds.
        ["=", "=", "=", "=", "=", "choose_charge", "answer_wrong"],
        None,
        {"I3": True, "I6": True},
    ),
    (
        "rollback-beyond-budget",
        "I3",
        [
            "propose(r0)",
            "accept(r1,b1,s0)",
            "answer_wrong(r0,s0)",
            "rollback(r0)",
            "elect(r0,{r0,r2})",
            "propose(r0)",
            "accept(r1,b2,s0)",
            "answer_wrong(r0,s0)",
        ],
        # IndNext[rollback] at step 4; then r1's copy of the answered charge is overwritten
        # (holders 1 -> 0) and a second charge answered: no abstract action for either.
        ["=", "choose_charge", "answer_wrong", "rollback", "=", "=", "NONE", "NONE"],
        4,
        {"I3": False, "I6": False},
    ),
    (
        "rollback-beyond-budget",
        "I6",
        ["propose(r0)", "accept(r1,b1,s0)", "answer_wrong(r0,s0)", "rollback(r0)"],
        ["=", "choose_charge", "answer_wrong", "rollback"],
        4,
        {"I3": True, "I6": False},
    ),
]


def explain(config: FleetConfig, run: Run) -> tuple[list[str], int | None, dict[str, bool]]:
    p, variant = params(config), config.variant
    ab = abstract_run(config, run)
    steps = [
        "="
        if ab[i] == ab[i - 1]
        else "|".join(step_actions(variant, p, ab[i - 1], ab[i])) or "NONE"
        for i in range(1, len(ab))
    ]
    first = next((i for i, s in enumerate(ab) if broken(p, s)), None)
    props = {k: _true(f(_params(p), _abstract(ab[-1]))) for k, f in FLEET_PROPERTIES.items()}
    return steps, first, props


@pytest.mark.parametrize(
    ("variant", "invariant", "names", "steps", "first", "props"),
    VARIANT_TRACES,
    ids=[f"{v}-{i}" for v, i, *_ in VARIANT_TRACES],
)
def test_variant_counterexample_through_alpha(
    variant: str,
    invariant: str,
    names: list[str],
    steps: list[str],
    first: int | None,
    props: dict[str, bool],
) -> None:
    config = FleetConfig.for_variant(variant)
    assert initial_ok(config)
    assert explain(config, replay(config, names)) == (steps, first, props)


#: What seeded walks of each variant show (60 walks of 30 steps): whether some step has no
#: abstract action in the variant's ``abstract_step``, and whether some reached state breaks
#: ``fleet_invariant``.
VARIANT_WALKS = {
    "minority-quorum": (True, True),
    "answer-before-chosen": (True, True),
    "serve-before-catch-up": (False, False),
    "forget-promise-on-restart": (False, False),
    "rollback-beyond-budget": (True, True),
    "rollback-undetected": (True, True),
    "unauthenticated-ballots": (False, True),
}


@pytest.mark.parametrize("variant", FLEET_VARIANT_NAMES)
def test_variant_walks(variant: str) -> None:
    gaps, bad, _ = check_walks(FleetConfig.for_variant(variant), range(60))
    assert (bool(gaps), bool(bad)) == VARIANT_WALKS[variant]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("VAULTBENCH_PROFILE") != "thorough", reason="the BMC takes ~9 s")
def test_pinned_traces_are_the_bmc_traces() -> None:
    for variant, invariant, names, *_ in VARIANT_TRACES:
        config = FleetConfig.for_variant(variant)
        trace = bmc(config, invariant, len(names)).trace
        assert trace is not None
        assert trace.actions == names, (variant, invariant)
