"""impl.attestation: the vendor attestation chains of a fleet's keys, and their verifier.

Every key in a fleet-key file (the session HPKE key, each replica's Ed25519 identity key)
comes with a chain the HSM vendor vouches for: the pinned **vendor root** signs a
**device certificate** for one HSM, and that device's key signs a **key attestation**
naming the key, its role, the replica index and the firmware measurement
(``impl.crypto.x509`` builds and reads the certificates; ``docs/attestation.rst`` is the
spec). This module:

- encodes one chain canonically (``AttestationChain``): ``b"VBAC"``, version ``0x01``,
  then the device certificate and the key attestation, each as a 4-byte big-endian
  length and its DER; nothing after; the decoder refuses anything else;
- verifies one chain (``verify_chain``), every check with its own error type, in this
  order: format, the root, linkage (names and key identifiers), signatures, validity at
  ``at``, basic constraints and key usage, the extensions, the attested key, the role, the
  replica index, the firmware allow-list;
- verifies a whole fleet-key file (``VendorAttestationVerifier``, the
  ``client-attestation`` check the bundle verifier calls): every key has a chain under
  its label, no chain is left over, the firmware of every chain is the file's and is
  allowed, each replica's keys were made in one device and no device serves two replicas;
- attests a fleet for the ceremony and the tests (``attest_fleet``).

Labels are those of ``FleetKeyFile.key_labels``: ``replica-identity/<i>`` for replica
*i*'s identity key, attested by replica *i*'s device, and ``session-hpke`` for the fleet's
one session key, attested by **replica 0's device** (one chain per key, as the bundle
carries them). The verifier requires that device to be the one that attests replica 0's
identity key, so the session key is tied to a named replica's HSM, and that no device
attests two replicas. That the other replicas hold the session key only inside HSMs is
vouched for by the firmware measurement the allow-list pins, not by a chain of its own.

Verification is pure: it changes nothing, and the first failed check raises.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from impl.crypto.symmetric import Rng
from impl.crypto.x509 import (
    ED25519_KEY_LEN,
    FIRMWARE_MEASUREMENT_LEN,
    HYBRID_KEY_LEN,
    MAX_CERTIFICATE_LEN,
    OID_ATTESTATION_DESCRIPTION,
    OID_ATTESTED_KEY,
    X25519_KEY_LEN,
    AttestedKeyType,
    CertificateFormatError,
    CertificateInfo,
    HsmDevice,
    VendorCA,
    decode_attestation_description,
    decode_attested_key,
    mirrored_spki_key,
    parse_certificate,
    spki_type,
    subject_key_identifier,
    verify_signature,
)
from impl.errors import AttestationError, ConfigError, WireError
from impl.observe import Observer

ROLE_SESSION: Final = "session-hpke"
ROLE_IDENTITY: Final = "replica-identity"
ROLES: Final = frozenset({ROLE_SESSION, ROLE_IDENTITY})
SESSION_LABEL: Final = ROLE_SESSION
SESSION_ATTESTER: Final = 0

CHAIN_MAGIC: Final = b"VBAC"
CHAIN_VERSION: Final = 1

ROOT: Final = "vendor root"
DEVICE: Final = "device certificate"
LEAF: Final = "key attestation"

# -- errors: one type per failed check -------------------------------------------------


class ChainCheckError(AttestationError):
    """A chain that fails one named check on one named certificate.

    ``label`` is the chain's label (``"replica-identity/2"``) when known, ``certificate``
    is ``"vendor root"``, ``"device certificate"`` or ``"key attestation"`` (or
    ``"chain"``), and ``check`` (a class attribute) names the check."""

    check: str = "attestation"

    def __init__(self, certificate: str, detail: str, label: str | None = None) -> None:
        self.certificate = certificate
        self.detail = detail
        self.label = label
        where = f"chain {label}: " if label is not None else ""
        super().__init__(f"{where}{certificate}: {self.check} check failed: {detail}")


class ChainFormatError(ChainCheckError, WireError):
    """The chain bytes are not the canonical encoding."""

    check = "chain-format"


class CertificateParseError(ChainCheckError, CertificateFormatError):
    """A certificate is not strict DER X.509 v3 signed with Ed25519."""

    check = "certificate-format"


class ChainLinkError(ChainCheckError):
    """A certificate's issuer name or authority key id is not its issuer's."""

    check = "issuer-linkage"


class UntrustedRootError(ChainLinkError):
    """The device certificate was not issued by the pinned vendor root."""

    check = "trusted-root"


class SignatureCheckError(ChainCheckError):
    """A certificate's signature does not verify under its issuer's key."""

    check = "signature"


class ValidityError(ChainCheckError):
    """A certificate is not valid at the verification time."""

    check = "validity"


class CertificateExpiredError(ValidityError):
    """The verification time is after a certificate's notAfter."""

    check = "validity (expired)"


class CertificateNotYetValidError(ValidityError):
    """The verification time is before a certificate's notBefore."""

    check = "validity (not yet valid)"


class BasicConstraintsError(ChainCheckError):
    """basicConstraints absent, not critical, or wrong (CA flag, path length)."""

    check = "basic-constraints"


class KeyUsageError(ChainCheckError):
    """A CA certificate whose key usage does not allow signing certificates."""

    check = "key-usage"


class AttestationExtensionError(ChainCheckError):
    """The key attestation's extensions are missing, malformed or disagree with its SPKI."""

    check = "attestation-extensions"


class AttestedKeyMismatchError(ChainCheckError):
    """The attested key is not the key the file names (or not of its role's type)."""

    check = "attested-key"


class RoleMismatchError(ChainCheckError):
    """The attested role is not the key's role."""

    check = "role"


class ReplicaMismatchError(ChainCheckError):
    """The attested replica index is not the one the chain's label names."""

    check = "replica"


class FirmwareNotAllowedError(ChainCheckError):
    """The attested firmware measurement is not in the client's allow-list."""

    check = "firmware-allowed"


class FirmwareMismatchError(ChainCheckError):
    """The attested firmware measurement is not the one the fleet-key file states."""

    check = "firmware-matches-file"


class MissingChainError(ChainCheckError):
    """A key of the file has no chain."""

    check = "chain-present"


class UnexpectedChainError(ChainCheckError):
    """A chain whose label names no key of the file."""

    check = "no-extra-chain"


class DeviceMismatchError(ChainCheckError):
    """One replica's keys were attested by different devices."""

    check = "same-device"


class DuplicateDeviceError(ChainCheckError):
    """One device attests keys for two replicas (replicas must be distinct HSMs)."""

    check = "distinct-devices"


class FleetShapeError(ChainCheckError):
    """The file's keys cannot be labelled: unknown role, missing or repeated replica."""

    check = "fleet-shape"


# -- the chain and its encoding ---------------------------------------------------------


@dataclass(frozen=True)
class AttestationChain:
    """AttestationChain: the DER of one device certificate and one key attestation."""

    device_der: bytes
    attestation_der: bytes

    def encode(self) -> bytes:
        """AttestationChain.encode: magic, version, then each DER length-prefixed."""
        out = bytearray(CHAIN_MAGIC)
        out.append(CHAIN_VERSION)
        for der in (self.device_der, self.attestation_der):
            if not 1 <= len(der) <= MAX_CERTIFICATE_LEN:
                raise ChainFormatError("chain", f"certificate of {len(der)} bytes")
            out += len(der).to_bytes(4, "big") + der
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes, label: str | None = None) -> AttestationChain:
        """AttestationChain.decode: strict inverse of ``encode``; ``ChainFormatError``."""
        if not isinstance(data, bytes | bytearray):
            raise ChainFormatError("chain", "expected bytes", label)
        data = bytes(data)
        header = len(CHAIN_MAGIC) + 1
        if data[: len(CHAIN_MAGIC)] != CHAIN_MAGIC:
            raise ChainFormatError("chain", "bad magic", label)
        if len(data) < header or data[len(CHAIN_MAGIC)] != CHAIN_VERSION:
            raise ChainFormatError("chain", f"unsupported version, expected {CHAIN_VERSION}", label)
        pos = header
        parts: list[bytes] = []
        for what in (DEVICE, LEAF):
            if pos + 4 > len(data):
                raise ChainFormatError("chain", f"truncated before the {what}", label)
            length = int.from_bytes(data[pos : pos + 4], "big")
            pos += 4
            if not 1 <= length <= MAX_CERTIFICATE_LEN:
                raise ChainFormatError("chain", f"{what} length {length} out of range", label)
            if pos + length > len(data):
                raise ChainFormatError("chain", f"truncated inside the {what}", label)
            parts.append(data[pos : pos + length])
            pos += length
        if pos != len(data):
            raise ChainFormatError("chain", f"{len(data) - pos} trailing bytes", label)
        return cls(parts[0], parts[1])


@dataclass(frozen=True)
class AttestationFacts:
    """AttestationFacts: what a verified chain establishes."""

    device_id: str
    device_public_key: bytes
    device_serial: int
    device_der: bytes
    role: str
    replica: int
    key_type: AttestedKeyType
    attested_key: bytes
    firmware_measurement: bytes


def identity_label(replica: int) -> str:
    """identity_label: the label of replica ``replica``'s identity-key chain."""
    return f"{ROLE_IDENTITY}/{replica}"


def key_type_for(role: str, key: bytes) -> AttestedKeyType:
    """key_type_for: the key type a key of ``role`` with these bytes has: Ed25519 for
    identity keys, X25519 or ML-KEM-768+X25519 (by length) for the session key."""
    if role == ROLE_IDENTITY and len(key) == ED25519_KEY_LEN:
        return AttestedKeyType.ED25519
    if role == ROLE_SESSION and len(key) == X25519_KEY_LEN:
        return AttestedKeyType.X25519
    if role == ROLE_SESSION and len(key) == HYBRID_KEY_LEN:
        return AttestedKeyType.MLKEM768_X25519
    raise FleetShapeError("chain", f"no key type for role {role[:40]!r} with {len(key)} bytes")


# -- verifying one chain -----------------------------------------------------------------


def _aware(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ConfigError("verification time must be timezone-aware")
    return at.astimezone(dt.UTC)


def _parse(der: bytes, what: str, label: str | None) -> CertificateInfo:
    try:
        return parse_certificate(der, what)
    except CertificateFormatError as exc:
        raise CertificateParseError(what, str(exc), label) from None


def _check_root(root: CertificateInfo, label: str | None) -> None:
    if root.issuer_der != root.subject_der:
        raise ChainLinkError(ROOT, "not self-issued", label)
    if root.key_type != "ed25519" or not verify_signature(root.key, root):
        raise SignatureCheckError(ROOT, "self-signature does not verify", label)


def _check_validity(cert: CertificateInfo, what: str, at: dt.datetime, label: str | None) -> None:
    if at < cert.not_before:
        raise CertificateNotYetValidError(
            what, f"valid from {cert.not_before.isoformat()}, checked at {at.isoformat()}", label
        )
    if at > cert.not_after:
        raise CertificateExpiredError(
            what, f"expired {cert.not_after.isoformat()}, checked at {at.isoformat()}", label
        )


def _check_ca(cert: CertificateInfo, what: str, path_length: int | None, label: str | None) -> None:
    constraints = cert.basic_constraints
    if constraints is None or not constraints[2]:
        raise BasicConstraintsError(what, "basicConstraints absent or not critical", label)
    ca, length, _ = constraints
    if not ca:
        raise BasicConstraintsError(what, "not a CA (CA:FALSE)", label)
    if path_length is not None and length != path_length:
        raise BasicConstraintsError(what, f"pathlen {length}, expected {path_length}", label)
    if not cert.key_cert_sign:
        raise KeyUsageError(what, "key usage does not allow keyCertSign", label)


def verify_chain(
    chain_bytes: bytes,
    attested_key: bytes,
    role: str,
    vendor_root_der: bytes,
    allowed_firmware: frozenset[bytes],
    at: dt.datetime,
    *,
    replica: int | None = None,
    label: str | None = None,
) -> AttestationFacts:
    """verify_chain: check that ``chain_bytes`` is a vendor attestation, under the pinned
    ``vendor_root_der``, at time ``at``, that ``attested_key`` is a key of ``role`` made
    in a genuine device running a firmware in ``allowed_firmware`` (and, if given, for
    ``replica``). Returns the facts; raises the ``ChainCheckError`` subclass of the first
    failed check (see the module docstring for the order)."""
    at = _aware(at)
    chain = AttestationChain.decode(chain_bytes, label)
    root = _parse(vendor_root_der, ROOT, label)
    device = _parse(chain.device_der, DEVICE, label)
    leaf = _parse(chain.attestation_der, LEAF, label)

    _check_root(root, label)
    if device.key_type != "ed25519":
        raise CertificateParseError(DEVICE, "device key is not Ed25519", label)
    root_key_id = subject_key_identifier(root.key)
    if device.issuer_der != root.subject_der:
        raise UntrustedRootError(DEVICE, "issuer is not the pinned vendor root", label)
    if device.authority_key_id != root_key_id:
        raise UntrustedRootError(DEVICE, "authority key id is not the pinned root's", label)
    if leaf.issuer_der != device.subject_der:
        raise ChainLinkError(LEAF, "issuer is not the device certificate's subject", label)
    if leaf.authority_key_id != subject_key_identifier(device.key):
        raise ChainLinkError(LEAF, "authority key id is not the device key's", label)

    if not verify_signature(root.key, device):
        raise SignatureCheckError(DEVICE, "signature does not verify under the root key", label)
    if not verify_signature(device.key, leaf):
        raise SignatureCheckError(LEAF, "signature does not verify under the device key", label)

    for cert, what in ((root, ROOT), (device, DEVICE), (leaf, LEAF)):
        _check_validity(cert, what, at, label)

    _check_ca(root, ROOT, None, label)
    _check_ca(device, DEVICE, 0, label)
    constraints = leaf.basic_constraints
    if constraints is None or not constraints[2] or constraints[0]:
        raise BasicConstraintsError(LEAF, "must carry critical CA:FALSE", label)

    raw_description = leaf.extensions.get(OID_ATTESTATION_DESCRIPTION.dotted_string)
    raw_key = leaf.extensions.get(OID_ATTESTED_KEY.dotted_string)
    if raw_description is None or raw_key is None:
        raise AttestationExtensionError(LEAF, "attestation extensions absent", label)
    try:
        description = decode_attestation_description(raw_description)
        key_type, key = decode_attested_key(raw_key)
    except CertificateFormatError as exc:
        raise AttestationExtensionError(LEAF, str(exc), label) from None
    if leaf.key_type != spki_type(key_type) or leaf.key != mirrored_spki_key(key_type, key):
        raise AttestationExtensionError(
            LEAF, "subject public key does not mirror the attested key", label
        )

    if key != bytes(attested_key):
        raise AttestedKeyMismatchError(LEAF, "attests another key", label)
    if description.role != role:
        raise RoleMismatchError(
            LEAF, f"attests role {description.role[:40]!r}, expected {role[:40]!r}", label
        )
    if key_type is not key_type_for(role, key):
        raise AttestedKeyMismatchError(LEAF, f"{key_type.value} is not a {role} key type", label)
    if replica is not None and description.replica != replica:
        raise ReplicaMismatchError(
            LEAF, f"attests replica {description.replica}, expected {replica}", label
        )
    if description.firmware_measurement not in allowed_firmware:
        raise FirmwareNotAllowedError(
            LEAF,
            f"firmware {description.firmware_measurement.hex()[:16]}… is not allowed",
            label,
        )
    return AttestationFacts(
        device_id=device.subject,
        device_public_key=device.key,
        device_serial=device.serial,
        device_der=device.der,
        role=description.role,
        replica=description.replica,
        key_type=key_type,
        attested_key=key,
        firmware_measurement=description.firmware_measurement,
    )


# -- verifying a fleet-key file (the client-attestation check) ---------------------------


class AttestedKeyEntry(Protocol):
    """One key of a fleet-key file as a ``(role, key, replica)`` entry."""

    @property
    def role(self) -> str: ...

    @property
    def key(self) -> bytes: ...

    @property
    def replica(self) -> int | None: ...


@runtime_checkable
class FleetKeysLike(Protocol):
    """A fleet-key file seen as a list of keys (``keys``) and a firmware measurement."""

    @property
    def keys(self) -> Sequence[AttestedKeyEntry]: ...

    @property
    def firmware(self) -> bytes: ...


class _SessionKeyLike(Protocol):
    def public_bytes(self) -> bytes: ...


class _IdentityKeyLike(Protocol):
    def raw(self) -> bytes: ...


class _ReplicaKeyLike(Protocol):
    @property
    def replica(self) -> int: ...

    @property
    def key(self) -> _IdentityKeyLike: ...


@runtime_checkable
class FleetKeyFileLike(Protocol):
    """A fleet-key file as ``impl.fleetkeys.FleetKeyFile`` has it: ``session_key``
    (``public_bytes()``), ``replicas`` (``.replica``, ``.key.raw()``), ``firmware``."""

    @property
    def session_key(self) -> _SessionKeyLike: ...

    @property
    def replicas(self) -> Sequence[_ReplicaKeyLike]: ...

    @property
    def firmware(self) -> bytes: ...


AnyFleetFile = FleetKeysLike | FleetKeyFileLike


class AttestationVerifier(Protocol):
    """What the bundle verifier calls for the ``client-attestation`` check."""

    def verify(self, file: AnyFleetFile, chains: Mapping[str, bytes]) -> None: ...


def fleet_key_entries(file: AnyFleetFile) -> list[tuple[str, bytes, int | None]]:
    """fleet_key_entries: the file's keys as ``(role, key bytes, replica or None)``."""
    if isinstance(file, FleetKeyFileLike):
        entries: list[tuple[str, bytes, int | None]] = [
            (ROLE_SESSION, bytes(file.session_key.public_bytes()), None)
        ]
        entries.extend((ROLE_IDENTITY, bytes(r.key.raw()), r.replica) for r in file.replicas)
        return entries
    return [(str(k.role), bytes(k.key), k.replica) for k in file.keys]


def expected_chains(file: AnyFleetFile) -> dict[str, tuple[str, bytes, int]]:
    """expected_chains: label → (role, key, attesting replica) for every chain the file
    needs: ``replica-identity/<i>`` for each identity key, attested by replica *i*'s
    device, and ``session-hpke`` for the session key, attested by replica 0's device
    (the labels of ``FleetKeyFile.key_labels``); ``FleetShapeError`` if the keys cannot
    be labelled (unknown role, missing or repeated replica index, not one session key,
    no replica 0)."""
    replicas: set[int] = set()
    sessions: list[bytes] = []
    expected: dict[str, tuple[str, bytes, int]] = {}
    for role, key, replica in fleet_key_entries(file):
        if role == ROLE_IDENTITY:
            if not isinstance(replica, int) or isinstance(replica, bool) or replica < 0:
                raise FleetShapeError("chain", "identity key without a replica index")
            if replica in replicas:
                raise FleetShapeError("chain", f"two identity keys for replica {replica}")
            replicas.add(replica)
            expected[identity_label(replica)] = (role, key, replica)
        elif role == ROLE_SESSION:
            if replica is not None:
                raise FleetShapeError("chain", "session key with a replica index")
            sessions.append(key)
        else:
            raise FleetShapeError("chain", f"unknown role {role[:40]!r}")
    if len(sessions) != 1 or SESSION_ATTESTER not in replicas:
        raise FleetShapeError(
            "chain",
            f"{len(sessions)} session keys and replica {SESSION_ATTESTER} "
            f"{'present' if SESSION_ATTESTER in replicas else 'absent'}; need 1 and present",
        )
    expected[SESSION_LABEL] = (ROLE_SESSION, sessions[0], SESSION_ATTESTER)
    return expected


class VendorAttestationVerifier:
    """VendorAttestationVerifier: the ``client-attestation`` check, with the vendor root
    and the firmware allow-list pinned, at a fixed time ``at``."""

    def __init__(
        self, vendor_root_der: bytes, allowed_firmware: frozenset[bytes], at: dt.datetime
    ) -> None:
        for measurement in allowed_firmware:
            if len(measurement) != FIRMWARE_MEASUREMENT_LEN:
                raise ConfigError(
                    f"allowed firmware measurement of {len(measurement)} bytes, "
                    f"expected {FIRMWARE_MEASUREMENT_LEN}"
                )
        _parse(vendor_root_der, ROOT, None)
        self._root: Final = bytes(vendor_root_der)
        self._allowed: Final = frozenset(allowed_firmware)
        self._at: Final = _aware(at)

    def check(self, file: AnyFleetFile, chains: Mapping[str, bytes]) -> dict[str, AttestationFacts]:
        """VendorAttestationVerifier.check: ``verify``, returning each chain's facts."""
        expected = expected_chains(file)
        for label in sorted(expected):
            if label not in chains:
                raise MissingChainError("chain", "no chain for this key", label)
        for label in sorted(chains):
            if label not in expected:
                raise UnexpectedChainError("chain", "names no key of the file", label[:60])
        facts: dict[str, AttestationFacts] = {}
        for label in sorted(expected):
            role, key, replica = expected[label]
            fact = verify_chain(
                chains[label],
                key,
                role,
                self._root,
                self._allowed,
                self._at,
                replica=replica,
                label=label,
            )
            if fact.firmware_measurement != bytes(file.firmware):
                raise FirmwareMismatchError(LEAF, "not the file's firmware measurement", label)
            facts[label] = fact
        devices: dict[bytes, int] = {}
        for label, fact in sorted(facts.items()):
            identity = facts[identity_label(fact.replica)]
            if fact.device_der != identity.device_der:
                raise DeviceMismatchError(
                    DEVICE, f"not the device of replica {fact.replica}'s identity key", label
                )
            owner = devices.setdefault(fact.device_public_key, fact.replica)
            if owner != fact.replica:
                raise DuplicateDeviceError(DEVICE, f"also attests keys of replica {owner}", label)
        return facts

    def verify(self, file: AnyFleetFile, chains: Mapping[str, bytes]) -> None:
        """VendorAttestationVerifier.verify: return if every key of ``file`` has a valid
        chain under its label and no chain is left over; the first failure raises its
        ``ChainCheckError`` subclass. Nothing is changed either way."""
        self.check(file, chains)

    def __repr__(self) -> str:
        return (
            f"VendorAttestationVerifier({len(self._allowed)} firmware, at={self._at.isoformat()})"
        )


# -- attesting a fleet (ceremony and tests) ----------------------------------------------


@dataclass(frozen=True)
class _Entry:
    role: str
    key: bytes
    replica: int | None


@dataclass(frozen=True)
class _KeyList:
    keys: tuple[_Entry, ...]
    firmware: bytes


def attest_key(
    rng: Rng,
    device: HsmDevice,
    role: str,
    key: bytes,
    replica: int,
    firmware: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> bytes:
    """attest_key: the encoded chain in which ``device`` attests ``key`` for ``role`` of
    ``replica`` under ``firmware``."""
    leaf = device.issue_key_attestation(
        rng, key, key_type_for(role, key), role, firmware, replica, not_before, not_after
    )
    return AttestationChain(device.certificate_der(), leaf).encode()


def attest_fleet(
    rng: Rng,
    ca: VendorCA,
    keys: Sequence[tuple[str, bytes, int | None]],
    firmware: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    observer: Observer | None = None,
) -> dict[str, bytes]:
    """attest_fleet: provision one device per replica from ``ca`` (its id drawn from
    ``rng``), have each attest its replica's identity key and replica 0's device the
    session key; the encoded chains, by label. ``keys`` are ``(role, key, replica)`` as
    the fleet-key file has them (replica None for the session key); for a
    ``FleetKeyFile``, pass ``fleet_keyfleet_key_entries(file)``. With an ``observer``
    (``impl.observe``) the vendor records each key it attests (``vendor/attestation``)."""
    shape = _KeyList(tuple(_Entry(r, bytes(k), i) for r, k, i in keys), bytes(firmware))
    expected = expected_chains(shape)
    devices: dict[int, HsmDevice] = {}
    for _, _, replica in sorted(expected.values(), key=lambda e: e[2]):
        if replica not in devices:
            device_id = f"HSM-{rng.random_bytes(6).hex().upper()}"
            devices[replica] = ca.provision_device(rng, device_id, not_before, not_after)
    chains: dict[str, bytes] = {}
    for label in sorted(expected):
        role, key, replica = expected[label]
        if observer is not None:
            observer.record("vendor", "vendor/attestation", key)
        chains[label] = attest_key(
            rng, devices[replica], role, key, replica, firmware, not_before, not_after
        )
    return chains
