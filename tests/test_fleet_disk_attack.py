"""The operator's disks under attack on the process fleet, run as a new user would
(issue 14, "Must show"): every step is its own ``vaultbench fleet`` command in a
subprocess, and the operator's steps are file copies and SQL on the replicas' stores.

- **Rollback** (``test_rolled_back_stores_are_refused_and_no_guess_is_answered_twice``,
  in the default run): ``up``, ``enrol``, copy every replica's ``store.sqlite`` (SQLite's
  online backup, as ``sqlite3 store.sqlite .backup COPY`` makes it; ``docs/processes.rst``
  shows the same with a stop and ``cp``), ten wrong guesses (the record is destroyed),
  stop, copy the old stores back, start, guess again. Every rolled-back replica must log
  that it refuses its store (``StoreRolledBack``), and no more than ten wrong guesses may be
  answered in all. The fleet may stop answering: with every disk rolled back no replica
  keeps a trusted store, and safety comes before availability.
- **Edits** (``test_an_edited_ballot_and_a_deleted_vote_are_refused``, in the default
  run): on two of the five
  stopped replicas, one byte of a stored vote's ballot changed (table ``accepted``, column
  ``ballot``) on one, the newest vote row deleted on the other; both must refuse their
  stores (``StoreTampered``), the other three keep serving, the attempts count on, and no
  slot is chosen with two values across the stores (read offline, ``impl.net.durable``).
- Also a rollback of a minority (the fleet keeps answering, the destroyed record stays
  destroyed) and edits on every replica (the fleet stops answering).

The two default tests take about 16 s and 11 s on two cores (25 s and 18 s when other
work loads them); ``VAULTBENCH_PROFILE=thorough`` adds the other two (marked ``slow``).
The NVRAM file (``replica-<i>/nvram.json``) stands for what the HSM keeps out of the
operator's reach; the attacks never touch it, nor ``keys.json``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

import vaultbench
from impl.net.durable import DurableVault, read_durable_vault
from impl.net.fleetdir import LOG_FILE, STORE_FILE, load_fleet, replica_dir, setup_fleet
from impl.net.launcher import recorded_pids, stop_pid
from impl.redact import Secret
from impl.vault import VaultPolicy
from vaultbench import fleet_cmd

THOROUGH = os.environ.get("VAULTBENCH_PROFILE") == "thorough"
ROOT = Path(vaultbench.__file__).resolve().parent.parent
REPLICAS = 5
LIMIT = 10
#: what the lead's replica logs when it refuses its store, and the typed errors it names
REFUSES = "refuses its store"
ROLLED_BACK = "StoreRolledBack"
TAMPERED = "StoreTampered"
WRONG_LINE = re.compile(r"^wrong guess \d+ of \d+: wrong password, (\d+) attempts? left", re.M)


def _cannot_spawn() -> str | None:
    try:
        subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
    except (OSError, subprocess.SubprocessError) as why:
        return f"cannot spawn processes or listen on loopback: {why}"
    return None


@dataclass
class Run:
    """One ``vaultbench fleet`` command: its exit code and output."""

    argv: list[str]
    code: int
    out: str
    err: str
    seconds: float

    def __str__(self) -> str:
        head = f"$ vaultbench fleet {' '.join(self.argv)}  -> {self.code} ({self.seconds:.1f} s)"
        return f"{head}\n{self.out}{self.err}"


@dataclass
class Operator:
    """The fleet directory, the commands run on it so far, and the operator's hands."""

    directory: Path
    runs: list[Run]

    def fleet(self, *argv: str, timeout: float = 120) -> Run:
        """Run ``vaultbench fleet ARGV --dir DIR`` as its own process."""
        args = [*argv, "--dir", str(self.directory)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "vaultbench.cli", "fleet", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=self.directory.parent,
            check=False,
        )
        run = Run(args, done.returncode, done.stdout, done.stderr, time.monotonic() - began)
        self.runs.append(run)
        return run

    def timings(self) -> str:
        return ", ".join(f"{run.argv[0]} {run.seconds:.1f}" for run in self.runs)

    def transcript(self) -> str:
        return "\n".join(str(run) for run in self.runs)

    def store_files(self, replica: int) -> list[Path]:
        store = replica_dir(self.directory, replica) / STORE_FILE
        return [store.with_name(store.name + suffix) for suffix in ("", "-wal", "-shm")]

    def copy_stores(self, to: Path, replicas: range | list[int], *, live: bool = False) -> None:
        """Copy each replica's store to ``to/replica-<i>``: of a stopped replica, the file
        with its -wal/-shm, if any; of a running one (``live``), a consistent copy made with
        SQLite's online backup (as ``sqlite3 store.sqlite .backup COPY`` does)."""
        for replica in replicas:
            target = to / f"replica-{replica}"
            target.mkdir(parents=True)
            if live:
                store = self.store_files(replica)[0]
                copy = target / store.name
                with (
                    closing(sqlite3.connect(store)) as source,
                    closing(sqlite3.connect(copy)) as dest,
                ):
                    source.backup(dest)
                copy.chmod(0o600)
                continue
            for path in self.store_files(replica):
                if path.exists():
                    shutil.copy2(path, target / path.name)

    def put_back(self, source: Path, replicas: range | list[int]) -> None:
        """Replace each replica's store by the copy in ``source`` (the rollback)."""
        for replica in replicas:
            for path in self.store_files(replica):
                old = source / f"replica-{replica}" / path.name
                if old.exists():
                    shutil.copy2(old, path)
                elif path.exists():
                    path.unlink()

    def sql(self, replica: int, statement: str, *params: object) -> int:
        """Run one statement on a stopped replica's store; the rows it changed."""
        with sqlite3.connect(replica_dir(self.directory, replica) / STORE_FILE) as db:
            changed = db.execute(statement, params).rowcount
        return changed

    def log_sizes(self) -> list[int]:
        return [(replica_dir(self.directory, i) / LOG_FILE).stat().st_size for i in range(REPLICAS)]

    def log_since(self, replica: int, offset: int) -> str:
        with open(replica_dir(self.directory, replica) / LOG_FILE, "rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", errors="replace")

    def wait_for_log(self, replicas: list[int], offsets: list[int], text: str) -> None:
        """Wait (a few seconds at most) until each replica's log since ``offsets`` holds
        ``text``; the assertion comes later, with the transcript."""
        until = time.monotonic() + 10
        while time.monotonic() < until:
            if all(text in self.log_since(i, offsets[i]) for i in replicas):
                return
            time.sleep(0.1)

    def stores(self) -> list[DurableVault]:
        policy = VaultPolicy(load_fleet(self.directory).max_attempts)
        return [read_durable_vault(self.directory, i, policy) for i in range(REPLICAS)]

    def password(self, user: str) -> str:
        value = json.loads(fleet_cmd.user_path(self.directory, user).read_text("ascii"))
        password = value["password"]
        assert isinstance(password, str)
        return base64.b64decode(password).decode("ascii")


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[Operator]:
    why = _cannot_spawn()
    if why is not None:
        pytest.skip(why)
    directory = tmp_path / "fleet"
    op = Operator(directory, [])
    try:
        yield op
    finally:
        # Whatever happened, no detached replica outlives the test.
        if (directory / "fleet.json").exists():
            for pid in recorded_pids(directory).values():
                stop_pid(pid, directory, grace=3.0)


def _up(op: Operator, *extra: str) -> Run:
    run = op.fleet("up", "--detach", *extra)
    assert run.code == 0, op.transcript()
    return run


def _down(op: Operator) -> None:
    run = op.fleet("down")
    assert run.code == 0, op.transcript()
    assert not recorded_pids(op.directory), op.transcript()


def _wrong_answers(run: Run) -> list[int]:
    """The attempts left named by each 'wrong password' answer a guess run printed."""
    return [int(left) for left in WRONG_LINE.findall(run.out)]


def _no_slot_chosen_twice(stores: list[DurableVault]) -> list[str]:
    problems = []
    for a in stores:
        for b in stores:
            if a.replica < b.replica:
                for slot in sorted(set(a.chosen) & set(b.chosen)):
                    if a.chosen[slot] != b.chosen[slot]:
                        problems.append(f"slot {slot}: hsm[{a.replica}] and hsm[{b.replica}]")
    return problems


def _no_secret_shown(op: Operator, user: str) -> None:
    password = op.password(user)
    for run in op.runs:
        assert password not in run.out + run.err
    for i in range(REPLICAS):
        assert password not in op.log_since(i, 0)


def _newest_vote(op: Operator, replica: int) -> int:
    with sqlite3.connect(replica_dir(op.directory, replica) / STORE_FILE) as db:
        (slot,) = db.execute("SELECT max(slot) FROM accepted").fetchone()
    assert isinstance(slot, int), f"hsm[{replica}] holds no vote"
    return slot


def _edit_ballot(op: Operator, replica: int, slot: int) -> None:
    """Change one byte of the ballot stored with ``slot``'s vote: the round's low byte
    (``impl.peer_wire``: version, round u64, replica u16), so it still decodes."""
    with sqlite3.connect(replica_dir(op.directory, replica) / STORE_FILE) as db:
        (ballot,) = db.execute("SELECT ballot FROM accepted WHERE slot = ?", (slot,)).fetchone()
        edited = bytearray(ballot)
        edited[8] ^= 0x02
        db.execute("UPDATE accepted SET ballot = ? WHERE slot = ?", (bytes(edited), slot))


# ------------------------------------------------------------------------- rollback


def _enrol_copy_and_spend(op: Operator, copy: Path) -> tuple[list[int], Run]:
    """up, enrol, copy every store (online), ten wrong guesses, stop."""
    first = op.fleet("up", "--detach", "--replicas", str(REPLICAS))
    assert first.code == 0, op.transcript()
    enrol = op.fleet("enrol", "--user", "alice", "--fast-kdf")
    assert enrol.code == 0, op.transcript()
    assert "registration #1" in enrol.out
    assert fleet_cmd.user_path(op.directory, "alice").stat().st_mode & 0o777 == 0o600
    op.copy_stores(copy, range(REPLICAS), live=True)
    spend = op.fleet("guess", "--user", "alice", "--wrong", str(LIMIT))
    assert spend.code == 0, op.transcript()
    answered = _wrong_answers(spend)
    assert answered == list(range(LIMIT - 1, -1, -1)), op.transcript()
    assert "the record is destroyed" in spend.out
    _down(op)
    return answered, spend


def test_rolled_back_stores_are_refused_and_no_guess_is_answered_twice(
    operator: Operator, tmp_path: Path
) -> None:
    op = operator
    started = time.monotonic()
    answered, _ = _enrol_copy_and_spend(op, tmp_path / "copy")

    # The operator puts every old store back and starts the fleet again.
    op.put_back(tmp_path / "copy", range(REPLICAS))
    offsets = op.log_sizes()
    again = op.fleet("up", "--detach", "--timeout", "4")
    op.wait_for_log(list(range(REPLICAS)), offsets, REFUSES)
    guess = op.fleet("guess", "--user", "alice", "--wrong", str(LIMIT), "--timeout", "2")
    more = _wrong_answers(guess)
    _down(op)

    transcript = op.transcript()
    for replica in range(REPLICAS):
        log = op.log_since(replica, offsets[replica])
        assert REFUSES in log, f"hsm[{replica}] did not refuse its store:\n{log}\n{transcript}"
        assert ROLLED_BACK in log, f"hsm[{replica}]:\n{log}"
    # 'up' repeats the refusals it finds in the logs (those written before it returned).
    assert re.search(rf"^hsm\[\d\] log: .*{REFUSES}", again.out, re.M), transcript
    assert len(answered) + len(more) <= LIMIT, transcript
    # Safety over availability: no replica keeps a trusted store, so none may serve.
    if again.code != 0:
        assert "no ready leader" in again.err, transcript
        assert "keep running" in again.err, transcript
    if guess.code != 0:
        assert guess.code == 1, transcript
        assert "unavailable" in guess.err, transcript
    assert not _no_slot_chosen_twice(op.stores()), transcript
    _no_secret_shown(op, "alice")
    print(f"\nrollback of every store: {time.monotonic() - started:.1f} s ({op.timings()})")


@pytest.mark.slow
@pytest.mark.skipif(not THOROUGH, reason="a rollback of two stores, ~20 s on two cores")
def test_a_rolled_back_minority_rejoins_and_the_destroyed_record_stays_destroyed(
    operator: Operator, tmp_path: Path
) -> None:
    op = operator
    answered, _ = _enrol_copy_and_spend(op, tmp_path / "copy")
    victims = [1, 3]
    op.put_back(tmp_path / "copy", victims)
    offsets = op.log_sizes()
    _up(op)
    op.wait_for_log(victims, offsets, REFUSES)
    guess = op.fleet("guess", "--user", "alice", "--wrong", "3")
    right = op.fleet("guess", "--user", "alice", "--right")
    _down(op)
    transcript = op.transcript()
    assert guess.code == 0, transcript
    assert right.code == 0, transcript
    assert not _wrong_answers(guess), transcript
    assert guess.out.count("destroyed: the record is gone") == 3, transcript
    assert "destroyed: the record is gone" in right.out, transcript
    assert len(answered) <= LIMIT
    for replica in victims:
        log = op.log_since(replica, offsets[replica])
        assert REFUSES in log, f"hsm[{replica}]:\n{log}\n{transcript}"
        assert ROLLED_BACK in log, f"hsm[{replica}]:\n{log}"
    for replica in set(range(REPLICAS)) - set(victims):
        assert REFUSES not in op.log_since(replica, offsets[replica]), transcript
    assert not _no_slot_chosen_twice(op.stores()), transcript


# ---------------------------------------------------------------------------- edits


def test_an_edited_ballot_and_a_deleted_vote_are_refused(operator: Operator) -> None:
    op = operator
    started = time.monotonic()
    _up(op, "--replicas", str(REPLICAS))
    assert op.fleet("enrol", "--user", "bob", "--fast-kdf").code == 0, op.transcript()
    spend = op.fleet("guess", "--user", "bob", "--wrong", "2")
    assert _wrong_answers(spend) == [9, 8], op.transcript()
    _down(op)

    edited, deleted = 3, 4
    slot = _newest_vote(op, edited)
    _edit_ballot(op, edited, slot)
    gone = _newest_vote(op, deleted)
    assert op.sql(deleted, "DELETE FROM accepted WHERE slot = ?", gone) == 1

    offsets = op.log_sizes()
    again = _up(op)
    op.wait_for_log([edited, deleted], offsets, REFUSES)
    guess = op.fleet("guess", "--user", "bob", "--wrong", "1")
    right = op.fleet("guess", "--user", "bob", "--right")
    _down(op)

    transcript = op.transcript()
    for replica in (edited, deleted):
        log = op.log_since(replica, offsets[replica])
        assert REFUSES in log, f"hsm[{replica}] did not refuse its store:\n{log}\n{transcript}"
        assert TAMPERED in log, f"hsm[{replica}]:\n{log}"
        assert f"hsm[{replica}] log:" in again.out, transcript
    for replica in (0, 1, 2):
        assert REFUSES not in op.log_since(replica, offsets[replica]), transcript
    # Three trusted stores are a quorum: the fleet answers, and the attempts count on.
    assert guess.code == 0, transcript
    assert _wrong_answers(guess) == [7], transcript
    assert right.code == 0, transcript
    assert "released" in right.out, transcript
    problems = _no_slot_chosen_twice(op.stores())
    assert not problems, "\n".join(problems) + "\n" + transcript
    _no_secret_shown(op, "bob")
    print(f"\nedited ballot and deleted vote: {time.monotonic() - started:.1f} s ({op.timings()})")


@pytest.mark.slow
@pytest.mark.skipif(not THOROUGH, reason="edits on every replica, ~20 s on two cores")
def test_edits_on_every_replica_stop_the_fleet_and_choose_nothing_twice(
    operator: Operator,
) -> None:
    op = operator
    _up(op, "--replicas", str(REPLICAS))
    assert op.fleet("enrol", "--user", "carol", "--fast-kdf").code == 0, op.transcript()
    spend = op.fleet("guess", "--user", "carol", "--wrong", "2")
    assert _wrong_answers(spend) == [9, 8], op.transcript()
    _down(op)
    for replica in range(REPLICAS):
        slot = _newest_vote(op, replica)
        if replica % 2:
            _edit_ballot(op, replica, slot)
        else:
            assert op.sql(replica, "DELETE FROM accepted WHERE slot = ?", slot) == 1
    offsets = op.log_sizes()
    op.fleet("up", "--detach", "--timeout", "4")
    op.wait_for_log(list(range(REPLICAS)), offsets, REFUSES)
    guess = op.fleet("guess", "--user", "carol", "--wrong", "1", "--timeout", "3")
    _down(op)
    transcript = op.transcript()
    for replica in range(REPLICAS):
        log = op.log_since(replica, offsets[replica])
        assert REFUSES in log, f"hsm[{replica}]:\n{log}\n{transcript}"
        assert TAMPERED in log, f"hsm[{replica}]:\n{log}"
    assert len(_wrong_answers(spend)) + len(_wrong_answers(guess)) <= LIMIT
    assert not _no_slot_chosen_twice(op.stores()), transcript


# -------------------------------------------------------- the user's side, no fleet


def test_enrol_and_guess_refuse_bad_arguments_and_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "f"
    fleet = setup_fleet(directory, replicas=3, seed=4)
    d = str(directory)
    assert fleet_cmd.main(["enrol", "--dir", d, "--user", "../evil"]) == 2
    assert fleet_cmd.main(["enrol", "--dir", d, "--user", ""]) == 2
    assert fleet_cmd.main(["enrol", "--dir", str(tmp_path / "none"), "--user", "a"]) == 2
    assert fleet_cmd.main(["guess", "--dir", d, "--user", "alice"]) == 2  # --wrong or --right
    assert fleet_cmd.main(["guess", "--dir", d, "--user", "alice", "--wrong", "0"]) == 2
    assert fleet_cmd.main(["guess", "--dir", d, "--user", "alice", "--wrong", "2", "--right"]) == 2
    assert fleet_cmd.main(["guess", "--dir", d, "--user", "alice", "--right"]) == 2
    err = capsys.readouterr().err
    assert "alice is not enrolled" in err
    assert "expected 1 to 64 letters" in err
    assert not (directory / fleet_cmd.USERS_DIR).exists()

    # A user file is checked completely before anything is sent.
    record = fleet_cmd.UserFile(
        "alice", fleet_cmd.fleet_fingerprint(fleet), 1, True, Secret(b"hunter2hunter2"), b"b"
    )
    assert "hunter2" not in repr(record)
    path = fleet_cmd.save_user(directory, record)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (directory / fleet_cmd.USERS_DIR).stat().st_mode & 0o777 == 0o700
    assert fleet_cmd.load_user(directory, "alice", fleet).password == Secret(b"hunter2hunter2")
    with pytest.raises(fleet_cmd.UserFileError, match="exists already"):
        fleet_cmd.save_user(directory, record)
    assert fleet_cmd.main(["enrol", "--dir", d, "--user", "alice"]) == 2
    assert "already enrolled" in capsys.readouterr().err
    good = path.read_bytes()
    value = json.loads(good)
    for bad, match in [
        ({**value, "fleet": "0" * 16}, "another fleet"),
        ({**value, "user": "bob"}, "another user"),
        ({**value, "registration": 0}, "registration"),
        ({**value, "kdf": "slow"}, "kdf"),
        ({**value, "password": "not base64!"}, "password: not base64"),
        ({**value, "extra": 1}, "unknown field"),
        ({k: v for k, v in value.items() if k != "blob"}, "missing field blob"),
    ]:
        path.write_text(json.dumps(bad))
        with pytest.raises(fleet_cmd.UserFileError, match=match) as caught:
            fleet_cmd.load_user(directory, "alice", fleet)
        assert "hunter2" not in str(caught.value)
        assert fleet_cmd.main(["guess", "--dir", d, "--user", "alice", "--right"]) == 2
    path.write_text('{"version": 1, "version": 1}')
    with pytest.raises(fleet_cmd.UserFileError, match="repeated"):
        fleet_cmd.load_user(directory, "alice", fleet)
    path.write_bytes(good)
    path.chmod(0o644)
    with pytest.raises(fleet_cmd.UserFileError, match="readable by others"):
        fleet_cmd.load_user(directory, "alice", fleet)
    assert "hunter2" not in capsys.readouterr().err
