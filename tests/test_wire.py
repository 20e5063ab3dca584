"""impl.wire: Hypothesis round trips and strict decoding of every message type."""

from __future__ import annotations

import contextlib
import re
import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl import messages
from impl.errors import WireError
from impl.messages import (
    BeginRecovery,
    Destroyed,
    NoRecord,
    RecoverPassword,
    Refused,
    RegisterPassword,
    Released,
    WrongGuess,
)
from impl.redact import Secret
from impl.wire import (
    FORMAT_VERSION,
    MESSAGE_FORMATS,
    REQUEST_TYPES,
    RESPONSE_TYPES,
    FieldFormat,
    Kind,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)

SECRET_BYTES = b"\xa5" * 32


def _text(f: FieldFormat) -> st.SearchStrategy[str]:
    return (
        st.text(min_size=0, max_size=f.max_len // 4)
        .map(lambda s: s.encode("utf-8", "ignore").decode("utf-8"))
        .filter(lambda s: f.min_len <= len(s.encode()) <= f.max_len)
    )


def _field(f: FieldFormat) -> st.SearchStrategy[object]:
    if f.kind is Kind.U32:
        return st.integers(0, 2**32 - 1)
    if f.kind is Kind.TEXT:
        return _text(f)
    raw = st.binary(min_size=f.min_len, max_size=min(f.max_len, 80))
    return raw.map(Secret) if f.kind is Kind.SECRET else raw


def _message(cls: type) -> st.SearchStrategy[object]:
    fields = {f.name: _field(f) for f in MESSAGE_FORMATS[cls].fields}
    return st.builds(cls, **fields)


REQUESTS = st.one_of([_message(t) for t in REQUEST_TYPES])
RESPONSES = st.one_of([_message(t) for t in RESPONSE_TYPES])


def _decoder(message: object) -> typing.Callable[[bytes], object]:
    return decode_request if isinstance(message, REQUEST_TYPES) else decode_response


def test_every_message_type_has_a_format() -> None:
    assert set(REQUEST_TYPES) == set(typing.get_args(messages.Request))
    assert set(RESPONSE_TYPES) == set(typing.get_args(messages.Response))
    tags = [fmt.tag for fmt in MESSAGE_FORMATS.values()]
    assert len(set(tags)) == len(tags)
    for cls, fmt in MESSAGE_FORMATS.items():
        names = [f.name for f in fmt.fields]
        assert names == list(cls.__dataclass_fields__), cls.__name__


@pytest.mark.parametrize("cls", REQUEST_TYPES, ids=lambda c: c.__name__)
@given(data=st.data())
def test_request_round_trip(cls: type, data: st.DataObject) -> None:
    message = data.draw(_message(cls))
    encoded = encode_request(message)  # type: ignore[arg-type]
    assert encoded[:2] == bytes([FORMAT_VERSION, MESSAGE_FORMATS[cls].tag])
    assert decode_request(encoded) == message
    assert encode_request(decode_request(encoded)) == encoded


@pytest.mark.parametrize("cls", RESPONSE_TYPES, ids=lambda c: c.__name__)
@given(data=st.data())
def test_response_round_trip(cls: type, data: st.DataObject) -> None:
    message = data.draw(_message(cls))
    encoded = encode_response(message)  # type: ignore[arg-type]
    assert decode_response(encoded) == message
    assert encode_response(decode_response(encoded)) == encoded


@given(message=st.one_of(REQUESTS, RESPONSES))
def test_every_truncation_is_a_wire_error(message: object) -> None:
    encoded = _encode_any(message)
    for cut in range(len(encoded)):
        with pytest.raises(WireError):
            _decoder(message)(encoded[:cut])


@given(message=st.one_of(REQUESTS, RESPONSES), extra=st.binary(min_size=1, max_size=8))
def test_trailing_bytes_rejected(message: object, extra: bytes) -> None:
    with pytest.raises(WireError, match="trailing"):
        _decoder(message)(_encode_any(message) + extra)


@given(data=st.binary(max_size=400))
def test_random_bytes_only_wire_errors(data: bytes) -> None:
    for decode in (decode_request, decode_response):
        with contextlib.suppress(WireError):
            decode(data)


@given(data=st.binary(min_size=1, max_size=200), tag=st.integers(0, 255))
def test_random_body_under_valid_header(data: bytes, tag: int) -> None:
    for decode in (decode_request, decode_response):
        with contextlib.suppress(WireError):
            decode(bytes([FORMAT_VERSION, tag]) + data)


def _encode_any(message: object) -> bytes:
    if isinstance(message, REQUEST_TYPES):
        return encode_request(message)
    assert isinstance(message, RESPONSE_TYPES)
    return encode_response(message)


# ------------------------------------------------------------------- specific refusals


def test_request_and_response_tags_do_not_mix() -> None:
    with pytest.raises(WireError, match="unknown type tag 0x87"):
        decode_request(encode_response(NoRecord()))
    with pytest.raises(WireError, match="unknown type tag 0x03"):
        decode_response(encode_request(BeginRecovery("alice")))


def test_bad_version_and_tag() -> None:
    good = encode_request(BeginRecovery("alice"))
    # Format 1 carried no record versions: its requests must not be read as format 2.
    with pytest.raises(WireError, match="expected format version 2, found 1"):
        decode_request(b"\x01" + good[1:])
    with pytest.raises(WireError, match="unknown type tag 0x7f"):
        decode_request(b"\x02\x7f" + good[2:])
    with pytest.raises(WireError, match="header"):
        decode_request(b"")


def test_user_bounds_and_utf8() -> None:
    with pytest.raises(WireError, match=r"BeginRecovery.user: expected 1..128 bytes, found 0"):
        encode_request(BeginRecovery(""))
    with pytest.raises(WireError, match="found 129"):
        encode_request(BeginRecovery("x" * 129))
    assert decode_request(encode_request(BeginRecovery("é" * 64))) == BeginRecovery("é" * 64)
    with pytest.raises(WireError, match="UTF-8"):
        encode_request(BeginRecovery("\ud800"))
    for bad in (b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"a\x80"):
        raw = bytes([FORMAT_VERSION, 0x03, 0, len(bad)]) + bad
        with pytest.raises(WireError, match="expected valid UTF-8"):
            decode_request(raw)
    with pytest.raises(WireError, match=re.escape("expected 1..128 bytes, found 200")):
        decode_request(bytes([FORMAT_VERSION, 0x03, 0, 200]) + b"x" * 200)


def test_encoder_refuses_out_of_range_values() -> None:
    with pytest.raises(WireError, match=re.escape("0..4294967295, found -1")):
        encode_response(WrongGuess(-1))
    with pytest.raises(WireError, match="found 4294967296"):
        encode_response(WrongGuess(2**32))
    with pytest.raises(WireError, match="expected an int, found bool"):
        encode_response(WrongGuess(True))
    with pytest.raises(WireError, match=re.escape("access_key: expected 32..32 bytes, found 31")):
        encode_request(RecoverPassword("a", 1, 0, Secret(b"k" * 31)))
    with pytest.raises(WireError, match="expected a Secret, found bytes"):
        encode_request(RecoverPassword("a", 1, 0, b"k" * 32))  # type: ignore[arg-type]
    with pytest.raises(WireError, match=re.escape("salt: expected 16..64 bytes, found 8")):
        encode_request(
            RegisterPassword("a", 0, 0, Secret(b""), b"s" * 8, Secret(b"k" * 32), Secret(b"r"))
        )
    with pytest.raises(WireError, match="not a request"):
        encode_request(Destroyed())  # type: ignore[arg-type]
    with pytest.raises(WireError, match="not a response"):
        encode_response(BeginRecovery("a"))  # type: ignore[arg-type]


def test_decoder_refuses_wrong_secret_length_without_echo() -> None:
    # version, tag, user "a", registration 1, attempts 0, then a 31-byte access key
    body = bytes([FORMAT_VERSION, 0x04, 0, 1, ord("a"), 0, 0, 0, 1, 0, 0, 0, 0, 0, 31])
    body += SECRET_BYTES[:31]
    with pytest.raises(WireError) as info:
        decode_request(body)
    assert "RecoverPassword.access_key: expected 32..32 bytes, found 31" in str(info.value)
    assert "a5" not in str(info.value)
    assert "\\xa5" not in str(info.value)


def test_refused_reason_may_be_empty_but_not_huge() -> None:
    assert decode_response(encode_response(Refused(""))) == Refused("")
    with pytest.raises(WireError):
        encode_response(Refused("x" * 1025))


def test_reprs_hide_secrets() -> None:
    messages_with_secrets: list[object] = [
        RegisterPassword(
            "alice", 0, 0, Secret(b""), b"s" * 16, Secret(SECRET_BYTES), Secret(SECRET_BYTES)
        ),
        RecoverPassword("alice", 1, 0, Secret(SECRET_BYTES)),
        Released(Secret(SECRET_BYTES)),
        messages.RegisterPasskey(
            "alice", 1, 2, Secret(b"q" * 32), b"i", b"k", b"p" * 16, Secret(SECRET_BYTES)
        ),
    ]
    for message in messages_with_secrets:
        for text in (repr(message), str(message)):
            assert "redacted" in text
            assert "a5" not in text
            assert "\\xa5" not in text
