"""impl.sqlite_store: a replica's durable state in an SQLite file (``ReplicaStore``).

The same behaviour as ``impl.store.MemoryReplicaStore``, on disk: every setter is one
transaction, committed with ``PRAGMA synchronous=FULL`` in WAL mode, so the value is on
stable storage when the call returns, and a crash leaves either the old or the new state.

Schema (version 4: the store is versioned and tagged, ``impl.store.StoreTagger``)::

    meta(id = 0, schema_version = 4, promised BLOB, boots INTEGER, key_check BLOB,
         version INTEGER, rejoin_until INTEGER, tag BLOB)                           one row
    accepted(slot INTEGER PRIMARY KEY, ballot BLOB, proposal BLOB)
    chosen(slot INTEGER PRIMARY KEY, proposal BLOB)
    snapshot(id = 0, upto INTEGER, data BLOB)                                       one row

Ballots are the canonical encodings of ``impl.peer_wire`` (``encode_ballot``). Proposals
and the snapshot are **sealed**: ``nonce (12 bytes) || AES-256-GCM(sealing key, nonce,
encoding, aad)`` with ``aad = "vaultbench replica store v2|" || table || "|" || slot``
(for the snapshot, its ``upto``), so a sealed row moved to another slot or table does not
open. Slots, ``upto`` and ``boots`` are SQLite integers, so they must be below 2^63 (a
setter refuses larger ones with ``StoreError``).

Confidentiality: the sealed rows hold secrets (a ``Register`` command carries the user's
secret and a password verifier; a snapshot holds every record's secret). The file is on
the operator's disk: the operator can copy it and put an old copy back, delete rows and
change bytes, but it cannot read what the rows hold, because the sealing key stays in the
HSM (``impl.replica.storage_key``). What is in the clear is what the consensus messages
show anyway: ballots, slot numbers, the boot count, the version. The file is created with
mode 0o600 (SQLite gives its ``-wal`` and ``-shm`` files the same mode).

Integrity: every write adds one to ``version`` and stores the state's ``tag`` in the same
transaction (``impl.store.StoreTagger``: an HMAC over the version, the promise, boots,
the rejoin mark, the snapshot and the *set* of rows with their ballots), so an edited
ballot, a deleted or added row, a row moved to another slot is a ``StoreTampered`` on
``load``; the replica compares ``version`` with its NVRAM (``impl.nvram``) and refuses an
old copy (``impl.consensus.Replica.start``).

Opening a file checks its schema and its key: a wrong schema version, a missing table or
row, a sealing key other than the one the file was made with (``key_check``) is a
``StoreError`` and the store is not opened. ``load`` checks everything else: a row that
does not open or decode, or a tag that does not verify, is a ``StoreTampered`` naming the
table and the row (never bytes of a row).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

from impl.crypto.symmetric import (
    GCM_NONCE_LEN,
    KEY_LEN,
    SystemRng,
    aes256gcm_open,
    aes256gcm_seal,
)
from impl.errors import DecryptionError, StoreError, WireError
from impl.peer_messages import (
    ZERO_BALLOT,
    AcceptedEntry,
    Ballot,
    DurableState,
    Proposal,
    Snapshot,
)
from impl.peer_wire import (
    decode_ballot,
    decode_proposal,
    decode_snapshot,
    encode_ballot,
    encode_proposal,
    encode_snapshot,
)
from impl.redact import Secret
from impl.store import StoreAuth, StoreTagger, StoreTampered

T = TypeVar("T")

SCHEMA_VERSION: Final = 4
SEAL_CONTEXT: Final = b"vaultbench replica store v2|"
SQLITE_INT_MAX: Final = (1 << 63) - 1
FILE_MODE: Final = 0o600

_TABLES: Final = ("accepted", "chosen", "meta", "snapshot")
_SCHEMA: Final = (
    "CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 0), "
    "schema_version INTEGER NOT NULL, promised BLOB NOT NULL, boots INTEGER NOT NULL, "
    "key_check BLOB NOT NULL, version INTEGER NOT NULL, rejoin_until INTEGER NOT NULL, "
    "tag BLOB NOT NULL)",
    "CREATE TABLE accepted (slot INTEGER PRIMARY KEY, ballot BLOB NOT NULL, "
    "proposal BLOB NOT NULL)",
    "CREATE TABLE chosen (slot INTEGER PRIMARY KEY, proposal BLOB NOT NULL)",
    "CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 0), "
    "upto INTEGER NOT NULL, data BLOB NOT NULL)",
)


class SqliteReplicaStore:
    """A replica's durable state in the SQLite file at ``path`` (created if absent),
    sealed under ``sealing_key`` (32 bytes, held by the HSM alone).

    Preconditions: ``path`` names a file this process may create or open read-write,
    used by this store alone. ``StoreError`` if it is not a vaultbench replica store of
    schema version 3, it was sealed under another key, or any of its rows does not open
    or decode.
    """

    def __init__(
        self, path: str | Path, sealing_key: Secret, auth: StoreAuth = StoreAuth.FULL
    ) -> None:
        self._path: Final = Path(path)
        if not isinstance(sealing_key, Secret) or len(sealing_key) != KEY_LEN:
            raise StoreError(
                f"replica store {self._path}: the sealing key must be a {KEY_LEN}-byte Secret"
            )
        self._key: Final = sealing_key
        self._tagger: Final = StoreTagger(sealing_key, auth)
        #: what the file holds, as last written or read (``None``: it did not read back,
        #: and only ``reset`` or ``restore_image`` may write)
        self._mirror: DurableState | None = None
        self._rng: Final = SystemRng()
        self._create_private_file()
        try:
            self._db: Final = sqlite3.connect(self._path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"replica store {self._path}: cannot open: {exc}") from None
        self._closed = False
        # Every column is an integer or a blob; a TEXT cell the operator wrote comes back
        # as its bytes and fails to decode or verify (StoreTampered), instead of failing
        # in the driver.
        self._db.text_factory = bytes
        try:
            self._db.execute("PRAGMA journal_mode=WAL").fetchall()
            self._db.execute("PRAGMA synchronous=FULL")
            self._init_schema()
            with contextlib.suppress(StoreTampered):
                self.load()  # a store that does not verify is open, but not writable
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(f"replica store {self._path}: not readable: {exc}") from None
        except StoreError:
            self._db.close()
            raise

    def _create_private_file(self) -> None:
        try:
            fd = os.open(self._path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        except FileExistsError:
            return
        except OSError as exc:
            raise StoreError(f"replica store {self._path}: cannot create: {exc}") from None
        os.close(fd)

    def _init_schema(self) -> None:
        names = {
            bytes(row[0]).decode("utf-8", "replace")
            for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not names:
            with self._transaction():
                for statement in _SCHEMA:
                    self._db.execute(statement)
                self._db.execute(
                    "INSERT INTO meta VALUES (0, ?, ?, 0, ?, 0, 0, ?)",
                    (
                        SCHEMA_VERSION,
                        encode_ballot(ZERO_BALLOT),
                        self._seal(b"key check", b""),
                        self._tagger.tag(DurableState()),
                    ),
                )
                self._db.execute(
                    "INSERT INTO snapshot VALUES (0, 0, ?)",
                    (self._seal(_aad("snapshot", 0), encode_snapshot(Snapshot(0))),),
                )
            return
        missing = [t for t in _TABLES if t not in names]
        if missing:
            raise StoreError(
                f"replica store {self._path}: not a replica store: table {missing[0]} missing"
            )
        rows = self._db.execute("SELECT schema_version FROM meta").fetchall()
        if len(rows) != 1:
            raise StoreError(f"table meta: expected 1 row, found {len(rows)}")
        (version,) = rows[0]
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"table meta: expected schema version {SCHEMA_VERSION}, found {version!r}"
            )
        (check,) = self._db.execute("SELECT key_check FROM meta").fetchone()
        try:
            self._open(b"key check", check, "table meta, column key_check")
        except StoreError:
            raise StoreError(
                f"replica store {self._path}: sealed under another key (or key_check damaged)"
            ) from None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"SqliteReplicaStore({str(self._path)!r}, {state})"

    def __enter__(self) -> SqliteReplicaStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._closed:
            raise StoreError(f"replica store {self._path}: closed")
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"replica store {self._path}: cannot write: {exc}") from None
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"replica store {self._path}: write failed: {exc}") from None
            raise

    # ------------------------------------------------------------------------ reading

    @property
    def version(self) -> int:
        """The store's version (as last written or read)."""
        return self._mirror.version if self._mirror is not None else 0

    def load(self) -> DurableState:
        """SqliteReplicaStore.load: the stored state (a fresh copy), read from the file;
        ``StoreTampered`` if a row does not open or decode or the tag does not verify."""
        state = self._read()
        self._tagger.check(state, f"replica store {self._path}")
        self._mirror = state.copy()
        return state

    def _read(self) -> DurableState:
        if self._closed:
            raise StoreError(f"replica store {self._path}: closed")
        db = self._db
        try:
            db.execute("BEGIN")
            try:
                meta = db.execute(
                    "SELECT promised, boots, version, rejoin_until, tag FROM meta"
                ).fetchall()
                snap = db.execute("SELECT upto, data FROM snapshot").fetchall()
                accepted_rows = db.execute(
                    "SELECT slot, ballot, proposal FROM accepted ORDER BY slot"
                ).fetchall()
                chosen_rows = db.execute(
                    "SELECT slot, proposal FROM chosen ORDER BY slot"
                ).fetchall()
            finally:
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"replica store {self._path}: not readable: {exc}") from None
        try:
            return self._decode_rows(meta, snap, accepted_rows, chosen_rows)
        except StoreTampered:
            raise
        except StoreError as exc:
            raise StoreTampered(str(exc)) from None

    def _decode_rows(
        self,
        meta: list[Any],
        snap: list[Any],
        accepted_rows: list[Any],
        chosen_rows: list[Any],
    ) -> DurableState:
        if len(meta) != 1:
            raise StoreTampered(f"table meta: expected 1 row, found {len(meta)}")
        promised = _decode(decode_ballot, meta[0][0], "table meta, column promised")
        boots, version, rejoin_until, tag = meta[0][1:]
        for value, column in (
            (boots, "boots"),
            (version, "version"),
            (rejoin_until, "rejoin_until"),
        ):
            _check_slot(value, f"table meta, column {column}")
        if not isinstance(tag, bytes):
            raise StoreTampered("table meta, column tag: expected a blob")
        if len(snap) != 1:
            raise StoreTampered(f"table snapshot: expected 1 row, found {len(snap)}")
        where = "table snapshot, column data"
        upto = snap[0][0]
        _check_slot(upto, "table snapshot, column upto")
        snapshot = _decode(
            decode_snapshot, self._open(_aad("snapshot", upto), snap[0][1], where), where
        )
        if upto != snapshot.upto:
            raise StoreTampered(
                f"table snapshot: column upto is {snap[0][0]!r}, the data says {snapshot.upto}"
            )
        accepted: dict[int, AcceptedEntry] = {}
        for slot, ballot_blob, proposal_blob in accepted_rows:
            where = f"table accepted, row slot {slot!r}"
            _check_slot(slot, where)
            ballot = _decode(decode_ballot, ballot_blob, f"{where}, column ballot")
            column = f"{where}, column proposal"
            opened = self._open(_aad("accepted", slot), proposal_blob, column)
            accepted[slot] = AcceptedEntry(slot, ballot, _decode(decode_proposal, opened, column))
        chosen: dict[int, Proposal] = {}
        for slot, proposal_blob in chosen_rows:
            where = f"table chosen, row slot {slot!r}"
            _check_slot(slot, where)
            column = f"{where}, column proposal"
            opened = self._open(_aad("chosen", slot), proposal_blob, column)
            chosen[slot] = _decode(decode_proposal, opened, column)
        return DurableState(promised, accepted, chosen, snapshot, boots, version, rejoin_until, tag)

    def image(self) -> DurableState:
        """SqliteReplicaStore.image: a copy of the whole stored state, tag included, as
        read from the file (a disk image; not checked: the operator copies what is
        there)."""
        return self._read()

    # ------------------------------------------------------------------------ writing

    def _next(self, where: str) -> DurableState:
        """A copy of the current state to change: the write that uses it adds one to the
        version and re-tags it (``_commit``)."""
        if self._mirror is None:
            raise StoreError(
                f"replica store {self._path}: {where}: the store did not read back; the "
                f"replica must reset it first"
            )
        state = self._mirror.copy()
        state.version += 1
        return state

    def _meta(self, state: DurableState) -> None:
        """Write meta's version, rejoin mark, boots, promise and tag (in a transaction)."""
        state.tag = self._tagger.tag(state)
        self._db.execute(
            "UPDATE meta SET promised = ?, boots = ?, version = ?, rejoin_until = ?, tag = ? "
            "WHERE id = 0",
            (
                _encode(encode_ballot, state.promised, "promised ballot"),
                state.boots,
                state.version,
                state.rejoin_until,
                state.tag,
            ),
        )

    def set_promised(self, ballot: Ballot) -> None:
        """SqliteReplicaStore.set_promised: durably record the promised ballot."""
        _encode(encode_ballot, ballot, "promised ballot")
        state = self._next("promised")
        state.promised = ballot
        with self._transaction():
            self._meta(state)
        self._mirror = state

    def put_accepted(self, entry: AcceptedEntry) -> None:
        """SqliteReplicaStore.put_accepted: durably record a vote, unless its slot is below
        the snapshot (then nothing changes). Precondition: 0 <= slot < 2^63."""
        if not isinstance(entry, AcceptedEntry):
            raise StoreError(f"accepted: expected an AcceptedEntry, found {type(entry).__name__}")
        _check_slot(entry.slot, "accepted")
        ballot = _encode(encode_ballot, entry.ballot, f"accepted slot {entry.slot}")
        proposal = self._seal(
            _aad("accepted", entry.slot),
            _encode(encode_proposal, entry.proposal, f"accepted slot {entry.slot}"),
        )
        state = self._next("accepted")
        if entry.slot < state.snapshot.upto:
            return
        state.accepted[entry.slot] = entry
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO accepted VALUES (?, ?, ?)",
                (entry.slot, ballot, proposal),
            )
            self._meta(state)
        self._mirror = state

    def put_chosen(self, slot: int, proposal: Proposal) -> None:
        """SqliteReplicaStore.put_chosen: durably record a chosen slot, unless it is below
        the snapshot (then nothing changes). Precondition: 0 <= slot < 2^63."""
        _check_slot(slot, "chosen")
        blob = self._seal(
            _aad("chosen", slot), _encode(encode_proposal, proposal, f"chosen slot {slot}")
        )
        state = self._next("chosen")
        if slot < state.snapshot.upto:
            return
        state.chosen[slot] = proposal
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO chosen VALUES (?, ?)", (slot, blob))
            self._meta(state)
        self._mirror = state

    def put_snapshot(self, snapshot: Snapshot) -> None:
        """SqliteReplicaStore.put_snapshot: store ``snapshot`` and drop every accepted or
        chosen entry below its ``upto``, in one transaction; a snapshot not newer than the
        stored one is ignored. Precondition: ``upto`` < 2^63, records sorted by user."""
        if not isinstance(snapshot, Snapshot):
            raise StoreError(f"snapshot: expected a Snapshot, found {type(snapshot).__name__}")
        _check_slot(snapshot.upto, "snapshot upto")
        blob = self._seal(
            _aad("snapshot", snapshot.upto), _encode(encode_snapshot, snapshot, "snapshot")
        )
        state = self._next("snapshot")
        if snapshot.upto <= state.snapshot.upto:
            return
        state.snapshot = snapshot
        state.accepted = {k: v for k, v in state.accepted.items() if k >= snapshot.upto}
        state.chosen = {k: v for k, v in state.chosen.items() if k >= snapshot.upto}
        with self._transaction():
            db = self._db
            db.execute("UPDATE snapshot SET upto = ?, data = ? WHERE id = 0", (snapshot.upto, blob))
            db.execute("DELETE FROM accepted WHERE slot < ?", (snapshot.upto,))
            db.execute("DELETE FROM chosen WHERE slot < ?", (snapshot.upto,))
            self._meta(state)
        self._mirror = state

    def set_boots(self, boots: int, version: int) -> None:
        """SqliteReplicaStore.set_boots: durably record the boot count at exactly
        ``version`` (0 <= both < 2^63; the version must not go back)."""
        _check_slot(boots, "boots")
        _check_slot(version, "version")
        state = self._next("boots")
        if version < state.version - 1:
            raise StoreError(f"boots: version {version} is below the store's {state.version - 1}")
        state.boots, state.version = boots, version
        with self._transaction():
            self._meta(state)
        self._mirror = state

    def reset(self, state: DurableState) -> None:
        """SqliteReplicaStore.reset: replace everything with ``state`` at its version,
        tagged afresh (a replica that refused its store starts again)."""
        fresh = state.copy()
        fresh.tag = self._tagger.tag(fresh)
        self._write_all(fresh)

    def restore_image(self, image: DurableState) -> None:
        """SqliteReplicaStore.restore_image: replace everything with ``image``, tag
        included as given (the operator putting a disk image back: it cannot re-tag), in
        one transaction. Precondition: every ``image.accepted[k].slot == k``; ``StoreError``
        (and nothing changed) otherwise or if a value cannot be stored."""
        self._write_all(image)

    def _write_all(self, image: DurableState) -> None:
        if not isinstance(image, DurableState):
            raise StoreError(f"image: expected a DurableState, found {type(image).__name__}")
        promised = _encode(encode_ballot, image.promised, "image promised")
        for value, what in (
            (image.boots, "boots"),
            (image.version, "version"),
            (image.rejoin_until, "rejoin_until"),
            (image.snapshot.upto, "snapshot upto"),
        ):
            _check_slot(value, f"image {what}")
        if not isinstance(image.tag, bytes):
            raise StoreError("image tag: expected bytes")
        snapshot = self._seal(
            _aad("snapshot", image.snapshot.upto),
            _encode(encode_snapshot, image.snapshot, "image snapshot"),
        )
        accepted: list[tuple[int, bytes, bytes]] = []
        for slot, entry in image.accepted.items():
            _check_slot(slot, "image accepted")
            if entry.slot != slot:
                raise StoreError(f"image accepted: key {slot} holds an entry for slot {entry.slot}")
            where = f"image accepted slot {slot}"
            accepted.append(
                (
                    slot,
                    _encode(encode_ballot, entry.ballot, where),
                    self._seal(
                        _aad("accepted", slot), _encode(encode_proposal, entry.proposal, where)
                    ),
                )
            )
        chosen: list[tuple[int, bytes]] = []
        for slot, proposal in image.chosen.items():
            _check_slot(slot, "image chosen")
            blob = _encode(encode_proposal, proposal, f"image chosen slot {slot}")
            chosen.append((slot, self._seal(_aad("chosen", slot), blob)))
        with self._transaction():
            db = self._db
            db.execute(
                "UPDATE meta SET promised = ?, boots = ?, version = ?, rejoin_until = ?, "
                "tag = ? WHERE id = 0",
                (promised, image.boots, image.version, image.rejoin_until, image.tag),
            )
            db.execute(
                "UPDATE snapshot SET upto = ?, data = ? WHERE id = 0",
                (image.snapshot.upto, snapshot),
            )
            db.execute("DELETE FROM accepted")
            db.execute("DELETE FROM chosen")
            db.executemany("INSERT INTO accepted VALUES (?, ?, ?)", accepted)
            db.executemany("INSERT INTO chosen VALUES (?, ?)", chosen)
        self._mirror = image.copy()

    def close(self) -> None:
        """SqliteReplicaStore.close: close the file; later calls raise ``StoreError``.
        Closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self._db.close()

    def _seal(self, aad: bytes, plaintext: bytes) -> bytes:
        nonce = self._rng.random_bytes(GCM_NONCE_LEN)
        return nonce + aes256gcm_seal(self._key.reveal(), nonce, plaintext, aad)

    def _open(self, aad: bytes, blob: object, where: str) -> bytes:
        if not isinstance(blob, bytes) or len(blob) < GCM_NONCE_LEN:
            raise StoreError(f"{where}: expected a sealed blob")
        try:
            return aes256gcm_open(
                self._key.reveal(), blob[:GCM_NONCE_LEN], blob[GCM_NONCE_LEN:], aad
            )
        except DecryptionError:
            raise StoreError(f"{where}: does not open under this replica's sealing key") from None

    def _upto(self) -> int:
        (upto,) = self._db.execute("SELECT upto FROM snapshot WHERE id = 0").fetchone()
        if type(upto) is not int:
            raise StoreError("table snapshot, column upto: expected an integer")
        return upto


def _aad(table: str, slot: int) -> bytes:
    """What a sealed row is bound to: its table and its slot (the snapshot: its upto)."""
    return SEAL_CONTEXT + table.encode() + b"|" + slot.to_bytes(8, "big")


def _check_slot(value: object, where: str) -> None:
    if type(value) is not int or not 0 <= value <= SQLITE_INT_MAX:
        raise StoreError(f"{where}: expected an integer in 0..{SQLITE_INT_MAX}, found {value!r}")


def _encode(encode: Callable[[T], bytes], value: T, where: str) -> bytes:
    try:
        return encode(value)
    except WireError as exc:
        raise StoreError(f"{where}: cannot store: {exc}") from None


def _decode(decode: Callable[[bytes], T], blob: object, where: str) -> T:
    if not isinstance(blob, bytes):
        raise StoreError(f"{where}: expected a blob, found {type(blob).__name__}")
    try:
        return decode(blob)
    except WireError as exc:
        raise StoreError(f"{where}: does not decode: {exc}") from None
