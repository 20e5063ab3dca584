"""impl.sim.campaign: one seeded simulation run: workload, faults, checks, trace.

``run_simulation(SimConfig(seed=...))`` builds a ``World``, starts concurrent clients,
injects the enabled faults within their budgets, and checks I2, I3 and I6
(``impl.sim.checks``) after every event. It stops at the first violation or after
``steps`` events. The same config gives the same trace, byte for byte.

The workload is the protocol's (``docs/channel.rst``): every operation starts with a
``BeginRecovery`` that tells the record's version. With no record (or a tombstone) the
client enrols, a password or a passkey (``impl.passkey.SoftwareAuthenticator``) by a coin
flip, with a fresh secret, at the version it was told (asking again after ``Stale``).
With a record of its own it guesses, right or wrong, at that version, and tries again
after a wrong guess; after a proof it may re-enrol (a fresh secret, with the proof of the
old one) or retire the record. So most requests reach live records, records reach the
limit and are destroyed, and tombstones are registered over.

The fault ``replay`` is the operator on the channel: the front end keeps every sealed
request it relays, and at its own events it replays captured requests (its choice, from
the seeded RNG) and injects requests of its own, sealed to the fleet key: a
``BeginRecovery`` for any user, runs of wrong guesses, and registrations with a secret of
its own at the current or a stale version; as it relays a request it may also replay it at
once or slip its own ``BeginRecovery`` in right behind it. The answers to its requests go
to the operator, who can open only those to requests it made; the simulator's ghost keeps
every response key, so the monitor sees every answer.

Trace format, one line per event::

    event  time_ms  kind      subject   detail
    000042    187ms deliver   2->0      Accepted b=1.0 s=3

- ``event``: the event's index, from 1 (``--steps`` counts these);
- ``time_ms``: simulated time in milliseconds;
- ``kind``: ``deliver`` / ``lost`` / ``reject`` (a replica message delivered, dropped by
  a cut link or a down replica, refused by the envelope), ``tick`` (a replica's timer
  fired; detail ``role->role``), ``request`` / ``redirect`` / ``answer`` (the front end's
  client traffic), ``client`` (a client starts an operation or gets its outcome), the
  faults ``crash`` / ``restart`` / ``partition`` / ``heal`` / ``skew`` / ``rollback``, and
  the operator's ``replay`` (a captured request sent again: which one, whose, its kind,
  user and version) and ``inject`` (a request of its own: kind, user, version);
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
    NoRecord,
    PasskeyRecoveryInfo,
    PasswordRecoveryInfo,
    RecoverPasskey,
    RecoverPassword,
    Registered,
    RegisterPasskey,
    RegisterPassword,
    Released,
    Request,
    Response,
    Retired,
    RetireRecord,
    Stale,
    WrongGuess,
)
from impl.passkey import DEFAULT_ORIGIN, DEFAULT_RP_ID, SoftwareAuthenticator
from impl.redact import Secret
from impl.service import replace_proof, retire_proof
from impl.session import ResponseKey, open_response, seal_request
from impl.sim.checks import Monitor, Violation
from impl.sim.world import Event, NetworkConfig, World
from impl.sqlite_store import SqliteReplicaStore
from impl.store import ReplicaStore
from impl.vault import VARIANTS as VAULT_VARIANTS
from impl.vault import VaultPolicy

FAULTS = ("crash", "partition", "drop", "dup", "reorder", "skew", "rollback", "replay")
#: The faults the network injects per message (the others are scheduled events).
NETWORK_FAULTS = frozenset({"drop", "dup", "reorder"})
#: Where replicas keep their durable state: in memory, or SQLite files on disk (WAL,
#: synchronous=FULL) in a fresh temporary directory per run.
STORES = ("memory", "sqlite")
CLIENT_TIMEOUT_MS = 1500
#: The workload: how often a client guesses right at its own record, tries again after a
#: wrong guess, re-enrols or retires the record after a proof, enrols a passkey rather than
#: a password; how often it asks again after ``Stale`` (a guess or an enrolment that lost
#: the version to another request).
RIGHT_GUESS = 0.3
RETRY = 0.6
REREGISTER = 0.35
RETIRE = 0.05
PASSKEY_SHARE = 0.5
ENROL_TRIES = 3
#: The relay's reflexes (``replay`` only): as it relays a client's request, replay it at
#: once, or slip in its own ``BeginRecovery`` for the same user.
RACE_REPLAY = 0.08
RACE_BEGIN = 0.08
#: After a wrong guess of its own, how often the operator guesses again at once.
GUESS_RUN = 0.75


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

    @property
    def replays(self) -> int:
        """Captured client requests the operator sent again (fault ``replay``)."""
        return self.stats["adversary replays"]

    @property
    def injections(self) -> int:
        """Requests the operator sealed itself and sent (fault ``replay``)."""
        return self.stats["adversary injections"]


@dataclass
class _Enrolment:
    """What a user's devices hold for one registration they made (ghost and client state)."""

    method: str
    secret: Secret
    salt: bytes = b""
    access_key: Secret = field(default_factory=lambda: Secret(b""))
    credential_id: bytes = b""
    cose_public_key: bytes = b""
    prf_salt: bytes = b""


@dataclass
class _User:
    """A user and what her devices know: her authenticator and her registrations."""

    name: str
    authenticator: SoftwareAuthenticator
    #: a credential on her authenticator that no registration names (her "other passkey")
    spare: bytes
    #: registration number -> what she enrolled there (only numbers answered ``Registered``)
    enrolments: dict[int, _Enrolment] = field(default_factory=dict)
    #: the last version of her record her devices saw
    version: tuple[int, int] = (0, 0)


@dataclass
class _Client:
    name: str
    user: str = ""
    op: str = ""
    step: str = ""
    call: int = 0
    key: ResponseKey | None = None
    registration: int = 0
    attempts: int = 0
    started: int = 0
    serial: int = 0
    tries: int = 0
    passkey: bool = False
    #: the enrolment a registration in flight carries, and the proof it names
    enrolment: _Enrolment | None = None
    proof: Secret = field(default_factory=lambda: Secret(b""))


@dataclass
class _Sent:
    """Ghost: one request as it was sealed (the simulator's record, not the operator's)."""

    request: Request
    key: ResponseKey
    #: who made it: a client's name, or "operator"
    who: str
    #: an honest client's request: its name for the monitor (I3 c), "" for the operator's
    label: str = ""
    #: a guess with the client's own, right secret for the registration it names (I3 d)
    right: bool = False


def _describe(request: Request) -> str:
    """A request's kind, user and version, for the trace (never a secret)."""
    kind = type(request).__name__
    if isinstance(request, BeginRecovery):
        return f"{kind} {request.user}"
    if isinstance(request, RegisterPassword | RegisterPasskey):
        return f"{kind} {request.user} at ({request.replaces}, {request.attempts})"
    return f"{kind} {request.user} at ({request.registration}, {request.attempts})"


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
        # The monitor's reference vault follows the spec: never the variant under test; it
        # also applies the log with the fleet's own policy, to count what the fleet holds.
        reference = VaultPolicy(max_attempts=config.max_attempts)
        self.monitor = Monitor(
            config.replicas, consensus.q, reference, lambda: self._events, fleet_policy=policy
        )
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
        self.adversary = "replay" in faults
        self.world.capture = self.adversary
        self.stats: Counter[str] = Counter()
        self._rng = SeededRng(config.seed * 7919 + 17)
        self._random = self.world.random
        self._users: dict[str, _User] = {}
        for u in range(config.users):
            authenticator = SoftwareAuthenticator(SeededRng(config.seed * 104729 + u))
            name = f"user{u}"
            spare = authenticator.create_credential(DEFAULT_RP_ID, name.encode()).credential_id
            self._users[name] = _User(name, authenticator, spare)
        self._operator = SoftwareAuthenticator(SeededRng(config.seed * 15485863 + 1))
        self._clients = [_Client(f"c{i}") for i in range(config.clients)]
        self._by_call: dict[int, _Client] = {}
        #: ghost: the request each call carries (every call: clients', replays, injections)
        self._sent: dict[int, _Sent] = {}
        #: ghost: the relayed requests in the order the front end captured them
        self._captured: list[_Sent] = []
        #: the operator's own calls in flight, and what it does with each answer
        self._operator_calls: dict[int, str] = {}
        self._rolled_back: set[int] = set()
        self._down_until: dict[int, int] = {}
        self._partitioned = False
        self._cut_off = 0
        for client in self._clients:
            self.world.at(self._random.randint(0, 40), self._starter(client))
        if faults - NETWORK_FAULTS - {"replay"}:
            self.world.at(config.fault_every_ms, self._fault)
        if self.adversary:
            # Its first move once the fleet has had time to elect and to take enrolments.
            self.world.at(config.fault_every_ms * 3, self._adversary)

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

    def _send(self, client: _Client, request: Request, right: bool = False) -> None:
        sealed, key = seal_request(self.world.fleet_public_key, request, self._rng)
        client.key = key
        client.call = self.world.send_request(sealed)
        client.serial += 1
        self._by_call[client.call] = client
        sent = _Sent(
            request,
            key,
            client.name,
            label=f"{client.name}'s {_describe(request)}, call {client.call}",
            right=right,
        )
        self._sent[client.call] = sent
        if self.adversary:
            self._captured.append(sent)
            self._race(request)
        call, serial = client.call, client.serial
        self.world.at(CLIENT_TIMEOUT_MS, lambda: self._timeout(client, call, serial))

    def _next_op(self, client: _Client) -> None:
        """Every operation starts as a real client's does: ask the record's version."""
        user = f"user{self._random.randrange(self.config.users)}"
        client.user, client.started, client.tries = user, self.world.now, 0
        client.op, client.step = "recover", "begin"
        self._note(client.name, f"begin {user}")
        self._send(client, BeginRecovery(user))

    def _finish(self, client: _Client, outcome: str) -> None:
        self.stats[f"outcome {outcome}"] += 1
        self._note(client.name, f"{client.op} {client.user}: {outcome}")
        client.op = client.step = ""
        client.enrolment = None
        self.world.at(self._random.randint(1, 30), lambda: self._next_op(client))

    def _timeout(self, client: _Client, call: int, serial: int) -> None:
        if client.serial != serial or client.call != call or not client.op:
            return
        self._by_call.pop(call, None)
        self._finish(client, "timeout")

    def _on_reply(self, call: int) -> None:
        taken = self.world.take_reply(call)
        sent = self._sent.pop(call, None)
        if taken is None or sent is None:
            return
        sealed, backing = taken
        try:
            # The ghost holds every response key, so the monitor sees every answer; who
            # received it learns only what its own key opens.
            response = open_response(sent.key, sealed)
        except VaultbenchError:
            response = None
        if response is not None:
            self.stats[f"answer {type(response).__name__}"] += 1
            request = sent.request
            registration = getattr(request, "registration", getattr(request, "replaces", 0))
            self.monitor.answered(
                request.user,
                registration,
                response,
                backing,
                request=sent.label or None,
                right=sent.right,
            )
        client = self._by_call.pop(call, None)
        if client is not None:
            if response is None:
                self._finish(client, "unreadable answer")
            else:
                self._handle(client, response)
            return
        purpose = self._operator_calls.pop(call, None)
        if purpose is None:
            return
        name = "unreadable" if response is None else type(response).__name__
        if purpose == "replay":
            # The operator cannot open an answer to a replay: it sees bytes only. The
            # count is the simulator's, for the summary.
            self.stats[f"adversary replay answered {name}"] += 1
            return
        self.stats[f"adversary inject answered {name}"] += 1
        if response is not None:
            self._operator_next(purpose, sent.request, response)

    def _handle(self, client: _Client, response: Response) -> None:
        user = self._users[client.user]
        if client.step == "begin":
            self._after_begin(client, user, response)
        elif client.step == "guess":
            self._after_guess(client, user, response)
        elif client.step == "register":
            self._after_register(client, user, response)
        else:
            self._finish(client, type(response).__name__)

    def _after_begin(self, client: _Client, user: _User, response: Response) -> None:
        if isinstance(response, NoRecord):
            self._register(client, user, (0, 0))
            return
        if isinstance(response, Destroyed | Retired):
            # A tombstone: register over it, at the version the devices last saw (a
            # ``Stale`` answer names the tombstone's, and the client asks again).
            self._register(client, user, user.version)
            return
        if not isinstance(response, PasswordRecoveryInfo | PasskeyRecoveryInfo):
            self._finish(client, type(response).__name__)
            return
        self._guess(client, user, response)

    def _guess(
        self, client: _Client, user: _User, response: PasswordRecoveryInfo | PasskeyRecoveryInfo
    ) -> None:
        """A guess at the version ``response`` names: right (her own secret) or wrong."""
        version = (response.registration, response.attempts)
        user.version = version
        own = user.enrolments.get(response.registration)
        passkey = isinstance(response, PasskeyRecoveryInfo)
        mine = own is not None and (own.method == "passkey") == passkey
        right = mine and self._random.random() < RIGHT_GUESS
        client.op = "right" if right else "wrong" if mine else "foreign"
        client.step = "guess"
        client.registration, client.attempts = version
        client.passkey = isinstance(response, PasskeyRecoveryInfo)
        self._note(client.name, f"{client.op} guess {user.name} at {version}")
        if isinstance(response, PasswordRecoveryInfo):
            access = own.access_key if right and own is not None else self._fresh()
            request: Request = RecoverPassword(user.name, *version, access)
        else:
            credential = own.credential_id if right and own is not None else user.spare
            assertion = user.authenticator.get_assertion(
                credential, DEFAULT_RP_ID, DEFAULT_ORIGIN, response.challenge, response.prf_salt
            )
            request = RecoverPasskey(
                user.name,
                *version,
                assertion.credential_id,
                assertion.authenticator_data,
                assertion.client_data_json,
                assertion.signature,
            )
        self._send(client, request, right=right)

    def _after_guess(self, client: _Client, user: _User, response: Response) -> None:
        retry = isinstance(response, WrongGuess) and response.remaining > 0
        if retry and self._random.random() < RETRY:
            # The user tries again. A password client knows the version its own charge
            # moved to; a passkey client asks for the new challenge.
            self.stats["outcome WrongGuess"] += 1
            version = (client.registration, client.attempts + 1)
            if client.passkey:
                client.step = "begin"
                self._send(client, BeginRecovery(user.name))
            else:
                self._guess(client, user, PasswordRecoveryInfo(*version, b""))
            return
        if isinstance(response, Stale) and client.tries < ENROL_TRIES:
            # Another guess took the version first: ask for the current one, and again.
            client.tries += 1
            client.step = "begin"
            self._send(client, BeginRecovery(user.name))
            return
        if not isinstance(response, Released):
            self._finish(client, type(response).__name__)
            return
        # Proved: the record is at (registration, attempts + 1) and proved. Sometimes the
        # client re-enrols (a fresh secret, with the proof of the old one), sometimes it
        # retires the record (as a rotation does), mostly it is done.
        version = (client.registration, client.attempts + 1)
        user.version = version
        roll = self._random.random()
        if roll < REREGISTER:
            self.stats["outcome Released"] += 1
            self._register(client, user, version, replace_proof(response.secret))
        elif roll < REREGISTER + RETIRE:
            self.stats["outcome Released"] += 1
            client.op, client.step = "retire", "retire"
            self._note(client.name, f"retire {user.name} at {version}")
            self._send(client, RetireRecord(user.name, *version, retire_proof(response.secret)))
        else:
            self._finish(client, "Released")

    def _register(
        self,
        client: _Client,
        user: _User,
        version: tuple[int, int],
        proof: Secret | None = None,
    ) -> None:
        """Enrol a fresh secret at ``version`` (password or passkey, by a coin flip)."""
        client.op, client.step = "register", "register"
        client.proof = proof if proof is not None else Secret(b"")
        secret = self._fresh()
        if self._random.random() < PASSKEY_SHARE:
            credential = user.authenticator.create_credential(DEFAULT_RP_ID, user.name.encode())
            client.enrolment = _Enrolment(
                "passkey",
                secret,
                credential_id=credential.credential_id,
                cose_public_key=credential.cose_public_key,
                prf_salt=self._rng.random_bytes(16),
            )
        else:
            client.enrolment = _Enrolment(
                "password", secret, salt=self._rng.random_bytes(16), access_key=self._fresh()
            )
        self._send_registration(client, user, version)

    def _send_registration(self, client: _Client, user: _User, version: tuple[int, int]) -> None:
        enrolment = client.enrolment
        assert enrolment is not None
        self._note(client.name, f"register {user.name} ({enrolment.method}) at {version}")
        request: Request
        if enrolment.method == "passkey":
            request = RegisterPasskey(
                user.name,
                *version,
                client.proof,
                enrolment.credential_id,
                enrolment.cose_public_key,
                enrolment.prf_salt,
                enrolment.secret,
            )
        else:
            request = RegisterPassword(
                user.name,
                *version,
                client.proof,
                enrolment.salt,
                enrolment.access_key,
                enrolment.secret,
            )
        self._send(client, request)

    def _after_register(self, client: _Client, user: _User, response: Response) -> None:
        if isinstance(response, Registered) and client.enrolment is not None:
            user.enrolments[response.registration] = client.enrolment
            user.version = (response.registration, 0)
        elif isinstance(response, Stale) and client.tries < ENROL_TRIES:
            client.tries += 1
            user.version = (response.registration, response.attempts)
            if client.proof.reveal():
                # Charged since the proof: it must prove the secret again first.
                self._finish(client, "Stale")
                return
            # The record moved on: another device may have enrolled, or the tombstone is
            # at another version. Look again (a tombstone is then enrolled over at the
            # version just learnt; a live record is guessed at, not replaced).
            client.op, client.step = "recover", "begin"
            self._send(client, BeginRecovery(user.name))
            return
        self._finish(client, type(response).__name__)

    def _fresh(self) -> Secret:
        return Secret(self._rng.random_bytes(32))

    # ------------------------------------------------------------------ adversary

    def _race(self, request: Request) -> None:
        """The relay's reflex: as it relays a client's request it may replay it at once or
        slip its own ``BeginRecovery`` for the same user in right behind it."""
        roll = self._random.random()
        if roll < RACE_REPLAY:
            self._replay(len(self._captured) - 1)
        elif roll < RACE_REPLAY + RACE_BEGIN:
            self._inject(BeginRecovery(request.user), "begin")

    def _adversary(self) -> None:
        """One adversary event: a few replays of captured requests and injections."""
        for _ in range(self._random.randint(1, 2)):
            roll = self._random.random()
            if roll < 0.5 and self._captured:
                self._replay(self._pick_capture())
            else:
                user = f"user{self._random.randrange(self.config.users)}"
                purpose = self._random.choice(("begin", "guess", "guess", "register"))
                self._inject(BeginRecovery(user), purpose)
        every = self.config.fault_every_ms
        self.world.at(self._random.randint(every // 2, every * 2), self._adversary)

    def _pick_capture(self) -> int:
        """A captured request, half the time one that is charged or changes state."""
        if self._random.random() < 0.5:
            changing = [
                i
                for i in range(max(0, len(self._captured) - 200), len(self._captured))
                if not isinstance(self._captured[i].request, BeginRecovery)
            ]
            if changing:
                return self._random.choice(changing)
        return self._random.randrange(len(self._captured))

    def _replay(self, index: int) -> None:
        sent = self._captured[index]
        detail = f" ({sent.who}'s {_describe(sent.request)})"
        # To any replica: a follower refuses it with a hint, as it would a client's.
        call = self.world.replay(index, detail, to=self._random.randrange(self.config.replicas))
        self.stats["adversary replays"] += 1
        # The ghost keeps the original response key: the monitor sees the answer.
        self._sent[call] = sent
        self._operator_calls[call] = "replay"

    def _inject(self, request: Request, purpose: str) -> None:
        sealed, key = seal_request(self.world.fleet_public_key, request, self._rng)
        call = self.world.inject(sealed, f": {_describe(request)} (the operator's own)")
        self.stats["adversary injections"] += 1
        self._sent[call] = _Sent(request, key, "operator")
        self._operator_calls[call] = purpose

    def _operator_next(self, purpose: str, request: Request, response: Response) -> None:
        """The operator's next step on an answer it can open (to its own request)."""
        if isinstance(request, RegisterPassword | RegisterPasskey):
            if purpose == "register" and isinstance(response, Stale):
                # Told the current version (a tombstone's, say): try once more there.
                version = (response.registration, response.attempts)
                self._inject(self._forged_registration(request.user, version), "registered")
            return
        if isinstance(request, RecoverPassword | RecoverPasskey):
            # A run of wrong guesses: it knows the version its own charge moved to.
            if (
                isinstance(response, WrongGuess)
                and response.remaining > 0
                and self._random.random() < GUESS_RUN
            ):
                self._operator_guess(request, (request.registration, request.attempts + 1))
            return
        if not isinstance(request, BeginRecovery) or purpose == "begin":
            return
        user = request.user
        version = (0, 0)
        if isinstance(response, PasswordRecoveryInfo | PasskeyRecoveryInfo):
            version = (response.registration, response.attempts)
        if purpose == "guess" and isinstance(response, PasswordRecoveryInfo):
            self._inject(RecoverPassword(user, *version, self._fresh()), "guess")
        elif purpose == "guess" and isinstance(response, PasskeyRecoveryInfo):
            self._inject(self._made_up_assertion(user, version, response.credential_id), "guess")
        elif purpose == "register":
            # At the current version or a stale one.
            registration, attempts = version
            roll = self._random.random()
            if roll < 0.25 and registration > 0:
                version = (registration - 1, self._random.randint(0, self.config.max_attempts))
            elif roll < 0.5 and attempts > 0:
                version = (registration, self._random.randrange(attempts))
            self._inject(self._forged_registration(user, version), "register")

    def _operator_guess(
        self, previous: RecoverPassword | RecoverPasskey, version: tuple[int, int]
    ) -> None:
        user = previous.user
        if isinstance(previous, RecoverPassword):
            self._inject(RecoverPassword(user, *version, self._fresh()), "guess")
        else:
            credential = previous.credential_id
            self._inject(self._made_up_assertion(user, version, credential), "guess")

    def _made_up_assertion(
        self, user: str, version: tuple[int, int], credential_id: bytes
    ) -> RecoverPasskey:
        """The operator cannot sign with the user's credential: an assertion of its own."""
        return RecoverPasskey(
            user,
            *version,
            credential_id,
            self._rng.random_bytes(37),
            b'{"type":"webauthn.get"}',
            self._rng.random_bytes(70),
        )

    def _forged_registration(self, user: str, version: tuple[int, int]) -> Request:
        """A registration the operator makes for ``user``: its own secret, and no proof it
        could make (empty, or bytes of its own)."""
        proof = Secret(b"") if self._random.random() < 0.5 else self._fresh()
        if self._random.random() < 0.5:
            return RegisterPassword(
                user, *version, proof, self._rng.random_bytes(16), self._fresh(), self._fresh()
            )
        credential = self._operator.create_credential(DEFAULT_RP_ID, user.encode())
        return RegisterPasskey(
            user,
            *version,
            proof,
            credential.credential_id,
            credential.cose_public_key,
            self._rng.random_bytes(16),
            self._fresh(),
        )

    # -------------------------------------------------------------------- faults

    def _fault(self) -> None:
        world, config = self.world, self.config
        n = config.replicas
        for i in range(n):
            world.save_image(i)
        kinds = sorted(config.faults - NETWORK_FAULTS - {"replay"})
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
        elif kind == "rollback" and self._disk_adversary():
            self._disk_fault()
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

    def _disk_adversary(self) -> bool:
        """Whether the ``rollback`` fault is the operator's unbounded disk adversary
        (``docs/disk.rst``): on the safe fleet and under the variants about the disk. The
        other unsafe variants keep the bounded rollback of before, so the seeds their labs
        record still reproduce (at the default configuration its budget is 0)."""
        return self.config.variant in (None, "rollback-undetected", "unauthenticated-ballots")

    def _disk_fault(self) -> None:
        """One move of the disk adversary: roll a replica's store back to an older copy
        (half the time) or edit it (a raised ballot, a deleted vote, a lowered promise),
        on any replica, any number of times. A refused store makes its replica a learner
        until it has caught up; the operator is kept from stalling the fleet for good
        (availability against the operator is out of scope, ``docs/channel.rst``): it
        touches a replica only while the replicas down or rejoining stay within the crash
        budget. Under ``rollback-undetected`` nothing is refused, so nothing stalls."""
        world, n = self.world, self.config.replicas
        impaired = {i for i in range(n) if not world.replicas[i].is_up or world.rejoining(i)}
        if len(impaired) + self._cut_off < world.config.crash_budget:
            candidates = list(range(n))
        else:
            candidates = sorted(impaired)
        if not candidates:
            return
        victim = self._random.choice(candidates)
        if not world.replicas[victim].is_up:
            return  # a crashed replica's disk is edited when it comes back: no step
        if self._random.random() < 0.5:
            done = world.rollback(victim, 0)
            name = "fault rollback"
        else:
            how = self._random.choice(("raise-ballot", "delete-vote", "lower-promise"))
            done = world.edit(victim, how, self._random.randrange(1 << 16))
            name = "fault edit"
        if done:
            self.stats[name] += 1
            if world.replicas[victim].consensus.refused is not None:
                self.stats["store refused"] += 1
            self.monitor.check_durability(world.stores)

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
