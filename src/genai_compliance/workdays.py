"""Working days for published deadlines (IM-15: complaints, default 15 working days; ARP-24:
filing deadlines).

A working day is Monday–Friday, minus the public holidays, plus the adjusted working weekends
(调休上班日) of the State Council's yearly notice (国务院办公厅关于 N 年部分节假日安排的通知).

Where the days come from: the ``chinese-calendar`` package (PyPI name ``chinesecalendar``),
which transcribes each year's notice, for every year it knows (1.11.0: 2004–2026; the 2026 row
agrees with 国办发明电〔2025〕7号 of 4 Nov 2025 as published by Xinhua). The configured override
is kept: ``[complaints.calendar.YEAR] holidays = [...], workdays = [...]`` gives a whole year
(replacing the package's row, or adding a year it does not know yet), and ``[complaints]
holidays`` / ``workdays`` add single dates (e.g. a provincial holiday).

A year neither the package nor the configuration knows is **refused**, with a
:class:`~genai_compliance.errors.ConfigurationError` naming the year, the years known and the
two ways out (upgrade ``chinesecalendar``, or configure the year from the notice): a deadline is
never guessed from the statutory days alone, because the notice moves days and adds working
weekends that no rule predicts.

Where refusing would stop a duty that must go on (taking a public complaint, IM-15; a filing
deadline), the caller asks for the **bound** instead (``unknown="bound"``): every day of the
unknown year counts as a working day, which gives the earliest possible deadline (and the
largest possible count of days late) — never on the unsafe side of the true answer, and
marked as not official (``covers_span``) so it can be shown as provisional.

.. versionchanged:: 0.1
   Holidays come from ``chinese-calendar`` instead of a hand-kept table; a year the calendar
   does not know is refused instead of being counted Monday–Friday (or guessed, as 2027 was).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from .errors import ConfigurationError, UnknownCalendarYear

#: what a count does on reaching a year the calendar does not know: refuse, or give the
#: safe bound (every day of that year counted as a working day)
Unknown = Literal["refuse", "bound"]

__all__ = [
    "DEFAULT_CALENDAR",
    "HOLIDAY_SOURCES",
    "Unknown",
    "WorkingCalendar",
    "add_working_days",
    "package_years",
]

#: the notice behind a year, where we checked it against the package (shown in sources)
_NOTICES: dict[int, str] = {
    2025: "国办发明电〔2024〕12号 (2024-11-12)",
    2026: "国办发明电〔2025〕7号 (2025-11-04)",
}

_Row = tuple[frozenset[dt.date], frozenset[dt.date]]


@functools.cache
def _package() -> tuple[str, dict[int, _Row]]:
    """(version, year -> (days off, adjusted working days)) from ``chinese-calendar``."""
    try:
        import chinese_calendar  # type: ignore[import-untyped]
    except ImportError as exc:  # a core dependency; say how to get it back
        raise ConfigurationError(
            "the working-day calendar needs the chinesecalendar package, which is not "
            "installed; run `pip install chinesecalendar` (it is a dependency of "
            "genai-compliance, so reinstalling genai-compliance also brings it)",
            field="calendar", value="chinesecalendar") from exc
    version = str(getattr(chinese_calendar, "__version__", "unknown"))
    holidays: dict[int, set[dt.date]] = {}
    workdays: dict[int, set[dt.date]] = {}
    for day in chinese_calendar.holidays:
        holidays.setdefault(day.year, set()).add(day)
    for day in chinese_calendar.workdays:
        workdays.setdefault(day.year, set()).add(day)
    table = {year: (frozenset(holidays[year]), frozenset(workdays.get(year, ())))
             for year in sorted(holidays)}
    return version, table


def package_years() -> frozenset[int]:
    """The years the installed ``chinese-calendar`` knows."""
    return frozenset(_package()[1])


class _Sources(Mapping[int, str]):
    """Year -> where its days come from; read from the package on first use."""

    def _data(self) -> dict[int, str]:
        version, table = _package()
        return {year: f"chinese-calendar {version}"
                      + (f", checked against {_NOTICES[year]}" if year in _NOTICES else "")
                for year in table}

    def __getitem__(self, year: int) -> str:
        return self._data()[year]

    def __iter__(self) -> Iterator[int]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return f"HOLIDAY_SOURCES({self._data()!r})"


#: year -> where its row comes from (the package version, and the notice where we checked it)
HOLIDAY_SOURCES: Mapping[int, str] = _Sources()


class WorkingCalendar:
    """Which days are working days on the Chinese calendar (IM-15, ARP-24 deadlines).

    :param extra_holidays: days off to add (e.g. a provincial holiday).
    :param extra_workdays: adjusted working weekend days to add.
    :param years: whole years replacing the package's rows, or adding years it does not know:
        ``{2027: (holidays, workdays)}`` with every day off of the year (weekends inside a break
        included) and its adjusted working weekend days, from the State Council notice.

    A day in a year that is neither in the package nor in ``years`` raises
    :class:`~genai_compliance.errors.ConfigurationError` (``field="calendar"``, ``.year``):
    the calendar refuses to guess. Extra dates alone do not make a year known: they answer
    for themselves only (a configured holiday is a day off whatever the notice says).
    """

    def __init__(self, extra_holidays: Iterable[dt.date | str] = (),
                 extra_workdays: Iterable[dt.date | str] = (), *,
                 years: Mapping[int, tuple[Iterable[dt.date | str],
                                           Iterable[dt.date | str]]] | None = None) -> None:
        self._extra_holidays = frozenset(_as_dates(extra_holidays, "holidays"))
        self._extra_workdays = frozenset(_as_dates(extra_workdays, "workdays"))
        self._configured: dict[int, _Row] = {}
        for year, (hol, work) in (years or {}).items():
            if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 9999:
                raise ConfigurationError(f"calendar years are four-digit numbers; got {year!r}",
                                         field="calendar", value=year)
            row = (frozenset(_as_dates(hol, "holidays")), frozenset(_as_dates(work, "workdays")))
            stray = sorted(d.isoformat() for d in row[0] | row[1] if d.year != year)
            if stray:
                raise ConfigurationError(
                    f"[complaints.calendar.{year}] lists dates of another year: {stray}; put "
                    "each date under its own year", field=f"calendar.{year}", value=stray)
            self._configured[year] = row
        self._loaded: tuple[frozenset[dt.date], frozenset[dt.date], frozenset[int],
                            dict[int, str]] | None = None
        if self._configured or self._extra_holidays or self._extra_workdays:
            self._load()  # check the configuration now, not at the first deadline

    def _load(self) -> tuple[frozenset[dt.date], frozenset[dt.date], frozenset[int],
                             dict[int, str]]:
        if self._loaded is not None:
            return self._loaded
        shipped = _package()[1]
        table = {**shipped, **self._configured}
        sources = {year: HOLIDAY_SOURCES[year] for year in shipped}
        sources.update({year: "configured" for year in self._configured})
        holidays = set(self._extra_holidays)
        workdays = set(self._extra_workdays)
        for hol, work in table.values():
            holidays |= hol
            workdays |= work
        both = holidays & workdays
        if both:
            shown = sorted(d.isoformat() for d in both)
            raise ConfigurationError(
                f"{shown} are listed both as holidays and as working days; keep each date in "
                "one list", field="holidays", value=shown)
        self._loaded = (frozenset(holidays), frozenset(workdays), frozenset(table), sources)
        return self._loaded

    @property
    def holidays(self) -> frozenset[dt.date]:
        """Every day off of every known year (weekends inside a break included)."""
        return self._load()[0]

    @property
    def workdays(self) -> frozenset[dt.date]:
        """Every adjusted working weekend day of every known year."""
        return self._load()[1]

    @property
    def years(self) -> frozenset[int]:
        """The years this calendar can count in: the package's and the configured ones."""
        return self._load()[2]

    @property
    def official_years(self) -> frozenset[int]:
        """Same as :attr:`years`: every year counted comes from a notice (package or config)."""
        return self.years

    @property
    def sources(self) -> dict[int, str]:
        """Year -> ``"chinese-calendar <version>"`` or ``"configured"``."""
        return dict(self._load()[3])

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> WorkingCalendar:
        """Build from ``[complaints]``: ``holidays`` / ``workdays`` (extra dates) and
        ``[complaints.calendar.YEAR] holidays = [...], workdays = [...]`` (a whole year)."""
        years: dict[int, tuple[list[str], list[str]]] = {}
        for year, row in dict(settings.get("calendar", {})).items():
            if not str(year).isdigit() or len(str(year)) != 4 or not isinstance(row, Mapping):
                raise ConfigurationError(
                    f"[complaints.calendar] keys are four-digit years holding holidays/workdays "
                    f"lists; got {year!r}", field="complaints.calendar", value=year)
            years[int(year)] = (list(row.get("holidays", [])), list(row.get("workdays", [])))
        return cls(settings.get("holidays", ()), settings.get("workdays", ()), years=years)

    def _refuse(self, day: dt.date) -> UnknownCalendarYear:
        known = sorted(self.years)
        version, shipped = _package()
        span = f"{min(shipped)}–{max(shipped)}" if shipped else "no year"
        configured = sorted(self._configured)
        extra = f" plus configured {configured}" if configured else ""
        return UnknownCalendarYear(
            f"no working-day calendar for {day.year} (needed for {day.isoformat()}): "
            f"chinese-calendar {version} knows {span}{extra}, and a deadline is not guessed. "
            f"Upgrade chinesecalendar once a release covers {day.year}, or configure the year "
            f"from the State Council notice: [complaints.calendar.{day.year}] holidays = "
            "[every day off], workdays = [adjusted working weekends] (see docs/training.md, "
            "Working-day calendar)", field="calendar", value=day.year, year=day.year,
            known_years=known)

    def is_working_day(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day. A date listed as a holiday or working day is
        answered from its list; any other day of a year the calendar does not know is
        refused."""
        return self._counts(day, "refuse")

    def _counts(self, day: dt.date, unknown: Unknown) -> bool:
        """:meth:`is_working_day`, except that in ``"bound"`` mode a day of an unknown year
        counts as a working day (every day of it could be one: the bound never falls after
        the true answer's side that matters; see :meth:`add` and :meth:`between`)."""
        holidays, workdays, years, _ = self._load()
        if day in workdays:
            return True
        if day in holidays:
            return False
        if day.year not in years:
            if unknown == "bound":
                return True
            raise self._refuse(day)
        return day.weekday() < 5

    def covers(self, day: dt.date) -> bool:
        """Whether ``day``'s year is known (from the package or configured)."""
        return day.year in self.years

    def covers_span(self, start: dt.date, end: dt.date) -> bool:
        """Whether every year from ``start`` to ``end`` is known (an exact count)."""
        lo, hi = sorted((start.year, end.year))
        return all(y in self.years for y in range(lo, hi + 1))

    def add(self, start: dt.date, days: int, *, unknown: Unknown = "refuse") -> dt.date:
        """The ``days``-th working day after ``start`` (``start`` itself not counted).

        When the count reaches a year the calendar does not know, ``unknown="refuse"``
        (the default) raises ConfigurationError; ``unknown="bound"`` counts every day of that
        year as a working day, which gives the *earliest possible* deadline — never later
        than the true one, so a duty met by it is met (nothing is guessed; check
        :meth:`covers_span` to tell a bound from an exact answer)."""
        if days < 0:
            raise ConfigurationError("a deadline needs a non-negative number of working days",
                                     field="days", value=days)
        day, left = start, days
        while left > 0:
            day += dt.timedelta(days=1)
            if self._counts(day, unknown):
                left -= 1
        return day

    def between(self, start: dt.date, end: dt.date, *, unknown: Unknown = "refuse") -> int:
        """Working days after ``start`` up to and including ``end`` (0 when ``end <=
        start``): ``add(start, between(start, end)) <= end``. With ``unknown="bound"``, the
        days of an unknown year all count: the *largest possible* count (e.g. of working
        days late)."""
        n, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            n += self._counts(day, unknown)
        return n


def _as_dates(items: Iterable[dt.date | str], what: str) -> list[dt.date]:
    out: list[dt.date] = []
    if isinstance(items, str | bytes):
        raise ConfigurationError(f"{what} is a list of dates (YYYY-MM-DD), got one string "
                                 f"{items!r}; write [{items!r}]", field=what, value=items)
    for item in items:
        if isinstance(item, dt.datetime):
            out.append(item.date())
            continue
        if isinstance(item, dt.date):
            out.append(item)
            continue
        try:
            out.append(dt.date.fromisoformat(str(item)))
        except ValueError as exc:
            raise ConfigurationError(f"{what}: {item!r} is not a date (YYYY-MM-DD)",
                                     field=what, value=item) from exc
    return out


#: the calendar of ``chinese-calendar`` with nothing configured (loaded on first use)
DEFAULT_CALENDAR = WorkingCalendar()


def add_working_days(start: dt.date, days: int, *, unknown: Unknown = "refuse") -> dt.date:
    """``days`` working days after ``start`` on the default Chinese calendar (see
    :meth:`WorkingCalendar.add` for ``unknown``)."""
    return DEFAULT_CALENDAR.add(start, days, unknown=unknown)
