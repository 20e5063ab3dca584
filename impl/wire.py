"""impl.wire: the canonical binary encoding of vault requests and responses.

Format (version 2: requests name the record version they were made for)::

    message = version:u8 (= 1) || tag:u8 || field* (in the order of MESSAGE_FORMATS)
    bytes   = length:u16 big-endian || length bytes     (length within the field's bounds)
    secret  = same as bytes, carried in a ``Secret``
    text    = same as bytes, the UTF-8 encoding of a str (must be valid UTF-8)
    u32     = 4 bytes big-endian, 0 .. 2^32-1

Request tags are 0x01..0x06, response tags 0x81..0x8a, so a response is never taken for a
request. There is exactly one encoding of each value: no optional fields, no padding, no
trailing bytes. ``encode_*`` refuses values outside the bounds (so it never produces bytes
the decoder rejects) and ``decode_*`` refuses anything that is not exactly such an
encoding, with a ``WireError`` that names the message, the field, what was expected and
what was found: lengths, tags and versions, never the bytes of a field.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final

from impl.errors import WireError
from impl.messages import (
    BeginRecovery,
    Destroyed,
    NoRecord,
    PasskeyRecoveryInfo,
    PasswordRecoveryInfo,
    RecoverPasskey,
    RecoverPassword,
    Refused,
    Registered,
    RegisterPasskey,
    RegisterPassword,
    Released,
    Request,
    Response,
    Retired,
    RetireRecord,
    Stale,
    WrongGuess,
)
from impl.redact import Secret

FORMAT_VERSION: Final = 2
U32_MAX: Final = 0xFFFFFFFF


class Kind(Enum):
    BYTES = "bytes"
    SECRET = "secret"
    TEXT = "text"
    U32 = "u32"


@dataclass(frozen=True)
class FieldFormat:
    """One field: its name in the dataclass, its kind, and (for byte strings) the
    inclusive bounds on its length in bytes."""

    name: str
    kind: Kind
    min_len: int = 0
    max_len: int = 0


@dataclass(frozen=True)
class MessageFormat:
    tag: int
    fields: tuple[FieldFormat, ...]


def _b(name: str, lo: int, hi: int) -> FieldFormat:
    return FieldFormat(name, Kind.BYTES, lo, hi)


def _s(name: str, lo: int, hi: int) -> FieldFormat:
    return FieldFormat(name, Kind.SECRET, lo, hi)


def _t(name: str, lo: int, hi: int) -> FieldFormat:
    return FieldFormat(name, Kind.TEXT, lo, hi)


def _u(name: str) -> FieldFormat:
    return FieldFormat(name, Kind.U32)


USER: Final = _t("user", 1, 128)
REGISTRATION: Final = _u("registration")
ATTEMPTS: Final = _u("attempts")
REPLACES: Final = _u("replaces")
# a proof of the replaced record's secret: empty, or HKDF-SHA256 output
REPLACE_PROOF: Final = _s("proof", 0, 32)
SALT: Final = _b("salt", 16, 64)  # Argon2id salt (RFC 9106: at least 16 bytes)
ACCESS_KEY: Final = _s("access_key", 32, 32)  # Argon2id output
VAULT_SECRET: Final = _s("secret", 1, 256)  # R (32 bytes) or a recovery code
CREDENTIAL_ID: Final = _b("credential_id", 1, 1023)  # WebAuthn: at most 1023 bytes
COSE_PUBLIC_KEY: Final = _b("cose_public_key", 1, 1024)
PRF_SALT: Final = _b("prf_salt", 16, 64)
SERVER_SHARE: Final = _s("server_share", 32, 32)
CHALLENGE: Final = _b("challenge", 16, 64)
AUTHENTICATOR_DATA: Final = _b("authenticator_data", 37, 4096)  # rpIdHash+flags+count=37
CLIENT_DATA_JSON: Final = _b("client_data_json", 1, 4096)
SIGNATURE: Final = _b("signature", 1, 1024)

MESSAGE_FORMATS: Final[Mapping[type, MessageFormat]] = {
    # requests
    RegisterPassword: MessageFormat(
        0x01, (USER, REPLACES, ATTEMPTS, REPLACE_PROOF, SALT, ACCESS_KEY, VAULT_SECRET)
    ),
    RegisterPasskey: MessageFormat(
        0x02,
        (
            USER,
            REPLACES,
            ATTEMPTS,
            REPLACE_PROOF,
            CREDENTIAL_ID,
            COSE_PUBLIC_KEY,
            PRF_SALT,
            SERVER_SHARE,
        ),
    ),
    BeginRecovery: MessageFormat(0x03, (USER,)),
    RecoverPassword: MessageFormat(0x04, (USER, REGISTRATION, ATTEMPTS, ACCESS_KEY)),
    RecoverPasskey: MessageFormat(
        0x05,
        (
            USER,
            REGISTRATION,
            ATTEMPTS,
            CREDENTIAL_ID,
            AUTHENTICATOR_DATA,
            CLIENT_DATA_JSON,
            SIGNATURE,
        ),
    ),
    RetireRecord: MessageFormat(0x06, (USER, REGISTRATION, ATTEMPTS, _s("proof", 32, 32))),
    # responses
    Registered: MessageFormat(0x81, (REGISTRATION,)),
    PasswordRecoveryInfo: MessageFormat(0x82, (REGISTRATION, ATTEMPTS, SALT)),
    PasskeyRecoveryInfo: MessageFormat(
        0x83, (REGISTRATION, ATTEMPTS, CHALLENGE, CREDENTIAL_ID, PRF_SALT)
    ),
    Released: MessageFormat(0x84, (VAULT_SECRET,)),
    WrongGuess: MessageFormat(0x85, (_u("remaining"),)),
    Destroyed: MessageFormat(0x86, ()),
    NoRecord: MessageFormat(0x87, ()),
    Refused: MessageFormat(0x88, (_t("reason", 0, 1024),)),
    Retired: MessageFormat(0x89, ()),
    Stale: MessageFormat(0x8A, (REGISTRATION, ATTEMPTS)),
}

REQUEST_TYPES: Final = (
    RegisterPassword,
    RegisterPasskey,
    BeginRecovery,
    RecoverPassword,
    RecoverPasskey,
    RetireRecord,
)
RESPONSE_TYPES: Final = (
    Registered,
    PasswordRecoveryInfo,
    PasskeyRecoveryInfo,
    Released,
    WrongGuess,
    Destroyed,
    NoRecord,
    Refused,
    Retired,
    Stale,
)

_REQUEST_BY_TAG: Final[Mapping[int, type]] = {MESSAGE_FORMATS[t].tag: t for t in REQUEST_TYPES}
_RESPONSE_BY_TAG: Final[Mapping[int, type]] = {MESSAGE_FORMATS[t].tag: t for t in RESPONSE_TYPES}


# ---------------------------------------------------------------------------- encoding


def encode_request(r: Request) -> bytes:
    """The canonical encoding of a request; ``WireError`` if a field is out of bounds."""
    if not isinstance(r, REQUEST_TYPES):
        raise WireError(f"not a request: {type(r).__name__}")
    return _encode(r)


def encode_response(r: Response) -> bytes:
    """The canonical encoding of a response; ``WireError`` if a field is out of bounds."""
    if not isinstance(r, RESPONSE_TYPES):
        raise WireError(f"not a response: {type(r).__name__}")
    return _encode(r)


def _encode(message: object) -> bytes:
    name = type(message).__name__
    fmt = MESSAGE_FORMATS[type(message)]
    out = bytearray((FORMAT_VERSION, fmt.tag))
    for f in fmt.fields:
        value = getattr(message, f.name)
        where = f"{name}.{f.name}"
        if f.kind is Kind.U32:
            if type(value) is not int:
                raise WireError(f"{where}: expected an int, found {type(value).__name__}")
            if not 0 <= value <= U32_MAX:
                raise WireError(f"{where}: expected 0..{U32_MAX}, found {value}")
            out += struct.pack(">I", value)
            continue
        raw: bytes
        if f.kind is Kind.SECRET:
            if not isinstance(value, Secret):
                raise WireError(f"{where}: expected a Secret, found {type(value).__name__}")
            raw = value.reveal()
        elif f.kind is Kind.TEXT:
            if not isinstance(value, str):
                raise WireError(f"{where}: expected a str, found {type(value).__name__}")
            try:
                raw = value.encode("utf-8")
            except UnicodeEncodeError:
                raise WireError(f"{where}: not encodable as UTF-8 (lone surrogate)") from None
        else:
            if not isinstance(value, bytes):
                raise WireError(f"{where}: expected bytes, found {type(value).__name__}")
            raw = value
        _check_len(where, f, len(raw))
        out += struct.pack(">H", len(raw)) + raw
    return bytes(out)


def _check_len(where: str, f: FieldFormat, n: int) -> None:
    if not f.min_len <= n <= f.max_len:
        raise WireError(f"{where}: expected {f.min_len}..{f.max_len} bytes, found {n}")


# ---------------------------------------------------------------------------- decoding


def decode_request(data: bytes) -> Request:
    """Strictly decode a request; ``WireError`` on anything but a canonical encoding."""
    message = _decode(data, _REQUEST_BY_TAG, "request")
    if not isinstance(message, REQUEST_TYPES):  # unreachable: the tag table has requests only
        raise WireError(f"request: decoded a {type(message).__name__}")
    return message


def decode_response(data: bytes) -> Response:
    """Strictly decode a response; ``WireError`` on anything but a canonical encoding."""
    message = _decode(data, _RESPONSE_BY_TAG, "response")
    if not isinstance(message, RESPONSE_TYPES):  # unreachable: the tag table has responses only
        raise WireError(f"response: decoded a {type(message).__name__}")
    return message


class _Reader:
    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int, what: str) -> bytes:
        left = len(self._data) - self._pos
        if n > left:
            raise WireError(f"{what}: expected {n} more bytes, found {left} (truncated)")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos


def _decode(data: bytes, by_tag: Mapping[int, type], kind: str) -> object:
    if not isinstance(data, bytes | bytearray):
        raise WireError(f"{kind}: expected bytes, found {type(data).__name__}")
    reader = _Reader(bytes(data))
    version, tag = reader.take(2, f"{kind} header")
    if version != FORMAT_VERSION:
        raise WireError(f"{kind}: expected format version {FORMAT_VERSION}, found {version}")
    cls = by_tag.get(tag)
    if cls is None:
        known = ", ".join(f"0x{t:02x}" for t in sorted(by_tag))
        raise WireError(f"{kind}: unknown type tag 0x{tag:02x}, expected one of {known}")
    fmt = MESSAGE_FORMATS[cls]
    values: dict[str, object] = {}
    for f in fmt.fields:
        where = f"{cls.__name__}.{f.name}"
        if f.kind is Kind.U32:
            (values[f.name],) = struct.unpack(">I", reader.take(4, where))
            continue
        (length,) = struct.unpack(">H", reader.take(2, f"{where} length"))
        _check_len(where, f, length)
        raw = reader.take(length, where)
        if f.kind is Kind.SECRET:
            values[f.name] = Secret(raw)
        elif f.kind is Kind.TEXT:
            try:
                values[f.name] = raw.decode("utf-8", errors="strict")
            except UnicodeDecodeError as exc:
                raise WireError(
                    f"{where}: expected valid UTF-8, found an invalid sequence at byte {exc.start}"
                ) from None
        else:
            values[f.name] = raw
    if reader.remaining:
        raise WireError(
            f"{cls.__name__}: expected end of message, found {reader.remaining} trailing bytes"
        )
    constructor: Callable[..., object] = cls
    return constructor(**values)
