"""impl.audit: the auditor's verifier for published deployment evidence.

``audit(directory)`` checks an evidence directory (``impl.ceremony`` writes one) step by
step, the way Meta's published verifier checks its fleets and further, and returns every
step with its verdict and the file it read, so that a failure names both:

per directory
    ``trust``: ``trust.json`` parses (the keys and roots an auditor pins);
    ``log``: the witness's audit log loads and re-verifies (Plexi's rules, every entry's
    witness signature, the signed checkpoint over the recomputed Merkle root);
per epoch (``epoch-<e>/``)
    ``proof``: ``proof.json`` parses; ``artifact digest``: SHA-256 of
    ``fleet-keys.json`` equals the proof's digest; ``fleet-key file``: the file is
    canonical and its epoch and namespace are the proof's; ``witness signature`` over the
    statement; ``counter-signature``: the operator's, over the witness's signature bytes;
    ``log inclusion``: the statement is the log entry at the proven index, the inclusion
    proof leads to the root of the checkpoint recorded then, and that checkpoint is
    signed by the log; ``log consistency``: that checkpoint is a prefix of today's log;
    ``attestation``: every key's vendor chain verifies to the pinned root under allowed
    firmware equal to the file's; ``majority``: the configuration is a majority;
    ``ceremony record``: the record matches the file;
then
    ``log completeness``: every statement the log holds for the namespace is published
    here and epochs run 1, 2, ... without a gap (a fleet the witness signed but nobody
    published is a failure);

and finally a diff of the fleets across epochs (keys added and removed, configuration
and firmware changes). The auditor reads only public files.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

from impl.attestation import VendorAttestationVerifier
from impl.auditlog import AuditLog, InclusionProof, SignedStatement, verify_checkpoint
from impl.ceremony import CEREMONY_CONTEXT, canonical_json
from impl.crypto.ed25519 import VerifyKey
from impl.errors import VaultbenchError
from impl.fleetkeys import FleetKeyFile, decode_fleet_key_file, digest, is_majority
from impl.logs import logger
from impl.statement import CIPHERSUITE_ED25519_PROTOBUF, SignatureMessage

MAX_EVIDENCE_FILE: Final = 1 << 20
_T = TypeVar("_T")


_log = logger(__name__)


class AuditStepFailed(VaultbenchError):
    """Internal: one audit step failed (carried into the step's detail)."""


@dataclass(frozen=True)
class AuditStep:
    """AuditStep: one check, its epoch (0 for directory-wide checks), file and verdict."""

    name: str
    epoch: int
    file: str
    ok: bool
    detail: str = ""


@dataclass
class AuditReport:
    """AuditReport: every step in order, and the diff of fleets across epochs."""

    steps: list[AuditStep] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def render(self) -> str:
        lines = []
        for step in self.steps:
            where = f"epoch {step.epoch}" if step.epoch else "all"
            verdict = "PASS" if step.ok else "FAIL"
            line = f"{where:<9} {step.name:<18} {verdict:<5} {step.file}"
            if step.detail:
                line += f"  {step.detail}"
            lines.append(line)
        if self.diff:
            lines.append("")
            lines.append("fleets across epochs:")
            lines.extend(f"  {line}" for line in self.diff)
        return "\n".join(lines)


@dataclass(frozen=True)
class _Trust:
    namespace: str
    witness_key: VerifyKey
    operator_key: VerifyKey
    log_origin: str
    log_key: VerifyKey
    vendor_root: bytes
    allowed_firmware: frozenset[bytes]


def audit(directory: Path) -> AuditReport:
    """audit: verify the evidence in ``directory`` (see the module docstring)."""
    report = AuditReport()
    run = _Runner(report, directory)
    trust = run.step("trust", 0, "trust.json", lambda: _trust(run.json("trust.json")))
    if trust is None:
        return report
    log = run.step(
        "log",
        0,
        "log/entries.jsonl",
        lambda: AuditLog.load(
            directory / "log", trust.log_origin, trust.log_key, statement_key=trust.witness_key
        ),
    )
    if log is None:
        return report
    epochs = sorted(_epochs(directory))
    files: dict[int, FleetKeyFile] = {}
    for epoch in epochs:
        audited = _audit_epoch(run, trust, log, epoch)
        if audited is not None:
            files[epoch] = audited
    run.step("log completeness", 0, "log/entries.jsonl", lambda: _complete(trust, log, epochs))
    report.diff = _diff(files)
    return report


def _audit_epoch(run: _Runner, trust: _Trust, log: AuditLog, epoch: int) -> FleetKeyFile | None:
    base = f"epoch-{epoch}"
    proof = run.step("proof", epoch, f"{base}/proof.json", lambda: _proof(run, base, trust))
    if proof is None:
        return None
    message, signature, counter, key_id = proof
    file_bytes = run.read(f"{base}/fleet-keys.json")
    run.step(
        "artifact digest",
        epoch,
        f"{base}/fleet-keys.json",
        lambda: _expect(
            digest(file_bytes) == message.digest, "SHA-256 of the file is not the digest"
        ),
    )
    file = run.step(
        "fleet-key file",
        epoch,
        f"{base}/fleet-keys.json",
        lambda: _file(file_bytes, message, epoch),
    )
    run.step(
        "witness signature",
        epoch,
        f"{base}/proof.json",
        lambda: SignedStatement(message, signature, key_id).verify(trust.witness_key),
    )
    run.step(
        "counter-signature",
        epoch,
        f"{base}/proof.json",
        lambda: trust.operator_key.verify(counter, signature),
    )
    entry = SignedStatement(message, signature, key_id)
    checkpoint = run.step(
        "log inclusion",
        epoch,
        f"{base}/inclusion.json",
        lambda: _inclusion(run.json(f"{base}/inclusion.json"), trust, log, entry),
    )
    if checkpoint is not None:
        size, root = checkpoint
        run.step(
            "log consistency",
            epoch,
            f"{base}/inclusion.json",
            lambda: log.consistency(size).verify(root, log.root()),
        )
    if file is None:
        return None
    run.step(
        "attestation",
        epoch,
        f"{base}/attestations.json",
        lambda: _attestation(run, base, trust, file, message),
    )
    run.step(
        "majority",
        epoch,
        f"{base}/fleet-keys.json",
        lambda: _expect(is_majority(file), f"quorum {file.quorum} of {file.replica_count}"),
    )
    run.step(
        "ceremony record",
        epoch,
        f"{base}/ceremony.json",
        lambda: _ceremony(run.json(f"{base}/ceremony.json"), trust, file, message),
    )
    return file


class _Runner:
    def __init__(self, report: AuditReport, directory: Path) -> None:
        self.report = report
        self.directory = directory

    def step(self, name: str, epoch: int, file: str, check: Callable[[], _T]) -> _T | None:
        try:
            value = check()
        except (VaultbenchError, ValueError, KeyError, TypeError, RecursionError) as error:
            detail = str(error) or type(error).__name__
            self.report.steps.append(AuditStep(name, epoch, file, False, detail[:300]))
            _log.info("audit: epoch %d, %s (%s): FAILED: %s", epoch, name, file, detail[:300])
            return None
        self.report.steps.append(AuditStep(name, epoch, file, True))
        _log.debug("audit: epoch %d, %s (%s): ok", epoch, name, file)
        return value

    def read(self, name: str) -> bytes:
        path = self.directory / name
        try:
            data = path.read_bytes()
        except OSError as error:
            raise AuditStepFailed(f"cannot read {name}: {error.strerror}") from None
        if len(data) > MAX_EVIDENCE_FILE:
            raise AuditStepFailed(f"{name} is larger than {MAX_EVIDENCE_FILE} bytes")
        return data

    def json(self, name: str) -> dict[str, object]:
        data = self.read(name)
        try:
            value = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise AuditStepFailed(f"{name} is not JSON: {error}") from None
        if not isinstance(value, dict):
            raise AuditStepFailed(f"{name} is not a JSON object")
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":")) + "\n"
        if canonical.encode() != data:
            raise AuditStepFailed(f"{name} is not canonical JSON")
        return value


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise AuditStepFailed(f"duplicate field {key!r}")
        result[key] = value
    return result


def _expect(condition: bool, why: str) -> None:
    if not condition:
        raise AuditStepFailed(why)


def _str(value: dict[str, object], name: str) -> str:
    item = value.get(name)
    if not isinstance(item, str):
        raise AuditStepFailed(f"{name}: expected a string")
    return item


def _int(value: dict[str, object], name: str) -> int:
    item = value.get(name)
    if not isinstance(item, int) or isinstance(item, bool) or item < 0:
        raise AuditStepFailed(f"{name}: expected a non-negative integer")
    return item


def _unhex(name: str, text: str) -> bytes:
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise AuditStepFailed(f"{name}: not hex") from None
    if data.hex() != text:
        raise AuditStepFailed(f"{name}: not canonical (lowercase, no spaces) hex")
    return data


def _hex(value: dict[str, object], name: str, length: int | None = None) -> bytes:
    data = _unhex(name, _str(value, name))
    if length is not None and len(data) != length:
        raise AuditStepFailed(f"{name}: expected {length} bytes, found {len(data)}")
    return data


def _b64(value: dict[str, object], name: str) -> bytes:
    text = _str(value, name)
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise AuditStepFailed(f"{name}: not base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise AuditStepFailed(f"{name}: not canonical base64")
    return data


def _trust(value: dict[str, object]) -> _Trust:
    firmware = value.get("allowed_firmware")
    if not isinstance(firmware, list) or not all(isinstance(f, str) for f in firmware):
        raise AuditStepFailed("allowed_firmware: expected a list of hex strings")
    return _Trust(
        namespace=_str(value, "namespace"),
        witness_key=VerifyKey.from_bytes(_b64(value, "witness_key")),
        operator_key=VerifyKey.from_bytes(_b64(value, "operator_key")),
        log_origin=_str(value, "log_origin"),
        log_key=VerifyKey.from_bytes(_b64(value, "log_key")),
        vendor_root=_b64(value, "vendor_root"),
        allowed_firmware=frozenset(_unhex("allowed_firmware", str(f)) for f in firmware),
    )


def _epochs(directory: Path) -> list[int]:
    found = []
    for child in directory.iterdir():
        if child.is_dir() and child.name.startswith("epoch-"):
            suffix = child.name.removeprefix("epoch-")
            if suffix.isdigit() and str(int(suffix)) == suffix:
                found.append(int(suffix))
    return found


def _proof(run: _Runner, base: str, trust: _Trust) -> tuple[SignatureMessage, bytes, bytes, int]:
    value = run.json(f"{base}/proof.json")
    expected = {
        "digest",
        "epoch",
        "key_id",
        "namespace",
        "operator_signature",
        "signature",
        "timestamp",
    }
    _expect(set(value) == expected, f"fields {sorted(value)}, expected {sorted(expected)}")
    namespace = _str(value, "namespace")
    _expect(namespace == trust.namespace, f"namespace {namespace!r} is not {trust.namespace!r}")
    message = SignatureMessage(
        CIPHERSUITE_ED25519_PROTOBUF,
        namespace,
        _int(value, "timestamp"),
        _int(value, "epoch"),
        _hex(value, "digest", 32),
    )
    _expect(f"epoch-{message.epoch}" == base, f"epoch {message.epoch} filed under {base}")
    return (
        message,
        _hex(value, "signature", 64),
        _hex(value, "operator_signature", 64),
        _int(value, "key_id"),
    )


def _file(file_bytes: bytes, message: SignatureMessage, epoch: int) -> FleetKeyFile:
    file = decode_fleet_key_file(file_bytes)
    _expect(file.epoch == epoch, f"the file says epoch {file.epoch}")
    _expect(file.namespace == message.namespace, f"the file's namespace is {file.namespace!r}")
    return file


def _inclusion(
    value: dict[str, object], trust: _Trust, log: AuditLog, entry: SignedStatement
) -> tuple[int, bytes]:
    index, size = _int(value, "index"), _int(value, "size")
    checkpoint = verify_checkpoint(_str(value, "checkpoint"), trust.log_origin, trust.log_key)
    _expect(checkpoint.size == size, f"the checkpoint is of size {checkpoint.size}, not {size}")
    hashes = value.get("hashes")
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        raise AuditStepFailed("hashes: expected a list of hex strings")
    path = tuple(_unhex("hashes", str(h)) for h in hashes)
    InclusionProof(index, size, entry.leaf_hash(), path).verify(checkpoint.root)
    _expect(index < log.size, f"index {index} is beyond the log's {log.size} entries")
    _expect(
        log.entry(index) == entry,
        f"log entry {index} is not this statement",
    )
    return size, checkpoint.root


def _attestation(
    run: _Runner, base: str, trust: _Trust, file: FleetKeyFile, message: SignatureMessage
) -> None:
    value = run.json(f"{base}/attestations.json")
    chains = {label: _b64(value, label) for label in value}
    # The chains must be valid when the witness signed (its timestamp is signed).
    at = dt.datetime.fromtimestamp(message.timestamp_ms / 1000, tz=dt.UTC)
    VendorAttestationVerifier(trust.vendor_root, trust.allowed_firmware, at).verify(file, chains)


def _record(value: dict[str, object], trust: _Trust) -> dict[str, object]:
    """The ceremony record, after checking the operator's signature over it."""
    _expect(set(value) == {"operator_signature", "record"}, "expected record and signature")
    record = value["record"]
    if not isinstance(record, dict):
        raise AuditStepFailed("record: expected a JSON object")
    signature = _hex(value, "operator_signature", 64)
    try:
        trust.operator_key.verify(signature, CEREMONY_CONTEXT + canonical_json(record))
    except VaultbenchError:
        raise AuditStepFailed(
            "the operator's signature over the ceremony record does not verify"
        ) from None
    return record


def _ceremony(
    value: dict[str, object], trust: _Trust, file: FleetKeyFile, message: SignatureMessage
) -> None:
    value = _record(value, trust)
    at = dt.datetime.fromisoformat(_str(value, "performed_at"))
    _expect(
        int(at.timestamp() * 1000) == message.timestamp_ms,
        "performed_at is not the statement's timestamp",
    )
    for name, expected in (
        ("fleet_id", file.fleet_id),
        ("epoch", file.epoch),
        ("replicas", file.replica_count),
        ("quorum", file.quorum),
        ("firmware", file.firmware.hex()),
    ):
        _expect(value.get(name) == expected, f"{name} {value.get(name)!r}, the file: {expected!r}")


def _complete(trust: _Trust, log: AuditLog, published: list[int]) -> None:
    logged = sorted(
        entry.message.epoch for entry in log.entries() if entry.message.namespace == trust.namespace
    )
    missing = sorted(set(logged) - set(published))
    _expect(not missing, f"the log holds epochs {missing} that nobody published")
    unlogged = sorted(set(published) - set(logged))
    _expect(not unlogged, f"epochs {unlogged} are published but not in the log")
    _expect(logged == list(range(1, len(logged) + 1)), f"epochs {logged} do not run 1, 2, ...")


def _diff(files: dict[int, FleetKeyFile]) -> list[str]:
    lines: list[str] = []
    previous: FleetKeyFile | None = None
    for epoch in sorted(files):
        file = files[epoch]
        if previous is None:
            lines.append(
                f"epoch {epoch}: fleet {file.fleet_id}, {file.replica_count} replicas, quorum "
                f"{file.quorum}, firmware {file.firmware.hex()[:16]}..."
            )
        else:
            old = {r.key.raw() for r in previous.replicas}
            new = {r.key.raw() for r in file.replicas}
            changes = [
                f"{len(new - old)} replica keys new, {len(old - new)} retired",
                "session key "
                + ("unchanged" if previous.session_key == file.session_key else "rotated"),
            ]
            if (previous.replica_count, previous.quorum) != (file.replica_count, file.quorum):
                changes.append(
                    f"configuration {previous.quorum}/{previous.replica_count} -> "
                    f"{file.quorum}/{file.replica_count}"
                )
            if previous.firmware != file.firmware:
                changes.append("firmware changed")
            lines.append(f"epoch {epoch}: fleet {file.fleet_id}: " + ", ".join(changes))
        previous = file
    return lines
