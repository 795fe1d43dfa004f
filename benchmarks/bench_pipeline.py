"""The default pipeline a provider gets, stage by stage, each beside its own floor.

One guarded text call for an adult with consent, taken apart: the guard's own work (context,
flow), each check's hooks as the guard calls them, and the ledger record — on the embedded
SQLite default and on PostgreSQL + Redis. Each stage is printed beside the floor it cannot
beat, measured in the same run: a dict lookup (cached decisions), a raw Redis round trip or
SQLite read (store I/O), the raw keyword automaton on the same text (moderation), a plain
INSERT with the same durability (the ledger). Issue 19 asks for this table as the contract.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from _util import PIPELINE_KINDS, default_pipeline, line

from genai_compliance import CallContext, Compliance, Subject

PROMPT = "请介绍一下长城的历史，以及它在明朝时的修建情况。"
REPLY = "长城是中国古代的军事防御工程，始建于春秋战国时期，明朝时大规模修缮。"
PG = os.environ.get("GC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("GC_TEST_REDIS", "redis://127.0.0.1:6379/0")
N = 400


def _per_call(fn: Callable[[], object], n: int = N) -> float:
    """Best of three: microseconds per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def _us(label: str, value: float, floor: float, floor_label: str) -> None:
    print(f"  {label:<34} {value:>10.1f} µs   floor {floor:>8.1f} µs ({floor_label})   "
          f"x{value / floor if floor else float('nan'):8.1f}")


def _ctx(comp: Compliance, user: Subject) -> CallContext:
    clock = comp.clock
    return CallContext(call_id=uuid.uuid4().hex, function="bench.generate", modality="text",
                       purposes=("service",), subject=user, started_at=clock.now(),
                       started_mono=clock.monotonic(), prompt=PROMPT, clock=clock)


def _stages(comp: Compliance, user: Subject, kind: str) -> None:
    checks = {c.name: c for c in comp.checks}
    raw: Any = None
    try:
        import ahocorasick_rs

        terms = [e.term for e in comp.moderation.library.entries]
        raw = ahocorasick_rs.AhoCorasick(terms)
    except Exception:  # pragma: no cover - the moderation extra is not installed
        pass
    table = {("u", "service"): object()}
    dict_floor = _per_call(lambda: table.get(("u", "service")), 20_000)
    if kind == "sqlite":
        folder = tempfile.mkdtemp()
        conn = sqlite3.connect(os.path.join(folder, "floor.db"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
        conn.execute("INSERT INTO t VALUES ('k', 'v')")
        store_floor = _per_call(lambda: conn.execute(
            "SELECT v FROM t WHERE k = 'k'").fetchone())
        store_label = "SQLite point read"
    else:
        import redis

        r = redis.Redis.from_url(REDIS)
        store_floor = _per_call(lambda: r.get("gc-bench-floor"))
        store_label = "Redis round trip"

    for name in ("consent", "minors", "interaction", "illegal-use", "input-moderation"):
        check = checks.get(name)
        if check is None:
            continue

        def before(check: Any = check) -> None:
            ctx = _ctx(comp, user)
            check.before(ctx)
            check.close(ctx, "served")

        floor, label = ((dict_floor, "dict lookup") if name == "consent" else
                        (store_floor, store_label))
        if name == "input-moderation" and raw is not None:
            floor = _per_call(lambda: raw.find_matches_as_indexes(PROMPT), 5000)
            label = "raw automaton, same text"
        _us(f"{name} (before + close)", _per_call(before), floor, label)
    for name in ("output-moderation", "explicit_text_label", "media_label"):
        check = checks.get(name)
        if check is None:
            continue

        def after(check: Any = check) -> None:
            check.after(_ctx(comp, user), REPLY)

        floor, label = dict_floor, "dict lookup"
        if name == "output-moderation" and raw is not None:
            floor = _per_call(lambda: raw.find_matches_as_indexes(REPLY), 5000)
            label = "raw automaton, same text"
        _us(f"{name} (after)", _per_call(after), floor, label)

    payload = {"call_id": uuid.uuid4().hex, "function": "bench.generate", "modality": "text",
               "purposes": ["service"], "outcome": "served", "streaming": False,
               "chunks": 0, "duration_us": 1234}
    record = _per_call(lambda: comp.record("guard.call", payload, subject=user), 200)
    if kind == "sqlite":
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE r (seq INTEGER PRIMARY KEY, body TEXT)")

        def insert() -> None:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO r (body) VALUES (?)", ("x" * 300,))
            conn.execute("COMMIT")

        floor, label = _per_call(insert, 200), "plain INSERT + fsync"
    else:
        import psycopg

        with psycopg.connect(PG, autocommit=True) as pg:
            pg.execute("CREATE TEMP TABLE r (seq SERIAL PRIMARY KEY, body TEXT)")
            floor = _per_call(lambda: pg.execute("INSERT INTO r (body) VALUES (%s)",
                                                 ("x" * 300,)), 200)
        label = "plain INSERT"
    _us("ledger record (one append)", record, floor, label)

    def model(prompt: str) -> str:
        return REPLY

    guarded = comp.guard(purposes=["service"])(model)
    whole = _per_call(lambda: guarded(PROMPT, subject=user), 200)
    _us("whole guarded call", whole, record, "the ledger record alone")
    bare = _per_call(lambda: model(PROMPT), 20_000)
    line("guarded vs bare (calls per second)", 1e6 / whole, 1e6 / bare, "call/s")


def main() -> None:
    for kind in PIPELINE_KINDS:
        print(f"default pipeline, stage by stage, on {kind}:")
        with default_pipeline(kind) as setup:
            if setup is not None:
                comp, user = setup
                _stages(comp, user, kind)


if __name__ == "__main__":
    main()
