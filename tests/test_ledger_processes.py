"""Many writer processes share one chain; a killed writer loses nothing it confirmed — with
group commit batching each process's threads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genai_compliance import Ledger

WORKER = str(Path(__file__).with_name("_ledger_worker.py"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.slow
def test_eight_processes_with_threads_make_one_chain(sql_uri: str) -> None:
    """8 processes x 4 threads x 100 appends on SQLite / PostgreSQL: 3,200 records, one
    verified chain, every checkpoint witnessed, each thread's order kept."""
    Ledger(sql_uri).close()  # create the tables and the key file once, before the race
    procs = [subprocess.Popen([sys.executable, WORKER, sql_uri, "100", "1", "4"], env=_env())
             for _ in range(8)]
    for proc in procs:
        assert proc.wait(timeout=600) == 0
    ledger = Ledger(sql_uri)
    report = ledger.verify()
    assert report.ok, report
    assert report.records == 3200 and (report.first_seq, report.last_seq) == (1, 3200)
    assert report.unprotected == 0 and report.witnessed >= 12
    per_thread: dict[tuple[int, int], list[int]] = {}
    for record in ledger.records(kind="worker"):
        key = (record.payload["pid"], record.payload["t"])
        per_thread.setdefault(key, []).append(record.payload["i"])
    assert sorted({pid for pid, _ in per_thread}) == sorted(p.pid for p in procs)
    assert len(per_thread) == 32
    assert all(v == list(range(100)) for v in per_thread.values())
    ledger.close()


@pytest.mark.slow
def test_four_processes_thousand_appends_each_make_one_chain(sql_uri: str) -> None:
    """4 processes x 1,000 appends on SQLite / PostgreSQL: 4,000 records, one verified chain."""
    Ledger(sql_uri).db.close()  # create the tables once, before the race
    procs = [subprocess.Popen([sys.executable, WORKER, sql_uri, "1000"], env=_env())
             for _ in range(4)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0
    ledger = Ledger(sql_uri)
    report = ledger.verify()
    assert report.ok, report
    assert report.records == 4000 and (report.first_seq, report.last_seq) == (1, 4000)
    per_pid: dict[int, list[int]] = {}
    for record in ledger.records(kind="worker"):
        per_pid.setdefault(record.payload["pid"], []).append(record.payload["i"])
    assert sorted(per_pid) == sorted(p.pid for p in procs)
    assert all(v == list(range(1000)) for v in per_pid.values())  # each writer's order kept


@pytest.mark.slow
@pytest.mark.parametrize("threads", ["1", "8"])
def test_sigkill_mid_append_loses_no_confirmed_record(sql_uri: str, threads: str) -> None:
    """A writer killed with SIGKILL mid group commit: every append that returned is
    present; the chain verifies; the next writer extends it."""
    sqlite_uri = sql_uri
    Ledger(sqlite_uri).db.close()
    proc = subprocess.Popen([sys.executable, WORKER, sqlite_uri, "0", "1", threads],
                            env=_env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    confirmed: list[int] = []
    deadline = time.monotonic() + 60
    while len(confirmed) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        confirmed.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert len(confirmed) >= 300
    ledger = Ledger(sqlite_uri)
    report = ledger.verify()
    assert report.ok, report
    assert report.last_seq is not None and report.last_seq >= confirmed[-1]
    seqs = {r.seq for r in ledger.records()}
    assert set(confirmed) <= seqs
    assert ledger.append("after.crash", {}).seq == report.last_seq + 1
    ledger.close()
