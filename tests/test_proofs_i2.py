"""Tests of proofs.paxos_i2 and proofs.quorum: I2 ``quorum-safety``.

The parametric EPR proof on the safe fleet (with the operator's unbounded disk actions:
``amnesia`` and the rejoin rule), the decidable-fragment checker, each consensus variant's
failing obligation and pinned shortest trace (replayed on the Python model), the safe
fleet without the rejoin rule's mute (violated: the rule is necessary), the finite Z3
encoding of every action against model.consensus on concrete states, and the
configured-fleet quorum check against the closed form ``2q > n + r``."""

from __future__ import annotations

import json
import random
from functools import cache

import pytest
import z3

from model.consensus import (
    CONSENSUS_VARIANTS,
    Action,
    ConfigError,
    ConsensusConfig,
    ConsensusState,
    Durable,
    apply,
    explore,
    ground_actions,
    initial,
)
from model.consensus import check_i2 as model_check_i2
from proofs.paxos_i2 import (
    INSTANCES,
    INVARIANT,
    I2Report,
    Instance,
    Node,
    Quorum,
    check_all_i2,
    check_fragment,
    check_i2,
    durable_names,
    member,
    successors_fin,
    verification_conditions,
)
from proofs.quorum import (
    QuorumConfigError,
    check_quorums,
    crashes_tolerated,
    parametric_lemma,
    rollback_budget,
)
from proofs.report import State


@cache
def report(variant: str | None) -> I2Report:
    return check_i2(variant)


# ---------------------------------------------------------------------------------------
# (a) the safe fleet: every obligation passes, every VC is decidable, not vacuous


def test_safe_fleet_holds() -> None:
    result = report(None)
    names = [o.name for o in result.obligations]
    assert names == [
        "IndInit",
        "IndNext[send_1a]",
        "IndNext[join_round]",
        "IndNext[propose]",
        "IndNext[cast_vote]",
        "IndNext[crash]",
        "IndNext[restart]",
        "IndNext[amnesia]",
        "IndProp",
    ]
    assert all(o.status == "PASS" for o in result.obligations), result.render()
    assert all(f.ok for f in result.fragments), result.render()
    assert not result.bmc.violated
    assert result.bmc.depth == 10
    assert result.verdict == "holds"
    query, forgetting = result.sanity
    assert query.reachable
    assert query.witness is not None
    assert query.witness.length == 6  # 1a, two joins, propose, two votes
    # Not vacuous about the disk: a voter of the chosen value goes through amnesia.
    assert forgetting.reachable
    assert forgetting.witness is not None
    assert forgetting.witness.length == 7  # the same six steps and one amnesia
    assert sum(a.startswith("amnesia(") for a in forgetting.witness.actions) == 1
    assert any(forgetting.witness.states[-1][f"mute[r{i}]"] for i in range(3))
    text = result.render()
    assert "verdict: I2 quorum-safety holds" in text
    assert "decidable fragment: 9/9 VCs in EPR" in text
    assert "disk: detected tampering -> amnesia, unbounded" in text


def test_inv_has_the_amnesia_conjuncts() -> None:
    """``amnesia`` weakens "a node remembers its votes" into two conjuncts."""
    names = [name for name, _ in INVARIANT]
    assert "a stored vote was cast" in names
    assert "a node that is not mute remembers its votes" in names
    assert "a node remembers its votes" not in names


def test_alternation_graph_is_the_papers() -> None:
    """The stratification of Paxos Made EPR: round, value and quorum above node, round and
    value above quorum (in the IndNext VCs), nothing out of node."""
    edges = {edge for f in report(None).fragments for edge in f.graph}
    assert edges == {
        ("quorum", "node"),
        ("round", "node"),
        ("value", "node"),
    }


# ---------------------------------------------------------------------------------------
# (b) the decidable-fragment checker


def test_fragment_checker_names_a_cycle() -> None:
    x, x2 = z3.Consts("x x2", Node)
    y, y2 = z3.Consts("y y2", Quorum)
    formula = z3.And(
        z3.ForAll([x], z3.Exists([y], member(x, y))),
        z3.ForAll([y2], z3.Exists([x2], member(x2, y2))),
    )
    found = check_fragment("cyclic", formula)
    assert not found.ok
    assert found.cycle in (("node", "quorum", "node"), ("quorum", "node", "quorum"))
    assert "cycle: " in found.render()


def test_fragment_checker_counts_negated_quantifiers() -> None:
    """¬∃x ∀y is ∀x ∃y after pushing the negation in: an edge node -> quorum."""
    x = z3.Const("x", Node)
    y = z3.Const("y", Quorum)
    found = check_fragment("negated", z3.Not(z3.Exists([x], z3.ForAll([y], member(x, y)))))
    assert found.graph == (("node", "quorum"),)
    assert found.ok


def test_fragment_checker_refuses_functions_and_arithmetic() -> None:
    x = z3.Const("x", Node)
    f = z3.Function("f", Node, Node)
    q = z3.Const("q", Quorum)
    found = check_fragment("function", z3.ForAll([x], member(f(x), q)))
    assert not found.ok
    assert any("function symbol f" in t for t in found.offending)
    k = z3.Int("k")
    assert not check_fragment("arith", z3.And(k > 1, member(x, q))).ok


@pytest.mark.parametrize("variant", [None, *CONSENSUS_VARIANTS])
def test_every_vc_of_every_variant_is_decidable(variant: str | None) -> None:
    fragments = report(variant).fragments
    assert [f.name for f in fragments] == [name for name, _ in verification_conditions(variant)]
    assert all(f.ok for f in fragments), variant


# ---------------------------------------------------------------------------------------
# (c) the variants: obligations fail, the shortest trace is pinned and real

FAILING = {
    "minority-quorum": {"IndNext[propose]", "IndProp"},
    "forget-promise-on-restart": {"IndNext[restart]"},
    "rollback-beyond-budget": {"IndNext[rollback]"},
    "rollback-undetected": {"IndNext[rollback]"},
    "unauthenticated-ballots": {
        "IndNext[edit_promise]",
        "IndNext[edit_vote]",
        "IndNext[delete_vote]",
    },
}
#: The shortest violation on each variant's finite instance (n = 3, ballots 1..2). 13 is
#: also a lower bound for any one-fault run: two ballots, each a 1a, two 1b, a 2a and
#: two 2b, and the fault.
SHORTEST = {
    "minority-quorum": 8,
    "forget-promise-on-restart": 14,
    "rollback-beyond-budget": 13,
    "rollback-undetected": 13,
    "unauthenticated-ballots": 13,
}
EDITS = ("edit_promise(", "edit_vote(", "delete_vote(")


@pytest.mark.parametrize("variant", CONSENSUS_VARIANTS)
def test_variant_is_violated_with_shortest_trace(variant: str) -> None:
    result = report(variant)
    assert {o.name for o in result.obligations if o.status == "FAIL"} == FAILING[variant]
    assert result.verdict == "violated"
    trace = result.trace
    assert trace is not None
    assert trace.violated == "I2 quorum-safety"
    assert trace.length == SHORTEST[variant]
    last = trace.states[-1]
    chosen = {last[k] for k in last if k.startswith("chosen[")} - {0}
    assert chosen == {1, 2}
    assert "VIOLATED" in result.render()
    if variant == "forget-promise-on-restart":
        assert any(a.startswith("restart") for a in trace.actions)
    if variant in ("rollback-beyond-budget", "rollback-undetected"):
        assert sum(a.startswith("rollback") for a in trace.actions) == 1
        assert not any(a.startswith("amnesia") for a in trace.actions)
    if variant == "unauthenticated-ballots":
        assert sum(a.startswith(EDITS) for a in trace.actions) == 1
        assert not any(a.startswith("rollback") for a in trace.actions)
    failing = [o for o in result.obligations if o.status == "FAIL"]
    assert all(o.counterexample is not None for o in failing)
    # The BMC's run is a run of model.consensus that breaks I2 there too.
    final = replay(result.instance, trace.actions)
    assert model_check_i2(final, result.instance.config)


def replay(inst: Instance, labels: list[str]) -> ConsensusState:
    """Run the BMC's action labels on model.consensus; every step must be enabled."""
    config = inst.config
    state = initial(config)
    seen = [state]
    for label in labels:
        name, _, rest = label.partition("(")
        args = rest.rstrip(")").split(",")
        if name == "rollback":  # rollback(rK,to sJ): the image the replica had at step J
            replica, step = int(args[0][1:]), int(args[1][len("to s") :])
            action = Action(name, replica=replica, image=seen[step].replica(replica).durable)
        else:
            action = next(
                a
                for a in ground_actions(state, config, inst.ballot_range, inst.values)
                if a.label == label
            )
        after = apply(state, config, action)
        assert after is not None, f"{label} is disabled on the model"
        state = after
        seen.append(state)
    return state


def test_the_safe_fleet_without_the_mute_rule_is_violated() -> None:
    """The rejoin rule is necessary: with ``amnesia`` clearing the votes but the replica
    still answering in the slot, the proof fails at ``IndNext[amnesia]`` and the BMC finds
    a shortest run (pinned, 13) in which the forgetful replica reports no vote."""
    result = check_i2(None, mute_rule=False)
    assert result.verdict == "violated"
    failing = [o for o in result.obligations if o.status == "FAIL"]
    assert [o.name for o in failing] == ["IndNext[amnesia]"]
    assert failing[0].broken == ("a node that is not mute remembers its votes",)
    trace = result.trace
    assert trace is not None
    assert trace.length == 13
    assert sum(a.startswith("amnesia(") for a in trace.actions) == 1
    assert "WITHOUT the mute rule" in result.render()
    final = replay(result.instance, trace.actions)
    assert model_check_i2(final, result.instance.config)
    # The same run is not a run of the safe model: amnesia makes that replica mute.
    with pytest.raises(AssertionError, match="disabled on the model"):
        replay(INSTANCES[None], trace.actions)


def test_minority_trace_is_the_shortest_on_the_model_too() -> None:
    """The explicit-state BFS of model.consensus agrees with the BMC's depth."""
    found = explore(ConsensusConfig(3, 1, "minority-quorum"), max_depth=8)
    assert found.trace is not None
    assert len(found.trace) - 1 == SHORTEST["minority-quorum"]
    assert model_check_i2(found.trace[-1][1], ConsensusConfig(3, 1, "minority-quorum"))


def test_safe_model_explored_exhaustively_to_depth_7() -> None:
    found = explore(ConsensusConfig(3, 2), max_depth=7)
    assert not found.violated
    assert found.depth == 7


def test_which_conjuncts_break() -> None:
    broken = {
        o.name: set(o.broken)
        for v in CONSENSUS_VARIANTS
        for o in report(v).obligations
        if o.status == "FAIL" and o.name.startswith("IndNext")
    }
    assert "a promise is kept" in broken["IndNext[restart]"]
    assert "a node that is not mute remembers its votes" in broken["IndNext[rollback]"]
    assert "a promise is kept" in broken["IndNext[rollback]"]
    assert "a promise is kept" in broken["IndNext[edit_promise]"]
    assert "a stored vote was cast" in broken["IndNext[edit_vote]"]
    assert broken["IndNext[delete_vote]"] == {"a node that is not mute remembers its votes"}
    names = {name for name, _ in INVARIANT}
    assert all(b <= names for b in broken.values())


def test_report_json_round_trips() -> None:
    data = json.loads(json.dumps(report("minority-quorum").to_json()))
    assert data["verdict"] == "violated"
    assert data["bmc"]["trace"]["length"] == 8
    assert all(f["ok"] for f in data["fragments"])


def test_check_all_runs_each_variant_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from proofs import paxos_i2

    monkeypatch.setattr(paxos_i2, "check_i2", lambda v=None: report(v))
    assert [r.variant for r in check_all_i2()] == [None, *CONSENSUS_VARIANTS]
    # The real function is the one the CLI calls.
    assert check_all_i2.__module__ == "proofs.paxos_i2"


# ---------------------------------------------------------------------------------------
# (d) the finite encoding is the model, action by action


def concrete(inst: Instance, state: ConsensusState) -> State:
    """The finite instance's variables of a model state."""
    from model.consensus import Accept, Accepted, Prepare, Promise

    out: State = {name: (0 if is_int else False) for name, is_int in inst.variables()}
    for m in state.network:
        if isinstance(m, Prepare):
            out[f"one_a[b{m.ballot}]"] = True
        elif isinstance(m, Promise):
            report_ = "none" if m.vote is None else f"b{m.vote[0]}:{m.vote[1]}"
            out[f"one_b[r{m.sender},b{m.ballot},{report_}]"] = True
        elif isinstance(m, Accept):
            out[f"two_a[b{m.ballot},{m.value}]"] = True
        elif isinstance(m, Accepted):
            out[f"two_b[r{m.sender},b{m.ballot},{m.value}]"] = True
    for i, replica in enumerate(state.replicas):
        out[f"promised[r{i}]"] = replica.durable.promised
        for b, x in replica.durable.votes:
            out[f"voted[r{i},b{b},{x}]"] = True
        out[f"up[r{i}]"] = replica.up
        out[f"rolled[r{i}]"] = i in state.rolled_back
        out[f"mute[r{i}]"] = replica.mute
    return out


def image_state(inst: Instance, replica: int, image: Durable) -> State:
    """A finite state whose durable variables of ``replica`` are ``image``."""
    base = concrete(inst, initial(inst.config))
    base[f"promised[r{replica}]"] = image.promised
    for b, x in image.votes:
        base[f"voted[r{replica},b{b},{x}]"] = True
    return base


def random_states(config: ConsensusConfig, count: int, seed: int) -> list[ConsensusState]:
    """States reached by random walks of the model (ballots 1..2, values a, b)."""
    rng = random.Random(seed)
    out: list[ConsensusState] = []
    while len(out) < count:
        state = initial(config)
        for _ in range(rng.randrange(0, 14)):
            options = [
                s
                for a in ground_actions(state, config, (1, 2), ("a", "b"))
                if (s := apply(state, config, a)) is not None
            ]
            if not options:
                break
            state = rng.choice(options)
        out.append(state)
    return out


DISK_ACTIONS = ("amnesia", "rollback", "edit_promise", "edit_vote", "delete_vote")

CONFIGS = [
    ConsensusConfig(3, 2),
    ConsensusConfig(3, 1, "minority-quorum"),
    ConsensusConfig(3, 2, "forget-promise-on-restart"),
    ConsensusConfig(3, 2, "rollback-beyond-budget"),
    ConsensusConfig(3, 2, "rollback-undetected"),
    ConsensusConfig(3, 2, "unauthenticated-ballots"),
    ConsensusConfig(3, 2, mute_rule=False),
]


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: (c.variant or "safe") + ("" if c.mute_rule else "-no-mute")
)
def test_finite_actions_are_the_model(config: ConsensusConfig) -> None:
    inst = Instance.of(config, ballots=2)
    rng = random.Random(7)
    checked = 0
    for state in random_states(config, 5, seed=len(config.variant or "") + config.mute_rule):
        pre = concrete(inst, state)
        actions = list(ground_actions(state, config, (1, 2), ("a", "b")))
        disk = [a for a in actions if a.name in DISK_ACTIONS]  # every one of them
        for action in rng.sample(actions, min(16, len(actions))) + disk:
            expected = apply(state, config, action)
            image = None
            if action.name == "rollback" and action.replica is not None:
                assert action.image is not None
                image = image_state(inst, action.replica, action.image)
                action = Action("rollback", replica=action.replica)
            found = successors_fin(inst, action, pre, image)
            want = [] if expected is None else [concrete(inst, expected)]
            assert found == want, f"{action.label} from {state}"
            checked += 1
    assert checked >= 60


def test_rollback_budget_guard_matches_the_model() -> None:
    config = ConsensusConfig(3, 2, "rollback-beyond-budget")
    inst = Instance.of(config, ballots=2)
    state = initial(config)
    state = apply(state, config, Action("send_1a", ballot=1)) or state
    state = apply(state, config, Action("join", replica=0, ballot=1)) or state
    once = apply(state, config, Action("rollback", replica=0, image=Durable()))
    assert once is not None
    twice = apply(once, config, Action("rollback", replica=1, image=Durable()))
    assert twice is None  # a second distinct replica is beyond 1
    pre = concrete(inst, once)
    img = image_state(inst, 1, Durable())
    assert successors_fin(inst, Action("rollback", replica=1), pre, img) == []
    assert durable_names(inst, 0)[0] == "promised[r0]"


def test_instances_are_the_variants() -> None:
    for variant, inst in INSTANCES.items():
        assert inst.config.variant == variant


def test_model_refuses_minority_quorums() -> None:
    with pytest.raises(ConfigError, match="not a majority"):
        ConsensusConfig(4, 2)
    with pytest.raises(ConfigError, match=r"1\.\.n"):
        ConsensusConfig(3, 4)
    assert ConsensusConfig(4, 2, "minority-quorum").rollback_limit == 0
    # The safe fleet detects every rollback: no undetected one, whatever the budget.
    assert ConsensusConfig(5, 4).rollback_limit == 0
    assert ConsensusConfig(5, 4, "rollback-beyond-budget").rollback_limit == 3
    assert ConsensusConfig(5, 4, "rollback-undetected").rollback_limit is None


# ---------------------------------------------------------------------------------------
# (e) the configured fleet: quorum intersection beyond the rolled-back replicas


def test_quorum_check_is_the_closed_form() -> None:
    for n in range(1, 10):
        for q in range(1, n + 1):
            for r in range(4):
                result = check_quorums(n, q, r)
                assert result.holds == (2 * q > n + r), (n, q, r)
                if not result.holds:
                    assert len(result.quorum1) == len(result.quorum2) == q
                    common = set(result.quorum1) & set(result.quorum2)
                    assert common <= set(result.rolled_back)
                    assert len(result.rolled_back) <= r


def test_quorum_counterexample_names_replicas() -> None:
    result = check_quorums(4, 2)
    assert result.status == "FAIL"
    text = result.counterexample
    assert text is not None
    assert text.endswith("rolled back = {}")
    assert text.startswith("Q1 = {r")
    assert check_quorums(5, 3).counterexample is None


def test_rollback_budget_and_liveness() -> None:
    assert [rollback_budget(5, q) for q in (3, 4, 5)] == [0, 2, 4]
    assert [rollback_budget(3, q) for q in (2, 3)] == [0, 2]
    assert [crashes_tolerated(7, q) for q in (4, 5, 6, 7)] == [3, 2, 1, 0]
    for n in range(1, 10):
        for q in range(1, n + 1):
            budget = rollback_budget(n, q)
            if 2 * q > n:
                assert check_quorums(n, q, budget).holds
            assert not check_quorums(n, q, budget + 1).holds or 2 * q > n + budget + 1


def test_quorum_validation() -> None:
    with pytest.raises(QuorumConfigError, match=r"1\.\.n"):
        check_quorums(3, 0)
    with pytest.raises(QuorumConfigError):
        check_quorums(3, 2, -1)
    assert issubclass(QuorumConfigError, ValueError)


def test_parametric_lemma_passes() -> None:
    results = parametric_lemma()
    assert [o.name for o in results] == ["intersection > r", "bound is tight"]
    assert all(o.status == "PASS" for o in results)
