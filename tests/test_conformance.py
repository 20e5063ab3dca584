"""The implementation driven against the model by a Hypothesis state machine.

Every rule runs on a real client and a real HSM (real cryptography) and on
``model.vault``; ``vaultbench.conformance.Harness`` compares the observable results, the
abstracted states and I3 after each step. The clients reach the HSM through the
operator's relay, which keeps every sealed request: among the rules are the relay's own,
replaying any captured request, injecting its own guesses and registrations, and racing a
passkey recovery with a ``BeginRecovery`` of its own (``docs/channel.rst``). Rule
arguments are plain strings, integers and booleans, so a failing program prints as valid
Python that pastes into a regression test.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import model.vault as mv
from impl.method import Method as ImplMethod
from vaultbench.conformance import METHODS, USERS, ConformanceFailure, Harness, replay, run_walk

users = st.sampled_from(USERS)
methods = st.sampled_from(METHODS)


def machine_for(variant: str | None, max_attempts: int = mv.DEFAULT_MAX_ATTEMPTS) -> type:
    class VaultConformance(RuleBasedStateMachine):
        """register / back up / recover right / recover wrong / crash, and the relay's
        replays, injections and races, impl vs model."""

        def __init__(self) -> None:
            super().__init__()
            self.harness = Harness(variant=variant, max_attempts=max_attempts)

        @initialize(user=users, method=methods)
        def first_registration(self, user: str, method: str) -> None:
            self.harness.register(user, method)

        @rule(user=users, method=methods)
        def register(self, user: str, method: str) -> None:
            self.harness.register(user, method)

        @rule(user=users, plaintext=st.binary(max_size=300))
        def back_up(self, user: str, plaintext: bytes) -> None:
            self.harness.back_up(user, plaintext)

        @rule(user=users)
        def recover_right(self, user: str) -> None:
            self.harness.recover(user, correct=True)

        @rule(user=users)
        def recover_wrong(self, user: str) -> None:
            self.harness.recover(user, correct=False)

        @rule(user=users, count=st.integers(min_value=1, max_value=12))
        def guessing_attack(self, user: str, count: int) -> None:
            # An attacker's burst of wrong guesses: what the attempt limit is for.
            for _ in range(count):
                self.harness.recover(user, correct=False)

        @rule(user=users, correct=st.booleans())
        def crash_between_charge_and_answer(self, user: str, correct: bool) -> None:
            self.harness.recover(user, correct=correct, crash=True)

        @precondition(lambda self: self.harness.hsm.is_up)
        @rule()
        def restart_hsm(self) -> None:
            self.harness.restart_hsm()

        @precondition(lambda self: bool(self.harness.captured))
        @rule(index=st.integers(min_value=0, max_value=200))
        def replay(self, index: int) -> None:
            self.harness.replay(index)

        @precondition(lambda self: bool(self.harness.enrolments()))
        @rule(data=st.data())
        def replay_an_enrolment(self, data: st.DataObject) -> None:
            self.harness.replay(data.draw(st.sampled_from(self.harness.enrolments())))

        @rule(user=users, stale=st.booleans())
        def inject_guess(self, user: str, stale: bool) -> None:
            self.harness.inject_guess(user, stale)

        @rule(user=users, count=st.integers(min_value=1, max_value=12))
        def operator_burst(self, user: str, count: int) -> None:
            for _ in range(count):
                self.harness.inject_guess(user)

        @rule(user=users)
        def inject_register(self, user: str) -> None:
            self.harness.inject_register(user)

        @rule(user=users, correct=st.booleans())
        def race(self, user: str, correct: bool) -> None:
            self.harness.race(user, correct)

        @invariant()
        def last_step_noted(self) -> None:
            if self.harness.trace:
                step = self.harness.trace[-1]
                note(f"{step.operation} -> {step.model_result!r}")

    VaultConformance.__name__ = f"VaultConformance_{variant or 'safe'}".replace("-", "_")
    return VaultConformance


TestVaultConformance = machine_for(None).TestCase


def test_method_names_agree() -> None:
    assert [m.value for m in ImplMethod] == [m.value for m in mv.Method]
    assert {m.value for m in ImplMethod if m.uses_vault} == {
        m.value for m in mv.Method if m.uses_vault
    }


@pytest.mark.parametrize("variant", sorted(mv.VARIANTS))
def test_conformance_machine_detects_variant(variant: str) -> None:
    """The detector is seen to detect: each unsafe variant fails the machine on I3."""
    machine = machine_for(variant)
    with pytest.raises(ConformanceFailure) as caught:
        run_state_machine_as_test(
            machine,
            # Detection is the point here, not the shortest program: skip shrinking.
            settings=settings(
                max_examples=300,
                stateful_step_count=60,
                phases=(Phase.generate,),
                derandomize=True,
            ),
        )
    assert caught.value.invariant == "I3 attempt-limit"


@pytest.mark.parametrize("variant", [None, *sorted(mv.VARIANTS)])
def test_seeded_walk(variant: str | None) -> None:
    """The CLI's conformance walk: clean on the safe vault, I3 failure on each variant."""
    results = [run_walk(seed=seed, steps=300, variant=variant) for seed in range(1, 5)]
    failures = [r.failure for r in results if r.failure is not None]
    if variant is None:
        assert failures == []
        assert all(r.steps == 300 for r in results)
    else:
        assert failures, "no walk of seeds 1..4 caught the variant"
        assert {f.invariant for f in failures} == {"I3 attempt-limit"}


def test_walk_is_deterministic() -> None:
    first = run_walk(seed=5, steps=60, variant="no-destroy")
    second = run_walk(seed=5, steps=60, variant="no-destroy")
    assert first.program == second.program
    assert first.steps == second.steps


def test_walk_failure_shrinks_to_a_reproducer_that_fails_the_same_way() -> None:
    result = run_walk(seed=4, steps=300, variant="check-before-charge")
    assert result.failure is not None
    assert 0 < len(result.reproducer) <= result.steps
    again = replay(result.reproducer, variant="check-before-charge", max_attempts=10)
    assert again is not None
    assert again.invariant == "I3 attempt-limit"
    # the reproducer passes on the safe vault: it is the variant that fails
    assert replay(result.reproducer, variant=None, max_attempts=10) is None
