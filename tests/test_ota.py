"""Fleet keys over the air: the client learns the fleet from its bundle and checks every
answer's frame (impl.ota) against a simulated fleet deployed by the ceremony."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from impl.auditlog import AuditLog
from impl.bundle import (
    ClientTrust,
    EpochRollback,
    MemoryEpochStore,
    UnknownReplica,
    encode_bundle,
)
from impl.ceremony import (
    LOG_ORIGIN,
    Deployment,
    Parties,
    client_trust,
    deploy_epochs,
    run_ceremony,
)
from impl.client import Client, ClientConfig, Recovered, WrongGuess
from impl.consensus import ConsensusConfig
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.errors import BundleError
from impl.ota import OtaEndpoint, ReplicaSignatureInvalid, ResponseFrame, decode_frame
from impl.sim.world import World

PARTIES = Parties.from_seed(4)


FIRST, SECOND = deploy_epochs(PARTIES, 2, seed=4)


def _trust() -> ClientTrust:
    return client_trust(PARTIES, 2)


def _world(deployment: Deployment) -> World:
    world = World(
        5,
        ConsensusConfig(),
        keys=deployment.hsm_keys,
        bundle=encode_bundle(deployment.bundle),
    )
    assert world.settle()
    return world


def _client(endpoint: OtaEndpoint) -> Client:
    config = ClientConfig(argon2=Argon2Params.FAST)
    return Client("alice", endpoint, endpoint.fleet_public_key, config=config, rng=SeededRng(7))


def test_a_client_with_no_fleet_key_learns_it_over_the_air_and_recovers() -> None:
    world = _world(FIRST)
    epochs = MemoryEpochStore()
    endpoint = OtaEndpoint(world.hello, world.endpoint, _trust(), epochs)
    accepted = endpoint.connect()
    assert accepted.epoch == 1
    assert epochs.highest() == 1
    client = _client(endpoint)
    blob = client.backup(client.enroll_password("pw"), b"chats")
    assert client.recover_password(blob, "no") == WrongGuess(9)
    assert isinstance(client.recover_password(blob, "pw"), Recovered)


def _tampering(
    world: World, change: Callable[[ResponseFrame], ResponseFrame]
) -> Callable[[bytes], bytes]:
    def transport(sealed: bytes) -> bytes:
        return change(decode_frame(world.endpoint(sealed))).encode()

    return transport


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            lambda f: ResponseFrame(f.bundle, f.replica, bytes(64), f.answer),
            ReplicaSignatureInvalid,
        ),
        (lambda f: ResponseFrame(f.bundle, 9, f.signature, f.answer), UnknownReplica),
        (
            lambda f: ResponseFrame(f.bundle, (f.replica + 1) % 5, f.signature, f.answer),
            ReplicaSignatureInvalid,
        ),
        (
            # epoch 2's bundle with epoch 1's replica signature: the bundle verifies (a
            # rotation) but the answer is not signed by a replica of that fleet.
            lambda f: ResponseFrame(encode_bundle(SECOND.bundle), f.replica, f.signature, f.answer),
            ReplicaSignatureInvalid,
        ),
        (
            lambda f: ResponseFrame(f.bundle, f.replica, f.signature, f.answer + b"x"),
            ReplicaSignatureInvalid,
        ),
    ],
)
def test_a_frame_that_does_not_check_out_is_refused_and_changes_nothing(
    change: Callable[[ResponseFrame], ResponseFrame], error: type[BundleError]
) -> None:
    world = _world(FIRST)
    epochs = MemoryEpochStore()
    endpoint = OtaEndpoint(world.hello, _tampering(world, change), _trust(), epochs)
    endpoint.connect()
    with pytest.raises(error):
        _client(endpoint).enroll_password("pw")
    assert epochs.highest() == 1
    assert endpoint.fleet.epoch == 1


def test_a_newer_bundle_in_a_frame_is_a_rotation_an_older_one_a_rollback() -> None:
    old, new = _world(FIRST), _world(SECOND)
    epochs = MemoryEpochStore()
    endpoint = OtaEndpoint(old.hello, new.endpoint, _trust(), epochs)
    endpoint.connect()
    # The new fleet answers with its own bundle, epoch 2: the client moves forward.
    client = Client(
        "alice",
        endpoint,
        new.fleet_public_key,
        config=ClientConfig(argon2=Argon2Params.FAST),
        rng=SeededRng(8),
    )
    client.enroll_password("pw")
    assert endpoint.fleet.epoch == 2
    assert epochs.highest() == 2
    # Back to epoch 1: refused as a rollback, whoever serves it.
    again = OtaEndpoint(old.hello, old.endpoint, _trust(), epochs)
    with pytest.raises(EpochRollback):
        again.connect()
    assert epochs.highest() == 2


def test_a_bundle_from_another_witness_is_refused() -> None:
    stranger = Parties.from_seed(99)
    log = AuditLog(LOG_ORIGIN, stranger.witness)
    rogue = run_ceremony(stranger, log, epoch=1, replicas=5, seed=99)
    world = _world(rogue)
    endpoint = OtaEndpoint(world.hello, world.endpoint, _trust(), MemoryEpochStore())
    with pytest.raises(BundleError):
        endpoint.connect()


def test_every_truncation_and_extension_of_a_frame_is_a_typed_error() -> None:
    from impl.ota import FrameFormatError

    frame = ResponseFrame(b"bundle", 3, bytes(64), b"answer").encode()
    assert decode_frame(frame) == ResponseFrame(b"bundle", 3, bytes(64), b"answer")
    for cut in range(len(frame)):
        with pytest.raises(FrameFormatError):
            decode_frame(frame[:cut])
    with pytest.raises(FrameFormatError, match="trailing"):
        decode_frame(frame + b"\x00")
    with pytest.raises(FrameFormatError, match="version"):
        decode_frame(b"\x02" + frame[1:])
