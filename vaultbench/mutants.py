"""vaultbench.mutants: ``vaultbench mutants``, every unsafe variant against every detector.

The workbench ships unsafe variants of its design, each a one-rule change (mutation
testing's *mutants*): the single-copy vault's (``model.vault.VARIANTS``), the fleet's
(``model.variants``), the fleet-key bundles' (``model.bundles``, and the combinations the
checker also runs), the migration rule's (``model.budget``) and the knowledge variants
(``model.flows.KNOWLEDGE_VARIANTS``, three of which the client implements as
``impl.client.LEAK_VARIANTS``). A *detector* is one of the checks the workbench already
has, called as a library function on one variant:

Z3 proofs (kind ``proof``)
    ``vault-i3`` (``proofs.vault_i3``), ``paxos-i2`` (``proofs.paxos_i2``), ``quorums``
    (``proofs.quorum``), ``fleet-i3i6`` (``proofs.fleet_vault``), ``bundles-i4i7``
    (``proofs.bundle_i4_i7``), ``budget-i5`` (``proofs.guess_budget_i5``) and
    ``knowledge-i1`` (``proofs.i1_knowledge``).
Runs of the implementation (kind ``run``)
    ``walk`` (``vaultbench.conformance``: seeded walks of the HSM against the model),
    ``fleet-walk`` (``vaultbench.fleet_conformance``), ``sim`` (``impl.sim.campaign``,
    every fault), ``rotation`` (``impl.sim.rotation``), ``attack`` (the attacks of
    ``tests/test_observer.py`` and a rogue-fleet rotation, run on the real client) and
    ``bundle-attack`` (one corrupted party's bundle against the real ``ota`` client with
    one of ``impl.bundle.IMPL_BUNDLE_VARIANTS`` or ``IMPL_BUNDLE_COMBINATIONS`` switched
    on, and against the safe one).

For each (variant, detector) pair the command records whether the detector caught the
variant, how long it took, the length of the shortest trace it found and one line of
evidence; ``N/A`` where the detector has no way to express the variant (it models or runs
another layer). A variant is *independently* caught when a proof and a run both catch
it. The safe design is run through every selected detector too: a detector that flags it
is broken. A variant that no detector catches but that a proof shows harmless on its own
(the invariants are *proved* with it: an equivalent mutant) is reported as such.

Exit 0 when every variant is caught by at least one detector (or proved harmless) and no
detector flags the safe design; 1 otherwise; 2 on a usage error. Seeds are fixed: the
output depends only on the arguments, except for the times.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from multiprocessing import get_context
from typing import TYPE_CHECKING, Final, Literal

from impl.bundle import IMPL_BUNDLE_COMBINATIONS, IMPL_BUNDLE_VARIANTS
from impl.client import LEAK_VARIANTS
from model.budget import ALL_BUDGET_VARIANT_NAMES, BUDGET_VARIANT_NAMES
from model.bundles import BUNDLE_COMBINATIONS, BUNDLE_VARIANT_NAMES, bundle_variant
from model.consensus import CONSENSUS_VARIANTS
from model.fleet import ALL_FLEET_VARIANT_NAMES
from model.flows import KNOWLEDGE_VARIANTS
from model.variants import FLEET_VARIANT_NAMES, fleet_variant
from model.vault import VARIANTS as VAULT_VARIANTS
from vaultbench.args import at_least

if TYPE_CHECKING:
    from impl.bundle import AcceptedFleet, ClientTrust, ValidationBundle
    from impl.client import Client
    from impl.errors import BundleError
    from impl.hsm import Hsm
    from impl.observe import BlobStorage, Observer
    from proofs.bundle_i4_i7 import BundleReport

EXIT_OK: Final = 0
EXIT_ESCAPED: Final = 1
EXIT_USAGE: Final = 2

Kind = Literal["proof", "run"]
#: What a detector said about one variant: it caught it; it ran and missed it; a proof
#: showed the invariant holds with it (an equivalent mutant); it cannot express it.
Result = Literal["caught", "missed", "proved", "n/a"]

ROGUE_VARIANT: Final = "no-client-attestation"
#: The fleet variants whose quorum arithmetic ``proofs.quorum`` can state.
QUORUM_VARIANTS: Final = ("minority-quorum", "rollback-beyond-budget", "rollback-undetected")


def _unique(*groups: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for group in groups for name in group))


#: Every unsafe variant, by layer, in catalogue order (the bundle combinations included).
ALL_VARIANTS: Final = _unique(
    tuple(VAULT_VARIANTS),
    FLEET_VARIANT_NAMES,
    BUNDLE_VARIANT_NAMES,
    BUNDLE_COMBINATIONS,
    BUDGET_VARIANT_NAMES,
    KNOWLEDGE_VARIANTS,
)

_LEAK_TEXT: Final = {
    "password-to-relay": "the password's access key also travels in a clear header the "
    "operator's relay reads",
    "root-key-in-header": "the backup blob's readable header carries the root key R",
    "pin-only-key": "R = Argon2id(password, SHA-256(user id)): anyone with the blob can "
    "guess the password offline",
}


def layer(variant: str) -> str:
    """layer: which part of the design ``variant`` changes."""
    if variant in VAULT_VARIANTS:
        return "vault"
    if variant in FLEET_VARIANT_NAMES:
        return "consensus" if variant in CONSENSUS_VARIANTS else "fleet"
    if variant == ROGUE_VARIANT:
        return "bundle+I1"
    if variant in BUNDLE_VARIANT_NAMES or variant in BUNDLE_COMBINATIONS:
        return "bundle"
    if variant in BUDGET_VARIANT_NAMES:
        return "migration"
    return "client (I1)"


def describe(variant: str) -> str:
    """describe: the rule ``variant`` breaks, from its catalogue."""
    if variant in VAULT_VARIANTS:
        return VAULT_VARIANTS[variant]
    if variant in FLEET_VARIANT_NAMES:
        return fleet_variant(variant).breaks
    if variant in _LEAK_TEXT:
        return _LEAK_TEXT[variant]
    return "; and ".join(bundle_variant(rule).breaks for rule in variant.split("+"))


# ---------------------------------------------------------------------------------------
# Budgets and findings


@dataclass(frozen=True)
class Budget:
    """Budget: how long the runs are (proofs always run in full). Seeds start at ``seed``."""

    name: str = "full"
    seed: int = 1
    walks: int = 4
    walk_steps: int = 300
    #: a safety net only: shrinking a failing walk ends well before it (about a second),
    #: so the shrunk length does not depend on the machine's speed
    shrink_seconds: float = 60.0
    fleet_walks: int = 6
    fleet_walk_steps: int = 100
    sims: int = 12
    sim_steps: int = 2000
    rotations: int = 2
    rotation_steps: int = 120


FULL: Final = Budget()
QUICK: Final = Budget(
    name="quick",
    walks=2,
    walk_steps=150,
    fleet_walks=2,
    fleet_walk_steps=40,
    sims=3,
    sim_steps=600,
    rotations=1,
    rotation_steps=60,
)


@dataclass(frozen=True)
class Finding:
    """Finding: one detector on one variant (``variant`` None: the safe design).

    ``seconds`` is the time to the verdict (for a run, up to the first failing seed; a
    reproducer's shrinking is not counted); ``trace`` the length of the shortest trace the
    detector reports (BMC depth, shrunk walk, steps or event index to the failure,
    derivation or attack steps), ``None`` when it gives none or did not catch.
    """

    variant: str | None
    detector: str
    result: Result
    seconds: float = 0.0
    trace: int | None = None
    evidence: str = ""

    @property
    def caught(self) -> bool:
        return self.result == "caught"


@dataclass(frozen=True)
class Detector:
    """Detector: a check of the workbench, called on one variant at a time."""

    name: str
    kind: Kind
    what: str
    applies: Callable[[str], bool]
    #: why it cannot express a variant it does not apply to
    scope: str
    check: Callable[[str | None, Budget], Finding]
    #: a rough cost, to start the longest tasks first when running in parallel
    weight: float = 1.0


def _caught(
    variant: str | None, detector: str, seconds: float, trace: int | None, evidence: str
) -> Finding:
    return Finding(variant, detector, "caught", seconds, trace, evidence)


def _missed(variant: str | None, detector: str, seconds: float, evidence: str) -> Finding:
    return Finding(variant, detector, "missed", seconds, None, evidence)


def _proved(variant: str | None, detector: str, seconds: float, evidence: str) -> Finding:
    return Finding(variant, detector, "proved", seconds, None, evidence)


class _Clock:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.started


# ---------------------------------------------------------------------------------------
# The proofs


def _vault_i3(variant: str | None, budget: Budget) -> Finding:
    from model.vault import VaultConfig
    from proofs.vault_i3 import check_i3

    name = "vault-i3"
    clock = _Clock()
    report = check_i3(VaultConfig(variant=variant))
    seconds = clock()
    failing = sum(o.status != "PASS" for o in report.obligations)
    total = len(report.obligations)
    if report.bmc.trace is not None:
        n = report.bmc.trace.length
        return _caught(
            variant,
            name,
            seconds,
            n,
            f"BMC: I3 attempt-limit violated in {n} steps (limit 10); "
            f"{failing}/{total} inductive obligations fail",
        )
    if not report.proved:
        return _caught(
            variant,
            name,
            seconds,
            None,
            f"unproved: {failing}/{total} obligations fail (no trace up to depth "
            f"{report.bmc.max_depth})",
        )
    return _proved(
        variant,
        name,
        seconds,
        f"{total} inductive obligations pass for every limit; no trace up to depth "
        f"{report.bmc.max_depth}",
    )


def _paxos_i2(variant: str | None, budget: Budget) -> Finding:
    from proofs.paxos_i2 import check_i2

    name = "paxos-i2"
    clock = _Clock()
    report = check_i2(variant)
    seconds = clock()
    if report.trace is not None:
        n = report.trace.length
        inst = report.instance
        return _caught(
            variant,
            name,
            seconds,
            n,
            f"BMC: two values chosen in {n} steps (n={inst.n}, q={inst.q}); obligations "
            f"failing: {sum(o.status != 'PASS' for o in report.obligations)}",
        )
    if not report.proved:
        return _caught(variant, name, seconds, None, "unproved: an obligation or VC fails")
    return _proved(
        variant,
        name,
        seconds,
        f"{len(report.obligations)} obligations pass in EPR (any n, rounds, values); "
        f"no trace up to depth {report.bmc.max_depth}",
    )


def _quorums(variant: str | None, budget: Budget) -> Finding:
    from proofs.quorum import check_quorums, parametric_lemma, rollback_budget

    name = "quorums"
    n = 5
    q = 2 if variant == "minority-quorum" else 3
    # The safe fleet detects rolled-back stores (docs/disk.rst): quorums need only meet.
    r = 0
    if variant == "rollback-beyond-budget":
        r = rollback_budget(n, q) + 1
    elif variant == "rollback-undetected":
        r = n
    clock = _Clock()
    lemma = parametric_lemma()
    report = check_quorums(n, q, r)
    seconds = clock()
    if any(o.status != "PASS" for o in lemma):
        return _caught(variant, name, seconds, None, "the parametric intersection lemma fails")
    if not report.holds:
        return _caught(
            variant,
            name,
            seconds,
            None,
            f"q={q} of n={n}, r={r} rolled back: two quorums meet only in rolled-back "
            f"replicas: {report.counterexample}",
        )
    return _proved(
        variant, name, seconds, f"any two quorums of {q} of {n} share a replica beyond r={r}"
    )


def _fleet_i3i6(variant: str | None, budget: Budget) -> Finding:
    from proofs.fleet_vault import check_fleet

    name = "fleet-i3i6"
    clock = _Clock()
    report = check_fleet(variant)
    seconds = clock()
    found = {k: r.trace.length for k, r in report.bmc.items() if r.trace is not None}
    if found:
        parts = ", ".join(f"{k} in {n} steps" for k, n in found.items())
        c = report.config
        return _caught(
            variant,
            name,
            seconds,
            min(found.values()),
            f"BMC (n={c.replicas}, q={c.quorum}, limit {c.limit}): {parts}",
        )
    if not report.proved:
        return _caught(variant, name, seconds, None, "unproved: an obligation fails")
    depths = ", ".join(f"{k} {r.max_depth}" for k, r in report.bmc.items())
    return _proved(
        variant,
        name,
        seconds,
        f"{len(report.obligations)} parametric obligations pass; no trace up to depth {depths}",
    )


@cache
def _safe_bundles(attestation: bool) -> BundleReport:
    from proofs.bundle_i4_i7 import check_bundles

    return check_bundles(None, "log-only", attestation)


def _claimed_violations(report: BundleReport) -> dict[tuple[str, str], int]:
    """(invariant, corrupted party) -> shortest trace, for every claimed violation."""
    out: dict[tuple[str, str], int] = {}
    for party, result in report.parties.items():
        for key in result.bmc:
            shortest = result.shortest(key)
            if result.verdict(key) == "violated" and shortest is not None:
                out[(key, party)] = shortest
    return out


def _bundles_i4i7(variant: str | None, budget: Budget) -> Finding:
    from proofs.bundle_i4_i7 import check_bundles

    name = "bundles-i4i7"
    # The variant is compared with the safe client in the same setting: the default
    # (log-only witness, client attestation on), then with attestation off, where the
    # signatures are the only protection. ``no-client-attestation`` *is* attestation off,
    # so it is compared with the default.
    settings = [True] if variant in (None, ROGUE_VARIANT) else [True, False]
    if variant is not None:
        for attestation in settings:
            _safe_bundles(attestation)  # the reference, outside the timed part
    clock = _Clock()
    proved_default = False
    for attestation in settings:
        report = check_bundles(variant, "log-only", attestation)
        known: dict[tuple[str, str], int] = {}
        if variant is not None:
            reference = _safe_bundles(True if variant == ROGUE_VARIANT else attestation)
            known = _claimed_violations(reference)
        new = {k: n for k, n in _claimed_violations(report).items() if k not in known}
        if new:
            (key, party), n = min(new.items(), key=lambda item: (item[1], item[0]))
            att = "on" if report.client_attestation else "off"
            others = len(new) - 1
            more = f" (and {others} more invariant/party pair(s))" if others else ""
            return _caught(
                variant,
                name,
                clock(),
                n,
                f"BMC: {key} violated in {n} steps with "
                f"{'no party' if party == 'none' else 'the ' + party} corrupted "
                f"(log-only witness, client attestation {att}){more}",
            )
        if attestation:
            proved_default = all(
                result.verdict(key) in ("holds", "not claimed")
                for result in report.parties.values()
                for key in result.bmc
            )
    seconds = clock()
    if proved_default:
        extra = (
            "; with attestation off it adds no violation the safe client does not have"
            if len(settings) > 1
            else ""
        )
        return _proved(
            variant,
            name,
            seconds,
            "I4 and I7 proved (inductive obligations) for every corrupted party, "
            f"log-only witness, client attestation on{extra}",
        )
    return _missed(variant, name, seconds, "no violation beyond the safe client's")


def _budget_i5(variant: str | None, budget: Budget) -> Finding:
    from proofs.guess_budget_i5 import check_i5

    name = "budget-i5"
    clock = _Clock()
    report = check_i5(variant)
    seconds = clock()
    if report.shortest is not None:
        return _caught(
            variant,
            name,
            seconds,
            report.shortest,
            f"BMC: I5 guess-budget violated in {report.shortest} steps "
            f"(more wrong guesses than one budget across two fleets)",
        )
    if not report.proved:
        return _caught(variant, name, seconds, None, "unproved: an obligation fails")
    return _proved(
        variant,
        name,
        seconds,
        f"{len(report.obligations)} obligations pass (every limit, any number of fleets)",
    )


def _knowledge_i1(variant: str | None, budget: Budget) -> Finding:
    from proofs.i1_knowledge import (
        VARIANT_SCENARIOS,
        KnowledgeEncoding,
        check_i1_z3,
        default_scenarios,
        i1_secrets,
    )

    name = "knowledge-i1"
    scenarios = default_scenarios() if variant is None else [VARIANT_SCENARIOS[variant]]
    clock = _Clock()
    leaks: list[tuple[int, str, str]] = []
    for scenario in scenarios:
        encoding = KnowledgeEncoding.of(scenario)
        report = check_i1_z3(scenario, encoding)
        secrets = i1_secrets(encoding)
        for obligation in report.failed:
            knowledge = encoding.ground.knowledge([obligation.party])
            for secret in obligation.leaked:
                steps = len(knowledge.derivation(secrets[secret]))
                leaks.append((steps, obligation.party, secret))
    seconds = clock()
    if leaks:
        steps, party, secret = min(leaks)
        learned = sorted({s for _, p, s in leaks if p == party})
        return _caught(
            variant,
            name,
            seconds,
            steps or None,
            f"Z3: the {party} alone derives the {', the '.join(learned)} "
            f"(the {secret} in {steps} derivation steps)",
        )
    return _proved(
        variant,
        name,
        seconds,
        f"Z3: no I1 secret derivable by any non-HSM party alone ({len(scenarios)} scenario(s))",
    )


# ---------------------------------------------------------------------------------------
# The runs


def _walk(variant: str | None, budget: Budget) -> Finding:
    from vaultbench.conformance import run_walk, shrink

    name = "walk"
    seeds = range(budget.seed, budget.seed + budget.walks)
    clock = _Clock()
    for seed in seeds:
        walk = run_walk(seed, budget.walk_steps, variant=variant, shrink_seconds=0.0)
        if walk.failure is None:
            continue
        seconds = clock()
        short = shrink(
            walk.ops,
            walk.failure,
            variant=variant,
            max_attempts=10,
            budget_seconds=budget.shrink_seconds,
        )
        return _caught(
            variant,
            name,
            seconds,
            len(short),
            f"seed {seed}: {walk.failure.invariant} fails at step {walk.steps}; "
            f"shrunk to {len(short)} operations",
        )
    return _missed(
        variant, name, clock(), f"{len(seeds)} walks of {budget.walk_steps} steps conform"
    )


def _fleet_walk(variant: str | None, budget: Budget) -> Finding:
    from vaultbench.fleet_conformance import run_fleet_walk

    name = "fleet-walk"
    seeds = range(budget.seed, budget.seed + budget.fleet_walks)
    clock = _Clock()
    for seed in seeds:
        ran, failure, _ = run_fleet_walk(seed, budget.fleet_walk_steps, variant=variant)
        if failure is not None:
            return _caught(
                variant,
                name,
                clock(),
                ran,
                f"seed {seed}: {failure.invariant} fails at step {ran}",
            )
    return _missed(
        variant,
        name,
        clock(),
        f"{len(seeds)} walks of {budget.fleet_walk_steps} steps conform",
    )


def _sim(variant: str | None, budget: Budget) -> Finding:
    from impl.sim.campaign import FAULTS, SimConfig, run_simulation

    name = "sim"
    seeds = range(budget.seed, budget.seed + budget.sims)
    quorum = 2 if variant == "minority-quorum" else 0
    clock = _Clock()
    for seed in seeds:
        config = SimConfig(
            seed=seed,
            steps=budget.sim_steps,
            faults=frozenset(FAULTS),
            variant=variant,
            quorum=quorum,
        )
        result = run_simulation(config, minimise=False)
        if result.violations:
            first = result.violations[0]
            return _caught(
                variant,
                name,
                clock(),
                first.event,
                f"seed {seed}: {first.invariant} violated at event {first.event}",
            )
    return _missed(
        variant,
        name,
        clock(),
        f"{len(seeds)} runs of {budget.sim_steps} events, every fault: no violation",
    )


def _rotation(variant: str | None, budget: Budget) -> Finding:
    from impl.sim.rotation import ROTATION_FAULTS, RotationConfig, run_rotation

    name = "rotation"
    seeds = range(budget.seed, budget.seed + budget.rotations)
    clock = _Clock()
    for seed in seeds:
        config = RotationConfig(
            seed=seed,
            steps=budget.rotation_steps,
            faults=frozenset(ROTATION_FAULTS),
            variant=variant,
        )
        result = run_rotation(config)
        if result.violations:
            first = result.violations[0]
            return _caught(
                variant,
                name,
                clock(),
                first.step,
                f"seed {seed}: {first.invariant} violated at step {first.step}",
            )
    return _missed(
        variant,
        name,
        clock(),
        f"{len(seeds)} rotation(s) of {budget.rotation_steps} steps: every check holds",
    )


# The attacks: each runs the real client (with the variant, or the safe design) and then
# plays one non-HSM party with only what that party holds. An attack that recovers the
# user's root key or backup plaintext catches the variant; on the safe design it must fail.

_USER: Final = "dave"
_PASSWORD: Final = "correct horse battery staple 1729"
_PLAINTEXT: Final = b"the user's chats, photos and contacts"
#: The offline attacker's dictionary: common six-digit PINs, the user's among them.
_PINS: Final = (
    "123456",
    "000000",
    "111111",
    "123123",
    "654321",
    "112233",
    "121212",
    "999999",
    "000001",
    "424242",
    "271828",
    "314159",
    "493817",
    "777777",
    "696969",
    "159753",
)
_USER_PIN: Final = "493817"

#: One attack's outcome: recovered anything, the steps taken, one line of evidence.
Attack = tuple[bool, list[str], str]


def _solo(leak: str | None, observer: Observer) -> tuple[Hsm, Client, BlobStorage]:
    """One HSM behind the operator's observed relay, a client, the storage provider."""
    from impl.client import Client, ClientConfig
    from impl.crypto.symmetric import Argon2Params, SeededRng
    from impl.hsm import Hsm
    from impl.observe import BlobStorage, ObservedRelay

    hsm = Hsm(rng=SeededRng(8), observer=observer)
    client = Client(
        _USER,
        ObservedRelay(observer, hsm.handle),
        hsm.fleet_public_key,
        config=ClientConfig(argon2=Argon2Params.FAST, leak=leak),
        rng=SeededRng(9),
        observer=observer,
    )
    return hsm, client, BlobStorage(observer)


def _opens(root: bytes, blob: bytes) -> bool:
    from impl.blob import decrypt_backup
    from impl.errors import VaultbenchError
    from impl.redact import Secret

    try:
        return decrypt_backup(Secret(root), blob) == _PLAINTEXT
    except (VaultbenchError, ValueError):
        return False


def _attack_root_key_in_header(leak: str | None) -> Attack:
    """The storage provider reads the blob's header and decrypts the blob with it."""
    from impl.blob import read_header
    from impl.observe import Observer

    _, client, storage = _solo(leak, Observer())
    storage.put(_USER, client.backup(client.enroll_password(_PASSWORD), _PLAINTEXT))
    blob = storage.get(_USER)
    metadata = read_header(blob).metadata
    steps = [f"storage reads the blob's header metadata ({len(metadata)} bytes)"]
    steps.append("storage decrypts the blob with it as R")
    if _opens(metadata, blob):
        return True, steps, "the storage provider alone decrypts the backup"
    return False, steps, "the header metadata does not open the blob"


def _attack_password_to_relay(leak: str | None) -> Attack:
    """The operator replays the access key its relay read and asks the HSM for R."""
    from impl.crypto.symmetric import SeededRng
    from impl.messages import BeginRecovery, PasswordRecoveryInfo, RecoverPassword, Released
    from impl.observe import Observer
    from impl.redact import Secret
    from impl.session import open_response, seal_request

    observer = Observer()
    hsm, client, storage = _solo(leak, observer)
    enrollment = client.enroll_password(_PASSWORD)
    storage.put(_USER, client.backup(enrollment, _PLAINTEXT))
    stolen = [s.data for s in observer.sightings("operator") if s.label == "relay/access-key"]
    if not stolen:
        return False, [], "the relay saw only sealed requests: no access key to replay"
    steps = ["operator reads the access key from the relay's clear header"]
    rng = SeededRng(666)

    def ask(request: BeginRecovery | RecoverPassword) -> object:
        sealed, key = seal_request(hsm.fleet_public_key, request, rng)
        return open_response(key, hsm.handle(sealed))

    info = ask(BeginRecovery(_USER))
    steps.append("operator begins a recovery for the user")
    if not isinstance(info, PasswordRecoveryInfo):
        return False, steps, f"the HSM answered {type(info).__name__}"
    answer = ask(RecoverPassword(_USER, info.registration, info.attempts, Secret(stolen[-1])))
    steps.append("operator sends the stolen access key")
    if not isinstance(answer, Released) or answer.secret != enrollment.root_key:
        return False, steps, f"the HSM answered {type(answer).__name__}"
    steps.append("operator decrypts the backup with the released R")
    if _opens(answer.secret.reveal(), storage.get(_USER)):
        return True, steps, "the operator alone gets R from the HSM and decrypts the backup"
    return False, steps, "the released R does not open the blob"


def _attack_pin_only_key(leak: str | None) -> Attack:
    """The storage provider guesses the PIN offline: no HSM, only the blob."""
    from impl.client import pin_only_root_key
    from impl.crypto.symmetric import Argon2Params
    from impl.observe import Observer

    hsm, client, storage = _solo(leak, Observer())
    storage.put(_USER, client.backup(client.enroll_password(_USER_PIN), _PLAINTEXT))
    blob = storage.get(_USER)
    handled = hsm.requests_handled
    steps: list[str] = []
    for pin in _PINS:
        steps.append(f"storage tries PIN {pin} offline")
        if _opens(pin_only_root_key(pin, _USER, Argon2Params.FAST), blob):
            if hsm.requests_handled != handled:
                return False, steps, "the PIN was found, but not offline"
            return (
                True,
                steps,
                f"the storage provider finds the PIN after {len(steps)} offline guesses "
                "and decrypts the backup, never asking the HSM",
            )
    return False, steps, f"none of {len(_PINS)} dictionary PINs opens the blob"


def _attack_rogue_fleet(attestation: bool) -> Attack:
    """The operator deploys a fleet of its own keys (no pinned vendor attests them); the
    log-only witness signs and logs it; the operator counter-signs it and serves it as
    a rotation; the client registers its password there; the operator opens it."""
    from impl.bundle import MemoryEpochStore, encode_bundle, verify_bundle
    from impl.ceremony import (
        CERT_LIFETIME,
        GENESIS,
        Parties,
        client_trust,
        run_ceremony,
        witness_log,
    )
    from impl.client import Client, ClientConfig
    from impl.consensus import ConsensusConfig
    from impl.crypto.symmetric import Argon2Params, SeededRng
    from impl.crypto.x509 import VendorCA
    from impl.errors import BundleError
    from impl.messages import RegisterPassword
    from impl.ota import OtaEndpoint
    from impl.session import open_request
    from impl.sim.world import World

    parties = Parties.from_seed(41)
    log = witness_log(parties)
    genuine = run_ceremony(parties, log, epoch=1, seed=41)
    trust = client_trust(parties, 2, client_attestation=attestation)
    epochs = MemoryEpochStore()
    verify_bundle(genuine.bundle, trust, epochs)  # the client is on the genuine epoch 1
    # The operator's own HSMs, certified by a vendor root of its own making.
    own_vendor = VendorCA.generate(
        SeededRng(4242), "Simulated HSM Vendor Root", GENESIS, GENESIS + CERT_LIFETIME
    )
    operator_side = Parties(parties.witness, parties.operator, own_vendor)
    rogue = run_ceremony(operator_side, log, epoch=2, seed=4242)
    steps = [
        "operator submits a fleet-key file of its own keys; the log-only witness signs epoch 2",
        "operator counter-signs the witness signature and serves the bundle",
    ]
    world = World(5, ConsensusConfig(), keys=rogue.hsm_keys, bundle=encode_bundle(rogue.bundle))
    world.settle()
    relayed: list[bytes] = []

    def relay(sealed: bytes) -> bytes:
        relayed.append(sealed)
        return world.endpoint(sealed)

    endpoint = OtaEndpoint(world.hello, relay, trust, epochs)
    try:
        endpoint.connect()
    except BundleError as refusal:
        return False, steps, f"the client refuses the rogue bundle: {type(refusal).__name__}"
    steps.append("the client accepts epoch 2 and registers its password with it")
    client = Client(
        _USER,
        endpoint,
        endpoint.fleet_public_key,
        config=ClientConfig(argon2=Argon2Params.FAST),
        rng=SeededRng(43),
    )
    enrollment = client.enroll_password(_PASSWORD)
    steps.append("operator opens the sealed registration with its rogue fleet key")
    keypair = rogue.hsm_keys[0].fleet_keypair
    for sealed in relayed:
        request, _ = open_request(keypair, sealed)
        if isinstance(request, RegisterPassword) and request.secret == enrollment.root_key:
            return True, steps, "the operator alone reads R and the access key (I4, then I1)"
    return False, steps, "no relayed request carried R"


def _attack(variant: str | None, budget: Budget) -> Finding:
    name = "attack"
    clock = _Clock()
    attacks: list[tuple[str, Callable[[], Attack]]]
    if variant is None:
        attacks = [
            ("root-key-in-header", lambda: _attack_root_key_in_header(None)),
            ("password-to-relay", lambda: _attack_password_to_relay(None)),
            ("pin-only-key", lambda: _attack_pin_only_key(None)),
            ("rogue fleet", lambda: _attack_rogue_fleet(True)),
        ]
    elif variant == ROGUE_VARIANT:
        attacks = [("rogue fleet", lambda: _attack_rogue_fleet(False))]
    else:
        run = {
            "root-key-in-header": _attack_root_key_in_header,
            "password-to-relay": _attack_password_to_relay,
            "pin-only-key": _attack_pin_only_key,
        }[variant]
        attacks = [(variant, lambda: run(variant))]
    failed: list[str] = []
    for label, attack in attacks:
        success, steps, evidence = attack()
        if success:
            return _caught(variant, name, clock(), len(steps), f"{label}: {evidence}")
        failed.append(f"{label}: {evidence}")
    return _missed(variant, name, clock(), "; ".join(failed))


# The bundle attacks: one per unsafe client of ``impl.bundle.IMPL_BUNDLE_VARIANTS`` and
# ``IMPL_BUNDLE_COMBINATIONS``, each within [3/6]'s threat model (at most one of operator,
# witness, vendor corrupted; the network always the attacker's). A deployment of genuine
# epochs (the real ceremony, a log-only witness, the vendor's attestation chains) is made,
# the client accepts them in order, then the corrupted party builds its bundle from what
# it holds. The baseline client (the safe one, or for a combination the same protocol
# with the skipped check kept) must refuse it with the check the variant skips; the
# variant's client accepts it. Client attestation stays on in every attack: each re-uses
# keys the vendor attested. ``countersign-file-not-signature`` alone has no attack: the
# proofs show it equivalent, and the detector runs the combination's attack against it.

#: The one variant whose attack is its combination's (alone it is an equivalent mutant).
_NO_OWN_ATTACK: Final = "countersign-file-not-signature"
#: The variants (and combinations) with an attack of their own, in catalogue order.
ATTACKED_VARIANTS: Final = (
    *(v for v in IMPL_BUNDLE_VARIANTS if v != _NO_OWN_ATTACK),
    *IMPL_BUNDLE_COMBINATIONS,
)


@dataclass(frozen=True)
class BundleAttack:
    """BundleAttack: one attack bundle against the ``ota`` client.

    ``history`` are the genuine bundles the client accepted before; ``refusal`` the name
    of the ``BundleError`` the ``baseline`` client (``None``, the safe one, or for a
    combination the same protocol with the skipped check kept) must raise; ``steps`` what
    the attacker and the client do; ``harm`` what acceptance means."""

    variant: str
    corrupted: str
    refusal: str
    steps: tuple[str, ...]
    history: tuple[ValidationBundle, ...]
    bundle: ValidationBundle
    trust: ClientTrust
    harm: str
    baseline: str | None = None


def bundle_attack(variant: str) -> BundleAttack:
    """bundle_attack: the attack that separates the ``variant`` client (one of
    ``ATTACKED_VARIANTS``) from its baseline. Deterministic; about 50 ms."""
    from dataclasses import replace as with_fields

    from impl.attestation import VendorAttestationVerifier
    from impl.auditlog import AuditLog
    from impl.bundle import ClientTrust, ValidationBundle
    from impl.ceremony import DEFAULT_FIRMWARE, LOG_ORIGIN, Parties, deployed_at, run_ceremony
    from impl.fleetkeys import FleetKeyFile, digest, encode_fleet_key_file
    from impl.statement import (
        CIPHERSUITE_ED25519_PROTOBUF,
        SignatureMessage,
        key_id,
        sign_statement,
    )
    from impl.witness import Witness

    if variant not in ATTACKED_VARIANTS:
        raise ValueError(f"no bundle attack for {variant!r}; known: {ATTACKED_VARIANTS}")
    parties = Parties.from_seed(41)
    log = AuditLog(LOG_ORIGIN, parties.witness, statement_key=parties.witness.public_key())
    one = run_ceremony(parties, log, epoch=1, seed=41)
    two = run_ceremony(parties, log, epoch=2, seed=41)
    witness_key = parties.witness.public_key()
    trust = ClientTrust(
        witness_keys={key_id(witness_key): witness_key},
        operator_key=parties.operator.public_key(),
        client_attestation=True,
        attestation_verifier=VendorAttestationVerifier(
            parties.vendor.root_der(), frozenset({DEFAULT_FIRMWARE}), deployed_at(3)
        ),
    )
    at3 = int(deployed_at(3).timestamp() * 1000)
    relabel = "re-labels epoch 1's fleet-key file (its keys, vendor-attested) with a new fleet id"

    def logged_and_countersigned(
        file: FleetKeyFile, chains: Mapping[str, bytes]
    ) -> ValidationBundle:
        """The honest log-only witness signs and logs ``file`` at the log's next epoch
        (3); the corrupted operator counter-signs."""
        file_bytes = encode_fleet_key_file(file)
        signed = Witness(parties.witness, log, "log-only").sign(3, digest(file_bytes), at3)
        return ValidationBundle(
            file_bytes,
            signed.message,
            signed.signature,
            signed.key_id,
            parties.operator.sign(signed.signature),
            chains,
        )

    if variant == "accept-one-signature":
        forged = with_fields(one.file, fleet_id="fleet-3-witness", epoch=3)
        file_bytes = encode_fleet_key_file(forged)
        statement = SignatureMessage(
            CIPHERSUITE_ED25519_PROTOBUF, forged.namespace, at3, 3, digest(file_bytes)
        )
        witness_signature = sign_statement(statement, parties.witness)
        bundle = ValidationBundle(
            file_bytes,
            statement,
            witness_signature,
            key_id(witness_key),
            parties.witness.sign(witness_signature),  # no operator key: garbage
            one.bundle.chains,
        )
        return BundleAttack(
            variant,
            "witness",
            "CounterSignatureInvalid",
            (
                f"the corrupted witness {relabel} and epoch 3",
                "it signs a statement of epoch 3 for that file and does not log it",
                "it fills the counter-signature with its own signature (it has no operator key)",
                "the network serves the bundle to the client, which is on epoch 2",
            ),
            (one.bundle, two.bundle),
            bundle,
            trust,
            "the client moves to an epoch 3 the operator never approved and the log does not "
            "hold, chosen by the witness alone",
        )
    if variant == "countersign-file-not-signature+no-file-epoch-check":
        # The protocol counter-signs files: the honest operator's epoch-1 bundle carries
        # its signature over SHA-256 of the file, which no statement binds to an epoch.
        over_file = parties.operator.sign(digest(one.bundle.file_bytes))
        genuine = with_fields(one.bundle, counter_signature=over_file)
        at2 = int(deployed_at(2).timestamp() * 1000)
        statement = SignatureMessage(
            CIPHERSUITE_ED25519_PROTOBUF, one.file.namespace, at2, 2, digest(one.bundle.file_bytes)
        )
        bundle = ValidationBundle(
            one.bundle.file_bytes,
            statement,
            sign_statement(statement, parties.witness),
            key_id(witness_key),
            over_file,
            one.bundle.chains,
        )
        return BundleAttack(
            variant,
            "witness",
            "EpochMismatch",
            (
                "the honest operator counter-signs epoch 1's file (its digest, as this "
                "protocol does); the client accepts that bundle",
                "the corrupted witness signs a statement of epoch 2 for epoch 1's file and "
                "does not log it",
                "it re-uses the operator's file counter-signature and serves the bundle",
            ),
            (genuine,),
            bundle,
            trust,
            "the client accepts a statement of epoch 2 that the log does not hold and the "
            "operator never counter-signed for epoch 2: the witness alone chose it (I4)",
            baseline="countersign-file-not-signature",
        )
    if variant == "no-epoch-check":
        return BundleAttack(
            variant,
            "operator",
            "EpochRollback",
            (
                "the corrupted operator keeps epoch 1's genuine bundle",
                "it serves it to the client, which has accepted epoch 2",
            ),
            (one.bundle, two.bundle),
            one.bundle,
            trust,
            "the client goes back from epoch 2 to epoch 1's retired fleet (a rollback)",
        )
    if variant == "no-file-epoch-check":
        forged = with_fields(one.file, fleet_id="fleet-2-relabelled", epoch=2)
        return BundleAttack(
            variant,
            "operator",
            "EpochMismatch",
            (
                f"the corrupted operator {relabel} and epoch field 2 (a new digest)",
                "the honest log-only witness signs and logs that digest at its next epoch, 3",
                "the operator counter-signs the witness signature and serves the bundle",
            ),
            (one.bundle, two.bundle),
            logged_and_countersigned(forged, one.bundle.chains),
            trust,
            "under the witness's epoch-3 statement the client accepts a file that says "
            "epoch 2 and lists epoch 1's retired keys",
        )
    if variant == "no-digest-check":
        forged = with_fields(one.file, fleet_id="fleet-2-substituted", epoch=2)
        bundle = with_fields(
            two.bundle, file_bytes=encode_fleet_key_file(forged), chains=one.bundle.chains
        )
        return BundleAttack(
            variant,
            "operator",
            "DigestMismatch",
            (
                "the corrupted operator takes epoch 2's genuine statement and both signatures",
                f"it substitutes a file it {relabel.removeprefix('re-labels ')} and epoch 2 "
                "for epoch 2's file",
                "it serves the bundle to the client, which is on epoch 1",
            ),
            (one.bundle,),
            bundle,
            trust,
            "the client accepts for epoch 2 a file that is not the one the witness signed "
            "and logged (I4 and I7)",
        )
    minority = with_fields(two.file, fleet_id="fleet-3-minority", epoch=3, quorum=1)
    return BundleAttack(
        variant,
        "operator",
        "ConfigurationRejected",
        (
            "the corrupted operator writes epoch 2's keys (vendor-attested) as epoch 3 with "
            "quorum 1 of 5",
            "the honest log-only witness signs and logs it at its next epoch, 3",
            "the operator counter-signs the witness signature and serves the bundle",
        ),
        (one.bundle, two.bundle),
        logged_and_countersigned(minority, two.bundle.chains),
        trust,
        "the client accepts a fleet whose quorums need not meet (quorum 1 of 5): the "
        "operator can fork the guess counter across replicas",
    )


def run_bundle_attack(attack: BundleAttack, variant: str | None) -> AcceptedFleet | BundleError:
    """run_bundle_attack: a new client (``variant``, or the safe one) accepts the attack's
    history, then is shown the attack bundle; what it accepts, or its refusal. (A history
    the client refuses raises: that client does not speak the attack's protocol.)"""
    from dataclasses import replace as with_fields

    from impl.bundle import MemoryEpochStore, verify_bundle
    from impl.errors import BundleError

    trust = with_fields(attack.trust, variant=variant)
    epochs = MemoryEpochStore()
    for genuine in attack.history:
        verify_bundle(genuine, trust, epochs)
    try:
        return verify_bundle(attack.bundle, trust, epochs)
    except BundleError as refusal:
        return refusal


def _bundle_attack(variant: str | None, budget: Budget) -> Finding:
    from impl.errors import BundleError

    name = "bundle-attack"
    clock = _Clock()
    if variant is None:
        refusals: list[str] = []
        for rule in ATTACKED_VARIANTS:
            attack = bundle_attack(rule)
            outcome = run_bundle_attack(attack, attack.baseline)
            if not isinstance(outcome, BundleError):
                return _caught(
                    None,
                    name,
                    clock(),
                    len(attack.steps),
                    f"the {attack.baseline or 'safe'} client accepts the {rule} attack bundle",
                )
            refusals.append(f"{rule}: {type(outcome).__name__}")
        return _missed(
            None,
            name,
            clock(),
            f"the baseline clients refuse all {len(refusals)} attacks ({', '.join(refusals)})",
        )
    if variant == _NO_OWN_ATTACK:
        # The equivalent mutant: its combination's attack, against it alone.
        found: list[str] = []
        for combination in IMPL_BUNDLE_COMBINATIONS:
            if variant not in combination.split("+"):
                continue
            outcome = run_bundle_attack(bundle_attack(combination), variant)
            if not isinstance(outcome, BundleError):
                return _caught(
                    variant,
                    name,
                    clock(),
                    len(bundle_attack(combination).steps),
                    f"the {variant} client accepts the {combination} attack bundle",
                )
            found.append(f"{combination}: {type(outcome).__name__}")
        return _missed(
            variant,
            name,
            clock(),
            f"the {variant} client refuses its combinations' attacks ({', '.join(found)}): "
            "alone, the checks it keeps bind the file counter-signature to the file's epoch",
        )
    attack = bundle_attack(variant)
    safe = run_bundle_attack(attack, attack.baseline)
    unsafe = run_bundle_attack(attack, variant)
    seconds = clock()
    baseline = f"the {attack.baseline} client" if attack.baseline else "the safe client"
    if isinstance(unsafe, BundleError):
        return _missed(
            variant,
            name,
            seconds,
            f"the {variant} client refuses the attack too: {type(unsafe).__name__}",
        )
    if type(safe).__name__ != attack.refusal:
        return _missed(
            variant,
            name,
            seconds,
            f"{baseline} does not refuse with {attack.refusal} "
            f"({type(safe).__name__}): the attack does not isolate the check",
        )
    return _caught(
        variant,
        name,
        seconds,
        len(attack.steps),
        f"the {attack.corrupted} alone corrupted, client attestation on: {baseline} "
        f"refuses ({attack.refusal}); the {variant} client accepts: {attack.harm}",
    )


def _in(*groups: Sequence[str]) -> Callable[[str], bool]:
    names = frozenset(name for group in groups for name in group)
    return lambda variant: variant in names


_VAULT_OR_FLEET: Final = (tuple(VAULT_VARIANTS), FLEET_VARIANT_NAMES)

DETECTORS: Final[tuple[Detector, ...]] = (
    Detector(
        "vault-i3",
        "proof",
        "I3 on the single-copy vault: inductive obligations, BMC",
        _in(tuple(VAULT_VARIANTS)),
        "models the single-copy vault's rules only",
        _vault_i3,
        1.0,
    ),
    Detector(
        "paxos-i2",
        "proof",
        "I2 on Paxos in EPR (any size), BMC of a finite instance",
        _in(CONSENSUS_VARIANTS),
        "models the consensus core only",
        _paxos_i2,
        8.0,
    ),
    Detector(
        "quorums",
        "proof",
        "I2 for the configured fleet: quorums meet beyond rollbacks",
        _in(QUORUM_VARIANTS),
        "states only the quorum size and the rollback budget",
        _quorums,
        0.1,
    ),
    Detector(
        "fleet-i3i6",
        "proof",
        "I3 and I6 on the fleet: parametric obligations, BMC",
        _in(ALL_FLEET_VARIANT_NAMES),
        "models the fleet's rules (the vault's rules as designed)",
        _fleet_i3i6,
        8.0,
    ),
    Detector(
        "bundles-i4i7",
        "proof",
        "I4 and I7 per corrupted party, vs the safe client: BMC, obligations",
        _in(BUNDLE_VARIANT_NAMES, BUNDLE_COMBINATIONS),
        "models the client's bundle checks only",
        _bundles_i4i7,
        3.0,
    ),
    Detector(
        "budget-i5",
        "proof",
        "I5 across registrations and migrations: obligations, BMC",
        _in(ALL_BUDGET_VARIANT_NAMES),
        "models the migration rule only",
        _budget_i5,
        0.5,
    ),
    Detector(
        "knowledge-i1",
        "proof",
        "I1: Z3 datalog, what each non-HSM party alone derives",
        _in(KNOWLEDGE_VARIANTS),
        "models who learns which terms, not the vault's or the fleet's rules",
        _knowledge_i1,
        0.5,
    ),
    Detector(
        "walk",
        "run",
        "conformance walks of one HSM against the model",
        _in(tuple(VAULT_VARIANTS)),
        "drives one HSM, whose only switches are the vault variants",
        _walk,
        2.0,
    ),
    Detector(
        "fleet-walk",
        "run",
        "walks of the simulated fleet, with faults, against the model",
        _in(*_VAULT_OR_FLEET),
        "drives the fleet, whose switches are the vault and fleet variants",
        _fleet_walk,
        8.0,
    ),
    Detector(
        "sim",
        "run",
        "the fleet simulator, every fault; I2, I3, I6 after each event",
        _in(*_VAULT_OR_FLEET),
        "runs the fleet, whose switches are the vault and fleet variants",
        _sim,
        5.0,
    ),
    Detector(
        "rotation",
        "run",
        "a rotation, epoch 1 to 2, faults and an attacker; I5 checked",
        _in(BUDGET_VARIANT_NAMES),
        "its only switch is the migration rule",
        _rotation,
        1.5,
    ),
    Detector(
        "attack",
        "run",
        "the real client, then a non-HSM party's attack with what it holds",
        _in(LEAK_VARIANTS, (ROGUE_VARIANT,)),
        "needs a client switch: impl.client's leak variants and client attestation",
        _attack,
        1.0,
    ),
    Detector(
        "bundle-attack",
        "run",
        "the real ota client, then one corrupted party's bundle (vs the safe client)",
        _in(IMPL_BUNDLE_VARIANTS, IMPL_BUNDLE_COMBINATIONS),
        "needs an impl.bundle client variant (ClientTrust.variant)",
        _bundle_attack,
        0.3,
    ),
)

DETECTOR_NAMES: Final = tuple(d.name for d in DETECTORS)
_BY_NAME: Final = {d.name: d for d in DETECTORS}


def applicable(variant: str | None, detector: Detector) -> bool:
    """applicable: every detector runs on the safe design; on a variant, only where it
    can express it."""
    return variant is None or detector.applies(variant)


def _gap(row: Row, kind: Kind) -> str:
    """Why no detector of ``kind`` caught ``row``'s variant."""
    variant = row.variant or ""
    ran = [n for n, f in row.findings.items() if _BY_NAME[n].kind == kind and f.result != "n/a"]
    if ran:
        return f"no {kind} catches it ({', '.join(ran)} ran)"
    could = [d.name for d in DETECTORS if d.kind == kind and d.applies(variant)]
    if could:
        return f"no {kind} selected ({', '.join(could)} would apply)"
    return f"no {kind} can express it"


# ---------------------------------------------------------------------------------------
# Running the matrix


Task = tuple[str | None, str, Budget]


def run_task(task: Task) -> Finding:
    """run_task: one detector on one variant (a module-level function: picklable)."""
    variant, name, budget = task
    return _BY_NAME[name].check(variant, budget)


def _run_tasks(tasks: list[Task], jobs: int) -> Iterator[Finding]:
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield run_task(task)
        return
    # Longest first, so that the last task to start is a short one.
    ordered = sorted(tasks, key=lambda t: -_BY_NAME[t[1]].weight)
    with get_context("spawn").Pool(min(jobs, len(tasks))) as pool:
        yield from pool.imap_unordered(run_task, ordered)


@dataclass
class Row:
    """Row: one variant (``None``: the safe design) and its findings by detector."""

    variant: str | None
    findings: dict[str, Finding] = field(default_factory=dict)

    @property
    def caught_by(self) -> list[str]:
        return [name for name, f in self.findings.items() if f.caught]

    def count(self, kind: Kind) -> int:
        return sum(_BY_NAME[name].kind == kind for name in self.caught_by)

    @property
    def independent(self) -> bool:
        """Caught by a proof and by a run of the implementation."""
        return self.count("proof") > 0 and self.count("run") > 0

    @property
    def proved_by(self) -> list[str]:
        return [name for name, f in self.findings.items() if f.result == "proved"]

    @property
    def status(self) -> str:
        """``caught``, ``equivalent`` (no catch, and a proof shows it harmless) or
        ``escaped``; for the safe design ``ok`` or ``flagged``."""
        if self.variant is None:
            return "flagged" if self.caught_by else "ok"
        if self.caught_by:
            return "caught"
        return "equivalent" if self.proved_by else "escaped"


@dataclass
class Matrix:
    budget: Budget
    detectors: list[Detector]
    safe: Row
    rows: list[Row]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.safe.status == "ok" and all(r.status != "escaped" for r in self.rows)


def run_matrix(
    variants: Sequence[str],
    detectors: Sequence[str] = DETECTOR_NAMES,
    budget: Budget = FULL,
    jobs: int = 1,
    progress: Callable[[Finding], None] | None = None,
) -> Matrix:
    """run_matrix: every selected detector on the safe design and on each variant it
    applies to. The findings depend only on the arguments (not on ``jobs``), except for
    the times."""
    chosen = [_BY_NAME[name] for name in DETECTOR_NAMES if name in set(detectors)]
    tasks: list[Task] = [
        (variant, d.name, budget)
        for variant in (None, *variants)
        for d in chosen
        if applicable(variant, d)
    ]
    started = time.perf_counter()
    found: dict[tuple[str | None, str], Finding] = {}
    for finding in _run_tasks(tasks, jobs):
        found[(finding.variant, finding.detector)] = finding
        if progress is not None:
            progress(finding)
    seconds = time.perf_counter() - started

    def row(variant: str | None) -> Row:
        out = Row(variant)
        for d in chosen:
            key = (variant, d.name)
            out.findings[d.name] = found.get(key) or Finding(
                variant, d.name, "n/a", evidence=d.scope
            )
        return out

    return Matrix(budget, chosen, row(None), [row(v) for v in variants], seconds)


# ---------------------------------------------------------------------------------------
# Output


def _cell(finding: Finding, safe: bool) -> str:
    if finding.result == "n/a":
        return "-"
    if safe:
        return "FLAG" if finding.caught else "ok"
    if finding.caught:
        return "*" if finding.trace is None else str(finding.trace)
    return "proved" if finding.result == "proved" else "miss"


def _verdict_line(row: Row) -> str:
    k = len(row.caught_by)
    head = (
        f"caught by {k} detector{'s' if k != 1 else ''} "
        f"({row.count('proof')} proof, {row.count('run')} run)"
    )
    notes: list[str] = []
    assert row.variant is not None
    if row.status == "escaped":
        notes.append("ESCAPED: no detector catches it")
    elif row.status == "equivalent":
        notes.append(
            f"equivalent alone: {', '.join(row.proved_by)} proves the invariants hold with it"
        )
        combos = [c for c in BUNDLE_COMBINATIONS if row.variant in c.split("+")]
        if combos:
            notes.append(f"see {', '.join(combos)}")
    elif k < 2:
        notes.append("FEWER THAN 2")
    if row.status != "equivalent":
        notes.extend(_gap(row, kind) for kind in ("proof", "run") if not row.count(kind))
    return head + ("; " + "; ".join(notes) if notes else "")


def render(matrix: Matrix) -> str:
    """render: the legend, the matrix, the details and one verdict line per variant."""
    budget = matrix.budget
    n = len(matrix.rows)
    lines = [
        f"vaultbench mutants — {n} unsafe variant{'s' if n != 1 else ''} x "
        f"{len(matrix.detectors)} detector{'s' if len(matrix.detectors) != 1 else ''}, "
        f"{budget.name} budget, seeds from {budget.seed}",
        "",
        "detectors (proof: Z3 on the model; run: the implementation, seeded):",
    ]
    labels: dict[str, str] = {}
    proofs = runs = 0
    for d in matrix.detectors:
        if d.kind == "proof":
            proofs += 1
            labels[d.name] = f"P{proofs}"
        else:
            runs += 1
            labels[d.name] = f"R{runs}"
        lines.append(f"  {labels[d.name]:<3} {d.name:<13} {d.what}")
    lines += [
        "",
        "matrix: the shortest trace when caught (* when the detector reports none); miss: ran,",
        "not caught; proved: a proof shows the invariant holds with it; -: cannot express it",
    ]
    names = ["(safe design)", *(r.variant or "" for r in matrix.rows)]
    width = max(len(name) for name in names)
    lw = max([len("layer"), *(len(layer(r.variant or "")) for r in matrix.rows)])
    header = f"{'variant':<{width}}  {'layer':<{lw}}" + "".join(
        f" {labels[d.name]:>6}" for d in matrix.detectors
    )
    lines += [header + "      k", "-" * (len(header) + 7)]
    for row in (matrix.safe, *matrix.rows):
        safe = row.variant is None
        name = "(safe design)" if safe else row.variant or ""
        kind = "-" if safe else layer(row.variant or "")
        cells = "".join(f" {_cell(row.findings[d.name], safe):>6}" for d in matrix.detectors)
        count = "" if safe else f"{len(row.caught_by):>6}"
        lines.append(f"{name:<{width}}  {kind:<{lw}}{cells}{count}")

    lines += ["", "details (time to the verdict; trace; evidence):"]
    for row in (matrix.safe, *matrix.rows):
        if row.variant is None:
            lines.append("(safe design): every detector must pass")
        else:
            lines.append(f"{row.variant} ({layer(row.variant)}): {describe(row.variant)}")
        for d in matrix.detectors:
            f = row.findings[d.name]
            if f.result == "n/a":
                continue
            result = {"caught": "CAUGHT", "missed": "missed", "proved": "proved"}[f.result]
            if row.variant is None:
                result = "FLAGS" if f.caught else "passes"
            trace = "-" if f.trace is None else str(f.trace)
            lines.append(
                f"  {d.name:<13} {result:<7} {f.seconds:7.2f}s  trace {trace:>4}  {f.evidence}"
            )
    lines += ["", "summary:"]
    safe_text = (
        "no detector flags it"
        if matrix.safe.status == "ok"
        else f"FLAGGED by {', '.join(matrix.safe.caught_by)}: a broken detector"
    )
    lines.append(f"{'(safe design)':<{width}}  {safe_text}")
    for row in matrix.rows:
        lines.append(f"{row.variant:<{width}}  {_verdict_line(row)}")
    lines.append("")
    escaped = [r.variant for r in matrix.rows if r.status == "escaped"]
    few = [r.variant for r in matrix.rows if r.status == "caught" and len(r.caught_by) < 2]
    lone = [r.variant for r in matrix.rows if r.status == "caught" and not r.independent]
    caught = sum(r.status == "caught" for r in matrix.rows)
    lines.append(
        f"{caught} of {n} caught, {sum(r.independent for r in matrix.rows)} by a proof and a "
        f"run; {len(few)} by fewer than 2 detectors; {len(lone)} not independently; "
        f"{sum(r.status == 'equivalent' for r in matrix.rows)} equivalent; "
        f"{len(escaped)} escaped ({matrix.seconds:.1f} s)"
    )
    if escaped:
        lines.append(f"ESCAPED: {', '.join(str(v) for v in escaped)}")
    if matrix.safe.status != "ok":
        lines.append("BROKEN DETECTOR: it flags the safe design")
    return "\n".join(lines)


def _finding_json(f: Finding) -> dict[str, object]:
    out = asdict(f)
    del out["variant"], out["detector"]
    out["caught"] = f.caught
    out["seconds"] = round(f.seconds, 4)
    return out


def document(matrix: Matrix) -> dict[str, object]:
    """document: the matrix as one JSON document."""

    def row_json(row: Row) -> dict[str, object]:
        out: dict[str, object] = {
            "variant": row.variant,
            "status": row.status,
            "caught_by": row.caught_by,
            "findings": {name: _finding_json(f) for name, f in row.findings.items()},
        }
        if row.variant is not None:
            out.update(
                layer=layer(row.variant),
                breaks=describe(row.variant),
                detectors=len(row.caught_by),
                proofs=row.count("proof"),
                runs=row.count("run"),
                independent=row.independent,
                proved_by=row.proved_by,
                summary=_verdict_line(row),
            )
        return out

    rows = matrix.rows
    return {
        "ok": matrix.ok,
        "budget": asdict(matrix.budget),
        "seconds": round(matrix.seconds, 3),
        "detectors": [{"name": d.name, "kind": d.kind, "what": d.what} for d in matrix.detectors],
        "safe": row_json(matrix.safe),
        "variants": [row_json(r) for r in rows],
        "escaped": [r.variant for r in rows if r.status == "escaped"],
        "equivalent": [r.variant for r in rows if r.status == "equivalent"],
        "fewer_than_two": [
            r.variant for r in rows if r.status == "caught" and len(r.caught_by) < 2
        ],
        "not_independent": [r.variant for r in rows if r.status == "caught" and not r.independent],
    }


# ---------------------------------------------------------------------------------------
# The command


def default_jobs() -> int:
    """default_jobs: two processes where there are two cores (the runs are independent)."""
    return max(1, min(2, os.cpu_count() or 1))


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """add_parser: the ``mutants`` subcommand and its flags."""
    mutants = commands.add_parser(
        "mutants",
        help="every unsafe variant against every detector (proofs and runs)",
        description="Run every unsafe variant of the design through every detector that "
        "can express it: the Z3 proofs (vault I3, Paxos I2, quorums, fleet I3/I6, bundles "
        "I4/I7, I5, I1) and the runs of the implementation (conformance walks, fleet walks, "
        "the simulator, the rotation, the attacks). For each pair: caught or not, the time "
        "to the verdict and the shortest trace. The safe design is run too: no detector "
        "may flag it. Exit 1 if a variant escapes every detector or a detector flags the "
        "safe design.",
    )
    mutants.add_argument(
        "--variant",
        action="extend",
        nargs="+",
        choices=ALL_VARIANTS,
        metavar="NAME",
        help=f"only these variants (default: all {len(ALL_VARIANTS)}): " + ", ".join(ALL_VARIANTS),
    )
    mutants.add_argument(
        "--detector",
        action="extend",
        nargs="+",
        choices=DETECTOR_NAMES,
        metavar="NAME",
        help="only these detectors (default: every one that can express a chosen "
        "variant): " + ", ".join(DETECTOR_NAMES),
    )
    mutants.add_argument(
        "--quick",
        action="store_true",
        help="shorter runs (fewer seeds and steps; the proofs are the same)",
    )
    mutants.add_argument(
        "--seed", type=at_least(0), default=1, help="first seed of every run (default 1)"
    )
    mutants.add_argument(
        "--jobs",
        type=at_least(1),
        default=None,
        help="processes (default: 2 where there are 2 cores, else 1)",
    )
    mutants.add_argument("--json", action="store_true", help="print one JSON document")


def run(args: argparse.Namespace) -> int:
    """run: the ``mutants`` command; returns the exit code."""
    variants = list(dict.fromkeys(args.variant)) if args.variant else list(ALL_VARIANTS)
    if args.detector:
        detectors = list(dict.fromkeys(args.detector))
    else:
        # Every detector that can express one of the variants (all of them by default).
        detectors = [d.name for d in DETECTORS if any(d.applies(v) for v in variants)]
    budget = replace(QUICK if args.quick else FULL, seed=args.seed)
    jobs = default_jobs() if args.jobs is None else args.jobs
    matrix = run_matrix(variants, detectors, budget, jobs)
    if args.json:
        print(json.dumps(document(matrix), indent=2))
    else:
        print(render(matrix))
    return EXIT_OK if matrix.ok else EXIT_ESCAPED


def main(argv: Sequence[str] | None = None) -> int:
    """main: ``vaultbench mutants`` on its own (for tests, until the CLI wires it in)."""
    parser = argparse.ArgumentParser(prog="vaultbench")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parser(commands)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code) if isinstance(exit_.code, int) else EXIT_USAGE
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
