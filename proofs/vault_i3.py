"""proofs.vault_i3: invariant I3 ``attempt-limit`` for one user, with the operator on the
channel, checked with Z3.

What is encoded
    One user's slice of :class:`model.vault.Channel`: the vault's record of the user (its
    version ``(reg, att)``, ``secret``, ``destroyed``, ``retired``, ``proved``, and the
    pending ``challenge`` that only ``superseding-challenge`` uses), the honest client's
    knowledge (``known_reg``, ``known_att``, ``held``, ``known_challenge``, ``issued``:
    how many fresh honest secrets it has drawn), the adversary's capture pool (``sent``
    requests in ``POOL_SLOTS`` slots: kind, named version, secret, proof, challenge) and
    the ghost of I3 (``wrong[s]`` and ``dead[s]`` per honest secret, ``charged[i]`` per
    captured request, the flags ``dead_answered`` and ``honest_wronged``, and
    ``released``, ``replay_refused`` for the sanity queries). Secrets are ``-1`` (none: a
    wrong password, no proof), ``0`` (the adversary's, :data:`model.vault.ADVERSARY_SECRET`)
    and ``1 .. HONEST_SECRETS`` (the honest client's, each drawn once).

    The actions (``ACTIONS``), each with its parameters, a guard and a post-state written
    as nested ``If`` terms that follow the model's branches one for one, variant branches
    included: the honest client's ``begin``, ``enrol``, ``guess_right``, ``guess_wrong``,
    ``retire`` (each send captured in the pool, delivered at once unless the adversary
    drops it: parameter ``deliver``; guesses may crash the HSM at the fault point:
    ``crash``), and the adversary's ``inject_begin``, ``inject_guess`` and
    ``inject_register`` naming any version (``vreg``, ``vatt``; a registration may carry a
    proof of the adversary's own secret: ``prove``) and ``replay`` of any captured request
    (``slot``), any number of times, crash included. The adversary cannot make a proof of
    an honest secret nor a right guess of one: the HPKE/HKDF assumption of
    ``docs/channel.rst``, which the action set states by construction.

    Init is the state right after the honest client enrolled its first secret: record
    ``(1, 0)`` holding secret 1, proved; the enrolment captured in slot 1.

What is checked
    ``P`` (I3 as :func:`model.vault.check_i3` states it for one user): every honest
    secret has at most ``limit`` wrong guesses answered, across every record that held
    it; no dead secret (its record destroyed or retired) is answered again; every
    captured honest request is charged at most once; no honest right guess is answered
    wrong. Through an inductive invariant ``Inv``, in Apalache's three named obligations:
    ``IndInit`` (Init ⇒ Inv), ``IndNext[a]`` for each action (Inv ∧ T_a ⇒ Inv′, for all
    parameter values) and ``IndProp`` (Inv ⇒ P), each one ``push``/``pop`` frame on one
    solver. The limit in these obligations is a Z3 integer constrained only by
    ``limit >= 1``, so a PASS holds for *every* limit. A bounded model check (Biere et al.
    1999) unrolls the machine from Init with the *configured* limit, depth 0, 1, 2, … so
    that the first counterexample to ``P`` is a shortest one, and sanity queries
    (mypyvy style) show the safe machine can release, destroy, retire, re-register after
    a proof, be replayed against and refuse the replay. The unrolling assumes, at every
    state, the conjuncts of Inv that :func:`houdini` proves inductive *for that
    configuration* (all of Inv for the safe vault, so its BMC is a formality there; a
    variant keeps what it leaves true), forbids steps that change nothing, and uses
    counters that grow by at most one a step (:func:`slow_counters`, proved): none of
    this removes a shortest path, and without it the search grows exponentially with
    the depth (a depth-7 search at limit 3 took 30 s; limit 10 needs depth 14).

What this proves, and what it does not
    The vault is a product of independent per-user machines (every request names its
    user and touches that user's record and ghost only), so one user suffices. The proof
    is unbounded in time, in the adversary's replays and injections, in registration
    numbers, attempts, versions named and challenges, and parametric in the limit; it is
    *bounded* in the honest client: at most ``HONEST_SECRETS`` (2) enrolments (Init's
    included) and ``POOL_SLOTS`` (3) requests sent in all (Init's included), after which
    its sending actions are disabled. It assumes the record is a passkey record (the
    challenge is read only under ``superseding-challenge``; password records behave the
    same otherwise, which the tests check). It says nothing about replication, rollback
    or the fleet (I2 and the simulation), nor about I5's budget across re-registrations.
    The encoding is checked against the Python model exhaustively within small bounds by
    :func:`check_vault_rules` and :func:`check_reachable` (see their docstrings). The BMC
    is bounded (``max_depth``) and concrete in the limit: it finds shortest
    counterexamples but proves nothing beyond its depth on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any, Final, Literal, TypeAlias

import z3

from model import vault as mv
from model.vault import I3_NAME, VARIANTS, VaultConfig
from proofs.report import BmcResult, Obligation, Outline, Reachability, State, Trace

#: The name every report uses for the property: the invariant id and its name.
PROPERTY_NAME: Final = f"I3 {I3_NAME}"

#: The inductive invariant's name in obligations and counterexamples.
INVARIANT_NAME: Final = "Inv"

#: The bounds on the honest client: honest secrets it may draw, requests it may send.
HONEST_SECRETS: Final = 2
POOL_SLOTS: Final = 3
SECRETS: Final = tuple(range(1, HONEST_SECRETS + 1))
SLOTS: Final = tuple(range(POOL_SLOTS))

#: Secret ids: none (a wrong password, no proof), the adversary's; honest ones are 1, 2.
NONE: Final = -1
ADV: Final = mv.ADVERSARY_SECRET

#: Request kinds in the pool.
EMPTY, REGISTER, GUESS, RETIRE = 0, 1, 2, 3

#: Results, as integers inside the encoding.
R_NORECORD, R_STALE, R_REFUSED, R_REGISTERED, R_RELEASED, R_WRONG = 0, 1, 2, 3, 4, 5
R_DESTROYED, R_NOANSWER, R_RETIRED = 6, 7, 8

#: The user every state speaks of (the model's name for it).
USER: Final = "alice"

ParamKind = Literal["int", "bool"]

#: The actions of the machine: name -> its parameters, in ``ACTIONS`` order (honest first).
ACTIONS: Final[Mapping[str, tuple[tuple[str, ParamKind], ...]]] = {
    "begin": (),
    "enrol": (("deliver", "bool"),),
    "guess_right": (("crash", "bool"), ("deliver", "bool")),
    "guess_wrong": (("crash", "bool"), ("deliver", "bool")),
    "retire": (("deliver", "bool"),),
    "inject_begin": (),
    "inject_guess": (("vreg", "int"), ("vatt", "int"), ("crash", "bool")),
    "inject_register": (("vreg", "int"), ("vatt", "int"), ("prove", "bool")),
    "replay": (("slot", "int"), ("crash", "bool")),
}

#: Parameter values that read as "nothing special": tried first for readable traces.
DEFAULT_PARAMS: Final[Mapping[str, bool]] = {"deliver": True, "crash": False, "prove": False}

RECORD_VARIABLES: Final = ("reg", "att", "secret", "challenge")
RECORD_FLAGS: Final = ("destroyed", "retired", "proved")
GHOST_INTS: Final = (*(f"wrong[{s}]" for s in SECRETS), "released")
GHOST_FLAGS: Final = (
    *(f"dead[{s}]" for s in SECRETS),
    "dead_answered",
    "honest_wronged",
    "replay_refused",
)
CLIENT_VARIABLES: Final = ("known_reg", "known_att", "held", "known_challenge", "issued")
SLOT_FIELDS: Final = ("kind", "vreg", "vatt", "secret", "proof", "challenge")
POOL_VARIABLES: Final = (
    "sent",
    *(f"req[{i + 1}].{f}" for i in SLOTS for f in SLOT_FIELDS),
    *(f"charged[{i + 1}]" for i in SLOTS),
)
INT_VARIABLES: Final = (
    *RECORD_VARIABLES,
    *GHOST_INTS,
    *CLIENT_VARIABLES,
    *POOL_VARIABLES,
)
BOOL_VARIABLES: Final = (*RECORD_FLAGS, *GHOST_FLAGS)
VARIABLES: Final = (
    "reg",
    "att",
    "secret",
    *RECORD_FLAGS,
    "challenge",
    *GHOST_INTS,
    *GHOST_FLAGS,
    *CLIENT_VARIABLES,
    *POOL_VARIABLES,
)
#: The variables BMC traces print: all but the pool's request contents (which the trace's
#: honest steps determine).
TRACE_VARIABLES: Final = tuple(v for v in VARIABLES if not v.startswith("req["))


def _slot(i: int, f: str) -> str:
    return f"req[{i + 1}].{f}"


# ---------------------------------------------------------------------------------------
# Symbolic states
#
# z3 ships no type information, so its terms are ``Any`` to mypy. They stay inside
# ``Sym`` values and the functions below, and never leave this module: reports carry
# plain ``int`` and ``bool`` values only.

IntTerm: TypeAlias = Any
BoolTerm: TypeAlias = Any
#: One state of the machine as Z3 terms: variable name -> term.
Sym: TypeAlias = dict[str, Any]


def fresh(prefix: str) -> Sym:
    """Fresh constants ``<prefix>.reg`` … for a pre-, post- or trace state."""
    out: Sym = {}
    for name in VARIABLES:
        maker = z3.Bool if name in BOOL_VARIABLES else z3.Int
        out[name] = maker(f"{prefix}.{name}")
    return out


def constant(state: State) -> Sym:
    """The constant terms of a concrete state."""
    return {
        name: z3.BoolVal(bool(state[name]))
        if name in BOOL_VARIABLES
        else z3.IntVal(int(state[name]))
        for name in VARIABLES
    }


def equals(a: Sym, b: Sym) -> BoolTerm:
    """Every variable of ``a`` equals the same variable of ``b``."""
    return z3.And(*(a[name] == b[name] for name in VARIABLES))


def value(s: Sym, model: z3.ModelRef, names: Sequence[str] = VARIABLES) -> State:
    """The concrete state a Z3 model assigns (unconstrained variables read as 0/false)."""
    out: State = {}
    for name in names:
        term = model.eval(s[name], model_completion=True)
        out[name] = bool(z3.is_true(term)) if name in BOOL_VARIABLES else int(term.as_long())
    return out


def _ite(condition: BoolTerm, then: Sym, otherwise: Sym) -> Sym:
    """The state ``then`` where ``condition`` holds, else ``otherwise``, key by key."""
    return {k: z3.If(condition, then[k], otherwise[k]) for k in then}


@dataclass(frozen=True)
class SymRequest:
    """A request as terms: the fields of a pool slot."""

    kind: IntTerm
    vreg: IntTerm
    vatt: IntTerm
    secret: IntTerm
    proof: IntTerm
    challenge: IntTerm

    def fields(self) -> dict[str, IntTerm]:
        return {
            "kind": self.kind,
            "vreg": self.vreg,
            "vatt": self.vatt,
            "secret": self.secret,
            "proof": self.proof,
            "challenge": self.challenge,
        }


def _request(
    kind: int, vreg: Any, vatt: Any, secret: Any, proof: Any, challenge: Any
) -> SymRequest:
    return SymRequest(
        *(
            z3.IntVal(x) if isinstance(x, int) else x
            for x in (kind, vreg, vatt, secret, proof, challenge)
        )
    )


# ---------------------------------------------------------------------------------------
# The machine: Init, the vault's rules, the actions


def init(s: Sym) -> BoolTerm:
    """Init: the honest client has just enrolled secret 1 (captured as request 1)."""
    fixed: dict[str, Any] = {
        "reg": 1,
        "att": 0,
        "secret": 1,
        "challenge": 0,
        "destroyed": False,
        "retired": False,
        "proved": True,
        "released": 0,
        "known_reg": 1,
        "known_att": 0,
        "held": 1,
        "known_challenge": 0,
        "issued": 1,
        "sent": 1,
        **{f"wrong[{x}]": 0 for x in SECRETS},
        **{f"dead[{x}]": False for x in SECRETS},
        "dead_answered": False,
        "honest_wronged": False,
        "replay_refused": False,
    }
    for i in SLOTS:
        fixed[f"charged[{i + 1}]"] = 0
        request = (REGISTER, 0, 0, 1, NONE, 0) if i == 0 else (EMPTY, 0, 0, NONE, NONE, 0)
        for f, x in zip(SLOT_FIELDS, request, strict=True):
            fixed[_slot(i, f)] = x
    return z3.And(*(s[k] == v for k, v in fixed.items()))


def _dead_if(pre: Sym, post: Sym, condition: BoolTerm) -> Sym:
    """``post`` with the pre-state record's secret marked dead where ``condition`` holds
    (honest secrets only: ``dead[0]`` does not exist)."""
    return {
        **post,
        **{
            f"dead[{x}]": z3.Or(post[f"dead[{x}]"], z3.And(condition, pre["secret"] == x))
            for x in SECRETS
        },
    }


def _record_step(
    config: VaultConfig, pre: Sym, correct: BoolTerm, crash: BoolTerm, limit: IntTerm
) -> tuple[Sym, IntTerm]:
    """The per-record machine of :func:`model.vault.guess_record` (record fields only).

    Read bottom-up: the outermost ``If`` is the model's first line.
    """
    variant = config.variant
    kills = variant != "no-destroy"

    def at_limit(attempts: IntTerm) -> BoolTerm:
        return attempts > limit if variant == "off-by-one-limit" else attempts >= limit

    if variant == "check-before-charge":
        # Compare and answer first; the charge comes after the answer, and a crash in
        # between loses it.
        answered = {**pre, "proved": correct}
        charged = {**answered, "att": pre["att"] + 1}
        charged = _ite(
            z3.And(z3.Not(correct), at_limit(pre["att"] + 1)),
            {**charged, "destroyed": z3.BoolVal(True)},
            charged,
        )
        # The crash loses the charge, and with it every durable change: ``proved`` too.
        body = _ite(crash, {**answered, "proved": pre["proved"]}, charged)
        result = z3.If(correct, R_RELEASED, R_WRONG)
    else:
        # Charge before check: the attempt is durable before anything is compared.
        charged = {**pre, "att": pre["att"] + 1, "proved": z3.BoolVal(False)}
        answered = {**charged, "proved": correct}
        if kills:
            answered = _ite(
                z3.And(z3.Not(correct), at_limit(pre["att"] + 1)),
                {**answered, "destroyed": z3.BoolVal(True)},
                answered,
            )
        body = _ite(crash, charged, answered)
        result = z3.If(crash, R_NOANSWER, z3.If(correct, R_RELEASED, R_WRONG))
    if kills:
        # A crash left the record charged to the limit: destroy before comparing.
        limit_hit = at_limit(pre["att"])
        body = _ite(limit_hit, {**pre, "destroyed": z3.BoolVal(True)}, body)
        result = z3.If(limit_hit, R_DESTROYED, result)
    # A destroyed record answers ``Destroyed`` and never changes.
    return _ite(pre["destroyed"], pre, body), z3.If(pre["destroyed"], R_DESTROYED, result)


def vault_step(
    config: VaultConfig,
    pre: Sym,
    request: SymRequest,
    crash: BoolTerm,
    rid: IntTerm,
    limit: IntTerm,
) -> tuple[Sym, IntTerm]:
    """vault_step: the vault's rules on one request, :func:`model.vault.apply`.

    ``rid`` is the pool slot of an honest request (``-1`` for the adversary's own), for
    the ghost's charge count. Returns the post-state and the result code.
    """
    variant = config.variant

    def at_limit(attempts: IntTerm) -> BoolTerm:
        return attempts > limit if variant == "off-by-one-limit" else attempts >= limit

    has = pre["reg"] >= 1
    at_version = z3.And(request.vreg == pre["reg"], request.vatt == pre["att"])
    tomb = z3.Or(pre["destroyed"], pre["retired"])
    kills = (
        z3.And(z3.Not(tomb), at_limit(pre["att"])) if variant != "no-destroy" else z3.BoolVal(False)
    )
    proves = z3.And(pre["proved"], request.proof == pre["secret"])

    # Register: a fresh record at the next registration number.
    new_record: Sym = {
        **pre,
        "reg": pre["reg"] + 1,
        "att": z3.IntVal(0),
        "secret": request.secret,
        "destroyed": z3.BoolVal(False),
        "retired": z3.BoolVal(False),
        "proved": z3.BoolVal(True),
    }
    if variant == "replayable-registration":
        registered, reg_result = new_record, z3.IntVal(R_REGISTERED)
    else:
        replaceable = z3.Or(z3.Not(has), tomb, kills, proves)
        registered = _ite(z3.And(at_version, replaceable), _dead_if(pre, new_record, kills), pre)
        reg_result = z3.If(z3.Not(at_version), R_STALE, z3.If(replaceable, R_REGISTERED, R_REFUSED))

    # Guess: version check, then the per-record machine and its ghost.
    right = request.secret == pre["secret"]
    correct = right
    if variant == "superseding-challenge":
        correct = z3.And(right, request.challenge == pre["challenge"])
    machine, machine_result = _record_step(config, pre, correct, crash, limit)
    answered = z3.Or(machine_result == R_RELEASED, machine_result == R_WRONG)
    wrong = machine_result == R_WRONG
    ghosted = _dead_if(pre, machine, z3.And(machine["destroyed"], z3.Not(pre["destroyed"])))
    for x in SECRETS:
        holds = pre["secret"] == x
        ghosted[f"wrong[{x}]"] = pre[f"wrong[{x}]"] + z3.If(z3.And(holds, wrong), 1, 0)
    ghosted["dead_answered"] = z3.Or(
        pre["dead_answered"],
        z3.And(answered, z3.Or(*(z3.And(pre["secret"] == x, pre[f"dead[{x}]"]) for x in SECRETS))),
    )
    ghosted["released"] = pre["released"] + z3.If(machine_result == R_RELEASED, 1, 0)
    for i in SLOTS:
        name = f"charged[{i + 1}]"
        ghosted[name] = pre[name] + z3.If(z3.And(rid == i, machine["att"] > pre["att"]), 1, 0)
    ghosted["honest_wronged"] = z3.Or(pre["honest_wronged"], z3.And(rid >= 0, right, wrong))
    # replayable-guess drops the compare-and-swap on the attempts; the registration number
    # is still checked (the old protocol's "stale registration").
    checked = request.vreg == pre["reg"] if variant == "replayable-guess" else at_version
    guessed = _ite(z3.And(has, checked, z3.Not(pre["retired"])), ghosted, pre)
    guess_result = z3.If(
        z3.Not(has),
        R_NORECORD,
        z3.If(z3.Not(checked), R_STALE, z3.If(pre["retired"], R_RETIRED, machine_result)),
    )

    # Retire: version check, then a proof right after one.
    retired_state = _dead_if(pre, {**pre, "retired": z3.BoolVal(True)}, z3.BoolVal(True))
    killed_state = _dead_if(pre, {**pre, "destroyed": z3.BoolVal(True)}, z3.BoolVal(True))
    open_ = z3.And(has, at_version, z3.Not(tomb))
    spent = z3.And(kills, z3.Not(pre["proved"]))
    retired = _ite(
        z3.And(open_, spent), killed_state, _ite(z3.And(open_, proves), retired_state, pre)
    )
    retire_result = z3.If(
        z3.Not(has),
        R_NORECORD,
        z3.If(
            z3.Not(at_version),
            R_STALE,
            z3.If(
                pre["retired"],
                R_RETIRED,
                z3.If(
                    z3.Or(pre["destroyed"], spent), R_DESTROYED, z3.If(proves, R_RETIRED, R_REFUSED)
                ),
            ),
        ),
    )

    post = _ite(
        request.kind == REGISTER,
        registered,
        _ite(request.kind == GUESS, guessed, retired),
    )
    result = z3.If(
        request.kind == REGISTER,
        reg_result,
        z3.If(request.kind == GUESS, guess_result, retire_result),
    )
    return post, result


def _params(action: str, prefix: str) -> dict[str, Any]:
    """Fresh Z3 constants for the parameters of ``action``."""
    return {
        name: (z3.Bool if kind == "bool" else z3.Int)(f"{prefix}.{name}")
        for name, kind in ACTIONS[action]
    }


def _begin(config: VaultConfig, pre: Sym, honest: bool) -> Sym:
    post = dict(pre)
    if config.variant == "superseding-challenge":
        post["challenge"] = pre["challenge"] + 1
    if honest:
        post["known_reg"], post["known_att"] = pre["reg"], pre["att"]
        post["known_challenge"] = (
            post["challenge"] if config.variant == "superseding-challenge" else z3.IntVal(0)
        )
    return post


def _send(
    config: VaultConfig,
    pre: Sym,
    request: SymRequest,
    deliver: BoolTerm,
    crash: BoolTerm,
    limit: IntTerm,
) -> tuple[Sym, IntTerm]:
    """The honest client sends ``request``: captured in slot ``sent``, delivered unless
    dropped. Returns the post-state and the result code (``-1`` when dropped)."""
    captured = dict(pre)
    for i in SLOTS:
        here = pre["sent"] == i
        for f, term in request.fields().items():
            captured[_slot(i, f)] = z3.If(here, term, pre[_slot(i, f)])
        captured[f"charged[{i + 1}]"] = z3.If(here, 0, pre[f"charged[{i + 1}]"])
    captured["sent"] = pre["sent"] + 1
    delivered, result = vault_step(config, captured, request, crash, pre["sent"], limit)
    return _ite(deliver, delivered, captured), z3.If(deliver, result, -1)


def _slot_request(pre: Sym, slot: IntTerm) -> SymRequest:
    """The request in pool slot ``slot`` (a term), as an ``If`` chain over the slots."""
    fields: dict[str, Any] = {}
    for f in SLOT_FIELDS:
        term = pre[_slot(SLOTS[-1], f)]
        for i in reversed(SLOTS[:-1]):
            term = z3.If(slot == i, pre[_slot(i, f)], term)
        fields[f] = term
    return SymRequest(**fields)


def step(
    config: VaultConfig, action: str, pre: Sym, params: Mapping[str, Any], limit: IntTerm
) -> tuple[BoolTerm, Sym]:
    """step: the guard and the post-state of ``action`` with ``params`` from ``pre``.

    ``limit`` is a term so the same code serves the concrete limit (BMC) and a symbolic
    one (the parametric induction); ``config.variant`` selects the branches, as in the
    model.
    """
    true = z3.BoolVal(True)
    free = pre["sent"] < POOL_SLOTS
    if action == "begin":
        return true, _begin(config, pre, honest=True)
    if action == "inject_begin":
        return true, _begin(config, pre, honest=False)
    if action == "enrol":
        secret = pre["issued"] + 1
        request = _request(REGISTER, pre["known_reg"], pre["known_att"], secret, pre["held"], 0)
        post, result = _send(config, pre, request, params["deliver"], z3.BoolVal(False), limit)
        post["issued"] = secret
        learned = {
            **post,
            "known_reg": post["reg"],
            "known_att": z3.IntVal(0),
            "held": secret,
        }
        post = _ite(result == R_REGISTERED, learned, post)
        return z3.And(free, pre["issued"] < HONEST_SECRETS), post
    if action in ("guess_right", "guess_wrong"):
        secret = pre["held"] if action == "guess_right" else z3.IntVal(NONE)
        request = _request(
            GUESS, pre["known_reg"], pre["known_att"], secret, NONE, pre["known_challenge"]
        )
        post, _ = _send(config, pre, request, params["deliver"], params["crash"], limit)
        guard = z3.And(free, pre["held"] >= 1) if action == "guess_right" else free
        return guard, post
    if action == "retire":
        request = _request(RETIRE, pre["known_reg"], pre["known_att"], NONE, pre["held"], 0)
        post, _ = _send(config, pre, request, params["deliver"], z3.BoolVal(False), limit)
        return z3.And(free, pre["held"] >= 1), post
    if action == "inject_guess":
        request = _request(GUESS, params["vreg"], params["vatt"], NONE, NONE, 0)
        post, _ = vault_step(config, pre, request, params["crash"], z3.IntVal(-1), limit)
        return true, post
    if action == "inject_register":
        proof = z3.If(params["prove"], ADV, NONE)
        request = _request(REGISTER, params["vreg"], params["vatt"], ADV, proof, 0)
        post, _ = vault_step(config, pre, request, z3.BoolVal(False), z3.IntVal(-1), limit)
        return true, post
    if action == "replay":
        slot = params["slot"]
        request = _slot_request(pre, slot)
        post, result = vault_step(config, pre, request, params["crash"], slot, limit)
        post["replay_refused"] = z3.Or(
            pre["replay_refused"], result == R_STALE, result == R_REFUSED
        )
        return z3.And(slot >= 0, slot < pre["sent"]), post
    raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")


def transition(
    config: VaultConfig,
    action: str,
    pre: Sym,
    post: Sym,
    params: Mapping[str, Any],
    limit: IntTerm | None = None,
) -> BoolTerm:
    """transition: the relation ``T_action(pre, post)`` under ``config`` for ``params``.

    ``limit`` defaults to the configured ``max_attempts``; pass a Z3 integer constant to
    reason about every limit at once.
    """
    bound = z3.IntVal(config.max_attempts) if limit is None else limit
    guard, after = step(config, action, pre, params, bound)
    return z3.And(guard, equals(post, after))


# ---------------------------------------------------------------------------------------
# The property and its inductive invariant


def _lt(a: tuple[IntTerm, IntTerm], b: tuple[IntTerm, IntTerm]) -> BoolTerm:
    """Version ``a`` comes strictly before version ``b`` (lexicographic)."""
    return z3.Or(a[0] < b[0], z3.And(a[0] == b[0], a[1] < b[1]))


def _le(a: tuple[IntTerm, IntTerm], b: tuple[IntTerm, IntTerm]) -> BoolTerm:
    return z3.Or(_lt(a, b), z3.And(a[0] == b[0], a[1] == b[1]))


def _current(s: Sym) -> tuple[IntTerm, IntTerm]:
    return (s["reg"], s["att"])


def _named(s: Sym, i: int) -> tuple[IntTerm, IntTerm]:
    return (s[_slot(i, "vreg")], s[_slot(i, "vatt")])


def _history(s: Sym, x: int) -> BoolTerm:
    """Honest secret ``x`` has been registered: the record holds it, or it was answered
    wrong, or its record died."""
    return z3.Or(s["secret"] == x, s[f"wrong[{x}]"] > 0, s[f"dead[{x}]"])


def attempt_limit(s: Sym, limit: IntTerm) -> BoolTerm:
    """P, I3 ``attempt-limit`` for one user: at most ``limit`` wrong guesses answered per
    honest secret; no dead secret answered again; every captured honest request charged
    at most once; no honest right guess answered wrong."""
    return z3.And(
        *(s[f"wrong[{x}]"] <= limit for x in SECRETS),
        z3.Not(s["dead_answered"]),
        *(s[f"charged[{i + 1}]"] <= 1 for i in SLOTS),
        z3.Not(s["honest_wronged"]),
    )


Conjunct: TypeAlias = Callable[[Sym, IntTerm], BoolTerm]

# [invariant-start]
#: The conjuncts of Inv, each with the text reports print. Together they are inductive for
#: the safe vault and every limit >= 1. The heart of it: versions only grow, every request
#: that was applied names a version strictly below the current one (so it can never apply
#: again), and an honest secret is registered at most once (its enrolment is spent), so
#: its wrong answers are those of one registration, at most its attempts, at most limit.
INVARIANT: Final[tuple[tuple[str, Conjunct], ...]] = (
    ("reg >= 1 (the record exists from Init on)", lambda s, limit: s["reg"] >= 1),
    ("0 <= att <= limit", lambda s, limit: z3.And(s["att"] >= 0, s["att"] <= limit)),
    (
        "destroyed => att = limit",
        lambda s, limit: z3.Implies(s["destroyed"], s["att"] == limit),
    ),
    (
        "the record holds s => wrong[s] <= att",
        lambda s, limit: z3.And(
            *(z3.Implies(s["secret"] == x, s[f"wrong[{x}]"] <= s["att"]) for x in SECRETS)
        ),
    ),
    (
        "wrong[s] <= limit",
        lambda s, limit: z3.And(*(s[f"wrong[{x}]"] <= limit for x in SECRETS)),
    ),
    (
        "dead[s] and the record holds s => tombstone",
        lambda s, limit: z3.And(
            *(
                z3.Implies(
                    z3.And(s[f"dead[{x}]"], s["secret"] == x),
                    z3.Or(s["destroyed"], s["retired"]),
                )
                for x in SECRETS
            )
        ),
    ),
    (
        "secrets not yet drawn have no history and no captured enrolment",
        lambda s, limit: z3.And(
            *(z3.Implies(x > s["issued"], z3.Not(_history(s, x))) for x in SECRETS),
            *(
                z3.Implies(s[_slot(i, "kind")] == REGISTER, s[_slot(i, "secret")] <= s["issued"])
                for i in SLOTS
            ),
        ),
    ),
    (
        "a registered secret's captured enrolments name a past version",
        lambda s, limit: z3.And(
            *(
                z3.Implies(
                    z3.And(
                        _history(s, x),
                        s[_slot(i, "kind")] == REGISTER,
                        s[_slot(i, "secret")] == x,
                    ),
                    _lt(_named(s, i), _current(s)),
                )
                for x in SECRETS
                for i in SLOTS
            )
        ),
    ),
    (
        "captured requests and the client name versions <= the current",
        lambda s, limit: z3.And(
            _le((s["known_reg"], s["known_att"]), _current(s)),
            *(
                z3.Implies(s[_slot(i, "kind")] != EMPTY, _le(_named(s, i), _current(s)))
                for i in SLOTS
            ),
        ),
    ),
    (
        "0 <= charged[i] <= 1, and a charged request names a past version",
        lambda s, limit: z3.And(
            *(
                z3.And(
                    s[f"charged[{i + 1}]"] >= 0,
                    s[f"charged[{i + 1}]"] <= 1,
                    z3.Implies(s[f"charged[{i + 1}]"] >= 1, _lt(_named(s, i), _current(s))),
                )
                for i in SLOTS
            )
        ),
    ),
    ("not dead_answered", lambda s, limit: z3.Not(s["dead_answered"])),
    ("not honest_wronged", lambda s, limit: z3.Not(s["honest_wronged"])),
)
# [invariant-end]


def invariant(s: Sym, limit: IntTerm) -> BoolTerm:
    """Inv: the conjunction of ``INVARIANT``."""
    return z3.And(*(conjunct(s, limit) for _, conjunct in INVARIANT))


def _broken(s: Sym, limit: IntTerm, model: z3.ModelRef) -> tuple[str, ...]:
    """The names of the conjuncts of Inv that ``model`` makes false in ``s``."""
    return tuple(
        name
        for name, conjunct in INVARIANT
        if z3.is_false(model.eval(conjunct(s, limit), model_completion=True))
    )


# ---------------------------------------------------------------------------------------
# Action labels: how traces name a step with its parameters


def format_action(action: str, params: Mapping[str, int | bool]) -> str:
    """The label of a step: ``inject_guess(v=1.3, crash)``, ``replay(#1)``, ``enrol``."""
    labels: list[str] = []
    if "slot" in params:
        labels.append(f"#{int(params['slot']) + 1}")
    if "vreg" in params:
        labels.append(f"v={int(params['vreg'])}.{int(params['vatt'])}")
    if params.get("deliver") is False:
        labels.append("dropped")
    if params.get("crash") is True:
        labels.append("crash")
    if params.get("prove") is True:
        labels.append("proof")
    return f"{action}({', '.join(labels)})" if labels else action


def parse_action(label: str) -> tuple[str, dict[str, int | bool]]:
    """The action and parameters of a label made by :func:`format_action`."""
    name, _, rest = label.partition("(")
    if name not in ACTIONS:
        raise ValueError(f"unknown action {name!r} in {label!r}")
    params: dict[str, int | bool] = {
        p: DEFAULT_PARAMS[p] for p, kind in ACTIONS[name] if kind == "bool"
    }
    for part in filter(None, (x.strip() for x in rest.rstrip(")").split(","))):
        if part.startswith("#"):
            params["slot"] = int(part[1:]) - 1
        elif part.startswith("v="):
            reg, att = part[2:].split(".")
            params["vreg"], params["vatt"] = int(reg), int(att)
        elif part == "dropped":
            params["deliver"] = False
        elif part == "crash":
            params["crash"] = True
        elif part == "proof":
            params["prove"] = True
        else:
            raise ValueError(f"unknown parameter {part!r} in {label!r}")
    return name, params


# ---------------------------------------------------------------------------------------
# Inductive obligations (Apalache: IndInit, IndNext, IndProp)


def _limit_value(limit: IntTerm, model: z3.ModelRef) -> int:
    return int(model.eval(limit, model_completion=True).as_long())


def _param_values(params: Mapping[str, Any], model: z3.ModelRef) -> dict[str, int | bool]:
    out: dict[str, int | bool] = {}
    for name, term in params.items():
        got = model.eval(term, model_completion=True)
        out[name] = bool(z3.is_true(got)) if z3.is_bool(term) else int(got.as_long())
    return out


def prove_inductive(config: VaultConfig, parametric: bool = True) -> list[Obligation]:
    """prove_inductive: ``IndInit``, ``IndNext[a]`` for every action, ``IndProp``.

    With ``parametric`` the limit is a Z3 constant with ``limit >= 1`` only, so a PASS is
    a proof for every limit; a FAIL's counterexample is taken at the configured limit
    when one exists there (else at whatever limit the solver chose, which the trace
    states). Without it, the limit is ``config.max_attempts``. Every action's parameters
    are free: a PASS covers every version named, every slot replayed, crash or not.
    """
    solver = z3.Solver()
    limit: IntTerm = z3.Int("limit") if parametric else z3.IntVal(config.max_attempts)
    solver.add(limit >= 1)
    pre, post = fresh("pre"), fresh("post")

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

    def consecution(
        action: str, params: Mapping[str, Any]
    ) -> Callable[[z3.ModelRef], tuple[Trace, tuple[str, ...]]]:
        def counterexample(m: z3.ModelRef) -> tuple[Trace, tuple[str, ...]]:
            trace = Trace(
                [value(pre, m), value(post, m)],
                [format_action(action, _param_values(params, m))],
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
                Trace([value(pre, m)], [], INVARIANT_NAME, _limit_value(limit, m)),
                _broken(pre, limit, m),
            ),
        )
    ]
    for action in ACTIONS:
        params = _params(action, "param")
        results.append(
            discharge(
                f"IndNext[{action}]",
                z3.And(
                    invariant(pre, limit),
                    transition(config, action, pre, post, params, limit),
                    z3.Not(invariant(post, limit)),
                ),
                consecution(action, params),
            )
        )
    results.append(
        discharge(
            "IndProp",
            z3.And(invariant(pre, limit), z3.Not(attempt_limit(pre, limit))),
            lambda m: (
                Trace([value(pre, m)], [], PROPERTY_NAME, _limit_value(limit, m)),
                (),
            ),
        )
    )
    return results


# ---------------------------------------------------------------------------------------
# Bounded model checking and reachability


def houdini(config: VaultConfig, limit: IntTerm | None = None) -> tuple[str, ...]:
    """houdini: the largest subset of ``INVARIANT``'s conjuncts that holds at Init and is
    inductive under ``config`` (Flanagan and Leino's Houdini: drop every conjunct that
    some action breaks from a state of the others, until none is dropped).

    Every state reachable under ``config`` satisfies the subset, so the unrolling may
    assume it at every step: it prunes the search without losing a path. For the safe
    vault it is the whole of Inv; for a variant, what the variant leaves true.
    """
    bound = z3.IntVal(config.max_attempts) if limit is None else limit
    named = dict(INVARIANT)
    solver = z3.Solver()
    solver.add(bound >= 1)
    pre, post = fresh("pre"), fresh("post")
    kept = [
        name for name in named if _valid(solver, z3.Implies(init(pre), named[name](pre, bound)))
    ]
    steps = []
    for action in ACTIONS:
        params = _params(action, "param")
        steps.append(transition(config, action, pre, post, params, bound))
    changed = True
    while changed:
        changed = False
        assumed = z3.And(*(named[name](pre, bound) for name in kept))
        for name in list(kept):
            goal = named[name](post, bound)
            if not all(_valid(solver, z3.Implies(z3.And(assumed, t), goal)) for t in steps):
                kept.remove(name)
                changed = True
                break
    return tuple(kept)


#: Counters no action increases by more than one (checked by :func:`slow_counters`).
COUNTERS: Final = (
    "reg",
    "att",
    "challenge",
    *(f"wrong[{x}]" for x in SECRETS),
    "released",
    *(f"charged[{i + 1}]" for i in SLOTS),
)


def slow_counters(config: VaultConfig) -> tuple[str, ...]:
    """slow_counters: the ``COUNTERS`` that no action of ``config`` increases by more than
    one in a step, for every limit and every parameter (all of them, if the encoding is
    as documented; each is proved here, not assumed)."""
    solver = z3.Solver()
    limit = z3.Int("limit")
    solver.add(limit >= 1)
    pre, post = fresh("pre"), fresh("post")
    steps = [transition(config, a, pre, post, _params(a, "param"), limit) for a in ACTIONS]
    return tuple(
        name
        for name in COUNTERS
        if all(_valid(solver, z3.Implies(t, post[name] <= pre[name] + 1)) for t in steps)
    )


def _valid(solver: z3.Solver, claim: BoolTerm) -> bool:
    solver.push()
    solver.add(z3.Not(claim))
    answer = solver.check()
    solver.pop()
    return bool(answer == z3.unsat)


class Unrolling:
    """Unrolling: the machine from Init, ``s0 -a0-> s1 -a1-> …``, on one incremental
    solver under the configured (concrete) limit.

    ``a_i`` is an integer naming the action of step ``i`` (its index in ``ACTIONS``), and
    every action has its own fresh parameters at every step. Steps are added once and
    kept; each query is a ``push``/``pop`` frame over them, so searching depth 0, 1, 2, …
    costs one solver call per depth.

    Three facts keep the search affordable, and lose no shortest path: every state is
    assumed to satisfy the conjuncts of Inv that :func:`houdini` proved inductive for the
    configuration (true of every reachable state); no step leaves the state as it was (a
    shortest path has no such step: remove it and the path is shorter); and the counters
    of :func:`slow_counters` grow by at most one per step (proved of every action), which
    lets the solver see at once that ``limit`` wrong answers need ``limit`` steps.
    """

    def __init__(self, config: VaultConfig) -> None:
        self.config = config
        self.limit: IntTerm = z3.IntVal(config.max_attempts)
        self.solver = z3.Solver()
        self.states = [fresh("s0")]
        self.choices: list[IntTerm] = []
        self.params: list[dict[str, dict[str, Any]]] = []
        self.lemmas = houdini(config)
        self.counters = slow_counters(config)
        self.solver.add(init(self.states[0]))

    @property
    def depth(self) -> int:
        return len(self.choices)

    def extend_to(self, depth: int) -> None:
        """Add steps until the unrolling is ``depth`` steps long."""
        names = list(ACTIONS)
        while self.depth < depth:
            i = self.depth
            pre, post = self.states[i], fresh(f"s{i + 1}")
            choice = z3.Int(f"a{i}")
            self.solver.add(choice >= 0, choice < len(names))
            params = {action: _params(action, f"p{i}.{action}") for action in names}
            guards, posts = [], []
            for action in names:
                if "vreg" in params[action]:
                    # The adversary's own requests name the current version: one naming
                    # another is answered Stale and changes nothing, except where the
                    # variant does not read the version (then it is the same step). No
                    # shortest path has a step that changes nothing.
                    self.solver.add(
                        params[action]["vreg"] == pre["reg"], params[action]["vatt"] == pre["att"]
                    )
                guard, after = step(self.config, action, pre, params[action], self.limit)
                guards.append(guard)
                posts.append(after)
            self.solver.add(z3.Or(*(z3.And(choice == k, g) for k, g in enumerate(guards))))
            for name in VARIABLES:
                term = posts[-1][name]
                for k in range(len(names) - 2, -1, -1):
                    term = z3.If(choice == k, posts[k][name], term)
                self.solver.add(post[name] == term)
            named = dict(INVARIANT)
            self.solver.add(*(named[lemma](post, self.limit) for lemma in self.lemmas))
            self.solver.add(z3.Not(equals(pre, post)))
            self.solver.add(*(post[name] <= pre[name] + 1 for name in self.counters))
            self.states.append(post)
            self.choices.append(choice)
            self.params.append(params)

    def _fix(self, constraint: BoolTerm) -> bool:
        """Keep ``constraint`` if a path remains with it."""
        self.solver.push()
        self.solver.add(constraint)
        if self.solver.check() == z3.sat:
            self.solver.pop()
            self.solver.add(constraint)
            return True
        self.solver.pop()
        return False

    def shortest(
        self, goal: Callable[[Sym, IntTerm], BoolTerm], max_depth: int
    ) -> tuple[list[State], list[str]] | None:
        """The shortest path from Init to a state satisfying ``goal``, or ``None`` up to
        ``max_depth``. Among shortest paths, the one whose actions come first in
        ``ACTIONS`` order, with parameters as plain as possible (no drop, no crash, no
        proof, the current version, the first slot): a deterministic, readable choice."""
        names = list(ACTIONS)
        for depth in range(max_depth + 1):
            self.extend_to(depth)
            self.solver.push()
            self.solver.add(goal(self.states[depth], self.limit))
            if self.solver.check() == z3.sat:
                for i, choice in enumerate(self.choices[:depth]):
                    for index in range(len(names)):
                        if self._fix(choice == index):
                            break
                    self.solver.check()
                    model = self.solver.model()
                    action = names[int(model.eval(choice, model_completion=True).as_long())]
                    params = self.params[i][action]
                    for name, default in DEFAULT_PARAMS.items():
                        if name in params:
                            self._fix(params[name] == default)
                    if "vreg" in params:
                        self._fix(
                            z3.And(
                                params["vreg"] == self.states[i]["reg"],
                                params["vatt"] == self.states[i]["att"],
                            )
                        )
                    if "slot" in params:
                        for slot in SLOTS:
                            if self._fix(params["slot"] == slot):
                                break
                self.solver.check()
                model = self.solver.model()
                states = [value(s, model, TRACE_VARIABLES) for s in self.states[: depth + 1]]
                actions = []
                for i, choice in enumerate(self.choices[:depth]):
                    action = names[int(model.eval(choice, model_completion=True).as_long())]
                    actions.append(
                        format_action(action, _param_values(self.params[i][action], model))
                    )
                self.solver.pop()
                return states, actions
            self.solver.pop()
        return None


def default_depth(config: VaultConfig) -> int:
    """The default BMC bound: four steps past the limit (the replayed enrolment needs
    ``limit + 2``)."""
    return config.max_attempts + 4


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
SANITY: Final[tuple[tuple[str, Conjunct], ...]] = (
    ("secret released", lambda s, limit: s["released"] >= 1),
    ("limit reached", lambda s, limit: s["wrong[1]"] == limit),
    ("record destroyed", lambda s, limit: s["destroyed"]),
    ("record retired", lambda s, limit: s["retired"]),
    (
        "re-registered after a proof",
        lambda s, limit: z3.And(s["reg"] >= 2, s["secret"] == 2),
    ),
    (
        "adversary's record over a tombstone",
        lambda s, limit: z3.And(s["reg"] >= 2, s["secret"] == ADV),
    ),
    ("replay refused", lambda s, limit: s["replay_refused"]),
)


def sanity(
    config: VaultConfig, max_depth: int | None = None, unrolling: Unrolling | None = None
) -> list[Reachability]:
    """sanity: can the machine release, answer ``limit`` wrong guesses, destroy, retire,
    re-register after a proof, let the adversary register over a tombstone, and refuse a
    replay?

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
        "one user's record, client, capture pool and ghost; other users are untouched",
        "limit >= 1 (any integer)" if parametric else "limit = the configured max_attempts",
        f"the honest client draws at most {HONEST_SECRETS} secrets and sends at most "
        f"{POOL_SLOTS} requests (Init's included); the adversary is unbounded",
        "the adversary cannot prove an honest secret nor guess it (HPKE/HKDF assumption)",
        "Init: secret 1 enrolled at version (1, 0), proved; its enrolment captured",
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
    BMC to ``max_depth`` (default ``max_attempts + 4``) and the sanity queries, sharing
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


# ---------------------------------------------------------------------------------------
# The encoding against the Python model
#
# The tests hold every action's encoding to :mod:`model.vault` exhaustively within small
# bounds. To make that affordable, the Z3 terms of a step are compiled once into a Python
# function (``compile_terms``: each node of the term DAG becomes one line), and that
# function, which computes exactly what the terms say, is run on every state.


def compile_terms(terms: Sequence[Any]) -> Callable[[Mapping[str, int | bool]], tuple[Any, ...]]:
    """compile_terms: a Python function computing ``terms`` from the values of their
    constants (``env[name]``); ``ValueError`` on an operator it does not know."""
    lines: list[str] = []
    names: dict[int, str] = {}
    infix = {
        z3.Z3_OP_EQ: "==",
        z3.Z3_OP_ADD: "+",
        z3.Z3_OP_SUB: "-",
        z3.Z3_OP_MUL: "*",
        z3.Z3_OP_LE: "<=",
        z3.Z3_OP_LT: "<",
        z3.Z3_OP_GE: ">=",
        z3.Z3_OP_GT: ">",
    }

    def emit(term: Any) -> str:
        key = term.get_id()
        if key in names:
            return names[key]
        if z3.is_int_value(term):
            code = str(term.as_long())
        elif z3.is_true(term):
            code = "True"
        elif z3.is_false(term):
            code = "False"
        elif z3.is_const(term) and term.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            code = f"env[{term.decl().name()!r}]"
        else:
            kind = term.decl().kind()
            args = [emit(child) for child in term.children()]
            if kind == z3.Z3_OP_ITE:
                expr = f"({args[1]} if {args[0]} else {args[2]})"
            elif kind == z3.Z3_OP_AND:
                expr = "(" + " and ".join(args) + ")" if args else "True"
            elif kind == z3.Z3_OP_OR:
                expr = "(" + " or ".join(args) + ")" if args else "False"
            elif kind == z3.Z3_OP_NOT:
                expr = f"(not {args[0]})"
            elif kind == z3.Z3_OP_IMPLIES:
                expr = f"((not {args[0]}) or {args[1]})"
            elif kind == z3.Z3_OP_DISTINCT and len(args) == 2:
                expr = f"({args[0]} != {args[1]})"
            elif kind == z3.Z3_OP_UMINUS:
                expr = f"(-{args[0]})"
            elif kind in infix and (len(args) == 2 or kind in (z3.Z3_OP_ADD, z3.Z3_OP_MUL)):
                expr = "(" + f" {infix[kind]} ".join(args) + ")"
            else:
                raise ValueError(f"compile_terms: unknown operator in {term.sexpr()[:80]}")
            code = f"t{len(lines)}"
            lines.append(f"    {code} = {expr}")
        names[key] = code
        return code

    outputs = [emit(term) for term in terms]
    source = "def compiled(env):\n" + "\n".join(lines) + f"\n    return ({', '.join(outputs)},)\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, "<proofs.vault_i3.compile_terms>", "exec"), namespace)  # noqa: S102
    function: Callable[[Mapping[str, int | bool]], tuple[Any, ...]] = namespace["compiled"]
    return function


#: The model's results as the encoding's result codes.
RESULT_CODES: Final[Mapping[type, int]] = {
    mv.NoRecord: R_NORECORD,
    mv.Stale: R_STALE,
    mv.Refused: R_REFUSED,
    mv.Registered: R_REGISTERED,
    mv.Released: R_RELEASED,
    mv.WrongGuess: R_WRONG,
    mv.Destroyed: R_DESTROYED,
    mv.NoAnswer: R_NOANSWER,
    mv.Retired: R_RETIRED,
}

#: The vault's part of a state: what :func:`vault_step` reads and writes.
VAULT_VARIABLES: Final = (
    "reg",
    "att",
    "secret",
    *RECORD_FLAGS,
    "challenge",
    *GHOST_INTS,
    *(f"dead[{x}]" for x in SECRETS),
    "dead_answered",
    "honest_wronged",
    *(f"charged[{i + 1}]" for i in SLOTS),
)


def _secret_or_none(x: int | bool) -> int | None:
    return None if int(x) == NONE else int(x)


def _id_of(x: int | None) -> int:
    return NONE if x is None else x


def _request_of(state: State, i: int) -> mv.Request:
    kind, vreg, vatt, secret, proof, challenge = (int(state[_slot(i, f)]) for f in SLOT_FIELDS)
    version = (vreg, vatt)
    if kind == REGISTER:
        return mv.RegisterRequest(
            USER, mv.Method.PASSKEY, secret, version, _secret_or_none(proof), secret >= 1
        )
    if kind == GUESS:
        return mv.GuessRequest(USER, _secret_or_none(secret), version, challenge)
    if kind == RETIRE:
        return mv.RetireRequest(USER, version, _secret_or_none(proof))
    raise ValueError(f"slot {i + 1} is empty")


def _slot_values(request: mv.Request | None) -> tuple[int, ...]:
    match request:
        case None:
            return (EMPTY, 0, 0, NONE, NONE, 0)
        case mv.RegisterRequest():
            return (REGISTER, *request.version, request.secret, _id_of(request.proof), 0)
        case mv.GuessRequest():
            secret = _id_of(request.secret)
            return (GUESS, *request.version, secret, NONE, request.challenge)
        case mv.RetireRequest():
            return (RETIRE, *request.version, NONE, _id_of(request.proof), 0)
    raise TypeError(request)


def to_vault(state: State) -> mv.VaultState:
    """The model's vault for the vault part of ``state`` (a passkey record of ``USER``)."""
    reg = int(state["reg"])
    records: tuple[tuple[str, mv.Record], ...] = ()
    if reg >= 1:
        secret = int(state["secret"])
        record = mv.Record(
            mv.Method.PASSKEY,
            reg,
            secret,
            attempts=int(state["att"]),
            destroyed=bool(state["destroyed"]),
            retired=bool(state["retired"]),
            proved=bool(state["proved"]),
            honest=secret >= 1,
        )
        records = ((USER, record),)
    challenge = int(state["challenge"])
    ghost = mv.Ghost(
        wrong=tuple(
            ((USER, x), int(state[f"wrong[{x}]"])) for x in SECRETS if state[f"wrong[{x}]"]
        ),
        dead=frozenset((USER, x) for x in SECRETS if state[f"dead[{x}]"]),
        dead_answered=frozenset({(USER, 0)}) if state["dead_answered"] else frozenset(),
        charged=tuple(
            ((USER, i + 1), int(state[f"charged[{i + 1}]"]))
            for i in SLOTS
            if state[f"charged[{i + 1}]"]
        ),
        honest_wronged=frozenset({(USER, 0)}) if state["honest_wronged"] else frozenset(),
        released=int(state["released"]),
    )
    challenges = ((USER, challenge),) if challenge else ()
    return mv.VaultState(records, challenges, ghost)


def from_vault(vault: mv.VaultState) -> State:
    """The vault part of a state, from the model's vault (``USER`` only)."""
    record = vault.get(USER)
    ghost = vault.ghost
    out: State = {}
    if record is None:
        out |= {"reg": 0, "att": 0, "secret": NONE}
        out |= {"destroyed": False, "retired": False, "proved": False}
    else:
        out |= {"reg": record.registration, "att": record.attempts, "secret": record.secret}
        out |= {
            "destroyed": record.destroyed,
            "retired": record.retired,
            "proved": record.proved,
        }
    out["challenge"] = vault.challenge(USER)
    wrong = dict(ghost.wrong)
    charged = dict(ghost.charged)
    for x in SECRETS:
        out[f"wrong[{x}]"] = wrong.get((USER, x), 0)
    out["released"] = ghost.released
    for x in SECRETS:
        out[f"dead[{x}]"] = (USER, x) in ghost.dead
    out["dead_answered"] = bool(ghost.dead_answered)
    out["honest_wronged"] = bool(ghost.honest_wronged)
    for i in SLOTS:
        out[f"charged[{i + 1}]"] = charged.get((USER, i + 1), 0)
    return out


def to_model(state: State) -> mv.Channel:
    """The model's channel world for ``state`` (one user, ``USER``)."""
    held = int(state["held"])
    client = mv.Client(
        (int(state["known_reg"]), int(state["known_att"])),
        None if held == NONE else held,
        int(state["known_challenge"]),
    )
    pool = tuple(_request_of(state, i) for i in range(int(state["sent"])))
    return mv.Channel(
        to_vault(state),
        ((USER, client),),
        pool,
        int(state["issued"]) + 1,
        bool(state["replay_refused"]),
    )


def from_model(world: mv.Channel) -> State:
    """The machine's state for the model's channel world (``USER`` only)."""
    out = from_vault(world.vault)
    client = world.client(USER)
    out |= {
        "replay_refused": world.replay_refused,
        "known_reg": client.version[0],
        "known_att": client.version[1],
        "held": _id_of(client.secret),
        "known_challenge": client.challenge,
        "issued": world.next_secret - 1,
        "sent": len(world.pool),
    }
    for i in SLOTS:
        request = world.pool[i] if i < len(world.pool) else None
        for f, x in zip(SLOT_FIELDS, _slot_values(request), strict=True):
            out[_slot(i, f)] = x
    return {name: out[name] for name in VARIABLES}


def model_step(
    config: VaultConfig, action: str, params: Mapping[str, int | bool], world: mv.Channel
) -> mv.Channel:
    """The model's step for ``action`` with ``params`` (``mv.Disabled`` if not enabled)."""
    deliver = bool(params.get("deliver", True))
    crash = bool(params.get("crash", False))
    if action == "begin":
        return mv.client_begin(world, USER, config=config)[0]
    if action == "enrol":
        return mv.client_enrol(world, USER, mv.Method.PASSKEY, deliver=deliver, config=config)[0]
    if action in ("guess_right", "guess_wrong"):
        correct = action == "guess_right"
        return mv.client_guess(world, USER, correct, crash=crash, deliver=deliver, config=config)[0]
    if action == "retire":
        return mv.client_retire(world, USER, deliver=deliver, config=config)[0]
    if action == "inject_begin":
        return mv.inject_begin(world, USER, config=config)[0]
    if action == "inject_guess":
        version = (int(params["vreg"]), int(params["vatt"]))
        return mv.inject_guess(world, USER, version, crash=crash, config=config)[0]
    if action == "inject_register":
        version = (int(params["vreg"]), int(params["vatt"]))
        prove = bool(params["prove"])
        return mv.inject_register(
            world, USER, version, prove=prove, method=mv.Method.PASSKEY, config=config
        )[0]
    if action == "replay":
        return mv.replay(world, int(params["slot"]) + 1, crash=crash, config=config)[0]
    raise ValueError(f"unknown action {action!r}")


def _within_bounds(action: str, state: State) -> bool:
    """The model has no bound on the honest client; the encoding disables its sends
    beyond ``POOL_SLOTS`` requests and ``HONEST_SECRETS`` secrets."""
    if action in ("enrol", "guess_right", "guess_wrong", "retire") and (
        int(state["sent"]) >= POOL_SLOTS
    ):
        return False
    return not (action == "enrol" and int(state["issued"]) >= HONEST_SECRETS)


@dataclass(frozen=True)
class Mismatch:
    """The encoding and the model disagree on one step."""

    action: str
    params: Mapping[str, int | bool]
    pre: Mapping[str, object]
    encoded: State | None  # None: the encoding's guard is false
    modelled: State | None  # None: the model's action is disabled

    def __str__(self) -> str:
        differ = (
            {
                k: (self.encoded[k], self.modelled[k])
                for k in self.encoded
                if self.encoded[k] != self.modelled.get(k)
            }
            if self.encoded is not None and self.modelled is not None
            else {"enabled": (self.encoded is not None, self.modelled is not None)}
        )
        return f"{format_action(self.action, self.params)} from {self.pre}: {differ}"


def _compiled_vault_step(
    config: VaultConfig,
) -> Callable[[Mapping[str, int | bool]], tuple[Any, ...]]:
    pre = fresh("pre")
    request = SymRequest(*(z3.Int(f"req.{f}") for f in SLOT_FIELDS))
    post, result = vault_step(
        config, pre, request, z3.Bool("crash"), z3.Int("rid"), z3.IntVal(config.max_attempts)
    )
    return compile_terms([result, *(post[name] for name in VAULT_VARIABLES)])


def check_vault_rules(config: VaultConfig) -> tuple[int, list[Mismatch]]:
    """check_vault_rules: :func:`vault_step` against :func:`model.vault.apply` on every
    vault state and request within these bounds (with ``L`` the configured limit):

    * record: none, or ``reg`` in {1, 2}, ``att`` in 0..L+1, ``secret`` in {0, 1, 2},
      every ``destroyed``, ``retired``, ``proved``; pending ``challenge`` in {0, 1};
    * ghost: ``dead[1] = dead[2]`` in {false, true}, the counters 0 (the ghost only adds
      to them, and only ``dead`` is read);
    * requests, naming every version in {0, 1, 2} × 0..L+1: a registration of secret 0
      (the adversary's, with no proof or a proof of 0) or of 1 or 2 (honest, any proof in
      {-1, 0, 1, 2}); an honest guess proving -1, 1 or 2 over challenge 0 or 1; the
      adversary's guess (-1); an honest retirement with any proof; every guess with and
      without a crash.

    Returns the number of steps compared and the mismatches (none, if the encoding is
    the model's).
    """
    compiled = _compiled_vault_step(config)
    limit = config.max_attempts
    flags = (False, True)
    versions = list(product((0, 1, 2), range(limit + 2)))
    records: list[dict[str, int | bool]] = [
        {"reg": 0, "att": 0, "secret": NONE, "destroyed": False, "retired": False, "proved": False}
    ]
    for reg, att, secret, destroyed, retired, proved in product(
        (1, 2), range(limit + 2), (0, 1, 2), flags, flags, flags
    ):
        records.append(
            {
                "reg": reg,
                "att": att,
                "secret": secret,
                "destroyed": destroyed,
                "retired": retired,
                "proved": proved,
            }
        )
    # (kind, secret, proof, challenge, crash, rid): honest requests come from slot 1.
    shapes: list[tuple[int, int, int, int, bool, int]] = []
    for proof in (NONE, ADV):
        shapes.append((REGISTER, ADV, proof, 0, False, -1))
    for secret, proof in product((1, 2), (NONE, ADV, 1, 2)):
        shapes.append((REGISTER, secret, proof, 0, False, 0))
    for secret, challenge, crash in product((NONE, 1, 2), (0, 1), flags):
        shapes.append((GUESS, secret, NONE, challenge, crash, 0))
    for crash in flags:
        shapes.append((GUESS, NONE, NONE, 0, crash, -1))
    for proof in (NONE, ADV, 1, 2):
        shapes.append((RETIRE, NONE, proof, 0, False, 0))

    mismatches: list[Mismatch] = []
    compared = 0
    base: State = {name: 0 for name in VAULT_VARIABLES} | {
        name: False for name in VAULT_VARIABLES if name in BOOL_VARIABLES
    }
    for record, challenge, dead in product(records, (0, 1), flags):
        pre: State = base | record | {"challenge": challenge}
        pre |= {f"dead[{x}]": dead for x in SECRETS}
        env: dict[str, int | bool] = {f"pre.{k}": v for k, v in pre.items()}
        vault = to_vault(pre)
        for (kind, secret, proof, chal, crash, rid), (vreg, vatt) in product(shapes, versions):
            env |= {
                "req.kind": kind,
                "req.vreg": vreg,
                "req.vatt": vatt,
                "req.secret": secret,
                "req.proof": proof,
                "req.challenge": chal,
                "crash": crash,
                "rid": rid,
            }
            fields = {"kind": kind, "vreg": vreg, "vatt": vatt, "secret": secret}
            fields |= {"proof": proof, "challenge": chal}
            request = _request_of({_slot(0, f): x for f, x in fields.items()}, 0)
            if isinstance(request, mv.GuessRequest) and rid < 0:
                request = mv.GuessRequest(USER, None, (vreg, vatt), chal, honest=False)
            if isinstance(request, mv.RegisterRequest):
                request = mv.RegisterRequest(
                    USER, request.method, secret, (vreg, vatt), request.proof, rid >= 0
                )
            after, result = mv.apply(
                vault, request, config, crash=crash, request_id=None if rid < 0 else rid + 1
            )
            code, *values = compiled(env)
            encoded = dict(zip(VAULT_VARIABLES, values, strict=True))
            encoded["result"] = code
            modelled = from_vault(after)
            modelled = {name: modelled[name] for name in VAULT_VARIABLES}
            modelled["result"] = RESULT_CODES[type(result)]
            compared += 1
            if encoded != modelled:
                shown: dict[str, object] = {**pre, "request": request, "crash": crash}
                mismatches.append(Mismatch("vault_step", {}, shown, encoded, modelled))
    return compared, mismatches


def _compiled_actions(
    config: VaultConfig,
) -> dict[str, Callable[[Mapping[str, int | bool]], tuple[Any, ...]]]:
    out = {}
    for action in ACTIONS:
        pre = fresh("pre")
        params = _params(action, "param")
        guard, post = step(config, action, pre, params, z3.IntVal(config.max_attempts))
        out[action] = compile_terms([guard, *(post[name] for name in VARIABLES)])
    return out


def initial_state() -> State:
    """Init as a concrete state (the one model of :func:`init`)."""
    solver = z3.Solver()
    s = fresh("init")
    solver.add(init(s))
    if solver.check() != z3.sat:
        raise RuntimeError("Init is empty")
    return value(s, solver.model())


def _param_domain(action: str, max_reg: int, max_att: int) -> Iterator[dict[str, int | bool]]:
    kinds = ACTIONS[action]
    domains: list[Sequence[int | bool]] = []
    for name, kind in kinds:
        if kind == "bool":
            domains.append((False, True))
        elif name == "vreg":
            domains.append(range(max_reg + 1))
        elif name == "vatt":
            domains.append(range(max_att + 1))
        else:  # slot
            domains.append(range(POOL_SLOTS))
    for values in product(*domains):
        yield dict(zip((name for name, _ in kinds), values, strict=True))


def check_reachable(
    config: VaultConfig, max_reg: int = 3, max_challenge: int = 2
) -> tuple[int, int, list[Mismatch]]:
    """check_reachable: every action's encoding (guard and post-state) against
    :func:`model_step`, on every state reachable from Init within these bounds, for
    every parameter value within them:

    * ``reg <= max_reg`` (3), ``att <= L + 2``, ``challenge <= max_challenge`` (2),
      ``released <= 2``, ``wrong[s] <= L + 2``, ``charged[i] <= 2`` (the others are
      bounded by the machine itself: ``HONEST_SECRETS`` secrets, ``POOL_SLOTS`` requests);
    * parameters: versions named in 0..max_reg × 0..L+1, every slot, every flag.

    States outside the bounds are compared but not explored. Returns the number of
    states explored, of steps compared, and the mismatches.
    """
    compiled = _compiled_actions(config)
    max_att = config.max_attempts + 1
    start = initial_state()
    seen = {tuple(start.values())}
    frontier = [start]
    explored = compared = 0
    mismatches: list[Mismatch] = []
    while frontier:
        state = frontier.pop()
        explored += 1
        env = {f"pre.{k}": v for k, v in state.items()}
        world = to_model(state)
        for action in ACTIONS:
            for params in _param_domain(action, max_reg, max_att):
                env |= {f"param.{k}": v for k, v in params.items()}
                guard, *values = compiled[action](env)
                encoded = dict(zip(VARIABLES, values, strict=True)) if guard else None
                modelled: State | None
                try:
                    modelled = from_model(model_step(config, action, params, world))
                except mv.Disabled:
                    modelled = None
                if not _within_bounds(action, state):
                    modelled = None
                compared += 1
                if encoded != modelled:
                    mismatches.append(Mismatch(action, params, state, encoded, modelled))
                    continue
                if encoded is None:
                    continue
                key = tuple(encoded.values())
                inside = (
                    int(encoded["reg"]) <= max_reg
                    and int(encoded["att"]) <= max_att + 1
                    and int(encoded["challenge"]) <= max_challenge
                    and int(encoded["released"]) <= 2
                    and all(int(encoded[f"wrong[{x}]"]) <= max_att + 1 for x in SECRETS)
                    and all(int(encoded[f"charged[{i + 1}]"]) <= 2 for i in SLOTS)
                )
                if key not in seen and inside:
                    seen.add(key)
                    frontier.append(encoded)
    return explored, compared, mismatches
