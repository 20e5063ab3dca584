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
    for fleet_row in (
        "I2 quorum-safety",
        "decidable fragment: 9/9 VCs in EPR",
        "quorums q=3 of n=5",
        "I3 attempt-limit (fleet)",
        "I6 durability",
        "simulation (seed 1",
        "fleet walk (seed 1",
        "I4 bundle-authenticity",
        "I7 fleet-transparency",
        "I5 guess-budget",
    ):
        assert fleet_row in out
    assert "FAIL" not in out
    assert "all invariants hold" in out


#: Each vault variant's shortest BMC counterexample at the default limit, and an action
#: its trace must show.
SHORTEST = {
    "check-before-charge": (11, "crash"),
    "no-destroy": (11, "guess_wrong"),
    "off-by-one-limit": (11, "guess_wrong"),
    "replayable-registration": (3, "replay(#1)"),
    "replayable-guess": (2, "replay(#2)"),
    "superseding-challenge": (2, "inject_begin"),
}


def test_every_vault_variant_has_an_expected_trace() -> None:
    assert set(SHORTEST) == set(VARIANTS)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_check_variant_exits_1_with_shortest_trace(
    variant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["check", "--part", "vault", "--variant", variant, "--walks", "1", "--steps", "60"]
    assert main(argv) == EXIT_VIOLATED
    out = capsys.readouterr().out
    # The limit's variants need its eleven steps; the channel's are short, and their
    # traces name the operator's action (docs/channel.rst).
    depth, action = SHORTEST[variant]
    assert f"shortest counterexample (BMC, depth {depth})" in out
    assert action in out
    assert "I3 attempt-limit" in out
    assert "VIOLATED" in out


@pytest.mark.parametrize(
    ("variant", "fails"),
    [("answer-before-chosen", "I6 durability"), ("minority-quorum", "I2 quorum-safety")],
)
def test_check_fleet_variant_exits_1_naming_the_invariant(
    variant: str, fails: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["check", "--part", "fleet", "--variant", variant, "--sim-seeds", "1"]
    assert main([*argv, "--fleet-walk-steps", "10"]) == EXIT_VIOLATED
    out = capsys.readouterr().out
    assert "shortest counterexample" in out
    assert fails in out.splitlines()[-1]


def test_no_client_attestation_fails_i4_with_the_operator_alone_and_keeps_i7(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", "--part", "keys", "--variant", "no-client-attestation"]) == 1
    rows = capsys.readouterr().out.splitlines()
    i4 = [r for r in rows if r.startswith("I4 bundle-authenticity") and "FAIL" in r]
    assert len(i4) == 1
    assert "corrupted: operator" in i4[0]
    assert not [r for r in rows if r.startswith("I7") and "FAIL" in r]
    assert rows[-1] == "VIOLATED: I4 bundle-authenticity"


def test_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["check", "--part", "vault", "--json", "--variant", "no-destroy", "--walks", "1"]
    assert main(argv) == EXIT_VIOLATED
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


def test_fleet_demo_tells_the_outage_story(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--fleet", "--fast-kdf"]) == 0
    out = capsys.readouterr().out
    assert "FleetUnavailable" in out
    assert "held after each of the" in out


def test_simulate_exits_one_on_a_variant_and_prints_a_reproducer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["simulate", "--seed", "1", "--steps", "400", "--variant", "answer-before-chosen"])
    out = capsys.readouterr().out
    assert code == 1
    assert "reproduce with: vaultbench simulate --seed 1" in out


def test_simulate_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--seeds", "9..3"]) == 2
    assert main(["simulate", "--faults", "crash,meteor"]) == 2
    assert main(["simulate", "--quorum", "2"]) == 2  # not a majority: usage error
    err = capsys.readouterr().err
    assert "not a majority" in err
