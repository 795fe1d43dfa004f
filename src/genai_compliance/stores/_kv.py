"""Key-value stores for counters and per-subject state: memory, SQLite, PostgreSQL, Redis.

Every backend declares what it can do (STYLE 6), and a duty that needs a property asks for
it with :func:`require_capabilities` when it is built, not on the first call:

``"atomic"``
    ``incr`` and :meth:`Store.update` are atomic read-modify-writes for every process that
    shares the store (memory: the threads of one process).
``"shared"``
    the state is seen by every process that opens the same URI (SQLite: one host).
``"script"``
    server-side scripts: :meth:`RedisStore.script` registers one once and runs it by hash
    (``EVALSHA``), one round trip, atomically.
``"pubsub"``
    :meth:`publish` / :meth:`subscribe` on named channels (Redis across replicas; memory
    within the process).

``blocking`` (a class attribute, not a capability) says whether an operation does I/O: the
async guard keeps checks over a ``memory://`` store on the event loop.

Driver errors become :class:`~genai_compliance.errors.StoreUnavailable` (URI redacted) here
and only here (STYLE 8): the duties above never see a ``redis`` or ``psycopg`` exception.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol, cast, runtime_checkable

from ..errors import ConfigurationError
from ._sql import SQLDatabase
from ._uri import StoreURI, parse_uri, redact_uri

__all__ = ["MemoryStore", "PostgreSQLStore", "PubSubStore", "SQLStore", "SQLiteStore", "Script",
           "ScriptStore", "Store", "Subscription", "Updater", "open_store", "pubsub",
           "require_capabilities", "scripting"]

#: ``fn`` of :meth:`Store.update`: the current value (``None``: absent or expired) to the
#: new one (``None``: delete the key)
Updater = Callable[[bytes | None], bytes | None]


@runtime_checkable
class Store(Protocol):
    """What every key-value store offers. Values are bytes; counters are floats.

    .. versionchanged:: 0.2 :meth:`update` (atomic read-modify-write) and ``blocking``.
    """

    uri: str
    capabilities: ClassVar[frozenset[str]]
    blocking: ClassVar[bool]

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    def delete(self, key: str) -> None: ...

    def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float: ...

    def update(self, key: str, fn: Updater, *, ttl: float | None = None) -> bytes | None:
        """Replace the value at ``key`` by ``fn(current)`` atomically and return it.

        ``fn`` may run more than once (Redis retries it when another client wrote the key
        meanwhile), so it must not have side effects beyond its result; an exception from
        it leaves the value unchanged and propagates. ``ttl`` (seconds) makes the written
        value expire; without it the value never does."""
        ...

    def close(self) -> None: ...


class Script(Protocol):
    """A server-side script registered with a ``"script"`` store (run by its hash)."""

    def __call__(self, keys: Sequence[str], args: Sequence[str | bytes]) -> Any:
        """Run the script atomically and return its reply (one round trip)."""
        ...

    def send(self, keys: Sequence[str], args: Sequence[str | bytes]) -> None:
        """Run the script later, without waiting for it: it leaves with the store's next
        script call (in the same round trip, before that call's own script; an error in it
        is raised there) or within the store's ``flush_after`` seconds, and at ``close``."""
        ...


class Subscription(Protocol):
    """A live subscription of a ``"pubsub"`` store; :meth:`close` ends it."""

    def close(self) -> None: ...


@runtime_checkable
class ScriptStore(Store, Protocol):
    """A store with the ``"script"`` capability."""

    def script(self, source: str, *, batched: bool = False) -> Script:
        """``source`` registered once with the server; run it by calling the result.
        ``batched``: it takes one key and one argument per operation and runs them in
        order, so that queued sends and the call after them may leave as one run."""
        ...


@runtime_checkable
class PubSubStore(Store, Protocol):
    """A store with the ``"pubsub"`` capability."""

    def publish(self, channel: str, message: bytes) -> None: ...

    def subscribe(self, channel: str, handler: Callable[[bytes], None]) -> Subscription: ...


def scripting(store: Store) -> ScriptStore | None:
    """``store`` when it declares the ``"script"`` capability, else ``None``."""
    return cast(ScriptStore, store) if "script" in store.capabilities else None


def pubsub(store: Store) -> PubSubStore | None:
    """``store`` when it declares the ``"pubsub"`` capability, else ``None``."""
    return cast(PubSubStore, store) if "pubsub" in store.capabilities else None


class MemoryStore:
    """In-process store: fast, for tests and single-process services. Not shared.

    Its pub/sub reaches the subscribers of this same object (the handlers run in the
    publisher's thread).
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"atomic", "pubsub"})
    blocking: ClassVar[bool] = False

    def __init__(self, uri: str = "memory://") -> None:
        self.uri = uri
        self._data: dict[str, tuple[Any, float]] = {}
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[Callable[[bytes], None]]] = {}

    def _live(self, key: str) -> Any:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires and time.monotonic() >= expires:
            del self._data[key]
            return None
        return value

    @staticmethod
    def _bytes(value: Any) -> bytes | None:
        if isinstance(value, float):
            return repr(value).encode()
        return value  # type: ignore[no-any-return]

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._live(key)
        return self._bytes(value)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        with self._lock:
            self._data[key] = (value, time.monotonic() + ttl if ttl else 0.0)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        with self._lock:
            current = self._live(key)
            base = float(current) if current is not None else 0.0
            new = base + amount
            expires = self._data[key][1] if current is not None else 0.0
            if ttl and not expires:
                expires = time.monotonic() + ttl
            self._data[key] = (new, expires)
            return new

    def update(self, key: str, fn: Updater, *, ttl: float | None = None) -> bytes | None:
        """Atomic under this store's lock (``fn`` must not use the store itself)."""
        with self._lock:
            new = fn(self._bytes(self._live(key)))
            if new is None:
                self._data.pop(key, None)
            else:
                self._data[key] = (bytes(new), time.monotonic() + ttl if ttl else 0.0)
            return new

    def publish(self, channel: str, message: bytes) -> None:
        """Hand ``message`` to this store's subscribers of ``channel``."""
        with self._lock:
            handlers = list(self._subscribers.get(channel, ()))
        for handler in handlers:
            handler(message)

    def subscribe(self, channel: str, handler: Callable[[bytes], None]) -> Subscription:
        """Call ``handler(message)`` for every message published on ``channel``."""
        with self._lock:
            self._subscribers.setdefault(channel, []).append(handler)
        return _MemorySubscription(self, channel, handler)

    def close(self) -> None:
        with self._lock:
            self._data.clear()
            self._subscribers.clear()

    def __repr__(self) -> str:
        return f"MemoryStore({self.uri!r})"


class _MemorySubscription:
    def __init__(self, store: MemoryStore, channel: str,
                 handler: Callable[[bytes], None]) -> None:
        self._store, self._channel, self._handler = store, channel, handler

    def close(self) -> None:
        with self._store._lock:
            handlers = self._store._subscribers.get(self._channel, [])
            if self._handler in handlers:
                handlers.remove(self._handler)


_KV_DDL = {
    "sqlite": "CREATE TABLE IF NOT EXISTS gc_kv (key TEXT PRIMARY KEY, value BLOB, "
              "expires REAL NOT NULL DEFAULT 0)",
    "postgresql": "CREATE TABLE IF NOT EXISTS gc_kv (key TEXT PRIMARY KEY, value BYTEA, "
                  "expires DOUBLE PRECISION NOT NULL DEFAULT 0)",
}
_UPSERT = ("INSERT INTO gc_kv(key, value, expires) VALUES (?, ?, ?) ON CONFLICT(key) DO "
           "UPDATE SET value = excluded.value, expires = excluded.expires")


class SQLStore:
    """A key-value table (``gc_kv``) in a SQL database: the base of :class:`SQLiteStore`
    and :class:`PostgreSQLStore`.

    Reads are one statement each, without ``BEGIN``/``COMMIT``; every write is one
    transaction. Built from a URI it owns (and closes) its :class:`SQLDatabase`; built from
    an opened one it leaves it to its owner.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"atomic", "shared"})
    blocking: ClassVar[bool] = True
    dialect: ClassVar[str] = ""

    def __init__(self, target: str | StoreURI | SQLDatabase) -> None:
        self._owned = not isinstance(target, SQLDatabase)
        self.db = target if isinstance(target, SQLDatabase) else SQLDatabase(target)
        if self.db.dialect != self.dialect:
            raise ConfigurationError(
                f"{type(self).__name__} needs a {self.dialect} database, got "
                f"{self.db.uri.redacted()}", field="uri", value=self.db.uri.redacted())
        self.uri = self.db.uri.raw
        self.db.executescript([_KV_DDL[self.dialect]])

    @staticmethod
    def _value(row: tuple[Any, ...] | None, now: float) -> bytes | None:
        if row is None or row[0] is None or (row[1] and row[1] <= now):
            return None
        value = row[0]
        if isinstance(value, float):
            return repr(value).encode()
        if isinstance(value, str):
            return value.encode()
        return bytes(value)

    def get(self, key: str) -> bytes | None:
        row = self.db.query_one("SELECT value, expires FROM gc_kv WHERE key = ?", (key,))
        return self._value(row, time.time())

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        with self.db.transaction(write=True) as tx:
            tx.execute(_UPSERT, (key, bytes(value), time.time() + ttl if ttl else 0.0))

    def delete(self, key: str) -> None:
        with self.db.transaction(write=True) as tx:
            tx.execute("DELETE FROM gc_kv WHERE key = ?", (key,))

    def _locked_row(self, tx: Any, key: str) -> tuple[Any, ...] | None:
        """The row of ``key``, locked against other writers until the transaction ends
        (SQLite's ``BEGIN IMMEDIATE`` already holds the write lock)."""
        return tx.execute(  # type: ignore[no-any-return]
            "SELECT value, expires FROM gc_kv WHERE key = ?", (key,)).fetchone()

    def update(self, key: str, fn: Updater, *, ttl: float | None = None) -> bytes | None:
        """One transaction: read (locked), ``fn``, write."""
        with self.db.transaction(write=True) as tx:
            now = time.time()
            new = fn(self._value(self._locked_row(tx, key), now))
            if new is None:
                tx.execute("DELETE FROM gc_kv WHERE key = ?", (key,))
            else:
                tx.execute(_UPSERT, (key, bytes(new), now + ttl if ttl else 0.0))
        return new

    def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        now = time.time()
        with self.db.transaction(write=True) as tx:
            row = self._locked_row(tx, key)
            if row is None or row[0] is None or (row[1] and row[1] <= now):
                new, expires = float(amount), (now + ttl if ttl else 0.0)
            else:
                new, expires = float(self._value(row, now) or b"0") + amount, row[1]
            tx.execute(_UPSERT, (key, repr(new).encode(), expires))
        return new

    def adopt_table(self, table: str, *, key_column: str, value_column: str,
                    key_prefix: str = "") -> int:
        """Move the rows of a duty's former state table into this store, once: each row
        becomes key ``key_prefix + <key_column>`` (a key already here wins), then the table
        is renamed ``<table>_migrated`` (or dropped when that name is taken). Returns how
        many rows were copied; 0 when the table does not exist.

        .. versionadded:: 0.2 for the duties' own tables before ``gc_kv`` (issue 14).
        """
        for name in (table, key_column, value_column):
            if not name.replace("_", "").isalnum():
                raise ConfigurationError(f"{name!r} is not a plain SQL identifier",
                                         field="table", value=name)
        done = f"{table}_migrated"
        cast = ("CAST({} AS BLOB)" if self.dialect == "sqlite"
                else "convert_to({}, 'UTF8')").format(value_column)
        with self.db.transaction(write=True) as tx:
            if self.dialect == "postgresql":
                tx.execute("SELECT pg_advisory_xact_lock(7318142078)")
                exists = tx.execute("SELECT to_regclass(?) IS NOT NULL, to_regclass(?) IS "
                                    "NOT NULL", (table, done)).fetchone()
                found, taken = bool(exists and exists[0]), bool(exists and exists[1])
            else:
                names = {r[0] for r in tx.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
                    (table, done)).fetchall()}
                found, taken = table in names, done in names
            if not found:
                return 0
            before = tx.execute("SELECT COUNT(*) FROM gc_kv").fetchone()
            tx.execute(
                f"INSERT INTO gc_kv(key, value, expires) SELECT ? || {key_column}, {cast}, 0 "
                f"FROM {table} WHERE {value_column} IS NOT NULL AND {value_column} <> '' "
                "ON CONFLICT(key) DO NOTHING", (key_prefix,))
            after = tx.execute("SELECT COUNT(*) FROM gc_kv").fetchone()
            tx.execute(f"DROP TABLE {table}" if taken
                       else f"ALTER TABLE {table} RENAME TO {done}")
        return int((after or (0,))[0]) - int((before or (0,))[0])

    def close(self) -> None:
        if self._owned:
            self.db.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_uri(self.uri)!r})"


class SQLiteStore(SQLStore):
    """A table in a SQLite file: shared by the processes of one host, atomic updates
    (``BEGIN IMMEDIATE``)."""

    dialect: ClassVar[str] = "sqlite"


class PostgreSQLStore(SQLStore):
    """A table in PostgreSQL: shared by every replica; updates lock the row
    (``SELECT … FOR UPDATE``) in one transaction; reads take none.

    .. versionadded:: 0.2
    """

    dialect: ClassVar[str] = "postgresql"

    def _locked_row(self, tx: Any, key: str) -> tuple[Any, ...] | None:
        sql = "SELECT value, expires FROM gc_kv WHERE key = ? FOR UPDATE"
        row = tx.execute(sql, (key,)).fetchone()
        if row is None:
            # a row to lock, so two replicas cannot both start from "no row"
            tx.execute("INSERT INTO gc_kv(key, value, expires) VALUES (?, NULL, 0) "
                       "ON CONFLICT(key) DO NOTHING", (key,))
            row = tx.execute(sql, (key,)).fetchone()
        return row  # type: ignore[no-any-return]


def open_store(uri: str) -> Store:
    """Open a key-value store by URI: ``memory://``, ``sqlite:///…``, ``postgresql://…``
    or ``redis://…``.

    .. versionchanged:: 0.2 ``postgresql://`` (:class:`PostgreSQLStore`).
    """
    parsed = parse_uri(uri)
    if parsed.kind == "memory":
        return MemoryStore(uri)
    if parsed.kind == "sqlite":
        return SQLiteStore(parsed)
    if parsed.kind == "postgresql":
        return PostgreSQLStore(parsed)
    if parsed.kind == "redis":
        from ._redis import RedisStore

        return RedisStore(parsed)
    raise ConfigurationError(  # pragma: no cover - parse_uri knows every kind above
        f"{parsed.redacted()} cannot hold state; use memory://, sqlite:///…, postgresql://… "
        "or redis://…", field="uri", value=parsed.redacted())


_WHAT = {"shared": "shared by every replica", "atomic": "atomic",
         "script": "able to run server-side scripts", "pubsub": "able to publish and subscribe"}
_USE = {"shared": "redis://… or postgresql://… for several replicas (sqlite:///… for one "
                  "host)",
        "atomic": "memory://, sqlite:///…, postgresql://… or redis://…",
        "script": "redis://…", "pubsub": "redis://… (memory:// within one process)"}


def require_capabilities(store: Store, *needed: str, purpose: str) -> None:
    """Refuse a store that lacks ``needed`` capabilities, naming what would do."""
    missing = [c for c in needed if c not in store.capabilities]
    if missing:
        raise ConfigurationError(
            f"{purpose} needs a store that is {' and '.join(_WHAT.get(c, c) for c in missing)}"
            f"; {redact_uri(store.uri)!r} is not. Use "
            + "; ".join(_USE.get(c, "another store") for c in missing) + ".",
            field="uri",
            value=redact_uri(store.uri),
        )

