"""A server that forks its workers after building ``Compliance`` (gunicorn ``--preload``,
``multiprocessing`` with the fork start method), while the parent is still serving: every
child serves guarded calls on the embedded SQLite default and on PostgreSQL + Redis, and
every call of parent and children is one record of a ledger that verifies.

Before, a child forked during a parent's SQLite write hung on its first write (SQLite's
in-memory lock state was copied), and one forked while the Redis outbox sender held its lock
hung on its first script send."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genai_compliance import Compliance, FrozenClock, Subject
from genai_compliance.consent import NoticeRef
from genai_compliance.testing import TEST_PROVIDER, sample_keyword_file

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CHILDREN = 4
CHILD_CALLS = 10  # sync, then as many async


@pytest.fixture(name="comp", params=["sqlite", pytest.param("postgres+redis", marks=[
    pytest.mark.postgres, pytest.mark.redis])])
def _comp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Compliance]:
    options: dict[str, Any] = {
        "clock": FrozenClock("2026-03-02T04:00:00+00:00"),  # 12:00 in Beijing
        "settings": {"moderation": {"keyword_files": [sample_keyword_file()]}},
        "ledger_settings": {"key_file": str(tmp_path / "ledger.key"),
                            "witness_dir": str(tmp_path / "witness")}}
    if request.param == "sqlite":
        ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        ledger = str(request.getfixturevalue("postgres_uri"))
        options["stores"] = {"default": request.getfixturevalue("redis_uri")}
    comp = Compliance(TEST_PROVIDER, ledger=ledger, **options)
    yield comp
    comp.close()


def test_workers_forked_while_the_parent_serves(comp: Compliance) -> None:
    unique = f"{os.getpid()}-{time.time_ns()}"
    adult = Subject(f"fork-adult-{unique}", birth_date="1990-01-01")
    minor = Subject(f"fork-minor-{unique}", birth_date="2010-01-01")  # quota on the store
    notice = NoticeRef("1", hashlib.sha256(b"notice").hexdigest())
    for user in (adult, minor):
        comp.consent.grant(user, "service", notice=notice)

    @comp.guard(purposes=["service"])
    def model(prompt: str) -> str:
        return "长城是中国古代的军事防御工程。"

    @comp.guard(purposes=["service"])
    async def amodel(prompt: str) -> str:
        return "长城是中国古代的军事防御工程。"

    served: list[int] = []  # (list.append is atomic; ``n += 1`` from threads is not)
    stop = threading.Event()

    def serve() -> None:  # the parent keeps serving while it forks
        while not stop.is_set():
            model("请介绍一下长城", subject=adult if len(served) % 2 else minor)
            served.append(1)

    async def many(n: int) -> None:
        await asyncio.gather(*(amodel("请介绍一下长城", subject=adult) for _ in range(n)))

    threads = [threading.Thread(target=serve) for _ in range(3)]
    for t in threads:
        t.start()
    children = []
    try:
        asyncio.run(many(20))
        for _ in range(CHILDREN):
            time.sleep(0.03)
            pid = os.fork()
            if pid == 0:  # a worker: sync and async calls, then a clean close
                code = 1
                try:
                    import faulthandler

                    faulthandler.dump_traceback_later(30, exit=True)  # a hang fails
                    for i in range(CHILD_CALLS):
                        model("请介绍一下长城", subject=minor if i % 2 else adult)
                    asyncio.run(many(CHILD_CALLS))
                    comp.close()
                    code = 0
                finally:
                    os._exit(code)
            children.append(pid)
    finally:
        stop.set()
        for t in threads:
            t.join()
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    assert codes == [0] * CHILDREN
    outcomes = [r.payload["outcome"] for r in comp.records("guard.call")]
    # one record per call: none of the parent's calls in flight at a fork is also ended
    # (``cancelled``) by the child that copied it
    assert outcomes == ["served"] * (len(served) + 20 + CHILDREN * 2 * CHILD_CALLS)
    assert comp.ledger.verify().ok


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_draws_call_ids_of_its_own() -> None:
    """Call ids come from a keyed counter (no system call per call): a forked child, which
    copies the key and the counter, draws a new key, so its ids never repeat the parent's."""
    from genai_compliance.guard import _call_id

    _call_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then out
        try:
            os.write(write, "".join(_call_id() for _ in range(3)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        theirs = pipe.read()
    ours = "".join(_call_id() for _ in range(3))
    assert len(theirs) == len(ours) == 96
    assert {theirs[i:i + 32] for i in range(0, 96, 32)}.isdisjoint(
        {ours[i:i + 32] for i in range(0, 96, 32)})
