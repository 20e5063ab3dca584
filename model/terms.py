"""model.terms: symbolic terms and Dolev-Yao deduction, with a derivation for every fact.

The knowledge side of I1 ``no-single-party-decrypts``. Cryptography is perfect here: a
key is a name, a ciphertext opens only with its key, a signature proves what it signs and
cannot be made without the signing key, a KDF output is computable only from all of its
inputs. A party knows the terms it observed or stored, and everything it can deduce
from them with the rules below; :func:`closure` computes that least fixpoint.

Terms (frozen, hashable, ordered)
    ``Atom(name, guessable)``: a key, a secret, a nonce, a name. ``guessable`` marks the
    low-entropy ones (a password, a PIN) that an attacker can enumerate.
    ``Pub(key)``: the public key of ``key``.
    ``Enc(key, body)``: AEAD encryption of ``body`` under the symmetric ``key``.
    ``Hpke(pk, body)``: HPKE encryption of ``body`` to ``pk = Pub(sk)``.
    ``Kdf(label, args)``: a KDF or hash output (HKDF, Argon2id, SHA-256, an OPRF).
    ``Sig(key, body)``: a signature by ``key`` over ``body`` (it reveals ``body``).
    ``Tup(items)``: a tuple (a message with several fields).
    ``Share(secret, index, t, n)``: share ``index`` of a ``t``-of-``n`` sharing.

Rules (a ``Step`` names the rule and its premises)
    analysis:  ``Tup`` gives its items; ``Enc(k, b)`` with ``k`` gives ``b``;
               ``Hpke(Pub(sk), b)`` with ``sk`` gives ``b``; ``Sig(k, b)`` gives ``b``;
               ``t`` distinct shares of one sharing give the secret.
    synthesis: any term *of the universe* whose parts are known: ``Pub``, ``Kdf``,
               ``Tup``, ``Enc``, ``Hpke``, and ``Sig`` (with the signing key only).
    guessing:  a known term that can be rebuilt from known terms and guessable atoms
               confirms a guess offline: the guessable atoms become known (an offline
               dictionary attack; online guesses are bounded by the vault, I3).
    oracles:   what an honest party does for anyone who asks (an HSM releases a secret
               to whoever proves the password; a ``log-only`` witness signs a new
               digest). Each is a ground Horn rule given with the scenario.

Everything is ground over a finite *universe* of terms (all subterms of what is observed
and of the oracles' rules). :func:`ground_rules` lists the same deduction as ground Horn
clauses ``head :- body``, which ``proofs/i1_knowledge.py`` hands to Z3's fixedpoint
engine; a test checks that both give the same knowledge on every query.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Final


class Term:
    """Term: the base of every symbolic term (see the module docstring)."""

    def subterms(self) -> Iterator[Term]:
        yield self


@dataclass(frozen=True, order=True)
class Atom(Term):
    name: str
    guessable: bool = False

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, order=True)
class Pub(Term):
    key: Atom

    def subterms(self) -> Iterator[Term]:
        yield self
        yield self.key

    def __str__(self) -> str:
        return f"pk({self.key})"


@dataclass(frozen=True)
class Enc(Term):
    key: Term
    body: Term

    def subterms(self) -> Iterator[Term]:
        yield self
        yield from self.key.subterms()
        yield from self.body.subterms()

    def __str__(self) -> str:
        return f"enc({self.key}, {self.body})"


@dataclass(frozen=True)
class Hpke(Term):
    pk: Pub
    body: Term

    def subterms(self) -> Iterator[Term]:
        yield self
        yield from self.pk.subterms()
        yield from self.body.subterms()

    def __str__(self) -> str:
        return f"hpke({self.pk}, {self.body})"


@dataclass(frozen=True)
class Kdf(Term):
    label: str
    args: tuple[Term, ...]

    def subterms(self) -> Iterator[Term]:
        yield self
        for arg in self.args:
            yield from arg.subterms()

    def __str__(self) -> str:
        return f"{self.label}({', '.join(str(a) for a in self.args)})"


@dataclass(frozen=True)
class Sig(Term):
    key: Atom
    body: Term

    def subterms(self) -> Iterator[Term]:
        yield self
        yield self.key
        yield from self.body.subterms()

    def __str__(self) -> str:
        return f"sig({self.key}, {self.body})"


@dataclass(frozen=True)
class Tup(Term):
    items: tuple[Term, ...]

    def subterms(self) -> Iterator[Term]:
        yield self
        for item in self.items:
            yield from item.subterms()

    def __str__(self) -> str:
        return f"<{', '.join(str(i) for i in self.items)}>"


@dataclass(frozen=True)
class Share(Term):
    secret: Term
    index: int
    t: int
    n: int

    def subterms(self) -> Iterator[Term]:
        yield self
        yield from self.secret.subterms()

    def __str__(self) -> str:
        return f"share{self.index}/{self.t}of{self.n}({self.secret})"


def tup(*items: Term) -> Tup:
    return Tup(tuple(items))


def kdf(label: str, *args: Term) -> Kdf:
    return Kdf(label, tuple(args))


# ------------------------------------------------------------------------ ground rules


@dataclass(frozen=True)
class Rule:
    """Rule: the ground Horn clause ``head :- body``, named by the deduction it is."""

    name: str
    head: Term
    body: tuple[Term, ...]

    def __str__(self) -> str:
        return f"{self.name}: {self.head} <- {', '.join(str(b) for b in self.body) or 'true'}"


def universe(terms: Iterable[Term], oracles: Iterable[Rule] = ()) -> frozenset[Term]:
    """universe: every subterm of ``terms`` and of the oracles' heads and bodies."""
    found: set[Term] = set()
    for term in terms:
        found.update(term.subterms())
    for rule in oracles:
        found.update(rule.head.subterms())
        for premise in rule.body:
            found.update(premise.subterms())
    return frozenset(found)


def _rebuild_leaves(term: Term) -> tuple[frozenset[Term], frozenset[Atom]]:
    """The non-guessable leaves and the guessable atoms needed to rebuild ``term`` by
    synthesis alone (descending through ``Kdf`` and ``Tup``; anything else is a leaf)."""
    if isinstance(term, Atom):
        return (
            (frozenset(), frozenset({term})) if term.guessable else (frozenset({term}), frozenset())
        )
    if isinstance(term, Kdf | Tup):
        parts = term.args if isinstance(term, Kdf) else term.items
        leaves: set[Term] = set()
        guesses: set[Atom] = set()
        for part in parts:
            more, found = _rebuild_leaves(part)
            leaves |= more
            guesses |= found
        return frozenset(leaves), frozenset(guesses)
    return frozenset({term}), frozenset()


def ground_rules(terms: frozenset[Term], oracles: Iterable[Rule] = ()) -> tuple[Rule, ...]:
    """ground_rules: the deduction rules instantiated over the universe ``terms``."""
    rules: list[Rule] = []
    shares: dict[tuple[Term, int, int], list[Share]] = {}
    for term in sorted(terms, key=str):
        if isinstance(term, Tup):
            rules += [Rule("split", item, (term,)) for item in term.items]
            rules.append(Rule("pair", term, term.items))
        elif isinstance(term, Enc):
            rules.append(Rule("decrypt", term.body, (term, term.key)))
            rules.append(Rule("encrypt", term, (term.key, term.body)))
        elif isinstance(term, Hpke):
            rules.append(Rule("hpke-open", term.body, (term, term.pk.key)))
            rules.append(Rule("hpke-seal", term, (term.pk, term.body)))
        elif isinstance(term, Sig):
            rules.append(Rule("read-signed", term.body, (term,)))
            rules.append(Rule("sign", term, (term.key, term.body)))
        elif isinstance(term, Pub):
            rules.append(Rule("public-key", term, (term.key,)))
        elif isinstance(term, Kdf):
            rules.append(Rule("derive", term, term.args))
        elif isinstance(term, Share):
            shares.setdefault((term.secret, term.t, term.n), []).append(term)
        # offline guessing: a known KDF output, or a ciphertext under one, confirms a guess
        target = term.key if isinstance(term, Enc) else term
        if isinstance(target, Kdf):
            leaves, guesses = _rebuild_leaves(target)
            for guess in sorted(guesses):
                rules.append(Rule("guess-offline", guess, (term, *sorted(leaves, key=str))))
    for (secret, t, _n), group in sorted(shares.items(), key=lambda kv: str(kv[0][0])):
        group = sorted(group, key=lambda s: s.index)
        for chosen in combinations(group, t):
            rules.append(Rule(f"combine-{t}-shares", secret, tuple(chosen)))
    rules += list(oracles)
    return tuple(rules)


# --------------------------------------------------------------------------- closure


@dataclass(frozen=True)
class Step:
    """Step: how a fact was first learned: observed (``rule`` None) or by a rule."""

    fact: Term
    rule: Rule | None


@dataclass
class Knowledge:
    """Knowledge: the closure of one party's (or coalition's) observations."""

    steps: dict[Term, Step] = field(default_factory=dict)

    def knows(self, term: Term) -> bool:
        return term in self.steps

    def facts(self) -> frozenset[Term]:
        return frozenset(self.steps)

    def derivation(self, term: Term) -> list[Step]:
        """derivation: the steps that lead to ``term``, premises first (an attack trace)."""
        if term not in self.steps:
            return []
        order: list[Step] = []
        seen: set[Term] = set()

        def visit(fact: Term) -> None:
            if fact in seen:
                return
            seen.add(fact)
            step = self.steps[fact]
            if step.rule is not None:
                for premise in step.rule.body:
                    visit(premise)
            order.append(step)

        visit(term)
        return order


def closure(
    observed: Iterable[Term],
    terms: frozenset[Term],
    oracles: Iterable[Rule] = (),
    rules: tuple[Rule, ...] | None = None,
) -> Knowledge:
    """closure: the least set containing ``observed`` and closed under the rules.

    The fixpoint is computed rule by rule in a worklist (each rule fires once, when its
    last premise becomes known), so it is linear in the size of the ground rules; a
    fact's step is the first rule that produced it, whose premises were all known
    before it, so derivations are well founded.
    """
    if rules is None:
        rules = ground_rules(terms, oracles)
    knowledge = Knowledge()
    waiting: dict[Term, list[int]] = {}
    missing: list[int] = []
    for index, rule in enumerate(rules):
        body = set(rule.body)
        missing.append(len(body))
        for premise in body:
            waiting.setdefault(premise, []).append(index)
    queue: list[Term] = []

    def learn(fact: Term, rule: Rule | None) -> None:
        if fact not in knowledge.steps:
            knowledge.steps[fact] = Step(fact, rule)
            queue.append(fact)

    # Sorted, so the derivations (not only the facts) are the same on every run.
    for fact in sorted(set(observed), key=str):
        learn(fact, None)
    for index, rule in enumerate(rules):
        if missing[index] == 0:
            learn(rule.head, rule)
    while queue:
        fact = queue.pop()
        for index in waiting.get(fact, ()):
            missing[index] -= 1
            if missing[index] == 0:
                learn(rules[index].head, rules[index])
    return knowledge


def render_derivation(
    knowledge: Knowledge, term: Term, names: Mapping[str, str] | None = None
) -> str:
    """render_derivation: the attack trace of ``term`` as numbered lines."""
    lines = []
    for number, step in enumerate(knowledge.derivation(term), start=1):
        how = "observed" if step.rule is None else step.rule.name
        premises = "" if step.rule is None else " from " + ", ".join(str(p) for p in step.rule.body)
        lines.append(f"  {number:>2}. {step.fact}  [{how}{premises}]")
    return "\n".join(lines)


DEDUCTION_RULES: Final = (
    "split",
    "pair",
    "decrypt",
    "encrypt",
    "hpke-open",
    "hpke-seal",
    "read-signed",
    "sign",
    "public-key",
    "derive",
    "guess-offline",
    "combine-<t>-shares",
)
