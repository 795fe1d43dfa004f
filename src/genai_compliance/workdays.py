"""Working days for published deadlines (IM-15: complaints, default 15 working days).

A working day is Monday–Friday, minus the public holidays, plus the adjusted working weekends
(调休上班日) of the State Council's yearly notice (国务院办公厅关于 N 年部分节假日安排的通知).

Where the shipped table comes from:

* **2025** — 国办发明电〔2024〕12号 (12 Nov 2024). Checked day by day against the tables of
  the PyPI packages ``chinese-calendar`` 1.11.0 and ``holidays`` 0.108, which transcribe it.
* **2026** — 国办发明电〔2025〕7号 (4 Nov 2025), compared with the notice's text as published
  by Xinhua and with ``chinese-calendar`` 1.11.0.
* **2027** — *provisional*: no notice had been seen when this table was written. It holds
  the statutory days of the 全国年节及纪念日放假办法 (2024 revision: New Year 1 day, Spring
  Festival 4 days from New Year's Eve, Qingming 1, Labour Day 2, Dragon Boat 1, Mid-Autumn 1,
  National Day 3) with the law's rule that a holiday falling on a weekend is made up on the
  next working day, and no adjusted working weekends; the lunar dates agree with ``holidays``
  0.108. When the notice appears, replace the year with ``[complaints.calendar.2027]
  holidays = [...]`` / ``workdays = [...]`` (see :meth:`WorkingCalendar.from_settings`).

Years outside the table count Monday–Friday only; :meth:`WorkingCalendar.covers` says which
years are official, so a caller can warn.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_CALENDAR",
    "HOLIDAY_SOURCES",
    "WorkingCalendar",
    "add_working_days",
]


def _span(start: str, end: str) -> list[dt.date]:
    a, b = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]


def _dates(*items: str) -> list[dt.date]:
    return [dt.date.fromisoformat(d) for d in items]


#: year -> (days off including weekends inside a break, adjusted working weekend days)
_TABLE: dict[int, tuple[frozenset[dt.date], frozenset[dt.date]]] = {
    2025: (
        frozenset(
            _span("2025-01-01", "2025-01-01") + _span("2025-01-28", "2025-02-04")
            + _span("2025-04-04", "2025-04-06") + _span("2025-05-01", "2025-05-05")
            + _span("2025-05-31", "2025-06-02") + _span("2025-10-01", "2025-10-08")
        ),
        frozenset(_dates("2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28",
                         "2025-10-11")),
    ),
    2026: (
        frozenset(
            _span("2026-01-01", "2026-01-03") + _span("2026-02-15", "2026-02-23")
            + _span("2026-04-04", "2026-04-06") + _span("2026-05-01", "2026-05-05")
            + _span("2026-06-19", "2026-06-21") + _span("2026-09-25", "2026-09-27")
            + _span("2026-10-01", "2026-10-07")
        ),
        frozenset(_dates("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09",
                         "2026-09-20", "2026-10-10")),
    ),
    # provisional: statutory days + weekend make-up days, no adjusted weekends (see above)
    2027: (
        frozenset(
            _dates("2027-01-01")
            + _span("2027-02-05", "2027-02-10")   # 除夕 Fri .. 初三 Mon, + Tue, Wed made up
            + _dates("2027-04-05")                # 清明 Mon
            + _span("2027-05-01", "2027-05-04")   # Sat, Sun + Mon, Tue made up
            + _dates("2027-06-09")                # 端午 Wed
            + _dates("2027-09-15")                # 中秋 Wed
            + _span("2027-10-01", "2027-10-05")   # Fri, Sat, Sun + Mon, Tue made up
        ),
        frozenset(),
    ),
}

#: year -> where its row of the table comes from
HOLIDAY_SOURCES: dict[int, str] = {
    2025: "国办发明电〔2024〕12号 (2024-11-12)",
    2026: "国办发明电〔2025〕7号 (2025-11-04)",
    2027: "provisional: statutory days of the 2024 放假办法, no notice yet",
}
_OFFICIAL = frozenset({2025, 2026})


class WorkingCalendar:
    """Which days are working days on the Chinese calendar (IM-15 deadlines).

    :param extra_holidays: days off to add (e.g. a provincial holiday).
    :param extra_workdays: adjusted working weekend days to add.
    :param years: whole years replacing the shipped rows: ``{2027: (holidays, workdays)}``;
        a year given here counts as official.
    """

    def __init__(self, extra_holidays: Iterable[dt.date | str] = (),
                 extra_workdays: Iterable[dt.date | str] = (), *,
                 years: Mapping[int, tuple[Iterable[dt.date | str],
                                           Iterable[dt.date | str]]] | None = None) -> None:
        table = dict(_TABLE)
        official = set(_OFFICIAL)
        for year, (hol, work) in (years or {}).items():
            table[int(year)] = (frozenset(_as_dates(hol, "holidays")),
                                frozenset(_as_dates(work, "workdays")))
            official.add(int(year))
        holidays: set[dt.date] = set()
        workdays: set[dt.date] = set()
        for hol, work in table.values():
            holidays |= hol
            workdays |= work
        self.holidays: frozenset[dt.date] = frozenset(
            holidays | set(_as_dates(extra_holidays, "holidays")))
        self.workdays: frozenset[dt.date] = frozenset(
            workdays | set(_as_dates(extra_workdays, "workdays")))
        both = self.holidays & self.workdays
        if both:
            raise ConfigurationError(
                f"{sorted(d.isoformat() for d in both)} are listed both as holidays and as "
                "working days; keep each date in one list", field="holidays",
                value=sorted(d.isoformat() for d in both))
        self.years: frozenset[int] = frozenset(table)
        self.official_years: frozenset[int] = frozenset(official)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> WorkingCalendar:
        """Build from ``[complaints]``: ``holidays`` / ``workdays`` (extra dates) and
        ``[complaints.calendar.YEAR] holidays = [...], workdays = [...]`` (a whole year)."""
        years: dict[int, tuple[list[str], list[str]]] = {}
        for year, row in dict(settings.get("calendar", {})).items():
            if not str(year).isdigit() or not isinstance(row, Mapping):
                raise ConfigurationError(
                    f"[complaints.calendar] keys are years holding holidays/workdays lists; "
                    f"got {year!r}", field="complaints.calendar", value=year)
            years[int(year)] = (list(row.get("holidays", [])), list(row.get("workdays", [])))
        return cls(settings.get("holidays", ()), settings.get("workdays", ()), years=years)

    def is_working_day(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day."""
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def covers(self, day: dt.date) -> bool:
        """Whether ``day``'s year is in the table from an official notice (or configured)."""
        return day.year in self.official_years

    def add(self, start: dt.date, days: int) -> dt.date:
        """The ``days``-th working day after ``start`` (``start`` itself not counted)."""
        if days < 0:
            raise ConfigurationError("a deadline needs a non-negative number of working days",
                                     field="days", value=days)
        day, left = start, days
        while left > 0:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day

    def between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when ``end <=
        start``): ``add(start, between(start, end)) <= end``."""
        n, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            n += self.is_working_day(day)
        return n


def _as_dates(items: Iterable[dt.date | str], what: str) -> list[dt.date]:
    out: list[dt.date] = []
    for item in items:
        if isinstance(item, dt.date):
            out.append(item)
            continue
        try:
            out.append(dt.date.fromisoformat(str(item)))
        except ValueError as exc:
            raise ConfigurationError(f"{what}: {item!r} is not a date (YYYY-MM-DD)",
                                     field=what, value=item) from exc
    return out


DEFAULT_CALENDAR = WorkingCalendar()


def add_working_days(start: dt.date, days: int) -> dt.date:
    """``days`` working days after ``start`` on the default Chinese calendar."""
    return DEFAULT_CALENDAR.add(start, days)
