"""fuzz/atheris_wire.py: a coverage-guided harness (atheris, libFuzzer) for the decoders.

Usage::

    .venv/bin/pip install atheris
    .venv/bin/python fuzz/make_corpus.py
    .venv/bin/python fuzz/atheris_wire.py -runs=100000 -max_len=4096 fuzz/corpus

The first byte of an input chooses the target (its index in
``fuzz.targets.all_targets()``, modulo their number), the rest is given to it under the
oracle of ``fuzz.targets.probe``: a typed error, or a value whose re-encoding is the input.
Anything else raises, and libFuzzer reports a crash with the input saved as
``crash-<sha1>`` (replay it: ``.venv/bin/python fuzz/atheris_wire.py crash-<sha1>``).
``VAULTBENCH_FUZZ_TARGETS=wire.,peer_wire.`` restricts the dispatch to the targets whose
names start with one of the given prefixes. libFuzzer's own flags apply (``-seed=N`` for
a reproducible run, ``-max_total_time=S``, ``-jobs=N``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    import atheris  # type: ignore[import-untyped, unused-ignore]
except ImportError:  # the oracle below runs without it (tests/test_fuzz_atheris.py)
    atheris = None

if atheris is not None and __name__ == "__main__":
    with atheris.instrument_imports(include=["impl", "fuzz"]):
        from fuzz.targets import Target, all_targets, probe
else:
    from fuzz.targets import Target, all_targets, probe


def selected_targets() -> tuple[Target, ...]:
    """selected_targets: every target, or those ``VAULTBENCH_FUZZ_TARGETS`` names."""
    prefixes = [p for p in os.environ.get("VAULTBENCH_FUZZ_TARGETS", "").split(",") if p]
    targets = all_targets()
    if not prefixes:
        return targets
    chosen = tuple(t for t in targets if any(t.name.startswith(p) for p in prefixes))
    if not chosen:
        raise SystemExit(f"VAULTBENCH_FUZZ_TARGETS={prefixes} matches no target")
    return chosen


TARGETS = selected_targets()


def one_input(data: bytes) -> None:
    """one_input: the libFuzzer entry point: dispatch on the first byte, probe the rest."""
    if not data:
        return
    probe(TARGETS[data[0] % len(TARGETS)], data[1:])


def main() -> None:
    if atheris is None:
        raise SystemExit("atheris is not installed: .venv/bin/pip install atheris")
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
