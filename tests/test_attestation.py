"""Vendor attestation chains: a valid fleet verifies, each failed check has its own error."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from impl.attestation import (
    DEVICE as DEVICE_CERT,
)
from impl.attestation import (
    LEAF,
    ROLE_IDENTITY,
    ROLE_SESSION,
    ROOT,
    SESSION_LABEL,
    AttestationChain,
    AttestationFacts,
    BasicConstraintsError,
    CertificateExpiredError,
    CertificateNotYetValidError,
    CertificateParseError,
    ChainCheckError,
    ChainFormatError,
    DeviceMismatchError,
    DuplicateDeviceError,
    FirmwareMismatchError,
    FirmwareNotAllowedError,
    FleetShapeError,
    KeyUsageError,
    MissingChainError,
    ReplicaMismatchError,
    RoleMismatchError,
    SignatureCheckError,
    UnexpectedChainError,
    UntrustedRootError,
    VendorAttestationVerifier,
    attest_fleet,
    attest_key,
    fleet_key_entries,
    identity_label,
    verify_chain,
)
from impl.attestation import (
    AttestedKeyMismatchError as KeyMismatch,
)
from impl.crypto.ed25519 import SigningKey
from impl.crypto.hpke import FleetKeyPair, KemChoice
from impl.crypto.symmetric import SeededRng
from impl.crypto.x509 import (
    AttestedKeyType,
    CertificateFormatError,
    VendorCA,
    certificate_from_pem,
    certificate_to_pem,
    decode_attestation_description,
    decode_attested_key,
    encode_attestation_description,
    encode_attested_key,
)
from impl.errors import AttestationError, ConfigError, CryptoError, WireError

NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
AT = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)
FIRMWARE = bytes(range(32))
OTHER_FIRMWARE = bytes(32)
REPLICAS = 3


@dataclass(frozen=True)
class Key:
    role: str
    key: bytes
    replica: int | None


@dataclass(frozen=True)
class FleetFile:
    keys: tuple[Key, ...]
    firmware: bytes


@dataclass
class Fleet:
    ca: VendorCA
    file: FleetFile
    chains: dict[str, bytes]

    def key(self, role: str, replica: int | None = None) -> bytes:
        return next(k.key for k in self.file.keys if k.role == role and k.replica == replica)


def make_fleet(
    seed: int, kem: KemChoice = KemChoice.X25519, ca: VendorCA | None = None, n: int = REPLICAS
) -> Fleet:
    rng = SeededRng(seed)
    vendor = ca if ca is not None else VendorCA.generate(rng, "Acme HSM", NOT_BEFORE, NOT_AFTER)
    session = FleetKeyPair.generate(kem, rng).public_key().public_bytes()
    identities = [
        Key(ROLE_IDENTITY, SigningKey.generate(rng).public_key().raw(), i) for i in range(n)
    ]
    keys = (Key(ROLE_SESSION, session, None), *identities)
    triples = [(k.role, k.key, k.replica) for k in keys]
    chains = attest_fleet(rng, vendor, triples, FIRMWARE, NOT_BEFORE, NOT_AFTER)
    return Fleet(vendor, FleetFile(keys, FIRMWARE), chains)


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return make_fleet(1)


def verifier(
    fleet: Fleet, at: dt.datetime = AT, firmware: bytes = FIRMWARE
) -> VendorAttestationVerifier:
    return VendorAttestationVerifier(fleet.ca.root_der(), frozenset({firmware}), at)


def flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def reframe(chain: bytes, device: bytes | None = None, leaf: bytes | None = None) -> bytes:
    parsed = AttestationChain.decode(chain)
    return AttestationChain(
        device if device is not None else parsed.device_der,
        leaf if leaf is not None else parsed.attestation_der,
    ).encode()


def verify_one(fleet: Fleet, label: str, chain: bytes | None = None, **kwargs: object) -> object:
    if label == SESSION_LABEL:
        role, replica, key = ROLE_SESSION, 0, fleet.key(ROLE_SESSION)
    else:
        role, replica = ROLE_IDENTITY, int(label.rsplit("/", 1)[1])
        key = fleet.key(role, replica)
    args: dict[str, object] = {
        "chain_bytes": fleet.chains[label] if chain is None else chain,
        "attested_key": key,
        "role": role,
        "vendor_root_der": fleet.ca.root_der(),
        "allowed_firmware": frozenset({FIRMWARE}),
        "at": AT,
        "replica": replica,
        "label": label,
    }
    args.update(kwargs)
    return verify_chain(**args)  # type: ignore[arg-type]


# -- the valid case --------------------------------------------------------------------


@pytest.mark.parametrize("kem", list(KemChoice))
def test_valid_fleet_verifies(kem: KemChoice) -> None:
    fleet = make_fleet(2, kem)
    facts = verifier(fleet).check(fleet.file, fleet.chains)
    assert sorted(facts) == sorted([SESSION_LABEL] + [identity_label(i) for i in range(REPLICAS)])
    session = facts[SESSION_LABEL]
    assert isinstance(session, AttestationFacts)
    assert session.attested_key == fleet.key(ROLE_SESSION)
    assert session.key_type.value == kem.value
    assert session.firmware_measurement == FIRMWARE
    assert session.replica == 0
    assert session.device_der == facts[identity_label(0)].device_der
    assert len({f.device_public_key for f in facts.values()}) == REPLICAS
    assert verifier(fleet).verify(fleet.file, fleet.chains) is None


def test_validity_bounds_are_inclusive(fleet: Fleet) -> None:
    verifier(fleet, NOT_BEFORE).verify(fleet.file, fleet.chains)
    verifier(fleet, NOT_AFTER).verify(fleet.file, fleet.chains)


def test_deterministic_from_seed() -> None:
    a, b = make_fleet(7), make_fleet(7)
    assert a.ca.root_der() == b.ca.root_der()
    assert a.chains == b.chains
    assert make_fleet(8).chains != a.chains


def test_pem_round_trip(fleet: Fleet) -> None:
    root = fleet.ca.root_der()
    pem = certificate_to_pem(root)
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    assert certificate_from_pem(pem) == root
    with pytest.raises(CertificateFormatError):
        certificate_from_pem(pem + pem)
    with pytest.raises(CertificateFormatError):
        certificate_from_pem("junk\n" + pem)
    with pytest.raises(CertificateFormatError):
        certificate_from_pem("not pem")


# -- each failed check -----------------------------------------------------------------


def test_wrong_root_same_name(fleet: Fleet) -> None:
    impostor = VendorCA.generate(SeededRng(99), "Acme HSM", NOT_BEFORE, NOT_AFTER)
    v = VendorAttestationVerifier(impostor.root_der(), frozenset({FIRMWARE}), AT)
    with pytest.raises(UntrustedRootError, match="authority key id") as info:
        v.verify(fleet.file, fleet.chains)
    assert info.value.certificate == DEVICE_CERT


def test_wrong_root_other_name(fleet: Fleet) -> None:
    other = VendorCA.generate(SeededRng(98), "Other HSM", NOT_BEFORE, NOT_AFTER)
    v = VendorAttestationVerifier(other.root_der(), frozenset({FIRMWARE}), AT)
    with pytest.raises(UntrustedRootError, match="issuer"):
        v.verify(fleet.file, fleet.chains)


def test_expired(fleet: Fleet) -> None:
    with pytest.raises(CertificateExpiredError) as info:
        verifier(fleet, NOT_AFTER + dt.timedelta(seconds=1)).verify(fleet.file, fleet.chains)
    assert info.value.certificate == ROOT


def test_not_yet_valid(fleet: Fleet) -> None:
    with pytest.raises(CertificateNotYetValidError):
        verifier(fleet, NOT_BEFORE - dt.timedelta(seconds=1)).verify(fleet.file, fleet.chains)


def test_leaf_alone_expired(fleet: Fleet) -> None:
    rng = SeededRng(5)
    device = fleet.ca.provision_device(rng, "HSM-X", NOT_BEFORE, NOT_AFTER)
    key = fleet.key(ROLE_IDENTITY, 0)
    end = AT - dt.timedelta(days=1)
    chain = attest_key(rng, device, ROLE_IDENTITY, key, 0, FIRMWARE, NOT_BEFORE, end)
    with pytest.raises(CertificateExpiredError) as info:
        verify_one(fleet, f"{ROLE_IDENTITY}/0", chain)
    assert info.value.certificate == LEAF
    assert info.value.label == f"{ROLE_IDENTITY}/0"


def test_tampered_root_signature(fleet: Fleet) -> None:
    with pytest.raises(SignatureCheckError) as info:
        verify_one(fleet, f"{ROLE_IDENTITY}/0", vendor_root_der=flip_last(fleet.ca.root_der()))
    assert info.value.certificate == ROOT


@pytest.mark.parametrize("which", [DEVICE_CERT, LEAF])
def test_tampered_signature_byte(fleet: Fleet, which: str) -> None:
    label = f"{ROLE_IDENTITY}/1"
    parsed = AttestationChain.decode(fleet.chains[label])
    if which == DEVICE_CERT:
        chain = reframe(fleet.chains[label], device=flip_last(parsed.device_der))
    else:
        chain = reframe(fleet.chains[label], leaf=flip_last(parsed.attestation_der))
    with pytest.raises(SignatureCheckError) as info:
        verifier(fleet).verify(fleet.file, {**fleet.chains, label: chain})
    assert info.value.certificate == which
    assert info.value.label == label
    assert "signature check failed" in str(info.value)


def test_swapped_attested_key(fleet: Fleet) -> None:
    chains = dict(fleet.chains)
    a, b = f"{ROLE_IDENTITY}/1", f"{ROLE_IDENTITY}/2"
    chains[a], chains[b] = chains[b], chains[a]
    with pytest.raises(KeyMismatch):
        verifier(fleet).verify(fleet.file, chains)


def test_session_key_swapped_for_another(fleet: Fleet) -> None:
    other = FleetKeyPair.generate(KemChoice.X25519, SeededRng(3)).public_key().public_bytes()
    with pytest.raises(KeyMismatch):
        verify_one(fleet, SESSION_LABEL, attested_key=other)


def test_wrong_role(fleet: Fleet) -> None:
    with pytest.raises(RoleMismatchError):
        verify_one(fleet, SESSION_LABEL, role=ROLE_IDENTITY)


def test_wrong_replica(fleet: Fleet) -> None:
    with pytest.raises(ReplicaMismatchError):
        verify_one(fleet, f"{ROLE_IDENTITY}/1", replica=2)


def test_firmware_not_allowed(fleet: Fleet) -> None:
    with pytest.raises(FirmwareNotAllowedError):
        verifier(fleet, firmware=OTHER_FIRMWARE).verify(fleet.file, fleet.chains)


def test_firmware_not_the_files(fleet: Fleet) -> None:
    file = FleetFile(fleet.file.keys, OTHER_FIRMWARE)
    v = VendorAttestationVerifier(fleet.ca.root_der(), frozenset({FIRMWARE, OTHER_FIRMWARE}), AT)
    with pytest.raises(FirmwareMismatchError):
        v.verify(file, fleet.chains)


def test_chain_from_another_fleets_device(fleet: Fleet) -> None:
    other = make_fleet(11, ca=fleet.ca)
    label = f"{ROLE_IDENTITY}/1"
    # Another fleet's chain, verbatim: a genuine device, but another key.
    with pytest.raises(KeyMismatch):
        verifier(fleet).verify(fleet.file, {**fleet.chains, label: other.chains[label]})
    # Another (genuine) device made to attest this fleet's session key: not replica 0's.
    rng = SeededRng(12)
    device = fleet.ca.provision_device(rng, "HSM-ROGUE", NOT_BEFORE, NOT_AFTER)
    session = fleet.key(ROLE_SESSION)
    chain = attest_key(rng, device, ROLE_SESSION, session, 0, FIRMWARE, NOT_BEFORE, NOT_AFTER)
    with pytest.raises(DeviceMismatchError):
        verifier(fleet).verify(fleet.file, {**fleet.chains, SESSION_LABEL: chain})


def test_one_device_for_two_replicas(fleet: Fleet) -> None:
    rng = SeededRng(13)
    device = fleet.ca.provision_device(rng, "HSM-SHARED", NOT_BEFORE, NOT_AFTER)
    chains = dict(fleet.chains)
    for replica in (1, 2):
        key = fleet.key(ROLE_IDENTITY, replica)
        chains[identity_label(replica)] = attest_key(
            rng, device, ROLE_IDENTITY, key, replica, FIRMWARE, NOT_BEFORE, NOT_AFTER
        )
    with pytest.raises(DuplicateDeviceError):
        verifier(fleet).verify(fleet.file, chains)


@pytest.mark.parametrize(
    ("constraints", "error"),
    [
        ({"ca": False}, BasicConstraintsError),
        ({"path_length": 1}, BasicConstraintsError),
        ({"key_cert_sign": False}, KeyUsageError),
    ],
)
def test_misissued_device_certificate(
    fleet: Fleet, constraints: dict[str, object], error: type[ChainCheckError]
) -> None:
    rng = SeededRng(14)
    device = fleet.ca.provision_device(rng, "HSM-BAD", NOT_BEFORE, NOT_AFTER, **constraints)  # type: ignore[arg-type]
    key = fleet.key(ROLE_IDENTITY, 0)
    chain = attest_key(rng, device, ROLE_IDENTITY, key, 0, FIRMWARE, NOT_BEFORE, NOT_AFTER)
    with pytest.raises(error) as info:
        verify_one(fleet, f"{ROLE_IDENTITY}/0", chain)
    assert info.value.certificate == DEVICE_CERT


def test_missing_and_unexpected_chains(fleet: Fleet) -> None:
    chains = dict(fleet.chains)
    del chains[SESSION_LABEL]
    with pytest.raises(MissingChainError):
        verifier(fleet).verify(fleet.file, chains)
    with pytest.raises(UnexpectedChainError):
        verifier(fleet).verify(fleet.file, {**fleet.chains, "replica-identity/9": b""})


def test_fleet_shape(fleet: Fleet) -> None:
    keys = (*fleet.file.keys, Key("operator", b"x" * 32, None))
    with pytest.raises(FleetShapeError):
        verifier(fleet).verify(FleetFile(keys, FIRMWARE), fleet.chains)
    keys = (*fleet.file.keys, Key(ROLE_IDENTITY, b"x" * 32, 0))
    with pytest.raises(FleetShapeError):
        verifier(fleet).verify(FleetFile(keys, FIRMWARE), fleet.chains)


# -- strict decoding -------------------------------------------------------------------


def test_truncated_and_garbled_chain(fleet: Fleet) -> None:
    label = f"{ROLE_IDENTITY}/0"
    good = fleet.chains[label]
    for bad in (b"", good[:3], good[:5], good[:20], good[:-1], good + b"\x00", b"XXXX" + good[4:]):
        with pytest.raises(ChainFormatError):
            verify_one(fleet, label, bad)
    parsed = AttestationChain.decode(good)
    for garbled in (
        parsed.device_der[:-1],
        parsed.device_der + b"\x00",
        b"\x30\x00",
        bytes(len(parsed.device_der)),
    ):
        with pytest.raises(CertificateParseError) as info:
            verify_one(fleet, label, reframe(good, device=garbled))
        assert info.value.certificate == DEVICE_CERT
    with pytest.raises(CertificateParseError) as info:
        verify_one(fleet, label, reframe(good, leaf=parsed.attestation_der[:40]))
    assert info.value.certificate == LEAF


def test_garbled_root_refused_at_construction() -> None:
    with pytest.raises(CertificateParseError):
        VendorAttestationVerifier(b"\x30\x03\x02\x01\x00", frozenset({FIRMWARE}), AT)
    with pytest.raises(ConfigError):
        VendorAttestationVerifier(b"", frozenset({b"short"}), AT)


def test_error_hierarchy() -> None:
    assert issubclass(ChainFormatError, WireError)
    assert issubclass(CertificateParseError, CertificateFormatError)
    for error in (ChainFormatError, SignatureCheckError, FirmwareNotAllowedError, KeyMismatch):
        assert issubclass(error, AttestationError)


def test_naive_time_refused(fleet: Fleet) -> None:
    with pytest.raises(ConfigError):
        VendorAttestationVerifier(
            fleet.ca.root_der(), frozenset({FIRMWARE}), dt.datetime(2027, 1, 1)
        )
    with pytest.raises(CryptoError):
        VendorCA.generate(SeededRng(1), "x", dt.datetime(2026, 1, 1), NOT_AFTER)


def test_extension_codecs_round_trip_and_are_strict() -> None:
    description = encode_attestation_description(ROLE_SESSION, 300, FIRMWARE)
    decoded = decode_attestation_description(description)
    assert (decoded.role, decoded.replica, decoded.firmware_measurement) == (
        ROLE_SESSION,
        300,
        FIRMWARE,
    )
    key = encode_attested_key(AttestedKeyType.ED25519, bytes(32))
    assert decode_attested_key(key) == (AttestedKeyType.ED25519, bytes(32))
    bad = [
        description + b"\x00",  # trailing
        description[:-1],  # truncated
        description.replace(b"\x02\x01\x01", b"\x02\x02\x00\x01", 1),  # non-minimal integer
        description.replace(b"\x02\x01\x01", b"\x02\x01\x02", 1),  # unknown version
    ]
    for data in bad:
        with pytest.raises(CertificateFormatError):
            decode_attestation_description(data)
    with pytest.raises(CertificateFormatError):
        decode_attested_key(key.replace(b"ed25519", b"ed25518"))
    with pytest.raises(CryptoError):
        encode_attestation_description(ROLE_SESSION, 0, b"short")


# -- with the real fleet-key file and validation bundle ----------------------------------


def test_fleet_key_file_and_bundle_end_to_end() -> None:
    fleetkeys = pytest.importorskip("impl.fleetkeys")
    bundle = pytest.importorskip("impl.bundle")
    rng = SeededRng(21)
    ca = VendorCA.generate(rng, "Acme HSM", NOT_BEFORE, NOT_AFTER)
    file = fleetkeys.FleetKeyFile(
        fleet_id="fleet-a",
        epoch=1,
        firmware=FIRMWARE,
        quorum=2,
        session_key=FleetKeyPair.generate(KemChoice.MLKEM768_X25519, rng).public_key(),
        replicas=tuple(
            fleetkeys.ReplicaKey(i, f"dc{i}", SigningKey.generate(rng).public_key())
            for i in range(3)
        ),
    )
    chains = attest_fleet(rng, ca, fleet_key_entries(file), FIRMWARE, NOT_BEFORE, NOT_AFTER)
    assert sorted(chains) == sorted(file.key_labels())
    witness, operator = SigningKey.generate(rng), SigningKey.generate(rng)
    made = bundle.make_bundle(file, witness, operator, 1_780_000_000_000, chains)

    def client(allowed: bytes) -> object:
        return bundle.ClientTrust(
            witness_keys={witness.public_key().raw()[-1]: witness.public_key()},
            operator_key=operator.public_key(),
            attestation_verifier=VendorAttestationVerifier(ca.root_der(), frozenset({allowed}), AT),
        )

    accepted = bundle.verify_bundle(made, client(FIRMWARE), bundle.MemoryEpochStore())
    assert accepted.file == file
    store = bundle.MemoryEpochStore()
    with pytest.raises(bundle.AttestationRejected, match="firmware-allowed"):
        bundle.verify_bundle(made, client(OTHER_FIRMWARE), store)
    assert store.highest() == 0
