"""vaultbench.fleet_cmd: ``vaultbench fleet``, the fleet as real processes on loopback.

::

    vaultbench fleet up [--replicas N] [--quorum Q] [--dir DIR] [--base-port P] [--seed S]
                        [--detach] [--timeout SECONDS]
    vaultbench fleet status [--dir DIR] [--json]
    vaultbench fleet down [--dir DIR]
    vaultbench fleet demo [--dir DIR] [--user NAME] [--fast-kdf]
    vaultbench fleet enrol [--dir DIR] --user NAME [--fast-kdf] [--timeout SECONDS]
    vaultbench fleet guess [--dir DIR] --user NAME (--wrong N | --right) [--timeout SECONDS]

``up`` provisions a fleet in ``DIR`` the first time (``impl.net.fleetdir.setup_fleet``;
``--seed`` makes the keys reproducible, for a workbench only) and reuses it afterwards,
starts one ``impl.net.server`` process per replica, waits until a leader is ready and
prints each replica's port and pid. It then stays in the foreground until Ctrl-C, which
stops the replicas cleanly; with ``--detach`` it leaves them running, their pids in
``DIR/replica-<i>/pid``, for ``status`` and ``down``. ``demo`` registers a user and
recovers through the running processes with the same ``impl.client.Client`` the
simulator's demo uses.

``enrol`` and ``guess`` split the user's side over separate invocations, so an operator's
attack can happen between them (``docs/processes.rst``, *The operator's disks*): ``enrol``
registers NAME with a fresh random password and keeps what the user's app would keep (the
password, the registration number, the encrypted backup) in ``DIR/users/NAME.json``
(mode 0600, in a 0700 directory; the password is never printed, logged or shown in a
``repr``); ``guess`` sends N wrong passwords, or the right one, each as its own recovery,
and prints each answer: a wrong password with the attempts left, destroyed, or released.
If ``up --detach`` finds no ready leader, the replicas keep running (a replica that
refused its store is rejoining, and the user may want to look): ``status`` and ``down``
manage them, and ``up`` prints the replicas' refusal lines from their logs.

Exit codes: 0 done (for ``guess``: every guess was answered, whatever the answer); 1 the
fleet did not do what was asked (no leader, unavailable, already running, refused); 2 bad
arguments, no fleet in ``DIR``, no such enrolled user, or a malformed user file (and
nothing was sent).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import secrets
import signal
import stat
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from impl.client import (
    Client,
    ClientConfig,
    Destroyed,
    NoRecord,
    Outcome,
    Recovered,
    Refused,
    Retired,
    Stale,
    WrongGuess,
    WrongKey,
)
from impl.crypto.symmetric import Argon2Params
from impl.errors import FleetUnavailable, VaultbenchError
from impl.net.endpoint import NetEndpoint, fleet_status
from impl.net.fleetdir import (
    FLEET_FILE,
    LOG_FILE,
    FleetDirError,
    FleetFile,
    clear_pid,
    load_fleet,
    replica_dir,
    setup_fleet,
)
from impl.net.frame import ReplicaStatus
from impl.net.launcher import FleetProcesses, is_replica_process, recorded_pids, stop_pid
from impl.redact import Secret
from vaultbench.args import at_least

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
DEFAULT_DIR: Final = Path("vaultbench-fleet")
DEMO_PASSWORD: Final = "correct horse battery staple"  # never printed
USERS_DIR: Final = "users"
USER_FORMAT: Final = 1
MAX_USER_FILE: Final = 64 * 1024
#: what the user's backup holds (the right password must decrypt it)
BACKUP_TEXT: Final = b"a backup of the chats"
#: a user name is also a file name under DIR/users
USER_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: log lines ``up`` repeats: a replica that refused its store (impl.net.server)
REFUSAL_MARKERS: Final = ("refuses its store", "StoreRolledBack", "StoreTampered")

Say = Callable[[str], None]


def _port(text: str) -> int:
    value = at_least(0)(text)
    if value != 0 and not 1024 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected 0 (free ports) or 1024..65535, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"expected 0 < seconds <= 3600, got {text}")
    return value


def _user_name(text: str) -> str:
    if not USER_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"expected 1 to 64 letters, digits, '_' or '-' (not first), got {text[:80]!r}"
        )
    return text


def add_arguments(
    target: argparse.ArgumentParser | argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """add_arguments: the ``fleet`` command and its actions.

    Given the CLI's subparsers, adds ``fleet`` to them; given a parser, adds the actions
    to it. Returns the ``fleet`` parser; ``run(args)`` executes what was parsed.
    """
    if isinstance(target, argparse.ArgumentParser):
        fleet = target
    else:
        fleet = target.add_parser(
            "fleet",
            help="run the fleet as real replica processes on loopback (up/status/down/demo)",
            description="Run the vault's replicas as operating-system processes on "
            "127.0.0.1, each with its SQLite store, and talk to them with the real client.",
        )
    actions = fleet.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")

    def with_dir(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--dir",
            type=Path,
            default=DEFAULT_DIR,
            help=f"the fleet directory (default ./{DEFAULT_DIR})",
        )

    up = actions.add_parser(
        "up",
        help="start the replicas and wait for a ready leader",
        description="Provision the fleet in DIR if it holds none, start one process per "
        "replica, wait for a ready leader, print ports and pids; stay in the foreground "
        "until Ctrl-C (or --detach).",
    )
    up.add_argument("--replicas", type=at_least(1), default=None, help="default 5")
    up.add_argument("--quorum", type=at_least(0), default=None, help="default 0: a majority")
    with_dir(up)
    up.add_argument(
        "--base-port",
        type=_port,
        default=None,
        help="replica i listens on P+i (default 0: free ports chosen by the OS)",
    )
    up.add_argument(
        "--seed",
        type=at_least(0),
        default=None,
        help="derive every key from this seed (reproducible; a workbench only: whoever "
        "knows the seed knows the keys). Default: the OS CSPRNG",
    )
    up.add_argument("--detach", action="store_true", help="leave the replicas running and return")
    up.add_argument("--timeout", type=_seconds, default=30.0, help="seconds to wait for a leader")

    status = actions.add_parser("status", help="each replica's role, ballot and log")
    with_dir(status)
    status.add_argument("--json", action="store_true", help="print JSON")

    down = actions.add_parser("down", help="stop the replicas a detached 'up' started")
    with_dir(down)

    demo = actions.add_parser(
        "demo", help="register a user and recover through the running replicas"
    )
    with_dir(demo)
    demo.add_argument("--user", default="alice", help="the user name (default alice)")
    demo.add_argument(
        "--fast-kdf",
        action="store_true",
        help="cheap Argon2 parameters (tests only; the default is RFC 9106's 64 MiB)",
    )
    demo.add_argument(
        "--timeout", type=_seconds, default=15.0, help="seconds per request (default 15)"
    )

    enrol = actions.add_parser(
        "enrol",
        aliases=["enroll"],
        help="register a user with a random password, kept in DIR/users/NAME.json",
        description="Register NAME through the running replicas with a fresh random "
        "password (never printed) and back up a short text under the root key; keep what "
        "the user's app keeps (password, registration, encrypted backup) in "
        "DIR/users/NAME.json, mode 0600, for 'guess'.",
    )
    with_dir(enrol)
    enrol.add_argument("--user", required=True, type=_user_name, help="the user name")
    enrol.add_argument(
        "--fast-kdf",
        action="store_true",
        help="cheap Argon2 parameters (tests only; the default is RFC 9106's 64 MiB); "
        "'guess' uses what 'enrol' used",
    )
    enrol.add_argument(
        "--timeout", type=_seconds, default=15.0, help="seconds per request (default 15)"
    )

    guess = actions.add_parser(
        "guess",
        help="send wrong passwords, or the right one, for an enrolled user",
        description="Recover NAME's backup with N wrong passwords (--wrong N), each its own "
        "recovery, or with the right one (--right), and print every answer: a wrong "
        "password and the attempts left, destroyed, or released.",
    )
    with_dir(guess)
    guess.add_argument("--user", required=True, type=_user_name, help="an enrolled user")
    which = guess.add_mutually_exclusive_group(required=True)
    which.add_argument("--wrong", type=at_least(1), metavar="N", help="send N wrong passwords")
    which.add_argument("--right", action="store_true", help="send the right password")
    guess.add_argument(
        "--timeout", type=_seconds, default=15.0, help="seconds per request (default 15)"
    )
    return fleet


def run(args: argparse.Namespace, say: Say = print) -> int:
    """run: execute the parsed ``fleet`` action; the exit code."""
    action = getattr(args, "fleet_command", None)
    try:
        if action == "up":
            return _up(args, say)
        if action == "status":
            return _status(args, say)
        if action == "down":
            return _down(args, say)
        if action == "demo":
            return _demo(args, say)
        if action in ("enrol", "enroll"):
            return _enrol(args, say)
        if action == "guess":
            return _guess(args, say)
    except FleetDirError as bad:
        return _usage(f"{bad}")
    return _usage(f"unknown action {action!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """main: ``python -m vaultbench.fleet_cmd ACTION ...``."""
    parser = argparse.ArgumentParser(
        prog="vaultbench fleet", description="The fleet as real processes on loopback."
    )
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    return run(args)


def _usage(message: str) -> int:
    print(f"vaultbench fleet: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _failed(message: str) -> int:
    print(f"vaultbench fleet: {message}", file=sys.stderr)
    return EXIT_FAILED


def _existing(directory: Path) -> FleetFile:
    if not (directory / FLEET_FILE).is_file():
        raise FleetDirError(
            f"no fleet in {directory} (no {FLEET_FILE}); start one with "
            f"'vaultbench fleet up --dir {directory}'"
        )
    return load_fleet(directory)


# ------------------------------------------------------------------------------- up


def _up(args: argparse.Namespace, say: Say) -> int:
    directory: Path = args.dir.resolve()
    if (directory / FLEET_FILE).exists():
        fleet = load_fleet(directory)
        given = {
            "--replicas": (args.replicas, fleet.replicas),
            "--quorum": (args.quorum, fleet.quorum),
        }
        for flag, (wanted, actual) in given.items():
            if wanted not in (None, actual) and not (flag == "--quorum" and wanted == 0):
                return _usage(f"{directory} already holds a fleet with {flag[2:]} {actual}")
        if args.base_port is not None or args.seed is not None:
            return _usage(
                f"{directory} already holds a fleet: --base-port and --seed apply only to a new one"
            )
        say(f"using the fleet in {directory} ({fleet.replicas} replicas, quorum {fleet.quorum})")
    else:
        fleet = setup_fleet(
            directory,
            replicas=5 if args.replicas is None else args.replicas,
            quorum=0 if args.quorum is None else args.quorum,
            base_port=0 if args.base_port is None else args.base_port,
            seed=args.seed,
        )
        keys = "derived from --seed (workbench only)" if args.seed is not None else "OS CSPRNG"
        say(
            f"provisioned a fleet of {fleet.replicas} replicas, quorum {fleet.quorum}, in "
            f"{directory} (keys: {keys})"
        )
    running = recorded_pids(directory, fleet)
    if running:
        pids = ", ".join(f"hsm[{i}] pid {pid}" for i, pid in sorted(running.items()))
        return _failed(f"already running ({pids}); stop it with 'vaultbench fleet down'")
    procs = FleetProcesses(directory, tie_to_parent=not args.detach)
    stop = {"now": False}

    def on_signal(_signum: int, _frame: object) -> None:
        stop["now"] = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        offsets = _log_sizes(directory, fleet)
        procs.start_all()
        try:
            leader = procs.wait_ready(args.timeout)
        except FleetUnavailable as why:
            started = {i: procs.pid(i) for i in range(fleet.replicas)}
            _print_statuses(say, procs.statuses(), started)
            _print_refusals(say, directory, fleet, offsets)
            if args.detach and any(procs.alive(i) for i in range(fleet.replicas)):
                return _failed(
                    f"{why}; the replicas keep running (detached): see 'vaultbench fleet "
                    f"status --dir {directory}' and {directory}/replica-*/replica.log; stop "
                    f"them with 'vaultbench fleet down --dir {directory}'"
                )
            procs.stop_all()
            return _failed(f"{why} (logs: {directory}/replica-*/replica.log)")
        _print_statuses(say, procs.statuses(), {i: procs.pid(i) for i in range(fleet.replicas)})
        _print_refusals(say, directory, fleet, offsets)
        say(f"hsm[{leader}] leads; quorum {fleet.quorum} of {fleet.replicas}")
        if args.detach:
            say(f"detached; stop with: vaultbench fleet down --dir {directory}")
            return EXIT_OK
        say("running; Ctrl-C stops the fleet")
        reported: set[int] = set()
        while not stop["now"]:
            time.sleep(0.2)
            for i in range(fleet.replicas):
                code = procs.returncode(i)
                if code is not None and i not in reported:
                    reported.add(i)
                    say(f"hsm[{i}] exited with code {code}")
        say("stopping the replicas")
        procs.stop_all()
        say("stopped")
        return EXIT_OK
    except BaseException:
        procs.kill_all()
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _log_sizes(directory: Path, fleet: FleetFile) -> dict[int, int]:
    """Each replica's log size now: ``_print_refusals`` reads only what comes after."""
    sizes: dict[int, int] = {}
    for i in range(fleet.replicas):
        try:
            sizes[i] = (replica_dir(directory, i) / LOG_FILE).stat().st_size
        except OSError:
            sizes[i] = 0
    return sizes


def refusal_lines(directory: Path, replica: int, offset: int = 0) -> list[str]:
    """refusal_lines: the lines of replica ``replica``'s log from byte ``offset`` on in
    which it refuses its store (``REFUSAL_MARKERS``)."""
    try:
        with open(replica_dir(directory, replica) / LOG_FILE, "rb") as log:
            log.seek(offset)
            text = log.read(1024 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if any(m in line for m in REFUSAL_MARKERS)]


def _print_refusals(say: Say, directory: Path, fleet: FleetFile, offsets: dict[int, int]) -> None:
    for i in range(fleet.replicas):
        for line in refusal_lines(directory, i, offsets.get(i, 0)):
            say(f"hsm[{i}] log: {line}")


def _print_statuses(
    say: Say, statuses: list[ReplicaStatus | None], pids: dict[int, int | None]
) -> None:
    say(f"{'replica':<8} {'pid':>7} {'role':<10} {'ready':<5} {'ballot':>7} {'applied':>8} boots")
    for i, status in enumerate(statuses):
        pid = pids.get(i)
        shown = "-" if pid is None else str(pid)
        if status is None:
            say(f"hsm[{i}]   {shown:>7} {'down':<10}")
            continue
        ready = "yes" if status.ready else "no"
        say(
            f"hsm[{i}]   {status.pid:>7} {status.role:<10} {ready:<5} {status.ballot:>7} "
            f"{status.applied:>8} {status.boots}"
        )


# --------------------------------------------------------------------- status, down


def _status(args: argparse.Namespace, say: Say) -> int:
    directory: Path = args.dir.resolve()
    fleet = _existing(directory)
    statuses = fleet_status(directory, fleet, timeout=1.0)
    pids: dict[int, int | None] = dict(recorded_pids(directory, fleet))
    up = sum(s is not None for s in statuses)
    leaders = [s.replica for s in statuses if s is not None and s.ready]
    if args.json:
        say(
            json.dumps(
                {
                    "replicas": fleet.replicas,
                    "quorum": fleet.quorum,
                    "up": up,
                    "leader": leaders[0] if leaders else None,
                    "status": [None if s is None else s.__dict__ for s in statuses],
                },
                sort_keys=True,
            )
        )
    else:
        _print_statuses(say, statuses, pids)
        leader = f"hsm[{leaders[0]}] leads" if leaders else "no ready leader"
        say(f"{up} of {fleet.replicas} up, quorum {fleet.quorum}; {leader}")
    return EXIT_OK if leaders and up >= fleet.quorum else EXIT_FAILED


def _down(args: argparse.Namespace, say: Say) -> int:
    directory: Path = args.dir.resolve()
    fleet = _existing(directory)
    running = recorded_pids(directory, fleet)
    if not running:
        say(f"no replica of {directory} is running")
    # SIGTERM every replica first, so they close their stores at the same time; then wait
    # for each (stop_pid sends SIGKILL to one still running after its grace period).
    signalled: set[int] = set()
    for replica, pid in running.items():
        if is_replica_process(pid, directory):
            signalled.add(replica)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    for replica, pid in sorted(running.items()):
        if stop_pid(pid, directory) or replica in signalled:
            say(f"stopped hsm[{replica}] (pid {pid})")
        clear_pid(directory, replica)
    return EXIT_OK


# ------------------------------------------------------------------------------ demo


def _demo(args: argparse.Namespace, say: Say) -> int:
    directory: Path = args.dir.resolve()
    fleet = _existing(directory)
    endpoint = NetEndpoint(directory, fleet=fleet, deadline=args.timeout)
    argon = Argon2Params.FAST if args.fast_kdf else Argon2Params.DEFAULT
    client = Client(args.user, endpoint, fleet.fleet_public_key, config=ClientConfig(argon2=argon))
    say(
        f"vaultbench fleet demo: {fleet.replicas} replica processes in {directory}, "
        f"quorum {fleet.quorum}"
    )
    try:
        enrollment = client.enroll_password(DEMO_PASSWORD)
        by = endpoint.last_call.answered_by
        say(
            f"1. {args.user} registers a password: registration #{enrollment.registration}, "
            f"chosen by a quorum, answered by hsm[{by}]"
        )
        blob = client.backup(enrollment, b"a backup of the chats")
        wrong = client.recover_password(blob, "not the password")
        say(f"2. a wrong guess is charged first, then checked: {wrong!r}")
        if not isinstance(wrong, WrongGuess):
            return _failed(f"expected a WrongGuess, got {type(wrong).__name__}")
        right = client.recover_password(blob, DEMO_PASSWORD)
        if not isinstance(right, Recovered) or right.plaintext != b"a backup of the chats":
            return _failed(f"the right password did not recover the backup: {right!r}")
        say(
            f"3. the right password releases the root key and the backup decrypts "
            f"(answered by hsm[{endpoint.last_call.answered_by}])"
        )
    except FleetUnavailable as why:
        return _failed(f"unavailable: {why}")
    except VaultbenchError as why:
        return _failed(f"{type(why).__name__}: {why}")
    say(
        f"{endpoint.stats.calls} requests, {endpoint.stats.transmissions} sends, "
        f"{endpoint.stats.redirects} redirects"
    )
    return EXIT_OK


# --------------------------------------------------------------- enrol and guess


class UserFileError(FleetDirError):
    """A user file (``DIR/users/NAME.json``) that is missing, malformed, readable by
    others, or made for another fleet. Its message never holds the file's secrets."""


@dataclass(frozen=True)
class UserFile:
    """What the user's app keeps between ``enrol`` and ``guess``: the password (secret),
    the registration, the Argon2 choice and the encrypted backup."""

    user: str
    #: ``fleet_fingerprint`` of the fleet the user enrolled at
    fleet: str
    registration: int
    fast_kdf: bool
    password: Secret
    blob: bytes

    def __repr__(self) -> str:
        return f"UserFile({self.user!r}, registration #{self.registration})"

    def encode(self) -> bytes:
        value = {
            "version": USER_FORMAT,
            "user": self.user,
            "fleet": self.fleet,
            "registration": self.registration,
            "kdf": "fast" if self.fast_kdf else "default",
            "password": base64.b64encode(self.password.reveal()).decode("ascii"),
            "blob": base64.b64encode(self.blob).decode("ascii"),
        }
        return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("ascii")


def fleet_fingerprint(fleet: FleetFile) -> str:
    """fleet_fingerprint: a short public name of the fleet's HPKE key (16 hex digits)."""
    return hashlib.sha256(fleet.fleet_public_key.public_bytes()).hexdigest()[:16]


def user_path(directory: Path, user: str) -> Path:
    return Path(directory) / USERS_DIR / f"{user}.json"


def save_user(directory: Path, record: UserFile) -> Path:
    """save_user: write ``record`` to a new ``DIR/users/NAME.json`` (mode 0600, in a 0700
    directory); ``UserFileError`` if one exists already."""
    users = Path(directory) / USERS_DIR
    users.mkdir(mode=0o700, exist_ok=True)
    os.chmod(users, 0o700)
    path = user_path(directory, record.user)
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, record.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)  # fails if the file exists: never overwrite a user
    except FileExistsError:
        raise UserFileError(f"{path}: exists already") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return path


def load_user(directory: Path, user: str, fleet: FleetFile) -> UserFile:
    """load_user: ``DIR/users/NAME.json``, checked completely; ``UserFileError`` otherwise
    (naming the file and the field, never a secret)."""
    path = user_path(directory, user)
    where = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise UserFileError(
            f"{user} is not enrolled in {directory} (no {path}); enrol with "
            f"'vaultbench fleet enrol --dir {directory} --user {user}'"
        ) from None
    except OSError as exc:
        raise UserFileError(f"{where}: cannot read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserFileError(f"{where}: not a regular file")
        if info.st_mode & 0o077:
            raise UserFileError(f"{where}: readable by others (mode {info.st_mode & 0o777:o})")
        data = os.read(fd, MAX_USER_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_USER_FILE:
        raise UserFileError(f"{where}: larger than {MAX_USER_FILE} bytes")

    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        value = dict(pairs)
        if len(value) != len(pairs):
            raise ValueError("repeated field")
        return value

    try:
        value = json.loads(data.decode("ascii"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError):
        raise UserFileError(f"{where}: not ASCII JSON without repeated fields") from None
    if not isinstance(value, dict):
        raise UserFileError(f"{where}: expected a JSON object")
    fields = {"version", "user", "fleet", "registration", "kdf", "password", "blob"}
    if set(value) != fields:
        missing, unknown = sorted(fields - set(value)), sorted(set(value) - fields)
        what = f"missing field {missing[0]}" if missing else f"unknown field {unknown[0][:40]!r}"
        raise UserFileError(f"{where}: {what}")

    def text(name: str) -> str:
        field = value[name]
        if not isinstance(field, str):
            raise UserFileError(f"{where}: {name}: expected a string")
        return field

    def raw(name: str) -> bytes:
        field = text(name)
        try:
            decoded = base64.b64decode(field, validate=True)
        except (binascii.Error, ValueError):
            raise UserFileError(f"{where}: {name}: not base64") from None
        if not decoded or base64.b64encode(decoded).decode("ascii") != field:
            raise UserFileError(f"{where}: {name}: not canonical, non-empty base64")
        return decoded

    if value["version"] != USER_FORMAT or type(value["version"]) is not int:
        raise UserFileError(f"{where}: version: expected {USER_FORMAT}")
    if text("user") != user:
        raise UserFileError(f"{where}: user: names another user")
    if text("fleet") != fleet_fingerprint(fleet):
        raise UserFileError(f"{where}: fleet: made for another fleet than {directory}'s")
    registration = value["registration"]
    if type(registration) is not int or registration < 1:
        raise UserFileError(f"{where}: registration: expected a whole number >= 1")
    kdf = text("kdf")
    if kdf not in ("fast", "default"):
        raise UserFileError(f"{where}: kdf: expected 'fast' or 'default'")
    password = raw("password")
    try:
        password.decode("ascii")
    except UnicodeDecodeError:
        raise UserFileError(f"{where}: password: expected ASCII") from None
    return UserFile(user, text("fleet"), registration, kdf == "fast", Secret(password), raw("blob"))


def _user_client(
    directory: Path, fleet: FleetFile, user: str, fast_kdf: bool, timeout: float
) -> tuple[Client, NetEndpoint]:
    endpoint = NetEndpoint(directory, fleet=fleet, deadline=timeout)
    argon = Argon2Params.FAST if fast_kdf else Argon2Params.DEFAULT
    return Client(
        user, endpoint, fleet.fleet_public_key, config=ClientConfig(argon2=argon)
    ), endpoint


def _enrol(args: argparse.Namespace, say: Say) -> int:
    directory: Path = args.dir.resolve()
    fleet = _existing(directory)
    user: str = args.user
    path = user_path(directory, user)
    if path.exists() or path.is_symlink():
        return _usage(
            f"{user} is already enrolled in {directory} ({path}); guess with "
            f"'vaultbench fleet guess --dir {directory} --user {user} --wrong N' or '--right'"
        )
    client, endpoint = _user_client(directory, fleet, user, args.fast_kdf, args.timeout)
    password = secrets.token_urlsafe(24)  # 32 characters; never printed
    try:
        enrollment = client.enroll_password(password)
        blob = client.backup(enrollment, BACKUP_TEXT)
    except FleetUnavailable as why:
        return _failed(
            f"unavailable: {why}; {user} is not enrolled (the registration may have been "
            f"applied without an answer; its password is lost)"
        )
    except VaultbenchError as why:
        return _failed(
            f"the fleet did not register {user}: {type(why).__name__}: {why} (a record for "
            f"{user} this client cannot replace, e.g. one 'demo' made, refuses it)"
        )
    registration = enrollment.registration
    assert registration is not None  # a password enrolment is registered
    record = UserFile(
        user,
        fleet_fingerprint(fleet),
        registration,
        bool(args.fast_kdf),
        Secret(password.encode("ascii")),
        blob,
    )
    save_user(directory, record)
    kdf = "cheap Argon2 (--fast-kdf)" if args.fast_kdf else "Argon2id, 64 MiB"
    say(
        f"enrolled {user}: registration #{registration}, answered by "
        f"hsm[{endpoint.last_call.answered_by}]; {fleet.max_attempts} attempts; {kdf}"
    )
    say(f"the password (random, never printed) and the encrypted backup are in {path} (mode 0600)")
    return EXIT_OK


def describe_outcome(outcome: Outcome) -> str:
    """describe_outcome: one answer to a guess, as ``guess`` prints it (no secret)."""
    if isinstance(outcome, WrongGuess):
        left = "attempt" if outcome.remaining == 1 else "attempts"
        gone = "; the record is destroyed" if outcome.remaining == 0 else ""
        return f"wrong password, {outcome.remaining} {left} left{gone}"
    if isinstance(outcome, Destroyed):
        return "destroyed: the record is gone, nothing can be released"
    if isinstance(outcome, Recovered):
        size = len(outcome.plaintext)
        return f"released: the root key came back and the backup decrypts ({size} bytes)"
    if isinstance(outcome, NoRecord):
        return "no record for this user"
    if isinstance(outcome, Stale):
        return "stale: the record moved on while the guess was in flight (nothing charged)"
    if isinstance(outcome, Refused):
        return f"refused: {outcome.reason}"
    if isinstance(outcome, Retired):
        return "retired: the record moved to another fleet"
    if isinstance(outcome, WrongKey):
        return "the released key does not decrypt the backup"
    return type(outcome).__name__


def _guess(args: argparse.Namespace, say: Say) -> int:
    directory: Path = args.dir.resolve()
    fleet = _existing(directory)
    record = load_user(directory, args.user, fleet)
    client, endpoint = _user_client(directory, fleet, record.user, record.fast_kdf, args.timeout)
    if args.right:
        guesses = [("the right password", record.password.reveal().decode("ascii"))]
    else:
        count: int = args.wrong
        guesses = [
            (f"wrong guess {k} of {count}", f"wrong {secrets.token_hex(12)}")
            for k in range(1, count + 1)
        ]
    answered = wrong = 0
    for label, password in guesses:
        try:
            outcome = client.recover_password(record.blob, password)
        except FleetUnavailable as why:
            say(f"{label}: no answer")
            return _failed(
                f"unavailable: {why} ({answered} of {len(guesses)} guesses answered; a guess "
                f"without an answer may have been charged)"
            )
        except VaultbenchError as why:
            say(f"{label}: no answer")
            return _failed(f"{label}: {type(why).__name__}: {why}")
        answered += 1
        wrong += isinstance(outcome, WrongGuess)
        say(f"{label}: {describe_outcome(outcome)} (hsm[{endpoint.last_call.answered_by}])")
    guesses_ = "guess" if answered == 1 else "guesses"
    say(f"{record.user}: {answered} {guesses_} answered, {wrong} of them 'wrong password'")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
