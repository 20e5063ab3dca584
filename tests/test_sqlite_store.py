"""impl.sqlite_store: the SQLite ReplicaStore behaves exactly like MemoryReplicaStore,
survives close and reopen, and refuses files it cannot trust."""

from __future__ import annotations

import os
import sqlite3
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impl.errors import StoreError
from impl.method import Method
from impl.peer_messages import (
    AcceptedEntry,
    Ballot,
    DurableState,
    Noop,
    Proposal,
    Snapshot,
)
from impl.redact import Secret
from impl.sqlite_store import SqliteReplicaStore
from impl.store import MemoryReplicaStore, ReplicaStore, StoreTampered
from impl.vault import ConsumeAttempt, PasswordFactor, Register, VaultRecord

SECRET = b"\xa5SUPER-SECRET-VALUE\x5a" * 2
FACTOR = PasswordFactor(b"s" * 16, Secret(b"\x3c" * 32))
REGISTER = Register("alice", 0, 0, Method.PASSWORD, FACTOR, Secret(SECRET))
RECORD = VaultRecord("alice", Method.PASSWORD, 1, FACTOR, Secret(SECRET))

# ---------------------------------------------------------------------------- strategies

slots = st.integers(0, 40)
ballots = st.builds(Ballot, st.integers(0, 2**64 - 1), st.integers(0, 9))
values = st.one_of(
    st.just(Noop()),
    st.builds(
        ConsumeAttempt, st.sampled_from(["alice", "bob", "ü"]), st.integers(1, 5), st.integers(0, 9)
    ),
    st.just(REGISTER),
)
proposals = st.builds(Proposal, st.binary(min_size=16, max_size=16), values)
records = st.builds(
    VaultRecord,
    st.sampled_from(["alice", "bob", "carol"]),
    st.just(Method.PASSWORD),
    st.integers(1, 3),
    st.just(FACTOR),
    st.just(Secret(SECRET)),
    st.integers(0, 10),
    st.booleans(),
)
snapshots = st.builds(
    Snapshot,
    slots,
    st.lists(records, max_size=3, unique_by=lambda r: r.user).map(
        lambda rs: tuple(sorted(rs, key=lambda r: r.user))
    ),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("set_promised"), ballots),
        st.tuples(st.just("put_accepted"), st.builds(AcceptedEntry, slots, ballots, proposals)),
        st.tuples(st.just("put_chosen"), st.tuples(slots, proposals)),
        st.tuples(st.just("put_snapshot"), snapshots),
        st.tuples(st.just("set_boots"), st.integers(0, 2**63 - 1)),
        st.tuples(st.just("image"), st.none()),
        st.tuples(st.just("restore_image"), st.none()),
        st.tuples(st.just("reopen"), st.none()),
    ),
    max_size=14,
)

#: The sealing key every store of these tests is made with.
KEY = Secret(bytes(range(32)))


def _apply(store: ReplicaStore, op: str, arg: object, image: DurableState | None) -> None:
    if op == "set_promised":
        assert isinstance(arg, Ballot)
        store.set_promised(arg)
    elif op == "put_accepted":
        assert isinstance(arg, AcceptedEntry)
        store.put_accepted(arg)
    elif op == "put_chosen":
        assert isinstance(arg, tuple)
        store.put_chosen(*arg)
    elif op == "put_snapshot":
        assert isinstance(arg, Snapshot)
        store.put_snapshot(arg)
    elif op == "set_boots":
        assert isinstance(arg, int)
        store.set_boots(arg, store.version + 2)
    elif op == "restore_image" and image is not None:
        store.restore_image(image)


@settings(max_examples=25)
@given(operations)
def test_sqlite_store_behaves_like_memory_store(ops: list[tuple[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replica.db"
        memory = MemoryReplicaStore(KEY)
        disk = SqliteReplicaStore(path, KEY)
        memory_image: DurableState | None = None
        disk_image: DurableState | None = None
        try:
            for op, arg in ops:
                if op == "reopen":
                    disk.close()
                    disk = SqliteReplicaStore(path, KEY)
                elif op == "image":
                    memory_image, disk_image = memory.image(), disk.image()
                    assert memory_image == disk_image
                else:
                    _apply(memory, op, arg, memory_image)
                    _apply(disk, op, arg, disk_image)
                assert disk.load() == memory.load()
        finally:
            disk.close()


def test_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    entry = AcceptedEntry(3, Ballot(2, 1), Proposal(bytes(16), REGISTER))
    with SqliteReplicaStore(path, KEY) as store:
        assert store.load() == DurableState()
        store.set_promised(Ballot(5, 2))
        store.put_accepted(entry)
        store.put_chosen(4, Proposal(b"\x01" * 16, Noop()))
        store.set_boots(3, store.version + 2)
        expected = store.load()
        assert expected.version == 5
    assert "closed" in repr(store)
    with SqliteReplicaStore(str(path), KEY) as again:
        assert again.load() == expected
        assert again.load().accepted[3] == entry
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_snapshot_compacts_and_older_snapshots_are_ignored(tmp_path: Path) -> None:
    with SqliteReplicaStore(tmp_path / "r.db", KEY) as store:
        proposal = Proposal(bytes(16), Noop())
        for slot in range(6):
            store.put_accepted(AcceptedEntry(slot, Ballot(1, 0), proposal))
            store.put_chosen(slot, proposal)
        store.put_snapshot(Snapshot(4))
        state = store.load()
        assert sorted(state.accepted) == [4, 5]
        assert sorted(state.chosen) == [4, 5]
        store.put_snapshot(Snapshot(4, ()))
        store.put_snapshot(Snapshot(2))
        assert store.load().snapshot == Snapshot(4)
        store.put_accepted(AcceptedEntry(1, Ballot(1, 0), proposal))  # below: ignored
        store.put_chosen(3, proposal)  # below: ignored
        assert store.load() == state


def test_image_and_restore(tmp_path: Path) -> None:
    with SqliteReplicaStore(tmp_path / "r.db", KEY) as store:
        store.set_promised(Ballot(1, 1))
        store.put_accepted(AcceptedEntry(0, Ballot(1, 1), Proposal(bytes(16), REGISTER)))
        old = store.image()
        store.set_promised(Ballot(9, 2))
        store.put_snapshot(Snapshot(3))
        store.put_chosen(3, Proposal(bytes(16), Noop()))
        assert store.load() != old
        store.restore_image(old)
        assert store.load() == old
        old.boots = 99  # the image is a copy
        assert store.load().boots == 0


def test_bad_input_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    with SqliteReplicaStore(tmp_path / "r.db", KEY) as store:
        store.set_promised(Ballot(1, 1))
        before = store.load()
        bad_secret = Register("a", 0, 0, Method.PASSWORD, FACTOR, Secret(SECRET * 10))
        before_p = Proposal(bytes(16), Noop())
        calls: list[Callable[[], None]] = [
            lambda: store.put_accepted(AcceptedEntry(2**63, Ballot(1, 1), before_p)),
            lambda: store.put_accepted(AcceptedEntry(-1, Ballot(1, 1), before_p)),
            lambda: store.put_chosen(1, Proposal(b"short", Noop())),
            lambda: store.put_chosen(1, Proposal(bytes(16), bad_secret)),
            lambda: store.set_promised(Ballot(-1, 0)),
            lambda: store.set_boots(-1, 9),
            lambda: store.set_boots(1, 0),  # the version never goes back
            lambda: store.put_snapshot(Snapshot(2**64)),
            lambda: store.restore_image(
                DurableState(accepted={1: AcceptedEntry(2, Ballot(1, 1), before_p)})
            ),
            lambda: store.restore_image(DurableState(chosen={0: Proposal(b"x", Noop())})),
        ]
        for call in calls:
            with pytest.raises(StoreError) as info:
                call()
            assert SECRET.hex() not in str(info.value)
            assert "SUPER-SECRET" not in str(info.value)
            assert store.load() == before
    with pytest.raises(StoreError, match="closed"):
        store.load()
    with pytest.raises(StoreError, match="closed"):
        store.set_boots(1, 9)
    store.close()  # twice is harmless


def _corrupt(path: Path, sql: str, *args: object) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute(sql, args)
    db.close()


def _row(path: Path, sql: str) -> object:
    db = sqlite3.connect(path)
    (value,) = db.execute(sql).fetchone()
    db.close()
    return value


def _refused(path: Path, match: str | None) -> StoreTampered:
    """Opening works (schema and key are fine); ``load`` refuses with ``StoreTampered``."""
    with SqliteReplicaStore(path, KEY) as store:
        with pytest.raises(StoreTampered, match=match) as info:
            store.load()
        with pytest.raises(StoreError, match="did not read back"):
            store.set_promised(Ballot(1, 1))  # nothing is written over a refused store
    return info.value


def test_corrupted_rows_are_refused_naming_table_and_row(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with SqliteReplicaStore(path, KEY) as store:
        store.put_accepted(AcceptedEntry(5, Ballot(1, 0), Proposal(bytes(16), REGISTER)))
        store.put_chosen(6, Proposal(bytes(16), REGISTER))
    sealed_5 = _row(path, "SELECT proposal FROM accepted WHERE slot = 5")
    sealed_6 = _row(path, "SELECT proposal FROM chosen WHERE slot = 6")
    ballot_5 = _row(path, "SELECT ballot FROM accepted WHERE slot = 5")
    promised = _row(path, "SELECT promised FROM meta")
    assert isinstance(sealed_5, bytes)

    _corrupt(path, "UPDATE accepted SET proposal = ? WHERE slot = 5", sealed_5[:-1])
    error = _refused(path, "table accepted, row slot 5, column proposal")
    assert SECRET.hex() not in str(error)
    assert "SUPER-SECRET" not in str(error)
    _corrupt(path, "UPDATE accepted SET proposal = ? WHERE slot = 5", sealed_5)

    _corrupt(path, "UPDATE chosen SET proposal = 'text' WHERE slot = 6")
    _refused(path, "table chosen, row slot 6, column proposal")
    _corrupt(path, "UPDATE chosen SET proposal = ? WHERE slot = 6", sealed_6)

    _corrupt(path, "UPDATE accepted SET ballot = ? WHERE slot = 5", b"\x01\x00")
    _refused(path, "table accepted, row slot 5, column ballot")
    _corrupt(path, "UPDATE accepted SET ballot = ? WHERE slot = 5", ballot_5)

    _corrupt(path, "UPDATE snapshot SET upto = 3")
    _refused(path, "table snapshot")
    _corrupt(path, "UPDATE snapshot SET upto = 0")

    _corrupt(path, "UPDATE meta SET promised = ?", b"")
    _refused(path, "table meta, column promised")
    _corrupt(path, "UPDATE meta SET promised = ?", promised)

    with SqliteReplicaStore(path, KEY) as store:  # repaired
        assert store.load().accepted[5].proposal.value == REGISTER


def test_edits_that_decode_are_refused_too(tmp_path: Path) -> None:
    """What the operator can change and still have every row decode: a ballot raised, a
    promise lowered, a vote deleted, a row added back from an older copy, the boot count,
    the rejoin mark. The tag covers them all."""
    path = tmp_path / "r.db"
    with SqliteReplicaStore(path, KEY) as store:
        store.set_promised(Ballot(7, 2))
        store.put_accepted(AcceptedEntry(5, Ballot(3, 0), Proposal(bytes(16), REGISTER)))
        store.put_accepted(AcceptedEntry(6, Ballot(3, 0), Proposal(bytes(16), Noop())))
        old_6 = _row(path, "SELECT ballot FROM accepted WHERE slot = 6")
        store.put_accepted(AcceptedEntry(6, Ballot(7, 2), Proposal(bytes(16), Noop())))
        honest = store.load()
    from impl.peer_wire import encode_ballot

    edits = [
        ("UPDATE accepted SET ballot = ? WHERE slot = 5", (encode_ballot(Ballot(7, 2)),)),
        ("UPDATE meta SET promised = ?", (encode_ballot(Ballot(1, 0)),)),
        ("DELETE FROM accepted WHERE slot = 6", ()),
        ("UPDATE accepted SET ballot = ? WHERE slot = 6", (old_6,)),
        ("UPDATE meta SET boots = boots + 1", ()),
        ("UPDATE meta SET rejoin_until = 9", ()),
        ("UPDATE meta SET version = version + 1", ()),
    ]
    for sql, args in edits:
        backup = tmp_path / "backup.db"
        backup.write_bytes(path.read_bytes())
        _corrupt(path, sql, *args)
        _refused(path, "does not verify")
        path.write_bytes(backup.read_bytes())
    # A TEXT cell (what the sqlite3 shell's || makes of blobs) is refused the same way,
    # not a driver error that would stop the replica.
    backup = tmp_path / "backup.db"
    backup.write_bytes(path.read_bytes())
    _corrupt(
        path,
        "UPDATE accepted SET ballot = substr(ballot, 1, 3) || x'ff' || substr(ballot, 5) "
        "WHERE slot = 5",
    )
    assert _row(path, "SELECT typeof(ballot) FROM accepted WHERE slot = 5") == "text"
    _refused(path, "table accepted, row slot 5|does not verify")
    path.write_bytes(backup.read_bytes())
    with SqliteReplicaStore(path, KEY) as store:
        assert store.load() == honest


def test_the_store_is_sealed_the_operator_reads_and_moves_nothing(tmp_path: Path) -> None:
    """The file is on the operator's disk: no secret in it, a sealed row moved to another
    slot or table does not open, and another key opens nothing."""
    path = tmp_path / "r.db"
    with SqliteReplicaStore(path, KEY) as store:
        store.put_accepted(AcceptedEntry(5, Ballot(1, 0), Proposal(bytes(16), REGISTER)))
        store.put_chosen(6, Proposal(bytes(16), REGISTER))
        store.put_snapshot(Snapshot(4, (RECORD,)))
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert SECRET not in on_disk
    assert b"SUPER-SECRET" not in on_disk
    assert SECRET.hex().encode() not in on_disk

    sealed_5 = _row(path, "SELECT proposal FROM accepted WHERE slot = 5")
    sealed_6 = _row(path, "SELECT proposal FROM chosen WHERE slot = 6")
    _corrupt(path, "UPDATE chosen SET proposal = ? WHERE slot = 6", sealed_5)  # moved
    _refused(path, "table chosen, row slot 6, column proposal: does not open")
    _corrupt(path, "UPDATE chosen SET proposal = ? WHERE slot = 6", sealed_6)

    with pytest.raises(StoreError, match="sealed under another key"):
        SqliteReplicaStore(path, Secret(bytes(32)))
    with pytest.raises(StoreError, match="32-byte Secret"):
        SqliteReplicaStore(path, Secret(bytes(16)))
    with SqliteReplicaStore(path, KEY) as store:
        assert store.load().snapshot.records == (RECORD,)


def test_wrong_schema_or_foreign_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    SqliteReplicaStore(path, KEY).close()
    _corrupt(path, "UPDATE meta SET schema_version = 1")
    with pytest.raises(StoreError, match="table meta: expected schema version 4, found 1"):
        SqliteReplicaStore(path, KEY)

    other = tmp_path / "other.db"
    _corrupt(other, "CREATE TABLE things (x)")
    with pytest.raises(StoreError, match="not a replica store"):
        SqliteReplicaStore(other, KEY)

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an SQLite database, not at all" * 30)
    with pytest.raises(StoreError, match="not readable"):
        SqliteReplicaStore(garbage, KEY)

    with pytest.raises(StoreError, match="cannot"):
        SqliteReplicaStore(tmp_path / "missing-dir" / "r.db", KEY)


def _flip(value: object) -> object:
    """One changed byte of a blob, or one added to an integer."""
    if isinstance(value, bytes):
        return value[:-1] + bytes([value[-1] ^ 0x01]) if value else b"\x01"
    assert isinstance(value, int)
    return value + 1


COLUMNS = {
    "meta": ("promised", "boots", "key_check", "version", "rejoin_until", "tag"),
    "accepted": ("slot", "ballot", "proposal"),
    "chosen": ("slot", "proposal"),
    "snapshot": ("upto", "data"),
}


@pytest.mark.parametrize(("table", "column"), [(t, c) for t, cs in COLUMNS.items() for c in cs])
def test_a_flipped_byte_in_any_column_is_refused(tmp_path: Path, table: str, column: str) -> None:
    """The operator changes one byte (or one integer) anywhere: the store does not
    verify (``StoreTampered`` on load), or, for the key check, does not open at all; in
    both cases nothing is read from it and nothing is written over it."""
    path = tmp_path / "r.db"
    with SqliteReplicaStore(path, KEY) as store:
        store.set_promised(Ballot(4, 1))
        store.put_accepted(AcceptedEntry(5, Ballot(4, 1), Proposal(bytes(16), REGISTER)))
        store.put_chosen(5, Proposal(bytes(16), REGISTER))
        store.put_snapshot(Snapshot(3, (RECORD,)))
    value = _row(path, f"SELECT {column} FROM {table}")
    _corrupt(path, f"UPDATE {table} SET {column} = ?", _flip(value))
    if column == "key_check":
        with pytest.raises(StoreError, match="sealed under another key"):
            SqliteReplicaStore(path, KEY)
        return
    error = _refused(path, None)
    assert "SUPER-SECRET" not in str(error)
    assert SECRET.hex() not in str(error)


def test_one_table_put_back_from_an_older_copy_is_refused(tmp_path: Path) -> None:
    """Not the whole file: only the votes table of an older copy, over a newer store."""
    path = tmp_path / "r.db"
    old = tmp_path / "old.db"
    with SqliteReplicaStore(path, KEY) as store:
        store.put_accepted(AcceptedEntry(5, Ballot(1, 0), Proposal(bytes(16), Noop())))
        source, copy = sqlite3.connect(path), sqlite3.connect(old)
        source.backup(copy)  # the operator's consistent copy of the file
        source.close()
        copy.close()
        store.put_accepted(AcceptedEntry(5, Ballot(2, 1), Proposal(bytes(16), Noop())))
        store.put_accepted(AcceptedEntry(6, Ballot(2, 1), Proposal(bytes(16), Noop())))
    db = sqlite3.connect(path)
    with db:
        db.execute("ATTACH DATABASE ? AS old", (str(old),))
        db.execute("DELETE FROM accepted")
        db.execute("INSERT INTO accepted SELECT * FROM old.accepted")
    db.close()
    _refused(path, "does not verify")
