"""impl.replica: an HSM replica of the fleet: the vault replicated by Multi-Paxos.

An ``HsmReplica`` is ``impl.hsm.Hsm`` made a member of a fleet. It holds the fleet's HPKE
key (shared by every replica, so any leader can open a client's request), its own Ed25519
identity key and the fleet-internal replication key (``impl.peer``), and runs the request
procedures of ``impl.service`` through ``impl.consensus``:

1. only a **ready leader** takes client requests; any other replica refuses with
   ``NotLeader`` (carrying its guess of the leader) before opening anything;
2. a request first puts a read barrier (a ``Noop``) through the log, so the checks the
   procedure makes before charging read a vault at least as new as that barrier;
3. every command the procedure yields is proposed; the procedure resumes only when the
   command is **chosen and applied** in log order, with the result the vault gave;
4. the answer is sealed to the client's response key and handed to ``reply``. If the
   replica loses leadership or crashes first, the procedure is dropped and no answer
   leaves: the client sees a timeout, never an answer the log does not back.

Unsafe variants: ``answer-before-chosen`` resumes the procedure as soon as the leader has
voted for its own command, with a result computed on a copy of its vault;
``serve-before-catch-up`` serves right after phase 1 and resumes as soon as the command is
chosen, computing the result on its (possibly stale) vault without applying the slots
before it.

With a ``party_observer`` (``impl.observe``; the keyword ``observer`` is the consensus
monitor's) the replica records, as party ``hsm``, each opened request (its
``impl.wire`` encoding, ``<flow>/request``) and each answer before it is sealed
(``<flow>/response``). The operator's view of the peer traffic is recorded by whoever
carries it (``impl.sim.world``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from impl.consensus import (
    Application,
    Clock,
    ConsensusConfig,
    Lost,
    Observer,
    Replica,
    describe,
)
from impl.crypto.ed25519 import SigningKey, VerifyKey
from impl.crypto.hpke import FleetKeyPair, FleetPublicKey
from impl.crypto.symmetric import Rng, hkdf_sha256
from impl.errors import ConfigError, HsmUnavailable, VaultError
from impl.hsm import HsmConfig, RecordView
from impl.logs import logger
from impl.messages import Response
from impl.nvram import MemoryNvram, Nvram
from impl.observe import NO_OBSERVER, observer_or_null, request_flow
from impl.observe import Observer as PartyObserver
from impl.ota import sign_answer
from impl.peer import PeerChannel
from impl.peer_messages import Noop, PeerMessage, Proposal, Snapshot
from impl.redact import Secret
from impl.service import FAULT_POINTS, FaultPoint, Procedure, Rejected, VaultService
from impl.session import ResponseKey, open_request, seal_response
from impl.store import ReplicaStore
from impl.vault import (
    Charged,
    Command,
    CommandResult,
    ConsumeAttempt,
    RecordDestroyed,
    RecordRetired,
    Registered,
    SecretReleased,
    Vault,
    VaultRecord,
    WrongSettled,
)
from impl.wire import encode_request, encode_response

#: Sends sealed replica-to-replica bytes: (from, to, data, label). The label is the
#: simulator's ghost summary of the message for the trace (``describe``); a real network
#: would see only the bytes.
NetworkSend = Callable[[int, int, bytes, str], None]
#: Receives one sealed answer for the client, and the slot it rests on (``Backing``).
Reply = Callable[[bytes, "Backing"], None]


class NotLeader(HsmUnavailable):
    """This replica does not serve requests now; ``leader_hint`` may name one that does."""

    def __init__(self, replica: int, leader_hint: int | None) -> None:
        hint = f"; try hsm[{leader_hint}]" if leader_hint is not None else ""
        super().__init__(f"hsm[{replica}] is not a ready leader{hint}")
        self.leader_hint = leader_hint


@dataclass(frozen=True)
class FleetKeys:
    """What one replica is provisioned with (it never leaves the HSM; no repr of secrets)."""

    fleet_keypair: FleetKeyPair
    replication_key: Secret
    signing_key: SigningKey
    peers: tuple[VerifyKey, ...]

    def __repr__(self) -> str:
        return f"FleetKeys(<{len(self.peers)} replica identities>)"


_log = logger(__name__)

#: HKDF info of a replica's storage sealing key (``storage_key``).
STORAGE_KEY_INFO: Final = b"vaultbench replica storage v1"


def storage_key(keys: FleetKeys, index: int) -> Secret:
    """storage_key: the key replica ``index`` seals its durable store with
    (``impl.sqlite_store``): HKDF-SHA256 of the replication key, per replica. Like every
    key of ``FleetKeys`` it never leaves the HSM; the operator who holds the disk reads
    only sealed rows."""
    if not 0 <= index < len(keys.peers):
        raise ConfigError(f"replica index {index} is not in a fleet of {len(keys.peers)}")
    info = STORAGE_KEY_INFO + index.to_bytes(2, "big")
    return Secret(hkdf_sha256(keys.replication_key.reveal(), info))


def provision_fleet(
    replicas: int, hsm_config: HsmConfig, rng: Rng
) -> tuple[FleetPublicKey, list[FleetKeys]]:
    """provision_fleet: keys for ``replicas`` HSMs (a stand-in for the deployment ceremony).

    One HPKE fleet key and one replication key shared by all, one Ed25519 identity per
    replica. Returns the fleet's public key and each replica's provisioning.
    """
    fleet = FleetKeyPair.generate(hsm_config.kem, rng)
    replication_key = Secret(rng.random_bytes(32))
    signing = [SigningKey.generate(rng) for _ in range(replicas)]
    peers = tuple(key.public_key() for key in signing)
    keys = [FleetKeys(fleet, replication_key, signing[i], peers) for i in range(replicas)]
    return fleet.public_key(), keys


@dataclass(frozen=True)
class Backing:
    """Ghost data for the simulator's checks: which log slot an answer rests on.

    ``slot`` holds the last command the request's procedure yielded, proposed with
    ``request_id``; ``charge_slot`` its ``ConsumeAttempt`` (-1 if none). The front end of a
    real deployment ignores it; the simulator's monitor checks it against the votes it has
    seen (an answer must rest on a chosen slot, a wrong guess on its own charge).
    """

    request_id: bytes
    slot: int
    charge_slot: int = -1


@dataclass
class _Run:
    """One request in progress at a leader."""

    request_id: bytes
    response_key: ResponseKey
    reply: Reply
    generation: int
    procedure: Procedure | None = None
    slot: int = -1
    charge_slot: int = -1
    #: ghost: the request's flow and who records the answer (``impl.observe``)
    flow: str = ""
    observer: PartyObserver = NO_OBSERVER

    def answer(self, response: Response, rng: Rng) -> None:
        _log.debug(
            "%s answered %s (slot %d, charge slot %d)",
            self.flow,
            _response_name(response),
            self.slot,
            self.charge_slot,
        )
        if self.observer.active:
            self.observer.record("hsm", f"{self.flow}/response", encode_response(response))
        sealed = seal_response(self.response_key, response, rng)
        self.reply(sealed, Backing(self.request_id, self.slot, self.charge_slot))


class _VaultApp(Application):
    """The vault as the replicated state machine: a log value in, a result out."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def apply(self, slot: int, proposal: Proposal) -> object:
        value = proposal.value
        if isinstance(value, Noop):
            return None
        try:
            return self.vault.apply(value)
        except VaultError as refused:
            return Rejected(str(refused))

    def records(self) -> tuple[VaultRecord, ...]:
        return self.vault.records()

    def restore(self, snapshot: Snapshot) -> None:
        self.vault.restore(snapshot.records)


class _Transport:
    def __init__(self, owner: HsmReplica) -> None:
        self._owner = owner

    def send(self, to: int, message: PeerMessage) -> None:
        owner = self._owner
        owner._send(owner.index, to, owner._channel.seal(to, message), describe(message))


class HsmReplica:
    """HsmReplica: one HSM of the fleet (see the module docstring)."""

    def __init__(
        self,
        index: int,
        *,
        consensus: ConsensusConfig,
        keys: FleetKeys,
        store: ReplicaStore,
        send: NetworkSend,
        clock: Clock,
        rng: Rng,
        hsm_config: HsmConfig | None = None,
        observer: Observer | None = None,
        fleet_id: bytes = b"vaultbench-fleet",
        party_observer: PartyObserver | None = None,
        nvram: Nvram | None = None,
    ) -> None:
        self.index = index
        self._party_observer = observer_or_null(party_observer)
        self.name = f"hsm[{index}]"
        self.hsm_config = hsm_config or HsmConfig()
        self._keys = keys
        self._send = send
        self._rng = rng
        peers = dict(enumerate(keys.peers))
        self._channel = PeerChannel(
            index, keys.signing_key, peers, keys.replication_key, rng, fleet_id
        )
        self._vault = Vault(self.hsm_config.policy)
        self._app = _VaultApp(self._vault)
        self._service = VaultService(
            self.hsm_config.policy, rng, self.hsm_config.rp_id, self.hsm_config.origin
        )
        #: the HSM's NVRAM (``impl.nvram``): inside the HSM, out of the operator's reach
        self.nvram: Nvram = nvram if nvram is not None else MemoryNvram()
        self.consensus = Replica(
            index, consensus, store, _Transport(self), clock, rng, self._app, observer, self.nvram
        )
        self._armed: set[str] = set()
        self._generation = 0
        self.requests_handled = 0
        self.requests_rejected = 0
        self.consensus.start()

    def __repr__(self) -> str:
        return f"HsmReplica({self.name}, {self.consensus!r})"

    # ------------------------------------------------------------------------ status

    @property
    def is_up(self) -> bool:
        return self.consensus.up

    @property
    def ready(self) -> bool:
        return self.consensus.ready

    @property
    def channel(self) -> PeerChannel:
        return self._channel

    @property
    def fleet_public_key(self) -> FleetPublicKey:
        return self._keys.fleet_keypair.public_key()

    def records(self) -> list[RecordView]:
        """The replica's applied vault, without secrets."""
        return [
            RecordView(r.user, r.method, r.registration, r.attempts, r.destroyed, r.retired)
            for r in self._vault.records()
        ]

    def sign_answer(self, bundle: bytes, sealed_answer: bytes) -> bytes:
        """sign_answer: this replica's signature binding an answer to the bundle it serves
        (``ota`` mode, ``impl.ota``); made with the identity key that never leaves."""
        return sign_answer(self._keys.signing_key, bundle, sealed_answer)

    # ------------------------------------------------------------------------ faults

    def crash(self) -> None:
        """crash: lose every volatile thing (vault in memory, sessions, pending requests)."""
        _log.info("%s: crash", self.name)
        self._generation += 1
        self._armed.clear()
        self._service.forget()
        self.consensus.crash()

    def restart(self) -> None:
        """restart: boot again from the durable store (a new peer-channel boot too)."""
        _log.info("%s: restart from the durable store", self.name)
        self._generation += 1
        self._channel.restart()
        self.consensus.start()

    def arm_fault(self, point: str) -> None:
        """arm_fault: make the next request that reaches ``point`` crash this replica."""
        if point not in FAULT_POINTS:
            raise VaultError(f"unknown fault point {point!r}; known: {', '.join(FAULT_POINTS)}")
        self._armed.add(point)

    # --------------------------------------------------------------------- messages

    def deliver(self, data: bytes) -> None:
        """deliver: one sealed message from another replica.

        Raises ``WireError``, ``PeerAuthError`` or ``PeerReplayError`` (counted on the
        channel, nothing else changes) for bytes that are not a fresh, authentic message
        addressed to this replica. A down replica drops everything.
        """
        if not self.is_up:
            return
        try:
            sender, message = self._channel.open(data)
        except Exception as exc:
            _log.debug("%s: peer envelope refused: %s", self.name, type(exc).__name__)
            raise
        self.consensus.on_message(sender, message)

    def tick(self) -> None:
        """tick: let the consensus act on elapsed time."""
        self.consensus.tick()

    # ---------------------------------------------------------------------- requests

    def handle_request(self, sealed_request: bytes, reply: Reply) -> None:
        """handle_request: take one sealed client request; ``reply`` gets the sealed answer.

        Raises ``HsmUnavailable`` if down, ``NotLeader`` if not a ready leader (before
        opening anything), and ``WireError``/``DecryptionError`` for bytes that are not a
        request sealed to the fleet key (nothing changes). The answer may come later (once
        the request's commands are chosen and applied) or never (leadership lost).
        """
        if not self.is_up:
            raise HsmUnavailable(f"{self.name} is down")
        if not self.consensus.ready:
            _log.debug("%s: not the ready leader (hint %s)", self.name, self.consensus.leader_hint)
            raise NotLeader(self.index, self.consensus.leader_hint)
        try:
            request, response_key = open_request(self._keys.fleet_keypair, sealed_request)
        except Exception as exc:
            self.requests_rejected += 1
            _log.debug("%s: request refused: %s", self.name, type(exc).__name__)
            raise
        self.requests_handled += 1
        flow = request_flow(request)
        _log.debug("%s: %s request for user %s", self.name, flow, getattr(request, "user", "?"))
        watcher = self._party_observer
        if watcher.active:
            watcher.record("hsm", f"{flow}/request", encode_request(request))
        run = _Run(
            self._rng.random_bytes(16),
            response_key,
            reply,
            self._generation,
            flow=flow,
            observer=watcher,
        )

        def start(result: object) -> None:
            if isinstance(result, Lost) or run.generation != self._generation:
                return
            run.procedure = self._service.procedure(request, self._vault)
            self._run(run, None)

        self._submit(run, Noop(), start)

    def _run(self, run: _Run, value: CommandResult | Rejected | None) -> None:
        """Resume the request's procedure with ``value`` until it yields a command or ends."""
        assert run.procedure is not None
        while True:
            if run.generation != self._generation or not self.consensus.is_leader:
                return
            try:
                step = run.procedure.send(value)
            except StopIteration as done:
                answer: Response = done.value
                run.answer(answer, self._rng)
                return
            if isinstance(step, FaultPoint):
                if step.name in self._armed:
                    self._armed.discard(step.name)
                    if step.answer is not None:
                        run.answer(step.answer, self._rng)
                    self.crash()
                    return
                value = None
                continue
            break

        def resume(result: object) -> None:
            if isinstance(result, Lost) or run.generation != self._generation:
                return
            self._run(run, _as_result(result))

        self._submit(run, step, resume)

    def _submit(self, run: _Run, value: Command | Noop, resume: Callable[[object], None]) -> None:
        """Propose ``value``; call ``resume`` with its result when the rules allow."""
        variant = self.consensus.config.variant
        if not self.consensus.ready:
            return
        request_id = run.request_id
        # Record the slot before proposing: with a quorum of one, ``propose`` resolves at
        # once and the procedure may already be proposing its next command on return.
        run.slot = self.consensus.next_slot
        if isinstance(value, ConsumeAttempt):
            run.charge_slot = run.slot
        if variant == "answer-before-chosen":
            # UNSAFE: the leader's own vote is taken for the quorum's.
            self.consensus.propose(request_id, value, _ignore)
            resume(self._speculate(value, request_id))
        elif variant == "serve-before-catch-up":
            # UNSAFE: the result is computed when the slot is chosen, on a vault that may
            # not have applied the slots before it.
            self.consensus.propose(
                request_id,
                value,
                _ignore,
                on_chosen=lambda _p: resume(self._speculate(value, request_id)),
            )
        else:
            self.consensus.propose(request_id, value, resume)

    def _speculate(self, value: Command | Noop, request_id: bytes) -> object:
        """The result ``value`` would have on a copy of the vault as it is now."""
        app = _VaultApp(Vault(self._vault.policy, dict(self._vault.records_by_user())))
        return app.apply(-1, Proposal(request_id, value))


def _response_name(response: Response) -> str:
    """The answer's type and public counts, for the log (never its secret)."""
    remaining = getattr(response, "remaining", None)
    name = type(response).__name__
    return name if remaining is None else f"{name} ({remaining} left)"


def _as_result(result: object) -> CommandResult | Rejected | None:
    """What the application returned for a command (checked, so a bug cannot slip by)."""
    if result is None or isinstance(
        result,
        Rejected
        | Registered
        | Charged
        | SecretReleased
        | WrongSettled
        | RecordDestroyed
        | RecordRetired,
    ):
        return result
    raise TypeError(f"unexpected application result {type(result).__name__}")


def _ignore(_result: object) -> None:
    return None
