"""RFC 6962 hashing against the published Certificate Transparency test vectors, plus properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modelwarden.gateway import merkle

# RFC 6962 reference leaves and tree heads for sizes 0..8 (the CT test data used by Trillian and
# others; docs/reference/gateway.md §9).
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
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
# (1-based leaf, tree size, audit path)
INCLUSION = [
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
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def test_tree_heads_match_rfc6962_vectors() -> None:
    for n in range(9):
        assert merkle.root(LEAVES[:n]).hex() == ROOTS[n], n


def test_compact_range_gives_the_same_heads() -> None:
    frontier: list[bytes] = []
    assert merkle.frontier_root(frontier).hex() == ROOTS[0]
    for i, leaf in enumerate(LEAVES):
        frontier = merkle.frontier_append(frontier, i, leaf)
        assert merkle.frontier_root(frontier).hex() == ROOTS[i + 1]
        assert merkle.unpack(merkle.pack(frontier)) == frontier
    # One subtree root per set bit of the size.
    assert len(frontier) == bin(8).count("1")


def test_inclusion_proofs_match_rfc6962_vectors() -> None:
    for leaf, size, path in INCLUSION:
        proof = merkle.inclusion_proof(leaf - 1, LEAVES[:size])
        assert [p.hex() for p in proof] == path
        root = bytes.fromhex(ROOTS[size])
        assert merkle.verify_inclusion(leaf - 1, size, LEAVES[leaf - 1], proof, root)
        assert not merkle.verify_inclusion(leaf - 1, size, LEAVES[leaf - 1], proof, bytes.fromhex(ROOTS[0]))
        assert not merkle.verify_inclusion(leaf % size, size, LEAVES[leaf - 1], proof, root) or size == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=12), min_size=1, max_size=70), st.data())
def test_every_leaf_proves_and_no_other_does(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    frontier: list[bytes] = []
    for i, x in enumerate(leaves):
        frontier = merkle.frontier_append(frontier, i, x)
    root = merkle.root(leaves)
    assert merkle.frontier_root(frontier) == root
    i = data.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_proof(i, leaves)
    assert merkle.verify_inclusion(i, n, leaves[i], proof, root)
    assert not merkle.verify_inclusion(i, n, leaves[i] + b"x", proof, root)
    if proof:
        bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert not merkle.verify_inclusion(i, n, leaves[i], bad, root)
    assert not merkle.verify_inclusion(n, n, leaves[i], proof, root)
