"""The default guard pipeline: consent → minors → illegal use → input moderation → output
moderation → text label → media labels; the same everywhere it is built."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from genai_compliance import (
    Compliance,
    ConsentRequired,
    FrozenClock,
    Guardian,
    GuardianConsentRequired,
    MinorCurfew,
    Subject,
)
from genai_compliance.consent import NoticeRef
from genai_compliance.testing import make_compliance

NOTICE = NoticeRef("1", hashlib.sha256(b"notice").hexdigest())


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    # 2026-03-02 12:00 Beijing
    comp = make_compliance(tmp_path, clock=FrozenClock("2026-03-02T04:00:00+00:00"),
                           checks=None)
    yield comp
    comp.close()


def test_default_pipeline_order(comp: Compliance) -> None:
    """Without explicit checks, the full default pipeline is built in DESIGN order."""
    assert [c.name for c in comp.checks] == [
        "consent", "minors", "interaction", "illegal-use", "input-moderation", "output-moderation",
        "explicit_text_label", "media_label"]


def test_adult_needs_consent_then_gets_labelled_text(comp: Compliance) -> None:
    """An adult is refused until consenting, then served a labelled answer."""
    adult = Subject("a1", birth_date="1990-01-01")

    @comp.guard(purposes=["service"])
    def chat(prompt: str) -> str:
        return "你好！"

    with pytest.raises(ConsentRequired):
        chat("hi", subject=adult)
    comp.consent.grant(adult, "service", notice=NOTICE)
    out = chat("hi", subject=adult)
    assert out.startswith("本内容由人工智能生成") and out.endswith("你好！")


def test_child_needs_guardian_and_curfew_applies(comp: Compliance) -> None:
    """A 10-year-old needs a guardian's consent; then the curfew applies at 22:00."""
    kid = Subject("k1", birth_date="2016-01-01", guardian=Guardian("g1"))

    @comp.guard(purposes=["service"])
    def chat(prompt: str) -> str:
        return "ok"

    with pytest.raises(GuardianConsentRequired):
        chat("hi", subject=kid)
    comp.consent.grant(kid, "service", notice=NOTICE, guardian=Guardian("g1"))
    assert chat("hi", subject=kid).endswith("ok")
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    clock.set("2026-03-02T14:00:00+00:00")  # 22:00 Beijing
    with pytest.raises(MinorCurfew) as info:
        chat("hi", subject=kid)
    assert info.value.retry_after is not None
