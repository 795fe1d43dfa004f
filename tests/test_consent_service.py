"""PIPL consent: grants, withdrawal, under-14 guardians, notices, receipts, requests."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import (
    Compliance,
    ConsentRequired,
    FrozenClock,
    Guardian,
    GuardianConsentRequired,
    SigningError,
    Subject,
)
from genai_compliance.consent import ConsentCheck, ConsentService, NoticeRef, verify_receipt
from genai_compliance.testing import make_compliance

NOTICE = NoticeRef("2026-01", hashlib.sha256(b"privacy notice v1").hexdigest())
ADULT = Subject("adult-1", birth_date="1990-01-01")
KID = Subject("kid-1", birth_date="2015-03-01", guardian=Guardian("mum-1", verified=True))


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    comp = make_compliance(tmp_path, checks=(), clock=FrozenClock("2026-01-10T04:00:00+00:00"))
    yield comp
    comp.close()


def test_grant_require_withdraw(comp: Compliance) -> None:
    """A grant satisfies require; a withdrawal takes effect at once."""
    consent: ConsentService = comp.consent
    with pytest.raises(ConsentRequired) as info:
        consent.require(ADULT, ["service", "training"])
    assert info.value.purposes == ["service", "training"]
    assert "PI-SEP" in info.value.rules  # training needs separate consent
    consent.grant(ADULT, "service", notice=NOTICE)
    consent.grant(ADULT, "training", notice=NOTICE, method="toggle")
    consent.require(ADULT, ["service", "training"])
    assert consent.withdraw(ADULT, "training") is True
    with pytest.raises(ConsentRequired, match="training"):
        consent.require(ADULT, ["training"])
    kinds = [r.kind for r in comp.records("consent")]
    assert kinds == ["consent.grant", "consent.grant", "consent.withdraw"]


def test_under_14_own_grant_rejected_guardian_passes(comp: Compliance) -> None:
    """Under 14: the subject's own grant is rejected; a guardian's grant passes."""
    with pytest.raises(GuardianConsentRequired, match="under 14"):
        comp.consent.grant(KID, "service", notice=NOTICE)
    with pytest.raises(GuardianConsentRequired, match="not the recorded guardian"):
        comp.consent.grant(KID, "service", notice=NOTICE, guardian=Guardian("stranger"))
    assert not comp.consent.has_guardian_consent(KID)
    comp.consent.grant(KID, "service", notice=NOTICE, guardian=Guardian("mum-1"))
    comp.consent.require(KID, ["service"])
    assert comp.consent.has_guardian_consent(KID)
    grant = next(iter(comp.records("consent.grant")))
    assert grant.payload["guardian"] == "mum-1"


def test_expiry_and_new_notice_require_reconsent(comp: Compliance) -> None:
    """A grant expires with its ttl; a changed notice needs consent again."""
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    comp.consent.grant(ADULT, "service", notice=NOTICE, ttl=dt.timedelta(days=30))
    comp.consent.require(ADULT, ["service"])
    clock.advance(days=31)
    comp.consent.max_staleness = 0
    with pytest.raises(ConsentRequired):
        comp.consent.require(ADULT, ["service"])
    comp.consent.grant(ADULT, "service", notice=NOTICE)
    v2 = NoticeRef("2026-02", hashlib.sha256(b"v2").hexdigest())
    comp.consent.set_notice("service", v2)
    with pytest.raises(ConsentRequired) as info:
        comp.consent.require(ADULT, ["service"])
    assert info.value.evidence["notice"]["service"]["version"] == "2026-02"
    comp.consent.grant(ADULT, "service", notice=v2)
    comp.consent.require(ADULT, ["service"])


def test_receipt_verifies_and_tamper_fails(comp: Compliance) -> None:
    """Receipts are EdDSA JWS with ISO/IEC 27560-style fields; an edit fails verification."""
    token = comp.consent.grant(ADULT, "training", notice=NOTICE)
    claims = verify_receipt(token, comp.consent.receipt_public_key)
    assert claims["services"][0]["service"] == "training"
    assert claims["services"][0]["purposes"][0]["separateConsent"] is True
    assert claims["piiPrincipalId"] == comp.ledger.pseudonym(ADULT)
    h, p, s = token.split(".")
    with pytest.raises(SigningError):
        verify_receipt(f"{h}.{p[:-2]}AA.{s}", comp.consent.receipt_public_key)


def test_guard_runs_consent_and_fails_closed(comp: Compliance) -> None:
    """@guard(purposes=...) runs require; anonymous callers are refused."""
    comp.add_check(ConsentCheck(comp.consent))

    @comp.guard(purposes=["service"])
    def generate(prompt: str) -> str:
        return "ok"

    with pytest.raises(ConsentRequired):
        generate("x", subject=ADULT)
    with pytest.raises(ConsentRequired, match="anonymous"):
        generate("x")
    comp.consent.grant(ADULT, "service", notice=NOTICE)
    assert generate("x", subject=ADULT) == "ok"


def test_export_and_erase_subject(comp: Compliance) -> None:
    """Data-subject requests: export everything; erase makes old records unlinkable."""
    comp.consent.grant(ADULT, "service", notice=NOTICE)
    data = comp.consent.export_subject(ADULT)
    assert data["consents"][0]["purpose"] == "service"
    assert [r["kind"] for r in data["records"]] == ["consent.grant"]
    assert comp.consent.erase_subject(ADULT) == 1
    assert comp.consent.export_subject(ADULT)["consents"] == []
    assert comp.ledger.verify().ok


EVENTS = st.lists(st.tuples(st.sampled_from(["grant", "withdraw", "expire-grant", "tick"]),
                            st.sampled_from(["u1", "u2"]),
                            st.sampled_from(["service", "training"])), max_size=25)


@settings(max_examples=30)
@given(events=EVENTS)
def test_require_equals_a_replay_of_the_ledger(tmp_path_factory: Any,
                                                events: list[tuple[str, str, str]]) -> None:
    """Property: after any interleaving, require() answers as a replay of the ledger does."""
    clock = FrozenClock("2026-01-10T04:00:00+00:00")
    comp = make_compliance(tmp_path_factory.mktemp("c"), checks=(), clock=clock)
    consent = comp.consent
    consent.max_staleness = 0
    for op, user, purpose in events:
        subject = Subject(user, birth_date="1990-01-01")
        if op == "grant":
            consent.grant(subject, purpose, notice=NOTICE)
        elif op == "expire-grant":
            consent.grant(subject, purpose, notice=NOTICE, ttl=dt.timedelta(hours=1))
        elif op == "withdraw":
            consent.withdraw(subject, purpose)
        else:
            clock.advance(minutes=40)
    now = clock.now()
    replay: dict[tuple[str | None, str], dt.datetime | bool | None] = {}
    for rec in comp.records("consent"):
        key = (rec.subject, rec.payload["purpose"])
        if rec.kind == "consent.grant":
            exp = rec.payload["expires_at"]
            replay[key] = dt.datetime.fromisoformat(exp) if exp else True
        else:
            replay[key] = False
    for user in ("u1", "u2"):
        subject = Subject(user, birth_date="1990-01-01")
        for purpose in ("service", "training"):
            state = replay.get((comp.ledger.pseudonym(subject), purpose), False)
            expected = state is True or (isinstance(state, dt.datetime) and now < state)
            assert (consent.missing(subject, [purpose]) == []) == expected
    comp.close()
