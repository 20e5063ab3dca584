"""impl.crypto.ed25519: Ed25519 (RFC 8032) identity keys of the fleet's replicas.

A thin, typed layer over ``cryptography``'s Ed25519:

- ``SigningKey.generate(rng)`` draws the 32-byte private seed from an ``Rng``, so a
  ``SeededRng`` gives a reproducible key; the seed never leaves the object (no getter,
  a ``repr`` that shows only a public-key fingerprint, no pickling);
- ``VerifyKey`` is the 32-byte public key, compared by its bytes;
- signatures are 64 bytes (Ed25519 is deterministic: same key and message, same bytes).

Every failure is a ``CryptoError``: a public key that is not 32 bytes or not a point, a
signature that does not verify. The error names lengths, never key or message bytes.
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from impl.crypto.symmetric import Rng
from impl.errors import CryptoError

SEED_LEN: Final = 32
PUBLIC_KEY_LEN: Final = 32
SIGNATURE_LEN: Final = 64

_RAW: Final = serialization.Encoding.Raw
_RAW_PUBLIC: Final = serialization.PublicFormat.Raw


class VerifyKey:
    """An Ed25519 public key: verifies signatures; equal to another by its 32 bytes."""

    __slots__ = ("_key", "_raw")

    def __init__(self, key: Ed25519PublicKey, raw: bytes | None = None) -> None:
        # Use ``VerifyKey.from_bytes`` or ``SigningKey.public_key``. ``raw``, when given,
        # is the encoding ``key`` was loaded from: the library keeps those exact 32 bytes,
        # so asking it to serialize them again would only cost time.
        self._key: Final = key
        self._raw: Final = raw if raw is not None else key.public_bytes(_RAW, _RAW_PUBLIC)

    @classmethod
    def from_bytes(cls, data: bytes) -> VerifyKey:
        """VerifyKey.from_bytes: the key whose raw encoding is ``data`` (exactly 32 bytes);
        ``CryptoError`` if ``data`` has another length or is not a valid public key."""
        if not isinstance(data, bytes | bytearray):
            raise CryptoError(f"Ed25519 public key: expected bytes, found {type(data).__name__}")
        if len(data) != PUBLIC_KEY_LEN:
            raise CryptoError(
                f"Ed25519 public key: expected {PUBLIC_KEY_LEN} bytes, found {len(data)}"
            )
        raw = bytes(data)
        try:
            key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise CryptoError("Ed25519 public key: not a valid encoding") from None
        return cls(key, raw)

    def raw(self) -> bytes:
        """VerifyKey.raw: the 32-byte encoding of the public key."""
        return self._raw

    def verify(self, signature: bytes, message: bytes) -> None:
        """VerifyKey.verify: return if ``signature`` is this key's signature of ``message``;
        ``CryptoError`` otherwise (including a signature that is not 64 bytes)."""
        if len(signature) != SIGNATURE_LEN:
            raise CryptoError(
                f"Ed25519 signature: expected {SIGNATURE_LEN} bytes, found {len(signature)}"
            )
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            raise CryptoError("Ed25519 signature did not verify") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VerifyKey):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"VerifyKey({self._raw[:4].hex()}…)"


class SigningKey:
    """An Ed25519 private key. Its ``repr`` shows only a public-key fingerprint."""

    __slots__ = ("_private", "_public")

    def __init__(self, private: Ed25519PrivateKey) -> None:
        # Use ``SigningKey.generate``.
        self._private: Final = private
        self._public: Final = VerifyKey(private.public_key())

    @classmethod
    def generate(cls, rng: Rng) -> SigningKey:
        """SigningKey.generate: a fresh key whose 32-byte seed is drawn from ``rng``."""
        seed = rng.random_bytes(SEED_LEN)
        if len(seed) != SEED_LEN:
            raise CryptoError(f"Ed25519 seed: expected {SEED_LEN} bytes, found {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def public_key(self) -> VerifyKey:
        """SigningKey.public_key: the matching ``VerifyKey``."""
        return self._public

    def sign(self, message: bytes) -> bytes:
        """SigningKey.sign: the 64-byte Ed25519 signature of ``message``."""
        return self._private.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(public={self._public.raw()[:4].hex()}…, private=<redacted>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("SigningKey cannot be pickled")
