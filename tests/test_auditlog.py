"""The witness's audit log and the witness: Plexi's rules, checkpoints, persistence.

Rules refused leave the log unchanged; checkpoints are C2SP signed notes checked against
the Go ``sumdb/note`` known answer; every single-byte change, dropped, reordered or
duplicated line of a saved log is refused with an ``AuditLogError`` naming the line; and
the two witness policies sign, or refuse without logging, as documented.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from impl.auditlog import (
    CHECKPOINT_FILE,
    ENTRIES_FILE,
    AuditLog,
    BadEntryError,
    Checkpoint,
    CheckpointError,
    DigestReusedError,
    EpochNotNextError,
    LogFileError,
    ReadOnlyLogError,
    RepublishedError,
    SignedStatement,
    decode_leaf_data,
    note_key_id,
    sign_checkpoint,
    sign_entry,
    verify_checkpoint,
)
from impl.crypto.ed25519 import SigningKey, VerifyKey
from impl.crypto.symmetric import SeededRng, sha256
from impl.errors import AuditLogError, ConfigError, EvidenceError, ProofError, StatementError
from impl.merkle import EMPTY_ROOT
from impl.statement import DEFAULT_NAMESPACE, SignatureMessage, key_id, verify_statement
from impl.witness import WITNESS_POLICIES, VettingRefusedError, Witness

ORIGIN = "witness.example/fleet-keys"
OTHER_NAMESPACE = "example.other.v1"
T0 = 1_746_057_600_000  # 2025-05-01T00:00:00Z in ms; passed in, never read from a clock

_rng = SeededRng(9162)
LOG_KEY = SigningKey.generate(_rng)
WITNESS_KEY = SigningKey.generate(_rng)
STRANGER_KEY = SigningKey.generate(_rng)


def digest(label: int | str) -> bytes:
    return sha256(f"fleet-key file {label}".encode())


def message(epoch: int, label: int | str, namespace: str = DEFAULT_NAMESPACE) -> SignatureMessage:
    return SignatureMessage(1, namespace, T0 + epoch, epoch, digest(label))


def entry(epoch: int, label: int | str, namespace: str = DEFAULT_NAMESPACE) -> SignedStatement:
    return sign_entry(message(epoch, label, namespace), WITNESS_KEY)


def new_log(*, statement_key: VerifyKey | None = None, first_epoch: int = 1) -> AuditLog:
    return AuditLog(ORIGIN, LOG_KEY, first_epoch=first_epoch, statement_key=statement_key)


def filled_log(statement_key: VerifyKey | None = None) -> AuditLog:
    log = new_log(statement_key=statement_key)
    log.append(entry(1, "a"))
    log.append(entry(2, "b"))
    log.append(entry(1, "x", OTHER_NAMESPACE))
    log.append(entry(3, "c"))
    return log


def snapshot(log: AuditLog) -> tuple[object, ...]:
    return (log.size, log.root(), log.entries(), log.checkpoint().text)


# -- Plexi's rules -----------------------------------------------------------------------


def test_appends_follow_the_rules_and_return_indices() -> None:
    log = new_log(statement_key=WITNESS_KEY.public_key())
    assert log.size == 0
    assert log.root() == EMPTY_ROOT
    assert log.append(entry(1, "a")) == 0
    assert log.append(entry(2, "b")) == 1
    assert log.append(entry(1, "x", OTHER_NAMESPACE)) == 2
    assert log.last_epoch(DEFAULT_NAMESPACE) == 2
    assert log.next_epoch(OTHER_NAMESPACE) == 2
    assert log.last_epoch("never.used") is None
    assert [e.message.epoch for e in log.entries()] == [1, 2, 1]


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (entry(1, "z"), EpochNotNextError),  # epoch repeated
        (entry(4, "z"), EpochNotNextError),  # epoch 3 skipped
        (entry(0, "z"), EpochNotNextError),  # epoch going back
        (entry(3, "a"), DigestReusedError),  # digest of epoch 1 again
        (entry(2, "x", OTHER_NAMESPACE), DigestReusedError),  # digest of another namespace
        (entry(2, "b"), RepublishedError),  # the identical statement again
        (entry(1, "a"), RepublishedError),
        (entry(3, "z", "example.third"), EpochNotNextError),  # first epoch must be 1
    ],
)
def test_rule_breaking_entries_are_refused_and_change_nothing(
    bad: SignedStatement, error: type[AuditLogError]
) -> None:
    log = new_log()
    log.append(entry(1, "a"))
    log.append(entry(2, "b"))
    log.append(entry(1, "x", OTHER_NAMESPACE))
    before = snapshot(log)
    with pytest.raises(error) as caught:
        log.append(bad)
    assert isinstance(caught.value, AuditLogError)
    assert snapshot(log) == before
    with pytest.raises(error):
        log.check(bad.message)


def test_the_epoch_error_says_what_was_expected() -> None:
    log = new_log()
    log.append(entry(1, "a"))
    with pytest.raises(EpochNotNextError) as caught:
        log.append(entry(3, "c"))
    assert (caught.value.expected, caught.value.found) == (2, 3)
    assert "expected 2" in str(caught.value)
    assert "found 3" in str(caught.value)


def test_the_first_epoch_is_configurable() -> None:
    log = new_log(first_epoch=7)
    with pytest.raises(EpochNotNextError):
        log.append(entry(1, "a"))
    assert log.append(entry(7, "a")) == 0
    assert log.next_epoch(OTHER_NAMESPACE) == 7
    with pytest.raises(AuditLogError):
        new_log(first_epoch=-1)


def test_entries_must_verify_under_the_statement_key() -> None:
    log = new_log(statement_key=WITNESS_KEY.public_key())
    forged = sign_entry(message(1, "a"), STRANGER_KEY)
    with pytest.raises(BadEntryError, match="key id"):
        log.append(forged)
    good = entry(1, "a")
    relabelled = SignedStatement(good.message, forged.signature, good.key_id)
    with pytest.raises(BadEntryError, match="does not verify"):
        log.append(relabelled)
    assert log.size == 0
    with pytest.raises(BadEntryError):
        log.append("not an entry")  # type: ignore[arg-type]


def test_bad_origins_are_refused() -> None:
    for origin in ("", "has space", "a+b", "two\nlines", "tab\there"):
        with pytest.raises(AuditLogError):
            AuditLog(origin, LOG_KEY)


def test_leaf_data_round_trips_and_is_strict() -> None:
    e = entry(5, "leaf")
    data = e.leaf_data()
    assert data == e.message.encode() + e.signature + bytes([e.key_id])
    assert decode_leaf_data(data) == e
    for bad in (data[:-1], data + b"\x00", data[:65], b"\x09" + data[1:]):
        with pytest.raises(StatementError):
            decode_leaf_data(bad)


# -- proofs from the log ---------------------------------------------------------------------


def test_inclusion_and_consistency_proofs_verify_against_checkpoints() -> None:
    log = filled_log()
    old = verify_checkpoint(log.checkpoint().text, ORIGIN, LOG_KEY.public_key())
    log.append(entry(4, "d"))
    log.append(entry(2, "y", OTHER_NAMESPACE))
    new = verify_checkpoint(log.checkpoint().text, ORIGIN, LOG_KEY.public_key())
    for index in range(log.size):
        proof = log.inclusion(index)
        assert proof.leaf_hash == log.entries()[index].leaf_hash()
        proof.verify(new.root)
    log.inclusion(2, old.size).verify(old.root)
    log.consistency(old.size).verify(old.root, new.root)
    with pytest.raises(ProofError):
        log.consistency(old.size).verify(new.root, new.root)
    with pytest.raises(ProofError):
        log.inclusion(log.size)


# -- checkpoints -------------------------------------------------------------------------


def test_checkpoint_round_trip_and_format() -> None:
    log = filled_log()
    signed = log.checkpoint()
    text = signed.text
    body, signature_line = text.split("\n\n")
    assert body.split("\n") == [ORIGIN, "4", base64.b64encode(log.root()).decode()]
    assert signature_line.startswith("\u2014 " + ORIGIN + " ")
    assert text.endswith("\n")
    assert text.count("\n") == 5
    blob = base64.b64decode(signature_line.split(" ")[2])
    expected_id = sha256(ORIGIN.encode() + b"\n\x01" + LOG_KEY.public_key().raw())[:4]
    assert blob[:4] == expected_id == note_key_id(ORIGIN, LOG_KEY.public_key())
    assert len(blob) == 68
    assert verify_checkpoint(text, ORIGIN, LOG_KEY.public_key()) == Checkpoint(
        ORIGIN, 4, log.root()
    )
    assert verify_checkpoint(text.encode(), ORIGIN, LOG_KEY.public_key()).size == 4
    assert log.checkpoint().text == text  # deterministic
    empty = new_log().checkpoint()
    assert verify_checkpoint(empty.text, ORIGIN, LOG_KEY.public_key()).root == EMPTY_ROOT


def test_signed_note_known_answer() -> None:
    # The example of golang.org/x/mod/sumdb/note (also the signed_note crate's README):
    # key "PeterNeumann", private key PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALV...
    seed = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]

    class Fixed:
        def random_bytes(self, n: int) -> bytes:
            return seed[:n]

    key = SigningKey.generate(Fixed())
    assert note_key_id("PeterNeumann", key.public_key()).hex() == "c74f20a3"
    text = (
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n"
    )
    blob = note_key_id("PeterNeumann", key.public_key()) + key.sign(text.encode())
    assert base64.b64encode(blob).decode() == (
        "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
    )
    # The note's signature verifies; its body is no checkpoint, which is refused after.
    note = f"{text}\n\u2014 PeterNeumann {base64.b64encode(blob).decode()}\n"
    with pytest.raises(CheckpointError, match="at least 3 lines"):
        verify_checkpoint(note, "PeterNeumann", key.public_key())


def test_every_single_character_change_of_a_checkpoint_is_refused() -> None:
    text = filled_log().checkpoint().text
    for position, char in enumerate(text):
        for replacement in {chr(ord(char) ^ 1), "A", "\n", " "} - {char}:
            changed = text[:position] + replacement + text[position + 1 :]
            with pytest.raises(CheckpointError):
                verify_checkpoint(changed, ORIGIN, LOG_KEY.public_key())
    for cut in range(len(text)):
        with pytest.raises(CheckpointError):
            verify_checkpoint(text[:cut], ORIGIN, LOG_KEY.public_key())


def _sign_body(body: str, name: str = ORIGIN, key: SigningKey = LOG_KEY) -> str:
    blob = note_key_id(name, key.public_key()) + key.sign(body.encode())
    return f"{body}\n\u2014 {name} {base64.b64encode(blob).decode()}\n"


def test_checkpoint_parsing_is_strict() -> None:
    root64 = base64.b64encode(EMPTY_ROOT).decode()
    verify = LOG_KEY.public_key()
    good = _sign_body(f"{ORIGIN}\n0\n{root64}\n")
    assert verify_checkpoint(good, ORIGIN, verify).size == 0
    # Extension lines are allowed by the spec and returned.
    assert verify_checkpoint(_sign_body(f"{ORIGIN}\n0\n{root64}\next\n"), ORIGIN, verify) == (
        Checkpoint(ORIGIN, 0, EMPTY_ROOT, ("ext",))
    )
    # Unknown signers are ignored, as C2SP requires; the known one still decides.
    stranger = _sign_body(f"{ORIGIN}\n0\n{root64}\n", "someone.else", STRANGER_KEY)
    cosigned = good + stranger.split("\n\n")[1]
    assert verify_checkpoint(cosigned, ORIGIN, verify).size == 0
    bad_bodies = [
        f"{ORIGIN}\n00\n{root64}\n",  # leading zero
        f"{ORIGIN}\n+0\n{root64}\n",
        f"{ORIGIN}\n-1\n{root64}\n",
        f"{ORIGIN}\n\u0661\n{root64}\n",  # a non-ASCII digit
        f"{ORIGIN}\n{2**64}\n{root64}\n",
        f"{ORIGIN}\n0\n{root64[:-1]}\n",  # bad base64
        f"{ORIGIN}\n0\n{base64.b64encode(EMPTY_ROOT[:31]).decode()}\n",  # 31 bytes
        f"{ORIGIN}\n0\n{root64[:-2]}9=\n",  # non-canonical padding bits
        f"{ORIGIN}\n0\n",  # too few lines
        f"{ORIGIN}\n0\n{root64}\n\next\n",  # an empty line in the body
        f"other.example/log\n0\n{root64}\n",  # wrong origin
        f"{ORIGIN}\n0\n{root64}\r\n",  # a control character
    ]
    for body in bad_bodies:
        with pytest.raises(CheckpointError):
            verify_checkpoint(_sign_body(body), ORIGIN, verify)
    with pytest.raises(CheckpointError, match="no signature by"):
        verify_checkpoint(stranger, ORIGIN, verify)
    with pytest.raises(CheckpointError, match="no signature by"):
        verify_checkpoint(good, ORIGIN, STRANGER_KEY.public_key())
    with pytest.raises(CheckpointError, match="second signature"):
        verify_checkpoint(good + good.split("\n\n")[1], ORIGIN, verify)
    with pytest.raises(CheckpointError):
        verify_checkpoint(good.replace("\u2014", "-"), ORIGIN, verify)
    with pytest.raises(CheckpointError):
        verify_checkpoint(good.replace("\n\n", "\n"), ORIGIN, verify)
    with pytest.raises(CheckpointError):
        verify_checkpoint(good + "\n", ORIGIN, verify)
    with pytest.raises(CheckpointError):
        verify_checkpoint(b"\xff" + good.encode(), ORIGIN, verify)
    # An explicit origin other than the key name.
    other = _sign_body(f"other.example/log\n0\n{root64}\n")
    assert verify_checkpoint(other, ORIGIN, verify, origin="other.example/log").size == 0


def test_sign_checkpoint_refuses_bad_key_names() -> None:
    head = Checkpoint(ORIGIN, 0, EMPTY_ROOT)
    for name in ("", "a b", "a+b"):
        with pytest.raises(CheckpointError):
            sign_checkpoint(head, name, LOG_KEY)


# -- persistence ------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    log = filled_log(statement_key=WITNESS_KEY.public_key())
    log.save(tmp_path)
    assert log.encode() == (
        (tmp_path / ENTRIES_FILE).read_bytes(),
        (tmp_path / CHECKPOINT_FILE).read_bytes(),
    )
    lines = (tmp_path / ENTRIES_FILE).read_text().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith('{"ciphersuite":1,"digest":"')
    loaded = AuditLog.load(
        tmp_path, ORIGIN, LOG_KEY.public_key(), statement_key=WITNESS_KEY.public_key()
    )
    assert snapshot(loaded) == snapshot(log)
    assert not loaded.writable
    with pytest.raises(ReadOnlyLogError):
        loaded.append(entry(4, "d"))
    writable = AuditLog.load(tmp_path, ORIGIN, LOG_KEY.public_key(), signer=LOG_KEY)
    writable.append(entry(4, "d"))
    writable.save(tmp_path)
    assert AuditLog.load(tmp_path, ORIGIN, LOG_KEY.public_key()).size == 5
    with pytest.raises(AuditLogError):
        AuditLog.load(tmp_path, ORIGIN, LOG_KEY.public_key(), signer=STRANGER_KEY)
    empty = tmp_path / "empty"
    new_log().save(empty)
    assert (empty / ENTRIES_FILE).read_bytes() == b""
    assert AuditLog.load(empty, ORIGIN, LOG_KEY.public_key()).size == 0


def _saved() -> tuple[bytes, bytes]:
    return filled_log().encode()


def _load_error(entries: bytes, checkpoint: bytes) -> LogFileError:
    # AuditLog.decode is what AuditLog.load runs on the two files' bytes (kept in memory
    # here so that thousands of variants run fast).
    with pytest.raises(LogFileError) as caught:
        AuditLog.decode(entries, checkpoint, ORIGIN, LOG_KEY.public_key())
    assert isinstance(caught.value, AuditLogError)
    return caught.value


def test_every_single_byte_change_of_the_entries_names_its_line() -> None:
    entries, checkpoint = _saved()
    for position in range(len(entries)):
        changed = bytearray(entries)
        changed[position] ^= 0x01
        error = _load_error(bytes(changed), checkpoint)
        line = entries[:position].count(b"\n") + 1
        assert (error.path, error.line) == (ENTRIES_FILE, line), (position, str(error))
        assert f"line {line}" in str(error)


def test_every_single_byte_change_of_the_checkpoint_is_refused() -> None:
    entries, checkpoint = _saved()
    for position in range(len(checkpoint)):
        changed = bytearray(checkpoint)
        changed[position] ^= 0x01
        error = _load_error(entries, bytes(changed))
        assert error.path == CHECKPOINT_FILE, position


def test_dropped_reordered_and_duplicated_lines_are_named() -> None:
    entries, checkpoint = _saved()
    lines = entries.splitlines(keepends=True)
    n = len(lines)
    for i in range(n):
        dropped = b"".join(lines[:i] + lines[i + 1 :])
        assert _load_error(dropped, checkpoint).line == i + 1, f"drop {i + 1}"
        duplicated = b"".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])
        assert _load_error(duplicated, checkpoint).line == i + 2, f"dup {i + 1}"
    for i in range(n - 1):
        swapped = list(lines)
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        assert _load_error(b"".join(swapped), checkpoint).line == i + 1
    assert _load_error(entries + b"\n", checkpoint).line == n + 1
    assert _load_error(entries.rstrip(b"\n"), checkpoint).line == n


def test_a_consistently_forged_entry_is_still_refused(tmp_path: Path) -> None:
    # Replace entry 2 by another well-formed line (leaf hash recomputed): the signed
    # checkpoint's root catches it; with the witness key, the line itself is named.
    log = filled_log()
    log.save(tmp_path)
    forged = new_log()
    for e in log.entries()[:2]:
        forged.append(e)
    forged.append(sign_entry(message(1, "forged", OTHER_NAMESPACE), STRANGER_KEY))
    forged.append(log.entries()[3])
    other = tmp_path / "forged"
    forged.save(other)
    entries = (other / ENTRIES_FILE).read_bytes()
    checkpoint = (tmp_path / CHECKPOINT_FILE).read_bytes()
    error = _load_error(entries, checkpoint)
    assert error.line is None
    assert "root" in str(error)
    (tmp_path / ENTRIES_FILE).write_bytes(entries)
    with pytest.raises(LogFileError) as caught:
        AuditLog.load(
            tmp_path, ORIGIN, LOG_KEY.public_key(), statement_key=WITNESS_KEY.public_key()
        )
    assert caught.value.line == 3


def test_a_stale_or_foreign_checkpoint_is_refused(tmp_path: Path) -> None:
    log = filled_log()
    stale = log.checkpoint().text.encode()
    log.append(entry(4, "d"))
    log.save(tmp_path)
    entries = (tmp_path / ENTRIES_FILE).read_bytes()
    error = _load_error(entries, stale)
    assert error.line == 5
    assert "not covered" in str(error)
    foreign = AuditLog(ORIGIN, STRANGER_KEY)
    for e in log.entries():
        foreign.append(e)
    error = _load_error(entries, foreign.checkpoint().text.encode())
    assert error.path == CHECKPOINT_FILE
    with pytest.raises(LogFileError):
        AuditLog.load(tmp_path / "missing", ORIGIN, LOG_KEY.public_key())


# -- the witness ---------------------------------------------------------------------------


class RecordingVerifier:
    """An EvidenceVerifier for tests: accepts evidence equal to "ok", records calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, object]] = []

    def verify(self, digest: bytes, evidence: object) -> None:
        self.calls.append((digest, evidence))
        if evidence != "ok":
            raise EvidenceError(f"evidence {evidence!r} rejected")


def test_policies_are_named() -> None:
    assert WITNESS_POLICIES == ("log-only", "vetting")
    with pytest.raises(ConfigError):
        Witness(WITNESS_KEY, new_log(), "trusting")
    with pytest.raises(ConfigError):
        Witness(WITNESS_KEY, new_log(), "vetting")
    with pytest.raises(ConfigError):
        Witness(STRANGER_KEY, new_log(statement_key=WITNESS_KEY.public_key()))


def test_log_only_signs_any_next_epoch_and_logs_it() -> None:
    log = new_log(statement_key=WITNESS_KEY.public_key())
    witness = Witness(WITNESS_KEY, log)
    assert witness.policy == "log-only"
    assert witness.next_epoch() == 1
    first = witness.sign(1, digest("rogue fleet, nobody checked"), T0)
    verify_statement(first.message, first.signature, WITNESS_KEY.public_key())
    assert first.key_id == key_id(WITNESS_KEY.public_key())
    assert first.message.namespace == DEFAULT_NAMESPACE
    assert log.entries() == (first,)
    second = witness.sign(2, digest(2), T0 + 1, evidence="ignored under log-only")
    assert log.entries() == (first, second)
    before = snapshot(log)
    with pytest.raises(EpochNotNextError):
        witness.sign(4, digest(4), T0 + 2)
    with pytest.raises(DigestReusedError):
        witness.sign(3, digest(2), T0 + 2)
    with pytest.raises(StatementError):
        witness.sign(3, b"short", T0 + 2)
    assert snapshot(log) == before


def test_vetting_needs_evidence_the_verifier_accepts() -> None:
    log = new_log()
    verifier = RecordingVerifier()
    witness = Witness(WITNESS_KEY, log, "vetting", evidence_verifier=verifier)
    before = snapshot(log)
    with pytest.raises(VettingRefusedError, match="no deployment evidence"):
        witness.sign(1, digest(1), T0)
    assert verifier.calls == []
    with pytest.raises(VettingRefusedError, match="rejected") as caught:
        witness.sign(1, digest(1), T0, evidence="forged attestation")
    assert isinstance(caught.value.__cause__, EvidenceError)
    assert verifier.calls == [(digest(1), "forged attestation")]
    assert snapshot(log) == before
    signed = witness.sign(1, digest(1), T0, evidence="ok")
    assert log.entries() == (signed,)
    # The log's rules come first: a skipped epoch never reaches the verifier.
    with pytest.raises(EpochNotNextError):
        witness.sign(3, digest(3), T0, evidence="ok")
    assert len(verifier.calls) == 2


def test_a_verifier_bug_propagates_and_logs_nothing() -> None:
    class Broken:
        def verify(self, digest: bytes, evidence: object) -> None:
            raise RuntimeError("bug")

    log = new_log()
    witness = Witness(WITNESS_KEY, log, "vetting", evidence_verifier=Broken())
    with pytest.raises(RuntimeError):
        witness.sign(1, digest(1), T0, evidence="anything")
    assert log.size == 0


def test_a_witness_needs_a_writable_log(tmp_path: Path) -> None:
    filled_log().save(tmp_path)
    loaded = AuditLog.load(tmp_path, ORIGIN, LOG_KEY.public_key())
    with pytest.raises(ConfigError):
        Witness(WITNESS_KEY, loaded)
