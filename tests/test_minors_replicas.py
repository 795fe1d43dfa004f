"""Replicas: eight processes share the real Redis and one minor's daily limit (IM-10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genai_compliance.minors import MINOR_BANDS, MinorPolicy, MinorProtection
from genai_compliance.subject import Subject

#: the secret that keys the minors' store (shared stores refuse to run without one)
SECRET = b"test-minors-secret-0123456789"

WORKER = str(Path(__file__).with_name("_minors_worker.py"))
LIMIT_MINUTES = 0.03  # 1.8 s of use, so the race is short


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.slow
@pytest.mark.redis
def test_eight_processes_never_overshoot_by_more_than_one_call(redis_uri: str,
                                                                unique: str) -> None:
    """8 processes charging one minor on Redis: total <= limit + the longest call."""
    prefix = f"test:{unique}"
    start_at = time.time() + 2.5
    procs = [subprocess.Popen(
        [sys.executable, WORKER, redis_uri, prefix, "kid", str(start_at), str(LIMIT_MINUTES),
         str(seed)], env=_env(), stdout=subprocess.PIPE, text=True) for seed in range(8)]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["allowed"] > 0 for r in results)  # every replica took part
    policy = MinorPolicy(daily_minutes={b: LIMIT_MINUTES for b in MINOR_BANDS}, curfew=None)
    prot = MinorProtection(key_secret=SECRET, policy=policy, store=redis_uri, key_prefix=prefix)
    try:
        summary = prot.usage(Subject("kid", birth_date="2010-01-01"), days=2)
        client = prot.store.client  # type: ignore[attr-defined]
        client.delete(prot.key("kid"))
    finally:
        prot.store.close()
    charged = sum(d.used_minutes for d in summary.history) * 60
    limit = LIMIT_MINUTES * 60
    longest = max(r["longest"] for r in results)
    assert summary.in_flight == 0
    assert charged >= limit  # they only stopped when refused
    assert charged <= limit + longest + 0.005  # 5 ms: wall vs monotonic clock jitter
    # concurrent calls were charged once: the union is below the sum of the durations
    assert charged <= sum(r["sum"] for r in results) + 1e-6
