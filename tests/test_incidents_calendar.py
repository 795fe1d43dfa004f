"""Working-day deadlines on the Chinese calendar (IM-15, ARP-24, §7): holidays and adjusted
weekends from ``chinese-calendar``, the configured override, and a year nobody knows refused."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import ConfigurationError
from genai_compliance import workdays as workdays_module
from genai_compliance.incidents import (
    DEFAULT_CALENDAR,
    HOLIDAY_SOURCES,
    WorkingCalendar,
    add_working_days,
)
from genai_compliance.workdays import package_years

D = dt.date
#: the last year the installed chinese-calendar knows, and the first one it does not
LAST = max(package_years())
UNKNOWN = LAST + 1
known_days = st.dates(min_value=D(2024, 12, 1), max_value=D(LAST, 10, 15))  # + 40 WD stays in LAST


def test_package_covers_2004_to_at_least_2026() -> None:
    """chinese-calendar (>= 1.11) knows every year from 2004 to at least 2026, with sources."""
    years = package_years()
    assert set(range(2004, 2027)) <= years and years == set(range(2004, LAST + 1))
    assert "chinese-calendar" in HOLIDAY_SOURCES[2026]
    assert "国办发明电〔2025〕7号" in HOLIDAY_SOURCES[2026]
    assert DEFAULT_CALENDAR.sources[2026] == HOLIDAY_SOURCES[2026]
    assert DEFAULT_CALENDAR.years == years == DEFAULT_CALENDAR.official_years


def test_2026_spring_festival_and_its_adjusted_saturdays() -> None:
    """国办发明电〔2025〕7号: 15-23 Feb off, Sat 14 and Sat 28 Feb are working days."""
    cal = DEFAULT_CALENDAR
    assert cal.is_working_day(D(2026, 2, 14)) and cal.is_working_day(D(2026, 2, 28))
    assert not any(cal.is_working_day(D(2026, 2, d)) for d in range(15, 24))
    assert add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 14)
    assert add_working_days(D(2026, 2, 14), 1) == D(2026, 2, 24)


def test_2025_from_the_package_matches_the_notice() -> None:
    """国办发明电〔2024〕12号: the 2025 days off on weekdays and the five working weekends."""
    off = [d for d in (D(2025, 1, 1) + dt.timedelta(n) for n in range(365))
           if d.weekday() < 5 and not DEFAULT_CALENDAR.is_working_day(d)]
    assert [d.isoformat() for d in off] == [
        "2025-01-01", "2025-01-28", "2025-01-29", "2025-01-30", "2025-01-31", "2025-02-03",
        "2025-02-04", "2025-04-04", "2025-05-01", "2025-05-02", "2025-05-05", "2025-06-02",
        "2025-10-01", "2025-10-02", "2025-10-03", "2025-10-06", "2025-10-07", "2025-10-08"]
    weekends_on = [d for d in (D(2025, 1, 1) + dt.timedelta(n) for n in range(365))
                   if d.weekday() >= 5 and DEFAULT_CALENDAR.is_working_day(d)]
    assert [d.isoformat() for d in weekends_on] == [
        "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"]


def test_2026_working_weekends_match_the_notice() -> None:
    """国办发明电〔2025〕7号 names six working weekend days; the package has exactly those."""
    weekends_on = [d for d in (D(2026, 1, 1) + dt.timedelta(n) for n in range(365))
                   if d.weekday() >= 5 and DEFAULT_CALENDAR.is_working_day(d)]
    assert [d.isoformat() for d in weekends_on] == [
        "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]


def test_complaint_deadline_across_national_day_2026() -> None:
    """15 working days from 28 Sep 2026 skip the National Day week and count Sat 10 Oct."""
    # 29, 30 Sep = 2; 1-7 Oct off; 8, 9 = 4; Sat 10 = 5; 12-16 = 10; 19-23 = 15
    assert add_working_days(D(2026, 9, 28), 15) == D(2026, 10, 23)
    assert DEFAULT_CALENDAR.between(D(2026, 9, 28), D(2026, 10, 23)) == 15


def test_a_year_the_calendar_does_not_know_is_refused() -> None:
    """A day after the package's last year (or before 2004) raises a ConfigurationError that
    names the year, the years known and both ways out; nothing is counted Monday–Friday."""
    cal = DEFAULT_CALENDAR
    assert not cal.covers(D(UNKNOWN, 3, 1)) and cal.covers(D(LAST, 3, 1))
    with pytest.raises(ConfigurationError) as caught:
        cal.is_working_day(D(UNKNOWN, 1, 4))
    err = caught.value
    assert err.year == UNKNOWN and err.field == "calendar"  # type: ignore[attr-defined]
    assert f"no working-day calendar for {UNKNOWN}" in str(err)
    assert f"knows 2004–{LAST}" in str(err) and "chinesecalendar" in str(err)
    assert f"[complaints.calendar.{UNKNOWN}]" in str(err)
    with pytest.raises(ConfigurationError, match="no working-day calendar for 2003"):
        cal.is_working_day(D(2003, 12, 31))
    with pytest.raises(ConfigurationError, match=f"calendar for {UNKNOWN}"):
        cal.add(D(LAST, 12, 20), 15)  # the count runs into the unknown year
    with pytest.raises(ConfigurationError, match=f"calendar for {UNKNOWN}"):
        cal.between(D(LAST, 12, 20), D(UNKNOWN, 1, 20))


def test_configured_year_makes_it_work_and_replaces_a_package_row() -> None:
    """[complaints.calendar.YEAR] adds a year the package lacks, or replaces one it has."""
    cal = WorkingCalendar.from_settings({"calendar": {str(UNKNOWN): {
        "holidays": [f"{UNKNOWN}-01-01", f"{UNKNOWN}-02-08"],
        "workdays": [f"{UNKNOWN}-02-20"]}}})
    assert cal.covers(D(UNKNOWN, 2, 1)) and cal.sources[UNKNOWN] == "configured"
    assert not cal.is_working_day(D(UNKNOWN, 2, 8))
    assert cal.is_working_day(D(UNKNOWN, 2, 20))
    assert not cal.is_working_day(D(UNKNOWN, 1, 1))
    # the count from late in the last known year now runs into the configured one
    due = cal.add(D(LAST, 12, 20), 15)
    assert due.year == UNKNOWN and cal.between(D(LAST, 12, 20), due) == 15
    replaced = WorkingCalendar(years={2026: ([], [])})
    assert replaced.is_working_day(D(2026, 10, 1))  # the package's National Day row is gone
    assert not replaced.is_working_day(D(2026, 10, 10))  # nor its working Saturday
    assert replaced.sources[2026] == "configured"


def test_extra_dates_and_bad_settings() -> None:
    """Extra holidays and workdays apply; in an unknown year they answer for themselves
    only, never for the other days;
    malformed, contradictory or misfiled dates are refused."""
    cal = WorkingCalendar(extra_holidays=["2026-03-02"], extra_workdays=[D(2026, 3, 7)])
    assert not cal.is_working_day(D(2026, 3, 2)) and cal.is_working_day(D(2026, 3, 7))
    outside = WorkingCalendar(extra_holidays=[f"{UNKNOWN}-02-08"])
    assert not outside.covers(D(UNKNOWN, 2, 7))
    assert outside.is_working_day(D(UNKNOWN, 2, 8)) is False  # it answers for itself only
    with pytest.raises(ConfigurationError, match=f"calendar for {UNKNOWN}"):
        outside.add(D(UNKNOWN, 2, 7), 1)
    with pytest.raises(ConfigurationError, match="not a date"):
        WorkingCalendar(extra_holidays=["2026-13-01"])
    with pytest.raises(ConfigurationError, match="both as holidays"):
        WorkingCalendar(extra_holidays=["2026-02-14"])  # an adjusted working Saturday
    with pytest.raises(ConfigurationError, match="years"):
        WorkingCalendar.from_settings({"calendar": {"next": {}}})
    with pytest.raises(ConfigurationError, match="another year"):
        WorkingCalendar(years={UNKNOWN: ([f"{LAST}-12-31"], [])})
    with pytest.raises(ConfigurationError, match="list of dates"):
        WorkingCalendar(extra_holidays="2026-03-02")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="non-negative"):
        DEFAULT_CALENDAR.add(D(2026, 1, 5), -1)


@pytest.fixture(name="no_package")
def _no_package(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """chinese_calendar cannot be imported (and the loaded table is forgotten meanwhile)."""
    workdays_module._package.cache_clear()
    monkeypatch.setitem(sys.modules, "chinese_calendar", None)
    yield
    monkeypatch.undo()
    workdays_module._package.cache_clear()


def test_missing_package_says_how_to_install_it(no_package: None) -> None:
    """Without chinesecalendar installed, the first deadline names the package to install."""
    with pytest.raises(ConfigurationError, match="pip install chinesecalendar"):
        WorkingCalendar().is_working_day(D(2026, 3, 2))


@settings(max_examples=200)
@given(start=known_days, n=st.integers(0, 40))
def test_add_lands_on_a_working_day_and_between_inverts_it(start: dt.date, n: int) -> None:
    """Property: add(start, n) is a working day (n > 0), exactly n working days later."""
    end = DEFAULT_CALENDAR.add(start, n)
    assert DEFAULT_CALENDAR.between(start, end) == n
    if n > 0:
        assert DEFAULT_CALENDAR.is_working_day(end) and end > start
        assert DEFAULT_CALENDAR.between(start, end - dt.timedelta(days=1)) == n - 1


@settings(max_examples=200)
@given(start=known_days, a=st.integers(0, 15), b=st.integers(0, 15))
def test_adding_composes_and_is_monotone(start: dt.date, a: int, b: int) -> None:
    """Property: add(add(s, a), b) == add(s, a + b), and more days never end earlier."""
    cal = DEFAULT_CALENDAR
    assert cal.add(cal.add(start, a), b) == cal.add(start, a + b)
    assert (cal.add(start, a) < cal.add(start, b)) == (a < b)


@settings(max_examples=100)
@given(day=known_days)
def test_working_day_rule(day: dt.date) -> None:
    """Property: a working day is an adjusted weekend day, or a weekday that is no holiday."""
    cal = DEFAULT_CALENDAR
    expected = day in cal.workdays or (day.weekday() < 5 and day not in cal.holidays)
    assert cal.is_working_day(day) == expected
    assert not (day in cal.workdays and day in cal.holidays)


@settings(max_examples=100)
@given(day=st.dates(min_value=D(UNKNOWN, 1, 1), max_value=D(UNKNOWN + 5, 12, 31)))
def test_every_day_of_an_unknown_year_is_refused(day: dt.date) -> None:
    """Property: no day of a year after the package's last is answered (fail closed)."""
    with pytest.raises(ConfigurationError, match=f"calendar for {day.year}"):
        DEFAULT_CALENDAR.is_working_day(day)


# -- the bound: duties that must go on past the calendar's last year ----------------------

@settings(max_examples=200)
@given(start=known_days, n=st.integers(0, 40))
def test_bound_equals_the_exact_count_where_the_calendar_knows(start: dt.date, n: int) -> None:
    """Property: inside the known years, unknown="bound" answers exactly as the default."""
    cal = DEFAULT_CALENDAR
    end = cal.add(start, n, unknown="bound")
    assert end == cal.add(start, n) and cal.covers_span(start, end)
    assert cal.between(start, end, unknown="bound") == n


@settings(max_examples=200)
@given(start=st.dates(min_value=D(LAST, 11, 1), max_value=D(LAST, 12, 31)),
       n=st.integers(1, 40),
       off=st.sets(st.dates(min_value=D(UNKNOWN, 1, 1), max_value=D(UNKNOWN, 3, 31)),
                   max_size=12),
       extra=st.sets(st.dates(min_value=D(UNKNOWN, 1, 1), max_value=D(UNKNOWN, 3, 31)),
                     max_size=4))
def test_bound_is_never_later_than_any_true_calendar(start: dt.date, n: int,
                                                     off: set[dt.date],
                                                     extra: set[dt.date]) -> None:
    """Property: whatever the next year's notice turns out to say (any holidays, any
    adjusted working weekends), the bound is on or before its deadline, and the count of
    days late it gives is never smaller."""
    extra_workdays = {d for d in extra - off if d.weekday() >= 5}
    truth = WorkingCalendar(years={UNKNOWN: (sorted(off), sorted(extra_workdays))})
    bound = DEFAULT_CALENDAR.add(start, n, unknown="bound")
    assert bound <= truth.add(start, n)
    later = bound + dt.timedelta(days=9)
    assert DEFAULT_CALENDAR.between(start, later, unknown="bound") >= truth.between(start,
                                                                                   later)
    if bound.year == UNKNOWN:
        assert not DEFAULT_CALENDAR.covers_span(start, bound)


def test_complaint_taken_past_the_known_years(tmp_path: object) -> None:
    """IM-15: a complaint received late in the calendar's last year is still taken; its
    deadline is the earliest possible one, recorded as not official; with the next year
    configured it is exact and official."""
    from pathlib import Path

    from genai_compliance.clock import FrozenClock
    from genai_compliance.testing import make_compliance

    received = dt.datetime(LAST, 12, 21, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
    folder = Path(str(tmp_path))
    with make_compliance(folder / "a", clock=FrozenClock(received)) as comp:
        c = comp.incidents.file_complaint(channel="web", category="content")
        rec = list(comp.records("complaint.received"))[-1]
    assert c.due == DEFAULT_CALENDAR.add(received.date(), 15, unknown="bound")
    assert c.due.year == UNKNOWN
    assert rec.payload["calendar_official"] is False and "earliest" in rec.payload["due_basis"]

    holidays = [D(UNKNOWN, 1, 1).isoformat(), D(UNKNOWN, 1, 4).isoformat()]
    settings_ = {"complaints": {"calendar": {str(UNKNOWN): {"holidays": holidays,
                                                            "workdays": []}}}}
    with make_compliance(folder / "b", clock=FrozenClock(received),
                         settings=settings_) as comp:
        exact = comp.incidents.file_complaint(channel="web", category="content")
        rec = list(comp.records("complaint.received"))[-1]
    assert rec.payload["calendar_official"] is True and "due_basis" not in rec.payload
    assert exact.due >= c.due


def test_filing_deadline_past_the_known_years_is_the_earliest_date() -> None:
    """ARP-24: a filing deadline that runs into an unknown year is the earliest possible
    date, marked not official (the CLI says so), rather than refused or guessed."""
    from genai_compliance.training import filing_deadline

    event = filing_deadline("cancel", D(LAST, 12, 20))
    assert not event.official and event.due.year == UNKNOWN
    assert event.due == DEFAULT_CALENDAR.add(D(LAST, 12, 20), 20, unknown="bound")
    assert event.to_json()["official"] is False
    assert filing_deadline("launch", D(LAST, 3, 2)).official
