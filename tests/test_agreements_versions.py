"""Agreements from the example config: clauses in both languages, MissingClause, publish,
versions, diff and acceptance bound to the version hash (IM-9, IM-10, IM-14b, IM-15, LM-8)."""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genai_compliance import Compliance
from genai_compliance.agreements import CLAUSES, Agreements, AgreementVersion
from genai_compliance.cli import main
from genai_compliance.errors import ConfigurationError, MissingClause, RecordNotFound
from genai_compliance.subject import Subject

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "compliance.toml"


def _copy(tmp_path: Path, edit: Any = None) -> Path:
    cfg = tmp_path / "compliance.toml"
    text = EXAMPLE.read_text(encoding="utf-8")
    if edit is not None:
        text = edit(text)
    cfg.write_text(text, encoding="utf-8")
    return cfg


@pytest.fixture(name="compliance")
def _compliance(tmp_path: Path) -> Compliance:
    return Compliance.from_toml(_copy(tmp_path))


def test_example_is_a_complete_config(tmp_path: Path) -> None:
    """The example holds every section the brief names and from_toml reads it."""
    doc = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    for section in ("provider", "ledger", "consent", "agreement", "labelling", "minors",
                    "moderation", "complaints", "incidents", "filing"):
        assert section in doc, section
    for key in ("service_name", "algorithm_type", "service_form", "application_field",
                "functions", "target_users", "scenarios", "mechanism", "architecture",
                "training_compute", "inference_compute", "user_scale"):
        assert doc["filing"][key], key
    c = Compliance.from_toml(_copy(tmp_path))
    assert c.provider.uscc == doc["provider"]["uscc"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_clause_in_both_languages(compliance: Compliance, lang: str) -> None:
    """Each required clause renders with its facts: parties, USCC, complaint deadline, labels."""
    text = compliance.agreements.render(lang)
    assert text.count("\n## ") == len(CLAUSES)
    p = compliance.provider
    assert p.uscc in text and "400-000-0000" in text
    assert "15" in text and "180" in text
    assert ("警示" in text) and ("暂停服务" in text)
    assert ("GB 45438" in text)


def test_missing_complaint_channel_fails(tmp_path: Path) -> None:
    """A config without any complaint channel fails with MissingClause naming the TOML key."""
    def strip(text: str) -> str:
        return "\n".join(ln for ln in text.splitlines()
                         if not ln.startswith(("channel", "complaint_email", "complaint_phone")))
    c = Compliance.from_toml(_copy(tmp_path, strip))
    with pytest.raises(MissingClause) as err:
        c.agreements.render("zh")
    assert err.value.fact == "complaints.channel" and err.value.clause == "complaints"
    assert "[complaints] channel" in str(err.value)


def test_agreement_email_is_channel_when_complaints_lacks_one(tmp_path: Path) -> None:
    """[agreement] complaint_email alone is a complaint channel (IM-15)."""
    def strip(text: str) -> str:
        return "\n".join(ln for ln in text.splitlines() if not ln.startswith("channel"))
    c = Compliance.from_toml(_copy(tmp_path, strip))
    assert "report@example.cn" in c.agreements.render("en")


def test_publish_versions_diff_and_accept(compliance: Compliance) -> None:
    """Published versions are stored and ledgered; acceptance is a grant bound to the hash."""
    a = compliance.agreements
    first = a.publish("2026-03-01")
    assert [v.lang for v in first] == ["zh", "en"]
    assert a.publish("2026-03-01") == first  # idempotent
    a.facts["agreement"]["input_retention_days"] = 90
    with pytest.raises(ConfigurationError):
        a.publish("2026-03-01")  # same label, other text
    a.publish("2026-04-01")
    assert a.versions("zh") == ["2026-03-01", "2026-04-01"]
    old, new = a.get("2026-03-01", "zh"), a.get("2026-04-01", "zh")
    d = Agreements.diff(old, new)
    assert "-" in d and "+" in d and "180" in d and "90" in d
    with pytest.raises(RecordNotFound):
        a.get("1999", "zh")
    kinds = [r.kind for r in compliance.ledger.records()]
    assert kinds.count("agreement.publish") == 4
    receipt = a.accept(Subject("user-1", birth_date="1990-01-01"), "zh", version="2026-03-01")
    body = receipt.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    flat = json.dumps(claims)
    assert old.sha256 in flat and "service-agreement" in flat


def test_cli_diff_of_two_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`agreement diff OLD NEW` prints a unified diff and exits 1 when they differ."""
    (tmp_path / "a.md").write_text("x\ny\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("x\nz\n", encoding="utf-8")
    assert main(["agreement", "diff", str(tmp_path / "a.md"), str(tmp_path / "b.md")]) == 1
    out = capsys.readouterr().out
    assert "-y" in out and "+z" in out
    assert main(["agreement", "diff", str(tmp_path / "a.md"), str(tmp_path / "a.md")]) == 0


@given(st.text(min_size=0, max_size=200), st.text(min_size=0, max_size=200))
def test_diff_is_empty_iff_equal(a: str, b: str) -> None:
    """The diff of two versions is empty exactly when the texts are equal."""
    va, vb = AgreementVersion("zh", a, "1", "0" * 64), AgreementVersion("zh", b, "2", "1" * 64)
    assert (Agreements.diff(va, vb) == "") == (a.splitlines(True) == b.splitlines(True))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_html_has_every_clause_and_escapes(compliance: Compliance, lang: str) -> None:
    """HTML output has one <section> per clause and escapes markup from config facts."""
    a = compliance.agreements
    a.facts["agreement"]["ip_policy"] = "<script>x</script> & more"
    html = a.render(lang, "html")
    assert html.startswith("<!DOCTYPE html>")
    for clause, _ in CLAUSES:
        assert f'<section id="{clause}">' in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_publish_on_every_sql_backend(compliance: Compliance, sql_uri: str) -> None:
    """Versions are stored and read back on SQLite and PostgreSQL alike."""
    from genai_compliance.stores import SQLDatabase

    base = compliance.agreements
    db = SQLDatabase(sql_uri)
    try:
        a = Agreements(base.facts, "v1", db=db, clock=compliance.clock)
        published = a.publish()
        assert a.versions("en") == ["v1"]
        assert a.get("v1", "en") == published[1]
    finally:
        db.close()
