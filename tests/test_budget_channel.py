"""The channel adversary in I5 ``guess-budget`` (``model.budget``,
``proofs.guess_budget_i5``): replayed enrolments, the adversary's own registrations and
guesses, ``BeginRecovery``; the unsafe ``replayable-registration``.

Exhaustive within stated bounds rather than sampled:

- :func:`test_explicit_search`: every state the Python model reaches in at most 8 steps,
  for every limit 1 .. 3 and 1 .. 3 fleets: the safe rules keep I5 in all of them; the
  first violation's depth per variant is what the BMC reports for that limit.
- :func:`test_encoding_on_every_reachable_state`: every state reachable in at most 5
  steps with limit 2 and 2 fleets (each variant), every action: ``transition`` allows
  exactly ``model.budget.step``'s successor, or nothing when the model says disabled.
"""

from __future__ import annotations

import pytest
import z3

from model.budget import (
    ALL_BUDGET_VARIANT_NAMES,
    BUDGET_ACTIONS,
    BUDGET_CHANNEL_VARIANT_NAMES,
    BudgetConfig,
    BudgetState,
    Disabled,
    check_i5,
    initial,
    step,
)
from proofs.guess_budget_i5 import Params, Sym, check_all_i5, transition
from proofs.guess_budget_i5 import check_i5 as prove


def reachable(config: BudgetConfig, depth: int) -> list[list[BudgetState]]:
    """The states first reached at each depth ``0 .. depth`` (breadth-first, exact)."""
    layers = [[initial(config)]]
    seen = set(layers[0])
    for _ in range(depth):
        layer = []
        for state in layers[-1]:
            for action in BUDGET_ACTIONS:
                try:
                    post = step(state, action, config)
                except Disabled:
                    continue
                if post not in seen:
                    seen.add(post)
                    layer.append(post)
        layers.append(layer)
    return layers


def first_violation(config: BudgetConfig, depth: int) -> int | None:
    layers = reachable(config, depth)
    return next(
        (d for d, layer in enumerate(layers) if any(check_i5(s, config) for s in layer)), None
    )


#: The first depth at which I5 breaks, per variant and limit (any number of fleets up to
#: 3 that allows it), within 8 steps; ``None``: never.
FIRST: dict[str | None, dict[int, int | None]] = {
    None: {1: None, 2: None, 3: None},
    "migrate-on-server-request": {1: None, 2: 5, 3: 6},
    "replayable-registration": {1: 3, 2: 4, 3: 5},
}


@pytest.mark.parametrize("variant", [None, *ALL_BUDGET_VARIANT_NAMES])
def test_explicit_search(variant: str | None) -> None:
    for limit in (1, 2, 3):
        depths = {first_violation(BudgetConfig(limit, fleets, variant), 8) for fleets in (1, 2, 3)}
        found = [d for d in depths if d is not None]
        assert (min(found) if found else None) == FIRST[variant][limit], (limit, depths)


#: How many states each variant reaches in at most 5 steps with limit 2 and 2 fleets.
COUNTS: dict[str | None, int] = {
    None: 146,
    "migrate-on-server-request": 160,
    "replayable-registration": 295,
}


@pytest.mark.parametrize("variant", [None, *ALL_BUDGET_VARIANT_NAMES])
def test_encoding_on_every_reachable_state(variant: str | None) -> None:
    config = BudgetConfig(2, 2, variant)
    p = Params.of(config)
    states = [s for layer in reachable(config, 5) for s in layer]
    assert len(states) == COUNTS[variant]
    post = Sym.fresh("post")
    solver = z3.SolverFor("QF_LIA")
    for state in states:
        pre = Sym.of(state)
        for action in BUDGET_ACTIONS:
            solver.push()
            solver.add(transition(variant, action, p, pre, post))
            try:
                expected = step(state, action, config)
            except Disabled:
                assert solver.check() == z3.unsat, (state, action)
                solver.pop()
                continue
            want = Sym.of(expected)
            assert solver.check() == z3.sat, (state, action)
            assert post.value(solver.model()) == Sym.of(expected).value(solver.model())
            solver.add(z3.Not(z3.And(*(post[k] == want[k] for k in post.terms))))
            assert solver.check() == z3.unsat, (state, action)
            solver.pop()


# ---------------------------------------------------------------------------------------
# The proofs


def test_channel_variant_is_exported() -> None:
    assert BUDGET_CHANNEL_VARIANT_NAMES == ("replayable-registration",)
    assert ALL_BUDGET_VARIANT_NAMES == ("migrate-on-server-request", "replayable-registration")
    assert [r.variant for r in check_all_i5()] == [None, *ALL_BUDGET_VARIANT_NAMES]


def test_safe_rules_hold_with_the_channel() -> None:
    report = prove(None)
    assert report.verdict == "holds", report.render()
    names = [o.name for o in report.obligations]
    assert names == ["IndInit", *(f"IndNext[{a}]" for a in BUDGET_ACTIONS), "IndProp[I5]"]
    sanity = {r.name: r.witness.actions if r.witness else None for r in report.sanity}
    assert sanity == {
        "record migrated": ["deploy", "migrate"],
        "record destroyed": ["guess_wrong"],
        "wrong guesses on two fleets": ["deploy", "migrate", "guess_wrong", "guess_wrong"],
        "enrolment replay refused after destroy": ["guess_wrong", "replay_enrolment"],
        "enrolment replay refused after a migration": ["deploy", "migrate", "replay_enrolment"],
        "adversary's record over a tombstone": ["guess_wrong", "register_own"],
    }


def test_replayable_registration_fails_with_the_replay() -> None:
    report = prove("replayable-registration")
    assert report.verdict == "violated"
    failing = [o.name for o in report.obligations if o.status == "FAIL"]
    assert failing == ["IndNext[replay_enrolment]", "IndNext[replay_retired]"]
    trace = report.bmc.trace
    assert trace is not None
    assert (trace.limit, trace.actions) == (1, ["guess_wrong", "replay_enrolment", "guess_wrong"])
    assert [s["wrong"] for s in trace.states] == [0, 1, 1, 2]
    # The second witness: the retired record on the old fleet brought back (attack 2).
    [resurrection] = report.sanity
    assert resurrection.witness is not None
    assert resurrection.witness.actions == [
        "deploy",
        "migrate",
        "guess_wrong",
        "replay_retired",
        "guess_wrong_retired",
    ]
    assert "replay_enrolment" in report.render()


def test_migrate_on_server_request_is_unchanged_by_the_channel() -> None:
    report = prove("migrate-on-server-request")
    assert [o.name for o in report.obligations if o.status == "FAIL"] == ["IndNext[migrate]"]
    assert report.bmc.trace is not None
    assert report.bmc.trace.actions == [
        "deploy",
        "guess_wrong",
        "migrate",
        "guess_wrong",
        "guess_wrong",
    ]


# ---------------------------------------------------------------------------------------
# The attacks of docs/channel.rst, run on the model


def run(config: BudgetConfig, names: list[str]) -> BudgetState:
    state = initial(config)
    for name in names:
        state = step(state, name, config)  # type: ignore[arg-type]
    return state


def test_ten_wrong_destroyed_replay_eleventh() -> None:
    """Attack 1 at the real limit: ten wrong guesses destroy the record, the replayed
    enrolment brings it back, an eleventh wrong guess is answered."""
    names = ["guess_wrong"] * 10 + ["replay_enrolment", "guess_wrong"]
    unsafe = run(BudgetConfig(10, 1, "replayable-registration"), names)
    assert unsafe.wrong == 11
    assert check_i5(unsafe, BudgetConfig(10, 1, "replayable-registration"))
    safe_config = BudgetConfig(10, 1)
    safe = run(safe_config, names[:-1])
    assert (safe.destroyed, safe.refused, safe.wrong) == (True, 1, 10)
    with pytest.raises(Disabled):
        step(safe, "guess_wrong", safe_config)


def test_resurrection_after_migration_is_refused() -> None:
    """Attack 2: after the user moved to fleet 2, her enrolment on fleet 1 is replayed
    there; the safe vault refuses it (the tombstone's registration number is past it)."""
    names = ["deploy", "prove", "migrate", "replay_retired"]
    safe = run(BudgetConfig(10, 2), names)
    assert (safe.old_live, safe.refused, safe.retired_reg, safe.retired_enrol) == (False, 1, 1, 0)
    unsafe = run(BudgetConfig(10, 2, "replayable-registration"), names)
    assert unsafe.old_live


def test_forged_overwrite_is_refused_and_own_records_do_not_count() -> None:
    """Attack 3: the adversary's registration over alice's live record is refused (no
    proof); over her tombstone it applies, and its guesses against its own record are not
    counted against her password."""
    config = BudgetConfig(2, 1)
    live = run(config, ["register_own"])
    assert live == initial(config)
    over = run(config, ["guess_wrong", "guess_wrong", "register_own", "guess_wrong"])
    assert (over.mine, over.wrong, over.wrong_total, over.attempts) == (False, 2, 2, 1)
    assert check_i5(over, config) == []
    with pytest.raises(Disabled):
        step(over, "prove", config)
