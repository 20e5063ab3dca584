"""model.flows: every message and stored item of the system, and who sees it (I1).

A :class:`Scenario` fixes one user's protection method, the fleet-key mode (``ota`` or
``pinned``), the witness's policy, client attestation, an unsafe variant, and optionally
the threshold design; :func:`build` lists, as symbolic terms (:mod:`model.terms`):

- the **items**: each message of each flow and each stored item, with its label (the
  same labels the implementation's observer records, ``impl.observe``) and the parties
  that observe or store it;
- the **initial knowledge** of each party (the keys it holds);
- the **oracles**: what honest parties do for anyone who asks (an HSM releases the
  secret to whoever proves the password; a ``log-only`` witness signs any new digest the
  operator submits; the client accepts a fleet whose bundle passes its checks and then
  sends its next registration to it).

Parties
    ``device`` (the user's phone: it holds everything of the user), ``operator`` (relays
    all client and replica traffic, runs the hosts, publishes the fleet-key file),
    ``storage`` (keeps the backup blobs), ``witness``, ``vendor``, and the HSMs: ``hsm``
    (one replica of the current fleet) and ``hsm-next`` (one replica of the next fleet,
    with rotation), or ``dc1 .. dcN`` in the threshold design (one datacenter's HSMs).

Flows
    backup (the blob, to storage); registration and recovery per method; bundle delivery
    (ota: in every response, relayed by the operator; pinned: in the app); the deployment
    ceremony (the vendor attests the keys, the witness signs the statement); rotation
    (the password record retired at the current fleet and registered at the next one);
    the replicas' traffic (encrypted under the replication key, on the operator's network).

A rogue fleet
    The attacker can always make a fleet-key file of keys it generated (``rogue``). The
    client accepts it only in ``ota`` mode and only through the operator's relay, with the
    witness's signature (its key, or an honest ``log-only`` witness that signs any new
    digest, or an honest ``vetting`` witness shown vendor attestations), the operator's
    counter-signature, and with client attestation the vendor's attestation of its keys:
    [3/6]'s rules. A client that accepts it registers there next (rotation), and the
    coalition learns what that registration carries.

What is abstracted
    One user, one session of each flow (bounded sessions: a finite term universe cannot
    speak of unboundedly many runs; replays and fresh nonces are not needed for the
    knowledge question). Online guessing is the vault's business (I3, I5), not knowledge:
    an oracle needs the exact proof. The threshold design's OPRF exchange is abstracted
    to its result (the client obtains the access key; a datacenter learns nothing about
    the password from its part of the exchange). The replicas' durable state is inside
    the HSM's boundary (``impl.sqlite_store``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from model.terms import Atom, Enc, Hpke, Pub, Rule, Share, Sig, Term, kdf, tup

Mode = Literal["ota", "pinned"]
MODES: Final[tuple[Mode, ...]] = ("ota", "pinned")
POLICIES: Final = ("log-only", "vetting")
METHODS: Final = ("key64", "recovery-code", "password", "passkey")

#: The unsafe variants seen from the knowledge side.
KNOWLEDGE_VARIANTS: Final = (
    "password-to-relay",
    "root-key-in-header",
    "pin-only-key",
    "no-client-attestation",
)

#: The parties that are not HSMs (I1 is claimed for each of them alone).
NON_HSM_PARTIES: Final = ("operator", "storage", "witness", "vendor")

# ----------------------------------------------------------------------- the atoms

USER = Atom("user-id")
SALT = Atom("salt")
SALT_NEXT = Atom("salt-next")
CHATS = Atom("backup-plaintext")
ROOT = Atom("R")
PASSWORD = Atom("password", guessable=True)
RECOVERY_CODE = Atom("recovery-code")
SERVER_SHARE = Atom("S")
CREDENTIAL = Atom("credential-key")
PRF_SALT = Atom("prf-salt")
CHALLENGE = Atom("challenge")
REGISTRATION = Atom("registration")
FLEET = Atom("fleet-sk")
FLEET_NEXT = Atom("fleet-next-sk")
REPLICATION = Atom("replication-key")
REPLICATION_NEXT = Atom("replication-next-key")
WITNESS = Atom("witness-sk")
OPERATOR = Atom("operator-sk")
VENDOR = Atom("vendor-sk")
ROGUE = Atom("rogue-fleet-sk")
OPRF = Atom("oprf-key")
#: the operator's capabilities that are not knowledge: relaying to clients, submitting
#: statements to the witness (modelled as atoms only the operator holds)
RELAY = Atom("relay-position")
ROGUE_ID = Atom("fleet-id-rogue")
EPOCH_NEXT = Atom("epoch-2")
ACCEPTED_ROGUE = Atom("client-accepted-rogue-fleet")

PRF = kdf("webauthn-prf", CREDENTIAL, PRF_SALT)


@dataclass(frozen=True)
class Scenario:
    """Scenario: one configuration of the system whose knowledge is computed."""

    method: str = "password"
    mode: Mode = "ota"
    policy: str = "log-only"
    client_attestation: bool = True
    variant: str | None = None
    #: ``(t, n)``: the vault secret split t-of-n across n datacenters
    threshold: tuple[int, int] | None = None
    rotation: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; known: {', '.join(METHODS)}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; known: ota, pinned")
        if self.policy not in POLICIES:
            raise ValueError(f"unknown witness policy {self.policy!r}")
        if self.variant is not None and self.variant not in KNOWLEDGE_VARIANTS:
            raise ValueError(
                f"unknown variant {self.variant!r}; known: {', '.join(KNOWLEDGE_VARIANTS)}"
            )
        if self.threshold is not None:
            t, n = self.threshold
            if not 1 <= t <= n or n > 5:
                raise ValueError(f"threshold must be t/n with 1 <= t <= n <= 5, got {t}/{n}")

    @property
    def attests(self) -> bool:
        return self.client_attestation and self.variant != "no-client-attestation"

    @property
    def hsm_parties(self) -> tuple[str, ...]:
        if self.threshold is not None:
            return tuple(f"dc{i}" for i in range(1, self.threshold[1] + 1))
        rotating = self.rotation and self.method == "password"
        return ("hsm", "hsm-next") if rotating else ("hsm",)

    @property
    def parties(self) -> tuple[str, ...]:
        return ("device", *NON_HSM_PARTIES, *self.hsm_parties)

    def describe(self) -> str:
        parts = [self.method, f"{self.mode} mode", f"{self.policy} witness"]
        if self.mode == "ota":
            parts.append("client attestation " + ("on" if self.attests else "off"))
        if self.threshold is not None:
            parts.append(f"threshold {self.threshold[0]}/{self.threshold[1]}")
        if self.variant:
            parts.append(f"variant {self.variant}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Item:
    """Item: one message or stored item, its label, and who observes or stores it."""

    label: str
    term: Term
    observers: frozenset[str]


@dataclass
class System:
    """System: the scenario's items, each party's initial knowledge, and the oracles."""

    scenario: Scenario
    items: list[Item] = field(default_factory=list)
    initial: dict[str, set[Term]] = field(default_factory=dict)
    oracles: list[Rule] = field(default_factory=list)
    secrets: dict[str, Term] = field(default_factory=dict)

    def add(self, label: str, term: Term, *observers: str) -> None:
        self.items.append(Item(label, term, frozenset(observers)))

    def give(self, party: str, *terms: Term) -> None:
        self.initial.setdefault(party, set()).update(terms)

    def observed(self, party: str) -> set[Term]:
        """observed: what ``party`` holds before deduction."""
        found = set(self.initial.get(party, set()))
        for item in self.items:
            if party in item.observers:
                found.add(item.term)
        return found

    def labels(self, party: str) -> set[str]:
        return {item.label for item in self.items if party in item.observers}

    def terms(self) -> list[Term]:
        found: list[Term] = [item.term for item in self.items]
        for held in self.initial.values():
            found.extend(held)
        found.extend(self.secrets.values())
        return found


def _response_key(name: str) -> Atom:
    return Atom(f"response-key:{name}")


def build(scenario: Scenario) -> System:
    """build: the system of ``scenario`` (see the module docstring)."""
    system = System(scenario)
    method, variant = scenario.method, scenario.variant
    everyone = scenario.parties
    # Public: the user id, the salts (anyone can ask BeginRecovery), the PRF salt, the
    # attacker's own key for a rogue fleet (anyone can generate a key).
    for party in everyone:
        system.give(party, USER, SALT, SALT_NEXT, PRF_SALT, ROGUE, ROGUE_ID, EPOCH_NEXT)
    system.give("operator", RELAY)
    system.give("witness", WITNESS)
    system.give("operator", OPERATOR)
    system.give("vendor", VENDOR)

    # ---------------------------------------------------------------- the secrets
    if method == "recovery-code":
        root: Term = kdf("recovery-code-kdf", RECOVERY_CODE, USER)
        system.secrets["recovery code"] = RECOVERY_CODE
    elif method == "password" and variant == "pin-only-key":
        root = kdf("argon2id-pin-only", PASSWORD, USER)
    else:
        root = ROOT
    system.secrets["root key"] = root
    system.secrets["backup"] = CHATS
    if method == "password":
        system.secrets["password"] = PASSWORD
    if method == "passkey":
        system.secrets["server share"] = SERVER_SHARE
        system.secrets["PRF output"] = PRF
    system.give("device", *system.secrets.values(), CREDENTIAL, PASSWORD, RECOVERY_CODE)

    # ------------------------------------------------------------------ the blob
    header: list[Term] = [Atom("blob-header")]
    if method == "passkey":
        header.append(Enc(kdf("passkey-wrap", SERVER_SHARE, PRF), root))
    if variant == "root-key-in-header":
        header.append(root)
    blob = tup(*header, Enc(kdf("backup-key", root), CHATS))
    system.add("backup/blob", blob, "device", "storage")

    # ----------------------------------------------- fleet keys, bundles, ceremony
    hsms = scenario.hsm_parties
    file = tup(Atom("fleet-id"), Pub(FLEET), Pub(REPLICATION))
    statement = tup(Atom("epoch-1"), kdf("sha256", file))
    witness_sig = Sig(WITNESS, statement)
    bundle = tup(file, witness_sig, Sig(OPERATOR, witness_sig))
    system.add("ceremony/fleet-key-file", file, "operator", "witness", "device")
    system.add("witness/statement", statement, "witness")
    system.add("vendor/attestation", Pub(FLEET), "vendor")
    attestation = Sig(VENDOR, Pub(FLEET))
    if scenario.policy == "vetting":
        system.add("witness/evidence", attestation, "witness")
    system.add("bundle", bundle, "operator", "device")

    if scenario.threshold is not None:
        _threshold(system, scenario, root)
    elif method == "password":
        _password(system, scenario, root)
    elif method == "passkey":
        _passkey(system, root)
    for hsm in hsms:
        system.give(hsm, FLEET if hsm != "hsm-next" else FLEET_NEXT)
        system.give(hsm, REPLICATION if hsm != "hsm-next" else REPLICATION_NEXT)
    _rogue_fleet(system, scenario, root)
    return system


def _password(system: System, scenario: Scenario, root: Term) -> None:
    access = kdf("argon2id", PASSWORD, SALT)
    verifier = kdf("verifier", access, SALT)
    record = tup(USER, SALT, verifier, root)
    _round_trip(
        system, "register-password", FLEET, "hsm", tup(USER, SALT, access, root), REGISTRATION
    )
    _round_trip(system, "begin-recovery", FLEET, "hsm", tup(USER), tup(REGISTRATION, SALT))
    _round_trip(system, "recover-password", FLEET, "hsm", tup(USER, REGISTRATION, access), root)
    system.give("hsm", record)
    system.add("peer/message", Enc(REPLICATION, record), "operator")
    # The HSM releases the secret to whoever proves the password (online guesses: I3).
    system.oracles.append(Rule("hsm-release", root, (access,)))
    if scenario.variant == "password-to-relay":
        system.add("relay/access-key", access, "operator")
    if not scenario.rotation:
        return
    # Rotation: retire at the current fleet, register at the next one.
    _round_trip(
        system,
        "retire-record",
        FLEET,
        "hsm",
        tup(USER, REGISTRATION, kdf("retire", root)),
        Atom("retired"),
    )
    access_next = kdf("argon2id", PASSWORD, SALT_NEXT)
    record_next = tup(USER, SALT_NEXT, kdf("verifier", access_next, SALT_NEXT), root)
    _round_trip(
        system,
        "register-password",
        FLEET_NEXT,
        "hsm-next",
        tup(USER, SALT_NEXT, access_next, root),
        REGISTRATION,
        suffix="next",
    )
    system.give("hsm-next", record_next)
    system.add("peer/message", Enc(REPLICATION_NEXT, record_next), "operator")
    system.oracles.append(Rule("hsm-release", root, (access_next,)))


def _passkey(system: System, root: Term) -> None:
    assertion = Sig(CREDENTIAL, CHALLENGE)
    register = tup(USER, Pub(CREDENTIAL), PRF_SALT, SERVER_SHARE)
    _round_trip(system, "register-passkey", FLEET, "hsm", register, REGISTRATION)
    info = tup(REGISTRATION, CHALLENGE, PRF_SALT)
    _round_trip(system, "begin-recovery", FLEET, "hsm", tup(USER), info)
    _round_trip(
        system, "recover-passkey", FLEET, "hsm", tup(USER, REGISTRATION, assertion), SERVER_SHARE
    )
    record = tup(USER, Pub(CREDENTIAL), PRF_SALT, SERVER_SHARE)
    system.give("hsm", record)
    system.add("peer/message", Enc(REPLICATION, record), "operator")
    # The HSM releases S to whoever asserts with the credential's key.
    system.oracles.append(Rule("hsm-release", SERVER_SHARE, (CREDENTIAL,)))


def _threshold(system: System, scenario: Scenario, root: Term) -> None:
    """The hardened design: R split t-of-n over n datacenters, each with its own counter;
    the access key comes from a threshold OPRF whose key is shared the same way."""
    assert scenario.threshold is not None
    t, n = scenario.threshold
    access = kdf("threshold-oprf", PASSWORD, OPRF)
    for i in range(1, n + 1):
        dc = f"dc{i}"
        fleet = Atom(f"fleet-sk:{dc}")
        dc_id = Atom(dc)
        proof = kdf("dc-proof", access, dc_id)
        share = Share(root, i, t, n)
        record = tup(USER, kdf("verifier", proof), share)
        system.give(dc, fleet, Share(OPRF, i, t, n), record, dc_id)
        for party in system.scenario.parties:
            system.give(party, dc_id)
        _round_trip(
            system,
            "register-password",
            fleet,
            dc,
            tup(USER, kdf("verifier", proof), share),
            REGISTRATION,
            suffix=dc,
        )
        _round_trip(system, "recover-password", fleet, dc, tup(USER, proof), share, suffix=dc)
        system.oracles.append(Rule(f"{dc}-release", share, (proof,)))
    if scenario.variant == "password-to-relay":
        system.add("relay/access-key", access, "operator")


def _round_trip(
    system: System,
    name: str,
    fleet: Atom,
    hsm: str,
    request: Term,
    answer: Term,
    suffix: str = "",
) -> None:
    key = _response_key(f"{name}{':' + suffix if suffix else ''}")
    sealed = Hpke(Pub(fleet), tup(key, request))
    response = Enc(key, answer)
    system.add(f"{name}/request", sealed, "operator", "device", hsm)
    system.add(f"{name}/response", response, "operator", "device", hsm)
    system.give("device", key)


def _rogue_fleet(system: System, scenario: Scenario, root: Term) -> None:
    """[3/6]'s acceptance rules as Horn rules: when the client accepts a rogue fleet, it
    sends its next registration there."""
    if scenario.mode != "ota":
        return  # pinned: the app knows one fleet; changing it means changing the app
    rogue_file = tup(ROGUE_ID, Pub(ROGUE), Pub(ROGUE))
    statement = tup(EPOCH_NEXT, kdf("sha256", rogue_file))
    witness_sig = Sig(WITNESS, statement)
    counter = Sig(OPERATOR, witness_sig)
    attested = Sig(VENDOR, Pub(ROGUE))
    # The witness's policy as an oracle (what an honest witness signs when the operator
    # submits): log-only signs any new digest; vetting wants the vendor's attestation.
    vetted: tuple[Term, ...] = (attested,) if scenario.policy == "vetting" else ()
    system.oracles.append(
        Rule(f"witness-signs-{scenario.policy}", witness_sig, (statement, RELAY, *vetted))
    )
    checks: tuple[Term, ...] = (witness_sig, counter, RELAY)
    if scenario.attests:
        checks += (attested,)
    system.oracles.append(Rule("client-accepts-fleet", ACCEPTED_ROGUE, checks))
    # What the client sends to the fleet it accepted: its next registration.
    key = _response_key("rogue")
    if scenario.threshold is not None:
        # Each datacenter's fleet is rogue too (the same rules accept them): the client
        # runs the OPRF with the attacker's key and sends each its share.
        t, n = scenario.threshold
        access = kdf("threshold-oprf", PASSWORD, ROGUE)
        for i in range(1, n + 1):
            proof = kdf("dc-proof", access, Atom(f"dc{i}"))
            payload_i = tup(USER, kdf("verifier", proof), Share(root, i, t, n))
            sent_i = Hpke(Pub(ROGUE), tup(_response_key(f"rogue:dc{i}"), payload_i))
            system.oracles.append(Rule("client-sends-to-accepted-fleet", sent_i, (ACCEPTED_ROGUE,)))
        return
    if scenario.method == "password":
        payload: Term = tup(USER, SALT_NEXT, kdf("argon2id", PASSWORD, SALT_NEXT), root)
    elif scenario.method == "passkey":
        payload = tup(USER, Pub(CREDENTIAL), PRF_SALT, SERVER_SHARE)
    else:
        return  # key64 and recovery-code send nothing to any fleet
    sent = Hpke(Pub(ROGUE), tup(key, payload))
    system.oracles.append(Rule("client-sends-to-accepted-fleet", sent, (ACCEPTED_ROGUE,)))
