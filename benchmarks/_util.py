"""Shared timing helpers for the benchmarks: best-of-N rates and ratio lines."""

from __future__ import annotations

import contextlib
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def rate(fn: Callable[[], int], repeat: int = 3) -> float:
    """Best rate (operations per second) of ``fn`` over ``repeat`` runs; ``fn`` returns the
    number of operations it did."""
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        ops = fn()
        elapsed = time.perf_counter() - start
        best = max(best, ops / elapsed if elapsed > 0 else float("inf"))
    return best


def line(label: str, value: float, baseline: float, unit: str = "ops/s") -> None:
    """Print ``value`` and its ratio to ``baseline`` (both measured in this run)."""
    ratio = value / baseline if baseline else float("nan")
    print(f"  {label:<58} {value:>14,.1f} {unit:<6} ratio {ratio:8.3f}")


#: the backends the pipeline benchmarks run on
PIPELINE_KINDS = ("sqlite", "postgres+redis")


@contextlib.contextmanager
def default_pipeline(kind: str) -> Iterator[tuple[Any, Any] | None]:
    """``(compliance, subject)``: the full default pipeline on ``kind`` (the embedded
    SQLite default, or PostgreSQL + Redis), moderated with the sample keyword list, and an
    adult who consented to ``service``, warmed as a server starts (:meth:`Compliance.warm`);
    ``None`` (printed) when the backend is not running.
    Everything it made is closed and dropped afterwards."""
    import hashlib
    import os
    import tempfile
    import uuid

    from genai_compliance import Compliance, Subject, SystemClock
    from genai_compliance.consent import NoticeRef
    from genai_compliance.testing import TEST_PROVIDER, sample_keyword_file

    pg = os.environ.get("GC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    redis = os.environ.get("GC_TEST_REDIS", "redis://127.0.0.1:6379/0")
    settings = {"moderation": {"keyword_files": [sample_keyword_file()]}}
    schema = "bench_" + uuid.uuid4().hex[:10]
    with tempfile.TemporaryDirectory() as folder:
        try:
            if kind == "sqlite":
                comp = Compliance(TEST_PROVIDER, ledger=f"sqlite:///{folder}/ledger.db",
                                  clock=SystemClock(), settings=settings)
            else:
                comp = Compliance(TEST_PROVIDER, ledger=f"{pg}?schema={schema}",
                                  clock=SystemClock(), stores={"default": redis},
                                  settings=settings)
        except Exception as exc:  # a backend that is not running here
            print(f"  skipped: {type(exc).__name__}: {exc}")
            yield None
            return
        try:
            user = Subject("bench-user", birth_date="1990-01-01")
            comp.consent.grant(user, "service",
                               notice=NoticeRef("1", hashlib.sha256(b"notice").hexdigest()))
            comp.warm()  # what the middleware does on lifespan startup (docs/guard.md)
            yield comp, user
        finally:
            comp.close()
            if kind != "sqlite":
                import psycopg

                with psycopg.connect(pg, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def big_png(path: Path, size: int) -> None:
    """An 8x8 RGB PNG padded with IDAT chunks to about ``size`` bytes (label benches)."""
    def chunk(t: bytes, p: bytes) -> bytes:
        return struct.pack(">I", len(p)) + t + p + struct.pack(">I", zlib.crc32(t + p))

    with path.open("wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0,
                                                                   0, 0)))
        block = chunk(b"IDAT", bytes(1 << 16))
        for _ in range(size // len(block)):
            f.write(block)
        f.write(chunk(b"IEND", b""))
