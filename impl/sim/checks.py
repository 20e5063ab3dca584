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
    left). A replica whose storage the operator rolled back is exempt from these two
    checks for what it forgot: that is what the rollback budget is for.
I3 ``attempt-limit``
    per (user, registration), at most ``max_attempts`` wrong-guess answers reach
    clients; no ``Released`` answer rests on a slot after a chosen ``Destroy`` of that
    registration (a destroyed record never comes back); and every wrong-guess answer
    agrees with the chosen log: the monitor applies the chosen slots, in order, to a
    reference vault of its own, and the remaining attempts a client is told must be what
    the guess's own charge (``Backing.charge_slot``) left.
I6 ``durability``
    every answer a client receives rests on a slot that is chosen with the request's own
    command (nothing is acknowledged before a quorum holds it), and after every fault each
    acknowledged slot is still held by at least ``n - q + 1`` replicas' durable stores
    (a vote for it, a chosen entry, or a snapshot past it), so every future quorum sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from impl.consensus import Observation
from impl.errors import VaultError
from impl.messages import Released, Response, WrongGuess
from impl.peer_messages import Ballot, Noop, Proposal
from impl.replica import Backing
from impl.store import ReplicaStore
from impl.vault import Charged, Destroy, RecordDestroyed, Vault, VaultPolicy

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
        self, replicas: int, quorum: int, policy: VaultPolicy, event: Callable[[], int]
    ) -> None:
        self.replicas = replicas
        self.quorum = quorum
        self.max_attempts = policy.max_attempts
        self._event = event
        self.violations: list[Violation] = []
        self._votes: dict[tuple[int, Ballot], dict[Key, set[int]]] = {}
        self._chosen: dict[int, Key] = {}
        self._applied: dict[int, tuple[Key, int]] = {}
        self._destroyed_at: dict[tuple[str, int], int] = {}
        self._released_at: dict[tuple[str, int], list[int]] = {}
        self._wrong: dict[tuple[str, int], int] = {}
        self._acked: dict[int, bytes] = {}
        self.chosen_slots = 0
        self._proposals: dict[int, Proposal] = {}
        self._reference = Vault(policy)
        self._reference_next = 0
        self._results: dict[int, object] = {}
        self._waiting: dict[int, list[tuple[str, int, int]]] = {}
        self._promised: dict[int, Ballot] = {}

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
            self._on_chosen(slot, key)
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
        """Apply the chosen log, in slot order, to the monitor's own reference vault."""
        while self._reference_next in self._proposals:
            slot = self._reference_next
            value = self._proposals.pop(slot).value
            result: object = None
            if not isinstance(value, Noop):
                try:
                    result = self._reference.apply(value)
                except VaultError as refused:
                    result = refused
            self._results[slot] = result
            self._reference_next += 1
            for user, registration, remaining in self._waiting.pop(slot, []):
                self._check_remaining(slot, user, registration, remaining)

    def _check_remaining(self, slot: int, user: str, registration: int, remaining: int) -> None:
        result = self._results.get(slot)
        if isinstance(result, Charged):
            expected = max(0, self.max_attempts - result.attempts)
        elif isinstance(result, RecordDestroyed):
            expected = 0
        else:
            what = "a refused command" if isinstance(result, VaultError) else "no charge"
            self._violate(
                "I3",
                f"WrongGuess({remaining}) for {user}#{registration} rests on slot {slot}, "
                f"which the chosen log applies as {what}",
            )
            return
        if expected != remaining:
            self._violate(
                "I3",
                f"WrongGuess({remaining}) for {user}#{registration} rests on slot {slot}, "
                f"where the chosen log leaves {expected} attempts",
            )

    def _on_chosen(self, slot: int, key: Key) -> None:
        _, kind, user, registration = key
        if kind != Destroy.__name__:
            return
        record = (user, registration)
        earliest = min(slot, self._destroyed_at.get(record, slot))
        self._destroyed_at[record] = earliest
        for released in self._released_at.get(record, []):
            if released > earliest:
                self._violate(
                    "I3",
                    f"{user}#{registration} was released from slot {released} after its "
                    f"destruction was chosen in slot {earliest}",
                )

    # ---------------------------------------------------------------- answers (I3, I6)

    def answered(self, user: str, registration: int, response: Response, backing: Backing) -> None:
        """answered: a client received ``response`` to a guess or registration."""
        chosen = self._chosen.get(backing.slot)
        if chosen is None or chosen[0] != backing.request_id:
            what = "nothing chosen yet" if chosen is None else f"{_show(chosen)} chosen"
            self._violate(
                "I6",
                f"{type(response).__name__} for {user}#{registration} reached the client "
                f"but rests on slot {backing.slot} with {what}",
            )
        else:
            self._acked[backing.slot] = backing.request_id
        record = (user, registration)
        if isinstance(response, WrongGuess):
            # A wrong guess rests on its own charge (a Destroy after it may have been
            # refused because a concurrent guess destroyed the record first).
            charge = backing.charge_slot if backing.charge_slot >= 0 else backing.slot
            if charge < self._reference_next:
                self._check_remaining(charge, user, registration, response.remaining)
            else:
                self._waiting.setdefault(charge, []).append(
                    (user, registration, response.remaining)
                )
            count = self._wrong.get(record, 0) + 1
            self._wrong[record] = count
            if count > self.max_attempts:
                self._violate(
                    "I3",
                    f"{count} wrong guesses answered for {user}#{registration}, "
                    f"limit {self.max_attempts}",
                )
        if isinstance(response, Released):
            self._released_at.setdefault(record, []).append(backing.slot)
            destroyed = self._destroyed_at.get(record)
            if destroyed is not None and destroyed < backing.slot:
                self._violate(
                    "I3",
                    f"{user}#{registration} released from slot {backing.slot} after its "
                    f"destruction was chosen in slot {destroyed}",
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
