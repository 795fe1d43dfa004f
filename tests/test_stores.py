"""Stores own atomicity and connections (issue 14): ``update`` on every backend, declared
capabilities, Redis scripts and their outbox, pub/sub, reads without a transaction, and one
translation of driver errors."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from genai_compliance import ConfigurationError, StoreUnavailable
from genai_compliance.stores import (
    MemoryStore,
    PostgreSQLStore,
    RedisStore,
    SQLDatabase,
    SQLiteStore,
    Store,
    open_store,
    pubsub,
    require_capabilities,
    scripting,
)
from genai_compliance.stores._sql import DEFAULT_POOL_SIZE


def _in_thread_batches(work: Callable[[], None], batches: int = 5, size: int = 40) -> None:
    """Run ``work`` in ``batches`` rounds of ``size`` threads, each round's threads ended
    before the next starts (worker threads coming and going)."""
    for _ in range(batches):
        batch = [threading.Thread(target=work) for _ in range(size)]
        for t in batch:
            t.start()
        for t in batch:
            t.join()


@pytest.fixture(name="store")
def _store(any_uri: str) -> Iterator[Store]:
    store = open_store(any_uri)
    yield store
    store.close()


def _count(raw: bytes | None) -> bytes:
    return str(int(raw or b"0") + 1).encode()


def test_update_reads_modifies_and_writes(store: Store, unique: str) -> None:
    """``update`` hands the current value (``None`` when absent) to ``fn``, stores and
    returns its result, and deletes the key when ``fn`` returns ``None``."""
    key = f"gc-test:{unique}:u"
    seen: list[bytes | None] = []

    def fn(raw: bytes | None) -> bytes:
        seen.append(raw)
        return (raw or b"") + b"x"

    assert store.update(key, fn) == b"x"
    assert store.update(key, fn) == b"xx"
    assert seen[0] is None and seen[-1] == b"x"
    assert store.get(key) == b"xx"
    assert store.update(key, lambda raw: None) is None
    assert store.get(key) is None


def test_update_error_leaves_the_value(store: Store, unique: str) -> None:
    """An exception from ``fn`` propagates and the stored value stays as it was."""
    key = f"gc-test:{unique}:e"
    store.set(key, b"kept")

    def boom(raw: bytes | None) -> bytes:
        raise ConfigurationError("no", field="x")

    with pytest.raises(ConfigurationError):
        store.update(key, boom)
    assert store.get(key) == b"kept"
    store.delete(key)


def test_update_is_atomic_across_threads(any_uri: str, unique: str) -> None:
    """Property the duties rely on: concurrent read-modify-writes never lose one (each
    thread with its own store object where the backend is shared)."""
    key = f"gc-test:{unique}:n"
    shared = open_store(any_uri)
    stores = [shared if any_uri.startswith("memory") else open_store(any_uri)
              for _ in range(4)]
    try:
        def work(s: Store) -> None:
            for _ in range(25):
                s.update(key, _count)

        threads = [threading.Thread(target=work, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert shared.get(key) == b"100"
        shared.delete(key)
    finally:
        for s in {id(s): s for s in [shared, *stores]}.values():
            s.close()


def test_capabilities_are_declared_and_checked(tmp_path: Path) -> None:
    """Each backend declares what it can do; a missing capability is refused by name with
    the stores that have it."""
    assert {"atomic", "shared", "script", "pubsub"} <= RedisStore.capabilities
    assert {"atomic", "shared"} <= PostgreSQLStore.capabilities
    assert "script" not in SQLiteStore.capabilities and "pubsub" in MemoryStore.capabilities
    memory = open_store("memory://")
    assert scripting(memory) is None and pubsub(memory) is memory
    assert not memory.blocking
    sqlite = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        assert sqlite.blocking and pubsub(sqlite) is None
        with pytest.raises(ConfigurationError, match=r"server-side scripts.*redis://"):
            require_capabilities(sqlite, "script", purpose="minors")
        with pytest.raises(ConfigurationError, match="publish and subscribe"):
            require_capabilities(sqlite, "pubsub", purpose="consent")
    finally:
        sqlite.close()


def test_open_store_knows_postgresql(postgres_uri: str) -> None:
    """``postgresql://`` opens the PostgreSQL key-value store; its table is created once,
    idempotently, and a second store on the same database sees the first one's values."""
    a, b = open_store(postgres_uri), open_store(postgres_uri)
    try:
        assert isinstance(a, PostgreSQLStore)
        a.set("k", b"v")
        assert b.get("k") == b"v"
        assert b.incr("n", 1.5) == 1.5 and a.incr("n", 2) == 3.5
        assert "***" not in repr(a)
    finally:
        a.close()
        b.close()


def test_sql_reads_take_no_transaction(sql_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``get`` on a SQL store is one statement without ``BEGIN``/``COMMIT`` (issue 19)."""
    store = open_store(sql_uri)
    try:
        assert isinstance(store, SQLiteStore | PostgreSQLStore)
        store.set("k", b"v")

        def no_transaction(*args: object, **kwargs: object) -> None:
            raise AssertionError("a read opened a transaction")

        monkeypatch.setattr(store.db, "transaction", no_transaction)
        assert store.get("k") == b"v"
        assert store.get("absent") is None
    finally:
        monkeypatch.undo()
        store.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_sql_connections_of_ended_threads_are_closed(sql_uri: str, unique: str) -> None:
    """Worker threads that come and go in a server leave no connections behind: their
    transactions share the database's pool, so 200 short-lived threads leave at most
    ``pool_size`` connections open. Before, each thread kept its own for good: PostgreSQL
    refuses clients past ``max_connections`` (100 by default), and SQLite holds file
    descriptors for each."""
    store = open_store(sql_uri)
    assert isinstance(store, SQLiteStore | PostgreSQLStore)
    key = f"gc-test:{unique}:threads"
    errors: list[BaseException] = []

    def work() -> None:
        try:
            store.update(key, _count)
        except BaseException as exc:
            errors.append(exc)

    try:
        store.set(key, b"0")
        before = _open_fds()
        _in_thread_batches(work)
        assert errors == []
        assert store.get(key) == b"200"
        # at most the pool's connections are open (3 fds each on SQLite)
        assert _open_fds() - before <= DEFAULT_POOL_SIZE * (
            3 if sql_uri.startswith("sqlite") else 1) + 5
    finally:
        store.close()


def test_sql_pool_bounds_connections_whatever_the_threads(sql_uri: str, unique: str) -> None:
    """Sixty threads in transactions at once share a pool of four connections: every
    transaction commits, and no more than four connections are ever open. Before, each
    thread opened its own — a sync server's 40 worker threads per replica, times the
    replicas and the databases, passed PostgreSQL's ``max_connections``."""
    db = SQLDatabase(sql_uri, pool_size=4)
    table = f"pool_{unique.replace('-', '_')}"[:40]
    db.executescript([f"CREATE TABLE IF NOT EXISTS {table} (n INTEGER)"])
    start = threading.Barrier(60)
    most: list[int] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            start.wait(10)
            with db.transaction(write=True) as tx:
                tx.execute(f"INSERT INTO {table} VALUES (?)", (i,))
                most.append(len(db._all))
                time.sleep(0.002)
            assert db.query_one(f"SELECT COUNT(*) FROM {table} WHERE n = ?", (i,)) == (1,)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(60)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert db.query_one(f"SELECT COUNT(*) FROM {table}") == (60,)
        assert max(most) <= 4 and len(db._all) <= 4
    finally:
        db.executescript([f"DROP TABLE IF EXISTS {table}"])
        db.close()


def test_sql_pool_exhausted_fails_closed_after_the_timeout(sql_uri: str) -> None:
    """Every connection held (a transaction left open): the next one waits for the store
    timeout, then StoreUnavailable says what to raise; once given back, the pool serves
    again. A query inside a transaction on the same thread uses the transaction's
    connection (it sees the uncommitted writes, and needs no second connection)."""
    db = SQLDatabase(sql_uri, pool_size=1, timeout=0.3)
    db.executescript(["CREATE TABLE IF NOT EXISTS pool_nested (n INTEGER)"])
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.transaction(write=True) as tx:
            tx.execute("INSERT INTO pool_nested VALUES (1)")
            # nested on this thread: the same connection, so the uncommitted row shows
            assert db.query_one("SELECT COUNT(*) FROM pool_nested") == (1,)
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="pool_size"):
            db.query("SELECT 1")
        assert 0.25 <= time.monotonic() - started < 5
    finally:
        release.set()
        holder.join()
    try:
        assert db.query_one("SELECT COUNT(*) FROM pool_nested") == (1,)
    finally:
        db.executescript(["DROP TABLE IF EXISTS pool_nested"])
        db.close()


def test_sqlite_failed_commit_leaves_no_open_transaction_behind(tmp_path: Path) -> None:
    """A COMMIT that fails (here a deferred foreign key) leaves SQLite's transaction open on
    its connection; the pool rolls it back before anyone else gets that connection, so the
    next transaction — on any thread — starts clean and the failed rows are gone. Before,
    the thread's next transaction failed ("cannot start a transaction within a
    transaction")."""
    import sqlite3

    db = SQLDatabase(f"sqlite:///{tmp_path / 'fk.db'}", pool_size=1)
    db.executescript([
        "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE child (id INTEGER, parent INTEGER REFERENCES parent(id) "
        "DEFERRABLE INITIALLY DEFERRED)"])
    try:
        with pytest.raises(sqlite3.IntegrityError), db.transaction(write=True) as tx:
            tx.execute("INSERT INTO child VALUES (1, 99)")  # no parent 99: fails at COMMIT
        with db.transaction(write=True) as tx:
            tx.execute("INSERT INTO parent VALUES (1)")
        done: list[object] = []
        worker = threading.Thread(target=lambda: done.append(
            db.query_one("SELECT (SELECT COUNT(*) FROM child), (SELECT COUNT(*) FROM parent)")))
        worker.start()
        worker.join()
        assert done == [(0, 1)]
    finally:
        db.close()


@pytest.mark.postgres
def test_postgresql_connection_broken_in_a_transaction_frees_its_place(
        postgres_uri: str) -> None:
    """A connection that breaks inside a transaction (its backend terminated mid-call) fails
    that call with StoreUnavailable, is closed rather than given back, and frees its place:
    with a pool of one, the next query gets a new connection at once instead of waiting for
    a place that never comes back."""
    db = SQLDatabase(postgres_uri, pool_size=1, timeout=2.0)
    try:
        with pytest.raises(StoreUnavailable), db.transaction() as tx:
            tx.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            tx.execute("SELECT 1")
        started = time.monotonic()
        assert db.query_one("SELECT 1") == (1,)
        assert time.monotonic() - started < 1.5  # not the pool's 2 s wait
        assert len(db._all) == 1
    finally:
        db.close()


def test_sql_pool_size_from_the_uri(sql_uri: str) -> None:
    """``pool_size`` can be set in the URI (the form every config key takes); it is the
    SDK's, never handed to the driver (psycopg refused an unknown parameter)."""
    sep = "&" if "?" in sql_uri else "?"
    db = SQLDatabase(f"{sql_uri}{sep}pool_size=3")
    try:
        assert db.pool_size == 3
        assert db.query_one("SELECT 1") == (1,)
    finally:
        db.close()
    assert SQLDatabase(sql_uri).pool_size == DEFAULT_POOL_SIZE


def test_sql_pool_size_must_be_a_positive_integer(tmp_path: Path) -> None:
    for bad in (0, -2, 1.5, "4"):
        with pytest.raises(ConfigurationError, match="pool_size"):
            SQLDatabase(f"sqlite:///{tmp_path / 'p.db'}", pool_size=bad)  # type: ignore[arg-type]
    for text in ("0", "x", "-1", "2.5"):
        with pytest.raises(ConfigurationError, match="pool_size"):
            SQLDatabase(f"sqlite:///{tmp_path / 'p.db'}?pool_size={text}")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sqlite_fork_waits_for_a_write_in_progress(tmp_path: Path) -> None:
    """A process that forks while one of its threads is inside a SQLite write transaction
    (a server forking workers while its ledger writer commits): the fork waits for the
    transaction to end, so the child's own writes go through. Before, the child inherited
    SQLite's in-memory lock state and each of its writes waited out the busy timeout, then
    failed with "database is locked"."""
    db = SQLDatabase(f"sqlite:///{tmp_path / 'f.db'}", timeout=3.0)
    db.executescript(["CREATE TABLE t (n INTEGER)"])
    inside = threading.Event()

    def hold() -> None:
        with db.transaction(write=True) as tx:
            tx.execute("INSERT INTO t VALUES (1)")
            inside.set()
            time.sleep(0.3)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: a write of its own, on a connection of its own
        code = 1
        try:
            with db.transaction(write=True) as tx:
                tx.execute("INSERT INTO t VALUES (2)")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    holder.join()
    assert os.waitstatus_to_exitcode(status) == 0
    assert sorted(r[0] for r in db.query("SELECT n FROM t")) == [1, 2]
    db.close()


def _my_pg_backends() -> list[int]:
    """The server processes of this process's PostgreSQL connections: our sockets (from
    /proc/self/fd) matched to their local ports (/proc/net/tcp), then to pg_stat_activity."""
    import psycopg

    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for row in f.read().splitlines()[1:]:
                cols = row.split()
                local, remote, inode = cols[1], cols[2], cols[9]
                if inode in inodes and remote.endswith(":1538"):  # 5432
                    ports.append(int(local.rsplit(":", 1)[1], 16))
    from conftest import PG_BASE

    with psycopg.connect(PG_BASE, autocommit=True) as admin:
        rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE client_port = ANY(%s) "
                             "AND pid <> pg_backend_pid()", (ports,)).fetchall()
    return [int(r[0]) for r in rows]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc")
def test_a_call_after_postgresql_dropped_the_connections_is_served(
        postgres_uri: str, redis_uri: str) -> None:
    """PostgreSQL ends every idle connection (a restart, a failover, an idle timeout,
    ``pg_terminate_backend``): the next guarded call is served and recorded on new
    connections. Before, the ledger's commit failed on its dead connection, so a call the
    model had already answered was refused, once per connection."""
    import psycopg

    from conftest import guarded_on_backends

    comp, user, model = guarded_on_backends(postgres_uri, redis_uri, "dropped")

    try:
        for _ in range(5):
            model("请介绍一下长城", subject=user)
        killed = _my_pg_backends()
        assert killed  # the ledger's connections at least
        from conftest import PG_BASE

        with psycopg.connect(PG_BASE, autocommit=True) as admin:
            for pid in killed:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.2)  # the server's goodbye reaches the sockets
        for _ in range(5):
            assert "军事防御工程" in model("请介绍一下长城", subject=user)  # served, labelled
        assert [r.payload["outcome"] for r in comp.records("guard.call")] == ["served"] * 10
        assert comp.ledger.verify().ok
        assert not set(killed) & set(_my_pg_backends())  # all of them replaced
    finally:
        comp.close()


@pytest.mark.postgres
def test_postgresql_row_lock_held_elsewhere_fails_closed(postgres_uri: str,
                                                         unique: str) -> None:
    """A row lock that another session holds and never releases (a hung client, a stuck
    transaction) denies the update with StoreUnavailable after the database's timeout
    (PostgreSQL ``lock_timeout``, set at connect), as SQLite's busy timeout does. Before,
    the update — and the guarded call waiting on it — hung until that session ended."""
    import psycopg

    store = PostgreSQLStore(SQLDatabase(postgres_uri, timeout=1.0))
    key = f"gc-test:{unique}:locked"
    store.set(key, b"1")
    schema = postgres_uri.split("schema=", 1)[1]
    holder = psycopg.connect(postgres_uri.split("?", 1)[0])  # a transaction left open
    try:
        holder.execute(f'SELECT value FROM "{schema}".gc_kv WHERE key = %s FOR UPDATE',
                       (key,))
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="lock timeout"):
            store.update(key, _count)
        assert time.monotonic() - started < 10  # the timeout, not the holder, ended it
    finally:
        holder.rollback()
        holder.close()
    assert store.update(key, _count) == b"2"  # the lock gone, the store works again
    store.close()


def test_store_over_a_database_leaves_it_open(tmp_path: Path) -> None:
    """A store built on an opened database uses its ``gc_kv`` table and does not close
    what it did not open."""
    db = SQLDatabase(f"sqlite:///{tmp_path / 'd.db'}")
    store = SQLiteStore(db)
    store.set("k", b"v")
    store.close()
    assert db.query_one("SELECT value FROM gc_kv WHERE key = ?", ("k",)) == (b"v",)
    db.close()


@pytest.mark.redis
def test_redis_script_runs_sent_commands_first(redis_uri: str, unique: str) -> None:
    """A sent script leaves with the next call, before it: one round trip, in order."""
    store = RedisStore(redis_uri)
    key = f"gc-test:{unique}:list"
    push = store.script("redis.call('RPUSH', KEYS[1], ARGV[1]) "
                        "return redis.call('LRANGE', KEYS[1], 0, -1)")
    try:
        assert store.script(push.source) is push  # registered once
        push.send([key], ["a"])
        push.send([key], ["b"])
        assert push([key], ["c"]) == [b"a", b"b", b"c"]
    finally:
        store.client.delete(key)
        store.close()


@pytest.mark.redis
def test_redis_outbox_is_sent_without_a_next_call(redis_uri: str, unique: str) -> None:
    """A sent script reaches the server within ``flush_after`` without another call, and
    at the latest when the store closes."""
    key = f"gc-test:{unique}:outbox"
    store = RedisStore(redis_uri)
    check = RedisStore(redis_uri)
    incr = store.script("return redis.call('INCR', KEYS[1])")
    try:
        incr.send([key], [])
        deadline = time.monotonic() + 10
        while check.get(key) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert check.get(key) == b"1"
        store.flush_after = 3600.0
        incr.send([key], [])
        store.close()
        assert check.get(key) == b"2"
    finally:
        check.delete(key)
        check.close()


@pytest.mark.redis
def test_redis_close_while_the_outbox_is_being_sent(redis_uri: str, unique: str) -> None:
    """Closing a store while its background sender is mid-flush neither kills that
    thread (a socket closed under its read) nor loses a sent script."""
    key = f"gc-test:{unique}:close-race"
    check = RedisStore(redis_uri)
    failures: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: failures.append(args.exc_value)
    try:
        for n in range(30):
            store = RedisStore(redis_uri)
            store.flush_after = 0.0005 * (n % 5)
            incr = store.script("return redis.call('INCR', KEYS[1])")
            for _ in range(50):
                incr.send([key], [])
            time.sleep(0.0003 * (n % 7))
            store.close()
        assert failures == []
        assert check.get(key) == str(30 * 50).encode()
    finally:
        threading.excepthook = previous
        check.delete(key)
        check.close()


@pytest.mark.redis
def test_redis_threads_that_end_give_their_connection_back(redis_uri: str,
                                                           unique: str) -> None:
    """Worker threads come and go in a server (an executor's, anyio's idle ones): each runs
    scripts on a connection of its own, which goes back to the pool when the thread ends.
    Before, each such thread kept one of redis-py's 100 pooled connections for ever, and
    the 101st thread's call — and every plain command after — failed with "Too many
    connections" (the guard then refused every call)."""
    key = f"gc-test:{unique}:lanes"
    store = RedisStore(redis_uri)
    incr = store.script("return redis.call('INCR', KEYS[1])")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            incr([key], [])
            incr.send([key], [])  # a send left in the outbox leaves with the next call
            incr([key], [])
        except BaseException as exc:
            errors.append(exc)

    try:
        _in_thread_batches(work)
        assert errors == []
        assert store.get(key) == str(5 * 40 * 3).encode()
        assert store.client.connection_pool.max_connections <= 100  # what made it fail
    finally:
        store.delete(key)
        store.close()


@pytest.mark.redis
def test_redis_lanes_of_ended_threads_go_to_new_threads(redis_uri: str, unique: str) -> None:
    """With every lane held by threads that have since ended, the next thread gets a lane
    of its own (the ended threads' connections back in the pool), not a borrowed
    connection per call; a thread that finds every lane held by live threads borrows."""
    key = f"gc-test:{unique}:relane"
    store = RedisStore(redis_uri)
    store.max_lanes = 2
    incr = store.script("return redis.call('INCR', KEYS[1])")
    own: list[bool] = []
    hold = threading.Event()

    def work(wait: bool = False) -> None:
        incr([key], [])
        own.append(getattr(store._local, "lane", None) is not None)
        if wait:
            hold.wait(10)

    try:
        for _ in range(2):  # two threads take both lanes, then end
            t = threading.Thread(target=work)
            t.start()
            t.join()
        live = [threading.Thread(target=work, args=(True,)) for _ in range(3)]
        for t in live:
            t.start()
        while len(own) < 5:
            time.sleep(0.01)
        hold.set()
        for t in live:
            t.join()
        assert own[:2] == [True, True]
        assert sorted(own[2:]) == [False, True, True]  # two lanes again, the third borrows
        assert store.get(key) == b"5"
    finally:
        hold.set()
        store.delete(key)
        store.close()


@pytest.mark.redis
def test_redis_more_threads_than_connections_wait_instead_of_failing(redis_uri: str,
                                                                     unique: str) -> None:
    """Past ``max_lanes`` threads, a thread's script borrows a pooled connection for the
    call, and a thread that finds the pool empty waits for one: 24 threads at once on a
    pool of 6 connections (3 of them lanes) all succeed, and plain commands still get a
    connection. Before, a thread beyond the pool failed at once ("Too many
    connections")."""
    key = f"gc-test:{unique}:crowd"
    store = RedisStore(redis_uri)
    store.client.connection_pool.max_connections = 6
    store.max_lanes = 3
    incr = store.script("return redis.call('INCR', KEYS[1])")
    start = threading.Barrier(24)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            for _ in range(25):
                incr([key], [])
                store.get(key)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(24)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert store.get(key) == str(24 * 25).encode()
    finally:
        store.delete(key)
        store.close()


@pytest.mark.redis
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_redis_forked_child_leaves_the_parents_outbox_to_the_parent(redis_uri: str,
                                                                    unique: str) -> None:
    """A server that forks workers after building its stores (gunicorn --preload): a
    script the parent had sent but not yet flushed runs once, by the parent, not once more
    by each child; the child's own sends still leave (with its next call, or at close)."""
    key = f"gc-test:{unique}:fork"
    store = RedisStore(redis_uri)
    store.flush_after = 3600.0  # nothing leaves on its own during the test
    incr = store.script("return redis.call('INCR', KEYS[1])")
    try:
        assert incr([key], []) == 1
        incr.send([key], [])  # the parent's, waiting in its outbox
        pid = os.fork()
        if pid == 0:  # the child: its own send, then a call that takes it along
            code = 1
            try:
                incr.send([key], [])
                incr([key], [])
                incr.send([key], [])  # left for close()
                store.close()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert store.get(key) == b"4"  # 1 + the child's three (5 with the parent's copy)
        store.close()  # the parent sends its own
        check = RedisStore(redis_uri)
        try:
            assert check.get(key) == b"5"
        finally:
            check.delete(key)
            check.close()
    finally:
        store.close()


@pytest.mark.redis
def test_redis_script_survives_a_script_flush(redis_uri: str, unique: str) -> None:
    """A server that forgot its scripts (restart, ``SCRIPT FLUSH``) gets them again: a
    sent and a called script both run, in order."""
    key = f"gc-test:{unique}:flush"
    store = RedisStore(redis_uri)
    push = store.script("redis.call('RPUSH', KEYS[1], ARGV[1]) "
                        "return redis.call('LLEN', KEYS[1])")
    try:
        assert push([key], ["a"]) == 1
        store.client.script_flush()
        push.send([key], ["b"])
        assert push([key], ["c"]) == 3
        assert store.client.lrange(key, 0, -1) == [b"a", b"b", b"c"]
    finally:
        store.client.delete(key)
        store.close()


@pytest.mark.redis
def test_redis_pubsub_reaches_another_store(redis_uri: str, unique: str) -> None:
    """A message published through one store reaches a subscriber on another."""
    got: list[bytes] = []
    arrived = threading.Event()
    a, b = RedisStore(redis_uri), RedisStore(redis_uri)

    def handler(message: bytes) -> None:
        got.append(message)
        arrived.set()

    sub = b.subscribe(f"gc-test:{unique}", handler)
    try:
        a.publish(f"gc-test:{unique}", b"hello")
        assert arrived.wait(10) and got == [b"hello"]
    finally:
        sub.close()
        a.close()
        b.close()


def test_memory_pubsub_stays_in_the_process() -> None:
    """memory:// publishes to its own subscribers until they unsubscribe."""
    store = MemoryStore()
    got: list[bytes] = []
    sub = store.subscribe("c", got.append)
    store.publish("c", b"1")
    sub.close()
    store.publish("c", b"2")
    assert got == [b"1"]


def test_driver_errors_become_store_unavailable_without_the_password() -> None:
    """Every Redis operation on a server that does not answer raises StoreUnavailable, its
    message naming the URI without the password."""
    store = RedisStore("redis://:hunter2@127.0.0.1:1/0")
    script = store.script("return 1")
    attempts = [lambda: store.get("k"), lambda: store.update("k", _count),
                lambda: script(["k"], []), lambda: store.publish("c", b"m"),
                lambda: store.subscribe("c", lambda m: None)]
    for attempt in attempts:
        with pytest.raises(StoreUnavailable) as info:
            attempt()
        assert "hunter2" not in str(info.value) and "***" in str(info.value)
    store.close()


def test_postgresql_down_is_store_unavailable_without_the_password() -> None:
    """A PostgreSQL store that cannot connect says so without the password."""
    with pytest.raises(StoreUnavailable) as info:
        open_store("postgresql://u:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(info.value)
