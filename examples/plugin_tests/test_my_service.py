"""An example of a provider's own tests using the genai_compliance pytest plugin.

No imports of fixtures are needed: installing genai-compliance registers them.
Run with ``pytest examples/plugin_tests``.
"""

from __future__ import annotations

import hashlib

import pytest

from genai_compliance import ConsentRequired, GuardianConsentRequired, MinorQuotaExhausted
from genai_compliance.consent import NoticeRef

NOTICE = NoticeRef("2026-01", hashlib.sha256(b"our privacy notice").hexdigest())


@pytest.fixture(name="chat")
def _chat(compliance, frozen_clock):
    """The provider's guarded model function, built on the fixture's Compliance."""

    @compliance.guard(modality="text", purposes=["service"])
    def chat(prompt: str, minutes: float = 0) -> str:
        frozen_clock.advance(minutes=minutes)  # pretend the model ran this long
        return f"answer to {prompt}"

    return chat


def test_adult_needs_consent_and_gets_a_labelled_answer(chat, compliance, subject_factory,
                                                        assert_refused, assert_labelled,
                                                        expect_record):
    adult = subject_factory("adult")
    expect_record("consent.grant", purpose="service")
    assert_refused(chat, ConsentRequired, "hi", subject=adult)
    compliance.consent.grant(adult, "service", notice=NOTICE)
    assert_labelled(chat("hi", subject=adult))


def test_twelve_year_old_needs_guardian_then_hits_the_quota(chat, compliance,
                                                            subject_factory, assert_refused,
                                                            ledger_records):
    kid = subject_factory("preteen", guardian=True)
    assert_refused(chat, GuardianConsentRequired, "hi", subject=kid)
    compliance.consent.grant(kid, "service", notice=NOTICE, guardian=kid.guardian)
    chat("a long story", minutes=61, subject=kid)
    error = assert_refused(chat, MinorQuotaExhausted, "more", subject=kid)
    assert error.retry_after is not None
    assert [r.payload["outcome"] for r in ledger_records("guard.call")][-1] == "refused"


@pytest.mark.compliance(checks=[])
def test_marker_configures_the_fixture(chat, subject_factory):
    assert chat("x", subject=subject_factory(age=15)) == "answer to x"
