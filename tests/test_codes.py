"""Tests of impl.codes: the 64-digit key and the Reed-Solomon-checked recovery code."""

from __future__ import annotations

import contextlib
import random

import pytest
import reedsolo
from hypothesis import given
from hypothesis import strategies as st

from impl.codes import (
    ALPHABET,
    RECOVERY_CODE_INFO,
    ParsedCode,
    RecoveryCode,
    decode_key64,
    encode_key64,
    format_recovery_code,
    generate_recovery_code,
    parse_recovery_code,
    recovery_code_root_key,
)
from impl.crypto.symmetric import SeededRng, hkdf_sha256, sha256
from impl.errors import CodeFormatError
from impl.redact import Secret

KEY = Secret(bytes.fromhex("00112233445566778899aabbccddeeff" * 2))


def code_for(seed: int, identifier: int = 0) -> RecoveryCode:
    return generate_recovery_code(SeededRng(seed), identifier)


def replace(chars: str, position: int, new: str) -> str:
    return chars[:position] + new + chars[position + 1 :]


# -- the 64-digit key -------------------------------------------------------------------


def test_key64_format() -> None:
    text = encode_key64(KEY)
    groups = text.split(" ")
    assert len(groups) == 16
    assert all(len(g) == 4 for g in groups)
    assert text.replace(" ", "") == KEY.reveal().hex().upper()


@given(st.binary(min_size=32, max_size=32))
def test_key64_round_trip(raw: bytes) -> None:
    root = Secret(raw)
    text = encode_key64(root)
    assert decode_key64(text) == root
    assert decode_key64(text.lower()) == root
    assert decode_key64(text.replace(" ", "-")) == root
    assert decode_key64(text.replace(" ", "")) == root
    assert decode_key64("  " + text.replace(" ", "\n") + " ") == root


def test_key64_wrong_length_names_counts() -> None:
    text = encode_key64(KEY)
    with pytest.raises(CodeFormatError, match=r"found 63 hexadecimal digits.*64"):
        decode_key64(text[:-1])
    with pytest.raises(CodeFormatError, match="found 65 hexadecimal digits"):
        decode_key64(text + "A")
    with pytest.raises(CodeFormatError, match="found 0 "):
        decode_key64("")


def test_key64_bad_character_names_position_not_input() -> None:
    text = encode_key64(KEY)  # character 11 is the first of the third group
    bad = replace(text, 10, "G")
    with pytest.raises(CodeFormatError, match="character 11 ") as info:
        decode_key64(bad)
    message = str(info.value)
    assert text.replace(" ", "")[:8] not in message
    assert "G" not in message.replace("GF", "")


def test_key64_refuses_wrong_sizes_and_types() -> None:
    with pytest.raises(CodeFormatError):
        encode_key64(Secret(bytes(31)))
    with pytest.raises(CodeFormatError):
        decode_key64(b"00" * 32)  # type: ignore[arg-type]
    with pytest.raises(CodeFormatError, match="too long"):
        decode_key64("0" * 10_000)
    with pytest.raises(CodeFormatError, match="character 1 "):
        decode_key64("\uff10" * 64)  # full-width digits are not hexadecimal digits


# -- the recovery code: shape -------------------------------------------------------------


def test_recovery_code_shape() -> None:
    code = code_for(1, identifier=5)
    chars = code.reveal()
    assert len(chars) == 40
    assert set(chars) <= set(ALPHABET)
    assert code.version == 1
    assert chars[0] == ALPHABET[1]
    assert code.identifier == 5
    assert chars[1] == ALPHABET[5]
    assert len(code.entropy()) == 22
    assert code.entropy().reveal()[0] < 4  # 170 bits in 22 bytes: the top 6 bits are 0


def test_alphabet() -> None:
    assert len(ALPHABET) == 32 == len(set(ALPHABET))
    assert not set("BGIO") & set(ALPHABET)


def test_primitive_polynomial_is_one_reedsolo_finds() -> None:
    assert 0x409 in reedsolo.find_prime_polys(c_exp=10)


def test_format() -> None:
    code = code_for(2)
    text = format_recovery_code(code)
    groups = text.split("-")
    assert len(groups) == 10
    assert all(len(g) == 4 for g in groups)
    assert text.replace("-", "") == code.reveal()


@given(st.integers(0, 2**32), st.integers(0, 31))
def test_round_trip(seed: int, identifier: int) -> None:
    code = code_for(seed, identifier)
    for text in (
        format_recovery_code(code),
        code.reveal(),
        format_recovery_code(code).lower(),
        format_recovery_code(code).replace("-", " "),
        "  " + " ".join(code.reveal()) + "\n",
    ):
        parsed = parse_recovery_code(text)
        assert parsed == ParsedCode(code=code)
        assert parsed.code == code


def test_entropy_is_random() -> None:
    codes = {code_for(seed).reveal() for seed in range(50)}
    assert len(codes) == 50


def test_identifier_out_of_range() -> None:
    with pytest.raises(CodeFormatError, match="identifier"):
        generate_recovery_code(SeededRng(1), 32)
    with pytest.raises(CodeFormatError, match="identifier"):
        generate_recovery_code(SeededRng(1), -1)


# -- the recovery code: correction ------------------------------------------------------


@given(st.integers(0, 2**32), st.integers(0, 39), st.integers(1, 31))
def test_every_single_substitution_is_corrected(seed: int, position: int, shift: int) -> None:
    code = code_for(seed)
    chars = code.reveal()
    wrong = ALPHABET[(ALPHABET.index(chars[position]) + shift) % 32]
    parsed = parse_recovery_code(replace(chars, position, wrong))
    assert parsed.code == code
    assert parsed.corrected == (position + 1,)


def test_every_single_substitution_exhaustive_one_code() -> None:
    code = code_for(99)
    chars = code.reveal()
    for position in range(40):
        for wrong in ALPHABET:
            if wrong == chars[position]:
                continue
            parsed = parse_recovery_code(replace(chars, position, wrong))
            assert parsed.code == code
            assert parsed.corrected == (position + 1,)


@given(st.integers(0, 2**32), st.integers(0, 19), st.integers(1, 31), st.integers(1, 31))
def test_two_errors_in_one_pair_are_corrected(seed: int, pair: int, s1: int, s2: int) -> None:
    code = code_for(seed)
    chars = code.reveal()
    a, b = 2 * pair, 2 * pair + 1
    typed = replace(chars, a, ALPHABET[(ALPHABET.index(chars[a]) + s1) % 32])
    typed = replace(typed, b, ALPHABET[(ALPHABET.index(chars[b]) + s2) % 32])
    parsed = parse_recovery_code(typed)
    assert parsed.code == code
    assert parsed.corrected == (a + 1, b + 1)


def test_two_errors_in_different_pairs_detected_or_visibly_miscorrected() -> None:
    rng = random.Random(4)
    detected = 0
    trials = 400
    for trial in range(trials):
        code = code_for(trial)
        chars = code.reveal()
        p, q = sorted(rng.sample(range(20), 2))
        i, j = 2 * p + rng.randrange(2), 2 * q + rng.randrange(2)
        typed = replace(chars, i, ALPHABET[(ALPHABET.index(chars[i]) + rng.randrange(1, 32)) % 32])
        typed = replace(typed, j, ALPHABET[(ALPHABET.index(chars[j]) + rng.randrange(1, 32)) % 32])
        try:
            parsed = parse_recovery_code(typed)
        except CodeFormatError:
            detected += 1
            continue
        # The limit of distance 3: a different valid code, and the fix is reported.
        assert parsed.code != code
        assert parsed.corrected
        assert recovery_code_root_key(parsed.code, "u") != recovery_code_root_key(code, "u")
    assert detected >= 0.95 * trials


def test_lookalike_letters_are_normalised() -> None:
    # Find a code that contains 0, 1, 8 and 6 so that O, I, B, G all get exercised.
    for seed in range(500):
        code = code_for(seed)
        chars = code.reveal()
        if all(d in chars[2:] for d in "0186"):
            break
    typed = list(chars)
    positions = []
    for digit, letter in (("0", "o"), ("1", "I"), ("8", "B"), ("6", "g")):
        at = chars.index(digit, 2)
        typed[at] = letter
        positions.append(at + 1)
    parsed = parse_recovery_code("".join(typed))
    assert parsed.code == code
    assert parsed.corrected == ()
    assert parsed.normalized == tuple(sorted(positions))


# -- the recovery code: erasures --------------------------------------------------------


@given(st.integers(0, 2**32), st.lists(st.integers(0, 39), min_size=1, max_size=4))
def test_erasures_in_at_most_two_pairs_are_filled(seed: int, positions: list[int]) -> None:
    pairs = {p // 2 for p in positions}
    code = code_for(seed)
    chars = code.reveal()
    typed = chars
    for p in positions:
        typed = replace(typed, p, "?")
    if len(pairs) > 2:
        with pytest.raises(CodeFormatError, match="unreadable"):
            parse_recovery_code(typed)
        return
    parsed = parse_recovery_code(typed)
    assert parsed.code == code
    assert parsed.filled == tuple(sorted({p + 1 for p in positions}))
    assert parsed.corrected == ()


def test_one_erasure_plus_a_typo_elsewhere_is_detected() -> None:
    for seed in range(60):
        chars = code_for(seed).reveal()
        typed = replace(chars, 3, "?")
        k = 20 + seed % 20
        typed = replace(typed, k, ALPHABET[(ALPHABET.index(chars[k]) + 1) % 32])
        with pytest.raises(CodeFormatError):
            parse_recovery_code(typed)


def test_three_erased_pairs_refused() -> None:
    chars = code_for(3).reveal()
    typed = "?" + chars[1:4] + "?" + chars[5:10] + "?" + chars[11:]
    with pytest.raises(CodeFormatError, match="3 pairs"):
        parse_recovery_code(typed)


# -- the recovery code: detection and bad input -------------------------------------------


@given(st.text(alphabet=ALPHABET, min_size=40, max_size=40))
def test_random_garbage_rejected_or_within_one_pair(garbage: str) -> None:
    try:
        parsed = parse_recovery_code(garbage)
    except CodeFormatError:
        return
    # Accepted: it must be a valid code differing from the input in at most one pair.
    fixed = parsed.code.reveal()
    diff = {i // 2 for i in range(40) if fixed[i] != garbage[i]}
    assert len(diff) <= 1
    assert tuple(i + 1 for i in range(40) if fixed[i] != garbage[i]) == parsed.corrected


def test_random_garbage_almost_always_rejected() -> None:
    rng = random.Random(7)
    accepted = 0
    trials = 1000
    for _ in range(trials):
        garbage = "".join(rng.choice(ALPHABET) for _ in range(40))
        try:
            parse_recovery_code(garbage)
        except CodeFormatError:
            continue
        accepted += 1
    # Expected about 2% / 32 (distance <= 1 from a codeword, and the version must match).
    assert accepted <= 10


def test_wrong_version_rejected() -> None:
    # A valid codeword with version 2: build it through the check-symbol encoder.
    from impl.codes import _RS, _pairs, _unpair

    values = [2, 0] + [7] * 34
    values += _unpair(_RS.encode(_pairs(values))[18:])
    text = "".join(ALPHABET[v] for v in values)
    with pytest.raises(CodeFormatError, match="version 2"):
        parse_recovery_code(text)
    with pytest.raises(CodeFormatError, match="version"):
        RecoveryCode(text)


@pytest.mark.parametrize("length", [0, 1, 39, 41, 80])
def test_wrong_length_names_count(length: int) -> None:
    text = (code_for(1).reveal() * 3)[:length]
    with pytest.raises(CodeFormatError, match=rf"found {length} code characters.*40"):
        parse_recovery_code(text)


@pytest.mark.parametrize("bad", ["!", "_", "é", "\uff10", "*", "."])
def test_bad_character_names_position(bad: str) -> None:
    chars = code_for(1).reveal()
    typed = format_recovery_code(code_for(1))[:10] + bad + format_recovery_code(code_for(1))[10:]
    # 10 characters of the formatted code hold 8 code characters: the bad one is the 9th.
    with pytest.raises(CodeFormatError, match="character 9 of the code") as info:
        parse_recovery_code(typed)
    assert chars[:8] not in str(info.value)


def test_too_long_and_wrong_type() -> None:
    with pytest.raises(CodeFormatError, match="too long"):
        parse_recovery_code("A" * 5000)
    with pytest.raises(CodeFormatError):
        parse_recovery_code(None)  # type: ignore[arg-type]


def test_canonical_constructor_validates() -> None:
    chars = code_for(5).reveal()
    assert RecoveryCode(chars) == code_for(5)
    with pytest.raises(CodeFormatError, match="check"):
        RecoveryCode(replace(chars, 20, ALPHABET[(ALPHABET.index(chars[20]) + 1) % 32]))
    with pytest.raises(CodeFormatError):
        RecoveryCode(chars.lower())
    with pytest.raises(CodeFormatError):
        RecoveryCode(chars[:-1])


@given(st.text(max_size=120))
def test_fuzz_only_typed_errors(text: str) -> None:
    with contextlib.suppress(CodeFormatError):
        parse_recovery_code(text)
    with contextlib.suppress(CodeFormatError):
        decode_key64(text)


# -- key derivation and secrecy -----------------------------------------------------------


def test_root_key_derivation_matches_spec() -> None:
    code = code_for(11)
    entropy = 0
    for char in code.reveal()[2:36]:
        entropy = (entropy << 5) | ALPHABET.index(char)
    expected = hkdf_sha256(
        entropy.to_bytes(22, "big"),
        b"vaultbench recovery-code root key v1",
        salt=sha256(b"alice"),
    )
    assert RECOVERY_CODE_INFO == b"vaultbench recovery-code root key v1"
    key = recovery_code_root_key(code, "alice")
    assert isinstance(key, Secret)
    assert key.reveal() == expected
    assert len(key) == 32


def test_root_key_depends_on_user_id_and_code() -> None:
    code = code_for(11)
    assert recovery_code_root_key(code, "alice") == recovery_code_root_key(code, "alice")
    assert recovery_code_root_key(code, "alice") != recovery_code_root_key(code, "bob")
    assert recovery_code_root_key(code, "alice") != recovery_code_root_key(code_for(12), "alice")


def test_root_key_ignores_identifier_and_check_but_not_entropy() -> None:
    a = code_for(11, identifier=0)
    b = code_for(11, identifier=3)  # same entropy, another identifier
    assert a.entropy() == b.entropy()
    assert recovery_code_root_key(a, "u") == recovery_code_root_key(b, "u")


def test_user_id_must_be_encodable() -> None:
    with pytest.raises(CodeFormatError):
        recovery_code_root_key(code_for(1), "\ud800")


def test_reprs_hide_values() -> None:
    code = code_for(21, identifier=4)
    chars = code.reveal()
    parsed = parse_recovery_code(replace(chars, 17, ALPHABET[(ALPHABET.index(chars[17]) + 1) % 32]))
    key = recovery_code_root_key(code, "alice")
    for shown in (
        repr(code),
        str(code),
        repr(parsed),
        str(parsed),
        repr(key),
        repr(code.entropy()),
    ):
        assert chars not in shown
        assert chars[2:10] not in shown
        assert key.reveal().hex()[:16] not in shown
    assert repr(code) == "RecoveryCode(version=1, identifier=4, <redacted>)"
    assert "corrected=(18,)" in repr(parsed)


def test_recovery_code_not_hashable() -> None:
    with pytest.raises(TypeError):
        hash(code_for(1))


def test_other_reedsolo_users_do_not_break_the_code() -> None:
    # reedsolo keeps its field in module globals; an 8-bit codec made elsewhere must not
    # disturb the 10-bit one, and ours must not disturb it.
    other = reedsolo.RSCodec(nsym=4)
    encoded = other.encode(b"hello")
    code = code_for(8)
    chars = code.reveal()
    typed = replace(chars, 9, ALPHABET[(ALPHABET.index(chars[9]) + 3) % 32])
    assert parse_recovery_code(typed).code == code
    assert bytes(other.decode(encoded)[0]) == b"hello"
