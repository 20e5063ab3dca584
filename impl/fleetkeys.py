"""impl.fleetkeys: the fleet-key file, canonical JSON of the fleet's public keys.

One file per fleet epoch. Its SHA-256 is the digest the witness signs (``impl.statement``)
and Meta's ``mbt`` verifier recomputes. The bytes are **canonical JSON**: UTF-8 (in fact
ASCII: ``ensure_ascii``), object keys sorted, no insignificant whitespace, integers only,
no trailing newline, and the ``keys`` list in a fixed order (the session key first, then
the replicas by index). Example shape (wrapped here; the file is one line)::

    {"consensus":{"quorum":2,"replicas":3},"epoch":1,"firmware":"<64 hex>",
     "fleet_id":"prn-2026a",
     "keys":[{"kem":"x25519","key":"<base64>","role":"session-hpke"},
             {"datacenter":"prn","key":"<base64>","replica":0,"role":"replica-identity"},
             ...],
     "namespace":"meta.encrypted_backups.fleet_keys.v1"}

Roles: ``session-hpke`` (the fleet's HPKE public key, exactly once, with its ``kem``) and
``replica-identity`` (one replica's Ed25519 identity key with its datacenter, exactly
``consensus.replicas`` times, replica indexes ``0..n-1`` each once, in order).

``decode_fleet_key_file`` is strict: anything but the canonical encoding of a valid file
is refused with a ``FleetKeyFileError`` subclass whose message names the field, what was
expected and what was found (lengths and types, never key bytes). Nothing is returned
half-decoded. The file's own checks stop at shape and encoding: whether its quorum is a
majority is the client's decision (``is_majority``; ``impl.bundle`` refuses minorities).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Final, NoReturn

from impl.crypto.ed25519 import PUBLIC_KEY_LEN, VerifyKey
from impl.crypto.hpke import FleetPublicKey, KemChoice, decode_fleet_public_key
from impl.crypto.symmetric import sha256
from impl.errors import CryptoError, FleetKeyFileError
from impl.statement import DEFAULT_NAMESPACE, U64_MAX

MAX_FILE_BYTES: Final = 64 * 1024
MAX_REPLICAS: Final = 64
FIRMWARE_LEN: Final = 32
ROLE_SESSION: Final = "session-hpke"
ROLE_REPLICA: Final = "replica-identity"
ROLES: Final = (ROLE_SESSION, ROLE_REPLICA)

_MAX_INT_DIGITS: Final = 24
_NAMESPACE_RE: Final = re.compile(r"[\x21-\x7e]{1,255}")
_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEX64_RE: Final = re.compile(r"[0-9a-f]{64}")

_TOP_FIELDS: Final = frozenset({"consensus", "epoch", "firmware", "fleet_id", "keys", "namespace"})
_CONSENSUS_FIELDS: Final = frozenset({"quorum", "replicas"})
_SESSION_FIELDS: Final = frozenset({"kem", "key", "role"})
_REPLICA_FIELDS: Final = frozenset({"datacenter", "key", "replica", "role"})


class FleetKeyFileTooLarge(FleetKeyFileError):
    """The input is longer than ``MAX_FILE_BYTES``."""


class FleetKeyFileNotJson(FleetKeyFileError):
    """Not UTF-8, not JSON, or JSON with floats, non-finite numbers or huge integers."""


class DuplicateField(FleetKeyFileError):
    """A JSON object names the same field twice."""


class NonCanonicalFleetKeyFile(FleetKeyFileError):
    """Valid content, but not the canonical bytes (whitespace, key order, escapes, list order)."""


class UnknownField(FleetKeyFileError):
    """A field this version of the file does not define."""


class MissingField(FleetKeyFileError):
    """A field the file must have is absent."""


class FieldTypeError(FleetKeyFileError):
    """A field of the wrong JSON type (for instance a string where an integer belongs)."""


class FieldRangeError(FleetKeyFileError):
    """A field of the right type whose value is out of range or badly formatted."""


class UnknownRole(FleetKeyFileError):
    """A key whose ``role`` is neither ``session-hpke`` nor ``replica-identity``."""


class RoleCountError(FleetKeyFileError):
    """Wrong number of keys of a role, or replica indexes missing or repeated."""


class KeyEncodingError(FleetKeyFileError):
    """A key that is not strict, canonical base64 of a valid key of the right length."""


@dataclass(frozen=True)
class ReplicaKey:
    """One replica's Ed25519 identity key and the datacenter that hosts it."""

    replica: int
    datacenter: str
    key: VerifyKey


@dataclass(frozen=True)
class FleetKeyFile:
    """The content of a fleet-key file. Constructing one validates it (``FleetKeyFileError``
    subclasses), so every instance encodes to a file ``decode_fleet_key_file`` accepts."""

    fleet_id: str
    epoch: int
    firmware: bytes
    quorum: int
    session_key: FleetPublicKey
    replicas: tuple[ReplicaKey, ...]
    namespace: str = DEFAULT_NAMESPACE

    def __post_init__(self) -> None:
        _check_str("namespace", self.namespace, _NAMESPACE_RE, "1..255 printable ASCII chars")
        _check_str("fleet_id", self.fleet_id, _ID_RE, "1..64 chars of [A-Za-z0-9._-]")
        _check_int("epoch", self.epoch, 1, U64_MAX)
        if not isinstance(self.firmware, bytes) or len(self.firmware) != FIRMWARE_LEN:
            found = len(self.firmware) if isinstance(self.firmware, bytes) else "non-bytes"
            _fail(FieldRangeError, f"firmware: expected {FIRMWARE_LEN} bytes, found {found}")
        if not isinstance(self.session_key, FleetPublicKey):
            _fail(FieldTypeError, "session key: expected a FleetPublicKey")
        n = len(self.replicas)
        if not 1 <= n <= MAX_REPLICAS:
            _fail(FieldRangeError, f"consensus.replicas: expected 1..{MAX_REPLICAS}, found {n}")
        _check_int("consensus.quorum", self.quorum, 1, n)
        seen: set[bytes] = set()
        for index, replica in enumerate(self.replicas):
            if not isinstance(replica, ReplicaKey) or not isinstance(replica.key, VerifyKey):
                _fail(FieldTypeError, f"replica {index}: expected a ReplicaKey with a VerifyKey")
            if replica.replica != index:
                _fail(
                    RoleCountError,
                    f"replica-identity: expected replica index {index}, found {replica.replica}",
                )
            _check_str(
                f"replica {index} datacenter",
                replica.datacenter,
                _ID_RE,
                "1..64 chars of [A-Za-z0-9._-]",
            )
            raw = replica.key.raw()
            if raw in seen:
                _fail(RoleCountError, f"replica {index}: identity key repeats another replica's")
            seen.add(raw)

    @property
    def replica_count(self) -> int:
        """consensus.replicas: the number of replicas, ``len(replicas)``."""
        return len(self.replicas)

    def replica_keys(self) -> frozenset[VerifyKey]:
        """The replicas' identity keys."""
        return frozenset(r.key for r in self.replicas)

    def key_labels(self) -> tuple[str, ...]:
        """A label per key, in file order: ``session-hpke``, ``replica-identity/0``, ...
        (attestation chains in a validation bundle are named by these labels)."""
        return (ROLE_SESSION, *(f"{ROLE_REPLICA}/{r.replica}" for r in self.replicas))


def is_majority(f: FleetKeyFile) -> bool:
    """is_majority: whether any two quorums of the file's configuration intersect
    (``2 * quorum > replicas``), the only configurations a client accepts."""
    return 2 * f.quorum > f.replica_count


def digest(file_bytes: bytes) -> bytes:
    """digest: SHA-256 of the exact file bytes, what the witness signs."""
    return sha256(bytes(file_bytes))


def encode_fleet_key_file(f: FleetKeyFile) -> bytes:
    """encode_fleet_key_file: the canonical bytes of ``f``."""
    keys: list[dict[str, object]] = [
        {
            "kem": f.session_key.kem.value,
            "key": _b64(f.session_key.public_bytes()),
            "role": ROLE_SESSION,
        }
    ]
    keys.extend(
        {
            "datacenter": r.datacenter,
            "key": _b64(r.key.raw()),
            "replica": r.replica,
            "role": ROLE_REPLICA,
        }
        for r in f.replicas
    )
    document = {
        "consensus": {"quorum": f.quorum, "replicas": f.replica_count},
        "epoch": f.epoch,
        "firmware": f.firmware.hex(),
        "fleet_id": f.fleet_id,
        "keys": keys,
        "namespace": f.namespace,
    }
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return text.encode("ascii")


def decode_fleet_key_file(data: bytes) -> FleetKeyFile:
    """decode_fleet_key_file: the file whose canonical encoding is ``data``; a
    ``FleetKeyFileError`` subclass naming the field for anything else."""
    if not isinstance(data, bytes | bytearray):
        _fail(FieldTypeError, f"fleet-key file: expected bytes, found {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_FILE_BYTES:
        _fail(
            FleetKeyFileTooLarge,
            f"fleet-key file: expected at most {MAX_FILE_BYTES} bytes, found {len(data)}",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(FleetKeyFileNotJson, f"fleet-key file: not UTF-8 (byte offset {exc.start})")
    try:
        document = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_int=_bounded_int,
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as exc:
        _fail(FleetKeyFileNotJson, f"fleet-key file: not JSON ({exc.msg} at offset {exc.pos})")
    except RecursionError:
        _fail(FleetKeyFileNotJson, "fleet-key file: JSON nested too deeply")
    top = _object("fleet-key file", document, _TOP_FIELDS)
    consensus = _object("consensus", top["consensus"], _CONSENSUS_FIELDS)
    replicas = _int("consensus.replicas", consensus["replicas"], 1, MAX_REPLICAS)
    quorum = _int("consensus.quorum", consensus["quorum"], 1, replicas)
    epoch = _int("epoch", top["epoch"], 1, U64_MAX)
    firmware = _str("firmware", top["firmware"], _HEX64_RE, "64 lowercase hex digits")
    fleet_id = _str("fleet_id", top["fleet_id"], _ID_RE, "1..64 chars of [A-Za-z0-9._-]")
    namespace = _str("namespace", top["namespace"], _NAMESPACE_RE, "1..255 printable ASCII")
    session_key, replica_keys = _keys(top["keys"], replicas)
    result = FleetKeyFile(
        fleet_id=fleet_id,
        epoch=epoch,
        firmware=bytes.fromhex(firmware),
        quorum=quorum,
        session_key=session_key,
        replicas=replica_keys,
        namespace=namespace,
    )
    if encode_fleet_key_file(result) != data:
        _fail(
            NonCanonicalFleetKeyFile,
            "fleet-key file: valid content but not the canonical bytes (expected sorted "
            "keys, no whitespace, ASCII escapes, the session key first and replicas in order)",
        )
    return result


def _keys(value: object, replicas: int) -> tuple[FleetPublicKey, tuple[ReplicaKey, ...]]:
    if not isinstance(value, list):
        _fail(FieldTypeError, f"keys: expected a list, found {_json_type(value)}")
    sessions: list[FleetPublicKey] = []
    found: dict[int, ReplicaKey] = {}
    for position, entry in enumerate(value):
        where = f"keys[{position}]"
        if not isinstance(entry, dict):
            _fail(FieldTypeError, f"{where}: expected an object, found {_json_type(entry)}")
        if "role" not in entry:
            _fail(MissingField, f"{where}.role: missing")
        role = entry["role"]
        if not isinstance(role, str):
            _fail(FieldTypeError, f"{where}.role: expected a string, found {_json_type(role)}")
        if role == ROLE_SESSION:
            fields = _object(where, entry, _SESSION_FIELDS)
            kem_name = fields["kem"]
            if not isinstance(kem_name, str):
                _fail(
                    FieldTypeError, f"{where}.kem: expected a string, found {_json_type(kem_name)}"
                )
            try:
                kem = KemChoice(kem_name)
            except ValueError:
                known = ", ".join(k.value for k in KemChoice)
                _fail(
                    FieldRangeError,
                    f"{where}.kem: expected one of {known}, found {kem_name[:40]!r}",
                )
            raw = _key_bytes(f"{where}.key", fields["key"], kem.public_key_len)
            try:
                sessions.append(decode_fleet_public_key(kem, raw))
            except CryptoError as exc:
                _fail(KeyEncodingError, f"{where}.key: {exc}")
        elif role == ROLE_REPLICA:
            fields = _object(where, entry, _REPLICA_FIELDS)
            index = _int(f"{where}.replica", fields["replica"], 0, MAX_REPLICAS - 1)
            datacenter = _str(
                f"{where}.datacenter", fields["datacenter"], _ID_RE, "1..64 chars of [A-Za-z0-9._-]"
            )
            raw = _key_bytes(f"{where}.key", fields["key"], PUBLIC_KEY_LEN)
            try:
                verify_key = VerifyKey.from_bytes(raw)
            except CryptoError as exc:
                _fail(KeyEncodingError, f"{where}.key: {exc}")
            if index in found:
                _fail(RoleCountError, f"{where}.replica: replica {index} appears twice")
            found[index] = ReplicaKey(index, datacenter, verify_key)
        else:
            _fail(
                UnknownRole,
                f"{where}.role: expected {ROLE_SESSION!r} or {ROLE_REPLICA!r}, found {role[:40]!r}",
            )
    if len(sessions) != 1:
        _fail(RoleCountError, f"keys: expected exactly one {ROLE_SESSION}, found {len(sessions)}")
    if len(found) != replicas:
        _fail(
            RoleCountError,
            f"keys: expected {replicas} {ROLE_REPLICA} keys (consensus.replicas), "
            f"found {len(found)}",
        )
    missing = sorted(set(range(replicas)) - found.keys())
    if missing:
        _fail(
            RoleCountError,
            f"keys: replica indexes must be 0..{replicas - 1}; replica {missing[0]} is missing",
        )
    return sessions[0], tuple(found[i] for i in range(replicas))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _key_bytes(where: str, value: object, expected_len: int) -> bytes:
    if not isinstance(value, str):
        _fail(FieldTypeError, f"{where}: expected a base64 string, found {_json_type(value)}")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        _fail(KeyEncodingError, f"{where}: not strict base64 (standard alphabet, padded)")
    if _b64(raw) != value:
        _fail(KeyEncodingError, f"{where}: not canonical base64 (padding or trailing bits)")
    if len(raw) != expected_len:
        _fail(
            KeyEncodingError, f"{where}: expected a {expected_len}-byte key, found {len(raw)} bytes"
        )
    return raw


def _object(where: str, value: object, fields: frozenset[str]) -> dict[str, object]:
    if not isinstance(value, dict):
        _fail(FieldTypeError, f"{where}: expected an object, found {_json_type(value)}")
    unknown = sorted(set(value) - fields)
    if unknown:
        _fail(UnknownField, f"{where}: unknown field {unknown[0][:40]!r}")
    missing = sorted(fields - set(value))
    if missing:
        _fail(MissingField, f"{where}: missing field {missing[0]!r}")
    return value


def _int(where: str, value: object, low: int, high: int) -> int:
    if type(value) is not int:
        _fail(FieldTypeError, f"{where}: expected an integer, found {_json_type(value)}")
    _check_int(where, value, low, high)
    return value


def _str(where: str, value: object, pattern: re.Pattern[str], expected: str) -> str:
    if not isinstance(value, str):
        _fail(FieldTypeError, f"{where}: expected a string, found {_json_type(value)}")
    _check_str(where, value, pattern, expected)
    return value


def _check_int(where: str, value: int, low: int, high: int) -> None:
    if type(value) is not int:
        _fail(FieldTypeError, f"{where}: expected an integer, found {type(value).__name__}")
    if not low <= value <= high:
        shown = value if abs(value) < 10**30 else "a huge integer"
        _fail(FieldRangeError, f"{where}: expected {low}..{high}, found {shown}")


def _check_str(where: str, value: str, pattern: re.Pattern[str], expected: str) -> None:
    if not isinstance(value, str):
        _fail(FieldTypeError, f"{where}: expected a string, found {type(value).__name__}")
    if pattern.fullmatch(value) is None:
        _fail(
            FieldRangeError, f"{where}: expected {expected}, found {len(value)} chars not matching"
        )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for name, value in pairs:
        if name in result:
            _fail(DuplicateField, f"fleet-key file: field {name[:40]!r} appears twice in an object")
        result[name] = value
    return result


def _no_float(text: str) -> NoReturn:
    _fail(
        FleetKeyFileNotJson,
        f"fleet-key file: expected integers only, found a number with a "
        f"fraction or exponent ({len(text)} chars)",
    )


def _no_constant(text: str) -> NoReturn:
    _fail(FleetKeyFileNotJson, f"fleet-key file: expected integers only, found {text[:10]}")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        _fail(
            FleetKeyFileNotJson,
            f"fleet-key file: expected integers of at most {_MAX_INT_DIGITS} digits, "
            f"found {len(text)} chars",
        )
    return int(text)


def _fail(kind: type[FleetKeyFileError], message: str) -> NoReturn:
    # ``from None``: the library's own exception (which may quote input bytes) is dropped.
    raise kind(message) from None
