"""impl.passkey: a software WebAuthn platform authenticator and the vault's verifier.

Two sides of the ``passkey`` protection method:

- ``SoftwareAuthenticator`` stands for the user's device (authenticator and client
  platform together). Each credential has a P-256 ECDSA key (``impl.crypto.p256``), a
  32-byte ``CredRandom`` for the PRF extension, and a signature counter. An assertion
  carries real authenticator data (rpIdHash || flags UP|UV || counter, W3C WebAuthn
  Level 3 section 6.1) and real client data JSON, signed as WebAuthn specifies:
  ``sig = ECDSA(authenticatorData || SHA-256(clientDataJSON))``.
- The PRF extension (WebAuthn Level 3 section 10.1.4) is CTAP2's ``hmac-secret``:
  the platform hashes the RP's input to ``salt = SHA-256("WebAuthn PRF" || 0x00 || input)``
  and the authenticator answers ``HMAC-SHA256(CredRandom, salt)``. The output goes back
  to the client only (``Assertion.prf_output``); it is never in the authenticator data,
  the client data or anything sent to the vault.
- ``verify_assertion`` is the relying party, run inside the HSM. It delegates the
  WebAuthn checks to ``py_webauthn`` (``webauthn.verify_authentication_response``) and
  adds two of its own: user verification is required and ``crossOrigin`` must be false.
  Every failure, whatever the library raises, comes out as ``PasskeyError``.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from webauthn import verify_authentication_response
from webauthn.helpers.structs import AuthenticationCredential, AuthenticatorAssertionResponse

from impl.crypto.p256 import P256CredentialKey, parse_cose_p256_public_key
from impl.crypto.symmetric import Rng, SystemRng, hmac_sha256, sha256
from impl.errors import CryptoError, PasskeyError
from impl.redact import Secret

DEFAULT_RP_ID: Final = "backup.vaultbench.example"
DEFAULT_ORIGIN: Final = "https://backup.vaultbench.example"

FLAG_UP: Final = 0x01  # user present
FLAG_UV: Final = 0x04  # user verified
PRF_LABEL: Final = b"WebAuthn PRF\x00"
CREDENTIAL_ID_LEN: Final = 32
CRED_RANDOM_LEN: Final = 32
MAX_SIGN_COUNT: Final = 0xFFFFFFFF
MIN_CHALLENGE_LEN: Final = 16


@dataclass(frozen=True)
class Credential:
    """What registration gives the relying party: the credential id and its COSE key."""

    credential_id: bytes
    cose_public_key: bytes


@dataclass(frozen=True)
class Assertion:
    """One ``navigator.credentials.get()`` result. Everything but ``prf_output`` goes to
    the vault; ``prf_output`` (the PRF extension's result) stays on the device."""

    credential_id: bytes
    authenticator_data: bytes
    client_data_json: bytes
    signature: bytes
    prf_output: Secret


@dataclass
class _StoredCredential:
    rp_id: str
    user_handle: bytes
    key: P256CredentialKey
    cred_random: Secret
    sign_count: int = field(default=0)


def webauthn_prf_salt(prf_input: bytes) -> bytes:
    """The WebAuthn PRF extension's mapping of an RP input to an hmac-secret salt."""
    return sha256(PRF_LABEL + prf_input)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _origin_matches_rp(origin: str, rp_id: str) -> bool:
    """The client platform's check: an https origin whose host is the RP ID or below it."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    host = parts.hostname or ""
    return parts.scheme == "https" and (host == rp_id or host.endswith("." + rp_id))


class SoftwareAuthenticator:
    """A platform authenticator in software. Holds credential keys; never shows them."""

    def __init__(self, rng: Rng | None = None) -> None:
        self._rng: Final[Rng] = rng if rng is not None else SystemRng()
        self._credentials: Final[dict[bytes, _StoredCredential]] = {}

    def create_credential(self, rp_id: str, user_handle: bytes) -> Credential:
        """Make a discoverable credential for ``rp_id`` with the PRF extension enabled."""
        if not rp_id:
            raise PasskeyError("RP ID must not be empty")
        if not 1 <= len(user_handle) <= 64:
            raise PasskeyError(f"user handle must be 1..64 bytes, got {len(user_handle)}")
        credential_id = self._rng.random_bytes(CREDENTIAL_ID_LEN)
        key = P256CredentialKey.generate(self._rng)
        cred_random = Secret(self._rng.random_bytes(CRED_RANDOM_LEN))
        self._credentials[credential_id] = _StoredCredential(
            rp_id=rp_id, user_handle=bytes(user_handle), key=key, cred_random=cred_random
        )
        return Credential(credential_id=credential_id, cose_public_key=key.cose_public_key())

    def get_assertion(
        self,
        credential_id: bytes,
        rp_id: str,
        origin: str,
        challenge: bytes,
        prf_salt: bytes,
    ) -> Assertion:
        """Assert with ``credential_id`` over ``challenge`` and evaluate the PRF at
        ``prf_salt`` (the RP's PRF input, before the WebAuthn PRF hashing).

        Refuses, as a real client and authenticator would, a credential it does not hold,
        a credential scoped to another RP ID, and an origin outside the RP ID.
        """
        stored = self._credentials.get(bytes(credential_id))
        if stored is None or stored.rp_id != rp_id:
            raise PasskeyError("no such credential for this RP ID on this authenticator")
        if not _origin_matches_rp(origin, rp_id):
            raise PasskeyError(f"origin {origin[:100]!r} is not an https origin of RP {rp_id!r}")
        if stored.sign_count >= MAX_SIGN_COUNT:
            raise PasskeyError("signature counter exhausted")
        stored.sign_count += 1
        authenticator_data = (
            sha256(rp_id.encode("utf-8"))
            + bytes([FLAG_UP | FLAG_UV])
            + struct.pack(">I", stored.sign_count)
        )
        client_data = {
            "type": "webauthn.get",
            "challenge": _b64url(bytes(challenge)),
            "origin": origin,
            "crossOrigin": False,
        }
        client_data_json = json.dumps(client_data, separators=(",", ":")).encode("utf-8")
        signature = stored.key.sign(authenticator_data + sha256(client_data_json))
        prf_output = self.prf(credential_id, prf_salt)
        return Assertion(
            credential_id=bytes(credential_id),
            authenticator_data=authenticator_data,
            client_data_json=client_data_json,
            signature=signature,
            prf_output=prf_output,
        )

    def prf(self, credential_id: bytes, prf_salt: bytes) -> Secret:
        """Evaluate the credential's PRF at ``prf_salt`` without an assertion.

        This is the PRF extension's ``eval`` at registration time (WebAuthn Level 3 lets a
        ``create()`` return PRF results), which the client needs to wrap ``R`` when it
        enrols. The signature counter does not move.
        """
        stored = self._credentials.get(bytes(credential_id))
        if stored is None:
            raise PasskeyError("no such credential on this authenticator")
        return Secret(hmac_sha256(stored.cred_random.reveal(), webauthn_prf_salt(prf_salt)))

    def __repr__(self) -> str:
        return f"SoftwareAuthenticator(<{len(self._credentials)} credentials, keys redacted>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("SoftwareAuthenticator cannot be pickled")


def check_cose_public_key(cose_public_key: bytes) -> None:
    """``PasskeyError`` unless ``cose_public_key`` is a canonical ES256 P-256 COSE_Key."""
    try:
        parse_cose_p256_public_key(cose_public_key)
    except CryptoError as exc:
        raise PasskeyError(f"credential public key rejected: {exc}") from None


def verify_assertion(
    *,
    cose_public_key: bytes,
    credential_id: bytes,
    authenticator_data: bytes,
    client_data_json: bytes,
    signature: bytes,
    expected_challenge: bytes,
    rp_id: str = DEFAULT_RP_ID,
    origin: str = DEFAULT_ORIGIN,
    sign_count: int,
) -> int:
    """Verify a WebAuthn assertion as the relying party; return the new signature count.

    ``sign_count`` is the count stored with the credential; the returned count is what the
    caller stores next (a non-zero count must increase, or the assertion is a replay or
    from a cloned authenticator). The caller is responsible for having looked the
    credential up by ``credential_id`` and for ``expected_challenge`` being fresh and used
    once. Raises ``PasskeyError`` on every failure.
    """
    if not 0 <= sign_count <= MAX_SIGN_COUNT:
        raise PasskeyError(f"stored sign count {sign_count} out of range 0..{MAX_SIGN_COUNT}")
    if len(expected_challenge) < MIN_CHALLENGE_LEN:
        raise PasskeyError(
            f"challenge must be at least {MIN_CHALLENGE_LEN} bytes, got {len(expected_challenge)}"
        )
    if not credential_id:
        raise PasskeyError("credential id is empty")
    check_cose_public_key(cose_public_key)
    try:
        credential = AuthenticationCredential(
            id=_b64url(bytes(credential_id)),
            raw_id=bytes(credential_id),
            response=AuthenticatorAssertionResponse(
                client_data_json=bytes(client_data_json),
                authenticator_data=bytes(authenticator_data),
                signature=bytes(signature),
            ),
        )
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=bytes(expected_challenge),
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=bytes(cose_public_key),
            credential_current_sign_count=sign_count,
            require_user_verification=True,
        )
    except Exception as exc:  # py_webauthn raises its own and library errors
        raise PasskeyError(f"assertion did not verify: {_describe(exc)}") from None
    _check_not_cross_origin(client_data_json)
    return int(verified.new_sign_count)


def _describe(exc: Exception) -> str:
    text = str(exc).strip() or "malformed input"
    return f"{type(exc).__name__}: {text[:200]}"


def _check_not_cross_origin(client_data_json: bytes) -> None:
    try:
        parsed: Any = json.loads(client_data_json)
    except ValueError:
        raise PasskeyError("clientDataJSON is not JSON") from None
    if not isinstance(parsed, dict) or parsed.get("crossOrigin", False) is not False:
        raise PasskeyError("assertion was made in a cross-origin context")
