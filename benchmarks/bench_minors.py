"""Minors' checks per second on memory://, SQLite and Redis, beside the ``limits`` package's
moving-window limiter (one ``hit`` per call) on the same backend in the same run.

One "check" here is what a guarded call costs the minors' duty: ``admit`` (curfew, pause,
windows, quota, register the call) and ``release`` (charge its duration), as MinorsCheck
runs them: on Redis the release is noted with the next admit (one round trip per call: the
admission's script and, in the same write, the previous call's end, a one-field write that
the admission then charges), where ``limits`` runs one script. Printed ratios are against
``limits`` on the same store; the CPU line is this process's CPU time per call (less noisy
than throughput on a shared machine; it leaves out the Redis server's).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable

from _util import line, rate

from genai_compliance.minors import MINOR_BANDS, MinorPolicy, MinorProtection
from genai_compliance.subject import Subject
from genai_compliance.testing import FrozenClock

#: the secret that keys the minors' store (shared stores refuse to run without one)
SECRET = b"test-minors-secret-0123456789"

REDIS = os.environ.get("GC_BENCH_REDIS", "redis://127.0.0.1:6379/0")
N = 2000


def _cpu(fn: Callable[[], int], repeat: int = 3) -> float:
    """Least CPU time of this process per operation of ``fn``, in µs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        ops = fn()
        best = min(best, (time.process_time() - start) / ops * 1e6)
    return best


def _cpu_line(label: str, ours: float, theirs: float) -> None:
    print(f"  {label:<58} {ours:>14,.1f} µs/call cpu (limits {theirs:,.1f})")


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def _protection(uri: str, prefix: str) -> MinorProtection:
    # a day never runs out here: the figure is the per-call cost, not the refusal path
    policy = MinorPolicy(daily_minutes={b: 1440 for b in MINOR_BANDS}, curfew=None)
    clock = FrozenClock(dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC))
    return MinorProtection(key_secret=SECRET, policy=policy, store=uri, clock=clock,
                           key_prefix=prefix, guardian_consent=lambda s: True)


def _ours(prot: MinorProtection, users: int = 50) -> int:
    kids = [Subject(f"kid{i}", birth_date="2010-01-01") for i in range(users)]
    clock = prot.clock
    assert isinstance(clock, FrozenClock)
    for i in range(N):
        adm = prot.admit(kids[i % users])
        assert adm is not None
        clock.advance(0.001)
        prot.release(adm, 0.001, wait=False)  # as MinorsCheck does: pipelined
    return N


def _limits(uri: str, prefix: str, users: int = 50) -> int:
    import limits
    import limits.storage
    import limits.strategies

    storage = limits.storage.storage_from_string(uri)
    limiter = limits.strategies.MovingWindowRateLimiter(storage)
    item = limits.RateLimitItemPerDay(10**9)
    keys = [f"{prefix}:kid{i}" for i in range(users)]
    for i in range(N):
        limiter.hit(item, keys[i % users])
    return N


def main() -> None:
    prefix = "bench:" + uuid.uuid4().hex[:8]
    base_mem = rate(lambda: _limits("memory://", prefix))
    print("memory:// (one process)")
    line("limits MovingWindowRateLimiter.hit (baseline)", base_mem, base_mem, "calls/s")
    line("MinorProtection admit + release", rate(lambda: _ours(
        _protection("memory://", prefix), )), base_mem, "calls/s")

    with tempfile.TemporaryDirectory() as folder:
        uri = f"sqlite:///{os.path.join(folder, 'minors.db')}"
        prot = _protection(uri, prefix)
        print("sqlite:/// (one host; limits has no SQLite backend: baseline is memory://)")
        line("MinorProtection admit + release", rate(lambda: _ours(prot), repeat=1),
             base_mem, "calls/s")
        prot.store.close()

    if not _redis_up():
        print("redis:// not running on 127.0.0.1:6379: skipped")
        return
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        base = rate(lambda: _limits(REDIS, prefix))
        prot = _protection(REDIS, prefix)
        print("redis:// (shared by every replica)")
        line("limits MovingWindowRateLimiter.hit (baseline)", base, base, "calls/s")
        line("MinorProtection admit + release (1 round trip)", rate(lambda: _ours(prot)), base,
             "calls/s")
        _cpu_line("MinorProtection admit + release, client CPU", _cpu(lambda: _ours(prot)),
                  _cpu(lambda: _limits(REDIS, prefix)))
        prot.store.close()
    finally:
        for key in client.scan_iter(match=f"*{prefix}*", count=1000):
            client.delete(key)
        client.close()


if __name__ == "__main__":
    main()
