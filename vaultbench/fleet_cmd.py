"""vaultbench.fleet_cmd: ``vaultbench fleet``, the fleet as real processes on loopback.

::

    vaultbench fleet up [--replicas N] [--quorum Q] [--dir DIR] [--base-port P] [--seed S]
                        [--detach] [--timeout SECONDS]
    vaultbench fleet status [--dir DIR] [--json]
    vaultbench fleet down [--dir DIR]
    vaultbench fleet demo [--dir DIR] [--user NAME] [--fast-kdf]

``up`` provisions a fleet in ``DIR`` the first time (``impl.net.fleetdir.setup_fleet``;
``--seed`` makes the keys reproducible, for a workbench only) and reuses it afterwards,
starts one ``impl.net.server`` process per replica, waits until a leader is ready and
prints each replica's port and pid. It then stays in the foreground until Ctrl-C, which
stops the replicas cleanly; with ``--detach`` it leaves them running, their pids in
``DIR/replica-<i>/pid``, for ``status`` and ``down``. ``demo`` registers a user and
recovers through the running processes with the same ``impl.client.Client`` the
simulator's demo uses.

Exit codes: 0 done; 1 the fleet did not do what was asked (no leader, unavailable,
already running); 2 bad arguments or no fleet in ``DIR``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from impl.client import Client, ClientConfig, Recovered, WrongGuess
from impl.crypto.symmetric import Argon2Params
from impl.errors import FleetUnavailable, VaultbenchError
from impl.net.endpoint import NetEndpoint, fleet_status
from impl.net.fleetdir import (
    FLEET_FILE,
    FleetDirError,
    FleetFile,
    clear_pid,
    load_fleet,
    setup_fleet,
)
from impl.net.frame import ReplicaStatus
from impl.net.launcher import FleetProcesses, recorded_pids, stop_pid
from vaultbench.args import at_least

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
DEFAULT_DIR: Final = Path("vaultbench-fleet")
DEMO_PASSWORD: Final = "correct horse battery staple"  # never printed

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
        procs.start_all()
        try:
            leader = procs.wait_ready(args.timeout)
        except FleetUnavailable as why:
            procs.stop_all()
            return _failed(f"{why}; see {directory}/replica-*/replica.log")
        _print_statuses(say, procs.statuses(), {i: procs.pid(i) for i in range(fleet.replicas)})
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
    for replica, pid in sorted(running.items()):
        if stop_pid(pid, directory):
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


if __name__ == "__main__":
    sys.exit(main())
