"""Deadlines that run past the last year ``chinese-calendar`` knows (IM-15, ARP-24): never
guessed — a complaint is still taken and a filing deadline still given, as the earliest
possible date marked not official — and made exact by a configured year.

With chinesecalendar 1.11.0 (the newest release on 2026-12-02) the last year is 2026, so a
complaint received from 2026-12-11 on has its 15th working day in 2027: these tests pin that
behaviour for whatever the last year of the installed package is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from genai_compliance import ConfigurationError, FrozenClock, Ledger
from genai_compliance.cli import main
from genai_compliance.incidents import Complaints, WorkingCalendar
from genai_compliance.testing import make_compliance
from genai_compliance.training import filing_deadline
from genai_compliance.workdays import package_years

LAST = max(package_years())
UNKNOWN = LAST + 1
#: a made-up row for the next year (the override is whatever the notice says)
NEXT_YEAR = {"holidays": [f"{UNKNOWN}-01-01"], "workdays": []}


@pytest.fixture(name="ledger")
def _ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", durability="process")
    yield ledger
    ledger.close()


def _desk(sql_uri: str, ledger: Ledger, calendar: WorkingCalendar | None = None,
          ) -> Complaints:
    clock = FrozenClock(f"{LAST}-12-20T02:00:00+00:00")  # 10:00 in Shanghai
    if calendar is None:
        return Complaints(sql_uri, ledger, clock=clock)
    return Complaints(sql_uri, ledger, clock=clock, calendar=calendar)


def test_complaint_past_the_known_years_is_taken_with_the_bound(sql_uri: str,
                                                                ledger: Ledger) -> None:
    """On the default calendar a complaint whose deadline falls in an unknown year is still
    taken (IM-15): stored and recorded, its deadline the earliest possible one, marked not
    official with the basis (SQLite and PostgreSQL)."""
    desk = _desk(sql_uri, ledger)
    try:
        before = len(desk.find())
        c = desk.file(channel="web", category="content", text="投诉")
        assert len(desk.find()) == before + 1
        bound = desk.calendar.add(dt.date(LAST, 12, 20), 15, unknown="bound")
        assert c.due == bound and c.due.year == UNKNOWN
        with pytest.raises(ConfigurationError, match=f"no working-day calendar for {UNKNOWN}"
                           ) as caught:
            desk.calendar.add(dt.date(LAST, 12, 20), 15)  # the exact count is not guessed
        assert caught.value.year == UNKNOWN  # type: ignore[attr-defined]
        record = next(iter(ledger.records(kind="complaint.received")))
        assert record.payload["calendar_official"] is False
        assert "earliest possible" in record.payload["due_basis"]
    finally:
        desk.db.close()


def test_configured_next_year_makes_the_complaint_desk_work(sql_uri: str,
                                                            ledger: Ledger) -> None:
    """With [complaints.calendar.NEXT] configured the same complaint gets its deadline in
    the next year, marked as coming from a known calendar (SQLite and PostgreSQL)."""
    calendar = WorkingCalendar.from_settings({"calendar": {str(UNKNOWN): NEXT_YEAR}})
    desk = _desk(sql_uri, ledger, calendar)
    try:
        c = desk.file(channel="web", category="content", text="投诉")
        assert c.due.year == UNKNOWN and calendar.between(dt.date(LAST, 12, 20), c.due) == 15
        record = next(iter(ledger.records(kind="complaint.received")))
        assert record.payload["calendar_official"] is True
    finally:
        desk.db.close()


def test_compliance_config_override_reaches_the_desk(tmp_path: Path) -> None:
    """``[complaints.calendar.YEAR]`` in the settings is what Compliance.incidents uses."""
    comp = make_compliance(tmp_path, clock=FrozenClock(f"{LAST}-12-20T02:00:00+00:00"),
                           checks=(), settings={"complaints": {
                               "calendar": {str(UNKNOWN): NEXT_YEAR}}})
    try:
        c = comp.incidents.complaints.file(channel="app", category="privacy")
        assert c.due.year == UNKNOWN
    finally:
        comp.close()


def test_filing_deadline_past_the_known_years() -> None:
    """ARP-24: a cancellation late in the last known year gets the earliest possible date
    on the default calendar (official=False), and the exact one on a calendar that
    configures the next year."""
    event = filing_deadline("cancel", dt.date(LAST, 12, 10))
    assert not event.official and event.due.year == UNKNOWN
    cal = WorkingCalendar(years={UNKNOWN: (NEXT_YEAR["holidays"], [])})
    due = filing_deadline("cancel", dt.date(LAST, 12, 10), add_working_days=cal.add).due
    assert due.year == UNKNOWN and cal.between(dt.date(LAST, 12, 10), due) == 20
    assert event.due <= due


def test_cli_filing_deadline_past_the_known_years(capsys: pytest.CaptureFixture[str]) -> None:
    """`filing deadline` into an unknown year: the earliest possible date, and a note
    saying it is not exact and how to make it so."""
    assert main(["filing", "deadline", "cancel", f"{LAST}-12-10"]) == 0
    out = capsys.readouterr().out
    assert "earliest possible date" in out and f"[complaints.calendar.{UNKNOWN}]" in out
