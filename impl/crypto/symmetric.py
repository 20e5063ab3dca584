"""impl.crypto.symmetric: randomness, AES-256-GCM, HKDF-SHA256, HMAC-SHA256, Argon2id.

A thin, typed layer over ``cryptography``: every primitive is the library's, and every
failure comes out as an ``impl.errors`` type. Randomness comes from an ``Rng`` so that the
vault's state machines and the tests can run from a seed (``SeededRng``); production code
uses ``SystemRng`` (the OS CSPRNG).
"""

from __future__ import annotations

import hashlib
import hmac as _hmac
import os
from dataclasses import dataclass
from typing import ClassVar, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from impl.errors import CryptoError, DecryptionError

KEY_LEN = 32
GCM_NONCE_LEN = 12
GCM_TAG_LEN = 16


class Rng(Protocol):
    """A source of random bytes."""

    def random_bytes(self, n: int) -> bytes: ...


class SystemRng:
    """The operating system's CSPRNG."""

    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)

    def __repr__(self) -> str:
        return "SystemRng()"


class SeededRng:
    """A deterministic generator for simulations and tests: the ChaCha20 keystream under
    SHA-256(seed). Never for production keys: anyone who knows the seed knows the bytes."""

    def __init__(self, seed: int | bytes) -> None:
        raw = seed if isinstance(seed, bytes) else str(seed).encode()
        self._seed_repr = repr(seed) if isinstance(seed, int) else f"<{len(seed)} bytes>"
        key = hashlib.sha256(b"vaultbench seeded rng v1" + raw).digest()
        nonce = bytes(16)  # ChaCha20 in cryptography: 4-byte counter || 12-byte nonce
        self._stream = Cipher(algorithms.ChaCha20(key, nonce), mode=None).encryptor()

    def random_bytes(self, n: int) -> bytes:
        if n < 0:
            raise ValueError(f"cannot draw {n} bytes")
        return self._stream.update(bytes(n))

    def __repr__(self) -> str:
        return f"SeededRng({self._seed_repr})"


def aes256gcm_seal(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM encryption; returns ciphertext || 16-byte tag."""
    _check_len("AES-256-GCM key", key, KEY_LEN)
    _check_len("AES-GCM nonce", nonce, GCM_NONCE_LEN)
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def aes256gcm_open(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM decryption; ``DecryptionError`` if the tag does not verify."""
    _check_len("AES-256-GCM key", key, KEY_LEN)
    _check_len("AES-GCM nonce", nonce, GCM_NONCE_LEN)
    if len(ciphertext) < GCM_TAG_LEN:
        raise DecryptionError(
            f"AES-GCM ciphertext too short: {len(ciphertext)} bytes, at least {GCM_TAG_LEN}"
        )
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise DecryptionError("AES-GCM tag did not verify") from None


def hkdf_sha256(ikm: bytes, info: bytes, length: int = KEY_LEN, salt: bytes | None = None) -> bytes:
    """HKDF-SHA256 (RFC 5869) extract-and-expand."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104)."""
    return _hmac.new(key, message, hashlib.sha256).digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost parameters (RFC 9106), stored beside each password registration.

    ``DEFAULT`` is RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes);
    ``FAST`` is for tests and simulations only.
    """

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4

    DEFAULT: ClassVar[Argon2Params]
    FAST: ClassVar[Argon2Params]

    def __post_init__(self) -> None:
        if self.lanes < 1 or self.iterations < 1 or self.memory_kib < 8 * self.lanes:
            raise CryptoError(
                f"Argon2id parameters out of range: memory {self.memory_kib} KiB, "
                f"{self.iterations} passes, {self.lanes} lanes"
            )


Argon2Params.DEFAULT = Argon2Params()
Argon2Params.FAST = Argon2Params(memory_kib=64, iterations=1, lanes=1)


def argon2id(password: bytes, salt: bytes, params: Argon2Params, length: int = KEY_LEN) -> bytes:
    """Argon2id(password, salt) with the given cost; the salt is at least 16 bytes."""
    if len(salt) < 16:
        raise CryptoError(f"Argon2id salt too short: {len(salt)} bytes, at least 16")
    kdf = Argon2id(
        salt=salt,
        length=length,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )
    return kdf.derive(password)


def _check_len(what: str, value: bytes, expected: int) -> None:
    if len(value) != expected:
        raise CryptoError(f"{what} must be {expected} bytes, got {len(value)}")
