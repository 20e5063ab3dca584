"""fuzz.net_strategies: near-valid inputs for the ``impl/net`` targets (``fuzz.net_targets``).

The random and mutated inputs are ``fuzz.strategies``' (``random_inputs``,
``mutated_inputs``); this module adds each format's grammar with parts wrong:

- frames: versions and kinds around the valid ones, length fields consistent or off by
  one, zero, at and above the 8 MiB cap, ``2^32 - 1``; payloads sized at and around each
  kind's bounds (``NOT_LEADER`` of 1 to 3 bytes, reasons of 199 to 201 bytes or with a
  control character, an empty ``PEER``); truncated, extended or followed by another frame;
- streams: several frames (valid or near-valid) concatenated, cut into reads by a seed,
  under a ``max_payload`` from ``STREAM_LIMITS``;
- ``STATUS`` payloads: the canonical JSON with a field of the wrong type (a bool for an
  int, a float, null, a list), missing or extra, a huge or negative number, strings with
  odd Unicode, escapes and raw non-ASCII bytes, other separators or key order, deep
  nesting, integers of 5000 digits;
- ``fleet.json`` and ``keys.json``: a genuine file's JSON with one to three edits (a value
  replaced by an odd one, a field removed or added, members dropped, repeated or swapped,
  ports and replica numbers at their bounds, base64 variants of keys and seeds, another
  replica's seed, a seed of 31 or 33 bytes, timings and attempt limits at and past their
  bounds, Unicode look-alikes in strings), then serialized several ways (indented,
  compact, with raw UTF-8, a repeated field, a byte-order mark, trailing bytes, an
  invalid UTF-8 byte, a deep nesting, a 5000-digit integer); and random JSON objects
  with the right field names;
- ``port`` and ``pid``: decimal numbers at and around their bounds, with spaces, signs,
  Unicode digits, leading zeros and 5000 digits.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

from hypothesis import strategies as st

from fuzz.net_targets import (
    KEYS_REPLICA,
    STREAM_LIMITS,
    fleet_samples,
    frame_samples,
    genuine_fleet_dir,
    keys_samples,
    status_samples,
)
from impl.net.fleetdir import KEYS_FILE, MAX_ATTEMPTS, MAX_PID, MAX_TIMING, replica_dir
from impl.net.frame import FRAME_VERSION, MAX_PAYLOAD, MAX_REASON, FrameKind

_ODD: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1.0,
    1e3,
    float("nan"),
    float("inf"),
    2**31,
    2**32,
    2**63,
    10**30,
    -(10**30),
    "",
    " ",
    "x" * 65,
    "\u00e9",
    "\ud800",
    "\u0000",
    "\n",
    "\u202e",
    "\ufeff",
    "\uff11",  # fullwidth 1
    "\u0661",  # Arabic-Indic 1
    "127.0.0.1 ",
    "localhost",
    "::1",
    [],
    {},
    [1],
    {"a": 1},
)
_TEXT_ODD = ("\u00e9", "\u212a", "\u0130", "\u200b", "\ufeff", "\ud800", "\x00", "\x7f", "\n")


def _json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=10,
    )


# ---------------------------------------------------------------------------- frames


def _payload_for(kind: int) -> st.SearchStrategy[bytes]:
    if kind == FrameKind.NOT_LEADER:
        return st.binary(min_size=0, max_size=3) | st.sampled_from((b"\xff\xff", b"\x00\x00"))
    if kind in (FrameKind.UNAVAILABLE, FrameKind.REFUSED):
        sized = st.sampled_from((MAX_REASON - 1, MAX_REASON, MAX_REASON + 1)).map(
            lambda n: b"r" * n
        )
        odd = st.tuples(
            st.binary(max_size=8).map(lambda b: bytes(c % 95 + 32 for c in b)),
            st.sampled_from((b"\x00", b"\x1f", b"\x7f", b"\x80", b"\xff", b"\n", "é".encode())),
        ).map(b"".join)
        return sized | odd | st.binary(max_size=12)
    if kind == FrameKind.STATUS_QUERY:
        return st.sampled_from((b"", b"", b"\x00", b"{}"))
    if kind == FrameKind.STATUS:
        return status_near()
    return st.binary(min_size=0, max_size=40)


@st.composite
def frame_near(draw: st.DrawFn) -> bytes:
    """One frame, built field by field, with parts wrong (see the module docstring)."""
    version = draw(st.sampled_from((FRAME_VERSION,) * 8 + (0, 2, 0x81, 0xFF)))
    kind = draw(st.sampled_from(tuple(range(1, 9)) * 3 + (0, 9, 0x10, 0x81, 0xFF)))
    payload = draw(_payload_for(kind))
    n = len(payload)
    length = draw(
        st.sampled_from(
            (n,) * 8 + (n + 1, max(0, n - 1), 0, MAX_PAYLOAD, MAX_PAYLOAD + 1, 2**32 - 1, 2**31)
        )
    )
    out = struct.pack(">BBI", version, kind, length) + payload
    tail = draw(st.integers(0, 6))
    if tail == 0:
        out = out[: draw(st.integers(0, len(out)))]
    elif tail == 1:
        out += draw(st.binary(min_size=1, max_size=8))
    elif tail == 2:
        out += draw(st.sampled_from(frame_samples()))
    return out


@st.composite
def stream_near(draw: st.DrawFn) -> bytes:
    """A limit byte, a cut seed and several frames, genuine or near-valid."""
    limit = draw(st.integers(0, len(STREAM_LIMITS) - 1))
    seed = draw(st.integers(0, 0xFFFF))
    frames = draw(st.lists(st.sampled_from(frame_samples()) | frame_near(), min_size=0, max_size=6))
    return bytes([limit]) + seed.to_bytes(2, "big") + b"".join(frames)


# ---------------------------------------------------------------------------- STATUS


@st.composite
def status_near(draw: st.DrawFn) -> bytes:
    """A ``STATUS`` payload: canonical JSON with parts wrong."""
    value: dict[str, Any] = json.loads(draw(st.sampled_from(status_samples())))
    for _ in range(draw(st.integers(0, 2))):
        edit = draw(st.integers(0, 4))
        field = draw(st.sampled_from(sorted(value) or ["replica"]))
        if edit == 0:
            value[field] = draw(st.sampled_from(_ODD) | st.integers())
        elif edit == 1:
            value.pop(field, None)
        elif edit == 2:
            value[draw(st.sampled_from(("extra", "Replica", "replica ", "secret")))] = 1
        elif edit == 3:
            value[field] = draw(st.text(max_size=12) | st.sampled_from(_TEXT_ODD))
        else:
            value[field] = draw(st.integers(-(2**70), 2**70))
    return _serialize(draw, value)


def _serialize(draw: st.DrawFn, value: Any) -> bytes:
    """``value`` serialized canonically or another way."""
    style = draw(st.integers(0, 11))
    try:
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except ValueError:  # a float the encoder refuses: keep the input readable anyway
        canonical = "{}"
    if style == 0:
        text = json.dumps(value, indent=2, sort_keys=True)
    elif style == 1:
        text = json.dumps(value)
    elif style == 2:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    elif style == 3 and canonical.endswith("}") and len(canonical) > 2:
        text = canonical[:-1] + ',"version":1}'  # a repeated field (or an unknown one)
    elif style == 4:
        return b"\xef\xbb\xbf" + canonical.encode()  # a byte-order mark
    elif style == 5:
        return canonical.encode() + draw(st.sampled_from((b"\n", b"\n\n", b" x", b"\x00", b"{}")))
    elif style == 6:
        data = bytearray(canonical.encode())
        data.insert(draw(st.integers(0, len(data))), draw(st.sampled_from((0x80, 0xFF, 0xC3))))
        return bytes(data)
    elif style == 7:
        depth = draw(st.sampled_from((100, 5000, 100_000)))
        return (canonical[:-1] + ',"deep":' + "[" * depth + "]" * depth + "}").encode()
    elif style == 8:
        return (canonical[:-1] + ',"big":' + "9" * 5000 + "}").encode()
    else:
        text = json.dumps(value, sort_keys=True, indent=2) + "\n"
    return text.encode("utf-8", errors="surrogatepass")


# -------------------------------------------------------------- fleet.json, keys.json


def _b64_variants(raw: bytes) -> tuple[str, ...]:
    b = base64.b64encode
    return (
        b(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        b(raw).decode() + "=",
        " " + b(raw).decode(),
        b(raw).decode() + "\n",
        b(raw[:-1]).decode(),
        b(raw + b"\x00").decode(),
        b(bytes(len(raw))).decode(),
        b(raw).decode().lower(),
        "",
    )


def _decoded(text: object) -> bytes:
    try:
        return base64.b64decode(str(text) + "==")
    except ValueError:
        return bytes(32)


@st.composite
def fleet_near(draw: st.DrawFn, samples: tuple[bytes, ...]) -> bytes:
    """fleet.json with one to three edits, serialized one way or another."""
    if draw(st.integers(0, 9)) == 0:  # random JSON with the right field names
        names = sorted(json.loads(samples[0]))
        return _serialize(draw, draw(st.fixed_dictionaries({n: _json_values() for n in names})))
    value: dict[str, Any] = json.loads(draw(st.sampled_from(samples)))
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(st.integers(0, 9))
        members = value.get("members")
        timing = value.get("timing")
        if edit == 0 and value:
            field = draw(st.sampled_from(sorted(value)))
            value[field] = draw(st.sampled_from(_ODD) | st.integers(-2, 70))
        elif edit == 1 and value:
            del value[draw(st.sampled_from(sorted(value)))]
        elif edit == 2:
            value[draw(st.sampled_from(("extra", "Version", "members ", "seed")))] = 1
        elif edit == 3 and isinstance(members, list) and members:
            op = draw(st.integers(0, 3))
            if op == 0:
                del members[draw(st.integers(0, len(members) - 1))]
            elif op == 1:
                members.append(dict(draw(st.sampled_from(members))))
            elif op == 2:
                value["members"] = draw(st.permutations(members))
            else:
                value["members"] = members[:1] * len(members)
        elif edit == 4 and isinstance(members, list) and members:
            member = draw(st.sampled_from(members))
            if isinstance(member, dict):
                field = draw(st.sampled_from(("replica", "port", "identity", "extra")))
                if field == "port":
                    member["port"] = draw(
                        st.sampled_from((0, 1, 80, 1023, 1024, 65535, 65536, -1, 2**64))
                    )
                elif field == "identity":
                    member["identity"] = draw(
                        st.sampled_from(_b64_variants(_decoded(member.get("identity"))))
                    )
                else:
                    member[field] = draw(st.sampled_from(_ODD) | st.integers(-1, 6))
        elif edit == 5 and isinstance(timing, dict) and timing:
            field = draw(st.sampled_from(sorted(timing)))
            timing[field] = draw(
                st.sampled_from((0, 1, MAX_TIMING, MAX_TIMING + 1, 10**400, -1, 1.5, None))
            )
        elif edit == 6:
            value["max_attempts"] = draw(
                st.sampled_from((0, 1, 10, MAX_ATTEMPTS, MAX_ATTEMPTS + 1, 10**400, True))
            )
        elif edit == 7:
            value["fleet_public_key"] = draw(
                st.sampled_from(_b64_variants(_decoded(value.get("fleet_public_key"))))
            )
        elif edit == 8:
            field = draw(st.sampled_from(("fleet_id", "host", "kem", "provisioning")))
            current = str(value.get(field, ""))
            value[field] = draw(
                st.sampled_from(
                    (
                        current.upper(),
                        current + draw(st.sampled_from(_TEXT_ODD)),
                        draw(st.sampled_from(_TEXT_ODD)) + current,
                        current[:-1],
                        "f" * 64,
                        "f" * 65,
                    )
                )
            )
        elif edit == 9:
            field = draw(st.sampled_from(("replicas", "quorum", "version")))
            value[field] = draw(st.sampled_from((0, 1, 2, 3, 4, 5, 6, 100, -1)))
    return _serialize(draw, value)


@st.composite
def keys_near(draw: st.DrawFn) -> bytes:
    """replica 1's keys.json with one to three edits, serialized one way or another."""
    samples = keys_samples()
    if draw(st.integers(0, 9)) == 0:
        names = sorted(json.loads(samples[0]))
        return _serialize(draw, draw(st.fixed_dictionaries({n: _json_values() for n in names})))
    value: dict[str, Any] = json.loads(draw(st.sampled_from(samples)))
    seeds = ("fleet_key_seed", "replication_key", "identity_seed")
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(st.integers(0, 5))
        if edit == 0 and value:
            field = draw(st.sampled_from(sorted(value)))
            value[field] = draw(st.sampled_from(_ODD) | st.integers(-2, 6))
        elif edit == 1 and value:
            del value[draw(st.sampled_from(sorted(value)))]
        elif edit == 2:
            # a field named by key material: its name must not be quoted
            key = str(value.get("identity_seed", "x"))
            value[draw(st.sampled_from(("extra", key, key[:20], "Identity_seed")))] = 1
        elif edit == 3:
            field = draw(st.sampled_from(seeds))
            raw = _decoded(value.get(field))
            value[field] = draw(
                st.sampled_from(
                    (
                        *_b64_variants(raw),
                        base64.b64encode(raw[:31]).decode(),
                        base64.b64encode(raw + b"!").decode(),
                    )
                )
            )
        elif edit == 4:
            other = draw(st.sampled_from((0, 2)))
            theirs = json.loads((replica_dir(genuine_fleet_dir(), other) / KEYS_FILE).read_bytes())
            field = draw(st.sampled_from((*seeds, "replica")))
            value[field] = theirs[field]
        else:
            field = draw(st.sampled_from(("replica", "version", "kem")))
            value[field] = draw(
                st.sampled_from((KEYS_REPLICA, 0, 2, 3, -1, 2, "X25519", "hybrid", "", True))
            )
    return _serialize(draw, value)


def number_near() -> st.SearchStrategy[bytes]:
    """Contents of a ``port`` or ``pid`` file."""
    numbers = st.sampled_from((0, 1, 1023, 65535, 65536, MAX_PID, MAX_PID + 1, 2**64)) | (
        st.integers(-5, 10**25)
    )
    text = numbers.map(str) | st.sampled_from(
        ("", " ", "\n", "+80", "-1", "0x50", "08080", "80.0", "1e3", "\u0661\u0662", "9" * 5000)
    )
    pad = st.sampled_from(("", "\n", " ", "\t", "\r\n", "\x00", "\n\n", " x"))
    return st.tuples(pad, text, pad).map(lambda p: "".join(p).encode("utf-8"))


def net_near_valid(name: str) -> st.SearchStrategy[bytes]:
    """net_near_valid: the near-valid strategy of the target called ``name``."""
    table = {
        "net.frame": frame_near,
        "net.frame.stream": stream_near,
        "net.status": status_near,
        "net.fleet": lambda: fleet_near(fleet_samples()),
        "net.keys": keys_near,
        "net.number": number_near,
    }
    return table[name]()
