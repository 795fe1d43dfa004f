"""The guard's per-call overhead with the full default pipeline, beside a bare call.

What a provider pays: consent, minors, illegal use, input and output moderation (the sample
keyword list), the explicit text label and the ledger record, for an adult with consent.
Sync (1 thread) and async (1 and 64 concurrent calls) at 1 ms and 50 ms model latency, on
the embedded SQLite default and on PostgreSQL + Redis. Ratios are guarded/bare throughput
measured in the same run; "lag" is the longest the event loop was kept from running a 1 ms
ticker while the guarded calls ran (queueing behind the other calls included), "step" the
longest single callback the loop ran (what one check, the ledger, a garbage collection or
a thread holding the GIL blocked it for). "CPU per call" is this process's CPU time (every
thread: the ledger's writer too) divided by the calls, less the bare call's: steadier than
throughput on a shared machine, and what decides both targets — at 64 concurrent calls the
loop runs the calls' checks one after another, so a call waits for the others' CPU. Each
async case runs ROUNDS interleaved bare/guarded rounds and prints the median round (by
ratio) and the range of the ratio.

Issue 13 targets: at 64 concurrent async calls with 1 ms model latency, guarded >= 0.5x bare;
at 50 ms, >= 0.95x. The 64 workers run in lock step (every call lasts the same, so they wake
together and queue behind each other's checks); the open-loop line beside them starts calls
at Poisson-distributed times at the same rate, as a server's independent clients would.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _util import PIPELINE_KINDS, default_pipeline, line

from genai_compliance import Compliance, Subject

#: interleaved bare/guarded rounds per async case; the median round is printed
ROUNDS = 5

PROMPT = "请介绍一下长城的历史。"
REPLY = "长城是中国古代的军事防御工程，始建于春秋战国时期。"


def _sync(comp: Compliance, user: Subject, calls: int) -> None:
    def model(prompt: str) -> str:
        return REPLY

    guarded = comp.guard(purposes=["service"])(model)
    guarded(PROMPT, subject=user)  # build the pipeline, warm the caches

    def bare() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            model(PROMPT)
        return time.perf_counter() - start

    def wrapped() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            guarded(PROMPT, subject=user)
        return time.perf_counter() - start

    b = min(bare() for _ in range(3))
    g = min(wrapped() for _ in range(3))
    line("sync, 1 thread: bare call", calls / b, calls / b, "call/s")
    line("sync, 1 thread: guarded call", calls / g, calls / b, "call/s")
    print(f"  {'  per-call overhead':<58} {(g - b) / calls * 1e6:>14,.1f} µs")


class _Steps:
    """Times every callback the event loop runs (its steps) while active: the longest one
    is what a check or the ledger blocked the loop for (a garbage collection pass or a
    thread holding the GIL shows up there too). The ticker lag also counts the steps
    queued before the ticker's."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._orig = asyncio.events.Handle._run

    def __enter__(self) -> _Steps:
        orig = self._orig

        def _run(handle: asyncio.events.Handle) -> None:
            start = time.perf_counter()
            orig(handle)
            self.longest = max(self.longest, time.perf_counter() - start)

        setattr(asyncio.events.Handle, "_run", _run)  # noqa: B010 - a bench-only probe
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(asyncio.events.Handle, "_run", self._orig)  # noqa: B010


async def _async_round(fn: Callable[[], Awaitable[Any]], concurrency: int,
                       total: int) -> tuple[float, float, float, float]:
    """(calls per second, longest loop lag in ms, longest loop step in ms, CPU µs per call
    of this process, all threads) for ``total`` calls at ``concurrency``."""
    lag = 0.0
    stop = False

    async def ticker() -> None:
        nonlocal lag
        while not stop:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            lag = max(lag, time.perf_counter() - before - 0.001)

    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await fn()

    tick = asyncio.create_task(ticker())
    with _Steps() as steps:
        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    stop = True
    await tick
    return total / elapsed, lag * 1000, steps.longest * 1000, cpu / total * 1e6


def _async(comp: Compliance, user: Subject) -> None:
    for latency in (0.001, 0.05):
        async def model(prompt: str, latency: float = latency) -> str:
            await asyncio.sleep(latency)
            return REPLY

        guarded = comp.guard(purposes=["service"])(model)

        async def run(concurrency: int, latency: float = latency, model: Any = model,
                      guarded: Any = guarded) -> None:
            total = max(concurrency * 4, int(concurrency * 0.4 / latency), 24)
            await guarded(PROMPT, subject=user)
            rounds: list[tuple[float, float, float, float, float, float]] = []
            for _ in range(ROUNDS):  # interleaved: both sides see the same noise
                bare, _, _, bare_cpu = await _async_round(lambda: model(PROMPT),
                                                          concurrency, total)
                wrapped, lag, step, cpu = await _async_round(
                    lambda: guarded(PROMPT, subject=user), concurrency, total)
                rounds.append((wrapped / bare, bare, wrapped, lag, step, cpu - bare_cpu))
            rounds.sort()
            _, bare, wrapped, lag, step, cpu = rounds[len(rounds) // 2]  # the median round
            low, high = rounds[0][0], rounds[-1][0]
            label = f"async, {concurrency} concurrent, {latency * 1000:g} ms model"
            line(f"{label}: bare", bare, bare, "call/s")
            line(f"{label}: guarded (lag {lag:.1f}, step {step:.1f} ms)", wrapped, bare,
                 "call/s")
            print(f"  {'  guarded / bare over the rounds':<58} {low:>14.3f} – {high:.3f}")
            print(f"  {'  CPU per call added, all threads':<58} {cpu:>14,.1f} µs")

        for concurrency in (1, 64):
            asyncio.run(run(concurrency))
        if latency == 0.05:
            asyncio.run(_open_loop(model, guarded, user))


async def _arrivals(fn: Callable[[], Awaitable[Any]], rate: float, total: int,
                    seed: int) -> float:
    """Mean latency (ms) of ``total`` calls started at Poisson-distributed times, ``rate``
    per second on average, each call not waiting for the others (an open loop)."""
    rnd = random.Random(seed)
    spent: list[float] = []

    async def one() -> None:
        start = time.perf_counter()
        await fn()
        spent.append(time.perf_counter() - start)

    tasks = []
    due = time.perf_counter()
    for _ in range(total):
        due += rnd.expovariate(rate)
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.ensure_future(one()))
    await asyncio.gather(*tasks)
    return statistics.mean(spent) * 1000


async def _open_loop(model: Callable[[str], Awaitable[str]],
                     guarded: Callable[..., Awaitable[str]], user: Subject) -> None:
    """What a server sees: requests arriving independently (Poisson) at 1,250 per second,
    which keeps about 64 calls of 50 ms in flight, instead of 64 workers in lock step whose
    calls all wake together and queue for each other's checks. The ratio is bare latency /
    guarded latency: the closed-loop throughput ratio the same added latency would give."""
    rate, total = 1250.0, 1500
    await guarded(PROMPT, subject=user)
    rounds = []
    for seed in range(ROUNDS):  # the same arrival times on both sides of a round
        bare = await _arrivals(lambda: model(PROMPT), rate, total, seed)
        wrapped = await _arrivals(lambda: guarded(PROMPT, subject=user), rate, total, seed)
        rounds.append((bare / wrapped, bare, wrapped))
    rounds.sort()
    ratio, bare, wrapped = rounds[len(rounds) // 2]
    label = "async, Poisson arrivals 1,250/s (~64 in flight), 50 ms model"
    print(f"  {label + ': added latency':<58} {wrapped - bare:>14,.2f} ms     ratio "
          f"{ratio:8.3f} (rounds {rounds[0][0]:.3f}–{rounds[-1][0]:.3f})")


def main() -> None:
    for kind in PIPELINE_KINDS:
        print(f"full default pipeline on {kind}:")
        with default_pipeline(kind) as setup:
            if setup is not None:
                comp, user = setup
                _sync(comp, user, calls=300)
                _async(comp, user)


if __name__ == "__main__":
    main()
