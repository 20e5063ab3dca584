"""impl.peer_wire: the canonical binary encoding of what replicas exchange and keep.

Every value of ``impl.peer_messages`` and every vault command has exactly one encoding;
``decode_x(encode_x(v)) == v``, and ``decode_x`` refuses anything that is not exactly such
an encoding with a ``WireError`` naming the value, the field, what was expected and what
was found: lengths, tags, counts and versions, never the bytes of a field (a ``Register``
carries the user's secret and a password verifier).

Format (version 1), all integers big-endian (replicas of one fleet run one firmware, whose
measurement the fleet-key file pins, so the vault commands that gained their record
versions did not bump it; ``impl.sqlite_store``'s schema version did)::

    top level   = version:u8 (= 1) || body           (every encode_*/decode_* pair below)
    message     = tag:u8 || fields, by tag:
        0x01 Prepare       ballot || from_slot:u64
        0x02 Promise       ballot || from_slot:u64 || count:u32 || accepted* || committed:u64
        0x03 Accept        ballot || slot:u64 || proposal || committed:u64
        0x04 Accepted      ballot || slot:u64
        0x05 Reject        ballot || promised:ballot
        0x06 Commit        ballot || committed:u64
        0x07 CatchUp       from_slot:u64
        0x08 CatchUpReply  has_snapshot:bool || snapshot? || count:u32 || chosen*
    ballot      = round:u64 || replica:u16
    accepted    = slot:u64 || ballot || proposal                   (an AcceptedEntry)
    chosen      = slot:u64 || proposal                             (a ChosenEntry)
    proposal    = request_id:16 bytes (no length prefix) || value
    value       = vtag:u8 || fields, by vtag:
        0x00 Noop
        0x01 Register        user || replaces:u32 || attempts:u32 || method || factor
                             || secret(1..256)
        0x02 ConsumeAttempt  user || registration:u32 || attempts:u32
        0x03 Settle          user || registration:u32 || attempts:u32 || right:bool
                             || sign_count:u32
                             (one length for a right and a wrong guess)
        0x04 Destroy         user || registration:u32
        0x05 Retire          user || registration:u32 || attempts:u32
    factor      = ftag:u8 || fields, by ftag:
        0x01 PasswordFactor  salt(16..64) || verifier(1..64, a Secret)
        0x02 PasskeyFactor   credential_id(1..1023) || cose_public_key(1..1024)
                             || prf_salt(16..64) || sign_count:u32
    snapshot    = upto:u64 || count:u32 || record*   (users strictly increasing)
    record      = user || method || registration:u32 || factor || secret(0..256)
                  || attempts:u32 || destroyed:bool || proved:bool || retired:bool
    state       = promised:ballot || boots:u64 || snapshot
                  || count:u32 || accepted* (slots strictly increasing)
                  || count:u32 || chosen*   (slots strictly increasing)
    user        = text(1..128)
    method      = u8, ``Method.wire_id`` (1 key64, 2 recovery-code, 3 password, 4 passkey)
    bytes(a..b) = length:u16 || length bytes, a <= length <= b
    text(a..b)  = bytes(a..b), the UTF-8 encoding of a str (strict: valid UTF-8 only)
    bool        = u8, 0 or 1

The byte-string bounds are those of ``impl.wire`` (a command carries what a request
carried). Counts are u32, so a catch-up reply may carry millions of entries; a decoder
never trusts a count beyond what the remaining bytes can hold. The encoders check every
bound and type, so they never produce bytes the decoders reject.
"""

from __future__ import annotations

import struct
from typing import Final

from impl.errors import WireError
from impl.method import Method
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
from impl.wire import COSE_PUBLIC_KEY, CREDENTIAL_ID, PRF_SALT, SALT, USER, VAULT_SECRET

FORMAT_VERSION: Final = 1
U16_MAX: Final = 0xFFFF
U32_MAX: Final = 0xFFFFFFFF
U64_MAX: Final = 0xFFFFFFFFFFFFFFFF
REQUEST_ID_LEN: Final = 16

USER_LEN: Final = (USER.min_len, USER.max_len)
SALT_LEN: Final = (SALT.min_len, SALT.max_len)
VERIFIER_LEN: Final = (1, 64)
COMMAND_SECRET_LEN: Final = (VAULT_SECRET.min_len, VAULT_SECRET.max_len)
RECORD_SECRET_LEN: Final = (0, VAULT_SECRET.max_len)  # a destroyed record keeps b""
CREDENTIAL_ID_LEN: Final = (CREDENTIAL_ID.min_len, CREDENTIAL_ID.max_len)
COSE_PUBLIC_KEY_LEN: Final = (COSE_PUBLIC_KEY.min_len, COSE_PUBLIC_KEY.max_len)
PRF_SALT_LEN: Final = (PRF_SALT.min_len, PRF_SALT.max_len)

TAG_PREPARE: Final = 0x01
TAG_PROMISE: Final = 0x02
TAG_ACCEPT: Final = 0x03
TAG_ACCEPTED: Final = 0x04
TAG_REJECT: Final = 0x05
TAG_COMMIT: Final = 0x06
TAG_CATCH_UP: Final = 0x07
TAG_CATCH_UP_REPLY: Final = 0x08

VTAG_NOOP: Final = 0x00
VTAG_REGISTER: Final = 0x01
VTAG_CONSUME_ATTEMPT: Final = 0x02
VTAG_SETTLE: Final = 0x03
VTAG_DESTROY: Final = 0x04
VTAG_RETIRE: Final = 0x05

FTAG_PASSWORD: Final = 0x01
FTAG_PASSKEY: Final = 0x02

_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_U64: Final = struct.Struct(">Q")
_BALLOT: Final = struct.Struct(">QH")
_SLOT_BALLOT: Final = struct.Struct(">QQH")

# Smallest encodings, to bound a count by the bytes that remain.
_MIN_PROPOSAL: Final = REQUEST_ID_LEN + 1
_MIN_ACCEPTED: Final = _SLOT_BALLOT.size + _MIN_PROPOSAL
_MIN_CHOSEN: Final = 8 + _MIN_PROPOSAL
_MIN_RECORD: Final = 2 + 1 + 1 + 4 + 1 + 2 + 16 + 2 + 1 + 2 + 4 + 1
_MESSAGE_NAMES: Final = {
    TAG_PREPARE: "Prepare",
    TAG_PROMISE: "Promise",
    TAG_ACCEPT: "Accept",
    TAG_ACCEPTED: "Accepted",
    TAG_REJECT: "Reject",
    TAG_COMMIT: "Commit",
    TAG_CATCH_UP: "CatchUp",
    TAG_CATCH_UP_REPLY: "CatchUpReply",
}


# ------------------------------------------------------------------------------ encoding


def _int(out: bytearray, packer: struct.Struct, top: int, value: object, where: str) -> None:
    if type(value) is not int:
        raise WireError(f"{where}: expected an int, found {type(value).__name__}")
    if not 0 <= value <= top:
        raise WireError(f"{where}: expected 0..{top}, found {value}")
    out += packer.pack(value)


def _u32(out: bytearray, value: object, where: str) -> None:
    _int(out, _U32, U32_MAX, value, where)


def _u64(out: bytearray, value: object, where: str) -> None:
    _int(out, _U64, U64_MAX, value, where)


def _raw(out: bytearray, raw: bytes, bounds: tuple[int, int], where: str) -> None:
    n = len(raw)
    if not bounds[0] <= n <= bounds[1]:
        raise WireError(f"{where}: expected {bounds[0]}..{bounds[1]} bytes, found {n}")
    out += _U16.pack(n)
    out += raw


def _bytes(out: bytearray, value: object, bounds: tuple[int, int], where: str) -> None:
    if type(value) is not bytes:
        raise WireError(f"{where}: expected bytes, found {type(value).__name__}")
    _raw(out, value, bounds, where)


def _secret(out: bytearray, value: object, bounds: tuple[int, int], where: str) -> None:
    if not isinstance(value, Secret):
        raise WireError(f"{where}: expected a Secret, found {type(value).__name__}")
    _raw(out, value.reveal(), bounds, where)


def _text(out: bytearray, value: object, bounds: tuple[int, int], where: str) -> None:
    if type(value) is not str:
        raise WireError(f"{where}: expected a str, found {type(value).__name__}")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError:
        raise WireError(f"{where}: not encodable as UTF-8 (lone surrogate)") from None
    _raw(out, raw, bounds, where)


def _method(out: bytearray, value: object, where: str) -> None:
    if not isinstance(value, Method):
        raise WireError(f"{where}: expected a Method, found {type(value).__name__}")
    out.append(value.wire_id)


def _bool(out: bytearray, value: object, where: str) -> None:
    if type(value) is not bool:
        raise WireError(f"{where}: expected a bool, found {type(value).__name__}")
    out.append(1 if value else 0)


def _ballot(out: bytearray, ballot: object, where: str) -> None:
    if not isinstance(ballot, Ballot):
        raise WireError(f"{where}: expected a Ballot, found {type(ballot).__name__}")
    r, p = ballot.round, ballot.replica
    if type(r) is not int or not 0 <= r <= U64_MAX:
        raise WireError(f"{where}.round: expected an int in 0..{U64_MAX}, found {r!r}")
    if type(p) is not int or not 0 <= p <= U16_MAX:
        raise WireError(f"{where}.replica: expected an int in 0..{U16_MAX}, found {p!r}")
    out += _BALLOT.pack(r, p)


def _factor(out: bytearray, factor: object, where: str) -> None:
    if isinstance(factor, PasswordFactor):
        out.append(FTAG_PASSWORD)
        _bytes(out, factor.salt, SALT_LEN, "PasswordFactor.salt")
        _secret(out, factor.verifier, VERIFIER_LEN, "PasswordFactor.verifier")
    elif isinstance(factor, PasskeyFactor):
        out.append(FTAG_PASSKEY)
        _bytes(out, factor.credential_id, CREDENTIAL_ID_LEN, "PasskeyFactor.credential_id")
        _bytes(out, factor.cose_public_key, COSE_PUBLIC_KEY_LEN, "PasskeyFactor.cose_public_key")
        _bytes(out, factor.prf_salt, PRF_SALT_LEN, "PasskeyFactor.prf_salt")
        _u32(out, factor.sign_count, "PasskeyFactor.sign_count")
    else:
        raise WireError(
            f"{where}: expected a PasswordFactor or PasskeyFactor, found {type(factor).__name__}"
        )


def _value(out: bytearray, value: object) -> None:
    if isinstance(value, Noop):
        out.append(VTAG_NOOP)
    elif isinstance(value, Register):
        out.append(VTAG_REGISTER)
        _text(out, value.user, USER_LEN, "Register.user")
        _u32(out, value.replaces, "Register.replaces")
        _u32(out, value.attempts, "Register.attempts")
        _method(out, value.method, "Register.method")
        _factor(out, value.factor, "Register.factor")
        _secret(out, value.secret, COMMAND_SECRET_LEN, "Register.secret")
    elif isinstance(value, ConsumeAttempt):
        out.append(VTAG_CONSUME_ATTEMPT)
        _text(out, value.user, USER_LEN, "ConsumeAttempt.user")
        _u32(out, value.registration, "ConsumeAttempt.registration")
        _u32(out, value.attempts, "ConsumeAttempt.attempts")
    elif isinstance(value, Settle):
        out.append(VTAG_SETTLE)
        _text(out, value.user, USER_LEN, "Settle.user")
        _u32(out, value.registration, "Settle.registration")
        _u32(out, value.attempts, "Settle.attempts")
        _bool(out, value.right, "Settle.right")
        _u32(out, value.sign_count, "Settle.sign_count")
    elif isinstance(value, Destroy):
        out.append(VTAG_DESTROY)
        _text(out, value.user, USER_LEN, "Destroy.user")
        _u32(out, value.registration, "Destroy.registration")
    elif isinstance(value, Retire):
        out.append(VTAG_RETIRE)
        _text(out, value.user, USER_LEN, "Retire.user")
        _u32(out, value.registration, "Retire.registration")
        _u32(out, value.attempts, "Retire.attempts")
    else:
        raise WireError(f"command: expected a vault command or Noop, found {type(value).__name__}")


def _proposal(out: bytearray, proposal: object, where: str) -> None:
    if not isinstance(proposal, Proposal):
        raise WireError(f"{where}: expected a Proposal, found {type(proposal).__name__}")
    rid = proposal.request_id
    if type(rid) is not bytes or len(rid) != REQUEST_ID_LEN:
        found = f"{len(rid)} bytes" if type(rid) is bytes else type(rid).__name__
        raise WireError(f"{where}.request_id: expected {REQUEST_ID_LEN} bytes, found {found}")
    out += rid
    _value(out, proposal.value)


def _record(out: bytearray, record: object) -> None:
    if not isinstance(record, VaultRecord):
        raise WireError(f"Snapshot.records: expected a VaultRecord, found {type(record).__name__}")
    _text(out, record.user, USER_LEN, "VaultRecord.user")
    _method(out, record.method, "VaultRecord.method")
    _u32(out, record.registration, "VaultRecord.registration")
    _factor(out, record.factor, "VaultRecord.factor")
    _secret(out, record.secret, RECORD_SECRET_LEN, "VaultRecord.secret")
    _u32(out, record.attempts, "VaultRecord.attempts")
    _bool(out, record.destroyed, "VaultRecord.destroyed")
    if record.retired and not record.destroyed:
        raise WireError("VaultRecord.retired: a retired record must be destroyed")
    _bool(out, record.proved, "VaultRecord.proved")
    _bool(out, record.retired, "VaultRecord.retired")


def _snapshot(out: bytearray, snapshot: object, where: str) -> None:
    if not isinstance(snapshot, Snapshot):
        raise WireError(f"{where}: expected a Snapshot, found {type(snapshot).__name__}")
    _u64(out, snapshot.upto, "Snapshot.upto")
    records = snapshot.records
    _count(out, records, "Snapshot.records")
    previous: str | None = None
    for record in records:
        _record(out, record)
        if previous is not None and not previous < record.user:
            raise WireError("Snapshot.records: expected users in strictly increasing order")
        previous = record.user


def _count(out: bytearray, items: object, where: str) -> None:
    if not isinstance(items, tuple):
        raise WireError(f"{where}: expected a tuple, found {type(items).__name__}")
    if len(items) > U32_MAX:
        raise WireError(f"{where}: expected at most {U32_MAX} entries, found {len(items)}")
    out += _U32.pack(len(items))


def _accepted_entry(out: bytearray, entry: object, where: str) -> None:
    if not isinstance(entry, AcceptedEntry):
        raise WireError(f"{where}: expected an AcceptedEntry, found {type(entry).__name__}")
    _u64(out, entry.slot, "AcceptedEntry.slot")
    _ballot(out, entry.ballot, "AcceptedEntry.ballot")
    _proposal(out, entry.proposal, "AcceptedEntry.proposal")


def _chosen_entry(out: bytearray, entry: object, where: str) -> None:
    if not isinstance(entry, ChosenEntry):
        raise WireError(f"{where}: expected a ChosenEntry, found {type(entry).__name__}")
    _u64(out, entry.slot, "ChosenEntry.slot")
    _proposal(out, entry.proposal, "ChosenEntry.proposal")


def _message(out: bytearray, m: object) -> None:
    # Ordered by frequency in a steady state: Accept/Accepted/Commit first.
    if isinstance(m, Accept):
        out.append(TAG_ACCEPT)
        _ballot(out, m.ballot, "Accept.ballot")
        _u64(out, m.slot, "Accept.slot")
        _proposal(out, m.proposal, "Accept.proposal")
        _u64(out, m.committed, "Accept.committed")
    elif isinstance(m, Accepted):
        out.append(TAG_ACCEPTED)
        _ballot(out, m.ballot, "Accepted.ballot")
        _u64(out, m.slot, "Accepted.slot")
    elif isinstance(m, Commit):
        out.append(TAG_COMMIT)
        _ballot(out, m.ballot, "Commit.ballot")
        _u64(out, m.committed, "Commit.committed")
    elif isinstance(m, Prepare):
        out.append(TAG_PREPARE)
        _ballot(out, m.ballot, "Prepare.ballot")
        _u64(out, m.from_slot, "Prepare.from_slot")
    elif isinstance(m, Promise):
        out.append(TAG_PROMISE)
        _ballot(out, m.ballot, "Promise.ballot")
        _u64(out, m.from_slot, "Promise.from_slot")
        _count(out, m.accepted, "Promise.accepted")
        for entry in m.accepted:
            _accepted_entry(out, entry, "Promise.accepted")
        _u64(out, m.committed, "Promise.committed")
    elif isinstance(m, Reject):
        out.append(TAG_REJECT)
        _ballot(out, m.ballot, "Reject.ballot")
        _ballot(out, m.promised, "Reject.promised")
    elif isinstance(m, CatchUp):
        out.append(TAG_CATCH_UP)
        _u64(out, m.from_slot, "CatchUp.from_slot")
    elif isinstance(m, CatchUpReply):
        out.append(TAG_CATCH_UP_REPLY)
        if m.snapshot is None:
            out.append(0)
        else:
            out.append(1)
            _snapshot(out, m.snapshot, "CatchUpReply.snapshot")
        _count(out, m.entries, "CatchUpReply.entries")
        for chosen in m.entries:
            _chosen_entry(out, chosen, "CatchUpReply.entries")
    else:
        raise WireError(f"peer message: unknown type {type(m).__name__}")


def encode_peer_message(message: PeerMessage) -> bytes:
    """encode_peer_message: the canonical encoding of one of the eight peer messages;
    ``WireError`` if a field is of the wrong type or out of bounds."""
    out = bytearray((FORMAT_VERSION,))
    _message(out, message)
    return bytes(out)


def encode_command(value: LogValue) -> bytes:
    """encode_command: the canonical encoding of a vault command or ``Noop``;
    ``WireError`` if a field is of the wrong type or out of bounds."""
    out = bytearray((FORMAT_VERSION,))
    _value(out, value)
    return bytes(out)


def encode_ballot(ballot: Ballot) -> bytes:
    """encode_ballot: the canonical encoding of a ballot (round < 2^64, replica < 2^16)."""
    out = bytearray((FORMAT_VERSION,))
    _ballot(out, ballot, "Ballot")
    return bytes(out)


def encode_proposal(proposal: Proposal) -> bytes:
    """encode_proposal: the canonical encoding of a proposal (16-byte request id)."""
    out = bytearray((FORMAT_VERSION,))
    _proposal(out, proposal, "Proposal")
    return bytes(out)


def encode_snapshot(snapshot: Snapshot) -> bytes:
    """encode_snapshot: the canonical encoding of a snapshot; its records must be sorted
    by user, each user once (``WireError`` otherwise)."""
    out = bytearray((FORMAT_VERSION,))
    _snapshot(out, snapshot, "Snapshot")
    return bytes(out)


def encode_durable_state(state: DurableState) -> bytes:
    """encode_durable_state: the canonical encoding of a replica's durable state; every
    ``accepted[k]`` must have slot ``k`` (``WireError`` otherwise)."""
    if not isinstance(state, DurableState):
        raise WireError(f"DurableState: expected a DurableState, found {type(state).__name__}")
    out = bytearray((FORMAT_VERSION,))
    _ballot(out, state.promised, "DurableState.promised")
    _u64(out, state.boots, "DurableState.boots")
    _snapshot(out, state.snapshot, "DurableState.snapshot")
    accepted = sorted(state.accepted.items(), key=lambda kv: _sort_key(kv[0]))
    _count(out, tuple(accepted), "DurableState.accepted")
    for slot, entry in accepted:
        _accepted_entry(out, entry, "DurableState.accepted")
        if entry.slot != slot:
            raise WireError(
                f"DurableState.accepted: key {slot} holds an entry for slot {entry.slot}"
            )
    chosen = sorted(state.chosen.items(), key=lambda kv: _sort_key(kv[0]))
    _count(out, tuple(chosen), "DurableState.chosen")
    for slot, proposal in chosen:
        _u64(out, slot, "DurableState.chosen slot")
        _proposal(out, proposal, "DurableState.chosen")
    return bytes(out)


def _sort_key(key: object) -> int:
    if type(key) is not int:
        raise WireError(f"DurableState: expected int slot keys, found {type(key).__name__}")
    return key


# ------------------------------------------------------------------------------ decoding


class _Reader:
    """A cursor over the bytes being decoded; every read checks what remains."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data)

    def need(self, n: int, what: str) -> int:
        pos = self.pos
        if pos + n > self.end:
            left = self.end - pos
            raise WireError(f"{what}: expected {n} more bytes, found {left} (truncated)")
        self.pos = pos + n
        return pos

    def u8(self, what: str) -> int:
        return self.data[self.need(1, what)]

    def u32(self, what: str) -> int:
        value: int = _U32.unpack_from(self.data, self.need(4, what))[0]
        return value

    def u64(self, what: str) -> int:
        value: int = _U64.unpack_from(self.data, self.need(8, what))[0]
        return value

    def fixed(self, n: int, what: str) -> bytes:
        pos = self.need(n, what)
        return self.data[pos : pos + n]

    def blob(self, bounds: tuple[int, int], what: str) -> bytes:
        pos = self.pos
        if pos + 2 > self.end:
            self.need(2, f"{what} length")  # raises: truncated
        n: int = _U16.unpack_from(self.data, pos)[0]
        self.pos = pos + 2
        if not bounds[0] <= n <= bounds[1]:
            raise WireError(f"{what}: expected {bounds[0]}..{bounds[1]} bytes, found {n}")
        pos = self.need(n, what)
        return self.data[pos : pos + n]

    def text(self, bounds: tuple[int, int], what: str) -> str:
        raw = self.blob(bounds, what)
        try:
            return raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise WireError(
                f"{what}: expected valid UTF-8, found an invalid sequence at byte {exc.start}"
            ) from None

    def method(self, what: str) -> Method:
        ident = self.u8(what)
        method = _METHOD_BY_ID.get(ident)
        if method is None:
            known = ", ".join(str(i) for i in sorted(_METHOD_BY_ID))
            raise WireError(f"{what}: unknown protection method id {ident}, expected {known}")
        return method

    def boolean(self, what: str) -> bool:
        flag = self.u8(what)
        if flag > 1:
            raise WireError(f"{what}: expected 0 or 1, found {flag}")
        return flag == 1

    def count(self, min_size: int, what: str) -> int:
        n = self.u32(f"{what} count")
        room = (self.end - self.pos) // min_size
        if n > room:
            raise WireError(
                f"{what}: count {n} exceeds the at most {room} entries the remaining "
                f"{self.end - self.pos} bytes can hold (truncated)"
            )
        return n

    def ballot(self, what: str) -> Ballot:
        r, p = _BALLOT.unpack_from(self.data, self.need(_BALLOT.size, what))
        return Ballot(r, p)

    def finish(self, what: str) -> None:
        if self.pos != self.end:
            raise WireError(
                f"{what}: expected end of encoding, found {self.end - self.pos} trailing bytes"
            )


_METHOD_BY_ID: Final = {m.wire_id: m for m in Method}


def _start(data: object, what: str) -> _Reader:
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise WireError(f"{what}: expected bytes, found {type(data).__name__}")
    if not data:
        raise WireError(f"{what}: expected a format version byte, found 0 bytes")
    if data[0] != FORMAT_VERSION:
        raise WireError(f"{what}: expected format version {FORMAT_VERSION}, found {data[0]}")
    return _Reader(data, 1)


def _read_factor(r: _Reader, what: str) -> PasswordFactor | PasskeyFactor:
    tag = r.u8(f"{what} tag")
    if tag == FTAG_PASSWORD:
        salt = r.blob(SALT_LEN, "PasswordFactor.salt")
        verifier = Secret(r.blob(VERIFIER_LEN, "PasswordFactor.verifier"))
        return PasswordFactor(salt, verifier)
    if tag == FTAG_PASSKEY:
        credential_id = r.blob(CREDENTIAL_ID_LEN, "PasskeyFactor.credential_id")
        cose = r.blob(COSE_PUBLIC_KEY_LEN, "PasskeyFactor.cose_public_key")
        prf_salt = r.blob(PRF_SALT_LEN, "PasskeyFactor.prf_salt")
        sign_count = r.u32("PasskeyFactor.sign_count")
        return PasskeyFactor(credential_id, cose, prf_salt, sign_count)
    raise WireError(
        f"{what}: unknown factor tag 0x{tag:02x}, expected 0x{FTAG_PASSWORD:02x} (password) "
        f"or 0x{FTAG_PASSKEY:02x} (passkey)"
    )


def _read_value(r: _Reader) -> LogValue:
    tag = r.u8("command tag")
    if tag == VTAG_CONSUME_ATTEMPT:
        user = r.text(USER_LEN, "ConsumeAttempt.user")
        registration = r.u32("ConsumeAttempt.registration")
        return ConsumeAttempt(user, registration, r.u32("ConsumeAttempt.attempts"))
    if tag == VTAG_SETTLE:
        user = r.text(USER_LEN, "Settle.user")
        registration = r.u32("Settle.registration")
        attempts = r.u32("Settle.attempts")
        right = r.boolean("Settle.right")
        return Settle(user, registration, attempts, right, r.u32("Settle.sign_count"))
    if tag == VTAG_REGISTER:
        user = r.text(USER_LEN, "Register.user")
        replaces = r.u32("Register.replaces")
        attempts = r.u32("Register.attempts")
        method = r.method("Register.method")
        factor = _read_factor(r, "Register.factor")
        secret = Secret(r.blob(COMMAND_SECRET_LEN, "Register.secret"))
        return Register(user, replaces, attempts, method, factor, secret)
    if tag == VTAG_DESTROY:
        user = r.text(USER_LEN, "Destroy.user")
        return Destroy(user, r.u32("Destroy.registration"))
    if tag == VTAG_RETIRE:
        user = r.text(USER_LEN, "Retire.user")
        registration = r.u32("Retire.registration")
        return Retire(user, registration, r.u32("Retire.attempts"))
    if tag == VTAG_NOOP:
        return Noop()
    raise WireError(f"command: unknown command tag 0x{tag:02x}, expected 0x00..0x05")


def _read_proposal(r: _Reader, what: str) -> Proposal:
    request_id = r.fixed(REQUEST_ID_LEN, f"{what}.request_id")
    return Proposal(request_id, _read_value(r))


def _read_record(r: _Reader) -> VaultRecord:
    user = r.text(USER_LEN, "VaultRecord.user")
    method = r.method("VaultRecord.method")
    registration = r.u32("VaultRecord.registration")
    factor = _read_factor(r, "VaultRecord.factor")
    secret = Secret(r.blob(RECORD_SECRET_LEN, "VaultRecord.secret"))
    attempts = r.u32("VaultRecord.attempts")
    destroyed = r.boolean("VaultRecord.destroyed")
    proved = r.boolean("VaultRecord.proved")
    retired = r.boolean("VaultRecord.retired")
    if retired and not destroyed:
        raise WireError("VaultRecord.retired: a retired record must be destroyed")
    return VaultRecord(
        user, method, registration, factor, secret, attempts, destroyed, proved, retired
    )


def _read_snapshot(r: _Reader) -> Snapshot:
    upto = r.u64("Snapshot.upto")
    n = r.count(_MIN_RECORD, "Snapshot.records")
    records: list[VaultRecord] = []
    previous: str | None = None
    for i in range(n):
        record = _read_record(r)
        if previous is not None and not previous < record.user:
            raise WireError(
                f"Snapshot.records[{i}]: expected users in strictly increasing order, "
                "found a user not after the previous one"
            )
        previous = record.user
        records.append(record)
    return Snapshot(upto, tuple(records))


def _read_accepted(r: _Reader) -> AcceptedEntry:
    slot, rnd, rep = _SLOT_BALLOT.unpack_from(
        r.data, r.need(_SLOT_BALLOT.size, "AcceptedEntry slot and ballot")
    )
    return AcceptedEntry(slot, Ballot(rnd, rep), _read_proposal(r, "AcceptedEntry.proposal"))


def _read_chosen(r: _Reader) -> ChosenEntry:
    slot = r.u64("ChosenEntry.slot")
    return ChosenEntry(slot, _read_proposal(r, "ChosenEntry.proposal"))


def _read_message(r: _Reader) -> PeerMessage:
    tag = r.u8("peer message tag")
    m: PeerMessage
    if tag == TAG_ACCEPT:
        ballot = r.ballot("Accept.ballot")
        slot = r.u64("Accept.slot")
        proposal = _read_proposal(r, "Accept.proposal")
        m = Accept(ballot, slot, proposal, r.u64("Accept.committed"))
    elif tag == TAG_ACCEPTED:
        m = Accepted(r.ballot("Accepted.ballot"), r.u64("Accepted.slot"))
    elif tag == TAG_COMMIT:
        m = Commit(r.ballot("Commit.ballot"), r.u64("Commit.committed"))
    elif tag == TAG_PREPARE:
        m = Prepare(r.ballot("Prepare.ballot"), r.u64("Prepare.from_slot"))
    elif tag == TAG_PROMISE:
        ballot = r.ballot("Promise.ballot")
        from_slot = r.u64("Promise.from_slot")
        n = r.count(_MIN_ACCEPTED, "Promise.accepted")
        accepted = tuple(_read_accepted(r) for _ in range(n))
        m = Promise(ballot, from_slot, accepted, r.u64("Promise.committed"))
    elif tag == TAG_REJECT:
        m = Reject(r.ballot("Reject.ballot"), r.ballot("Reject.promised"))
    elif tag == TAG_CATCH_UP:
        m = CatchUp(r.u64("CatchUp.from_slot"))
    elif tag == TAG_CATCH_UP_REPLY:
        snapshot = _read_snapshot(r) if r.boolean("CatchUpReply.has_snapshot") else None
        n = r.count(_MIN_CHOSEN, "CatchUpReply.entries")
        m = CatchUpReply(snapshot, tuple(_read_chosen(r) for _ in range(n)))
    else:
        raise WireError(f"peer message: unknown type tag 0x{tag:02x}, expected 0x01..0x08")
    r.finish(_MESSAGE_NAMES[tag])
    return m


def decode_peer_message(data: bytes) -> PeerMessage:
    """decode_peer_message: the peer message ``data`` encodes; ``WireError`` on anything but
    a canonical encoding (the error names fields and lengths, never field bytes)."""
    return _read_message(_start(data, "peer message"))


def decode_command(data: bytes) -> LogValue:
    """decode_command: the vault command or ``Noop`` ``data`` encodes; ``WireError`` on
    anything but a canonical encoding."""
    r = _start(data, "command")
    value = _read_value(r)
    r.finish(type(value).__name__)
    return value


def decode_ballot(data: bytes) -> Ballot:
    """decode_ballot: the ballot ``data`` encodes; ``WireError`` otherwise."""
    r = _start(data, "Ballot")
    ballot = r.ballot("Ballot")
    r.finish("Ballot")
    return ballot


def decode_proposal(data: bytes) -> Proposal:
    """decode_proposal: the proposal ``data`` encodes; ``WireError`` otherwise."""
    r = _start(data, "Proposal")
    proposal = _read_proposal(r, "Proposal")
    r.finish("Proposal")
    return proposal


def decode_snapshot(data: bytes) -> Snapshot:
    """decode_snapshot: the snapshot ``data`` encodes; ``WireError`` otherwise (including
    records not strictly sorted by user)."""
    r = _start(data, "Snapshot")
    snapshot = _read_snapshot(r)
    r.finish("Snapshot")
    return snapshot


def decode_durable_state(data: bytes) -> DurableState:
    """decode_durable_state: the durable state ``data`` encodes; ``WireError`` otherwise
    (including slots not strictly increasing)."""
    r = _start(data, "DurableState")
    promised = r.ballot("DurableState.promised")
    boots = r.u64("DurableState.boots")
    snapshot = _read_snapshot(r)
    accepted: dict[int, AcceptedEntry] = {}
    previous = -1
    for _ in range(r.count(_MIN_ACCEPTED, "DurableState.accepted")):
        entry = _read_accepted(r)
        if entry.slot <= previous:
            raise WireError(
                f"DurableState.accepted: expected slots in strictly increasing order, "
                f"found {entry.slot} after {previous}"
            )
        previous = entry.slot
        accepted[entry.slot] = entry
    chosen: dict[int, Proposal] = {}
    previous = -1
    for _ in range(r.count(_MIN_CHOSEN, "DurableState.chosen")):
        slot = r.u64("DurableState.chosen slot")
        if slot <= previous:
            raise WireError(
                f"DurableState.chosen: expected slots in strictly increasing order, "
                f"found {slot} after {previous}"
            )
        previous = slot
        chosen[slot] = _read_proposal(r, "DurableState.chosen")
    r.finish("DurableState")
    return DurableState(promised, accepted, chosen, snapshot, boots)
