"""``vaultbench bench``: structure, not speed.

These tests never assert that anything is fast. They check that a tiny ``--quick`` run
works and writes valid JSON with the machine's description, that every ratio is computed
from the times measured, that the floors count what they say they count (the SHA-256
calls of an RFC 9162 tree, the messages of a recovery), that bad usage exits 2, that the
performance fixes refuse and accept exactly what the code did before, and that the docs
extension's plots are well-formed SVG.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hpke as library_hpke
from cryptography.hazmat.primitives.asymmetric import x25519

from impl import merkle
from impl.crypto.ed25519 import SigningKey, VerifyKey
from impl.crypto.hpke import _P25519, _SMALL_ORDER_U, _x25519_small_order
from impl.crypto.symmetric import SeededRng
from vaultbench import bench

DOCS_EXT = Path(__file__).resolve().parent.parent / "docs" / "_ext"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    """One ``--quick`` run of every benchmark, saved: (the JSON printed, stderr, the file)."""
    target = tmp_path_factory.mktemp("bench") / "results.json"
    capture = pytest.MonkeyPatch()
    out: list[str] = []
    err: list[str] = []

    class _Sink:
        def __init__(self, into: list[str]) -> None:
            self._into = into

        def write(self, text: str) -> int:
            self._into.append(text)
            return len(text)

        def flush(self) -> None:
            return None

    capture.setattr(sys, "stdout", _Sink(out))
    capture.setattr(sys, "stderr", _Sink(err))
    try:
        code = bench.main(["--quick", "--json", "--save", str(target)])
    finally:
        capture.undo()
    assert code == bench.EXIT_OK, "".join(err)
    return json.loads("".join(out)), "".join(err), target


def _check_figure(figure: dict[str, Any]) -> None:
    samples, floors = figure["samples"], figure["floor_samples"]
    assert samples
    assert all(s > 0 for s in samples)
    assert figure["seconds"] == min(samples)
    if figure["floor_seconds"] is None:
        assert figure["ratio"] is None
        assert not floors
        return
    assert len(floors) == len(samples)
    assert figure["floor_seconds"] == min(floors)
    assert figure["ratio"] == pytest.approx(figure["seconds"] / figure["floor_seconds"])
    median = statistics.median(samples) / statistics.median(floors)
    assert figure["median_ratio"] == pytest.approx(median)
    if figure["goal"] is None:
        assert figure["met"] is None
    else:
        assert figure["met"] == (figure["ratio"] <= figure["goal"])


def test_quick_run_json_is_complete(quick_run: tuple[dict[str, Any], str, Path]) -> None:
    document, _err, _target = quick_run
    assert document["schema"] == bench.SCHEMA
    assert document["settings"]["quick"] is True
    assert document["settings"]["only"] == list(bench.BENCHMARKS)
    names = [f["name"] for f in document["figures"]]
    for expected in ("bundle-verify", "recovery", "argon2id", "auditlog", "check"):
        assert expected in names
    goals = {f["name"]: f["goal"] for f in document["figures"]}
    assert goals["bundle-verify"] == bench.GOAL_BUNDLE
    assert goals["recovery"] == bench.GOAL_RECOVERY
    for figure in document["figures"]:
        _check_figure(figure)
    assert {"check", "scale", "mutants"} <= document["tables"].keys()
    assert {"check", "scale", "mutants"} <= document["summaries"].keys()


def test_quick_run_saves_the_machine(quick_run: tuple[dict[str, Any], str, Path]) -> None:
    document, _err, target = quick_run
    saved = json.loads(target.read_text(encoding="utf-8"))
    machine = saved["machine"]
    for key in ("cpu", "cores", "python", "system", "packages", "date"):
        assert key in machine
    assert "cryptography" in machine["packages"]
    assert saved["figures"][0]["name"] == document["figures"][0]["name"]
    assert bench.machine_slug(machine).endswith(f"{machine['cores']}-cores")


def test_recovery_sends_exactly_the_mandated_messages(
    quick_run: tuple[dict[str, Any], str, Path],
) -> None:
    document, _err, _target = quick_run
    recovery = next(f for f in document["figures"] if f["name"] == "recovery")
    counts = recovery["counts"]
    assert counts == {**counts, **bench.recovery_floor_counts(5)}
    assert counts["peer_messages"] == 4 * 2 * (5 - 1)
    assert counts["observed_peer_messages"] == counts["peer_messages"]
    assert counts["observed_slots"] == counts["slots"]


def test_quick_run_tables(quick_run: tuple[dict[str, Any], str, Path]) -> None:
    document, err, _target = quick_run
    assert "bench: bundle" in err  # progress goes to stderr, never into the JSON
    scale = document["tables"]["scale"]
    assert {r["replicas"] for r in scale} == set(bench.QUICK_SCALE_REPLICAS)
    for row in scale:
        slots = {"register": 2, "begin": 1, "guess": 3}[row["operation"]]
        assert row["mandated_messages"] == slots * 2 * (row["replicas"] - 1)
    check = document["summaries"]["check"]
    assert check["ok"] is True
    assert set(check["parts"]) == {"vault"}
    assert check["total_seconds"] == pytest.approx(sum(check["parts"].values()))
    mutants = document["summaries"]["mutants"]
    assert mutants["ok"] is True
    assert mutants["cells"] == len(document["tables"]["mutants"])
    rates = document["summaries"]["scale"]
    assert rates["simulation"]["ok"] is True
    assert rates["conformance"]["ok"] is True
    assert rates["fleet_conformance"]["ok"] is True


def test_render_shows_each_figure_and_verdict() -> None:
    results = bench.Results({"cpu": "test cpu", "cores": 2, "python": "CPython 3.11"}, {})
    results.settings.update(quick=True, repeat=3, seed=1)
    results.figures.append(
        bench.Figure("bundle-verify", "t", 3e-4, [3e-4], 2e-4, [2e-4], "floor", 1.3)
    )
    results.figures.append(bench.Figure("argon2id", "t", 0.5, [0.5]))
    text = bench.render(results)
    assert "bundle-verify" in text
    assert "1.50" in text
    assert "NOT MET" in text
    assert "argon2id" in text


def test_figure_ratio_comes_from_its_samples() -> None:
    figure = bench._figure("x", "x", ([4.0, 3.0, 5.0], [2.0, 1.5, 3.0]), goal=2.0)
    assert figure.seconds == 3.0
    assert figure.floor_seconds == 1.5
    assert figure.ratio == 2.0
    assert figure.median_ratio == 2.0
    assert figure.met is True
    alone = bench._figure("y", "y", [1.0, 2.0])
    assert alone.ratio is None
    assert alone.met is None


def test_paired_alternates_and_counts() -> None:
    calls: list[str] = []

    def op(name: str) -> Callable[[], float]:
        def run() -> float:
            calls.append(name)
            return 1.0

        return run

    figures, floors = bench.paired(op("a"), op("b"), repeat=3, number=2, warmup=1)
    assert figures == [1.0, 1.0, 1.0]
    assert floors == [1.0, 1.0, 1.0]
    warmup, first, second, third = (
        ["a", "a", "b", "b"],
        ["a", "a", "b", "b"],
        ["b", "b", "a", "a"],
        ["a", "a", "b", "b"],
    )
    assert calls == [*warmup, *first, *second, *third]


@pytest.mark.parametrize(
    "argv",
    [
        ["--only", "nosuch"],
        ["--only", ""],
        ["--repeat", "0"],
        ["--repeat", "many"],
        ["--seed", "-1"],
        ["--save", "/nonexistent-vaultbench-dir/results.json", "--quick", "--only", "argon2"],
    ],
)
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(argv) == bench.EXIT_USAGE
    err = capsys.readouterr().err
    assert "error" in err


def test_only_names_the_known_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--only", "bundle,nosuch"]) == bench.EXIT_USAGE
    err = capsys.readouterr().err
    assert "'nosuch'" in err
    assert "known: bundle, recovery" in err


def test_tree_hashes_counts_the_sha256_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit-log floor hashes as often as the tree really does."""
    calls = [0]
    real = hashlib.sha256

    def counting(data: bytes = b"") -> Any:
        calls[0] += 1
        return real(data)

    def counting_digest(data: bytes) -> bytes:
        calls[0] += 1
        return real(data).digest()

    monkeypatch.setattr(merkle, "_sha256", counting)
    monkeypatch.setattr(merkle, "sha256", counting_digest)
    tree = merkle.MerkleTree()
    for index in range(300):
        leaf = merkle.leaf_hash(b"entry %d" % index)
        calls[0] = 1  # the leaf hash
        tree.append(leaf)
        root = tree.root()
        merkle.verify_inclusion(leaf, index, index + 1, tree.inclusion_proof(index), root)
        assert calls[0] == bench.tree_hashes(index), index
        assert len(tree.inclusion_proof(index)) == bench.inclusion_path_length(index, index + 1)


def test_linear_fit() -> None:
    fit = bench.linear_fit([3, 5, 7], [10.0, 16.0, 22.0])
    assert fit["slope"] == pytest.approx(3.0)
    assert fit["intercept"] == pytest.approx(1.0)
    assert fit["r2"] == pytest.approx(1.0)


# -- the performance fixes keep behaviour -------------------------------------------------


def _trial_refuses(raw: bytes) -> bool:
    """What decode_fleet_public_key did before: a trial HPKE encapsulation."""
    suite = library_hpke.Suite(
        library_hpke.KEM.X25519, library_hpke.KDF.HKDF_SHA256, library_hpke.AEAD.AES_256_GCM
    )
    try:
        suite.encrypt(b"", x25519.X25519PublicKey.from_public_bytes(raw), info=b"check")
    except ValueError:
        return True
    return False


def test_small_order_check_refuses_what_the_trial_refused() -> None:
    values: list[int] = []
    for u in _SMALL_ORDER_U:
        for k in range(3):
            v = u + k * _P25519
            if v < 1 << 255:
                values += [v, v | 1 << 255]
    for delta in range(-24, 24):
        for base in (0, _P25519, 1 << 255, 1 << 254):
            if 0 <= base + delta < 1 << 256:
                values.append(base + delta)
    rng = SeededRng(b"small order")
    randoms = [rng.random_bytes(32) for _ in range(200)]
    encodings = [v.to_bytes(32, "little") for v in values] + randoms
    refused = 0
    for raw in encodings:
        assert _x25519_small_order(raw) == _trial_refuses(raw), raw.hex()
        refused += _trial_refuses(raw)
    assert refused >= 2 * len(_SMALL_ORDER_U)


def test_verify_key_from_bytes_keeps_the_encoding() -> None:
    key = SigningKey.generate(SeededRng(b"verify key")).public_key()
    loaded = VerifyKey.from_bytes(key.raw())
    assert loaded == key
    assert loaded.raw() == key.raw()
    assert VerifyKey.from_bytes(bytearray(key.raw())).raw() == key.raw()


# -- the docs extension's plots -------------------------------------------------------


def _plots() -> Any:
    sys.path.insert(0, str(DOCS_EXT))
    try:
        import bench_plots
    finally:
        sys.path.remove(str(DOCS_EXT))
    return bench_plots


def test_plots_are_well_formed_svg() -> None:
    plots = _plots()
    charts = [
        plots.bar_chart("r", [("a", 1.5, "#000", 1.3, "1.5"), ("b", 0.9, "#111", None, "")], "x"),
        plots.bar_chart(
            "log", [("a", 0.002, "#000", None, ""), ("b", 3.0, "#000", None, "")], "s", log=True
        ),
        plots.dot_chart(
            "d", [("v", [(0.01, "#000", True), (2.0, "#111", False)])], "s", [("k", "#000")]
        ),
        plots.line_chart("l", [3, 5, 7], [("m", [4.0, 8.0, 12.0], "#000", False)], "n", "y"),
    ]
    for chart in charts:
        root = ET.fromstring(chart.render().split("\n", 1)[1])
        assert root.tag.endswith("svg")
        assert int(root.attrib["width"]) > 0
        assert int(root.attrib["height"]) > 0
    assert plots.fmt_time(2.5e-4) == "250 µs"
    assert plots.fmt_time(None) == "-"
