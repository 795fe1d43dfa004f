"""Where minors' usage state lives: memory, SQLite (one host), Redis (every replica).

Each backend runs one :mod:`._machine` operation atomically: a lock in memory, a
``BEGIN IMMEDIATE`` transaction in SQLite, a Lua script in Redis. A backend that cannot
answer raises :class:`~genai_compliance.errors.StoreUnavailable` (fail closed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError, StoreUnavailable
from ..stores import MemoryStore, RedisStore, SQLiteStore, Store, parse_uri
from ..subject import Subject
from ._machine import LUA, apply

__all__ = ["Backend", "SubjectKeyer", "backend_for", "subject_store_key"]


@runtime_checkable
class SubjectKeyer(Protocol):
    """What keys subjects: the ledger (:meth:`genai_compliance.Ledger.subject_key`)."""

    def subject_key(self, subject: Subject | str, *, purpose: str) -> str: ...


def subject_store_key(keyer: SubjectKeyer | bytes, subject: Subject | str, *,
                      prefix: str = "gc:minors") -> str:
    """The store key of a subject: ``prefix:`` + the ledger's keyed HMAC of the user id
    (purpose ``"minors"``), so every duty keys subjects with the one pseudonym secret and a
    store dump reveals no user id, even for guessable ids such as phone numbers. ``keyer``
    may be a standalone secret (bytes, at least 16) for a protection built without a
    ledger; an unkeyed hash is never used.

    .. versionadded:: 0.2
    """
    if isinstance(keyer, bytes | bytearray):
        if len(keyer) < 16:
            raise ConfigurationError(
                "the minors' subject-key secret must be at least 16 bytes; use the ledger's "
                "(MinorProtection.from_compliance) or set minors.key_secret_env",
                field="minors.key_secret_env")
        user_id = subject.user_id if isinstance(subject, Subject) else subject
        digest = hmac.new(bytes(keyer), b"minors\x00" + user_id.encode(),
                          hashlib.sha256).hexdigest()[:32]
    elif isinstance(keyer, SubjectKeyer):
        digest = keyer.subject_key(subject, purpose="minors")
    else:
        raise ConfigurationError(
            f"minor protection keys subjects with the ledger's secret; got "
            f"{type(keyer).__name__}", field="minors.key_secret_env")
    return f"{prefix}:{digest}"


class Backend(Protocol):
    """Runs one state-machine operation on the state at ``key``, atomically."""

    blocking: bool

    def run(self, key: str, argv: Sequence[str]) -> list[str]: ...


_MEMORY: weakref.WeakKeyDictionary[MemoryStore, tuple[threading.Lock, dict[str, dict[str, str]]]]
_MEMORY = weakref.WeakKeyDictionary()
_MEMORY_LOCK = threading.Lock()


class _MemoryBackend:
    blocking = False

    def __init__(self, store: MemoryStore) -> None:
        with _MEMORY_LOCK:
            if store not in _MEMORY:
                _MEMORY[store] = (threading.Lock(), {})
            self._lock, self._data = _MEMORY[store]

    def run(self, key: str, argv: Sequence[str]) -> list[str]:
        with self._lock:
            state = self._data.setdefault(key, {})
            return apply(state, argv)


_DDL = ["CREATE TABLE IF NOT EXISTS gc_minors_state (key TEXT PRIMARY KEY, state TEXT NOT NULL, "
        "updated REAL NOT NULL)"]


class _SQLBackend:
    blocking = True

    def __init__(self, store: SQLiteStore) -> None:
        self.db = store.db
        self.db.executescript(_DDL)

    def run(self, key: str, argv: Sequence[str]) -> list[str]:
        try:
            with self.db.transaction(write=True) as tx:
                row = tx.execute("SELECT state FROM gc_minors_state WHERE key = ?",
                                 (key,)).fetchone()
                state: dict[str, str] = json.loads(row[0]) if row is not None else {}
                out = apply(state, argv)
                tx.execute(
                    "INSERT INTO gc_minors_state(key, state, updated) VALUES (?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET state = excluded.state, "
                    "updated = excluded.updated",
                    (key, json.dumps(state, separators=(",", ":"), sort_keys=True), time.time()),
                )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.db.uri.redacted()} failed: {exc}",
                                   uri=self.db.uri.redacted()) from exc
        return out


class _RedisBackend:
    blocking = True

    def __init__(self, store: RedisStore) -> None:
        import redis  # present: the RedisStore was built with it

        self._error: type[Exception] = redis.RedisError
        self._where = parse_uri(store.uri).redacted()
        self._script: Any = store.client.register_script(LUA)

    def run(self, key: str, argv: Sequence[str]) -> list[str]:
        try:
            raw = self._script(keys=[key], args=list(argv))
        except self._error as exc:
            raise StoreUnavailable(
                f"Redis at {self._where} failed: {exc}; check that it runs", uri=self._where,
            ) from exc
        return [v.decode() if isinstance(v, bytes) else str(v) for v in raw]


def backend_for(store: Store) -> Backend:
    """The minors backend over ``store`` (memory://, sqlite:///… or redis://…)."""
    if isinstance(store, MemoryStore):
        return _MemoryBackend(store)
    if isinstance(store, SQLiteStore):
        return _SQLBackend(store)
    if isinstance(store, RedisStore):
        return _RedisBackend(store)
    raise ConfigurationError(
        f"minor protection cannot keep its counters in {store!r}; use memory://, "
        "sqlite:///… or redis://…", field="stores.minors", value=getattr(store, "uri", None))
