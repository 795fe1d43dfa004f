"""Redis: shared by every replica; atomic updates, server-side scripts and pub/sub.

Scripts (:meth:`RedisStore.script`) are registered once per store and run by hash
(``EVALSHA``), each on the calling thread's own connection (a *lane*, which skips the
client's pool on the hot path). A script may be :meth:`~RedisScript.send`-ed instead of
called: it goes into the store's outbox, which leaves with the next script call of any
thread — in the same write, before that call's own command, so one round trip carries both —
or, when no call comes, within :attr:`RedisStore.flush_after` seconds from a background
thread; :meth:`RedisStore.close` sends what is left. A *batched* script
(``script(source, batched=True)``) takes its operations as pairs ``KEYS[i]``/``ARGV[i]`` and
runs them in order: the sends of it that wait next to each other in the outbox, and the call
after them, leave as one ``EVALSHA``. Every ``redis`` exception becomes
:class:`~genai_compliance.errors.StoreUnavailable` here, with the URI redacted (STYLE 8).
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from .._fork import reset_after_fork
from ..errors import StoreUnavailable
from ._kv import Subscription, Updater
from ._threads import ThreadHeld, socket_readable
from ._uri import StoreURI, import_driver, parse_uri, scrub

__all__ = ["RedisScript", "RedisStore"]

#: scripts the outbox holds before a send flushes it at once
_MAX_OUTBOX = 256
#: with every lane taken, how often a thread with none looks for lanes of ended threads (s)
_SWEEP_FULL = 0.05

_Command = tuple["RedisScript", tuple[str, ...], tuple[str | bytes, ...]]

#: compare-and-set: write ARGV[4] (or delete, ARGV[3] = "d"; PX ARGV[5] when given) only if
#: the key still holds what was read (ARGV[1] "0": absent; "1": the value ARGV[2])
_CAS = """
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if cur then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
if ARGV[3] == 'd' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] ~= '' then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[4])
end
return 1
"""


def _ms(ttl: float) -> int:
    return max(1, math.ceil(ttl * 1000))


class _ServerError(Exception):
    """An error reply (``-ERR …``) read on a lane."""


class _Lane:
    """One thread's connection to the server, which the driver opens (connect, ``AUTH``,
    ``HELLO``) and this module then writes and reads itself: the socket directly, with a
    reply reader for what scripts answer (RESP2 and RESP3), a fraction of the driver's
    general-purpose parser's cost per call."""

    __slots__ = ("borrowed", "buf", "conn", "pid", "pos", "sock")

    def __init__(self, conn: Any, *, borrowed: bool = False) -> None:
        self.conn = conn
        #: for one call only (more threads than lanes): back to the pool after it
        self.borrowed = borrowed
        self.pid = os.getpid()
        self.sock: Any = None
        self.buf = b""
        self.pos = 0

    def socket(self) -> Any:
        """The connected socket (connected again, by the driver, after a failure, or when
        the server closed it while idle: an idle lane has nothing to read, so anything
        waiting on it — the end of the stream — means a new connection, not a failed call;
        one ``select`` with no wait, about 1 µs)."""
        sock = getattr(self.conn, "_sock", None)
        if sock is not None and self.pos >= len(self.buf) and socket_readable(sock):
            self.drop()
            sock = None
        if sock is None:
            self.conn.connect()
            sock = self.conn._sock
            self.buf, self.pos = b"", 0
        self.sock = sock
        return sock

    def drop(self) -> None:
        """Forget the connection's state: what was in flight is unknown."""
        self.conn.disconnect()
        self.sock, self.buf, self.pos = None, b"", 0

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0

    def _line(self) -> bytes:
        i = self.buf.find(b"\r\n", self.pos)
        while i < 0:
            self._fill()
            i = self.buf.find(b"\r\n", self.pos)
        line = self.buf[self.pos:i]
        self.pos = i + 2
        return line

    def _exactly(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = self.buf[self.pos:self.pos + n]
        self.pos += n + 2
        return data

    def reply(self) -> Any:
        """One reply; an error reply is returned as a :class:`_ServerError`."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exactly(n)
        if kind == b":" or kind == b"(":
            return int(rest)
        if kind == b"-":
            return _ServerError(rest.decode(errors="replace"))
        if kind in (b"*", b"~", b">"):
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        if kind == b"+":
            return rest
        if kind == b"_":
            return None
        if kind == b"%":
            flat = [self.reply() for _ in range(2 * int(rest))]
            return dict(zip(flat[::2], flat[1::2], strict=True))
        if kind == b"#":
            return rest == b"t"
        if kind == b",":
            return float(rest)
        if kind == b"=":
            return self._exactly(int(rest))[4:]
        if kind == b"!":
            return _ServerError(self._exactly(int(rest)).decode(errors="replace"))
        raise ConnectionError(f"unexpected reply from the server: {line[:40]!r}")


def _pack(*parts: str | bytes) -> bytes:
    """A command as the protocol writes it (RESP)."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        raw = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class RedisStore:
    """Redis: shared by every replica; atomic increments and updates (``WATCH``/``MULTI``),
    scripts (``EVALSHA``) and pub/sub. ``.client`` is the ``redis.Redis`` it owns.

    :ivar flush_after: longest time, in seconds, a sent script waits in the outbox.
    :ivar max_lanes: most threads that keep a connection of their own for scripts (half the
        driver's pool, 50 by default); more threads borrow a pooled one for each call.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"atomic", "shared", "pubsub",
                                                        "script"})
    blocking: ClassVar[bool] = True

    def __init__(self, uri: str | StoreURI) -> None:
        parsed = parse_uri(uri) if isinstance(uri, str) else uri
        self.uri = parsed.raw
        self._redacted = parsed.redacted()
        self._redis = import_driver("redis")
        # a blocking pool: a thread that finds every connection taken waits for one (up to
        # 5 s) instead of failing at once with "Too many connections"
        self.client = self._redis.Redis.from_pool(self._redis.BlockingConnectionPool.from_url(
            parsed.raw, max_connections=100, timeout=5, socket_timeout=5,
            socket_connect_timeout=5))
        self._scripts: dict[tuple[str, bool], RedisScript] = {}
        self._local = threading.local()
        #: every thread's lane, to give the connections of ended threads back (_new_lane)
        self._lanes: ThreadHeld[_Lane] = ThreadHeld()
        #: most threads with a lane (a connection) of their own at once; the rest borrow
        #: one per call. Half the driver's pool, so plain commands always find one.
        self.max_lanes = max(1, int(self.client.connection_pool.max_connections) // 2)
        self._lock = threading.Lock()
        self._outbox: list[_Command] = []
        self._outbox_empty: list[_Command] = []  # never appended to
        #: the outbox's lock (taken directly on the hot path: ``with`` on a Condition runs
        #: Python code) and the condition the background sender waits on
        self._outbox_lock = threading.Lock()
        self._queued = threading.Condition(self._outbox_lock)
        self._flusher: threading.Thread | None = None
        #: the sender waits for the outbox to fill (only then is it woken: a wake-up per
        #: send would cost a thread switch per call)
        self._idle = False
        self._closed = False
        self.flush_after = 0.02
        reset_after_fork(self)

    def _forked(self) -> None:
        """In a forked child (:func:`os.register_at_fork`): the outbox copied from the
        parent is the parent's to send (sent here too, those scripts would run twice), its
        sender thread did not come along, and a lock some parent thread held at the fork
        would stay held for good. The child starts with its own, empty."""
        self._lock = threading.Lock()
        self._outbox_lock = threading.Lock()
        self._queued = threading.Condition(self._outbox_lock)
        self._outbox = []
        self._flusher = None
        self._idle = False
        self._lanes = ThreadHeld()
        self._local = threading.local()

    # -- the one translation of driver errors ----------------------------------------------
    def _fail(self, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(
            f"Redis at {self._redacted} failed: {scrub(str(exc), self.uri)}; check that it "
            "runs and the URI is right", uri=self._redacted)

    def _call(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, fn)(*args, **kwargs)
        except self._redis.RedisError as exc:
            raise self._fail(exc) from exc

    # -- key-value ---------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        return self._call("get", key)  # type: ignore[no-any-return]

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        if ttl:
            self._call("set", key, value, px=_ms(ttl))
        else:
            self._call("set", key, value)

    def delete(self, key: str) -> None:
        self._call("delete", key)

    def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        try:
            pipe = self.client.pipeline()
            pipe.incrbyfloat(key, amount)
            if ttl:
                pipe.pexpire(key, _ms(ttl), nx=True)
            result = pipe.execute()
        except self._redis.RedisError as exc:
            raise self._fail(exc) from exc
        return float(result[0])

    def update(self, key: str, fn: Updater, *, ttl: float | None = None) -> bytes | None:
        """``GET``, then a compare-and-set script that writes only if the key still holds
        what was read (two round trips; run again when another client wrote the key in
        between, so ``fn`` may run more than once)."""
        cas = self.script(_CAS)
        while True:
            old = self.get(key)
            new = fn(old)
            args: list[str | bytes] = ["0" if old is None else "1", old or b"",
                                      "d" if new is None else "s", new or b"",
                                      str(_ms(ttl)) if ttl else ""]
            if cas([key], args) == 1:
                return new

    # -- scripts -----------------------------------------------------------------------
    def script(self, source: str, *, batched: bool = False) -> RedisScript:
        """The script ``source``, registered once per store (``SCRIPT LOAD`` on first use
        and again whenever the server forgot it) and run by its SHA-1.

        ``batched``: the script takes one key and one argument per operation
        (``KEYS[i]``/``ARGV[i]``), runs the operations in order and replies with the last
        one's reply; sends of it queued next to each other in the outbox, and a call right
        after them, are merged into one ``EVALSHA`` (one script run instead of one each).

        .. versionchanged:: 0.2 ``batched``.
        """
        with self._lock:
            found = self._scripts.get((source, batched))
            if found is None:
                found = self._scripts[(source, batched)] = RedisScript(self, source,
                                                                       batched=batched)
            return found

    def _lane(self) -> _Lane:
        lane: _Lane | None = getattr(self._local, "lane", None)
        if lane is None or lane.pid != os.getpid():
            lane = self._new_lane()
        return lane

    def _new_lane(self) -> _Lane:
        """This thread's first lane. The connections of lanes whose threads have ended go
        back to the pool first: executor and anyio worker threads come and go in a server,
        and a lane never given back would hold one of the pool's connections (redis-py's
        holds 100) for ever, until every call failed with "Too many connections". Threads
        beyond :attr:`max_lanes` alive at once get no lane of their own: each of their calls
        borrows a pooled connection and gives it back, so the pool's other users (plain
        commands, the outbox sender) always find one."""
        pool = self.client.connection_pool
        full = len(self._lanes) >= self.max_lanes
        # a thread with no lane comes here each call: with every lane taken, look for ended
        # threads at most every 50 ms rather than walk every lane on each call
        pid = os.getpid()
        for old in self._lanes.ended(every=_SWEEP_FULL if full else 0.0):
            if old.pid == pid:  # (a parent's, before a fork, is not ours to close)
                old.drop()  # (a reply left unread must not reach the pool's next user)
                pool.release(old.conn)
        try:
            conn = pool.get_connection()
        except self._redis.RedisError as exc:
            raise self._fail(exc) from exc
        lane = _Lane(conn)
        if not self._lanes.hold(lane, limit=self.max_lanes):  # more threads than lanes:
            lane.borrowed = True  # this one borrows a connection for each call
            return lane
        self._local.lane = lane
        return lane

    def _take_outbox(self) -> list[_Command]:
        if not self._outbox:
            return self._outbox_empty
        with self._outbox_lock:
            taken, self._outbox = self._outbox, []
        return taken

    def _execute(self, commands: list[_Command]) -> Any:
        """Write ``commands`` in one go on this thread's lane and read every reply; a
        script the server had forgotten (``NOSCRIPT``) is loaded and its commands run
        again, in order. Consecutive operations of a batched script are merged into one
        command. Returns the last reply."""
        if len(commands) > 1:
            commands = _merged(commands)
        lane = self._lane()
        try:
            sock = lane.socket()
            sock.sendall(b"".join(  # one write: every command, then the replies
                [script.packed(keys, args) for script, keys, args in commands])
                if len(commands) > 1 else commands[0][0].packed(commands[0][1],
                                                                commands[0][2]))
            replies: list[Any] = []
            again: list[int] = []
            failure: _ServerError | None = None
            for i in range(len(commands)):
                reply = lane.reply()
                if isinstance(reply, _ServerError):
                    if str(reply).startswith("NOSCRIPT"):
                        again.append(i)
                    else:
                        failure = failure or reply
                    reply = None
                replies.append(reply)
            loaded: set[str] = set()
            for i in again:
                script, keys, args = commands[i]
                if script.sha not in loaded:
                    sock.sendall(_pack("SCRIPT", "LOAD", script.source))
                    reply = lane.reply()
                    if isinstance(reply, _ServerError):
                        raise reply
                    loaded.add(script.sha)
                sock.sendall(script.packed(keys, args))
                replies[i] = lane.reply()
                if isinstance(replies[i], _ServerError):
                    failure = failure or replies[i]
                    replies[i] = None
            if failure is not None:
                raise failure
        except (OSError, ValueError, _ServerError, self._redis.RedisError) as exc:
            lane.drop()  # what was in flight is unknown; reconnect on next use
            raise self._fail(exc) from exc
        except BaseException:  # interrupted between a write and its replies
            lane.drop()  # (replies left unread would be taken for the next call's)
            raise
        finally:
            if lane.borrowed:
                if lane.pos < len(lane.buf):  # (never after whole replies; to be safe)
                    lane.drop()
                self.client.connection_pool.release(lane.conn)
        return replies[-1]

    def _enqueue(self, command: _Command) -> None:
        if self._closed:
            self._execute([command])
            return
        with self._outbox_lock:
            self._outbox.append(command)
            full = len(self._outbox) >= _MAX_OUTBOX
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=_flush_loop, args=(weakref.ref(self),), daemon=True,
                    name="genai-compliance-redis-outbox")
                self._flusher.start()
            if self._idle:
                self._queued.notify()
        if full:
            self.flush()

    def flush(self) -> None:
        """Send the scripts waiting in the outbox now (and wait for their replies)."""
        queued = self._take_outbox()
        if queued:
            self._execute(queued)

    # -- pub/sub -----------------------------------------------------------------------
    def publish(self, channel: str, message: bytes) -> None:
        """Publish ``message`` on ``channel`` to every subscriber (every replica)."""
        self._call("publish", channel, message)

    def subscribe(self, channel: str, handler: Callable[[bytes], None]) -> Subscription:
        """Call ``handler(message)`` on a background thread for every message on
        ``channel``; returns once the server confirmed the subscription, so a message
        published afterwards is seen. A lost connection ends the subscription quietly
        (callers keep their own fallback, e.g. a staleness bound)."""
        pubsub = self.client.pubsub()
        try:
            pubsub.subscribe(**{channel: lambda message: handler(message["data"])})
            for _ in range(100):
                message = pubsub.get_message(timeout=0.05)
                if message is not None and message.get("type") == "subscribe":
                    break
            else:
                pubsub.close()
                raise StoreUnavailable(
                    f"Redis at {self._redacted} did not confirm the subscription to "
                    f"{channel!r}; check that it runs and the URI is right",
                    uri=self._redacted)
        except self._redis.RedisError as exc:
            pubsub.close()
            raise self._fail(exc) from exc

        def on_error(exc: BaseException, ps: Any, thread: Any) -> None:
            thread.stop()

        thread = pubsub.run_in_thread(sleep_time=0.05, daemon=True, exception_handler=on_error)
        return _RedisSubscription(pubsub, thread)

    def close(self) -> None:
        """Send what the outbox holds, then close every connection. The background
        sender is stopped first, so no flush of its own is cut off mid-reply by the
        connections closing under it."""
        self._closed = True
        with self._queued:
            self._queued.notify_all()
            flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join(timeout=5.0)  # wakes at once; a flush in flight is bounded by timeouts
        try:
            self.flush()
        except StoreUnavailable:
            pass  # the server is gone: the leases of those calls run out on their own
        finally:
            with self._queued:
                self._queued.notify_all()
            self._local = threading.local()
            self._lanes.clear()
            self.client.close()

    def __repr__(self) -> str:
        return f"RedisStore({self._redacted!r})"


def _merged(commands: list[_Command]) -> list[_Command]:
    """``commands`` with each run of consecutive operations of one batched script joined
    into one command (their keys, then their arguments, in order)."""
    out: list[_Command] = []
    for command in commands:
        script = command[0]
        if out and script.batched and out[-1][0] is script:
            _, keys, args = out[-1]
            out[-1] = (script, keys + command[1], args + command[2])
        else:
            out.append(command)
    return out


class RedisScript:
    """A Lua script registered with a :class:`RedisStore` (see :class:`Script`)."""

    def __init__(self, store: RedisStore, source: str, *, batched: bool = False) -> None:
        self.store = store
        self.source = source
        #: operations as KEYS[i]/ARGV[i] pairs: consecutive ones leave as one EVALSHA
        self.batched = batched
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # Redis names scripts so
        self._sha = self.sha.encode()
        #: the start of an EVALSHA of this script, per (keys, arguments) count
        self._heads: dict[tuple[int, int], bytes] = {}

    def packed(self, keys: Sequence[str], args: Sequence[str | bytes]) -> bytes:
        """``EVALSHA`` of this script as the protocol writes it (RESP), without the
        driver's general-purpose packer: a fraction of its cost per call."""
        counts = (len(keys), len(args))
        head = self._heads.get(counts)
        if head is None:
            n = str(counts[0]).encode()
            head = self._heads[counts] = (
                b"*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n$%d\r\n%s\r\n"
                % (3 + counts[0] + counts[1], self._sha, len(n), n))
        parts = [head]
        for item in (*keys, *args):
            raw = item.encode() if isinstance(item, str) else bytes(item)
            parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        return b"".join(parts)

    def __call__(self, keys: Sequence[str], args: Sequence[str | bytes]) -> Any:
        store = self.store
        return store._execute([*store._take_outbox(), (self, tuple(keys), tuple(args))])

    def send(self, keys: Sequence[str], args: Sequence[str | bytes]) -> None:
        self.store._enqueue((self, tuple(keys), tuple(args)))

    def __repr__(self) -> str:
        return f"RedisScript({self.sha[:12]}…, store={self.store!r})"


def _flush_loop(ref: weakref.ref[RedisStore]) -> None:
    """The outbox's background sender: once something is queued, wait ``flush_after``
    (a call may take it meanwhile), then send what is left. Ends with its store."""
    while True:
        store = ref()
        if store is None or store._closed:
            return
        queued = store._queued
        with queued:
            pending = bool(store._outbox)
            if not pending:
                store._idle = True
                # woken by a send: wait out flush_after even if a call took it meanwhile
                # (else every send would wake this thread again)
                pending = queued.wait(timeout=1.0) or bool(store._outbox)
                store._idle = False
        deadline = time.monotonic() + store.flush_after
        del store  # do not keep the store alive while waiting
        if not pending:
            continue
        with queued:  # wait out flush_after; close() cuts the wait short
            while not _closing(ref) and (left := deadline - time.monotonic()) > 0:
                queued.wait(timeout=left)
        store = ref()
        if store is None or store._closed:
            return  # close() sends the rest itself, on its own thread
        try:
            store.flush()
        except StoreUnavailable:
            pass  # lost: those calls' leases end on their own (fail closed: charged more)
        del store


def _closing(ref: weakref.ref[RedisStore]) -> bool:
    store = ref()
    return store is None or store._closed


class _RedisSubscription:
    def __init__(self, pubsub: Any, thread: Any) -> None:
        self._pubsub, self._thread = pubsub, thread

    def close(self) -> None:
        self._thread.stop()
        self._thread.join(timeout=2)
        self._pubsub.close()
