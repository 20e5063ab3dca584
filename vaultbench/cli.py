"""vaultbench.cli: the workbench's command line.

``vaultbench check`` proves the invariants on the model with Z3 (I3 for the single-copy
vault; I1 for who can decrypt; I4, I5 and I7 for the fleet keys; I2, I3 under consensus
and I6 for the fleet), runs seeded conformance walks of the implementation against the
model and a short fault-injection simulation of the fleet; it is the command a CI job
runs: ``--junit FILE`` and ``--save-counterexamples FILE`` write reports
(``vaultbench.junit``), ``--config FILE`` describes another fleet and campaign and
``--thorough`` lengthens the campaigns (``vaultbench.checkconfig``);
``vaultbench simulate`` runs the fleet's deterministic simulator; ``vaultbench demo``
tells one method's story end to end, on one HSM or (``--fleet``) on five. Exit codes: 0
every invariant holds, 1 an invariant is violated (the counterexample is printed), 2
usage error (for ``check``, also a configuration file that fails validation).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from model.bundles import BUNDLE_VARIANT_NAMES
from model.flows import KNOWLEDGE_VARIANTS
from model.variants import FLEET_VARIANT_NAMES
from model.vault import DEFAULT_MAX_ATTEMPTS, VARIANTS, Method, VaultConfig
from vaultbench.args import at_least as _at_least
from vaultbench.checkconfig import (
    DEFAULT_QUORUM,
    DEFAULT_REPLICAS,
    THOROUGH,
    THOROUGH_I2_DEPTH,
    CheckConfig,
    thorough_i3_depth,
)

I5_VARIANT = "migrate-on-server-request"
EXIT_OK = 0
EXIT_VIOLATED = 1
EXIT_USAGE = 2


@dataclass
class Row:
    invariant: str
    obligation: str
    result: str
    seconds: float
    detail: str = ""


class RowNotes(list[str]):
    """RowNotes: a list of texts (counterexamples, reproducer commands) that remembers,
    for each text appended, the row it was appended after: the check helpers append a
    failing row and then its counterexample, so that row is the one it belongs to."""

    def __init__(self, rows: list[Row], texts: Iterable[str] = ()) -> None:
        super().__init__()
        self._rows = rows
        #: for each text, the index of its row (-1: appended before any row)
        self.row_of: list[int] = []
        self.extend(texts)

    def append(self, text: str, /) -> None:
        super().append(text)
        self.row_of.append(len(self._rows) - 1)

    def extend(self, texts: Iterable[str], /) -> None:
        for text in texts:
            self.append(text)


@dataclass
class CheckOutcome:
    rows: list[Row] = field(default_factory=list)
    counterexamples: list[str] = field(default_factory=list)
    reproduce: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counterexamples = RowNotes(self.rows, self.counterexamples)
        self.reproduce = RowNotes(self.rows, self.reproduce)

    def notes_by_row(self) -> dict[int, tuple[list[str], list[str]]]:
        """The counterexamples and reproducer commands of each row that has any, by row
        index in row order (-1: texts appended before the first row)."""
        notes: dict[int, tuple[list[str], list[str]]] = {}
        for column, texts in enumerate((self.counterexamples, self.reproduce)):
            linked = isinstance(texts, RowNotes) and len(texts.row_of) == len(texts)
            rows = texts.row_of if isinstance(texts, RowNotes) and linked else [-1] * len(texts)
            for text, index in zip(texts, rows, strict=True):
                notes.setdefault(index, ([], []))[column].append(text)
        return dict(sorted(notes.items()))

    @property
    def ok(self) -> bool:
        return all(row.result in ("PASS", "REACHABLE", "N/A") for row in self.rows)

    @property
    def violated(self) -> list[str]:
        """The invariants with a failing row, in the order they first failed."""
        names: dict[str, None] = {}
        for row in self.rows:
            if row.result not in ("PASS", "REACHABLE", "N/A"):
                names.setdefault(row.invariant.removesuffix(" (fleet)"), None)
        # Rows that check two invariants at once ("I3+I6 (fleet)") name them only when no
        # row names a single invariant.
        single = [name for name in names if "+" not in name]
        return single or list(names)


_positive = _at_least(1)
_seed = _at_least(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vaultbench",
        description="A workbench for end-to-end encrypted backup vaults: "
        "model, implementation, Z3 proofs and conformance tests.",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=None,
        help="log the implementation's steps to stderr from this level on (DEBUG shows "
        "every request, answer, ballot and slot; never a secret). Default: no log",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="prove the invariants and run a conformance walk (the CI job)",
        description="Check the invariants. The single-copy vault: I3 attempt-limit (Z3 "
        "inductive obligations for every limit, bounded model checking for the shortest "
        "counterexample, sanity reachability) and seeded conformance walks. The fleet: I2 "
        "quorum-safety (Paxos in EPR for any number of replicas, the configured quorums), "
        "I3 under consensus and I6 durability (parametric obligations, BMC), a short "
        "simulation with every fault and a walk of the fleet against the model. The keys: "
        "I4 bundle-authenticity and I7 fleet-transparency per corrupted party, I5 "
        "guess-budget (obligations, BMC, a simulated rotation). Who can decrypt: I1 "
        "no-single-party-decrypts per method and fleet-key mode. Exit 0: every invariant "
        "holds; 1: one is violated (counterexamples printed); 2: usage or configuration "
        "error (nothing runs).",
    )
    check.add_argument(
        "--variant",
        choices=sorted(
            {
                *VARIANTS,
                *FLEET_VARIANT_NAMES,
                *BUNDLE_VARIANT_NAMES,
                I5_VARIANT,
                *KNOWLEDGE_VARIANTS,
            }
        ),
        help="run against an unsafe variant of the vault or the fleet (expect exit 1)",
    )
    # The sizes default to None so that a flag given on the command line can be told from
    # one left out: a flag wins over --thorough and --config (checkconfig.resolve_campaign).
    check.add_argument(
        "--max-attempts",
        type=_positive,
        default=None,
        help=f"the attempt limit (default {DEFAULT_MAX_ATTEMPTS})",
    )
    check.add_argument(
        "--seed",
        type=_seed,
        default=None,
        help="first seed of the conformance walks, the simulations and the fleet walk (default 1)",
    )
    check.add_argument(
        "--steps",
        type=_positive,
        default=None,
        help="steps of each conformance walk (default 300; --thorough 1000)",
    )
    check.add_argument(
        "--walks",
        type=_positive,
        default=None,
        help="conformance walks, seeds SEED..SEED+WALKS-1 (default 4; --thorough 16)",
    )
    check.add_argument(
        "--sim-seeds",
        type=_at_least(0),
        default=None,
        help="simulation runs with every fault, seeds SEED.. (default 2; --thorough 8)",
    )
    check.add_argument(
        "--sim-steps",
        type=_positive,
        default=None,
        help="events per simulation (default 1000; --thorough 3000)",
    )
    check.add_argument(
        "--fleet-walk-steps",
        type=_at_least(0),
        default=None,
        help="steps of the fleet's conformance walk (default 40, --thorough 200; 0 skips it)",
    )
    check.add_argument(
        "--part",
        choices=["all", "vault", "fleet", "keys", "knowledge"],
        default="all",
        help="check only the single-copy vault, only the fleet, only the fleet keys "
        "(bundles, I4/I5/I7), only who can decrypt (I1), or everything (default all)",
    )
    check.add_argument("--json", action="store_true", help="print one JSON document")
    check.add_argument(
        "--thorough",
        action="store_true",
        help="longer campaigns, for a nightly job (minutes, not seconds): at least "
        f"{THOROUGH['walks']} conformance walks of {THOROUGH['steps']} steps, "
        f"{THOROUGH['sim_seeds']} simulations of {THOROUGH['sim_steps']} events, a fleet "
        f"walk of {THOROUGH['fleet_walk_steps']} steps; the vault's I3 BMC to depth "
        f"2*MAX_ATTEMPTS+3 and the fleet's I2 (Paxos) BMC to depth {THOROUGH_I2_DEPTH}. "
        "The other BMC depths (I3/I6 on the fleet, I4, I5, I7) are fixed by their proofs. "
        "A size flag given explicitly still wins",
    )
    check.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML file describing another fleet and campaign ([fleet] replicas, quorum; "
        "[vault] max_attempts; [keys] modes, witness_policy, client_attestation; "
        "[knowledge] threshold; [campaign] seed, walks, steps, sim_seeds, sim_steps, "
        "fleet_walk_steps); flags given explicitly win. Which keys reach which rows: "
        "docs/running.rst. An unknown key or a bad value exits 2 before anything runs",
    )
    check.add_argument(
        "--junit",
        metavar="FILE",
        help="also write JUnit XML to FILE: one testsuite per invariant, one testcase per "
        "row, a <failure> with the counterexample for each failing row",
    )
    check.add_argument(
        "--save-counterexamples",
        metavar="FILE",
        help="also write every counterexample (invariant, obligation, text, reproducer "
        "command) to FILE as JSON; an empty list when every invariant holds",
    )

    demo = commands.add_parser(
        "demo",
        help="a narrated end-to-end story for one protection method",
        description="Set up, back up, lose the phone, recover; for password, ten wrong "
        "guesses and the record destroyed. Real cryptography, one HSM.",
    )
    demo.add_argument("--method", choices=[m.value for m in Method])
    demo.add_argument(
        "--fleet",
        action="store_true",
        help="the password story on a simulated fleet of five HSMs, through outages",
    )
    demo.add_argument("--kem", choices=["x25519", "mlkem768-x25519"], default="x25519")
    demo.add_argument("--seed", type=_seed, default=7, help="seed of the story (default 7)")
    demo.add_argument(
        "--fast-kdf",
        action="store_true",
        help="use test-strength Argon2id parameters (faster; never for real data)",
    )

    from vaultbench import bench, coalitions, evidence, fleet_cmd, mutants, rotate, simulate, site

    bench.add_arguments(
        commands.add_parser(
            "bench",
            help="performance as ratios to the cryptographic floor, measured in the same run",
            description=bench.DESCRIPTION,
        )
    )
    fleet_cmd.add_arguments(commands)
    simulate.add_parser(commands)
    rotate.add_parser(commands)
    coalitions.add_parser(commands)
    mutants.add_parser(commands)
    site.add_parser(commands)
    evidence.add_parsers(commands)
    return parser


def run_check(
    variant: str | None,
    max_attempts: int,
    seed: int,
    steps: int,
    walks: int,
    sim_seeds: int = 2,
    sim_steps: int = 1000,
    fleet_walk_steps: int = 40,
    part: str = "all",
    *,
    replicas: int = DEFAULT_REPLICAS,
    quorum: int = DEFAULT_QUORUM,
    thorough: bool = False,
    config: CheckConfig | None = None,
) -> CheckOutcome:
    """run_check: the single-copy vault (I3), who can decrypt (I1), the fleet keys (I4, I5,
    I7), then the fleet (I2, I3 under consensus, I6).

    ``replicas`` and ``quorum`` size the I2 quorum row, the simulation and the fleet walk
    (the ``minority-quorum`` variant uses ``replicas // 2``); ``config`` (``check
    --config``) sets the I1 scenarios (modes, witness policy, client attestation,
    threshold) and the I4/I7 setting (witness policy, client attestation); ``thorough``
    deepens the BMCs whose depth the proofs take as a parameter (the single-copy vault's
    I3, the fleet's I2).
    """
    from vaultbench import bundle_check, fleet_check, i1_check

    vault_variant = variant if variant in VARIANTS else None
    # The simulator and the fleet walk run the vault's and the fleet's variants only.
    running_variant = variant if variant in (*VARIANTS, *FLEET_VARIANT_NAMES) else None
    outcome = CheckOutcome()
    if part in ("all", "vault"):
        depth = thorough_i3_depth(max_attempts) if thorough else None
        outcome = run_vault_check(vault_variant, max_attempts, seed, steps, walks, depth)
    if part in ("all", "knowledge"):
        i1_check.check_i1(outcome, variant, config)
    if part in ("all", "keys"):
        keys = config or CheckConfig()
        bundle_check.check_bundle_proofs(
            outcome, variant, keys.witness_policy, keys.client_attestation
        )
        bundle_check.check_guess_budget(outcome, variant)
        bundle_check.check_rotation(outcome, variant, seed)
    if part not in ("all", "fleet"):
        return outcome
    consensus_variant = variant if variant in fleet_check.CONSENSUS_VARIANTS else None
    if thorough and consensus_variant is None:
        from proofs.paxos_i2 import check_i2

        fleet_check._i2_rows(outcome, check_i2(None, max_depth=THOROUGH_I2_DEPTH))
    else:
        fleet_check.check_i2(outcome, variant)
    chosen_quorum = replicas // 2 if variant == "minority-quorum" else quorum
    fleet_check.check_quorum_config(
        outcome,
        replicas,
        chosen_quorum,
        beyond_budget=variant == "rollback-beyond-budget",
        undetected=variant == "rollback-undetected",
    )
    fleet_check.check_fleet_proofs(outcome, variant)
    # The default fleet runs as before (quorum 0: the majority), so its reproducers stay.
    default_fleet = (replicas, quorum) == (DEFAULT_REPLICAS, DEFAULT_QUORUM)
    fleet_quorum = 0 if default_fleet else quorum
    if sim_seeds:
        fleet_check.check_simulation(
            outcome,
            running_variant,
            seed,
            sim_seeds,
            sim_steps,
            replicas=replicas,
            quorum=fleet_quorum,
            max_attempts=max_attempts,
        )
    if fleet_walk_steps:
        fleet_check.check_fleet_walk(
            outcome,
            running_variant,
            seed,
            fleet_walk_steps,
            max_attempts,
            replicas=replicas,
            quorum=fleet_quorum,
        )
    return outcome


def run_vault_check(
    variant: str | None,
    max_attempts: int,
    seed: int,
    steps: int,
    walks: int,
    bmc_depth: int | None = None,
) -> CheckOutcome:
    """run_vault_check: I3 on the single-copy vault: Z3 and the conformance walks.

    ``bmc_depth`` bounds the BMC and the sanity queries (default ``max_attempts + 3``).
    """
    from proofs.vault_i3 import check_i3
    from vaultbench.conformance import render_op, run_walk

    outcome = CheckOutcome()
    config = VaultConfig(max_attempts=max_attempts, variant=variant)
    report = check_i3(config, max_depth=bmc_depth)
    inv = "I3 attempt-limit"
    for obligation in report.obligations:
        outcome.rows.append(Row(inv, obligation.name, obligation.status, obligation.seconds))
        if obligation.status != "PASS" and obligation.counterexample is not None:
            outcome.counterexamples.append(
                f"{obligation.name} fails (the invariant is not inductive):\n"
                + obligation.counterexample.render()
            )
    bmc = report.bmc
    outcome.rows.append(
        Row(
            inv,
            f"BMC depth <= {bmc.max_depth}",
            "FAIL" if bmc.violated else "PASS",
            bmc.seconds,
            f"shortest counterexample: {bmc.depth} steps" if bmc.violated else "",
        )
    )
    if bmc.trace is not None:
        outcome.counterexamples.append(
            f"shortest counterexample (BMC, depth {bmc.depth}):\n" + bmc.trace.render()
        )
    for query in report.sanity:
        # A sanity query that finds nothing means the model is vacuous there, except where
        # the variant removes that behaviour on purpose (no-destroy never destroys).
        intended = variant == "no-destroy" and "destroyed" in query.name
        if query.reachable:
            row = Row(inv, f"sanity: {query.name}", "REACHABLE", query.seconds)
        elif intended:
            row = Row(
                inv, f"sanity: {query.name}", "PASS", query.seconds, "unreachable, as intended"
            )
        else:
            row = Row(inv, f"sanity: {query.name}", "UNREACHABLE", query.seconds, "vacuous model?")
        outcome.rows.append(row)

    for walk_seed in range(seed, seed + walks):
        started = time.perf_counter()
        walk = run_walk(walk_seed, steps, variant=variant, max_attempts=max_attempts)
        elapsed = time.perf_counter() - started
        label = f"conformance walk (seed {walk_seed}, {steps} steps)"
        if walk.failure is None:
            outcome.rows.append(Row(inv, label, "PASS", elapsed))
            continue
        outcome.rows.append(
            Row(walk.failure.invariant, label, "FAIL", elapsed, f"at step {walk.steps}")
        )
        short = "\n".join(f"  harness.{render_op(op)}" for op in walk.reproducer)
        outcome.counterexamples.append(
            f"conformance walk (seed {walk_seed}) failed at step {walk.steps}: {walk.failure}\n"
            f"shortened to {len(walk.reproducer)} of {walk.steps} operations, which fail the "
            f"same way on a fresh Harness(variant={variant!r}, max_attempts={max_attempts}):\n"
            f"{short}"
        )
        flag = f" --variant {variant}" if variant else ""
        outcome.reproduce.append(
            f"vaultbench check{flag} --seed {walk_seed} --walks 1 --steps {walk.steps}"
            f" --max-attempts {max_attempts}"
        )
    return outcome


def _print_table(
    outcome: CheckOutcome,
    variant: str | None,
    thorough: bool = False,
    config: CheckConfig | None = None,
) -> None:
    title = f"{variant} (unsafe variant)" if variant else "safe vault and fleet"
    if thorough:
        title += ", thorough"
    print(f"vaultbench check — {title}")
    if config is not None and config.source is not None:
        print(f"config {config.describe()}")
    widths = (26, 46, 11)
    header = ("invariant", "obligation", "result")
    print(f"{header[0]:<{widths[0]}} {header[1]:<{widths[1]}} {header[2]:<{widths[2]}}  time")
    print("-" * (sum(widths) + 12))
    for row in outcome.rows:
        time_text = f"{row.seconds * 1000:8.1f} ms"
        line = (
            f"{row.invariant:<{widths[0]}} {row.obligation:<{widths[1]}} "
            f"{row.result:<{widths[2]}} {time_text}"
        )
        if row.detail:
            line += f"  {row.detail}"
        print(line)
    for text in outcome.counterexamples:
        print()
        print(text)
    for command in outcome.reproduce:
        print(f"\nreproduce with: {command}")
    print()
    if outcome.ok:
        print("all invariants hold")
    else:
        print("VIOLATED: " + ", ".join(outcome.violated))


def _check(args: argparse.Namespace) -> int:
    """``vaultbench check``: resolve the configuration, run, print, write the reports."""
    from vaultbench.checkconfig import CheckConfig, ConfigError, load_config, resolve_campaign
    from vaultbench.junit import write_counterexamples, write_junit

    def usage_error(message: str) -> int:
        print(f"vaultbench check: error: {message}", file=sys.stderr)
        return EXIT_USAGE

    try:
        config = CheckConfig() if args.config is None else load_config(args.config)
    except ConfigError as exc:
        return usage_error(str(exc))
    for option, target in (
        ("--junit", args.junit),
        ("--save-counterexamples", args.save_counterexamples),
    ):
        if target is not None and not Path(target).resolve().parent.is_dir():
            return usage_error(f"{option} {target}: no such directory")

    flags = {
        "max_attempts": args.max_attempts,
        "seed": args.seed,
        "walks": args.walks,
        "steps": args.steps,
        "sim_seeds": args.sim_seeds,
        "sim_steps": args.sim_steps,
        "fleet_walk_steps": args.fleet_walk_steps,
    }
    campaign = resolve_campaign(flags, config, args.thorough)
    outcome = run_check(
        args.variant,
        campaign.max_attempts,
        campaign.seed,
        campaign.steps,
        campaign.walks,
        campaign.sim_seeds,
        campaign.sim_steps,
        campaign.fleet_walk_steps,
        args.part,
        replicas=config.replicas,
        quorum=config.quorum,
        thorough=args.thorough,
        config=config,
    )
    if args.json:
        document = {
            "variant": args.variant,
            "max_attempts": campaign.max_attempts,
            "thorough": args.thorough,
            "config": None if args.config is None else config.to_json(),
            "ok": outcome.ok,
            "rows": [row.__dict__ for row in outcome.rows],
            "counterexamples": list(outcome.counterexamples),
            "reproduce": list(outcome.reproduce),
        }
        print(json.dumps(document, indent=2))
    else:
        _print_table(outcome, args.variant, args.thorough, config)
    try:
        if args.junit is not None:
            write_junit(args.junit, outcome, args.variant)
        if args.save_counterexamples is not None:
            write_counterexamples(args.save_counterexamples, outcome, args.variant)
    except OSError as exc:
        return usage_error(f"cannot write {exc.filename}: {exc.strerror or exc}")
    return EXIT_OK if outcome.ok else EXIT_VIOLATED


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _log_to_stderr(level: str) -> None:
    """``--log-level``: the implementation's log on stderr (stdout stays the report)."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("vaultbench")
    root.addHandler(handler)
    root.setLevel(level)


def console_main() -> int:
    """console_main: the ``vaultbench`` script. ``main``, plus what a shell expects of a
    filter: when the reader of stdout goes away (``vaultbench check | head``), stop
    quietly with the status a pipe-killed command has (128 + SIGPIPE)."""
    import os

    try:
        code = main()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Python would complain again flushing stdout at exit: point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + 13


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code) if isinstance(exit_.code, int) else EXIT_USAGE
    if args.log_level is not None:
        _log_to_stderr(args.log_level)

    if args.command == "check":
        return _check(args)

    if args.command == "bench":
        from vaultbench import bench

        return bench.run(args)

    if args.command == "fleet":
        from vaultbench import fleet_cmd

        return fleet_cmd.run(args)

    if args.command == "simulate":
        from vaultbench import simulate

        return simulate.run(args)

    if args.command == "site":
        from vaultbench import site

        return site.run(args)

    if args.command == "mutants":
        from vaultbench import mutants

        return mutants.run(args)

    if args.command == "coalitions":
        from vaultbench import coalitions

        return coalitions.run(args)

    if args.command == "rotate":
        from vaultbench import rotate

        return rotate.run(args)

    if args.command in ("deploy", "audit"):
        from vaultbench import evidence

        return evidence.run_deploy(args) if args.command == "deploy" else evidence.run_audit(args)

    if args.command == "demo":
        if args.fleet:
            from vaultbench.fleet_demo import run_fleet_demo

            return run_fleet_demo(seed=args.seed, fast_kdf=args.fast_kdf)
        if args.method is None:
            parser.print_usage(sys.stderr)
            print("vaultbench demo: error: give --method METHOD, or --fleet", file=sys.stderr)
            return EXIT_USAGE
        from vaultbench.demo import run_demo

        return run_demo(args.method, seed=args.seed, kem=args.kem, fast_kdf=args.fast_kdf)

    parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    return EXIT_USAGE  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
