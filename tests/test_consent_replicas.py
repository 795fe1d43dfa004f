"""A withdrawal seen by one process is enforced by another within the staleness bound.

No test sleeps: the staleness bound is the services' clock (moved by hand), and Redis
delivery is awaited with ``wait_remote_invalidation`` (an upper bound, not a pause).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genai_compliance import ConsentRequired, FrozenClock, Ledger, Subject
from genai_compliance.consent import ConsentService, NoticeRef

NOTICE = NoticeRef("1", hashlib.sha256(b"n").hexdigest())
USER = Subject("replica-user", birth_date="1990-01-01")


@pytest.mark.redis
@pytest.mark.postgres
def test_withdrawal_reaches_other_replica_via_redis(postgres_uri: str, redis_uri: str) -> None:
    """PI-15: two services (two caches) on the real PostgreSQL; Redis pub/sub clears b's
    hour-long cache entry as soon as a withdraws."""
    ledger = Ledger(postgres_uri)
    a = ConsentService(postgres_uri, ledger, max_staleness=3600, pubsub_uri=redis_uri)
    b = ConsentService(postgres_uri, ledger, max_staleness=3600, pubsub_uri=redis_uri)
    try:
        seen = b.remote_invalidations
        a.grant(USER, "service", notice=NOTICE)
        assert b.wait_remote_invalidation(seen, timeout=10)  # a's grant reached b
        b.require(USER, ["service"])  # cached in b now
        seen = b.remote_invalidations
        a.withdraw(USER, "service")
        assert b.wait_remote_invalidation(seen, timeout=10)
        with pytest.raises(ConsentRequired):
            b.require(USER, ["service"])
    finally:
        a.close()
        b.close()
        ledger.close()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_withdrawals_cross_a_fork_both_ways(postgres_uri: str, redis_uri: str) -> None:
    """PI-15 with forked workers (gunicorn --preload): a withdrawal in the child clears the
    parent's cache at once, and one in the parent clears the child's. Before, the child
    published with the parent's origin (which the parent skips as its own) and had no
    subscription, so each waited out max_staleness (an hour here)."""
    ledger = Ledger(postgres_uri)
    service = ConsentService(postgres_uri, ledger, max_staleness=3600, pubsub_uri=redis_uri)
    user = Subject(f"fork-{os.getpid()}-{time.time_ns()}", birth_date="1990-01-01")
    try:
        service.grant(user, "service", notice=NOTICE)
        service.grant(user, "training", notice=NOTICE)
        service.require(user, ["service", "training"])  # cached in the parent
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        seen = service.remote_invalidations
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                import faulthandler

                faulthandler.dump_traceback_later(30, exit=True)  # never outlive the test
                os.close(from_parent)  # (a parent gone gives this child EOF, not a hang)
                os.close(to_parent)
                service.require(user, ["service", "training"])  # cached; subscribes again
                seen = service.remote_invalidations
                os.write(from_child, b"1")  # ready
                service.withdraw(user, "service")
                assert os.read(to_child, 1) == b"2"  # the parent withdrew training
                assert service.wait_remote_invalidation(seen, timeout=10)
                with pytest.raises(ConsentRequired):
                    service.require(user, ["training"])
                code = 0
            finally:
                os._exit(code)
        os.close(to_child)
        os.close(from_child)
        assert os.read(to_parent, 1) == b"1"
        assert service.wait_remote_invalidation(seen, timeout=10)  # the child's
        with pytest.raises(ConsentRequired):
            service.require(user, ["service"])
        service.withdraw(user, "training")
        os.write(from_parent, b"2")
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    finally:
        service.close()
        ledger.close()


@pytest.mark.postgres
def test_without_pubsub_the_staleness_bound_holds(postgres_uri: str) -> None:
    """PI-15: without pub/sub another replica sees the withdrawal once its cache entry is
    older than max_staleness on the clock, and not before."""
    clock = FrozenClock()
    ledger = Ledger(postgres_uri, clock=clock)
    a = ConsentService(postgres_uri, ledger, max_staleness=5, clock=clock)
    b = ConsentService(postgres_uri, ledger, max_staleness=5, clock=clock)
    try:
        a.grant(USER, "service", notice=NOTICE)
        b.require(USER, ["service"])
        a.withdraw(USER, "service")
        clock.advance(4.9)
        b.require(USER, ["service"])  # still within the bound: b's cache answers
        clock.advance(0.2)
        with pytest.raises(ConsentRequired):
            b.require(USER, ["service"])
    finally:
        a.close()
        b.close()
        ledger.close()


@pytest.mark.redis
@pytest.mark.postgres
def test_withdrawal_in_another_process_is_enforced_here(postgres_uri: str,
                                                        redis_uri: str) -> None:
    """PI-15: a withdrawal made by a separate OS process reaches this replica through
    Redis."""
    ledger = Ledger(postgres_uri)
    here = ConsentService(postgres_uri, ledger, max_staleness=3600, pubsub_uri=redis_uri)
    try:
        here.grant(USER, "training", notice=NOTICE)
        here.require(USER, ["training"])  # now cached for an hour
        seen = here.remote_invalidations
        script = (
            "from genai_compliance import Ledger, Subject\n"
            "from genai_compliance.consent import ConsentService\n"
            f"ledger = Ledger({postgres_uri!r})\n"
            f"s = ConsentService({postgres_uri!r}, ledger, pubsub_uri={redis_uri!r})\n"
            "s.withdraw(Subject('replica-user', birth_date='1990-01-01'), 'training')\n"
            "s.close(); ledger.close()\n")
        subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
        assert here.wait_remote_invalidation(seen, timeout=10)
        with pytest.raises(ConsentRequired):
            here.require(USER, ["training"])
    finally:
        here.close()
        ledger.close()


def test_pubsub_follows_the_declared_capability(tmp_path: Path) -> None:
    """``stores.consent`` carries invalidations when its store declares ``"pubsub"``
    (memory:// within one process here) and not otherwise; a second service on the same
    store drops its cached answer when the first one withdraws."""
    from genai_compliance.testing import make_compliance

    comp = make_compliance(tmp_path / "m", stores={"consent": "memory://"})
    try:
        a = ConsentService.from_context(comp.context)
        b = ConsentService.from_context(comp.context)
        a.grant(USER, "service", notice=NOTICE)
        b.require(USER, ["service"])  # cached in b
        seen = b.remote_invalidations
        a.withdraw(USER, "service")
        assert b.remote_invalidations > seen
        with pytest.raises(ConsentRequired):
            b.require(USER, ["service"])
        a.close()
        b.close()
    finally:
        comp.close()
    comp = make_compliance(tmp_path / "s", stores={"consent": f"sqlite:///{tmp_path}/s.db"})
    try:
        c = ConsentService.from_context(comp.context)
        assert c._bus is None  # SQLite cannot publish: the staleness bound alone holds
        c.close()
    finally:
        comp.close()


def test_from_compliance_is_deprecated_for_from_context(tmp_path: Path) -> None:
    """The old constructors still work, warning that from_context replaces them."""
    from genai_compliance.consent import InputStore
    from genai_compliance.testing import make_compliance

    comp = make_compliance(tmp_path)
    try:
        with pytest.warns(DeprecationWarning, match=r"ConsentService\.from_context"):
            service = ConsentService.from_compliance(comp)
        assert service.db is comp.ledger.db
        with pytest.warns(DeprecationWarning, match=r"InputStore\.from_context"):
            inputs = InputStore.from_compliance(comp)
        assert inputs.retention == InputStore.from_context(
            comp.context, consent=service).retention
    finally:
        comp.close()
