"""impl.service: what an HSM does with one opened request, as a resumable procedure.

The steps of a request are the same whether one HSM applies its vault commands at once
(``impl.hsm.Hsm``) or a fleet replicates them through Multi-Paxos first
(``impl.replica.HsmReplica``). So each request is written once, as a generator: it reads
the vault to decide, **yields** every vault command it needs, and is resumed with what
applying that command did. The driver decides what "apply" means: at once and durably for
one HSM; for a fleet, only once the command is *chosen* (a quorum accepted it) and every
slot before it has been applied. Nothing is answered before the last command it depends on
has been applied, so an answer never runs ahead of the durable state.

The relay that carries every request is the operator, which keeps and replays them
(``docs/channel.rst``). So every request that is charged or changes state names the
record's *version* ``(registration, attempts)`` it was made for, and is refused with
``Stale`` (nothing compared, nothing charged, nothing changed) at any other version; the
vault checks the version again when the command is applied, so a request that passed this
read but lost a race in the log is refused there, still without a charge.

A guess goes through these steps (**charge before check**):

1. look the record up: ``NoRecord``, ``Destroyed``, ``Retired``, a request at another
   version (``Stale``) or for another method is answered without charging anything;
2. a record already at the limit (left there by a crash) is destroyed: ``Destroyed``;
3. ``ConsumeAttempt`` is yielded at the request's version; the vault refuses it for a
   record with no attempt left or at another version, so concurrent or replayed guesses
   can neither overdraw the budget nor be charged twice;
4. the fault point ``after-charge`` is yielded (an armed crash fires there);
5. the comparison: the access-key verifier (constant time) or the passkey assertion over
   the challenge of the request's version (``passkey_challenge``);
6. ``Settle`` (right or wrong: one command either way, so the fleet's traffic does not
   tell the operator which), then the answer: ``Released`` or ``WrongGuess``.

A registration names the version it replaces. Over no record or a tombstone (a destroyed
or retired record) it needs nothing more; over a live record it needs
``proof = replace_proof(the record's secret)`` and a record proved since its last charge,
so nobody gives a live secret a fresh budget without proving it first.

The unsafe variants of the old protocol are kept here by name: ``replayable-registration``
(a registration at any version, no proof), ``replayable-guess`` (a guess at any version)
and ``superseding-challenge`` (one volatile passkey challenge per user, replaced by every
``BeginRecovery``); the vault's ``check-before-charge`` compares and answers first and
charges after, its fault point between the answer and the charge.

Rotation adds ``RetireRecord``: the client moved the record to a newer fleet right after
the secret was released to it, and asks this fleet to delete it. The proof is
HKDF(the released secret, "vaultbench retire v1") compared in constant time (the secret
is 256 random bits, so this is no password oracle), and the vault itself refuses a
``Retire`` unless nothing was charged since the release (``VaultRecord.proved``). A
retired record answers ``Retired`` to everything, and retiring it again is answered
``Retired`` too, so a client whose answer was lost can simply ask again.
"""

from __future__ import annotations

import struct
from collections.abc import Generator
from dataclasses import dataclass

from impl.crypto.symmetric import Rng, hkdf_sha256, sha256
from impl.errors import PasskeyError
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
from impl.passkey import DEFAULT_ORIGIN, DEFAULT_RP_ID, verify_assertion
from impl.redact import Secret, ct_equal
from impl.vault import (
    Charged,
    Command,
    CommandResult,
    ConsumeAttempt,
    Destroy,
    PasskeyFactor,
    PasswordFactor,
    Register,
    Retire,
    SecretReleased,
    Settle,
    Vault,
    VaultPolicy,
    VaultRecord,
    WrongSettled,
)
from impl.vault import Registered as VaultRegistered

VERIFIER_INFO = b"vaultbench vault verifier v1"
RETIRE_INFO = b"vaultbench retire v1"
REPLACE_INFO = b"vaultbench replace v1"
CHALLENGE_LABEL = b"vaultbench passkey challenge v1"
CHALLENGE_LEN = 32
SECRET_LEN = 32
MIN_SALT_LEN = 16
FAULT_POINTS = ("after-charge",)


@dataclass(frozen=True)
class Rejected:
    """What a driver sends back when the vault refused a command (nothing changed)."""

    reason: str


@dataclass(frozen=True)
class FaultPoint:
    """A named point where an armed fault may fire; ``answer`` is already decided if set."""

    name: str
    answer: Response | None = None


#: What a request procedure yields, is resumed with, and finally returns.
Procedure = Generator[Command | FaultPoint, CommandResult | Rejected | None, Response]


class VaultService:
    """The request procedures of an HSM (and, for ``superseding-challenge`` only, its
    volatile passkey challenges: the safe protocol derives them from the record)."""

    def __init__(self, policy: VaultPolicy, rng: Rng, rp_id: str, origin: str) -> None:
        self.policy = policy
        self._rng = rng
        self._rp_id = rp_id
        self._origin = origin
        self._challenges: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"VaultService({len(self._challenges)} pending challenges)"

    def forget(self) -> None:
        """Lose the volatile state (a crash, or a replica that stops leading)."""
        self._challenges.clear()

    def procedure(self, request: Request, vault: Vault) -> Procedure:
        """procedure: the steps of ``request`` against ``vault`` (read, never written)."""
        match request:
            case RegisterPassword():
                return self._register_password(request, vault)
            case RegisterPasskey():
                return self._register_passkey(request, vault)
            case BeginRecovery(user=user):
                return self._begin(user, vault)
            case RecoverPassword() | RecoverPasskey():
                return self._guess(request, vault)
            case RetireRecord():
                return self._retire(request, vault)
        return _answer(Refused("unknown request"))  # pragma: no cover

    # ------------------------------------------------------------------- registration

    def _register_password(self, request: RegisterPassword, vault: Vault) -> Procedure:
        if len(request.salt) < MIN_SALT_LEN:
            return _answer(Refused(f"salt must be at least {MIN_SALT_LEN} bytes"))
        if len(request.access_key) != SECRET_LEN or len(request.secret) != SECRET_LEN:
            return _answer(Refused(f"access key and secret must be {SECRET_LEN} bytes"))
        refusal = self._admit(request, vault)
        if refusal is not None:
            return _answer(refusal)
        verifier = Secret(
            hkdf_sha256(request.access_key.reveal(), VERIFIER_INFO, salt=request.salt)
        )
        factor = PasswordFactor(salt=request.salt, verifier=verifier)
        command = Register(
            request.user,
            request.replaces,
            request.attempts,
            Method.PASSWORD,
            factor,
            request.secret,
        )
        return self._register(command, vault)

    def _register_passkey(self, request: RegisterPasskey, vault: Vault) -> Procedure:
        if len(request.server_share) != SECRET_LEN:
            return _answer(Refused(f"server share must be {SECRET_LEN} bytes"))
        if not request.credential_id or not request.cose_public_key or not request.prf_salt:
            return _answer(Refused("credential id, public key and PRF salt must not be empty"))
        refusal = self._admit(request, vault)
        if refusal is not None:
            return _answer(refusal)
        factor = PasskeyFactor(
            credential_id=request.credential_id,
            cose_public_key=request.cose_public_key,
            prf_salt=request.prf_salt,
        )
        command = Register(
            request.user,
            request.replaces,
            request.attempts,
            Method.PASSKEY,
            factor,
            request.server_share,
        )
        return self._register(command, vault)

    def _admit(self, request: RegisterPassword | RegisterPasskey, vault: Vault) -> Response | None:
        """The registration's version and, over a live record, its proof (rules 1 and 3)."""
        if self.policy.variant == "replayable-registration":
            return None  # the old protocol: any registration replaces the record
        record = vault.record(request.user)
        current = (0, 0) if record is None else record.version
        if (request.replaces, request.attempts) != current:
            return Stale(*current)
        policy = self.policy
        if (
            record is None
            or record.destroyed
            or (policy.destroys and policy.at_limit(record.attempts))
        ):
            return None  # nothing, a tombstone, or a record a crash left spent: no proof
        if not ct_equal(request.proof.reveal(), replace_proof(record.secret).reveal()):
            return Refused("a live record is replaced only with a proof of its secret")
        if not record.proved:
            return Refused("an attempt was charged since the secret was last proved")
        return None

    def _register(self, command: Register, vault: Vault) -> Procedure:
        result = yield command
        if not isinstance(result, VaultRegistered):
            # The record moved on between this read and the command's slot.
            record = vault.record(command.user)
            return Stale(*((0, 0) if record is None else record.version))
        return Registered(result.registration)

    # ------------------------------------------------------------------------ recovery

    def _begin(self, user: str, vault: Vault) -> Procedure:
        record = vault.record(user)
        if record is None:
            return NoRecord()
        if record.retired:
            return Retired()
        if record.destroyed:
            return Destroyed()
        factor = record.factor
        if isinstance(factor, PasswordFactor):
            return PasswordRecoveryInfo(record.registration, record.attempts, factor.salt)
        if self.policy.variant == "superseding-challenge":
            challenge = self._rng.random_bytes(CHALLENGE_LEN)
            self._challenges[user] = challenge
        else:
            challenge = passkey_challenge(record, record.attempts)
        return PasskeyRecoveryInfo(
            record.registration, record.attempts, challenge, factor.credential_id, factor.prf_salt
        )
        yield  # pragma: no cover - makes this a generator: it needs no command

    def _guess(self, request: RecoverPassword | RecoverPasskey, vault: Vault) -> Procedure:
        policy = self.policy
        record = vault.record(request.user)
        if record is None:
            return NoRecord()
        if record.registration != request.registration or (
            policy.variant != "replayable-guess" and record.attempts != request.attempts
        ):
            return Stale(*record.version)
        if record.retired:
            return Retired()
        if record.destroyed:
            return Destroyed()
        expected = Method.PASSWORD if isinstance(request, RecoverPassword) else Method.PASSKEY
        if record.method is not expected:
            return Refused(f"the record is protected by {record.method}, not {expected}")
        challenge = b""
        if isinstance(request, RecoverPasskey):
            if policy.variant == "superseding-challenge":
                pending = self._challenges.pop(request.user, None)
                if pending is None:
                    return Refused("no pending passkey challenge: begin the recovery again")
                challenge = pending
            else:
                challenge = passkey_challenge(record, request.attempts)
        if policy.destroys and policy.at_limit(record.attempts):
            yield Destroy(record.user, record.registration)
            return Destroyed()

        if policy.variant == "check-before-charge":
            right, count = self._compare(record, request, challenge)
            answer: Response = (
                Released(record.secret)
                if right
                else WrongGuess(max(0, policy.max_attempts - record.attempts - 1))
            )
            yield FaultPoint("after-charge", answer)
            charged = yield ConsumeAttempt(record.user, record.registration, request.attempts)
            if isinstance(charged, Charged):
                yield Settle(record.user, record.registration, charged.attempts, right, count)
            return answer

        charged = yield ConsumeAttempt(record.user, record.registration, request.attempts)
        if not isinstance(charged, Charged):
            return (yield from self._refused_charge(request, vault))
        yield FaultPoint("after-charge")
        right, sign_count = self._compare(record, request, challenge)
        settled = yield Settle(
            record.user, record.registration, charged.attempts, right, sign_count
        )
        if isinstance(settled, SecretReleased):
            return Released(settled.secret)
        if isinstance(settled, WrongSettled):
            return WrongGuess(max(0, policy.max_attempts - settled.attempts))
        return Destroyed()  # pragma: no cover - nothing but this guess can settle it

    def _retire(self, request: RetireRecord, vault: Vault) -> Procedure:
        """Rotation: delete a record that moved to a newer fleet (see the module docstring)."""
        record = vault.record(request.user)
        if record is None:
            return NoRecord()
        if record.version != (request.registration, request.attempts):
            return Stale(*record.version)
        if record.retired:
            return Retired()  # again: a client whose answer was lost asks again
        if record.destroyed:
            return Destroyed()
        if self.policy.destroys and self.policy.at_limit(record.attempts) and not record.proved:
            # A crash left the record spent: destroyed by the next request, this one. (A
            # record whose last attempt was the right guess is proved: it may move.)
            yield Destroy(record.user, record.registration)
            return Destroyed()
        if not ct_equal(request.proof.reveal(), retire_proof(record.secret).reveal()):
            return Refused("the retirement proof is not derived from this record's secret")
        if not record.proved:
            return Refused("an attempt was charged since the last release: prove it again")
        result = yield Retire(record.user, record.registration, request.attempts)
        if isinstance(result, Rejected):
            return Refused("retirement refused: an attempt was charged since the release")
        return Retired()

    def _refused_charge(self, request: RecoverPassword | RecoverPasskey, vault: Vault) -> Procedure:
        """The vault refused the charge: the record moved on while this guess waited (a
        concurrent or replayed request won the version), or it has no attempt left."""
        record = vault.record(request.user)
        if record is None:  # pragma: no cover - a record is never removed
            return NoRecord()
        if record.retired:
            return Retired()
        if record.destroyed:
            return Destroyed()
        if record.registration == request.registration and self.policy.at_limit(record.attempts):
            yield Destroy(record.user, record.registration)
            return Destroyed()
        return Stale(*record.version)

    def _compare(
        self,
        record: VaultRecord,
        request: RecoverPassword | RecoverPasskey,
        challenge: bytes,
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
        if not ct_equal(request.credential_id, factor.credential_id):
            return False, factor.sign_count
        try:
            count = verify_assertion(
                cose_public_key=factor.cose_public_key,
                credential_id=request.credential_id,
                authenticator_data=request.authenticator_data,
                client_data_json=request.client_data_json,
                signature=request.signature,
                expected_challenge=challenge,
                rp_id=self._rp_id,
                origin=self._origin,
                sign_count=factor.sign_count,
            )
        except PasskeyError:
            return False, factor.sign_count
        return True, count


def replace_proof(secret: Secret) -> Secret:
    """replace_proof: what proves the right to replace a live record: HKDF(secret,
    REPLACE_INFO). Only the client that holds the record's secret (``R``, or the passkey's
    server share after a release) can make it."""
    return Secret(hkdf_sha256(secret.reveal(), REPLACE_INFO))


def passkey_challenge(record: VaultRecord, attempts: int) -> bytes:
    """passkey_challenge: the WebAuthn challenge of ``record`` at version
    ``(record.registration, attempts)``: SHA-256 over a label, the user, the version and the
    registration's PRF salt (random per registration). Every replica computes the same one,
    nobody's ``BeginRecovery`` changes it, and the charge it pays for moves it on."""
    factor = record.factor
    assert isinstance(factor, PasskeyFactor)
    user = record.user.encode("utf-8")
    return sha256(
        CHALLENGE_LABEL
        + struct.pack(">H", len(user))
        + user
        + struct.pack(">II", record.registration, attempts)
        + struct.pack(">H", len(factor.prf_salt))
        + factor.prf_salt
    )


def retire_proof(secret: Secret) -> Secret:
    """retire_proof: what proves the right to retire a record: HKDF(secret, RETIRE_INFO)."""
    return Secret(hkdf_sha256(secret.reveal(), RETIRE_INFO))


def _answer(response: Response) -> Procedure:
    """A procedure that needs no command: it answers at once."""
    return response
    yield  # pragma: no cover


__all__ = [
    "CHALLENGE_LABEL",
    "CHALLENGE_LEN",
    "DEFAULT_ORIGIN",
    "DEFAULT_RP_ID",
    "FAULT_POINTS",
    "REPLACE_INFO",
    "RETIRE_INFO",
    "FaultPoint",
    "Procedure",
    "Rejected",
    "VaultService",
    "passkey_challenge",
    "replace_proof",
    "retire_proof",
]
