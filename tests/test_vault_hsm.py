"""The vault state machine and the HSM: bad input is refused with a typed error and
changes nothing; charge before check holds at the fault point; secrets stay hidden."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl.client import Client, ClientConfig, Destroyed, NoRecord, Recovered, WrongGuess
from impl.crypto.hpke import KemChoice
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.errors import DecryptionError, HsmUnavailable, VaultError, WireError
from impl.hsm import Hsm, HsmConfig, RecordView
from impl.messages import BeginRecovery, Refused, RegisterPassword
from impl.method import Method
from impl.redact import Secret
from impl.session import open_response, seal_request
from impl.store import MemoryLog
from impl.vault import (
    Charged,
    ConsumeAttempt,
    Destroy,
    PasskeyFactor,
    PasswordFactor,
    Register,
    SecretReleased,
    Settle,
    Vault,
    VaultPolicy,
    WrongSettled,
)

FAST = ClientConfig(argon2=Argon2Params.FAST)


def _factor() -> PasswordFactor:
    return PasswordFactor(salt=b"s" * 16, verifier=Secret(b"v" * 32))


def _hsm(**policy: object) -> Hsm:
    return Hsm(HsmConfig(policy=VaultPolicy(**policy)), rng=SeededRng(3))  # type: ignore[arg-type]


def _client(hsm: Hsm, user: str = "alice") -> Client:
    return Client(user, hsm.handle, hsm.fleet_public_key, config=FAST, rng=SeededRng(user))


# ------------------------------------------------------------------------ the vault


def test_vault_commands_in_order() -> None:
    vault = Vault()
    assert vault.apply(Register("alice", 0, 0, Method.PASSWORD, _factor(), Secret(b"r" * 32)))
    vault.apply(ConsumeAttempt("alice", 1, 0))
    vault.apply(Settle("alice", 1, 1, True))
    vault.apply(Destroy("alice", 1))
    record = vault.record("alice")
    assert record is not None
    assert record.destroyed
    assert record.attempts == 1
    assert record.secret.reveal() == b"", "destroying a record erases its secret"


@pytest.mark.parametrize(
    "command",
    [
        ConsumeAttempt("nobody", 1, 0),
        ConsumeAttempt("alice", 2, 0),  # stale registration
        ConsumeAttempt("alice", 1, 1),  # stale version: a replay of a charged guess
        Settle("alice", 1, 1, True),  # nothing charged yet
        Register("alice", 0, 0, Method.PASSWORD, _factor(), Secret(b"x" * 32)),  # a replay
        Register("bob", 0, 0, Method.KEY64, _factor(), Secret(b"r" * 32)),  # not a vault method
        Register("bob", 0, 0, Method.PASSWORD, PasskeyFactor(b"c", b"k", b"p" * 16), Secret(b"r")),
    ],
)
def test_vault_refuses_and_changes_nothing(command: object) -> None:
    vault = Vault()
    vault.apply(Register("alice", 0, 0, Method.PASSWORD, _factor(), Secret(b"r" * 32)))
    before = (vault.users(), vault.record("alice"))
    with pytest.raises(VaultError):
        vault.apply(command)  # type: ignore[arg-type]
    assert (vault.users(), vault.record("alice")) == before


def test_destroyed_record_refuses_every_command() -> None:
    vault = Vault()
    vault.apply(Register("alice", 0, 0, Method.PASSWORD, _factor(), Secret(b"r" * 32)))
    vault.apply(Destroy("alice", 1))
    for command in (
        ConsumeAttempt("alice", 1, 0),
        Settle("alice", 1, 1, True),
        Destroy("alice", 1),
    ):
        with pytest.raises(VaultError, match="destroyed"):
            vault.apply(command)


@pytest.mark.parametrize("bad", [{"max_attempts": 0}, {"variant": "no-such-variant"}])
def test_policy_rejects_bad_configuration(bad: dict[str, object]) -> None:
    with pytest.raises(VaultError):
        VaultPolicy(**bad)  # type: ignore[arg-type]


# -------------------------------------------------------------------------- the HSM


def test_garbage_to_the_hsm_is_refused_and_changes_nothing() -> None:
    hsm = _hsm()
    client = _client(hsm)
    client.enroll_password("pw")
    before = hsm.records()
    for garbage in (b"", b"\x00" * 10, b"\xff" * 2000):
        with pytest.raises((WireError, DecryptionError)):
            hsm.handle(garbage)
    assert hsm.records() == before
    assert hsm.requests_rejected == 3


@given(st.binary(max_size=400))
def test_any_bytes_give_a_typed_error(data: bytes) -> None:
    hsm = _hsm()
    with pytest.raises((WireError, DecryptionError)):
        hsm.handle(data)
    assert hsm.records() == []


def test_request_for_another_fleet_key_is_refused() -> None:
    ours, theirs = _hsm(), Hsm(rng=SeededRng(9))
    sealed, _ = seal_request(theirs.fleet_public_key, BeginRecovery("alice"), SeededRng(1))
    with pytest.raises(DecryptionError):
        ours.handle(sealed)


def test_malformed_registration_is_refused_without_a_record() -> None:
    hsm = _hsm()
    too_short = RegisterPassword(
        "alice", 0, 0, Secret(b""), b"s" * 16, Secret(b"a" * 31), Secret(b"r" * 32)
    )
    with pytest.raises(WireError):
        seal_request(hsm.fleet_public_key, too_short, SeededRng(1))
    # The wire allows secrets of 1..256 bytes; the vault wants a 32-byte root key.
    request = RegisterPassword(
        "alice", 0, 0, Secret(b""), b"s" * 16, Secret(b"a" * 32), Secret(b"r" * 16)
    )
    sealed, key = seal_request(hsm.fleet_public_key, request, SeededRng(1))
    answer = open_response(key, hsm.handle(sealed))
    assert isinstance(answer, Refused)
    assert hsm.records() == []


def test_unknown_fault_point() -> None:
    with pytest.raises(VaultError, match="fault point"):
        _hsm().arm_fault("before-breakfast")


def test_crash_after_charge_keeps_the_charge_and_gives_no_answer() -> None:
    hsm = _hsm()
    client = _client(hsm)
    enrollment = client.enroll_password("right")
    blob = client.backup(enrollment, b"data")
    hsm.arm_fault("after-charge")
    with pytest.raises(HsmUnavailable):
        client.recover_password(blob, "right")
    assert not hsm.is_up
    with pytest.raises(HsmUnavailable):
        client.recover_password(blob, "right")
    hsm.restart()
    assert hsm.records() == [RecordView("alice", Method.PASSWORD, 1, 1, False)]
    outcome = client.recover_password(blob, "right")
    assert isinstance(outcome, Recovered)
    assert outcome.plaintext == b"data"


def test_crash_at_the_limit_destroys_before_comparing() -> None:
    hsm = _hsm(max_attempts=3)
    client = _client(hsm)
    blob = client.backup(client.enroll_password("right"), b"data")
    assert client.recover_password(blob, "wrong") == WrongGuess(2)
    assert client.recover_password(blob, "wrong") == WrongGuess(1)
    hsm.arm_fault("after-charge")
    with pytest.raises(HsmUnavailable):
        client.recover_password(blob, "right")  # the third attempt is charged, never answered
    hsm.restart()
    assert client.recover_password(blob, "right") == Destroyed()


def test_check_before_charge_loses_the_charge_on_a_crash() -> None:
    hsm = _hsm(variant="check-before-charge")
    client = _client(hsm)
    blob = client.backup(client.enroll_password("right"), b"data")
    for _ in range(12):
        hsm.arm_fault("after-charge")
        assert isinstance(client.recover_password(blob, "wrong"), WrongGuess)
        hsm.restart()
    assert hsm.records()[0].attempts == 0, "every answer left, no charge was recorded"


def test_durable_log_survives_a_new_hsm_object() -> None:
    log = MemoryLog()
    first = Hsm(log=log, rng=SeededRng(1))
    client = _client(first)
    client.enroll_password("pw")
    assert len(log) == 1
    assert "commands" in repr(log)
    assert "pw" not in repr(log)


def test_no_record_and_re_registration() -> None:
    hsm = _hsm()
    client = _client(hsm)
    assert client.recover_password(client.backup(client.enroll_key64(), b"x"), "pw") == NoRecord()
    first = client.enroll_password("one")
    second = client.enroll_password("two")
    assert (first.registration, second.registration) == (1, 2)


def test_reprs_hide_secrets() -> None:
    hsm = _hsm()
    client = _client(hsm)
    enrollment = client.enroll_password("hunter2")
    text = repr(enrollment) + repr(hsm) + repr(client) + repr(hsm.records())
    assert enrollment.root_key.reveal().hex() not in text
    assert "hunter2" not in text
    assert "redacted" in repr(enrollment.root_key)


def test_post_quantum_fleet_key() -> None:
    hsm = Hsm(HsmConfig(kem=KemChoice.MLKEM768_X25519), rng=SeededRng(2))
    client = _client(hsm)
    blob = client.backup(client.enroll_password("pq"), b"quantum")
    outcome = client.recover_password(blob, "pq")
    assert isinstance(outcome, Recovered)
    assert outcome.plaintext == b"quantum"


def test_a_wrong_settlement_uses_its_own_charge_not_a_later_one() -> None:
    # On a fleet two guesses can be charged before either is settled. The wrong one,
    # charged first, must not destroy the record because of the second one's charge: the
    # second, a right guess with the last attempt, is released.
    vault = Vault(VaultPolicy(max_attempts=2))
    vault.apply(Register("alice", 0, 0, Method.PASSWORD, _factor(), Secret(b"r" * 32)))
    assert vault.apply(ConsumeAttempt("alice", 1, 0)) == Charged(1)
    assert vault.apply(ConsumeAttempt("alice", 1, 1)) == Charged(2)
    assert vault.apply(Settle("alice", 1, 1, False)) == WrongSettled(1, False)
    assert isinstance(vault.apply(Settle("alice", 1, 2, True)), SecretReleased)
    # settling a charge that never happened is refused
    with pytest.raises(VaultError, match="settlement"):
        vault.apply(Settle("alice", 1, 3, False))
