"""fuzz.samples: valid encodings of everything ``impl/`` decodes, built from one seed.

``context()`` makes (once per process) the keys and the genuine encodings the fuzz
targets start from: every request and response type, every peer message, command and
durable row, statements, fleet-key files, bundles, frames, audit-log leaves, checkpoints
and saved logs, 64-digit keys and recovery codes, backup blobs, COSE keys and passkey
assertions, sealed requests and responses, peer envelopes, X.509 certificates and
attestation chains. Every key comes from a ``SeededRng``, so the samples are the same
bytes in every run (the corpus, ``fuzz/make_corpus.py``, is reproducible).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import struct
from dataclasses import dataclass

from impl.attestation import ROLE_IDENTITY, ROLE_SESSION, AttestationChain, attest_key
from impl.auditlog import AuditLog, Checkpoint, sign_checkpoint, sign_entry
from impl.blob import encrypt_backup
from impl.bundle import encode_bundle, make_bundle
from impl.codes import encode_key64, format_recovery_code, generate_recovery_code
from impl.crypto.ed25519 import SigningKey, VerifyKey
from impl.crypto.hpke import FleetKeyPair, KemChoice
from impl.crypto.p256 import P256CredentialKey
from impl.crypto.symmetric import SeededRng, aes256gcm_seal, hkdf_sha256, sha256
from impl.crypto.x509 import (
    AttestedKeyType,
    VendorCA,
    certificate_to_pem,
    encode_attestation_description,
    encode_attested_key,
)
from impl.fleetkeys import FleetKeyFile, ReplicaKey, encode_fleet_key_file
from impl.messages import (
    BeginRecovery,
    Destroyed,
    NoRecord,
    PasskeyRecoveryInfo,
    PasswordRecoveryInfo,
    RecoverPasskey,
    RecoverPassword,
    Refused,
    Registered,
    RegisterPasskey,
    RegisterPassword,
    Released,
    Request,
    Response,
    Retired,
    RetireRecord,
    Stale,
    WrongGuess,
)
from impl.method import Method
from impl.ota import ResponseFrame, sign_answer
from impl.passkey import DEFAULT_ORIGIN, DEFAULT_RP_ID, SoftwareAuthenticator
from impl.peer import CONTEXT, ENVELOPE_VERSION, PeerChannel
from impl.peer_messages import (
    Accept,
    Accepted,
    AcceptedEntry,
    Ballot,
    CatchUp,
    CatchUpReply,
    ChosenEntry,
    Commit,
    DurableState,
    LogValue,
    Noop,
    PeerMessage,
    Prepare,
    Promise,
    Proposal,
    Reject,
    Snapshot,
)
from impl.peer_wire import (
    encode_ballot,
    encode_command,
    encode_durable_state,
    encode_peer_message,
    encode_proposal,
    encode_snapshot,
)
from impl.redact import Secret
from impl.session import ResponseKey, seal_request, seal_response
from impl.statement import DEFAULT_NAMESPACE, SignatureMessage
from impl.vault import (
    ConsumeAttempt,
    Destroy,
    PasskeyFactor,
    PasswordFactor,
    Register,
    Retire,
    Settle,
    VaultRecord,
)
from impl.wire import encode_request, encode_response

SEED = b"vaultbench fuzz samples v1"
T0_MS = 1_767_225_600_000
NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
AT = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)
FIRMWARE = hashlib.sha256(b"vaultbench fuzz firmware").digest()
FLEET_ID = b"vaultbench-fuzz-fleet"
LOG_ORIGIN = "witness.fuzz.example/log"
PEERS = 3
PLAINTEXT = b"a backup of three chunks, more or less " * 2
CHUNK_SIZE = 32


@dataclass(frozen=True)
class PasskeyAssertionSample:
    """A genuine assertion and what the vault checks it against."""

    cose_public_key: bytes
    credential_id: bytes
    challenge: bytes
    authenticator_data: bytes
    client_data_json: bytes
    signature: bytes


@dataclass(frozen=True)
class Context:
    """Context: the keys and the genuine encodings the fuzz targets start from."""

    requests: tuple[bytes, ...]
    responses: tuple[bytes, ...]
    peer_messages: tuple[bytes, ...]
    commands: tuple[bytes, ...]
    ballots: tuple[bytes, ...]
    proposals: tuple[bytes, ...]
    snapshots: tuple[bytes, ...]
    durable_states: tuple[bytes, ...]
    statements: tuple[bytes, ...]
    fleet_files: tuple[bytes, ...]
    bundles: tuple[bytes, ...]
    frames: tuple[bytes, ...]
    leaves: tuple[bytes, ...]
    checkpoint_notes: tuple[bytes, ...]
    checkpoint_bodies: tuple[bytes, ...]
    saved_logs: tuple[tuple[bytes, bytes], ...]
    key64_texts: tuple[bytes, ...]
    recovery_texts: tuple[bytes, ...]
    blob_root_key: Secret
    blobs: tuple[bytes, ...]
    cose_keys: tuple[bytes, ...]
    assertion: PasskeyAssertionSample
    fleet_keypair: FleetKeyPair
    sealed_requests: tuple[bytes, ...]
    request_plaintexts: tuple[bytes, ...]
    response_key: ResponseKey
    sealed_responses: tuple[bytes, ...]
    response_plaintexts: tuple[bytes, ...]
    peer_signing_keys: tuple[SigningKey, ...]
    replication_key: Secret
    envelopes: tuple[bytes, ...]
    log_key: SigningKey
    ca_root_der: bytes
    certificates: tuple[bytes, ...]
    pems: tuple[bytes, ...]
    descriptions: tuple[bytes, ...]
    attested_keys: tuple[bytes, ...]
    chains: tuple[bytes, ...]
    chain_key: bytes
    x25519_public_keys: tuple[bytes, ...]
    hybrid_public_keys: tuple[bytes, ...]
    ed25519_public_keys: tuple[bytes, ...]
    assertion_signer: P256CredentialKey
    witness_key: SigningKey


def request_samples(cose: bytes) -> tuple[Request, ...]:
    """request_samples: one value of every request type, fields near their bounds."""
    return (
        RegisterPassword(
            "alice", 0, 0, Secret(b""), b"s" * 16, Secret(b"\xa5" * 32), Secret(b"R" * 32)
        ),
        RegisterPasskey(
            "bob",
            3,
            4_294_967_295,
            Secret(b"P" * 32),
            b"c" * 32,
            cose,
            b"p" * 64,
            Secret(b"S" * 32),
        ),
        BeginRecovery("\u00e9ve-\u2603"),
        RecoverPassword("alice", 4_294_967_295, 9, Secret(b"\x00" * 32)),
        RecoverPasskey("bob", 2, 0, b"c" * 32, b"a" * 37, b'{"type":"webauthn.get"}', b"\x30" * 70),
        RetireRecord("u" * 128, 1, 1, Secret(b"\x5a" * 32)),
    )


def response_samples() -> tuple[Response, ...]:
    """response_samples: one value of every response type."""
    return (
        Registered(1),
        PasswordRecoveryInfo(7, 3, b"s" * 64),
        PasskeyRecoveryInfo(2, 0, b"h" * 32, b"c" * 1023, b"p" * 16),
        Released(Secret(b"R" * 256)),
        WrongGuess(9),
        Destroyed(),
        NoRecord(),
        Refused(""),
        Refused("stale registration \u2603"),
        Retired(),
        Stale(0, 0),
        Stale(4_294_967_295, 10),
    )


def record_samples(cose: bytes) -> tuple[VaultRecord, ...]:
    """record_samples: vault records sorted by user: live, passkey, destroyed, retired."""
    password = PasswordFactor(b"s" * 16, Secret(b"V" * 32))
    return (
        VaultRecord("alice", Method.PASSWORD, 3, password, Secret(b"R" * 32), 2, False, False),
        VaultRecord(
            "bob", Method.PASSKEY, 1, PasskeyFactor(b"c" * 32, cose, b"p" * 16, 5), Secret(b"S")
        ),
        VaultRecord("carol", Method.PASSWORD, 2, password, Secret(b""), 10, True, False, False),
        VaultRecord("dave", Method.PASSWORD, 9, password, Secret(b""), 0, True, True, True),
    )


def command_samples(cose: bytes) -> tuple[LogValue, ...]:
    """command_samples: every vault command and ``Noop``."""
    return (
        Noop(),
        Register(
            "alice",
            0,
            0,
            Method.PASSWORD,
            PasswordFactor(b"s" * 16, Secret(b"V" * 64)),
            Secret(b"R"),
        ),
        Register(
            "bob",
            4_294_967_295,
            7,
            Method.PASSKEY,
            PasskeyFactor(b"c" * 1023, cose, b"p" * 64, 4_294_967_295),
            Secret(b"S" * 256),
        ),
        ConsumeAttempt("alice", 3, 2),
        Settle("bob", 1, 3, True, 17),
        Settle("bob", 1, 4_294_967_295, False, 17),
        Destroy("carol", 2),
        Retire("dave", 9, 1),
    )


def peer_message_samples(cose: bytes) -> tuple[PeerMessage, ...]:
    """peer_message_samples: every peer message type, with entries and a snapshot."""
    rid = bytes(range(16))
    commands = command_samples(cose)
    records = record_samples(cose)
    big = 2**64 - 1
    return (
        Prepare(Ballot(2, 1), 5),
        Prepare(Ballot(big, 65535), big),
        Promise(
            Ballot(2, 1),
            5,
            (
                AcceptedEntry(5, Ballot(1, 0), Proposal(rid, commands[1])),
                AcceptedEntry(6, Ballot(1, 0), Proposal(rid, Noop())),
            ),
            4,
        ),
        Accept(Ballot(2, 1), 7, Proposal(rid, commands[2]), 6),
        Accepted(Ballot(2, 1), 7),
        Reject(Ballot(2, 1), Ballot(3, 4)),
        Commit(Ballot(2, 1), 8),
        CatchUp(3),
        CatchUpReply(
            Snapshot(5, records),
            tuple(ChosenEntry(5 + i, Proposal(rid, c)) for i, c in enumerate(commands[3:])),
        ),
        CatchUpReply(None, ()),
    )


def durable_state_samples(cose: bytes) -> tuple[DurableState, ...]:
    """durable_state_samples: an empty and a busy replica's durable state."""
    rid = bytes(range(16, 32))
    commands = command_samples(cose)
    accepted = {
        slot: AcceptedEntry(slot, Ballot(3, 2), Proposal(rid, commands[slot % len(commands)]))
        for slot in (64, 65, 70)
    }
    chosen = {64: Proposal(rid, commands[3]), 65: Proposal(rid, Noop())}
    return (
        DurableState(),
        DurableState(Ballot(4, 1), accepted, chosen, Snapshot(64, record_samples(cose)), 3),
    )


def fleet_file(rng: SeededRng, kem: KemChoice, replicas: int, epoch: int) -> FleetKeyFile:
    """fleet_file: a fleet-key file with keys from ``rng``."""
    return FleetKeyFile(
        fleet_id="prn-2026a",
        epoch=epoch,
        firmware=FIRMWARE,
        quorum=replicas // 2 + 1,
        session_key=FleetKeyPair.generate(kem, rng).public_key(),
        replicas=tuple(
            ReplicaKey(i, ("prn", "lla", "odn")[i % 3], SigningKey.generate(rng).public_key())
            for i in range(replicas)
        ),
    )


def envelope(
    sender: int,
    receiver: int,
    boot: bytes,
    seq: int,
    payload: bytes,
    signing_key: SigningKey,
    replication_key: Secret,
    fleet_id: bytes = FLEET_ID,
) -> bytes:
    """envelope: an authentic peer envelope carrying ``payload`` (any bytes), built as
    ``impl.peer``'s docstring specifies, so an undecodable payload can be authentic."""
    fleet = struct.pack(">H", len(fleet_id)) + fleet_id
    header = struct.pack(">BHH16sQ", ENVELOPE_VERSION, sender, receiver, boot, seq)
    key = hkdf_sha256(
        replication_key.reveal(), CONTEXT + b" key" + fleet + struct.pack(">H", sender) + boot
    )
    ciphertext = aes256gcm_seal(key, bytes(4) + struct.pack(">Q", seq), payload, header)
    signature = signing_key.sign(CONTEXT + b" sig" + fleet + header + ciphertext)
    return header + ciphertext + signature


def peer_channel(me: int, ctx: Context, rng_seed: bytes = b"receiver") -> PeerChannel:
    """peer_channel: replica ``me``'s channel in the sample fleet (a fresh boot)."""
    peers: dict[int, VerifyKey] = {
        i: key.public_key() for i, key in enumerate(ctx.peer_signing_keys)
    }
    return PeerChannel(
        me,
        ctx.peer_signing_keys[me],
        peers,
        ctx.replication_key,
        SeededRng(SEED + b"/channel/" + rng_seed),
        FLEET_ID,
    )


@functools.cache
def context() -> Context:
    """context: the sample keys and encodings (built once per process)."""
    rng = SeededRng(SEED)
    cose_key = P256CredentialKey.generate(rng)
    cose = cose_key.cose_public_key()
    requests = request_samples(cose)
    responses = response_samples()

    witness = SigningKey.generate(rng)
    operator = SigningKey.generate(rng)
    file_x = fleet_file(rng, KemChoice.X25519, 3, 1)
    file_h = fleet_file(rng, KemChoice.MLKEM768_X25519, 1, 2)
    statements = (
        SignatureMessage(1, DEFAULT_NAMESPACE, T0_MS, 1, sha256(b"file one")),
        SignatureMessage(1, "n", 0, 2**64 - 1, bytes(32)),
        SignatureMessage(1, "\u00e9" * 127, 2**64 - 1, 0, b"\xff" * 32),
    )
    bundle_x = make_bundle(
        file_x,
        witness,
        operator,
        T0_MS,
        {label: b"chain:" + label.encode() for label in file_x.key_labels()},
    )
    bundle_h = make_bundle(file_h, witness, operator, T0_MS + 1)
    bundles = (encode_bundle(bundle_x), encode_bundle(bundle_h))
    replica_key = SigningKey.generate(rng)
    frames = tuple(
        ResponseFrame(b, 2, sign_answer(replica_key, b, answer), answer).encode()
        for b, answer in ((bundles[0], b"\x01" * 60), (bundles[1], b"sealed answer"))
    )
    leaves = tuple(sign_entry(m, witness).leaf_data() for m in statements)

    log_key = SigningKey.generate(rng)
    log = AuditLog(LOG_ORIGIN, log_key, statement_key=witness.public_key())
    empty = log.encode()
    for epoch in (1, 2, 3):
        log.append(
            sign_entry(
                SignatureMessage(
                    1, DEFAULT_NAMESPACE, T0_MS + epoch, epoch, sha256(bytes([epoch]))
                ),
                witness,
            )
        )
    saved = (empty, log.encode())
    checkpoints = (
        Checkpoint(LOG_ORIGIN, 3, sha256(b"root")),
        Checkpoint(LOG_ORIGIN, 0, bytes(32), ("extension one", "two")),
    )
    notes = tuple(sign_checkpoint(c, LOG_ORIGIN, log_key).text.encode("utf-8") for c in checkpoints)
    bodies = tuple(c.body().encode("utf-8") for c in checkpoints)

    root = Secret(rng.random_bytes(32))
    key64 = encode_key64(root)
    code = generate_recovery_code(rng, 3)
    formatted = format_recovery_code(code)
    blobs = (
        encrypt_backup(root, PLAINTEXT, Method.KEY64, chunk_size=CHUNK_SIZE, rng=rng),
        encrypt_backup(root, b"", Method.PASSWORD, metadata=b"wrapped key", rng=rng),
    )

    authenticator = SoftwareAuthenticator(rng)
    credential = authenticator.create_credential(DEFAULT_RP_ID, b"user handle")
    challenge = rng.random_bytes(32)
    assertion = authenticator.get_assertion(
        credential.credential_id, DEFAULT_RP_ID, DEFAULT_ORIGIN, challenge, b"prf input"
    )

    fleet_keypair = FleetKeyPair.generate(KemChoice.X25519, rng)
    sealed_requests = tuple(seal_request(fleet_keypair.public_key(), r, rng)[0] for r in requests)
    response_key = ResponseKey(rng.random_bytes(32))
    sealed_responses = tuple(seal_response(response_key, r, rng) for r in responses)

    peer_keys = tuple(SigningKey.generate(rng) for _ in range(PEERS))
    replication_key = Secret(rng.random_bytes(32))
    peer_messages = peer_message_samples(cose)

    ca = VendorCA.generate(rng, "Acme HSM", NOT_BEFORE, NOT_AFTER)
    device = ca.provision_device(rng, "HSM-FUZZ-01", NOT_BEFORE, NOT_AFTER)
    identity = peer_keys[0].public_key().raw()
    chain = attest_key(rng, device, ROLE_IDENTITY, identity, 0, FIRMWARE, NOT_BEFORE, NOT_AFTER)
    session_chain = attest_key(
        rng,
        device,
        ROLE_SESSION,
        file_h.session_key.public_bytes(),
        0,
        FIRMWARE,
        NOT_BEFORE,
        NOT_AFTER,
    )
    parsed = AttestationChain.decode(chain)
    certificates = (ca.root_der(), parsed.device_der, parsed.attestation_der)

    ctx = Context(
        requests=tuple(encode_request(r) for r in requests),
        responses=tuple(encode_response(r) for r in responses),
        peer_messages=tuple(encode_peer_message(m) for m in peer_messages),
        commands=tuple(encode_command(c) for c in command_samples(cose)),
        ballots=(encode_ballot(Ballot(0, 0)), encode_ballot(Ballot(7, 3))),
        proposals=tuple(
            encode_proposal(Proposal(bytes([i]) * 16, c))
            for i, c in enumerate(command_samples(cose))
        ),
        snapshots=(
            encode_snapshot(Snapshot(0)),
            encode_snapshot(Snapshot(128, record_samples(cose))),
        ),
        durable_states=tuple(encode_durable_state(s) for s in durable_state_samples(cose)),
        statements=tuple(m.encode() for m in statements),
        fleet_files=(encode_fleet_key_file(file_x), encode_fleet_key_file(file_h)),
        bundles=bundles,
        frames=frames,
        leaves=leaves,
        checkpoint_notes=notes,
        checkpoint_bodies=bodies,
        saved_logs=saved,
        key64_texts=(key64.encode(), key64.replace(" ", "").lower().encode()),
        recovery_texts=(formatted.encode(), code.reveal().lower().encode()),
        blob_root_key=root,
        blobs=blobs,
        cose_keys=(cose, credential.cose_public_key),
        assertion=PasskeyAssertionSample(
            credential.cose_public_key,
            credential.credential_id,
            challenge,
            assertion.authenticator_data,
            assertion.client_data_json,
            assertion.signature,
        ),
        fleet_keypair=fleet_keypair,
        sealed_requests=sealed_requests,
        request_plaintexts=(),
        response_key=response_key,
        sealed_responses=sealed_responses,
        response_plaintexts=(),
        peer_signing_keys=peer_keys,
        replication_key=replication_key,
        envelopes=(),
        log_key=log_key,
        ca_root_der=ca.root_der(),
        certificates=certificates,
        pems=tuple(certificate_to_pem(c).encode("ascii") for c in certificates),
        descriptions=(
            encode_attestation_description(ROLE_IDENTITY, 0, FIRMWARE),
            encode_attestation_description("r" * 64, 65535, bytes(32)),
        ),
        attested_keys=(
            encode_attested_key(AttestedKeyType.ED25519, identity),
            encode_attested_key(AttestedKeyType.MLKEM768_X25519, file_h.session_key.public_bytes()),
        ),
        chains=(chain, session_chain),
        chain_key=identity,
        x25519_public_keys=(file_x.session_key.public_bytes(),),
        hybrid_public_keys=(file_h.session_key.public_bytes(),),
        ed25519_public_keys=tuple(k.public_key().raw() for k in peer_keys),
        assertion_signer=P256CredentialKey.generate(rng),
        witness_key=witness,
    )
    sender = peer_channel(1, ctx, b"sender")
    envelopes = tuple(sender.seal(0, m) for m in peer_messages)
    return dataclasses.replace(
        ctx,
        request_plaintexts=tuple(_padded_request(e) for e in ctx.requests),
        response_plaintexts=tuple(pad(e) for e in ctx.responses),
        envelopes=envelopes,
    )


def pad(data: bytes) -> bytes:
    """pad: ``impl.session``'s padding (0x80 then zeros to a multiple of 256 bytes)."""
    padded = data + b"\x80"
    return padded + bytes(-len(padded) % 256)


def _padded_request(encoded: bytes) -> bytes:
    return b"K" * 32 + pad(encoded)
