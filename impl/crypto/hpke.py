"""impl.crypto.hpke: HPKE (RFC 9180) to the fleet's session key.

The suite is fixed except for the KEM: KDF HKDF-SHA256, AEAD AES-256-GCM, base mode
(no sender authentication), single-shot ``Seal``/``Open`` as ``cryptography``'s
``hpke.Suite`` provides them. The KEM is a ``KemChoice``:

- ``x25519``: DHKEM(X25519, HKDF-SHA256), RFC 9180 section 7.1, KEM id ``0x0020``.
  Public key 32 bytes, encapsulated key 32 bytes.
- ``mlkem768-x25519``: the ML-KEM-768 + X25519 hybrid "X-Wing"
  (draft-connolly-cfrg-xwing-kem; KEM id ``0x647A`` in draft-ietf-hpke-pq), as
  ``cryptography`` implements it. Public key 1216 bytes = ML-KEM-768 encapsulation key
  (1184) || X25519 public key (32), the X-Wing encoding; encapsulated key 1120 bytes.
  ``cryptography`` 50 gives the hybrid key types constructors only (no serialization), so
  this module keeps the two component keys and serializes them itself. A key pair is
  generated the X-Wing way: a 32-byte seed expanded with SHAKE-256 to 96 bytes, the first
  64 the ML-KEM-768 seed ``d || z``, the last 32 the X25519 private key.

The private key never leaves a ``FleetKeyPair``: no getter returns it, its ``repr`` shows
only the KEM and a fingerprint of the public key, and it cannot be pickled. ``hpke_open``
is the one operation that uses it.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from impl.crypto.symmetric import GCM_TAG_LEN, Rng, SystemRng
from impl.errors import CryptoError, DecryptionError, WireError


class FleetKeyError(CryptoError, WireError):
    """Bytes that are not a valid fleet public key for the named KEM."""


class KemChoice(StrEnum):
    """The HPKE KEM of a fleet's session key."""

    X25519 = "x25519"
    MLKEM768_X25519 = "mlkem768-x25519"

    @property
    def public_key_len(self) -> int:
        """Length of the serialized public key."""
        return _PUBLIC_KEY_LEN[self]

    @property
    def enc_len(self) -> int:
        """Length of the encapsulated key that starts every ciphertext."""
        return _KEM[self].enc_length()

    @property
    def hpke_kem(self) -> hpke.KEM:
        return _KEM[self]


DEFAULT_KEM: Final = KemChoice.X25519

_X25519_LEN: Final = 32
_MLKEM768_PK_LEN: Final = 1184
_XWING_SEED_LEN: Final = 32

_KEM: Final = {
    KemChoice.X25519: hpke.KEM.X25519,
    KemChoice.MLKEM768_X25519: hpke.KEM.MLKEM768_X25519,
}
_PUBLIC_KEY_LEN: Final = {
    KemChoice.X25519: _X25519_LEN,
    KemChoice.MLKEM768_X25519: _MLKEM768_PK_LEN + _X25519_LEN,
}

_PublicKey = x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey
_PrivateKey = x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey


def _suite(kem: KemChoice) -> hpke.Suite:
    return hpke.Suite(_KEM[kem], hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def _fingerprint(public_bytes: bytes) -> str:
    return hashlib.sha256(public_bytes).hexdigest()[:16]


def _as_kem(kem: KemChoice | str) -> KemChoice:
    try:
        return KemChoice(kem)
    except ValueError:
        known = ", ".join(k.value for k in KemChoice)
        raise FleetKeyError(f"unknown KEM {str(kem)[:40]!r}, expected one of {known}") from None


class FleetPublicKey:
    """A fleet's HPKE public key: the KEM and the key, immutable, compared by value."""

    __slots__ = ("_kem", "_key", "_raw")

    def __init__(self, kem: KemChoice, raw: bytes, key: _PublicKey) -> None:
        # Use ``decode_fleet_public_key`` or ``FleetKeyPair.public_key``; this constructor
        # trusts that ``raw`` is the serialization of ``key``.
        self._kem: Final = kem
        self._raw: Final = bytes(raw)
        self._key: Final = key

    @property
    def kem(self) -> KemChoice:
        return self._kem

    def public_bytes(self) -> bytes:
        """The serialized public key (32 bytes for x25519, 1216 for mlkem768-x25519)."""
        return self._raw

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FleetPublicKey):
            return NotImplemented
        return self._kem == other._kem and self._raw == other._raw

    def __hash__(self) -> int:
        return hash((self._kem, self._raw))

    def __repr__(self) -> str:
        return f"FleetPublicKey(kem={self._kem.value}, sha256={_fingerprint(self._raw)}…)"


def decode_fleet_public_key(kem: KemChoice | str, data: bytes) -> FleetPublicKey:
    """Parse a serialized fleet public key for ``kem``; ``FleetKeyError`` if it is not one.

    Checks the length, the ML-KEM-768 encapsulation key's encoding (FIPS 203 modulus
    check, done by the library) and that the X25519 key is not of small order, so a bad
    key is refused here rather than at first use. The small-order check is arithmetic
    (``_x25519_small_order``): it refuses exactly the keys whose Diffie-Hellman output is
    all zeros, which is what made the former trial encapsulation fail, at a fraction of
    its cost (``vaultbench bench``, bundle verification).
    """
    choice = _as_kem(kem)
    if not isinstance(data, bytes | bytearray):
        raise FleetKeyError(f"{choice.value} public key must be bytes, got {type(data).__name__}")
    data = bytes(data)
    expected = choice.public_key_len
    if len(data) != expected:
        raise FleetKeyError(f"{choice.value} public key must be {expected} bytes, got {len(data)}")
    key: _PublicKey
    try:
        if choice is KemChoice.X25519:
            key = x25519.X25519PublicKey.from_public_bytes(data)
        else:
            m_pub = mlkem.MLKEM768PublicKey.from_public_bytes(data[:_MLKEM768_PK_LEN])
            x_pub = x25519.X25519PublicKey.from_public_bytes(data[_MLKEM768_PK_LEN:])
            key = hpke.MLKEM768X25519PublicKey(m_pub, x_pub)
    except (ValueError, TypeError):
        raise FleetKeyError(f"{choice.value} public key is not a valid key encoding") from None
    if _x25519_small_order(data[-_X25519_LEN:]):
        raise FleetKeyError(f"{choice.value} public key is unusable (small-order X25519 point)")
    return FleetPublicKey(choice, data, key)


#: p = 2^255 - 19, the field of Curve25519 (RFC 7748 section 4.1).
_P25519: Final = 2**255 - 19
#: The u-coordinates (mod p) of the points of order 1, 2, 4 and 8 on Curve25519 and its
#: twist: 0, 1, p - 1 and the two points of order 8. X25519 with any clamped scalar (a
#: multiple of the cofactor 8) maps exactly these to the all-zero output, which RFC 7748
#: section 6.1 says to refuse and which ``cryptography`` refuses.
_SMALL_ORDER_U: Final = frozenset(
    {
        0,
        1,
        _P25519 - 1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
    }
)


def _x25519_small_order(raw: bytes) -> bool:
    """Whether the 32-byte X25519 public key ``raw`` is a point of small order.

    Decoded as RFC 7748 section 5 decodes a u-coordinate (little-endian, the top bit
    masked, non-canonical values reduced mod p), then compared with ``_SMALL_ORDER_U``.
    """
    u = (int.from_bytes(raw, "little") & ((1 << 255) - 1)) % _P25519
    return u in _SMALL_ORDER_U


class FleetKeyPair:
    """A fleet's HPKE key pair. Made inside the HSM; the private key is never exposed."""

    __slots__ = ("_private", "_public")

    def __init__(self, private: _PrivateKey, public: FleetPublicKey) -> None:
        # Use ``FleetKeyPair.generate``.
        self._private: Final = private
        self._public: Final = public

    @classmethod
    def generate(cls, kem: KemChoice | str = DEFAULT_KEM, rng: Rng | None = None) -> FleetKeyPair:
        """A fresh key pair for ``kem``, from ``rng`` (the OS CSPRNG by default).

        With a ``SeededRng`` the pair is reproducible, which simulations want.
        """
        choice = _as_kem(kem)
        source: Rng = rng if rng is not None else SystemRng()
        if choice is KemChoice.X25519:
            sk = x25519.X25519PrivateKey.from_private_bytes(source.random_bytes(_X25519_LEN))
            raw = sk.public_key().public_bytes_raw()
            return cls(sk, FleetPublicKey(choice, raw, sk.public_key()))
        seed = source.random_bytes(_XWING_SEED_LEN)
        expanded = hashlib.shake_256(seed).digest(96)
        m_sk = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
        x_sk = x25519.X25519PrivateKey.from_private_bytes(expanded[64:])
        m_pub, x_pub = m_sk.public_key(), x_sk.public_key()
        raw = m_pub.public_bytes_raw() + x_pub.public_bytes_raw()
        public = FleetPublicKey(choice, raw, hpke.MLKEM768X25519PublicKey(m_pub, x_pub))
        return cls(hpke.MLKEM768X25519PrivateKey(m_sk, x_sk), public)

    @property
    def kem(self) -> KemChoice:
        return self._public.kem

    def public_key(self) -> FleetPublicKey:
        """The public half, as clients and the fleet-key file carry it."""
        return self._public

    def public_bytes(self) -> bytes:
        """The serialized public key, as ``decode_fleet_public_key`` reads it."""
        return self._public.public_bytes()

    def __repr__(self) -> str:
        fp = _fingerprint(self._public.public_bytes())
        return f"FleetKeyPair(kem={self.kem.value}, public sha256={fp}…, private=<redacted>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("FleetKeyPair cannot be pickled")


def hpke_seal(public_key: FleetPublicKey, plaintext: bytes, info: bytes) -> bytes:
    """HPKE base-mode single-shot seal: ``enc || ciphertext || tag``."""
    if not isinstance(public_key, FleetPublicKey):
        raise CryptoError(f"expected a FleetPublicKey, got {type(public_key).__name__}")
    try:
        return _suite(public_key.kem).encrypt(plaintext, public_key._key, info=info)
    except (ValueError, TypeError):
        raise CryptoError(f"HPKE seal to a {public_key.kem.value} key failed") from None


def hpke_open(keypair: FleetKeyPair, ciphertext: bytes, info: bytes) -> bytes:
    """HPKE base-mode single-shot open; ``DecryptionError`` unless it authenticates."""
    if not isinstance(keypair, FleetKeyPair):
        raise CryptoError(f"expected a FleetKeyPair, got {type(keypair).__name__}")
    if not isinstance(ciphertext, bytes | bytearray):
        raise DecryptionError(f"HPKE ciphertext must be bytes, got {type(ciphertext).__name__}")
    kem = keypair.kem
    minimum = kem.enc_len + GCM_TAG_LEN
    if len(ciphertext) < minimum:
        raise DecryptionError(
            f"HPKE ciphertext too short for {kem.value}: {len(ciphertext)} bytes, "
            f"at least {minimum}"
        )
    try:
        return _suite(kem).decrypt(bytes(ciphertext), keypair._private, info=info)
    except (InvalidTag, ValueError, TypeError):
        raise DecryptionError(f"HPKE ciphertext did not authenticate ({kem.value})") from None
