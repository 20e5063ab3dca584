"""model.bundles: fleet-key files, validation bundles and the witness's log, stated symbolically.

This is the reference semantics of I4 ``bundle-authenticity`` and I7 ``fleet-transparency``
that ``proofs/bundle_i4_i7.py`` unrolls with Z3. Nothing here is cryptography: a key is a
name, a digest is the file itself (SHA-256 is modelled as injective), and a signature is
a value ``Sig(signer, message)`` that exists only if the holder of the signer's key made
it. An honest party signs only what its rules allow; a *corrupted* party's key is the
attacker's, so it signs anything it knows of (Dolev-Yao, with perfect signatures).

What is modelled (a small finite instance: ``epochs`` epochs, two clients)
    Per epoch ``e`` three fleet-key files can exist, named by what made them:

    - ``C<e>``: the **ceremony's** file, keys generated inside HSMs running allowed
      firmware (so the vendor attests them), majority configuration. It exists once the
      key ceremony of epoch ``e`` has run (:class:`Ceremony`); ceremonies run in order.
    - ``R<e>``: a **rogue** file, keys the attacker generated outside any HSM, majority
      configuration. The attacker can always write it; the vendor attests its keys only
      if the vendor is corrupted (:class:`VendorAttest`).
    - ``Q<e>``: the ceremony's keys under a **minority** configuration (quorum 1), which
      a corrupted operator can write once the ceremony's keys exist.

    Every file carries its own epoch (the JSON's ``epoch`` field). A *witness statement*
    is ``(e, digest)``: Plexi's ``SignatureMessage`` with the epoch and digest that matter
    here. ``wsig[e][f]`` is the witness's signature on statement ``(e, digest(f))``;
    ``osig[e][f]`` the operator's counter-signature over that witness signature;
    ``ofile[f]`` the operator's signature over the digest of ``f`` alone (used only by the
    ``countersign-file-not-signature`` variant). The witness's log is ``logged[e]`` (the
    file logged at epoch ``e``, 0 if none) and ``last`` (its last epoch): Plexi's rules,
    epochs go up by one, digests are unique, nothing is republished.

    Exactly one of ``operator``, ``witness``, ``vendor`` is corrupted, or none
    (:attr:`BundleConfig.corrupted`). The network is always the attacker's: any bundle
    made of existing signatures and a known file can be shown to any client
    (:class:`Deliver`).

The witness's signing policy
    ``log-only`` (default): sign ``(e, f)`` iff ``e = last + 1`` and ``f`` is not in the
    log; ``vetting``: also every key of ``f`` is attested by the vendor with allowed
    firmware. A witness that signs, logs.

The client's acceptance predicate (:func:`accepts`)
    The digest in the statement is the file's; the file's epoch is the statement's; the
    witness signed the statement; the operator counter-signed that signature; the epoch
    is not below the highest the client accepted (no rollback); the configuration is a
    majority; and, with ``client-attestation`` on, the vendor attested every key with
    allowed firmware. Each unsafe variant of :data:`BUNDLE_VARIANTS` drops or changes one
    of these checks.

Ghost state (what the invariants speak of)
    ``accepted[c][e]``: the file client ``c`` last accepted for epoch ``e`` (0: none);
    ``rogue[c]``: ``c`` once accepted a file that is not the ceremony's file of the
    statement's epoch; ``rolled[c]``: ``c`` once accepted an epoch below one it had
    accepted before.

Invariants
    I4 ``bundle-authenticity`` (:func:`check_i4`): no ``rogue``, no ``rolled``.
    I7 ``fleet-transparency`` (:func:`check_i7`): every accepted file is the one the
    witness logged for that epoch, and no two clients accept different files for one
    epoch. I7 is claimed only with an honest witness.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Final, Literal, TypeVar

from model.vault import Violation

I4_NAME: Final = "bundle-authenticity"
I7_NAME: Final = "fleet-transparency"

#: The witness's signing policies.
Policy = Literal["log-only", "vetting"]
POLICIES: Final[tuple[Policy, ...]] = ("log-only", "vetting")

#: Who is corrupted: at most one party among operator, witness, vendor.
Party = Literal["none", "operator", "witness", "vendor"]
PARTIES: Final[tuple[Party, ...]] = ("none", "operator", "witness", "vendor")

#: The three kinds of file per epoch, in file-id order.
KINDS: Final = ("C", "R", "Q")
CEREMONY, ROGUE, MINORITY = 0, 1, 2

T = TypeVar("T")


# ---------------------------------------------------------------------------------------
# The catalogue of unsafe variants (I4, I7 and I5's migration rule)


@dataclass(frozen=True)
class BundleVariant:
    """One unsafe variant: its name, the rule it breaks, and the invariant it is about."""

    name: str
    breaks: str
    invariant: Literal["I4/I7", "I5"]


BUNDLE_VARIANTS: Final = (
    BundleVariant(
        "accept-one-signature",
        "the client accepts a bundle on the witness signature alone (no counter-signature)",
        "I4/I7",
    ),
    BundleVariant(
        "countersign-file-not-signature",
        "the operator counter-signs the file digest, not the witness signature, so the "
        "two signatures can be mixed and matched across statements",
        "I4/I7",
    ),
    BundleVariant(
        "no-epoch-check",
        "the client does not refuse an epoch below the highest it has accepted",
        "I4/I7",
    ),
    BundleVariant(
        "no-file-epoch-check",
        "the client does not compare the file's own epoch with the statement's",
        "I4/I7",
    ),
    BundleVariant(
        "no-digest-check",
        "the client does not check that the statement's digest is the file's",
        "I4/I7",
    ),
    BundleVariant(
        "skip-config-check",
        "the client accepts a consensus configuration whose quorum is not a majority",
        "I4/I7",
    ),
    BundleVariant(
        "no-client-attestation",
        "the client does not verify the vendor attestation of the keys (client-attestation off)",
        "I4/I7",
    ),
    BundleVariant(
        "migrate-on-server-request",
        "the client moves its record to a new fleet whenever the server asks, not only "
        "right after the user proved the password (see model.budget)",
        "I5",
    ),
)

#: The variants the bundle machine knows (I5's lives in ``model.budget``).
BUNDLE_VARIANT_NAMES: Final = tuple(v.name for v in BUNDLE_VARIANTS if v.invariant == "I4/I7")

#: Combinations of variants the checker also runs (``+`` joins rule names).
BUNDLE_COMBINATIONS: Final = ("countersign-file-not-signature+no-file-epoch-check",)


def bundle_variant(name: str) -> BundleVariant:
    """bundle_variant: the catalogue entry called ``name`` (``KeyError`` if unknown)."""
    for variant in BUNDLE_VARIANTS:
        if variant.name == name:
            return variant
    raise KeyError(name)


class UnknownBundleVariant(ValueError):
    """A variant name (or a ``+``-joined part of one) that is not in the catalogue."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown bundle variant {name!r}; known: {', '.join(BUNDLE_VARIANT_NAMES)}"
        )
        self.name = name


# ---------------------------------------------------------------------------------------
# Configuration and files


@dataclass(frozen=True)
class BundleConfig:
    """BundleConfig: one setting of the bundle machine.

    ``variant`` is ``None`` (the safe client) or one or more catalogue names joined by
    ``+``; ``policy`` is the witness's signing policy; ``client_attestation`` whether the
    client checks vendor attestations (forced off by ``no-client-attestation``);
    ``corrupted`` the one corrupted party, or ``"none"``.
    """

    variant: str | None = None
    policy: Policy = "log-only"
    client_attestation: bool = True
    corrupted: Party = "none"
    epochs: int = 2
    clients: int = 2

    def __post_init__(self) -> None:
        for rule in self.rules:
            if rule not in BUNDLE_VARIANT_NAMES:
                raise UnknownBundleVariant(rule)
        if self.policy not in POLICIES:
            raise ValueError(f"unknown witness policy {self.policy!r}")
        if self.corrupted not in PARTIES:
            raise ValueError(f"unknown party {self.corrupted!r}")
        if self.epochs < 1 or self.clients < 1:
            raise ValueError("at least one epoch and one client")

    @property
    def rules(self) -> frozenset[str]:
        """The variant's broken rules (empty for the safe client)."""
        return frozenset() if self.variant is None else frozenset(self.variant.split("+"))

    @property
    def checks_attestation(self) -> bool:
        """Whether the client verifies vendor attestations."""
        return self.client_attestation and "no-client-attestation" not in self.rules

    @property
    def files(self) -> int:
        """The number of file ids (``1 .. files``; 0 is "no file")."""
        return len(KINDS) * self.epochs


def file_id(epoch: int, kind: int) -> int:
    """file_id: the id of the file of ``kind`` (``CEREMONY``, ``ROGUE``, ``MINORITY``)
    for ``epoch`` (epochs and ids count from 1)."""
    return len(KINDS) * (epoch - 1) + kind + 1


def file_epoch(f: int) -> int:
    """file_epoch: the epoch written inside file ``f``."""
    return (f - 1) // len(KINDS) + 1


def file_kind(f: int) -> int:
    """file_kind: ``CEREMONY``, ``ROGUE`` or ``MINORITY``."""
    return (f - 1) % len(KINDS)


def file_name(f: int) -> str:
    """file_name: ``C1``, ``R1``, ``Q1``, ``C2`` …; ``-`` for 0."""
    return "-" if f == 0 else f"{KINDS[file_kind(f)]}{file_epoch(f)}"


def majority(f: int) -> bool:
    """majority: whether file ``f``'s consensus configuration has a majority quorum."""
    return file_kind(f) != MINORITY


# ---------------------------------------------------------------------------------------
# State


@dataclass(frozen=True)
class BundleState:
    """BundleState: signatures that exist, the witness's log, the clients' views.

    Tuples are indexed from 0: ``made[e - 1]``, ``wsig[e - 1][f - 1]``, ``high[c]``,
    ``accepted[c][e - 1]``.
    """

    made: tuple[bool, ...]
    vatt: tuple[bool, ...]
    last: int
    logged: tuple[int, ...]
    wsig: tuple[tuple[bool, ...], ...]
    osig: tuple[tuple[bool, ...], ...]
    ofile: tuple[bool, ...]
    high: tuple[int, ...]
    accepted: tuple[tuple[int, ...], ...]
    rogue: tuple[bool, ...]
    rolled: tuple[bool, ...]


def initial(config: BundleConfig) -> BundleState:
    """initial: no ceremony yet, nothing signed or logged, no client has accepted anything."""
    e, f, c = config.epochs, config.files, config.clients
    return BundleState(
        made=(False,) * e,
        vatt=(False,) * e,
        last=0,
        logged=(0,) * e,
        wsig=((False,) * f,) * e,
        osig=((False,) * f,) * e,
        ofile=(False,) * f,
        high=(0,) * c,
        accepted=((0,) * e,) * c,
        rogue=(False,) * c,
        rolled=(False,) * c,
    )


def _put(items: tuple[T, ...], index: int, value: T) -> tuple[T, ...]:
    return (*items[:index], value, *items[index + 1 :])


def _put2(rows: tuple[tuple[T, ...], ...], i: int, j: int, value: T) -> tuple[tuple[T, ...], ...]:
    return _put(rows, i, _put(rows[i], j, value))


def known(state: BundleState, f: int) -> bool:
    """known: the attacker has file ``f`` (a rogue file always; the others once the
    ceremony of their epoch made the keys they list)."""
    return file_kind(f) == ROGUE or state.made[file_epoch(f) - 1]


def attested(state: BundleState, f: int) -> bool:
    """attested: the vendor attested every key of ``f`` as made inside an HSM running
    allowed firmware (the ceremony's keys once made; rogue keys only if a corrupted vendor
    signed for them)."""
    if file_kind(f) == ROGUE:
        return state.vatt[file_epoch(f) - 1]
    return state.made[file_epoch(f) - 1]


def witness_signs(state: BundleState, config: BundleConfig, epoch: int, f: int) -> bool:
    """witness_signs: the witness's policy admits statement ``(epoch, digest(f))``."""
    fresh = f not in state.logged
    ok = epoch == state.last + 1 and fresh
    if config.policy == "vetting":
        ok = ok and attested(state, f)
    return ok


def accepts(
    state: BundleState, config: BundleConfig, client: int, epoch: int, digest: int, f: int
) -> bool:
    """accepts: client ``client`` accepts the bundle (statement ``(epoch, digest)``, the
    witness signature on it, the counter-signature, file ``f``)."""
    rules = config.rules
    if not known(state, f):
        return False
    if "no-digest-check" not in rules and f != digest:
        return False
    if "no-file-epoch-check" not in rules and file_epoch(f) != epoch:
        return False
    if not state.wsig[epoch - 1][digest - 1]:
        return False
    if "accept-one-signature" in rules:
        pass
    elif "countersign-file-not-signature" in rules:
        if not state.ofile[digest - 1]:
            return False
    elif not state.osig[epoch - 1][digest - 1]:
        return False
    if "no-epoch-check" not in rules and epoch < state.high[client]:
        return False
    if "skip-config-check" not in rules and not majority(f):
        return False
    return not (config.checks_attestation and not attested(state, f))


# ---------------------------------------------------------------------------------------
# Actions


class Disabled(Exception):
    """The action's guard does not hold in this state."""


@dataclass(frozen=True)
class Ceremony:
    """The key ceremony of ``epoch`` runs: HSMs make the keys, the file ``C<epoch>`` exists."""

    epoch: int

    @property
    def name(self) -> str:
        return f"ceremony({self.epoch})"


@dataclass(frozen=True)
class Submit:
    """The operator asks the witness to sign and log statement ``(epoch, digest(file))``.

    An honest operator submits only the ceremony's file of that epoch; a corrupted one,
    any file it knows. The witness signs per its policy (a corrupted witness also keeps
    its log when asked; its extra power is :class:`WitnessSign`)."""

    epoch: int
    file: int

    @property
    def name(self) -> str:
        return f"submit({self.epoch},{file_name(self.file)})"


@dataclass(frozen=True)
class Countersign:
    """The operator counter-signs the witness signature on ``(epoch, digest(file))``
    (under ``countersign-file-not-signature``: the digest of ``file``). An honest operator
    counter-signs only its ceremony's file at that file's epoch."""

    epoch: int
    file: int

    @property
    def name(self) -> str:
        return f"countersign({self.epoch},{file_name(self.file)})"


@dataclass(frozen=True)
class WitnessSign:
    """A corrupted witness signs statement ``(epoch, digest(file))`` without logging it."""

    epoch: int
    file: int

    @property
    def name(self) -> str:
        return f"witness_sign({self.epoch},{file_name(self.file)})"


@dataclass(frozen=True)
class VendorAttest:
    """A corrupted vendor attests the rogue keys of ``epoch`` (allowed firmware claimed)."""

    epoch: int

    @property
    def name(self) -> str:
        return f"vendor_attest({self.epoch})"


@dataclass(frozen=True)
class Deliver:
    """The network shows client ``client`` the bundle: statement ``(epoch, digest)`` with
    the signatures that exist on it, and file ``file``; the client accepts or refuses."""

    client: int
    epoch: int
    digest: int
    file: int

    @property
    def name(self) -> str:
        d, f = file_name(self.digest), file_name(self.file)
        shown = d if self.digest == self.file else f"{d}:{f}"
        return f"deliver(c{self.client},{self.epoch},{shown})"


Action = Ceremony | Submit | Countersign | WitnessSign | VendorAttest | Deliver


def actions(config: BundleConfig) -> tuple[Action, ...]:
    """actions: every action of the instance, in a fixed order (the BMC's action index).

    ``Deliver`` with a file other than the statement's digest is listed only under
    ``no-digest-check`` (for every other client it is never enabled)."""
    epochs = range(1, config.epochs + 1)
    files = range(1, config.files + 1)
    out: list[Action] = [Ceremony(e) for e in epochs]
    out += [Submit(e, f) for e in epochs for f in files]
    out += [Countersign(e, f) for e in epochs for f in files]
    out += [WitnessSign(e, f) for e in epochs for f in files]
    out += [VendorAttest(e) for e in epochs]
    mixed = "no-digest-check" in config.rules
    out += [
        Deliver(c, e, g, f)
        for c in range(config.clients)
        for e in epochs
        for g in files
        for f in files
        if mixed or f == g
    ]
    return tuple(out)


def step(state: BundleState, action: Action, config: BundleConfig) -> BundleState:
    """step: the state after ``action`` (``Disabled`` if its guard does not hold)."""
    bad = config.corrupted
    if isinstance(action, Ceremony):
        e = action.epoch
        if state.made[e - 1] or (e > 1 and not state.made[e - 2]):
            raise Disabled(action.name)
        return replace(state, made=_put(state.made, e - 1, True))
    if isinstance(action, Submit):
        e, f = action.epoch, action.file
        own = f == file_id(e, CEREMONY) and state.made[e - 1]
        if not (own or (bad == "operator" and known(state, f))):
            raise Disabled(action.name)
        if not witness_signs(state, config, e, f):
            raise Disabled(action.name)
        return replace(
            state,
            wsig=_put2(state.wsig, e - 1, f - 1, True),
            logged=_put(state.logged, e - 1, f),
            last=e,
        )
    if isinstance(action, Countersign):
        e, f = action.epoch, action.file
        if "countersign-file-not-signature" in config.rules:
            own = f == file_id(file_epoch(f), CEREMONY) and state.made[file_epoch(f) - 1]
            if not (own or (bad == "operator" and known(state, f))):
                raise Disabled(action.name)
            return replace(state, ofile=_put(state.ofile, f - 1, True))
        own = f == file_id(e, CEREMONY)
        if not (state.wsig[e - 1][f - 1] and (own or bad == "operator")):
            raise Disabled(action.name)
        return replace(state, osig=_put2(state.osig, e - 1, f - 1, True))
    if isinstance(action, WitnessSign):
        e, f = action.epoch, action.file
        if bad != "witness" or not known(state, f):
            raise Disabled(action.name)
        return replace(state, wsig=_put2(state.wsig, e - 1, f - 1, True))
    if isinstance(action, VendorAttest):
        if bad != "vendor":
            raise Disabled(action.name)
        return replace(state, vatt=_put(state.vatt, action.epoch - 1, True))
    c, e, g, f = action.client, action.epoch, action.digest, action.file
    if not accepts(state, config, c, e, g, f):
        raise Disabled(action.name)
    return replace(
        state,
        high=_put(state.high, c, max(state.high[c], e)),
        accepted=_put2(state.accepted, c, e - 1, f),
        rogue=_put(state.rogue, c, state.rogue[c] or f != file_id(e, CEREMONY)),
        rolled=_put(state.rolled, c, state.rolled[c] or e < state.high[c]),
    )


def enabled(state: BundleState, config: BundleConfig) -> Iterator[tuple[Action, BundleState]]:
    """enabled: every enabled action with its post-state, in :func:`actions` order."""
    for action in actions(config):
        try:
            yield action, step(state, action, config)
        except Disabled:
            continue


# ---------------------------------------------------------------------------------------
# Invariants


def check_i4(state: BundleState, config: BundleConfig) -> list[Violation]:
    """I4 ``bundle-authenticity``: no client accepted a file other than the ceremony's
    file of the statement's epoch, and none accepted an epoch below one it had accepted."""
    found: list[Violation] = []
    for c in range(config.clients):
        if state.rogue[c]:
            found.append(Violation("I4", f"c{c}", "accepted a file the ceremony did not make"))
        if state.rolled[c]:
            found.append(Violation("I4", f"c{c}", "accepted an epoch below its highest"))
    return found


def check_i7(state: BundleState, config: BundleConfig) -> list[Violation]:
    """I7 ``fleet-transparency``: every accepted file is the file the witness logged for
    that epoch, and no two clients accepted different files for one epoch."""
    found: list[Violation] = []
    for e in range(1, config.epochs + 1):
        seen: set[int] = set()
        for c in range(config.clients):
            f = state.accepted[c][e - 1]
            if f == 0:
                continue
            seen.add(f)
            if state.logged[e - 1] != f:
                found.append(
                    Violation(
                        "I7",
                        f"c{c}",
                        f"accepted {file_name(f)} for epoch {e}, "
                        f"log has {file_name(state.logged[e - 1])}",
                    )
                )
        if len(seen) > 1:
            names = ", ".join(file_name(f) for f in sorted(seen))
            found.append(Violation("I7", "clients", f"split view at epoch {e}: {names}"))
    return found
