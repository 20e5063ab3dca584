"""The client's bundle verifier (impl) against the model's acceptance predicate.

For states reached by seeded walks of ``model.bundles`` (every witness policy, client
attestation on and off, each corrupted party), every bundle the model can name is built
for real: the file ``f`` (the ceremony's, a rogue one, or the ceremony's keys under a
minority quorum), a statement for epoch ``e`` and the digest of file ``d`` (so every
mix-and-match of epochs and files), a witness signature that is the witness's exactly when
the model says it exists (otherwise the attacker's), a counter-signature likewise, and
vendor attestation chains that are the vendor's exactly when the model says the keys are
attested (otherwise a fake vendor's). ``impl.bundle.verify_bundle`` must accept exactly
the bundles ``model.bundles.accepts`` accepts, for every client's highest epoch.
"""

from __future__ import annotations

import datetime as dt
import random
from functools import cache

import pytest

from impl.attestation import VendorAttestationVerifier, attest_fleet, fleet_key_entries
from impl.bundle import ClientTrust, MemoryEpochStore, ValidationBundle, verify_bundle
from impl.crypto.ed25519 import SigningKey
from impl.crypto.symmetric import SeededRng
from impl.crypto.x509 import VendorCA
from impl.errors import BundleError
from impl.fleetkeys import FleetKeyFile, ReplicaKey, digest, encode_fleet_key_file
from impl.hsm import HsmConfig
from impl.replica import provision_fleet
from impl.statement import (
    CIPHERSUITE_ED25519_PROTOBUF,
    DEFAULT_NAMESPACE,
    SignatureMessage,
    key_id,
    sign_statement,
)
from model.bundles import (
    MINORITY,
    PARTIES,
    POLICIES,
    ROGUE,
    BundleConfig,
    BundleState,
    accepts,
    attested,
    enabled,
    file_epoch,
    file_kind,
    initial,
    known,
)

AT = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
FIRMWARE = bytes(range(32))
WITNESS = SigningKey.generate(SeededRng(1))
OPERATOR = SigningKey.generate(SeededRng(2))
ATTACKER = SigningKey.generate(SeededRng(3))
VENDOR = VendorCA.generate(SeededRng(4), "Vendor Root", AT, AT + dt.timedelta(days=365))
FAKE_VENDOR = VendorCA.generate(SeededRng(5), "Vendor Root", AT, AT + dt.timedelta(days=365))


@cache
def _file(f: int) -> FleetKeyFile:
    """The concrete file for model file id ``f`` (3 replicas)."""
    epoch, kind = file_epoch(f), file_kind(f)
    # The ceremony's keys of an epoch (also in its minority file), or the attacker's.
    seed = 100 * epoch + (1 if kind == ROGUE else 0)
    _, keys = provision_fleet(3, HsmConfig(), SeededRng(seed))
    return FleetKeyFile(
        fleet_id=f"fleet-{epoch}-{'rogue' if kind == ROGUE else 'real'}",
        epoch=epoch,
        firmware=FIRMWARE,
        quorum=1 if kind == MINORITY else 2,
        session_key=keys[0].fleet_keypair.public_key(),
        replicas=tuple(ReplicaKey(i, f"dc{i}", keys[i].signing_key.public_key()) for i in range(3)),
    )


@cache
def _chains(f: int, genuine: bool) -> tuple[tuple[str, bytes], ...]:
    ca = VENDOR if genuine else FAKE_VENDOR
    chains = attest_fleet(
        SeededRng(f), ca, fleet_key_entries(_file(f)), FIRMWARE, AT, AT + dt.timedelta(days=30)
    )
    return tuple(sorted(chains.items()))


@cache
def _bundle(e: int, d: int, f: int, wsig: bool, osig: bool, genuine: bool) -> ValidationBundle:
    statement = SignatureMessage(
        CIPHERSUITE_ED25519_PROTOBUF,
        DEFAULT_NAMESPACE,
        1_770_000_000_000,
        e,
        digest(encode_fleet_key_file(_file(d))),
    )
    witness_signature = sign_statement(statement, WITNESS if wsig else ATTACKER)
    return ValidationBundle(
        file_bytes=encode_fleet_key_file(_file(f)),
        statement=statement,
        witness_signature=witness_signature,
        key_id=key_id(WITNESS.public_key()),
        counter_signature=(OPERATOR if osig else ATTACKER).sign(witness_signature),
        chains=dict(_chains(f, genuine)),
    )


def _states(config: BundleConfig, walks: int = 12, depth: int = 9) -> list[BundleState]:
    chooser = random.Random(f"{config}")
    found: dict[BundleState, None] = {}
    for _ in range(walks):
        state = initial(config)
        for _ in range(depth):
            found.setdefault(state, None)
            successors = list(enabled(state, config))
            if not successors:
                break
            state = chooser.choice(successors)[1]
        found.setdefault(state, None)
    return list(found)


@cache
def _verdict(
    e: int, d: int, f: int, wsig: bool, osig: bool, genuine: bool, high: int, attestation: bool
) -> bool:
    """The impl's verdict; a bundle's verdict depends only on these, so it is computed once."""
    return _impl_accepts(_bundle(e, d, f, wsig, osig, genuine), high, attestation)


def _impl_accepts(bundle: ValidationBundle, high: int, attestation: bool) -> bool:
    trust = ClientTrust(
        witness_keys={key_id(WITNESS.public_key()): WITNESS.public_key()},
        operator_key=OPERATOR.public_key(),
        client_attestation=attestation,
        attestation_verifier=VendorAttestationVerifier(
            VENDOR.root_der(), frozenset({FIRMWARE}), AT
        ),
    )
    epochs = MemoryEpochStore()
    if high:
        epochs.accept(high)
    try:
        verify_bundle(bundle, trust, epochs)
    except BundleError:
        assert epochs.highest() == high  # a refused bundle records nothing
        return False
    return True


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("attestation", [True, False])
@pytest.mark.parametrize("corrupted", PARTIES)
def test_the_client_accepts_exactly_what_the_model_accepts(
    policy: str, attestation: bool, corrupted: str
) -> None:
    config = BundleConfig(
        policy=policy,  # type: ignore[arg-type]
        client_attestation=attestation,
        corrupted=corrupted,  # type: ignore[arg-type]
    )
    compared = accepted = 0
    for state in _states(config):
        for client in range(config.clients):
            high = state.high[client]
            for e in range(1, config.epochs + 1):
                for d in range(1, config.files + 1):
                    for f in range(1, config.files + 1):
                        if not known(state, f):
                            continue  # the attacker cannot even write this file down
                        expected = accepts(state, config, client, e, d, f)
                        found = _verdict(
                            e,
                            d,
                            f,
                            state.wsig[e - 1][d - 1],
                            state.osig[e - 1][d - 1],
                            attested(state, f),
                            high,
                            config.checks_attestation,
                        )
                        assert found == expected, (
                            f"client {client} (highest {high}), epoch {e}, digest of file "
                            f"{d}, file {f}: impl {found}, model {expected}; state {state}"
                        )
                        compared += 1
                        accepted += found
    assert compared > 0
    # Not vacuous: some bundle is accepted in every setting (the ceremony's own).
    assert accepted > 0
