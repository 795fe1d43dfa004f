"""Working-day deadlines on the Chinese calendar (IM-15, §7): holidays and adjusted weekends."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import ConfigurationError
from genai_compliance.incidents import (
    DEFAULT_CALENDAR,
    HOLIDAY_SOURCES,
    WorkingCalendar,
    add_working_days,
)

D = dt.date
days_2025_2027 = st.dates(min_value=D(2024, 12, 1), max_value=D(2027, 11, 30))


def test_2026_spring_festival_and_its_adjusted_saturdays() -> None:
    """国办发明电〔2025〕7号: 15-23 Feb off, Sat 14 and Sat 28 Feb are working days."""
    cal = DEFAULT_CALENDAR
    assert cal.is_working_day(D(2026, 2, 14)) and cal.is_working_day(D(2026, 2, 28))
    assert not any(cal.is_working_day(D(2026, 2, d)) for d in range(15, 24))
    assert add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 14)
    assert add_working_days(D(2026, 2, 14), 1) == D(2026, 2, 24)


def test_2025_table_matches_the_notice() -> None:
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


def test_complaint_deadline_across_national_day_2026() -> None:
    """15 working days from 28 Sep 2026 skip the National Day week and count Sat 10 Oct."""
    # 29, 30 Sep = 2; 1-7 Oct off; 8, 9 = 4; Sat 10 = 5; 12-16 = 10; 19-23 = 15
    assert add_working_days(D(2026, 9, 28), 15) == D(2026, 10, 23)
    assert DEFAULT_CALENDAR.between(D(2026, 9, 28), D(2026, 10, 23)) == 15


def test_2027_is_provisional_and_replaceable() -> None:
    """2027 holds statutory days only and is flagged; a configured year replaces it."""
    assert "provisional" in HOLIDAY_SOURCES[2027]
    assert not DEFAULT_CALENDAR.covers(D(2027, 3, 1)) and DEFAULT_CALENDAR.covers(D(2026, 3, 1))
    assert not DEFAULT_CALENDAR.is_working_day(D(2027, 2, 10))  # made-up Spring Festival day
    cal = WorkingCalendar.from_settings({"calendar": {"2027": {
        "holidays": ["2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10", "2027-02-11",
                     "2027-02-12"], "workdays": ["2027-02-20"]}}})
    assert cal.covers(D(2027, 2, 1))
    assert not cal.is_working_day(D(2027, 2, 12)) and cal.is_working_day(D(2027, 2, 20))
    assert cal.is_working_day(D(2027, 5, 3))  # the shipped provisional row is gone


def test_extra_dates_and_bad_settings() -> None:
    """Extra holidays and workdays apply; malformed or contradictory dates are refused."""
    cal = WorkingCalendar(extra_holidays=["2026-03-02"], extra_workdays=[D(2026, 3, 7)])
    assert not cal.is_working_day(D(2026, 3, 2)) and cal.is_working_day(D(2026, 3, 7))
    outside = WorkingCalendar(extra_holidays=["2030-02-08"])  # a year outside the table
    assert outside.add(D(2030, 2, 7), 1) == D(2030, 2, 11)
    assert not outside.covers(D(2030, 2, 7))
    with pytest.raises(ConfigurationError, match="not a date"):
        WorkingCalendar(extra_holidays=["2026-13-01"])
    with pytest.raises(ConfigurationError, match="both as holidays"):
        WorkingCalendar(extra_holidays=["2026-02-14"])
    with pytest.raises(ConfigurationError, match="years"):
        WorkingCalendar.from_settings({"calendar": {"next": {}}})
    with pytest.raises(ConfigurationError, match="non-negative"):
        DEFAULT_CALENDAR.add(D(2026, 1, 5), -1)


@settings(max_examples=200)
@given(start=days_2025_2027, n=st.integers(0, 40))
def test_add_lands_on_a_working_day_and_between_inverts_it(start: dt.date, n: int) -> None:
    """Property: add(start, n) is a working day (n > 0), exactly n working days later."""
    end = DEFAULT_CALENDAR.add(start, n)
    assert DEFAULT_CALENDAR.between(start, end) == n
    if n > 0:
        assert DEFAULT_CALENDAR.is_working_day(end) and end > start
        assert DEFAULT_CALENDAR.between(start, end - dt.timedelta(days=1)) == n - 1


@settings(max_examples=200)
@given(start=days_2025_2027, a=st.integers(0, 25), b=st.integers(0, 25))
def test_adding_composes_and_is_monotone(start: dt.date, a: int, b: int) -> None:
    """Property: add(add(s, a), b) == add(s, a + b), and more days never end earlier."""
    cal = DEFAULT_CALENDAR
    assert cal.add(cal.add(start, a), b) == cal.add(start, a + b)
    assert (cal.add(start, a) < cal.add(start, b)) == (a < b)


@settings(max_examples=100)
@given(day=days_2025_2027)
def test_working_day_rule(day: dt.date) -> None:
    """Property: a working day is an adjusted weekend day, or a weekday that is no holiday."""
    cal = DEFAULT_CALENDAR
    expected = day in cal.workdays or (day.weekday() < 5 and day not in cal.holidays)
    assert cal.is_working_day(day) == expected
    assert not (day in cal.workdays and day in cal.holidays)
