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

#: runs the worker once it is loaded and told when to start (a line on stdin), so that no
#: replica misses the race for being slow to start on a busy machine; ``wait`` (argv[1])
#: says whether its releases wait for the store or ride with its next call (MinorsCheck)
BOOT = """
import sys
wait = sys.argv.pop(1) == "wait"
sys.argv = sys.argv[1:]  # as if run as _minors_worker.py URI PREFIX USER START ...
import _minors_worker as worker
from genai_compliance.minors import MinorProtection
release = MinorProtection.release
MinorProtection.release = lambda self, adm, duration, renewed_at=None, *, wait=wait: (
    release(self, adm, duration, renewed_at, wait=wait))
print("ready", flush=True)
sys.argv[4] = sys.stdin.readline().strip()
worker.main()
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize("release", ["wait", "ride"])
def test_eight_processes_never_overshoot_by_more_than_one_call(redis_uri: str, unique: str,
                                                                release: str) -> None:
    """8 processes charging one minor on Redis: total <= limit + the longest call, whether
    each release waits for the store or rides with the process's next call."""
    prefix = f"test:{unique}"
    procs = [subprocess.Popen(
        [sys.executable, "-c", BOOT, release, WORKER, redis_uri, prefix, "kid", "start",
         str(LIMIT_MINUTES), str(seed)], env=_env(), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True) for seed in range(8)]
    results = []
    try:
        for proc in procs:  # every replica loaded before any starts
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        start_at = time.time() + 0.2
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{start_at}\n")
            proc.stdin.flush()
        for proc in procs:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
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
