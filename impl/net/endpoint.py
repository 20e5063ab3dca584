"""impl.net.endpoint: the client's side of a fleet of replica processes.

``NetEndpoint`` is an ``impl.client.VaultEndpoint`` (sealed request bytes in, sealed
answer bytes out), so the same ``impl.client.Client`` that talks to the simulator talks to
real processes. It plays the operator's front end: it sends the sealed request in a
``REQUEST`` frame to the replica it believes leads and

- follows a ``NOT_LEADER`` hint at once (to the next replica if there is no hint);
- moves on after ``UNAVAILABLE`` or a refused connection (a replica that is down), with a
  short back-off once every replica has been tried;
- raises ``RequestRefused`` at once for ``REFUSED`` (the bytes are not a request: sending
  them again cannot help);
- raises ``impl.errors.FleetUnavailable`` when no answer came before its deadline.

**Ambiguous sends.** A request that reached a replica which did *not* refuse it before
opening it (the connection broke, or no answer within ``attempt_timeout``) may or may not
have been chosen. By default the endpoint sends the same sealed bytes again (to the same
replica first, since a live leader is most likely the one to answer): the replica opens
them as a **new request**, so a resent guess is a **second guess** and is charged again,
exactly as if the user had pressed "retry" (``impl.service``: charge before check). With
``resend_ambiguous=False`` it raises ``FleetUnavailable`` instead. ``last_call`` tells the
caller how many ambiguous sends the last call made, so a test can account for charges the
user never saw answered.

The endpoint is not thread-safe: give each client thread its own.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from impl.errors import FleetUnavailable, WireError
from impl.net.fleetdir import FleetFile, load_fleet, read_port
from impl.net.frame import (
    Frame,
    FrameDecoder,
    FrameError,
    FrameKind,
    ReplicaStatus,
    decode_status,
    leader_hint,
    reason,
)

READ_CHUNK: Final = 64 * 1024
Resolve = Callable[[int], "tuple[str, int] | None"]


class RequestRefused(WireError):
    """A replica refused the request's bytes as not a request sealed to its fleet."""


@dataclass
class CallReport:
    """What one call of the endpoint did (no bytes of the request or the answer)."""

    transmissions: int = 0
    ambiguous: int = 0
    redirects: int = 0
    answered_by: int | None = None


@dataclass
class EndpointStats:
    calls: int = 0
    answered: int = 0
    unavailable: int = 0
    transmissions: int = 0
    ambiguous: int = 0
    redirects: int = 0


class _Down(Exception):
    """Nothing was sent: no address, connection refused."""


class _Lost(Exception):
    """Sent, but no answer came (connection broken or timeout): ambiguous."""


def fleet_resolver(directory: Path, fleet: FleetFile) -> Resolve:
    """fleet_resolver: where replica ``i`` of the fleet in ``directory`` listens now."""

    def resolve(replica: int) -> tuple[str, int] | None:
        port = fleet.members[replica].port or read_port(directory, replica)
        return None if port is None else (fleet.host, port)

    return resolve


class NetEndpoint:
    """NetEndpoint: a ``VaultEndpoint`` over TCP to a fleet of replica processes.

    ``directory`` is the fleet directory (``impl.net.fleetdir``); ``deadline`` bounds a
    whole call in seconds, ``attempt_timeout`` one send's wait for its answer.
    """

    def __init__(
        self,
        directory: Path,
        *,
        fleet: FleetFile | None = None,
        resolve: Resolve | None = None,
        attempt_timeout: float = 3.0,
        deadline: float = 15.0,
        resend_ambiguous: bool = True,
    ) -> None:
        if attempt_timeout <= 0 or deadline <= 0:
            raise ValueError("timeouts must be positive")
        self.directory = Path(directory)
        self.fleet = fleet if fleet is not None else load_fleet(self.directory)
        self._resolve = resolve or fleet_resolver(self.directory, self.fleet)
        self.attempt_timeout = attempt_timeout
        self.deadline = deadline
        self.resend_ambiguous = resend_ambiguous
        self.leader_guess = 0
        self.stats = EndpointStats()
        self.last_call = CallReport()

    def __repr__(self) -> str:
        return f"NetEndpoint({str(self.directory)!r}, {self.fleet.replicas} replicas)"

    def __call__(self, sealed_request: bytes) -> bytes:
        """Send ``sealed_request``; its sealed answer, or ``FleetUnavailable``."""
        request = Frame(FrameKind.REQUEST, bytes(sealed_request))
        n = self.fleet.replicas
        report = CallReport()
        self.last_call = report
        self.stats.calls += 1
        started = time.monotonic()
        target = self.leader_guess % n
        misses = 0  # consecutive replicas that could not take the request
        down_at: dict[int, float] = {}  # replicas found down during this call
        try:
            while True:
                remaining = started + self.deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    frame = self._exchange(target, request, min(remaining, self.attempt_timeout))
                except _Down:
                    down_at[target] = time.monotonic()
                    misses += 1
                    target = (target + 1) % n
                    self._back_off(misses, n)
                    continue
                except _Lost:
                    report.ambiguous += 1
                    if not self.resend_ambiguous:
                        break
                    continue
                if frame.kind is FrameKind.ANSWER:
                    self.leader_guess = target
                    report.answered_by = target
                    self.stats.answered += 1
                    return frame.payload
                if frame.kind is FrameKind.NOT_LEADER:
                    report.redirects += 1
                    misses += 1
                    hint = leader_hint(frame)
                    # A stale hint may name a replica just found down: skip it for now.
                    stale = hint is not None and time.monotonic() - down_at.get(hint, -9.0) < 0.3
                    if hint is not None and hint != target and hint < n and not stale:
                        target = hint
                        if misses > 2 * n:
                            self._back_off(misses, n)
                    else:
                        target = (target + 1) % n
                        self._back_off(misses, n)
                    continue
                if frame.kind is FrameKind.UNAVAILABLE:
                    misses += 1
                    target = (target + 1) % n
                    self._back_off(misses, n)
                    continue
                if frame.kind is FrameKind.REFUSED:
                    raise RequestRefused(f"hsm[{target}] refused the request: {reason(frame)}")
                raise FrameError(f"hsm[{target}] answered with an unexpected {frame.kind.name}")
        finally:
            self.stats.transmissions += report.transmissions
            self.stats.ambiguous += report.ambiguous
            self.stats.redirects += report.redirects
        self.stats.unavailable += 1
        raise FleetUnavailable(
            f"no answer from the fleet within {self.deadline:g} s ({report.transmissions} "
            f"sends, {report.ambiguous} without an answer): the request may or may not "
            f"have been chosen"
        )

    @staticmethod
    def _back_off(misses: int, n: int) -> None:
        if misses >= n:
            time.sleep(min(0.3, 0.02 * (misses - n + 1)))

    def _exchange(self, replica: int, request: Frame, timeout: float) -> Frame:
        address = self._resolve(replica)
        if address is None:
            raise _Down
        try:
            sock = socket.create_connection(address, timeout=timeout)
        except OSError:
            raise _Down from None
        with sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.last_call.transmissions += 1
            try:
                sock.sendall(request.encode())
            except OSError:
                raise _Lost from None
            frame = _read_frame(sock, time.monotonic() + timeout)
            if frame is None:
                raise _Lost
            return frame


def _read_frame(sock: socket.socket, until: float) -> Frame | None:
    """One frame from ``sock`` before ``until``; None if the connection ends or times out
    first; ``FrameError`` for bytes that are not a frame."""
    decoder = FrameDecoder()
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data = sock.recv(READ_CHUNK)
        except (TimeoutError, OSError):
            return None
        if not data:
            return None
        frames = decoder.feed(data)
        if frames:
            return frames[0]


def query_status(address: tuple[str, int], timeout: float = 1.0) -> ReplicaStatus:
    """query_status: ask the replica at ``address`` for its ``ReplicaStatus``.

    ``OSError`` if it cannot be reached or does not answer in time, ``FrameError`` if it
    answers with anything but a well-formed ``STATUS`` frame.
    """
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(Frame(FrameKind.STATUS_QUERY).encode())
        frame = _read_frame(sock, time.monotonic() + timeout)
    if frame is None:
        raise TimeoutError(f"no status from {address[0]}:{address[1]}")
    return decode_status(frame)


def fleet_status(
    directory: Path, fleet: FleetFile | None = None, timeout: float = 1.0
) -> list[ReplicaStatus | None]:
    """fleet_status: each replica's status (None for one that does not answer)."""
    fleet = fleet if fleet is not None else load_fleet(Path(directory))
    resolve = fleet_resolver(Path(directory), fleet)
    statuses: list[ReplicaStatus | None] = []
    for i in range(fleet.replicas):
        address = resolve(i)
        try:
            statuses.append(None if address is None else query_status(address, timeout))
        except (OSError, FrameError):
            statuses.append(None)
    return statuses
