"""Reading a ledger's tables: records, tree heads, the purge anchor and Merkle nodes.

:class:`LedgerReader` works over a writable :class:`~genai_compliance.stores.SQLDatabase`
or a :class:`~._readonly.ReadOnlyDatabase` alike and never writes; verification, proofs and
exports are built on it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import attrs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..crypto import load_ed25519_public
from ..errors import LedgerCorrupt, LedgerNotFound
from ..stores import Tx
from ._format import GENESIS_HASH, Record, envelope, parse_iso
from ._merkle import CompactRange, ProofError, _split, leaf_hash, node_hash
from ._note import Checkpoint

__all__ = ["CACHE_LEVEL", "Anchor", "LedgerReader", "NodeSource", "TreeMeta"]

#: perfect subtrees of 2**CACHE_LEVEL leaves and up are kept in ``gc_ledger_tree_nodes``
CACHE_LEVEL = 8
RECORD_COLUMNS = "seq, time, kind, subject, payload, prev_hash, hash"


class Database(Protocol):
    dialect: str

    def transaction(self, *, write: bool = False) -> Any: ...


@attrs.frozen
class TreeMeta:
    """The tree state the writer keeps in ``gc_ledger_meta`` (row ``tree``)."""

    base: int
    size: int
    nodes: tuple[bytes, ...]

    @classmethod
    def parse(cls, text: str | None) -> TreeMeta | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            meta = cls(int(data["base"]), int(data["size"]),
                       tuple(bytes.fromhex(h) for h in data["nodes"]))
            CompactRange(meta.size, meta.nodes)
        except (ValueError, KeyError, TypeError):
            return None
        return meta

    def dumps(self) -> str:
        return json.dumps({"base": self.base, "size": self.size,
                           "nodes": [n.hex() for n in self.nodes]}, separators=(",", ":"))


@attrs.frozen
class Anchor:
    """What a purge left behind: the last dropped record's ``seq`` and chain ``hash`` and
    (since 0.2) the compact range of the tree over the dropped records."""

    seq: int
    hash: str
    key_id: str
    signature: str
    tree_base: int | None = None
    tree_nodes: tuple[bytes, ...] | None = None
    tree_signature: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False)

    @property
    def tree_size(self) -> int | None:
        if self.tree_base is None:
            return None
        return self.seq - self.tree_base


def _row_record(row: Sequence[Any]) -> Record:
    return Record(int(row[0]), parse_iso(row[1]), row[2], row[3], json.loads(row[4]), row[5],
                  row[6])


def row_leaf(row: Sequence[Any]) -> bytes:
    """The Merkle leaf of a stored row ``(seq, time, kind, subject, payload, prev_hash, …)``."""
    return leaf_hash(envelope(int(row[0]), row[1], row[2], row[3], row[4], row[5]))


class LedgerReader:
    """Read-only views of one ledger database."""

    def __init__(self, db: Database, *, uri: str = "") -> None:
        self.db = db
        self.uri = uri
        self._missing: set[str] = set()
        has_table = getattr(db, "has_table", None)
        if callable(has_table):  # a read-only database: a 0.1 ledger lacks the 0.2 tables
            self._missing = {t for t in ("gc_ledger_tree_heads", "gc_ledger_tree_nodes",
                                         "gc_ledger_checkpoints") if not has_table(t)}

    # -- meta --------------------------------------------------------------------------
    def meta(self, *keys: str) -> dict[str, str]:
        with self.db.transaction() as tx:
            if keys:
                marks = ", ".join("?" for _ in keys)
                rows = tx.execute(f"SELECT key, value FROM gc_ledger_meta WHERE key IN "
                                  f"({marks})", keys).fetchall()
            else:
                rows = tx.execute("SELECT key, value FROM gc_ledger_meta").fetchall()
        return {str(k): str(v) for k, v in rows}

    def head(self) -> tuple[int, str]:
        value = self.meta("head").get("head")
        if not value:
            return 0, GENESIS_HASH
        seq, _, digest = value.partition(":")
        try:
            return int(seq), digest
        except ValueError:
            return -1, digest

    def origin(self) -> str | None:
        return self.meta("origin").get("origin") or None

    def tree_meta(self) -> TreeMeta | None:
        return TreeMeta.parse(self.meta("tree").get("tree"))

    def anchor(self) -> Anchor | None:
        value = self.meta("anchor").get("anchor")
        if not value:
            return None
        data = json.loads(value)
        tree = data.get("tree")
        return Anchor(int(data["seq"]), str(data["hash"]), str(data["key_id"]),
                      str(data["signature"]),
                      None if tree is None else int(tree["base"]),
                      None if tree is None else tuple(bytes.fromhex(h) for h in tree["nodes"]),
                      data.get("tree_signature"), data)

    def recorded_keys(self) -> dict[str, Ed25519PublicKey]:
        """The public keys the ledger lists (an index, not a trust anchor)."""
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT key, value FROM gc_ledger_meta WHERE substr(key, 1, 7) "
                              "= ?", ("pubkey:",)).fetchall()
        out: dict[str, Ed25519PublicKey] = {}
        for key, value in rows:
            try:
                out[str(key).split(":", 1)[1]] = load_ed25519_public(str(value).encode())
            except Exception:  # a damaged key row: that key simply is not offered
                continue
        return out

    def embedded_secrets(self) -> bool:
        """True when the signing key sits in the ledger's own tables (development mode or a
        0.1 ledger not yet migrated)."""
        return "signing_key" in self.meta("signing_key")

    # -- records -----------------------------------------------------------------------
    def count(self) -> int:
        with self.db.transaction() as tx:
            row = tx.execute("SELECT COUNT(*) FROM gc_ledger_records").fetchone()
        return int(row[0]) if row else 0

    def raw_rows(self, after_seq: int = -1, upto_seq: int | None = None,
                 batch: int = 5000) -> Iterator[tuple[Any, ...]]:
        """Stored rows ``(seq, time, kind, subject, payload, prev_hash, hash)`` in seq order."""
        last = after_seq
        while True:
            sql = f"SELECT {RECORD_COLUMNS} FROM gc_ledger_records WHERE seq > ?"
            params: list[Any] = [last]
            if upto_seq is not None:
                sql += " AND seq <= ?"
                params.append(upto_seq)
            with self.db.transaction() as tx:
                rows = tx.execute(sql + f" ORDER BY seq LIMIT {batch}", params).fetchall()
            yield from rows
            if len(rows) < batch:
                return
            last = int(rows[-1][0])

    def record(self, seq: int) -> Record | None:
        with self.db.transaction() as tx:
            row = tx.execute(f"SELECT {RECORD_COLUMNS} FROM gc_ledger_records WHERE seq = ?",
                             (seq,)).fetchone()
        return None if row is None else _row_record(row)

    def records(self, *, kind: str | None = None, since: dt.datetime | None = None,
                until: dt.datetime | None = None, subject: str | None = None,
                after_seq: int = 0) -> Iterator[Record]:
        from ._format import iso

        sql = f"SELECT {RECORD_COLUMNS} FROM gc_ledger_records WHERE seq > ?"
        params: list[Any] = [after_seq]
        if kind:  # the kind or a dotted sub-kind, as a range the (kind, seq) index serves
            sql += " AND (kind = ? OR (kind >= ? AND kind < ?))"
            params += [kind, kind + ".", kind + "/"]
        if since:
            sql += " AND time >= ?"
            params.append(iso(since))
        if until:
            sql += " AND time < ?"
            params.append(iso(until))
        if subject is not None:
            sql += " AND subject = ?"
            params.append(subject)
        sql += " ORDER BY seq"
        batch = 2000
        last = after_seq
        while True:
            params[0] = last
            with self.db.transaction() as tx:
                rows = tx.execute(sql + f" LIMIT {batch}", params).fetchall()
            for row in rows:
                yield _row_record(row)
            if len(rows) < batch:
                return
            last = int(rows[-1][0])

    # -- checkpoints -------------------------------------------------------------------
    def tree_heads(self) -> list[tuple[int, str, str, str, str]]:
        """Rows ``(size, root hex, time, key_id, note)`` of ``gc_ledger_tree_heads``."""
        if "gc_ledger_tree_heads" in self._missing:
            return []
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT size, root, time, key_id, note FROM "
                              "gc_ledger_tree_heads ORDER BY size").fetchall()
        return [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]

    def checkpoints(self) -> list[Checkpoint]:
        """The checkpoints stored in the ledger, oldest first (signatures not checked; see
        :meth:`~genai_compliance.Ledger.verify`)."""
        out = []
        for size, root, time, kid, note in self.tree_heads():
            try:
                when = dt.datetime.strptime(time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
            except ValueError:
                when = None
            try:
                parsed = Checkpoint.parse(note)
            except ValueError:
                parsed = Checkpoint("", size, bytes.fromhex(root) if len(root) == 64
                                    else b"", None, kid, note)
            out.append(attrs.evolve(parsed, time=when, key_id=kid))
        return out

    def checkpoint_at(self, size: int) -> Checkpoint | None:
        if "gc_ledger_tree_heads" in self._missing:
            return None
        with self.db.transaction() as tx:
            row = tx.execute("SELECT note, key_id, time FROM gc_ledger_tree_heads WHERE "
                             "size = ?", (size,)).fetchone()
        if row is None:
            return None
        try:
            cp = Checkpoint.parse(str(row[0]))
        except ValueError:
            return None
        return attrs.evolve(cp, key_id=str(row[1]))

    def newest_checkpoint_covering(self, tree_index: int) -> Checkpoint | None:
        """The newest stored checkpoint whose tree contains leaf ``tree_index``."""
        if "gc_ledger_tree_heads" in self._missing:
            return None
        with self.db.transaction() as tx:
            row = tx.execute("SELECT note, key_id FROM gc_ledger_tree_heads WHERE size > ? "
                             "ORDER BY size DESC LIMIT 1", (tree_index,)).fetchone()
        if row is None:
            return None
        try:
            return attrs.evolve(Checkpoint.parse(str(row[0])), key_id=str(row[1]))
        except ValueError:
            return None

    def legacy_checkpoints(self) -> list[tuple[int, str, str, str, str]]:
        """0.1 checkpoints ``(seq, chain hash, time, key_id, signature)``."""
        if "gc_ledger_checkpoints" in self._missing:
            return []
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT seq, hash, time, key_id, signature FROM "
                              "gc_ledger_checkpoints ORDER BY seq").fetchall()
        return [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]

    def cached_node(self, level: int, idx: int) -> bytes | None:
        if "gc_ledger_tree_nodes" in self._missing:
            return None
        with self.db.transaction() as tx:
            row = tx.execute("SELECT hash FROM gc_ledger_tree_nodes WHERE level = ? AND "
                             "idx = ?", (level, idx)).fetchone()
        if row is None:
            return None
        try:
            value = bytes.fromhex(str(row[0]))
        except ValueError:
            return None
        return value if len(value) == 32 else None

    def tree_base(self) -> int:
        meta = self.tree_meta()
        if meta is not None:
            return meta.base
        anchor = self.anchor()
        if anchor is None:
            return 0
        return anchor.tree_base if anchor.tree_base is not None else anchor.seq

    def nodes(self) -> NodeSource:
        return NodeSource(self)


def require_tables(db: Any, uri: str) -> None:
    """Raise :class:`LedgerNotFound` unless the ledger's tables are there."""
    if not db.has_table("gc_ledger_records") or not db.has_table("gc_ledger_meta"):
        raise LedgerNotFound(f"{uri} holds no genai_compliance ledger (its tables are "
                             "missing); check the URI — verify never creates one", uri=uri)
    columns = db.columns("gc_ledger_records")
    needed = {"seq", "time", "kind", "subject", "payload", "prev_hash", "hash"}
    if not needed <= columns:
        raise LedgerCorrupt(f"{uri}: table gc_ledger_records lacks the columns "
                            f"{', '.join(sorted(needed - columns))}", uri=uri)


class NodeSource:
    """Subtree hashes for proofs: cached perfect nodes, leaves recomputed from records and,
    over purged records, the purge anchor's compact range."""

    def __init__(self, reader: LedgerReader, *, use_cache: bool = True) -> None:
        self.reader = reader
        self.base = reader.tree_base()
        anchor = reader.anchor()
        self.purged = 0
        self._fixed: dict[tuple[int, int], bytes] = {}
        if anchor is not None:
            if anchor.tree_nodes is not None and anchor.tree_base == self.base:
                self.purged = anchor.seq - self.base
                start = 0
                for level, node in zip(CompactRange(self.purged, anchor.tree_nodes).levels(),
                                       anchor.tree_nodes, strict=True):
                    self._fixed[(level, start >> level)] = node
                    start += 1 << level
            elif anchor.seq > self.base:
                self.purged = anchor.seq - self.base  # 0.1 purge: nothing before is provable
        self.use_cache = use_cache
        self._memo: dict[tuple[int, int], bytes] = {}

    def leaves(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes of tree positions ``[start, end)``."""
        if start < self.purged:
            raise ProofError(f"records up to seq {self.base + self.purged} were purged; no "
                             "proof can reach them")
        rows = list(self.reader.raw_rows(self.base + start, self.base + end))
        if len(rows) != end - start or any(int(r[0]) != self.base + start + 1 + i
                                           for i, r in enumerate(rows)):
            raise ProofError(f"records {self.base + start + 1}..{self.base + end} are not all "
                             "in the ledger")
        return [row_leaf(r) for r in rows]

    def perfect(self, level: int, idx: int) -> bytes:
        key = (level, idx)
        found = self._memo.get(key) or self._fixed.get(key)
        if found is not None:
            return found
        start, end = idx << level, (idx + 1) << level
        if start < self.purged:
            if end <= self.purged or level == 0:
                raise ProofError(f"records up to seq {self.base + self.purged} were purged; "
                                 "no proof can reach them")
            h = node_hash(self.perfect(level - 1, 2 * idx), self.perfect(level - 1, 2 * idx + 1))
        elif self.use_cache and level >= CACHE_LEVEL and (
                cached := self.reader.cached_node(level, idx)) is not None:
            h = cached
        elif level < CACHE_LEVEL:
            rng = CompactRange()
            rng.extend(self.leaves(start, end))
            h = rng.root()
        else:
            h = node_hash(self.perfect(level - 1, 2 * idx), self.perfect(level - 1, 2 * idx + 1))
        if len(self._memo) > 100_000:
            self._memo.clear()
        self._memo[key] = h
        return h

    def subtree(self, start: int, end: int) -> bytes:
        n = end - start
        if n <= 0:
            raise ProofError("empty subtree")
        if n & (n - 1) == 0 and start % n == 0:
            return self.perfect(n.bit_length() - 1, start // n)
        k = _split(n)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def compact_range(self, size: int) -> CompactRange:
        """The compact range of the first ``size`` tree positions."""
        nodes = []
        start = 0
        for level in CompactRange(size, [b""] * bin(size).count("1")).levels():
            nodes.append(self.perfect(level, start >> level))
            start += 1 << level
        return CompactRange(size, nodes)


def tx_rows(tx: Tx, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return tx.execute(sql, params).fetchall()
