"""A small SQL layer over sqlite3 and psycopg, shared by every duty that keeps tables.

A duty asks for a :class:`SQLDatabase` by URI and never opens connections itself. SQL is
written once with ``?`` placeholders; for PostgreSQL they become ``%s``. Driver errors become
:class:`~genai_compliance.errors.StoreUnavailable` at this boundary (STYLE 8).

PostgreSQL URIs may carry ``?schema=NAME``: tables then live in that schema (created when
missing), which keeps tests and tenants apart in one database.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

from .._fork import reset_after_fork
from ..errors import ConfigurationError, StoreUnavailable
from ._threads import socket_readable
from ._uri import StoreURI, import_driver, parse_uri, scrub

__all__ = ["SQLDatabase", "Tx", "open_sql"]

_SCHEMA_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class Tx:
    """A cursor inside one transaction; ``?`` placeholders on both dialects."""

    def __init__(self, dialect: str, cursor: Any) -> None:
        self.dialect = dialect
        self._cur = cursor

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Tx:
        self._cur.execute(self._sql(sql), tuple(params))
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._cur.executemany(self._sql(sql), [tuple(r) for r in rows])

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cur.fetchone()
        return None if row is None else tuple(row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._cur.fetchall()]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for row in self._cur:
            yield tuple(row)


def pg_timeouts(seconds: float, options: str | None = None) -> str:
    """libpq ``options`` that bound a lock wait by ``seconds`` (PostgreSQL ``lock_timeout``,
    set at connect: no round trip), so a row lock that a hung client or a stuck session
    holds denies the call (``StoreUnavailable``) instead of hanging it for good, as
    SQLite's busy timeout does. Statements themselves are not bounded: a retention purge
    or a report may rightly take longer. ``options`` from the URI come after ours, so a
    ``lock_timeout`` set there wins.

    .. versionadded:: 0.2
    """
    ours = f"-c lock_timeout={max(1, int(seconds * 1000))}"
    return f"{ours} {options}" if options else ours


def pg_dropped(conn: Any) -> bool:
    """Whether the server has ended an idle PostgreSQL connection (restarted, failed over,
    ``pg_terminate_backend``, an idle timeout). An idle connection has nothing to read;
    data waiting on its socket is the server's goodbye (or a notice: the connection is
    then replaced for nothing). One ``select`` with no wait, about 1 µs, instead of the
    next statement failing — which refused a call whose model had already answered.

    .. versionadded:: 0.2
    """
    try:
        if conn.closed or conn.broken:
            return True
        sock = conn.pgconn.socket
    except Exception:  # no socket any more
        return True
    return socket_readable(sock)


class _ForkGate:
    """No SQLite statement runs in this process while it forks. SQLite keeps its lock state
    for each open file in process memory, which a fork copies: a child forked while a
    parent thread was inside a write transaction believes that lock is still held (by a
    connection it never uses) and every write of its own waits out the busy timeout, then
    fails. Statements hold the gate shared; :func:`os.fork` closes it (the
    ``register_at_fork`` hooks below) and waits, at most 5 s, for those in progress to end.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active = 0
        self._closed = False

    def enter(self) -> None:
        with self._lock:
            while self._closed:
                self._idle.wait()
            self._active += 1

    def leave(self) -> None:
        with self._lock:
            self._active -= 1
            if self._closed and not self._active:
                self._idle.notify_all()

    def before_fork(self) -> None:
        self._lock.acquire()  # held across the fork: nothing enters meanwhile
        self._closed = True
        deadline = time.monotonic() + 5.0
        while self._active and (left := deadline - time.monotonic()) > 0:
            self._idle.wait(left)  # (the forking thread's own transaction would never end)

    def after_fork_in_parent(self) -> None:
        self._closed = False
        self._idle.notify_all()
        self._lock.release()

    def after_fork_in_child(self) -> None:
        self._reset()  # the parent's statements are not the child's


_FORK_GATE = _ForkGate()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_FORK_GATE.before_fork,
                        after_in_parent=_FORK_GATE.after_fork_in_parent,
                        after_in_child=_FORK_GATE.after_fork_in_child)
#: connections one :class:`SQLDatabase` keeps open at most (its ``pool_size``)
DEFAULT_POOL_SIZE = 16
#: the connections a forked child inherited, kept unused (see SQLDatabase._forked)
_INHERITED: list[Any] = []


class SQLDatabase:
    """A bounded pool of connections to one SQLite file or PostgreSQL database.

    ``transaction(write=True)`` takes the database's write lock at the start (SQLite
    ``BEGIN IMMEDIATE``); PostgreSQL callers lock what they need with ``FOR UPDATE``.
    ``durable=True`` makes SQLite fsync every commit (``synchronous=FULL``).

    Each transaction or query takes a connection from the pool and gives it back when it
    ends; one nested in another on the same thread uses the outer one's. At most
    ``pool_size`` connections are open, however many threads a server runs (a sync FastAPI
    app runs 40 worker threads; with one connection per thread, three replicas' ledgers and
    stores passed PostgreSQL's default ``max_connections`` of 100 and their calls were
    refused). A thread that finds every connection in use waits for one, at most
    ``timeout`` seconds, then gets :class:`StoreUnavailable`. ``pool_size`` comes from the
    argument, else the URI's ``pool_size`` query parameter
    (``postgresql://…/db?pool_size=32``), else :data:`DEFAULT_POOL_SIZE`.

    .. versionchanged:: 0.2 a bounded pool instead of one connection per thread.
    """

    def __init__(
        self, uri: str | StoreURI, *, timeout: float = 30.0, durable: bool = False,
        pool_size: int | None = None,
    ) -> None:
        self.uri = parse_uri(uri) if isinstance(uri, str) else uri
        if pool_size is None:
            text = self.uri.query.get("pool_size")
            pool_size = (DEFAULT_POOL_SIZE if text is None
                         else int(text) if text.isdigit() else -1)
            if pool_size < 1:
                raise ConfigurationError(
                    f"pool_size={text!r} in {self.uri.redacted()} must be a positive integer "
                    "(connections one database keeps open at most)", field="pool_size",
                    value=text)
        if type(pool_size) is not int or pool_size < 1:
            raise ConfigurationError(
                f"pool_size must be a positive integer, got {pool_size!r}",
                field="pool_size", value=pool_size)
        if self.uri.kind not in ("sqlite", "postgresql"):
            raise ConfigurationError(
                f"{self.uri.redacted()} is not a SQL store; use sqlite:///… or postgresql://…",
                field="uri",
                value=self.uri.redacted(),
            )
        self.dialect = self.uri.kind
        self.timeout = timeout
        self.durable = durable
        self.pool_size = pool_size
        # every connection opened, so they are closed even when the owner forgets to
        self._all: list[Any] = []
        self._new_pool()
        reset_after_fork(self)
        self._finalizer = weakref.finalize(self, _close_all, self._all)
        self.schema: str | None = None
        if self.dialect == "postgresql":
            self._pg = import_driver("postgresql")
            schema = self.uri.query.get("schema")
            if schema is not None and not _SCHEMA_RE.match(schema):
                raise ConfigurationError(
                    f"schema name {schema!r} must be a plain identifier",
                    field="schema",
                    value=schema,
                )
            self.schema = schema
        else:
            directory = os.path.dirname(os.path.abspath(self.uri.path))
            if self.uri.path != ":memory:" and not os.path.isdir(directory):
                raise ConfigurationError(
                    f"the folder for SQLite file {self.uri.path!r} does not exist; create "
                    f"{directory!r} first",
                    field="uri",
                    value=self.uri.raw,
                )

    # -- connections -------------------------------------------------------------------
    def _connect(self) -> Any:
        try:
            if self.dialect == "sqlite":
                conn = sqlite3.connect(
                    self.uri.path, timeout=self.timeout, isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute("PRAGMA journal_mode=WAL")
                # durable: fsync every commit, so a committed record survives power loss too
                conn.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
                conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
                conn.execute("PRAGMA foreign_keys=ON")
                return conn
            raw = self.uri.raw.split("?", 1)[0]
            query = self.uri.driver_params()
            query["options"] = pg_timeouts(self.timeout, query.get("options"))
            conn = self._pg.connect(raw, autocommit=True, connect_timeout=int(self.timeout),
                                    **query)
            if self.schema:
                try:
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                except self._pg.errors.UniqueViolation:
                    pass  # another connection created it at the same moment
                conn.execute(f'SET search_path TO "{self.schema}"')
            return conn
        except ConfigurationError:
            raise
        except Exception as exc:
            raise StoreUnavailable(
                f"cannot connect to {self.uri.redacted()}: {scrub(str(exc), self.uri.raw)}; "
                "check that the server runs and the URI is right",
                uri=self.uri.redacted(),
            ) from exc

    def _new_pool(self) -> None:
        self._local = threading.local()  # .held: the connection this thread has out
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._idle: list[Any] = []  # open, not in use (the last given back first)
        self._open = 0  # open or being opened
        self._waiting = 0
        self._gen = 0  # close() starts a new generation: older connections are not given back

    def _forked(self) -> None:
        """In a forked child: the connections copied from the parent are never used here
        and never closed either — closing one would end the parent's PostgreSQL session
        (psycopg tells the server) or touch SQLite's lock state the parent relies on; they
        are kept, unused, until the child exits. The child opens its own (and a new pool:
        a lock some parent thread held at the fork would stay held)."""
        _INHERITED.extend(self._all)
        self._all.clear()  # (in place: the finalizer closes what this list holds)
        self._new_pool()

    def _take(self) -> tuple[Any, int | None]:
        """The connection for a transaction or query: the one this thread already has out
        (a query inside its transaction: generation ``None``, nothing to give back), else
        one from the pool (:meth:`_acquire`)."""
        held = getattr(self._local, "held", None)
        if held is not None:
            return held, None
        conn, gen = self._acquire()
        self._local.held = conn
        return conn, gen

    def _give_back(self, conn: Any, gen: int | None) -> None:
        if gen is not None:
            self._local.held = None
            self._release(conn, gen)

    def _acquire(self) -> tuple[Any, int]:
        """A connection for this thread's transaction or query: an idle one (replaced when
        PostgreSQL ended it while idle), a new one while fewer than ``pool_size`` are open,
        else the next one given back; and the pool's generation it was taken in."""
        if os.getpid() != self._pid:  # forked without the hook (it runs first, normally)
            self._forked()
        conn = None
        with self._lock:
            if self._idle:
                conn = self._idle.pop()
            elif self._open < self.pool_size:
                self._open += 1
            else:
                conn = self._wait_for_one()
            gen = self._gen
        if conn is not None:
            if self.dialect != "postgresql" or not pg_dropped(conn):
                return conn, gen
            self._discard(conn, opened=False)  # the server ended it: a new one in its place
        try:
            conn = self._connect()
        except BaseException:
            with self._lock:
                if gen == self._gen:  # (a close() meanwhile counted it out already)
                    self._open -= 1
                if self._waiting:
                    self._freed.notify()
            raise
        self._all.append(conn)
        return conn, gen

    def _wait_for_one(self) -> Any:
        """(``self._lock`` held) The next connection given back, or a free place."""
        deadline = time.monotonic() + self.timeout
        self._waiting += 1
        try:
            while not self._idle and self._open >= self.pool_size:
                left = deadline - time.monotonic()
                if left <= 0 or not self._freed.wait(left):
                    if self._idle or self._open < self.pool_size:
                        break
                    raise StoreUnavailable(
                        f"{self.uri.redacted()}: all {self.pool_size} connections of the pool "
                        f"stayed in use for {self.timeout:g} s; raise pool_size, or look "
                        "for transactions left open", uri=self.uri.redacted())
        finally:
            self._waiting -= 1
        if self._idle:
            return self._idle.pop()
        self._open += 1
        return None

    def _release(self, conn: Any, gen: int) -> None:
        """Give ``conn`` (taken in generation ``gen``) back; closed instead when it broke or
        the pool was closed meanwhile."""
        if gen != self._gen:  # closed by close() while in use
            self._discard(conn, opened=False)
            return
        if self.dialect == "postgresql":
            if conn.closed or conn.broken:
                self._discard(conn, gen=gen)
                return
        elif conn.in_transaction:  # a COMMIT that failed: never hand the next user that
            try:
                conn.rollback()
            except Exception:
                self._discard(conn, gen=gen)
                return
        with self._lock:
            self._idle.append(conn)
            if self._waiting:
                self._freed.notify()

    def _discard(self, conn: Any, *, opened: bool = True, gen: int | None = None) -> None:
        """Close ``conn`` for good; with ``opened``, its place in the pool is free again
        (unless a close() since generation ``gen`` already counted it out)."""
        with contextlib.suppress(Exception):
            conn.close()
        with contextlib.suppress(ValueError):
            self._all.remove(conn)
        if opened:
            with self._lock:
                if gen is None or gen == self._gen:
                    self._open -= 1
                if self._waiting:
                    self._freed.notify()

    def _unavailable(self, exc: BaseException) -> StoreUnavailable | None:
        """The :class:`StoreUnavailable` for a driver error that means the database did not
        answer (or cannot be read), else ``None``: the one translation of SQL driver errors
        (STYLE 8)."""
        if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
            return None
        if isinstance(exc, sqlite3.DatabaseError | sqlite3.InterfaceError):
            what = "failed"
        elif self.dialect == "postgresql" and isinstance(
                exc, self._pg.OperationalError | self._pg.InterfaceError):
            what = "failed"  # (a broken connection is closed when given back)
        else:
            return None
        return StoreUnavailable(
            f"{self.uri.redacted()} {what}: {scrub(str(exc), self.uri.raw)}; check that the "
            "database answers and the URI is right", uri=self.uri.redacted())

    @contextlib.contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Tx]:
        """One transaction; commits on success, rolls back on error.

        A lone ``SELECT`` needs none: use :meth:`query` / :meth:`query_one`.
        """
        conn, gen = self._take()
        try:
            if self.dialect == "sqlite":
                _FORK_GATE.enter()
                try:
                    cur = conn.cursor()
                    cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        yield Tx("sqlite", cur)
                    except BaseException:
                        conn.rollback()
                        raise
                    else:
                        conn.commit()
                finally:
                    _FORK_GATE.leave()
            else:
                with conn.transaction(), conn.cursor() as cur:
                    yield Tx("postgresql", cur)
        except Exception as exc:
            mapped = self._unavailable(exc)
            if mapped is not None:
                raise mapped from exc
            raise
        finally:
            self._give_back(conn, gen)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one read statement, run without ``BEGIN``/``COMMIT`` (autocommit: a
        single statement sees one consistent snapshot on both dialects).

        .. versionadded:: 0.2
        """
        conn, gen = self._take()
        sqlite = self.dialect == "sqlite"
        try:
            if sqlite:
                _FORK_GATE.enter()
            try:
                cur = conn.cursor()
                try:
                    cur.execute(Tx(self.dialect, cur)._sql(sql), tuple(params))
                    return [tuple(r) for r in cur.fetchall()]
                finally:
                    cur.close()
            finally:
                if sqlite:
                    _FORK_GATE.leave()
        except Exception as exc:
            mapped = self._unavailable(exc)
            if mapped is not None:
                raise mapped from exc
            raise
        finally:
            self._give_back(conn, gen)

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of one read statement (``None`` when there is none), without a
        transaction; see :meth:`query`."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def executescript(self, statements: Sequence[str]) -> None:
        """Run DDL statements (each idempotent) in one transaction."""
        with self.transaction(write=True) as tx:
            if self.dialect == "postgresql":
                # serialise concurrent CREATE TABLE IF NOT EXISTS from many processes
                tx.execute("SELECT pg_advisory_xact_lock(7318142077)")
            for stmt in statements:
                tx.execute(stmt)

    def close(self) -> None:
        """Close every connection this object opened (in any thread); one still in use is
        closed when given back. A later transaction opens new ones."""
        with self._lock:
            self._idle.clear()
            self._open = 0
            self._gen += 1
            if self._waiting:
                self._freed.notify_all()
        _close_all(self._all)

    def __repr__(self) -> str:
        return f"SQLDatabase({self.uri.redacted()!r})"


def _close_all(conns: list[Any]) -> None:
    while conns:
        conn = conns.pop()
        with contextlib.suppress(Exception):
            conn.close()


def open_sql(uri: str, *, durable: bool = False) -> SQLDatabase:
    """Open the SQL database at ``uri`` (``sqlite:///…`` or ``postgresql://…``)."""
    return SQLDatabase(uri, durable=durable)
