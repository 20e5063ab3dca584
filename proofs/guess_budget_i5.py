"""proofs.guess_budget_i5: I5 ``guess-budget`` across registrations and fleet migrations.

What is encoded
    The machine of :mod:`model.budget` with its parameters, the attempt ``limit`` and the
    number of ``fleets``, as Z3 integers (``limit >= 1``, ``fleets >= 1``): the state is
    the user's fleet and record (``latest``, ``fleet``, ``attempts``, ``destroyed``,
    ``proved``, ``mine``, the registration number ``reg`` and the version ``enrol`` her
    captured enrolment names), the most recently retired fleet (``retired_reg``,
    ``retired_enrol``, and ``old_live`` / ``old_attempts`` for a record a replay brought
    back there), ``squat`` (the adversary's own record on the newest fleet) and the ghost
    counters ``wrong`` (wrong guesses answered against the password since the user last
    proved it, on any fleet), ``wrong_total`` and ``refused`` (replayed enrolments
    refused). Each action, the user's (``deploy``, ``guess_wrong``, ``prove``,
    ``migrate``) and the channel adversary's (``begin_recovery``, ``guess_elsewhere``,
    ``replay_enrolment``, ``replay_retired``, ``register_own``, ``register_own_newest``,
    ``register_own_retired``, ``guess_wrong_retired``), is a guard and an update written
    branch for branch with :func:`model.budget.step`; ``tests/test_proofs_bundles.py``
    (sampled states) and ``tests/test_budget_channel.py`` (every reachable state within a
    bound) check the two agree.

The adversary's assumption
    It replays any captured enrolment at the fleet it was sealed to, any number of times,
    registers secrets of its own for the user's id, guesses and sends ``BeginRecovery``
    anywhere; it cannot open or alter a sealed request nor prove a secret it does not
    hold, so a replay names the version its original named and carries no proof. That is
    taken, not proved, here (it is the HPKE session's promise).

Checks
    - ``IndInit``, ``IndNext[action]`` and ``IndProp[I5]`` for an inductive invariant
      ``Inv`` (:data:`BUDGET_INVARIANT`): unbounded in time and parametric in the limit
      and the number of fleets;
    - a bounded model check from the initial state, depth 0, 1, 2, …, with the
      parameters free: the first counterexample is a shortest one, and among those the
      one with the smallest limit and fewest fleets (the re-registration amplification
      under ``migrate-on-server-request``; the replayed enrolment over a destroyed record
      under ``replayable-registration``, which also gets the witness of a retired record
      brought back, :data:`RESURRECTION`);
    - sanity: the safe machine can migrate, destroy a record, refuse a replayed enrolment
      (after a destroy and after a migration) and let the adversary register over a
      tombstone.

What this does not cover
    The vault's per-registration rules (charge before check, the compare-and-swap on
    guesses) are taken from I3's proofs, not re-proved; only the most recently retired
    fleet is tracked (an older one is the same tombstone argument); the user's own
    re-registration on one fleet (allowed right after a proof) is not an action.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

import z3

from model.budget import (
    ALL_BUDGET_VARIANT_NAMES,
    BUDGET_ACTIONS,
    BUDGET_CHANNEL_VARIANTS,
    I5_NAME,
    BudgetAction,
    BudgetConfig,
    BudgetState,
)
from model.bundles import bundle_variant
from proofs.report import BmcResult, Obligation, Outline, Reachability, State, Trace

I5_PROPERTY: Final = f"I5 {I5_NAME}"
INVARIANT_NAME: Final = "Inv"

IntTerm: TypeAlias = Any
BoolTerm: TypeAlias = Any

#: The state's variables, in the order traces print them.
INTS: Final = (
    "latest",
    "fleet",
    "attempts",
    "wrong",
    "wrong_total",
    "reg",
    "enrol",
    "retired_reg",
    "retired_enrol",
    "old_attempts",
    "refused",
)
BOOLS: Final = ("destroyed", "proved", "mine", "old_live", "squat")
COLUMNS: Final = (
    *INTS[:3],
    "destroyed",
    "proved",
    *INTS[3:5],
    "mine",
    "reg",
    "enrol",
    "retired_reg",
    "retired_enrol",
    "old_live",
    "old_attempts",
    "squat",
    "refused",
)


@dataclass(frozen=True)
class Params:
    """Params: the attempt limit and the number of fleets, as Z3 integers."""

    limit: IntTerm
    fleets: IntTerm

    @staticmethod
    def fresh() -> Params:
        return Params(z3.Int("limit"), z3.Int("fleets"))

    @staticmethod
    def of(config: BudgetConfig) -> Params:
        return Params(z3.IntVal(config.limit), z3.IntVal(config.fleets))

    def assumptions(self) -> list[BoolTerm]:
        return [self.limit >= 1, self.fleets >= 1]


@dataclass(frozen=True)
class Sym:
    """Sym: a symbolic state of the budget machine."""

    terms: dict[str, Any]

    @staticmethod
    def fresh(prefix: str) -> Sym:
        terms: dict[str, Any] = {n: z3.Int(f"{prefix}.{n}") for n in INTS}
        terms.update({n: z3.Bool(f"{prefix}.{n}") for n in BOOLS})
        return Sym(terms)

    @staticmethod
    def of(state: BudgetState) -> Sym:
        terms: dict[str, Any] = {n: z3.IntVal(getattr(state, n)) for n in INTS}
        terms.update({n: z3.BoolVal(getattr(state, n)) for n in BOOLS})
        return Sym(terms)

    def __getitem__(self, name: str) -> Any:
        return self.terms[name]

    def value(self, model: z3.ModelRef) -> State:
        out: State = {}
        for name in COLUMNS:
            got = model.eval(self.terms[name], model_completion=True)
            out[name] = bool(z3.is_true(got)) if name in BOOLS else int(got.as_long())
        return out


def as_columns(state: BudgetState) -> State:
    """as_columns: the model state as trace columns."""
    return {name: getattr(state, name) for name in COLUMNS}


def init(s: Sym) -> BoolTerm:
    """Init (:func:`model.budget.initial`): registered on fleet 1 by proving the password."""
    return z3.And(
        s["latest"] == 1,
        s["fleet"] == 1,
        s["attempts"] == 0,
        z3.Not(s["destroyed"]),
        s["proved"],
        s["wrong"] == 0,
        s["wrong_total"] == 0,
        s["mine"],
        s["reg"] == 1,
        s["enrol"] == 0,
        s["retired_reg"] == 0,
        s["retired_enrol"] == 0,
        z3.Not(s["old_live"]),
        s["old_attempts"] == 0,
        z3.Not(s["squat"]),
        s["refused"] == 0,
    )


def _same(pre: Sym, post: Sym, *changed: str) -> list[BoolTerm]:
    return [post[n] == pre[n] for n in COLUMNS if n not in changed]


def transition(
    variant: str | None, action: BudgetAction, p: Params, pre: Sym, post: Sym
) -> BoolTerm:
    """transition: ``T_action(pre, post)``, branch for branch with
    :func:`model.budget.step`."""
    replayable = variant == "replayable-registration"
    if action == "deploy":
        return z3.And(
            pre["latest"] < p.fleets,
            post["latest"] == pre["latest"] + 1,
            z3.Not(post["squat"]),
            *_same(pre, post, "latest", "squat"),
        )
    if action == "guess_wrong":
        attempts = pre["attempts"] + 1
        counted = z3.If(pre["mine"], 1, 0)
        return z3.And(
            z3.Not(pre["destroyed"]),
            pre["attempts"] < p.limit,
            post["attempts"] == attempts,
            post["destroyed"] == (attempts >= p.limit),
            z3.Not(post["proved"]),
            post["wrong"] == pre["wrong"] + counted,
            post["wrong_total"] == pre["wrong_total"] + counted,
            *_same(pre, post, "attempts", "destroyed", "proved", "wrong", "wrong_total"),
        )
    if action == "prove":
        return z3.And(
            pre["mine"],
            z3.Not(pre["destroyed"]),
            pre["attempts"] < p.limit,
            post["attempts"] == pre["attempts"] + 1,
            post["proved"],
            post["wrong"] == 0,
            *_same(pre, post, "attempts", "proved", "wrong"),
        )
    if action == "migrate":
        allowed = z3.BoolVal(True) if variant == "migrate-on-server-request" else pre["proved"]
        return z3.And(
            pre["mine"],
            z3.Not(pre["destroyed"]),
            pre["fleet"] < pre["latest"],
            z3.Not(pre["squat"]),
            allowed,
            post["fleet"] == pre["latest"],
            post["attempts"] == 0,
            post["reg"] == 1,
            post["enrol"] == 0,
            post["retired_reg"] == pre["reg"],
            post["retired_enrol"] == pre["enrol"],
            *_same(pre, post, "fleet", "attempts", "reg", "enrol", "retired_reg", "retired_enrol"),
        )
    if action in ("begin_recovery", "guess_elsewhere"):
        return z3.And(*_same(pre, post))
    if action == "replay_enrolment":
        at_version = z3.And(pre["reg"] == pre["enrol"], pre["attempts"] == 0)
        tombstone = z3.Or(pre["destroyed"], z3.Not(pre["mine"]))
        applies = z3.BoolVal(True) if replayable else z3.And(at_version, tombstone)
        return z3.If(
            applies,
            z3.And(
                post["reg"] == pre["reg"] + 1,
                post["mine"],
                post["attempts"] == 0,
                z3.Not(post["destroyed"]),
                z3.Not(post["proved"]),
                *_same(pre, post, "reg", "mine", "attempts", "destroyed", "proved"),
            ),
            z3.And(post["refused"] == pre["refused"] + 1, *_same(pre, post, "refused")),
        )
    if action == "replay_retired":
        applies = (
            z3.BoolVal(True)
            if replayable
            else z3.And(pre["retired_reg"] == pre["retired_enrol"], z3.Not(pre["old_live"]))
        )
        return z3.And(
            pre["fleet"] > 1,
            z3.If(
                applies,
                z3.And(
                    post["retired_reg"] == pre["retired_reg"] + 1,
                    post["old_live"],
                    post["old_attempts"] == 0,
                    *_same(pre, post, "retired_reg", "old_live", "old_attempts"),
                ),
                z3.And(post["refused"] == pre["refused"] + 1, *_same(pre, post, "refused")),
            ),
        )
    if action == "register_own":
        applies = z3.Or(replayable, pre["destroyed"], z3.Not(pre["mine"]))
        return z3.If(
            applies,
            z3.And(
                post["reg"] == pre["reg"] + 1,
                z3.Not(post["mine"]),
                post["attempts"] == 0,
                z3.Not(post["destroyed"]),
                z3.Not(post["proved"]),
                *_same(pre, post, "reg", "mine", "attempts", "destroyed", "proved"),
            ),
            z3.And(*_same(pre, post)),
        )
    if action == "register_own_newest":
        return z3.And(pre["fleet"] < pre["latest"], post["squat"], *_same(pre, post, "squat"))
    if action == "register_own_retired":
        applies = z3.Or(replayable, z3.Not(pre["old_live"]))
        return z3.And(
            pre["fleet"] > 1,
            z3.If(
                applies,
                z3.And(
                    post["retired_reg"] == pre["retired_reg"] + 1,
                    z3.Not(post["old_live"]),
                    post["old_attempts"] == 0,
                    *_same(pre, post, "retired_reg", "old_live", "old_attempts"),
                ),
                z3.And(*_same(pre, post)),
            ),
        )
    if action == "guess_wrong_retired":
        return z3.And(
            pre["old_live"],
            pre["old_attempts"] < p.limit,
            post["old_attempts"] == pre["old_attempts"] + 1,
            z3.Not(post["proved"]),
            post["wrong"] == pre["wrong"] + 1,
            post["wrong_total"] == pre["wrong_total"] + 1,
            *_same(pre, post, "old_attempts", "proved", "wrong", "wrong_total"),
        )
    raise ValueError(f"unknown action {action!r}")


def step_relation(variant: str | None, p: Params, pre: Sym, post: Sym) -> BoolTerm:
    """Some action (or a stutter step, so the unrolling never deadlocks) leads from
    ``pre`` to ``post``."""
    options = [transition(variant, a, p, pre, post) for a in BUDGET_ACTIONS]
    return z3.Or(*options, z3.And(*_same(pre, post)))


def guess_budget(p: Params, s: Sym) -> BoolTerm:
    """I5 (``model.budget.check_i5``): wrong guesses since the last proof <= limit."""
    return s["wrong"] <= p.limit


# [budget-invariant-start]
#: The conjuncts of Inv, each with the text reports print.
BUDGET_INVARIANT: Final[tuple[tuple[str, Callable[[Params, Sym], BoolTerm]], ...]] = (
    (
        "1 <= fleet <= latest <= fleets",
        lambda p, s: z3.And(s["fleet"] >= 1, s["fleet"] <= s["latest"], s["latest"] <= p.fleets),
    ),
    ("0 <= attempts <= limit", lambda p, s: z3.And(s["attempts"] >= 0, s["attempts"] <= p.limit)),
    (
        "destroyed -> attempts = limit",
        lambda p, s: z3.Implies(s["destroyed"], s["attempts"] == p.limit),
    ),
    # The heart of it: every wrong guess since the last proof was charged to the
    # password's live record, so that record's budget bounds them; once the record is no
    # longer the password's (the adversary registered over its tombstone), nothing more
    # is counted against the password.
    ("0 <= wrong <= limit", lambda p, s: z3.And(s["wrong"] >= 0, s["wrong"] <= p.limit)),
    ("mine -> wrong <= attempts", lambda p, s: z3.Implies(s["mine"], s["wrong"] <= s["attempts"])),
    ("proved -> wrong = 0", lambda p, s: z3.Implies(s["proved"], s["wrong"] == 0)),
    ("wrong <= wrong_total", lambda p, s: s["wrong"] <= s["wrong_total"]),
    # The compare-and-swap: the user's enrolment on her fleet named a version that fleet
    # has moved past (registration numbers only grow), and so did the one on the retired
    # fleet, whose tombstone stays.
    ("enrol < reg", lambda p, s: s["enrol"] < s["reg"]),
    (
        "fleet > 1 -> retired_enrol < retired_reg",
        lambda p, s: z3.Implies(s["fleet"] > 1, s["retired_enrol"] < s["retired_reg"]),
    ),
    # No password record lives on a retired fleet.
    ("not old_live", lambda p, s: z3.Not(s["old_live"])),
)
# [budget-invariant-end]


def invariant(p: Params, s: Sym) -> BoolTerm:
    return z3.And(*(c(p, s) for _, c in BUDGET_INVARIANT))


def _params(p: Params, model: z3.ModelRef) -> tuple[int, int]:
    return (
        int(model.eval(p.limit, model_completion=True).as_long()),
        int(model.eval(p.fleets, model_completion=True).as_long()),
    )


def _with_fleets(state: State, fleets: int) -> State:
    return {"fleets": fleets, **state}


def prove_i5(variant: str | None = None) -> list[Obligation]:
    """prove_i5: ``IndInit``, ``IndNext[a]`` per action and ``IndProp[I5]``, for every
    ``limit >= 1`` and ``fleets >= 1``."""
    p = Params.fresh()
    pre, post = Sym.fresh("pre"), Sym.fresh("post")
    solver = z3.Solver()
    solver.add(*p.assumptions())
    note = "the first state satisfies Inv; it need not be reachable"
    results: list[Obligation] = []

    def discharge(
        name: str, query: BoolTerm, states: list[Sym], acts: list[str], violated: str, after: Sym
    ) -> None:
        started = time.perf_counter()
        solver.push()
        solver.add(query)
        answer = solver.check()
        model = solver.model() if answer == z3.sat else None
        solver.pop()
        seconds = time.perf_counter() - started
        if answer == z3.unsat:
            results.append(Obligation(name, "PASS", seconds))
            return
        if model is None:  # pragma: no cover - linear integer arithmetic, decidable
            raise RuntimeError(f"{name}: z3 answered {answer}")
        limit, fleets = _params(p, model)
        trace = Trace(
            [_with_fleets(s.value(model), fleets) for s in states],
            acts,
            violated,
            limit,
            note if acts else "",
        )
        broken = tuple(
            text for text, c in BUDGET_INVARIANT if z3.is_false(model.eval(c(p, after), True))
        )
        results.append(Obligation(name, "FAIL", seconds, trace, broken))

    discharge(
        "IndInit", z3.And(init(pre), z3.Not(invariant(p, pre))), [pre], [], INVARIANT_NAME, pre
    )
    for action in BUDGET_ACTIONS:
        discharge(
            f"IndNext[{action}]",
            z3.And(
                invariant(p, pre),
                transition(variant, action, p, pre, post),
                z3.Not(invariant(p, post)),
            ),
            [pre, post],
            [action],
            INVARIANT_NAME,
            post,
        )
    discharge(
        "IndProp[I5]",
        z3.And(invariant(p, pre), z3.Not(guess_budget(p, pre))),
        [pre],
        [],
        I5_PROPERTY,
        pre,
    )
    return results


# ---------------------------------------------------------------------------------------
# Bounded model checking


#: The BMC bound: the amplification's shortest run is 5 steps; three to spare.
MAX_DEPTH: Final = 8


class Unrolling:
    """Unrolling: ``s0 -a0-> s1 …`` from Init with free parameters, in one solver; each
    step also records which action it took (``a<i>``, an index into ``BUDGET_ACTIONS``,
    ``len(BUDGET_ACTIONS)`` for a stutter)."""

    def __init__(self, variant: str | None) -> None:
        self.variant = variant
        self.p = Params.fresh()
        self.states = [Sym.fresh("s0")]
        self.choices: list[IntTerm] = []
        self.solver = z3.Solver()
        self.solver.add(*self.p.assumptions(), init(self.states[0]))
        self._goals = 0

    def extend_to(self, depth: int) -> None:
        while len(self.choices) < depth:
            i = len(self.choices)
            pre, post, choice = self.states[i], Sym.fresh(f"s{i + 1}"), z3.Int(f"a{i}")
            options = [
                z3.And(choice == k, transition(self.variant, a, self.p, pre, post))
                for k, a in enumerate(BUDGET_ACTIONS)
            ]
            stutter = z3.And(choice == len(BUDGET_ACTIONS), *_same(pre, post))
            self.solver.add(z3.Or(*options, stutter))
            self.states.append(post)
            self.choices.append(choice)

    def _literal(self, formula: BoolTerm) -> BoolTerm:
        self._goals += 1
        lit = z3.Bool(f"goal{self._goals}")
        self.solver.add(z3.Implies(lit, formula))
        return lit

    def shortest(
        self, goal: Callable[[Params, Sym], BoolTerm], max_depth: int
    ) -> tuple[list[State], list[str], int] | None:
        """The shortest path to ``goal``; then the smallest limit, the fewest fleets and
        the lexicographically first actions. Returns states, actions and the limit."""
        self.extend_to(max_depth)
        meets = [self._literal(goal(self.p, s)) for s in self.states[: max_depth + 1]]
        found = next(
            (d for d in range(max_depth + 1) if self.solver.check(meets[d]) == z3.sat), None
        )
        if found is None:
            return None
        fixed = [meets[found]]
        for param in (self.p.limit, self.p.fleets):
            least = 1
            while self.solver.check(*fixed, param == least) != z3.sat:
                least += 1
            fixed.append(param == least)
        for choice in self.choices[:found]:
            k = 0
            while self.solver.check(*fixed, choice == k) != z3.sat:
                k += 1
            fixed.append(choice == k)
        if self.solver.check(*fixed) != z3.sat:  # pragma: no cover - just found
            raise RuntimeError("the shortest path vanished while minimising")
        model = self.solver.model()
        limit, fleets = _params(self.p, model)
        states = [_with_fleets(s.value(model), fleets) for s in self.states[: found + 1]]
        names = [
            BUDGET_ACTIONS[int(model.eval(c, model_completion=True).as_long())]
            for c in self.choices[:found]
        ]
        return states, list(names), limit


def bmc_i5(
    variant: str | None = None, max_depth: int = MAX_DEPTH, unrolling: Unrolling | None = None
) -> BmcResult:
    """bmc_i5: the shortest run breaking I5, any limit and number of fleets."""
    machine = Unrolling(variant) if unrolling is None else unrolling
    started = time.perf_counter()
    found = machine.shortest(lambda p, s: z3.Not(guess_budget(p, s)), max_depth)
    seconds = time.perf_counter() - started
    if found is None:
        return BmcResult(I5_PROPERTY, max_depth, max_depth, seconds)
    states, names, limit = found
    trace = Trace(states, names, I5_PROPERTY, limit, "wrong: wrong guesses since the last proof")
    return BmcResult(I5_PROPERTY, max_depth, trace.length, seconds, trace)


SANITY: Final[tuple[tuple[str, Callable[[Params, Sym], BoolTerm]], ...]] = (
    ("record migrated", lambda p, s: s["fleet"] >= 2),
    ("record destroyed", lambda p, s: s["destroyed"]),
    ("wrong guesses on two fleets", lambda p, s: z3.And(s["fleet"] >= 2, s["wrong_total"] >= 2)),
    # The channel: replays are sent and refused, the adversary's own registrations apply.
    (
        "enrolment replay refused after destroy",
        lambda p, s: z3.And(s["refused"] >= 1, s["wrong"] == p.limit, s["mine"]),
    ),
    (
        "enrolment replay refused after a migration",
        lambda p, s: z3.And(s["refused"] >= 1, s["fleet"] >= 2),
    ),
    ("adversary's record over a tombstone", lambda p, s: z3.Not(s["mine"])),
)

#: What the unsafe ``replayable-registration`` reaches besides the shortest violation:
#: attack 2 of ``docs/channel.rst``, the retired record brought back after a migration.
RESURRECTION: Final[tuple[tuple[str, Callable[[Params, Sym], BoolTerm]], ...]] = (
    (
        "I5 broken through a retired record brought back",
        lambda p, s: z3.And(z3.Not(guess_budget(p, s)), s["old_attempts"] >= 1),
    ),
)


def sanity_i5(
    unrolling: Unrolling | None = None,
    queries: tuple[tuple[str, Callable[[Params, Sym], BoolTerm]], ...] = SANITY,
) -> list[Reachability]:
    """sanity_i5: the safe machine can migrate, destroy, answer guesses on two fleets,
    refuse a replayed enrolment (after a destroy, after a migration) and let the adversary
    register over a tombstone (``queries`` replaces these goals)."""
    machine = Unrolling(None) if unrolling is None else unrolling
    out: list[Reachability] = []
    for name, goal in queries:
        started = time.perf_counter()
        found = machine.shortest(goal, MAX_DEPTH)
        seconds = time.perf_counter() - started
        witness = None if found is None else Trace(found[0], found[1], None, found[2])
        out.append(Reachability(name, witness is not None, MAX_DEPTH, seconds, witness))
    return out


# ---------------------------------------------------------------------------------------
# The report

Verdict = Literal["holds", "violated", "unproved"]


@dataclass(frozen=True)
class I5Report:
    """I5Report: the inductive obligations, the BMC and the sanity queries for I5."""

    variant: str | None
    outline: Outline
    obligations: list[Obligation]
    bmc: BmcResult
    sanity: list[Reachability]

    @property
    def proved(self) -> bool:
        return all(o.status == "PASS" for o in self.obligations)

    @property
    def verdict(self) -> Verdict:
        if self.bmc.violated:
            return "violated"
        return "holds" if self.proved else "unproved"

    @property
    def shortest(self) -> int | None:
        return None if self.bmc.trace is None else self.bmc.trace.length

    @property
    def seconds(self) -> float:
        return (
            sum(o.seconds for o in self.obligations)
            + self.bmc.seconds
            + sum(r.seconds for r in self.sanity)
        )

    def render(self) -> str:
        lines = [f"{I5_PROPERTY} — {self.variant or 'safe'} migration rule"]
        if self.variant is not None:
            lines.append(f"  variant: {budget_variant_breaks(self.variant)}")
        lines.extend(self.outline.render().splitlines())
        lines.append("inductive obligations (every limit >= 1, fleets >= 1):")
        lines.extend("  " + r for o in self.obligations for r in o.render().splitlines())
        lines.extend(self.bmc.render().splitlines())
        lines.extend(r.render() for r in self.sanity)
        lines.append(f"verdict: {self.verdict} ({self.seconds * 1000:.0f} ms)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "invariant": I5_PROPERTY,
            "variant": self.variant,
            "verdict": self.verdict,
            "shortest": self.shortest,
            "seconds": self.seconds,
            "outline": self.outline.to_json(),
            "obligations": [o.to_json() for o in self.obligations],
            "bmc": self.bmc.to_json(),
            "sanity": [r.to_json() for r in self.sanity],
        }


def budget_variant_breaks(name: str) -> str:
    """The rule variant ``name`` breaks, from ``model.bundles``' catalogue or, for the
    channel's variants it does not list yet, from ``model.budget``."""
    for variant in BUDGET_CHANNEL_VARIANTS:
        if variant.name == name:
            return variant.breaks
    return bundle_variant(name).breaks


def i5_outline(variant: str | None = None) -> Outline:
    rule = (
        "migrate whenever the server asks (migrate-on-server-request)"
        if variant == "migrate-on-server-request"
        else "migrate only right after the user proved the password (proved)"
    )
    registration = (
        "a registration applies whatever version it names, with no proof (replayable-registration)"
        if variant == "replayable-registration"
        else "a registration applies only at the version it names, over a tombstone or "
        "with a proof (compare-and-swap, tombstones)"
    )
    return Outline(
        [
            "limit >= 1, fleets >= 1 (Z3 integers)",
            "Init: registered on fleet 1 by proving the password; nothing guessed",
            f"actions: {', '.join(BUDGET_ACTIONS)}; {rule}; {registration}",
            "per registration the vault's I3 rules hold (charge before check, destroy at "
            "limit, a guess charged once)",
            "the adversary replays captured enrolments at the fleet each was sealed to, "
            "registers secrets of its own for the user's id, guesses anywhere, and cannot "
            "open or alter a sealed request",
        ],
        [text for text, _ in BUDGET_INVARIANT],
    )


def check_i5(variant: str | None = None) -> I5Report:
    """check_i5: prove I5 inductively (parametric) and search for its shortest violation.

    ``variant`` is ``None`` (the safe rules), ``"migrate-on-server-request"`` or
    ``"replayable-registration"``. The safe machine gets the sanity queries; the
    replayable one gets, as ``sanity``, the witness of the retired record brought back
    (:data:`RESURRECTION`), which is a second violation, not a sanity check.
    """
    if variant is not None and variant not in ALL_BUDGET_VARIANT_NAMES:
        raise KeyError(variant)
    machine = Unrolling(variant)
    result = bmc_i5(variant, MAX_DEPTH, machine)
    if variant is None:
        queries = sanity_i5(machine)
    elif variant == "replayable-registration":
        queries = sanity_i5(machine, RESURRECTION)
    else:
        queries = []
    return I5Report(variant, i5_outline(variant), prove_i5(variant), result, queries)


def check_all_i5() -> list[I5Report]:
    """check_all_i5: the safe rules, ``migrate-on-server-request`` and the channel's
    ``replayable-registration``."""
    return [check_i5(None), *(check_i5(v) for v in ALL_BUDGET_VARIANT_NAMES)]
