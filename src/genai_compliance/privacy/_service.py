"""``Privacy``: the PI-breach workflow, the compliance-audit schedule and the PIPIA records.

* PI-57, PI-57-NOTICE, PI-57-EXEMPT, NDSR-11: :meth:`Privacy.open_breach` →
  :meth:`~Privacy.remediate` → :meth:`~Privacy.notify_authority` and
  :meth:`~Privacy.notify_individuals` (or :meth:`~Privacy.exempt_individuals`, then perhaps
  :meth:`~Privacy.authority_requires_notice`) → :meth:`~Privacy.close_breach`, in the order of
  the state machine in :mod:`._machine`; each notice rendered in Chinese and English.
* PI-BREACH-GRADE, CSL-INC: a breach graded relatively major or worse gets the 1 h / 2 h /
  4 h report deadline of the Incident Reporting Measures.
* PI-AUDIT: :meth:`Privacy.record_audit`, :meth:`~Privacy.next_audit_due`.
* PI-55/56, PI-56-CONTENT: :meth:`Privacy.register_activity`, :meth:`~Privacy.record_pipia`,
  :meth:`~Privacy.lacking_pipia`, :meth:`~Privacy.purge_pipia` (refused before 3 years).
* :meth:`Privacy.schedule` / :meth:`~Privacy.due_items`: every deadline as a
  :class:`~genai_compliance.privacy.DueItem` for the report and the dossier.

Tables live in SQLite or PostgreSQL (``[stores] privacy_db``, else the ledger's database);
every step is a ledger record (``privacy.*``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import jinja2

from ..clock import SHANGHAI, Clock, SystemClock
from ..config import Provider
from ..errors import ConfigurationError, RecordNotFound, RetentionError
from ..ledger import Ledger, Record
from ..rules import implements
from ..stores import SQLDatabase
from . import _schedule as sched
from ._machine import BreachState, Step, allowed, apply
from ._schedule import DueItem, add_years, end_of_day
from ._settings import PrivacySettings

if TYPE_CHECKING:
    from ..context import DutyContext

__all__ = ["EVENTS", "GRADES", "LANGS", "TRIGGERS", "Activity", "Audit", "Breach", "Notice",
           "Pipia", "Privacy"]

#: what happened to the PI (PIPL Art. 57: 泄露、篡改、丢失)
EVENTS: tuple[str, ...] = ("leak", "falsification", "loss")
#: incident grades of the Incident Reporting Measures (the same words as
#: ``genai_compliance.incidents.SEVERITIES``); ``general`` has no hour timer
GRADES: tuple[str, ...] = ("general", "relatively-major", "major", "particularly-major")
#: PIPL Art. 55 (1)–(5): processing that needs a PIPIA beforehand
TRIGGERS: tuple[str, ...] = ("sensitive-pi", "automated-decision", "entrusting", "providing",
                             "publishing", "cross-border", "other-high-impact")
LANGS: tuple[str, ...] = ("zh", "en")

_EVENTS_ZH = {"leak": "泄露", "falsification": "篡改", "loss": "丢失"}
_EVENTS_EN = {"leak": "leak", "falsification": "falsification", "loss": "loss"}
_GRADES_ZH = {"general": "一般", "relatively-major": "较大", "major": "重大",
              "particularly-major": "特别重大"}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_AUDIT_KINDS = ("internal", "commissioned")
_AUDIT_TRIGGERS = ("periodic", "authority-request")

_DDL = [
    "CREATE TABLE IF NOT EXISTS gc_privacy_breaches (id TEXT PRIMARY KEY, "
    "detected_at TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gc_privacy_audits (id TEXT PRIMARY KEY, "
    "completed_on TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gc_privacy_activities (id TEXT PRIMARY KEY, "
    "body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gc_privacy_pipias (id TEXT PRIMARY KEY, "
    "activity TEXT NOT NULL, assessed_on TEXT NOT NULL, retain_until TEXT NOT NULL, "
    "body TEXT NOT NULL)",
]


def _when(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _texts(values: Iterable[str] | str | None, field: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    out = tuple(str(v).strip() for v in values)
    if any(not v for v in out):
        raise ConfigurationError(f"{field} must not contain empty entries, got {list(out)}",
                                 field=field, value=list(out))
    return out


def _text(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{field} must be a non-empty text, got {value!r}",
                                 field=field, value=value)
    return value.strip()


@attrs.frozen
class Notice:
    """One rendered breach notice (PI-57-NOTICE): to ``authority`` or ``individuals``."""

    audience: str
    lang: str
    text: str
    sha256: str


@attrs.frozen
class Breach:
    """A personal-information breach and where its workflow stands (PI-57)."""

    id: str
    summary: str
    pi_kinds: tuple[str, ...]
    individuals: int
    events: tuple[str, ...]
    occurred: bool
    sensitive: bool
    detected_at: dt.datetime
    grade: str
    report_due: dt.datetime | None
    steps: tuple[Step, ...]
    times: Mapping[str, str]
    cause: str | None = None
    possible_harm: str | None = None
    remedial_measures: tuple[str, ...] = ()
    individual_measures: tuple[str, ...] = ()
    authority: str | None = None
    channel: str | None = None
    exemption_reason: str | None = None
    requirement_reason: str | None = None
    notices: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)

    @property
    def state(self) -> BreachState:
        return BreachState(self.steps)

    @property
    def allowed(self) -> tuple[Step, ...]:
        """The steps possible now."""
        possible = allowed(self.state)
        return tuple(s for s in ("open", "remediate", "notify_authority", "notify_individuals",
                                 "exempt_individuals", "authority_requires_notice", "close")
                     if s in possible)

    def at(self, step: Step) -> dt.datetime | None:
        """When ``step`` was taken (``None``: not yet)."""
        return _when(self.times.get(step))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "summary": self.summary, "pi_kinds": list(self.pi_kinds),
                "individuals": self.individuals, "events": list(self.events),
                "occurred": self.occurred, "sensitive": self.sensitive,
                "detected_at": self.detected_at.isoformat(), "grade": self.grade,
                "report_due": self.report_due.isoformat() if self.report_due else None,
                "steps": list(self.steps), "times": dict(self.times), "cause": self.cause,
                "possible_harm": self.possible_harm,
                "remedial_measures": list(self.remedial_measures),
                "individual_measures": list(self.individual_measures),
                "authority": self.authority, "channel": self.channel,
                "exemption_reason": self.exemption_reason,
                "requirement_reason": self.requirement_reason,
                "notices": {k: dict(v) for k, v in self.notices.items()}}

    @classmethod
    def from_json(cls, b: Mapping[str, Any]) -> Breach:
        detected = dt.datetime.fromisoformat(b["detected_at"])
        return cls(b["id"], b["summary"], tuple(b["pi_kinds"]), int(b["individuals"]),
                   tuple(b["events"]), bool(b["occurred"]), bool(b["sensitive"]), detected,
                   b["grade"], _when(b.get("report_due")), tuple(b["steps"]),
                   dict(b["times"]), b.get("cause"), b.get("possible_harm"),
                   tuple(b.get("remedial_measures", ())),
                   tuple(b.get("individual_measures", ())), b.get("authority"),
                   b.get("channel"), b.get("exemption_reason"), b.get("requirement_reason"),
                   dict(b.get("notices", {})))


@attrs.frozen
class Audit:
    """A PI-protection compliance audit done (PI-AUDIT)."""

    id: str
    kind: str
    trigger: str
    completed_on: dt.date
    auditor: str
    scope: str
    report_ref: str | None
    recorded_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "trigger": self.trigger,
                "completed_on": self.completed_on.isoformat(), "auditor": self.auditor,
                "scope": self.scope, "report_ref": self.report_ref,
                "recorded_at": self.recorded_at.isoformat()}

    @classmethod
    def from_json(cls, b: Mapping[str, Any]) -> Audit:
        return cls(b["id"], b["kind"], b["trigger"], dt.date.fromisoformat(b["completed_on"]),
                   b["auditor"], b["scope"], b.get("report_ref"),
                   dt.datetime.fromisoformat(b["recorded_at"]))


@attrs.frozen
class Activity:
    """A processing activity that may need a PIPIA (PI-55/56). ``version`` goes up when its
    description or triggers change; a PIPIA of an older version is no longer current."""

    id: str
    name: str
    triggers: tuple[str, ...]
    description: str
    starts_on: dt.date | None
    registered_at: dt.datetime
    version: int = 1
    retired: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "triggers": list(self.triggers),
                "description": self.description,
                "starts_on": self.starts_on.isoformat() if self.starts_on else None,
                "registered_at": self.registered_at.isoformat(), "version": self.version,
                "retired": self.retired}

    @classmethod
    def from_json(cls, b: Mapping[str, Any]) -> Activity:
        start = b.get("starts_on")
        return cls(b["id"], b["name"], tuple(b["triggers"]), b.get("description", ""),
                   dt.date.fromisoformat(start) if start else None,
                   dt.datetime.fromisoformat(b["registered_at"]), int(b["version"]),
                   bool(b.get("retired", False)))


@attrs.frozen
class Pipia:
    """One personal-information protection impact assessment (PI-55/56, PI-56-CONTENT)."""

    id: str
    activity: str
    activity_version: int
    purpose: str
    necessity: str
    impact: str
    measures: str
    conclusion: str
    assessor: str
    assessed_on: dt.date
    retain_until: dt.date
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "activity": self.activity,
                "activity_version": self.activity_version, "purpose": self.purpose,
                "necessity": self.necessity, "impact": self.impact, "measures": self.measures,
                "conclusion": self.conclusion, "assessor": self.assessor,
                "assessed_on": self.assessed_on.isoformat(),
                "retain_until": self.retain_until.isoformat(), "sha256": self.sha256}

    @classmethod
    def from_json(cls, b: Mapping[str, Any]) -> Pipia:
        return cls(b["id"], b["activity"], int(b["activity_version"]), b["purpose"],
                   b["necessity"], b["impact"], b["measures"], b["conclusion"], b["assessor"],
                   dt.date.fromisoformat(b["assessed_on"]),
                   dt.date.fromisoformat(b["retain_until"]), b["sha256"])


@implements("PI-57", "PI-57-NOTICE", "PI-57-EXEMPT", "PI-BREACH-GRADE", "NDSR-11",
            "PI-AUDIT", "PI-55/56", "PI-56-CONTENT")
class Privacy:
    """The PIPL duties that keep registers and deadlines: breaches, audits, PIPIAs.

    :param db: SQL database (or URI) for the tables (created when missing).
    :param ledger: where every step is recorded.
    :param provider: the handler named in the notices (its contact is the default contact).
    :param settings: ``[privacy]`` (a mapping or :class:`PrivacySettings`).

    .. versionadded:: 0.3
    """

    def __init__(self, db: SQLDatabase | str, ledger: Ledger, *,
                 provider: Provider | None = None,
                 settings: PrivacySettings | Mapping[str, Any] | None = None,
                 clock: Clock | None = None, tz: dt.tzinfo = SHANGHAI) -> None:
        self.settings = (settings if isinstance(settings, PrivacySettings)
                         else PrivacySettings.from_settings(settings))
        self.db = SQLDatabase(db) if isinstance(db, str) else db
        self._owns_db = isinstance(db, str)
        self.db.executescript(_DDL)
        self.ledger = ledger
        self.provider = provider
        self.clock: Clock = clock or SystemClock()
        self.tz = tz
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("genai_compliance.privacy", "templates"),
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)

    @classmethod
    def from_context(cls, ctx: DutyContext) -> Privacy:
        """Built from ``[privacy]``; tables in ``[stores] privacy_db`` when set, else in the
        ledger's database; the provider, clock and zone of the context."""
        return cls(ctx.database("privacy"), ctx.ledger, provider=ctx.provider,
                   settings=PrivacySettings.from_settings(ctx.section("privacy")),
                   clock=ctx.clock, tz=ctx.tz)

    def close(self) -> None:
        """Release the connections this object opened itself."""
        if self._owns_db:
            self.db.close()

    # -- helpers -------------------------------------------------------------------------
    def _today(self, now: dt.datetime | None = None) -> dt.date:
        return (now or self.clock.now()).astimezone(self.tz).date()

    def _lock(self) -> str:
        return " FOR UPDATE" if self.db.dialect == "postgresql" else ""

    def _record(self, kind: str, payload: Mapping[str, Any]) -> Record:
        return self.ledger.append(kind, dict(payload))

    def _aware(self, value: dt.datetime | None, field: str) -> dt.datetime:
        when = value or self.clock.now()
        if when.tzinfo is None:
            raise ConfigurationError(f"{field} must carry a time zone, got {when!r}",
                                     field=field, value=when)
        if when > self.clock.now():
            raise ConfigurationError(f"{field} {when.isoformat()} is in the future; pass the "
                                     "time it happened", field=field, value=when)
        return when.astimezone(dt.UTC)

    # -- the breach workflow (PI-57) -------------------------------------------------------
    def _grade(self, individuals: int, events: Sequence[str], given: str | None) -> str:
        s = self.settings
        counted = "general"
        if "leak" in events:
            if individuals >= s.particularly_major_individuals:
                counted = "particularly-major"
            elif individuals >= s.major_individuals:
                counted = "major"
            elif individuals >= s.relatively_major_individuals:
                counted = "relatively-major"
        if given is None:
            return counted
        return max(counted, given, key=GRADES.index)

    def _report_due(self, detected: dt.datetime, grade: str) -> dt.datetime | None:
        s = self.settings
        if grade != "general":  # CSL-INC: Incident Reporting Measures Art. 4
            hours = 1 if s.critical_infrastructure else 2 if s.state_organ else 4
            return detected + dt.timedelta(hours=hours)
        if s.notify_within_hours is not None:
            return detected + dt.timedelta(hours=s.notify_within_hours)
        return None

    def open_breach(self, summary: str, *, pi_kinds: Sequence[str], individuals: int,
                    events: Sequence[str] = ("leak",), occurred: bool = True,
                    sensitive: bool = False, detected_at: dt.datetime | None = None,
                    grade: str | None = None, cause: str | None = None,
                    possible_harm: str | None = None) -> Breach:
        """Open a breach: what PI (``pi_kinds``), of how many individuals, leaked, falsified
        or lost (``events``; ``occurred=False``: may have been), detected when. ``grade``
        is the operator's own grading by the guide; the PI count may raise it
        (PI-BREACH-GRADE). Record ``privacy.breach.open``."""
        summary_ = _text(summary, "summary")
        kinds = _texts(pi_kinds, "pi_kinds")
        if not kinds:
            raise ConfigurationError("a breach needs the kinds of personal information "
                                     "involved (pi_kinds), e.g. ['手机号码', 'e-mail address']",
                                     field="pi_kinds", value=list(pi_kinds))
        if isinstance(individuals, bool) or not isinstance(individuals, int) or individuals < 0:
            raise ConfigurationError(f"individuals must be a whole number >= 0 (an estimate "
                                     f"is fine), got {individuals!r}", field="individuals",
                                     value=individuals)
        evs = tuple(dict.fromkeys(events))
        if not evs or any(e not in EVENTS for e in evs):
            raise ConfigurationError(f"events must be some of {', '.join(EVENTS)}, got "
                                     f"{list(events)}", field="events", value=list(events))
        if grade is not None and grade not in GRADES:
            raise ConfigurationError(f"grade must be one of {', '.join(GRADES)}, got "
                                     f"{grade!r}", field="grade", value=grade)
        detected = self._aware(detected_at, "detected_at")
        final = self._grade(individuals, evs, grade)
        now = self.clock.now()
        state = apply(BreachState(), "open")
        breach = Breach("PIB-" + secrets.token_hex(6), str(summary_), kinds, individuals, evs,
                        occurred, sensitive, detected, final,
                        self._report_due(detected, final), state.done,
                        {"open": now.isoformat()}, _text(cause, "cause"),
                        _text(possible_harm, "possible_harm"))
        with self.db.transaction(write=True) as tx:
            tx.execute("INSERT INTO gc_privacy_breaches(id, detected_at, body) VALUES (?, ?, ?)",
                       (breach.id, detected.isoformat(), json.dumps(breach.to_json())))
        self._record("privacy.breach.open", {
            "breach": breach.id, "step": "open", "at": now.isoformat(),
            "pi_kinds": list(kinds), "individuals": individuals, "events": list(evs),
            "occurred": occurred, "sensitive": sensitive, "detected_at": detected.isoformat(),
            "grade": final, "grade_given": grade,
            "report_due": breach.report_due.isoformat() if breach.report_due else None,
            "rules": ["PI-57", "PI-BREACH-GRADE"] if final != "general" else ["PI-57"]})
        return breach

    def _step(self, breach_id: str, step: Step,
              change: Callable[[dict[str, Any]], Mapping[str, Any]],
              rules: Sequence[str]) -> Breach:
        now = self.clock.now()
        with self.db.transaction(write=True) as tx:
            row = tx.execute("SELECT body FROM gc_privacy_breaches WHERE id = ?" + self._lock(),
                             (breach_id,)).fetchone()
            if row is None:
                raise RecordNotFound(f"no personal-information breach {breach_id!r}; list "
                                     "them with Privacy.breaches()", value=breach_id)
            body = json.loads(row[0])
            state = apply(BreachState(tuple(body["steps"])), step, breach=breach_id)
            detail = dict(change(body))  # may refuse (missing facts): nothing is written
            body["steps"] = list(state.done)
            body["times"][step] = now.isoformat()
            tx.execute("UPDATE gc_privacy_breaches SET body = ? WHERE id = ?",
                       (json.dumps(body), breach_id))
        self._record(f"privacy.breach.{step}", {"breach": breach_id, "step": step,
                                                "at": now.isoformat(), **detail,
                                                "rules": list(rules)})
        return Breach.from_json(body)

    def remediate(self, breach_id: str, measures: Sequence[str] | str, *,
                  cause: str | None = None, possible_harm: str | None = None,
                  individual_measures: Sequence[str] | None = None) -> Breach:
        """Record the remedial measures taken (PI-57: at once, before the notices), and any
        facts of the notices known by now (cause, possible harm, what individuals can do)."""
        taken = _texts(measures, "measures")
        if not taken:
            raise ConfigurationError("remediate needs at least one remedial measure taken",
                                     field="measures", value=measures)

        def change(body: dict[str, Any]) -> Mapping[str, Any]:
            body["remedial_measures"] = list(taken)
            self._fill(body, cause=cause, possible_harm=possible_harm,
                       individual_measures=individual_measures)
            return {"measures": list(taken), "cause": body.get("cause"),
                    "possible_harm": body.get("possible_harm"),
                    "individual_measures": body.get("individual_measures", [])}

        return self._step(breach_id, "remediate", change, ["PI-57"])

    def _fill(self, body: dict[str, Any], **facts: Any) -> None:
        for key, value in facts.items():
            if value is None:
                continue
            if key == "individual_measures":
                body[key] = list(_texts(value, key))
            else:
                body[key] = _text(value, key)

    def _contact(self) -> tuple[str, str]:
        c = dict(self.settings.contact)
        p = self.provider
        email = c.get("email") or (p.contact_email if p else None)
        phone = c.get("phone") or (p.contact_phone if p else None)
        if not (email or phone or c.get("address")):
            raise ConfigurationError(
                "a breach notice must give the handler's contact (PIPL Art. 57 (三)); set "
                "[privacy.contact] email or phone, or the provider's contact_email",
                field="privacy.contact", value=c)
        parts_zh = [x for x in (c.get("name"), f"电话 {phone}" if phone else None,
                                f"电子邮箱 {email}" if email else None,
                                f"地址 {c['address']}" if c.get("address") else None) if x]
        parts_en = [x for x in (c.get("name"), f"phone {phone}" if phone else None,
                                f"e-mail {email}" if email else None,
                                f"address {c['address']}" if c.get("address") else None) if x]
        return "；".join(parts_zh), "; ".join(parts_en)

    def _render(self, body: Mapping[str, Any], audience: str,
                now: dt.datetime) -> dict[str, Notice]:
        missing = [k for k in ("cause", "possible_harm") if not body.get(k)]
        if not body.get("individual_measures"):
            missing.append("individual_measures")
        if missing:
            raise ConfigurationError(
                f"the {audience} notice of breach {body['id']} needs {', '.join(missing)} "
                "(PIPL Art. 57: cause, possible harm, what individuals can do); pass them "
                "to this step (or to remediate)", field=missing[0], value=body["id"])
        contact_zh, contact_en = self._contact()
        p = self.provider
        events = [e for e in EVENTS if e in body["events"]]
        occurred = bool(body["occurred"])
        facts = {
            "breach_id": body["id"], "pi_kinds": body["pi_kinds"], "cause": body["cause"],
            "possible_harm": body["possible_harm"],
            "remedial_measures": body["remedial_measures"],
            "individual_measures": body["individual_measures"],
            "individuals": body["individuals"], "sensitive": body["sensitive"],
            "grade": body["grade"] if body["grade"] != "general" else None,
            "grade_zh": _GRADES_ZH[body["grade"]],
            "handler": p.legal_name if p else "个人信息处理者",
            "handler_en": (p.legal_name_en or p.legal_name) if p else "The handler",
            "uscc": p.uscc if p else "—",
            "authority": self.settings.authority, "authority_en": self.settings.authority_en,
            "contact_zh": contact_zh, "contact_en": contact_en,
            "events_zh": "、".join(_EVENTS_ZH[e] for e in events),
            "events_en": " / ".join(_EVENTS_EN[e] for e in events),
            "occurred_zh": "发生了" if occurred else "可能发生了",
            "occurred_en": "There has been" if occurred else "There may have been",
            "detected_local": dt.datetime.fromisoformat(body["detected_at"])
            .astimezone(self.tz).strftime("%Y-%m-%d %H:%M %Z"),
            "notified_local": now.astimezone(self.tz).strftime("%Y-%m-%d"),
        }
        out: dict[str, Notice] = {}
        for lang in LANGS:
            text = self._env.get_template(f"breach-{audience}.{lang}.txt.j2").render(**facts)
            out[lang] = Notice(audience, lang, text,
                               hashlib.sha256(text.encode("utf-8")).hexdigest())
        return out

    def render_notice(self, breach_id: str, audience: str = "individuals",
                      **facts: Any) -> dict[str, Notice]:
        """Preview the ``authority`` or ``individuals`` notice (zh and en) without
        recording anything; ``facts`` (cause, possible_harm, individual_measures) fill in
        what the breach lacks."""
        if audience not in ("authority", "individuals"):
            raise ConfigurationError(f"audience must be 'authority' or 'individuals', got "
                                     f"{audience!r}", field="audience", value=audience)
        body = self.breach(breach_id).to_json()
        self._fill(body, **facts)
        return self._render(body, audience, self.clock.now())

    def _notify(self, breach_id: str, step: Step, audience: str, extra: Mapping[str, Any],
                facts: Mapping[str, Any], rules: Sequence[str]) -> tuple[Breach,
                                                                        dict[str, Notice]]:
        rendered: dict[str, Notice] = {}

        def change(body: dict[str, Any]) -> Mapping[str, Any]:
            self._fill(body, **facts)
            rendered.update(self._render(body, audience, self.clock.now()))
            body.update(extra)
            body.setdefault("notices", {})[audience] = {
                n.lang: n.text for n in rendered.values()}
            return {**extra, "pi_kinds": body["pi_kinds"], "cause": body["cause"],
                    "possible_harm": body["possible_harm"],
                    "remedial_measures": body["remedial_measures"],
                    "individual_measures": body["individual_measures"],
                    "sha256": {n.lang: n.sha256 for n in rendered.values()}}

        return self._step(breach_id, step, change, rules), rendered

    def notify_authority(self, breach_id: str, *, authority: str | None = None,
                         channel: str = "12387", cause: str | None = None,
                         possible_harm: str | None = None,
                         individual_measures: Sequence[str] | None = None
                         ) -> tuple[Breach, dict[str, Notice]]:
        """Notify the department performing PI-protection duties (PI-57, PI-57-NOTICE; a
        graded breach also CSL-INC's report); returns the breach and the notice sent, in
        Chinese and English. ``late`` in the record says whether :attr:`Breach.report_due`
        had passed."""
        b = self.breach(breach_id)
        now = self.clock.now()
        late = b.report_due is not None and now > b.report_due
        rules = ["PI-57", "PI-57-NOTICE"] + (["PI-BREACH-GRADE", "CSL-INC"]
                                             if b.grade != "general" else [])
        return self._notify(breach_id, "notify_authority", "authority", {
            "authority": _text(authority, "authority") or self.settings.authority,
            "authority_channel": _text(channel, "channel"), "late": late},
            {"cause": cause, "possible_harm": possible_harm,
             "individual_measures": individual_measures}, rules)

    def notify_individuals(self, breach_id: str, *, channel: str,
                           cause: str | None = None, possible_harm: str | None = None,
                           individual_measures: Sequence[str] | None = None,
                           recipients: int | None = None
                           ) -> tuple[Breach, dict[str, Notice]]:
        """Notify the individuals concerned (PI-57-NOTICE, NDSR-11) through ``channel``
        (SMS, e-mail, in-app message, announcement …); returns the breach and the notice
        (zh, en)."""
        ch = _text(channel, "channel")
        if recipients is not None and (isinstance(recipients, bool) or recipients < 0):
            raise ConfigurationError(f"recipients must be a whole number >= 0, got "
                                     f"{recipients!r}", field="recipients", value=recipients)
        return self._notify(breach_id, "notify_individuals", "individuals", {
            "channel": ch, "recipients": recipients},
            {"cause": cause, "possible_harm": possible_harm,
             "individual_measures": individual_measures},
            ["PI-57", "PI-57-NOTICE", "NDSR-11"])

    def exempt_individuals(self, breach_id: str, *, reason: str) -> Breach:
        """Record why individuals are not notified: the measures taken effectively avoid the
        harm (PI-57-EXEMPT). The authority may still require the notice."""
        why = _text(reason, "reason")

        def change(body: dict[str, Any]) -> Mapping[str, Any]:
            body["exemption_reason"] = why
            return {"reason": why, "remedial_measures": body["remedial_measures"]}

        return self._step(breach_id, "exempt_individuals", change, ["PI-57-EXEMPT"])

    def authority_requires_notice(self, breach_id: str, *, reason: str) -> Breach:
        """The authority believes harm may result and requires the individual notice
        (PI-57-EXEMPT): :meth:`notify_individuals` becomes due again."""
        why = _text(reason, "reason")

        def change(body: dict[str, Any]) -> Mapping[str, Any]:
            body["requirement_reason"] = why
            return {"reason": why}

        return self._step(breach_id, "authority_requires_notice", change, ["PI-57-EXEMPT"])

    def close_breach(self, breach_id: str, *, note: str = "") -> Breach:
        """Close the breach once the authority and the individuals were notified (or the
        individual notice was exempted)."""
        return self._step(breach_id, "close", lambda body: {"note": note}, ["PI-57"])

    def breach(self, breach_id: str) -> Breach:
        row = self.db.query_one("SELECT body FROM gc_privacy_breaches WHERE id = ?",
                                (breach_id,))
        if row is None:
            raise RecordNotFound(f"no personal-information breach {breach_id!r}; list them "
                                 "with Privacy.breaches()", value=breach_id)
        return Breach.from_json(json.loads(row[0]))

    def breaches(self, *, open_only: bool = False) -> list[Breach]:
        """Breaches by detection time; ``open_only`` leaves out closed ones."""
        rows = self.db.query("SELECT body FROM gc_privacy_breaches")
        items = sorted((Breach.from_json(json.loads(r[0])) for r in rows),
                       key=lambda b: (b.detected_at, b.id))
        return [b for b in items if not b.state.closed] if open_only else items

    # -- compliance audits (PI-AUDIT) ------------------------------------------------------
    def record_audit(self, *, completed_on: dt.date, kind: str = "internal",
                     auditor: str, scope: str = "all personal-information processing",
                     trigger: str = "periodic", report_ref: str | None = None) -> Audit:
        """Record a compliance audit completed on ``completed_on`` by an internal body
        (``internal``) or a commissioned professional institution (``commissioned``).
        Only ``periodic`` audits move the next periodic due date; one the authority asked
        for (``authority-request``, PIPL Art. 64) is kept beside them."""
        if kind not in _AUDIT_KINDS:
            raise ConfigurationError(f"kind must be one of {', '.join(_AUDIT_KINDS)}, got "
                                     f"{kind!r}", field="kind", value=kind)
        if trigger not in _AUDIT_TRIGGERS:
            raise ConfigurationError(f"trigger must be one of {', '.join(_AUDIT_TRIGGERS)}, "
                                     f"got {trigger!r}", field="trigger", value=trigger)
        if trigger == "authority-request" and kind != "commissioned":
            raise ConfigurationError("an audit the authority asks for is done by a "
                                     "commissioned professional institution (PIPL Art. 64); "
                                     "pass kind='commissioned'", field="kind", value=kind)
        if not isinstance(completed_on, dt.date) or isinstance(completed_on, dt.datetime):
            raise ConfigurationError(f"completed_on must be a date, got {completed_on!r}",
                                     field="completed_on", value=completed_on)
        now = self.clock.now()
        if completed_on > self._today(now):
            raise ConfigurationError(f"completed_on {completed_on} is in the future; record "
                                     "an audit once it is done", field="completed_on",
                                     value=completed_on)
        audit = Audit("PIA-" + secrets.token_hex(6), kind, trigger, completed_on,
                      str(_text(auditor, "auditor")), str(_text(scope, "scope")),
                      _text(report_ref, "report_ref"), now)
        with self.db.transaction(write=True) as tx:
            tx.execute("INSERT INTO gc_privacy_audits(id, completed_on, body) VALUES (?, ?, ?)",
                       (audit.id, completed_on.isoformat(), json.dumps(audit.to_json())))
        due = self.next_audit_due()
        self._record("privacy.audit", {**audit.to_json(),
                                       "next_due": due.isoformat() if due else None,
                                       "rules": ["PI-AUDIT"]})
        return audit

    def audits(self) -> list[Audit]:
        """Audits on record, by completion date."""
        rows = self.db.query("SELECT body FROM gc_privacy_audits")
        return sorted((Audit.from_json(json.loads(r[0])) for r in rows),
                      key=lambda a: (a.completed_on, a.recorded_at, a.id))

    def last_audit(self) -> Audit | None:
        """The latest periodic audit (by completion date)."""
        periodic = [a for a in self.audits() if a.trigger == "periodic"]
        return periodic[-1] if periodic else None

    def next_audit_due(self) -> dt.date | None:
        """The date the next periodic audit is due (``None``: no fixed interval — at most
        audit_threshold individuals and no own interval configured)."""
        years = self.settings.interval_years
        if years is None:
            return None
        last = self.last_audit()
        return sched.next_audit_due(last.completed_on if last else None, interval_years=years,
                                    first_due=self.settings.first_due)

    # -- PIPIA (PI-55/56) ------------------------------------------------------------------
    def register_activity(self, activity_id: str, name: str, *, triggers: Sequence[str],
                          description: str = "", starts_on: dt.date | None = None) -> Activity:
        """Register (or update) a processing activity and the Art. 55 triggers it meets
        (``sensitive-pi``, ``automated-decision``, ``entrusting``, ``providing``,
        ``publishing``, ``cross-border``, ``other-high-impact``). A change of name,
        description or triggers needs a new PIPIA. ``starts_on``: when processing starts
        (the PIPIA is due before it; ``None``: it has started)."""
        if not isinstance(activity_id, str) or not _ID.match(activity_id):
            raise ConfigurationError(f"activity id must be 1-64 letters, digits, '.', '_' "
                                     f"or '-', got {activity_id!r}", field="activity",
                                     value=activity_id)
        trig = tuple(dict.fromkeys(triggers))
        bad = [t for t in trig if t not in TRIGGERS]
        if bad:
            raise ConfigurationError(f"unknown PIPIA triggers {bad}; known: "
                                     f"{', '.join(TRIGGERS)}", field="triggers", value=bad)
        label = str(_text(name, "name"))
        now = self.clock.now()
        with self.db.transaction(write=True) as tx:
            row = tx.execute("SELECT body FROM gc_privacy_activities WHERE id = ?"
                             + self._lock(), (activity_id,)).fetchone()
            old = Activity.from_json(json.loads(row[0])) if row else None
            changed = old is None or (old.name, old.triggers, old.description, old.retired) != (
                label, trig, description, False)
            version = 1 if old is None else old.version + (1 if changed else 0)
            act = Activity(activity_id, label, trig, description, starts_on,
                           old.registered_at if old else now, version)
            if old is None:
                tx.execute("INSERT INTO gc_privacy_activities(id, body) VALUES (?, ?)",
                           (activity_id, json.dumps(act.to_json())))
            else:
                tx.execute("UPDATE gc_privacy_activities SET body = ? WHERE id = ?",
                           (json.dumps(act.to_json()), activity_id))
        if changed or old is None or old.starts_on != starts_on:
            self._record("privacy.activity", {**act.to_json(), "rules": ["PI-55/56"]})
        return act

    def retire_activity(self, activity_id: str) -> Activity:
        """The activity has stopped: it no longer needs a current PIPIA (its records are
        kept for their retention period all the same)."""
        act = self.activity(activity_id)
        act = attrs.evolve(act, retired=True)
        with self.db.transaction(write=True) as tx:
            tx.execute("UPDATE gc_privacy_activities SET body = ? WHERE id = ?",
                       (json.dumps(act.to_json()), activity_id))
        self._record("privacy.activity_retired", {"activity": activity_id,
                                                  "rules": ["PI-55/56"]})
        return act

    def activity(self, activity_id: str) -> Activity:
        row = self.db.query_one("SELECT body FROM gc_privacy_activities WHERE id = ?",
                                (activity_id,))
        if row is None:
            raise RecordNotFound(f"no processing activity {activity_id!r}; register it with "
                                 "Privacy.register_activity", value=activity_id)
        return Activity.from_json(json.loads(row[0]))

    def activities(self) -> list[Activity]:
        rows = self.db.query("SELECT body FROM gc_privacy_activities")
        return sorted((Activity.from_json(json.loads(r[0])) for r in rows), key=lambda a: a.id)

    def record_pipia(self, activity_id: str, *, purpose: str, necessity: str, impact: str,
                     measures: str, conclusion: str, assessor: str,
                     assessed_on: dt.date | None = None) -> Pipia:
        """Record a PIPIA of the activity's current version with the Art. 56 contents
        (PI-56-CONTENT): ``purpose`` and ``necessity`` (are purpose and method lawful,
        legitimate, necessary), ``impact`` (on individuals' rights, and the security
        risks), ``measures`` (lawful, effective, proportionate to the risk); kept until
        ``assessed_on`` + pipia_retention_years (>= 3, PI-55/56)."""
        act = self.activity(activity_id)
        fields = {"purpose": purpose, "necessity": necessity, "impact": impact,
                  "measures": measures, "conclusion": conclusion, "assessor": assessor}
        clean = {k: str(_text(v, k)) for k, v in fields.items()}
        now = self.clock.now()
        day = assessed_on or self._today(now)
        if day > self._today(now):
            raise ConfigurationError(f"assessed_on {day} is in the future", field="assessed_on",
                                     value=day)
        keep = add_years(day, self.settings.pipia_retention_years)
        digest = hashlib.sha256(json.dumps(clean, sort_keys=True, ensure_ascii=False)
                                .encode("utf-8")).hexdigest()
        pipia = Pipia("PIPIA-" + secrets.token_hex(6), activity_id, act.version,
                      clean["purpose"], clean["necessity"], clean["impact"], clean["measures"],
                      clean["conclusion"], clean["assessor"], day, keep, digest)
        with self.db.transaction(write=True) as tx:
            tx.execute("INSERT INTO gc_privacy_pipias(id, activity, assessed_on, retain_until, "
                       "body) VALUES (?, ?, ?, ?, ?)",
                       (pipia.id, activity_id, day.isoformat(), keep.isoformat(),
                        json.dumps(pipia.to_json())))
        self._record("privacy.pipia", {**pipia.to_json(), "triggers": list(act.triggers),
                                       "rules": ["PI-55/56", "PI-56-CONTENT"]})
        return pipia

    def pipias(self, activity_id: str | None = None) -> list[Pipia]:
        """PIPIA records kept, oldest first."""
        if activity_id is None:
            rows = self.db.query("SELECT body FROM gc_privacy_pipias")
        else:
            rows = self.db.query("SELECT body FROM gc_privacy_pipias WHERE activity = ?",
                                 (activity_id,))
        return sorted((Pipia.from_json(json.loads(r[0])) for r in rows),
                      key=lambda p: (p.assessed_on, p.id))

    def _review_due(self, pipia: Pipia) -> dt.date | None:
        years = self.settings.pipia_review_years
        return None if years is None else add_years(pipia.assessed_on, years)

    def current_pipia(self, activity_id: str, *, now: dt.datetime | None = None) -> Pipia | None:
        """The latest PIPIA of the activity's current version, unless past its review date
        (pipia_review_years)."""
        act = self.activity(activity_id)
        return self._current(act, self.pipias(activity_id), self._today(now))

    def _current(self, act: Activity, pipias: Sequence[Pipia], today: dt.date) -> Pipia | None:
        for p in reversed(pipias):
            if p.activity == act.id and p.activity_version == act.version:
                review = self._review_due(p)
                return p if review is None or today <= review else None
        return None

    def lacking_pipia(self, now: dt.datetime | None = None) -> list[Activity]:
        """Activities in use that meet an Art. 55 trigger and have no current PIPIA."""
        today = self._today(now)
        pipias = self.pipias()
        return [a for a in self.activities()
                if not a.retired and a.triggers and self._current(a, pipias, today) is None]

    def purge_pipia(self, pipia_id: str) -> None:
        """Delete one PIPIA record; refused with :class:`~genai_compliance.RetentionError`
        before its retention date (PI-55/56: >= 3 years), and refused while it is the
        current PIPIA of an activity in use. The ledger keeps its hash."""
        today = self._today()
        with self.db.transaction(write=True) as tx:
            row = tx.execute("SELECT body FROM gc_privacy_pipias WHERE id = ?" + self._lock(),
                             (pipia_id,)).fetchone()
            if row is None:
                raise RecordNotFound(f"no PIPIA record {pipia_id!r}", value=pipia_id)
            p = Pipia.from_json(json.loads(row[0]))
            if today < p.retain_until:
                raise RetentionError(
                    f"PIPIA {pipia_id} must be kept until {p.retain_until} (PIPL Art. 56: at "
                    f"least {self.settings.pipia_retention_years} years from {p.assessed_on}); "
                    "purge it after that date", value=pipia_id)
            self._refuse_current(tx, p)
            tx.execute("DELETE FROM gc_privacy_pipias WHERE id = ?", (pipia_id,))
        self._record("privacy.pipia_purged", {"id": pipia_id, "activity": p.activity,
                                              "sha256": p.sha256,
                                              "retain_until": p.retain_until.isoformat(),
                                              "rules": ["PI-55/56"]})

    def _refuse_current(self, tx: Any, p: Pipia) -> None:
        row = tx.execute("SELECT body FROM gc_privacy_activities WHERE id = ?",
                         (p.activity,)).fetchone()
        if row is None:
            return
        act = Activity.from_json(json.loads(row[0]))
        if act.retired:
            return
        rows = tx.execute("SELECT body FROM gc_privacy_pipias WHERE activity = ?",
                          (p.activity,)).fetchall()
        pipias = sorted((Pipia.from_json(json.loads(r[0])) for r in rows),
                        key=lambda x: (x.assessed_on, x.id))
        cur = self._current(act, pipias, self._today())
        if cur is not None and cur.id == p.id:
            raise RetentionError(
                f"PIPIA {p.id} is the current assessment of activity {p.activity!r} in use; "
                "record a newer PIPIA or retire the activity before purging it",
                value=p.id)

    def purge_expired_pipias(self) -> int:
        """Delete the PIPIA records past their retention date that are not the current
        assessment of an activity in use; returns how many."""
        today = self._today()
        gone = 0
        for p in self.pipias():
            if today >= p.retain_until:
                try:
                    self.purge_pipia(p.id)
                except RetentionError:
                    continue
                gone += 1
        return gone

    # -- the schedule ----------------------------------------------------------------------
    def schedule(self, now: dt.datetime | None = None) -> list[DueItem]:
        """Every deadline of the duty: open breaches' steps, the next compliance audit,
        PIPIAs (before processing, reviews), most urgent first (overdue, due soon, ok; then
        by due time)."""
        now = now or self.clock.now()
        s = self.settings
        soon_days = dt.timedelta(days=s.due_soon_days)
        soon_hours = dt.timedelta(hours=s.due_soon_hours)
        items: list[DueItem] = []
        for b in self.breaches(open_only=True):
            st = b.state
            items.append(DueItem(
                f"take remedial measures for PI breach {b.id}", "PI-57", None,
                sched.status(None, now, done=st.has("remediate"), soon=soon_hours), b.id,
                "PIPL Art. 57: immediately (no figure)"))
            timed = b.grade != "general"
            items.append(DueItem(
                f"notify the PI authority of breach {b.id}"
                + (f" ({b.grade} incident report)" if timed else ""),
                "PI-BREACH-GRADE" if timed else "PI-57", b.report_due,
                sched.status(b.report_due, now, done=st.has("notify_authority"),
                             soon=soon_hours), b.id,
                "Incident Reporting Measures Art. 4: 1 h CII / 2 h state organs / 4 h others"
                if timed else "PIPL Art. 57: immediately"
                + (" (own limit: notify_within_hours)" if b.report_due else " (no figure)")))
            people = st.individuals
            people_due = (b.detected_at + dt.timedelta(hours=s.notify_within_hours)
                          if s.notify_within_hours is not None else None)
            if people == "required":
                items.append(DueItem(
                    f"notify the individuals of breach {b.id} (the authority requires it)",
                    "PI-57-EXEMPT", people_due,
                    sched.status(people_due, now, done=False, soon=soon_hours), b.id,
                    f"required: {b.requirement_reason}"))
            else:
                items.append(DueItem(
                    f"notify the individuals of breach {b.id}", "PI-57-NOTICE", people_due,
                    sched.status(people_due, now, done=people in ("notified", "exempt"),
                                 soon=soon_hours), b.id,
                    "exempt: " + str(b.exemption_reason) if people == "exempt"
                    else "PIPL Art. 57: immediately"))
        items.append(self._audit_item(now, soon_days))
        items.extend(self._pipia_items(now, soon_days))
        rank = {"overdue": 0, "due-soon": 1, "ok": 2}
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        return sorted(items, key=lambda i: (rank[i.status], i.due or far, i.what))

    def _audit_item(self, now: dt.datetime, soon: dt.timedelta) -> DueItem:
        s = self.settings
        last = self.last_audit()
        day = self.next_audit_due()
        if day is None:
            return DueItem("PI-protection compliance audit (regular; no fixed interval at "
                           f"{s.individuals_count:,} individuals)", "PI-AUDIT", None, "ok",
                           last.id if last else None,
                           f"fixed interval above {s.audit_threshold:,} individuals only; set "
                           "privacy.below_threshold_interval_years for an own interval")
        due = end_of_day(day, self.tz)
        note = (f"at least every {s.interval_years} years above {s.audit_threshold:,} "
                "individuals (Compliance Audit Measures, in force 2025-05-01)"
                if s.audit_mandatory else f"own interval of {s.interval_years} years")
        if last is None:
            note += f"; none on record, first due {day}"
        else:
            note += f"; last completed {last.completed_on}"
        return DueItem("PI-protection compliance audit", "PI-AUDIT", due,
                       sched.status(due, now, done=False, soon=soon),
                       last.id if last else None, note, day)

    def _pipia_items(self, now: dt.datetime, soon: dt.timedelta) -> list[DueItem]:
        today = self._today(now)
        pipias = self.pipias()
        out = []
        for a in self.activities():
            if a.retired or not a.triggers:
                continue
            cur = self._current(a, pipias, today)
            if cur is None:
                day = (a.starts_on - dt.timedelta(days=1)) if a.starts_on else None
                due = end_of_day(day, self.tz) if day else a.registered_at
                out.append(DueItem(
                    f"PIPIA before processing: {a.name}", "PI-55/56", due,
                    sched.status(due, now, done=False, soon=soon), a.id,
                    f"Art. 55 triggers: {', '.join(a.triggers)}"
                    + ("" if a.starts_on else "; processing has started"), day))
                continue
            review = self._review_due(cur)
            review_at = end_of_day(review, self.tz) if review else None
            out.append(DueItem(
                f"PIPIA current: {a.name}", "PI-55/56", review_at,
                sched.status(review_at, now, done=False, soon=soon) if review_at else "ok", a.id,
                f"{cur.id} of {cur.assessed_on}, kept until {cur.retain_until}", review))
        return out

    def due_items(self, now: dt.datetime | None = None) -> list[DueItem]:
        """The items of :meth:`schedule` that need action (due soon or overdue)."""
        return [i for i in self.schedule(now) if i.status != "ok"]
