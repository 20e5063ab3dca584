"""proofs.bitvec: the bit-vector state encoding the bounded machines share.

``proofs.fleet_vault`` and ``proofs.bundle_i4_i7`` encode a concrete model state as one
Z3 term per trace column: a signed bit-vector of the module's width for an integer
column, a Boolean for a Boolean one. Bit-vectors let Z3 decide an unrolling by
bit-blasting to SAT, much faster than integer arithmetic. This module holds the pieces
that do not depend on which model is encoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import z3

from proofs.report import State

#: Z3 terms are ``Any`` to mypy (z3 ships no types); they never leave the proofs.
IntTerm: TypeAlias = Any
BoolTerm: TypeAlias = Any
Term: TypeAlias = Any

#: A symbolic state: column name -> Z3 term, in the columns' order.
SymState = dict[str, Term]

#: A trace column: its name and whether it holds an integer or a Boolean.
Column = tuple[str, Literal["int", "bool"]]


def num(v: int, width: int) -> IntTerm:
    """num: the ``width``-bit constant ``v``."""
    return z3.BitVecVal(v, width)


def fresh_state(prefix: str, columns: Sequence[Column], width: int) -> SymState:
    """fresh_state: Z3 constants ``<prefix>.<column>`` for every column."""
    return {
        name: z3.BitVec(f"{prefix}.{name}", width) if kind == "int" else z3.Bool(f"{prefix}.{name}")
        for name, kind in columns
    }


def constant_state(values: State, width: int) -> SymState:
    """constant_state: the Z3 values of a concrete state."""
    return {
        name: z3.BoolVal(v) if isinstance(v, bool) else num(v, width) for name, v in values.items()
    }


def model_state(sym: SymState, model: z3.ModelRef) -> State:
    """model_state: the concrete state a Z3 model assigns to ``sym``."""
    out: State = {}
    for name, term in sym.items():
        got = model.eval(term, model_completion=True)
        out[name] = bool(z3.is_true(got)) if z3.is_bool(term) else int(got.as_signed_long())
    return out


@dataclass(frozen=True)
class Effect:
    """Effect: an action's guard and the columns it changes (the others stay put)."""

    guard: BoolTerm
    updates: dict[str, Term]
