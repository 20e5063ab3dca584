"""The witness statement: Plexi's own vectors, strict decoding, typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl.crypto.ed25519 import SigningKey, VerifyKey
from impl.crypto.symmetric import SeededRng
from impl.errors import StatementError, UnsupportedCiphersuite
from impl.statement import (
    DEFAULT_NAMESPACE,
    SignatureMessage,
    decode_statement,
    key_id,
    sign_statement,
    verify_statement,
)

VECTORS = (
    Path(__file__).resolve().parents[2] / "shared" / "vectors" / "plexi-signature-vectors.json"
)


def _vectors() -> list[dict[str, object]]:
    if not VECTORS.exists():  # pragma: no cover - CI runs with ../shared beside the repo
        pytest.skip(f"Plexi vectors not found at {VECTORS}")
    loaded = json.loads(VECTORS.read_text())
    assert isinstance(loaded, list)
    return loaded


def _message(vector: dict[str, object]) -> SignatureMessage:
    return SignatureMessage(
        int(str(vector["ciphersuite"])),
        str(vector["namespace"]),
        int(str(vector["timestamp"])),
        int(str(vector["epoch"])),
        bytes.fromhex(str(vector["digest"])),
    )


def test_plexi_ciphersuite_1_vector_verifies() -> None:
    vector = next(v for v in _vectors() if v["ciphersuite"] == 1)
    key = VerifyKey.from_bytes(bytes.fromhex(str(vector["verifying_key"])))
    assert key_id(key) == vector["key_id"]
    verify_statement(_message(vector), bytes.fromhex(str(vector["signature"])), key)


def test_plexi_vector_signed_again_gives_the_same_signature() -> None:
    vector = next(v for v in _vectors() if v["ciphersuite"] == 1)

    class _Fixed:
        def random_bytes(self, n: int) -> bytes:
            return bytes.fromhex(str(vector["signing_key"]))[:n]

    signing = SigningKey.generate(_Fixed())
    assert signing.public_key().raw().hex() == vector["verifying_key"]
    assert sign_statement(_message(vector), signing).hex() == vector["signature"]


def test_ciphersuite_2_is_refused_as_unsupported() -> None:
    vector = next(v for v in _vectors() if v["ciphersuite"] == 2)
    key = VerifyKey.from_bytes(bytes.fromhex(str(vector["verifying_key"])))
    with pytest.raises(UnsupportedCiphersuite):
        verify_statement(_message(vector), bytes.fromhex(str(vector["signature"])), key)


def test_any_changed_field_fails_verification() -> None:
    vector = next(v for v in _vectors() if v["ciphersuite"] == 1)
    key = VerifyKey.from_bytes(bytes.fromhex(str(vector["verifying_key"])))
    signature = bytes.fromhex(str(vector["signature"]))
    good = _message(vector)
    for changed in (
        SignatureMessage(1, good.namespace + "x", good.timestamp_ms, good.epoch, good.digest),
        SignatureMessage(1, good.namespace, good.timestamp_ms + 1, good.epoch, good.digest),
        SignatureMessage(1, good.namespace, good.timestamp_ms, good.epoch + 1, good.digest),
        SignatureMessage(1, good.namespace, good.timestamp_ms, good.epoch, bytes(32)),
    ):
        with pytest.raises(StatementError, match="does not verify"):
            verify_statement(changed, signature, key)
    with pytest.raises(StatementError, match="64 bytes"):
        verify_statement(good, signature[:-1], key)


messages = st.builds(
    SignatureMessage,
    st.just(1),
    st.text(min_size=1, max_size=40).filter(lambda s: len(s.encode()) <= 255),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
)


@given(messages)
def test_encoding_round_trips(message: SignatureMessage) -> None:
    assert decode_statement(message.encode()) == message


@given(messages, st.data())
def test_every_truncation_and_extension_is_refused(
    message: SignatureMessage, data: st.DataObject
) -> None:
    encoded = message.encode()
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(StatementError):
        decode_statement(encoded[:cut])
    with pytest.raises(StatementError):
        decode_statement(encoded + data.draw(st.binary(min_size=1, max_size=4)))


def test_non_canonical_encodings_are_refused() -> None:
    message = SignatureMessage(1, DEFAULT_NAMESPACE, 5, 1, bytes(32))
    encoded = message.encode()
    # a non-minimal varint for the ciphersuite (0x81 0x00 instead of 0x01)
    with pytest.raises(StatementError, match="non-minimal"):
        decode_statement(encoded[:1] + b"\x81\x00" + encoded[2:])
    # fields out of order: namespace first
    with pytest.raises(StatementError, match="expected field 1"):
        decode_statement(encoded[2:] + encoded[:2])


def test_bad_values_are_typed_errors() -> None:
    with pytest.raises(StatementError, match="digest"):
        SignatureMessage(1, DEFAULT_NAMESPACE, 0, 1, b"short")
    with pytest.raises(StatementError, match="namespace"):
        SignatureMessage(1, "", 0, 1, bytes(32))
    with pytest.raises(StatementError, match="epoch"):
        SignatureMessage(1, DEFAULT_NAMESPACE, 0, -1, bytes(32))


def test_a_fresh_witness_key_signs_and_verifies() -> None:
    witness = SigningKey.generate(SeededRng(4))
    message = SignatureMessage(1, DEFAULT_NAMESPACE, 1_700_000_000_000, 2, bytes(range(32)))
    verify_statement(message, sign_statement(message, witness), witness.public_key())
