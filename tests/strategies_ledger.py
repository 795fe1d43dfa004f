"""Hypothesis strategies and raw-SQL helpers shared by the ledger tests (STYLE 17).

The helpers play the attacker: they edit a ledger's tables behind its back on SQLite and on
PostgreSQL alike, and can "fix up" the head and the tree state the way someone who knows
the format would.
"""

from __future__ import annotations

import contextlib
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from genai_compliance.ledger._merkle import CompactRange, leaf_hash
from genai_compliance.ledger._reader import TreeMeta, row_leaf

#: tree sizes worth covering: small, around powers of two, and a few larger ones
tree_sizes = st.one_of(st.integers(1, 40), st.sampled_from([63, 64, 65, 127, 128, 129, 255,
                                                            256, 257, 300]))
leaf_data = st.binary(min_size=0, max_size=24)


@st.composite
def trees(draw: Any, min_size: int = 1) -> list[bytes]:
    """Leaf hashes of a random tree (at least ``min_size`` leaves)."""
    size = max(min_size, draw(tree_sizes))
    seed = draw(st.binary(min_size=4, max_size=4))
    return [leaf_hash(seed + i.to_bytes(4, "big")) for i in range(size)]


@st.composite
def tree_and_index(draw: Any) -> tuple[list[bytes], int]:
    leaves = draw(trees())
    return leaves, draw(st.integers(0, len(leaves) - 1))


@st.composite
def tree_and_old_size(draw: Any) -> tuple[list[bytes], int]:
    leaves = draw(trees())
    return leaves, draw(st.integers(0, len(leaves)))


payload_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6)
ledger_payloads = st.dictionaries(st.text(min_size=1, max_size=8), payload_values, max_size=4)
#: payloads the shaped encoder may take: exact str/int/bool/None, lists, tuples and dicts,
#: with keys from all of Unicode (outside the BMP it must decline: JCS sorts those by UTF-16)
shaped_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8),
    lambda inner: (st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
                   | st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=10)
shaped_payloads = st.dictionaries(st.text(max_size=6), shaped_values, max_size=6)


# -- raw access to a ledger's tables ----------------------------------------------------
@contextlib.contextmanager
def raw(uri: str) -> Iterator[Any]:
    """A DB-API connection in autocommit mode on the ledger's tables (``?`` placeholders
    on SQLite, ``%s`` on PostgreSQL — use :func:`q`)."""
    if uri.startswith("sqlite:///"):
        conn = sqlite3.connect(uri.removeprefix("sqlite:///"), isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()
        return
    import psycopg

    parts = urllib.parse.urlsplit(uri)
    schema = dict(urllib.parse.parse_qsl(parts.query)).get("schema")
    base = urllib.parse.urlunsplit(parts._replace(query=""))
    with psycopg.connect(base, autocommit=True) as conn:
        if schema:
            conn.execute(f'SET search_path TO "{schema}"')
        yield conn


def q(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``?`` placeholders) on either driver; returns the rows, if any."""
    if not isinstance(conn, sqlite3.Connection):
        sql = sql.replace("?", "%s")
    cur = conn.execute(sql, params)
    try:
        return [tuple(r) for r in cur.fetchall()]
    except Exception:  # statements without rows
        return []


def fix_up(uri: str, keep: int) -> None:
    """Truncate the tail to ``keep`` records and make the head and the tree state agree
    with what is left, as an attacker who knows the format would."""
    with raw(uri) as conn:
        q(conn, "DELETE FROM gc_ledger_records WHERE seq > ?", (keep,))
        rows = q(conn, "SELECT seq, time, kind, subject, payload, prev_hash, hash FROM "
                 "gc_ledger_records ORDER BY seq")
        rng = CompactRange()
        for row in rows:
            rng.append(row_leaf(row))
        head = f"{keep}:{rows[-1][6]}" if rows else "0:" + "0" * 64
        q(conn, "UPDATE gc_ledger_meta SET value = ? WHERE key = 'head'", (head,))
        q(conn, "UPDATE gc_ledger_meta SET value = ? WHERE key = 'tree'",
          (TreeMeta(0, rng.size, tuple(rng.nodes)).dumps(),))
        q(conn, "DELETE FROM gc_ledger_tree_heads WHERE size > ?", (keep,))


def wipe(uri: str) -> None:
    """Delete every row of every ledger table (the tables stay)."""
    with raw(uri) as conn:
        for table in ("gc_ledger_records", "gc_ledger_meta", "gc_ledger_tree_heads",
                      "gc_ledger_checkpoints", "gc_ledger_tree_nodes", "gc_subject_keys"):
            q(conn, f"DELETE FROM {table}")


def sqlite_path(uri: str) -> Path:
    return Path(uri.removeprefix("sqlite:///"))
