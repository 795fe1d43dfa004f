"""Public complaints and reports (IM-15): intake, acknowledgement id, statuses, a published
deadline in working days, overdue alerts and statistics; every step a ledger record.

Statuses (``TRANSITIONS`` lists the allowed moves)::

    received ─► acknowledged ─► investigating ─► replied ─► closed
        │             │               ▲   │          │
        │             └───────────────┼───┼──────────┤ (replied may be reopened)
        └─────────────► withdrawn ◄───┴───┘

``received``, ``acknowledged`` and ``investigating`` are *open*: the deadline runs. A reply
needs its text. The deadline is the ``response_working_days``-th working day after the day
of receipt (Asia/Shanghai by default), on :class:`WorkingCalendar`; default 15 (the CAC App
assessment rule for a provider that published no shorter limit, §7).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import statistics
from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs

from ..clock import SHANGHAI, Clock, SystemClock
from ..errors import ConfigurationError, RecordNotFound
from ..ledger import Ledger
from ..rules import implements
from ..schemas import validate
from ..stores import SQLDatabase
from ..subject import Subject
from ..workdays import DEFAULT_CALENDAR, WorkingCalendar

__all__ = [
    "COMPLAINT_STATUSES",
    "OPEN_STATUSES",
    "TRANSITIONS",
    "Complaint",
    "Complaints",
]

COMPLAINT_STATUSES: tuple[str, ...] = ("received", "acknowledged", "investigating", "replied",
                                       "closed", "withdrawn")
OPEN_STATUSES: frozenset[str] = frozenset({"received", "acknowledged", "investigating"})
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("acknowledged", "investigating", "replied", "withdrawn"),
    "acknowledged": ("investigating", "replied", "withdrawn"),
    "investigating": ("replied", "withdrawn"),
    "replied": ("closed", "investigating"),
    "closed": (),
    "withdrawn": (),
}
_TOKEN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")

_DDL = [
    "CREATE TABLE IF NOT EXISTS gc_incident_complaints (id TEXT PRIMARY KEY, n INTEGER NOT NULL, "
    "channel TEXT NOT NULL, category TEXT NOT NULL, content_ref TEXT, contact TEXT, "
    "text TEXT NOT NULL, status TEXT NOT NULL, received TEXT NOT NULL, due TEXT NOT NULL, "
    "updated TEXT NOT NULL, reply TEXT, replied_at TEXT, alerted_at TEXT)",
    "CREATE INDEX IF NOT EXISTS gc_incident_complaints_status ON "
    "gc_incident_complaints (status, due)",
]
_COLUMNS = ("id, channel, category, content_ref, contact, text, status, received, due, "
            "updated, reply, replied_at, alerted_at")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@attrs.frozen
class Complaint:
    """One complaint or report; ``id`` is the acknowledgement id given to the complainant."""

    id: str
    channel: str
    category: str
    content_ref: str | None
    contact: str | None
    text: str
    status: str
    received: dt.datetime
    due: dt.date
    updated: dt.datetime
    reply: str | None = None
    replied_at: dt.datetime | None = None
    alerted_at: dt.datetime | None = None

    @property
    def anonymous(self) -> bool:
        return self.contact is None

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES

    def overdue(self, today: dt.date) -> bool:
        """Open and past its published deadline on local date ``today``."""
        return self.open and today > self.due

    def to_json(self, *, personal: bool = False) -> dict[str, Any]:
        """The document of ``complaint.schema.json``. Contact and text are left out
        unless ``personal`` (reports to the authority carry counts, not people)."""
        def iso(t: dt.datetime | None) -> str | None:
            return t.isoformat() if t else None

        doc: dict[str, Any] = {
            "schema": "genai-compliance/complaint/1", "id": self.id, "channel": self.channel,
            "category": self.category, "content_ref": self.content_ref,
            "anonymous": self.anonymous, "status": self.status,
            "received": self.received.isoformat(), "due": self.due.isoformat(),
            "updated": self.updated.isoformat(), "replied_at": iso(self.replied_at),
            "text_sha256": _sha(self.text)}
        if personal:
            doc.update(contact=self.contact, text=self.text, reply=self.reply)
        return doc


@implements("IM-15")
class Complaints:
    """The complaint desk (IM-15) on SQLite or PostgreSQL.

    :param db: a :class:`SQLDatabase` or its URI.
    :param response_working_days: the published time limit (default 15 working days).
    """

    def __init__(self, db: SQLDatabase | str, ledger: Ledger, *, clock: Clock | None = None,
                 tz: dt.tzinfo = SHANGHAI, calendar: WorkingCalendar = DEFAULT_CALENDAR,
                 response_working_days: int = 15) -> None:
        if not isinstance(response_working_days, int) or response_working_days < 1:
            raise ConfigurationError("[complaints] response_working_days must be a whole "
                                     f"number >= 1, got {response_working_days!r}",
                                     field="response_working_days",
                                     value=response_working_days)
        self.db = SQLDatabase(db) if isinstance(db, str) else db
        self.db.executescript(_DDL)
        self.ledger = ledger
        self.clock: Clock = clock or SystemClock()
        self.tz = tz
        self.calendar = calendar
        self.response_working_days = response_working_days

    def _today(self) -> dt.date:
        return self.clock.now().astimezone(self.tz).date()

    @staticmethod
    def _row(row: tuple[Any, ...]) -> Complaint:
        def when(v: Any) -> dt.datetime | None:
            return dt.datetime.fromisoformat(v) if v else None

        received = dt.datetime.fromisoformat(row[7])
        updated = dt.datetime.fromisoformat(row[9])
        return Complaint(row[0], row[1], row[2], row[3], row[4], row[5], row[6], received,
                         dt.date.fromisoformat(row[8]), updated, row[10], when(row[11]),
                         when(row[12]))

    # -- intake ------------------------------------------------------------------------
    def file(self, *, channel: str, category: str, content_ref: str | None = None,
             contact: str | None = None, text: str = "",
             subject: Subject | str | None = None) -> Complaint:
        """Take a complaint or report; anonymous when ``contact`` is None. Returns it with
        its acknowledgement id (``C-YYYYMMDD-XXXXXXXX``) and published deadline."""
        for name, value in (("channel", channel), ("category", category)):
            if not isinstance(value, str) or not _TOKEN.match(value):
                raise ConfigurationError(
                    f"a complaint's {name} is a short lowercase token such as 'web', 'app', "
                    f"'email', 'phone' (channel) or 'content', 'privacy', 'minors' "
                    f"(category); got {value!r}", field=name, value=value)
        if contact is not None and not contact.strip():
            contact = None
        now = self.clock.now()
        local = now.astimezone(self.tz)
        cid = f"C-{local:%Y%m%d}-{secrets.token_hex(4).upper()}"
        # IM-15: a complaint is always taken. Past the calendar's known years the deadline
        # is the earliest possible one (every unknown day counted), marked not official.
        due = self.calendar.add(local.date(), self.response_working_days, unknown="bound")
        official = self.calendar.covers_span(local.date(), due)
        with self.db.transaction(write=True) as tx:
            tx.execute(f"INSERT INTO gc_incident_complaints(n, {_COLUMNS}) VALUES ((SELECT "
                       "COALESCE(MAX(n), 0) + 1 FROM gc_incident_complaints), ?, ?, ?, ?, ?, "
                       "?, 'received', ?, ?, ?, NULL, NULL, NULL)",
                       (cid, channel, category, content_ref, contact, text, now.isoformat(),
                        due.isoformat(), now.isoformat()))
        self.ledger.append("complaint.received", {
            "complaint_id": cid, "status": "received", "channel": channel,
            "category": category, "content_ref": content_ref, "anonymous": contact is None,
            "due": due.isoformat(), "calendar_official": official,
            **({} if official else {"due_basis": "earliest possible: the working-day "
                                    "calendar does not know every year up to the due date"}),
            "text_sha256": _sha(text), "rules": ["IM-15"]}, subject=subject)
        return self.get(cid)

    def get(self, cid: str) -> Complaint:
        """The complaint with acknowledgement id ``cid``."""
        with self.db.transaction() as tx:
            row = tx.execute(f"SELECT {_COLUMNS} FROM gc_incident_complaints WHERE id = ?",
                             (cid,)).fetchone()
        if row is None:
            raise RecordNotFound(f"no complaint {cid!r}; ids look like C-20260302-1A2B3C4D",
                                 value=cid)
        return self._row(row)

    def update(self, cid: str, status: str, *, reply: str | None = None,
               note: str = "") -> Complaint:
        """Move a complaint to ``status`` (see ``TRANSITIONS``); ``replied`` needs ``reply``."""
        if status not in COMPLAINT_STATUSES:
            raise ConfigurationError(f"unknown complaint status {status!r}; statuses: "
                                     f"{', '.join(COMPLAINT_STATUSES)}", field="status",
                                     value=status)
        if status == "replied" and not (reply and reply.strip()):
            raise ConfigurationError("a reply needs its text: update(id, 'replied', "
                                     "reply='…')", field="reply", value=reply)
        now = self.clock.now()
        lock = " FOR UPDATE" if self.db.dialect == "postgresql" else ""
        with self.db.transaction(write=True) as tx:
            row = tx.execute(f"SELECT {_COLUMNS} FROM gc_incident_complaints WHERE id = ?"
                             + lock, (cid,)).fetchone()
            if row is None:
                raise RecordNotFound(f"no complaint {cid!r}", value=cid)
            current = self._row(row)
            if status not in TRANSITIONS[current.status]:
                raise ConfigurationError(
                    f"complaint {cid} cannot go from {current.status!r} to {status!r}; "
                    f"allowed: {', '.join(TRANSITIONS[current.status]) or 'none'}",
                    field="status", value=status)
            replied_at = now.isoformat() if status == "replied" else (
                current.replied_at.isoformat() if current.replied_at else None)
            tx.execute("UPDATE gc_incident_complaints SET status = ?, updated = ?, reply = "
                       "COALESCE(?, reply), replied_at = ? WHERE id = ?",
                       (status, now.isoformat(), reply, replied_at, cid))
        local_day = now.astimezone(self.tz).date()
        self.ledger.append(f"complaint.{status}", {
            "complaint_id": cid, "status": status, "previous": current.status,
            "due": current.due.isoformat(), "late": local_day > current.due,
            "reply_sha256": _sha(reply) if reply else None, "note": note,
            "rules": ["IM-15"]})
        return self.get(cid)

    # -- listing, alerts, statistics ---------------------------------------------------
    def find(self, *, overdue: bool = False, status: str | None = None) -> list[Complaint]:
        """Complaints by time of receipt; ``overdue`` keeps the open ones past due."""
        sql = f"SELECT {_COLUMNS} FROM gc_incident_complaints"
        params: list[Any] = []
        if status is not None:
            sql += " WHERE status = ?"
            params.append(status)
        with self.db.transaction() as tx:
            items = [self._row(r) for r in tx.execute(sql + " ORDER BY n, id",
                                                      params).fetchall()]
        if overdue:
            today = self._today()
            items = [c for c in items if c.overdue(today)]
        return items

    def due_soon(self, working_days: int = 2) -> list[Complaint]:
        """Open complaints whose deadline is within ``working_days`` working days."""
        today = self._today()
        horizon = self.calendar.add(today, working_days, unknown="bound")
        return [c for c in self.find() if c.open and today <= c.due <= horizon]

    def overdue_alerts(self) -> list[Complaint]:
        """Overdue complaints not alerted before: each gets one ``complaint.overdue`` record
        (call this from a scheduler; the records are the alert trail)."""
        now = self.clock.now()
        today = now.astimezone(self.tz).date()
        fresh: list[Complaint] = []
        with self.db.transaction(write=True) as tx:
            rows = tx.execute(f"SELECT {_COLUMNS} FROM gc_incident_complaints WHERE "
                              "alerted_at IS NULL AND due < ?",
                              (today.isoformat(),)).fetchall()
            for row in rows:
                c = self._row(row)
                if c.overdue(today):
                    tx.execute("UPDATE gc_incident_complaints SET alerted_at = ? WHERE id = ?"
                               " AND alerted_at IS NULL", (now.isoformat(), c.id))
                    fresh.append(attrs.evolve(c, alerted_at=now))
        for c in fresh:
            self.ledger.append("complaint.overdue", {
                "complaint_id": c.id, "status": c.status, "due": c.due.isoformat(),
                "working_days_late": self.calendar.between(c.due, today, unknown="bound"),
                "calendar_official": self.calendar.covers_span(c.due, today),
                "rules": ["IM-15"]})
        return fresh

    def stats(self, *, since: dt.datetime | None = None,
              until: dt.datetime | None = None) -> dict[str, Any]:
        """Counts for complaints received in ``[since, until)``: by status, channel and
        category, anonymous, overdue, replies on time and late, median working days to
        reply."""
        items = [c for c in self.find() if (since is None or c.received >= since)
                 and (until is None or c.received < until)]
        today = self._today()
        replied = [c for c in items if c.replied_at is not None]
        on_time = [c for c in replied
                   if c.replied_at is not None
                   and c.replied_at.astimezone(self.tz).date() <= c.due]
        days = [self.calendar.between(c.received.astimezone(self.tz).date(),
                                      c.replied_at.astimezone(self.tz).date(), unknown="bound")
                for c in replied if c.replied_at is not None]
        return {
            "total": len(items),
            "by_status": dict(Counter(c.status for c in items)),
            "by_channel": dict(Counter(c.channel for c in items)),
            "by_category": dict(Counter(c.category for c in items)),
            "anonymous": sum(c.anonymous for c in items),
            "open": sum(c.open for c in items),
            "overdue": sum(c.overdue(today) for c in items),
            "replied": len(replied),
            "replied_on_time": len(on_time),
            "replied_late": len(replied) - len(on_time),
            "median_working_days_to_reply": (statistics.median(days) if days else None),
            "response_working_days": self.response_working_days,
        }

    def export(self, *, personal: bool = False) -> list[dict[str, Any]]:
        """Every complaint as a ``complaint.schema.json`` document (validated)."""
        docs = [c.to_json(personal=personal) for c in self.find()]
        for doc in docs:
            validate(doc, "complaint", what=f"complaint {doc['id']}")
        return docs


def calendar_from_settings(settings: Mapping[str, Any]) -> WorkingCalendar:
    """The calendar of ``[complaints]`` (the default when nothing is configured)."""
    if not any(k in settings for k in ("holidays", "workdays", "calendar")):
        return DEFAULT_CALENDAR
    return WorkingCalendar.from_settings(settings)

