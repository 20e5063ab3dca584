"""impl.crypto.x509: a simulated HSM vendor's certificates, over ``cryptography.x509``.

The vendor attests, for each key the vault firmware makes inside an HSM, that the key was
generated in a genuine device running firmware *m*. The chain has three certificates:

- **vendor root** (``VendorCA``): self-signed, ``CA:TRUE, pathlen:1``, ``keyCertSign``;
  the client pins its DER;
- **device certificate**: issued by the root to one HSM's device key, ``CA:TRUE,
  pathlen:0``, ``keyCertSign``; the device key never leaves the HSM and signs only key
  attestations (the shape of Android key attestation's batch/attestation key, and of
  the device certificates HSM vendors burn in at manufacture);
- **key attestation**: a leaf issued by the *device key*, ``CA:FALSE``, carrying the
  attested key and, in an extension, the role, replica index and firmware measurement.

All three keys are **Ed25519**: its signatures are deterministic (no nonce), so a seeded
``Rng`` gives byte-identical DER, and it needs no parameters that could be chosen badly.
A real vendor may well use ECDSA P-256/P-384 or RSA; nothing above this module depends on
the signature algorithm except that it is one fixed algorithm, checked strictly.

Extensions (all non-critical, the way Android's ``KeyDescription`` is) live under the
arc ``2.25.180610521868400180474849477927135058252`` (``VAULTBENCH_ARC``), an OID derived
from a random UUID as ITU-T X.667 allows anyone to do, so it collides with no one:

- ``VAULTBENCH_ARC.1.1`` **attestation description**::

      AttestationDescription ::= SEQUENCE {
          version             INTEGER (1),
          role                UTF8String,      -- "session-hpke" | "replica-identity"
          replica             INTEGER (0..65535),
          firmwareMeasurement OCTET STRING (SIZE (32)) }

- ``VAULTBENCH_ARC.1.2`` **attested key**::

      AttestedKey ::= SEQUENCE {
          keyType  UTF8String,                 -- "ed25519" | "x25519" | "mlkem768-x25519"
          key      OCTET STRING }              -- the raw public key, as the fleet file has it

The attested-key extension is the authoritative statement of the key. The leaf's subject
public key mirrors it where X.509 can carry the key (RFC 8410): the Ed25519 identity key
itself, the X25519 session key itself, and for the ML-KEM-768+X25519 hybrid (which has
no X.509 encoding ``cryptography`` supports) its X25519 half; the verifier requires the
two to agree. The extensions' DER is written and read by a small strict codec here
(four ASN.1 types, minimal lengths and integers, no trailing bytes).

Every key and serial number comes from an injected ``Rng``; validity dates are passed in
(timezone-aware, whole seconds). Nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from impl.crypto.symmetric import Rng
from impl.errors import AttestationError, CryptoError, WireError

VAULTBENCH_ARC: Final = "2.25.180610521868400180474849477927135058252"
OID_ATTESTATION_DESCRIPTION: Final = x509.ObjectIdentifier(VAULTBENCH_ARC + ".1.1")
OID_ATTESTED_KEY: Final = x509.ObjectIdentifier(VAULTBENCH_ARC + ".1.2")

DESCRIPTION_VERSION: Final = 1
FIRMWARE_MEASUREMENT_LEN: Final = 32
MAX_REPLICA: Final = 65535
SERIAL_BYTES: Final = 16
ED25519_KEY_LEN: Final = 32
X25519_KEY_LEN: Final = 32
MLKEM768_KEY_LEN: Final = 1184
HYBRID_KEY_LEN: Final = MLKEM768_KEY_LEN + X25519_KEY_LEN
MAX_CERTIFICATE_LEN: Final = 16 * 1024
MAX_ROLE_BYTES: Final = 64

_DER: Final = serialization.Encoding.DER
_PEM: Final = serialization.Encoding.PEM


class AttestedKeyType(StrEnum):
    """The type of an attested public key, as the attested-key extension names it."""

    ED25519 = "ed25519"
    X25519 = "x25519"
    MLKEM768_X25519 = "mlkem768-x25519"

    @property
    def key_len(self) -> int:
        return {
            AttestedKeyType.ED25519: ED25519_KEY_LEN,
            AttestedKeyType.X25519: X25519_KEY_LEN,
            AttestedKeyType.MLKEM768_X25519: HYBRID_KEY_LEN,
        }[self]


class CertificateFormatError(AttestationError, WireError):
    """Bytes that are not one strict DER (or PEM) X.509 certificate of the expected shape,
    or an extension of ours that does not decode."""


# -- issuing ---------------------------------------------------------------------------


def _serial(rng: Rng) -> int:
    # 127 random bits, never zero: positive and well under RFC 5280's 20 octets.
    return (int.from_bytes(rng.random_bytes(SERIAL_BYTES), "big") >> 1) or 1


def _ed25519_from_rng(rng: Rng) -> ed25519.Ed25519PrivateKey:
    seed = rng.random_bytes(ED25519_KEY_LEN)
    if len(seed) != ED25519_KEY_LEN:
        raise CryptoError(f"Ed25519 seed: expected {ED25519_KEY_LEN} bytes, found {len(seed)}")
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def _check_time(what: str, when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise CryptoError(f"{what} must be timezone-aware")
    if when.microsecond:
        raise CryptoError(f"{what} must be a whole second (X.509 validity has no fractions)")
    return when.astimezone(dt.UTC)


def _check_validity(not_before: dt.datetime, not_after: dt.datetime) -> None:
    start = _check_time("not_before", not_before)
    end = _check_time("not_after", not_after)
    if end < start:
        raise CryptoError("not_after is before not_before")


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    if not 1 <= len(common_name) <= 64:
        raise CryptoError(f"common name must be 1 to 64 characters, got {len(common_name)}")
    attributes = []
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _ca_key_usage(key_cert_sign: bool = True) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not key_cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage(key_type: AttestedKeyType) -> x509.KeyUsage:
    signing = key_type is AttestedKeyType.ED25519
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not signing,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(_DER)


class VendorCA:
    """VendorCA: the simulated HSM manufacturer's root. Its private key stays inside."""

    __slots__ = ("_certificate", "_key", "_name")

    def __init__(
        self, key: ed25519.Ed25519PrivateKey, name: str, certificate: x509.Certificate
    ) -> None:
        # Use ``VendorCA.generate``.
        self._key: Final = key
        self._name: Final = name
        self._certificate: Final = certificate

    @classmethod
    def generate(
        cls, rng: Rng, name: str, not_before: dt.datetime, not_after: dt.datetime
    ) -> VendorCA:
        """VendorCA.generate: a root whose Ed25519 key and serial come from ``rng``, valid
        from ``not_before`` to ``not_after`` (timezone-aware, whole seconds)."""
        _check_validity(not_before, not_after)
        key = _ed25519_from_rng(rng)
        subject = _name(f"{name} Root CA", name)
        public = key.public_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(_serial(rng))
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, None)
        )
        return cls(key, name, certificate)

    @property
    def name(self) -> str:
        return self._name

    def root_der(self) -> bytes:
        """VendorCA.root_der: the root certificate, DER; what clients pin."""
        return _der(self._certificate)

    def issue_device_certificate(
        self,
        rng: Rng,
        device_id: str,
        device_public_key: bytes,
        not_before: dt.datetime,
        not_after: dt.datetime,
        *,
        ca: bool = True,
        path_length: int | None = 0,
        key_cert_sign: bool = True,
    ) -> bytes:
        """VendorCA.issue_device_certificate: the DER certificate binding ``device_id`` to
        the 32-byte Ed25519 ``device_public_key`` (``CA:TRUE, pathlen:0``).

        ``ca``, ``path_length`` and ``key_cert_sign`` exist to simulate a vendor that
        mis-issues (the verifier's tests); a correct vendor leaves them alone."""
        _check_validity(not_before, not_after)
        public = _ed25519_public(device_public_key)
        root_public = self._key.public_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(device_id, self._name))
            .issuer_name(self._certificate.subject)
            .public_key(public)
            .serial_number(_serial(rng))
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
                critical=True,
            )
            .add_extension(_ca_key_usage(key_cert_sign), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_public), critical=False
            )
            .sign(self._key, None)
        )
        return _der(certificate)

    def provision_device(
        self,
        rng: Rng,
        device_id: str,
        not_before: dt.datetime,
        not_after: dt.datetime,
        *,
        ca: bool = True,
        path_length: int | None = 0,
        key_cert_sign: bool = True,
    ) -> HsmDevice:
        """VendorCA.provision_device: manufacture one HSM: a device key from ``rng`` and
        its certificate from this CA (keywords as for ``issue_device_certificate``)."""
        key = _ed25519_from_rng(rng)
        public = key.public_key().public_bytes_raw()
        der = self.issue_device_certificate(
            rng,
            device_id,
            public,
            not_before,
            not_after,
            ca=ca,
            path_length=path_length,
            key_cert_sign=key_cert_sign,
        )
        return HsmDevice(key, device_id, der)

    def __repr__(self) -> str:
        return f"VendorCA(name={self._name!r}, private=<redacted>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("VendorCA cannot be pickled")


class HsmDevice:
    """HsmDevice: one simulated HSM's device key and the vendor's certificate for it."""

    __slots__ = ("_certificate_der", "_certificate_name", "_device_id", "_key")

    def __init__(
        self, key: ed25519.Ed25519PrivateKey, device_id: str, certificate_der: bytes
    ) -> None:
        # Use ``VendorCA.provision_device``.
        self._key: Final = key
        self._device_id: Final = device_id
        self._certificate_der: Final = bytes(certificate_der)
        self._certificate_name: Final = load_certificate_der(certificate_der, "device").subject

    @property
    def device_id(self) -> str:
        return self._device_id

    def certificate_der(self) -> bytes:
        """HsmDevice.certificate_der: the device certificate the vendor issued, DER."""
        return self._certificate_der

    def public_key(self) -> bytes:
        """HsmDevice.public_key: the 32-byte Ed25519 device public key."""
        return self._key.public_key().public_bytes_raw()

    def issue_key_attestation(
        self,
        rng: Rng,
        attested_public_key_bytes: bytes,
        key_type: AttestedKeyType,
        role: str,
        firmware_measurement: bytes,
        replica: int,
        not_before: dt.datetime,
        not_after: dt.datetime,
    ) -> bytes:
        """HsmDevice.issue_key_attestation: the DER leaf, signed by the device key, stating
        that the key ``attested_public_key_bytes`` of ``key_type`` was made in this device,
        for ``role`` of ``replica``, running firmware ``firmware_measurement`` (32 bytes)."""
        _check_validity(not_before, not_after)
        key_type = AttestedKeyType(key_type)
        spki = _subject_public_key(key_type, attested_public_key_bytes)
        description = encode_attestation_description(role, replica, firmware_measurement)
        attested = encode_attested_key(key_type, attested_public_key_bytes)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{role} key of replica {replica}", self._device_id))
            .issuer_name(self._certificate_name)
            .public_key(spki)
            .serial_number(_serial(rng))
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_key_usage(key_type), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.UnrecognizedExtension(OID_ATTESTATION_DESCRIPTION, description),
                critical=False,
            )
            .add_extension(x509.UnrecognizedExtension(OID_ATTESTED_KEY, attested), critical=False)
            .sign(self._key, None)
        )
        return _der(certificate)

    def __repr__(self) -> str:
        return f"HsmDevice(device_id={self._device_id!r}, private=<redacted>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("HsmDevice cannot be pickled")


def _ed25519_public(data: bytes) -> ed25519.Ed25519PublicKey:
    if len(data) != ED25519_KEY_LEN:
        raise CryptoError(f"Ed25519 public key: expected {ED25519_KEY_LEN} bytes, got {len(data)}")
    try:
        return ed25519.Ed25519PublicKey.from_public_bytes(bytes(data))
    except ValueError:
        raise CryptoError("Ed25519 public key: not a valid encoding") from None


_SubjectKey = ed25519.Ed25519PublicKey | x25519.X25519PublicKey


def _subject_public_key(key_type: AttestedKeyType, data: bytes) -> _SubjectKey:
    """The SPKI that mirrors an attested key (see the module docstring)."""
    if len(data) != key_type.key_len:
        raise CryptoError(
            f"{key_type.value} key: expected {key_type.key_len} bytes, got {len(data)}"
        )
    try:
        if key_type is AttestedKeyType.ED25519:
            return ed25519.Ed25519PublicKey.from_public_bytes(bytes(data))
        if key_type is AttestedKeyType.MLKEM768_X25519:
            mlkem.MLKEM768PublicKey.from_public_bytes(bytes(data[:MLKEM768_KEY_LEN]))
        return x25519.X25519PublicKey.from_public_bytes(bytes(data[-X25519_KEY_LEN:]))
    except ValueError:
        raise CryptoError(f"{key_type.value} key: not a valid encoding") from None


# -- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateInfo:
    """CertificateInfo: what a verifier reads from one certificate, as plain values.

    ``subject_der`` and ``issuer_der`` are the DER of the names (linkage is byte
    equality); ``basic_constraints`` is ``(ca, path_length, critical)`` or None if absent;
    ``key_type`` is ``"ed25519"``, ``"x25519"`` or ``"other"`` (``key`` empty then);
    ``extensions`` maps our private OIDs (dotted strings) to their raw DER values.
    """

    der: bytes
    subject: str
    subject_der: bytes
    issuer_der: bytes
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    key_type: str
    key: bytes
    basic_constraints: tuple[bool, int | None, bool] | None
    key_cert_sign: bool
    subject_key_id: bytes | None
    authority_key_id: bytes | None
    extensions: dict[str, bytes]
    tbs: bytes
    signature: bytes


def load_certificate_der(data: bytes, what: str) -> x509.Certificate:
    """load_certificate_der: exactly one DER certificate, v3, signed with Ed25519;
    ``CertificateFormatError`` naming ``what`` otherwise (trailing bytes included)."""
    if not isinstance(data, bytes | bytearray):
        raise CertificateFormatError(f"{what} certificate: expected bytes")
    if not 1 <= len(data) <= MAX_CERTIFICATE_LEN:
        raise CertificateFormatError(
            f"{what} certificate: {len(data)} bytes, expected 1 to {MAX_CERTIFICATE_LEN}"
        )
    try:
        with warnings.catch_warnings():
            # cryptography warns (and will refuse) a serial that is not positive: refused
            # below, so the warning is noise here.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            certificate = x509.load_der_x509_certificate(bytes(data))
            version = certificate.version
            serial = certificate.serial_number
        # The parser is lazy: parse now every field a verifier reads later (names,
        # validity, extensions, key), so a malformed one is a format error here and not
        # a ValueError or TypeError from an attribute access in ``parse_certificate``.
        _ = certificate.extensions
        _ = certificate.public_key()
        _ = common_name(certificate.subject), certificate.subject.public_bytes()
        _ = common_name(certificate.issuer), certificate.issuer.public_bytes()
        _ = certificate.not_valid_before_utc, certificate.not_valid_after_utc
        _ = certificate.signature, certificate.tbs_certificate_bytes
    except Exception:  # the parser raises ValueError, TypeError, InvalidVersion ... on garbage
        raise CertificateFormatError(f"{what} certificate: not a DER X.509 certificate") from None
    if serial <= 0:
        raise CertificateFormatError(f"{what} certificate: serial number must be positive")
    if version is not x509.Version.v3:
        raise CertificateFormatError(f"{what} certificate: version must be v3")
    if certificate.signature_algorithm_oid != SignatureAlgorithmOID.ED25519:
        raise CertificateFormatError(f"{what} certificate: signature algorithm must be Ed25519")
    if _der(certificate) != bytes(data):
        raise CertificateFormatError(f"{what} certificate: not in canonical DER")
    return certificate


def parse_certificate(data: bytes, what: str) -> CertificateInfo:
    """parse_certificate: ``load_certificate_der`` then the values a verifier checks."""
    certificate = load_certificate_der(data, what)
    extensions = certificate.extensions
    constraints: tuple[bool, int | None, bool] | None = None
    key_cert_sign = False
    ski: bytes | None = None
    aki: bytes | None = None
    ours: dict[str, bytes] = {}
    for extension in extensions:
        value = extension.value
        if isinstance(value, x509.BasicConstraints):
            constraints = (value.ca, value.path_length, extension.critical)
        elif isinstance(value, x509.KeyUsage):
            key_cert_sign = value.key_cert_sign
        elif isinstance(value, x509.SubjectKeyIdentifier):
            ski = value.digest
        elif isinstance(value, x509.AuthorityKeyIdentifier):
            aki = value.key_identifier
        elif isinstance(value, x509.UnrecognizedExtension) and value.oid.dotted_string.startswith(
            VAULTBENCH_ARC + "."
        ):
            ours[value.oid.dotted_string] = value.value
    key = certificate.public_key()
    key_type, raw = "other", b""
    if isinstance(key, ed25519.Ed25519PublicKey):
        key_type, raw = "ed25519", key.public_bytes_raw()
    elif isinstance(key, x25519.X25519PublicKey):
        key_type, raw = "x25519", key.public_bytes_raw()
    return CertificateInfo(
        der=bytes(data),
        subject=common_name(certificate.subject),
        subject_der=certificate.subject.public_bytes(),
        issuer_der=certificate.issuer.public_bytes(),
        serial=certificate.serial_number,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        key_type=key_type,
        key=raw,
        basic_constraints=constraints,
        key_cert_sign=key_cert_sign,
        subject_key_id=ski,
        authority_key_id=aki,
        extensions=ours,
        tbs=certificate.tbs_certificate_bytes,
        signature=certificate.signature,
    )


def certificate_to_pem(der: bytes, what: str = "a") -> str:
    """certificate_to_pem: the PEM text of one DER certificate (checked first)."""
    return load_certificate_der(der, what).public_bytes(_PEM).decode("ascii")


def certificate_from_pem(text: str | bytes, what: str = "a") -> bytes:
    """certificate_from_pem: the DER of exactly one PEM certificate, nothing around it but
    whitespace; ``CertificateFormatError`` otherwise."""
    raw = text.encode("ascii", errors="replace") if isinstance(text, str) else bytes(text)
    try:
        certificates = x509.load_pem_x509_certificates(raw)
        if len(certificates) != 1:
            raise CertificateFormatError(
                f"{what} certificate: expected one PEM certificate, found {len(certificates)}"
            )
        der = _der(certificates[0])
        armoured = certificates[0].public_bytes(_PEM)
    except CertificateFormatError:
        raise
    except Exception:  # ValueError, and InvalidVersion for a version field out of range
        raise CertificateFormatError(f"{what} certificate: not PEM") from None
    if armoured.strip() != raw.strip():
        raise CertificateFormatError(f"{what} certificate: extra text around the PEM block")
    load_certificate_der(der, what)
    return der


def verify_signature(issuer_public_key: bytes, certificate: CertificateInfo) -> bool:
    """verify_signature: whether ``certificate``'s Ed25519 signature verifies under the
    32-byte ``issuer_public_key`` (False also for a key that is not a valid point)."""
    try:
        key = ed25519.Ed25519PublicKey.from_public_bytes(issuer_public_key)
        key.verify(certificate.signature, certificate.tbs)
    except (ValueError, InvalidSignature):
        return False
    return True


# -- the extensions' DER ---------------------------------------------------------------

_INTEGER: Final = 0x02
_OCTET_STRING: Final = 0x04
_UTF8_STRING: Final = 0x0C
_SEQUENCE: Final = 0x30


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _uint(value: int) -> bytes:
    return _tlv(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


class _Reader:
    """A strict DER reader over one buffer: minimal lengths, no indefinite form."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    def _fail(self, detail: str) -> CertificateFormatError:
        return CertificateFormatError(f"{self._what}: {detail}")

    def read(self, tag: int) -> bytes:
        data, pos = self._data, self._pos
        if pos + 2 > len(data):
            raise self._fail("truncated")
        if data[pos] != tag:
            raise self._fail(f"expected tag 0x{tag:02x}, found 0x{data[pos]:02x}")
        first = data[pos + 1]
        pos += 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 4 or pos + count > len(data):
                raise self._fail("bad length")
            length = int.from_bytes(data[pos : pos + count], "big")
            if length < 0x80 or data[pos] == 0:
                raise self._fail("non-minimal length")
            pos += count
        if pos + length > len(data):
            raise self._fail("truncated")
        self._pos = pos + length
        return data[pos : pos + length]

    def read_uint(self, maximum: int) -> int:
        content = self.read(_INTEGER)
        if not content or content[0] & 0x80:
            raise self._fail("integer must be non-negative")
        if len(content) > 1 and content[0] == 0 and not content[1] & 0x80:
            raise self._fail("non-minimal integer")
        value = int.from_bytes(content, "big")
        if value > maximum:
            raise self._fail(f"integer {value} above {maximum}")
        return value

    def read_utf8(self) -> str:
        try:
            return self.read(_UTF8_STRING).decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail("UTF8String is not UTF-8") from None

    def end(self) -> None:
        if self._pos != len(self._data):
            raise self._fail(f"{len(self._data) - self._pos} trailing bytes")


def encode_attestation_description(role: str, replica: int, firmware_measurement: bytes) -> bytes:
    """encode_attestation_description: the DER of ``AttestationDescription``."""
    if not 1 <= len(role.encode()) <= MAX_ROLE_BYTES:
        raise CryptoError(f"role must be 1 to {MAX_ROLE_BYTES} bytes of UTF-8")
    if not 0 <= replica <= MAX_REPLICA:
        raise CryptoError(f"replica index must be in 0..{MAX_REPLICA}, got {replica}")
    if len(firmware_measurement) != FIRMWARE_MEASUREMENT_LEN:
        raise CryptoError(
            f"firmware measurement must be {FIRMWARE_MEASUREMENT_LEN} bytes, "
            f"got {len(firmware_measurement)}"
        )
    content = (
        _uint(DESCRIPTION_VERSION)
        + _tlv(_UTF8_STRING, role.encode())
        + _uint(replica)
        + _tlv(_OCTET_STRING, bytes(firmware_measurement))
    )
    return _tlv(_SEQUENCE, content)


@dataclass(frozen=True)
class AttestationDescription:
    """The decoded attestation-description extension."""

    role: str
    replica: int
    firmware_measurement: bytes


def decode_attestation_description(data: bytes) -> AttestationDescription:
    """decode_attestation_description: strict inverse of the encoder."""
    what = "attestation description extension"
    outer = _Reader(bytes(data), what)
    inner = _Reader(outer.read(_SEQUENCE), what)
    outer.end()
    version = inner.read_uint(MAX_REPLICA)
    if version != DESCRIPTION_VERSION:
        raise CertificateFormatError(f"{what}: version {version}, expected {DESCRIPTION_VERSION}")
    role = inner.read_utf8()
    replica = inner.read_uint(MAX_REPLICA)
    firmware = inner.read(_OCTET_STRING)
    inner.end()
    if len(firmware) != FIRMWARE_MEASUREMENT_LEN:
        raise CertificateFormatError(
            f"{what}: firmware measurement of {len(firmware)} bytes, "
            f"expected {FIRMWARE_MEASUREMENT_LEN}"
        )
    if not 1 <= len(role.encode("utf-8")) <= MAX_ROLE_BYTES:
        # The encoder's bound: a longer role would decode to a value it cannot re-encode.
        raise CertificateFormatError(
            f"{what}: role of {len(role.encode('utf-8'))} bytes, expected 1 to {MAX_ROLE_BYTES}"
        )
    return AttestationDescription(role, replica, firmware)


def encode_attested_key(key_type: AttestedKeyType, key: bytes) -> bytes:
    """encode_attested_key: the DER of ``AttestedKey``."""
    key_type = AttestedKeyType(key_type)
    if len(key) != key_type.key_len:
        raise CryptoError(
            f"{key_type.value} key: expected {key_type.key_len} bytes, got {len(key)}"
        )
    return _tlv(_SEQUENCE, _tlv(_UTF8_STRING, key_type.value.encode()) + _tlv(_OCTET_STRING, key))


def decode_attested_key(data: bytes) -> tuple[AttestedKeyType, bytes]:
    """decode_attested_key: strict inverse of the encoder: the key type and raw key."""
    what = "attested key extension"
    outer = _Reader(bytes(data), what)
    inner = _Reader(outer.read(_SEQUENCE), what)
    outer.end()
    name = inner.read_utf8()
    key = inner.read(_OCTET_STRING)
    inner.end()
    try:
        key_type = AttestedKeyType(name)
    except ValueError:
        raise CertificateFormatError(f"{what}: unknown key type {name[:40]!r}") from None
    if len(key) != key_type.key_len:
        raise CertificateFormatError(
            f"{what}: {key_type.value} key of {len(key)} bytes, expected {key_type.key_len}"
        )
    return key_type, key


def mirrored_spki_key(key_type: AttestedKeyType, key: bytes) -> bytes:
    """mirrored_spki_key: what the leaf's SPKI must hold for an attested key (see the module
    docstring): the key itself, or the hybrid's trailing X25519 key."""
    return key[-X25519_KEY_LEN:] if key_type is AttestedKeyType.MLKEM768_X25519 else key


def spki_type(key_type: AttestedKeyType) -> str:
    """spki_type: the ``public_key_raw`` type the leaf's SPKI must have for ``key_type``."""
    return "ed25519" if key_type is AttestedKeyType.ED25519 else "x25519"


def subject_key_identifier(public_key: bytes) -> bytes:
    """subject_key_identifier: RFC 5280 method 1 (SHA-1 of the key bits) of an Ed25519
    key, as the issuing code puts it in SKI and AKI."""
    return x509.SubjectKeyIdentifier.from_public_key(_ed25519_public(public_key)).digest


def common_name(name: x509.Name) -> str:
    """common_name: the name's CN, or its RFC 4514 string if it has none."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else name.rfc4514_string()
