"""vaultbench.fleet_demo: ``vaultbench demo --fleet``, the vault on a fleet of five HSMs.

A narrated run on the simulated fleet (real replicas, real cryptography, simulated
network and clock): a leader is elected, Alice registers a password, two datacenters go
dark and the vault still answers, a third goes dark and requests fail with a clear
"unavailable" error, everything comes back and no acknowledged charge was lost. The
simulator's monitor checks I2, I3 and I6 after every event of the run. Returns 0 when the
story ends as it must.
"""

from __future__ import annotations

from collections.abc import Callable

from impl.client import Client, ClientConfig, Outcome, Recovered, WrongGuess
from impl.consensus import ConsensusConfig
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.errors import FleetUnavailable
from impl.hsm import HsmConfig
from impl.sim.checks import Monitor
from impl.sim.world import World
from impl.vault import VaultPolicy


def run_fleet_demo(
    *, seed: int = 7, fast_kdf: bool = False, say: Callable[[str], None] = print
) -> int:
    """run_fleet_demo: the story in the module docstring; 0 if it ended as it must."""
    config = ConsensusConfig()
    monitor = Monitor(config.replicas, config.q, VaultPolicy(), lambda: 0)
    world = World(seed, config, HsmConfig(), observer=monitor.observe)
    monitor._event = lambda: world.current
    argon = Argon2Params.FAST if fast_kdf else Argon2Params.DEFAULT
    client = Client(
        "alice",
        world.endpoint,
        world.fleet_public_key,
        config=ClientConfig(argon2=argon),
        rng=SeededRng(seed),
    )
    n, q = config.replicas, config.q
    say(f"vaultbench demo --fleet: {n} HSMs, one per datacenter, quorum {q}, seed {seed}")

    world.settle()
    leader = _leader(world)
    ballot = world.replicas[leader].consensus.ballot
    say(f"1. The fleet elects a leader: hsm[{leader}] at ballot {ballot}.")

    enrollment = client.enroll_password("purple elephant sunrise")
    blob = client.backup(enrollment, b"chats")
    say(
        f"2. Alice registers a password (registration #{enrollment.registration}); the "
        f"Register command is chosen by a quorum and applied on every replica that hears it."
    )
    expected = config_attempts = VaultPolicy().max_attempts
    answer = client.recover_password(blob, "a wrong guess")
    expected -= 1
    say(f"   a wrong guess is charged through the log first: {_show(answer)}")
    if answer != WrongGuess(expected):
        return _fail(say, f"expected WrongGuess({expected})")

    dark = [leader, (leader + 1) % n]
    for i in dark:
        world.crash(i)
    say(
        f"3. Datacenters of hsm[{dark[0]}] (the leader) and hsm[{dark[1]}] go dark: "
        f"{n - len(dark)} of {n} replicas remain, still a quorum."
    )
    answer = client.recover_password(blob, "another wrong guess")
    expected -= 1
    say(f"   a new leader, hsm[{_leader(world)}], answers: {_show(answer)}")
    if answer != WrongGuess(expected):
        return _fail(say, f"expected WrongGuess({expected})")

    third = next(i for i in range(n) if i not in dark)
    world.crash(third)
    say(f"4. hsm[{third}] goes dark too: {n - 3} replicas up, no quorum.")
    try:
        client.recover_password(blob, "a third wrong guess")
    except FleetUnavailable as error:
        say(f"   the request fails: FleetUnavailable: {error}")
    else:
        return _fail(say, "a fleet without a quorum answered")
    say("   nothing is answered without a quorum: the guess may be charged, never refunded.")

    for i in (*dark, third):
        world.restart(i)
    world.settle()
    world.run_for(500)
    say(f"5. All {n} come back; hsm[{_leader(world)}] leads and every replica catches up.")
    answer = client.recover_password(blob, "purple elephant sunrise")
    say(f"   the right password: {_show(answer)}")
    if not isinstance(answer, Recovered):
        return _fail(say, "the right password did not release the key")
    attempts = {view.attempts for r in world.replicas for view in r.records()}
    charged = config_attempts - expected
    (used,) = attempts if len(attempts) == 1 else (max(attempts),)
    unanswered = (
        ", plus the unanswered guess, which a quorum did charge"
        if used == charged + 2
        else "; the unanswered guess never reached a quorum"
    )
    say(
        f"   every replica holds the same record: {used} attempts used ({charged} "
        f"acknowledged wrong guesses and this right one{unanswered})"
    )
    if len(attempts) != 1 or used < charged + 1:
        return _fail(say, "the replicas disagree, or an acknowledged charge was lost")
    if not monitor.ok:
        return _fail(say, str(monitor.violations[0]))
    say(
        f"I2 quorum-safety, I3 attempt-limit and I6 durability held after each of the "
        f"{world.events} simulated events."
    )
    return 0


def _leader(world: World) -> int:
    leader = world.leader()
    return -1 if leader is None else leader


def _show(outcome: Outcome) -> str:
    if isinstance(outcome, Recovered):
        return "Released (the root key came back)"
    return repr(outcome)


def _fail(say: Callable[[str], None], why: str) -> int:
    say(f"FAILED: {why}")
    return 1
