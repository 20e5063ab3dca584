"""vaultbench.conformance: the implementation held to the model, step by step, with the
operator on the channel.

``Harness`` applies every operation twice, to the running system (``impl``: real clients,
a real HSM or a simulated fleet, real cryptography) and to the model (``model.vault``),
and reports any difference:

- the observable results must be equal (``Released``, ``WrongGuess(remaining)``,
  ``Destroyed``, ``NoRecord``, ``NoAnswer``, ``WrongKey``, ``Stale``, ``Refused``);
- every operation must send as many sealed requests as the model's client sends requests;
- the impl's records, abstracted, must equal the model's;
- I3 ``attempt-limit`` must hold, on the model *and* on the answers the impl gave
  (counted here, from what left the HSM).

The operator is part of every run (``docs/channel.rst``): the clients talk to the vault
through a **relay** that keeps every sealed request, and the harness's operations include
the relay's: ``replay`` a captured request (by its index; the answer is sealed to its
maker's key and is not read), ``inject_guess`` (the operator's own wrong guess, at the
current version or a stale one), ``inject_register`` (its own secret, over whatever record
the user has, without a proof of it) and ``race`` (a recovery during which the operator
sends a ``BeginRecovery`` of its own between the client's and its guess). The model side
keeps the matching capture pool of ``model.vault`` requests, built from what the honest
client sends, so a replay is the same request on both sides.

Two drivers use it: the Hypothesis state machine in ``tests/test_conformance.py`` (which
shrinks a failure to a short program) and ``run_walk`` below, a seeded random walk that
``vaultbench check`` runs. This module and ``tests/`` are the only places that import both
``model`` and ``impl``.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import model.vault as mv
from impl.client import (
    ENROL_TRIES,
    Client,
    ClientConfig,
    Destroyed,
    Enrollment,
    NoRecord,
    Outcome,
    Recovered,
    Refused,
    Retired,
    Stale,
    UnexpectedResponse,
    WrongGuess,
    WrongKey,
)
from impl.codes import encode_key64
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.errors import HsmUnavailable, PasskeyError
from impl.hsm import Hsm, HsmConfig, RecordView
from impl.messages import (
    BeginRecovery,
    PasskeyRecoveryInfo,
    PasswordRecoveryInfo,
    RecoverPasskey,
    RecoverPassword,
    RegisterPassword,
    Request,
    Response,
)
from impl.method import Method
from impl.passkey import SoftwareAuthenticator
from impl.redact import Secret
from impl.session import open_response, seal_request
from impl.vault import VaultPolicy

USERS = ("alice", "bob")
METHODS = tuple(m.value for m in Method)


class ConformanceFailure(AssertionError):
    """The impl and the model disagree, or an invariant fails."""

    def __init__(self, invariant: str, detail: str) -> None:
        super().__init__(f"{invariant}: {detail}")
        self.invariant = invariant
        self.detail = detail


@dataclass
class UserState:
    enrollment: Enrollment
    secret_id: int
    password: str = ""
    authenticator: SoftwareAuthenticator | None = None
    impostor: SoftwareAuthenticator | None = None
    impostor_credential: bytes = b""
    blob: bytes = b""
    wrong_answered: int = 0


def enroll(client: Client, method: Method, secret_id: int, rng: SeededRng) -> UserState:
    """enroll: register ``client``'s user with ``method``; what the harness keeps of it.

    A password is ``correct horse <secret_id>``; a passkey comes with an impostor's
    authenticator and credential for wrong guesses. May raise ``HsmUnavailable``.
    """
    if method is Method.KEY64:
        return UserState(client.enroll_key64(), secret_id)
    if method is Method.RECOVERY_CODE:
        return UserState(client.enroll_recovery_code(), secret_id)
    if method is Method.PASSWORD:
        password = f"correct horse {secret_id}"
        return UserState(client.enroll_password(password), secret_id, password)
    device = SoftwareAuthenticator(rng=rng)
    impostor = SoftwareAuthenticator(rng=rng)
    credential = impostor.create_credential(client.config.rp_id, client.user.encode())
    return UserState(
        client.enroll_passkey(device),
        secret_id,
        authenticator=device,
        impostor=impostor,
        impostor_credential=credential.credential_id,
    )


@dataclass
class StepRecord:
    """One applied operation: what was done and what both sides answered."""

    operation: str
    impl_result: mv.Result | None
    model_result: mv.Result | None


@dataclass(frozen=True)
class Captured:
    """One sealed request the relay carried, and the model's request it stands for
    (``None``: a ``BeginRecovery``, which changes nothing but under
    ``superseding-challenge``)."""

    user: str
    sealed: bytes
    request: mv.Request | None


@dataclass
class Harness:
    """The impl and the model side by side, with the operator's relay between the clients
    and the HSM. ``variant`` is an unsafe variant or None."""

    variant: str | None = None
    max_attempts: int = mv.DEFAULT_MAX_ATTEMPTS
    seed: int = 0
    trace: list[StepRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = mv.VaultConfig(self.max_attempts, self.variant)
        self.model = mv.INITIAL
        self._rng = SeededRng(self.seed)
        policy = VaultPolicy(self.max_attempts, self.variant)
        self.hsm = Hsm(HsmConfig(policy=policy), rng=SeededRng(self.seed + 1))
        self._users: dict[str, UserState] = {}
        self._clients: dict[str, Client] = {}
        #: the model's view of each honest client: (registration, secret id) it holds
        self._held: dict[str, tuple[int, int]] = {}
        #: a secret whose enrolment got no answer: the client enrols it again
        self._unconfirmed: dict[str, int] = {}
        self._next_secret = 0
        self._client_config = ClientConfig(argon2=Argon2Params.FAST)
        #: every sealed request the relay carried (the operator keeps them all)
        self.captured: list[Captured] = []
        self._sent: list[bytes] = []
        #: a race in progress: (user, the index of the request it goes before)
        self._race: tuple[str, int] | None = None
        self._operator_rng = SeededRng(b"operator %d" % self.seed)
        #: ghost: the replays and injections the relay made, by kind
        self.attacks: dict[str, int] = {}

    # ------------------------------------------------------------------ the relay

    def endpoint(self, sealed: bytes) -> bytes:
        """The vault behind the relay (one HSM here; ``FleetRelayHarness`` a fleet)."""
        return self.hsm.handle(sealed)

    def records(self) -> list[RecordView]:
        return self.hsm.records()

    def _relay(self, sealed: bytes) -> bytes:
        race = self._race
        if race is not None and len(self._sent) == race[1]:
            self._race = None
            self._operator_ask(BeginRecovery(race[0]))  # the operator's, just before
        self._sent.append(sealed)
        return self.endpoint(sealed)

    def client(self, user: str) -> Client:
        """The user's client: one per user, kept, so it knows what it registered."""
        client = self._clients.get(user)
        if client is None:
            client = Client(
                user,
                self._relay,
                self.hsm.fleet_public_key,
                config=self._client_config,
                rng=self._rng,
            )
            self._clients[user] = client
        return client

    # ------------------------------------------------------------------ operations

    def register(self, user: str, method: str) -> None:
        """The honest client enrols ``user`` with ``method`` and backs up one blob."""
        operation = f"register({user!r}, {method!r})"
        chosen = Method(method)
        client = self.client(user)
        if not chosen.uses_vault:
            self._next_secret += 1
            local = enroll(client, chosen, self._next_secret, self._rng)
            local.blob = client.backup(
                local.enrollment, f"backup of {user} #{local.secret_id}".encode()
            )
            self._users[user] = local
            self.trace.append(StepRecord(operation, None, None))
            self._check_state(operation)
            return
        secret_id = self._unconfirmed.pop(user, None)
        if secret_id is None:
            self._next_secret += 1
            secret_id = self._next_secret
        mark = len(self._sent)
        impl_result: mv.Result
        state: UserState | None
        try:
            state = enroll(client, chosen, secret_id, self._rng)
        except UnexpectedResponse as refused:
            impl_result = mv.Refused(str(refused))
            state = None
        except HsmUnavailable:
            self._unconfirmed[user] = secret_id
            impl_result = mv.NoAnswer()
            state = None
        else:
            assert state.enrollment.registration is not None
            impl_result = mv.Registered(state.enrollment.registration)
        model_result = self._model_enrol(user, chosen, secret_id, mark)
        self._compare(operation, impl_result, model_result)
        if state is not None:
            state.blob = client.backup(
                state.enrollment, f"backup of {user} #{state.secret_id}".encode()
            )
            self._users[user] = state
        self._check_state(operation)

    def has_user(self, user: str) -> bool:
        return user in self._users

    def enrolments(self) -> list[int]:
        """enrolments: the indices of the captured registrations."""
        return [i for i, c in enumerate(self.captured) if isinstance(c.request, mv.RegisterRequest)]

    def back_up(self, user: str, plaintext: bytes) -> None:
        """A new backup under the user's current root key (no vault traffic)."""
        state = self._users.get(user)
        if state is None:
            return
        state.blob = self.client(user).backup(state.enrollment, plaintext)

    def recover(self, user: str, correct: bool, crash: bool = False) -> None:
        """One recovery attempt; ``crash`` arms the HSM's ``after-charge`` fault point."""
        self._recover(f"recover({user!r}, correct={correct}, crash={crash})", user, correct, crash)

    def race(self, user: str, correct: bool) -> None:
        """A recovery during which the operator's own ``BeginRecovery`` for ``user`` reaches
        the vault between the client's ``BeginRecovery`` and its guess."""
        self._recover(f"race({user!r}, correct={correct})", user, correct, False, race=True)

    def replay(self, index: int) -> None:
        """The relay sends captured request ``index`` (modulo their number) again."""
        if not self.captured:
            return
        entry = self.captured[index % len(self.captured)]
        operation = f"replay({index % len(self.captured)})"
        self._attack("replay")
        with contextlib.suppress(HsmUnavailable):
            self.endpoint(entry.sealed)  # sealed to its maker's key: the relay cannot read it
        if entry.request is None:
            self.model, _ = mv.begin_recovery(self.model, entry.user, self.config)
        else:
            request_id = self.captured.index(entry) + 1
            self.model, _ = mv.apply(self.model, entry.request, self.config, request_id=request_id)
        self.trace.append(StepRecord(operation, None, None))
        self._check_state(operation)

    def inject_guess(self, user: str, stale: bool = False) -> None:
        """The operator's own wrong guess for ``user``, at the record's current version or,
        with ``stale``, at the one before it."""
        operation = f"inject_guess({user!r}, stale={stale})"
        self._attack("inject")
        info = self._operator_ask(BeginRecovery(user))
        self.model, _ = mv.begin_recovery(self.model, user, self.config)
        if not isinstance(info, PasswordRecoveryInfo | PasskeyRecoveryInfo):
            self.trace.append(StepRecord(operation, None, None))
            return
        version = (info.registration, info.attempts - 1 if stale else info.attempts)
        if version[1] < 0:
            version = (version[0] - 1, 0)
        guess: Request
        if isinstance(info, PasswordRecoveryInfo):
            guess = RecoverPassword(user, version[0], version[1], Secret(bytes(32)))
        else:
            guess = RecoverPasskey(
                user, version[0], version[1], b"\x01" * 16, b"\x00" * 37, b"{}", b"\x30"
            )
        answer = self._operator_ask(guess)
        model_request = mv.GuessRequest(user, None, version, 0, honest=False)
        self.model, model_result = mv.apply(self.model, model_request, self.config)
        self._compare(operation, _abstract_answer(answer), model_result)
        self._check_state(operation)

    def inject_register(self, user: str) -> None:
        """The operator registers a secret of its own for ``user`` at the current version,
        with a proof of nothing it could know."""
        operation = f"inject_register({user!r})"
        self._attack("inject")
        record = self.model.get(user)
        version = mv.NO_VERSION if record is None else record.version
        request = RegisterPassword(
            user,
            version[0],
            version[1],
            Secret(b"\x00" * 32),
            b"operator salt 16",
            Secret(b"\x0f" * 32),
            Secret(b"\xf0" * 32),
        )
        answer = self._operator_ask(request)
        model_request = mv.RegisterRequest(
            user, mv.Method.PASSWORD, mv.ADVERSARY_SECRET, version, None, honest=False
        )
        self.model, model_result = mv.apply(self.model, model_request, self.config)
        self._compare(operation, _abstract_answer(answer), model_result)
        self._check_state(operation)

    def restart_hsm(self) -> None:
        """Crash and restart the HSM between requests: durable state must survive."""
        self.hsm.crash()
        self.hsm.restart()
        self._check_state("restart_hsm()")

    # --------------------------------------------------------------- the model side

    def _send(self, user: str, request: mv.Request | None, *, crash: bool = False) -> mv.Result:
        """The honest client's request reaches the model (and its pool)."""
        self.captured.append(Captured(user, b"", request))
        if request is None:
            self.model, answer = mv.begin_recovery(self.model, user, self.config)
            return answer
        request_id = len(self.captured)
        self.model, result = mv.apply(
            self.model, request, self.config, crash=crash, request_id=request_id
        )
        return result

    def _model_enrol(self, user: str, method: Method, secret_id: int, mark: int) -> mv.Result:
        """What the impl client does to enrol (``Client._enrol``), as model requests."""
        _, result, requests = model_enrol(
            self.model, user, method, secret_id, self._held.get(user), self.config
        )
        for request in requests:
            self._send(user, request)
        self._pair(mark, user)
        if isinstance(result, mv.Registered):
            self._held[user] = (result.registration, secret_id)
        return result

    def _model_recover(
        self, user: str, correct: bool, crash: bool, race: bool, mark: int
    ) -> mv.Result | None:
        """What ``recover_password``/``recover_passkey`` sends, as model requests."""
        record = self.model.get(user)
        answer = self._send(user, None)
        state = self._users[user]
        if record is None:
            result: mv.Result | None = mv.NoRecord()
        elif record.retired:
            result = mv.Retired()
        elif record.destroyed:
            result = mv.Destroyed()
        elif record.method.value != state.enrollment.method.value:
            # The operator registered another method over the user's tombstone: the
            # client cannot guess against it and stops after BeginRecovery.
            result = mv.Refused("the record is protected by another method")
        elif record.method is mv.Method.PASSKEY and correct and record.secret != state.secret_id:
            # Another registration's credential: the user's device holds none for it.
            result = mv.Refused("the device holds no credential the vault names")
        else:
            if race:
                self.model, _ = mv.begin_recovery(self.model, user, self.config)
            assert isinstance(answer, mv.Challenge)
            secret = state.secret_id if correct else None
            request = mv.GuessRequest(
                user, secret, (answer.registration, answer.attempts), answer.challenge
            )
            result = self._send(user, request, crash=crash)
            if isinstance(result, mv.Released):
                self._held[user] = (answer.registration, result.secret)
        self._pair(mark, user)
        return result

    def _pair(self, mark: int, user: str) -> None:
        """Attach the sealed bytes the impl sent to the model's requests, one to one."""
        sent = self._sent[mark:]
        mine = [i for i, c in enumerate(self.captured) if not c.sealed]
        if len(sent) != len(mine):
            raise ConformanceFailure(
                "conformance",
                f"{user}'s client sent {len(sent)} requests, the model's {len(mine)}",
            )
        for i, sealed in zip(mine, sent, strict=True):
            self.captured[i] = Captured(self.captured[i].user, sealed, self.captured[i].request)

    # ------------------------------------------------------------------- internals

    def _recover(
        self, operation: str, user: str, correct: bool, crash: bool, race: bool = False
    ) -> None:
        state = self._users.get(user)
        if state is None:
            return  # the user never enrolled: there is nothing of theirs to recover
        if not state.enrollment.method.uses_vault:
            outcome = self._impl_recover(user, state, correct)
            expected: mv.Result = mv.Released(state.secret_id) if correct else mv.WrongKey()
            self._compare(operation, outcome, expected)
            return
        if crash:
            self.hsm.arm_fault("after-charge")
        mark = len(self._sent)
        if race:
            self._attack("race")
            self._race = (user, mark + 1)  # just before the client's guess
        try:
            impl_result = self._impl_recover(user, state, correct)
        finally:
            self._race = None
        if crash or not self.hsm.is_up:
            # Whatever happened, the next operation meets a freshly restarted HSM with
            # no fault armed.
            self.hsm.crash()
            self.hsm.restart()
        model_result = self._model_recover(user, correct, crash, race, mark)
        self._compare(operation, impl_result, model_result)
        self._check_state(operation)

    def _impl_recover(self, user: str, state: UserState, correct: bool) -> mv.Result:
        client = self.client(user)
        method = state.enrollment.method
        outcome: Outcome
        try:
            if method is Method.KEY64:
                typed = self._typed(state) if correct else _other_key64(state)
                outcome = client.recover_key64(state.blob, typed)
            elif method is Method.RECOVERY_CODE:
                typed = self._typed(state) if correct else self._wrong_code(user)
                outcome = client.recover_recovery_code(state.blob, typed)
            elif method is Method.PASSWORD:
                guess = state.password if correct else state.password + " (typo)"
                outcome = client.recover_password(state.blob, guess)
            else:
                if correct:
                    assert state.authenticator is not None
                    outcome = client.recover_passkey(state.blob, state.authenticator)
                else:
                    # Another person's passkey, asserting with its own credential.
                    assert state.impostor is not None
                    outcome = client.recover_passkey(
                        state.blob, state.impostor, credential_id=state.impostor_credential
                    )
        except HsmUnavailable:
            return mv.NoAnswer()
        except UnexpectedResponse as unexpected:
            # A password client meeting a passkey record, or the reverse.
            return mv.Refused(str(unexpected))
        except PasskeyError as error:
            # The vault names a credential the device does not hold (an old enrolment the
            # variant let a replay bring back): the device cannot assert, nothing is sent.
            return mv.Refused(str(error))
        return self._abstract(state, outcome)

    def _operator_ask(self, request: Request) -> Response | None:
        """A request the operator seals itself (it can read the answer); None if the HSM
        did not answer."""
        sealed, key = seal_request(self.hsm.fleet_public_key, request, self._operator_rng)
        try:
            return open_response(key, self.endpoint(sealed))
        except HsmUnavailable:
            return None

    def _attack(self, kind: str) -> None:
        self.attacks[kind] = self.attacks.get(kind, 0) + 1

    def _compare(self, operation: str, impl_result: object, model_result: object) -> None:
        self.trace.append(StepRecord(operation, impl_result, model_result))  # type: ignore[arg-type]
        if kind(impl_result) != kind(model_result):
            raise ConformanceFailure(
                "conformance",
                f"{operation}: impl answered {impl_result!r}, model {model_result!r}",
            )

    def _abstract(self, state: UserState, outcome: Outcome) -> mv.Result:
        """The impl's outcome as a model result (the abstraction function on answers)."""
        match outcome:
            case Recovered(root_key=root):
                if root != state.enrollment.root_key:
                    raise ConformanceFailure("conformance", "a recovery released another key")
                return mv.Released(state.secret_id)
            case WrongGuess(remaining=remaining):
                state.wrong_answered += 1
                return mv.WrongGuess(remaining)
            case Destroyed():
                return mv.Destroyed()
            case NoRecord():
                return mv.NoRecord()
            case WrongKey():
                return mv.WrongKey()
            case Stale(registration=registration, attempts=attempts):
                return mv.Stale(registration, attempts)
            case Retired():
                return mv.Retired()
            case Refused(reason=reason):
                return mv.Refused(reason)
        raise ConformanceFailure("conformance", f"unknown outcome {outcome!r}")

    @staticmethod
    def _typed(state: UserState) -> str:
        shown = state.enrollment.shown_to_user
        assert shown is not None
        return shown.reveal().decode()

    def _wrong_code(self, user: str) -> str:
        other = self.client(user).enroll_recovery_code().shown_to_user
        assert other is not None
        return other.reveal().decode()

    def _check_state(self, after: str) -> None:
        views = {view.user: view for view in self.records()}
        for user, record in self.model:
            view = views.get(user)
            if view is None:
                raise ConformanceFailure("conformance", f"after {after}: no record for {user}")
            found = (view.method.value, view.registration, view.attempts, view.destroyed)
            expected = (
                record.method.value,
                record.registration,
                record.attempts,
                record.destroyed or record.retired,
            )
            if found != expected:
                raise ConformanceFailure(
                    "conformance",
                    f"after {after}: {user}'s record (method, registration, attempts, "
                    f"destroyed) is {found} in the impl, {expected} in the model",
                )
        if set(views) != {user for user, _ in self.model}:
            raise ConformanceFailure(
                "conformance",
                f"after {after}: the impl has records for {sorted(views)}, the model for "
                f"{sorted(u for u, _ in self.model)}",
            )
        for violation in mv.check_i3(self.model, self.config):
            raise ConformanceFailure(
                "I3 attempt-limit", f"after {after}: {violation.user}: {violation.detail}"
            )


def model_enrol(
    state: mv.VaultState,
    user: str,
    method: Method,
    secret_id: int,
    held: tuple[int, int] | None,
    config: mv.VaultConfig,
) -> tuple[mv.VaultState, mv.Result, list[mv.RegisterRequest]]:
    """model_enrol: ``Client._enrol`` in the model's terms: register ``secret_id`` at
    ``(0, 0)``, then, after each ``Stale``, at the version it names, with a proof of the
    secret the client holds for that registration (``held``: registration, secret id) or
    else of ``secret_id`` itself. Returns the state, the result the client reports (three
    ``Stale`` answers are reported as ``Refused``) and the requests it sent."""
    version, proof = mv.NO_VERSION, None
    result: mv.Result = mv.Refused("no try")
    sent: list[mv.RegisterRequest] = []
    for _ in range(ENROL_TRIES):
        request = mv.RegisterRequest(user, mv.Method(method.value), secret_id, version, proof)
        sent.append(request)
        state, result = mv.apply(state, request, config)
        if not isinstance(result, mv.Stale):
            break
        version = (result.registration, result.attempts)
        ours = held is not None and held[0] == result.registration
        proof = held[1] if ours and held is not None else secret_id
    if isinstance(result, mv.Stale):
        result = mv.Refused(f"the record moved on {ENROL_TRIES} times during enrolment")
    return state, result, sent


def kind(result: object) -> object:
    """What conformance compares of a result: its value, but only the type of a
    ``Refused`` (the two sides word their reasons differently)."""
    if isinstance(result, mv.Refused):
        return mv.Refused
    return result


def _abstract_answer(answer: Response | None) -> mv.Result:
    """An answer the operator read, as a model result (the operator holds no blob)."""
    from impl import messages as m

    match answer:
        case None:
            return mv.NoAnswer()
        case m.Registered(registration=registration):
            return mv.Registered(registration)
        case m.WrongGuess(remaining=remaining):
            return mv.WrongGuess(remaining)
        case m.Destroyed():
            return mv.Destroyed()
        case m.NoRecord():
            return mv.NoRecord()
        case m.Stale(registration=registration, attempts=attempts):
            return mv.Stale(registration, attempts)
        case m.Retired():
            return mv.Retired()
        case m.Refused(reason=reason):
            return mv.Refused(reason)
        case m.Released():
            return mv.Released(mv.ADVERSARY_SECRET)
    raise ConformanceFailure("conformance", f"the operator got {type(answer).__name__}")


def _other_key64(state: UserState) -> str:
    root = state.enrollment.root_key.reveal()
    flipped = bytes([root[0] ^ 1]) + root[1:]
    return encode_key64(Secret(flipped))


#: One harness operation: ("register", user, method), ("recover", user, correct, crash),
#: ("race", user, correct), ("replay", index), ("inject_guess", user, stale),
#: ("inject_register", user) or ("restart_hsm",).
Op = tuple[object, ...]


def render_op(op: Op) -> str:
    """The operation as a call on a ``Harness``, valid Python."""
    name, *args = op
    if name == "register":
        return f"register({args[0]!r}, {args[1]!r})"
    if name == "recover":
        return f"recover({args[0]!r}, correct={args[1]}, crash={args[2]})"
    if name == "race":
        return f"race({args[0]!r}, correct={args[1]})"
    if name == "replay":
        return f"replay({args[0]})"
    if name == "inject_guess":
        return f"inject_guess({args[0]!r}, stale={args[1]})"
    if name == "inject_register":
        return f"inject_register({args[0]!r})"
    return f"{name}()"


def apply_op(harness: Harness, op: Op) -> None:
    name, *args = op
    if name == "register":
        harness.register(str(args[0]), str(args[1]))
    elif name == "recover":
        harness.recover(str(args[0]), bool(args[1]), bool(args[2]))
    elif name == "race":
        harness.race(str(args[0]), bool(args[1]))
    elif name == "replay":
        index = args[0]
        assert isinstance(index, int)
        harness.replay(index)
    elif name == "inject_guess":
        harness.inject_guess(str(args[0]), bool(args[1]))
    elif name == "inject_register":
        harness.inject_register(str(args[0]))
    else:
        harness.restart_hsm()


@dataclass(frozen=True)
class WalkResult:
    """How a walk ended: the steps it ran, the failure if any, and the operations.

    ``program`` is every operation of the walk, up to the failure; ``reproducer`` is a
    shortened program that fails the same invariant (empty when the walk passed).
    """

    steps: int
    failure: ConformanceFailure | None
    ops: tuple[Op, ...]
    reproducer: tuple[Op, ...] = ()

    @property
    def program(self) -> list[str]:
        return [render_op(op) for op in self.ops]


def replay(
    ops: Sequence[Op], *, variant: str | None, max_attempts: int, seed: int = 0
) -> ConformanceFailure | None:
    """Run ``ops`` on a fresh harness; the failure they cause, if any."""
    harness = Harness(variant=variant, max_attempts=max_attempts, seed=seed)
    for op in ops:
        try:
            apply_op(harness, op)
        except ConformanceFailure as failure:
            return failure
    return None


def shrink(
    ops: Sequence[Op],
    failure: ConformanceFailure,
    *,
    variant: str | None,
    max_attempts: int,
    budget_seconds: float = 2.0,
) -> tuple[Op, ...]:
    """Remove operations while the program still fails the same invariant (ddmin-style:
    chunks of halving size, then single operations), within ``budget_seconds``."""
    deadline = time.monotonic() + budget_seconds
    current = list(ops)
    chunk = max(1, len(current) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        index = 0
        removed_any = False
        while index < len(current) and time.monotonic() < deadline:
            candidate = current[:index] + current[index + chunk :]
            again = replay(candidate, variant=variant, max_attempts=max_attempts)
            if again is not None and again.invariant == failure.invariant:
                current = candidate
                removed_any = True
            else:
                index += chunk
        if not removed_any:
            chunk //= 2
    return tuple(current)


def run_walk(
    seed: int,
    steps: int,
    *,
    variant: str | None = None,
    max_attempts: int = mv.DEFAULT_MAX_ATTEMPTS,
    on_step: Callable[[int], None] | None = None,
    shrink_seconds: float = 2.0,
) -> WalkResult:
    """A seeded random walk over the harness's operations, the relay's among them; the
    seed reproduces it.

    On a failure the program is shortened (``shrink``) into ``reproducer``.
    """
    chooser = random.Random(seed)  # noqa: S311 -- choosing test steps, not keys
    # Each walk draws its own mix of right guesses and crashes, so that across seeds it
    # covers the patient attacker (no right guess, no crash) and the crash-happy one.
    p_correct = chooser.choice((0.0, 0.05, 0.2))
    p_crash = chooser.choice((0.0, 0.1, 0.3))
    # ... and its operator, by the seed, so that any three consecutive seeds meet all
    # three: one that mostly replays (seed % 3 == 1), one that mostly injects and races
    # (2), and a patient one that never touches the channel (0).
    p_replay, p_inject = ((0.0, 0.0), (0.15, 0.05), (0.05, 0.15))[seed % 3]
    harness = Harness(variant=variant, max_attempts=max_attempts, seed=seed)
    ops: list[Op] = []
    for index in range(steps):
        user = chooser.choice(USERS)
        roll = chooser.random()
        op: Op
        if roll < 0.04 or not harness.has_user(user):
            op = ("register", user, chooser.choice(METHODS))
        elif roll < 0.07:
            op = ("restart_hsm",)
        elif (roll := chooser.random()) < p_replay:
            # Half the time an enrolment: the request whose replay would refill a budget.
            enrolments = harness.enrolments()
            if enrolments and chooser.random() < 0.5:
                op = ("replay", chooser.choice(enrolments))
            else:
                op = ("replay", chooser.randrange(max(1, len(harness.captured))))
        elif roll < p_replay + p_inject:
            kind = chooser.choice(("guess", "guess", "stale", "register", "race"))
            if kind == "register":
                op = ("inject_register", user)
            elif kind == "race":
                op = ("race", user, chooser.random() < 0.5)
            else:
                op = ("inject_guess", user, kind == "stale")
        else:
            correct = chooser.random() < p_correct
            crash = chooser.random() < p_crash
            op = ("recover", user, correct, crash)
        ops.append(op)
        try:
            apply_op(harness, op)
        except ConformanceFailure as failure:
            short = shrink(
                ops,
                failure,
                variant=variant,
                max_attempts=max_attempts,
                budget_seconds=shrink_seconds,
            )
            return WalkResult(index + 1, failure, tuple(ops), short)
        if on_step is not None:
            on_step(index)
    return WalkResult(steps, None, tuple(ops))
