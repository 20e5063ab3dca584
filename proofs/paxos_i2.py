"""proofs.paxos_i2: invariant I2 ``quorum-safety`` for one log slot, checked with Z3.

What is encoded
    Twice the same protocol, :mod:`model.consensus` (single-decree Paxos with crashes,
    restarts and the operator's disk actions; its docstring says why one slot suffices
    for Multi-Paxos). In the safe fleet every rollback or edit of a store is detected and
    the replica goes through ``amnesia``, unbounded in number: its votes are forgotten,
    its promise (HSM-held) stays, and if it had voted in the slot it is mute in it for
    ever. The variants ``rollback-undetected``/``rollback-beyond-budget`` replace it by an
    undetected ``rollback``; ``unauthenticated-ballots`` adds undetected ``edit_vote``,
    ``edit_promise`` and ``delete_vote``:

    1. **Parametric**, in the style of *Paxos Made EPR* (Padon, Losa, Sagiv, Shoham,
       OOPSLA 2017) and Ivy: uninterpreted sorts ``node``, ``quorum``, ``round``,
       ``value``; ``member(node, quorum)`` with the *quorum intersection* axiom; ``le`` a
       total order on rounds given by axioms (no integers); the network and each node's
       durable state as relations; each action a transition relation over primed copies.
       A PASS holds for *every* number of replicas, rounds and values, and for every
       quorum system whose quorums pairwise intersect.
    2. **Finite**: the model's configuration with ``n`` replicas, quorums of ``q``,
       ballots ``1..B`` and a few values, one Boolean (or small integer) per variable per
       step, for bounded model checking: the shortest run that chooses two values.

What is checked
    Agreement (at most one value is chosen) through an inductive invariant ``Inv`` with
    named conjuncts, as Apalache's obligations ``IndInit``, ``IndNext[action]`` and
    ``IndProp``, each in its own ``push``/``pop`` frame with a timeout. Every verification
    condition is first run through a decidable-fragment check (:func:`check_fragment`): no
    function symbols, no arithmetic, an acyclic quantifier-alternation graph. Then a BMC at
    depth 0, 1, 2, … on the finite instance (the first hit is a shortest trace) and
    sanity queries (a value can be chosen at all; where ``amnesia`` is an action, a
    replica that voted for the chosen value forgets it and becomes mute, so the proof is
    not vacuous about the disk adversary).

The disk adversary in ``Inv``
    ``amnesia`` is the one action that breaks "a node's stored votes are the 2b messages
    it sent"; ``Inv`` keeps one direction, *a stored vote was cast*, and weakens the other
    to *a node that is not mute remembers its votes*. Every 1b is sent by a node that is
    not mute (the guard of ``join_round``), so the 1b conjuncts still report truthfully,
    and the promise (``left_rnd``) is untouched by ``amnesia``, so the choosable conjunct
    is too.

What it does not prove
    Liveness; the slot-to-log reduction (argued in :mod:`model.consensus`, not
    mechanised; in particular the Multi-Paxos form of the mute rule, a rejoining replica
    learning every slot below its vote ceiling before it promises again); the detection
    itself (that every rollback or edit of the store is refused at boot is the store's
    design, HMAC and NVRAM, not modelled here); undetected rollback *within* a non-zero
    budget in the parametric model (the budget's arithmetic is :mod:`proofs.quorum`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Final, Literal, TypeAlias

import z3

from model.consensus import (
    CONSENSUS_VARIANTS,
    I2_NAME,
    UNAUTHENTICATED,
    UNDETECTED_ROLLBACK,
    Action,
    ConsensusConfig,
    UnknownVariant,
)
from proofs.report import BmcResult, Obligation, Outline, Reachability, State, Trace

#: The name every report uses for the property.
PROPERTY_NAME: Final = f"I2 {I2_NAME}"
INVARIANT_NAME: Final = "Inv"

#: Z3 terms and formulas are ``Any`` to mypy; they never leave this module.
Expr: TypeAlias = Any

#: Per-obligation solver timeout (milliseconds).
TIMEOUT_MS: Final = 30_000


# =======================================================================================
# Part 1. The decidable-fragment check
#
# A verification condition (VC) is decidable for Z3 when it is in EPR extended with
# stratified quantifier alternation: after pushing negation inward and Skolemising, every
# Skolem function maps sorts along an acyclic graph, so the Herbrand universe is finite.

_EXCERPT = 90


def _excerpt(e: Expr) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


@dataclass(frozen=True)
class Edge:
    """An edge ``source -> target`` of the alternation graph and the quantifier behind it."""

    source: str
    target: str
    where: str


@dataclass(frozen=True)
class FragmentReport:
    """FragmentReport: the alternation graph of one VC and whether it is decidable."""

    name: str
    edges: tuple[Edge, ...]
    cycle: tuple[str, ...] | None
    offending: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when the VC is in EPR with stratified (acyclic) alternations."""
        return self.cycle is None and not self.offending

    @property
    def graph(self) -> tuple[tuple[str, str], ...]:
        """The distinct edges ``(S, T)``, sorted."""
        return tuple(sorted({(e.source, e.target) for e in self.edges}))

    def render(self) -> str:
        arrows = ", ".join(f"{s}->{t}" for s, t in self.graph) or "none"
        if self.ok:
            return f"{self.name:<28} EPR, acyclic ({arrows})"
        lines = [f"{self.name:<28} NOT in the decidable fragment"]
        if self.cycle is not None:
            lines.append("  cycle: " + " -> ".join(self.cycle))
            for source, target in zip(self.cycle, self.cycle[1:], strict=False):
                where = next(
                    e.where for e in self.edges if (e.source, e.target) == (source, target)
                )
                lines.append(f"    {source} -> {target} from {where}")
        lines.extend(f"  offending: {t}" for t in self.offending)
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "ok": self.ok,
            "edges": [list(edge) for edge in self.graph],
            "cycle": None if self.cycle is None else list(self.cycle),
            "offending": list(self.offending),
        }


_ARITH_SORTS: Final = (z3.Z3_INT_SORT, z3.Z3_REAL_SORT)
_LOGICAL_ATOMS: Final = (
    z3.Z3_OP_UNINTERPRETED,
    z3.Z3_OP_EQ,
    z3.Z3_OP_DISTINCT,
    z3.Z3_OP_TRUE,
    z3.Z3_OP_FALSE,
)


def check_fragment(name: str, formula: Expr) -> FragmentReport:
    """check_fragment: the quantifier-alternation graph of ``formula`` and its verdict.

    ``formula`` is a VC as asserted (its unsatisfiability is the obligation), read with
    positive polarity at the top, where free constants are existential (Skolem constants).
    Polarity flips under ``Not`` and on the left of ``Implies``; both sides of ``==`` on
    formulas (and the condition of a Boolean ``If``) count with both polarities. An
    effective ``∃ y:T`` in the scope of effective ``∀ x:S`` adds the edge ``S -> T``.
    Offending: an uninterpreted function symbol of arity > 0 with a non-Boolean result,
    any integer or real term, any other interpreted symbol, lambdas.
    """
    edges: list[Edge] = []
    offending: dict[str, None] = {}
    seen: set[int] = set()

    def term(e: Expr) -> None:
        if e.get_id() in seen:
            return
        seen.add(e.get_id())
        if z3.is_var(e):
            return
        if e.sort().kind() in _ARITH_SORTS or z3.is_arith(e):
            offending[f"arithmetic: {_excerpt(e)}"] = None
            return
        if z3.is_app(e):
            decl = e.decl()
            if decl.kind() == z3.Z3_OP_UNINTERPRETED and decl.arity() > 0 and not z3.is_bool(e):
                offending[f"function symbol {decl.name()}: {_excerpt(e)}"] = None
            for child in e.children():
                term(child)

    def walk(e: Expr, polarity: int, universals: tuple[str, ...]) -> None:
        if z3.is_quantifier(e):
            if e.is_lambda():
                offending[f"lambda: {_excerpt(e)}"] = None
                return
            sorts = tuple(e.var_sort(i).name() for i in range(e.num_vars()))
            forall = e.is_forall()
            universal = polarity == 0 or (polarity > 0) == forall
            existential = polarity == 0 or (polarity > 0) != forall
            if existential:
                edges.extend(Edge(s, t, _excerpt(e)) for s in universals for t in sorts)
            walk(e.body(), polarity, universals + sorts if universal else universals)
        elif z3.is_not(e):
            walk(e.arg(0), -polarity, universals)
        elif z3.is_and(e) or z3.is_or(e):
            for child in e.children():
                walk(child, polarity, universals)
        elif z3.is_implies(e):
            walk(e.arg(0), -polarity, universals)
            walk(e.arg(1), polarity, universals)
        elif ((z3.is_eq(e) or z3.is_distinct(e)) and z3.is_bool(e.arg(0))) or z3.is_app_of(
            e, z3.Z3_OP_XOR
        ):
            for child in e.children():
                walk(child, 0, universals)
        elif z3.is_app_of(e, z3.Z3_OP_ITE) and z3.is_bool(e):
            walk(e.arg(0), 0, universals)
            walk(e.arg(1), polarity, universals)
            walk(e.arg(2), polarity, universals)
        elif z3.is_app(e):
            if e.decl().kind() not in _LOGICAL_ATOMS:
                offending[f"interpreted symbol {e.decl().name()}: {_excerpt(e)}"] = None
            for child in e.children():
                term(child)

    walk(formula, 1, ())
    return FragmentReport(name, tuple(edges), _find_cycle(edges), tuple(offending))


def _find_cycle(edges: Sequence[Edge]) -> tuple[str, ...] | None:
    """One cycle ``(s0, s1, …, s0)`` of the sort graph, or ``None`` if it is acyclic."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
    colour: dict[str, int] = {}  # 1 on the stack, 2 finished
    stack: list[str] = []

    def visit(node: str) -> tuple[str, ...] | None:
        colour[node] = 1
        stack.append(node)
        for succ in sorted(graph.get(node, ())):
            if colour.get(succ) == 1:
                return (*stack[stack.index(succ) :], succ)
            if succ not in colour and (found := visit(succ)) is not None:
                return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if node not in colour and (found := visit(node)) is not None:
            return found
    return None


# =======================================================================================
# Part 2. The parametric model (Paxos Made EPR)

Node = z3.DeclareSort("node")
Quorum = z3.DeclareSort("quorum")
Round = z3.DeclareSort("round")
Value = z3.DeclareSort("value")
B = z3.BoolSort()

#: member(N, Q): node N belongs to quorum Q (rigid: the configuration does not change).
member = z3.Function("member", Node, Quorum, B)
#: le(R1, R2): round R1 is at most R2; a total order, by axioms (no integers).
le = z3.Function("le", Round, Round, B)
#: none: the round that stands for "no vote" in a 1b message.
none = z3.Const("none", Round)

#: The state relations: name -> argument sorts. The primed copy of each is ``name'``.
RELATIONS: Final[dict[str, tuple[Any, ...]]] = {
    "one_a": (Round,),  # 1a sent for round R
    "one_b_max_vote": (Node, Round, Round, Value),  # 1b: N joined R, highest vote (RMAX, V)
    "one_b": (Node, Round),  # N sent some 1b for R (ghost, from the messages)
    "left_rnd": (Node, Round),  # N's durable promise: it will not join or vote in R
    "voted": (Node, Round, Value),  # N's durable memory of its own votes
    "proposal": (Round, Value),  # 2a: the leader of R proposed V
    "vote": (Node, Round, Value),  # 2b: N voted V in R (the message, never lost)
    "up": (Node,),  # N is running
    "mute": (Node,),  # N voted, then forgot its votes (amnesia): no 1b, no 2b any more
}

# Bound variables, Ivy-style capitals.
N, N1, N2 = z3.Consts("N N1 N2", Node)
Q, Q1, Q2 = z3.Consts("Q Q1 Q2", Quorum)
R, R1, R2, R3, RMAX = z3.Consts("R R1 R2 R3 RMAX", Round)
V, V1, V2 = z3.Consts("V V1 V2", Value)


class Vocabulary:
    """Vocabulary: the state relations at one time (``""`` for pre, ``"'"`` for post).

    ``rel[name]`` is a callable on terms: a Z3 function, or, in the post-state view that
    the solver sees, the action's definition of the new relation (macro expansion).
    """

    def __init__(self, prime: str = "", rel: dict[str, Callable[..., Expr]] | None = None) -> None:
        self.rel: dict[str, Callable[..., Expr]] = (
            rel
            if rel is not None
            else {name: z3.Function(name + prime, *sorts, B) for name, sorts in RELATIONS.items()}
        )

    def __getattr__(self, name: str) -> Callable[..., Expr]:
        try:
            return self.__dict__["rel"][name]  # type: ignore[no-any-return]
        except KeyError as missing:
            raise AttributeError(name) from missing


PRE: Final = Vocabulary()
POST: Final = Vocabulary("'")

_VARS: Final[dict[Any, tuple[Any, ...]]] = {
    Node: (N, N1),
    Round: (R, R1, R2, R3),
    Value: (V, V1, V2),
    Quorum: (Q,),
}


def _args(name: str) -> tuple[Any, ...]:
    """Distinct bound variables for the arguments of relation ``name``."""
    used: dict[Any, int] = {}
    out = []
    for sort in RELATIONS[name]:
        index = used.get(sort, 0)
        used[sort] = index + 1
        out.append(_VARS[sort][index])
    return tuple(out)


# [axioms-start]
ORDER_AXIOMS: Final = (
    ("le reflexive", z3.ForAll([R], le(R, R))),
    (
        "le transitive",
        z3.ForAll([R1, R2, R3], z3.Implies(z3.And(le(R1, R2), le(R2, R3)), le(R1, R3))),
    ),
    ("le antisymmetric", z3.ForAll([R1, R2], z3.Implies(z3.And(le(R1, R2), le(R2, R1)), R1 == R2))),
    ("le total", z3.ForAll([R1, R2], z3.Or(le(R1, R2), le(R2, R1)))),
)
#: Any two quorums share a node. Dropped by ``minority-quorum``.
QUORUM_INTERSECTION: Final = (
    "quorum intersection",
    z3.ForAll([Q1, Q2], z3.Exists([N], z3.And(member(N, Q1), member(N, Q2)))),
)
# [axioms-end]


def axioms(variant: str | None) -> list[tuple[str, Expr]]:
    """The axioms assumed by the proof of ``variant``."""
    out = list(ORDER_AXIOMS)
    if variant != "minority-quorum":
        out.append(QUORUM_INTERSECTION)
    return out


def lt(a: Expr, b: Expr) -> Expr:
    """a < b, as ``¬le(b, a)`` (the order is total)."""
    return z3.Not(le(b, a))


def init(s: Vocabulary) -> Expr:
    """Init: no messages, no promises, no votes; every node up."""
    return z3.And(
        *(
            z3.ForAll(list(_args(name)), z3.Not(s.rel[name](*_args(name))))
            for name in RELATIONS
            if name != "up"
        ),
        z3.ForAll([N], s.up(N)),
    )


@dataclass(frozen=True)
class Step:
    """Step: one action as a guard over the pre-state and the new value of each relation it
    changes (a function of the pre-state), plus ``extra`` constraints on primed relations
    it changes non-deterministically (``havoc``). Relations in neither keep their value.
    """

    guard: tuple[Expr, ...]
    updates: dict[str, Callable[..., Expr]] = field(default_factory=dict)
    havoc: frozenset[str] = frozenset()
    extra: tuple[Expr, ...] = ()

    def relation(self) -> Expr:
        """The transition relation over primed relations: ``guard ∧ ∀X. rel'(X) ↔ …``."""
        parts = list(self.guard) + list(self.extra)
        for name in RELATIONS:
            if name in self.havoc:
                continue
            args = _args(name)
            new = self.updates.get(name, PRE.rel[name])
            parts.append(z3.ForAll(list(args), POST.rel[name](*args) == new(*args)))
        return z3.And(*parts)

    def post(self) -> Vocabulary:
        """The post-state as seen by the solver: each updated relation replaced by its
        definition over the pre-state, havocked ones by their primed symbol."""
        rel: dict[str, Callable[..., Expr]] = {}
        for name in RELATIONS:
            if name in self.havoc:
                rel[name] = POST.rel[name]
            else:
                rel[name] = self.updates.get(name, PRE.rel[name])
        return Vocabulary(rel=rel)


def _add(name: str, extra: Callable[..., Expr]) -> Callable[..., Expr]:
    """``name ∪ {X | extra(X)}``."""
    return lambda *x: z3.Or(PRE.rel[name](*x), extra(*x))


# Action parameters: free constants (existential at the top of a VC: Skolem constants).
n = z3.Const("n", Node)
r = z3.Const("r", Round)
q = z3.Const("q", Quorum)
v = z3.Const("v", Value)
maxr = z3.Const("maxr", Round)
rto = z3.Const("rto", Round)


# [actions-start]
def send_1a() -> Step:
    """send_1a(r): broadcast a 1a for round r."""
    return Step((r != none,), {"one_a": _add("one_a", lambda x: x == r)})


def join_round() -> Step:
    """join_round(n, r): n, up and not mute, answers the 1a of r it has not left; reports
    its highest vote below r (maxr = none if it has none) and leaves every round below r."""
    s = PRE
    no_vote_below = z3.ForAll([R, V], z3.Not(z3.And(lt(R, r), s.voted(n, R, V))))
    highest = z3.And(
        maxr != none,
        lt(maxr, r),
        s.voted(n, maxr, v),
        z3.ForAll([R, V], z3.Implies(z3.And(lt(R, r), s.voted(n, R, V)), le(R, maxr))),
    )
    return Step(
        (
            r != none,
            s.up(n),
            z3.Not(s.mute(n)),
            s.one_a(r),
            z3.Not(s.left_rnd(n, r)),
            z3.Or(z3.And(maxr == none, no_vote_below), highest),
        ),
        {
            "one_b_max_vote": _add(
                "one_b_max_vote", lambda a, b, c, d: z3.And(a == n, b == r, c == maxr, d == v)
            ),
            "one_b": _add("one_b", lambda a, b: z3.And(a == n, b == r)),
            "left_rnd": _add("left_rnd", lambda a, b: z3.And(a == n, lt(b, r))),
        },
    )


def propose() -> Step:
    """propose(r, q): the leader of r, holding 1b messages from every member of quorum q,
    proposes v: the value of the highest vote below r among q's members, or any value if
    they have none. It reads the votes (2b) rather than the 1b contents, as Padon et al.
    do to stay in EPR: the 1b conjuncts of Inv say the two agree, since a member that
    joined r has left every round below it."""
    s = PRE
    below = z3.And(member(N, q), lt(R, r), s.vote(N, R, V))
    return Step(
        (
            r != none,
            z3.ForAll([V], z3.Not(s.proposal(r, V))),
            z3.ForAll([N], z3.Implies(member(N, q), s.one_b(N, r))),
            z3.Or(
                z3.And(maxr == none, z3.ForAll([N, R, V], z3.Not(below))),
                z3.And(
                    maxr != none,
                    z3.Exists([N], z3.And(member(N, q), lt(maxr, r), s.vote(N, maxr, v))),
                    z3.ForAll([N, R, V], z3.Implies(below, le(R, maxr))),
                ),
            ),
        ),
        {"proposal": _add("proposal", lambda a, b: z3.And(a == r, b == v))},
    )


def cast_vote() -> Step:
    """cast_vote(n, r, v): n, up, not mute and not past r, votes for the proposal of r; it persists
    the vote and leaves every round below r (accepting r promises not to go below it)."""
    s = PRE

    def here(a: Expr, b: Expr, c: Expr) -> Expr:
        return z3.And(a == n, b == r, c == v)

    return Step(
        (r != none, s.up(n), z3.Not(s.mute(n)), z3.Not(s.left_rnd(n, r)), s.proposal(r, v)),
        {
            "vote": _add("vote", here),
            "voted": _add("voted", here),
            "left_rnd": _add("left_rnd", lambda a, b: z3.And(a == n, lt(b, r))),
        },
    )


def crash() -> Step:
    """crash(n): n stops; its durable state survives."""
    return Step((PRE.up(n),), {"up": lambda a: z3.And(PRE.up(a), a != n)})


def restart(variant: str | None) -> Step:
    """restart(n): n comes back with its durable state. Under ``forget-promise-on-restart``
    it forgets its promise: ``left_rnd(n, ·)`` is cleared (its votes are kept)."""
    updates: dict[str, Callable[..., Expr]] = {"up": lambda a: z3.Or(PRE.up(a), a == n)}
    if variant == "forget-promise-on-restart":
        updates["left_rnd"] = lambda a, b: z3.And(PRE.left_rnd(a, b), a != n)
    return Step((z3.Not(PRE.up(n)),), updates)


def amnesia(mute_rule: bool = True) -> Step:
    """amnesia(n): n's store was rolled back or edited, n detected it at boot and rejoins.
    Its votes are forgotten (``voted(n, ·, ·)`` cleared); its promise stays (HSM-held:
    ``left_rnd`` unchanged); if it ever voted in the slot (HSM: its vote ceiling, i.e. it
    sent a 2b) it becomes mute. Enabled at any time (no budget). Without ``mute_rule``
    (the test that shows the rule is necessary) it only forgets."""
    updates: dict[str, Callable[..., Expr]] = {
        "voted": lambda a, b, c: z3.And(PRE.voted(a, b, c), a != n)
    }
    if mute_rule:
        updates["mute"] = lambda a: z3.Or(
            PRE.mute(a), z3.And(a == n, z3.Exists([R, V], PRE.vote(n, R, V)))
        )
    return Step((), updates)


def rollback() -> Step:
    """rollback(n) (``rollback-undetected``, ``rollback-beyond-budget``): n's disk is
    replaced by an earlier image, undetected (no budget in this model).

    Durable state only grows (promises rise, votes accumulate), so every earlier image is
    below the current one: the action may drop any of n's promises and remembered votes.
    The messages n sent stay in the network.
    """

    def shrink(name: str) -> Expr:
        args = _args(name)
        post, pre = POST.rel[name](*args), PRE.rel[name](*args)
        return z3.ForAll(
            list(args), z3.And(z3.Implies(post, pre), z3.Implies(args[0] != n, post == pre))
        )

    return Step(
        (), havoc=frozenset({"left_rnd", "voted"}), extra=(shrink("left_rnd"), shrink("voted"))
    )


def edit_promise() -> Step:
    """edit_promise(n) (``unauthenticated-ballots``): n's stored promise is set to any
    ballot, undetected: ``left_rnd(n, ·)`` becomes any down-closed set of rounds (the
    rounds below the new promise); the other nodes' promises are unchanged."""
    post, pre = POST.left_rnd, PRE.left_rnd
    others = z3.ForAll([N, R], z3.Implies(n != N, post(N, R) == pre(N, R)))
    down = z3.ForAll([R1, R2], z3.Implies(z3.And(le(R1, R2), post(n, R2)), post(n, R1)))
    return Step((), havoc=frozenset({"left_rnd"}), extra=(others, down))


def edit_vote() -> Step:
    """edit_vote(n, r, v, rto) (``unauthenticated-ballots``): n's stored vote for v in r is
    moved to round rto, undetected (the value is sealed, the ballot is not)."""

    def moved(a: Expr, b: Expr, c: Expr) -> Expr:
        kept = z3.And(PRE.voted(a, b, c), z3.Not(z3.And(a == n, b == r, c == v)))
        return z3.Or(kept, z3.And(a == n, b == rto, c == v))

    return Step((rto != none, PRE.voted(n, r, v)), {"voted": moved})


def delete_vote() -> Step:
    """delete_vote(n, r, v) (``unauthenticated-ballots``): n's stored vote row for v in r
    is deleted, undetected."""
    return Step(
        (PRE.voted(n, r, v),),
        {
            "voted": lambda a, b, c: z3.And(
                PRE.voted(a, b, c), z3.Not(z3.And(a == n, b == r, c == v))
            )
        },
    )


# [actions-end]


def actions(variant: str | None, mute_rule: bool = True) -> dict[str, Step]:
    """The actions of ``variant``, by name: the protocol's, crash and restart, and the
    disk actions (``amnesia`` where tampering is detected, ``rollback`` where it is not,
    the three edits under ``unauthenticated-ballots``)."""
    out = {
        "send_1a": send_1a(),
        "join_round": join_round(),
        "propose": propose(),
        "cast_vote": cast_vote(),
        "crash": crash(),
        "restart": restart(variant),
    }
    if variant in UNDETECTED_ROLLBACK:
        out["rollback"] = rollback()
    else:
        out["amnesia"] = amnesia(mute_rule)
    if variant == UNAUTHENTICATED:
        out["edit_promise"] = edit_promise()
        out["edit_vote"] = edit_vote()
        out["delete_vote"] = delete_vote()
    return out


# [invariant-start]
#: The conjuncts of Inv, named. Free variables are universally quantified.
INVARIANT: Final[tuple[tuple[str, Callable[[Vocabulary], Expr]], ...]] = (
    (
        "one proposal per round",
        lambda s: z3.ForAll(
            [R, V1, V2], z3.Implies(z3.And(s.proposal(R, V1), s.proposal(R, V2)), V1 == V2)
        ),
    ),
    (
        "votes are for proposals",
        lambda s: z3.ForAll([N, R, V], z3.Implies(s.vote(N, R, V), s.proposal(R, V))),
    ),
    (
        "a stored vote was cast",
        lambda s: z3.ForAll([N, R, V], z3.Implies(s.voted(N, R, V), s.vote(N, R, V))),
    ),
    (
        "a node that is not mute remembers its votes",
        lambda s: z3.ForAll(
            [N, R, V], z3.Implies(z3.And(z3.Not(s.mute(N)), s.vote(N, R, V)), s.voted(N, R, V))
        ),
    ),
    ("no vote in round none", lambda s: z3.ForAll([N, V], z3.Not(s.vote(N, none, V)))),
    (
        "a 1b's vote was cast below its round",
        lambda s: z3.ForAll(
            [N, R, RMAX, V],
            z3.Implies(
                z3.And(s.one_b_max_vote(N, R, RMAX, V), none != RMAX),
                z3.And(lt(RMAX, R), s.vote(N, RMAX, V)),
            ),
        ),
    ),
    (
        "a 1b without vote: none below",
        lambda s: z3.ForAll(
            [N, R1, R2, V1, V2],
            z3.Implies(
                z3.And(s.one_b_max_vote(N, R2, none, V1), lt(R1, R2)),
                z3.Not(s.vote(N, R1, V2)),
            ),
        ),
    ),
    (
        "a 1b's vote is the highest below",
        lambda s: z3.ForAll(
            [N, R, RMAX, R1, V, V1],
            z3.Implies(
                z3.And(s.one_b_max_vote(N, R, RMAX, V), none != RMAX, lt(R1, R), lt(RMAX, R1)),
                z3.Not(s.vote(N, R1, V1)),
            ),
        ),
    ),
    (
        "1b messages are recorded",
        lambda s: z3.ForAll(
            [N, R, RMAX, V], z3.Implies(s.one_b_max_vote(N, R, RMAX, V), s.one_b(N, R))
        ),
    ),
    (
        "a promise is kept",
        lambda s: z3.ForAll(
            [N, R1, R2], z3.Implies(z3.And(s.one_b(N, R2), lt(R1, R2)), s.left_rnd(N, R1))
        ),
    ),
    (
        "only the proposal can be chosen below a later proposal",
        lambda s: z3.ForAll(
            [R1, V1, R2, V2, Q],
            z3.Implies(
                z3.And(lt(R1, R2), s.proposal(R2, V2), V1 != V2),
                z3.Exists([N], z3.And(member(N, Q), s.left_rnd(N, R1), z3.Not(s.vote(N, R1, V1)))),
            ),
        ),
    ),
)
# [invariant-end]


def invariant(s: Vocabulary) -> Expr:
    """Inv: the conjunction of ``INVARIANT``."""
    return z3.And(*(conjunct(s) for _, conjunct in INVARIANT))


def chosen_twice(s: Vocabulary) -> Expr:
    """¬P: two different values, each voted by every member of some quorum in some round.

    Chosen = 2b messages from a quorum at one round, as in :func:`model.consensus.chosen`.
    """
    r1, r2 = z3.Consts("r1 r2", Round)
    v1, v2 = z3.Consts("v1 v2", Value)
    q1, q2 = z3.Consts("q1 q2", Quorum)
    return z3.And(
        v1 != v2,
        z3.ForAll([N], z3.Implies(member(N, q1), s.vote(N, r1, v1))),
        z3.ForAll([N], z3.Implies(member(N, q2), s.vote(N, r2, v2))),
    )


def _vcs(variant: str | None, mute_rule: bool = True) -> list[tuple[str, Expr, Vocabulary]]:
    ax = [formula for _, formula in axioms(variant)]
    vcs = [("IndInit", z3.And(*ax, init(PRE), z3.Not(invariant(PRE))), PRE)]
    for name, step in actions(variant, mute_rule).items():
        post = step.post()
        vc = z3.And(*ax, invariant(PRE), *step.guard, *step.extra, z3.Not(invariant(post)))
        vcs.append((f"IndNext[{name}]", vc, post))
    vcs.append(("IndProp", z3.And(*ax, invariant(PRE), chosen_twice(PRE)), PRE))
    return vcs


def verification_conditions(variant: str | None, mute_rule: bool = True) -> list[tuple[str, Expr]]:
    """The VCs of ``variant`` by obligation name: each is *unsatisfiable* iff it holds.

    ``IndNext[a]`` is ``Inv ∧ guard_a ∧ ¬Inv′`` with each relation the action defines
    replaced in ``Inv′`` by its definition (the macro expansion of ``Step.relation``'s
    ``∀X. rel′(X) ↔ …``; only havocked relations stay primed). The axioms are part of every
    VC, so the fragment check sees them too.
    """
    return [(name, vc) for name, vc, _ in _vcs(variant, mute_rule)]


#: The largest number of tuples a counterexample summary evaluates per relation.
_SUMMARY_TUPLES: Final = 4096


def _summary(model: z3.ModelRef, s: Vocabulary) -> State:
    """A counterexample state in brief: the size of each sort and of each relation."""
    universes: dict[Any, list[Any]] = {}
    for sort in (Node, Quorum, Round, Value):
        found = model.get_universe(sort)
        universes[sort] = [z3.FreshConst(sort)] if found is None else list(found)
    out: State = {f"|{sort.name()}|": len(universes[sort]) for sort in (Node, Quorum, Round, Value)}
    for name, sorts in RELATIONS.items():
        pools: list[list[Any]] = [[]]
        for sort in sorts:
            pools = [[*acc, x] for acc in pools for x in universes[sort]]
            if len(pools) > _SUMMARY_TUPLES:
                break
        if len(pools) > _SUMMARY_TUPLES or len(pools[0]) != len(sorts):
            continue
        out[f"|{name}|"] = sum(
            1 for args in pools if z3.is_true(model.eval(s.rel[name](*args), model_completion=True))
        )
    return out


def _breakable(solver: z3.Solver, conjunct: Expr) -> bool:
    solver.push()
    solver.add(z3.Not(conjunct))
    answer = solver.check()
    solver.pop()
    return bool(answer == z3.sat)


def prove_inductive(
    variant: str | None, mute_rule: bool = True
) -> tuple[list[Obligation], list[FragmentReport]]:
    """prove_inductive: ``IndInit``, ``IndNext[a]`` per action, ``IndProp`` of ``variant``,
    each in its own ``push``/``pop`` frame with a timeout (``TIMEOUT_MS``), and the fragment
    check of every VC. ``mute_rule=False`` drops the rejoin rule's mute (a test's model)."""
    solver = z3.Solver()
    solver.set("timeout", TIMEOUT_MS)
    obligations: list[Obligation] = []
    fragments: list[FragmentReport] = []
    for name, vc, post in _vcs(variant, mute_rule):
        fragments.append(check_fragment(name, vc))
        started = time.perf_counter()
        solver.push()
        solver.add(vc)
        answer = solver.check()
        model = solver.model() if answer == z3.sat else None
        seconds = time.perf_counter() - started
        if answer == z3.unsat:
            solver.pop()
            obligations.append(Obligation(name, "PASS", seconds))
            continue
        if model is None:
            solver.pop()
            obligations.append(Obligation(name, "FAIL", seconds, broken=(f"z3: {answer}",)))
            continue
        if name.startswith("IndNext"):
            # The conjuncts the action does not preserve: those whose negation after the
            # step is satisfiable together with Inv and the step.
            broken = tuple(
                label for label, conjunct in INVARIANT if _breakable(solver, conjunct(post))
            )
            trace = Trace(
                [_summary(model, PRE), _summary(model, post)],
                [name[len("IndNext[") : -1]],
                INVARIANT_NAME,
                note="sizes in a finite model; the first state satisfies Inv, "
                "it need not be reachable",
            )
        else:
            broken = ()
            violated = INVARIANT_NAME if name == "IndInit" else PROPERTY_NAME
            trace = Trace([_summary(model, PRE)], [], violated, note="sizes in a finite model")
        solver.pop()
        obligations.append(Obligation(name, "FAIL", seconds, trace, broken))
    return obligations, fragments


# =======================================================================================
# Part 3. The finite instance (model.consensus, one Boolean per fact), for BMC


@dataclass(frozen=True)
class Instance:
    """Instance: the finite configuration the BMC unrolls: ``n`` replicas, quorums of
    ``q``, ballots ``1..ballots``, ``values`` and the variant (``None``: the safe fleet).

    ``values`` must be sorted (the model breaks ties between votes by value order);
    ``mute_rule=False`` drops the rejoin rule's mute (only to show it is necessary).
    """

    n: int
    q: int
    ballots: int
    values: tuple[str, ...] = ("a", "b")
    variant: str | None = None
    mute_rule: bool = True

    @staticmethod
    def of(
        config: ConsensusConfig, ballots: int = 3, values: tuple[str, ...] = ("a", "b")
    ) -> Instance:
        return Instance(
            config.n, config.q, ballots, tuple(sorted(values)), config.variant, config.mute_rule
        )

    @property
    def config(self) -> ConsensusConfig:
        return ConsensusConfig(self.n, self.q, self.variant, self.mute_rule)

    @property
    def forget(self) -> bool:
        return self.variant == "forget-promise-on-restart"

    @property
    def amnesia(self) -> bool:
        """Whether tampering is detected (``amnesia`` is an action)."""
        return self.config.detects_tampering

    @property
    def edits(self) -> bool:
        """Whether the undetected edits are actions (``unauthenticated-ballots``)."""
        return self.config.edits_undetected

    @property
    def rollback_limit(self) -> int | None:
        """How many distinct replicas an undetected rollback may hit (``None``: any)."""
        return self.config.rollback_limit

    @property
    def replicas(self) -> range:
        return range(self.n)

    @property
    def ballot_range(self) -> range:
        return range(1, self.ballots + 1)

    def reports(self, ballot: int) -> list[str]:
        """The possible vote reports of a 1b for ``ballot``: ``none`` or ``bK:v``, K < ballot."""
        return ["none"] + [f"b{k}:{x}" for k in range(1, ballot) for x in self.values]

    def variables(self) -> list[tuple[str, bool]]:
        """Every state variable as ``(name, is_int)``, in a fixed order."""
        out: list[tuple[str, bool]] = []
        out += [(f"one_a[b{b}]", False) for b in self.ballot_range]
        out += [
            (f"one_b[r{i},b{b},{rep}]", False)
            for i in self.replicas
            for b in self.ballot_range
            for rep in self.reports(b)
        ]
        out += [(f"two_a[b{b},{x}]", False) for b in self.ballot_range for x in self.values]
        out += [
            (f"two_b[r{i},b{b},{x}]", False)
            for i in self.replicas
            for b in self.ballot_range
            for x in self.values
        ]
        out += [(f"promised[r{i}]", True) for i in self.replicas]
        out += [
            (f"voted[r{i},b{b},{x}]", False)
            for i in self.replicas
            for b in self.ballot_range
            for x in self.values
        ]
        out += [(f"up[r{i}]", False) for i in self.replicas]
        out += [(f"rolled[r{i}]", False) for i in self.replicas]
        out += [(f"mute[r{i}]", False) for i in self.replicas]
        return out

    def ground_actions(self) -> list[Action]:
        """The ground actions in a fixed order, those of :func:`model.consensus.ground_actions`
        (rollback's target image is chosen per step, so its action carries no image)."""
        config_quorums = [frozenset(c) for c in combinations(self.replicas, self.q)]
        out = [Action("send_1a", ballot=b) for b in self.ballot_range]
        out += [
            Action("join", replica=i, ballot=b) for i in self.replicas for b in self.ballot_range
        ]
        out += [
            Action("propose", ballot=b, quorum=qq, value=x)
            for b in self.ballot_range
            for qq in config_quorums
            for x in self.values
        ]
        out += [
            Action("vote", replica=i, ballot=b, value=x)
            for i in self.replicas
            for b in self.ballot_range
            for x in self.values
        ]
        out += [Action("crash", replica=i) for i in self.replicas]
        out += [Action("restart", replica=i) for i in self.replicas]
        if self.amnesia:
            out += [Action("amnesia", replica=i) for i in self.replicas]
        if self.rollback_limit != 0:
            out += [Action("rollback", replica=i) for i in self.replicas]
        if self.edits:
            for i in self.replicas:
                out += [
                    Action("edit_promise", replica=i, ballot=p) for p in range(self.ballots + 1)
                ]
                for b in self.ballot_range:
                    for x in self.values:
                        out += [
                            Action("edit_vote", replica=i, ballot=b, value=x, to=t)
                            for t in self.ballot_range
                            if t != b
                        ]
                        out.append(Action("delete_vote", replica=i, ballot=b, value=x))
        return out


#: A finite symbolic state: variable name -> Z3 term.
Fin = dict[str, Any]


def fresh(inst: Instance, prefix: str) -> Fin:
    """Fresh constants for every variable of ``inst``."""
    return {
        name: (z3.Int if is_int else z3.Bool)(f"{prefix}.{name}")
        for name, is_int in inst.variables()
    }


def constant(inst: Instance, state: State) -> Fin:
    """The constant terms of a concrete finite state."""
    return {
        name: z3.IntVal(int(state[name])) if is_int else z3.BoolVal(bool(state[name]))
        for name, is_int in inst.variables()
    }


def evaluate(inst: Instance, s: Fin, model: z3.ModelRef) -> State:
    """The concrete state a Z3 model assigns to ``s``."""
    out: State = {}
    for name, is_int in inst.variables():
        value = model.eval(s[name], model_completion=True)
        out[name] = int(value.as_long()) if is_int else bool(z3.is_true(value))
    return out


def init_fin(inst: Instance, s: Fin) -> Expr:
    """Init of the finite instance: :func:`model.consensus.initial`."""
    return z3.And(
        *(
            s[name] == 0 if is_int else s[name] == name.startswith("up[")
            for name, is_int in inst.variables()
        )
    )


def durable_names(inst: Instance, replica: int) -> list[str]:
    """The variables of ``replica``'s durable image (its promise and its votes)."""
    return [f"promised[r{replica}]"] + [
        f"voted[r{replica},b{b},{x}]" for b in inst.ballot_range for x in inst.values
    ]


def action_parts(
    inst: Instance, action: Action, pre: Fin, image: Fin | None = None
) -> tuple[list[Expr], dict[str, Expr]]:
    """action_parts: the guard of ``action`` on ``pre`` and the new value of each variable
    it changes (every other variable keeps its value); mirrors
    :func:`model.consensus.apply`, branch for branch.

    ``image`` (for ``rollback``) maps the replica's durable variables to the earlier image
    its disk is rolled back to.
    """
    guard: list[Expr] = []
    new: dict[str, Expr] = {}
    i, b, x = action.replica, action.ballot, action.value
    if action.name == "send_1a" and b is not None:
        new[f"one_a[b{b}]"] = z3.BoolVal(True)
    elif action.name == "join" and i is not None and b is not None:
        guard += [
            pre[f"up[r{i}]"],
            z3.Not(pre[f"mute[r{i}]"]),
            pre[f"one_a[b{b}]"],
            pre[f"promised[r{i}]"] < b,
        ]
        # The highest vote below b (ties by value order, as the model's max()).
        for k in range(1, b):
            for xi, val in enumerate(inst.values):
                higher = [pre[f"voted[r{i},b{k},{w}]"] for w in inst.values[xi + 1 :]] + [
                    pre[f"voted[r{i},b{kk},{w}]"] for kk in range(k + 1, b) for w in inst.values
                ]
                report = z3.And(pre[f"voted[r{i},b{k},{val}]"], *(z3.Not(h) for h in higher))
                key = f"one_b[r{i},b{b},b{k}:{val}]"
                new[key] = z3.Or(pre[key], report)
        anything = [pre[f"voted[r{i},b{k},{w}]"] for k in range(1, b) for w in inst.values]
        key = f"one_b[r{i},b{b},none]"
        new[key] = z3.Or(pre[key], z3.Not(z3.Or(*anything)) if anything else z3.BoolVal(True))
        new[f"promised[r{i}]"] = z3.IntVal(b)
    elif action.name == "propose" and b is not None and x is not None:
        guard += [z3.Not(pre[f"two_a[b{b},{w}]"]) for w in inst.values]
        for m in sorted(action.quorum):
            guard.append(z3.Or(*(pre[f"one_b[r{m},b{b},{rep}]"] for rep in inst.reports(b))))

        def reported(k: int, w: str) -> Expr:
            return z3.Or(*(pre[f"one_b[r{m},b{b},b{k}:{w}]"] for m in sorted(action.quorum)))

        options = [z3.Not(z3.Or(*(reported(k, w) for k in range(1, b) for w in inst.values)))]
        for k in range(1, b):
            above = [reported(kk, w) for kk in range(k + 1, b) for w in inst.values]
            options.append(z3.And(reported(k, x), *(z3.Not(a) for a in above)))
        guard.append(z3.Or(*options))
        new[f"two_a[b{b},{x}]"] = z3.BoolVal(True)
    elif action.name == "vote" and i is not None and b is not None and x is not None:
        guard += [
            pre[f"up[r{i}]"],
            z3.Not(pre[f"mute[r{i}]"]),
            pre[f"two_a[b{b},{x}]"],
            pre[f"promised[r{i}]"] <= b,
        ]
        new[f"promised[r{i}]"] = z3.IntVal(b)
        new[f"voted[r{i},b{b},{x}]"] = z3.BoolVal(True)
        new[f"two_b[r{i},b{b},{x}]"] = z3.BoolVal(True)
    elif action.name == "crash" and i is not None:
        guard.append(pre[f"up[r{i}]"])
        new[f"up[r{i}]"] = z3.BoolVal(False)
    elif action.name == "restart" and i is not None:
        guard.append(z3.Not(pre[f"up[r{i}]"]))
        new[f"up[r{i}]"] = z3.BoolVal(True)
        if inst.forget:
            new[f"promised[r{i}]"] = z3.IntVal(0)
    elif action.name == "amnesia" and i is not None:
        for name in durable_names(inst, i)[1:]:
            new[name] = z3.BoolVal(False)
        if inst.mute_rule:
            sent = [pre[f"two_b[r{i},b{k},{w}]"] for k in inst.ballot_range for w in inst.values]
            new[f"mute[r{i}]"] = z3.Or(pre[f"mute[r{i}]"], *sent)
    elif action.name == "rollback" and i is not None and image is not None:
        for name in durable_names(inst, i):
            new[name] = image[name]
        new[f"rolled[r{i}]"] = z3.BoolVal(True)
        if inst.rollback_limit is not None:
            rolled = [new.get(f"rolled[r{j}]", pre[f"rolled[r{j}]"]) for j in inst.replicas]
            guard.append(z3.Sum(*(z3.If(t, 1, 0) for t in rolled)) <= inst.rollback_limit)
    elif action.name == "edit_promise" and i is not None and b is not None:
        guard.append(pre[f"promised[r{i}]"] != b)
        new[f"promised[r{i}]"] = z3.IntVal(b)
    elif action.name == "edit_vote" and i is not None and b is not None and x is not None:
        to = action.to
        if to is None or to == b:
            raise ValueError(f"malformed action {action}")
        guard.append(pre[f"voted[r{i},b{b},{x}]"])
        new[f"voted[r{i},b{b},{x}]"] = z3.BoolVal(False)
        new[f"voted[r{i},b{to},{x}]"] = z3.BoolVal(True)
    elif action.name == "delete_vote" and i is not None and b is not None and x is not None:
        guard.append(pre[f"voted[r{i},b{b},{x}]"])
        new[f"voted[r{i},b{b},{x}]"] = z3.BoolVal(False)
    else:
        raise ValueError(f"malformed action {action}")
    return guard, new


def transition_fin(
    inst: Instance, action: Action, pre: Fin, post: Fin, image: Fin | None = None
) -> Expr:
    """transition_fin: the relation ``T_action(pre, post)`` (guard and frame)."""
    guard, new = action_parts(inst, action, pre, image)
    frame = [post[name] == new.get(name, pre[name]) for name, _ in inst.variables()]
    return z3.And(*guard, *frame)


def chosen_at(inst: Instance, s: Fin, ballot: int, value: str) -> Expr:
    """A quorum sent 2b for ``value`` at ``ballot``."""
    return z3.AtLeast(*(s[f"two_b[r{i},b{ballot},{value}]"] for i in inst.replicas), inst.q)


def chosen_fin(inst: Instance, s: Fin, value: str) -> Expr:
    return z3.Or(*(chosen_at(inst, s, b, value) for b in inst.ballot_range))


def two_chosen(inst: Instance, s: Fin) -> Expr:
    """¬P on the finite instance: two different values chosen."""
    return z3.Or(
        *(
            z3.And(chosen_fin(inst, s, a), chosen_fin(inst, s, c))
            for a, c in combinations(inst.values, 2)
        )
    )


def successors_fin(
    inst: Instance, action: Action, pre: State, image: State | None = None, at_most: int = 3
) -> list[State]:
    """Every post-state ``transition_fin`` allows from the concrete ``pre`` (the tests
    compare this with :func:`model.consensus.apply`). ``image`` is a concrete state whose
    durable variables of the acting replica are the rollback target."""
    solver = z3.Solver()
    post = fresh(inst, "post")
    img = None if image is None else constant(inst, image)
    solver.add(transition_fin(inst, action, constant(inst, pre), post, img))
    found: list[State] = []
    while len(found) < at_most and solver.check() == z3.sat:
        value = evaluate(inst, post, solver.model())
        found.append(value)
        solver.add(z3.Not(z3.And(*(post[k] == c for k, c in constant(inst, value).items()))))
    return found


class Unrolling:
    """Unrolling: ``s0 -a0-> s1 -a1-> …`` of the finite instance on one incremental solver.

    ``a_i`` is an integer naming a ground action (its index in ``inst.ground_actions()``);
    ``k_i`` names the step whose durable image a rollback at step ``i`` restores.
    """

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.actions = inst.ground_actions()
        # Every variable is Boolean or a bounded integer: the finite-domain solver
        # bit-blasts to SAT, an order of magnitude faster here than the default.
        self.solver = z3.SolverFor("QF_FD")
        self.states: list[Fin] = [fresh(inst, "s0")]
        self.choices: list[Expr] = []
        self.targets: list[Expr] = []
        self.solver.add(init_fin(inst, self.states[0]))

    @property
    def depth(self) -> int:
        return len(self.choices)

    def extend_to(self, depth: int) -> None:
        """Add steps until the unrolling is ``depth`` steps long.

        Each step is one disjunction "the chosen action's guard holds" and, per variable,
        one ``If`` chain over the actions that change it: much smaller than a full frame
        per action, which is what keeps the deeper searches fast.
        """
        while self.depth < depth:
            i = self.depth
            pre, post = self.states[i], fresh(self.inst, f"s{i + 1}")
            choice, target = z3.Int(f"a{i}"), z3.Int(f"k{i}")
            self.solver.add(choice >= 0, choice < len(self.actions), target >= 0, target <= i)
            enabled: list[Expr] = []
            writes: dict[str, list[tuple[Expr, Expr]]] = {}
            for index, action in enumerate(self.actions):
                cases: list[tuple[Expr, Fin | None]] = [(choice == index, None)]
                if action.name == "rollback" and action.replica is not None:
                    names = durable_names(self.inst, action.replica)
                    cases = [
                        (
                            z3.And(choice == index, target == k),
                            {name: self.states[k][name] for name in names},
                        )
                        for k in range(i + 1)
                    ]
                for selected, image in cases:
                    guard, new = action_parts(self.inst, action, pre, image)
                    enabled.append(z3.And(selected, *guard))
                    for name, value in new.items():
                        writes.setdefault(name, []).append((selected, value))
            self.solver.add(z3.Or(*enabled))
            for name, _ in self.inst.variables():
                term = pre[name]
                for selected, value in reversed(writes.get(name, [])):
                    term = z3.If(selected, value, term)
                self.solver.add(post[name] == term)
            for j in self.inst.replicas:
                self.solver.add(
                    post[f"promised[r{j}]"] >= 0, post[f"promised[r{j}]"] <= self.inst.ballots
                )
            self.states.append(post)
            self.choices.append(choice)
            self.targets.append(target)

    def shortest(
        self, goal: Callable[[Instance, Fin], Expr], max_depth: int
    ) -> tuple[list[State], list[str]] | None:
        """The shortest path from Init to a state meeting ``goal``, up to ``max_depth``."""
        for depth in range(max_depth + 1):
            self.extend_to(depth)
            self.solver.push()
            self.solver.add(goal(self.inst, self.states[depth]))
            if self.solver.check() == z3.sat:
                model = self.solver.model()
                states = [evaluate(self.inst, s, model) for s in self.states[: depth + 1]]
                labels = []
                for i in range(depth):
                    action = self.actions[model.eval(self.choices[i]).as_long()]
                    label = action.label
                    if action.name == "rollback":
                        k = model.eval(self.targets[i], model_completion=True).as_long()
                        label = f"rollback(r{action.replica},to s{k})"
                    labels.append(label)
                self.solver.pop()
                return states, labels
            self.solver.pop()
        return None


def columns(inst: Instance, states: list[State]) -> list[State]:
    """The readable projection of finite states, for traces: ``promised[r]``,
    ``vote[r,b]`` and ``2a[b]`` and ``chosen[b]`` as value numbers (0 none, 1 the first
    value, 2 the second …), and ``up[r]`` / ``rolled[r]`` / ``mute[r]`` when the trace
    uses them."""
    number = {x: k + 1 for k, x in enumerate(inst.values)}
    show_up = any(not s[f"up[r{i}]"] for s in states for i in inst.replicas)
    show_rolled = any(s[f"rolled[r{i}]"] for s in states for i in inst.replicas)
    show_mute = any(s[f"mute[r{i}]"] for s in states for i in inst.replicas)

    def pick(s: State, template: str) -> int:
        """The number of the first value ``x`` with ``s[template.format(x=x)]`` true."""
        return next((number[x] for x in inst.values if s[template.format(x=x)]), 0)

    out: list[State] = []
    for s in states:
        row: State = {}
        for i in inst.replicas:
            row[f"promised[r{i}]"] = s[f"promised[r{i}]"]
        for i in inst.replicas:
            for b in inst.ballot_range:
                row[f"vote[r{i},b{b}]"] = pick(s, f"voted[r{i},b{b},{{x}}]")
        for b in inst.ballot_range:
            row[f"2a[b{b}]"] = pick(s, f"two_a[b{b},{{x}}]")
        for b in inst.ballot_range:
            senders = {
                x: sum(1 for i in inst.replicas if s[f"two_b[r{i},b{b},{x}]"]) for x in inst.values
            }
            row[f"chosen[b{b}]"] = next((number[x] for x in inst.values if senders[x] >= inst.q), 0)
        if show_up:
            for i in inst.replicas:
                row[f"up[r{i}]"] = s[f"up[r{i}]"]
        if show_rolled:
            for i in inst.replicas:
                row[f"rolled[r{i}]"] = s[f"rolled[r{i}]"]
        if show_mute:
            for i in inst.replicas:
                row[f"mute[r{i}]"] = s[f"mute[r{i}]"]
        out.append(row)
    return out


def disk_adversary(inst: Instance) -> str:
    """What the operator's disk actions are on ``inst``, in one phrase."""
    if inst.rollback_limit is None:
        return "undetected rollback, any replica, any number of times"
    if inst.rollback_limit > 0:
        return f"undetected rollback on at most {inst.rollback_limit} replica(s)"
    rule = "" if inst.mute_rule else " WITHOUT the mute rule"
    detected = f"detected tampering -> amnesia{rule}, unbounded"
    if inst.edits:
        return f"{detected}; undetected edit_vote, edit_promise, delete_vote, unbounded"
    return detected


def _legend(inst: Instance) -> str:
    values = ", ".join(f"{k + 1} = {x}" for k, x in enumerate(inst.values))
    return (
        f"n = {inst.n}, q = {inst.q}, ballots 1..{inst.ballots}, disk: "
        f"{disk_adversary(inst)}; values: 0 = none, {values}"
    )


def bmc(inst: Instance, max_depth: int, unrolling: Unrolling | None = None) -> BmcResult:
    """bmc: depth 0, 1, … ``max_depth``; the first state with two values chosen found is a
    shortest counterexample."""
    machine = Unrolling(inst) if unrolling is None else unrolling
    started = time.perf_counter()
    found = machine.shortest(two_chosen, max_depth)
    seconds = time.perf_counter() - started
    if found is None:
        return BmcResult(PROPERTY_NAME, max_depth, max_depth, seconds)
    states, labels = found
    trace = Trace(columns(inst, states), labels, PROPERTY_NAME, note=_legend(inst))
    return BmcResult(PROPERTY_NAME, max_depth, trace.length, seconds, trace)


def sanity(inst: Instance, max_depth: int, unrolling: Unrolling | None = None) -> Reachability:
    """sanity: some value can be chosen (a model that chooses nothing is trivially safe)."""
    machine = Unrolling(inst) if unrolling is None else unrolling
    started = time.perf_counter()
    found = machine.shortest(
        lambda i, s: z3.Or(*(chosen_fin(i, s, x) for x in i.values)), max_depth
    )
    seconds = time.perf_counter() - started
    witness = None
    if found is not None:
        witness = Trace(columns(inst, found[0]), found[1], None, note=_legend(inst))
    return Reachability("a value is chosen", witness is not None, max_depth, seconds, witness)


def forgot_a_chosen_vote(inst: Instance, s: Fin) -> Expr:
    """Some replica voted for a value that is chosen, then went through ``amnesia``: it
    remembers no vote and is mute."""
    cases = []
    for i in inst.replicas:
        forgot = [z3.Not(s[name]) for name in durable_names(inst, i)[1:]]
        for b in inst.ballot_range:
            for x in inst.values:
                cases.append(
                    z3.And(
                        s[f"mute[r{i}]"],
                        s[f"two_b[r{i},b{b},{x}]"],
                        chosen_at(inst, s, b, x),
                        *forgot,
                    )
                )
    return z3.Or(*cases)


def sanity_amnesia(
    inst: Instance, max_depth: int, unrolling: Unrolling | None = None
) -> Reachability:
    """sanity_amnesia: ``amnesia`` is reachable where it matters: a replica that voted for
    the chosen value forgets it and is mute (the proof is not vacuous about the disk)."""
    machine = Unrolling(inst) if unrolling is None else unrolling
    started = time.perf_counter()
    found = machine.shortest(forgot_a_chosen_vote, max_depth)
    seconds = time.perf_counter() - started
    witness = None
    if found is not None:
        witness = Trace(columns(inst, found[0]), found[1], None, note=_legend(inst))
    name = "a voter of the chosen value forgets it (amnesia, mute)"
    return Reachability(name, witness is not None, max_depth, seconds, witness)


# =======================================================================================
# Part 4. The whole check

Verdict = Literal["holds", "violated", "unproved"]

#: The finite instance of each variant, and the BMC bound.
INSTANCES: Final[dict[str | None, Instance]] = {
    None: Instance(3, 2, 3),
    **{
        variant: Instance(3, 1 if variant == "minority-quorum" else 2, 2, variant=variant)
        for variant in CONSENSUS_VARIANTS
    },
}
#: The BMC bound on the safe instance; the variants' bound is their trace length + 2.
SAFE_DEPTH: Final = 10
VARIANT_DEPTH: Final = 16


@dataclass(frozen=True)
class I2Report:
    """I2Report: obligations with fragment checks, BMC and sanity for one variant.

    ``verdict``: ``"violated"`` when the BMC found two values chosen (``trace`` is a
    shortest run), ``"holds"`` when every obligation passed and every VC is decidable,
    ``"unproved"`` otherwise.
    """

    variant: str | None
    instance: Instance
    outline: Outline
    fragments: list[FragmentReport]
    obligations: list[Obligation]
    bmc: BmcResult
    sanity: list[Reachability] = field(default_factory=list)

    @property
    def proved(self) -> bool:
        return all(o.status == "PASS" for o in self.obligations) and all(
            f.ok for f in self.fragments
        )

    @property
    def violated(self) -> bool:
        return self.bmc.violated

    @property
    def verdict(self) -> Verdict:
        if self.violated:
            return "violated"
        return "holds" if self.proved else "unproved"

    @property
    def trace(self) -> Trace | None:
        return self.bmc.trace

    @property
    def seconds(self) -> float:
        return (
            sum(o.seconds for o in self.obligations)
            + self.bmc.seconds
            + sum(r.seconds for r in self.sanity)
        )

    def render(self) -> str:
        lines = [f"{PROPERTY_NAME} — consensus {self.variant or 'safe'} (one slot, Paxos)"]
        lines.extend(self.outline.render().splitlines())
        lines.append("decidable fragment (quantifier alternation graph per VC):")
        lines.extend("  " + row for f in self.fragments for row in f.render().splitlines())
        lines.append("inductive obligations (any number of nodes, rounds, values):")
        lines.extend("  " + row for o in self.obligations for row in o.render().splitlines())
        lines.append(f"finite instance: {_legend(self.instance)}")
        lines.extend(self.bmc.render().splitlines())
        lines.extend(r.render() for r in self.sanity)
        lines.append(f"verdict: {PROPERTY_NAME} {self.verdict} ({self.seconds * 1000:.0f} ms)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        inst = self.instance
        return {
            "invariant": PROPERTY_NAME,
            "variant": self.variant,
            "verdict": self.verdict,
            "seconds": self.seconds,
            "outline": self.outline.to_json(),
            "fragments": [f.to_json() for f in self.fragments],
            "obligations": [o.to_json() for o in self.obligations],
            "instance": {
                "n": inst.n,
                "q": inst.q,
                "ballots": inst.ballots,
                "values": list(inst.values),
                "rollback_limit": inst.rollback_limit,
                "mute_rule": inst.mute_rule,
                "disk": disk_adversary(inst),
            },
            "bmc": self.bmc.to_json(),
            "sanity": [r.to_json() for r in self.sanity],
        }


def outline(
    variant: str | None, fragments: Sequence[FragmentReport] = (), mute_rule: bool = True
) -> Outline:
    """What the proof assumes, the actions, the conjuncts of Inv and the fragment verdict."""
    assumptions = [f"axiom: {name}" for name, _ in axioms(variant)]
    if variant == "minority-quorum":
        assumptions.append("(quorum intersection NOT assumed: minority quorums)")
    assumptions.append("sorts: node, quorum, round, value (uninterpreted, any size)")
    assumptions.append("Init: no messages, no promises, no votes, every node up")
    assumptions.append(f"actions: {', '.join(actions(variant, mute_rule))}")
    if variant in UNDETECTED_ROLLBACK:
        assumptions.append("disk: undetected rollback, unbounded (no amnesia)")
    else:
        rule = "votes forgotten, promise kept (HSM)" + (
            ", a node that had voted is mute" if mute_rule else " (NO mute rule)"
        )
        extra = "; undetected edits of ballots, promise, vote rows" if variant else ""
        assumptions.append(f"disk: detected tampering -> amnesia, unbounded: {rule}{extra}")
    if fragments:
        ok = sum(1 for f in fragments if f.ok)
        edges = sorted({edge for f in fragments for edge in f.graph})
        arrows = ", ".join(f"{s} -> {t}" for s, t in edges)
        assumptions.append(
            f"decidable fragment: {ok}/{len(fragments)} VCs in EPR; alternation edges "
            f"{arrows} (acyclic)"
            if ok == len(fragments)
            else f"decidable fragment: only {ok}/{len(fragments)} VCs in EPR"
        )
    return Outline(assumptions, [name for name, _ in INVARIANT])


def check_i2(
    variant: str | None = None, max_depth: int | None = None, *, mute_rule: bool = True
) -> I2Report:
    """check_i2: prove I2 ``quorum-safety`` (one slot) for ``variant`` or find its shortest
    violation. ``variant`` is ``None`` (the safe fleet) or one of ``CONSENSUS_VARIANTS``.

    Runs the fragment check and the obligations of the parametric model, then the BMC
    and the sanity queries on the variant's finite instance (``INSTANCES``), depth
    ``max_depth`` (default ``SAFE_DEPTH`` for the safe fleet, ``VARIANT_DEPTH`` else).
    ``mute_rule=False`` checks the safe fleet without the rejoin rule's mute, on the
    safe instance with ballots 1..2 (it must be violated: the rule is necessary).
    """
    if variant is not None and variant not in CONSENSUS_VARIANTS:
        raise UnknownVariant(variant)
    obligations, fragments = prove_inductive(variant, mute_rule)
    inst = INSTANCES[variant]
    if not mute_rule:
        inst = Instance(inst.n, inst.q, 2, inst.values, variant, mute_rule=False)
    safe = variant is None and mute_rule
    depth = max_depth if max_depth is not None else SAFE_DEPTH if safe else VARIANT_DEPTH
    machine = Unrolling(inst)
    checked = bmc(inst, depth, machine)
    queries = [sanity(inst, depth, machine)]
    if inst.amnesia and inst.mute_rule:
        queries.append(sanity_amnesia(inst, depth, machine))
    return I2Report(
        variant,
        inst,
        outline(variant, fragments, mute_rule),
        fragments,
        obligations,
        checked,
        queries,
    )


def check_all_i2() -> list[I2Report]:
    """check_all_i2: ``check_i2`` on the safe fleet and on each consensus variant."""
    return [check_i2(None)] + [check_i2(v) for v in CONSENSUS_VARIANTS]
