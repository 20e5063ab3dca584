"""impl.auditlog: the witness's audit log: Plexi's rules, a Merkle tree, signed checkpoints.

Every statement the witness signs is appended to this log. An **entry** is a
``SignedStatement``: Plexi's ``SignatureMessage``, the witness's 64-byte Ed25519 signature
over its encoding, and the one-byte key id. The log enforces Plexi's rules on every
append, and refuses the entry (nothing changes) when one fails:

1. **first epoch**: the first entry of a namespace has epoch ``first_epoch`` (1 unless
   the log is configured otherwise; one value for every namespace);
2. **next epoch**: every later entry of a namespace has epoch last + 1;
3. **unique digest**: a digest appears at most once in the whole log, across namespaces;
4. **no republishing**: an identical statement is never appended twice (checked first,
   so a republished statement is named as such rather than as a reused digest);
5. **32-byte digest** and ciphersuite 1 (``SignatureMessage`` and its encoder enforce it).

Timestamps are recorded, not judged: Plexi states no rule about them.

When the log knows the witness's statement key (``statement_key``), every entry's key id
and signature must also verify. Beyond Plexi, the entries are the leaves of an RFC 9162
Merkle tree (``impl.merkle``); the **leaf data** of an entry is::

    statement bytes (SignatureMessage.encode()) || signature (64 bytes) || key id (1 byte)

which is unambiguous because the statement's canonical protobuf encoding is
self-delimiting and the other two fields have fixed lengths (``decode_leaf_data``
inverts it). The log signs **checkpoints** in the C2SP tlog-checkpoint format, a C2SP
signed note whose key name is the log's origin::

    <origin>
    <tree size, decimal>
    <base64 of the 32-byte root>

    — <origin> <base64(4-byte key id || 64-byte Ed25519 signature)>

where key id = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]. Ed25519 is
deterministic and the checkpoint carries no timestamp (C2SP discourages extension lines),
so a checkpoint is a pure function of the log's contents and key.

Persistence (``save``/``load``): a directory with ``entries.jsonl`` (one canonical JSON
object per entry and line: sorted keys, no spaces, lowercase hex) and ``checkpoint`` (the
latest signed checkpoint, covering every entry). ``load`` re-verifies everything and
names the first bad line: see ``AuditLog.load``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from impl import merkle
from impl.crypto.ed25519 import SigningKey, VerifyKey
from impl.crypto.symmetric import sha256
from impl.errors import AuditLogError, CryptoError, ProofError, StatementError
from impl.statement import (
    CIPHERSUITE_ED25519_PROTOBUF,
    DIGEST_LEN,
    SIGNATURE_LEN,
    U64_MAX,
    SignatureMessage,
    decode_statement,
    key_id,
    sign_statement,
    verify_statement,
)

ENTRIES_FILE: Final = "entries.jsonl"
CHECKPOINT_FILE: Final = "checkpoint"
DEFAULT_FIRST_EPOCH: Final = 1

#: C2SP signed-note: the signature-type byte of Ed25519, the signature line's prefix.
NOTE_ED25519: Final = 0x01
NOTE_KEY_ID_LEN: Final = 4
SIGNATURE_PREFIX: Final = "\u2014 "
#: Limits of ``verify_checkpoint`` (C2SP: a verifier must accept at least 16 signatures).
MAX_NOTE_SIGNATURES: Final = 100
MAX_NOTE_BYTES: Final = 1 << 20

_SIZE_RE: Final = re.compile(r"0|[1-9][0-9]*")
_HEX_RE: Final = re.compile(r"[0-9a-f]*")
_LINE_FIELDS: Final = frozenset(
    {
        "ciphersuite",
        "digest",
        "epoch",
        "index",
        "key_id",
        "leaf_hash",
        "namespace",
        "signature",
        "timestamp_ms",
    }
)


# -- errors ------------------------------------------------------------------------------


class AuditLogRuleError(AuditLogError):
    """AuditLogRuleError: an entry that breaks one of Plexi's log rules (refused)."""

    def __init__(self, message: str, expected: object, found: object) -> None:
        self.expected = expected
        self.found = found
        super().__init__(message)


class EpochNotNextError(AuditLogRuleError):
    """EpochNotNextError: the epoch is not the namespace's first epoch or last + 1."""


class DigestReusedError(AuditLogRuleError):
    """DigestReusedError: the digest is already in the log (in any namespace)."""


class RepublishedError(AuditLogRuleError):
    """RepublishedError: this exact statement is already in the log."""


class BadEntryError(AuditLogError):
    """BadEntryError: an entry that is malformed, or whose key id or signature does not
    verify under the log's statement key."""


class ReadOnlyLogError(AuditLogError):
    """ReadOnlyLogError: an append or checkpoint on a log loaded without its signer."""


class LogFileError(AuditLogError):
    """LogFileError: a saved log that ``AuditLog.load`` refuses; ``path`` is the file name
    and ``line`` the 1-based line number (``None`` when no single line is to blame)."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = path if line is None else f"{path} line {line}"
        super().__init__(f"{where}: {reason}")


class CheckpointError(ProofError):
    """CheckpointError: a checkpoint note that is malformed, unsigned by the expected key,
    or whose signature does not verify."""


# -- entries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedStatement:
    """SignedStatement: one log entry: a statement, the witness's signature over its
    encoding and the witness's Plexi key id (the last byte of its public key).

    Preconditions (``StatementError`` otherwise): ``message`` is a ``SignatureMessage``,
    ``signature`` is 64 bytes, ``key_id`` is an int in 0..255.
    """

    message: SignatureMessage
    signature: bytes
    key_id: int

    def __post_init__(self) -> None:
        if not isinstance(self.message, SignatureMessage):
            raise StatementError(
                f"message: expected SignatureMessage, found {type(self.message).__name__}"
            )
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_LEN:
            found = len(self.signature) if isinstance(self.signature, bytes) else "non-bytes"
            raise StatementError(f"signature: expected {SIGNATURE_LEN} bytes, found {found}")
        if isinstance(self.key_id, bool) or not isinstance(self.key_id, int):
            raise StatementError(f"key id: expected an int, found {type(self.key_id).__name__}")
        if not 0 <= self.key_id <= 0xFF:
            raise StatementError(f"key id: expected 0..255, found {self.key_id}")

    def leaf_data(self) -> bytes:
        """SignedStatement.leaf_data: statement bytes || signature || key id (one byte)."""
        return self.message.encode() + self.signature + bytes([self.key_id])

    def leaf_hash(self) -> bytes:
        """SignedStatement.leaf_hash: the RFC 9162 leaf hash of ``leaf_data()``."""
        return merkle.leaf_hash(self.leaf_data())

    def verify(self, verify_key: VerifyKey) -> None:
        """SignedStatement.verify: ``StatementError`` unless the key id is ``verify_key``'s
        and the signature verifies under it."""
        expected = key_id(verify_key)
        if self.key_id != expected:
            raise StatementError(f"key id: expected {expected}, found {self.key_id}")
        verify_statement(self.message, self.signature, verify_key)


def sign_entry(message: SignatureMessage, signing_key: SigningKey) -> SignedStatement:
    """sign_entry: ``message`` signed by ``signing_key``, with that key's Plexi key id."""
    return SignedStatement(
        message, sign_statement(message, signing_key), key_id(signing_key.public_key())
    )


def decode_leaf_data(data: bytes) -> SignedStatement:
    """decode_leaf_data: the inverse of ``SignedStatement.leaf_data``; ``StatementError``
    for anything that is not exactly such an encoding."""
    if not isinstance(data, bytes):
        raise StatementError(f"leaf data: expected bytes, found {type(data).__name__}")
    if len(data) <= SIGNATURE_LEN + 1:
        raise StatementError(f"leaf data: expected more than 65 bytes, found {len(data)}")
    message = decode_statement(data[: -SIGNATURE_LEN - 1])
    return SignedStatement(message, data[-SIGNATURE_LEN - 1 : -1], data[-1])


# -- proofs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InclusionProof:
    """InclusionProof: entry ``index`` is in the log of ``size`` entries (RFC 9162)."""

    index: int
    size: int
    leaf_hash: bytes
    path: tuple[bytes, ...]

    def verify(self, root: bytes) -> None:
        """InclusionProof.verify: ``MerkleProofError`` unless the proof leads to ``root``."""
        merkle.verify_inclusion(self.leaf_hash, self.index, self.size, self.path, root)


@dataclass(frozen=True)
class ConsistencyProof:
    """ConsistencyProof: the log of ``old_size`` entries is a prefix of ``new_size``."""

    old_size: int
    new_size: int
    path: tuple[bytes, ...]

    def verify(self, old_root: bytes, new_root: bytes) -> None:
        """ConsistencyProof.verify: ``MerkleProofError`` unless it links the two roots."""
        merkle.verify_consistency(self.old_size, self.new_size, old_root, new_root, self.path)


# -- checkpoints (C2SP tlog-checkpoint in a C2SP signed note) ----------------------------


@dataclass(frozen=True)
class Checkpoint:
    """Checkpoint: a tree head: ``origin`` (non-empty, one line), ``size`` (u64),
    ``root`` (32 bytes) and optional non-empty ``extensions`` lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line("origin", self.origin)
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise CheckpointError(f"tree size: expected an int, found {type(self.size).__name__}")
        if not 0 <= self.size <= U64_MAX:
            raise CheckpointError(f"tree size: expected 0..2**64-1, found {self.size}")
        if not isinstance(self.root, bytes) or len(self.root) != merkle.HASH_LEN:
            raise CheckpointError(f"root: expected {merkle.HASH_LEN} bytes")
        for extension in self.extensions:
            _check_line("extension line", extension)

    def body(self) -> str:
        """Checkpoint.body: the note text: origin, size, base64 root, extensions, each
        ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        return "".join(line + "\n" for line in (*lines, *self.extensions))


@dataclass(frozen=True)
class SignedCheckpoint:
    """SignedCheckpoint: a checkpoint with one Ed25519 signed-note signature."""

    checkpoint: Checkpoint
    key_name: str
    note_key_id: bytes
    signature: bytes

    @property
    def text(self) -> str:
        """SignedCheckpoint.text: the signed note, exactly as it is published."""
        blob = base64.b64encode(self.note_key_id + self.signature).decode("ascii")
        return f"{self.checkpoint.body()}\n{SIGNATURE_PREFIX}{self.key_name} {blob}\n"


def note_key_id(key_name: str, verify_key: VerifyKey) -> bytes:
    """note_key_id: the C2SP signed-note key id of an Ed25519 key:
    SHA-256(key name || 0x0A || 0x01 || public key)[:4]. ``key_name`` must be a valid
    key name (non-empty, no spaces, no '+')."""
    _check_key_name(key_name)
    data = key_name.encode("utf-8") + b"\n" + bytes([NOTE_ED25519]) + verify_key.raw()
    return sha256(data)[:NOTE_KEY_ID_LEN]


def sign_checkpoint(
    checkpoint: Checkpoint, key_name: str, signing_key: SigningKey
) -> SignedCheckpoint:
    """sign_checkpoint: ``checkpoint`` signed as a C2SP note by ``signing_key`` under
    ``key_name`` (a valid key name)."""
    identifier = note_key_id(key_name, signing_key.public_key())
    signature = signing_key.sign(checkpoint.body().encode("utf-8"))
    return SignedCheckpoint(checkpoint, key_name, identifier, signature)


def verify_checkpoint(
    text: str | bytes, key_name: str, verify_key: VerifyKey, *, origin: str | None = None
) -> Checkpoint:
    """verify_checkpoint: the checkpoint in the signed note ``text`` if the note carries a
    valid signature by (``key_name``, ``verify_key``) and its origin line is ``origin``
    (default: ``key_name``); ``CheckpointError`` otherwise.

    Strict: valid UTF-8 with no control character but newline, at most
    ``MAX_NOTE_BYTES`` and ``MAX_NOTE_SIGNATURES``; the text split from the signatures at
    the last blank line; every signature line well formed (em dash, space, key name,
    space, canonical base64 of more than 4 bytes). Signatures by other keys are ignored,
    as C2SP requires; two lines by the expected key, or none, are refused. The body is
    only parsed after the signature verifies: at least three lines, none empty, the size
    in decimal without leading zeros, the root canonical base64 of 32 bytes; further
    lines are returned as extensions.
    """
    return _verify_note(text, key_name, verify_key, origin)[0]


def _verify_note(
    text: str | bytes, key_name: str, verify_key: VerifyKey, origin: str | None
) -> tuple[Checkpoint, bytes]:
    """_verify_note: ``verify_checkpoint``, also returning the verified signature."""
    _check_key_name(key_name)
    expected_origin = key_name if origin is None else origin
    if isinstance(text, bytes):
        if len(text) > MAX_NOTE_BYTES:
            raise CheckpointError(f"note: expected at most {MAX_NOTE_BYTES} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("note: not valid UTF-8") from None
    if not isinstance(text, str):
        raise CheckpointError(f"note: expected text, found {type(text).__name__}")
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError("note: not valid UTF-8 (lone surrogate)") from None
    if len(encoded) > MAX_NOTE_BYTES:
        raise CheckpointError(f"note: expected at most {MAX_NOTE_BYTES} bytes")
    for number, line in enumerate(text.split("\n"), start=1):
        for char in line:
            if ord(char) < 0x20:
                raise CheckpointError(
                    f"note line {number}: control character U+{ord(char):04X} (only newline "
                    "is allowed)"
                )
    if not text.endswith("\n"):
        raise CheckpointError("note: expected to end with a newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise CheckpointError("note: no blank line between the text and the signatures")
    body = text[: split + 1]
    signature_block = text[split + 2 :]
    first_signature_line = body.count("\n") + 2
    if not signature_block:
        raise CheckpointError(f"note line {first_signature_line}: no signature lines")
    signature_lines = signature_block[:-1].split("\n")
    if len(signature_lines) > MAX_NOTE_SIGNATURES:
        raise CheckpointError(
            f"note: expected at most {MAX_NOTE_SIGNATURES} signatures, found {len(signature_lines)}"
        )
    wanted_id = note_key_id(key_name, verify_key)
    ours: list[tuple[int, bytes]] = []
    for offset, line in enumerate(signature_lines):
        number = first_signature_line + offset
        name, blob = _parse_signature_line(number, line)
        if name == key_name and blob[:NOTE_KEY_ID_LEN] == wanted_id:
            ours.append((number, blob[NOTE_KEY_ID_LEN:]))
    if not ours:
        raise CheckpointError(
            f"note: no signature by the expected key {key_name!r} (key id {wanted_id.hex()})"
        )
    if len(ours) > 1:
        raise CheckpointError(
            f"note line {ours[1][0]}: a second signature by {key_name!r} (expected one)"
        )
    number, signature = ours[0]
    if len(signature) != SIGNATURE_LEN:
        raise CheckpointError(
            f"note line {number}: Ed25519 signature: expected {SIGNATURE_LEN} bytes, "
            f"found {len(signature)}"
        )
    try:
        verify_key.verify(signature, body.encode("utf-8"))
    except CryptoError:
        raise CheckpointError(
            f"note line {number}: the signature by {key_name!r} does not verify"
        ) from None
    checkpoint = _parse_body(body)
    if checkpoint.origin != expected_origin:
        raise CheckpointError(
            f"note line 1 (origin): expected {expected_origin!r}, found {checkpoint.origin!r}"
        )
    return checkpoint, signature


def _parse_signature_line(number: int, line: str) -> tuple[str, bytes]:
    if not line.startswith(SIGNATURE_PREFIX):
        raise CheckpointError(f"note line {number}: expected '— <key name> <signature>'")
    parts = line[len(SIGNATURE_PREFIX) :].split(" ")
    if len(parts) != 2:
        raise CheckpointError(
            f"note line {number}: expected a key name and a signature, found {len(parts)} fields"
        )
    name, encoded = parts
    try:
        _check_key_name(name)
    except CheckpointError as error:
        raise CheckpointError(f"note line {number}: {error}") from None
    blob = _b64decode(f"note line {number}: signature", encoded)
    if len(blob) <= NOTE_KEY_ID_LEN:
        raise CheckpointError(
            f"note line {number}: signature: expected more than {NOTE_KEY_ID_LEN} bytes, "
            f"found {len(blob)}"
        )
    return name, blob


def _parse_body(body: str) -> Checkpoint:
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(f"checkpoint: expected at least 3 lines, found {len(lines)}")
    for number, line in enumerate(lines, start=1):
        if not line:
            raise CheckpointError(f"note line {number}: empty line in the checkpoint")
    origin, size_text, root_text = lines[:3]
    if len(size_text) > len(str(U64_MAX)):
        raise CheckpointError(
            f"note line 2 (tree size): expected at most {len(str(U64_MAX))} digits, "
            f"found {len(size_text)}"
        )
    if not _SIZE_RE.fullmatch(size_text):
        raise CheckpointError(
            f"note line 2 (tree size): expected a decimal without leading zeros, "
            f"found {size_text!r}"
        )
    size = int(size_text)
    if size > U64_MAX:
        raise CheckpointError(f"note line 2 (tree size): expected at most 2**64-1, found {size}")
    root = _b64decode("note line 3 (root)", root_text)
    if len(root) != merkle.HASH_LEN:
        raise CheckpointError(
            f"note line 3 (root): expected {merkle.HASH_LEN} bytes, found {len(root)}"
        )
    return Checkpoint(origin, size, root, tuple(lines[3:]))


def _b64decode(what: str, text: str) -> bytes:
    if not text.isascii():
        raise CheckpointError(f"{what}: not base64")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError(f"{what}: not base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise CheckpointError(f"{what}: not canonical base64")
    return raw


def _check_line(what: str, value: object) -> None:
    if not isinstance(value, str):
        raise CheckpointError(f"{what}: expected text, found {type(value).__name__}")
    if not value:
        raise CheckpointError(f"{what}: expected a non-empty line")
    if any(ord(char) < 0x20 for char in value):
        raise CheckpointError(f"{what}: expected one line without control characters")


def _check_key_name(name: object) -> None:
    _check_line("key name", name)
    assert isinstance(name, str)
    if any(char.isspace() or char == "+" for char in name):
        raise CheckpointError(f"key name {name!r}: must contain no spaces and no '+'")


# -- the log -----------------------------------------------------------------------------


class AuditLog:
    """AuditLog: the witness's append-only log of signed statements (module docstring).

    Preconditions: ``origin`` is a valid signed-note key name (non-empty, no spaces, no
    '+', no control characters), also used as the checkpoint's key name;
    ``first_epoch`` is a u64; ``statement_key``, when given, is the witness's key and
    every entry must verify under it. ``AuditLogError`` otherwise.
    """

    def __init__(
        self,
        origin: str,
        signer: SigningKey,
        *,
        first_epoch: int = DEFAULT_FIRST_EPOCH,
        statement_key: VerifyKey | None = None,
    ) -> None:
        if not isinstance(signer, SigningKey):
            raise AuditLogError(f"signer: expected a SigningKey, found {type(signer).__name__}")
        self._init(origin, signer.public_key(), signer, first_epoch, statement_key)

    def _init(
        self,
        origin: str,
        verify_key: VerifyKey,
        signer: SigningKey | None,
        first_epoch: int,
        statement_key: VerifyKey | None,
    ) -> None:
        try:
            _check_key_name(origin)
        except CheckpointError as error:
            raise AuditLogError(f"origin: {error}") from None
        if isinstance(first_epoch, bool) or not isinstance(first_epoch, int):
            raise AuditLogError("first epoch: expected an int")
        if not 0 <= first_epoch <= U64_MAX:
            raise AuditLogError(f"first epoch: expected a u64, found {first_epoch}")
        self._origin = origin
        self._verify_key = verify_key
        self._signer = signer
        self._first_epoch = first_epoch
        self._statement_key = statement_key
        self._entries: list[SignedStatement] = []
        self._tree = merkle.MerkleTree()
        self._last_epoch: dict[str, int] = {}
        self._by_digest: dict[bytes, int] = {}
        self._saved_checkpoint: SignedCheckpoint | None = None

    # -- reading -------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """AuditLog.origin: the log's origin, also its checkpoint key name."""
        return self._origin

    @property
    def verify_key(self) -> VerifyKey:
        """AuditLog.verify_key: the key that verifies the log's checkpoints."""
        return self._verify_key

    @property
    def statement_key(self) -> VerifyKey | None:
        """AuditLog.statement_key: the witness key entries must verify under, if set."""
        return self._statement_key

    @property
    def first_epoch(self) -> int:
        """AuditLog.first_epoch: the epoch a namespace's first entry must have."""
        return self._first_epoch

    @property
    def writable(self) -> bool:
        """AuditLog.writable: whether the log holds its signer (can append, checkpoint)."""
        return self._signer is not None

    @property
    def size(self) -> int:
        """AuditLog.size: the number of entries."""
        return len(self._entries)

    def entries(self) -> tuple[SignedStatement, ...]:
        """AuditLog.entries: every entry, in log order."""
        return tuple(self._entries)

    def entry(self, index: int) -> SignedStatement:
        """AuditLog.entry: the entry at ``index`` (0 <= index < size)."""
        self._tree.leaf(index)  # the range check, with a typed error
        return self._entries[index]

    def last_epoch(self, namespace: str) -> int | None:
        """AuditLog.last_epoch: the last epoch logged for ``namespace``, or ``None``."""
        return self._last_epoch.get(namespace)

    def next_epoch(self, namespace: str) -> int:
        """AuditLog.next_epoch: the only epoch the next entry of ``namespace`` may have."""
        last = self._last_epoch.get(namespace)
        return self._first_epoch if last is None else last + 1

    def root(self, size: int | None = None) -> bytes:
        """AuditLog.root: the Merkle root of the first ``size`` entries (default: all)."""
        return self._tree.root(size)

    def leaf_hash(self, index: int) -> bytes:
        """AuditLog.leaf_hash: the Merkle leaf hash of entry ``index``."""
        return self._tree.leaf(index)

    def inclusion(self, index: int, size: int | None = None) -> InclusionProof:
        """AuditLog.inclusion: the proof that entry ``index`` is in the log of ``size``
        entries (default: all; 0 <= index < size <= self.size)."""
        n = self.size if size is None else size
        path = self._tree.inclusion_proof(index, n)
        return InclusionProof(index, n, self._tree.leaf(index), tuple(path))

    def consistency(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """AuditLog.consistency: the proof that the log of ``old_size`` entries is a prefix
        of the log of ``new_size`` (default: all; 0 <= old_size <= new_size <= size)."""
        n = self.size if new_size is None else new_size
        path = self._tree.consistency_proof(old_size, n)
        return ConsistencyProof(old_size, n, tuple(path))

    # -- the rules -----------------------------------------------------------------------

    def check(self, message: SignatureMessage) -> None:
        """AuditLog.check: return if ``message`` may be the next entry under the rules;
        raise the ``AuditLogRuleError`` (or ``BadEntryError``) that refuses it otherwise.
        Changes nothing."""
        if not isinstance(message, SignatureMessage):
            raise BadEntryError(
                f"entry: expected a SignatureMessage, found {type(message).__name__}"
            )
        if message.ciphersuite != CIPHERSUITE_ED25519_PROTOBUF:
            raise BadEntryError(
                f"ciphersuite: expected {CIPHERSUITE_ED25519_PROTOBUF}, found {message.ciphersuite}"
            )
        if len(message.digest) != DIGEST_LEN:
            raise BadEntryError(f"digest: expected {DIGEST_LEN} bytes, found {len(message.digest)}")
        earlier = self._by_digest.get(message.digest)
        if earlier is not None:
            if self._entries[earlier].message == message:
                raise RepublishedError(
                    f"statement already logged as entry {earlier} (epoch {message.epoch} of "
                    f"{message.namespace!r}); nothing is republished",
                    "a new statement",
                    f"entry {earlier}",
                )
            raise DigestReusedError(
                f"digest {message.digest.hex()} already logged as entry {earlier}; every "
                "digest is unique",
                "a new digest",
                f"entry {earlier}",
            )
        expected = self.next_epoch(message.namespace)
        if message.epoch != expected:
            last = self._last_epoch.get(message.namespace)
            rule = "the first epoch" if last is None else f"last ({last}) + 1"
            raise EpochNotNextError(
                f"epoch of {message.namespace!r}: expected {expected} ({rule}), "
                f"found {message.epoch}",
                expected,
                message.epoch,
            )

    def append(self, statement: SignedStatement) -> int:
        """AuditLog.append: add ``statement`` if the rules allow it (and, with a
        ``statement_key``, if its key id and signature verify); return its index. A refused
        entry raises ``AuditLogError`` and changes nothing. Precondition: writable."""
        if self._signer is None:
            raise ReadOnlyLogError("the log was loaded without its signer: it is read-only")
        return self._append(statement)

    def _append(self, statement: SignedStatement) -> int:
        if not isinstance(statement, SignedStatement):
            raise BadEntryError(
                f"entry: expected a SignedStatement, found {type(statement).__name__}"
            )
        self.check(statement.message)
        if self._statement_key is not None:
            try:
                statement.verify(self._statement_key)
            except StatementError as error:
                raise BadEntryError(f"entry does not verify: {error}") from None
        leaf = statement.leaf_hash()
        index = self._tree.append(leaf)
        self._entries.append(statement)
        self._last_epoch[statement.message.namespace] = statement.message.epoch
        self._by_digest[statement.message.digest] = index
        return index

    # -- checkpoints ---------------------------------------------------------------------

    def checkpoint(self) -> SignedCheckpoint:
        """AuditLog.checkpoint: the signed checkpoint of the whole log (deterministic: the
        same entries and key give the same bytes). Precondition: writable, or loaded and
        unchanged (then the loaded checkpoint is returned)."""
        if self._signer is None:
            if self._saved_checkpoint is not None:
                return self._saved_checkpoint
            raise ReadOnlyLogError("the log was loaded without its signer: it is read-only")
        head = Checkpoint(self._origin, self.size, self.root())
        return sign_checkpoint(head, self._origin, self._signer)

    # -- persistence ---------------------------------------------------------------------

    def encode(self) -> tuple[bytes, bytes]:
        """AuditLog.encode: the bytes ``save`` writes: (``entries.jsonl``, ``checkpoint``).
        Precondition: writable, or loaded and unchanged."""
        lines = b"".join(
            _encode_line(index, entry) + b"\n" for index, entry in enumerate(self._entries)
        )
        return lines, self.checkpoint().text.encode("utf-8")

    def save(self, directory: str | os.PathLike[str]) -> None:
        """AuditLog.save: write ``entries.jsonl`` and ``checkpoint`` into ``directory``
        (created if missing; each file replaced atomically, entries first).
        Precondition: writable, or loaded and unchanged."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        entries, checkpoint = self.encode()
        _write_atomically(target / ENTRIES_FILE, entries)
        _write_atomically(target / CHECKPOINT_FILE, checkpoint)

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        origin: str,
        verify_key: VerifyKey,
        *,
        signer: SigningKey | None = None,
        first_epoch: int = DEFAULT_FIRST_EPOCH,
        statement_key: VerifyKey | None = None,
    ) -> AuditLog:
        """AuditLog.load: the log saved in ``directory``, re-verified from scratch by
        ``AuditLog.decode`` (see there); a missing or unreadable file is a
        ``LogFileError`` too."""
        source = Path(directory)
        checkpoint = _read(source / CHECKPOINT_FILE, CHECKPOINT_FILE)
        entries = _read(source / ENTRIES_FILE, ENTRIES_FILE)
        return cls.decode(
            entries,
            checkpoint,
            origin,
            verify_key,
            signer=signer,
            first_epoch=first_epoch,
            statement_key=statement_key,
        )

    @classmethod
    def decode(
        cls,
        entries: bytes,
        checkpoint: bytes,
        origin: str,
        verify_key: VerifyKey,
        *,
        signer: SigningKey | None = None,
        first_epoch: int = DEFAULT_FIRST_EPOCH,
        statement_key: VerifyKey | None = None,
    ) -> AuditLog:
        """AuditLog.decode: the log whose saved files hold ``entries`` and ``checkpoint``,
        re-verified from scratch.

        Checks, in order, refusing with a ``LogFileError`` that names the file and line:
        the checkpoint verifies under (``origin``, ``verify_key``), has no extension
        lines and exactly the log's one signature line; every line of ``entries.jsonl``
        is the canonical encoding of an entry whose ``index`` is its position and whose
        ``leaf_hash`` matches, and the entry passes the rules (and ``statement_key``, if
        given) as an append would; the checkpoint's size is the number of lines, and its
        root is the recomputed root. ``signer``, if given, must match ``verify_key`` and
        makes the log writable; without it the log is read-only.
        """
        if signer is not None and signer.public_key() != verify_key:
            raise AuditLogError("signer: its public key is not verify_key")
        log = cls.__new__(cls)
        log._init(origin, verify_key, signer, first_epoch, statement_key)
        checkpoint_text = bytes(checkpoint)
        try:
            head, signature = _verify_note(checkpoint_text, origin, verify_key, origin)
        except CheckpointError as error:
            raise LogFileError(CHECKPOINT_FILE, None, str(error)) from None
        if head.extensions:
            raise LogFileError(CHECKPOINT_FILE, 4, "extension lines: expected none")
        signed = SignedCheckpoint(head, origin, note_key_id(origin, verify_key), signature)
        if signed.text.encode("utf-8") != checkpoint_text:
            raise LogFileError(
                CHECKPOINT_FILE, None, "expected exactly the log's own signature line"
            )
        for number, line in _lines(bytes(entries)):
            try:
                statement = _decode_line(number - 1, line)
                log._append(statement)
            except (AuditLogError, StatementError) as error:
                raise LogFileError(ENTRIES_FILE, number, str(error)) from None
        if head.size > log.size:
            raise LogFileError(
                ENTRIES_FILE,
                log.size + 1,
                f"missing: the signed checkpoint covers {head.size} entries, the file has "
                f"{log.size}",
            )
        if head.size < log.size:
            raise LogFileError(
                ENTRIES_FILE,
                head.size + 1,
                f"not covered by the signed checkpoint (size {head.size})",
            )
        recomputed = log.root()
        if recomputed != head.root:
            raise LogFileError(
                ENTRIES_FILE,
                None,
                f"root: the signed checkpoint has {head.root.hex()}, the entries give "
                f"{recomputed.hex()} (an entry was altered together with its leaf hash)",
            )
        log._saved_checkpoint = signed
        return log

    def __repr__(self) -> str:
        return f"AuditLog(origin={self._origin!r}, size={self.size})"


def _encode_line(index: int, entry: SignedStatement) -> bytes:
    message = entry.message
    record = {
        "ciphersuite": message.ciphersuite,
        "digest": message.digest.hex(),
        "epoch": message.epoch,
        "index": index,
        "key_id": entry.key_id,
        "leaf_hash": entry.leaf_hash().hex(),
        "namespace": message.namespace,
        "signature": entry.signature.hex(),
        "timestamp_ms": message.timestamp_ms,
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
        "ascii"
    )


def _decode_line(index: int, line: bytes) -> SignedStatement:
    try:
        record = json.loads(line.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadEntryError("not a JSON object in ASCII") from None
    if not isinstance(record, dict) or set(record) != _LINE_FIELDS:
        raise BadEntryError(f"expected exactly the fields {sorted(_LINE_FIELDS)}")
    numbers = {}
    for name in ("ciphersuite", "epoch", "index", "key_id", "timestamp_ms"):
        value = record[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadEntryError(f"{name}: expected an integer")
        numbers[name] = value
    blobs = {}
    for name in ("digest", "leaf_hash", "signature"):
        value = record[name]
        if not isinstance(value, str) or not _HEX_RE.fullmatch(value) or len(value) % 2:
            raise BadEntryError(f"{name}: expected lowercase hex")
        blobs[name] = bytes.fromhex(value)
    namespace = record["namespace"]
    if not isinstance(namespace, str):
        raise BadEntryError("namespace: expected a string")
    if numbers["index"] != index:
        raise BadEntryError(f"index: expected {index}, found {numbers['index']}")
    message = SignatureMessage(
        numbers["ciphersuite"],
        namespace,
        numbers["timestamp_ms"],
        numbers["epoch"],
        blobs["digest"],
    )
    entry = SignedStatement(message, blobs["signature"], numbers["key_id"])
    if entry.leaf_hash() != blobs["leaf_hash"]:
        raise BadEntryError(
            f"leaf_hash: expected {entry.leaf_hash().hex()}, found {blobs['leaf_hash'].hex()}"
        )
    if _encode_line(index, entry) != line:
        raise BadEntryError("not the canonical encoding of its entry")
    return entry


def _lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    if not data:
        return
    lines = data.split(b"\n")
    last = lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line:
            raise LogFileError(ENTRIES_FILE, number, "empty line")
        yield number, line
    if last:
        raise LogFileError(ENTRIES_FILE, len(lines) + 1, "expected to end with a newline")


def _read(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise LogFileError(name, None, f"cannot read: {error.strerror}") from None


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
