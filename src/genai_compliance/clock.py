"""The one place that reads the time.

UTC inside the SDK; local civil time (``Asia/Shanghai`` by default) only for curfews, daily
quotas and working-day deadlines. Every time-dependent call takes a :class:`Clock`, so tests
freeze and move time instead of sleeping (STYLE 12).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigurationError

__all__ = ["SHANGHAI", "Clock", "FrozenClock", "SystemClock", "local_midnight_after", "zone"]

SHANGHAI = ZoneInfo("Asia/Shanghai")


@runtime_checkable
class Clock(Protocol):
    """A source of time: ``now()`` is timezone-aware UTC, ``monotonic()`` in seconds."""

    def now(self) -> dt.datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def __repr__(self) -> str:
        return "SystemClock()"


class FrozenClock:
    """A clock that moves only when told to; thread-safe.

    >>> clock = FrozenClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    >>> clock.advance(90)
    >>> clock.now().minute
    1
    """

    def __init__(self, start: dt.datetime | str | None = None) -> None:
        if start is None:
            start = dt.datetime(2026, 1, 1, 4, 0, tzinfo=dt.UTC)
        self._now = _aware(start)
        self._mono = 1_000.0
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float = 0.0, **delta: float) -> None:
        """Move forward by ``seconds`` (plus any ``timedelta`` keywords)."""
        step = dt.timedelta(seconds=seconds, **delta)
        if step < dt.timedelta(0):
            raise ConfigurationError(
                f"FrozenClock.advance needs a step >= 0, got {step}; use set() to go back",
                field="seconds",
                value=step,
            )
        with self._lock:
            self._now += step
            self._mono += step.total_seconds()

    def set(self, when: dt.datetime | str) -> None:
        """Jump to ``when`` (naive datetimes are read as UTC; strings as ISO 8601)."""
        new = _aware(when)
        with self._lock:
            self._mono += max(0.0, (new - self._now).total_seconds())
            self._now = new

    def __repr__(self) -> str:
        return f"FrozenClock({self._now.isoformat()!r})"


def _aware(value: dt.datetime | str) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def zone(name: str) -> ZoneInfo:
    """Return the IANA zone ``name`` or raise :class:`ConfigurationError`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"time zone {name!r} is not an IANA zone name; use e.g. 'Asia/Shanghai'",
            field="timezone",
            value=name,
        ) from exc


def local_midnight_after(when: dt.datetime, tz: dt.tzinfo = SHANGHAI) -> dt.datetime:
    """The first local midnight strictly after ``when``, returned in UTC."""
    local = when.astimezone(tz)
    nxt = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return nxt.astimezone(dt.UTC)
