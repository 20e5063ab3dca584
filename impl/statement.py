"""impl.statement: the witness's signed statement, byte-compatible with Plexi.

One statement per fleet-key epoch and namespace. The signed bytes are the protobuf (proto2)
encoding of::

    message SignatureMessage {
      uint32 ciphersuite = 1;   // 0x0001: protobuf + Ed25519
      string namespace   = 2;   // meta.encrypted_backups.fleet_keys.v1 by default
      uint64 timestamp   = 3;   // milliseconds since the Unix epoch
      Epoch  epoch       = 4;   // message Epoch { uint64 inner = 1; }
      bytes  digest      = 5;   // SHA-256 of the fleet-key file: 32 bytes
    }

with every field present, in field order (what Plexi's encoder emits, and what its test
vectors verify against). The signature is Ed25519 by the witness; the **key id** is the
last byte of the witness's public key. Only ciphersuite 1 is implemented: ciphersuite 2
(Plexi's other encoding) is refused with ``UnsupportedCiphersuite``, never guessed at.

The encoder is written here rather than taken from a protobuf library: five fields of two
wire types, and a decoder strict enough to refuse every non-canonical encoding (unknown or
repeated fields, fields out of order, non-minimal varints), which a general protobuf
parser would accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from impl.crypto.ed25519 import SigningKey, VerifyKey
from impl.errors import CryptoError, StatementError, UnsupportedCiphersuite

CIPHERSUITE_ED25519_PROTOBUF: Final = 0x0001
DEFAULT_NAMESPACE: Final = "meta.encrypted_backups.fleet_keys.v1"
DIGEST_LEN: Final = 32
SIGNATURE_LEN: Final = 64
MAX_NAMESPACE: Final = 255
U32_MAX: Final = 2**32 - 1
U64_MAX: Final = 2**64 - 1

_VARINT: Final = 0
_LEN: Final = 2


@dataclass(frozen=True)
class SignatureMessage:
    """SignatureMessage: what the witness signs for one epoch (see the module docstring)."""

    ciphersuite: int
    namespace: str
    timestamp_ms: int
    epoch: int
    digest: bytes

    def __post_init__(self) -> None:
        for name, value in (
            ("ciphersuite", self.ciphersuite),
            ("timestamp", self.timestamp_ms),
            ("epoch", self.epoch),
        ):
            if type(value) is not int:
                raise StatementError(f"{name} must be an int, got {type(value).__name__}")
        if not 0 <= self.ciphersuite <= U32_MAX:
            raise StatementError(f"ciphersuite must be a u32, got {self.ciphersuite}")
        if not isinstance(self.namespace, str):
            raise StatementError(f"namespace must be a str, got {type(self.namespace).__name__}")
        try:
            encoded = self.namespace.encode("utf-8", errors="strict")
        except UnicodeEncodeError:
            # A lone surrogate (from JSON's "\ud800", say) has no UTF-8 encoding.
            raise StatementError("namespace must be valid Unicode (no lone surrogate)") from None
        if not 1 <= len(encoded) <= MAX_NAMESPACE:
            raise StatementError(
                f"namespace must be 1..{MAX_NAMESPACE} bytes of UTF-8, got {len(encoded)}"
            )
        for name, value in (("timestamp", self.timestamp_ms), ("epoch", self.epoch)):
            if not 0 <= value <= U64_MAX:
                raise StatementError(f"{name} must be a u64, got {value}")
        if not isinstance(self.digest, bytes):
            raise StatementError(f"digest must be bytes, got {type(self.digest).__name__}")
        if len(self.digest) != DIGEST_LEN:
            raise StatementError(f"digest must be {DIGEST_LEN} bytes, got {len(self.digest)}")

    def encode(self) -> bytes:
        """encode: the exact bytes the witness signs (ciphersuite 1 only)."""
        if self.ciphersuite != CIPHERSUITE_ED25519_PROTOBUF:
            raise UnsupportedCiphersuite(
                f"ciphersuite {self.ciphersuite} is not supported (only 1: protobuf+Ed25519)"
            )
        epoch = _key(1, _VARINT) + _varint(self.epoch)
        namespace = self.namespace.encode()
        return b"".join(
            (
                _key(1, _VARINT) + _varint(self.ciphersuite),
                _key(2, _LEN) + _varint(len(namespace)) + namespace,
                _key(3, _VARINT) + _varint(self.timestamp_ms),
                _key(4, _LEN) + _varint(len(epoch)) + epoch,
                _key(5, _LEN) + _varint(len(self.digest)) + self.digest,
            )
        )


def key_id(verify_key: VerifyKey) -> int:
    """key_id: Plexi's key id, the last byte of the Ed25519 public key."""
    return verify_key.raw()[-1]


def sign_statement(message: SignatureMessage, signing_key: SigningKey) -> bytes:
    """sign_statement: the witness's Ed25519 signature over ``message.encode()``."""
    return signing_key.sign(message.encode())


def verify_statement(message: SignatureMessage, signature: bytes, verify_key: VerifyKey) -> None:
    """verify_statement: raise ``StatementError`` unless ``signature`` is the key's over
    ``message`` (``UnsupportedCiphersuite`` for anything but ciphersuite 1)."""
    if len(signature) != SIGNATURE_LEN:
        raise StatementError(f"signature must be {SIGNATURE_LEN} bytes, got {len(signature)}")
    data = message.encode()
    try:
        verify_key.verify(signature, data)
    except CryptoError:
        raise StatementError(
            f"the witness signature over epoch {message.epoch} of {message.namespace!r} "
            f"does not verify under key id {key_id(verify_key)}"
        ) from None


def decode_statement(data: bytes) -> SignatureMessage:
    """decode_statement: the canonical encoding back to a message; ``StatementError`` for
    anything else (unknown, missing, repeated or reordered fields, non-minimal varints,
    trailing bytes; ``UnsupportedCiphersuite`` for any ciphersuite but 1)."""
    reader = _Reader(bytes(data))
    ciphersuite = reader.varint_field(1, U32_MAX)
    namespace_bytes = reader.bytes_field(2)
    timestamp = reader.varint_field(3, U64_MAX)
    inner = _Reader(reader.bytes_field(4))
    epoch = inner.varint_field(1, U64_MAX)
    inner.end("Epoch")
    digest = reader.bytes_field(5)
    reader.end("SignatureMessage")
    try:
        namespace = namespace_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise StatementError("namespace is not valid UTF-8") from None
    if ciphersuite != CIPHERSUITE_ED25519_PROTOBUF:
        # Refused, never guessed at: no other ciphersuite's encoding can be re-made here.
        raise UnsupportedCiphersuite(
            f"ciphersuite {ciphersuite} is not supported (only 1: protobuf+Ed25519)"
        )
    message = SignatureMessage(ciphersuite, namespace, timestamp, epoch, digest)
    if message.encode() != data:
        raise StatementError("statement bytes are not the canonical encoding")
    return message


def _key(field_number: int, wire_type: int) -> bytes:
    return _varint(field_number << 3 | wire_type)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def _raw_varint(self) -> int:
        value = shift = 0
        start = self._at
        while True:
            if self._at >= len(self._data):
                raise StatementError("truncated varint")
            byte = self._data[self._at]
            self._at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift > 63:
                raise StatementError("varint longer than 10 bytes")
        if _varint(value) != self._data[start : self._at]:
            raise StatementError("non-minimal varint")
        return value

    def _expect(self, field_number: int, wire_type: int) -> None:
        if self._at >= len(self._data):
            raise StatementError(f"field {field_number} is missing")
        key = self._raw_varint()
        if key != field_number << 3 | wire_type:
            raise StatementError(
                f"expected field {field_number} (wire type {wire_type}), found field "
                f"{key >> 3} (wire type {key & 7})"
            )

    def varint_field(self, field_number: int, maximum: int) -> int:
        self._expect(field_number, _VARINT)
        value = self._raw_varint()
        if value > maximum:
            raise StatementError(f"field {field_number} out of range")
        return value

    def bytes_field(self, field_number: int) -> bytes:
        self._expect(field_number, _LEN)
        length = self._raw_varint()
        if length > len(self._data) - self._at:
            raise StatementError(f"field {field_number} runs past the end")
        value = self._data[self._at : self._at + length]
        self._at += length
        return value

    def end(self, what: str) -> None:
        if self._at != len(self._data):
            raise StatementError(f"{len(self._data) - self._at} trailing bytes after {what}")
