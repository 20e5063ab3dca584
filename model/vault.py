"""model.vault: the Backup Key Vault on one HSM, stated without cryptography.

This is the reference semantics of the vault that ``impl/`` runs and ``proofs/`` encodes.
States are immutable, comparable values; every action is a pure function
``state × arguments → (state, observable result)``.

Abstractions (what the model leaves out, on purpose):

- secrets are opaque integers (``secret`` ids), not bytes;
- a guess is only *right* or *wrong*: which password was typed does not matter to the
  vault's bookkeeping, only whether the comparison inside the HSM succeeds;
- the HSM's volatile state (sessions in flight) is not modelled; a crash is a flag on the
  one guess it interrupts, at the *fault point* between the durable charge and the answer.

The vault's own choices, stated in the spec (``docs/vault.rst``):

- every release request on a vault-held record (``password`` and ``passkey``) is charged
  one attempt *before* anything is compared (**charge before check**);
- a right guess does **not** give attempts back: the budget is per registration, and a
  client that wants a fresh budget re-registers after proving the secret;
- the wrong guess that uses the last attempt is answered ``WrongGuess(0)`` and destroys
  the record in the same step; later guesses are answered ``Destroyed``;
- a record left at the limit by a crash (charged, never answered) is destroyed by the next
  request before anything is compared.

Unsafe variants (``VARIANTS``) change exactly one of these rules; each one must make
invariant I3 ``attempt-limit`` fail, in the proofs and in the tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final


class Method(StrEnum):
    """The four protection methods of ``system.md``."""

    KEY64 = "key64"
    RECOVERY_CODE = "recovery-code"
    PASSWORD = "password"
    PASSKEY = "passkey"

    @property
    def uses_vault(self) -> bool:
        """True when the vault holds the recoverable secret (password, passkey)."""
        return self in (Method.PASSWORD, Method.PASSKEY)


DEFAULT_MAX_ATTEMPTS: Final = 10

#: The unsafe variants of this slice, each a one-rule change to the safe vault.
VARIANTS: Final[Mapping[str, str]] = {
    "check-before-charge": (
        "the HSM compares and answers before the attempt is recorded; "
        "a crash in between loses the charge"
    ),
    "no-destroy": "the record survives the limit and the vault keeps comparing",
    "off-by-one-limit": "the record is destroyed only after the 11th wrong guess is answered",
}


class UnknownVariant(ValueError):
    """A variant name that is not in ``VARIANTS``."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown unsafe variant {name!r}; known: {', '.join(sorted(VARIANTS))}")
        self.name = name


@dataclass(frozen=True)
class VaultConfig:
    """What the vault is configured with: the attempt limit and at most one unsafe variant."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    variant: str | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.variant is not None and self.variant not in VARIANTS:
            raise UnknownVariant(self.variant)


# ---------------------------------------------------------------------------------------
# State


@dataclass(frozen=True)
class Record:
    """One registration of one user.

    ``attempts`` is the durable charge; ``wrong_answered`` and ``released`` are *ghost*
    counters (what the vault has told the world), kept so invariants can speak of answers;
    ``answered_after_destroy`` is a ghost flag raised if a destroyed record ever answers a
    comparison again.
    """

    method: Method
    registration: int
    secret: int
    attempts: int = 0
    wrong_answered: int = 0
    released: int = 0
    destroyed: bool = False
    answered_after_destroy: bool = False


@dataclass(frozen=True)
class VaultState:
    """The vault: one current record per user, kept sorted so equal states compare equal."""

    records: tuple[tuple[str, Record], ...] = ()

    def get(self, user: str) -> Record | None:
        for name, record in self.records:
            if name == user:
                return record
        return None

    def with_record(self, user: str, record: Record) -> VaultState:
        kept = [(name, r) for name, r in self.records if name != user]
        return VaultState(tuple(sorted([*kept, (user, record)], key=lambda item: item[0])))

    def __iter__(self) -> Iterator[tuple[str, Record]]:
        return iter(self.records)


INITIAL: Final = VaultState()


# ---------------------------------------------------------------------------------------
# Observable results (the impl returns the same ones)


@dataclass(frozen=True)
class Registered:
    registration: int


@dataclass(frozen=True)
class Released:
    secret: int


@dataclass(frozen=True)
class WrongGuess:
    remaining: int


@dataclass(frozen=True)
class Destroyed:
    pass


@dataclass(frozen=True)
class NoRecord:
    pass


@dataclass(frozen=True)
class NoAnswer:
    """The HSM crashed before answering: the client saw nothing."""


@dataclass(frozen=True)
class WrongKey:
    """A method without the vault (key64, recovery-code): the key the user typed is wrong."""


Result = Registered | Released | WrongGuess | Destroyed | NoRecord | NoAnswer | WrongKey


# ---------------------------------------------------------------------------------------
# Actions


def register(
    state: VaultState, user: str, method: Method, secret: int
) -> tuple[VaultState, Result]:
    """Register ``secret`` for ``user`` under ``method``: a fresh record, a fresh budget.

    A new registration replaces the user's previous record (destroyed or not); it is a new
    registration with its own number. Whether the operator may force one is I5's question
    (``guess-budget``), not this slice's.
    """
    previous = state.get(user)
    number = 1 if previous is None else previous.registration + 1
    record = Record(method=method, registration=number, secret=secret)
    return state.with_record(user, record), Registered(number)


def guess(
    state: VaultState,
    user: str,
    correct: bool,
    crash: bool = False,
    config: VaultConfig = VaultConfig(),
) -> tuple[VaultState, Result]:
    """One recovery attempt by ``user``; ``crash`` makes the HSM fail at the fault point.

    For methods without the vault the guess is checked on the client: no attempt is
    charged and a crash of the HSM changes nothing.
    """
    record = state.get(user)
    if record is None:
        return state, NoRecord()
    if not record.method.uses_vault:
        return state, (Released(record.secret) if correct else WrongKey())
    new_record, result = guess_record(record, correct, crash, config)
    return state.with_record(user, new_record), result


def guess_record(
    record: Record, correct: bool, crash: bool, config: VaultConfig
) -> tuple[Record, Result]:
    """The vault's step on one vault-held record: the machine ``proofs/`` encodes."""
    limit = config.max_attempts
    variant = config.variant

    def at_limit(attempts: int) -> bool:
        return attempts > limit if variant == "off-by-one-limit" else attempts >= limit

    if record.destroyed:
        return record, Destroyed()
    if variant != "no-destroy" and at_limit(record.attempts):
        # A crash left the record charged to the limit: destroy before comparing.
        return replace(record, destroyed=True), Destroyed()

    if variant == "check-before-charge":
        # Compare and answer first; the charge comes after the answer, and a crash in
        # between loses it.
        answered = _answer(record, correct)
        if crash:
            return answered, _result(record, correct, record.attempts + 1, limit)
        charged = replace(answered, attempts=record.attempts + 1)
        if not correct and at_limit(charged.attempts):
            charged = replace(charged, destroyed=True)
        return charged, _result(record, correct, record.attempts + 1, limit)

    charged = replace(record, attempts=record.attempts + 1)
    if crash:
        return charged, NoAnswer()
    answered = _answer(charged, correct)
    if not correct and variant != "no-destroy" and at_limit(charged.attempts):
        answered = replace(answered, destroyed=True)
    return answered, _result(charged, correct, charged.attempts, limit)


def _answer(record: Record, correct: bool) -> Record:
    """Ghost bookkeeping of one answered comparison."""
    flagged = record.answered_after_destroy or record.destroyed
    if correct:
        return replace(record, released=record.released + 1, answered_after_destroy=flagged)
    return replace(record, wrong_answered=record.wrong_answered + 1, answered_after_destroy=flagged)


def _result(record: Record, correct: bool, attempts: int, limit: int) -> Result:
    if correct:
        return Released(record.secret)
    return WrongGuess(max(0, limit - attempts))


# ---------------------------------------------------------------------------------------
# Invariant I3


I3_NAME: Final = "attempt-limit"


@dataclass(frozen=True)
class Violation:
    """An invariant that does not hold, with what was expected and what was found."""

    invariant: str
    user: str
    detail: str


def check_i3(state: VaultState, config: VaultConfig = VaultConfig()) -> list[Violation]:
    """I3 ``attempt-limit`` on every record: at most ``max_attempts`` wrong guesses are
    answered per registration, and a destroyed record never answers again."""
    found: list[Violation] = []
    for user, record in state:
        if record.wrong_answered > config.max_attempts:
            found.append(
                Violation(
                    "I3",
                    user,
                    f"{record.wrong_answered} wrong guesses answered, limit {config.max_attempts}",
                )
            )
        if record.answered_after_destroy:
            found.append(Violation("I3", user, "a destroyed record answered a guess"))
    return found
