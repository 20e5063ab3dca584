"""impl.nvram: the small tamper-resistant state an HSM keeps itself (its NVRAM).

The operator owns every disk a replica writes (``impl.store``, ``impl.sqlite_store``): it
can copy a store and put an old copy back, delete rows, change bytes. It does not own what
the HSM keeps inside its boundary: its keys, and a few bytes of non-volatile memory that
real HSMs offer (a monotonic counter, a small NV area). vaultbench uses three numbers:

``version``
    the store version last made durable; the replica refuses a store older than it
    (``impl.store.StoreRolledBack``);
``promised``
    the highest ballot the replica ever promised, exactly;
``vote_ceiling``
    one more than the highest slot the replica ever voted in (0: it never voted).

The last two are what a replica that refused its store restarts from (the rejoin rule,
``impl.consensus``): it keeps every promise it made and knows below which slot it may
have forgotten votes. ``writes`` counts NVRAM writes, for the endurance cost.

Order of writes (``impl.consensus.Replica``): the store first (its version ``v + 1``),
then the NVRAM, then the message that depends on them. So the NVRAM is never ahead of a
store write that was acknowledged, and at most one store write (the one in flight at a
crash) is ahead of the NVRAM.

Cost, stated in ``docs/disk.rst``: one NVRAM write per durable store write. NVRAM and
flash counters endure on the order of 10^5 to 10^6 writes per cell; a fleet writing a
vote per guess would wear one out, so a production HSM batches (one NVRAM write per group
commit) or spreads the counter over cells (or over peers, as ROTE does). A lost NVRAM is
a lost HSM: the replica cannot prove which store is current, and is not restarted.

``MemoryNvram`` is the simulator's (it lives in the HSM object, out of the operator's
reach); ``FileNvram`` is the process fleet's, a small file that stands for the NVRAM the
way ``keys.json`` stands for the HSM's keys: the tests' operator never touches it.
"""

from __future__ import annotations

import hmac
import json
import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Protocol

from impl.crypto.symmetric import KEY_LEN, hkdf_sha256, hmac_sha256
from impl.errors import StoreError
from impl.peer_messages import ZERO_BALLOT, Ballot
from impl.redact import Secret

NVRAM_FORMAT: Final = "vaultbench nvram v1"
NVRAM_KEY_INFO: Final = b"vaultbench nvram v1"
#: The most bytes a NVRAM file may have (it holds four numbers and a tag).
NVRAM_MAX_BYTES: Final = 4096
_MAX: Final = (1 << 63) - 1


class NvramError(StoreError):
    """The HSM's NVRAM does not read back (a fault of the HSM itself): the replica does
    not start; it is a lost HSM."""


@dataclass(frozen=True)
class NvramState:
    """What the HSM keeps across everything the operator can do to its disk."""

    version: int = 0
    promised: Ballot = ZERO_BALLOT
    vote_ceiling: int = 0
    writes: int = 0

    def after_write(
        self, version: int, promised: Ballot | None = None, voted: int | None = None
    ) -> NvramState:
        """after_write: the state once the store is at ``version``, with ``promised`` and
        a vote in slot ``voted`` folded into the ceilings."""
        ceiling = self.vote_ceiling if voted is None else max(self.vote_ceiling, voted + 1)
        top = self.promised if promised is None or promised <= self.promised else promised
        return replace(
            self, version=version, promised=top, vote_ceiling=ceiling, writes=self.writes + 1
        )


class Nvram(Protocol):
    """The HSM's non-volatile memory: ``read`` is ``None`` before the first write."""

    def read(self) -> NvramState | None: ...

    def write(self, state: NvramState) -> None: ...


class MemoryNvram:
    """MemoryNvram: the simulator's NVRAM (kept by the HSM object across crashes)."""

    def __init__(self) -> None:
        self._state: NvramState | None = None

    def __repr__(self) -> str:
        return f"MemoryNvram({self._state})"

    def read(self) -> NvramState | None:
        return self._state

    def write(self, state: NvramState) -> None:
        self._state = state


class FileNvram:
    """FileNvram: the process fleet's stand-in for an HSM's NVRAM, a JSON file at
    ``path`` with an HMAC under a key derived from the replica's storage key.

    Written atomically (a temporary file, ``fsync``, ``rename``, ``fsync`` of the
    directory). ``NvramError`` if the file is not one this HSM wrote.
    """

    def __init__(self, path: str | Path, storage_key: Secret) -> None:
        if not isinstance(storage_key, Secret) or len(storage_key) != KEY_LEN:
            raise NvramError(f"nvram {path}: the key must be a {KEY_LEN}-byte Secret")
        self._path: Final = Path(path)
        self._key: Final = hkdf_sha256(storage_key.reveal(), NVRAM_KEY_INFO)

    def __repr__(self) -> str:
        return f"FileNvram({str(self._path)!r})"

    def _mac(self, body: str) -> str:
        return hmac_sha256(self._key, body.encode("ascii")).hex()

    def read(self) -> NvramState | None:
        where = f"nvram {self._path}"
        try:
            # Non-blocking, and only a regular file: a FIFO or a device in its place must
            # not hang the replica.
            fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise NvramError(f"{where}: cannot read: {exc.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise NvramError(f"{where}: not a regular file")
            data = os.read(fd, NVRAM_MAX_BYTES + 1)
        except OSError as exc:
            raise NvramError(f"{where}: cannot read: {exc.strerror}") from None
        finally:
            os.close(fd)
        if len(data) > NVRAM_MAX_BYTES:
            raise NvramError(f"{where}: larger than {NVRAM_MAX_BYTES} bytes")
        try:
            outer = json.loads(data.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise NvramError(f"{where}: not an ASCII JSON document") from None
        if not isinstance(outer, dict) or set(outer) != {"body", "mac"}:
            raise NvramError(f"{where}: expected exactly the keys body, mac")
        body, mac = outer["body"], outer["mac"]
        if not isinstance(body, str) or not isinstance(mac, str):
            raise NvramError(f"{where}: body and mac must be strings")
        if not hmac.compare_digest(mac.encode("ascii", "replace"), self._mac(body).encode()):
            raise NvramError(f"{where}: does not verify under this HSM's key")
        try:
            fields = json.loads(body)
            if fields.get("format") != NVRAM_FORMAT:
                raise NvramError(f"{where}: not in format {NVRAM_FORMAT!r}")
            numbers = [fields[k] for k in ("version", "round", "replica", "ceiling", "writes")]
        except (ValueError, KeyError, AttributeError):
            raise NvramError(f"{where}: a field is missing or malformed") from None
        if any(type(v) is not int or not 0 <= v <= _MAX for v in numbers):
            raise NvramError(f"{where}: numbers must be integers in 0..2^63-1")
        version, rnd, rep, ceiling, writes = numbers
        return NvramState(version, Ballot(rnd, rep), ceiling, writes)

    def write(self, state: NvramState) -> None:
        body = json.dumps(
            {
                "format": NVRAM_FORMAT,
                "version": state.version,
                "round": state.promised.round,
                "replica": state.promised.replica,
                "ceiling": state.vote_ceiling,
                "writes": state.writes,
            },
            sort_keys=True,
        )
        data = json.dumps({"body": body, "mac": self._mac(body)}).encode("ascii")
        tmp = self._path.with_name(self._path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self._path)
            dir_fd = os.open(self._path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise NvramError(f"nvram {self._path}: cannot write: {exc.strerror}") from None
