"""The RFC 6962 Merkle tree and its proofs: properties over random trees, then the same
proofs built from real SQLite and PostgreSQL ledgers and checked offline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import FrozenClock, Ledger
from genai_compliance.crypto import generate_ed25519
from genai_compliance.ledger import MIN_RETENTION, Entry, ReadOnlyLedger, verify_proof
from genai_compliance.ledger._merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from genai_compliance.ledger._proofs import prove_consistency, prove_inclusion
from strategies_ledger import tree_and_index, tree_and_old_size, trees


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH, straight from the definition (the reference)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _sub(leaves: list[bytes]) -> Any:
    return lambda a, b: _mth(leaves[a:b])


def test_rfc6962_hashing_and_empty_root() -> None:
    """Leaves and nodes carry the 0x00/0x01 prefixes; the empty tree is SHA-256('')."""
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32
                                                             ).digest()
    assert root_of([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@given(leaves=trees(min_size=0))
def test_compact_range_root_equals_the_definition(leaves: list[bytes]) -> None:
    """Property: the writer's compact range yields MTH at every size, and the perfect
    subtrees it reports are the real ones."""
    rng = CompactRange()
    done: list[tuple[int, int, bytes]] = []
    for i, leaf in enumerate(leaves):
        rng.append(leaf, done)
        if i % 7 == 0 or i == len(leaves) - 1:
            assert rng.root() == _mth(leaves[:i + 1])
    for level, idx, h in done:
        assert h == _mth(leaves[idx << level:(idx + 1) << level])


@given(case=tree_and_index())
def test_inclusion_proofs_verify(case: tuple[list[bytes], int]) -> None:
    """Property: for any size and leaf, the audit path verifies against the root."""
    leaves, index = case
    root = _mth(leaves)
    path = inclusion_proof(index, len(leaves), _sub(leaves))
    assert verify_inclusion(leaves[index], index, len(leaves), path, root)


@given(case=tree_and_index(), data=st.data())
def test_any_changed_byte_in_an_inclusion_proof_fails(case: tuple[list[bytes], int],
                                                      data: Any) -> None:
    """Property: a flipped bit in the leaf, the path or the root, another index, a
    truncated, extended or reordered path: the proof fails."""
    leaves, index = case
    n = len(leaves)
    root = _mth(leaves)
    path = inclusion_proof(index, n, _sub(leaves))
    # (the size is bound to the root by the signed checkpoint, so it is not varied here)
    target = data.draw(st.sampled_from(["leaf", "root", "path", "index", "cut", "extend",
                                        "swap"]), label="target")
    leaf = leaves[index]
    bit = data.draw(st.integers(0, 255), label="bit")

    def flip(h: bytes) -> bytes:
        b = bytearray(h)
        b[bit // 8] ^= 1 << (bit % 8)
        return bytes(b)

    if target == "leaf":
        assert not verify_inclusion(flip(leaf), index, n, path, root)
    elif target == "root":
        assert not verify_inclusion(leaf, index, n, path, flip(root))
    elif target == "path" and path:
        i = data.draw(st.integers(0, len(path) - 1))
        assert not verify_inclusion(leaf, index, n, [*path[:i], flip(path[i]), *path[i + 1:]],
                                    root)
    elif target == "index" and n > 1:
        other = data.draw(st.integers(0, n - 1).filter(lambda j: j != index))
        assert not verify_inclusion(leaf, other, n, path, root) or leaves[other] == leaf
    elif target == "cut" and path:
        assert not verify_inclusion(leaf, index, n, path[:-1], root)
    elif target == "extend":
        assert not verify_inclusion(leaf, index, n, [*path, leaf], root)
    elif target == "swap" and len(path) > 1 and path[0] != path[-1]:
        assert not verify_inclusion(leaf, index, n, [path[-1], *path[1:-1], path[0]], root)


@given(case=tree_and_old_size())
def test_consistency_proofs_verify(case: tuple[list[bytes], int]) -> None:
    """Property: for any old <= new, the consistency proof verifies."""
    leaves, old = case
    proof = consistency_proof(old, len(leaves), _sub(leaves))
    assert verify_consistency(old, len(leaves), _mth(leaves[:old]), _mth(leaves), proof)


@given(case=tree_and_old_size(), data=st.data())
def test_consistency_fails_for_any_change(case: tuple[list[bytes], int], data: Any) -> None:
    """Property: a changed old root (a rewritten past), new root, proof byte, or a
    truncated or reordered proof fails the consistency check."""
    leaves, old = case
    new = len(leaves)
    if old in (0, new):
        return  # nothing to prove either way
    proof = consistency_proof(old, new, _sub(leaves))
    old_root, new_root = _mth(leaves[:old]), _mth(leaves)
    target = data.draw(st.sampled_from(["old", "new", "proof", "cut", "swap", "rewrite"]),
                       label="target")
    if target == "old":
        assert not verify_consistency(old, new, bytes(32), new_root, proof)
    elif target == "new":
        assert not verify_consistency(old, new, old_root, bytes(32), proof)
    elif target == "proof":
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = bytearray(proof[i])
        bad[0] ^= 1
        assert not verify_consistency(old, new, old_root, new_root,
                                      [*proof[:i], bytes(bad), *proof[i + 1:]])
    elif target == "cut":
        assert not verify_consistency(old, new, old_root, new_root, proof[:-1])
    elif target == "swap" and len(proof) > 1 and proof[0] != proof[-1]:
        assert not verify_consistency(old, new, old_root, new_root,
                                      [proof[-1], *proof[1:-1], proof[0]])
    elif target == "rewrite":  # one old leaf rewritten: the old tree no longer extends
        i = data.draw(st.integers(0, old - 1))
        forged = [*leaves[:i], leaf_hash(b"forged"), *leaves[i + 1:]]
        assert not verify_consistency(old, new, _mth(forged[:old]), new_root, proof)


# -- proofs from real ledgers ------------------------------------------------------------
def _ledger(uri: str, tmp: Path, n: int, every: int) -> tuple[Ledger, Any]:
    key = generate_ed25519()
    ledger = Ledger(uri, signing_key=key, pseudonym_secret=b"s" * 32, checkpoint_every=every,
                    clock=FrozenClock("2026-03-01T00:00:00+00:00"),
                    witness_dir=tmp / "witness")
    ledger.append_many([Entry("test.event", {"i": i}, f"u{i % 5}") for i in range(n)])
    ledger.checkpoint()
    return ledger, key


@settings(max_examples=12)
@given(n=st.integers(1, 70), every=st.integers(1, 40), data=st.data())
def test_proofs_from_a_real_ledger_verify_offline(sql_uri: str, tmp_path_factory: Any,
                                                  n: int, every: int, data: Any) -> None:
    """Property on SQLite and PostgreSQL: any record's inclusion proof and any consistency
    proof between stored checkpoints verify with only the public key."""
    folder = tmp_path_factory.mktemp("proofs")
    uri = sql_uri if not sql_uri.startswith("sqlite") else f"sqlite:///{folder / 'l.db'}"
    if uri.startswith("postgresql"):
        uri = uri.replace("schema=", f"schema=p{n}_{every}_")
    ledger, key = _ledger(uri, folder, n, every)
    try:
        with ReadOnlyLedger(uri) as ro:
            seq = data.draw(st.integers(1, n), label="seq")
            proof = prove_inclusion(ro.reader, seq)
            assert proof["record"]["seq"] == seq
            path = folder / "p.json"
            path.write_text(json.dumps(proof))
            assert verify_proof(path, key.public_key()).ok
            sizes = [cp.size for cp in ro.checkpoints()]
            new = data.draw(st.sampled_from(sizes), label="new")
            old = data.draw(st.integers(0, new), label="old")
            cons = prove_consistency(ro.reader, old, new)
            path.write_text(json.dumps(cons))
            report = verify_proof(path, key.public_key())
            assert report.ok, report
            assert report.old_checkpoint_signed is (True if old in sizes else None)
    finally:
        ledger.close()
        if uri.startswith("postgresql"):
            from strategies_ledger import q, raw

            with raw(uri) as conn:
                schema = uri.rsplit("schema=", 1)[1]
                q(conn, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@settings(max_examples=30)
@given(data=st.data())
def test_a_changed_proof_file_fails(tmp_path_factory: Any, data: Any) -> None:
    """Property: any changed character of a proof file that changes what it states (the
    record, the path, the signed tree head) makes ``verify_proof`` fail, never raise.
    (Per the signed-note spec, an extra or renamed signature line of an unknown key is
    ignored: the signed text is what counts.)"""
    folder = tmp_path_factory.mktemp("bad")
    uri = f"sqlite:///{folder / 'l.db'}"
    ledger, key = _ledger(uri, folder, 23, 5)
    ledger.close()
    with ReadOnlyLedger(uri) as ro:
        doc = prove_inclusion(ro.reader, data.draw(st.integers(1, 23)))
    text = json.dumps(doc, sort_keys=True)
    pos = data.draw(st.integers(0, len(text) - 1), label="pos")
    ch = data.draw(st.sampled_from("0123456789abcdefABCDEF+/=\"{}:, xyz"), label="ch")
    if text[pos] == ch:
        return
    changed = text[:pos] + ch + text[pos + 1:]
    try:
        parsed = json.loads(changed)
    except ValueError:
        parsed = None
    if parsed == doc:
        return  # whitespace or an equivalent spelling: the same proof
    (folder / "p.json").write_text(changed)
    report = verify_proof(folder / "p.json", key.public_key())
    if report.ok:  # only an unknown signature line may differ; the statement may not
        assert isinstance(parsed, dict)
        assert {k: v for k, v in parsed.items() if k != "checkpoint"} == {
            k: v for k, v in doc.items() if k != "checkpoint"}
        assert parsed["checkpoint"].split("\n\n")[0] == doc["checkpoint"].split("\n\n")[0]


def test_proofs_after_a_purge_still_verify(tmp_path: Path) -> None:
    """After a purge the anchor's compact range keeps later records provable, and the
    tree root is the one over all records ever written."""
    clock = FrozenClock("2025-01-01T00:00:00+00:00")
    key = generate_ed25519()
    uri = f"sqlite:///{tmp_path / 'l.db'}"
    ledger = Ledger(uri, signing_key=key, pseudonym_secret=b"s" * 32, clock=clock,
                    checkpoint_every=4, witness_dir=tmp_path / "w", retention=MIN_RETENTION)
    ledger.append_many([Entry("old", {"i": i}) for i in range(11)])
    clock.advance(days=300)
    ledger.append_many([Entry("new", {"i": i}) for i in range(6)])
    assert ledger.purge() == 11
    ledger.checkpoint()
    assert ledger.tree_head()[0] == 18
    ledger.close()
    with ReadOnlyLedger(uri) as ro:
        for seq in (12, 15, 18):
            (tmp_path / "p.json").write_text(json.dumps(prove_inclusion(ro.reader, seq)))
            assert verify_proof(tmp_path / "p.json", key.public_key()).ok
        cons = prove_consistency(ro.reader, 12, 18)
        (tmp_path / "c.json").write_text(json.dumps(cons))
        assert verify_proof(tmp_path / "c.json", key.public_key()).ok
        assert ro.verify(key.public_key()).ok
        with pytest.raises(Exception, match="purged"):
            prove_consistency(ro.reader, 3, 18)
