"""model.variants: the unsafe variants of the fleet (``system.md``, "Unsafe knobs").

Each variant deliberately breaks one rule of the fleet so that the workbench can show which
invariant fails and which detector (Z3, the conformance machine, the simulator) catches
it. The vault's own variants (``check-before-charge``, ``no-destroy``,
``off-by-one-limit``) are in ``model.vault``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class FleetVariant:
    """One unsafe variant: its name, the rule it breaks, the invariants expected to fail."""

    name: str
    breaks: str
    fails: tuple[str, ...]


FLEET_VARIANTS: Final = (
    FleetVariant(
        "minority-quorum",
        "quorums of size q with 2q <= n: two quorums can miss each other",
        ("I2", "I3", "I6"),
    ),
    FleetVariant(
        "answer-before-chosen",
        "the leader answers a guess once it has accepted the charge itself, before a quorum has",
        ("I3", "I6"),
    ),
    FleetVariant(
        "serve-before-catch-up",
        "a replica that became leader answers from its own log before it has learned "
        "every slot chosen before its own",
        ("I3",),
    ),
    FleetVariant(
        "forget-promise-on-restart",
        "a restarted replica keeps its votes but forgets the ballot it promised",
        ("I2", "I3", "I6"),
    ),
    FleetVariant(
        "rollback-beyond-budget",
        "a replica does not detect an older store, and one more replica is rolled back "
        "than 2q > n + r tolerates (the bounded case of rollback-undetected)",
        ("I2", "I3", "I6"),
    ),
    FleetVariant(
        "rollback-undetected",
        "a replica does not detect that its store is older than the newest state it wrote, "
        "and serves from it: the operator rolls back any disk, any number of times",
        ("I2", "I3", "I6"),
    ),
    FleetVariant(
        "unauthenticated-ballots",
        "the store authenticates sealed commands and its version but not the ballots, the "
        "promise or the set of rows: an edited ballot or a deleted vote goes unnoticed",
        ("I2", "I3", "I6"),
    ),
)

FLEET_VARIANT_NAMES: Final = tuple(v.name for v in FLEET_VARIANTS)


def fleet_variant(name: str) -> FleetVariant:
    """fleet_variant: the catalogue entry called ``name`` (``KeyError`` if unknown)."""
    for variant in FLEET_VARIANTS:
        if variant.name == name:
            return variant
    raise KeyError(name)
