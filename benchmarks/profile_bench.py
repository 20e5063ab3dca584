"""benchmarks/profile_bench.py: where one benchmark's figure spends its time (cProfile).

Usage (from the repository's root)::

    .venv/bin/python benchmarks/profile_bench.py bundle|recovery|auditlog [--ops N] [--top K]

It builds the same fixture ``vaultbench bench`` measures (same seeds), runs the figure's
operation ``--ops`` times under ``cProfile`` (the floor is not profiled: it is the
primitives themselves) and prints the ``--top`` functions by their own time and by their
cumulative time. This is how the hotspots named in ``docs/bench.rst`` were found.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from collections.abc import Callable, Sequence

from impl.auditlog import sign_entry
from impl.bundle import ClientTrust, MemoryEpochStore, verify_bundle
from impl.crypto.ed25519 import SigningKey
from impl.crypto.symmetric import SeededRng, sha256
from impl.hsm import HsmConfig
from impl.replica import provision_fleet
from impl.sim.world import NetworkConfig
from impl.statement import CIPHERSUITE_ED25519_PROTOBUF, SignatureMessage, key_id
from vaultbench import bench


def bundle_op(seed: int) -> Callable[[], object]:
    rng = SeededRng(f"vaultbench bench bundle {seed}".encode())
    public, keys = provision_fleet(5, HsmConfig(), rng)
    witness, operator = SigningKey.generate(rng), SigningKey.generate(rng)
    file = bench.fleet_file(public, [k.signing_key.public_key() for k in keys])
    data = bench.bundle_bytes(file, witness, operator)
    trust = ClientTrust(
        {key_id(witness.public_key()): witness.public_key()},
        operator.public_key(),
        client_attestation=False,
    )
    return lambda: verify_bundle(data, trust, MemoryEpochStore())


def recovery_op(seed: int) -> Callable[[], object]:
    fleet = bench.FleetBench(5, seed, NetworkConfig(min_delay=0, max_delay=0), ota=True)
    return fleet.recovery


def auditlog_op(seed: int, ops: int) -> Callable[[], object]:
    signer = SigningKey.generate(SeededRng(f"vaultbench bench log {seed}".encode()))
    entries = [
        sign_entry(
            SignatureMessage(
                CIPHERSUITE_ED25519_PROTOBUF,
                "vaultbench.bench",
                bench.T0_MS,
                epoch,
                sha256(b"vaultbench bench file %d" % epoch),
            ),
            signer,
        )
        for epoch in range(1, 1024 + ops + 2)
    ]
    log = bench._LogBench(entries, signer, 1024, verified=False)
    return log.figure


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/profile_bench.py", description=__doc__)
    parser.add_argument("name", choices=("bundle", "recovery", "auditlog"))
    parser.add_argument("--ops", type=int, default=200, help="operations profiled")
    parser.add_argument("--top", type=int, default=25, help="functions shown")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.name == "bundle":
        op = bundle_op(args.seed)
    elif args.name == "recovery":
        op = recovery_op(args.seed)
    else:
        op = auditlog_op(args.seed, args.ops)
    op()  # warm up (and, for the log, nothing else: one entry of the spares)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.ops):
        op()
    profile.disable()
    stats = pstats.Stats(profile, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
