"""Tests of model.consensus's disk adversary (issue 14): ``amnesia`` and the rejoin rule in
the safe fleet, undetected ``rollback`` in ``rollback-undetected`` and
``rollback-beyond-budget``, the undetected edits of ``unauthenticated-ballots``."""

from __future__ import annotations

import pytest

from model.consensus import (
    CONSENSUS_VARIANTS,
    Accepted,
    Action,
    ConsensusConfig,
    ConsensusState,
    Durable,
    Promise,
    amnesia,
    apply,
    delete_vote,
    edit_promise,
    edit_vote,
    explore,
    ground_actions,
    initial,
    rollback,
)
from model.variants import FLEET_VARIANT_NAMES

SAFE = ConsensusConfig(3, 2)


def run(config: ConsensusConfig, *labels: str) -> ConsensusState:
    """The state after the actions labelled ``labels`` (each must be enabled)."""
    state = initial(config)
    for label in labels:
        action = next(
            a for a in ground_actions(state, config, (1, 2, 3), ("a", "b")) if a.label == label
        )
        after = apply(state, config, action)
        assert after is not None, label
        state = after
    return state


#: r0 and r1 promise ballot 1, which proposes a; r0 votes a.
VOTED = ("send_1a(b1)", "join(r0,b1)", "join(r1,b1)", "propose(b1,{r0,r1},a)", "vote(r0,b1,a)")


def test_the_new_variants_are_catalogued() -> None:
    assert {"rollback-undetected", "unauthenticated-ballots"} <= set(CONSENSUS_VARIANTS)
    assert set(CONSENSUS_VARIANTS) <= set(FLEET_VARIANT_NAMES)


def test_amnesia_forgets_votes_keeps_the_promise_and_mutes_a_voter() -> None:
    state = run(SAFE, *VOTED, "send_1a(b2)", "join(r0,b2)")
    assert state.replica(0).durable == Durable(2, frozenset({(1, "a")}))
    after = amnesia(state, SAFE, 0)
    assert after is not None
    r0 = after.replica(0)
    assert r0.durable == Durable(2)  # votes forgotten, the HSM's promise kept
    assert r0.mute
    # Its 2b stays in the network (it still counts for "chosen").
    assert Accepted(0, 1, "a") in after.network
    # Mute for the slot for ever: no 1b, no 2b, whatever comes.
    ready = run(SAFE, *VOTED, "send_1a(b2)", "join(r0,b2)", "send_1a(b3)")
    muted = amnesia(ready, SAFE, 0)
    assert muted is not None
    assert apply(muted, SAFE, Action("join", replica=0, ballot=3)) is None
    assert apply(muted, SAFE, Action("vote", replica=0, ballot=1, value="a")) is None
    again = amnesia(muted, SAFE, 0)  # unbounded: any number of times
    assert again is not None
    assert again.replica(0).mute


def test_amnesia_of_a_replica_that_never_voted_loses_nothing() -> None:
    state = run(SAFE, *VOTED)
    after = amnesia(state, SAFE, 1)  # r1 promised b1 but never voted
    assert after is not None
    assert not after.replica(1).mute
    assert after.replica(1).durable == state.replica(1).durable
    voted = apply(after, SAFE, Action("vote", replica=1, ballot=1, value="a"))
    assert voted is not None
    assert Accepted(1, 1, "a") in voted.network


def test_amnesia_is_unbounded_in_the_replicas_it_hits() -> None:
    state = run(SAFE, *VOTED, "vote(r1,b1,a)")
    for r in SAFE.replicas:
        after = amnesia(state, SAFE, r)
        assert after is not None
        state = after
    assert [state.replica(r).mute for r in SAFE.replicas] == [True, True, False]
    assert all(not state.replica(r).durable.votes for r in SAFE.replicas)


def test_without_the_mute_rule_the_forgetful_replica_reports_no_vote() -> None:
    config = ConsensusConfig(3, 2, mute_rule=False)
    state = run(config, *VOTED, "amnesia(r0)", "send_1a(b2)", "join(r0,b2)")
    assert Promise(0, 2, None) in state.network  # it voted a at b1, and says it did not


def test_the_safe_model_detects_every_rollback() -> None:
    state = run(SAFE, *VOTED)
    assert SAFE.rollback_limit == 0
    assert rollback(state, SAFE, 0, Durable()) is None
    for name in ("rollback", "edit_promise", "edit_vote", "delete_vote"):
        assert not any(a.name == name for a in ground_actions(state, SAFE, (1, 2), ("a",)))
    assert edit_promise(state, SAFE, 0, 0) is None
    assert delete_vote(state, SAFE, 0, 1, "a") is None


@pytest.mark.parametrize("variant", ["rollback-undetected", "rollback-beyond-budget"])
def test_undetected_rollback_has_no_amnesia(variant: str) -> None:
    config = ConsensusConfig(3, 2, variant)
    state = run(config, *VOTED)
    assert amnesia(state, config, 0) is None
    back = rollback(state, config, 0, Durable())
    assert back is not None
    assert back.replica(0).durable == Durable()
    assert not back.replica(0).mute


def test_rollback_undetected_has_no_budget() -> None:
    config = ConsensusConfig(3, 2, "rollback-undetected")
    state = run(config, *VOTED, "vote(r1,b1,a)")
    for _ in range(2):  # every replica, more than once
        for r in config.replicas:
            after = rollback(state, config, r, Durable())
            assert after is not None
            state = after
    assert state.rolled_back == frozenset(config.replicas)
    beyond = ConsensusConfig(3, 2, "rollback-beyond-budget")
    assert beyond.rollback_limit == 1
    once = rollback(run(beyond, *VOTED), beyond, 0, Durable())
    assert once is not None
    assert rollback(once, beyond, 1, Durable()) is None


def test_unauthenticated_ballots_edits() -> None:
    config = ConsensusConfig(3, 2, "unauthenticated-ballots")
    state = run(config, *VOTED)
    moved = edit_vote(state, config, 0, 1, "a", 3)
    assert moved is not None
    assert moved.replica(0).durable.votes == frozenset({(3, "a")})
    assert edit_vote(state, config, 0, 1, "b", 3) is None  # no such vote
    assert edit_vote(state, config, 0, 1, "a", 1) is None  # not a change
    lowered = edit_promise(state, config, 0, 0)
    assert lowered is not None
    assert lowered.replica(0).durable.promised == 0
    deleted = delete_vote(state, config, 0, 1, "a")
    assert deleted is not None
    assert deleted.replica(0).durable.votes == frozenset()
    # A whole-store rollback is still detected: amnesia, with the mute rule.
    forgot = amnesia(state, config, 0)
    assert forgot is not None
    assert forgot.replica(0).mute
    assert rollback(state, config, 0, Durable()) is None
    label = Action("edit_vote", replica=0, ballot=1, value="a", to=3).label
    assert label == "edit_vote(r0,b1,a,to=b3)"


def test_safe_model_with_amnesia_explored_to_depth_8() -> None:
    """Breadth first, every action including amnesia: no two values chosen."""
    found = explore(SAFE, ballots=(1, 2), values=("a", "b"), max_depth=8)
    assert not found.violated
    assert found.depth == 8
