"""The operator on the channel, against the implementation (``docs/channel.rst``).

The relay between alice's client and the vault is the operator's: it keeps every sealed
request it carries and may replay any of them, in any order, and it makes every request
that needs no secret of alice's. Each test below is one attack of the channel page, run
through the public API against one HSM and against the simulated five-replica fleet, and
then against the unsafe variant that keeps the old rule, where the same attack must
succeed (so each test is seen to be able to fail).

What "refused" means is checked on the durable state, not on the answer (the answer to a
replayed request is sealed to alice's response key, which the operator does not have):
the record's version and the HSM's durable log are unchanged by every replay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from impl.client import Client, ClientConfig, FleetLink, Recovered
from impl.consensus import ConsensusConfig
from impl.crypto.hpke import FleetPublicKey
from impl.crypto.symmetric import Argon2Params, SeededRng, argon2id
from impl.errors import DecryptionError
from impl.hsm import Hsm, HsmConfig, RecordView
from impl.messages import (
    BeginRecovery,
    Destroyed,
    PasswordRecoveryInfo,
    RecoverPassword,
    Refused,
    RegisterPassword,
    Released,
    Request,
    Response,
    Retired,
    Stale,
    WrongGuess,
)
from impl.observe import Observer
from impl.passkey import SoftwareAuthenticator
from impl.redact import Secret
from impl.session import open_response, seal_request
from impl.sim.world import World
from impl.store import MemoryLog
from impl.vault import VaultPolicy

FAST = ClientConfig(argon2=Argon2Params.FAST)
LIMIT = 10


@dataclass
class Target:
    """One vault (a single HSM or a simulated fleet) behind the operator's relay."""

    name: str
    endpoint: Callable[[bytes], bytes]
    key: FleetPublicKey
    records: Callable[[], list[RecordView]]
    #: the durable log's length (one HSM) or the fleet's next slot: what a replay must not grow
    progress: Callable[[], int]
    captured: list[bytes] = field(default_factory=list)
    #: called with each sealed request before it is forwarded (an attack may act first)
    before: Callable[[bytes], None] | None = None

    def relay(self, sealed: bytes) -> bytes:
        """The operator's relay: capture, maybe act, forward."""
        self.captured.append(sealed)
        if self.before is not None:
            self.before(sealed)
        return self.endpoint(sealed)

    def replay(self, sealed: bytes) -> bytes:
        """Send a captured request again; the answer is sealed to its maker's key."""
        return self.endpoint(sealed)

    def ask(self, request: Request, seed: int = 7) -> Response:
        """A request the operator makes and seals itself (it can open the answer)."""
        sealed, key = seal_request(self.key, request, SeededRng(seed))
        return open_response(key, self.endpoint(sealed))

    def client(self, user: str = "alice", seed: int = 1) -> Client:
        return Client(user, self.relay, self.key, config=FAST, rng=SeededRng(seed))

    def record(self, user: str = "alice") -> RecordView:
        (view,) = [r for r in self.records() if r.user == user]
        return view


def _one_hsm(variant: str | None) -> Target:
    log = MemoryLog()
    hsm = Hsm(HsmConfig(policy=VaultPolicy(variant=variant)), log=log, rng=SeededRng(3))
    return Target("hsm", hsm.handle, hsm.fleet_public_key, hsm.records, lambda: len(log))


def _fleet(variant: str | None) -> Target:
    world = World(11, ConsensusConfig(replicas=5), HsmConfig(policy=VaultPolicy(variant=variant)))
    assert world.settle()

    def records() -> list[RecordView]:
        world.run_for(300)  # every replica has applied what was chosen
        views = [tuple(replica.records()) for replica in world.replicas]
        assert all(v == views[0] for v in views), "the replicas disagree"
        return list(views[0])

    def progress() -> int:
        leader = world.leader()
        assert leader is not None
        return world.replicas[leader].consensus.next_slot

    return Target("fleet", world.endpoint, world.fleet_public_key, records, progress)


MAKERS = {"hsm": _one_hsm, "fleet": _fleet}


@pytest.fixture(params=sorted(MAKERS))
def make(request: pytest.FixtureRequest) -> Callable[[str | None], Target]:
    return MAKERS[request.param]


def _spend(attacker: Client, blob: bytes) -> Iterator[Response | object]:
    """The operator's own wrong guesses, until the vault stops answering WrongGuess."""
    for n in range(LIMIT + 5):
        outcome = attacker.recover_password(blob, f"operator guess {n}")
        yield outcome
        if not isinstance(outcome, WrongGuess):
            return


# ----------------------------------------------------------- 1. replayed enrolment


def _replayed_enrolment(target: Target) -> int:
    """Enrol, spend the budget with the operator's guesses, replay the enrolment, guess
    on, twice over. Returns the wrong guesses answered against alice's one password."""
    alice = target.client()
    blob = alice.backup(alice.enroll_password("alice's password"), b"chats")
    enrolment = target.captured[0]
    attacker = Client("alice", target.endpoint, target.key, config=FAST, rng=SeededRng(9))
    wrong = 0
    for _ in range(3):
        wrong += sum(isinstance(o, WrongGuess) for o in _spend(attacker, blob))
        target.replay(enrolment)
    return wrong


def test_a_replayed_enrolment_never_refills_the_budget(make: Callable[..., Target]) -> None:
    target = make(None)
    assert _replayed_enrolment(target) == LIMIT
    record = target.record()
    assert (record.registration, record.destroyed, record.attempts) == (1, True, LIMIT)
    before = target.progress()
    for _ in range(5):
        target.replay(target.captured[0])
    assert target.record() == record, "the destroyed record never comes back"
    if target.name == "hsm":
        assert target.progress() == before, "a replayed enrolment applies no command"


def test_replayable_registration_refills_the_budget(make: Callable[..., Target]) -> None:
    target = make("replayable-registration")
    assert _replayed_enrolment(target) == 3 * LIMIT
    assert target.record().registration == 4, "each replay registered alice's secret again"


def test_the_replayed_enrolment_is_answered_stale_to_its_maker() -> None:
    # Made and sealed here, so the answer can be read: what alice's client would see.
    target = _one_hsm(None)
    request = RegisterPassword(
        "alice", 0, 0, Secret(b""), b"s" * 16, Secret(b"a" * 32), Secret(b"R" * 32)
    )
    sealed, key = seal_request(target.key, request, SeededRng(1))
    assert open_response(key, target.endpoint(sealed)).__class__.__name__ == "Registered"
    assert open_response(key, target.endpoint(sealed)) == Stale(1, 0)


# ------------------------------------------------------ 2. resurrection after migration


def test_a_replayed_enrolment_does_not_resurrect_a_migrated_record() -> None:
    old, new = _one_hsm(None), _one_hsm(None)
    alice = old.client()
    blob = alice.backup(alice.enroll_password("pw"), b"chats")
    link = FleetLink(2, new.key, new.relay)
    outcome = alice.recover_password(blob, "pw", migrate_to=link)
    assert isinstance(outcome, Recovered)
    assert outcome.migrated_to == 2
    assert old.record().retired
    for sealed in old.captured:  # every request alice ever sent to the old fleet
        old.replay(sealed)
    assert old.record().retired
    assert old.record().registration == 1
    assert old.ask(BeginRecovery("alice")) == Retired()
    with pytest.raises(DecryptionError):  # sealed to epoch 1's key: epoch 2 cannot open it
        new.replay(old.captured[0])
    assert new.record().attempts == 0


# ------------------------------------------------------------- 3. forged overwrite


def test_an_operator_made_registration_never_replaces_a_live_record(
    make: Callable[..., Target],
) -> None:
    target = make(None)
    alice = target.client()
    blob = alice.backup(alice.enroll_password("pw"), b"chats")
    before = target.record()
    for proof in (Secret(b""), Secret(b"\x00" * 32), Secret(b"R" * 32)):
        forged = RegisterPassword(
            "alice", 1, 0, proof, b"o" * 16, Secret(b"o" * 32), Secret(b"O" * 32)
        )
        answer = target.ask(forged)
        assert isinstance(answer, Refused)
        assert "proof" in answer.reason
    stale = RegisterPassword(
        "alice", 0, 0, Secret(b""), b"o" * 16, Secret(b"o" * 32), Secret(b"O" * 32)
    )
    assert target.ask(stale) == Stale(1, 0)
    assert target.record() == before
    assert isinstance(alice.recover_password(blob, "pw"), Recovered)


def test_replayable_registration_lets_the_operator_overwrite(make: Callable[..., Target]) -> None:
    target = make("replayable-registration")
    alice = target.client()
    blob = alice.backup(alice.enroll_password("pw"), b"chats")
    forged = RegisterPassword(
        "alice", 0, 0, Secret(b""), b"o" * 16, Secret(b"o" * 32), Secret(b"O" * 32)
    )
    assert target.ask(forged).__class__.__name__ == "Registered"
    assert isinstance(alice.recover_password(blob, "pw"), WrongGuess)


# ------------------------------------------------------------- 4. replayed guesses


def _replayed_guesses(target: Target) -> tuple[int, object]:
    """Capture alice's typo and her right guess; replay the typo 10 times and the right
    guess 11 times. Returns (attempts charged by the replays, alice's next outcome)."""
    alice = target.client()
    blob = alice.backup(alice.enroll_password("pw"), b"chats")
    assert alice.recover_password(blob, "typo") == WrongGuess(LIMIT - 1)
    typo = target.captured[-1]
    assert isinstance(alice.recover_password(blob, "pw"), Recovered)
    right = target.captured[-1]
    charged = target.record().attempts
    for sealed in [typo] * 10 + [right] * 11:
        target.replay(sealed)
    return target.record().attempts - charged, alice.recover_password(blob, "pw")


def test_replayed_guesses_are_never_charged(make: Callable[..., Target]) -> None:
    target = make(None)
    progress = target.progress()
    extra, outcome = _replayed_guesses(target)
    assert extra == 0
    assert isinstance(outcome, Recovered), "alice's right password still works"
    assert target.record().attempts == 3
    if target.name == "hsm":
        # enrol, two guesses of two commands each (charge, settle), a third guess: the
        # 21 replays added nothing to the durable log
        assert target.progress() == progress + 1 + 2 + 2 + 2


def test_replayable_guess_charges_every_replay(make: Callable[..., Target]) -> None:
    target = make("replayable-guess")
    extra, outcome = _replayed_guesses(target)
    assert extra == LIMIT - 2, "the replays spent everything left"
    assert isinstance(outcome, Destroyed), "alice's right password meets a destroyed record"


# --------------------------------------------------------------- 5. challenge race


def _race(target: Target) -> object:
    """alice recovers with her passkey; just before her assertion reaches the vault, the
    operator sends a BeginRecovery of its own for her."""
    device = SoftwareAuthenticator(SeededRng(5))
    alice = target.client()
    blob = alice.backup(alice.enroll_passkey(device), b"chats")
    sent = len(target.captured)

    def race(_sealed: bytes) -> None:
        if len(target.captured) == sent + 2:  # BeginRecovery went, the assertion is next
            target.ask(BeginRecovery("alice"), seed=len(target.captured))

    target.before = race
    try:
        return alice.recover_passkey(blob, device)
    finally:
        target.before = None


def test_an_operator_begin_recovery_never_turns_an_honest_assertion_wrong(
    make: Callable[..., Target],
) -> None:
    target = make(None)
    assert isinstance(_race(target), Recovered)
    assert target.record().attempts == 1


def test_superseding_challenge_turns_the_honest_assertion_into_a_wrong_guess() -> None:
    # The volatile challenge lives on one HSM; on a fleet a new leader would lose it too.
    target = _one_hsm("superseding-challenge")
    assert _race(target) == WrongGuess(LIMIT - 1)


# ---------------------------------------------------------- 6. outcome side channel


def _traffic(right: bool) -> tuple[Counter[int], int, int]:
    """What the operator sees of one guess on the fleet: the peer envelopes' sizes, their
    count, and the sealed answer's size."""
    observer = Observer()
    world = World(23, ConsensusConfig(replicas=5), HsmConfig(), party_observer=observer)
    assert world.settle()
    alice = Client("alice", world.endpoint, world.fleet_public_key, config=FAST, rng=SeededRng(2))
    alice.enroll_password("pw")
    sealed_begin, key = seal_request(world.fleet_public_key, BeginRecovery("alice"), SeededRng(4))
    info = open_response(key, world.endpoint(sealed_begin))
    assert isinstance(info, PasswordRecoveryInfo)
    typed = b"pw" if right else b"typo"
    access = Secret(argon2id(typed, info.salt, FAST.argon2))
    guess = RecoverPassword("alice", info.registration, info.attempts, access)
    sealed, key = seal_request(world.fleet_public_key, guess, SeededRng(6))
    world.run_for(500)
    seen = len(observer.sightings("operator"))
    answer = world.endpoint(sealed)
    world.run_for(500)
    assert isinstance(open_response(key, answer), Released if right else WrongGuess)
    envelopes = [s for s in observer.sightings("operator")[seen:] if s.label == "peer/message"]
    return Counter(len(s.data) for s in envelopes), len(envelopes), len(answer)


def test_right_and_wrong_guesses_look_alike_to_the_operator() -> None:
    right, wrong = _traffic(True), _traffic(False)
    assert right == wrong
    assert right[1] > 0
