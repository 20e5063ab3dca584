"""model.budget: one password's guess budget across registrations and fleet migrations (I5).

The vault enforces the attempt limit *per registration* (I3): a record allows ``limit``
wrong guesses and is destroyed at the limit; a right guess does not give attempts back.
A new fleet (a new epoch) holds new records, so moving a user's record to it starts a
fresh registration with a fresh budget. I5 ``guess-budget`` asks that this never refill
the budget an attacker is using against one password: the wrong guesses answered against
the password since the user last proved it stay within one budget, across every fleet.

The rule that keeps it (``system.md``, "Rotation"): the client migrates its record to the
newest fleet only *right after the user proved the password* (no guess answered since),
and the old fleet deletes the migrated record. The unsafe variant
``migrate-on-server-request`` (catalogued in :data:`model.bundles.BUNDLE_VARIANTS`) lets
the server trigger the migration at any time: each fleet then gives the attacker a fresh
budget, the re-registration amplification Davies et al. (CRYPTO 2023) point out.

What is modelled
    One user, one password, fleets ``1 .. fleets`` deployed in order; ``latest`` is the
    newest deployed fleet, ``fleet`` the one holding the user's record, ``attempts`` that
    record's charged attempts, ``destroyed`` whether it is gone, ``proved`` whether the
    last event on the record was the user proving the password. Ghost: ``wrong`` counts
    the wrong guesses answered against the password since the user last proved it, on any
    fleet; ``wrong_total`` counts them all.

What is abstracted
    A guess is right or wrong (the attacker's guesses are wrong, the user's right); the
    vault's own rules are :mod:`model.vault`'s (charge before check, destroy at the limit),
    taken as proved by I3 and collapsed into one step per guess.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal

from model.vault import Violation

I5_NAME: Final = "guess-budget"

#: The one unsafe variant of this slice.
BUDGET_VARIANT_NAMES: Final = ("migrate-on-server-request",)

#: The actions, in the order traces and obligations name them.
BudgetAction = Literal["deploy", "guess_wrong", "prove", "migrate"]
BUDGET_ACTIONS: Final[tuple[BudgetAction, ...]] = ("deploy", "guess_wrong", "prove", "migrate")


@dataclass(frozen=True)
class BudgetConfig:
    """BudgetConfig: the attempt limit, the number of fleets, and the variant."""

    limit: int = 10
    fleets: int = 2
    variant: str | None = None

    def __post_init__(self) -> None:
        if self.limit < 1 or self.fleets < 1:
            raise ValueError("limit and fleets must be at least 1")
        if self.variant is not None and self.variant not in BUDGET_VARIANT_NAMES:
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


def initial(config: BudgetConfig) -> BudgetState:
    """initial: the user just registered (proving the password) on fleet 1."""
    return BudgetState()


class Disabled(Exception):
    """The action's guard does not hold in this state."""


def step(state: BudgetState, action: BudgetAction, config: BudgetConfig) -> BudgetState:
    """step: the state after ``action`` (``Disabled`` if its guard does not hold).

    - ``deploy``: a new fleet is deployed (``latest + 1 <= fleets``);
    - ``guess_wrong``: the attacker's wrong guess against the live record is charged and
      answered; the one that uses the last attempt destroys the record;
    - ``prove``: the user's right guess is charged and answered (the record survives);
    - ``migrate``: the client moves the record to the newest fleet, a fresh registration;
      safe only right after ``prove``; under ``migrate-on-server-request`` at any time.
    """
    if action == "deploy":
        if state.latest >= config.fleets:
            raise Disabled(action)
        return replace(state, latest=state.latest + 1)
    if action == "guess_wrong":
        if state.destroyed or state.attempts >= config.limit:
            raise Disabled(action)
        attempts = state.attempts + 1
        return replace(
            state,
            attempts=attempts,
            destroyed=attempts >= config.limit,
            proved=False,
            wrong=state.wrong + 1,
            wrong_total=state.wrong_total + 1,
        )
    if action == "prove":
        if state.destroyed or state.attempts >= config.limit:
            raise Disabled(action)
        return replace(state, attempts=state.attempts + 1, proved=True, wrong=0)
    if action == "migrate":
        on_request = config.variant == "migrate-on-server-request"
        if state.destroyed or state.fleet >= state.latest or not (state.proved or on_request):
            raise Disabled(action)
        return replace(state, fleet=state.latest, attempts=0)
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
