"""Inclusion and consistency proofs, the regulator export, and their offline checks.

A proof file is JSON; every hash in it is standard base64 (as in C2SP checkpoints) and it
carries the signed checkpoint it is relative to, so :func:`verify_proof` needs nothing but
the file and the ledger's public key — no database.

* ``genai-compliance/inclusion-proof/v1``: one record (its seven fields), its leaf index,
  the tree size, the audit path and the checkpoint;
* ``genai-compliance/consistency-proof/v1``: two tree sizes, the old root, the proof and the
  checkpoint of the new size (and of the old size, when the ledger has one);
* ``genai-compliance/ledger-export/v1`` (JSON Lines): a first line with the checkpoint, then
  one line per record with its inclusion proof (``null`` for records that came after the
  checkpoint).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

import attrs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import LedgerError, LedgerIntegrityError
from ._format import canonical_text, chain_hash, envelope, iso
from ._merkle import EMPTY_ROOT, ProofError, consistency_proof, inclusion_proof, leaf_hash
from ._merkle import verify_consistency as _verify_consistency
from ._merkle import verify_inclusion as _verify_inclusion
from ._note import Checkpoint, NoteError, as_keys
from ._reader import LedgerReader, NodeSource

__all__ = ["ProofReport", "export_records", "prove_consistency", "prove_inclusion",
           "verify_proof"]

INCLUSION = "genai-compliance/inclusion-proof/v1"
CONSISTENCY = "genai-compliance/consistency-proof/v1"
EXPORT = "genai-compliance/ledger-export/v1"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("expected a base64 string")
    value = base64.b64decode(text, validate=True)
    if len(value) != 32:
        raise ValueError("a hash is 32 bytes")
    return value


def _record_json(row: Sequence[Any]) -> dict[str, Any]:
    return {"seq": int(row[0]), "time": row[1], "kind": row[2], "subject": row[3],
            "payload": json.loads(row[4]), "prev_hash": row[5], "hash": row[6]}


def _checked_path(nodes: NodeSource, reader: LedgerReader, index: int, cp: Checkpoint,
                  leaf: bytes) -> list[bytes]:
    path = inclusion_proof(index, cp.size, nodes.subtree)
    if _verify_inclusion(leaf, index, cp.size, path, cp.root):
        return path
    if nodes.use_cache:  # a damaged node cache: recompute from the records
        fresh = NodeSource(reader, use_cache=False)
        path = inclusion_proof(index, cp.size, fresh.subtree)
        if _verify_inclusion(leaf, index, cp.size, path, cp.root):
            return path
    raise LedgerIntegrityError(f"record {index + nodes.base + 1} does not match checkpoint "
                               f"{cp.size + nodes.base}; run `genai-compliance ledger verify`",
                               seq=index + nodes.base + 1)


def prove_inclusion(reader: LedgerReader, seq: int, *, size: int | None = None
                    ) -> dict[str, Any]:
    """The inclusion proof of record ``seq`` in the newest stored checkpoint covering it
    (or the one of tree ``size``)."""
    base = reader.tree_base()
    index = seq - 1 - base
    rows = list(reader.raw_rows(seq - 1, seq))
    if index < 0 or not rows:
        raise LedgerError(f"there is no record {seq} in the ledger (purged or never written)",
                          seq=seq)
    cp = (reader.checkpoint_at(size - base) if size is not None
          else reader.newest_checkpoint_covering(index))
    if cp is None:
        raise LedgerError(f"no stored checkpoint covers record {seq} yet; it comes after the "
                          "newest one (run `genai-compliance ledger checkpoint` or wait for "
                          "the writer's next one)", seq=seq)
    if cp.size <= index:
        raise LedgerError(f"checkpoint {cp.size + base} does not contain record {seq}", seq=seq)
    row = rows[0]
    leaf = leaf_hash(envelope(int(row[0]), row[1], row[2], row[3], row[4], row[5]))
    path = _checked_path(NodeSource(reader), reader, index, cp, leaf)
    return {"type": INCLUSION, "record": _record_json(row), "leaf_index": index,
            "tree_size": cp.size, "hashes": [_b64(h) for h in path], "checkpoint": cp.note}


def prove_consistency(reader: LedgerReader, old: int, new: int | None = None
                      ) -> dict[str, Any]:
    """The consistency proof between tree sizes ``old`` and ``new`` (default: the newest
    stored checkpoint); ``new`` must be a stored checkpoint."""
    base = reader.tree_base()
    if new is None:
        cps = reader.checkpoints()
        if not cps:
            raise LedgerError("the ledger has no checkpoint yet")
        new_cp: Checkpoint | None = cps[-1]
    else:
        new_cp = reader.checkpoint_at(new - base)
    if new_cp is None:
        raise LedgerError(f"there is no stored checkpoint of {new} records; consistency "
                          "proofs end at a signed tree head (`ledger verify` lists them)")
    old_size = old - base
    if not 0 <= old_size <= new_cp.size:
        raise LedgerError(f"no consistency proof from {old} to {new_cp.size + base} records",
                          value=old)
    nodes = NodeSource(reader)
    try:
        old_root = nodes.subtree(0, old_size) if old_size else EMPTY_ROOT
        proof = consistency_proof(old_size, new_cp.size, nodes.subtree)
    except ProofError as exc:
        raise LedgerError(str(exc)) from exc
    if not _verify_consistency(old_size, new_cp.size, old_root, new_cp.root, proof):
        raise LedgerIntegrityError(f"the records do not match checkpoint "
                                   f"{new_cp.size + base}; run `genai-compliance ledger "
                                   "verify`", seq=new_cp.size + base)
    old_cp = reader.checkpoint_at(old_size) if old_size else None
    return {"type": CONSISTENCY, "old_size": old_size, "new_size": new_cp.size,
            "old_root": _b64(old_root), "hashes": [_b64(h) for h in proof],
            "checkpoint": new_cp.note, "old_checkpoint": None if old_cp is None
            else old_cp.note}


def export_records(reader: LedgerReader, out: IO[str], *, kind: str | None = None,
                   since: dt.datetime | None = None, until: dt.datetime | None = None,
                   proofs: bool = True) -> int:
    """Write the regulator export (JSON Lines) to ``out``; returns the records written."""
    cps = reader.checkpoints()
    cp = cps[-1] if cps and proofs else None
    base = reader.tree_base()
    head = {"type": EXPORT, "origin": reader.origin(),
            "filters": {"kind": kind, "since": None if since is None else iso(since),
                        "until": None if until is None else iso(until)},
            "tree_size": None if cp is None else cp.size,
            "root": None if cp is None else cp.root_b64,
            "checkpoint": None if cp is None else cp.note}
    out.write(json.dumps(head, ensure_ascii=False, sort_keys=True) + "\n")
    nodes = NodeSource(reader)
    count = 0
    for record in reader.records(kind=kind, since=since, until=until):
        line: dict[str, Any] = {"type": "record", **record.to_json()}
        index = record.seq - 1 - base
        if cp is not None and 0 <= index < cp.size:
            leaf = record.leaf()
            line["leaf_index"] = index
            line["inclusion_proof"] = [_b64(h) for h in _checked_path(nodes, reader, index,
                                                                      cp, leaf)]
        else:
            line["leaf_index"] = index
            line["inclusion_proof"] = None
        out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    return count


# -- offline checks ----------------------------------------------------------------------
@attrs.frozen
class ProofReport:
    """What :func:`verify_proof` found: ``ok``, the proof ``type``, the checkpoint it is
    relative to (``size``, ``origin``, signing ``key_id``), how many records it proved and
    the first ``problem``."""

    ok: bool
    type: str
    origin: str | None = None
    size: int | None = None
    key_id: str | None = None
    records: int = 0
    unproven: int = 0
    problem: str | None = None
    old_checkpoint_signed: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _record_leaf(record: Mapping[str, Any]) -> tuple[bytes, bool]:
    """The leaf of an exported record and whether its chain hash matches its fields."""
    env = envelope(int(record["seq"]), str(record["time"]), str(record["kind"]),
                   record["subject"], canonical_text(record["payload"]),
                   str(record["prev_hash"]))
    try:
        chained = chain_hash(str(record["prev_hash"]), env) == record["hash"]
    except ValueError:
        chained = False
    return leaf_hash(env), chained


def _signed(note: Any, keys: Sequence[Ed25519PublicKey]) -> Checkpoint:
    if not isinstance(note, str):
        raise ValueError("the proof carries no checkpoint")
    try:
        Checkpoint.parse(note)
    except NoteError as exc:
        raise ValueError(f"its checkpoint is malformed: {exc}") from exc
    cp = Checkpoint.parse(note).verify(keys)
    if cp is None:
        raise ValueError("its checkpoint is not signed by the given public key")
    return cp


def _verify_doc(doc: Mapping[str, Any], keys: Sequence[Ed25519PublicKey]) -> ProofReport:
    kind = doc.get("type")
    if kind == INCLUSION:
        cp = _signed(doc.get("checkpoint"), keys)
        leaf, chained = _record_leaf(doc["record"])
        size, index = int(doc["tree_size"]), int(doc["leaf_index"])
        path = [_unb64(h) for h in doc["hashes"]]
        if size != cp.size:
            raise ValueError("the proof's tree size is not its checkpoint's")
        if not chained:
            raise ValueError("the record's fields do not match its hash")
        if not _verify_inclusion(leaf, index, size, path, cp.root):
            raise ValueError("the record is not in the signed tree (inclusion proof fails)")
        return ProofReport(True, "inclusion", cp.origin, cp.size, cp.key_id, records=1)
    if kind == CONSISTENCY:
        cp = _signed(doc.get("checkpoint"), keys)
        old, new = int(doc["old_size"]), int(doc["new_size"])
        old_root = _unb64(doc["old_root"])
        path = [_unb64(h) for h in doc["hashes"]]
        if new != cp.size:
            raise ValueError("the proof's new size is not its checkpoint's")
        old_signed: bool | None = None
        if doc.get("old_checkpoint"):
            old_cp = _signed(doc["old_checkpoint"], keys)
            if old_cp.size != old or old_cp.root != old_root or old_cp.origin != cp.origin:
                raise ValueError("the old checkpoint does not match the proof's old tree")
            old_signed = True
        if not _verify_consistency(old, new, old_root, cp.root, path):
            raise ValueError(f"the tree of {new} records does not extend the tree of {old} "
                             "(consistency proof fails)")
        return ProofReport(True, "consistency", cp.origin, cp.size, cp.key_id,
                           old_checkpoint_signed=old_signed)
    raise ValueError(f"unknown proof type {kind!r}")


def verify_proof(source: str | os.PathLike[str] | Iterable[str],
                 public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey]) -> ProofReport:
    """Check a proof file or an export offline against ``public_key`` (no database)."""
    keys = as_keys(public_key)
    if isinstance(source, str | os.PathLike):
        with open(source, encoding="utf-8") as fh:
            text = fh.read()
    else:
        text = "\n".join(source)
    if not text.strip():
        return ProofReport(False, "unknown", problem="the file is empty")
    lines: list[str] = []
    try:
        first = json.loads(text)
    except ValueError:
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            first = json.loads(lines[0])
        except ValueError:
            return ProofReport(False, "unknown", problem="the file is neither a proof (JSON) "
                               "nor an export (JSON Lines)")
    if not isinstance(first, dict):
        return ProofReport(False, "unknown", problem="the file is not a proof")
    kind = str(first.get("type", ""))
    short = {INCLUSION: "inclusion", CONSISTENCY: "consistency", EXPORT: "export"}.get(
        kind, "unknown")
    try:
        if kind == EXPORT:
            return _verify_export(first, lines[1:], keys)
        if lines:
            raise ValueError("a proof file holds one JSON document")
        return _verify_doc(first, keys)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        return ProofReport(False, short, problem=str(exc) or type(exc).__name__)


def _verify_export(head: Mapping[str, Any], lines: Sequence[str],
                   keys: Sequence[Ed25519PublicKey]) -> ProofReport:
    if head.get("checkpoint") is None:
        return ProofReport(False, "export", head.get("origin"), records=0,
                           unproven=len(lines),
                           problem="the export carries no checkpoint (the ledger had none)")
    cp = _signed(head["checkpoint"], keys)
    proved = unproven = 0
    last = 0
    for number, line in enumerate(lines, start=2):
        try:
            rec = json.loads(line)
            seq = int(rec["seq"])
            if seq <= last:
                raise ValueError("records are out of order")
            last = seq
            leaf, chained = _record_leaf(rec)
            if not chained:
                raise ValueError("the record's fields do not match its hash")
            if rec.get("inclusion_proof") is None:
                unproven += 1
                continue
            path = [_unb64(h) for h in rec["inclusion_proof"]]
            if not _verify_inclusion(leaf, int(rec["leaf_index"]), cp.size, path, cp.root):
                raise ValueError("the record is not in the signed tree")
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            return ProofReport(False, "export", cp.origin, cp.size, cp.key_id, proved,
                               unproven, f"line {number}: {exc}")
        proved += 1
    return ProofReport(True, "export", cp.origin, cp.size, cp.key_id, proved, unproven)
