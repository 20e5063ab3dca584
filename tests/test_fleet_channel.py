"""The channel adversary on the fleet (``model.fleet``, ``proofs.fleet_vault``), checked
exhaustively within stated bounds rather than on samples.

Bounds (the BMC's instance, ``FleetConfig.for_variant``): ``n = 3``, ``q = 2``, two slots,
two ballots, so request ids ``1 .. 4``; limit 2 for the safe fleet and
``replayable-guess``.

- :func:`test_apply_log_encoding_is_exact`: the compare-and-swap, every log prefix of at
  most two slots over request ids ``0 .. 4`` against every version table with versions
  ``0 .. limit``, limits 1 and 2, with and without ``replayable-guess``: the Z3 terms of
  ``proofs.fleet_vault._apply`` evaluate to :func:`model.fleet.apply_log`.
- :func:`test_encoding_on_every_state_within_two_steps`: every state reachable in at most
  two steps (113 states), every one of the 75 actions: the step relation allows exactly
  the model's successor, or none when the model says the action is disabled (depth 3,
  833 states, 835 under ``replayable-guess``, with ``VAULTBENCH_PROFILE=thorough``).
- :func:`test_explicit_search_agrees_with_the_bmc`: every state reachable in at most five
  steps (22,730 states on the safe fleet): the safe fleet breaks neither I3 nor I6 in any
  of them, and ``replayable-guess`` first breaks I3 at depth 5, the BMC's shortest length,
  found by an independent search of the Python model.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import replace

import pytest
import z3

from model.fleet import Disabled as ModelDisabled
from model.fleet import (
    FleetConfig,
    FleetState,
    Replay,
    Stale,
    actions,
    apply_log,
    check_i3_fleet,
    check_i6,
    enabled,
    initial,
    step,
)
from proofs.fleet_vault import (
    _apply,
    _one_step,
    as_columns,
    constant,
    fresh,
    num,
    value,
)

SAFE = FleetConfig.for_variant(None)
REPLAYABLE = FleetConfig.for_variant("replayable-guess")


def reachable(config: FleetConfig, depth: int) -> list[list[FleetState]]:
    """The states first reached at each depth ``0 .. depth`` (breadth-first, exact)."""
    layers = [[initial(config)]]
    seen = set(layers[0])
    for _ in range(depth):
        layer = []
        for state in layers[-1]:
            for _, post in enabled(state, config):
                if post not in seen:
                    seen.add(post)
                    layer.append(post)
        layers.append(layer)
    return layers


def test_bounds_are_the_stated_ones() -> None:
    for config in (SAFE, REPLAYABLE):
        assert (config.replicas, config.quorum, config.slots, config.ballots) == (3, 2, 2, 2)
        assert (config.limit, config.requests, len(actions(config))) == (2, 4, 75)


@pytest.mark.parametrize("variant", [None, "replayable-guess"])
@pytest.mark.parametrize("limit", [1, 2])
def test_apply_log_encoding_is_exact(variant: str | None, limit: int) -> None:
    config = FleetConfig(3, 2, limit, variant=variant)
    sym = fresh("x", config)
    commands = [z3.BitVec(f"c{t}", 6) for t in range(config.slots)]
    checked = 0
    for length in range(config.slots + 1):
        attempts, charges = _apply(config, sym, commands[:length])
        for versions in itertools.product(range(limit + 1), repeat=config.requests):
            state = replace(initial(config), versions=versions)
            table = [(sym[f"ver[g{g + 1}]"], num(v)) for g, v in enumerate(versions)]
            for seq in itertools.product(range(config.requests + 1), repeat=length):
                pairs = table + [(commands[t], num(c)) for t, c in enumerate(seq)]
                got_attempts = z3.simplify(z3.substitute(attempts, *pairs)).as_signed_long()
                got_charges = [z3.is_true(z3.simplify(z3.substitute(ch, *pairs))) for ch in charges]
                want_attempts, verdicts = apply_log(state, config, seq)
                assert got_attempts == want_attempts, (versions, seq)
                assert got_charges == [v == "charge" for v in verdicts], (versions, seq)
                checked += 1
    assert checked == sum((config.requests + 1) ** k for k in range(3)) * (limit + 1) ** 4


def _check_every_action(config: FleetConfig, states: list[FleetState]) -> int:
    """Every action from every state in ``states``: encoding == model. Returns the count."""
    template_pre, post, choice, relation = _one_step(config)
    every = actions(config)
    checked = 0
    for state in states:
        values = constant(as_columns(state, config))
        solver = z3.SolverFor("QF_BV")
        solver.add(z3.substitute(relation, *((template_pre[k], values[k]) for k in template_pre)))
        for k, action in enumerate(every):
            try:
                expected = as_columns(step(state, action, config)[0], config)
            except ModelDisabled:
                assert solver.check(choice == k) == z3.unsat, action.name
                checked += 1
                continue
            assert solver.check(choice == k) == z3.sat, action.name
            assert value(post, solver.model()) == expected, action.name
            same = z3.And(*(post[name] == v for name, v in constant(expected).items()))
            assert solver.check(choice == k, z3.Not(same)) == z3.unsat, action.name
            checked += 1
    return checked


@pytest.mark.parametrize("config", [SAFE, REPLAYABLE], ids=["safe", "replayable-guess"])
def test_encoding_on_every_state_within_two_steps(config: FleetConfig) -> None:
    states = [s for layer in reachable(config, 2) for s in layer]
    assert len(states) == 113
    assert _check_every_action(config, states) == 113 * 75


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("VAULTBENCH_PROFILE") != "thorough", reason="about 830 states x 75 actions"
)
@pytest.mark.parametrize("config", [SAFE, REPLAYABLE], ids=["safe", "replayable-guess"])
def test_encoding_on_every_state_within_three_steps(config: FleetConfig) -> None:
    states = [s for layer in reachable(config, 3) for s in layer]
    count = 835 if config.variant == "replayable-guess" else 833
    assert len(states) == count
    assert _check_every_action(config, states) == count * 75


def test_explicit_search_agrees_with_the_bmc() -> None:
    safe = reachable(SAFE, 5)
    assert sum(len(layer) for layer in safe) == 34094
    for layer in safe:
        for state in layer:
            assert check_i3_fleet(state, SAFE) == [], state
            assert check_i6(state, SAFE) == [], state
    # Replays are reached, and refused: some state within the bound answered one Stale.
    assert any(state.stale for layer in safe for state in layer)
    unsafe = reachable(REPLAYABLE, 5)
    first = next(
        depth
        for depth, layer in enumerate(unsafe)
        if any(check_i3_fleet(state, REPLAYABLE) for state in layer)
    )
    assert first == 5
    broken = {v.detail for state in unsafe[5] for v in check_i3_fleet(state, REPLAYABLE)}
    assert broken == {"an honest request was charged twice"}


def test_a_replay_is_stale_once_its_version_is_used() -> None:
    """Directed: the honest request is charged, its replay is refused without a charge
    on the safe fleet whatever slot it lands in; an injected request for a stale version
    is refused the same way."""
    config = SAFE
    by_name = {a.name: a for a in actions(config)}
    state = initial(config)
    for name in ["propose(r0)", "accept(r1,b1,s0)", "answer_right(r0,s0)"]:
        state, _ = step(state, by_name[name], config)
    assert state.released == 1
    state, _ = step(state, Replay(0, 1), config)
    state, _ = step(state, by_name["accept(r1,b1,s1)"], config)
    state, outcome = step(state, by_name["answer_wrong(r0,s1)"], config)
    assert outcome == Stale(1)
    assert (state.released, state.answered_wrong, state.stale) == (1, 0, 1)
    with pytest.raises(ModelDisabled):
        step(state, Replay(0, 2), config)  # no request g2 was ever made
