"""vaultbench.i1_check: the rows of ``vaultbench check`` for I1 ``no-single-party-decrypts``.

On the defaults (log-only witness, client attestation on, rotation included): one row
per protection method and fleet-key mode, PASS when Z3
(``proofs.i1_knowledge``) derives none of the I1 secrets for any single non-HSM party
(operator, storage, witness, vendor). A configuration (``check --config``) chooses the
modes, the witness's policy, client attestation and the t-of-n threshold design. Under a
knowledge variant (``password-to-relay``, ``root-key-in-header``, ``pin-only-key``,
``no-client-attestation``): the variant's scenario, one row per party, and the leaking
party's derivation as the counterexample.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from vaultbench.checkconfig import CheckConfig

if TYPE_CHECKING:
    from vaultbench.cli import CheckOutcome

I1_LABEL = "I1 no-single-party-decrypts"


def check_i1(outcome: CheckOutcome, variant: str | None, config: CheckConfig | None = None) -> None:
    """check_i1: add the I1 rows (see the module docstring). A knowledge variant runs its
    own scenario; ``config`` sets the scenarios of the safe design."""
    from proofs.i1_knowledge import VARIANT_SCENARIOS, check_i1_z3, default_scenarios
    from vaultbench.cli import Row

    if variant in VARIANT_SCENARIOS:
        report = check_i1_z3(VARIANT_SCENARIOS[variant])
        for obligation in report.obligations:
            label = f"{obligation.party} alone, password, ota mode"
            outcome.rows.append(
                Row(I1_LABEL, label, obligation.status, obligation.seconds, obligation.detail)
            )
            if obligation.status != "PASS" and obligation.counterexample:
                outcome.counterexamples.append(
                    f"{I1_LABEL}, {report.scenario.describe()}:\n{obligation.counterexample}"
                )
        return
    config = config or CheckConfig()
    setting = config.key_setting()
    scenarios = default_scenarios(
        config.modes, config.witness_policy, config.client_attestation, config.threshold
    )
    for scenario in scenarios:
        started = time.perf_counter()
        report = check_i1_z3(scenario)
        elapsed = time.perf_counter() - started
        parties = ", ".join(o.party for o in report.obligations)
        if report.holds:
            detail = f"no secret for any of {parties} alone"
            label = f"{scenario.method}, {scenario.mode} mode" + (f", {setting}" if setting else "")
            outcome.rows.append(Row(I1_LABEL, label, "PASS", elapsed, detail))
            continue
        for obligation in report.failed:
            outcome.rows.append(
                Row(
                    I1_LABEL,
                    f"{obligation.party} alone, {scenario.method}, {scenario.mode} mode"
                    + (f", {setting}" if setting else ""),
                    "FAIL",
                    obligation.seconds,
                    obligation.detail,
                )
            )
            outcome.counterexamples.append(f"{I1_LABEL}:\n{obligation.counterexample}")
