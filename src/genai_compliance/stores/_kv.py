"""Key-value stores for counters and throttle state: memory, SQLite, Redis.

Every backend declares what it can do (STYLE 6): ``"shared"`` (state is shared by every
replica) and ``"atomic"`` (``incr`` is atomic across processes). A duty that needs a property
asks for it with :func:`require_capabilities` when it is built, not on the first call.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, ClassVar, Protocol, runtime_checkable

from ..errors import ConfigurationError, StoreUnavailable
from ._sql import SQLDatabase
from ._uri import StoreURI, import_driver, parse_uri, redact_uri, scrub

__all__ = ["MemoryStore", "RedisStore", "SQLiteStore", "Store", "open_store",
           "require_capabilities"]


@runtime_checkable
class Store(Protocol):
    """What every key-value store offers. Values are bytes; counters are floats."""

    uri: str
    capabilities: ClassVar[frozenset[str]]

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    def delete(self, key: str) -> None: ...

    def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float: ...

    def close(self) -> None: ...


class MemoryStore:
    """In-process store: fast, for tests and single-process services. Not shared."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"atomic"})

    def __init__(self, uri: str = "memory://") -> None:
        self.uri = uri
        self._data: dict[str, tuple[Any, float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> Any:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires and time.monotonic() >= expires:
            del self._data[key]
            return None
        return value

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._live(key)
        if isinstance(value, float):
            return repr(value).encode()
        return value  # type: ignore[no-any-return]

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

    def close(self) -> None:
        with self._lock:
            self._data.clear()

    def __repr__(self) -> str:
        return f"MemoryStore({self.uri!r})"


class SQLiteStore:
    """A table in a SQLite file: shared by the processes of one host, atomic increments."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"atomic", "shared"})

    def __init__(self, uri: str | StoreURI) -> None:
        self.db = SQLDatabase(uri)
        self.uri = self.db.uri.raw
        self.db.executescript([
            "CREATE TABLE IF NOT EXISTS gc_kv (key TEXT PRIMARY KEY, value BLOB, "
            "expires REAL NOT NULL DEFAULT 0)"
        ])

    def get(self, key: str) -> bytes | None:
        with self.db.transaction() as tx:
            row = tx.execute("SELECT value, expires FROM gc_kv WHERE key = ?", (key,)).fetchone()
        if row is None or (row[1] and row[1] <= time.time()):
            return None
        value = row[0]
        return repr(value).encode() if isinstance(value, float) else bytes(value)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        with self.db.transaction(write=True) as tx:
            tx.execute(
                "INSERT INTO gc_kv(key, value, expires) VALUES (?, ?, ?) ON CONFLICT(key) DO "
                "UPDATE SET value = excluded.value, expires = excluded.expires",
                (key, value, time.time() + ttl if ttl else 0.0),
            )

    def delete(self, key: str) -> None:
        with self.db.transaction(write=True) as tx:
            tx.execute("DELETE FROM gc_kv WHERE key = ?", (key,))

    def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        now = time.time()
        with self.db.transaction(write=True) as tx:
            row = tx.execute("SELECT value, expires FROM gc_kv WHERE key = ?", (key,)).fetchone()
            if row is None or (row[1] and row[1] <= now):
                new, expires = float(amount), (now + ttl if ttl else 0.0)
            else:
                new, expires = float(row[0]) + amount, row[1]
            tx.execute(
                "INSERT INTO gc_kv(key, value, expires) VALUES (?, ?, ?) ON CONFLICT(key) DO "
                "UPDATE SET value = excluded.value, expires = excluded.expires",
                (key, new, expires),
            )
        return new

    def close(self) -> None:
        self.db.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.uri!r})"


class RedisStore:
    """Redis: shared by every replica; atomic increments; ``.client`` for Lua scripts."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"atomic", "shared", "pubsub"})

    def __init__(self, uri: str | StoreURI) -> None:
        parsed = parse_uri(uri) if isinstance(uri, str) else uri
        self.uri = parsed.raw
        self._redacted = parsed.redacted()
        self._redis = import_driver("redis")
        self.client = self._redis.Redis.from_url(
            parsed.raw, socket_timeout=5, socket_connect_timeout=5
        )

    def _call(self, fn: str, *args: Any) -> Any:
        try:
            return getattr(self.client, fn)(*args)
        except self._redis.RedisError as exc:
            raise StoreUnavailable(
                f"Redis at {self._redacted} failed: {scrub(str(exc), self.uri)}; check that it "
                "runs",
                uri=self._redacted,
            ) from exc

    def get(self, key: str) -> bytes | None:
        return self._call("get", key)  # type: ignore[no-any-return]

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        if ttl:
            self._call("set", key, value, None, max(1, math.ceil(ttl * 1000)))
        else:
            self._call("set", key, value)

    def delete(self, key: str) -> None:
        self._call("delete", key)

    def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        try:
            pipe = self.client.pipeline()
            pipe.incrbyfloat(key, amount)
            if ttl:
                pipe.pexpire(key, max(1, math.ceil(ttl * 1000)), nx=True)
            result = pipe.execute()
        except self._redis.RedisError as exc:
            raise StoreUnavailable(
                f"Redis at {self._redacted} failed: {scrub(str(exc), self.uri)}; check that it "
                "runs",
                uri=self._redacted,
            ) from exc
        return float(result[0])

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"RedisStore({self._redacted!r})"


def open_store(uri: str) -> Store:
    """Open a key-value store by URI: ``memory://``, ``sqlite:///…`` or ``redis://…``."""
    parsed = parse_uri(uri)
    if parsed.kind == "memory":
        return MemoryStore(uri)
    if parsed.kind == "sqlite":
        return SQLiteStore(parsed)
    if parsed.kind == "redis":
        return RedisStore(parsed)
    raise ConfigurationError(
        f"{parsed.redacted()} cannot hold counters; use memory://, sqlite:///… or redis://…",
        field="uri",
        value=parsed.redacted(),
    )


def require_capabilities(store: Store, *needed: str, purpose: str) -> None:
    """Refuse a store that lacks ``needed`` capabilities, naming what would do."""
    missing = [c for c in needed if c not in store.capabilities]
    if missing:
        raise ConfigurationError(
            f"{purpose} needs a store that is {' and '.join(missing)}; "
            f"{redact_uri(store.uri)!r} is not. "
            "Use redis://… for several replicas (sqlite:///… for one host).",
            field="uri",
            value=redact_uri(store.uri),
        )
