"""The software WebAuthn authenticator, its PRF, and the HSM-side assertion verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pickle
import struct
from typing import Any

import cbor2
import pytest

from impl.crypto.p256 import P256CredentialKey, parse_cose_p256_public_key
from impl.crypto.symmetric import SeededRng
from impl.errors import CryptoError, PasskeyError
from impl.passkey import (
    DEFAULT_ORIGIN,
    DEFAULT_RP_ID,
    Assertion,
    Credential,
    SoftwareAuthenticator,
    check_cose_public_key,
    verify_assertion,
)

CHALLENGE = b"\x11" * 32
PRF_SALT = b"\x22" * 32


@pytest.fixture
def device() -> SoftwareAuthenticator:
    return SoftwareAuthenticator(SeededRng(42))


@pytest.fixture
def credential(device: SoftwareAuthenticator) -> Credential:
    return device.create_credential(DEFAULT_RP_ID, b"user-alice")


def _assert(device: SoftwareAuthenticator, credential: Credential, **kw: Any) -> Assertion:
    args: dict[str, Any] = {
        "rp_id": DEFAULT_RP_ID,
        "origin": DEFAULT_ORIGIN,
        "challenge": CHALLENGE,
        "prf_salt": PRF_SALT,
    }
    args.update(kw)
    return device.get_assertion(
        credential.credential_id,
        args["rp_id"],
        args["origin"],
        args["challenge"],
        args["prf_salt"],
    )


def _verify(credential: Credential, assertion: Assertion, **kw: Any) -> int:
    args: dict[str, Any] = {
        "cose_public_key": credential.cose_public_key,
        "credential_id": assertion.credential_id,
        "authenticator_data": assertion.authenticator_data,
        "client_data_json": assertion.client_data_json,
        "signature": assertion.signature,
        "expected_challenge": CHALLENGE,
        "sign_count": 0,
    }
    args.update(kw)
    return verify_assertion(**args)


def _flip(data: bytes, i: int) -> bytes:
    out = bytearray(data)
    out[i] ^= 0x01
    return bytes(out)


# ------------------------------------------------------------------------ the device


def test_cose_key_shape(credential: Credential) -> None:
    decoded = cbor2.loads(credential.cose_public_key)
    assert decoded[1] == 2
    assert decoded[3] == -7
    assert decoded[-1] == 1
    assert len(decoded[-2]) == 32
    assert len(decoded[-3]) == 32
    assert list(decoded) == [1, 3, -1, -2, -3]  # CTAP2 canonical order
    assert parse_cose_p256_public_key(credential.cose_public_key) == (decoded[-2], decoded[-3])


def test_authenticator_data_and_client_data(
    device: SoftwareAuthenticator, credential: Credential
) -> None:
    first = _assert(device, credential)
    second = _assert(device, credential)
    data = first.authenticator_data
    assert len(data) == 37
    assert data[:32] == hashlib.sha256(DEFAULT_RP_ID.encode()).digest()
    assert data[32] == 0x05  # UP | UV
    assert struct.unpack(">I", data[33:])[0] == 1
    assert struct.unpack(">I", second.authenticator_data[33:])[0] == 2
    client = json.loads(first.client_data_json)
    assert client == {
        "type": "webauthn.get",
        "challenge": base64.urlsafe_b64encode(CHALLENGE).rstrip(b"=").decode(),
        "origin": DEFAULT_ORIGIN,
        "crossOrigin": False,
    }


def test_prf_is_the_webauthn_prf_over_hmac_secret(
    device: SoftwareAuthenticator, credential: Credential
) -> None:
    a1 = _assert(device, credential)
    a2 = _assert(device, credential, challenge=b"\x33" * 32)
    assert a1.prf_output == a2.prf_output  # deterministic per (credential, salt)
    assert device.prf(credential.credential_id, PRF_SALT) == a1.prf_output
    other_salt = _assert(device, credential, prf_salt=b"\x44" * 32)
    assert other_salt.prf_output != a1.prf_output
    other_cred = device.create_credential(DEFAULT_RP_ID, b"user-alice")
    assert _assert(device, other_cred).prf_output != a1.prf_output
    # The same seed gives the same credential and PRF: CredRandom is per credential.
    twin = SoftwareAuthenticator(SeededRng(42))
    twin_cred = twin.create_credential(DEFAULT_RP_ID, b"user-alice")
    assert twin_cred == credential
    assert twin.prf(twin_cred.credential_id, PRF_SALT) == a1.prf_output
    # It is HMAC-SHA256(CredRandom, SHA-256("WebAuthn PRF" || 0x00 || salt)): 32 bytes,
    # and never inside anything sent to the vault.
    assert len(a1.prf_output) == 32
    salt = hashlib.sha256(b"WebAuthn PRF\x00" + PRF_SALT).digest()
    assert salt not in a1.authenticator_data + a1.client_data_json
    prf = a1.prf_output.reveal()
    assert prf not in a1.authenticator_data + a1.client_data_json + a1.signature
    assert hmac.compare_digest(prf, a1.prf_output.reveal())


def test_device_refuses_foreign_rp_origin_and_unknown_credential(
    device: SoftwareAuthenticator, credential: Credential
) -> None:
    with pytest.raises(PasskeyError):
        _assert(device, credential, rp_id="evil.example")
    with pytest.raises(PasskeyError, match="not an https origin"):
        _assert(device, credential, origin="https://evil.example")
    with pytest.raises(PasskeyError, match="not an https origin"):
        _assert(device, credential, origin="http://backup.vaultbench.example")
    with pytest.raises(PasskeyError):
        device.get_assertion(b"nope", DEFAULT_RP_ID, DEFAULT_ORIGIN, CHALLENGE, PRF_SALT)
    with pytest.raises(PasskeyError):
        device.prf(b"nope", PRF_SALT)
    with pytest.raises(PasskeyError):
        device.create_credential(DEFAULT_RP_ID, b"")


def test_reprs_hide_keys(device: SoftwareAuthenticator, credential: Credential) -> None:
    assertion = _assert(device, credential)
    key = P256CredentialKey.generate(SeededRng(5))
    for text in (repr(device), str(device), repr(assertion), repr(key)):
        assert "redacted" in text
    prf_hex = assertion.prf_output.reveal().hex()
    assert prf_hex not in repr(assertion)
    assert str(assertion.prf_output.reveal()) not in repr(assertion)
    scalar = key._private.private_numbers().private_value
    assert str(scalar) not in repr(key)
    assert f"{scalar:x}" not in repr(key)
    for obj in (device, key):
        with pytest.raises(TypeError):
            pickle.dumps(obj)


# ---------------------------------------------------------------------- the verifier


def test_valid_assertion_verifies(device: SoftwareAuthenticator, credential: Credential) -> None:
    first = _assert(device, credential)
    assert _verify(credential, first) == 1
    second = _assert(device, credential)
    assert _verify(credential, second, sign_count=1) == 2


def test_replayed_counter_rejected(device: SoftwareAuthenticator, credential: Credential) -> None:
    assertion = _assert(device, credential)
    assert _verify(credential, assertion) == 1
    with pytest.raises(PasskeyError, match="sign count"):
        _verify(credential, assertion, sign_count=1)


def test_wrong_challenge(device: SoftwareAuthenticator, credential: Credential) -> None:
    assertion = _assert(device, credential)
    with pytest.raises(PasskeyError, match="challenge"):
        _verify(credential, assertion, expected_challenge=b"\x12" * 32)
    with pytest.raises(PasskeyError, match="at least 16"):
        _verify(credential, assertion, expected_challenge=b"")


def test_wrong_origin(device: SoftwareAuthenticator, credential: Credential) -> None:
    assertion = _assert(device, credential)
    with pytest.raises(PasskeyError, match="origin"):
        _verify(credential, assertion, origin="https://other.vaultbench.example")
    # A subdomain is a legitimate origin for the device, but not the one the vault expects.
    sub = _assert(device, credential, origin="https://www.backup.vaultbench.example")
    with pytest.raises(PasskeyError, match="origin"):
        _verify(credential, sub)


def test_wrong_rp(device: SoftwareAuthenticator, credential: Credential) -> None:
    assertion = _assert(device, credential)
    with pytest.raises(PasskeyError, match="RP ID"):
        _verify(credential, assertion, rp_id="vaultbench.example")


def test_tampered_authenticator_data(device: SoftwareAuthenticator, credential: Credential) -> None:
    assertion = _assert(device, credential)
    data = assertion.authenticator_data
    for i in (0, 31, 32, 36):
        with pytest.raises(PasskeyError):
            _verify(credential, assertion, authenticator_data=_flip(data, i))
    for bad in (b"", data[:36], data + b"\x00"):
        with pytest.raises(PasskeyError):
            _verify(credential, assertion, authenticator_data=bad)
    # Clearing UV (and re-signing is impossible): the verifier requires UV.
    no_uv = data[:32] + b"\x01" + data[33:]
    with pytest.raises(PasskeyError):
        _verify(credential, assertion, authenticator_data=no_uv)


def test_tampered_client_data(device: SoftwareAuthenticator, credential: Credential) -> None:
    assertion = _assert(device, credential)
    cdj = assertion.client_data_json
    cross = cdj.replace(b'"crossOrigin":false', b'"crossOrigin":true')
    for bad in (_flip(cdj, len(cdj) // 2), cross, b"", b"not json", b"[]", b"{}"):
        with pytest.raises(PasskeyError):
            _verify(credential, assertion, client_data_json=bad)
    create = cdj.replace(b"webauthn.get", b"webauthn.create")
    with pytest.raises(PasskeyError):
        _verify(credential, assertion, client_data_json=create)


def test_cross_origin_refused_even_if_signed(
    device: SoftwareAuthenticator, credential: Credential
) -> None:
    # Sign a crossOrigin:true client data with the real key: the library accepts it,
    # our own check refuses it.
    stored = device._credentials[credential.credential_id]
    cdj = json.dumps(
        {
            "type": "webauthn.get",
            "challenge": base64.urlsafe_b64encode(CHALLENGE).rstrip(b"=").decode(),
            "origin": DEFAULT_ORIGIN,
            "crossOrigin": True,
        }
    ).encode()
    auth = hashlib.sha256(DEFAULT_RP_ID.encode()).digest() + b"\x05" + struct.pack(">I", 9)
    sig = stored.key.sign(auth + hashlib.sha256(cdj).digest())
    assertion = _assert(device, credential)
    with pytest.raises(PasskeyError, match="cross-origin"):
        _verify(credential, assertion, authenticator_data=auth, client_data_json=cdj, signature=sig)


def test_tampered_signature(device: SoftwareAuthenticator, credential: Credential) -> None:
    assertion = _assert(device, credential)
    sig = assertion.signature
    for bad in (_flip(sig, len(sig) - 1), _flip(sig, 0), sig[:-1], b"", b"\x30\x00"):
        with pytest.raises(PasskeyError):
            _verify(credential, assertion, signature=bad)


def test_other_credentials_key(device: SoftwareAuthenticator, credential: Credential) -> None:
    assertion = _assert(device, credential)
    other = device.create_credential(DEFAULT_RP_ID, b"user-mallory")
    with pytest.raises(PasskeyError, match="signature"):
        _verify(other, assertion)
    stranger = SoftwareAuthenticator(SeededRng(7)).create_credential(DEFAULT_RP_ID, b"x")
    with pytest.raises(PasskeyError):
        _verify(stranger, assertion)


def test_bad_public_keys_and_inputs(device: SoftwareAuthenticator, credential: Credential) -> None:
    assertion = _assert(device, credential)
    decoded = cbor2.loads(credential.cose_public_key)
    off_curve = dict(decoded)
    off_curve[-3] = bytes(32)
    eddsa = dict(decoded)
    eddsa[3] = -8
    for bad in (
        b"",
        b"\x04" + b"\x00" * 64,  # raw uncompressed point, which the library would take
        b"\xff\xff",
        cbor2.dumps([1, 2]),
        cbor2.dumps(off_curve, canonical=True),
        cbor2.dumps(eddsa, canonical=True),
        cbor2.dumps(dict(reversed(decoded.items()))),  # not in canonical order
    ):
        with pytest.raises(PasskeyError):
            check_cose_public_key(bad)
        with pytest.raises(PasskeyError):
            _verify(credential, assertion, cose_public_key=bad)
    with pytest.raises(CryptoError):
        parse_cose_p256_public_key(b"\xa0")
    with pytest.raises(PasskeyError):
        _verify(credential, assertion, sign_count=-1)
    with pytest.raises(PasskeyError):
        _verify(credential, assertion, credential_id=b"")


def test_p256_key_is_deterministic_from_rng() -> None:
    a = P256CredentialKey.generate(SeededRng(1))
    b = P256CredentialKey.generate(SeededRng(1))
    assert a.cose_public_key() == b.cose_public_key()
    assert a.sign(b"m") == b.sign(b"m")  # RFC 6979 nonces
    assert a.cose_public_key() != P256CredentialKey.generate(SeededRng(2)).cose_public_key()
