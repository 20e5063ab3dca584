"""proofs.bundle_i4_i7: I4 ``bundle-authenticity`` and I7 ``fleet-transparency`` on bundles.

What is encoded
    The symbolic bundle machine of :mod:`model.bundles` (two epochs, six files, two
    clients), one setting at a time: the witness's policy (``log-only`` or ``vetting``),
    the client's attestation check (on or off), the one corrupted party (``none``,
    ``operator``, ``witness``, ``vendor``) and the client (safe, or an unsafe variant).
    Every model variable is a Z3 Boolean or a 4-bit vector per step, named by its trace
    column; a signature is a Boolean "this signature exists" per message, so
    *unforgeability* is the step relation itself: only the holder's actions set it, and
    only a corrupted holder's actions set it for a message its honest rules refuse. Every
    concrete action is a guard and an update written branch for branch with
    :func:`model.bundles.step`; ``tests/test_proofs_bundles.py`` checks the two agree.

    (a) Bounded model checking from :func:`model.bundles.initial`, shortest counterexample
    first, for I4 and I7 per corrupted party, and sanity queries (a client can accept a
    fleet, two clients can accept the second epoch).

    (b) Inductive obligations on the same instance, unbounded in time: ``IndInit``,
    ``IndNext[action]`` for each kind of action and ``IndProp``, for a strengthening
    invariant (``Inv4`` for I4, ``Inv7`` for I7) whose conjuncts state what each honest
    party's key can have signed (unforgeability as an invariant), the witness log's
    shape, and what an accepted bundle carried. The conjuncts that apply depend on who
    is honest; a conjunct about a corrupted party's key is left out.

What this proves, and what it does not
    Both checks are about the small instance: two epochs (enough for a rollback and for
    a statement of one epoch paired with a file of another), three files per epoch (the
    ceremony's, a rogue one, the ceremony's keys under a minority quorum) and two clients
    (enough for a split view). The induction covers every run of that instance; larger
    instances are argued in ``docs/i4.rst``, not checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Final, Literal

import z3

from model.bundles import (
    BUNDLE_COMBINATIONS,
    BUNDLE_VARIANT_NAMES,
    CEREMONY,
    I4_NAME,
    I7_NAME,
    PARTIES,
    POLICIES,
    ROGUE,
    Action,
    BundleConfig,
    BundleState,
    Ceremony,
    Countersign,
    Deliver,
    Party,
    Policy,
    Submit,
    VendorAttest,
    WitnessSign,
    actions,
    bundle_variant,
    file_epoch,
    file_id,
    file_kind,
    file_name,
    initial,
    majority,
)
from proofs import bitvec
from proofs.bitvec import BoolTerm, Effect, IntTerm, SymState, Term
from proofs.report import BmcResult, Obligation, Outline, Reachability, State, Trace

I4_PROPERTY: Final = f"I4 {I4_NAME}"
I7_PROPERTY: Final = f"I7 {I7_NAME}"
PROPERTIES: Final = {"I4": I4_PROPERTY, "I7": I7_PROPERTY}


#: Integer columns (epochs, file ids) are 4-bit vectors; every value is 0 .. 6.
WIDTH: Final = 4
CHOICE_WIDTH: Final = 8


def num(v: int) -> IntTerm:
    """num: the bit-vector constant ``v``."""
    return bitvec.num(v, WIDTH)


# ---------------------------------------------------------------------------------------
# Columns


def _e(e: int) -> str:
    return f"e{e}"


def columns(config: BundleConfig) -> list[tuple[str, Literal["int", "bool"]]]:
    """columns: the state's variables as ``(name, kind)``, in the order traces print them.

    ``w[e1][C1]``: the witness's signature on statement ``(1, digest(C1))`` exists;
    ``o[..]`` the operator's counter-signature over it; ``of[C1]`` the operator's
    signature over ``digest(C1)``; ``acc[c0][e1]`` the file client 0 accepted for epoch 1
    (a file id: 1 = C1, 2 = R1, 3 = Q1, 4 = C2, …)."""
    epochs, files = range(1, config.epochs + 1), range(1, config.files + 1)
    out: list[tuple[str, Literal["int", "bool"]]] = []
    out += [(f"made[{_e(e)}]", "bool") for e in epochs]
    out += [(f"vatt[{_e(e)}]", "bool") for e in epochs]
    out += [("last", "int")]
    out += [(f"logged[{_e(e)}]", "int") for e in epochs]
    out += [(f"w[{_e(e)}][{file_name(f)}]", "bool") for e in epochs for f in files]
    out += [(f"o[{_e(e)}][{file_name(f)}]", "bool") for e in epochs for f in files]
    out += [(f"of[{file_name(f)}]", "bool") for f in files]
    out += [(f"high[c{c}]", "int") for c in range(config.clients)]
    out += [(f"acc[c{c}][{_e(e)}]", "int") for c in range(config.clients) for e in epochs]
    out += [(f"rogue[c{c}]", "bool") for c in range(config.clients)]
    out += [(f"rolled[c{c}]", "bool") for c in range(config.clients)]
    return out


def as_columns(state: BundleState, config: BundleConfig) -> State:
    """as_columns: the model state as a flat dict of trace columns."""
    epochs, files = range(1, config.epochs + 1), range(1, config.files + 1)
    out: State = {}
    for e in epochs:
        out[f"made[{_e(e)}]"] = state.made[e - 1]
        out[f"vatt[{_e(e)}]"] = state.vatt[e - 1]
        out[f"logged[{_e(e)}]"] = state.logged[e - 1]
        for f in files:
            out[f"w[{_e(e)}][{file_name(f)}]"] = state.wsig[e - 1][f - 1]
            out[f"o[{_e(e)}][{file_name(f)}]"] = state.osig[e - 1][f - 1]
    out["last"] = state.last
    for f in files:
        out[f"of[{file_name(f)}]"] = state.ofile[f - 1]
    for c in range(config.clients):
        out[f"high[c{c}]"] = state.high[c]
        out[f"rogue[c{c}]"] = state.rogue[c]
        out[f"rolled[c{c}]"] = state.rolled[c]
        for e in epochs:
            out[f"acc[c{c}][{_e(e)}]"] = state.accepted[c][e - 1]
    return {name: out[name] for name, _ in columns(config)}


def from_columns(values: State, config: BundleConfig) -> BundleState:
    """from_columns: the model state a flat dict of columns describes."""
    epochs, files = range(1, config.epochs + 1), range(1, config.files + 1)
    clients = range(config.clients)

    def t(name: str) -> bool:
        return bool(values[name])

    def i(name: str) -> int:
        return int(values[name])

    return BundleState(
        made=tuple(t(f"made[{_e(e)}]") for e in epochs),
        vatt=tuple(t(f"vatt[{_e(e)}]") for e in epochs),
        last=i("last"),
        logged=tuple(i(f"logged[{_e(e)}]") for e in epochs),
        wsig=tuple(tuple(t(f"w[{_e(e)}][{file_name(f)}]") for f in files) for e in epochs),
        osig=tuple(tuple(t(f"o[{_e(e)}][{file_name(f)}]") for f in files) for e in epochs),
        ofile=tuple(t(f"of[{file_name(f)}]") for f in files),
        high=tuple(i(f"high[c{c}]") for c in clients),
        accepted=tuple(tuple(i(f"acc[c{c}][{_e(e)}]") for e in epochs) for c in clients),
        rogue=tuple(t(f"rogue[c{c}]") for c in clients),
        rolled=tuple(t(f"rolled[c{c}]") for c in clients),
    )


def fresh(prefix: str, config: BundleConfig) -> SymState:
    """fresh: Z3 constants ``<prefix>.<column>`` for every column."""
    return bitvec.fresh_state(prefix, columns(config), WIDTH)


def constant(values: State) -> SymState:
    """constant: the Z3 values of a concrete state."""
    return bitvec.constant_state(values, WIDTH)


def value(sym: SymState, model: z3.ModelRef) -> State:
    """value: the concrete state a Z3 model assigns to ``sym``."""
    return bitvec.model_state(sym, model)


# ---------------------------------------------------------------------------------------
# The step relation: one guard and one update per action, mirroring model.bundles.step


def _w(e: int, f: int) -> str:
    return f"w[{_e(e)}][{file_name(f)}]"


def _o(e: int, f: int) -> str:
    return f"o[{_e(e)}][{file_name(f)}]"


def sym_known(s: SymState, f: int) -> BoolTerm:
    """The attacker has file ``f`` (``model.bundles.known``)."""
    return z3.BoolVal(True) if file_kind(f) == ROGUE else s[f"made[{_e(file_epoch(f))}]"]


def sym_attested(s: SymState, f: int) -> BoolTerm:
    """The vendor attested every key of ``f`` (``model.bundles.attested``)."""
    e = _e(file_epoch(f))
    return s[f"vatt[{e}]"] if file_kind(f) == ROGUE else s[f"made[{e}]"]


def sym_witness_signs(config: BundleConfig, s: SymState, e: int, f: int) -> BoolTerm:
    """The witness's policy admits ``(e, digest(f))`` (``model.bundles.witness_signs``)."""
    fresh_digest = z3.And(*(s[f"logged[{_e(x)}]"] != f for x in range(1, config.epochs + 1)))
    parts = [s["last"] == e - 1, fresh_digest]
    if config.policy == "vetting":
        parts.append(sym_attested(s, f))
    return z3.And(*parts)


def counter_signed(config: BundleConfig, s: SymState, e: int, g: int) -> BoolTerm:
    """The counter-signature the client requires on statement ``(e, digest(g))``."""
    if "accept-one-signature" in config.rules:
        return z3.BoolVal(True)
    if "countersign-file-not-signature" in config.rules:
        return s[f"of[{file_name(g)}]"]
    return s[_o(e, g)]


def sym_accepts(config: BundleConfig, s: SymState, c: int, e: int, g: int, f: int) -> BoolTerm:
    """The client's acceptance predicate (``model.bundles.accepts``); the checks that
    depend only on the action's constants are decided here, in Python."""
    rules = config.rules
    if "no-digest-check" not in rules and f != g:
        return z3.BoolVal(False)
    if "no-file-epoch-check" not in rules and file_epoch(f) != e:
        return z3.BoolVal(False)
    if "skip-config-check" not in rules and not majority(f):
        return z3.BoolVal(False)
    parts = [sym_known(s, f), s[_w(e, g)], counter_signed(config, s, e, g)]
    if "no-epoch-check" not in rules:
        parts.append(s[f"high[c{c}]"] <= e)
    if config.checks_attestation:
        parts.append(sym_attested(s, f))
    return z3.And(*parts)


def effect(config: BundleConfig, action: Action, s: SymState) -> Effect:
    """effect: ``action``'s guard and updates on the symbolic state ``s``."""
    bad = config.corrupted
    true = z3.BoolVal(True)
    if isinstance(action, Ceremony):
        e = action.epoch
        guard = z3.Not(s[f"made[{_e(e)}]"])
        if e > 1:
            guard = z3.And(guard, s[f"made[{_e(e - 1)}]"])
        return Effect(guard, {f"made[{_e(e)}]": true})
    if isinstance(action, Submit):
        e, f = action.epoch, action.file
        own = s[f"made[{_e(e)}]"] if f == file_id(e, CEREMONY) else z3.BoolVal(False)
        may = z3.Or(own, sym_known(s, f)) if bad == "operator" else own
        return Effect(
            z3.And(may, sym_witness_signs(config, s, e, f)),
            {_w(e, f): true, f"logged[{_e(e)}]": num(f), "last": num(e)},
        )
    if isinstance(action, Countersign):
        e, f = action.epoch, action.file
        if "countersign-file-not-signature" in config.rules:
            ef = file_epoch(f)
            own = s[f"made[{_e(ef)}]"] if f == file_id(ef, CEREMONY) else z3.BoolVal(False)
            may = z3.Or(own, sym_known(s, f)) if bad == "operator" else own
            return Effect(may, {f"of[{file_name(f)}]": true})
        own_file = f == file_id(e, CEREMONY) or bad == "operator"
        guard = s[_w(e, f)] if own_file else z3.BoolVal(False)
        return Effect(guard, {_o(e, f): true})
    if isinstance(action, WitnessSign):
        e, f = action.epoch, action.file
        guard = sym_known(s, f) if bad == "witness" else z3.BoolVal(False)
        return Effect(guard, {_w(e, f): true})
    if isinstance(action, VendorAttest):
        guard = z3.BoolVal(bad == "vendor")
        return Effect(guard, {f"vatt[{_e(action.epoch)}]": true})
    c, e, g, f = action.client, action.epoch, action.digest, action.file
    high = s[f"high[c{c}]"]
    rogue = f != file_id(e, CEREMONY)
    return Effect(
        sym_accepts(config, s, c, e, g, f),
        {
            f"high[c{c}]": z3.If(high < e, num(e), high),
            f"acc[c{c}][{_e(e)}]": num(f),
            f"rogue[c{c}]": true if rogue else s[f"rogue[c{c}]"],
            f"rolled[c{c}]": z3.Or(s[f"rolled[c{c}]"], num(e) < high),
        },
    )


def step_relation(
    config: BundleConfig, pre: SymState, post: SymState, choice: IntTerm
) -> list[BoolTerm]:
    """step_relation: ``pre -choice-> post``, ``choice`` the index of the action in
    :func:`model.bundles.actions`; index ``len(actions)`` is a stutter step (nothing
    changes), so a run that can do nothing more still unrolls (a shortest counterexample
    never stutters)."""
    every = actions(config)
    effects = [effect(config, a, pre) for a in every]
    chosen = [choice == k for k in range(len(every))]
    out = [z3.ULE(choice, len(every))]
    out += [z3.Implies(chosen[k], e.guard) for k, e in enumerate(effects)]
    writers: dict[str, list[tuple[int, Term]]] = {name: [] for name in pre}
    for k, e in enumerate(effects):
        for name, term in e.updates.items():
            writers[name].append((k, term))
    for name in pre:
        term = pre[name]
        for k, update in writers[name]:
            term = z3.If(chosen[k], update, term)
        out.append(post[name] == term)
    return out


@cache
def _one_step(config: BundleConfig) -> tuple[SymState, SymState, IntTerm, BoolTerm]:
    pre, post = fresh("pre", config), fresh("post", config)
    choice = z3.BitVec("choice", CHOICE_WIDTH)
    return pre, post, choice, z3.And(*step_relation(config, pre, post, choice))


def successors(config: BundleConfig, action: Action, pre: State, at_most: int = 3) -> list[State]:
    """successors: every post-state the step relation allows from the concrete ``pre``
    with ``action`` chosen (up to ``at_most``): ``[]`` exactly when the model says the
    action is disabled, otherwise the one state :func:`model.bundles.step` computes."""
    template_pre, post, choice, relation = _one_step(config)
    values = constant(pre)
    solver = z3.Solver()
    solver.add(z3.substitute(relation, *((template_pre[k], values[k]) for k in template_pre)))
    solver.add(choice == actions(config).index(action))
    found: list[State] = []
    while len(found) < at_most and solver.check() == z3.sat:
        got = value(post, solver.model())
        found.append(got)
        solver.add(z3.Not(z3.And(*(post[k] == v for k, v in constant(got).items()))))
    return found


# ---------------------------------------------------------------------------------------
# The properties (model.bundles.check_i4, check_i7)


def sym_i4(config: BundleConfig, s: SymState) -> BoolTerm:
    """I4: no client accepted a file other than the ceremony's, nor rolled back."""
    return z3.And(
        *(
            z3.And(z3.Not(s[f"rogue[c{c}]"]), z3.Not(s[f"rolled[c{c}]"]))
            for c in range(config.clients)
        )
    )


def sym_i7(config: BundleConfig, s: SymState) -> BoolTerm:
    """I7: every accepted file is the logged one; no split view."""
    parts = []
    clients = range(config.clients)
    for e in range(1, config.epochs + 1):
        logged = s[f"logged[{_e(e)}]"]
        accs = [s[f"acc[c{c}][{_e(e)}]"] for c in clients]
        parts += [z3.Or(a == 0, a == logged) for a in accs]
        parts += [z3.Or(a == 0, b == 0, a == b) for i, a in enumerate(accs) for b in accs[i + 1 :]]
    return z3.And(*parts)


GOALS: Final[Mapping[str, Callable[[BundleConfig, SymState], BoolTerm]]] = {
    "I4": lambda c, s: z3.Not(sym_i4(c, s)),
    "I7": lambda c, s: z3.Not(sym_i7(c, s)),
}


# ---------------------------------------------------------------------------------------
# (a) Bounded model checking


class Unrolling:
    """Unrolling: ``s0 -a0-> s1 -a1-> …`` from :func:`model.bundles.initial`, in one
    solver; each query is asked under assumptions, so the unrolling is built once."""

    def __init__(self, config: BundleConfig) -> None:
        self.config = config
        self.names = [a.name for a in actions(config)]
        self.states = [fresh("s0", config)]
        self.choices: list[IntTerm] = []
        self.solver = z3.SolverFor("QF_BV")
        start = constant(as_columns(initial(config), config))
        self.solver.add(*(self.states[0][k] == v for k, v in start.items()))
        self._pre, self._post, self._choice, self._template = _one_step(config)
        self._goals = 0

    @property
    def depth(self) -> int:
        return len(self.choices)

    def extend_to(self, depth: int) -> None:
        while self.depth < depth:
            i = self.depth
            post, choice = fresh(f"s{i + 1}", self.config), z3.BitVec(f"a{i}", CHOICE_WIDTH)
            pairs = [(self._pre[k], self.states[i][k]) for k in self._pre]
            pairs += [(self._post[k], post[k]) for k in self._post]
            pairs.append((self._choice, choice))
            self.solver.add(z3.substitute(self._template, *pairs))
            self.states.append(post)
            self.choices.append(choice)

    def _literal(self, formula: BoolTerm) -> BoolTerm:
        """A fresh Boolean that implies ``formula`` (an assumption literal)."""
        self._goals += 1
        lit = z3.Bool(f"goal{self._goals}")
        self.solver.add(z3.Implies(lit, formula))
        return lit

    def shortest(
        self, goal: Callable[[BundleConfig, SymState], BoolTerm], max_depth: int
    ) -> tuple[list[State], list[str]] | None:
        """The shortest path to a state meeting ``goal`` (``None`` up to ``max_depth``);
        among shortest paths, the lexicographically first action sequence."""
        self.extend_to(max_depth)
        meets = [self._literal(goal(self.config, s)) for s in self.states[: max_depth + 1]]
        found = None
        for depth in range(max_depth + 1):
            if self.solver.check(meets[depth]) == z3.sat:
                found = depth
                break
        if found is None:
            return None
        fixed = [meets[found]]
        for choice in self.choices[:found]:
            low, high = 0, len(self.names) - 1
            while low < high:  # the least action index with a path, by bisection
                mid = (low + high) // 2
                if self.solver.check(*fixed, z3.ULE(choice, mid)) == z3.sat:
                    high = mid
                else:
                    low = mid + 1
            fixed.append(choice == low)
        if self.solver.check(*fixed) != z3.sat:  # pragma: no cover - just found
            raise RuntimeError("the shortest path vanished while minimising")
        model = self.solver.model()
        states = [value(s, model) for s in self.states[: found + 1]]
        steps = [
            self.names[int(model.eval(c, model_completion=True).as_long())]
            for c in self.choices[:found]
        ]
        return states, steps


#: The BMC bound: the longest shortest counterexample is 8 steps (the ``no-epoch-check``
#: rollback: two epochs published, the newer accepted, then the older); one to spare.
MAX_DEPTH: Final = 9


def project(states: list[State]) -> list[State]:
    """project: keep the columns that change somewhere in ``states``."""
    if not states:
        return states
    keep = [n for n in states[0] if any(s[n] != states[0][n] for s in states)]
    return [{n: s[n] for n in keep} for s in states]


def _legend(config: BundleConfig) -> str:
    names = ", ".join(f"{f}={file_name(f)}" for f in range(1, config.files + 1))
    return f"file ids {names}; columns that never change are not shown"


def _trace(
    config: BundleConfig, found: tuple[list[State], list[str]], violated: str | None
) -> Trace:
    states, steps = found
    return Trace(project(states), steps, violated, None, _legend(config))


def bmc(
    config: BundleConfig,
    invariant: str,
    max_depth: int = MAX_DEPTH,
    unrolling: Unrolling | None = None,
) -> BmcResult:
    """bmc: the shortest run breaking ``invariant`` (``"I4"`` or ``"I7"``), depth 0, 1, …"""
    machine = Unrolling(config) if unrolling is None else unrolling
    started = time.perf_counter()
    found = machine.shortest(GOALS[invariant], max_depth)
    seconds = time.perf_counter() - started
    name = PROPERTIES[invariant]
    if found is None:
        return BmcResult(name, max_depth, max_depth, seconds)
    trace = _trace(config, found, name)
    return BmcResult(name, max_depth, trace.length, seconds, trace)


SANITY: Final[tuple[tuple[str, Callable[[BundleConfig, SymState], BoolTerm]], ...]] = (
    ("a client accepts a fleet", lambda c, s: s["acc[c0][e1]"] != 0),
    (
        "both clients accept epoch 2",
        lambda c, s: z3.And(s["acc[c0][e2]"] != 0, s["acc[c1][e2]"] != 0),
    ),
)


def sanity(config: BundleConfig, unrolling: Unrolling | None = None) -> list[Reachability]:
    """sanity: the machine is not vacuous (a client can accept the fleets)."""
    machine = Unrolling(config) if unrolling is None else unrolling
    out: list[Reachability] = []
    for name, goal in SANITY:
        started = time.perf_counter()
        found = machine.shortest(goal, MAX_DEPTH)
        seconds = time.perf_counter() - started
        witness = None if found is None else _trace(config, found, None)
        out.append(Reachability(name, witness is not None, MAX_DEPTH, seconds, witness))
    return out


# ---------------------------------------------------------------------------------------
# (b) Inductive obligations on the instance

#: A conjunct of an inductive invariant: its text and its formula.
Conjunct = tuple[str, Callable[[BundleConfig, SymState], BoolTerm]]


def _epochs(c: BundleConfig) -> range:
    return range(1, c.epochs + 1)


def _files(c: BundleConfig) -> range:
    return range(1, c.files + 1)


def _is_one_of(term: IntTerm, values: list[int]) -> BoolTerm:
    return z3.Or(*(term == v for v in values))


def _accepted_facts(c: BundleConfig, s: SymState) -> BoolTerm:
    """What every accepted bundle carried and still carries (signatures never vanish)."""
    parts = []
    for cl in range(c.clients):
        for e in _epochs(c):
            a = s[f"acc[c{cl}][{_e(e)}]"]
            for f in _files(c):
                facts = [sym_known(s, f)]
                if "no-digest-check" not in c.rules:
                    facts += [s[_w(e, f)], counter_signed(c, s, e, f)]
                if "no-file-epoch-check" not in c.rules and file_epoch(f) != e:
                    facts.append(z3.BoolVal(False))
                if "skip-config-check" not in c.rules and not majority(f):
                    facts.append(z3.BoolVal(False))
                if c.checks_attestation:
                    facts.append(sym_attested(s, f))
                parts.append(z3.Implies(a == f, z3.And(*facts)))
    return z3.And(*parts)


def base_conjuncts(c: BundleConfig) -> list[Conjunct]:
    """The conjuncts of the strengthening invariant that apply to setting ``c``: the
    log's shape, what each *honest* key can have signed, what clients accepted."""
    n_e, n_f = c.epochs, c.files
    out: list[Conjunct] = [
        (
            "ceremonies run in order: made[e+1] -> made[e]",
            lambda c, s: z3.And(
                *(z3.Implies(s[f"made[{_e(e + 1)}]"], s[f"made[{_e(e)}]"]) for e in range(1, n_e))
            ),
        ),
        (
            "0 <= last <= epochs; logged[e] != 0 <-> e <= last; logged ids in range",
            lambda c, s: z3.And(
                s["last"] >= 0,
                s["last"] <= n_e,
                *(
                    z3.And(
                        (s[f"logged[{_e(e)}]"] != 0) == (num(e) <= s["last"]),
                        s[f"logged[{_e(e)}]"] >= 0,
                        s[f"logged[{_e(e)}]"] <= n_f,
                    )
                    for e in _epochs(c)
                ),
            ),
        ),
        (
            "logged digests are distinct and known",
            lambda c, s: z3.And(
                *(
                    z3.Implies(
                        s[f"logged[{_e(e)}]"] == f,
                        z3.And(
                            sym_known(s, f),
                            *(s[f"logged[{_e(x)}]"] != f for x in _epochs(c) if x != e),
                        ),
                    )
                    for e in _epochs(c)
                    for f in _files(c)
                )
            ),
        ),
        (
            "0 <= high[c] <= epochs; acc[c][e] != 0 -> e <= high[c]; acc ids in range",
            lambda c, s: z3.And(
                *(
                    z3.And(
                        s[f"high[c{cl}]"] >= 0,
                        s[f"high[c{cl}]"] <= n_e,
                        *(
                            z3.And(
                                s[f"acc[c{cl}][{_e(e)}]"] >= 0,
                                s[f"acc[c{cl}][{_e(e)}]"] <= n_f,
                                z3.Implies(
                                    s[f"acc[c{cl}][{_e(e)}]"] != 0, num(e) <= s[f"high[c{cl}]"]
                                ),
                            )
                            for e in _epochs(c)
                        ),
                    )
                    for cl in range(c.clients)
                )
            ),
        ),
        (
            "signatures exist only on known files: w[e][f] -> known(f)",
            lambda c, s: z3.And(
                *(z3.Implies(s[_w(e, f)], sym_known(s, f)) for e in _epochs(c) for f in _files(c))
            ),
        ),
        ("an accepted bundle's checks still hold", _accepted_facts),
    ]
    if c.policy == "vetting":
        out.append(
            (
                "vetting: every logged file's keys are attested",
                lambda c, s: z3.And(
                    *(
                        z3.Implies(s[f"logged[{_e(e)}]"] == f, sym_attested(s, f))
                        for e in _epochs(c)
                        for f in _files(c)
                    )
                ),
            )
        )
    if c.corrupted != "witness":
        out.append(
            (
                "honest witness key: w[e][f] -> logged[e] = f",
                lambda c, s: z3.And(
                    *(
                        z3.Implies(s[_w(e, f)], s[f"logged[{_e(e)}]"] == f)
                        for e in _epochs(c)
                        for f in _files(c)
                    )
                ),
            )
        )
    if c.corrupted == "operator":
        out.append(
            (
                "a counter-signature needs the witness signature: o[e][f] -> w[e][f]",
                lambda c, s: z3.And(
                    *(z3.Implies(s[_o(e, f)], s[_w(e, f)]) for e in _epochs(c) for f in _files(c))
                ),
            )
        )
    else:
        out.append(
            (
                "honest operator key: logged[e], o[e][f], of[f] only for the ceremony's file",
                lambda c, s: z3.And(
                    *(
                        _is_one_of(s[f"logged[{_e(e)}]"], [0, file_id(e, CEREMONY)])
                        for e in _epochs(c)
                    ),
                    *(
                        z3.Implies(
                            s[_o(e, f)],
                            z3.BoolVal(False)
                            if f != file_id(e, CEREMONY)
                            else z3.And(s[_w(e, f)], s[f"made[{_e(e)}]"]),
                        )
                        for e in _epochs(c)
                        for f in _files(c)
                    ),
                    *(
                        z3.Implies(
                            s[f"of[{file_name(f)}]"],
                            z3.BoolVal(False)
                            if file_kind(f) != CEREMONY
                            else s[f"made[{_e(file_epoch(f))}]"],
                        )
                        for f in _files(c)
                    ),
                ),
            )
        )
    if c.corrupted != "vendor":
        out.append(
            (
                "honest vendor key: no rogue key attested (not vatt[e])",
                lambda c, s: z3.And(*(z3.Not(s[f"vatt[{_e(e)}]"]) for e in _epochs(c))),
            )
        )
    return out


def i4_conjuncts(c: BundleConfig) -> list[Conjunct]:
    """Inv4: the base conjuncts and I4's own, with every accepted file the ceremony's."""
    return [
        *base_conjuncts(c),
        (
            "acc[c][e] in {0, C<e>}; no rogue, no rollback (I4)",
            lambda c, s: z3.And(
                sym_i4(c, s),
                *(
                    _is_one_of(s[f"acc[c{cl}][{_e(e)}]"], [0, file_id(e, CEREMONY)])
                    for cl in range(c.clients)
                    for e in _epochs(c)
                ),
            ),
        ),
    ]


def i7_conjuncts(c: BundleConfig) -> list[Conjunct]:
    """Inv7: the base conjuncts and I7 itself."""
    return [*base_conjuncts(c), ("every accepted file is logged; no split view (I7)", sym_i7)]


#: The kinds of action an ``IndNext`` obligation is about.
ACTION_KINDS: Final = (
    ("ceremony", Ceremony),
    ("submit", Submit),
    ("countersign", Countersign),
    ("witness_sign", WitnessSign),
    ("vendor_attest", VendorAttest),
    ("deliver", Deliver),
)


def kind_range(config: BundleConfig, kind: type) -> tuple[int, int]:
    """The first and last index in :func:`model.bundles.actions` of the actions of
    ``kind`` (they are contiguous)."""
    indices = [k for k, a in enumerate(actions(config)) if isinstance(a, kind)]
    return indices[0], indices[-1]


def _induction_frame(config: BundleConfig) -> tuple[SymState, SymState, dict[str, BoolTerm]]:
    """The pre- and post-state of an ``IndNext`` query and each kind's relation: the
    BMC's step template with the action index restricted to that kind."""
    pre, post, choice, template = _one_step(config)
    relations = {}
    for name, kind in ACTION_KINDS:
        low, high = kind_range(config, kind)
        relations[name] = z3.And(template, z3.ULE(low, choice), z3.ULE(choice, high))
    return pre, post, relations


def prove(config: BundleConfig, invariant: str) -> list[Obligation]:
    """prove: ``IndInit``, ``IndNext[kind]`` and ``IndProp`` for ``invariant`` (``"I4"``
    or ``"I7"``) on ``config``'s instance. The invariant is ``Inv4`` or ``Inv7``."""
    conjuncts = i4_conjuncts(config) if invariant == "I4" else i7_conjuncts(config)
    inv_name = f"Inv{invariant[1]}"
    pre, post, relations = _induction_frame(config)
    pre_parts = [(text, f(config, pre)) for text, f in conjuncts]
    post_parts = [(text, f(config, post)) for text, f in conjuncts]
    inv_pre = z3.And(*(t for _, t in pre_parts))
    inv_post = z3.And(*(t for _, t in post_parts))
    note = f"the first state satisfies {inv_name}; it need not be reachable"
    legend = _legend(config)
    solver = z3.SolverFor("QF_BV")

    def discharge(
        name: str,
        query: BoolTerm,
        states: list[SymState],
        acts: list[str],
        violated: str,
        parts: list[tuple[str, BoolTerm]],
    ) -> Obligation:
        started = time.perf_counter()
        solver.push()
        solver.add(query)
        answer = solver.check()
        model = solver.model() if answer == z3.sat else None
        solver.pop()
        seconds = time.perf_counter() - started
        if answer == z3.unsat:
            return Obligation(name, "PASS", seconds)
        if model is None:  # pragma: no cover - finite-domain, decidable
            raise RuntimeError(f"{name}: z3 answered {answer}")
        concrete = [value(s, model) for s in states]
        if len(concrete) > 1:
            concrete = project(concrete)
        trace = Trace(concrete, acts, violated, None, note if acts else legend)
        broken = tuple(text for text, t in parts if z3.is_false(model.eval(t, True)))
        return Obligation(name, "FAIL", seconds, trace, broken)

    start = constant(as_columns(initial(config), config))
    init = z3.And(*(pre[k] == v for k, v in start.items()))
    results = [
        discharge(
            f"IndInit[{inv_name}]",
            z3.And(init, z3.Not(inv_pre)),
            [pre],
            [],
            inv_name,
            pre_parts,
        )
    ]
    for kind_name, _ in ACTION_KINDS:
        results.append(
            discharge(
                f"IndNext[{inv_name}][{kind_name}]",
                z3.And(inv_pre, relations[kind_name], z3.Not(inv_post)),
                [pre, post],
                [kind_name],
                inv_name,
                post_parts,
            )
        )
    prop = sym_i4 if invariant == "I4" else sym_i7
    results.append(
        discharge(
            f"IndProp[{invariant}]",
            z3.And(inv_pre, z3.Not(prop(config, pre))),
            [pre],
            [],
            PROPERTIES[invariant],
            [],
        )
    )
    return results


# ---------------------------------------------------------------------------------------
# The whole check

Verdict = Literal["holds", "violated", "unproved", "not claimed"]


@dataclass(frozen=True)
class PartyResult:
    """PartyResult: I4 and I7 with one party corrupted (or none).

    ``bmc`` maps ``"I4"``/``"I7"`` to the bounded search; ``obligations`` the inductive
    obligations per invariant (run only where the BMC found no counterexample: a found
    counterexample already settles the verdict). ``claimed`` is False for I7 with a
    corrupted witness (I7 is promised only with an honest witness).
    """

    corrupted: Party
    bmc: dict[str, BmcResult]
    obligations: dict[str, list[Obligation]]

    def claimed(self, invariant: str) -> bool:
        return not (invariant == "I7" and self.corrupted == "witness")

    def proved(self, invariant: str) -> bool:
        found = self.obligations.get(invariant, [])
        return bool(found) and all(o.status == "PASS" for o in found)

    def verdict(self, invariant: str) -> Verdict:
        if not self.claimed(invariant):
            return "not claimed"
        if self.bmc[invariant].violated:
            return "violated"
        return "holds" if self.proved(invariant) else "unproved"

    def shortest(self, invariant: str) -> int | None:
        """The length of the shortest counterexample, ``None`` if none up to the bound."""
        trace = self.bmc[invariant].trace
        return None if trace is None else trace.length

    def cell(self, invariant: str) -> str:
        """The matrix cell: ``holds``, ``violated (3)``, ``n/a (violated, 4)``, …"""
        n = self.shortest(invariant)
        if not self.claimed(invariant):
            return "n/a" if n is None else f"n/a (violated, {n})"
        verdict = self.verdict(invariant)
        return f"{verdict} ({n})" if n is not None else verdict

    def to_json(self) -> dict[str, object]:
        return {
            "corrupted": self.corrupted,
            "verdicts": {k: self.verdict(k) for k in self.bmc},
            "shortest": {k: self.shortest(k) for k in self.bmc},
            "bmc": {k: r.to_json() for k, r in self.bmc.items()},
            "obligations": {k: [o.to_json() for o in v] for k, v in self.obligations.items()},
        }


@dataclass(frozen=True)
class BundleReport:
    """BundleReport: I4 and I7 for one setting (variant, policy, client attestation),
    per corrupted party (``none``, ``operator``, ``witness``, ``vendor``)."""

    variant: str | None
    policy: Policy
    client_attestation: bool
    parties: dict[str, PartyResult]
    sanity: list[Reachability]
    outline: Outline

    @property
    def setting(self) -> str:
        att = "on" if self.client_attestation else "off"
        return f"{self.variant or 'safe'}, {self.policy} witness, client-attestation {att}"

    def verdict(self, invariant: str, corrupted: Party) -> Verdict:
        """``holds``, ``violated``, ``unproved`` or ``not claimed``."""
        return self.parties[corrupted].verdict(invariant)

    def shortest(self, invariant: str, corrupted: Party) -> int | None:
        return self.parties[corrupted].shortest(invariant)

    def trace(self, invariant: str, corrupted: Party) -> Trace | None:
        return self.parties[corrupted].bmc[invariant].trace

    @property
    def verdicts(self) -> dict[str, dict[str, Verdict]]:
        """``{"I4": {"none": …, "operator": …, …}, "I7": {…}}``."""
        return {k: {p: r.verdict(k) for p, r in self.parties.items()} for k in PROPERTIES}

    @property
    def seconds(self) -> float:
        total = sum(r.seconds for r in self.sanity)
        for party in self.parties.values():
            total += sum(b.seconds for b in party.bmc.values())
            total += sum(o.seconds for v in party.obligations.values() for o in v)
        return total

    def row(self) -> str:
        """One line per invariant: the matrix row of this setting."""
        cells = [
            f"{k}: " + ", ".join(f"{p} {r.cell(k)}" for p, r in self.parties.items())
            for k in PROPERTIES
        ]
        return f"{self.setting} | " + " | ".join(cells)

    def render(self) -> str:
        lines = [f"I4/I7 on validation bundles — {self.setting}"]
        if self.variant is not None:
            for rule in self.variant.split("+"):
                lines.append(f"  variant {rule}: {bundle_variant(rule).breaks}")
        lines.extend(self.outline.render().splitlines())
        for party, result in self.parties.items():
            lines.append(f"corrupted: {party}")
            for k, obligations in result.obligations.items():
                lines.append(f"  inductive obligations for {PROPERTIES[k]}:")
                lines.extend("    " + r for o in obligations for r in o.render().splitlines())
            for k, b in result.bmc.items():
                lines.extend("  " + r for r in b.render().splitlines())
                lines.append(f"  {PROPERTIES[k]}: {result.cell(k)}")
        lines.extend(r.render() for r in self.sanity)
        table = "; ".join(
            f"{k} " + ", ".join(f"{p}={r.cell(k)}" for p, r in self.parties.items())
            for k in PROPERTIES
        )
        lines.append(f"verdict: {table} ({self.seconds * 1000:.0f} ms)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "invariants": list(PROPERTIES.values()),
            "variant": self.variant,
            "policy": self.policy,
            "client_attestation": self.client_attestation,
            "verdicts": self.verdicts,
            "shortest": {
                k: {p: r.shortest(k) for p, r in self.parties.items()} for k in PROPERTIES
            },
            "seconds": self.seconds,
            "outline": self.outline.to_json(),
            "parties": {p: r.to_json() for p, r in self.parties.items()},
            "sanity": [r.to_json() for r in self.sanity],
        }


def bundle_outline(config: BundleConfig) -> Outline:
    """The outline: what the check assumes and the conjuncts of Inv4 (for ``config``)."""
    return Outline(
        [
            f"instance: {config.epochs} epochs, files C/R/Q per epoch, {config.clients} clients",
            "signatures are perfect: a signature by an honest key exists only if its "
            "holder's rules produced it; a corrupted key signs anything known",
            "SHA-256 is injective: a digest names one file",
            "the network shows any client any bundle made of existing signatures",
            f"witness policy {config.policy}; client-attestation "
            f"{'on' if config.checks_attestation else 'off'}",
        ],
        [text for text, _ in i4_conjuncts(config)],
    )


def _validate(variant: str | None) -> None:
    if variant is None:
        return
    known = set(BUNDLE_VARIANT_NAMES)
    if any(rule not in known for rule in variant.split("+")):
        raise KeyError(variant)


def check_bundles(
    variant: str | None = None, policy: Policy = "log-only", client_attestation: bool = True
) -> BundleReport:
    """check_bundles: I4 and I7 for one setting, for each corrupted party (and none):
    the shortest counterexample up to ``MAX_DEPTH`` steps and, where none is found, the
    inductive obligations. ``variant`` is ``None``, a name of
    :data:`model.bundles.BUNDLE_VARIANT_NAMES`, or several joined by ``+``."""
    _validate(variant)
    if policy not in POLICIES:
        raise KeyError(policy)
    parties: dict[str, PartyResult] = {}
    checks = None
    for party in PARTIES:
        config = BundleConfig(variant, policy, client_attestation, party)
        machine = Unrolling(config)
        results = {k: bmc(config, k, MAX_DEPTH, machine) for k in PROPERTIES}
        obligations = {
            k: prove(config, k)
            for k, r in results.items()
            if not r.violated and not (k == "I7" and party == "witness")
        }
        parties[party] = PartyResult(party, results, obligations)
        if party == "none" and variant is None:
            checks = sanity(config, machine)
    effective = BundleConfig(variant, policy, client_attestation)
    return BundleReport(
        variant,
        policy,
        effective.checks_attestation,
        parties,
        checks or [],
        bundle_outline(effective),
    )


#: The settings of the matrix: witness policy x client attestation.
SETTINGS: Final[tuple[tuple[Policy, bool], ...]] = tuple(
    (p, a) for p in POLICIES for a in (True, False)
)


def check_matrix(variant: str | None = None) -> list[BundleReport]:
    """check_matrix: :func:`check_bundles` for every witness policy and client-attestation
    setting (``log-only``/on, ``log-only``/off, ``vetting``/on, ``vetting``/off)."""
    return [check_bundles(variant, p, a) for p, a in SETTINGS]


#: The settings every variant is checked in: the default (``log-only`` witness, client
#: attestation on) and the one where the signatures are the only protection
#: (``log-only``, client attestation off).
VARIANT_SETTINGS: Final[tuple[tuple[Policy, bool], ...]] = (("log-only", True), ("log-only", False))


def check_all_bundle_variants() -> list[BundleReport]:
    """check_all_bundle_variants: every unsafe variant of the catalogue, and the
    combinations of :data:`model.bundles.BUNDLE_COMBINATIONS`, in catalogue order, each in
    the settings of :data:`VARIANT_SETTINGS` (``no-client-attestation`` once: it is the
    attestation-off setting)."""
    out: list[BundleReport] = []
    for variant in (*BUNDLE_VARIANT_NAMES, *BUNDLE_COMBINATIONS):
        for policy, attestation in VARIANT_SETTINGS:
            if variant == "no-client-attestation" and attestation:
                continue
            out.append(check_bundles(variant, policy, attestation))
    return out


def render_matrix(reports: list[BundleReport]) -> str:
    """render_matrix: the setting x corrupted-party table of I4/I7 cells, one row each."""
    header = ["setting", *(f"{k} {p}" for k in PROPERTIES for p in PARTIES)]
    rows = [
        [r.setting, *(r.parties[p].cell(k) for k in PROPERTIES for p in PARTIES)] for r in reports
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )
