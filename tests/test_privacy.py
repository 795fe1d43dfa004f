"""The privacy duty: PI-breach workflow and notices (PI-57, PI-57-NOTICE, PI-57-EXEMPT,
PI-BREACH-GRADE, NDSR-11), compliance-audit schedule (PI-AUDIT), PIPIA records (PI-55/56,
PI-56-CONTENT) and the schedule, on SQLite and the real PostgreSQL."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import pytest

from genai_compliance import (
    ConfigurationError,
    FrozenClock,
    Ledger,
    RecordNotFound,
    RetentionError,
)
from genai_compliance.errors import ComplianceError
from genai_compliance.privacy import (
    GRADES,
    Privacy,
    PrivacySettings,
    StepOutOfOrder,
)
from genai_compliance.rules import load_rules
from genai_compliance.testing import TEST_PROVIDER, make_compliance

START = "2026-03-02T02:00:00+00:00"  # 10:00 in Shanghai
NEW_RULES = ("PI-57-NOTICE", "PI-57-EXEMPT", "PI-BREACH-GRADE", "NDSR-11", "PI-AUDIT",
             "PI-56-CONTENT")
FACTS: dict[str, Any] = {"cause": "对象存储桶误设为公开", "possible_harm": "骚扰电话和诈骗短信",
                         "individual_measures": ["警惕冒充客服的来电", "修改账户密码"]}


@pytest.fixture(name="clock")
def _clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture(name="ledger")
def _ledger(tmp_path: Path, clock: FrozenClock) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", clock=clock, durability="process")
    yield ledger
    ledger.close()


@pytest.fixture(name="privacy")
def _privacy(sql_uri: str, ledger: Ledger, clock: FrozenClock) -> Iterator[Privacy]:
    p = Privacy(sql_uri, ledger, provider=TEST_PROVIDER, clock=clock,
                settings={"individuals_count": 12_000_000})
    yield p
    p.close()


def _kinds(ledger: Ledger, breach: str) -> list[str]:
    return [r.kind for r in ledger.records(kind="privacy.breach")
            if r.payload["breach"] == breach]


def _open(p: Privacy, individuals: int = 1200, **kw: Any) -> str:
    return p.open_breach("导出桶公开", pi_kinds=["手机号码", "姓名"], individuals=individuals,
                         **kw).id


def test_full_workflow_records_each_step_once(privacy: Privacy, ledger: Ledger,
                                              clock: FrozenClock) -> None:
    """open → remediate → notify authority → notify individuals → close: each step one
    ledger record, in order, with its time; the notices carry every Art. 57 item."""
    bid = _open(privacy)
    clock.advance(600)
    privacy.remediate(bid, ["关闭公开访问", "轮换访问密钥"], cause=FACTS["cause"],
                      possible_harm=FACTS["possible_harm"])
    b, authority = privacy.notify_authority(
        bid, individual_measures=FACTS["individual_measures"])
    b, people = privacy.notify_individuals(bid, channel="sms", recipients=1200)
    b = privacy.close_breach(bid)
    assert b.steps == ("open", "remediate", "notify_authority", "notify_individuals", "close")
    assert _kinds(ledger, bid) == [f"privacy.breach.{s}" for s in b.steps]
    assert b.at("remediate") == clock.now() and b.allowed == ()
    zh, en = people["zh"].text, people["en"].text
    for part in ("手机号码", "姓名", FACTS["cause"], FACTS["possible_harm"], "关闭公开访问",
                 "轮换访问密钥", "警惕冒充客服的来电", TEST_PROVIDER.contact_email,
                 "第五十七条"):
        assert part in zh
    assert "Kinds of personal information involved: 手机号码, 姓名" in en
    assert "What you can do to reduce the harm" in en and "Article 57" in en
    assert "1200" in authority["zh"].text and TEST_PROVIDER.uscc in authority["en"].text
    rec = next(iter(ledger.records(kind="privacy.breach.notify_individuals")))
    assert rec.payload["sha256"]["zh"] == hashlib.sha256(zh.encode()).hexdigest()
    assert rec.payload["channel"] == "sms" and "PI-57-NOTICE" in rec.payload["rules"]
    assert privacy.breach(bid).notices["individuals"]["en"] == en


def test_steps_out_of_order_are_refused_and_not_recorded(privacy: Privacy,
                                                         ledger: Ledger) -> None:
    """A notice before remediation, a second notice and an early close are refused with
    StepOutOfOrder naming what is possible; nothing is recorded for them."""
    bid = _open(privacy)
    with pytest.raises(StepOutOfOrder, match="possible now: remediate") as err:
        privacy.notify_authority(bid, **FACTS)
    assert err.value.step == "notify_authority" and err.value.allowed == ("remediate",)
    privacy.remediate(bid, "关闭公开访问", **{k: v for k, v in FACTS.items()
                                             if k != "individual_measures"})
    with pytest.raises(StepOutOfOrder, match="notify the authority"):
        privacy.close_breach(bid)
    privacy.notify_authority(bid, individual_measures=FACTS["individual_measures"])
    with pytest.raises(StepOutOfOrder, match="notified once"):
        privacy.notify_authority(bid)
    assert _kinds(ledger, bid) == ["privacy.breach.open", "privacy.breach.remediate",
                                   "privacy.breach.notify_authority"]
    with pytest.raises(RecordNotFound):
        privacy.remediate("PIB-nope", "x")


def test_missing_notice_facts_are_named_and_nothing_changes(privacy: Privacy,
                                                            ledger: Ledger) -> None:
    """Without cause, possible harm or what individuals can do, the notice is refused,
    naming the missing items; the step is not taken."""
    bid = _open(privacy)
    privacy.remediate(bid, "关闭公开访问")
    with pytest.raises(ConfigurationError, match="cause, possible_harm, individual_measures"):
        privacy.notify_individuals(bid, channel="sms")
    assert privacy.breach(bid).steps == ("open", "remediate")
    assert len(_kinds(ledger, bid)) == 2
    privacy.notify_individuals(bid, channel="sms", **FACTS)  # facts given at the step


def test_exemption_then_the_authority_requires_the_notice(privacy: Privacy) -> None:
    """Art. 57 ¶2: an exemption is recorded with its reason and lets the breach close; when
    the authority requires the notice, individuals must be notified before closing."""
    bid = _open(privacy)
    privacy.remediate(bid, "数据在泄露前已加密且密钥未泄露", **FACTS)
    privacy.notify_authority(bid)
    b = privacy.exempt_individuals(bid, reason="数据已加密，措施能有效避免危害")
    assert b.exemption_reason == "数据已加密，措施能有效避免危害" and "close" in b.allowed
    with pytest.raises(StepOutOfOrder):
        privacy.notify_individuals(bid, channel="sms")
    b = privacy.authority_requires_notice(bid, reason="网信部门认为可能造成危害")
    assert b.state.individuals == "required" and "close" not in b.allowed
    assert any(i.rule == "PI-57-EXEMPT" and i.ref == bid for i in privacy.due_items())
    with pytest.raises(StepOutOfOrder):
        privacy.close_breach(bid)
    privacy.notify_individuals(bid, channel="app")
    assert privacy.close_breach(bid).state.closed


@pytest.mark.parametrize(("individuals", "events", "given", "grade"), [
    (1200, ("leak",), None, "general"),
    (1_000_000, ("leak",), None, "relatively-major"),
    (10_000_000, ("leak",), None, "major"),
    (100_000_000, ("leak",), None, "particularly-major"),
    (5_000_000, ("loss",), None, "general"),
    (5, ("falsification",), "major", "major"),
    (100_000_000, ("leak",), "relatively-major", "particularly-major"),
])
def test_grading_and_report_deadline(privacy: Privacy, clock: FrozenClock, individuals: int,
                                     events: tuple[str, ...], given: str | None,
                                     grade: str) -> None:
    """The PI count of a leak raises the grade (PI-BREACH-GRADE); a graded breach is due at
    the authority within 4 h of detection for an ordinary operator (CSL-INC)."""
    b = privacy.open_breach("leak", pi_kinds=["e-mail"], individuals=individuals,
                            events=events, grade=given)
    assert b.grade == grade
    if grade == "general":
        assert b.report_due is None
    else:
        assert b.report_due == clock.now() + dt.timedelta(hours=4)


@pytest.mark.parametrize(("settings", "hours"), [
    ({"breach": {"critical_infrastructure": True}}, 1),
    ({"breach": {"state_organ": True}}, 2),
    ({"breach": {"critical_infrastructure": True, "state_organ": True}}, 1),
])
def test_report_hours_by_operator(ledger: Ledger, clock: FrozenClock, tmp_path: Path,
                                  settings: dict[str, Any], hours: int) -> None:
    """CII operators report within 1 h, central and state organs within 2 h."""
    p = Privacy(f"sqlite:///{tmp_path / 'p.db'}", ledger, clock=clock, settings=settings)
    detected = clock.now() - dt.timedelta(minutes=30)
    b = p.open_breach("x", pi_kinds=["id"], individuals=2_000_000, detected_at=detected)
    assert b.report_due == detected + dt.timedelta(hours=hours)
    p.close()


def test_late_authority_report_is_flagged(privacy: Privacy, ledger: Ledger,
                                          clock: FrozenClock) -> None:
    """The schedule shows the report overdue past the deadline; the record says late."""
    bid = _open(privacy, individuals=3_000_000)
    privacy.remediate(bid, "封堵接口", **FACTS)
    clock.advance(hours=3, minutes=30)
    item = next(i for i in privacy.due_items() if i.rule == "PI-BREACH-GRADE")
    assert item.status == "due-soon" and item.ref == bid
    clock.advance(hours=1)
    item = next(i for i in privacy.due_items() if i.rule == "PI-BREACH-GRADE")
    assert item.status == "overdue"
    privacy.notify_authority(bid)
    assert next(iter(ledger.records(kind="privacy.breach.notify_authority"))).payload["late"]
    assert not any(i.rule == "PI-BREACH-GRADE" for i in privacy.due_items())


def test_bad_breach_input_is_refused(privacy: Privacy, clock: FrozenClock) -> None:
    """No PI kinds, a negative count, an unknown event or grade, a naive or future time."""
    cases: list[dict[str, Any]] = [
        {"pi_kinds": []}, {"individuals": -1}, {"events": ["stolen"]}, {"grade": "huge"},
        {"detected_at": dt.datetime(2026, 3, 1)},
        {"detected_at": clock.now() + dt.timedelta(hours=1)}]
    for case in cases:
        kw: dict[str, Any] = {"pi_kinds": ["x"], "individuals": 1, **case}
        with pytest.raises(ConfigurationError) as err:
            privacy.open_breach("x", **kw)
        assert err.value.field in case, case


def test_notice_without_a_contact_is_refused(ledger: Ledger, clock: FrozenClock,
                                             tmp_path: Path) -> None:
    """Art. 57 (三): no handler contact (no [privacy.contact], provider without one) → a
    ConfigurationError naming privacy.contact; [privacy.contact] fills it."""
    bare = attrs.evolve(TEST_PROVIDER, contact_email=None, contact_phone=None)
    p = Privacy(f"sqlite:///{tmp_path / 'p.db'}", ledger, provider=bare, clock=clock)
    bid = _open(p)
    p.remediate(bid, "m", **FACTS)
    with pytest.raises(ConfigurationError) as err:
        p.render_notice(bid)
    assert err.value.field == "privacy.contact"
    p2 = Privacy(p.db, ledger, provider=bare, clock=clock,
                 settings={"contact": {"name": "个人信息保护负责人", "phone": "400-000-0000"}})
    text = p2.render_notice(bid, "individuals")["zh"].text
    assert "个人信息保护负责人；电话 400-000-0000" in text
    p.close()


# -- audits (PI-AUDIT) ------------------------------------------------------------------------
def test_audit_schedule_above_ten_million(privacy: Privacy, clock: FrozenClock,
                                          ledger: Ledger) -> None:
    """Above 10 million individuals the next audit is due 2 years after the last periodic
    one (an authority-requested audit does not move it); overdue the day after."""
    assert privacy.next_audit_due() == dt.date(2027, 5, 1)  # none on record
    privacy.record_audit(completed_on=dt.date(2025, 12, 20), kind="commissioned",
                         auditor="某会计师事务所", report_ref="RPT-1")
    privacy.record_audit(completed_on=dt.date(2026, 2, 1), kind="commissioned",
                         trigger="authority-request", auditor="某律所")
    assert privacy.next_audit_due() == dt.date(2027, 12, 20)
    assert next(iter(ledger.records(kind="privacy.audit"))).payload["next_due"] == "2027-12-20"
    clock.set("2027-12-20T15:59:00+00:00")  # 23:59 in Shanghai on the due day
    item = next(i for i in privacy.schedule() if i.rule == "PI-AUDIT")
    assert item.status == "due-soon" and item.due_date == dt.date(2027, 12, 20)
    clock.advance(120)
    assert next(i for i in privacy.due_items() if i.rule == "PI-AUDIT").status == "overdue"


def test_audit_below_threshold_has_no_fixed_date(ledger: Ledger, clock: FrozenClock,
                                                 tmp_path: Path) -> None:
    """At or below 10 million there is no fixed interval unless the handler sets its own."""
    uri = f"sqlite:///{tmp_path / 'p.db'}"
    p = Privacy(uri, ledger, clock=clock, settings={"individuals_count": 10_000_000})
    assert p.next_audit_due() is None
    assert next(i for i in p.schedule() if i.rule == "PI-AUDIT").status == "ok"
    own = Privacy(uri, ledger, clock=clock, settings={"individuals_count": 5,
                                                      "below_threshold_interval_years": 3})
    own.record_audit(completed_on=dt.date(2024, 2, 29), auditor="内审部")
    assert own.next_audit_due() == dt.date(2027, 2, 28)
    p.close()
    own.close()


def test_bad_audits_are_refused(privacy: Privacy) -> None:
    """A future date, an unknown kind, an authority-requested internal audit."""
    with pytest.raises(ConfigurationError, match="in the future"):
        privacy.record_audit(completed_on=dt.date(2026, 3, 3), auditor="x")
    with pytest.raises(ConfigurationError) as err:
        privacy.record_audit(completed_on=dt.date(2026, 1, 1), kind="self", auditor="x")
    assert err.value.field == "kind"
    with pytest.raises(ConfigurationError, match="commissioned"):
        privacy.record_audit(completed_on=dt.date(2026, 1, 1), trigger="authority-request",
                             auditor="x")


# -- PIPIA (PI-55/56) -------------------------------------------------------------------------
PIPIA: dict[str, str] = {"purpose": "个性化推荐", "necessity": "仅用于推荐，最小必要",
                         "impact": "画像可能影响个人权益；泄露风险中等",
                         "measures": "去标识化、访问控制、提供不针对个人特征的选项",
                         "conclusion": "风险可控", "assessor": "个人信息保护负责人"}


def test_pipia_lifecycle_and_lacking_list(privacy: Privacy, clock: FrozenClock,
                                          ledger: Ledger) -> None:
    """An activity meeting an Art. 55 trigger lacks a PIPIA until one is recorded; a change
    of the activity needs a new one; a retired activity needs none."""
    privacy.register_activity("recs", "个性化推荐", triggers=["automated-decision"],
                              starts_on=dt.date(2026, 6, 1))
    privacy.register_activity("logs", "运行日志", triggers=[])
    assert [a.id for a in privacy.lacking_pipia()] == ["recs"]
    item = next(i for i in privacy.schedule() if i.ref == "recs")
    assert item.status == "ok" and item.due_date == dt.date(2026, 5, 31)  # 60-day window
    clock.set("2026-04-15T02:00:00+00:00")
    assert next(i for i in privacy.due_items() if i.ref == "recs").status == "due-soon"
    clock.set("2026-06-01T02:00:00+00:00")
    assert next(i for i in privacy.due_items() if i.ref == "recs").status == "overdue"
    p = privacy.record_pipia("recs", **PIPIA)
    assert p.retain_until == dt.date(2029, 6, 1) and privacy.lacking_pipia() == []
    assert next(i for i in privacy.schedule() if i.ref == "recs").status == "ok"
    rec = next(iter(ledger.records(kind="privacy.pipia")))
    assert rec.payload["sha256"] == p.sha256 and "PI-56-CONTENT" in rec.payload["rules"]
    act = privacy.register_activity("recs", "个性化推荐", triggers=["automated-decision",
                                                              "cross-border"])
    assert act.version == 2 and [a.id for a in privacy.lacking_pipia()] == ["recs"]
    privacy.retire_activity("recs")
    assert privacy.lacking_pipia() == []


def test_pipia_kept_three_years(privacy: Privacy, clock: FrozenClock, ledger: Ledger) -> None:
    """A purge before 3 years is refused with RetentionError; the current PIPIA of an
    activity in use is kept too; an old superseded one is purged, its hash in the ledger."""
    privacy.register_activity("faces", "人脸核验", triggers=["sensitive-pi"])
    old = privacy.record_pipia("faces", **PIPIA)
    with pytest.raises(RetentionError, match="2029-03-02"):
        privacy.purge_pipia(old.id)
    clock.set("2029-03-02T02:00:00+00:00")
    with pytest.raises(RetentionError, match="current assessment"):
        privacy.purge_pipia(old.id)
    new = privacy.record_pipia("faces", **{**PIPIA, "conclusion": "复评：风险可控"})
    assert privacy.purge_expired_pipias() == 1
    assert [p.id for p in privacy.pipias()] == [new.id]
    gone = next(iter(ledger.records(kind="privacy.pipia_purged"))).payload
    assert gone["id"] == old.id and gone["sha256"] == old.sha256


def test_pipia_review_period_and_bad_input(ledger: Ledger, clock: FrozenClock,
                                           tmp_path: Path) -> None:
    """With pipia_review_years a PIPIA stops being current after it; empty Art. 56 items
    and unknown triggers are refused; retention below 3 years is refused."""
    p = Privacy(f"sqlite:///{tmp_path / 'p.db'}", ledger, clock=clock,
                settings={"pipia_review_years": 1})
    p.register_activity("share", "向合作方提供", triggers=["providing"])
    p.record_pipia("share", **PIPIA)
    clock.set("2027-03-03T02:00:00+00:00")
    assert [a.id for a in p.lacking_pipia()] == ["share"]
    with pytest.raises(ConfigurationError) as err:
        p.record_pipia("share", **{**PIPIA, "impact": " "})
    assert err.value.field == "impact"
    with pytest.raises(ConfigurationError, match="unknown PIPIA triggers"):
        p.register_activity("x", "x", triggers=["marketing"])
    with pytest.raises(RetentionError, match="at least 3"):
        PrivacySettings(pipia_retention_years=2)
    p.close()


# -- settings, context, rules, exports, CLI ----------------------------------------------------
@pytest.mark.parametrize(("section", "field"), [
    ({"individuals": 3}, "privacy.individuals"),
    ({"audit_interval_years": 3}, "privacy.audit_interval_years"),
    ({"pipia_retention_years": 1}, "privacy.pipia_retention_years"),
    ({"breach": {"major_individuals": 0}}, "privacy.breach.major_individuals"),
    ({"contact": {"fax": "1"}}, "privacy.contact.fax"),
])
def test_bad_settings_are_refused_by_name(section: dict[str, Any], field: str) -> None:
    """[privacy] refuses unknown keys and out-of-range figures, naming privacy.<key>."""
    with pytest.raises(ConfigurationError) as err:
        PrivacySettings.from_settings(section)
    assert err.value.field == field


def test_settings_defaults_and_first_due() -> None:
    """Defaults: 10 million threshold, 2 years, first audit due 2027-05-01; TOML dates."""
    s = PrivacySettings.from_settings({"individuals_count": 10_000_001})
    assert s.audit_mandatory and s.first_due == dt.date(2027, 5, 1)
    t = PrivacySettings.from_settings(tomllib.loads("first_audit_due = 2026-06-30\n"
                                                    "individuals_count = 20000000"))
    assert t.first_due == dt.date(2026, 6, 30)


def test_from_context_on_postgresql(tmp_path: Path, postgres_uri: str) -> None:
    """Privacy.from_context: [privacy] settings, [stores] privacy_db (PostgreSQL), the
    provider, ledger and clock of the context; tables created twice without harm."""
    comp = make_compliance(tmp_path, clock=FrozenClock(START), checks=[],
                           stores={"default": "memory://", "privacy_db": postgres_uri},
                           settings={"privacy": {"individuals_count": 5}})
    try:
        p = comp.privacy  # the facade's own, from its context
        again = Privacy.from_context(comp.context)
        assert p.db.dialect == "postgresql" and p.provider == comp.provider
        assert p.settings.individuals_count == 5
        bid = _open(p)
        assert again.breach(bid).individuals == 1200
        assert next(iter(comp.records("privacy.breach.open"))).payload["breach"] == bid
    finally:
        comp.close()


def test_new_rules_are_tagged_implemented_and_not_repeated() -> None:
    """Every rule of rules-privacy.toml is tagged V/S/K, implemented in the privacy
    package, and not a second definition; PI-57 and PI-55/56 are cited."""
    import genai_compliance.privacy  # noqa: F401  (registers the implementers)
    from genai_compliance.rules import _IMPLEMENTERS

    text = resources.files("genai_compliance").joinpath("rules-privacy.toml").read_text(
        "utf-8")
    ids = [r["id"] for r in tomllib.loads(text)["rule"]]
    assert tuple(ids) == NEW_RULES
    rules = load_rules()
    for rid in (*ids, "PI-57", "PI-55/56"):
        assert rules[rid].tag[0] in "VSK", rid
        assert any(n.startswith("genai_compliance.privacy") for n in
                   _IMPLEMENTERS.get(rid, ())), rid


def test_grades_match_the_incident_severities() -> None:
    """The grades are the incidents duty's severities (one vocabulary in the report)."""
    from genai_compliance.incidents import SEVERITIES

    assert GRADES == SEVERITIES


def test_exports_are_sorted_and_public() -> None:
    """One front door: a sorted __all__ and public module names in tracebacks."""
    import genai_compliance.privacy as pkg
    from genai_compliance._exports import sort_key

    assert list(pkg.__all__) == sorted(pkg.__all__, key=sort_key)
    for name in pkg.__all__:
        obj = getattr(pkg, name)
        if isinstance(obj, type) and obj.__module__.startswith("genai_compliance"):
            mine = "genai_compliance.privacy"  # errors are defined in genai_compliance
            assert obj.__module__ == ("genai_compliance" if issubclass(obj, ComplianceError)
                                      else mine), name


def _cli(argv: list[str]) -> int:
    from genai_compliance.cli.privacy import register

    parser = argparse.ArgumentParser(prog="genai-compliance")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_cli_breach_and_schedule(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI on a ledger URI: open, remediate, notify, schedule (exit 1 while items are
    due); --config naming a file that is not there says so and what to pass."""
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    settings = tmp_path / "privacy.toml"
    settings.write_text('[privacy]\nindividuals_count = 20000000\n[privacy.contact]\n'
                        'email = "dpo@example.invalid"\n', "utf-8")
    src = ["--ledger", uri, "--settings", str(settings)]
    assert _cli(["privacy", "breach", "open", "桶公开", "--pi-kind", "手机号码",
                 "--individuals", "10", *src]) == 0
    bid = json.loads(capsys.readouterr().out)["id"]
    assert _cli(["privacy", "breach", "remediate", bid, "--measure", "关闭访问",
                 "--cause", "配置错误", "--possible-harm", "骚扰", *src]) == 0
    capsys.readouterr()
    assert _cli(["privacy", "breach", "notify-individuals", bid, "--channel", "sms",
                 "--individual-measure", "警惕诈骗", *src]) == 0
    out = capsys.readouterr().out
    assert "dpo@example.invalid" in out and "next: notify_authority" in out
    assert _cli(["privacy", "schedule", "--due", "--json", *src]) == 1
    items = json.loads(capsys.readouterr().out)
    assert {i["rule"] for i in items} >= {"PI-57"}
    with pytest.raises(ConfigurationError, match="cannot read the config file"):
        _cli(["privacy", "schedule", "--config", str(tmp_path / "compliance.toml")])


def test_documented_settings_validate() -> None:
    """The [privacy] example of docs/privacy.md is valid and builds settings."""
    import re

    page = (Path(__file__).resolve().parent.parent / "docs" / "privacy.md").read_text("utf-8")
    block = next(b for b in re.findall(r"```toml\n(.*?)```", page, re.S) if "[privacy]" in b)
    s = PrivacySettings.from_settings(tomllib.loads(block)["privacy"])
    assert s.audit_mandatory and s.contact["email"] == "dpo@example.com"
