"""impl.method: the protection methods, as the implementation names them.

The same four names as ``model.vault.Method`` and ``system.md``; ``impl/`` keeps its own
copy on purpose (``impl/`` never imports ``model/``), and ``tests/`` checks they agree.
"""

from __future__ import annotations

from enum import StrEnum


class Method(StrEnum):
    KEY64 = "key64"
    RECOVERY_CODE = "recovery-code"
    PASSWORD = "password"
    PASSKEY = "passkey"

    @property
    def uses_vault(self) -> bool:
        """True when the vault holds the recoverable secret (password, passkey)."""
        return self in (Method.PASSWORD, Method.PASSKEY)

    @property
    def wire_id(self) -> int:
        """The one-byte identifier used in blob headers and messages."""
        return _WIRE_IDS[self]

    @classmethod
    def from_wire_id(cls, value: int) -> Method:
        for method, ident in _WIRE_IDS.items():
            if ident == value:
                return method
        raise ValueError(f"unknown protection method id {value}")


_WIRE_IDS = {
    Method.KEY64: 1,
    Method.RECOVERY_CODE: 2,
    Method.PASSWORD: 3,
    Method.PASSKEY: 4,
}
