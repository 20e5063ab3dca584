"""Tests of proofs.fleet_vault: the Z3 encoding of the fleet against model.fleet, the
parametric obligations, and the shortest counterexample of each fleet variant (the
channel's ``replayable-guess`` and the disk adversary's ``rollback-undetected`` and
``unauthenticated-ballots`` included) replayed on the Python model so that it is known
to be real; the safe fleet's amnesia is reachable, and without the rejoin rule it is
caught. ``tests/test_fleet_channel.py`` checks the channel's part exhaustively within
stated bounds."""

from __future__ import annotations

import json
import time
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.fleet import (
    ALL_FLEET_VARIANT_NAMES,
    EMPTY,
    Action,
    Disabled,
    FleetConfig,
    FleetState,
    Stale,
    actions,
    any_fleet_variant,
    check_i3_fleet,
    check_i6,
    chosen,
    enabled,
    initial,
    learner,
    step,
)
from proofs.fleet_vault import (
    ABSTRACT_ACTIONS,
    I3_PROPERTY,
    I6_PROPERTY,
    FleetReport,
    as_columns,
    check_all_fleet,
    check_fleet,
    columns,
    from_columns,
    successors,
)
from proofs.report import State, Trace

#: The weakened safe fleet without the rejoin rule: an amnesiac replica is counted at once.
NO_REJOIN = FleetConfig(limit=1, rejoin=False)

CONFIGS = [FleetConfig.for_variant(v) for v in (None, *ALL_FLEET_VARIANT_NAMES)] + [NO_REJOIN]


@cache
def all_reports() -> tuple[tuple[FleetReport, ...], float]:
    started = time.perf_counter()
    reports = tuple(check_all_fleet())
    return reports, time.perf_counter() - started


def report(variant: str | None) -> FleetReport:
    return {r.variant: r for r in all_reports()[0]}[variant]


def model_step(state: FleetState, action: Action, config: FleetConfig) -> State | None:
    try:
        post, _ = step(state, action, config)
    except Disabled:
        return None
    return as_columns(post, config)


# ---------------------------------------------------------------------------------------
# (a) the encoding agrees with the model, action by action


@st.composite
def any_state(draw: st.DrawFn, config: FleetConfig) -> FleetState:
    """Arbitrary states within the model's bounds, reachable or not."""
    n, slots, ballots, requests = config.replicas, config.slots, config.ballots, config.requests
    small = st.integers(0, 3)
    request = st.integers(0, requests)
    ballot = st.integers(0, ballots)
    entry = st.tuples(ballot, request)
    return FleetState(
        up=tuple(draw(st.booleans()) for _ in range(n)),
        promised=tuple(draw(ballot) for _ in range(n)),
        log=tuple(tuple(draw(entry) for _ in range(slots)) for _ in range(n)),
        lead=tuple(draw(ballot) for _ in range(n)),
        ballot=draw(st.integers(1, ballots)),
        owner=tuple(draw(st.integers(-1, n - 1)) for _ in range(ballots)),
        proposals=tuple(tuple(draw(request) for _ in range(slots)) for _ in range(ballots)),
        waiting=tuple(tuple(draw(st.booleans()) for _ in range(slots)) for _ in range(ballots)),
        next_guess=draw(st.integers(1, requests + 1)),
        answered_wrong=draw(small),
        released=draw(small),
        destroyed=draw(st.booleans()),
        answered_after_destroy=draw(st.booleans()),
        acked=tuple(draw(entry) for _ in range(slots)),
        rolled=tuple(draw(st.booleans()) for _ in range(n)),
        versions=tuple(draw(st.integers(0, config.limit)) for _ in range(requests)),
        honest=tuple(draw(st.booleans()) for _ in range(requests)),
        stale=draw(small),
        charged_twice=draw(st.booleans()),
        rejoin=tuple(draw(st.integers(0, slots)) for _ in range(n)),
        ever_chosen=tuple(tuple(draw(st.booleans()) for _ in range(slots)) for _ in range(ballots)),
    )


@st.composite
def config_state_action(draw: st.DrawFn) -> tuple[FleetConfig, FleetState, Action]:
    config = draw(st.sampled_from(CONFIGS))
    return config, draw(any_state(config)), draw(st.sampled_from(actions(config)))


@settings(max_examples=max(400, settings().max_examples), deadline=None)
@given(config_state_action())
def test_encoding_is_the_model_step(case: tuple[FleetConfig, FleetState, Action]) -> None:
    config, state, action = case
    expected = model_step(state, action, config)
    assert successors(config, action, as_columns(state, config)) == (
        [] if expected is None else [expected]
    )


@settings(max_examples=max(15, settings().max_examples // 4), deadline=None)
@given(config=st.sampled_from(CONFIGS), choices=st.lists(st.integers(0, 10**6), max_size=8))
def test_encoding_agrees_on_reachable_states(config: FleetConfig, choices: list[int]) -> None:
    """Random walks of the model: at every state, every action agrees with the encoding."""
    state = initial(config)
    for pick in choices:
        options = list(enabled(state, config))
        if not options:
            break
        state = options[pick % len(options)][1]
    for action in actions(config):
        expected = model_step(state, action, config)
        got = successors(config, action, as_columns(state, config))
        assert got == ([] if expected is None else [expected]), action.name


def test_columns_round_trip() -> None:
    config = FleetConfig()
    state = initial(config)
    assert from_columns(as_columns(state, config), config) == state
    assert list(as_columns(state, config)) == [name for name, _ in columns(config)]


# ---------------------------------------------------------------------------------------
# (b) the safe fleet


def test_safe_fleet_holds() -> None:
    result = report(None)
    names = [o.name for o in result.obligations]
    assert names == [
        "IndInit",
        *(f"IndNext[{a}]" for a in ABSTRACT_ACTIONS),
        "IndProp[I3]",
        "IndProp[I6]",
    ]
    assert all(o.status == "PASS" for o in result.obligations), result.render()
    assert result.verdict == "holds"
    assert result.failing == ()
    assert result.holding == ("I3", "I6")
    assert {k: r.depth for k, r in result.bmc.items()} == {"I3": 10, "I6": 8}
    assert "verdict: holds" in result.render()


def test_safe_fleet_is_not_vacuous() -> None:
    depths = {r.name: (r.witness.length if r.witness else None) for r in report(None).sanity}
    assert depths == {
        "wrong guess answered": 3,
        "record destroyed": 5,
        "leader changed": 1,
        "answered after a leader change": 4,
        "replay answered stale": 6,
        "amnesiac replica rejoined": 4,
    }


def test_safe_fleet_amnesia_is_reachable_on_the_model() -> None:
    """The sanity witness of a rejoin, run on the Python model: a charge is chosen by
    replicas 0 and 1; replica 0's store is refused: it keeps its promise, forgets its
    vote, and is a learner (no accept, no quorum) while the slot is chosen by no quorum
    right now; it re-learns the slot (chosen earlier in the run) and is a voter again.
    I3 and I6 hold throughout."""
    config = FleetConfig.for_variant(None)
    witness = {r.name: r.witness for r in report(None).sanity}["amnesiac replica rejoined"]
    assert witness is not None
    assert witness.actions == [
        "propose(r0)",
        "accept(r1,b1,s0)",
        "amnesia(r0)",
        "learn(r0,b1,s0)",
    ]
    by_name = {a.name: a for a in actions(config)}
    state = initial(config)
    for name in witness.actions:
        before = state
        state, _ = step(state, by_name[name], config)
        assert check_i3_fleet(state, config) == check_i6(state, config) == []
        if name == "amnesia(r0)":
            assert not chosen(state, config, 1, 0)
            assert state.ever_chosen[0][0]
            assert state.promised[0] == before.promised[0] == 1
            assert state.log[0] == (EMPTY, EMPTY)
            assert state.rejoin[0] == 1
            assert learner(state, config, 0)
            for blocked in ("accept(r0,b1,s0)", "elect(r0,{r0,r1})", "elect(r1,{r0,r1})"):
                with pytest.raises(Disabled, match="learner"):
                    step(state, by_name[blocked], config)
    assert not learner(state, config, 0)
    assert state.log[0][0] == (1, 1)


# ---------------------------------------------------------------------------------------
# (b') the rejoin rule is necessary

#: The weakened fleet's shortest counterexamples: I6 is the amnesia itself (an
#: acknowledged charge loses a copy and nothing stops the replica being counted); I3 is
#: the rollback attack, with the promise kept.
NO_REJOIN_TRACES = {
    "I3": [
        "propose(r0)",
        "accept(r1,b1,s0)",
        "answer_wrong(r0,s0)",
        "amnesia(r0)",
        "elect(r0,{r0,r2})",
        "propose(r0)",
        "accept(r1,b2,s0)",
        "answer_wrong(r0,s0)",
    ],
    "I6": ["propose(r0)", "accept(r1,b1,s0)", "answer_wrong(r0,s0)", "amnesia(r0)"],
}


@cache
def no_rejoin_report() -> FleetReport:
    return check_fleet(None, NO_REJOIN)


def test_without_the_rejoin_rule_the_fleet_is_caught() -> None:
    result = no_rejoin_report()
    assert result.verdict == "violated"
    assert {k: r.trace.actions if r.trace else None for k, r in result.bmc.items()} == (
        NO_REJOIN_TRACES
    )
    assert [o.name for o in result.obligations if o.status == "FAIL"] == [
        "IndNext[amnesia]",
        "IndNext[edit]",
    ]
    safe = FleetConfig(limit=1)
    for invariant, trace in result.bmc.items():
        assert trace.trace is not None
        states = replay(trace.trace, NO_REJOIN)
        check = check_i3_fleet if invariant == "I3" else check_i6
        assert all(check(s, NO_REJOIN) == [] for s in states[:-1])
        assert {v.invariant for v in check(states[-1], NO_REJOIN)} == {invariant}
    # With the rule, the I3 run stops at the election: r0 is a learner (and the I6 run's
    # last state keeps the charge: r0 is counted as re-learning it).
    by_name = {a.name: a for a in actions(safe)}
    state = initial(safe)
    for name in NO_REJOIN_TRACES["I3"][:4]:
        state, _ = step(state, by_name[name], safe)
    assert check_i6(state, safe) == []
    with pytest.raises(Disabled, match="learner"):
        step(state, by_name["elect(r0,{r0,r2})"], safe)


def test_safe_fleet_refuses_the_replay_on_the_model() -> None:
    """The sanity witness of a refused replay, run on the Python model: the replayed
    request is answered ``Stale`` and nothing is charged twice."""
    config = FleetConfig.for_variant(None)
    witness = {r.name: r.witness for r in report(None).sanity}["replay answered stale"]
    assert witness is not None
    assert any(name.startswith("replay(") for name in witness.actions)
    by_name = {a.name: a for a in actions(config)}
    state, outcomes = initial(config), []
    for name in witness.actions:
        state, outcome = step(state, by_name[name], config)
        outcomes.append(outcome)
    assert any(isinstance(o, Stale) for o in outcomes)
    assert check_i3_fleet(state, config) == []


# ---------------------------------------------------------------------------------------
# (c) every unsafe variant: violated, shortest traces pinned, real on the model

#: Shortest counterexample lengths per variant and invariant (None: none up to the bound).
SHORTEST = {
    "minority-quorum": {"I3": 5, "I6": 2},
    "answer-before-chosen": {"I3": 5, "I6": 2},
    "serve-before-catch-up": {"I3": 5, "I6": None},
    "forget-promise-on-restart": {"I3": 9, "I6": 7},
    "rollback-beyond-budget": {"I3": 8, "I6": 4},
    "rollback-undetected": {"I3": 8, "I6": 4},
    "unauthenticated-ballots": {"I3": 7, "I6": 4},
    "replayable-guess": {"I3": 5, "I6": None},
}

#: The parametric obligations each variant makes FAIL.
FAILING = {
    "minority-quorum": ["IndNext[leader_change]", "IndProp[I6]"],
    "answer-before-chosen": ["IndNext[answer_wrong]", "IndNext[answer_right]"],
    "serve-before-catch-up": ["IndNext[leader_change]"],
    "forget-promise-on-restart": ["IndNext[restart]"],
    "rollback-beyond-budget": ["IndNext[rollback]"],
    "rollback-undetected": ["IndNext[rollback]"],
    "unauthenticated-ballots": ["IndNext[edit]"],
    "replayable-guess": ["IndNext[replay]"],
}


def replay(trace: Trace, config: FleetConfig) -> list[FleetState]:
    """Run the trace's actions through model.fleet.step from the initial state, checking at
    every step that the model reaches the trace's (projected) state."""
    by_name = {a.name: a for a in actions(config)}
    state = initial(config)
    states = [state]
    for action, expected in zip(trace.actions, trace.states[1:], strict=True):
        state, _ = step(state, by_name[action], config)
        full = as_columns(state, config)
        assert {k: full[k] for k in expected} == expected, f"after {action}"
        states.append(state)
    return states


@pytest.mark.parametrize("variant", ALL_FLEET_VARIANT_NAMES)
def test_variant_is_violated_with_pinned_shortest_traces(variant: str) -> None:
    config = FleetConfig.for_variant(variant)
    result = report(variant)
    assert result.verdict == "violated"
    lengths = {k: (r.trace.length if r.trace else None) for k, r in result.bmc.items()}
    assert lengths == SHORTEST[variant]
    for invariant, checked in result.bmc.items():
        if checked.trace is None:
            continue
        assert checked.trace.violated == {"I3": I3_PROPERTY, "I6": I6_PROPERTY}[invariant]
        states = replay(checked.trace, config)
        check = check_i3_fleet if invariant == "I3" else check_i6
        assert all(check(s, config) == [] for s in states[:-1])
        assert {v.invariant for v in check(states[-1], config)} == {invariant}


@pytest.mark.parametrize("variant", ALL_FLEET_VARIANT_NAMES)
def test_variant_breaks_its_obligations(variant: str) -> None:
    result = report(variant)
    assert [o.name for o in result.obligations if o.status == "FAIL"] == FAILING[variant]
    for o in result.obligations:
        if o.status == "FAIL":
            assert o.counterexample is not None


@pytest.mark.parametrize("variant", ALL_FLEET_VARIANT_NAMES)
def test_variant_fails_what_the_catalogue_says(variant: str) -> None:
    """The catalogue's I3/I6 entries are exactly what the BMC finds (I2 is not this
    module's business)."""
    expected = tuple(i for i in any_fleet_variant(variant).fails if i in ("I3", "I6"))
    assert report(variant).failing == expected


def test_answer_before_chosen_trace_pinned() -> None:
    trace = report("answer-before-chosen").bmc["I3"].trace
    assert trace is not None
    assert trace.actions == [
        "propose(r0)",
        "answer_wrong(r0,s0)",
        "elect(r1,{r1,r2})",
        "propose(r1)",
        "answer_wrong(r1,s0)",
    ]


def test_serve_before_catch_up_trace_pinned() -> None:
    trace = report("serve-before-catch-up").bmc["I3"].trace
    assert trace is not None
    assert trace.actions == [
        "propose(r0)",
        "elect(r1,{r0,r1})",
        "propose(r1)",
        "accept(r0,b2,s1)",
        "answer_wrong(r1,s1)",
    ]
    assert trace.states[-1]["answered_after_destroy"] is True


def test_replayable_guess_trace_pinned() -> None:
    """The channel's attack 4 of ``docs/channel.rst``: the honest request is proposed,
    replayed into the next slot, both are chosen, and the replay is charged again."""
    trace = report("replayable-guess").bmc["I3"].trace
    assert trace is not None
    assert trace.limit == 2
    assert trace.actions == [
        "propose(r0)",
        "accept(r1,b1,s0)",
        "replay(r0,g1)",
        "accept(r1,b1,s1)",
        "answer_wrong(r0,s1)",
    ]
    assert trace.states[-1]["charged_twice"] is True
    # The same run on the safe fleet: the replay is refused as stale, nothing is charged.
    safe = FleetConfig.for_variant(None)
    by_name = {a.name: a for a in actions(safe)}
    state = initial(safe)
    for name in trace.actions[:-1]:
        state, _ = step(state, by_name[name], safe)
    state, outcome = step(state, by_name["answer_wrong(r0,s1)"], safe)
    assert outcome == Stale(1)
    assert check_i3_fleet(state, safe) == []


def test_rollback_undetected_trace_pinned() -> None:
    """Budget 0 (n = 3, q = 2): one undetected rollback of the leader after its charge was
    chosen and answered is enough; the same run as ``rollback-beyond-budget``'s."""
    for invariant, length in (("I3", 8), ("I6", 4)):
        trace = report("rollback-undetected").bmc[invariant].trace
        assert trace is not None
        assert trace.actions[:4] == [
            "propose(r0)",
            "accept(r1,b1,s0)",
            "answer_wrong(r0,s0)",
            "rollback(r0)",
        ]
        assert trace.length == length
        bounded = report("rollback-beyond-budget").bmc[invariant].trace
        assert bounded is not None
        assert trace.actions == bounded.actions


def test_unauthenticated_ballots_traces_pinned() -> None:
    """I6: a deleted vote row. I3: the honest request, replayed to the leader of ballot 2,
    is chosen and answered there; the operator rewrites r1's ballot-2 vote as a ballot-1
    vote, so ballot 1's proposal of the same request looks chosen and its leader answers
    the same charge a second time (the edit stands for ``lower_promise(r1)`` followed by
    r1 accepting ballot 1's retransmitted Accept, one step longer)."""
    result = report("unauthenticated-ballots")
    assert result.bmc["I6"].trace is not None
    assert result.bmc["I6"].trace.actions == [
        "propose(r0)",
        "accept(r1,b1,s0)",
        "answer_wrong(r0,s0)",
        "delete_vote(r0,s0)",
    ]
    assert result.bmc["I3"].trace is not None
    assert result.bmc["I3"].trace.actions == [
        "propose(r0)",
        "elect(r1,{r1,r2})",
        "replay(r1,g1)",
        "accept(r2,b2,s0)",
        "answer_wrong(r1,s0)",
        "edit_ballot(r1,s0,b1)",
        "answer_wrong(r0,s0)",
    ]
    config = FleetConfig.for_variant("unauthenticated-ballots")
    by_name = {a.name: a for a in actions(config)}
    longer = [
        *result.bmc["I3"].trace.actions[:5],
        "lower_promise(r1)",
        "accept(r1,b1,s0)",
        "answer_wrong(r0,s0)",
    ]
    state = initial(config)
    for name in longer:
        state, _ = step(state, by_name[name], config)
    assert {v.invariant for v in check_i3_fleet(state, config)} == {"I3"}


def test_report_json_round_trips() -> None:
    data = json.loads(json.dumps(report("rollback-beyond-budget").to_json()))
    assert data["verdict"] == "violated"
    assert data["failing"] == ["I3", "I6"]
    assert data["bmc"]["I6"]["trace"]["actions"][-1] == "rollback(r0)"


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(KeyError):
        check_fleet("no-such-variant")


def test_check_all_fleet_covers_every_variant() -> None:
    # Run time is measured by `vaultbench check` and the benchmarks, never asserted here.
    reports, _seconds = all_reports()
    assert [r.variant for r in reports] == [None, *ALL_FLEET_VARIANT_NAMES]
