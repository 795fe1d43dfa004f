"""The applicability engine (`assess`, issue 18): answers validated by their schema, an empty
or partial file lists what is missing instead of concluding, and each scenario's outcome
(domestic public chatbot, offshore provider, internal R&D tool, foreign-invested news
summariser) with the rule IDs each conclusion rests on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import ConfigurationError
from genai_compliance.cli import EXIT_FINDING, EXIT_USAGE, main
from genai_compliance.rules import load_rules
from genai_compliance.schemas import load_schema, validate
from genai_compliance.training import QUESTIONS, Assessment, assess

#: a domestic public chatbot whose users can share and publish (public-opinion features)
CHATBOT: dict[str, Any] = {
    "generates_content": True, "public_in_prc": True, "offshore": False, "news": False,
    "public_opinion": True, "foreign_invested": False, "model_source": "own",
    "launched": False, "collects_pi": True, "cross_border": False, "registered_users": True,
    "minors_may_use": True, "face_or_voice": False, "trains_on_user_data": True,
    "audio_visual": False, "internet_culture": False, "commercial": True}
#: the same service run by a company abroad for users in the PRC
OFFSHORE: dict[str, Any] = {k: v for k, v in CHATBOT.items()
                            if k not in ("foreign_invested", "model_source", "launched",
                                         "cross_border")} | {"offshore": True}
#: a tool researched and used inside the company only
INTERNAL: dict[str, Any] = {"generates_content": True, "public_in_prc": False,
                            "internal_only": True, "collects_pi": True}
#: a foreign-invested company's AI news summariser built on a filed model's API
NEWS: dict[str, Any] = {k: v for k, v in CHATBOT.items() if k != "public_opinion"} | {
    "news": True, "foreign_invested": True, "model_source": "filed_api"}


def _titles(result: Assessment, kind: str | None = None) -> list[str]:
    items = result.blockers + result.conclusions
    return [c.title for c in items if kind is None or c.kind == kind]


def _rules(result: Assessment) -> set[str]:
    return set(result.rules_cited)


def test_domestic_public_chatbot_files_before_launch() -> None:
    """A domestic chatbot with public-opinion features: in scope, no blocker; generative-AI
    filing before public launch, security assessment, the separate 10-working-day algorithm
    filing, and the filing number to show users (checked: open before launch)."""
    result = assess(CHATBOT)
    assert result.complete and result.applies is True and result.blockers == ()
    assert result.filing_route == "filing" and result.security_assessment
    filing = next(c for c in result.conclusions if c.kind == "filing")
    assert "before public launch" in filing.title and filing.when == "before public launch"
    assert {"GAI-FILING", "IM-17"} <= set(filing.rules)
    algorithm = next(c for c in result.conclusions if "ARP-24" in c.rules)
    assert algorithm.when == "within 10 working days of launch"
    assert "10 working days" not in filing.title  # the old confusion of the two filings
    display = next(c for c in result.conclusions if "GAI-DISPLAY" in c.rules)
    assert display.status == "open" and display.kind == "obligation"
    assert any("PO-SA" in c.rules for c in result.conclusions)
    assert "GAI-REG" not in _rules(result)
    assert any("ICP licence" in t for t in result.licences)
    assert {"labelling", "moderation", "minors", "consent", "agreements"} <= set(
        result.modules)
    assert result.findings == ()


def test_chatbot_on_a_filed_model_takes_the_registration_route() -> None:
    """Calling a filed model by API without modifying it: registration, not filing."""
    result = assess(CHATBOT | {"model_source": "filed_api"})
    assert result.filing_route == "registration"
    route = next(c for c in result.conclusions if c.kind == "filing")
    assert "Registration" in route.title and "GAI-REG" in route.rules
    assert "GAI-FILING" not in route.rules
    other = assess(CHATBOT | {"model_source": "other_api"})
    assert other.filing_route == "filing"
    assert any("registration route is not open" in t for t in _titles(other, "note"))


def test_filing_number_shown_to_users_is_checked() -> None:
    """After launch the report checks the filing number is recorded and shown: met, not
    met (a finding), or a blocker when the service is public with no number at all."""
    launched = CHATBOT | {"launched": True}
    shown = assess(launched | {"filing_number": "Beijing-ABC-202601010001",
                               "displays_filing_number": True})
    display = next(c for c in shown.conclusions if "GAI-DISPLAY" in c.rules)
    assert display.status == "met" and "Beijing-ABC-202601010001" in display.why
    assert shown.findings == ()
    hidden = assess(launched | {"filing_number": "Beijing-ABC-202601010001",
                                "displays_filing_number": False})
    display = next(c for c in hidden.conclusions if "GAI-DISPLAY" in c.rules)
    assert display.status == "not met" and display in hidden.findings
    unfiled = assess(launched)
    assert [b.title for b in unfiled.blockers] == [
        "Offered to the public without a filing or registration number"]
    assert "GAI-FILING" in unfiled.blockers[0].rules


def test_offshore_provider_is_blocked_not_told_to_file() -> None:
    """An offshore provider serving PRC users: in scope (Art. 20), but it can neither file
    nor hold an ICP licence; the consequence is blocking; it needs a PRC representative
    (PIPL 53) and a transfer mechanism (PIPL 38); nothing tells it to file or get a licence."""
    result = assess(OFFSHORE)
    assert result.complete and result.applies is True and result.filing_route == "unavailable"
    assert "IM-20" in result.scope_rules
    blockers = {b.title: b for b in result.blockers}
    cannot_file = blockers["The service cannot be filed or registered from abroad"]
    assert "IM-20" in cannot_file.rules and "blocked" in cannot_file.why
    assert "TEL-13" in blockers["No ICP licence or ICP filing is available to an offshore "
                                "provider"].rules
    obligations = {c.title: c for c in result.conclusions if c.kind == "obligation"}
    assert any("PI-53" in c.rules and "representative" in t for t, c in obligations.items())
    assert any("PI-38" in c.rules for c in obligations.values())
    assert not [c for c in result.conclusions if c.kind in ("filing", "licence")]
    assert not result.security_assessment and not result.algorithm_filing
    assert "PI-3" in _rules(result) and result.findings == result.blockers


def test_internal_rd_tool_is_outside_the_measures_but_not_outside_the_data_laws() -> None:
    """An internal R&D tool: the Interim Measures do not apply (IM-2 ¶3), and the report
    says PIPL, DSL, CSL and the Network Data Security Regulations still do."""
    result = assess(INTERNAL)
    assert result.complete and result.applies is False and result.scope_rules == ("IM-2",)
    assert "do not apply" in result.scope_reason and "still" in result.scope_reason
    laws = _titles(result, "data-law")
    for name in ("PIPL", "Data Security Law", "Cybersecurity Law",
                 "Network Data Security Management Regulations"):
        assert any(t.startswith(name) and "still appl" in t for t in laws), name
    assert all("DATA-LAWS" in c.rules for c in result.conclusions)
    assert result.duties == () and result.blockers == () and result.filing_route is None
    no_pi = assess(INTERNAL | {"collects_pi": False})
    assert not any(t.startswith("PIPL") for t in _titles(no_pi, "data-law"))
    assert len(_titles(no_pi, "data-law")) == 3


def test_foreign_invested_news_summariser_is_told_the_service_is_closed() -> None:
    """A foreign-invested AI news summariser: treated as having public-opinion attributes,
    and told by a blocker that internet news services are closed to it."""
    result = assess(NEWS)
    assert result.complete and result.applies is True
    assert [b.title for b in result.blockers] == [
        "Internet news information services are closed to foreign-invested entities"]
    assert {"INS-7", "FI-NEG"} <= set(result.blockers[0].rules)
    assert result.security_assessment and result.filing_route == "registration"
    assert any("ASSESS-NEWS" in c.rules for c in result.conclusions if c.kind == "note")
    assert any("INS-LIC" in c.rules for c in result.conclusions if c.kind == "licence")
    domestic = assess(NEWS | {"foreign_invested": False})
    assert domestic.blockers == () and domestic.security_assessment


def test_empty_answers_list_what_is_missing_and_conclude_nothing() -> None:
    """An empty answers file concludes nothing (no "apply: no"): it lists every question
    that may be needed, with why."""
    result = assess({})
    assert not result.complete and result.applies is None
    assert result.blockers == result.conclusions == result.duties == ()
    missing = [m.question for m in result.missing]
    assert missing[:2] == ["generates_content", "public_in_prc"]
    assert {"offshore", "internal_only", "news", "model_source", "collects_pi"} <= set(
        missing)
    assert "filing_number" not in missing  # optional: only checked when given
    assert all(m.reason and m.en and m.zh for m in result.missing)
    validate(result.to_json(), "assess-result")


def test_partial_answers_list_only_what_they_still_need() -> None:
    """Answers so far prune the questions: an out-of-scope service is not asked about
    filing; a contradiction is listed instead of concluded."""
    partial = assess({"generates_content": True, "public_in_prc": False})
    assert [m.question for m in partial.missing] == ["internal_only", "collects_pi"]
    assert partial.applies is None
    no_content = assess({"generates_content": False, "collects_pi": False})
    assert no_content.complete and no_content.applies is False
    contradiction = assess(CHATBOT | {"internal_only": True})
    assert not contradiction.complete
    assert "contradicts" in contradiction.missing[0].reason


def test_answers_are_validated_by_the_schema() -> None:
    """A wrong type, an unknown key or a bad choice raises a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match=r"generates_content.*true or false"):
        assess({"generates_content": "yes"})
    with pytest.raises(ConfigurationError, match=r"unknown key 'public_in_china'.*"
                                                 "public_in_prc"):
        assess({"public_in_china": True})
    with pytest.raises(ConfigurationError, match=r"model_source.*not one of"):
        assess({"model_source": "mine"})
    with pytest.raises(ConfigurationError, match="table of question ids"):
        assess(["generates_content"])  # type: ignore[arg-type]


def test_questions_come_from_the_schema() -> None:
    """QUESTIONS are the answers schema's properties, each asked in Chinese and English."""
    props = load_schema("assess-answers")["properties"]
    assert [q.id for q in QUESTIONS] == list(props)
    for q in QUESTIONS:
        assert q.zh and q.en == props[q.id]["description"]
        if q.kind == "choice":
            assert q.choices == tuple(props[q.id]["enum"])


NEW_RULES = ("IM-2", "IM-20", "IM-22", "GAI-FILING", "GAI-REG", "GAI-DISPLAY", "PO-SA",
             "ASSESS-NEWS", "INS-LIC", "INS-7", "FI-NEG", "TEL-13", "LIC-AV", "LIC-CULTURE",
             "PI-3", "PI-53", "PI-38", "DATA-LAWS")


def test_every_conclusion_cites_known_rules_and_every_new_rule_is_used() -> None:
    """Each conclusion cites registry IDs; every rule added for issue 18 is tagged V/S/K
    and is the ground of at least one scenario's conclusion."""
    registry = load_rules()
    results = [assess(x) for x in (CHATBOT, OFFSHORE, INTERNAL, NEWS,
                                   NEWS | {"audio_visual": True, "internet_culture": True},
                                   CHATBOT | {"model_source": "filed_api"})]
    cited: set[str] = set()
    for result in results:
        for c in (*result.blockers, *result.conclusions):
            assert c.rules and set(c.rules) <= set(registry), c
        cited |= _rules(result)
    for rule_id in NEW_RULES:
        assert rule_id in registry and registry[rule_id].tag.split("/")[0] in ("V", "S", "K")
        assert rule_id in cited, rule_id
    av = results[4]
    assert {"LIC-AV", "LIC-CULTURE"} <= _rules(av) and len(av.blockers) == 3


answer_values = st.fixed_dictionaries({}, optional={
    q.id: (st.sampled_from(q.choices) if q.kind == "choice" else
           st.text(max_size=20) if q.kind == "text" else st.booleans())
    for q in QUESTIONS})


@settings(max_examples=300)
@given(answers=answer_values)
def test_any_answers_either_conclude_or_list_what_is_missing(answers: dict[str, Any]) -> None:
    """Property: any valid answers give a schema-valid result that is either incomplete
    (nothing concluded, something missing) or complete, and answering what is listed
    once is enough: only a contradiction can remain."""
    result = assess(answers)
    validate(result.to_json(), "assess-result")
    if not result.complete:
        assert result.applies is None and result.missing and not result.conclusions
        filled = dict(answers)
        for m in result.missing:
            if m.question not in filled:
                q = next(x for x in QUESTIONS if x.id == m.question)
                filled[m.question] = q.choices[0] if q.kind == "choice" else False
        again = assess(filled)
        assert again.complete or all(m.question in filled for m in again.missing)
    else:
        assert result.applies in (True, False) and not result.missing
        for c in (*result.blockers, *result.conclusions):
            assert c.rules


# -- the CLI -------------------------------------------------------------------------------

def _toml(answers: dict[str, Any]) -> str:
    return "[answers]\n" + "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n"
                                   for k, v in answers.items())


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`assess --answers`: exit 0 for the chatbot, 1 with BLOCKER lines for offshore and the
    foreign news service, 1 listing what is missing for an empty file (no "apply: no")."""
    files = {}
    for name, answers in (("chat", CHATBOT), ("off", OFFSHORE), ("news", NEWS),
                          ("internal", INTERNAL), ("empty", {})):
        files[name] = tmp_path / f"{name}.toml"
        files[name].write_text(_toml(answers) if answers else "", encoding="utf-8")
    code, out, _ = _run(["assess", "--answers", str(files["chat"])], capsys)
    assert code == 0 and "apply: YES" in out and "before public launch" in out
    assert "BLOCKER" not in out and "GAI-DISPLAY" in out
    code, out, _ = _run(["assess", "--answers", str(files["off"])], capsys)
    assert code == EXIT_FINDING and out.count("BLOCKER:") == 2 and "IM-20" in out
    code, out, _ = _run(["assess", "--answers", str(files["news"])], capsys)
    assert code == EXIT_FINDING and "BLOCKER: Internet news" in out
    code, out, _ = _run(["assess", "--answers", str(files["internal"])], capsys)
    assert code == 0 and "apply: no" in out and "Network Data Security" in out
    code, out, _ = _run(["assess", "--answers", str(files["empty"])], capsys)
    assert code == EXIT_FINDING and "incomplete" in out and "apply" not in out.split("\n")[0]
    assert "generates_content = true | false" in out
    code, out, _ = _run(["assess", "--answers", str(files["chat"]), "--json"], capsys)
    doc = json.loads(out)
    validate(doc, "assess-result")
    assert code == 0 and doc["algorithm_filing"] is True and doc["filing_route"] == "filing"


@pytest.mark.parametrize(("content", "expected"), [
    (None, "cannot open"),
    (b"\xff\xfe\x00junk\x80\x81", "not UTF-8"),
    (b"[answers\ngenerates_content = ", "not valid TOML"),
    (b'[answers]\ngenerates_content = "yes"\n', "true or false"),
    (b"[answers]\npublic_in_china = true\n", "did you mean 'public_in_prc'"),
    (b'[answers]\nmodel_source = "mine"\n', "not one of"),
    (b"generates_content = true\n[answers]\npublic_in_prc = true\n", "inside the [answers]"),
], ids=["missing", "binary", "bad-toml", "wrong-type", "unknown-key", "bad-choice",
        "stray-key"])
def test_cli_bad_answers_file(content: bytes | None, expected: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """A bad answers file: exit 2 and one line on stderr saying what is wrong, no traceback."""
    path = tmp_path / "answers.toml"
    if content is not None:
        path.write_bytes(content)
    code, _, err = _run(["assess", "--answers", str(path)], capsys)
    assert code == EXIT_USAGE and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("genai-compliance") and expected in lines[0]


def test_cli_without_answers_or_terminal(capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """No --answers and no terminal: exit 2, one line naming --answers."""
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = _run(["assess"], capsys)
    assert code == EXIT_USAGE and len(err.strip().splitlines()) == 1 and "--answers" in err


def test_cli_interactive_asks_only_what_is_needed(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """--interactive asks the questions the answers so far still need: an internal tool is
    done after four answers (and a typo is asked again)."""
    replies = iter(["y", "maybe", "n", "y", "y"])
    asked: list[str] = []

    def fake_input(prompt: str) -> str:
        asked.append(prompt)
        return next(replies)

    monkeypatch.setattr("builtins.input", fake_input)
    code, out, _ = _run(["assess", "--interactive"], capsys)
    assert code == 0 and "apply: no" in out and len(asked) == 5
    assert "please answer y or n" in out


def test_cli_filing_deadline_bad_date(capsys: pytest.CaptureFixture[str]) -> None:
    """`filing deadline launch 2026-02-30`: exit 2 and one line, not an internal error."""
    code, _, err = _run(["filing", "deadline", "launch", "2026-02-30"], capsys)
    assert code == EXIT_USAGE and "YYYY-MM-DD" in err and len(err.strip().splitlines()) == 1


def test_docs_list_every_question() -> None:
    """docs/training.md documents every answers key (the schema is the source)."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text("utf-8")
    for q in QUESTIONS:
        assert f"| `{q.id}` |" in page, q.id
