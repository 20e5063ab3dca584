"""msc: message sequence charts drawn at build time as inline SVG (no JavaScript, no CDN).

Usage in a page::

    .. msc::
       :alt: One vault request: the client seals it, the relay forwards it, the HSM answers.
       :caption: A vault request and its answer.

       participants: client, relay = operator (relay), hsm = HSM
       client -> relay: c1 = HPKE.Seal(fleet_pk, k || pad(req))
       relay -> hsm: c1
       note over hsm: charge before check
       hsm --> relay: c2 = nonce || AES-GCM(k, resp)
       relay --> client: c2

The content is a small line-oriented language; blank lines and lines starting with ``#``
are ignored:

``participants: a, b = Label of b, c = "Label, with a comma"``
    the lifelines, left to right (more than one such line appends). ``name = label`` shows
    ``label`` in the box (in double quotes if it has a comma); arrows and notes use
    ``name``.
``a -> b: text``
    a message (solid line, filled head); ``-->`` a reply (dashed line, open head);
    ``=>`` a message drawn bold (client traffic, say); ``-x`` a message that is lost (it
    stops short of ``b`` with a cross). ``a -> a: text`` is a step ``a`` takes by itself
    (a loop). ``a -> b, c: text`` sends the same message to ``b``, then to ``c``.
``& a -> b: text``
    (any statement prefixed with ``&``) drawn on the same row as the statement before;
    refused if the two would overlap.
``note over a: text``, ``note over a, c: text``, ``note left of a: text``, ``note right of a: text``
    a note box over one lifeline, across several, or beside one.
``== text ==``
    a separator across the chart (a phase, say).
``...`` or ``... text``
    time passes: the lifelines are dotted for a row.

In any text, ``\\n`` breaks the line and ``\\\\`` stands for one backslash (so ``\\\\n`` shows
``\\n``). The text is shown verbatim (no reST markup).

Options: ``:alt:`` (the accessible name; default: "Message sequence chart: a, b and c"),
``:caption:`` (wraps the chart in a numbered-as-usual figure with that caption), ``:name:``
(a label for ``:ref:``), ``:class:``.

Output: in HTML builders, an ``<svg role="img">`` inline in the page, with ``<title>``
(the alt text) and ``<desc>`` (a transcript of every statement), drawn only with
``currentColor`` so it follows furo's light and dark themes; text sits on the page's
background colour (``--color-background-primary``, else the system ``Canvas``) where it
crosses a lifeline. The drawing is a pure function of the content: same text, same bytes.
Other builders get the transcript as a literal block. Widths are estimated for a
monospace font (0.6 em per character), which is what the SVG asks for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from xml.sax.saxutils import escape, quoteattr

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.typing import ExtensionMetadata

# ---------------------------------------------------------------------------------------
# Geometry (pixels). Text is monospace: every character advances CHAR_W.

FONT_SIZE = 12.5
CHAR_W = FONT_SIZE * 0.6
LINE_H = 16.0
FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace"
MARGIN = 10.0
BOX_PAD_X = 10.0
BOX_PAD_Y = 6.0
MIN_GAP = 28.0  # between the boxes of neighbouring participants
LABEL_PAD = 14.0  # free space on each side of a message label
SELF_W = 28.0  # width of a self-message loop
NOTE_PAD = 6.0
ROW_GAP = 10.0
ARROW_L = 9.0
ARROW_W = 4.0
BG = "fill:var(--color-background-primary,Canvas)"


class MscError(ValueError):
    """A chart that does not parse; ``line`` is the offset in the directive's content."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


# ---------------------------------------------------------------------------------------
# The language.

ARROWS = {"->": "solid", "-->": "reply", "=>": "bold", "-x": "lost"}
_ARROW_RE = re.compile(
    r"^(?P<src>[^:]+?)\s*(?P<arrow>-->|->|=>|-x)\s*(?P<dst>[^:]+?)\s*:(?P<text>.*)$"
)
_NOTE_RE = re.compile(
    r"^note\s+(?P<where>over|left\s+of|right\s+of)\s+(?P<who>[^:]+?)\s*:(?P<text>.*)$"
)
_SEP_RE = re.compile(r"^==\s*(?P<text>.*?)\s*==$")


@dataclass(frozen=True)
class Participant:
    name: str
    label: str


@dataclass(frozen=True)
class Message:
    src: int
    dst: int
    kind: str  # solid, reply, bold, lost
    text: str


@dataclass(frozen=True)
class Note:
    where: str  # over, left, right
    first: int
    last: int
    text: str


@dataclass(frozen=True)
class Separator:
    text: str


@dataclass(frozen=True)
class Delay:
    text: str


Item = Message | Note | Separator | Delay


@dataclass
class Chart:
    participants: list[Participant] = field(default_factory=list)
    rows: list[list[Item]] = field(default_factory=list)

    def index(self, name: str, line: int) -> int:
        for i, participant in enumerate(self.participants):
            if participant.name == name:
                return i
        known = ", ".join(p.name for p in self.participants) or "none declared"
        raise MscError(f"unknown participant {name!r} (participants: {known})", line)


def _text(raw: str) -> str:
    """Statement text: ``\\n`` breaks the line, ``\\\\`` is one backslash."""
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m[1], m[0]), raw.strip())


_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "\\": "\\"}
_ENTRY = re.compile(r'\s*([^,="]+?)\s*(?:=\s*("[^"]*"|[^,]*?))?\s*(?:,|$)')


def _participants(text: str, offset: int) -> list[tuple[str, str]]:
    """``a, b = Label, c = "Label, with a comma"`` as (name, label) pairs."""
    out: list[tuple[str, str]] = []
    at = 0
    text = text.strip()
    while at < len(text):
        match = _ENTRY.match(text, at)
        if match is None or match.end() == at:
            raise MscError(f"cannot read the participants from {text[at:]!r}", offset)
        name, label = match[1], (match[2] or "").strip()
        if label.startswith('"') and label.endswith('"') and len(label) >= 2:
            label = label[1:-1]
        out.append((name, _text(label) if label else name))
        at = match.end()
    return out


def parse(lines: Sequence[str]) -> Chart:
    """parse: the chart the content lines describe (``MscError`` with the line offset)."""
    chart = Chart()
    for offset, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("participants:"):
            for name, label in _participants(line.removeprefix("participants:"), offset):
                if any(p.name == name for p in chart.participants):
                    raise MscError(f"participant {name!r} declared twice", offset)
                chart.participants.append(Participant(name, label))
            continue
        same_row = line.startswith("&")
        if same_row:
            line = line[1:].strip()
            if not chart.rows:
                raise MscError("'&' needs a statement before it", offset)
        items = _statement(chart, line, offset)
        if same_row:
            row = chart.rows[-1]
            for item in items:
                for other in row:
                    if _overlap(chart, item, other):
                        raise MscError("'&': this statement overlaps the one before", offset)
                row.append(item)
        else:
            chart.rows.extend([item] for item in items)
    if not chart.participants:
        raise MscError("no participants: start with 'participants: a, b, ...'", 0)
    if not chart.rows:
        raise MscError("the chart has no statements", 0)
    return chart


def _statement(chart: Chart, line: str, offset: int) -> list[Item]:
    if not chart.participants:
        raise MscError("declare 'participants:' before the first statement", offset)
    if line.startswith("..."):
        return [Delay(_text(line[3:].rstrip().removesuffix("...")))]
    if match := _SEP_RE.match(line):
        return [Separator(_text(match["text"]))]
    if match := _NOTE_RE.match(line):
        where = match["where"].split()[0]
        who = [chart.index(name.strip(), offset) for name in match["who"].split(",")]
        if where != "over" and len(who) != 1:
            raise MscError(f"'note {where} of' takes one participant", offset)
        if len(who) > 2:
            raise MscError("'note over' takes one participant or two (a span)", offset)
        first, last = min(who), max(who)
        return [Note(where, first, last, _text(match["text"]))]
    if match := _ARROW_RE.match(line):
        src = chart.index(match["src"].strip(), offset)
        kind = ARROWS[match["arrow"]]
        out: list[Item] = []
        for name in match["dst"].split(","):
            dst = chart.index(name.strip(), offset)
            if dst == src and kind == "lost":
                raise MscError("a lost message needs another participant", offset)
            out.append(Message(src, dst, kind, _text(match["text"])))
        return out
    raise MscError(
        f"cannot read {line!r}: expected 'a -> b: text', 'note ...', '== ... =='", offset
    )


def _span(chart: Chart, item: Item) -> tuple[float, float]:
    """A coarse horizontal extent in lifeline units, for the '&' overlap check."""
    n = len(chart.participants)
    match item:
        case Message(src=src, dst=dst):
            if src == dst:
                return (src - 0.9, src) if _self_side(src, n) < 0 else (src, src + 0.9)
            return min(src, dst), max(src, dst)
        case Note(where="left", first=first):
            return first - 0.9, first - 0.1
        case Note(where="right", first=first):
            return first + 0.1, first + 0.9
        case Note(first=first, last=last):
            return first - 0.45, last + 0.45
    return -1.0, float(n)


def _overlap(chart: Chart, a: Item, b: Item) -> bool:
    a0, a1 = _span(chart, a)
    b0, b1 = _span(chart, b)
    return a0 < b1 and b0 < a1


# ---------------------------------------------------------------------------------------
# Layout.


def text_width(text: str) -> float:
    return max((len(line) for line in text.split("\n")), default=0) * CHAR_W


def text_lines(text: str) -> int:
    return len(text.split("\n")) if text else 0


def layout_columns(chart: Chart) -> list[float]:
    """The x of each lifeline: boxes apart, and wide enough for every label between them."""
    parts = chart.participants
    n = len(parts)
    boxes = [text_width(p.label) + 2 * BOX_PAD_X for p in parts]
    gaps = [(boxes[i] + boxes[i + 1]) / 2 + MIN_GAP for i in range(n - 1)]

    # (first, last, width needed between the lifelines first and last)
    needs: list[tuple[int, int, float]] = []
    for row in chart.rows:
        for item in row:
            match item:
                case Message(src=src, dst=dst, text=text) if src != dst:
                    needs.append((min(src, dst), max(src, dst), text_width(text) + 2 * LABEL_PAD))
                case Message(src=src, text=text):
                    width = SELF_W + 2 * LABEL_PAD + text_width(text)
                    if _self_side(src, n) > 0 and src + 1 < n:
                        needs.append((src, src + 1, width))
                    elif _self_side(src, n) < 0:
                        needs.append((src - 1, src, width))
                case Note(where="right", first=first, text=text) if first + 1 < n:
                    needs.append((first, first + 1, text_width(text) + 2 * NOTE_PAD + 16))
                case Note(where="left", first=first, text=text) if first > 0:
                    needs.append((first - 1, first, text_width(text) + 2 * NOTE_PAD + 16))
                case _:
                    pass
    needs.sort(key=lambda need: (need[1] - need[0], need[0], need[1]))
    for first, last, width in needs:
        have = sum(gaps[first:last])
        if have < width:
            extra = (width - have) / (last - first)
            for i in range(first, last):
                gaps[i] += extra
    xs = [0.0]
    for gap in gaps:
        xs.append(xs[-1] + gap)
    return xs


@dataclass
class Svg:
    parts: list[str] = field(default_factory=list)
    min_x: float = 0.0
    max_x: float = 0.0

    def extent(self, x0: float, x1: float) -> None:
        self.min_x = min(self.min_x, x0)
        self.max_x = max(self.max_x, x1)

    def add(self, element: str) -> None:
        self.parts.append(element)


def _f(value: float) -> str:
    """A coordinate, printed the same way every time (at most one decimal)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _text_el(svg: Svg, x: float, y_top: float, text: str, anchor: str, bold: bool = False) -> None:
    """Lines of text with their first line's top at y_top."""
    weight = ' font-weight="bold"' if bold else ""
    for k, line in enumerate(text.split("\n")):
        baseline = y_top + k * LINE_H + LINE_H * 0.75
        svg.add(
            f'<text x="{_f(x)}" y="{_f(baseline)}" text-anchor="{anchor}"{weight}>'
            f"{escape(_keep_spaces(line))}</text>"
        )


def _keep_spaces(line: str) -> str:
    """Leading spaces and runs of spaces as no-break spaces, which SVG does not collapse."""
    return _SPACES.sub(lambda m: "\u00a0" * len(m[0]), line)


_SPACES = re.compile(r"^ +| {2,}")


def _text_box(svg: Svg, x0: float, y0: float, text: str, anchor: str) -> None:
    """A background patch under a text (so lifelines do not cross it)."""
    w = text_width(text) + 4
    h = text_lines(text) * LINE_H
    left = {"start": x0 - 2, "middle": x0 - w / 2, "end": x0 - w + 2}[anchor]
    svg.add(f'<rect x="{_f(left)}" y="{_f(y0)}" width="{_f(w)}" height="{_f(h)}" style="{BG}"/>')
    svg.extent(left, left + w)


def _arrowhead(svg: Svg, x: float, y: float, direction: float, kind: str) -> None:
    back = x - direction * ARROW_L
    if kind == "reply":
        svg.add(
            f'<polyline points="{_f(back)},{_f(y - ARROW_W)} {_f(x)},{_f(y)} '
            f'{_f(back)},{_f(y + ARROW_W)}" fill="none" stroke="currentColor" '
            f'stroke-width="1.2"/>'
        )
    else:
        svg.add(
            f'<polygon points="{_f(back)},{_f(y - ARROW_W)} {_f(x)},{_f(y)} '
            f'{_f(back)},{_f(y + ARROW_W)}" fill="currentColor" stroke="none"/>'
        )


def _line(x0: float, y0: float, x1: float, y1: float, kind: str) -> str:
    width = "2.2" if kind == "bold" else "1.2"
    dash = ' stroke-dasharray="5 3"' if kind == "reply" else ""
    return (
        f'<line x1="{_f(x0)}" y1="{_f(y0)}" x2="{_f(x1)}" y2="{_f(y1)}" '
        f'stroke="currentColor" stroke-width="{width}"{dash}/>'
    )


def _self_side(index: int, count: int) -> float:
    """Which way a self-message loops: right, except from the last of several lifelines."""
    return -1.0 if count > 1 and index == count - 1 else 1.0


def _row_height(item: Item) -> float:
    match item:
        case Message(src=src, dst=dst, text=text) if src == dst:
            return max(text_lines(text) * LINE_H, 22.0) + ROW_GAP
        case Message(text=text):
            return text_lines(text) * LINE_H + 8 + ROW_GAP
        case Note(text=text):
            return text_lines(text) * LINE_H + 2 * BOX_PAD_Y + ROW_GAP
        case Separator():
            return LINE_H + 2 * ROW_GAP
        case Delay():
            return LINE_H + 2 * ROW_GAP
    return ROW_GAP  # pragma: no cover


def _draw_item(svg: Svg, xs: list[float], y: float, height: float, item: Item) -> None:
    match item:
        case Message(src=src, dst=dst, kind=kind, text=text) if src == dst:
            x = xs[src]
            side = _self_side(src, len(xs))
            top, bottom = y + 3, y + height - ROW_GAP - 3
            bottom = max(bottom, top + 16)
            stroke = "2.2" if kind == "bold" else "1.2"
            dash = ' stroke-dasharray="5 3"' if kind == "reply" else ""
            far = x + side * SELF_W
            svg.add(
                f'<polyline points="{_f(x)},{_f(top)} {_f(far)},{_f(top)} '
                f'{_f(far)},{_f(bottom)} {_f(x + side * ARROW_L)},{_f(bottom)}" fill="none" '
                f'stroke="currentColor" stroke-width="{stroke}"{dash}/>'
            )
            _arrowhead(svg, x, bottom, -side, kind)
            # The label beside the loop, its lines left-aligned on either side.
            tx = far + 6 if side > 0 else far - 6 - text_width(text)
            ty = (top + bottom) / 2 - text_lines(text) * LINE_H / 2
            _text_box(svg, tx, ty, text, "start")
            _text_el(svg, tx, ty, text, "start")
            svg.extent(min(x, far), max(x, far))
        case Message(src=src, dst=dst, kind=kind, text=text):
            x0, x1 = xs[src], xs[dst]
            direction = 1.0 if x1 > x0 else -1.0
            ly = y + text_lines(text) * LINE_H + 4
            mid = (x0 + x1) / 2
            if text:
                _text_box(svg, mid, y, text, "middle")
                _text_el(svg, mid, y, text, "middle")
            if kind == "lost":
                end = x0 + (x1 - x0) * 0.72
                svg.add(_line(x0, ly, end, ly, kind))
                svg.add(
                    f'<path d="M{_f(end - 5)},{_f(ly - 5)} L{_f(end + 5)},{_f(ly + 5)} '
                    f'M{_f(end - 5)},{_f(ly + 5)} L{_f(end + 5)},{_f(ly - 5)}" '
                    f'stroke="currentColor" stroke-width="1.6" fill="none"/>'
                )
            else:
                tip = x1 - direction * 1.0
                svg.add(_line(x0, ly, tip - direction * (ARROW_L - 1), ly, kind))
                _arrowhead(svg, tip, ly, direction, kind)
        case Note(where=where, first=first, last=last, text=text):
            w = text_width(text) + 2 * NOTE_PAD
            h = text_lines(text) * LINE_H + 2 * BOX_PAD_Y
            if where == "left":
                right = xs[first] - 8
                left = right - w
            elif where == "right":
                left = xs[first] + 8
                right = left + w
            else:
                span = xs[last] - xs[first]
                width = max(w, span + 2 * NOTE_PAD + 16)
                centre = (xs[first] + xs[last]) / 2
                left, right = centre - width / 2, centre + width / 2
            top = y + 2
            rect = f'x="{_f(left)}" y="{_f(top)}" width="{_f(right - left)}" height="{_f(h)}"'
            svg.add(f'<rect {rect} rx="3" style="{BG}"/>')
            svg.add(
                f'<rect {rect} rx="3" fill="currentColor" fill-opacity="0.07" '
                f'stroke="currentColor" stroke-width="0.8"/>'
            )
            _text_el(svg, (left + right) / 2, top + BOX_PAD_Y, text, "middle")
            svg.extent(left, right)
        case Separator(text=text):
            ly = y + height / 2 - ROW_GAP / 2
            svg.add(
                f'<line x1="{_f(xs[0] - 20)}" y1="{_f(ly)}" x2="{_f(xs[-1] + 20)}" '
                f'y2="{_f(ly)}" stroke="currentColor" stroke-width="0.8" '
                f'stroke-dasharray="2 3"/>'
            )
            if text:
                mid = (xs[0] + xs[-1]) / 2
                ty = ly - LINE_H / 2
                w = text_width(text) + 16
                svg.add(
                    f'<rect x="{_f(mid - w / 2)}" y="{_f(ty - 1)}" width="{_f(w)}" '
                    f'height="{_f(LINE_H + 2)}" rx="3" style="{BG}" stroke="currentColor" '
                    f'stroke-width="0.8"/>'
                )
                _text_el(svg, mid, ty, text, "middle", bold=True)
                svg.extent(mid - w / 2, mid + w / 2)
            svg.extent(xs[0] - 20, xs[-1] + 20)
        case Delay(text=text):
            if text:
                mid = (xs[0] + xs[-1]) / 2
                ty = y + height / 2 - ROW_GAP / 2 - LINE_H / 2
                _text_box(svg, mid, ty, text, "middle")
                svg.add(
                    f'<text x="{_f(mid)}" y="{_f(ty + LINE_H * 0.75)}" text-anchor="middle" '
                    f'font-style="italic">{escape(text)}</text>'
                )


def render_svg(chart: Chart, alt: str) -> str:
    """render_svg: the chart as one ``<svg>`` element (a pure function of its input)."""
    xs = layout_columns(chart)
    parts = chart.participants
    svg = Svg()
    box_lines = max(text_lines(p.label) for p in parts)
    box_h = box_lines * LINE_H + 2 * BOX_PAD_Y
    top_y = MARGIN
    y = top_y + box_h + ROW_GAP + 4

    body = Svg()
    dotted: list[tuple[float, float]] = []
    for row in chart.rows:
        height = max(_row_height(item) for item in row)
        for item in row:
            _draw_item(body, xs, y, height, item)
            if isinstance(item, Delay):
                dotted.append((y, y + height - ROW_GAP))
        y += height
    bottom_y = y + 4

    # Lifelines first, so that everything else is drawn over them.
    for x in xs:
        start = top_y + box_h
        for d0, d1 in dotted:
            svg.add(_lifeline(x, start, d0, dashed=False))
            svg.add(_lifeline(x, d0, d1, dashed=True))
            start = d1
        svg.add(_lifeline(x, start, bottom_y, dashed=False))
    for i, p in enumerate(parts):
        w = text_width(p.label) + 2 * BOX_PAD_X
        for by in (top_y, bottom_y):
            svg.add(
                f'<rect x="{_f(xs[i] - w / 2)}" y="{_f(by)}" width="{_f(w)}" height="{_f(box_h)}" '
                f'rx="4" style="{BG}" stroke="currentColor" stroke-width="1.2"/>'
            )
            lines = text_lines(p.label)
            _text_el(svg, xs[i], by + (box_h - lines * LINE_H) / 2, p.label, "middle", bold=True)
        svg.extent(xs[i] - w / 2, xs[i] + w / 2)
    svg.parts.extend(body.parts)
    svg.extent(body.min_x, body.max_x)

    min_x, max_x = svg.min_x - MARGIN, svg.max_x + MARGIN
    width, height = max_x - min_x, bottom_y + box_h + MARGIN
    desc = transcript(chart)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="msc" role="img" '
        f"aria-label={quoteattr(alt)} "
        f'width="{_f(width)}" height="{_f(height)}" '
        f'viewBox="{_f(min_x)} 0 {_f(width)} {_f(height)}" '
        f'font-family="{FONT}" font-size="{_f(FONT_SIZE)}" fill="currentColor" '
        f'style="max-width:100%;height:auto;white-space:pre">'
    )
    return "\n".join(
        [
            head,
            f"<title>{escape(alt)}</title>",
            f"<desc>{escape(desc)}</desc>",
            *svg.parts,
            "</svg>",
        ]
    )


def _lifeline(x: float, y0: float, y1: float, *, dashed: bool) -> str:
    dash = ' stroke-dasharray="1 4"' if dashed else ""
    return (
        f'<line x1="{_f(x)}" y1="{_f(y0)}" x2="{_f(x)}" y2="{_f(y1)}" stroke="currentColor" '
        f'stroke-opacity="0.55" stroke-width="1"{dash}/>'
    )


# ---------------------------------------------------------------------------------------
# Text forms: the transcript (desc, non-HTML builders) and the default alt text.

_VERBS = {"solid": "to", "reply": "replies to", "bold": "to", "lost": "to (lost)"}


def transcript(chart: Chart) -> str:
    names = [p.label.replace("\n", " ") for p in chart.participants]
    out: list[str] = []
    for row in chart.rows:
        for k, item in enumerate(row):
            prefix = "  and " if k else ""
            out.append(prefix + _describe(names, item))
    return "\n".join(f"{line}" for line in out)


def _describe(names: list[str], item: Item) -> str:
    match item:
        case Message(src=src, dst=dst, text=text) if src == dst:
            return f"{names[src]}: {_flat(text)}"
        case Message(src=src, dst=dst, kind=kind, text=text):
            return f"{names[src]} {_VERBS[kind]} {names[dst]}: {_flat(text)}"
        case Note(where="over", first=first, last=last, text=text):
            who = names[first] if first == last else f"{names[first]} to {names[last]}"
            return f"[note over {who}: {_flat(text)}]"
        case Note(where=where, first=first, text=text):
            return f"[note {where} of {names[first]}: {_flat(text)}]"
        case Separator(text=text):
            return f"== {_flat(text)} =="
        case Delay(text=text):
            return f"... {_flat(text)}".rstrip()
    return ""  # pragma: no cover


def _flat(text: str) -> str:
    return " ".join(text.split())


def default_alt(chart: Chart) -> str:
    names = [p.label.replace("\n", " ") for p in chart.participants]
    who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"Message sequence chart: {who}"


# ---------------------------------------------------------------------------------------
# The directive.


class Msc(SphinxDirective):
    """``.. msc::`` with the chart in its content (see the module docstring)."""

    has_content = True
    required_arguments = 0
    optional_arguments = 0
    option_spec: ClassVar[dict[str, Callable[[str], Any]]] = {
        "alt": directives.unchanged_required,
        "caption": directives.unchanged_required,
        "name": directives.unchanged_required,
        "class": directives.class_option,
    }

    def run(self) -> list[nodes.Node]:
        try:
            chart = parse(list(self.content))
        except MscError as exc:
            line = self.content_offset + exc.line + 1
            raise self.error(
                f"msc (content line {exc.line + 1}, source line {line}): {exc}"
            ) from None
        alt = " ".join(self.options.get("alt", default_alt(chart)).split())
        svg = render_svg(chart, alt)

        html = nodes.raw("", f'<div class="msc-chart">\n{svg}\n</div>', format="html")
        fallback = addnodes.only(expr="not format_html")
        text = alt + "\n\n" + transcript(chart)
        fallback += nodes.literal_block(text, text)
        body: list[nodes.Node] = [html, fallback]

        if "caption" in self.options:
            figure = nodes.figure("", *body, classes=["msc", *self.options.get("class", [])])
            parsed, _messages = self.parse_inline(self.options["caption"], lineno=self.lineno)
            caption = nodes.caption(self.options["caption"], "", *parsed)
            self.set_source_info(caption)
            figure += caption
            container: nodes.Element = figure
        else:
            container = nodes.container("", *body, classes=["msc", *self.options.get("class", [])])
        self.set_source_info(container)
        self.add_name(container)
        return [container]


def setup(app: Sphinx) -> ExtensionMetadata:
    app.add_directive("msc", Msc)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
