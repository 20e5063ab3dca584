"""fuzz/atheris_net.py: a coverage-guided harness (atheris, libFuzzer) for ``impl/net``.

Usage::

    .venv/bin/pip install atheris
    .venv/bin/python fuzz/atheris_net.py --corpus fuzz/corpus/net      # write the seeds
    .venv/bin/python fuzz/atheris_net.py -runs=100000 -max_len=4096 fuzz/corpus/net

The first byte of an input chooses the target (its index in
``fuzz.net_targets.net_targets()``, modulo their number: ``net.frame``,
``net.frame.stream``, ``net.status``, ``net.fleet``, ``net.keys``, ``net.number``), the
rest is given to it under the oracle of ``fuzz.targets.probe`` with the checks of
``fuzz.net_targets`` (split reads agree with one read, a refused decoder is closed, the
fleet directory is unchanged, no key material in an error). Anything else raises, and
libFuzzer saves the input as ``crash-<sha1>``; replay it with
``.venv/bin/python fuzz/atheris_net.py crash-<sha1>``, and keep it as
``fuzz/regressions/net-<what>`` once fixed (``tests/test_fuzz_net.py`` replays those).
``VAULTBENCH_FUZZ_TARGETS=net.frame`` restricts the dispatch to the targets whose names
start with one of the given prefixes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    import atheris  # type: ignore[import-untyped, unused-ignore]
except ImportError:  # the oracle below runs without it (tests/test_fuzz_net.py)
    atheris = None

if atheris is not None and __name__ == "__main__":
    with atheris.instrument_imports(include=["impl.net", "fuzz.net_targets"]):
        from fuzz.net_targets import net_targets
        from fuzz.targets import Target, probe
else:
    from fuzz.net_targets import net_targets
    from fuzz.targets import Target, probe

DEFAULT_CORPUS = Path(__file__).resolve().parent / "corpus" / "net"


def selected_targets() -> tuple[Target, ...]:
    """selected_targets: every net target, or those ``VAULTBENCH_FUZZ_TARGETS`` names."""
    prefixes = [p for p in os.environ.get("VAULTBENCH_FUZZ_TARGETS", "").split(",") if p]
    targets = net_targets()
    if not prefixes:
        return targets
    chosen = tuple(t for t in targets if any(t.name.startswith(p) for p in prefixes))
    if not chosen:
        raise SystemExit(f"VAULTBENCH_FUZZ_TARGETS={prefixes} matches no net target")
    return chosen


TARGETS = selected_targets()


def one_input(data: bytes) -> None:
    """one_input: the libFuzzer entry point: dispatch on the first byte, probe the rest."""
    if not data:
        return
    probe(TARGETS[data[0] % len(TARGETS)], data[1:])


def corpus() -> list[tuple[str, bytes]]:
    """corpus: (file name, contents) of every seed input: each genuine sample."""
    return [
        (f"{t.name}-{n}", bytes([index]) + sample)
        for index, t in enumerate(net_targets())
        for n, sample in enumerate(t.samples())
    ]


def write_corpus(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    entries = corpus()
    for name, data in entries:
        (directory / name).write_bytes(data)
    return len(entries)


def main() -> None:
    if sys.argv[1:2] == ["--corpus"]:
        where = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_CORPUS
        print(f"wrote {write_corpus(where)} seed inputs to {where}")
        return
    if atheris is None:
        raise SystemExit("atheris is not installed: .venv/bin/pip install atheris")
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
