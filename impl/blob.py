"""impl.blob: the encrypted backup blob.

A blob is a versioned header followed by the backup in AES-256-GCM chunks::

    blob   = header || chunk_0 || chunk_1 || ... || chunk_{n-1}
    header = magic "VBBK" || version (1) || method wire id (1) || salt (32)
             || nonce prefix (7) || chunk size (u32 BE) || metadata length (u32 BE) || metadata
    chunk_i = AES-256-GCM(file key, nonce_i, plaintext piece i, aad = header)

- ``R`` is the backup root key, 32 random bytes made by the client.
- The file key is HKDF-SHA256 (RFC 5869) of ``R`` with the blob's random 32-byte salt and
  info ``b"backup encryption"``: every blob has its own key even under the same ``R``.
- The chunks follow the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár
  ("Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015):
  ``nonce_i = prefix (7 bytes) || i (u32 BE) || flag``, where the flag byte is ``0x01`` on the
  last chunk and ``0x00`` on every other. Each chunk is bound to its index and to whether it
  ends the stream, so a reordered, duplicated or substituted chunk fails its tag, and a
  stream cut at a chunk boundary has no chunk that verifies as final.
- Every chunk but the last holds exactly ``chunk_size`` plaintext bytes; the last holds
  1..``chunk_size`` bytes, or 0 bytes when the whole plaintext is empty. The framing is by
  position: the last piece of the blob is the final chunk, so there is no length field to
  forge, and bytes appended to a blob make its final chunk fail to authenticate.
- The whole header, metadata included, is the associated data of every chunk: it can be
  read before decryption (``read_header``) and is authenticated once ``R`` is known.

Errors: ``BlobFormatError`` for a header that does not parse (magic, version, method,
sizes); ``BlobAuthenticationError`` when a chunk's tag fails (tampering, reordering,
duplication, wrong key, trailing bytes); ``BlobTruncatedError`` when the blob ends before a
final chunk. ``decrypt_backup`` returns the whole plaintext or raises: never a part.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from impl.crypto.symmetric import (
    GCM_TAG_LEN,
    KEY_LEN,
    Rng,
    SystemRng,
    aes256gcm_open,
    aes256gcm_seal,
    hkdf_sha256,
)
from impl.errors import (
    BlobAuthenticationError,
    BlobFormatError,
    BlobTruncatedError,
    CryptoError,
    DecryptionError,
)
from impl.method import Method
from impl.redact import Secret

__all__ = [
    "FILE_KEY_INFO",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_CHUNKS",
    "MAX_CHUNK_SIZE",
    "MAX_METADATA_LEN",
    "BlobHeader",
    "decrypt_backup",
    "encrypt_backup",
    "read_header",
]

MAGIC: Final = b"VBBK"
FORMAT_VERSION: Final = 1
SALT_LEN: Final = 32
NONCE_PREFIX_LEN: Final = 7  # 12-byte GCM nonce = 7-byte prefix || u32 counter || flag byte
FILE_KEY_INFO: Final = b"backup encryption"
DEFAULT_CHUNK_SIZE: Final = 65536
MIN_CHUNK_SIZE: Final = 1
MAX_CHUNK_SIZE: Final = 1 << 24  # 16 MiB of plaintext per chunk
MAX_METADATA_LEN: Final = 1 << 16  # 64 KiB: a wrapped key and its parameters fit many times
MAX_CHUNKS: Final = 1 << 32  # the 32-bit chunk counter's range

_FIXED = struct.Struct(f">4sBB{SALT_LEN}s{NONCE_PREFIX_LEN}sII")
FIXED_HEADER_LEN: Final = _FIXED.size  # 53 bytes
MAX_HEADER_LEN: Final = FIXED_HEADER_LEN + MAX_METADATA_LEN

_NOT_FINAL: Final = b"\x00"
_FINAL: Final = b"\x01"


@dataclass(frozen=True, repr=False)
class BlobHeader:
    """The parsed header of a blob; readable without the key, authenticated with it."""

    version: int
    method: Method
    salt: bytes
    nonce_prefix: bytes
    chunk_size: int
    metadata: bytes

    def __post_init__(self) -> None:
        if self.version != FORMAT_VERSION:
            raise BlobFormatError(
                f"unsupported blob format version {self.version}, expected {FORMAT_VERSION}"
            )
        if not isinstance(self.method, Method):
            raise BlobFormatError("blob method must be a Method")
        if len(self.salt) != SALT_LEN:
            raise BlobFormatError(f"blob salt must be {SALT_LEN} bytes, got {len(self.salt)}")
        if len(self.nonce_prefix) != NONCE_PREFIX_LEN:
            raise BlobFormatError(
                f"nonce prefix must be {NONCE_PREFIX_LEN} bytes, got {len(self.nonce_prefix)}"
            )
        if not MIN_CHUNK_SIZE <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise BlobFormatError(
                f"chunk size {self.chunk_size} out of range {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}"
            )
        if len(self.metadata) > MAX_METADATA_LEN:
            raise BlobFormatError(
                f"metadata is {len(self.metadata)} bytes, at most {MAX_METADATA_LEN}"
            )

    def encode(self) -> bytes:
        """The header's bytes, exactly as they appear at the start of the blob."""
        fixed = _FIXED.pack(
            MAGIC,
            self.version,
            self.method.wire_id,
            self.salt,
            self.nonce_prefix,
            self.chunk_size,
            len(self.metadata),
        )
        return fixed + self.metadata

    def __len__(self) -> int:
        return FIXED_HEADER_LEN + len(self.metadata)

    def __repr__(self) -> str:
        # Nothing here is secret, but metadata may be large: show its length only.
        return (
            f"BlobHeader(version={self.version}, method={self.method.value!r}, "
            f"salt={self.salt.hex()!r}, nonce_prefix={self.nonce_prefix.hex()!r}, "
            f"chunk_size={self.chunk_size}, metadata=<{len(self.metadata)} bytes>)"
        )


def read_header(blob: bytes) -> BlobHeader:
    """Parse a blob's header without the key (``BlobFormatError`` if it does not parse)."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise BlobFormatError("a blob is bytes")
    data = bytes(blob[:MAX_HEADER_LEN])
    if len(data) < FIXED_HEADER_LEN:
        raise BlobFormatError(
            f"blob too short for a header: {len(data)} bytes, at least {FIXED_HEADER_LEN}"
        )
    magic, version, method_id, salt, prefix, chunk_size, meta_len = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise BlobFormatError("not a vaultbench backup blob: bad magic")
    if version != FORMAT_VERSION:
        raise BlobFormatError(f"unsupported blob format version {version}, expected 1")
    try:
        method = Method.from_wire_id(method_id)
    except ValueError:
        raise BlobFormatError(f"unknown protection method id {method_id}") from None
    if meta_len > MAX_METADATA_LEN:
        raise BlobFormatError(f"metadata length {meta_len} exceeds {MAX_METADATA_LEN}")
    end = FIXED_HEADER_LEN + meta_len
    if len(data) < end:
        raise BlobFormatError(
            f"blob too short for its header: {len(data)} bytes, header needs {end}"
        )
    return BlobHeader(
        version=version,
        method=method,
        salt=salt,
        nonce_prefix=prefix,
        chunk_size=chunk_size,
        metadata=data[FIXED_HEADER_LEN:end],
    )


def encrypt_backup(
    root_key: Secret,
    plaintext: bytes,
    method: Method,
    *,
    metadata: bytes = b"",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    rng: Rng | None = None,
) -> bytes:
    """Encrypt ``plaintext`` under root key ``R``; the blob records ``method`` and ``metadata``."""
    _check_root_key(root_key)
    if not isinstance(method, Method):
        raise BlobFormatError("method must be a Method")
    if not isinstance(plaintext, bytes | bytearray):
        raise BlobFormatError("plaintext must be bytes")
    if not isinstance(metadata, bytes | bytearray):
        raise BlobFormatError("metadata must be bytes")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise BlobFormatError("chunk size must be an int")
    source = rng if rng is not None else SystemRng()
    header = BlobHeader(
        version=FORMAT_VERSION,
        method=method,
        salt=source.random_bytes(SALT_LEN),
        nonce_prefix=source.random_bytes(NONCE_PREFIX_LEN),
        chunk_size=chunk_size,
        metadata=bytes(metadata),
    )
    n_chunks = max(1, -(-len(plaintext) // chunk_size))
    if n_chunks > MAX_CHUNKS:
        raise BlobFormatError(
            f"plaintext needs {n_chunks} chunks of {chunk_size} bytes, at most {MAX_CHUNKS}"
        )
    aad = header.encode()
    file_key = _file_key(root_key, header.salt)
    view = memoryview(plaintext)
    out = [aad]
    for index in range(n_chunks):
        piece = bytes(view[index * chunk_size : (index + 1) * chunk_size])
        final = index == n_chunks - 1
        out.append(aes256gcm_seal(file_key, _nonce(header, index, final), piece, aad))
    return b"".join(out)


def decrypt_backup(root_key: Secret, blob: bytes) -> bytes:
    """Decrypt a whole blob under ``R``; the full plaintext or a typed ``BlobError``."""
    _check_root_key(root_key)
    header = read_header(blob)
    data = bytes(blob)
    aad = data[: len(header)]
    body = memoryview(data)[len(header) :]
    if len(body) == 0:
        raise BlobTruncatedError("blob has a header but no chunk: the final chunk is missing")
    stride = header.chunk_size + GCM_TAG_LEN
    n_chunks = -(-len(body) // stride)
    if n_chunks > MAX_CHUNKS:
        raise BlobFormatError(f"blob holds {n_chunks} chunks, at most {MAX_CHUNKS}")
    file_key = _file_key(root_key, header.salt)
    pieces: list[bytes] = []
    for index in range(n_chunks - 1):
        sealed = bytes(body[index * stride : (index + 1) * stride])
        try:
            pieces.append(aes256gcm_open(file_key, _nonce(header, index, False), sealed, aad))
        except DecryptionError:
            raise BlobAuthenticationError(
                f"chunk {index} failed authentication (tampered, reordered or wrong key)"
            ) from None
    last = n_chunks - 1
    sealed = bytes(body[last * stride :])
    if len(sealed) < GCM_TAG_LEN:
        raise BlobTruncatedError(
            f"blob ends inside chunk {last}: {len(sealed)} bytes, a chunk has at least "
            f"{GCM_TAG_LEN}"
        )
    try:
        pieces.append(aes256gcm_open(file_key, _nonce(header, last, True), sealed, aad))
    except DecryptionError:
        # Does the last piece authenticate as an ordinary, non-final chunk? Then the
        # stream was cut at a chunk boundary: say so, rather than "tampered".
        if _opens(file_key, _nonce(header, last, False), sealed, aad):
            raise BlobTruncatedError(
                f"blob ends after chunk {last}, which is not the final chunk"
            ) from None
        raise BlobAuthenticationError(
            f"final chunk {last} failed authentication (tampered, truncated inside a chunk, "
            "trailing bytes or wrong key)"
        ) from None
    return b"".join(pieces)


def _opens(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bool:
    try:
        aes256gcm_open(key, nonce, sealed, aad)
    except DecryptionError:
        return False
    return True


def _file_key(root_key: Secret, salt: bytes) -> bytes:
    """The per-blob AES-256-GCM key: HKDF-SHA256(R, salt, info "backup encryption")."""
    return hkdf_sha256(root_key.reveal(), FILE_KEY_INFO, length=KEY_LEN, salt=salt)


def _nonce(header: BlobHeader, index: int, final: bool) -> bytes:
    """STREAM nonce: prefix || u32 BE chunk counter || last-chunk flag."""
    return header.nonce_prefix + index.to_bytes(4, "big") + (_FINAL if final else _NOT_FINAL)


def _check_root_key(root_key: Secret) -> None:
    if not isinstance(root_key, Secret):
        raise CryptoError("the root key must be passed as a Secret")
    if len(root_key) != KEY_LEN:
        raise CryptoError(f"the root key must be {KEY_LEN} bytes, got {len(root_key)}")
