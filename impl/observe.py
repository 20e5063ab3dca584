"""impl.observe: the ghost observer of I1 ``no-single-party-decrypts``: who sees which bytes.

An ``Observer`` records a ``Sighting`` (party, label, bytes) for every byte string a
party sees or stores during a real run of the implementation: the operator's relay, the
storage provider, the witness, the vendor, and the HSMs. A test then searches the
sightings for secrets (``Observer.leaks``): on the safe design no secret reaches a
non-HSM party; each unsafe client variant (``impl.client.LEAK_VARIANTS``) leaks.

The observer is **ghost** state: it changes nothing the parties do, and a party's code
never reads it. Every hook takes an optional observer and defaults to ``NO_OBSERVER``, a
no-op whose ``active`` is False, so a hook that must encode something first tests
``active`` and costs nothing when no one observes.

Parties (``PARTIES``) and labels (``LABELS``) are closed lists, so a model can list them
too and a new flow cannot slip by unlisted (``record`` refuses anything else):

===========================  ============================================================
label                        who records it, and what
===========================  ============================================================
``backup/blob``              storage: each backup blob it stores (``BlobStorage``)
``<flow>/request``           operator: the sealed request it relays; hsm: the opened
                             request (``impl.wire.encode_request``)
``<flow>/response``          operator: the sealed answer (or ``ota`` response frame) it
                             relays; hsm: the answer before sealing (``encode_response``)
``bundle``                   operator: the validation bundle it builds and serves
``peer/message``             operator: every replica-to-replica envelope it carries
``ceremony/fleet-key-file``  operator (publishes it) and witness (signs its digest)
``witness/statement``        witness: the statement bytes it signs
``witness/evidence``         witness, ``vetting`` policy only: the evidence it checks
``vendor/attestation``       vendor: each public key its devices attest
``relay/access-key``         operator, unsafe ``password-to-relay`` client only
===========================  ============================================================

``<flow>`` is the request's type (``request_flow``): ``register-password``,
``register-passkey``, ``begin-recovery``, ``recover-password``, ``recover-passkey``,
``retire-record``; an answer carries its request's flow.

How the operator's sightings get their labels: the relay sees ciphertext, so it cannot
tell which request it carries, but the ghost can. The client tags each sealed request
with its flow (``tag_request``) before handing it to the relay; the relay
(``ObservedRelay`` in front of a single ``Hsm``, ``impl.sim.world.World``'s front end for
a fleet) records the exact bytes it receives and returns under that flow
(``relayed_request``/``relayed_response``). Bytes no observed client tagged (an
attacker's own requests) are counted in ``unlabelled`` rather than recorded.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from impl.messages import (
    BeginRecovery,
    RecoverPasskey,
    RecoverPassword,
    RegisterPasskey,
    RegisterPassword,
    Request,
    RetireRecord,
)

PARTIES: Final[tuple[str, ...]] = ("operator", "storage", "witness", "vendor", "hsm")

FLOWS: Final[tuple[str, ...]] = (
    "register-password",
    "register-passkey",
    "begin-recovery",
    "recover-password",
    "recover-passkey",
    "retire-record",
)

LABELS: Final[tuple[str, ...]] = (
    "backup/blob",
    *(f"{flow}/{leg}" for flow in FLOWS for leg in ("request", "response")),
    "bundle",
    "peer/message",
    "ceremony/fleet-key-file",
    "witness/statement",
    "witness/evidence",
    "vendor/attestation",
    "relay/access-key",
)

_FLOW_OF: Final[dict[type, str]] = {
    RegisterPassword: "register-password",
    RegisterPasskey: "register-passkey",
    BeginRecovery: "begin-recovery",
    RecoverPassword: "recover-password",
    RecoverPasskey: "recover-passkey",
    RetireRecord: "retire-record",
}


def request_flow(request: Request) -> str:
    """request_flow: the flow name of ``request`` (``register-password``, ...)."""
    try:
        return _FLOW_OF[type(request)]
    except KeyError:
        raise TypeError(f"no flow is named for request type {type(request).__name__}") from None


@dataclass(frozen=True, repr=False)
class Sighting:
    """Sighting: ``party`` saw (or stored) ``data``, as ``label``; the repr hides the bytes."""

    party: str
    label: str
    data: bytes

    def __repr__(self) -> str:
        return f"Sighting(party={self.party!r}, label={self.label!r}, <{len(self.data)} bytes>)"

    __str__ = __repr__


def encodings(secret: bytes) -> tuple[bytes, ...]:
    """encodings: the forms in which ``secret`` is searched for in a sighting.

    The raw bytes; lower- and upper-case hex; and standard and URL-safe base64 at each of
    the three alignments a secret can have inside a longer base64 text (only the
    characters that depend on the secret alone are kept, and padding is dropped).
    """
    forms = [secret, secret.hex().encode(), secret.hex().upper().encode()]
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(bytes(shift) + secret + bytes(3))
            # the first characters mix the prefix's bits, the last the suffix's
            start = -(-8 * shift // 6)
            end = (8 * (shift + len(secret))) // 6
            core = text[start:end]
            if len(core) >= 8:
                forms.append(core)
    return tuple(dict.fromkeys(forms))


class Observer:
    """Observer: records every ``Sighting``; see the module docstring."""

    #: hooks that must compute something before recording check this first
    active: bool = True

    def __init__(self) -> None:
        self._sightings: list[Sighting] = []
        self._flows: dict[bytes, str] = {}
        #: sealed requests a relay carried that no observed client had tagged
        self.unlabelled = 0

    def __repr__(self) -> str:
        return f"Observer(<{len(self._sightings)} sightings>)"

    # -------------------------------------------------------------------- recording

    def record(self, party: str, label: str, data: bytes) -> None:
        """record: ``party`` saw ``data`` as ``label`` (both from the closed lists)."""
        if party not in PARTIES:
            raise ValueError(f"unknown party {party!r}; known: {', '.join(PARTIES)}")
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r}; known: {', '.join(LABELS)}")
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"a sighting is bytes, got {type(data).__name__}")
        self._sightings.append(Sighting(party, label, bytes(data)))

    def tag_request(self, sealed: bytes, flow: str) -> None:
        """tag_request (ghost, the client): ``sealed`` carries a request of ``flow``."""
        if flow not in FLOWS:
            raise ValueError(f"unknown flow {flow!r}; known: {', '.join(FLOWS)}")
        self._flows[bytes(sealed)] = flow

    def relayed_request(self, sealed: bytes) -> str | None:
        """relayed_request (the operator's relay): record the request bytes it received;
        returns their flow, to label the answer with (None if no client tagged them)."""
        flow = self._flows.get(bytes(sealed))
        if flow is None:
            self.unlabelled += 1
            return None
        self.record("operator", f"{flow}/request", sealed)
        return flow

    def relayed_response(self, flow: str | None, answer: bytes) -> None:
        """relayed_response (the operator's relay): record the answer bytes it returned."""
        if flow is not None:
            self.record("operator", f"{flow}/response", answer)

    # ---------------------------------------------------------------------- queries

    def sightings(self, party: str | None = None) -> list[Sighting]:
        """sightings: everything recorded (for ``party`` only, if given), in order."""
        return [s for s in self._sightings if party is None or s.party == party]

    def parties(self) -> set[str]:
        """parties: the parties that saw anything."""
        return {s.party for s in self._sightings}

    def labels(self, party: str) -> set[str]:
        """labels: the labels of what ``party`` saw."""
        return {s.label for s in self._sightings if s.party == party}

    def leaks(self, secret: bytes, party: str | None = None) -> list[Sighting]:
        """leaks: the sightings (of ``party``, if given) that contain ``secret`` in any of
        its ``encodings``."""
        forms = encodings(bytes(secret))
        return [s for s in self.sightings(party) if any(form in s.data for form in forms)]


class NullObserver(Observer):
    """NullObserver: the default: records nothing, and says so (``active`` is False)."""

    active = False

    def __repr__(self) -> str:
        return "NullObserver()"

    def record(self, party: str, label: str, data: bytes) -> None:
        return None

    def tag_request(self, sealed: bytes, flow: str) -> None:
        return None

    def relayed_request(self, sealed: bytes) -> str | None:
        return None

    def relayed_response(self, flow: str | None, answer: bytes) -> None:
        return None


#: The module-level default: hooks record into it at no cost.
NO_OBSERVER: Final[Observer] = NullObserver()


def observer_or_null(observer: Observer | None) -> Observer:
    """observer_or_null: ``observer``, or ``NO_OBSERVER`` for None."""
    return NO_OBSERVER if observer is None else observer


class ObservedRelay:
    """ObservedRelay: the operator's relay in front of a vault endpoint (e.g. a single
    ``Hsm.handle``): passes the bytes on unchanged and records what it carried."""

    def __init__(self, observer: Observer, transport: Callable[[bytes], bytes]) -> None:
        self._observer = observer
        self._transport = transport

    def __repr__(self) -> str:
        return f"ObservedRelay({self._observer!r})"

    def __call__(self, sealed: bytes) -> bytes:
        flow = self._observer.relayed_request(sealed)
        answer = self._transport(sealed)
        self._observer.relayed_response(flow, answer)
        return answer


class BlobStorage:
    """BlobStorage: the storage provider (iCloud, Google Drive): keeps each user's latest
    backup blob, and records every blob it is given (``storage``, ``backup/blob``)."""

    def __init__(self, observer: Observer | None = None) -> None:
        self._observer = observer_or_null(observer)
        self._blobs: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"BlobStorage(<{len(self._blobs)} users>)"

    def put(self, user: str, blob: bytes) -> None:
        self._observer.record("storage", "backup/blob", blob)
        self._blobs[user] = bytes(blob)

    def get(self, user: str) -> bytes:
        """get: the user's latest blob (``KeyError`` if none)."""
        return self._blobs[user]


__all__ = [
    "FLOWS",
    "LABELS",
    "NO_OBSERVER",
    "PARTIES",
    "BlobStorage",
    "NullObserver",
    "ObservedRelay",
    "Observer",
    "Sighting",
    "encodings",
    "observer_or_null",
    "request_flow",
]
