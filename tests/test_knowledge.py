"""The Dolev-Yao deduction of model.terms alone: each rule fires exactly when its premises
are known, derivations are well founded, and the closure is monotone."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.coalitions import Ground
from model.flows import Scenario
from model.terms import (
    DEDUCTION_RULES,
    Atom,
    Enc,
    Hpke,
    Knowledge,
    Pub,
    Rule,
    Share,
    Sig,
    Term,
    closure,
    ground_rules,
    kdf,
    render_derivation,
    tup,
    universe,
)

K = Atom("k")
SK = Atom("sk")
A = Atom("a")
B = Atom("b")
M = Atom("m")
SECRET = Atom("secret")
PEPPER = Atom("pepper")
PIN = Atom("pin", guessable=True)
SALT = Atom("salt")


def knows(observed: Iterable[Term], term: Term, *extra: Term) -> bool:
    """Whether ``observed`` lets one derive ``term``, in the universe of everything named."""
    seen = list(observed)
    return closure(seen, universe([*seen, term, *extra])).knows(term)


# --------------------------------------------------------------------- each rule


def test_split_gives_every_item() -> None:
    message = tup(A, B, Enc(K, M))
    knowledge = closure([message], universe([message]))
    assert knowledge.knows(A)
    assert knowledge.knows(B)
    assert knowledge.knows(Enc(K, M))
    assert not knowledge.knows(M)
    assert knowledge.steps[A].rule == Rule("split", A, (message,))


def test_pair_needs_every_item() -> None:
    message = tup(A, B)
    assert knows([A, B], message)
    assert not knows([A], message)
    assert not knows([B], message)


def test_decrypt_needs_the_key() -> None:
    box = Enc(K, M)
    assert not knows([box], M)
    assert not knows([box, Pub(K)], M)
    assert knows([box, K], M)
    knowledge = closure([box, K], universe([box]))
    assert knowledge.steps[M].rule == Rule("decrypt", M, (box, K))


def test_encrypt_needs_key_and_body() -> None:
    box = Enc(K, M)
    assert knows([K, M], box)
    assert not knows([M], box)
    assert not knows([K], box)


def test_hpke_open_needs_the_private_key() -> None:
    sealed = Hpke(Pub(SK), M)
    assert not knows([sealed], M)
    assert not knows([sealed, Pub(SK)], M)
    assert knows([sealed, SK], M)
    knowledge = closure([sealed, SK], universe([sealed]))
    assert knowledge.steps[M].rule == Rule("hpke-open", M, (sealed, SK))


def test_hpke_seal_needs_only_the_public_key() -> None:
    sealed = Hpke(Pub(SK), M)
    assert knows([Pub(SK), M], sealed)
    assert knows([SK, M], sealed)  # the public key follows from the private one
    assert not knows([Pub(SK)], sealed)


def test_public_key_from_private_key_only() -> None:
    assert knows([SK], Pub(SK))
    assert not knows([M], Pub(SK))
    assert not knows([Pub(SK)], SK)


def test_signature_reveals_but_cannot_be_forged() -> None:
    signed = Sig(SK, M)
    assert knows([signed], M)
    assert not knows([signed], SK)
    assert not knows([M, Pub(SK)], signed)
    assert not knows([M, Sig(SK, A)], signed)
    assert knows([M, SK], signed)


def test_derive_needs_all_inputs() -> None:
    key = kdf("hkdf", A, B, SECRET)
    assert knows([A, B, SECRET], key)
    for inputs in combinations([A, B, SECRET], 2):
        assert not knows(inputs, key)
    # and a KDF output does not give its (non-guessable) inputs back
    assert not knows([key, A, B], SECRET)


@pytest.mark.parametrize(("t", "n"), [(1, 1), (1, 3), (2, 3), (3, 3), (3, 5)])
def test_shares_combine_with_t_distinct_shares(t: int, n: int) -> None:
    shares = [Share(SECRET, i, t, n) for i in range(1, n + 1)]
    terms = universe(shares)
    for size in range(n + 1):
        for chosen in combinations(shares, size):
            assert closure(chosen, terms).knows(SECRET) == (size >= t), (chosen, t)


def test_shares_of_different_sharings_do_not_combine() -> None:
    one = Share(SECRET, 1, 2, 3)
    other_n = Share(SECRET, 2, 2, 4)
    other_secret = Share(M, 2, 2, 3)
    assert not knows([one, other_n], SECRET, other_secret)
    assert not knows([one, other_secret], SECRET)
    assert knows([one, Share(SECRET, 3, 2, 3)], SECRET)


def test_offline_guessing_confirms_a_guessable_atom() -> None:
    digest = kdf("argon2id", PIN, SALT)
    assert knows([digest, SALT], PIN)
    assert not knows([digest], PIN)  # the salt is needed to rebuild it
    knowledge = closure([digest, SALT], universe([digest]))
    assert knowledge.steps[PIN].rule == Rule("guess-offline", PIN, (digest, SALT))


def test_offline_guessing_through_nested_kdfs_and_ciphertexts() -> None:
    verifier = kdf("verifier", kdf("argon2id", PIN, SALT), SALT)
    assert knows([verifier, SALT], PIN)
    box = Enc(kdf("backup-key", kdf("pin-only", PIN, A)), M)
    assert knows([box, A], PIN)
    assert not knows([box], PIN)


def test_offline_guessing_blocked_by_an_unknown_input() -> None:
    digest = kdf("argon2id", PIN, SALT, PEPPER)
    assert not knows([digest, SALT], PIN)
    assert knows([digest, SALT, PEPPER], PIN)
    # a non-guessable secret is never guessed
    assert not knows([kdf("hkdf", SECRET, SALT), SALT], SECRET)


def test_guessing_needs_a_kdf_of_the_guess() -> None:
    # a ciphertext *of* the PIN under an unknown key confirms nothing
    assert not knows([Enc(K, PIN)], PIN)
    assert not knows([Hpke(Pub(SK), PIN)], PIN)


def test_oracle_rules_fire_on_their_premises() -> None:
    proof = kdf("argon2id", PIN, SALT)
    release = Rule("hsm-release", SECRET, (proof,))
    terms = universe([SALT], [release])
    assert closure([proof], terms, [release]).knows(SECRET)
    assert not closure([SALT], terms, [release]).knows(SECRET)
    axiom = Rule("given", M, ())
    assert closure([], universe([], [axiom]), [axiom]).knows(M)


def test_rule_names_are_the_documented_ones() -> None:
    documented = {*DEDUCTION_RULES, "combine-2-shares", "combine-3-shares"}
    for scenario in (Scenario(), Scenario(method="passkey"), Scenario(threshold=(2, 3))):
        ground = Ground.of(scenario)
        oracles = set(ground.system.oracles)
        for rule in ground.rules:
            assert rule in oracles or rule.name in documented, rule


# ---------------------------------------------------------- the fixpoint, in general

SCENARIOS = [
    Scenario(),
    Scenario(method="passkey"),
    Scenario(method="recovery-code", mode="pinned"),
    Scenario(variant="no-client-attestation"),
    Scenario(variant="pin-only-key"),
    Scenario(threshold=(2, 3), rotation=False),
]
GROUNDS = [Ground.of(scenario) for scenario in SCENARIOS]


def observable(ground: Ground) -> list[Term]:
    """Every term some party observes or holds, in a fixed order."""
    return sorted(ground.observed(ground.system.scenario.parties), key=str)


def assert_least_fixpoint(ground: Ground, observed: set[Term], knowledge: Knowledge) -> None:
    """Every fact is observed or the head of a rule whose premises are known (supported),
    and every rule whose premises are known has a known head (closed)."""
    facts = knowledge.facts()
    assert observed <= facts
    for rule in ground.rules:
        if all(premise in facts for premise in rule.body):
            assert rule.head in facts, rule
    for fact, step in knowledge.steps.items():
        assert step.fact == fact
        if step.rule is None:
            assert fact in observed
        else:
            assert step.rule in ground.rules
            assert step.rule.head == fact
            assert all(premise in facts for premise in step.rule.body)


def assert_well_founded(knowledge: Knowledge, observed: set[Term]) -> None:
    for fact in knowledge.facts():
        steps = knowledge.derivation(fact)
        assert steps
        assert steps[-1].fact == fact
        earlier: set[Term] = set()
        for step in steps:
            if step.rule is None:
                assert step.fact in observed
            else:
                missing = [p for p in step.rule.body if p not in earlier]
                assert not missing, (fact, step, missing)
            assert step.fact not in earlier  # each fact once
            earlier.add(step.fact)
        rendered = render_derivation(knowledge, fact).splitlines()
        assert len(rendered) == len(steps)
        assert rendered[-1].split(". ", 1)[1].startswith(str(fact))


@pytest.mark.parametrize("ground", GROUNDS, ids=[s.describe() for s in SCENARIOS])
def test_every_coalition_is_a_least_fixpoint_with_well_founded_derivations(
    ground: Ground,
) -> None:
    parties = ground.system.scenario.parties
    for size in (1, 2):
        for coalition in combinations(parties, size):
            observed = ground.observed(coalition)
            knowledge = ground.knowledge(coalition)
            assert_least_fixpoint(ground, observed, knowledge)
            assert_well_founded(knowledge, observed)


@pytest.mark.parametrize("ground", GROUNDS, ids=[s.describe() for s in SCENARIOS])
def test_each_ground_rule_fires_from_its_premises(ground: Ground) -> None:
    for rule in ground.rules:
        knowledge = closure(rule.body, ground.terms, rules=ground.rules)
        assert knowledge.knows(rule.head), rule


@given(data=st.data())
def test_closure_is_monotone(data: st.DataObject) -> None:
    ground = data.draw(st.sampled_from(GROUNDS))
    terms = observable(ground)
    small = data.draw(st.sets(st.sampled_from(terms), max_size=8))
    more = data.draw(st.sets(st.sampled_from(terms), max_size=8))
    lower = closure(small, ground.terms, rules=ground.rules)
    upper = closure(small | more, ground.terms, rules=ground.rules)
    assert lower.facts() <= upper.facts()
    assert_least_fixpoint(ground, set(small | more), upper)
    assert_well_founded(upper, set(small | more))


@given(data=st.data())
def test_coalitions_are_monotone(data: st.DataObject) -> None:
    ground = data.draw(st.sampled_from(GROUNDS))
    parties = list(ground.system.scenario.parties)
    small = data.draw(st.sets(st.sampled_from(parties), max_size=3))
    more = data.draw(st.sets(st.sampled_from(parties), max_size=3))
    assert ground.knowledge(small).facts() <= ground.knowledge(small | more).facts()


def test_ground_rules_are_built_over_the_universe() -> None:
    for ground in GROUNDS:
        assert ground.rules == ground_rules(ground.terms, ground.system.oracles)
        for rule in ground.rules:
            assert rule.head in ground.terms
            assert all(premise in ground.terms for premise in rule.body)
