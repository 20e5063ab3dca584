"""vaultbench.conformance: the implementation held to the model, step by step.

``Harness`` applies every operation twice, to the running system (``impl``: a real
client, a real HSM, real cryptography) and to the model (``model.vault``), and reports
any difference:

- the observable results must be equal (``Released``, ``WrongGuess(remaining)``,
  ``Destroyed``, ``NoRecord``, ``NoAnswer``, ``WrongKey``);
- the impl's state, abstracted, must equal the model's state;
- I3 ``attempt-limit`` must hold, on the model *and* on the answers the impl gave
  (counted here, from what left the HSM).

Two drivers use it: the Hypothesis state machine in ``tests/test_conformance.py`` (which
shrinks a failure to a short program) and ``run_walk`` below, a seeded random walk that
``vaultbench check`` runs. This module and ``tests/`` are the only places that import both
``model`` and ``impl``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import model.vault as mv
from impl.client import (
    Client,
    ClientConfig,
    Destroyed,
    Enrollment,
    NoRecord,
    Outcome,
    Recovered,
    Refused,
    WrongGuess,
    WrongKey,
)
from impl.codes import encode_key64
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.errors import HsmUnavailable
from impl.hsm import Hsm, HsmConfig
from impl.method import Method
from impl.passkey import SoftwareAuthenticator
from impl.redact import Secret
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
    impl_result: mv.Result
    model_result: mv.Result


@dataclass
class Harness:
    """The impl and the model side by side. ``variant`` is an unsafe variant or None."""

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
        self._next_secret = 0
        self._client_config = ClientConfig(argon2=Argon2Params.FAST)

    # ------------------------------------------------------------------ operations

    def client(self, user: str) -> Client:
        return Client(
            user,
            self.hsm.handle,
            self.hsm.fleet_public_key,
            config=self._client_config,
            rng=self._rng,
        )

    def register(self, user: str, method: str) -> None:
        """Enrol ``user`` with ``method`` and back up one blob."""
        client = self.client(user)
        self._next_secret += 1
        state = enroll(client, Method(method), self._next_secret, self._rng)
        state.blob = client.backup(
            state.enrollment, f"backup of {user} #{state.secret_id}".encode()
        )
        self._users[user] = state
        self.model, _ = mv.register(self.model, user, mv.Method(method), state.secret_id)
        self._check_state(f"register({user!r}, {method!r})")

    def has_user(self, user: str) -> bool:
        return user in self._users

    def back_up(self, user: str, plaintext: bytes) -> None:
        """A new backup under the user's current root key (no vault traffic)."""
        state = self._users.get(user)
        if state is None:
            return
        state.blob = self.client(user).backup(state.enrollment, plaintext)

    def recover(self, user: str, correct: bool, crash: bool = False) -> None:
        """One recovery attempt; ``crash`` arms the HSM's ``after-charge`` fault point."""
        operation = f"recover({user!r}, correct={correct}, crash={crash})"
        if crash:
            self.hsm.arm_fault("after-charge")
        impl_result = self._impl_recover(user, correct)
        if crash or not self.hsm.is_up:
            # Whatever happened, the next operation meets a freshly restarted HSM with
            # no fault armed.
            self.hsm.crash()
            self.hsm.restart()
        self.model, model_result = mv.guess(self.model, user, correct, crash, self.config)
        self.trace.append(StepRecord(operation, impl_result, model_result))
        if impl_result != model_result:
            raise ConformanceFailure(
                "conformance",
                f"{operation}: impl answered {impl_result!r}, model {model_result!r}",
            )
        self._check_state(operation)

    def restart_hsm(self) -> None:
        """Crash and restart the HSM between requests: durable state must survive."""
        self.hsm.crash()
        self.hsm.restart()
        self._check_state("restart_hsm()")

    # ------------------------------------------------------------------- internals

    def _impl_recover(self, user: str, correct: bool) -> mv.Result:
        state = self._users.get(user)
        client = self.client(user)
        if state is None:
            return mv.NoRecord()
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
        return self._abstract(state, outcome)

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
            case Refused(reason=reason):
                raise ConformanceFailure("conformance", f"the vault refused: {reason}")
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
        views = {view.user: view for view in self.hsm.records()}
        for user, record in self.model:
            state = self._users[user]
            if record.method.uses_vault:
                view = views.get(user)
                if view is None:
                    raise ConformanceFailure("conformance", f"after {after}: no record for {user}")
                found = (view.method.value, view.attempts, view.destroyed)
                expected = (record.method.value, record.attempts, record.destroyed)
                if found != expected:
                    raise ConformanceFailure(
                        "conformance",
                        f"after {after}: {user}'s record (method, attempts, destroyed) "
                        f"is {found} in the impl, {expected} in the model",
                    )
            if state.wrong_answered != record.wrong_answered:
                raise ConformanceFailure(
                    "conformance",
                    f"after {after}: {user} got {state.wrong_answered} wrong-guess answers "
                    f"from the impl, {record.wrong_answered} in the model",
                )
        for violation in mv.check_i3(self.model, self.config):
            raise ConformanceFailure(
                "I3 attempt-limit", f"after {after}: {violation.user}: {violation.detail}"
            )
        for user, state in self._users.items():
            if state.wrong_answered > self.max_attempts:
                raise ConformanceFailure(
                    "I3 attempt-limit",
                    f"after {after}: the impl answered {state.wrong_answered} wrong guesses "
                    f"for {user}, limit {self.max_attempts}",
                )


def _other_key64(state: UserState) -> str:
    root = state.enrollment.root_key.reveal()
    flipped = bytes([root[0] ^ 1]) + root[1:]
    return encode_key64(Secret(flipped))


#: One harness operation: ("register", user, method), ("recover", user, correct, crash)
#: or ("restart_hsm",).
Op = tuple[str, ...] | tuple[str, str, bool, bool]


def render_op(op: Op) -> str:
    """The operation as a call on a ``Harness``, valid Python."""
    name, *args = op
    if name == "register":
        return f"register({args[0]!r}, {args[1]!r})"
    if name == "recover":
        return f"recover({args[0]!r}, correct={args[1]}, crash={args[2]})"
    return f"{name}()"


def apply_op(harness: Harness, op: Op) -> None:
    name, *args = op
    if name == "register":
        harness.register(str(args[0]), str(args[1]))
    elif name == "recover":
        harness.recover(str(args[0]), bool(args[1]), bool(args[2]))
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
    """A seeded random walk over the harness's operations; the seed reproduces it.

    On a failure the program is shortened (``shrink``) into ``reproducer``.
    """
    chooser = random.Random(seed)  # noqa: S311 -- choosing test steps, not keys
    # Each walk draws its own mix of right guesses and crashes, so that across seeds it
    # covers the patient attacker (no right guess, no crash) and the crash-happy one.
    p_correct = chooser.choice((0.0, 0.05, 0.2))
    p_crash = chooser.choice((0.0, 0.1, 0.3))
    harness = Harness(variant=variant, max_attempts=max_attempts, seed=seed)
    ops: list[Op] = []
    for index in range(steps):
        user = chooser.choice(USERS)
        roll = chooser.random()
        op: Op
        if roll < 0.04 or not harness.has_user(user):
            op = ("register", user, chooser.choice(METHODS))
        elif roll < 0.08:
            op = ("restart_hsm",)
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
