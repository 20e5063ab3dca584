"""Secret hygiene: every flow runs with DEBUG logging on, and no secret canary appears in a
log record, a ``repr``/``str`` of anything the flows leave behind, an exception's message,
or a file the flows wrote (the replicas' stores are sealed, so they are searched too).

The canaries are of two kinds. Chosen ones: the passwords the users type and the backup
plaintexts, strings no code path has a reason to print. Found ones: every
:class:`impl.redact.Secret` reachable from the objects the flows used (root keys, access-key
verifiers, released secrets, recovery codes, passkey shares and PRF secrets, replication
and sealing keys) and every private key (Ed25519 seeds, X25519 scalars, P-256 scalars),
read by walking those objects after the flows. Each secret is searched in the forms a
leak takes: raw bytes (in files), hex, base64 and Python's ``bytes`` repr (in text).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from impl.bundle import MemoryEpochStore, encode_bundle
from impl.ceremony import Parties, client_trust, open_log, run_ceremony, write_evidence
from impl.client import Client, ClientConfig, FleetLink, Recovered, WrongGuess
from impl.consensus import ConsensusConfig
from impl.crypto.symmetric import Argon2Params, SeededRng
from impl.errors import VaultbenchError
from impl.hsm import Hsm, HsmConfig
from impl.ota import OtaEndpoint
from impl.passkey import SoftwareAuthenticator
from impl.redact import Secret
from impl.replica import storage_key
from impl.sim.world import World
from impl.sqlite_store import SqliteReplicaStore

PASSWORDS = ("canary-password-quokka-lantern", "canary-password-walrus-meadow")
PLAINTEXTS = (b"CANARY-PLAINTEXT: the photos of the quokka", b"CANARY-PLAINTEXT: walrus chats")
WRONG = "canary-wrong-guess-marmot-thistle"
FAST = ClientConfig(argon2=Argon2Params.FAST)
#: The modules whose log the flows must have gone through (else the search is hollow).
LOGGERS = {
    f"vaultbench.impl.{m}" for m in ("client", "replica", "consensus", "ceremony", "witness")
}


class Capture(logging.Handler):
    """Every record of the ``vaultbench`` loggers, formatted, with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger("vaultbench")
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


# ---------------------------------------------------------------------------------------
# The flows


@dataclasses.dataclass
class Flows:
    """What the flows leave behind: objects to walk, exceptions, directories to read."""

    objects: list[object] = dataclasses.field(default_factory=list)
    errors: list[BaseException] = dataclasses.field(default_factory=list)
    directories: list[Path] = dataclasses.field(default_factory=list)

    def expect_error(self, action: Callable[[], object]) -> None:
        """Run ``action``, which must fail with a typed error; keep the error."""
        with pytest.raises(VaultbenchError) as raised:
            action()
        self.errors.append(raised.value)


def single_hsm(flows: Flows) -> None:
    """Every protection method against one HSM: enrol, back up, wrong guesses, recover;
    a password guessed wrong until the record is destroyed."""
    hsm = Hsm(HsmConfig(), rng=SeededRng(3))
    relay = hsm.handle
    rng = SeededRng(4)
    alice = Client("alice", relay, hsm.fleet_public_key, config=FAST, rng=rng)
    enrollment = alice.enroll_password(PASSWORDS[0])
    blob = alice.backup(enrollment, PLAINTEXTS[0])
    assert alice.recover_password(blob, WRONG) == WrongGuess(9)
    assert isinstance(alice.recover_password(blob, PASSWORDS[0]), Recovered)

    bob = Client("bob", relay, hsm.fleet_public_key, config=FAST, rng=rng)
    bob_blob = bob.backup(bob.enroll_password(PASSWORDS[1]), PLAINTEXTS[1])
    for _ in range(10):
        bob.recover_password(bob_blob, WRONG)
    flows.expect_error(lambda: bob.recover_password(b"not a blob", PASSWORDS[1]))

    carol = Client("carol", relay, hsm.fleet_public_key, config=FAST, rng=rng)
    authenticator = SoftwareAuthenticator(SeededRng(5))
    passkey = carol.enroll_passkey(authenticator)
    carol_blob = carol.backup(passkey, PLAINTEXTS[0])
    assert isinstance(carol.recover_passkey(carol_blob, authenticator), Recovered)

    dave = Client("dave", relay, hsm.fleet_public_key, config=FAST, rng=rng)
    key64 = dave.enroll_key64()
    code = dave.enroll_recovery_code()
    dave.backup(key64, PLAINTEXTS[1])
    dave.backup(code, PLAINTEXTS[1])
    flows.expect_error(lambda: dave.recover_key64(blob, "not 64 digits"))
    flows.expect_error(lambda: relay(b"\x00" * 40))
    flows.objects += [hsm, alice, bob, carol, dave, authenticator, enrollment, passkey, key64]
    flows.objects.append(code)


def fleet_over_the_air(flows: Flows, tmp: Path) -> None:
    """Two epochs deployed by the ceremony (evidence and log on disk), two simulated
    fleets on sealed SQLite stores; an app learns epoch 1 over the air, recovers there,
    and moves its record to epoch 2 right after proving the password."""
    parties = Parties.from_seed(6)
    evidence = tmp / "evidence"
    evidence.mkdir()
    log = open_log(parties, evidence)
    first, second = (run_ceremony(parties, log, epoch=e, seed=6) for e in (1, 2))
    for deployment in (first, second):
        write_evidence(parties, log, deployment, evidence)
    flows.directories.append(evidence)
    epochs = MemoryEpochStore()
    worlds = {}
    for epoch, deployment in ((1, first), (2, second)):
        directory = tmp / f"fleet-{epoch}"
        directory.mkdir()
        flows.directories.append(directory)
        world = World(
            10 + epoch,
            ConsensusConfig(),
            keys=deployment.hsm_keys,
            bundle=encode_bundle(deployment.bundle),
            store_factory=lambda i, d=directory, k=deployment.hsm_keys: SqliteReplicaStore(
                d / f"replica-{i}.sqlite", storage_key(k[i], i)
            ),
        )
        assert world.settle()
        worlds[epoch] = world
    old = OtaEndpoint(worlds[1].hello, worlds[1].endpoint, client_trust(parties, 2), epochs)
    old.connect()
    client = Client("erin", old, old.fleet_public_key, config=FAST, rng=SeededRng(8))
    enrollment = client.enroll_password(PASSWORDS[1])
    blob = client.backup(enrollment, PLAINTEXTS[1])
    assert client.recover_password(blob, WRONG) == WrongGuess(9)
    new = OtaEndpoint(worlds[2].hello, worlds[2].endpoint, client_trust(parties, 2), epochs)
    new.connect()
    link = FleetLink(2, new.fleet_public_key, new)
    moved = client.recover_password(blob, PASSWORDS[1], migrate_to=link)
    assert isinstance(moved, Recovered)
    assert moved.migrated_to == 2
    flows.expect_error(lambda: worlds[1].endpoint(b"\x01" * 64))
    flows.objects += [parties, log, first, second, *worlds.values(), client, enrollment, old, new]


# ---------------------------------------------------------------------------------------
# Canaries


def _private_bytes(key: object) -> bytes | None:
    """The raw private bytes of a ``cryptography`` private key, if it has them."""
    for name in ("private_bytes_raw",):
        method = getattr(key, name, None)
        if callable(method):
            try:
                raw = method()
            except Exception:
                return None
            return raw if isinstance(raw, bytes) else None
    number = getattr(key, "private_numbers", None)
    if callable(number):
        value = number().private_value
        return int(value).to_bytes(32, "big")
    return None


def _children(value: object) -> Iterator[object]:
    if isinstance(value, dict):
        yield from value.keys()
        yield from value.values()
    elif isinstance(value, list | tuple | set | frozenset):
        yield from value
    elif hasattr(value, "__dict__") or hasattr(type(value), "__slots__"):
        for name in getattr(value, "__dict__", {}):
            yield getattr(value, name, None)
        for klass in type(value).__mro__:
            for name in getattr(klass, "__slots__", ()):
                if hasattr(value, name):
                    yield getattr(value, name)


def walk(roots: list[object], limit: int = 200_000) -> Iterator[object]:
    """Every object reachable from ``roots`` through attributes and containers (bytes,
    strings, numbers and modules are leaves), each once."""
    seen: set[int] = set()
    stack = list(roots)
    while stack and len(seen) < limit:
        value = stack.pop()
        if id(value) in seen or isinstance(value, str | bytes | int | float | bool | type):
            continue
        if type(value).__module__ in ("builtins",) and callable(value):
            continue
        seen.add(id(value))
        yield value
        try:
            stack.extend(_children(value))
        except Exception:
            continue


def canaries(flows: Flows) -> dict[str, bytes]:
    """Name -> secret bytes: the chosen canaries and every secret the flows' objects hold."""
    found: dict[str, bytes] = {}
    for i, password in enumerate((*PASSWORDS, WRONG)):
        found[f"password {i}"] = password.encode()
    for i, plaintext in enumerate(PLAINTEXTS):
        found[f"plaintext {i}"] = plaintext
    for value in walk(flows.objects):
        raw: bytes | None = None
        if isinstance(value, Secret):
            raw = value.reveal()
            kind = "Secret"
        else:
            raw = _private_bytes(value)
            kind = f"private key {type(value).__name__}"
        if raw is not None and len(raw) >= 12:
            found.setdefault(f"{kind} {raw[:3].hex()}..", raw)
    return found


def text_forms(secret: bytes) -> list[str]:
    """How a secret looks when it leaks into text."""
    head = secret[:12]
    forms = [head.hex(), head.hex().upper(), repr(head)[2:-1]]
    forms += [
        base64.b64encode(secret)[:16].decode(),
        base64.urlsafe_b64encode(secret)[:16].decode(),
    ]
    with contextlib.suppress(UnicodeDecodeError):
        forms.append(secret.decode("utf-8"))
    return [f for f in forms if len(f) >= 12]


def leaks(text: str, secrets: dict[str, bytes]) -> list[str]:
    return [name for name, secret in secrets.items() if any(f in text for f in text_forms(secret))]


# ---------------------------------------------------------------------------------------
# The test


def test_no_secret_in_logs_reprs_errors_or_files(captured: Capture, tmp_path: Path) -> None:
    flows = Flows()
    single_hsm(flows)
    fleet_over_the_air(flows, tmp_path)
    secrets = canaries(flows)
    # The walk found the secrets it must: without them the search proves nothing.
    kinds = " ".join(secrets)
    assert "Secret" in kinds, kinds
    assert "private key" in kinds, kinds
    assert len(secrets) > 30, len(secrets)
    loggers = {line.split()[1].rstrip(":") for line in captured.lines}
    assert loggers >= LOGGERS, f"the flows logged at DEBUG through {sorted(loggers)}"

    problems: list[str] = []
    for line in captured.lines:
        problems += [f"log: {name}: {line[:120]}" for name in leaks(line, secrets)]
    for error in flows.errors:
        for text in (str(error), repr(error)):
            problems += [f"error {type(error).__name__}: {name}" for name in leaks(text, secrets)]
    for value in walk(flows.objects):
        for render in (repr, str):
            try:
                text = render(value)
            except Exception:
                continue
            found = leaks(text, secrets)
            problems += [f"{render.__name__} of {type(value).__name__}: {n}" for n in found]
    files = [p for d in flows.directories for p in sorted(d.rglob("*")) if p.is_file()]
    assert files, "the flows wrote files"
    for path in files:
        data = path.read_bytes()
        for name, secret in secrets.items():
            if secret[:16] in data or any(f.encode() in data for f in text_forms(secret)):
                problems.append(f"file {path.relative_to(tmp_path)}: {name}")
    assert not problems, "\n".join(sorted(set(problems))[:40])


def test_the_search_finds_a_planted_leak(captured: Capture) -> None:
    """The oracle can say "leaked": a secret logged by mistake is found in every form."""
    secret = Secret(bytes(range(40, 72)))
    found = {"planted": secret.reveal()}
    logging.getLogger("vaultbench.impl.test").debug("oops %s", secret.reveal().hex())
    logging.getLogger("vaultbench.impl.test").debug("fine %r", secret)
    assert leaks(captured.lines[-2], found) == ["planted"]
    assert leaks(captured.lines[-1], found) == []
    assert leaks(repr(secret.reveal()), found) == ["planted"]
    assert leaks(base64.b64encode(secret.reveal()).decode(), found) == ["planted"]
