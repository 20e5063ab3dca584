"""impl.crypto: the only part of vaultbench that imports ``cryptography``.

- ``impl.crypto.symmetric``: randomness, AES-256-GCM, HKDF-SHA256, Argon2id, HMAC;
- ``impl.crypto.hpke``: HPKE (RFC 9180) sealing to the fleet key, X25519 or ML-KEM-768+X25519;
- ``impl.crypto.p256``: the P-256 ECDSA credential of the software WebAuthn authenticator;
- ``impl.crypto.ed25519``: the Ed25519 identity keys that sign replica-to-replica messages.

Every failure is raised as a typed error from ``impl.errors``.
"""
