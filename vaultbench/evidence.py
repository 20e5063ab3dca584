"""vaultbench.evidence: ``vaultbench deploy`` and ``vaultbench audit``.

``deploy --out DIR`` runs a simulated deployment ceremony for the next fleet epoch (or
``--epoch E``) and publishes its evidence under DIR (``impl.ceremony``); ``audit DIR``
verifies published evidence step by step (``impl.audit``) and exits 1 naming the first
failing step and its file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from impl.audit import audit
from impl.ceremony import Parties, deploy, open_log
from impl.errors import VaultbenchError
from impl.statement import DEFAULT_NAMESPACE

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """add_parsers: the ``deploy`` and ``audit`` subcommands."""
    from vaultbench.args import at_least as _at_least

    deploy_cmd = commands.add_parser(
        "deploy",
        help="run a simulated fleet deployment ceremony and publish its evidence",
        description="Generate the fleet's keys inside the HSMs, have the vendor attest "
        "them, write the fleet-key file, have the witness sign and log it and the operator "
        "counter-sign, and publish the evidence. Deploying again into the same directory "
        "adds the next epoch to the same witness log.",
    )
    deploy_cmd.add_argument("--out", required=True, type=Path, help="evidence directory")
    deploy_cmd.add_argument(
        "--replicas", type=_at_least(1), default=5, help="replicas in the fleet (default 5)"
    )
    deploy_cmd.add_argument(
        "--epoch", type=_at_least(1), help="the epoch to deploy (default: the log's next)"
    )
    deploy_cmd.add_argument(
        "--witness-policy",
        choices=["log-only", "vetting"],
        default="log-only",
        help="log-only (default): the witness checks only the epoch and a new digest; "
        "vetting: it also verifies the vendor attestations before it signs",
    )
    deploy_cmd.add_argument(
        "--seed",
        type=_at_least(0),
        default=1,
        help="seed of the simulated parties' keys and the ceremony (default 1)",
    )
    audit_cmd = commands.add_parser(
        "audit",
        help="verify published deployment evidence step by step",
        description="Check every epoch's proof, artifact digest, witness signature, "
        "operator counter-signature, log inclusion and consistency, vendor attestation and "
        "firmware, majority configuration and ceremony record, then the log's "
        "completeness, and diff the fleets across epochs. Exit 1 on any failing step.",
    )
    audit_cmd.add_argument("directory", type=Path, help="the evidence directory")
    audit_cmd.add_argument("--json", action="store_true", help="print one JSON document")


def run_deploy(args: argparse.Namespace) -> int:
    """run_deploy: the ``deploy`` command."""
    out: Path = args.out
    try:
        epoch = args.epoch
        if epoch is None:
            epoch = open_log(Parties.from_seed(args.seed), out).next_epoch(DEFAULT_NAMESPACE)
        deployment = deploy(
            out,
            epoch=epoch,
            replicas=args.replicas,
            seed=args.seed,
            policy=args.witness_policy,
        )
    except (VaultbenchError, OSError) as error:
        print(f"vaultbench deploy: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    file = deployment.file
    print(
        f"deployed epoch {file.epoch}: fleet {file.fleet_id}, {file.replica_count} replicas, "
        f"quorum {file.quorum}; witness log entry {deployment.log_index}; evidence in "
        f"{out / f'epoch-{file.epoch}'}"
    )
    return EXIT_OK


def run_audit(args: argparse.Namespace) -> int:
    """run_audit: the ``audit`` command."""
    directory: Path = args.directory
    if not directory.is_dir():
        print(f"vaultbench audit: error: {directory} is not a directory", file=sys.stderr)
        return EXIT_USAGE
    report = audit(directory)
    if args.json:
        document = {
            "ok": report.ok,
            "steps": [step.__dict__ for step in report.steps],
            "diff": report.diff,
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"vaultbench audit {directory}")
        print(report.render())
        print()
        failed = [step for step in report.steps if not step.ok]
        if failed:
            first = failed[0]
            where = f"epoch {first.epoch}, " if first.epoch else ""
            print(f"FAILED: {first.name} ({where}{first.file}): {first.detail}")
        else:
            print("every step PASS")
    return EXIT_OK if report.ok else EXIT_FAILED
