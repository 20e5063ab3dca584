"""proofs.report: the result values every proof slice returns.

A proof run is a list of named *obligations* (Apalache's ``IndInit``, ``IndNext[action]``,
``IndProp``; later slices add their own names), a bounded model check, and *reachability*
queries that show the model is not vacuous (mypyvy's sanity checks). Each result is a
frozen dataclass that renders as text for people (``render()``) and as plain JSON for
programs (``to_json()``); neither holds a Z3 object, so a report outlives its solver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: A concrete state of a machine: variable name -> value, in declaration order.
State = dict[str, int | bool]

#: What an obligation came to.
Status = Literal["PASS", "FAIL"]


def _cell(value: int | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Trace:
    """Trace: states ``s0 .. sn`` and the ``n`` actions between them.

    ``actions[i]`` leads from ``states[i]`` to ``states[i + 1]``. ``violated`` names what
    the last state breaks (``"I3 attempt-limit"``, or the inductive invariant for a
    consecution counterexample); it is ``None`` when the trace is a *witness* of a
    reachability query rather than a counterexample. ``limit`` is the attempt limit the
    trace runs under (``None`` if the machine has none). ``note`` is one line of context,
    for instance that the first state of an induction counterexample need not be reachable.
    """

    states: list[State]
    actions: list[str]
    violated: str | None
    limit: int | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if len(self.states) != len(self.actions) + 1:
            raise ValueError(
                f"a trace has one more state than actions: "
                f"{len(self.states)} states, {len(self.actions)} actions"
            )

    @property
    def length(self) -> int:
        """The number of actions (steps) in the trace."""
        return len(self.actions)

    def render(self) -> str:
        """The trace as a table, one row per state, with the action that reached it."""
        names = list(self.states[0]) if self.states else []
        header = ["step", "action", *names]
        rows = [
            [str(i), "(initial)" if i == 0 else self.actions[i - 1]]
            + [_cell(state[name]) for name in names]
            for i, state in enumerate(self.states)
        ]
        widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]

        def line(cells: list[str]) -> str:
            return "  ".join(
                cell.rjust(w) if c != 1 else cell.ljust(w)
                for c, (cell, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        if self.violated is None:
            title = f"witness, {self.length} step(s)"
        else:
            title = f"counterexample to {self.violated}, {self.length} step(s)"
        if self.limit is not None:
            title += f", limit {self.limit}"
        out = [title + ":"]
        if self.note:
            out.append(f"  ({self.note})")
        out.append("  " + line(header))
        out.extend("  " + line(row) for row in rows)
        return "\n".join(out)

    def to_json(self) -> dict[str, object]:
        """The trace as plain JSON values."""
        return {
            "violated": self.violated,
            "limit": self.limit,
            "note": self.note,
            "length": self.length,
            "actions": list(self.actions),
            "states": [dict(state) for state in self.states],
        }


@dataclass(frozen=True)
class Obligation:
    """Obligation: one named verification condition and what the solver said.

    ``status`` is ``"PASS"`` when the condition is valid (its negation is unsatisfiable)
    and ``"FAIL"`` otherwise; on ``FAIL``, ``counterexample`` is the solver's model as a
    concrete trace and ``broken`` names the conjuncts of the invariant it breaks.
    """

    name: str
    status: Status
    seconds: float
    counterexample: Trace | None = None
    broken: tuple[str, ...] = ()

    def render(self) -> str:
        head = f"{self.name:<32} {self.status}  ({self.seconds * 1000:.1f} ms)"
        if self.status == "PASS" or self.counterexample is None:
            return head
        lines = [head]
        if self.broken:
            lines.append("  breaks: " + "; ".join(self.broken))
        lines.extend("  " + row for row in self.counterexample.render().splitlines())
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": self.seconds,
            "broken": list(self.broken),
            "counterexample": None
            if self.counterexample is None
            else self.counterexample.to_json(),
        }


@dataclass(frozen=True)
class BmcResult:
    """BmcResult: a bounded model check from depth 0 up to ``max_depth``.

    ``trace`` is the first (hence shortest) counterexample found, or ``None`` if every
    depth up to ``max_depth`` is clean; ``depth`` is the deepest depth searched.
    """

    property_name: str
    max_depth: int
    depth: int
    seconds: float
    trace: Trace | None = None

    @property
    def violated(self) -> bool:
        return self.trace is not None

    def render(self) -> str:
        if self.trace is None:
            return (
                f"BMC {self.property_name}: no violation up to depth {self.depth} "
                f"({self.seconds * 1000:.1f} ms)"
            )
        lines = [
            f"BMC {self.property_name}: VIOLATED at depth {self.trace.length} "
            f"(shortest; {self.seconds * 1000:.1f} ms)"
        ]
        lines.extend("  " + row for row in self.trace.render().splitlines())
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "property": self.property_name,
            "max_depth": self.max_depth,
            "depth": self.depth,
            "seconds": self.seconds,
            "violated": self.violated,
            "trace": None if self.trace is None else self.trace.to_json(),
        }


@dataclass(frozen=True)
class Reachability:
    """Reachability: a sanity query "some reachable state satisfies ``name``".

    ``witness`` is the shortest trace reaching such a state, found by the same unrolling
    as the bounded model check, or ``None`` if none exists up to ``max_depth``.
    """

    name: str
    reachable: bool
    max_depth: int
    seconds: float
    witness: Trace | None = None

    def render(self) -> str:
        found = (
            f"reachable in {self.witness.length} step(s)"
            if self.witness is not None
            else f"NOT reachable up to depth {self.max_depth}"
        )
        return f"sanity: {self.name:<28} {found}  ({self.seconds * 1000:.1f} ms)"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "reachable": self.reachable,
            "max_depth": self.max_depth,
            "seconds": self.seconds,
            "witness": None if self.witness is None else self.witness.to_json(),
        }


@dataclass(frozen=True)
class Outline:
    """Outline: what a proof assumes and what its invariant says, printed before results."""

    assumptions: list[str] = field(default_factory=list)
    invariant: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = ["assumes:"]
        lines.extend(f"  {a}" for a in self.assumptions)
        lines.append("inductive invariant Inv (conjuncts):")
        lines.extend(f"  {c}" for c in self.invariant)
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {"assumptions": list(self.assumptions), "invariant": list(self.invariant)}
