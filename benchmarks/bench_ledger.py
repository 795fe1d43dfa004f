"""Ledger appends per second beside a plain INSERT of the same records (no hashing, no chain,
no tree, no signing) with the same durability, measured in the same run, on SQLite and
PostgreSQL. The plain table holds what the ledger holds minus the tamper evidence — time,
kind, subject, JSON payload, indexed by kind and time — so the ratio is the price of the
hash chain, the Merkle tree and the checkpoints. ("bare" is the 0.1 baseline: two columns,
no index.)

* one writer appending in batches of 1 and 100 (``append_many``);
* 1, 8 and 32 concurrent writer threads appending one record per call (``append``): the
  ledger's group commit shares one transaction and one fsync among them, while each plain
  INSERT commits (and fsyncs) on its own connection;
* 32 concurrent coroutines awaiting ``aappend``.

Both sides use ``durability="full"``: SQLite ``synchronous=FULL`` (an fsync per commit),
PostgreSQL ``synchronous_commit=on``. The guard's per-call overhead lives with the guard's
benchmarks.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import socket
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Callable
from typing import Any

from _util import line, rate

from genai_compliance import Ledger
from genai_compliance.ledger import Entry

N = 10_000
PG = os.environ.get("GC_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
WRITERS = (1, 8, 32)


def _pg_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _payload(i: int) -> dict[str, object]:
    return {"call_id": uuid.uuid4().hex, "outcome": "served", "i": i, "purposes": ["service"]}


def _threads(count: int, total: int, work: Callable[[int, int], None]) -> int:
    """Run ``work(first, n)`` in ``count`` threads splitting ``total`` operations."""
    per = total // count
    threads = [threading.Thread(target=work, args=(k * per, per)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per * count


def _chained(ledger: Ledger, batch: int, n: int) -> int:
    """``n`` records appended in batches of ``batch`` (one transaction each)."""
    for start in range(0, n, batch):
        ledger.append_many([Entry("bench", _payload(i), "user-1")
                            for i in range(start, start + batch)])
    return n


def _chained_threads(ledger: Ledger, writers: int, n: int) -> int:
    """``n`` single appends from ``writers`` threads (group commit shares the fsyncs)."""
    def work(first: int, count: int) -> None:
        for i in range(first, first + count):
            ledger.append("bench", _payload(i), subject="user-1")
    return _threads(writers, n, work)


def _ledger_options(folder: str) -> dict[str, Any]:
    return {"key_file": os.path.join(folder, "bench.key"),
            "witness_dir": os.path.join(folder, "witness"), "durability": "full"}


# -- SQLite -----------------------------------------------------------------------------
_NOW = "2026-03-01T00:00:00.000000Z"
_SUBJECT = "p:" + "0" * 32
PLAIN_SQL = "INSERT INTO t (time, kind, subject, payload) VALUES (?, ?, ?, ?)"
BARE_SQL = "INSERT INTO bare (kind, payload) VALUES (?, ?)"


def _row(i: int) -> tuple[str, str, str, str]:
    return (_NOW, "bench", _SUBJECT, json.dumps(_payload(i)))


def _sqlite_plain(path: str) -> Callable[[], sqlite3.Connection]:
    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, timeout=60,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=60000")
        return conn

    conn = connect()
    conn.execute("CREATE TABLE IF NOT EXISTS t (seq INTEGER PRIMARY KEY, time TEXT, kind TEXT, "
                 "subject TEXT, payload TEXT)")
    conn.execute("CREATE INDEX IF NOT EXISTS t_kind ON t (kind, seq)")
    conn.execute("CREATE INDEX IF NOT EXISTS t_time ON t (time)")
    conn.execute("CREATE TABLE IF NOT EXISTS bare (seq INTEGER PRIMARY KEY, kind TEXT, "
                 "payload TEXT)")
    conn.close()
    return connect


def bench_sqlite(folder: str) -> None:
    print("SQLite (WAL, fsync per commit on both sides):")
    connect = _sqlite_plain(os.path.join(folder, "plain.db"))
    conn = connect()
    ledger = Ledger(f"sqlite:///{os.path.join(folder, 'ledger.db')}", **_ledger_options(folder))
    try:
        for batch in (1, 100):
            n = N if batch > 1 else N // 20

            def plain(batch: int = batch, n: int = n, sql: str = PLAIN_SQL) -> int:
                for start in range(0, n, batch):
                    conn.execute("BEGIN IMMEDIATE")
                    conn.executemany(sql, [_row(i) if sql is PLAIN_SQL else
                                           ("bench", json.dumps(_payload(i)))
                                           for i in range(start, start + batch)])
                    conn.execute("COMMIT")
                return n

            chained = functools.partial(_chained, ledger, batch, n)

            base = rate(plain, repeat=5)
            line(f"plain INSERT, batch {batch}", base, base, "rec/s")
            bare = rate(functools.partial(plain, batch, n, BARE_SQL), repeat=5)
            line(f"bare INSERT (kind, payload), batch {batch}", bare, base, "rec/s")
            line(f"ledger append_many, batch {batch}", rate(chained, repeat=5), base, "rec/s")
        for writers in WRITERS:
            n = 200 * writers if writers > 1 else N // 20

            def plain_w(writers: int = writers, n: int = n) -> int:
                def work(first: int, count: int) -> None:
                    own = connect()
                    for i in range(first, first + count):
                        own.execute("BEGIN IMMEDIATE")
                        own.execute(PLAIN_SQL, _row(i))
                        own.execute("COMMIT")
                    own.close()
                return _threads(writers, n, work)

            chained_w = functools.partial(_chained_threads, ledger, writers, n)

            base = rate(plain_w, repeat=3)
            line(f"plain INSERT, {writers} writer threads", base, base, "rec/s")
            line(f"ledger append, {writers} writer threads (group commit)",
                 rate(chained_w, repeat=3), base, "rec/s")
        line("ledger aappend, 32 coroutines", rate(lambda: _async(ledger, 32, 3200),
                                                    repeat=2), base, "rec/s")
    finally:
        ledger.close()
        conn.close()


def _async(ledger: Ledger, tasks: int, total: int) -> int:
    async def main() -> None:
        async def worker(first: int) -> None:
            for i in range(first, first + total // tasks):
                await ledger.aappend("bench", _payload(i), subject="user-1")

        await asyncio.gather(*(worker(k * (total // tasks)) for k in range(tasks)))

    asyncio.run(main())
    return total


# -- PostgreSQL -------------------------------------------------------------------------
def bench_postgres(folder: str) -> None:
    if not _pg_up():
        print("PostgreSQL: not running, skipped")
        return
    import psycopg

    schema = "bench_" + uuid.uuid4().hex[:8]
    print("PostgreSQL (synchronous_commit=on on both sides):")
    admin = psycopg.connect(PG, autocommit=True)
    admin.execute(f"CREATE SCHEMA {schema}")
    admin.execute(f"CREATE TABLE {schema}.t (seq BIGSERIAL PRIMARY KEY, time TEXT, kind TEXT, "
                  "subject TEXT, payload TEXT)")
    admin.execute(f"CREATE INDEX ON {schema}.t (kind, seq)")
    admin.execute(f"CREATE INDEX ON {schema}.t (time)")
    admin.execute(f"CREATE TABLE {schema}.bare (seq BIGSERIAL PRIMARY KEY, kind TEXT, "
                  "payload TEXT)")
    pg_plain = (f"INSERT INTO {schema}.t (time, kind, subject, payload) VALUES "
                "(%s, %s, %s, %s)")
    pg_bare = f"INSERT INTO {schema}.bare (kind, payload) VALUES (%s, %s)"

    def connect() -> Any:
        conn = psycopg.connect(PG, autocommit=True)
        conn.execute("SET synchronous_commit TO on")
        return conn

    ledger = Ledger(f"{PG}?schema={schema}_l", **_ledger_options(folder + "/pg"))
    conn = connect()
    try:
        for batch in (1, 100):
            n = N if batch > 1 else N // 20

            def plain(batch: int = batch, n: int = n, sql: str = pg_plain) -> int:
                for start in range(0, n, batch):
                    with conn.transaction(), conn.cursor() as cur:
                        cur.executemany(sql, [_row(i) if sql is pg_plain else
                                              ("bench", json.dumps(_payload(i)))
                                              for i in range(start, start + batch)])
                return n

            chained = functools.partial(_chained, ledger, batch, n)

            base = rate(plain, repeat=5)
            line(f"plain INSERT, batch {batch}", base, base, "rec/s")
            bare = rate(functools.partial(plain, batch, n, pg_bare), repeat=5)
            line(f"bare INSERT (kind, payload), batch {batch}", bare, base, "rec/s")
            line(f"ledger append_many, batch {batch}", rate(chained, repeat=5), base, "rec/s")
        for writers in WRITERS:
            n = 200 * writers if writers > 1 else N // 20

            def plain_w(writers: int = writers, n: int = n) -> int:
                def work(first: int, count: int) -> None:
                    own = connect()
                    for i in range(first, first + count):
                        own.execute(pg_plain, _row(i))
                    own.close()
                return _threads(writers, n, work)

            chained_w = functools.partial(_chained_threads, ledger, writers, n)

            base = rate(plain_w, repeat=3)
            line(f"plain INSERT, {writers} writer threads", base, base, "rec/s")
            line(f"ledger append, {writers} writer threads (group commit)",
                 rate(chained_w, repeat=3), base, "rec/s")
        line("ledger aappend, 32 coroutines", rate(lambda: _async(ledger, 32, 3200),
                                                    repeat=2), base, "rec/s")
    finally:
        ledger.close()
        conn.close()
        for suffix in ("", "_l"):
            admin.execute(f"DROP SCHEMA IF EXISTS {schema}{suffix} CASCADE")
        admin.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        bench_sqlite(folder)
        bench_postgres(folder)


if __name__ == "__main__":
    main()
