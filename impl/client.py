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

**Rotation.** The client knows which fleet (epoch) holds its record. When it has learned
a newer fleet (``FleetLink``: from a verified bundle in ``ota`` mode, from an app update in
``pinned`` mode) it moves the record there only *right after the user proved the
password*: ``recover_password(..., migrate_to=link)`` gets ``Released`` from the old
fleet, asks it to retire the record (``RetireRecord`` with the proof derived from the
released secret; refused if anything was charged since), and only then registers the same
root key at the new fleet under a fresh salt. Retire first, register second: at no time do
two fleets hold a live record to guess against, so a migration never refills the budget
(I5 ``guess-budget``). Until the new fleet confirms, the step left is kept as
``pending_migration`` (on a device: in the keystore next to R) and
``resume_migration()`` finishes it; a lost answer is simply asked again (both steps are
idempotent).

The unsafe variant ``migrate-on-server-request`` (``ClientConfig.migration``) keeps the
last access key and moves the record whenever the server asks (``migrate_on_request``),
proof or not: the re-registration amplification of Davies et al. (CRYPTO 2023).

**Observation and leaking variants (I1 ``no-single-party-decrypts``).** With an
``observer`` (``impl.observe``) the client tags each sealed request with its flow, so the
operator's relay can record what it carries under the right label; nothing else changes.
``ClientConfig.leak`` selects an unsafe variant that leaks a secret to one party
(``LEAK_VARIANTS``), so a test can show that the observer catches it:

- ``password-to-relay``: the password's access key also travels in a clear header the
  relay reads (recorded as the operator's ``relay/access-key``); the sealed request is
  unchanged, so the vault still works, and the operator can replay the key itself;
- ``root-key-in-header``: the backup blob's (unencrypted, authenticated) header metadata
  carries ``R``, for the methods whose blobs carry no other metadata (key64,
  recovery-code, password); the storage provider reads it;
- ``pin-only-key``: for the password method, ``R`` = Argon2id(password, salt =
  SHA-256(user id)) with the client's Argon2 parameters, so anyone holding the blob can
  guess the password offline (registration still happens as usual).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

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
    sha256,
)
from impl.errors import (
    BlobAuthenticationError,
    ConfigError,
    DecryptionError,
    VaultbenchError,
    WireError,
)
from impl.logs import logger
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
    Retired,
    RetireRecord,
    Stale,
    WrongGuess,
)
from impl.method import Method
from impl.observe import Observer, observer_or_null, request_flow
from impl.passkey import DEFAULT_ORIGIN, DEFAULT_RP_ID, SoftwareAuthenticator
from impl.redact import Secret
from impl.service import replace_proof, retire_proof
from impl.session import open_response, seal_request

#: The operator's relay: sealed request bytes in, sealed response bytes out.
VaultEndpoint = Callable[[bytes], bytes]

ROOT_KEY_LEN = 32
SALT_LEN = 32
PASSKEY_WRAP_INFO = b"vaultbench passkey wrap v1"
PASSKEY_WRAP_AAD = b"vaultbench passkey-wrapped root key v1"


#: How the client decides to move its record to a newer fleet.
MigrationPolicy = Literal["after-proof", "migrate-on-server-request"]
MIGRATION_POLICIES: Final[tuple[MigrationPolicy, ...]] = (
    "after-proof",
    "migrate-on-server-request",
)

#: Unsafe client variants that leak a secret to one non-HSM party (module docstring).
LEAK_VARIANTS: Final[tuple[str, ...]] = (
    "password-to-relay",
    "root-key-in-header",
    "pin-only-key",
)


_log = logger(__name__)


class UnexpectedResponse(WireError):
    """The vault answered with a response that does not fit the request."""


class MigrationError(VaultbenchError):
    """A rotation step cannot be taken (refused by a fleet, or not allowed here)."""


@dataclass(frozen=True)
class ClientConfig:
    argon2: Argon2Params = Argon2Params.DEFAULT
    rp_id: str = DEFAULT_RP_ID
    origin: str = DEFAULT_ORIGIN
    #: ``after-proof`` (the design) or the unsafe ``migrate-on-server-request``
    migration: MigrationPolicy = "after-proof"
    #: None (the design) or one of the unsafe ``LEAK_VARIANTS``
    leak: str | None = None

    def __post_init__(self) -> None:
        if self.migration not in MIGRATION_POLICIES:
            raise ConfigError(
                f"unknown migration policy {self.migration!r}; "
                f"known: {', '.join(MIGRATION_POLICIES)}"
            )
        if self.leak is not None and self.leak not in LEAK_VARIANTS:
            raise ConfigError(
                f"unknown leak variant {self.leak!r}; known: {', '.join(LEAK_VARIANTS)}"
            )


@dataclass(frozen=True)
class FleetLink:
    """FleetLink: a fleet the client can talk to: its epoch, its session key, and the
    operator's relay to it (an ``OtaEndpoint``/``PinnedEndpoint`` checks the frames)."""

    epoch: int
    public_key: FleetPublicKey
    endpoint: VaultEndpoint

    def __repr__(self) -> str:
        return f"FleetLink(epoch {self.epoch})"


@dataclass(frozen=True)
class PendingMigration:
    """PendingMigration: a rotation under way; ``retired`` once the old fleet confirmed."""

    target: FleetLink
    registration: int
    #: the record's charged attempts right after the proof (the retirement's version)
    attempts: int
    proof: Secret
    root_key: Secret
    salt: bytes
    access_key: Secret
    retired: bool = False

    def __repr__(self) -> str:
        state = "retired, registering" if self.retired else "retiring"
        return f"PendingMigration(to epoch {self.target.epoch}, {state})"


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
    #: the epoch the record moved to right after this recovery, if it moved
    migrated_to: int | None = None

    def __repr__(self) -> str:
        moved = "" if self.migrated_to is None else f", migrated to epoch {self.migrated_to}"
        return f"Recovered(<{len(self.plaintext)} bytes>{moved})"


@dataclass(frozen=True)
class WrongKey:
    """The key64 or recovery code typed does not decrypt the backup."""


Outcome = Recovered | WrongGuess | Destroyed | NoRecord | WrongKey | Refused | Retired | Stale

#: How often an enrolment asks again after a ``Stale`` answer (the record moved on).
ENROL_TRIES: Final = 3


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
        epoch: int = 1,
        observer: Observer | None = None,
    ) -> None:
        self.user = user
        self._observer = observer_or_null(observer)
        self._vault = vault
        self._fleet_key = fleet_public_key
        self.config = config or ClientConfig()
        self._rng: Rng = rng or SystemRng()
        #: the epoch of the fleet that holds (or will hold) this user's record
        self.epoch = epoch
        #: the registration at that fleet, once enrolled or recovered
        self.registration: int | None = None
        #: the secret that registration holds (R, or the passkey's server share), kept
        #: while the client knows it, so that it can prove it to replace the record
        self._held: Secret | None = None
        #: the secret of an enrolment whose answer never came: the next enrolment enrols
        #: it again, so it can prove it if the lost registration was applied
        self._unconfirmed: Secret | None = None
        self.pending_migration: PendingMigration | None = None
        # Only under ``migrate-on-server-request``: what re-registering without the user
        # needs (the unsafe design keeps it; the safe one never does).
        self._cached: tuple[bytes, Secret, Secret] | None = None

    def __repr__(self) -> str:
        return f"Client(user={self.user!r}, epoch {self.epoch})"

    # ------------------------------------------------------------------- enrolment

    def enroll_key64(self) -> Enrollment:
        root = Secret(self._rng.random_bytes(ROOT_KEY_LEN))
        shown = Secret(encode_key64(root).encode())
        return Enrollment(Method.KEY64, root, metadata=self._header_leak(root), shown_to_user=shown)

    def enroll_recovery_code(self) -> Enrollment:
        code = generate_recovery_code(self._rng)
        root = recovery_code_root_key(code, self.user)
        shown = Secret(format_recovery_code(code).encode())
        return Enrollment(
            Method.RECOVERY_CODE, root, metadata=self._header_leak(root), shown_to_user=shown
        )

    def enroll_password(self, password: str) -> Enrollment:
        if self.config.leak == "pin-only-key":
            # UNSAFE: R is a function of the password and public data only.
            root = Secret(pin_only_root_key(password, self.user, self.config.argon2))
        else:
            root = self._unconfirmed or Secret(self._rng.random_bytes(ROOT_KEY_LEN))
        self._unconfirmed = root
        salt = self._rng.random_bytes(SALT_LEN)
        access = self._access_key(password, salt)
        registration = self._enrol(
            lambda replaces, attempts, proof: RegisterPassword(
                self.user, replaces, attempts, proof, salt, access, root
            ),
            self._call,
            root,
        )
        self.registration, self._held, self._unconfirmed = registration, root, None
        self._cache(salt, access, root)
        return Enrollment(
            Method.PASSWORD, root, metadata=self._header_leak(root), registration=registration
        )

    def enroll_passkey(self, authenticator: SoftwareAuthenticator) -> Enrollment:
        root = Secret(self._rng.random_bytes(ROOT_KEY_LEN))
        credential = authenticator.create_credential(self.config.rp_id, self.user.encode())
        prf_salt = self._rng.random_bytes(SALT_LEN)
        prf = authenticator.prf(credential.credential_id, prf_salt)
        share = self._unconfirmed or Secret(self._rng.random_bytes(ROOT_KEY_LEN))
        self._unconfirmed = share
        nonce = self._rng.random_bytes(GCM_NONCE_LEN)
        wrapped = nonce + aes256gcm_seal(
            _passkey_wrap_key(share, prf), nonce, root.reveal(), PASSKEY_WRAP_AAD
        )
        registration = self._enrol(
            lambda replaces, attempts, proof: RegisterPasskey(
                self.user,
                replaces,
                attempts,
                proof,
                credential.credential_id,
                credential.cose_public_key,
                prf_salt,
                share,
            ),
            self._call,
            share,
        )
        self.registration, self._held, self._unconfirmed = registration, share, None
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

    def recover_password(
        self, blob: bytes, password: str, *, migrate_to: FleetLink | None = None
    ) -> Outcome:
        """Recover with the password; with ``migrate_to`` (a newer fleet the client has
        learned), move the record there right after the password is proved."""
        read_header(blob)  # a malformed blob is refused before any attempt is spent
        if migrate_to is not None and migrate_to.epoch <= self.epoch:
            raise MigrationError(
                f"epoch {migrate_to.epoch} is not newer than the record's epoch {self.epoch}"
            )
        info = self._call(BeginRecovery(self.user))
        if not isinstance(info, PasswordRecoveryInfo):
            return self._outcome(info)
        access = self._access_key(password, info.salt)
        answer = self._call(RecoverPassword(self.user, info.registration, info.attempts, access))
        if not isinstance(answer, Released):
            return self._outcome(answer)
        recovered = self._open(blob, answer.secret, wrong_key_is_error=True)
        self.registration, self._held = info.registration, answer.secret
        self._cache(info.salt, access, answer.secret)
        if migrate_to is None or not isinstance(recovered, Recovered):
            return recovered
        # A fresh salt at the new fleet; its access key is computed now, while the
        # password is at hand (the pending step may finish after it is forgotten).
        salt = self._rng.random_bytes(SALT_LEN)
        self.pending_migration = PendingMigration(
            target=migrate_to,
            registration=info.registration,
            attempts=info.attempts + 1,  # this guess's charge
            proof=retire_proof(answer.secret),
            root_key=answer.secret,
            salt=salt,
            access_key=self._access_key(password, salt),
        )
        epoch = self.resume_migration()
        return Recovered(recovered.plaintext, recovered.root_key, migrated_to=epoch)

    def resume_migration(self) -> int:
        """resume_migration: finish the pending rotation; returns the record's new epoch.

        Retire at the old fleet (a ``Retired`` answer, also to a repeated request, means
        done), then register at the new one. A transport failure propagates and leaves
        the step for the next call. A refused retirement raises ``MigrationError`` and
        drops the pending migration (the record stays where it is, to move after the next
        proof); a refused registration raises ``UnexpectedResponse`` and keeps it (the old
        record is gone by then, so the registration must be retried).
        """
        pending = self.pending_migration
        if pending is None:
            raise MigrationError("no migration is pending")
        if not pending.retired:
            answer = self._call(
                RetireRecord(self.user, pending.registration, pending.attempts, pending.proof)
            )
            if not isinstance(answer, Retired):
                self.pending_migration = None
                raise MigrationError(
                    f"epoch {self.epoch} did not retire the record: {_describe(answer)}"
                )
            pending = PendingMigration(
                pending.target,
                pending.registration,
                pending.attempts,
                pending.proof,
                pending.root_key,
                pending.salt,
                pending.access_key,
                retired=True,
            )
            self.pending_migration = pending
        target = pending.target
        self.registration, self._held = None, None  # another fleet: another record
        registration = self._enrol(
            lambda replaces, attempts, proof: RegisterPassword(
                self.user,
                replaces,
                attempts,
                proof,
                pending.salt,
                pending.access_key,
                pending.root_key,
            ),
            lambda request: self._call_at(target, request),
            pending.root_key,
        )
        self._vault, self._fleet_key, self.epoch = target.endpoint, target.public_key, target.epoch
        self.registration, self._held = registration, pending.root_key
        self.pending_migration = None
        return target.epoch

    def migrate_on_request(self, target: FleetLink) -> int:
        """The unsafe ``migrate-on-server-request`` design: move the record now, because
        the server asked, with the access key kept from the last proof. Re-register at
        the new fleet, then try to retire the old record (refused if charged since)."""
        if self.config.migration != "migrate-on-server-request":
            raise MigrationError("the client moves its record only right after a proof")
        if self._cached is None or self.registration is None:
            raise MigrationError("nothing kept to re-register with")
        if target.epoch <= self.epoch:
            raise MigrationError(f"epoch {target.epoch} is not newer than {self.epoch}")
        salt, access, root = self._cached
        old = self.registration
        self.registration, self._held = None, None
        registration = self._enrol(
            lambda replaces, attempts, proof: RegisterPassword(
                self.user, replaces, attempts, proof, salt, access, root
            ),
            lambda request: self._call_at(target, request),
            root,
        )
        info = self._call(BeginRecovery(self.user))
        if isinstance(info, PasswordRecoveryInfo) and info.registration == old:
            self._call(RetireRecord(self.user, old, info.attempts, retire_proof(root)))
        self._vault, self._fleet_key, self.epoch = target.endpoint, target.public_key, target.epoch
        self.registration, self._held = registration, root
        return target.epoch

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
            info.attempts,
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

    def _cache(self, salt: bytes, access: Secret, root: Secret) -> None:
        """Keep what re-registering needs, only under the unsafe migration policy."""
        if self.config.migration == "migrate-on-server-request":
            self._cached = (salt, access, root)

    def _enrol(
        self,
        build: Callable[[int, int, Secret], Request],
        call: Callable[[Request], Response],
        secret: Secret,
    ) -> int:
        """Register ``secret`` at the version the vault names: first ``(0, 0)`` (no record),
        then, after a ``Stale`` answer, the version it gave. Over a live record the vault
        wants a proof of that record's secret (``docs/channel.rst``, rule 3): the client
        sends the proof of the secret it holds for its own registration, or else of
        ``secret`` itself (the live record may be this very registration, whose answer was
        lost). A record the client does not hold the secret of refuses it."""
        version, proof = (0, 0), Secret(b"")
        for _ in range(ENROL_TRIES):
            answer = call(build(version[0], version[1], proof))
            if not isinstance(answer, Stale):
                return self._registered(answer)
            version = (answer.registration, answer.attempts)
            held = self._held
            ours = held is not None and self.registration == answer.registration
            proof = replace_proof(held if ours and held is not None else secret)
        raise UnexpectedResponse(f"the record moved on {ENROL_TRIES} times during enrolment")

    def _call_at(self, link: FleetLink, request: Request) -> Response:
        return self._exchange(link.endpoint, link.public_key, link.epoch, request)

    def _access_key(self, password: str, salt: bytes) -> Secret:
        return Secret(argon2id(password.encode("utf-8"), salt, self.config.argon2))

    def _call(self, request: Request) -> Response:
        return self._exchange(self._vault, self._fleet_key, self.epoch, request)

    def _exchange(
        self, endpoint: VaultEndpoint, key: FleetPublicKey, epoch: int, request: Request
    ) -> Response:
        """Seal ``request`` to the fleet key, send it through the relay, open the answer."""
        flow = request_flow(request)
        sealed, response_key = seal_request(key, request, self._rng)
        self._observe(request, sealed)
        _log.debug("%s: %s to epoch %d (%d bytes sealed)", self.user, flow, epoch, len(sealed))
        try:
            response = open_response(response_key, endpoint(sealed))
        except Exception as exc:
            _log.debug("%s: %s failed: %s", self.user, flow, type(exc).__name__)
            raise
        _log.debug("%s: %s answered %s", self.user, flow, _describe(response))
        return response

    def _observe(self, request: Request, sealed: bytes) -> None:
        """Ghost: tag the sealed request with its flow for the relay's observer; under
        ``password-to-relay`` the relay also reads the access key from a clear header."""
        observer = self._observer
        if not observer.active:
            return
        observer.tag_request(sealed, request_flow(request))
        if self.config.leak == "password-to-relay" and isinstance(
            request, RegisterPassword | RecoverPassword
        ):
            observer.record("operator", "relay/access-key", request.access_key.reveal())

    def _header_leak(self, root: Secret) -> bytes:
        """The blob metadata for a method that carries none: R under the unsafe
        ``root-key-in-header``, nothing otherwise."""
        return root.reveal() if self.config.leak == "root-key-in-header" else b""

    @staticmethod
    def _registered(response: Response) -> int:
        if isinstance(response, Registered):
            return response.registration
        raise UnexpectedResponse(f"expected Registered, got {type(response).__name__}")

    @staticmethod
    def _outcome(response: Response) -> Outcome:
        """A vault answer that is not ``Released`` is the outcome itself."""
        if isinstance(response, WrongGuess | Destroyed | NoRecord | Refused | Retired | Stale):
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


def _describe(response: Response) -> str:
    """The answer's type and its public fields, for messages and logs (never a secret)."""
    if isinstance(response, Refused):
        return f"refused ({response.reason})"
    if isinstance(response, WrongGuess):
        return f"WrongGuess ({response.remaining} left)"
    if isinstance(response, Stale):
        return f"Stale (the record is at {response.registration}/{response.attempts})"
    return type(response).__name__


def _passkey_wrap_key(share: Secret, prf_output: Secret) -> bytes:
    return hkdf_sha256(share.reveal() + prf_output.reveal(), PASSKEY_WRAP_INFO)


def pin_only_root_key(password: str, user: str, params: Argon2Params) -> bytes:
    """pin_only_root_key: the unsafe ``pin-only-key`` variant's root key,
    Argon2id(password, salt = SHA-256(user id)): computable by anyone who can guess the
    password (shown here so that a test can run the offline attack with it)."""
    return argon2id(password.encode("utf-8"), sha256(user.encode("utf-8")), params)


__all__ = [
    "LEAK_VARIANTS",
    "MIGRATION_POLICIES",
    "Client",
    "ClientConfig",
    "Destroyed",
    "Enrollment",
    "FleetLink",
    "MigrationError",
    "MigrationPolicy",
    "NoRecord",
    "Outcome",
    "PendingMigration",
    "Recovered",
    "Refused",
    "Retired",
    "Stale",
    "WrongGuess",
    "WrongKey",
    "pin_only_root_key",
]
