"""The command line as a user meets it: exit codes, tables, JSON, counterexamples, demos."""

from __future__ import annotations

import json

import pytest

from model.vault import VARIANTS
from vaultbench.cli import EXIT_OK, EXIT_USAGE, EXIT_VIOLATED, main


def test_check_passes_on_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--walks", "1", "--steps", "80"]) == EXIT_OK
    out = capsys.readouterr().out
    for obligation in ("IndInit", "IndNext[guess_wrong]", "IndProp", "BMC"):
        assert obligation in out
    assert "FAIL" not in out
    assert "all invariants hold" in out


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_check_variant_exits_1_with_shortest_trace(
    variant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--variant", variant, "--walks", "1", "--steps", "60"]) == EXIT_VIOLATED
    out = capsys.readouterr().out
    assert "shortest counterexample (BMC, depth 11)" in out
    assert "I3 attempt-limit" in out
    assert "VIOLATED" in out


def test_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--json", "--variant", "no-destroy", "--walks", "1"]) == EXIT_VIOLATED
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
    assert document["variant"] == "no-destroy"
    assert any(row["result"] == "FAIL" for row in document["rows"])
    assert document["counterexamples"]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["check", "--variant", "nonsense"],
        ["check", "--steps", "0"],
        ["check", "--seed", "-1"],
        ["check", "--max-attempts", "ten"],
        ["demo"],
        ["demo", "--method", "pin-on-a-postit"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["key64", "recovery-code", "password", "passkey"])
def test_demo_recovers_the_original_bytes(method: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--method", method, "--fast-kdf"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "identical to the original" in out
    if method == "password":
        assert "attempt 10: WrongGuess(remaining=0)" in out
        assert "attempt 11: Destroyed" in out


def test_demo_with_post_quantum_session(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--method", "passkey", "--kem", "mlkem768-x25519"]) == EXIT_OK
    assert "identical to the original" in capsys.readouterr().out
