"""fuzz.net_targets: the process fleet's own decoders (``impl/net``) as fuzz targets.

The oracle is ``fuzz.targets.probe``'s (a typed error, or a value that re-encodes to the
input), with what each target adds:

``net.frame``
   ``decode_frame``: exactly one frame; an accepted frame re-encodes to the input.
``net.frame.stream``
   ``FrameDecoder.feed`` on a stream cut into reads. The input's first byte picks the
   decoder's ``max_payload``, the next two the cuts (a seed for the read sizes), the rest
   is the stream. The same stream is fed whole to a second decoder, and the two must
   agree on every frame and on refusing (the cuts change nothing). A refused stream
   leaves the decoder **closed**: nothing buffered, ``closed`` true, every later
   ``feed`` (even of a valid frame, even of nothing) a ``FrameError``. An accepted stream
   is its frames' encodings followed by the ``buffered`` bytes of one unfinished frame.
``net.status``
   ``decode_status`` of a ``STATUS`` frame with this payload; re-encodes to the payload.
``net.fleet``
   ``load_fleet`` of a directory whose ``fleet.json`` is the input; an accepted file
   loads to the value written (``FleetFile.encode()`` parses to the same JSON value);
   a refusal is a ``FleetDirError`` naming ``fleet.json``. Either way the directory is
   unchanged (every file's bytes, mode and modification time).
``net.keys``
   ``load_replica_keys`` for replica 1 of a genuine fleet whose ``replica-1/keys.json``
   (mode 0600) is the input; an accepted file gives the keys written (the published
   fleet key and identity, the replication key of the file); a refusal names
   ``keys.json`` and quotes no key material: no 16 characters of a base64 run of the
   input, nor of the genuine seeds, appear in the error text. The directory is unchanged.
``net.number``
   ``read_port`` and ``read_pid`` on a ``port`` and a ``pid`` file holding the input:
   total (None, never an exception) and a number only for the digits written.
"""

from __future__ import annotations

import atexit
import base64
import functools
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from fuzz.targets import NotCanonical, Target
from impl.crypto.symmetric import SeededRng
from impl.net.fleetdir import (
    FLEET_FILE,
    KEYS_FILE,
    MAX_PID,
    PID_FILE,
    PORT_FILE,
    FleetDirError,
    FleetFile,
    load_fleet,
    load_replica_keys,
    read_pid,
    read_port,
    replica_dir,
    setup_fleet,
)
from impl.net.frame import (
    HEADER_LEN,
    MAX_PAYLOAD,
    Frame,
    FrameDecoder,
    FrameError,
    FrameKind,
    ReplicaStatus,
    decode_frame,
    decode_status,
    not_leader,
    reason_frame,
)
from impl.replica import FleetKeys

#: The replica whose keys.json ``net.keys`` rewrites.
KEYS_REPLICA = 1
#: ``max_payload`` of the stream target's decoder, chosen by the input's first byte.
STREAM_LIMITS = (MAX_PAYLOAD, MAX_PAYLOAD, MAX_PAYLOAD, 0, 2, 64, 200, 4096)
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/=_-]{16,}")


class StateChanged(AssertionError):
    """A reader changed the fleet directory, or a refused decoder is not closed."""


class SecretLeaked(AssertionError):
    """An error message quoted key material, or did not name its file."""


# ------------------------------------------------------------------------------ samples


@functools.cache
def _fleet_directory() -> Path:
    """A genuine seeded fleet of three (made once per process, removed at exit)."""
    root = Path(tempfile.mkdtemp(prefix="vaultbench-fuzz-net-"))
    atexit.register(shutil.rmtree, root, True)
    setup_fleet(root / "genuine", replicas=3, seed=20261208, base_port=0)
    return root


def genuine_fleet_dir() -> Path:
    return _fleet_directory() / "genuine"


@functools.cache
def genuine_fleet() -> FleetFile:
    return load_fleet(genuine_fleet_dir())


@functools.cache
def fleet_samples() -> tuple[bytes, ...]:
    """fleet.json as written, and a few genuine variants (fixed ports, five replicas)."""
    out = [(genuine_fleet_dir() / FLEET_FILE).read_bytes()]
    for n, (replicas, port) in enumerate(((5, 0), (3, 20000), (1, 65535))):
        where = _fleet_directory() / f"sample-{n}"
        setup_fleet(where, replicas=replicas, seed=n, base_port=port)
        out.append((where / FLEET_FILE).read_bytes())
    return tuple(out)


@functools.cache
def keys_samples() -> tuple[bytes, ...]:
    """replica 1's keys.json as written, and the same value serialized other ways."""
    written = (replica_dir(genuine_fleet_dir(), KEYS_REPLICA) / KEYS_FILE).read_bytes()
    value = json.loads(written)
    return (
        written,
        json.dumps(value, indent=2).encode(),
        json.dumps(value, separators=(",", ":")).encode(),
    )


def genuine_keys() -> dict[str, object]:
    value = json.loads(keys_samples()[0])
    assert isinstance(value, dict)
    return value


@functools.cache
def secret_strings() -> tuple[str, ...]:
    """The key material of every genuine keys.json (base64 and hex), which no error text
    may quote."""
    out: list[str] = []
    for i in range(genuine_fleet().replicas):
        value = json.loads((replica_dir(genuine_fleet_dir(), i) / KEYS_FILE).read_bytes())
        for name in ("fleet_key_seed", "replication_key", "identity_seed"):
            out.append(value[name])
            out.append(base64.b64decode(value[name]).hex())
    return tuple(out)


def _status(i: int) -> ReplicaStatus:
    return ReplicaStatus(
        replica=i,
        pid=4000 + i,
        role=("leader", "follower", "candidate")[i % 3],
        ready=i % 2 == 0,
        ballot=f"({i + 1}, {i})",
        applied=17 * i,
        snapshot=16 * (i // 2),
        leader_hint=None if i == 2 else 0,
        boots=i + 1,
        records=3 * i,
    )


@functools.cache
def frame_samples() -> tuple[bytes, ...]:
    """One frame of every kind (two of some), encoded."""
    rng = SeededRng(b"vaultbench fuzz net frames")
    frames = [
        Frame(FrameKind.PEER, rng.random_bytes(48)),
        Frame(FrameKind.PEER, b"\x00"),
        Frame(FrameKind.REQUEST, rng.random_bytes(300)),
        Frame(FrameKind.ANSWER, rng.random_bytes(120)),
        not_leader(3),
        not_leader(None),
        reason_frame(FrameKind.UNAVAILABLE, "no quorum"),
        reason_frame(FrameKind.REFUSED, "malformed frame: unknown frame kind 9"),
        reason_frame(FrameKind.REFUSED, ""),
        Frame(FrameKind.STATUS_QUERY),
        _status(0).encode(),
        _status(2).encode(),
    ]
    return tuple(f.encode() for f in frames)


@functools.cache
def status_samples() -> tuple[bytes, ...]:
    return tuple(_status(i).encode().payload for i in range(4))


@functools.cache
def stream_samples() -> tuple[bytes, ...]:
    """Streams of several frames, each with a limit byte and a cut seed in front."""
    frames = frame_samples()
    streams = [
        b"".join(frames),
        frames[0] + frames[4],
        frames[9] * 3,
        frames[2] + frames[2][:10],  # ends inside a frame
        frames[10][:3],
    ]
    return tuple(bytes([0, n, 7 * n]) + s for n, s in enumerate(streams))


@functools.cache
def number_samples() -> tuple[bytes, ...]:
    return (b"4242\n", b"1\n", b"65535\n", b"31337")


# ------------------------------------------------------------------------------ targets


def _check_frame(data: bytes, value: object) -> None:
    if not isinstance(value, Frame) or value.encode() != data:
        raise NotCanonical(f"net.frame: accepted {data[:100]!r}, which re-encodes otherwise")


def _cuts(seed: int, length: int) -> list[int]:
    """Read sizes from a seed (1..64 bytes, sometimes 1, sometimes 6): deterministic."""
    sizes: list[int] = []
    x = seed or 1
    total = 0
    while total < length:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        size = (1, HEADER_LEN, HEADER_LEN - 1, 2, (x >> 8) % 64 + 1)[(x >> 4) % 5]
        sizes.append(size)
        total += size
    return sizes


def _feed_all(decoder: FrameDecoder, chunks: list[bytes]) -> tuple[list[Frame], FrameError | None]:
    frames: list[Frame] = []
    for chunk in chunks:
        try:
            frames += decoder.feed(chunk)
        except FrameError as refused:
            return frames + list(refused.frames), refused
    return frames, None


def _check_closed(decoder: FrameDecoder) -> None:
    if not decoder.closed or decoder.buffered:
        raise StateChanged(f"a refused decoder is not closed: {decoder!r}")
    for later in (b"", frame_samples()[9], b"\x01"):
        try:
            decoder.feed(later)
        except FrameError:
            continue
        raise StateChanged(f"a closed decoder accepted {later!r}")


def decode_stream(data: bytes) -> tuple[tuple[Frame, ...], int]:
    """The stream target (see the module docstring): the frames and the bytes buffered."""
    limit = STREAM_LIMITS[data[0] % len(STREAM_LIMITS)] if data else MAX_PAYLOAD
    seed = int.from_bytes(data[1:3], "big")
    stream = data[3:]
    pieces: list[bytes] = []
    pos = 0
    for size in _cuts(seed, len(stream)):
        pieces.append(stream[pos : pos + size])
        pos += size
    cut = FrameDecoder(limit)
    whole = FrameDecoder(limit)
    cut_frames, cut_error = _feed_all(cut, pieces)
    whole_frames, whole_error = _feed_all(whole, [stream])
    if cut_frames != whole_frames or (cut_error is None) != (whole_error is None):
        raise StateChanged(
            f"the cuts changed the outcome: {len(cut_frames)} frames, {cut_error!r} in reads "
            f"of {[len(p) for p in pieces][:20]}; {len(whole_frames)}, {whole_error!r} whole"
        )
    if cut_error is not None and whole_error is not None:
        _check_closed(cut)
        _check_closed(whole)
        if type(cut_error) is not type(whole_error):
            raise StateChanged(f"{cut_error!r} in reads, {whole_error!r} whole")
        raise whole_error
    if cut.buffered != whole.buffered:
        raise StateChanged(f"{cut.buffered} bytes buffered in reads, {whole.buffered} whole")
    return tuple(whole_frames), whole.buffered


def _check_stream(data: bytes, value: object) -> None:
    assert isinstance(value, tuple)
    frames, buffered = value
    stream = data[3:]
    encoded = b"".join(f.encode() for f in frames)
    if stream != encoded + stream[len(encoded) :] or len(stream) - len(encoded) != buffered:
        raise NotCanonical(f"net.frame.stream: frames and {buffered} buffered bytes != input")
    rest = stream[len(encoded) :]
    if len(rest) >= HEADER_LEN and len(rest) >= HEADER_LEN + int.from_bytes(rest[2:6], "big"):
        raise NotCanonical("net.frame.stream: a whole frame was left in the buffer")


def decode_status_payload(data: bytes) -> ReplicaStatus:
    return decode_status(Frame(FrameKind.STATUS, data))


def _check_status(data: bytes, value: object) -> None:
    if not isinstance(value, ReplicaStatus) or value.encode().payload != data:
        raise NotCanonical(f"net.status: accepted {data[:100]!r}, not canonical")


# ---------------------------------------------------------------- the fleet directory


def snapshot(directory: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """Every entry under ``directory``: its bytes (files), mode and mtime (ns)."""
    out: dict[str, tuple[bytes | None, int, int]] = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        out[str(path.relative_to(directory))] = (data, info.st_mode, info.st_mtime_ns)
    return out


@functools.cache
def _scratch(name: str) -> Path:
    where = _fleet_directory() / name
    shutil.copytree(genuine_fleet_dir(), where, symlinks=True)
    return where


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


def assert_unchanged(directory: Path, before: dict[str, tuple[bytes | None, int, int]]) -> None:
    after = snapshot(directory)
    if after != before:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        raise StateChanged(f"reading the fleet directory changed {changed}")


def check_message(error: FleetDirError, file_name: str, data: bytes, secret: bool) -> None:
    """The error names ``file_name``; for a secret file, quotes no key material."""
    text = str(error)
    if file_name not in text:
        raise SecretLeaked(f"the error does not name {file_name}: {text!r}")
    if not secret:
        return
    # The file's own path is named on purpose; an input may share 16 characters with it
    # (Hypothesis found "vaultbench-fuzz-"), so the scan reads the text without it.
    text = text.replace(str(_fleet_directory()), "<dir>")
    runs = [m.decode("ascii") for m in _BASE64_RUN.findall(data)] + list(secret_strings())
    for run in runs:
        for i in range(len(run) - 15):
            if run[i : i + 16] in text:
                raise SecretLeaked(f"the error quotes key material: {text!r}")


def decode_fleet_file(data: bytes) -> FleetFile:
    directory = _scratch("fleet")
    _write(directory / FLEET_FILE, data, 0o644)
    before = snapshot(directory)
    try:
        return load_fleet(directory)
    except FleetDirError as refused:
        check_message(refused, FLEET_FILE, data, secret=False)
        raise
    finally:
        assert_unchanged(directory, before)


def _check_fleet(data: bytes, value: object) -> None:
    assert isinstance(value, FleetFile)
    if json.loads(value.encode()) != json.loads(data):
        raise NotCanonical(f"net.fleet: loaded a value other than the one written: {value!r}")


def decode_keys_file(data: bytes) -> FleetKeys:
    directory = _scratch("keys")
    _write(replica_dir(directory, KEYS_REPLICA) / KEYS_FILE, data, 0o600)
    before = snapshot(directory)
    try:
        keys = load_replica_keys(directory, KEYS_REPLICA, genuine_fleet())
    except FleetDirError as refused:
        check_message(refused, KEYS_FILE, data, secret=True)
        raise
    finally:
        assert_unchanged(directory, before)
    for text in (repr(keys), str(keys)):
        for secret in secret_strings():
            if secret[:16] in text:
                raise SecretLeaked("the loaded keys' repr quotes key material")
    return keys


def _check_keys(data: bytes, value: object) -> None:
    assert isinstance(value, FleetKeys)
    written = json.loads(data)
    fleet = genuine_fleet()
    expected = base64.b64decode(written["replication_key"])
    if value.replication_key.reveal() != expected:
        raise NotCanonical("net.keys: the replication key loaded is not the one written")
    if value.fleet_keypair.public_key() != fleet.fleet_public_key:
        raise NotCanonical("net.keys: the fleet key loaded is not the published one")
    if value.signing_key.public_key() != fleet.members[KEYS_REPLICA].identity:
        raise NotCanonical("net.keys: the identity loaded is not the published one")
    genuine = genuine_keys()
    for name in ("version", "replica", "kem", "fleet_key_seed", "identity_seed"):
        if written[name] != genuine[name]:
            raise NotCanonical(f"net.keys: accepted a {name} other than the published one")
    if value.peers != tuple(m.identity for m in fleet.members):
        raise NotCanonical("net.keys: the peers loaded are not the published identities")


def decode_numbers(data: bytes) -> tuple[int | None, int | None]:
    directory = _scratch("numbers")
    where = replica_dir(directory, 0)
    _write(where / PORT_FILE, data, 0o644)
    _write(where / PID_FILE, data, 0o644)
    before = snapshot(directory)
    try:
        return read_port(directory, 0), read_pid(directory, 0)
    finally:
        assert_unchanged(directory, before)


def _check_numbers(data: bytes, value: object) -> None:
    assert isinstance(value, tuple)
    for found, high in zip(value, (65535, MAX_PID), strict=True):
        if found is None:
            continue
        if str(found).encode() != data.strip(b" \t\r\n") or not 1 <= found <= high:
            raise NotCanonical(f"net.number: read {found} from {data[:40]!r}")


def net_targets() -> tuple[Target, ...]:
    """net_targets: the targets of ``impl/net``, in a fixed order (the dispatch byte of
    ``fuzz/atheris_net.py`` is the index in this tuple)."""
    number_errors: tuple[type[FleetDirError], ...] = ()  # total: nothing may be raised
    return (
        Target("net.frame", decode_frame, _check_frame, (FrameError,), frame_samples),
        Target("net.frame.stream", decode_stream, _check_stream, (FrameError,), stream_samples),
        Target("net.status", decode_status_payload, _check_status, (FrameError,), status_samples),
        Target("net.fleet", decode_fleet_file, _check_fleet, (FleetDirError,), fleet_samples, 2),
        Target("net.keys", decode_keys_file, _check_keys, (FleetDirError,), keys_samples, 3),
        Target("net.number", decode_numbers, _check_numbers, number_errors, number_samples),
    )


def net_target(name: str) -> Target:
    for candidate in net_targets():
        if candidate.name == name:
            return candidate
    raise KeyError(name)


#: The functions of ``impl/net`` that read bytes from outside, and their targets.
NET_DECODERS: dict[str, tuple[str, ...]] = {
    "impl/net/frame.py:decode_frame": ("net.frame",),
    "impl/net/frame.py:feed": ("net.frame.stream",),
    "impl/net/frame.py:decode_status": ("net.status",),
    "impl/net/fleetdir.py:load_fleet": ("net.fleet",),
    "impl/net/fleetdir.py:load_replica_keys": ("net.keys",),
    "impl/net/fleetdir.py:read_port": ("net.number",),
    "impl/net/fleetdir.py:read_pid": ("net.number",),
}
