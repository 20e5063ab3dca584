"""impl.peer_wire, impl.peer, impl.crypto.ed25519: canonical peer encodings and the
authenticated, encrypted replica-to-replica envelope."""

from __future__ import annotations

import pickle
import struct
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impl.crypto.ed25519 import SigningKey, VerifyKey
from impl.crypto.symmetric import SeededRng, aes256gcm_seal
from impl.errors import (
    ConfigError,
    CryptoError,
    PeerAuthError,
    PeerReplayError,
    WireError,
)
from impl.method import Method
from impl.peer import (
    CONTEXT,
    ENVELOPE_VERSION,
    HEADER_LEN,
    MIN_ENVELOPE_LEN,
    REPLAY_WINDOW,
    PeerChannel,
)
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
    decode_ballot,
    decode_command,
    decode_durable_state,
    decode_peer_message,
    decode_proposal,
    decode_snapshot,
    encode_ballot,
    encode_command,
    encode_durable_state,
    encode_peer_message,
    encode_proposal,
    encode_snapshot,
)
from impl.redact import Secret
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

SECRET = b"\xa5SUPER-SECRET-VALUE\x5a" * 2
VERIFIER = b"\x3cVERIFIER-BYTES\xc3" * 2
U16 = 2**16 - 1
U32 = 2**32 - 1
U64 = 2**64 - 1

# ---------------------------------------------------------------------------- strategies

users = st.text(st.characters(codec="utf-8"), min_size=1, max_size=32)  # at most 128 UTF-8 bytes
secrets = st.binary(min_size=1, max_size=256).map(Secret)
u32s = st.integers(0, U32)
u64s = st.integers(0, U64)
slots = st.one_of(st.integers(0, 1000), u64s)
ballots = st.builds(Ballot, st.one_of(st.integers(0, 50), u64s), st.integers(0, U16))
password_factors = st.builds(
    PasswordFactor,
    st.binary(min_size=16, max_size=64),
    st.binary(min_size=1, max_size=64).map(Secret),
)
passkey_factors = st.builds(
    PasskeyFactor,
    st.binary(min_size=1, max_size=80),
    st.binary(min_size=1, max_size=120),
    st.binary(min_size=16, max_size=64),
    u32s,
)
factors = st.one_of(password_factors, passkey_factors)
methods = st.sampled_from(list(Method))
commands: st.SearchStrategy[LogValue] = st.one_of(
    st.builds(Register, users, u32s, u32s, methods, factors, secrets),
    st.builds(ConsumeAttempt, users, u32s, u32s),
    st.builds(Settle, users, u32s, u32s, st.booleans(), u32s),
    st.builds(Destroy, users, u32s),
    st.builds(Retire, users, u32s, u32s),
    st.just(Noop()),
)
proposals = st.builds(Proposal, st.binary(min_size=16, max_size=16), commands)
records = st.builds(
    VaultRecord,
    users,
    methods,
    u32s,
    factors,
    st.binary(min_size=0, max_size=256).map(Secret),
    u32s,
    st.booleans(),
    st.booleans(),
).map(lambda r: replace(r, retired=r.destroyed and len(r.user) % 2 == 0))
snapshots = st.builds(
    Snapshot,
    u64s,
    st.lists(records, max_size=4, unique_by=lambda r: r.user).map(
        lambda rs: tuple(sorted(rs, key=lambda r: r.user))
    ),
)
accepted_entries = st.builds(AcceptedEntry, slots, ballots, proposals)
chosen_entries = st.builds(ChosenEntry, slots, proposals)
messages: st.SearchStrategy[PeerMessage] = st.one_of(
    st.builds(Prepare, ballots, slots),
    st.builds(Promise, ballots, slots, st.lists(accepted_entries, max_size=4).map(tuple), slots),
    st.builds(Accept, ballots, slots, proposals, slots),
    st.builds(Accepted, ballots, slots),
    st.builds(Reject, ballots, ballots),
    st.builds(Commit, ballots, slots),
    st.builds(CatchUp, slots),
    st.builds(
        CatchUpReply,
        st.none() | snapshots,
        st.lists(chosen_entries, max_size=4).map(tuple),
    ),
)


@st.composite
def durable_states(draw: st.DrawFn) -> DurableState:
    accepted = draw(st.lists(accepted_entries, max_size=4))
    chosen = draw(st.dictionaries(slots, proposals, max_size=4))
    return DurableState(
        draw(ballots),
        {e.slot: e for e in accepted},
        chosen,
        draw(snapshots),
        draw(u64s),
    )


# A fixed sample of every message type, for the exhaustive byte-level tests.
REGISTER = Register(
    "alice", 0, 0, Method.PASSWORD, PasswordFactor(b"s" * 16, Secret(VERIFIER)), Secret(SECRET)
)
PASSKEY_REGISTER = Register(
    "bob", 2, 5, Method.PASSKEY, PasskeyFactor(b"cred", b"\xa5cose", b"p" * 16, 7), Secret(SECRET)
)
RECORD = VaultRecord(
    "alice", Method.PASSWORD, 3, PasswordFactor(b"s" * 16, Secret(VERIFIER)), Secret(SECRET), 2
)
RID = bytes(range(16))
SAMPLES: tuple[PeerMessage, ...] = (
    Prepare(Ballot(2, 1), 5),
    Promise(
        Ballot(2, 1),
        5,
        (
            AcceptedEntry(5, Ballot(1, 0), Proposal(RID, REGISTER)),
            AcceptedEntry(6, Ballot(1, 0), Proposal(RID, Noop())),
        ),
        4,
    ),
    Accept(Ballot(2, 1), 7, Proposal(RID, PASSKEY_REGISTER), 6),
    Accepted(Ballot(2, 1), 7),
    Reject(Ballot(2, 1), Ballot(3, 4)),
    Commit(Ballot(2, 1), 8),
    CatchUp(3),
    CatchUpReply(
        Snapshot(5, (RECORD,)),
        (
            ChosenEntry(5, Proposal(RID, ConsumeAttempt("alice", 3, 2))),
            ChosenEntry(6, Proposal(RID, Settle("alice", 3, 2, True, 9))),
            ChosenEntry(7, Proposal(RID, Destroy("alice", 3))),
        ),
    ),
)


def _no_secret(text: str) -> None:
    for raw in (SECRET, VERIFIER):
        assert raw.hex() not in text
        assert repr(raw)[2:-1] not in text
        assert "SUPER-SECRET" not in text
        assert "VERIFIER-BYTES" not in text


# ----------------------------------------------------------------------- peer_wire: trips


@given(messages)
def test_peer_message_round_trip(message: PeerMessage) -> None:
    data = encode_peer_message(message)
    assert decode_peer_message(data) == message


@given(commands)
def test_command_round_trip(command: LogValue) -> None:
    assert decode_command(encode_command(command)) == command


@given(ballots, proposals, snapshots)
def test_row_encodings_round_trip(ballot: Ballot, proposal: Proposal, snapshot: Snapshot) -> None:
    assert decode_ballot(encode_ballot(ballot)) == ballot
    assert decode_proposal(encode_proposal(proposal)) == proposal
    assert decode_snapshot(encode_snapshot(snapshot)) == snapshot


@settings(max_examples=30)
@given(durable_states())
def test_durable_state_round_trip(state: DurableState) -> None:
    assert decode_durable_state(encode_durable_state(state)) == state


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_sample_round_trips_and_prints_no_secret(message: PeerMessage) -> None:
    assert decode_peer_message(encode_peer_message(message)) == message
    _no_secret(repr(message))
    _no_secret(str(message))


def test_big_catch_up_reply() -> None:
    entries = tuple(ChosenEntry(i, Proposal(RID, ConsumeAttempt("u", i, 0))) for i in range(5000))
    reply = CatchUpReply(None, entries)
    assert decode_peer_message(encode_peer_message(reply)) == reply


# -------------------------------------------------------------------- peer_wire: strictness


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_truncation_and_extension_is_refused(message: PeerMessage) -> None:
    data = encode_peer_message(message)
    for cut in range(len(data)):
        with pytest.raises(WireError):
            decode_peer_message(data[:cut])
    with pytest.raises(WireError, match="trailing"):
        decode_peer_message(data + b"\x00")


@settings(max_examples=200)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_decode_only_if_canonical(data: bytes) -> None:
    for prefix in (b"\x01", b""):
        try:
            message = decode_peer_message(prefix + data)
        except WireError:
            continue
        assert encode_peer_message(message) == prefix + data


@given(st.sampled_from(SAMPLES), st.data())
def test_mutated_encodings_decode_only_if_canonical(
    message: PeerMessage, data: st.DataObject
) -> None:
    encoded = bytearray(encode_peer_message(message))
    i = data.draw(st.integers(0, len(encoded) - 1))
    encoded[i] = data.draw(st.integers(0, 255))
    try:
        decoded = decode_peer_message(bytes(encoded))
    except WireError as exc:
        _no_secret(str(exc))
        return
    assert encode_peer_message(decoded) == bytes(encoded)


def test_bad_tags_versions_and_flags() -> None:
    prepare = encode_peer_message(Prepare(Ballot(1, 1), 0))
    with pytest.raises(WireError, match="version"):
        decode_peer_message(b"\x02" + prepare[1:])
    for tag in (0x00, 0x09, 0xFF):
        with pytest.raises(WireError, match="unknown type tag"):
            decode_peer_message(bytes((1, tag)) + prepare[2:])
    with pytest.raises(WireError, match="version byte"):
        decode_peer_message(b"")
    with pytest.raises(WireError, match="expected bytes"):
        decode_peer_message("not bytes")  # type: ignore[arg-type]

    command = encode_command(REGISTER)
    assert command[1] == 0x01
    with pytest.raises(WireError, match="unknown command tag"):
        decode_command(b"\x01\x06" + command[2:])
    # method id follows the user and the version: 0x01 tag, u16 length 5, "alice", 2 x u32
    method_at = 2 + 2 + 5 + 8
    assert command[method_at] == Method.PASSWORD.wire_id
    for bad in (0, 5, 255):
        with pytest.raises(WireError, match="protection method id"):
            decode_command(command[:method_at] + bytes((bad,)) + command[method_at + 1 :])
    with pytest.raises(WireError, match="factor tag"):
        decode_command(command[: method_at + 1] + b"\x03" + command[method_at + 2 :])

    reply = encode_peer_message(CatchUpReply(None, ()))
    with pytest.raises(WireError, match="0 or 1"):
        decode_peer_message(reply[:2] + b"\x02" + reply[3:])
    snapshot = encode_snapshot(Snapshot(1, (RECORD,)))
    with pytest.raises(WireError, match="0 or 1"):
        decode_snapshot(snapshot[:-1] + b"\x02")


def test_bad_utf8_and_length_bounds_are_refused() -> None:
    good = encode_command(ConsumeAttempt("ab", 1, 0))
    with pytest.raises(WireError, match="UTF-8"):
        decode_command(good[:4] + b"\xff\xfe" + good[6:])
    with pytest.raises(WireError, match=r"1\.\.128 bytes, found 0"):
        decode_command(b"\x01\x02\x00\x00" + bytes(4))
    register = encode_command(REGISTER)
    # salt length 15 instead of 16
    salt_at = 2 + 2 + 5 + 8 + 1 + 1  # version, tag, "alice", (replaces, attempts), method, ftag
    assert register[salt_at : salt_at + 2] == b"\x00\x10"
    with pytest.raises(WireError, match=r"PasswordFactor.salt: expected 16..64 bytes, found 15"):
        decode_command(register[:salt_at] + b"\x00\x0f" + register[salt_at + 2 :])


def test_huge_counts_are_refused_without_allocation() -> None:
    data = encode_peer_message(CatchUpReply(None, ()))
    with pytest.raises(WireError, match="count"):
        decode_peer_message(data[:3] + struct.pack(">I", U32))


def test_unsorted_or_duplicate_snapshot_is_refused() -> None:
    bob = VaultRecord("bob", Method.PASSKEY, 1, PASSKEY_REGISTER.factor, Secret(b""), 0, True)
    good = Snapshot(4, (RECORD, bob))
    assert decode_snapshot(encode_snapshot(good)) == good
    for bad in ((bob, RECORD), (RECORD, RECORD)):
        with pytest.raises(WireError, match="increasing"):
            encode_snapshot(Snapshot(4, bad))
    # Swap the two records in a valid encoding: the decoder refuses it too.
    one = encode_snapshot(Snapshot(4, (RECORD,)))[1 + 8 + 4 :]
    two = encode_snapshot(Snapshot(4, (bob,)))[1 + 8 + 4 :]
    swapped = b"\x01" + struct.pack(">QI", 4, 2) + two + one
    with pytest.raises(WireError, match="increasing"):
        decode_snapshot(swapped)


def test_durable_state_slots_must_match_and_increase() -> None:
    entry = AcceptedEntry(3, Ballot(1, 1), Proposal(RID, Noop()))
    with pytest.raises(WireError, match="key 4 holds an entry for slot 3"):
        encode_durable_state(DurableState(accepted={4: entry}))
    state = DurableState(chosen={1: Proposal(RID, Noop()), 2: Proposal(RID, Noop())})
    data = encode_durable_state(state)
    proposal = RID + b"\x00"
    tail = struct.pack(">I", 2) + struct.pack(">Q", 1) + proposal + struct.pack(">Q", 2) + proposal
    assert data.endswith(tail)
    swapped = (
        struct.pack(">I", 2) + struct.pack(">Q", 2) + proposal + struct.pack(">Q", 1) + proposal
    )
    with pytest.raises(WireError, match="increasing"):
        decode_durable_state(data[: -len(tail)] + swapped)


@pytest.mark.parametrize(
    "value",
    [
        Prepare(Ballot(-1, 0), 0),
        Prepare(Ballot(2**64, 0), 0),
        Prepare(Ballot(1, 2**16), 0),
        Prepare(Ballot(1, 1), -1),
        CatchUp(2**64),
        CatchUp(True),
        Accept(Ballot(1, 1), 0, Proposal(b"short", Noop()), 0),
        Accept(Ballot(1, 1), 0, Proposal(RID, ConsumeAttempt("", 1, 0)), 0),
        Accept(Ballot(1, 1), 0, Proposal(RID, ConsumeAttempt("\ud800", 1, 0)), 0),
        Accept(Ballot(1, 1), 0, Proposal(RID, ConsumeAttempt("x" * 129, 1, 0)), 0),
        Accept(Ballot(1, 1), 0, Proposal(RID, ConsumeAttempt("x", 2**32, 0)), 0),
        Accept(
            Ballot(1, 1),
            0,
            Proposal(
                RID,
                Register(
                    "a",
                    0,
                    0,
                    Method.PASSWORD,
                    PasswordFactor(b"s" * 16, Secret(SECRET * 2)),
                    Secret(SECRET),
                ),
            ),
            0,
        ),
        Accept(
            Ballot(1, 1),
            0,
            Proposal(RID, Register("a", 0, 0, Method.PASSWORD, REGISTER.factor, Secret(b""))),
            0,
        ),
        Promise(Ballot(1, 1), 0, [], 0),  # type: ignore[arg-type]
        CatchUpReply(None, (Proposal(RID, Noop()),)),  # type: ignore[arg-type]
        "not a message",
    ],
)
def test_encoder_refuses_what_the_decoder_would(value: PeerMessage) -> None:
    with pytest.raises(WireError) as info:
        encode_peer_message(value)
    _no_secret(str(info.value))


# ----------------------------------------------------------------------------- ed25519


def test_ed25519_keys() -> None:
    a = SigningKey.generate(SeededRng(1))
    again = SigningKey.generate(SeededRng(1))
    b = SigningKey.generate(SeededRng(2))
    assert a.public_key() == again.public_key() != b.public_key()
    assert hash(a.public_key()) == hash(again.public_key())
    signature = a.sign(b"message")
    assert len(signature) == 64
    assert len(a.public_key().raw()) == 32
    a.public_key().verify(signature, b"message")
    restored = VerifyKey.from_bytes(a.public_key().raw())
    assert restored == a.public_key()
    restored.verify(signature, b"message")
    with pytest.raises(CryptoError, match="did not verify"):
        restored.verify(signature, b"messagf")
    with pytest.raises(CryptoError, match="did not verify"):
        b.public_key().verify(signature, b"message")
    with pytest.raises(CryptoError, match="64 bytes"):
        restored.verify(signature[:63], b"message")
    for bad in (b"", bytes(31), bytes(33)):
        with pytest.raises(CryptoError, match="32 bytes"):
            VerifyKey.from_bytes(bad)
    seed = SeededRng(1).random_bytes(32)
    assert seed.hex() not in repr(a)
    assert "redacted" in repr(a)
    with pytest.raises(TypeError):
        pickle.dumps(a)
    assert a.public_key() != "key"


# ---------------------------------------------------------------------------- envelope

FLEET = b"fleet-7"


def _fleet(
    n: int = 3, seed: int = 7, fleet_id: bytes = FLEET
) -> tuple[list[PeerChannel], list[SigningKey], Secret]:
    rng = SeededRng(seed)
    keys = [SigningKey.generate(rng) for _ in range(n)]
    pinned = {i: k.public_key() for i, k in enumerate(keys)}
    replication = Secret(rng.random_bytes(32))
    channels = [PeerChannel(i, keys[i], pinned, replication, rng, fleet_id) for i in range(n)]
    return channels, keys, replication


def _counts(c: PeerChannel) -> tuple[int, int, int, int]:
    return (c.accepted, c.rejected_malformed, c.rejected_forged, c.rejected_replayed)


@settings(max_examples=25)
@given(messages)
def test_envelope_round_trip(message: PeerMessage) -> None:
    (a, b, _), _, _ = _fleet()
    data = a.seal(1, message)
    assert b.open(data) == (0, message)
    assert _counts(b) == (1, 0, 0, 0)


def test_envelope_round_trip_every_type_and_to_self() -> None:
    (a, b, _), _, _ = _fleet()
    for i, message in enumerate(SAMPLES):
        data = a.seal(1, message)
        assert data[0] == ENVELOPE_VERSION
        assert struct.unpack(">HH", data[1:5]) == (0, 1)
        assert struct.unpack(">Q", data[HEADER_LEN - 8 : HEADER_LEN])[0] == i
        assert b.open(data) == (0, message)
        assert SECRET not in data
        assert VERIFIER not in data
    assert a.open(a.seal(0, SAMPLES[0])) == (0, SAMPLES[0])
    assert b.counters.accepted == len(SAMPLES)


def test_tampering_with_any_byte_is_refused_and_changes_nothing() -> None:
    (a, b, _), _, _ = _fleet()
    data = a.seal(1, SAMPLES[2])
    for i in range(len(data)):
        tampered = bytearray(data)
        tampered[i] ^= 0x01
        with pytest.raises((PeerAuthError, WireError)) as info:
            b.open(bytes(tampered))
        _no_secret(str(info.value))
        if i == 0:
            assert info.type is WireError
    assert _counts(b) == (0, 1, len(data) - 1, 0)
    for cut in (0, 1, MIN_ENVELOPE_LEN - 1):
        with pytest.raises(WireError, match="at least"):
            b.open(data[:cut])
    with pytest.raises(PeerAuthError):
        b.open(data[:-1])
    with pytest.raises(PeerAuthError):
        b.open(data + b"\x00")
    with pytest.raises(WireError, match="expected bytes"):
        b.open(bytearray(data))  # type: ignore[arg-type]
    assert _counts(b) == (0, 5, len(data) + 1, 0)
    assert b.open(data) == (0, SAMPLES[2])  # nothing was recorded by the rejections
    assert _counts(b) == (1, 5, len(data) + 1, 0)


def test_wrong_receiver_unknown_sender_impostor_wrong_keys() -> None:
    (a, b, c), keys, replication = _fleet()
    with pytest.raises(PeerAuthError, match="addressed to replica 2"):
        b.open(a.seal(2, SAMPLES[0]))
    assert c.open(a.seal(2, SAMPLES[0])) == (0, SAMPLES[0])

    rng = SeededRng(99)
    pinned = {i: k.public_key() for i, k in enumerate(keys)}
    stranger_key = SigningKey.generate(rng)
    stranger = PeerChannel(
        7, stranger_key, {**pinned, 7: stranger_key.public_key()}, replication, rng, FLEET
    )
    with pytest.raises(PeerAuthError, match="unknown sender replica 7"):
        b.open(stranger.seal(1, SAMPLES[0]))

    # The operator claims to be replica 0 with a key of its own.
    impostor_key = SigningKey.generate(rng)
    impostor = PeerChannel(
        0, impostor_key, {**pinned, 0: impostor_key.public_key()}, replication, rng, FLEET
    )
    with pytest.raises(PeerAuthError, match="signature"):
        b.open(impostor.seal(1, SAMPLES[0]))

    # A real replica key but another replication key: the AEAD fails.
    other = PeerChannel(0, keys[0], pinned, Secret(bytes(32)), rng, FLEET)
    with pytest.raises(PeerAuthError, match="ciphertext"):
        b.open(other.seal(1, SAMPLES[0]))

    # Another fleet (same keys, other fleet id): the signature is bound to the fleet.
    foreign = PeerChannel(0, keys[0], pinned, replication, rng, b"fleet-8")
    with pytest.raises(PeerAuthError, match="signature"):
        b.open(foreign.seal(1, SAMPLES[0]))
    assert _counts(b) == (0, 0, 5, 0)


def test_authentic_but_undecodable_payload_is_malformed() -> None:
    (a, b, _), keys, _ = _fleet()
    header = struct.pack(">BHH16sQ", ENVELOPE_VERSION, 0, 1, a.boot_nonce, 0)
    ciphertext = aes256gcm_seal(
        a._boot_key(0, a.boot_nonce), bytes(4) + struct.pack(">Q", 0), b"\x01\x09", header
    )
    signed = CONTEXT + b" sig" + struct.pack(">H", len(FLEET)) + FLEET + header + ciphertext
    data = header + ciphertext + keys[0].sign(signed)
    with pytest.raises(WireError, match="unknown type tag"):
        b.open(data)
    assert _counts(b) == (0, 1, 0, 0)


def test_replay_is_refused_and_reordering_accepted() -> None:
    (a, b, _), _, _ = _fleet()
    sealed = [a.seal(1, CatchUp(i)) for i in range(10)]
    for data in reversed(sealed):
        b.open(data)
    assert _counts(b) == (10, 0, 0, 0)
    for data in sealed:
        with pytest.raises(PeerReplayError, match="already accepted"):
            b.open(data)
    assert _counts(b) == (10, 0, 0, 10)
    assert b.open(a.seal(1, CatchUp(10))) == (0, CatchUp(10))


def test_replay_window_edge() -> None:
    (a, b, _), _, _ = _fleet()
    sealed = [a.seal(1, CatchUp(0)) for _ in range(REPLAY_WINDOW + 2)]
    b.open(sealed[-1])  # highest = W + 1
    with pytest.raises(PeerReplayError, match="1024 or more below"):
        b.open(sealed[0])  # W + 1 below: too old
    with pytest.raises(PeerReplayError, match="1024 or more below"):
        b.open(sealed[1])  # exactly W below: too old
    b.open(sealed[2])  # W - 1 below: in the window, never seen
    with pytest.raises(PeerReplayError, match="already accepted"):
        b.open(sealed[2])
    assert _counts(b) == (2, 0, 0, 3)


def test_restart_gives_a_fresh_boot() -> None:
    (a, b, _), _, _ = _fleet()
    first_boot = a.boot_nonce
    old = [a.seal(1, CatchUp(i)) for i in range(3)]
    b.open(old[0])
    a.restart()
    assert a.boot_nonce != first_boot
    assert len(a.boot_nonce) == 16
    new = a.seal(1, CatchUp(9))
    assert struct.unpack(">Q", new[HEADER_LEN - 8 : HEADER_LEN])[0] == 0
    assert b.open(new) == (0, CatchUp(9))
    # Delayed messages of the sender's older boot are still accepted, once.
    assert b.open(old[2]) == (0, CatchUp(2))
    with pytest.raises(PeerReplayError):
        b.open(old[0])
    # The receiver's windows are volatile: after its restart a replay gets through.
    counters_before = _counts(b)
    b.restart()
    assert b.open(old[0]) == (0, CatchUp(0))
    assert b.accepted == counters_before[0] + 1  # counters survive a restart


def test_channel_configuration_is_checked() -> None:
    rng = SeededRng(3)
    key = SigningKey.generate(rng)
    other = SigningKey.generate(rng)
    replication = Secret(bytes(32))
    with pytest.raises(ConfigError, match="32-byte"):
        PeerChannel(0, key, {}, Secret(bytes(16)), rng)
    with pytest.raises(ConfigError, match="not this replica's key"):
        PeerChannel(0, key, {0: other.public_key()}, replication, rng)
    with pytest.raises(ConfigError, match="replica index"):
        PeerChannel(2**16, key, {}, replication, rng)
    with pytest.raises(ConfigError, match="replica index"):
        PeerChannel(0, key, {-1: other.public_key()}, replication, rng)
    with pytest.raises(ConfigError, match="VerifyKey"):
        PeerChannel(0, key, {1: b"raw"}, replication, rng)  # type: ignore[dict-item]
    channel = PeerChannel(0, key, {1: other.public_key()}, replication, rng)
    with pytest.raises(ConfigError, match="unknown receiver"):
        channel.seal(2, SAMPLES[0])
    with pytest.raises(WireError):
        channel.seal(1, CatchUp(-1))
    assert channel.seal(1, SAMPLES[0])[HEADER_LEN - 8 : HEADER_LEN] == bytes(8)  # seq unused
    with pytest.raises(TypeError):
        pickle.dumps(channel)


def test_channel_repr_and_errors_show_no_secret() -> None:
    (a, b, _), _, replication = _fleet()
    data = a.seal(1, Accept(Ballot(1, 0), 0, Proposal(RID, REGISTER), 0))
    text = repr(a) + repr(b) + repr(b.counters)
    assert replication.reveal().hex() not in text
    _no_secret(text)
    b.open(data)
    with pytest.raises(PeerReplayError) as info:
        b.open(data)
    _no_secret(str(info.value))
