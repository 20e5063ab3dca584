"""vaultbench.demo: a narrated end-to-end story for one protection method.

Set up, back up, lose the phone, recover on a new one; for ``password``, also an attacker
who spends the ten guesses and meets a destroyed record. Every step runs the real
implementation (real cryptography, one HSM, the operator's relay in between) and the
story prints what each party saw. Returns 0 when the original bytes came back and, for
``password``, the record was destroyed after the tenth wrong guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from impl.client import Client, ClientConfig, Destroyed, Outcome, Recovered, WrongGuess
from impl.crypto.hpke import KemChoice
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.hsm import Hsm, HsmConfig
from impl.method import Method
from impl.passkey import SoftwareAuthenticator

BACKUP = b"chat history: 'see you at 8?' 'yes, the usual place'" * 40


@dataclass
class Relay:
    """The operator's front end: it carries sealed bytes and sees nothing else."""

    hsm: Hsm
    requests: int = 0
    bytes_seen: int = 0

    def __call__(self, sealed: bytes) -> bytes:
        self.requests += 1
        answer = self.hsm.handle(sealed)
        self.bytes_seen += len(sealed) + len(answer)
        return answer


def run_demo(
    method: str,
    *,
    seed: int = 7,
    kem: str = "x25519",
    fast_kdf: bool = False,
    say: Callable[[str], None] = print,
) -> int:
    chosen = Method(method)
    rng = SeededRng(seed)
    hsm = Hsm(HsmConfig(kem=KemChoice(kem)), rng=SeededRng(seed + 1))
    relay = Relay(hsm)
    argon = Argon2Params.FAST if fast_kdf else Argon2Params.DEFAULT
    config = ClientConfig(argon2=argon)

    def phone() -> Client:
        return Client("alice", relay, hsm.fleet_public_key, config=config, rng=rng)

    step = _Steps(say)
    say(f"vaultbench demo: method {chosen}, fleet key {kem}, seed {seed}")
    old = phone()
    step(
        "Alice's phone makes a root key R (32 random bytes) and protects it with "
        f"the {chosen} method."
    )
    password = "purple elephant sunrise"
    device = SoftwareAuthenticator(rng=rng)
    if chosen is Method.KEY64:
        enrollment = old.enroll_key64()
        shown = _shown(enrollment.shown_to_user)
        say(f"    she writes down her 64-digit key: {shown[:9]}... (no vault involved)")
    elif chosen is Method.RECOVERY_CODE:
        enrollment = old.enroll_recovery_code()
        shown = _shown(enrollment.shown_to_user)
        say(f"    she writes down her recovery code: {shown[:9]}... (no vault involved)")
    elif chosen is Method.PASSWORD:
        enrollment = old.enroll_password(password)
        say(
            "    the phone derives an access key with Argon2id "
            f"({argon.memory_kib} KiB, {argon.iterations} passes) and sends it with R, "
            "sealed to the fleet key;"
        )
        say(
            f"    the HSM stores registration #{enrollment.registration}; the operator "
            f"relayed {relay.bytes_seen} bytes of ciphertext."
        )
    else:
        enrollment = old.enroll_passkey(device)
        say(
            "    her device makes a P-256 passkey; the vault stores its public key and a "
            "server share S;"
        )
        say(
            "    R is wrapped under HKDF(S || PRF output) inside the backup's header; "
            f"registration #{enrollment.registration}."
        )

    blob = old.backup(enrollment, BACKUP)
    step(
        f"She backs up {len(BACKUP)} bytes of chats: storage receives a "
        f"{len(blob)}-byte encrypted blob."
    )
    step("She loses her phone. A new phone downloads the blob.")
    new = phone()

    if chosen is Method.KEY64:
        outcome: Outcome = new.recover_key64(blob, _shown(enrollment.shown_to_user))
    elif chosen is Method.RECOVERY_CODE:
        outcome = new.recover_recovery_code(blob, _shown(enrollment.shown_to_user))
    elif chosen is Method.PASSWORD:
        typo = new.recover_password(blob, "purple elephant sunrsie")
        say(f"    first try, a typo: the vault answers {_describe(typo)}")
        outcome = new.recover_password(blob, password)
    else:
        outcome = new.recover_passkey(blob, device)
    say(f"    the vault answers: {_describe(outcome)}")
    if not (isinstance(outcome, Recovered) and outcome.plaintext == BACKUP):
        say("FAILED: the original bytes did not come back")
        return 1
    step(
        f"The new phone decrypts the blob: {len(outcome.plaintext)} bytes, identical "
        "to the original."
    )

    if chosen is Method.PASSWORD:
        fresh = new.enroll_password(password)
        blob = new.backup(fresh, BACKUP)
        say(
            f"    having proved the password, the new phone re-registers "
            f"(registration #{fresh.registration}, a fresh budget of "
            f"{hsm.config.policy.max_attempts})."
        )
        step("A thief who holds the blob and can talk to the vault guesses passwords.")
        destroyed_at = 0
        for attempt in range(1, hsm.config.policy.max_attempts + 2):
            answer = new.recover_password(blob, f"guess number {attempt}")
            say(f"    attempt {attempt:2}: {_describe(answer)}")
            if isinstance(answer, Destroyed) and destroyed_at == 0:
                destroyed_at = attempt
        if destroyed_at != hsm.config.policy.max_attempts + 1:
            say("FAILED: the record was not destroyed after the last allowed guess")
            return 1
        after = new.recover_password(blob, password)
        say(f"    even the right password now gets: {_describe(after)}")
        if not isinstance(after, Destroyed):
            return 1
        step("The record is gone on the HSM: R can no longer be released to anyone.")
    say(
        f"The operator relayed {relay.requests} requests ({relay.bytes_seen} bytes), "
        "all of them ciphertext."
    )
    return 0


class _Steps:
    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._n = 0

    def __call__(self, text: str) -> None:
        self._n += 1
        self._say(f"{self._n}. {text}")


def _shown(secret: object) -> str:
    from impl.redact import Secret

    assert isinstance(secret, Secret)
    return secret.reveal().decode()


def _describe(outcome: Outcome) -> str:
    match outcome:
        case Recovered():
            return "Released (the root key came back)"
        case WrongGuess(remaining=remaining):
            return f"WrongGuess(remaining={remaining})"
        case Destroyed():
            return "Destroyed"
    return type(outcome).__name__
