"""impl.hsm: one HSM replica running the vault.

The HSM holds the fleet's HPKE private key (it never leaves: there is no getter), opens
each sealed request, runs the vault and seals the answer to the response key the request
carried. The operator's relay only ever handles the sealed bytes.

The steps of each request (**charge before check**, then the comparison, then the
answer) are in ``impl.service``; this module is their driver for a single HSM: it applies
each command to the vault at once and appends it to the durable log before resuming. A
fault point ``after-charge`` lets a test crash the HSM between the charge and the answer.

With an ``observer`` (``impl.observe``) the HSM records, as party ``hsm``, the opened
request (its ``impl.wire`` encoding, under ``<flow>/request``) and the answer before it is
sealed (``<flow>/response``): what the HSM's tamper boundary sees of each call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from impl.crypto.hpke import FleetKeyPair, FleetPublicKey, KemChoice
from impl.crypto.symmetric import Rng, SystemRng
from impl.errors import HsmUnavailable, VaultError
from impl.messages import Request, Response
from impl.method import Method
from impl.observe import Observer, observer_or_null, request_flow
from impl.passkey import DEFAULT_ORIGIN, DEFAULT_RP_ID
from impl.service import FAULT_POINTS, FaultPoint, Rejected, VaultService
from impl.session import open_request, seal_response
from impl.store import CommandLog, MemoryLog
from impl.vault import Command, CommandResult, Vault, VaultPolicy
from impl.wire import encode_request, encode_response


@dataclass(frozen=True)
class HsmConfig:
    """How an HSM is set up: the vault policy, the session KEM, the WebAuthn party."""

    policy: VaultPolicy = field(default_factory=VaultPolicy)
    kem: KemChoice = KemChoice.X25519
    rp_id: str = DEFAULT_RP_ID
    origin: str = DEFAULT_ORIGIN


@dataclass(frozen=True)
class RecordView:
    """What tests and tools may see of a record: no secret, no verifier."""

    user: str
    method: Method
    registration: int
    attempts: int
    destroyed: bool
    #: destroyed because the record moved to a newer fleet (rotation)
    retired: bool = False


class Hsm:
    """An HSM replica: fleet key, vault, durable command log, volatile sessions."""

    def __init__(
        self,
        config: HsmConfig | None = None,
        *,
        name: str = "hsm[0]",
        log: CommandLog | None = None,
        rng: Rng | None = None,
        keypair: FleetKeyPair | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.config = config or HsmConfig()
        self._observer = observer_or_null(observer)
        self.name = name
        self._rng: Rng = rng or SystemRng()
        self._keypair = keypair or FleetKeyPair.generate(self.config.kem)
        self._log: CommandLog = log if log is not None else MemoryLog()
        self._armed: set[str] = set()
        self._up = True
        self._vault = self._rebuild()
        self._service = VaultService(
            self.config.policy, self._rng, self.config.rp_id, self.config.origin
        )
        self.requests_handled = 0
        self.requests_rejected = 0

    def __repr__(self) -> str:
        state = "up" if self._up else "down"
        return f"Hsm(name={self.name!r}, {state}, {len(self._log)} commands)"

    # ----------------------------------------------------------------- public surface

    @property
    def fleet_public_key(self) -> FleetPublicKey:
        return self._keypair.public_key()

    @property
    def is_up(self) -> bool:
        return self._up

    def handle(self, sealed_request: bytes) -> bytes:
        """Open one sealed request, run it, return the sealed answer.

        Raises ``HsmUnavailable`` when the HSM is down or crashes before answering, and a
        ``WireError``/``DecryptionError`` (changing nothing) for bytes that are not a
        request sealed to this HSM's fleet key.
        """
        if not self._up:
            raise HsmUnavailable(f"{self.name} is down")
        try:
            request, response_key = open_request(self._keypair, sealed_request)
        except Exception:
            self.requests_rejected += 1
            raise
        self.requests_handled += 1
        observer = self._observer
        if observer.active:
            observer.record("hsm", f"{request_flow(request)}/request", encode_request(request))
        pending_crash = False
        try:
            response = self._execute(request)
        except _CrashAfterAnswer as crash:
            response, pending_crash = crash.response, True
        if observer.active:
            observer.record("hsm", f"{request_flow(request)}/response", encode_response(response))
        sealed = seal_response(response_key, response, self._rng)
        if pending_crash:
            self.crash()
        return sealed

    def arm_fault(self, point: str) -> None:
        """Make the next request that reaches ``point`` crash the HSM there."""
        if point not in FAULT_POINTS:
            raise VaultError(f"unknown fault point {point!r}; known: {', '.join(FAULT_POINTS)}")
        self._armed.add(point)

    def crash(self) -> None:
        """Lose everything volatile: the vault in memory, sessions, pending challenges."""
        self._up = False
        self._service.forget()
        self._armed.clear()

    def restart(self) -> None:
        """Come back from the durable log."""
        self._vault = self._rebuild()
        self._up = True

    def records(self) -> list[RecordView]:
        """The vault's records without their secrets (for tests, tools and the CLI)."""
        views = []
        for user in self._vault.users():
            record = self._vault.record(user)
            assert record is not None
            views.append(
                RecordView(
                    record.user,
                    record.method,
                    record.registration,
                    record.attempts,
                    record.destroyed,
                    record.retired,
                )
            )
        return views

    # --------------------------------------------------------------------- internals

    def _rebuild(self) -> Vault:
        vault = Vault(self.config.policy)
        for command in self._log.replay():
            vault.apply(command)
        return vault

    def _apply(self, command: Command) -> CommandResult | Rejected:
        try:
            result = self._vault.apply(command)
        except VaultError as refused:
            return Rejected(str(refused))
        self._log.append(command)
        return result

    def _fault(self, point: str) -> bool:
        if point in self._armed:
            self._armed.discard(point)
            return True
        return False

    def _execute(self, request: Request) -> Response:
        """Run the request's procedure, applying each command at once and durably."""
        procedure = self._service.procedure(request, self._vault)
        try:
            step = next(procedure)
            while True:
                if isinstance(step, FaultPoint):
                    if self._fault(step.name):
                        if step.answer is not None:
                            raise _CrashAfterAnswer(step.answer)
                        self.crash()
                        raise HsmUnavailable(f"{self.name} crashed at {step.name}")
                    step = procedure.send(None)
                else:
                    step = procedure.send(self._apply(step))
        except StopIteration as done:
            response: Response = done.value
            return response


class _CrashAfterAnswer(Exception):
    """Internal: the answer has left, the HSM crashes before recording the charge."""

    def __init__(self, response: Response) -> None:
        super().__init__("crash after answer")
        self.response = response
