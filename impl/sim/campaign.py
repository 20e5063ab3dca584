"""impl.sim.campaign: one seeded simulation run: workload, faults, checks, trace.

``run_simulation(SimConfig(seed=...))`` builds a ``World``, starts concurrent clients
that register, begin recoveries and guess (mostly wrong, so records reach the limit and
are destroyed and registered again), injects the enabled faults within their budgets, and
checks I2, I3 and I6 (``impl.sim.checks``) after every event. It stops at the first
violation or after ``steps`` events. The same config gives the same trace, byte for byte.

Trace format, one line per event::

    event  time_ms  kind      subject   detail
    000042    187ms deliver   2->0      Accepted b=1.0 s=3

- ``event``: the event's index, from 1 (``--steps`` counts these);
- ``time_ms``: simulated time in milliseconds;
- ``kind``: ``deliver`` / ``lost`` / ``reject`` (a replica message delivered, dropped by
  a cut link or a down replica, refused by the envelope), ``tick`` (a replica's timer
  fired; detail ``role->role``), ``request`` / ``redirect`` / ``answer`` (the front end's
  client traffic), ``client`` (a client starts an operation or gets its outcome), and the
  faults ``crash`` / ``restart`` / ``partition`` / ``heal`` / ``skew`` / ``rollback``;
- ``subject``: the replica (``hsm[i]``), the link (``src->dst``), the client (``c1``) or
  ``net``;
- ``detail``: the message summary or what happened (never a secret).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path

from impl.consensus import ConsensusConfig
from impl.crypto.symmetric import SeededRng, SystemRng
from impl.errors import ConfigError, VaultbenchError
from impl.hsm import HsmConfig
from impl.messages import (
    BeginRecovery,
    Destroyed,
    PasswordRecoveryInfo,
    RecoverPassword,
    Registered,
    RegisterPassword,
    Released,
    Request,
    Response,
    WrongGuess,
)
from impl.redact import Secret
from impl.session import ResponseKey, open_response, seal_request
from impl.sim.checks import Monitor, Violation
from impl.sim.world import Event, NetworkConfig, World
from impl.sqlite_store import SqliteReplicaStore
from impl.store import ReplicaStore
from impl.vault import VARIANTS as VAULT_VARIANTS
from impl.vault import VaultPolicy

FAULTS = ("crash", "partition", "drop", "dup", "reorder", "skew", "rollback")
#: Where replicas keep their durable state: in memory, or SQLite files on disk (WAL,
#: synchronous=FULL) in a fresh temporary directory per run.
STORES = ("memory", "sqlite")
CLIENT_TIMEOUT_MS = 1500


def parse_faults(text: str) -> frozenset[str]:
    """parse_faults: ``"crash,drop"``, ``"all"`` or ``"none"`` into a set of fault names."""
    text = text.strip()
    if text in ("all", ""):
        return frozenset(FAULTS) if text == "all" else frozenset()
    if text == "none":
        return frozenset()
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in FAULTS]
    if unknown or not all(names):
        raise ConfigError(
            f"unknown fault {', '.join(repr(n) for n in unknown) or 'name'}; "
            f"known: {', '.join(FAULTS)}, or all, or none"
        )
    return frozenset(names)


@dataclass(frozen=True)
class SimConfig:
    """One simulation run: the seed, its length, the fleet, the faults, the workload."""

    seed: int = 1
    steps: int = 1000
    replicas: int = 5
    quorum: int = 0
    faults: frozenset[str] = frozenset()
    max_attempts: int = 10
    users: int = 2
    clients: int = 3
    variant: str | None = None
    fault_every_ms: int = 120
    store: str = "memory"

    def __post_init__(self) -> None:
        if self.store not in STORES:
            raise ConfigError(f"unknown store {self.store!r}; known: {', '.join(STORES)}")
        if self.steps < 1:
            raise ConfigError(f"steps must be at least 1, got {self.steps}")
        if self.users < 1 or self.clients < 1:
            raise ConfigError("users and clients must be at least 1")
        unknown = sorted(set(self.faults) - set(FAULTS))
        if unknown:
            raise ConfigError(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
        self.consensus()  # validates replicas, quorum and variant

    def consensus(self) -> ConsensusConfig:
        fleet_variant = None if self.variant in VAULT_VARIANTS else self.variant
        return ConsensusConfig(replicas=self.replicas, quorum=self.quorum, variant=fleet_variant)

    def policy(self) -> VaultPolicy:
        vault_variant = self.variant if self.variant in VAULT_VARIANTS else None
        return VaultPolicy(max_attempts=self.max_attempts, variant=vault_variant)

    def argv(self, steps: int | None = None, faults: Iterable[str] | None = None) -> str:
        """The ``vaultbench simulate`` arguments that reproduce this run."""
        chosen = sorted(self.faults if faults is None else faults)
        parts = [
            f"--seed {self.seed}",
            f"--steps {self.steps if steps is None else steps}",
            f"--replicas {self.replicas}",
        ]
        if self.quorum:
            parts.append(f"--quorum {self.quorum}")
        parts.append(f"--faults {','.join(chosen) if chosen else 'none'}")
        if self.max_attempts != 10:
            parts.append(f"--max-attempts {self.max_attempts}")
        if self.users != 2:
            parts.append(f"--users {self.users}")
        if self.clients != 3:
            parts.append(f"--clients {self.clients}")
        if self.store != "memory":
            parts.append(f"--store {self.store}")
        if self.variant:
            parts.append(f"--variant {self.variant}")
        return "vaultbench simulate " + " ".join(parts)


@dataclass
class SimResult:
    """What one run did: its length, what it counted, and the violations found."""

    config: SimConfig
    events: int
    sim_ms: int
    violations: list[Violation]
    stats: Counter[str] = field(default_factory=Counter)
    reproducer: str = ""

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass
class _Client:
    name: str
    user: str = ""
    op: str = ""
    call: int = 0
    key: ResponseKey | None = None
    registration: int = 0
    started: int = 0
    serial: int = 0


class Campaign:
    """Campaign: the workload and fault processes of one run around a ``World``."""

    def __init__(self, config: SimConfig, trace: Callable[[str], None] | None = None) -> None:
        self.config = config
        self._trace = trace
        faults = config.faults
        network = NetworkConfig(
            drop=0.03 if "drop" in faults else 0.0,
            duplicate=0.03 if "dup" in faults else 0.0,
            reorder=0.1 if "reorder" in faults else 0.0,
        )
        policy = config.policy()
        consensus = config.consensus()
        self._events = 0
        # The monitor's reference vault follows the spec: never the variant under test.
        reference = VaultPolicy(max_attempts=config.max_attempts)
        self.monitor = Monitor(config.replicas, consensus.q, reference, lambda: self._events)
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        store_factory: Callable[[int], ReplicaStore] | None = None
        if config.store == "sqlite":
            directory = tempfile.TemporaryDirectory(prefix="vaultbench-sim-")
            self._directory = directory
            # The simulated HSMs' sealing key lives in this process, as the HSMs do; the
            # rows' nonces are random, which changes the files, never the run.
            sealing = Secret(SystemRng().random_bytes(32))
            store_factory = lambda i: SqliteReplicaStore(  # noqa: E731
                Path(directory.name) / f"hsm{i}.db", sealing
            )
        self.world = World(
            config.seed,
            consensus,
            HsmConfig(policy=policy),
            network,
            listener=self._on_event if trace is not None else None,
            observer=self._observe,
            store_factory=store_factory,
        )
        self.monitor._event = lambda: self.world.current
        self.world.on_reply = self._on_reply
        self.stats: Counter[str] = Counter()
        self._rng = SeededRng(config.seed * 7919 + 17)
        self._random = self.world.random
        self._passwords = {
            f"user{u}": Secret(self._rng.random_bytes(32)) for u in range(config.users)
        }
        self._clients = [_Client(f"c{i}") for i in range(config.clients)]
        self._by_call: dict[int, _Client] = {}
        self._rolled_back: set[int] = set()
        self._down_until: dict[int, int] = {}
        self._partitioned = False
        self._cut_off = 0
        for client in self._clients:
            self.world.at(self._random.randint(0, 40), self._starter(client))
        if faults - {"drop", "dup", "reorder"}:
            self.world.at(config.fault_every_ms, self._fault)

    def _starter(self, client: _Client) -> Callable[[], None]:
        return lambda: self._next_op(client)

    # ----------------------------------------------------------------------- run

    def run(self) -> SimResult:
        world, monitor = self.world, self.monitor
        while world.events < self.config.steps and monitor.ok:
            if not world.step():
                break
        self.stats["elections"] = sum(r.consensus.counters.elections for r in world.replicas)
        self.stats["chosen slots"] = monitor.chosen_slots
        self.stats["messages rejected"] = world.rejected_messages
        if self._directory is not None:
            for store in world.stores:
                store.close()
            self._directory.cleanup()
        return SimResult(self.config, world.events, world.now, list(monitor.violations), self.stats)

    def _on_event(self, event: Event) -> None:
        assert self._trace is not None
        self._trace(
            f"{event.index:06d} {event.time:>7d}ms {event.kind:<9} {event.subject:<9} "
            f"{event.detail}"
        )

    def _observe(self, observation: object) -> None:
        from impl.consensus import Observation

        assert isinstance(observation, Observation)
        self.monitor.observe(observation)

    def _note(self, subject: str, detail: str) -> None:
        self.world._emit("client", subject, detail)

    # ------------------------------------------------------------------ workload

    def _send(self, client: _Client, request: Request) -> None:
        sealed, key = seal_request(self.world.fleet_public_key, request, self._rng)
        client.key = key
        client.call = self.world.send_request(sealed)
        client.serial += 1
        self._by_call[client.call] = client
        call, serial = client.call, client.serial
        self.world.at(CLIENT_TIMEOUT_MS, lambda: self._timeout(client, call, serial))

    def _next_op(self, client: _Client) -> None:
        user = f"user{self._random.randrange(self.config.users)}"
        roll = self._random.random()
        client.user, client.started = user, self.world.now
        if roll < 0.06:
            client.op = "register"
            self._note(client.name, f"register {user}")
            self._send(
                client,
                RegisterPassword(
                    user,
                    self._rng.random_bytes(16),
                    self._passwords[user],
                    Secret(self._rng.random_bytes(32)),
                ),
            )
        else:
            client.op = "right" if roll < 0.2 else "wrong"
            self._note(client.name, f"begin {user} ({client.op} guess next)")
            self._send(client, BeginRecovery(user))

    def _finish(self, client: _Client, outcome: str) -> None:
        self.stats[f"outcome {outcome}"] += 1
        self._note(client.name, f"{client.op} {client.user}: {outcome}")
        client.op = ""
        self.world.at(self._random.randint(1, 30), lambda: self._next_op(client))

    def _timeout(self, client: _Client, call: int, serial: int) -> None:
        if client.serial != serial or client.call != call or not client.op:
            return
        self._by_call.pop(call, None)
        self._finish(client, "timeout")

    def _on_reply(self, call: int) -> None:
        client = self._by_call.pop(call, None)
        taken = self.world.take_reply(call)
        if client is None or taken is None or client.key is None:
            return
        sealed, backing = taken
        try:
            response = open_response(client.key, sealed)
        except VaultbenchError:
            self._finish(client, "unreadable answer")
            return
        self._handle(client, response, backing)

    def _handle(self, client: _Client, response: Response, backing: object) -> None:
        from impl.replica import Backing

        assert isinstance(backing, Backing)
        user = client.user
        if client.op == "register":
            if isinstance(response, Registered):
                self.monitor.answered(user, response.registration, response, backing)
            self._finish(client, type(response).__name__)
            return
        if isinstance(response, PasswordRecoveryInfo) and client.op in ("right", "wrong"):
            client.registration = response.registration
            key = (
                self._passwords[user]
                if client.op == "right"
                else Secret(self._rng.random_bytes(32))
            )
            client.op += "-guess"
            self._send(client, RecoverPassword(user, response.registration, key))
            return
        if isinstance(response, WrongGuess | Released | Destroyed) and client.op.endswith("-guess"):
            self.monitor.answered(user, client.registration, response, backing)
        self._finish(client, type(response).__name__)

    # -------------------------------------------------------------------- faults

    def _fault(self) -> None:
        world, config = self.world, self.config
        n = config.replicas
        for i in range(n):
            world.save_image(i)
        kinds = sorted(config.faults - {"drop", "dup", "reorder"})
        kind = self._random.choice(kinds)
        up = [i for i in range(n) if world.replicas[i].is_up]
        down = n - len(up) + self._cut_off
        budget = world.config.crash_budget
        if kind == "crash" and down < budget and up:
            leader = world.leader()
            victim = (
                leader
                if leader is not None and self._random.random() < 0.5
                else self._random.choice(up)
            )
            world.crash(victim)
            self.stats["fault crash"] += 1
            # Half the crashes are quick reboots, half long outages.
            back = (
                self._random.randint(5, 50)
                if self._random.random() < 0.5
                else self._random.randint(40, 600)
            )
            world.at(back, lambda: self._restart(victim))
            self.monitor.check_durability(world.stores)
        elif kind == "partition" and not self._partitioned:
            self._partitioned = True
            if down >= budget:
                self._partitioned = False
            elif self._random.random() < 0.5:
                leader = world.leader()
                if leader is None or self._random.random() < 0.5:
                    leader = self._random.randrange(n)
                world.isolate(leader)
                self._cut_off = 1
            else:
                size = self._random.randint(1, max(1, budget - down))
                side = set(self._random.sample(range(n), size))
                world.split(side)
                self._cut_off = size
            if self._partitioned:
                self.stats["fault partition"] += 1
                world.at(self._random.randint(80, 1200), self._heal)
        elif kind == "skew":
            victim = self._random.randrange(n)
            world.skew(victim, self._random.randint(-400, 400), self._random.uniform(0.5, 2.0))
            self.stats["fault skew"] += 1
        elif kind == "rollback":
            allowed = self._rollback_candidates()
            if allowed:
                victim = self._random.choice(allowed)
                if world.images[victim]:
                    self.monitor.rolled_back(victim, world.images[victim][0].promised)
                if world.rollback(victim, 0):
                    self._rolled_back.add(victim)
                    self.stats["fault rollback"] += 1
                    self.monitor.check_durability(world.stores)
        world.at(
            self._random.randint(config.fault_every_ms // 2, config.fault_every_ms * 2), self._fault
        )

    def _rollback_candidates(self) -> list[int]:
        n = self.config.replicas
        budget = self.world.config.rollback_budget
        if self.config.variant == "rollback-beyond-budget":
            budget += 1  # one replica more than 2q > n + r tolerates
        if len(self._rolled_back) < budget:
            return list(range(n))
        return sorted(self._rolled_back)

    def _restart(self, i: int) -> None:
        self.world.restart(i)
        self.stats["fault restart"] += 1

    def _heal(self) -> None:
        self._partitioned = False
        self._cut_off = 0
        self.world.heal()


def run_simulation(
    config: SimConfig, trace: Callable[[str], None] | None = None, minimise: bool = True
) -> SimResult:
    """run_simulation: run ``config``; on a violation, also find a minimal reproducer.

    The reproducer is the same seed stopped at the violating event, with every fault kind
    removed that the violation does not need (each removal re-runs the seed).
    """
    result = Campaign(config, trace).run()
    if result.ok:
        return result
    first = result.violations[0]
    faults = set(config.faults)
    if minimise:
        for fault in sorted(config.faults):
            trial = Campaign(replace(config, faults=frozenset(faults - {fault}))).run()
            if trial.violations and trial.violations[0].invariant == first.invariant:
                faults.discard(fault)
    minimal = replace(config, faults=frozenset(faults))
    rerun = Campaign(minimal).run() if faults != set(config.faults) else result
    assert rerun.violations, "a deterministic rerun must fail again"
    steps = rerun.violations[0].event
    result.reproducer = minimal.argv(steps=steps) + " --trace"
    return result


def _run_one(task: tuple[SimConfig, bool]) -> tuple[SimResult, list[str]]:
    config, traced = task
    lines: list[str] = []
    result = run_simulation(config, lines.append if traced else None)
    return result, lines


def iter_campaign(
    configs: Sequence[SimConfig], jobs: int = 1, traced: bool = False
) -> Iterator[tuple[SimResult, list[str]]]:
    """iter_campaign: run every config, in order, in ``jobs`` processes; yield each result.

    Each run depends only on its config, so the results are the same for any ``jobs``.
    With ``traced`` each result comes with its trace lines.
    """
    tasks = [(config, traced) for config in configs]
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield _run_one(task)
        return
    chunk = max(1, len(tasks) // (jobs * 8))
    with get_context("spawn").Pool(jobs) as pool:
        yield from pool.imap(_run_one, tasks, chunksize=chunk)
