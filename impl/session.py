"""impl.session: sealing vault requests to the fleet and responses back to the client.

One round trip, two layers::

    client                         operator (relay)                    HSM
    k  <- 32 random bytes
    c1 =  HPKE.Seal(fleet_pk, info=REQUEST_INFO,
                    k || pad(encode_request(req)))
                     ---- c1 ---->  sees only c1  ---- c1 ---->
                                                            k, req = HPKE.Open(fleet_sk, c1)
                                                            resp   = vault(req)
                                                            c2 = nonce || AES-256-GCM(k, nonce,
                                                                 pad(encode_response(resp)),
                                                                 aad=RESPONSE_AAD)
                     <--- c2 -----  sees only c2  <--- c2 -----
    resp = decode_response(unpad(AES-GCM-Open(k, c2)))

Why a symmetric response key rather than HPKE to a client X25519 key: HPKE base mode
encrypts *to* a key but proves nothing about the sender. Anyone, the operator included,
could encrypt a forged ``Released`` or ``WrongGuess`` to the client's public key. The
response key ``k`` is different: it exists only on the client and inside the HPKE
ciphertext, which only the holder of the fleet private key can open. A response that
authenticates under ``k`` (AES-GCM is an AEAD) therefore comes from an HSM that opened
this very request, and it answers this request and no other, since ``k`` is fresh for
each one. It costs no extra public-key operation either.

Both plaintexts are padded (ISO/IEC 7816-4: 0x80 then zeros) to a multiple of
``PAD_BLOCK`` bytes, so the length of a ciphertext does not tell the relay which message
it carries (a ``Released`` secret from a ``WrongGuess``, say); a single message is at most
a few KiB, so the cost is small.

What this layer does not do: stop the relay from replaying a request (the HSM opens it
again; freshness is the vault's job: every request that counts names the record version it
was made for, and a replay is answered ``Stale`` without a charge, ``docs/channel.rst``)
or from dropping it. Errors: ciphertexts that do not authenticate raise
``DecryptionError``; authenticated plaintexts that do not decode raise ``WireError``.
"""

from __future__ import annotations

from typing import Final

from impl.crypto.hpke import FleetKeyPair, FleetPublicKey, hpke_open, hpke_seal
from impl.crypto.symmetric import (
    GCM_NONCE_LEN,
    GCM_TAG_LEN,
    KEY_LEN,
    Rng,
    aes256gcm_open,
    aes256gcm_seal,
)
from impl.errors import CryptoError, DecryptionError, WireError
from impl.messages import Request, Response
from impl.redact import Secret, ct_equal
from impl.wire import decode_request, decode_response, encode_request, encode_response

REQUEST_INFO: Final = b"vaultbench vault request v1"
RESPONSE_AAD: Final = b"vaultbench vault response v1"
RESPONSE_KEY_LEN: Final = KEY_LEN
PAD_BLOCK: Final = 256


class ResponseKey:
    """The fresh 32-byte AES-256-GCM key a request carries for its response."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray) or len(key) != RESPONSE_KEY_LEN:
            size = len(key) if isinstance(key, bytes | bytearray) else type(key).__name__
            raise CryptoError(f"response key must be {RESPONSE_KEY_LEN} bytes, got {size}")
        self._key: Final = Secret(bytes(key))

    def reveal(self) -> bytes:
        """The key bytes, for the AEAD."""
        return self._key.reveal()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResponseKey):
            return NotImplemented
        return ct_equal(self._key.reveal(), other._key.reveal())

    def __hash__(self) -> int:
        raise TypeError("ResponseKey is not hashable")

    def __repr__(self) -> str:
        return f"ResponseKey(<{RESPONSE_KEY_LEN} bytes redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("ResponseKey cannot be pickled")


def _pad(data: bytes) -> bytes:
    padded = data + b"\x80"
    return padded + bytes(-len(padded) % PAD_BLOCK)


def _unpad(data: bytes, what: str) -> bytes:
    """The inverse of ``_pad``, strict: a 0x80 then fewer zero bytes than a block. More
    zeros (a whole extra block) would be a second encoding of the same message."""
    stripped = data.rstrip(b"\x00")
    if len(data) % PAD_BLOCK or not stripped or stripped[-1] != 0x80:
        raise WireError(f"{what}: padding is malformed ({len(data)} bytes)")
    if len(data) - len(stripped) >= PAD_BLOCK:
        raise WireError(f"{what}: padding is not minimal ({len(data)} bytes)")
    return stripped[:-1]


# ------------------------------------------------------------------------------ client


def seal_request(
    fleet_public_key: FleetPublicKey, request: Request, rng: Rng
) -> tuple[bytes, ResponseKey]:
    """Seal ``request`` to the fleet; return the ciphertext and the response key to keep."""
    encoded = encode_request(request)
    key = rng.random_bytes(RESPONSE_KEY_LEN)
    response_key = ResponseKey(key)
    ciphertext = hpke_seal(fleet_public_key, key + _pad(encoded), REQUEST_INFO)
    return ciphertext, response_key


def open_response(response_key: ResponseKey, data: bytes) -> Response:
    """Open the HSM's answer; ``DecryptionError`` unless it was sealed under the key."""
    if not isinstance(data, bytes | bytearray):
        raise DecryptionError(f"response must be bytes, got {type(data).__name__}")
    if len(data) < GCM_NONCE_LEN + GCM_TAG_LEN:
        raise DecryptionError(
            f"response too short: {len(data)} bytes, at least {GCM_NONCE_LEN + GCM_TAG_LEN}"
        )
    data = bytes(data)
    plaintext = aes256gcm_open(
        response_key.reveal(), data[:GCM_NONCE_LEN], data[GCM_NONCE_LEN:], RESPONSE_AAD
    )
    return decode_response(_unpad(plaintext, "response"))


# --------------------------------------------------------------------------------- HSM


def open_request(fleet_keypair: FleetKeyPair, data: bytes) -> tuple[Request, ResponseKey]:
    """Open a sealed request with the fleet key: the request and its response key."""
    plaintext = hpke_open(fleet_keypair, data, REQUEST_INFO)
    if len(plaintext) < RESPONSE_KEY_LEN + PAD_BLOCK:
        raise WireError(
            f"request plaintext too short: {len(plaintext)} bytes, "
            f"at least {RESPONSE_KEY_LEN + PAD_BLOCK}"
        )
    response_key = ResponseKey(plaintext[:RESPONSE_KEY_LEN])
    request = decode_request(_unpad(plaintext[RESPONSE_KEY_LEN:], "request"))
    return request, response_key


def seal_response(response_key: ResponseKey, response: Response, rng: Rng) -> bytes:
    """Seal ``response`` under the request's response key: ``nonce || ciphertext || tag``."""
    encoded = encode_response(response)
    nonce = rng.random_bytes(GCM_NONCE_LEN)
    return nonce + aes256gcm_seal(response_key.reveal(), nonce, _pad(encoded), RESPONSE_AAD)
