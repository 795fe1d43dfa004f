"""Illegal content, illegal use, complaints, security incidents and authority reports.

* IM-14a: on illegal content, stop generation and transmission, remove it, rectify through
  model optimisation (cases queued for retraining) and report — :meth:`Incidents.handle_block`.
* IM-14b / SR-14: on illegal use, warn → limit functions → suspend → terminate, keep records,
  report — :class:`EscalationPolicy`, :meth:`Incidents.register_input`, :class:`IllegalUseCheck`.
* IM-15: complaints with a published time limit (default 15 working days) and overdue alerts.
* CSL-INC: security incidents reported within 1 hour (critical infrastructure) or 4 hours.

State lives in SQL tables (SQLite or PostgreSQL, one transaction per change, so replicas
agree); every step is a ledger record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any

import attrs

from ..checks import CallContext, Check, Outcome
from ..clock import SHANGHAI, Clock, SystemClock
from ..errors import ConfigurationError, ContentBlocked, RecordNotFound, ServiceRestricted
from ..ledger import Ledger
from ..rules import implements
from ..stores import SQLDatabase
from ..subject import Subject
from ._calendar import DEFAULT_CALENDAR, WorkingCalendar

__all__ = [
    "COMPLAINT_STATUSES",
    "LEVELS",
    "Complaint",
    "EscalationPolicy",
    "IllegalUseCheck",
    "Incidents",
    "SecurityIncident",
    "SubjectStanding",
]

LEVELS = ("none", "warned", "limited", "suspended", "terminated")
COMPLAINT_STATUSES = ("received", "acknowledged", "investigating", "replied", "closed")
_NEXT: dict[str, tuple[str, ...]] = {
    "received": ("acknowledged", "investigating", "replied", "closed"),
    "acknowledged": ("investigating", "replied", "closed"),
    "investigating": ("replied", "closed"),
    "replied": ("closed", "investigating"),
    "closed": (),
}

_DDL = [
    "CREATE TABLE IF NOT EXISTS gc_standing (subject TEXT PRIMARY KEY, level TEXT NOT NULL, "
    "consecutive INTEGER NOT NULL, day TEXT NOT NULL, day_count INTEGER NOT NULL, "
    "suspensions INTEGER NOT NULL, until TEXT, appeal TEXT)",
    "CREATE TABLE IF NOT EXISTS gc_complaints (id TEXT PRIMARY KEY, channel TEXT NOT NULL, "
    "category TEXT NOT NULL, content_ref TEXT, contact TEXT, status TEXT NOT NULL, "
    "received TEXT NOT NULL, due TEXT NOT NULL, updated TEXT NOT NULL, reply TEXT)",
    "CREATE TABLE IF NOT EXISTS gc_retraining (id TEXT PRIMARY KEY, risk TEXT, "
    "sha256 TEXT NOT NULL, content TEXT, at TEXT NOT NULL, expires TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gc_security_incidents (id TEXT PRIMARY KEY, body TEXT NOT NULL)",
]


@attrs.frozen
class EscalationPolicy:
    """Thresholds of the illegal-use ladder (defaults after TC260-003, SR-14 [K])."""

    warn_after: int = 1
    limit_after: int = 2
    suspend_consecutive: int = 3
    suspend_daily: int = 5
    suspend_days: int = 7
    terminate_after_suspensions: int = 3
    limited_modalities: tuple[str, ...] = ("image", "audio", "video")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> EscalationPolicy:
        known = {a.name for a in attrs.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigurationError(f"unknown [incidents.escalation] keys {unknown}; known: "
                                     f"{', '.join(sorted(known))}", field="escalation",
                                     value=unknown)
        data = dict(settings)
        if "limited_modalities" in data:
            data["limited_modalities"] = tuple(data["limited_modalities"])
        return cls(**data)


@attrs.frozen
class SubjectStanding:
    """A subject's place on the ladder."""

    level: str
    consecutive: int
    day: str
    day_count: int
    suspensions: int
    until: dt.datetime | None
    appeal: str | None


@attrs.frozen
class Complaint:
    id: str
    channel: str
    category: str
    content_ref: str | None
    contact: str | None
    status: str
    received: dt.datetime
    due: dt.date
    updated: dt.datetime
    reply: str | None

    def overdue(self, today: dt.date) -> bool:
        return self.status not in ("replied", "closed") and today > self.due

    def to_json(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data.update(received=self.received.isoformat(), due=self.due.isoformat(),
                    updated=self.updated.isoformat(), anonymous=self.contact is None)
        return data


@attrs.frozen
class SecurityIncident:
    """A network-security incident and when its report is due (CSL-INC)."""

    id: str
    title: str
    severity: str
    critical_infrastructure: bool
    detected_at: dt.datetime
    due: dt.datetime
    reported_at: dt.datetime | None = None

    def overdue(self, now: dt.datetime) -> bool:
        return self.reported_at is None and now > self.due

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "severity": self.severity,
                "critical_infrastructure": self.critical_infrastructure,
                "detected_at": self.detected_at.isoformat(), "due": self.due.isoformat(),
                "reported_at": self.reported_at.isoformat() if self.reported_at else None}


def _sha(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


@implements("IM-14a", "IM-14b", "IM-15", "SR-14", "CSL-INC")
class Incidents:
    """Content handling, the illegal-use ladder, complaints and incident timers."""

    def __init__(self, db: SQLDatabase | str, ledger: Ledger, *, clock: Clock | None = None,
                 tz: dt.tzinfo = SHANGHAI, policy: EscalationPolicy | None = None,
                 calendar: WorkingCalendar = DEFAULT_CALENDAR,
                 complaint_working_days: int = 15, retention_days: int = 184) -> None:
        self.db = SQLDatabase(db) if isinstance(db, str) else db
        self.db.executescript(_DDL)
        self.ledger = ledger
        self.clock: Clock = clock or SystemClock()
        self.tz = tz
        self.policy = policy or EscalationPolicy()
        self.calendar = calendar
        self.complaint_working_days = complaint_working_days
        self.retention = dt.timedelta(days=retention_days)

    @classmethod
    def from_compliance(cls, compliance: Any) -> Incidents:
        """Tables in ``stores.incidents_db`` or the ledger's database; ``[incidents]`` and
        ``[complaints]`` settings."""
        settings: Mapping[str, Any] = compliance.settings.get("incidents", {})
        complaints: Mapping[str, Any] = compliance.settings.get("complaints", {})
        uri = compliance.store_uris.get("incidents_db")
        return cls(SQLDatabase(uri) if uri else compliance.ledger.db, compliance.ledger,
                   clock=compliance.clock, tz=compliance.tz,
                   policy=EscalationPolicy.from_settings(settings.get("escalation", {})),
                   calendar=WorkingCalendar(complaints.get("holidays", ()),
                                            complaints.get("workdays", ())),
                   complaint_working_days=int(complaints.get("response_working_days", 15)),
                   retention_days=int(settings.get("content_retention_days", 184)))

    def _today(self) -> dt.date:
        return self.clock.now().astimezone(self.tz).date()

    # -- illegal content (IM-14a) ----------------------------------------------------------
    def handle_block(self, *, risk: str | None, content: str, where: str,
                     subject: Subject | None = None, keep_content: bool = True,
                     detail: Mapping[str, Any] | None = None) -> str:
        """Record the handling of blocked content and queue it for model optimisation.

        The content itself is kept only until the retention period ends
        (:meth:`purge_expired`); the record holds its hash. Returns the case id.
        """
        now = self.clock.now()
        case = "case-" + secrets.token_hex(8)
        digest = _sha(content)
        with self.db.transaction(write=True) as tx:
            tx.execute("INSERT INTO gc_retraining(id, risk, sha256, content, at, expires) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (case, risk, digest, content if keep_content else None, now.isoformat(),
                        (now + self.retention).isoformat()))
        self.ledger.append("incident.illegal_content", {
            "case": case, "risk": risk, "where": where, "sha256": digest,
            "steps": ["stop_generation", "stop_transmission", "removed",
                      "queued_for_optimisation"], **dict(detail or {})}, subject=subject)
        return case

    def export_retraining_cases(self) -> list[dict[str, Any]]:
        """Cases queued for model optimisation (content where still retained)."""
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT id, risk, sha256, content, at FROM gc_retraining ORDER BY "
                              "at").fetchall()
        return [dict(zip(("case", "risk", "sha256", "content", "at"), r, strict=True))
                for r in rows]

    def purge_expired(self) -> int:
        """Drop retained content past its retention period (the hashes stay)."""
        now = self.clock.now().isoformat()
        with self.db.transaction(write=True) as tx:
            n = len(tx.execute("SELECT id FROM gc_retraining WHERE expires < ? AND content IS "
                               "NOT NULL", (now,)).fetchall())
            tx.execute("UPDATE gc_retraining SET content = NULL WHERE expires < ?", (now,))
        if n:
            self.ledger.append("incident.content_purged", {"cases": n})
        return n

    # -- illegal use (IM-14b, SR-14) ---------------------------------------------------
    def _load(self, tx: Any, ref: str) -> SubjectStanding:
        lock = " FOR UPDATE" if self.db.dialect == "postgresql" else ""
        row = tx.execute("SELECT level, consecutive, day, day_count, suspensions, until, appeal"
                         f" FROM gc_standing WHERE subject = ?{lock}", (ref,)).fetchone()
        if row is None:
            return SubjectStanding("none", 0, self._today().isoformat(), 0, 0, None, None)
        return SubjectStanding(row[0], int(row[1]), row[2], int(row[3]), int(row[4]),
                               dt.datetime.fromisoformat(row[5]) if row[5] else None, row[6])

    def _save(self, tx: Any, ref: str, s: SubjectStanding) -> None:
        tx.execute("INSERT INTO gc_standing(subject, level, consecutive, day, day_count, "
                   "suspensions, until, appeal) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                   "(subject) DO UPDATE SET level = excluded.level, consecutive = "
                   "excluded.consecutive, day = excluded.day, day_count = excluded.day_count, "
                   "suspensions = excluded.suspensions, until = excluded.until, appeal = "
                   "excluded.appeal",
                   (ref, s.level, s.consecutive, s.day, s.day_count, s.suspensions,
                    s.until.isoformat() if s.until else None, s.appeal))

    def standing(self, subject: Subject) -> SubjectStanding:
        """The subject's current standing (an expired suspension reads as ``limited``)."""
        ref = self.ledger.pseudonym(subject)
        with self.db.transaction() as tx:
            s = self._load(tx, ref)
        return self._expire(s)

    def _expire(self, s: SubjectStanding) -> SubjectStanding:
        if s.level == "suspended" and s.until is not None and self.clock.now() >= s.until:
            return attrs.evolve(s, level="limited", until=None)
        return s

    def register_input(self, subject: Subject, *, illegal: bool,
                       risk: str | None = None) -> SubjectStanding:
        """Count one input of the subject; illegal or inducing inputs climb the ladder."""
        ref = self.ledger.pseudonym(subject)
        p = self.policy
        today = self._today().isoformat()
        if not illegal:  # the common case: nothing to reset, no write lock taken
            with self.db.transaction() as tx:
                current = self._expire(self._load(tx, ref))
            if current.consecutive == 0:
                return current
        with self.db.transaction(write=True) as tx:
            old = self._expire(self._load(tx, ref))
            s = old if old.day == today else attrs.evolve(old, day=today, day_count=0)
            if not illegal:
                s = attrs.evolve(s, consecutive=0)
            else:
                s = attrs.evolve(s, consecutive=s.consecutive + 1, day_count=s.day_count + 1)
                level = s.level
                if level != "terminated":
                    if (s.consecutive >= p.suspend_consecutive
                            or s.day_count >= p.suspend_daily):
                        if s.suspensions + 1 >= p.terminate_after_suspensions:
                            level = "terminated"
                            s = attrs.evolve(s, suspensions=s.suspensions + 1, until=None)
                        elif level != "suspended":
                            level = "suspended"
                            s = attrs.evolve(s, suspensions=s.suspensions + 1,
                                             until=self.clock.now()
                                             + dt.timedelta(days=p.suspend_days),
                                             consecutive=0, day_count=0)
                    elif s.consecutive >= p.limit_after and LEVELS.index(level) < 2:
                        level = "limited"
                    elif s.consecutive >= p.warn_after and LEVELS.index(level) < 1:
                        level = "warned"
                s = attrs.evolve(s, level=level)
            self._save(tx, ref, s)
        if illegal:
            self.ledger.append("illegal_use.input", {"risk": risk, "consecutive": s.consecutive,
                                                     "day_count": s.day_count}, subject=subject)
        if s.level != old.level:
            self.ledger.append("illegal_use.action", {
                "level": s.level, "previous": old.level,
                "until": s.until.isoformat() if s.until else None,
                "rules": ["IM-14b", "SR-14"]}, subject=subject)
        return s

    def appeal(self, subject: Subject, reason: str) -> None:
        """The subject appeals the current measure (recorded; the measure stays)."""
        ref = self.ledger.pseudonym(subject)
        with self.db.transaction(write=True) as tx:
            s = self._load(tx, ref)
            if s.level == "none":
                raise ConfigurationError("there is no measure to appeal", field="level",
                                         value=s.level)
            self._save(tx, ref, attrs.evolve(s, appeal=reason[:500]))
        self.ledger.append("illegal_use.appeal", {"level": s.level, "reason_sha256":
                                                  _sha(reason)}, subject=subject)

    def decide_appeal(self, subject: Subject, *, upheld: bool, note: str = "") -> None:
        """Decide an appeal: upheld restores normal service; rejected keeps the measure."""
        ref = self.ledger.pseudonym(subject)
        with self.db.transaction(write=True) as tx:
            s = self._load(tx, ref)
            if s.appeal is None:
                raise RecordNotFound("no appeal is pending for this subject",
                                     value=subject.user_id)
            new = (SubjectStanding("none", 0, s.day, 0, max(0, s.suspensions - 1), None, None)
                   if upheld else attrs.evolve(s, appeal=None))
            self._save(tx, ref, new)
        self.ledger.append("illegal_use.appeal_decided", {"upheld": upheld, "level": new.level,
                                                          "note": note}, subject=subject)

    # -- complaints (IM-15) ------------------------------------------------------------
    def file_complaint(self, *, channel: str, category: str, content_ref: str | None = None,
                       contact: str | None = None, text: str = "") -> Complaint:
        """Take a complaint or report (anonymous when ``contact`` is None); returns it with
        its acknowledgement id and due date."""
        if not channel or not category:
            raise ConfigurationError("a complaint needs a channel and a category",
                                     field="channel", value=(channel, category))
        now = self.clock.now()
        cid = f"C-{now.astimezone(self.tz):%Y%m%d}-{secrets.token_hex(3).upper()}"
        due = self.calendar.add(now.astimezone(self.tz).date(), self.complaint_working_days)
        with self.db.transaction(write=True) as tx:
            tx.execute("INSERT INTO gc_complaints(id, channel, category, content_ref, contact, "
                       "status, received, due, updated, reply) VALUES (?, ?, ?, ?, ?, "
                       "'received', ?, ?, ?, NULL)",
                       (cid, channel, category, content_ref, contact, now.isoformat(),
                        due.isoformat(), now.isoformat()))
        self.ledger.append("complaint.received", {
            "complaint_id": cid, "channel": channel, "category": category,
            "anonymous": contact is None, "due": due.isoformat(),
            "text_sha256": _sha(text) if text else None})
        return self.complaint(cid)

    def complaint(self, cid: str) -> Complaint:
        with self.db.transaction() as tx:
            row = tx.execute("SELECT id, channel, category, content_ref, contact, status, "
                             "received, due, updated, reply FROM gc_complaints WHERE id = ?",
                             (cid,)).fetchone()
        if row is None:
            raise RecordNotFound(f"no complaint {cid!r}", value=cid)
        return Complaint(row[0], row[1], row[2], row[3], row[4], row[5],
                         dt.datetime.fromisoformat(row[6]), dt.date.fromisoformat(row[7]),
                         dt.datetime.fromisoformat(row[8]), row[9])

    def update_complaint(self, cid: str, status: str, *, reply: str | None = None) -> Complaint:
        """Move a complaint on; only forward transitions (or reopening a reply) are allowed."""
        current = self.complaint(cid)
        if status not in _NEXT.get(current.status, ()):
            raise ConfigurationError(
                f"complaint {cid} cannot go from {current.status!r} to {status!r}; allowed: "
                f"{', '.join(_NEXT[current.status]) or 'none (closed)'}", field="status",
                value=status)
        now = self.clock.now()
        with self.db.transaction(write=True) as tx:
            tx.execute("UPDATE gc_complaints SET status = ?, updated = ?, reply = COALESCE(?, "
                       "reply) WHERE id = ?", (status, now.isoformat(), reply, cid))
        done = self.complaint(cid)
        self.ledger.append(f"complaint.{status}", {
            "complaint_id": cid, "status": status, "due": done.due.isoformat(),
            "late": now.astimezone(self.tz).date() > done.due})
        return done

    def complaints(self, *, overdue: bool = False) -> list[Complaint]:
        with self.db.transaction() as tx:
            ids = [r[0] for r in tx.execute("SELECT id FROM gc_complaints ORDER BY received")
                   .fetchall()]
        items = [self.complaint(i) for i in ids]
        today = self._today()
        return [c for c in items if c.overdue(today)] if overdue else items

    def complaint_stats(self) -> dict[str, Any]:
        items = self.complaints()
        today = self._today()
        by_status: dict[str, int] = {}
        for c in items:
            by_status[c.status] = by_status.get(c.status, 0) + 1
        return {"total": len(items), "by_status": by_status,
                "overdue": sum(c.overdue(today) for c in items),
                "response_working_days": self.complaint_working_days}

    # -- security incidents (CSL-INC) ----------------------------------------------------
    def security_incident(self, title: str, *, severity: str = "relatively-major",
                          critical_infrastructure: bool = False,
                          detected_at: dt.datetime | None = None) -> SecurityIncident:
        """Open a security incident; its report is due in 1 h (CII) or 4 h."""
        detected = detected_at or self.clock.now()
        due = detected + dt.timedelta(hours=1 if critical_infrastructure else 4)
        inc = SecurityIncident("SI-" + secrets.token_hex(4), title, severity,
                               critical_infrastructure, detected, due)
        with self.db.transaction(write=True) as tx:
            tx.execute("INSERT INTO gc_security_incidents(id, body) VALUES (?, ?)",
                       (inc.id, json.dumps(inc.to_json())))
        self.ledger.append("incident.security", inc.to_json())
        return inc

    def mark_reported(self, incident_id: str) -> SecurityIncident:
        now = self.clock.now()
        with self.db.transaction(write=True) as tx:
            row = tx.execute("SELECT body FROM gc_security_incidents WHERE id = ?",
                             (incident_id,)).fetchone()
            if row is None:
                raise RecordNotFound(f"no security incident {incident_id!r}",
                                     value=incident_id)
            body = json.loads(row[0])
            body["reported_at"] = now.isoformat()
            tx.execute("UPDATE gc_security_incidents SET body = ? WHERE id = ?",
                       (json.dumps(body), incident_id))
        self.ledger.append("incident.security_reported", {"id": incident_id,
                                                          "late": now.isoformat() > body["due"]})
        return self._incident(body)

    @staticmethod
    def _incident(body: Mapping[str, Any]) -> SecurityIncident:
        return SecurityIncident(body["id"], body["title"], body["severity"],
                                body["critical_infrastructure"],
                                dt.datetime.fromisoformat(body["detected_at"]),
                                dt.datetime.fromisoformat(body["due"]),
                                dt.datetime.fromisoformat(body["reported_at"])
                                if body.get("reported_at") else None)

    def security_incidents(self, *, overdue: bool = False) -> list[SecurityIncident]:
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT body FROM gc_security_incidents").fetchall()
        items = [self._incident(json.loads(r[0])) for r in rows]
        now = self.clock.now()
        return [i for i in items if i.overdue(now)] if overdue else items


class IllegalUseCheck(Check):
    """Guard check: refuse suspended or terminated subjects and limited functions; count
    inputs blocked by moderation as illegal inputs (IM-14b, SR-14)."""

    name = "illegal-use"
    rules = ("IM-14b", "SR-14")

    def __init__(self, incidents: Incidents) -> None:
        self.incidents = incidents

    @classmethod
    def from_compliance(cls, compliance: Any) -> IllegalUseCheck:
        return cls(compliance.incidents)

    def before(self, ctx: CallContext) -> None:
        if ctx.subject is None:
            return
        s = self.incidents.standing(ctx.subject)
        if s.level in ("suspended", "terminated"):
            raise ServiceRestricted(
                f"service is {s.level} for this user after repeated illegal use"
                + (f" until {s.until.isoformat()}" if s.until else "")
                + "; the user may appeal", rules=("IM-14b", "SR-14"), level=s.level,
                retry_after=s.until)
        if s.level == "limited" and ctx.modality in self.incidents.policy.limited_modalities:
            raise ServiceRestricted(f"{ctx.modality} generation is limited for this user",
                                    rules=("IM-14b",), level=s.level)
        if s.level == "warned":
            ctx.metadata["illegal_use_warning"] = (
                "检测到违规使用，继续违规将被限制或暂停服务。/ Illegal use detected; further "
                "violations will restrict or suspend the service.")

    def close(self, ctx: CallContext, outcome: Outcome) -> None:
        if ctx.subject is None:
            return
        err = ctx.refusal
        if isinstance(err, ContentBlocked) and err.evidence.get("where") == "input":
            self.incidents.register_input(ctx.subject, illegal=True,
                                          risk=err.evidence.get("risk"))
        elif outcome == "served":
            self.incidents.register_input(ctx.subject, illegal=False)
