"""The fleet under the deterministic simulator: determinism, availability, concurrency,
the CI campaign, and every unsafe variant caught."""

from __future__ import annotations

import os

import pytest

from impl.client import Client, ClientConfig, Destroyed, Recovered, WrongGuess
from impl.consensus import ConsensusConfig
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.errors import ConfigError, FleetUnavailable, PeerAuthError, PeerReplayError, WireError
from impl.hsm import HsmConfig
from impl.messages import (
    BeginRecovery,
    PasswordRecoveryInfo,
    RecoverPassword,
    RegisterPassword,
    Response,
    Stale,
)
from impl.messages import WrongGuess as WrongGuessAnswer
from impl.redact import Secret
from impl.replica import NotLeader
from impl.session import open_response, seal_request
from impl.sim.campaign import FAULTS, SimConfig, iter_campaign, parse_faults, run_simulation
from impl.sim.checks import Monitor
from impl.sim.world import World
from impl.sqlite_store import SqliteReplicaStore
from impl.vault import VaultPolicy
from model.variants import fleet_variant

ALL = frozenset(FAULTS)
#: The CI campaign: at least 200 seeds x 1000 events; VAULTBENCH_CAMPAIGN_SEEDS raises it.
CAMPAIGN_SEEDS = int(os.environ.get("VAULTBENCH_CAMPAIGN_SEEDS", "200"))


def _fleet(seed: int = 1, variant: str | None = None, **consensus: int) -> tuple[World, Monitor]:
    config = ConsensusConfig(variant=variant, **consensus)
    monitor = Monitor(config.replicas, config.q, VaultPolicy(), lambda: 0)
    world = World(seed, config, HsmConfig(), observer=monitor.observe)
    monitor._event = lambda: world.current
    assert world.settle()
    return world, monitor


def _client(world: World, user: str = "alice", seed: int = 5) -> Client:
    config = ClientConfig(argon2=Argon2Params.FAST)
    return Client(user, world.endpoint, world.fleet_public_key, config=config, rng=SeededRng(seed))


# ------------------------------------------------------------------------- determinism


def test_same_seed_gives_the_same_trace_byte_for_byte() -> None:
    config = SimConfig(seed=11, steps=600, faults=ALL)
    first: list[str] = []
    second: list[str] = []
    run_simulation(config, first.append)
    run_simulation(config, second.append)
    assert first == second
    assert len(first) == 600


def test_different_seeds_give_different_runs() -> None:
    traces = []
    for seed in (1, 2):
        lines: list[str] = []
        run_simulation(SimConfig(seed=seed, steps=300, faults=ALL), lines.append)
        traces.append(lines)
    assert traces[0] != traces[1]


def test_campaign_results_do_not_depend_on_the_number_of_jobs() -> None:
    configs = [SimConfig(seed=s, steps=200, faults=ALL) for s in (3, 4, 5)]
    alone = [(r.events, r.sim_ms, dict(r.stats)) for r, _ in iter_campaign(configs, 1)]
    pooled = [(r.events, r.sim_ms, dict(r.stats)) for r, _ in iter_campaign(configs, 2)]
    assert alone == pooled


# ---------------------------------------------------------------------- availability


def test_two_of_five_down_still_serves_three_down_is_unavailable_then_resumes() -> None:
    world, monitor = _fleet(seed=3)
    client = _client(world)
    enrollment = client.enroll_password("hunter2")
    blob = client.backup(enrollment, b"chats")
    assert isinstance(client.recover_password(blob, "wrong"), WrongGuess)

    leader = world.leader()
    assert leader is not None
    down = [leader, (leader + 1) % 5]
    for i in down:
        world.crash(i)
    outcome = client.recover_password(blob, "wrong again")
    assert outcome == WrongGuess(8)  # two down: the acknowledged charge survived
    assert isinstance(client.recover_password(blob, "hunter2"), Recovered)

    third = next(i for i in range(5) if i not in down and world.replicas[i].is_up)
    world.crash(third)
    with pytest.raises(FleetUnavailable, match=r"2 of 5 replicas up, quorum 3"):
        client.recover_password(blob, "wrong")
    assert monitor.ok, monitor.violations

    for i in (*down, third):
        world.restart(i)
    assert world.settle()
    # Service resumes; the unanswered guess may or may not have been charged, but
    # nothing acknowledged was lost: 3 answered charges, maybe a 4th.
    outcome = client.recover_password(blob, "wrong")
    assert outcome in (WrongGuess(6), WrongGuess(5))
    assert monitor.ok, monitor.violations
    for replica in world.replicas:
        (record,) = replica.records()
        assert (
            record.attempts in (4, 5)
            or replica.consensus.applied < world.replicas[world.leader() or 0].consensus.applied
        )


def test_a_follower_refuses_requests_with_a_hint_and_nothing_changes() -> None:
    world, _ = _fleet(seed=4)
    world.run_for(200)  # followers hear the leader's heartbeat
    leader = world.leader()
    assert leader is not None
    follower = (leader + 1) % 5
    sealed, _ = seal_request(world.fleet_public_key, BeginRecovery("alice"), SeededRng(1))
    with pytest.raises(NotLeader) as refused:
        world.replicas[follower].handle_request(sealed, lambda _a, _b: None)
    assert refused.value.leader_hint == leader
    assert world.replicas[follower].requests_handled == 0


def test_forged_tampered_and_replayed_replica_messages_are_refused_and_counted() -> None:
    world, monitor = _fleet(seed=5)
    captured: list[tuple[int, int, bytes]] = []
    original = world._send_peer

    def tap(src: int, dst: int, data: bytes, label: str = "") -> None:
        captured.append((src, dst, data))
        original(src, dst, data, label)

    for replica in world.replicas:
        replica._send = tap
    _client(world).enroll_password("pw")
    src, dst, data = captured[-1]
    target = world.replicas[dst]
    before = (target.consensus.promised, dict(target.consensus.accepted), target.records())
    with pytest.raises(PeerReplayError):
        target.deliver(data)
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(PeerAuthError):
        target.deliver(tampered)
    with pytest.raises(WireError):
        target.deliver(b"\x01garbage")
    wrong_receiver = world.replicas[(dst + 1) % 5 if (dst + 1) % 5 != src else (dst + 2) % 5]
    with pytest.raises(PeerAuthError):
        wrong_receiver.deliver(data)
    counters = target.channel.counters
    assert counters.rejected_replayed == 1
    assert counters.rejected_forged >= 1
    assert counters.rejected_malformed == 1
    after = (target.consensus.promised, dict(target.consensus.accepted), target.records())
    assert after == before
    assert monitor.ok


def test_quorum_must_be_a_majority_unless_the_unsafe_variant_is_asked_for() -> None:
    with pytest.raises(ConfigError, match="not a majority"):
        ConsensusConfig(replicas=5, quorum=2)
    with pytest.raises(ConfigError, match="quorum must be"):
        ConsensusConfig(replicas=5, quorum=6)
    with pytest.raises(ConfigError, match="unknown fleet variant"):
        ConsensusConfig(variant="no-such-thing")
    assert ConsensusConfig(replicas=5, quorum=2, variant="minority-quorum").q == 2
    assert ConsensusConfig(replicas=5).rollback_budget == 0
    assert ConsensusConfig(replicas=5, quorum=4).rollback_budget == 2
    with pytest.raises(ConfigError, match="unknown fault"):
        parse_faults("crash,meteor")
    with pytest.raises(ConfigError):
        SimConfig(steps=0)


def test_a_fleet_on_sqlite_survives_a_full_restart(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    config = ConsensusConfig(replicas=3)

    def store(i: int) -> SqliteReplicaStore:
        return SqliteReplicaStore(tmp_path / f"hsm{i}.db", Secret(bytes(32)))

    world = World(8, config, HsmConfig(), store_factory=store)
    assert world.settle()
    client = _client(world)
    blob = client.backup(client.enroll_password("pw"), b"x")
    assert client.recover_password(blob, "nope") == WrongGuess(9)
    for i in range(3):
        world.crash(i)
    for i in range(3):
        world.restart(i)
    assert world.settle()
    assert client.recover_password(blob, "nope") == WrongGuess(8)
    for s in world.stores:
        s.close()


# ----------------------------------------------------------------------- concurrency


def test_concurrent_guessers_with_a_leader_change_never_get_more_than_ten_wrongs() -> None:
    """Two clients guess wrong on one record at once; the leader crashes in between."""
    world, monitor = _fleet(seed=6)
    rng = SeededRng(9)
    access = Secret(rng.random_bytes(32))
    register = RegisterPassword(
        "alice", 0, 0, Secret(b""), rng.random_bytes(16), access, Secret(rng.random_bytes(32))
    )
    sealed, key = seal_request(world.fleet_public_key, register, rng)
    open_response(key, world.endpoint(sealed))

    answers: list[Response] = []
    pending: dict[int, tuple[str, object]] = {}
    finished = {"c1": False, "c2": False}

    def send(client: str, request: object) -> None:
        assert isinstance(request, BeginRecovery | RecoverPassword)
        data, response_key = seal_request(world.fleet_public_key, request, rng)
        pending[world.send_request(data)] = (client, response_key)

    def on_reply(call: int) -> None:
        client, response_key = pending.pop(call)
        taken = world.take_reply(call)
        assert taken is not None
        response = open_response(response_key, taken[0])  # type: ignore[arg-type]
        if isinstance(response, PasswordRecoveryInfo):
            wrong = Secret(rng.random_bytes(32))
            version = (response.registration, response.attempts)
            send(client, RecoverPassword("alice", *version, wrong))
            return
        answers.append(response)
        monitor.answered("alice", 1, response, taken[1])
        if isinstance(response, Stale) or (
            isinstance(response, WrongGuessAnswer) and response.remaining > 0
        ):
            send(client, BeginRecovery("alice"))  # lost the race for the version: again
        else:
            finished[client] = True

    world.on_reply = on_reply
    send("c1", BeginRecovery("alice"))
    send("c2", BeginRecovery("alice"))
    crashed = False
    while not all(finished.values()) and world.now < 20_000:
        if not world.step():
            break
        if not crashed and sum(isinstance(a, WrongGuessAnswer) for a in answers) >= 4:
            leader = world.leader()
            assert leader is not None
            world.crash(leader)
            crashed = True
        # A client whose request was lost with the old leader asks again.
        if crashed and not pending and not all(finished.values()):
            for client, done in finished.items():
                if not done:
                    send(client, BeginRecovery("alice"))
    wrongs = [a for a in answers if isinstance(a, WrongGuessAnswer)]
    assert crashed
    assert len(wrongs) <= 10
    assert monitor.ok, monitor.violations
    # Each answer tells what its settlement left, which a concurrent charge may lower.
    assert all(0 <= w.remaining <= 9 for w in wrongs)
    assert any(isinstance(a, Stale) for a in answers)  # the two raced for versions


# -------------------------------------------------------------------------- campaigns


def test_ci_campaign_all_faults_no_violation() -> None:
    """At least 200 seeds x 1000 events with every fault within budget, on 2 processes."""
    configs = [SimConfig(seed=s, steps=1000, faults=ALL) for s in range(1, CAMPAIGN_SEEDS + 1)]
    failed = [
        f"seed {r.config.seed}: {r.violations[0]}\n  {r.reproducer}"
        for r, _ in iter_campaign(configs, jobs=2)
        if not r.ok
    ]
    assert not failed, "\n".join(failed)


def test_supermajority_campaign_tolerates_a_rolled_back_replica() -> None:
    configs = [SimConfig(seed=s, steps=1000, quorum=4, faults=ALL) for s in range(1, 31)]
    results = [r for r, _ in iter_campaign(configs, jobs=2)]
    assert all(r.ok for r in results), [str(r.violations[0]) for r in results if not r.ok]
    assert sum(r.stats["fault rollback"] for r in results) > 0
    assert sum(r.stats["store refused"] for r in results) > 0


def test_the_default_campaign_refuses_rolled_back_and_edited_stores() -> None:
    """The disk adversary at the default configuration (docs/disk.rst): rollbacks and
    edits are injected on any replica, refused, and every invariant holds."""
    configs = [SimConfig(seed=s, steps=1000, faults=ALL) for s in range(1, 21)]
    results = [r for r, _ in iter_campaign(configs, jobs=2)]
    assert all(r.ok for r in results), [str(r.violations[0]) for r in results if not r.ok]
    totals = {k: sum(r.stats[k] for r in results) for k in ("fault rollback", "fault edit")}
    assert totals["fault rollback"] > 0, totals
    assert totals["fault edit"] > 0, totals
    assert sum(r.stats["store refused"] for r in results) > 0


def _first_violation(variant: str, seeds: int, steps: int, quorum: int = 0) -> str:
    for seed in range(1, seeds + 1):
        config = SimConfig(seed=seed, steps=steps, faults=ALL, variant=variant, quorum=quorum)
        result = run_simulation(config, minimise=False)
        if not result.ok:
            return str(result.violations[0])
    return ""


@pytest.mark.parametrize(
    ("variant", "quorum", "seeds", "steps", "invariant"),
    [
        ("answer-before-chosen", 0, 5, 1000, "I6"),
        ("serve-before-catch-up", 0, 30, 1000, "I3"),
        ("rollback-beyond-budget", 0, 30, 2000, "I6"),
        ("minority-quorum", 2, 10, 2000, "any"),
        ("forget-promise-on-restart", 0, 20, 1000, "I2"),
        ("rollback-undetected", 0, 20, 1000, "I2"),
        ("unauthenticated-ballots", 0, 20, 1000, "I2"),
    ],
)
def test_the_campaign_catches_each_unsafe_fleet_variant(
    variant: str, quorum: int, seeds: int, steps: int, invariant: str
) -> None:
    found = _first_violation(variant, seeds, steps, quorum)
    assert found, f"{variant}: no violation in {seeds} seeds"
    assert found[:2] in fleet_variant(variant).fails, found
    assert found.startswith(invariant) or invariant == "any", found


def test_a_forgotten_promise_lets_an_old_leader_win_a_vote_back() -> None:
    """The scenario behind forget-promise-on-restart, step by step.

    The leader is cut off with a proposal in flight; the others elect a new leader; one
    of them crashes and restarts; the network heals and the old leader's retransmitted
    Accept reaches it. A replica that kept its promise refuses; one that forgot it votes
    at a ballot it had left.
    """

    def scenario(variant: str | None) -> Monitor:
        world, monitor = _fleet(seed=12, variant=variant)
        old = world.leader()
        assert old is not None
        sealed, _ = seal_request(world.fleet_public_key, BeginRecovery("a"), SeededRng(3))
        world.send_request(sealed)
        handled = world.replicas[old].requests_handled
        while world.replicas[old].requests_handled == handled:
            world.step()
        world.isolate(old)
        world.run_for(1500)
        new = world.leader()
        assert new is not None
        assert new != old
        other = next(i for i in range(5) if i not in (old, new))
        world.crash(other)
        world.restart(other)
        world.heal()
        world.run_for(500)
        return monitor

    assert scenario(None).ok
    unsafe = scenario("forget-promise-on-restart")
    found = [str(v) for v in unsafe.violations]
    assert "a promise was not kept" in found[0]
    assert any("went back to a ballot it had left" in v for v in found[1:]), found


def test_the_simulator_also_catches_the_vault_variants() -> None:
    assert _first_violation("check-before-charge", 10, 1000).startswith("I3")
    assert _first_violation("no-destroy", 20, 2000).startswith("I3")
    assert _first_violation("replayable-guess", 10, 1000).startswith("I3")
    assert _first_violation("superseding-challenge", 20, 1000).startswith("I3")


def test_a_destroyed_record_answers_destroyed_to_everyone() -> None:
    world, monitor = _fleet(seed=7)
    client = _client(world)
    blob = client.backup(client.enroll_password("pw"), b"x")
    for _ in range(10):
        assert isinstance(client.recover_password(blob, "no"), WrongGuess)
    assert isinstance(client.recover_password(blob, "pw"), Destroyed)
    assert monitor.ok


def test_a_replica_down_for_long_catches_up_from_a_snapshot_and_logs_stay_bounded() -> None:
    world, monitor = _fleet(seed=13, replicas=3)
    leader = world.leader()
    assert leader is not None
    lagging = (leader + 1) % 3
    world.crash(lagging)
    client = _client(world)
    blob = client.backup(client.enroll_password("pw"), b"x")
    for _ in range(40):  # 40 guesses: more than two snapshots' worth of slots
        assert isinstance(client.recover_password(blob, "pw"), Recovered)
        blob = client.backup(client.enroll_password("pw"), b"x")  # re-register: new budget
    snapshot_every = world.config.snapshot_every
    for store in world.stores:
        image = store.image()
        assert len(image.accepted) <= snapshot_every + 8
        assert len(image.chosen) <= snapshot_every + 8
    world.restart(lagging)
    world.run_for(1000)
    behind = world.replicas[lagging].consensus
    ahead = world.replicas[world.leader() or leader].consensus
    assert behind.snapshot.upto > 0  # installed a snapshot: the early slots are gone
    assert behind.applied == ahead.applied
    assert world.replicas[lagging].records() == world.replicas[world.leader() or 0].records()
    assert monitor.ok, monitor.violations


def test_sqlite_stores_change_nothing_but_where_state_lives() -> None:
    on_disk: list[str] = []
    in_memory: list[str] = []
    run_simulation(SimConfig(seed=3, steps=400, faults=ALL, store="sqlite"), on_disk.append)
    run_simulation(SimConfig(seed=3, steps=400, faults=ALL), in_memory.append)
    assert on_disk == in_memory
    with pytest.raises(ConfigError, match="unknown store"):
        SimConfig(store="floppy")


def test_regression_seed_180_a_refused_destroy_after_the_tenth_charge_is_no_violation() -> None:
    """Two guesses raced at the limit: one destroyed the record first, the other's Destroy
    was refused, and its WrongGuess(0) was still right. (The workload has changed since;
    the seed stays, as one more long run that must hold.)"""
    assert run_simulation(SimConfig(seed=180, steps=2000, faults=ALL), minimise=False).ok


def test_a_fleet_of_one_answers_at_once_and_keeps_the_rules() -> None:
    world, monitor = _fleet(seed=2, replicas=1)
    client = _client(world)
    blob = client.backup(client.enroll_password("pw"), b"x")
    for remaining in range(9, -1, -1):
        assert client.recover_password(blob, "no") == WrongGuess(remaining)
    assert isinstance(client.recover_password(blob, "pw"), Destroyed)
    assert monitor.ok, monitor.violations
