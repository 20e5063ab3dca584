"""impl.redact: ``Secret``, bytes that never show themselves.

Root keys, access keys, server shares, PRF outputs and released secrets travel inside
``Secret`` so that a ``repr``, a log line, an exception or a Hypothesis failure report
shows only their length. Comparison is constant-time.
"""

from __future__ import annotations

import hmac
from typing import Final


class Secret:
    """An immutable byte string whose value is never printed."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray):
            raise TypeError("Secret holds bytes")
        self._value: Final = bytes(value)

    def reveal(self) -> bytes:
        """The bytes themselves, for the cryptography that needs them."""
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"Secret(<{len(self._value)} bytes redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        # Hashing a secret would leak through hash-based containers' timing; refuse it.
        raise TypeError("Secret is not hashable")

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret cannot be pickled")


def ct_equal(a: bytes, b: bytes) -> bool:
    """Constant-time equality of two byte strings."""
    return hmac.compare_digest(a, b)
