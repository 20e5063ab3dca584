"""bench_plots: the benchmark page's tables and plots, made at build time from a results file.

Usage in a page::

    .. vaultbench-bench:: ../benchmarks/results/amd-epyc-2-cores.json
       :show: figures

The argument is a results file written by ``vaultbench bench --save FILE`` (relative to
the page, or to the docs directory when it starts with ``/``). ``:show:`` picks what to
render from it:

``machine``   the machine, Python, package versions and date of the run;
``figures``   every figure with its floor, ratio, goal and verdict, the floors in words, and
              a plot of the ratios against their goals;
``recovery``  what the recovery figure counted (messages, slots, events) beside what the
              design mandates;
``check``     ``vaultbench check`` part by part (a plot) and row by row;
``scale``     messages, events, simulated latency and wall time per operation from 3 to 15
              replicas (two plots), the linear fits, the simulator's and the conformance
              walks' rates;
``mutants``   the time each detector took on each unsafe variant (a plot) and the table;
``compare``   needs ``:before: FILE``, a results file measured with the code before the
              performance fixes: each figure's ratio before and after.

Every number on the page comes from the file at build time; nothing is pasted. The page
is rebuilt when the file changes (``note_dependency``).

Plots are SVG written by this module (no plotting library is needed): in the HTML
builder each becomes a real file in ``_images/`` and an ``<img>`` with a width, a height
and an ``alt`` text; other builders get the alt text as a paragraph.
"""

from __future__ import annotations

import html
import json
import math
import posixpath
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective
from sphinx.util.typing import ExtensionMetadata

SHOW = ("machine", "figures", "recovery", "check", "scale", "mutants", "compare")
#: colours: goal met, goal not met, no goal; proof detectors, run detectors
MET, NOT_MET, NEUTRAL = "#2e7d32", "#e65100", "#546e7a"
PROOF, RUN = "#1565c0", "#ad1457"
SERIES = ("#1565c0", "#ad1457", "#2e7d32", "#e65100", "#6a1b9a")
FONT = "font-family='sans-serif' font-size='12'"


# ---------------------------------------------------------------------------------------
# Formatting


def fmt_time(seconds: float | None) -> str:
    """fmt_time: seconds as s, ms or µs with three significant digits."""
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def fmt_num(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------------------------------
# SVG


class Svg:
    """Svg: a small SVG document built element by element."""

    def __init__(self, width: int, height: int, title: str) -> None:
        self.width, self.height = width, height
        self.parts: list[str] = [f"<title>{_e(title)}</title>"]

    def text(self, x: float, y: float, label: object, anchor: str = "start", **extra: str) -> None:
        attrs = " ".join(f"{k.replace('_', '-')}='{_e(v)}'" for k, v in extra.items())
        self.parts.append(
            f"<text x='{x:.1f}' y='{y:.1f}' text-anchor='{anchor}' {FONT} {attrs}>"
            f"{_e(label)}</text>"
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: str, **extra: str) -> None:
        attrs = " ".join(f"{k.replace('_', '-')}='{_e(v)}'" for k, v in extra.items())
        self.parts.append(
            f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' "
            f"stroke='{colour}' {attrs}/>"
        )

    def rect(self, x: float, y: float, w: float, h: float, colour: str) -> None:
        self.parts.append(
            f"<rect x='{x:.1f}' y='{y:.1f}' width='{max(w, 0.5):.1f}' height='{h:.1f}' "
            f"fill='{colour}'/>"
        )

    def circle(self, x: float, y: float, r: float, colour: str, filled: bool = True) -> None:
        fill = colour if filled else "white"
        self.parts.append(
            f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{r:.1f}' fill='{fill}' stroke='{colour}' "
            "stroke-width='1.5'/>"
        )

    def polyline(self, points: Sequence[tuple[float, float]], colour: str, dashed: bool) -> None:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dash = " stroke-dasharray='5,4'" if dashed else ""
        self.parts.append(
            f"<polyline points='{coords}' fill='none' stroke='{colour}' stroke-width='2'{dash}/>"
        )

    def render(self) -> str:
        body = "\n".join(self.parts)
        return (
            "<?xml version='1.0' encoding='UTF-8'?>\n"
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' "
            f"height='{self.height}' viewBox='0 0 {self.width} {self.height}'>\n"
            f"<rect width='100%' height='100%' fill='white'/>\n{body}\n</svg>\n"
        )


def _label_width(labels: Iterable[str]) -> int:
    """Room for the longest label at 12 px (about 7 px per character), at least 120."""
    return max([120, *(7 * len(label) + 16 for label in labels)])


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering low..high."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks: list[float] = []
    value = start
    while value <= high + step * 0.5:
        ticks.append(round(value, 10))
        value += step
    return ticks


def bar_chart(
    title: str,
    rows: Sequence[tuple[str, float, str, float | None, str]],
    axis: str,
    *,
    log: bool = False,
) -> Svg:
    """bar_chart: one horizontal bar per row (label, value, colour, marker, annotation);
    the marker (a goal) is a vertical black line across its bar."""
    label_w, bar_w, row_h = _label_width(r[0] for r in rows), 420, 26
    height = 76 + row_h * len(rows)
    svg = Svg(label_w + bar_w + 120, height, title)
    values = [v for _, v, _, _, _ in rows] + [m for *_, m, _ in rows if m is not None]
    positive = [v for v in values if v > 0] or [1.0]
    if log:
        lo = 10 ** math.floor(math.log10(min(positive)))
        hi = 10 ** math.ceil(math.log10(max(positive)))
        if hi <= lo:
            hi = lo * 10

        def x_of(v: float) -> float:
            v = max(v, lo)
            return label_w + bar_w * (math.log10(v) - math.log10(lo)) / math.log10(hi / lo)

        ticks = [lo * 10**k for k in range(round(math.log10(hi / lo)) + 1)]
    else:
        lo = 0.0
        ticks = _ticks(0, max(positive))
        top = ticks[-1]

        def x_of(v: float) -> float:
            return label_w + bar_w * max(v, 0) / top

    svg.text(10, 20, title, font_weight="bold")
    base = 34
    for tick in ticks:
        x = x_of(tick)
        svg.line(x, base, x, base + row_h * len(rows), "#ddd")
        svg.text(x, base + row_h * len(rows) + 16, fmt_num(tick), "middle")
    svg.text(label_w + bar_w / 2, height - 6, axis, "middle")
    for index, (label, value, colour, marker, note) in enumerate(rows):
        y = base + index * row_h
        svg.text(label_w - 8, y + row_h * 0.65, label, "end")
        start = x_of(lo) if log else float(label_w)
        svg.rect(start, y + 4, x_of(value) - start, row_h - 8, colour)
        if marker is not None:
            mx = x_of(marker)
            svg.line(mx, y + 1, mx, y + row_h - 1, "black", stroke_width="2")
        svg.text(max(x_of(value), x_of(marker or 0)) + 6, y + row_h * 0.65, note)
    return svg


def dot_chart(
    title: str,
    rows: Sequence[tuple[str, Sequence[tuple[float, str, bool]]]],
    axis: str,
    legend: Sequence[tuple[str, str]],
) -> Svg:
    """dot_chart: per row a label and dots (value, colour, filled) on a log axis."""
    label_w, plot_w, row_h = _label_width(r[0] for r in rows), 460, 20
    height = 100 + row_h * len(rows)
    svg = Svg(label_w + plot_w + 40, height, title)
    values = [v for _, dots in rows for v, _, _ in dots if v > 0] or [1.0]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    if hi <= lo:
        hi = lo * 10

    def x_of(v: float) -> float:
        v = max(v, lo)
        return label_w + plot_w * (math.log10(v) - math.log10(lo)) / math.log10(hi / lo)

    svg.text(10, 20, title, font_weight="bold")
    base = 34
    for k in range(round(math.log10(hi / lo)) + 1):
        tick = lo * 10**k
        x = x_of(tick)
        svg.line(x, base, x, base + row_h * len(rows), "#ddd")
        svg.text(x, base + row_h * len(rows) + 16, fmt_num(tick), "middle")
    for index, (label, dots) in enumerate(rows):
        y = base + index * row_h + row_h / 2
        svg.line(label_w, y, label_w + plot_w, y, "#f0f0f0")
        svg.text(label_w - 8, y + 4, label, "end")
        for value, colour, filled in dots:
            svg.circle(x_of(value), y, 4.5, colour, filled)
    svg.text(label_w + plot_w / 2, base + row_h * len(rows) + 34, axis, "middle")
    x = label_w
    for text, colour in legend:
        svg.circle(x, height - 14, 4.5, colour, "no catch" not in text)
        svg.text(x + 9, height - 10, text)
        x += 150
    return svg


def line_chart(
    title: str,
    xs: Sequence[float],
    series: Sequence[tuple[str, Sequence[float], str, bool]],
    x_axis: str,
    y_axis: str,
) -> Svg:
    """line_chart: series (name, ys, colour, dashed) over the same xs, with a legend."""
    left, plot_w, plot_h, top = 70, 460, 260, 34
    svg = Svg(left + plot_w + 190, top + plot_h + 60, title)
    all_y = [y for _, ys, _, _ in series for y in ys] or [1.0]
    yticks = _ticks(0, max(all_y))
    xticks = list(xs)
    x_lo, x_hi = min(xs), max(xs)
    span = (x_hi - x_lo) or 1

    def at(x: float, y: float) -> tuple[float, float]:
        return left + plot_w * (x - x_lo) / span, top + plot_h * (1 - y / yticks[-1])

    svg.text(10, 20, title, font_weight="bold")
    for tick in yticks:
        _, y = at(x_lo, tick)
        svg.line(left, y, left + plot_w, y, "#ddd")
        svg.text(left - 6, y + 4, fmt_num(tick), "end")
    for tick in xticks:
        x, _ = at(tick, 0)
        svg.line(x, top, x, top + plot_h, "#eee")
        svg.text(x, top + plot_h + 16, fmt_num(tick), "middle")
    svg.text(left + plot_w / 2, top + plot_h + 38, x_axis, "middle")
    svg.text(14, top + plot_h / 2, y_axis, "middle", transform=f"rotate(-90 14 {top + plot_h / 2})")
    for index, (name, ys, colour, dashed) in enumerate(series):
        points = [at(x, y) for x, y in zip(xs, ys, strict=True)]
        svg.polyline(points, colour, dashed)
        for x, y in points:
            svg.circle(x, y, 3, colour)
        ly = top + 14 + index * 18
        svg.line(left + plot_w + 16, ly - 4, left + plot_w + 40, ly - 4, colour, stroke_width="2")
        svg.text(left + plot_w + 46, ly, name)
    return svg


# ---------------------------------------------------------------------------------------
# Nodes


class bench_image(nodes.General, nodes.Element):
    """A plot: ``svg`` (the document), ``filename``, ``alt``, ``width``, ``height``."""


def visit_bench_image_html(translator: Any, node: bench_image) -> None:
    builder = translator.builder
    directory = Path(builder.outdir) / builder.imagedir
    directory.mkdir(parents=True, exist_ok=True)
    (directory / node["filename"]).write_text(node["svg"], encoding="utf-8")
    src = posixpath.join(builder.imgpath, node["filename"])
    translator.body.append(
        f"<figure class='vaultbench-bench'><img src='{_e(src)}' alt='{_e(node['alt'])}' "
        f"width='{node['width']}' height='{node['height']}' style='max-width: 100%; "
        f"height: auto'/></figure>\n"
    )
    raise nodes.SkipNode


def _alt_for_other_builders(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    if app.builder.format == "html":
        return
    for node in list(doctree.findall(bench_image)):
        node.replace_self(nodes.paragraph(text=f"[plot: {node['alt']}]"))


def _image(svg: Svg, filename: str, alt: str) -> bench_image:
    node = bench_image()
    node["svg"] = svg.render()
    node["filename"] = filename
    node["alt"] = alt
    node["width"] = svg.width
    node["height"] = svg.height
    return node


def _table(
    header: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[int]
) -> nodes.table:
    table = nodes.table(classes=["vaultbench-bench"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    head += _row(header)
    body = nodes.tbody()
    group += body
    for row in rows:
        body += _row([fmt_num(cell) if not isinstance(cell, str) else cell for cell in row])
    return table


def _row(cells: Sequence[str]) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += nodes.paragraph(text=cell)
        row += entry
    return row


def _para(text: str) -> nodes.paragraph:
    return nodes.paragraph(text=text)


# ---------------------------------------------------------------------------------------
# The directive


class BenchDirective(SphinxDirective):
    """``.. vaultbench-bench:: RESULTS.json`` with ``:show:`` (see the module docstring)."""

    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {
        "show": lambda arg: directives.choice(arg, SHOW),
        "before": directives.unchanged_required,
    }

    def run(self) -> list[nodes.Node]:
        results = self._load(self.arguments[0])
        show = self.options.get("show", "figures")
        stem = Path(self.arguments[0]).stem
        render = getattr(self, f"_{show}")
        out: list[nodes.Node] = render(results, f"bench-{stem}-{show}")
        return out

    def _load(self, argument: str) -> dict[str, Any]:
        _rel, path = self.env.relfn2path(argument, self.env.docname)
        self.env.note_dependency(path)
        try:
            with open(path, encoding="utf-8") as handle:
                data: dict[str, Any] = json.load(handle)
        except (OSError, json.JSONDecodeError) as error:
            raise ExtensionError(f"vaultbench-bench: cannot read {argument}: {error}") from error
        if data.get("schema") != "vaultbench-bench/1":
            raise ExtensionError(f"vaultbench-bench: {argument} is not a vaultbench bench file")
        return data

    # -- what to show ---------------------------------------------------------------

    def _machine(self, data: dict[str, Any], name: str) -> list[nodes.Node]:
        m, s = data["machine"], data["settings"]
        rows = [
            ("CPU", m["cpu"]),
            ("cores", m["cores"]),
            ("system", m["system"]),
            ("Python", m["python"]),
            *((f"package {k}", v) for k, v in sorted(m["packages"].items())),
            ("date (UTC)", m["date"]),
            *(
                (f"load average {when} (1, 5, 15 min)", ", ".join(fmt_num(x) for x in m[key]))
                for when, key in (
                    ("at the start", "load_average"),
                    ("at the end", "load_average_after"),
                )
                if m.get(key)
            ),
            ("settings", f"repeat {s['repeat']}, seed {s['seed']}, quick {fmt_num(s['quick'])}"),
            ("whole run", fmt_time(data["seconds"])),
        ]
        return [_table(("", "value"), rows, (20, 60))]

    def _figures(self, data: dict[str, Any], name: str) -> list[nodes.Node]:
        figures = data["figures"]
        rows = []
        for f in figures:
            verdict = {None: "", True: "met", False: "not met"}[f["met"]]
            rows.append(
                (
                    f["name"],
                    f["title"],
                    fmt_time(f["seconds"]),
                    fmt_time(f["floor_seconds"]),
                    fmt_num(f["ratio"]),
                    fmt_num(f["median_ratio"]),
                    "-" if f["goal"] is None else f"≤ {fmt_num(f['goal'])}",
                    verdict,
                )
            )
        out: list[nodes.Node] = [
            _table(
                ("figure", "what", "time", "floor", "ratio", "ratio of medians", "goal", ""),
                rows,
                (14, 40, 9, 9, 7, 8, 6, 7),
            )
        ]
        floors = nodes.bullet_list()
        for f in figures:
            if f["floor"]:
                item = nodes.list_item()
                item += _para(f"{f['name']}: {f['floor']}.")
                floors += item
        out.append(floors)
        bars = [
            (
                f["name"],
                float(f["ratio"]),
                NEUTRAL if f["met"] is None else MET if f["met"] else NOT_MET,
                f["goal"],
                fmt_num(f["ratio"]) + ("" if f["goal"] is None else f" (goal ≤ {f['goal']})"),
            )
            for f in figures
            if f["ratio"] is not None
        ]
        if bars:
            svg = bar_chart("figure / floor (the black line is the goal)", bars, "ratio")
            alt = "; ".join(f"{label} ratio {note}" for label, _, _, _, note in bars)
            out.append(_image(svg, f"{name}.svg", f"Ratios to the floor: {alt}"))
        return out

    def _recovery(self, data: dict[str, Any], name: str) -> list[nodes.Node]:
        figure = next((f for f in data["figures"] if f["name"] == "recovery"), None)
        if figure is None:
            return [_para("The recovery benchmark was not run.")]
        c = figure["counts"]
        rows = [
            ("peer messages", c["peer_messages"], c["observed_peer_messages"]),
            ("log slots", c["slots"], c["observed_slots"]),
            ("HPKE opens", c["hpke_open"], c["requests"]),
            ("answer seals and signatures", c["answer_seal"], c["requests"]),
            ("simulator events", "-", c["observed_events"]),
            ("mean envelope bytes", "-", c["mean_envelope_bytes"]),
        ]
        return [_table(("per recovery", "mandated (the floor)", "observed"), rows, (30, 20, 15))]

    def _check(self, data: dict[str, Any], name: str) -> list[nodes.Node]:
        summary = data["summaries"].get("check")
        if summary is None:
            return [_para("The check benchmark was not run.")]
        parts = summary["parts"]
        out: list[nodes.Node] = [
            _para(
                f"Whole check: {fmt_time(summary['total_seconds'])} "
                f"({', '.join(f'{p} {fmt_time(s)}' for p, s in parts.items())}); every "
                f"invariant held: {fmt_num(summary['ok'])}."
            )
        ]
        bars = [(p, float(s), NEUTRAL, None, fmt_time(s)) for p, s in parts.items()]
        svg = bar_chart("vaultbench check, part by part", bars, "seconds")
        alt = ", ".join(f"{p} {note}" for p, _, _, _, note in bars)
        out.append(_image(svg, f"{name}.svg", f"Time of each part of vaultbench check: {alt}"))
        rows = [
            (r["part"], r["invariant"], r["obligation"], r["result"], fmt_time(r["seconds"]))
            for r in data["tables"]["check"]
        ]
        out.append(
            _table(("part", "invariant", "obligation", "result", "time"), rows, (8, 18, 40, 9, 9))
        )
        return out

    def _scale(self, data: dict[str, Any], name: str) -> list[nodes.Node]:
        table = data["tables"].get("scale")
        summary = data["summaries"].get("scale")
        if not table or summary is None:
            return [_para("The scale benchmark was not run.")]
        ops = list(dict.fromkeys(r["operation"] for r in table))
        xs = sorted({int(r["replicas"]) for r in table})

        def column(op: str, key: str, scale: float = 1.0) -> list[float]:
            by_n = {
                int(r["replicas"]): float(r[key]) * scale for r in table if r["operation"] == op
            }
            return [by_n[n] for n in xs]

        series = []
        for index, op in enumerate(ops):
            colour = SERIES[index % len(SERIES)]
            series.append((f"{op}", column(op, "messages"), colour, False))
            series.append((f"{op} (mandated)", column(op, "mandated_messages"), colour, True))
        messages = line_chart("peer messages per operation", xs, series, "replicas", "messages")
        walls = line_chart(
            "wall time per operation",
            xs,
            [
                (op, column(op, "wall_seconds", 1e3), SERIES[i % len(SERIES)], False)
                for i, op in enumerate(ops)
            ],
            "replicas",
            "milliseconds",
        )
        fits = summary["fits"]
        out: list[nodes.Node] = [
            _image(
                messages,
                f"{name}-messages.svg",
                "Peer messages per operation against the number of replicas, measured "
                "(solid) and mandated by the design (dashed)",
            ),
            _image(
                walls, f"{name}-wall.svg", "Wall time per operation against the number of replicas"
            ),
        ]
        rows = [
            (
                r["replicas"],
                r["operation"],
                fmt_num(r["messages"]),
                r["mandated_messages"],
                fmt_num(r["events"]),
                fmt_num(r["sim_ms"]),
                fmt_time(r["wall_seconds"]),
            )
            for r in table
        ]
        out.append(
            _table(
                ("replicas", "operation", "messages", "mandated", "events", "simulated ms", "wall"),
                rows,
                (8, 9, 9, 9, 8, 10, 9),
            )
        )
        fit_rows = []
        for op in ops:
            for key in ("messages", "events", "wall_seconds"):
                fit = fits[f"{op}:{key}"]
                unit = " s" if key == "wall_seconds" else ""
                fit_rows.append(
                    (op, key, f"{fmt_num(fit['slope'])}{unit} per replica", fmt_num(fit["r2"], 4))
                )
        out.append(
            _table(
                ("operation", "per operation", "least-squares slope", "R²"),
                fit_rows,
                (10, 14, 22, 8),
            )
        )
        sim, conf, fleet = (
            summary["simulation"],
            summary["conformance"],
            summary["fleet_conformance"],
        )
        out.append(
            _table(
                ("rate", "value", "measured on"),
                [
                    (
                        "simulated events per second",
                        fmt_num(sim["events_per_second"]),
                        f"{sim['events']} events, every fault, {fmt_time(sim['seconds'])}",
                    ),
                    (
                        "conformance steps per second (one HSM)",
                        fmt_num(conf["steps_per_second"]),
                        f"{conf['steps']} steps, {fmt_time(conf['seconds'])}",
                    ),
                    (
                        "conformance steps per second (fleet)",
                        fmt_num(fleet["steps_per_second"]),
                        f"{fleet['steps']} steps, {fmt_time(fleet['seconds'])}",
                    ),
                ],
                (30, 10, 30),
            )
        )
        return out

    def _mutants(self, data: dict[str, Any], name: str) -> list[nodes.Node]:
        table = data["tables"].get("mutants")
        summary = data["summaries"].get("mutants")
        if not table or summary is None:
            return [_para("The mutants benchmark was not run.")]
        variants = list(dict.fromkeys(r["variant"] for r in table))
        colour = {"proof": PROOF, "run": RUN}
        rows = [
            (
                v,
                [
                    (float(r["seconds"]), colour[r["kind"]], r["result"] == "caught")
                    for r in table
                    if r["variant"] == v
                ],
            )
            for v in variants
        ]
        svg = dot_chart(
            "time to each detector's verdict, per variant",
            rows,
            "seconds (log scale)",
            (("proof, caught", PROOF), ("run, caught", RUN), ("no catch (hollow)", NEUTRAL)),
        )
        out: list[nodes.Node] = [
            _para(
                f"{summary['cells']} detector runs on {summary['variants']} variants and the "
                f"safe design at the {summary['budget']} budget, {summary['jobs']} processes, "
                f"{fmt_time(summary['seconds'])} in all; {summary['caught']} catches, the "
                f"median catch in {fmt_time(summary['median_catch_seconds'])}."
            ),
            _image(svg, f"{name}.svg", "Time each detector took on each unsafe variant, log scale"),
        ]
        out.append(
            _table(
                ("variant", "detector", "kind", "result", "time", "trace"),
                [
                    (
                        r["variant"],
                        r["detector"],
                        r["kind"],
                        r["result"],
                        fmt_time(r["seconds"]),
                        fmt_num(r["trace"]),
                    )
                    for r in table
                ],
                (26, 14, 6, 8, 9, 6),
            )
        )
        return out

    def _compare(self, data: dict[str, Any], name: str) -> list[nodes.Node]:
        if "before" not in self.options:
            raise ExtensionError("vaultbench-bench: :show: compare needs :before: FILE")
        before = {f["name"]: f for f in self._load(self.options["before"])["figures"]}
        rows = []
        bars = []
        for f in data["figures"]:
            old = before.get(f["name"])
            if old is None or f["ratio"] is None or old["ratio"] is None:
                continue
            rows.append(
                (
                    f["name"],
                    fmt_time(old["seconds"]),
                    fmt_time(old["floor_seconds"]),
                    fmt_num(old["ratio"]),
                    fmt_time(f["seconds"]),
                    fmt_time(f["floor_seconds"]),
                    fmt_num(f["ratio"]),
                    "-" if f["goal"] is None else f"≤ {fmt_num(f['goal'])}",
                )
            )
            bars.append(
                (
                    f"{f['name']} before",
                    float(old["ratio"]),
                    NEUTRAL,
                    f["goal"],
                    fmt_num(old["ratio"]),
                )
            )
            bars.append(
                (
                    f"{f['name']} after",
                    float(f["ratio"]),
                    NEUTRAL if f["met"] is None else MET if f["met"] else NOT_MET,
                    f["goal"],
                    fmt_num(f["ratio"]),
                )
            )
        if not rows:
            return [_para("No figure was measured both before and after.")]
        svg = bar_chart("ratio to the floor, before and after the fixes", bars, "ratio")
        alt = "; ".join(f"{label} {note}" for label, _, _, _, note in bars)
        return [
            _table(
                ("figure", "before", "floor", "ratio", "after", "floor", "ratio", "goal"),
                rows,
                (14, 9, 9, 7, 9, 9, 7, 6),
            ),
            _image(svg, f"{name}.svg", f"Ratios before and after: {alt}"),
        ]


def setup(app: Sphinx) -> ExtensionMetadata:
    app.add_node(bench_image, html=(visit_bench_image_html, None))
    app.add_directive("vaultbench-bench", BenchDirective)
    app.connect("doctree-resolved", _alt_for_other_builders)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
