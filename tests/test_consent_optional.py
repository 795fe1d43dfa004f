"""Required and optional purposes (PI-16, PIPL Art. 16): a declined optional purpose never
refuses the call; it is recorded and gates the optional use (IM-7)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import (
    Compliance,
    ConfigurationError,
    ConsentRequired,
    FrozenClock,
    Guardian,
    GuardianConsentRequired,
    Subject,
)
from genai_compliance.checks import CallContext, request_calls
from genai_compliance.consent import (
    DEFAULT_PURPOSES,
    ConsentCheck,
    ConsentService,
    InputStore,
    NoticeRef,
    Purpose,
    purposes_from_settings,
)
from genai_compliance.testing import make_compliance

NOTICE = NoticeRef("2026-01", hashlib.sha256(b"privacy notice v1").hexdigest())
ADULT = Subject("adult-1", birth_date="1990-01-01")
KID = Subject("kid-1", birth_date="2015-03-01", guardian=Guardian("mum-1", verified=True))


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    comp = make_compliance(tmp_path, clock=FrozenClock("2026-01-10T04:00:00+00:00"))
    yield comp
    comp.close()


def ctx_for(comp: Compliance, purposes: Sequence[str], optional: Sequence[str] = (), *,
            subject: Subject | None = ADULT) -> CallContext:
    """A call context as the guard builds it (the unit tests need no guard)."""
    return CallContext(call_id="call-1", function="tests.generate", modality="text",
                       purposes=tuple(purposes), subject=subject,
                       started_at=comp.clock.now(), started_mono=comp.clock.monotonic(),
                       clock=comp.clock, optional_purposes=tuple(optional))


def test_declined_optional_purpose_is_served_and_recorded(comp: Compliance) -> None:
    """PI-16: service granted, optional training not: served; declined on response and notes."""
    comp.consent.grant(ADULT, "service", notice=NOTICE)
    ctx = ctx_for(comp, ["service"], ["training"])
    ConsentCheck(comp.consent).before(ctx)
    assert ctx.response.optional_declined == ["training"]
    assert ctx.notes["consent_declined"] == ["training"]
    assert ctx.notes["consent_optional_granted"] == []


def test_granted_optional_purpose_is_recorded_as_granted(comp: Compliance) -> None:
    """PI-16: an optional purpose with consent is listed as granted, not declined."""
    comp.consent.grant(ADULT, "service", notice=NOTICE)
    comp.consent.grant(ADULT, "training", notice=NOTICE)
    ctx = ctx_for(comp, ["service"], ["training", "public-disclosure"])
    ConsentCheck(comp.consent).before(ctx)
    assert ctx.notes["consent_optional_granted"] == ["training"]
    assert ctx.notes["consent_declined"] == ["public-disclosure"]
    assert ctx.response.optional_declined == ["public-disclosure"]


def test_missing_required_purpose_still_refuses(comp: Compliance) -> None:
    """PI-14: a missing required consent refuses, even when every optional one is granted."""
    comp.consent.grant(ADULT, "training", notice=NOTICE)
    ctx = ctx_for(comp, ["service"], ["training"])
    with pytest.raises(ConsentRequired) as info:
        ConsentCheck(comp.consent).before(ctx)
    assert info.value.purposes == ["service"]
    assert ctx.response.optional_declined == []


def test_calls_without_purposes_add_nothing(comp: Compliance) -> None:
    """A call declaring no purposes is neither refused nor annotated by the consent check."""
    ctx = ctx_for(comp, [])
    ConsentCheck(comp.consent).before(ctx)
    assert ctx.notes == {}
    assert ctx.response.optional_declined == []


def test_anonymous_caller_with_only_optional_purposes_is_served(comp: Compliance) -> None:
    """PI-16: nobody to ask means no optional consent, never a refusal of the service."""
    ctx = ctx_for(comp, [], ["training"], subject=None)
    ConsentCheck(comp.consent).before(ctx)
    assert ctx.response.optional_declined == ["training"]
    with pytest.raises(ConsentRequired, match="anonymous"):
        ConsentCheck(comp.consent).before(ctx_for(comp, ["service"], subject=None))


def test_under_14_optional_needs_the_guardian_but_never_refuses(comp: Compliance) -> None:
    """PI-28/31 with PI-16: a child's optional purpose without a guardian's grant is declined;
    a required one refuses with GuardianConsentRequired."""
    comp.consent.grant(KID, "service", notice=NOTICE, guardian=Guardian("mum-1"))
    ctx = ctx_for(comp, ["service"], ["training"], subject=KID)
    ConsentCheck(comp.consent).before(ctx)
    assert ctx.response.optional_declined == ["training"]
    with pytest.raises(GuardianConsentRequired):
        ConsentCheck(comp.consent).before(ctx_for(comp, ["service", "sensitive"],
                                                  subject=KID))


def test_purpose_configured_optional_does_not_refuse_from_the_required_list(
        comp: Compliance) -> None:
    """PI-16: purposes=["service", "training"] with only the service granted is served —
    training needs separate consent and is not necessary for the service (issue 13)."""
    comp.consent.grant(ADULT, "service", notice=NOTICE)
    ctx = ctx_for(comp, ["service", "training", "personalisation"])
    ConsentCheck(comp.consent).before(ctx)
    assert ctx.response.optional_declined == ["training", "personalisation"]


def test_default_requiredness_follows_the_law() -> None:
    """PI-16/PI-SEP/PI-24: the shipped purposes' required flags, as docs/consent.md argues."""
    required = {p.name: p.is_required for p in DEFAULT_PURPOSES}
    assert required == {"service": True, "service-agreement": True, "training": False,
                        "personalisation": False, "third-party": False, "cross-border": True,
                        "sensitive": True, "public-disclosure": False,
                        "unlabelled-output": False}


@pytest.mark.parametrize(("separate", "required", "expected"), [
    (False, None, True), (True, None, False), (True, True, True), (False, False, False)])
def test_separate_purposes_are_optional_unless_marked_required(
        separate: bool, required: bool | None, expected: bool) -> None:
    """PI-SEP/PI-16: ``required`` unset follows ``separate``; set, it decides."""
    purpose = Purpose("x", "x", "x", separate=separate, required=required)
    assert purpose.is_required is expected


def test_config_marks_a_purpose_required_or_optional(tmp_path: Path) -> None:
    """[[consent.purposes]]: an entry naming a shipped purpose changes only what it gives; a
    new separate purpose is optional unless it says required = true."""
    comp = make_compliance(tmp_path, clock=FrozenClock(), settings={"consent": {"purposes": [
        {"name": "training", "required": True},
        {"name": "cross-border", "required": False},
        {"name": "voice-clone", "zh": "声音克隆", "en": "Voice cloning", "separate": True},
    ]}})
    try:
        consent = comp.consent
        assert consent.purposes["training"].is_required
        assert consent.purposes["training"].separate  # unchanged
        assert not consent.purposes["cross-border"].is_required
        assert not consent.purposes["voice-clone"].is_required
        consent.grant(ADULT, "service", notice=NOTICE)
        with pytest.raises(ConsentRequired, match="training"):
            ConsentCheck(consent).before(ctx_for(comp, ["service", "training"]))
        ctx = ctx_for(comp, ["service", "cross-border", "voice-clone"])
        ConsentCheck(consent).before(ctx)
        assert ctx.response.optional_declined == ["cross-border", "voice-clone"]
    finally:
        comp.close()


@pytest.mark.parametrize(("entry", "message"), [
    ({"name": "training", "requried": False}, "unknown key 'requried'; did you mean "
                                              "'required'"),
    ({"name": "training", "required": "no"}, r"required must be a bool, got 'no'"),
    ({"name": "voice-clone", "en": "Voice"}, "needs zh"),
    ({"zh": "x", "en": "x"}, "needs a name"),
    ({"name": "Voice Clone", "zh": "x", "en": "x"}, "is not a purpose name"),
    ("training", "must be a table"),
])
def test_bad_purpose_config_names_the_key(entry: Any, message: str) -> None:
    """A wrong [[consent.purposes]] entry is a ConfigurationError saying what to fix."""
    with pytest.raises(ConfigurationError, match=message):
        purposes_from_settings([entry])


def test_unknown_optional_purpose_is_a_configuration_error(comp: Compliance) -> None:
    """A misspelt optional purpose is an error naming the known ones, not a silent decline."""
    with pytest.raises(ConfigurationError, match="unknown consent purpose 'trainig'"):
        ConsentCheck(comp.consent).before(ctx_for(comp, ["service"], ["trainig"]))


NAMES = [p.name for p in DEFAULT_PURPOSES]


@settings(max_examples=40)
@given(granted=st.sets(st.sampled_from(NAMES)),
       listed=st.lists(st.sampled_from(NAMES), unique=True, max_size=5),
       optional=st.lists(st.sampled_from(NAMES), unique=True, max_size=5))
def test_only_required_purposes_ever_refuse(tmp_path_factory: pytest.TempPathFactory,
                                            granted: set[str], listed: list[str],
                                            optional: list[str]) -> None:
    """Property (PI-16): the check refuses exactly when a required listed purpose lacks a
    grant; otherwise every optional purpose is either granted or declined, never both."""
    optional = [p for p in optional if p not in listed]
    comp = make_compliance(tmp_path_factory.mktemp("o"), clock=FrozenClock())
    try:
        for name in granted:
            comp.consent.grant(ADULT, name, notice=NOTICE)
        required = {p for p in listed if comp.consent.purposes[p].is_required}
        ctx = ctx_for(comp, listed, optional)
        try:
            ConsentCheck(comp.consent).before(ctx)
        except ConsentRequired as exc:
            assert set(exc.purposes) == required - granted
            assert exc.purposes
            return
        assert required <= granted
        opt = [p for p in [*listed, *optional] if p not in required]
        if opt:
            assert ctx.notes["consent_declined"] == [p for p in opt if p not in granted]
            assert ctx.notes["consent_optional_granted"] == [p for p in opt if p in granted]
        assert ctx.response.optional_declined == [p for p in opt if p not in granted]
    finally:
        comp.close()


# -- through the guard ---------------------------------------------------------------------

def test_guarded_call_with_declined_training_is_served_and_never_trained_on(
        comp: Compliance) -> None:
    """PI-16 + IM-7 through the guard: purposes=["service"], optional ["training"], training
    declined -> served, the call's record lists it as declined, and the training filter never
    yields that interaction, not even after the subject grants training later."""
    consent: ConsentService = comp.consent
    store = InputStore(consent)
    consent.grant(ADULT, "service", notice=NOTICE)

    @comp.guard(purposes=["service"], optional_purposes=["training"],
                checks=[ConsentCheck(consent)])
    def generate(prompt: str) -> str:
        return f"answer to {prompt}"

    token = request_calls.set([])
    try:
        out = generate("hello", subject=ADULT)
        calls = request_calls.get()
    finally:
        request_calls.reset(token)
    assert out == "answer to hello"
    assert calls is not None
    call = calls[-1]
    assert call.response.optional_declined == ["training"]
    record = list(comp.records("guard.call"))[-1]
    assert record.payload["outcome"] == "served"
    assert record.payload["notes"]["consent_declined"] == ["training"]
    store.keep(ADULT, "hello", out, call=call)
    assert list(store.training_eligible()) == []

    consent.grant(ADULT, "training", notice=NOTICE)  # a later grant covers later inputs only
    assert list(store.training_eligible()) == []
    later = generate("again", subject=ADULT)
    record = list(comp.records("guard.call"))[-1]
    assert record.payload["notes"]["consent_optional_granted"] == ["training"]
    store.keep(ADULT, "again", later)
    assert [r.prompt for r in store.training_eligible()] == ["again"]


def test_a_withdrawal_makes_earlier_inputs_ineligible(comp: Compliance) -> None:
    """PI-15 + IM-7: inputs kept while training was granted stop being eligible at once
    when it is withdrawn; erasing the subject removes the gating rows too."""
    consent: ConsentService = comp.consent
    store = InputStore(consent)
    consent.grant(ADULT, "training", notice=NOTICE)
    store.keep(ADULT, "p1")
    assert [r.prompt for r in store.training_eligible()] == ["p1"]
    consent.withdraw(ADULT, "training")
    assert list(store.training_eligible()) == []
    other = Subject("other", birth_date="1990-01-01")
    store.keep(other, "p2")
    assert store.erase_subject(other) == 1
    assert [r.prompt for r in store.records()] == ["p1"]


def test_eligible_rejects_an_unknown_purpose(comp: Compliance) -> None:
    """The optional-use filter names a misspelt purpose instead of yielding nothing."""
    with pytest.raises(ConfigurationError, match="unknown consent purpose"):
        list(InputStore(comp.consent).eligible("trainig"))


async def test_async_guarded_call_records_the_declined_purpose(comp: Compliance) -> None:
    """PI-16 through the async driver: an async guarded call is served with training
    declined and its record says so."""
    comp.consent.grant(ADULT, "service", notice=NOTICE)

    @comp.guard(purposes=["service"], optional_purposes=["training"],
                checks=[ConsentCheck(comp.consent)])
    async def agenerate(prompt: str) -> str:
        return "ok"

    assert await agenerate("hi", subject=ADULT) == "ok"
    record = list(comp.records("guard.call"))[-1]
    assert record.payload["outcome"] == "served"
    assert record.payload["notes"]["consent_declined"] == ["training"]
    with pytest.raises(ConsentRequired):
        await agenerate("hi", subject=Subject("nobody", birth_date="1990-01-01"))
