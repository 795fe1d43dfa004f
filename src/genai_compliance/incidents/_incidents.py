"""Illegal content, illegal use, complaints and security incidents, behind one front door.

* IM-14a: on illegal content, stop generation and transmission, remove it, rectify through
  model optimisation (cases queued for retraining) and report — :meth:`Incidents.handle_block`.
* IM-14b / SR-14: on illegal use, warn → limit functions → suspend → terminate, keep records,
  report — :class:`~genai_compliance.incidents.Escalation` and :class:`IllegalUseCheck`.
* IM-15: complaints with a published time limit — :class:`~genai_compliance.incidents.Complaints`.
* CSL-INC: security incidents reported within 1 hour (critical information infrastructure)
  or 4 hours (others) — :meth:`Incidents.security_incident`.

Tables live in SQLite or PostgreSQL (``[stores] incidents``, else the ledger's database); the
ladder's state in the store of ``[stores] illegal_use`` (memory, SQLite, PostgreSQL or Redis),
else in the same database. Every step is a ledger record.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._exports import deprecated
from ..checks import CallContext, Check, Outcome
from ..clock import SHANGHAI, Clock, SystemClock
from ..errors import ConfigurationError, ContentBlocked, RecordNotFound, ServiceRestricted
from ..ledger import Ledger
from ..risks import CATEGORIES, Risk
from ..rules import implements
from ..stores import SQLDatabase, Store, parse_uri
from ..subject import Subject
from ..workdays import DEFAULT_CALENDAR, WorkingCalendar
from ._complaints import Complaint, Complaints, calendar_from_settings
from ._escalation import Escalation, EscalationPolicy, Standing

if TYPE_CHECKING:
    from ..context import DutyContext, HasContext

__all__ = [
    "HANDLING_STEPS",
    "SEVERITIES",
    "IllegalUseCheck",
    "Incidents",
    "SecurityIncident",
]

#: what IM-14a asks on illegal content, in order; each handling record lists them
HANDLING_STEPS: tuple[str, ...] = ("stop_generation", "stop_transmission", "removed",
                                   "queued_for_optimisation", "report_pending")
#: incident grades of the Incident Reporting Measures; ``general`` has no reporting timer
SEVERITIES: tuple[str, ...] = ("general", "relatively-major", "major", "particularly-major")

_DDL = [
    "CREATE TABLE IF NOT EXISTS gc_incident_cases (id TEXT PRIMARY KEY, n INTEGER NOT NULL, "
    "risk TEXT, place TEXT, sha256 TEXT NOT NULL, content TEXT, at TEXT NOT NULL, "
    "expires TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gc_security_incidents (id TEXT PRIMARY KEY, body TEXT NOT NULL)",
]


def _sha(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def _risk_code(risk: Risk | str | None) -> str | None:
    if risk is None or isinstance(risk, Risk):
        return None if risk is None else risk.value
    if risk.strip() in CATEGORIES:  # a category-level code (A.1 … A.5) from a keyword file
        return risk.strip()
    return Risk.parse(risk).value


@attrs.frozen
class SecurityIncident:
    """A network-security incident and when its report is due (CSL-INC).

    ``due`` is ``detected_at`` + 1 h for critical information infrastructure (to its
    protection department and the public security organs), + 2 h for an operator that is a
    central or state organ or one of their directly affiliated units (to its department's
    cyberspace-affairs body), + 4 h for other operators (to the provincial CAC) — the
    Incident Reporting Measures Art. 4; ``None`` for a ``general`` incident, which they do
    not ask to report within hours.
    """

    id: str
    title: str
    severity: str
    critical_infrastructure: bool
    detected_at: dt.datetime
    due: dt.datetime | None
    reported_at: dt.datetime | None = None
    authority: str | None = None
    #: an operator that is a central or state organ or a directly affiliated unit (2 h)
    state_organ: bool = False

    def overdue(self, now: dt.datetime) -> bool:
        return self.due is not None and self.reported_at is None and now > self.due

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "severity": self.severity,
                "critical_infrastructure": self.critical_infrastructure,
                "detected_at": self.detected_at.isoformat(),
                "due": self.due.isoformat() if self.due else None,
                "reported_at": self.reported_at.isoformat() if self.reported_at else None,
                "authority": self.authority, "state_organ": self.state_organ}

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> SecurityIncident:
        def when(v: Any) -> dt.datetime | None:
            return dt.datetime.fromisoformat(v) if v else None

        detected = dt.datetime.fromisoformat(body["detected_at"])
        return cls(body["id"], body["title"], body["severity"],
                   bool(body["critical_infrastructure"]), detected, when(body.get("due")),
                   when(body.get("reported_at")), body.get("authority"),
                   bool(body.get("state_organ", False)))


@implements("IM-14a", "IM-14b", "IM-15", "SR-14", "CSL-INC")
class Incidents:
    """Content handling, the illegal-use ladder, complaints and incident timers.

    :param db: SQL database (or URI) for the tables.
    :param escalation_state: where the ladder's standings live (URI, store or database;
        default ``db``).
    :param retention_days: how long blocked content is kept for retraining before
        :meth:`purge_expired` drops it (the hash stays in the ledger).
    """

    def __init__(self, db: SQLDatabase | str, ledger: Ledger, *, clock: Clock | None = None,
                 tz: dt.tzinfo = SHANGHAI, policy: EscalationPolicy | None = None,
                 calendar: WorkingCalendar = DEFAULT_CALENDAR,
                 complaint_working_days: int = 15, retention_days: float = 184,
                 escalation_state: str | Store | SQLDatabase | None = None,
                 key_prefix: str = "", standing_max_staleness: float = 2.0) -> None:
        if not isinstance(retention_days, int | float) or retention_days <= 0:
            raise ConfigurationError("[incidents] content_retention_days must be a positive "
                                     f"number, got {retention_days!r}",
                                     field="content_retention_days", value=retention_days)
        self.db = SQLDatabase(db) if isinstance(db, str) else db
        self._owns_db = isinstance(db, str)
        self.db.executescript(_DDL)
        self.ledger = ledger
        self.clock: Clock = clock or SystemClock()
        self.tz = tz
        self.retention = dt.timedelta(days=retention_days)
        #: the illegal-use ladder (IM-14b, SR-14)
        self.escalation = Escalation(self.db if escalation_state is None else escalation_state,
                                     ledger, policy=policy, clock=self.clock, tz=tz,
                                     key_prefix=key_prefix,
                                     max_staleness=standing_max_staleness)
        #: the complaint desk (IM-15)
        self.complaints = Complaints(self.db, ledger, clock=self.clock, tz=tz,
                                     calendar=calendar,
                                     response_working_days=complaint_working_days)

    @classmethod
    def from_context(cls, ctx: DutyContext) -> Incidents:
        """Built from ``[incidents]`` (``content_retention_days``, ``[incidents.escalation]``)
        and ``[complaints]`` (``response_working_days``, ``holidays``, ``workdays``,
        ``[complaints.calendar.YEAR]``). Tables go to ``[stores] incidents`` when it is a SQL
        URI, else to the ledger's database; the ladder's state to the store of ``[stores]
        illegal_use``, else of ``incidents`` (``default``, the embedded state file).

        .. versionadded:: 0.2
        """
        settings = ctx.section("incidents")
        complaints = ctx.section("complaints")
        known = {"content_retention_days", "escalation", "key_prefix",
                 "standing_max_staleness"}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigurationError(f"unknown [incidents] keys {unknown}; known: "
                                     f"{', '.join(sorted(known))}", field="incidents",
                                     value=unknown)
        table_uri = ctx.configured.get("incidents")
        sql = bool(table_uri) and parse_uri(str(table_uri)).kind in ("sqlite", "postgresql")
        db = ctx.database("incidents", key="incidents" if sql else None)
        duty = "illegal_use" if "illegal_use" in ctx.configured else "incidents"
        return cls(db, ctx.ledger, clock=ctx.clock, tz=ctx.tz,
                   policy=EscalationPolicy.from_settings(settings.get("escalation", {})),
                   calendar=calendar_from_settings(complaints),
                   complaint_working_days=complaints.get("response_working_days", 15),
                   retention_days=settings.get("content_retention_days", 184),
                   escalation_state=ctx.store(duty, needs=["atomic"]),
                   key_prefix=str(settings.get("key_prefix", "")),
                   standing_max_staleness=float(settings.get("standing_max_staleness", 2.0)))

    @classmethod
    def from_compliance(cls, compliance: HasContext) -> Incidents:
        """Deprecated: use :meth:`from_context`.

        .. deprecated:: 0.2
        """
        deprecated("Incidents.from_compliance", "Incidents.from_context(compliance.context)")
        return cls.from_context(compliance.context)

    @property
    def policy(self) -> EscalationPolicy:
        return self.escalation.policy

    # -- illegal content (IM-14a) ----------------------------------------------------------
    def handle_block(self, *, risk: Risk | str | None, content: str, where: str,
                     subject: Subject | str | None = None, keep_content: bool = True,
                     detail: Mapping[str, Any] | None = None) -> str:
        """Record the handling of blocked content (IM-14a) and queue it for model
        optimisation; returns the case id (``case-`` + 16 hex digits).

        The record (``incident.illegal_content``) carries the risk code, where the content
        was (``input``/``output``), its SHA-256 and the handling steps; the content itself
        is kept only until the retention period ends (:meth:`purge_expired`).
        """
        code = _risk_code(risk)
        now = self.clock.now()
        case = "case-" + secrets.token_hex(8)
        digest = _sha(content)
        with self.db.transaction(write=True) as tx:
            # n: the order of intake (ties in time are common with a frozen clock)
            tx.execute("INSERT INTO gc_incident_cases(id, n, risk, place, sha256, content, at, "
                       "expires) VALUES (?, (SELECT COALESCE(MAX(n), 0) + 1 FROM "
                       "gc_incident_cases), ?, ?, ?, ?, ?, ?)",
                       (case, code, where, digest, content if keep_content else None,
                        now.isoformat(), (now + self.retention).isoformat()))
        self.ledger.append("incident.illegal_content", {
            **dict(detail or {}), "case": case, "risk": code, "where": where,
            "sha256": digest, "chars": len(content), "content_kept": keep_content,
            "content_expires": (now + self.retention).isoformat() if keep_content else None,
            "steps": list(HANDLING_STEPS), "rules": ["IM-14a"]}, subject=subject)
        return case

    def export_retraining_cases(self, *, since: dt.datetime | None = None,
                                with_content: bool = True) -> list[dict[str, Any]]:
        """Cases queued for model optimisation, oldest first: case, risk, where, sha256,
        at, and the content while it is retained (``None`` after purging)."""
        sql = "SELECT id, risk, place, sha256, content, at FROM gc_incident_cases"
        params: list[Any] = []
        if since is not None:
            sql += " WHERE at >= ?"
            params.append(since.isoformat())
        with self.db.transaction() as tx:
            rows = tx.execute(sql + " ORDER BY n, id", params).fetchall()
        now = self.clock.now()
        out = []
        for r in rows:
            case = dict(zip(("case", "risk", "where", "sha256", "content", "at"), r,
                            strict=True))
            if not with_content:
                case["content"] = None
            out.append(case)
        if out:
            self.ledger.append("incident.retraining_export", {
                "cases": len(out), "with_content": with_content, "at": now.isoformat()})
        return out

    def purge_expired(self) -> int:
        """Drop retained content past its retention period (the hashes stay); returns how
        many cases lost their content."""
        now = self.clock.now().isoformat()
        with self.db.transaction(write=True) as tx:
            n = len(tx.execute("SELECT id FROM gc_incident_cases WHERE expires <= ? AND "
                               "content IS NOT NULL", (now,)).fetchall())
            tx.execute("UPDATE gc_incident_cases SET content = NULL WHERE expires <= ?",
                       (now,))
        if n:
            self.ledger.append("incident.content_purged", {"cases": n})
        return n

    def cases(self) -> int:
        """How many illegal-content cases are on file."""
        with self.db.transaction() as tx:
            row = tx.execute("SELECT COUNT(*) FROM gc_incident_cases").fetchone()
        return int(row[0]) if row else 0

    # -- illegal use: shortcuts to self.escalation -------------------------------------
    def standing(self, subject: Subject | str) -> Standing:
        """The subject's standing on the ladder (see :class:`Escalation`)."""
        return self.escalation.standing(subject)

    def register_input(self, subject: Subject | str, *, illegal: bool,
                       risk: str | None = None) -> Standing:
        """Count one input of the subject (see :meth:`Escalation.register_input`)."""
        return self.escalation.register_input(subject, illegal=illegal, risk=risk)

    def appeal(self, subject: Subject | str, reason: str) -> Standing:
        return self.escalation.appeal(subject, reason)

    def decide_appeal(self, subject: Subject | str, *, upheld: bool,
                      note: str = "") -> Standing:
        return self.escalation.decide_appeal(subject, upheld=upheld, note=note)

    # -- complaints: shortcuts to self.complaints --------------------------------------
    def file_complaint(self, *, channel: str, category: str, content_ref: str | None = None,
                       contact: str | None = None, text: str = "",
                       subject: Subject | str | None = None) -> Complaint:
        """Take a complaint (see :meth:`Complaints.file`)."""
        return self.complaints.file(channel=channel, category=category,
                                    content_ref=content_ref, contact=contact, text=text,
                                    subject=subject)

    def update_complaint(self, cid: str, status: str, *, reply: str | None = None,
                         note: str = "") -> Complaint:
        return self.complaints.update(cid, status, reply=reply, note=note)

    def complaint(self, cid: str) -> Complaint:
        return self.complaints.get(cid)

    def complaint_stats(self) -> dict[str, Any]:
        return self.complaints.stats()

    # -- security incidents (CSL-INC) ----------------------------------------------------
    def security_incident(self, title: str, *, severity: str = "relatively-major",
                          critical_infrastructure: bool = False, state_organ: bool = False,
                          detected_at: dt.datetime | None = None) -> SecurityIncident:
        """Open a security incident; a relatively major or worse one must be reported
        within 1 h (critical information infrastructure), 2 h (an operator that is a
        central or state organ or a directly affiliated unit) or 4 h (any other operator)
        of detection (CSL-INC: Incident Reporting Measures Art. 4). A CII operator that is
        also a state organ gets the shorter limit."""
        if severity not in SEVERITIES:
            raise ConfigurationError(f"severity must be one of {', '.join(SEVERITIES)}; "
                                     f"got {severity!r}", field="severity", value=severity)
        if not title.strip():
            raise ConfigurationError("a security incident needs a title", field="title",
                                     value=title)
        detected = detected_at or self.clock.now()
        if detected.tzinfo is None:
            raise ConfigurationError("detected_at must carry a time zone", field="detected_at",
                                     value=detected)
        hours = 1 if critical_infrastructure else 2 if state_organ else 4
        due = None if severity == "general" else detected + dt.timedelta(hours=hours)
        inc = SecurityIncident("SI-" + secrets.token_hex(6), title, severity,
                               critical_infrastructure, detected, due,
                               state_organ=state_organ)
        with self.db.transaction(write=True) as tx:
            tx.execute("INSERT INTO gc_security_incidents(id, body) VALUES (?, ?)",
                       (inc.id, json.dumps(inc.to_json())))
        self.ledger.append("incident.security", {**inc.to_json(), "rules": ["CSL-INC"]})
        return inc

    def mark_reported(self, incident_id: str, *, authority: str | None = None,
                      at: dt.datetime | None = None) -> SecurityIncident:
        """Record that the incident was reported (to ``authority``, at ``at`` or now)."""
        now = at or self.clock.now()
        lock = " FOR UPDATE" if self.db.dialect == "postgresql" else ""
        with self.db.transaction(write=True) as tx:
            row = tx.execute("SELECT body FROM gc_security_incidents WHERE id = ?" + lock,
                             (incident_id,)).fetchone()
            if row is None:
                raise RecordNotFound(f"no security incident {incident_id!r}",
                                     value=incident_id)
            body = json.loads(row[0])
            if body.get("reported_at"):
                raise ConfigurationError(f"{incident_id} was already reported at "
                                         f"{body['reported_at']}", field="reported_at",
                                         value=body["reported_at"])
            body["reported_at"] = now.isoformat()
            body["authority"] = authority
            tx.execute("UPDATE gc_security_incidents SET body = ? WHERE id = ?",
                       (json.dumps(body), incident_id))
        inc = SecurityIncident.from_json(body)
        self.ledger.append("incident.security_reported", {
            "id": incident_id, "authority": authority, "reported_at": now.isoformat(),
            "due": body.get("due"), "late": inc.due is not None and now > inc.due,
            "rules": ["CSL-INC"]})
        return inc

    def security_incident_by_id(self, incident_id: str) -> SecurityIncident:
        with self.db.transaction() as tx:
            row = tx.execute("SELECT body FROM gc_security_incidents WHERE id = ?",
                             (incident_id,)).fetchone()
        if row is None:
            raise RecordNotFound(f"no security incident {incident_id!r}", value=incident_id)
        return SecurityIncident.from_json(json.loads(row[0]))

    def security_incidents(self, *, overdue: bool = False) -> list[SecurityIncident]:
        """Security incidents by detection time; ``overdue`` keeps unreported ones past due."""
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT body FROM gc_security_incidents").fetchall()
        items = sorted((SecurityIncident.from_json(json.loads(r[0])) for r in rows),
                       key=lambda i: (i.detected_at, i.id))
        now = self.clock.now()
        return [i for i in items if i.overdue(now)] if overdue else items

    def time_left(self, incident_id: str) -> dt.timedelta | None:
        """Time until the report is due (negative when late; ``None`` without a timer or
        once reported)."""
        inc = self.security_incident_by_id(incident_id)
        if inc.due is None or inc.reported_at is not None:
            return None
        return inc.due - self.clock.now()

    def close(self) -> None:
        """Release the connections this object opened itself."""
        self.escalation.close()
        if self._owns_db:
            self.db.close()


class IllegalUseCheck(Check):
    """Guard check for the illegal-use ladder (IM-14b, SR-14).

    ``before``: refuse with :class:`ServiceRestricted` a suspended or terminated subject,
    and a limited subject calling a limited modality or function; a warned subject is served
    with a warning in ``ctx.metadata["illegal_use_warning"]``. ``close``: a call refused with
    :class:`ContentBlocked` counts as an illegal input (an output block as an inducing one,
    unless ``count_output_blocks = false``); a served call breaks the run of consecutive
    illegal inputs.
    """

    name = "illegal-use"
    rules = ("IM-14b", "SR-14")

    WARNING = ("检测到违规使用，继续违规将被限制或暂停服务。/ Illegal use detected; further "
               "violations will restrict or suspend the service.")

    def __init__(self, incidents: Incidents | Escalation) -> None:
        self.escalation = (incidents.escalation if isinstance(incidents, Incidents)
                           else incidents)
        #: the async driver runs before/close in a worker thread unless state is in memory
        self.blocking = self.escalation.blocking

    def before(self, ctx: CallContext) -> None:
        if ctx.subject is not None:
            self._decide(ctx, self.escalation.standing(ctx.subject))

    def _decide(self, ctx: CallContext, s: Standing) -> None:
        policy = self.escalation.policy
        if s.level in ("suspended", "terminated"):
            raise ServiceRestricted(
                f"the service is {s.level} for this user after repeated illegal use"
                + (f" until {s.until.isoformat()}" if s.until else "")
                + "; the user may appeal", rules=("IM-14b", "SR-14"), level=s.level,
                retry_after=s.until, appeal_pending=s.appeal is not None)
        if s.level == "limited" and (ctx.modality in policy.limited_modalities
                                     or ctx.function in policy.limited_functions):
            raise ServiceRestricted(
                f"{ctx.modality} generation ({ctx.function}) is limited for this user after "
                "illegal use", rules=("IM-14b",), level=s.level)
        if s.level in ("warned", "limited"):
            ctx.metadata["illegal_use_warning"] = self.WARNING
            ctx.response.warning = self.WARNING
        ctx.notes["illegal_use_level"] = s.level

    # -- async: inline when the standing is known without I/O, else a worker thread ------
    async def abefore(self, ctx: CallContext) -> None:
        if ctx.subject is None:
            return
        if not self.blocking:
            self.before(ctx)
            return
        cached = self.escalation.cached_standing(ctx.subject)
        if cached is None:
            await asyncio.to_thread(self.before, ctx)
        else:
            self._decide(ctx, cached)

    async def aclose(self, ctx: CallContext, outcome: Outcome) -> None:
        if ctx.subject is None:
            return
        if outcome == "served" and not isinstance(ctx.refusal, ContentBlocked) and \
                self.escalation.clean_input_is_noop(ctx.subject):
            return  # counting this clean input would change nothing (known from the cache)
        if self.blocking:
            await asyncio.to_thread(self.close, ctx, outcome)
        else:
            self.close(ctx, outcome)

    def close(self, ctx: CallContext, outcome: Outcome) -> None:
        if ctx.subject is None:
            return
        err = ctx.refusal
        if isinstance(err, ContentBlocked):
            where = err.evidence.get("where")
            if where == "output" and not self.escalation.policy.count_output_blocks:
                return
            self.escalation.register_input(ctx.subject, illegal=True,
                                           risk=err.evidence.get("risk"))
        elif outcome == "served":
            self.escalation.register_input(ctx.subject, illegal=False)

