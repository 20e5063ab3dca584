"""Tests of proofs.vault_i3: the Z3 encoding of the vault with the operator on the channel
against model.vault (exhaustively, within the bounds the checkers' docstrings state), the
I3 proof of the safe vault, and the shortest counterexample of each unsafe variant
replayed on the Python model so that it is known to be real."""

from __future__ import annotations

import json
from functools import cache

import pytest
import z3

from model.vault import VARIANTS, Channel, VaultConfig
from model.vault import check_i3 as model_check_i3
from proofs import vault_i3
from proofs.report import State, Trace
from proofs.vault_i3 import (
    ACTIONS,
    INVARIANT,
    PROPERTY_NAME,
    TRACE_VARIABLES,
    I3Report,
    Unrolling,
    check_i3,
    check_reachable,
    check_vault_rules,
    compile_terms,
    format_action,
    from_model,
    houdini,
    initial_state,
    model_step,
    parse_action,
    prove_inductive,
    to_model,
)

CONFIGS = [None, *VARIANTS]
OLD_VARIANTS = ("check-before-charge", "no-destroy", "off-by-one-limit")
CHANNEL_VARIANTS = ("replayable-registration", "replayable-guess", "superseding-challenge")


@cache
def report(variant: str | None, limit: int = 10) -> I3Report:
    return check_i3(VaultConfig(limit, variant))


def replay(trace: Trace, config: VaultConfig) -> list[Channel]:
    """Run the trace's actions through the model from Init, checking at every step that
    the model reaches the trace's state."""
    world = to_model(initial_state())
    assert {k: from_model(world)[k] for k in trace.states[0]} == trace.states[0]
    worlds = [world]
    for label, expected in zip(trace.actions, trace.states[1:], strict=True):
        action, params = parse_action(label)
        world = model_step(config, action, params, world)
        assert {k: from_model(world)[k] for k in expected} == expected, f"after {label}"
        worlds.append(world)
    return worlds


def _representable(state: State) -> bool:
    """The model can hold ``state`` (a state of the induction need not be one)."""
    try:
        return from_model(to_model(state)) == state
    except (ValueError, KeyError):
        return False


# ---------------------------------------------------------------------------------------
# (a) the encoding agrees with the model, exhaustively within bounds


@pytest.mark.parametrize("variant", CONFIGS)
def test_vault_rules_are_the_model(variant: str | None) -> None:
    """Every vault state × request within check_vault_rules's bounds, limit 1."""
    compared, mismatches = check_vault_rules(VaultConfig(1, variant))
    assert compared == 146_160
    assert mismatches == [], "\n".join(map(str, mismatches[:5]))


@pytest.mark.parametrize("variant", CONFIGS)
def test_every_action_is_the_model_on_every_reachable_state(variant: str | None) -> None:
    """Every action and parameter on every state reachable within check_reachable's
    bounds (limit 1, registrations and challenges up to 1)."""
    explored, compared, mismatches = check_reachable(VaultConfig(1, variant), 1, 1)
    assert explored > 100
    # Every action with every parameter value: 1 + 2 + 4 + 4 + 2 + 1 + 12 + 12 + 6.
    assert compared == explored * 44
    assert mismatches == [], "\n".join(map(str, mismatches[:5]))


def test_compiled_terms_evaluate_as_z3_does() -> None:
    """The compiler the exhaustive checks rely on agrees with Z3's own evaluation."""
    config = VaultConfig(2, "check-before-charge")
    pre = vault_i3.fresh("pre")
    params = {"slot": z3.Int("param.slot"), "crash": z3.Bool("param.crash")}
    guard, post = vault_i3.step(config, "replay", pre, params, z3.IntVal(2))
    terms = [guard, *(post[name] for name in vault_i3.VARIABLES)]
    compiled = compile_terms(terms)
    state = initial_state()
    for slot, crash in [(0, False), (0, True), (1, False), (2, True)]:
        env = {f"pre.{k}": v for k, v in state.items()} | {
            "param.slot": slot,
            "param.crash": crash,
        }
        substitution = [
            (z3.Bool(k), z3.BoolVal(v)) if isinstance(v, bool) else (z3.Int(k), z3.IntVal(v))
            for k, v in env.items()
        ]
        expected = []
        for term in terms:
            got = z3.simplify(z3.substitute(term, *substitution))
            expected.append(z3.is_true(got) if z3.is_bool(got) else got.as_long())
        assert list(compiled(env)) == expected


def test_action_labels_round_trip() -> None:
    for action, kinds in ACTIONS.items():
        params: dict[str, int | bool] = {
            name: (name == "crash") if kind == "bool" else 2 for name, kind in kinds
        }
        label = format_action(action, params)
        assert parse_action(label) == (action, params)
    assert format_action("inject_guess", {"vreg": 1, "vatt": 3, "crash": True}) == (
        "inject_guess(v=1.3, crash)"
    )
    assert format_action("replay", {"slot": 0, "crash": False}) == "replay(#1)"


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
    assert result.bmc.depth == limit + 4
    assert result.verdict == "holds"
    assert "holds" in result.render()


def test_safe_vault_is_proved_at_the_concrete_limit_too() -> None:
    obligations = prove_inductive(VaultConfig(), parametric=False)
    assert all(o.status == "PASS" for o in obligations)


def test_houdini_keeps_all_of_inv_for_the_safe_vault() -> None:
    assert houdini(VaultConfig()) == tuple(name for name, _ in INVARIANT)


# ---------------------------------------------------------------------------------------
# (c) every unsafe variant: violated, shortest trace pinned, real on the model

#: The consecution obligations each variant breaks (stateright-style pinning: a change in
#: the encoding or the model shows here).
GUESSES = {"IndNext[guess_right]", "IndNext[guess_wrong]", "IndNext[inject_guess]"}
FAILING_NEXT = {
    "check-before-charge": GUESSES | {"IndNext[replay]"},
    "no-destroy": GUESSES | {"IndNext[replay]"},
    "off-by-one-limit": GUESSES | {"IndNext[replay]"},
    "replayable-registration": {"IndNext[replay]"},
    "replayable-guess": {"IndNext[replay]"},
    "superseding-challenge": {"IndNext[guess_right]", "IndNext[guess_wrong]", "IndNext[replay]"},
}

#: The shortest counterexample of each channel variant, by limit.
CHANNEL_TRACES = {
    ("replayable-registration", 1): ["guess_wrong", "replay(#1)", "inject_guess(v=2.0)"],
    ("replayable-registration", 3): ["retire", "replay(#1)", "inject_guess(v=2.0)"],
    # ("replayable-guess", 1): none. The variant still checks the registration number
    # (the protocol before the versions did), and at limit 1 the honest guess leaves the
    # record at the limit, so a replay can only destroy it: no honest request is charged
    # twice (test_replayable_guess_needs_a_second_attempt).
    ("replayable-guess", 3): ["guess_right", "replay(#2)"],
    ("superseding-challenge", 1): ["inject_begin", "guess_right"],
    ("superseding-challenge", 3): ["inject_begin", "guess_right"],
}
CHANNEL_DETAILS = {
    "replayable-registration": "destroyed or retired, and it answered again",
    "replayable-guess": "charged 2 times",
    "superseding-challenge": "honest right guess (request 2) answered wrong",
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_breaks_induction(variant: str) -> None:
    result = report(variant, 3)
    failed = {o.name for o in result.obligations if o.status == "FAIL"}
    assert failed == FAILING_NEXT[variant]
    config = VaultConfig(3, variant)
    for obligation in result.obligations:
        if obligation.status == "PASS":
            continue
        # The induction counterexample is one real step of the model from a state of Inv.
        trace = obligation.counterexample
        assert trace is not None
        assert trace.limit == config.max_attempts
        assert obligation.broken
        (label,) = trace.actions
        action, params = parse_action(label)
        pre = trace.states[0]
        if not _representable(pre):
            # The solver's pre-state has values the model cannot hold (a pool slot past
            # ``sent``, a proof of secret 17): Inv does not rule them out, and need not.
            continue
        post = model_step(config, action, params, to_model(pre))
        assert from_model(post) == trace.states[1]


@pytest.mark.parametrize("variant", OLD_VARIANTS)
@pytest.mark.parametrize("limit", [1, 3])
def test_old_variant_shortest_counterexample_is_real(variant: str, limit: int) -> None:
    config = VaultConfig(limit, variant)
    result = report(variant, limit)
    assert result.verdict == "violated"
    trace = result.trace
    assert trace is not None
    assert trace.violated == PROPERTY_NAME == "I3 attempt-limit"
    # One more wrong guess answered than the limit allows, and no shorter way there:
    # every step answers at most one wrong guess.
    assert trace.length == limit + 1
    assert trace.states[-1]["wrong[1]"] == limit + 1
    worlds = replay(trace, config)
    assert all(model_check_i3(w.vault, config) == [] for w in worlds[:-1])
    details = [v.detail for v in model_check_i3(worlds[-1].vault, config)]
    assert f"{limit + 1} wrong guesses answered against secret 1, limit {limit}" in details


def test_check_before_charge_trace_pinned() -> None:
    """The exact witness: the honest client's wrong guess, eight of the adversary's, one
    whose charge a crash loses, and an eleventh wrong guess answered."""
    trace = report("check-before-charge").trace
    assert trace is not None
    assert trace.actions == [
        "guess_wrong",
        *(f"inject_guess(v=1.{a})" for a in range(1, 9)),
        "inject_guess(v=1.9, crash)",
        "inject_guess(v=1.9)",
    ]
    worlds = replay(trace, VaultConfig(10, "check-before-charge"))
    assert model_check_i3(worlds[-1].vault, VaultConfig(10)) != []


@pytest.mark.parametrize("variant", CHANNEL_VARIANTS)
@pytest.mark.parametrize("limit", [1, 3])
def test_channel_variant_shortest_counterexample_is_real(variant: str, limit: int) -> None:
    if (variant, limit) not in CHANNEL_TRACES:
        pytest.skip("no counterexample at this limit (see CHANNEL_TRACES)")
    config = VaultConfig(limit, variant)
    result = report(variant, limit)
    assert result.verdict == "violated"
    trace = result.trace
    assert trace is not None
    assert trace.actions == CHANNEL_TRACES[variant, limit]
    worlds = replay(trace, config)
    assert all(model_check_i3(w.vault, config) == [] for w in worlds[:-1])
    details = [v.detail for v in model_check_i3(worlds[-1].vault, config)]
    assert any(CHANNEL_DETAILS[variant] in d for d in details), details


def test_replayable_guess_needs_a_second_attempt() -> None:
    """At limit 1 the BMC finds no run of replayable-guess that breaks I3 (the induction
    still fails, on states no run reaches): the detectors that catch it use a limit of 2
    or more, as the default of 10 is."""
    result = report("replayable-guess", 1)
    assert result.verdict != "violated"
    assert result.trace is None


def test_every_channel_counterexample_needs_the_adversary() -> None:
    for variant in CHANNEL_VARIANTS:
        trace = report(variant, 3).trace
        assert trace is not None
        assert any(a.startswith(("replay", "inject")) for a in trace.actions)


@pytest.mark.parametrize("limit", [1, 3])
def test_replayed_enrolment_breaks_both_halves_of_i3(limit: int) -> None:
    """replayable-registration reaches both "more than the limit against one secret"
    (the limit's wrong guesses, the replayed enrolment, one more) and "a destroyed
    record answers again" (the same after destruction)."""
    config = VaultConfig(limit, "replayable-registration")
    machine = Unrolling(config)
    over = machine.shortest(lambda s, lim: s["wrong[1]"] > lim, limit + 4)
    assert over is not None
    states, actions = over
    assert len(actions) == limit + 2
    assert any(a.startswith("replay") for a in actions)
    trace = Trace(states, actions, PROPERTY_NAME, limit)
    worlds = replay(trace, config)
    details = [v.detail for v in model_check_i3(worlds[-1].vault, config)]
    assert f"{limit + 1} wrong guesses answered against secret 1, limit {limit}" in details

    destroyed_then = machine.shortest(
        lambda s, lim: z3.And(s["dead_answered"], s["wrong[1]"] > lim), limit + 4
    )
    assert destroyed_then is not None
    states, actions = destroyed_then
    assert len(actions) == limit + 2
    worlds = replay(Trace(states, actions, PROPERTY_NAME, limit), config)
    details = [v.detail for v in model_check_i3(worlds[-1].vault, config)]
    assert any("answered again" in d for d in details)


def test_report_json_round_trips() -> None:
    data = json.loads(json.dumps(report("replayable-guess", 3).to_json()))
    assert data["verdict"] == "violated"
    assert data["bmc"]["trace"]["length"] == 2
    assert data["bmc"]["trace"]["states"][-1]["charged[2]"] == 2
    assert len(data["obligations"]) == 2 + len(ACTIONS)


# ---------------------------------------------------------------------------------------
# (d) the safe machine is not vacuous


@pytest.mark.parametrize("limit", [1, 10])
def test_safe_vault_can_do_everything_it_should(limit: int) -> None:
    result = report(None, limit)
    depths = {r.name: (r.witness.length if r.witness else None) for r in result.sanity}
    assert depths == {
        "secret released": 1,
        "limit reached": limit,
        "record destroyed": limit,
        "record retired": 1,
        "re-registered after a proof": 1,
        "adversary's record over a tombstone": 2,
        "replay refused": 1,
    }
    for query in result.sanity:
        assert query.witness is not None
        assert query.witness.violated is None
        replay(query.witness, VaultConfig(limit))


def test_no_destroy_never_destroys() -> None:
    by_name = {r.name: r for r in report("no-destroy", 3).sanity}
    assert not by_name["record destroyed"].reachable
    assert by_name["secret released"].reachable


def test_which_conjuncts_of_inv_carry_the_proof(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropping a load-bearing conjunct breaks an obligation; those the proof does not
    need are true of every reachable state all the same."""
    full = vault_i3.INVARIANT
    failing: dict[str, list[str]] = {}
    for index, (name, _) in enumerate(full):
        monkeypatch.setattr(vault_i3, "INVARIANT", full[:index] + full[index + 1 :])
        failing[name] = [o.name for o in prove_inductive(VaultConfig()) if o.status == "FAIL"]
    assert failing == EXPECTED_LOAD_BEARING


#: Which obligations fail without each conjunct (empty: true of every reachable state, but
#: not needed by the proof).
_CONSUMERS = ["IndNext[guess_right]", "IndNext[guess_wrong]", "IndNext[inject_guess]"]
EXPECTED_LOAD_BEARING: dict[str, list[str]] = {
    "reg >= 1 (the record exists from Init on)": [],
    "0 <= att <= limit": [
        "IndNext[guess_right]",
        "IndNext[guess_wrong]",
        "IndNext[retire]",
        "IndNext[inject_guess]",
        "IndNext[replay]",
    ],
    "destroyed => att = limit": [],
    "the record holds s => wrong[s] <= att": [*_CONSUMERS, "IndNext[replay]"],
    "wrong[s] <= limit": ["IndProp"],
    "dead[s] and the record holds s => tombstone": [*_CONSUMERS, "IndNext[replay]"],
    "secrets not yet drawn have no history and no captured enrolment": ["IndNext[enrol]"],
    "a registered secret's captured enrolments name a past version": ["IndNext[replay]"],
    "captured requests and the client name versions <= the current": ["IndNext[replay]"],
    "0 <= charged[i] <= 1, and a charged request names a past version": ["IndProp"],
    "not dead_answered": ["IndProp"],
    "not honest_wronged": ["IndProp"],
}


def test_trace_states_are_the_trace_variables() -> None:
    trace = report("replayable-guess", 3).trace
    assert trace is not None
    assert all(list(s) == list(TRACE_VARIABLES) for s in trace.states)
