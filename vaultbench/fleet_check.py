"""vaultbench.fleet_check: the fleet's part of ``vaultbench check``.

Adds rows to a ``CheckOutcome`` for:

- I2 ``quorum-safety``, parametric: the Paxos core in EPR (``proofs.paxos_i2``), each
  verification condition checked to stay in the decidable fragment;
- I2 for the configured fleet: any two quorums of q among n replicas share a replica that
  was never rolled back (``proofs.quorum``);
- I3 ``attempt-limit`` under consensus and I6 ``durability``, parametric obligations and
  bounded model checking (``proofs.fleet_vault``);
- a short simulation campaign (``impl.sim``) and a seeded walk of the fleet against the
  single-copy model (``vaultbench.fleet_conformance``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from model.consensus import CONSENSUS_VARIANTS as _MODEL_CONSENSUS_VARIANTS
from model.fleet import ALL_FLEET_VARIANT_NAMES

if TYPE_CHECKING:
    from proofs.paxos_i2 import I2Report
    from proofs.report import BmcResult, Obligation, Reachability
    from vaultbench.cli import CheckOutcome

#: Variants that break consensus itself (I2); the others break the vault above it. The
#: disk adversary's (issue 14) are here: ``rollback-undetected`` and
#: ``unauthenticated-ballots`` run ``proofs.paxos_i2``'s obligations and BMC, as
#: ``rollback-beyond-budget`` (now their bounded case) does.
CONSENSUS_VARIANTS: tuple[str, ...] = _MODEL_CONSENSUS_VARIANTS


def _obligations(outcome: CheckOutcome, invariant: str, obligations: list[Obligation]) -> None:
    from vaultbench.cli import Row

    for obligation in obligations:
        outcome.rows.append(Row(invariant, obligation.name, obligation.status, obligation.seconds))
        if obligation.status != "PASS" and obligation.counterexample is not None:
            outcome.counterexamples.append(
                f"{invariant}: {obligation.name} fails (not inductive):\n"
                + obligation.counterexample.render()
            )


def _bmc(outcome: CheckOutcome, invariant: str, result: BmcResult) -> None:
    from vaultbench.cli import Row

    detail = f"shortest counterexample: {result.depth} steps" if result.violated else ""
    outcome.rows.append(
        Row(
            invariant,
            f"BMC depth <= {result.max_depth}",
            "FAIL" if result.violated else "PASS",
            result.seconds,
            detail,
        )
    )
    if result.trace is not None:
        outcome.counterexamples.append(
            f"{invariant}: shortest counterexample (BMC, depth {result.depth}):\n"
            + result.trace.render()
        )


def _sanity(outcome: CheckOutcome, invariant: str, queries: list[Reachability]) -> None:
    from vaultbench.cli import Row

    for query in queries:
        result = "REACHABLE" if query.reachable else "UNREACHABLE"
        detail = "" if query.reachable else "vacuous model?"
        outcome.rows.append(Row(invariant, f"sanity: {query.name}", result, query.seconds, detail))


def check_i2(outcome: CheckOutcome, variant: str | None) -> None:
    """I2 parametric: the Paxos core in EPR, with the decidable-fragment check."""
    from proofs.paxos_i2 import check_i2 as prove_i2

    consensus_variant = variant if variant in CONSENSUS_VARIANTS else None
    report = prove_i2(consensus_variant)
    _i2_rows(outcome, report)


def _i2_rows(outcome: CheckOutcome, report: I2Report) -> None:
    from vaultbench.cli import Row

    invariant = "I2 quorum-safety"
    fragments = report.fragments
    inside = sum(f.ok for f in fragments)
    outcome.rows.append(
        Row(
            invariant,
            f"decidable fragment: {inside}/{len(fragments)} VCs in EPR",
            "PASS" if inside == len(fragments) else "FAIL",
            0.0,
            "quantifier alternation graph acyclic, no function symbols",
        )
    )
    for fragment in fragments:
        if not fragment.ok:
            outcome.counterexamples.append(fragment.render())
    _obligations(outcome, invariant, report.obligations)
    _bmc(outcome, invariant, report.bmc)
    _sanity(outcome, invariant, report.sanity)


def check_fleet_proofs(outcome: CheckOutcome, variant: str | None) -> None:
    """I3 under consensus and I6: parametric obligations, BMC, sanity."""
    from proofs.fleet_vault import I3_PROPERTY, I6_PROPERTY, check_fleet

    # The catalogue's fleet variants, and the channel's (``replayable-guess``, also a
    # vault variant), which the fleet machine states too.
    # ``rollback-undetected`` and ``unauthenticated-ballots`` are in the catalogue
    # (model.variants), so they reach ``check_fleet`` here: the fleet machine states their
    # disk actions (I3/I6); I2 for them is ``check_i2`` above (proofs.paxos_i2).
    fleet_variant = variant if variant in ALL_FLEET_VARIANT_NAMES else None
    report = check_fleet(fleet_variant)
    _obligations(outcome, "I3+I6 (fleet)", report.obligations)
    names = {"I3": f"{I3_PROPERTY} (fleet)", "I6": I6_PROPERTY}
    for key, result in report.bmc.items():
        _bmc(outcome, names[key], result)
    _sanity(outcome, "I3+I6 (fleet)", report.sanity)


def check_quorum_config(
    outcome: CheckOutcome,
    replicas: int,
    quorum: int,
    beyond_budget: bool = False,
    undetected: bool = False,
) -> None:
    """I2 for the configured fleet: the lemma for all sizes, then this n and q.

    The safe fleet detects a rolled-back or edited store (``docs/disk.rst``), so its
    quorums need only intersect (``r = 0``). Without detection the operator's rolled-back
    replicas count against the intersection: one more than the old budget under
    ``beyond_budget`` (``rollback-beyond-budget``), every replica under ``undetected``
    (``rollback-undetected``: the operator owns every disk)."""
    from proofs.quorum import check_quorums, parametric_lemma, rollback_budget
    from vaultbench.cli import Row

    _obligations(outcome, "I2 quorum-safety", parametric_lemma())
    if undetected:
        budget = replicas
        label = f"quorums q={quorum} of n={replicas}, rollback undetected on r={budget}"
    elif beyond_budget:
        budget = rollback_budget(replicas, quorum) + 1
        label = f"quorums q={quorum} of n={replicas}, rollback undetected on r={budget}"
    else:
        budget = 0
        label = f"quorums q={quorum} of n={replicas} intersect; rollbacks detected"
    report = check_quorums(replicas, quorum, budget)
    outcome.rows.append(Row("I2 quorum-safety", label, report.status, report.seconds, ""))
    if not report.holds:
        outcome.counterexamples.append(
            f"I2 quorum-safety: two quorums of {quorum} among {replicas} meet only in "
            f"rolled-back replicas: {report.counterexample}"
        )


def check_simulation(
    outcome: CheckOutcome,
    variant: str | None,
    seed: int,
    seeds: int,
    steps: int,
    *,
    replicas: int = 5,
    quorum: int = 0,
    max_attempts: int = 10,
) -> None:
    """A short campaign: ``seeds`` seeds of ``steps`` events with every fault, on a fleet
    of ``replicas`` with quorums of ``quorum`` (0: the majority) and the attempt limit."""
    from impl.sim.campaign import FAULTS, SimConfig, iter_campaign
    from vaultbench.cli import Row

    if variant == "minority-quorum":
        quorum = replicas // 2
    configs = [
        SimConfig(
            seed=s,
            steps=steps,
            replicas=replicas,
            faults=frozenset(FAULTS),
            max_attempts=max_attempts,
            variant=variant,
            quorum=quorum,
        )
        for s in range(seed, seed + seeds)
    ]
    started = time.perf_counter()
    for result, _ in iter_campaign(configs):
        label = f"simulation (seed {result.config.seed}, {steps} events, all faults)"
        if (replicas, quorum) != (5, 0):  # every fault still; the fleet in place of it
            q = result.config.consensus().q
            label = f"simulation (seed {result.config.seed}, {steps} events, n={replicas} q={q})"
        elapsed, started = time.perf_counter() - started, time.perf_counter()
        if result.ok:
            outcome.rows.append(Row("I2+I3+I6 sim", label, "PASS", elapsed))
            continue
        first = result.violations[0]
        name = {"I2": "I2 quorum-safety", "I3": "I3 attempt-limit", "I6": "I6 durability"}
        outcome.rows.append(
            Row(name[first.invariant], label, "FAIL", elapsed, f"at event {first.event}")
        )
        outcome.counterexamples.append(f"simulation, seed {result.config.seed}: {first}")
        outcome.reproduce.append(result.reproducer)
        return  # one reproducer is enough


def check_fleet_walk(
    outcome: CheckOutcome,
    variant: str | None,
    seed: int,
    steps: int,
    max_attempts: int,
    *,
    replicas: int = 5,
    quorum: int = 0,
) -> None:
    """A seeded walk of requests and faults: the fleet against the single-copy model."""
    from vaultbench.cli import Row
    from vaultbench.fleet_conformance import run_fleet_walk

    if variant == "minority-quorum":
        quorum = replicas // 2
    started = time.perf_counter()
    ran, failure, log = run_fleet_walk(
        seed, steps, variant=variant, max_attempts=max_attempts, replicas=replicas, quorum=quorum
    )
    elapsed = time.perf_counter() - started
    label = f"fleet walk (seed {seed}, {steps} steps)"
    if (replicas, quorum) != (5, 0):
        label = f"fleet walk (seed {seed}, {steps} steps, n={replicas} q={quorum})"
    if failure is None:
        outcome.rows.append(Row("linearizability", label, "PASS", elapsed))
        return
    outcome.rows.append(Row(failure.invariant, label, "FAIL", elapsed, f"at step {ran}"))
    last = "\n".join(f"  {line}" for line in log[-12:])
    outcome.counterexamples.append(
        f"fleet walk (seed {seed}) failed at step {ran}: {failure}\nlast operations:\n{last}"
    )
