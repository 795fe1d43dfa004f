"""Read-only database access for verification: never creates a file, a schema, a table or
a key.

SQLite is opened with ``mode=ro`` when the write-ahead log exists (a writer is running or
stopped without closing: its files are already there), and ``immutable=1`` when it does not
(so no ``-wal``/``-shm`` file appears). PostgreSQL sessions run with
``default_transaction_read_only=on`` and only look the ``?schema=`` up. Driver errors become
:class:`~genai_compliance.errors.LedgerNotFound` (nothing there),
:class:`~genai_compliance.errors.LedgerCorrupt` (not readable) or
:class:`~genai_compliance.errors.StoreUnavailable` (the server does not answer).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from typing import Any

from ..errors import ConfigurationError, LedgerCorrupt, LedgerNotFound, StoreUnavailable
from ..stores import StoreURI, Tx, import_driver, parse_uri, scrub

__all__ = ["ReadOnlyDatabase", "open_readonly_db"]

_SQLITE_MAGIC = b"SQLite format 3\x00"


class ReadOnlyDatabase:
    """One read-only connection; ``transaction()`` yields a :class:`~genai_compliance.stores.Tx`."""

    def __init__(self, uri: StoreURI, conn: Any, *, pg: Any = None) -> None:
        self.uri = uri
        self.dialect = uri.kind
        self._conn = conn
        self._pg = pg

    @contextlib.contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Tx]:
        if write:
            raise ConfigurationError("a read-only ledger cannot write", field="ledger")
        try:
            if self.dialect == "sqlite":
                cur = self._conn.cursor()
                cur.execute("BEGIN")
                try:
                    yield Tx("sqlite", cur)
                finally:
                    self._conn.rollback()
            else:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    yield Tx("postgresql", cur)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"{self.uri.redacted()} failed: "
                                   f"{scrub(str(exc), self.uri.raw)}",
                                   uri=self.uri.redacted()) from exc
        except sqlite3.DatabaseError as exc:
            raise LedgerCorrupt(f"the ledger database {self.uri.redacted()} is damaged: "
                                f"{exc}", uri=self.uri.redacted()) from exc
        except Exception as exc:
            if self._pg is not None and isinstance(exc, self._pg.OperationalError):
                raise StoreUnavailable(f"{self.uri.redacted()} failed: "
                                       f"{scrub(str(exc), self.uri.raw)}",
                                       uri=self.uri.redacted()) from exc
            if self._pg is not None and isinstance(exc, self._pg.DatabaseError):
                raise LedgerCorrupt(f"the ledger database {self.uri.redacted()} cannot be "
                                    f"read: {scrub(str(exc), self.uri.raw)}",
                                    uri=self.uri.redacted()) from exc
            raise

    def has_table(self, name: str) -> bool:
        with self.transaction() as tx:
            if self.dialect == "sqlite":
                row = tx.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                 "name = ?", (name,)).fetchone()
            else:
                row = tx.execute("SELECT to_regclass(?)", (name,)).fetchone()
                row = row if row and row[0] is not None else None
        return row is not None

    def columns(self, table: str) -> set[str]:
        with self.transaction() as tx:
            if self.dialect == "sqlite":
                rows = tx.execute(f"PRAGMA table_info({table})").fetchall()
                return {str(r[1]) for r in rows}
            rows = tx.execute("SELECT column_name FROM information_schema.columns WHERE "
                              "table_name = ? AND table_schema = current_schema()",
                              (table,)).fetchall()
            return {str(r[0]) for r in rows}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()

    def __enter__(self) -> ReadOnlyDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ReadOnlyDatabase({self.uri.redacted()!r})"


def _open_sqlite(uri: StoreURI, what: str) -> ReadOnlyDatabase:
    path = uri.path
    if path == ":memory:":
        raise LedgerNotFound(f"{uri.redacted()} is an in-memory database: there is no {what} "
                             "to read from another process", uri=uri.redacted())
    if not os.path.isfile(path):
        raise LedgerNotFound(f"there is no {what} at {path!r}: the file does not exist (check "
                             "the path; verify never creates one)", uri=uri.redacted(),
                             path=path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise StoreUnavailable(f"cannot read {path!r}: {exc.strerror}", uri=uri.redacted(),
                               path=path) from exc
    if not head:
        raise LedgerNotFound(f"the {what} file {path!r} is empty", uri=uri.redacted(),
                             path=path)
    if head != _SQLITE_MAGIC:
        raise LedgerCorrupt(f"{path!r} is not an SQLite database (damaged or another kind of "
                            "file)", uri=uri.redacted(), path=path)
    mode = "mode=ro" if os.path.exists(path + "-wal") else "immutable=1"
    target = f"file:{urllib.parse.quote(os.path.abspath(path))}?{mode}"
    try:
        conn = sqlite3.connect(target, uri=True, isolation_level=None, check_same_thread=False,
                               timeout=30)
        # a byte an attacker made invalid UTF-8 must fail that record, not the reader
        conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
        conn.execute("PRAGMA query_only=1")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        raise StoreUnavailable(f"cannot open {path!r} read-only: {exc}", uri=uri.redacted(),
                               path=path) from exc
    except sqlite3.DatabaseError as exc:
        raise LedgerCorrupt(f"{path!r} is damaged: {exc}", uri=uri.redacted(),
                            path=path) from exc
    return ReadOnlyDatabase(uri, conn)


def _open_postgres(uri: StoreURI, what: str) -> ReadOnlyDatabase:
    pg = import_driver("postgresql")
    raw = uri.raw.split("?", 1)[0]
    query = uri.driver_params()
    options = (query.pop("options", "") + " -c default_transaction_read_only=on").strip()
    try:
        conn = pg.connect(raw, autocommit=True, connect_timeout=30, options=options, **query)
    except Exception as exc:
        raise StoreUnavailable(
            f"cannot connect to {uri.redacted()}: {scrub(str(exc), uri.raw)}; check that the "
            "server runs and the URI is right", uri=uri.redacted()) from exc
    schema = uri.query.get("schema")
    try:
        if schema is not None:
            row = conn.execute("SELECT 1 FROM information_schema.schemata WHERE "
                               "schema_name = %s", (schema,)).fetchone()
            if row is None:
                conn.close()
                raise LedgerNotFound(f"there is no {what} at {uri.redacted()}: schema "
                                     f"{schema!r} does not exist (verify never creates one)",
                                     uri=uri.redacted())
            conn.execute(pg.sql.SQL("SET search_path TO {}").format(pg.sql.Identifier(schema)))
    except pg.Error as exc:
        conn.close()
        raise StoreUnavailable(f"{uri.redacted()} failed: {scrub(str(exc), uri.raw)}",
                               uri=uri.redacted()) from exc
    return ReadOnlyDatabase(uri, conn, pg=pg)


def open_readonly_db(uri: str | StoreURI, *, what: str = "ledger") -> ReadOnlyDatabase:
    """Open ``uri`` (``sqlite:///…`` or ``postgresql://…``) for reading only."""
    parsed = parse_uri(uri) if isinstance(uri, str) else uri
    if parsed.kind == "sqlite":
        return _open_sqlite(parsed, what)
    if parsed.kind == "postgresql":
        return _open_postgres(parsed, what)
    raise ConfigurationError(f"a {what} lives in sqlite:///… or postgresql://…, not "
                             f"{parsed.redacted()}", field="uri", value=parsed.redacted())
