"""impl.errors: the typed errors of the implementation.

Every error a caller can see derives from ``VaultbenchError``. Messages name what was
expected and what was found, never a secret: no key, password, access key, share or
plaintext byte ever appears in an error message.
"""

from __future__ import annotations


class VaultbenchError(Exception):
    """Base of every error raised on purpose by ``impl/``."""


class CryptoError(VaultbenchError):
    """A cryptographic operation refused its input (wrong key, tampered ciphertext)."""


class DecryptionError(CryptoError):
    """An AEAD or HPKE ciphertext did not authenticate under the given key."""


class WireError(VaultbenchError):
    """Bytes that do not decode as the message, file or statement they claim to be."""


class BlobError(VaultbenchError):
    """A backup blob that cannot be decrypted; no plaintext is returned."""


class BlobFormatError(BlobError, WireError):
    """The blob's header or framing is malformed (bad magic, version, method, lengths)."""


class BlobAuthenticationError(BlobError):
    """A chunk or the header failed authentication: tampering, reordering or a wrong key."""


class BlobTruncatedError(BlobError):
    """The blob ends before its final chunk: truncation."""


class CodeFormatError(VaultbenchError):
    """A 64-digit key or recovery code that is malformed (length, characters, check)."""


class PasskeyError(VaultbenchError):
    """A WebAuthn assertion or credential that does not verify."""


class VaultError(VaultbenchError):
    """A vault command or request the vault refuses (unknown user, bad state)."""


class HsmUnavailable(VaultbenchError):
    """The HSM crashed or is restarting: no answer was given."""


class FleetUnavailable(HsmUnavailable):
    """No quorum of replicas answered in time: the request may or may not have been chosen."""


class PeerAuthError(CryptoError):
    """A replica-to-replica message whose signature, sender, receiver or AEAD is wrong."""


class PeerReplayError(VaultbenchError):
    """A replica-to-replica message this replica has already accepted (a replay)."""


class StoreError(VaultbenchError):
    """A replica's durable store is unreadable or inconsistent (refused, nothing changed)."""


class ConfigError(VaultbenchError):
    """A fleet or simulation configuration that is invalid (for instance q > n)."""


class ProtocolError(VaultbenchError):
    """An authentic replica message that breaks the protocol's rules (refused, unchanged)."""


class StatementError(VaultbenchError):
    """A witness statement that is malformed or does not verify."""


class UnsupportedCiphersuite(StatementError):
    """A statement under a ciphersuite this implementation does not support."""


class AuditLogError(VaultbenchError):
    """An audit-log operation refused (epoch not last + 1, digest reused, bad entry)."""


class ProofError(VaultbenchError):
    """A Merkle inclusion or consistency proof, or a checkpoint, that does not verify."""


class FleetKeyFileError(WireError):
    """A fleet-key file that is not canonical JSON of the expected shape."""


class BundleError(VaultbenchError):
    """A validation bundle the client refuses; subclasses name the failed check."""


class AttestationError(VaultbenchError):
    """A vendor attestation chain that does not verify, or firmware not allowed."""


class EvidenceError(VaultbenchError):
    """Deployment evidence that is missing, malformed or inconsistent."""
