"""The fleet-key file: canonical JSON round trips, and every bad input is a typed error."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl.crypto.ed25519 import SigningKey
from impl.crypto.hpke import FleetKeyPair, KemChoice
from impl.crypto.symmetric import SeededRng
from impl.errors import FleetKeyFileError
from impl.fleetkeys import (
    MAX_FILE_BYTES,
    MAX_REPLICAS,
    DuplicateField,
    FieldRangeError,
    FieldTypeError,
    FleetKeyFile,
    FleetKeyFileNotJson,
    FleetKeyFileTooLarge,
    KeyEncodingError,
    MissingField,
    NonCanonicalFleetKeyFile,
    ReplicaKey,
    RoleCountError,
    UnknownField,
    UnknownRole,
    decode_fleet_key_file,
    digest,
    encode_fleet_key_file,
    is_majority,
)
from impl.statement import DEFAULT_NAMESPACE, U64_MAX

DATACENTERS = ("prn", "lla", "odn", "cln", "ftw")
DOCS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "fleet-keys.rst"


def make_fleet(
    epoch: int = 1,
    replicas: int = 3,
    quorum: int = 2,
    *,
    seed: str = "fleet",
    fleet_id: str = "prn-2026a",
    kem: KemChoice = KemChoice.X25519,
    namespace: str = DEFAULT_NAMESPACE,
) -> FleetKeyFile:
    """A deterministic fleet: keys from ``SeededRng`` under ``seed``."""
    keys = tuple(
        ReplicaKey(
            i,
            DATACENTERS[i % len(DATACENTERS)],
            SigningKey.generate(SeededRng(f"{seed}/replica/{i}".encode())).public_key(),
        )
        for i in range(replicas)
    )
    session = FleetKeyPair.generate(kem, SeededRng(f"{seed}/session".encode())).public_key()
    return FleetKeyFile(
        fleet_id=fleet_id,
        epoch=epoch,
        firmware=hashlib.sha256(f"{seed}/firmware".encode()).digest(),
        quorum=quorum,
        session_key=session,
        replicas=keys,
        namespace=namespace,
    )


GOOD = encode_fleet_key_file(make_fleet())


def _doc() -> dict[str, Any]:
    loaded = json.loads(GOOD)
    assert isinstance(loaded, dict)
    return loaded


def _canon(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _refused(data: bytes, kind: type[FleetKeyFileError], *words: str) -> FleetKeyFileError:
    with pytest.raises(kind) as info:
        decode_fleet_key_file(data)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    return info.value


# --- round trips -------------------------------------------------------------------------------


def test_round_trip_and_exact_shape() -> None:
    f = make_fleet()
    assert decode_fleet_key_file(GOOD) == f
    assert GOOD.startswith(b'{"consensus":{"quorum":2,"replicas":3},"epoch":1,"firmware":"')
    assert GOOD.endswith(b'"namespace":"meta.encrypted_backups.fleet_keys.v1"}')
    assert b" " not in GOOD
    assert b"\n" not in GOOD
    assert digest(GOOD) == hashlib.sha256(GOOD).digest()
    assert f.key_labels() == (
        "session-hpke",
        "replica-identity/0",
        "replica-identity/1",
        "replica-identity/2",
    )


def test_hybrid_session_key_and_the_largest_fleet_round_trip() -> None:
    f = make_fleet(replicas=MAX_REPLICAS, quorum=33, kem=KemChoice.MLKEM768_X25519)
    data = encode_fleet_key_file(f)
    assert len(data) <= MAX_FILE_BYTES
    assert decode_fleet_key_file(data) == f


_IDS = st.from_regex(re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}"), fullmatch=True)


@given(
    replicas=st.integers(1, 7),
    data=st.data(),
    epoch=st.integers(1, U64_MAX),
    fleet_id=_IDS,
    datacenter=_IDS,
    seed=st.integers(0, 2**32),
    firmware=st.binary(min_size=32, max_size=32),
    namespace=st.from_regex(re.compile(r"[\x21-\x7e]{1,40}"), fullmatch=True),
)
def test_round_trip_property(
    replicas: int,
    data: st.DataObject,
    epoch: int,
    fleet_id: str,
    datacenter: str,
    seed: int,
    firmware: bytes,
    namespace: str,
) -> None:
    quorum = data.draw(st.integers(1, replicas))
    f = FleetKeyFile(
        fleet_id=fleet_id,
        epoch=epoch,
        firmware=firmware,
        quorum=quorum,
        session_key=FleetKeyPair.generate("x25519", SeededRng(seed)).public_key(),
        replicas=tuple(
            ReplicaKey(i, datacenter, SigningKey.generate(SeededRng(seed + i + 1)).public_key())
            for i in range(replicas)
        ),
        namespace=namespace,
    )
    encoded = encode_fleet_key_file(f)
    assert decode_fleet_key_file(encoded) == f
    assert encode_fleet_key_file(decode_fleet_key_file(encoded)) == encoded
    assert is_majority(f) == (2 * quorum > replicas)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_refused_with_a_typed_error(data: bytes) -> None:
    with pytest.raises(FleetKeyFileError):
        decode_fleet_key_file(data)


@given(st.integers(0, len(GOOD) - 1), st.integers(1, 255))
def test_any_changed_byte_is_refused_or_is_another_canonical_file(at: int, delta: int) -> None:
    mutated = bytearray(GOOD)
    mutated[at] = (mutated[at] + delta) % 256
    try:
        decoded = decode_fleet_key_file(bytes(mutated))
    except FleetKeyFileError:
        return
    assert encode_fleet_key_file(decoded) == bytes(mutated)
    assert decoded != make_fleet()


# --- the canonical check -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "reformatted",
    [
        json.dumps(json.loads(GOOD), sort_keys=True, indent=2).encode(),
        json.dumps(json.loads(GOOD), sort_keys=True).encode(),  # ", " and ": "
        json.dumps(json.loads(GOOD), sort_keys=False, separators=(",", ":"))
        .replace('"consensus":{"quorum":2,"replicas":3}', '"consensus":{"replicas":3,"quorum":2}')
        .encode(),
        GOOD + b"\n",
        b" " + GOOD,
        GOOD.replace(b'"fleet_id":"prn-2026a"', b'"fleet_id":"\\u0070rn-2026a"'),
        GOOD.replace(b'"epoch":1,', b'"epoch":1 ,'),
    ],
    ids=["indent", "spaces", "reordered", "newline", "leading-space", "escape", "space"],
)
def test_reformatted_json_is_refused_as_non_canonical(reformatted: bytes) -> None:
    assert reformatted != GOOD
    _refused(reformatted, NonCanonicalFleetKeyFile, "canonical")


def test_reordered_top_level_keys_are_refused() -> None:
    doc = _doc()
    reordered = {k: doc[k] for k in reversed(sorted(doc))}
    _refused(json.dumps(reordered, separators=(",", ":")).encode(), NonCanonicalFleetKeyFile)


def test_keys_in_another_order_are_refused() -> None:
    doc = _doc()
    doc["keys"] = [doc["keys"][0], doc["keys"][2], doc["keys"][1], doc["keys"][3]]
    _refused(_canon(doc), NonCanonicalFleetKeyFile)
    doc = _doc()
    doc["keys"] = doc["keys"][1:] + doc["keys"][:1]
    _refused(_canon(doc), NonCanonicalFleetKeyFile)


def test_negative_zero_is_refused_as_non_canonical() -> None:
    # "epoch": -0 parses as 0 and is out of range; quorum -0 likewise. A leading-zero
    # integer is not JSON at all.
    _refused(GOOD.replace(b'"epoch":1,', b'"epoch":01,'), FleetKeyFileNotJson)


# --- syntax ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\xff" + GOOD, ("UTF-8",)),
        (GOOD[:-1], ("not JSON",)),
        (b"", ("not JSON",)),
        (GOOD.replace(b'"epoch":1,', b'"epoch":1.0,'), ("integers only",)),
        (GOOD.replace(b'"epoch":1,', b'"epoch":1e0,'), ("integers only",)),
        (GOOD.replace(b'"epoch":1,', b'"epoch":NaN,'), ("integers only",)),
        (GOOD.replace(b'"epoch":1,', b'"epoch":Infinity,'), ("integers only",)),
        (GOOD.replace(b'"epoch":1,', b'"epoch":' + b"9" * 5000 + b","), ("digits",)),
        (b"\xef\xbb\xbf" + GOOD, ("not JSON",)),
    ],
    ids=["utf8", "truncated", "empty", "float", "exponent", "nan", "inf", "huge-int", "bom"],
)
def test_not_json(data: bytes, words: tuple[str, ...]) -> None:
    _refused(data, FleetKeyFileNotJson, *words)


def test_duplicate_fields_are_refused_at_every_level() -> None:
    _refused(GOOD.replace(b'"epoch":1,', b'"epoch":1,"epoch":1,'), DuplicateField, "'epoch'")
    _refused(GOOD.replace(b'"quorum":2,', b'"quorum":2,"quorum":2,'), DuplicateField, "'quorum'")
    _refused(
        GOOD.replace(b'"role":"session-hpke"', b'"role":"session-hpke","role":"session-hpke"'),
        DuplicateField,
        "'role'",
    )


def test_oversized_input_is_refused_before_parsing() -> None:
    _refused(b" " * (MAX_FILE_BYTES + 1), FleetKeyFileTooLarge, str(MAX_FILE_BYTES))


def test_non_bytes_and_non_objects_are_refused() -> None:
    _refused(b"[]", FieldTypeError, "expected an object")
    _refused(b"1", FieldTypeError)
    with pytest.raises(FieldTypeError):
        decode_fleet_key_file("{}")  # type: ignore[arg-type]


# --- fields ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ((), UnknownField),
        (("consensus",), UnknownField),
        (("keys", 0), UnknownField),
        (("keys", 2), UnknownField),
    ],
)
def test_unknown_fields_are_refused(path: tuple[str | int, ...], kind: type[Exception]) -> None:
    doc = _doc()
    target: Any = doc
    for step in path:
        target = target[step]
    target["zzz_extra"] = 1
    _refused(_canon(doc), UnknownField, "zzz_extra")


@pytest.mark.parametrize(
    "path",
    [
        ("consensus",),
        ("epoch",),
        ("firmware",),
        ("fleet_id",),
        ("keys",),
        ("namespace",),
        ("consensus", "quorum"),
        ("consensus", "replicas"),
        ("keys", 0, "kem"),
        ("keys", 0, "key"),
        ("keys", 0, "role"),
        ("keys", 1, "datacenter"),
        ("keys", 1, "key"),
        ("keys", 1, "replica"),
        ("keys", 1, "role"),
    ],
)
def test_missing_fields_are_refused(path: tuple[str | int, ...]) -> None:
    doc = _doc()
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    _refused(_canon(doc), MissingField, str(path[-1]))


@pytest.mark.parametrize(
    ("path", "value", "kind", "word"),
    [
        (("consensus", "replicas"), 0, FieldRangeError, "consensus.replicas"),
        (("consensus", "replicas"), MAX_REPLICAS + 1, FieldRangeError, "consensus.replicas"),
        (("consensus", "quorum"), 0, FieldRangeError, "consensus.quorum"),
        (("consensus", "quorum"), 4, FieldRangeError, "consensus.quorum"),
        (("consensus", "quorum"), True, FieldTypeError, "consensus.quorum"),
        (("consensus", "quorum"), "2", FieldTypeError, "consensus.quorum"),
        (("epoch",), 0, FieldRangeError, "epoch"),
        (("epoch",), -1, FieldRangeError, "epoch"),
        (("epoch",), U64_MAX + 1, FieldRangeError, "epoch"),
        (("epoch",), None, FieldTypeError, "epoch"),
        (("firmware",), "AB" * 32, FieldRangeError, "firmware"),
        (("firmware",), "ab" * 31, FieldRangeError, "firmware"),
        (("firmware",), 7, FieldTypeError, "firmware"),
        (("fleet_id",), "", FieldRangeError, "fleet_id"),
        (("fleet_id",), "a b", FieldRangeError, "fleet_id"),
        (("fleet_id",), "é", FieldRangeError, "fleet_id"),
        (("namespace",), "", FieldRangeError, "namespace"),
        (("namespace",), "a b", FieldRangeError, "namespace"),
        (("keys",), {}, FieldTypeError, "keys"),
        (("keys", 1), "x", FieldTypeError, "keys[1]"),
        (("keys", 1, "replica"), -1, FieldRangeError, "keys[1].replica"),
        (("keys", 1, "replica"), MAX_REPLICAS, FieldRangeError, "keys[1].replica"),
        (("keys", 1, "datacenter"), "", FieldRangeError, "keys[1].datacenter"),
        (("keys", 0, "kem"), "p256", FieldRangeError, "keys[0].kem"),
        (("keys", 0, "kem"), 1, FieldTypeError, "keys[0].kem"),
        (("keys", 0, "role"), 1, FieldTypeError, "keys[0].role"),
        (("keys", 1, "key"), 1, FieldTypeError, "keys[1].key"),
    ],
)
def test_out_of_range_and_wrong_types_are_refused(
    path: tuple[str | int, ...], value: object, kind: type[FleetKeyFileError], word: str
) -> None:
    doc = _doc()
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    _refused(_canon(doc), kind, word)


def test_unknown_roles_are_refused() -> None:
    for role in ("session", "replica", "witness", "Session-HPKE", ""):
        doc = _doc()
        doc["keys"][1]["role"] = role
        _refused(_canon(doc), UnknownRole, "keys[1].role")


def test_role_counts_are_enforced() -> None:
    doc = _doc()
    doc["keys"] = doc["keys"][1:]
    _refused(_canon(doc), RoleCountError, "exactly one session-hpke, found 0")
    doc = _doc()
    doc["keys"].insert(1, dict(doc["keys"][0]))
    _refused(_canon(doc), RoleCountError, "found 2")
    doc = _doc()
    doc["keys"] = doc["keys"][:-1]
    _refused(_canon(doc), RoleCountError, "expected 3 replica-identity keys")
    doc = _doc()
    doc["keys"][2]["replica"] = 0
    _refused(_canon(doc), RoleCountError, "replica 0 appears twice")
    doc = _doc()
    doc["keys"][3]["replica"] = 5
    _refused(_canon(doc), RoleCountError, "replica 2 is missing")
    doc = _doc()
    doc["keys"][2]["key"] = doc["keys"][1]["key"]
    _refused(_canon(doc), RoleCountError, "repeats")


@pytest.mark.parametrize(
    ("index", "mutate", "word"),
    [
        (1, lambda k: k[:-1], "strict base64"),  # padding missing
        (1, lambda k: k.rstrip("="), "strict base64"),
        (1, lambda k: k[:10] + "!" + k[11:], "strict base64"),
        (1, lambda k: k[:10] + " " + k[10:], "strict base64"),
        (1, lambda k: k.replace("+", "-").replace("/", "_") + ("" if "+" in k else "-"), "base64"),
        (1, lambda k: k[:42] + chr(ord(k[42]) + 1) + "=", "canonical base64"),
        (1, lambda k: base64.b64encode(bytes(31)).decode(), "32-byte key, found 31"),
        (1, lambda k: base64.b64encode(bytes(33)).decode(), "32-byte key, found 33"),
        (0, lambda k: base64.b64encode(bytes(31)).decode(), "32-byte key, found 31"),
        (0, lambda k: base64.b64encode(bytes(32)).decode(), "x25519"),  # small order
        (1, lambda k: "", "32-byte key, found 0"),
    ],
    ids=[
        "short",
        "unpadded",
        "bad-char",
        "space",
        "urlsafe",
        "trailing-bits",
        "ed25519-31",
        "ed25519-33",
        "x25519-31",
        "x25519-small-order",
        "empty",
    ],
)
def test_bad_keys_are_refused(index: int, mutate: Any, word: str) -> None:
    doc = _doc()
    original = doc["keys"][index]["key"]
    doc["keys"][index]["key"] = mutate(original)
    error = _refused(_canon(doc), KeyEncodingError, f"keys[{index}].key", word)
    assert original not in str(error)


def test_constructor_validates_too() -> None:
    good = make_fleet()
    with pytest.raises(FieldRangeError):
        FleetKeyFile(good.fleet_id, 1, good.firmware, 4, good.session_key, good.replicas)
    with pytest.raises(FieldRangeError):
        FleetKeyFile(good.fleet_id, 0, good.firmware, 2, good.session_key, good.replicas)
    with pytest.raises(FieldRangeError):
        FleetKeyFile(good.fleet_id, 1, good.firmware, 1, good.session_key, ())
    with pytest.raises(RoleCountError):
        FleetKeyFile(good.fleet_id, 1, good.firmware, 2, good.session_key, good.replicas[1:] * 2)


def test_is_majority() -> None:
    assert is_majority(make_fleet(replicas=1, quorum=1))
    assert is_majority(make_fleet(replicas=3, quorum=2))
    assert not is_majority(make_fleet(replicas=4, quorum=2))
    assert is_majority(make_fleet(replicas=4, quorum=3))
    assert not is_majority(make_fleet(replicas=5, quorum=1))


# --- the example in the spec -------------------------------------------------------------------


def test_the_example_in_the_spec_is_the_real_encoding() -> None:
    text = DOCS_PAGE.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith('{"consensus"')]
    assert lines, "docs/fleet-keys.rst shows no canonical example"
    example = lines[0].encode()
    assert example == encode_fleet_key_file(make_fleet(seed="docs", fleet_id="prn-2026a"))
    decode_fleet_key_file(example)
    assert digest(example).hex() in text
