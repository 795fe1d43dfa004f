"""The interaction duty through the guard (issue 18): AI-interaction disclosure at first use,
re-login and dependence signals, continuous-use reminders per jurisdiction profile, exit
that stops the service, minors' personas, guardian consent under 14 through the consent
duty — sync, async, generator and async-generator calls, on a frozen clock, over memory,
SQLite, the real PostgreSQL and the real Redis. Every notice shown is a ledger record."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import time
import tomllib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from genai_compliance import (
    CallContext,
    Compliance,
    ConfigurationError,
    FrozenClock,
    Guardian,
    GuardianConsentRequired,
    StoreUnavailable,
    Subject,
)
from genai_compliance.checks import request_calls
from genai_compliance.consent import NoticeRef
from genai_compliance.errors import ComplianceError
from genai_compliance.guard import current_call
from genai_compliance.interaction import (
    PROFILES,
    Interaction,
    InteractionCheck,
    InteractionExited,
    InteractionSettings,
    PersonaRestricted,
    security_assessment_needed,
)
from genai_compliance.rules import load_rules
from genai_compliance.testing import make_compliance

NOON = "2026-07-20T04:00:00+00:00"  # Monday 12:00 Beijing, after 2026-07-15
SHAPES = ["sync", "async", "gen", "agen"]
CN = PROFILES["cn-anthropomorphic"]
NOTICE = NoticeRef("1", hashlib.sha256(b"notice").hexdigest())
NEW_RULES = ("AN-DISCLOSE", "AN-PAUSE", "AN-EXIT", "AN-TRAIN", "AN-ASSESS", "EU-50-5",
             "SB243-22602", "NY-GBL-1702")


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    comp = make_compliance(tmp_path / "c", clock=FrozenClock(NOON), checks=[])
    yield comp
    comp.close()


def _build(comp: Compliance, store: str = "memory://", unique: str = "t",
           **settings: Any) -> Interaction:
    settings.setdefault("key_prefix", f"gc:test:{unique}")
    return Interaction.from_settings(settings, store=store, record=comp.record,
                                     arecord=comp.arecord, clock=comp.clock,
                                     consent=comp.consent, keyer=comp.ledger, tz=comp.tz)


def _guarded(comp: Compliance, check: InteractionCheck, shape: str,
             seen: list[CallContext], output: Sequence[str] = ("ok",),
             between: Callable[[], None] | None = None, **guard: Any) -> Callable[..., Any]:
    """A guarded function of ``shape`` that keeps its CallContext and returns ``output``;
    ``between`` runs between streamed chunks."""
    def keep() -> None:
        ctx = current_call.get()
        if ctx is not None:  # a generator's body runs outside the guard's context
            seen.append(ctx)
        else:
            calls = request_calls.get()
            assert calls
            seen.append(calls[-1])

    if shape == "sync":
        def fn(prompt: str) -> Any:
            keep()
            return "".join(output)
    elif shape == "async":
        async def fn(prompt: str) -> Any:  # type: ignore[misc]
            keep()
            return "".join(output)
    elif shape == "gen":
        def fn(prompt: str) -> Iterator[str]:  # type: ignore[misc]
            keep()
            for i, item in enumerate(output):
                if i and between is not None:
                    between()
                yield item
    else:
        async def fn(prompt: str) -> AsyncIterator[str]:  # type: ignore[misc]
            keep()
            for i, item in enumerate(output):
                if i and between is not None:
                    between()
                yield item
    return comp.guard(checks=[check], **guard)(fn)


def _run(shape: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    token = request_calls.set([])
    try:
        return _call(shape, fn, *args, **kwargs)
    finally:
        request_calls.reset(token)


def _call(shape: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    if shape == "sync":
        return str(fn(*args, **kwargs))
    if shape == "async":
        return str(asyncio.run(fn(*args, **kwargs)))
    if shape == "gen":
        return "".join(fn(*args, **kwargs))

    async def collect() -> str:
        return "".join([item async for item in fn(*args, **kwargs)])

    return asyncio.run(collect())


def _notices(comp: Compliance) -> list[tuple[str, str, str]]:
    return [(r.payload["profile"], r.payload["kind"], r.payload["trigger"])
            for r in comp.records("interaction.notice")]


def _clock(comp: Compliance) -> FrozenClock:
    assert isinstance(comp.clock, FrozenClock)
    return comp.clock


# -- the CN profile, every shape, every store ---------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_disclosure_relogin_and_pause_reminder(comp: Compliance, any_uri: str, unique: str,
                                               shape: str) -> None:
    """AN-DISCLOSE / AN-PAUSE: disclosed at first use and at re-login, silent otherwise;
    after 2 h of continuous use a pause prompt; each notice a ledger record, in the
    response and in the call's record."""
    interaction = _build(comp, any_uri, unique)
    check = InteractionCheck(interaction)
    seen: list[CallContext] = []
    fn = _guarded(comp, check, shape, seen)
    s1 = Subject("u1", birth_date="1990-01-01", session_id="s1")
    assert _run(shape, fn, "hi", subject=s1) == "ok"
    assert seen[-1].response.reminder == CN.disclosure_text
    assert _notices(comp) == [("cn-anthropomorphic", "disclosure", "first-use")]
    for _ in range(11):  # every 10 minutes, 1 h 50 min in all: nothing more is due
        _clock(comp).advance(minutes=10)
        _run(shape, fn, "again", subject=s1)
        assert seen[-1].response.reminder is None
    _clock(comp).advance(minutes=10)  # 2 h of continuous use
    _run(shape, fn, "more", subject=s1)
    assert seen[-1].response.reminder == "你已连续使用120分钟，请暂停使用，注意休息。"
    assert seen[-1].metadata["interaction_notices"][0]["kind"] == "reminder"
    _clock(comp).advance(minutes=5)
    _run(shape, fn, "relogin", subject=Subject("u1", birth_date="1990-01-01", session_id="s2"))
    assert seen[-1].response.reminder == CN.disclosure_text
    assert _notices(comp) == [("cn-anthropomorphic", "disclosure", "first-use"),
                              ("cn-anthropomorphic", "reminder", "continuous-use"),
                              ("cn-anthropomorphic", "disclosure", "session")]
    calls = list(comp.records("guard.call"))
    assert calls[0].payload["notes"]["interaction_notices"] == [
        "cn-anthropomorphic:disclosure:first-use"]
    assert [r.payload["outcome"] for r in calls] == ["served"] * 14
    interaction.close()


@pytest.mark.parametrize("shape", SHAPES)
def test_exit_keyword_stops_the_service(comp: Compliance, any_uri: str, unique: str,
                                        shape: str) -> None:
    """AN-EXIT: the exit keyword ends the session without calling the model; later calls in
    that session are refused; logging in again serves (and discloses) anew."""
    interaction = _build(comp, any_uri, unique)
    seen: list[CallContext] = []
    fn = _guarded(comp, InteractionCheck(interaction), shape, seen)
    user = Subject("u2", birth_date="1990-01-01", session_id="a")
    _run(shape, fn, "hello", subject=user)
    with pytest.raises(InteractionExited) as exc:
        _run(shape, fn, " 退出 ", subject=user)
    assert exc.value.via == "keyword" and exc.value.http_status == 410
    assert len(seen) == 1  # the model was not called
    with pytest.raises(InteractionExited):
        _run(shape, fn, "are you there?", subject=user)
    assert len(seen) == 1
    again = Subject("u2", birth_date="1990-01-01", session_id="b")
    assert _run(shape, fn, "back", subject=again) == "ok"
    assert seen[-1].response.reminder == CN.disclosure_text
    exits = list(comp.records("interaction.exit"))
    assert [r.payload["via"] for r in exits] == ["keyword"]
    outcomes = [(r.payload["outcome"], r.payload.get("reason")) for r in
                comp.records("guard.call")]
    assert outcomes == [("served", None), ("refused", "exit"), ("refused", "exit"),
                        ("served", None)]
    interaction.close()


@pytest.mark.parametrize("shape", ["gen", "agen"])
def test_exit_button_stops_a_stream_in_flight(comp: Compliance, any_uri: str, unique: str,
                                              shape: str) -> None:
    """AN-EXIT: an exit pressed elsewhere stops the stream of that session within
    exit_poll_seconds; nothing after it is delivered."""
    interaction = _build(comp, any_uri, unique, exit_poll_seconds=1)
    user = Subject("u3", birth_date="1990-01-01", session_id="live")
    state = {"n": 0}

    def between() -> None:
        state["n"] += 1
        if state["n"] == 2:
            interaction.exit(user, via="button")
        _clock(comp).advance(2)

    seen: list[CallContext] = []
    fn = _guarded(comp, InteractionCheck(interaction), shape, seen,
                  output=["a", "b", "c", "d", "e"], between=between)
    got: list[str] = []

    def consume() -> None:
        token = request_calls.set([])  # (reset: a list left set keeps every later call's
        try:  # context alive in this thread, which the guard's no-cycle test then sees)
            if shape == "gen":
                for item in fn("x", subject=user):
                    got.append(item)
                return

            async def go() -> None:
                async for item in fn("x", subject=user):
                    got.append(item)
            asyncio.run(go())
        finally:
            request_calls.reset(token)

    with pytest.raises(InteractionExited) as exc:
        consume()
    assert exc.value.via == "during-stream"
    assert got == ["a", "b"]
    assert [r.payload["via"] for r in comp.records("interaction.exit")] == ["button"]
    assert list(comp.records("guard.call"))[-1].payload["reason"] == "exit"
    interaction.close()


# -- minors' personas and guardian consent (AN-14) ----------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_minor_personas_and_guardian_consent(comp: Compliance, shape: str) -> None:
    """AN-14: no virtual partner for a minor or a user of unknown age; a companion persona
    under 14 only with a guardian's consent recorded in the consent duty."""
    interaction = _build(comp)
    check = InteractionCheck(interaction)
    seen: list[CallContext] = []
    partner = _guarded(comp, check, shape, seen, options={"persona": "virtual-partner"})
    companion = _guarded(comp, check, shape, seen, options={"persona": "companion"})
    teen = Subject("t1", birth_date="2010-05-01")
    with pytest.raises(PersonaRestricted):
        _run(shape, partner, "hi", subject=teen)
    with pytest.raises(PersonaRestricted) as exc:
        _run(shape, partner, "hi", subject=Subject("unknown-age"))
    assert exc.value.age_unknown is True
    assert _run(shape, partner, "hi", subject=Subject("ad", birth_date="1990-01-01")) == "ok"
    assert _run(shape, companion, "hi", subject=teen) == "ok"  # 16: no guardian needed
    child = Subject("c1", birth_date="2015-01-01",
                    guardian=Guardian("g1", verified=True))
    with pytest.raises(GuardianConsentRequired):
        _run(shape, companion, "hi", subject=child)
    comp.consent.grant(child, "service", notice=NOTICE, guardian=child.guardian)
    assert _run(shape, companion, "hi", subject=child) == "ok"
    reasons = [r.payload.get("reason") for r in comp.records("guard.call")]
    assert reasons == ["persona", "persona", None, None, "guardian-consent", None]


def test_companion_persona_without_a_consent_duty_fails_closed(comp: Compliance) -> None:
    """Without a consent duty no guardian's consent can count: under 14 is refused."""
    interaction = Interaction(InteractionSettings(), record=comp.record, clock=comp.clock)
    with pytest.raises(GuardianConsentRequired, match="no consent duty"):
        interaction.check_persona(Subject("c2", birth_date="2016-01-01"), "companion")


def test_unknown_age_policy_adult_serves_personas(comp: Compliance) -> None:
    """unknown_age = "adult" lets a user of unknown age use any persona (stated choice)."""
    interaction = _build(comp, unknown_age="adult")
    interaction.check_persona(Subject("u?"), "virtual-relative")
    with pytest.raises(PersonaRestricted):
        interaction.check_persona(Subject("m", age_band="12-16"), "virtual-relative")


# -- dependence signals, other profiles -----------------------------------------------------
def test_dependence_signal_discloses_again(comp: Compliance) -> None:
    """AN-DISCLOSE: an over-dependence signal is recorded; the next call discloses again."""
    interaction = _build(comp)
    seen: list[CallContext] = []
    fn = _guarded(comp, InteractionCheck(interaction), "sync", seen)
    user = Subject("d1", birth_date="1990-01-01", session_id="s")
    fn("a", subject=user)
    fn("b", subject=user)
    assert seen[-1].response.reminder is None
    interaction.signal_dependence(user, reason="daily use above 6 hours for 7 days")
    fn("c", subject=user)
    assert seen[-1].response.reminder == CN.disclosure_text
    assert _notices(comp)[-1] == ("cn-anthropomorphic", "disclosure", "dependence")
    assert [r.payload["reason"] for r in comp.records("interaction.dependence")] == [
        "daily use above 6 hours for 7 days"]


@pytest.mark.parametrize("shape", SHAPES)
def test_us_sb243_reminds_known_minors_every_three_hours(comp: Compliance,
                                                         shape: str) -> None:
    """SB243-22602: disclosure to everyone at the first interaction; the 3-hour break
    reminder only to users known to be minors (not to adults, not to unknown ages)."""
    interaction = _build(comp, profiles=["us-sb243"])
    seen: list[CallContext] = []
    fn = _guarded(comp, InteractionCheck(interaction), shape, seen)
    users = {"minor": Subject("m15", birth_date="2011-01-01"),
             "adult": Subject("a40", birth_date="1986-01-01"), "unknown": Subject("u??")}
    for user in users.values():
        _run(shape, fn, "hi", subject=user)
    assert [n[1:] for n in _notices(comp)] == [("disclosure", "first-use")] * 3
    for _ in range(18):  # a call every 10 minutes for 3 hours
        _clock(comp).advance(minutes=10)
        for user in users.values():
            _run(shape, fn, "hi", subject=user)
    reminders = [r for r in comp.records("interaction.notice") if r.payload["kind"] ==
                 "reminder"]
    assert len(reminders) == 1 and reminders[0].payload["rules"] == ["SB243-22602"]
    assert "take a break" in reminders[0].payload["text"]
    assert "3.0 hours" in reminders[0].payload["text"]


def test_ny_discloses_every_interaction_and_every_three_hours(comp: Compliance) -> None:
    """NY-GBL-1702: a notification at the beginning of every interaction and every 3 hours
    of a continuing one; EU-50-1/50-5 (also in force) discloses once, at the first."""
    interaction = _build(comp, profiles=["ny-gbl47", "eu-art50"])
    seen: list[CallContext] = []
    fn = _guarded(comp, InteractionCheck(interaction), "sync", seen)
    user = Subject("n1", birth_date="1990-01-01", session_id="1")
    fn("hi", subject=user)
    assert _notices(comp) == [("ny-gbl47", "disclosure", "first-use"),
                              ("eu-art50", "disclosure", "first-use")]
    assert seen[-1].response.reminder is not None and "\n" in seen[-1].response.reminder
    for _ in range(18):
        _clock(comp).advance(minutes=10)
        fn("hi", subject=user)
    assert _notices(comp)[-1] == ("ny-gbl47", "reminder", "continuous-use")
    fn("hi", subject=Subject("n1", birth_date="1990-01-01", session_id="2"))
    assert _notices(comp)[-1] == ("ny-gbl47", "disclosure", "session")
    assert len(_notices(comp)) == 4


def test_ny_once_a_day_cooldown(comp: Compliance) -> None:
    """NY allows the beginning-of-interaction notice once a day (session_cooldown_minutes)."""
    interaction = _build(comp, profiles=["ny-gbl47"],
                         overrides={"ny-gbl47": {"session_cooldown_minutes": 1440}})
    for i, hours in enumerate((0, 5, 20, 5)):
        _clock(comp).advance(hours=hours)
        adm = interaction.admit(Subject("n2", session_id=str(i)))
        interaction.notify(adm)
    assert [n[2] for n in _notices(comp)] == ["first-use", "session"]


def test_records_name_sessions_by_a_keyed_hmac(comp: Compliance, tmp_path: Path) -> None:
    """Issue 15 ("no unkeyed hash anywhere"): notice and exit records name the session by a
    keyed HMAC of its id, neither the id nor its plain SHA-256 (a session id built from a
    phone number or a counter is recovered from that in seconds); one session keeps one
    ref across records, and another ledger's key gives another ref."""
    session = "13800138000-1"
    interaction = _build(comp)
    user = Subject("k1", birth_date="1990-01-01", session_id=session)
    interaction.notify(interaction.admit(user))
    interaction.exit(user)
    refs = {r.payload["session"] for kind in ("interaction.notice", "interaction.exit")
            for r in comp.records(kind)}
    assert len(refs) == 1
    ref = refs.pop()
    plain = hashlib.sha256(session.encode()).hexdigest()
    assert ref == interaction.session_ref(session) and len(ref) == 16
    assert session not in ref and not plain.startswith(ref)
    assert ref == comp.ledger.subject_key(session, purpose="interaction-session")[:16]
    other = make_compliance(tmp_path / "other", clock=FrozenClock(NOON), checks=[])
    try:
        assert _build(other).session_ref(session) != ref
    finally:
        other.close()
    assert interaction.session_ref(None) is None and interaction.session_ref("") is None
    interaction.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_worker_writes_its_own_call_ends(comp: Compliance, tmp_path: Path) -> None:
    """AN-PAUSE across a fork (gunicorn --preload): call ends are written in the background
    within ``flush_after``. A worker forked while the parent's flush timer was pending
    starts its own timer, so its calls' ends reach the store and count as continuous use.
    Before, the parent's timer (which does not exist in the child) kept the child from
    starting one, and the ends waited for close."""
    interaction = _build(comp, f"sqlite:///{tmp_path / 'state.db'}")
    interaction.flush_after = 3600.0
    parent = interaction.admit(Subject("fork-parent", birth_date="1990-01-01"))
    interaction.release(parent, parent.started, wait=False)  # pending, timer started
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            interaction.flush_after = 0.05
            adm = interaction.admit(Subject("fork-child", birth_date="1990-01-01"))
            ended = adm.started + dt.timedelta(minutes=3)
            interaction.release(adm, ended, wait=False)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                state = interaction.state.load(adm.key) or {}
                if state.get("ls") == ended.timestamp():
                    code = 0
                    break
                time.sleep(0.02)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    interaction.close()


def test_anonymous_calls_are_disclosed_every_time(comp: Compliance) -> None:
    """No subject to remember: every call is disclosed (fail closed), and recorded."""
    interaction = _build(comp)
    seen: list[CallContext] = []
    fn = _guarded(comp, InteractionCheck(interaction), "sync", seen)
    fn("a")
    fn("b")
    assert [n[2] for n in _notices(comp)] == ["anonymous", "anonymous"]


def test_idle_gap_starts_a_new_period_of_continuous_use(comp: Compliance) -> None:
    """A pause longer than idle_gap_minutes resets the continuous-use timer; a long call
    counts as use until it ends."""
    interaction = _build(comp, idle_gap_minutes=15)
    user = Subject("g1", birth_date="1990-01-01")
    for _ in range(7):  # 70 minutes of use, then a 20-minute pause
        adm = interaction.admit(user)
        _clock(comp).advance(minutes=10)
        interaction.release(adm, comp.clock.now())
    _clock(comp).advance(minutes=20)
    for _ in range(12):  # 12 calls of 10 minutes: the next starts 2 h into the new period
        adm = interaction.admit(user)
        assert [d.kind for d in adm.due] == []
        _clock(comp).advance(minutes=10)
        interaction.release(adm, comp.clock.now())
    assert [d.kind for d in interaction.admit(user).due] == ["reminder"]


# -- training consent, security assessment --------------------------------------------------
def test_training_on_interaction_data_needs_separate_consent(comp: Compliance) -> None:
    """AN-TRAIN: training needs the training consent; with sensitive PI also the separate
    sensitive-PI consent; every decision is recorded."""
    interaction = _build(comp)
    user = Subject("tr", birth_date="1990-01-01")
    assert not interaction.training_use(user, sensitive=False).allowed
    comp.consent.grant(user, "training", notice=NOTICE)
    assert interaction.training_use(user, sensitive=False).allowed
    decision = interaction.training_use(user, sensitive=True)
    assert not decision.allowed and decision.missing == ("sensitive",)
    comp.consent.grant(user, "sensitive", notice=NOTICE)
    assert interaction.training_use(user, sensitive=True).allowed
    assert [r.payload["allowed"] for r in comp.records("interaction.training_use")] == [
        False, True, False, True]
    bare = Interaction(record=comp.record, clock=comp.clock)
    assert bare.training_use(user, sensitive=False).missing == ("training",)


@pytest.mark.parametrize(("registered", "active", "triggers"), [
    (999_999, 99_999, ()),
    (1_000_000, 10, ("registered-users",)),
    (10, 100_000, ("monthly-active-users",)),
    (2_000_000, 500_000, ("registered-users", "monthly-active-users")),
    (None, None, ()),
])
def test_security_assessment_thresholds(registered: int | None, active: int | None,
                                        triggers: tuple[str, ...]) -> None:
    """AN-ASSESS: 1,000,000 registered users or 100,000 monthly active users (either)."""
    item = security_assessment_needed(registered, active)
    assert item.triggers == triggers and item.needed == bool(triggers)
    doc = item.to_json()
    assert doc["item"] == "security-assessment" and doc["rules"] == ["AN-ASSESS", "AN-14"]
    assert doc["thresholds"] == {"registered_users": 1_000_000,
                                 "monthly_active_users": 100_000}


def test_security_assessment_launch_and_bad_figures(comp: Compliance) -> None:
    """Launching the function triggers an assessment; a negative count is refused."""
    interaction = _build(comp, registered_users_threshold=500)
    assert interaction.security_assessment(registered_users=500,
                                           monthly_active_users=0).needed
    assert security_assessment_needed(0, 0, launching=True).triggers == ("launch",)
    with pytest.raises(ConfigurationError, match="registered_users"):
        security_assessment_needed(-1, 0)


# -- fail closed, settings, rules --------------------------------------------------------------
def test_store_down_denies_the_call(comp: Compliance) -> None:
    """DESIGN: a store that cannot answer denies the call (StoreUnavailable)."""
    interaction = _build(comp, "redis://127.0.0.1:1/0")
    seen: list[CallContext] = []
    fn = _guarded(comp, InteractionCheck(interaction), "sync", seen)
    with pytest.raises(StoreUnavailable):
        fn("hi", subject=Subject("x", session_id="s"))
    assert seen == [] and next(iter(comp.records("guard.call"))).payload["outcome"] == "refused"


def test_shared_store_needs_a_keyer(comp: Compliance, tmp_path: Path) -> None:
    """User ids never reach a shared store unkeyed: a keyer (the ledger) is required."""
    with pytest.raises(ConfigurationError, match="secret"):
        Interaction(store=f"sqlite:///{tmp_path / 'k.db'}", record=comp.record)


@pytest.mark.parametrize(("settings", "field"), [
    ({"profile": ["eu-art50"]}, "interaction.profile"),
    ({"profiles": ["eu-ai-act"]}, "interaction.profiles[0]"),
    ({"idle_gap_minutes": 0}, "interaction.idle_gap_minutes"),
    ({"overrides": {"eu-art50": {"reminder_minutes": 60}}}, "interaction.overrides.eu-art50"),
    ({"overrides": {"cn-anthropomorphic": {"reminder_minute": 60}}},
     "interaction.overrides.cn-anthropomorphic.reminder_minute"),
])
def test_bad_settings_are_refused_by_name(settings: dict[str, Any], field: str) -> None:
    """[interaction] refuses unknown keys, unknown profiles and bad figures, naming them."""
    with pytest.raises(ConfigurationError) as exc:
        InteractionSettings.from_settings(settings)
    assert exc.value.field == field


def test_overrides_change_a_profile() -> None:
    """[interaction.overrides.NAME] changes a shipped profile's figures and texts."""
    s = InteractionSettings.from_settings({"overrides": {"cn-anthropomorphic": {
        "reminder_minutes": 90, "reminder_text": "{minutes} min"}}})
    assert s.profiles[0].reminder_minutes == 90
    assert s.profiles[0].reminder_message(95 * 60) == "95 min"


def test_new_rules_are_tagged_implemented_and_not_repeated() -> None:
    """Every rule of rules-interaction.toml is tagged V/S/K, has an implementation, and is
    not a second definition of an ID of rules.toml (AN-14, EU-50-1 are cited)."""
    import genai_compliance.interaction  # noqa: F401  (registers the implementers)
    from genai_compliance.rules import _IMPLEMENTERS

    text = resources.files("genai_compliance").joinpath("rules-interaction.toml").read_text(
        "utf-8")
    ids = [r["id"] for r in tomllib.loads(text)["rule"]]
    assert tuple(ids) == NEW_RULES
    base = resources.files("genai_compliance").joinpath("rules.toml").read_text("utf-8")
    assert not set(ids) & {r["id"] for r in tomllib.loads(base)["rule"]}
    rules = load_rules()
    for rid in (*ids, "AN-14", "EU-50-1"):
        assert rules[rid].tag[0] in "VSK", rid
        assert any(n.startswith("genai_compliance.interaction") for n in
                   _IMPLEMENTERS.get(rid, ())), rid


def test_exports_are_sorted_and_public() -> None:
    """One front door: a sorted __all__ and public module names in tracebacks."""
    import genai_compliance.interaction as pkg
    from genai_compliance._exports import sort_key

    assert list(pkg.__all__) == sorted(pkg.__all__, key=sort_key)
    for name in pkg.__all__:
        obj = getattr(pkg, name)
        if isinstance(obj, type):  # errors are defined (and shown) in genai_compliance
            mine = "genai_compliance.interaction"
            expected = ("genai_compliance" if issubclass(obj, ComplianceError)
                        and obj.__module__ == "genai_compliance" else mine)
            assert obj.__module__ == expected, name


def test_from_context_uses_the_interaction_store_and_ledger(tmp_path: Path,
                                                            postgres_uri: str) -> None:
    """Interaction.from_context: the [stores] interaction URI (PostgreSQL opened as a
    database), the ledger's records and subject keys, the shared clock."""
    comp = make_compliance(tmp_path / "c", clock=FrozenClock(NOON), checks=[],
                           stores={"default": "memory://", "interaction": postgres_uri})
    try:
        interaction = Interaction.from_context(comp.context, consent=comp.consent)
        assert interaction.blocking and "postgresql" in interaction.state.uri
        user = Subject("ctx", birth_date="1990-01-01")
        interaction.notify(interaction.admit(user))
        assert _notices(comp) == [("cn-anthropomorphic", "disclosure", "first-use")]
        assert interaction.key(user) == interaction.key(Subject("ctx"))
        assert "ctx" not in interaction.key(user)
        interaction.close()
    finally:
        comp.close()


def test_documented_settings_validate() -> None:
    """The [interaction] example of docs/interaction.md is valid and builds settings."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "interaction.md").read_text(
        "utf-8")
    block = page.split("```toml\n[interaction]", 1)[1].split("```", 1)[0]
    data = tomllib.loads("[interaction]" + block)["interaction"]
    settings = InteractionSettings.from_settings(data)
    assert [p.name for p in settings.profiles] == ["cn-anthropomorphic", "eu-art50"]
    assert settings.profiles[0].reminder_minutes == 120


def test_a_calls_end_is_written_once_with_the_next_admission_or_the_flush(
        comp: Compliance, any_uri: str, unique: str) -> None:
    """The guard check's release does no store write, and a call that changes nothing but
    the last-seen time writes nothing either: the times ride with the key's next update, or
    the background flush writes them within ``flush_after``, or close does — the
    continuous-use time is never lost."""
    import time

    interaction = Interaction(store=any_uri, record=comp.record, clock=comp.clock,
                              keyer=b"k" * 32)
    try:
        user = Subject(f"{unique}-u", birth_date="1990-01-01")
        interaction.flush_after = 3600.0  # only the next admission or close write it
        adm = interaction.admit(user)
        ended = adm.started + dt.timedelta(minutes=7)
        interaction.release(adm, ended, wait=False)
        assert interaction.state.load(adm.key)["ls"] < ended.timestamp()  # not yet
        again = interaction.admit(user, at=ended + dt.timedelta(minutes=1))
        assert again.continuous_seconds >= 7 * 60  # the deferred end counted
        assert not again.due  # nothing to show: answered from one read, nothing written
        interaction.flush()
        assert interaction.state.load(adm.key)["ls"] >= ended.timestamp()
        interaction.flush_after = 0.05
        later = ended + dt.timedelta(minutes=9)
        interaction.release(again, later, wait=False)
        deadline = time.monotonic() + 10
        while (interaction.state.load(adm.key)["ls"] < later.timestamp()
               and time.monotonic() < deadline):
            time.sleep(0.01)
        assert interaction.state.load(adm.key)["ls"] == later.timestamp()
    finally:
        interaction.close()


def test_this_process_copy_answers_within_max_staleness(comp: Compliance, any_uri: str,
                                                        unique: str) -> None:
    """A call that changes nothing but the last-seen time needs no store read while this
    process's copy is at most ``max_staleness`` old; an exit on another replica is seen once
    that has passed (and at once on the replica that took it); ``max_staleness = 0`` reads
    every call."""
    clock = FrozenClock("2026-07-20T04:00:00+00:00")
    settings = InteractionSettings(max_staleness=2.0)
    a = Interaction(settings, store=any_uri, record=comp.record, clock=clock,
                    keyer=b"k" * 32)
    b = Interaction(settings, store=any_uri, record=comp.record, clock=clock,
                    keyer=b"k" * 32)
    reads: list[str] = []
    load = a.state.load
    a.state.load = lambda key: (reads.append(key), load(key))[1]  # type: ignore[method-assign]
    try:
        user = Subject(f"{unique}-c", birth_date="1990-01-01", session_id="s1")
        assert a.admit(user).due  # first use: the atomic path, disclosure shown
        reads.clear()
        clock.advance(1)
        assert a.admit_cached(user) is not None and reads == []  # no I/O at all
        if not any_uri.startswith("memory"):  # memory:// is each process's own
            b.exit(user, session_id="s1")  # the user pressed exit on another replica
            clock.advance(2.5)
            assert a.admit_cached(user) is None  # the copy is stale: the store decides
            with pytest.raises(InteractionExited):
                a.admit(user)
        a.exit(user, session_id="s2")  # on this replica: seen at once, from the copy
        with pytest.raises(InteractionExited):
            a.admit_cached(Subject(user.user_id, birth_date="1990-01-01", session_id="s2"))
        zero = Interaction(InteractionSettings(max_staleness=0), store=any_uri,
                           record=comp.record, clock=clock, keyer=b"k" * 32)
        other = Subject(f"{unique}-d", birth_date="1990-01-01")
        zero.admit(other)
        assert zero.admit_cached(other) is None  # never answered from the copy
        zero.close()
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize(("prompt", "exits"), [
    ("退出", True), ("  EXIT\n", True), ("Quit", True), ("再见", True), ("please exit", False),
    ("", False), (None, False)])
def test_exit_keywords_are_compared_trimmed_and_case_folded(prompt: str | None,
                                                            exits: bool) -> None:
    """AN-EXIT: a prompt that is an exit keyword (after trimming and case-folding, on both
    sides) ends the session; a prompt merely containing one does not."""
    settings = InteractionSettings.from_settings(
        {"exit_keywords": ["退出", "exit", "QUIT", " 再见 "]})
    assert settings.exit_requested(prompt) is exits


def test_a_subject_keeps_one_store_key() -> None:
    """The store key is the keyed HMAC of the user id: the same on every call, different
    for another user or another secret, and never the id itself."""
    one = Interaction(store="memory://", record=lambda *a, **k: None, keyer=b"k" * 32)
    other = Interaction(store="memory://", record=lambda *a, **k: None, keyer=b"j" * 32)
    alice = Subject("alice-13800000000")
    assert one.key(alice) == one.key("alice-13800000000") == one.key(alice)
    assert one.key(alice) != one.key(Subject("bob")) and one.key(alice) != other.key(alice)
    assert "13800000000" not in one.key(alice)


def test_a_call_racing_the_flusher_still_sees_the_last_call(comp: Compliance,
                                                             tmp_path: Path) -> None:
    """AN-PAUSE: a call's start and end are deferred and written by the background flush.
    A call admitted while that write is still in flight must still count the last call
    (else the continuous period restarts and the 2-hour pause reminder is missed): the end
    stays pending until its write has landed."""
    interaction = _build(comp, f"sqlite:///{tmp_path / 'race.db'}", idle_gap_minutes=15)
    user = Subject("racer", birth_date="1990-01-01", session_id="s")
    clock = _clock(comp)
    first = interaction.admit(user)  # first use: disclosed, written at once
    interaction.release(first, clock.now(), wait=False)
    clock.advance(minutes=10)
    second = interaction.admit(user)  # nothing due: deferred
    interaction.release(second, clock.now(), wait=False)
    clock.advance(minutes=10)
    real_update = interaction.state.update
    raced: list[float] = []
    busy: list[bool] = []

    def update(key: str, fn: Any) -> Any:
        if not busy:  # the flush's write, before it lands: the next call comes in
            busy.append(True)
            raced.append(interaction.admit(user).continuous_seconds)
        return real_update(key, fn)

    interaction.state.update = update  # type: ignore[method-assign]
    interaction.flush()
    interaction.state.update = real_update  # type: ignore[method-assign]
    assert raced == [20 * 60.0]  # 10 min after the last call: the same continuous period
    third = interaction.admit(user)
    assert third.continuous_seconds == 20 * 60.0
    interaction.close()
