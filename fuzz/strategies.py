"""fuzz.strategies: the three kinds of bad input, as Hypothesis strategies.

- ``random_inputs``: arbitrary bytes (up to twice the longest genuine sample, at most
  4 KiB);
- ``mutated_inputs``: a genuine sample with one to four mutations: bit flips, byte sets
  to interesting values, truncation, extension, deletion, insertion, duplication of a
  range, splices with another sample, and length-field edits (1, 2, 4 or 8 bytes at a
  position overwritten with 0, 1, the value +-1, the input's length, or all ones);
- ``near_valid_inputs``: structured inputs built by each format's grammar with one or
  more fields wrong: bounds +-1, wrong tags and counts, non-minimal varints and DER
  lengths, invalid UTF-8 and lone surrogates, JSON with wrong types, duplicate or
  unknown fields, non-canonical base64, checkpoint notes with odd lines, recovery codes
  with look-alikes, erasure marks and confusable Unicode, blobs with chunks dropped,
  duplicated or reordered, certificates with odd names, dates and extensions, and so on.

Every strategy draws its choices from Hypothesis, so a failure shrinks and replays.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import struct
from collections.abc import Callable

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.x509.oid import NameOID
from hypothesis import strategies as st

from fuzz.samples import LOG_ORIGIN, context, pad
from fuzz.targets import Target, join
from impl.auditlog import SIGNATURE_PREFIX
from impl.crypto.x509 import OID_ATTESTATION_DESCRIPTION, OID_ATTESTED_KEY
from impl.wire import MESSAGE_FORMATS, REQUEST_TYPES, RESPONSE_TYPES, Kind

MAX_INPUT = 4096
_INTERESTING_BYTES = (0x00, 0x01, 0x02, 0x7F, 0x80, 0x81, 0xFE, 0xFF, 0x20, 0x0A, 0x22, 0x5C)
_INVALID_UTF8 = (
    b"\xff",
    b"\xc0\x80",  # overlong NUL
    b"\xed\xa0\x80",  # a UTF-16 surrogate encoded in UTF-8
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xe2\x82",  # truncated sequence
    b"\x80",
)
_ODD_TEXT = (
    "",
    " ",
    "\x00",
    "\n",
    "\u00e9",
    "\u2603",
    "\U0001f600",
    "\u212a",  # Kelvin sign: upper-cases to K
    "\u0130",  # I with dot above
    "\u0131",  # dotless i
    "\uff21",  # fullwidth A
    "\u0660",  # Arabic-Indic digit zero
    "\u200b",  # zero-width space
    "\ufeff",
    "\ud800",  # a lone surrogate (only reachable through text targets)
)


def input_limit(target: Target) -> int:
    """input_limit: the longest random input for ``target``."""
    longest = max(len(sample) for sample in target.samples())
    return min(MAX_INPUT, max(64, 2 * longest))


def random_inputs(target: Target) -> st.SearchStrategy[bytes]:
    """random_inputs: arbitrary bytes for ``target``."""
    return st.binary(max_size=input_limit(target))


# ---------------------------------------------------------------------------- mutations


def _be(value: int, width: int) -> bytes:
    return (value % (1 << (8 * width))).to_bytes(width, "big")


@st.composite
def mutate(draw: st.DrawFn, data: bytes, others: tuple[bytes, ...]) -> bytes:
    """mutate: ``data`` with one to four mutations (see the module docstring)."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 9))
        n = len(out)
        pos = draw(st.integers(0, max(0, n - 1)))
        if op == 0 and n:  # flip a bit
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == 1 and n:  # set a byte
            out[pos] = draw(st.sampled_from(_INTERESTING_BYTES) | st.integers(0, 255))
        elif op == 2:  # truncate
            del out[draw(st.integers(0, n)) :]
        elif op == 3:  # extend
            out += draw(st.binary(min_size=1, max_size=16))
        elif op == 4 and n:  # delete a range
            end = draw(st.integers(pos, min(n, pos + 32)))
            del out[pos:end]
        elif op == 5:  # insert bytes
            out[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == 6 and n:  # duplicate a range
            end = draw(st.integers(pos, min(n, pos + 64)))
            out[end:end] = out[pos:end]
        elif op == 7:  # splice with another sample
            other = draw(st.sampled_from(others))
            cut = draw(st.integers(0, len(other)))
            out = out[:pos] + bytearray(other[cut:])
        elif op == 8 and n:  # edit a length field
            width = draw(st.sampled_from((1, 2, 4, 8)))
            current = int.from_bytes(out[pos : pos + width], "big")
            value = draw(
                st.sampled_from(
                    (0, 1, current + 1, current - 1, n, n - pos, (1 << (8 * width)) - 1, 0x80)
                )
            )
            out[pos : pos + width] = _be(value, width)
        elif op == 9 and n:  # an ASCII edit (text formats)
            out[pos] = draw(st.sampled_from(b' \n\t",{}[]:\\-?=+/0A~'))
    return bytes(out[:MAX_INPUT])


def mutated_inputs(target: Target) -> st.SearchStrategy[bytes]:
    """mutated_inputs: genuine samples of ``target`` with mutations."""
    samples = target.samples()
    return st.sampled_from(samples).flatmap(lambda sample: mutate(sample, samples))


def maybe_mutated(
    data: st.SearchStrategy[bytes], others: tuple[bytes, ...]
) -> st.SearchStrategy[bytes]:
    """maybe_mutated: ``data`` as it is, or mutated (half the time)."""
    return st.one_of(data, data.flatmap(lambda d: mutate(d, others or (d,))))


# ------------------------------------------------------------------ near-valid: shared


def _bytes_of(n: int) -> st.SearchStrategy[bytes]:
    """Exactly ``n`` bytes, cheaply: a short random pattern repeated."""
    if n <= 64:
        return st.binary(min_size=n, max_size=n)
    return st.binary(min_size=1, max_size=8).map(lambda p: (p * (n // len(p) + 1))[:n])


def _utf8(min_len: int, max_len: int) -> st.SearchStrategy[bytes]:
    """UTF-8 text, sometimes with an invalid sequence, its length near the bounds."""
    valid = st.lists(
        st.characters(codec="utf-8") | st.sampled_from(_ODD_TEXT[:-1]), max_size=40
    ).map(lambda parts: "".join(parts).encode("utf-8"))
    invalid = st.tuples(valid, st.sampled_from(_INVALID_UTF8), valid).map(b"".join)
    sized = st.sampled_from(sorted({max(0, min_len - 1), min_len, max_len, max_len + 1})).map(
        lambda n: ("u" * n).encode()
    )
    return st.one_of(valid, invalid, sized)


def _length_near(lo: int, hi: int) -> st.SearchStrategy[int]:
    edges = sorted({max(0, lo - 1), lo, hi, hi + 1, (lo + hi) // 2})
    return st.sampled_from(edges) | st.integers(0, min(hi + 2, 300))


@st.composite
def _prefixed(draw: st.DrawFn, content: bytes, width: int) -> bytes:
    """A length prefix of ``width`` bytes (usually right, sometimes off) and ``content``."""
    n = len(content)
    declared = draw(st.sampled_from((n, n, n, n + 1, n - 1, 0, (1 << (8 * width)) - 1)))
    return _be(declared, width) + content


# -------------------------------------------------------------------- near-valid: wire


@st.composite
def wire_near(draw: st.DrawFn, requests: bool) -> bytes:
    """A request or response built field by field with lengths near the bounds."""
    types = REQUEST_TYPES if requests else RESPONSE_TYPES
    cls = draw(st.sampled_from(types))
    fmt = MESSAGE_FORMATS[cls]
    version = draw(st.sampled_from((1, 1, 1, 1, 0, 2, 255)))
    tag = draw(st.sampled_from((fmt.tag,) * 6 + (0x00, 0x07, 0x80, 0x8A, 0xFF, 0x01, 0x81)))
    out = bytearray((version, tag))
    for f in fmt.fields:
        if draw(st.integers(0, 30)) == 0:
            break  # a field left out
        if f.kind is Kind.U32:
            out += _be(draw(st.sampled_from((0, 1, 2**32 - 1)) | st.integers(0, 2**32 - 1)), 4)
            continue
        if f.kind is Kind.TEXT:
            raw = draw(_utf8(f.min_len, f.max_len))
        else:
            raw = draw(_length_near(f.min_len, f.max_len).flatmap(_bytes_of))
        out += draw(_prefixed(raw, 2))
    if draw(st.integers(0, 8)) == 0:
        out += draw(st.binary(min_size=1, max_size=4))
    return bytes(out)


# ---------------------------------------------------------------- near-valid: peer wire

u64_edges = st.sampled_from((0, 1, 2**32 - 1, 2**32, 2**63, 2**64 - 1)) | st.integers(0, 2**64 - 1)


@st.composite
def peer_near(draw: st.DrawFn, kind: str) -> bytes:
    """Peer encodings from valid values at their bounds, sometimes mutated: the
    grammar's own encoder builds the structure, the mutation breaks one part of it."""
    from fuzz import peer_values

    value = draw(peer_values.strategy(kind))
    encoded = peer_values.encode(kind, value)
    if draw(st.booleans()):
        return encoded
    return draw(mutate(encoded, (encoded,)))


# ---------------------------------------------------------------- near-valid: statement


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@st.composite
def _pb_varint(draw: st.DrawFn, value: int) -> bytes:
    encoded = _varint(value)
    if draw(st.integers(0, 6)) == 0:  # non-minimal: a redundant continuation byte
        encoded = encoded[:-1] + bytes([encoded[-1] | 0x80, 0x00])
    return encoded


@st.composite
def statement_near(draw: st.DrawFn) -> bytes:
    """A protobuf SignatureMessage with fields reordered, repeated, unknown, of the wrong
    wire type, with non-minimal varints or lengths past the end."""
    digest_len = draw(st.sampled_from((32, 32, 32, 31, 33, 0)))
    epoch = draw(u64_edges | st.sampled_from((2**64, 2**70)))
    epoch_body = b"\x08" + draw(_pb_varint(epoch))
    namespace = draw(_utf8(1, 255))
    fields = [
        (1, 0, draw(_pb_varint(draw(st.sampled_from((1, 1, 1, 2, 0, 2**32))))), None),
        (2, 2, namespace, None),
        (3, 0, draw(_pb_varint(draw(u64_edges))), None),
        (4, 2, epoch_body, None),
        (5, 2, draw(_bytes_of(digest_len)), None),
    ]
    edit = draw(st.integers(0, 5))
    if edit == 1:
        fields = draw(st.permutations(fields))
    elif edit == 2:
        fields.insert(draw(st.integers(0, 5)), draw(st.sampled_from(fields)))
    elif edit == 3:
        fields.insert(draw(st.integers(0, 5)), (draw(st.integers(6, 40)), 0, b"\x01", None))
    elif edit == 4:
        i = draw(st.integers(0, 4))
        number, wire, body, _ = fields[i]
        fields[i] = (number, draw(st.sampled_from((0, 1, 2, 3, 5, 7))), body, None)
    elif edit == 5:
        del fields[draw(st.integers(0, 4))]
    out = bytearray()
    for number, wire, body, _ in fields:
        out += draw(_pb_varint(number << 3 | wire))
        if wire == 2:
            out += draw(_pb_varint(max(0, len(body) + draw(st.sampled_from((0, 0, 0, 1, -1))))))
        out += body
    return bytes(out)


# ---------------------------------------------------------------- near-valid: fleet file

_JSON_ODD_VALUES: tuple[object, ...] = (
    None,
    True,
    0,
    -1,
    1.0,
    1e3,
    10**30,
    "",
    "x" * 65,
    "\u00e9",
    "\ud800",
    [],
    {},
    [1],
    {"a": 1},
)


@st.composite
def fleet_file_near(draw: st.DrawFn) -> bytes:
    """A fleet-key file's JSON with one or two fields changed, then serialized the
    canonical way or another (whitespace, key order, escapes, duplicate keys)."""
    document = json.loads(draw(st.sampled_from(context().fleet_files)))
    for _ in range(draw(st.integers(1, 2))):
        edit = draw(st.integers(0, 9))
        container: object = document
        if edit in (1, 2, 3, 6, 7, 9):
            keys = document.get("keys")
            if not isinstance(keys, list) or not keys:
                continue  # an earlier edit took the list away
            if edit in (1, 2, 3):
                container = draw(st.sampled_from(keys))
        elif edit == 4:
            container = document.get("consensus")
        if not isinstance(container, dict) or not container:
            continue
        field = draw(st.sampled_from(sorted(container)))
        if edit in (0, 1, 4):
            container[field] = draw(st.sampled_from(_JSON_ODD_VALUES) | st.integers(-2, 70))
        elif edit == 2:  # base64 variants of a key
            try:
                raw = base64.b64decode(str(container.get("key", "")) + "==")
            except ValueError:  # an earlier edit put something else there
                raw = bytes(32)
            container["key"] = draw(
                st.sampled_from(
                    (
                        base64.b64encode(raw).decode().rstrip("="),
                        base64.urlsafe_b64encode(raw).decode(),
                        base64.b64encode(raw).decode() + "=",
                        " " + base64.b64encode(raw).decode(),
                        base64.b64encode(raw[:-1]).decode(),
                        base64.b64encode(raw + b"\x00").decode(),
                        base64.b64encode(bytes(len(raw))).decode(),
                    )
                )
            )
        elif edit == 3:
            del container[field]
        elif edit == 5:
            document[draw(st.sampled_from(("extra", "Epoch", "keys ")))] = 1
        elif edit == 6:
            keys = list(document["keys"])
            document["keys"] = draw(st.permutations(keys))
        elif edit == 7:
            keys = list(document["keys"])
            keys.append(draw(st.sampled_from(keys)))
            document["keys"] = keys
        elif edit == 8:
            document["firmware"] = str(document.get("firmware")).upper()
        elif edit == 9:
            document["keys"] = document["keys"][: draw(st.integers(0, 3))]
    style = draw(st.integers(0, 5))
    if style == 0:
        text = json.dumps(document, sort_keys=True, indent=1)
    elif style == 1:
        text = json.dumps(document, separators=(",", ":"))
    elif style == 2:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    elif style == 3:  # a duplicated top-level field
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        text = text[:-1] + ',"epoch":1}'
    elif style == 4:
        text = json.dumps(document, sort_keys=True, separators=(",", ":")) + "\n"
    else:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8", errors="surrogatepass")


# ------------------------------------------------------------ near-valid: bundle, frame


@st.composite
def bundle_near(draw: st.DrawFn) -> bytes:
    """A bundle framed from parts: files, statements, signatures and chains, each
    genuine, mutated or the wrong length, with consistent or off-by-one lengths."""
    ctx = context()
    file_bytes = draw(maybe_mutated(st.sampled_from(ctx.fleet_files), ctx.fleet_files))
    statement = draw(st.sampled_from(ctx.statements) | statement_near() | st.binary(max_size=8))
    out = bytearray((draw(st.sampled_from((1, 1, 1, 0, 2))),))
    out += draw(_prefixed(file_bytes, 4))
    out += draw(_prefixed(statement, 2))
    out += draw(_length_near(64, 64).flatmap(_bytes_of))
    out.append(draw(st.integers(0, 255)))
    out += draw(_bytes_of(64))
    labels = draw(
        st.lists(
            st.sampled_from(
                (
                    b"session-hpke",
                    b"replica-identity/0",
                    b"replica-identity/1",
                    b"",
                    b"\xff",
                    b"a" * 65,
                )
            ),
            max_size=4,
        )
    )
    out.append(draw(st.sampled_from((len(labels), len(labels), len(labels) + 1, 255))))
    for label in labels:
        out += draw(_prefixed(label, 1))
        out += draw(_prefixed(draw(st.binary(max_size=8)), 4))
    return bytes(out)


@st.composite
def frame_near(draw: st.DrawFn) -> bytes:
    """A response frame from parts with consistent or off lengths."""
    ctx = context()
    out = bytearray((draw(st.sampled_from((1, 1, 1, 0, 2))),))
    out += draw(_prefixed(draw(st.sampled_from(ctx.bundles) | st.binary(max_size=4)), 4))
    out += draw(st.binary(min_size=2, max_size=2))
    out += draw(_length_near(64, 64).flatmap(_bytes_of))
    out += draw(_prefixed(draw(st.binary(max_size=32)), 4))
    return bytes(out)


@st.composite
def leaf_near(draw: st.DrawFn) -> bytes:
    """Statement bytes (genuine or near-valid), a signature of about 64 bytes, a key id."""
    ctx = context()
    statement = draw(st.sampled_from(ctx.statements) | statement_near())
    signature = draw(_length_near(64, 64).flatmap(_bytes_of))
    return statement + signature + draw(st.binary(max_size=2))


# ------------------------------------------------------------ near-valid: checkpoints


_SIZE_TEXT = st.sampled_from(("0", "3", "01", "-1", "+1", "1e3", " 1", "1 ", "", "\u0663")) | (
    st.integers(0, 2**70).map(str)
)
_LONG_DIGITS = st.integers(4000, 5000).map(lambda n: "1" * n)


@st.composite
def checkpoint_body_near(draw: st.DrawFn, long_sizes: bool = False) -> str:
    """A checkpoint body: origin, size, root, extensions, each possibly odd."""
    origin = draw(st.sampled_from((LOG_ORIGIN, LOG_ORIGIN, "", "other", LOG_ORIGIN + " ")))
    size = draw(_SIZE_TEXT | _LONG_DIGITS if long_sizes else _SIZE_TEXT)
    root_raw = draw(_length_near(32, 32).flatmap(_bytes_of))
    root = base64.b64encode(root_raw).decode()
    root = draw(st.sampled_from((root, root, root.rstrip("="), root + "=", "!" + root[1:])))
    extensions = draw(
        st.lists(st.sampled_from(("ext", "", " ", "\x7f", "\u2603", "\t")), max_size=3)
    )
    lines = [origin, size, root, *extensions]
    if draw(st.integers(0, 5)) == 0:
        lines = lines[: draw(st.integers(0, len(lines)))]
    return "".join(line + "\n" for line in lines)


@st.composite
def checkpoint_note_near(draw: st.DrawFn) -> bytes:
    """A signed note: a body and signature lines (genuine, foreign, doubled, malformed)."""
    ctx = context()
    genuine = draw(st.sampled_from(ctx.checkpoint_notes)).decode("utf-8")
    body, _, signatures = genuine.partition("\n\n")
    if draw(st.booleans()):
        body = draw(checkpoint_body_near())[:-1]
    genuine_line = signatures.rstrip("\n")
    blob = base64.b64encode(draw(st.binary(min_size=0, max_size=72))).decode()
    line = st.sampled_from(
        (
            genuine_line,
            genuine_line,
            f"{SIGNATURE_PREFIX}other.example {blob}",
            f"{SIGNATURE_PREFIX}{LOG_ORIGIN} {blob}",
            f"{SIGNATURE_PREFIX}{LOG_ORIGIN}  {blob}",
            f"- {LOG_ORIGIN} {blob}",
            f"{SIGNATURE_PREFIX}{LOG_ORIGIN} {blob[:-1]}",
            f"{SIGNATURE_PREFIX}{LOG_ORIGIN}",
            "",
        )
    )
    lines = draw(st.lists(line, min_size=0, max_size=4))
    separator = draw(st.sampled_from(("\n\n", "\n\n", "\n", "\n\n\n")))
    text = body + separator + "".join(x + "\n" for x in lines)
    if draw(st.integers(0, 5)) == 0:
        text = text.rstrip("\n")
    return text.encode("utf-8", errors="surrogatepass")


@st.composite
def log_near(draw: st.DrawFn) -> bytes:
    """A saved log: entry lines with odd JSON (wrong types, surrogates, huge numbers,
    nesting, missing or extra fields), and the genuine checkpoint."""
    ctx = context()
    entries, note = draw(st.sampled_from(ctx.saved_logs[1:]))
    lines = entries.split(b"\n")[:-1]
    i = draw(st.integers(0, len(lines) - 1))
    record = json.loads(lines[i])
    edit = draw(st.integers(0, 6))
    field = draw(st.sampled_from(sorted(record)))
    if edit == 0:
        record[field] = draw(st.sampled_from(_JSON_ODD_VALUES))
    elif edit == 1:
        del record[field]
    elif edit == 2:
        record["extra"] = 1
    elif edit == 3:
        record["namespace"] = draw(st.sampled_from(("\ud800", "\u00e9", "", "x" * 300)))
    elif edit == 4:
        record[field] = draw(st.sampled_from((2**64, 2**64 - 1, -1, 10**40)))
    elif edit == 5:
        depth = draw(st.integers(1, 200))
        record[field] = json.loads("[" * depth + "]" * depth)
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if edit == 6:
        text = json.dumps(record, sort_keys=False, indent=draw(st.sampled_from((None, 0))))
    lines[i] = text.encode("ascii")
    return join((b"".join(line + b"\n" for line in lines), note))


# ----------------------------------------------------------------- near-valid: codes


@st.composite
def key64_near(draw: st.DrawFn) -> bytes:
    """64-ish hex digits with separators, odd characters and lengths near 64."""
    n = draw(st.sampled_from((63, 64, 64, 64, 65, 0, 128)))
    alphabet = "0123456789abcdefABCDEF"
    digits = draw(st.text(st.sampled_from(alphabet), min_size=n, max_size=n))
    chars = list(digits)
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(chars)))
        chars.insert(pos, draw(st.sampled_from((" ", "-", "\t", "\n", "\r", "g", "G", *_ODD_TEXT))))
    if draw(st.integers(0, 10)) == 0:
        chars = chars * 4
    return "".join(chars).encode("utf-8", errors="surrogatepass")


@st.composite
def recovery_near(draw: st.DrawFn) -> bytes:
    """A genuine code with typos, look-alikes, erasure marks and confusable Unicode."""
    from impl.codes import ALPHABET

    genuine = draw(st.sampled_from(context().recovery_texts)).decode()
    chars = [c for c in genuine if c != "-"]
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(chars) - 1))
        chars[pos] = draw(
            st.sampled_from(ALPHABET)
            | st.sampled_from(("?", "B", "G", "I", "O", "b", "o", "i", "g", "1", "0", *_ODD_TEXT))
        )
    edit = draw(st.integers(0, 4))
    if edit == 1:
        del chars[draw(st.integers(0, len(chars) - 1))]
    elif edit == 2:
        chars.insert(draw(st.integers(0, len(chars))), draw(st.sampled_from(ALPHABET)))
    elif edit == 3:
        chars = chars * draw(st.integers(2, 11))
    separator = draw(st.sampled_from(("-", " ", "", "\n", "--")))
    groups = ["".join(chars[i : i + 4]) for i in range(0, len(chars), 4)]
    return separator.join(groups).encode("utf-8", errors="surrogatepass")


# ------------------------------------------------------------------ near-valid: blobs


@st.composite
def blob_header_near(draw: st.DrawFn) -> bytes:
    """A blob header from fields: magic, version, method id, sizes at their bounds."""
    magic = draw(st.sampled_from((b"VBBK", b"VBBK", b"VBBK", b"vbbk", b"VBB")))
    version = draw(st.sampled_from((1, 1, 0, 2, 255)))
    method = draw(st.integers(0, 6))
    chunk = draw(st.sampled_from((0, 1, 65536, 1 << 24, (1 << 24) + 1, 2**32 - 1)))
    metadata = draw(st.binary(max_size=16))
    meta_len = draw(
        st.sampled_from(
            (len(metadata),) * 3 + (len(metadata) + 1, 1 << 16, (1 << 16) + 1, 2**32 - 1)
        )
    )
    header = (
        magic
        + bytes((version, method))
        + draw(_bytes_of(32))
        + draw(_bytes_of(7))
        + struct.pack(">II", chunk, meta_len)
        + metadata
    )
    return header[: draw(st.integers(0, len(header)))] if draw(st.integers(0, 6)) == 0 else header


@st.composite
def blob_near(draw: st.DrawFn) -> bytes:
    """A genuine blob with STREAM-level edits: chunks dropped, duplicated, swapped,
    truncated at a boundary, or another blob's chunks spliced in."""
    from impl.blob import FIXED_HEADER_LEN, read_header

    ctx = context()
    blob = ctx.blobs[0]
    header = read_header(blob)
    head = blob[: len(header)]
    stride = header.chunk_size + 16
    body = blob[len(header) :]
    chunks = [body[i : i + stride] for i in range(0, len(body), stride)]
    edit = draw(st.integers(0, 5))
    if edit == 0 and len(chunks) > 1:
        del chunks[draw(st.integers(0, len(chunks) - 1))]
    elif edit == 1:
        chunks.insert(draw(st.integers(0, len(chunks))), draw(st.sampled_from(chunks)))
    elif edit == 2:
        chunks = draw(st.permutations(chunks))
    elif edit == 3:
        chunks = chunks[: draw(st.integers(0, len(chunks)))]
    elif edit == 4:
        other = ctx.blobs[1]
        chunks.append(other[len(read_header(other)) :])
    elif edit == 5:
        head = draw(blob_header_near())[:FIXED_HEADER_LEN] + head[FIXED_HEADER_LEN:]
    return head + b"".join(chunks)


# ---------------------------------------------------------------- near-valid: passkeys


@st.composite
def cose_near(draw: st.DrawFn) -> bytes:
    """COSE_Key maps with labels and values changed, canonical CBOR or not."""
    genuine = cbor2.loads(draw(st.sampled_from(context().cose_keys)))
    key: dict[object, object] = dict(genuine)
    edit = draw(st.integers(0, 5))
    label = draw(st.sampled_from(sorted(key, key=repr)))
    odd = st.sampled_from(
        (0, 1, 2, -7, -8, 3, b"", b"\x00" * 32, b"\xff" * 32, "x", None, 1.5, [1])
    )
    if edit == 0:
        key[label] = draw(odd)
    elif edit == 1:
        del key[label]
    elif edit == 2:
        key[draw(st.sampled_from((4, -4, "1", 1.0)))] = 1
    elif edit == 3:
        key[-2] = draw(_length_near(32, 32).flatmap(_bytes_of))
    encoded: bytes = cbor2.dumps(key, canonical=draw(st.booleans()))
    if edit == 4:
        encoded += draw(st.binary(min_size=1, max_size=3))
    return encoded


@st.composite
def assertion_parts_near(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """Authenticator data and client data JSON with one or more fields changed."""
    from impl.passkey import DEFAULT_ORIGIN, DEFAULT_RP_ID

    ctx = context()
    a = ctx.assertion
    rp_hash = a.authenticator_data[:32]
    if draw(st.integers(0, 5)) == 0:
        rp_hash = draw(_bytes_of(32))
    flags = draw(st.sampled_from((0x05, 0x05, 0x01, 0x04, 0x00, 0x45, 0xC5, 0xFF)))
    count = draw(st.sampled_from((0, 1, 2**32 - 1)) | st.integers(0, 2**32 - 1))
    authenticator_data = rp_hash + bytes([flags]) + struct.pack(">I", count)
    authenticator_data += draw(st.sampled_from((b"", b"", b"\xa0", b"\x00", b"\xa1\x01\x02")))
    if draw(st.integers(0, 8)) == 0:
        authenticator_data = authenticator_data[: draw(st.integers(0, 37))]
    challenge = base64.urlsafe_b64encode(a.challenge).decode().rstrip("=")
    client: dict[str, object] = {
        "type": draw(st.sampled_from(("webauthn.get", "webauthn.get", "webauthn.create", ""))),
        "challenge": draw(st.sampled_from((challenge, challenge, challenge + "=", "", "AAAA"))),
        "origin": draw(
            st.sampled_from(
                (DEFAULT_ORIGIN, DEFAULT_ORIGIN, "http://" + DEFAULT_RP_ID, "https://evil.example")
            )
        ),
    }
    cross = draw(st.sampled_from((False, False, True, None, "false", 0, "missing")))
    if cross != "missing":
        client["crossOrigin"] = cross
    if draw(st.integers(0, 6)) == 0:
        client["tokenBinding"] = draw(st.sampled_from(({"status": "present"}, "x", [], None)))
    text = json.dumps(client, separators=(",", ":"))
    style = draw(st.integers(0, 8))
    if style == 0:
        text = text[: draw(st.integers(0, len(text)))]
    elif style == 1:
        text = "[" * 300 + "]" * 300
    elif style == 2:
        text = json.dumps(client, indent=2)
    return authenticator_data, text.encode("utf-8")


# --------------------------------------------------------- near-valid: sealed plaintexts


@st.composite
def padded_near(draw: st.DrawFn, requests: bool) -> bytes:
    """A padded wire encoding (genuine or near-valid) with the padding right or wrong;
    for requests, behind a 32-byte response key."""
    ctx = context()
    genuine = ctx.requests if requests else ctx.responses
    encoded = draw(st.sampled_from(genuine) | wire_near(requests))
    padded = pad(encoded)
    edit = draw(st.integers(0, 5))
    if edit == 1:
        padded = encoded + bytes(-len(encoded) % 256)  # no 0x80
    elif edit == 2:
        padded = padded + bytes(256)  # a whole extra block
    elif edit == 3:
        padded = padded[:-1]
    elif edit == 4:
        padded = encoded + b"\x80\x01" + bytes(-(len(encoded) + 2) % 256)
    key = draw(_bytes_of(32)) if requests else b""
    if requests and draw(st.integers(0, 8)) == 0:
        key = key[: draw(st.integers(0, 31))]
    return key + padded


# ------------------------------------------------------------- near-valid: certificates


def _der_tlv(tag: int, content: bytes, long_form: bool = False) -> bytes:
    n = len(content)
    if n < 0x80 and not long_form:
        return bytes([tag, n]) + content
    length = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


@st.composite
def der_near(draw: st.DrawFn, description: bool) -> bytes:
    """The DER of our two extensions with types, lengths and integers changed."""
    from fuzz.samples import FIRMWARE

    integer = st.sampled_from((b"\x01", b"\x00", b"\x00\x01", b"\xff", b"", b"\x01\x00\x00")) | (
        st.integers(0, 70000).map(lambda v: v.to_bytes(v.bit_length() // 8 + 1, "big"))
    )
    utf8 = _utf8(0, 64)
    if description:
        items = [
            (0x02, draw(integer)),
            (0x0C, draw(st.sampled_from((b"replica-identity", b"session-hpke")) | utf8)),
            (0x02, draw(integer)),
            (0x04, draw(st.sampled_from((FIRMWARE, bytes(31), bytes(33))))),
        ]
    else:
        key_len = draw(st.sampled_from((32, 32, 31, 1216, 0)))
        items = [
            (
                0x0C,
                draw(st.sampled_from((b"ed25519", b"x25519", b"mlkem768-x25519", b"rsa")) | utf8),
            ),
            (0x04, draw(_bytes_of(key_len))),
        ]
    edit = draw(st.integers(0, 5))
    if edit == 1:
        i = draw(st.integers(0, len(items) - 1))
        items[i] = (draw(st.sampled_from((0x02, 0x04, 0x0C, 0x13, 0x30, 0x05))), items[i][1])
    elif edit == 2:
        del items[draw(st.integers(0, len(items) - 1))]
    elif edit == 3:
        items.append((0x02, b"\x01"))
    long_form = draw(st.integers(0, 5)) == 0
    content = b"".join(_der_tlv(tag, body, long_form) for tag, body in items)
    out = _der_tlv(0x30, content, long_form)
    if draw(st.integers(0, 6)) == 0:
        out += b"\x00"
    if draw(st.integers(0, 6)) == 0:
        out = bytes([0x30, 0x80]) + content + b"\x00\x00"  # BER indefinite length
    return out


_NAME_VALUES = st.sampled_from(("Acme HSM Root CA", "x", "\u2603", "a" * 64, "HSM-1"))


@st.composite
def certificate_near(draw: st.DrawFn) -> bytes:
    """A certificate built with odd but encodable fields: names, serials, dates, keys,
    constraints and extensions (ours with near-valid DER), signed by a throwaway key
    (Ed25519 mostly, ECDSA sometimes: a wrong algorithm)."""
    seed = draw(st.binary(min_size=32, max_size=32))
    signer = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, draw(_NAME_VALUES))]
        + ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme")] if draw(st.booleans()) else [])
    )
    subject_key = draw(st.integers(0, 2))
    public: ed25519.Ed25519PublicKey | x25519.X25519PublicKey | ec.EllipticCurvePublicKey
    if subject_key == 0:
        public = signer.public_key()
    elif subject_key == 1:
        public = x25519.X25519PrivateKey.from_private_bytes(seed).public_key()
    else:
        public = ec.derive_private_key(
            int.from_bytes(seed, "big") % 1000 + 1, ec.SECP256R1()
        ).public_key()
    years = st.sampled_from((1950, 1999, 2026, 2049, 2050, 9999))
    first, second = sorted((draw(years), draw(years)))
    not_before = dt.datetime(first, 1, 1, tzinfo=dt.UTC)
    not_after = dt.datetime(second, 6, 1, tzinfo=dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(draw(st.sampled_from((1, 2**64, 2**159 - 1)) | st.integers(1, 2**159 - 1)))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if draw(st.booleans()):
        ca = draw(st.booleans())
        path_length = draw(st.sampled_from((None, 0, 1, 5))) if ca else None
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length), critical=draw(st.booleans())
        )
    for oid in (OID_ATTESTATION_DESCRIPTION, OID_ATTESTED_KEY):
        if draw(st.booleans()):
            value = draw(der_near(oid == OID_ATTESTATION_DESCRIPTION) | st.binary(max_size=8))
            builder = builder.add_extension(
                x509.UnrecognizedExtension(oid, value), critical=draw(st.booleans())
            )
    if draw(st.integers(0, 4)) == 0:
        ecdsa = ec.derive_private_key(7, ec.SECP256R1())
        # Deterministic ECDSA (RFC 6979): the same draws give the same bytes, which
        # Hypothesis needs to replay and shrink.
        certificate = builder.sign(ecdsa, hashes.SHA256(), ecdsa_deterministic=True)
    else:
        certificate = builder.sign(signer, None)
    from cryptography.hazmat.primitives import serialization

    return certificate.public_bytes(serialization.Encoding.DER)


@st.composite
def pem_near(draw: st.DrawFn) -> bytes:
    """PEM text: genuine or near-valid DER, with odd armour and text around it."""
    der = draw(st.sampled_from(context().certificates) | certificate_near())
    body = base64.encodebytes(der).decode("ascii")
    label = draw(st.sampled_from(("CERTIFICATE", "CERTIFICATE", "X509 CRL", "PUBLIC KEY")))
    text = f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"
    edit = draw(st.integers(0, 4))
    if edit == 1:
        text = "junk\n" + text
    elif edit == 2:
        text = text + text
    elif edit == 3:
        text = text.replace("\n", "\r\n")
    elif edit == 4:
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode("ascii")


@st.composite
def chain_near(draw: st.DrawFn) -> bytes:
    """An attestation chain framing genuine, mutated or near-valid certificates."""
    from impl.attestation import AttestationChain

    ctx = context()
    genuine = AttestationChain.decode(draw(st.sampled_from(ctx.chains)))
    certificates = st.sampled_from(ctx.certificates) | certificate_near()
    device = genuine.device_der if draw(st.booleans()) else draw(certificates)
    leaf = genuine.attestation_der if draw(st.booleans()) else draw(certificates)
    out = bytearray(draw(st.sampled_from((b"VBAC\x01", b"VBAC\x01", b"VBAC\x02", b"VBAC"))))
    out += draw(_prefixed(device, 4))
    out += draw(_prefixed(leaf, 4))
    return bytes(out)


# ------------------------------------------------------------------ near-valid: keys

#: X25519 points of small order and non-canonical encodings (libsodium's blocklist).
X25519_EDGES = tuple(
    bytes.fromhex(h)
    for h in (
        "00" * 32,
        "01" + "00" * 31,
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
        "4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
        "d9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "dbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    )
)


@st.composite
def x25519_near(draw: st.DrawFn) -> bytes:
    return draw(st.sampled_from(X25519_EDGES))


@st.composite
def hybrid_near(draw: st.DrawFn) -> bytes:
    """An ML-KEM-768 key with coefficients pushed out of range, and an edge X25519 key."""
    genuine = bytearray(context().hybrid_public_keys[0])
    edit = draw(st.integers(0, 3))
    if edit == 0:  # a 12-bit coefficient >= q = 3329
        i = draw(st.integers(0, 383)) * 3
        genuine[i : i + 3] = b"\xff\xff\xff"
    elif edit == 1:
        genuine[1184:] = draw(st.sampled_from(X25519_EDGES))
    elif edit == 2:
        genuine[:1152] = b"\xff" * 1152
    return bytes(genuine)


@st.composite
def ed25519_near(draw: st.DrawFn) -> bytes:
    """Ed25519 encodings of small-order points, y >= p, and the sign bit on x = 0."""
    return draw(
        st.sampled_from(
            (
                bytes(32),
                b"\x01" + bytes(31),
                bytes(31) + b"\x80",
                b"\x01" + bytes(30) + b"\x80",
                bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
                bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
                bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
                bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
                bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
            )
        )
    )


# ----------------------------------------------------------------------- the dispatch


def _near_table() -> dict[str, Callable[[], st.SearchStrategy[bytes]]]:
    ctx = context()
    return {
        "wire.request": lambda: wire_near(True),
        "wire.response": lambda: wire_near(False),
        "peer_wire.message": lambda: peer_near("message"),
        "peer_wire.command": lambda: peer_near("command"),
        "peer_wire.ballot": lambda: peer_near("ballot"),
        "peer_wire.proposal": lambda: peer_near("proposal"),
        "peer_wire.snapshot": lambda: peer_near("snapshot"),
        "peer_wire.durable_state": lambda: peer_near("durable_state"),
        "statement": statement_near,
        "fleetkeys.file": fleet_file_near,
        "bundle": bundle_near,
        "ota.frame": frame_near,
        "auditlog.leaf": leaf_near,
        "auditlog.checkpoint": checkpoint_note_near,
        "auditlog.checkpoint.signed": lambda: checkpoint_body_near(long_sizes=True).map(
            lambda s: s.encode("utf-8", errors="surrogatepass")
        ),
        "auditlog.log": log_near,
        "codes.key64": key64_near,
        "codes.recovery": recovery_near,
        "blob.header": lambda: blob_header_near().flatmap(
            lambda h: st.sampled_from((h, h + ctx.blobs[0][len(h) :]))
        ),
        "blob.decrypt": blob_near,
        "passkey.cose": cose_near,
        "passkey.assertion": lambda: assertion_parts_near().map(
            lambda parts: join((*parts, ctx.assertion.signature))
        ),
        "passkey.assertion.signed": lambda: assertion_parts_near().map(join),
        "session.request": lambda: maybe_mutated(
            st.sampled_from(ctx.sealed_requests), ctx.sealed_requests
        ),
        "session.request.plaintext": lambda: padded_near(True),
        "session.response": lambda: maybe_mutated(
            st.sampled_from(ctx.sealed_responses), ctx.sealed_responses
        ),
        "session.response.plaintext": lambda: padded_near(False),
        "peer.envelope": lambda: st.sampled_from(ctx.envelopes).flatmap(
            lambda e: st.sampled_from(ctx.envelopes).map(lambda f: e[:29] + f[29:])
        ),
        "peer.envelope.payload": lambda: peer_near("message"),
        "x509.certificate": certificate_near,
        "x509.pem": pem_near,
        "x509.description": lambda: der_near(True),
        "x509.attested_key": lambda: der_near(False),
        "attestation.chain": chain_near,
        "attestation.verify": chain_near,
        "hpke.x25519": x25519_near,
        "hpke.hybrid": hybrid_near,
        "ed25519.verify_key": ed25519_near,
    }


def near_valid_inputs(target: Target) -> st.SearchStrategy[bytes]:
    """near_valid_inputs: the structured near-valid strategy of ``target``."""
    return _near_table()[target.name]()


def near_valid_names() -> frozenset[str]:
    """near_valid_names: the targets that have a near-valid strategy (all of them)."""
    return frozenset(_near_table())


__all__ = [
    "input_limit",
    "mutate",
    "mutated_inputs",
    "near_valid_inputs",
    "random_inputs",
]
