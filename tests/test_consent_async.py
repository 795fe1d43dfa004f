"""The consent check never blocks the event loop, and its cache runs on the clock (issue 13,
issue 14): SQL only in a worker thread, none at all when the cache answers."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import ConsentRequired, FrozenClock, Ledger, StoreUnavailable, Subject
from genai_compliance.checks import CallContext, Check
from genai_compliance.consent import ConsentCheck, ConsentService, NoticeRef
from genai_compliance.stores import SQLDatabase

NOTICE = NoticeRef("1", hashlib.sha256(b"n").hexdigest())
ADULT = Subject("async-user", birth_date="1990-01-01")


class SQLSpy:
    """Counts the transactions a database opens and whether any ran on an event loop."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *dbs: SQLDatabase) -> None:
        self.total = 0
        self.on_loop = 0
        for db in {id(d): d for d in dbs}.values():
            original = db.transaction

            @contextlib.contextmanager
            def spying(*args: Any, _original: Any = original, **kwargs: Any) -> Iterator[Any]:
                self.total += 1
                try:
                    asyncio.get_running_loop()
                    self.on_loop += 1
                except RuntimeError:
                    pass
                with _original(*args, **kwargs) as tx:
                    yield tx

            monkeypatch.setattr(db, "transaction", spying)


@pytest.fixture(name="service")
def _service(sql_uri: str) -> Iterator[ConsentService]:
    clock = FrozenClock()
    ledger = Ledger(sql_uri, clock=clock)
    service = ConsentService(sql_uri, ledger, clock=clock, max_staleness=5)
    yield service
    service.close()
    ledger.close()


def ctx_for(service: ConsentService, purposes: tuple[str, ...],
            optional: tuple[str, ...] = ()) -> CallContext:
    clock = service.clock
    return CallContext(call_id="c", function="tests.f", modality="text", purposes=purposes,
                       subject=ADULT, started_at=clock.now(), started_mono=clock.monotonic(),
                       clock=clock, optional_purposes=optional)


async def test_a_cold_cache_is_read_in_a_worker_thread(sql_uri: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The async twin of a process that has never seen the subject reads SQL (pseudonym
    key, consent rows, notices) off the event loop."""
    ledger = Ledger(sql_uri)
    ConsentService(sql_uri, ledger).grant(ADULT, "service", notice=NOTICE)
    ledger.close()
    fresh_ledger = Ledger(sql_uri)  # a new process: nothing cached
    fresh = ConsentService(sql_uri, fresh_ledger)
    try:
        spy = SQLSpy(monkeypatch, fresh.db, fresh_ledger.db)
        ctx = ctx_for(fresh, ("service",), ("training",))
        await ConsentCheck(fresh).abefore(ctx)
        assert spy.total > 0
        assert spy.on_loop == 0
        assert ctx.response.optional_declined == ["training"]
    finally:
        fresh.close()
        fresh_ledger.close()


async def test_a_warm_cache_answers_without_any_io(service: ConsentService,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Within max_staleness the decision is made on the loop with no SQL at all."""
    check = ConsentCheck(service)
    service.grant(ADULT, "service", notice=NOTICE)
    check.before(ctx_for(service, ("service",), ("training",)))  # warms the cache
    spy = SQLSpy(monkeypatch, service.db, service.ledger.db)
    ctx = ctx_for(service, ("service",), ("training",))
    await check.abefore(ctx)
    assert spy.total == 0
    assert ctx.notes["consent_declined"] == ["training"]
    clock = service.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(6)
    await check.abefore(ctx_for(service, ("service",)))
    assert spy.total > 0  # stale on the clock: read again, still off the loop
    assert spy.on_loop == 0


async def test_a_refusal_is_built_off_the_loop(service: ConsentService,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing required consent refuses from the async twin; the notices it reads are
    read in a worker thread."""
    service.set_notice("service", NOTICE)
    spy = SQLSpy(monkeypatch, service.db, service.ledger.db)
    with pytest.raises(ConsentRequired) as info:
        await ConsentCheck(service).abefore(ctx_for(service, ("service",)))
    assert info.value.evidence["notice"]["service"]["version"] == "1"
    assert spy.on_loop == 0


def test_the_check_is_not_blocking_for_the_driver(service: ConsentService) -> None:
    """Only ``before`` does I/O and its async twin is overridden, so the driver need not
    move the check's other hooks to a thread."""
    assert ConsentCheck(service).blocking is False
    assert ConsentCheck.abefore is not Check.abefore


async def test_an_in_memory_store_is_decided_on_the_loop(tmp_path: Path) -> None:
    """SQLite ``:memory:`` is one database per thread: the async twin must not move it."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    service = ConsentService("sqlite:///:memory:", ledger)
    try:
        assert service.in_memory
        service.grant(ADULT, "service", notice=NOTICE)
        ctx = ctx_for(service, ("service",), ("training",))
        await ConsentCheck(service).abefore(ctx)
        assert ctx.response.optional_declined == ["training"]
    finally:
        service.close()
        ledger.close()


def test_cache_staleness_follows_the_clock(sql_uri: str) -> None:
    """Issue 14: a withdrawal made elsewhere is seen once max_staleness has passed on the
    injected clock — tests move time instead of sleeping."""
    clock = FrozenClock()
    ledger = Ledger(sql_uri, clock=clock)
    here = ConsentService(sql_uri, ledger, clock=clock, max_staleness=30)
    there = ConsentService(sql_uri, ledger, clock=clock, max_staleness=30)
    try:
        there.grant(ADULT, "service", notice=NOTICE)
        here.require(ADULT, ["service"])
        there.withdraw(ADULT, "service")
        clock.advance(29)
        here.require(ADULT, ["service"])  # the cache may lag by up to max_staleness
        clock.advance(1)
        with pytest.raises(ConsentRequired):
            here.require(ADULT, ["service"])
    finally:
        here.close()
        there.close()
        ledger.close()


def test_fresh_reads_bypass_the_cache(sql_uri: str) -> None:
    """``missing(..., fresh=True)`` (what the training filter uses) sees a withdrawal made
    by another replica at once, whatever the cache holds."""
    clock = FrozenClock()
    ledger = Ledger(sql_uri, clock=clock)
    here = ConsentService(sql_uri, ledger, clock=clock, max_staleness=3600)
    there = ConsentService(sql_uri, ledger, clock=clock, max_staleness=3600)
    try:
        there.grant(ADULT, "training", notice=NOTICE)
        assert here.missing(ADULT, ["training"]) == []
        there.withdraw(ADULT, "training")
        assert here.missing(ADULT, ["training"]) == []
        assert here.missing(ADULT, ["training"], fresh=True) == ["training"]
    finally:
        here.close()
        there.close()
        ledger.close()


def test_unreachable_pubsub_is_store_unavailable_without_the_password(tmp_path: Path) -> None:
    """A Redis that cannot be subscribed to is a StoreUnavailable naming the redacted URI,
    never a driver exception or the password (issue 15)."""
    uri = f"sqlite:///{tmp_path / 'c.db'}"
    ledger = Ledger(uri)
    try:
        with pytest.raises(StoreUnavailable, match="redis://") as info:
            ConsentService(uri, ledger, pubsub_uri="redis://:hunter2@127.0.0.1:1/0")
        assert "hunter2" not in f"{info.value} {info.value!r}"
    finally:
        ledger.close()


STEPS = st.lists(st.tuples(
    st.sampled_from(["grant", "grant-1h", "withdraw", "notice", "tick", "ask"]),
    st.sampled_from(["service", "training", "sensitive"])), max_size=20)


@settings(max_examples=30)
@given(steps=STEPS)
def test_the_cache_only_answer_never_differs_from_the_store(
        tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, str]]) -> None:
    """Property: whenever the event-loop fast path answers, it answers as the store does
    (and as ``decide``) after any interleaving of grants, expiries, withdrawals, new notices
    and clock moves in this process."""
    clock = FrozenClock()
    uri = f"sqlite:///{tmp_path_factory.mktemp('c') / 'c.db'}"
    ledger = Ledger(uri, clock=clock)
    service = ConsentService(uri, ledger, clock=clock, max_staleness=60)
    purposes, optional = ("service", "sensitive", "training"), ("public-disclosure",)
    try:
        for n, (op, purpose) in enumerate(steps):
            if op == "grant":
                service.grant(ADULT, purpose, notice=NOTICE)
            elif op == "grant-1h":
                service.grant(ADULT, purpose, notice=NOTICE, ttl=dt.timedelta(hours=1))
            elif op == "withdraw":
                service.withdraw(ADULT, purpose)
            elif op == "notice":
                service.set_notice(purpose, NoticeRef(str(n), hashlib.sha256(
                    str(n).encode()).hexdigest()))
            elif op == "tick":
                clock.advance(minutes=25)
            else:
                service.decide(ADULT, purposes, optional)  # fills the cache
            fast = service.cached_decision(ADULT, purposes, optional)
            if fast is not None:
                truth = set(service.missing(ADULT, [*purposes, *optional], fresh=True))
                assert {*fast.missing, *fast.optional_declined} == truth
                assert fast == service.decide(ADULT, purposes, optional)
    finally:
        service.close()
        ledger.close()
