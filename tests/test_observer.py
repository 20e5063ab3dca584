"""I1 ``no-single-party-decrypts``, the implementation side: an observer (impl.observe)
records every byte each party sees or stores during real runs; on the safe design no
secret reaches a non-HSM party, and each leaking client variant does leak.

The harness runs, with one observer: every method (key64, recovery-code, password,
passkey) enrolled, backed up (through the storage provider), recovered with a wrong guess
and then the right one, on a single HSM, on a simulated fleet in ``ota`` mode and, after a
crash of its leader, in ``pinned`` mode (the replicas' network drops, duplicates and
delays messages throughout); a rotation from epoch 1 to 2; and the ceremonies with a
``vetting`` witness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from impl.blob import decrypt_backup, read_header
from impl.bundle import ClientTrust, MemoryEpochStore, PinnedFleet, encode_bundle
from impl.ceremony import Deployment, Parties, client_trust, deploy_epochs
from impl.client import (
    LEAK_VARIANTS,
    Client,
    ClientConfig,
    Enrollment,
    FleetLink,
    Recovered,
    WrongGuess,
    WrongKey,
    pin_only_root_key,
)
from impl.codes import (
    decode_key64,
    encode_key64,
    format_recovery_code,
    generate_recovery_code,
    parse_recovery_code,
)
from impl.consensus import ConsensusConfig
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.errors import BlobAuthenticationError, ConfigError
from impl.fleetkeys import encode_fleet_key_file
from impl.hsm import Hsm
from impl.messages import (
    BeginRecovery,
    PasswordRecoveryInfo,
    RecoverPassword,
    RegisterPasskey,
    RegisterPassword,
    Released,
    RetireRecord,
)
from impl.observe import (
    FLOWS,
    LABELS,
    NO_OBSERVER,
    PARTIES,
    BlobStorage,
    ObservedRelay,
    Observer,
    Sighting,
    encodings,
)
from impl.ota import OtaEndpoint, PinnedEndpoint, decode_frame
from impl.passkey import DEFAULT_RP_ID, SoftwareAuthenticator
from impl.redact import Secret
from impl.session import open_response, seal_request
from impl.sim.world import NetworkConfig, World
from impl.wire import decode_request, decode_response

FAST = ClientConfig(argon2=Argon2Params.FAST)
PASSWORD = "correct horse battery staple 1729"
WRONG_PASSWORD = "incorrect donkey battery staple 2718"
PLAINTEXT = b"the user's chats, photos and contacts"

#: What each party saw in the harness run, by label. A model lists the same table; a
#: flow that reaches a party and is not listed here fails ``test_each_party_saw_...``.
EXPECTED_LABELS: dict[str, set[str]] = {
    "operator": {
        *(f"{flow}/{leg}" for flow in FLOWS for leg in ("request", "response")),
        "bundle",
        "peer/message",
        "ceremony/fleet-key-file",
    },
    "storage": {"backup/blob"},
    "witness": {"ceremony/fleet-key-file", "witness/statement", "witness/evidence"},
    "vendor": {"vendor/attestation"},
    "hsm": {f"{flow}/{leg}" for flow in FLOWS for leg in ("request", "response")},
}

#: Parties that must never learn any secret of the user (I1; the HSMs are trusted).
NON_HSM: tuple[str, ...] = ("operator", "storage", "witness", "vendor")


@dataclass(frozen=True)
class Canary:
    """A secret of the run; ``hsm_may_see`` if the vault legitimately holds it."""

    name: str
    data: bytes
    hsm_may_see: bool

    def __repr__(self) -> str:
        return f"Canary({self.name!r}, <{len(self.data)} bytes>)"


@dataclass
class Run:
    observer: Observer
    canaries: list[Canary] = field(default_factory=list)
    authenticators: dict[str, SoftwareAuthenticator] = field(default_factory=dict)
    #: every credential created on each user's authenticator (the wrong one included)
    credentials: dict[str, list[bytes]] = field(default_factory=dict)

    def add(self, name: str, data: bytes, *, hsm_may_see: bool) -> None:
        self.canaries.append(Canary(name, bytes(data), hsm_may_see))


# ------------------------------------------------------------------ the deployments


PARTIES_ = Parties.from_seed(31)


def _trust() -> ClientTrust:
    return client_trust(PARTIES_, 2)


def _world(deployment: Deployment, seed: int, observer: Observer) -> World:
    # Faults on the replicas' network: lost, duplicated and late messages (a crash is
    # injected by the harness), so retransmissions and catch-up are observed too.
    world = World(
        seed,
        ConsensusConfig(),
        network=NetworkConfig(drop=0.05, duplicate=0.05, reorder=0.1),
        keys=deployment.hsm_keys,
        bundle=encode_bundle(deployment.bundle),
        party_observer=observer,
    )
    assert world.settle()
    return world


# ------------------------------------------------------------------ one run per method


def _key64(client: Client, storage: BlobStorage, run: Run) -> None:
    enrollment = client.enroll_key64()
    storage.put(f"{client.user}/key64", client.backup(enrollment, PLAINTEXT))
    blob = storage.get(f"{client.user}/key64")
    assert enrollment.shown_to_user is not None
    shown = enrollment.shown_to_user.reveal().decode()
    wrong = encode_key64(Secret(bytes(reversed(decode_key64(shown).reveal()))))
    assert isinstance(client.recover_key64(blob, wrong), WrongKey)
    recovered = client.recover_key64(blob, shown)
    assert isinstance(recovered, Recovered)
    assert recovered.plaintext == PLAINTEXT
    run.add("key64 R", enrollment.root_key.reveal(), hsm_may_see=True)
    run.add("key64 shown", shown.encode(), hsm_may_see=False)
    run.add("key64 wrong guess", wrong.encode(), hsm_may_see=False)


def _recovery_code(client: Client, storage: BlobStorage, run: Run, seed: int) -> None:
    enrollment = client.enroll_recovery_code()
    storage.put(f"{client.user}/recovery-code", client.backup(enrollment, PLAINTEXT))
    blob = storage.get(f"{client.user}/recovery-code")
    assert enrollment.shown_to_user is not None
    text = enrollment.shown_to_user.reveal().decode()
    wrong = format_recovery_code(generate_recovery_code(SeededRng(seed)))
    assert isinstance(client.recover_recovery_code(blob, wrong), WrongKey)
    recovered = client.recover_recovery_code(blob, text)
    assert isinstance(recovered, Recovered)
    assert recovered.plaintext == PLAINTEXT
    run.add("recovery-code R", enrollment.root_key.reveal(), hsm_may_see=True)
    for name, typed in (("recovery code", text), ("wrong recovery code", wrong)):
        code = parse_recovery_code(typed).code
        run.add(f"{name} text", typed.encode(), hsm_may_see=False)
        run.add(f"{name} characters", code.reveal().encode(), hsm_may_see=False)
        run.add(f"{name} entropy", code.entropy().reveal(), hsm_may_see=False)


def _password(client: Client, storage: BlobStorage, run: Run) -> Enrollment:
    enrollment = client.enroll_password(PASSWORD)
    storage.put(f"{client.user}/password", client.backup(enrollment, PLAINTEXT))
    blob = storage.get(f"{client.user}/password")
    assert client.recover_password(blob, WRONG_PASSWORD) == WrongGuess(9)
    recovered = client.recover_password(blob, PASSWORD)
    assert isinstance(recovered, Recovered)
    assert recovered.root_key == enrollment.root_key
    run.add("password R", enrollment.root_key.reveal(), hsm_may_see=True)
    return enrollment


def _passkey(client: Client, storage: BlobStorage, run: Run, seed: int) -> None:
    device = SoftwareAuthenticator(SeededRng(seed))
    enrollment = client.enroll_passkey(device)
    storage.put(f"{client.user}/passkey", client.backup(enrollment, PLAINTEXT))
    blob = storage.get(f"{client.user}/passkey")
    other = device.create_credential(DEFAULT_RP_ID, client.user.encode())
    wrong = client.recover_passkey(blob, device, credential_id=other.credential_id)
    assert wrong == WrongGuess(9)
    recovered = client.recover_passkey(blob, device)
    assert isinstance(recovered, Recovered)
    assert recovered.plaintext == PLAINTEXT
    run.add("passkey R", enrollment.root_key.reveal(), hsm_may_see=True)
    run.authenticators[client.user] = device
    run.credentials.setdefault(client.user, []).append(other.credential_id)


def _every_method(
    make: Callable[[str], Client], storage: BlobStorage, run: Run, prefix: str, seed: int
) -> Client:
    """Each method with its own user; returns the password user's client."""
    _key64(make(f"{prefix}-key64"), storage, run)
    _recovery_code(make(f"{prefix}-code"), storage, run, seed)
    password_client = make(f"{prefix}-password")
    _password(password_client, storage, run)
    _passkey(make(f"{prefix}-passkey"), storage, run, seed + 1)
    return password_client


def _canaries_the_hsm_saw(run: Run) -> None:
    """The secrets only the client and the vault should hold, read back from what the HSM
    opened: access keys, R, the server share S and the retire proof (the HSM may see them),
    and the PRF outputs of every credential at every PRF salt (it may not)."""
    prf_salts: dict[str, set[bytes]] = {}
    for sighting in run.observer.sightings("hsm"):
        if sighting.label.endswith("/request"):
            request = decode_request(sighting.data)
            if isinstance(request, RegisterPassword):
                run.add("access key", request.access_key.reveal(), hsm_may_see=True)
                run.add("registered R", request.secret.reveal(), hsm_may_see=True)
            elif isinstance(request, RecoverPassword):
                run.add("guessed access key", request.access_key.reveal(), hsm_may_see=True)
            elif isinstance(request, RegisterPasskey):
                run.add("server share S", request.server_share.reveal(), hsm_may_see=True)
                run.credentials.setdefault(request.user, []).append(request.credential_id)
                prf_salts.setdefault(request.user, set()).add(request.prf_salt)
            elif isinstance(request, RetireRecord):
                run.add("retire proof", request.proof.reveal(), hsm_may_see=True)
        else:
            response = decode_response(sighting.data)
            if isinstance(response, Released):
                run.add("released secret", response.secret.reveal(), hsm_may_see=True)
    for user, salts in prf_salts.items():
        device = run.authenticators[user]
        for credential in run.credentials[user]:
            for salt in salts:
                output = device.prf(credential, salt).reveal()
                run.add(f"PRF output of {user}", output, hsm_may_see=False)


def _harness() -> Run:
    observer = Observer()
    run = Run(observer)
    storage = BlobStorage(observer)
    for secret in (PASSWORD, WRONG_PASSWORD):
        run.add("password bytes", secret.encode(), hsm_may_see=False)

    # The ceremonies, with a vetting witness.
    first, second = deploy_epochs(PARTIES_, 2, seed=31, policy="vetting", observer=observer)

    # A single HSM behind the operator's relay.
    hsm = Hsm(rng=SeededRng(3), observer=observer)
    relay = ObservedRelay(observer, hsm.handle)

    def single(user: str) -> Client:
        rng = SeededRng(user.encode())
        return Client(user, relay, hsm.fleet_public_key, config=FAST, rng=rng, observer=observer)

    _every_method(single, storage, run, "solo", 40)

    # A simulated fleet in ota mode, then a rotation to epoch 2.
    old, new = _world(first, 21, observer), _world(second, 22, observer)
    epochs = MemoryEpochStore()
    endpoint = OtaEndpoint(old.hello, old.endpoint, _trust(), epochs)
    assert endpoint.connect().epoch == 1

    def fleet(user: str) -> Client:
        rng = SeededRng(user.encode())
        key = endpoint.fleet_public_key
        return Client(user, endpoint, key, config=FAST, rng=rng, epoch=1, observer=observer)

    mover = _every_method(fleet, storage, run, "fleet", 50)

    # A crash of the epoch-1 leader: the fleet elects another and carries on.
    leader = old.leader()
    assert leader is not None
    old.crash(leader)

    # Pinned mode: an app that ships epoch 1's fleet-key file.
    pinned = PinnedEndpoint(old.endpoint, PinnedFleet.from_file(encode_fleet_key_file(first.file)))

    def pinned_client(user: str) -> Client:
        rng = SeededRng(user.encode())
        key = pinned.fleet_public_key
        return Client(user, pinned, key, config=FAST, rng=rng, observer=observer)

    _every_method(pinned_client, storage, run, "pinned", 60)
    old.restart(leader)
    target = OtaEndpoint(new.hello, new.endpoint, _trust(), epochs)
    link = FleetLink(target.connect().epoch, target.fleet_public_key, target)
    moved = mover.recover_password(
        storage.get("fleet-password/password"), PASSWORD, migrate_to=link
    )
    assert isinstance(moved, Recovered)
    assert moved.migrated_to == 2
    again = mover.recover_password(storage.get("fleet-password/password"), PASSWORD)
    assert isinstance(again, Recovered)

    _canaries_the_hsm_saw(run)
    return run


@pytest.fixture(scope="module")
def harness() -> Run:
    return _harness()


def _violations(run: Run) -> list[str]:
    """Every (party, label, canary) where a secret reached a party it must not reach."""
    found = []
    for canary in run.canaries:
        parties = NON_HSM if canary.hsm_may_see else (*NON_HSM, "hsm")
        for party in parties:
            for sighting in run.observer.leaks(canary.data, party):
                found.append(f"{canary.name} reached {party} in {sighting.label}")
    return sorted(set(found))


# ------------------------------------------------------------------------ the safe run


def test_no_secret_reaches_a_non_hsm_party_on_the_safe_design(harness: Run) -> None:
    names = {c.name for c in harness.canaries}
    assert {
        "key64 R",
        "recovery code text",
        "recovery code entropy",
        "password R",
        "passkey R",
        "password bytes",
        "access key",
        "server share S",
        "retire proof",
    } <= names
    assert any(name.startswith("PRF output") for name in names)
    assert _violations(harness) == []


def test_the_canary_search_finds_what_the_hsm_legitimately_sees(harness: Run) -> None:
    """A control: the search is not vacuous; R and S are found where the vault gets them."""
    observer = harness.observer
    for name in ("password R", "server share S", "access key"):
        canary = next(c for c in harness.canaries if c.name == name)
        assert observer.leaks(canary.data, "hsm"), name
        assert not observer.leaks(canary.data, "operator"), name
    assert len(observer.sightings("storage")) == 12  # four methods, three deployments


def test_each_party_saw_exactly_the_expected_labels(harness: Run) -> None:
    observer = harness.observer
    assert set(EXPECTED_LABELS) == set(PARTIES)
    assert observer.parties() == set(PARTIES)
    for party in PARTIES:
        assert observer.labels(party) == EXPECTED_LABELS[party], party
    assert set().union(*EXPECTED_LABELS.values()) == set(LABELS) - {"relay/access-key"}
    assert observer.unlabelled == 0


def test_the_operator_records_the_frames_it_relays_in_ota_mode(harness: Run) -> None:
    frames = [
        s
        for s in harness.observer.sightings("operator")
        if s.label.endswith("/response") and s.data[:1] == b"\x01"
    ]
    assert frames
    for sighting in frames:
        frame = decode_frame(sighting.data)
        assert frame.bundle in {s.data for s in harness.observer.sightings("operator")}


def test_the_operator_sees_exactly_the_bytes_on_the_wire() -> None:
    observer = Observer()
    hsm = Hsm(rng=SeededRng(5), observer=observer)
    wire: list[bytes] = []

    def tap(sealed: bytes) -> bytes:
        wire.append(sealed)
        answer = hsm.handle(sealed)
        wire.append(answer)
        return answer

    relay = ObservedRelay(observer, tap)
    client = Client(
        "carol", relay, hsm.fleet_public_key, config=FAST, rng=SeededRng(6), observer=observer
    )
    blob = client.backup(client.enroll_password(PASSWORD), PLAINTEXT)
    assert isinstance(client.recover_password(blob, PASSWORD), Recovered)
    seen = observer.sightings("operator")
    assert [s.data for s in seen] == wire
    assert [s.label for s in seen] == [
        "register-password/request",
        "register-password/response",
        "begin-recovery/request",
        "begin-recovery/response",
        "recover-password/request",
        "recover-password/response",
    ]
    assert [s.label for s in observer.sightings("hsm")] == [s.label for s in seen]


# ---------------------------------------------------------------- the leaking variants


def _solo(leak: str | None, observer: Observer) -> tuple[Hsm, Client, BlobStorage]:
    hsm = Hsm(rng=SeededRng(8), observer=observer)
    config = ClientConfig(argon2=Argon2Params.FAST, leak=leak)
    client = Client(
        "dave",
        ObservedRelay(observer, hsm.handle),
        hsm.fleet_public_key,
        config=config,
        rng=SeededRng(9),
        observer=observer,
    )
    return hsm, client, BlobStorage(observer)


def test_root_key_in_header_leaks_r_to_storage() -> None:
    observer = Observer()
    _, client, storage = _solo("root-key-in-header", observer)
    enrollment = client.enroll_password(PASSWORD)
    storage.put("dave", client.backup(enrollment, PLAINTEXT))
    root = enrollment.root_key.reveal()
    assert [s.label for s in observer.leaks(root, "storage")] == ["backup/blob"]
    # The storage provider alone opens the backup.
    blob = storage.get("dave")
    assert decrypt_backup(Secret(read_header(blob).metadata), blob) == PLAINTEXT
    # The client still works.
    assert isinstance(client.recover_password(blob, PASSWORD), Recovered)
    # The methods whose blobs carry no other metadata leak the same way.
    for enroll in (client.enroll_key64, client.enroll_recovery_code):
        other = enroll()
        storage.put("dave/other", client.backup(other, PLAINTEXT))
        assert observer.leaks(other.root_key.reveal(), "storage")


def test_password_to_relay_lets_the_operator_alone_recover_r() -> None:
    observer = Observer()
    hsm, client, storage = _solo("password-to-relay", observer)
    enrollment = client.enroll_password(PASSWORD)
    storage.put("dave", client.backup(enrollment, PLAINTEXT))
    assert isinstance(client.recover_password(storage.get("dave"), PASSWORD), Recovered)
    stolen = [s.data for s in observer.sightings("operator") if s.label == "relay/access-key"]
    assert len(stolen) == 2  # registration and recovery: one registration, one key

    # The operator (attacker) talks to the HSM itself with the key it read.
    rng = SeededRng(666)

    def ask(request: BeginRecovery | RecoverPassword) -> object:
        sealed, key = seal_request(hsm.fleet_public_key, request, rng)
        return open_response(key, hsm.handle(sealed))

    info = ask(BeginRecovery("dave"))
    assert isinstance(info, PasswordRecoveryInfo)
    answer = ask(RecoverPassword("dave", info.registration, info.attempts, Secret(stolen[-1])))
    assert isinstance(answer, Released)
    assert answer.secret == enrollment.root_key
    assert decrypt_backup(answer.secret, storage.get("dave")) == PLAINTEXT


PINS = [f"{n:06d}" for n in (0, 111111, 123456, 123123, 654321, 112233, 121212, 999999)] + [
    "000001",
    "424242",
    "271828",
    "314159",
    "493817",  # the user's
    "777777",
    "696969",
    "159753",
    "852456",
    "102030",
    "246810",
    "135790",
]


def _dictionary_attack(blob: bytes, user: str) -> str | None:
    """The storage provider's offline attack: no HSM, only the blob and the public params."""
    for pin in PINS:
        root = Secret(pin_only_root_key(pin, user, Argon2Params.FAST))
        try:
            decrypt_backup(root, blob)
        except BlobAuthenticationError:
            continue
        return pin
    return None


def test_pin_only_key_falls_to_an_offline_dictionary_attack() -> None:
    assert len(PINS) == 20
    observer = Observer()
    hsm, client, storage = _solo("pin-only-key", observer)
    storage.put("dave", client.backup(client.enroll_password("493817"), PLAINTEXT))
    handled = hsm.requests_handled
    assert _dictionary_attack(storage.get("dave"), "dave") == "493817"
    assert hsm.requests_handled == handled, "the attack never asks the HSM"
    # Registration happened as usual, and the right PIN still recovers through the vault.
    assert isinstance(client.recover_password(storage.get("dave"), "493817"), Recovered)


def test_the_same_dictionary_does_not_open_a_safe_blob() -> None:
    _, client, storage = _solo(None, NO_OBSERVER)
    storage.put("dave", client.backup(client.enroll_password("493817"), PLAINTEXT))
    assert _dictionary_attack(storage.get("dave"), "dave") is None


@pytest.mark.parametrize("leak", ["password-to-relay", "root-key-in-header"])
def test_the_i1_check_that_passes_on_the_safe_design_catches_the_variant(leak: str) -> None:
    def violations(variant: str | None) -> list[str]:
        observer = Observer()
        run = Run(observer)
        _, client, storage = _solo(variant, observer)
        enrollment = _password(client, storage, run)
        run.add("password bytes", PASSWORD.encode(), hsm_may_see=False)
        _canaries_the_hsm_saw(run)
        assert enrollment.root_key.reveal() in {c.data for c in run.canaries}
        return _violations(run)

    assert violations(None) == []
    found = violations(leak)
    expected = {
        "password-to-relay": "access key reached operator in relay/access-key",
        "root-key-in-header": "password R reached storage in backup/blob",
    }[leak]
    assert expected in found


def test_an_unknown_leak_variant_is_refused() -> None:
    assert set(LEAK_VARIANTS) == {"password-to-relay", "root-key-in-header", "pin-only-key"}
    with pytest.raises(ConfigError, match="leak variant"):
        ClientConfig(leak="password-to-everyone")


# ----------------------------------------------------------------------- the observer


def test_a_sighting_shows_no_bytes() -> None:
    data = b"\x8asecret root key material\xff" * 2
    sighting = Sighting("operator", "bundle", data)
    for text in (repr(sighting), str(sighting)):
        assert "secret" not in text
        assert data.hex()[:8] not in text
        assert f"<{len(data)} bytes>" in text
    observer = Observer()
    observer.record("storage", "backup/blob", data)
    assert "secret" not in repr(observer.sightings())


def test_the_observer_refuses_unknown_parties_and_labels() -> None:
    observer = Observer()
    with pytest.raises(ValueError, match="party"):
        observer.record("auditor", "bundle", b"x")
    with pytest.raises(ValueError, match="label"):
        observer.record("operator", "bundle/extra", b"x")
    with pytest.raises(ValueError, match="flow"):
        observer.tag_request(b"x", "delete-everything")
    assert observer.sightings() == []


def test_the_default_observer_records_nothing() -> None:
    NO_OBSERVER.record("operator", "bundle", b"x")
    assert not NO_OBSERVER.active
    assert NO_OBSERVER.sightings() == []
    hsm = Hsm(rng=SeededRng(10))
    client = Client("erin", hsm.handle, hsm.fleet_public_key, config=FAST, rng=SeededRng(11))
    assert client.recover_password(client.backup(client.enroll_password("pw"), b"x"), "no") == (
        WrongGuess(9)
    )
    assert NO_OBSERVER.sightings() == []


@pytest.mark.parametrize("secret", [bytes(range(32)), b"\xff" * 17, b"0123456789abcdef"])
def test_encodings_find_a_secret_inside_base64_at_every_offset(secret: bytes) -> None:
    import base64

    forms = encodings(secret)
    for offset in range(4):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\x01" * offset + secret + b"\x02" * 5)
            assert any(form in text for form in forms), (offset, encode)
    assert secret.hex().encode() in forms


def test_the_model_lists_exactly_the_flows_the_implementation_sends(harness: Run) -> None:
    """The knowledge model (model.flows) gives each party exactly the labels the real run
    recorded, so the model cannot omit a message the implementation sends."""
    from model.flows import METHODS, Scenario, build

    listed: dict[str, set[str]] = {}
    for method in METHODS:
        for policy in ("log-only", "vetting"):
            system = build(Scenario(method=method, mode="ota", policy=policy))
            for party in system.scenario.parties:
                if party == "device":
                    continue  # the impl records what others see, not the user's phone
                name = "hsm" if party.startswith("hsm") else party
                listed.setdefault(name, set()).update(system.labels(party))
    recorded = {party: set(harness.observer.labels(party)) for party in harness.observer.parties()}
    assert recorded == {party: labels for party, labels in listed.items() if labels}


def test_the_leaking_label_is_in_the_model_only_under_its_variant() -> None:
    from model.flows import Scenario, build

    assert "relay/access-key" not in build(Scenario()).labels("operator")
    assert "relay/access-key" in build(Scenario(variant="password-to-relay")).labels("operator")
