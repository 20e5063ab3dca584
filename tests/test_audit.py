"""Deployment evidence and the auditor: deploy, audit, tamper, see it caught."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from impl.audit import AuditReport, audit
from impl.ceremony import deploy
from impl.errors import AuditLogError
from impl.witness import VettingRefusedError
from vaultbench.cli import main

#: Files an operator publishes per epoch, and the witness's log.
EVIDENCE = [
    "epoch-1/fleet-keys.json",
    "epoch-1/proof.json",
    "epoch-1/attestations.json",
    "epoch-1/ceremony.json",
    "epoch-1/inclusion.json",
    "epoch-2/proof.json",
    "epoch-2/inclusion.json",
    "log/entries.jsonl",
    "log/checkpoint",
]
#: Positions tried per file (every position under VAULTBENCH_PROFILE=thorough).
SAMPLE = 24


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("evidence")
    deploy(directory, epoch=1, seed=3)
    deploy(directory, epoch=2, seed=3)
    return directory


def _failures(report: AuditReport) -> list[str]:
    return [f"{s.name} {s.file} {s.detail}" for s in report.steps if not s.ok]


def test_deploy_then_audit_passes_every_step(published: Path) -> None:
    report = audit(published)
    assert report.ok, _failures(report)
    names = {step.name for step in report.steps}
    assert {
        "artifact digest",
        "witness signature",
        "counter-signature",
        "log inclusion",
        "log consistency",
        "attestation",
        "majority",
        "ceremony record",
        "log completeness",
    } <= names
    assert any("session key rotated" in line for line in report.diff)


def _positions(size: int, seed: str) -> list[int]:
    if os.environ.get("VAULTBENCH_PROFILE") == "thorough":
        return list(range(size))
    chooser = random.Random(seed)
    return sorted({0, size - 1, *chooser.sample(range(size), min(SAMPLE, size))})


@pytest.mark.parametrize("name", EVIDENCE)
def test_any_changed_byte_fails_the_audit_naming_the_file(published: Path, name: str) -> None:
    path = published / name
    original = path.read_bytes()
    try:
        for position in _positions(len(original), name):
            for replacement in {original[position] ^ 0x01, original[position] ^ 0x20}:
                changed = bytearray(original)
                changed[position] = replacement
                path.write_bytes(bytes(changed))
                report = audit(published)
                assert not report.ok, f"{name}: byte {position} changed, audit passed"
                failing = [s for s in report.steps if not s.ok]
                assert any(
                    s.file == name or name in s.detail or s.file.startswith("log/") for s in failing
                ), (name, position, _failures(report))
    finally:
        path.write_bytes(original)
    assert audit(published).ok


def test_dropped_or_reordered_log_entries_fail_naming_the_log(published: Path) -> None:
    path = published / "log" / "entries.jsonl"
    original = path.read_bytes()
    lines = original.splitlines(keepends=True)
    try:
        for variant in (lines[1:], lines[:1], [lines[1], lines[0]], lines + lines[-1:]):
            path.write_bytes(b"".join(variant))
            report = audit(published)
            assert not report.ok
            assert not report.steps[1].ok  # the log step
            assert report.steps[1].file.startswith("log/")
    finally:
        path.write_bytes(original)


def test_an_unpublished_fleet_in_the_log_fails_completeness(
    published: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(published, copy)
    shutil.rmtree(copy / "epoch-2")
    report = audit(copy)
    (completeness,) = [s for s in report.steps if s.name == "log completeness"]
    assert not completeness.ok
    assert "nobody published" in completeness.detail


def test_a_changed_trust_anchor_fails_the_audit(published: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(published, copy)
    other = tmp_path / "other"
    deploy(other, epoch=1, seed=99)
    shutil.copy(other / "trust.json", copy / "trust.json")
    assert not audit(copy).ok


def test_deploy_refuses_an_epoch_that_is_not_next(tmp_path: Path) -> None:
    deploy(tmp_path, epoch=1)
    with pytest.raises(AuditLogError):
        deploy(tmp_path, epoch=3)
    assert not (tmp_path / "epoch-3").exists()
    assert audit(tmp_path).ok


def test_cli_deploy_and_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x"
    assert main(["deploy", "--out", str(out)]) == 0
    assert main(["deploy", "--out", str(out)]) == 0
    assert main(["audit", str(out)]) == 0
    assert "every step PASS" in capsys.readouterr().out
    proof = out / "epoch-2" / "proof.json"
    proof.write_bytes(proof.read_bytes().replace(b'"epoch":2', b'"epoch":1'))
    assert main(["audit", str(out)]) == 1
    assert "FAILED: proof (epoch 2, epoch-2/proof.json)" in capsys.readouterr().out
    assert main(["audit", str(tmp_path / "missing")]) == 2


def test_a_vetting_witness_signs_attested_fleets_and_refuses_bad_firmware(tmp_path: Path) -> None:
    deploy(tmp_path, epoch=1, policy="vetting")
    assert audit(tmp_path).ok
    with pytest.raises(VettingRefusedError, match="rejected"):
        deploy(tmp_path, epoch=2, policy="vetting", firmware=bytes(32))
    assert not (tmp_path / "epoch-2").exists()  # nothing signed, nothing published
    # A log-only witness signs the same unvetted fleet: only clients' checks stop it.
    deploy(tmp_path, epoch=2, policy="log-only", firmware=bytes(32))
    report = audit(tmp_path)
    (attestation,) = [s for s in report.steps if s.name == "attestation" and s.epoch == 2]
    assert not attestation.ok
