"""The operator on the channel under the simulator: replays and injections (fault
``replay``, ``docs/channel.rst``), the monitor's I3 as restated against them, and the
unsafe vault variants it must catch."""

from __future__ import annotations

import re

import pytest

from impl.consensus import ConsensusConfig
from impl.crypto.symmetric import SeededRng
from impl.hsm import HsmConfig
from impl.messages import (
    BeginRecovery,
    Destroyed,
    PasskeyRecoveryInfo,
    PasswordRecoveryInfo,
    RecoverPasskey,
    RecoverPassword,
    Refused,
    Registered,
    RegisterPasskey,
    RegisterPassword,
    Released,
    Request,
    Response,
    Stale,
    WrongGuess,
)
from impl.passkey import DEFAULT_ORIGIN, DEFAULT_RP_ID, SoftwareAuthenticator
from impl.redact import Secret
from impl.replica import Backing
from impl.session import open_response, seal_request
from impl.sim.campaign import FAULTS, SimConfig, parse_faults, run_simulation
from impl.sim.checks import Monitor
from impl.sim.world import World
from impl.vault import VaultPolicy
from vaultbench.cli import main

EMPTY = Secret(b"")


class _Fleet:
    """A settled fleet, its monitor, and calls made and replayed by hand."""

    def __init__(self, seed: int = 1, variant: str | None = None) -> None:
        config = ConsensusConfig()
        policy = VaultPolicy(variant=variant)
        self.monitor = Monitor(config.replicas, config.q, VaultPolicy(), lambda: 0, policy)
        self.world = World(seed, config, HsmConfig(policy=policy), observer=self.monitor.observe)
        self.monitor._event = lambda: self.world.current
        assert self.world.settle()
        self.rng = SeededRng(seed + 100)

    def seal(self, request: Request) -> tuple[bytes, object]:
        return seal_request(self.world.fleet_public_key, request, self.rng)

    def call(
        self, request: Request, label: str | None = None, right: bool = False
    ) -> tuple[Response, bytes, object]:
        sealed, key = self.seal(request)
        return self.deliver(sealed, key, request, label, right), sealed, key

    def deliver(
        self,
        sealed: bytes,
        key: object,
        request: Request,
        label: str | None = None,
        right: bool = False,
    ) -> Response:
        """Send ``sealed`` (again, for a replay) and report the answer to the monitor."""
        answer = self.world.endpoint(sealed)
        response = open_response(key, answer)  # type: ignore[arg-type]
        backing = self.world.last_backing
        assert isinstance(backing, Backing)
        registration = getattr(request, "registration", getattr(request, "replaces", 0))
        self.monitor.answered(
            request.user, registration, response, backing, request=label, right=right
        )
        return response

    def version(self, user: str) -> tuple[int, int]:
        info, _, _ = self.call(BeginRecovery(user))
        assert isinstance(info, PasswordRecoveryInfo | PasskeyRecoveryInfo), info
        return info.registration, info.attempts

    def wrong_guess(self, user: str) -> Response:
        """The operator's own wrong guess at the current version."""
        wrong = RecoverPassword(user, *self.version(user), Secret(self.rng.random_bytes(32)))
        return self.call(wrong)[0]


def _register(fleet: _Fleet, user: str = "alice") -> tuple[RegisterPassword, bytes, object]:
    rng = fleet.rng
    request = RegisterPassword(
        user,
        0,
        0,
        EMPTY,
        rng.random_bytes(16),
        Secret(rng.random_bytes(32)),
        Secret(rng.random_bytes(32)),
    )
    response, sealed, key = fleet.call(request, label="alice's enrolment")
    assert response == Registered(1)
    return request, sealed, key


# ----------------------------------------------------------------- the safe protocol


def test_replays_and_forgeries_are_stale_or_refused_and_charge_nothing() -> None:
    fleet = _Fleet(seed=2)
    enrol, enrol_sealed, enrol_key = _register(fleet)
    assert fleet.deliver(enrol_sealed, enrol_key, enrol) == Stale(1, 0)

    guess = RecoverPassword("alice", 1, 0, Secret(fleet.rng.random_bytes(32)))
    answer, sealed, key = fleet.call(guess, label="alice's typo")
    assert answer == WrongGuess(9)
    for _ in range(3):  # the relay replays her typo: never charged again
        assert fleet.deliver(sealed, key, guess, label="alice's typo") == Stale(1, 1)
    assert fleet.version("alice") == (1, 1)

    # The operator's registrations: over a live record without a proof, or at an old version.
    rng = fleet.rng
    for version, proof in (
        ((1, 1), EMPTY),
        ((1, 1), Secret(rng.random_bytes(32))),
        ((0, 0), EMPTY),
    ):
        forged = RegisterPassword(
            "alice",
            *version,
            proof,
            rng.random_bytes(16),
            Secret(rng.random_bytes(32)),
            Secret(rng.random_bytes(32)),
        )
        assert isinstance(fleet.call(forged)[0], Refused | Stale)

    right = RecoverPassword("alice", 1, 1, enrol.access_key)
    answer, sealed, key = fleet.call(right, label="alice's right guess", right=True)
    assert isinstance(answer, Released)
    assert answer.secret == enrol.secret
    assert fleet.deliver(sealed, key, right, label="alice's right guess", right=True) == Stale(1, 2)
    assert fleet.monitor.ok, fleet.monitor.violations


def test_a_destroyed_record_stays_destroyed_whatever_is_replayed() -> None:
    fleet = _Fleet(seed=3)
    enrol, sealed, key = _register(fleet)
    for _ in range(10):
        assert isinstance(fleet.wrong_guess("alice"), WrongGuess)
    assert isinstance(fleet.deliver(sealed, key, enrol), Stale)
    assert fleet.call(BeginRecovery("alice"))[0] == Destroyed()
    assert fleet.monitor.ok, fleet.monitor.violations


# --------------------------------------------------------------- the unsafe variants


def test_a_replayed_enrolment_after_destruction_is_a_record_that_came_back() -> None:
    fleet = _Fleet(seed=4, variant="replayable-registration")
    _, sealed, _ = _register(fleet)
    for _ in range(10):
        fleet.wrong_guess("alice")
    world = fleet.world
    # The replay's answer goes to the operator: nobody reports it; the log alone tells.
    world.endpoint(sealed)
    wrong = RecoverPassword("alice", 2, 0, Secret(fleet.rng.random_bytes(32)))
    world.endpoint(fleet.seal(wrong)[0])
    found = [str(v) for v in fleet.monitor.violations]
    assert any(v.startswith("I3") and "came back" in v for v in found), found


def test_a_replayed_enrolment_gives_no_secret_a_second_budget() -> None:
    fleet = _Fleet(seed=5, variant="replayable-registration")
    _, sealed, _ = _register(fleet)
    world = fleet.world
    for _ in range(9):
        fleet.wrong_guess("alice")
    world.endpoint(sealed)  # the replay: a fresh record for alice's old secret
    for _ in range(2):
        fleet.wrong_guess("alice")
    found = [str(v) for v in fleet.monitor.violations]
    assert any("11 attempts charged against the secret enrolled as alice#1" in v for v in found)


def test_a_replayed_guess_charged_twice_is_caught() -> None:
    fleet = _Fleet(seed=6, variant="replayable-guess")
    _register(fleet)
    guess = RecoverPassword("alice", 1, 0, Secret(fleet.rng.random_bytes(32)))
    answer, sealed, key = fleet.call(guess, label="alice's typo")
    assert answer == WrongGuess(9)
    fleet.deliver(sealed, key, guess, label="alice's typo")
    found = [str(v) for v in fleet.monitor.violations]
    assert any("(alice's typo) was charged 2 times" in v for v in found), found


def test_a_superseded_challenge_turns_a_right_assertion_into_a_wrong_guess() -> None:
    fleet = _Fleet(seed=7, variant="superseding-challenge")
    device = SoftwareAuthenticator(SeededRng(8))
    credential = device.create_credential(DEFAULT_RP_ID, b"alice")
    rng = fleet.rng
    enrol = RegisterPasskey(
        "alice",
        0,
        0,
        EMPTY,
        credential.credential_id,
        credential.cose_public_key,
        rng.random_bytes(16),
        Secret(rng.random_bytes(32)),
    )
    assert fleet.call(enrol)[0] == Registered(1)
    info, _, _ = fleet.call(BeginRecovery("alice"))
    assert isinstance(info, PasskeyRecoveryInfo)
    fleet.call(BeginRecovery("alice"))  # the operator's, in between
    assertion = device.get_assertion(
        credential.credential_id, DEFAULT_RP_ID, DEFAULT_ORIGIN, info.challenge, info.prf_salt
    )
    right = RecoverPasskey(
        "alice",
        info.registration,
        info.attempts,
        assertion.credential_id,
        assertion.authenticator_data,
        assertion.client_data_json,
        assertion.signature,
    )
    answer, _, _ = fleet.call(right, label="alice's assertion", right=True)
    assert isinstance(answer, WrongGuess)
    found = [str(v) for v in fleet.monitor.violations]
    assert any("honest right guess" in v for v in found), found


def _first_violation(variant: str, seeds: int, faults: frozenset[str]) -> str:
    for seed in range(1, seeds + 1):
        config = SimConfig(seed=seed, steps=1000, faults=faults, variant=variant)
        result = run_simulation(config, minimise=False)
        if not result.ok:
            return str(result.violations[0])
    return ""


@pytest.mark.parametrize(
    "variant", ["replayable-registration", "replayable-guess", "superseding-challenge"]
)
def test_the_replaying_relay_alone_exposes_each_channel_variant(variant: str) -> None:
    found = _first_violation(variant, 20, frozenset({"replay"}))
    assert found.startswith("I3"), f"{variant}: {found or 'no violation in 20 seeds'}"


# ------------------------------------------------------------- the campaign and CLI


def test_replay_is_a_fault_and_part_of_all() -> None:
    assert "replay" in FAULTS
    assert "replay" in parse_faults("all")
    assert parse_faults("replay") == frozenset({"replay"})


def test_a_replaying_run_counts_and_traces_its_replays_and_injections() -> None:
    lines: list[str] = []
    config = SimConfig(seed=5, steps=2000, faults=frozenset({"replay", "crash"}))
    result = run_simulation(config, lines.append)
    assert result.ok, result.violations
    assert result.replays > 0
    assert result.injections > 0
    kinds = [line.split()[2] for line in lines]
    assert kinds.count("replay") == result.replays
    assert kinds.count("inject") == result.injections
    # The workload reaches live records: few NoRecord answers, both methods, real guesses.
    answers = {k: n for k, n in result.stats.items() if k.startswith("answer ")}
    total = sum(answers.values())
    assert answers.get("answer NoRecord", 0) < total * 0.35
    assert answers.get("answer PasswordRecoveryInfo", 0) > 0
    assert answers.get("answer PasskeyRecoveryInfo", 0) > 0
    assert answers.get("answer WrongGuess", 0) > 0
    # Never a secret or a ciphertext in the trace: no long runs of hex digits.
    assert not [line for line in lines if re.search(r"[0-9a-f]{24}", line)]
    again: list[str] = []
    run_simulation(config, again.append)
    assert again == lines


def test_simulate_shows_the_adversary_in_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--seed", "3", "--steps", "800", "--faults", "replay"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"adversary: the relay replayed \d+ captured requests and injected \d+", out)
    assert re.search(r"adversary replays\s+\d+", out)
    assert re.search(r"answers NoRecord\s+\d+ \(\d+%\)", out)


def test_simulate_reports_the_replayable_registration_variant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["simulate", "--seeds", "1..20", "--faults", "replay"]
    assert main([*argv, "--variant", "replayable-registration"]) == 1
    out = capsys.readouterr().out
    assert "I3 attempt-limit violated" in out
    assert "reproduce with: vaultbench simulate --seed 1" in out
