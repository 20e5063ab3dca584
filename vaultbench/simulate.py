"""vaultbench.simulate: ``vaultbench simulate``, the fleet under deterministic simulation.

Runs ``impl.sim.campaign.run_simulation`` for one seed or a range of seeds, optionally in
parallel processes, and prints a summary table; ``--trace`` prints every event (the
format is documented in ``impl.sim.campaign`` and in the spec's simulator guide). Standard
output depends only on the arguments, never on the host (the same seed gives the same
bytes); wall-clock figures and the progress bar go to standard error. Exit 0 when no
invariant is violated, 1 on any violation, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from impl.consensus import FLEET_VARIANTS
from impl.errors import ConfigError
from impl.sim.campaign import FAULTS, STORES, SimConfig, SimResult, iter_campaign, parse_faults
from impl.vault import VARIANTS as VAULT_VARIANTS

EXIT_OK = 0
EXIT_VIOLATED = 1
EXIT_USAGE = 2
MAX_SEEDS = 1_000_000


@dataclass(frozen=True)
class SeedRange:
    """Seeds ``first..last`` inclusive."""

    first: int
    last: int

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.first, self.last + 1))

    def __len__(self) -> int:
        return self.last - self.first + 1


def parse_seeds(text: str) -> SeedRange:
    """parse_seeds: ``"A..B"`` (inclusive, A <= B) or a single ``"N"``."""
    parts = text.split("..")
    try:
        if len(parts) == 1:
            first = last = int(parts[0])
        elif len(parts) == 2:
            first, last = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds as A..B, got {text!r}") from None
    if first < 0 or last < first:
        raise argparse.ArgumentTypeError(f"expected 0 <= A <= B in A..B, got {text!r}")
    if last - first + 1 > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"at most {MAX_SEEDS} seeds at once")
    return SeedRange(first, last)


def _faults(text: str) -> frozenset[str]:
    try:
        return parse_faults(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """add_parser: the ``simulate`` subcommand and its flags."""
    from vaultbench.args import at_least as _at_least

    sim = commands.add_parser(
        "simulate",
        help="deterministic fleet simulation with faults (Multi-Paxos, I2/I3/I6 checked)",
        description="Run the fleet (real replicas, real cryptography) under a simulated "
        "clock and network with injected faults, and (fault replay) an operator that "
        "replays every client request it relayed and injects requests of its own; check "
        "I2 quorum-safety, I3 attempt-limit and I6 durability after every event. One seed "
        "reproduces a run byte for byte.",
    )
    which = sim.add_mutually_exclusive_group()
    which.add_argument("--seed", type=_at_least(0), help="one seed (default 1)")
    which.add_argument("--seeds", type=parse_seeds, help="a range of seeds, A..B inclusive")
    sim.add_argument(
        "--steps", type=_at_least(1), default=1000, help="events per seed (default 1000)"
    )
    sim.add_argument(
        "--replicas", type=_at_least(1), default=5, help="replicas in the fleet (default 5)"
    )
    sim.add_argument(
        "--quorum", type=_at_least(1), default=0, help="quorum size (default: a majority)"
    )
    sim.add_argument(
        "--faults",
        type=_faults,
        default=frozenset(FAULTS),
        metavar="LIST",
        help=f"comma-separated faults from {','.join(FAULTS)}; or all (default), or none",
    )
    sim.add_argument(
        "--variant",
        choices=sorted(FLEET_VARIANTS + VAULT_VARIANTS),
        help="run an unsafe variant of the fleet or the vault (expect exit 1)",
    )
    sim.add_argument(
        "--max-attempts", type=_at_least(1), default=10, help="the attempt limit (default 10)"
    )
    sim.add_argument("--users", type=_at_least(1), default=2, help="users (default 2)")
    sim.add_argument(
        "--clients", type=_at_least(1), default=3, help="concurrent clients (default 3)"
    )
    sim.add_argument("--jobs", type=_at_least(1), default=1, help="worker processes (default 1)")
    sim.add_argument(
        "--store",
        choices=list(STORES),
        default="memory",
        help="replicas' durable state: memory (default) or SQLite files in a temporary "
        "directory (WAL, synchronous=FULL)",
    )
    sim.add_argument("--trace", action="store_true", help="print one line per event")
    sim.add_argument(
        "--trace-from",
        type=_at_least(1),
        default=1,
        metavar="EVENT",
        help="with --trace, print only events from this index on (default 1)",
    )
    sim.add_argument("--json", action="store_true", help="print one JSON document")


def _config(args: argparse.Namespace, seed: int) -> SimConfig:
    return SimConfig(
        seed=seed,
        steps=args.steps,
        replicas=args.replicas,
        quorum=args.quorum,
        faults=args.faults,
        max_attempts=args.max_attempts,
        users=args.users,
        clients=args.clients,
        variant=args.variant,
        store=args.store,
    )


def run(args: argparse.Namespace) -> int:
    """run: the ``simulate`` command; returns the exit code."""
    if args.seeds is not None:
        seeds: SeedRange = args.seeds
    else:
        seed = 1 if args.seed is None else args.seed
        seeds = SeedRange(seed, seed)
    try:
        configs = [_config(args, seed) for seed in seeds]
    except ConfigError as error:
        print(f"vaultbench simulate: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    started = time.perf_counter()
    results: list[SimResult] = []
    progress = _Progress(len(configs), enabled=len(configs) > 1 and sys.stderr.isatty())
    for result, lines in iter_campaign(configs, args.jobs, bool(args.trace)):
        _emit_trace(args, result, lines, len(configs))
        results.append(result)
        progress.update(results)
    progress.done()
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps(_document(args, results), indent=2))
    else:
        _print_summary(args, results)
    events = sum(r.events for r in results)
    rate = events / elapsed if elapsed > 0 else 0.0
    print(
        f"wall time {elapsed:.1f} s, {rate:,.0f} events/s, {args.jobs} job(s)",
        file=sys.stderr,
    )
    return EXIT_OK if all(r.ok for r in results) else EXIT_VIOLATED


def _emit_trace(args: argparse.Namespace, result: SimResult, lines: list[str], runs: int) -> None:
    if not args.trace or args.json:
        return
    if runs > 1:
        print(f"# seed {result.config.seed}")
    for index, line in enumerate(lines, start=1):
        if index >= args.trace_from:
            print(line)


class _Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled

    def update(self, results: list[SimResult]) -> None:
        if not self.enabled:
            return
        done = len(results)
        bad = sum(not r.ok for r in results)
        width = 30
        filled = width * done // self.total
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\r[{bar}] {done}/{self.total} seeds, {bad} violated")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _totals(results: list[SimResult]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for result in results:
        totals.update(result.stats)
    return totals


def _print_summary(args: argparse.Namespace, results: list[SimResult]) -> None:
    first = results[0].config
    consensus = first.consensus()
    seeds = (
        f"{first.seed}"
        if len(results) == 1
        else f"{results[0].config.seed}..{results[-1].config.seed}"
    )
    faults = ",".join(sorted(first.faults)) or "none"
    print(
        f"vaultbench simulate — {len(results)} seed(s) {seeds}, {first.steps} events each, "
        f"n={consensus.replicas} q={consensus.q}, faults {faults}"
        + (f", variant {first.variant}" if first.variant else "")
    )
    if "replay" in first.faults:
        print(
            f"adversary: the relay replayed {sum(r.replays for r in results)} captured "
            f"requests and injected {sum(r.injections for r in results)} of its own"
        )
    budget = consensus.rollback_budget
    if first.variant in (None, "rollback-undetected", "unauthenticated-ballots"):
        disk = "disk rollbacks and edits: unbounded (any replica, any number of times)"
        if first.variant is None:
            disk += "; a refused store rejoins as a learner"
    else:
        disk = f"rollback {budget} (2q > n + r, the bounded rollback of this variant's lab)"
    print(f"budgets: crash {consensus.crash_budget} (n - q); {disk}")
    refused = sum(r.stats.get("store refused", 0) for r in results)
    if refused or "rollback" in first.faults:
        print(f"stores refused by their replicas: {refused}")
    totals = _totals(results)
    rows = [
        ("events", str(sum(r.events for r in results))),
        ("simulated time", f"{sum(r.sim_ms for r in results) / 1000:.1f} s"),
        ("chosen slots", str(totals["chosen slots"])),
        ("elections", str(totals["elections"])),
        ("messages refused by the envelope", str(totals["messages rejected"])),
    ]
    for key in sorted(totals):
        if key.startswith(("outcome ", "fault ")):
            rows.append((key, str(totals[key])))
    answers = sum(n for key, n in totals.items() if key.startswith("answer "))
    if answers:
        no_record = totals["answer NoRecord"]
        rows.append(("answers (to anyone)", str(answers)))
        rows.append(("answers NoRecord", f"{no_record} ({100 * no_record / answers:.0f}%)"))
    if "replay" in first.faults:
        rows.append(("adversary replays", str(sum(r.replays for r in results))))
        rows.append(("adversary injections", str(sum(r.injections for r in results))))
        for key in sorted(totals):
            if key.startswith(("adversary replay answered ", "adversary inject answered ")):
                rows.append((key, str(totals[key])))
    bad = [r for r in results if not r.ok]
    rows.append(("violations", f"{len(bad)} of {len(results)} seeds"))
    width = max(len(name) for name, _ in rows)
    print("-" * (width + 14))
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10}")
    print("-" * (width + 14))
    for result in bad:
        print()
        print(f"seed {result.config.seed}: {result.violations[0]}")
        print(f"  reproduce with: {result.reproducer}")
    print()
    print("all invariants hold" if not bad else "VIOLATED")


def _document(args: argparse.Namespace, results: list[SimResult]) -> dict[str, object]:
    return {
        "ok": all(r.ok for r in results),
        "steps": args.steps,
        "replicas": args.replicas,
        "quorum": results[0].config.consensus().q,
        "faults": sorted(args.faults),
        "variant": args.variant,
        "seeds": [
            {
                "seed": r.config.seed,
                "events": r.events,
                "sim_ms": r.sim_ms,
                "replays": r.replays,
                "injections": r.injections,
                "ok": r.ok,
                "violations": [
                    {"invariant": v.invariant, "event": v.event, "detail": v.detail}
                    for v in r.violations
                ],
                "reproducer": r.reproducer,
            }
            for r in results
        ],
        "totals": dict(sorted(_totals(results).items())),
    }
