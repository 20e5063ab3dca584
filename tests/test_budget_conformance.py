"""Fleet rotation driven against ``model.budget`` (I5 ``guess-budget``) in lockstep.

One user, one password, fleets ``1 .. F`` deployed in order, each fleet its own
``impl.hsm.Hsm`` with ``VaultPolicy(max_attempts=limit)``. Every rule runs on the real
client and HSMs (real HPKE sessions, real Argon2id at ``FAST`` cost) and on
:func:`model.budget.step`:

=====================  =================================================================
model                  implementation
=====================  =================================================================
``deploy``             a new ``Hsm`` for epoch ``latest + 1``
``guess_wrong``        the attacker (the operator, who relays everything) sends
                       ``BeginRecovery`` + ``RecoverPassword`` with a wrong access key to
                       the fleet holding the record
``prove``              ``client.recover_password(blob, password)``
``prove; migrate``     ``client.recover_password(blob, password, migrate_to=newest)``
``migrate``            ``client.migrate_on_request(newest)`` (only the unsafe
                       ``migrate-on-server-request`` client moves; the safe one refuses)
=====================  =================================================================

When the model's guard fails (``Disabled``) the implementation must refuse too, without
charging an attempt. After every rule the machine compares where the record is, its
attempts and destruction, the ghost count of wrong guesses answered since the last proof,
and checks I5 on the model state. On the safe design I5 always holds; on the unsafe
variant the machine must find an I5 violation (the detector is seen to detect).

Known divergence, encoded in :meth:`BudgetConformance.record_matches_model`: a record
whose last attempt went to a *right* guess is, in ``model.budget``, left at
``attempts == limit`` and not destroyed forever; the vault (``impl.service``, as
``model.vault``) destroys such a record at the next request, answering ``Destroyed``
without charging. The machine accepts an implementation record that is destroyed where
the model's is exhausted (``attempts >= limit``) but not destroyed.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import pytest
from hypothesis import Phase, currently_in_test_context, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from impl.client import (
    Client,
    ClientConfig,
    Destroyed,
    FleetLink,
    MigrationError,
    MigrationPolicy,
    Recovered,
    WrongGuess,
)
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.hsm import Hsm, HsmConfig, RecordView
from impl.messages import BeginRecovery, PasswordRecoveryInfo, RecoverPassword, Response
from impl.redact import Secret
from impl.session import open_response, seal_request
from impl.vault import VaultPolicy
from model.budget import (
    I5_NAME,
    BudgetAction,
    BudgetConfig,
    BudgetState,
    Disabled,
    check_i5,
    initial,
    step,
)

USER = "alice"
PASSWORD = "correct horse battery staple"
PLAINTEXT = b"alice's chats"
LIMIT = 3
FLEETS = 3
I5 = f"I5 {I5_NAME}"
VARIANT: Final = "migrate-on-server-request"


class BudgetFailure(AssertionError):
    """The implementation and ``model.budget`` disagree, or I5 fails."""

    def __init__(self, invariant: str, detail: str) -> None:
        super().__init__(f"{invariant}: {detail}")
        self.invariant = invariant
        self.detail = detail


def _expect(condition: bool, detail: str) -> None:
    if not condition:
        raise BudgetFailure("conformance", detail)


def _note(text: str) -> None:
    """Hypothesis ``note`` inside a test case; nothing when a test drives the steps."""
    if currently_in_test_context():
        note(text)


def _record(hsm: Hsm) -> RecordView | None:
    return next((r for r in hsm.records() if r.user == USER), None)


class BudgetConformance(RuleBasedStateMachine):
    """deploy / attacker guesses / user proves / migrations, impl vs model.budget.

    This class is the safe design; :func:`machine_for` makes the other configurations.
    """

    config: ClassVar[BudgetConfig] = BudgetConfig(limit=LIMIT, fleets=FLEETS)

    def __init__(self) -> None:
        super().__init__()
        self.state: BudgetState = initial(self.config)
        self.hsms: dict[int, Hsm] = {}
        self._attacker_rng = SeededRng(b"attacker")
        first = self._new_hsm(1)
        self.client = Client(
            USER,
            first.handle,
            first.fleet_public_key,
            config=ClientConfig(argon2=Argon2Params.FAST, migration=self.migration),
            rng=SeededRng(b"client"),
            epoch=1,
        )
        self.blob = self.client.backup(self.client.enroll_password(PASSWORD), PLAINTEXT)
        #: ghost: wrong guesses answered against the password since it was last proved
        self.wrong = 0

    @property
    def migration(self) -> MigrationPolicy:
        return VARIANT if self.config.variant == VARIANT else "after-proof"

    # ------------------------------------------------------------------ helpers

    def _new_hsm(self, epoch: int) -> Hsm:
        hsm = Hsm(
            HsmConfig(policy=VaultPolicy(max_attempts=self.config.limit)),
            name=f"fleet{epoch}",
            rng=SeededRng(epoch),
        )
        self.hsms[epoch] = hsm
        return hsm

    def _model(self, action: BudgetAction, state: BudgetState | None = None) -> BudgetState:
        """The model's next state (``Disabled`` propagates)."""
        return step(self.state if state is None else state, action, self.config)

    def _enabled(self, action: BudgetAction) -> bool:
        try:
            self._model(action)
        except Disabled:
            return False
        return True

    def _link(self, epoch: int) -> FleetLink:
        hsm = self.hsms[epoch]
        return FleetLink(epoch, hsm.fleet_public_key, hsm.handle)

    def _snapshot(self) -> tuple[Any, ...]:
        records = tuple((e, tuple(h.records())) for e, h in sorted(self.hsms.items()))
        return (records, self.client.epoch, self.client.registration)

    def _live_attempts(self) -> int | None:
        record = _record(self.hsms[self.client.epoch])
        return None if record is None else record.attempts

    def _raw(self, epoch: int, request: BeginRecovery | RecoverPassword) -> Response:
        hsm = self.hsms[epoch]
        sealed, key = seal_request(hsm.fleet_public_key, request, self._attacker_rng)
        return open_response(key, hsm.handle(sealed))

    def _attacker_guess(self, epoch: int) -> Response:
        info = self._raw(epoch, BeginRecovery(USER))
        if not isinstance(info, PasswordRecoveryInfo):
            return info
        guess = RecoverPassword(USER, info.registration, info.attempts, Secret(bytes(32)))
        return self._raw(epoch, guess)

    def _refused_without_charge(self, answer: object, before: int | None, what: str) -> None:
        _expect(
            isinstance(answer, Destroyed),
            f"model: {what} disabled in {self.state}; impl answered {answer!r}",
        )
        _expect(
            self._live_attempts() == before,
            f"{what} refused, but the impl charged: {before} -> {self._live_attempts()}",
        )

    # -------------------------------------------------------------------- rules
    #
    # The rules that charge the record run only where the model enables them, so a
    # program does not spend its steps on a dead record; ``touch_exhausted`` checks
    # the refusals where the model says ``Disabled``.

    @precondition(lambda self: self._enabled("deploy"))
    @rule()
    def deploy(self) -> None:
        after = self._model("deploy")
        self._new_hsm(after.latest)
        self.state = after
        _note(f"deploy epoch {after.latest}")

    @precondition(lambda self: self._enabled("guess_wrong"))
    @rule(count=st.integers(min_value=1, max_value=LIMIT))
    def guess_wrong(self, count: int) -> None:
        """A burst of ``count`` wrong guesses, each one a model ``guess_wrong`` step."""
        for _ in range(count):
            before = self._live_attempts()
            answer = self._attacker_guess(self.client.epoch)
            _note(f"attacker guesses at epoch {self.client.epoch} -> {answer!r}")
            try:
                after = self._model("guess_wrong")
            except Disabled:
                self._refused_without_charge(answer, before, "guess_wrong")
                return
            remaining = self.config.limit - after.attempts
            _expect(
                answer == WrongGuess(remaining),
                f"model: WrongGuess({remaining}); impl answered {answer!r}",
            )
            self.wrong += 1
            self.state = after

    @precondition(lambda self: self._enabled("prove"))
    @rule(migrate=st.booleans())
    def prove(self, migrate: bool) -> None:
        """The user recovers; with ``migrate`` and a newer fleet deployed, the design's
        migration right after the proof (model: ``prove`` then ``migrate``)."""
        after = self._model("prove")
        newest = self.state.latest
        link = self._link(newest) if migrate and self.state.fleet < newest else None
        if link is not None:
            try:
                after = self._model("migrate", after)
            except Disabled:
                raise BudgetFailure(
                    "conformance", f"model: migrate disabled right after a proof in {after}"
                ) from None
        outcome = self.client.recover_password(self.blob, PASSWORD, migrate_to=link)
        _note(f"user recovers (migrate_to={link!r}) -> {outcome!r}")
        _expect(
            isinstance(outcome, Recovered)
            and outcome.plaintext == PLAINTEXT
            and outcome.migrated_to == (None if link is None else newest),
            f"model: {after}; impl answered {outcome!r}",
        )
        self.wrong = 0
        self.state = after

    @precondition(lambda self: not self._enabled("prove"))
    @rule()
    def touch_exhausted(self) -> None:
        """The model disables guessing and proving (destroyed, or no attempt left):
        the impl answers ``Destroyed`` to both, charging nothing, and moves nothing."""
        _expect(not self._enabled("guess_wrong"), f"guess enabled in {self.state}")
        before = self._live_attempts()
        answer = self._attacker_guess(self.client.epoch)
        _note(f"attacker guesses at epoch {self.client.epoch} -> {answer!r}")
        self._refused_without_charge(answer, before, "guess_wrong")
        newest = self.state.latest
        link = self._link(newest) if self.state.fleet < newest else None
        outcome = self.client.recover_password(self.blob, PASSWORD, migrate_to=link)
        _note(f"user recovers (migrate_to={link!r}) -> {outcome!r}")
        self._refused_without_charge(outcome, before, "prove")
        if link is not None:
            _expect(_record(self.hsms[newest]) is None, "a refused proof still migrated")

    @precondition(
        lambda self: (
            self.state.fleet < self.state.latest
            and (self.migration == "after-proof" or self._enabled("migrate"))
        )
    )
    @rule()
    def server_asks_to_migrate(self) -> None:
        newest = self.state.latest
        if self.migration == "after-proof":
            # The safe client never moves on request, proof or not: stricter than the
            # model, whose ``migrate`` is enabled only right after a proof.
            if self._enabled("migrate"):
                _expect(self.state.proved, f"model: migrate enabled unproved in {self.state}")
            before = self._snapshot()
            with pytest.raises(MigrationError):
                self.client.migrate_on_request(self._link(newest))
            _expect(self._snapshot() == before, "a refused migration request changed state")
            _note(f"server asks to migrate to epoch {newest} -> refused")
            return
        # The unsafe client moves whenever asked; the rule runs only where the model's
        # ``migrate`` is enabled (the impl also moves a destroyed record: see the report).
        after = self._model("migrate")
        moved = self.client.migrate_on_request(self._link(newest))
        _note(f"server asks to migrate to epoch {newest} -> moved to {moved}")
        _expect(moved == newest, f"migrate_on_request moved to {moved}, not {newest}")
        self.state = after

    @precondition(lambda self: self.migration == "after-proof" and self.state.fleet > 1)
    @rule()
    def guess_at_an_old_fleet(self) -> None:
        """Safe design: an older fleet has nothing left to guess against."""
        for epoch in range(1, self.state.fleet):
            before = _record(self.hsms[epoch])
            answer = self._attacker_guess(epoch)
            _note(f"attacker guesses at old epoch {epoch} -> {answer!r}")
            _expect(
                not isinstance(answer, WrongGuess),
                f"epoch {epoch} answered {answer!r} after the record moved on",
            )
            _expect(_record(self.hsms[epoch]) == before, f"epoch {epoch} changed")

    # --------------------------------------------------------------- invariants

    @invariant()
    def record_matches_model(self) -> None:
        state = self.state
        _expect(
            self.client.epoch == state.fleet,
            f"client on epoch {self.client.epoch}, model on {state.fleet}",
        )
        _expect(sorted(self.hsms) == list(range(1, state.latest + 1)), "fleets deployed")
        record = _record(self.hsms[state.fleet])
        _expect(record is not None, f"epoch {state.fleet} holds no record")
        assert record is not None
        _expect(
            record.registration == self.client.registration,
            f"record #{record.registration}, client #{self.client.registration}",
        )
        _expect(
            record.attempts == state.attempts,
            f"impl attempts {record.attempts}, model {state.attempts}",
        )
        _expect(not record.retired, "the live fleet's record is retired")
        exhausted = state.attempts >= self.config.limit
        _expect(
            record.destroyed == state.destroyed or (record.destroyed and exhausted),
            f"impl destroyed={record.destroyed}, model {state}",
        )
        for epoch in range(state.fleet + 1, state.latest + 1):
            _expect(_record(self.hsms[epoch]) is None, f"epoch {epoch} holds a record")
        if self.migration == "after-proof":
            for epoch in range(1, state.fleet):
                old = _record(self.hsms[epoch])
                _expect(
                    old is None or (old.destroyed and old.retired),
                    f"epoch {epoch} holds {old!r}: a live or unretired record left behind",
                )
        _expect(
            self.wrong == state.wrong,
            f"ghost: {self.wrong} wrong guesses answered since the proof, model {state.wrong}",
        )

    @invariant()
    def guess_budget(self) -> None:
        violations = check_i5(self.state, self.config)
        if violations:
            raise BudgetFailure(I5, f"{violations[0].detail} (model state {self.state})")


def machine_for(
    variant: str | None, limit: int = LIMIT, fleets: int = FLEETS
) -> type[BudgetConformance]:
    """machine_for: the machine for one configuration of ``model.budget``."""

    class Machine(BudgetConformance):
        config = BudgetConfig(limit=limit, fleets=fleets, variant=variant)

    Machine.__name__ = f"BudgetConformance_{variant or 'safe'}".replace("-", "_")
    return Machine


TestBudgetConformance = BudgetConformance.TestCase


def test_detector_detects_migrate_on_server_request() -> None:
    """The detector is seen to detect: the unsafe client fails the machine on I5."""
    with pytest.raises(BudgetFailure) as caught:
        run_state_machine_as_test(
            machine_for(VARIANT),
            settings=settings(
                max_examples=300,
                stateful_step_count=40,
                phases=(Phase.generate,),
                derandomize=True,
            ),
        )
    assert caught.value.invariant == I5
    assert "I5 guess-budget" in str(caught.value)


def _check(machine: BudgetConformance) -> None:
    machine.record_matches_model()
    machine.guess_budget()


def test_server_request_attack_program() -> None:
    """The attack, step by step: two wrong guesses, the server asks the app to move, two
    more. The safe client refuses to move and its record dies at the limit (I5 holds);
    the unsafe one moves and the fourth wrong guess since the proof breaks I5."""
    safe = BudgetConformance()
    unsafe = machine_for(VARIANT)()
    for machine in (safe, unsafe):
        machine.deploy()
        machine.guess_wrong(count=2)
        _check(machine)
        machine.server_asks_to_migrate()
        _check(machine)
        machine.guess_wrong(count=2)
    _check(safe)
    assert safe.state.destroyed
    assert (safe.state.fleet, safe.wrong) == (1, LIMIT)
    with pytest.raises(BudgetFailure) as caught:
        _check(unsafe)
    assert caught.value.invariant == I5
    assert (unsafe.state.fleet, unsafe.wrong) == (2, LIMIT + 1)


def test_last_attempt_spent_on_a_proof() -> None:
    """The divergence the machine allows: after a proof takes the last attempt,
    ``model.budget`` keeps the record alive (``attempts == limit``, not destroyed) while
    the vault destroys it at the next request, answering ``Destroyed`` without a charge."""
    machine = BudgetConformance()
    for _ in range(LIMIT):
        machine.prove(migrate=False)
        _check(machine)
    assert (machine.state.attempts, machine.state.destroyed) == (LIMIT, False)
    machine.touch_exhausted()
    _check(machine)
    record = _record(machine.hsms[1])
    assert record is not None
    assert (record.attempts, record.destroyed) == (LIMIT, True)
    assert not machine.state.destroyed
