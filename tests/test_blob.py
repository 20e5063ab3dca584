"""Tests of impl.blob: the chunked, header-authenticated backup blob (STREAM over AES-GCM)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl.blob import (
    FIXED_HEADER_LEN,
    MAGIC,
    MAX_METADATA_LEN,
    BlobHeader,
    decrypt_backup,
    encrypt_backup,
    read_header,
)
from impl.crypto.symmetric import GCM_TAG_LEN, SeededRng
from impl.errors import (
    BlobAuthenticationError,
    BlobError,
    BlobFormatError,
    BlobTruncatedError,
    CryptoError,
    VaultbenchError,
)
from impl.method import Method
from impl.redact import Secret

R = Secret(bytes(range(32)))
OTHER = Secret(bytes(range(1, 33)))
CS = 16  # small chunks so that a few hundred bytes make many chunks
STRIDE = CS + GCM_TAG_LEN


def make(
    plaintext: bytes, *, chunk_size: int = CS, metadata: bytes = b"meta", seed: int = 1
) -> bytes:
    return encrypt_backup(
        R, plaintext, Method.PASSWORD, metadata=metadata, chunk_size=chunk_size, rng=SeededRng(seed)
    )


def split(blob: bytes) -> tuple[bytes, list[bytes]]:
    """Header bytes and the list of sealed chunks (by position)."""
    hlen = len(read_header(blob))
    body = blob[hlen:]
    stride = read_header(blob).chunk_size + GCM_TAG_LEN
    return blob[:hlen], [body[i : i + stride] for i in range(0, len(body), stride)]


# -- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "chunks"),
    [(0, 1), (1, 1), (CS - 1, 1), (CS, 1), (CS + 1, 2), (2 * CS, 2), (10 * CS + 3, 11)],
)
def test_round_trip_and_chunk_count(size: int, chunks: int) -> None:
    plaintext = bytes(i % 251 for i in range(size))
    blob = make(plaintext)
    _, sealed = split(blob)
    assert len(sealed) == chunks
    assert all(len(c) == STRIDE for c in sealed[:-1])
    assert decrypt_backup(R, blob) == plaintext


def test_empty_plaintext_is_one_empty_final_chunk() -> None:
    blob = make(b"")
    header, sealed = split(blob)
    assert sealed == [blob[len(header) :]]
    assert len(sealed[0]) == GCM_TAG_LEN
    assert decrypt_backup(R, blob) == b""


def test_default_chunk_size_many_chunks() -> None:
    plaintext = bytes(200_000)
    blob = encrypt_backup(R, plaintext, Method.KEY64)
    assert read_header(blob).chunk_size == 65536
    assert decrypt_backup(R, blob) == plaintext


@given(
    plaintext=st.binary(max_size=300),
    chunk_size=st.integers(1, 64),
    metadata=st.binary(max_size=40),
    method=st.sampled_from(list(Method)),
)
def test_round_trip_property(
    plaintext: bytes, chunk_size: int, metadata: bytes, method: Method
) -> None:
    blob = encrypt_backup(R, plaintext, method, metadata=metadata, chunk_size=chunk_size)
    header = read_header(blob)
    assert header.method is method
    assert header.metadata == metadata
    assert header.chunk_size == chunk_size
    assert decrypt_backup(R, blob) == plaintext


def test_header_fields_and_layout() -> None:
    blob = make(b"x" * 40, metadata=b"wrapped-key")
    header = read_header(blob)
    assert blob[:4] == MAGIC
    assert header.version == 1
    assert header.method is Method.PASSWORD
    assert blob[5] == Method.PASSWORD.wire_id
    assert len(header.salt) == 32
    assert len(header.nonce_prefix) == 7
    assert len(header) == FIXED_HEADER_LEN + len(b"wrapped-key") == 53 + 11
    assert header.encode() == blob[: len(header)]
    assert "wrapped-key" not in repr(header)


def test_fresh_salt_per_blob() -> None:
    a = encrypt_backup(R, b"same", Method.KEY64)
    b = encrypt_backup(R, b"same", Method.KEY64)
    assert read_header(a).salt != read_header(b).salt
    assert a != b


def test_seeded_rng_is_deterministic() -> None:
    assert make(b"abc", seed=7) == make(b"abc", seed=7)


# -- the attacks ------------------------------------------------------------------------


PLAIN = bytes(range(100))  # 7 chunks of 16 (the last holds 4 bytes)


def test_wrong_key() -> None:
    with pytest.raises(BlobAuthenticationError):
        decrypt_backup(OTHER, make(PLAIN))


def test_wrong_key_empty_plaintext() -> None:
    with pytest.raises(BlobAuthenticationError):
        decrypt_backup(OTHER, make(b""))


@given(data=st.data())
def test_any_single_bit_flip_is_a_typed_error(data: st.DataObject) -> None:
    plaintext = data.draw(st.binary(max_size=80))
    blob = make(plaintext)
    bit = data.draw(st.integers(0, 8 * len(blob) - 1))
    tampered = bytearray(blob)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(BlobError):
        decrypt_backup(R, bytes(tampered))


def test_every_single_bit_flip_exhaustive_small_blob() -> None:
    blob = make(b"0123456789abcdefXYZ", metadata=b"m")
    for bit in range(8 * len(blob)):
        tampered = bytearray(blob)
        tampered[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(BlobError):
            decrypt_backup(R, bytes(tampered))


def test_truncation_at_every_chunk_boundary() -> None:
    blob = make(PLAIN)
    header, sealed = split(blob)
    for keep in range(len(sealed)):  # keep 0..n-1 chunks: never the final one
        cut = header + b"".join(sealed[:keep])
        with pytest.raises(BlobTruncatedError):
            decrypt_backup(R, cut)


def test_truncation_at_every_byte() -> None:
    blob = make(PLAIN, metadata=b"")
    for end in range(len(blob)):
        with pytest.raises(BlobError) as info:
            decrypt_backup(R, blob[:end])
        if end < FIXED_HEADER_LEN:
            assert isinstance(info.value, BlobFormatError)


def test_truncation_mid_chunk() -> None:
    blob = make(PLAIN)
    header, sealed = split(blob)
    # Cut inside chunk 3's ciphertext: the remainder is long enough to hold a tag, so it
    # is read as the final chunk and fails to authenticate.
    cut = header + b"".join(sealed[:3]) + sealed[3][: GCM_TAG_LEN + 4]
    with pytest.raises(BlobAuthenticationError):
        decrypt_backup(R, cut)
    # Cut so that fewer bytes than a tag remain: truncated inside a chunk.
    cut = header + b"".join(sealed[:3]) + sealed[3][:5]
    with pytest.raises(BlobTruncatedError):
        decrypt_backup(R, cut)


def test_header_only_is_truncated() -> None:
    blob = make(PLAIN)
    header, _ = split(blob)
    with pytest.raises(BlobTruncatedError):
        decrypt_backup(R, header)


def test_reordered_chunks() -> None:
    blob = make(PLAIN)
    header, sealed = split(blob)
    swapped = list(sealed)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    with pytest.raises(BlobAuthenticationError):
        decrypt_backup(R, header + b"".join(swapped))


def test_final_chunk_moved_earlier() -> None:
    # Make the last chunk full-sized so that the lengths alone do not give it away.
    blob = make(bytes(4 * CS))
    header, sealed = split(blob)
    moved = [sealed[0], sealed[3], sealed[1], sealed[2]]
    with pytest.raises(BlobAuthenticationError):
        decrypt_backup(R, header + b"".join(moved))


def test_duplicated_chunk() -> None:
    blob = make(PLAIN)
    header, sealed = split(blob)
    duplicated = [*sealed[:2], sealed[1], *sealed[2:]]
    with pytest.raises(BlobAuthenticationError):
        decrypt_backup(R, header + b"".join(duplicated))


def test_dropped_middle_chunk() -> None:
    blob = make(PLAIN)
    header, sealed = split(blob)
    with pytest.raises(BlobAuthenticationError):
        decrypt_backup(R, header + b"".join(sealed[:2] + sealed[3:]))


def test_chunk_substituted_from_another_blob_same_key() -> None:
    a = make(PLAIN, seed=1)
    b = make(PLAIN, seed=2)
    ha, ca = split(a)
    _, cb = split(b)
    mixed = [*ca[:2], cb[2], *ca[3:]]
    with pytest.raises(BlobAuthenticationError):
        decrypt_backup(R, ha + b"".join(mixed))


def test_header_swapped_between_blobs() -> None:
    a = make(PLAIN, seed=1)
    b = make(PLAIN, seed=2)
    ha, _ = split(a)
    _, cb = split(b)
    with pytest.raises(BlobAuthenticationError):
        decrypt_backup(R, ha + b"".join(cb))


@pytest.mark.parametrize("extra", [b"\x00", b"x" * 5, b"x" * 16, b"y" * STRIDE, b"z" * 100])
def test_trailing_bytes_rejected(extra: bytes) -> None:
    for plaintext in (PLAIN, bytes(4 * CS), b""):
        with pytest.raises(BlobError):
            decrypt_backup(R, make(plaintext) + extra)


def test_trailing_copy_of_final_chunk_rejected() -> None:
    blob = make(PLAIN)
    _, sealed = split(blob)
    with pytest.raises(BlobAuthenticationError):
        decrypt_backup(R, blob + sealed[-1])


def test_metadata_tamper_is_authentication_error() -> None:
    blob = bytearray(make(PLAIN, metadata=b"wrapped root key"))
    blob[FIXED_HEADER_LEN] ^= 0x01
    with pytest.raises(BlobAuthenticationError):
        decrypt_backup(R, bytes(blob))


@pytest.mark.parametrize("offset", range(6, FIXED_HEADER_LEN - 8))  # salt and nonce prefix
def test_salt_or_prefix_tamper_is_authentication_error(offset: int) -> None:
    blob = bytearray(make(PLAIN))
    blob[offset] ^= 0x80
    with pytest.raises(BlobAuthenticationError):
        decrypt_backup(R, bytes(blob))


def test_method_tamper_to_other_valid_method() -> None:
    blob = bytearray(make(PLAIN))
    blob[5] = Method.KEY64.wire_id
    assert read_header(bytes(blob)).method is Method.KEY64  # parses without the key...
    with pytest.raises(BlobAuthenticationError):  # ...but does not authenticate
        decrypt_backup(R, bytes(blob))


def test_chunk_size_tamper() -> None:
    blob = bytearray(make(PLAIN))
    struct.pack_into(">I", blob, FIXED_HEADER_LEN - 8, CS * 2)
    with pytest.raises(BlobError):
        decrypt_backup(R, bytes(blob))


# -- malformed headers ------------------------------------------------------------------


def test_bad_magic() -> None:
    blob = b"XXXX" + make(PLAIN)[4:]
    with pytest.raises(BlobFormatError, match="magic"):
        read_header(blob)
    with pytest.raises(BlobFormatError):
        decrypt_backup(R, blob)


@pytest.mark.parametrize("version", [0, 2, 255])
def test_bad_version(version: int) -> None:
    blob = bytearray(make(PLAIN))
    blob[4] = version
    with pytest.raises(BlobFormatError, match="version"):
        read_header(bytes(blob))
    with pytest.raises(BlobFormatError):
        decrypt_backup(R, bytes(blob))


@pytest.mark.parametrize("method_id", [0, 5, 255])
def test_bad_method(method_id: int) -> None:
    blob = bytearray(make(PLAIN))
    blob[5] = method_id
    with pytest.raises(BlobFormatError, match="method"):
        read_header(bytes(blob))
    with pytest.raises(BlobFormatError):
        decrypt_backup(R, bytes(blob))


@pytest.mark.parametrize("chunk_size", [0, (1 << 24) + 1, 0xFFFFFFFF])
def test_bad_chunk_size_in_header(chunk_size: int) -> None:
    blob = bytearray(make(PLAIN))
    struct.pack_into(">I", blob, FIXED_HEADER_LEN - 8, chunk_size)
    with pytest.raises(BlobFormatError, match="chunk size"):
        read_header(bytes(blob))


@pytest.mark.parametrize("meta_len", [MAX_METADATA_LEN + 1, 0xFFFFFFFF])
def test_metadata_length_over_cap(meta_len: int) -> None:
    blob = bytearray(make(PLAIN))
    struct.pack_into(">I", blob, FIXED_HEADER_LEN - 4, meta_len)
    with pytest.raises(BlobFormatError, match="metadata"):
        read_header(bytes(blob))


def test_metadata_length_past_end() -> None:
    blob = bytearray(make(b"", metadata=b""))
    struct.pack_into(">I", blob, FIXED_HEADER_LEN - 4, 1000)
    with pytest.raises(BlobFormatError, match="too short"):
        read_header(bytes(blob))


def test_encrypt_refuses_bad_arguments() -> None:
    with pytest.raises(BlobFormatError):
        encrypt_backup(R, b"x", Method.KEY64, chunk_size=0)
    with pytest.raises(BlobFormatError):
        encrypt_backup(R, b"x", Method.KEY64, metadata=bytes(MAX_METADATA_LEN + 1))
    with pytest.raises(BlobFormatError):
        encrypt_backup(R, b"x", "key64")  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        encrypt_backup(Secret(bytes(16)), b"x", Method.KEY64)
    with pytest.raises(CryptoError):
        decrypt_backup(Secret(bytes(31)), make(b"x"))


def test_metadata_at_cap_round_trips() -> None:
    blob = make(b"hi", metadata=bytes(MAX_METADATA_LEN))
    assert read_header(blob).metadata == bytes(MAX_METADATA_LEN)
    assert decrypt_backup(R, blob) == b"hi"


def test_header_dataclass_validates() -> None:
    with pytest.raises(BlobFormatError):
        BlobHeader(1, Method.KEY64, bytes(31), bytes(7), 16, b"")
    with pytest.raises(BlobFormatError):
        BlobHeader(1, Method.KEY64, bytes(32), bytes(8), 16, b"")
    with pytest.raises(BlobFormatError):
        BlobHeader(2, Method.KEY64, bytes(32), bytes(7), 16, b"")


# -- fuzzing and secrecy ------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_fuzz_random_bytes(junk: bytes) -> None:
    with pytest.raises(BlobError):
        decrypt_backup(R, junk)


@given(st.binary(max_size=200))
def test_fuzz_random_body_after_valid_header(junk: bytes) -> None:
    header, _ = split(make(PLAIN))
    with pytest.raises(BlobError):
        decrypt_backup(R, header + junk)


@given(data=st.data())
def test_fuzz_splices_only_typed_errors(data: st.DataObject) -> None:
    blob = make(PLAIN)
    start = data.draw(st.integers(0, len(blob)))
    end = data.draw(st.integers(start, len(blob)))
    insert = data.draw(st.binary(max_size=40))
    mutated = blob[:start] + insert + blob[end:]
    if mutated == blob:
        return
    try:
        decrypt_backup(R, mutated)
    except VaultbenchError:
        return
    raise AssertionError("a mutated blob decrypted")


def test_errors_do_not_leak_secrets() -> None:
    secret_plain = b"TOP-SECRET-PLAINTEXT-0123456789"
    blob = make(secret_plain)
    messages: list[str] = []
    for attempt in (OTHER, R):
        for candidate in (blob[:-1], blob + b"!", blob[:60]):
            try:
                decrypt_backup(attempt, candidate)
            except BlobError as exc:
                messages.append(str(exc) + repr(exc))
    assert messages
    for text in messages:
        assert "TOP-SECRET" not in text
        assert bytes(range(32)).hex() not in text
