"""impl.net.launcher: start, kill, restart and stop a fleet's replica processes.

``FleetProcesses`` runs each replica of a fleet directory as ``python -m
impl.net.server`` in its own session (so a terminal's Ctrl-C reaches the launcher, which
then stops the replicas cleanly), with its output appended to ``replica-<i>/replica.log``
and its pid written to ``replica-<i>/pid``. ``kill(i)`` is ``SIGKILL``: the test of
durability. ``stop(i)`` is ``SIGTERM`` (the replica closes its store) and ``SIGKILL``
after a grace period.

With ``tie_to_parent`` (the default) each replica also stops by itself when the launching
process goes away, so nothing outlives a test or a foreground ``vaultbench fleet up``;
``--detach`` turns it off and ``stop_pid`` stops such a replica later by its pid, after
checking that the pid is still a replica of this very directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import impl
from impl.errors import FleetUnavailable
from impl.net.endpoint import fleet_status
from impl.net.fleetdir import (
    LOG_FILE,
    FleetFile,
    clear_pid,
    load_fleet,
    read_pid,
    replica_dir,
    write_pid,
)
from impl.net.frame import ReplicaStatus

SERVER_MODULE: Final = "impl.net.server"
STOP_GRACE_S: Final = 5.0


class FleetProcesses:
    """FleetProcesses: the replica processes of the fleet in ``directory``.

    A context manager: leaving it kills every replica it started (``SIGKILL``), whatever
    happened inside.
    """

    def __init__(self, directory: Path, *, tie_to_parent: bool = True) -> None:
        self.directory = Path(directory).resolve()
        self.fleet: FleetFile = load_fleet(self.directory)
        self.tie_to_parent = tie_to_parent
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    def __repr__(self) -> str:
        up = sorted(i for i in self._procs if self.alive(i))
        return f"FleetProcesses({str(self.directory)!r}, up={up})"

    def __enter__(self) -> FleetProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill_all()

    @property
    def replicas(self) -> int:
        return self.fleet.replicas

    # ------------------------------------------------------------------ lifecycle

    def start(self, replica: int) -> int:
        """start: run replica ``replica`` (again); returns its pid."""
        if self.alive(replica):
            raise RuntimeError(f"hsm[{replica}] is already running")
        command = [sys.executable, "-m", SERVER_MODULE, "--dir", str(self.directory)]
        command += ["--replica", str(replica)]
        if self.tie_to_parent:
            command += ["--parent", str(os.getpid())]
        env = dict(os.environ)
        root = str(Path(impl.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        log_path = replica_dir(self.directory, replica) / LOG_FILE
        with open(log_path, "ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=self.directory,
            )
        self._procs[replica] = process
        write_pid(self.directory, replica, process.pid)
        return process.pid

    def start_all(self) -> None:
        for replica in range(self.replicas):
            if not self.alive(replica):
                self.start(replica)

    def alive(self, replica: int) -> bool:
        process = self._procs.get(replica)
        return process is not None and process.poll() is None

    def pid(self, replica: int) -> int | None:
        process = self._procs.get(replica)
        return None if process is None else process.pid

    def returncode(self, replica: int) -> int | None:
        process = self._procs.get(replica)
        return None if process is None else process.poll()

    def kill(self, replica: int) -> None:
        """kill: ``SIGKILL`` replica ``replica`` (if it runs) and reap it."""
        process = self._procs.get(replica)
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.wait(timeout=10)
        clear_pid(self.directory, replica)

    def stop(self, replica: int, grace: float = STOP_GRACE_S) -> int | None:
        """stop: ``SIGTERM``, then ``SIGKILL`` after ``grace`` seconds; the exit code."""
        process = self._procs.get(replica)
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
        return self._reap(replica, process, grace)

    def _reap(self, replica: int, process: subprocess.Popen[bytes], grace: float) -> int:
        """Wait for a process sent ``SIGTERM`` once (a second one could land after its
        handler is gone); ``SIGKILL`` it after ``grace`` seconds."""
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        clear_pid(self.directory, replica)
        return process.returncode

    def kill_all(self) -> None:
        for replica in list(self._procs):
            self.kill(replica)

    def stop_all(self, grace: float = STOP_GRACE_S) -> dict[int, int | None]:
        """stop_all: ``SIGTERM`` every replica at once, then reap each (``stop``)."""
        for process in self._procs.values():
            if process.poll() is None:
                process.terminate()
        return {
            replica: self._reap(replica, process, grace) for replica, process in self._procs.items()
        }

    # -------------------------------------------------------------------- queries

    def statuses(self, timeout: float = 1.0) -> list[ReplicaStatus | None]:
        return fleet_status(self.directory, self.fleet, timeout)

    def leader(self, timeout: float = 1.0) -> int | None:
        """leader: the ready leader with the highest ballot, if any answers."""
        ready = [s for s in self.statuses(timeout) if s is not None and s.ready]
        if not ready:
            return None
        return max(ready, key=lambda s: _ballot_key(s.ballot)).replica

    def wait_ready(self, timeout: float = 20.0) -> int:
        """wait_ready: wait until a leader is ready; returns it (``FleetUnavailable``
        after ``timeout`` seconds, or if every process has exited)."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            leader = self.leader(timeout=0.5)
            if leader is not None:
                return leader
            if self._procs and not any(self.alive(i) for i in self._procs):
                raise FleetUnavailable("every replica process has exited; see replica.log")
            time.sleep(0.05)
        raise FleetUnavailable(f"no ready leader within {timeout:g} s")

    def wait_caught_up(self, timeout: float = 20.0) -> bool:
        """wait_caught_up: wait until every replica answers and all have applied the same
        slots as the ready leader; False if that did not happen in ``timeout`` seconds."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            statuses = self.statuses(timeout=0.5)
            if all(s is not None for s in statuses):
                applied = {s.applied for s in statuses if s is not None}
                if len(applied) == 1 and any(s is not None and s.ready for s in statuses):
                    return True
            time.sleep(0.05)
        return False


def _ballot_key(ballot: str) -> tuple[int, int]:
    round_, _, replica = ballot.partition(".")
    return (int(round_), int(replica)) if round_.isdigit() and replica.isdigit() else (0, 0)


# ------------------------------------------------------------- detached replicas


def is_replica_process(pid: int, directory: Path) -> bool:
    """is_replica_process: whether ``pid`` runs ``impl.net.server`` for ``directory``
    (read from ``/proc``; False where ``/proc`` cannot tell)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    parts = [p.decode(errors="replace") for p in raw.split(b"\0") if p]
    return SERVER_MODULE in parts and str(Path(directory).resolve()) in parts


def stop_pid(pid: int, directory: Path, grace: float = STOP_GRACE_S) -> bool:
    """stop_pid: stop the detached replica ``pid`` of ``directory`` (``SIGTERM``, then
    ``SIGKILL`` after ``grace`` seconds). False if ``pid`` is not such a replica now."""
    if not is_replica_process(pid, directory):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    until = time.monotonic() + grace
    while time.monotonic() < until:
        if not is_replica_process(pid, directory):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def recorded_pids(directory: Path, fleet: FleetFile | None = None) -> dict[int, int]:
    """recorded_pids: replica -> pid for every pid file that names a live replica of
    ``directory``."""
    fleet = fleet if fleet is not None else load_fleet(Path(directory))
    found: dict[int, int] = {}
    for replica in range(fleet.replicas):
        pid = read_pid(Path(directory), replica)
        if pid is not None and is_replica_process(pid, directory):
            found[replica] = pid
    return found
