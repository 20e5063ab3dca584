"""impl.sim.world: a fleet of ``HsmReplica`` under a simulated clock and network.

Everything that is not the replicas' own code is simulated here, from one seed:

- **time**: one event queue ordered by (time in ms, sequence number); nothing reads the
  host's clock, so a seed reproduces the run byte for byte;
- **the network** carrying replica-to-replica bytes and the front end's client traffic:
  a delay per message, and as faults: drop, duplicate, reorder (a long extra delay), and
  partitions (cut links, including a whole datacenter);
- **clocks**: each replica reads its own clock, ``offset + rate * now``; the skew fault
  changes offset and rate, which moves its timeouts (never its safety);
- **storage**: each replica has a ``MemoryReplicaStore``; the world keeps older images of
  it so the rollback fault can replay one (the operator restores an old disk image);
- **the front end** (the operator's relay): ``endpoint(sealed)`` routes a client's sealed
  request to the replica it believes leads, follows ``NotLeader`` hints, and runs the
  world until the answer arrives or a timeout passes (``FleetUnavailable``). With
  ``capture`` on it keeps every sealed request it relays, and the operator may send any
  of them again (``replay``) or send requests of its own (``inject``): the adversary of
  ``docs/channel.rst``.

The world reports every event it processes to a ``listener`` (the trace) and every
replica observation (votes, applies, snapshots) to the ``Monitor`` of ``impl.sim.checks``.

With a ``party_observer`` (``impl.observe``, I1) the world records what the operator
sees: every sealed request its front end receives and every answer (or ``ota`` response
frame) it returns, under the flow the client tagged (``<flow>/request``,
``<flow>/response``); the bundle it serves (``bundle``); and every replica-to-replica
envelope it carries, dropped ones included (``peer/message``). The replicas get the same
observer for what the HSMs see.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from impl.consensus import ConsensusConfig, Observation
from impl.crypto.symmetric import SeededRng
from impl.errors import ConfigError, FleetUnavailable, HsmUnavailable, VaultbenchError
from impl.hsm import HsmConfig
from impl.observe import Observer as PartyObserver
from impl.observe import observer_or_null
from impl.ota import ResponseFrame
from impl.peer_messages import ZERO_BALLOT, AcceptedEntry, Ballot, DurableState
from impl.replica import Backing, FleetKeys, HsmReplica, NotLeader, provision_fleet, storage_key
from impl.store import MemoryReplicaStore, ReplicaStore, store_auth_for

FRONT_END = -1  # the operator's front end, as a network node


@dataclass(frozen=True)
class NetworkConfig:
    """Delays in ms and fault probabilities per message (0 disables a fault)."""

    min_delay: int = 1
    max_delay: int = 12
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: int = 80


@dataclass(frozen=True)
class Event:
    """One processed event, as the trace prints it."""

    index: int
    time: int
    kind: str
    subject: str
    detail: str


Listener = Callable[[Event], None]


class SkewedClock:
    """A replica's clock: ``offset + rate * world time`` (integer ms)."""

    def __init__(self, world: World) -> None:
        self._world = world
        self.offset = 0
        self.rate = 1.0

    def now(self) -> int:
        return self.offset + int(self.rate * self._world.now)

    def to_world(self, local: int) -> int:
        """The first world time at which this clock reads at least ``local``."""
        t = int((local - self.offset) / self.rate)
        while self.offset + int(self.rate * t) < local:
            t += 1
        return max(t, self._world.now)


@dataclass(order=True)
class _Queued:
    time: int
    seq: int
    kind: str = field(compare=False)
    a: int = field(default=0, compare=False)
    b: int = field(default=0, compare=False)
    data: bytes = field(default=b"", compare=False)
    label: str = field(default="", compare=False)
    action: Callable[[], None] | None = field(default=None, compare=False)
    backing: Backing | None = field(default=None, compare=False)


class World:
    """World: the simulated fleet; see the module docstring."""

    def __init__(
        self,
        seed: int,
        consensus: ConsensusConfig | None = None,
        hsm_config: HsmConfig | None = None,
        network: NetworkConfig | None = None,
        listener: Listener | None = None,
        observer: Callable[[Observation], None] | None = None,
        request_timeout: int = 3000,
        store_factory: Callable[[int], ReplicaStore] | None = None,
        keys: Sequence[FleetKeys] | None = None,
        bundle: bytes | None = None,
        party_observer: PartyObserver | None = None,
    ) -> None:
        self.seed = seed
        self._party_observer = observer_or_null(party_observer)
        #: ghost: the flow of each call in flight, to label its answer (``impl.observe``)
        self._flows: dict[int, str | None] = {}
        self.config = consensus or ConsensusConfig()
        self.hsm_config = hsm_config or HsmConfig()
        self.network = network or NetworkConfig()
        self.random = random.Random(seed)  # noqa: S311 - simulation choices, not keys
        self._crypto_rng = SeededRng(seed)
        self.now = 0
        self.events = 0
        #: The index of the event being processed (what a violation found now is stamped).
        self.current = 0
        self.request_timeout = request_timeout
        self._queue: list[_Queued] = []
        self._seq = 0
        self._listener = listener
        self._observer = observer
        self.cut: set[tuple[int, int]] = set()
        n = self.config.replicas
        if keys is None:
            self.fleet_public_key, keys = provision_fleet(n, self.hsm_config, self._crypto_rng)
        elif len(keys) != n:
            raise ConfigError(f"{len(keys)} replicas' keys for a fleet of {n}")
        else:
            self.fleet_public_key = keys[0].fleet_keypair.public_key()
        #: The validation bundle the fleet serves (``ota`` mode), if any: then every answer
        #: leaves in a response frame signed by the answering replica (``impl.ota``).
        self.bundle = bundle
        auth = store_auth_for(self.config.variant)
        make_store = store_factory or (lambda i: MemoryReplicaStore(storage_key(keys[i], i), auth))
        self.stores = [make_store(i) for i in range(n)]
        self.images: list[list[DurableState]] = [[] for _ in range(n)]
        self.clocks = [SkewedClock(self) for _ in range(n)]
        self._tick_at: list[int | None] = [None] * n
        self.replicas = [
            HsmReplica(
                i,
                consensus=self.config,
                keys=keys[i],
                store=self.stores[i],
                send=self._send_peer,
                clock=self.clocks[i],
                rng=SeededRng(seed * 1_000_003 + i + 1),
                hsm_config=self.hsm_config,
                observer=self._observe_replica,
                party_observer=self._party_observer,
            )
            for i in range(n)
        ]
        self.leader_hint = 0
        self._replies: dict[int, tuple[bytes, Backing]] = {}
        self.last_backing: Backing | None = None
        self.on_reply: Callable[[int], None] | None = None
        self._next_call = 0
        #: the front end keeps every sealed request it relays (the adversary's ``replay``)
        self.capture = False
        self.relayed: list[bytes] = []
        self.rejected_messages = 0
        #: replica-to-replica envelopes handed to the network (before drops and
        #: duplicates) and their bytes: what ``vaultbench bench`` counts per operation
        self.peer_messages = 0
        self.peer_bytes = 0
        for i in range(n):
            self._schedule_tick(i)

    def __repr__(self) -> str:
        return f"World(seed={self.seed}, t={self.now}ms, {self.events} events)"

    # ------------------------------------------------------------------ the queue

    def _push(
        self,
        time: int,
        kind: str,
        a: int = 0,
        b: int = 0,
        data: bytes = b"",
        label: str = "",
        action: Callable[[], None] | None = None,
        backing: Backing | None = None,
    ) -> None:
        self._seq += 1
        queued = _Queued(time, self._seq, kind, a, b, data, label, action, backing)
        heapq.heappush(self._queue, queued)

    def _emit(self, kind: str, subject: str, detail: str) -> None:
        self.events += 1
        if self._listener is not None:
            self._listener(Event(self.events, self.now, kind, subject, detail))

    def _schedule_tick(self, i: int) -> None:
        replica = self.replicas[i]
        if not replica.is_up:
            return
        at = self.clocks[i].to_world(replica.consensus.next_deadline())
        current = self._tick_at[i]
        if current is None or at < current or current < self.now:
            self._tick_at[i] = at
            self._push(at, "tick", i)

    def step(self) -> bool:
        """step: process queued events up to and including one counted event.

        Returns False when nothing is left to do. Stale timer entries are skipped without
        being counted.
        """
        while self._queue:
            item = heapq.heappop(self._queue)
            self.now = max(self.now, item.time)
            self.current = self.events + 1
            if self._process(item):
                return True
        return False

    def run_for(self, ms: int) -> None:
        """run_for: process every event due in the next ``ms`` milliseconds."""
        until = self.now + ms
        while self._queue and self._queue[0].time <= until:
            self.step()
        self.now = max(self.now, until)

    def _process(self, item: _Queued) -> bool:
        kind = item.kind
        if kind == "tick":
            i = item.a
            if self._tick_at[i] != item.time:
                return False
            self._tick_at[i] = None
            replica = self.replicas[i]
            if not replica.is_up:
                return False
            deadline = self.clocks[i].to_world(replica.consensus.next_deadline())
            if deadline > self.now:
                self._schedule_tick(i)
                return False
            role = replica.consensus.role.value
            replica.tick()
            self._emit("tick", f"hsm[{i}]", f"{role}->{replica.consensus.role.value}")
            self._after(i)
            return True
        if kind == "peer":
            src, dst, data, label = item.a, item.b, item.data, item.label
            if (src, dst) in self.cut or not self.replicas[dst].is_up:
                self._emit("lost", f"{src}->{dst}", str(label))
                return True
            try:
                self.replicas[dst].deliver(data)
            except VaultbenchError as refused:
                self.rejected_messages += 1
                self._emit("reject", f"{src}->{dst}", f"{type(refused).__name__}")
                return True
            self._emit("deliver", f"{src}->{dst}", str(label))
            self._after(dst)
            return True
        if kind == "drop":
            self._emit("lost", f"{item.a}->{item.b}", f"dropped {item.label}")
            return True
        if kind == "reply-lost":
            self._emit("lost", f"{item.b}->fe", f"answer to call {item.a} (link cut)")
            return True
        if kind == "request":
            return self._deliver_request(item.a, item.b, item.data)
        if kind == "reply":
            assert item.backing is not None
            self._replies[item.a] = (item.data, item.backing)
            self._party_observer.relayed_response(self._flows.get(item.a), item.data)
            self._emit("answer", f"hsm[{item.b}]", f"call {item.a}")
            if self.on_reply is not None:
                self.on_reply(item.a)
            return True
        if kind == "action":
            if item.action is not None:
                item.action()
            return True
        raise AssertionError(f"unknown event kind {kind}")  # pragma: no cover

    def _after(self, i: int) -> None:
        """Reschedule the timers of replica ``i`` after it did something."""
        self._schedule_tick(i)
        if self.replicas[i].consensus.is_leader:
            self.leader_hint = i

    # ---------------------------------------------------------------- the network

    def _delay(self) -> int:
        net = self.network
        delay = self.random.randint(net.min_delay, net.max_delay)
        if net.reorder and self.random.random() < net.reorder:
            delay += self.random.randint(1, net.reorder_delay)
        return delay

    def _send_peer(self, src: int, dst: int, data: bytes, label: str = "") -> None:
        self._party_observer.record("operator", "peer/message", data)
        self.peer_messages += 1
        self.peer_bytes += len(data)
        net = self.network
        if net.drop and self.random.random() < net.drop:
            self._push(self.now + self._delay(), "drop", src, dst, label=label)
            return
        copies = 2 if net.duplicate and self.random.random() < net.duplicate else 1
        for _ in range(copies):
            self._push(self.now + self._delay(), "peer", src, dst, data, label)

    # ---------------------------------------------------------------- the front end

    def _deliver_request(self, call: int, dst: int, data: bytes) -> bool:
        replica = self.replicas[dst]
        if (FRONT_END, dst) in self.cut:
            self._emit("lost", f"fe->{dst}", f"call {call}")
            return True

        def reply(answer: bytes, backing: Backing) -> None:
            if (dst, FRONT_END) in self.cut:
                self._push(self.now + self._delay(), "reply-lost", call, dst)
                return
            if self.bundle is not None:
                signature = replica.sign_answer(self.bundle, answer)
                answer = ResponseFrame(self.bundle, dst, signature, answer).encode()
            self._push(self.now + self._delay(), "reply", call, dst, answer, backing=backing)

        try:
            replica.handle_request(data, reply)
        except NotLeader as refused:
            hint = refused.leader_hint
            nxt = hint if hint is not None and hint != dst else (dst + 1) % len(self.replicas)
            self._emit("redirect", f"hsm[{dst}]", f"call {call} -> hsm[{nxt}]")
            # No leader known: back off rather than spin around the fleet.
            backoff = 0 if hint is not None else 20
            self._push(self.now + self._delay() + backoff, "request", call, nxt, data)
            return True
        except HsmUnavailable:
            nxt = (dst + 1) % len(self.replicas)
            self._emit("redirect", f"hsm[{dst}]", f"call {call} down -> hsm[{nxt}]")
            self._push(self.now + self._delay() + 20, "request", call, nxt, data)
            return True
        self._emit("request", f"hsm[{dst}]", f"call {call}")
        self._after(dst)
        return True

    def send_request(self, data: bytes) -> int:
        """send_request: hand sealed bytes to the front end; returns the call's number.

        With ``capture`` on, the front end keeps the bytes (``relayed``), as the operator
        may: it can send them again later (``replay``).
        """
        self._next_call += 1
        call = self._next_call
        if self.capture:
            self.relayed.append(data)
        if self._party_observer.active:
            self._flows[call] = self._party_observer.relayed_request(data)
        self._push(self.now + self._delay(), "request", call, self.leader_hint, data)
        return call

    def replay(self, index: int, detail: str = "", to: int | None = None) -> int:
        """replay: the operator sends the ``index``-th relayed request again, as a new call
        (to replica ``to``, by default the one it believes leads) whose answer comes back
        to the operator, who cannot open it. Returns the call."""
        data = self.relayed[index]
        self._next_call += 1
        call = self._next_call
        self._emit("replay", "fe", f"call {call} = relayed request {index} again{detail}")
        target = self.leader_hint if to is None else to
        self._push(self.now + self._delay(), "request", call, target, data)
        return call

    def inject(self, data: bytes, detail: str = "", to: int | None = None) -> int:
        """inject: the operator sends a request it sealed itself (to replica ``to``, by
        default the one it believes leads); its answer comes back to the operator. Returns
        the call. (Never captured: the operator made it.)"""
        self._next_call += 1
        call = self._next_call
        self._emit("inject", "fe", f"call {call}{detail}")
        target = self.leader_hint if to is None else to
        self._push(self.now + self._delay(), "request", call, target, data)
        return call

    def hello(self) -> bytes:
        """hello: the validation bundle the fleet serves (``ota`` mode)."""
        if self.bundle is None:
            raise ConfigError("this fleet serves no validation bundle")
        self._party_observer.record("operator", "bundle", self.bundle)
        return self.bundle

    def take_reply(self, call: int) -> tuple[bytes, Backing] | None:
        """take_reply: the sealed answer to ``call`` and its backing, if it has arrived."""
        return self._replies.pop(call, None)

    def endpoint(self, sealed_request: bytes) -> bytes:
        """endpoint: a client's vault endpoint; runs the world until the answer arrives.

        Raises ``FleetUnavailable`` if no answer arrives within ``request_timeout`` ms
        (too few replicas reachable): the request may or may not have been chosen.
        """
        call = self.send_request(sealed_request)
        deadline = self.now + self.request_timeout
        while self.now <= deadline:
            answer = self.take_reply(call)
            if answer is not None:
                self.last_backing = answer[1]
                return answer[0]
            if not self._queue or self._queue[0].time > deadline:
                break
            self.step()
        answer = self.take_reply(call)
        if answer is not None:
            self.last_backing = answer[1]
            return answer[0]
        self.now = max(self.now, deadline)
        up = sum(r.is_up for r in self.replicas)
        raise FleetUnavailable(
            f"no answer within {self.request_timeout} ms: {up} of {len(self.replicas)} "
            f"replicas up, quorum {self.config.q}; the request may or may not have been "
            f"chosen"
        )

    # -------------------------------------------------------------------- faults

    def at(self, delay: int, action: Callable[[], None]) -> None:
        """at: run ``action`` (a fault or a workload step) ``delay`` ms from now."""
        self._push(self.now + delay, "action", action=action)

    def crash(self, i: int) -> None:
        if self.replicas[i].is_up:
            self.replicas[i].crash()
            self._emit("crash", f"hsm[{i}]", "")

    def restart(self, i: int) -> None:
        if not self.replicas[i].is_up:
            self.replicas[i].restart()
            self._emit("restart", f"hsm[{i}]", f"applied={self.replicas[i].consensus.applied}")
            self._after(i)

    def save_image(self, i: int) -> None:
        """save_image: the operator copies replica ``i``'s disk (kept for rollback)."""
        images = self.images[i]
        images.append(self.stores[i].image())
        del images[:-4]

    def rollback(self, i: int, image: int = 0) -> bool:
        """rollback: crash ``i``, replay its ``image``-th oldest saved disk, restart it."""
        if not self.images[i]:
            return False
        self.replicas[i].crash()
        saved = self.images[i][min(image, len(self.images[i]) - 1)]
        self.stores[i].restore_image(saved)
        self._emit("rollback", f"hsm[{i}]", f"to v{saved.version} promised={saved.promised}")
        self._boot_after_disk_fault(i)
        return True

    def edit(self, i: int, how: str, pick: int) -> bool:
        """edit: crash ``i``, change its stored state the way the operator can without the
        HSM's key (the tag stays what it was), restart it. ``how``: ``raise-ballot`` (an
        older vote's ballot becomes the promised one, or one above it), ``delete-vote`` (a
        vote row goes), ``lower-promise`` (the promise drops below it);
        ``pick`` chooses the vote. False (nothing done) if there is nothing to edit."""
        image = self.stores[i].image()
        slots = sorted(image.accepted)
        if how in ("raise-ballot", "delete-vote") and not slots:
            return False
        if how == "lower-promise" and image.promised == ZERO_BALLOT:
            return False
        self.replicas[i].crash()
        if how == "raise-ballot":
            # An older vote raised to the promised ballot (what makes a follower take it
            # for the leader's), or, if every vote is at it, one raised above it.
            older = [s for s in slots if image.accepted[s].ballot < image.promised]
            slot = (older or slots)[pick % len(older or slots)]
            entry = image.accepted[slot]
            top = image.promised
            if not older:
                top = Ballot(top.round + 1, top.replica)
            image.accepted[slot] = AcceptedEntry(slot, top, entry.proposal)
            detail = f"slot {slot}: ballot {entry.ballot} -> {top}"
        elif how == "delete-vote":
            slot = slots[pick % len(slots)]
            del image.accepted[slot]
            detail = f"vote in slot {slot} deleted"
        elif how == "lower-promise":
            low = min((e.ballot for e in image.accepted.values()), default=ZERO_BALLOT)
            if low >= image.promised:
                low = ZERO_BALLOT
            detail = f"promise {image.promised} -> {low}"
            image.promised = low
        else:
            raise ConfigError(f"unknown edit {how!r}")
        self.stores[i].restore_image(image)
        self._emit("edit", f"hsm[{i}]", detail)
        self._boot_after_disk_fault(i)
        return True

    def _boot_after_disk_fault(self, i: int) -> None:
        self.replicas[i].restart()
        refused = self.replicas[i].consensus.refused
        if refused is not None:
            until = self.replicas[i].consensus.rejoin_until
            self._emit(
                "refuse",
                f"hsm[{i}]",
                f"{type(refused).__name__}: a learner until slot {until - 1} is applied"
                if until
                else f"{type(refused).__name__}: it never voted; rejoins at once",
            )
        self._after(i)

    def _observe_replica(self, observation: Observation) -> None:
        if observation.kind == "rejoin":
            self._emit(
                "rejoin",
                f"hsm[{observation.replica}]",
                f"applied every slot below {observation.slot}: counted in quorums again",
            )
        if self._observer is not None:
            self._observer(observation)

    def rejoining(self, i: int) -> bool:
        """rejoining: replica ``i`` refused its store and is still a learner."""
        return self.replicas[i].consensus.rejoining

    def isolate(self, i: int) -> None:
        """isolate: cut replica ``i`` (its whole datacenter) off from everyone."""
        for j in [*range(len(self.replicas)), FRONT_END]:
            if j != i:
                self.cut.add((i, j))
                self.cut.add((j, i))
        self._emit("partition", f"hsm[{i}]", "datacenter cut off")

    def split(self, side: set[int]) -> None:
        """split: cut every link between ``side`` and the other replicas."""
        for a in sorted(side):
            for b in range(len(self.replicas)):
                if b not in side:
                    self.cut.add((a, b))
                    self.cut.add((b, a))
        rest = sorted(set(range(len(self.replicas))) - side)
        self._emit("partition", "net", f"{sorted(side)} | {rest}")

    def heal(self) -> None:
        if self.cut:
            self.cut.clear()
            self._emit("heal", "net", "")

    def skew(self, i: int, offset: int, rate: float) -> None:
        if not 0.25 <= rate <= 4.0:
            raise ConfigError(f"clock rate must be within 0.25..4, got {rate}")
        clock = self.clocks[i]
        clock.offset, clock.rate = offset, rate
        self._emit("skew", f"hsm[{i}]", f"offset={offset} rate={rate:.2f}")
        self._tick_at[i] = None
        self._schedule_tick(i)

    # -------------------------------------------------------------------- queries

    def leader(self) -> int | None:
        """The replica that is a ready leader with the highest ballot, if any."""
        best: int | None = None
        for i, replica in enumerate(self.replicas):
            if replica.ready and (
                best is None or replica.consensus.ballot > self.replicas[best].consensus.ballot
            ):
                best = i
        return best

    def settle(self, ms: int = 2000) -> bool:
        """settle: run until some replica is a ready leader (at most ``ms``)."""
        deadline = self.now + ms
        while self.leader() is None and self._queue and self._queue[0].time <= deadline:
            self.step()
        return self.leader() is not None
