"""Incidents: escalation ladder, complaints and deadlines, timers, reports and bundles."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import (
    CallContext,
    Check,
    Compliance,
    ConfigurationError,
    ContentBlocked,
    FrozenClock,
    ServiceRestricted,
    SigningError,
    Subject,
)
from genai_compliance.incidents import (
    EscalationPolicy,
    IllegalUseCheck,
    Incidents,
    WorkingCalendar,
    add_working_days,
    incident_report,
    periodic_summary,
    verify_bundle,
    write_bundle,
)
from genai_compliance.testing import TEST_PROVIDER, make_compliance

USER = Subject("user-1", birth_date="1990-01-01")


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    comp = make_compliance(tmp_path, clock=FrozenClock("2026-03-02T02:00:00+00:00"))
    yield comp
    comp.close()


def test_working_days_skip_weekends_holidays_and_count_adjusted_days() -> None:
    """15 working days across the 2026 Spring Festival and its adjusted Saturday."""
    assert add_working_days(dt.date(2026, 2, 12), 1) == dt.date(2026, 2, 13)
    assert add_working_days(dt.date(2026, 2, 13), 1) == dt.date(2026, 2, 14)  # 调休 Saturday
    assert add_working_days(dt.date(2026, 2, 14), 1) == dt.date(2026, 2, 24)  # after the break
    cal = WorkingCalendar(extra_holidays=["2030-02-08"])  # a year outside the table
    assert cal.add(dt.date(2030, 2, 7), 1) == dt.date(2030, 2, 11)


def test_default_ladder_three_in_a_row_suspends(comp: Compliance) -> None:
    """SR-14: warn, limit, then suspend at 3 illegal inputs in a row; records kept."""
    inc: Incidents = comp.incidents
    levels = [inc.register_input(USER, illegal=True, risk="A.1a").level for _ in range(3)]
    assert levels == ["warned", "limited", "suspended"]
    actions = [r.payload["level"] for r in comp.records("illegal_use.action")]
    assert actions == ["warned", "limited", "suspended"]


def test_five_a_day_suspends_even_when_interleaved(comp: Compliance) -> None:
    """5 illegal inputs in one local day suspend, even with clean inputs between them."""
    inc: Incidents = comp.incidents
    for _ in range(4):
        inc.register_input(USER, illegal=True)
        inc.register_input(USER, illegal=False)
    assert inc.standing(USER).level == "warned"  # never two in a row
    assert inc.register_input(USER, illegal=True).level == "suspended"


def test_suspension_expires_and_appeal(comp: Compliance) -> None:
    """A suspension lasts its days; an upheld appeal restores service."""
    inc: Incidents = comp.incidents
    for _ in range(3):
        inc.register_input(USER, illegal=True)
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(days=8)
    assert inc.standing(USER).level == "limited"
    inc.appeal(USER, "I was quoting the news")
    inc.decide_appeal(USER, upheld=True)
    assert inc.standing(USER).level == "none"
    with pytest.raises(Exception, match="no appeal"):
        inc.decide_appeal(USER, upheld=False)


class ModelInput(Check):
    name = "blocker"

    def before(self, ctx: CallContext) -> None:
        if "违禁" in (ctx.prompt or ""):
            raise ContentBlocked("blocked", risk="A.1a", where="input", rules=("IM-14a",))


def test_guard_enforces_the_ladder(comp: Compliance) -> None:
    """Blocked inputs climb the ladder through the guard; a suspended user is refused."""
    comp.add_check(IllegalUseCheck(comp.incidents))
    comp.add_check(ModelInput())

    @comp.guard
    def generate(prompt: str) -> str:
        return "ok"

    for _ in range(3):
        with pytest.raises(ContentBlocked):
            generate("违禁", subject=USER)
    with pytest.raises(ServiceRestricted) as info:
        generate("hello", subject=USER)
    assert info.value.retry_after is not None and info.value.http_status == 403


@st.composite
def _events(draw: Any) -> list[tuple[str, int]]:
    return draw(st.lists(st.tuples(st.sampled_from(["bad", "good", "hours"]),
                                   st.integers(1, 30)), max_size=30))


@settings(max_examples=40)
@given(events=_events())
def test_ladder_matches_reference_model(tmp_path_factory: Any,
                                        events: list[tuple[str, int]]) -> None:
    """Property: the stored ladder equals a tiny reference model for any event sequence."""
    clock = FrozenClock("2026-03-02T02:00:00+00:00")
    comp = make_compliance(tmp_path_factory.mktemp("l"), clock=clock)
    inc: Incidents = comp.incidents
    p = EscalationPolicy()
    level, consec, daily, day, susp, until = "none", 0, 0, None, 0, None
    order = ["none", "warned", "limited", "suspended", "terminated"]
    for op, n in events:
        if op == "hours":
            clock.advance(hours=n)
            continue
        now = clock.now()
        if level == "suspended" and until is not None and now >= until:
            level, until = "limited", None
        today = now.astimezone(comp.tz).date()
        if day != today:
            day, daily = today, 0
        if op == "good":
            consec = 0
        else:
            consec, daily = consec + 1, daily + 1
            if level != "terminated":
                if consec >= p.suspend_consecutive or daily >= p.suspend_daily:
                    if susp + 1 >= p.terminate_after_suspensions:
                        level, susp, until = "terminated", susp + 1, None
                    elif level != "suspended":
                        level, susp = "suspended", susp + 1
                        until = now + dt.timedelta(days=p.suspend_days)
                        consec = daily = 0
                elif consec >= p.limit_after and order.index(level) < 2:
                    level = "limited"
                elif consec >= p.warn_after and order.index(level) < 1:
                    level = "warned"
        got = inc.register_input(USER, illegal=op == "bad")
        expected = level
        if level == "suspended" and until is not None and clock.now() >= until:
            expected = "limited"
        assert got.level == expected
    comp.close()


def test_complaint_lifecycle_deadline_and_overdue(comp: Compliance) -> None:
    """Complaints: ack id, 15-working-day deadline, forward-only statuses, overdue alerts."""
    inc: Incidents = comp.incidents
    c = inc.file_complaint(channel="email", category="content", content_ref="call-1",
                           contact=None, text="这条内容有问题")
    assert c.id.startswith("C-20260302-") and c.status == "received"
    assert c.due == dt.date(2026, 3, 23)
    inc.update_complaint(c.id, "acknowledged")
    with pytest.raises(ConfigurationError, match="cannot go from"):
        inc.update_complaint(c.id, "received")
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(days=30)
    assert [x.id for x in inc.complaints(overdue=True)] == [c.id]
    done = inc.update_complaint(c.id, "replied", reply="已处理")
    assert done.reply == "已处理" and inc.complaints(overdue=True) == []
    assert inc.complaint_stats()["by_status"] == {"replied": 1}
    kinds = [r.kind for r in comp.records("complaint")]
    assert kinds == ["complaint.received", "complaint.acknowledged", "complaint.replied"]
    assert next(iter(comp.records("complaint.replied"))).payload["late"] is True


STATUSES = ["acknowledged", "investigating", "replied", "closed", "received"]


@settings(max_examples=30)
@given(steps=st.lists(st.sampled_from(STATUSES), max_size=12))
def test_complaint_state_machine_property(tmp_path_factory: Any, steps: list[str]) -> None:
    """Property: only allowed transitions succeed; the stored status follows them."""
    allowed = {"received": {"acknowledged", "investigating", "replied", "closed"},
               "acknowledged": {"investigating", "replied", "closed"},
               "investigating": {"replied", "closed"},
               "replied": {"closed", "investigating"}, "closed": set()}
    comp = make_compliance(tmp_path_factory.mktemp("c"))
    inc: Incidents = comp.incidents
    cid = inc.file_complaint(channel="app", category="privacy").id
    state = "received"
    for step in steps:
        if step in allowed[state]:
            inc.update_complaint(cid, step)
            state = step
        else:
            with pytest.raises(ConfigurationError):
                inc.update_complaint(cid, step)
        assert inc.complaint(cid).status == state
    comp.close()


def test_security_incident_timers(comp: Compliance) -> None:
    """CSL-INC: 1 hour for critical infrastructure, 4 hours otherwise; overdue detected."""
    inc: Incidents = comp.incidents
    cii = inc.security_incident("DDoS", critical_infrastructure=True)
    other = inc.security_incident("leak")
    assert cii.due - cii.detected_at == dt.timedelta(hours=1)
    assert other.due - other.detected_at == dt.timedelta(hours=4)
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(hours=2)
    assert [i.id for i in inc.security_incidents(overdue=True)] == [cii.id]
    inc.mark_reported(cii.id)
    assert inc.security_incidents(overdue=True) == []


def test_reports_validate_and_bundle_detects_tampering(comp: Compliance,
                                                        tmp_path: Path) -> None:
    """Incident report and summary validate; the signed bundle fails after any edit."""
    inc: Incidents = comp.incidents
    case = inc.handle_block(risk="A.1f", content="bad output", where="output", subject=USER)
    report = incident_report(inc, provider=TEST_PROVIDER, case=case)
    assert report["measures"][:2] == ["stop_generation", "stop_transmission"]
    now = comp.clock.now()
    summary = periodic_summary(inc, provider=TEST_PROVIDER, since=now - dt.timedelta(days=1),
                               until=now + dt.timedelta(seconds=1))
    assert summary["blocked_by_risk"] == {"A.1f": 1} and summary["retraining_cases"] == 1
    key = comp.ledger._key_obj
    bundle = write_bundle(tmp_path / "b.zip", {"report.json": report, "summary.json": summary},
                          key)
    assert verify_bundle(bundle, key.public_key()) == ["report.json", "summary.json"]
    with zipfile.ZipFile(bundle) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    items["summary.json"] = items["summary.json"].replace(b"A.1f", b"A.1g")
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as zf:
        for n, data in items.items():
            zf.writestr(n, data)
    with pytest.raises(SigningError, match=r"summary\.json was changed"):
        verify_bundle(tmp_path / "t.zip", key.public_key())


def test_retained_content_is_purged_after_retention(comp: Compliance) -> None:
    """Blocked content is queued for optimisation and dropped after its retention period."""
    inc: Incidents = comp.incidents
    inc.handle_block(risk="A.1a", content="x", where="input")
    assert inc.export_retraining_cases()[0]["content"] == "x"
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(days=200)
    assert inc.purge_expired() == 1
    case = inc.export_retraining_cases()[0]
    assert case["content"] is None and len(case["sha256"]) == 64


def test_tables_on_postgres(postgres_uri: str) -> None:
    """The ladder and complaints work on the real PostgreSQL too."""
    from genai_compliance import Ledger

    ledger = Ledger(postgres_uri)
    inc = Incidents(postgres_uri, ledger)
    for _ in range(3):
        inc.register_input(USER, illegal=True)
    assert inc.standing(USER).level == "suspended"
    c = inc.file_complaint(channel="phone", category="other")
    assert inc.complaint(c.id).status == "received"
    ledger.close()
