"""RFC 6962 / RFC 9162 Merkle tree hashing, compact ranges and inclusion proofs.

Reference: docs/reference/gateway.md §9. Leaf hash SHA-256(0x00 || leaf), interior node SHA-256(0x01 || l ||
r), empty tree SHA-256(""), split at the largest power of two below n. The 0x00 / 0x01 prefixes are
what prevent second-preimage attacks; odd nodes are never duplicated.

The audit log appends one leaf per entry (the entry's chain hash). Instead of rebuilding the tree
for every checkpoint, the head row keeps the *compact range*: the roots of the perfect subtrees
that cover [0, n), largest first (one per set bit of n). Appending merges like a binary counter,
and the tree head is the right fold of the range, because RFC 6962 splits at the largest power of
two below n.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_LEN = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """k with k < n <= 2k (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) computed from the leaf data (RFC 6962 §2.1)."""
    return _root_of_hashes([leaf_hash(x) for x in leaves])


def _root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = _largest_power_of_two_below(n)
    return node_hash(_root_of_hashes(hashes[:k]), _root_of_hashes(hashes[k:]))


# --- compact range ---------------------------------------------------------------------------------


def frontier_append(frontier: list[bytes], size: int, leaf: bytes) -> list[bytes]:
    """Append one leaf to the compact range of a tree of `size` leaves; returns the new range."""
    out = list(frontier)
    node = leaf_hash(leaf)
    n = size
    # Each trailing 1 bit of `size` is a perfect subtree of the same height to merge with.
    while n & 1:
        node = node_hash(out.pop(), node)
        n >>= 1
    out.append(node)
    return out


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    if not frontier:
        return EMPTY_ROOT
    acc = frontier[-1]
    for node in reversed(frontier[:-1]):
        acc = node_hash(node, acc)
    return acc


def pack(frontier: Sequence[bytes]) -> bytes:
    return b"".join(frontier)


def unpack(blob: bytes) -> list[bytes]:
    if len(blob) % HASH_LEN:
        raise ValueError("compact range is not a whole number of hashes")
    return [blob[i : i + HASH_LEN] for i in range(0, len(blob), HASH_LEN)]


# --- inclusion proofs (RFC 9162 §2.1.3) -----------------------------------------------------------


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Audit path for leaf `index` in the tree over `leaves` (leaf data, not leaf hashes)."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf index {index} outside a tree of {len(leaves)}")
    return _path(index, [leaf_hash(x) for x in leaves])


def _path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    n = len(hashes)
    if n == 1:
        return []
    k = _largest_power_of_two_below(n)
    if m < k:
        return [*_path(m, hashes[:k]), _root_of_hashes(hashes[k:])]
    return [*_path(m - k, hashes[k:]), _root_of_hashes(hashes[:k])]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does `proof` show `leaf` at `index` in the tree of `size` with `expected_root`?"""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root
