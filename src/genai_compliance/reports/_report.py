"""The HTML compliance report: one self-contained page built from the ledger.

Sections: ledger integrity; requests and refusals by reason over time; minors' usage against
their limits; consent coverage by purpose; incidents and complaints with deadlines; labels
issued and verified. Charts are inline SVG; the page has no scripts and loads nothing.
"""

from __future__ import annotations

import collections
import datetime as dt
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from ..clock import SHANGHAI
from ..ledger import Ledger, Record, VerifyReport
from ..rules import implements
from ._svg import bar_chart, stacked_bars

__all__ = ["ReportData", "build_report", "collect", "render_html"]

_CSS = """
body{font-family:"Noto Sans CJK SC","Noto Sans",system-ui,sans-serif;margin:24px auto;
max-width:960px;color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;border-bottom:1px solid #ddd;
padding-bottom:4px;margin-top:2em}.sub{color:#666;margin-top:2px}
table{border-collapse:collapse;width:100%;font-size:.9em}td,th{border:1px solid #ddd;
padding:4px 6px;text-align:left}th{background:#f4f6f8}.ok{color:#1d7a3a;font-weight:600}
.bad{color:#c0392b;font-weight:600}.chart{display:block;margin:8px 0;max-width:100%}
.chart-title{font-size:13px;font-weight:600}.tick,.legend{font-size:11px;fill:#444}
.muted{color:#888}.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ddd;
border-radius:6px;padding:8px 12px;min-width:120px}.card b{display:block;font-size:1.4em}
"""


@attrs.frozen
class ReportData:
    """Everything the report shows, aggregated from the ledger (also exported as JSON)."""

    generated_at: str
    integrity: dict[str, Any]
    calls_by_day: dict[str, dict[str, int]]
    totals: dict[str, int]
    minors: dict[str, dict[str, float]]
    consent: dict[str, dict[str, int]]
    incidents: list[dict[str, Any]]
    complaints: list[dict[str, Any]]
    labels: dict[str, dict[str, int]]
    kinds: dict[str, int]
    #: PIPL deadlines (PI-breach notices, compliance audits, PIPIA) from the privacy duty's
    #: ``schedule()``, when the report was built with them; ``overdue`` ones are findings
    deadlines: list[dict[str, Any]] = attrs.field(factory=list)

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _day(record: Record, tz: dt.tzinfo) -> str:
    return record.time.astimezone(tz).date().isoformat()


def _minor_minutes(notes: Mapping[str, Any], what: str) -> float | None:
    """A minor's figure in a call's notes, in minutes: ``minor_<what>_ms`` (integer
    milliseconds, since 0.2) or, in records written before, ``minor_<what>_minutes``."""
    ms = notes.get(f"minor_{what}_ms")
    if isinstance(ms, int) and not isinstance(ms, bool):
        return ms / 60_000
    minutes = notes.get(f"minor_{what}_minutes")
    if isinstance(minutes, int | float) and not isinstance(minutes, bool):
        return float(minutes)
    return None


def collect(records: Iterable[Record], integrity: VerifyReport, *, now: dt.datetime,
            tz: dt.tzinfo = SHANGHAI) -> ReportData:
    """Aggregate the records into :class:`ReportData`."""
    calls: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    totals: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    minors: dict[str, dict[str, float]] = {}
    grants: dict[tuple[str, str], bool] = {}
    subjects: set[str] = set()
    incidents: list[dict[str, Any]] = []
    complaints: dict[str, dict[str, Any]] = {}
    labels: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for rec in records:
        kinds[rec.kind] += 1
        p: Mapping[str, Any] = rec.payload
        if rec.subject:
            subjects.add(rec.subject)
        if rec.kind == "guard.call":
            outcome = str(p.get("outcome", "served"))
            key = "served" if outcome == "served" else str(p.get("reason") or outcome)
            calls[_day(rec, tz)][key] += 1
            totals[key] += 1
            totals["calls"] += 1
        if rec.kind == "guard.call" and rec.subject:
            notes = p.get("notes") or {}
            used = _minor_minutes(notes, "used") if isinstance(notes, dict) else None
            if used is not None:
                day = _day(rec, tz)
                key = f"{rec.subject[2:10]} {notes.get('age_band', '')} {day}"
                entry = minors.setdefault(key, {"used_minutes": 0.0, "limit_minutes": 0.0})
                entry["used_minutes"] = max(entry["used_minutes"], used)
                limit = _minor_minutes(notes, "limit")
                if limit is not None:
                    entry["limit_minutes"] = limit
        if rec.kind.startswith("consent.") and rec.subject:
            purpose = p.get("purpose")
            if isinstance(purpose, str):
                if rec.kind in ("consent.grant", "consent.granted", "consent.reconsent"):
                    grants[(rec.subject, purpose)] = True
                elif rec.kind in ("consent.withdraw", "consent.withdrawn", "consent.expire",
                                  "consent.expired", "consent.revoke"):
                    grants[(rec.subject, purpose)] = False
        elif rec.kind.startswith(("incident", "moderation.block", "illegal_use",
                                  "escalation")):
            incidents.append({"seq": rec.seq, "time": rec.time.astimezone(tz).isoformat(
                timespec="seconds"), "kind": rec.kind,
                "risk": p.get("risk") or p.get("risk_code"),
                "detail": p.get("action") or p.get("level") or p.get("status") or "",
                "due": p.get("due") or p.get("deadline")})
        elif rec.kind.startswith("complaint"):
            cid = str(p.get("complaint_id") or p.get("id") or p.get("ack_id") or rec.seq)
            row = complaints.setdefault(cid, {"id": cid, "received": rec.time.astimezone(
                tz).isoformat(timespec="seconds"), "status": "received", "due": None,
                "channel": None})
            row["status"] = p.get("status") or rec.kind.split(".")[-1]
            row["due"] = p.get("due") or p.get("deadline") or row["due"]
            row["channel"] = p.get("channel") or row["channel"]
        if rec.kind.startswith("label."):
            fmt = str(p.get("format") or p.get("media_type") or "?")
            labels[rec.kind.split(".", 1)[1]][fmt] += 1
    consent: dict[str, dict[str, int]] = {}
    for (_subject, purpose), active in grants.items():
        row = consent.setdefault(purpose, {"active": 0, "withdrawn": 0})
        row["active" if active else "withdrawn"] += 1
    now_iso = now.astimezone(tz).isoformat(timespec="seconds")
    for row in complaints.values():
        due = row.get("due")
        row["overdue"] = bool(due and str(due) < now_iso and row["status"] not in (
            "closed", "replied", "resolved", "answered"))
    totals["subjects"] = len(subjects)
    return ReportData(
        generated_at=now_iso,
        integrity=integrity.to_json(),
        calls_by_day={d: dict(c) for d, c in sorted(calls.items())},
        totals=dict(totals),
        minors=minors,
        consent=consent,
        incidents=incidents[-200:],
        complaints=list(complaints.values()),
        labels={k: dict(v) for k, v in labels.items()},
        kinds=dict(kinds),
    )


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return '<p class="muted">None recorded.</p>'
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    def cell(value: Any) -> str:
        return "" if value is None else html.escape(str(value))

    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(data: ReportData, *, title: str = "Generative-AI compliance report",
                provider: str | None = None) -> str:
    """The report page for ``data``."""
    esc = html.escape
    integ = data.integrity
    status = ('<span class="ok">intact</span>' if integ["ok"] else
              f'<span class="bad">NOT intact — first bad record {integ["first_bad_seq"]}: '
              f'{esc(str(integ["problem"]))}</span>')
    days = list(data.calls_by_day)
    reasons = sorted({k for c in data.calls_by_day.values() for k in c} - {"served"})
    series = {"served": [data.calls_by_day[d].get("served", 0) for d in days]}
    for reason in reasons:
        series[f"refused: {reason}"] = [data.calls_by_day[d].get(reason, 0) for d in days]
    calls_svg = (stacked_bars("Requests and refusals by reason, per day", days, series)
                 if days else '<p class="muted">No guarded calls recorded.</p>')
    minors_svg = '<p class="muted">No minors\' usage recorded.</p>'
    if data.minors:
        used = {k: v["used_minutes"] for k, v in list(data.minors.items())[:20]}
        limits = [v["limit_minutes"] for v in data.minors.values() if v["limit_minutes"]]
        minors_svg = bar_chart("Minors' daily use (minutes) against the limit", used,
                               limit=max(limits) if limits else None, unit=" min")
    consent_svg = '<p class="muted">No consent events recorded.</p>'
    if data.consent:
        subjects = max(1, data.totals.get("subjects", 1))
        coverage = {p: round(100 * v["active"] / subjects, 1) for p, v in
                    sorted(data.consent.items())}
        consent_svg = bar_chart("Consent coverage by purpose (% of subjects with an active "
                                "grant)", coverage, unit=" %", color="#3aa55d")
    label_rows = [{"event": k, "format": f, "count": n} for k, v in sorted(data.labels.items())
                  for f, n in sorted(v.items())]
    label_svg = ""
    if data.labels:
        label_svg = bar_chart("Labels by event", {k: sum(v.values()) for k, v in
                                                  sorted(data.labels.items())},
                              color="#8c5bd6")
    cards = "".join(f'<div class="card"><span>{esc(name)}</span><b>{value:,}</b></div>'
                    for name, value in (("guarded calls", data.totals.get("calls", 0)),
                                        ("served", data.totals.get("served", 0)),
                                        ("refused", data.totals.get("calls", 0)
                                         - data.totals.get("served", 0)),
                                        ("subjects", data.totals.get("subjects", 0)),
                                        ("ledger records", integ["records"])))
    kinds = _table([{"kind": k, "records": n} for k, n in sorted(data.kinds.items())],
                   ["kind", "records"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{esc(title)}</h1>
<p class="sub">{esc(provider or "")} · generated {esc(data.generated_at)} · not legal advice</p>
<div class="cards">{cards}</div>
<h2>Ledger integrity (CSL-21)</h2>
<p>{status}. {integ["records"]:,} records (seq {integ["first_seq"]}–{integ["last_seq"]}),
{integ["checkpoints"]:,} signed checkpoints; keys {esc(", ".join(integ["key_ids"]))}
{"(pinned)" if integ["pinned_key"] else "(recorded in the ledger)"}.</p>
<h2>Requests and refusals (IM-14a, IM-14b)</h2>
{calls_svg}
<h2>Minors' usage against limits (IM-10, MM-final)</h2>
{minors_svg}
<h2>Consent coverage by purpose (PI-14, PI-SEP)</h2>
{consent_svg}
{_table([{"purpose": p, **v} for p, v in sorted(data.consent.items())],
        ["purpose", "active", "withdrawn"]) if data.consent else ""}
<h2>Incidents (IM-14a, IM-14b, CSL-INC)</h2>
{_table(data.incidents, ["seq", "time", "kind", "risk", "detail", "due"])}
<h2>Complaints and deadlines (IM-15)</h2>
{_table(data.complaints, ["id", "received", "channel", "status", "due", "overdue"])}
{_deadlines(data.deadlines)}
<h2>Labels issued and verified (LM-4, LM-5, LM-6)</h2>
{label_svg}
{_table(label_rows, ["event", "format", "count"])}
<h2>Records by kind</h2>
{kinds}
</body></html>
"""


def _deadlines(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    overdue = sum(1 for r in rows if r.get("status") == "overdue")
    head = (f'<p><span class="bad">{overdue} overdue</span></p>' if overdue else
            '<p><span class="ok">none overdue</span></p>')
    return ("<h2>PIPL deadlines: breaches, audits, PIPIA (PI-57, PI-AUDIT, PI-55/56)</h2>\n"
            + head + _table(rows, ["what", "rule", "due_date", "status", "ref"]))


@implements("CSL-21", "IM-19")
def build_report(ledger: Ledger | str, *, now: dt.datetime | None = None,
                 tz: dt.tzinfo = SHANGHAI, public_key: Any = None,
                 provider: str | None = None,
                 deadlines: Sequence[Mapping[str, Any]] = ()) -> tuple[str, ReportData]:
    """Verify the ledger and build the report: returns ``(html, data)``. A URI is opened
    read-only (:class:`~genai_compliance.ledger.ReadOnlyLedger`): building a report never
    creates a file, a table or a key; a missing ledger raises ``LedgerNotFound``.
    ``deadlines`` are the privacy duty's schedule items (``[i.to_json() for i in
    compliance.privacy.schedule()]``), shown with the overdue ones marked."""
    if isinstance(ledger, str):
        from ..clock import SystemClock
        from ..ledger import ReadOnlyLedger

        with ReadOnlyLedger(ledger) as ro:
            integrity = ro.verify(public_key)
            data = collect(ro.records(), integrity, now=now or SystemClock().now(), tz=tz)
    else:
        integrity = ledger.verify(public_key)
        data = collect(ledger.records(), integrity, now=now or ledger.clock.now(), tz=tz)
    if deadlines:
        data = attrs.evolve(data, deadlines=[dict(d) for d in deadlines])
    return render_html(data, provider=provider), data
