"""Daily quotas, midnight reset, reminders, streams and guardian consent (IM-10, MM-final)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from genai_compliance.compliance import Compliance
from genai_compliance.errors import (
    GuardianConsentRequired,
    MinorCurfew,
    MinorQuotaExhausted,
    StoreUnavailable,
)
from genai_compliance.minors import (
    AgeVerificationRequired,
    MinorPolicy,
    MinorProtection,
    MinorsCheck,
)
from genai_compliance.subject import AgeBand, Guardian, Subject
from genai_compliance.testing import FrozenClock, make_compliance

#: the secret that keys the minors' store (shared stores refuse to run without one)
SECRET = b"test-minors-secret-0123456789"

SH = dt.timezone(dt.timedelta(hours=8))
MORNING = dt.datetime(2026, 3, 2, 8, 0, tzinfo=SH)

#: one subject per band, ages on 2026-03-02
BAND_SUBJECTS = {
    AgeBand.UNDER_3: "2024-06-01", AgeBand.AGE_3_8: "2020-06-01",
    AgeBand.AGE_8_12: "2016-06-01", AgeBand.AGE_12_16: "2012-06-01",
    AgeBand.AGE_16_18: "2009-06-01",
}


@pytest.fixture(name="clock")
def _clock() -> FrozenClock:
    return FrozenClock(MORNING)


@pytest.fixture(name="prot")
def _prot(kv_uri: str, unique: str, clock: FrozenClock) -> Iterator[MinorProtection]:
    """MinorProtection on every backend (memory, SQLite, the real Redis)."""
    prot = MinorProtection(key_secret=SECRET, store=kv_uri, clock=clock,
                           guardian_consent=lambda s: True, key_prefix=f"test:{unique}")
    yield prot
    prot.store.close()


@pytest.fixture(name="comp")
def _comp(tmp_path: Path, clock: FrozenClock) -> Iterator[Compliance]:
    comp = make_compliance(tmp_path, checks=(), clock=clock, settings={"minors": {}})
    yield comp
    comp.close()


def _use(prot: MinorProtection, clock: FrozenClock, subject: Subject, seconds: float) -> None:
    adm = prot.admit(subject)
    assert adm is not None
    clock.advance(seconds)
    prot.release(adm, seconds)


@pytest.mark.parametrize("profile", ["final-2024", "draft-2023"])
@pytest.mark.parametrize("band", list(BAND_SUBJECTS))
def test_each_band_limit(band: AgeBand, profile: str, clock: FrozenClock) -> None:
    """Each band gets exactly its profile's daily minutes, then MinorQuotaExhausted."""
    policy = MinorPolicy.profile(profile)
    prot = MinorProtection(policy, clock=clock, guardian_consent=lambda s: True)
    kid = Subject("kid", birth_date=BAND_SUBJECTS[band])
    limit = policy.limit_seconds(band)
    used = 0.0
    while True:
        try:
            adm = prot.admit(kid)
        except MinorQuotaExhausted as exc:
            err = exc
            break
        assert adm is not None and adm.band is band
        clock.advance(300)
        prot.release(adm, 300)
        used += 300
    assert used == limit
    assert err.limit_minutes == limit / 60
    assert err.remaining_minutes == 0
    assert err.used_minutes == limit / 60


def test_quota_refusal_evidence(prot: MinorProtection, clock: FrozenClock) -> None:
    """The quota refusal resets at local midnight; service resumes when the curfew ends."""
    kid = Subject("k1", birth_date="2012-06-01")
    _use(prot, clock, kid, 3600)
    with pytest.raises(MinorQuotaExhausted) as info:
        prot.admit(kid)
    err = info.value
    assert err.resets_at == dt.datetime(2026, 3, 3, 0, 0, tzinfo=SH)
    assert err.retry_after == dt.datetime(2026, 3, 3, 6, 0, tzinfo=SH)
    assert err.remaining_minutes == 0 and err.band == "12-16"
    assert err.http_status == 429 and err.reason == "quota"


def test_midnight_reset_without_curfew(kv_uri: str, unique: str, clock: FrozenClock) -> None:
    """The day resets at local midnight: refused at 23:59:59, served at 00:00:00."""
    prot = MinorProtection(key_secret=SECRET, policy=MinorPolicy(curfew=None), store=kv_uri,
                           clock=clock, guardian_consent=lambda s: True,
                           key_prefix=f"test:{unique}")
    kid = Subject("k2", birth_date="2012-06-01")
    clock.set(dt.datetime(2026, 3, 2, 22, 0, tzinfo=SH))
    _use(prot, clock, kid, 3600)
    clock.set(dt.datetime(2026, 3, 2, 23, 59, 59, tzinfo=SH))
    with pytest.raises(MinorQuotaExhausted) as info:
        prot.admit(kid)
    assert info.value.retry_after == dt.datetime(2026, 3, 3, 0, 0, tzinfo=SH)
    clock.set(dt.datetime(2026, 3, 3, 0, 0, 0, tzinfo=SH))
    adm = prot.admit(kid)
    assert adm is not None and adm.used_seconds == 0
    prot.release(adm, 0)
    summary = prot.usage(kid, days=2)
    assert [d.used_minutes for d in summary.history] == [0, 60]
    prot.store.close()


def test_call_across_midnight_is_split(clock: FrozenClock) -> None:
    """A call spanning midnight charges each local day its own part."""
    prot = MinorProtection(MinorPolicy(curfew=None), clock=clock,
                           guardian_consent=lambda s: True)
    kid = Subject("k3", birth_date="2009-06-01")
    clock.set(dt.datetime(2026, 3, 2, 23, 50, tzinfo=SH))
    _use(prot, clock, kid, 1200)
    summary = prot.usage(kid, days=2)
    assert [round(d.used_minutes, 6) for d in summary.history] == [10, 10]


def test_idle_gaps_are_not_charged(prot: MinorProtection, clock: FrozenClock) -> None:
    """Only call durations count: hours between calls cost nothing."""
    kid = Subject("k4", birth_date="2012-06-01")
    for _ in range(3):
        _use(prot, clock, kid, 120)
        clock.advance(3600)
    assert prot.usage(kid).used_minutes == 6


def test_concurrent_calls_charge_wall_time_once(prot: MinorProtection,
                                                 clock: FrozenClock) -> None:
    """Two overlapping calls of one minor charge the union of their intervals."""
    kid = Subject("k5", birth_date="2012-06-01")
    a = prot.admit(kid)
    clock.advance(60)
    b = prot.admit(kid)
    assert a is not None and b is not None
    clock.advance(60)
    prot.release(a, 120)
    clock.advance(60)
    prot.release(b, 120)
    assert prot.usage(kid).used_minutes == 3


def test_crashed_call_stops_charging_after_lease(prot: MinorProtection,
                                                  clock: FrozenClock) -> None:
    """A call never released (crashed replica) is charged up to its lease only."""
    kid = Subject("k6", birth_date="2012-06-01")
    assert prot.admit(kid) is not None
    clock.advance(3 * 3600)
    summary = prot.usage(kid)
    assert summary.used_minutes == prot.policy.lease_seconds / 60
    assert summary.in_flight == 0


def test_rest_reminder_is_metadata_not_refusal(prot: MinorProtection,
                                               clock: FrozenClock) -> None:
    """After 30 minutes of continuous use a reminder is returned; a 10-minute break resets."""
    kid = Subject("k7", birth_date="2009-06-01")
    reminders = []
    for _ in range(4):
        adm = prot.admit(kid)
        assert adm is not None
        clock.advance(600)
        reminders.append(prot.release(adm, 600).get("reminder"))
        clock.advance(60)
    assert reminders[:2] == [None, None]
    assert reminders[2] is not None and reminders[2]["continuous_minutes"] == 30
    assert "30" in reminders[2]["message"]
    assert reminders[3] is None  # one reminder per 30 minutes
    clock.advance(600)  # a break
    adm = prot.admit(kid)
    assert adm is not None and adm.continuous_seconds == 0
    prot.release(adm, 0)


def test_guardian_consent_under_14(clock: FrozenClock) -> None:
    """Under 14 needs a guardian's consent first (PI-28/31); 14 and over do not."""
    consents: dict[str, bool] = {"young": False}
    prot = MinorProtection(clock=clock, guardian_consent=lambda s: consents.get(s.user_id, False))
    young = Subject("young", birth_date="2013-03-03")  # 12
    with pytest.raises(GuardianConsentRequired) as info:
        prot.admit(young, purposes=["service"])
    assert info.value.purposes == ("service",) and "PI-28/31" in info.value.rules
    consents["young"] = True
    assert prot.admit(young) is not None
    fourteen = Subject("fourteen", birth_date="2012-03-02")  # 14 today
    assert prot.admit(fourteen) is not None
    no_lookup = MinorProtection(clock=clock)
    with pytest.raises(GuardianConsentRequired, match="no guardian_consent lookup"):
        no_lookup.admit(young)


@pytest.mark.parametrize(("mode", "expected"), [
    ("adult", None), ("strictest", AgeBand.UNDER_3), ("verify", "refused")])
def test_unknown_age(mode: str, expected: object, clock: FrozenClock) -> None:
    """Unknown age: served as an adult, held to the strictest band, or refused to verify."""
    prot = MinorProtection(MinorPolicy(unknown_age=mode),  # type: ignore[arg-type]
                           clock=clock, guardian_consent=lambda s: True)
    who = Subject("anon")
    if expected == "refused":
        with pytest.raises(AgeVerificationRequired):
            prot.admit(who)
        return
    adm = prot.admit(who)
    if expected is None:
        assert adm is None
        assert prot.moderation_profile(who) is None
    else:
        assert adm is not None and adm.band is expected
        assert prot.moderation_profile(who) == "minors"


def test_guard_non_streaming(comp: Compliance, clock: FrozenClock) -> None:
    """Through the guard: quota metadata, moderation profile note, refusal recorded."""
    prot = MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)
    check = comp.add_check(MinorsCheck(prot))
    assert isinstance(check, MinorsCheck)
    kid = Subject("g1", birth_date="2012-06-01")
    seen = []

    @comp.guard
    def generate(prompt: str) -> str:
        from genai_compliance.guard import current_call

        ctx = current_call.get()
        assert ctx is not None
        seen.append(ctx)
        clock.advance(1800)
        return "ok"

    assert generate("hi", subject=kid) == "ok"
    assert seen[0].metadata["minor_quota"]["remaining_minutes"] == 30
    assert seen[0].notes["moderation_profile"] == "minors"
    assert generate("hi", subject=kid) == "ok"
    assert seen[1].metadata["minor_reminder"]["continuous_minutes"] == 60
    with pytest.raises(MinorQuotaExhausted):
        generate("hi", subject=kid)
    assert generate("hi", subject=Subject("adult", birth_date="1990-01-01")) == "ok"
    rows = [r.payload for r in comp.records("guard.call")]
    assert [r["outcome"] for r in rows] == ["served", "served", "refused", "served"]
    assert rows[2]["reason"] == "quota"
    assert rows[0]["notes"]["age_band"] == "12-16"
    assert "notes" not in rows[3] or "age_band" not in rows[3]["notes"]


def _floats(value: Any, path: str = "payload") -> list[str]:
    """Where ``value`` (a record's payload) holds a float."""
    if isinstance(value, float):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _floats(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in _floats(v, f"{path}[{i}]")]
    return []


def test_a_minors_call_record_holds_no_float(comp: Compliance, clock: FrozenClock) -> None:
    """A minor's guard.call records hold no float (use, limit and reminder are whole
    milliseconds, so the ledger canonicalises them on its fast path), sync, async and
    streamed, and the report reads them back as minutes."""
    import asyncio

    from genai_compliance.reports import build_report

    prot = MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)
    comp.add_check(MinorsCheck(prot))
    kid = Subject("nf1", birth_date="2012-06-01")

    @comp.guard
    def generate(prompt: str) -> str:
        clock.advance(1200.25)
        return "ok"

    @comp.guard
    async def agenerate(prompt: str) -> str:
        clock.advance(600.5)
        return "ok"

    @comp.guard
    def stream(prompt: str) -> Iterator[str]:
        for _ in range(3):
            clock.advance(300.125)
            yield "x"

    assert generate("hi", subject=kid) == "ok"
    assert asyncio.run(agenerate("hi", subject=kid)) == "ok"  # 30 min: a reminder is due
    assert list(stream("hi", subject=kid)) == ["x", "x", "x"]
    rows = [r.payload for r in comp.records("guard.call")]
    assert [r["outcome"] for r in rows] == ["served"] * 3
    assert [p for r in rows for p in _floats(r)] == []
    notes = [r["notes"] for r in rows]
    assert [n["minor_used_ms"] for n in notes] == [1_200_250, 1_800_750, 2_701_125]
    assert all(n["minor_limit_ms"] == 3_600_000 for n in notes)
    assert notes[1]["minor_reminder_ms"] == 1_800_750 and "minor_reminder_ms" not in notes[0]
    _page, data = build_report(comp.ledger)
    (usage,) = data.minors.values()
    assert usage == {"used_minutes": 2_701_125 / 60_000, "limit_minutes": 60.0}


def test_report_reads_minutes_of_records_written_before_0_2() -> None:
    """Records written before the notes became milliseconds (``minor_used_minutes``) are
    still read by the report."""
    from genai_compliance.reports._report import _minor_minutes

    assert _minor_minutes({"minor_used_minutes": 2.5}, "used") == 2.5
    assert _minor_minutes({"minor_used_ms": 150_000}, "used") == 2.5
    assert _minor_minutes({"minor_limit_ms": True}, "limit") is None
    assert _minor_minutes({}, "used") is None


def test_stream_is_ended_at_the_limit(comp: Compliance, clock: FrozenClock) -> None:
    """A stream reaching the limit ends there: no chunk at or after it; charged = duration."""
    prot = MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)
    comp.add_check(MinorsCheck(prot))
    kid = Subject("s1", birth_date="2012-06-01")
    _use(prot, clock, kid, 3000)  # 10 minutes left

    @comp.guard
    def stream(prompt: str) -> Iterator[str]:
        for i in range(100):
            clock.advance(45)
            yield f"chunk{i}"

    got: list[str] = []
    with pytest.raises(MinorQuotaExhausted):
        for item in stream("x", subject=kid):
            got.append(item)
    assert len(got) == 13  # 13 * 45 s = 585 s < 600 s; the 14th arrives at 630 s
    summary = prot.usage(kid)
    assert summary.used_minutes == pytest.approx(50 + 630 / 60)
    assert summary.in_flight == 0


def test_stream_is_ended_at_curfew(comp: Compliance, clock: FrozenClock) -> None:
    """A stream running into 22:00 is ended with MinorCurfew."""
    prot = MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)
    comp.add_check(MinorsCheck(prot))
    kid = Subject("s2", birth_date="2009-06-01")
    clock.set(dt.datetime(2026, 3, 2, 21, 58, tzinfo=SH))

    @comp.guard
    def stream(prompt: str) -> Iterator[int]:
        for i in range(10):
            clock.advance(60)
            yield i

    got: list[int] = []
    with pytest.raises(MinorCurfew):
        for item in stream("x", subject=kid):
            got.append(item)
    assert got == [0]


async def test_async_stream_cancelled_charges_real_duration(comp: Compliance,
                                                            clock: FrozenClock) -> None:
    """An async stream closed early charges start to cancellation."""
    prot = MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)
    comp.add_check(MinorsCheck(prot))
    kid = Subject("s3", birth_date="2012-06-01")

    @comp.guard
    async def stream(prompt: str):  # type: ignore[no-untyped-def]
        for i in range(10):
            clock.advance(30)
            yield i

    gen = stream("x", subject=kid)
    assert await gen.__anext__() == 0
    assert await gen.__anext__() == 1
    await gen.aclose()
    assert prot.usage(kid).used_minutes == 1


def test_store_down_fails_closed(comp: Compliance) -> None:
    """With Redis unreachable the call is denied with StoreUnavailable."""
    prot = MinorProtection(key_secret=SECRET, store="redis://127.0.0.1:1/0", clock=comp.clock,
                           guardian_consent=lambda s: True)
    comp.add_check(MinorsCheck(prot))

    @comp.guard
    def generate(prompt: str) -> str:
        raise AssertionError("must not run")

    with pytest.raises(StoreUnavailable):
        generate("x", subject=Subject("d1", birth_date="2012-06-01"))
    assert [r.payload["outcome"] for r in comp.records("guard.call")] == ["refused"]


def test_replicas_need_a_shared_store() -> None:
    """More than one replica refuses memory:// at construction."""
    from genai_compliance.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="shared"):
        MinorProtection(store="memory://", replicas=4)


def test_guardian_record_needs_ledger(clock: FrozenClock) -> None:
    """Guardian changes without a ledger recorder are refused (each change is a record)."""
    from genai_compliance.errors import ConfigurationError

    prot = MinorProtection(clock=clock)
    kid = Subject("k8", birth_date="2012-06-01", guardian=Guardian("mum"))
    with pytest.raises(ConfigurationError, match="ledger"):
        prot.pause(kid, guardian=Guardian("mum"))


async def test_async_guard_on_sqlite_runs_store_io_off_the_loop(tmp_path: Path,
                                                                 clock: FrozenClock) -> None:
    """Coroutines on a blocking store (SQLite) are admitted and charged like sync calls."""
    comp = make_compliance(tmp_path / "c", checks=(), clock=clock,
                           stores={"minors": f"sqlite:///{tmp_path / 'minors.db'}"})
    try:
        prot = MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)
        assert prot.blocking
        comp.add_check(MinorsCheck(prot))
        kid = Subject("a1", birth_date="2012-06-01")

        @comp.guard
        async def generate(prompt: str) -> str:
            clock.advance(90)
            return "ok"

        assert await generate("x", subject=kid) == "ok"
        assert await generate("x", subject=kid) == "ok"
        assert prot.usage(kid).used_minutes == 3
    finally:
        comp.close()


def test_fail_open_is_explicit(comp: Compliance) -> None:
    """fail_open=True serves the call when the store is down and notes it in the record."""
    prot = MinorProtection(key_secret=SECRET, store="redis://127.0.0.1:1/0", clock=comp.clock,
                           guardian_consent=lambda s: True)
    comp.add_check(MinorsCheck(prot, fail_open=True))

    @comp.guard
    def generate(prompt: str) -> str:
        return "ok"

    assert generate("x", subject=Subject("d2", birth_date="2012-06-01")) == "ok"
    (record,) = comp.records("guard.call")
    assert record.payload["outcome"] == "served"
    assert record.payload["notes"]["fail_open"] == ["minors"]


def test_store_keys_are_keyed_hmacs_of_the_ledger_secret(tmp_path: Path) -> None:
    """Issue 15: the minors' store keys subjects with the ledger's keyed pseudonym: a
    phone-number user id cannot be recovered by hashing guesses, and a shared store without
    a secret is refused."""
    import hashlib as _h

    from genai_compliance import ConfigurationError

    comp = make_compliance(tmp_path / "k", checks=())
    try:
        key = comp.minors.key("13800138000")
        digest = key.rsplit(":", 1)[1]
        guesses = {_h.blake2b(b"13800138000", digest_size=16).hexdigest(),
                   _h.blake2b(b"13800138000", digest_size=16, person=b"gc-minors").hexdigest(),
                   _h.sha256(b"13800138000").hexdigest()[:32]}
        assert digest not in guesses and "13800138000" not in key
        assert key == f"gc:minors:{comp.ledger.subject_key('13800138000', purpose='minors')}"
    finally:
        comp.close()
    with pytest.raises(ConfigurationError, match="needs a secret"):
        MinorProtection(store=f"sqlite:///{tmp_path / 's.db'}")


@pytest.mark.redis
def test_check_on_redis_takes_one_round_trip_per_call(tmp_path: Path, clock: FrozenClock,
                                                      redis_uri: str, unique: str) -> None:
    """Through the guard on Redis the charge of a call rides with the next operation (one
    script call per guarded call), and what the call's record and caller are told is what
    the store holds."""
    comp = make_compliance(tmp_path / "r", checks=(), clock=clock,
                           stores={"minors": redis_uri},
                           settings={"minors": {"key_prefix": f"test:{unique}"}})
    try:
        prot = MinorProtection.from_context(comp.context, guardian_consent=lambda s: True)
        comp.add_check(MinorsCheck(prot))
        kid = Subject("rt1", birth_date="2012-06-01")
        script = prot._script
        assert script is not None
        calls: list[int] = []
        real = type(script).__call__

        def counting(self: Any, keys: Sequence[str], args: Sequence[str]) -> Any:
            calls.append(1)
            return real(self, keys, args)

        @comp.guard
        def generate(prompt: str) -> str:
            clock.advance(120)
            return "ok"

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(type(script), "__call__", counting)
            for _ in range(3):
                generate("hi", subject=kid)
        assert len(calls) == 3  # three admits; the releases rode along
        rows = [r.payload for r in comp.records("guard.call")]
        assert [r["notes"]["minor_used_ms"] for r in rows] == [120_000, 240_000, 360_000]
        assert prot.usage(kid).used_minutes == 6
    finally:
        comp.close()
