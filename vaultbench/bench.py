"""vaultbench.bench: ``vaultbench bench``, the workbench's performance figures.

Every figure that has a floor is measured together with that floor, in the same run and
the same process, and reported as a ratio ``figure / floor`` next to its goal. A floor is
the cost of the cryptography (or hashing) the operation cannot do without, measured by
running exactly those primitives; the ratio is what the rest of the code (parsing,
consensus, the simulator, Python itself) costs on top of it. What each floor contains is
stated in ``docs/bench.rst`` and in each figure's ``floor`` text.

Benchmarks (``--only NAME[,NAME]``):

``bundle``
    ``impl.bundle.verify_bundle`` on a 5-replica fleet's validation bundle (client
    attestation off: its X.509 chains are not in the floor) vs two Ed25519 verifications
    (witness signature, operator counter-signature) and one SHA-256 of the file.
``recovery``
    a password recovery on the server side (``BeginRecovery`` then a right
    ``RecoverPassword``) through the real 5-replica fleet (``impl.replica.HsmReplica``) in
    the simulator (``impl.sim.world.World``) with a zero-delay network, serving a
    validation bundle (``ota`` frames), vs its mandatory cryptography (see
    ``recovery_floor_counts``). The client's work (sealing, opening, Argon2id) is done
    outside the timed region.
``argon2``
    the client's Argon2id at the default cost (RFC 9106's second recommended option),
    reported on its own: it is deliberately slow.
``auditlog``
    ``AuditLog.append`` + ``root`` + ``inclusion`` + ``InclusionProof.verify`` on a log
    of about a thousand entries vs the SHA-256 calls an RFC 9162 tree needs for that; and
    the same with the witness's statement key set (one Ed25519 verification more, in
    figure and floor).
``store``
    a replica's durable vote on the process fleet's storage: ``SqliteReplicaStore``'s
    ``put_accepted`` (sealed row, version, tag, one transaction) and the NVRAM stand-in's
    write (``FileNvram``), vs one bare SQLite transaction writing the same row with the
    same durability (``synchronous=FULL``, WAL); and the store alone against the same
    floor. What ``docs/disk.rst`` says detection costs, measured.
``check``
    ``vaultbench check`` on the defaults, part by part (``run_check`` with ``part``
    vault, knowledge, keys, fleet: what ``part=all`` runs in sequence), with every row's
    own time (each proof obligation, BMC, walk and simulation).
``scale``
    the fleet from 3 to 15 replicas on the simulator's default network: messages, events,
    simulated latency and wall time per operation; simulated events per second (a
    campaign with every fault); conformance steps per second (single HSM and fleet).
``mutants``
    the unsafe-variant matrix (``vaultbench.mutants.run_matrix``) at its quick budget:
    the time each detector takes to reach its verdict on each variant.

Timing: each figure and its floor run in alternating batches (``--repeat`` pairs, after a
warm-up); the reported times are the fastest batch means (the least disturbed by whatever
else the machine runs), and the ratio is the ratio of the two; the JSON also keeps every
batch mean and the ratio of the medians. Seeds are fixed (``--seed``), so every run does
the same work. Nothing here asserts that anything is fast.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Final

from impl.auditlog import AuditLog, SignedStatement, sign_entry
from impl.bundle import (
    ClientTrust,
    MemoryEpochStore,
    decode_bundle,
    encode_bundle,
    make_bundle,
    verify_bundle,
)
from impl.consensus import ConsensusConfig
from impl.crypto.ed25519 import SIGNATURE_LEN, SigningKey, VerifyKey
from impl.crypto.hpke import FleetPublicKey, hpke_open
from impl.crypto.symmetric import (
    GCM_NONCE_LEN,
    GCM_TAG_LEN,
    Argon2Params,
    SeededRng,
    aes256gcm_open,
    aes256gcm_seal,
    argon2id,
    hkdf_sha256,
    sha256,
)
from impl.fleetkeys import FleetKeyFile, ReplicaKey
from impl.hsm import HsmConfig
from impl.messages import (
    BeginRecovery,
    PasswordRecoveryInfo,
    RecoverPassword,
    Registered,
    RegisterPassword,
    Released,
    Request,
    Response,
)
from impl.ota import ANSWER_CONTEXT, decode_frame
from impl.peer import CONTEXT, HEADER_LEN
from impl.redact import Secret
from impl.replica import provision_fleet
from impl.service import VERIFIER_INFO, replace_proof
from impl.session import (
    PAD_BLOCK,
    REQUEST_INFO,
    RESPONSE_AAD,
    ResponseKey,
    open_response,
    seal_request,
)
from impl.sim.world import NetworkConfig, World
from impl.statement import CIPHERSUITE_ED25519_PROTOBUF, SignatureMessage, key_id
from model.vault import DEFAULT_MAX_ATTEMPTS
from vaultbench.args import at_least

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
SCHEMA: Final = "vaultbench-bench/1"
BENCHMARKS: Final = (
    "bundle",
    "recovery",
    "argon2",
    "auditlog",
    "store",
    "check",
    "scale",
    "mutants",
)
DEFAULT_REPEAT: Final = 15
QUICK_REPEAT: Final = 3
#: the goals of issue 7, as ratios to the floor
GOAL_BUNDLE: Final = 1.3
GOAL_RECOVERY: Final = 3.0
#: replica counts of the scale benchmark
SCALE_REPLICAS: Final = (3, 5, 7, 9, 11, 13, 15)
QUICK_SCALE_REPLICAS: Final = (3, 5)
#: packages whose versions the results file records
PACKAGES: Final = ("vaultbench", "cryptography", "z3-solver", "webauthn", "cbor2", "reedsolo")

Say = Callable[[str], None]
#: One timed operation: runs once and returns the seconds of its timed part.
Op = Callable[[], float]


# ---------------------------------------------------------------------------------------
# Results


@dataclass
class Figure:
    """Figure: one measured figure, its floor (if it has one) and its goal (if any).

    Times are seconds per operation: ``seconds`` and ``floor_seconds`` are the minima of
    ``samples`` and ``floor_samples`` (batch means, in the order measured); ``ratio`` is
    computed from them, ``median_ratio`` from the medians of the samples."""

    name: str
    title: str
    seconds: float
    samples: list[float]
    floor_seconds: float | None = None
    floor_samples: list[float] = field(default_factory=list)
    floor: str = ""
    goal: float | None = None
    counts: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.floor_seconds is None or self.floor_seconds <= 0:
            return None
        return self.seconds / self.floor_seconds

    @property
    def median_ratio(self) -> float | None:
        if not self.floor_samples or _median(self.floor_samples) <= 0:
            return None
        return _median(self.samples) / _median(self.floor_samples)

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        if ratio is None or self.goal is None:
            return None
        return ratio <= self.goal

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "title": self.title,
            "seconds": self.seconds,
            "samples": self.samples,
            "floor_seconds": self.floor_seconds,
            "floor_samples": self.floor_samples,
            "floor": self.floor,
            "ratio": self.ratio,
            "median_ratio": self.median_ratio,
            "goal": self.goal,
            "met": self.met,
            "counts": self.counts,
            "note": self.note,
        }


Table = list[dict[str, object]]


@dataclass
class Results:
    """Results: everything one ``vaultbench bench`` run measured."""

    machine: dict[str, object]
    settings: dict[str, object]
    figures: list[Figure] = field(default_factory=list)
    tables: dict[str, Table] = field(default_factory=dict)
    summaries: dict[str, dict[str, object]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "schema": SCHEMA,
            "machine": self.machine,
            "settings": self.settings,
            "seconds": round(self.seconds, 3),
            "figures": [f.to_json() for f in self.figures],
            "summaries": self.summaries,
            "tables": self.tables,
        }


@dataclass(frozen=True)
class Settings:
    """How long to measure: ``quick`` shrinks every benchmark to seconds."""

    quick: bool = False
    repeat: int = DEFAULT_REPEAT
    seed: int = 1

    def number(self, full: int, quick: int) -> int:
        """Operations per batch."""
        return quick if self.quick else full


# ---------------------------------------------------------------------------------------
# The machine


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def describe_machine() -> dict[str, object]:
    """describe_machine: CPU model, cores, OS, Python and package versions, and the date."""
    versions: dict[str, str] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        versions["openssl"] = backend.openssl_version_text()
    except Exception:  # pragma: no cover - an unusual build of cryptography
        versions["openssl"] = "unknown"
    return {
        "load_average": _load_average(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 0,
        "architecture": platform.machine(),
        "system": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (other work on the machine disturbs timings)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - platforms without it
        return []


def machine_slug(machine: dict[str, object]) -> str:
    """machine_slug: a file name for the machine's results, e.g. ``amd-epyc-2-cores``."""
    cpu = str(machine.get("cpu", "unknown")).lower()
    words = "".join(c if c.isalnum() else " " for c in cpu).split()
    kept = [w for w in words if w not in ("r", "tm", "cpu", "processor", "with")][:4]
    return "-".join([*kept, f"{machine.get('cores', 0)}-cores"])


# ---------------------------------------------------------------------------------------
# Timing


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _batch(op: Op, number: int) -> float:
    # Each batch starts from a collected heap, so that a collection left over from the
    # previous batch (or from building the fixture) is not charged to this one; the
    # collector stays on, as it would in a server.
    gc.collect()
    total = 0.0
    for _ in range(number):
        total += op()
    return total / number


def timed(fn: Callable[[], object]) -> Op:
    """timed: ``fn`` as an ``Op`` that times all of it."""

    def op() -> float:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    return op


def paired(
    figure: Op, floor: Op, *, repeat: int, number: int, warmup: int = 1
) -> tuple[list[float], list[float]]:
    """paired: ``repeat`` batches of ``number`` operations of ``figure`` and of ``floor``,
    alternating which goes first, after ``warmup`` batches of each. Returns the batch
    means (seconds per operation) of each."""
    for _ in range(warmup):
        _batch(figure, number)
        _batch(floor, number)
    figures: list[float] = []
    floors: list[float] = []
    for index in range(repeat):
        if index % 2 == 0:
            figures.append(_batch(figure, number))
            floors.append(_batch(floor, number))
        else:
            floors.append(_batch(floor, number))
            figures.append(_batch(figure, number))
    return figures, floors


def alone(op: Op, *, repeat: int, number: int, warmup: int = 1) -> list[float]:
    """alone: ``repeat`` batch means of ``op`` (a figure without a floor)."""
    for _ in range(warmup):
        _batch(op, number)
    return [_batch(op, number) for _ in range(repeat)]


def _figure(
    name: str,
    title: str,
    samples: tuple[list[float], list[float]] | list[float],
    *,
    floor: str = "",
    goal: float | None = None,
    counts: dict[str, float] | None = None,
    note: str = "",
) -> Figure:
    if isinstance(samples, tuple):
        figure_samples, floor_samples = samples
        floor_seconds: float | None = min(floor_samples)
    else:
        figure_samples, floor_samples, floor_seconds = samples, [], None
    return Figure(
        name,
        title,
        min(figure_samples),
        figure_samples,
        floor_seconds,
        floor_samples,
        floor,
        goal,
        dict(counts or {}),
        note,
    )


# ---------------------------------------------------------------------------------------
# Fleets, files and bundles for the benchmarks

#: the timestamp of the benchmarks' witness statements (2026-01-01T00:00:00Z)
T0_MS: Final = 1_767_225_600_000
USER: Final = "bench-user"
#: the log origin of the audit-log benchmark
LOG_ORIGIN: Final = "bench.example/vaultbench-log"


class BenchError(RuntimeError):
    """A benchmark saw a wrong answer: its figure would not mean anything."""


def fleet_file(public: FleetPublicKey, identities: Sequence[VerifyKey]) -> FleetKeyFile:
    """fleet_file: epoch 1 of a fleet of ``len(identities)`` replicas, majority quorum."""
    n = len(identities)
    return FleetKeyFile(
        fleet_id="vaultbench-bench",
        epoch=1,
        firmware=sha256(b"vaultbench bench firmware"),
        quorum=n // 2 + 1,
        session_key=public,
        replicas=tuple(ReplicaKey(i, f"dc{i}", key) for i, key in enumerate(identities)),
    )


def bundle_bytes(file: FleetKeyFile, witness: SigningKey, operator: SigningKey) -> bytes:
    """bundle_bytes: the canonical validation bundle of ``file`` (no attestation chains)."""
    return encode_bundle(make_bundle(file, witness, operator, T0_MS))


def recovery_floor_counts(replicas: int) -> dict[str, int]:
    """recovery_floor_counts: the cryptographic operations one server-side password
    recovery (``BeginRecovery`` then a right ``RecoverPassword``) must do on a fleet of
    ``replicas``, as the design states them.

    Per request (2): one HPKE open of the sealed request (``impl.session``), one
    AES-256-GCM seal of the padded answer under the request's response key, and, as the
    fleet serves a bundle (``impl.ota``), one SHA-256 of the bundle and one Ed25519
    signature of the answer frame. Once: the HKDF-SHA256 of the access key that the
    verifier comparison needs (``impl.service``). Per log slot: the leader's ``Accept`` to
    every other replica and each one's ``Accepted`` back, ``2 * (replicas - 1)`` messages,
    each sealed (AES-256-GCM + Ed25519 signature) and opened (Ed25519 verification +
    AES-256-GCM) as ``impl.peer`` requires. Slots: the read barrier of each request (a
    ``Noop``, ``impl.replica``), ``ConsumeAttempt`` and ``Release``: 4. Commit
    notifications ride on the next ``Accept`` or heartbeat, so none is counted.
    """
    slots = 4
    return {
        "requests": 2,
        "hpke_open": 2,
        "answer_seal": 2,
        "answer_sign": 2,
        "bundle_sha256": 2,
        "hkdf": 1,
        "slots": slots,
        "peer_messages": slots * 2 * (replicas - 1),
    }


class FleetBench:
    """FleetBench: a fleet of ``replicas`` HSMs in the simulator, with one user registered
    behind a password, whose requests are sealed and opened outside the timed region.

    The access key is a fixed 32-byte value: the client's Argon2id is not part of any
    server-side figure (``bench_argon2`` measures it on its own)."""

    def __init__(self, replicas: int, seed: int, network: NetworkConfig, *, ota: bool) -> None:
        rng = SeededRng(f"vaultbench bench fleet {seed} {replicas}".encode())
        hsm = HsmConfig()
        self.hsm = hsm
        self.public, self.keys = provision_fleet(replicas, hsm, rng)
        witness, operator = SigningKey.generate(rng), SigningKey.generate(rng)
        identities = [k.signing_key.public_key() for k in self.keys]
        self.bundle = (
            bundle_bytes(fleet_file(self.public, identities), witness, operator) if ota else None
        )
        self.world = World(
            seed,
            ConsensusConfig(replicas=replicas),
            hsm,
            network=network,
            keys=self.keys,
            bundle=self.bundle,
        )
        if not self.world.settle(10_000):
            raise BenchError(f"no leader elected among {replicas} replicas")
        self._rng = SeededRng(f"vaultbench bench client {seed}".encode())
        self.salt = sha256(b"vaultbench bench salt")[:16]
        self.access = Secret(sha256(b"vaultbench bench access key"))
        self.registration = 0
        #: the record's charged attempts: every request names the version it is made for
        self.attempts = 0
        self._secret = Secret(b"")
        self._left = 0
        #: messages, events and slots during the timed recoveries (``recovery``)
        self.recoveries = 0
        self.messages = 0
        self.events = 0
        self.slots = 0
        self.register()

    # -- requests -------------------------------------------------------------------

    def seal(self, request: Request) -> tuple[bytes, ResponseKey]:
        return seal_request(self.public, request, self._rng)

    def open(self, key: ResponseKey, answer: bytes) -> Response:
        if self.bundle is not None:
            answer = decode_frame(answer).answer
        return open_response(key, answer)

    def register(self) -> Registered:
        secret = Secret(self._rng.random_bytes(32))
        # Every guess here is right, so the record is proved: replace it with its proof.
        proof = replace_proof(self._secret) if self.registration else Secret(b"")
        request = RegisterPassword(
            USER, self.registration, self.attempts, proof, self.salt, self.access, secret
        )
        sealed, key = self.seal(request)
        answer = self.open(key, self.world.endpoint(sealed))
        if not isinstance(answer, Registered):
            raise BenchError(f"registration answered {type(answer).__name__}")
        self.registration, self.attempts, self._secret = answer.registration, 0, secret
        # Every guess is charged, right ones too: register again before the budget ends.
        self._left = self.hsm.policy.max_attempts - 1
        return answer

    def begin(self) -> Response:
        sealed, key = self.seal(BeginRecovery(USER))
        return self.open(key, self.world.endpoint(sealed))

    def guess(self) -> Response:
        if self._left == 0:
            self.register()
        self._left -= 1
        sealed, key = self.seal(self.right_guess())
        self.attempts += 1
        return self.open(key, self.world.endpoint(sealed))

    def right_guess(self) -> RecoverPassword:
        """right_guess: the right password's request at the record's current version."""
        return RecoverPassword(USER, self.registration, self.attempts, self.access)

    def recovery(self) -> float:
        """recovery: one server-side recovery; returns the seconds of the fleet's part."""
        if self._left == 0:
            self.register()
        self._left -= 1
        first, first_key = self.seal(BeginRecovery(USER))
        second, second_key = self.seal(self.right_guess())
        self.attempts += 1
        world = self.world
        leader = world.leader()
        slot = -1 if leader is None else world.replicas[leader].consensus.next_slot
        messages, events = world.peer_messages, world.events
        started = time.perf_counter()
        info_answer = world.endpoint(first)
        released_answer = world.endpoint(second)
        elapsed = time.perf_counter() - started
        self.recoveries += 1
        self.messages += world.peer_messages - messages
        self.events += world.events - events
        if leader is not None and world.leader() == leader:
            self.slots += world.replicas[leader].consensus.next_slot - slot
        info = self.open(first_key, info_answer)
        released = self.open(second_key, released_answer)
        if not isinstance(info, PasswordRecoveryInfo) or not isinstance(released, Released):
            raise BenchError(f"recovery answered {type(info).__name__}, {type(released).__name__}")
        return elapsed

    def mean_envelope(self) -> float:
        world = self.world
        return world.peer_bytes / world.peer_messages if world.peer_messages else 0.0


# ---------------------------------------------------------------------------------------
# bundle: verify_bundle vs two Ed25519 verifications and one SHA-256


def bench_bundle(settings: Settings, results: Results) -> None:
    """bench_bundle: the client's bundle verification against its cryptographic floor."""
    rng = SeededRng(f"vaultbench bench bundle {settings.seed}".encode())
    public, keys = provision_fleet(5, HsmConfig(), rng)
    witness, operator = SigningKey.generate(rng), SigningKey.generate(rng)
    file = fleet_file(public, [k.signing_key.public_key() for k in keys])
    data = bundle_bytes(file, witness, operator)
    witness_key, operator_key = witness.public_key(), operator.public_key()
    trust = ClientTrust({key_id(witness_key): witness_key}, operator_key, client_attestation=False)
    parts = decode_bundle(data)
    statement = parts.statement.encode()

    def figure() -> None:
        verify_bundle(data, trust, MemoryEpochStore())

    def floor() -> None:
        witness_key.verify(parts.witness_signature, statement)
        operator_key.verify(parts.counter_signature, parts.witness_signature)
        sha256(parts.file_bytes)

    samples = paired(
        timed(figure), timed(floor), repeat=settings.repeat, number=settings.number(30, 10)
    )
    results.figures.append(
        _figure(
            "bundle-verify",
            "bundle verification (verify_bundle; 5 replicas, no client attestation)",
            samples,
            floor="2 Ed25519 verifications (the witness's statement, the operator's "
            "counter-signature) + 1 SHA-256 of the fleet-key file",
            goal=GOAL_BUNDLE,
            counts={"bundle_bytes": len(data), "file_bytes": len(parts.file_bytes)},
        )
    )


# ---------------------------------------------------------------------------------------
# recovery: a server-side recovery through 5 replicas vs its mandatory cryptography


def bench_recovery(settings: Settings, results: Results, replicas: int = 5) -> None:
    """bench_recovery: a server-side password recovery through the fleet (zero-delay
    simulated network, ``ota`` frames) against ``recovery_floor_counts``."""
    zero = NetworkConfig(min_delay=0, max_delay=0)
    fleet = FleetBench(replicas, settings.seed, zero, ota=True)
    for _ in range(2):  # learn the envelope sizes before building the floor
        fleet.recovery()
    counts = recovery_floor_counts(replicas)
    floor_op = _recovery_floor(fleet, counts)
    fleet.recoveries = fleet.messages = fleet.events = fleet.slots = 0
    samples = paired(fleet.recovery, floor_op, repeat=settings.repeat, number=settings.number(5, 3))
    done = max(1, fleet.recoveries)
    observed = {
        "observed_peer_messages": fleet.messages / done,
        "observed_events": fleet.events / done,
        "observed_slots": fleet.slots / done,
        "mean_envelope_bytes": round(fleet.mean_envelope(), 1),
    }
    results.figures.append(
        _figure(
            "recovery",
            f"server-side recovery through {replicas} replicas (simulator, zero-delay network)",
            samples,
            floor=f"{counts['hpke_open']} HPKE opens, {counts['answer_seal']} AES-256-GCM "
            f"answer seals, {counts['answer_sign']} Ed25519 answer signatures + "
            f"{counts['bundle_sha256']} SHA-256 of the bundle, {counts['hkdf']} HKDF-SHA256, "
            f"and {counts['peer_messages']} peer messages ({counts['slots']} slots x "
            f"2 x {replicas - 1}) each AES-256-GCM seal + Ed25519 sign + Ed25519 verify + "
            "AES-256-GCM open",
            goal=GOAL_RECOVERY,
            counts={**{k: float(v) for k, v in counts.items()}, **observed},
            note="the fleet's wall time for both requests, the simulator's event queue "
            "included; the client's sealing, opening and Argon2id are outside the timing",
        )
    )


def _recovery_floor(fleet: FleetBench, counts: dict[str, int]) -> Op:
    """The floor of one recovery: exactly the primitives ``counts`` lists, run through
    ``impl.crypto`` on inputs of the sizes the fleet really used."""
    rng = SeededRng(b"vaultbench bench floor")
    keypair = fleet.keys[0].fleet_keypair
    signer = fleet.keys[0].signing_key
    verifier = signer.public_key()
    requests = [
        fleet.seal(BeginRecovery(USER))[0],
        fleet.seal(fleet.right_guess())[0],
    ]
    response_key = rng.random_bytes(32)
    nonce = rng.random_bytes(GCM_NONCE_LEN)
    answer_plain = bytes(PAD_BLOCK)
    bundle = fleet.bundle or b""
    peer_key = rng.random_bytes(32)
    fleet_id = b"vaultbench-fleet"
    prefix = CONTEXT + b" sig" + len(fleet_id).to_bytes(2, "big") + fleet_id
    header = bytes(HEADER_LEN)
    overhead = HEADER_LEN + GCM_TAG_LEN + SIGNATURE_LEN
    payload = bytes(max(1, round(fleet.mean_envelope()) - overhead))
    access = fleet.access.reveal()
    messages = counts["peer_messages"]

    def floor() -> float:
        started = time.perf_counter()
        for sealed in requests:
            hpke_open(keypair, sealed, REQUEST_INFO)
        hkdf_sha256(access, VERIFIER_INFO, salt=fleet.salt)
        for _ in range(counts["answer_seal"]):
            sealed_answer = nonce + aes256gcm_seal(response_key, nonce, answer_plain, RESPONSE_AAD)
            signer.sign(ANSWER_CONTEXT + sha256(bundle) + sealed_answer)
        for _ in range(messages):
            ciphertext = aes256gcm_seal(peer_key, nonce, payload, header)
            signed = prefix + header + ciphertext
            verifier.verify(signer.sign(signed), signed)
            aes256gcm_open(peer_key, nonce, ciphertext, header)
        return time.perf_counter() - started

    return floor


# ---------------------------------------------------------------------------------------
# argon2: the client's deliberate cost


def bench_argon2(settings: Settings, results: Results) -> None:
    """bench_argon2: Argon2id at ``Argon2Params.DEFAULT``, on its own (no floor)."""
    params = Argon2Params.DEFAULT
    salt = sha256(b"vaultbench bench argon2 salt")[:16]

    def figure() -> None:
        argon2id(b"correct horse battery staple", salt, params)

    samples = alone(
        timed(figure),
        repeat=1 if settings.quick else max(1, min(settings.repeat, 5)),
        number=1,
        warmup=0 if settings.quick else 1,
    )
    results.figures.append(
        _figure(
            "argon2id",
            f"client Argon2id ({params.memory_kib // 1024} MiB, {params.iterations} passes, "
            f"{params.lanes} lanes)",
            samples,
            counts={
                "memory_kib": params.memory_kib,
                "iterations": params.iterations,
                "lanes": params.lanes,
            },
            note="deliberate: it is what makes each offline guess expensive",
        )
    )


# ---------------------------------------------------------------------------------------
# auditlog: append + root + inclusion proof + verification vs the SHA-256 floor


def tree_hashes(index: int) -> int:
    """tree_hashes: the SHA-256 calls an RFC 9162 tree needs to append leaf ``index``
    (its leaf hash and the nodes it completes), compute the root of the ``index + 1``
    leaves (one per 1-bit of the size, less one) and verify the leaf's inclusion proof
    (one per proof hash). Producing the proof hashes nothing: the siblings of the last
    leaf are complete subtrees, which a tree keeps."""
    size = index + 1
    completed = (index ^ size).bit_length() - 1  # the trailing 1-bits of index
    return 1 + completed + (size.bit_count() - 1) + inclusion_path_length(index, size)


def inclusion_path_length(index: int, size: int) -> int:
    """inclusion_path_length: the number of hashes in PATH(index, D[0:size]) (RFC 9162
    section 2.1.3.1)."""
    length = 0
    start, end, m = 0, size, index
    while end - start > 1:
        k = 1 << ((end - start - 1).bit_length() - 1)
        if m < k:
            end = start + k
        else:
            start, m = start + k, m - k
        length += 1
    return length


def bench_auditlog(settings: Settings, results: Results) -> None:
    """bench_auditlog: one log entry appended, the new root, the entry's inclusion proof
    and its verification, against the SHA-256 calls RFC 9162 needs for that; then the
    same with the witness's statement key set (one Ed25519 verification in each)."""
    signer = SigningKey.generate(SeededRng(f"vaultbench bench log {settings.seed}".encode()))
    prefill = settings.number(1024, 32)
    number = settings.number(32, 8)
    needed = prefill + (settings.repeat + 1) * number
    entries = [
        sign_entry(
            SignatureMessage(
                CIPHERSUITE_ED25519_PROTOBUF,
                "vaultbench.bench",
                T0_MS,
                epoch,
                sha256(b"vaultbench bench file %d" % epoch),
            ),
            signer,
        )
        for epoch in range(1, needed + 1)
    ]
    for verified in (False, True):
        bench = _LogBench(entries, signer, prefill, verified)
        samples = paired(bench.figure, bench.floor, repeat=settings.repeat, number=number)
        name = "auditlog-verified" if verified else "auditlog"
        what = "append (verifying the entry's signature)" if verified else "append"
        results.figures.append(
            _figure(
                name,
                f"audit log: {what} + root + inclusion proof + verify ({prefill}+ entries)",
                samples,
                floor=("1 Ed25519 verification + " if verified else "")
                + "the RFC 9162 SHA-256 calls: leaf hash, completed nodes, root, proof check",
                counts={"sha256_per_op": round(bench.hashes_per_op(), 3), "prefill": prefill},
            )
        )


def bench_store(settings: Settings, results: Results) -> None:
    """bench_store: a durable vote through ``SqliteReplicaStore`` and ``FileNvram`` (what
    ``impl.consensus.Replica._vote`` does on the process fleet), and through the store
    alone, each against one bare SQLite transaction of the same row and durability."""
    import sqlite3
    import tempfile

    from impl.nvram import FileNvram, NvramState
    from impl.peer_messages import AcceptedEntry, Ballot, Noop, Proposal
    from impl.sqlite_store import SqliteReplicaStore

    key = Secret(sha256(f"vaultbench bench store {settings.seed}".encode()))
    number = settings.number(40, 4)
    proposal = Proposal(bytes(16), Noop())
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        store = SqliteReplicaStore(directory / "store.sqlite", key)
        nvram = FileNvram(directory / "nvram.json", key)
        bare = sqlite3.connect(directory / "bare.sqlite", isolation_level=None)
        bare.execute("PRAGMA journal_mode=WAL").fetchall()
        bare.execute("PRAGMA synchronous=FULL")
        bare.execute("CREATE TABLE accepted (slot INTEGER PRIMARY KEY, ballot BLOB, p BLOB)")
        slot = [0]
        state = [NvramState()]
        row = bytes(60)

        def vote(with_nvram: bool) -> Callable[[], None]:
            def op() -> None:
                slot[0] += 1
                store.put_accepted(AcceptedEntry(slot[0] % 128, Ballot(1, 0), proposal))
                if with_nvram:
                    state[0] = state[0].after_write(store.version, voted=slot[0] % 128)
                    nvram.write(state[0])

            return op

        def floor() -> None:
            slot[0] += 1
            bare.execute("BEGIN IMMEDIATE")
            bare.execute(
                "INSERT OR REPLACE INTO accepted VALUES (?, ?, ?)", (slot[0] % 128, row, row)
            )
            bare.execute("COMMIT")

        try:
            for name, with_nvram, title in (
                ("store-vote", True, "durable vote: sealed, tagged row + NVRAM write"),
                ("store-vote-no-nvram", False, "durable vote: sealed, tagged row alone"),
            ):
                samples = paired(
                    timed(vote(with_nvram)),
                    timed(floor),
                    repeat=settings.repeat,
                    number=number,
                )
                results.figures.append(
                    _figure(
                        name,
                        title,
                        samples,
                        floor="one SQLite transaction of the same row (WAL, synchronous=FULL)",
                        counts={"rows": 128},
                        note="the NVRAM stand-in is a file: write, fsync, rename, fsync "
                        "of its directory"
                        if with_nvram
                        else "",
                    )
                )
        finally:
            store.close()
            bare.close()


class _LogBench:
    """One audit log filled with ``prefill`` entries; ``figure`` appends the next entry
    and proves it, ``floor`` does the same entry's hashing (and signature check)."""

    _NODE_INPUT: Final = b"\x01" + bytes(64)

    def __init__(
        self, entries: Sequence[SignedStatement], signer: SigningKey, prefill: int, verified: bool
    ) -> None:
        self._entries = entries
        self._verifier = signer.public_key()
        self._verified = verified
        self._log = AuditLog(LOG_ORIGIN, signer, statement_key=self._verifier if verified else None)
        for entry in entries[:prefill]:
            self._log.append(entry)
        self._prefill = prefill
        self._next_figure = self._next_floor = prefill
        self._leaf_inputs = [b"\x00" + e.leaf_data() for e in entries]
        self._statements = [e.message.encode() for e in entries]

    def figure(self) -> float:
        entry = self._entries[self._next_figure]
        self._next_figure += 1
        log = self._log
        started = time.perf_counter()
        index = log.append(entry)
        root = log.root()
        log.inclusion(index).verify(root)
        return time.perf_counter() - started

    def floor(self) -> float:
        index = self._next_floor
        self._next_floor += 1
        more = tree_hashes(index) - 1
        leaf, node = self._leaf_inputs[index], self._NODE_INPUT
        signature, statement = self._entries[index].signature, self._statements[index]
        sha = hashlib.sha256
        started = time.perf_counter()
        if self._verified:
            self._verifier.verify(signature, statement)
        sha(leaf).digest()
        for _ in range(more):
            sha(node).digest()
        return time.perf_counter() - started

    def hashes_per_op(self) -> float:
        done = range(self._prefill, self._next_figure)
        return sum(tree_hashes(i) for i in done) / max(1, len(done))


# ---------------------------------------------------------------------------------------
# check: each part and each row of `vaultbench check` on the defaults

CHECK_PARTS: Final = ("vault", "knowledge", "keys", "fleet")


def bench_check(settings: Settings, results: Results, say: Say) -> None:
    """bench_check: ``run_check`` on the defaults, one part at a time (``part=all`` runs
    the same four in this order), with each row's own time. ``--quick``: the vault part
    with one short walk."""
    from vaultbench.checkconfig import DEFAULT_QUORUM, DEFAULT_REPLICAS
    from vaultbench.cli import run_check

    table: Table = []
    parts: dict[str, float] = {}
    ok = True
    plan = (("vault", 20, 1),) if settings.quick else tuple((p, 300, 4) for p in CHECK_PARTS)
    for part, steps, walks in plan:
        say(f"check: part {part}")
        started = time.perf_counter()
        outcome = run_check(
            None,
            DEFAULT_MAX_ATTEMPTS,
            settings.seed,
            steps,
            walks,
            2,
            1000,
            40,
            part,
            replicas=DEFAULT_REPLICAS,
            quorum=DEFAULT_QUORUM,
        )
        parts[part] = time.perf_counter() - started
        ok = ok and outcome.ok
        for row in outcome.rows:
            table.append(
                {
                    "part": part,
                    "invariant": row.invariant,
                    "obligation": row.obligation,
                    "result": row.result,
                    "seconds": row.seconds,
                }
            )
    total = sum(parts.values())
    results.tables["check"] = table
    results.summaries["check"] = {
        "ok": ok,
        "parts": parts,
        "total_seconds": total,
        "rows_seconds": sum(float(str(r["seconds"])) for r in table),
        "quick": settings.quick,
    }
    results.figures.append(
        _figure(
            "check",
            "vaultbench check on the defaults" + (" (quick: vault part only)" * settings.quick),
            [total],
            counts={f"{part}_seconds": seconds for part, seconds in parts.items()},
            note="every proof obligation, BMC, walk and simulation: see the check table",
        )
    )


# ---------------------------------------------------------------------------------------
# scale: 3 to 15 replicas; events per second; conformance steps per second


def bench_scale(settings: Settings, results: Results, say: Say) -> None:
    """bench_scale: per operation (register, begin a recovery, a right guess) on fleets of
    3 to 15 replicas on the default simulated network: peer messages, events, simulated
    latency and wall time; then the simulator's and the conformance harnesses' rates."""
    sizes = QUICK_SCALE_REPLICAS if settings.quick else SCALE_REPLICAS
    rounds = settings.number(5, 2)
    table: Table = []
    for n in sizes:
        say(f"scale: {n} replicas")
        fleet = FleetBench(n, settings.seed, NetworkConfig(), ota=False)
        calls: dict[str, Callable[[], Response]] = {
            "register": fleet.register,
            "begin": fleet.begin,
            "guess": fleet.guess,
        }
        measured: dict[str, list[tuple[int, int, int, float]]] = {op: [] for op in calls}
        world = fleet.world
        for _ in range(rounds):
            for op, call in calls.items():
                before = (world.peer_messages, world.events, world.now)
                started = time.perf_counter()
                call()
                wall = time.perf_counter() - started
                measured[op].append(
                    (
                        world.peer_messages - before[0],
                        world.events - before[1],
                        world.now - before[2],
                        wall,
                    )
                )
        slots = {"register": 2, "begin": 1, "guess": 3}  # each request: barrier + commands
        for op, samples in measured.items():
            table.append(
                {
                    "replicas": n,
                    "operation": op,
                    "messages": statistics.fmean(r[0] for r in samples),
                    "mandated_messages": slots[op] * 2 * (n - 1),
                    "events": statistics.fmean(r[1] for r in samples),
                    "sim_ms": statistics.fmean(r[2] for r in samples),
                    "wall_seconds": _median([r[3] for r in samples]),
                }
            )
    results.tables["scale"] = table
    fits: dict[str, object] = {}
    for op in ("register", "begin", "guess"):
        rows = [r for r in table if r["operation"] == op]
        xs = [float(str(r["replicas"])) for r in rows]
        for column in ("messages", "events", "wall_seconds"):
            ys = [float(str(r[column])) for r in rows]
            fits[f"{op}:{column}"] = linear_fit(xs, ys)
    summary: dict[str, object] = {"fits": fits, "rounds": rounds}

    from impl.sim.campaign import FAULTS, SimConfig, run_simulation

    steps = settings.number(2000, 200)
    say(f"scale: a simulation of {steps} events, every fault")
    started = time.perf_counter()
    sim = run_simulation(
        SimConfig(seed=settings.seed, steps=steps, faults=frozenset(FAULTS)), minimise=False
    )
    elapsed = time.perf_counter() - started
    summary["simulation"] = {
        "events": sim.events,
        "sim_ms": sim.sim_ms,
        "seconds": elapsed,
        "events_per_second": sim.events / elapsed,
        "ok": sim.ok,
    }
    from vaultbench.conformance import run_walk
    from vaultbench.fleet_conformance import run_fleet_walk

    walk_steps = settings.number(300, 30)
    say(f"scale: a conformance walk of {walk_steps} steps")
    started = time.perf_counter()
    walk = run_walk(settings.seed, walk_steps)
    elapsed = time.perf_counter() - started
    summary["conformance"] = {
        "steps": walk.steps,
        "seconds": elapsed,
        "steps_per_second": walk.steps / elapsed,
        "ok": walk.failure is None,
    }
    fleet_steps = settings.number(40, 5)
    say(f"scale: a fleet conformance walk of {fleet_steps} steps")
    started = time.perf_counter()
    ran, failure, _log = run_fleet_walk(settings.seed, fleet_steps)
    elapsed = time.perf_counter() - started
    summary["fleet_conformance"] = {
        "steps": ran,
        "seconds": elapsed,
        "steps_per_second": ran / elapsed,
        "ok": failure is None,
    }
    results.summaries["scale"] = summary


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float]:
    """linear_fit: least squares ``y = slope * x + intercept`` and its R² (1.0 when every
    point is on the line or there are fewer than three points)."""
    n = len(xs)
    if n < 2:
        return {"slope": 0.0, "intercept": ys[0] if ys else 0.0, "r2": 1.0}
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx if sxx else 0.0
    intercept = mean_y - slope * mean_x
    ss_tot = sum((y - mean_y) ** 2 for y in ys)
    ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys, strict=True))
    r2 = 1.0 - ss_res / ss_tot if ss_tot else 1.0
    return {"slope": slope, "intercept": intercept, "r2": r2}


# ---------------------------------------------------------------------------------------
# mutants: time for each detector to reach its verdict on each unsafe variant


def bench_mutants(settings: Settings, results: Results, say: Say) -> None:
    """bench_mutants: ``run_matrix`` at the quick budget (``--quick``: one variant)."""
    from dataclasses import replace

    from vaultbench import mutants

    if settings.quick:
        variants: list[str] = ["off-by-one-limit"]
        detectors: list[str] = ["vault-i3", "walk"]
        jobs = 1
    else:
        variants = list(mutants.ALL_VARIANTS)
        detectors = list(mutants.DETECTOR_NAMES)
        jobs = mutants.default_jobs()
    say(f"mutants: {len(variants)} variants, {len(detectors)} detectors, {jobs} processes")
    budget = replace(mutants.QUICK, seed=settings.seed)
    matrix = mutants.run_matrix(variants, detectors, budget, jobs)
    table: Table = []
    kinds = {d.name: d.kind for d in matrix.detectors}
    for row in (matrix.safe, *matrix.rows):
        for name, finding in row.findings.items():
            if finding.result == "n/a":
                continue
            table.append(
                {
                    "variant": row.variant or "(safe design)",
                    "detector": name,
                    "kind": kinds[name],
                    "result": finding.result,
                    "seconds": finding.seconds,
                    "trace": finding.trace,
                }
            )
    caught = [r for r in table if r["result"] == "caught"]
    results.tables["mutants"] = table
    results.summaries["mutants"] = {
        "ok": matrix.ok,
        "seconds": matrix.seconds,
        "jobs": jobs,
        "budget": budget.name,
        "variants": len(variants),
        "cells": len(table),
        "caught": len(caught),
        "median_catch_seconds": _median([float(str(r["seconds"])) for r in caught]),
    }


# ---------------------------------------------------------------------------------------
# Running, printing, saving


def run_benchmarks(names: Sequence[str], settings: Settings, say: Say) -> Results:
    """run_benchmarks: run the named benchmarks (in ``BENCHMARKS`` order)."""
    results = Results(
        describe_machine(),
        {
            "quick": settings.quick,
            "repeat": settings.repeat,
            "seed": settings.seed,
            "only": [n for n in BENCHMARKS if n in names],
        },
    )
    started = time.perf_counter()
    for name in BENCHMARKS:
        if name not in names:
            continue
        say(f"bench: {name}")
        if name == "bundle":
            bench_bundle(settings, results)
        elif name == "recovery":
            bench_recovery(settings, results)
        elif name == "argon2":
            bench_argon2(settings, results)
        elif name == "auditlog":
            bench_auditlog(settings, results)
        elif name == "store":
            bench_store(settings, results)
        elif name == "check":
            bench_check(settings, results, say)
        elif name == "scale":
            bench_scale(settings, results, say)
        elif name == "mutants":
            bench_mutants(settings, results, say)
    results.seconds = time.perf_counter() - started
    results.machine["load_average_after"] = _load_average()
    return results


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def render(results: Results) -> str:
    """render: the results as the tables ``vaultbench bench`` prints."""
    m = results.machine
    quick = " (quick)" if results.settings.get("quick") else ""
    lines = [
        f"vaultbench bench{quick}: {m['cpu']}, {m['cores']} cores, {m['python']}, "
        f"repeat {results.settings['repeat']}, seed {results.settings['seed']}",
        "",
        f"{'figure':<20} {'time':>10} {'floor':>10} {'ratio':>7} {'goal':>7}  verdict",
    ]
    for f in results.figures:
        ratio = "-" if f.ratio is None else f"{f.ratio:.2f}"
        goal = "-" if f.goal is None else f"<={f.goal:g}"
        verdict = {None: "", True: "met", False: "NOT MET"}[f.met]
        lines.append(
            f"{f.name:<20} {_time(f.seconds):>10} {_time(f.floor_seconds):>10} {ratio:>7} "
            f"{goal:>7}  {verdict}"
        )
    for f in results.figures:
        if f.floor:
            lines.append(f"  {f.name} floor: {f.floor}")
    recovery = next((f for f in results.figures if f.name == "recovery"), None)
    if recovery is not None:
        c = recovery.counts
        lines.append(
            f"  recovery: {c['observed_peer_messages']:g} peer messages per recovery "
            f"(mandated {c['peer_messages']:g}), {c['observed_slots']:g} slots "
            f"(mandated {c['slots']:g}), {c['observed_events']:g} simulator events"
        )
    check = results.summaries.get("check")
    if check is not None:
        parts = check["parts"]
        assert isinstance(parts, dict)
        shown = ", ".join(f"{p} {_time(float(s))}" for p, s in parts.items())
        lines += ["", f"check: {_time(float(str(check['total_seconds'])))} ({shown})"]
        slowest = sorted(results.tables.get("check", []), key=lambda r: -float(str(r["seconds"])))[
            :5
        ]
        for row in slowest:
            lines.append(
                f"  {_time(float(str(row['seconds']))):>10}  {row['invariant']}: "
                f"{row['obligation']}"
            )
    scale = results.tables.get("scale")
    if scale:
        lines += [
            "",
            f"{'replicas':>8} {'operation':<9} {'messages':>9} {'mandated':>9} {'events':>8} "
            f"{'sim ms':>8} {'wall':>10}",
        ]
        for row in scale:
            lines.append(
                f"{row['replicas']:>8} {row['operation']!s:<9} "
                f"{float(str(row['messages'])):>9.1f} {row['mandated_messages']:>9} "
                f"{float(str(row['events'])):>8.1f} {float(str(row['sim_ms'])):>8.1f} "
                f"{_time(float(str(row['wall_seconds']))):>10}"
            )
    summary = results.summaries.get("scale")
    if summary is not None:
        sim, conf, fleet = (
            summary["simulation"],
            summary["conformance"],
            summary["fleet_conformance"],
        )
        assert isinstance(sim, dict)
        assert isinstance(conf, dict)
        assert isinstance(fleet, dict)
        lines.append(
            f"simulator: {sim['events_per_second']:.0f} events/s; conformance: "
            f"{conf['steps_per_second']:.1f} steps/s (one HSM), "
            f"{fleet['steps_per_second']:.2f} steps/s (fleet)"
        )
    mutants = results.summaries.get("mutants")
    if mutants is not None:
        table = results.tables.get("mutants", [])
        lines += [
            "",
            f"mutants ({mutants['budget']} budget, {mutants['jobs']} processes): "
            f"{mutants['caught']} catches in {mutants['cells']} runs, median time to a "
            f"catch {_time(float(str(mutants['median_catch_seconds'])))}, matrix "
            f"{_time(float(str(mutants['seconds'])))}",
        ]
        slowest = sorted(
            (r for r in table if r["result"] == "caught"), key=lambda r: -float(str(r["seconds"]))
        )[:5]
        for row in slowest:
            lines.append(
                f"  {_time(float(str(row['seconds']))):>10}  {row['detector']} catches "
                f"{row['variant']}"
            )
    lines += ["", f"total {_time(results.seconds)}"]
    return "\n".join(lines)


def save(results: Results, path: Path) -> None:
    """save: write the results file (JSON, with the machine's description)."""
    path.write_text(json.dumps(results.to_json(), indent=1) + "\n", encoding="utf-8")


def _only(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark {', '.join(repr(n) for n in unknown) or '(none given)'}; "
            f"known: {', '.join(BENCHMARKS)}"
        )
    return names


DESCRIPTION: Final = (
    "Measure the workbench's performance. Each figure with a floor is measured together "
    "with that floor (the cryptography or hashing it cannot do without), in alternating "
    "batches in this process, and reported as a ratio with its goal: bundle verification "
    "(goal <= 1.3), a server-side recovery through 5 replicas (goal <= 3), the audit "
    "log's append and inclusion proof; on their own: the client's Argon2id, each part and "
    "row of `vaultbench check`, the fleet from 3 to 15 replicas, the simulator's and the "
    "conformance walks' rates, and the time each detector takes to catch each unsafe "
    "variant. Exit 0 when every benchmark ran (a goal not met is reported, not an error), "
    "1 if one saw a wrong answer, 2 on bad usage."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """add_arguments: the ``bench`` command's flags."""
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="seconds, not minutes: tiny batches, 2 fleet sizes, the vault part of check, "
        "one mutant (for tests and CI)",
    )
    parser.add_argument(
        "--only",
        type=_only,
        metavar="NAME[,NAME]",
        default=None,
        help=f"only these benchmarks (default: all): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--save",
        metavar="FILE",
        default=None,
        help="also write the results, with the machine's description, to FILE (JSON), "
        "e.g. benchmarks/results/<machine>.json",
    )
    parser.add_argument(
        "--repeat",
        type=at_least(1),
        metavar="N",
        default=None,
        help=f"measured batches of each figure and of its floor (default {DEFAULT_REPEAT}; "
        f"--quick {QUICK_REPEAT})",
    )
    parser.add_argument(
        "--seed", type=at_least(0), default=1, help="seed of the fleets, keys and runs (default 1)"
    )


def run(args: argparse.Namespace) -> int:
    """run: the ``bench`` command; returns the exit code."""
    names: list[str] = args.only or list(BENCHMARKS)
    target = None if args.save is None else Path(args.save)
    if target is not None and not target.resolve().parent.is_dir():
        print(f"vaultbench bench: error: --save {args.save}: no such directory", file=sys.stderr)
        return EXIT_USAGE
    repeat = args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    settings = Settings(quick=args.quick, repeat=repeat, seed=args.seed)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        results = run_benchmarks(names, settings, say)
    except BenchError as error:
        print(f"vaultbench bench: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(results.to_json(), indent=1))
    else:
        print(render(results))
    if target is not None:
        try:
            save(results, target)
        except OSError as error:
            print(
                f"vaultbench bench: error: cannot write {args.save}: {error.strerror or error}",
                file=sys.stderr,
            )
            return EXIT_USAGE
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """build_parser: ``vaultbench bench`` on its own (``python -m vaultbench.bench``)."""
    parser = argparse.ArgumentParser(prog="vaultbench bench", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """main: ``vaultbench bench`` on its own, for tests until the CLI wires it in."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code) if isinstance(exit_.code, int) else EXIT_USAGE
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
