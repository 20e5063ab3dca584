"""The fleet as real processes (``impl.net``): frames, the fleet directory, the CLI, a
five-process fleet driven by the unchanged ``impl.client.Client``, and the ``SIGKILL``
durability campaign.

The campaign (``test_sigkill_under_load_loses_no_acknowledged_command``) runs client
threads that register users and send wrong and right guesses while the main thread
``SIGKILL``s random replicas (the leader among them) and restarts them, then cuts the
power to the whole fleet at once, restarts it, probes every user, stops the fleet
cleanly and reads every replica's SQLite store offline. It checks, for every answer a
client received (an *acknowledged* outcome):

- I6 durability: every acknowledged registration is in the durable vault; every
  acknowledged charge (a ``WrongGuess`` or a release) is counted in its attempts; an
  acknowledged destruction is durable (destroyed, secret erased);
- I3 attempt limit: no record holds more than ``max_attempts`` charges, no user was
  answered more than ``max_attempts`` wrong guesses, each ``WrongGuess(remaining)``
  accounts for every charge acknowledged before it, a destroyed record answers
  ``Destroyed`` for ever after and never releases its key;
- I2 across the stores: where two replicas both know a slot chosen, they hold the same
  proposal; at least a quorum ends at the same log position with the same records.

A guess whose answer was lost may have been charged (and a resent one is charged again):
the checks bound the durable attempts from below by the acknowledged charges and from
above by the limit, never by the number of guesses sent.

Defaults fit about a minute on two cores; ``VAULTBENCH_PROFILE=thorough`` runs a longer
campaign (``VAULTBENCH_KILL_ROUNDS`` sets the number of kill rounds). The schedule's seed
is printed and named in every failure; ``VAULTBENCH_KILL_SEED=N`` replays its choices
(the interleaving with real processes is the host's, not the seed's).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from impl.client import Client, ClientConfig, Destroyed, Recovered, Stale, WrongGuess
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.errors import FleetUnavailable, StoreError
from impl.net.durable import DurableVault, read_durable_vault
from impl.net.endpoint import NetEndpoint, RequestRefused, query_status
from impl.net.fleetdir import (
    DEFAULT_TIMING,
    FLEET_FILE,
    KEYS_FILE,
    FleetDirError,
    FleetFile,
    load_fleet,
    load_replica_keys,
    read_port,
    replica_dir,
    setup_fleet,
)
from impl.net.frame import (
    MAX_PAYLOAD,
    Frame,
    FrameDecoder,
    FrameError,
    FrameKind,
    FrameTooLarge,
    ReplicaStatus,
    decode_frame,
    decode_status,
    leader_hint,
    not_leader,
    reason,
    reason_frame,
)
from impl.net.launcher import FleetProcesses
from impl.vault import VaultPolicy
from vaultbench import fleet_cmd

THOROUGH = os.environ.get("VAULTBENCH_PROFILE") == "thorough"
KILL_ROUNDS = int(os.environ.get("VAULTBENCH_KILL_ROUNDS", "80" if THOROUGH else "20"))
KILL_SEED = int(os.environ.get("VAULTBENCH_KILL_SEED", str(secrets.randbelow(2**31))))
FAST = ClientConfig(argon2=Argon2Params.FAST)
#: smaller snapshots than the default, so compaction and snapshot catch-up happen too
TIMING = {**DEFAULT_TIMING, "snapshot_every": 16}


def _cannot_spawn() -> str | None:
    """Why this host cannot run the fleet as processes (None: it can)."""
    try:
        subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
    except (OSError, subprocess.SubprocessError) as why:
        return f"cannot spawn processes or listen on loopback: {why}"
    return None


@pytest.fixture(scope="module")
def spawnable() -> None:
    reason_ = _cannot_spawn()
    if reason_ is not None:
        pytest.skip(reason_)


def _client(
    fleet: FleetFile, directory: Path, user: str, seed: int, endpoint: NetEndpoint | None = None
) -> Client:
    if endpoint is None:
        endpoint = NetEndpoint(directory, fleet=fleet, attempt_timeout=3.0, deadline=20.0)
    return Client(user, endpoint, fleet.fleet_public_key, config=FAST, rng=SeededRng(seed))


def _exchange(fleet: FleetFile, directory: Path, replica: int, data: bytes) -> list[Frame]:
    """Send raw bytes to a replica; the frames it answers until it closes or goes quiet."""
    port = read_port(directory, replica)
    assert port is not None
    decoder = FrameDecoder()
    frames: list[Frame] = []
    with socket.create_connection((fleet.host, port), timeout=2.0) as sock:
        sock.sendall(data)
        sock.settimeout(1.0)
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            frames += decoder.feed(chunk)
            if frames:
                break
    return frames


# ------------------------------------------------------------------------- frames


def test_frames_round_trip_in_any_chunking() -> None:
    frames = [
        Frame(FrameKind.PEER, b"\x01" * 70),
        Frame(FrameKind.REQUEST, b"sealed"),
        not_leader(3),
        not_leader(None),
        reason_frame(FrameKind.UNAVAILABLE, "replica not serving"),
        Frame(FrameKind.STATUS_QUERY),
    ]
    stream = b"".join(f.encode() for f in frames)
    decoder = FrameDecoder()
    got: list[Frame] = []
    for i in range(len(stream)):
        got += decoder.feed(stream[i : i + 1])
    assert got == frames
    assert decoder.buffered == 0
    assert leader_hint(got[2]) == 3
    assert leader_hint(got[3]) is None
    assert reason(got[4]) == "replica not serving"
    assert decode_frame(frames[1].encode()) == frames[1]


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (b"\x02\x02\x00\x00\x00\x01x", FrameError, "version 2"),
        (b"\x01\x09\x00\x00\x00\x00", FrameError, "unknown frame kind 9"),
        (b"\x01\x01\x00\x80\x00\x01", FrameTooLarge, "at most"),
        (b"\x01\x04\x00\x00\x00\x01\x00", FrameError, "NOT_LEADER payload: expected 2"),
        (b"\x01\x01\x00\x00\x00\x00", FrameError, "PEER payload: expected at least 1"),
        (b"\x01\x07\x00\x00\x00\x01x", FrameError, "STATUS_QUERY payload"),
        (b"\x01\x06\x00\x00\x00\x01\xff", FrameError, "printable ASCII"),
    ],
)
def test_the_decoder_refuses_malformed_frames_with_typed_errors(
    data: bytes, error: type[FrameError], match: str
) -> None:
    decoder = FrameDecoder()
    with pytest.raises(error, match=match):
        decoder.feed(data)
    # Broken for good: nothing after a bad frame is trusted to be aligned.
    with pytest.raises(FrameError, match="already broken"):
        decoder.feed(Frame(FrameKind.STATUS_QUERY).encode())
    assert decoder.buffered == 0


def test_a_too_large_frame_is_refused_from_its_header_alone() -> None:
    header = b"\x01\x01" + (MAX_PAYLOAD + 1).to_bytes(4, "big")
    with pytest.raises(FrameTooLarge):
        FrameDecoder().feed(header)
    with pytest.raises(FrameTooLarge):
        Frame(FrameKind.PEER, b"x" * (MAX_PAYLOAD + 1))
    with pytest.raises(FrameError, match="exactly one frame"):
        decode_frame(Frame(FrameKind.STATUS_QUERY).encode() + b"\x01")


def test_status_frames_are_strict_canonical_json() -> None:
    status = ReplicaStatus(2, 99, "leader", True, "3.2", 17, 16, 2, 4, 5)
    assert decode_status(status.encode()) == status
    good = json.loads(status.encode().payload)
    for bad in (
        {**good, "ready": 1},
        {**good, "applied": True},
        {**good, "extra": 0},
        {k: v for k, v in good.items() if k != "pid"},
    ):
        payload = json.dumps(bad, sort_keys=True, separators=(",", ":")).encode()
        with pytest.raises(FrameError):
            decode_status(Frame(FrameKind.STATUS, payload))
    spaced = json.dumps(good, sort_keys=True).encode()
    with pytest.raises(FrameError, match="canonical"):
        decode_status(Frame(FrameKind.STATUS, spaced))


def test_reasons_carry_only_printable_ascii() -> None:
    frame = reason_frame(FrameKind.REFUSED, "caf\u00e9\n" + "x" * 500)
    assert reason(frame).startswith("caf??")
    assert len(frame.payload) == 200


# ------------------------------------------------------------------- fleet directory


def test_setup_is_reproducible_from_a_seed_and_keys_are_private(tmp_path: Path) -> None:
    one = setup_fleet(tmp_path / "a", replicas=3, seed=9)
    two = setup_fleet(tmp_path / "b", replicas=3, seed=9)
    other = setup_fleet(tmp_path / "c", replicas=3)
    assert one.fleet_public_key == two.fleet_public_key
    assert one.members == two.members
    assert other.fleet_public_key != one.fleet_public_key
    assert one.provisioning == "seeded"
    assert other.provisioning == "os-random"
    assert load_fleet(tmp_path / "a") == one
    for i in range(3):
        keys_path = replica_dir(tmp_path / "a", i) / KEYS_FILE
        assert keys_path.stat().st_mode & 0o777 == 0o600
        assert replica_dir(tmp_path / "a", i).stat().st_mode & 0o777 == 0o700
        keys = load_replica_keys(tmp_path / "a", i, one)
        assert keys.signing_key.public_key() == one.members[i].identity
        assert "redacted" in repr(keys.fleet_keypair)
    with pytest.raises(FleetDirError, match="already holds a fleet"):
        setup_fleet(tmp_path / "a", replicas=3)


def test_bad_configurations_and_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FleetDirError, match="not a majority"):
        setup_fleet(tmp_path / "minority", replicas=4, quorum=2)
    with pytest.raises(FleetDirError, match="base port"):
        setup_fleet(tmp_path / "port", base_port=80)
    fleet = setup_fleet(tmp_path / "f", replicas=3, seed=1)
    keys_path = replica_dir(tmp_path / "f", 1) / KEYS_FILE
    original = keys_path.read_bytes()

    keys_path.chmod(0o644)
    with pytest.raises(FleetDirError, match="mode 644"):
        load_replica_keys(tmp_path / "f", 1, fleet)
    keys_path.chmod(0o600)

    other = json.loads((replica_dir(tmp_path / "f", 2) / KEYS_FILE).read_bytes())
    value = json.loads(original)
    value["identity_seed"] = other["identity_seed"]
    keys_path.write_text(json.dumps(value))
    with pytest.raises(FleetDirError, match="published identity") as refused:
        load_replica_keys(tmp_path / "f", 1, fleet)
    assert other["identity_seed"] not in str(refused.value)

    keys_path.write_text(json.dumps({**json.loads(original), "extra": 1}))
    with pytest.raises(FleetDirError, match="unknown field"):
        load_replica_keys(tmp_path / "f", 1, fleet)

    fleet_path = tmp_path / "f" / FLEET_FILE
    good = json.loads(fleet_path.read_bytes())
    for bad in (
        {**good, "host": "10.0.0.1"},
        {**good, "quorum": 1},
        {**good, "replicas": 4},
        {**good, "fleet_public_key": "AAAA"},
        {**good, "version": 2},
    ):
        fleet_path.write_text(json.dumps(bad))
        with pytest.raises(FleetDirError):
            load_fleet(tmp_path / "f")
    fleet_path.write_text('{"version": 1, "version": 1}')
    with pytest.raises(FleetDirError, match="repeated"):
        load_fleet(tmp_path / "f")


def test_the_cli_refuses_bad_arguments_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fleet_cmd.main([]) == 2
    assert fleet_cmd.main(["up", "--base-port", "80"]) == 2
    assert fleet_cmd.main(["up", "--replicas", "0"]) == 2
    assert (
        fleet_cmd.main(["up", "--dir", str(tmp_path / "m"), "--replicas", "4", "--quorum", "2"])
        == 2
    )
    assert fleet_cmd.main(["status", "--dir", str(tmp_path / "none")]) == 2
    assert fleet_cmd.main(["demo", "--dir", str(tmp_path / "none")]) == 2
    assert fleet_cmd.main(["down", "--dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "not a majority" in err
    assert "no fleet in" in err
    assert not (tmp_path / "m" / FLEET_FILE).exists()


# ----------------------------------------------------------- a five-process fleet


@dataclass
class RunningFleet:
    directory: Path
    fleet: FleetFile
    procs: FleetProcesses


@pytest.fixture(scope="class")
def running(spawnable: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFleet]:
    directory = tmp_path_factory.mktemp("fleet")
    fleet = setup_fleet(directory, replicas=5, seed=11, timing=TIMING)
    procs = FleetProcesses(directory)
    try:
        procs.start_all()
        procs.wait_ready(30)
        yield RunningFleet(directory, fleet, procs)
    finally:
        procs.kill_all()


class TestFiveProcesses:
    """One fleet of five processes for these tests (class scope: it is stopped before the
    SIGKILL campaign starts its own)."""

    def test_register_and_recover_through_the_processes(self, running: RunningFleet) -> None:
        fleet, directory = running.fleet, running.directory
        alice = _client(fleet, directory, "alice", 1)
        bob = _client(fleet, directory, "bob", 2)
        blobs = {}
        for client, password in ((alice, "alice's pin"), (bob, "bob's password")):
            enrollment = client.enroll_password(password)
            assert enrollment.registration == 1
            blobs[client.user] = (
                client.backup(enrollment, f"{client.user}'s chats".encode()),
                password,
            )
        assert alice.recover_password(blobs["alice"][0], "guess") == WrongGuess(9)
        assert bob.recover_password(blobs["bob"][0], "guess") == WrongGuess(9)
        recovered = alice.recover_password(*blobs["alice"])
        assert isinstance(recovered, Recovered)
        assert recovered.plaintext == b"alice's chats"
        assert alice.recover_password(blobs["alice"][0], "guess") == WrongGuess(7)
        assert running.procs.wait_caught_up(20)
        statuses = running.procs.statuses()
        assert all(s is not None and s.records >= 2 for s in statuses)

    def test_the_relay_replays_and_injects_and_nothing_counts_twice(
        self, running: RunningFleet
    ) -> None:
        """docs/channel.rst against five real processes: the operator's relay keeps every
        sealed request erin's client sends, spends her budget with its own guesses,
        replays her enrolment and her guesses, and registers over her record itself."""
        fleet, directory = running.fleet, running.directory
        endpoint = NetEndpoint(directory, fleet=fleet, attempt_timeout=3.0, deadline=20.0)
        captured: list[bytes] = []

        def relay(sealed: bytes) -> bytes:
            captured.append(sealed)
            return endpoint(sealed)

        erin = Client("erin", relay, fleet.fleet_public_key, config=FAST, rng=SeededRng(5))
        blob = erin.backup(erin.enroll_password("erin's pin"), b"erin")
        enrolment = captured[0]
        assert erin.recover_password(blob, "typo") == WrongGuess(9)
        typo = captured[-1]
        assert isinstance(erin.recover_password(blob, "erin's pin"), Recovered)
        right = captured[-1]
        for sealed in [enrolment] + [typo] * 10 + [right] * 11:
            endpoint(sealed)  # answers sealed to erin's keys: the relay cannot read them
        assert erin.recover_password(blob, "typo") == WrongGuess(7), "no replay was charged"

        operator = _client(fleet, directory, "erin", 99)
        wrong = 0
        for n in range(12):
            outcome = operator.recover_password(blob, f"operator {n}")
            if not isinstance(outcome, WrongGuess):
                assert outcome == Destroyed()
                break
            wrong += 1
        assert wrong == 7, "the operator's own guesses spend only what was left"
        for _ in range(3):
            endpoint(enrolment)
        assert operator.recover_password(blob, "operator again") == Destroyed()
        assert erin.recover_password(blob, "erin's pin") == Destroyed(), "no record came back"

    def test_a_follower_answers_not_leader_with_a_hint(self, running: RunningFleet) -> None:
        leader = running.procs.wait_ready(20)
        running.procs.wait_caught_up(20)
        follower = (leader + 1) % running.fleet.replicas
        frames = _exchange(
            running.fleet, running.directory, follower, Frame(FrameKind.REQUEST, b"x" * 64).encode()
        )
        assert frames == [not_leader(leader)]

    def test_bad_bytes_are_refused_and_change_nothing(self, running: RunningFleet) -> None:
        leader = running.procs.wait_ready(20)
        assert running.procs.wait_caught_up(20)
        port = read_port(running.directory, leader)
        assert port is not None
        before = query_status((running.fleet.host, port))
        refused = _exchange(
            running.fleet, running.directory, leader, Frame(FrameKind.REQUEST, b"x" * 64).encode()
        )
        assert len(refused) == 1
        assert refused[0].kind is FrameKind.REFUSED
        assert "not a request sealed to this fleet" in reason(refused[0])
        garbage = _exchange(running.fleet, running.directory, leader, b"\x07garbage")
        assert len(garbage) == 1
        assert garbage[0].kind is FrameKind.REFUSED
        assert "malformed frame" in reason(garbage[0])
        endpoint = NetEndpoint(running.directory, fleet=running.fleet)
        with pytest.raises(RequestRefused):
            endpoint(b"y" * 80)
        after = query_status((running.fleet.host, port))
        assert (after.applied, after.records, after.ballot) == (
            before.applied,
            before.records,
            before.ballot,
        )

    def test_the_cli_demo_and_status_talk_to_the_processes(
        self, running: RunningFleet, capsys: pytest.CaptureFixture[str]
    ) -> None:
        directory = str(running.directory)
        assert fleet_cmd.main(["demo", "--dir", directory, "--fast-kdf", "--user", "carol"]) == 0
        assert fleet_cmd.main(["status", "--dir", directory]) == 0
        out = capsys.readouterr().out
        assert "registration #1" in out
        assert "WrongGuess(remaining=9)" in out
        assert "5 of 5 up, quorum 3" in out
        assert fleet_cmd.DEMO_PASSWORD not in out

    def test_a_killed_leader_is_replaced_and_its_restart_resumes_from_disk(
        self,
        running: RunningFleet,
    ) -> None:
        procs, fleet, directory = running.procs, running.fleet, running.directory
        dave = _client(fleet, directory, "dave", 4)
        enrollment = dave.enroll_password("dave's pin")
        blob = dave.backup(enrollment, b"dave")
        assert dave.recover_password(blob, "guess") == WrongGuess(9)
        leader = procs.wait_ready(20)
        procs.kill(leader)
        assert dave.recover_password(blob, "guess") == WrongGuess(8)
        assert procs.wait_ready(20) != leader
        procs.start(leader)
        assert procs.wait_caught_up(20)
        statuses = procs.statuses()
        restarted = statuses[leader]
        assert restarted is not None
        assert restarted.boots >= 2


# ------------------------------------------------------------- the SIGKILL campaign


@dataclass
class UserLog:
    """One user's acknowledged history, as its client saw it."""

    name: str
    password: str
    registration: int | None = None
    enroll_unknown: bool = False
    blob: bytes = b""
    #: (what, remaining, guess was right) for every acknowledged answer, in order:
    #: what is "wrong", "released" or "destroyed"; "unknown" for an unanswered guess
    events: list[tuple[str, int, bool]] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"UserLog({self.name}, #{self.registration}, {len(self.events)} events)"


@dataclass
class Campaign:
    seed: int
    users: list[UserLog] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: sends whose answer was lost (each may have been charged; a resend of the same sealed
    #: request is applied at most once: the record version it names has moved on)
    ambiguous: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_user(self, log: UserLog) -> None:
        with self.lock:
            self.users.append(log)

    def fail(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def _record(log: UserLog, outcome: object, right: bool) -> None:
    if isinstance(outcome, WrongGuess):
        log.events.append(("wrong", outcome.remaining, right))
    elif isinstance(outcome, Recovered):
        log.events.append(("released", 0, right))
    elif isinstance(outcome, Destroyed):
        log.events.append(("destroyed", 0, right))
    elif isinstance(outcome, Stale):
        # The endpoint resent a request whose first answer was lost, and the first send
        # had been applied (or another send won the version): this send charged nothing.
        log.events.append(("stale", 0, right))
    else:
        log.events.append((f"unexpected {type(outcome).__name__}", 0, right))


def _worker(
    index: int, campaign: Campaign, fleet: FleetFile, directory: Path, stop: threading.Event
) -> None:
    rng = random.Random(campaign.seed * 1_000_003 + index)
    active: list[tuple[UserLog, Client]] = []
    made = 0
    endpoint = NetEndpoint(directory, fleet=fleet, attempt_timeout=3.0, deadline=20.0)
    try:
        while not stop.is_set():
            if len(active) < 2:
                made += 1
                log = UserLog(f"w{index}-u{made}", f"password {index}/{made}")
                client = _client(fleet, directory, log.name, rng.randrange(2**32), endpoint)
                campaign.add_user(log)
                try:
                    enrollment = client.enroll_password(log.password)
                except FleetUnavailable:
                    log.enroll_unknown = True
                    continue
                log.registration = enrollment.registration
                log.blob = client.backup(enrollment, log.name.encode())
                active.append((log, client))
                continue
            log, client = rng.choice(active)
            right = rng.random() < 0.15
            guess = log.password if right else f"wrong {rng.randrange(10**6)}"
            try:
                outcome = client.recover_password(log.blob, guess)
            except FleetUnavailable:
                log.events.append(("unknown", 0, right))
                continue
            _record(log, outcome, right)
            if isinstance(outcome, Recovered) and outcome.plaintext != log.name.encode():
                campaign.fail(f"{log.name}: recovered the wrong backup")
            if isinstance(outcome, Destroyed) or outcome == WrongGuess(0):
                # Probe once more with the right password, then leave the user alone.
                try:
                    _record(log, client.recover_password(log.blob, log.password), True)
                except FleetUnavailable:
                    log.events.append(("unknown", 0, True))
                active.remove((log, client))
    except Exception as error:  # any other failure is a finding, reported by the test
        campaign.fail(f"worker {index}: {type(error).__name__}: {error}")
    finally:
        with campaign.lock:
            campaign.ambiguous += endpoint.stats.ambiguous


def _kill_rounds(procs: FleetProcesses, campaign: Campaign, rounds: int) -> None:
    rng = random.Random(campaign.seed)
    n = procs.replicas
    for round_ in range(rounds):
        time.sleep(rng.uniform(0.2, 0.9))
        leader = procs.leader(timeout=0.3)
        victims: list[int] = []
        if leader is not None and rng.random() < 0.5:
            victims.append(leader)
        want = 2 if rng.random() < 0.3 else 1
        while len(victims) < want:
            pick = rng.randrange(n)
            if pick not in victims:
                victims.append(pick)
        for victim in victims:
            procs.kill(victim)
        campaign.kills.append(
            f"round {round_}: SIGKILL "
            + ", ".join(f"hsm[{v}]{' (leader)' if v == leader else ''}" for v in victims)
        )
        time.sleep(rng.uniform(0.05, 0.7))
        for victim in victims:
            procs.start(victim)
        for replica in range(n):
            code = procs.returncode(replica)
            if code is not None:
                campaign.fail(f"hsm[{replica}] exited by itself with code {code}")
                procs.start(replica)


def _check(campaign: Campaign, vaults: list[DurableVault], fleet: FleetFile) -> list[str]:
    """Every finding against the durable state (empty: the invariants held)."""
    problems: list[str] = list(campaign.errors)
    limit = fleet.max_attempts
    # I2 across the stores: a slot two replicas know chosen holds one proposal.
    for a in vaults:
        for b in vaults:
            if a.replica < b.replica:
                for slot in sorted(set(a.chosen) & set(b.chosen)):
                    if a.chosen[slot] != b.chosen[slot]:
                        problems.append(f"slot {slot}: hsm[{a.replica}] and hsm[{b.replica}]")
    furthest = max(v.applied for v in vaults)
    caught_up = [v for v in vaults if v.applied == furthest]
    if len(caught_up) < fleet.quorum:
        problems.append(f"only {len(caught_up)} replicas reached slot {furthest}")

    def shape(v: DurableVault) -> list[tuple[object, ...]]:
        return [
            (r.user, r.registration, r.attempts, r.destroyed, r.retired, r.secret.reveal())
            for r in v.records
        ]

    if any(shape(v) != shape(caught_up[0]) for v in caught_up):
        problems.append("replicas at the same log position hold different records")
    vault = caught_up[0]
    for log in campaign.users:
        record = vault.record(log.name)
        if log.registration is None:
            if record is not None and record.attempts:
                problems.append(f"{log.name}: unacknowledged registration has charges")
            continue
        if record is None:
            problems.append(f"{log.name}: acknowledged registration #{log.registration} lost")
            continue
        if record.registration != log.registration:
            problems.append(
                f"{log.name}: registration #{record.registration}, acknowledged #{log.registration}"
            )
            continue
        charges = wrong = 0
        destroyed_at: int | None = None
        for at, (what, remaining, right) in enumerate(log.events):
            if destroyed_at is not None and what not in ("destroyed", "unknown"):
                problems.append(f"{log.name}: {what} answered after the record was destroyed")
            if what == "wrong":
                charges += 1
                wrong += 1
                if right:
                    problems.append(f"{log.name}: the right password answered WrongGuess")
                if not 0 <= remaining <= limit - charges:
                    problems.append(
                        f"{log.name}: WrongGuess({remaining}) after {charges} acknowledged charges"
                    )
                if remaining == 0 and destroyed_at is None:
                    destroyed_at = at
            elif what == "released":
                charges += 1
                if not right:
                    problems.append(f"{log.name}: a wrong password released the key")
            elif what == "destroyed":
                if destroyed_at is None:
                    destroyed_at = at
            elif what not in ("unknown", "stale"):
                problems.append(f"{log.name}: {what}")
        if wrong > limit:
            problems.append(f"{log.name}: {wrong} wrong guesses answered, limit {limit}")
        if record.attempts < charges:
            problems.append(
                f"{log.name}: {record.attempts} durable attempts < {charges} acknowledged charges"
            )
        if record.attempts > limit:
            problems.append(f"{log.name}: {record.attempts} attempts, limit {limit}")
        if destroyed_at is not None and not (record.destroyed and not record.secret.reveal()):
            problems.append(f"{log.name}: acknowledged destruction not durable")
        if record.destroyed and record.attempts != limit:
            problems.append(f"{log.name}: destroyed at {record.attempts} attempts")
    return problems


def test_sigkill_under_load_loses_no_acknowledged_command(spawnable: None, tmp_path: Path) -> None:
    campaign = Campaign(KILL_SEED)
    print(f"\nSIGKILL campaign: seed {campaign.seed}, {KILL_ROUNDS} kill rounds")
    directory = tmp_path / "fleet"
    fleet = setup_fleet(directory, replicas=5, seed=campaign.seed, timing=TIMING)
    started = time.monotonic()
    procs = FleetProcesses(directory)
    stop = threading.Event()
    workers = [
        threading.Thread(target=_worker, args=(i, campaign, fleet, directory, stop), daemon=True)
        for i in range(3)
    ]
    try:
        procs.start_all()
        procs.wait_ready(30)
        for worker in workers:
            worker.start()
        _kill_rounds(procs, campaign, KILL_ROUNDS)
        stop.set()
        for worker in workers:
            worker.join(timeout=90)
        assert not any(w.is_alive() for w in workers), f"a worker hangs (seed {campaign.seed})"

        # The power fails everywhere at once: only what is on disk survives.
        for replica in range(fleet.replicas):
            procs.kill(replica)
        campaign.kills.append("the whole fleet: SIGKILL")
        procs.start_all()
        procs.wait_ready(30)
        for log in campaign.users:
            if log.registration is not None:
                client = _client(fleet, directory, log.name, 7)
                try:
                    _record(log, client.recover_password(log.blob, log.password), True)
                except FleetUnavailable as why:
                    campaign.fail(f"{log.name}: final probe unavailable: {why}")
        caught_up = procs.wait_caught_up(30)
        codes = procs.stop_all()
        if any(code != 0 for code in codes.values()):
            campaign.fail(f"replicas did not stop cleanly: {codes}")
    except BaseException as error:
        error.add_note(f"SIGKILL campaign seed {campaign.seed}: VAULTBENCH_KILL_SEED replays it")
        raise
    finally:
        stop.set()
        procs.kill_all()
    vaults = [read_durable_vault(directory, i, VaultPolicy(fleet.max_attempts)) for i in range(5)]
    problems = _check(campaign, vaults, fleet)
    acknowledged = sum(
        sum(what != "unknown" for what, _, _ in log.events) + (log.registration is not None)
        for log in campaign.users
    )
    unknown = sum(
        sum(what == "unknown" for what, _, _ in log.events) + log.enroll_unknown
        for log in campaign.users
    )
    destroyed = sum(bool(r.destroyed) for r in vaults[0].records)
    summary = (
        f"seed {campaign.seed}: {len(campaign.kills)} kill rounds, {len(campaign.users)} users, "
        f"{acknowledged} acknowledged outcomes, {unknown} unanswered, {campaign.ambiguous} "
        f"sends without an answer, {destroyed} records destroyed, log at slot "
        f"{max(v.applied for v in vaults)}, caught up: {caught_up}, "
        f"{time.monotonic() - started:.1f} s"
    )
    print(summary)
    assert not problems, (
        f"{summary}\nreplay the schedule with VAULTBENCH_KILL_SEED={campaign.seed}\n"
        + "\n".join(problems[:30])
        + "\n"
        + "\n".join(campaign.kills)
    )
    assert acknowledged > 20, summary


def test_a_missing_store_is_a_typed_error(tmp_path: Path) -> None:
    setup_fleet(tmp_path, replicas=3, seed=2)
    with pytest.raises(StoreError, match="missing"):
        read_durable_vault(tmp_path, 0, VaultPolicy())
