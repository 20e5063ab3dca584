"""The validation bundle: strict encoding, the client's checks in order, no state change on
refusal, mix-and-match across epochs and fleets, rollback, the persisted epoch store."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl.bundle import (
    AcceptedFleet,
    AttestationRejected,
    BundleFormatError,
    ClientTrust,
    ConfigurationRejected,
    CounterSignatureInvalid,
    DigestMismatch,
    EpochMismatch,
    EpochRollback,
    EpochStoreCorrupt,
    FileEpochStore,
    MemoryEpochStore,
    NamespaceMismatch,
    NoAttestationVerifier,
    PinnedFleet,
    UnknownReplica,
    UnknownWitness,
    ValidationBundle,
    WitnessSignatureInvalid,
    decode_bundle,
    encode_bundle,
    make_bundle,
    verify_bundle,
)
from impl.crypto.ed25519 import SigningKey, VerifyKey
from impl.crypto.hpke import FleetKeyPair, KemChoice
from impl.crypto.symmetric import SeededRng
from impl.errors import AttestationError, BundleError, ConfigError, FleetKeyFileError, StoreError
from impl.fleetkeys import FleetKeyFile, ReplicaKey, encode_fleet_key_file
from impl.statement import (
    CIPHERSUITE_ED25519_PROTOBUF,
    DEFAULT_NAMESPACE,
    SignatureMessage,
    key_id,
    sign_statement,
)

DATACENTERS = ("prn", "lla", "odn", "cln", "ftw")
T0 = 1_767_225_600_000


def _key(name: str) -> SigningKey:
    return SigningKey.generate(SeededRng(f"bundle-test/{name}".encode()))


WITNESS = _key("witness")
WITNESS_2 = _key("witness-2")
OPERATOR = _key("operator")
OTHER_OPERATOR = _key("other-operator")


def make_fleet(
    epoch: int = 1,
    replicas: int = 3,
    quorum: int = 2,
    *,
    seed: str = "fleet-a",
    namespace: str = DEFAULT_NAMESPACE,
) -> FleetKeyFile:
    return FleetKeyFile(
        fleet_id=seed,
        epoch=epoch,
        firmware=hashlib.sha256(f"{seed}/firmware".encode()).digest(),
        quorum=quorum,
        session_key=FleetKeyPair.generate(
            KemChoice.X25519, SeededRng(f"{seed}/{epoch}/session".encode())
        ).public_key(),
        replicas=tuple(
            ReplicaKey(
                i,
                DATACENTERS[i % len(DATACENTERS)],
                SigningKey.generate(SeededRng(f"{seed}/{epoch}/replica/{i}".encode())).public_key(),
            )
            for i in range(replicas)
        ),
        namespace=namespace,
    )


def _expected_chain(file: FleetKeyFile, label: str) -> bytes:
    key = (
        file.session_key.public_bytes()
        if label == "session-hpke"
        else file.replicas[int(label.rsplit("/", 1)[1])].key.raw()
    )
    return b"attested:" + hashlib.sha256(label.encode() + key + file.firmware).digest()


def chains_for(file: FleetKeyFile) -> dict[str, bytes]:
    return {label: _expected_chain(file, label) for label in file.key_labels()}


class HashAttestation:
    """A stand-in for the X.509 verifier: every key must carry the chain that binds its
    label, its bytes and the firmware measurement."""

    def verify(self, file: FleetKeyFile, chains: Mapping[str, bytes]) -> None:
        for label in file.key_labels():
            if label not in chains:
                raise AttestationError(f"no attestation chain for {label}")
            if chains[label] != _expected_chain(file, label):
                raise AttestationError(f"attestation chain for {label} does not verify")


class SpyStore(MemoryEpochStore):
    def __init__(self, highest: int = 0) -> None:
        super().__init__(highest)
        self.accepted: list[int] = []

    def accept(self, epoch: int) -> None:
        super().accept(epoch)
        self.accepted.append(epoch)


def trust(**changes: object) -> ClientTrust:
    base = ClientTrust(
        witness_keys={key_id(WITNESS.public_key()): WITNESS.public_key()},
        operator_key=OPERATOR.public_key(),
        attestation_verifier=HashAttestation(),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def bundle(file: FleetKeyFile | None = None, **kwargs: object) -> ValidationBundle:
    f = file if file is not None else make_fleet()
    return make_bundle(f, WITNESS, OPERATOR, T0, chains=chains_for(f), **kwargs)


def signed(
    file_bytes: bytes,
    statement: SignatureMessage,
    chains: Mapping[str, bytes] | None = None,
    witness: SigningKey = WITNESS,
) -> ValidationBundle:
    """A bundle whose statement is whatever the test says, properly signed and countersigned."""
    signature = sign_statement(statement, witness)
    return ValidationBundle(
        file_bytes,
        statement,
        signature,
        key_id(witness.public_key()),
        OPERATOR.sign(signature),
        dict(chains or {}),
    )


def refused(
    candidate: ValidationBundle | bytes,
    kind: type[BundleError],
    *,
    client: ClientTrust | None = None,
    store: SpyStore | None = None,
    answering: VerifyKey | None = None,
) -> BundleError:
    epochs = store if store is not None else SpyStore()
    before = epochs.highest()
    with pytest.raises(BundleError) as info:
        verify_bundle(candidate, client or trust(), epochs, answering)
    assert type(info.value) is kind, (type(info.value).__name__, str(info.value))
    assert epochs.highest() == before
    assert epochs.accepted == []
    return info.value


GOOD = bundle()
GOOD_BYTES = encode_bundle(GOOD)


# --- the good path -----------------------------------------------------------------------------


def test_a_valid_bundle_verifies_and_records_its_epoch() -> None:
    store = SpyStore()
    fleet = make_fleet()
    accepted = verify_bundle(GOOD, trust(), store, fleet.replicas[1].key)
    assert isinstance(accepted, AcceptedFleet)
    assert accepted.file == fleet
    assert accepted.epoch == 1
    assert accepted.session_key == fleet.session_key
    assert accepted.digest == hashlib.sha256(GOOD.file_bytes).digest()
    assert accepted.key_id == key_id(WITNESS.public_key())
    assert store.accepted == [1]
    # the same bundle again (every ota response carries it) is fine
    verify_bundle(GOOD_BYTES, trust(), store)
    assert store.highest() == 1


def test_encoding_round_trips_and_is_deterministic() -> None:
    assert decode_bundle(GOOD_BYTES) == GOOD
    assert encode_bundle(decode_bundle(GOOD_BYTES)) == GOOD_BYTES
    assert encode_bundle(bundle()) == GOOD_BYTES
    assert GOOD_BYTES[0] == 1
    assert int.from_bytes(GOOD_BYTES[1:5], "big") == len(GOOD.file_bytes)
    no_chains = make_bundle(make_fleet(), WITNESS, OPERATOR, T0)
    assert decode_bundle(encode_bundle(no_chains)) == no_chains
    assert encode_bundle(no_chains)[-1] == 0


def test_the_counter_signature_covers_exactly_the_witness_signature_bytes() -> None:
    OPERATOR.public_key().verify(GOOD.counter_signature, GOOD.witness_signature)


def test_without_client_attestation_chains_are_not_consulted() -> None:
    f = make_fleet()
    unattested = make_bundle(f, WITNESS, OPERATOR, T0)
    verify_bundle(unattested, trust(client_attestation=False), SpyStore())
    refused(unattested, AttestationRejected)


def test_client_attestation_without_a_verifier_is_refused_clearly() -> None:
    error = refused(GOOD, NoAttestationVerifier, client=trust(attestation_verifier=None))
    assert "no attestation verifier" in str(error)
    assert isinstance(error, AttestationRejected)


# --- single-field tampering ----------------------------------------------------------------------


def _file_variants() -> list[tuple[str, FleetKeyFile]]:
    f = make_fleet()
    other = make_fleet(seed="fleet-x")
    variants = [
        ("fleet_id", dataclasses.replace(f, fleet_id="prn-2026b")),
        ("epoch", dataclasses.replace(f, epoch=2)),
        ("firmware", dataclasses.replace(f, firmware=bytes(32))),
        ("quorum", dataclasses.replace(f, quorum=3)),
        ("session_key", dataclasses.replace(f, session_key=other.session_key)),
        ("replicas+1", make_fleet(replicas=4, quorum=3)),
    ]
    for i in range(f.replica_count):
        swapped = list(f.replicas)
        swapped[i] = ReplicaKey(i, f.replicas[i].datacenter, other.replicas[i].key)
        variants.append((f"replica {i} key", dataclasses.replace(f, replicas=tuple(swapped))))
        moved = list(f.replicas)
        moved[i] = ReplicaKey(i, "zzz", f.replicas[i].key)
        variants.append((f"replica {i} datacenter", dataclasses.replace(f, replicas=tuple(moved))))
    return variants


@pytest.mark.parametrize(("field", "changed"), _file_variants(), ids=lambda v: str(v))
def test_each_changed_file_field_is_a_digest_mismatch(field: str, changed: FleetKeyFile) -> None:
    tampered = dataclasses.replace(GOOD, file_bytes=encode_fleet_key_file(changed))
    refused(tampered, DigestMismatch)


def test_a_changed_file_namespace_is_a_namespace_mismatch() -> None:
    changed = dataclasses.replace(make_fleet(), namespace="meta.encrypted_backups.other.v1")
    refused(dataclasses.replace(GOOD, file_bytes=encode_fleet_key_file(changed)), NamespaceMismatch)


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("namespace", "meta.encrypted_backups.fleet_keys.v2", NamespaceMismatch),
        ("timestamp_ms", T0 + 1, WitnessSignatureInvalid),
        ("epoch", 2, WitnessSignatureInvalid),
        ("digest", bytes(32), DigestMismatch),
    ],
)
def test_each_changed_statement_field(field: str, value: object, kind: type[BundleError]) -> None:
    statement = dataclasses.replace(GOOD.statement, **{field: value})  # type: ignore[arg-type]
    refused(dataclasses.replace(GOOD, statement=statement), kind)


def _flip(data: bytes, at: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[at] ^= mask
    return bytes(out)


def test_each_byte_of_the_witness_signature() -> None:
    for at in range(64):
        for mask in (0x01, 0x80):
            tampered = dataclasses.replace(
                GOOD, witness_signature=_flip(GOOD.witness_signature, at, mask)
            )
            refused(tampered, WitnessSignatureInvalid)


def test_each_byte_of_the_counter_signature() -> None:
    for at in range(64):
        for mask in (0x01, 0x80):
            tampered = dataclasses.replace(
                GOOD, counter_signature=_flip(GOOD.counter_signature, at, mask)
            )
            refused(tampered, CounterSignatureInvalid)


def test_every_other_key_id_is_an_unknown_witness() -> None:
    for kid in range(256):
        if kid != GOOD.key_id:
            refused(dataclasses.replace(GOOD, key_id=kid), UnknownWitness)


def test_the_key_id_of_another_pinned_witness_fails_its_signature_check() -> None:
    assert key_id(WITNESS_2.public_key()) != key_id(WITNESS.public_key())
    both = trust(
        witness_keys={
            key_id(WITNESS.public_key()): WITNESS.public_key(),
            key_id(WITNESS_2.public_key()): WITNESS_2.public_key(),
        }
    )
    verify_bundle(GOOD, both, SpyStore())
    tampered = dataclasses.replace(GOOD, key_id=key_id(WITNESS_2.public_key()))
    refused(tampered, WitnessSignatureInvalid, client=both)


def test_an_impostor_witness_with_the_same_key_id_is_refused() -> None:
    target = key_id(WITNESS.public_key())
    impostor = next(
        k for k in (_key(f"impostor/{i}") for i in range(4096)) if key_id(k.public_key()) == target
    )
    statement = GOOD.statement
    refused(
        signed(GOOD.file_bytes, statement, GOOD.chains, witness=impostor), WitnessSignatureInvalid
    )


def test_each_byte_of_each_attestation_chain() -> None:
    for label, chain in GOOD.chains.items():
        for at in range(len(chain)):
            chains = dict(GOOD.chains)
            chains[label] = _flip(chain, at)
            refused(dataclasses.replace(GOOD, chains=chains), AttestationRejected)
        missing = {k: v for k, v in GOOD.chains.items() if k != label}
        refused(dataclasses.replace(GOOD, chains=missing), AttestationRejected)


def test_a_chain_for_a_key_the_file_does_not_have_is_malformed() -> None:
    chains = {**GOOD.chains, "replica-identity/7": b"x"}
    refused(dataclasses.replace(GOOD, chains=chains), BundleFormatError)


def test_every_flipped_byte_of_the_encoding_is_refused() -> None:
    for at in range(len(GOOD_BYTES)):
        with pytest.raises(BundleError):
            verify_bundle(_flip(GOOD_BYTES, at), trust(), store := SpyStore())
        assert store.accepted == []


def test_truncation_trailing_bytes_and_versions_are_malformed() -> None:
    for end in range(len(GOOD_BYTES)):
        refused(GOOD_BYTES[:end], BundleFormatError)
    refused(GOOD_BYTES + b"\x00", BundleFormatError)
    for version in (0, 2, 255):
        refused(bytes([version]) + GOOD_BYTES[1:], BundleFormatError)


def test_chains_out_of_order_are_malformed() -> None:
    # Swap the encodings of the first two chains: same content, non-canonical order.
    tail = bytearray()
    items = list(GOOD.chains.items())
    items[0], items[1] = items[1], items[0]
    for label, chain in items:
        tail += bytes([len(label)]) + label.encode() + len(chain).to_bytes(4, "big") + chain
    head = encode_bundle(dataclasses.replace(GOOD, chains={}))
    refused(head[:-1] + bytes([len(items)]) + bytes(tail), BundleFormatError)


def test_a_malformed_file_or_statement_inside_is_malformed() -> None:
    error = refused(dataclasses.replace(GOOD, file_bytes=GOOD.file_bytes + b" "), BundleFormatError)
    assert "NonCanonicalFleetKeyFile" in str(error)
    other_suite = dataclasses.replace(GOOD.statement, ciphersuite=2)
    with pytest.raises(BundleFormatError):
        dataclasses.replace(GOOD, statement=other_suite)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_malformed(data: bytes) -> None:
    with pytest.raises(BundleFormatError):
        decode_bundle(data)


def test_bundle_construction_checks_its_framing() -> None:
    with pytest.raises(BundleFormatError):
        dataclasses.replace(GOOD, witness_signature=GOOD.witness_signature[:63])
    with pytest.raises(BundleFormatError):
        dataclasses.replace(GOOD, counter_signature=b"")
    with pytest.raises(BundleFormatError):
        dataclasses.replace(GOOD, key_id=256)
    with pytest.raises(BundleFormatError):
        dataclasses.replace(GOOD, file_bytes=b"")
    with pytest.raises(BundleFormatError):
        dataclasses.replace(GOOD, chains={"é": b"x"})
    with pytest.raises(BundleFormatError):
        dataclasses.replace(GOOD, chains={"session-hpke": b""})


# --- authentic but unacceptable ------------------------------------------------------------------


def _statement(file_bytes: bytes, epoch: int) -> SignatureMessage:
    return SignatureMessage(
        CIPHERSUITE_ED25519_PROTOBUF,
        DEFAULT_NAMESPACE,
        T0,
        epoch,
        hashlib.sha256(file_bytes).digest(),
    )


def test_a_statement_for_another_epoch_than_the_file() -> None:
    f = make_fleet(epoch=1)
    data = encode_fleet_key_file(f)
    refused(signed(data, _statement(data, 2), chains_for(f)), EpochMismatch)


def test_rollback_is_refused() -> None:
    store = SpyStore()
    verify_bundle(bundle(make_fleet(epoch=2)), trust(), store)
    assert store.accepted == [2]
    store.accepted.clear()
    refused(bundle(make_fleet(epoch=1)), EpochRollback, store=store)
    verify_bundle(bundle(make_fleet(epoch=3)), trust(), store)
    assert store.highest() == 3


def test_a_minority_configuration_is_refused() -> None:
    refused(bundle(make_fleet(replicas=4, quorum=2)), ConfigurationRejected)
    refused(bundle(make_fleet(replicas=5, quorum=1)), ConfigurationRejected)
    verify_bundle(bundle(make_fleet(replicas=5, quorum=3)), trust(), SpyStore())


def test_the_answering_replica_must_be_in_the_file() -> None:
    stranger = make_fleet(seed="fleet-b").replicas[0].key
    refused(GOOD, UnknownReplica, answering=stranger)
    refused(GOOD, UnknownReplica, answering=OPERATOR.public_key())
    for replica in make_fleet().replicas:
        verify_bundle(GOOD, trust(), SpyStore(), replica.key)


def test_an_unpinned_operator_is_refused() -> None:
    refused(GOOD, CounterSignatureInvalid, client=trust(operator_key=OTHER_OPERATOR.public_key()))


# --- mix and match ----------------------------------------------------------------------------


EPOCH_1 = bundle(make_fleet(epoch=1))
EPOCH_2 = bundle(make_fleet(epoch=2))
FLEET_B = bundle(make_fleet(seed="fleet-b"))


def test_witness_signature_of_epoch_1_with_the_file_of_epoch_2() -> None:
    # the whole epoch-1 proof (statement, signature, counter-signature) on the epoch-2 file
    proof_1 = {
        "statement": EPOCH_1.statement,
        "witness_signature": EPOCH_1.witness_signature,
        "counter_signature": EPOCH_1.counter_signature,
    }
    refused(dataclasses.replace(EPOCH_2, **proof_1), DigestMismatch)  # type: ignore[arg-type]
    # only the signatures of epoch 1 under the epoch-2 statement
    sigs_1 = {
        "witness_signature": EPOCH_1.witness_signature,
        "counter_signature": EPOCH_1.counter_signature,
    }
    refused(dataclasses.replace(EPOCH_2, **sigs_1), WitnessSignatureInvalid)  # type: ignore[arg-type]


def test_a_counter_signature_from_another_bundle() -> None:
    for donor in (EPOCH_1, FLEET_B):
        tampered = dataclasses.replace(EPOCH_2, counter_signature=donor.counter_signature)
        refused(tampered, CounterSignatureInvalid)


def test_the_statement_of_another_fleet() -> None:
    refused(dataclasses.replace(EPOCH_1, statement=FLEET_B.statement), DigestMismatch)
    proof_b = {
        "statement": FLEET_B.statement,
        "witness_signature": FLEET_B.witness_signature,
        "counter_signature": FLEET_B.counter_signature,
    }
    refused(dataclasses.replace(EPOCH_1, **proof_b), DigestMismatch)  # type: ignore[arg-type]


def test_another_fleets_file_under_this_proof() -> None:
    refused(dataclasses.replace(EPOCH_1, file_bytes=FLEET_B.file_bytes), DigestMismatch)


def test_counter_signatures_over_anything_but_the_witness_signature_are_refused() -> None:
    # the unsafe variant "counter-signature over the file": valid Ed25519 signatures by the
    # operator, over the wrong bytes
    for wrong in (
        GOOD.file_bytes,
        GOOD.statement.digest,
        GOOD.statement.encode(),
        GOOD.witness_signature + b"\x00",
    ):
        tampered = dataclasses.replace(GOOD, counter_signature=OPERATOR.sign(wrong))
        refused(tampered, CounterSignatureInvalid)


def test_the_operator_alone_cannot_stand_in_for_the_witness() -> None:
    assert key_id(OPERATOR.public_key()) != key_id(WITNESS.public_key())
    rogue = make_bundle(make_fleet(seed="rogue"), OPERATOR, OPERATOR, T0)
    refused(rogue, UnknownWitness)


# --- epoch stores -------------------------------------------------------------------------------


def test_memory_store_refuses_rollback_directly() -> None:
    store = MemoryEpochStore()
    assert store.highest() == 0
    store.accept(3)
    with pytest.raises(EpochRollback):
        store.accept(2)
    assert store.highest() == 3


def test_file_store_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "epochs"
    first = FileEpochStore(path)
    assert first.highest() == 0
    verify_bundle(EPOCH_2, trust(), first)
    assert FileEpochStore(path).highest() == 2
    with pytest.raises(EpochRollback):
        verify_bundle(EPOCH_1, trust(), FileEpochStore(path))
    assert FileEpochStore(path).highest() == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epochs"]  # no temporary left
    assert len(path.read_bytes()) == 48


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda b: b[:-1],
        lambda b: b + b"\x00",
        lambda b: b"",
        lambda b: b"XBEPOCH1" + b[8:],
        lambda b: _flip(b, 15),  # the epoch's last byte
        lambda b: _flip(b, 47),  # the checksum
    ],
    ids=["short", "long", "empty", "magic", "epoch", "checksum"],
)
def test_a_corrupt_epoch_store_is_a_typed_error(
    tmp_path: Path, corrupt: Callable[[bytes], bytes]
) -> None:
    path = tmp_path / "epochs"
    FileEpochStore(path).accept(2)
    path.write_bytes(corrupt(path.read_bytes()))
    before = path.read_bytes()
    with pytest.raises(EpochStoreCorrupt) as info:
        FileEpochStore(path).highest()
    assert isinstance(info.value, StoreError)
    with pytest.raises(EpochStoreCorrupt):
        verify_bundle(EPOCH_2, trust(), FileEpochStore(path))
    assert path.read_bytes() == before


# --- pinned mode and the trust object -------------------------------------------------------------


def test_pinned_mode_decodes_and_checks_only_the_file() -> None:
    f = make_fleet()
    pinned = PinnedFleet.from_file(encode_fleet_key_file(f))
    assert pinned.file == f
    assert pinned.epoch == 1
    assert pinned.session_key == f.session_key
    assert pinned.digest == hashlib.sha256(encode_fleet_key_file(f)).digest()
    pinned.check_replica(f.replicas[0].key)
    with pytest.raises(UnknownReplica):
        pinned.check_replica(OPERATOR.public_key())
    with pytest.raises(ConfigurationRejected):
        PinnedFleet.from_file(encode_fleet_key_file(make_fleet(replicas=2, quorum=1)))
    with pytest.raises(NamespaceMismatch):
        PinnedFleet.from_file(encode_fleet_key_file(f), namespace="other")
    with pytest.raises(FleetKeyFileError):
        PinnedFleet.from_file(encode_fleet_key_file(f) + b"\n")


def test_trust_refuses_a_witness_key_under_the_wrong_key_id() -> None:
    wrong = (key_id(WITNESS.public_key()) + 1) % 256
    with pytest.raises(ConfigError):
        ClientTrust({wrong: WITNESS.public_key()}, OPERATOR.public_key())
