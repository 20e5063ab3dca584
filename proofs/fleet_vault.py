"""proofs.fleet_vault: I3 ``attempt-limit`` and I6 ``durability`` on the replicated vault.

What is encoded
    (a) The concrete fleet of :mod:`model.fleet`, one small instance at a time (default
    ``n = 3``, two slots, two ballots; limit 2 for the safe fleet and ``replayable-guess``,
    1 for the other variants): every model variable is a Z3 bit-vector or Boolean per
    step, named by its trace column (``acc[r0][s0]``, ``prop[b1][s0]``, ``ver[g1]`` …),
    and every concrete action (``propose(r0)``, ``accept(r1,b1,s0)``,
    ``elect(r2,{r1,r2})``, the channel adversary's ``replay(r0,g1)`` and
    ``inject(r0,v1)``, the disk adversary's ``amnesia(r0)``, ``learn(r0,b1,s0)`` and,
    under ``unauthenticated-ballots``, ``edit_ballot``, ``delete_vote`` and
    ``lower_promise`` …) is a guard and an update written branch for branch with
    :func:`model.fleet.step`, variant branches included, the compare-and-swap of
    :func:`model.fleet.apply_log` included. The tests check this encoding against the
    Python model on concrete states. A bounded model check (Biere et al. 1999) unrolls it
    from :func:`model.fleet.initial`, depth 0, 1, 2, …, so the first counterexample to I3
    or I6 is a shortest one; sanity queries show the safe fleet can answer, destroy,
    change leader, refuse a replayed request as stale, and take an amnesiac replica back
    once it has re-learned its slots. The history ghost ``chosen[bk][sj]``
    (``model.fleet.FleetState.ever_chosen``) is updated after every step by one generic
    constraint, not per action.

    (b) A parametric abstraction of the safe fleet, for every ``n``, ``q``, ``r`` and
    ``limit`` with ``2q > n + r`` (Z3 integers): a counting machine whose variables are the
    record's attempts as the serving leader applies the chosen log, the chosen charges
    still waiting for their answer, the answers given, the fewest never-rolled-back replicas
    holding a committed command, the replicas rolled back so far, and the honest requests
    charged a second time. Its actions are the fleet's steps seen through that
    abstraction, the channel's ``replay`` among them (a captured request chosen again:
    its version is below the record's, so the compare-and-swap refuses it), and the disk
    adversary's ``amnesia`` and ``edit`` (detected in the safe fleet: the replica becomes a
    learner, which ``holders`` counts since it is in no quorum until it holds the command
    again); each variant changes exactly the step it breaks. The obligations are
    Apalache's ``IndInit``, ``IndNext[action]``, ``IndProp[I3]`` and ``IndProp[I6]``.

The adversary's assumption
    The operator may replay any captured request, any number of times, in any order, to
    the leader of any ballot, and inject guesses of its own for any version; it cannot
    open or alter a sealed request (the HPKE session's promise), so a replay names the
    version its original named. It owns every replica's disk: in the safe fleet every
    rollback or edit is detected (the store's version and HMAC tag against the HSM's
    NVRAM) and is one ``amnesia`` step, unbounded. That detection is taken, not proved,
    here.

What this proves, and what it does not
    The induction is unbounded in time and parametric in ``n``, ``q``, ``r`` and the
    limit, but it is a proof about the counting abstraction: that the fleet refines it is
    argued in ``docs/i3-fleet.rst`` and ``docs/i6.rst`` (it rests on quorum intersection,
    I2, which ``proofs/paxos_i2.py`` and ``proofs/quorum.py`` prove), and checked on
    seeded walks of the model by ``tests/test_fleet_refinement.py``, not mechanically. The
    BMC is exact for the concrete model but bounded in depth and size: it finds the
    shortest counterexample of each variant and proves nothing beyond its depth on its
    own. One fleet epoch only: replays across fleets are ``proofs/guess_budget_i5.py``'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Final, Literal

import z3

from model.fleet import (
    ALL_FLEET_VARIANT_NAMES,
    EMPTY,
    I6_NAME,
    UNDETECTED,
    Accept,
    Action,
    Amnesia,
    Answer,
    Crash,
    DeleteVote,
    EditBallot,
    Elect,
    FleetConfig,
    FleetState,
    Inject,
    Learn,
    LowerPromise,
    Propose,
    Replay,
    Restart,
    Rollback,
    actions,
    any_fleet_variant,
    initial,
)
from model.vault import I3_NAME
from proofs import bitvec
from proofs.bitvec import BoolTerm, Effect, IntTerm, SymState, Term
from proofs.report import BmcResult, Obligation, Outline, Reachability, State, Trace

#: The names every report uses for the two properties.
I3_PROPERTY: Final = f"I3 {I3_NAME}"
I6_PROPERTY: Final = f"I6 {I6_NAME}"
PROPERTIES: Final = {"I3": I3_PROPERTY, "I6": I6_PROPERTY}

#: The inductive invariant's name in obligations and counterexamples.
INVARIANT_NAME: Final = "Inv"


#: Integer columns are signed bit-vectors of this width: every value of the bounded model
#: (ballots, slots, guess ids, counters up to the BMC depth, ``owner = -1``) fits, and a
#: bit-vector unrolling is decided by bit-blasting to SAT, much faster than arithmetic.
WIDTH: Final = 6


#: The width of a step's action index.
CHOICE_WIDTH: Final = 8


def num(v: int) -> IntTerm:
    """num: the bit-vector constant ``v``."""
    return bitvec.num(v, WIDTH)


# ---------------------------------------------------------------------------------------
# Columns: the flat view of a FleetState that traces print and Z3 encodes


def _r(i: int) -> str:
    return f"r{i}"


def columns(config: FleetConfig) -> list[tuple[str, Literal["int", "bool"]]]:
    """columns: the state's variables as ``(name, kind)``, in the order traces print them.

    ``accb[ri][sj]`` / ``acc[ri][sj]`` are replica ``i``'s accepted ballot and command in
    slot ``j``; ``prop[bk][sj]`` and ``wait[bk][sj]`` ballot ``k``'s proposal and whether a
    client waits on it; ``ackb[sj]`` / ``ack[sj]`` the acknowledged ballot and command;
    ``ver[gk]`` / ``honest[gk]`` the version request ``k`` names and whether the honest
    client made it; ``stale`` the requests refused as stale; ``charged_twice`` the ghost
    of I3's clause on honest requests.
    """
    n, slots, ballots = config.replicas, range(config.slots), range(1, config.ballots + 1)
    out: list[tuple[str, Literal["int", "bool"]]] = [("ballot", "int")]
    out += [(f"owner[b{b}]", "int") for b in ballots]
    out += [(f"lead[{_r(i)}]", "int") for i in range(n)]
    out += [(f"up[{_r(i)}]", "bool") for i in range(n)]
    out += [(f"promised[{_r(i)}]", "int") for i in range(n)]
    for i in range(n):
        for s in slots:
            out += [(f"accb[{_r(i)}][s{s}]", "int"), (f"acc[{_r(i)}][s{s}]", "int")]
    out += [(f"prop[b{b}][s{s}]", "int") for b in ballots for s in slots]
    out += [(f"wait[b{b}][s{s}]", "bool") for b in ballots for s in slots]
    out += [("next_guess", "int"), ("answered_wrong", "int"), ("released", "int")]
    out += [("destroyed", "bool"), ("answered_after_destroy", "bool")]
    for s in slots:
        out += [(f"ackb[s{s}]", "int"), (f"ack[s{s}]", "int")]
    out += [(f"rolled[{_r(i)}]", "bool") for i in range(n)]
    requests = range(1, config.requests + 1)
    out += [(f"ver[g{g}]", "int") for g in requests]
    out += [(f"honest[g{g}]", "bool") for g in requests]
    out += [("stale", "int"), ("charged_twice", "bool")]
    out += [(f"rejoin[{_r(i)}]", "int") for i in range(n)]
    out += [(f"chosen[b{b}][s{s}]", "bool") for b in ballots for s in slots]
    return out


def as_columns(state: FleetState, config: FleetConfig) -> State:
    """as_columns: the model state as a flat dict of trace columns."""
    n, slots = config.replicas, config.slots
    out: State = {"ballot": state.ballot}
    out.update({f"owner[b{b + 1}]": o for b, o in enumerate(state.owner)})
    out.update({f"lead[{_r(i)}]": state.lead[i] for i in range(n)})
    out.update({f"up[{_r(i)}]": state.up[i] for i in range(n)})
    out.update({f"promised[{_r(i)}]": state.promised[i] for i in range(n)})
    for i in range(n):
        for s in range(slots):
            out[f"accb[{_r(i)}][s{s}]"], out[f"acc[{_r(i)}][s{s}]"] = state.log[i][s]
    for b, row in enumerate(state.proposals):
        out.update({f"prop[b{b + 1}][s{s}]": c for s, c in enumerate(row)})
    for b, flags in enumerate(state.waiting):
        out.update({f"wait[b{b + 1}][s{s}]": w for s, w in enumerate(flags)})
    out["next_guess"] = state.next_guess
    out["answered_wrong"] = state.answered_wrong
    out["released"] = state.released
    out["destroyed"] = state.destroyed
    out["answered_after_destroy"] = state.answered_after_destroy
    for s in range(slots):
        out[f"ackb[s{s}]"], out[f"ack[s{s}]"] = state.acked[s]
    out.update({f"rolled[{_r(i)}]": state.rolled[i] for i in range(n)})
    out.update({f"ver[g{g + 1}]": v for g, v in enumerate(state.versions)})
    out.update({f"honest[g{g + 1}]": h for g, h in enumerate(state.honest)})
    out["stale"] = state.stale
    out["charged_twice"] = state.charged_twice
    out.update({f"rejoin[{_r(i)}]": state.rejoin[i] for i in range(n)})
    for b, flags in enumerate(state.ever_chosen):
        out.update({f"chosen[b{b + 1}][s{s}]": c for s, c in enumerate(flags)})
    return {name: out[name] for name, _ in columns(config)}


def from_columns(values: State, config: FleetConfig) -> FleetState:
    """from_columns: the model state a flat dict of columns describes."""
    n, slots, ballots = config.replicas, range(config.slots), range(1, config.ballots + 1)

    def i(name: str) -> int:
        return int(values[name])

    def t(name: str) -> bool:
        return bool(values[name])

    return FleetState(
        up=tuple(t(f"up[{_r(r)}]") for r in range(n)),
        promised=tuple(i(f"promised[{_r(r)}]") for r in range(n)),
        log=tuple(
            tuple((i(f"accb[{_r(r)}][s{s}]"), i(f"acc[{_r(r)}][s{s}]")) for s in slots)
            for r in range(n)
        ),
        lead=tuple(i(f"lead[{_r(r)}]") for r in range(n)),
        ballot=i("ballot"),
        owner=tuple(i(f"owner[b{b}]") for b in ballots),
        proposals=tuple(tuple(i(f"prop[b{b}][s{s}]") for s in slots) for b in ballots),
        waiting=tuple(tuple(t(f"wait[b{b}][s{s}]") for s in slots) for b in ballots),
        next_guess=i("next_guess"),
        answered_wrong=i("answered_wrong"),
        released=i("released"),
        destroyed=t("destroyed"),
        answered_after_destroy=t("answered_after_destroy"),
        acked=tuple((i(f"ackb[s{s}]"), i(f"ack[s{s}]")) for s in slots),
        rolled=tuple(t(f"rolled[{_r(r)}]") for r in range(n)),
        versions=tuple(i(f"ver[g{g}]") for g in range(1, config.requests + 1)),
        honest=tuple(t(f"honest[g{g}]") for g in range(1, config.requests + 1)),
        stale=i("stale"),
        charged_twice=t("charged_twice"),
        rejoin=tuple(i(f"rejoin[{_r(r)}]") for r in range(n)),
        ever_chosen=tuple(tuple(t(f"chosen[b{b}][s{s}]") for s in slots) for b in ballots),
    )


def fresh(prefix: str, config: FleetConfig) -> SymState:
    """fresh: Z3 constants ``<prefix>.<column>`` for every column."""
    return bitvec.fresh_state(prefix, columns(config), WIDTH)


def constant(values: State) -> SymState:
    """constant: the Z3 values of a concrete state."""
    return bitvec.constant_state(values, WIDTH)


def value(sym: SymState, model: z3.ModelRef) -> State:
    """value: the concrete state a Z3 model assigns to ``sym``."""
    return bitvec.model_state(sym, model)


# ---------------------------------------------------------------------------------------
# The concrete fleet: one guard and one update per action, mirroring model.fleet.step


def _count(terms: list[BoolTerm]) -> IntTerm:
    total = num(0)
    for t in terms:
        total = total + z3.If(t, num(1), num(0))
    return total


def _chosen(config: FleetConfig, pre: SymState, b: int, s: int) -> BoolTerm:
    """The model's ``chosen``: ballot ``b``'s proposal for ``s`` accepted by a quorum."""
    command = pre[f"prop[b{b}][s{s}]"]
    held = _count(
        [
            z3.And(pre[f"accb[{_r(i)}][s{s}]"] == b, pre[f"acc[{_r(i)}][s{s}]"] == command)
            for i in range(config.replicas)
        ]
    )
    return z3.And(command != 0, held >= config.quorum)


def _learner(config: FleetConfig, pre: SymState, r: int) -> BoolTerm:
    """The model's ``learner``: some slot below ``rejoin[r]`` of r's log is empty."""
    if not config.rejoin:
        return z3.BoolVal(False)
    return z3.Or(
        False,
        *(
            z3.And(
                num(s) < pre[f"rejoin[{_r(r)}]"],
                pre[f"accb[{_r(r)}][s{s}]"] == 0,
                pre[f"acc[{_r(r)}][s{s}]"] == 0,
            )
            for s in range(config.slots)
        ),
    )


def _relearning(config: FleetConfig, pre: SymState, r: int, s: int) -> BoolTerm:
    """``model.fleet.keepers``' second case: slot ``s`` is below r's ceiling and empty."""
    if not config.rejoin:
        return z3.BoolVal(False)
    return z3.And(num(s) < pre[f"rejoin[{_r(r)}]"], _empty(pre, r, s))


def _empty(pre: SymState, r: int, s: int) -> BoolTerm:
    return z3.And(pre[f"accb[{_r(r)}][s{s}]"] == 0, pre[f"acc[{_r(r)}][s{s}]"] == 0)


def _version_of(config: FleetConfig, pre: SymState, command: IntTerm) -> IntTerm:
    """The version request ``command`` names (``-1`` for no request)."""
    out = num(-1)
    for g in range(1, config.requests + 1):
        out = z3.If(command == g, pre[f"ver[g{g}]"], out)
    return out


def _honest_of(config: FleetConfig, pre: SymState, command: IntTerm) -> BoolTerm:
    """Whether request ``command`` is the honest client's."""
    out = z3.BoolVal(False)
    for g in range(1, config.requests + 1):
        out = z3.If(command == g, pre[f"honest[g{g}]"], out)
    return out


def _verdict(
    config: FleetConfig, pre: SymState, command: IntTerm, attempts: IntTerm
) -> tuple[BoolTerm, BoolTerm, BoolTerm]:
    """The model's ``verdict`` as three exclusive terms: stale, destroyed, charge (all
    false for an empty slot)."""
    present = command != 0
    if config.variant == "replayable-guess":
        stale: BoolTerm = z3.BoolVal(False)
    else:
        stale = z3.And(present, _version_of(config, pre, command) != attempts)
    destroyed = z3.And(present, z3.Not(stale), attempts >= config.limit)
    charge = z3.And(present, z3.Not(stale), attempts < config.limit)
    return stale, destroyed, charge


def _apply(
    config: FleetConfig, pre: SymState, commands: list[IntTerm]
) -> tuple[IntTerm, list[BoolTerm]]:
    """The model's ``apply_log``: the attempts after ``commands`` and which of them charge."""
    attempts, charges = num(0), []
    for command in commands:
        charge = _verdict(config, pre, command, attempts)[2]
        charges.append(charge)
        attempts = z3.If(charge, attempts + 1, attempts)
    return attempts, charges


def _view(config: FleetConfig, pre: SymState, r: int, bb: int, s: int) -> list[IntTerm]:
    """The model's ``view``: the commands leader ``r`` of ballot ``bb`` applies before
    slot ``s``."""
    if config.variant == "serve-before-catch-up":
        return [pre[f"acc[{_r(r)}][s{t}]"] for t in range(s)]
    return [pre[f"prop[b{bb}][s{t}]"] for t in range(s)]


def _propose(
    config: FleetConfig,
    pre: SymState,
    r: int,
    version: int | None,
    honest: bool,
    replayed: int = 0,
) -> Effect:
    """The model's ``_propose``: a fresh request (naming ``version``, or the leader's
    version for its slot when ``None``) or the captured request ``replayed``, in the
    first free slot of the leader's ballot."""
    ballots, slots = range(1, config.ballots + 1), range(config.slots)
    b = pre[f"lead[{_r(r)}]"]
    g = num(replayed) if replayed else pre["next_guess"]

    def first_free(bb: int, s: int) -> BoolTerm:
        return z3.And(
            b == bb,
            pre[f"prop[b{bb}][s{s}]"] == 0,
            *(pre[f"prop[b{bb}][s{t}]"] != 0 for t in range(s)),
        )

    updates: dict[str, Term] = {}
    for bb in ballots:
        for s in slots:
            here = first_free(bb, s)
            updates[f"prop[b{bb}][s{s}]"] = z3.If(here, g, pre[f"prop[b{bb}][s{s}]"])
            updates[f"wait[b{bb}][s{s}]"] = z3.Or(here, pre[f"wait[b{bb}][s{s}]"])
    for s in slots:
        here = z3.Or(*(first_free(bb, s) for bb in ballots))
        updates[f"accb[{_r(r)}][s{s}]"] = z3.If(here, b, pre[f"accb[{_r(r)}][s{s}]"])
        updates[f"acc[{_r(r)}][s{s}]"] = z3.If(here, g, pre[f"acc[{_r(r)}][s{s}]"])
    guard = [
        pre[f"up[{_r(r)}]"],
        b >= 1,
        pre[f"promised[{_r(r)}]"] == b,
        z3.Or(*(first_free(bb, s) for bb in ballots for s in slots)),
    ]
    if replayed:
        guard.append(replayed < pre["next_guess"])
    else:
        guard.append(g <= config.requests)
        updates["next_guess"] = g + 1
        if version is None:
            named = num(0)
            for bb in ballots:
                for s in slots:
                    mine = _apply(config, pre, _view(config, pre, r, bb, s))[0]
                    named = z3.If(first_free(bb, s), mine, named)
        else:
            named = num(version)
        for k in range(1, config.requests + 1):
            updates[f"ver[g{k}]"] = z3.If(g == k, named, pre[f"ver[g{k}]"])
            updates[f"honest[g{k}]"] = z3.Or(
                z3.And(g == k, honest), z3.And(g != k, pre[f"honest[g{k}]"])
            )
    return Effect(z3.And(*guard), updates)


def effect(config: FleetConfig, action: Action, pre: SymState) -> Effect:
    """effect: the guard and update of ``action`` from ``pre``, as terms.

    Where the model indexes by a value of the state (the ballot ``lead[r]`` a leader
    leads, the request a slot holds), the encoding takes the disjunction over every
    ballot ``1 .. ballots`` (request ``1 .. requests``).
    """
    n, q, limit = config.replicas, config.quorum, config.limit
    slots, ballots = range(config.slots), range(1, config.ballots + 1)
    variant = config.variant
    match action:
        case Propose(leader=r):
            return _propose(config, pre, r, None, True)
        case Inject(leader=r, version=v):
            return _propose(config, pre, r, v, False)
        case Replay(leader=r, request=g):
            return _propose(config, pre, r, None, False, replayed=g)
        case Accept(replica=r, ballot=b, slot=s):
            command = pre[f"prop[b{b}][s{s}]"]
            guard = z3.And(
                pre[f"up[{_r(r)}]"],
                command != 0,
                b >= pre[f"promised[{_r(r)}]"],
                z3.Not(_learner(config, pre, r)),
            )
            return Effect(
                guard,
                {
                    f"promised[{_r(r)}]": num(b),
                    f"accb[{_r(r)}][s{s}]": num(b),
                    f"acc[{_r(r)}][s{s}]": command,
                },
            )
        case Answer(leader=r, slot=s, correct=correct):
            b = pre[f"lead[{_r(r)}]"]

            def ready(bb: int) -> BoolTerm:
                if variant == "serve-before-catch-up":
                    return _chosen(config, pre, bb, s)
                parts = []
                for t in range(s + 1):
                    command = pre[f"prop[b{bb}][s{t}]"]
                    if variant == "answer-before-chosen":
                        mine = z3.And(
                            pre[f"accb[{_r(r)}][s{t}]"] == bb, pre[f"acc[{_r(r)}][s{t}]"] == command
                        )
                    else:
                        mine = _chosen(config, pre, bb, t)
                    parts.append(z3.And(command != 0, mine))
                return z3.And(*parts)

            guard = z3.And(
                pre[f"up[{_r(r)}]"],
                z3.Or(*(z3.And(b == bb, pre[f"wait[b{bb}][s{s}]"], ready(bb)) for bb in ballots)),
            )
            attempts, command = num(0), num(0)
            true_attempts, again = num(0), z3.BoolVal(False)
            for bb in ballots:
                mine = _apply(config, pre, _view(config, pre, r, bb, s))[0]
                here = pre[f"prop[b{bb}][s{s}]"]
                truth = [pre[f"prop[b{bb}][s{t}]"] for t in range(s)]
                applied, charges = _apply(config, pre, truth)
                earlier = z3.Or(
                    False, *(z3.And(c == here, ch) for c, ch in zip(truth, charges, strict=True))
                )
                attempts = z3.If(b == bb, mine, attempts)
                command = z3.If(b == bb, here, command)
                true_attempts = z3.If(b == bb, applied, true_attempts)
                again = z3.If(b == bb, earlier, again)
            stale, refused, charge = _verdict(config, pre, command, attempts)
            again = z3.And(again, _honest_of(config, pre, command))
            updates = {
                f"wait[b{bb}][s{s}]": z3.And(b != bb, pre[f"wait[b{bb}][s{s}]"]) for bb in ballots
            }
            updates[f"ackb[s{s}]"] = b
            updates[f"ack[s{s}]"] = command
            updates["stale"] = z3.If(stale, pre["stale"] + 1, pre["stale"])
            updates["answered_after_destroy"] = z3.Or(
                pre["answered_after_destroy"], z3.And(charge, true_attempts >= limit)
            )
            updates["charged_twice"] = z3.Or(pre["charged_twice"], z3.And(charge, again))
            if correct:
                updates["released"] = z3.If(charge, pre["released"] + 1, pre["released"])
                updates["destroyed"] = z3.Or(refused, pre["destroyed"])
            else:
                updates["answered_wrong"] = z3.If(
                    charge, pre["answered_wrong"] + 1, pre["answered_wrong"]
                )
                updates["destroyed"] = z3.Or(
                    refused, pre["destroyed"], z3.And(charge, attempts + 1 >= limit)
                )
            return Effect(guard, updates)
        case Elect(replica=r, quorum=quorum):
            b = pre["ballot"] + 1
            guard = z3.And(
                b <= config.ballots,
                *(pre[f"up[{_r(i)}]"] for i in quorum),
                *(pre[f"promised[{_r(i)}]"] < b for i in quorum),
                *(z3.Not(_learner(config, pre, i)) for i in quorum),
            )
            updates = {"ballot": b, f"lead[{_r(r)}]": b}
            updates.update({f"promised[{_r(i)}]": b for i in quorum})
            for bb in ballots:
                updates[f"owner[b{bb}]"] = z3.If(b == bb, r, pre[f"owner[b{bb}]"])
            for s in slots:
                best_b, best_c = num(EMPTY[0]), num(EMPTY[1])
                for i in quorum:
                    higher = pre[f"accb[{_r(i)}][s{s}]"] > best_b
                    best_b, best_c = (
                        z3.If(higher, pre[f"accb[{_r(i)}][s{s}]"], best_b),
                        z3.If(higher, pre[f"acc[{_r(i)}][s{s}]"], best_c),
                    )
                for bb in ballots:
                    updates[f"prop[b{bb}][s{s}]"] = z3.If(
                        b == bb, best_c, pre[f"prop[b{bb}][s{s}]"]
                    )
            return Effect(guard, updates)
        case Crash(replica=r):
            return Effect(
                pre[f"up[{_r(r)}]"],
                {f"up[{_r(r)}]": z3.BoolVal(False), f"lead[{_r(r)}]": num(0)},
            )
        case Restart(replica=r):
            updates = {f"up[{_r(r)}]": z3.BoolVal(True)}
            if variant == "forget-promise-on-restart":
                updates[f"promised[{_r(r)}]"] = num(0)
            return Effect(z3.Not(pre[f"up[{_r(r)}]"]), updates)
        case Rollback(replica=r):
            rolled = _count([pre[f"rolled[{_r(i)}]"] for i in range(n)]) + z3.If(
                pre[f"rolled[{_r(r)}]"], num(0), num(1)
            )
            updates = {
                f"up[{_r(r)}]": z3.BoolVal(True),
                f"lead[{_r(r)}]": num(0),
                f"promised[{_r(r)}]": num(0),
                f"rolled[{_r(r)}]": z3.BoolVal(True),
                f"rejoin[{_r(r)}]": num(0),
            }
            for s in slots:
                updates[f"accb[{_r(r)}][s{s}]"] = num(0)
                updates[f"acc[{_r(r)}][s{s}]"] = num(0)
            return Effect(rolled <= config.rollbacks_allowed, updates)
        case Amnesia(replica=r):
            ceiling = pre[f"rejoin[{_r(r)}]"]
            for s in slots:
                ceiling = z3.If(
                    z3.And(z3.Not(_empty(pre, r, s)), ceiling < s + 1), num(s + 1), ceiling
                )
            updates = {
                f"up[{_r(r)}]": z3.BoolVal(True),
                f"lead[{_r(r)}]": num(0),
                f"rejoin[{_r(r)}]": ceiling,
            }
            for s in slots:
                updates[f"accb[{_r(r)}][s{s}]"] = num(0)
                updates[f"acc[{_r(r)}][s{s}]"] = num(0)
            return Effect(z3.BoolVal(config.detects), updates)
        case Learn(replica=r, ballot=b, slot=s):
            command = pre[f"prop[b{b}][s{s}]"]
            guard = z3.And(
                z3.BoolVal(config.detects),
                pre[f"up[{_r(r)}]"],
                num(s) < pre[f"rejoin[{_r(r)}]"],
                _empty(pre, r, s),
                command != 0,
                pre[f"chosen[b{b}][s{s}]"],
            )
            return Effect(guard, {f"accb[{_r(r)}][s{s}]": num(b), f"acc[{_r(r)}][s{s}]": command})
        case EditBallot(replica=r, slot=s, ballot=b):
            guard = z3.And(z3.BoolVal(config.edits), pre[f"acc[{_r(r)}][s{s}]"] != 0)
            return Effect(guard, {f"accb[{_r(r)}][s{s}]": num(b)})
        case DeleteVote(replica=r, slot=s):
            guard = z3.And(z3.BoolVal(config.edits), z3.Not(_empty(pre, r, s)))
            return Effect(guard, {f"accb[{_r(r)}][s{s}]": num(0), f"acc[{_r(r)}][s{s}]": num(0)})
        case LowerPromise(replica=r):
            guard = z3.And(z3.BoolVal(config.edits), pre[f"promised[{_r(r)}]"] != 0)
            return Effect(guard, {f"promised[{_r(r)}]": num(0)})
    del q
    raise TypeError(f"not an action: {action!r}")  # pragma: no cover


def step_relation(
    config: FleetConfig, pre: SymState, post: SymState, choice: IntTerm
) -> list[BoolTerm]:
    """step_relation: the constraints of one step ``pre -choice-> post``, where ``choice``
    is the index of the action in :func:`model.fleet.actions`.

    Each column's post-value is one ``If`` chain over the actions that change it; the
    guard of the chosen action must hold. The history ghost ``chosen[bk][sj]`` is raised
    after every step in which ballot ``k``'s proposal for slot ``j`` is chosen
    (``model.fleet.observe``).
    """
    every = actions(config)
    effects = [effect(config, a, pre) for a in every]
    out = [z3.ULT(choice, len(every))]
    out += [z3.Implies(choice == k, e.guard) for k, e in enumerate(effects)]
    for b in range(1, config.ballots + 1):
        for s in range(config.slots):
            name = f"chosen[b{b}][s{s}]"
            out.append(post[name] == z3.Or(pre[name], _chosen(config, post, b, s)))
    for name in pre:
        if name.startswith("chosen["):
            continue
        term = pre[name]
        for k, e in enumerate(effects):
            if name in e.updates:
                term = z3.If(choice == k, e.updates[name], term)
        out.append(post[name] == term)
    return out


@cache
def _one_step(config: FleetConfig) -> tuple[SymState, SymState, IntTerm, BoolTerm]:
    """The step relation over template states, built once per configuration."""
    pre, post = fresh("pre", config), fresh("post", config)
    choice = z3.BitVec("choice", CHOICE_WIDTH)
    return pre, post, choice, z3.And(*step_relation(config, pre, post, choice))


def successors(config: FleetConfig, action: Action, pre: State, at_most: int = 3) -> list[State]:
    """successors: every post-state the BMC's step relation allows from the concrete
    ``pre`` with ``action`` chosen (enumerated with blocking clauses, up to ``at_most``).

    A faithful encoding yields ``[]`` exactly when the model says the action is disabled,
    and otherwise the one state :func:`model.fleet.step` computes.
    """
    template_pre, post, choice, relation = _one_step(config)
    values = constant(pre)
    solver = z3.Solver()
    solver.add(z3.substitute(relation, *((template_pre[k], values[k]) for k in template_pre)))
    solver.add(choice == actions(config).index(action))
    found: list[State] = []
    while len(found) < at_most and solver.check() == z3.sat:
        got = value(post, solver.model())
        found.append(got)
        solver.add(z3.Not(z3.And(*(post[k] == v for k, v in constant(got).items()))))
    return found


# ---------------------------------------------------------------------------------------
# The properties


def attempt_limit(config: FleetConfig, s: SymState) -> BoolTerm:
    """I3 on the fleet (``model.fleet.check_i3_fleet``): at most ``limit`` wrong guesses
    answered, no comparison answered for a charge past the limit, and no honest request
    charged twice."""
    return z3.And(
        s["answered_wrong"] <= config.limit,
        z3.Not(s["answered_after_destroy"]),
        z3.Not(s["charged_twice"]),
    )


def durability(config: FleetConfig, s: SymState) -> BoolTerm:
    """I6 on the fleet (``model.fleet.check_i6``): every acknowledged command is kept
    (held, or its slot yet to be re-learned by a learner) by ``n - q + 1`` replicas, and
    held by every
    replica that accepted in its slot at or after the ballot it was acknowledged at."""
    parts = []
    for t in range(config.slots):
        command, ballot = s[f"ack[s{t}]"], s[f"ackb[s{t}]"]
        held = _count(
            [
                z3.Or(s[f"acc[{_r(i)}][s{t}]"] == command, _relearning(config, s, i, t))
                for i in range(config.replicas)
            ]
        )
        learned = [
            z3.Implies(s[f"accb[{_r(i)}][s{t}]"] >= ballot, s[f"acc[{_r(i)}][s{t}]"] == command)
            for i in range(config.replicas)
        ]
        parts.append(z3.Or(command == 0, z3.And(held >= config.durable_copies, *learned)))
    return z3.And(*parts)


GOALS: Final[Mapping[str, Callable[[FleetConfig, SymState], BoolTerm]]] = {
    "I3": lambda c, s: z3.Not(attempt_limit(c, s)),
    "I6": lambda c, s: z3.Not(durability(c, s)),
}


# ---------------------------------------------------------------------------------------
# Bounded model checking and reachability


class Unrolling:
    """Unrolling: ``s0 -a0-> s1 -a1-> …`` from :func:`model.fleet.initial`.

    The step constraints are built once and kept; each query at depth ``k`` is decided by a
    fresh ``QF_BV`` solver over the first ``k`` steps (bit-blasted to SAT, which is much
    faster here than one incremental solver, whose push/pop frames disable the
    bit-vector preprocessing).
    """

    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        self.names = [a.name for a in actions(config)]
        self.states = [fresh("s0", config)]
        self.choices: list[IntTerm] = []
        start = constant(as_columns(initial(config), config))
        self.steps: list[list[BoolTerm]] = [[self.states[0][k] == v for k, v in start.items()]]
        # One step is built once over template states and copied to each depth by
        # substitution (in Z3, not in Python: building the terms is the slow part).
        self._pre, self._post = fresh("pre", config), fresh("post", config)
        self._choice = z3.BitVec("choice", CHOICE_WIDTH)
        self._template = z3.And(*step_relation(config, self._pre, self._post, self._choice))

    @property
    def depth(self) -> int:
        return len(self.choices)

    def extend_to(self, depth: int) -> None:
        while self.depth < depth:
            i = self.depth
            post, choice = fresh(f"s{i + 1}", self.config), z3.BitVec(f"a{i}", CHOICE_WIDTH)
            pairs = [(self._pre[k], self.states[i][k]) for k in self._pre]
            pairs += [(self._post[k], post[k]) for k in self._post]
            pairs.append((self._choice, choice))
            self.steps.append([z3.substitute(self._template, *pairs)])
            self.states.append(post)
            self.choices.append(choice)

    def _solver(self, depth: int, goal: BoolTerm) -> z3.Solver:
        solver = z3.SolverFor("QF_BV")
        for constraints in self.steps[: depth + 1]:
            solver.add(*constraints)
        solver.add(goal)
        return solver

    def _first_within(
        self, goal: Callable[[FleetConfig, SymState], BoolTerm], depth: int
    ) -> int | None:
        """The first state of some path of ``depth`` steps that meets ``goal`` (``None``
        if no path of at most ``depth`` steps reaches ``goal``)."""
        meets = [goal(self.config, s) for s in self.states[: depth + 1]]
        solver = self._solver(depth, z3.Or(*meets))
        if solver.check() != z3.sat:
            return None
        model = solver.model()
        return next(i for i, m in enumerate(meets) if z3.is_true(model.eval(m, True)))

    def shortest(
        self, goal: Callable[[FleetConfig, SymState], BoolTerm], max_depth: int
    ) -> tuple[list[State], list[str]] | None:
        """The shortest path from the initial state to a state meeting ``goal`` (``None``
        up to ``max_depth``); among shortest paths, the lexicographically first action
        sequence in :func:`model.fleet.actions` order (each step lowered, then fixed, in turn).

        Depth by depth in effect, but asked as "within ``k`` steps" queries: one query
        decides a clean bound, and a violation found at step ``j`` is shortened by asking
        again within ``j - 1`` steps until that is unsatisfiable.
        """
        self.extend_to(max_depth)
        depth = self._first_within(goal, max_depth)
        if depth is None:
            return None
        while depth > 0:
            shorter = self._first_within(goal, depth - 1)
            if shorter is None:
                break
            depth = shorter
        solver = self._solver(depth, goal(self.config, self.states[depth]))
        if solver.check() != z3.sat:  # pragma: no cover - the path was just found
            raise RuntimeError("the shortest path vanished while minimising")
        model = solver.model()
        for choice in self.choices[:depth]:
            # Lower this step's action while a path with a smaller one exists, then fix it.
            while True:
                current = int(model.eval(choice, model_completion=True).as_long())
                if current == 0 or solver.check(z3.ULT(choice, current)) != z3.sat:
                    solver.add(choice == current)
                    break
                model = solver.model()
        states = [value(s, model) for s in self.states[: depth + 1]]
        steps = [
            self.names[int(model.eval(c, model_completion=True).as_long())]
            for c in self.choices[:depth]
        ]
        return states, steps


#: The default BMC bound.
DEFAULT_DEPTH: Final = 10

#: Columns every rendered trace keeps, even when they do not change.
ALWAYS_SHOWN: Final = ("answered_wrong",)


def project(states: list[State]) -> list[State]:
    """project: keep the columns that change somewhere in ``states`` (and ``ALWAYS_SHOWN``),
    so that a trace of a 60-column machine reads as a short table."""
    if not states:
        return states
    keep = [
        name
        for name in states[0]
        if name in ALWAYS_SHOWN or any(s[name] != states[0][name] for s in states)
    ]
    return [{name: s[name] for name in keep} for s in states]


def _trace(
    config: FleetConfig, found: tuple[list[State], list[str]], violated: str | None
) -> Trace:
    states, steps = found
    return Trace(
        project(states),
        steps,
        violated,
        config.limit,
        f"n={config.replicas}, q={config.quorum}; columns that never change are not shown",
    )


def bmc(
    config: FleetConfig,
    invariant: str,
    max_depth: int = DEFAULT_DEPTH,
    unrolling: Unrolling | None = None,
) -> BmcResult:
    """bmc: search depth 0, 1, … ``max_depth`` for a state breaking ``invariant`` (``"I3"``
    or ``"I6"``); the first found is a shortest counterexample."""
    machine = Unrolling(config) if unrolling is None else unrolling
    started = time.perf_counter()
    found = machine.shortest(GOALS[invariant], max_depth)
    seconds = time.perf_counter() - started
    name = PROPERTIES[invariant]
    if found is None:
        return BmcResult(name, max_depth, max_depth, seconds)
    trace = _trace(config, found, name)
    return BmcResult(name, max_depth, trace.length, seconds, trace)


#: Sanity queries: a machine that can do nothing satisfies every safety property.
SANITY: Final[tuple[tuple[str, Callable[[FleetConfig, SymState], BoolTerm]], ...]] = (
    ("wrong guess answered", lambda c, s: s["answered_wrong"] >= 1),
    ("record destroyed", lambda c, s: s["destroyed"]),
    ("leader changed", lambda c, s: s["ballot"] >= 2),
    (
        "answered after a leader change",
        lambda c, s: z3.Or(*(s[f"ackb[s{t}]"] >= 2 for t in range(c.slots))),
    ),
    # The channel: a request in two slots was answered in both, and something was refused
    # as stale (on the safe fleet, necessarily the replay).
    (
        "replay answered stale",
        lambda c, s: z3.And(
            s["stale"] >= 1,
            z3.Or(
                False,
                *(
                    z3.And(s[f"ack[s{t}]"] != 0, s[f"ack[s{t}]"] == s[f"ack[s{u}]"])
                    for t in range(c.slots)
                    for u in range(t + 1, c.slots)
                ),
            ),
        ),
    ),
    # The disk adversary: a replica's store was refused and it has rejoined (re-learned
    # every slot below its vote ceiling); the safe fleet's amnesia is not vacuous.
    (
        "amnesiac replica rejoined",
        lambda c, s: z3.Or(
            False,
            *(
                z3.And(s[f"rejoin[{_r(i)}]"] >= 1, z3.Not(_learner(c, s, i)))
                for i in range(c.replicas)
            ),
        ),
    ),
)


def sanity(
    config: FleetConfig, max_depth: int = DEFAULT_DEPTH, unrolling: Unrolling | None = None
) -> list[Reachability]:
    """sanity: can the fleet answer a wrong guess, destroy the record, change leader,
    answer a guess under a new leader, and refuse a replayed request as stale?"""
    machine = Unrolling(config) if unrolling is None else unrolling
    out: list[Reachability] = []
    for name, goal in SANITY:
        started = time.perf_counter()
        found = machine.shortest(goal, max_depth)
        seconds = time.perf_counter() - started
        witness = None if found is None else _trace(config, found, None)
        out.append(Reachability(name, witness is not None, max_depth, seconds, witness))
    return out


# ---------------------------------------------------------------------------------------
# (b) The parametric abstraction of the fleet, for every n, q, r and limit


#: The abstract state's variables, in the order traces print them (parameters first).
PARAMETERS: Final = ("n", "q", "r", "limit")
ABSTRACT: Final = ("attempts", "pending", "answered_wrong", "released", "holders", "rolled")
#: The channel's abstract variable, kept apart from ``ABSTRACT`` so that an ``Abstract``
#: built from ``ABSTRACT``'s values alone (it defaults to 0) still means what it did.
CHANNEL_ABSTRACT: Final = ("charged_twice",)


@dataclass(frozen=True)
class Abstract:
    """Abstract: the counting abstraction of the fleet, as Z3 integers.

    ``attempts``: the record's attempts as the serving leader applies the chosen log (a
    charge at the limit is refused, so this never passes it); ``pending``: chosen charges
    that took effect and whose answer has not been given; ``answered_wrong`` and
    ``released``: comparisons answered; ``holders``: the fewest replicas never rolled back
    that hold a committed (chosen or acknowledged) command or are learners re-learning it
    (``n`` while there is none);
    ``rolled``: the distinct replicas rolled back so far; ``charged_twice``: the honest
    requests the state machine charged a second time (a replay charged again).
    """

    attempts: IntTerm
    pending: IntTerm
    answered_wrong: IntTerm
    released: IntTerm
    holders: IntTerm
    rolled: IntTerm
    charged_twice: IntTerm = field(default_factory=lambda: z3.IntVal(0))

    @staticmethod
    def fresh(prefix: str) -> Abstract:
        return Abstract(*(z3.Int(f"{prefix}.{name}") for name in (*ABSTRACT, *CHANNEL_ABSTRACT)))

    def get(self, name: str) -> IntTerm:
        return getattr(self, name)


@dataclass(frozen=True)
class Params:
    """Params: the fleet's size, quorum, rollback budget and attempt limit as Z3 integers."""

    n: IntTerm
    q: IntTerm
    r: IntTerm
    limit: IntTerm

    @staticmethod
    def fresh() -> Params:
        return Params(*(z3.Int(name) for name in PARAMETERS))

    def assumptions(self, variant: str | None) -> list[BoolTerm]:
        """The configurations the proof is about: ``2q > n + r`` for the fleet, and the
        minority configurations ``2q <= n`` (no rollback) for ``minority-quorum``."""
        base = [self.n >= 1, self.q >= 1, self.q <= self.n, self.r >= 0, self.limit >= 1]
        if variant == "minority-quorum":
            return [*base, 2 * self.q <= self.n, self.r == 0]
        return [*base, 2 * self.q > self.n + self.r]


def abstract_init(p: Params, s: Abstract) -> BoolTerm:
    """Init: nothing charged, answered, committed or rolled back; nothing charged twice."""
    return z3.And(
        s.attempts == 0,
        s.pending == 0,
        s.answered_wrong == 0,
        s.released == 0,
        s.holders == p.n,
        s.rolled == 0,
        s.charged_twice == 0,
    )


def _same(pre: Abstract, post: Abstract, *except_: str) -> list[BoolTerm]:
    return [post.get(k) == pre.get(k) for k in (*ABSTRACT, *CHANNEL_ABSTRACT) if k not in except_]


#: The abstract actions, in the order obligations are reported.
ABSTRACT_ACTIONS: Final = (
    "choose_charge",
    "answer_wrong",
    "answer_right",
    "leader_change",
    "restart",
    "rollback",
    "catch_up",
    "replay",
    "amnesia",
    "edit",
)


def abstract_step(
    variant: str | None,
    action: str,
    p: Params,
    pre: Abstract,
    post: Abstract,
    *,
    rejoin: bool = True,
) -> BoolTerm:
    """abstract_step: the relation ``T_action(pre, post)`` of the counting abstraction;
    ``variant`` changes exactly the step it breaks (see ``docs/i3-fleet.rst``);
    ``rejoin=False`` is the weakened safe fleet whose amnesiac replica is counted at once.

    ``holders`` counts, for the disk adversary, the learners too: a replica whose store
    was refused forgets its votes and is counted in no quorum until it has re-learned
    every slot below its vote ceiling, each the command chosen there."""
    if action == "choose_charge":
        # A charge is chosen: q replicas accepted it at one ballot, at most ``rolled`` of
        # them ever rolled back. Applied at the limit, it is refused.
        took = pre.attempts < p.limit
        return z3.And(
            post.attempts == z3.If(took, pre.attempts + 1, pre.attempts),
            post.pending == z3.If(took, pre.pending + 1, pre.pending),
            post.holders <= pre.holders,
            z3.Or(post.holders == pre.holders, post.holders >= p.q - pre.rolled),
            *_same(pre, post, "attempts", "pending", "holders"),
        )
    if action in ("answer_wrong", "answer_right"):
        counter = "answered_wrong" if action == "answer_wrong" else "released"
        if variant == "answer-before-chosen":
            # The answered charge is in the leader's log only: not chosen, one holder.
            return z3.And(
                post.get(counter) == pre.get(counter) + 1,
                post.holders <= pre.holders,
                z3.Or(post.holders == pre.holders, post.holders >= 1),
                *_same(pre, post, counter, "holders"),
            )
        # Only a chosen charge, applied after the whole chosen prefix, is answered.
        return z3.And(
            pre.pending >= 1,
            post.pending == pre.pending - 1,
            post.get(counter) == pre.get(counter) + 1,
            *_same(pre, post, "pending", counter),
        )
    if action == "leader_change":
        # The new leader's quorum meets a holder of every committed command when
        # holders + q > n; it adopts them all, and the clients of the old leader may be
        # left without an answer. Otherwise (or when it serves before catching up) the
        # log it applies may miss chosen charges.
        sees_all = pre.holders + p.q > p.n
        if variant == "serve-before-catch-up":
            sees_all = z3.BoolVal(False)
        return z3.And(
            z3.Or(
                post.attempts == pre.attempts,
                z3.And(z3.Not(sees_all), post.attempts >= 0, post.attempts <= pre.attempts),
            ),
            post.pending >= 0,
            post.pending <= pre.pending,
            *_same(pre, post, "attempts", "pending"),
        )
    if action == "restart":
        if variant == "forget-promise-on-restart":
            # The forgotten promise lets an old ballot overwrite one copy of a command.
            return z3.And(
                z3.Or(post.holders == pre.holders, post.holders == pre.holders - 1),
                *_same(pre, post, "holders"),
            )
        return z3.And(*_same(pre, post))
    if action == "rollback":
        # One more distinct replica loses its log, undetected: within budget r, one more
        # under rollback-beyond-budget, any number under rollback-undetected.
        budget = p.r + 1 if variant == "rollback-beyond-budget" else p.r
        return z3.And(
            z3.BoolVal(True) if variant == "rollback-undetected" else pre.rolled + 1 <= budget,
            post.rolled == pre.rolled + 1,
            z3.Or(post.holders == pre.holders, post.holders == pre.holders - 1),
            *_same(pre, post, "rolled", "holders"),
        )
    if action == "catch_up":
        # A replica never rolled back accepts a committed command it lacked.
        return z3.And(
            post.holders >= pre.holders,
            post.holders <= p.n - pre.rolled,
            *_same(pre, post, "holders"),
        )
    if action == "replay":
        # The channel: a captured request (the honest client's or the adversary's) is
        # proposed again and chosen. Its first charge used the version it names and moved
        # the record past it, and the record's version only grows, so that version is
        # below ``attempts``: the compare-and-swap refuses it (Stale, nothing charged).
        # An injected request of the adversary's own is a ``choose_charge`` (it names the
        # current version) or this refusal (any other).
        if variant == "replayable-guess":
            took = pre.attempts < p.limit
            return z3.And(
                pre.attempts >= 1,
                post.attempts == z3.If(took, pre.attempts + 1, pre.attempts),
                post.pending == z3.If(took, pre.pending + 1, pre.pending),
                post.charged_twice == z3.If(took, pre.charged_twice + 1, pre.charged_twice),
                *_same(pre, post, "attempts", "pending", "charged_twice"),
            )
        return z3.And(pre.attempts >= 1, *_same(pre, post))
    if action == "edit" and variant == "unauthenticated-ballots":
        # An undetected edit (a vote's ballot changed or its row deleted, or the promise
        # lowered): the replica keeps being counted and one copy is gone.
        return z3.And(
            z3.Or(post.holders == pre.holders, post.holders == pre.holders - 1),
            *_same(pre, post, "holders"),
        )
    if action in ("amnesia", "edit"):
        # A detected rollback or edit: the replica forgets its votes and rejoins as a
        # learner, counted as keeping every command it held until it re-learns it (it is
        # in no quorum before); a learner of a command it never held is counted too.
        if variant in UNDETECTED:
            return z3.BoolVal(False)  # no store check: there is no amnesia
        if not rejoin:
            # Weakened: the amnesiac replica is counted at once, holding nothing.
            return z3.And(
                z3.Or(post.holders == pre.holders, post.holders == pre.holders - 1),
                *_same(pre, post, "holders"),
            )
        return z3.And(
            post.holders >= pre.holders,
            post.holders <= p.n - pre.rolled,
            *_same(pre, post, "holders"),
        )
    raise ValueError(f"unknown abstract action {action!r}; known: {', '.join(ABSTRACT_ACTIONS)}")


# [fleet-invariant-start]
#: The conjuncts of Inv for the fleet, each with the text reports print.
FLEET_INVARIANT: Final[tuple[tuple[str, Callable[[Params, Abstract], BoolTerm]], ...]] = (
    (
        "0 <= answered_wrong, released, pending",
        lambda p, s: z3.And(s.answered_wrong >= 0, s.released >= 0, s.pending >= 0),
    ),
    # Charge before check, through the log: every comparison answered or awaited is a
    # chosen charge that took effect.
    (
        "answered_wrong + released + pending <= attempts",
        lambda p, s: s.answered_wrong + s.released + s.pending <= s.attempts,
    ),
    # The state machine refuses a charge at the limit.
    ("attempts <= limit", lambda p, s: s.attempts <= p.limit),
    # Rollback within budget.
    ("0 <= rolled <= r", lambda p, s: z3.And(s.rolled >= 0, s.rolled <= p.r)),
    # A committed command keeps the copies of its quorum that were never rolled back.
    ("holders >= q - rolled", lambda p, s: s.holders >= p.q - s.rolled),
    # The compare-and-swap: a version is single-use, so no request is charged twice.
    ("charged_twice = 0", lambda p, s: s.charged_twice == 0),
)
# [fleet-invariant-end]


def fleet_invariant(p: Params, s: Abstract) -> BoolTerm:
    """Inv: the conjunction of ``FLEET_INVARIANT``."""
    return z3.And(*(conjunct(p, s) for _, conjunct in FLEET_INVARIANT))


#: The two properties of the abstraction: I3 and I6.
FLEET_PROPERTIES: Final[Mapping[str, Callable[[Params, Abstract], BoolTerm]]] = {
    "I3": lambda p, s: z3.And(s.answered_wrong <= p.limit, s.charged_twice == 0),
    "I6": lambda p, s: s.holders >= p.n - p.q + 1,
}


def _abstract_value(p: Params, s: Abstract, model: z3.ModelRef) -> State:
    out: State = {}
    for name in PARAMETERS:
        out[name] = int(model.eval(getattr(p, name), model_completion=True).as_long())
    for name in (*ABSTRACT, *CHANNEL_ABSTRACT):
        out[name] = int(model.eval(s.get(name), model_completion=True).as_long())
    return out


def _broken(p: Params, s: Abstract, model: z3.ModelRef) -> tuple[str, ...]:
    return tuple(
        name
        for name, conjunct in FLEET_INVARIANT
        if z3.is_false(model.eval(conjunct(p, s), model_completion=True))
    )


def prove_fleet(variant: str | None = None, *, rejoin: bool = True) -> list[Obligation]:
    """prove_fleet: ``IndInit``, ``IndNext[a]`` per abstract action, ``IndProp[I3]`` and
    ``IndProp[I6]``, for every ``n``, ``q``, ``r``, ``limit`` the variant's assumptions
    allow (``2q > n + r``; ``2q <= n`` under ``minority-quorum``); ``rejoin=False`` is the
    weakened fleet without the rejoin rule."""
    solver = z3.Solver()
    p = Params.fresh()
    solver.add(*p.assumptions(variant))
    pre, post = Abstract.fresh("pre"), Abstract.fresh("post")
    note = "the first state satisfies Inv; it need not be reachable"

    def discharge(
        name: str, negated: BoolTerm, trace: Callable[[z3.ModelRef], Trace], after: Abstract
    ) -> Obligation:
        started = time.perf_counter()
        solver.push()
        solver.add(negated)
        answer = solver.check()
        model = solver.model() if answer == z3.sat else None
        solver.pop()
        seconds = time.perf_counter() - started
        if answer == z3.unsat:
            return Obligation(name, "PASS", seconds)
        if model is None:  # unknown: not expected for this linear, quantifier-free query
            raise RuntimeError(f"{name}: z3 answered {answer}")
        return Obligation(name, "FAIL", seconds, trace(model), _broken(p, after, model))

    def one(m: z3.ModelRef, violated: str) -> Trace:
        limit = int(m.eval(p.limit, model_completion=True).as_long())
        return Trace([_abstract_value(p, pre, m)], [], violated, limit)

    results = [
        discharge(
            "IndInit",
            z3.And(abstract_init(p, pre), z3.Not(fleet_invariant(p, pre))),
            lambda m: one(m, INVARIANT_NAME),
            pre,
        )
    ]
    for action in ABSTRACT_ACTIONS:

        def pair(m: z3.ModelRef, action: str = action) -> Trace:
            limit = int(m.eval(p.limit, model_completion=True).as_long())
            states = [_abstract_value(p, pre, m), _abstract_value(p, post, m)]
            return Trace(states, [action], INVARIANT_NAME, limit, note)

        results.append(
            discharge(
                f"IndNext[{action}]",
                z3.And(
                    fleet_invariant(p, pre),
                    abstract_step(variant, action, p, pre, post, rejoin=rejoin),
                    z3.Not(fleet_invariant(p, post)),
                ),
                pair,
                post,
            )
        )
    for invariant, prop in FLEET_PROPERTIES.items():

        def single(m: z3.ModelRef, violated: str = PROPERTIES[invariant]) -> Trace:
            return one(m, violated)

        results.append(
            discharge(
                f"IndProp[{invariant}]",
                z3.And(fleet_invariant(p, pre), z3.Not(prop(p, pre))),
                single,
                pre,
            )
        )
    return results


def fleet_outline(variant: str | None = None) -> Outline:
    """The parametric proof's outline: assumptions and the conjuncts of Inv."""
    params = (
        "2q <= n, r = 0 (minority-quorum)"
        if variant == "minority-quorum"
        else "1 <= q <= n, r >= 0, 2q > n + r, limit >= 1 (all Z3 integers)"
    )
    return Outline(
        [
            params,
            "Init: nothing charged, answered, committed or rolled back; holders = n",
            "the channel: a replayed request names a version below attempts (its first "
            "charge moved the record past it); injected requests are charges or refusals",
            f"actions: {', '.join(ABSTRACT_ACTIONS)}",
            "a new leader whose quorum meets a holder of every committed command adopts "
            "them (quorum intersection, I2)",
            "the disk adversary: a detected rollback or edit (amnesia, unbounded) makes a "
            "learner, counted in no quorum until it re-learns its slots; holders counts it",
        ],
        [name for name, _ in FLEET_INVARIANT],
    )


# ---------------------------------------------------------------------------------------
# The whole check

Verdict = Literal["holds", "violated", "unproved"]

#: The BMC bounds per invariant: past every variant's shortest counterexample (9 and 7
#: steps) with one step to spare. I6 is the costlier query (it is Paxos safety).
DEPTHS: Final[Mapping[str, int]] = {"I3": 10, "I6": 8}

#: The depth of the sanity queries on the safe fleet.
SANITY_DEPTH: Final = 6


@dataclass(frozen=True)
class FleetReport:
    """FleetReport: I3 and I6 on the fleet for one configuration (safe or one variant).

    ``obligations`` are the parametric ones; ``bmc`` maps ``"I3"``/``"I6"`` to the bounded
    search on the concrete instance ``config``; ``sanity`` is run on the safe fleet only.
    ``verdict`` is ``"violated"`` when the BMC found a counterexample, ``"holds"`` when
    every obligation passed, and ``"unproved"`` otherwise.
    """

    config: FleetConfig
    outline: Outline
    obligations: list[Obligation]
    bmc: dict[str, BmcResult]
    sanity: list[Reachability]

    @property
    def variant(self) -> str | None:
        return self.config.variant

    @property
    def proved(self) -> bool:
        return all(o.status == "PASS" for o in self.obligations)

    @property
    def failing(self) -> tuple[str, ...]:
        """The invariants (``"I3"``, ``"I6"``) the BMC found violated."""
        return tuple(k for k, r in self.bmc.items() if r.violated)

    @property
    def holding(self) -> tuple[str, ...]:
        """The invariants with no counterexample up to the BMC bound."""
        return tuple(k for k, r in self.bmc.items() if not r.violated)

    @property
    def verdict(self) -> Verdict:
        if self.failing:
            return "violated"
        return "holds" if self.proved else "unproved"

    @property
    def seconds(self) -> float:
        return (
            sum(o.seconds for o in self.obligations)
            + sum(r.seconds for r in self.bmc.values())
            + sum(r.seconds for r in self.sanity)
        )

    def render(self) -> str:
        c = self.config
        name = c.variant or "safe"
        lines = [
            f"I3/I6 on the fleet — {name}, n={c.replicas}, q={c.quorum}, limit {c.limit}, "
            f"rollback budget r={c.rollback_budget}"
        ]
        if c.variant is not None:
            lines.append(f"  variant: {any_fleet_variant(c.variant).breaks}")
        lines.extend(self.outline.render().splitlines())
        lines.append("inductive obligations (every n, q, r, limit):")
        lines.extend("  " + row for o in self.obligations for row in o.render().splitlines())
        for result in self.bmc.values():
            lines.extend(result.render().splitlines())
        lines.extend(r.render() for r in self.sanity)
        summary = ", ".join(
            f"{k} {'violated' if r.violated else 'holds'}" for k, r in self.bmc.items()
        )
        lines.append(f"verdict: {self.verdict} ({summary}; {self.seconds * 1000:.0f} ms)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        c = self.config
        return {
            "invariants": [PROPERTIES[k] for k in self.bmc],
            "variant": c.variant,
            "replicas": c.replicas,
            "quorum": c.quorum,
            "limit": c.limit,
            "rollback_budget": c.rollback_budget,
            "verdict": self.verdict,
            "failing": list(self.failing),
            "holding": list(self.holding),
            "seconds": self.seconds,
            "outline": self.outline.to_json(),
            "obligations": [o.to_json() for o in self.obligations],
            "bmc": {k: r.to_json() for k, r in self.bmc.items()},
            "sanity": [r.to_json() for r in self.sanity],
        }


def check_fleet(variant: str | None = None, config: FleetConfig | None = None) -> FleetReport:
    """check_fleet: prove I3 and I6 for the fleet (parametric obligations) and search the
    concrete instance for their shortest violations (BMC, depths ``DEPTHS``).

    ``config`` defaults to :meth:`model.fleet.FleetConfig.for_variant` (n = 3; limit 2
    for the safe fleet and ``replayable-guess``, 1 for the others).
    """
    if variant is not None and variant not in ALL_FLEET_VARIANT_NAMES:
        raise KeyError(variant)
    chosen_config = FleetConfig.for_variant(variant) if config is None else config
    obligations = prove_fleet(chosen_config.variant, rejoin=chosen_config.rejoin)
    machine = Unrolling(chosen_config)
    results = {k: bmc(chosen_config, k, DEPTHS[k], machine) for k in ("I3", "I6")}
    queries = sanity(chosen_config, SANITY_DEPTH, machine) if variant is None else []
    return FleetReport(
        chosen_config, fleet_outline(chosen_config.variant), obligations, results, queries
    )


def check_all_fleet() -> list[FleetReport]:
    """check_all_fleet: :func:`check_fleet` on the safe fleet and every unsafe variant of
    ``model.variants``, in the catalogue's order, then the channel's
    (:data:`model.fleet.ALL_FLEET_VARIANT_NAMES`)."""
    return [check_fleet(None), *(check_fleet(v) for v in ALL_FLEET_VARIANT_NAMES)]
