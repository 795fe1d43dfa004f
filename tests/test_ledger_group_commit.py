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


class Gate:
    """Holds the ledger's first write transaction until :meth:`open`, so that appends
    queue up behind it and make one batch; ``fail_next`` makes the next one fail."""

    def __init__(self, ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ledger = ledger
        self.entered = threading.Event()
        self.released = threading.Event()
        self.fail_next = False
        self.held = False
        original = ledger.db.transaction

        @contextlib.contextmanager
        def gated(*args: Any, **kwargs: Any) -> Iterator[Any]:
            if kwargs.get("write"):
                if not self.held:
                    self.held = True
                    self.entered.set()
                    self.released.wait(30)
                elif self.fail_next:
                    self.fail_next = False
                    raise StoreUnavailable("injected failure")
            with original(*args, **kwargs) as tx:
                yield tx

        monkeypatch.setattr(ledger.db, "transaction", gated)

    def hold(self) -> threading.Thread:
        """A thread whose append takes the commit token and waits at the gate."""
        thread = threading.Thread(target=self.ledger.append, args=("blocker", {}))
        thread.start()
        assert self.entered.wait(30)
        return thread

    def wait_queued(self, count: int) -> None:
        """Until ``count`` requests wait behind the gate (no timing assumption: polls)."""
        while len(self.ledger._writer.queue) < count:
            time.sleep(0.001)

    def open(self) -> None:
        self.released.set()

    def queue_behind(self, kinds: list[str]) -> None:
        """Hold the gate, queue one thread per kind behind it (in that order), open it and
        wait for them all."""
        blocker = self.hold()
        threads = [threading.Thread(target=self.ledger.append, args=(k, {})) for k in kinds]
        for count, thread in enumerate(threads, 1):
            thread.start()
            self.wait_queued(count)
        self.open()
        for thread in (blocker, *threads):
            thread.join()

    def rearm(self) -> None:
        """Hold the next write transaction again."""
        self.held, self.released = False, threading.Event()
        self.entered.clear()


def _in_thread(fn: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # handed to the test
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_appends_from_two_event_loops_in_two_threads_all_settle(tmp_path: Path) -> None:
    """Two threads, each with its own event loop, 300 concurrent ``aappend`` calls each:
    every call gets its own record, each loop's in its order of submission, and the chain
    of 600 verifies."""
    ledger = _ledger(tmp_path, checkpoint_every=50)

    def loop(name: str) -> list[int]:
        async def main() -> list[int]:
            records = await asyncio.gather(*(ledger.aappend("a", {"loop": name, "i": i},
                                                            subject=f"{name}-{i % 7}")
                                             for i in range(300)))
            assert [r.payload["i"] for r in records] == list(range(300))
            return [r.seq for r in records]
        return asyncio.run(main())

    (ta, a), (tb, b) = _in_thread(lambda: loop("a")), _in_thread(lambda: loop("b"))
    ta.join()
    tb.join()
    assert sorted(a[0] + b[0]) == list(range(1, 601))
    assert a[0] == sorted(a[0]) and b[0] == sorted(b[0])
    ledger.close()
    report = verify_ledger(ledger.uri)
    assert report.ok and report.records == 600


def test_one_batch_wakes_each_event_loop_once(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """50 ``aappend`` calls committed in one batch are settled with one wake-up of their
    event loop, not one per record."""
    ledger = _ledger(tmp_path)
    gate = Gate(ledger, monkeypatch)
    blocker = gate.hold()

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        wakeups = 0
        original = loop.call_soon_threadsafe

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal wakeups
            wakeups += 1
            return original(*args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        tasks = [asyncio.create_task(ledger.aappend("a", {"i": i})) for i in range(50)]
        await asyncio.sleep(0)  # every task has handed its record to the writer
        gate.wait_queued(50)
        gate.open()
        seqs = [r.seq for r in await asyncio.gather(*tasks)]
        assert wakeups == 1
        return seqs

    assert asyncio.run(main()) == list(range(2, 52))
    blocker.join()
    ledger.close()


def test_a_loop_closed_meanwhile_does_not_break_the_writer(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """A coroutine's loop closes while its record waits in the queue (the task cancelled):
    the record is still appended (cancelling does not withdraw it), the other loop's caller
    in the same batch gets its record, and the ledger goes on."""
    ledger = _ledger(tmp_path)
    gate = Gate(ledger, monkeypatch)
    blocker = gate.hold()

    async def abandoned() -> None:
        task = asyncio.create_task(ledger.aappend("abandoned", {}))
        await asyncio.sleep(0)  # queued behind the gate
        task.cancel()  # asyncio.run returns and closes the loop

    asyncio.run(abandoned())
    other, out = _in_thread(lambda: asyncio.run(ledger.aappend("awaited", {})))
    gate.wait_queued(2)
    gate.open()
    other.join()
    blocker.join()
    assert out[0].kind == "awaited" and out[0].seq == 3
    assert ledger.append("after", {}).seq == 4
    assert [r.kind for r in ledger.records()] == ["blocker", "abandoned", "awaited", "after"]
    ledger.close()
    assert verify_ledger(ledger.uri).ok


def test_a_failed_commit_reaches_every_awaiting_caller(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    """A batch of 80 ``aappend`` calls from two event loops fails to commit: every caller
    gets the error (fail closed, none acknowledged), nothing of it is written, and the
    next append succeeds."""
    ledger = _ledger(tmp_path)
    gate = Gate(ledger, monkeypatch)
    blocker = gate.hold()

    def loop(name: str) -> list[Any]:
        async def main() -> list[Any]:
            return await asyncio.gather(*(ledger.aappend("lost", {"loop": name, "i": i})
                                          for i in range(40)), return_exceptions=True)
        return asyncio.run(main())

    (ta, a), (tb, b) = _in_thread(lambda: loop("a")), _in_thread(lambda: loop("b"))
    gate.wait_queued(80)
    gate.fail_next = True
    gate.open()
    ta.join()
    tb.join()
    blocker.join()
    outcomes = a[0] + b[0]
    assert len(outcomes) == 80
    assert all(isinstance(o, StoreUnavailable) for o in outcomes), outcomes
    assert ledger.append("after", {}).seq == 2
    assert [r.kind for r in ledger.records()] == ["blocker", "after"]
    ledger.close()
    assert verify_ledger(ledger.uri).ok


def test_a_leader_hands_the_commit_token_to_a_waiting_thread(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """A thread that committed its own batch returns, handing the commit token to the
    first thread waiting, which commits everything queued behind it in one transaction."""
    ledger = _ledger(tmp_path)
    gate = Gate(ledger, monkeypatch)
    committers: list[str] = []
    gated = ledger.db.transaction

    @contextlib.contextmanager
    def recorded(*args: Any, **kwargs: Any) -> Iterator[Any]:
        if kwargs.get("write"):
            committers.append(threading.current_thread().name)
        with gated(*args, **kwargs) as tx:
            yield tx

    monkeypatch.setattr(ledger.db, "transaction", recorded)
    leader = threading.Thread(target=ledger.append, args=("a", {}), name="A")
    leader.start()
    assert gate.entered.wait(30)
    followers = []
    for count, name in enumerate(("B", "C", "D"), 1):
        thread = threading.Thread(target=ledger.append, args=(name.lower(), {}), name=name)
        thread.start()
        gate.wait_queued(count)
        followers.append(thread)
    gate.open()
    for thread in (leader, *followers):
        thread.join()
    assert committers == ["A", "B"]
    assert [r.kind for r in ledger.records()] == ["a", "b", "c", "d"]
    ledger.close()


def test_threads_queued_behind_a_leader_leave_the_writer_thread_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread that waits behind a leader is handed the token in turn, so it neither
    starts the writer thread (which commits for coroutines) nor wakes it: one futile
    thread switch per append before. The writer thread is only woken for coroutines or
    when nobody is left to hand the token to."""
    ledger = _ledger(tmp_path)
    gate = Gate(ledger, monkeypatch)
    gate.queue_behind([f"t{i}" for i in range(4)])
    assert ledger._writer.thread is None  # never started
    assert ledger.head()[0] == 5

    asyncio.run(ledger.aappend("coroutine", {}))  # now it runs, asleep between batches
    writer = ledger._writer
    assert writer.thread is not None
    wakes = [0]
    notify_all = writer.cond.notify_all

    def counted() -> None:
        if threading.current_thread() is not writer.thread:  # (it notifies itself too)
            wakes[0] += 1
        notify_all()

    monkeypatch.setattr(writer.cond, "notify_all", counted)
    gate.rearm()
    gate.queue_behind([f"u{i}" for i in range(4)])
    assert wakes[0] <= 1  # at most once, when the token is put down at the end
    assert [r.kind for r in ledger.records()][-5:] == ["blocker", "u0", "u1", "u2", "u3"]
    ledger.close()
