"""model.coalitions: I1 ``no-single-party-decrypts`` and the coalition table, by fixpoint.

The reference implementation of the knowledge question (``proofs/i1_knowledge.py`` asks
the same of Z3). For a :class:`model.flows.Scenario`:

- :func:`check_i1`: for every single non-HSM party, the secrets it can derive. I1 holds
  when none of ``root key``, ``password``, ``recovery code`` (nor the backup itself) is
  derivable by any one of them.
- :func:`coalition_table`: for every subset of the parties (``2^k`` closures), which
  secrets it learns; for each secret, the *minimal* coalitions that learn it (no proper
  subset does), each with its derivation (an attack trace).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Final

from model.flows import NON_HSM_PARTIES, Scenario, System, build
from model.terms import Knowledge, Rule, Term, closure, ground_rules, render_derivation, universe

I1_NAME: Final = "no-single-party-decrypts"
#: The secrets I1 speaks of (others, S and the PRF output, appear in the table).
I1_SECRETS: Final = ("root key", "password", "recovery code", "backup")


@dataclass(frozen=True)
class Ground:
    """Ground: a system with its universe and ground rules, computed once."""

    system: System
    terms: frozenset[Term]
    rules: tuple[Rule, ...]

    @classmethod
    def of(cls, scenario: Scenario) -> Ground:
        system = build(scenario)
        terms = universe(system.terms(), system.oracles)
        return cls(system, terms, ground_rules(terms, system.oracles))

    def observed(self, coalition: Iterable[str]) -> set[Term]:
        found: set[Term] = set()
        for party in coalition:
            found |= self.system.observed(party)
        return found

    def knowledge(self, coalition: Iterable[str]) -> Knowledge:
        return closure(self.observed(coalition), self.terms, rules=self.rules)


@dataclass(frozen=True)
class Leak:
    """Leak: a coalition that learns a secret, and how."""

    coalition: tuple[str, ...]
    secret: str
    derivation: str

    def __str__(self) -> str:
        return f"{{{', '.join(self.coalition)}}} learns the {self.secret}:\n{self.derivation}"


def check_i1(scenario: Scenario, ground: Ground | None = None) -> list[Leak]:
    """check_i1: the I1 secrets each single non-HSM party can derive (empty: I1 holds)."""
    ground = ground or Ground.of(scenario)
    leaks = []
    for party in NON_HSM_PARTIES:
        knowledge = ground.knowledge([party])
        for name, secret in ground.system.secrets.items():
            if name in I1_SECRETS and knowledge.knows(secret):
                leaks.append(Leak((party,), name, render_derivation(knowledge, secret)))
    return leaks


@dataclass(frozen=True)
class CoalitionTable:
    """CoalitionTable: per secret, the minimal coalitions that learn it."""

    scenario: Scenario
    parties: tuple[str, ...]
    minimal: dict[str, list[Leak]]
    subsets: int

    def learners(self, secret: str) -> list[tuple[str, ...]]:
        return [leak.coalition for leak in self.minimal.get(secret, [])]


def coalition_table(
    scenario: Scenario, ground: Ground | None = None, exclude: Iterable[str] = ()
) -> CoalitionTable:
    """coalition_table: every subset of the parties (minus ``exclude``), closed once each;
    a coalition is minimal for a secret if it learns it and no proper subset does."""
    ground = ground or Ground.of(scenario)
    parties = tuple(p for p in scenario.parties if p not in set(exclude))
    secrets = ground.system.secrets
    learned: dict[frozenset[str], Knowledge] = {}
    minimal: dict[str, list[Leak]] = {name: [] for name in secrets}
    subsets = 0
    for size in range(1, len(parties) + 1):
        for coalition in combinations(parties, size):
            subsets += 1
            members = frozenset(coalition)
            knowledge = ground.knowledge(coalition)
            learned[members] = knowledge
            for name, secret in secrets.items():
                if not knowledge.knows(secret):
                    continue
                if any(set(leak.coalition) < members for leak in minimal[name]):
                    continue
                minimal[name].append(Leak(coalition, name, render_derivation(knowledge, secret)))
    return CoalitionTable(scenario, parties, minimal, subsets)
