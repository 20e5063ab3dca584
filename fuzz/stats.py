"""fuzz.stats: what a campaign tried, and the report it leaves.

Every probe is recorded as (target, strategy, outcome). ``install(config)`` registers a
small pytest plugin (from inside the test modules, so ``tests/conftest.py`` needs no
hook) that prints a table at the end of the session and, if ``VAULTBENCH_FUZZ_REPORT``
names a file, writes the counts there as JSON::

    {"profile": "ci", "inputs": 7000, "accepted": 900, "unexpected": 0,
     "known_bugs": {...}, "seconds": 41.2,
     "targets": {"wire.request": {"inputs": 180, "accepted": 20,
                                  "rejected": {"WireError": 160}, "unexpected": 0,
                                  "by_strategy": {"random": 60, ...}}, ...}}
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from fuzz.targets import ACCEPTED, KNOWN_BUG_PREFIX, UNEXPECTED, Target, probe

REPORT_ENV = "VAULTBENCH_FUZZ_REPORT"
_PLUGIN_NAME = "vaultbench-fuzz-report"

#: (target, strategy) -> outcome -> count
COUNTS: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
_STARTED = time.monotonic()


def record(target: str, strategy: str, outcome: str) -> None:
    """record: one input given to ``target`` by ``strategy`` and what came of it."""
    COUNTS[(target, strategy)][outcome] += 1


def summary(profile: str) -> dict[str, Any]:
    """summary: the counts so far, as the JSON report holds them."""
    targets: dict[str, dict[str, Any]] = {}
    known: Counter[str] = Counter()
    for (name, strategy), outcomes in sorted(COUNTS.items()):
        entry = targets.setdefault(
            name,
            {"inputs": 0, "accepted": 0, "rejected": {}, "unexpected": 0, "by_strategy": {}},
        )
        n = sum(outcomes.values())
        entry["inputs"] += n
        entry["by_strategy"][strategy] = entry["by_strategy"].get(strategy, 0) + n
        for outcome, count in outcomes.items():
            if outcome == ACCEPTED:
                entry["accepted"] += count
            elif outcome == UNEXPECTED:
                entry["unexpected"] += count
            else:
                if outcome.startswith(KNOWN_BUG_PREFIX):
                    known[f"{name}: {outcome[len(KNOWN_BUG_PREFIX) :]}"] += count
                entry["rejected"][outcome] = entry["rejected"].get(outcome, 0) + count
    return {
        "profile": profile,
        "inputs": sum(t["inputs"] for t in targets.values()),
        "accepted": sum(t["accepted"] for t in targets.values()),
        "unexpected": sum(t["unexpected"] for t in targets.values()),
        "known_bugs": dict(sorted(known.items())),
        "seconds": round(time.monotonic() - _STARTED, 1),
        "targets": targets,
    }


class _Report:
    """The pytest plugin: a terminal summary and the JSON file."""

    def __init__(self, profile: str) -> None:
        self.profile = profile

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not COUNTS:
            return
        report = summary(self.profile)
        write = terminalreporter.write_line
        terminalreporter.section(f"fuzz campaign ({report['profile']} profile)")
        write(f"{'target':<28} {'inputs':>8} {'accepted':>9} {'unexpected':>10}  rejected by type")
        for name, entry in report["targets"].items():
            rejected = ", ".join(f"{k} {v}" for k, v in sorted(entry["rejected"].items()))
            write(
                f"{name:<28} {entry['inputs']:>8} {entry['accepted']:>9} "
                f"{entry['unexpected']:>10}  {rejected}"
            )
        write(
            f"total: {report['inputs']} inputs, {report['accepted']} accepted, "
            f"{report['unexpected']} unexpected exceptions, in {report['seconds']} s"
        )
        for bug, count in report["known_bugs"].items():
            write(f"known bug (xfail test, file owned elsewhere): {bug}: {count} inputs")

    def pytest_sessionfinish(self) -> None:
        path = os.environ.get(REPORT_ENV)
        if path and COUNTS:
            Path(path).write_text(json.dumps(summary(self.profile), indent=2) + "\n")


def install(config: Any, profile: str) -> None:
    """install: register the report plugin once per session."""
    manager = config.pluginmanager
    if manager.get_plugin(_PLUGIN_NAME) is None:
        manager.register(_Report(profile), _PLUGIN_NAME)


def checked_probe(target: Target, strategy: str, data: bytes) -> str:
    """checked_probe: ``probe`` and ``record``; a bug is recorded as ``UNEXPECTED`` and
    re-raised."""
    try:
        outcome = probe(target, data)
    except AssertionError:
        record(target.name, strategy, UNEXPECTED)
        raise
    record(target.name, strategy, outcome)
    return outcome
