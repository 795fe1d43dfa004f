"""RFC 6962 / RFC 9162 Merkle trees: hashing, a compact range, proofs and their checks.

Pure functions over bytes, no I/O. A leaf is ``SHA-256(0x00 || data)``, an inner node
``SHA-256(0x01 || left || right)`` and the root of ``n`` leaves is RFC 6962's ``MTH``: the
left subtree holds the largest power of two smaller than ``n``.

:class:`CompactRange` is the right edge of the tree (one perfect subtree per set bit of the
size, biggest first): it grows by one leaf in amortised O(1) hashes and yields the root of
the current size at any time, so the writer never reads old leaves to sign a tree head.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


class ProofError(ValueError):
    """A proof cannot be built from what is available (e.g. its leaves were purged)."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The perfect subtrees covering leaves ``[0, size)``, left to right.

    ``nodes[i]`` covers ``2**levels[i]`` leaves; the levels are the set bits of ``size``,
    highest first. :meth:`append` reports each perfect subtree it completes as
    ``(level, index, hash)`` (``index`` counts subtrees of that level from the left), which
    is what a node cache stores.
    """

    __slots__ = ("nodes", "size")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(nodes) != bin(size).count("1"):
            raise ValueError(f"a compact range of size {size} has {bin(size).count('1')} "
                             f"nodes, got {len(nodes)}")
        self.size = size
        self.nodes: list[bytes] = list(nodes)

    def levels(self) -> list[int]:
        """The level of each node, highest first."""
        return [b for b in range(self.size.bit_length() - 1, -1, -1) if self.size >> b & 1]

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self.nodes)

    def append(self, leaf: bytes, completed: list[tuple[int, int, bytes]] | None = None,
               min_level: int = 1) -> None:
        """Add one leaf hash; perfect subtrees of level >= ``min_level`` that this
        completes are appended to ``completed``."""
        nodes = self.nodes
        size = self.size
        h = leaf
        level = 0
        while size & 1:
            h = node_hash(nodes.pop(), h)
            size >>= 1
            level += 1
            if completed is not None and level >= min_level:
                completed.append((level, (self.size + 1 >> level) - 1, h))
        nodes.append(h)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """The RFC 6962 root of the leaves so far (``EMPTY_ROOT`` when empty)."""
        if not self.nodes:
            return EMPTY_ROOT
        it = reversed(self.nodes)
        h = next(it)
        for left in it:
            h = node_hash(left, h)
        return h

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, CompactRange) and other.size == self.size
                and other.nodes == self.nodes)

    def __repr__(self) -> str:
        return f"CompactRange(size={self.size}, nodes={len(self.nodes)})"


def root_of(leaves: Sequence[bytes]) -> bytes:
    """``MTH`` of ``leaves`` (leaf hashes), computed directly."""
    rng = CompactRange()
    rng.extend(leaves)
    return rng.root()


# -- proofs over a node source ----------------------------------------------------------
#: ``subtree(start, end)`` is the hash of leaves ``[start, end)`` where the range is one a
#: proof asks for: perfect and aligned, or the right edge of a tree.
Subtree = Callable[[int, int], bytes]


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """RFC 6962 ``PATH(index, D[size])``: the audit path, leaf to root."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(old: int, new: int, subtree: Subtree) -> list[bytes]:
    """RFC 6962 ``PROOF(old, D[new])``."""
    if not 0 <= old <= new:
        raise ProofError(f"no consistency proof from size {old} to size {new}")
    if old == 0 or old == new:
        return []
    out: list[bytes] = []
    start, end, m, complete = 0, new, old, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                out.append(subtree(start, end))
            break
        k = _split(n)
        if m <= k:
            out.append(subtree(start + k, end))
            end = start + k
        else:
            out.append(subtree(start, start + k))
            start += k
            m -= k
            complete = False
    out.reverse()
    return out


# -- checks (RFC 9162 section 2.1.3.2 and 2.1.4.2) ---------------------------------------
def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """True when ``proof`` shows ``leaf`` at ``index`` in the tree of ``size`` with
    ``root``."""
    if not 0 <= index < size or any(len(p) != 32 for p in proof):
        return False
    fn, sn = index, size - 1
    r = leaf
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
    return sn == 0 and r == root


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """True when ``proof`` shows the tree of ``new`` leaves extends the one of ``old``."""
    if not 0 <= old <= new or any(len(p) != 32 for p in proof):
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
