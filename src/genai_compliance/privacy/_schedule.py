"""Deadlines as data: :class:`DueItem` and the pure date arithmetic of the audit schedule
(PI-AUDIT) — no I/O, no clock; the service passes ``now``.

A date deadline is due by the end of its local day: :func:`end_of_day` turns it into the
last instant of that day, so "overdue" is one comparison, ``now > due``, for date and hour
deadlines alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import attrs

__all__ = ["STATUSES", "DueItem", "Status", "add_years", "end_of_day", "next_audit_due",
           "status"]

Status = Literal["ok", "due-soon", "overdue"]
#: the statuses of a :class:`DueItem`, best first
STATUSES: tuple[Status, ...] = ("ok", "due-soon", "overdue")


@attrs.frozen
class DueItem:
    """One deadline of the privacy duty, for the report and the dossier.

    :ivar what: what is due, in a sentence.
    :ivar rule: the rule ID it rests on (``PI-AUDIT``, ``PI-57`` …).
    :ivar due: the instant after which it is late (UTC; ``None``: "immediately" — the law
        gives no figure, see ``note``).
    :ivar status: ``ok`` (done, or not due within the warning window), ``due-soon``
        or ``overdue`` (``now > due`` and not done).
    :ivar ref: the breach, audit or activity id it concerns.
    :ivar note: the figure and its source, or why there is none.
    """

    what: str
    rule: str
    due: dt.datetime | None
    status: Status
    ref: str | None = None
    note: str = ""
    due_date: dt.date | None = None

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "rule": self.rule,
                "due": self.due.isoformat() if self.due else None,
                "due_date": self.due_date.isoformat() if self.due_date else None,
                "status": self.status, "ref": self.ref, "note": self.note}


def add_years(day: dt.date, years: int) -> dt.date:
    """``day`` plus whole ``years``; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February -> 28 February
        return day.replace(year=day.year + years, day=28)


def end_of_day(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The last instant of local ``day`` in ``tz``, in UTC."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=tz).astimezone(dt.UTC)


def next_audit_due(last: dt.date | None, *, interval_years: int,
                   first_due: dt.date) -> dt.date:
    """The date the next periodic audit is due: ``interval_years`` after the last one
    completed, or ``first_due`` when none is on record (PI-AUDIT). Never before ``last``."""
    if last is None:
        return first_due
    return add_years(last, interval_years)


def status(due: dt.datetime | None, now: dt.datetime, *, done: bool,
           soon: dt.timedelta) -> Status:
    """``ok`` when done; ``overdue`` iff ``now > due``; ``due-soon`` within ``soon`` of the
    deadline, or always for an "immediately" duty (``due is None``) not yet done."""
    if done:
        return "ok"
    if due is None:
        return "due-soon"
    if now > due:
        return "overdue"
    return "due-soon" if due - now <= soon else "ok"
