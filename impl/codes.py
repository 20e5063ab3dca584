"""impl.codes: the two vault-less protection methods, the 64-digit key and the recovery code.

**The 64-digit key** (``key64``, WhatsApp): the 32-byte root key ``R`` itself, shown as 64
hexadecimal digits in 16 groups of 4 (upper case). Reading it back accepts either case and
ignores spaces, tabs, newlines and dashes. There is no check digit: a typo gives a different
``R``, and the backup then fails to decrypt with a typed ``BlobAuthenticationError``.

**The recovery code** (``recovery-code``, Messenger's format): 40 characters over the
32-symbol alphabet ``ACDEFHJKLMNPQRSTUVWXYZ0123456789`` (each character is 5 bits)::

    position  1        2           3..36                 37..40
              version  identifier  entropy (34 chars,     check (4 chars)
                                   170 bits)

Meta names an erasure code over GF(32), but a Reed-Solomon code over GF(32) is at most 31
symbols long and the code has 40 characters, so the construction here is ours:

- the 40 characters are read as 20 *pairs* (characters 1-2, 3-4, ..., 39-40), and each
  pair is one symbol of GF(2^10) (first character = high 5 bits, second = low 5 bits);
- the 20 symbols form a codeword of a shortened Reed-Solomon code over GF(2^10) with 18
  data symbols (characters 1..36) and 2 check symbols (characters 37..40), computed by the
  ``reedsolo`` library with primitive polynomial x^10 + x^3 + 1 (``0x409``), generator 2
  and first consecutive root 0.

The code has minimum distance 3 (in pairs). What the decoder does:

- **corrects one wrong symbol**: any single wrong character, or two wrong characters in
  the same aligned pair (e.g. characters 17 and 18);
- **fills up to two known erasures**: a character typed as ``?`` marks its pair unreadable;
  two marked pairs (up to four characters) are recovered. With one marked pair any other
  error is still detected; with two, the check symbols are used up;
- **always detects** when what it was given is not a codeword and it cannot repair it
  with one of the above: it never returns something that is not a valid code.

Its limit: two wrong characters in two *different* pairs put the input at distance 2
from the true code, and about 2% of such inputs lie at distance 1 from *another*
codeword, so the decoder "corrects" them into a different, valid-looking code (the
version-character check catches 31 in 32 of those). Then the derived key is wrong and
the backup fails to decrypt with a typed ``BlobAuthenticationError``; nothing is ever
decrypted under a wrong code. Every returned correction names its positions
(``ParsedCode.corrected``), so a UI can show "we fixed a typo at position 17" and let the
user confirm.

Look-alike letters: the alphabet leaves out exactly B, G, I and O because they are
confused with 8, 6, 1 and 0. The parser maps ``B->8``, ``G->6``, ``I->1``, ``O->0`` (after
upper-casing). This is sound: none of those letters is a valid character, so the mapping
never changes a valid code, and when a guess is wrong it is just one more wrong character
for the decoder to correct or detect. Mapped positions are reported in
``ParsedCode.normalized``. Every other letter and digit is in the alphabet; spaces and
dashes are ignored; any other character is a ``CodeFormatError`` naming its position.

Keys: ``recovery_code_root_key(code, user_id)`` is HKDF-SHA256 (RFC 5869) with input key
material the 170 entropy bits (a big-endian integer in 22 bytes), salt SHA-256 of the
UTF-8 user id, and info ``b"vaultbench recovery-code root key v1"``.

No value here ever shows itself: ``RecoveryCode``'s ``repr`` shows only its version and
identifier, and no error message repeats the input or any character of it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import reedsolo

from impl.crypto.symmetric import KEY_LEN, Rng, hkdf_sha256, sha256
from impl.errors import CodeFormatError
from impl.redact import Secret, ct_equal

__all__ = [
    "ALPHABET",
    "RECOVERY_CODE_INFO",
    "RECOVERY_CODE_LEN",
    "RECOVERY_CODE_VERSION",
    "ParsedCode",
    "RecoveryCode",
    "decode_key64",
    "encode_key64",
    "format_recovery_code",
    "generate_recovery_code",
    "parse_recovery_code",
    "recovery_code_root_key",
]

# ---------------------------------------------------------------------------------------
# The 64-digit key
# ---------------------------------------------------------------------------------------

KEY64_DIGITS: Final = 2 * KEY_LEN
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_SEPARATORS: Final = frozenset(" \t\r\n-")
_MAX_INPUT_LEN: Final = 400  # far more than any spacing of a key or a code needs


def encode_key64(root: Secret) -> str:
    """``R`` as 64 upper-case hexadecimal digits in 16 groups of 4 separated by spaces."""
    if not isinstance(root, Secret):
        raise CodeFormatError("the root key must be passed as a Secret")
    if len(root) != KEY_LEN:
        raise CodeFormatError(f"a 64-digit key encodes {KEY_LEN} bytes, got {len(root)}")
    digits = root.reveal().hex().upper()
    return " ".join(digits[i : i + 4] for i in range(0, KEY64_DIGITS, 4))


def decode_key64(text: str) -> Secret:
    """Read a 64-digit key back: any case; spaces, tabs, newlines and dashes ignored."""
    if not isinstance(text, str):
        raise CodeFormatError("a 64-digit key is text")
    if len(text) > _MAX_INPUT_LEN:
        raise CodeFormatError(f"input is {len(text)} characters long, too long for a 64-digit key")
    digits: list[str] = []
    for position, char in enumerate(text, start=1):
        if char in _SEPARATORS:
            continue
        if char not in _HEX:
            raise CodeFormatError(
                f"character {position} of the input is not a hexadecimal digit (0-9, A-F)"
            )
        digits.append(char)
    if len(digits) != KEY64_DIGITS:
        raise CodeFormatError(
            f"found {len(digits)} hexadecimal digits, a 64-digit key has {KEY64_DIGITS}"
        )
    return Secret(bytes.fromhex("".join(digits)))


# ---------------------------------------------------------------------------------------
# Reed-Solomon over GF(2^10): a typed adapter around reedsolo
# ---------------------------------------------------------------------------------------

ALPHABET: Final = "ACDEFHJKLMNPQRSTUVWXYZ0123456789"
_INDEX: Final = {char: value for value, char in enumerate(ALPHABET)}
_LOOKALIKES: Final = {"B": "8", "G": "6", "I": "1", "O": "0"}
_ERASURE_MARK: Final = "?"

RECOVERY_CODE_LEN: Final = 40
RECOVERY_CODE_VERSION: Final = 1
ENTROPY_CHARS: Final = 34
ENTROPY_BITS: Final = 5 * ENTROPY_CHARS  # 170
ENTROPY_BYTES: Final = (ENTROPY_BITS + 7) // 8  # 22
RECOVERY_CODE_INFO: Final = b"vaultbench recovery-code root key v1"

GF_EXP: Final = 10
GF_PRIM: Final = 0x409  # x^10 + x^3 + 1, primitive over GF(2)
RS_N: Final = RECOVERY_CODE_LEN // 2  # 20 symbols
RS_K: Final = 18
RS_NSYM: Final = RS_N - RS_K  # 2 check symbols: minimum distance 3


class _Uncorrectable(Exception):
    """Internal: the word is not within the decoder's reach of any codeword."""


# reedsolo keeps its field tables (and, for fields above GF(2^8), its array constructor)
# in module globals. RSCodec restores the tables on each call but not the constructor, so
# another user of reedsolo with an 8-bit field would break us. The adapter serialises its
# calls and swaps all four globals in and out around each one.
_REEDSOLO_LOCK: Final = threading.Lock()
_REEDSOLO_GLOBALS: Final = ("gf_log", "gf_exp", "field_charac", "_bytearray")


class _GF1024ReedSolomon:
    """Systematic RS(20, 18) over GF(2^10): ``encode`` appends 2 check symbols."""

    def __init__(self) -> None:
        with _REEDSOLO_LOCK:
            saved = _save_reedsolo()
            try:
                self._codec: Any = reedsolo.RSCodec(
                    nsym=RS_NSYM, nsize=RS_N, fcr=0, prim=GF_PRIM, generator=2, c_exp=GF_EXP
                )
                self._globals = _save_reedsolo()
            finally:
                _restore_reedsolo(saved)

    def encode(self, data: Sequence[int]) -> list[int]:
        if len(data) != RS_K or not all(0 <= s < (1 << GF_EXP) for s in data):
            raise CodeFormatError("internal: bad data symbols for the recovery-code RS code")
        word = [int(s) for s in self._call("encode", list(data))]
        if len(word) != RS_N:
            raise CodeFormatError("internal: Reed-Solomon encoder gave a word of wrong length")
        return word

    def decode(self, word: Sequence[int], erasures: Sequence[int]) -> list[int]:
        """The nearest codeword within reach (1 error, or <= 2 known erasures)."""
        if len(erasures) > RS_NSYM:
            raise _Uncorrectable
        try:
            if erasures:
                result = self._call(
                    "decode", list(word), erase_pos=list(erasures), only_erasures=True
                )
            else:
                result = self._call("decode", list(word))
        except (reedsolo.ReedSolomonError, ValueError, IndexError, ZeroDivisionError):
            raise _Uncorrectable from None
        full = [int(s) for s in result[1]]
        # Belt and braces: the answer must be a codeword of the right shape.
        if len(full) != RS_N or self.encode(full[:RS_K]) != full:
            raise _Uncorrectable
        return full

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with _REEDSOLO_LOCK:
            saved = _save_reedsolo()
            try:
                _restore_reedsolo(self._globals)
                return getattr(self._codec, name)(*args, **kwargs)
            finally:
                _restore_reedsolo(saved)


def _save_reedsolo() -> dict[str, Any]:
    return {name: getattr(reedsolo, name) for name in _REEDSOLO_GLOBALS}


def _restore_reedsolo(values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(reedsolo, name, value)


_RS: Final = _GF1024ReedSolomon()


# ---------------------------------------------------------------------------------------
# The recovery code
# ---------------------------------------------------------------------------------------


class RecoveryCode:
    """A valid 40-character recovery code; its ``repr`` never shows the characters."""

    __slots__ = ("_chars",)

    def __init__(self, chars: str) -> None:
        """Wrap a canonical code (40 alphabet characters, valid check, known version).

        For user input use ``parse_recovery_code``, which also normalises and corrects.
        """
        if not isinstance(chars, str) or len(chars) != RECOVERY_CODE_LEN:
            raise CodeFormatError(f"a canonical recovery code has {RECOVERY_CODE_LEN} characters")
        if not all(c in _INDEX for c in chars):
            raise CodeFormatError("a canonical recovery code uses only the 32-symbol alphabet")
        symbols = _pairs([_INDEX[c] for c in chars])
        if _RS.encode(symbols[:RS_K]) != symbols:
            raise CodeFormatError("the recovery code's check characters do not match")
        version = _INDEX[chars[0]]
        if version != RECOVERY_CODE_VERSION:
            raise CodeFormatError(
                f"unsupported recovery-code version {version}, expected {RECOVERY_CODE_VERSION}"
            )
        self._chars: Final = Secret(chars.encode("ascii"))

    @property
    def version(self) -> int:
        return _INDEX[chr(self._chars.reveal()[0])]

    @property
    def identifier(self) -> int:
        return _INDEX[chr(self._chars.reveal()[1])]

    def reveal(self) -> str:
        """The 40 characters, without separators, for display or storage by the client."""
        return self._chars.reveal().decode("ascii")

    def entropy(self) -> Secret:
        """The 170 entropy bits as a big-endian integer in 22 bytes."""
        value = 0
        for char in self.reveal()[2 : 2 + ENTROPY_CHARS]:
            value = (value << 5) | _INDEX[char]
        return Secret(value.to_bytes(ENTROPY_BYTES, "big"))

    def __repr__(self) -> str:
        return f"RecoveryCode(version={self.version}, identifier={self.identifier}, <redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecoveryCode):
            return NotImplemented
        return ct_equal(self._chars.reveal(), other._chars.reveal())

    def __hash__(self) -> int:
        raise TypeError("RecoveryCode is not hashable")

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("RecoveryCode cannot be pickled")


@dataclass(frozen=True)
class ParsedCode:
    """The result of reading a code typed by a user.

    Positions are 1-based and count code characters only (separators are skipped), as a
    UI would number them: ``corrected`` were wrong and fixed by the check characters,
    ``filled`` were marked ``?`` and recovered, ``normalized`` held a look-alike letter
    (B, G, I, O) read as its digit.
    """

    code: RecoveryCode
    corrected: tuple[int, ...] = ()
    filled: tuple[int, ...] = ()
    normalized: tuple[int, ...] = ()


def generate_recovery_code(rng: Rng, identifier: int = 0) -> RecoveryCode:
    """A fresh code: version 1, the given identifier (0..31), 170 random bits."""
    if isinstance(identifier, bool) or not isinstance(identifier, int):
        raise CodeFormatError("the identifier is an int")
    if not 0 <= identifier < len(ALPHABET):
        raise CodeFormatError(f"identifier {identifier} out of range 0..{len(ALPHABET) - 1}")
    raw = rng.random_bytes(ENTROPY_BYTES)
    entropy = int.from_bytes(raw, "big") >> (8 * ENTROPY_BYTES - ENTROPY_BITS)
    values = [RECOVERY_CODE_VERSION, identifier]
    values += [(entropy >> (5 * (ENTROPY_CHARS - 1 - j))) & 31 for j in range(ENTROPY_CHARS)]
    check = _RS.encode(_pairs(values))[RS_K:]
    values += _unpair(check)
    return RecoveryCode("".join(ALPHABET[v] for v in values))


def format_recovery_code(code: RecoveryCode) -> str:
    """The code in 10 groups of 4 characters separated by dashes."""
    if not isinstance(code, RecoveryCode):
        raise CodeFormatError("format_recovery_code takes a RecoveryCode")
    chars = code.reveal()
    return "-".join(chars[i : i + 4] for i in range(0, RECOVERY_CODE_LEN, 4))


def parse_recovery_code(text: str) -> ParsedCode:
    """Read a code as typed: normalise, then correct or fill with the check characters."""
    if not isinstance(text, str):
        raise CodeFormatError("a recovery code is text")
    if len(text) > _MAX_INPUT_LEN:
        raise CodeFormatError(f"input is {len(text)} characters long, too long for a recovery code")
    typed: list[int | None] = []  # alphabet value, or None for an erasure mark
    normalized: list[int] = []
    for char in text:
        if char in _SEPARATORS:
            continue
        position = len(typed) + 1
        if char == _ERASURE_MARK:
            typed.append(None)
            continue
        upper = char.upper() if char.isascii() else char
        if upper in _LOOKALIKES:
            upper = _LOOKALIKES[upper]
            normalized.append(position)
        value = _INDEX.get(upper)
        if value is None:
            raise CodeFormatError(
                f"character {position} of the code is not in the recovery-code alphabet "
                "(letters, digits, spaces, dashes, or ? for an unreadable character)"
            )
        typed.append(value)
    if len(typed) != RECOVERY_CODE_LEN:
        raise CodeFormatError(
            f"found {len(typed)} code characters, a recovery code has {RECOVERY_CODE_LEN}"
        )
    erased_pairs = sorted({i // 2 for i, v in enumerate(typed) if v is None})
    if len(erased_pairs) > RS_NSYM:
        raise CodeFormatError(
            f"{len(erased_pairs)} pairs of characters are marked unreadable; "
            f"at most {RS_NSYM} pairs can be recovered"
        )
    values = [0 if v is None else v for v in typed]
    try:
        word = _RS.decode(_pairs(values), erased_pairs)
    except _Uncorrectable:
        raise CodeFormatError(
            "not a valid recovery code: the check characters do not match and no single "
            "typo explains the difference; please check the code"
        ) from None
    final = _unpair(word)
    filled = tuple(i + 1 for i, v in enumerate(typed) if v is None)
    corrected = tuple(
        i + 1 for i, (v, f) in enumerate(zip(typed, final, strict=True)) if v is not None and v != f
    )
    if final[0] != RECOVERY_CODE_VERSION:
        raise CodeFormatError(
            f"unsupported recovery-code version {final[0]}, expected {RECOVERY_CODE_VERSION}"
        )
    code = RecoveryCode("".join(ALPHABET[v] for v in final))
    return ParsedCode(code=code, corrected=corrected, filled=filled, normalized=tuple(normalized))


def recovery_code_root_key(code: RecoveryCode, user_id: str) -> Secret:
    """``R`` = HKDF-SHA256(entropy, salt = SHA-256(user id), info "... root key v1")."""
    if not isinstance(code, RecoveryCode):
        raise CodeFormatError("recovery_code_root_key takes a RecoveryCode")
    if not isinstance(user_id, str):
        raise CodeFormatError("the user id is text")
    try:
        encoded = user_id.encode("utf-8")
    except UnicodeEncodeError:
        raise CodeFormatError("the user id is not encodable as UTF-8") from None
    salt = sha256(encoded)
    return Secret(
        hkdf_sha256(code.entropy().reveal(), RECOVERY_CODE_INFO, length=KEY_LEN, salt=salt)
    )


def _pairs(values: Sequence[int]) -> list[int]:
    """Characters (5-bit values) two by two into GF(2^10) symbols, first = high bits."""
    return [(values[i] << 5) | values[i + 1] for i in range(0, len(values), 2)]


def _unpair(symbols: Sequence[int]) -> list[int]:
    out: list[int] = []
    for s in symbols:
        out += [s >> 5, s & 31]
    return out
