"""Fleet keys pinned in the app (WhatsApp's mode): the client checks every answer's frame
(impl.ota.PinnedEndpoint) against the fleet-key file it ships with, against a simulated
fleet deployed by the ceremony.

PinnedFleet.from_file's refusals of a minority quorum, another namespace and a
non-canonical file are in tests/test_bundle.py; only inputs that are not a file at all
are added here."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from impl.bundle import (
    PinnedFleet,
    UnknownReplica,
    encode_bundle,
    make_bundle,
)
from impl.ceremony import Deployment, Parties, deploy_epochs, deployed_at
from impl.client import Client, ClientConfig, Recovered, WrongGuess
from impl.consensus import ConsensusConfig
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.errors import BundleError, ConfigError, FleetKeyFileError
from impl.fleetkeys import (
    MAX_FILE_BYTES,
    FleetKeyFileNotJson,
    FleetKeyFileTooLarge,
    encode_fleet_key_file,
)
from impl.ota import (
    FleetNotPinned,
    PinnedEndpoint,
    ReplicaSignatureInvalid,
    ResponseFrame,
    decode_frame,
)
from impl.sim.world import World

PARTIES = Parties.from_seed(5)


FIRST, SECOND = deploy_epochs(PARTIES, 2, seed=5)


def _pinned(deployment: Deployment) -> PinnedFleet:
    """What the app ships: the deployment's fleet-key file, as bytes."""
    return PinnedFleet.from_file(encode_fleet_key_file(deployment.file))


def _world(deployment: Deployment, bundle: bytes | None = None) -> World:
    world = World(
        5,
        ConsensusConfig(),
        keys=deployment.hsm_keys,
        bundle=encode_bundle(deployment.bundle) if bundle is None else bundle,
    )
    assert world.settle()
    return world


def _client(endpoint: PinnedEndpoint, user: str = "alice") -> Client:
    config = ClientConfig(argon2=Argon2Params.FAST)
    return Client(user, endpoint, endpoint.fleet_public_key, config=config, rng=SeededRng(7))


def _enroll_and_recover(client: Client) -> None:
    blob = client.backup(client.enroll_password("pw"), b"chats")
    assert client.recover_password(blob, "no") == WrongGuess(9)
    assert isinstance(client.recover_password(blob, "pw"), Recovered)


def test_a_client_with_the_pinned_file_enrolls_and_recovers() -> None:
    world = _world(FIRST)
    endpoint = PinnedEndpoint(world.endpoint, _pinned(FIRST))
    assert endpoint.fleet.epoch == 1
    assert endpoint.fleet.file == FIRST.file
    assert endpoint.fleet_public_key == FIRST.file.session_key == world.fleet_public_key
    assert repr(endpoint) == "PinnedEndpoint(epoch 1)"
    _enroll_and_recover(_client(endpoint))


def test_an_app_pinning_epoch_1_refuses_the_epoch_2_fleet() -> None:
    new = _world(SECOND)
    endpoint = PinnedEndpoint(new.endpoint, _pinned(FIRST))
    # Seal to the new fleet's key, so that it answers at all (the simulated replicas raise
    # on a request sealed to another fleet's key): its answer, in a frame carrying the
    # epoch-2 file, is refused all the same.
    client = Client(
        "alice",
        endpoint,
        new.fleet_public_key,
        config=ClientConfig(argon2=Argon2Params.FAST),
        rng=SeededRng(7),
    )
    with pytest.raises(FleetNotPinned, match="app update"):
        client.enroll_password("pw")
    # The updated app, pinning epoch 2, talks to it.
    _enroll_and_recover(_client(PinnedEndpoint(new.endpoint, _pinned(SECOND)), "bob"))


def test_pinned_mode_does_not_check_the_bundles_signatures() -> None:
    # The pinned file in a bundle signed by a witness and an operator nobody pins: the
    # trust is in the app build, so the answer is accepted all the same.
    stranger = Parties.from_seed(99)
    timestamp_ms = int(deployed_at(1).timestamp() * 1000)
    rogue = make_bundle(FIRST.file, stranger.witness, stranger.operator, timestamp_ms)
    world = _world(FIRST, bundle=encode_bundle(rogue))
    _enroll_and_recover(_client(PinnedEndpoint(world.endpoint, _pinned(FIRST))))


def _tampering_once(
    world: World, change: Callable[[ResponseFrame], ResponseFrame]
) -> Callable[[bytes], bytes]:
    calls = 0

    def transport(sealed: bytes) -> bytes:
        nonlocal calls
        calls += 1
        frame = world.endpoint(sealed)
        return change(decode_frame(frame)).encode() if calls == 1 else frame

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
            lambda f: ResponseFrame(f.bundle, f.replica, f.signature, f.answer + b"x"),
            ReplicaSignatureInvalid,
        ),
        (
            # Epoch 2's (validly signed) bundle around epoch 1's answer: not the pinned file.
            lambda f: ResponseFrame(encode_bundle(SECOND.bundle), f.replica, f.signature, f.answer),
            FleetNotPinned,
        ),
    ],
    ids=["zeroed-signature", "unknown-replica", "other-replica", "answer-changed", "epoch-2"],
)
def test_a_frame_that_does_not_check_out_is_refused_and_changes_nothing(
    change: Callable[[ResponseFrame], ResponseFrame], error: type[BundleError]
) -> None:
    world = _world(FIRST)
    pinned = _pinned(FIRST)
    endpoint = PinnedEndpoint(_tampering_once(world, change), pinned)
    with pytest.raises(error):
        _client(endpoint).enroll_password("pw")
    # Nothing was recorded: the same endpoint serves the next, untouched, frames.
    assert endpoint.fleet is pinned
    _enroll_and_recover(_client(endpoint, "bob"))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", FleetKeyFileNotJson),
        (b"garbage", FleetKeyFileNotJson),
        (b"\xff\xfe{}", FleetKeyFileNotJson),
        (b" " * (MAX_FILE_BYTES + 1), FleetKeyFileTooLarge),
    ],
    ids=["empty", "not-json", "not-utf8", "too-large"],
)
def test_the_app_refuses_to_pin_bytes_that_are_not_a_file(
    data: bytes, error: type[FleetKeyFileError]
) -> None:
    with pytest.raises(error):
        PinnedFleet.from_file(data)


def test_the_endpoint_wants_a_pinned_fleet() -> None:
    with pytest.raises(ConfigError):
        PinnedEndpoint(lambda sealed: sealed, FIRST.file)  # type: ignore[arg-type]
