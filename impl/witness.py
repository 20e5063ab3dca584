"""impl.witness: the witness that signs one statement per fleet-key epoch, and logs it.

The witness (Cloudflare's role in Meta's design) signs Plexi statements: "the fleet-key
file of epoch e in namespace N has digest d". What it checks before signing is its
**policy**, and the policy decides what its signature is worth:

- ``log-only`` (default; Plexi's semantics as far as they are public): the epoch must be
  the namespace's next one (last + 1) and the digest new to the log; nothing about the
  content is judged. The signature buys transparency, not prevention.
- ``vetting``: the same checks, and also ``evidence`` for the digest, which an injected
  ``EvidenceVerifier`` must accept (vendor attestation of every key, allowed firmware;
  the real checks live elsewhere).

Every statement signed is appended to the witness's ``AuditLog``. A refusal, under
either policy and for any reason, happens before signing and changes nothing: no
signature is made and nothing is logged.

With an ``observer`` (``impl.observe``) the witness records what it sees: the statement
bytes it signs (``witness/statement``) and, under ``vetting``, the evidence it is shown
(``witness/evidence``: bytes as given, or an object's ``encode()``).
"""

from __future__ import annotations

from typing import Final, Protocol

from impl.auditlog import AuditLog, SignedStatement, sign_entry
from impl.crypto.ed25519 import SigningKey
from impl.errors import ConfigError, StatementError, VaultbenchError
from impl.logs import logger
from impl.observe import Observer, observer_or_null
from impl.statement import CIPHERSUITE_ED25519_PROTOBUF, DEFAULT_NAMESPACE, SignatureMessage

__all__ = [
    "WITNESS_POLICIES",
    "EvidenceVerifier",
    "SignedStatement",
    "VettingRefusedError",
    "Witness",
]

WITNESS_POLICIES: Final = ("log-only", "vetting")


_log = logger(__name__)


class EvidenceVerifier(Protocol):
    """EvidenceVerifier: checks deployment evidence for a fleet-key file's digest."""

    def verify(self, digest: bytes, evidence: object) -> None:
        """verify: return if ``evidence`` shows that the fleet-key file with SHA-256
        ``digest`` was deployed as the ceremony requires; raise (a ``VaultbenchError``,
        such as ``EvidenceError`` or ``AttestationError``) otherwise."""
        ...


class VettingRefusedError(StatementError):
    """VettingRefusedError: a ``vetting`` witness refused to sign: no evidence, or the
    evidence verifier rejected it (its error is the ``__cause__``)."""


class Witness:
    """Witness: signs the next epoch's digest under its policy and logs the statement.

    Preconditions (``ConfigError`` otherwise): ``policy`` is one of
    ``WITNESS_POLICIES``; ``vetting`` comes with an ``evidence_verifier``; ``log`` is
    writable, and if it has a ``statement_key`` that key is ``signing_key``'s.
    """

    def __init__(
        self,
        signing_key: SigningKey,
        log: AuditLog,
        policy: str = "log-only",
        namespace: str = DEFAULT_NAMESPACE,
        *,
        evidence_verifier: EvidenceVerifier | None = None,
        observer: Observer | None = None,
    ) -> None:
        self._observer = observer_or_null(observer)
        if policy not in WITNESS_POLICIES:
            raise ConfigError(
                f"witness policy: expected one of {WITNESS_POLICIES}, found {policy!r}"
            )
        if policy == "vetting" and evidence_verifier is None:
            raise ConfigError("witness policy 'vetting' needs an evidence_verifier")
        if not log.writable:
            raise ConfigError("the witness's audit log is read-only (loaded without its signer)")
        key = log.statement_key
        if key is not None and key != signing_key.public_key():
            raise ConfigError("the audit log's statement key is not the witness's key")
        self._signing_key = signing_key
        self._log = log
        self._policy = policy
        self._namespace = namespace
        self._evidence_verifier = evidence_verifier

    @property
    def policy(self) -> str:
        """Witness.policy: ``log-only`` or ``vetting``."""
        return self._policy

    @property
    def namespace(self) -> str:
        """Witness.namespace: the namespace this witness signs statements in."""
        return self._namespace

    @property
    def log(self) -> AuditLog:
        """Witness.log: the audit log every signed statement is appended to."""
        return self._log

    def next_epoch(self) -> int:
        """Witness.next_epoch: the only epoch the witness will sign next."""
        return self._log.next_epoch(self._namespace)

    def sign(
        self, epoch: int, digest: bytes, timestamp_ms: int, evidence: object = None
    ) -> SignedStatement:
        """Witness.sign: sign and log the statement (epoch, digest, timestamp_ms) in the
        witness's namespace, and return it.

        Refuses, changing nothing: a malformed statement (``StatementError``), an epoch
        that is not next or a digest already logged (``AuditLogError`` from the log's
        rules); under ``vetting`` also missing evidence or evidence the verifier rejects
        (``VettingRefusedError``). Exceptions other than ``VaultbenchError`` raised by
        the verifier propagate unchanged, and still nothing is signed or logged.
        ``timestamp_ms`` is passed in: the witness never reads a clock.
        """
        message = SignatureMessage(
            CIPHERSUITE_ED25519_PROTOBUF, self._namespace, timestamp_ms, epoch, digest
        )
        self._log.check(message)
        if self._policy == "vetting":
            self._vet(message.digest, evidence)
        self._observer.record("witness", "witness/statement", message.encode())
        statement = sign_entry(message, self._signing_key)
        self._log.append(statement)
        _log.info(
            "witness: epoch %d signed and logged at index %d (digest %s...)",
            epoch,
            self._log.size - 1,
            message.digest.hex()[:16],
        )
        return statement

    def _vet(self, digest: bytes, evidence: object) -> None:
        if evidence is None:
            raise VettingRefusedError(
                f"vetting witness: no deployment evidence for digest {digest.hex()}"
            )
        if self._observer.active:
            self._observer.record("witness", "witness/evidence", _evidence_bytes(evidence))
        verifier = self._evidence_verifier
        assert verifier is not None  # the constructor guarantees it under vetting
        try:
            verifier.verify(digest, evidence)
        except VaultbenchError as error:
            raise VettingRefusedError(
                f"vetting witness: the evidence for digest {digest.hex()} was rejected: {error}"
            ) from error

    def __repr__(self) -> str:
        return f"Witness(policy={self._policy!r}, namespace={self._namespace!r}, log={self._log!r})"


def _evidence_bytes(evidence: object) -> bytes:
    """What the witness is shown, as bytes: the bytes themselves, or ``encode()``'s."""
    if isinstance(evidence, bytes | bytearray):
        return bytes(evidence)
    encode = getattr(evidence, "encode", None)
    if callable(encode):
        data = encode()
        if isinstance(data, bytes):
            return data
    return repr(evidence).encode()
