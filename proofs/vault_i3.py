"""proofs.vault_i3: invariant I3 ``attempt-limit`` for one registration, checked with Z3.

What is encoded
    The per-registration vault machine of :func:`model.vault.guess_record`: five state
    variables (``attempts``, ``wrong_answered``, ``released``, ``destroyed``,
    ``answered_after_destroy``: the model's ``Record`` without the method, registration
    number and secret, which no step changes) and four actions, one per ``(correct,
    crash)`` pair of the model's step. Each action is a relation ``T_a(pre, post)``; the
    model is deterministic, so ``T_a`` is a function written as nested ``If`` terms that
    follow the model's branches one for one, variant branches included. The tests check
    the encoding against the Python model on concrete states.

What is checked
    ``P = wrong_answered <= limit ∧ ¬answered_after_destroy`` (I3 for one record, as
    :func:`model.vault.check_i3` states it) through an inductive invariant ``Inv``, in
    Apalache's three named obligations: ``IndInit`` (Init ⇒ Inv), ``IndNext[a]`` for each
    action (Inv ∧ T_a ⇒ Inv′) and ``IndProp`` (Inv ⇒ P). Each is one ``push``/``pop`` frame
    on one solver. The limit in these obligations is a Z3 integer constrained only by
    ``limit >= 1``, so a PASS holds for *every* limit, not only the configured one.
    A bounded model check (Biere et al. 1999) then unrolls the machine from a fresh
    registration with the *configured* limit, depth 0, 1, 2, … so that the first
    counterexample to ``P`` is a shortest one, and sanity queries (mypyvy style) show the
    safe machine can release the secret, reach the limit and destroy the record.

What this proves, and what it does not
    The vault is a product of independent per-registration machines: the model's
    ``guess`` reads and writes one user's record only, and ``register`` replaces a record
    with a fresh one (a new registration, a new budget — I5's concern, not I3's). I3 is a
    property of each record, so this machine's proof is I3 for the one-HSM model. It says
    nothing about replication, rollback or the fleet (that is I2 and the simulation), and
    nothing about the Python model's other paths (methods without the vault never touch
    the budget). The induction is unbounded in time and parametric in the limit; the BMC
    is bounded (``max_depth``) and concrete in the limit: it finds shortest counterexamples
    but proves nothing beyond its depth on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final, Literal, TypeAlias

import z3

from model.vault import I3_NAME, VARIANTS, VaultConfig
from proofs.report import BmcResult, Obligation, Outline, Reachability, State, Trace

#: The name every report uses for the property: the invariant id and its name.
PROPERTY_NAME: Final = f"I3 {I3_NAME}"

#: The inductive invariant's name in obligations and counterexamples.
INVARIANT_NAME: Final = "Inv"

#: The actions of the machine: name -> (correct, crash), the arguments of the model's step.
ACTIONS: Final[Mapping[str, tuple[bool, bool]]] = {
    "guess_right": (True, False),
    "guess_wrong": (False, False),
    "guess_right_crash": (True, True),
    "guess_wrong_crash": (False, True),
}

#: The state variables, in the order traces print them.
INT_VARIABLES: Final = ("attempts", "wrong_answered", "released")
BOOL_VARIABLES: Final = ("destroyed", "answered_after_destroy")
VARIABLES: Final = INT_VARIABLES + BOOL_VARIABLES


# ---------------------------------------------------------------------------------------
# Symbolic states
#
# z3 ships no type information, so its terms are ``Any`` to mypy. They are kept inside
# ``SymState`` and the functions below, and never leave this module: reports carry plain
# ``int`` and ``bool`` values only.

#: A Z3 integer term (``z3.ArithRef``) and a Z3 formula (``z3.BoolRef``), named for readers.
IntTerm: TypeAlias = Any
BoolTerm: TypeAlias = Any


@dataclass(frozen=True)
class SymState:
    """SymState: one state of the machine as Z3 terms (the model's ``Record`` fields)."""

    attempts: IntTerm  # the durable charge
    wrong_answered: IntTerm  # ghost: wrong guesses answered to the world
    released: IntTerm  # ghost: secrets released
    destroyed: BoolTerm  # the record is gone
    answered_after_destroy: BoolTerm  # ghost: a destroyed record answered again

    @staticmethod
    def fresh(prefix: str) -> SymState:
        """Fresh constants ``<prefix>.attempts`` … for a pre-, post- or trace state."""
        return SymState(
            attempts=z3.Int(f"{prefix}.attempts"),
            wrong_answered=z3.Int(f"{prefix}.wrong_answered"),
            released=z3.Int(f"{prefix}.released"),
            destroyed=z3.Bool(f"{prefix}.destroyed"),
            answered_after_destroy=z3.Bool(f"{prefix}.answered_after_destroy"),
        )

    @staticmethod
    def of(state: State) -> SymState:
        """The constant terms of a concrete state."""
        return SymState(
            attempts=z3.IntVal(int(state["attempts"])),
            wrong_answered=z3.IntVal(int(state["wrong_answered"])),
            released=z3.IntVal(int(state["released"])),
            destroyed=z3.BoolVal(bool(state["destroyed"])),
            answered_after_destroy=z3.BoolVal(bool(state["answered_after_destroy"])),
        )

    def equals(self, other: SymState) -> BoolTerm:
        """Every variable of ``self`` equals the same variable of ``other``."""
        return z3.And(*(getattr(self, f.name) == getattr(other, f.name) for f in fields(self)))

    def value(self, model: z3.ModelRef) -> State:
        """The concrete state a Z3 model assigns (unconstrained variables read as 0/false)."""
        out: State = {}
        for name in INT_VARIABLES:
            out[name] = int(model.eval(getattr(self, name), model_completion=True).as_long())
        for name in BOOL_VARIABLES:
            out[name] = bool(z3.is_true(model.eval(getattr(self, name), model_completion=True)))
        return out


def _ite(condition: BoolTerm, then: SymState, otherwise: SymState) -> SymState:
    """The state ``then`` where ``condition`` holds, else ``otherwise``, variable by variable."""
    return SymState(
        *(z3.If(condition, getattr(then, f.name), getattr(otherwise, f.name)) for f in fields(then))
    )


# ---------------------------------------------------------------------------------------
# The machine: Init and the four actions


def init(s: SymState) -> BoolTerm:
    """Init: a fresh registration: nothing charged, nothing answered, not destroyed."""
    return z3.And(
        s.attempts == 0,
        s.wrong_answered == 0,
        s.released == 0,
        z3.Not(s.destroyed),
        z3.Not(s.answered_after_destroy),
    )


def _answer(s: SymState, correct: bool) -> SymState:
    """Ghost bookkeeping of one answered comparison (the model's ``_answer``)."""
    flagged = z3.Or(s.answered_after_destroy, s.destroyed)
    if correct:
        return replace(s, released=s.released + 1, answered_after_destroy=flagged)
    return replace(s, wrong_answered=s.wrong_answered + 1, answered_after_destroy=flagged)


def step(config: VaultConfig, action: str, pre: SymState, limit: IntTerm) -> SymState:
    """step: the post-state of ``action`` from ``pre``, as terms; mirrors ``guess_record``.

    ``limit`` is a term so the same code serves the concrete limit (BMC) and a symbolic
    one (the parametric induction); ``config.variant`` selects the branches, as in the
    model. Read bottom-up: the innermost ``If`` is the model's last line.
    """
    correct, crash = ACTIONS[action]
    variant = config.variant

    def at_limit(attempts: IntTerm) -> BoolTerm:
        return attempts > limit if variant == "off-by-one-limit" else attempts >= limit

    if variant == "check-before-charge":
        # Compare and answer first; the charge comes after the answer, and a crash in
        # between loses it.
        answered = _answer(pre, correct)
        if crash:
            body = answered
        else:
            body = replace(answered, attempts=pre.attempts + 1)
            if not correct:
                body = _ite(
                    at_limit(body.attempts), replace(body, destroyed=z3.BoolVal(True)), body
                )
    else:
        # Charge before check: the attempt is durable before anything is compared.
        charged = replace(pre, attempts=pre.attempts + 1)
        if crash:
            body = charged
        else:
            body = _answer(charged, correct)
            if not correct and variant != "no-destroy":
                body = _ite(
                    at_limit(charged.attempts), replace(body, destroyed=z3.BoolVal(True)), body
                )

    if variant != "no-destroy":
        # A crash left the record charged to the limit: destroy before comparing.
        body = _ite(at_limit(pre.attempts), replace(pre, destroyed=z3.BoolVal(True)), body)
    # A destroyed record answers ``Destroyed`` and never changes.
    return _ite(pre.destroyed, pre, body)


def transition(
    config: VaultConfig,
    action: str,
    pre: SymState,
    post: SymState,
    limit: IntTerm | None = None,
) -> BoolTerm:
    """transition: the relation ``T_action(pre, post)`` under ``config``.

    ``limit`` defaults to the configured ``max_attempts``; pass a Z3 integer constant to
    reason about every limit at once.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    bound = z3.IntVal(config.max_attempts) if limit is None else limit
    return post.equals(step(config, action, pre, bound))


def successors(config: VaultConfig, action: str, pre: State, at_most: int = 3) -> list[State]:
    """successors: every post-state ``transition`` allows from the concrete ``pre``.

    Enumerates models of ``T_action(pre, post)`` with blocking clauses, up to ``at_most``
    of them; a faithful encoding of a deterministic step yields exactly one. This is what
    the tests compare with :func:`model.vault.guess_record`.
    """
    solver = z3.Solver()
    post = SymState.fresh("post")
    solver.add(transition(config, action, SymState.of(pre), post))
    found: list[State] = []
    while len(found) < at_most and solver.check() == z3.sat:
        value = post.value(solver.model())
        found.append(value)
        solver.add(z3.Not(post.equals(SymState.of(value))))
    return found


def post_state(config: VaultConfig, action: str, pre: State) -> State:
    """post_state: the one post-state ``transition`` allows from ``pre``.

    Raises ``ValueError`` if the relation allows none or several (the encoding of a
    deterministic step would then be wrong).
    """
    found = successors(config, action, pre, at_most=2)
    if len(found) != 1:
        raise ValueError(f"{action} from {pre}: {len(found)} post-states, expected exactly 1")
    return found[0]


# ---------------------------------------------------------------------------------------
# The property and its inductive invariant


def attempt_limit(s: SymState, limit: IntTerm) -> BoolTerm:
    """P, I3 ``attempt-limit`` on one record: at most ``limit`` wrong guesses answered,
    and a destroyed record never answered again."""
    return z3.And(s.wrong_answered <= limit, z3.Not(s.answered_after_destroy))


# [invariant-start]
#: The conjuncts of Inv, each with the text reports print. Together they are inductive for
#: the safe vault and every limit >= 1. P follows: wrong_answered <= wrong_answered +
#: released <= attempts <= limit, and the last conjunct is P's second half.
INVARIANT: Final[tuple[tuple[str, Callable[[SymState, IntTerm], BoolTerm]], ...]] = (
    ("0 <= wrong_answered", lambda s, limit: s.wrong_answered >= 0),
    ("0 <= released", lambda s, limit: s.released >= 0),
    # Every answer was charged first (charge before check): answers <= charges.
    (
        "wrong_answered + released <= attempts",
        lambda s, limit: s.wrong_answered + s.released <= s.attempts,
    ),
    # The charge never passes the limit: the request that finds it there destroys.
    ("attempts <= limit", lambda s, limit: s.attempts <= limit),
    # Only a record charged to the limit is destroyed.
    (
        "destroyed => attempts = limit",
        lambda s, limit: z3.Implies(s.destroyed, s.attempts == limit),
    ),
    ("not answered_after_destroy", lambda s, limit: z3.Not(s.answered_after_destroy)),
)
# [invariant-end]


def invariant(s: SymState, limit: IntTerm) -> BoolTerm:
    """Inv: the conjunction of ``INVARIANT``."""
    return z3.And(*(conjunct(s, limit) for _, conjunct in INVARIANT))


def _broken(s: SymState, limit: IntTerm, model: z3.ModelRef) -> tuple[str, ...]:
    """The names of the conjuncts of Inv that ``model`` makes false in ``s``."""
    return tuple(
        name
        for name, conjunct in INVARIANT
        if z3.is_false(model.eval(conjunct(s, limit), model_completion=True))
    )


# ---------------------------------------------------------------------------------------
# Inductive obligations (Apalache: IndInit, IndNext, IndProp)


def _limit_value(limit: IntTerm, model: z3.ModelRef) -> int:
    return int(model.eval(limit, model_completion=True).as_long())


def prove_inductive(config: VaultConfig, parametric: bool = True) -> list[Obligation]:
    """prove_inductive: ``IndInit``, ``IndNext[a]`` for every action, ``IndProp``.

    With ``parametric`` the limit is a Z3 constant with ``limit >= 1`` only, so a PASS is
    a proof for every limit; a FAIL's counterexample is taken at the configured limit
    when one exists there (else at whatever limit the solver chose, which the trace
    states). Without it, the limit is ``config.max_attempts``.
    """
    solver = z3.Solver()
    limit: IntTerm = z3.Int("limit") if parametric else z3.IntVal(config.max_attempts)
    solver.add(limit >= 1)
    pre, post = SymState.fresh("pre"), SymState.fresh("post")

    def discharge(
        name: str,
        negated: BoolTerm,
        counterexample: Callable[[z3.ModelRef], tuple[Trace, tuple[str, ...]]],
    ) -> Obligation:
        started = time.perf_counter()
        solver.push()
        solver.add(negated)
        answer = solver.check()
        model: z3.ModelRef | None = None
        if answer == z3.sat:
            model = solver.model()
            if parametric:
                solver.push()
                solver.add(limit == config.max_attempts)
                if solver.check() == z3.sat:
                    model = solver.model()
                solver.pop()
        solver.pop()
        seconds = time.perf_counter() - started
        if answer == z3.unsat:
            return Obligation(name, "PASS", seconds)
        if model is None:  # unknown: never expected for this linear, quantifier-free query
            raise RuntimeError(f"{name}: z3 answered {answer}")
        trace, broken = counterexample(model)
        return Obligation(name, "FAIL", seconds, trace, broken)

    def consecution(action: str) -> Callable[[z3.ModelRef], tuple[Trace, tuple[str, ...]]]:
        def counterexample(m: z3.ModelRef) -> tuple[Trace, tuple[str, ...]]:
            trace = Trace(
                [pre.value(m), post.value(m)],
                [action],
                INVARIANT_NAME,
                _limit_value(limit, m),
                "the first state satisfies Inv; it need not be reachable",
            )
            return trace, _broken(post, limit, m)

        return counterexample

    results = [
        discharge(
            "IndInit",
            z3.And(init(pre), z3.Not(invariant(pre, limit))),
            lambda m: (
                Trace([pre.value(m)], [], INVARIANT_NAME, _limit_value(limit, m)),
                _broken(pre, limit, m),
            ),
        )
    ]
    for action in ACTIONS:
        results.append(
            discharge(
                f"IndNext[{action}]",
                z3.And(
                    invariant(pre, limit),
                    transition(config, action, pre, post, limit),
                    z3.Not(invariant(post, limit)),
                ),
                consecution(action),
            )
        )
    results.append(
        discharge(
            "IndProp",
            z3.And(invariant(pre, limit), z3.Not(attempt_limit(pre, limit))),
            lambda m: (
                Trace([pre.value(m)], [], PROPERTY_NAME, _limit_value(limit, m)),
                (),
            ),
        )
    )
    return results


# ---------------------------------------------------------------------------------------
# Bounded model checking and reachability


class Unrolling:
    """Unrolling: the machine from a fresh registration, ``s0 -a0-> s1 -a1-> …``, on one
    incremental solver under the configured (concrete) limit.

    ``a_i`` is an integer naming the action of step ``i`` (its index in ``ACTIONS``).
    Steps are added once and kept; each query is a ``push``/``pop`` frame over them, so
    searching depth 0, 1, 2, … costs one small solver call per depth.
    """

    def __init__(self, config: VaultConfig) -> None:
        self.config = config
        self.limit: IntTerm = z3.IntVal(config.max_attempts)
        self.solver = z3.Solver()
        self.states = [SymState.fresh("s0")]
        self.choices: list[IntTerm] = []
        self.solver.add(init(self.states[0]))

    @property
    def depth(self) -> int:
        return len(self.choices)

    def extend_to(self, depth: int) -> None:
        """Add steps until the unrolling is ``depth`` steps long."""
        names = list(ACTIONS)
        while self.depth < depth:
            i = self.depth
            pre, post = self.states[i], SymState.fresh(f"s{i + 1}")
            choice = z3.Int(f"a{i}")
            self.solver.add(choice >= 0, choice < len(names))
            for index, action in enumerate(names):
                self.solver.add(
                    z3.Implies(choice == index, transition(self.config, action, pre, post))
                )
            self.states.append(post)
            self.choices.append(choice)

    def shortest(
        self, goal: Callable[[SymState, IntTerm], BoolTerm], max_depth: int
    ) -> tuple[list[State], list[str]] | None:
        """The shortest path from Init to a state satisfying ``goal``, or ``None`` up to
        ``max_depth``. Among shortest paths, the one whose action sequence comes first in
        ``ACTIONS`` order (a deterministic, readable choice: mypyvy minimises too)."""
        names = list(ACTIONS)
        for depth in range(max_depth + 1):
            self.extend_to(depth)
            self.solver.push()
            self.solver.add(goal(self.states[depth], self.limit))
            if self.solver.check() == z3.sat:
                # Fix the actions one by one to the first that keeps a path.
                for choice in self.choices[:depth]:
                    for index in range(len(names)):
                        self.solver.push()
                        self.solver.add(choice == index)
                        if self.solver.check() == z3.sat:
                            self.solver.pop()
                            self.solver.add(choice == index)
                            break
                        self.solver.pop()
                self.solver.check()
                model = self.solver.model()
                states = [s.value(model) for s in self.states[: depth + 1]]
                actions = [
                    names[int(model.eval(c, model_completion=True).as_long())]
                    for c in self.choices[:depth]
                ]
                self.solver.pop()
                return states, actions
            self.solver.pop()
        return None


def default_depth(config: VaultConfig) -> int:
    """The default BMC bound: three steps past the limit."""
    return config.max_attempts + 3


def bmc(
    config: VaultConfig, max_depth: int | None = None, unrolling: Unrolling | None = None
) -> BmcResult:
    """bmc: search depth 0, 1, … ``max_depth`` for a state that breaks I3; the first found
    is a shortest counterexample."""
    bound = default_depth(config) if max_depth is None else max_depth
    machine = Unrolling(config) if unrolling is None else unrolling
    started = time.perf_counter()
    found = machine.shortest(lambda s, limit: z3.Not(attempt_limit(s, limit)), bound)
    seconds = time.perf_counter() - started
    if found is None:
        return BmcResult(PROPERTY_NAME, bound, bound, seconds)
    states, actions = found
    trace = Trace(states, actions, PROPERTY_NAME, config.max_attempts)
    return BmcResult(PROPERTY_NAME, bound, trace.length, seconds, trace)


#: The sanity queries: a name and the goal a reachable state should meet.
SANITY: Final[tuple[tuple[str, Callable[[SymState, IntTerm], BoolTerm]], ...]] = (
    ("secret released", lambda s, limit: s.released >= 1),
    ("limit reached", lambda s, limit: s.wrong_answered == limit),
    ("record destroyed", lambda s, limit: s.destroyed),
)


def sanity(
    config: VaultConfig, max_depth: int | None = None, unrolling: Unrolling | None = None
) -> list[Reachability]:
    """sanity: can the machine release, answer ``limit`` wrong guesses, destroy?

    A machine that can do nothing satisfies every safety property; these queries show the
    safe vault is not such a machine. (Under ``no-destroy``, "record destroyed" is
    unreachable, as it should be.)
    """
    bound = default_depth(config) if max_depth is None else max_depth
    machine = Unrolling(config) if unrolling is None else unrolling
    out: list[Reachability] = []
    for name, goal in SANITY:
        started = time.perf_counter()
        found = machine.shortest(goal, bound)
        seconds = time.perf_counter() - started
        witness = None if found is None else Trace(*found, None, config.max_attempts)
        out.append(Reachability(name, witness is not None, bound, seconds, witness))
    return out


# ---------------------------------------------------------------------------------------
# The whole check

Verdict = Literal["holds", "violated", "unproved"]


@dataclass(frozen=True)
class I3Report:
    """I3Report: the inductive obligations, the BMC and the sanity queries for one config.

    ``verdict`` is ``"violated"`` when the BMC found a counterexample (then ``trace`` is a
    shortest one), ``"holds"`` when every obligation passed (for every limit if
    ``parametric``), and ``"unproved"`` when an obligation failed but no counterexample
    exists up to the BMC bound.
    """

    config: VaultConfig
    parametric: bool
    outline: Outline
    obligations: list[Obligation]
    bmc: BmcResult
    sanity: list[Reachability]

    @property
    def proved(self) -> bool:
        return all(o.status == "PASS" for o in self.obligations)

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
        """The shortest counterexample to I3, if the BMC found one."""
        return self.bmc.trace

    @property
    def seconds(self) -> float:
        return (
            sum(o.seconds for o in self.obligations)
            + self.bmc.seconds
            + sum(r.seconds for r in self.sanity)
        )

    def render(self) -> str:
        variant = self.config.variant or "safe"
        scope = "every limit >= 1" if self.parametric else f"limit {self.config.max_attempts}"
        lines = [
            f"{PROPERTY_NAME} — vault {variant}, limit {self.config.max_attempts}",
        ]
        if self.config.variant is not None:
            lines.append(f"  variant: {VARIANTS[self.config.variant]}")
        lines.extend(self.outline.render().splitlines())
        lines.append(f"inductive obligations ({scope}):")
        lines.extend("  " + row for o in self.obligations for row in o.render().splitlines())
        lines.extend(self.bmc.render().splitlines())
        lines.extend(r.render() for r in self.sanity)
        lines.append(f"verdict: {PROPERTY_NAME} {self.verdict} ({self.seconds * 1000:.0f} ms)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "invariant": PROPERTY_NAME,
            "variant": self.config.variant,
            "max_attempts": self.config.max_attempts,
            "parametric": self.parametric,
            "verdict": self.verdict,
            "seconds": self.seconds,
            "outline": self.outline.to_json(),
            "obligations": [o.to_json() for o in self.obligations],
            "bmc": self.bmc.to_json(),
            "sanity": [r.to_json() for r in self.sanity],
        }


def outline(parametric: bool = True) -> Outline:
    """The proof's outline: what it assumes and the conjuncts of Inv."""
    assumptions = [
        "one registration's record; other records are untouched by its steps",
        "limit >= 1 (any integer)" if parametric else "limit = the configured max_attempts",
        "Init: attempts = wrong_answered = released = 0, not destroyed",
        f"actions: {', '.join(ACTIONS)}",
    ]
    return Outline(assumptions, [name for name, _ in INVARIANT])


#: The safe vault with the default limit.
SAFE: Final = VaultConfig()


def check_i3(
    config: VaultConfig = SAFE,
    max_depth: int | None = None,
    parametric: bool = True,
) -> I3Report:
    """check_i3: prove I3 ``attempt-limit`` for ``config`` or find its shortest violation.

    Runs the inductive obligations (parametric in the limit unless told otherwise), the
    BMC to ``max_depth`` (default ``max_attempts + 3``) and the sanity queries, sharing
    one unrolling between the last two.
    """
    obligations = prove_inductive(config, parametric)
    machine = Unrolling(config)
    checked = bmc(config, max_depth, machine)
    queries = sanity(config, max_depth, machine)
    return I3Report(config, parametric, outline(parametric), obligations, checked, queries)


def check_all(max_attempts: int = SAFE.max_attempts) -> list[I3Report]:
    """check_all: ``check_i3`` on the safe vault and on every unsafe variant."""
    configs = [VaultConfig(max_attempts)] + [VaultConfig(max_attempts, v) for v in VARIANTS]
    return [check_i3(config) for config in configs]
