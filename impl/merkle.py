"""impl.merkle: the Merkle tree of RFC 9162 §2.1, with inclusion and consistency proofs.

Hashing (RFC 9162 §2.1.1, identical to RFC 6962)::

    leaf_hash(d)    = SHA-256(0x00 || d)
    node_hash(l, r) = SHA-256(0x01 || l || r)
    MTH([])         = SHA-256("")
    MTH([h])        = h                                  (h is a leaf hash)
    MTH(D[0:n])     = node_hash(MTH(D[0:k]), MTH(D[k:n])) k = largest power of 2 < n

The functions here take *leaf hashes*, never leaf data: ``root``, ``inclusion_proof`` and
``consistency_proof`` over a list of leaf hashes, and the verbs ``verify_inclusion`` and
``verify_consistency``, which follow the verification algorithms of RFC 9162 §2.1.3.2 and
§2.1.4.2 step by step. ``MerkleTree`` is the fast path: it keeps every complete,
aligned subtree hash (one per level and position), so appending is O(log n) amortised
and any root or proof for a prefix of the tree costs O(log² n) hash look-ups.

A verification failure is a ``MerkleProofError`` (a ``ProofError``) that carries what was
expected and what was found: ``ProofShapeError`` when the inputs cannot form a proof
(index out of range, wrong number of hashes, a hash that is not 32 bytes), and
``RootMismatchError`` when the proof is well formed but leads to a different root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

from impl.crypto.symmetric import sha256
from impl.errors import ProofError

HASH_LEN: Final = 32
LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"
EMPTY_ROOT: Final = sha256(b"")


class MerkleProofError(ProofError):
    """MerkleProofError: a proof that does not verify; ``expected`` and ``found`` say why."""

    def __init__(self, what: str, expected: object, found: object) -> None:
        self.what = what
        self.expected = expected
        self.found = found
        super().__init__(f"{what}: expected {_show(expected)}, found {_show(found)}")


class ProofShapeError(MerkleProofError):
    """ProofShapeError: the inputs cannot form a proof (sizes, index, lengths)."""


class RootMismatchError(MerkleProofError):
    """RootMismatchError: a well-formed proof that leads to another root."""


def _show(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def leaf_hash(data: bytes) -> bytes:
    """leaf_hash: SHA-256(0x00 || data), the hash of one leaf (any bytes, even empty)."""
    return sha256(LEAF_PREFIX + bytes(data))


def node_hash(left: bytes, right: bytes) -> bytes:
    """node_hash: SHA-256(0x01 || left || right); both inputs are 32-byte hashes."""
    _check_hash("left child", left)
    _check_hash("right child", right)
    return sha256(NODE_PREFIX + left + right)


#: SHA-256 itself, bound once: the tree's inner loops call it directly (one Python call
#: per hash instead of three; ``vaultbench bench`` measures the tree against bare SHA-256).
_sha256: Final = hashlib.sha256


def _node(left: bytes, right: bytes) -> bytes:
    # node_hash without the checks, for hashes this module computed itself.
    return _sha256(NODE_PREFIX + left + right).digest()


def _check_hash(what: str, value: object) -> None:
    if not isinstance(value, bytes):
        raise ProofShapeError(f"{what} type", "bytes", type(value).__name__)
    if len(value) != HASH_LEN:
        raise ProofShapeError(f"{what} length", HASH_LEN, len(value))


def _check_proof_hashes(what: str, proof: Sequence[bytes]) -> None:
    # _check_hash on every element, naming the position; the usual case, all 32-byte
    # bytes, costs no string formatting.
    for position, element in enumerate(proof):
        if type(element) is not bytes or len(element) != HASH_LEN:
            _check_hash(f"{what} {position}", element)


def _check_size(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProofShapeError(f"{what} type", "int", type(value).__name__)
    if value < 0:
        raise ProofShapeError(what, "a size >= 0", value)
    return value


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (precondition: n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """MerkleTree: an append-only list of leaf hashes with cached subtree hashes.

    ``_levels[h][i]`` is the hash of the complete subtree of 2**h leaves that starts at
    leaf i * 2**h. Roots and proofs are asked for a ``size`` (default: the whole tree), so
    one tree answers for every earlier tree head as well.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        """MerkleTree: a tree over ``leaf_hashes`` (each 32 bytes; ``ProofShapeError`` else)."""
        self._levels: list[list[bytes]] = [[]]
        for value in leaf_hashes:
            self.append(value)

    @property
    def size(self) -> int:
        """MerkleTree.size: the number of leaves."""
        return len(self._levels[0])

    def append(self, leaf: bytes) -> int:
        """MerkleTree.append: add a 32-byte leaf hash; return its index."""
        _check_hash("leaf hash", leaf)
        index = self.size
        self._levels[0].append(bytes(leaf))
        height = 0
        # Complete every subtree that this leaf closes.
        while len(self._levels[height]) % 2 == 0:
            level = self._levels[height]
            parent = _node(level[-2], level[-1])
            if height + 1 == len(self._levels):
                self._levels.append([])
            self._levels[height + 1].append(parent)
            height += 1
        return index

    def leaf(self, index: int) -> bytes:
        """MerkleTree.leaf: the leaf hash at ``index`` (0 <= index < size)."""
        self._check_index(index, self.size)
        return self._levels[0][index]

    def leaves(self) -> tuple[bytes, ...]:
        """MerkleTree.leaves: every leaf hash, in order."""
        return tuple(self._levels[0])

    def root(self, size: int | None = None) -> bytes:
        """MerkleTree.root: MTH of the first ``size`` leaves (0 <= size <= self.size)."""
        n = self._size_arg(size)
        if n == 0:
            return EMPTY_ROOT
        return self._subtree(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """MerkleTree.inclusion_proof: PATH(index, D[0:size]) of RFC 9162 §2.1.3.1
        (0 <= index < size <= self.size)."""
        n = self._size_arg(size)
        self._check_index(index, n)
        proof: list[bytes] = []
        levels = self._levels
        start, end, m = 0, n, index
        # Walk down from the root; siblings are collected top-down, emitted bottom-up.
        while end - start > 1:
            height = (end - start - 1).bit_length() - 1
            k = 1 << height  # _split(end - start)
            if m < k:
                proof.append(self._subtree(start + k, end))
                end = start + k
            else:
                # The left sibling is always complete: read it from its level.
                proof.append(levels[height][start >> height])
                start, m = start + k, m - k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """MerkleTree.consistency_proof: PROOF(old_size, D[0:new_size]) of RFC 9162
        §2.1.4.1 (0 <= old_size <= new_size <= self.size); empty when old_size is 0 or
        equal to new_size."""
        n = self._size_arg(new_size)
        m = _check_size("old size", old_size)
        if m > n:
            raise ProofShapeError("old size", f"<= new size {n}", m)
        if m in (0, n):
            return []
        proof: list[bytes] = []
        start, end, whole = 0, n, True
        # SUBPROOF(m, D[start:end], whole), unrolled; hashes are collected top-down.
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                proof.append(self._subtree(start + k, end))
                end = start + k
            else:
                proof.append(self._subtree(start, start + k))
                start, m, whole = start + k, m - k, False
        if not whole:
            proof.append(self._subtree(start, end))
        proof.reverse()
        return proof

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for 0 <= start < end <= size, with ``start`` aligned as the
        RFC's recursion leaves it (a multiple of the largest power of two <= end - start)."""
        n = end - start
        levels = self._levels
        if n & (n - 1) == 0:
            height = n.bit_length() - 1
            return levels[height][start >> height]
        # The RFC's recursion, unrolled: D[start:end] splits into complete subtrees of
        # decreasing size (one per 1-bit of n, each cached), hashed together from the right.
        parts: list[bytes] = []
        while n:
            height = n.bit_length() - 1
            parts.append(levels[height][start >> height])
            start += 1 << height
            n -= 1 << height
        value = parts.pop()
        while parts:
            value = _sha256(NODE_PREFIX + parts.pop() + value).digest()
        return value

    def _size_arg(self, size: int | None) -> int:
        if size is None:
            return self.size
        n = _check_size("tree size", size)
        if n > self.size:
            raise ProofShapeError("tree size", f"<= {self.size}", n)
        return n

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int):
            raise ProofShapeError("leaf index type", "int", type(index).__name__)
        if not 0 <= index < size:
            raise ProofShapeError("leaf index", f"0 <= index < {size}", index)

    def __repr__(self) -> str:
        return f"MerkleTree(size={self.size})"


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """root: MTH over ``leaf_hashes`` (each 32 bytes); SHA-256("") for no leaves."""
    return MerkleTree(leaf_hashes).root()


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """inclusion_proof: the audit path of leaf ``index`` in the tree over ``leaf_hashes``
    (0 <= index < len(leaf_hashes))."""
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """consistency_proof: the proof that the tree of the first ``old_size`` leaves is a
    prefix of the tree over ``leaf_hashes`` (0 <= old_size <= len(leaf_hashes))."""
    return MerkleTree(leaf_hashes).consistency_proof(old_size)


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """verify_inclusion: return if ``proof`` shows that ``leaf_hash`` is leaf ``index`` of
    the tree of ``size`` leaves whose root is ``root``; raise ``ProofShapeError`` or
    ``RootMismatchError`` otherwise. Preconditions: none (every input is checked);
    the algorithm is RFC 9162 §2.1.3.2."""
    _check_hash("leaf hash", leaf_hash)
    _check_hash("root", root)
    n = _check_size("tree size", size)
    if isinstance(index, bool) or not isinstance(index, int):
        raise ProofShapeError("leaf index type", "int", type(index).__name__)
    # Step 1: the index must be inside the tree.
    if not 0 <= index < n:
        raise ProofShapeError("leaf index", f"0 <= index < {n}", index)
    _check_proof_hashes("inclusion proof hash", proof)
    # Steps 2-3.
    fn, sn = index, n - 1
    r = leaf_hash
    sha, node = _sha256, NODE_PREFIX
    # Step 4.
    for element in proof:
        if sn == 0:
            raise ProofShapeError("inclusion proof length", _path_length(index, n), len(proof))
        if fn & 1 or fn == sn:
            r = sha(node + element + r).digest()
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha(node + r + element).digest()
        fn >>= 1
        sn >>= 1
    # Step 5.
    if sn != 0:
        raise ProofShapeError("inclusion proof length", _path_length(index, n), len(proof))
    if r != root:
        raise RootMismatchError(f"root recomputed from leaf {index} of {n}", root, r)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """verify_consistency: return if ``proof`` shows that the tree of ``old_size`` leaves
    with root ``old_root`` is a prefix of the tree of ``new_size`` leaves with root
    ``new_root``; raise ``ProofShapeError`` or ``RootMismatchError`` otherwise.

    Preconditions: none (every input is checked). For 0 < old_size < new_size the
    algorithm is RFC 9162 §2.1.4.2. The two cases the RFC leaves to the caller: when
    ``old_size == new_size`` the proof must be empty and the roots equal; when
    ``old_size == 0`` the proof must be empty and ``old_root`` the empty tree's root.
    """
    m = _check_size("old size", old_size)
    n = _check_size("new size", new_size)
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    _check_proof_hashes("consistency proof hash", proof)
    if m > n:
        raise ProofShapeError("old size", f"<= new size {n}", m)
    if m == 0 or m == n:
        if len(proof) != 0:
            raise ProofShapeError(f"consistency proof length from {m} to {n}", 0, len(proof))
        expected_old = EMPTY_ROOT if m == 0 else new_root
        if old_root != expected_old:
            what = "old root of the empty tree" if m == 0 else f"root of both trees of {m}"
            raise RootMismatchError(what, expected_old, old_root)
        return
    # Step 1: a non-trivial proof is never empty.
    if len(proof) == 0:
        raise ProofShapeError(f"consistency proof length from {m} to {n}", ">= 1", 0)
    path = list(proof)
    # Step 2: when old_size is a power of two, the old root is itself a node of the path.
    if m & (m - 1) == 0:
        path.insert(0, old_root)
    # Steps 3-4.
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for element in path[1:]:
        if sn == 0:
            raise ProofShapeError(
                f"consistency proof length from {m} to {n}", "fewer hashes", len(proof)
            )
        if fn & 1 or fn == sn:
            fr = _node(element, fr)
            sr = _node(element, sr)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, element)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ProofShapeError(
            f"consistency proof length from {m} to {n}", "more hashes", len(proof)
        )
    if fr != old_root:
        raise RootMismatchError(f"old root of {m} recomputed from the proof", old_root, fr)
    if sr != new_root:
        raise RootMismatchError(f"new root of {n} recomputed from the proof", new_root, sr)


def _path_length(index: int, size: int) -> int:
    """The number of hashes in the inclusion proof of ``index`` in a tree of ``size``."""
    length = 0
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            end = start + k
        else:
            start, m = start + k, m - k
        length += 1
    return length
