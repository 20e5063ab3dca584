"""impl.net.server: one HSM replica as an operating-system process on loopback.

``python -m impl.net.server --dir DIR --replica I`` runs replica ``I`` of the fleet
provisioned in ``DIR`` (``impl.net.fleetdir``): an ``impl.replica.HsmReplica`` with its
state in ``DIR/replica-I/store.sqlite`` (``SqliteReplicaStore``), a real monotonic clock,
the OS CSPRNG, and one TCP listener on ``127.0.0.1`` that carries both peer traffic and
client requests in ``impl.net.frame`` frames.

The event loop is single-threaded (``selectors``); in each turn it

1. waits for socket events, at most until the consensus's next deadline
   (``Replica.next_deadline``) and never more than 250 ms;
2. reads what arrived and hands each complete frame to the replica: a ``PEER`` frame to
   ``HsmReplica.deliver`` (the ``impl.peer`` envelope authenticates it; a forged,
   tampered or replayed one is counted and dropped, nothing changes), a ``REQUEST`` to
   ``HsmReplica.handle_request`` (refused at once with ``NOT_LEADER``/``UNAVAILABLE``/
   ``REFUSED``, or answered with ``ANSWER`` once its commands are chosen and applied), a
   ``STATUS_QUERY`` with ``STATUS``;
3. ticks the replica when its deadline has passed (heartbeats, retransmissions,
   elections);
4. writes what the replica sent, as far as the sockets take it.

Durability: the replica calls its store (one SQLite transaction, ``synchronous=FULL``)
*inside* the call that decides a promise or a vote, and this loop only puts the
resulting message on a socket afterwards (step 4), so a promise or vote is on disk
before any byte of it leaves. ``SIGKILL`` at any instant therefore loses only what was
never promised: volatile state (sessions, passkey challenges, requests in progress,
buffered messages). A restarted process resumes from the store with a new peer-channel
boot (``PeerChannel`` draws a fresh boot id from the OS CSPRNG).

The operator's disk: ``store.sqlite`` is the operator's (it may copy it, put an old copy
back, delete rows, change bytes); ``DIR/replica-I/nvram.json`` stands for the HSM's NVRAM
(``impl.nvram.FileNvram``) the way ``keys.json`` stands for its keys: it is inside the
HSM, and no test's operator touches it. At start the replica compares the store with it
and refuses an older or edited store with a log line ("refuses its store",
``StoreRolledBack`` or ``StoreTampered``), then rejoins as a learner (``docs/disk.rst``).

Peer connections: replica ``i`` dials every other replica once (reconnecting after
failures with a back-off) and sends on that connection only; what it receives arrives
on the connections others dialed. A message for a peer that is down is dropped (Multi-
Paxos retransmits what matters). ``SIGTERM``/``SIGINT`` stop the loop and close the
store cleanly; with ``--parent PID`` the process also stops when that parent goes away,
so a test or a foreground ``vaultbench fleet up`` leaves no replica behind.

The log (stdout) has one line per boot, role change, peer connection change and stop;
it never holds a key, a request, an answer or a user name.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from impl.consensus import Role
from impl.crypto.symmetric import SystemRng
from impl.errors import HsmUnavailable, StoreError, VaultbenchError
from impl.net.fleetdir import (
    STORE_FILE,
    FleetDirError,
    FleetFile,
    load_fleet,
    load_replica_keys,
    read_port,
    replica_dir,
    write_port,
)
from impl.net.frame import (
    Frame,
    FrameDecoder,
    FrameError,
    FrameKind,
    ReplicaStatus,
    not_leader,
    reason_frame,
)
from impl.nvram import FileNvram
from impl.replica import Backing, HsmReplica, NotLeader, storage_key
from impl.sqlite_store import SqliteReplicaStore
from impl.store import store_auth_for

#: The HSM NVRAM stand-in of each replica, beside its store.
NVRAM_FILE: Final = "nvram.json"

MAX_CONNECTIONS: Final = 256
MAX_OUTBOUND_BUFFER: Final = 64 * 1024 * 1024
MAX_WAIT_S: Final = 0.25
RECONNECT_S: Final = 0.1
READ_CHUNK: Final = 256 * 1024
EXIT_OK: Final = 0
EXIT_CONFIG: Final = 2
EXIT_STORE: Final = 3


class MonotonicClock:
    """The replica's ``Clock``: milliseconds of the host's monotonic clock."""

    def now(self) -> int:
        return time.monotonic_ns() // 1_000_000

    def __repr__(self) -> str:
        return "MonotonicClock()"


@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    decoder: FrameDecoder = field(default_factory=FrameDecoder)
    out: bytearray = field(default_factory=bytearray)
    #: the replica this connection was dialed to (None: accepted from someone)
    peer: int | None = None
    connecting: bool = False
    #: the token of the client request waiting for its answer on this connection
    in_flight: int | None = None
    close_after_flush: bool = False
    closed: bool = False


@dataclass
class ServerCounters:
    peer_frames: int = 0
    peer_rejected: int = 0
    peer_dropped: int = 0
    requests: int = 0
    answers: int = 0
    answers_lost: int = 0
    refused: int = 0
    bad_frames: int = 0


class ReplicaServer:
    """ReplicaServer: replica ``replica`` of the fleet in ``directory``, on loopback.

    Preconditions: ``setup_fleet`` provisioned ``directory``; no other process runs this
    replica. ``FleetDirError`` for a bad fleet directory or keys, ``StoreError`` for an
    unreadable store, ``OSError`` if the port cannot be bound.
    """

    def __init__(self, directory: Path, replica: int, *, parent: int | None = None) -> None:
        self.directory = Path(directory)
        self.index = replica
        self._parent = parent
        self.fleet: FleetFile = load_fleet(self.directory)
        keys = load_replica_keys(self.directory, replica, self.fleet)
        self.counters = ServerCounters()
        self._selector = selectors.DefaultSelector()
        self._connections: set[_Connection] = set()
        self._outbound: dict[int, _Connection] = {}
        self._retry_at: dict[int, float] = {}
        self._dirty: set[_Connection] = set()
        self._tokens = 0
        self._stopping = False
        self._listener = self._bind()
        self.port: int = self._listener.getsockname()[1]
        consensus = self.fleet.consensus()
        sealing = storage_key(keys, replica)
        self._store = SqliteReplicaStore(
            replica_dir(self.directory, replica) / STORE_FILE,
            sealing,
            store_auth_for(consensus.variant),
        )
        try:
            self.hsm = HsmReplica(
                replica,
                consensus=consensus,
                keys=keys,
                store=self._store,
                send=self._send_peer,
                clock=MonotonicClock(),
                rng=SystemRng(),
                hsm_config=self.fleet.hsm_config(),
                fleet_id=self.fleet.fleet_id.encode("ascii"),
                nvram=FileNvram(replica_dir(self.directory, replica) / NVRAM_FILE, sealing),
            )
            self.boots = self._store.load().boots
        except BaseException:
            self._store.close()
            self._listener.close()
            raise
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, "listener")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        write_port(self.directory, replica, self.port)
        self._state = self._role_state()

    def __repr__(self) -> str:
        return f"ReplicaServer(hsm[{self.index}], port {self.port}, boot {self.boots})"

    # ------------------------------------------------------------------ set-up

    def _bind(self) -> socket.socket:
        fixed = self.fleet.members[self.index].port
        wanted = fixed or read_port(self.directory, self.index) or 0
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.fleet.host, wanted))
        except OSError as exc:
            if fixed or exc.errno != errno.EADDRINUSE:
                listener.close()
                raise
            # The port this replica had before is taken: take a free one (the port file
            # tells peers and clients where it went).
            listener.bind((self.fleet.host, 0))
        listener.listen(64)
        listener.setblocking(False)
        return listener

    def _log(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} hsm[{self.index}] {line}", flush=True)

    # -------------------------------------------------------------------- loop

    def run(self) -> int:
        """run: serve until ``SIGTERM``/``SIGINT`` (or the parent's exit); returns 0.

        A ``StoreError`` (the disk refused a durable write) ends the process with exit
        code 3 without answering anything that depended on the write.
        """
        # The handlers stay installed until the process exits: a second SIGTERM during
        # the shutdown must not kill it before the store is closed.
        signal.set_wakeup_fd(self._wake_w.fileno())
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self._log(
            f"boot {self.boots}: listening on {self.fleet.host}:{self.port}, "
            f"applied {self.hsm.consensus.applied}, pid {os.getpid()}"
        )
        refused = self.hsm.consensus.refused
        if refused is not None:
            until = self.hsm.consensus.rejoin_until
            self._log(
                f"refuses its store ({type(refused).__name__}: {refused}); it rejoins from "
                f"its HSM-held state as a learner"
                + (f" until it has applied slot {until - 1}" if until else "")
            )
        try:
            while not self._stopping:
                self._turn()
                if self._parent is not None and os.getppid() != self._parent:
                    self._log("parent went away")
                    break
        except StoreError as exc:
            self._log(f"durable write failed, stopping: {exc}")
            return EXIT_STORE
        finally:
            signal.set_wakeup_fd(-1)
            self.close()
        self._log("stopped")
        return EXIT_OK

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def _turn(self) -> None:
        consensus = self.hsm.consensus
        now = time.monotonic_ns() // 1_000_000
        wait_ms = max(0, consensus.next_deadline() - now)
        if self._retry_at:
            soonest = min(self._retry_at.values()) - time.monotonic()
            wait_ms = min(wait_ms, max(0, int(soonest * 1000)))
        timeout = min(MAX_WAIT_S, wait_ms / 1000)
        for key, mask in self._selector.select(timeout):
            if key.data == "listener":
                self._accept()
            elif key.data == "wake":
                with contextlib.suppress(OSError):
                    while self._wake_r.recv(4096):
                        pass
            elif isinstance(key.data, _Connection):
                connection = key.data
                if connection.closed:
                    continue
                if mask & selectors.EVENT_WRITE:
                    self._writable(connection)
                if mask & selectors.EVENT_READ and not connection.closed:
                    self._readable(connection)
        if (time.monotonic_ns() // 1_000_000) >= consensus.next_deadline():
            self.hsm.tick()
        self._flush()
        state = self._role_state()
        if state != self._state:
            self._state = state
            role, ballot, ready = state
            self._log(f"{role} at ballot {ballot}{', ready' if ready else ''}")

    def _role_state(self) -> tuple[str, str, bool]:
        consensus = self.hsm.consensus
        return (consensus.role.value, str(consensus.ballot), self.hsm.ready)

    # ------------------------------------------------------------- connections

    def _register(self, connection: _Connection) -> None:
        self._connections.add(connection)
        events = selectors.EVENT_READ
        if connection.connecting:
            events |= selectors.EVENT_WRITE
        self._selector.register(connection.sock, events, connection)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(self._connections) >= MAX_CONNECTIONS:
                sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._register(_Connection(sock))

    def _close(self, connection: _Connection) -> None:
        if connection.closed:
            return
        connection.closed = True
        self._dirty.discard(connection)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(connection.sock)
        self._connections.discard(connection)
        with contextlib.suppress(OSError):
            connection.sock.close()
        if connection.peer is not None and self._outbound.get(connection.peer) is connection:
            del self._outbound[connection.peer]
            self._retry_at[connection.peer] = time.monotonic() + RECONNECT_S
            self._log(f"connection to hsm[{connection.peer}] closed")

    def _readable(self, connection: _Connection) -> None:
        try:
            data = connection.sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(connection)
            return
        if not data:
            self._close(connection)
            return
        try:
            frames = connection.decoder.feed(data)
        except FrameError as bad:
            self.counters.bad_frames += 1
            self._reply(connection, reason_frame(FrameKind.REFUSED, f"malformed frame: {bad}"))
            connection.close_after_flush = True
            return
        for frame in frames:
            if connection.closed or connection.close_after_flush:
                return
            self._on_frame(connection, frame)

    def _writable(self, connection: _Connection) -> None:
        if connection.connecting:
            error = connection.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                self._close(connection)
                return
            connection.connecting = False
            if connection.peer is not None:
                self._log(f"connected to hsm[{connection.peer}]")
        self._dirty.add(connection)

    def _flush(self) -> None:
        for connection in list(self._dirty):
            if connection.closed or connection.connecting:
                continue
            while connection.out:
                try:
                    sent = connection.sock.send(connection.out)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    self._close(connection)
                    break
                del connection.out[:sent]
            if connection.closed:
                continue
            if connection.out:
                self._selector.modify(
                    connection.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, connection
                )
                continue
            self._dirty.discard(connection)
            self._selector.modify(connection.sock, selectors.EVENT_READ, connection)
            if connection.close_after_flush:
                self._close(connection)

    def _reply(self, connection: _Connection, frame: Frame) -> None:
        if connection.closed:
            return
        connection.out += frame.encode()
        if len(connection.out) > MAX_OUTBOUND_BUFFER:
            self._close(connection)
            return
        self._dirty.add(connection)

    # --------------------------------------------------------------- peer traffic

    def _send_peer(self, src: int, dst: int, data: bytes, _label: str = "") -> None:
        """The replica's ``NetworkSend``: queue one sealed envelope for ``dst``."""
        try:
            frame = Frame(FrameKind.PEER, data)
        except FrameError as bad:
            self._log(f"message to hsm[{dst}] not sent: {bad}")
            self.counters.peer_dropped += 1
            return
        connection = self._outbound.get(dst) or self._dial(dst)
        if connection is None:
            self.counters.peer_dropped += 1
            return
        self._reply(connection, frame)

    def _dial(self, peer: int) -> _Connection | None:
        if time.monotonic() < self._retry_at.get(peer, 0.0):
            return None
        port = self.fleet.members[peer].port or read_port(self.directory, peer)
        if port is None:
            self._retry_at[peer] = time.monotonic() + RECONNECT_S
            return None
        self._retry_at.pop(peer, None)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex((self.fleet.host, port))
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            sock.close()
            self._retry_at[peer] = time.monotonic() + RECONNECT_S
            return None
        connection = _Connection(sock, peer=peer, connecting=code != 0)
        self._outbound[peer] = connection
        self._register(connection)
        return connection

    # -------------------------------------------------------------------- frames

    def _on_frame(self, connection: _Connection, frame: Frame) -> None:
        kind = frame.kind
        if kind is FrameKind.PEER:
            self.counters.peer_frames += 1
            try:
                self.hsm.deliver(frame.payload)
            except StoreError:
                raise
            except VaultbenchError:
                self.counters.peer_rejected += 1
            return
        if kind is FrameKind.REQUEST:
            self._on_request(connection, frame.payload)
            return
        if kind is FrameKind.STATUS_QUERY:
            self._reply(connection, self.status().encode())
            return
        self.counters.bad_frames += 1
        self._reply(connection, reason_frame(FrameKind.REFUSED, f"unexpected {kind.name} frame"))
        connection.close_after_flush = True

    def _on_request(self, connection: _Connection, sealed: bytes) -> None:
        if connection.in_flight is not None:
            self.counters.refused += 1
            self._reply(
                connection,
                reason_frame(FrameKind.REFUSED, "one request at a time per connection"),
            )
            connection.close_after_flush = True
            return
        self._tokens += 1
        token = self._tokens
        connection.in_flight = token
        self.counters.requests += 1

        def reply(answer: bytes, _backing: Backing) -> None:
            if connection.closed or connection.in_flight != token:
                self.counters.answers_lost += 1
                return
            connection.in_flight = None
            self.counters.answers += 1
            try:
                frame = Frame(FrameKind.ANSWER, answer)
            except FrameError:
                frame = reason_frame(FrameKind.UNAVAILABLE, "answer too large")
            self._reply(connection, frame)

        try:
            self.hsm.handle_request(sealed, reply)
        except NotLeader as refused:
            connection.in_flight = None
            self._reply(connection, not_leader(refused.leader_hint))
        except StoreError:
            raise
        except HsmUnavailable:
            connection.in_flight = None
            self._reply(connection, reason_frame(FrameKind.UNAVAILABLE, "replica not serving"))
        except VaultbenchError as bad:
            connection.in_flight = None
            self.counters.refused += 1
            self._reply(
                connection,
                reason_frame(
                    FrameKind.REFUSED,
                    f"not a request sealed to this fleet ({type(bad).__name__})",
                ),
            )

    def status(self) -> ReplicaStatus:
        """status: what a ``STATUS_QUERY`` answers (no secret, no user name)."""
        consensus = self.hsm.consensus
        hint = self.index if consensus.is_leader else consensus.leader_hint
        return ReplicaStatus(
            replica=self.index,
            pid=os.getpid(),
            role=consensus.role.value,
            ready=self.hsm.ready,
            ballot=str(
                consensus.ballot if consensus.role is not Role.FOLLOWER else consensus.promised
            ),
            applied=consensus.applied,
            snapshot=consensus.snapshot.upto,
            leader_hint=hint,
            boots=self.boots,
            records=len(self.hsm.records()),
        )

    def close(self) -> None:
        """close: close every connection, the listener and the store."""
        for connection in list(self._connections):
            self._close(connection)
        for sock in (self._listener, self._wake_r, self._wake_w):
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            with contextlib.suppress(OSError):
                sock.close()
        self._selector.close()
        self._store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m impl.net.server", description="Run one replica of a vaultbench fleet."
    )
    parser.add_argument("--dir", required=True, type=Path, help="the fleet directory")
    parser.add_argument("--replica", required=True, type=int, help="which replica (0..n-1)")
    parser.add_argument(
        "--parent", type=int, default=None, help="stop when this parent process goes away"
    )
    args = parser.parse_args(argv)
    try:
        server = ReplicaServer(args.dir, args.replica, parent=args.parent)
    except FleetDirError as bad:
        print(f"hsm[{args.replica}]: {bad}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    except StoreError as bad:
        print(f"hsm[{args.replica}]: {bad}", file=sys.stderr, flush=True)
        return EXIT_STORE
    except OSError as bad:
        print(f"hsm[{args.replica}]: cannot listen: {bad.strerror}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    return server.run()


if __name__ == "__main__":
    sys.exit(main())
