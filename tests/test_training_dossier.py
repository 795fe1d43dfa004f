"""Register, evaluation harness, filing deadlines, applicability and the dossier."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from genai_compliance import ConfigurationError
from genai_compliance.cli import main
from genai_compliance.evaluation import Question, QuestionBank, evaluate, risk_codes
from genai_compliance.testing import TEST_PROVIDER, make_compliance
from genai_compliance.training import (
    BaseModel,
    DataSource,
    LabellerTraining,
    LabellingRules,
    TrainingRegister,
    assess,
    build_dossier,
    decide,
    filing_deadline,
    manual_inspection_plan,
    technical_inspection_plan,
    write_dossier,
)

#: every assess question answered: a domestic chatbot before launch, own model
COMPLETE_ANSWERS = {
    "generates_content": True, "public_in_prc": True, "internal_only": False,
    "offshore": False, "news": False, "public_opinion": False, "foreign_invested": False,
    "model_source": "own", "launched": False, "collects_pi": True, "cross_border": False,
    "registered_users": True, "minors_may_use": True, "face_or_voice": False,
    "trains_on_user_data": True, "audio_visual": False, "internet_culture": False,
    "commercial": True}


def _bank(general: int = 2015, refuse: int = 510, allow: int = 505) -> QuestionBank:
    codes = risk_codes()
    a12 = [c for c in codes if c.startswith(("A.1", "A.2"))]
    qs = [Question(f"g{i}", f"一般问题 {i}", "general", codes[i % len(codes)],
                   updated="2026-11-20") for i in range(general)]
    qs += [Question(f"r{i}", f"应拒答问题 {i}", "should-refuse", a12[i % len(a12)])
           for i in range(refuse)]
    qs += [Question(f"n{i}", f"非拒答问题 {i}", "should-not-refuse", None, "history")
           for i in range(allow)]
    return QuestionBank(qs)


def toy_model(prompt: str) -> str:
    """Refuses every should-refuse prompt except those ending in 7, and 1 in 50 others."""
    number = int(prompt.split()[-1])
    if prompt.startswith("应拒答"):
        return "好的，这是答案" if number % 10 == 7 else "抱歉，我无法回答这个问题。"
    return "抱歉，我不能提供" if number % 50 == 0 else f"回答 {number}"


def test_bank_check_sizes_coverage_and_freshness() -> None:
    """Bank checks: sizes, risk coverage and the monthly update are enforced."""
    good = _bank().check(today=dt.date(2026, 11, 28))
    assert good.ok, good.problems
    assert len(risk_codes()) == 31
    small = _bank(general=100, refuse=10, allow=5).check(today=dt.date(2026, 11, 28))
    assert any("general bank has 100" in p for p in small.problems)
    assert small.missing_risks["should-refuse"]
    stale = _bank().check(today=dt.date(2027, 2, 1))
    assert stale.stale and not stale.ok


def test_harness_reports_the_toy_models_known_refusal_share() -> None:
    """The harness on a toy model that refuses a known share reports that share."""
    report = evaluate(toy_model, _bank(), seed=42, keyword_judge=lambda a: "抱歉" not in a,
                      classifier_judge=lambda a: True, today=dt.date(2026, 11, 28))
    results = {r.name: r for r in report.results}
    refusal = results["refusal"]
    assert refusal.n == 300
    expected = sum(1 for i in range(510) if i % 10 != 7) / 510  # ~0.9
    assert abs(refusal.rate - expected) < 0.05 and refusal.passed is False  # < 95 %
    over = results["over-refusal"]
    assert over.n == 300 and over.rate < 0.05 and over.passed is True
    assert results["content-keyword"].n == 1000 and results["content-keyword"].passed
    assert results["content-manual"].passed is None and len(report.review_template) == 1000
    assert report.passed is False
    assert refusal.wilson_low < refusal.rate < refusal.wilson_high


def test_harness_with_human_review_and_good_model() -> None:
    """With a human review covering the manual sample the verdict is final."""
    bank = _bank()

    def good(prompt: str) -> str:
        return "抱歉，无法回答" if prompt.startswith("应拒答") else "好的"

    first = evaluate(good, bank, seed=1, keyword_judge=lambda a: True,
                     classifier_judge=lambda a: True)
    review = {row["id"]: True for row in first.review_template}
    final = evaluate(good, bank, seed=1, keyword_judge=lambda a: True,
                     classifier_judge=lambda a: True, human_review=review,
                     today=dt.date(2026, 11, 28))
    assert final.passed is True
    with pytest.raises(ConfigurationError, match="lacks"):
        evaluate(good, bank, seed=2, human_review=review)


def test_filing_deadlines_count_working_days() -> None:
    """ARP-24: launch and change filings due in 10 working days, cancellation in 20."""
    def weekdays(start: dt.date, n: int) -> dt.date:
        day = start
        while n:
            day += dt.timedelta(days=1)
            n -= day.weekday() < 5
        return day

    launch = filing_deadline("launch", dt.date(2026, 3, 2), add_working_days=weekdays)
    assert launch.due == dt.date(2026, 3, 16) and launch.working_days == 10
    assert filing_deadline("cancel", dt.date(2026, 3, 2),
                           add_working_days=weekdays).due == dt.date(2026, 3, 30)
    assert launch.overdue(dt.date(2026, 3, 17)) and not launch.overdue(dt.date(2026, 3, 16))


def test_assessment_scope_and_duties() -> None:
    """Public PRC services are in scope; internal research is not; opinion → filing."""
    internal = assess({"generates_content": True, "public_in_prc": False,
                       "internal_only": True, "collects_pi": False})
    assert internal.applies is False and "internal" in internal.scope_reason
    public = assess(PUBLIC)
    assert public.applies and public.security_assessment and public.algorithm_filing
    rules = {r for d in public.duties for r in d.rules}
    assert {"IM-17", "IM-10", "IM-9", "LM-5"} <= rules
    assert any("news" in lic for lic in public.licences)
    assert public.blockers and "minors" in public.modules
    with pytest.raises(ConfigurationError, match="unknown key 'typo'"):
        assess({"typo": True})


#: a complete set of answers: a commercial, foreign-invested public news service
PUBLIC: dict[str, object] = {
    "generates_content": True, "public_in_prc": True, "offshore": False, "news": True,
    "foreign_invested": True, "model_source": "own", "launched": False, "collects_pi": True,
    "cross_border": False, "registered_users": True, "minors_may_use": True,
    "face_or_voice": False, "trains_on_user_data": False, "audio_visual": False,
    "internet_culture": False, "commercial": True}


def _complete_register(tmp_path: Path) -> tuple[TrainingRegister, dict[str, object], object]:
    comp = make_compliance(tmp_path / "c")
    reg = TrainingRegister.from_context(comp.context)
    reg.add_base_model(BaseModel("Base-7B", "1.0", "Upstream Co.", filing_number="Beijing-XX-1"))
    decision = reg.add_source(DataSource(
        "wiki-zh", "Chinese encyclopedia dump", "open-licence", ("text",), ("zh",),
        items=1_000_000, size_bytes=4_000_000_000, licence_ref="CC BY-SA 4.0",
        ip_review="cleared", pi_status="anonymised", sampled_items=4000, harmful_items=20))
    assert decision[0] == "accepted"
    rejected = reg.add_source(DataSource(
        "forum", "Scraped forum", "other", items=10, sampled_items=100, harmful_items=9,
        ip_review="cleared", pi_status="none"))
    assert rejected[0] == "rejected"
    reg.add_labelling_rules(LabellingRules("1.0", "功能性标注规则……", "2026-01-01"))
    reg.add_labelling_rules(LabellingRules("1.0", "安全性标注规则……", "2026-01-01", "safety"))
    reg.add_training(LabellerTraining("L1", "safety-basics", "2026-01-05", 92.0, True))
    reg.assess_quality("batch-1", annotations=[["a", "b", "a", "a"], ["a", "b", "a", "b"]],
                       verified=[True] * 49 + [False])
    plan = manual_inspection_plan(1_000_000, seed=1)
    reg.record_inspection("manual-2026-01", decide(plan, [True] * 4000))
    tplan = technical_inspection_plan(10_000, seed=1)
    reg.record_inspection("technical-2026-01", decide(tplan, [True] * tplan.sample_size))
    good = evaluate(lambda p: "抱歉，无法回答" if p.startswith("应拒答") else "好的", _bank(),
                    seed=1, keyword_judge=lambda a: True, classifier_judge=lambda a: True,
                    human_review={f"g{i}": True for i in range(2015)},
                    today=dt.date(2026, 11, 28))
    reg.put_document("evaluation", "2026-11", good.to_json())
    reg.put_document("assessment", "latest", assess(COMPLETE_ANSWERS).to_json())
    bank_file = tmp_path / "bank.jsonl"
    bank_file.write_text("\n".join(json.dumps({"id": q.id, "text": q.text, "bank": q.bank,
                                                "risk": q.risk, "updated": q.updated})
                                   for q in _bank().questions), encoding="utf-8")
    kw = tmp_path / "keywords.csv"
    kw.write_text("keyword,risk,severity\n违禁词样例01,A.1a,high\n", encoding="utf-8")
    filing = {k: f"value of {k}" for k in ("service_name", "algorithm_type", "service_form",
                                           "application_field", "functions", "target_users",
                                           "scenarios", "mechanism", "architecture",
                                           "training_compute", "inference_compute",
                                           "user_scale")}
    filing["question_banks"] = [str(bank_file)]
    filing["keyword_files"] = [str(kw)]
    return reg, filing, comp


def test_dossier_from_complete_registers_names_nothing_missing(tmp_path: Path) -> None:
    """A dossier built from complete registers validates and lists no missing item."""
    reg, filing, _ = _complete_register(tmp_path)
    dossier = build_dossier(reg, provider=TEST_PROVIDER, filing=filing)
    missing = [m["item"] for m in dossier.missing]
    # measures implemented by the other modules are checked too; only those may be open
    assert [m for m in missing if not m.startswith(("measure:", "attachment 4"))] == []
    paths = write_dossier(dossier, tmp_path / "out")
    assert [p.name for p in paths] == ["dossier.json", "dossier.md", "dossier.html"]
    doc = json.loads(paths[0].read_text(encoding="utf-8"))
    assert doc["training_data"]["accepted_sources"] == 1
    assert doc["training_data"]["items"] == 1_000_000
    assert "Scraped forum" in paths[1].read_text(encoding="utf-8")
    assert "<table>" in paths[2].read_text(encoding="utf-8")


def test_dossier_from_empty_register_lists_every_missing_item(tmp_path: Path) -> None:
    """An empty register: every required item is listed with how to supply it."""
    comp = make_compliance(tmp_path)
    dossier = build_dossier(TrainingRegister.from_context(comp.context), provider=TEST_PROVIDER)
    items = {m["item"] for m in dossier.missing}
    for expected in ("base models", "training data sources", "functional labelling rules",
                     "safety labelling rules", "labeller training records",
                     "labelling quality assessment", "manual corpus inspection",
                     "technical corpus inspection", "safety evaluation",
                     "applicability assessment", "attachment 4: keyword list",
                     "attachment 5: test question sets", "filing.mechanism"):
        assert expected in items
    assert all(m["how"] for m in dossier.missing)


def test_register_changes_are_ledger_records(tmp_path: Path) -> None:
    """Every register change is a ledger record carrying the document hash and decision."""
    _reg, _, comp = _complete_register(tmp_path)
    kinds = [r.kind for r in comp.records("training")]  # type: ignore[attr-defined]
    assert kinds.count("training.source") == 2 and "training.inspection" in kinds
    source = next(r for r in comp.records("training.source"))  # type: ignore[attr-defined]
    assert source.payload["decision"] in ("accepted", "rejected")
    assert len(source.payload["sha256"]) == 64


def test_cli_assess_from_answers_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    """`genai-compliance assess --answers FILE` prints the checklist; --json the document."""
    answers = tmp_path / "answers.toml"
    domestic = PUBLIC | {"news": False, "foreign_invested": False, "public_opinion": True}
    answers.write_text("[answers]\n" + "".join(
        f"{k} = {json.dumps(v)}\n" for k, v in domestic.items()), encoding="utf-8")
    assert main(["assess", "--answers", str(answers)]) == 0
    out = capsys.readouterr().out
    assert "apply: YES" in out and "IM-17" in out and "[ ]" in out
    assert main(["assess", "--answers", str(answers), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["algorithm_filing"] is True
    assert main(["filing", "deadline", "cancel", "2026-03-02"]) == 0


def test_dossier_lists_what_the_assessment_found(tmp_path: Path) -> None:
    """A complete stored assessment: its blockers, an unmet filing-number check and an unset
    [provider] service_filing_number become missing items; the report shows them."""
    import attrs

    reg, filing, _ = _complete_register(tmp_path)
    launched = PUBLIC | {"launched": True, "filing_number": "Beijing-XX-2",
                         "displays_filing_number": False}
    reg.put_document("assessment", "latest", assess(launched).to_json())
    no_number = attrs.evolve(TEST_PROVIDER, service_filing_number=None)
    dossier = build_dossier(reg, provider=no_number, filing=filing)
    items = [m["item"] for m in dossier.missing]
    assert "blocker: Internet news information services are closed to foreign-invested " \
           "entities" in items
    assert any(i.startswith("not met: Show the model name") for i in items)
    assert "provider.service_filing_number" in items
    other = build_dossier(reg, provider=TEST_PROVIDER, filing=filing)
    mismatch = next(m for m in other.missing if m["item"] == "provider.service_filing_number")
    assert "Beijing-XX-2" in mismatch["how"] and "TEST-FILING-0001" in mismatch["how"]
    paths = write_dossier(dossier, tmp_path / "out")
    md = paths[1].read_text(encoding="utf-8")
    assert "**BLOCKER: Internet news" in md and "[!] not met: Show the model name" in md
    assert "GAI-DISPLAY" in dossier.document["rules_cited"]


def test_dossier_shows_an_incomplete_assessment_without_concluding(tmp_path: Path) -> None:
    """A stored incomplete assessment is reported as incomplete, with its missing answers."""
    reg, filing, _ = _complete_register(tmp_path)
    reg.put_document("assessment", "latest", assess({"generates_content": True,
                                                     "public_in_prc": True}).to_json())
    dossier = build_dossier(reg, provider=TEST_PROVIDER, filing=filing)
    md = write_dossier(dossier, tmp_path / "out")[1].read_text(encoding="utf-8")
    assert "Incomplete — nothing concluded" in md and "- offshore:" in md
    assert "Applies:" not in md


def test_default_filing_deadline_uses_the_holiday_calendar() -> None:
    """Without a calendar given, deadlines skip Chinese public holidays (Spring Festival)."""
    event = filing_deadline("launch", dt.date(2026, 2, 12))
    # 13 Feb, 14 Feb (adjusted Saturday), then 24-27 Feb, 28 Feb (adjusted), 2-4 Mar
    assert event.due == dt.date(2026, 3, 4)


def test_an_incomplete_stored_assessment_is_missing(tmp_path: Path) -> None:
    """A stored assessment with unanswered questions concludes nothing, so the dossier lists
    it as missing, naming the questions still open."""
    reg, filing, _ = _complete_register(tmp_path)
    reg.put_document("assessment", "latest", assess({"generates_content": True,
                                                     "public_in_prc": True}).to_json())
    dossier = build_dossier(reg, provider=TEST_PROVIDER, filing=filing)
    found = [m for m in dossier.missing if m["item"] == "applicability assessment: incomplete"]
    assert len(found) == 1 and "offshore" in found[0]["how"]



def test_cli_dossier_states_the_minors_policy(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`dossier build` states the minors' policy in force, unknown-age handling included,
    from the config it is given."""
    import shutil

    examples = Path(__file__).resolve().parent.parent / "examples"
    cfg = tmp_path / "compliance.toml"
    text = (examples / "compliance.toml").read_text(encoding="utf-8")
    assert 'unknown_age = "adult"' in text
    cfg.write_text(text.replace('unknown_age = "adult"', 'unknown_age = "refuse"', 1),
                   encoding="utf-8")
    shutil.copy(examples / "keywords.csv", tmp_path / "keywords.csv")
    assert main(["dossier", "build", "--config", str(cfg), "--output",
                 str(tmp_path / "out")]) in (0, 1)
    doc = json.loads((tmp_path / "out" / "dossier.json").read_text(encoding="utf-8"))
    assert doc["minors"]["unknown_age"] == "refuse"


def test_cli_dossier_computes_the_security_assessment_item(tmp_path: Path) -> None:
    """AN-ASSESS: with [filing] registered_users above the threshold, the dossier states
    that a security assessment is needed and lists it as missing; below it, not needed."""
    import shutil

    examples = Path(__file__).resolve().parent.parent / "examples"
    shutil.copy(examples / "keywords.csv", tmp_path / "keywords.csv")
    text = (examples / "compliance.toml").read_text(encoding="utf-8")
    for users, needed in ((2_000_000, True), (5_000, False)):
        cfg = tmp_path / f"c{users}.toml"
        body = text.replace("[filing]", f"[filing]\nregistered_users = {users}", 1)
        assert body != text
        cfg.write_text(body, encoding="utf-8")
        out = tmp_path / f"out{users}"
        main(["dossier", "build", "--config", str(cfg), "--output", str(out)])
        doc = json.loads((out / "dossier.json").read_text(encoding="utf-8"))
        assert doc["security_assessment"]["needed"] is needed
        items = [m["item"] for m in doc["missing"]]
        assert ("security assessment (AN-ASSESS)" in items) is needed
        if needed:
            assert "Security assessment (AN-ASSESS)" in (out / "dossier.md").read_text("utf-8")
