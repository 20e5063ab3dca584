"""The simulated fleet driven against the single-copy model by a Hypothesis state machine.

Requests run on real clients and a fleet of ``HsmReplica`` (Multi-Paxos, real
cryptography, simulated network with reordering and duplication); faults are rules in
between: crash (any replica, or the leader), restart, cut off a datacenter, heal,
rollback within the budget, clock skew, waiting. ``FleetHarness`` checks after every rule
that the answers are explainable by a sequential run of ``model.vault`` and that the
leader's vault is one of the model states they allow, while the simulator's monitor
checks I2, I3 and I6 on the replicas' actual states after every event.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from vaultbench.conformance import ConformanceFailure
from vaultbench.fleet_conformance import FLEET_METHODS, USERS, FleetHarness, run_fleet_walk

users = st.sampled_from(USERS)
replicas = st.integers(min_value=0, max_value=4)


def fleet_machine(variant: str | None, quorum: int = 0, max_attempts: int = 10) -> type:
    class FleetConformance(RuleBasedStateMachine):
        """requests and faults, the fleet against the single-copy model."""

        def __init__(self) -> None:
            super().__init__()
            self.harness: FleetHarness | None = None

        @initialize(
            seed=st.integers(min_value=0, max_value=2**16), method=st.sampled_from(FLEET_METHODS)
        )
        def start(self, seed: int, method: str) -> None:
            self.harness = FleetHarness(
                variant=variant, seed=seed, quorum=quorum, max_attempts=max_attempts
            )
            self.harness.register("alice", method)

        @property
        def h(self) -> FleetHarness:
            assert self.harness is not None
            return self.harness

        @rule(user=users, method=st.sampled_from(FLEET_METHODS))
        def register(self, user: str, method: str) -> None:
            self.h.register(user, method)

        @rule(user=users, count=st.integers(min_value=1, max_value=4))
        def guess_wrong(self, user: str, count: int) -> None:
            for _ in range(count):
                self.h.recover(user, correct=False)

        @rule(user=users)
        def guess_right(self, user: str) -> None:
            self.h.recover(user, correct=True)

        @rule(i=replicas)
        def crash(self, i: int) -> None:
            self.h.crash(i)

        @rule()
        def crash_leader(self) -> None:
            self.h.crash_leader()

        @rule(i=replicas)
        def restart(self, i: int) -> None:
            self.h.restart(i)

        @rule(i=replicas)
        def cut_off_datacenter(self, i: int) -> None:
            self.h.isolate(i)

        @rule()
        def heal(self) -> None:
            self.h.heal()

        @rule()
        def operator_copies_disks(self) -> None:
            self.h.save_images()

        @rule(i=replicas)
        def rollback(self, i: int) -> None:
            self.h.rollback(i)

        @rule(i=replicas, offset=st.integers(-400, 400), rate=st.sampled_from([0.5, 1.0, 2.0]))
        def skew(self, i: int, offset: int, rate: float) -> None:
            self.h.skew(i, offset, rate)

        @rule(ms=st.integers(min_value=1, max_value=600))
        def wait(self, ms: int) -> None:
            self.h.wait(ms)

        @invariant()
        def noted(self) -> None:
            if self.harness is not None and self.harness.log:
                note(self.harness.log[-1])

    FleetConformance.__name__ = f"FleetConformance_{variant or 'safe'}".replace("-", "_")
    return FleetConformance


TestFleetConformance = fleet_machine(None).TestCase
# Each step runs real cryptography through a simulated fleet: half the profile's examples
# (30 under ``ci``, 1000 under ``thorough``).
TestFleetConformance.settings = settings(  # type: ignore[attr-defined]
    settings.default, max_examples=max(1, settings.default.max_examples // 2)
)


@pytest.mark.parametrize(
    ("variant", "quorum"),
    # rollback-beyond-budget needs a bare quorum of holders and the wrong disk replayed:
    # the simulation campaign finds it (tests/test_fleet_sim.py), this machine rarely.
    [
        ("answer-before-chosen", 0),
        ("minority-quorum", 2),
        ("rollback-undetected", 0),
        ("unauthenticated-ballots", 0),
    ],
)
def test_the_conformance_machine_catches_fleet_variants(variant: str, quorum: int) -> None:
    with pytest.raises(ConformanceFailure):
        run_state_machine_as_test(
            fleet_machine(variant, quorum),
            settings=settings(
                max_examples=200,
                stateful_step_count=40,
                phases=(Phase.generate,),
                derandomize=True,
            ),
        )


@pytest.mark.parametrize("seed", [1, 2])
def test_seeded_fleet_walk_is_clean_and_reproducible(seed: int) -> None:
    first = run_fleet_walk(seed, 60)
    assert first[1] is None, first[1]
    assert run_fleet_walk(seed, 60)[2] == first[2]


def test_fleet_walks_refuse_the_operators_disk_moves() -> None:
    """On the safe fleet the walk's ``rollback`` is the disk adversary (docs/disk.rst):
    rollbacks and edits on any replica, each refused, and the answers stay linearizable."""
    moves = refused = 0
    for seed in range(4):
        steps, failure, log = run_fleet_walk(seed, 120)
        assert failure is None, (seed, steps, failure)
        disk = [line for line in log if line.startswith(("rollback(", "edit("))]
        moves += len(disk)
        refused += sum("-> Store" in line for line in disk)
    assert moves > 0
    assert refused > 0
