"""``vaultbench coalitions``: the coalition table and I1 ``no-single-party-decrypts``.

The command is called through ``vaultbench.coalitions.main`` (its own parser with the
``coalitions`` subcommand), so these tests do not depend on how ``vaultbench.cli`` wires
it. Most checks read the ``--json`` document, whose content is the table printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from model.flows import NON_HSM_PARTIES, Scenario, build
from vaultbench.coalitions import (
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VIOLATED,
    main,
    parse_secret,
    parse_threshold,
)

ROOT = Path(__file__).resolve().parent.parent


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["coalitions", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code, out, _ = _run([*argv, "--json"], capsys)
    document: dict[str, Any] = json.loads(out)
    return code, document


def _minimal(scenario: dict[str, Any], secret: str) -> list[frozenset[str]]:
    for row in scenario["secrets"]:
        if row["name"] == secret:
            return [frozenset(m["coalition"]) for m in row["minimal"]]
    raise AssertionError(f"no secret {secret!r} in {scenario['description']}")


# ------------------------------------------------------------------------- defaults


def test_defaults_pass_i1_in_both_modes_and_say_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run([], capsys)
    assert code == EXIT_OK, out + err
    assert "password, ota mode, log-only witness, client attestation on" in out
    assert "password, pinned mode" in out
    assert out.count("I1 no-single-party-decrypts: PASS") == 2
    assert "FAIL" not in out
    assert "I1 no-single-party-decrypts holds in all 2 scenarios" in out
    assert "{hsm*}" in out  # HSM parties are marked


def test_defaults_no_single_non_hsm_party_learns_anything_and_hsm_alone_learns_r_and_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, document = _json([], capsys)
    assert code == EXIT_OK
    assert document["ok"] is True
    assert [s["mode"] for s in document["scenarios"]] == ["ota", "pinned"]
    for scenario in document["scenarios"]:
        assert scenario["i1"] == {"ok": True, "leaks": []}
        assert "device" not in scenario["parties"]
        for row in scenario["secrets"]:
            for minimal in row["minimal"]:
                coalition = minimal["coalition"]
                if len(coalition) == 1:
                    assert coalition[0] not in NON_HSM_PARTIES, (row["name"], coalition)
                    assert minimal["hsm"] is True
        assert frozenset({"hsm"}) in _minimal(scenario, "root key")
        assert frozenset({"hsm"}) in _minimal(scenario, "password")
        assert scenario["single_party_learners"]["hsm"] == ["root key", "password"]
        assert set(scenario["single_party_learners"]) <= set(scenario["hsm_parties"])


def test_pinned_mode_no_coalition_without_an_hsm_learns_the_root_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, document = _json(["--mode", "pinned", "--method", "all"], capsys)
    assert code == EXIT_OK
    for scenario in document["scenarios"]:
        hsms = set(scenario["hsm_parties"])
        for coalition in _minimal(scenario, "root key"):
            assert coalition & hsms, (scenario["description"], sorted(coalition))


def test_ota_with_attestation_needs_operator_and_vendor_together(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, document = _json(["--mode", "ota"], capsys)
    assert code == EXIT_OK
    (scenario,) = document["scenarios"]
    assert frozenset({"operator", "vendor"}) in _minimal(scenario, "root key")


def test_passkey_hsm_holds_the_server_share_but_nobody_learns_the_root_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, document = _json(["--method", "passkey"], capsys)
    assert code == EXIT_OK
    for scenario in document["scenarios"]:
        assert _minimal(scenario, "root key") == []
        assert frozenset({"hsm"}) in _minimal(scenario, "server share")


def test_include_device_adds_the_device_as_a_learner(capsys: pytest.CaptureFixture[str]) -> None:
    code, document = _json(["--mode", "pinned", "--include-device"], capsys)
    assert code == EXIT_OK
    (scenario,) = document["scenarios"]
    assert scenario["excluded"] == []
    assert frozenset({"device"}) in _minimal(scenario, "root key")
    assert scenario["coalitions_closed"] == 2 ** len(scenario["parties"]) - 1


# ------------------------------------------------------------------ unsafe settings


def test_no_client_attestation_variant_lets_the_operator_alone_learn_the_root_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--variant", "no-client-attestation", "--mode", "ota", "--witness-policy", "log-only"]
    code, out, _ = _run([*argv, "--derivations"], capsys)
    assert code == EXIT_VIOLATED
    assert "I1 no-single-party-decrypts: FAIL — {operator} learns the root key" in out
    assert "{operator} learns the root key:" in out
    assert "client-accepts-fleet" in out  # the trace goes through the rogue fleet
    code, document = _json(argv, capsys)
    assert code == EXIT_VIOLATED
    (scenario,) = document["scenarios"]
    assert frozenset({"operator"}) in _minimal(scenario, "root key")
    assert {"party": "operator", "secret": "root key"} in scenario["i1"]["leaks"]


def test_no_client_attestation_flag_matches_the_variant_and_pinned_mode_still_holds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, document = _json(["--no-client-attestation"], capsys)
    assert code == EXIT_VIOLATED
    ota, pinned = document["scenarios"]
    assert ota["client_attestation"] is False
    assert frozenset({"operator"}) in _minimal(ota, "root key")
    assert pinned["i1"]["ok"] is True


def test_vetting_witness_prevents_the_operator_alone_even_without_attestation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--mode", "ota", "--witness-policy", "vetting", "--no-client-attestation"]
    code, document = _json(argv, capsys)
    assert code == EXIT_OK
    (scenario,) = document["scenarios"]
    assert frozenset({"operator"}) not in _minimal(scenario, "root key")


def test_threshold_2_of_3_no_single_datacenter_learns_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, document = _json(["--threshold", "2/3"], capsys)
    assert code == EXIT_OK
    for scenario in document["scenarios"]:
        assert scenario["threshold"] == [2, 3]
        assert scenario["hsm_parties"] == ["dc1", "dc2", "dc3"]
        assert scenario["single_party_learners"] == {}
        for secret in ("root key", "password"):
            dcs = [c for c in _minimal(scenario, secret) if c <= {"dc1", "dc2", "dc3"}]
            assert sorted(sorted(c) for c in dcs) == [
                ["dc1", "dc2"],
                ["dc1", "dc3"],
                ["dc2", "dc3"],
            ]


def test_root_key_in_header_lets_storage_alone_learn_the_root_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(["--variant", "root-key-in-header", "--derivations"], capsys)
    assert code == EXIT_VIOLATED
    assert "{storage} learns the root key and the backup" in out
    code, document = _json(["--variant", "root-key-in-header"], capsys)
    assert code == EXIT_VIOLATED
    for scenario in document["scenarios"]:
        assert frozenset({"storage"}) in _minimal(scenario, "root key")


@pytest.mark.parametrize(
    ("variant", "party", "secret"),
    [
        ("password-to-relay", "operator", "password"),
        ("pin-only-key", "storage", "password"),
        ("root-key-in-header", "storage", "root key"),
    ],
)
def test_each_leaking_variant_exits_1_with_its_single_party(
    variant: str, party: str, secret: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = _json(["--variant", variant, "--mode", "pinned"], capsys)
    assert code == EXIT_VIOLATED
    (scenario,) = document["scenarios"]
    assert {"party": party, "secret": secret} in scenario["i1"]["leaks"]


def test_secret_filter_shows_one_secret_but_judges_i1_on_all(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(["--variant", "pin-only-key", "--secret", "backup"], capsys)
    assert code == EXIT_VIOLATED
    assert "backup [I1]" in out
    assert "root key [I1]" not in out
    code, document = _json(["--secret", "root-key", "--mode", "ota"], capsys)
    assert [row["name"] for row in document["scenarios"][0]["secrets"]] == ["root key"]


def test_flows_print_every_item_with_its_observers_and_the_oracles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(["--flows", "--mode", "ota"], capsys)
    assert code == EXIT_OK
    system = build(Scenario())
    for item in system.items:
        assert item.label in out
        assert str(item.term) in out
    for rule in system.oracles:
        assert f"{rule.name}: {rule.head}" in out
    assert "minimal coalitions" not in out  # the flows replace the table
    assert "I1 no-single-party-decrypts: PASS" in out


def test_json_flows_match_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, document = _json(["--method", "passkey", "--mode", "pinned"], capsys)
    assert code == EXIT_OK
    (scenario,) = document["scenarios"]
    system = build(Scenario(method="passkey", mode="pinned"))
    assert [(i["label"], i["term"], set(i["observers"])) for i in scenario["items"]] == [
        (item.label, str(item.term), set(item.observers)) for item in system.items
    ]
    assert [o["name"] for o in scenario["oracles"]] == [rule.name for rule in system.oracles]


# ----------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "argv",
    [
        ["--threshold", "2-3"],
        ["--threshold", "2/3/4"],
        ["--threshold", " 2/3"],
        ["--threshold", "0/3"],
        ["--threshold", "3/2"],
        ["--threshold", "2/6"],
        ["--threshold", "-1/3"],
        ["--threshold", "2/3", "--method", "passkey"],
        ["--method", "pin"],
        ["--mode", "both"],
        ["--witness-policy", "strict"],
        ["--variant", "no-destroy"],
        ["--secret", "fleet key"],
        ["--secret", "password", "--method", "passkey"],
        ["--trace"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(argv, capsys)
    assert code == EXIT_USAGE
    assert out == ""
    assert "error" in err


def test_argument_types_are_strict() -> None:
    assert parse_threshold("2/3") == (2, 3)
    assert parse_threshold("5/5") == (5, 5)
    assert parse_secret("PRF-output") == "PRF output"
    assert parse_secret("Root_Key") == "root key"


# ---------------------------------------------------------------------- the document


def test_json_parses_and_holds_every_scenario_with_derivations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, document = _json(["--method", "all"], capsys)
    assert code == EXIT_OK
    assert document["invariant"] == "I1"
    assert document["name"] == "no-single-party-decrypts"
    scenarios = document["scenarios"]
    assert [(s["method"], s["mode"]) for s in scenarios] == [
        (method, mode)
        for method in ("key64", "recovery-code", "password", "passkey")
        for mode in ("ota", "pinned")
    ]
    for scenario in scenarios:
        for row in scenario["secrets"]:
            for minimal in row["minimal"]:
                steps = minimal["derivation"]
                assert steps, (scenario["description"], row["name"])
                assert steps[-1]["fact"] == row["term"]
                assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
                known: set[str] = set()
                for step in steps:  # well founded: premises come first
                    assert set(step["from"]) <= known, step
                    known.add(step["fact"])


def test_json_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--variant", "no-client-attestation", "--json"]
    first = _run(argv, capsys)
    second = _run(argv, capsys)
    assert first == second
    assert first[0] == EXIT_VIOLATED


def test_output_does_not_depend_on_the_hash_seed() -> None:
    """The closures are computed from sorted observations: another process with another
    ``PYTHONHASHSEED`` prints the same bytes, derivations included."""
    script = (
        "import sys; from vaultbench.coalitions import main; "
        "main(['coalitions', '--threshold', '2/3', '--derivations']); "
        "sys.exit(main(['coalitions', '--derivations', '--no-client-attestation']))"
    )
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == EXIT_VIOLATED, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]


def test_check_includes_i1_for_every_method_and_mode() -> None:
    from vaultbench.cli import run_check

    outcome = run_check(None, 10, 1, 10, 1, part="knowledge")
    rows = [row for row in outcome.rows if row.invariant.startswith("I1")]
    assert len(rows) == 8
    assert all(row.result == "PASS" for row in rows)
    assert outcome.ok


@pytest.mark.parametrize(
    ("variant", "party"),
    [
        ("password-to-relay", "operator"),
        ("root-key-in-header", "storage"),
        ("pin-only-key", "storage"),
        ("no-client-attestation", "operator"),
    ],
)
def test_check_fails_i1_on_each_knowledge_variant_with_a_derivation(
    variant: str, party: str
) -> None:
    from vaultbench.cli import run_check

    outcome = run_check(variant, 10, 1, 10, 1, part="knowledge")
    failed = [row for row in outcome.rows if row.result == "FAIL"]
    assert [row.obligation.split(" alone")[0] for row in failed] == [party]
    assert any(f"{party} learns the root key" in text for text in outcome.counterexamples)
