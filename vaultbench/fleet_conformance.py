"""vaultbench.fleet_conformance: the simulated fleet held to the single-copy model.

``FleetHarness`` drives real clients against a simulated fleet of ``HsmReplica``
(``impl.sim.world``) and the model's *single-copy* vault (``model.vault``) side by side.
Replication must be invisible: every answer the fleet gives must be explainable by some
sequential run of the model (linearizability of the vault's answers). The harness keeps
the **set of model states** that the answers so far allow:

- an answered request narrows it: only states in which the model gives the same answer
  survive, each advanced by that step;
- an unanswered request (``FleetUnavailable``: no quorum in time) widens it: the request
  may not have happened, may have been charged without an answer, or may have completed
  with its answer lost;
- after every request, and after healing the fleet, the states must include one whose
  records (method, registration, attempts, destroyed) equal the leader's vault.

The empty set is a conformance failure. Meanwhile the simulator's ``Monitor`` checks I2,
I3 and I6 on the replicas' actual states after every event, and the model's own I3 check
runs on every surviving state. Faults (crash, restart, partition, the operator's disk
moves (rollbacks and edits, refused by the safe fleet, ``docs/disk.rst``), clock skew)
are operations between requests, so a Hypothesis state machine
(``tests/test_fleet_conformance.py``) can interleave them and shrink a failure.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import model.vault as mv
from impl.client import (
    Client,
    ClientConfig,
    Destroyed,
    NoRecord,
    Outcome,
    Recovered,
    Refused,
    Stale,
    UnexpectedResponse,
    WrongGuess,
)
from impl.consensus import ConsensusConfig
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.errors import FleetUnavailable, HsmUnavailable
from impl.hsm import HsmConfig
from impl.messages import Destroyed as DestroyedAnswer
from impl.messages import Released as ReleasedAnswer
from impl.messages import Response
from impl.messages import WrongGuess as WrongGuessAnswer
from impl.method import Method
from impl.redact import Secret
from impl.sim.checks import Monitor
from impl.sim.world import NetworkConfig, World
from impl.vault import VARIANTS as VAULT_VARIANTS
from impl.vault import VaultPolicy
from vaultbench.conformance import ConformanceFailure, UserState, enroll, kind, model_enrol

USERS = ("alice", "bob")
FLEET_METHODS = ("password", "passkey")
#: How many model states the harness keeps before it heals the fleet to settle them.
MAX_POSSIBLE = 64

Abstract = tuple[tuple[str, str, int, int, bool], ...]


@dataclass
class FleetHarness:
    """The simulated fleet and the model side by side; see the module docstring."""

    variant: str | None = None
    max_attempts: int = mv.DEFAULT_MAX_ATTEMPTS
    seed: int = 0
    replicas: int = 5
    quorum: int = 0
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        vault_variant = self.variant if self.variant in VAULT_VARIANTS else None
        fleet_variant = None if self.variant in VAULT_VARIANTS else self.variant
        self.config = mv.VaultConfig(self.max_attempts, vault_variant)
        consensus = ConsensusConfig(self.replicas, self.quorum, variant=fleet_variant)
        policy = VaultPolicy(self.max_attempts, vault_variant)
        self.monitor = Monitor(
            consensus.replicas, consensus.q, VaultPolicy(self.max_attempts), lambda: 0
        )
        # Reordering and duplication are always on: the answers must not depend on
        # message order. Drops would only turn requests into timeouts.
        network = NetworkConfig(duplicate=0.02, reorder=0.15)
        self.world = World(
            self.seed,
            consensus,
            HsmConfig(policy=policy),
            network,
            observer=self.monitor.observe,
        )
        self.monitor._event = lambda: self.world.current
        self.possible: list[mv.VaultState] = [mv.INITIAL]
        self._rng = SeededRng(self.seed + 1)
        self._users: dict[str, UserState] = {}
        self._clients: dict[str, Client] = {}
        #: what each client holds: (registration, secret id), for a replacement's proof
        self._held: dict[str, tuple[int, int]] = {}
        self._next_secret = 0
        self._client_config = ClientConfig(argon2=Argon2Params.FAST)
        self._rolled_back: set[int] = set()
        #: the disk adversary's own choices (rollback or edit, which edit), kept apart
        #: from the walk's chooser so that the walks of the other variants stay as they were
        self._disk = random.Random(self.seed ^ 0xD15C)  # noqa: S311 -- test steps, not keys

    # ---------------------------------------------------------------- operations

    def client(self, user: str) -> Client:
        """The user's client: one per user, kept, so it knows what it registered."""
        client = self._clients.get(user)
        if client is None:
            client = Client(
                user,
                self.world.endpoint,
                self.world.fleet_public_key,
                config=self._client_config,
                rng=self._rng,
            )
            self._clients[user] = client
        return client

    def register(self, user: str, method: str) -> None:
        """Enrol ``user`` on a healthy fleet (a registration is never left in doubt)."""
        operation = f"register({user!r}, {method!r})"
        self.heal_all()
        client = self.client(user)
        self._next_secret += 1
        secret_id = self._next_secret
        state: UserState | None = None
        impl_result: mv.Result
        try:
            state = enroll(client, Method(method), secret_id, self._rng)
        except HsmUnavailable as error:
            raise ConformanceFailure(
                "liveness", f"register({user!r}) on a healed fleet got no answer: {error}"
            ) from None
        except UnexpectedResponse as refused:
            impl_result = mv.Refused(str(refused))
        else:
            assert state.enrollment.registration is not None
            impl_result = mv.Registered(state.enrollment.registration)
        held = self._held.get(user)
        survivors = []
        answers = set()
        for s in self.possible:
            after, result, _ = model_enrol(s, user, Method(method), secret_id, held, self.config)
            answers.add(repr(result))
            if kind(result) == kind(impl_result):
                survivors.append(after)
        if not survivors:
            raise ConformanceFailure(
                "linearizability",
                f"{operation}: the fleet answered {impl_result!r}; no sequential run of the "
                f"model answers that (it would answer {', '.join(sorted(answers))})",
            )
        self.possible = _dedupe(survivors)
        if state is not None and isinstance(impl_result, mv.Registered):
            state.blob = client.backup(state.enrollment, f"backup {state.secret_id}".encode())
            self._users[user] = state
            self._held[user] = (impl_result.registration, secret_id)
        self._note(f"{operation} -> {type(impl_result).__name__}")
        self.check_state(operation)

    def has_user(self, user: str) -> bool:
        return user in self._users

    def recover(self, user: str, correct: bool) -> None:
        """One recovery attempt through whatever leader the fleet has now."""
        operation = f"recover({user!r}, correct={correct})"
        state = self._users.get(user)
        if state is None:
            return
        try:
            outcome = self._impl_recover(user, state, correct)
        except FleetUnavailable:
            self._note(f"{operation} -> no answer")
            self._widen(user, correct)
            if len(self.possible) > MAX_POSSIBLE:
                self.heal_all()
            return
        self._note(f"{operation} -> {type(outcome).__name__}")
        if isinstance(outcome, Refused):
            # Refused before any charge (e.g. a passkey challenge lost with its leader).
            self.check_state(operation)
            return
        registration = self.client(user).registration
        if isinstance(outcome, Recovered) and registration is not None:
            self._held[user] = (registration, state.secret_id)
        result = self._abstract_outcome(state, outcome)
        survivors = []
        for s in self.possible:
            after, expected = mv.guess(s, user, correct, False, self.config)
            if expected == result:
                survivors.append(after)
        if not survivors:
            expected_any = sorted(
                {repr(mv.guess(s, user, correct, False, self.config)[1]) for s in self.possible}
            )
            raise ConformanceFailure(
                "linearizability",
                f"{operation}: the fleet answered {result!r}; no sequential run of the "
                f"model answers that (it would answer {', '.join(expected_any)})",
            )
        self.possible = _dedupe(survivors)
        self._report_answer(user, outcome)
        self.check_state(operation)

    # -------------------------------------------------------------------- faults

    def crash(self, i: int) -> None:
        self.world.crash(i)
        self._note(f"crash({i})")
        self.check_invariants()

    def crash_leader(self) -> None:
        leader = self.world.leader()
        if leader is not None:
            self.crash(leader)

    def restart(self, i: int) -> None:
        self.world.restart(i)
        self._note(f"restart({i})")
        self.check_invariants()

    def isolate(self, i: int) -> None:
        self.world.isolate(i)
        self._note(f"isolate({i})")

    def heal(self) -> None:
        self.world.heal()
        self._note("heal()")

    def skew(self, i: int, offset: int, rate: float) -> None:
        self.world.skew(i, offset, rate)
        self._note(f"skew({i}, {offset}, {rate})")

    def rollback(self, i: int) -> None:
        """The operator's disk move on replica ``i``.

        On the safe fleet and under ``rollback-undetected`` and ``unauthenticated-ballots``
        (``docs/disk.rst``): half the time its oldest saved image is put back, half the time
        its store is edited (a raised ballot, a deleted vote, a lowered promise), with no
        budget, while the replicas down or rejoining stay within the crash budget (the
        fleet must stay able to answer for the answers to say anything). Under the other
        variants: the bounded rollback of before."""
        if self.variant in (None, "rollback-undetected", "unauthenticated-ballots"):
            self._disk_move(i)
            return
        budget = self.world.config.rollback_budget
        if self.variant == "rollback-beyond-budget":
            budget += 1  # one replica more than 2q > n + r tolerates
        if i not in self._rolled_back and len(self._rolled_back) >= budget:
            return
        if not self.world.images[i]:
            return
        self.monitor.rolled_back(i, self.world.images[i][0].promised)
        if self.world.rollback(i, 0):
            self._rolled_back.add(i)
            self._note(f"rollback({i})")
            self.monitor.check_durability(self.world.stores)
            self.check_invariants()

    def _disk_move(self, i: int) -> None:
        world = self.world
        impaired = {j for j, r in enumerate(world.replicas) if not r.is_up or world.rejoining(j)}
        if i not in impaired and len(impaired) >= world.config.crash_budget:
            return
        if not world.replicas[i].is_up:
            return
        if self._disk.random() < 0.5:
            done = world.rollback(i, 0)
            what = f"rollback({i})"
        else:
            how = self._disk.choice(("raise-ballot", "delete-vote", "lower-promise"))
            done = world.edit(i, how, self._disk.randrange(1 << 16))
            what = f"edit({i}, {how})"
        if done:
            refused = world.replicas[i].consensus.refused
            self._note(what + (f" -> {type(refused).__name__}" if refused else ""))
            self.monitor.check_durability(world.stores)
            self.check_invariants()

    def save_images(self) -> None:
        for i in range(self.replicas):
            self.world.save_image(i)

    def wait(self, ms: int) -> None:
        self.world.run_for(ms)
        self.check_invariants()

    def heal_all(self) -> None:
        """Heal the network, restart every replica, let a leader settle and catch up."""
        self.world.heal()
        for i, replica in enumerate(self.world.replicas):
            if not replica.is_up:
                self.world.restart(i)
        if not self.world.settle(5000):
            raise ConformanceFailure("liveness", "no leader within 5 s of healing every fault")
        self.world.run_for(500)
        self.check_state("heal_all()")

    # ------------------------------------------------------------------- checks

    def check_invariants(self) -> None:
        if not self.monitor.ok:
            violation = self.monitor.violations[0]
            raise ConformanceFailure(
                f"{violation.invariant} {_NAMES[violation.invariant]}", str(violation)
            )
        for s in self.possible:
            for found in mv.check_i3(s, self.config):
                raise ConformanceFailure(
                    "I3 attempt-limit", f"model state: {found.user}: {found.detail}"
                )

    def check_state(self, after: str) -> None:
        """The leader's vault must be one of the model states the answers allow."""
        self.check_invariants()
        leader = self.world.leader()
        if leader is None:
            return
        found = _abstract_impl(self.world, leader)
        survivors = [s for s in self.possible if _abstract_model(s) == found]
        if not survivors:
            shown = sorted({_abstract_model(s) for s in self.possible})
            raise ConformanceFailure(
                "linearizability",
                f"after {after}: the leader hsm[{leader}] holds {found}; the model allows "
                f"only {shown}",
            )
        self.possible = survivors

    # ---------------------------------------------------------------- internals

    def _note(self, text: str) -> None:
        self.log.append(text)

    def _widen(self, user: str, correct: bool) -> None:
        widened: list[mv.VaultState] = []
        for s in self.possible:
            widened.append(s)
            charged, _ = mv.guess(s, user, correct, True, self.config)
            widened.append(charged)
            completed, _ = mv.guess(s, user, correct, False, self.config)
            widened.append(_answer_lost(s, completed, user))
        self.possible = _dedupe(widened)

    def _impl_recover(self, user: str, state: UserState, correct: bool) -> Outcome:
        client = self.client(user)
        if state.enrollment.method is Method.PASSWORD:
            guess = state.password if correct else state.password + " (typo)"
            return client.recover_password(state.blob, guess)
        if correct:
            assert state.authenticator is not None
            return client.recover_passkey(state.blob, state.authenticator)
        assert state.impostor is not None
        return client.recover_passkey(
            state.blob, state.impostor, credential_id=state.impostor_credential
        )

    def _abstract_outcome(self, state: UserState, outcome: Outcome) -> mv.Result:
        match outcome:
            case Recovered(root_key=root):
                if root != state.enrollment.root_key:
                    raise ConformanceFailure("conformance", "a recovery released another key")
                return mv.Released(state.secret_id)
            case WrongGuess(remaining=remaining):
                return mv.WrongGuess(remaining)
            case Destroyed():
                return mv.Destroyed()
            case NoRecord():
                return mv.NoRecord()
            case Stale(registration=registration, attempts=attempts):
                return mv.Stale(registration, attempts)
        raise ConformanceFailure("conformance", f"unexpected outcome {outcome!r}")

    def _report_answer(self, user: str, outcome: Outcome) -> None:
        backing = self.world.last_backing
        if backing is None:
            return
        response: Response
        if isinstance(outcome, WrongGuess):
            response = WrongGuessAnswer(outcome.remaining)
        elif isinstance(outcome, Recovered):
            response = ReleasedAnswer(Secret(b"\x00"))
        elif isinstance(outcome, Destroyed):
            response = DestroyedAnswer()
        else:
            return
        records = [s.get(user) for s in self.possible]
        registration = max((r.registration for r in records if r is not None), default=0)
        self.monitor.answered(user, registration, response, backing)
        self.check_invariants()


_NAMES = {"I2": "quorum-safety", "I3": "attempt-limit", "I6": "durability"}


def _answer_lost(before: mv.VaultState, after: mv.VaultState, user: str) -> mv.VaultState:
    """``after`` with the ghost answer counters of ``before``: the answer never arrived."""
    old, new = before.get(user), after.get(user)
    if old is None or new is None:
        return after
    lost = replace(
        new,
        wrong_answered=old.wrong_answered,
        released=old.released,
        answered_after_destroy=old.answered_after_destroy,
    )
    return after.with_record(user, lost)


def _abstract_model(state: mv.VaultState) -> Abstract:
    return tuple(
        (user, record.method.value, record.registration, record.attempts, record.destroyed)
        for user, record in state
        if record.method.uses_vault
    )


def _abstract_impl(world: World, leader: int) -> Abstract:
    return tuple(
        (view.user, view.method.value, view.registration, view.attempts, view.destroyed)
        for view in world.replicas[leader].records()
    )


def _dedupe(states: Iterable[mv.VaultState]) -> list[mv.VaultState]:
    seen: dict[mv.VaultState, None] = {}
    for state in states:
        seen.setdefault(state, None)
    return list(seen)


#: One operation of a walk, rendered as a harness call.
WalkOp = tuple[str, tuple[object, ...]]


def run_fleet_walk(
    seed: int,
    steps: int,
    *,
    variant: str | None = None,
    max_attempts: int = mv.DEFAULT_MAX_ATTEMPTS,
    on_step: Callable[[int], None] | None = None,
    replicas: int = 5,
    quorum: int = 0,
) -> tuple[int, ConformanceFailure | None, list[str]]:
    """run_fleet_walk: a seeded random walk of requests and faults on a fleet of
    ``replicas`` with quorums of ``quorum`` (0: the majority); the seed reproduces it.

    Returns the steps run, the failure (or None) and the harness's log of operations.
    """
    chooser = random.Random(seed)  # noqa: S311 -- choosing test steps, not keys
    harness = FleetHarness(
        variant=variant, max_attempts=max_attempts, seed=seed, replicas=replicas, quorum=quorum
    )
    n = harness.replicas
    try:
        for index in range(steps):
            harness.save_images()
            user = chooser.choice(USERS)
            roll = chooser.random()
            if not harness.has_user(user) or roll < 0.05:
                harness.register(user, chooser.choice(FLEET_METHODS))
            elif roll < 0.12:
                harness.crash_leader()
            elif roll < 0.18:
                harness.crash(chooser.randrange(n))
            elif roll < 0.26:
                harness.restart(chooser.randrange(n))
            elif roll < 0.30:
                harness.isolate(chooser.randrange(n))
            elif roll < 0.34:
                harness.heal()
            elif roll < 0.37:
                harness.rollback(chooser.randrange(n))
            elif roll < 0.40:
                harness.skew(chooser.randrange(n), chooser.randint(-300, 300), 1.5)
            elif roll < 0.45:
                harness.wait(chooser.randint(1, 400))
            else:
                harness.recover(user, chooser.random() < 0.15)
            if on_step is not None:
                on_step(index)
    except ConformanceFailure as failure:
        return index + 1, failure, harness.log
    return steps, None, harness.log
