"""impl.messages: what a client says to the vault and what the vault answers.

Plain values. ``impl.wire`` gives each one a canonical byte encoding and a strict decoder;
``impl.session`` seals requests to the fleet's HPKE key and responses to the fresh
response key a request carries. Fields that are secrets are ``Secret`` values, so a repr of a
message never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

from impl.method import Method
from impl.redact import Secret

# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class RegisterPassword:
    """Register ``secret`` (the root key R) behind a password.

    ``access_key`` is Argon2id(password, ``salt``) computed on the client: the password
    itself never leaves the client. The HSM keeps only a verifier derived from it.

    ``(replaces, attempts)`` is the version of the user's record the registration is made
    for (``(0, 0)``: no record yet); the vault registers only at exactly that version
    (``docs/channel.rst``, rule 1). Replacing a *live* record also needs ``proof`` =
    ``impl.service.replace_proof(its secret)`` and a record proved since its last charge
    (rule 3); otherwise ``proof`` is empty.
    """

    user: str
    replaces: int
    attempts: int
    proof: Secret
    salt: bytes
    access_key: Secret
    secret: Secret


@dataclass(frozen=True)
class RegisterPasskey:
    """Register a passkey: the credential's public key (COSE) and the server share S.

    ``replaces``, ``attempts`` and ``proof`` as for ``RegisterPassword``.
    """

    user: str
    replaces: int
    attempts: int
    proof: Secret
    credential_id: bytes
    cose_public_key: bytes
    prf_salt: bytes
    server_share: Secret


@dataclass(frozen=True)
class BeginRecovery:
    """Ask what a recovery needs: the record's version, and its salt or challenge.

    Charges nothing and changes nothing (anyone may send it, the operator included).
    """

    user: str


@dataclass(frozen=True)
class RecoverPassword:
    """One password guess at version ``(registration, attempts)``: charged one attempt
    before it is compared; a guess at any other version is ``Stale`` and charged nothing."""

    user: str
    registration: int
    attempts: int
    access_key: Secret


@dataclass(frozen=True)
class RecoverPasskey:
    """One passkey assertion over the challenge of version ``(registration, attempts)``
    (``impl.service.passkey_challenge``): charged, as a password guess is."""

    user: str
    registration: int
    attempts: int
    credential_id: bytes
    authenticator_data: bytes
    client_data_json: bytes
    signature: bytes


@dataclass(frozen=True)
class RetireRecord:
    """Rotation: the user's record moved to a newer fleet; retire (delete) it here.

    Sent right after a ``Released``, with ``proof`` = HKDF(the released secret,
    "vaultbench retire v1"): only the one who just received the secret can retire the
    record, and only while no attempt was charged since (the vault's ``proved`` flag), at
    exactly version ``(registration, attempts)``.
    """

    user: str
    registration: int
    attempts: int
    proof: Secret


Request = (
    RegisterPassword
    | RegisterPasskey
    | BeginRecovery
    | RecoverPassword
    | RecoverPasskey
    | RetireRecord
)

# -------------------------------------------------------------------------- responses


@dataclass(frozen=True)
class Registered:
    registration: int


@dataclass(frozen=True)
class PasswordRecoveryInfo:
    registration: int
    attempts: int
    salt: bytes


@dataclass(frozen=True)
class PasskeyRecoveryInfo:
    registration: int
    attempts: int
    challenge: bytes
    credential_id: bytes
    prf_salt: bytes


@dataclass(frozen=True)
class Released:
    """The vault released the registration's secret: R (password) or S (passkey)."""

    secret: Secret


@dataclass(frozen=True)
class WrongGuess:
    remaining: int


@dataclass(frozen=True)
class Destroyed:
    pass


@dataclass(frozen=True)
class NoRecord:
    pass


@dataclass(frozen=True)
class Refused:
    """The vault refused a well-formed request it cannot serve (e.g. stale registration)."""

    reason: str


@dataclass(frozen=True)
class Retired:
    """The record moved to a newer fleet and was deleted here: nothing to guess against."""


@dataclass(frozen=True)
class Stale:
    """The request named a version the record is no longer at (a replay, or a request that
    lost a race): nothing was compared, charged or changed. ``(registration, attempts)``
    is the record's current version (``(0, 0)`` when there is none), so the client can
    ask again; anyone may learn it from ``BeginRecovery`` anyway."""

    registration: int
    attempts: int


Response = (
    Registered
    | PasswordRecoveryInfo
    | PasskeyRecoveryInfo
    | Released
    | WrongGuess
    | Destroyed
    | NoRecord
    | Refused
    | Retired
    | Stale
)

__all__ = [
    "BeginRecovery",
    "Destroyed",
    "Method",
    "NoRecord",
    "PasskeyRecoveryInfo",
    "PasswordRecoveryInfo",
    "RecoverPasskey",
    "RecoverPassword",
    "Refused",
    "RegisterPasskey",
    "RegisterPassword",
    "Registered",
    "Released",
    "Request",
    "Response",
    "RetireRecord",
    "Retired",
    "Stale",
    "WrongGuess",
]
