"""model.vault: the Backup Key Vault on one HSM, stated without cryptography.

This is the reference semantics of the vault that ``impl/`` runs and ``proofs/`` encodes.
States are immutable, comparable values; every action is a pure function
``state × arguments → (state, observable result)``.

Abstractions (what the model leaves out, on purpose):

- secrets are opaque integers (``secret`` ids), not bytes; an honest enrolment always
  brings a fresh id (the real client draws a fresh ``R`` or server share per
  registration), and every secret of the adversary is the one id ``ADVERSARY_SECRET``
  (no invariant counts the adversary's own secrets, and it may prove any of them);
- a guess is only *right* or *wrong*: a request carries the secret id it proves (``None``
  for a wrong password), and the comparison inside the HSM is an equality of ids;
- a *proof* of a secret (``HKDF(secret, "vaultbench replace v1")``) is the request
  carrying the secret id it proves; the adversary can put only its own secret there,
  never an honest one it was not released: that is the HPKE and HKDF assumption of
  ``docs/channel.rst``, stated here as a restriction on the adversary's actions;
- a sealed request is an opaque value (a frozen dataclass) that the adversary may keep,
  drop and deliver again, but never open or alter;
- the HSM's volatile state is not modelled, except the pending challenge of the
  ``superseding-challenge`` variant; a crash is a flag on the one guess it interrupts, at
  the *fault point* between the durable charge and the answer.

The vault's own choices, stated in the spec (``docs/vault.rst``, ``docs/channel.rst``):

- every record has a *version* ``(registration, attempts)``; every request that is
  charged or changes state names one, and is applied only at exactly that version
  (compare-and-swap); any other is answered ``Stale(registration, attempts)`` before
  anything is compared or charged; a user with no record is at version ``(0, 0)``;
- every release request on a vault-held record (``password`` and ``passkey``) is charged
  one attempt *before* anything is compared (**charge before check**); the charge moves
  the version on, so a request is charged at most once;
- a right guess does **not** give attempts back: the budget is per registration, and a
  client that wants a fresh budget re-registers after proving the secret;
- a live record is replaced only by a registration carrying a proof of its secret, and
  only while it is *proved* (a registration or a release happened, no charge since);
  otherwise the registration is ``Refused``;
- the wrong guess that uses the last attempt is answered ``WrongGuess(0)`` and destroys
  the record in the same step; later guesses are answered ``Destroyed``; a record left at
  the limit by a crash (charged, never answered) is destroyed by the next request at its
  version before anything is compared;
- destroyed and retired records stay as *tombstones* with their registration number; a
  registration over a tombstone needs no proof but must name the tombstone's version;
- a passkey challenge is derived from the version (``begin_recovery`` changes nothing).

Unsafe variants (``VARIANTS``) change exactly one of these rules; each one must make
invariant I3 ``attempt-limit`` fail, in the proofs and in the tests.

The channel (``Channel``): the honest client's knowledge per user, the adversary's capture
pool (every request the honest client sent, ``request_id`` = position + 1), and the actions
of both: the client enrols, begins a recovery, guesses, retires; the adversary replays any
captured request any number of times, injects ``BeginRecovery``, wrong guesses and
registrations of its own naming any version, and drops any honest request
(``deliver=False``: captured, never delivered; a later replay delays it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, TypeVar


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

#: The one secret id of the adversary (honest secret ids are 1, 2, …).
ADVERSARY_SECRET: Final = 0

#: A record's version: ``(registration, attempts)``; ``(0, 0)`` for a user with no record.
Version = tuple[int, int]
NO_VERSION: Final[Version] = (0, 0)

#: The unsafe variants of this slice, each a one-rule change to the safe vault.
VARIANTS: Final[Mapping[str, str]] = {
    "check-before-charge": (
        "the HSM compares and answers before the attempt is recorded; "
        "a crash in between loses the charge"
    ),
    "no-destroy": "the record survives the limit and the vault keeps comparing",
    "off-by-one-limit": "the record is destroyed only after the 11th wrong guess is answered",
    "replayable-registration": (
        "a registration replaces the record whatever version it names, with no proof"
    ),
    "replayable-guess": "a guess is charged whatever version it names",
    "superseding-challenge": (
        "one volatile challenge per user, replaced by every BeginRecovery; an assertion "
        "over a superseded challenge is charged as a wrong guess"
    ),
}


class UnknownVariant(ValueError):
    """A variant name that is not in ``VARIANTS``."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown unsafe variant {name!r}; known: {', '.join(sorted(VARIANTS))}")
        self.name = name


class Disabled(Exception):
    """The action's guard does not hold in this state (nothing happens)."""


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

    ``attempts`` is the durable charge; ``(registration, attempts)`` is the version.
    ``proved``: a registration or a release happened and no charge since (a live record
    may be replaced, or retired, only then). ``destroyed`` and ``retired`` make the record
    a tombstone; the model keeps its ``secret`` id as a ghost (the vault wiped it).
    ``wrong_answered`` and ``released`` are *ghost* counters of this registration (what
    the vault has told the world); ``answered_after_destroy`` is a ghost flag raised if a
    destroyed record ever answers a comparison again; ``honest`` is a ghost flag: the
    registration came from an honest client's request (its secret counts in I3).
    """

    method: Method
    registration: int
    secret: int
    attempts: int = 0
    wrong_answered: int = 0
    released: int = 0
    destroyed: bool = False
    answered_after_destroy: bool = False
    retired: bool = False
    proved: bool = True
    honest: bool = True

    @property
    def version(self) -> Version:
        return (self.registration, self.attempts)

    @property
    def tombstone(self) -> bool:
        """Destroyed or retired: the record stays, and never answers again."""
        return self.destroyed or self.retired


_K = TypeVar("_K", str, int, tuple[str, int])
_V = TypeVar("_V")


def _get(pairs: tuple[tuple[_K, _V], ...], key: _K, default: _V) -> _V:
    """The value of ``key`` in a sorted tuple of pairs (a frozen mapping)."""
    for k, v in pairs:
        if k == key:
            return v
    return default


def _put(pairs: tuple[tuple[_K, _V], ...], key: _K, value: _V) -> tuple[tuple[_K, _V], ...]:
    """The pairs with ``key`` set to ``value``, sorted so equal mappings compare equal."""
    kept: list[tuple[_K, _V]] = [(k, v) for k, v in pairs if k != key]
    kept.append((key, value))
    return tuple(sorted(kept, key=lambda item: item[0]))


@dataclass(frozen=True)
class Ghost:
    """Ghost state for I3 (what the vault has told the world, never read by the vault).

    ``wrong``: per honest ``(user, secret)``, wrong guesses answered, across every record
    that ever held the secret. ``dead``: honest secrets whose record was destroyed or
    retired; ``dead_answered``: dead secrets compared and answered again. ``charged``: per
    honest ``(user, request_id)``, the charges it paid. ``honest_wronged``: honest right
    guesses ``(user, request_id)`` answered ``WrongGuess`` (``request_id`` 0 when the
    request has none). ``released``: secrets released, in all.
    """

    wrong: tuple[tuple[tuple[str, int], int], ...] = ()
    dead: frozenset[tuple[str, int]] = frozenset()
    dead_answered: frozenset[tuple[str, int]] = frozenset()
    charged: tuple[tuple[tuple[str, int], int], ...] = ()
    honest_wronged: frozenset[tuple[str, int]] = frozenset()
    released: int = 0


@dataclass(frozen=True)
class VaultState:
    """The vault: one current record (or tombstone) per user, kept sorted so equal states
    compare equal; the pending challenges (``superseding-challenge`` only) and the ghost."""

    records: tuple[tuple[str, Record], ...] = ()
    challenges: tuple[tuple[str, int], ...] = ()
    ghost: Ghost = field(default_factory=Ghost)

    def get(self, user: str) -> Record | None:
        return _get(self.records, user, None)

    def version(self, user: str) -> Version:
        record = self.get(user)
        return NO_VERSION if record is None else record.version

    def challenge(self, user: str) -> int:
        return _get(self.challenges, user, 0)

    def with_record(self, user: str, record: Record) -> VaultState:
        return replace(self, records=_put(self.records, user, record))

    def __iter__(self) -> Iterator[tuple[str, Record]]:
        return iter(self.records)


INITIAL: Final = VaultState()


# ---------------------------------------------------------------------------------------
# Requests (sealed values: the adversary can keep and resend them, never alter them)


@dataclass(frozen=True)
class RegisterRequest:
    """``RegisterPassword``/``RegisterPasskey``: ``secret`` for ``user`` at ``version``,
    with ``proof`` of the live record's secret (``None``: no proof)."""

    user: str
    method: Method
    secret: int
    version: Version
    proof: int | None = None
    honest: bool = True


@dataclass(frozen=True)
class GuessRequest:
    """``RecoverPassword``/``RecoverPasskey`` at ``version``: ``secret`` is the secret the
    guess proves (``None``: a wrong password); ``challenge`` the one a passkey assertion
    was made over (read by ``superseding-challenge`` only)."""

    user: str
    secret: int | None
    version: Version
    challenge: int = 0
    honest: bool = True


@dataclass(frozen=True)
class RetireRequest:
    """``RetireRecord`` at ``version``, with ``proof`` of the record's secret."""

    user: str
    version: Version
    proof: int | None
    honest: bool = True


Request = RegisterRequest | GuessRequest | RetireRequest


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


@dataclass(frozen=True)
class Stale:
    """The request named another version; nothing changed. The current version."""

    registration: int
    attempts: int


@dataclass(frozen=True)
class Refused:
    """A registration over a live record without a proof, or not right after one; a
    retirement without a proof. Nothing changed."""

    reason: str


@dataclass(frozen=True)
class Retired:
    """The record is retired: a tombstone from now on."""


@dataclass(frozen=True)
class Challenge:
    """The answer to ``BeginRecovery``: the current version and the passkey challenge
    (derived from the version in the safe vault, where the model writes 0)."""

    registration: int
    attempts: int
    challenge: int = 0


Result = (
    Registered
    | Released
    | WrongGuess
    | Destroyed
    | NoRecord
    | NoAnswer
    | WrongKey
    | Stale
    | Refused
    | Retired
    | Challenge
)


# ---------------------------------------------------------------------------------------
# The vault's actions


def _at_limit(attempts: int, config: VaultConfig) -> bool:
    limit = config.max_attempts
    return attempts > limit if config.variant == "off-by-one-limit" else attempts >= limit


def _kills_at_limit(record: Record, config: VaultConfig) -> bool:
    """A live record left at the limit (by a crash): the next request destroys it."""
    return (
        not record.tombstone
        and config.variant != "no-destroy"
        and _at_limit(record.attempts, config)
    )


def _mark_dead(ghost: Ghost, user: str, record: Record) -> Ghost:
    if not record.honest:
        return ghost
    return replace(ghost, dead=ghost.dead | {(user, record.secret)})


def apply(
    state: VaultState,
    request: Request,
    config: VaultConfig = VaultConfig(),
    *,
    crash: bool = False,
    request_id: int | None = None,
) -> tuple[VaultState, Result]:
    """apply: the vault's step on one request (``crash`` interrupts a guess at the fault
    point; ``request_id`` names an honest request for the ghost's charge count)."""
    if isinstance(request, RegisterRequest):
        return _apply_register(state, request, config)
    if isinstance(request, GuessRequest):
        return _apply_guess(state, request, config, crash, request_id)
    return _apply_retire(state, request, config)


def _apply_register(
    state: VaultState, request: RegisterRequest, config: VaultConfig
) -> tuple[VaultState, Result]:
    user = request.user
    previous = state.get(user)
    current = state.version(user)
    ghost = state.ghost
    if config.variant != "replayable-registration":
        if request.version != current:
            return state, Stale(*current)
        if previous is not None and _kills_at_limit(previous, config):
            # Left at the limit by a crash: destroyed first, then it is a tombstone.
            ghost = _mark_dead(ghost, user, previous)
        elif previous is not None and not previous.tombstone:
            if not previous.proved:
                return state, Refused("the record is not proved: a charge since the last proof")
            if request.proof is None or request.proof != previous.secret:
                return state, Refused("no proof of the record's secret")
    number = current[0] + 1
    record = Record(
        method=request.method, registration=number, secret=request.secret, honest=request.honest
    )
    return replace(state.with_record(user, record), ghost=ghost), Registered(number)


def _apply_guess(
    state: VaultState,
    request: GuessRequest,
    config: VaultConfig,
    crash: bool,
    request_id: int | None,
) -> tuple[VaultState, Result]:
    user = request.user
    record = state.get(user)
    if record is None:
        return state, NoRecord()
    right = request.secret is not None and request.secret == record.secret
    if not record.method.uses_vault:
        # Checked on the client: no version, no charge, a crash of the HSM changes nothing.
        return state, (Released(record.secret) if right else WrongKey())
    # replayable-guess drops the compare-and-swap on the attempts only: the registration
    # number is still checked, as the protocol before the versions did.
    checked = (
        request.version[0] == record.registration
        if config.variant == "replayable-guess"
        else request.version == record.version
    )
    if not checked:
        return state, Stale(*record.version)
    if record.retired:
        return state, Retired()
    correct = right
    if (
        config.variant == "superseding-challenge"
        and record.method is Method.PASSKEY
        and request.challenge != state.challenge(user)
    ):
        # The assertion signed a challenge that a BeginRecovery has since replaced.
        correct = False
    new_record, result = guess_record(record, correct, crash, config)

    ghost = state.ghost
    answered = isinstance(result, Released | WrongGuess)
    if record.honest:
        key = (user, record.secret)
        if answered and key in ghost.dead:
            ghost = replace(ghost, dead_answered=ghost.dead_answered | {key})
        if isinstance(result, WrongGuess):
            ghost = replace(ghost, wrong=_put(ghost.wrong, key, _get(ghost.wrong, key, 0) + 1))
        if new_record.destroyed and not record.destroyed:
            ghost = _mark_dead(ghost, user, record)
    if isinstance(result, Released):
        ghost = replace(ghost, released=ghost.released + 1)
    if request.honest and request_id is not None and new_record.attempts > record.attempts:
        key = (user, request_id)
        ghost = replace(ghost, charged=_put(ghost.charged, key, _get(ghost.charged, key, 0) + 1))
    if request.honest and right and isinstance(result, WrongGuess):
        ghost = replace(ghost, honest_wronged=ghost.honest_wronged | {(user, request_id or 0)})
    return replace(state.with_record(user, new_record), ghost=ghost), result


def _apply_retire(
    state: VaultState, request: RetireRequest, config: VaultConfig
) -> tuple[VaultState, Result]:
    user = request.user
    record = state.get(user)
    if record is None:
        return state, NoRecord()
    if request.version != record.version:
        return state, Stale(*record.version)
    if record.tombstone:
        # Retiring again is answered Retired: a client whose answer was lost asks again.
        return state, Retired() if record.retired else Destroyed()
    if _kills_at_limit(record, config) and not record.proved:
        # Spent by a crash: destroyed by this request. (A record whose last attempt was
        # the user's right guess is spent too, but proved: it may move, as after any proof.)
        destroyed = replace(record, destroyed=True)
        ghost = _mark_dead(state.ghost, user, record)
        return replace(state.with_record(user, destroyed), ghost=ghost), Destroyed()
    if not record.proved or request.proof is None or request.proof != record.secret:
        return state, Refused("retiring needs a proof, right after one")
    ghost = _mark_dead(state.ghost, user, record)
    return replace(state.with_record(user, replace(record, retired=True)), ghost=ghost), Retired()


def begin_recovery(
    state: VaultState, user: str, config: VaultConfig = VaultConfig()
) -> tuple[VaultState, Challenge]:
    """``BeginRecovery`` (anyone's): the current version and challenge. It changes nothing,
    except under ``superseding-challenge``, where it replaces the user's pending challenge."""
    registration, attempts = state.version(user)
    if config.variant != "superseding-challenge":
        return state, Challenge(registration, attempts, 0)
    fresh = state.challenge(user) + 1
    state = replace(state, challenges=_put(state.challenges, user, fresh))
    return state, Challenge(registration, attempts, fresh)


def register(
    state: VaultState,
    user: str,
    method: Method,
    secret: int,
    *,
    version: Version | None = None,
    proof: int | None = None,
    honest: bool = True,
    config: VaultConfig = VaultConfig(),
) -> tuple[VaultState, Result]:
    """Register ``secret`` for ``user`` under ``method``: a fresh record, a fresh budget.

    ``version`` defaults to the current one (a client that just asked). Over a live record
    the registration needs ``proof`` (the record's secret) and a proved record, else it is
    ``Refused``; over no record or a tombstone it needs none, and gets the next
    registration number.
    """
    named = state.version(user) if version is None else version
    request = RegisterRequest(user, method, secret, named, proof, honest)
    return apply(state, request, config)


def guess(
    state: VaultState,
    user: str,
    correct: bool,
    crash: bool = False,
    config: VaultConfig = VaultConfig(),
    *,
    version: Version | None = None,
    request_id: int | None = None,
) -> tuple[VaultState, Result]:
    """One recovery attempt by ``user``; ``crash`` makes the HSM fail at the fault point.

    ``version`` defaults to the current one and the passkey assertion to the current
    challenge (an honest client that just began). For methods without the vault the guess
    is checked on the client: no attempt is charged and a crash of the HSM changes nothing.
    """
    record = state.get(user)
    if record is None:
        return state, NoRecord()
    named = record.version if version is None else version
    request = GuessRequest(
        user, record.secret if correct else None, named, state.challenge(user), honest=True
    )
    return apply(state, request, config, crash=crash, request_id=request_id)


def retire(
    state: VaultState,
    user: str,
    proof: int | None,
    config: VaultConfig = VaultConfig(),
    *,
    version: Version | None = None,
) -> tuple[VaultState, Result]:
    """Retire ``user``'s record (a rotation moved it elsewhere): needs ``proof`` of its
    secret and a proved record; the record stays as a tombstone."""
    named = state.version(user) if version is None else version
    return apply(state, RetireRequest(user, named, proof), config)


def guess_record(
    record: Record, correct: bool, crash: bool, config: VaultConfig
) -> tuple[Record, Result]:
    """The vault's step on one vault-held record at the version the request named: the
    per-record machine ``proofs/`` encodes (the version check comes before it)."""
    limit = config.max_attempts
    variant = config.variant

    def at_limit(attempts: int) -> bool:
        return _at_limit(attempts, config)

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
            # The answer left; the charge, and every durable change with it, is lost.
            lost = replace(answered, proved=record.proved)
            return lost, _result(record, correct, record.attempts + 1, limit)
        charged = replace(answered, attempts=record.attempts + 1)
        if not correct and at_limit(charged.attempts):
            charged = replace(charged, destroyed=True)
        return charged, _result(record, correct, record.attempts + 1, limit)

    charged = replace(record, attempts=record.attempts + 1, proved=False)
    if crash:
        return charged, NoAnswer()
    answered = _answer(charged, correct)
    if not correct and variant != "no-destroy" and at_limit(charged.attempts):
        answered = replace(answered, destroyed=True)
    return answered, _result(charged, correct, charged.attempts, limit)


def _answer(record: Record, correct: bool) -> Record:
    """Ghost bookkeeping of one answered comparison; a right one proves the secret."""
    flagged = record.answered_after_destroy or record.destroyed
    if correct:
        return replace(
            record, released=record.released + 1, answered_after_destroy=flagged, proved=True
        )
    return replace(
        record,
        wrong_answered=record.wrong_answered + 1,
        answered_after_destroy=flagged,
        proved=False,
    )


def _result(record: Record, correct: bool, attempts: int, limit: int) -> Result:
    if correct:
        return Released(record.secret)
    return WrongGuess(max(0, limit - attempts))


# ---------------------------------------------------------------------------------------
# The channel: the honest client, the adversary's capture pool, and their actions


@dataclass(frozen=True)
class Client:
    """What the honest client of one user knows: the version it last learned, the secret
    it holds (the last one it registered), and the challenge it last received."""

    version: Version = NO_VERSION
    secret: int | None = None
    challenge: int = 0


@dataclass(frozen=True)
class Channel:
    """The vault with the operator on the channel.

    ``pool``: every request an honest client sent, in order (``request_id`` = position + 1);
    the adversary keeps them all. ``next_secret``: the next fresh honest secret id.
    ``replay_refused``: ghost, some replay was answered ``Stale`` or ``Refused``.
    """

    vault: VaultState = INITIAL
    clients: tuple[tuple[str, Client], ...] = ()
    pool: tuple[Request, ...] = ()
    next_secret: int = 1
    replay_refused: bool = False

    def client(self, user: str) -> Client:
        return _get(self.clients, user, Client())

    def with_client(self, user: str, client: Client) -> Channel:
        return replace(self, clients=_put(self.clients, user, client))


def _send(
    world: Channel,
    request: Request,
    deliver: bool,
    config: VaultConfig,
    crash: bool = False,
) -> tuple[Channel, Result | None]:
    """The honest client sends ``request``: the adversary captures it and (unless it drops
    it) delivers it at once. ``None`` when dropped: the client saw nothing."""
    world = replace(world, pool=(*world.pool, request))
    if not deliver:
        return world, None
    vault, result = apply(world.vault, request, config, crash=crash, request_id=len(world.pool))
    return replace(world, vault=vault), result


def client_enrol(
    world: Channel,
    user: str,
    method: Method = Method.PASSWORD,
    *,
    deliver: bool = True,
    config: VaultConfig = VaultConfig(),
) -> tuple[Channel, Result | None]:
    """The honest client registers a fresh secret at the version it last learned, with a
    proof of the secret it holds (if any). On ``Registered`` it holds the new secret."""
    client = world.client(user)
    secret = world.next_secret
    request = RegisterRequest(user, method, secret, client.version, client.secret)
    world, result = _send(replace(world, next_secret=secret + 1), request, deliver, config)
    if isinstance(result, Registered):
        world = world.with_client(
            user, replace(client, version=(result.registration, 0), secret=secret)
        )
    return world, result


def client_begin(
    world: Channel, user: str, *, config: VaultConfig = VaultConfig()
) -> tuple[Channel, Result]:
    """The honest client's ``BeginRecovery``: it learns the version and the challenge."""
    vault, answer = begin_recovery(world.vault, user, config)
    client = replace(
        world.client(user),
        version=(answer.registration, answer.attempts),
        challenge=answer.challenge,
    )
    return replace(world, vault=vault).with_client(user, client), answer


def client_guess(
    world: Channel,
    user: str,
    correct: bool,
    *,
    crash: bool = False,
    deliver: bool = True,
    config: VaultConfig = VaultConfig(),
) -> tuple[Channel, Result | None]:
    """The honest client guesses at the version it learned: right (it proves the secret it
    holds; disabled if it holds none) or wrong (a typo)."""
    client = world.client(user)
    if correct and client.secret is None:
        raise Disabled("client_guess: the client holds no secret")
    request = GuessRequest(
        user, client.secret if correct else None, client.version, client.challenge
    )
    return _send(world, request, deliver, config, crash)


def client_retire(
    world: Channel,
    user: str,
    *,
    deliver: bool = True,
    config: VaultConfig = VaultConfig(),
) -> tuple[Channel, Result | None]:
    """The honest client retires its record at the version it learned, proving the secret
    it holds (disabled if it holds none)."""
    client = world.client(user)
    if client.secret is None:
        raise Disabled("client_retire: the client holds no secret")
    return _send(world, RetireRequest(user, client.version, client.secret), deliver, config)


def replay(
    world: Channel,
    request_id: int,
    *,
    crash: bool = False,
    config: VaultConfig = VaultConfig(),
) -> tuple[Channel, Result]:
    """The adversary delivers captured request ``request_id`` (again). Disabled if no such
    request was captured."""
    if not 1 <= request_id <= len(world.pool):
        raise Disabled(f"replay: no captured request {request_id}")
    request = world.pool[request_id - 1]
    vault, result = apply(world.vault, request, config, crash=crash, request_id=request_id)
    refused = world.replay_refused or isinstance(result, Stale | Refused)
    return replace(world, vault=vault, replay_refused=refused), result


def inject_begin(
    world: Channel, user: str, *, config: VaultConfig = VaultConfig()
) -> tuple[Channel, Result]:
    """The adversary's own ``BeginRecovery`` for ``user``."""
    vault, answer = begin_recovery(world.vault, user, config)
    return replace(world, vault=vault), answer


def inject_guess(
    world: Channel,
    user: str,
    version: Version,
    *,
    crash: bool = False,
    config: VaultConfig = VaultConfig(),
) -> tuple[Channel, Result]:
    """The adversary's own guess (a wrong one: it does not know the password) at any
    ``version``."""
    request = GuessRequest(user, None, version, 0, honest=False)
    vault, result = apply(world.vault, request, config, crash=crash)
    return replace(world, vault=vault), result


def inject_register(
    world: Channel,
    user: str,
    version: Version,
    *,
    prove: bool = False,
    method: Method = Method.PASSWORD,
    config: VaultConfig = VaultConfig(),
) -> tuple[Channel, Result]:
    """The adversary registers its own secret for ``user`` at any ``version``; with
    ``prove`` it carries a proof of its own secret (never of an honest one)."""
    proof = ADVERSARY_SECRET if prove else None
    request = RegisterRequest(user, method, ADVERSARY_SECRET, version, proof, honest=False)
    vault, result = apply(world.vault, request, config)
    return replace(world, vault=vault), result


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
    """I3 ``attempt-limit``: per enrolled (honest) secret, at most ``max_attempts`` wrong
    guesses answered, across every record that held it; per registration too; a destroyed
    or retired record never answers again; an honest request is charged at most once; an
    honest right guess is never answered as a wrong one."""
    limit = config.max_attempts
    found: list[Violation] = []
    for user, record in state:
        if record.wrong_answered > limit:
            found.append(
                Violation(
                    "I3", user, f"{record.wrong_answered} wrong guesses answered, limit {limit}"
                )
            )
        if record.answered_after_destroy:
            found.append(Violation("I3", user, "a destroyed record answered a guess"))
    ghost = state.ghost
    for (user, secret), count in ghost.wrong:
        if count > limit:
            found.append(
                Violation(
                    "I3",
                    user,
                    f"{count} wrong guesses answered against secret {secret}, limit {limit}",
                )
            )
    for user, secret in sorted(ghost.dead_answered):
        found.append(
            Violation(
                "I3",
                user,
                f"secret {secret}'s record was destroyed or retired, and it answered again",
            )
        )
    for (user, request_id), count in ghost.charged:
        if count > 1:
            found.append(
                Violation("I3", user, f"honest request {request_id} charged {count} times")
            )
    for user, request_id in sorted(ghost.honest_wronged):
        found.append(
            Violation("I3", user, f"honest right guess (request {request_id}) answered wrong")
        )
    return found
