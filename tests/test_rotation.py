"""Fleet rotation, epoch 1 to 2: the vault's ``Retire``, the service's ``RetireRecord``,
their encodings, the client's migration (retire first, register second; resumable) over
two simulated fleets in ``ota`` mode, the rotation simulation and ``vaultbench rotate``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from impl.bundle import ClientTrust, MemoryEpochStore, encode_bundle
from impl.ceremony import Deployment, Parties, client_trust, deploy_epochs
from impl.client import (
    Client,
    ClientConfig,
    Destroyed,
    FleetLink,
    MigrationError,
    NoRecord,
    Recovered,
    Refused,
    Retired,
    WrongGuess,
)
from impl.consensus import ConsensusConfig
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.errors import ConfigError, FleetUnavailable, VaultError, WireError
from impl.hsm import Hsm, HsmConfig, RecordView
from impl.messages import (
    BeginRecovery,
    PasswordRecoveryInfo,
    RecoverPassword,
    Request,
    Response,
    RetireRecord,
    Stale,
)
from impl.method import Method
from impl.ota import OtaEndpoint, decode_frame
from impl.peer_messages import Snapshot
from impl.peer_wire import decode_command, decode_snapshot, encode_command, encode_snapshot
from impl.redact import Secret
from impl.service import retire_proof
from impl.session import open_response, seal_request
from impl.sim.rotation import ROTATION_FAULTS, RotationConfig, run_rotation
from impl.sim.world import World
from impl.store import MemoryLog
from impl.vault import (
    ConsumeAttempt,
    Destroy,
    PasswordFactor,
    RecordRetired,
    Register,
    Retire,
    Settle,
    Vault,
    VaultPolicy,
    VaultRecord,
)
from impl.wire import decode_request, decode_response, encode_request, encode_response
from vaultbench.cli import main

FAST = ClientConfig(argon2=Argon2Params.FAST)
UNSAFE = ClientConfig(argon2=Argon2Params.FAST, migration="migrate-on-server-request")
ROOT = Secret(b"r" * 32)
WRONG_KEY = Secret(bytes(32))

# ------------------------------------------------------------------------ the vault


def _factor() -> PasswordFactor:
    return PasswordFactor(salt=b"s" * 16, verifier=Secret(b"v" * 32))


def _registered() -> Vault:
    vault = Vault()
    vault.apply(Register("alice", 0, 0, Method.PASSWORD, _factor(), ROOT))
    return vault


def _record(vault: Vault) -> VaultRecord:
    record = vault.record("alice")
    assert record is not None
    return record


def test_vault_retires_a_record_right_after_registration() -> None:
    vault = _registered()
    assert _record(vault).proved
    assert vault.apply(Retire("alice", 1, 0)) == RecordRetired()
    record = _record(vault)
    assert record.destroyed
    assert record.retired
    assert record.secret.reveal() == b"", "a retired record keeps no secret"
    assert record.attempts == 0


def test_vault_retires_a_record_right_after_a_release() -> None:
    vault = _registered()
    vault.apply(ConsumeAttempt("alice", 1, 0))
    assert not _record(vault).proved, "a charge clears proved"
    vault.apply(Settle("alice", 1, 1, True))
    assert _record(vault).proved, "a release sets proved again"
    assert vault.apply(Retire("alice", 1, 1)) == RecordRetired()
    record = _record(vault)
    assert (record.destroyed, record.retired, record.attempts) == (True, True, 1)
    assert record.secret.reveal() == b""


def _charged_since_release() -> Vault:
    vault = _registered()
    vault.apply(ConsumeAttempt("alice", 1, 0))
    vault.apply(Settle("alice", 1, 1, True))
    vault.apply(ConsumeAttempt("alice", 1, 1))
    return vault


def _destroyed() -> Vault:
    vault = _registered()
    vault.apply(Destroy("alice", 1))
    return vault


def _retired() -> Vault:
    vault = _registered()
    vault.apply(Retire("alice", 1, 0))
    return vault


def _charged_after_registration() -> Vault:
    vault = _registered()
    vault.apply(ConsumeAttempt("alice", 1, 0))
    return vault


@pytest.mark.parametrize(
    ("make", "command", "reason"),
    [
        (_charged_since_release, Retire("alice", 1, 2), "charged since"),
        (_charged_since_release, Retire("alice", 1, 1), "stale version"),
        (_charged_after_registration, Retire("alice", 1, 1), "charged since"),
        (_registered, Retire("alice", 2, 0), "stale registration"),
        (_registered, Retire("bob", 1, 0), "no record"),
        (_destroyed, Retire("alice", 1, 0), "destroyed"),
        (_retired, Retire("alice", 1, 0), "destroyed"),
        (_retired, ConsumeAttempt("alice", 1, 0), "destroyed"),
    ],
)
def test_vault_refuses_a_retire_that_does_not_fit_and_changes_nothing(
    make: Callable[[], Vault], command: Retire | ConsumeAttempt, reason: str
) -> None:
    vault = make()
    before = vault.records()
    with pytest.raises(VaultError, match=reason):
        vault.apply(command)
    assert vault.records() == before


def test_a_retired_user_may_register_again_with_a_fresh_budget() -> None:
    vault = _retired()
    vault.apply(Register("alice", 1, 0, Method.PASSWORD, _factor(), ROOT))
    record = _record(vault)
    assert (record.registration, record.destroyed, record.retired, record.proved) == (
        2,
        False,
        False,
        True,
    )


# ----------------------------------------------------------------- the service (one HSM)


class _Hsm:
    """One HSM, its durable log, and a raw sealed-request helper (what the operator sends)."""

    def __init__(self, max_attempts: int = 10) -> None:
        self.log = MemoryLog()
        policy = VaultPolicy(max_attempts=max_attempts)
        self.hsm = Hsm(HsmConfig(policy=policy), log=self.log, rng=SeededRng(3))
        self._rng = SeededRng(5)

    def send(self, request: Request) -> Response:
        sealed, key = seal_request(self.hsm.fleet_public_key, request, self._rng)
        return open_response(key, self.hsm.handle(sealed))

    def client(self) -> Client:
        return Client(
            "alice", self.hsm.handle, self.hsm.fleet_public_key, config=FAST, rng=SeededRng(1)
        )

    def view(self) -> RecordView:
        (record,) = self.hsm.records()
        return record


def test_hsm_retires_only_with_the_proof_derived_from_the_released_secret() -> None:
    box = _Hsm()
    client = box.client()
    enrollment = client.enroll_password("pw")
    blob = client.backup(enrollment, b"chats")
    proof = retire_proof(enrollment.root_key)
    assert proof != enrollment.root_key
    assert len(proof) == 32

    # A wrong proof (the secret itself, or someone else's) is refused and changes nothing.
    before, logged = box.hsm.records(), len(box.log)
    for wrong in (enrollment.root_key, retire_proof(Secret(b"x" * 32))):
        answer = box.send(RetireRecord("alice", 1, 0, wrong))
        assert isinstance(answer, Refused)
        assert "proof" in answer.reason
    assert (box.hsm.records(), len(box.log)) == (before, logged)

    # An attempt charged since the last proof: the right proof is refused too.
    assert client.recover_password(blob, "wrong") == WrongGuess(9)
    before, logged = box.hsm.records(), len(box.log)
    answer = box.send(RetireRecord("alice", 1, 1, proof))
    assert isinstance(answer, Refused)
    assert "charged" in answer.reason
    assert (box.hsm.records(), len(box.log)) == (before, logged)

    # Right after a release: retired; asked again (a lost answer): retired again.
    assert isinstance(client.recover_password(blob, "pw"), Recovered)
    assert box.send(RetireRecord("alice", 1, 1, proof)) == Stale(1, 2), "a replay is stale"
    assert box.send(RetireRecord("alice", 1, 2, proof)) == Retired()
    assert box.view() == RecordView("alice", Method.PASSWORD, 1, 2, True, True)
    logged = len(box.log)
    assert box.send(RetireRecord("alice", 1, 2, proof)) == Retired()
    assert box.send(RetireRecord("alice", 1, 2, retire_proof(Secret(b"x" * 32)))) == Retired()
    assert len(box.log) == logged, "retiring again applies no command"


def test_a_retired_record_answers_retired_and_charges_nothing() -> None:
    box = _Hsm()
    client = box.client()
    enrollment = client.enroll_password("pw")
    blob = client.backup(enrollment, b"chats")
    assert box.send(RetireRecord("alice", 1, 0, retire_proof(enrollment.root_key))) == Retired()
    before, logged = box.hsm.records(), len(box.log)
    assert box.send(BeginRecovery("alice")) == Retired()
    for key in (WRONG_KEY, Secret(b"k" * 32)):
        assert box.send(RecoverPassword("alice", 1, 0, key)) == Retired()
    assert client.recover_password(blob, "pw") == Retired()
    assert client.recover_password(blob, "wrong") == Retired()
    assert (box.hsm.records(), len(box.log)) == (before, logged)
    assert box.view().attempts == 0


def test_hsm_retire_answers_no_record_stale_and_destroyed() -> None:
    box = _Hsm(max_attempts=1)
    client = box.client()
    enrollment = client.enroll_password("pw")
    proof = retire_proof(enrollment.root_key)
    assert box.send(RetireRecord("bob", 1, 0, proof)) == NoRecord()
    assert box.send(RetireRecord("alice", 2, 0, proof)) == Stale(1, 0)
    assert not box.view().destroyed
    blob = client.backup(enrollment, b"chats")
    assert client.recover_password(blob, "wrong") == WrongGuess(0)
    assert box.view().destroyed
    logged = len(box.log)
    assert box.send(RetireRecord("alice", 1, 1, proof)) == Destroyed()
    assert not box.view().retired
    assert len(box.log) == logged


# ------------------------------------------------------------------------- the wires


def test_retire_record_and_retired_round_trip_through_the_wire() -> None:
    request = RetireRecord("alice", 7, 3, Secret(b"p" * 32))
    data = encode_request(request)
    assert data[:2] == b"\x02\x06"
    assert decode_request(data) == request
    assert encode_response(Retired()) == b"\x02\x89"
    assert decode_response(b"\x02\x89") == Retired()
    with pytest.raises(WireError):
        decode_request(b"\x02\x89")  # a response tag is never a request
    with pytest.raises(WireError, match="trailing"):
        decode_response(b"\x02\x89\x00")


@pytest.mark.parametrize("length", [0, 31, 33])
def test_a_retire_proof_of_the_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(WireError, match="proof"):
        encode_request(RetireRecord("alice", 1, 0, Secret(b"p" * length)))
    good = encode_request(RetireRecord("alice", 1, 0, Secret(b"p" * 32)))
    # Re-frame the proof field (the last one) with ``length`` bytes.
    head = good[: -(2 + 32)]
    forged = head + length.to_bytes(2, "big") + b"p" * length
    with pytest.raises(WireError, match="proof"):
        decode_request(forged)


def test_retire_command_round_trips_through_the_peer_wire() -> None:
    command = Retire("alice", 3, 1)
    data = encode_command(command)
    assert data[:2] == b"\x01\x05"
    assert decode_command(data) == command
    with pytest.raises(WireError, match="trailing"):
        decode_command(data + b"\x00")


def _snapshot_record(**changes: bool) -> VaultRecord:
    record = VaultRecord("alice", Method.PASSWORD, 1, _factor(), Secret(b""), 2, True)
    return VaultRecord(
        record.user,
        record.method,
        record.registration,
        record.factor,
        record.secret,
        record.attempts,
        changes.get("destroyed", record.destroyed),
        changes.get("proved", record.proved),
        changes.get("retired", record.retired),
    )


def test_a_snapshot_keeps_proved_and_retired() -> None:
    for proved in (False, True):
        record = _snapshot_record(proved=proved, retired=True)
        snapshot = Snapshot(9, (record,))
        decoded = decode_snapshot(encode_snapshot(snapshot))
        assert decoded == snapshot
        assert decoded.records[0].retired
        assert decoded.records[0].proved is proved


def test_a_record_retired_but_not_destroyed_is_refused_by_the_decoder() -> None:
    data = encode_snapshot(Snapshot(9, (_snapshot_record(retired=True),)))
    # The record is last: its final three bytes are destroyed, proved, retired.
    assert data[-3:] == b"\x01\x01\x01"
    forged = data[:-3] + b"\x00" + data[-2:]
    with pytest.raises(WireError, match="retired"):
        decode_snapshot(forged)
    for flag in (-1, -2, -3):
        bad = bytearray(data)
        bad[flag] = 2
        with pytest.raises(WireError):
            decode_snapshot(bytes(bad))


def test_the_encoder_refuses_a_record_retired_but_not_destroyed() -> None:
    """The encoder never writes bytes its decoder would refuse."""
    record = replace(_snapshot_record(retired=True), destroyed=False)
    with pytest.raises(WireError, match="retired"):
        encode_snapshot(Snapshot(9, (record,)))


# ------------------------------------------------- two simulated fleets in ota mode

PARTIES = Parties.from_seed(12)


FIRST, SECOND = deploy_epochs(PARTIES, 2, seed=12)


def _trust() -> ClientTrust:
    return client_trust(PARTIES, 2)


def _world(deployment: Deployment, seed: int) -> World:
    world = World(
        seed,
        ConsensusConfig(),
        keys=deployment.hsm_keys,
        bundle=encode_bundle(deployment.bundle),
    )
    assert world.settle()
    return world


class Relay:
    """The operator's relay to one fleet: counts calls; can run a hook before delivering a
    call, and lose the answer of a call after delivering it (``FleetUnavailable``)."""

    def __init__(self, transport: Callable[[bytes], bytes]) -> None:
        self._transport = transport
        self.calls = 0
        self.lose: set[int] = set()
        self.before: dict[int, Callable[[], None]] = {}

    def __call__(self, sealed: bytes) -> bytes:
        self.calls += 1
        hook = self.before.pop(self.calls, None)
        if hook is not None:
            hook()
        answer = self._transport(sealed)
        if self.calls in self.lose:
            raise FleetUnavailable("the relay lost the answer")
        return answer


class Fleets:
    """Epoch 1 and epoch 2 side by side, one app (``alice``) enrolled at epoch 1."""

    def __init__(self, config: ClientConfig = FAST) -> None:
        self.worlds = {1: _world(FIRST, 21), 2: _world(SECOND, 22)}
        self.relays = {epoch: Relay(world.endpoint) for epoch, world in self.worlds.items()}
        self.epochs = MemoryEpochStore()
        self._rng = SeededRng(99)
        old = self._endpoint(1)
        self.client = Client(
            "alice", old, old.fleet_public_key, config=config, rng=SeededRng(7), epoch=1
        )
        self.enrollment = self.client.enroll_password("pw")
        self.blob = self.client.backup(self.enrollment, b"alice's chats")

    def _endpoint(self, epoch: int) -> OtaEndpoint:
        world = self.worlds[epoch]
        endpoint = OtaEndpoint(world.hello, self.relays[epoch], _trust(), self.epochs)
        assert endpoint.connect().epoch == epoch
        return endpoint

    def link(self, epoch: int = 2) -> FleetLink:
        """What the app learns from the newer fleet's bundle (verified on connect)."""
        endpoint = self._endpoint(epoch)
        return FleetLink(endpoint.fleet.epoch, endpoint.fleet_public_key, endpoint)

    def raw(self, epoch: int, request: Request) -> Response:
        """The operator (attacker) talks to a fleet directly, bypassing the app."""
        world = self.worlds[epoch]
        sealed, key = seal_request(world.fleet_public_key, request, self._rng)
        return open_response(key, decode_frame(world.endpoint(sealed)).answer)

    def guess(self, epoch: int) -> Response:
        info = self.raw(epoch, BeginRecovery("alice"))
        if not isinstance(info, PasswordRecoveryInfo):
            return info
        return self.raw(
            epoch, RecoverPassword("alice", info.registration, info.attempts, WRONG_KEY)
        )

    def records(self, epoch: int) -> list[RecordView]:
        world = self.worlds[epoch]
        leader = world.leader()
        assert leader is not None
        return [r for r in world.replicas[leader].records() if r.user == "alice"]

    def live(self, epoch: int) -> list[RecordView]:
        return [r for r in self.records(epoch) if not r.destroyed]


def test_recovery_with_migrate_to_moves_the_record_to_the_new_fleet() -> None:
    fleets = Fleets()
    client = fleets.client
    old_info = fleets.raw(1, BeginRecovery("alice"))
    assert isinstance(old_info, PasswordRecoveryInfo)
    assert fleets.live(2) == []

    outcome = client.recover_password(fleets.blob, "pw", migrate_to=fleets.link())
    assert isinstance(outcome, Recovered)
    assert outcome.migrated_to == 2
    assert outcome.plaintext == b"alice's chats"
    assert outcome.root_key == fleets.enrollment.root_key
    assert (client.epoch, client.registration, client.pending_migration) == (2, 1, None)

    (old,) = fleets.records(1)
    assert (old.destroyed, old.retired, old.attempts) == (True, True, 1)
    assert fleets.live(2) == [RecordView("alice", Method.PASSWORD, 1, 0, False, False)]
    new_info = fleets.raw(2, BeginRecovery("alice"))
    assert isinstance(new_info, PasswordRecoveryInfo)
    assert new_info.salt != old_info.salt, "the new fleet gets a fresh salt"

    # The attacker finds nothing to guess against at epoch 1; nothing is charged there.
    assert fleets.guess(1) == Retired()
    assert fleets.raw(1, RecoverPassword("alice", 1, 1, WRONG_KEY)) == Retired()
    # the guess made before the migration, replayed: stale, before anything else
    assert fleets.raw(1, RecoverPassword("alice", 1, 0, WRONG_KEY)) == Stale(1, 1)
    assert fleets.records(1) == [old]

    # The app now talks to epoch 2 only, and recovers there.
    calls_old = fleets.relays[1].calls
    again = client.recover_password(fleets.blob, "pw")
    assert isinstance(again, Recovered)
    assert again.migrated_to is None
    assert again.plaintext == b"alice's chats"
    assert client.recover_password(fleets.blob, "nope") == WrongGuess(8)
    assert fleets.relays[1].calls == calls_old
    assert fleets.live(2)[0].attempts == 2
    assert fleets.epochs.highest() == 2


def test_a_wrong_password_with_migrate_to_moves_nothing() -> None:
    fleets = Fleets()
    calls_new = fleets.relays[2].calls
    outcome = fleets.client.recover_password(fleets.blob, "nope", migrate_to=fleets.link())
    assert outcome == WrongGuess(9)
    assert fleets.client.epoch == 1
    assert fleets.client.pending_migration is None
    assert fleets.relays[2].calls == calls_new
    assert len(fleets.live(1)) == 1
    assert fleets.records(2) == []


def test_a_lost_retire_answer_leaves_the_migration_pending_and_resume_finishes_it() -> None:
    fleets = Fleets()
    client, relay = fleets.client, fleets.relays[1]
    relay.lose.add(relay.calls + 3)  # BeginRecovery, RecoverPassword, RetireRecord
    link = fleets.link()
    with pytest.raises(FleetUnavailable):
        client.recover_password(fleets.blob, "pw", migrate_to=link)
    pending = client.pending_migration
    assert pending is not None
    assert not pending.retired
    assert pending.target.epoch == 2
    assert client.epoch == 1
    # The request was delivered: epoch 1 retired the record; epoch 2 holds nothing yet.
    (old,) = fleets.records(1)
    assert old.retired
    assert fleets.records(2) == []

    calls = relay.calls
    assert client.resume_migration() == 2
    assert relay.calls == calls + 1, "the retire is asked again, and answered Retired"
    assert (client.epoch, client.registration, client.pending_migration) == (2, 1, None)
    assert len(fleets.live(2)) == 1
    assert isinstance(client.recover_password(fleets.blob, "pw"), Recovered)
    with pytest.raises(MigrationError, match="no migration"):
        client.resume_migration()


def test_a_lost_register_answer_leaves_the_migration_pending_and_resume_finishes_it() -> None:
    fleets = Fleets()
    client, old_relay, new_relay = fleets.client, fleets.relays[1], fleets.relays[2]
    new_relay.lose.add(new_relay.calls + 1)  # the registration at epoch 2
    with pytest.raises(FleetUnavailable):
        client.recover_password(fleets.blob, "pw", migrate_to=fleets.link())
    pending = client.pending_migration
    assert pending is not None
    assert pending.retired
    assert client.epoch == 1
    assert fleets.records(1)[0].retired
    assert [r.registration for r in fleets.live(2)] == [1]

    calls_old = old_relay.calls
    assert client.resume_migration() == 2
    assert old_relay.calls == calls_old, "already retired: epoch 1 is not asked again"
    assert (client.epoch, client.registration, client.pending_migration) == (2, 2, None)
    assert [r.registration for r in fleets.live(2)] == [2]
    assert isinstance(client.recover_password(fleets.blob, "pw"), Recovered)


def test_a_guess_charged_between_release_and_retire_stops_the_migration() -> None:
    fleets = Fleets()
    client, relay = fleets.client, fleets.relays[1]
    seen: list[Response] = []
    # Just before the RetireRecord goes by, the operator slips a wrong guess in.
    relay.before[relay.calls + 3] = lambda: seen.append(fleets.guess(1))
    calls_new = fleets.relays[2].calls
    with pytest.raises(MigrationError, match="did not retire"):
        client.recover_password(fleets.blob, "pw", migrate_to=fleets.link())
    assert seen == [WrongGuess(8)]
    assert client.pending_migration is None
    assert client.epoch == 1
    assert fleets.relays[2].calls == calls_new, "nothing registered at epoch 2"
    (old,) = fleets.records(1)
    assert (old.destroyed, old.retired, old.attempts) == (False, False, 2)
    assert fleets.records(2) == []
    # The user can still recover at epoch 1, and move right after that proof.
    assert isinstance(client.recover_password(fleets.blob, "pw"), Recovered)
    moved = client.recover_password(fleets.blob, "pw", migrate_to=fleets.link())
    assert isinstance(moved, Recovered)
    assert moved.migrated_to == 2
    assert fleets.records(1)[0].retired


def test_migrate_to_an_epoch_not_newer_is_refused_before_any_request() -> None:
    fleets = Fleets()
    client = fleets.client
    same = fleets.link(1)
    before = {epoch: relay.calls for epoch, relay in fleets.relays.items()}
    with pytest.raises(MigrationError, match="not newer"):
        client.recover_password(fleets.blob, "pw", migrate_to=same)
    assert {epoch: relay.calls for epoch, relay in fleets.relays.items()} == before
    # On epoch 2 already, epoch 2 is not newer either.
    target = fleets.link()
    assert isinstance(client.recover_password(fleets.blob, "pw", migrate_to=target), Recovered)
    before = {epoch: relay.calls for epoch, relay in fleets.relays.items()}
    with pytest.raises(MigrationError, match="not newer"):
        client.recover_password(fleets.blob, "pw", migrate_to=target)
    assert {epoch: relay.calls for epoch, relay in fleets.relays.items()} == before


def test_migrate_on_request_is_refused_under_the_default_policy() -> None:
    fleets = Fleets()
    before = {epoch: relay.calls for epoch, relay in fleets.relays.items()}
    with pytest.raises(MigrationError, match="after a proof"):
        fleets.client.migrate_on_request(fleets.link())
    assert {epoch: relay.calls for epoch, relay in fleets.relays.items()} == before
    assert fleets.client.epoch == 1
    assert len(fleets.live(1)) == 1
    assert fleets.records(2) == []


def test_migrate_on_server_request_moves_the_record_without_a_proof() -> None:
    fleets = Fleets(UNSAFE)
    assert fleets.client.migrate_on_request(fleets.link()) == 2
    assert fleets.client.epoch == 2
    # Nothing was charged since the enrolment: the old record is retired.
    assert fleets.records(1)[0].retired
    assert len(fleets.live(2)) == 1
    assert isinstance(fleets.client.recover_password(fleets.blob, "pw"), Recovered)


def test_migrate_on_server_request_amplifies_the_guess_budget() -> None:
    fleets = Fleets(UNSAFE)
    spent = [fleets.guess(1) for _ in range(2)]
    assert spent == [WrongGuess(9), WrongGuess(8)]
    assert fleets.client.migrate_on_request(fleets.link()) == 2
    # The retire was refused (charged since the proof), the move went ahead anyway: two
    # live records, the old one with 8 attempts left, the new one with a full budget.
    (old,) = fleets.live(1)
    assert (old.attempts, old.retired) == (2, False)
    assert [r.attempts for r in fleets.live(2)] == [0]
    assert fleets.guess(1) == WrongGuess(7)
    assert fleets.guess(2) == WrongGuess(9)


def test_migrate_on_server_request_needs_something_kept() -> None:
    fleets = Fleets(UNSAFE)
    old = fleets.link(1)
    with pytest.raises(MigrationError, match="not newer"):
        fleets.client.migrate_on_request(old)
    stranger = Client("alice", old.endpoint, old.public_key, config=UNSAFE, rng=SeededRng(8))
    with pytest.raises(MigrationError, match="nothing kept"):
        stranger.migrate_on_request(fleets.link())
    assert fleets.client.epoch == 1
    assert fleets.records(2) == []


def test_unknown_migration_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="migration policy"):
        ClientConfig(migration="whenever")  # type: ignore[arg-type]


# ------------------------------------------------------------------- the simulation

ALL_FAULTS = frozenset(ROTATION_FAULTS)
VARIANT = "migrate-on-server-request"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rotation_with_every_fault_moves_every_user(seed: int) -> None:
    config = RotationConfig(seed=seed, faults=ALL_FAULTS)
    result = run_rotation(config)
    assert result.ok, [str(v) for v in result.violations]
    assert result.violations == []
    assert result.reproducer == ""
    assert result.stats["users on the newest epoch"] == config.users
    assert result.stats["migrated after proof"] >= 1
    assert result.stats["server migration requests ignored"] >= config.users
    assert result.stats["migrated on server request"] == 0


def test_the_unsafe_variant_breaks_the_guess_budget_and_its_reproducer_replays_it() -> None:
    config = RotationConfig(seed=1, faults=ALL_FAULTS, variant=VARIANT)
    result = run_rotation(config)
    assert not result.ok
    first = result.violations[0]
    assert first.invariant == "I5 guess-budget"
    assert str(first).startswith(f"I5 guess-budget at step {first.step}")
    assert result.stats["migrated on server request"] >= 1
    assert result.reproducer.startswith("vaultbench rotate --seed 1 ")
    assert f"--steps {first.step}" in result.reproducer
    assert f"--deploy-at {config.deployment_step}" in result.reproducer
    assert f"--variant {VARIANT}" in result.reproducer
    assert result.reproducer.endswith("--trace")

    replay = RotationConfig(
        seed=1,
        steps=first.step,
        faults=ALL_FAULTS,
        variant=VARIANT,
        deploy_at=config.deployment_step,
    )
    again = run_rotation(replay)
    assert not again.ok
    assert again.violations[0].invariant == "I5 guess-budget"
    assert again.violations[0].step == first.step


def test_two_runs_of_one_config_give_the_same_trace() -> None:
    config = RotationConfig(seed=2, steps=60, faults=ALL_FAULTS)
    first: list[str] = []
    second: list[str] = []
    one, two = run_rotation(config, first.append), run_rotation(config, second.append)
    assert first == second
    assert len(first) > 60
    assert one.stats == two.stats
    assert any("deploy epoch 2" in line for line in first)
    assert run_rotation(RotationConfig(seed=3, steps=60, faults=ALL_FAULTS)).stats != one.stats


@pytest.mark.parametrize(
    "bad",
    [
        {"faults": frozenset({"bogus"})},
        {"variant": "never-migrate"},
        {"deploy_at": 121},
        {"deploy_at": -1},
        {"steps": 0},
        {"users": 0},
    ],
)
def test_a_bad_rotation_config_is_a_config_error(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        RotationConfig(**bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ CLI


def test_cli_rotate_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rotate", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "users on the newest epoch" in out
    assert "VIOLATED" not in out


def test_cli_rotate_variant_fails_with_a_reproducer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rotate", "--seed", "2", "--variant", VARIANT]) == 1
    out = capsys.readouterr().out
    assert "reproduce with: vaultbench rotate" in out
    assert "I5 guess-budget" in out
    # The printed reproducer, run as printed, fails again.
    line = next(text for text in out.splitlines() if "reproduce with:" in text)
    argv = line.split("reproduce with: vaultbench ", 1)[1].split()
    assert main(argv) == 1
    assert "I5 guess-budget" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["rotate", "--faults", "bogus"],
        ["rotate", "--variant", "bogus"],
        ["rotate", "--steps", "0"],
        ["rotate", "--steps", "10", "--deploy-at", "11"],
    ],
)
def test_cli_rotate_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err


def test_a_record_proved_with_its_last_attempt_may_still_move() -> None:
    # Found by the budget conformance machine: a record whose last attempt was the user's
    # right guess is spent, but proved; retiring it (to move it to a newer fleet) must
    # not destroy it, or the migration right after a proof loses the record.
    box = _Hsm(max_attempts=2)
    client = box.client()
    enrollment = client.enroll_password("pw")
    blob = client.backup(enrollment, b"chats")
    assert client.recover_password(blob, "wrong") == WrongGuess(1)
    assert isinstance(client.recover_password(blob, "pw"), Recovered)
    proof = retire_proof(enrollment.root_key)
    assert box.send(RetireRecord("alice", 1, 2, proof)) == Retired()
    assert box.view() == RecordView("alice", Method.PASSWORD, 1, 2, True, True)
