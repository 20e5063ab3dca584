"""impl.net.durable: what a stopped replica's SQLite store says, read offline.

``read_durable_vault`` opens ``replica-<i>/store.sqlite`` of a replica that is not
running and rebuilds the vault the way ``impl.consensus.Replica.start`` does: the
snapshot's records, then every chosen slot from the snapshot on, in order, until the
first slot not known to be chosen (a refused command changes nothing, as in the running
replica). It is how a test checks, after ``SIGKILL``s, what survived on disk without
trusting the running fleet's own answers. The records it returns hold secrets (a
destroyed record's is empty); they are never printed (``Secret`` redacts itself).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from impl.errors import StoreError, VaultError
from impl.net.fleetdir import STORE_FILE, load_fleet, load_replica_keys, replica_dir
from impl.peer_messages import Ballot, Noop
from impl.peer_wire import encode_proposal
from impl.replica import storage_key
from impl.sqlite_store import SqliteReplicaStore
from impl.vault import Vault, VaultPolicy, VaultRecord


@dataclass(frozen=True)
class DurableVault:
    """One replica's durable state: the vault it would restart with, and its log."""

    replica: int
    promised: Ballot
    boots: int
    snapshot_upto: int
    #: every slot below this one is applied in ``records``
    applied: int
    records: tuple[VaultRecord, ...]
    #: chosen slots at or above the snapshot, as ``impl.peer_wire`` encodings
    chosen: dict[int, bytes]
    #: votes at or above the snapshot: slot -> (ballot, encoded proposal)
    accepted: dict[int, tuple[Ballot, bytes]]

    def __repr__(self) -> str:
        return (
            f"DurableVault(hsm[{self.replica}], applied={self.applied}, "
            f"{len(self.records)} records, boots={self.boots})"
        )

    def record(self, user: str) -> VaultRecord | None:
        for record in self.records:
            if record.user == user:
                return record
        return None


def read_durable_vault(directory: Path, replica: int, policy: VaultPolicy) -> DurableVault:
    """read_durable_vault: replica ``replica``'s durable state in fleet ``directory``.

    Precondition: the replica's process is not running. ``StoreError`` if the store is
    missing or does not decode.
    """
    path = replica_dir(Path(directory), replica) / STORE_FILE
    if not path.is_file():
        raise StoreError(f"replica store {path}: missing")
    # The workbench's reader holds the replica's keys (its own fleet directory); on a real
    # fleet only the HSM can open its store.
    keys = load_replica_keys(Path(directory), replica, load_fleet(Path(directory)))
    with SqliteReplicaStore(path, storage_key(keys, replica)) as store:
        state = store.load()
    vault = Vault(policy)
    vault.restore(state.snapshot.records)
    applied = state.snapshot.upto
    while applied in state.chosen:
        value = state.chosen[applied].value
        if not isinstance(value, Noop):
            with contextlib.suppress(VaultError):
                vault.apply(value)
        applied += 1
    return DurableVault(
        replica=replica,
        promised=state.promised,
        boots=state.boots,
        snapshot_upto=state.snapshot.upto,
        applied=applied,
        records=vault.records(),
        chosen={slot: encode_proposal(p) for slot, p in state.chosen.items()},
        accepted={
            slot: (e.ballot, encode_proposal(e.proposal)) for slot, e in state.accepted.items()
        },
    )
