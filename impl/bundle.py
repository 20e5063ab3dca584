"""impl.bundle: the validation bundle and the client's checks of it.

A **validation bundle** carries one fleet epoch to a client over the air (Messenger's
``ota`` mode): the fleet-key file's exact bytes, the witness's statement
(``SignatureMessage``) with its Ed25519 signature and key id, the operator's Ed25519
**counter-signature over the 64 witness-signature bytes** (what Meta's ``mbt`` verifier
checks), and optionally a vendor attestation chain per key (opaque here, checked by an
injected ``AttestationVerifier``).

Encoding (all integers big-endian; no field optional, no trailing bytes)::

    u8   version = 0x01
    u32  file length (1..65536)     file bytes (the canonical fleet-key file)
    u16  statement length (1..1024) statement bytes (canonical SignatureMessage, ciphersuite 1)
    64   witness signature
    u8   witness key id
    64   operator counter-signature
    u8   chain count (0..65)
         per chain, labels in strictly ascending byte order:
         u8  label length (1..64)   label (ASCII: session-hpke, replica-identity/<i>)
         u32 chain length (1..32768) chain bytes

``verify_bundle`` runs the client's checks in a fixed order, each failure its own
``BundleError`` subclass, and records the epoch in the ``EpochStore`` only after every
check has passed: a refused bundle changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal, NoReturn, Protocol

from impl.crypto.ed25519 import SigningKey, VerifyKey
from impl.crypto.hpke import FleetPublicKey
from impl.crypto.symmetric import sha256
from impl.errors import (
    AttestationError,
    BundleError,
    ConfigError,
    CryptoError,
    FleetKeyFileError,
    StatementError,
    StoreError,
    WireError,
)
from impl.fleetkeys import (
    MAX_FILE_BYTES,
    MAX_REPLICAS,
    FleetKeyFile,
    decode_fleet_key_file,
    digest,
    encode_fleet_key_file,
    is_majority,
)
from impl.statement import (
    CIPHERSUITE_ED25519_PROTOBUF,
    DEFAULT_NAMESPACE,
    SIGNATURE_LEN,
    SignatureMessage,
    decode_statement,
    key_id,
    sign_statement,
    verify_statement,
)

BUNDLE_VERSION: Final = 0x01
MAX_STATEMENT_BYTES: Final = 1024
MAX_CHAINS: Final = 1 + MAX_REPLICAS
MAX_LABEL_BYTES: Final = 64
MAX_CHAIN_BYTES: Final = 32 * 1024

#: The unsafe client variants ``ClientTrust.variant`` can switch on, each breaking exactly
#: one check of ``verify_bundle`` (the mutation matrix's implementation side: ``vaultbench
#: mutants``). The names mirror ``model.bundles.BUNDLE_VARIANTS`` (impl/ does not import
#: model/). ``countersign-file-not-signature`` changes a protocol, not only a client: the
#: operator counter-signs the file's digest (``make_bundle(counter_signs="file-digest")``)
#: and the client checks the counter-signature over the digest, not over the witness
#: signature as Meta's verifier does.
IMPL_BUNDLE_VARIANTS: Final = (
    "accept-one-signature",  # skips 6, the operator counter-signature
    "no-epoch-check",  # skips 8, no rollback
    "no-file-epoch-check",  # skips 7, statement epoch = file epoch
    "no-digest-check",  # skips 3, statement digest = SHA-256 of the file
    "skip-config-check",  # skips 9, majority configuration
    "countersign-file-not-signature",  # 6 over SHA-256 of the file, not the witness signature
)

#: The combinations of ``IMPL_BUNDLE_VARIANTS`` a client can run (mirroring
#: ``model.bundles.BUNDLE_COMBINATIONS``): each breaks only together what neither breaks
#: alone.
IMPL_BUNDLE_COMBINATIONS: Final = ("countersign-file-not-signature+no-file-epoch-check",)

#: What the operator counter-signs: the witness's 64 signature bytes (the design), or the
#: file's SHA-256 digest (the ``countersign-file-not-signature`` protocol, unsafe).
CounterSigns = Literal["witness-signature", "file-digest"]

# --- the failed checks, in the order verify_bundle runs them -------------------------------


class BundleFormatError(BundleError, WireError):
    """1. The bundle, its statement or its fleet-key file does not decode strictly."""


class NamespaceMismatch(BundleError):
    """2. The statement's or the file's namespace is not the one the client pins."""


class DigestMismatch(BundleError):
    """3. The statement's digest is not SHA-256 of the fleet-key file bytes."""


class UnknownWitness(BundleError):
    """4. The key id names no witness key the client pins."""


class WitnessSignatureInvalid(BundleError):
    """5. The witness's signature over the statement does not verify."""


class CounterSignatureInvalid(BundleError):
    """6. The operator's counter-signature over the witness signature does not verify."""


class EpochMismatch(BundleError):
    """7. The statement's epoch is not the file's epoch."""


class EpochRollback(BundleError):
    """8. The epoch is below the highest epoch this client has accepted."""


class ConfigurationRejected(BundleError):
    """9. The file's consensus configuration is not a majority (two quorums may not meet)."""


class UnknownReplica(BundleError):
    """10. The replica that answered is not in the fleet-key file."""


class AttestationRejected(BundleError):
    """11. The vendor attestation of the keys does not verify (client-attestation on)."""


class NoAttestationVerifier(AttestationRejected):
    """11. client-attestation is on but the client has no attestation verifier to run."""


class EpochStoreCorrupt(BundleError, StoreError):
    """The persisted highest epoch is unreadable: refuse rather than forget it."""


# --- the bundle ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationBundle:
    """One epoch's validation bundle. Construction checks the framing (lengths, labels,
    ciphersuite); the file's content is checked by ``verify_bundle``."""

    file_bytes: bytes
    statement: SignatureMessage
    witness_signature: bytes
    key_id: int
    counter_signature: bytes
    chains: Mapping[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.file_bytes, bytes) or not 1 <= len(self.file_bytes) <= (
            MAX_FILE_BYTES
        ):
            _format(f"file: expected 1..{MAX_FILE_BYTES} bytes, found {_len(self.file_bytes)}")
        if not isinstance(self.statement, SignatureMessage):
            _format("statement: expected a SignatureMessage")
        if self.statement.ciphersuite != CIPHERSUITE_ED25519_PROTOBUF:
            _format(
                f"statement: expected ciphersuite {CIPHERSUITE_ED25519_PROTOBUF}, "
                f"found {self.statement.ciphersuite}"
            )
        for name, value in (
            ("witness signature", self.witness_signature),
            ("counter-signature", self.counter_signature),
        ):
            if not isinstance(value, bytes) or len(value) != SIGNATURE_LEN:
                _format(f"{name}: expected {SIGNATURE_LEN} bytes, found {_len(value)}")
        if type(self.key_id) is not int or not 0 <= self.key_id <= 0xFF:
            _format(f"key id: expected 0..255, found {self.key_id!r}")
        if len(self.chains) > MAX_CHAINS:
            _format(f"chains: expected at most {MAX_CHAINS}, found {len(self.chains)}")
        for label in self.chains:
            _check_label(label)
        chains: dict[str, bytes] = {}
        for label in sorted(self.chains, key=_label_bytes):
            chain = self.chains[label]
            if not isinstance(chain, bytes) or not 1 <= len(chain) <= MAX_CHAIN_BYTES:
                _format(
                    f"chain {label!r}: expected 1..{MAX_CHAIN_BYTES} bytes, found {_len(chain)}"
                )
            chains[label] = chain
        object.__setattr__(self, "chains", MappingProxyType(chains))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ValidationBundle):
            return NotImplemented
        return encode_bundle(self) == encode_bundle(other)

    def __hash__(self) -> int:
        return hash(encode_bundle(self))


def encode_bundle(bundle: ValidationBundle) -> bytes:
    """encode_bundle: the canonical bytes of ``bundle`` (layout in the module docstring)."""
    statement = bundle.statement.encode()
    parts = [
        bytes([BUNDLE_VERSION]),
        struct.pack(">I", len(bundle.file_bytes)),
        bundle.file_bytes,
        struct.pack(">H", len(statement)),
        statement,
        bundle.witness_signature,
        bytes([bundle.key_id]),
        bundle.counter_signature,
        bytes([len(bundle.chains)]),
    ]
    for label, chain in bundle.chains.items():  # already in ascending byte order
        encoded = _label_bytes(label)
        parts += [bytes([len(encoded)]), encoded, struct.pack(">I", len(chain)), chain]
    return b"".join(parts)


def decode_bundle(data: bytes) -> ValidationBundle:
    """decode_bundle: the bundle whose canonical encoding is ``data``; ``BundleFormatError``
    (naming the field, expected and found) for anything else. The fleet-key file inside
    is kept as bytes; ``verify_bundle`` decodes it."""
    if not isinstance(data, bytes | bytearray):
        _format(f"bundle: expected bytes, found {type(data).__name__}")
    reader = _Reader(bytes(data))
    version = reader.u8("version")
    if version != BUNDLE_VERSION:
        _format(f"version: expected {BUNDLE_VERSION}, found {version}")
    file_bytes = reader.take("file", reader.length("file length", 4, 1, MAX_FILE_BYTES))
    statement_bytes = reader.take(
        "statement", reader.length("statement length", 2, 1, MAX_STATEMENT_BYTES)
    )
    witness_signature = reader.take("witness signature", SIGNATURE_LEN)
    witness_key_id = reader.u8("key id")
    counter_signature = reader.take("counter-signature", SIGNATURE_LEN)
    count = reader.length("chain count", 1, 0, MAX_CHAINS)
    chains: dict[str, bytes] = {}
    previous: bytes | None = None
    for index in range(count):
        raw_label = reader.take(
            f"chain {index} label",
            reader.length(f"chain {index} label length", 1, 1, MAX_LABEL_BYTES),
        )
        try:
            label = raw_label.decode("ascii")
        except UnicodeDecodeError:
            _format(f"chain {index} label: expected ASCII")
        if previous is not None and raw_label <= previous:
            _format(f"chain {index} label: expected labels in strictly ascending order")
        previous = raw_label
        chains[label] = reader.take(
            f"chain {label!r}", reader.length(f"chain {label!r} length", 4, 1, MAX_CHAIN_BYTES)
        )
    reader.end()
    try:
        statement = decode_statement(statement_bytes)
    except StatementError as exc:
        _format(f"statement: {exc}")
    return ValidationBundle(
        file_bytes, statement, witness_signature, witness_key_id, counter_signature, chains
    )


def make_bundle(
    file: FleetKeyFile,
    witness_key: SigningKey,
    operator_key: SigningKey,
    timestamp_ms: int,
    chains: Mapping[str, bytes] | None = None,
    counter_signs: CounterSigns = "witness-signature",
) -> ValidationBundle:
    """make_bundle: the ceremony's (and the tests') bundle for ``file``: the witness signs
    the statement (namespace and epoch of the file, digest of its canonical bytes), the
    operator countersigns the witness's 64 signature bytes (``counter_signs="file-digest"``:
    the file's digest instead, the unsafe ``countersign-file-not-signature`` protocol)."""
    if counter_signs not in ("witness-signature", "file-digest"):
        raise ConfigError(
            f"counter_signs: expected 'witness-signature' or 'file-digest', found {counter_signs!r}"
        )
    file_bytes = encode_fleet_key_file(file)
    statement = SignatureMessage(
        CIPHERSUITE_ED25519_PROTOBUF, file.namespace, timestamp_ms, file.epoch, digest(file_bytes)
    )
    witness_signature = sign_statement(statement, witness_key)
    return ValidationBundle(
        file_bytes=file_bytes,
        statement=statement,
        witness_signature=witness_signature,
        key_id=key_id(witness_key.public_key()),
        counter_signature=operator_key.sign(
            witness_signature if counter_signs == "witness-signature" else digest(file_bytes)
        ),
        chains=dict(chains or {}),
    )


# --- the client ------------------------------------------------------------------------------


class AttestationVerifier(Protocol):
    """Checks vendor attestation chains (X.509, vendor root to each key) for a file's keys.

    ``chains`` maps key labels (``FleetKeyFile.key_labels``) to opaque chain bytes. Raise
    ``AttestationError`` unless every key the verifier requires is attested by a pinned
    vendor root under an allowed firmware measurement."""

    def verify(self, file: FleetKeyFile, chains: Mapping[str, bytes]) -> None: ...


@dataclass(frozen=True)
class ClientTrust:
    """What an ``ota`` client pins: witness keys by key id, the operator's key, the
    namespace, and whether (and how) it checks vendor attestation itself. A witness key
    pinned under a key id that is not its own is a ``ConfigError``.

    ``variant`` (default ``None``, the safe client) names an **unsafe** client of
    ``IMPL_BUNDLE_VARIANTS`` (or of ``IMPL_BUNDLE_COMBINATIONS``) that breaks one of
    ``verify_bundle``'s checks. It exists only for the mutation matrix (``vaultbench
    mutants``, detector ``bundle-attack``) and its tests, which show each such client
    accepting a bundle the safe one refuses; no real client sets it. Any other value is a
    ``ConfigError``."""

    witness_keys: Mapping[int, VerifyKey]
    operator_key: VerifyKey
    namespace: str = DEFAULT_NAMESPACE
    client_attestation: bool = True
    attestation_verifier: AttestationVerifier | None = None
    variant: str | None = None

    def __post_init__(self) -> None:
        known = (*IMPL_BUNDLE_VARIANTS, *IMPL_BUNDLE_COMBINATIONS)
        if self.variant is not None and self.variant not in known:
            raise ConfigError(
                f"client variant: expected None or one of {', '.join(known)}, "
                f"found {self.variant!r}"
            )
        pinned: dict[int, VerifyKey] = {}
        for kid, key in self.witness_keys.items():
            if not isinstance(key, VerifyKey):
                raise ConfigError(f"witness key {kid}: expected a VerifyKey")
            if key_id(key) != kid:
                raise ConfigError(f"witness key pinned under key id {kid} has key id {key_id(key)}")
            pinned[kid] = key
        if not isinstance(self.operator_key, VerifyKey):
            raise ConfigError("operator key: expected a VerifyKey")
        object.__setattr__(self, "witness_keys", MappingProxyType(pinned))

    @property
    def rules(self) -> frozenset[str]:
        """The checks ``variant`` breaks (empty for the safe client)."""
        return frozenset() if self.variant is None else frozenset(self.variant.split("+"))


class EpochStore(Protocol):
    """The highest fleet epoch a client has accepted (0: none yet)."""

    def highest(self) -> int: ...

    def accept(self, epoch: int) -> None: ...


class MemoryEpochStore:
    """An ``EpochStore`` in memory (tests, short-lived clients)."""

    def __init__(self, highest: int = 0) -> None:
        _check_epoch(highest)
        self._highest = highest

    def highest(self) -> int:
        return self._highest

    def accept(self, epoch: int) -> None:
        _check_epoch(epoch)
        if epoch < self._highest:
            raise EpochRollback(f"epoch {epoch} is below the accepted epoch {self._highest}")
        self._highest = epoch

    def __repr__(self) -> str:
        return f"MemoryEpochStore(highest={self._highest})"


_STORE_MAGIC: Final = b"VBEPOCH1"
_STORE_LEN: Final = len(_STORE_MAGIC) + 8 + 32


class FileEpochStore:
    """An ``EpochStore`` persisted in one 48-byte file: ``"VBEPOCH1"``, the epoch as a u64
    big-endian, SHA-256 of those 16 bytes. A missing file means no epoch accepted yet; a
    file of any other shape is ``EpochStoreCorrupt``. Writes go to a temporary file in
    the same directory, are fsynced, then ``os.replace``-d over the old one (atomic)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)

    @property
    def path(self) -> Path:
        return self._path

    def highest(self) -> int:
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise EpochStoreCorrupt(
                f"epoch store {self._path}: unreadable ({exc.strerror})"
            ) from None
        if len(data) != _STORE_LEN:
            raise EpochStoreCorrupt(
                f"epoch store {self._path}: expected {_STORE_LEN} bytes, found {len(data)}"
            )
        body, check = data[:16], data[16:]
        if body[:8] != _STORE_MAGIC:
            raise EpochStoreCorrupt(f"epoch store {self._path}: bad magic")
        if sha256(body) != check:
            raise EpochStoreCorrupt(f"epoch store {self._path}: checksum does not match")
        (epoch,) = struct.unpack(">Q", body[8:])
        return int(epoch)

    def accept(self, epoch: int) -> None:
        _check_epoch(epoch)
        current = self.highest()
        if epoch < current:
            raise EpochRollback(f"epoch {epoch} is below the accepted epoch {current}")
        if epoch == current and self._path.exists():
            return
        body = _STORE_MAGIC + struct.pack(">Q", epoch)
        directory = self._path.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{self._path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body + sha256(body))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_directory(directory)

    def __repr__(self) -> str:
        return f"FileEpochStore({str(self._path)!r})"


@dataclass(frozen=True)
class AcceptedFleet:
    """A fleet the client accepted over the air: the file, its digest and its statement."""

    file: FleetKeyFile
    digest: bytes
    statement: SignatureMessage
    key_id: int

    @property
    def epoch(self) -> int:
        return self.file.epoch

    @property
    def session_key(self) -> FleetPublicKey:
        return self.file.session_key

    def check_replica(self, replica_key: VerifyKey) -> None:
        """Raise ``UnknownReplica`` unless ``replica_key`` is one of the fleet's replicas."""
        _check_replica(self.file, replica_key)


@dataclass(frozen=True)
class PinnedFleet:
    """``pinned`` mode (WhatsApp): the fleet-key file ships inside the app. Nothing is
    verified but the file itself; the trust is in whoever built the app."""

    file: FleetKeyFile
    digest: bytes

    @classmethod
    def from_file(cls, data: bytes, namespace: str = DEFAULT_NAMESPACE) -> PinnedFleet:
        """PinnedFleet.from_file: decode the shipped file strictly (``FleetKeyFileError``),
        check its namespace (``NamespaceMismatch``) and that its quorum is a majority
        (``ConfigurationRejected``)."""
        file = decode_fleet_key_file(data)
        if file.namespace != namespace:
            raise NamespaceMismatch(
                f"file namespace {file.namespace!r} is not the pinned namespace {namespace!r}"
            )
        _check_majority(file)
        return cls(file, digest(data))

    @property
    def epoch(self) -> int:
        return self.file.epoch

    @property
    def session_key(self) -> FleetPublicKey:
        return self.file.session_key

    def check_replica(self, replica_key: VerifyKey) -> None:
        """Raise ``UnknownReplica`` unless ``replica_key`` is one of the fleet's replicas."""
        _check_replica(self.file, replica_key)


def verify_bundle(
    bundle: ValidationBundle | bytes,
    trust: ClientTrust,
    epochs: EpochStore,
    answering_replica_key: VerifyKey | None = None,
) -> AcceptedFleet:
    """verify_bundle: the ``ota`` client's checks, in this order, each failure its own
    ``BundleError``: format, namespace, digest, witness key id, witness signature,
    counter-signature, epoch match, no rollback, majority configuration, answering
    replica in the file, vendor attestation. Only when all pass is the epoch recorded in
    ``epochs``; a refused bundle leaves the store as it was.

    With ``trust.variant`` set (an unsafe variant, for the mutation matrix only) each of its
    rules breaks one check: ``accept-one-signature`` skips 6 (counter-signature),
    ``countersign-file-not-signature`` checks 6 over the file's digest instead of the
    witness signature, ``no-file-epoch-check`` skips 7 (statement epoch = file epoch),
    ``no-epoch-check`` 8 (no rollback), ``no-digest-check`` 3 (digest) and
    ``skip-config-check`` 9 (majority). The epoch recorded and checked for rollback is
    always the file's; ``no-epoch-check`` accepts an epoch below the store's without
    recording it (a store never goes down)."""
    rules = trust.rules
    # 1. format: the bundle framing, the statement and the file, all strict.
    data = encode_bundle(bundle) if isinstance(bundle, ValidationBundle) else bundle
    decoded = decode_bundle(data)
    try:
        file = decode_fleet_key_file(decoded.file_bytes)
    except FleetKeyFileError as exc:
        _format(f"file: {type(exc).__name__}: {exc}")
    known = set(file.key_labels())
    for label in decoded.chains:
        if label not in known:
            _format(f"chain {label!r}: no key of the file has that label")
    statement = decoded.statement
    # 2. namespace.
    if statement.namespace != trust.namespace:
        raise NamespaceMismatch(
            f"statement namespace {statement.namespace!r} is not the pinned {trust.namespace!r}"
        )
    if file.namespace != trust.namespace:
        raise NamespaceMismatch(
            f"file namespace {file.namespace!r} is not the pinned {trust.namespace!r}"
        )
    # 3. digest.
    file_digest = digest(decoded.file_bytes)
    if "no-digest-check" not in rules and statement.digest != file_digest:
        raise DigestMismatch(
            f"statement digest {statement.digest.hex()[:16]}… is not SHA-256 of the file "
            f"({file_digest.hex()[:16]}…)"
        )
    # 4. witness key id.
    witness = trust.witness_keys.get(decoded.key_id)
    if witness is None:
        pinned = sorted(trust.witness_keys)
        raise UnknownWitness(f"key id {decoded.key_id} is not a pinned witness (pinned: {pinned})")
    # 5. witness signature.
    try:
        verify_statement(statement, decoded.witness_signature, witness)
    except StatementError as exc:
        raise WitnessSignatureInvalid(str(exc)) from None
    # 6. operator counter-signature over the witness signature bytes.
    if "accept-one-signature" not in rules:
        over_file = "countersign-file-not-signature" in rules
        signed = file_digest if over_file else decoded.witness_signature
        try:
            trust.operator_key.verify(decoded.counter_signature, signed)
        except CryptoError:
            what = "the file's digest" if over_file else "the witness signature"
            raise CounterSignatureInvalid(
                f"the operator counter-signature over {what} of epoch "
                f"{statement.epoch} does not verify under the pinned operator key"
            ) from None
    # 7. statement epoch = file epoch.
    if "no-file-epoch-check" not in rules and statement.epoch != file.epoch:
        raise EpochMismatch(
            f"statement epoch {statement.epoch} is not the file's epoch {file.epoch}"
        )
    # 8. no rollback.
    highest = epochs.highest()
    if "no-epoch-check" not in rules and file.epoch < highest:
        raise EpochRollback(f"epoch {file.epoch} is below the accepted epoch {highest}")
    # 9. majority configuration.
    if "skip-config-check" not in rules:
        _check_majority(file)
    # 10. the answering replica is in the file.
    if answering_replica_key is not None:
        _check_replica(file, answering_replica_key)
    # 11. vendor attestation.
    if trust.client_attestation:
        if trust.attestation_verifier is None:
            raise NoAttestationVerifier(
                "client-attestation is on but no attestation verifier is configured: "
                "configure one, or turn client_attestation off (the no-client-attestation "
                "variant, which trusts the witness and the operator for the keys' origin)"
            )
        try:
            trust.attestation_verifier.verify(file, decoded.chains)
        except AttestationError as exc:
            raise AttestationRejected(f"attestation: {exc}") from exc
    if file.epoch < highest:  # only the no-epoch-check variant gets here
        # The store never goes down: this unsafe client accepts the older epoch without
        # recording it.
        return AcceptedFleet(file, file_digest, statement, decoded.key_id)
    epochs.accept(file.epoch)
    return AcceptedFleet(file, file_digest, statement, decoded.key_id)


# --- helpers ---------------------------------------------------------------------------------


def _check_majority(file: FleetKeyFile) -> None:
    if not is_majority(file):
        raise ConfigurationRejected(
            f"quorum {file.quorum} of {file.replica_count} replicas is not a majority "
            f"(need quorum > {file.replica_count // 2})"
        )


def _check_replica(file: FleetKeyFile, replica_key: VerifyKey) -> None:
    if replica_key not in file.replica_keys():
        raise UnknownReplica(
            f"the answering replica's key {replica_key!r} is not one of the "
            f"{file.replica_count} replicas of fleet {file.fleet_id!r} epoch {file.epoch}"
        )


def _check_epoch(epoch: int) -> None:
    if type(epoch) is not int or not 0 <= epoch <= 2**64 - 1:
        raise BundleError(f"epoch: expected a u64, found {epoch!r}")


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _label_bytes(label: str) -> bytes:
    return label.encode("ascii")


def _check_label(label: object) -> None:
    if not isinstance(label, str):
        _format(f"chain label: expected a string, found {type(label).__name__}")
    if not label.isascii() or not 1 <= len(label) <= MAX_LABEL_BYTES:
        _format(f"chain label: expected 1..{MAX_LABEL_BYTES} ASCII chars, found {len(label)} chars")


def _len(value: object) -> str:
    return f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__


def _format(message: str) -> NoReturn:
    raise BundleFormatError(message) from None


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def take(self, what: str, n: int) -> bytes:
        if n > len(self._data) - self._at:
            _format(f"{what}: expected {n} bytes, found {len(self._data) - self._at}")
        value = self._data[self._at : self._at + n]
        self._at += n
        return value

    def u8(self, what: str) -> int:
        return self.take(what, 1)[0]

    def length(self, what: str, width: int, low: int, high: int) -> int:
        value = int.from_bytes(self.take(what, width), "big")
        if not low <= value <= high:
            _format(f"{what}: expected {low}..{high}, found {value}")
        return value

    def end(self) -> None:
        if self._at != len(self._data):
            _format(f"bundle: expected the end, found {len(self._data) - self._at} trailing bytes")
