"""impl.net.fleetdir: a fleet's directory: its configuration, keys, stores and ports.

``setup_fleet`` provisions a fleet of replica processes under one directory::

    DIR/fleet.json               public: n, q, timings, ports, the fleet's HPKE public key,
                                 each replica's Ed25519 identity (what a client reads)
    DIR/replica-<i>/             mode 0700, one per replica
        keys.json                mode 0600: this replica's key material (below)
        store.sqlite             mode 0600: its durable state (``SqliteReplicaStore``)
        port                     the TCP port it listens on now (written at every start)
        pid                      the process id, written by whoever started it
        replica.log              its log (roles, boots, connections; never a secret)

Key material. ``keys.json`` holds the 32-byte seeds the keys are made from (the
``cryptography`` key objects of ``impl.crypto`` never export a private key, so the seed
is what is stored): the fleet's HPKE key seed and the replication key, which every
replica shares, as in ``impl.replica.provision_fleet``, and the replica's own Ed25519
identity seed. A real HSM generates these inside its boundary and never writes them out;
this file stands in for that boundary, readable by its owner only.

``setup_fleet(seed=N)`` derives every key from ``N`` (``SeededRng``): reproducible, and
therefore **for a workbench only**: whoever knows ``N`` knows every key. Without a seed
the keys come from the operating system's CSPRNG. At run time a replica draws everything
else (peer-channel boot ids, sealing nonces, election jitter) from the OS CSPRNG, never
from the seed: a restarted replica must not repeat a boot id (its peer-channel nonces
would repeat under the same key).

Every reader is strict: a file that is not exactly what ``setup_fleet`` writes (fields,
types, ranges, key lengths, keys that do not match the published identities) is a
``FleetDirError`` naming the file and the field, never a key byte (nor, for
``keys.json``, any text of the file). A reader reads only regular files (a FIFO, a
device or a directory where a file belongs is refused, not waited on), at most
``MAX_FILE`` bytes, and changes nothing in the directory. ``setup_fleet`` checks the
same ranges, so it never writes a file the readers refuse. ``read_port`` and
``read_pid`` read files a process rewrites at every start: anything but a short decimal
number in range there reads as "none written" (None), never as an exception.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from impl.consensus import ConsensusConfig
from impl.crypto.ed25519 import SigningKey, VerifyKey
from impl.crypto.hpke import FleetKeyPair, FleetPublicKey, KemChoice, decode_fleet_public_key
from impl.crypto.symmetric import Rng, SeededRng, SystemRng
from impl.errors import ConfigError, CryptoError, VaultError
from impl.hsm import HsmConfig
from impl.redact import Secret
from impl.replica import FleetKeys
from impl.vault import VaultPolicy

FLEET_FILE: Final = "fleet.json"
KEYS_FILE: Final = "keys.json"
STORE_FILE: Final = "store.sqlite"
PORT_FILE: Final = "port"
PID_FILE: Final = "pid"
LOG_FILE: Final = "replica.log"
LOOPBACK: Final = "127.0.0.1"
SEED_LEN: Final = 32
FORMAT_VERSION: Final = 1
MAX_FILE: Final = 256 * 1024
FLEET_ID_LEN: Final = 64
#: The largest timing value (an hour, in ms; also the bound of the two counts), and the
#: largest attempt limit (the wire carries the attempts left as a u32).
MAX_TIMING: Final = 3_600_000
MAX_ATTEMPTS: Final = 2**32 - 1
MIN_PORT: Final = 1024
MAX_PID: Final = 2**31 - 1

#: Timings for real processes on a loaded two-core host (ms): slower than the
#: simulator's defaults, so a busy host does not look like a dead leader.
DEFAULT_TIMING: Final = {
    "heartbeat_ms": 50,
    "election_timeout_ms": 400,
    "retry_ms": 120,
    "snapshot_every": 64,
    "catch_up_batch": 256,
}


class FleetDirError(ConfigError):
    """A fleet directory, ``fleet.json`` or ``keys.json`` that is missing or malformed."""


@dataclass(frozen=True)
class Member:
    """One replica as ``fleet.json`` publishes it."""

    replica: int
    port: int  # 0: chosen by the OS at start; see ``replica-<i>/port``
    identity: VerifyKey


@dataclass(frozen=True)
class FleetFile:
    """The content of ``fleet.json`` (everything in it is public)."""

    fleet_id: str
    host: str
    quorum: int
    kem: KemChoice
    fleet_public_key: FleetPublicKey
    max_attempts: int
    timing: dict[str, int]
    members: tuple[Member, ...]
    provisioning: str  # "seeded" (workbench only) or "os-random"

    @property
    def replicas(self) -> int:
        return len(self.members)

    def consensus(self) -> ConsensusConfig:
        """The ``ConsensusConfig`` every replica of this fleet runs."""
        return _consensus(self.replicas, self.quorum, self.timing)

    def hsm_config(self) -> HsmConfig:
        return HsmConfig(policy=VaultPolicy(self.max_attempts), kem=self.kem)

    def encode(self) -> bytes:
        value = {
            "version": FORMAT_VERSION,
            "fleet_id": self.fleet_id,
            "host": self.host,
            "replicas": self.replicas,
            "quorum": self.quorum,
            "kem": self.kem.value,
            "fleet_public_key": _b64(self.fleet_public_key.public_bytes()),
            "max_attempts": self.max_attempts,
            "timing": dict(sorted(self.timing.items())),
            "members": [
                {"replica": m.replica, "port": m.port, "identity": _b64(m.identity.raw())}
                for m in self.members
            ],
            "provisioning": self.provisioning,
        }
        return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("ascii")


def replica_dir(directory: Path, replica: int) -> Path:
    return Path(directory) / f"replica-{replica}"


# ------------------------------------------------------------------------------ setup


def setup_fleet(
    directory: Path,
    *,
    replicas: int = 5,
    quorum: int = 0,
    base_port: int = 0,
    seed: int | None = None,
    max_attempts: int = 10,
    timing: dict[str, int] | None = None,
    fleet_id: str = "vaultbench-fleet",
) -> FleetFile:
    """setup_fleet: provision a fleet under ``directory`` (see the module docstring).

    ``base_port`` 0 lets each replica take a free port from the OS at its first start
    (and try to keep it across restarts); otherwise replica ``i`` listens on
    ``base_port + i``. ``FleetDirError`` if the directory already holds a fleet or the
    configuration is invalid (a quorum that is not a majority, a port out of range).
    """
    directory = Path(directory)
    chosen_timing = dict(DEFAULT_TIMING if timing is None else timing)
    try:
        config = _consensus(replicas, quorum, chosen_timing)
        _policy(max_attempts)
    except (ConfigError, VaultError, TypeError) as bad:
        raise FleetDirError(f"invalid fleet configuration: {bad}") from None
    if not _valid_fleet_id(fleet_id):
        raise FleetDirError(f"fleet id: expected 1..{FLEET_ID_LEN} printable ASCII characters")
    if base_port != 0 and not MIN_PORT <= base_port <= 65535 - replicas + 1:
        raise FleetDirError(
            f"base port must be 0 (free ports) or 1024..{65535 - replicas + 1}, got {base_port}"
        )
    if (directory / FLEET_FILE).exists():
        raise FleetDirError(f"{directory} already holds a fleet ({FLEET_FILE} exists)")
    rng: Rng = SystemRng()
    if seed is not None:
        rng = SeededRng(f"vaultbench fleet setup {seed}".encode())
    kem = HsmConfig().kem
    fleet_seed = rng.random_bytes(SEED_LEN)
    replication_key = rng.random_bytes(SEED_LEN)
    identity_seeds = [rng.random_bytes(SEED_LEN) for _ in range(replicas)]
    fleet_public = FleetKeyPair.generate(kem, _Replay(fleet_seed)).public_key()
    members = tuple(
        Member(
            i,
            0 if base_port == 0 else base_port + i,
            SigningKey.generate(_Replay(identity_seeds[i])).public_key(),
        )
        for i in range(replicas)
    )
    fleet = FleetFile(
        fleet_id=fleet_id,
        host=LOOPBACK,
        quorum=config.q,
        kem=kem,
        fleet_public_key=fleet_public,
        max_attempts=max_attempts,
        timing=chosen_timing,
        members=members,
        provisioning="os-random" if seed is None else "seeded",
    )
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(replicas):
        where = replica_dir(directory, i)
        where.mkdir(mode=0o700, exist_ok=True)
        os.chmod(where, 0o700)
        keys = {
            "version": FORMAT_VERSION,
            "replica": i,
            "kem": kem.value,
            "fleet_key_seed": _b64(fleet_seed),
            "replication_key": _b64(replication_key),
            "identity_seed": _b64(identity_seeds[i]),
        }
        _write_private(where / KEYS_FILE, (json.dumps(keys, sort_keys=True) + "\n").encode())
    _write_atomic(directory / FLEET_FILE, fleet.encode(), 0o644)
    return fleet


def _consensus(replicas: int, quorum: int, timing: dict[str, int]) -> ConsensusConfig:
    unknown = sorted(set(timing) - set(DEFAULT_TIMING))
    if unknown:
        raise ConfigError(f"unknown timing {unknown[0]!r}")
    t = {**DEFAULT_TIMING, **timing}
    for name, value in t.items():
        if type(value) is not int or not 1 <= value <= MAX_TIMING:
            raise ConfigError(f"timing {name} must be an integer in 1..{MAX_TIMING}")
    return ConsensusConfig(
        replicas=replicas,
        quorum=quorum,
        heartbeat_ms=t["heartbeat_ms"],
        election_timeout_ms=t["election_timeout_ms"],
        retry_ms=t["retry_ms"],
        snapshot_every=t["snapshot_every"],
        catch_up_batch=t["catch_up_batch"],
    )


def _policy(max_attempts: int) -> VaultPolicy:
    if type(max_attempts) is not int or not 1 <= max_attempts <= MAX_ATTEMPTS:
        raise VaultError(f"max_attempts must be an integer in 1..{MAX_ATTEMPTS}")
    return VaultPolicy(max_attempts)


def _valid_fleet_id(fleet_id: object) -> bool:
    return (
        isinstance(fleet_id, str)
        and 1 <= len(fleet_id) <= FLEET_ID_LEN
        and all(" " <= c < "\x7f" for c in fleet_id)
    )


class _Replay:
    """An ``Rng`` that returns the one stored seed, so a key is made again from it."""

    def __init__(self, seed: bytes) -> None:
        self._seed: bytes | None = seed

    def random_bytes(self, n: int) -> bytes:
        seed, self._seed = self._seed, None
        if seed is None or len(seed) != n:
            raise FleetDirError(f"key seed: expected {n} bytes")
        return seed

    def __repr__(self) -> str:
        return "_Replay(<redacted>)"


# ---------------------------------------------------------------------------- reading


def load_fleet(directory: Path) -> FleetFile:
    """load_fleet: ``DIR/fleet.json``, checked field by field (``FleetDirError``)."""
    path = Path(directory) / FLEET_FILE
    value = _read_json(path)
    where = str(path)
    fields = {
        "version",
        "fleet_id",
        "host",
        "replicas",
        "quorum",
        "kem",
        "fleet_public_key",
        "max_attempts",
        "timing",
        "members",
        "provisioning",
    }
    _exact_fields(value, fields, where)
    if _int(value, "version", where) != FORMAT_VERSION:
        raise FleetDirError(f"{where}: version: expected {FORMAT_VERSION}")
    fleet_id = _str(value, "fleet_id", where)
    if not _valid_fleet_id(fleet_id):
        raise FleetDirError(
            f"{where}: fleet_id: expected 1..{FLEET_ID_LEN} printable ASCII characters"
        )
    host = _str(value, "host", where)
    if host != LOOPBACK:
        raise FleetDirError(f"{where}: host: only {LOOPBACK} (loopback) is supported")
    replicas = _int(value, "replicas", where)
    quorum = _int(value, "quorum", where)
    try:
        kem = KemChoice(_str(value, "kem", where))
    except ValueError:
        raise FleetDirError(f"{where}: kem: unknown KEM") from None
    try:
        public = decode_fleet_public_key(kem, _unb64(value, "fleet_public_key", where))
    except CryptoError:
        raise FleetDirError(f"{where}: fleet_public_key: not a valid {kem.value} key") from None
    max_attempts = _int(value, "max_attempts", where)
    timing_value = value["timing"]
    if not isinstance(timing_value, dict) or set(timing_value) != set(DEFAULT_TIMING):
        raise FleetDirError(f"{where}: timing: expected the fields {sorted(DEFAULT_TIMING)}")
    timing = {name: _int(timing_value, name, f"{where}: timing") for name in DEFAULT_TIMING}
    members_value = value["members"]
    if not isinstance(members_value, list) or len(members_value) != replicas:
        raise FleetDirError(f"{where}: members: expected a list of {replicas} replicas")
    members: list[Member] = []
    ports: set[int] = set()
    identities: set[bytes] = set()
    for i, item in enumerate(members_value):
        at = f"{where}: members[{i}]"
        if not isinstance(item, dict):
            raise FleetDirError(f"{at}: expected an object")
        _exact_fields(item, {"replica", "port", "identity"}, at)
        if _int(item, "replica", at) != i:
            raise FleetDirError(f"{at}: replica: expected {i}")
        port = _int(item, "port", at)
        if port != 0 and not MIN_PORT <= port <= 65535:
            raise FleetDirError(f"{at}: port: expected 0 (chosen at start) or {MIN_PORT}..65535")
        if port in ports:
            raise FleetDirError(f"{at}: port: {port} is another replica's port")
        if port:
            ports.add(port)
        raw_identity = _unb64(item, "identity", at)
        try:
            identity = VerifyKey.from_bytes(raw_identity)
        except CryptoError:
            raise FleetDirError(f"{at}: identity: not an Ed25519 public key") from None
        if raw_identity in identities:
            raise FleetDirError(f"{at}: identity: another replica's identity")
        identities.add(raw_identity)
        members.append(Member(i, port, identity))
    provisioning = _str(value, "provisioning", where)
    if provisioning not in ("seeded", "os-random"):
        raise FleetDirError(f"{where}: provisioning: expected seeded or os-random")
    fleet = FleetFile(
        fleet_id, host, quorum, kem, public, max_attempts, timing, tuple(members), provisioning
    )
    try:
        config = fleet.consensus()
        _policy(max_attempts)
    except (ConfigError, VaultError) as bad:
        raise FleetDirError(f"{where}: invalid configuration: {bad}") from None
    if config.q != quorum:
        raise FleetDirError(f"{where}: quorum: expected 1..{replicas}")
    return fleet


def load_replica_keys(directory: Path, replica: int, fleet: FleetFile) -> FleetKeys:
    """load_replica_keys: replica ``replica``'s ``FleetKeys`` from its ``keys.json``.

    ``FleetDirError`` if the file is readable by others than its owner, malformed, or its
    keys are not the ones ``fleet.json`` publishes for this replica.
    """
    if type(replica) is not int or not 0 <= replica < fleet.replicas:
        raise FleetDirError(f"replica {replica!r} outside 0..{fleet.replicas - 1}")
    path = replica_dir(directory, replica) / KEYS_FILE
    value = _read_json(path, private=True)
    where = str(path)
    _exact_fields(
        value,
        {"version", "replica", "kem", "fleet_key_seed", "replication_key", "identity_seed"},
        where,
        echo=False,
    )
    if _int(value, "version", where) != FORMAT_VERSION:
        raise FleetDirError(f"{where}: version: expected {FORMAT_VERSION}")
    if _int(value, "replica", where) != replica:
        raise FleetDirError(f"{where}: replica: expected {replica}")
    if _str(value, "kem", where) != fleet.kem.value:
        raise FleetDirError(f"{where}: kem: expected {fleet.kem.value}")
    seeds = {}
    for name in ("fleet_key_seed", "replication_key", "identity_seed"):
        raw = _unb64(value, name, where)
        if len(raw) != SEED_LEN:
            raise FleetDirError(f"{where}: {name}: expected {SEED_LEN} bytes, found {len(raw)}")
        seeds[name] = raw
    keypair = FleetKeyPair.generate(fleet.kem, _Replay(seeds["fleet_key_seed"]))
    if keypair.public_key() != fleet.fleet_public_key:
        raise FleetDirError(f"{where}: fleet_key_seed: does not make the published fleet key")
    signing = SigningKey.generate(_Replay(seeds["identity_seed"]))
    if signing.public_key() != fleet.members[replica].identity:
        raise FleetDirError(f"{where}: identity_seed: does not make the published identity")
    peers = tuple(m.identity for m in fleet.members)
    return FleetKeys(keypair, Secret(seeds["replication_key"]), signing, peers)


def read_port(directory: Path, replica: int) -> int | None:
    """read_port: the port replica ``replica`` listens on now, if it has written one
    (None for a missing file or anything but a port number)."""
    return _read_number(replica_dir(directory, replica) / PORT_FILE, 1, 65535)


def write_port(directory: Path, replica: int, port: int) -> None:
    _write_atomic(replica_dir(directory, replica) / PORT_FILE, f"{port}\n".encode(), 0o644)


def read_pid(directory: Path, replica: int) -> int | None:
    """read_pid: the process id written for replica ``replica`` (None for a missing file or
    anything but a process id, 1..2^31 - 1)."""
    return _read_number(replica_dir(directory, replica) / PID_FILE, 1, MAX_PID)


def write_pid(directory: Path, replica: int, pid: int) -> None:
    _write_atomic(replica_dir(directory, replica) / PID_FILE, f"{pid}\n".encode(), 0o644)


def clear_pid(directory: Path, replica: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        (replica_dir(directory, replica) / PID_FILE).unlink()


# ---------------------------------------------------------------------------- helpers


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: dict[str, object], name: str, where: str) -> bytes:
    text = _str(value, name, where)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FleetDirError(f"{where}: {name}: not base64") from None
    if _b64(raw) != text:
        raise FleetDirError(f"{where}: {name}: not canonical base64")
    return raw


def _read_regular(path: Path, limit: int, *, private: bool = False) -> bytes:
    """At most ``limit`` + 1 bytes of the regular file ``path`` (``FleetDirError`` for a
    missing file, anything but a regular file, or, if ``private``, a file others may
    read). Opened without blocking, so a FIFO is refused rather than waited on; the
    checks are made on the opened file, not on the name."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FleetDirError(f"{path}: missing") from None
    except OSError as exc:
        raise FleetDirError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FleetDirError(f"{path}: not a regular file")
        mode = info.st_mode & 0o777
        if private and mode & 0o077:
            raise FleetDirError(f"{path}: mode {mode:o}, expected 600 (owner only)")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise FleetDirError(f"{path}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _read_number(path: Path, low: int, high: int) -> int | None:
    """A short decimal number in ``low..high`` alone on a line in ``path``; None else."""
    try:
        data = _read_regular(path, 32)
    except FleetDirError:
        return None
    text = data.strip(b" \t\r\n")
    if not 1 <= len(text) <= 20 or not all(0x30 <= b <= 0x39 for b in text):
        return None
    if text.startswith(b"0"):  # "020": not what write_port / write_pid write
        return None
    value = int(text)
    return value if low <= value <= high else None


def _read_json(path: Path, *, private: bool = False) -> dict[str, object]:
    data = _read_regular(path, MAX_FILE, private=private)
    if len(data) > MAX_FILE:
        raise FleetDirError(f"{path}: larger than {MAX_FILE} bytes")
    try:
        value = json.loads(data.decode("ascii"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError: JSONDecodeError, _Duplicate and an integer of more than 4300 digits
        raise FleetDirError(f"{path}: not ASCII JSON without repeated fields") from None
    if not isinstance(value, dict):
        raise FleetDirError(f"{path}: expected a JSON object")
    return value


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _Duplicate
    return value


def _exact_fields(
    value: dict[str, object], fields: set[str], where: str, *, echo: bool = True
) -> None:
    """Exactly ``fields``; ``echo=False`` (a file holding secrets): an unknown field is
    not quoted, since its name could be key material moved by an edit."""
    missing = sorted(fields - set(value))
    unknown = sorted(set(value) - fields)
    if missing:
        raise FleetDirError(f"{where}: missing field {missing[0]}")
    if unknown:
        named = f" {unknown[0][:40]!r}" if echo else f" ({len(unknown)} of them, not shown)"
        raise FleetDirError(f"{where}: unknown field{named}")


def _int(value: dict[str, object], name: str, where: str) -> int:
    field = value.get(name)
    if type(field) is not int:
        raise FleetDirError(f"{where}: {name}: expected an integer")
    return field


def _str(value: dict[str, object], name: str, where: str) -> str:
    field = value.get(name)
    if not isinstance(field, str):
        raise FleetDirError(f"{where}: {name}: expected a string")
    return field


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
