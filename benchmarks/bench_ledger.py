"""Ledger appends per second (batch 1 and 100) on SQLite and PostgreSQL, beside a plain
INSERT of the same rows without hashing or signing, measured in the same run; and the guard's
per-call overhead beside a bare call of the same function."""

from __future__ import annotations

import os
import socket
import sqlite3
import tempfile
import uuid

from _util import line, rate

from genai_compliance import Ledger
from genai_compliance.ledger import Entry
from genai_compliance.testing import make_compliance

N = 400
PG = os.environ.get("GC_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _payload(i: int) -> dict[str, object]:
    return {"call_id": uuid.uuid4().hex, "outcome": "served", "i": i, "purposes": ["service"]}


def bench_sqlite(folder: str) -> None:
    print("SQLite (WAL, fsync per commit for both):")
    for batch in (1, 100):
        _sqlite_batch(folder, batch)


def _sqlite_batch(folder: str, batch: int) -> None:
    import json

    path = os.path.join(folder, f"plain{batch}.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, kind TEXT, payload TEXT)")

    def plain() -> int:
        for start in range(0, N, batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO t (kind, payload) VALUES (?, ?)",
                             [("bench", json.dumps(_payload(i)))
                              for i in range(start, start + batch)])
            conn.execute("COMMIT")
        return N

    ledger = Ledger(f"sqlite:///{os.path.join(folder, f'ledger{batch}.db')}")

    def chained() -> int:
        for start in range(0, N, batch):
            ledger.append_many([Entry("bench", _payload(i), "user-1")
                                for i in range(start, start + batch)])
        return N

    base = rate(plain)
    line(f"plain INSERT, batch {batch}", base, base, "rec/s")
    line(f"ledger append, batch {batch}", rate(chained), base, "rec/s")
    ledger.close()
    conn.close()


def bench_postgres() -> None:
    if not _pg_up():
        print("PostgreSQL: not running, skipped")
        return
    import json

    import psycopg

    schema = "bench_" + uuid.uuid4().hex[:8]
    print("PostgreSQL:")
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.t (seq BIGSERIAL PRIMARY KEY, kind TEXT, "
                     "payload TEXT)")
        try:
            for batch in (1, 100):
                def plain(batch: int = batch) -> int:
                    for start in range(0, N, batch):
                        with conn.transaction(), conn.cursor() as cur:
                            cur.executemany(f"INSERT INTO {schema}.t (kind, payload) "
                                            "VALUES (%s, %s)",
                                            [("bench", json.dumps(_payload(i)))
                                             for i in range(start, start + batch)])
                    return N

                ledger = Ledger(f"{PG}?schema={schema}_l{batch}")

                def chained(batch: int = batch, ledger: Ledger = ledger) -> int:
                    for start in range(0, N, batch):
                        ledger.append_many([Entry("bench", _payload(i), "user-1")
                                            for i in range(start, start + batch)])
                    return N

                base = rate(plain)
                line(f"plain INSERT, batch {batch}", base, base, "rec/s")
                line(f"ledger append, batch {batch}", rate(chained), base, "rec/s")
                ledger.close()
        finally:
            for suffix in ("", "_l1", "_l100"):
                conn.execute(f"DROP SCHEMA IF EXISTS {schema}{suffix} CASCADE")


def bench_guard(folder: str) -> None:
    print("guard per-call overhead (records one ledger entry per call):")
    comp = make_compliance(os.path.join(folder, "guard"))

    def generate(prompt: str) -> str:
        return prompt[::-1]

    guarded = comp.guard(modality="text", purposes=["service"])(generate)
    calls = 300

    def bare() -> int:
        for _ in range(calls):
            generate("你好，世界")
        return calls

    def wrapped() -> int:
        for _ in range(calls):
            guarded("你好，世界")
        return calls

    base = rate(bare)
    line("bare call", base, base, "call/s")
    line("guarded call (SQLite ledger, durability=full)", rate(wrapped), base, "call/s")
    comp.close()
    comp = make_compliance(os.path.join(folder, "guard2"), durability="process")
    guarded = comp.guard(modality="text", purposes=["service"])(generate)
    line("guarded call (SQLite ledger, durability=process)", rate(wrapped), base, "call/s")
    comp.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        bench_sqlite(folder)
        bench_postgres()
        bench_guard(folder)


if __name__ == "__main__":
    main()
