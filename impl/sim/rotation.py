"""impl.sim.rotation: a fleet rotation, epoch 1 to 2, under simulation, from one seed.

What a run does, every choice drawn from the seed:

1. the ceremony deploys fleet epoch 1 (``impl.ceremony``: keys in the HSMs, vendor
   attestations, the witness signs and logs, the operator counter-signs) and a simulated
   fleet (``impl.sim.world.World``) serves its bundle;
2. every user's app connects in ``ota`` mode (``impl.ota.OtaEndpoint``: it pins only the
   witness, operator and vendor keys), enrolls a password and makes a backup;
3. a workload of ``steps`` steps runs: an attacker (the operator, who relays everything)
   sends wrong guesses to either fleet, users recover, replicas crash and restart, and the
   operator serves old bundles to apps that already moved on; at ``deploy_at`` the
   ceremony deploys epoch 2 beside epoch 1, the operator starts serving its bundle and
   asks every app to move at once (after spending a fifth of its record's attempts);
4. after the deployment, each app that proves its password learns epoch 2 from the bundle
   and moves its record there at once (``Client.recover_password(migrate_to=...)``:
   retire at epoch 1, register at epoch 2); a user whose record was destroyed enrolls
   again at the newest fleet;
5. at the end every user proves the password once more, so every record moves.

Checked, with the step that broke it (see below for the faults):

Faults: ``crash`` (replicas of either fleet crash and restart, within the crash budget),
``drop`` (replica messages dropped and duplicated), ``lose-answer`` (the relay delivers a
request and loses its answer: the app retries, and a migration left half-done is resumed).

- **migration**: at the end, every user's app is on epoch 2 and epoch 2 holds its live
  record, while epoch 1 holds none (retired, or destroyed by the attacker);
- **no rollback**: every old bundle the operator serves to an app that accepted a newer
  epoch is refused (``EpochRollback``), and no app's highest epoch ever goes down;
- **I5 guess-budget**: the wrong guesses answered against a user's password since the
  user last proved it, counted over both fleets, never exceed one budget.

The unsafe variant ``migrate-on-server-request`` makes the apps move whenever the
operator asks, with the access key they kept; the attacker then spends the old record's
budget and the new one's: the run reports I5 with a reproducer.

Trace format, one line per step::

    step  fleet  actor     what -> outcome
    0042  e2     attacker  guess user1 -> WrongGuess(remaining=7)
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from impl.bundle import EpochRollback, MemoryEpochStore, encode_bundle
from impl.ceremony import Parties, client_trust, run_ceremony, witness_log
from impl.client import (
    Client,
    ClientConfig,
    Enrollment,
    FleetLink,
    MigrationError,
    MigrationPolicy,
    Recovered,
)
from impl.consensus import ConsensusConfig
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.errors import BundleError, ConfigError, FleetUnavailable
from impl.hsm import HsmConfig, RecordView
from impl.messages import (
    BeginRecovery,
    Destroyed,
    NoRecord,
    PasswordRecoveryInfo,
    RecoverPassword,
    Released,
    Request,
    Response,
    Retired,
    WrongGuess,
)
from impl.ota import OtaEndpoint, decode_frame
from impl.redact import Secret
from impl.session import open_response, seal_request
from impl.sim.world import NetworkConfig, World
from impl.vault import VaultPolicy

ROTATION_FAULTS = ("crash", "drop", "lose-answer")
ROTATION_VARIANTS = ("migrate-on-server-request",)
EPOCHS = (1, 2)


@dataclass(frozen=True)
class RotationConfig:
    """One rotation run: the seed, the workload's length, the fleets, faults, variant."""

    seed: int = 1
    steps: int = 120
    users: int = 4
    replicas: int = 5
    max_attempts: int = 10
    faults: frozenset[str] = frozenset()
    variant: str | None = None
    #: the step at which epoch 2 is deployed (default: a quarter of the way)
    deploy_at: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.users < 1 or self.max_attempts < 1:
            raise ConfigError("steps, users and max_attempts must be at least 1")
        unknown = sorted(set(self.faults) - set(ROTATION_FAULTS))
        if unknown:
            raise ConfigError(f"unknown faults {unknown}; known: {', '.join(ROTATION_FAULTS)}")
        if self.variant is not None and self.variant not in ROTATION_VARIANTS:
            raise ConfigError(
                f"unknown variant {self.variant!r}; known: {', '.join(ROTATION_VARIANTS)}"
            )
        if not 0 <= self.deploy_at <= self.steps:
            raise ConfigError(f"deploy_at must be within 0..{self.steps}")
        ConsensusConfig(replicas=self.replicas)  # validates the fleet size

    @property
    def deployment_step(self) -> int:
        return self.deploy_at or max(1, self.steps // 4)

    def argv(self, steps: int | None = None) -> str:
        """The ``vaultbench rotate`` arguments that reproduce this run."""
        parts = [f"--seed {self.seed}", f"--steps {self.steps if steps is None else steps}"]
        if self.users != 4:
            parts.append(f"--users {self.users}")
        if self.replicas != 5:
            parts.append(f"--replicas {self.replicas}")
        if self.max_attempts != 10:
            parts.append(f"--max-attempts {self.max_attempts}")
        parts.append(f"--faults {','.join(sorted(self.faults)) or 'none'}")
        parts.append(f"--deploy-at {self.deployment_step}")
        if self.variant:
            parts.append(f"--variant {self.variant}")
        return "vaultbench rotate " + " ".join(parts)


@dataclass(frozen=True)
class RotationViolation:
    """A broken property, the step it broke at, and what was seen (never a secret)."""

    invariant: str
    step: int
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant} at step {self.step}: {self.detail}"


@dataclass
class RotationResult:
    config: RotationConfig
    steps: int
    violations: list[RotationViolation]
    stats: Counter[str] = field(default_factory=Counter)
    reproducer: str = ""

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass
class _User:
    name: str
    password: str
    client: Client
    epochs: MemoryEpochStore
    enrollment: Enrollment
    blob: bytes
    #: ghost: wrong guesses answered against the password since the user last proved it
    wrong: int = 0
    highest: int = 1


class Rotation:
    """Rotation: one run (see the module docstring)."""

    def __init__(self, config: RotationConfig, trace: Callable[[str], None] | None = None) -> None:
        self.config = config
        self._trace = trace
        self.random = random.Random(config.seed)  # noqa: S311 - simulation choices, not keys
        self._rng = SeededRng(config.seed * 7919 + 29)
        self.stats: Counter[str] = Counter()
        self.violations: list[RotationViolation] = []
        self.step = 0
        self._parties = Parties.from_seed(config.seed)
        self._log = witness_log(self._parties)
        self._trust = client_trust(self._parties, len(EPOCHS))
        self._network = NetworkConfig(
            drop=0.02 if "drop" in config.faults else 0.0,
            duplicate=0.02 if "drop" in config.faults else 0.0,
        )
        self.worlds: dict[int, World] = {}
        self.bundles: dict[int, bytes] = {}
        self._down: dict[tuple[int, int], int] = {}  # (epoch, replica) -> restart step
        self._deploy(1)
        self._argon2 = Argon2Params.FAST
        self.users = [self._enroll_user(u) for u in range(config.users)]

    # ------------------------------------------------------------------ fleets

    @property
    def newest(self) -> int:
        return max(self.worlds)

    def _deploy(self, epoch: int) -> None:
        config = self.config
        deployment = run_ceremony(
            self._parties, self._log, epoch=epoch, replicas=config.replicas, seed=config.seed
        )
        bundle = encode_bundle(deployment.bundle)
        world = World(
            config.seed * 31 + epoch,
            ConsensusConfig(replicas=config.replicas),
            HsmConfig(policy=VaultPolicy(max_attempts=config.max_attempts)),
            self._network,
            keys=deployment.hsm_keys,
            bundle=bundle,
        )
        world.settle()
        self.worlds[epoch], self.bundles[epoch] = world, bundle
        self._note(epoch, "operator", f"deploy epoch {epoch}", f"log index {deployment.log_index}")

    def _hello(self) -> bytes:
        """The operator's hello: the newest fleet's bundle."""
        return self.bundles[self.newest]

    def _link(self, user: _User | None, epoch: int, epochs: MemoryEpochStore) -> FleetLink:
        """An app's link to fleet ``epoch``: its bundle verified against the app's trust."""
        world = self.worlds[epoch]
        transport = self._lossy(epoch, world.endpoint)
        endpoint = OtaEndpoint(lambda: self.bundles[epoch], transport, self._trust, epochs)
        accepted = endpoint.connect()
        if user is not None:
            user.highest = max(user.highest, accepted.epoch)
        return FleetLink(accepted.epoch, endpoint.fleet_public_key, endpoint)

    def _lossy(self, epoch: int, transport: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
        """The ``lose-answer`` fault: the relay delivers the request, loses the answer."""
        if "lose-answer" not in self.config.faults:
            return transport

        def relay(sealed: bytes) -> bytes:
            answer = transport(sealed)
            if self.random.random() < 0.08:
                self.stats["fault lose-answer"] += 1
                self._note(epoch, "relay", "lose an answer", "")
                raise FleetUnavailable("the relay lost the answer")
            return answer

        return relay

    # ------------------------------------------------------------------- users

    def _client(self, name: str, link: FleetLink) -> Client:
        migration: MigrationPolicy = (
            "migrate-on-server-request" if self.config.variant else "after-proof"
        )
        config = ClientConfig(argon2=self._argon2, migration=migration)
        rng = SeededRng(self._rng.random_bytes(8)[0] + 256 * len(name) + self.step)
        return Client(
            name, link.endpoint, link.public_key, config=config, rng=rng, epoch=link.epoch
        )

    def _enroll_user(self, index: int) -> _User:
        name = f"user{index}"
        password = self._rng.random_bytes(12).hex()
        epochs = MemoryEpochStore()
        link = self._link(None, self.newest, epochs)
        client = self._client(name, link)
        enrollment = self._retrying(lambda: client.enroll_password(password))
        blob = client.backup(enrollment, f"{name}'s chats".encode())
        self._note(link.epoch, name, "enroll", f"registration #{enrollment.registration}")
        return _User(name, password, client, epochs, enrollment, blob, highest=link.epoch)

    def _retrying(self, call: Callable[[], Enrollment]) -> Enrollment:
        for _ in range(5):
            try:
                return call()
            except FleetUnavailable:
                self.stats["timeouts"] += 1
        raise FleetUnavailable("enrolment failed five times")

    # --------------------------------------------------------------------- run

    def run(self) -> RotationResult:
        config = self.config
        while self.step < config.steps and not self.violations:
            self.step += 1
            if self.step == config.deployment_step:
                self._deploy(2)
                # The operator's natural move: ask every app to move now. The safe app
                # ignores it (it moves only after a proof); the attack rides on it.
                for user in self.users:
                    if not self.violations:
                        self._server_asks_to_migrate(user)
            self._restart_due()
            self._act()
        if not self.violations:
            self._finish()
        return RotationResult(config, self.step, list(self.violations), self.stats)

    def _act(self) -> None:
        roll = self.random.random()
        user = self.random.choice(self.users)
        deployed = len(self.worlds) > 1
        if roll < 0.15:
            self._attack(user)
        elif roll < 0.35:
            self._recover(user)
        elif roll < 0.37 and deployed:
            self._server_asks_to_migrate(user)
        elif roll < 0.45 and deployed:
            self._serve_old_bundle(user)
        elif "crash" in self.config.faults:
            self._crash()

    def _finish(self) -> None:
        """Every user proves the password once more; then every record must be on epoch 2."""
        self.step += 1
        for epoch, i in sorted(self._down):
            self.worlds[epoch].restart(i)
        self._down.clear()
        for world in self.worlds.values():
            world.settle()
        for user in self.users:
            for _ in range(4):
                if self._recover(user) and user.client.epoch == self.newest:
                    break
        for user in self.users:
            self._check_placed(user)

    # ----------------------------------------------------------------- actions

    def _attack(self, user: _User) -> None:
        """The operator sends a burst of wrong guesses to one fleet (it relays both)."""
        epoch = self.random.choice(sorted(self.worlds))
        self._burst(user, epoch, self.random.randint(1, max(1, self.config.max_attempts // 5)))

    def _burst(self, user: _User, epoch: int, burst: int) -> None:
        for _ in range(burst):
            answer = self._attacker_guess(epoch, user.name)
            if answer is None:
                return
            self._note(epoch, "attacker", f"guess {user.name}", _show(answer))
            if isinstance(answer, WrongGuess):
                user.wrong += 1
                self.stats["wrong guesses answered"] += 1
                self._check_budget(user)
                if self.violations:
                    return
            else:
                self.stats[f"attacker answered {type(answer).__name__}"] += 1
                return

    def _attacker_guess(self, epoch: int, name: str) -> Response | None:
        info = self._raw(epoch, BeginRecovery(name))
        if not isinstance(info, PasswordRecoveryInfo):
            return info
        guess = RecoverPassword(name, info.registration, info.attempts, Secret(bytes(32)))
        return self._raw(epoch, guess)

    def _raw(self, epoch: int, request: Request) -> Response | None:
        world = self.worlds[epoch]
        sealed, key = seal_request(world.fleet_public_key, request, self._rng)
        try:
            frame = decode_frame(world.endpoint(sealed))
        except FleetUnavailable:
            self.stats["timeouts"] += 1
            return None
        return open_response(key, frame.answer)

    def _recover(self, user: _User) -> bool:
        """The user recovers (proving the password); True if the backup came back."""
        client = user.client
        before = client.epoch
        try:
            if client.pending_migration is not None:
                epoch = client.resume_migration()
                self._note(epoch, user.name, "resume migration", f"now on epoch {epoch}")
                self.stats["migrations resumed"] += 1
                return False
            target = self._learn(user)
            outcome = client.recover_password(user.blob, user.password, migrate_to=target)
        except FleetUnavailable:
            self.stats["timeouts"] += 1
            pending = client.pending_migration is not None
            self._note(
                client.epoch,
                user.name,
                "recover",
                "timeout" + (", migration pending" if pending else ""),
            )
            return False
        except MigrationError as refused:
            self.stats["migrations refused"] += 1
            self._note(client.epoch, user.name, "migrate", f"refused: {refused}")
            return False
        if isinstance(outcome, Recovered):
            user.wrong = 0
            shown = "Recovered"
            if outcome.migrated_to is not None:
                self.stats["migrated after proof"] += 1
                shown = (
                    f"Recovered; retired at epoch {before}, registered "
                    f"#{client.registration} at epoch {outcome.migrated_to}"
                )
            self._note(client.epoch, user.name, "recover", shown)
            return True
        self._note(client.epoch, user.name, "recover", _show(outcome))
        if isinstance(outcome, Destroyed | Retired | NoRecord):
            self._reenroll(user)
        return False

    def _learn(self, user: _User) -> FleetLink | None:
        """The app asks the operator's hello for the fleet; a newer epoch is a migration
        target (verified before it is used: the bundle, its epoch, the attestations)."""
        if self.newest <= user.client.epoch:
            return None
        link = self._link(user, self.newest, user.epochs)
        return link if link.epoch > user.client.epoch else None

    def _reenroll(self, user: _User) -> None:
        """The record is gone: the user sets the password again at the newest fleet."""
        link = self._link(user, self.newest, user.epochs)
        client = self._client(user.name, link)
        try:
            enrollment = self._retrying(lambda: client.enroll_password(user.password))
        except FleetUnavailable:
            return
        user.client, user.enrollment, user.wrong = client, enrollment, 0
        user.blob = client.backup(enrollment, f"{user.name}'s chats".encode())
        self.stats["re-enrolled after destruction"] += 1
        self._note(
            link.epoch, user.name, "enroll again", f"registration #{enrollment.registration}"
        )

    def _server_asks_to_migrate(self, user: _User) -> None:
        """The amplification attack: the operator spends a fifth of the record's attempts, asks
        the app to move to the newest fleet now (no proof), and, if it moved, spends the
        new record's whole budget too."""
        client = user.client
        if client.epoch >= self.newest:
            return
        self._burst(user, client.epoch, max(1, self.config.max_attempts // 5))
        if self.violations:
            return
        link = self._link(user, self.newest, user.epochs)
        try:
            epoch = client.migrate_on_request(link)
        except MigrationError as refused:
            self.stats["server migration requests ignored"] += 1
            self._note(client.epoch, user.name, "server asks to migrate", f"ignored: {refused}")
            return
        except FleetUnavailable:
            self.stats["timeouts"] += 1
            return
        self.stats["migrated on server request"] += 1
        self._note(epoch, user.name, "server asks to migrate", f"moved to epoch {epoch}")
        self._burst(user, epoch, self.config.max_attempts)

    def _serve_old_bundle(self, user: _User) -> None:
        """The operator serves an older epoch's bundle to an app: it must be refused."""
        highest = user.epochs.highest()
        older = [e for e in self.bundles if e < highest]
        if not older:
            return
        epoch = self.random.choice(older)
        endpoint = OtaEndpoint(
            lambda: self.bundles[epoch], self.worlds[epoch].endpoint, self._trust, user.epochs
        )
        try:
            endpoint.connect()
        except EpochRollback:
            self.stats["rolled-back bundles refused"] += 1
            self._note(epoch, "operator", f"serve epoch {epoch} to {user.name}", "EpochRollback")
            return
        except BundleError as other:
            self._violate("no-rollback", f"refused for the wrong reason: {type(other).__name__}")
            return
        self._violate("no-rollback", f"{user.name} accepted epoch {epoch} after epoch {highest}")

    def _crash(self) -> None:
        epoch = self.random.choice(sorted(self.worlds))
        world = self.worlds[epoch]
        down = [i for (e, i) in self._down if e == epoch]
        up = [i for i in range(len(world.replicas)) if world.replicas[i].is_up]
        if len(down) >= world.config.crash_budget or not up:
            return
        victim = self.random.choice(up)
        world.crash(victim)
        self._down[(epoch, victim)] = self.step + self.random.randint(1, 8)
        self.stats["fault crash"] += 1
        self._note(epoch, f"hsm[{victim}]", "crash", "")

    def _restart_due(self) -> None:
        for (epoch, i), at in sorted(self._down.items()):
            if at <= self.step:
                del self._down[(epoch, i)]
                self.worlds[epoch].restart(i)
                self._note(epoch, f"hsm[{i}]", "restart", "")

    # ------------------------------------------------------------------ checks

    def _check_budget(self, user: _User) -> None:
        if user.wrong > self.config.max_attempts:
            self._violate(
                "I5 guess-budget",
                f"{user.wrong} wrong guesses answered against {user.name}'s password since "
                f"it was last proved; one budget is {self.config.max_attempts}",
            )

    def _check_placed(self, user: _User) -> None:
        newest = self.newest
        if user.epochs.highest() < user.highest:
            self._violate("no-rollback", f"{user.name}'s highest epoch went down")
        if user.client.epoch != newest:
            self._violate("migration", f"{user.name} is still on epoch {user.client.epoch}")
            return
        live = {
            epoch: [r for r in _records(world) if r.user == user.name and not r.destroyed]
            for epoch, world in self.worlds.items()
        }
        if not live[newest]:
            self._violate("migration", f"epoch {newest} holds no live record for {user.name}")
        stale = [e for e, records in live.items() if e != newest and records]
        if stale:
            self._violate("migration", f"epoch {stale[0]} still holds {user.name}'s live record")
        else:
            self.stats["users on the newest epoch"] += 1

    def _violate(self, invariant: str, detail: str) -> None:
        self.violations.append(RotationViolation(invariant, self.step, detail))
        self._note(0, "check", invariant, f"VIOLATED: {detail}")

    def _note(self, epoch: int, actor: str, what: str, outcome: str) -> None:
        if self._trace is not None:
            fleet = f"e{epoch}" if epoch else "--"
            line = f"{self.step:04d}  {fleet:<4} {actor:<9} {what}"
            self._trace(f"{line} -> {outcome}" if outcome else line)


def _records(world: World) -> list[RecordView]:
    """The records of the fleet's most advanced replica (the leader's applied vault)."""
    leader = world.leader()
    replicas = world.replicas
    best = (
        leader
        if leader is not None
        else max(range(len(replicas)), key=lambda i: replicas[i].consensus.applied)
    )
    return list(replicas[best].records())


def _show(response: object) -> str:
    if isinstance(response, WrongGuess):
        return f"WrongGuess(remaining={response.remaining})"
    if isinstance(response, Released):
        return "Released"
    return type(response).__name__


def run_rotation(
    config: RotationConfig, trace: Callable[[str], None] | None = None
) -> RotationResult:
    """run_rotation: run ``config``; a violation comes with the command that replays it."""
    result = Rotation(config, trace).run()
    if not result.ok:
        # A violation found in the final round (step ``steps + 1``) replays with the whole run.
        steps = min(result.violations[0].step, config.steps)
        result.reproducer = config.argv(steps=steps) + " --trace"
    return result
