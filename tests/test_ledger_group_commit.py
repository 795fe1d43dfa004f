"""Group commit: appends from many threads and coroutines share transactions; nothing
acknowledged is lost; the event loop never waits on the database; checkpoints come every N
records, every T seconds, on close and at exit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genai_compliance import FrozenClock, Ledger, LedgerError, StoreUnavailable
from genai_compliance.ledger import Entry, ReadOnlyLedger, verify_ledger


class Commits:
    """Counts the ledger's write transactions and slows each one down by ``delay``
    seconds, so that appends arriving meanwhile queue up behind it."""

    def __init__(self, ledger: Ledger, monkeypatch: pytest.MonkeyPatch,
                 delay: float = 0.0) -> None:
        self.count = 0
        self.on_loop = 0
        self.fail_next = False
        original = ledger.db.transaction

        @contextlib.contextmanager
        def counted(*args: Any, **kwargs: Any) -> Iterator[Any]:
            if kwargs.get("write"):
                self.count += 1
                with contextlib.suppress(RuntimeError):
                    asyncio.get_running_loop()
                    self.on_loop += 1
                if self.fail_next:
                    self.fail_next = False
                    raise StoreUnavailable("injected failure")
                if delay:
                    time.sleep(delay)
            with original(*args, **kwargs) as tx:
                yield tx

        monkeypatch.setattr(ledger.db, "transaction", counted)


def _ledger(tmp_path: Path, **options: Any) -> Ledger:
    options.setdefault("witness_dir", tmp_path / "witness")
    options.setdefault("key_file", tmp_path / "k.key")
    return Ledger(f"sqlite:///{tmp_path / 'g.db'}", **options)


def test_threads_share_transactions_and_keep_their_order(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """32 threads x 25 appends: one verified chain of 800, each thread's records in its
    order, in far fewer transactions than appends."""
    ledger = _ledger(tmp_path, checkpoint_every=100)
    commits = Commits(ledger, monkeypatch, delay=0.002)
    seqs: dict[int, list[int]] = {}

    def work(t: int) -> None:
        seqs[t] = [ledger.append("t", {"t": t, "i": i}, subject=f"user-{t}").seq
                   for i in range(25)]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(s for v in seqs.values() for s in v) == list(range(1, 801))
    assert all(v == sorted(v) for v in seqs.values())
    assert commits.count < 400, commits.count
    ledger.close()
    report = verify_ledger(ledger.uri)
    assert report.ok and report.records == 800 and report.unprotected == 0


def test_aappend_never_touches_the_database_on_the_loop(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """200 concurrent ``aappend`` calls: every transaction runs in the writer thread, the
    loop keeps ticking, and the records are batched."""
    ledger = _ledger(tmp_path)
    commits = Commits(ledger, monkeypatch, delay=0.002)
    ticks = 0

    async def main() -> list[int]:
        nonlocal ticks
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        tick = asyncio.create_task(ticker())
        records = await asyncio.gather(*(ledger.aappend("a", {"i": i}, subject="u")
                                         for i in range(200)))
        done.set()
        await tick
        return [r.seq for r in records]

    seqs = asyncio.run(main())
    assert sorted(seqs) == list(range(1, 201))
    assert commits.on_loop == 0 and ticks > 10
    assert commits.count < 100, commits.count
    ledger.close()


async def test_aappend_many_and_aclose(tmp_path: Path) -> None:
    """The async twins append all or nothing and close with a final checkpoint."""
    ledger = _ledger(tmp_path, clock=FrozenClock())
    records = await ledger.aappend_many([Entry("a", {"i": i}) for i in range(5)])
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    with pytest.raises(LedgerError):
        await ledger.aappend_many([Entry("a", {}), Entry("b", {"bad": object()})])
    await ledger.aclose()
    assert verify_ledger(ledger.uri).newest_checkpoint == 5


def test_an_acknowledged_append_is_committed(tmp_path: Path) -> None:
    """When ``append`` returns, another connection already sees the record."""
    ledger = _ledger(tmp_path)
    record = ledger.append("x", {"n": 1})
    with ReadOnlyLedger(ledger.uri) as ro:
        assert ro.head() == (record.seq, record.hash)
    ledger.close()


def test_a_failed_commit_fails_its_batch_only(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A database failure is raised to the appends of that commit (fail closed); the writer
    goes on and the chain stays whole."""
    ledger = _ledger(tmp_path)
    commits = Commits(ledger, monkeypatch)
    ledger.append("before", {})
    commits.fail_next = True
    with pytest.raises(StoreUnavailable):
        ledger.append("lost", {})
    assert ledger.append("after", {}).seq == 2
    ledger.close()
    assert verify_ledger(ledger.uri).ok


def test_checkpoints_every_n_every_t_and_on_close(tmp_path: Path) -> None:
    """Checkpoints at every multiple of N; after T seconds on the ledger's clock for
    records that wait (on the next append or an idle check); on close; each one also in
    the witness folder."""
    clock = FrozenClock("2026-03-01T00:00:00+00:00")
    ledger = _ledger(tmp_path, clock=clock, checkpoint_every=10, checkpoint_interval=60)
    ledger.append_many([Entry("x", {"i": i}) for i in range(12)])
    assert [cp.size for cp in ledger.checkpoints()] == [10]
    clock.advance(seconds=59)
    ledger.append("y", {})
    assert [cp.size for cp in ledger.checkpoints()] == [10]
    clock.advance(seconds=2)
    ledger.append("z", {})
    assert [cp.size for cp in ledger.checkpoints()] == [10, 14]
    ledger.append("w", {})
    assert ledger.checkpoint_if_due() is None
    clock.advance(seconds=61)
    cp = ledger.checkpoint_if_due()
    assert cp is not None and cp.size == 15
    ledger.append("v", {})
    ledger.close()
    sizes = [cp.size for cp in ReadOnlyLedger(ledger.uri).checkpoints()]
    assert sizes == [10, 14, 15, 16]
    folder = next((tmp_path / "witness").iterdir())
    latest = (folder / "checkpoint").read_text()
    assert latest.split("\n")[1] == "16"
    assert len((folder / "checkpoints.jsonl").read_text().splitlines()) == 4


def test_a_forked_child_gets_its_own_writer(tmp_path: Path) -> None:
    """After ``fork`` the child appends through a writer of its own; the parent goes on."""
    ledger = _ledger(tmp_path)
    ledger.append("parent", {})
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            code = 0 if ledger.append("child", {}).seq == 2 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert ledger.append("parent again", {}).seq == 3
    ledger.close()
    assert verify_ledger(ledger.uri).records == 3


def test_a_process_that_forgets_to_close_still_checkpoints_at_exit(tmp_path: Path) -> None:
    """A program that appends and exits without ``close`` leaves a final checkpoint (the
    server that wrote 413 records and no checkpoint)."""
    uri = f"sqlite:///{tmp_path / 'exit.db'}"
    script = ("import sys\nfrom genai_compliance import Ledger\n"
              f"ledger = Ledger({uri!r})\n"
              "for i in range(413):\n    ledger.append('guard.call', {'i': i})\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    report = verify_ledger(uri)
    assert report.ok and report.records == 413
    assert report.newest_checkpoint == 413 and report.witnessed >= 1


def test_append_after_close_is_refused(tmp_path: Path) -> None:
    """A closed ledger refuses appends with a LedgerError, sync and async."""
    ledger = _ledger(tmp_path)
    ledger.close()
    with pytest.raises(LedgerError, match="closed"):
        ledger.append("x", {})
    with pytest.raises(LedgerError, match="closed"):
        asyncio.run(ledger.aappend("x", {}))


def test_in_memory_sqlite_writes_on_the_callers_thread() -> None:
    """``sqlite:///:memory:`` is one database per connection: appends stay on the caller's
    thread and still verify."""
    ledger = Ledger("sqlite:///:memory:")
    ledger.append_many([Entry("x", {"i": i}) for i in range(3)])
    assert [r.seq for r in ledger.records()] == [1, 2, 3]
    assert asyncio.run(ledger.aappend("y", {})).seq == 4
    assert ledger.verify().ok
    ledger.close()
