"""model.budget: one password's guess budget across registrations and fleet migrations (I5).

The vault enforces the attempt limit *per registration* (I3): a record allows ``limit``
wrong guesses and is destroyed at the limit; a right guess does not give attempts back.
A new fleet (a new epoch) holds new records, so moving a user's record to it starts a
fresh registration with a fresh budget. I5 ``guess-budget`` asks that this never refill
the budget an attacker is using against one password: the wrong guesses answered against
the password since the user last proved it stay within one budget, across every fleet and
every registration, whatever the operator replays or injects on the channel.

The rules that keep it:

- (``system.md``, "Rotation") the client migrates its record to the newest fleet only
  *right after the user proved the password* (no guess answered since), and the old fleet
  retires the migrated record. The unsafe variant ``migrate-on-server-request``
  (catalogued in :data:`model.bundles.BUNDLE_VARIANTS`) lets the server trigger the
  migration at any time: each fleet then gives the attacker a fresh budget, the
  re-registration amplification Davies et al. (CRYPTO 2023) point out.
- (``docs/channel.rst``, rules 1, 3 and 4) every registration names the version
  ``(registration, attempts)`` it was made for and applies only at that version
  (compare-and-swap); a live record is replaced only with a proof of its secret; destroyed
  and retired records stay as tombstones that keep their registration number. A replayed
  enrolment names a version its own first application moved past, so it never applies
  again. The unsafe variant ``replayable-registration`` (:data:`BUDGET_CHANNEL_VARIANTS`)
  lets a registration replace the record whatever version it names and without a proof:
  the replayed enrolment re-creates the password's record with a fresh budget, over a
  destroyed record or over the retired record of an older fleet.

What is modelled
    One user, one password, fleets ``1 .. fleets`` deployed in order; ``latest`` is the
    newest deployed fleet, ``fleet`` the one the user's client is on. The record on
    ``fleet``: ``reg`` its registration number, ``attempts`` its charged attempts,
    ``destroyed`` whether it is a tombstone, ``mine`` whether it is the password's (and
    not a record the adversary registered with a secret of its own), ``proved`` whether
    the last event on it was the user proving the password; ``enrol`` is the registration
    number the user's captured enrolment on ``fleet`` named (its version is
    ``(enrol, 0)``). The most recently retired fleet: ``retired_reg`` its tombstone's
    registration number, ``retired_enrol`` what the user's enrolment there named,
    ``old_live`` whether a password record lives there again (only a replay under the
    variant brings one back) and ``old_attempts`` its attempts. ``squat``: the adversary
    holds a record of its own for the user on the newest fleet, where the client would
    migrate (it then cannot: availability, out of scope). Ghost: ``wrong`` counts the
    wrong guesses answered against the password since the user last proved it, on any
    fleet; ``wrong_total`` counts them all; ``refused`` counts the replayed enrolments the
    vault refused.

The adversary (``system.md``, "The adversary"; ``docs/channel.rst``)
    The operator relays every request. It keeps the user's sealed enrolments and replays
    them at the fleet each was sealed to (``replay_enrolment`` at the user's fleet,
    ``replay_retired`` at the retired one; sealed to one fleet's key, a request does not
    open at another, so those are its only targets); it registers records of its own for
    the user's id at any fleet (``register_own``, ``register_own_newest``,
    ``register_own_retired``): its secret is not the password, so guesses against such a
    record are not guesses against the password and no budget counts them; it makes wrong
    guesses of its own at any fleet (``guess_wrong`` at the user's fleet, whoever's the
    record there is; ``guess_wrong_retired`` against a record revived on the retired
    fleet; ``guess_elsewhere`` where no live record of the password is, which changes
    nothing modelled) and sends ``BeginRecovery`` for anyone (``begin_recovery``:
    challenges are derived from the version, so it changes nothing). It cannot open or
    alter a sealed request, nor make a proof of a secret it does not hold: a sealed
    request is an opaque value that only its maker could have built, which is why a
    replay names exactly the version its original named.

What is abstracted
    A guess is right or wrong (the attacker's guesses are wrong, the user's right); the
    vault's own rules are :mod:`model.vault`'s (charge before check, destroy at the limit,
    the compare-and-swap on guesses), taken as proved by I3 (``proofs/vault_i3.py``,
    ``proofs/fleet_vault.py``) and collapsed into one step per guess. Of the retired
    fleets only the most recent one is tracked: an older one is the same story (a
    tombstone whose registration number is above what the user's enrolment there
    named). Under ``replayable-registration`` a replay at the retired fleet revives one
    record there with a fresh budget (a second revival resets the same counters), which
    is fewer behaviours than the variant has and enough to break I5.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal, get_args

from model.vault import Violation

I5_NAME: Final = "guess-budget"

#: The unsafe variant of the migration rule (catalogued in ``model.bundles``).
BUDGET_VARIANT_NAMES: Final = ("migrate-on-server-request",)


@dataclass(frozen=True)
class BudgetVariant:
    """One unsafe variant of this slice that no catalogue lists yet."""

    name: str
    breaks: str
    invariant: str


#: The channel's unsafe variants of this slice. They belong in a catalogue
#: (``model.bundles.BUNDLE_VARIANTS``, invariant ``"I5"``); until they are there, this
#: module keeps them.
BUDGET_CHANNEL_VARIANTS: Final = (
    BudgetVariant(
        "replayable-registration",
        "a registration replaces the record whatever version it names, with no proof: a "
        "replayed enrolment re-creates the password's record with a fresh budget, over a "
        "destroyed record or the retired record of an older fleet",
        "I5",
    ),
)

BUDGET_CHANNEL_VARIANT_NAMES: Final = tuple(v.name for v in BUDGET_CHANNEL_VARIANTS)

#: Every variant this slice knows.
ALL_BUDGET_VARIANT_NAMES: Final = (
    *BUDGET_VARIANT_NAMES,
    *(v for v in BUDGET_CHANNEL_VARIANT_NAMES if v not in BUDGET_VARIANT_NAMES),
)

#: The actions, in the order traces and obligations name them: the user's and the
#: deployer's first, then the channel adversary's.
BudgetAction = Literal[
    "deploy",
    "guess_wrong",
    "prove",
    "migrate",
    "begin_recovery",
    "guess_elsewhere",
    "replay_enrolment",
    "replay_retired",
    "register_own",
    "register_own_newest",
    "register_own_retired",
    "guess_wrong_retired",
]
BUDGET_ACTIONS: Final[tuple[BudgetAction, ...]] = get_args(BudgetAction)

#: The adversary's actions on the channel (a suffix of ``BUDGET_ACTIONS``).
CHANNEL_ACTIONS: Final[tuple[BudgetAction, ...]] = BUDGET_ACTIONS[4:]


@dataclass(frozen=True)
class BudgetConfig:
    """BudgetConfig: the attempt limit, the number of fleets, and the variant."""

    limit: int = 10
    fleets: int = 2
    variant: str | None = None

    def __post_init__(self) -> None:
        if self.limit < 1 or self.fleets < 1:
            raise ValueError("limit and fleets must be at least 1")
        if self.variant is not None and self.variant not in ALL_BUDGET_VARIANT_NAMES:
            raise KeyError(self.variant)


@dataclass(frozen=True)
class BudgetState:
    """BudgetState: see the module docstring for each field."""

    latest: int = 1
    fleet: int = 1
    attempts: int = 0
    destroyed: bool = False
    proved: bool = True
    wrong: int = 0
    wrong_total: int = 0
    mine: bool = True
    reg: int = 1
    enrol: int = 0
    retired_reg: int = 0
    retired_enrol: int = 0
    old_live: bool = False
    old_attempts: int = 0
    squat: bool = False
    refused: int = 0


def initial(config: BudgetConfig) -> BudgetState:
    """initial: the user just registered (proving the password) on fleet 1."""
    return BudgetState()


class Disabled(Exception):
    """The action's guard does not hold in this state."""


def step(state: BudgetState, action: BudgetAction, config: BudgetConfig) -> BudgetState:
    """step: the state after ``action`` (``Disabled`` if its guard does not hold).

    - ``deploy``: a new fleet is deployed (``latest + 1 <= fleets``), with no record;
    - ``guess_wrong``: the attacker's wrong guess against the live record on the user's
      fleet is charged and answered; the one that uses the last attempt destroys the
      record; it counts against the password only if the record is the password's;
    - ``prove``: the user's right guess is charged and answered (the record survives);
    - ``migrate``: the client moves the record to the newest fleet, a fresh registration
      (named for the empty fleet's version ``(0, 0)``), and the old one is retired; safe
      only right after ``prove``; under ``migrate-on-server-request`` at any time;
    - ``begin_recovery``, ``guess_elsewhere``: change nothing modelled;
    - ``replay_enrolment`` / ``replay_retired``: the user's captured enrolment replayed at
      the fleet it was sealed to; applied only at the version it names and, over a live
      record, never (it carries no proof): so refused; under ``replayable-registration``
      it re-creates the password's record with a fresh budget;
    - ``register_own`` / ``register_own_retired``: the adversary registers a secret of its
      own for the user's id at her fleet or the retired one, naming the current version:
      applied over a tombstone or its own record, refused over a live password record
      (no proof), except under ``replayable-registration``;
    - ``register_own_newest``: the same on the newest fleet, where the client has no
      record yet;
    - ``guess_wrong_retired``: a wrong guess against a password record revived on the
      retired fleet.
    """
    replayable = config.variant == "replayable-registration"
    if action == "deploy":
        if state.latest >= config.fleets:
            raise Disabled(action)
        return replace(state, latest=state.latest + 1, squat=False)
    if action == "guess_wrong":
        if state.destroyed or state.attempts >= config.limit:
            raise Disabled(action)
        attempts = state.attempts + 1
        counted = 1 if state.mine else 0
        return replace(
            state,
            attempts=attempts,
            destroyed=attempts >= config.limit,
            proved=False,
            wrong=state.wrong + counted,
            wrong_total=state.wrong_total + counted,
        )
    if action == "prove":
        if not state.mine or state.destroyed or state.attempts >= config.limit:
            raise Disabled(action)
        return replace(state, attempts=state.attempts + 1, proved=True, wrong=0)
    if action == "migrate":
        on_request = config.variant == "migrate-on-server-request"
        if (
            not state.mine
            or state.destroyed
            or state.fleet >= state.latest
            or state.squat
            or not (state.proved or on_request)
        ):
            raise Disabled(action)
        # The old fleet keeps a tombstone (its registration number stays); the new fleet's
        # record is registration 1, made by an enrolment named for the empty version.
        state = replace(state, retired_reg=state.reg, retired_enrol=state.enrol, reg=1, enrol=0)
        return replace(state, fleet=state.latest, attempts=0)
    if action in ("begin_recovery", "guess_elsewhere"):
        return state
    if action == "replay_enrolment":
        # Named version (enrol, 0), no proof: only over a tombstone at exactly that version.
        at_version = state.reg == state.enrol and state.attempts == 0
        tombstone = state.destroyed or not state.mine
        if replayable or (at_version and tombstone):
            return replace(
                state, reg=state.reg + 1, mine=True, attempts=0, destroyed=False, proved=False
            )
        return replace(state, refused=state.refused + 1)
    if action == "replay_retired":
        if state.fleet <= 1:
            raise Disabled(action)
        if replayable or (state.retired_reg == state.retired_enrol and not state.old_live):
            return replace(state, retired_reg=state.retired_reg + 1, old_live=True, old_attempts=0)
        return replace(state, refused=state.refused + 1)
    if action == "register_own":
        if replayable or state.destroyed or not state.mine:
            return replace(
                state, reg=state.reg + 1, mine=False, attempts=0, destroyed=False, proved=False
            )
        return state
    if action == "register_own_newest":
        if state.fleet >= state.latest:
            raise Disabled(action)
        return replace(state, squat=True)
    if action == "register_own_retired":
        if state.fleet <= 1:
            raise Disabled(action)
        if replayable or not state.old_live:
            return replace(state, retired_reg=state.retired_reg + 1, old_live=False, old_attempts=0)
        return state
    if action == "guess_wrong_retired":
        if not state.old_live or state.old_attempts >= config.limit:
            raise Disabled(action)
        return replace(
            state,
            old_attempts=state.old_attempts + 1,
            proved=False,
            wrong=state.wrong + 1,
            wrong_total=state.wrong_total + 1,
        )
    raise ValueError(f"unknown action {action!r}")


def check_i5(state: BudgetState, config: BudgetConfig) -> list[Violation]:
    """I5 ``guess-budget``: the wrong guesses answered against the password since the user
    last proved it are within one budget (``limit``), across every fleet."""
    if state.wrong > config.limit:
        return [
            Violation(
                "I5", "user", f"{state.wrong} wrong guesses answered, one budget is {config.limit}"
            )
        ]
    return []
