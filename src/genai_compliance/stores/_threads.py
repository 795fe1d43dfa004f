"""What the stores share about threads and sockets: the connection each live thread holds
(given back once the thread ends) and the zero-wait check that an idle connection was
ended by its server.

Executor and anyio worker threads come and go in a server. A store that keeps one
connection per thread (the Redis store's lanes for scripts) would leave each ended thread's
connection held for good — redis-py's pool runs out at 100 — so it records which thread
holds what in a :class:`ThreadHeld` and gives back what ended threads held before it takes
the next one. (SQL databases pool their connections per transaction instead: see
:class:`~genai_compliance.stores.SQLDatabase`.)
"""

from __future__ import annotations

import select
import threading
import time
from typing import Any, Generic, TypeVar

__all__ = ["ThreadHeld", "socket_readable"]

T = TypeVar("T")


def socket_readable(sock: Any) -> bool:
    """Whether ``sock`` has something to read, without waiting (one ``select``, about 1 µs).

    An idle connection — no request in flight — has nothing to read: data waiting on it is
    the server's goodbye (restarted, failed over, an idle timeout, an end of stream). A
    socket that can no longer be asked counts as readable: either way the connection is
    replaced rather than used."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError, TypeError):  # closed, or no file descriptor any more
        return True


class ThreadHeld(Generic[T]):
    """What each live thread holds, one value per thread.

    :meth:`hold` records the calling thread's value; :meth:`ended` takes out (to be given
    back by the caller) the values of threads that have ended. A value a thread gives up
    itself is :meth:`forget`-ten. Thread-safe; after a fork, make a new one (a lock some
    parent thread held at the fork would stay held)."""

    __slots__ = ("_held", "_lock", "_swept")

    def __init__(self) -> None:
        self._held: dict[threading.Thread, T] = {}
        self._lock = threading.Lock()
        self._swept = 0.0

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, value: T, *, limit: int | None = None) -> bool:
        """Record ``value`` as the calling thread's; with ``limit``, only while fewer than
        ``limit`` threads hold one (``False``: not recorded, the caller lends it instead)."""
        with self._lock:
            if limit is not None and len(self._held) >= limit:
                return False
            self._held[threading.current_thread()] = value
            return True

    def forget(self, value: T) -> None:
        """The calling thread no longer holds ``value`` (it closed or replaced it)."""
        me = threading.current_thread()
        with self._lock:
            if self._held.get(me) is value:
                del self._held[me]

    def ended(self, *, every: float = 0.0) -> list[T]:
        """Take out the values of threads that have ended. With ``every`` (seconds), look
        at most that often and answer ``[]`` in between: a caller on its hot path (a
        thread with no lane of its own, each call) pays for one clock read, not for a walk
        over every thread."""
        if every:
            now = time.monotonic()
            if now - self._swept < every:
                return []
            self._swept = now
        with self._lock:
            dead = [t for t in self._held if not t.is_alive()]
            return [self._held.pop(t) for t in dead]

    def clear(self) -> list[T]:
        """Take out every value (on close)."""
        with self._lock:
            out = list(self._held.values())
            self._held.clear()
            return out
