"""The PostgreSQL connection of the ledger's writer.

A group commit of a process that wrote the head last is one statement (:meth:`PGWriter.
execute`, autocommit: one round trip). Otherwise it is ``BEGIN; SELECT … FOR UPDATE`` (one
round trip, the head is needed to hash the records), then ``INSERT …; UPDATE …; COMMIT``
(one more), using libpq's pipeline mode. The
connection belongs to the writer thread; ``synchronous_commit`` is set once per connection
from ``durability``. Each statement runs on a cursor of its own (see :class:`PipelineTx`).
Driver errors become
:class:`~genai_compliance.errors.StoreUnavailable`, the connection is dropped and the next
commit reconnects.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

from .._fork import reset_after_fork
from ..errors import StoreUnavailable
from ..stores import StoreURI, Tx, import_driver, pg_dropped, pg_timeouts, scrub

__all__ = ["PGWriter", "PipelineTx"]

#: connections inherited through fork(): never used, never closed (see transaction())
_INHERITED: list[Any] = []


class PipelineTx(Tx):
    """A transaction in pipeline mode whose every statement gets a cursor of its own.

    In pipeline mode psycopg hands each statement's results to the cursor that sent it
    whenever they arrive, and a cursor's next ``execute`` does not discard results still
    due for its earlier statements: rows inserted on one cursor whose results arrived
    while a later ``SELECT`` was being sent on the same cursor became what that
    ``SELECT``'s ``fetchone`` read ("the last operation didn't produce records (command
    status: INSERT 0 1)", seen under load with a 1000-record batch). With one cursor per
    statement, late results land on the cursor that is done with them.
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._cursors: list[Any] = []
        super().__init__("postgresql", None)  # every statement takes its own cursor

    def _cursor(self) -> Any:
        cur = self._conn.cursor()
        self._cursors.append(cur)
        return cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Tx:
        cur = self._cursor()
        cur.execute(self._sql(sql), tuple(params))
        return Tx("postgresql", cur)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._cursor().executemany(self._sql(sql), [tuple(r) for r in rows])

    def close(self) -> None:
        for cur in self._cursors:
            with contextlib.suppress(Exception):
                cur.close()
        self._cursors.clear()


class PGWriter:
    """A dedicated, pipelined write connection to the ledger's PostgreSQL schema."""

    def __init__(self, uri: StoreURI, *, durable: bool) -> None:
        self.uri = uri
        self.durable = durable
        self.pg = import_driver("postgresql")
        self._pid = os.getpid()
        self.pipelined = bool(self.pg.Pipeline.is_supported())
        # the open connection, closed even when the owning ledger is never closed
        self._held: list[Any] = []
        weakref.finalize(self, _close_all, self._held)
        reset_after_fork(self)  # before anything can close what it copied

    @property
    def _conn(self) -> Any:
        return self._held[0] if self._held else None

    @_conn.setter
    def _conn(self, conn: Any) -> None:
        self._held[:] = [] if conn is None else [conn]

    def _connect(self) -> Any:
        pg = self.pg
        raw = self.uri.raw.split("?", 1)[0]
        query = self.uri.driver_params()
        query["options"] = pg_timeouts(30.0, query.get("options"))
        try:
            conn = pg.connect(raw, autocommit=True, connect_timeout=30, **query)
            schema = self.uri.query.get("schema")
            if schema:
                conn.execute(pg.sql.SQL("SET search_path TO {}").format(
                    pg.sql.Identifier(schema)))
            conn.execute("SET synchronous_commit TO " + ("on" if self.durable else "off"))
        except pg.Error as exc:
            raise StoreUnavailable(
                f"cannot connect to {self.uri.redacted()}: {scrub(str(exc), self.uri.raw)}; "
                "check that the server runs and the URI is right",
                uri=self.uri.redacted()) from exc
        return conn

    def _forked(self) -> None:
        """In a forked child: keep the parent's connection alive here, unused, as closing
        it (also by the finalizer at exit) would end the parent's session."""
        _INHERITED.extend(self._held)
        self._held.clear()
        self._pid = os.getpid()

    def _connection(self) -> Any:
        if os.getpid() != self._pid:  # forked: never share a connection across processes
            self._forked()
        if self._conn is not None and pg_dropped(self._conn):
            self.close()  # the server ended it while idle: commit on a new one
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        """Run one statement (psycopg placeholders) as a transaction of its own: committed
        (with the connection's ``synchronous_commit``) when this returns, or rolled back."""
        conn = self._connection()
        try:
            conn.execute(sql, params)
        except self.pg.OperationalError as exc:
            self.close()
            raise StoreUnavailable(f"{self.uri.redacted()} failed: "
                                   f"{scrub(str(exc), self.uri.raw)}",
                                   uri=self.uri.redacted()) from exc

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        """One pipelined transaction; commits on success, rolls back on error."""
        conn = self._connection()
        try:
            pipeline = conn.pipeline() if self.pipelined else contextlib.nullcontext()
            tx = PipelineTx(conn)
            try:
                with pipeline, conn.transaction():
                    yield tx
            finally:
                tx.close()
        except self.pg.OperationalError as exc:
            self.close()
            raise StoreUnavailable(f"{self.uri.redacted()} failed: "
                                   f"{scrub(str(exc), self.uri.raw)}",
                                   uri=self.uri.redacted()) from exc

    def close(self) -> None:
        _close_all(self._held)


def _close_all(held: list[Any]) -> None:
    while held:
        conn = held.pop()
        with contextlib.suppress(Exception):
            conn.close()
