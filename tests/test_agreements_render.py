"""Service agreement rendering (IM-9, LM-8, IM-15)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from genai_compliance.agreements import CLAUSES, Agreements
from genai_compliance.errors import MissingClause

FACTS: dict[str, Any] = {
    "provider": {"legal_name": "示例科技有限公司", "product_name": "示例助手",
                 "uscc": "91110000MA01ABCD1X"},
    "agreement": {"service_description": "文本生成服务。",
                  "illegal_use_measures": ["警示", "限制功能", "暂停服务"],
                  "pi_purposes": ["提供服务"], "input_retention_days": 180,
                  "ip_policy": "生成内容的权利依法归属。", "change_notice_days": 7,
                  "minors_policy": "未满十四周岁须监护人同意。"},
    "labelling": {"methods": ["显式标识", "隐式标识"], "styles": ["文字提示"]},
    "complaints": {"channel": "https://example.cn/report", "response_working_days": 15},
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_clause_rendered(lang: str) -> None:
    """Both languages carry all nine required clauses (IM-9)."""
    text = Agreements(copy.deepcopy(FACTS)).render(lang)
    assert text.count("\n## ") == len(CLAUSES)
    assert "https://example.cn/report" in text and "15" in text


def test_missing_complaint_channel_fails() -> None:
    """A config without the complaint channel fails with MissingClause (IM-15)."""
    facts = copy.deepcopy(FACTS)
    del facts["complaints"]["channel"]
    with pytest.raises(MissingClause) as err:
        Agreements(facts).render("zh")
    assert err.value.fact == "complaints.channel"


def test_versions_hash_and_diff() -> None:
    """A changed fact changes the content hash and shows in the diff."""
    a = Agreements(copy.deepcopy(FACTS), "1.0").render_version("en")
    facts = copy.deepcopy(FACTS)
    facts["complaints"]["response_working_days"] = 10
    b = Agreements(facts, "1.1").render_version("en")
    assert a.sha256 != b.sha256
    diff = Agreements.diff(a, b)
    assert "-Channel" in diff and "+Channel" in diff


def test_html_output() -> None:
    """HTML output escapes text and uses headings."""
    html = Agreements(copy.deepcopy(FACTS)).render("en", "html")
    assert html.startswith("<!DOCTYPE html>") and "<h2>" in html


def test_fact_types_are_checked_by_the_clause_schema() -> None:
    """A fact of the wrong type is refused, naming the field."""
    from genai_compliance import ConfigurationError

    facts = copy.deepcopy(FACTS)
    facts["complaints"]["response_working_days"] = "fifteen"
    with pytest.raises(ConfigurationError, match="response_working_days"):
        Agreements(facts).render("zh")
