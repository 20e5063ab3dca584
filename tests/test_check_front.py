"""``vaultbench check`` as the one command a CI job runs: JUnit XML, the saved
counterexamples, ``--config`` files and ``--thorough``. Kept fast: one part at a time
(``--part vault`` or ``--part knowledge``), short walks."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from model.flows import METHODS, MODES
from vaultbench.checkconfig import (
    CAMPAIGN_DEFAULTS,
    THOROUGH,
    CheckConfig,
    ConfigError,
    load_config,
    parse_config,
    resolve_campaign,
)
from vaultbench.cli import EXIT_OK, EXIT_USAGE, EXIT_VIOLATED, Row, build_parser, main, run_check
from vaultbench.junit import junit_xml

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "fleet.toml"
#: A quick vault-only check.
VAULT = ["check", "--part", "vault", "--walks", "1", "--steps", "40"]


def _cases(root: ET.Element) -> list[ET.Element]:
    return [case for suite in root.iter("testsuite") for case in suite.iter("testcase")]


def test_junit_has_no_failure_when_every_invariant_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "check.xml"
    assert main([*VAULT, "--junit", str(report)]) == EXIT_OK
    assert "all invariants hold" in capsys.readouterr().out  # the table is still printed
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    assert root.get("failures") == "0"
    assert [suite.get("name") for suite in root.iter("testsuite")] == ["I3 attempt-limit"]
    cases = _cases(root)
    # 11 obligations, the BMC, 7 sanity queries, one walk
    assert len(cases) == int(root.get("tests", "-1")) == 20
    assert not root.findall(".//failure")
    assert all(float(case.get("time", "-1")) >= 0 for case in cases)


def test_junit_fails_exactly_the_failing_rows_of_a_variant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "check.xml"
    argv = [*VAULT, "--variant", "no-destroy", "--junit", str(report), "--json"]
    assert main(argv) == EXIT_VIOLATED
    document = json.loads(capsys.readouterr().out)  # --json still prints its document
    failing = {row["obligation"] for row in document["rows"] if row["result"] == "FAIL"}
    assert failing

    root = ET.parse(report).getroot()
    failed = {case.get("name") for case in _cases(root) if case.find("failure") is not None}
    assert failed == failing
    assert root.get("failures") == str(len(failing))
    bmc = next(case for case in _cases(root) if str(case.get("name")).startswith("BMC"))
    failure = bmc.find("failure")
    assert failure is not None
    assert failure.get("type") == "FAIL"
    assert "shortest counterexample (BMC, depth 11)" in (failure.text or "")


def test_junit_is_deterministic_apart_from_times() -> None:
    def shape(root: ET.Element, texts: bool) -> bytes:
        for element in root.iter():
            element.attrib.pop("time", None)
            if not texts:
                element.text = None
        return ET.tostring(root)

    first = run_check("no-destroy", 10, 1, 30, 1, part="vault")
    second = run_check("no-destroy", 10, 1, 30, 1, part="vault")
    # The same outcome gives the same bytes: no timestamps, host names or run ids.
    assert shape(junit_xml(first, "no-destroy"), True) == shape(
        junit_xml(first, "no-destroy"), True
    )
    # Two runs give the same suites, cases and failures (Z3 may pick another state for an
    # induction counterexample, so the failure texts are left out here).
    assert shape(junit_xml(first, "no-destroy"), False) == shape(
        junit_xml(second, "no-destroy"), False
    )


def test_junit_groups_rows_by_invariant_and_skips_not_applicable_rows() -> None:
    outcome = run_check(None, 10, 1, 10, 1, part="knowledge")
    outcome.rows.append(Row("I7 fleet-transparency", "corrupted: witness", "N/A", 0.5, "honest"))
    outcome.rows.append(Row("I7 fleet-transparency", "made up", "FAIL", 0.25, "broken <&>"))
    outcome.counterexamples.append("the trace\x00 of the made-up row")
    root = ET.fromstring(ET.tostring(junit_xml(outcome)))
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert list(suites) == ["I1 no-single-party-decrypts", "I7 fleet-transparency"]
    assert suites["I1 no-single-party-decrypts"].get("tests") == str(4 * len(MODES))
    seven = suites["I7 fleet-transparency"]
    assert (seven.get("tests"), seven.get("failures"), seven.get("skipped")) == ("2", "1", "1")
    failure = seven.find("testcase/failure")
    assert failure is not None
    assert failure.get("message") == "broken <&>"
    assert failure.text == "the trace\ufffd of the made-up row"


def test_counterexamples_saved_empty_when_everything_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "counterexamples.json"
    argv = ["check", "--part", "knowledge", "--save-counterexamples", str(saved)]
    assert main(argv) == EXIT_OK
    capsys.readouterr()
    document = json.loads(saved.read_text(encoding="utf-8"))
    assert document == {"variant": None, "ok": True, "counterexamples": []}


def test_counterexamples_saved_for_a_variant_with_their_reproducer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "counterexamples.json"
    # 60 steps: the walk of seed 1 meets the variant at step 52
    argv = [*VAULT, "--steps", "60", "--variant", "no-destroy"]
    argv += ["--save-counterexamples", str(saved)]
    assert main(argv) == EXIT_VIOLATED
    out = capsys.readouterr().out
    document = json.loads(saved.read_text(encoding="utf-8"))
    assert document["ok"] is False
    assert document["variant"] == "no-destroy"
    found = document["counterexamples"]
    assert found
    for entry in found:
        assert set(entry) == {"invariant", "obligation", "result", "text", "reproduce"}
        assert entry["invariant"] == "I3 attempt-limit"
        assert entry["result"] == "FAIL"
        assert entry["text"] in out  # the same text the table printed
    walks = [entry for entry in found if entry["obligation"].startswith("conformance walk")]
    assert len(walks) == 1
    assert walks[0]["reproduce"].startswith("vaultbench check --variant no-destroy --seed 1")
    assert all(entry["reproduce"] is None for entry in found if entry not in walks)


def test_knowledge_variant_counterexamples_name_the_i1_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "cx.json"
    argv = ["check", "--part", "knowledge", "--variant", "password-to-relay"]
    assert main([*argv, "--save-counterexamples", str(saved)]) == EXIT_VIOLATED
    capsys.readouterr()
    found = json.loads(saved.read_text(encoding="utf-8"))["counterexamples"]
    assert found
    assert {entry["invariant"] for entry in found} == {"I1 no-single-party-decrypts"}
    assert all(entry["obligation"].endswith("alone, password, ota mode") for entry in found)


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.replicas == 7
    assert config.quorum == 5
    assert config.max_attempts == 5
    assert config.modes == MODES
    assert config.witness_policy == "log-only"
    assert config.client_attestation is True
    assert set(config.campaign) <= set(CAMPAIGN_DEFAULTS)


def test_example_config_changes_the_rows(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["check", "--config", str(EXAMPLE), "--part", "vault", "--walks", "1"]
    assert main([*argv, "--steps", "30", "--json"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    obligations = [row["obligation"] for row in document["rows"]]
    # max_attempts = 5 from the file: the BMC goes to 5 + 4; seed 7 from the file; the
    # walk's size from the command line, which wins over the file.
    assert "BMC depth <= 9" in obligations
    assert "conformance walk (seed 7, 30 steps)" in obligations
    assert document["max_attempts"] == 5
    assert document["config"]["replicas"] == 7


def test_config_max_attempts_changes_a_row_and_a_flag_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "limit.toml"
    config.write_text("[vault]\nmax_attempts = 3\n", encoding="utf-8")
    assert main([*VAULT, "--config", str(config)]) == EXIT_OK
    assert "BMC depth <= 7" in capsys.readouterr().out
    assert main([*VAULT, "--config", str(config), "--max-attempts", "4"]) == EXIT_OK
    assert "BMC depth <= 8" in capsys.readouterr().out


@pytest.fixture
def quorum_rows_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave out the fleet's slow proofs: only the quorum rows of ``--part fleet`` run."""
    from vaultbench import fleet_check

    def nothing(*args: object, **kwargs: object) -> None:
        return None

    monkeypatch.setattr(fleet_check, "check_i2", nothing)
    monkeypatch.setattr(fleet_check, "check_fleet_proofs", nothing)


@pytest.mark.usefixtures("quorum_rows_only")
@pytest.mark.parametrize(
    ("body", "variant", "row"),
    [
        (
            "[fleet]\nreplicas = 7\nquorum = 5\n",
            None,
            "quorums q=5 of n=7 intersect; rollbacks detected",
        ),
        ("[fleet]\nreplicas = 7\n", None, "quorums q=4 of n=7 intersect; rollbacks detected"),
        (
            "[fleet]\nreplicas = 7\n",
            "minority-quorum",
            "quorums q=3 of n=7 intersect; rollbacks detected",
        ),
        (
            "[fleet]\nreplicas = 7\n",
            "rollback-undetected",
            "quorums q=4 of n=7, rollback undetected on r=7",
        ),
        (
            "[fleet]\nreplicas = 7\n",
            "rollback-beyond-budget",
            "quorums q=4 of n=7, rollback undetected on r=1",
        ),
    ],
)
def test_config_fleet_sizes_the_quorum_row(
    body: str, variant: str | None, row: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(body, encoding="utf-8")
    argv = ["check", "--config", str(config), "--part", "fleet", "--json"]
    argv += ["--sim-seeds", "0", "--fleet-walk-steps", "0"]
    expected = EXIT_OK if variant is None else EXIT_VIOLATED
    assert main(argv + (["--variant", variant] if variant else [])) == expected
    rows = json.loads(capsys.readouterr().out)["rows"]
    quorum = [r for r in rows if r["obligation"].startswith("quorums")]
    assert [r["obligation"] for r in quorum] == [row]
    assert quorum[0]["result"] == ("PASS" if variant is None else "FAIL")


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("[fleet]\nquorum = 2\n", "fleet.quorum"),  # not a majority of 5
        ("[fleet]\nreplicas = 5\nquorum = 6\n", "fleet.quorum"),
        ("[fleet]\nreplicas = 2\n", "fleet.replicas"),
        ("[fleet]\nreplicas = 65\n", "fleet.replicas"),
        ("[fleet]\nreplicas = true\n", "fleet.replicas"),
        ('[vault]\nmax_attempts = "ten"\n', "vault.max_attempts"),
        ("[vault]\nmax_attempts = 0\n", "vault.max_attempts"),
        ("[vault]\nmax_attemps = 3\n", "vault.max_attemps"),
        ("[keys]\nmodes = []\n", "keys.modes"),
        ('[keys]\nmodes = ["ota", "carrier-pigeon"]\n', "keys.modes"),
        ('[keys]\nmodes = ["ota", "ota"]\n', "keys.modes"),
        ('[keys]\nwitness_policy = "trusting"\n', "keys.witness_policy"),
        ('[keys]\nclient_attestation = "yes"\n', "keys.client_attestation"),
        ('[knowledge]\nthreshold = "4/3"\n', "knowledge.threshold"),
        ('[knowledge]\nthreshold = "2/6"\n', "knowledge.threshold"),
        ("[knowledge]\nthreshold = 2\n", "knowledge.threshold"),
        ("[campaign]\nwalks = 0\n", "campaign.walks"),
        ("[campaign]\nseed = -1\n", "campaign.seed"),
        ("[campaign]\nsim_steps = 1.5\n", "campaign.sim_steps"),
        ("[campaign]\nthorough = true\n", "campaign.thorough"),
        ("[fleets]\nreplicas = 5\n", "fleets"),
        ("seed = 1\n", "seed"),
        ("fleet = 5\n", "fleet"),
    ],
)
def test_bad_config_exits_2_naming_the_key(
    body: str, key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert raised.value.key == key
    report = tmp_path / "never.xml"
    assert main([*VAULT, "--config", str(config), "--junit", str(report)]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing ran
    assert f"{config}: {key}:" in captured.err
    assert not report.exists()


@pytest.mark.parametrize(
    ("body", "says"),
    [("[vault\n", "not valid TOML"), (None, "no such file")],
)
def test_unreadable_config_exits_2(
    body: str | None, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    if body is not None:
        config.write_text(body, encoding="utf-8")
    assert main([*VAULT, "--config", str(config)]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert says in captured.err


def _rows(config: Path, part: str, capsys: pytest.CaptureFixture[str], *extra: str) -> Any:
    argv = ["check", "--config", str(config), "--part", part, "--json", *extra]
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)["rows"]


def test_config_keys_choose_the_i1_scenarios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "keys.toml"
    config.write_text(
        '[keys]\nmodes = ["pinned"]\nwitness_policy = "vetting"\nclient_attestation = false\n'
        '[knowledge]\nthreshold = "2/3"\n',
        encoding="utf-8",
    )
    loaded = load_config(config)
    assert loaded.modes == ("pinned",)
    assert loaded.threshold == (2, 3)
    code, rows = _rows(config, "knowledge", capsys)
    assert code == EXIT_OK
    labels = [row["obligation"] for row in rows]
    setting = "vetting witness, client attestation off, 2-of-3 datacenters"
    assert labels == [f"{m}, pinned mode, {setting}" for m in METHODS]


def test_client_attestation_off_with_a_log_only_witness_breaks_i1_and_i4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The setting of Lab 12: the operator alone can deploy a rogue fleet. The same file
    with a vetting witness passes: the witness checks what the client no longer does."""
    config = tmp_path / "keys.toml"
    config.write_text("[keys]\nclient_attestation = false\n", encoding="utf-8")
    code, rows = _rows(config, "knowledge", capsys)
    assert code == EXIT_VIOLATED
    failed = [row["obligation"] for row in rows if row["result"] == "FAIL"]
    assert failed == ["operator alone, password, ota mode, client attestation off"]
    code, rows = _rows(config, "keys", capsys, "--sim-seeds", "0")
    assert code == EXIT_VIOLATED
    failed = [(row["invariant"], row["obligation"]) for row in rows if row["result"] == "FAIL"]
    assert failed == [("I4 bundle-authenticity", "corrupted: operator")]
    config.write_text(
        '[keys]\nclient_attestation = false\nwitness_policy = "vetting"\n', encoding="utf-8"
    )
    assert _rows(config, "knowledge", capsys)[0] == EXIT_OK
    assert _rows(config, "keys", capsys)[0] == EXIT_OK


def test_config_fleet_reaches_the_simulation_and_the_fleet_walk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], quorum_rows_only: None
) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text("[fleet]\nreplicas = 7\nquorum = 5\n[vault]\nmax_attempts = 4\n")
    extra = ("--sim-seeds", "1", "--sim-steps", "60", "--fleet-walk-steps", "3")
    code, rows = _rows(config, "fleet", capsys, *extra)
    assert code == EXIT_OK
    labels = [row["obligation"] for row in rows]
    assert "simulation (seed 1, 60 events, n=7 q=5)" in labels
    assert "fleet walk (seed 1, 3 steps, n=7 q=5)" in labels


def test_report_into_a_missing_directory_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "check.xml"
    assert main([*VAULT, "--junit", str(missing)]) == EXIT_USAGE
    assert "no such directory" in capsys.readouterr().err


def test_thorough_parses_and_raises_every_campaign_size() -> None:
    args = build_parser().parse_args(["check", "--thorough", "--walks", "2"])
    assert args.thorough is True
    flags = {key: getattr(args, key) for key in (*CAMPAIGN_DEFAULTS, "max_attempts")}
    campaign = resolve_campaign(flags, CheckConfig(), thorough=True)
    assert campaign.walks == 2  # the explicit flag wins
    assert campaign.steps == THOROUGH["steps"] > CAMPAIGN_DEFAULTS["steps"]
    assert campaign.sim_seeds == THOROUGH["sim_seeds"] > CAMPAIGN_DEFAULTS["sim_seeds"]
    assert campaign.sim_steps == THOROUGH["sim_steps"] > CAMPAIGN_DEFAULTS["sim_steps"]
    assert campaign.fleet_walk_steps == THOROUGH["fleet_walk_steps"]
    assert campaign.seed == CAMPAIGN_DEFAULTS["seed"]
    plain = resolve_campaign(flags, CheckConfig(), thorough=False)
    assert plain.steps == CAMPAIGN_DEFAULTS["steps"]
    # --thorough never shortens what a file asks for.
    long = parse_config({"campaign": {"steps": 5000}})
    assert resolve_campaign({}, long, thorough=True).steps == 5000


def test_thorough_deepens_the_vault_bmc(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["check", "--part", "vault", "--thorough", "--walks", "1", "--steps", "20"]
    assert main([*argv, "--max-attempts", "2"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "thorough" in out.splitlines()[0]
    assert "BMC depth <= 7" in out  # 2 * 2 + 3, not 2 + 3


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    """``vaultbench check | head``: no traceback, the status of a pipe-killed command.
    The child writes into a pipe whose reading end is already closed (deterministic)."""
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "r, w = os.pipe(); os.close(r)\n"
        "sys.stdout = os.fdopen(w, 'w')\n"
        "sys.argv = ['vaultbench', 'check', '--part', 'knowledge']\n"
        "from vaultbench.cli import console_main\n"
        "code = console_main()\n"
        "sys.stderr.write(f'code={code}\\n')\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 141, done.stderr
    assert "code=141" in done.stderr
    assert "Traceback" not in done.stderr
