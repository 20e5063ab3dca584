"""impl.ceremony: deploying a fleet epoch and publishing its evidence.

A deployment ceremony, simulated end to end from one seed:

1. the HSMs generate their keys inside (the fleet's HPKE session key, one Ed25519 identity
   per replica; ``impl.replica.provision_fleet``);
2. the vendor's devices attest every key with the firmware measurement
   (``impl.attestation.attest_fleet``);
3. the fleet-key file is written (``impl.fleetkeys``), and a ceremony record says who, when
   and with which configuration;
4. the witness signs the file's digest for the next epoch under its policy and logs the
   statement (``impl.witness``); the operator counter-signs the witness's signature bytes;
5. everything an auditor needs is written to an evidence directory::

       trust.json                  what auditors and clients pin: witness, operator and
                                   log keys, the vendor root, the allowed firmware
       log/entries.jsonl           the witness's audit log (impl.auditlog)
       log/checkpoint              its signed checkpoint (C2SP signed note)
       epoch-<e>/fleet-keys.json   the fleet-key file (canonical JSON)
       epoch-<e>/proof.json        namespace, epoch, timestamp, digest, witness signature,
                                   key id, operator counter-signature (as Meta's mbt reads)
       epoch-<e>/attestations.json the vendor attestation chains, by key label
       epoch-<e>/ceremony.json     the ceremony record
       epoch-<e>/inclusion.json    the statement's log index, the inclusion proof and the
                                   checkpoint it was proved against

The parties' private keys (witness, operator, vendor) are derived from the seed so that a
later ``deploy`` of epoch e+1 into the same directory continues the same log; nothing
secret is written. A real deployment would keep each key in its party's own HSM.

With an ``observer`` (``impl.observe``, I1) the ceremony records what each non-HSM party
sees: the vendor each key it attests, the witness the fleet-key file (published), the
statement it signs and under ``vetting`` the evidence, and the operator the fleet-key
file it publishes and the bundle it assembles.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from impl.attestation import VendorAttestationVerifier, attest_fleet, fleet_key_entries
from impl.auditlog import AuditLog, SignedStatement
from impl.bundle import ClientTrust, ValidationBundle, encode_bundle
from impl.crypto.ed25519 import SigningKey
from impl.crypto.hpke import KemChoice
from impl.crypto.symmetric import SeededRng, hkdf_sha256
from impl.crypto.x509 import VendorCA
from impl.errors import EvidenceError
from impl.fleetkeys import (
    FleetKeyFile,
    ReplicaKey,
    decode_fleet_key_file,
    digest,
    encode_fleet_key_file,
    is_majority,
)
from impl.hsm import HsmConfig
from impl.logs import logger
from impl.observe import Observer, observer_or_null
from impl.replica import FleetKeys, provision_fleet
from impl.statement import DEFAULT_NAMESPACE, key_id
from impl.witness import Witness

LOG_ORIGIN: Final = "witness.example/vaultbench-fleet-keys"
#: What the operator's signature over a ceremony record is prefixed with.
CEREMONY_CONTEXT: Final = b"vaultbench ceremony record v1\n"
DEFAULT_FIRMWARE: Final = hkdf_sha256(b"vaultbench vault firmware", b"firmware v1")
#: The simulated deployment's clock starts here; epoch e is deployed e * 30 days later.
GENESIS: Final = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
EPOCH_SPACING: Final = dt.timedelta(days=30)
CERT_LIFETIME: Final = dt.timedelta(days=3650)


_log = logger(__name__)


@dataclass(frozen=True)
class Parties:
    """The non-HSM parties' keys for a simulated deployment, derived from one seed."""

    witness: SigningKey
    operator: SigningKey
    vendor: VendorCA

    @classmethod
    def from_seed(cls, seed: int) -> Parties:
        """Parties.from_seed: the same seed gives the same witness, operator and vendor."""
        return cls(
            witness=SigningKey.generate(SeededRng(_sub(seed, "witness"))),
            operator=SigningKey.generate(SeededRng(_sub(seed, "operator"))),
            vendor=VendorCA.generate(
                SeededRng(_sub(seed, "vendor")),
                "Simulated HSM Vendor Root",
                GENESIS,
                GENESIS + CERT_LIFETIME,
            ),
        )


@dataclass(frozen=True)
class DeploymentEvidence:
    """What a ``vetting`` witness is shown before it signs: the file and its chains."""

    file_bytes: bytes
    chains: dict[str, bytes]

    def __repr__(self) -> str:
        return f"DeploymentEvidence({len(self.file_bytes)} bytes, {len(self.chains)} chains)"

    def encode(self) -> bytes:
        """The evidence as bytes (for an observer): the file, then each chain by label,
        each part as a 4-byte big-endian length and its bytes."""
        parts = [self.file_bytes]
        for label in sorted(self.chains):
            parts += [label.encode(), self.chains[label]]
        return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


class AttestationEvidenceVerifier:
    """AttestationEvidenceVerifier: a ``vetting`` witness's check of the evidence.

    The file must be the one whose digest is to be signed, decode, have a majority
    configuration, and have every key attested by the pinned vendor root under allowed
    firmware at ``at`` (``impl.attestation``). Raises ``EvidenceError`` (or the
    attestation's typed error) otherwise.
    """

    def __init__(
        self, vendor_root_der: bytes, allowed_firmware: frozenset[bytes], at: dt.datetime
    ) -> None:
        self._attestation = VendorAttestationVerifier(vendor_root_der, allowed_firmware, at)

    def verify(self, digest_to_sign: bytes, evidence: object) -> None:
        if not isinstance(evidence, DeploymentEvidence):
            raise EvidenceError(f"expected DeploymentEvidence, got {type(evidence).__name__}")
        if digest(evidence.file_bytes) != digest_to_sign:
            raise EvidenceError("the evidence's fleet-key file is not the one to be signed")
        file = decode_fleet_key_file(evidence.file_bytes)
        if not is_majority(file):
            raise EvidenceError(f"quorum {file.quorum} of {file.replica_count} is no majority")
        self._attestation.verify(file, evidence.chains)


@dataclass(frozen=True)
class CeremonyRecord:
    """CeremonyRecord: who deployed which fleet when, with which configuration."""

    fleet_id: str
    epoch: int
    replicas: int
    quorum: int
    firmware: bytes
    performed_at: dt.datetime
    officers: tuple[str, ...]

    def fields(self) -> dict[str, object]:
        return {
            "epoch": self.epoch,
            "firmware": self.firmware.hex(),
            "fleet_id": self.fleet_id,
            "officers": list(self.officers),
            "performed_at": self.performed_at.isoformat(),
            "quorum": self.quorum,
            "replicas": self.replicas,
        }

    def signed_json(self, operator: SigningKey) -> bytes:
        """The record with the operator's signature over its canonical JSON."""
        record = self.fields()
        signature = operator.sign(CEREMONY_CONTEXT + canonical_json(record))
        return canonical_json({"operator_signature": signature.hex(), "record": record})


@dataclass(frozen=True)
class Deployment:
    """Deployment: one epoch's fleet, its bundle, its log entry, and the HSMs' keys."""

    file: FleetKeyFile
    bundle: ValidationBundle
    statement: SignedStatement
    log_index: int
    record: CeremonyRecord
    hsm_keys: tuple[FleetKeys, ...]

    def __repr__(self) -> str:
        return f"Deployment(epoch={self.file.epoch}, fleet={self.file.fleet_id!r})"


def deployed_at(epoch: int) -> dt.datetime:
    """deployed_at: the simulated time of epoch ``epoch``'s ceremony."""
    return GENESIS + epoch * EPOCH_SPACING


def client_trust(
    parties: Parties, epoch: int, *, client_attestation: bool = True, variant: str | None = None
) -> ClientTrust:
    """client_trust: what an ``ota`` app ships for these parties: the witness's key under
    its key id, the operator's key, and the vendor root with the allowed firmware, checked
    at the time of epoch ``epoch``'s ceremony (``deployed_at``)."""
    witness = parties.witness.public_key()
    return ClientTrust(
        witness_keys={key_id(witness): witness},
        operator_key=parties.operator.public_key(),
        client_attestation=client_attestation,
        attestation_verifier=VendorAttestationVerifier(
            parties.vendor.root_der(), frozenset({DEFAULT_FIRMWARE}), deployed_at(epoch)
        ),
        variant=variant,
    )


def witness_log(parties: Parties) -> AuditLog:
    """witness_log: the witness's empty audit log, its statements signed by the witness."""
    return AuditLog(LOG_ORIGIN, parties.witness, statement_key=parties.witness.public_key())


def deploy_epochs(
    parties: Parties,
    epochs: int,
    *,
    replicas: int = 5,
    seed: int = 1,
    policy: str = "log-only",
    observer: Observer | None = None,
) -> tuple[Deployment, ...]:
    """deploy_epochs: the ceremonies of epochs ``1 .. epochs`` into one witness log."""
    log = witness_log(parties)
    return tuple(
        run_ceremony(
            parties, log, epoch=e, replicas=replicas, seed=seed, policy=policy, observer=observer
        )
        for e in range(1, epochs + 1)
    )


def run_ceremony(
    parties: Parties,
    log: AuditLog,
    *,
    epoch: int,
    replicas: int = 5,
    quorum: int = 0,
    seed: int = 1,
    firmware: bytes = DEFAULT_FIRMWARE,
    policy: str = "log-only",
    observer: Observer | None = None,
) -> Deployment:
    """run_ceremony: deploy fleet epoch ``epoch`` and have the witness sign and log it.

    The witness refuses (``AuditLogError``) unless ``epoch`` is the log's next epoch;
    nothing is then logged. ``observer`` records what the parties see (module docstring).
    """
    watch = observer_or_null(observer)
    at = deployed_at(epoch)
    rng = SeededRng(_sub(seed, f"epoch {epoch}"))
    quorum = quorum or replicas // 2 + 1
    _, keys = provision_fleet(replicas, HsmConfig(kem=KemChoice.X25519), rng)
    fleet_id = f"fleet-{epoch}-{rng.random_bytes(4).hex()}"
    file = FleetKeyFile(
        fleet_id=fleet_id,
        epoch=epoch,
        firmware=firmware,
        quorum=quorum,
        session_key=keys[0].fleet_keypair.public_key(),
        replicas=tuple(
            ReplicaKey(i, f"dc{i + 1}", keys[i].signing_key.public_key()) for i in range(replicas)
        ),
    )
    chains = attest_fleet(
        rng,
        parties.vendor,
        fleet_key_entries(file),
        firmware,
        at,
        at + CERT_LIFETIME,
        observer=observer,
    )
    file_bytes = encode_fleet_key_file(file)
    watch.record("operator", "ceremony/fleet-key-file", file_bytes)
    watch.record("witness", "ceremony/fleet-key-file", file_bytes)
    verifier = AttestationEvidenceVerifier(
        parties.vendor.root_der(), frozenset({DEFAULT_FIRMWARE}), at
    )
    witness = Witness(parties.witness, log, policy, evidence_verifier=verifier, observer=observer)
    timestamp_ms = int(at.timestamp() * 1000)
    evidence = DeploymentEvidence(file_bytes, chains)
    statement = witness.sign(epoch, digest(file_bytes), timestamp_ms, evidence)
    bundle = ValidationBundle(
        file_bytes=file_bytes,
        statement=statement.message,
        witness_signature=statement.signature,
        key_id=statement.key_id,
        counter_signature=parties.operator.sign(statement.signature),
        chains=chains,
    )
    if watch.active:
        watch.record("operator", "bundle", encode_bundle(bundle))
    record = CeremonyRecord(
        fleet_id, epoch, replicas, quorum, firmware, at, ("officer-a", "officer-b")
    )
    _log.info(
        "ceremony: epoch %d deployed, fleet %s, %d replicas, quorum %d, log index %d",
        epoch,
        fleet_id,
        replicas,
        quorum,
        log.size - 1,
    )
    return Deployment(file, bundle, statement, log.size - 1, record, tuple(keys))


def open_log(parties: Parties, directory: Path) -> AuditLog:
    """open_log: the witness's log in ``directory/log`` (a new one if there is none)."""
    log_dir = directory / "log"
    if (log_dir / "checkpoint").exists():
        return AuditLog.load(
            log_dir,
            LOG_ORIGIN,
            parties.witness.public_key(),
            signer=parties.witness,
            statement_key=parties.witness.public_key(),
        )
    return AuditLog(LOG_ORIGIN, parties.witness, statement_key=parties.witness.public_key())


def write_evidence(
    parties: Parties, log: AuditLog, deployment: Deployment, directory: Path
) -> Path:
    """write_evidence: publish ``deployment`` (and the updated log) under ``directory``."""
    epoch = deployment.file.epoch
    target = directory / f"epoch-{epoch}"
    if target.exists():
        raise EvidenceError(f"{target} exists: epoch {epoch} was already published")
    target.mkdir(parents=True)
    bundle = deployment.bundle
    statement = bundle.statement
    proof = {
        "digest": statement.digest.hex(),
        "epoch": statement.epoch,
        "key_id": bundle.key_id,
        "namespace": statement.namespace,
        "operator_signature": bundle.counter_signature.hex(),
        "signature": bundle.witness_signature.hex(),
        "timestamp": statement.timestamp_ms,
    }
    inclusion = log.inclusion(deployment.log_index)
    included = {
        "checkpoint": log.checkpoint().text,
        "hashes": [h.hex() for h in inclusion.path],
        "index": inclusion.index,
        "size": inclusion.size,
    }
    chains = {label: _b64(chain) for label, chain in sorted(bundle.chains.items())}
    _write(target / "fleet-keys.json", bundle.file_bytes)
    _write(target / "proof.json", canonical_json(proof))
    _write(target / "attestations.json", canonical_json(chains))
    _write(target / "ceremony.json", deployment.record.signed_json(parties.operator))
    _write(target / "inclusion.json", canonical_json(included))
    trust = {
        "allowed_firmware": [DEFAULT_FIRMWARE.hex()],
        "log_key": _b64(parties.witness.public_key().raw()),
        "log_origin": LOG_ORIGIN,
        "namespace": DEFAULT_NAMESPACE,
        "operator_key": _b64(parties.operator.public_key().raw()),
        "vendor_root": _b64(parties.vendor.root_der()),
        "witness_key": _b64(parties.witness.public_key().raw()),
    }
    _write(directory / "trust.json", canonical_json(trust))
    log.save(directory / "log")
    return target


def deploy(
    directory: Path,
    *,
    epoch: int,
    replicas: int = 5,
    seed: int = 1,
    policy: str = "log-only",
    firmware: bytes = DEFAULT_FIRMWARE,
) -> Deployment:
    """deploy: run the ceremony for ``epoch`` and publish it under ``directory``.

    Under the ``vetting`` policy the witness checks the vendor attestations (and the
    firmware against the allowed list) before it signs, and refuses otherwise.
    """
    parties = Parties.from_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    log = open_log(parties, directory)
    deployment = run_ceremony(
        parties,
        log,
        epoch=epoch,
        replicas=replicas,
        seed=seed,
        policy=policy,
        firmware=firmware,
    )
    write_evidence(parties, log, deployment, directory)
    return deployment


def _sub(seed: int, purpose: str) -> int:
    derived = hkdf_sha256(seed.to_bytes(16, "big", signed=True), purpose.encode())
    return int.from_bytes(derived[:8], "big")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def canonical_json(value: object) -> bytes:
    """canonical_json: sorted keys, no spaces, ASCII, one trailing newline."""
    return (
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"
    ).encode("ascii")


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
