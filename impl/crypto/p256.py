"""impl.crypto.p256: the P-256 ECDSA credential key of the software WebAuthn authenticator.

- The private scalar comes from an ``Rng``: 48 bytes (128 bits more than the order) reduced
  into ``[1, n-1]``, the "extra random bits" method of FIPS 186-5 A.2.1, so a ``SeededRng``
  gives a reproducible credential and the bias is below 2^-128.
- Signatures are ECDSA with SHA-256 (COSE alg -7, "ES256"), DER-encoded as WebAuthn
  carries them, with deterministic nonces (RFC 6979) so tests are reproducible.
- The public key is a COSE_Key (RFC 9052/9053): the CBOR map
  ``{1: 2 (kty EC2), 3: -7 (alg ES256), -1: 1 (crv P-256), -2: x, -3: y}`` in CTAP2
  canonical order, as an authenticator puts it in attested credential data.
"""

from __future__ import annotations

from typing import Final

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from impl.crypto.symmetric import Rng
from impl.errors import CryptoError

P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
COORD_LEN: Final = 32

COSE_KTY: Final = 1
COSE_ALG: Final = 3
COSE_CRV: Final = -1
COSE_X: Final = -2
COSE_Y: Final = -3
COSE_KTY_EC2: Final = 2
COSE_ALG_ES256: Final = -7
COSE_CRV_P256: Final = 1


class P256CredentialKey:
    """A P-256 signing key. Its ``repr`` shows only a public-key fingerprint."""

    __slots__ = ("_private",)

    def __init__(self, private: ec.EllipticCurvePrivateKey) -> None:
        # Use ``P256CredentialKey.generate``.
        self._private: Final = private

    @classmethod
    def generate(cls, rng: Rng) -> P256CredentialKey:
        """A fresh key whose scalar is drawn from ``rng``."""
        wide = int.from_bytes(rng.random_bytes(48), "big")
        scalar = wide % (P256_ORDER - 1) + 1
        return cls(ec.derive_private_key(scalar, ec.SECP256R1()))

    def sign(self, message: bytes) -> bytes:
        """ECDSA-SHA256 over ``message``; the DER-encoded signature."""
        algorithm = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
        return self._private.sign(message, algorithm)

    def public_xy(self) -> tuple[bytes, bytes]:
        """The public point's affine coordinates, 32 bytes each, big-endian."""
        numbers = self._private.public_key().public_numbers()
        return numbers.x.to_bytes(COORD_LEN, "big"), numbers.y.to_bytes(COORD_LEN, "big")

    def cose_public_key(self) -> bytes:
        """The public key as a CTAP2-canonical CBOR COSE_Key."""
        x, y = self.public_xy()
        return cose_ec2_key(x, y)

    def __repr__(self) -> str:
        x, _ = self.public_xy()
        return f"P256CredentialKey(public x={x[:4].hex()}…, private=<redacted>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("P256CredentialKey cannot be pickled")


def cose_ec2_key(x: bytes, y: bytes) -> bytes:
    """Encode a P-256 public point as a COSE_Key (kty EC2, alg ES256, crv P-256)."""
    if len(x) != COORD_LEN or len(y) != COORD_LEN:
        raise CryptoError(f"P-256 coordinates must be {COORD_LEN} bytes, got {len(x)}, {len(y)}")
    key = {
        COSE_KTY: COSE_KTY_EC2,
        COSE_ALG: COSE_ALG_ES256,
        COSE_CRV: COSE_CRV_P256,
        COSE_X: x,
        COSE_Y: y,
    }
    return bytes(cbor2.dumps(key, canonical=True))


def parse_cose_p256_public_key(data: bytes) -> tuple[bytes, bytes]:
    """Check that ``data`` is exactly a canonical ES256 COSE_Key with a point on P-256.

    Returns ``(x, y)``; ``CryptoError`` naming what is wrong otherwise. The vault runs this
    when a passkey is registered, so a record never holds a key that cannot verify.
    """
    try:
        decoded = cbor2.loads(data)
    except Exception:  # cbor2 raises several types on garbage
        raise CryptoError("credential public key is not CBOR") from None
    if not isinstance(decoded, dict):
        raise CryptoError(f"COSE_Key must be a CBOR map, got {type(decoded).__name__}")
    expected_labels = {COSE_KTY, COSE_ALG, COSE_CRV, COSE_X, COSE_Y}
    if set(decoded) != expected_labels:
        raise CryptoError("COSE_Key must have exactly the labels 1, 3, -1, -2, -3")
    if decoded[COSE_KTY] != COSE_KTY_EC2:
        raise CryptoError(f"COSE_Key kty must be 2 (EC2), got {decoded[COSE_KTY]!r}"[:120])
    if decoded[COSE_ALG] != COSE_ALG_ES256:
        raise CryptoError(f"COSE_Key alg must be -7 (ES256), got {decoded[COSE_ALG]!r}"[:120])
    if decoded[COSE_CRV] != COSE_CRV_P256:
        raise CryptoError(f"COSE_Key crv must be 1 (P-256), got {decoded[COSE_CRV]!r}"[:120])
    x, y = decoded[COSE_X], decoded[COSE_Y]
    if not (isinstance(x, bytes) and isinstance(y, bytes)):
        raise CryptoError("COSE_Key x and y must be byte strings")
    if len(x) != COORD_LEN or len(y) != COORD_LEN:
        raise CryptoError(f"COSE_Key x and y must be 32 bytes, got {len(x)} and {len(y)}")
    try:
        ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        ).public_key()
    except ValueError:
        raise CryptoError("COSE_Key point is not on P-256") from None
    if cose_ec2_key(x, y) != bytes(data):
        raise CryptoError("COSE_Key is not in CTAP2 canonical encoding")
    return x, y
