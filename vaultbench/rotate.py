"""vaultbench.rotate: ``vaultbench rotate``, a fleet rotation from epoch 1 to 2, simulated.

Runs ``impl.sim.rotation.run_rotation`` for one seed or a range of seeds and prints a
summary: how the users' records moved (after a proof, or re-enrolled after the attacker
destroyed them), the rolled-back bundles refused, and the checks (every record on the
new epoch, no rollback, I5 guess-budget). ``--trace`` prints one line per step. Standard
output depends only on the arguments. Exit 0 when every check holds, 1 on a violation
(with the command that replays it), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from impl.errors import ConfigError
from impl.sim.rotation import (
    ROTATION_FAULTS,
    ROTATION_VARIANTS,
    RotationConfig,
    RotationResult,
    run_rotation,
)
from vaultbench.simulate import SeedRange, parse_seeds

EXIT_OK = 0
EXIT_VIOLATED = 1
EXIT_USAGE = 2


def _faults(text: str) -> frozenset[str]:
    text = text.strip()
    if text == "all":
        return frozenset(ROTATION_FAULTS)
    if text == "none":
        return frozenset()
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in ROTATION_FAULTS]
    if unknown or not all(names):
        raise argparse.ArgumentTypeError(
            f"unknown fault {', '.join(repr(n) for n in unknown) or 'name'}; "
            f"known: {', '.join(ROTATION_FAULTS)}, or all, or none"
        )
    return frozenset(names)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """add_parser: the ``rotate`` subcommand and its flags."""
    from vaultbench.args import at_least as _at_least

    rotate = commands.add_parser(
        "rotate",
        help="a fleet rotation, epoch 1 to 2, simulated (migration, no rollback, I5)",
        description="Deploy fleet epoch 1, enroll users in ota mode, run a workload with an "
        "attacker and faults, deploy epoch 2 mid-run; users move their records right after "
        "proving the password. Checks: every record ends on epoch 2, no app accepts a "
        "rolled-back bundle, I5 guess-budget across both fleets.",
    )
    which = rotate.add_mutually_exclusive_group()
    which.add_argument("--seed", type=_at_least(0), help="one seed (default 1)")
    which.add_argument("--seeds", type=parse_seeds, help="a range of seeds, A..B inclusive")
    rotate.add_argument(
        "--steps", type=_at_least(1), default=120, help="workload steps (default 120)"
    )
    rotate.add_argument("--users", type=_at_least(1), default=4, help="users (default 4)")
    rotate.add_argument(
        "--replicas", type=_at_least(1), default=5, help="replicas per fleet (default 5)"
    )
    rotate.add_argument(
        "--max-attempts", type=_at_least(1), default=10, help="the attempt limit (default 10)"
    )
    rotate.add_argument(
        "--faults",
        type=_faults,
        default=frozenset(ROTATION_FAULTS),
        metavar="LIST",
        help=f"comma-separated faults from {','.join(ROTATION_FAULTS)}; or all (default), or none",
    )
    rotate.add_argument(
        "--deploy-at",
        type=_at_least(1),
        default=0,
        metavar="STEP",
        help="the step at which epoch 2 is deployed (default: a quarter of --steps)",
    )
    rotate.add_argument(
        "--variant",
        choices=list(ROTATION_VARIANTS),
        help="the unsafe migration design (expect exit 1: I5)",
    )
    rotate.add_argument("--trace", action="store_true", help="print one line per step")
    rotate.add_argument("--json", action="store_true", help="print one JSON document")


def run(args: argparse.Namespace) -> int:
    """run: the ``rotate`` command; returns the exit code."""
    if args.seeds is not None:
        seeds: SeedRange = args.seeds
    else:
        seed = 1 if args.seed is None else args.seed
        seeds = SeedRange(seed, seed)
    try:
        configs = [
            RotationConfig(
                seed=seed,
                steps=args.steps,
                users=args.users,
                replicas=args.replicas,
                max_attempts=args.max_attempts,
                faults=args.faults,
                variant=args.variant,
                deploy_at=args.deploy_at,
            )
            for seed in seeds
        ]
    except ConfigError as error:
        print(f"vaultbench rotate: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    results: list[RotationResult] = []
    for config in configs:
        lines: list[str] = []
        traced = args.trace and not args.json
        results.append(run_rotation(config, lines.append if traced else None))
        if traced:
            if len(configs) > 1:
                print(f"# seed {config.seed}")
            print("\n".join(lines))
    if args.json:
        print(json.dumps(_document(results), indent=2))
    else:
        _print_summary(results)
    return EXIT_OK if all(r.ok for r in results) else EXIT_VIOLATED


def _totals(results: list[RotationResult]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for result in results:
        totals.update(result.stats)
    return totals


def _print_summary(results: list[RotationResult]) -> None:
    first = results[0].config
    seeds = f"{first.seed}" if len(results) == 1 else f"{first.seed}..{results[-1].config.seed}"
    print(
        f"vaultbench rotate — {len(results)} seed(s) {seeds}, {first.steps} steps, "
        f"{first.users} users, epoch 2 deployed at step {first.deployment_step}, "
        f"faults {','.join(sorted(first.faults)) or 'none'}"
        + (f", variant {first.variant}" if first.variant else "")
    )
    totals = _totals(results)
    names = (
        "migrated after proof",
        "migrations resumed",
        "re-enrolled after destruction",
        "users on the newest epoch",
        "rolled-back bundles refused",
        "server migration requests ignored",
        "migrated on server request",
        "wrong guesses answered",
        "attacker answered Retired",
        "fault crash",
        "fault lose-answer",
        "timeouts",
    )
    rows = [(name, str(totals[name])) for name in names]
    bad = [r for r in results if not r.ok]
    rows.append(("violations", f"{len(bad)} of {len(results)} seeds"))
    width = max(len(name) for name, _ in rows)
    print("-" * (width + 12))
    for name, value in rows:
        print(f"{name:<{width}}  {value:>8}")
    print("-" * (width + 12))
    for result in bad:
        print()
        print(f"seed {result.config.seed}: {result.violations[0]}")
        print(f"  reproduce with: {result.reproducer}")
    print()
    print(
        "every record moved to epoch 2; no rollback accepted; I5 guess-budget holds"
        if not bad
        else "VIOLATED"
    )


def _document(results: list[RotationResult]) -> dict[str, object]:
    return {
        "ok": all(r.ok for r in results),
        "seeds": [
            {
                "seed": r.config.seed,
                "steps": r.steps,
                "ok": r.ok,
                "violations": [
                    {"invariant": v.invariant, "step": v.step, "detail": v.detail}
                    for v in r.violations
                ],
                "reproducer": r.reproducer,
                "stats": dict(sorted(r.stats.items())),
            }
            for r in results
        ],
        "totals": dict(sorted(_totals(results).items())),
    }
