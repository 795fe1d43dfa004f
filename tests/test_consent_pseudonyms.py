"""No raw user id in a consent error message, its repr or its evidence (issue 15,
PI-RIGHTS): errors name the subject by the ledger's keyed pseudonym."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import (
    Compliance,
    ConsentRequired,
    FrozenClock,
    Guardian,
    GuardianConsentRequired,
    Subject,
)
from genai_compliance.checks import CallContext
from genai_compliance.consent import ConsentCheck, NoticeRef
from genai_compliance.testing import make_compliance

NOTICE = NoticeRef("1", hashlib.sha256(b"n").hexdigest())


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    comp = make_compliance(tmp_path, clock=FrozenClock("2026-01-10T04:00:00+00:00"))
    yield comp
    comp.close()


def shown(error: BaseException) -> str:
    """Everything an error shows: message, repr and evidence (what the ASGI body carries)."""
    evidence = getattr(error, "evidence", {})
    return f"{error}\n{error!r}\n{json.dumps(evidence, default=str, ensure_ascii=False)}"


def test_consent_required_names_the_pseudonym_not_the_user_id(comp: Compliance) -> None:
    """ConsentRequired carries the subject's pseudonym as ``.subject`` and in its message."""
    phone = Subject("13800138000", birth_date="1990-01-01")
    with pytest.raises(ConsentRequired) as info:
        comp.consent.require(phone, ["service"])
    assert "13800138000" not in shown(info.value)
    assert info.value.evidence["subject"] == comp.ledger.pseudonym(phone)
    assert comp.ledger.pseudonym(phone) in str(info.value)
    assert info.value.purposes == ["service"]


def test_guard_refusal_carries_no_user_id(comp: Compliance) -> None:
    """The refusal the guard raises (and so the HTTP body) holds no raw user id."""
    phone = Subject("13800138000", birth_date="1990-01-01")
    ctx = CallContext(call_id="c", function="tests.f", modality="text", purposes=("service",),
                      subject=phone, started_at=comp.clock.now(),
                      started_mono=comp.clock.monotonic(), clock=comp.clock)
    with pytest.raises(ConsentRequired) as info:
        ConsentCheck(comp.consent).before(ctx)
    assert "13800138000" not in shown(info.value)


def test_guardian_errors_carry_no_ids(comp: Compliance) -> None:
    """PI-28/31 errors name neither the child nor the guardian by id."""
    kid = Subject("kid-13800138000", birth_date="2015-03-01",
                  guardian=Guardian("mum-13900139000", verified=True))
    errors = []
    for guardian in (None, Guardian("stranger-13700137000")):
        with pytest.raises(GuardianConsentRequired) as info:
            comp.consent.grant(kid, "service", notice=NOTICE, guardian=guardian)
        errors.append(info.value)
    with pytest.raises(GuardianConsentRequired) as info:
        comp.consent.require(kid, ["service"])
    errors.append(info.value)
    for error in errors:
        text = shown(error)
        assert "13800138000" not in text
        assert "13900139000" not in text
        assert "13700137000" not in text
        assert error.evidence["subject"] == comp.ledger.pseudonym(kid)


@settings(max_examples=30)
@given(user_id=st.from_regex(r"[A-Za-z0-9_@.+\-]{1,30}", fullmatch=True).map(
    lambda s: f"uid#{s}"))
def test_no_user_id_ever_appears_in_a_refusal(tmp_path_factory: pytest.TempPathFactory,
                                              user_id: str) -> None:
    """Property: for any user id, a consent refusal shows no trace of it."""
    comp = make_compliance(tmp_path_factory.mktemp("p"), clock=FrozenClock())
    try:
        with pytest.raises(ConsentRequired) as info:
            comp.consent.require(Subject(user_id, birth_date="1990-01-01"),
                                 ["service", "training"])
        assert user_id not in shown(info.value)
        assert "uid#" not in shown(info.value)
    finally:
        comp.close()
