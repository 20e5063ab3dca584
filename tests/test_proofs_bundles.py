"""Tests of proofs.bundle_i4_i7 and proofs.guess_budget_i5: the Z3 encodings against
model.bundles and model.budget on concrete states, the pinned verdict matrix with its
shortest trace lengths, and every counterexample replayed on the Python model so that it
is known to be real."""

from __future__ import annotations

import json
import random
import time
from functools import cache

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from model import budget
from model.budget import BUDGET_ACTIONS
from model.bundles import (
    BUNDLE_VARIANT_NAMES,
    BUNDLE_VARIANTS,
    PARTIES,
    BundleConfig,
    BundleState,
    Disabled,
    actions,
    check_i4,
    check_i7,
    enabled,
    initial,
    step,
)
from proofs.bundle_i4_i7 import (
    BundleReport,
    as_columns,
    check_all_bundle_variants,
    check_bundles,
    check_matrix,
    from_columns,
    render_matrix,
    successors,
)
from proofs.guess_budget_i5 import I5Report, Params, Sym, check_i5, transition
from proofs.report import State, Trace

# ---------------------------------------------------------------------------------------
# The checks, run once


@cache
def runs() -> tuple[tuple[BundleReport, ...], tuple[BundleReport, ...], I5Report, I5Report, float]:
    started = time.perf_counter()
    matrix = tuple(check_matrix())
    variants = tuple(check_all_bundle_variants())
    safe, amplified = check_i5(None), check_i5("migrate-on-server-request")
    return matrix, variants, safe, amplified, time.perf_counter() - started


def matrix_report(policy: str, attestation: bool) -> BundleReport:
    return next(r for r in runs()[0] if r.policy == policy and r.client_attestation == attestation)


def variant_report(variant: str, attestation: bool = True) -> BundleReport:
    return next(
        r
        for r in runs()[1]
        if r.variant == variant
        and r.client_attestation == (attestation and variant != "no-client-attestation")
    )


def cells(report: BundleReport) -> dict[str, dict[str, str]]:
    return {k: {p: r.cell(k) for p, r in report.parties.items()} for k in ("I4", "I7")}


# ---------------------------------------------------------------------------------------
# (a) the bundle encoding agrees with the model, action by action

CONFIGS = [
    BundleConfig(v, policy, att, party)
    for v, policy, att in [
        (None, "log-only", True),
        (None, "vetting", False),
        ("countersign-file-not-signature", "log-only", True),
        ("no-digest-check", "log-only", False),
        ("no-epoch-check+no-file-epoch-check+skip-config-check", "vetting", True),
        ("accept-one-signature", "log-only", True),
    ]
    for party in PARTIES
]


def model_step(state: BundleState, index: int, config: BundleConfig) -> State | None:
    try:
        return as_columns(step(state, actions(config)[index], config), config)
    except Disabled:
        return None


@st.composite
def any_state(draw: st.DrawFn, config: BundleConfig) -> BundleState:
    """Arbitrary states within the model's bounds, reachable or not."""
    e, f, c = config.epochs, config.files, config.clients
    flags = st.booleans()

    def bools(n: int) -> tuple[bool, ...]:
        return tuple(draw(flags) for _ in range(n))

    return BundleState(
        made=bools(e),
        vatt=bools(e),
        last=draw(st.integers(0, e)),
        logged=tuple(draw(st.integers(0, f)) for _ in range(e)),
        wsig=tuple(bools(f) for _ in range(e)),
        osig=tuple(bools(f) for _ in range(e)),
        ofile=bools(f),
        high=tuple(draw(st.integers(0, e)) for _ in range(c)),
        accepted=tuple(tuple(draw(st.integers(0, f)) for _ in range(e)) for _ in range(c)),
        rogue=bools(c),
        rolled=bools(c),
    )


@st.composite
def state_and_action(draw: st.DrawFn) -> tuple[BundleConfig, BundleState, int]:
    config = draw(st.sampled_from(CONFIGS))
    state = draw(any_state(config))
    return config, state, draw(st.integers(0, len(actions(config)) - 1))


@settings(max_examples=300, deadline=None)
@given(state_and_action())
def test_bundle_encoding_matches_model_on_arbitrary_states(
    case: tuple[BundleConfig, BundleState, int],
) -> None:
    config, state, index = case
    expected = model_step(state, index, config)
    got = successors(config, actions(config)[index], as_columns(state, config))
    assert got == ([] if expected is None else [expected])


@pytest.mark.parametrize("config", CONFIGS[:8], ids=lambda c: f"{c.variant}-{c.corrupted}")
def test_bundle_encoding_matches_model_on_random_walks(config: BundleConfig) -> None:
    rng = random.Random(f"{config}")
    every = actions(config)
    state = initial(config)
    for _ in range(8):
        for index in rng.sample(range(len(every)), 6):
            expected = model_step(state, index, config)
            got = successors(config, every[index], as_columns(state, config))
            assert got == ([] if expected is None else [expected])
        options = list(enabled(state, config))
        state = rng.choice(options)[1]


@given(st.sampled_from(CONFIGS).flatmap(lambda c: st.tuples(st.just(c), any_state(c))))
@settings(max_examples=50, deadline=None)
def test_columns_round_trip(case: tuple[BundleConfig, BundleState]) -> None:
    config, state = case
    assert from_columns(as_columns(state, config), config) == state


def test_catalogue() -> None:
    assert BUNDLE_VARIANT_NAMES == (
        "accept-one-signature",
        "countersign-file-not-signature",
        "no-epoch-check",
        "no-file-epoch-check",
        "no-digest-check",
        "skip-config-check",
        "no-client-attestation",
    )
    assert [v.name for v in BUNDLE_VARIANTS if v.invariant == "I5"] == ["migrate-on-server-request"]
    with pytest.raises(ValueError, match="unknown bundle variant"):
        BundleConfig("migrate-on-server-request")
    with pytest.raises(KeyError):
        check_bundles("no-such-variant")


# ---------------------------------------------------------------------------------------
# (b) pinned verdicts and shortest trace lengths

HOLDS = {p: "holds" for p in PARTIES}
I7_USUAL = {**HOLDS, "witness": "n/a (violated, 4)"}

EXPECTED_MATRIX = {
    ("log-only", True): {"I4": HOLDS, "I7": I7_USUAL},
    ("log-only", False): {"I4": {**HOLDS, "operator": "violated (3)"}, "I7": I7_USUAL},
    ("vetting", True): {"I4": HOLDS, "I7": I7_USUAL},
    ("vetting", False): {"I4": HOLDS, "I7": I7_USUAL},
}

V = "violated"

#: (variant, client attestation) -> the I4 and I7 cells, all with a log-only witness.
EXPECTED_VARIANTS: dict[tuple[str, bool], dict[str, dict[str, str]]] = {
    ("accept-one-signature", True): {
        "I4": HOLDS,
        "I7": {**HOLDS, "witness": "n/a (violated, 3)"},
    },
    ("accept-one-signature", False): {
        "I4": {**HOLDS, "operator": f"{V} (2)", "witness": f"{V} (2)"},
        "I7": {**HOLDS, "witness": "n/a (violated, 2)"},
    },
    ("countersign-file-not-signature", True): {"I4": HOLDS, "I7": I7_USUAL},
    ("countersign-file-not-signature", False): {
        "I4": {**HOLDS, "operator": f"{V} (3)"},
        "I7": I7_USUAL,
    },
    ("no-epoch-check", True): {"I4": {p: f"{V} (8)" for p in PARTIES}, "I7": I7_USUAL},
    ("no-epoch-check", False): {
        "I4": {**{p: f"{V} (8)" for p in PARTIES}, "operator": f"{V} (3)"},
        "I7": I7_USUAL,
    },
    ("no-file-epoch-check", True): {"I4": {**HOLDS, "operator": f"{V} (5)"}, "I7": I7_USUAL},
    ("no-file-epoch-check", False): {"I4": {**HOLDS, "operator": f"{V} (3)"}, "I7": I7_USUAL},
    ("no-digest-check", True): {
        "I4": {**HOLDS, "vendor": f"{V} (5)"},
        "I7": {**I7_USUAL, "operator": f"{V} (4)", "vendor": f"{V} (5)"},
    },
    ("no-digest-check", False): {
        "I4": {
            "none": f"{V} (4)",
            "operator": f"{V} (3)",
            "witness": f"{V} (4)",
            "vendor": f"{V} (4)",
        },
        "I7": {
            "none": f"{V} (4)",
            "operator": f"{V} (3)",
            "witness": "n/a (violated, 4)",
            "vendor": f"{V} (4)",
        },
    },
    ("skip-config-check", True): {"I4": {**HOLDS, "operator": f"{V} (4)"}, "I7": I7_USUAL},
    ("skip-config-check", False): {"I4": {**HOLDS, "operator": f"{V} (3)"}, "I7": I7_USUAL},
    ("no-client-attestation", False): {"I4": {**HOLDS, "operator": f"{V} (3)"}, "I7": I7_USUAL},
    ("countersign-file-not-signature+no-file-epoch-check", True): {
        "I4": {**HOLDS, "operator": f"{V} (5)", "witness": f"{V} (4)"},
        "I7": I7_USUAL,
    },
    ("countersign-file-not-signature+no-file-epoch-check", False): {
        "I4": {**HOLDS, "operator": f"{V} (3)", "witness": f"{V} (4)"},
        "I7": I7_USUAL,
    },
}


@pytest.mark.parametrize(("policy", "attestation"), list(EXPECTED_MATRIX))
def test_matrix_is_pinned(policy: str, attestation: bool) -> None:
    assert cells(matrix_report(policy, attestation)) == EXPECTED_MATRIX[(policy, attestation)]


@pytest.mark.parametrize(("variant", "attestation"), list(EXPECTED_VARIANTS))
def test_variants_are_pinned(variant: str, attestation: bool) -> None:
    report = variant_report(variant, attestation)
    assert cells(report) == EXPECTED_VARIANTS[(variant, attestation)]


def test_every_variant_is_load_bearing_but_countersign_alone() -> None:
    """Each catalogue variant breaks I4 or I7 for some single corrupted party where the
    safe client in the same setting does not, except ``countersign-file-not-signature``,
    which the client's file-epoch check covers: with that check gone as well it breaks I4
    with the witness alone, which ``no-file-epoch-check`` alone does not."""
    extra: dict[str, list[tuple[bool, str, str]]] = {}
    for report in runs()[1]:
        # no-client-attestation *is* attestation off: compare it with attestation on.
        on = report.client_attestation or report.variant == "no-client-attestation"
        safe = matrix_report(report.policy, on)
        extra.setdefault(report.variant or "", []).extend(
            (report.client_attestation, k, p)
            for k in ("I4", "I7")
            for p in PARTIES
            if report.verdict(k, p) == "violated" and safe.verdict(k, p) != "violated"
        )
    assert [v for v, found in extra.items() if not found] == ["countersign-file-not-signature"]
    assert variant_report("no-file-epoch-check").verdict("I4", "witness") == "holds"
    combined = "countersign-file-not-signature+no-file-epoch-check"
    assert variant_report(combined).verdict("I4", "witness") == "violated"


def test_the_live_question() -> None:
    """``no-client-attestation`` with a ``log-only`` witness: the operator alone makes a
    rogue fleet accepted (I4 fails), and it is in the log (I7 holds)."""
    report = matrix_report("log-only", False)
    trace = report.trace("I4", "operator")
    assert trace is not None
    assert trace.actions == ["submit(1,R1)", "countersign(1,R1)", "deliver(c0,1,R1)"]
    assert report.verdict("I7", "operator") == "holds"
    assert report.parties["operator"].proved("I7")


def test_obligations_pass_wherever_nothing_is_violated() -> None:
    matrix, variants, *_ = runs()
    for report in (*matrix, *variants):
        for party, result in report.parties.items():
            for k in ("I4", "I7"):
                if result.claimed(k) and not result.bmc[k].violated:
                    names = [o.name for o in result.obligations[k]]
                    inv = f"Inv{k[1]}"
                    assert names[0] == f"IndInit[{inv}]", (report.setting, party)
                    assert names[-1] == f"IndProp[{k}]"
                    assert len(names) == 8
                    assert result.proved(k), (report.setting, party, k)


def _replay(config: BundleConfig, trace: Trace) -> BundleState:
    by_name = {a.name: a for a in actions(config)}
    state = initial(config)
    for i, name in enumerate(trace.actions):
        state = step(state, by_name[name], config)
        columns = as_columns(state, config)
        assert {k: columns[k] for k in trace.states[i + 1]} == trace.states[i + 1]
    return state


def test_every_counterexample_replays_on_the_model() -> None:
    matrix, variants, *_ = runs()
    for report in (*matrix, *variants):
        for party, result in report.parties.items():
            config = BundleConfig(
                report.variant,
                report.policy,
                report.client_attestation,
                party,  # type: ignore[arg-type]
            )
            for k, check in (("I4", check_i4), ("I7", check_i7)):
                trace = result.bmc[k].trace
                if trace is None:
                    continue
                final = _replay(config, trace)
                assert check(final, config), (report.setting, party, k)
                # Shortest: the state before the last step is still clean.
                before = _replay(config, Trace(trace.states[:-1], trace.actions[:-1], None))
                assert not check(before, config)


def test_sanity_and_reports_render() -> None:
    report = matrix_report("log-only", True)
    assert [r.reachable for r in report.sanity] == [True, True]
    assert [r.witness.length for r in report.sanity if r.witness] == [4, 7]
    text = report.render()
    assert "IndNext[Inv4][deliver]" in text
    assert "verdict:" in text
    json.dumps(report.to_json())
    table = render_matrix(list(runs()[0]))
    assert table.splitlines()[0].startswith("setting")
    assert len(table.splitlines()) == 5


# ---------------------------------------------------------------------------------------
# (c) I5 guess-budget


@given(
    st.integers(1, 4),
    st.integers(1, 3),
    st.sampled_from([None, "migrate-on-server-request"]),
    st.builds(
        budget.BudgetState,
        latest=st.integers(1, 3),
        fleet=st.integers(1, 3),
        attempts=st.integers(0, 4),
        destroyed=st.booleans(),
        proved=st.booleans(),
        wrong=st.integers(0, 6),
        wrong_total=st.integers(0, 6),
    ),
    st.sampled_from(budget.BUDGET_ACTIONS),
)
@settings(max_examples=300, deadline=None)
def test_budget_encoding_matches_model(
    limit: int,
    fleets: int,
    variant: str | None,
    state: budget.BudgetState,
    action: budget.BudgetAction,
) -> None:
    config = budget.BudgetConfig(limit, fleets, variant)
    try:
        expected: budget.BudgetState | None = budget.step(state, action, config)
    except budget.Disabled:
        expected = None
    post = Sym.fresh("post")
    solver = z3.Solver()
    solver.add(transition(variant, action, Params.of(config), Sym.of(state), post))
    if expected is None:
        assert solver.check() == z3.unsat
        return
    assert solver.check() == z3.sat
    assert post.value(solver.model()) == {
        k: getattr(expected, k) for k in post.value(solver.model())
    }
    solver.add(z3.Not(z3.And(*(post[k] == Sym.of(expected)[k] for k in post.terms))))
    assert solver.check() == z3.unsat


def test_i5_safe_rule_holds() -> None:
    safe = runs()[2]
    assert safe.verdict == "holds"
    assert [o.name for o in safe.obligations] == [
        "IndInit",
        *(f"IndNext[{action}]" for action in BUDGET_ACTIONS),
        "IndProp[I5]",
    ]
    # the operator's channel actions are among them
    assert "IndNext[replay_enrolment]" in [o.name for o in safe.obligations]
    assert all(r.reachable for r in safe.sanity)
    json.dumps(safe.to_json())


def test_i5_amplification_is_found_and_replays() -> None:
    amplified = runs()[3]
    assert amplified.verdict == "violated"
    failing = [o.name for o in amplified.obligations if o.status == "FAIL"]
    assert failing == ["IndNext[migrate]"]
    trace = amplified.bmc.trace
    assert trace is not None
    assert trace.limit == 2
    assert trace.actions == ["deploy", "guess_wrong", "migrate", "guess_wrong", "guess_wrong"]
    config = budget.BudgetConfig(2, 2, "migrate-on-server-request")
    state = budget.initial(config)
    for name in trace.actions:
        state = budget.step(state, name, config)  # type: ignore[arg-type]
    assert budget.check_i5(state, config)
    assert state.wrong == 3
    # The same run is refused by the safe rule at the migration.
    safe = budget.BudgetConfig(2, 2)
    state = budget.step(budget.step(budget.initial(safe), "deploy", safe), "guess_wrong", safe)
    with pytest.raises(budget.Disabled):
        budget.step(state, "migrate", safe)
    assert "VIOLATED at depth 5" in amplified.render()


def test_the_matrix_runs_every_setting() -> None:
    # Run time is measured by `vaultbench check` and the benchmarks, never asserted here.
    assert runs()[4] > 0.0
