"""Minors' checks per second on memory://, SQLite and Redis, beside the ``limits`` package's
moving-window limiter (one ``hit`` per call) on the same backend in the same run.

One "check" here is what a guarded call costs the minors' duty: ``admit`` (curfew, pause,
windows, quota, register the call) and ``release`` (charge its duration), as MinorsCheck
runs them: on Redis the release is noted with the next admit (one round trip and one
script run per call: the admission and the previous call's end, an append the admission's
state then charges), where ``limits`` runs one script. Printed ratios are against
``limits`` on the same store; the CPU line is this process's CPU time per call (it leaves
out the Redis server's). On Redis the two take turns in :data:`ROUNDS` rounds of
:data:`CHUNK` calls each (the order swapped every round, the first round dropped as a
warm-up), so that both meet the same load on a shared machine, and the medians are printed
(the ratio's is the median of the rounds' ratios, with their range).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from _util import line, rate

from genai_compliance.minors import MINOR_BANDS, MinorPolicy, MinorProtection
from genai_compliance.subject import Subject
from genai_compliance.testing import FrozenClock

#: the secret that keys the minors' store (shared stores refuse to run without one)
SECRET = b"test-minors-secret-0123456789"

REDIS = os.environ.get("GC_BENCH_REDIS", "redis://127.0.0.1:6379/0")
N = 2000


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
        prot = _protection(REDIS, prefix)
        server: dict[str, list[float]] = {"limits": [], "ours": []}
        runs = _interleaved({"limits": _limits_calls(REDIS, prefix), "ours": _ours_calls(prot)},
                            client, server)
        print(f"redis:// (shared by every replica; {ROUNDS} interleaved rounds of {CHUNK} "
              "calls each, medians)")
        rate_limits = statistics.median(r for r, _ in runs["limits"])
        ratios = [o[0] / b[0] for o, b in zip(runs["ours"], runs["limits"], strict=True)]
        line("limits MovingWindowRateLimiter.hit (baseline)", rate_limits, rate_limits,
             "calls/s")
        print(f"  {'MinorProtection admit + release (1 round trip)':<58} "
              f"{statistics.median(r for r, _ in runs['ours']):>14,.1f} calls/s ratio "
              f"{statistics.median(ratios):8.3f} (rounds {min(ratios):.2f}-{max(ratios):.2f})")
        _cpu_line("MinorProtection admit + release, client CPU",
                  statistics.median(c for _, c in runs["ours"]),
                  statistics.median(c for _, c in runs["limits"]))
        if server["ours"] and server["limits"]:
            print(f"  {'server time per EVALSHA (INFO commandstats)':<58} "
                  f"{statistics.median(server['ours']):>14,.1f} µs/call (limits "
                  f"{statistics.median(server['limits']):,.1f})")
        prot.store.close()
    finally:
        for key in client.scan_iter(match=f"*{prefix}*", count=1000):
            client.delete(key)
        client.close()


#: interleaved rounds on Redis, and calls per side per round
ROUNDS, CHUNK = 9, 600


def _ours_calls(prot: MinorProtection, users: int = 50) -> Callable[[int], None]:
    """``n`` admit + release of 50 minors in turn, as MinorsCheck runs them."""
    kids = [Subject(f"kid{i}", birth_date="2010-01-01") for i in range(users)]
    clock = prot.clock
    assert isinstance(clock, FrozenClock)
    turn = [0]

    def run(n: int) -> None:
        i = turn[0]
        for _ in range(n):
            adm = prot.admit(kids[i % users])
            assert adm is not None
            clock.advance(0.001)
            prot.release(adm, 0.001, wait=False)  # as MinorsCheck does: pipelined
            i += 1
        turn[0] = i

    return run


def _limits_calls(uri: str, prefix: str, users: int = 50) -> Callable[[int], None]:
    import limits
    import limits.storage
    import limits.strategies

    limiter = limits.strategies.MovingWindowRateLimiter(limits.storage.storage_from_string(uri))
    item = limits.RateLimitItemPerDay(10**9)
    keys = [f"{prefix}:kid{i}" for i in range(users)]
    turn = [0]

    def run(n: int) -> None:
        i = turn[0]
        for _ in range(n):
            limiter.hit(item, keys[i % users])
            i += 1
        turn[0] = i

    return run


def _interleaved(sides: dict[str, Callable[[int], None]], client: Any = None,
                 server: dict[str, list[float]] | None = None,
                 ) -> dict[str, list[tuple[float, float]]]:
    """Per side, per round: (calls per second, client CPU µs per call). The sides take
    turns in each round (the order swapped every round), so that both meet the same load
    on a shared machine; the first round warms up and is dropped. With ``client`` (a redis
    client), each side's server time per EVALSHA (``INFO commandstats``, reset before each
    chunk, read after it: outside the timed part) goes to ``server[name]``."""
    out: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for r in range(ROUNDS + 1):
        names = list(sides) if r % 2 else list(reversed(sides))
        for name in names:
            if client is not None:
                client.config_resetstat()
            wall, cpu = time.perf_counter(), time.process_time()
            sides[name](CHUNK)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if r:
                out[name].append((CHUNK / wall, cpu / CHUNK * 1e6))
                if client is not None and server is not None:
                    stat = client.info("commandstats").get("cmdstat_evalsha")
                    if stat:
                        server[name].append(float(stat["usec_per_call"]))
    return out


if __name__ == "__main__":
    main()
