"""impl.ota: the client's fleet-key distribution modes, ``ota`` and ``pinned``.

Two ways for a client to know the fleet it talks to:

- ``ota`` (Messenger): the client learns the fleet over the air from the validation bundle
  the fleet serves, and checks the witness's and the operator's signatures on it
  (``OtaEndpoint``, below).
- ``pinned`` (WhatsApp): the fleet-key file ships inside the app (``PinnedFleet``); the
  client checks only that the fleet answering is that very file's fleet and that the
  answering replica signed the answer (``PinnedEndpoint``, at the end of this module).

Both read the same response frames. In ``ota`` mode the client ships with no fleet key,
only its trust anchors (``impl.bundle.ClientTrust``: the witness's and the operator's
keys, and the vendor root for client attestation). It learns the fleet from the
validation bundle the fleet serves, and every answer comes in a **response frame** that
carries the bundle again, the index of the replica that answered and that replica's
Ed25519 signature over the answer::

    frame = version:u8 (= 1) || u32 len || bundle || replica:u16
            || signature:64 || u32 len || sealed answer

    signature = Ed25519(replica identity key,
                        "vaultbench ota answer v1\\n" || SHA-256(bundle) || sealed answer)

``OtaEndpoint`` wraps the operator's transport for an unchanged ``impl.client.Client``:
``connect`` fetches and verifies the bundle (``verify_bundle``: digest, witness
signature, counter-signature, epoch not rolled back, majority, attestation), and each
answer is accepted only if its frame's bundle verifies too (a newer epoch is a rotation
the client records; an older one is refused) and the signing replica's key is in that
bundle's fleet-key file. A refused frame raises a typed error and changes nothing.

``PinnedEndpoint`` wraps the same transport for a client whose app pins one fleet-key
file: an answer is accepted only if its frame's bundle carries exactly the pinned file
(same SHA-256; ``FleetNotPinned`` otherwise: the app needs an update) and the named replica
of that file signed it. The bundle's witness and operator signatures are not checked in
this mode: the trust is in whoever built the app.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from impl.bundle import (
    AcceptedFleet,
    ClientTrust,
    EpochStore,
    MemoryEpochStore,
    PinnedFleet,
    UnknownReplica,
    decode_bundle,
    verify_bundle,
)
from impl.crypto.ed25519 import SigningKey
from impl.crypto.hpke import FleetPublicKey
from impl.crypto.symmetric import sha256
from impl.errors import BundleError, ConfigError, CryptoError, WireError
from impl.fleetkeys import digest

FRAME_VERSION: Final = 1
ANSWER_CONTEXT: Final = b"vaultbench ota answer v1\n"
SIGNATURE_LEN: Final = 64
MAX_PART: Final = 1 << 20


class FrameFormatError(BundleError, WireError):
    """A response frame that is not exactly an encoding (lengths, version, trailing bytes)."""


class ReplicaSignatureInvalid(BundleError):
    """The answer's signature is not the named replica's."""


class FleetNotPinned(BundleError):
    """``pinned`` mode: the answering fleet is not the one the app pins (an app update is
    needed to talk to it)."""


@dataclass(frozen=True)
class ResponseFrame:
    """ResponseFrame: one HSM answer in ``ota`` mode (see the module docstring)."""

    bundle: bytes
    replica: int
    signature: bytes
    answer: bytes

    def encode(self) -> bytes:
        return b"".join(
            (
                bytes([FRAME_VERSION]),
                struct.pack(">I", len(self.bundle)),
                self.bundle,
                struct.pack(">H", self.replica),
                self.signature,
                struct.pack(">I", len(self.answer)),
                self.answer,
            )
        )


def answer_message(bundle: bytes, answer: bytes) -> bytes:
    """answer_message: what the answering replica signs."""
    return ANSWER_CONTEXT + sha256(bundle) + answer


def sign_answer(identity: SigningKey, bundle: bytes, answer: bytes) -> bytes:
    """sign_answer: the replica's signature binding its answer to the bundle it serves."""
    return identity.sign(answer_message(bundle, answer))


def decode_frame(data: bytes) -> ResponseFrame:
    """decode_frame: the frame in ``data``; ``FrameFormatError`` for anything else."""
    data = bytes(data)
    at = 0

    def take(n: int, what: str) -> bytes:
        nonlocal at
        if n > len(data) - at:
            raise FrameFormatError(f"frame ends inside the {what} ({len(data) - at} of {n} bytes)")
        part = data[at : at + n]
        at += n
        return part

    version = take(1, "version")[0]
    if version != FRAME_VERSION:
        raise FrameFormatError(f"frame version {version}, expected {FRAME_VERSION}")
    (bundle_len,) = struct.unpack(">I", take(4, "bundle length"))
    if not 1 <= bundle_len <= MAX_PART:
        raise FrameFormatError(f"bundle length {bundle_len}, expected 1..{MAX_PART}")
    bundle = take(bundle_len, "bundle")
    (replica,) = struct.unpack(">H", take(2, "replica"))
    signature = take(SIGNATURE_LEN, "signature")
    (answer_len,) = struct.unpack(">I", take(4, "answer length"))
    if not 1 <= answer_len <= MAX_PART:
        raise FrameFormatError(f"answer length {answer_len}, expected 1..{MAX_PART}")
    answer = take(answer_len, "answer")
    if at != len(data):
        raise FrameFormatError(f"{len(data) - at} trailing bytes after the frame")
    return ResponseFrame(bundle, replica, signature, answer)


class OtaEndpoint:
    """OtaEndpoint: a client's vault endpoint that learns and checks the fleet over the air.

    ``hello()`` returns the bundle the fleet serves now; ``transport(sealed)`` carries a
    sealed request and returns a response frame. Both are the operator's, untrusted.
    """

    def __init__(
        self,
        hello: Callable[[], bytes],
        transport: Callable[[bytes], bytes],
        trust: ClientTrust,
        epochs: EpochStore,
    ) -> None:
        self._hello = hello
        self._transport = transport
        self._trust = trust
        self._epochs = epochs
        self._fleet: AcceptedFleet | None = None
        self._bundle = b""

    def __repr__(self) -> str:
        epoch = "none" if self._fleet is None else str(self._fleet.epoch)
        return f"OtaEndpoint(epoch {epoch})"

    @property
    def fleet(self) -> AcceptedFleet:
        """The fleet accepted last (``connect`` first)."""
        if self._fleet is None:
            raise BundleError("no fleet accepted yet: connect first")
        return self._fleet

    @property
    def fleet_public_key(self) -> FleetPublicKey:
        return self.fleet.session_key

    def connect(self) -> AcceptedFleet:
        """connect: fetch the fleet's bundle and verify it (typed errors on refusal)."""
        bundle = self._hello()
        self._fleet = verify_bundle(decode_bundle(bundle), self._trust, self._epochs)
        self._bundle = bundle
        return self._fleet

    def __call__(self, sealed_request: bytes) -> bytes:
        """Carry one sealed request; return the sealed answer once its frame checks out."""
        frame = decode_frame(self._transport(sealed_request))
        fleet = self.fleet
        if frame.bundle != self._bundle:
            # A different bundle: verify it in full (a newer epoch is a rotation; an older
            # one is refused as a rollback), against a scratch copy of the epoch store, so
            # that nothing is recorded unless the whole frame checks out.
            scratch = MemoryEpochStore()
            if self._epochs.highest():
                scratch.accept(self._epochs.highest())
            fleet = verify_bundle(decode_bundle(frame.bundle), self._trust, scratch)
        replicas = {r.replica: r.key for r in fleet.file.replicas}
        key = replicas.get(frame.replica)
        if key is None:
            raise UnknownReplica(
                f"replica {frame.replica} is not in the fleet of epoch {fleet.epoch}"
            )
        try:
            key.verify(frame.signature, answer_message(frame.bundle, frame.answer))
        except CryptoError:
            raise ReplicaSignatureInvalid(
                f"the answer's signature is not replica {frame.replica}'s"
            ) from None
        if frame.bundle != self._bundle:
            self._epochs.accept(fleet.epoch)
            self._fleet, self._bundle = fleet, frame.bundle
        return frame.answer


class PinnedEndpoint:
    """PinnedEndpoint: a client's vault endpoint in ``pinned`` mode (WhatsApp's).

    ``pinned`` is the fleet-key file shipped inside the app (``PinnedFleet.from_file``);
    ``transport(sealed)`` carries a sealed request and returns a response frame (the
    operator's, untrusted). An answer is accepted only if

    1. the frame decodes (``FrameFormatError``) and so does its bundle
       (``BundleFormatError``);
    2. the bundle's fleet-key file bytes have the pinned digest (``FleetNotPinned``: the
       fleet answering is not the app's, and only an app update can change that);
    3. the replica index is one of the pinned file's replicas (``UnknownReplica``); and
    4. that replica's Ed25519 signature over ``answer_message(bundle, answer)`` verifies
       (``ReplicaSignatureInvalid``).

    Nothing else about the bundle is checked: not the witness's signature, not the
    operator's counter-signature, not attestation chains, and there is no epoch store.
    The trust is in whoever built the app; rotation is an app update. The endpoint keeps
    no state, so a refused frame changes nothing.
    """

    def __init__(self, transport: Callable[[bytes], bytes], pinned: PinnedFleet) -> None:
        if not isinstance(pinned, PinnedFleet):
            raise ConfigError("pinned: expected a PinnedFleet (PinnedFleet.from_file)")
        self._transport = transport
        self._pinned = pinned
        self._replicas = {r.replica: r.key for r in pinned.file.replicas}

    def __repr__(self) -> str:
        return f"PinnedEndpoint(epoch {self._pinned.epoch})"

    @property
    def fleet(self) -> PinnedFleet:
        """The fleet the app pins."""
        return self._pinned

    @property
    def fleet_public_key(self) -> FleetPublicKey:
        return self._pinned.session_key

    def __call__(self, sealed_request: bytes) -> bytes:
        """Carry one sealed request; return the sealed answer once its frame checks out."""
        frame = decode_frame(self._transport(sealed_request))
        bundle = decode_bundle(frame.bundle)
        pinned = self._pinned
        if digest(bundle.file_bytes) != pinned.digest:
            raise FleetNotPinned(
                f"the answering fleet's fleet-key file (its statement names epoch "
                f"{bundle.statement.epoch}) is not the pinned file of epoch {pinned.epoch}: "
                f"an app update is needed"
            )
        key = self._replicas.get(frame.replica)
        if key is None:
            raise UnknownReplica(
                f"replica {frame.replica} is not in the pinned fleet of epoch {pinned.epoch}"
            )
        try:
            key.verify(frame.signature, answer_message(frame.bundle, frame.answer))
        except CryptoError:
            raise ReplicaSignatureInvalid(
                f"the answer's signature is not replica {frame.replica}'s"
            ) from None
        return frame.answer
