"""The unsafe ``ota`` clients of ``impl.bundle.IMPL_BUNDLE_VARIANTS``: each skips exactly one
check of ``verify_bundle``. Each accepts its attack bundle (``vaultbench.mutants``'s
``bundle-attack`` detector), which the safe client refuses with the check's error; every
other client refuses it too. Client attestation is on throughout."""

from __future__ import annotations

import dataclasses

import pytest

from impl.bundle import (
    IMPL_BUNDLE_VARIANTS,
    AcceptedFleet,
    ClientTrust,
    ConfigurationRejected,
    CounterSignatureInvalid,
    DigestMismatch,
    EpochMismatch,
    EpochRollback,
    MemoryEpochStore,
    verify_bundle,
)
from impl.errors import BundleError, ConfigError
from impl.fleetkeys import digest
from model.bundles import BUNDLE_VARIANT_NAMES
from vaultbench.mutants import BundleAttack, bundle_attack, run_bundle_attack

REFUSAL: dict[str, type[BundleError]] = {
    "accept-one-signature": CounterSignatureInvalid,
    "no-epoch-check": EpochRollback,
    "no-file-epoch-check": EpochMismatch,
    "no-digest-check": DigestMismatch,
    "skip-config-check": ConfigurationRejected,
}


@pytest.fixture(scope="module")
def attacks() -> dict[str, BundleAttack]:
    return {variant: bundle_attack(variant) for variant in IMPL_BUNDLE_VARIANTS}


def test_the_impl_variants_mirror_the_model_catalogue() -> None:
    assert set(REFUSAL) == set(IMPL_BUNDLE_VARIANTS)
    # Every I4/I7 bundle variant of the model but the equivalent mutant has a client.
    assert set(BUNDLE_VARIANT_NAMES) - set(IMPL_BUNDLE_VARIANTS) == {
        "countersign-file-not-signature",
        "no-client-attestation",  # the impl's client_attestation=False
    }


@pytest.mark.parametrize("variant", IMPL_BUNDLE_VARIANTS)
def test_the_variant_accepts_its_attack_and_the_safe_client_refuses_it(
    variant: str, attacks: dict[str, BundleAttack]
) -> None:
    attack = attacks[variant]
    assert attack.trust.client_attestation
    assert attack.trust.variant is None
    safe = run_bundle_attack(attack, None)
    assert type(safe) is REFUSAL[variant], safe
    assert attack.refusal == REFUSAL[variant].__name__
    accepted = run_bundle_attack(attack, variant)
    assert isinstance(accepted, AcceptedFleet), accepted
    assert accepted.digest == digest(attack.bundle.file_bytes)


@pytest.mark.parametrize("variant", IMPL_BUNDLE_VARIANTS)
def test_each_variant_skips_exactly_its_own_check(
    variant: str, attacks: dict[str, BundleAttack]
) -> None:
    for name, attack in attacks.items():
        outcome = run_bundle_attack(attack, variant)
        if name == variant:
            assert isinstance(outcome, AcceptedFleet)
        else:  # another check's attack: refused as by the safe client
            assert type(outcome) is REFUSAL[name], (variant, name, outcome)


def test_what_each_accepted_attack_gives_the_attacker(attacks: dict[str, BundleAttack]) -> None:
    one = run_bundle_attack(attacks["accept-one-signature"], "accept-one-signature")
    assert isinstance(one, AcceptedFleet)
    assert one.epoch == 3  # an epoch the witness alone made up
    rollback = run_bundle_attack(attacks["no-epoch-check"], "no-epoch-check")
    assert isinstance(rollback, AcceptedFleet)
    assert rollback.epoch == 1  # below the accepted epoch 2
    relabelled = run_bundle_attack(attacks["no-file-epoch-check"], "no-file-epoch-check")
    assert isinstance(relabelled, AcceptedFleet)
    assert (relabelled.statement.epoch, relabelled.epoch) == (3, 2)
    substituted = run_bundle_attack(attacks["no-digest-check"], "no-digest-check")
    assert isinstance(substituted, AcceptedFleet)
    assert substituted.statement.digest != substituted.digest
    minority = run_bundle_attack(attacks["skip-config-check"], "skip-config-check")
    assert isinstance(minority, AcceptedFleet)
    assert (minority.file.quorum, minority.file.replica_count) == (1, 5)


def test_the_rollback_variant_does_not_lower_the_store(attacks: dict[str, BundleAttack]) -> None:
    attack = attacks["no-epoch-check"]
    trust = dataclasses.replace(attack.trust, variant="no-epoch-check")
    epochs = MemoryEpochStore()
    for genuine in attack.history:
        verify_bundle(genuine, trust, epochs)
    assert verify_bundle(attack.bundle, trust, epochs).epoch == 1
    assert epochs.highest() == 2


def test_a_refused_attack_leaves_the_store_as_it_was(attacks: dict[str, BundleAttack]) -> None:
    attack = attacks["no-file-epoch-check"]
    epochs = MemoryEpochStore()
    for genuine in attack.history:
        verify_bundle(genuine, attack.trust, epochs)
    with pytest.raises(EpochMismatch):
        verify_bundle(attack.bundle, attack.trust, epochs)
    assert epochs.highest() == 2


@pytest.mark.parametrize(
    "variant", ["countersign-file-not-signature", "no-client-attestation", "", "NO-EPOCH-CHECK"]
)
def test_an_unknown_variant_is_a_config_error(
    variant: str, attacks: dict[str, BundleAttack]
) -> None:
    trust = attacks["no-epoch-check"].trust
    with pytest.raises(ConfigError, match="client variant"):
        ClientTrust(trust.witness_keys, trust.operator_key, variant=variant)


def test_no_attack_for_a_variant_without_a_client() -> None:
    with pytest.raises(ValueError, match="no bundle attack"):
        bundle_attack("countersign-file-not-signature")
