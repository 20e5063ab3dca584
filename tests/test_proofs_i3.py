"""Tests of proofs.vault_i3: the Z3 encoding of the vault machine against model.vault, the
I3 proof on the safe vault, and the shortest counterexample of each unsafe variant replayed
on the Python model so that it is known to be real."""

from __future__ import annotations

import json
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.vault import (
    VARIANTS,
    Method,
    Record,
    VaultConfig,
    VaultState,
    guess,
    guess_record,
    register,
)
from model.vault import check_i3 as model_check_i3
from proofs.report import State, Trace
from proofs.vault_i3 import (
    ACTIONS,
    PROPERTY_NAME,
    VARIABLES,
    I3Report,
    check_i3,
    post_state,
    successors,
)

USER = "alice"
SECRET = 7
LIMITS = (1, 2, 3, 10)
CONFIGS = [VaultConfig(limit, variant) for limit in LIMITS for variant in (None, *VARIANTS)]


def as_state(record: Record) -> State:
    """The machine's view of a model record: its five state variables."""
    return {name: getattr(record, name) for name in VARIABLES}


def as_record(state: State) -> Record:
    return Record(Method.PASSWORD, 1, SECRET, **state)  # type: ignore[arg-type]


@cache
def report(variant: str | None, limit: int = 10) -> I3Report:
    return check_i3(VaultConfig(limit, variant))


def replay(trace: Trace, config: VaultConfig) -> list[VaultState]:
    """Run the trace's actions through model.vault.guess from a fresh registration,
    checking at every step that the model reaches the trace's state."""
    state, _ = register(VaultState(), USER, Method.PASSWORD, SECRET)
    record = state.get(USER)
    assert record is not None
    assert as_state(record) == trace.states[0]
    states = [state]
    for action, expected in zip(trace.actions, trace.states[1:], strict=True):
        correct, crash = ACTIONS[action]
        state, _ = guess(state, USER, correct, crash, config)
        record = state.get(USER)
        assert record is not None
        assert as_state(record) == expected, f"after {action}"
        states.append(state)
    return states


# ---------------------------------------------------------------------------------------
# (a) the encoding agrees with the model, step by step


# At least 400 examples whatever the profile: the space is 16 configurations x 4 actions x
# states, and each example is one small solver call (about 6 ms).
@settings(max_examples=max(400, settings().max_examples), deadline=None)
@given(
    config=st.sampled_from(CONFIGS),
    action=st.sampled_from(sorted(ACTIONS)),
    attempts=st.integers(0, 13),
    wrong_answered=st.integers(0, 13),
    released=st.integers(0, 4),
    destroyed=st.booleans(),
    answered_after_destroy=st.booleans(),
)
def test_transition_is_the_model_step(
    config: VaultConfig,
    action: str,
    attempts: int,
    wrong_answered: int,
    released: int,
    destroyed: bool,
    answered_after_destroy: bool,
) -> None:
    pre: State = {
        "attempts": attempts,
        "wrong_answered": wrong_answered,
        "released": released,
        "destroyed": destroyed,
        "answered_after_destroy": answered_after_destroy,
    }
    correct, crash = ACTIONS[action]
    expected, _ = guess_record(as_record(pre), correct, crash, config)
    assert successors(config, action, pre) == [as_state(expected)]


def test_actions_are_the_four_guesses() -> None:
    assert sorted(ACTIONS.values()) == [(False, False), (False, True), (True, False), (True, True)]


# ---------------------------------------------------------------------------------------
# (b) the safe vault: every obligation passes, for every limit


@pytest.mark.parametrize("limit", [1, 10])
def test_safe_vault_is_proved(limit: int) -> None:
    result = report(None, limit)
    names = [o.name for o in result.obligations]
    assert names == ["IndInit", *(f"IndNext[{a}]" for a in ACTIONS), "IndProp"]
    assert all(o.status == "PASS" for o in result.obligations), result.render()
    assert all(o.counterexample is None for o in result.obligations)
    assert result.parametric
    assert not result.bmc.violated
    assert result.bmc.depth == limit + 3
    assert result.verdict == "holds"
    assert "holds" in result.render()


def test_safe_vault_is_proved_at_the_concrete_limit_too() -> None:
    result = check_i3(VaultConfig(), parametric=False)
    assert result.verdict == "holds"
    assert "limit 10" in result.render()


# ---------------------------------------------------------------------------------------
# (c) every unsafe variant: violated, shortest trace pinned, real on the model

#: The consecution obligations each variant breaks (stateright-style pinning: a change in
#: the encoding or the model shows here).
FAILING_NEXT = {
    "check-before-charge": {"IndNext[guess_right_crash]", "IndNext[guess_wrong_crash]"},
    "no-destroy": {f"IndNext[{a}]" for a in ACTIONS},
    "off-by-one-limit": {f"IndNext[{a}]" for a in ACTIONS},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_breaks_induction(variant: str) -> None:
    result = report(variant)
    failed = {o.name for o in result.obligations if o.status == "FAIL"}
    assert failed == FAILING_NEXT[variant]
    config = VaultConfig(variant=variant)
    for obligation in result.obligations:
        if obligation.status == "PASS":
            continue
        # The induction counterexample is one real step of the model from a state of Inv.
        trace = obligation.counterexample
        assert trace is not None
        assert trace.limit == config.max_attempts
        assert obligation.broken
        (action,) = trace.actions
        correct, crash = ACTIONS[action]
        post, _ = guess_record(as_record(trace.states[0]), correct, crash, config)
        assert as_state(post) == trace.states[1]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("limit", [1, 3, 10])
def test_variant_shortest_counterexample_is_real(variant: str, limit: int) -> None:
    config = VaultConfig(limit, variant)
    result = report(variant, limit)
    assert result.verdict == "violated"
    assert "violated" in result.render()
    trace = result.trace
    assert trace is not None
    assert trace.violated == PROPERTY_NAME == "I3 attempt-limit"
    # One more wrong guess answered than the limit allows, and no shorter way there:
    # every step answers at most one wrong guess.
    assert trace.length == limit + 1
    assert trace.states[-1]["wrong_answered"] == limit + 1
    states = replay(trace, config)
    assert all(model_check_i3(s, config) == [] for s in states[:-1])
    violations = model_check_i3(states[-1], config)
    assert [v.invariant for v in violations] == ["I3"]
    assert "wrong guesses answered" in violations[0].detail


def test_check_before_charge_trace_pinned() -> None:
    """The exact witness: nine charged wrong guesses, one whose charge a crash loses,
    and an eleventh wrong guess answered before the record is destroyed."""
    trace = report("check-before-charge").trace
    assert trace is not None
    assert trace.actions == ["guess_wrong"] * 9 + ["guess_wrong_crash", "guess_wrong"]


@pytest.mark.parametrize("variant", ["no-destroy", "off-by-one-limit"])
def test_limit_variants_trace_pinned(variant: str) -> None:
    trace = report(variant).trace
    assert trace is not None
    assert trace.actions == ["guess_wrong"] * 11


def test_report_json_round_trips() -> None:
    data = json.loads(json.dumps(report("no-destroy").to_json()))
    assert data["verdict"] == "violated"
    assert data["bmc"]["trace"]["length"] == 11
    assert data["bmc"]["trace"]["states"][-1]["wrong_answered"] == 11
    assert len(data["obligations"]) == 2 + len(ACTIONS)


# ---------------------------------------------------------------------------------------
# (d) the safe machine is not vacuous


def test_safe_vault_can_release_reach_the_limit_and_destroy() -> None:
    result = report(None)
    depths = {r.name: (r.witness.length if r.witness else None) for r in result.sanity}
    assert depths == {"secret released": 1, "limit reached": 10, "record destroyed": 10}
    for query in result.sanity:
        assert query.reachable
        assert query.witness is not None
        assert query.witness.violated is None
        replay(query.witness, VaultConfig())


def test_no_destroy_never_destroys() -> None:
    by_name = {r.name: r for r in report("no-destroy").sanity}
    assert not by_name["record destroyed"].reachable
    assert by_name["secret released"].reachable


def test_which_conjuncts_of_inv_carry_the_proof(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropping a load-bearing conjunct breaks an obligation; two conjuncts are true of
    every reachable state but the proof does not need them (docs/i3.rst says which)."""
    from proofs import vault_i3

    full = vault_i3.INVARIANT
    failing: dict[str, list[str]] = {}
    for index, (name, _) in enumerate(full):
        monkeypatch.setattr(vault_i3, "INVARIANT", full[:index] + full[index + 1 :])
        failing[name] = [
            o.name for o in vault_i3.prove_inductive(VaultConfig()) if o.status == "FAIL"
        ]
    assert failing == {
        "0 <= wrong_answered": [],
        "0 <= released": ["IndProp"],
        "wrong_answered + released <= attempts": ["IndProp"],
        "attempts <= limit": [*(f"IndNext[{a}]" for a in ACTIONS), "IndProp"],
        "destroyed => attempts = limit": [],
        "not answered_after_destroy": ["IndProp"],
    }


def test_post_state_evaluates_one_step() -> None:
    fresh = as_state(Record(Method.PASSWORD, 1, SECRET))
    after = post_state(VaultConfig(), "guess_wrong", fresh)
    assert after == {**fresh, "attempts": 1, "wrong_answered": 1}
