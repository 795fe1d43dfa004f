"""Ledger appends per second beside a plain INSERT of the same rows (no hashing, no chain, no
tree, no signing) with the same durability, measured in the same run, on SQLite and
PostgreSQL; and the guard's per-call overhead with the full default pipeline.

The baseline is meant to be hard to beat, not easy:

* **same rows**: the plain table has the ledger's columns and indexes (seq, time, kind,
  subject, payload, prev_hash, hash; by kind and by time) and gets rows of the same bytes —
  the same payload dicts, serialised compactly with sorted keys, a 34-character subject, two
  64-character hex strings — only without computing anything ("no hash columns" drops the
  two hashes, for reference);
* **same durability**: both sides ``durability="full"``: SQLite WAL with
  ``synchronous=FULL`` (an fsync per commit), PostgreSQL ``synchronous_commit=on``;
* **same transactions**: batch 100 is 100 rows per transaction on both sides
  (``executemany``; ``append_many``), batch 1 one row per transaction. The ledger writes a
  batch with multi-row ``INSERT … VALUES (…), (…)`` statements, so "plain multi-row INSERT"
  does the same, for the strictest comparison;
* **interleaved**: each round runs every contender once, in turn; the figure is the median
  of the rounds (the machine is shared, so a best-of would flatter whoever ran in a quiet
  moment).

Concurrency: 1, 8 and 32 writer threads appending one record per call (``append``; the
ledger's group commit shares one transaction and one fsync among them) beside plain INSERTs
each committing on its own connection; and 32 coroutines awaiting ``aappend``.

Guard overhead (issue 15): the full default pipeline (``_util.default_pipeline``: consent,
minors, illegal use, input and output moderation with the sample keyword list, the explicit
text label, the ledger record) around a model that returns at once, from 1 and 8 threads;
the overhead is the guarded calls' wall time minus the bare calls', per call (amortised over
the threads). Beside it, the same number of ledger appends of a ``guard.call``-sized record
from the same threads: what of the overhead is the record. Target: under 100 µs at 8 threads.

At 1 and 8 writer threads it also prints what a calling thread pays per ``append`` of a
``guard.call`` record (its own CPU, including the batches it commits for the others) and
how many records a group commit holds.

Issue 15 target: ledger ≥ 0.8× plain INSERT at batch 100.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from _util import PIPELINE_KINDS, default_pipeline, line

from genai_compliance import Ledger
from genai_compliance.ledger import Entry

N = 10_000
ROUNDS = 5
PG = os.environ.get("GC_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
WRITERS = (1, 8, 32)
GUARD_THREADS = (1, 8)
#: writer counts whose calling threads' CPU per append and batch sizes are printed
CPU_THREADS = (1, 8)
GUARD_CALLS = 800


def _pg_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _payload(i: int) -> dict[str, object]:
    return {"call_id": uuid.uuid4().hex, "outcome": "served", "i": i, "purposes": ["service"]}


def _median_rates(contenders: dict[str, Callable[[], int]], rounds: int = ROUNDS
                  ) -> dict[str, float]:
    """Operations per second of each contender: the median over ``rounds`` rounds, each
    round running every contender once, in turn (so both sides see the same noise)."""
    seen: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            ops = fn()
            seen[name].append(ops / (time.perf_counter() - start))
    return {name: statistics.median(rates) for name, rates in seen.items()}


def _print(rates: dict[str, float], base: str, unit: str = "rec/s") -> None:
    for name, value in rates.items():
        line(name, value, rates[base], unit)


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


def _async(ledger: Ledger, tasks: int, total: int) -> int:
    async def main() -> None:
        async def worker(first: int) -> None:
            for i in range(first, first + total // tasks):
                await ledger.aappend("bench", _payload(i), subject="user-1")

        await asyncio.gather(*(worker(k * (total // tasks)) for k in range(tasks)))

    asyncio.run(main())
    return total


def _ledger_options(folder: str) -> dict[str, Any]:
    return {"key_file": os.path.join(folder, "bench.key"),
            "witness_dir": os.path.join(folder, "witness"), "durability": "full"}


# -- the plain rows ----------------------------------------------------------------------
_NOW = "2026-03-01T00:00:00.000000Z"
_SUBJECT = "p:" + "0" * 32
_HASH = "0123456789abcdef" * 4
_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
_COLUMNS = "(seq {seq} PRIMARY KEY, time TEXT, kind TEXT, subject TEXT, payload TEXT{extra})"
_HASHES = ", prev_hash TEXT NOT NULL, hash TEXT NOT NULL"


def _row(i: int) -> tuple[str, ...]:
    """A plain row of the same bytes as a ledger row."""
    return (_NOW, "bench", _SUBJECT, _dumps(_payload(i)), _HASH, _HASH)


def _short_row(i: int) -> tuple[str, ...]:
    return (_NOW, "bench", _SUBJECT, _dumps(_payload(i)))


class _Plain:
    """The two plain tables (same rows as the ledger; the same without hash columns) and
    how to insert into them on one backend."""

    def __init__(self, connect: Callable[[], Any], table: str, mark: str,
                 begin: Callable[[Any], Any]) -> None:
        self.connect = connect
        self.begin = begin
        cols = f"{mark}, {mark}, {mark}, {mark}"
        self.sql = (f"INSERT INTO {table} (time, kind, subject, payload, prev_hash, hash) "
                    f"VALUES ({cols}, {mark}, {mark})")
        self.short_sql = (f"INSERT INTO {table}_short (time, kind, subject, payload) "
                          f"VALUES ({cols})")

    def batches(self, conn: Any, batch: int, n: int, *, short: bool = False) -> int:
        sql, row = (self.short_sql, _short_row) if short else (self.sql, _row)
        for start in range(0, n, batch):
            with self.begin(conn) as cur:
                cur.executemany(sql, [row(i) for i in range(start, start + batch)])
        return n

    def multirow(self, conn: Any, batch: int, n: int) -> int:
        """One ``INSERT … VALUES (…), (…), …`` statement per transaction (what the ledger
        itself does)."""
        sql = self.sql + "".join(", " + self.sql[self.sql.index("VALUES ") + 7:]
                                 for _ in range(batch - 1))
        for start in range(0, n, batch):
            with self.begin(conn) as cur:
                cur.execute(sql, [v for i in range(start, start + batch) for v in _row(i)])
        return n

    def writers(self, count: int, n: int) -> int:
        def work(first: int, per: int) -> None:
            own = self.connect()
            try:
                for i in range(first, first + per):  # autocommit: one transaction each
                    own.execute(self.sql, _row(i))
            finally:
                own.close()
        return _threads(count, n, work)


def _compare(plain: _Plain, ledger: Ledger) -> None:
    conn = plain.connect()
    try:
        for batch in (1, 100):
            n = N if batch > 1 else N // 20
            rates = _median_rates({
                f"plain INSERT, batch {batch}": lambda b=batch, n=n: plain.batches(conn, b, n),
                f"plain INSERT without hash columns, batch {batch}":
                    lambda b=batch, n=n: plain.batches(conn, b, n, short=True),
                f"plain multi-row INSERT, batch {batch}":
                    lambda b=batch, n=n: plain.multirow(conn, b, n),
                f"ledger append_many, batch {batch}": lambda b=batch, n=n: _chained(ledger, b, n),
            })
            _print(rates, f"plain INSERT, batch {batch}")
    finally:
        conn.close()
    for writers in WRITERS:
        n = 200 * writers if writers > 1 else N // 20
        rates = _median_rates({
            f"plain INSERT, {writers} writer threads": lambda w=writers, n=n: plain.writers(w, n),
            f"ledger append, {writers} writer threads (group commit)":
                lambda w=writers, n=n: _chained_threads(ledger, w, n),
        }, rounds=3)
        _print(rates, f"plain INSERT, {writers} writer threads")
        if writers in CPU_THREADS:
            _caller_cpu(ledger, writers)
        if writers == 32:
            base = rates["plain INSERT, 32 writer threads"]
            line("ledger aappend, 32 coroutines",
                 statistics.median(_rate(lambda: _async(ledger, 32, 3200)) for _ in range(3)),
                 base, "rec/s")


def _caller_cpu(ledger: Ledger, writers: int) -> None:
    """What a calling thread pays per ``append`` of a ``guard.call`` record (its own CPU,
    ``time.thread_time``, including the batches it commits for others), what the whole
    process pays (its other threads too), and how many records a group commit holds:
    medians of :data:`ROUNDS` rounds."""
    per = GUARD_CALLS // 2
    payloads = [_guard_payload(i) for i in range(per * writers)]
    cpu: list[float] = []
    process: list[float] = []
    batches: list[float] = []
    for _ in range(ROUNDS):
        spent: list[float] = []
        started = time.process_time()

        def work(first: int, n: int, spent: list[float] = spent) -> None:
            start = time.thread_time()
            for i in range(first, first + n):
                ledger.append("guard.call", payloads[i], subject="user-1")
            spent.append(time.thread_time() - start)  # (list.append is atomic)

        commits = getattr(ledger, "_commits", 0)
        done = _threads(writers, per * writers, work)
        process.append((time.process_time() - started) / done * 1e6)
        cpu.append(sum(spent) / done * 1e6)
        made = getattr(ledger, "_commits", 0) - commits
        batches.append(done / made if made else float("nan"))
    print(f"  {f'{writers} writer threads: CPU per append on the calling threads':<58} "
          f"{statistics.median(cpu):>14,.1f} µs")
    print(f"  {f'{writers} writer threads: CPU per append, the whole process':<58} "
          f"{statistics.median(process):>14,.1f} µs")
    print(f"  {f'{writers} writer threads: records per group commit':<58} "
          f"{statistics.median(batches):>14,.2f}")


def _rate(fn: Callable[[], int]) -> float:
    start = time.perf_counter()
    ops = fn()
    return ops / (time.perf_counter() - start)


# -- SQLite -----------------------------------------------------------------------------
class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Cursor:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn.cursor()

    def __exit__(self, kind: object, *rest: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


def bench_sqlite(folder: str) -> None:
    print("SQLite (WAL, synchronous=FULL: an fsync per commit on both sides):")
    path = os.path.join(folder, "plain.db")

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, timeout=60,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=60000")
        return conn

    conn = connect()
    for table, extra in (("t", _HASHES), ("t_short", "")):
        conn.execute(f"CREATE TABLE {table} " + _COLUMNS.format(seq="INTEGER", extra=extra))
        conn.execute(f"CREATE INDEX {table}_kind ON {table} (kind, seq)")
        conn.execute(f"CREATE INDEX {table}_time ON {table} (time)")
    conn.close()
    ledger = Ledger(f"sqlite:///{os.path.join(folder, 'ledger.db')}", **_ledger_options(folder))
    try:
        _compare(_Plain(connect, "t", "?", _SQLiteTx), ledger)
    finally:
        ledger.close()


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
    for table, extra in (("t", _HASHES), ("t_short", "")):
        admin.execute(f"CREATE TABLE {schema}.{table} "
                      + _COLUMNS.format(seq="BIGSERIAL", extra=extra))
        admin.execute(f"CREATE INDEX ON {schema}.{table} (kind, seq)")
        admin.execute(f"CREATE INDEX ON {schema}.{table} (time)")

    def connect() -> Any:
        conn = psycopg.connect(PG, autocommit=True)
        conn.execute("SET synchronous_commit TO on")
        return conn

    class tx:
        def __init__(self, conn: Any) -> None:
            self.conn = conn
            self.inner: Any = None

        def __enter__(self) -> Any:
            self.inner = self.conn.transaction()
            self.inner.__enter__()
            return self.conn.cursor()

        def __exit__(self, *exc: Any) -> None:
            self.inner.__exit__(*exc)

    ledger = Ledger(f"{PG}?schema={schema}_l", **_ledger_options(folder + "/pg"))
    try:
        _compare(_Plain(connect, f"{schema}.t", "%s", tx), ledger)
    finally:
        ledger.close()
        for suffix in ("", "_l"):
            admin.execute(f"DROP SCHEMA IF EXISTS {schema}{suffix} CASCADE")
        admin.close()


# -- the guard's per-call overhead ---------------------------------------------------------
PROMPT = "请介绍一下长城的历史。"
REPLY = "长城是中国古代的军事防御工程，始建于春秋战国时期。"


def _guard_payload(i: int) -> dict[str, object]:
    """A ``guard.call`` record's payload as the default pipeline writes it."""
    return {"call_id": uuid.uuid4().hex, "chunks": 0, "duration_us": 1234 + i,
            "function": "bench_ledger.model", "modality": "text",
            "notes": {"explicit_label": {"mode": "prefix", "text": "本内容由人工智能生成"},
                      "illegal_use_level": "none"},
            "outcome": "served", "purposes": ["service"], "streaming": False}


def _guard_overhead(comp: Any, user: Any) -> None:
    def model(prompt: str) -> str:
        return REPLY

    guarded = comp.guard(purposes=["service"])(model)
    guarded(PROMPT, subject=user)  # build the pipeline, warm the caches

    def run(fn: Callable[[], object], threads: int) -> int:
        def work(first: int, n: int) -> None:
            for _ in range(n):
                fn()
        return _threads(threads, GUARD_CALLS * threads, work)

    def record(threads: int) -> int:
        def work(first: int, n: int) -> None:
            for i in range(first, first + n):
                comp.record("guard.call", _guard_payload(i), subject=user)
        return _threads(threads, GUARD_CALLS * threads, work)

    for threads in GUARD_THREADS:
        rates = _median_rates({
            "bare": lambda t=threads: run(lambda: model(PROMPT), t),
            "guarded": lambda t=threads: run(lambda: guarded(PROMPT, subject=user), t),
            "record": lambda t=threads: record(t),
        })
        bare_us, guard_us, rec_us = (1e6 / rates[k] for k in ("bare", "guarded", "record"))
        overhead = guard_us - bare_us
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        line(f"{label}: guarded calls", rates["guarded"], rates["bare"], "call/s")
        print(f"  {f'{label}: per-call overhead (amortised), target < 100 µs':<58} "
              f"{overhead:>14,.1f} µs")
        print(f"  {f'{label}:   of which the ledger record (appends alone)':<58} "
              f"{rec_us:>14,.1f} µs   ({rec_us / overhead:.0%})")


def bench_guard() -> None:
    for kind in PIPELINE_KINDS:
        print(f"guard per-call overhead, full default pipeline on {kind}:")
        with default_pipeline(kind) as setup:
            if setup is not None:
                _guard_overhead(*setup)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        bench_sqlite(folder)
        bench_postgres(folder)
    bench_guard()


if __name__ == "__main__":
    main()
