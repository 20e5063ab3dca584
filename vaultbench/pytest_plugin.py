"""vaultbench.pytest_plugin: the proof obligations as pytest items.

Installed with the package as the ``pytest11`` entry point ``vaultbench``, so every
``pytest`` run in an environment with vaultbench has it, and it does nothing until asked.
When enabled, it adds one collector, ``vaultbench``, after the ordinary tests, with one
item per row of ``vaultbench check``'s proofs, for instance::

    vaultbench::I3 attempt-limit::IndNext[guess_wrong]
    vaultbench::I2 quorum-safety::BMC depth <= 10
    vaultbench::I7 fleet-transparency::corrupted: operator

An item passes when its obligation is proved (``PASS``) or its sanity query is reachable
(``REACHABLE``), is skipped when the invariant is not claimed in that setting (``N/A``),
and fails otherwise, showing the counterexample. The rows are those of ``vaultbench check
--sim-seeds 0 --fleet-walk-steps 0`` without the conformance walks and the rotation
simulation: Z3 only, about ten seconds of CPU for all four parts.

Enabling it:

``--vaultbench``
    add the items to this run, whatever paths it collects (``--no-vaultbench``: never);
``vaultbench_obligations = true`` (ini)
    add them to every run that collects the default selection (no path arguments), so a
    plain ``pytest`` checks the proofs but ``pytest tests/test_x.py`` does not;
``--vaultbench-variant NAME``
    check an unsafe variant, as ``vaultbench check --variant NAME``: its obligations fail;
``--vaultbench-part PART`` (repeatable or comma-separated; ini ``vaultbench_parts``)
    only ``vault``, ``knowledge``, ``keys`` or ``fleet`` (default: all four).

Giving ``--vaultbench-variant`` or ``--vaultbench-part`` on the command line enables the
plugin too. The items carry the marker ``vaultbench`` (``-m "not vaultbench"`` leaves
them out). The proofs run once, when the ``vaultbench`` collector is first expanded (never
at import), and their results are kept for the rest of the process.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from vaultbench.cli import CheckOutcome, Row

#: The parts of ``vaultbench check --part``, in the order they are collected.
PARTS: Final = ("vault", "knowledge", "keys", "fleet")
#: The collector's name, which starts every item's node id.
ROOT: Final = "vaultbench"
#: Results that pass, and the one that skips (the invariant is not claimed there).
PASSING: Final = ("PASS", "REACHABLE")
NOT_CLAIMED: Final = "N/A"

_ENABLED = pytest.StashKey[bool]()
_SETTINGS = pytest.StashKey["Settings"]()


@dataclass(frozen=True)
class Settings:
    """What to check: the variant (``None``: the safe design) and the parts."""

    variant: str | None
    parts: tuple[str, ...]


@dataclass
class Entry:
    """One row of the check, with the counterexamples printed for it."""

    part: str
    module: str
    row: Row
    counterexamples: list[str] = field(default_factory=list)


class ObligationFailed(Exception):
    """Raised by an item whose obligation does not hold; the message is the report."""


# -- options --------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vaultbench", "vaultbench proof obligations")
    group.addoption(
        "--vaultbench",
        action="store_true",
        dest="vaultbench",
        default=None,
        help="collect vaultbench's proof obligations as items, one per obligation",
    )
    group.addoption(
        "--no-vaultbench",
        action="store_false",
        dest="vaultbench",
        help="never collect the proof obligations, even if the ini enables them",
    )
    group.addoption(
        "--vaultbench-variant",
        metavar="NAME",
        default=None,
        help="check an unsafe variant, as 'vaultbench check --variant NAME' (expect failures)",
    )
    group.addoption(
        "--vaultbench-part",
        metavar="PART",
        action="append",
        default=[],
        help=f"only this part: {', '.join(PARTS)} (repeatable or comma-separated; default all)",
    )
    parser.addini(
        "vaultbench_obligations",
        type="bool",
        default=False,
        help="collect the proof obligations when pytest runs its default selection",
    )
    parser.addini(
        "vaultbench_parts",
        type="args",
        default=[],
        help=f"the parts to collect, from {', '.join(PARTS)} (default all)",
    )


def _split(values: Iterable[str]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _variant_names() -> set[str]:
    """Every name ``vaultbench check --variant`` accepts (imports the model)."""
    from model.bundles import BUNDLE_VARIANT_NAMES
    from model.flows import KNOWLEDGE_VARIANTS
    from model.variants import FLEET_VARIANT_NAMES
    from model.vault import VARIANTS
    from vaultbench.cli import I5_VARIANT

    return {*VARIANTS, *FLEET_VARIANT_NAMES, *BUNDLE_VARIANT_NAMES, I5_VARIANT, *KNOWLEDGE_VARIANTS}


def _is_enabled(config: pytest.Config) -> bool:
    flag: bool | None = config.getoption("vaultbench")
    if flag is not None:
        return flag
    if config.getoption("vaultbench_variant") is not None or config.getoption("vaultbench_part"):
        return True
    if not config.getini("vaultbench_obligations"):
        return False
    # The ini asks for the default selection only: no paths or node ids on the command line.
    return config.args_source != pytest.Config.ArgsSource.ARGS


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vaultbench: a vaultbench proof obligation")
    enabled = _is_enabled(config)
    config.stash[_ENABLED] = enabled
    if not enabled:
        return
    parts = _split(config.getoption("vaultbench_part")) or _split(config.getini("vaultbench_parts"))
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise pytest.UsageError(
            f"--vaultbench-part: unknown part {', '.join(unknown)}; choose from {', '.join(PARTS)}"
        )
    variant: str | None = config.getoption("vaultbench_variant")
    if variant is not None and variant not in (names := _variant_names()):
        raise pytest.UsageError(
            f"--vaultbench-variant: unknown variant {variant!r}; "
            f"choose from {', '.join(sorted(names))}"
        )
    chosen = tuple(part for part in PARTS if part in parts) if parts else PARTS
    config.stash[_SETTINGS] = Settings(variant, chosen)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Add the ``vaultbench`` collector to the session's top-level nodes, after the rest."""
    report = yield
    if (
        isinstance(collector, pytest.Session)
        and report.passed
        and collector.config.stash.get(_ENABLED, False)
    ):
        report.result.append(Proofs.from_parent(collector, name=ROOT, nodeid=ROOT))
    return report


# -- the proofs ------------------------------------------------------------------------


def _entries(part: str, module: str, outcome: CheckOutcome) -> list[Entry]:
    """The rows of ``outcome``, each with the counterexamples ``vaultbench check`` printed
    for it (``CheckOutcome.notes_by_row``, as in its JUnit report)."""
    entries = [Entry(part, module, row) for row in outcome.rows]
    for index, (counterexamples, _) in outcome.notes_by_row().items():
        if index >= 0:
            entries[index].counterexamples.extend(counterexamples)
            continue
        # Texts printed before any row belong to no row: show them with every failure.
        for entry in entries:
            if entry.row.result not in (*PASSING, NOT_CLAIMED):
                entry.counterexamples.extend(counterexamples)
    return entries


def _source(
    part: str, module: str, check: Callable[[CheckOutcome], None]
) -> Callable[[], list[Entry]]:
    def run() -> list[Entry]:
        from vaultbench.cli import CheckOutcome

        outcome = CheckOutcome()
        check(outcome)
        return _entries(part, module, outcome)

    return run


def _sources(part: str, variant: str | None) -> list[Callable[[], list[Entry]]]:
    """The proof checks of one part, as ``vaultbench check`` runs them on the defaults,
    without the walks and simulations."""
    from model.vault import DEFAULT_MAX_ATTEMPTS, VARIANTS
    from vaultbench import bundle_check, fleet_check, i1_check
    from vaultbench.checkconfig import DEFAULT_QUORUM, DEFAULT_REPLICAS
    from vaultbench.cli import run_vault_check

    if part == "vault":

        def vault() -> list[Entry]:
            vault_variant = variant if variant in VARIANTS else None
            outcome = run_vault_check(vault_variant, DEFAULT_MAX_ATTEMPTS, 1, 1, walks=0)
            return _entries(part, "proofs.vault_i3", outcome)

        return [vault]
    if part == "knowledge":
        return [_source(part, "proofs.i1_knowledge", lambda o: i1_check.check_i1(o, variant))]
    if part == "keys":
        return [
            _source(
                part, "proofs.bundle_i4_i7", lambda o: bundle_check.check_bundle_proofs(o, variant)
            ),
            _source(
                part,
                "proofs.guess_budget_i5",
                lambda o: bundle_check.check_guess_budget(o, variant),
            ),
        ]
    replicas = DEFAULT_REPLICAS
    quorum = replicas // 2 if variant == "minority-quorum" else DEFAULT_QUORUM
    beyond = variant == "rollback-beyond-budget"
    undetected = variant == "rollback-undetected"
    return [
        _source(part, "proofs.paxos_i2", lambda o: fleet_check.check_i2(o, variant)),
        _source(
            part,
            "proofs.quorum",
            lambda o: fleet_check.check_quorum_config(
                o, replicas, quorum, beyond_budget=beyond, undetected=undetected
            ),
        ),
        _source(part, "proofs.fleet_vault", lambda o: fleet_check.check_fleet_proofs(o, variant)),
    ]


@dataclass(frozen=True)
class PartError:
    """A part whose proofs raised instead of answering."""

    part: str
    text: str


#: Results by (part, variant), kept for the process: the proofs are deterministic.
_RESULTS: dict[tuple[str, str | None], list[Entry] | PartError] = {}


def part_results(part: str, variant: str | None) -> list[Entry] | PartError:
    """The rows of one part, computed on first use."""
    key = (part, variant)
    if key not in _RESULTS:
        try:
            _RESULTS[key] = [entry for run in _sources(part, variant) for entry in run()]
        except Exception:
            _RESULTS[key] = PartError(part, traceback.format_exc())
    return _RESULTS[key]


def _stable_name(obligation: str) -> str:
    """A row's label as an item name that does not change with the result."""
    # "decidable fragment: 8/8 VCs in EPR" counts the VCs inside the fragment.
    if obligation.startswith("decidable fragment:"):
        return "decidable fragment"
    return obligation


def _reproduce(part: str, variant: str | None) -> str:
    command = f"vaultbench check --part {part}"
    if variant is not None:
        command += f" --variant {variant}"
    if part == "fleet":
        command += " --sim-seeds 0 --fleet-walk-steps 0"
    return command


# -- the nodes -------------------------------------------------------------------------


def _module_path(module: str, fallback: Path) -> Path:
    loaded = sys.modules.get(module)
    file = getattr(loaded, "__file__", None)
    return Path(file) if file else fallback


class Proofs(pytest.Collector):
    """The ``vaultbench`` collector: one :class:`Invariant` per invariant checked."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        settings = self.config.stash[_SETTINGS]
        groups: dict[str, list[Entry]] = {}
        for part in settings.parts:
            results = part_results(part, settings.variant)
            if isinstance(results, PartError):
                group = Invariant.from_parent(self, name=f"{part} part", entries=[])
                yield group  # holds one failing item with the traceback
                continue
            for entry in results:
                groups.setdefault(entry.row.invariant, []).append(entry)
        for invariant, entries in groups.items():
            yield Invariant.from_parent(self, name=invariant, entries=entries)


class Invariant(pytest.Collector):
    """One invariant's obligations (one :class:`ObligationItem` per row)."""

    def __init__(self, *, entries: Sequence[Entry], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entries = list(entries)

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        settings = self.config.stash[_SETTINGS]
        if not self.entries:
            part = self.name.removesuffix(" part")
            failure = part_results(part, settings.variant)
            assert isinstance(failure, PartError)
            yield PartErrorItem.from_parent(self, name="proofs", failure=failure)
            return
        seen: dict[str, int] = {}
        for entry in self.entries:
            name = _stable_name(entry.row.obligation)
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = f"{name} ({seen[name]})"
            yield ObligationItem.from_parent(
                self,
                name=name,
                # As a string, so that pytest parses a trailing "[...]" in the name the way
                # it parses the ids it stores (--lf, --deselect): as parameters.
                nodeid=f"{self.nodeid}::{name}",
                entry=entry,
                variant=settings.variant,
                path=_module_path(entry.module, self.path),
            )


class ObligationItem(pytest.Item):
    """One obligation: passes iff ``vaultbench check`` reports it holding."""

    def __init__(self, *, entry: Entry, variant: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry
        self.variant = variant
        self.add_marker(pytest.mark.vaultbench)
        row = entry.row
        self.user_properties.append(("result", row.result))
        self.user_properties.append(("solver_seconds", f"{row.seconds:.3f}"))
        if row.result == NOT_CLAIMED:
            self.add_marker(pytest.mark.skip(reason=row.detail or "not claimed in this setting"))

    def runtest(self) -> None:
        if self.entry.row.result in PASSING:
            return
        raise ObligationFailed(self.report())

    def report(self) -> str:
        row = self.entry.row
        head = f"{row.invariant}: {row.obligation}: {row.result}"
        if row.result == "UNREACHABLE":
            head += " (a sanity query found no state: the model may be vacuous here)"
        elif row.detail:
            head += f" ({row.detail})"
        setting = f"variant {self.variant}" if self.variant else "the safe design"
        lines = [head, f"checked on {setting}", ""]
        for text in self.entry.counterexamples:
            lines.extend([text, ""])
        lines.append(f"reproduce with: {_reproduce(self.entry.part, self.variant)}")
        return "\n".join(lines)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        if isinstance(excinfo.value, ObligationFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"vaultbench: {self.entry.row.invariant}: {self.entry.row.obligation}"


class PartErrorItem(pytest.Item):
    """Stands for a part whose proofs raised; fails with the traceback."""

    def __init__(self, *, failure: PartError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failure = failure
        self.add_marker(pytest.mark.vaultbench)

    def runtest(self) -> None:
        raise ObligationFailed(
            f"the {self.failure.part} part's proofs raised:\n{self.failure.text}"
        )

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        if isinstance(excinfo.value, ObligationFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"vaultbench: the {self.failure.part} part"
