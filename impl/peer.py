"""impl.peer: the authenticated, encrypted envelope of replica-to-replica messages.

Replica messages travel over the operator's network. The operator may drop, delay,
duplicate and reorder them, but must neither forge nor read them: a ``Register`` command
carries the user's secret. So every message is

- **encrypted** with AES-256-GCM under a key derived from the fleet-internal replication
  key (known to the fleet's replicas only, inside their tamper boundary), and
- **signed** with the sender's Ed25519 identity key, which the fleet configuration pins.

Envelope (version 1)::

    header     = version:u8 (= 1) || sender:u16 || receiver:u16 || boot:16 bytes || seq:u64
    envelope   = header || ciphertext || signature:64 bytes
    ciphertext = AES-256-GCM(boot_key, nonce, encode_peer_message(message), aad = header)
    boot_key   = HKDF-SHA256(replication_key, info = CONTEXT || " key" || fleet_id_len:u16
                             || fleet_id || sender:u16 || boot)
    nonce      = 0x00000000 || seq:u64
    signature  = Ed25519(sender key, CONTEXT || " sig" || fleet_id_len:u16 || fleet_id
                         || header || ciphertext)

``boot`` is 16 random bytes a replica draws at every start (``PeerChannel.restart``) and
``seq`` counts its messages from 0 within that boot. Each (sender, boot) has its own AEAD
key, so the counter nonce never repeats under one key; the sequence number also names the
message for replay detection. The signature covers the ciphertext, so a receiver checks it
before it decrypts anything; it is bound to the fleet and the protocol version by the
context string and ``fleet_id``.

Replay windows. A receiver keeps, per (sender, boot), the highest ``seq`` accepted and
which of the ``W = 1024`` sequence numbers at or below it were accepted. A duplicate
within the window is a replay; a message ``W`` or more below the highest
(``seq + W <= highest``) is rejected as a replay too, even if it was never seen (it is too old
to tell). Messages reordered within the window are accepted. Messages from a sender's
*older* boot that were never accepted are accepted: they are merely delayed, and Paxos
tolerates delayed messages. The windows are volatile (``restart`` clears them), so a
receiver that restarts may accept a replay of a message it accepted before: Paxos's safety
does not depend on rejecting replays, only on authenticity (no forged promise or vote);
replay rejection only keeps duplicates cheap.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from impl.crypto.ed25519 import SIGNATURE_LEN, SigningKey, VerifyKey
from impl.crypto.symmetric import (
    GCM_TAG_LEN,
    KEY_LEN,
    Rng,
    aes256gcm_open,
    aes256gcm_seal,
    hkdf_sha256,
)
from impl.errors import ConfigError, CryptoError, PeerAuthError, PeerReplayError, WireError
from impl.peer_messages import PeerMessage
from impl.peer_wire import decode_peer_message, encode_peer_message
from impl.redact import Secret

ENVELOPE_VERSION: Final = 1
CONTEXT: Final = b"vaultbench peer v1"
BOOT_NONCE_LEN: Final = 16
REPLAY_WINDOW: Final = 1024
U16_MAX: Final = 0xFFFF
U64_MAX: Final = 0xFFFFFFFFFFFFFFFF

_HEADER: Final = struct.Struct(">BHH16sQ")
HEADER_LEN: Final = _HEADER.size  # 29
MIN_ENVELOPE_LEN: Final = HEADER_LEN + GCM_TAG_LEN + SIGNATURE_LEN
_NONCE_PREFIX: Final = bytes(4)
_U64: Final = struct.Struct(">Q")
_WINDOW_MASK: Final = (1 << REPLAY_WINDOW) - 1


@dataclass
class PeerCounters:
    """What a channel has done with the envelopes it was asked to open."""

    accepted: int = 0
    rejected_malformed: int = 0
    rejected_forged: int = 0
    rejected_replayed: int = 0


class PeerChannel:
    """One replica's end of the replica network: seals what it sends, opens what it gets.

    Preconditions: ``me`` and every key of ``peers`` are replica indices in 0..65535;
    ``peers`` maps replica indices to their pinned identity keys (it may include ``me``,
    with ``signing_key``'s public key); ``replication_key`` is the fleet's 32-byte
    replication key; ``fleet_id`` is at most 65535 bytes. ``ConfigError`` otherwise.
    The counters survive ``restart`` (they are statistics, not replica state).
    """

    def __init__(
        self,
        me: int,
        signing_key: SigningKey,
        peers: Mapping[int, VerifyKey],
        replication_key: Secret,
        rng: Rng,
        fleet_id: bytes = b"",
    ) -> None:
        if type(me) is not int or not 0 <= me <= U16_MAX:
            raise ConfigError(f"peer channel: replica index must be in 0..{U16_MAX}, got {me!r}")
        if not isinstance(signing_key, SigningKey):
            raise ConfigError("peer channel: signing_key must be a SigningKey")
        if not isinstance(replication_key, Secret) or len(replication_key) != KEY_LEN:
            raise ConfigError(f"peer channel: the replication key must be a {KEY_LEN}-byte Secret")
        if not isinstance(fleet_id, bytes) or len(fleet_id) > U16_MAX:
            raise ConfigError(f"peer channel: fleet_id must be bytes of length at most {U16_MAX}")
        keys: dict[int, VerifyKey] = {}
        for index, key in peers.items():
            if type(index) is not int or not 0 <= index <= U16_MAX:
                raise ConfigError(
                    f"peer channel: replica index must be in 0..{U16_MAX}, got {index!r}"
                )
            if not isinstance(key, VerifyKey):
                raise ConfigError(f"peer channel: key of replica {index} must be a VerifyKey")
            keys[index] = key
        own = signing_key.public_key()
        if keys.setdefault(me, own) != own:
            raise ConfigError(
                f"peer channel: the pinned key of replica {me} is not this replica's key"
            )
        self.me: Final = me
        self.counters: Final = PeerCounters()
        self._signing_key: Final = signing_key
        self._peers: Final[Mapping[int, VerifyKey]] = keys
        self._replication_key: Final = replication_key
        self._rng: Final = rng
        fleet = struct.pack(">H", len(fleet_id)) + fleet_id
        self._key_info: Final = CONTEXT + b" key" + fleet
        self._sig_prefix: Final = CONTEXT + b" sig" + fleet
        # Derived AEAD keys per (sender, boot): a cache, kept across restarts. It and the
        # windows grow by one entry per boot of a peer (a few dozen in a simulation).
        self._boot_keys: dict[tuple[int, bytes], bytes] = {}
        # Volatile per boot: (sender, boot) -> (highest seq accepted, bitmask of accepted
        # seqs: bit i set <=> highest - i accepted, i < REPLAY_WINDOW).
        self._windows: dict[tuple[int, bytes], tuple[int, int]] = {}
        self._boot = b""
        self._seq = 0
        self._send_key = b""
        self.restart()

    def __repr__(self) -> str:
        c = self.counters
        return (
            f"PeerChannel(me={self.me}, {len(self._peers)} replicas, seq={self._seq}, "
            f"accepted={c.accepted}, malformed={c.rejected_malformed}, "
            f"forged={c.rejected_forged}, replayed={c.rejected_replayed})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("PeerChannel cannot be pickled")

    # -------------------------------------------------------------------- counters

    @property
    def accepted(self) -> int:
        return self.counters.accepted

    @property
    def rejected_malformed(self) -> int:
        return self.counters.rejected_malformed

    @property
    def rejected_forged(self) -> int:
        return self.counters.rejected_forged

    @property
    def rejected_replayed(self) -> int:
        return self.counters.rejected_replayed

    @property
    def boot_nonce(self) -> bytes:
        """The 16-byte nonce of this boot (public: it travels in every header)."""
        return self._boot

    # ------------------------------------------------------------------------ boot

    def restart(self) -> None:
        """PeerChannel.restart: a new boot: a fresh random boot nonce from the rng, the
        sequence number back to 0, and every replay window forgotten (they are volatile)."""
        boot = self._rng.random_bytes(BOOT_NONCE_LEN)
        if len(boot) != BOOT_NONCE_LEN:
            raise CryptoError(f"boot nonce: expected {BOOT_NONCE_LEN} bytes, found {len(boot)}")
        self._boot = boot
        self._seq = 0
        self._send_key = self._boot_key(self.me, boot)
        self._boot_keys[(self.me, boot)] = self._send_key
        self._windows.clear()

    def _boot_key(self, sender: int, boot: bytes) -> bytes:
        key = self._boot_keys.get((sender, boot))
        if key is None:
            info = self._key_info + struct.pack(">H", sender) + boot
            key = hkdf_sha256(self._replication_key.reveal(), info)
        return key

    # ------------------------------------------------------------------------ seal

    def seal(self, to: int, message: PeerMessage) -> bytes:
        """PeerChannel.seal: the envelope carrying ``message`` to replica ``to``.

        Preconditions: ``to`` is a configured replica (``ConfigError`` otherwise) and
        ``message`` is encodable (``WireError`` otherwise; nothing consumed then)."""
        if to not in self._peers:
            raise ConfigError(f"peer channel: unknown receiver replica {to!r}")
        payload = encode_peer_message(message)
        seq = self._seq
        if seq > U64_MAX:  # pragma: no cover - 2^64 messages in one boot
            raise ConfigError("peer channel: sequence numbers exhausted; restart")
        header = _HEADER.pack(ENVELOPE_VERSION, self.me, to, self._boot, seq)
        ciphertext = aes256gcm_seal(self._send_key, _NONCE_PREFIX + _U64.pack(seq), payload, header)
        signature = self._signing_key.sign(self._sig_prefix + header + ciphertext)
        self._seq = seq + 1
        return header + ciphertext + signature

    # ------------------------------------------------------------------------ open

    def open(self, data: bytes) -> tuple[int, PeerMessage]:
        """PeerChannel.open: the (sender, message) an envelope carries.

        Checks, in order, and on failure raises, counts the rejection, and changes nothing
        else: framing (``WireError``: too short, wrong version, not bytes); receiver is
        this replica, sender is configured, signature, AEAD (``PeerAuthError``); not a
        replay within the (sender, boot) window, nor older than the window
        (``PeerReplayError``); the payload decodes (``WireError``)."""
        counters = self.counters
        if not isinstance(data, bytes) or len(data) < MIN_ENVELOPE_LEN:
            counters.rejected_malformed += 1
            if not isinstance(data, bytes):
                raise WireError(f"peer envelope: expected bytes, found {type(data).__name__}")
            raise WireError(
                f"peer envelope: expected at least {MIN_ENVELOPE_LEN} bytes, found {len(data)}"
            )
        version, sender, receiver, boot, seq = _HEADER.unpack_from(data)
        if version != ENVELOPE_VERSION:
            counters.rejected_malformed += 1
            raise WireError(f"peer envelope: expected version {ENVELOPE_VERSION}, found {version}")
        if receiver != self.me:
            counters.rejected_forged += 1
            raise PeerAuthError(
                f"peer envelope: addressed to replica {receiver}, this is replica {self.me}"
            )
        key = self._peers.get(sender)
        if key is None:
            counters.rejected_forged += 1
            raise PeerAuthError(f"peer envelope: unknown sender replica {sender}")
        header = data[:HEADER_LEN]
        ciphertext = data[HEADER_LEN:-SIGNATURE_LEN]
        try:
            key.verify(data[-SIGNATURE_LEN:], self._sig_prefix + header + ciphertext)
        except CryptoError:
            counters.rejected_forged += 1
            raise PeerAuthError(
                f"peer envelope: signature of replica {sender} did not verify"
            ) from None
        window_key = (sender, boot)
        boot_key = self._boot_key(sender, boot)
        try:
            payload = aes256gcm_open(boot_key, _NONCE_PREFIX + _U64.pack(seq), ciphertext, header)
        except CryptoError:
            counters.rejected_forged += 1
            raise PeerAuthError(
                f"peer envelope: ciphertext from replica {sender} did not authenticate"
            ) from None
        highest, mask = self._windows.get(window_key, (-1, 0))
        if seq > highest:
            shift = seq - highest
            new_window = (seq, ((mask << shift) | 1) & _WINDOW_MASK if shift < REPLAY_WINDOW else 1)
        elif highest - seq >= REPLAY_WINDOW:
            counters.rejected_replayed += 1
            raise PeerReplayError(
                f"peer envelope: seq {seq} from replica {sender} is {REPLAY_WINDOW} or more "
                f"below the highest accepted ({highest}); treated as a replay"
            )
        else:
            bit = 1 << (highest - seq)
            if mask & bit:
                counters.rejected_replayed += 1
                raise PeerReplayError(
                    f"peer envelope: seq {seq} from replica {sender} was already accepted"
                )
            new_window = (highest, mask | bit)
        try:
            message = decode_peer_message(payload)
        except WireError:
            counters.rejected_malformed += 1
            raise
        self._windows[window_key] = new_window
        self._boot_keys[window_key] = boot_key  # a cache of a pure function of the pair
        counters.accepted += 1
        return sender, message
