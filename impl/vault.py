"""impl.vault: the deterministic vault state machine an HSM runs.

Command in, result out, nothing else: no clock, no randomness, no I/O. That is what lets a
later consensus layer replicate the vault by agreeing only on the order of commands: every
replica that applies the same commands in the same order holds the same records.

Five commands, plain frozen values. Every record has a *version*, ``(registration,
attempts)``, and the commands that a request makes name the version the request was made
for; the vault applies them only at exactly that version (a compare-and-swap checked here,
when the command is applied, so it holds on a fleet too). Every state change moves the
version, so a request is applied at most once: a replay is refused, whatever the relay
does (``docs/channel.rst``).

- ``Register``: a new registration at version ``(replaces, attempts)``: over no record
  (``(0, 0)``), over a destroyed or retired record (a *tombstone*, which keeps its number),
  or over a live record that is ``proved`` (the service has checked the proof of its secret
  first). The new record gets the next registration number and a fresh budget;
- ``ConsumeAttempt``: charge one attempt at version ``(registration, attempts)``, *before*
  the HSM compares anything; refused for a record with no attempt left, so concurrent
  guesses cannot overdraw the budget;
- ``Settle``: after every comparison, right or wrong: right marks the record proved (and
  records the passkey's sign count); wrong, at the limit, destroys it. One command either
  way, of one size, so the replicas' traffic does not tell the operator which it was;
- ``Destroy``: destroy the record (a crash left it at the limit); it never comes back;
- ``Retire``: the record moved to a newer fleet (rotation): destroy it here, marked
  ``retired``; refused unless the user *just proved* the secret (``proved``: the last
  thing that happened to the record was a registration or a release, no charge since).

Unsafe variants keep the old behaviour of one rule each: ``replayable-registration``
(``Register`` replaces the record at any version), ``replayable-guess`` (``ConsumeAttempt``
charges at any version); ``superseding-challenge`` lives in ``impl.service``.

The comparison itself (password verifier, passkey assertion) is *not* a command: it is the
HSM's work between ``ConsumeAttempt`` and ``Release``/``Destroy`` (``impl.hsm``). The
vault answers what a command did; it refuses commands that do not fit the state with a
``VaultError`` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

from impl.errors import VaultError
from impl.method import Method
from impl.redact import Secret

DEFAULT_MAX_ATTEMPTS: Final = 10

#: Unsafe variants of the vault, by the names the model and the docs use.
VARIANTS: Final = (
    "check-before-charge",
    "no-destroy",
    "off-by-one-limit",
    "replayable-registration",
    "replayable-guess",
    "superseding-challenge",
)


@dataclass(frozen=True)
class VaultPolicy:
    """The attempt limit and at most one unsafe variant."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    variant: str | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise VaultError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.variant is not None and self.variant not in VARIANTS:
            raise VaultError(
                f"unknown unsafe variant {self.variant!r}; known: {', '.join(VARIANTS)}"
            )

    def at_limit(self, attempts: int) -> bool:
        """True when ``attempts`` charged attempts exhaust the budget."""
        if self.variant == "off-by-one-limit":
            return attempts > self.max_attempts
        return attempts >= self.max_attempts

    @property
    def destroys(self) -> bool:
        return self.variant != "no-destroy"


# ------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class PasswordFactor:
    """What the vault keeps to check a password: the salt and a verifier of the access key."""

    salt: bytes
    verifier: Secret


@dataclass(frozen=True)
class PasskeyFactor:
    """What the vault keeps to check a passkey: the credential's public key, never a secret."""

    credential_id: bytes
    cose_public_key: bytes
    prf_salt: bytes
    sign_count: int = 0


@dataclass(frozen=True)
class VaultRecord:
    """One user's current registration."""

    user: str
    method: Method
    registration: int
    factor: PasswordFactor | PasskeyFactor
    secret: Secret
    attempts: int = 0
    destroyed: bool = False
    #: the last event on the record was the user proving the secret (registration or
    #: release); a charge clears it. Only a proved record may be retired (rotation).
    proved: bool = True
    #: destroyed because the record moved to a newer fleet, not at the attempt limit
    retired: bool = False

    @property
    def version(self) -> tuple[int, int]:
        """The record's version ``(registration, attempts)``: every state change moves it."""
        return (self.registration, self.attempts)


# ----------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Register:
    user: str
    replaces: int
    attempts: int
    method: Method
    factor: PasswordFactor | PasskeyFactor
    secret: Secret


@dataclass(frozen=True)
class ConsumeAttempt:
    user: str
    registration: int
    attempts: int


@dataclass(frozen=True)
class Settle:
    """The outcome of one comparison: ``right`` releases, wrong at the limit destroys.

    ``attempts`` is what the guess's own charge left: on a fleet another guess may be
    charged between this one's charge and its settlement, and the limit test must be this
    guess's (else a wrong guess would destroy the record under a concurrent right guess
    that holds the last attempt)."""

    user: str
    registration: int
    attempts: int
    right: bool
    sign_count: int = 0


@dataclass(frozen=True)
class Destroy:
    user: str
    registration: int


@dataclass(frozen=True)
class Retire:
    user: str
    registration: int
    attempts: int


Command = Register | ConsumeAttempt | Settle | Destroy | Retire

# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Registered:
    registration: int


@dataclass(frozen=True)
class Charged:
    attempts: int


@dataclass(frozen=True)
class SecretReleased:
    secret: Secret


@dataclass(frozen=True)
class RecordDestroyed:
    pass


@dataclass(frozen=True)
class WrongSettled:
    """A wrong guess settled: the record's charged attempts, and whether it is now gone."""

    attempts: int
    destroyed: bool


@dataclass(frozen=True)
class RecordRetired:
    pass


CommandResult = (
    Registered | Charged | SecretReleased | WrongSettled | RecordDestroyed | RecordRetired
)


@dataclass
class Vault:
    """The vault's records and the function that applies a command to them."""

    policy: VaultPolicy = field(default_factory=VaultPolicy)
    _records: dict[str, VaultRecord] = field(default_factory=dict)

    def record(self, user: str) -> VaultRecord | None:
        return self._records.get(user)

    def users(self) -> list[str]:
        return sorted(self._records)

    def records(self) -> tuple[VaultRecord, ...]:
        """records: every record, sorted by user (what a snapshot holds)."""
        return tuple(self._records[user] for user in sorted(self._records))

    def records_by_user(self) -> dict[str, VaultRecord]:
        """records_by_user: a copy of the records (they are immutable values)."""
        return dict(self._records)

    def restore(self, records: tuple[VaultRecord, ...]) -> None:
        """restore: replace every record with ``records`` (from a snapshot)."""
        self._records = {record.user: record for record in records}

    def apply(self, command: Command) -> CommandResult:
        """Apply one command; ``VaultError`` (and no change) if it does not fit the state."""
        match command:
            case Register(user=user, replaces=replaces, attempts=at, method=method):
                factor, secret = command.factor, command.secret
                if not method.uses_vault:
                    raise VaultError(f"method {method} does not use the vault")
                expected = PasswordFactor if method is Method.PASSWORD else PasskeyFactor
                if not isinstance(factor, expected):
                    raise VaultError(f"method {method} needs a {expected.__name__}")
                previous = self._records.get(user)
                if self.policy.variant != "replayable-registration":
                    self._check_version(previous, replaces, at)
                    spent = previous is not None and self._spent(previous)
                    if (
                        previous is not None
                        and not previous.destroyed
                        and not spent
                        and (not previous.proved)
                    ):
                        raise VaultError(
                            f"registration #{previous.registration} is live and was charged "
                            "since it was last proved: it may be replaced only right after a "
                            "proof"
                        )
                number = 1 if previous is None else previous.registration + 1
                self._records[user] = VaultRecord(user, method, number, factor, secret)
                return Registered(number)
            case ConsumeAttempt(user=user, registration=registration, attempts=at):
                record = self._live(user, registration)
                if self.policy.variant != "replayable-guess" and record.attempts != at:
                    raise VaultError(
                        f"stale version: the record is at attempt {record.attempts}, "
                        f"the command names {at}"
                    )
                if self.policy.destroys and self.policy.at_limit(record.attempts):
                    raise VaultError(f"registration #{registration} has no attempt left")
                charged = replace(record, attempts=record.attempts + 1, proved=False)
                self._records[user] = charged
                return Charged(charged.attempts)
            case Settle(user=user, registration=registration, attempts=at, right=right):
                record = self._live(user, registration)
                if not 1 <= at <= record.attempts:
                    raise VaultError(
                        f"settlement of charge {at}: the record has {record.attempts} charged"
                    )
                if right:
                    released = replace(record, proved=True)
                    if isinstance(record.factor, PasskeyFactor):
                        factor = replace(record.factor, sign_count=command.sign_count)
                        released = replace(released, factor=factor)
                    self._records[user] = released
                    return SecretReleased(record.secret)
                # A wrong answer after a proof (a concurrent guess) unproves the record.
                gone = self.policy.destroys and self.policy.at_limit(at)
                settled = replace(record, proved=False)
                if gone:
                    settled = replace(settled, destroyed=True, secret=Secret(b""))
                self._records[user] = settled
                return WrongSettled(at, gone)
            case Destroy(user=user, registration=registration):
                record = self._live(user, registration)
                self._records[user] = replace(record, destroyed=True, secret=Secret(b""))
                return RecordDestroyed()
            case Retire(user=user, registration=registration, attempts=at):
                record = self._live(user, registration)
                if record.attempts != at:
                    raise VaultError(
                        f"stale version: the record is at attempt {record.attempts}, "
                        f"the command names {at}"
                    )
                if not record.proved:
                    raise VaultError(
                        f"registration #{registration} was charged since the secret was "
                        "last proved: it may move to a newer fleet only right after a proof"
                    )
                self._records[user] = replace(
                    record, destroyed=True, retired=True, secret=Secret(b"")
                )
                return RecordRetired()
        raise VaultError(f"unknown command {type(command).__name__}")  # pragma: no cover

    def _spent(self, record: VaultRecord) -> bool:
        """A live record left at the limit by a crash: the next request destroys it, so a
        registration over it is one over a tombstone."""
        return self.policy.destroys and self.policy.at_limit(record.attempts)

    @staticmethod
    def _check_version(previous: VaultRecord | None, replaces: int, attempts: int) -> None:
        """A registration applies only at the record's exact current version."""
        version = (0, 0) if previous is None else (previous.registration, previous.attempts)
        if (replaces, attempts) != version:
            raise VaultError(
                f"stale version: the record is at ({version[0]}, {version[1]}), "
                f"the registration names ({replaces}, {attempts})"
            )

    def _live(self, user: str, registration: int) -> VaultRecord:
        record = self._records.get(user)
        if record is None:
            raise VaultError("no record for this user")
        if record.registration != registration:
            raise VaultError(
                f"stale registration: the record is #{record.registration}, "
                f"the command names #{registration}"
            )
        if record.destroyed:
            raise VaultError(f"registration #{registration} is destroyed")
        return record
