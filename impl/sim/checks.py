"""impl.sim.checks: the invariants I2, I3 and I6, checked on the replicas as they run.

The ``Monitor`` is the simulator's ghost: it sees every vote a replica makes durable and
every slot a replica applies (``impl.consensus.Observation``), every answer a client
receives together with the slot the answering leader says it rests on (``Backing``), and
the replicas' durable stores after every fault. From the votes alone it computes which
value is chosen in each slot (a quorum voted for it at one ballot), independently of what
any replica believes. It then checks, after every event:

I2 ``quorum-safety``
    at most one value is ever chosen per slot; every replica applies, in each slot, the
    same value as every other replica; and, as two conjuncts of the proof's inductive
    invariant require of every acceptor, a replica comes back from a crash still
    promising the highest ballot it promised before ("a promise is kept"), and no replica
    votes at a ballot below one it has promised (it never returns to a ballot it has
    left). On the safe fleet these hold under every rollback and edit of a disk: a replica
    that refuses its store restarts from the promise its HSM holds (``impl.nvram``). Only
    under ``rollback-beyond-budget`` is a rolled-back replica exempt from the two checks
    for what it forgot, as the old budget argument assumed.
I3 ``attempt-limit``, as ``docs/channel.rst`` states it against the operator who replays
    and injects requests
    (a) *per enrolled secret* (counted across registrations, so that a replayed enrolment,
    which makes a new record for an old secret, counts against the old secret's budget), at
    most ``max_attempts`` attempts are charged and at most ``max_attempts`` wrong-guess
    answers are given; (b) the secret of a destroyed or retired record is never charged,
    compared or released again; (c) an honest client's request is charged at most once,
    however often it is replayed (seen on the answers: every delivery's answer names its
    charge slot, and the ghost opens the answers to replays too); (d) an honest right
    guess is never answered ``WrongGuess``; and (e) every answer agrees with the chosen
    log: the monitor applies the chosen slots, in order, to a reference vault of its own
    that follows the protocol (never the variant under test), and a ``WrongGuess`` must
    tell what its ``Settle`` left, a ``Released`` rest on a release, a ``Registered`` on a
    registration the protocol accepts. (a) and (b) are counted on a second copy of the
    log's application with the fleet's own policy (the same vault when no vault variant
    runs), which is what the replicas hold.
I6 ``durability``
    every answer a client receives rests on a slot that is chosen with the request's own
    command (nothing is acknowledged before a quorum holds it), and after every fault each
    acknowledged slot is still held by at least ``n - q + 1`` replicas' durable stores
    (a vote for it, a chosen entry, or a snapshot past it), so every future quorum sees it.
    A replica that refused its store and rejoins (``docs/disk.rst``) counts as holding
    every slot below its ``rejoin_until``: it answers no ``Prepare`` before it has learned
    them, so no quorum can use its forgotten state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from impl.consensus import Observation
from impl.errors import VaultError
from impl.messages import Registered, Released, Response, WrongGuess
from impl.peer_messages import Ballot, LogValue, Noop, Proposal
from impl.replica import Backing
from impl.store import ReplicaStore
from impl.vault import (
    Charged,
    ConsumeAttempt,
    RecordDestroyed,
    RecordRetired,
    Register,
    Retire,
    SecretReleased,
    Settle,
    Vault,
    VaultPolicy,
    WrongSettled,
)
from impl.vault import Registered as VaultRegistered

INVARIANT_NAMES = {"I2": "quorum-safety", "I3": "attempt-limit", "I6": "durability"}

#: How a proposal is identified by the monitor: request id, command, user, registration.
Key = tuple[bytes, str, str, int]


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its id, the event at which it broke, what was seen."""

    invariant: str
    event: int
    detail: str

    def __str__(self) -> str:
        name = INVARIANT_NAMES.get(self.invariant, "")
        return f"{self.invariant} {name} violated at event {self.event}: {self.detail}"


def _key(proposal: Proposal) -> Key:
    value = proposal.value
    user = getattr(value, "user", "")
    registration = getattr(value, "registration", 0)
    return (proposal.request_id, type(value).__name__, user, registration)


def _show(key: Key) -> str:
    rid, kind, user, registration = key
    who = f" {user}#{registration}" if user else ""
    return f"{kind}{who} (request {rid.hex()[:8]})"


class Monitor:
    """Monitor: ghost state and invariant checks for one simulated run."""

    def __init__(
        self,
        replicas: int,
        quorum: int,
        policy: VaultPolicy,
        event: Callable[[], int],
        fleet_policy: VaultPolicy | None = None,
    ) -> None:
        self.replicas = replicas
        self.quorum = quorum
        self.max_attempts = policy.max_attempts
        self._event = event
        self.violations: list[Violation] = []
        self._votes: dict[tuple[int, Ballot], dict[Key, set[int]]] = {}
        self._chosen: dict[int, Key] = {}
        self._applied: dict[int, tuple[Key, int]] = {}
        self._acked: dict[int, bytes] = {}
        self.chosen_slots = 0
        self._proposals: dict[int, Proposal] = {}
        #: the protocol's vault applying the chosen log (what every answer must agree with)
        self._reference = Vault(policy)
        self._reference_next = 0
        self._results: dict[int, object] = {}
        #: the fleet's own vault (its policy, the variant under test included) applying the
        #: chosen log: what the replicas hold; the same vault when no vault variant runs
        self._fleet = (
            self._reference
            if fleet_policy is None or fleet_policy == policy
            else Vault(fleet_policy)
        )
        self._fleet_results = self._results if self._fleet is self._reference else {}
        self._waiting: dict[int, list[Callable[[], None]]] = {}
        self._promised: dict[int, Ballot] = {}
        # Ghost accounting per enrolled secret (keys are the secrets' bytes, never shown).
        self._secret_of: dict[tuple[str, int], bytes] = {}
        self._label: dict[bytes, str] = {}
        self._slot_secret: dict[int, bytes] = {}
        self._charges: Counter[bytes] = Counter()
        self._wrong: Counter[bytes] = Counter()
        self._wrong_slots: set[int] = set()
        self._dead: dict[bytes, tuple[int, str]] = {}
        self._honest_charges: dict[str, set[int]] = {}

    def __repr__(self) -> str:
        return f"Monitor({len(self._chosen)} chosen slots, {len(self.violations)} violations)"

    @property
    def ok(self) -> bool:
        return not self.violations

    def _violate(self, invariant: str, detail: str) -> None:
        self.violations.append(Violation(invariant, self._event(), detail))

    # ------------------------------------------------------------- observations (I2)

    def observe(self, observation: Observation) -> None:
        """observe: a vote or an apply reported by a replica."""
        if observation.kind == "boot":
            assert observation.ballot is not None
            known = self._promised.get(observation.replica)
            if known is not None and observation.ballot < known:
                self._violate(
                    "I2",
                    f"replica {observation.replica} came back from a crash promising ballot "
                    f"{observation.ballot}, but it had promised {known}: a promise was not "
                    f"kept",
                )
        elif observation.kind == "promise":
            assert observation.ballot is not None
            known = self._promised.get(observation.replica)
            if known is None or observation.ballot > known:
                self._promised[observation.replica] = observation.ballot
        elif observation.kind == "vote":
            assert observation.ballot is not None
            assert observation.proposal is not None
            self._vote(
                observation.replica, observation.slot, observation.ballot, observation.proposal
            )
        elif observation.kind == "apply":
            assert observation.proposal is not None
            self._apply(observation.replica, observation.slot, observation.proposal)

    def rolled_back(self, replica: int, promised: Ballot) -> None:
        """rolled_back: the operator replayed an old image of ``replica``'s storage."""
        self._promised[replica] = promised

    def _vote(self, replica: int, slot: int, ballot: Ballot, proposal: Proposal) -> None:
        key = _key(proposal)
        promised = self._promised.get(replica)
        if promised is not None and ballot < promised:
            self._violate(
                "I2",
                f"replica {replica} voted in slot {slot} at ballot {ballot} after promising "
                f"ballot {promised}: it went back to a ballot it had left",
            )
        voters = self._votes.setdefault((slot, ballot), {}).setdefault(key, set())
        voters.add(replica)
        if len(voters) < self.quorum:
            return
        chosen = self._chosen.get(slot)
        if chosen is None:
            self._chosen[slot] = key
            self._proposals[slot] = proposal
            self.chosen_slots += 1
            self._advance_reference()
        elif chosen != key:
            self._violate(
                "I2",
                f"two values chosen in slot {slot}: {_show(chosen)} and {_show(key)} "
                f"(the second by replicas {sorted(voters)} at ballot {ballot})",
            )

    def _apply(self, replica: int, slot: int, proposal: Proposal) -> None:
        key = _key(proposal)
        first = self._applied.get(slot)
        if first is None:
            self._applied[slot] = (key, replica)
        elif first[0] != key:
            self._violate(
                "I2",
                f"replica {replica} applied {_show(key)} in slot {slot}, but replica "
                f"{first[1]} applied {_show(first[0])}",
            )

    def _advance_reference(self) -> None:
        """Apply the chosen log, in slot order, to the reference vault (and the fleet's)."""
        while self._reference_next in self._proposals:
            slot = self._reference_next
            value = self._proposals.pop(slot).value
            result = _apply(self._reference, value)
            self._results[slot] = result
            if self._fleet is not self._reference:
                result = _apply(self._fleet, value)
                self._fleet_results[slot] = result
            self._track(slot, value, result)
            self._reference_next += 1
            for check in self._waiting.pop(slot, []):
                check()

    def _when_applied(self, slot: int, check: Callable[[], None]) -> None:
        """Run ``check`` once the chosen log has been applied up to ``slot``."""
        if slot < self._reference_next:
            check()
        else:
            self._waiting.setdefault(slot, []).append(check)

    def _track(self, slot: int, value: LogValue, result: object) -> None:
        """The per-secret ghost (I3 a, b) of one command as the fleet applied it."""
        if isinstance(value, Register):
            if isinstance(result, VaultRegistered):
                enrolled = value.secret.reveal()
                self._secret_of[(value.user, result.registration)] = enrolled
                self._label.setdefault(enrolled, f"{value.user}#{result.registration}")
            return
        if not isinstance(value, ConsumeAttempt | Settle | Retire) and not isinstance(
            result, RecordDestroyed
        ):
            return
        user = getattr(value, "user", "")
        registration = getattr(value, "registration", 0)
        secret = self._secret_of.get((user, registration))
        if secret is None:
            return
        self._slot_secret[slot] = secret
        if isinstance(result, VaultError):
            return
        label = self._label.get(secret, f"{user}#{registration}")
        dead = self._dead.get(secret)
        if dead is not None and isinstance(value, ConsumeAttempt | Settle | Retire):
            self._violate(
                "I3",
                f"{type(value).__name__} of {user}#{registration} in slot {slot} answers for "
                f"the secret enrolled as {label}, whose record was {dead[1]} in slot "
                f"{dead[0]}: a {dead[1]} record came back",
            )
        if isinstance(result, Charged):
            self._charges[secret] += 1
            if self._charges[secret] > self.max_attempts:
                self._violate(
                    "I3",
                    f"{self._charges[secret]} attempts charged against the secret enrolled "
                    f"as {label} (the last on {user}#{registration}, slot {slot}), "
                    f"limit {self.max_attempts}",
                )
        gone = (
            "retired"
            if isinstance(result, RecordRetired)
            else "destroyed"
            if isinstance(result, RecordDestroyed)
            or (isinstance(result, WrongSettled) and result.destroyed)
            else ""
        )
        if gone:
            self._dead.setdefault(secret, (slot, gone))

    # ---------------------------------------------------------------- answers (I3, I6)

    def answered(
        self,
        user: str,
        registration: int,
        response: Response,
        backing: Backing,
        *,
        request: str | None = None,
        right: bool = False,
    ) -> None:
        """answered: someone received ``response`` (resting on ``backing``).

        ``request`` names an honest client's request (the same name for every delivery of
        it, replays included: I3 c); ``right`` says it is a guess with the client's own,
        right secret for the registration it names (I3 d). Answers to the operator's own
        and replayed requests are reported too (by the simulator's ghost, which holds every
        response key), without ``request``.
        """
        chosen = self._chosen.get(backing.slot)
        if chosen is None or chosen[0] != backing.request_id:
            what = "nothing chosen yet" if chosen is None else f"{_show(chosen)} chosen"
            self._violate(
                "I6",
                f"{type(response).__name__} for {user}#{registration} reached the client "
                f"but rests on slot {backing.slot} with {what}",
            )
            return
        self._acked[backing.slot] = backing.request_id
        if right and isinstance(response, WrongGuess):
            self._violate(
                "I3",
                f"an honest right guess for {user}#{registration} "
                f"({request or 'a client request'}) was answered WrongGuess"
                f"({response.remaining})",
            )
        self._when_applied(
            backing.slot, lambda: self._check_answer(user, response, backing, request, right)
        )

    def _check_answer(
        self, user: str, response: Response, backing: Backing, request: str | None, right: bool
    ) -> None:
        """I3 (a), (c), (d), (e) for one answer, once the log is applied up to its slot."""
        slot = backing.slot
        result = self._results.get(slot)
        charge = backing.charge_slot
        charged = charge >= 0 and isinstance(self._fleet_results.get(charge), Charged)
        # (c) first: the checks of the answer below may stop at the first they find.
        if request is not None and charged:
            slots = self._honest_charges.setdefault(request, set())
            slots.add(charge)
            if len(slots) > 1:
                self._violate(
                    "I3",
                    f"an honest request ({request}) was charged {len(slots)} times, in "
                    f"slots {', '.join(str(s) for s in sorted(slots))}",
                )
        if right and charged and not isinstance(response, Released | WrongGuess):
            self._violate(
                "I3",
                f"an honest right guess for {user} ({request or 'a client request'}) was "
                f"charged in slot {charge} and answered {type(response).__name__}",
            )
        if isinstance(response, WrongGuess):
            if not isinstance(result, WrongSettled):
                self._violate(
                    "I3",
                    f"WrongGuess({response.remaining}) for {user} rests on slot {slot}, "
                    f"which the chosen log applies as {_what(result)}",
                )
                return
            expected = max(0, self.max_attempts - result.attempts)
            if expected != response.remaining:
                self._violate(
                    "I3",
                    f"WrongGuess({response.remaining}) for {user} rests on slot {slot}, "
                    f"where the chosen log leaves {expected} attempts",
                )
            secret = self._slot_secret.get(slot)
            if secret is not None and slot not in self._wrong_slots:
                self._wrong_slots.add(slot)
                self._wrong[secret] += 1
                if self._wrong[secret] > self.max_attempts:
                    self._violate(
                        "I3",
                        f"{self._wrong[secret]} wrong guesses answered against the secret "
                        f"enrolled as {self._label.get(secret, user)}, "
                        f"limit {self.max_attempts}",
                    )
        elif isinstance(response, Released):
            if not isinstance(result, SecretReleased):
                self._violate(
                    "I3",
                    f"Released for {user} rests on slot {slot}, which the chosen log "
                    f"applies as {_what(result)}",
                )
        elif isinstance(response, Registered) and not (
            isinstance(result, VaultRegistered) and result.registration == response.registration
        ):
            self._violate(
                "I3",
                f"Registered({response.registration}) for {user} rests on slot {slot}, "
                f"which the chosen log applies as {_what(result)}: the record was "
                f"replaced by a registration the protocol refuses",
            )

    # ------------------------------------------------------------------ durability (I6)

    def check_durability(self, stores: Sequence[ReplicaStore]) -> None:
        """check_durability: every acknowledged slot is held by n - q + 1 stores."""
        needed = self.replicas - self.quorum + 1
        images = [store.image() for store in stores]
        for slot in sorted(self._acked):
            request_id = self._acked[slot]
            holders = 0
            for image in images:
                vote = image.accepted.get(slot)
                chosen = image.chosen.get(slot)
                if (
                    image.snapshot.upto > slot
                    or image.rejoin_until > slot
                    or (vote is not None and vote.proposal.request_id == request_id)
                    or (chosen is not None and chosen.request_id == request_id)
                ):
                    holders += 1
            if holders < needed:
                self._violate(
                    "I6",
                    f"acknowledged slot {slot} is held by {holders} replicas' storage, "
                    f"fewer than n - q + 1 = {needed}: a quorum can now miss it",
                )
                del self._acked[slot]


def _apply(vault: Vault, value: LogValue) -> object:
    """One chosen value applied to ``vault``: its result, the refusal, or None (a Noop)."""
    if isinstance(value, Noop):
        return None
    try:
        return vault.apply(value)
    except VaultError as refused:
        return refused


def _what(result: object) -> str:
    """How a slot's result reads in a violation (never a secret)."""
    if result is None:
        return "no command"
    if isinstance(result, VaultError):
        return f"a refused command ({result})"
    if isinstance(result, SecretReleased):
        return "a release"
    return repr(result)
