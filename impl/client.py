"""impl.client: the app's side: the root key, backups, enrolment and recovery per method.

The client makes the root key ``R``, encrypts backups under it (``impl.blob``) and keeps
``R`` recoverable by one of the four protection methods:

- ``key64``: the user writes ``R`` down as 64 hex digits; no vault;
- ``recovery-code``: ``R`` is derived from a 40-character recovery code and the user id;
  no vault;
- ``password``: the vault holds ``R``; the client sends only Argon2id(password, salt),
  sealed to the fleet key; a guess is answered ``Released``, ``WrongGuess(remaining)`` or
  ``Destroyed``;
- ``passkey``: the vault holds the credential's public key and a server share ``S``; after
  a valid assertion it releases ``S``, and ``R`` is unwrapped with
  HKDF(S || PRF output): neither ``S`` nor the device's PRF output alone unwraps it.

Everything the client sends to the vault goes through ``impl.session`` (HPKE to the fleet
key); the ``VaultEndpoint`` it is given is the operator's relay and sees only ciphertext.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from impl.blob import decrypt_backup, encrypt_backup, read_header
from impl.codes import (
    decode_key64,
    encode_key64,
    format_recovery_code,
    generate_recovery_code,
    parse_recovery_code,
    recovery_code_root_key,
)
from impl.crypto.hpke import FleetPublicKey
from impl.crypto.symmetric import (
    GCM_NONCE_LEN,
    Argon2Params,
    Rng,
    SystemRng,
    aes256gcm_open,
    aes256gcm_seal,
    argon2id,
    hkdf_sha256,
)
from impl.errors import BlobAuthenticationError, DecryptionError, WireError
from impl.messages import (
    BeginRecovery,
    Destroyed,
    NoRecord,
    PasskeyRecoveryInfo,
    PasswordRecoveryInfo,
    RecoverPasskey,
    RecoverPassword,
    Refused,
    Registered,
    RegisterPasskey,
    RegisterPassword,
    Released,
    Request,
    Response,
    WrongGuess,
)
from impl.method import Method
from impl.passkey import DEFAULT_ORIGIN, DEFAULT_RP_ID, SoftwareAuthenticator
from impl.redact import Secret
from impl.session import open_response, seal_request

#: The operator's relay: sealed request bytes in, sealed response bytes out.
VaultEndpoint = Callable[[bytes], bytes]

ROOT_KEY_LEN = 32
SALT_LEN = 32
PASSKEY_WRAP_INFO = b"vaultbench passkey wrap v1"
PASSKEY_WRAP_AAD = b"vaultbench passkey-wrapped root key v1"


class UnexpectedResponse(WireError):
    """The vault answered with a response that does not fit the request."""


@dataclass(frozen=True)
class ClientConfig:
    argon2: Argon2Params = Argon2Params.DEFAULT
    rp_id: str = DEFAULT_RP_ID
    origin: str = DEFAULT_ORIGIN


@dataclass(frozen=True)
class Enrollment:
    """What enrolment produced: the root key, what the user keeps, what blobs carry."""

    method: Method
    root_key: Secret
    metadata: bytes = b""
    registration: int | None = None
    #: the 64-digit key or the recovery code, for the user to write down
    shown_to_user: Secret | None = None


# ------------------------------------------------------------------ recovery outcomes


@dataclass(frozen=True)
class Recovered:
    plaintext: bytes
    root_key: Secret

    def __repr__(self) -> str:
        return f"Recovered(<{len(self.plaintext)} bytes>)"


@dataclass(frozen=True)
class WrongKey:
    """The key64 or recovery code typed does not decrypt the backup."""


Outcome = Recovered | WrongGuess | Destroyed | NoRecord | WrongKey | Refused


class Client:
    """One user's app."""

    def __init__(
        self,
        user: str,
        vault: VaultEndpoint,
        fleet_public_key: FleetPublicKey,
        *,
        config: ClientConfig | None = None,
        rng: Rng | None = None,
    ) -> None:
        self.user = user
        self._vault = vault
        self._fleet_key = fleet_public_key
        self.config = config or ClientConfig()
        self._rng: Rng = rng or SystemRng()

    def __repr__(self) -> str:
        return f"Client(user={self.user!r})"

    # ------------------------------------------------------------------- enrolment

    def enroll_key64(self) -> Enrollment:
        root = Secret(self._rng.random_bytes(ROOT_KEY_LEN))
        shown = Secret(encode_key64(root).encode())
        return Enrollment(Method.KEY64, root, shown_to_user=shown)

    def enroll_recovery_code(self) -> Enrollment:
        code = generate_recovery_code(self._rng)
        root = recovery_code_root_key(code, self.user)
        shown = Secret(format_recovery_code(code).encode())
        return Enrollment(Method.RECOVERY_CODE, root, shown_to_user=shown)

    def enroll_password(self, password: str) -> Enrollment:
        root = Secret(self._rng.random_bytes(ROOT_KEY_LEN))
        salt = self._rng.random_bytes(SALT_LEN)
        access = self._access_key(password, salt)
        response = self._call(RegisterPassword(self.user, salt, access, root))
        registration = self._registered(response)
        return Enrollment(Method.PASSWORD, root, registration=registration)

    def enroll_passkey(self, authenticator: SoftwareAuthenticator) -> Enrollment:
        root = Secret(self._rng.random_bytes(ROOT_KEY_LEN))
        credential = authenticator.create_credential(self.config.rp_id, self.user.encode())
        prf_salt = self._rng.random_bytes(SALT_LEN)
        prf = authenticator.prf(credential.credential_id, prf_salt)
        share = Secret(self._rng.random_bytes(ROOT_KEY_LEN))
        nonce = self._rng.random_bytes(GCM_NONCE_LEN)
        wrapped = nonce + aes256gcm_seal(
            _passkey_wrap_key(share, prf), nonce, root.reveal(), PASSKEY_WRAP_AAD
        )
        request = RegisterPasskey(
            self.user, credential.credential_id, credential.cose_public_key, prf_salt, share
        )
        registration = self._registered(self._call(request))
        return Enrollment(Method.PASSKEY, root, metadata=wrapped, registration=registration)

    # ---------------------------------------------------------------------- backup

    def backup(self, enrollment: Enrollment, plaintext: bytes) -> bytes:
        return encrypt_backup(
            enrollment.root_key,
            plaintext,
            enrollment.method,
            metadata=enrollment.metadata,
            rng=self._rng,
        )

    # -------------------------------------------------------------------- recovery

    def recover_key64(self, blob: bytes, typed: str) -> Outcome:
        return self._open(blob, decode_key64(typed))

    def recover_recovery_code(self, blob: bytes, typed: str) -> Outcome:
        parsed = parse_recovery_code(typed)
        return self._open(blob, recovery_code_root_key(parsed.code, self.user))

    def recover_password(self, blob: bytes, password: str) -> Outcome:
        read_header(blob)  # a malformed blob is refused before any attempt is spent
        info = self._call(BeginRecovery(self.user))
        if not isinstance(info, PasswordRecoveryInfo):
            return self._outcome(info)
        access = self._access_key(password, info.salt)
        answer = self._call(RecoverPassword(self.user, info.registration, access))
        if isinstance(answer, Released):
            return self._open(blob, answer.secret, wrong_key_is_error=True)
        return self._outcome(answer)

    def recover_passkey(
        self,
        blob: bytes,
        authenticator: SoftwareAuthenticator,
        *,
        credential_id: bytes | None = None,
    ) -> Outcome:
        """Recover with a passkey: assert over the vault's fresh challenge.

        ``credential_id`` defaults to the credential the vault names; another one (a
        discoverable credential the authenticator picks) is sent as it is, and the vault
        counts it as a wrong guess.
        """
        wrapped = read_header(blob).metadata
        info = self._call(BeginRecovery(self.user))
        if not isinstance(info, PasskeyRecoveryInfo):
            return self._outcome(info)
        assertion = authenticator.get_assertion(
            credential_id or info.credential_id,
            self.config.rp_id,
            self.config.origin,
            info.challenge,
            info.prf_salt,
        )
        request = RecoverPasskey(
            self.user,
            info.registration,
            assertion.credential_id,
            assertion.authenticator_data,
            assertion.client_data_json,
            assertion.signature,
        )
        answer = self._call(request)
        if not isinstance(answer, Released):
            return self._outcome(answer)
        if len(wrapped) < GCM_NONCE_LEN:
            raise BlobAuthenticationError("the blob carries no passkey-wrapped root key")
        try:
            root = aes256gcm_open(
                _passkey_wrap_key(answer.secret, assertion.prf_output),
                wrapped[:GCM_NONCE_LEN],
                wrapped[GCM_NONCE_LEN:],
                PASSKEY_WRAP_AAD,
            )
        except DecryptionError:
            raise BlobAuthenticationError(
                "the passkey-wrapped root key does not open with this share and PRF output"
            ) from None
        return self._open(blob, Secret(root), wrong_key_is_error=True)

    # ------------------------------------------------------------------- internals

    def _access_key(self, password: str, salt: bytes) -> Secret:
        return Secret(argon2id(password.encode("utf-8"), salt, self.config.argon2))

    def _call(self, request: Request) -> Response:
        sealed, response_key = seal_request(self._fleet_key, request, self._rng)
        return open_response(response_key, self._vault(sealed))

    @staticmethod
    def _registered(response: Response) -> int:
        if isinstance(response, Registered):
            return response.registration
        raise UnexpectedResponse(f"expected Registered, got {type(response).__name__}")

    @staticmethod
    def _outcome(response: Response) -> Outcome:
        """A vault answer that is not ``Released`` is the outcome itself."""
        if isinstance(response, WrongGuess | Destroyed | NoRecord | Refused):
            return response
        raise UnexpectedResponse(f"unexpected response {type(response).__name__}")

    @staticmethod
    def _open(blob: bytes, root: Secret, *, wrong_key_is_error: bool = False) -> Outcome:
        try:
            return Recovered(decrypt_backup(root, blob), root)
        except BlobAuthenticationError:
            if wrong_key_is_error:
                raise
            # The blob's header parsed, so a failing tag means the typed key is wrong
            # (or the blob was tampered with: the two are indistinguishable by design).
            return WrongKey()


def _passkey_wrap_key(share: Secret, prf_output: Secret) -> bytes:
    return hkdf_sha256(share.reveal() + prf_output.reveal(), PASSKEY_WRAP_INFO)


__all__ = [
    "Client",
    "ClientConfig",
    "Destroyed",
    "Enrollment",
    "NoRecord",
    "Outcome",
    "Recovered",
    "Refused",
    "WrongGuess",
    "WrongKey",
]
