"""vaultbench.coalitions: ``vaultbench coalitions``, I1 and the coalition table.

For each scenario chosen by the flags (protection method, fleet-key mode, witness policy,
client attestation, threshold design, unsafe variant), the command asks the knowledge
model (``model.coalitions``) which coalitions of corrupted parties learn which secret: it
closes every subset of the parties under the Dolev-Yao rules of ``model.terms`` and
prints, per secret, the *minimal* coalitions that learn it (no proper subset does), HSM
parties marked ``*``. Then the verdict of I1 ``no-single-party-decrypts``: does any single
party other than an HSM learn the root key, the password, the recovery code or the
backup? ``--derivations`` prints the attack trace of every minimal coalition; ``--flows``
prints, instead of the table, the scenario's flows (every item with its label, term and
observers, each party's initial knowledge, the oracles); ``--json`` prints one document
with all of it.

The user's own ``device`` (it holds everything of the user) is left out of the table
unless ``--include-device``. Standard output depends only on the arguments: closures are
computed from the observations in a fixed order, so every derivation is the same in
every process. Exit 0 when I1 holds in every scenario printed, 1 when it fails in one, 2
on a usage error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from model.coalitions import I1_NAME, I1_SECRETS, CoalitionTable, Ground, check_i1
from model.coalitions import coalition_table as model_coalition_table
from model.flows import (
    KNOWLEDGE_VARIANTS,
    METHODS,
    MODES,
    POLICIES,
    Mode,
    Scenario,
    System,
    build,
)
from model.terms import (
    Step,
    Term,
    render_derivation,
)

EXIT_OK = 0
EXIT_VIOLATED = 1
EXIT_USAGE = 2

#: The largest fleet of datacenters the threshold design is modelled with (2^9 subsets).
MAX_DATACENTERS: Final = 5
#: The party left out of the table by default: the user's phone knows everything.
DEVICE: Final = "device"
#: Width of the text output.
WIDTH: Final = 88


def _all_secret_names() -> tuple[str, ...]:
    names: dict[str, None] = {}
    for method in METHODS:
        for name in build(Scenario(method=method)).secrets:
            names.setdefault(name, None)
    return tuple(names)


SECRET_NAMES: Final = _all_secret_names()


# ------------------------------------------------------------------------ argument types

_THRESHOLD = re.compile(r"([0-9]+)/([0-9]+)")


def parse_threshold(text: str) -> tuple[int, int]:
    """parse_threshold: ``"t/n"`` with ``1 <= t <= n <= 5`` (whole numbers, nothing else)."""
    match = _THRESHOLD.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a threshold t/n such as 2/3, got {text!r}")
    t, n = int(match.group(1)), int(match.group(2))
    if not 1 <= t <= n <= MAX_DATACENTERS:
        raise argparse.ArgumentTypeError(
            f"expected 1 <= t <= n <= {MAX_DATACENTERS} in t/n, got {text!r}"
        )
    return t, n


def parse_secret(text: str) -> str:
    """parse_secret: a secret's name, case-insensitive, with ``-`` or ``_`` for spaces."""
    wanted = " ".join(text.replace("-", " ").replace("_", " ").split()).lower()
    for name in SECRET_NAMES:
        if name.lower() == wanted:
            return name
    raise argparse.ArgumentTypeError(
        f"unknown secret {text!r}; known: {', '.join(repr(n) for n in SECRET_NAMES)}"
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """add_parser: the ``coalitions`` subcommand and its flags."""
    sub = commands.add_parser(
        "coalitions",
        help="I1 no-single-party-decrypts: which coalitions learn which secret (knowledge)",
        description="Close every coalition of the parties under the Dolev-Yao deduction rules "
        "(analysis, synthesis within the term universe, offline guessing, the honest "
        "parties' oracles) and print, per secret, the minimal coalitions that learn it "
        "(HSM parties marked *), then whether any single non-HSM party learns an I1 secret. "
        "Exit 0 when I1 holds in every scenario printed, 1 when it fails, 2 on usage errors.",
    )
    sub.add_argument(
        "--method",
        choices=[*METHODS, "all"],
        default="password",
        help="the protection method, or all (default password)",
    )
    sub.add_argument(
        "--mode",
        choices=[*MODES, "all"],
        default="all",
        help="how clients get the fleet keys: ota, pinned, or all (default all: both)",
    )
    sub.add_argument(
        "--witness-policy",
        choices=list(POLICIES),
        default="log-only",
        help="what the witness checks before it signs, in ota mode (default log-only)",
    )
    sub.add_argument(
        "--no-client-attestation",
        action="store_true",
        help="clients do not check the vendor's attestation of the fleet keys (ota mode)",
    )
    sub.add_argument(
        "--threshold",
        type=parse_threshold,
        metavar="t/n",
        help="the threshold design: the root key and the OPRF key shared t-of-n over n "
        f"datacenters dc1..dcn (n <= {MAX_DATACENTERS}; password method only)",
    )
    sub.add_argument(
        "--variant",
        choices=list(KNOWLEDGE_VARIANTS),
        help="an unsafe variant (expect exit 1 where it leaks)",
    )
    sub.add_argument(
        "--secret",
        type=parse_secret,
        metavar="NAME",
        help=f"show only this secret ({', '.join(SECRET_NAMES)}); I1 is judged on all",
    )
    sub.add_argument(
        "--include-device",
        action="store_true",
        help="include the user's device in the coalitions (it learns everything)",
    )
    sub.add_argument(
        "--derivations",
        action="store_true",
        help="print each minimal coalition's derivation (the attack trace)",
    )
    sub.add_argument(
        "--flows",
        action="store_true",
        help="print the scenario's flows instead of the table: every item with its label, "
        "term and observers, what each party holds from the start, and the oracles",
    )
    sub.add_argument("--json", action="store_true", help="print one JSON document")


# ---------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class Minimal:
    """Minimal: one minimal coalition for a secret, with its derivation."""

    coalition: tuple[str, ...]
    steps: tuple[Step, ...]
    rendered: str


@dataclass(frozen=True)
class SecretRow:
    """SecretRow: one secret of a scenario and the minimal coalitions that learn it."""

    name: str
    term: str
    i1: bool
    minimal: tuple[Minimal, ...]


@dataclass(frozen=True)
class Analysis:
    """Analysis: one scenario's coalition table and I1 verdict."""

    scenario: Scenario
    system: System
    parties: tuple[str, ...]
    hsm_parties: tuple[str, ...]
    excluded: tuple[str, ...]
    subsets: int
    rows: tuple[SecretRow, ...]
    #: the I1 leaks: (single non-HSM party, I1 secret), in the model's order
    leaks: tuple[tuple[str, str], ...]
    #: the single parties (HSMs included) that learn some secret, with those secrets
    singles: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def ok(self) -> bool:
        return not self.leaks


def analyse(scenario: Scenario, include_device: bool = False) -> Analysis:
    """analyse: the coalition table and the I1 verdict of ``scenario``."""
    ground = Ground.of(scenario)
    excluded = () if include_device else (DEVICE,)
    table: CoalitionTable = model_coalition_table(scenario, ground=ground, exclude=excluded)
    rows = []
    for name, term in ground.system.secrets.items():
        found = []
        for leak in table.minimal.get(name, []):
            knowledge = ground.knowledge(leak.coalition)
            found.append(
                Minimal(
                    leak.coalition,
                    tuple(knowledge.derivation(term)),
                    render_derivation(knowledge, term),
                )
            )
        rows.append(SecretRow(name, str(term), name in I1_SECRETS, tuple(found)))
    leaks = tuple((leak.coalition[0], leak.secret) for leak in check_i1(scenario, ground))
    singles: dict[str, list[str]] = {}
    for row in rows:
        for minimal in row.minimal:
            if len(minimal.coalition) == 1:
                singles.setdefault(minimal.coalition[0], []).append(row.name)
    order = {party: index for index, party in enumerate(table.parties)}
    return Analysis(
        scenario=scenario,
        system=ground.system,
        parties=table.parties,
        hsm_parties=scenario.hsm_parties,
        excluded=excluded,
        subsets=table.subsets,
        rows=tuple(rows),
        leaks=leaks,
        singles=tuple(
            (party, tuple(names))
            for party, names in sorted(singles.items(), key=lambda kv: order[kv[0]])
        ),
    )


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    """scenarios: the scenarios the flags select, methods first, then modes (ota, pinned).

    Raises ``ValueError`` on a combination the model does not have."""
    methods: tuple[str, ...] = METHODS if args.method == "all" else (args.method,)
    modes: tuple[Mode, ...] = MODES if args.mode == "all" else (args.mode,)
    if args.threshold is not None and methods != ("password",):
        raise ValueError("--threshold applies to the password method only")
    return [
        Scenario(
            method=method,
            mode=mode,
            policy=args.witness_policy,
            client_attestation=not args.no_client_attestation,
            variant=args.variant,
            threshold=args.threshold,
        )
        for method in methods
        for mode in modes
    ]


def run(args: argparse.Namespace) -> int:
    """run: the ``coalitions`` command; returns the exit code."""
    try:
        chosen = scenarios(args)
    except ValueError as error:
        print(f"vaultbench coalitions: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    secret: str | None = args.secret
    if secret is not None and not any(secret in build(scenario).secrets for scenario in chosen):
        methods = " or ".join(sorted({scenario.method for scenario in chosen}))
        print(
            f"vaultbench coalitions: error: the {secret} is not a secret of the {methods} method",
            file=sys.stderr,
        )
        return EXIT_USAGE
    results = [analyse(scenario, args.include_device) for scenario in chosen]
    if args.json:
        print(json.dumps(document(results, secret), indent=2))
    else:
        for index, result in enumerate(results):
            if index:
                print()
            if args.flows:
                print_flows(result)
            else:
                print_analysis(result, secret, args.derivations)
        if len(results) > 1:
            print()
            print(_summary(results))
    return EXIT_OK if all(result.ok for result in results) else EXIT_VIOLATED


# ------------------------------------------------------------------------------ output


def _party(name: str, hsms: Sequence[str]) -> str:
    return f"{name}*" if name in hsms else name


def _coalition(coalition: Sequence[str], hsms: Sequence[str]) -> str:
    return "{" + ", ".join(_party(p, hsms) for p in coalition) + "}"


def _names(items: Sequence[str]) -> str:
    """``the a``, ``the a and the b``, ``the a, the b and the c``."""
    named = [f"the {item}" for item in items]
    if len(named) <= 1:
        return "".join(named)
    return ", ".join(named[:-1]) + " and " + named[-1]


def _wrap(prefix: str, cells: Sequence[str], indent: int, sep: str = "  ") -> list[str]:
    lines: list[str] = []
    line = prefix
    for cell in cells:
        gap = "" if line == prefix else sep
        if line != prefix and len(line) + len(gap) + len(cell) > WIDTH:
            lines.append(line)
            line, gap = " " * indent, ""
        line += gap + cell
    lines.append(line)
    return lines


def _rows(result: Analysis, secret: str | None) -> list[SecretRow]:
    return [row for row in result.rows if secret is None or row.name == secret]


def print_analysis(result: Analysis, secret: str | None, derivations: bool) -> None:
    """print_analysis: one scenario's table, its single learners and the I1 verdict."""
    hsms = result.hsm_parties
    print(f"vaultbench coalitions — {result.scenario.describe()}")
    parties = ", ".join(_party(p, hsms) for p in result.parties)
    left_out = f"; {', '.join(result.excluded)} left out" if result.excluded else ""
    print(f"parties: {parties}  (* an HSM{left_out})")
    print(f"{result.subsets} coalitions closed; per secret, the minimal coalitions that learn it:")
    rows = _rows(result, secret)
    labels = [row.name + (" [I1]" if row.i1 else "") for row in rows]
    width = max([len(label) for label in labels] + [len("secret")])
    print(f"  {'secret':<{width}}  minimal coalitions")
    print("  " + "-" * (WIDTH - 2))
    for label, row in zip(labels, rows, strict=True):
        cells = [_coalition(m.coalition, hsms) for m in row.minimal] or ["— none"]
        for line in _wrap(f"  {label:<{width}}  ", cells, width + 4):
            print(line)
    if secret is not None and not rows:
        print(f"  (the {secret} is not a secret of the {result.scenario.method} method)")
    print("  " + "-" * (WIDTH - 2))
    singles = [f"{_party(p, hsms)} ({', '.join(names)})" for p, names in result.singles]
    singles = [cell + ";" for cell in singles[:-1]] + singles[-1:]
    for line in _wrap("single parties that learn a secret: ", singles or ["none"], 4, " "):
        print(line)
    print(_verdict(result))
    if derivations:
        for row in rows:
            for minimal in row.minimal:
                print()
                print(f"{_coalition(minimal.coalition, hsms)} learns the {row.name}:")
                print(minimal.rendered)


def _public(system: System) -> frozenset[Term]:
    """The terms every party holds from the start (the public ones)."""
    held = [frozenset(system.initial.get(p, set())) for p in system.scenario.parties]
    return frozenset.intersection(*held) if held else frozenset()


def _sorted(terms: Iterable[Term]) -> list[str]:
    return sorted(str(term) for term in terms)


def print_flows(result: Analysis) -> None:
    """print_flows: every item of the scenario (label, observers, term), what each party
    holds from the start, and the oracles; then the I1 verdict."""
    system = result.system
    print(f"vaultbench coalitions — {result.scenario.describe()}")
    print("items: label, who observes or stores it, and the term")
    width = max(len(item.label) for item in system.items)
    for item in system.items:
        observers = ", ".join(p for p in system.scenario.parties if p in item.observers)
        print(f"  {item.label:<{width}}  {observers}")
        print(f"      {item.term}")
    public = _public(system)
    for line in _wrap("public (every party holds it): ", _comma(_sorted(public)), 4, " "):
        print(line)
    print("held from the start, besides the public terms:")
    for party in system.scenario.parties:
        own = _sorted(system.initial.get(party, set()) - public)
        for line in _wrap(f"  {party}: ", _comma(own) or ["nothing"], 6, " "):
            print(line)
    print("oracles (what an honest party does for anyone who asks), head <- premises:")
    for rule in system.oracles:
        print(f"  {rule.name}: {rule.head}")
        print(f"      <- {', '.join(str(premise) for premise in rule.body)}")
    if not system.oracles:
        print("  none")
    print(_verdict(result))


def _comma(cells: Sequence[str]) -> list[str]:
    return [cell + "," for cell in cells[:-1]] + list(cells[-1:])


def _verdict(result: Analysis) -> str:
    if result.ok:
        return f"I1 {I1_NAME}: PASS — no single non-HSM party learns an I1 secret"
    learned: dict[str, list[str]] = {}
    for party, name in result.leaks:
        learned.setdefault(party, []).append(name)
    told = "; ".join(f"{{{party}}} learns {_names(names)}" for party, names in learned.items())
    return f"I1 {I1_NAME}: FAIL — {told}"


def _summary(results: Sequence[Analysis]) -> str:
    bad = [result for result in results if not result.ok]
    if not bad:
        return f"I1 {I1_NAME} holds in all {len(results)} scenarios"
    failing = "; ".join(result.scenario.describe() for result in bad)
    return f"I1 {I1_NAME} VIOLATED in {len(bad)} of {len(results)} scenarios: {failing}"


def _steps(steps: Sequence[Step]) -> list[dict[str, object]]:
    return [
        {
            "step": number,
            "fact": str(step.fact),
            "rule": "observed" if step.rule is None else step.rule.name,
            "from": [] if step.rule is None else [str(p) for p in step.rule.body],
        }
        for number, step in enumerate(steps, start=1)
    ]


def document(results: Sequence[Analysis], secret: str | None = None) -> dict[str, object]:
    """document: every scenario, its secrets, minimal coalitions and derivations."""
    return {
        "invariant": "I1",
        "name": I1_NAME,
        "ok": all(result.ok for result in results),
        "secret": secret,
        "scenarios": [
            {
                "description": result.scenario.describe(),
                "method": result.scenario.method,
                "mode": result.scenario.mode,
                "witness_policy": result.scenario.policy,
                "client_attestation": result.scenario.attests,
                "variant": result.scenario.variant,
                "threshold": (
                    None if result.scenario.threshold is None else list(result.scenario.threshold)
                ),
                "rotation": result.scenario.rotation,
                "parties": list(result.parties),
                "hsm_parties": list(result.hsm_parties),
                "excluded": list(result.excluded),
                "coalitions_closed": result.subsets,
                "i1": {
                    "ok": result.ok,
                    "leaks": [{"party": party, "secret": name} for party, name in result.leaks],
                },
                "single_party_learners": {party: list(names) for party, names in result.singles},
                "items": [
                    {
                        "label": item.label,
                        "term": str(item.term),
                        "observers": [p for p in result.scenario.parties if p in item.observers],
                    }
                    for item in result.system.items
                ],
                "public": _sorted(_public(result.system)),
                "initial": {
                    party: _sorted(result.system.initial.get(party, set()))
                    for party in result.scenario.parties
                },
                "oracles": [
                    {
                        "name": rule.name,
                        "head": str(rule.head),
                        "from": [str(premise) for premise in rule.body],
                    }
                    for rule in result.system.oracles
                ],
                "secrets": [
                    {
                        "name": row.name,
                        "term": row.term,
                        "i1": row.i1,
                        "minimal": [
                            {
                                "coalition": list(minimal.coalition),
                                "hsm": any(p in result.hsm_parties for p in minimal.coalition),
                                "derivation": _steps(minimal.steps),
                            }
                            for minimal in row.minimal
                        ],
                    }
                    for row in _rows(result, secret)
                ],
            }
            for result in results
        ],
    }


# ------------------------------------------------------------------ standalone entry


def main(argv: Sequence[str] | None = None) -> int:
    """main: ``vaultbench coalitions ...`` on its own (``argv`` starts with ``coalitions``)."""
    parser = argparse.ArgumentParser(prog="vaultbench")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parser(commands)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
