"""``vaultbench mutants``: every unsafe variant against every detector (vaultbench.mutants).

One quick matrix over four variants of four layers (the vault, the fleet, the migration
rule, the client's leaks) is computed once; the tests read it. The command line is run
in process through ``vaultbench.mutants.main`` on the cheapest selections.
"""

from __future__ import annotations

import json

import pytest

from impl.bundle import IMPL_BUNDLE_VARIANTS
from impl.client import LEAK_VARIANTS
from model.budget import BUDGET_VARIANT_NAMES
from model.bundles import BUNDLE_COMBINATIONS, BUNDLE_VARIANT_NAMES
from model.flows import KNOWLEDGE_VARIANTS
from model.variants import FLEET_VARIANT_NAMES
from model.vault import VARIANTS
from vaultbench.mutants import (
    ALL_VARIANTS,
    ATTACKED_VARIANTS,
    DETECTORS,
    EXIT_ESCAPED,
    EXIT_OK,
    EXIT_USAGE,
    QUICK,
    Finding,
    Matrix,
    Row,
    document,
    main,
    render,
    run_matrix,
)

VARIANTS_HERE = (
    "no-destroy",
    "answer-before-chosen",
    "migrate-on-server-request",
    "root-key-in-header",
)
#: The fleet's proofs are left out to keep this fast (they take seconds each).
DETECTORS_HERE = ("vault-i3", "budget-i5", "knowledge-i1", "walk", "sim", "rotation", "attack")


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    return run_matrix(VARIANTS_HERE, DETECTORS_HERE, QUICK, jobs=1)


def _row(matrix: Matrix, variant: str) -> Row:
    return next(r for r in matrix.rows if r.variant == variant)


def test_a_proof_and_a_run_catch_each_layer(matrix: Matrix) -> None:
    no_destroy = _row(matrix, "no-destroy")
    assert no_destroy.findings["vault-i3"].caught
    assert no_destroy.findings["vault-i3"].trace == 11  # the BMC's shortest, limit 10
    assert no_destroy.findings["walk"].caught
    walk = no_destroy.findings["walk"]
    assert walk.trace == 12  # shrunk from step 31: a registration, 11 wrong guesses
    assert no_destroy.independent

    fleet = _row(matrix, "answer-before-chosen")
    assert fleet.findings["sim"].caught
    assert fleet.findings["sim"].trace == 47  # the event of the first I6 violation
    assert "I6" in fleet.findings["sim"].evidence

    migrate = _row(matrix, "migrate-on-server-request")
    assert migrate.findings["budget-i5"].caught
    assert migrate.findings["budget-i5"].trace == 5
    assert migrate.findings["rotation"].caught
    assert migrate.caught_by == ["budget-i5", "rotation"]

    leak = _row(matrix, "root-key-in-header")
    assert leak.findings["knowledge-i1"].caught
    assert leak.findings["attack"].caught
    assert "storage provider alone decrypts" in leak.findings["attack"].evidence
    for row in matrix.rows:
        assert row.status == "caught"
        assert all(f.seconds >= 0 for f in row.findings.values())


def test_the_safe_design_is_caught_by_nothing(matrix: Matrix) -> None:
    safe = matrix.safe
    assert safe.variant is None
    assert set(safe.findings) == set(DETECTORS_HERE)  # every detector ran on it
    for name, finding in safe.findings.items():
        assert finding.result in ("missed", "proved"), (name, finding)
        assert not finding.caught
    # The proofs prove the safe design; the runs pass on it.
    assert {n for n, f in safe.findings.items() if f.result == "proved"} == {
        "vault-i3",
        "budget-i5",
        "knowledge-i1",
    }
    assert safe.status == "ok"
    assert matrix.ok


def test_a_detector_that_cannot_express_a_variant_is_na(matrix: Matrix) -> None:
    assert _row(matrix, "no-destroy").findings["budget-i5"].result == "n/a"
    assert _row(matrix, "root-key-in-header").findings["walk"].result == "n/a"
    assert _row(matrix, "migrate-on-server-request").findings["sim"].result == "n/a"
    assert _row(matrix, "answer-before-chosen").findings["vault-i3"].result == "n/a"


def test_the_text_has_the_matrix_and_a_verdict_line_per_variant(matrix: Matrix) -> None:
    text = render(matrix)
    lines = text.splitlines()
    safe_row = next(line for line in lines if line.startswith("(safe design) "))  # the matrix
    assert safe_row.split()[2:] == ["-", *["ok"] * len(DETECTORS_HERE)]
    summary = lines[lines.index("summary:") + 1 :]
    assert any("no detector flags it" in line for line in summary)
    for variant in VARIANTS_HERE:
        verdict = next(line for line in summary if line.startswith(variant + " "))
        assert "caught by " in verdict
    assert "0 escaped" in text


def test_the_json_document(matrix: Matrix) -> None:
    doc = json.loads(json.dumps(document(matrix)))
    assert doc["ok"] is True
    assert doc["budget"]["name"] == "quick"
    assert [d["name"] for d in doc["detectors"]] == list(DETECTORS_HERE)
    assert {d["kind"] for d in doc["detectors"]} == {"proof", "run"}
    assert doc["safe"]["status"] == "ok"
    assert doc["safe"]["caught_by"] == []
    assert [v["variant"] for v in doc["variants"]] == list(VARIANTS_HERE)
    for key in ("escaped", "equivalent", "fewer_than_two", "not_independent"):
        assert isinstance(doc[key], list)
    first = doc["variants"][0]
    assert first["layer"] == "vault"
    assert first["independent"] is True
    assert first["detectors"] == first["proofs"] + first["runs"] == len(first["caught_by"])
    cell = first["findings"]["vault-i3"]
    assert set(cell) == {"result", "caught", "seconds", "trace", "evidence"}
    assert cell["result"] == "caught"
    assert cell["trace"] == 11
    assert first["findings"]["budget-i5"]["result"] == "n/a"


def test_every_variant_is_catalogued_and_has_a_proof() -> None:
    expected = {
        *VARIANTS,
        *FLEET_VARIANT_NAMES,
        *BUNDLE_VARIANT_NAMES,
        *BUNDLE_COMBINATIONS,
        *BUDGET_VARIANT_NAMES,
        *KNOWLEDGE_VARIANTS,
        *LEAK_VARIANTS,
    }
    assert set(ALL_VARIANTS) == expected
    assert len(ALL_VARIANTS) == len(expected)
    no_run = []
    for variant in ALL_VARIANTS:
        kinds = {d.kind for d in DETECTORS if d.applies(variant)}
        assert "proof" in kinds, variant
        if "run" not in kinds:
            no_run.append(variant)
    # Every bundle variant, and every combination, has a client switch in impl.bundle
    # (ClientTrust.variant, or client_attestation): every variant has a run.
    assert no_run == []
    for variant in (*IMPL_BUNDLE_VARIANTS, *BUNDLE_COMBINATIONS):
        assert any(d.name == "bundle-attack" and d.applies(variant) for d in DETECTORS)


def test_the_bundle_attack_catches_each_client_variant_and_passes_the_safe_one() -> None:
    matrix = run_matrix(ATTACKED_VARIANTS, ["bundle-attack"], QUICK, jobs=1)
    safe = matrix.safe.findings["bundle-attack"]
    assert safe.result == "missed"
    assert "refuse all 6 attacks" in safe.evidence
    steps = {row.variant: row.findings["bundle-attack"].trace for row in matrix.rows}
    assert steps == {
        "accept-one-signature": 4,
        "no-epoch-check": 2,
        "no-file-epoch-check": 3,
        "no-digest-check": 3,
        "skip-config-check": 3,
        "countersign-file-not-signature+no-file-epoch-check": 3,
    }
    for row in matrix.rows:
        finding = row.findings["bundle-attack"]
        assert finding.caught, finding
        assert "client attestation on" in finding.evidence
    assert matrix.ok


def test_the_command_prints_json_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["mutants", "--quick", "--jobs", "1", "--json"]
    argv += ["--variant", "root-key-in-header", "pin-only-key"]
    assert main(argv) == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    # Only the detectors that can express a chosen variant, by default.
    assert [d["name"] for d in doc["detectors"]] == ["knowledge-i1", "attack"]
    pin = doc["variants"][1]
    assert pin["variant"] == "pin-only-key"
    assert pin["caught_by"] == ["knowledge-i1", "attack"]
    assert pin["findings"]["attack"]["trace"] == 13  # the user's PIN is 13th in the dictionary


def test_a_variant_no_selected_detector_catches_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["mutants", "--quick", "--jobs", "1", "--variant", "root-key-in-header"]
    assert main([*argv, "--detector", "walk"]) == EXIT_ESCAPED
    out = capsys.readouterr().out
    assert "caught by 0 detectors" in out
    assert "ESCAPED: root-key-in-header" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--variant", "no-such-variant"],
        ["--detector", "no-such-detector"],
        ["--jobs", "0"],
        ["--seed", "-1"],
        ["--variant"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mutants", *argv]) == EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


def test_the_verdicts_of_a_row() -> None:
    def row(variant: str | None, *results: str) -> Row:
        out = Row(variant)
        for name, result in zip(("vault-i3", "walk"), results, strict=True):
            out.findings[name] = Finding(variant, name, result)  # type: ignore[arg-type]
        return out

    ok = row(None, "proved", "missed")
    flagged = row(None, "proved", "caught")
    assert ok.status == "ok"
    assert flagged.status == "flagged"
    assert row("no-destroy", "caught", "caught").independent
    assert not row("no-destroy", "caught", "missed").independent
    # Caught by nothing, but a proof shows it harmless: an equivalent mutant.
    assert row("no-destroy", "proved", "missed").status == "equivalent"
    assert row("no-destroy", "n/a", "missed").status == "escaped"
    caught = row("no-destroy", "caught", "missed")
    assert Matrix(QUICK, [], ok, [caught]).ok
    assert not Matrix(QUICK, [], flagged, [caught]).ok  # a detector that flags the safe design
    assert not Matrix(QUICK, [], ok, [row("no-destroy", "n/a", "missed")]).ok


def test_two_processes_find_what_one_finds() -> None:
    variants, detectors = ["root-key-in-header", "pin-only-key"], ["attack"]
    one = run_matrix(variants, detectors, QUICK, jobs=1)
    two = run_matrix(variants, detectors, QUICK, jobs=2)

    def strip(m: Matrix) -> list[tuple[object, ...]]:
        return [
            (r.variant, n, f.result, f.trace, f.evidence)
            for r in (m.safe, *m.rows)
            for n, f in r.findings.items()
        ]

    assert strip(one) == strip(two)
