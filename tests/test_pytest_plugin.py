"""The pytest plugin (``vaultbench.pytest_plugin``): proof obligations as pytest items.

Each test runs pytest inside pytest (``pytester``, in process) on a scratch directory
with one ordinary test, and checks what the plugin adds: one item per obligation with a
stable node id, passing on the safe design, failing with the counterexample under an
unsafe variant, skipped where the invariant is not claimed, and nothing at all unless the
command line or the ini asks for it. Only the single-copy vault's part (about a second of
Z3) and once the fleet keys' part run; the plugin keeps results for the process, so the
repeated runs cost collection only.

``-p vaultbench`` loads the plugin by its entry point name, so the tests also hold under
``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET

import pytest

from model.vault import VaultConfig
from proofs.vault_i3 import check_i3
from vaultbench import pytest_plugin

pytest_plugins = ["pytester"]

PLUGIN = ("-p", "vaultbench")
VAULT = "--vaultbench-part=vault"
I3 = "vaultbench::I3 attempt-limit::"


@functools.cache
def vault_rows() -> int:
    """How many rows the vault's proofs make: obligations, one BMC, the sanity queries."""
    report = check_i3(VaultConfig())
    return len(report.obligations) + 1 + len(report.sanity)


def obligation_ids(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("vaultbench::")]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    return pytester


def test_collects_one_item_per_obligation(project: pytest.Pytester) -> None:
    result = project.runpytest(*PLUGIN, VAULT, "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    ids = obligation_ids(result)
    assert len(ids) == len(set(ids)) == vault_rows()
    for name in (
        "IndInit",
        "IndNext[guess_wrong]",
        "IndNext[replay]",
        "IndProp",
        "BMC depth <= 14",
        "sanity: record destroyed",
    ):
        assert I3 + name in ids
    # The ordinary tests are still there, before the obligations.
    assert result.outlines[0] == "test_plain.py::test_plain"


def test_obligations_pass_on_the_defaults(project: pytest.Pytester) -> None:
    report = project.path / "report.xml"
    result = project.runpytest(*PLUGIN, VAULT, f"--junitxml={report}")
    result.assert_outcomes(passed=1 + vault_rows())
    cases = ET.parse(report).getroot().iter("testcase")
    names = {(case.get("classname"), case.get("name")) for case in cases}
    assert ("vaultbench.I3 attempt-limit", "IndNext[guess_wrong]") in names


def test_a_variant_fails_with_the_counterexample(project: pytest.Pytester) -> None:
    result = project.runpytest(*PLUGIN, VAULT, "--vaultbench-variant=no-destroy")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # Every IndNext fails and BMC finds the 11th wrong guess; IndInit, IndProp, the
    # sanity queries (no destroyed record, as intended) and the ordinary test pass.
    result.assert_outcomes(failed=5, passed=1 + vault_rows() - 5)
    text = result.stdout.str()
    assert f"FAILED {I3}IndNext[guess_wrong] - " in text
    assert f"FAILED {I3}BMC depth <= 14 - " in text
    assert "IndNext[guess_wrong] fails (the invariant is not inductive):" in text
    assert "counterexample to I3 attempt-limit, 11 step(s), limit 10:" in text
    assert "checked on variant no-destroy" in text
    assert "reproduce with: vaultbench check --part vault --variant no-destroy" in text


def test_last_failed_reruns_exactly_the_failed_obligations(project: pytest.Pytester) -> None:
    # Node ids like "IndNext[guess_wrong]" must match the ids pytest's cache stores.
    args = (*PLUGIN, VAULT, "--vaultbench-variant=no-destroy")
    project.runpytest(*args).assert_outcomes(failed=5, passed=1 + vault_rows() - 5)
    rerun = project.runpytest(*args, "--lf")
    rerun.assert_outcomes(failed=5, deselected=1 + vault_rows() - 5)


def test_not_claimed_is_skipped(project: pytest.Pytester) -> None:
    result = project.runpytest(*PLUGIN, "--vaultbench-part=keys", "-rs")
    # I4/I7's obligations, and I5's fourteen (the user's four actions and the operator's
    # eight on the channel, IndInit, IndProp)
    result.assert_outcomes(passed=1 + 22, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED *bundle_i4_i7.py*: claimed only with an honest witness"])


def test_a_part_that_raises_is_one_failing_item(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(part: str, variant: str | None) -> list[object]:
        raise RuntimeError("solver went away")

    monkeypatch.setattr(pytest_plugin, "_RESULTS", {})
    monkeypatch.setattr(pytest_plugin, "_sources", broken)
    result = project.runpytest(*PLUGIN, VAULT)
    result.assert_outcomes(failed=1, passed=1)
    text = result.stdout.str()
    assert "FAILED vaultbench::vault part::proofs" in text
    assert "RuntimeError: solver went away" in text


def test_nothing_without_the_option(project: pytest.Pytester) -> None:
    collected = project.runpytest(*PLUGIN, "--collect-only", "-q")
    assert obligation_ids(collected) == []
    project.runpytest(*PLUGIN).assert_outcomes(passed=1)


def test_the_ini_enables_the_default_selection(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nvaultbench_obligations = true\nvaultbench_parts = vault\n")
    plain = project.runpytest(*PLUGIN, "--collect-only", "-q")
    assert len(obligation_ids(plain)) == vault_rows()
    # Given paths, a run collects only those, unless --vaultbench asks for the proofs too.
    given = project.runpytest(*PLUGIN, "--collect-only", "-q", "test_plain.py")
    assert obligation_ids(given) == []
    asked = project.runpytest(*PLUGIN, "--collect-only", "-q", "--vaultbench", "test_plain.py")
    assert len(obligation_ids(asked)) == vault_rows()
    off = project.runpytest(*PLUGIN, "--collect-only", "-q", "--no-vaultbench")
    assert obligation_ids(off) == []


def test_the_marker_deselects_them(project: pytest.Pytester) -> None:
    result = project.runpytest(*PLUGIN, VAULT, "-m", "not vaultbench", "--strict-markers")
    result.assert_outcomes(passed=1, deselected=vault_rows())


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--vaultbench-part=vualt", "unknown part vualt"),
        ("--vaultbench-variant=no-such-variant", "unknown variant 'no-such-variant'"),
    ],
)
def test_unknown_names_are_usage_errors(
    project: pytest.Pytester, option: str, message: str
) -> None:
    result = project.runpytest(*PLUGIN, option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
