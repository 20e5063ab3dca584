"""HPKE to the fleet key and the vault session: round trips, tampering, typed errors."""

from __future__ import annotations

import pickle

import pytest

from impl.crypto.hpke import (
    FleetKeyError,
    FleetKeyPair,
    KemChoice,
    decode_fleet_public_key,
    hpke_open,
    hpke_seal,
)
from impl.crypto.symmetric import SeededRng
from impl.errors import CryptoError, DecryptionError, WireError
from impl.messages import (
    BeginRecovery,
    PasskeyRecoveryInfo,
    RecoverPassword,
    RegisterPassword,
    Released,
    WrongGuess,
)
from impl.redact import Secret
from impl.session import (
    PAD_BLOCK,
    REQUEST_INFO,
    ResponseKey,
    open_request,
    open_response,
    seal_request,
    seal_response,
)
from impl.wire import FORMAT_VERSION

INFO = b"test info"
KEMS = list(KemChoice)
PUBLIC_LEN = {KemChoice.X25519: 32, KemChoice.MLKEM768_X25519: 1216}
ROOT = b"R" * 32
ACCESS = b"A" * 32


@pytest.fixture(scope="module", params=KEMS, ids=[k.value for k in KEMS])
def keypair(request: pytest.FixtureRequest) -> FleetKeyPair:
    return FleetKeyPair.generate(request.param, SeededRng(7))


def _register() -> RegisterPassword:
    return RegisterPassword("alice", 0, 0, Secret(b""), b"s" * 16, Secret(ACCESS), Secret(ROOT))


# -------------------------------------------------------------------------------- HPKE


def test_default_kem_is_x25519() -> None:
    assert FleetKeyPair.generate().kem is KemChoice.X25519


def test_hpke_round_trip(keypair: FleetKeyPair) -> None:
    public = decode_fleet_public_key(keypair.kem, keypair.public_bytes())
    assert public == keypair.public_key()
    assert len(keypair.public_bytes()) == PUBLIC_LEN[keypair.kem]
    for plaintext in (b"", b"x", bytes(range(256)) * 5):
        ct = hpke_seal(public, plaintext, INFO)
        assert len(ct) == keypair.kem.enc_len + len(plaintext) + 16
        assert hpke_open(keypair, ct, INFO) == plaintext


def test_seeded_generation_is_reproducible(keypair: FleetKeyPair) -> None:
    again = FleetKeyPair.generate(keypair.kem, SeededRng(7))
    other = FleetKeyPair.generate(keypair.kem, SeededRng(8))
    assert again.public_bytes() == keypair.public_bytes()
    assert other.public_bytes() != keypair.public_bytes()


def test_hpke_tampered_ciphertext(keypair: FleetKeyPair) -> None:
    ct = hpke_seal(keypair.public_key(), b"secret payload", INFO)
    for i in (0, keypair.kem.enc_len, len(ct) - 1):
        bad = bytearray(ct)
        bad[i] ^= 0x01
        with pytest.raises(DecryptionError):
            hpke_open(keypair, bytes(bad), INFO)
    for cut in (0, 1, keypair.kem.enc_len, len(ct) - 1):
        with pytest.raises(DecryptionError):
            hpke_open(keypair, ct[:cut], INFO)


def test_hpke_wrong_info(keypair: FleetKeyPair) -> None:
    ct = hpke_seal(keypair.public_key(), b"payload", INFO)
    with pytest.raises(DecryptionError):
        hpke_open(keypair, ct, b"other info")


def test_hpke_wrong_key(keypair: FleetKeyPair) -> None:
    ct = hpke_seal(keypair.public_key(), b"payload", INFO)
    other = FleetKeyPair.generate(keypair.kem, SeededRng(99))
    with pytest.raises(DecryptionError):
        hpke_open(other, ct, INFO)


def test_hpke_wrong_kem() -> None:
    x = FleetKeyPair.generate(KemChoice.X25519, SeededRng(1))
    h = FleetKeyPair.generate(KemChoice.MLKEM768_X25519, SeededRng(1))
    with pytest.raises(DecryptionError):
        hpke_open(x, hpke_seal(h.public_key(), b"p", INFO), INFO)
    with pytest.raises(DecryptionError):
        hpke_open(h, hpke_seal(x.public_key(), b"p", INFO), INFO)
    with pytest.raises(FleetKeyError):
        decode_fleet_public_key(KemChoice.X25519, h.public_bytes())
    with pytest.raises(FleetKeyError):
        decode_fleet_public_key(KemChoice.MLKEM768_X25519, x.public_bytes())


def test_hpke_garbage(keypair: FleetKeyPair) -> None:
    rng = SeededRng(3)
    for n in (0, 5, 47, 48, 100, 1136, 1200, 2000):
        with pytest.raises(DecryptionError):
            hpke_open(keypair, rng.random_bytes(n), INFO)


@pytest.mark.parametrize("kem", KEMS, ids=[k.value for k in KEMS])
def test_decode_public_key_rejects_bad_keys(kem: KemChoice) -> None:
    size = PUBLIC_LEN[kem]
    for n in (0, 31, size - 1, size + 1):
        with pytest.raises(FleetKeyError, match=f"{size} bytes, got {n}"):
            decode_fleet_public_key(kem, bytes(n))
    # The all-zero X25519 point has small order: no shared secret can be computed.
    if kem is KemChoice.X25519:
        with pytest.raises(FleetKeyError):
            decode_fleet_public_key(kem, bytes(32))
    else:
        # 0xFF... is no valid ML-KEM-768 encapsulation key (coefficients >= q).
        with pytest.raises(FleetKeyError):
            decode_fleet_public_key(kem, b"\xff" * size)
    with pytest.raises(FleetKeyError, match="unknown KEM"):
        decode_fleet_public_key("p256", bytes(size))
    assert issubclass(FleetKeyError, WireError)
    assert issubclass(FleetKeyError, CryptoError)


def test_fleet_keypair_hides_private_key(keypair: FleetKeyPair) -> None:
    text = repr(keypair) + str(keypair) + repr(keypair.public_key())
    assert "redacted" in repr(keypair)
    assert keypair.public_bytes().hex() not in text
    assert not any(name for name in dir(keypair) if "private" in name and not name.startswith("_"))
    with pytest.raises(TypeError):
        pickle.dumps(keypair)


# ----------------------------------------------------------------------------- session


def test_session_round_trip(keypair: FleetKeyPair) -> None:
    rng = SeededRng(11)
    for request in (_register(), BeginRecovery("bob"), RecoverPassword("é", 3, 1, Secret(ACCESS))):
        sealed, key = seal_request(keypair.public_key(), request, rng)
        opened, hsm_key = open_request(keypair, sealed)
        assert opened == request
        assert hsm_key == key
        for response in (Released(Secret(ROOT)), WrongGuess(4)):
            answer = seal_response(hsm_key, response, rng)
            assert open_response(key, answer) == response


def test_relay_sees_no_plaintext_and_uniform_lengths(keypair: FleetKeyPair) -> None:
    rng = SeededRng(12)
    sealed, key = seal_request(keypair.public_key(), _register(), rng)
    assert ROOT not in sealed
    assert ACCESS not in sealed
    assert b"alice" not in sealed
    released = seal_response(key, Released(Secret(ROOT)), rng)
    wrong = seal_response(key, WrongGuess(9), rng)
    assert ROOT not in released
    assert len(released) == len(wrong) == 12 + PAD_BLOCK + 16
    small, _ = seal_request(keypair.public_key(), BeginRecovery("alice"), rng)
    assert len(small) == len(sealed)


def test_request_tampering(keypair: FleetKeyPair) -> None:
    rng = SeededRng(13)
    sealed, _ = seal_request(keypair.public_key(), _register(), rng)
    for i in range(0, len(sealed), max(1, len(sealed) // 17)):
        bad = bytearray(sealed)
        bad[i] ^= 0x80
        with pytest.raises(DecryptionError):
            open_request(keypair, bytes(bad))
    with pytest.raises(DecryptionError):
        open_request(keypair, sealed[:-1])
    with pytest.raises(DecryptionError):
        open_request(keypair, sealed + b"\x00")
    other = FleetKeyPair.generate(keypair.kem, SeededRng(1234))
    with pytest.raises(DecryptionError):
        open_request(other, sealed)


def test_request_with_bad_plaintext_is_a_wire_error(keypair: FleetKeyPair) -> None:
    # Correctly sealed to the fleet, but not a session plaintext: authenticates, then
    # fails to decode. Only someone who chose the plaintext can make this.
    for plaintext in (b"", b"k" * 32, b"k" * 32 + bytes(PAD_BLOCK), b"k" * 32 + b"\x80" * 256):
        sealed = hpke_seal(keypair.public_key(), plaintext, REQUEST_INFO)
        with pytest.raises(WireError):
            open_request(keypair, sealed)
    # a response-typed message inside a request
    body = bytes([FORMAT_VERSION, 0x84, 0, 32]) + ROOT + b"\x80"
    body += bytes(-len(body) % PAD_BLOCK)
    with pytest.raises(WireError, match="unknown type tag 0x84"):
        open_request(keypair, hpke_seal(keypair.public_key(), b"k" * 32 + body, REQUEST_INFO))


def test_response_bound_to_response_key(keypair: FleetKeyPair) -> None:
    rng = SeededRng(14)
    _, key_a = seal_request(keypair.public_key(), BeginRecovery("alice"), rng)
    _, key_b = seal_request(keypair.public_key(), BeginRecovery("alice"), rng)
    assert key_a != key_b
    answer = seal_response(key_a, Released(Secret(ROOT)), rng)
    with pytest.raises(DecryptionError):
        open_response(key_b, answer)
    # A relay that cannot open the request cannot forge an answer.
    forged = seal_response(ResponseKey(rng.random_bytes(32)), WrongGuess(0), rng)
    with pytest.raises(DecryptionError):
        open_response(key_a, forged)


def test_response_tampering_and_garbage() -> None:
    rng = SeededRng(15)
    key = ResponseKey(rng.random_bytes(32))
    challenge = PasskeyRecoveryInfo(1, 0, b"c" * 32, b"i" * 16, b"p" * 32)
    answer = seal_response(key, challenge, rng)
    for i in range(len(answer)):
        bad = bytearray(answer)
        bad[i] ^= 0x04
        with pytest.raises(DecryptionError):
            open_response(key, bytes(bad))
    for n in (0, 1, 27, 28, 100, 284):
        with pytest.raises(DecryptionError):
            open_response(key, rng.random_bytes(n))
    with pytest.raises(DecryptionError):
        open_response(key, answer[:-1])


def test_response_key_hides_itself() -> None:
    raw = bytes(range(32))
    key = ResponseKey(raw)
    for text in (repr(key), str(key), f"{key}"):
        assert raw.hex() not in text
        assert str(raw) not in text
        assert "redacted" in text
    with pytest.raises(CryptoError):
        ResponseKey(b"short")
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        hash(key)
