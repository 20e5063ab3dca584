"""The unsafe ``ota`` clients of ``impl.bundle.IMPL_BUNDLE_VARIANTS`` (and its combination):
each breaks exactly one check of ``verify_bundle``. Each accepts its attack bundle
(``vaultbench.mutants``'s ``bundle-attack`` detector), which the baseline client refuses
with the check's error; every other client of the same protocol refuses it too. Client
attestation is on throughout."""

from __future__ import annotations

import dataclasses

import pytest

from impl.bundle import (
    IMPL_BUNDLE_COMBINATIONS,
    IMPL_BUNDLE_VARIANTS,
    AcceptedFleet,
    ClientTrust,
    ConfigurationRejected,
    CounterSignatureInvalid,
    DigestMismatch,
    EpochMismatch,
    EpochRollback,
    MemoryEpochStore,
    make_bundle,
    verify_bundle,
)
from impl.errors import BundleError, ConfigError
from impl.fleetkeys import digest
from model.bundles import BUNDLE_COMBINATIONS, BUNDLE_VARIANT_NAMES
from vaultbench.mutants import ATTACKED_VARIANTS, BundleAttack, bundle_attack, run_bundle_attack

#: Every unsafe client: the single variants and the combinations.
CLIENTS = (*IMPL_BUNDLE_VARIANTS, *IMPL_BUNDLE_COMBINATIONS)
COMBINED = "countersign-file-not-signature+no-file-epoch-check"

REFUSAL: dict[str, type[BundleError]] = {
    "accept-one-signature": CounterSignatureInvalid,
    "no-epoch-check": EpochRollback,
    "no-file-epoch-check": EpochMismatch,
    "no-digest-check": DigestMismatch,
    "skip-config-check": ConfigurationRejected,
    COMBINED: EpochMismatch,
}


@pytest.fixture(scope="module")
def attacks() -> dict[str, BundleAttack]:
    return {variant: bundle_attack(variant) for variant in ATTACKED_VARIANTS}


def test_the_impl_variants_mirror_the_model_catalogue() -> None:
    assert set(REFUSAL) == set(ATTACKED_VARIANTS)
    # Every I4/I7 bundle variant of the model has a client, and so does each combination.
    assert set(BUNDLE_VARIANT_NAMES) - set(IMPL_BUNDLE_VARIANTS) == {
        "no-client-attestation",  # the impl's client_attestation=False
    }
    assert IMPL_BUNDLE_COMBINATIONS == BUNDLE_COMBINATIONS
    # Only the equivalent mutant has no attack of its own.
    assert set(CLIENTS) - set(ATTACKED_VARIANTS) == {"countersign-file-not-signature"}


@pytest.mark.parametrize("variant", ATTACKED_VARIANTS)
def test_the_variant_accepts_its_attack_and_the_safe_client_refuses_it(
    variant: str, attacks: dict[str, BundleAttack]
) -> None:
    attack = attacks[variant]
    assert attack.trust.client_attestation
    assert attack.trust.variant is None
    safe = run_bundle_attack(attack, attack.baseline)
    assert type(safe) is REFUSAL[variant], safe
    assert attack.refusal == REFUSAL[variant].__name__
    accepted = run_bundle_attack(attack, variant)
    assert isinstance(accepted, AcceptedFleet), accepted
    assert accepted.digest == digest(attack.bundle.file_bytes)


def _counter_signs_files(variant: str) -> bool:
    return "countersign-file-not-signature" in variant.split("+")


@pytest.mark.parametrize("variant", CLIENTS)
def test_each_variant_skips_exactly_its_own_check(
    variant: str, attacks: dict[str, BundleAttack]
) -> None:
    rules = set(variant.split("+"))
    for name, attack in attacks.items():
        if _counter_signs_files(variant) != _counter_signs_files(name) and (
            "accept-one-signature" not in rules
        ):
            # The other protocol's genuine history already fails the counter-signature.
            with pytest.raises(CounterSignatureInvalid):
                run_bundle_attack(attack, variant)
            continue
        outcome = run_bundle_attack(attack, variant)
        if set(name.split("+")) <= rules:
            assert isinstance(outcome, AcceptedFleet), (variant, name, outcome)
        else:  # another check's attack: refused as by the baseline client
            assert type(outcome) is REFUSAL[name], (variant, name, outcome)


def test_the_file_counter_signature_protocol_is_its_own(attacks: dict[str, BundleAttack]) -> None:
    """An operator that counter-signs the file's digest makes bundles only the
    ``countersign-file-not-signature`` clients accept, and the other way round."""
    from impl.ceremony import Parties

    attack = attacks["no-epoch-check"]
    genuine = attack.history[0]
    parties = Parties.from_seed(41)
    over_file = dataclasses.replace(
        genuine, counter_signature=parties.operator.sign(digest(genuine.file_bytes))
    )
    file_client = dataclasses.replace(attack.trust, variant="countersign-file-not-signature")
    assert verify_bundle(over_file, file_client, MemoryEpochStore()).epoch == 1
    assert verify_bundle(genuine, attack.trust, MemoryEpochStore()).epoch == 1
    for bundle, trust in ((over_file, attack.trust), (genuine, file_client)):
        epochs = MemoryEpochStore()
        with pytest.raises(CounterSignatureInvalid):
            verify_bundle(bundle, trust, epochs)
        assert epochs.highest() == 0


def test_make_bundle_counter_signs_what_it_is_told(attacks: dict[str, BundleAttack]) -> None:
    from impl.ceremony import Parties
    from impl.fleetkeys import decode_fleet_key_file

    parties = Parties.from_seed(41)
    genuine = attacks["no-epoch-check"].history[0]
    file = decode_fleet_key_file(genuine.file_bytes)
    made = make_bundle(
        file, parties.witness, parties.operator, 1, genuine.chains, counter_signs="file-digest"
    )
    parties.operator.public_key().verify(made.counter_signature, digest(made.file_bytes))
    default = make_bundle(file, parties.witness, parties.operator, 1, genuine.chains)
    parties.operator.public_key().verify(default.counter_signature, default.witness_signature)
    with pytest.raises(ConfigError, match="counter_signs"):
        make_bundle(file, parties.witness, parties.operator, 1, counter_signs="file")  # type: ignore[arg-type]


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
    mixed = run_bundle_attack(attacks[COMBINED], COMBINED)
    assert isinstance(mixed, AcceptedFleet)
    # A statement of epoch 2 over epoch 1's file: the witness chose it, the log lacks it.
    assert (mixed.statement.epoch, mixed.epoch) == (2, 1)


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
    "variant",
    [
        "no-file-epoch-check+countersign-file-not-signature",
        "no-client-attestation",
        "",
        "NO-EPOCH-CHECK",
    ],
)
def test_an_unknown_variant_is_a_config_error(
    variant: str, attacks: dict[str, BundleAttack]
) -> None:
    trust = attacks["no-epoch-check"].trust
    with pytest.raises(ConfigError, match="client variant"):
        ClientTrust(trust.witness_keys, trust.operator_key, variant=variant)


def test_the_equivalent_mutant_has_no_attack_of_its_own() -> None:
    with pytest.raises(ValueError, match="no bundle attack"):
        bundle_attack("countersign-file-not-signature")
