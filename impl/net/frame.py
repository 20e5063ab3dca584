"""impl.net.frame: the length-prefixed frames replica processes and clients exchange.

Every byte on a vaultbench TCP connection (loopback only) is part of a frame::

    frame  = version:u8 (= 1) || kind:u8 || length:u32 (big-endian) || payload
    length = len(payload), at most ``MAX_PAYLOAD`` (8 MiB)

Kinds and their payloads (``FrameKind``):

======  ==============  ===========================================================
kind    name            payload
======  ==============  ===========================================================
1       ``PEER``        one sealed ``impl.peer`` envelope (replica to replica)
2       ``REQUEST``     one sealed client request (``impl.session``, HPKE to the fleet)
3       ``ANSWER``      the sealed answer to the connection's request
4       ``NOT_LEADER``  hint:u16, the replica believed to lead (``0xFFFF``: none known)
5       ``UNAVAILABLE`` a short ASCII reason (no request was opened; retry elsewhere)
6       ``REFUSED``     a short ASCII reason (the bytes are not a request; do not retry)
7       ``STATUS_QUERY`` empty
8       ``STATUS``      canonical JSON of ``ReplicaStatus`` (no secret, no user name)
======  ==============  ===========================================================

The decoder is strict: an unknown version or kind, a length above the limit, a payload
that does not fit its kind (a ``NOT_LEADER`` that is not 2 bytes, an empty ``PEER``,
``REQUEST`` or ``ANSWER``, a non-empty ``STATUS_QUERY``, a reason that is not short
printable ASCII) is a ``FrameError`` naming what was expected and what was found, and the
decoder keeps nothing of the bad frame (a connection that sent one is closed). The
header is checked as its bytes arrive (the version at the first byte, the kind at the
second, the length against the limit and the kind at the sixth), so a bad frame is
refused before its payload is waited for or buffered. The
frames carry no cryptography of their own: a ``PEER`` payload is authenticated and
encrypted by ``impl.peer``, a ``REQUEST``/``ANSWER`` by ``impl.session``; the framing only
delimits them.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Final

from impl.errors import WireError

FRAME_VERSION: Final = 1
HEADER_LEN: Final = 6
MAX_PAYLOAD: Final = 8 * 1024 * 1024
MAX_REASON: Final = 200
NO_HINT: Final = 0xFFFF
_HEADER: Final = struct.Struct(">BBI")


class FrameError(WireError):
    """Bytes that are not a well-formed frame (version, kind, length or payload).

    When ``FrameDecoder.feed`` raises it, ``frames`` holds the well-formed frames that
    came before the bad one in the same ``feed`` (so what a stream yields does not depend
    on how it was cut into reads); elsewhere it is empty."""

    frames: tuple[Frame, ...] = ()


class FrameTooLarge(FrameError):
    """A frame whose declared length is above the limit (refused before it is read)."""


class FrameKind(IntEnum):
    PEER = 1
    REQUEST = 2
    ANSWER = 3
    NOT_LEADER = 4
    UNAVAILABLE = 5
    REFUSED = 6
    STATUS_QUERY = 7
    STATUS = 8


_REASON: Final = frozenset({FrameKind.UNAVAILABLE, FrameKind.REFUSED})


@dataclass(frozen=True)
class Frame:
    """One frame: its kind and payload (checked against the kind on construction)."""

    kind: FrameKind
    payload: bytes = b""

    def __post_init__(self) -> None:
        _check_payload(self.kind, self.payload)

    def __repr__(self) -> str:
        return f"Frame({self.kind.name}, <{len(self.payload)} bytes>)"

    def encode(self) -> bytes:
        """Frame.encode: the header and the payload."""
        return _HEADER.pack(FRAME_VERSION, self.kind, len(self.payload)) + self.payload


#: (least, most) payload bytes of each kind, by kind value (a tuple, not a set of enum
#: members: ``FrameKind.__hash__`` is Python code, and this runs for every frame).
_LENGTHS: Final = (
    (0, 0),
    (1, MAX_PAYLOAD),  # PEER
    (1, MAX_PAYLOAD),  # REQUEST
    (1, MAX_PAYLOAD),  # ANSWER
    (2, 2),  # NOT_LEADER
    (0, MAX_REASON),  # UNAVAILABLE
    (0, MAX_REASON),  # REFUSED
    (0, 0),  # STATUS_QUERY
    (0, MAX_PAYLOAD),  # STATUS
)


def _check_length(kind: FrameKind, length: int, limit: int = MAX_PAYLOAD) -> None:
    """The payload length ``kind`` allows (checked from the header, before the payload)."""
    least, most = _LENGTHS[kind]
    if least <= length <= most and length <= limit:
        return
    if length > limit:
        raise FrameTooLarge(f"{kind.name} payload of {length} bytes, at most {limit}")
    if kind is FrameKind.NOT_LEADER:
        raise FrameError(f"NOT_LEADER payload: expected 2 bytes, found {length}")
    if kind is FrameKind.STATUS_QUERY:
        raise FrameError(f"STATUS_QUERY payload: expected 0 bytes, found {length}")
    if length < least:
        raise FrameError(f"{kind.name} payload: expected at least {least} byte, found {length}")
    raise FrameError(f"{kind.name} reason: expected at most {most} bytes, found {length}")


def _check_payload(kind: FrameKind, payload: bytes) -> None:
    if not isinstance(kind, FrameKind):
        raise FrameError(f"frame kind: expected a FrameKind, found {type(kind).__name__}")
    if not isinstance(payload, bytes):
        raise FrameError(f"{kind.name} payload: expected bytes, found {type(payload).__name__}")
    _check_length(kind, len(payload))
    if (kind is FrameKind.UNAVAILABLE or kind is FrameKind.REFUSED) and not all(
        0x20 <= b < 0x7F for b in payload
    ):
        raise FrameError(f"{kind.name} reason: expected printable ASCII")


_KINDS: Final = {kind.value: kind for kind in FrameKind}


def _kind(version: int, kind_byte: int) -> FrameKind:
    if version != FRAME_VERSION:
        raise FrameError(f"frame version {version}, expected {FRAME_VERSION}")
    kind = _KINDS.get(kind_byte)
    if kind is None:
        raise FrameError(f"unknown frame kind {kind_byte}")
    return kind


def _check_header(
    buffer: bytes | bytearray, limit: int, start: int = 0
) -> tuple[FrameKind, int] | None:
    """The kind and length of the frame starting at ``buffer[start]`` (None: need more
    bytes to tell); ``FrameError`` as soon as the bytes so far cannot start a frame."""
    available = len(buffer) - start
    if available >= HEADER_LEN:
        version, kind_byte, length = _HEADER.unpack_from(buffer, start)
        kind = _kind(version, kind_byte)
        _check_length(kind, length, limit)
        return kind, length
    if available >= 2:
        _kind(buffer[start], buffer[start + 1])
    elif available == 1:
        _kind(buffer[start], FrameKind.PEER)
    return None


class FrameDecoder:
    """FrameDecoder: cuts a byte stream into frames (``feed`` as bytes arrive).

    ``feed`` returns the frames completed so far, in order, whatever the cuts between
    reads. A malformed header or payload raises ``FrameError`` as soon as the bytes that
    show it have arrived (its ``frames`` are the well-formed frames before it in that
    ``feed``). The decoder is then **closed**: it keeps no byte (``buffered`` is 0) and
    every later ``feed`` raises ``FrameError`` too, since nothing after a bad frame can be
    trusted to be aligned. ``max_payload`` may lower the limit for a connection.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        if type(max_payload) is not int or not 0 <= max_payload <= MAX_PAYLOAD:
            raise ValueError(f"max_payload must be 0..{MAX_PAYLOAD}")
        self._max = max_payload
        self._buffer = bytearray()
        self._broken: FrameError | None = None

    def __repr__(self) -> str:
        state = "closed" if self._broken is not None else f"{len(self._buffer)} bytes buffered"
        return f"FrameDecoder(<{state}>)"

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def closed(self) -> bool:
        """True once the decoder has refused input (it accepts nothing more)."""
        return self._broken is not None

    def feed(self, data: bytes) -> list[Frame]:
        if self._broken is not None:
            raise FrameError(f"stream already broken: {self._broken}")
        frames: list[Frame] = []
        try:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise FrameError(f"expected bytes, found {type(data).__name__}")
            self._buffer += data
            start = 0  # the frames before ``start`` are cut off once, at the end
            while True:
                checked = _check_header(self._buffer, self._max, start)
                if checked is None:
                    break
                kind, length = checked
                end = start + HEADER_LEN + length
                if len(self._buffer) < end:
                    break
                frames.append(Frame(kind, bytes(self._buffer[start + HEADER_LEN : end])))
                start = end
            del self._buffer[:start]
        except FrameError as bad:
            self._broken = bad
            self._buffer.clear()
            bad.frames = tuple(frames)
            raise
        return frames


def decode_frame(data: bytes) -> Frame:
    """decode_frame: exactly one frame in ``data``; ``FrameError`` for anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FrameError(f"expected bytes, found {type(data).__name__}")
    data = bytes(data)
    checked = _check_header(data, MAX_PAYLOAD)
    if checked is None:
        raise FrameError(f"expected a {HEADER_LEN}-byte header, found {len(data)} bytes")
    kind, length = checked
    if len(data) != HEADER_LEN + length:
        raise FrameError(
            f"expected exactly one frame of {HEADER_LEN + length} bytes, found {len(data)}"
        )
    return Frame(kind, data[HEADER_LEN:])


# -------------------------------------------------------------------- typed payloads


def not_leader(hint: int | None) -> Frame:
    """not_leader: the ``NOT_LEADER`` frame for ``hint`` (None: no leader known)."""
    if hint is None:
        return Frame(FrameKind.NOT_LEADER, struct.pack(">H", NO_HINT))
    if type(hint) is not int or not 0 <= hint < NO_HINT:
        raise FrameError(f"leader hint {hint!r} outside 0..{NO_HINT - 1}")
    return Frame(FrameKind.NOT_LEADER, struct.pack(">H", hint))


def leader_hint(frame: Frame) -> int | None:
    """leader_hint: the hint of a ``NOT_LEADER`` frame (None: no leader known)."""
    if frame.kind is not FrameKind.NOT_LEADER:
        raise FrameError(f"expected a NOT_LEADER frame, found {frame.kind.name}")
    (value,) = struct.unpack(">H", frame.payload)
    return None if value == NO_HINT else int(value)


def reason_frame(kind: FrameKind, reason: str) -> Frame:
    """reason_frame: an ``UNAVAILABLE`` or ``REFUSED`` frame; ``reason`` is cut to fit and
    anything but printable ASCII is replaced (it must never carry a secret)."""
    if kind not in _REASON:
        raise FrameError(f"{kind.name} carries no reason")
    text = "".join(c if " " <= c < "\x7f" else "?" for c in reason)[:MAX_REASON]
    return Frame(kind, text.encode("ascii"))


def reason(frame: Frame) -> str:
    """reason: the text of an ``UNAVAILABLE`` or ``REFUSED`` frame."""
    if frame.kind not in _REASON:
        raise FrameError(f"expected UNAVAILABLE or REFUSED, found {frame.kind.name}")
    return frame.payload.decode("ascii")


@dataclass(frozen=True)
class ReplicaStatus:
    """What ``STATUS`` tells about one replica process (nothing secret, no user name)."""

    replica: int
    pid: int
    role: str
    ready: bool
    ballot: str
    applied: int
    snapshot: int
    leader_hint: int | None
    boots: int
    records: int

    def encode(self) -> Frame:
        data = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return Frame(FrameKind.STATUS, data.encode("ascii"))


_STATUS_FIELDS: Final[dict[str, type | tuple[type, ...]]] = {
    "replica": int,
    "pid": int,
    "role": str,
    "ready": bool,
    "ballot": str,
    "applied": int,
    "snapshot": int,
    "leader_hint": (int, type(None)),
    "boots": int,
    "records": int,
}


def decode_status(frame: Frame) -> ReplicaStatus:
    """decode_status: the ``ReplicaStatus`` of a ``STATUS`` frame; ``FrameError`` unless
    it is canonical JSON of exactly the expected fields and types."""
    if frame.kind is not FrameKind.STATUS:
        raise FrameError(f"expected a STATUS frame, found {frame.kind.name}")
    try:
        value = json.loads(frame.payload.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError: besides JSONDecodeError, an integer of more than 4300 digits
        raise FrameError("STATUS payload is not ASCII JSON") from None
    if not isinstance(value, dict) or set(value) != set(_STATUS_FIELDS):
        raise FrameError(f"STATUS payload: expected the fields {sorted(_STATUS_FIELDS)}")
    for name, types in _STATUS_FIELDS.items():
        field = value[name]
        if not isinstance(field, types) or (types is not bool and isinstance(field, bool)):
            raise FrameError(f"STATUS field {name}: unexpected type {type(field).__name__}")
    status = ReplicaStatus(**value)
    if status.encode() != frame:
        raise FrameError("STATUS payload is not canonical JSON")
    return status
