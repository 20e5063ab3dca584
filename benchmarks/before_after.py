"""benchmarks/before_after.py: measure the figures with the code as it was before the fixes.

Usage (from the repository's root)::

    .venv/bin/python benchmarks/before_after.py --save benchmarks/results/<machine>.before.json

It patches the functions the performance fixes of issue 7 changed back to their earlier
versions (kept verbatim below, in this file only), then runs ``vaultbench bench``'s
``bundle``, ``recovery`` and ``auditlog`` benchmarks exactly as the command does, with
the same seeds, and writes an ordinary results file. ``docs/bench.rst`` shows it beside
the current results (``:show: compare``). The patches live in this process only: nothing
in the repository changes.

The earlier versions:

- ``impl.crypto.hpke.decode_fleet_public_key`` checked the X25519 key for small order by
  a trial HPKE encapsulation (now: arithmetic, RFC 7748);
- ``impl.crypto.ed25519.VerifyKey.from_bytes`` serialized the key it had just loaded;
- ``impl.merkle``: ``_node`` went through ``impl.crypto.symmetric.sha256``, the root of an
  incomplete tree was a recursion, proof siblings always went through ``_subtree``, and
  proof shapes were checked with a formatted name per hash.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import hpke as library_hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import impl.crypto.ed25519 as ed25519
import impl.crypto.hpke as hpke
import impl.fleetkeys as fleetkeys
import impl.merkle as merkle
from impl.crypto.symmetric import sha256
from impl.errors import CryptoError
from vaultbench import bench

# -- the earlier versions ---------------------------------------------------------------


def old_decode_fleet_public_key(kem: hpke.KemChoice | str, data: bytes) -> hpke.FleetPublicKey:
    choice = hpke._as_kem(kem)
    if not isinstance(data, bytes | bytearray):
        raise hpke.FleetKeyError(
            f"{choice.value} public key must be bytes, got {type(data).__name__}"
        )
    data = bytes(data)
    expected = choice.public_key_len
    if len(data) != expected:
        raise hpke.FleetKeyError(
            f"{choice.value} public key must be {expected} bytes, got {len(data)}"
        )
    key: hpke._PublicKey
    try:
        if choice is hpke.KemChoice.X25519:
            key = x25519.X25519PublicKey.from_public_bytes(data)
        else:
            m_pub = mlkem.MLKEM768PublicKey.from_public_bytes(data[: hpke._MLKEM768_PK_LEN])
            x_pub = x25519.X25519PublicKey.from_public_bytes(data[hpke._MLKEM768_PK_LEN :])
            key = library_hpke.MLKEM768X25519PublicKey(m_pub, x_pub)
    except (ValueError, TypeError):
        raise hpke.FleetKeyError(f"{choice.value} public key is not a valid key encoding") from None
    try:
        hpke._suite(choice).encrypt(b"", key, info=b"vaultbench fleet key check")
    except (ValueError, TypeError):
        raise hpke.FleetKeyError(
            f"{choice.value} public key is unusable (small-order X25519 point)"
        ) from None
    return hpke.FleetPublicKey(choice, data, key)


def old_from_bytes(cls: type[ed25519.VerifyKey], data: bytes) -> ed25519.VerifyKey:
    if not isinstance(data, bytes | bytearray):
        raise CryptoError(f"Ed25519 public key: expected bytes, found {type(data).__name__}")
    if len(data) != ed25519.PUBLIC_KEY_LEN:
        raise CryptoError(
            f"Ed25519 public key: expected {ed25519.PUBLIC_KEY_LEN} bytes, found {len(data)}"
        )
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes(data))
    except ValueError:
        raise CryptoError("Ed25519 public key: not a valid encoding") from None
    return cls(key)


def old_node(left: bytes, right: bytes) -> bytes:
    return sha256(merkle.NODE_PREFIX + left + right)


def old_subtree(self: merkle.MerkleTree, start: int, end: int) -> bytes:
    n = end - start
    if n & (n - 1) == 0:
        height = n.bit_length() - 1
        return self._levels[height][start >> height]
    k = merkle._split(n)
    return merkle._node(self._subtree(start, start + k), self._subtree(start + k, end))


def old_inclusion_proof(
    self: merkle.MerkleTree, index: int, size: int | None = None
) -> list[bytes]:
    n = self._size_arg(size)
    self._check_index(index, n)
    proof: list[bytes] = []
    start, end, m = 0, n, index
    while end - start > 1:
        k = merkle._split(end - start)
        if m < k:
            proof.append(self._subtree(start + k, end))
            end = start + k
        else:
            proof.append(self._subtree(start, start + k))
            start, m = start + k, m - k
    proof.reverse()
    return proof


def old_verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    merkle._check_hash("leaf hash", leaf_hash)
    merkle._check_hash("root", root)
    n = merkle._check_size("tree size", size)
    if isinstance(index, bool) or not isinstance(index, int):
        raise merkle.ProofShapeError("leaf index type", "int", type(index).__name__)
    if not 0 <= index < n:
        raise merkle.ProofShapeError("leaf index", f"0 <= index < {n}", index)
    for position, element in enumerate(proof):
        merkle._check_hash(f"inclusion proof hash {position}", element)
    fn, sn = index, n - 1
    r = leaf_hash
    for element in proof:
        if sn == 0:
            raise merkle.ProofShapeError(
                "inclusion proof length", merkle._path_length(index, n), len(proof)
            )
        if fn & 1 or fn == sn:
            r = merkle._node(element, r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = merkle._node(r, element)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise merkle.ProofShapeError(
            "inclusion proof length", merkle._path_length(index, n), len(proof)
        )
    if r != root:
        raise merkle.RootMismatchError(f"root recomputed from leaf {index} of {n}", root, r)


def patch_in_the_old_code() -> None:
    """Put the earlier versions in place, in this process."""
    hpke.decode_fleet_public_key = old_decode_fleet_public_key
    setattr(fleetkeys, "decode_fleet_public_key", old_decode_fleet_public_key)  # noqa: B010
    ed25519.VerifyKey.from_bytes = classmethod(old_from_bytes)  # type: ignore[assignment]
    merkle._node = old_node
    merkle.MerkleTree._subtree = old_subtree  # type: ignore[method-assign]
    merkle.MerkleTree.inclusion_proof = old_inclusion_proof  # type: ignore[method-assign]
    merkle.verify_inclusion = old_verify_inclusion


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/before_after.py", description=__doc__)
    parser.add_argument("--save", metavar="FILE", required=True, help="the results file")
    parser.add_argument("--repeat", type=int, default=bench.DEFAULT_REPEAT)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    patch_in_the_old_code()
    settings = bench.Settings(quick=args.quick, repeat=args.repeat, seed=args.seed)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    results = bench.run_benchmarks(("bundle", "recovery", "auditlog"), settings, say)
    results.settings["code"] = "before the performance fixes (benchmarks/before_after.py)"
    print(bench.render(results))
    bench.save(results, Path(args.save))
    return 0


if __name__ == "__main__":
    sys.exit(main())
