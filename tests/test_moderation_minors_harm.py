"""The 2026 classification of online information that may harm minors (MH-2026) as the
moderation profile used for minors: its four kinds (M.1 … M.4) are blocked for a minor and
served to an adult; a provider can switch the shipped seed off explicitly."""

from __future__ import annotations

from pathlib import Path

import pytest

from genai_compliance import Compliance, ContentBlocked, Subject, use_subject
from genai_compliance.errors import ConfigurationError
from genai_compliance.evaluation import risk_codes
from genai_compliance.moderation import minors_harm_library
from genai_compliance.risks import CATEGORIES, MINOR_HARMS, Risk
from genai_compliance.testing import make_compliance, sample_keyword_file

ADULT = Subject("adult-1", birth_date="1990-01-01")
TEEN = Subject("teen-1", birth_date="2010-06-01")  # 15 at the frozen clock's 2026-01-01


def _generate(comp: Compliance):  # type: ignore[no-untyped-def]
    @comp.guard(modality="text")
    def generate(prompt: str) -> str:
        return "好的"

    return generate


def test_codes_are_their_own_category() -> None:
    """M.1 … M.4 parse, sit in category M with their Chinese names, and are not counted
    among the 31 TC260 risks the evaluation banks must cover."""
    assert [r.value for r in MINOR_HARMS] == ["M.1", "M.2", "M.3", "M.4"]
    assert Risk.parse("M.3") is Risk.M_3 and Risk.M_3.category == "M"
    assert not Risk.M_3.tc260 and not Risk.M_3.keyword_risk
    assert Risk.M_4.name_zh == "不当披露和使用未成年人个人信息"
    assert "M" in CATEGORIES
    assert len(risk_codes()) == 31 and "M.1" not in risk_codes()
    with pytest.raises(ConfigurationError, match=r"M\.1 … M\.4"):
        Risk.parse("M.9")


def test_seed_covers_every_kind() -> None:
    """The shipped seed has entries for each of the four kinds."""
    kinds = {e.risk for e in minors_harm_library().entries}
    assert kinds == set(MINOR_HARMS)


@pytest.mark.parametrize("term,kind", [("危险挑战", "M.1"), ("读书无用", "M.2"),
                                       ("儿童擦边", "M.3"), ("晒娃学校地址", "M.4")])
def test_blocked_for_a_minor_served_to_an_adult(tmp_path: Path, term: str, kind: str) -> None:
    """One term of each kind: a minor's prompt is refused (451, risk code, the minors
    profile), an adult's is served."""
    with make_compliance(tmp_path) as comp:
        generate = _generate(comp)
        with use_subject(ADULT):
            assert generate(f"讲讲{term}").endswith("好的")
        with use_subject(TEEN), pytest.raises(ContentBlocked) as info:
            generate(f"讲讲{term}")
    assert info.value.evidence["risk"] == kind
    assert info.value.evidence["profile"] == "minors" and info.value.http_status == 451


def test_switched_off_explicitly(tmp_path: Path) -> None:
    """``[moderation] minors_harm_profile = false`` drops the shipped seed (the provider's
    own minors list still applies)."""
    settings = {"moderation": {"keyword_files": [sample_keyword_file()],
                               "minors_harm_profile": False}}
    with make_compliance(tmp_path, settings=settings) as comp:
        generate = _generate(comp)
        with use_subject(TEEN):
            assert generate("讲讲危险挑战").endswith("好的")
