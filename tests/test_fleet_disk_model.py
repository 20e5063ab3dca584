"""The disk adversary on the fleet model (``model.fleet``): amnesia and the rejoin rule.

Unit checks of :class:`model.fleet.Amnesia` (the promise is kept, the log forgotten, the
vote ceiling taken), of the learner's guards and of :class:`model.fleet.Learn`, and an
explicit breadth-first search of the Python model, independent of the Z3 encoding of
``proofs/fleet_vault.py``: on the BMC's instance (``n = 3``, ``q = 2``, two slots, two
ballots) every state within five steps of the safe fleet, amnesia on any replica any
number of times included, keeps I3 and I6, and learners are reached and rejoin; without
the rejoin rule, under ``rollback-undetected`` and under ``unauthenticated-ballots`` the
first I6 violation is at depth 4, the BMC's shortest length. Six steps under
``VAULTBENCH_PROFILE=thorough``.
"""

from __future__ import annotations

import os

import pytest

from model.fleet import (
    EMPTY,
    Amnesia,
    DeleteVote,
    Disabled,
    EditBallot,
    FleetConfig,
    FleetState,
    Learn,
    LowerPromise,
    Rollback,
    actions,
    ceiling,
    check_i3_fleet,
    check_i6,
    enabled,
    initial,
    learner,
    step,
)

SAFE = FleetConfig.for_variant(None)
NO_REJOIN = FleetConfig(limit=1, rejoin=False)
DEPTH = 6 if os.environ.get("VAULTBENCH_PROFILE") == "thorough" else 5


def run(config: FleetConfig, names: list[str]) -> FleetState:
    by_name = {a.name: a for a in actions(config)}
    state = initial(config)
    for name in names:
        state, _ = step(state, by_name[name], config)
    return state


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


def first_violation(config: FleetConfig, layers: list[list[FleetState]]) -> int | None:
    return next(
        (
            depth
            for depth, layer in enumerate(layers)
            if any(check_i3_fleet(s, config) or check_i6(s, config) for s in layer)
        ),
        None,
    )


# ---------------------------------------------------------------------------------------
# Amnesia, the learner, Learn


def test_amnesia_keeps_the_promise_and_takes_the_vote_ceiling() -> None:
    state = run(SAFE, ["propose(r0)", "propose(r0)", "accept(r1,b1,s1)", "elect(r2,{r1,r2})"])
    assert state.promised[1] == 2
    assert ceiling(state, 1) == 2
    after, _ = step(state, Amnesia(1), SAFE)
    assert after.promised[1] == 2  # HSM-held
    assert after.log[1] == (EMPTY, EMPTY)
    assert after.rejoin[1] == 2
    assert after.up[1]
    assert learner(after, SAFE, 1)
    # A second amnesia before it re-learned anything keeps the ceiling.
    again, _ = step(after, Amnesia(1), SAFE)
    assert again.rejoin[1] == 2


def test_a_replica_that_never_voted_is_no_learner() -> None:
    state, _ = step(initial(SAFE), Amnesia(2), SAFE)
    assert state.rejoin[2] == 0
    assert not learner(state, SAFE, 2)
    assert state.promised[2] == 1


def test_a_learner_accepts_nothing_and_is_in_no_quorum() -> None:
    state = run(SAFE, ["propose(r0)", "accept(r1,b1,s0)", "amnesia(r1)"])
    by_name = {a.name: a for a in actions(SAFE)}
    for name in ("accept(r1,b1,s0)", "elect(r1,{r1,r2})", "elect(r2,{r1,r2})"):
        with pytest.raises(Disabled, match="learner"):
            step(state, by_name[name], SAFE)
    # Replicas 0 and 2 still form a quorum, which holds the chosen charge on replica 0.
    elected, _ = step(state, by_name["elect(r2,{r0,r2})"], SAFE)
    assert elected.proposals[1][0] == 1


def test_learn_needs_a_choice_and_ends_the_learner() -> None:
    state = run(SAFE, ["propose(r0)", "amnesia(r0)"])
    assert learner(state, SAFE, 0)
    with pytest.raises(Disabled, match="never chosen"):
        step(state, Learn(0, 1, 0), SAFE)
    # Chosen once (replicas 0 and 1), then replica 0 forgets: no quorum holds it now, but
    # the leader that counted the votes can teach it.
    state = run(SAFE, ["propose(r0)", "accept(r1,b1,s0)", "amnesia(r0)"])
    assert state.ever_chosen[0][0]
    learned, _ = step(state, Learn(0, 1, 0), SAFE)
    assert learned.log[0][0] == (1, 1)
    assert learned.promised[0] == 1
    assert not learner(learned, SAFE, 0)
    with pytest.raises(Disabled, match="nothing to re-learn"):
        step(learned, Learn(0, 1, 0), SAFE)


def test_which_configuration_has_which_disk_action() -> None:
    names = {
        v: {type(a) for a in actions(FleetConfig.for_variant(v))}
        for v in (None, "rollback-undetected", "rollback-beyond-budget", "unauthenticated-ballots")
    }
    edits = {EditBallot, DeleteVote, LowerPromise}
    assert {Amnesia, Learn} <= names[None]
    assert not edits & names[None]
    assert not {Amnesia, Learn} & names["rollback-undetected"]
    assert not {Amnesia, Learn} & names["rollback-beyond-budget"]
    assert {Amnesia, Learn} | edits <= names["unauthenticated-ballots"]
    # Undetected rollback: never in the safe instance (budget 0), any replica under
    # rollback-undetected, one under rollback-beyond-budget.
    with pytest.raises(Disabled):
        step(initial(SAFE), Rollback(0), SAFE)
    undetected = FleetConfig.for_variant("rollback-undetected")
    state = initial(undetected)
    for r in (0, 1, 2, 0):
        state, _ = step(state, Rollback(r), undetected)
    bounded = FleetConfig.for_variant("rollback-beyond-budget")
    state, _ = step(initial(bounded), Rollback(0), bounded)
    with pytest.raises(Disabled):
        step(state, Rollback(1), bounded)


def test_i6_counts_a_learner_as_keeping_the_command() -> None:
    state = run(SAFE, ["propose(r0)", "accept(r1,b1,s0)", "answer_wrong(r0,s0)", "amnesia(r1)"])
    assert check_i6(state, SAFE) == []
    weakened = run(
        NO_REJOIN, ["propose(r0)", "accept(r1,b1,s0)", "answer_wrong(r0,s0)", "amnesia(r1)"]
    )
    assert [v.invariant for v in check_i6(weakened, NO_REJOIN)] == ["I6"]


# ---------------------------------------------------------------------------------------
# Explicit search, independent of the Z3 encoding


def test_safe_fleet_with_amnesia_keeps_i3_and_i6_in_every_state_within_the_bound() -> None:
    layers = reachable(SAFE, DEPTH)
    assert first_violation(SAFE, layers) is None
    states = [s for layer in layers for s in layer]
    # Not vacuous: learners are reached, and so are replicas that rejoined.
    assert any(learner(s, SAFE, r) for s in states for r in range(SAFE.replicas))
    assert any(
        s.rejoin[r] >= 1 and not learner(s, SAFE, r) for s in states for r in range(SAFE.replicas)
    )
    assert any(s.answered_wrong for s in states)


@pytest.mark.parametrize(
    "config",
    [
        NO_REJOIN,
        FleetConfig.for_variant("rollback-undetected"),
        FleetConfig.for_variant("unauthenticated-ballots"),
    ],
    ids=["no-rejoin", "rollback-undetected", "unauthenticated-ballots"],
)
def test_unsafe_disk_configurations_break_i6_at_the_bmc_depth(config: FleetConfig) -> None:
    assert first_violation(config, reachable(config, 4)) == 4
