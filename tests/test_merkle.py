"""impl.merkle against a deliberately naive reference, RFC 6962/9162 vectors, mutations.

The reference below is the recursive definition of RFC 9162 §2.1 written out literally
(MTH, PATH, PROOF/SUBPROOF over data entries, with hashlib), slow on purpose and used only
to check the fast ``MerkleTree``. Every tree size up to 40 is covered exhaustively: roots,
every leaf's inclusion proof, every consistency proof (m <= n <= 40), and for each proof
every single alteration (flip a byte, drop, add or swap a hash) must be refused (byte
flips are exhaustive up to 8 leaves and sampled above: see ``alterations``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence

import pytest

from impl.errors import ProofError
from impl.merkle import (
    EMPTY_ROOT,
    MerkleProofError,
    MerkleTree,
    ProofShapeError,
    RootMismatchError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 40

# -- the naive reference (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1, literally) ----------------


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(entries: Sequence[bytes]) -> bytes:
    n = len(entries)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return _sha(b"\x00" + entries[0])
    k = _k(n)
    return _sha(b"\x01" + ref_mth(entries[:k]) + ref_mth(entries[k:]))


def ref_path(m: int, entries: Sequence[bytes]) -> list[bytes]:
    n = len(entries)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, entries[:k]), ref_mth(entries[k:])]
    return [*ref_path(m - k, entries[k:]), ref_mth(entries[:k])]


def ref_subproof(m: int, entries: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if whole else [ref_mth(entries)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, entries[:k], whole), ref_mth(entries[k:])]
    return [*ref_subproof(m - k, entries[k:], False), ref_mth(entries[:k])]


def ref_proof(m: int, entries: Sequence[bytes]) -> list[bytes]:
    if m == 0:
        return []
    return ref_subproof(m, entries, True)


# -- fixtures -----------------------------------------------------------------------------

ENTRIES = [bytes([i]) * (i % 5) + i.to_bytes(2, "big") for i in range(MAX_SIZE)]
LEAVES = [leaf_hash(entry) for entry in ENTRIES]
TREE = MerkleTree(LEAVES)
ROOTS = [ref_mth(ENTRIES[:n]) for n in range(MAX_SIZE + 1)]
OTHER = _sha(b"not in any tree")


EVERY_BYTE_UP_TO = 8
SOME_BYTES = (0, 13, 31)


def alterations(proof: Sequence[bytes], size: int) -> Iterator[tuple[str, list[bytes]]]:
    """Every single alteration of a proof: a byte of each hash flipped (every byte in
    trees of up to ``EVERY_BYTE_UP_TO`` leaves; the first, a middle and the last byte
    above, since a hash's bytes are opaque to the verifier and the exhaustive version
    costs seconds), each hash dropped, a hash added at each position, each adjacent pair
    of distinct hashes swapped."""
    for i, element in enumerate(proof):
        positions = range(len(element)) if size <= EVERY_BYTE_UP_TO else SOME_BYTES
        for b in positions:
            changed = bytearray(element)
            changed[b] ^= 0x01
            yield f"flip hash {i} byte {b}", [*proof[:i], bytes(changed), *proof[i + 1 :]]
        yield f"drop hash {i}", [*proof[:i], *proof[i + 1 :]]
    for i in range(len(proof) + 1):
        yield f"add a hash at {i}", [*proof[:i], OTHER, *proof[i:]]
    if proof:
        yield "repeat the last hash", [*proof, proof[-1]]
    for i in range(len(proof) - 1):
        if proof[i] != proof[i + 1]:
            swapped = list(proof)
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            yield f"swap hashes {i} and {i + 1}", swapped


def refused(verify: Callable[..., None], *args: object) -> bool:
    """Whether ``verify(*args)`` refuses with a ``MerkleProofError``."""
    try:
        verify(*args)
    except MerkleProofError:
        return True
    return False


# -- RFC 6962 / RFC 9162 known answers -----------------------------------------------------
# The classic Certificate Transparency test vectors (google/certificate-transparency,
# merkle_tree_test; also in transparency-dev/merkle): eight entries and the root of every
# prefix, and some inclusion and consistency proofs over them (indices 0-based here).

CT_ENTRIES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CT_LEAVES = [leaf_hash(entry) for entry in CT_ENTRIES]


def test_known_answer_roots() -> None:
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    for n in range(len(CT_ENTRIES) + 1):
        assert root(CT_LEAVES[:n]).hex() == CT_ROOTS[n], n
        assert ref_mth(CT_ENTRIES[:n]).hex() == CT_ROOTS[n], n


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_known_answer_inclusion(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(CT_LEAVES[:size], index)
    assert [h.hex() for h in proof] == path
    verify_inclusion(CT_LEAVES[index], index, size, proof, bytes.fromhex(CT_ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_known_answer_consistency(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(CT_LEAVES[:new], old)
    assert [h.hex() for h in proof] == path
    old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    verify_consistency(old, new, old_root, new_root, proof)


# -- the fast tree against the reference, exhaustively up to 40 leaves --------------------


def test_hashing_is_domain_separated() -> None:
    assert leaf_hash(b"") == _sha(b"\x00")
    assert node_hash(LEAVES[0], LEAVES[1]) == _sha(b"\x01" + LEAVES[0] + LEAVES[1])
    assert leaf_hash(LEAVES[0] + LEAVES[1]) != node_hash(LEAVES[0], LEAVES[1])


def test_roots_match_the_reference() -> None:
    for n in range(MAX_SIZE + 1):
        assert TREE.root(n) == ROOTS[n], n
        assert root(LEAVES[:n]) == ROOTS[n], n
        assert MerkleTree(LEAVES[:n]).root() == ROOTS[n], n


def test_every_inclusion_proof_matches_the_reference_and_verifies() -> None:
    for n in range(1, MAX_SIZE + 1):
        for index in range(n):
            proof = TREE.inclusion_proof(index, n)
            assert proof == ref_path(index, ENTRIES[:n]), (index, n)
            assert proof == inclusion_proof(LEAVES[:n], index)
            verify_inclusion(LEAVES[index], index, n, proof, ROOTS[n])


def test_every_altered_inclusion_proof_is_refused() -> None:
    for n in range(1, MAX_SIZE + 1):
        for index in range(n):
            proof = TREE.inclusion_proof(index, n)
            for what, bad in alterations(proof, n):
                assert refused(verify_inclusion, LEAVES[index], index, n, bad, ROOTS[n]), (
                    index,
                    n,
                    what,
                )
            # The wrong leaf, a neighbouring index, another root.
            other = LEAVES[(index + 1) % n] if n > 1 else OTHER
            assert refused(verify_inclusion, other, index, n, proof, ROOTS[n])
            for wrong in (index - 1, index + 1):
                assert refused(verify_inclusion, LEAVES[index], wrong, n, proof, ROOTS[n]), (
                    index,
                    n,
                    wrong,
                )
            assert refused(verify_inclusion, LEAVES[index], index, n, proof, OTHER)


def test_every_consistency_proof_matches_the_reference_and_verifies() -> None:
    for n in range(MAX_SIZE + 1):
        for m in range(n + 1):
            proof = TREE.consistency_proof(m, n)
            assert proof == ref_proof(m, ENTRIES[:n]), (m, n)
            assert proof == consistency_proof(LEAVES[:n], m)
            verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)


def test_every_altered_consistency_proof_is_refused() -> None:
    for n in range(MAX_SIZE + 1):
        for m in range(n + 1):
            proof = TREE.consistency_proof(m, n)
            for what, bad in alterations(proof, n):
                assert refused(verify_consistency, m, n, ROOTS[m], ROOTS[n], bad), (m, n, what)
            if m != n:
                assert refused(verify_consistency, m, n, ROOTS[n], ROOTS[m], proof)
                assert refused(verify_consistency, m, n, OTHER, ROOTS[n], proof)
            if 0 < m < n:
                # (Every tree is consistent with the empty one: its new root is not bound.)
                assert refused(verify_consistency, m, n, ROOTS[m], OTHER, proof)
                # The proof of one pair of sizes does not serve a neighbouring pair.
                for m2, n2 in ((m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1)):
                    if 0 < m2 <= n2 <= MAX_SIZE and (m2, n2) != (m, n):
                        args = (m2, n2, ROOTS[m2], ROOTS[n2], proof)
                        assert refused(verify_consistency, *args), (m, n, m2, n2)


# -- typed errors, shapes, scale --------------------------------------------------------


def test_errors_carry_expected_and_found() -> None:
    proof = TREE.inclusion_proof(3, 10)
    with pytest.raises(RootMismatchError) as caught:
        verify_inclusion(LEAVES[3], 3, 10, proof, ROOTS[11])
    assert caught.value.expected == ROOTS[11]
    assert caught.value.found == ROOTS[10]
    assert ROOTS[11].hex() in str(caught.value)
    assert isinstance(caught.value, ProofError)
    with pytest.raises(ProofShapeError) as shape:
        verify_inclusion(LEAVES[3], 3, 10, proof[:-1], ROOTS[10])
    assert (shape.value.expected, shape.value.found) == (len(proof), len(proof) - 1)
    with pytest.raises(ProofShapeError, match="leaf index"):
        verify_inclusion(LEAVES[3], 10, 10, proof, ROOTS[10])
    with pytest.raises(ProofShapeError, match="length"):
        verify_inclusion(LEAVES[3], 3, 10, [*proof[:-1], b"short"], ROOTS[10])
    with pytest.raises(ProofShapeError, match="old size"):
        verify_consistency(5, 4, ROOTS[5], ROOTS[4], [])
    with pytest.raises(RootMismatchError, match="empty tree"):
        verify_consistency(0, 4, OTHER, ROOTS[4], [])
    with pytest.raises(ProofShapeError):
        verify_consistency(3, 4, ROOTS[3], ROOTS[4], [])


def test_the_tree_refuses_bad_arguments() -> None:
    with pytest.raises(ProofShapeError):
        MerkleTree([b"\x00" * 31])
    with pytest.raises(ProofShapeError):
        TREE.root(MAX_SIZE + 1)
    with pytest.raises(ProofShapeError):
        TREE.inclusion_proof(5, 5)
    with pytest.raises(ProofShapeError):
        TREE.consistency_proof(6, 5)
    with pytest.raises(ProofShapeError):
        TREE.leaf(-1)
    with pytest.raises(ProofShapeError):
        node_hash(b"", LEAVES[0])


def test_ten_thousand_leaves() -> None:
    n = 10_000
    tree = MerkleTree([leaf_hash(i.to_bytes(4, "big")) for i in range(n)])
    head = tree.root()
    for index in (0, 1, 4095, 4096, 8191, 9999):
        verify_inclusion(tree.leaf(index), index, n, tree.inclusion_proof(index), head)
    for m in (1, 1000, 4096, 8192, 9999, n):
        verify_consistency(m, n, tree.root(m), head, tree.consistency_proof(m))
    # The naive reference agrees on the root of a mid-sized prefix.
    entries = [i.to_bytes(4, "big") for i in range(1000)]
    assert tree.root(1000) == ref_mth(entries)
