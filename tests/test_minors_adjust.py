"""Guardian adjustments and exemptions within configured bounds (MM-adjust, MM-exempt), each a
ledger record with guardian and minor pseudonymised; the unknown-age policy through the guard
and in the dossier (MM-age-unknown). Real SQLite, PostgreSQL and Redis stores; frozen clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance.cli import main
from genai_compliance.compliance import Compliance
from genai_compliance.errors import (
    ConfigurationError,
    MinorCurfew,
    MinorQuotaExhausted,
    MinorRestricted,
)
from genai_compliance.minors import (
    AgeVerificationRequired,
    GuardianBoundExceeded,
    MinorPolicy,
    MinorProtection,
    MinorsCheck,
)
from genai_compliance.minors._machine import LUA, apply, fmt, pack, state_of, unpack
from genai_compliance.rules import load_rules
from genai_compliance.schemas import validate
from genai_compliance.stores import RedisStore, open_store
from genai_compliance.subject import AgeBand, Guardian, Subject
from genai_compliance.testing import TEST_PROVIDER, FrozenClock, make_compliance
from genai_compliance.training import TrainingRegister, build_dossier, write_dossier

SH = dt.timezone(dt.timedelta(hours=8))
MUM = Guardian("mum-77", relation="mother", verified=True)
KID = Subject("kid-77", birth_date="2012-06-01", guardian=MUM)  # 13 on 2026-03-02: 12-16
BOUNDS = {"guardian_max_daily_minutes": {"12-16": 90}, "exemption_max_minutes": 45}


@pytest.fixture(name="clock")
def _clock() -> FrozenClock:
    return FrozenClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=SH))


def _comp(tmp_path: Path, clock: FrozenClock, uri: str, unique: str, *,
          pipeline: bool = False, **minors: Any) -> Compliance:
    """A Compliance on ``uri``; ``pipeline``: the full default checks (else none: the test
    adds its own MinorsCheck with a consenting guardian lookup)."""
    return make_compliance(tmp_path, clock=clock, stores={"minors": uri},
                           checks=None if pipeline else (),
                           settings={"minors": {"key_prefix": f"test:{unique}", **minors}})


@pytest.fixture(name="comp")
def _comp_fixture(tmp_path: Path, clock: FrozenClock, kv_uri: str,
                  unique: str) -> Iterator[Compliance]:
    """A Compliance whose minors store is each backend in turn, with bounds configured."""
    comp = _comp(tmp_path, clock, kv_uri, unique, **BOUNDS)
    yield comp
    comp.close()


@pytest.fixture(name="prot")
def _prot(comp: Compliance) -> MinorProtection:
    return MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)


def _use(prot: MinorProtection, clock: FrozenClock, seconds: float,
         subject: Subject = KID) -> None:
    adm = prot.admit(subject)
    assert adm is not None
    clock.advance(seconds)
    prot.release(adm, seconds)


def _records(comp: Compliance, kind: str) -> list[Any]:
    return list(comp.records(kind))


# -- adjustments (MM-adjust) -------------------------------------------------------------
def test_guardian_raises_the_limit_up_to_the_bound(prot: MinorProtection, comp: Compliance,
                                                   clock: FrozenClock) -> None:
    """Raised to the band's bound (90): 90 minutes are served, then the quota refuses; the
    record names who (pseudonym), what, the bound; no raw id anywhere."""
    prot.set_daily_limit(KID, 90, guardian=MUM)
    _use(prot, clock, 89 * 60)
    _use(prot, clock, 60)
    with pytest.raises(MinorQuotaExhausted) as info:
        prot.admit(KID)
    assert info.value.limit_minutes == 90
    summary = prot.usage(KID)
    assert (summary.limit_minutes, summary.policy_limit_minutes) == (90, 60)
    [rec] = _records(comp, "minors.guardian.limit")
    body = rec.payload
    assert (body["minutes"], body["bound"], body["bound_minutes"], body["direction"]) == (
        90, "guardian_max_daily_minutes.12-16", 90, "raise")
    assert "MM-adjust" in body["rules"]
    text = json.dumps(body)
    assert "mum-77" not in text and "kid-77" not in text
    assert rec.subject is not None and "kid-77" not in rec.subject


def test_above_the_bound_is_refused_naming_it(prot: MinorProtection, comp: Compliance,
                                              clock: FrozenClock) -> None:
    """91 > 90: GuardianBoundExceeded names the bound; nothing changed, nothing recorded."""
    with pytest.raises(GuardianBoundExceeded) as info:
        prot.set_daily_limit(KID, 91, guardian=MUM)
    assert (info.value.bound, info.value.limit, info.value.value) == (
        "guardian_max_daily_minutes.12-16", 90, 91)
    assert "guardian_max_daily_minutes.12-16" in str(info.value)
    assert isinstance(info.value, ConfigurationError)
    assert prot.usage(KID).limit_minutes == 60
    assert _records(comp, "minors.guardian") == []


def test_without_a_bound_guardians_only_lower(tmp_path: Path, clock: FrozenClock,
                                              unique: str) -> None:
    """Default: the bound of each band is its own figure, so raising is refused."""
    comp = _comp(tmp_path, clock, "memory://", unique)
    try:
        prot = MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)
        with pytest.raises(GuardianBoundExceeded, match="not raise") as info:
            prot.set_daily_limit(KID, 61, guardian=MUM)
        assert info.value.bound == "guardian_max_daily_minutes.12-16"
        prot.set_daily_limit(KID, 60, guardian=MUM)
        prot.set_daily_limit(KID, 0, guardian=MUM)
        with pytest.raises(MinorQuotaExhausted):
            prot.admit(KID)
    finally:
        comp.close()


@pytest.fixture(name="shared_uri", params=["sqlite", pytest.param("postgresql",
                                                               marks=pytest.mark.postgres),
                                            pytest.param("redis", marks=pytest.mark.redis)])
def _shared_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    name = "postgres_uri" if request.param == "postgresql" else "redis_uri"
    return str(request.getfixturevalue(name))


def test_replicas_share_adjustments_and_a_lowered_bound_wins(
        tmp_path: Path, clock: FrozenClock, shared_uri: str, unique: str) -> None:
    """Replica A (bound 90) raises to 90 and grants an exemption; replica B on the same
    store sees both; replica C, configured with no raise allowed, holds the stored 90 to 60."""
    comp = _comp(tmp_path, clock, shared_uri, unique, **BOUNDS)
    ledger = comp.context.ledger
    try:
        a = MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)
        b = MinorProtection(MinorPolicy.from_settings(BOUNDS), store=open_store(shared_uri),
                            clock=clock, keyer=ledger, key_prefix=f"test:{unique}",
                            guardian_consent=lambda s: True)
        c = MinorProtection(MinorPolicy(), store=open_store(shared_uri), clock=clock,
                            keyer=ledger, key_prefix=f"test:{unique}",
                            guardian_consent=lambda s: True)
        a.set_daily_limit(KID, 90, guardian=MUM)
        adm_b = b.admit(KID)
        adm_c = c.admit(KID)
        assert adm_b is not None and adm_c is not None
        assert adm_b.limit_seconds == 90 * 60
        assert adm_c.limit_seconds == 60 * 60  # the bound is applied at every admission
        assert c.usage(KID).limit_minutes == 60
        clock.advance(60)
        b.release(adm_b, 60)
        c.release(adm_c, 60)
        a.grant_exemption(KID, 30, guardian=MUM)
        assert b.usage(KID).exemption is not None
        shown = b.usage(KID).to_json()["exemption"]  # the guardian view says so too
        assert shown["curfew"] is False and shown["from"] < shown["until"]
        for prot in (b, c):
            prot.store.close()
    finally:
        comp.close()


# -- exemptions (MM-exempt) --------------------------------------------------------------
def test_exemption_lifts_the_quota_until_it_ends(prot: MinorProtection, comp: Compliance,
                                                 clock: FrozenClock) -> None:
    """Quota used up; a 30-minute study exemption serves the minor; at its end the quota
    refuses again. Recorded with purpose, from, until and the bound."""
    _use(prot, clock, 3600)
    with pytest.raises(MinorQuotaExhausted):
        prot.admit(KID)
    granted = prot.grant_exemption(KID, 30, guardian=MUM, purpose="study")
    assert granted.until - granted.start == dt.timedelta(minutes=30)
    adm = prot.admit(KID)
    assert adm is not None and adm.exemption == granted  # purpose kept in the store too
    assert adm.deadline == granted.until and adm.deadline_reason == "quota"
    clock.advance(29 * 60 + 59)
    prot.release(adm, 29 * 60 + 59)
    assert prot.admit(KID) is not None  # still inside: 1 s left
    clock.advance(1)
    with pytest.raises(MinorQuotaExhausted):
        prot.admit(KID)
    [rec] = _records(comp, "minors.guardian.exemption")
    body = rec.payload
    assert (body["purpose"], body["minutes"], body["bound"], body["bound_minutes"],
            body["curfew"]) == ("study", 30, "exemption_max_minutes", 45, False)
    assert body["until"] == granted.until.isoformat().replace("+00:00", "Z")
    assert "mum-77" not in json.dumps(body)
    assert prot.usage(KID).exemption is None  # ended: removed from the store


def test_exemption_bounds(prot: MinorProtection, comp: Compliance) -> None:
    """Too long, or lifting the curfew where that is not allowed: refused naming the bound;
    nothing stored or recorded."""
    with pytest.raises(GuardianBoundExceeded) as info:
        prot.grant_exemption(KID, 46, guardian=MUM)
    assert (info.value.bound, info.value.limit) == ("exemption_max_minutes", 45)
    with pytest.raises(GuardianBoundExceeded) as info:
        prot.grant_exemption(KID, 10, guardian=MUM, curfew=True)
    assert info.value.bound == "exemption_curfew"
    for bad in (0, -5, math.nan):
        with pytest.raises(ConfigurationError, match="minutes"):
            prot.grant_exemption(KID, bad, guardian=MUM)
    with pytest.raises(ConfigurationError, match="past"):
        prot.grant_exemption(KID, 10, guardian=MUM, start=prot.clock.now()
                             - dt.timedelta(minutes=1))
    assert prot.usage(KID).exemption is None
    assert _records(comp, "minors.guardian") == []


def test_exemptions_off(tmp_path: Path, clock: FrozenClock, unique: str) -> None:
    """exemption_max_minutes = 0 turns exemptions off."""
    comp = _comp(tmp_path, clock, "memory://", unique, exemption_max_minutes=0)
    try:
        prot = MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)
        with pytest.raises(GuardianBoundExceeded, match="exemptions are off"):
            prot.grant_exemption(KID, 1, guardian=MUM)
    finally:
        comp.close()


def test_curfew_exemption_only_where_configured(tmp_path: Path, unique: str,
                                                kv_uri: str) -> None:
    """With exemption_curfew = true, an exemption granted with curfew=True serves at 22:30
    and ends at its end; one without it still leaves the curfew in force."""
    clock = FrozenClock(dt.datetime(2026, 3, 2, 22, 30, tzinfo=SH))
    comp = _comp(tmp_path, clock, kv_uri, unique, exemption_curfew=True)
    try:
        prot = MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)
        prot.grant_exemption(KID, 20, guardian=MUM)
        with pytest.raises(MinorCurfew):
            prot.admit(KID)
        granted = prot.grant_exemption(KID, 20, guardian=MUM, curfew=True)
        adm = prot.admit(KID)
        assert adm is not None
        assert (adm.deadline, adm.deadline_reason) == (granted.until, "curfew")
        clock.advance(20 * 60)
        prot.release(adm, 20 * 60)
        with pytest.raises(MinorCurfew):
            prot.admit(KID)
    finally:
        comp.close()


def test_exemption_does_not_lift_a_pause_and_can_be_ended(prot: MinorProtection,
                                                          comp: Compliance,
                                                          clock: FrozenClock) -> None:
    """A pause wins over an exemption; end_exemption ends it early (recorded)."""
    _use(prot, clock, 3600)
    prot.grant_exemption(KID, 40, guardian=MUM)
    prot.pause(KID, guardian=MUM)
    with pytest.raises(MinorRestricted) as info:
        prot.admit(KID)
    assert getattr(info.value, "control", None) == "pause"
    prot.resume(KID, guardian=MUM)
    assert prot.admit(KID) is not None
    prot.end_exemption(KID, guardian=MUM)
    with pytest.raises(MinorQuotaExhausted):
        prot.admit(KID)
    kinds = [r.kind for r in _records(comp, "minors.guardian")]
    assert kinds[-1] == "minors.guardian.exemption_end"


def test_scheduled_exemption_and_guardian_windows(prot: MinorProtection,
                                                  clock: FrozenClock) -> None:
    """An exemption starting later does nothing before its start; while it runs it lifts
    the guardian's windows as well as the quota."""
    prot.set_allowed_windows(KID, ["07:00-08:00"], guardian=MUM)
    with pytest.raises(MinorCurfew):
        prot.admit(KID)
    start = clock.now() + dt.timedelta(minutes=10)
    prot.grant_exemption(KID, 15, guardian=MUM, start=start)
    with pytest.raises(MinorCurfew):
        prot.admit(KID)
    clock.advance(10 * 60)
    adm = prot.admit(KID)
    assert adm is not None and adm.deadline == start + dt.timedelta(minutes=15)
    assert adm.deadline_reason == "window"


# -- through the guard: sync, async, stream ----------------------------------------------
def test_guard_sync_async_and_stream_under_an_exemption(comp: Compliance,
                                                        clock: FrozenClock) -> None:
    """Through the guard: the exemption serves a minor past the quota (metadata says until
    when); a stream is ended at the exemption's end; async likewise."""
    prot = MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)
    comp.add_check(MinorsCheck(prot))
    seen: list[Any] = []

    @comp.guard
    def generate(prompt: str) -> str:
        from genai_compliance.guard import current_call

        seen.append(current_call.get())
        clock.advance(3600)
        return "ok"

    @comp.guard
    def stream(prompt: str) -> Iterator[int]:
        for i in range(100):
            yield i
            clock.advance(60)

    @comp.guard
    async def agenerate(prompt: str) -> str:
        clock.advance(60)
        return "ok"

    assert generate("hi", subject=KID) == "ok"
    with pytest.raises(MinorQuotaExhausted):
        generate("hi", subject=KID)
    granted = prot.grant_exemption(KID, 10, guardian=MUM)
    assert asyncio.run(agenerate("hi", subject=KID)) == "ok"
    got: list[int] = []
    with pytest.raises(MinorQuotaExhausted):
        for chunk in stream("hi", subject=KID):
            got.append(chunk)
    assert len(got) == 9  # 1 min used by the async call, 9 chunks a minute apart
    assert clock.now() == granted.until
    with pytest.raises(MinorQuotaExhausted):
        asyncio.run(agenerate("hi", subject=KID))
    rows = [r.payload for r in comp.records("guard.call")]
    assert [r["outcome"] for r in rows][:3] == ["served", "refused", "served"]
    assert rows[2]["notes"]["minor_exempt_until"] == granted.until.isoformat().replace(
        "+00:00", "Z")


async def _collect(gen: AsyncIterator[Any]) -> list[Any]:
    return [x async for x in gen]


@pytest.mark.parametrize("mode", ["adult", "minors-mode", "refuse"])
def test_unknown_age_through_the_guard(mode: str, tmp_path: Path, clock: FrozenClock,
                                       kv_uri: str, unique: str) -> None:
    """Each unknown-age policy through the guard, sync, async and stream: served as an
    adult; served under the strictest band with the minors' moderation profile; refused with
    AgeVerificationRequired. The guard.call record states the policy applied."""
    comp = _comp(tmp_path, clock, kv_uri, unique, pipeline=True, unknown_age=mode)
    try:  # the default pipeline: compliance.minors reads [minors] unknown_age
        anon = Subject("anon-1")

        @comp.guard
        def generate(prompt: str) -> str:
            return "ok"

        @comp.guard
        async def agenerate(prompt: str) -> str:
            return "ok"

        @comp.guard
        def stream(prompt: str) -> Iterator[str]:
            yield "a"
            yield "b"

        @comp.guard
        async def astream(prompt: str) -> AsyncIterator[str]:
            yield "a"

        calls = [lambda: generate("x", subject=anon),
                 lambda: asyncio.run(agenerate("x", subject=anon)),
                 lambda: list(stream("x", subject=anon)),
                 lambda: asyncio.run(_collect(astream("x", subject=anon)))]
        for call in calls:
            if mode == "refuse":
                with pytest.raises(AgeVerificationRequired) as info:
                    call()
                assert "MM-age-unknown" in info.value.rules
            else:
                assert call()
        rows = [r.payload for r in comp.records("guard.call")]
        assert len(rows) == 4
        for row in rows:
            assert row["notes"]["age_unknown"] == mode
            if mode == "adult":
                assert row["outcome"] == "served" and "age_band" not in row["notes"]
            elif mode == "minors-mode":
                assert row["outcome"] == "served"
                assert row["notes"]["age_band"] == AgeBand.UNDER_3.value
                assert row["notes"]["moderation_profile"] == "minors"
            else:
                assert row["outcome"] == "refused" and row["reason"] == "age-verification"
    finally:
        comp.close()


# -- policy, schema, rules, dossier, CLI -------------------------------------------------
def test_unknown_age_names_and_the_old_aliases() -> None:
    """Canonical names, the 0.1 aliases mapped onto them, anything else refused."""
    assert MinorPolicy(unknown_age="strictest").unknown_age == "minors-mode"  # type: ignore[arg-type]
    assert MinorPolicy(unknown_age="verify").unknown_age == "refuse"  # type: ignore[arg-type]
    assert MinorPolicy.from_settings({"unknown_age": "refuse"}).unknown_age == "refuse"
    with pytest.raises(ConfigurationError, match="unknown_age"):
        MinorPolicy(unknown_age="guess")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        MinorPolicy.from_settings({"unknown_age": "guess"})


@pytest.mark.parametrize("settings", [
    {"guardian_max_daily_minutes": {"12-16": 30}},      # below the band's 60
    {"guardian_max_daily_minutes": {"adult": 100}},
    {"guardian_max_daily_minutes": {"12-16": 2000}},
    {"exemption_max_minutes": -1},
    {"exemption_max_minutes": 2000},
    {"exemption_curfew": "yes"},
])
def test_bad_bounds_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        MinorPolicy.from_settings(settings)


def test_policy_summary_states_bounds_and_unknown_age() -> None:
    doc = MinorPolicy.from_settings({**BOUNDS, "unknown_age": "minors-mode"}).summary()
    assert doc["guardian_max_daily_minutes"]["12-16"] == 90
    assert doc["guardian_max_daily_minutes"]["16-18"] == 120  # unnamed: the band's figure
    assert (doc["exemption_max_minutes"], doc["exemption_curfew"]) == (45, False)
    assert doc["unknown_age"] == "minors-mode" and doc["unknown_age_band"] == "under-3"
    assert "strictest band" in doc["unknown_age_meaning"]


def test_new_rules_are_registered_and_implemented() -> None:
    from genai_compliance.rules import registered

    rules = load_rules()
    for rid in ("MM-adjust", "MM-exempt", "MM-age-unknown"):
        assert rules[rid].coined and rules[rid].tag[0] in "VSK"
        assert any("minors" in name for name in registered()[rid])


@pytest.mark.parametrize("mode", ["adult", "minors-mode", "refuse"])
def test_dossier_states_the_minors_policy(mode: str, tmp_path: Path) -> None:
    """build_dossier(minors=...) puts the policy in the JSON (schema-valid) and the Markdown."""
    comp = make_compliance(tmp_path)
    try:
        policy = MinorPolicy.from_settings({**BOUNDS, "unknown_age": mode})
        dossier = build_dossier(TrainingRegister.from_context(comp.context),
                                provider=TEST_PROVIDER, minors=policy.summary())
        doc = dossier.document
        validate(doc, "dossier", what="dossier")
        assert doc["minors"]["unknown_age"] == mode
        assert "MM-age-unknown" in doc["rules_cited"]
        paths = write_dossier(dossier, tmp_path / "out")
        md = paths[1].read_text(encoding="utf-8")
        assert f"Unknown age: **{mode}**" in md
        assert policy.unknown_age_meaning in md
        assert "at most 45 min; the curfew may not be lifted" in md
        plain = build_dossier(TrainingRegister.from_context(comp.context),
                              provider=TEST_PROVIDER)
        assert "minors" not in plain.document  # optional: absent unless passed
    finally:
        comp.close()


def test_cli_exempt_and_bounds(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "compliance.toml"
    config.write_text(
        '[provider]\nlegal_name = "测试科技有限公司"\nuscc = "91440300708461136T"\n'
        'product_name = "测试助手"\n'
        f'[ledger]\nuri = "sqlite:///{tmp_path / "ledger.db"}"\n'
        f'[stores]\nminors = "sqlite:///{tmp_path / "minors.db"}"\n'
        '[minors]\nexemption_max_minutes = 30\n'
        '[minors.guardian_max_daily_minutes]\n"8-12" = 75\n', encoding="utf-8")
    base = ["-c", str(config), "kid-9", "--band", "8-12", "--guardian", "mum-9"]
    assert main(["minors", "policy", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "8-12 75" in out and "at most 30 min" in out
    assert main(["minors", "limit", *base, "75"]) == 0
    assert main(["minors", "limit", *base, "76"]) == 2
    assert "guardian_max_daily_minutes.8-12" in capsys.readouterr().err
    assert main(["minors", "exempt", *base, "--minutes", "20", "--purpose", "homework"]) == 0
    assert "homework" in capsys.readouterr().out
    assert main(["minors", "exempt", *base, "--minutes", "31"]) == 2
    assert "exemption_max_minutes" in capsys.readouterr().err
    assert main(["minors", "exempt", *base, "--minutes", "10", "--curfew"]) == 2
    assert "exemption_curfew" in capsys.readouterr().err
    assert main(["minors", "exempt", *base]) == 2  # neither --minutes nor --end
    assert main(["minors", "exempt", *base, "--end"]) == 0


# -- properties --------------------------------------------------------------------------
@settings(max_examples=60)
@given(bound=st.integers(60, 600),
       asks=st.lists(st.one_of(st.none(), st.floats(0, 1000, allow_nan=False)), min_size=1,
                     max_size=6),
       later_bound=st.one_of(st.none(), st.integers(60, 600)))
def test_an_adjustment_never_leaves_the_bounds(bound: int, asks: list[float | None],
                                               later_bound: int | None) -> None:
    """Whatever a guardian asks, the limit in force is within [0, bound] — also after the
    operator lowers the bound — and equals the ask when it is within it."""
    clock = FrozenClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=SH))
    store = open_store("memory://")
    records: list[Any] = []
    prot = MinorProtection(MinorPolicy.from_settings(
        {"guardian_max_daily_minutes": {"12-16": bound}}), store=store, clock=clock,
        key_secret=b"k" * 32, guardian_consent=lambda s: True,
        record=lambda *a, **k: records.append(a))
    expected: float = 60
    for ask in asks:
        try:
            prot.set_daily_limit(KID, ask, guardian=MUM)
        except GuardianBoundExceeded as exc:
            assert ask is not None and ask > bound and exc.limit == bound
            continue
        expected = 60 if ask is None else ask
    assert len(records) == sum(1 for a in asks if a is None or a <= bound)
    limit = prot.usage(KID).limit_minutes
    assert limit is not None and 0 <= limit <= bound and limit == pytest.approx(expected)
    if later_bound is not None:
        again = MinorProtection(MinorPolicy.from_settings(
            {"guardian_max_daily_minutes": {"12-16": later_bound}}), store=store,
            clock=clock, key_secret=b"k" * 32, guardian_consent=lambda s: True)
        if min(expected, later_bound) == 0:  # a limit of 0 minutes: nothing is admitted
            with pytest.raises(MinorQuotaExhausted):
                again.admit(KID)
        else:
            adm = again.admit(KID)
            assert adm is not None and adm.limit_seconds <= later_bound * 60
        assert again.usage(KID).limit_minutes == pytest.approx(min(expected, later_bound))


@settings(max_examples=60)
@given(offset=st.integers(0, 3600), minutes=st.integers(1, 120),
       probes=st.lists(st.integers(0, 4 * 3600), min_size=1, max_size=8))
def test_an_exemption_ends_when_it_says(offset: int, minutes: int,
                                        probes: list[int]) -> None:
    """With the quota used up, a call is admitted exactly while start <= t < until."""
    base = dt.datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    clock = FrozenClock(base)
    prot = MinorProtection(MinorPolicy(), clock=clock, guardian_consent=lambda s: True,
                           record=lambda *a, **k: None)
    _use(prot, clock, 3600)
    now = clock.now()
    granted = prot.grant_exemption(KID, minutes, guardian=MUM,
                                   start=now + dt.timedelta(seconds=offset))
    for probe in sorted(probes):
        at = now + dt.timedelta(seconds=probe)
        inside = granted.start <= at < granted.until
        try:
            adm = prot.admit(KID, at=at)
        except MinorQuotaExhausted:
            assert not inside
            continue
        assert inside and adm is not None
        assert adm.deadline is not None and adm.deadline <= granted.until
        prot.release(adm, 0)


exempt_ops = st.lists(
    st.tuples(
        st.sampled_from(["start", "start", "end", "fin", "beat", "snapshot", "control"]),
        st.integers(0, 3),
        st.integers(0, 3000),
        st.booleans(),
        st.sampled_from([("glimit", "5400"), ("glimit", "600"), ("glimit", ""),
                         ("xfrom", "X0"), ("xuntil", "X1800"), ("xcurfew", "1"),
                         ("xpurpose", "study"), ("xfrom", ""), ("xuntil", ""),
                         ("xcurfew", "")]),
        st.sampled_from([None, 3600.0, 7200.0]),
    ),
    max_size=30,
)


@pytest.mark.redis
@given(ops=exempt_ops)
@settings(max_examples=40)
def test_lua_matches_python_with_bounds_and_exemptions(
        ops: list[tuple[str, int, int, bool, tuple[str, str], float | None]],
        redis_uri: str, unique: str) -> None:
    """The Redis script and the Python machine agree on ceilings and exemptions too."""
    store = RedisStore(redis_uri)
    script = store.script(LUA)
    key = f"test:{unique}:lua-x"
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    prot = MinorProtection(MinorPolicy(lease_seconds=1800, history_days=2),
                           clock=FrozenClock(start), guardian_consent=lambda s: True)
    state: dict[str, str] = {}
    at = start
    try:
        for op, call, step, curfew, (field, value), ceiling in ops:
            at += dt.timedelta(seconds=step)
            if op == "control":
                if value.startswith("X"):  # relative to now
                    value = repr(at.timestamp() + float(value[1:]))
                argv = ["control", field, value]
            else:
                argv = (["fin", f"c{call}", fmt(at.timestamp()), fmt(at.timestamp()),
                         "259200000"] if op == "fin" else
                        prot._argv(op, f"c{call}", at, x=at.timestamp(), limit=3600,
                                   curfew=curfew, ceiling=ceiling))
            expected = apply(state, argv)
            got = unpack(script([key], [pack(argv)]))
            if op == "snapshot":
                assert dict(zip(got[::2], got[1::2], strict=True)) == state
            else:
                assert got == expected, argv
            stored = state_of(store.client.get(key))
            assert stored == state
    finally:
        store.client.delete(key)
        store.close()
