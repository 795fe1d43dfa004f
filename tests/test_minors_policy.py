"""Minors' policy: profiles (MM-final, MM-draft), curfew edges, settings (IM-10)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genai_compliance.clock import local_midnight_after, zone
from genai_compliance.errors import ComplianceError, ConfigurationError, MinorCurfew
from genai_compliance.minors import MINOR_BANDS, PROFILES, MinorPolicy, MinorProtection
from genai_compliance.minors import __all__ as public
from genai_compliance.subject import AgeBand, Subject
from genai_compliance.testing import FrozenClock

SH = dt.timezone(dt.timedelta(hours=8))


def test_exports_match_all() -> None:
    """Every name in __all__ is importable and its classes show the public module (STYLE 2)."""
    import genai_compliance.minors as pkg

    assert len(set(public)) == len(public)
    for name in public:
        obj = getattr(pkg, name)
        if isinstance(obj, type):  # errors are defined (and shown) in genai_compliance
            expected = ("genai_compliance" if issubclass(obj, ComplianceError)
                        and obj.__module__ == "genai_compliance" else "genai_compliance.minors")
            assert obj.__module__ == expected, name


def test_final_profile_figures() -> None:
    """final-2024 (MM-final): under 16 one hour, 16-18 two hours, reminder at 30, 22-06."""
    policy = MinorPolicy()
    assert policy.name == "final-2024"
    for band in (AgeBand.UNDER_3, AgeBand.AGE_3_8, AgeBand.AGE_8_12, AgeBand.AGE_12_16):
        assert policy.limit_seconds(band) == 3600
    assert policy.limit_seconds(AgeBand.AGE_16_18) == 7200
    assert policy.limit_seconds(AgeBand.ADULT) == float("inf")
    assert policy.rest_reminder_minutes == 30
    assert policy.curfew == (dt.time(22), dt.time(6))


def test_draft_profile_figures() -> None:
    """draft-2023 (MM-draft): under 8 forty minutes, 8-16 one hour, 16-18 two hours."""
    policy = MinorPolicy.profile("draft-2023")
    assert [policy.daily_minutes[b] for b in MINOR_BANDS] == [40, 40, 60, 60, 120]
    assert set(PROFILES) == {"final-2024", "draft-2023"}


def test_every_figure_is_configurable() -> None:
    """Settings override single bands, the curfew, reminders and the unknown-age rule."""
    policy = MinorPolicy.from_settings({
        "profile": "draft-2023", "daily_minutes": {"16-18": 90}, "curfew": ["21:30", "07:00"],
        "rest_reminder_minutes": 20, "unknown_age": "strictest", "moderation_profile": "kids",
    })
    assert policy.daily_minutes[AgeBand.AGE_16_18] == 90
    assert policy.daily_minutes[AgeBand.AGE_3_8] == 40
    assert policy.curfew == (dt.time(21, 30), dt.time(7))
    assert policy.rest_reminder_minutes == 20
    assert policy.strictest_band is AgeBand.UNDER_3
    assert policy.moderation_profile == "kids"
    assert MinorPolicy.from_settings({"curfew": False}).curfew is None


@pytest.mark.parametrize("settings", [
    {"profile": "draft-2022"},
    {"daily_minutes": {"adult": 10}},
    {"daily_minutes": {"12-16": -1}},
    {"curfew": ["25:00", "06:00"]},
    {"unknown_age": "guess"},
    {"rest_reminder_minutes": -5},
    {"colour": "blue"},
])
def test_bad_settings_are_refused(settings: dict[str, object]) -> None:
    """An invalid [minors] section raises ConfigurationError naming the field."""
    with pytest.raises(ConfigurationError):
        MinorPolicy.from_settings(settings)


def test_policy_needs_every_band() -> None:
    """A hand-built policy must give all five minor bands."""
    with pytest.raises(ConfigurationError, match="lacks the bands"):
        MinorPolicy(daily_minutes={AgeBand.AGE_12_16: 60})


@pytest.mark.parametrize(("local", "refused"), [
    ("21:59:59", False), ("22:00:00", True), ("23:59:59", True), ("00:00:00", True),
    ("05:59:59", True), ("05:59:59.999999", True), ("06:00:00", False), ("12:00:00", False),
])
def test_curfew_edges(local: str, refused: bool) -> None:
    """MM-final curfew edges: 21:59:59 served, 22:00:00 and 05:59:59 refused, 06:00 served."""
    at = dt.datetime.fromisoformat(f"2026-03-02T{local}").replace(tzinfo=SH)
    clock = FrozenClock(at)
    prot = MinorProtection(clock=clock, guardian_consent=lambda s: True)
    kid = Subject("kid", birth_date="2011-01-01")
    assert MinorPolicy().in_curfew(at.timetz().replace(tzinfo=None)) is refused
    if refused:
        with pytest.raises(MinorCurfew) as info:
            prot.admit(kid)
        err = info.value
        assert err.retry_after is not None
        assert err.retry_after.astimezone(SH).time() == dt.time(6)
        assert err.retry_after > at
        assert err.retry_after - at <= dt.timedelta(hours=8)
        assert err.remaining_minutes == 60.0
        assert "MM-final" in err.rules
    else:
        adm = prot.admit(kid)
        assert adm is not None


def test_shanghai_has_no_daylight_saving() -> None:
    """The local day starts at 16:00 UTC on every date, DST dates of other zones included."""
    prot = MinorProtection(clock=FrozenClock(), guardian_consent=lambda s: True)
    for day in ("2026-01-15", "2026-03-08", "2026-03-29", "2026-07-01", "2026-10-25",
                "2026-11-01", "2026-12-31"):
        at = dt.datetime.fromisoformat(day + "T03:00:00+00:00")
        start = float(prot._argv("start", "c", at)[4])  # the day start the machine gets
        assert dt.datetime.fromtimestamp(start, dt.UTC).time() == dt.time(16)


def test_curfew_that_does_not_wrap() -> None:
    """A daytime curfew (13:00-14:00) refuses inside it only."""
    policy = MinorPolicy(curfew=("13:00", "14:00"))
    assert policy.in_curfew(dt.time(13, 30))
    assert not policy.in_curfew(dt.time(14, 0))
    assert not policy.in_curfew(dt.time(12, 59, 59))


@given(minutes=st.integers(0, 26 * 1440), used=st.integers(0, 3600),
       curfew=st.sampled_from([("22:00", "06:00"), ("13:00", "14:00"), None]),
       zone_name=st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York"]))
def test_a_deadline_is_the_quota_or_the_next_curfew_start(
        minutes: int, used: int, curfew: tuple[str, str] | None, zone_name: str) -> None:
    """An admitted call's deadline is the earlier of its quota's end (a new day brings a new
    quota) and the first instant after its start whose local time is the curfew's start;
    daylight-saving dates of other zones included."""
    tz = zone(zone_name)
    prot = MinorProtection(MinorPolicy(curfew=curfew), tz=tz, clock=FrozenClock(),
                           guardian_consent=lambda s: True)
    at = dt.datetime(2026, 3, 6, 5, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
    limit = 3600.0
    deadline, reason = prot._deadline(at, float(used), limit, "")
    quota_end = at.timestamp() + limit - used
    midnight = local_midnight_after(at, tz).timestamp()
    candidates = [(midnight + limit if quota_end > midnight else quota_end, "quota")]
    if curfew is not None:
        start = dt.time.fromisoformat(curfew[0])
        candidates.append((prot._next_local(at, start).timestamp(), "curfew"))
    end, why = min(candidates)
    assert deadline == dt.datetime.fromtimestamp(end, dt.UTC) and reason == why
