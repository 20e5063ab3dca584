"""Bad-input campaign against the process fleet's own decoders (issue 14;
``docs/fuzzing.rst``).

Targets (``fuzz.net_targets``): ``net.frame`` (``decode_frame``), ``net.frame.stream``
(``FrameDecoder.feed`` on a stream cut into reads), ``net.status`` (``decode_status``),
``net.fleet`` (``load_fleet`` of ``fleet.json``), ``net.keys`` (``load_replica_keys`` of
``keys.json``) and ``net.number`` (``read_port``, ``read_pid``). Each gets the house's
three Hypothesis campaigns, random bytes, mutated genuine inputs and near-valid inputs
(``fuzz.net_strategies``), under ``fuzz.targets.probe``'s oracle plus the checks of each
target: split reads agree with one read and a refused decoder is closed; the directory
is unchanged after a load; errors name their file and quote no key material.

Example counts come from the active profile (``ci``: 60 per test, derandomized;
``thorough``: 2000, fresh each run), divided by the target's cost. Then come the cases
no campaign draws often enough to trust it to (the 8 MiB cap, FIFOs, symlinks), and one
regression test for each bug these campaigns found.
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz import stats
from fuzz.atheris_net import TARGETS, corpus, one_input
from fuzz.net_strategies import net_near_valid
from fuzz.net_targets import (
    KEYS_REPLICA,
    NET_DECODERS,
    StateChanged,
    assert_unchanged,
    net_target,
    net_targets,
    secret_strings,
    snapshot,
)
from fuzz.strategies import mutated_inputs, random_inputs
from fuzz.targets import ACCEPTED, Target
from impl.errors import VaultbenchError
from impl.net.fleetdir import (
    FLEET_FILE,
    KEYS_FILE,
    MAX_ATTEMPTS,
    MAX_TIMING,
    PID_FILE,
    PORT_FILE,
    FleetDirError,
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
    FrameTooLarge,
    decode_frame,
    decode_status,
    leader_hint,
    not_leader,
)

PROFILE = settings.get_current_profile_name()
BASE_EXAMPLES = settings().max_examples
DERANDOMIZE = PROFILE != "thorough"
NAMES = tuple(t.name for t in net_targets())
ROOT = Path(__file__).resolve().parent.parent


def fuzz_settings(t: Target) -> settings:
    return settings(
        max_examples=max(10, BASE_EXAMPLES // t.cost),
        derandomize=DERANDOMIZE,
        database=None if DERANDOMIZE else settings().database,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


@pytest.fixture(scope="module", autouse=True)
def _report(pytestconfig: pytest.Config) -> None:
    stats.install(pytestconfig, PROFILE)


# ------------------------------------------------------------------ the three campaigns


@pytest.mark.parametrize("name", NAMES)
def test_random_bytes_give_typed_errors_or_canonical_values(name: str) -> None:
    t = net_target(name)

    @fuzz_settings(t)
    @given(random_inputs(t))
    def campaign(data: bytes) -> None:
        stats.checked_probe(t, "random", data)

    campaign()


@pytest.mark.parametrize("name", NAMES)
def test_mutated_inputs_give_typed_errors_or_canonical_values(name: str) -> None:
    t = net_target(name)

    @fuzz_settings(t)
    @given(mutated_inputs(t))
    def campaign(data: bytes) -> None:
        stats.checked_probe(t, "mutated", data)

    campaign()


@pytest.mark.parametrize("name", NAMES)
def test_near_valid_inputs_give_typed_errors_or_canonical_values(name: str) -> None:
    t = net_target(name)

    @fuzz_settings(t)
    @given(net_near_valid(name))
    def campaign(data: bytes) -> None:
        stats.checked_probe(t, "near-valid", data)

    campaign()


@pytest.mark.parametrize("name", NAMES)
def test_every_genuine_sample_is_accepted(name: str) -> None:
    t = net_target(name)
    for sample in t.samples():
        assert stats.checked_probe(t, "genuine", sample) == ACCEPTED


def test_every_net_error_is_typed() -> None:
    for t in net_targets():
        assert all(issubclass(e, VaultbenchError) for e in t.errors), t.name


def test_every_net_decoder_is_fuzzed() -> None:
    # tests/test_fuzz_decoders.py skips impl/net (NOT_YET); this is its check for impl/net.
    pattern = re.compile(r"^\s*def ((?:decode|parse|open|load|read|feed)\w*)\(", re.M)
    found = set()
    for path in sorted((ROOT / "impl" / "net").glob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        found |= {f"{relative}:{name}" for name in pattern.findall(path.read_text())}
    # read_durable_vault opens the replica's SqliteReplicaStore, whose rows are fuzzed by
    # test_sqlite_store_rows_that_do_not_decode_are_store_errors, after the two loads here.
    not_decoders = {"impl/net/durable.py:read_durable_vault"}
    assert sorted(found - set(NET_DECODERS) - not_decoders) == []
    for targets in NET_DECODERS.values():
        assert set(targets) <= set(NAMES)


# ------------------------------------------------------------- the atheris harness


def test_the_net_corpus_and_its_truncations_pass_the_oracle() -> None:
    entries = corpus()
    assert {name.rsplit("-", 1)[0] for name, _ in entries} == set(NAMES)
    for _, data in entries:
        one_input(data)
        for cut in (1, len(data) // 2, len(data) - 1):
            one_input(data[:cut])


def test_the_net_regressions_stay_fixed() -> None:
    # fuzz/regressions/net-*: inputs that broke the oracle before their fix, with the
    # dispatch byte of fuzz/atheris_net.py in front.
    found = sorted((ROOT / "fuzz" / "regressions").glob("net-*"))
    assert found
    for path in found:
        one_input(path.read_bytes())


def test_the_net_harness_runs_clean(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    import subprocess
    import sys

    from fuzz.atheris_net import write_corpus

    write_corpus(tmp_path / "corpus")
    runs = int(os.environ.get("VAULTBENCH_ATHERIS_RUNS", "1000"))
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "fuzz" / "atheris_net.py"),
            f"-runs={runs}",
            "-max_len=4096",
            "-seed=1",
            str(tmp_path / "corpus"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
    assert result.returncode == 0, f"atheris found a bug ({crashes}):\n{result.stderr[-4000:]}"
    assert f"Done {runs} runs" in result.stderr
    assert len(TARGETS) == len(net_targets())


# ---------------------------------------------------------------- frames: the decoder


def _frames() -> list[Frame]:
    return [
        Frame(FrameKind.PEER, b"p" * 40),
        not_leader(2),
        Frame(FrameKind.STATUS_QUERY),
        Frame(FrameKind.REFUSED, b"no"),
    ]


def test_a_refused_decoder_is_closed() -> None:
    """The defined state after a refusal: closed. Nothing buffered, and every later feed,
    of a valid frame or of nothing, is a FrameError."""
    decoder = FrameDecoder()
    good = Frame(FrameKind.STATUS_QUERY).encode()
    assert decoder.feed(good[:3]) == []
    assert decoder.buffered == 3
    assert not decoder.closed
    with pytest.raises(FrameError, match="unknown frame kind 200") as refused:
        decoder.feed(good[3:] + b"\x01\xc8")
    assert refused.value.frames == (Frame(FrameKind.STATUS_QUERY),)
    assert decoder.closed
    assert decoder.buffered == 0
    assert "closed" in repr(decoder)
    for later in (good, b"", b"\x01"):
        with pytest.raises(FrameError, match="stream already broken"):
            decoder.feed(later)
    assert decoder.buffered == 0


def _feed_in_reads(
    decoder: FrameDecoder, stream: bytes, size: int
) -> tuple[list[Frame], FrameError | None]:
    out: list[Frame] = []
    for i in range(0, len(stream), size):
        try:
            out += decoder.feed(stream[i : i + size])
        except FrameError as refused:
            return out, refused
    return out, None


def test_a_stream_gives_the_same_frames_however_it_is_cut() -> None:
    frames = _frames()
    stream = b"".join(f.encode() for f in frames)
    for size in (1, 2, 5, 6, 7, 13, len(stream)):
        decoder = FrameDecoder()
        out: list[Frame] = []
        for i in range(0, len(stream), size):
            out += decoder.feed(stream[i : i + size])
        assert out == frames
        assert decoder.buffered == 0
    bad = stream + b"\x01\x04\x00\x00\x00\x03"  # a NOT_LEADER of 3 bytes
    for size in (1, 6, len(bad)):
        out, refused = _feed_in_reads(FrameDecoder(), bad, size)
        assert isinstance(refused, FrameError)
        assert "NOT_LEADER payload" in str(refused)
        assert out + list(refused.frames) == frames


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        (b"\x02", "frame version 2"),
        (b"G", "frame version 71"),  # an HTTP request: refused at its first byte
        (b"\x01\x00", "unknown frame kind 0"),
        (b"\x01\x09", "unknown frame kind 9"),
        (b"\x01\x04\x00\x00\x03\xe8", "NOT_LEADER payload: expected 2 bytes, found 1000"),
        (b"\x01\x07\x00\x00\x00\x01", "STATUS_QUERY payload: expected 0 bytes"),
        (b"\x01\x05\x00\x00\x00\xc9", "reason: expected at most 200 bytes, found 201"),
        (b"\x01\x01\x00\x00\x00\x00", "PEER payload: expected at least 1 byte"),
    ],
)
def test_a_bad_header_is_refused_as_soon_as_its_bytes_arrive(prefix: bytes, message: str) -> None:
    # Found by review while writing the stream campaign (the oracle cannot see it): a
    # decoder waited for, and buffered, up to 8 MiB of payload for a frame its header had
    # already ruled out, and waited for 6 bytes to refuse a bad version or kind.
    decoder = FrameDecoder()
    with pytest.raises(FrameError, match=message):
        decoder.feed(prefix)
    assert decoder.closed
    assert decoder.buffered == 0


def test_the_8_mib_cap() -> None:
    exact = Frame(FrameKind.PEER, bytes(MAX_PAYLOAD))
    encoded = exact.encode()
    assert decode_frame(encoded) == exact
    decoder = FrameDecoder()
    assert decoder.feed(encoded[: HEADER_LEN + 10]) == []
    assert decoder.feed(encoded[HEADER_LEN + 10 :]) == [exact]
    del encoded
    for length in (MAX_PAYLOAD + 1, 2**31, 2**32 - 1):
        header = struct.pack(">BBI", 1, FrameKind.PEER, length)
        with pytest.raises(FrameTooLarge):
            decode_frame(header)
        decoder = FrameDecoder()
        with pytest.raises(FrameTooLarge):
            decoder.feed(header)  # refused from the header: no payload is waited for
        assert decoder.closed
        assert decoder.buffered == 0
    with pytest.raises(FrameTooLarge):
        Frame(FrameKind.PEER, bytes(MAX_PAYLOAD + 1))
    lowered = FrameDecoder(max_payload=64)
    with pytest.raises(FrameTooLarge, match="at most 64"):
        lowered.feed(Frame(FrameKind.PEER, bytes(65)).encode())
    for bad in (-1, MAX_PAYLOAD + 1):
        with pytest.raises(ValueError, match="max_payload"):
            FrameDecoder(bad)


def test_decode_frame_refuses_a_second_frame_without_decoding_it() -> None:
    # Found by review: decode_frame fed the whole input to a FrameDecoder, so 8 MiB of
    # empty frames were all decoded (about 5 s) before "more than one frame" was said.
    one = Frame(FrameKind.STATUS_QUERY).encode()
    data = one * (MAX_PAYLOAD // len(one))
    started = time.monotonic()
    with pytest.raises(FrameError, match="exactly one frame"):
        decode_frame(data)
    assert time.monotonic() - started < 0.5
    with pytest.raises(FrameError, match="exactly one frame"):
        decode_frame(one + b"\x01")
    with pytest.raises(FrameError, match="6-byte header"):
        decode_frame(b"\x01\x07\x00")


def test_non_bytes_are_frame_errors() -> None:
    with pytest.raises(FrameError):
        FrameDecoder().feed("\x01\x07\x00\x00\x00\x00")  # type: ignore[arg-type]
    with pytest.raises(FrameError):
        decode_frame(None)  # type: ignore[arg-type]
    with pytest.raises(FrameError):
        Frame(7, b"")  # type: ignore[arg-type]


# -------------------------------------------------------- frames: the typed payloads


def test_a_leader_hint_round_trips_and_the_no_hint_value_is_not_a_hint() -> None:
    # Found by the oracle: not_leader(0xFFFF) made a frame whose leader_hint is None (the
    # "no leader known" value), so a hint did not survive the round trip.
    for hint in (0, 1, 4, 0xFFFE, None):
        assert leader_hint(decode_frame(not_leader(hint).encode())) == hint
    for bad in (0xFFFF, -1, 0x10000, True):
        with pytest.raises(FrameError):
            not_leader(bad)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-RecursionError"),
        pytest.param(b'{"replica":' + b"9" * 5000 + b"}", id="5000-digits-ValueError"),
        pytest.param(b"9" * 5000, id="bare-5000-digits-ValueError"),
    ],
)
def test_a_status_payload_json_cannot_parse_is_a_frame_error(payload: bytes) -> None:
    # Found by the net.status near-valid campaign: json.loads raised RecursionError and
    # ValueError (integers over 4300 digits), neither a JSONDecodeError, out of
    # decode_status.
    with pytest.raises(FrameError, match="not ASCII JSON"):
        decode_status(Frame(FrameKind.STATUS, payload))


# ------------------------------------------------------------ the fleet directory


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    where = tmp_path / "fleet"
    setup_fleet(where, replicas=3, seed=5)
    return where


def _edit(path: Path, change: dict[str, object]) -> None:
    value = json.loads(path.read_bytes())
    value.update(change)
    path.write_text(json.dumps(value))


def _refused(directory: Path, match: str) -> FleetDirError:
    before = snapshot(directory)
    with pytest.raises(FleetDirError, match=match) as refused:
        load_fleet(directory)
    assert_unchanged(directory, before)
    assert FLEET_FILE in str(refused.value)
    return refused.value


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-RecursionError"),
        pytest.param(b'{"version":' + b"1" * 5000 + b"}", id="5000-digits-ValueError"),
    ],
)
def test_fleet_json_that_json_cannot_parse_is_a_fleet_dir_error(
    fleet_dir: Path, document: bytes
) -> None:
    # Found by the net.fleet near-valid campaign: RecursionError and ValueError escaped
    # load_fleet (the same holds for keys.json, which the same reader reads).
    fleet = load_fleet(fleet_dir)
    keys = replica_dir(fleet_dir, KEYS_REPLICA) / KEYS_FILE
    keys.write_bytes(document)
    with pytest.raises(FleetDirError, match="not ASCII JSON"):
        load_replica_keys(fleet_dir, KEYS_REPLICA, fleet)
    (fleet_dir / FLEET_FILE).write_bytes(document)
    _refused(fleet_dir, "not ASCII JSON")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"max_attempts": MAX_ATTEMPTS + 1}, "max_attempts"),
        ({"max_attempts": 10**400}, "max_attempts"),
        ({"fleet_id": "fleet\nforged log line"}, "fleet_id"),
        ({"fleet_id": "fleet\u00e9"}, "fleet_id"),
    ],
)
def test_fleet_json_values_out_of_range_are_refused(
    fleet_dir: Path, change: dict[str, object], match: str
) -> None:
    # Found by review while writing the net.fleet campaign (such files round-trip, so the
    # oracle accepts them): an attempt limit past the wire's u32 (WrongGuess could not
    # then be encoded) and a fleet id with control characters (a forged log line) loaded.
    _edit(fleet_dir / FLEET_FILE, change)
    _refused(fleet_dir, match)


@pytest.mark.parametrize("value", [0, MAX_TIMING + 1, 10**400, True, 1.0])
def test_timings_out_of_range_are_refused(fleet_dir: Path, value: object) -> None:
    # Found by review (the file round-trips, so the oracle accepts it): a heartbeat of
    # 10**400 ms loaded, and the server's ms / 1000 would then raise OverflowError.
    path = fleet_dir / FLEET_FILE
    document = json.loads(path.read_bytes())
    document["timing"]["heartbeat_ms"] = value
    path.write_text(json.dumps(document))
    _refused(fleet_dir, "heartbeat_ms")


@pytest.mark.parametrize(
    ("member", "change", "match"),
    [
        (1, {"identity": "same as 0"}, "another replica's identity"),
        (1, {"port": 80}, "port: expected 0"),
        (0, {"port": 1023}, "port: expected 0"),
        (2, {"port": 20000}, "another replica's port"),
    ],
)
def test_members_must_be_distinct_and_listen_on_unprivileged_ports(
    fleet_dir: Path, member: int, change: dict[str, object], match: str
) -> None:
    # Found by review (the near-valid campaign repeats members, but such a file
    # round-trips): two replicas with one identity, or one port, loaded; so did a port
    # below 1024, which setup_fleet never writes and a replica cannot bind.
    path = fleet_dir / FLEET_FILE
    document = json.loads(path.read_bytes())
    members = document["members"]
    if change.get("identity") == "same as 0":
        change = {"identity": members[0]["identity"]}
    if match == "another replica's port":
        members[0]["port"] = 20000
    members[member].update(change)
    path.write_text(json.dumps(document))
    _refused(fleet_dir, match)


def test_setup_never_writes_what_the_readers_refuse(tmp_path: Path) -> None:
    for kwargs in (
        {"timing": {"heartbeat_ms": MAX_TIMING + 1}},
        {"max_attempts": MAX_ATTEMPTS + 1},
        {"fleet_id": "a\nb"},
        {"fleet_id": ""},
    ):
        with pytest.raises(FleetDirError):
            setup_fleet(tmp_path / "x", replicas=3, seed=1, **kwargs)
        assert not (tmp_path / "x" / FLEET_FILE).exists()
    fleet = setup_fleet(
        tmp_path / "y", replicas=3, seed=1, base_port=65533, max_attempts=MAX_ATTEMPTS
    )
    assert load_fleet(tmp_path / "y") == fleet


def test_keys_json_errors_quote_no_key_material(fleet_dir: Path) -> None:
    # Found by the net.keys oracle: an unknown field was quoted in the error, and a
    # field's name can be key material moved by an edit.
    fleet = load_fleet(fleet_dir)
    path = replica_dir(fleet_dir, KEYS_REPLICA) / KEYS_FILE
    original = json.loads(path.read_bytes())
    seed = original["identity_seed"]
    path.write_text(json.dumps({**original, seed: 1}))
    with pytest.raises(FleetDirError, match="unknown field") as refused:
        load_replica_keys(fleet_dir, KEYS_REPLICA, fleet)
    assert seed[:16] not in str(refused.value)
    for name in ("fleet_key_seed", "replication_key", "identity_seed"):
        for bad in (seed[:-4], seed + "AAAA", seed.rstrip("="), " " + seed, 7):
            path.write_text(json.dumps({**original, name: bad}))
            with pytest.raises(FleetDirError, match=name) as refused:
                load_replica_keys(fleet_dir, KEYS_REPLICA, fleet)
            text = str(refused.value)
            assert KEYS_FILE in text
            assert all(s[:16] not in text for s in (seed, *secret_strings()))


# ----------------------------------------- where a file is expected: something else


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail, rather than hang, if a read blocks (a FIFO)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("a reader blocked")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(10)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.usefixtures("alarm")
@pytest.mark.parametrize("kind", ["fifo", "directory", "dev-zero", "dangling", "loop"])
def test_something_else_where_a_file_belongs_is_refused(fleet_dir: Path, kind: str) -> None:
    # Found by review: a FIFO at fleet.json or keys.json made the reader wait forever
    # (open() of a FIFO blocks until a writer comes), and read_port/read_pid likewise.
    keys = replica_dir(fleet_dir, KEYS_REPLICA) / KEYS_FILE
    fleet = load_fleet(fleet_dir)
    port = replica_dir(fleet_dir, 0) / PORT_FILE
    pid = replica_dir(fleet_dir, 0) / PID_FILE
    for path in (fleet_dir / FLEET_FILE, keys, port, pid):
        path.unlink(missing_ok=True)
        if kind == "fifo":
            os.mkfifo(path, 0o600)
        elif kind == "directory":
            path.mkdir(mode=0o700)
        elif kind == "dev-zero":
            path.symlink_to("/dev/zero")
        elif kind == "dangling":
            path.symlink_to(fleet_dir / "nowhere")
        else:
            path.symlink_to(path)
    before = snapshot(fleet_dir)
    match = "missing" if kind == "dangling" else "not a regular file|cannot read"
    with pytest.raises(FleetDirError, match=match):
        load_fleet(fleet_dir)
    with pytest.raises(FleetDirError, match=match):
        load_replica_keys(fleet_dir, KEYS_REPLICA, fleet)
    assert read_port(fleet_dir, 0) is None
    assert read_pid(fleet_dir, 0) is None
    assert snapshot(fleet_dir) == before


def test_keys_json_through_a_symlink_is_checked_where_it_points(fleet_dir: Path) -> None:
    fleet = load_fleet(fleet_dir)
    keys = replica_dir(fleet_dir, KEYS_REPLICA) / KEYS_FILE
    elsewhere = fleet_dir / "elsewhere.json"
    elsewhere.write_bytes(keys.read_bytes())
    keys.unlink()
    keys.symlink_to(elsewhere)
    elsewhere.chmod(0o644)
    with pytest.raises(FleetDirError, match="mode 644"):
        load_replica_keys(fleet_dir, KEYS_REPLICA, fleet)
    elsewhere.chmod(0o600)
    assert load_replica_keys(fleet_dir, KEYS_REPLICA, fleet).peers == tuple(
        m.identity for m in fleet.members
    )


@pytest.mark.parametrize(
    ("text", "port", "pid"),
    [
        (b"9" * 5000, None, None),  # found by net.number: ValueError out of int()
        (b"9" * 30, None, None),  # found by net.number: a pid past pid_t (os.kill raises)
        (b"4242\n", 4242, 4242),
        (b"70000", None, 70000),
        (b"0", None, None),
        (b"-1", None, None),
        (b"\xd9\xa1", None, None),
        (b"1" + b"\x00", None, None),
        (b"2147483648", None, None),
        (b"020", None, None),  # found by atheris: a leading zero, which no writer writes
        (b"0080\n", None, None),
    ],
)
def test_port_and_pid_files_read_as_a_number_or_none(
    fleet_dir: Path, text: bytes, port: int | None, pid: int | None
) -> None:
    (replica_dir(fleet_dir, 0) / PORT_FILE).write_bytes(text)
    (replica_dir(fleet_dir, 0) / PID_FILE).write_bytes(text)
    assert read_port(fleet_dir, 0) == port
    assert read_pid(fleet_dir, 0) == pid


def test_replica_numbers_that_are_not_ints_are_refused(fleet_dir: Path) -> None:
    fleet = load_fleet(fleet_dir)
    for bad in (True, -1, 3, 1.0):
        with pytest.raises(FleetDirError, match="replica"):
            load_replica_keys(fleet_dir, bad, fleet)  # type: ignore[arg-type]


def test_the_unchanged_check_sees_a_change(fleet_dir: Path) -> None:
    # The no-state-change oracle itself: a reader that wrote, even the same bytes, is seen.
    before = snapshot(fleet_dir)
    assert_unchanged(fleet_dir, before)
    path = fleet_dir / FLEET_FILE
    time.sleep(0.01)
    path.write_bytes(path.read_bytes())
    with pytest.raises(StateChanged, match=FLEET_FILE):
        assert_unchanged(fleet_dir, before)
