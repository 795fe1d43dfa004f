"""Illegal-content handling (IM-14a) and security-incident timers (CSL-INC)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from genai_compliance import (
    Compliance,
    ConfigurationError,
    FrozenClock,
    Ledger,
    RecordNotFound,
    Subject,
)
from genai_compliance.incidents import HANDLING_STEPS, Incidents
from genai_compliance.risks import Risk
from genai_compliance.testing import make_compliance

USER = Subject("user-1", birth_date="1990-01-01")


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    comp = make_compliance(tmp_path, clock=FrozenClock("2026-03-02T02:00:00+00:00"))
    yield comp
    comp.close()


def test_block_record_keeps_hash_not_content(comp: Compliance) -> None:
    """A block is a ledger record with risk code, place, SHA-256 and the IM-14a steps; the
    content never enters the ledger."""
    inc: Incidents = comp.incidents
    case = inc.handle_block(risk=Risk.A_1f, content="违法的输出内容", where="output",
                            subject=USER, detail={"profile": "default"})
    rec = next(iter(comp.records("incident.illegal_content")))
    p = rec.payload
    assert p["case"] == case and p["risk"] == "A.1f" and p["where"] == "output"
    assert p["sha256"] == hashlib.sha256("违法的输出内容".encode()).hexdigest()
    assert "违法" not in str(p)
    assert p["steps"] == list(HANDLING_STEPS) and p["profile"] == "default"
    assert rec.subject == comp.ledger.pseudonym(USER)


def test_retention_purge_and_retraining_export(comp: Compliance) -> None:
    """Content is queued for optimisation and dropped after the retention period; the hash
    stays; the export itself is recorded."""
    inc: Incidents = comp.incidents
    inc.handle_block(risk="A.1a", content="x", where="input")
    inc.handle_block(risk="A.2", content="y", where="input", keep_content=False)
    cases = inc.export_retraining_cases()
    assert [c["content"] for c in cases] == ["x", None] and cases[1]["risk"] == "A.2"
    assert inc.export_retraining_cases(with_content=False)[0]["content"] is None
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(days=183)
    assert inc.purge_expired() == 0
    clock.advance(days=1)
    assert inc.purge_expired() == 1
    case = inc.export_retraining_cases()[0]
    assert case["content"] is None and len(case["sha256"]) == 64
    assert len(list(comp.records("incident.retraining_export"))) == 3
    assert next(iter(comp.records("incident.content_purged"))).payload == {"cases": 1}


def test_unknown_risk_code_is_refused(comp: Compliance) -> None:
    """A risk code outside A.1a … A.5b (or the A.1 … A.5 categories) is refused."""
    with pytest.raises(ConfigurationError, match="not a risk code"):
        comp.incidents.handle_block(risk="B.9", content="x", where="input")


def test_tables_on_both_databases(sql_uri: str, tmp_path: Path) -> None:
    """Cases and incidents live in SQLite or PostgreSQL tables."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", durability="process")
    inc = Incidents(sql_uri, ledger, clock=FrozenClock("2026-03-02T02:00:00+00:00"))
    try:
        inc.handle_block(risk="A.1a", content="x", where="input")
        si = inc.security_incident("leak", critical_infrastructure=True)
        assert inc.cases() == 1 and inc.security_incidents() == [si]
        for _ in range(3):
            inc.register_input(USER, illegal=True)
        assert inc.standing(USER).level == "suspended"
    finally:
        inc.close()
        ledger.close()


def test_security_incident_timers(comp: Compliance) -> None:
    """CSL-INC: 1 hour for critical infrastructure, 4 hours otherwise; overdue detected;
    a late report is recorded as late."""
    inc: Incidents = comp.incidents
    cii = inc.security_incident("DDoS on the API", critical_infrastructure=True)
    other = inc.security_incident("data leak", severity="major")
    general = inc.security_incident("probe", severity="general")
    assert cii.due is not None and cii.due - cii.detected_at == dt.timedelta(hours=1)
    assert other.due is not None and other.due - other.detected_at == dt.timedelta(hours=4)
    assert general.due is None and inc.time_left(general.id) is None
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(minutes=59)
    assert inc.security_incidents(overdue=True) == []
    assert inc.time_left(cii.id) == dt.timedelta(minutes=1)
    clock.advance(minutes=2)
    assert [i.id for i in inc.security_incidents(overdue=True)] == [cii.id]
    done = inc.mark_reported(cii.id, authority="省网信办")
    assert done.authority == "省网信办" and inc.time_left(cii.id) is None
    assert inc.security_incidents(overdue=True) == []
    late = [r.payload["late"] for r in comp.records("incident.security_reported")]
    assert late == [True]
    with pytest.raises(ConfigurationError, match="already reported"):
        inc.mark_reported(cii.id)
    with pytest.raises(RecordNotFound):
        inc.mark_reported("SI-000000000000")
    with pytest.raises(ConfigurationError, match="severity"):
        inc.security_incident("x", severity="huge")
    with pytest.raises(ConfigurationError, match="time zone"):
        inc.security_incident("x", detected_at=dt.datetime(2026, 3, 2, 10))


def test_state_organs_report_within_two_hours(comp: Compliance) -> None:
    """CSL-INC (Incident Reporting Measures Art. 4): an operator that is a central or state
    organ (or a directly affiliated unit) reports within 2 h to its department's
    cyberspace-affairs body; as CII it gets the 1 h limit; the report names the recipient
    and the tier survives a reload from the table."""
    from genai_compliance.incidents import incident_report

    inc: Incidents = comp.incidents
    organ = inc.security_incident("defaced portal", state_organ=True)
    both = inc.security_incident("outage", state_organ=True, critical_infrastructure=True)
    assert organ.due is not None and organ.due - organ.detected_at == dt.timedelta(hours=2)
    assert both.due is not None and both.due - both.detected_at == dt.timedelta(hours=1)
    assert inc.security_incident_by_id(organ.id).state_organ is True
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(minutes=119)
    assert [i.id for i in inc.security_incidents(overdue=True)] == [both.id]
    clock.advance(minutes=2)
    assert {i.id for i in inc.security_incidents(overdue=True)} == {organ.id, both.id}
    report = incident_report(inc, provider=comp.provider, case=organ.id)
    assert report["state_organ"] is True and "cyberspace-affairs body" in report["recipient"]
    assert report["late"] is True
