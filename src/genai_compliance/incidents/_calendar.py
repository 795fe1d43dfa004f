"""Working days for deadlines: weekends and Chinese public holidays skipped, adjusted
working weekends (调休) counted.

The table holds the State Council's holiday arrangements for 2025 and 2026 as recalled when
this was written (tag [K]: confirm against the official notice each year, and extend it with
``WorkingCalendar(extra_holidays=…, extra_workdays=…)`` or ``[complaints] holidays`` /
``workdays`` in compliance.toml). Years outside the table count Monday–Friday only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

__all__ = ["DEFAULT_CALENDAR", "WorkingCalendar", "add_working_days"]


def _span(start: str, end: str) -> list[dt.date]:
    a, b = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]


HOLIDAYS: frozenset[dt.date] = frozenset(
    _span("2025-01-01", "2025-01-01") + _span("2025-01-28", "2025-02-04")
    + _span("2025-04-04", "2025-04-06") + _span("2025-05-01", "2025-05-05")
    + _span("2025-05-31", "2025-06-02") + _span("2025-10-01", "2025-10-08")
    + _span("2026-01-01", "2026-01-03") + _span("2026-02-15", "2026-02-23")
    + _span("2026-04-04", "2026-04-06") + _span("2026-05-01", "2026-05-05")
    + _span("2026-06-19", "2026-06-21") + _span("2026-09-25", "2026-09-27")
    + _span("2026-10-01", "2026-10-07")
)
WORKDAYS: frozenset[dt.date] = frozenset(dt.date.fromisoformat(d) for d in (
    "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11",
    "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10",
))


class WorkingCalendar:
    """Which days are working days."""

    def __init__(self, extra_holidays: Iterable[dt.date | str] = (),
                 extra_workdays: Iterable[dt.date | str] = ()) -> None:
        def dates(items: Iterable[dt.date | str]) -> set[dt.date]:
            return {d if isinstance(d, dt.date) else dt.date.fromisoformat(d) for d in items}

        self.holidays = HOLIDAYS | dates(extra_holidays)
        self.workdays = WORKDAYS | dates(extra_workdays)

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add(self, start: dt.date, days: int) -> dt.date:
        """The ``days``-th working day after ``start``."""
        day, left = start, days
        while left > 0:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day


DEFAULT_CALENDAR = WorkingCalendar()


def add_working_days(start: dt.date, days: int) -> dt.date:
    """``days`` working days after ``start`` on the default Chinese calendar."""
    return DEFAULT_CALENDAR.add(start, days)
