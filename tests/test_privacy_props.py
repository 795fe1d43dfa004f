"""Property tests of the privacy duty: the breach state machine (pure and on SQLite) and the
audit schedule (PI-57, PI-57-EXEMPT, PI-AUDIT)."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genai_compliance import FrozenClock, Ledger
from genai_compliance.clock import SHANGHAI
from genai_compliance.privacy import STEPS, BreachState, Privacy, StepOutOfOrder, allowed, apply
from genai_compliance.privacy._schedule import add_years, end_of_day, next_audit_due, status
from genai_compliance.testing import TEST_PROVIDER

steps = st.lists(st.sampled_from(STEPS), max_size=12)
FACTS: dict[str, Any] = {"cause": "配置错误", "possible_harm": "诈骗",
                         "individual_measures": ["警惕诈骗电话"]}


def _invariants(state: BreachState) -> None:
    done = state.done
    assert len(done) == len(set(done))  # every step at most once
    if done:
        assert done[0] == "open"
    if len(done) > 1:
        assert done[1] == "remediate"  # nothing before remediation
    if "close" in done:
        assert done[-1] == "close" and "notify_authority" in done
        assert "notify_individuals" in done or (
            "exempt_individuals" in done and "authority_requires_notice" not in done)
    if "exempt_individuals" in done and "notify_individuals" in done:
        assert done.index("exempt_individuals") < done.index(
            "authority_requires_notice") < done.index("notify_individuals")
    if "authority_requires_notice" in done:
        assert done.index("exempt_individuals") < done.index("authority_requires_notice")


@given(seq=steps)
def test_no_order_of_steps_breaks_the_machine(seq: list[str]) -> None:
    """Property: any sequence of steps is either taken or refused with StepOutOfOrder; a
    step is taken iff allowed() offers it; the state always satisfies the workflow."""
    state = BreachState()
    for step in seq:
        offered = step in allowed(state)
        try:
            state = apply(state, step)  # type: ignore[arg-type]
        except StepOutOfOrder as err:
            assert not offered and err.step == step and set(err.allowed) == allowed(state)
        else:
            assert offered
        _invariants(state)


@given(seq=st.permutations(STEPS))
def test_some_order_of_every_step_closes(seq: tuple[str, ...]) -> None:
    """Property: taking whatever is possible, any preference order reaches a closable
    state (no dead end): the workflow can always be finished."""
    state = BreachState()
    for _ in range(len(STEPS)):
        nxt = next((s for s in seq if s in allowed(state) and s != "close"), None)
        if nxt is None:
            break
        state = apply(state, nxt)  # type: ignore[arg-type]
    assert "close" in allowed(state)


@pytest.fixture(name="world", scope="module")
def _world() -> Iterator[tuple[Privacy, Ledger, FrozenClock]]:
    with tempfile.TemporaryDirectory() as folder:
        clock = FrozenClock("2026-03-02T02:00:00+00:00")
        ledger = Ledger(f"sqlite:///{Path(folder) / 'l.db'}", clock=clock,
                        durability="process")
        privacy = Privacy(f"sqlite:///{Path(folder) / 'p.db'}", ledger,
                          provider=TEST_PROVIDER, clock=clock)
        yield privacy, ledger, clock
        privacy.close()
        ledger.close()


def _take(p: Privacy, bid: str, step: str) -> None:
    if step == "remediate":
        p.remediate(bid, ["关闭访问"], **FACTS)
    elif step == "notify_authority":
        p.notify_authority(bid)
    elif step == "notify_individuals":
        p.notify_individuals(bid, channel="sms")
    elif step == "exempt_individuals":
        p.exempt_individuals(bid, reason="已加密")
    elif step == "authority_requires_notice":
        p.authority_requires_notice(bid, reason="可能造成危害")
    else:
        assert step == "close"
        p.close_breach(bid)


@given(seq=st.lists(st.sampled_from(STEPS[1:]), max_size=12))  # a breach opens once, first
def test_every_step_is_recorded_once_on_sqlite(
        world: tuple[Privacy, Ledger, FrozenClock], seq: list[str]) -> None:
    """Property: driving the SQLite-backed duty with any sequence, the breach's ledger
    records are exactly the steps taken, once each, in order; the stored state matches the
    pure machine."""
    privacy, ledger, clock = world
    after = max((r.seq for r in ledger.records(kind="privacy")), default=0)
    bid = privacy.open_breach("prop", pi_kinds=["手机号码"], individuals=3).id
    model = BreachState(("open",))
    for step in seq:
        clock.advance(1)
        try:
            _take(privacy, bid, step)
        except StepOutOfOrder:
            assert step not in allowed(model)
        else:
            model = apply(model, step)  # type: ignore[arg-type]
    recorded = [r.payload["step"] for r in ledger.records(kind="privacy.breach", after_seq=after)
                if r.payload["breach"] == bid]
    assert tuple(recorded) == model.done == privacy.breach(bid).steps


dates = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2040, 12, 31))


@given(last=st.one_of(st.none(), dates), years=st.integers(1, 10), first=dates)
def test_next_due_is_never_before_the_last_audit(last: dt.date | None, years: int,
                                                 first: dt.date) -> None:
    """Property: the next audit is due ``years`` after the last one (never before it, and
    within a day of the same calendar date), or on the first due date when none."""
    due = next_audit_due(last, interval_years=years, first_due=first)
    if last is None:
        assert due == first
    else:
        assert due > last and due.year == last.year + years
        assert (due.month, due.day) in ((last.month, last.day), (2, 28))


@given(day=dates, offset=st.integers(-3 * 86400, 3 * 86400), done=st.booleans(),
       soon_days=st.integers(0, 90))
def test_overdue_iff_past_due(day: dt.date, offset: int, done: bool, soon_days: int) -> None:
    """Property: a dated item is overdue iff not done and now is after the end of its local
    due day; due-soon only within the window; done is always ok."""
    due = end_of_day(day, SHANGHAI)
    now = due + dt.timedelta(seconds=offset)
    got = status(due, now, done=done, soon=dt.timedelta(days=soon_days))
    if done:
        assert got == "ok"
    else:
        assert (got == "overdue") == (now > due)
        assert (got == "due-soon") == (now <= due and due - now <= dt.timedelta(days=soon_days))
    assert now.astimezone(SHANGHAI).date() > day or now <= due


@given(completed=st.lists(st.dates(min_value=dt.date(2023, 1, 1),
                                   max_value=dt.date(2026, 3, 2)), max_size=4),
       later=st.integers(0, 2000))
def test_schedule_on_sqlite_follows_the_latest_audit(
        world: tuple[Privacy, Ledger, FrozenClock], completed: list[dt.date],
        later: int) -> None:
    """Property: on SQLite, with audits recorded in any order, the audit item is due
    2 years after the latest (never before any audit) and overdue iff now is past it."""
    privacy, _ledger, clock = world
    clock.set("2026-03-02T02:00:00+00:00")
    with tempfile.TemporaryDirectory() as folder:
        p = Privacy(f"sqlite:///{Path(folder) / 'a.db'}", privacy.ledger, clock=clock,
                    settings={"individuals_count": 10_000_001})
        for day in completed:
            p.record_audit(completed_on=day, auditor="内审部")
        due = p.next_audit_due()
        assert due is not None
        if completed:
            assert due == add_years(max(completed), 2) and all(due > d for d in completed)
        else:
            assert due == dt.date(2027, 5, 1)
        clock.advance(days=later)
        item = next(i for i in p.schedule() if i.rule == "PI-AUDIT")
        assert item.due_date == due
        assert (item.status == "overdue") == (clock.now() > end_of_day(due, SHANGHAI))
        assert (item in p.due_items()) == (item.status != "ok")
        p.close()
