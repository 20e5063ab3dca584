"""vaultbench.bundle_check: the fleet keys' part of ``vaultbench check``.

Adds rows for I4 ``bundle-authenticity`` and I7 ``fleet-transparency`` (one row per
invariant and corrupted party, under the default setting or the variant's; the BMC's
shortest counterexample when one exists; the inductive obligations where none does) and
for I5 ``guess-budget`` (obligations and BMC), from ``proofs.bundle_i4_i7`` and
``proofs.guess_budget_i5``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from model.bundles import BUNDLE_VARIANT_NAMES, Policy

if TYPE_CHECKING:
    from vaultbench.cli import CheckOutcome

I5_VARIANT: Final = "migrate-on-server-request"
NAMES: Final = {"I4": "I4 bundle-authenticity", "I7": "I7 fleet-transparency"}


def check_bundle_proofs(
    outcome: CheckOutcome,
    variant: str | None,
    policy: Policy = "log-only",
    client_attestation: bool = True,
) -> None:
    """I4 and I7 for every corrupted party (none, operator, witness, vendor), with the
    witness's ``policy`` and ``client_attestation`` of the configuration."""
    from proofs.bundle_i4_i7 import check_bundles
    from vaultbench.cli import Row

    chosen = variant if variant in BUNDLE_VARIANT_NAMES else None
    report = check_bundles(chosen, policy, client_attestation)
    setting = report.row().split(" | ")[0]
    for party, result in report.parties.items():
        for key, name in NAMES.items():
            bmc = result.bmc[key]
            seconds = bmc.seconds + sum(o.seconds for o in result.obligations.get(key, []))
            label = f"corrupted: {party}"
            if not result.claimed(key):
                outcome.rows.append(
                    Row(name, label, "N/A", seconds, "claimed only with an honest witness")
                )
                continue
            if bmc.violated:
                outcome.rows.append(
                    Row(name, label, "FAIL", seconds, f"shortest counterexample: {bmc.depth} steps")
                )
                assert bmc.trace is not None
                outcome.counterexamples.append(
                    f"{name}, {setting}, corrupted {party}: shortest counterexample "
                    f"(BMC, depth {bmc.depth}):\n{bmc.trace.render()}"
                )
                continue
            proved = all(o.status == "PASS" for o in result.obligations.get(key, []))
            count = len(result.obligations.get(key, []))
            outcome.rows.append(
                Row(
                    name,
                    label,
                    "PASS" if proved else "FAIL",
                    seconds,
                    f"{count} inductive obligations; no trace up to depth {bmc.max_depth}",
                )
            )


def check_guess_budget(outcome: CheckOutcome, variant: str | None) -> None:
    """I5 across registrations and migrations: obligations and the BMC."""
    from model.budget import ALL_BUDGET_VARIANT_NAMES
    from proofs.guess_budget_i5 import check_i5
    from vaultbench.fleet_check import _bmc, _obligations

    # The migration variant, and the channel's (``replayable-registration``, also a vault
    # variant), which the budget machine states too.
    report = check_i5(variant if variant in ALL_BUDGET_VARIANT_NAMES else None)
    _obligations(outcome, "I5 guess-budget", report.obligations)
    _bmc(outcome, "I5 guess-budget", report.bmc)


def check_rotation(outcome: CheckOutcome, variant: str | None, seed: int) -> None:
    """I5 on the implementation: one simulated rotation, epoch 1 to 2, with faults."""
    from impl.sim.rotation import ROTATION_FAULTS, RotationConfig, run_rotation
    from vaultbench.cli import Row

    started = time.perf_counter()
    config = RotationConfig(
        seed=seed,
        faults=frozenset(ROTATION_FAULTS),
        variant=I5_VARIANT if variant == I5_VARIANT else None,
    )
    result = run_rotation(config)
    elapsed = time.perf_counter() - started
    label = f"rotation sim (seed {seed}, {config.steps} steps, epoch 1 to 2)"
    if result.ok:
        moved = result.stats["users on the newest epoch"]
        detail = f"{moved}/{config.users} records moved; no rollback accepted"
        outcome.rows.append(Row("I5 guess-budget", label, "PASS", elapsed, detail))
        return
    first = result.violations[0]
    invariant = (
        first.invariant if first.invariant.startswith("I5") else f"rotation {first.invariant}"
    )
    outcome.rows.append(Row(invariant, label, "FAIL", elapsed, f"at step {first.step}"))
    outcome.counterexamples.append(f"rotation, seed {seed}: {first}")
    outcome.reproduce.append(result.reproducer)
