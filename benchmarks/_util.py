"""Shared timing helpers for the benchmarks: best-of-N rates and ratio lines."""

from __future__ import annotations

import time
from collections.abc import Callable


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
