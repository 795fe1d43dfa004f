"""The complaint desk (IM-15): intake, statuses, published deadline, alerts, statistics."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from genai_compliance import (
    ConfigurationError,
    FrozenClock,
    Ledger,
    RecordNotFound,
    Subject,
)
from genai_compliance.incidents import Complaints, WorkingCalendar
from genai_compliance.schemas import validate
from strategies_incidents import COMPLAINT_MOVES, complaint_ops

START = "2026-03-02T02:00:00+00:00"  # Monday 10:00 in Shanghai


@pytest.fixture(name="ledger")
def _ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", durability="process")
    yield ledger
    ledger.close()


@pytest.fixture(name="desk")
def _desk(ledger: Ledger, sql_uri: str) -> Iterator[tuple[Complaints, FrozenClock]]:
    clock = FrozenClock(START)
    desk = Complaints(sql_uri, ledger, clock=clock)
    yield desk, clock
    desk.db.close()


def test_lifecycle_deadline_and_records(desk: tuple[Complaints, FrozenClock],
                                        ledger: Ledger) -> None:
    """Anonymous intake gets an ack id and a 15-working-day deadline; each step is recorded;
    a late reply is marked late (SQLite and PostgreSQL)."""
    complaints, clock = desk
    c = complaints.file(channel="email", category="content", content_ref="call-1",
                        text="这条内容有问题")
    assert c.id.startswith("C-20260302-") and c.status == "received" and c.anonymous
    assert c.due == dt.date(2026, 3, 23)
    complaints.update(c.id, "acknowledged")
    with pytest.raises(ConfigurationError, match="cannot go from"):
        complaints.update(c.id, "received")
    with pytest.raises(ConfigurationError, match="needs its text"):
        complaints.update(c.id, "replied")
    clock.advance(days=30)
    assert [x.id for x in complaints.find(overdue=True)] == [c.id]
    done = complaints.update(c.id, "replied", reply="已处理")
    assert done.reply == "已处理" and complaints.find(overdue=True) == []
    kinds = [r.kind for r in ledger.records(kind="complaint")]
    assert kinds == ["complaint.received", "complaint.acknowledged", "complaint.replied"]
    replied = next(iter(ledger.records(kind="complaint.replied"))).payload
    assert replied["late"] is True and "已处理" not in str(replied)
    received = next(iter(ledger.records(kind="complaint.received"))).payload
    assert received["anonymous"] is True and "问题" not in str(received)
    with pytest.raises(RecordNotFound):
        complaints.get("C-20260302-00000000")


def test_overdue_alert_is_raised_once(desk: tuple[Complaints, FrozenClock],
                                      ledger: Ledger) -> None:
    """overdue_alerts() records each overdue complaint once, never a replied one."""
    complaints, clock = desk
    late = complaints.file(channel="app", category="privacy", contact="u@example.invalid")
    answered = complaints.file(channel="app", category="privacy")
    complaints.update(answered.id, "replied", reply="done")
    clock.advance(days=10)
    assert complaints.overdue_alerts() == []
    assert [c.id for c in complaints.due_soon(working_days=10)] == [late.id]
    clock.advance(days=20)
    assert [c.id for c in complaints.overdue_alerts()] == [late.id]
    assert complaints.overdue_alerts() == []
    alerts = [r.payload for r in ledger.records(kind="complaint.overdue")]
    assert len(alerts) == 1 and alerts[0]["working_days_late"] > 0


def test_statistics(desk: tuple[Complaints, FrozenClock]) -> None:
    """Statistics count by status, channel and category, on-time and late replies."""
    complaints, clock = desk
    a = complaints.file(channel="web", category="content")
    b = complaints.file(channel="phone", category="minors", contact="138-0000-0000")
    complaints.file(channel="web", category="content")
    clock.advance(days=2)
    complaints.update(a.id, "replied", reply="ok")
    clock.advance(days=40)
    complaints.update(b.id, "withdrawn")
    stats = complaints.stats()
    assert stats["total"] == 3 and stats["by_channel"] == {"web": 2, "phone": 1}
    assert stats["by_status"] == {"replied": 1, "withdrawn": 1, "received": 1}
    assert (stats["anonymous"], stats["open"], stats["overdue"]) == (2, 1, 1)
    assert (stats["replied_on_time"], stats["replied_late"]) == (1, 0)
    assert stats["median_working_days_to_reply"] == 2
    for doc in complaints.export(personal=True):
        validate(doc, "complaint")
    assert "contact" not in complaints.export()[1]


def test_intake_validation(desk: tuple[Complaints, FrozenClock], ledger: Ledger) -> None:
    """Channel and category are short tokens; the deadline setting must be >= 1."""
    complaints, _clock = desk
    with pytest.raises(ConfigurationError, match="channel"):
        complaints.file(channel="", category="content")
    with pytest.raises(ConfigurationError, match="category"):
        complaints.file(channel="web", category="Bad Category!")
    with pytest.raises(ConfigurationError, match="response_working_days"):
        Complaints(complaints.db, ledger, response_working_days=0)
    with pytest.raises(ConfigurationError, match="unknown complaint status"):
        complaints.update("C-x", "lost")


def test_configured_limit_and_holidays(ledger: Ledger, tmp_path: Path) -> None:
    """A provider's own published limit and extra holidays move the deadline."""
    clock = FrozenClock(START)
    desk = Complaints(f"sqlite:///{tmp_path / 'c.db'}", ledger, clock=clock,
                      calendar=WorkingCalendar(extra_holidays=["2026-03-03"]),
                      response_working_days=3)
    c = desk.file(channel="web", category="other", subject=Subject("u-1"))
    assert c.due == dt.date(2026, 3, 6)


@settings(max_examples=25)
@given(ops=complaint_ops)
def test_complaint_state_machine_matches_model(ledger: Ledger, tmp_path: Path,
                                               ops: list[tuple[str, Any]]) -> None:
    """Property: for random intakes, moves, time and alert runs, stored statuses, overdue
    sets and alert counts equal a plain model."""
    clock = FrozenClock(START)
    desk = Complaints(f"sqlite:///{tmp_path / (uuid.uuid4().hex + '.db')}", ledger,
                      clock=clock)
    model: dict[str, dict[str, Any]] = {}
    ids: list[str] = []
    for op, arg in ops:
        today = clock.now().astimezone(desk.tz).date()
        if op == "file":
            c = desk.file(channel=arg, category="content")
            ids.append(c.id)
            model[c.id] = {"status": "received", "due": c.due, "alerted": False}
            assert c.due == desk.calendar.add(today, 15)
        elif op == "move" and ids:
            cid, status = ids[arg[0] % len(ids)], arg[1]
            if status in COMPLAINT_MOVES[model[cid]["status"]]:
                desk.update(cid, status, reply="答复" if status == "replied" else None)
                model[cid]["status"] = status
            else:
                with pytest.raises(ConfigurationError):
                    desk.update(cid, status, reply="x")
        elif op == "advance":
            clock.advance(days=arg)
        elif op == "to_due" and ids:
            # the last minute of a deadline day, or the first of the day after it
            due = model[ids[arg[0] % len(ids)]]["due"]
            target = dt.datetime.combine(due, dt.time(23, 59), tzinfo=desk.tz) if arg[1] == 0 \
                else dt.datetime.combine(due + dt.timedelta(days=1), dt.time(0, 0),
                                         tzinfo=desk.tz)
            if target > clock.now():
                clock.set(target)
        elif op == "alerts":
            got = {c.id for c in desk.overdue_alerts()}
            want = {cid for cid, m in model.items() if not m["alerted"]
                    and m["status"] in ("received", "acknowledged", "investigating")
                    and today > m["due"]}
            assert got == want
            for cid in want:
                model[cid]["alerted"] = True
        today = clock.now().astimezone(desk.tz).date()
        assert {c.id: c.status for c in desk.find()} == {k: m["status"]
                                                         for k, m in model.items()}
        assert {c.id for c in desk.find(overdue=True)} == {
            k for k, m in model.items()
            if m["status"] in ("received", "acknowledged", "investigating")
            and today > m["due"]}
    desk.db.close()
