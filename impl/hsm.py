"""impl.hsm: one HSM replica running the vault.

The HSM holds the fleet's HPKE private key (it never leaves: there is no getter), opens
each sealed request, runs the vault and seals the answer to the response key the request
carried. The operator's relay only ever handles the sealed bytes.

A guess goes through these steps, in this order (**charge before check**):

1. look the record up: ``NoRecord``, ``Destroyed``, or a stale registration is answered
   without charging anything;
2. a record already at the limit (left there by a crash) is destroyed: ``Destroyed``;
3. ``ConsumeAttempt`` is applied and made durable;
4. *fault point* ``after-charge``: an armed crash fires here, no answer leaves;
5. the comparison: the access-key verifier (constant time) or the passkey assertion;
6. ``Release`` (right) or, at the limit, ``Destroy`` (wrong), then the answer.

The unsafe variant ``check-before-charge`` swaps 3 and 5: it compares and answers first,
then charges, and its fault point sits between the answer and the charge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from impl.crypto.hpke import FleetKeyPair, FleetPublicKey, KemChoice
from impl.crypto.symmetric import Rng, SystemRng, hkdf_sha256
from impl.errors import HsmUnavailable, PasskeyError, VaultError
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
from impl.passkey import DEFAULT_ORIGIN, DEFAULT_RP_ID, verify_assertion
from impl.redact import Secret, ct_equal
from impl.session import open_request, seal_response
from impl.store import CommandLog, MemoryLog
from impl.vault import (
    Command,
    ConsumeAttempt,
    Destroy,
    PasskeyFactor,
    PasswordFactor,
    Register,
    Release,
    SecretReleased,
    Vault,
    VaultPolicy,
    VaultRecord,
)
from impl.vault import Registered as VaultRegistered

FAULT_POINTS = ("after-charge",)
VERIFIER_INFO = b"vaultbench vault verifier v1"
CHALLENGE_LEN = 32
SECRET_LEN = 32
MIN_SALT_LEN = 16


@dataclass(frozen=True)
class HsmConfig:
    """How an HSM is set up: the vault policy, the session KEM, the WebAuthn party."""

    policy: VaultPolicy = field(default_factory=VaultPolicy)
    kem: KemChoice = KemChoice.X25519
    rp_id: str = DEFAULT_RP_ID
    origin: str = DEFAULT_ORIGIN


@dataclass(frozen=True)
class RecordView:
    """What tests and tools may see of a record: no secret, no verifier."""

    user: str
    method: Method
    registration: int
    attempts: int
    destroyed: bool


class Hsm:
    """An HSM replica: fleet key, vault, durable command log, volatile sessions."""

    def __init__(
        self,
        config: HsmConfig | None = None,
        *,
        name: str = "hsm[0]",
        log: CommandLog | None = None,
        rng: Rng | None = None,
        keypair: FleetKeyPair | None = None,
    ) -> None:
        self.config = config or HsmConfig()
        self.name = name
        self._rng: Rng = rng or SystemRng()
        self._keypair = keypair or FleetKeyPair.generate(self.config.kem)
        self._log: CommandLog = log if log is not None else MemoryLog()
        self._armed: set[str] = set()
        self._up = True
        self._vault = self._rebuild()
        self._challenges: dict[str, bytes] = {}
        self.requests_handled = 0
        self.requests_rejected = 0

    def __repr__(self) -> str:
        state = "up" if self._up else "down"
        return f"Hsm(name={self.name!r}, {state}, {len(self._log)} commands)"

    # ----------------------------------------------------------------- public surface

    @property
    def fleet_public_key(self) -> FleetPublicKey:
        return self._keypair.public_key()

    @property
    def is_up(self) -> bool:
        return self._up

    def handle(self, sealed_request: bytes) -> bytes:
        """Open one sealed request, run it, return the sealed answer.

        Raises ``HsmUnavailable`` when the HSM is down or crashes before answering, and a
        ``WireError``/``DecryptionError`` (changing nothing) for bytes that are not a
        request sealed to this HSM's fleet key.
        """
        if not self._up:
            raise HsmUnavailable(f"{self.name} is down")
        try:
            request, response_key = open_request(self._keypair, sealed_request)
        except Exception:
            self.requests_rejected += 1
            raise
        self.requests_handled += 1
        pending_crash = False
        try:
            response = self._execute(request)
        except _CrashAfterAnswer as crash:
            response, pending_crash = crash.response, True
        sealed = seal_response(response_key, response, self._rng)
        if pending_crash:
            self.crash()
        return sealed

    def arm_fault(self, point: str) -> None:
        """Make the next request that reaches ``point`` crash the HSM there."""
        if point not in FAULT_POINTS:
            raise VaultError(f"unknown fault point {point!r}; known: {', '.join(FAULT_POINTS)}")
        self._armed.add(point)

    def crash(self) -> None:
        """Lose everything volatile: the vault in memory, sessions, pending challenges."""
        self._up = False
        self._challenges.clear()
        self._armed.clear()

    def restart(self) -> None:
        """Come back from the durable log."""
        self._vault = self._rebuild()
        self._up = True

    def records(self) -> list[RecordView]:
        """The vault's records without their secrets (for tests, tools and the CLI)."""
        views = []
        for user in self._vault.users():
            record = self._vault.record(user)
            assert record is not None
            views.append(
                RecordView(
                    record.user,
                    record.method,
                    record.registration,
                    record.attempts,
                    record.destroyed,
                )
            )
        return views

    # --------------------------------------------------------------------- internals

    def _rebuild(self) -> Vault:
        vault = Vault(self.config.policy)
        for command in self._log.replay():
            vault.apply(command)
        return vault

    def _apply(self, command: Command) -> object:
        result = self._vault.apply(command)
        self._log.append(command)
        return result

    def _fault(self, point: str) -> bool:
        if point in self._armed:
            self._armed.discard(point)
            return True
        return False

    def _execute(self, request: Request) -> Response:
        match request:
            case RegisterPassword():
                return self._register_password(request)
            case RegisterPasskey():
                return self._register_passkey(request)
            case BeginRecovery(user=user):
                return self._begin(user)
            case RecoverPassword() | RecoverPasskey():
                return self._guess(request)
        return Refused("unknown request")  # pragma: no cover

    def _register_password(self, request: RegisterPassword) -> Response:
        if len(request.salt) < MIN_SALT_LEN:
            return Refused(f"salt must be at least {MIN_SALT_LEN} bytes")
        if len(request.access_key) != SECRET_LEN or len(request.secret) != SECRET_LEN:
            return Refused(f"access key and secret must be {SECRET_LEN} bytes")
        verifier = Secret(
            hkdf_sha256(request.access_key.reveal(), VERIFIER_INFO, salt=request.salt)
        )
        factor = PasswordFactor(salt=request.salt, verifier=verifier)
        return self._register(Register(request.user, Method.PASSWORD, factor, request.secret))

    def _register_passkey(self, request: RegisterPasskey) -> Response:
        if len(request.server_share) != SECRET_LEN:
            return Refused(f"server share must be {SECRET_LEN} bytes")
        if not request.credential_id or not request.cose_public_key or not request.prf_salt:
            return Refused("credential id, public key and PRF salt must not be empty")
        factor = PasskeyFactor(
            credential_id=request.credential_id,
            cose_public_key=request.cose_public_key,
            prf_salt=request.prf_salt,
        )
        command = Register(request.user, Method.PASSKEY, factor, request.server_share)
        return self._register(command)

    def _register(self, command: Register) -> Response:
        result = self._apply(command)
        assert isinstance(result, VaultRegistered)
        self._challenges.pop(command.user, None)
        return Registered(result.registration)

    def _begin(self, user: str) -> Response:
        record = self._vault.record(user)
        if record is None:
            return NoRecord()
        if record.destroyed:
            return Destroyed()
        factor = record.factor
        if isinstance(factor, PasswordFactor):
            return PasswordRecoveryInfo(record.registration, factor.salt)
        challenge = self._rng.random_bytes(CHALLENGE_LEN)
        self._challenges[user] = challenge
        return PasskeyRecoveryInfo(
            record.registration, challenge, factor.credential_id, factor.prf_salt
        )

    def _guess(self, request: RecoverPassword | RecoverPasskey) -> Response:
        policy = self.config.policy
        record = self._vault.record(request.user)
        if record is None:
            return NoRecord()
        if record.destroyed:
            return Destroyed()
        if record.registration != request.registration:
            return Refused(f"stale registration #{request.registration}")
        expected = Method.PASSWORD if isinstance(request, RecoverPassword) else Method.PASSKEY
        if record.method is not expected:
            return Refused(f"the record is protected by {record.method}, not {expected}")
        if policy.destroys and policy.at_limit(record.attempts):
            self._apply(Destroy(record.user, record.registration))
            return Destroyed()

        if policy.variant == "check-before-charge":
            right, _ = self._compare(record, request)
            answer = self._answer(record, right, record.attempts + 1)
            if self._fault("after-charge"):
                raise _CrashAfterAnswer(answer)
            self._apply(ConsumeAttempt(record.user, record.registration))
            if not right and policy.at_limit(record.attempts + 1):
                self._apply(Destroy(record.user, record.registration))
            return answer

        self._apply(ConsumeAttempt(record.user, record.registration))
        if self._fault("after-charge"):
            self.crash()
            raise HsmUnavailable(f"{self.name} crashed after charging the attempt")
        charged = self._vault.record(record.user)
        assert charged is not None
        right, sign_count = self._compare(charged, request)
        if right:
            released = self._apply(Release(charged.user, charged.registration, sign_count))
            assert isinstance(released, SecretReleased)
            return Released(released.secret)
        if policy.destroys and policy.at_limit(charged.attempts):
            self._apply(Destroy(charged.user, charged.registration))
        return WrongGuess(max(0, policy.max_attempts - charged.attempts))

    def _answer(self, record: VaultRecord, right: bool, attempts: int) -> Response:
        """The answer of ``check-before-charge``, computed before anything is recorded."""
        if right:
            return Released(record.secret)
        return WrongGuess(max(0, self.config.policy.max_attempts - attempts))

    def _compare(
        self, record: VaultRecord, request: RecoverPassword | RecoverPasskey
    ) -> tuple[bool, int]:
        """The comparison, after the charge. Returns (right, new passkey sign count)."""
        factor = record.factor
        if isinstance(request, RecoverPassword):
            assert isinstance(factor, PasswordFactor)
            if len(request.access_key) != SECRET_LEN:
                return False, 0
            candidate = hkdf_sha256(request.access_key.reveal(), VERIFIER_INFO, salt=factor.salt)
            return ct_equal(candidate, factor.verifier.reveal()), 0
        assert isinstance(factor, PasskeyFactor)
        challenge = self._challenges.pop(record.user, None)
        if challenge is None or not ct_equal(request.credential_id, factor.credential_id):
            return False, factor.sign_count
        try:
            count = verify_assertion(
                cose_public_key=factor.cose_public_key,
                credential_id=request.credential_id,
                authenticator_data=request.authenticator_data,
                client_data_json=request.client_data_json,
                signature=request.signature,
                expected_challenge=challenge,
                rp_id=self.config.rp_id,
                origin=self.config.origin,
                sign_count=factor.sign_count,
            )
        except PasskeyError:
            return False, factor.sign_count
        return True, count


class _CrashAfterAnswer(Exception):
    """Internal: the answer has left, the HSM crashes before recording the charge."""

    def __init__(self, response: Response) -> None:
        super().__init__("crash after answer")
        self.response = response
