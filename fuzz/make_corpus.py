"""fuzz/make_corpus.py: the seed corpus of ``fuzz/atheris_wire.py``: every genuine sample.

Usage::

    .venv/bin/python fuzz/make_corpus.py [DIRECTORY]     # default: fuzz/corpus

One file per sample, named ``<target>-<n>``, holding the dispatch byte of the target
(its index in ``fuzz.targets.all_targets()``) and then the sample. The samples come from
a fixed seed (``fuzz.samples``), so the corpus is the same bytes on every run; it is
generated, not committed (``fuzz/.gitignore``).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.targets import all_targets

DEFAULT_DIRECTORY = Path(__file__).resolve().parent / "corpus"


def corpus() -> list[tuple[str, bytes]]:
    """corpus: (file name, contents) of every seed input."""
    out: list[tuple[str, bytes]] = []
    for index, target in enumerate(all_targets()):
        for n, sample in enumerate(target.samples()):
            out.append((f"{target.name}-{n}", bytes([index]) + sample))
    return out


def write_corpus(directory: Path) -> int:
    """write_corpus: write the corpus into ``directory`` (created); the number of files."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = corpus()
    for name, data in entries:
        (directory / name).write_bytes(data)
    return len(entries)


def main(argv: list[str]) -> int:
    directory = Path(argv[1]) if len(argv) > 1 else DEFAULT_DIRECTORY
    count = write_corpus(directory)
    print(f"wrote {count} seed inputs to {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
