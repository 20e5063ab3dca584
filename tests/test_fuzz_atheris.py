"""The atheris harness (``fuzz/atheris_wire.py``): its oracle on the seed corpus always,
and a short coverage-guided run when atheris is installed (``docs/fuzzing.rst``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.atheris_wire import TARGETS, one_input
from fuzz.make_corpus import corpus, write_corpus
from fuzz.targets import all_targets

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "fuzz" / "atheris_wire.py"
#: libFuzzer runs of the short campaign: a few thousand, a few seconds.
RUNS = int(os.environ.get("VAULTBENCH_ATHERIS_RUNS", "3000"))


def test_the_corpus_has_every_target_and_the_oracle_accepts_it() -> None:
    entries = corpus()
    assert {name.rsplit("-", 1)[0] for name, _ in entries} == {t.name for t in all_targets()}
    for _, data in entries:
        one_input(data)  # raises on a bug
        for cut in (1, len(data) // 2, len(data) - 1):
            one_input(data[:cut])  # truncations: typed errors


def test_the_crashes_atheris_found_stay_fixed() -> None:
    # fuzz/regressions/: inputs that crashed the harness before their fix, as libFuzzer
    # saved them (the dispatch byte, then the input).
    found = sorted((ROOT / "fuzz" / "regressions").iterdir())
    assert found
    for path in found:
        one_input(path.read_bytes())


def test_the_dispatch_byte_reaches_every_target() -> None:
    assert len(TARGETS) == len(all_targets()) < 256
    for index, target in enumerate(TARGETS):
        assert TARGETS[bytes([index])[0] % len(TARGETS)] is target


def test_the_harness_runs_clean(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    seeds = tmp_path / "corpus"
    write_corpus(seeds)
    result = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            f"-runs={RUNS}",
            "-max_len=4096",
            "-seed=1",
            "-print_final_stats=1",
            str(seeds),
        ],
        cwd=tmp_path,  # crash-* files, if any, land here
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
    assert result.returncode == 0, f"atheris found a bug ({crashes}):\n{result.stderr[-4000:]}"
    assert f"Done {RUNS} runs" in result.stderr
