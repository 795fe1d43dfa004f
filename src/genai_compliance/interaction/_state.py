"""Where the per-subject interaction state lives, each update one atomic read-modify-write:

* ``memory://`` — one process (a lock);
* ``sqlite:///…`` — one host (``BEGIN IMMEDIATE`` on ``gc_interaction``);
* ``postgresql://…`` — every replica (``SELECT … FOR UPDATE``);
* ``redis://…`` — every replica (``WATCH``/``MULTI``/``EXEC``, retried on conflict).

A backend that cannot answer raises :class:`~genai_compliance.errors.StoreUnavailable`
(fail closed). Keys are the ledger's keyed HMAC of the user id, never the id itself.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError, StoreUnavailable
from ..stores import (
    MemoryStore,
    RedisStore,
    SQLDatabase,
    SQLiteStore,
    Store,
    open_store,
    parse_uri,
    redact_uri,
)

__all__ = ["StateStore", "open_state"]

Update = Callable[[dict[str, Any] | None], dict[str, Any]]

_DDL = ["CREATE TABLE IF NOT EXISTS gc_interaction (key TEXT PRIMARY KEY, state TEXT NOT NULL, "
        "updated REAL NOT NULL)"]

_LOCKS: weakref.WeakKeyDictionary[MemoryStore, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _dump(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"), sort_keys=True)


class StateStore:
    """Load and atomically update one JSON document per key."""

    uri: str = ""
    #: whether an update does I/O (the async driver moves it to a worker thread)
    blocking: bool = True

    def load(self, key: str) -> dict[str, Any] | None:  # pragma: no cover - interface
        raise NotImplementedError

    def update(self, key: str, fn: Update) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def delete(self, key: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Nothing by default: shared stores are closed by their owner."""


class _MemoryState(StateStore):
    blocking = False

    def __init__(self, store: MemoryStore) -> None:
        self.store, self.uri = store, store.uri
        with _LOCKS_GUARD:
            self._lock = _LOCKS.setdefault(store, threading.Lock())

    def load(self, key: str) -> dict[str, Any] | None:
        raw = self.store.get(key)
        return None if raw is None else dict(json.loads(raw))

    def update(self, key: str, fn: Update) -> dict[str, Any]:
        with self._lock:
            new = fn(self.load(key))
            self.store.set(key, _dump(new).encode())
        return new

    def delete(self, key: str) -> None:
        self.store.delete(key)


class _SQLState(StateStore):
    def __init__(self, db: SQLDatabase, *, owned: bool) -> None:
        self.db, self.owned = db, owned
        self.uri = db.uri.redacted()
        db.executescript(_DDL)

    def load(self, key: str) -> dict[str, Any] | None:
        with self.db.transaction() as tx:
            row = tx.execute("SELECT state FROM gc_interaction WHERE key = ?", (key,)).fetchone()
        return None if row is None or not row[0] else dict(json.loads(row[0]))

    def update(self, key: str, fn: Update) -> dict[str, Any]:
        with self.db.transaction(write=True) as tx:
            if self.db.dialect == "postgresql":
                # a row to lock, so two replicas cannot both start from "no row"
                tx.execute("INSERT INTO gc_interaction(key, state, updated) VALUES (?, '', 0) "
                           "ON CONFLICT (key) DO NOTHING", (key,))
                row = tx.execute("SELECT state FROM gc_interaction WHERE key = ? FOR UPDATE",
                                 (key,)).fetchone()
            else:
                row = tx.execute("SELECT state FROM gc_interaction WHERE key = ?",
                                 (key,)).fetchone()
            current = dict(json.loads(row[0])) if row and row[0] else None
            new = fn(current)
            tx.execute("INSERT INTO gc_interaction(key, state, updated) VALUES (?, ?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET state = excluded.state, "
                       "updated = excluded.updated", (key, _dump(new), time.time()))
        return new

    def delete(self, key: str) -> None:
        with self.db.transaction(write=True) as tx:
            tx.execute("DELETE FROM gc_interaction WHERE key = ?", (key,))

    def close(self) -> None:
        if self.owned:
            self.db.close()


class _RedisState(StateStore):
    def __init__(self, store: RedisStore) -> None:
        import redis  # present: the RedisStore was built with it

        self.store, self.uri = store, redact_uri(store.uri)
        self._errors: type[Exception] = redis.RedisError

    def _fail(self, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"Redis at {self.uri} failed: {type(exc).__name__}; the call "
                                "is denied until it answers", uri=self.uri)

    def load(self, key: str) -> dict[str, Any] | None:
        raw = self.store.get(key)
        return None if raw is None else dict(json.loads(raw))

    def update(self, key: str, fn: Update) -> dict[str, Any]:
        out: dict[str, Any] = {}

        def step(raw: bytes | None) -> bytes:
            new = fn(None if raw is None else dict(json.loads(raw)))
            out.clear()
            out.update(new)
            return _dump(new).encode()

        self.store.update(key, step)  # the store's compare-and-set; its errors translated
        return out

    def delete(self, key: str) -> None:
        self.store.delete(key)


def open_state(target: str | Store | SQLDatabase | StateStore) -> StateStore:
    """The interaction state store for a URI (``memory://``, ``sqlite:///…``,
    ``postgresql://…``, ``redis://…``), an opened key-value store or a database."""
    if isinstance(target, StateStore):
        return target
    if isinstance(target, SQLDatabase):
        return _SQLState(target, owned=False)
    if isinstance(target, str):
        if parse_uri(target).kind == "postgresql":
            return _SQLState(SQLDatabase(target), owned=True)
        target = open_store(target)
    if isinstance(target, MemoryStore):
        return _MemoryState(target)
    if isinstance(target, SQLiteStore):
        return _SQLState(target.db, owned=False)
    if isinstance(target, RedisStore):
        return _RedisState(target)
    raise ConfigurationError(
        f"{target!r} cannot hold the interaction state; use memory://, sqlite:///…, "
        "postgresql://… or redis://…", field="stores.interaction", value=repr(target))
