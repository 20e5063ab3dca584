"""proofs.i1_knowledge: I1 ``no-single-party-decrypts`` and the coalition table, on Z3.

The knowledge question of :mod:`model.coalitions` asked of Z3's fixedpoint engine
(``z3.Fixedpoint``, engine ``datalog``) instead of the Python worklist of
:func:`model.terms.closure`; ``tests/test_proofs_i1.py`` checks that the two agree on every
term, for every coalition of every scenario.

What is encoded
    For one :class:`model.flows.Scenario` (built once, :class:`KnowledgeEncoding`):

    - a finite sort of *term ids*: ``BitVec(w)`` with ``2^w`` at least the size of the
      scenario's term universe (:func:`model.terms.universe`; ids in the order of
      ``str``); and a sort of *coalitions*: ``BitVec(k)``, one bit per party of the
      scenario (``scenario.parties``), a coalition being the set of its bits;
    - one relation ``known(coalition, term)``, and ``coalition(c)`` for the coalitions
      asked about (the only per-query facts);
    - the observations: ``known(c, t) :- coalition(c), bit_p(c)`` for each term ``t``
      party ``p`` observed or stored (:meth:`model.flows.System.observed`);
    - one Horn rule per ground rule ``head :- b1, ..., bk`` of
      :func:`model.terms.ground_rules` (the deduction rules and the oracles):
      ``known(c, head) :- known(c, b1), ..., known(c, bk)`` (``:- coalition(c)`` when
      ``k = 0``).

    For a single coalition this is exactly ``known(term)`` with the coalition's
    observations as facts. The coalition column is there for speed, measured: one
    ``z3.Fixedpoint`` per subset with ``known(term)`` costs about 2 ms to fill and 4 ms
    per query (each query reruns the fixpoint), so a 63-subset table with three secrets
    took 0.7 to 1 s; with the column, one datalog run closes every subset at once and the
    same table takes 0.05 to 0.1 s. The clauses are built once per scenario; a query adds
    only its ``coalition`` facts (and, for :meth:`KnowledgeEncoding.learners`, one rule
    per term asked about).

Queries
    - :func:`check_i1_z3`: for each non-HSM party alone, the point query
      ``known(party, secret)`` per I1 secret; the obligation
      ``no-single-party-decrypts[party]`` PASSes iff Z3 answers ``unsat`` for all of them.
      On FAIL the counterexample is the Python closure's derivation of each leaked secret
      (:func:`model.terms.render_derivation`): an attack trace, premises first.
    - :func:`coalitions_z3`: every non-empty subset of the parties (the device excluded
      by default) in one fixpoint, and one query of ``learns(c, i) :- known(c,
      secret_i)``: for each secret, the coalitions that learn it, hence the minimal ones.
    - :meth:`KnowledgeEncoding.known_terms`: the whole relation ``known`` (every term
      every coalition knows), for the agreement test.

    An answer is read from the formula the datalog engine returns for a relation (a
    disjunction of rows ``(= (:var i) value)``), strictly: any other shape is an error.

What a finite term universe proves, and what it does not
    It proves *non-derivability* for this bounded system: one user, one session of each
    flow (backup, registration, recovery, bundle delivery, the deployment ceremony,
    rotation, the replicas' traffic, a rogue fleet), the listed messages and stored
    items, and the terms built from their subterms. Within that universe the fixpoint
    is exact: a secret Z3 cannot derive is not derivable by any sequence of the
    deduction rules, perfect cryptography assumed (a ciphertext opens only with its key,
    a signature cannot be made without its key, a KDF output needs all its inputs,
    t-of-n shares combine only with t distinct shares), and offline guessing of the
    low-entropy atoms is included.

    It does not cover: unboundedly many sessions or users (no replays, no interleaving
    of runs, no fresh nonces beyond those listed; a term outside the universe is never
    synthesised); algebraic properties of the primitives (XOR, Diffie-Hellman
    exponentiation, the OPRF's blinding: HPKE and the KDFs are black boxes); side
    channels, timing, or a broken primitive; and *online* guessing against an HSM, which
    is not knowledge but the vault's attempt limit (I3, and I5 across fleets).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Final, Literal, TypeAlias, cast

import z3

from model.coalitions import I1_NAME, I1_SECRETS, CoalitionTable, Ground, Leak
from model.flows import KNOWLEDGE_VARIANTS, METHODS, MODES, NON_HSM_PARTIES, Mode, Scenario
from model.terms import Term, render_derivation

I1_PROPERTY: Final = f"I1 {I1_NAME}"

#: Where each unsafe variant bites: the scenario on which it is checked (the defaults
#: otherwise: log-only witness, client attestation on, rotation on).
VARIANT_SCENARIOS: Final[dict[str, Scenario]] = {
    variant: Scenario(method="password", mode="ota", policy="log-only", variant=variant)
    for variant in KNOWLEDGE_VARIANTS
}

Status = Literal["PASS", "FAIL"]
Coalition: TypeAlias = tuple[str, ...]
Expr: TypeAlias = Any


# ---------------------------------------------------------------------------------------
# The encoding


class KnowledgeEncoding:
    """KnowledgeEncoding: one scenario's ground rules as Horn clauses, built once.

    ``parties`` fixes the coalition bits (bit ``i`` is ``parties[i]``); ``terms`` the term
    ids (id ``i`` is ``terms[i]``). Every query makes a fresh ``z3.Fixedpoint``, adds the
    prebuilt clauses and the ``coalition`` facts of the coalitions it asks about.
    """

    def __init__(self, ground: Ground) -> None:
        self.ground = ground
        self.scenario = ground.system.scenario
        self.parties: tuple[str, ...] = self.scenario.parties
        self.terms: tuple[Term, ...] = tuple(sorted(ground.terms, key=str))
        self.ids: dict[Term, int] = {term: i for i, term in enumerate(self.terms)}
        self.term_bits = max(1, (len(self.terms) - 1).bit_length())
        self.coalition_bits = len(self.parties)
        self.term_sort = z3.BitVecSort(self.term_bits)
        self.coalition_sort = z3.BitVecSort(self.coalition_bits)
        self.known = z3.Function("known", self.coalition_sort, self.term_sort, z3.BoolSort())
        self.coalition = z3.Function("coalition", self.coalition_sort, z3.BoolSort())
        self._c = z3.Const("c", self.coalition_sort)
        self._values = [z3.BitVecVal(i, self.term_bits) for i in range(len(self.terms))]
        self._atoms: dict[Term, Expr] = {}
        self.clauses: list[Expr] = self._observations() + self._deductions()

    @classmethod
    def of(cls, scenario: Scenario) -> KnowledgeEncoding:
        return cls(Ground.of(scenario))

    # ------------------------------------------------------------------ building

    def _holds(self, term: Term) -> Expr:
        """``known(c, term)``, made once per term (the clauses share it)."""
        atom = self._atoms.get(term)
        if atom is None:
            atom = self._atoms[term] = self.known(self._c, self._values[self.ids[term]])
        return atom

    def _observations(self) -> list[Expr]:
        c = self._c
        clauses = []
        for bit, party in enumerate(self.parties):
            body = z3.And(self.coalition(c), z3.Extract(bit, bit, c) == z3.BitVecVal(1, 1))
            for term in sorted(self.ground.system.observed(party), key=str):
                clauses.append(z3.ForAll([c], z3.Implies(body, self._holds(term))))
        return clauses

    def _deductions(self) -> list[Expr]:
        c = self._c
        clauses = []
        for rule in self.ground.rules:
            premises = [self._holds(premise) for premise in rule.body] or [self.coalition(c)]
            body = premises[0] if len(premises) == 1 else z3.And(premises)
            clauses.append(z3.ForAll([c], z3.Implies(body, self._holds(rule.head))))
        return clauses

    @property
    def rule_count(self) -> int:
        """The number of ground deduction rules (one Horn clause each)."""
        return len(self.ground.rules)

    # ---------------------------------------------------------------- coalitions

    def mask(self, coalition: Iterable[str]) -> int:
        """The coalition's bits; a party not in the scenario is an error."""
        value = 0
        for party in coalition:
            if party not in self.parties:
                raise KeyError(f"{party!r} is not a party of {self.scenario.describe()}")
            value |= 1 << self.parties.index(party)
        if value == 0:
            raise ValueError("a coalition has at least one party")
        return value

    def members(self, mask: int) -> Coalition:
        """The parties of a coalition's bits, in the scenario's order."""
        return tuple(p for i, p in enumerate(self.parties) if mask >> i & 1)

    def fixedpoint(
        self, coalitions: Iterable[Iterable[str]], merge_similar: bool = True
    ) -> z3.Fixedpoint:
        """A fresh datalog fixedpoint with the rules and the given coalitions' facts.

        ``merge_similar`` is the engine's ``datalog.similarity_compressor`` (rules that
        differ only in constants merged into one): it halves a point query's time, but a
        query of any relation other than ``known`` (``learns``) became ten times slower
        with it (threshold 3/5, 511 subsets: 6 s, against 0.35 s without), so
        :meth:`learners` turns it off.
        """
        fp = z3.Fixedpoint()
        fp.set(engine="datalog", **{"datalog.similarity_compressor": merge_similar})
        fp.register_relation(self.known, self.coalition)
        for clause in self.clauses:
            fp.add_rule(clause)
        for mask in sorted({self.mask(c) for c in coalitions}):
            fp.fact(self.coalition(z3.BitVecVal(mask, self.coalition_bits)))
        return fp

    # ------------------------------------------------------------------- queries

    def derivable(self, coalition: Iterable[str], terms: Iterable[Term]) -> dict[Term, bool]:
        """``known(coalition, t)`` for each term ``t``: one point query each."""
        members = tuple(coalition)
        fp = self.fixedpoint([members])
        mask = z3.BitVecVal(self.mask(members), self.coalition_bits)
        out: dict[Term, bool] = {}
        for term in terms:
            if term not in self.ids:
                out[term] = False  # outside the universe: never synthesised
                continue
            out[term] = _decide(fp.query(self.known(mask, self._values[self.ids[term]])))
        return out

    def learners(
        self, terms: Sequence[Term], coalitions: Iterable[Iterable[str]]
    ) -> dict[Term, set[Coalition]]:
        """For each term, the given coalitions that learn it: one query of the relation
        ``learns(c, i) :- known(c, terms[i])`` (one rule per term)."""
        fp = self.fixedpoint(coalitions, merge_similar=False)
        inside = [term for term in dict.fromkeys(terms) if term in self.ids]
        found: dict[Term, set[Coalition]] = {term: set() for term in terms}
        if not inside:
            return found  # a term outside the universe is never synthesised
        bits = max(1, (len(inside) - 1).bit_length())
        learns = z3.Function("learns", self.coalition_sort, z3.BitVecSort(bits), z3.BoolSort())
        fp.register_relation(learns)
        c = self._c
        for index, term in enumerate(inside):
            head = learns(c, z3.BitVecVal(index, bits))
            fp.add_rule(z3.ForAll([c], z3.Implies(self._holds(term), head)))
        if _decide(fp.query(learns)):
            for mask, index in answer_rows(fp.get_answer(), 2):
                found[inside[index]].add(self.members(mask))
        return found

    def known_terms(self, coalitions: Iterable[Iterable[str]]) -> dict[Coalition, frozenset[Term]]:
        """The whole relation ``known`` (one query): every term each coalition knows."""
        chosen = {self.mask(c) for c in coalitions}
        fp = self.fixedpoint(self.members(m) for m in chosen)
        found: dict[Coalition, set[Term]] = {self.members(m): set() for m in chosen}
        if _decide(fp.query(self.known)):
            for mask, term in answer_rows(fp.get_answer(), 2):
                found[self.members(mask)].add(self.terms[term])
        return {members: frozenset(terms) for members, terms in found.items()}


def _decide(result: z3.CheckSatResult) -> bool:
    if result == z3.sat:
        return True
    if result == z3.unsat:
        return False
    raise RuntimeError(f"the datalog engine answered {result}")


# ---------------------------------------------------------------------------------------
# Reading an answer. The datalog engine gives a relation as a disjunction of rows, each a
# conjunction of ``(= (:var i) value)``, column ``i`` of the relation (or ``false`` when
# empty); anything else is an error, not a guess. The answer is walked with Z3's C API:
# the equalities are shared between rows (one node per column and value), so each is
# read once; printing and re-parsing the formula would cost several times more.


class _Walk:
    """_Walk: read the AST nodes of one answer (alive while the answer is)."""

    def __init__(self, answer: z3.ExprRef) -> None:
        self.answer = answer
        self.ctx = answer.ctx_ref()
        self.cells: dict[int | None, tuple[int, int]] = {}
        self.kinds: dict[int | None, int] = {}

    def node(self, ast: Any) -> tuple[int | None, list[Any]]:
        """An application's operator (``Z3_OP_*``) and arguments; ``None`` otherwise."""
        if z3.Z3_get_ast_kind(self.ctx, ast) != z3.Z3_APP_AST:
            return None, []
        app = z3.Z3_to_app(self.ctx, ast)
        decl = z3.Z3_get_app_decl(self.ctx, app)
        kind = self.kinds.get(decl.value)
        if kind is None:
            kind = self.kinds[decl.value] = int(z3.Z3_get_decl_kind(self.ctx, decl))
        count = z3.Z3_get_app_num_args(self.ctx, app)
        return kind, [z3.Z3_get_app_arg(self.ctx, app, i) for i in range(count)]

    def cell(self, ast: Any) -> tuple[int, int]:
        """``(= (:var i) value)`` as ``(i, value)``."""
        key = ast.value  # nodes are hash-consed: one pointer per node while it lives
        found = self.cells.get(key)
        if found is not None:
            return found
        kind, args = self.node(ast)
        if kind != z3.Z3_OP_EQ:
            raise ValueError(f"unexpected conjunct in an answer: {self.text(ast)}")
        left, right = args
        if z3.Z3_get_ast_kind(self.ctx, left) != z3.Z3_VAR_AST:
            left, right = right, left
        if (
            z3.Z3_get_ast_kind(self.ctx, left) != z3.Z3_VAR_AST
            or z3.Z3_get_ast_kind(self.ctx, right) != z3.Z3_NUMERAL_AST
        ):
            raise ValueError(f"unexpected conjunct in an answer: {self.text(ast)}")
        column = int(z3.Z3_get_index_value(self.ctx, left))
        value = int(z3.Z3_get_numeral_string(self.ctx, right))
        self.cells[key] = (column, value)
        return column, value

    def text(self, ast: Any) -> str:
        return str(z3.Z3_ast_to_string(self.ctx, ast))[:120]


def answer_rows(answer: z3.ExprRef, arity: int) -> set[tuple[int, ...]]:
    """The rows of a datalog answer over ``arity`` columns (``(:var 0)`` is column 0)."""
    walk = _Walk(answer)
    root = answer.as_ast()
    kind, args = walk.node(root)
    if kind == z3.Z3_OP_FALSE:
        return set()
    rows: set[tuple[int, ...]] = set()
    columns = list(range(arity))
    for disjunct in args if kind == z3.Z3_OP_OR else [root]:
        kind, conjuncts = walk.node(disjunct)
        if kind != z3.Z3_OP_AND:
            conjuncts = [disjunct]
        row = dict(walk.cell(conjunct) for conjunct in conjuncts)
        if len(row) != len(conjuncts) or sorted(row) != columns:
            raise ValueError(f"a row does not fix columns 0..{arity - 1}: {walk.text(disjunct)}")
        rows.add(tuple(row[i] for i in columns))
    return rows


# ---------------------------------------------------------------------------------------
# I1


@dataclass(frozen=True)
class I1Obligation:
    """I1Obligation: ``no-single-party-decrypts[party]`` and what Z3 said.

    ``leaked`` names the I1 secrets Z3 derives for ``party`` alone (empty: PASS);
    ``counterexample`` is the attack trace of each (the Python closure's derivation).
    """

    name: str
    party: str
    status: Status
    seconds: float
    queried: tuple[str, ...]
    leaked: tuple[str, ...] = ()
    counterexample: str = ""

    @property
    def detail(self) -> str:
        """One line for a results table."""
        if self.status == "PASS":
            return f"Z3: none of {', '.join(self.queried)} derivable"
        return f"Z3: {self.party} derives {', '.join(self.leaked)}"

    def render(self) -> str:
        head = f"{self.name:<40} {self.status}  ({self.seconds * 1000:.1f} ms)  {self.detail}"
        if self.status == "PASS":
            return head
        return "\n".join([head, *("  " + line for line in self.counterexample.splitlines())])

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "party": self.party,
            "status": self.status,
            "seconds": self.seconds,
            "queried": list(self.queried),
            "leaked": list(self.leaked),
            "counterexample": self.counterexample or None,
        }


@dataclass(frozen=True)
class I1Report:
    """I1Report: one obligation per non-HSM party, for one scenario."""

    scenario: Scenario
    obligations: list[I1Obligation]
    terms: int
    rules: int
    build_seconds: float

    @property
    def setting(self) -> str:
        return self.scenario.describe()

    @property
    def holds(self) -> bool:
        return all(o.status == "PASS" for o in self.obligations)

    @property
    def seconds(self) -> float:
        return self.build_seconds + sum(o.seconds for o in self.obligations)

    @property
    def failed(self) -> list[I1Obligation]:
        return [o for o in self.obligations if o.status == "FAIL"]

    def render(self) -> str:
        lines = [
            f"{I1_PROPERTY} — {self.setting}",
            f"  Z3 datalog: {self.terms} terms, {self.rules} ground rules "
            f"(built in {self.build_seconds * 1000:.1f} ms)",
        ]
        lines.extend("  " + row for o in self.obligations for row in o.render().splitlines())
        verdict = "holds" if self.holds else "violated"
        lines.append(f"verdict: {verdict} ({self.seconds * 1000:.0f} ms)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "invariant": I1_PROPERTY,
            "setting": self.setting,
            "variant": self.scenario.variant,
            "holds": self.holds,
            "terms": self.terms,
            "rules": self.rules,
            "seconds": self.seconds,
            "obligations": [o.to_json() for o in self.obligations],
        }


def i1_secrets(encoding: KnowledgeEncoding) -> dict[str, Term]:
    """The I1 secrets of the scenario (``model.coalitions.I1_SECRETS`` it has)."""
    secrets = encoding.ground.system.secrets
    return {name: secrets[name] for name in I1_SECRETS if name in secrets}


def _attack(encoding: KnowledgeEncoding, party: str, leaked: Sequence[str]) -> str:
    knowledge = encoding.ground.knowledge([party])
    secrets = encoding.ground.system.secrets
    blocks = []
    for name in leaked:
        trace = render_derivation(knowledge, secrets[name])
        if not trace:
            trace = "  (Z3 derives it but the Python closure does not: the encodings disagree)"
        blocks.append(f"{party} learns the {name} ({encoding.scenario.describe()}):\n{trace}")
    return "\n".join(blocks)


def check_i1_z3(scenario: Scenario, encoding: KnowledgeEncoding | None = None) -> I1Report:
    """check_i1_z3: for each non-HSM party alone, is any I1 secret derivable (Z3)?"""
    started = time.perf_counter()
    encoding = encoding or KnowledgeEncoding.of(scenario)
    built = time.perf_counter() - started
    secrets = i1_secrets(encoding)
    obligations = []
    for party in NON_HSM_PARTIES:
        started = time.perf_counter()
        answers = encoding.derivable([party], secrets.values())
        leaked = tuple(name for name, term in secrets.items() if answers[term])
        seconds = time.perf_counter() - started
        obligations.append(
            I1Obligation(
                name=f"{I1_NAME}[{party}]",
                party=party,
                status="FAIL" if leaked else "PASS",
                seconds=seconds,
                queried=tuple(secrets),
                leaked=leaked,
                counterexample=_attack(encoding, party, leaked) if leaked else "",
            )
        )
    return I1Report(scenario, obligations, len(encoding.terms), encoding.rule_count, built)


def default_scenarios(
    modes: Iterable[str] = MODES,
    policy: str = "log-only",
    client_attestation: bool = True,
    threshold: tuple[int, int] | None = None,
) -> list[Scenario]:
    """Every method x mode on the defaults (log-only witness, attestation and rotation on),
    or on the setting given: the modes chosen, the witness's policy, client attestation,
    and the t-of-n threshold design in place of the single fleet."""
    return [
        Scenario(
            method=method,
            mode=cast(Mode, mode),
            policy=policy,
            client_attestation=client_attestation,
            threshold=threshold,
        )
        for method in METHODS
        for mode in modes
    ]


def check_i1_all(variants: bool = True) -> list[I1Report]:
    """check_i1_all: I1 on every method x mode (defaults), then each unsafe variant where
    it bites (:data:`VARIANT_SCENARIOS`); the variants' reports are expected to FAIL."""
    scenarios = default_scenarios()
    if variants:
        scenarios += list(VARIANT_SCENARIOS.values())
    return [check_i1_z3(scenario) for scenario in scenarios]


# ---------------------------------------------------------------------------------------
# The coalition table


def coalitions_z3(
    scenario: Scenario,
    exclude: Iterable[str] = ("device",),
    encoding: KnowledgeEncoding | None = None,
) -> CoalitionTable:
    """coalitions_z3: :func:`model.coalitions.coalition_table` computed by Z3 queries.

    Every non-empty subset of the parties (minus ``exclude``) in one fixpoint, and one
    query of ``learns(c, i) :- known(c, secret_i)`` (:meth:`KnowledgeEncoding.learners`):
    for each secret, the subsets that learn it; a coalition is minimal for a secret if it
    learns it and no proper subset does. The derivation of each minimal coalition is the
    Python closure's (an attack trace); the result compares equal to the model's table.
    """
    encoding = encoding or KnowledgeEncoding.of(scenario)
    skipped = set(exclude)
    parties = tuple(p for p in scenario.parties if p not in skipped)
    subsets = [c for size in range(1, len(parties) + 1) for c in combinations(parties, size)]
    minimal: dict[str, list[Leak]] = {}
    secrets = encoding.ground.system.secrets
    learned = encoding.learners(list(secrets.values()), subsets)
    for name, secret in secrets.items():
        learn = {frozenset(c) for c in learned[secret]}
        minimal[name] = []
        for coalition in subsets:
            members = frozenset(coalition)
            if members not in learn or any(other < members for other in learn):
                continue
            knowledge = encoding.ground.knowledge(coalition)
            trace = render_derivation(knowledge, secret)
            minimal[name].append(Leak(coalition, name, trace))
    return CoalitionTable(scenario, parties, minimal, len(subsets))
