"""fuzz.targets: every decoder of ``impl/`` as a fuzz target, and the oracle they share.

The oracle (``probe``): a decoder given any bytes either

- **refuses** them with one of its typed errors (``Target.errors``, each a
  ``VaultbenchError`` subclass), or
- **accepts** them and returns a value whose canonical re-encoding is exactly the input
  (``Target.check``; for authenticated inputs, such as sealed requests or attestation
  chains, whose re-encoding cannot be recomputed without a secret, the input must be one
  of the genuine samples: nothing forged is ever accepted).

Any other exception (``IndexError``, ``ValueError``, ``struct.error``,
``UnicodeDecodeError``, ``KeyError``, ``RecursionError``, ``TypeError`` ...) is a bug:
``probe`` raises ``UnexpectedException`` naming the target, the exception and the input.
The exceptions listed in ``KNOWN_BUGS`` (bugs in files the fuzzing work may not edit, each
with an ``xfail(strict=True)`` test next to the campaigns) are counted as
``known-bug:<type>`` instead, so a campaign can run past them and still report them.

Targets that take several inputs read them from one byte string with ``split`` (u16
length prefixes, lenient: every byte string splits into some parts); targets that take
text read the bytes as UTF-8 with ``surrogateescape`` (invalid bytes become lone
surrogates, which a decoder must refuse too).
"""

from __future__ import annotations

import base64
import functools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fuzz.samples import (
    AT,
    FIRMWARE,
    LOG_ORIGIN,
    Context,
    context,
    envelope,
    pad,
    peer_channel,
)
from impl.attestation import ROLE_IDENTITY, AttestationChain, ChainCheckError, verify_chain
from impl.auditlog import (
    SIGNATURE_PREFIX,
    AuditLog,
    CheckpointError,
    decode_leaf_data,
    note_key_id,
    verify_checkpoint,
)
from impl.blob import BlobHeader, decrypt_backup, read_header
from impl.bundle import BundleFormatError, decode_bundle, encode_bundle
from impl.codes import (
    ParsedCode,
    decode_key64,
    encode_key64,
    format_recovery_code,
    parse_recovery_code,
)
from impl.crypto.ed25519 import VerifyKey
from impl.crypto.hpke import (
    FleetKeyError,
    FleetPublicKey,
    KemChoice,
    decode_fleet_public_key,
    hpke_open,
    hpke_seal,
)
from impl.crypto.p256 import cose_ec2_key, parse_cose_p256_public_key
from impl.crypto.symmetric import aes256gcm_open, aes256gcm_seal, sha256
from impl.crypto.x509 import (
    AttestationDescription,
    AttestedKeyType,
    CertificateFormatError,
    CertificateInfo,
    certificate_from_pem,
    certificate_to_pem,
    decode_attestation_description,
    decode_attested_key,
    encode_attestation_description,
    encode_attested_key,
    parse_certificate,
)
from impl.errors import (
    AuditLogError,
    BlobError,
    BlobFormatError,
    CodeFormatError,
    CryptoError,
    DecryptionError,
    PasskeyError,
    PeerAuthError,
    PeerReplayError,
    StatementError,
    VaultbenchError,
    WireError,
)
from impl.fleetkeys import FleetKeyFile, decode_fleet_key_file, encode_fleet_key_file
from impl.messages import Request, Response
from impl.ota import FrameFormatError, ResponseFrame, decode_frame
from impl.passkey import check_cose_public_key, verify_assertion
from impl.peer import PeerChannel
from impl.peer_messages import PeerMessage
from impl.peer_wire import (
    decode_ballot,
    decode_command,
    decode_durable_state,
    decode_peer_message,
    decode_proposal,
    decode_snapshot,
    encode_ballot,
    encode_command,
    encode_durable_state,
    encode_peer_message,
    encode_proposal,
    encode_snapshot,
)
from impl.redact import Secret
from impl.session import REQUEST_INFO, RESPONSE_AAD, ResponseKey, open_request, open_response
from impl.statement import SignatureMessage, decode_statement
from impl.wire import decode_request, decode_response, encode_request, encode_response

ACCEPTED = "accepted"
UNEXPECTED = "UNEXPECTED"
KNOWN_BUG_PREFIX = "known-bug:"


class UnexpectedException(AssertionError):
    """A decoder raised something other than its typed errors (a bug)."""


class NotCanonical(AssertionError):
    """A decoder accepted bytes that are not the canonical encoding of what it returned."""


@dataclass(frozen=True)
class KnownBug:
    """A bug in a file the fuzzing work may not edit: reported, tracked by an xfail test."""

    target: str
    exception: str
    message: str
    where: str


#: Bugs found by fuzzing in files owned elsewhere, not fixed yet (see
#: ``docs/fuzzing.rst``). Empty: the four found so far were fixed by their owners.
KNOWN_BUGS: tuple[KnownBug, ...] = ()


@dataclass(frozen=True)
class Target:
    """Target: one decoder under the oracle.

    ``decode`` maps the raw input to the decoder's call (splitting or reading text as the
    target's docstring says); ``check`` raises ``NotCanonical`` for an accepted input that
    is not canonical; ``errors`` are the typed errors a refusal may use; ``samples`` are
    genuine inputs (the mutation seeds and the atheris corpus); ``cost`` is how many cheap
    decodes one input costs, roughly (slow targets get fewer examples)."""

    name: str
    decode: Callable[[bytes], object]
    check: Callable[[bytes, object], None]
    errors: tuple[type[VaultbenchError], ...]
    samples: Callable[[], tuple[bytes, ...]]
    cost: int = 1
    doc: str = ""


def probe(target: Target, data: bytes) -> str:
    """probe: run ``target`` on ``data`` under the oracle; the outcome's name
    (``accepted``, the typed error's class name, or ``known-bug:<type>``).

    Raises ``UnexpectedException`` or ``NotCanonical`` on a bug."""
    try:
        value = target.decode(data)
    except target.errors as refused:
        return type(refused).__name__
    except Exception as error:  # the oracle: anything else is a bug
        known = known_bug(target.name, error)
        if known is not None:
            return KNOWN_BUG_PREFIX + type(error).__name__
        raise UnexpectedException(
            f"{target.name}: {type(error).__name__}: {str(error)[:200]} "
            f"(input of {len(data)} bytes: {data[:300]!r})"
        ) from error
    try:
        target.check(data, value)
    except NotCanonical as error:
        if known_bug(target.name, error) is not None:
            return KNOWN_BUG_PREFIX + type(error).__name__
        raise
    except Exception as error:
        raise NotCanonical(
            f"{target.name}: accepted an input whose re-encoding raised "
            f"{type(error).__name__}: {str(error)[:200]} (input: {data[:300]!r})"
        ) from error
    return ACCEPTED


def known_bug(target: str, error: BaseException) -> KnownBug | None:
    """known_bug: the ``KNOWN_BUGS`` entry ``error`` in ``target`` matches, if any."""
    for bug in KNOWN_BUGS:
        if (
            bug.target == target
            and type(error).__name__ == bug.exception
            and bug.message in str(error)
        ):
            return bug
    return None


# ------------------------------------------------------------------------ input framing


def split(data: bytes, parts: int) -> list[bytes]:
    """split: ``parts`` byte strings from one: each but the last is a u16 big-endian length
    and that many bytes (cut short at the end of the input); the last is the rest."""
    out: list[bytes] = []
    pos = 0
    for _ in range(parts - 1):
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        out.append(data[pos : pos + length])
        pos += length
    out.append(data[pos:])
    return out


def join(parts: Sequence[bytes]) -> bytes:
    """join: the inverse of ``split`` (each part but the last at most 65535 bytes)."""
    head = b"".join(struct.pack(">H", len(p)) + p for p in parts[:-1])
    return head + parts[-1]


def text(data: bytes) -> str:
    """text: the input read as UTF-8, invalid bytes as lone surrogates."""
    return data.decode("utf-8", errors="surrogateescape")


def _same(name: str, data: bytes, encoded: bytes) -> None:
    if encoded != data:
        raise NotCanonical(
            f"{name}: accepted {data[:300]!r} but its value re-encodes to {encoded[:300]!r}"
        )


def _padded(name: str, data: bytes, encoded: bytes) -> None:
    if (
        data != pad(encoded)
        and data.startswith(encoded + b"\x80")
        and not data[len(encoded) + 1 :].strip(b"\x00")
    ):
        raise NotCanonical(
            f"{name}: accepted non-minimal padding ({len(data) - len(encoded)} bytes)"
        )
    _same(name, data, pad(encoded))


def _genuine(name: str, data: bytes, genuine: Sequence[bytes]) -> None:
    if data not in genuine:
        raise NotCanonical(
            f"{name}: accepted an input that is none of the genuine ones: {data[:300]!r}"
        )


# ------------------------------------------------------------------------- the targets


def _wire_targets(ctx: Context) -> list[Target]:
    def request(data: bytes, value: object) -> None:
        _same("wire.request", data, encode_request(_as_request(value)))

    def response(data: bytes, value: object) -> None:
        _same("wire.response", data, encode_response(_as_response(value)))

    def peer(encode: Callable[..., bytes], name: str) -> Callable[[bytes, object], None]:
        return lambda data, value: _same(name, data, encode(value))

    return [
        Target("wire.request", decode_request, request, (WireError,), lambda: ctx.requests),
        Target("wire.response", decode_response, response, (WireError,), lambda: ctx.responses),
        Target(
            "peer_wire.message",
            decode_peer_message,
            peer(encode_peer_message, "peer_wire.message"),
            (WireError,),
            lambda: ctx.peer_messages,
        ),
        Target(
            "peer_wire.command",
            decode_command,
            peer(encode_command, "peer_wire.command"),
            (WireError,),
            lambda: ctx.commands,
        ),
        Target(
            "peer_wire.ballot",
            decode_ballot,
            peer(encode_ballot, "peer_wire.ballot"),
            (WireError,),
            lambda: ctx.ballots,
        ),
        Target(
            "peer_wire.proposal",
            decode_proposal,
            peer(encode_proposal, "peer_wire.proposal"),
            (WireError,),
            lambda: ctx.proposals,
        ),
        Target(
            "peer_wire.snapshot",
            decode_snapshot,
            peer(encode_snapshot, "peer_wire.snapshot"),
            (WireError,),
            lambda: ctx.snapshots,
        ),
        Target(
            "peer_wire.durable_state",
            decode_durable_state,
            peer(encode_durable_state, "peer_wire.durable_state"),
            (WireError,),
            lambda: ctx.durable_states,
        ),
    ]


def _as_request(value: object) -> Request:
    return value  # type: ignore[return-value]


def _as_response(value: object) -> Response:
    return value  # type: ignore[return-value]


def _statement_targets(ctx: Context) -> list[Target]:
    log_key = ctx.log_key.public_key()

    def statement(data: bytes, value: object) -> None:
        assert isinstance(value, SignatureMessage)
        _same("statement", data, value.encode())

    def fleet_file(data: bytes, value: object) -> None:
        assert isinstance(value, FleetKeyFile)
        _same("fleetkeys.file", data, encode_fleet_key_file(value))

    def bundle(data: bytes, value: object) -> None:
        _same("bundle", data, encode_bundle(value))  # type: ignore[arg-type]

    def frame(data: bytes, value: object) -> None:
        assert isinstance(value, ResponseFrame)
        _same("ota.frame", data, value.encode())

    def leaf(data: bytes, value: object) -> None:
        _same("auditlog.leaf", data, value.leaf_data())  # type: ignore[attr-defined]

    def checkpoint(data: bytes, value: object) -> None:
        body = value.body().encode("utf-8")  # type: ignore[attr-defined]
        if not data.startswith(body + b"\n"):
            raise NotCanonical("auditlog.checkpoint: the returned body does not open the note")

    def signed_note(body: bytes) -> bytes:
        signature = ctx.log_key.sign(body)
        blob = note_key_id(LOG_ORIGIN, log_key) + signature
        line = f"{SIGNATURE_PREFIX}{LOG_ORIGIN} {base64.b64encode(blob).decode('ascii')}\n"
        return body + b"\n" + line.encode("utf-8")

    def signed_checkpoint(data: bytes, value: object) -> None:
        _same("auditlog.checkpoint.signed", data, value.body().encode("utf-8"))  # type: ignore[attr-defined]

    def log(data: bytes) -> AuditLog:
        entries, note = split(data, 2)
        return AuditLog.decode(entries, note, LOG_ORIGIN, log_key)

    def saved_log(data: bytes, value: object) -> None:
        assert isinstance(value, AuditLog)
        _same("auditlog.log", data, join(value.encode()))

    return [
        Target("statement", decode_statement, statement, (StatementError,), lambda: ctx.statements),
        Target(
            "fleetkeys.file",
            decode_fleet_key_file,
            fleet_file,
            (WireError,),
            lambda: ctx.fleet_files,
            cost=2,
        ),
        Target("bundle", decode_bundle, bundle, (BundleFormatError,), lambda: ctx.bundles, cost=2),
        Target("ota.frame", decode_frame, frame, (FrameFormatError,), lambda: ctx.frames),
        Target("auditlog.leaf", decode_leaf_data, leaf, (StatementError,), lambda: ctx.leaves),
        Target(
            "auditlog.checkpoint",
            lambda data: verify_checkpoint(data, LOG_ORIGIN, log_key),
            checkpoint,
            (CheckpointError,),
            lambda: ctx.checkpoint_notes,
        ),
        Target(
            "auditlog.checkpoint.signed",
            lambda data: verify_checkpoint(signed_note(data), LOG_ORIGIN, log_key),
            signed_checkpoint,
            (CheckpointError,),
            lambda: ctx.checkpoint_bodies,
            doc="the input is a checkpoint body; the harness signs it with the log's key",
        ),
        Target(
            "auditlog.log",
            log,
            saved_log,
            (AuditLogError,),
            lambda: tuple(join(saved) for saved in ctx.saved_logs),
            cost=2,
            doc="split(entries.jsonl, checkpoint)",
        ),
    ]


def _client_targets(ctx: Context) -> list[Target]:
    def key64(data: bytes, value: object) -> None:
        assert isinstance(value, Secret)
        if decode_key64(encode_key64(value)) != value:
            raise NotCanonical("codes.key64: the key's own text decodes to another key")

    def recovery(data: bytes, value: object) -> None:
        assert isinstance(value, ParsedCode)
        again = parse_recovery_code(format_recovery_code(value.code))
        if again.code != value.code or again.corrected or again.filled or again.normalized:
            raise NotCanonical("codes.recovery: the code's own text is not read back as itself")

    def header(data: bytes, value: object) -> None:
        assert isinstance(value, BlobHeader)
        _same("blob.header", data[: len(value)], value.encode())

    def cose(data: bytes, value: object) -> None:
        x, y = parse_cose_p256_public_key(data)
        _same("passkey.cose", data, cose_ec2_key(x, y))

    assertion = ctx.assertion

    def verify(parts: list[bytes], cose_key: bytes, credential_id: bytes) -> int:
        authenticator_data, client_data_json, signature = parts
        return verify_assertion(
            cose_public_key=cose_key,
            credential_id=credential_id,
            authenticator_data=authenticator_data,
            client_data_json=client_data_json,
            signature=signature,
            expected_challenge=assertion.challenge,
            sign_count=0,
        )

    genuine_assertion = join(
        (assertion.authenticator_data, assertion.client_data_json, assertion.signature)
    )
    signer = ctx.assertion_signer
    signer_cose = signer.cose_public_key()

    def signed_assertion(data: bytes) -> int:
        authenticator_data, client_data_json = split(data, 2)
        signature = signer.sign(authenticator_data + sha256(client_data_json))
        return verify([authenticator_data, client_data_json, signature], signer_cose, b"credential")

    def assertion_accepted(data: bytes, value: object) -> None:
        _genuine("passkey.assertion", data, (genuine_assertion,))

    def signed_accepted(data: bytes, value: object) -> None:
        authenticator_data, _ = split(data, 2)
        if len(authenticator_data) < 37 or not authenticator_data[32] & 0x04:
            raise NotCanonical("passkey.assertion.signed: accepted without user verification")
        if value != int.from_bytes(authenticator_data[33:37], "big"):
            raise NotCanonical("passkey.assertion.signed: the new sign count is not the data's")

    root = ctx.blob_root_key
    blobs = ctx.blobs

    def decrypted(data: bytes, value: object) -> None:
        _genuine("blob.decrypt", data, blobs)

    return [
        Target(
            "codes.key64",
            lambda data: decode_key64(text(data)),
            key64,
            (CodeFormatError,),
            lambda: ctx.key64_texts,
            doc="the input is text (UTF-8, invalid bytes as lone surrogates)",
        ),
        Target(
            "codes.recovery",
            lambda data: parse_recovery_code(text(data)),
            recovery,
            (CodeFormatError,),
            lambda: ctx.recovery_texts,
            cost=2,
            doc="the input is text (UTF-8, invalid bytes as lone surrogates)",
        ),
        Target("blob.header", read_header, header, (BlobFormatError,), lambda: ctx.blobs),
        Target(
            "blob.decrypt",
            lambda data: decrypt_backup(root, data),
            decrypted,
            (BlobError,),
            lambda: ctx.blobs,
        ),
        Target("passkey.cose", check_cose_public_key, cose, (PasskeyError,), lambda: ctx.cose_keys),
        Target(
            "passkey.assertion",
            lambda data: verify(split(data, 3), assertion.cose_public_key, assertion.credential_id),
            assertion_accepted,
            (PasskeyError,),
            lambda: (genuine_assertion,),
            cost=3,
            doc="split(authenticator data, client data JSON, signature)",
        ),
        Target(
            "passkey.assertion.signed",
            signed_assertion,
            signed_accepted,
            (PasskeyError,),
            lambda: (join((assertion.authenticator_data, assertion.client_data_json)),),
            cost=3,
            doc="split(authenticator data, client data JSON); the harness signs them",
        ),
    ]


def _session_targets(ctx: Context) -> list[Target]:
    keypair = ctx.fleet_keypair
    public = keypair.public_key()
    response_key: ResponseKey = ctx.response_key

    def opened(data: bytes) -> Request:
        return open_request(keypair, data)[0]

    def sealed_request_accepted(data: bytes, value: object) -> None:
        # Anyone may seal to the fleet key: check what the fleet key opens instead.
        plaintext = hpke_open(keypair, data, REQUEST_INFO)
        _padded("session.request", plaintext[32:], encode_request(_as_request(value)))

    def plaintext_request(data: bytes) -> Request:
        return open_request(keypair, hpke_seal(public, data, REQUEST_INFO))[0]

    def plaintext_request_accepted(data: bytes, value: object) -> None:
        _padded("session.request.plaintext", data[32:], encode_request(_as_request(value)))

    def sealed_response_accepted(data: bytes, value: object) -> None:
        plaintext = aes256gcm_open(response_key.reveal(), data[:12], data[12:], RESPONSE_AAD)
        _padded("session.response", plaintext, encode_response(_as_response(value)))

    nonce = bytes(12)

    def plaintext_response(data: bytes) -> Response:
        sealed = nonce + aes256gcm_seal(response_key.reveal(), nonce, data, RESPONSE_AAD)
        return open_response(response_key, sealed)

    def plaintext_response_accepted(data: bytes, value: object) -> None:
        _padded("session.response.plaintext", data, encode_response(_as_response(value)))

    return [
        Target(
            "session.request",
            opened,
            sealed_request_accepted,
            (DecryptionError, WireError),
            lambda: ctx.sealed_requests,
            cost=2,
        ),
        Target(
            "session.request.plaintext",
            plaintext_request,
            plaintext_request_accepted,
            (WireError,),
            lambda: ctx.request_plaintexts,
            cost=2,
            doc="the input is the plaintext; the harness seals it to the fleet key",
        ),
        Target(
            "session.response",
            lambda data: open_response(response_key, data),
            sealed_response_accepted,
            (DecryptionError, WireError),
            lambda: ctx.sealed_responses,
        ),
        Target(
            "session.response.plaintext",
            plaintext_response,
            plaintext_response_accepted,
            (WireError,),
            lambda: ctx.response_plaintexts,
            doc="the input is the plaintext; the harness seals it under the response key",
        ),
    ]


def _peer_targets(ctx: Context) -> list[Target]:
    def opened(data: bytes) -> tuple[int, PeerMessage]:
        channel = peer_channel(0, ctx)
        return open_checked(channel, data)

    def envelope_accepted(data: bytes, value: object) -> None:
        _genuine("peer.envelope", data, ctx.envelopes)

    sender_key = ctx.peer_signing_keys[1]

    def payload(data: bytes) -> tuple[int, PeerMessage]:
        boot = sha256(data)[:16]
        sealed = envelope(1, 0, boot, 0, data, sender_key, ctx.replication_key)
        return open_checked(peer_channel(0, ctx), sealed)

    def payload_accepted(data: bytes, value: object) -> None:
        assert isinstance(value, tuple)
        _same("peer.envelope.payload", data, encode_peer_message(value[1]))

    return [
        Target(
            "peer.envelope",
            opened,
            envelope_accepted,
            (WireError, PeerAuthError, PeerReplayError),
            lambda: ctx.envelopes,
            doc="a fresh receiving channel (replica 0) per input; checks the counters",
        ),
        Target(
            "peer.envelope.payload",
            payload,
            payload_accepted,
            (WireError,),
            lambda: ctx.peer_messages,
            doc="the input is the payload of an authentic envelope from replica 1",
        ),
    ]


def open_checked(channel: PeerChannel, data: bytes) -> tuple[int, PeerMessage]:
    """open_checked: ``channel.open(data)``; on a refusal, check that exactly one
    rejection counter went up and nothing else about the channel changed."""
    before = _channel_state(channel)
    try:
        return channel.open(data)
    except (WireError, PeerAuthError, PeerReplayError):
        after = _channel_state(channel)
        counters_before, rest_before = before
        counters_after, rest_after = after
        went_up = [a - b for a, b in zip(counters_after, counters_before, strict=True)]
        if rest_after != rest_before or sorted(went_up) != [0, 0, 0, 1] or went_up[0]:
            raise UnexpectedException(
                f"peer.envelope: a refused envelope changed the channel "
                f"(counters {counters_before} -> {counters_after})"
            ) from None
        raise


def _channel_state(channel: PeerChannel) -> tuple[tuple[int, int, int, int], object]:
    c = channel.counters
    counters = (c.accepted, c.rejected_malformed, c.rejected_forged, c.rejected_replayed)
    # The replay windows and the boot: what an accepted envelope changes.
    return counters, (dict(channel._windows), channel.boot_nonce)


def _certificate_targets(ctx: Context) -> list[Target]:
    def certificate(data: bytes, value: object) -> None:
        assert isinstance(value, CertificateInfo)
        _same("x509.certificate", data, value.der)

    def pem(data: bytes, value: object) -> None:
        assert isinstance(value, bytes)
        _same("x509.pem", data.strip(), certificate_to_pem(value).encode("ascii").strip())

    def description(data: bytes, value: object) -> None:
        assert isinstance(value, AttestationDescription)
        encoded = encode_attestation_description(
            value.role, value.replica, value.firmware_measurement
        )
        _same("x509.description", data, encoded)

    def attested(data: bytes, value: object) -> None:
        assert isinstance(value, tuple)
        key_type, key = value
        assert isinstance(key_type, AttestedKeyType)
        _same("x509.attested_key", data, encode_attested_key(key_type, key))

    def chain(data: bytes, value: object) -> None:
        assert isinstance(value, AttestationChain)
        _same("attestation.chain", data, value.encode())

    def verified(data: bytes, value: object) -> None:
        _genuine("attestation.verify", data, ctx.chains[:1])

    root = ctx.ca_root_der
    allowed = frozenset({FIRMWARE})
    return [
        Target(
            "x509.certificate",
            lambda data: parse_certificate(data, "fuzzed"),
            certificate,
            (CertificateFormatError,),
            lambda: ctx.certificates,
            cost=2,
        ),
        Target(
            "x509.pem",
            lambda data: certificate_from_pem(data, "fuzzed"),
            pem,
            (CertificateFormatError,),
            lambda: ctx.pems,
            cost=2,
        ),
        Target(
            "x509.description",
            decode_attestation_description,
            description,
            (CertificateFormatError,),
            lambda: ctx.descriptions,
        ),
        Target(
            "x509.attested_key",
            decode_attested_key,
            attested,
            (CertificateFormatError,),
            lambda: ctx.attested_keys,
        ),
        Target(
            "attestation.chain",
            AttestationChain.decode,
            chain,
            (ChainCheckError,),
            lambda: ctx.chains,
        ),
        Target(
            "attestation.verify",
            lambda data: verify_chain(
                data, ctx.chain_key, ROLE_IDENTITY, root, allowed, AT, replica=0
            ),
            verified,
            (ChainCheckError,),
            lambda: ctx.chains[:1],
            cost=3,
        ),
    ]


def _key_targets(ctx: Context) -> list[Target]:
    def fleet_key(name: str) -> Callable[[bytes, object], None]:
        def check(data: bytes, value: object) -> None:
            assert isinstance(value, FleetPublicKey)
            _same(name, data, value.public_bytes())

        return check

    def verify_key(data: bytes, value: object) -> None:
        assert isinstance(value, VerifyKey)
        _same("ed25519.verify_key", data, value.raw())

    return [
        Target(
            "hpke.x25519",
            lambda data: decode_fleet_public_key(KemChoice.X25519, data),
            fleet_key("hpke.x25519"),
            (FleetKeyError,),
            lambda: ctx.x25519_public_keys,
        ),
        Target(
            "hpke.hybrid",
            lambda data: decode_fleet_public_key(KemChoice.MLKEM768_X25519, data),
            fleet_key("hpke.hybrid"),
            (FleetKeyError,),
            lambda: ctx.hybrid_public_keys,
            cost=2,
        ),
        Target(
            "ed25519.verify_key",
            VerifyKey.from_bytes,
            verify_key,
            (CryptoError,),
            lambda: ctx.ed25519_public_keys,
        ),
    ]


@functools.cache
def all_targets() -> tuple[Target, ...]:
    """all_targets: every decoder target, in a fixed order (the atheris dispatch byte is
    the index in this tuple, modulo its length)."""
    ctx = context()
    targets = [
        *_wire_targets(ctx),
        *_statement_targets(ctx),
        *_client_targets(ctx),
        *_session_targets(ctx),
        *_peer_targets(ctx),
        *_certificate_targets(ctx),
        *_key_targets(ctx),
    ]
    names = [t.name for t in targets]
    assert len(set(names)) == len(names), "target names must be unique"
    return tuple(targets)


def target(name: str) -> Target:
    """target: the target called ``name``."""
    for candidate in all_targets():
        if candidate.name == name:
            return candidate
    raise KeyError(name)
