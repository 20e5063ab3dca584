"""proofs.i1_knowledge: Z3's datalog fixpoint agrees with model.terms.closure on every
query; I1 holds on the defaults and fails, naming the party, under each unsafe variant; the
coalition facts of the knowledge model."""

from __future__ import annotations

from functools import cache
from itertools import combinations, product

import pytest
import z3

from model.coalitions import I1_NAME, CoalitionTable, Ground, check_i1, coalition_table
from model.flows import KNOWLEDGE_VARIANTS, METHODS, MODES, NON_HSM_PARTIES, POLICIES, Scenario
from model.terms import Atom
from proofs.i1_knowledge import (
    I1_PROPERTY,
    VARIANT_SCENARIOS,
    I1Report,
    KnowledgeEncoding,
    answer_rows,
    check_i1_all,
    check_i1_z3,
    coalitions_z3,
    default_scenarios,
    i1_secrets,
)

#: Every method x mode x policy x client attestation, each variant, and the threshold design.
MATRIX = [
    *(
        Scenario(method=method, mode=mode, policy=policy, client_attestation=attests)
        for method, mode, policy, attests in product(METHODS, MODES, POLICIES, (True, False))
    ),
    *VARIANT_SCENARIOS.values(),
    Scenario(threshold=(2, 3), rotation=False),
]
THRESHOLD = Scenario(threshold=(2, 3), rotation=False)

#: The party each unsafe variant hands a secret to.
VARIANT_PARTY = {
    "password-to-relay": "operator",
    "root-key-in-header": "storage",
    "pin-only-key": "storage",
    "no-client-attestation": "operator",
}


def _id(scenario: Scenario) -> str:
    parts = [scenario.method, scenario.mode, scenario.policy]
    parts.append("attest" if scenario.client_attestation else "no-attest")
    if scenario.threshold is not None:
        parts.append("{}of{}".format(*scenario.threshold))
    if scenario.variant is not None:
        parts.append(scenario.variant)
    return "/".join(parts)


@cache
def encoding(scenario: Scenario) -> KnowledgeEncoding:
    return KnowledgeEncoding.of(scenario)


@cache
def table(scenario: Scenario) -> CoalitionTable:
    return coalitions_z3(scenario, encoding=encoding(scenario))


def subsets(parties: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [c for size in range(1, len(parties) + 1) for c in combinations(parties, size)]


# ----------------------------------------------------------------- (1) agreement


def test_matrix_covers_every_setting() -> None:
    assert (
        len(MATRIX) == len(METHODS) * len(MODES) * len(POLICIES) * 2 + len(KNOWLEDGE_VARIANTS) + 1
    )
    assert {s.variant for s in MATRIX} == {None, *KNOWLEDGE_VARIANTS}


def fingerprint(scenario: Scenario) -> tuple[object, ...]:
    """Everything the knowledge question depends on: two scenarios with equal fingerprints
    (pinned mode ignores client attestation) have the same answers to every query."""
    ground = encoding(scenario).ground
    system = ground.system
    observed = tuple(frozenset(system.observed(p)) for p in scenario.parties)
    return (
        scenario.parties,
        ground.terms,
        ground.rules,
        observed,
        frozenset(system.secrets.items()),
    )


#: fingerprint -> the scenario whose answers were compared (a duplicate is not redone)
AGREED: dict[tuple[object, ...], Scenario] = {}
AGREED_SECRETS: dict[tuple[object, ...], Scenario] = {}


@pytest.mark.parametrize("scenario", MATRIX, ids=_id)
def test_z3_agrees_on_every_term_for_every_coalition(scenario: Scenario) -> None:
    """The whole relation ``known`` (every term, every subset of the parties, the device
    included) is the Python closure's, coalition by coalition."""
    key = fingerprint(scenario)
    if key in AGREED:  # the same ground system was compared under another name
        return
    enc = encoding(scenario)
    ground = enc.ground
    coalitions = subsets(scenario.parties)
    z3_known = enc.known_terms(coalitions)
    assert set(z3_known) == set(coalitions)
    for coalition in coalitions:
        expected = ground.knowledge(coalition).facts()
        got = z3_known[coalition]
        assert got == expected, (
            coalition,
            sorted(map(str, got - expected)),
            sorted(map(str, expected - got)),
        )
    AGREED[key] = scenario


@pytest.mark.parametrize("scenario", MATRIX, ids=_id)
def test_z3_point_queries_agree_on_every_secret(scenario: Scenario) -> None:
    """``known(party, secret)`` point queries (the I1 obligations' path: each non-HSM
    party alone) give model.coalitions.check_i1's leaks, and ``exists c. known(c,
    secret)`` (the coalition table's path) gives model.coalitions.coalition_table."""
    key = fingerprint(scenario)
    if key in AGREED_SECRETS:
        return
    report = check_i1_z3(scenario, encoding(scenario))
    leaks = {
        (leak.coalition[0], leak.secret) for leak in check_i1(scenario, encoding(scenario).ground)
    }
    assert {(o.party, name) for o in report.obligations for name in o.leaked} == leaks
    assert table(scenario) == coalition_table(scenario, exclude=("device",))
    AGREED_SECRETS[key] = scenario


def test_pinned_mode_ignores_client_attestation() -> None:
    """Why the matrix has duplicates (compared once)."""
    for method, policy in product(METHODS, POLICIES):
        on, off = (
            Scenario(method=method, mode="pinned", policy=policy, client_attestation=a)
            for a in (True, False)
        )
        assert fingerprint(on) == fingerprint(off)
    # and the no-client-attestation variant is client attestation off
    variant = VARIANT_SCENARIOS["no-client-attestation"]
    assert fingerprint(variant) == fingerprint(Scenario(client_attestation=False))
    assert len({fingerprint(s) for s in MATRIX}) == len(MATRIX) - len(METHODS) * len(POLICIES) - 1


def test_answer_rows_reads_rows_and_rejects_other_shapes() -> None:
    col0, col1 = z3.Var(0, z3.BitVecSort(4)), z3.Var(1, z3.BitVecSort(3))
    rows = z3.Or(
        z3.And(col0 == 5, col1 == 3), z3.And(col0 == 1, col1 == 0), z3.And(col1 == 7, col0 == 2)
    )
    assert answer_rows(rows, 2) == {(5, 3), (1, 0), (2, 7)}
    assert answer_rows(col0 == 9, 1) == {(9,)}
    assert answer_rows(z3.BoolVal(False), 1) == set()
    with pytest.raises(ValueError, match="unexpected"):
        answer_rows(z3.ULE(col0, 3), 1)
    with pytest.raises(ValueError, match="columns"):
        answer_rows(z3.And(col0 == 5, col1 == 3), 1)


def test_encoding_shape_and_errors() -> None:
    enc = encoding(Scenario())
    assert 2**enc.term_bits >= len(enc.terms) > 2 ** (enc.term_bits - 1)
    assert enc.coalition_bits == len(Scenario().parties)
    assert enc.rule_count == len(enc.ground.rules)
    assert enc.members(enc.mask(["storage", "operator"])) == ("operator", "storage")
    with pytest.raises(KeyError):
        enc.mask(["dc1"])
    with pytest.raises(ValueError, match="at least one"):
        enc.mask([])
    outside = Atom("not-in-the-universe")  # never synthesised, so never known
    assert enc.derivable(["device"], [outside]) == {outside: False}
    assert enc.learners([outside], [["device"]]) == {outside: set()}


# ----------------------------------------------------------------- (2) I1 holds


def test_i1_holds_on_every_method_and_mode() -> None:
    reports = check_i1_all(variants=False)
    assert [r.scenario for r in reports] == default_scenarios()
    assert {(r.scenario.method, r.scenario.mode) for r in reports} == set(product(METHODS, MODES))
    for report in reports:
        assert report.holds, report.render()
        assert [o.name for o in report.obligations] == [
            f"{I1_NAME}[{party}]" for party in NON_HSM_PARTIES
        ]
        for obligation in report.obligations:
            assert obligation.status == "PASS"
            assert obligation.counterexample == ""
            assert obligation.seconds >= 0
            assert "root key" in obligation.queried
        assert "verdict: holds" in report.render()
        assert report.to_json()["holds"] is True


# ------------------------------------------------------------ (3) variants fail


@pytest.fixture(scope="module")
def variant_reports() -> dict[str, I1Report]:
    reports = check_i1_all()
    return {r.scenario.variant: r for r in reports if r.scenario.variant is not None}


@pytest.mark.parametrize("variant", KNOWLEDGE_VARIANTS)
def test_each_variant_fails_naming_the_party(
    variant: str, variant_reports: dict[str, I1Report]
) -> None:
    report = variant_reports[variant]
    party = VARIANT_PARTY[variant]
    assert not report.holds
    assert [o.party for o in report.failed] == [party]
    failed = report.failed[0]
    assert failed.name == f"{I1_NAME}[{party}]"
    assert "root key" in failed.leaked
    enc = encoding(report.scenario)
    secrets = i1_secrets(enc)
    for name in failed.leaked:
        assert f"{party} learns the {name}" in failed.counterexample
        knowledge = enc.ground.knowledge([party])
        steps = knowledge.derivation(secrets[name])
        assert steps
        assert steps[-1].fact == secrets[name]
    assert "disagree" not in failed.counterexample
    rendered = report.render()
    assert I1_PROPERTY in rendered
    assert "FAIL" in rendered
    assert "verdict: violated" in rendered
    obligations = report.to_json()["obligations"]
    assert isinstance(obligations, list)
    assert [o["status"] for o in obligations].count("FAIL") == 1


def test_variant_traces_are_the_expected_attacks(variant_reports: dict[str, I1Report]) -> None:
    relay = variant_reports["password-to-relay"].failed[0].counterexample
    assert "hsm-release" in relay
    header = variant_reports["root-key-in-header"].failed[0].counterexample
    assert "split" in header
    pin = variant_reports["pin-only-key"].failed[0].counterexample
    assert "guess-offline" in pin
    rogue = variant_reports["no-client-attestation"].failed[0].counterexample
    assert "client-accepts-fleet" in rogue
    assert "hpke-open" in rogue


# ------------------------------------------------------------ (4) coalition facts


@pytest.mark.parametrize("scenario", default_scenarios(), ids=_id)
def test_defaults_no_single_non_hsm_party_learns_a_secret(scenario: Scenario) -> None:
    hsms = set(scenario.hsm_parties)
    result = table(scenario)
    assert result.subsets == 2 ** (len(scenario.parties) - 1) - 1
    for name in result.minimal:
        for coalition in result.learners(name):
            assert len(coalition) > 1 or coalition[0] in hsms, (name, coalition)


@pytest.mark.parametrize(
    "scenario",
    [Scenario(method=m, mode="pinned", policy=p) for m, p in product(METHODS, POLICIES)],
    ids=_id,
)
def test_pinned_no_coalition_without_an_hsm_learns_a_secret(scenario: Scenario) -> None:
    hsms = set(scenario.hsm_parties)
    result = table(scenario)  # the device excluded
    for name in result.minimal:
        for coalition in result.learners(name):
            assert hsms & set(coalition), (name, coalition)


def test_no_client_attestation_operator_alone_learns_password_and_root_key() -> None:
    scenario = VARIANT_SCENARIOS["no-client-attestation"]
    assert scenario.method == "password"
    assert scenario.mode == "ota"
    assert scenario.policy == "log-only"
    result = table(scenario)
    assert ("operator",) in result.learners("password")
    assert ("operator",) in result.learners("root key")
    # and with client attestation, the operator needs the vendor
    safe = table(Scenario())
    assert ("operator",) not in safe.learners("root key")
    assert ("operator", "vendor") in safe.learners("root key")


@pytest.mark.parametrize("threshold", [(2, 3), (3, 5)])
def test_threshold_no_single_dc_learns_the_root_key_or_the_password(
    threshold: tuple[int, int],
) -> None:
    scenario = Scenario(threshold=threshold, rotation=False)
    t, _n = threshold
    result = table(scenario)
    dcs = scenario.hsm_parties
    for name in ("root key", "password"):
        learners = result.learners(name)
        for dc in dcs:
            assert (dc,) not in learners
        # no coalition of fewer than t datacenters (and nobody else) learns it
        assert all(len(c) >= t for c in learners if set(c) <= set(dcs)), (name, learners)
        assert dcs[:t] in learners  # not vacuous: t of them do


@pytest.mark.parametrize(
    "scenario", [*default_scenarios(), *VARIANT_SCENARIOS.values(), THRESHOLD], ids=_id
)
def test_every_minimal_coalition_has_a_derivation_ending_in_the_secret(
    scenario: Scenario,
) -> None:
    result = table(scenario)
    ground: Ground = encoding(scenario).ground
    secrets = ground.system.secrets
    for name, leaks in result.minimal.items():
        for leak in leaks:
            steps = ground.knowledge(leak.coalition).derivation(secrets[name])
            assert steps, (name, leak.coalition)
            assert steps[-1].fact == secrets[name]
            assert leak.derivation.splitlines()[-1].split(". ", 1)[1].startswith(str(secrets[name]))
            for smaller in subsets(leak.coalition)[:-1]:  # proper subsets
                assert not ground.knowledge(smaller).knows(secrets[name])
