"""The illegal-use ladder (IM-14b, SR-14): model-based properties, backends, atomicity, guard."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import (
    CallContext,
    Check,
    Compliance,
    ConfigurationError,
    ContentBlocked,
    FrozenClock,
    Ledger,
    RecordNotFound,
    ServiceRestricted,
    StoreUnavailable,
    Subject,
)
from genai_compliance.checks import request_calls
from genai_compliance.incidents import (
    Escalation,
    EscalationPolicy,
    IllegalUseCheck,
    Incidents,
    Standing,
)
from genai_compliance.incidents._escalation import transition  # the pure ladder step
from genai_compliance.stores import open_store
from genai_compliance.testing import make_compliance
from strategies_incidents import TZ, LadderModel, ladder_ops, policies

START = "2026-03-02T02:00:00+00:00"


@pytest.fixture(name="ledger", scope="module")
def _ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'l.db'}",
                    durability="process")
    yield ledger
    ledger.close()


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    comp = make_compliance(tmp_path, checks=(), clock=FrozenClock(START))
    yield comp
    comp.close()


def _user() -> Subject:
    return Subject("u-" + uuid.uuid4().hex[:10], birth_date="1990-01-01")


def _run(esc: Escalation, model: LadderModel, clock: FrozenClock, user: Subject,
         ops: list[tuple[str, Any]]) -> None:
    """Drive the stored ladder and the reference model with the same events."""
    for op, arg in ops:
        now = clock.now()
        if op == "advance":
            clock.advance(hours=arg)
            continue
        if op == "illegal":
            model.illegal(now)
            got = esc.register_input(user, illegal=True, risk="A.1a")
        elif op == "clean":
            model.clean(now)
            got = esc.register_input(user, illegal=False)
        elif op == "appeal":
            if model.appeal(now):
                got = esc.appeal(user, "我在引用新闻")
            else:
                with pytest.raises(ConfigurationError):
                    esc.appeal(user, "again")
                continue
        elif op in ("uphold", "reject"):
            if model.decide(now, op == "uphold"):
                got = esc.decide_appeal(user, upheld=op == "uphold")
            else:
                with pytest.raises(RecordNotFound):
                    esc.decide_appeal(user, upheld=op == "uphold")
                continue
        else:
            model.impose(now, arg)
            got = esc.impose(user, arg, reason="operator")
        assert (got.level, got.consecutive, got.suspensions) == (
            model.level, model.run, model.suspensions)
        assert (got.appeal is not None) == model.pending
    assert esc.standing(user).level == model.peek(clock.now())


@settings(max_examples=120)
@given(ops=ladder_ops, policy=policies)
def test_ladder_matches_reference_model(ledger: Ledger, ops: list[tuple[str, Any]],
                                        policy: EscalationPolicy) -> None:
    """Property (SR-14): for any events and policy the stored ladder equals the model, and
    every level change is one illegal_use.action record."""
    clock = FrozenClock(START)
    esc = Escalation("memory://", ledger, policy=policy, clock=clock, tz=TZ)
    model = LadderModel(policy, TZ)
    user = _user()
    _run(esc, model, clock, user, ops)
    actions = list(ledger.records(kind="illegal_use.action", subject=user))
    assert len(actions) == model.changes


@settings(max_examples=12)
@given(ops=ladder_ops)
def test_ladder_model_on_every_store(ledger: Ledger, kv_uri: str, unique: str,
                                     ops: list[tuple[str, Any]]) -> None:
    """Property: memory, SQLite and Redis state stores give the model's answers."""
    clock = FrozenClock(START)
    store = open_store(kv_uri)
    try:
        esc = Escalation(store, ledger, clock=clock, tz=TZ, key_prefix=unique)
        _run(esc, LadderModel(EscalationPolicy(), TZ), clock, _user(), ops)
    finally:
        store.close()


@settings(max_examples=8)
@given(ops=ladder_ops)
def test_ladder_model_on_sql(ledger: Ledger, sql_uri: str, ops: list[tuple[str, Any]]) -> None:
    """Property: SQLite and PostgreSQL tables give the model's answers."""
    clock = FrozenClock(START)
    esc = Escalation(sql_uri, ledger, clock=clock, tz=TZ)
    try:
        _run(esc, LadderModel(EscalationPolicy(), TZ), clock, _user(), ops)
    finally:
        esc.close()


def _hammer(make: Any, user: Subject, threads: int = 4, each: int = 6) -> None:
    replicas = [make() for _ in range(threads)]  # built first: the DDL runs once
    errors: list[BaseException] = []

    def work(esc: Escalation) -> None:
        try:
            for _ in range(each):
                esc.register_input(user, illegal=True)
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(esc,)) for esc in replicas]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis),
                                     pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_concurrent_replicas_lose_no_count(backend: str, ledger: Ledger, tmp_path: Path,
                                           request: pytest.FixtureRequest,
                                           unique: str) -> None:
    """Atomic across replicas: 24 illegal inputs from 4 Escalation objects are all counted."""
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'state.db'}"
    elif backend == "redis":
        uri = str(request.getfixturevalue("redis_uri"))
    else:
        uri = str(request.getfixturevalue("postgres_uri"))
    policy = EscalationPolicy(suspend_consecutive=1000, suspend_daily=1000, limit_after=999,
                              warn_after=999)
    clock = FrozenClock(START)
    user = _user()
    made: list[Escalation] = []

    def make() -> Escalation:
        esc = Escalation(uri, ledger, policy=policy, clock=clock, key_prefix=unique)
        made.append(esc)
        return esc

    _hammer(make, user)
    assert make().standing(user).consecutive == 24
    for esc in made:
        esc.close()


def test_default_ladder_three_in_a_row_suspends(comp: Compliance) -> None:
    """SR-14 default: warn, limit, then suspend at the 3rd illegal input in a row."""
    inc: Incidents = comp.incidents
    user = _user()
    levels = [inc.register_input(user, illegal=True, risk="A.1a").level for _ in range(3)]
    assert levels == ["warned", "limited", "suspended"]
    actions = [r.payload for r in comp.records("illegal_use.action")]
    assert [a["level"] for a in actions] == ["warned", "limited", "suspended"]
    assert actions[-1]["until"] == "2026-03-09T02:00:00+00:00"
    inputs = [r.payload["consecutive"] for r in comp.records("illegal_use.input")]
    assert inputs == [1, 2, 3]


def test_five_a_local_day_suspends_and_midnight_resets(comp: Compliance) -> None:
    """Five illegal inputs in one local day suspend even when interleaved; Shanghai
    midnight starts a new count."""
    inc: Incidents = comp.incidents
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    user, other = _user(), _user()
    for _ in range(4):
        inc.register_input(user, illegal=True)
        inc.register_input(user, illegal=False)
    assert inc.standing(user).level == "warned"
    assert inc.register_input(user, illegal=True).level == "suspended"
    clock.set("2026-03-02T15:00:00+00:00")  # 23:00 in Shanghai
    for _ in range(4):
        inc.register_input(other, illegal=True)
        inc.register_input(other, illegal=False)
    clock.set("2026-03-02T16:00:01+00:00")  # 00:00:01 the next local day
    s = inc.register_input(other, illegal=True)
    assert s.level == "warned" and s.window_count(clock.now(), inc.policy) == 1


def test_rolling_window_policy() -> None:
    """window_hours makes the daily count a rolling window instead of the local day."""
    policy = EscalationPolicy(window_hours=24, suspend_daily=3, suspend_consecutive=10,
                              limit_after=10, warn_after=10)
    now = dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC)
    s = Standing()
    for hours in (0, 2, 23.5):
        s, _ = transition(s, "illegal", now=now + dt.timedelta(hours=hours), policy=policy)
        s, _ = transition(s, "clean", now=now + dt.timedelta(hours=hours), policy=policy)
    assert s.level == "suspended"
    s2 = Standing()
    for hours in (0, 2, 26.5):
        s2, _ = transition(s2, "illegal", now=now + dt.timedelta(hours=hours), policy=policy)
        s2, _ = transition(s2, "clean", now=now + dt.timedelta(hours=hours), policy=policy)
    assert s2.level == "none"


def test_suspension_ends_then_third_suspension_terminates(comp: Compliance) -> None:
    """A suspension lasts suspend_days and steps down to limited; the 3rd terminates."""
    inc: Incidents = comp.incidents
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    user = _user()
    for round_ in range(3):
        for _ in range(3):
            s = inc.register_input(user, illegal=True)
        if round_ < 2:
            assert s.level == "suspended" and s.suspensions == round_ + 1
            clock.advance(days=7)
            assert inc.standing(user).level == "limited"
    assert s.level == "terminated"
    clock.advance(days=400)
    assert inc.standing(user).level == "terminated"
    reasons = [r.payload["reason"] for r in comp.records("illegal_use.action")]
    assert reasons.count("suspension_ended") == 2


def test_quiet_period_forgives_warnings(comp: Compliance) -> None:
    """A warned subject with no illegal input for reset_after_days returns to none."""
    inc: Incidents = comp.incidents
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    user = _user()
    inc.register_input(user, illegal=True)
    clock.advance(days=29)
    assert inc.standing(user).level == "warned"
    clock.advance(days=1)
    assert inc.standing(user).level == "none"


def test_appeal_upheld_restores_and_rejected_keeps(comp: Compliance) -> None:
    """Appeals are recorded; upheld restores service, rejected keeps the measure."""
    inc: Incidents = comp.incidents
    user = _user()
    with pytest.raises(ConfigurationError, match="no measure"):
        inc.appeal(user, "nothing to appeal")
    for _ in range(3):
        inc.register_input(user, illegal=True)
    inc.appeal(user, "我在引用新闻")
    with pytest.raises(ConfigurationError, match="already pending"):
        inc.appeal(user, "twice")
    assert inc.decide_appeal(user, upheld=False).level == "suspended"
    inc.appeal(user, "second try")
    s = inc.decide_appeal(user, upheld=True, note="context was news")
    assert (s.level, s.suspensions) == ("none", 0)
    with pytest.raises(RecordNotFound, match="no appeal"):
        inc.decide_appeal(user, upheld=False)
    kinds = [r.kind for r in comp.records("illegal_use") if "appeal" in r.kind]
    assert kinds == ["illegal_use.appeal", "illegal_use.appeal_decided",
                     "illegal_use.appeal", "illegal_use.appeal_decided"]
    payload = next(iter(comp.records("illegal_use.appeal"))).payload
    assert "我在" not in str(payload) and len(payload["reason_sha256"]) == 64


def test_policy_validation_and_settings() -> None:
    """Thresholds must be ordered whole numbers; unknown keys are refused by name."""
    with pytest.raises(ConfigurationError, match="warn_after <= limit_after"):
        EscalationPolicy(limit_after=5, suspend_consecutive=3)
    with pytest.raises(ConfigurationError, match="suspend_daily"):
        EscalationPolicy(suspend_daily=0)
    with pytest.raises(ConfigurationError, match="window_hours"):
        EscalationPolicy(window_hours=-1)
    with pytest.raises(ConfigurationError, match="unknown"):
        EscalationPolicy.from_settings({"suspend_after": 3})
    p = EscalationPolicy.from_settings({"limited_functions": ["draw"], "window_hours": 12})
    assert p.limited_functions == ("draw",) and p.window_hours == 12


def test_impose_and_unknown_level(comp: Compliance) -> None:
    """An operator may terminate or lift directly; the step is recorded with the reason."""
    inc: Incidents = comp.incidents
    user = _user()
    assert inc.escalation.impose(user, "terminated", reason="CSAM").level == "terminated"
    assert inc.escalation.impose(user, "none").level == "none"
    with pytest.raises(ConfigurationError, match="level must be one of"):
        inc.escalation.impose(user, "banned")
    reasons = [r.payload["reason"] for r in comp.records("illegal_use.action")]
    assert reasons == ["imposed: CSAM", "imposed"]


class Blocker(Check):
    name = "test-blocker"

    def before(self, ctx: CallContext) -> None:
        if "违禁" in (ctx.prompt or ""):
            raise ContentBlocked("blocked", risk="A.1a", where="input", rules=("IM-14a",))

    def after(self, ctx: CallContext, result: Any) -> Any:
        if "坏" in str(result):
            raise ContentBlocked("blocked", risk="A.1f", where="output", rules=("IM-14a",))
        return result


def test_guard_enforces_the_ladder(comp: Compliance) -> None:
    """Blocked prompts climb the ladder through the guard; suspended users are refused
    with HTTP 403 and Retry-After; a served call breaks the run."""
    comp.add_check(IllegalUseCheck(comp.incidents))
    comp.add_check(Blocker())

    @comp.guard
    def generate(prompt: str) -> str:
        return "坏" if prompt == "induce" else "ok"

    user = _user()
    with pytest.raises(ContentBlocked):
        generate("违禁", subject=user)
    assert generate("hello", subject=user) == "ok"
    assert comp.incidents.standing(user).consecutive == 0
    with pytest.raises(ContentBlocked):
        generate("induce", subject=user)  # an output block counts as inducing
    with pytest.raises(ContentBlocked):
        generate("违禁", subject=user)
    with pytest.raises(ContentBlocked):
        generate("违禁", subject=user)
    with pytest.raises(ServiceRestricted) as info:
        generate("hello", subject=user)
    err = info.value
    assert err.retry_after is not None and err.http_status == 403
    assert err.evidence["level"] == "suspended"


async def test_async_guard_enforces_the_ladder(comp: Compliance) -> None:
    """The same ladder through the async twins (answered from the read cache where it can
    be): a served call breaks the run and carries the warning, a suspended user is refused."""
    comp.add_check(IllegalUseCheck(comp.incidents))
    comp.add_check(Blocker())

    @comp.guard
    async def generate(prompt: str) -> str:
        return "坏" if prompt == "induce" else "ok"

    user = _user()
    assert await generate("hello", subject=user) == "ok"  # nothing known: nothing counted
    assert comp.incidents.standing(user).level == "none"
    with pytest.raises(ContentBlocked):
        await generate("违禁", subject=user)
    assert comp.incidents.standing(user).consecutive == 1
    calls: list[CallContext] = []
    token = request_calls.set(calls)
    try:
        assert await generate("hello", subject=user) == "ok"
    finally:
        request_calls.reset(token)
    assert comp.incidents.standing(user).consecutive == 0
    assert calls[0].response.warning == IllegalUseCheck.WARNING
    for prompt in ("induce", "违禁", "违禁"):
        with pytest.raises(ContentBlocked):
            await generate(prompt, subject=user)
    with pytest.raises(ServiceRestricted) as info:
        await generate("hello", subject=user)
    assert info.value.evidence["level"] == "suspended"


def test_limited_refuses_limited_modalities_only(comp: Compliance) -> None:
    """While limited, image generation is refused and text still served with a warning."""
    check = IllegalUseCheck(comp.incidents)
    comp.add_check(check)
    user = _user()
    comp.incidents.escalation.impose(user, "limited")

    @comp.guard(modality="image")
    def draw(prompt: str) -> str:
        return "img"

    @comp.guard
    def chat(prompt: str) -> str:
        return "ok"

    with pytest.raises(ServiceRestricted, match="limited"):
        draw("cat", subject=user)
    assert chat("hi", subject=user) == "ok"


def test_output_blocks_not_counted_when_disabled(tmp_path: Path) -> None:
    """count_output_blocks = false: only blocked prompts count."""
    comp = make_compliance(tmp_path, checks=(), clock=FrozenClock(START), settings={
        "incidents": {"escalation": {"count_output_blocks": False}}})
    try:
        comp.add_check(IllegalUseCheck(comp.incidents))
        comp.add_check(Blocker())

        @comp.guard
        def generate(prompt: str) -> str:
            return "坏"

        user = _user()
        with pytest.raises(ContentBlocked):
            generate("x", subject=user)
        assert comp.incidents.standing(user).level == "none"
    finally:
        comp.close()


async def test_async_guard_counts(comp: Compliance) -> None:
    """The async twins count a blocked prompt too."""
    comp.add_check(IllegalUseCheck(comp.incidents))
    comp.add_check(Blocker())

    @comp.guard
    async def generate(prompt: str) -> str:
        return "ok"

    user = _user()
    with pytest.raises(ContentBlocked):
        await generate("违禁", subject=user)
    assert comp.incidents.standing(user).level == "warned"


def test_state_store_down_fails_closed(ledger: Ledger) -> None:
    """A Redis that does not answer denies the call (StoreUnavailable), never serves."""
    esc = Escalation("redis://127.0.0.1:1/0", ledger)
    with pytest.raises(StoreUnavailable):
        esc.register_input(_user(), illegal=True)


def test_from_compliance_picks_stores(tmp_path: Path) -> None:
    """[stores] illegal_use chooses the ladder's store; the tables stay in the ledger DB."""
    uri = f"sqlite:///{tmp_path / 'state.db'}"
    comp = make_compliance(tmp_path, checks=(), clock=FrozenClock(START),
                           stores={"illegal_use": uri})
    try:
        inc = comp.incidents
        assert inc.escalation.uri == uri and inc.db is comp.ledger.db
        user = _user()
        inc.register_input(user, illegal=True)
        other = Escalation(uri, comp.ledger, clock=comp.clock)
        assert other.standing(user).level == "warned"
    finally:
        comp.close()
    with pytest.raises(ConfigurationError, match="unknown"):
        Incidents.from_context(make_compliance(tmp_path / "b", settings={
            "incidents": {"retention": 3}}).context)


@settings(max_examples=60)
@given(st.lists(st.booleans(), max_size=30))
def test_standing_json_round_trip(flags: list[bool]) -> None:
    """Property: a standing survives its JSON form unchanged."""
    s = Standing()
    now = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    for i, bad in enumerate(flags):
        s, _ = transition(s, "illegal" if bad else "clean",
                          now=now + dt.timedelta(hours=i), policy=EscalationPolicy())
    assert Standing.from_json(s.to_json()) == s


def test_standing_cache_bounds_staleness_and_sees_own_changes(tmp_path: Path) -> None:
    """A standing read from a shared store is reused for at most ``max_staleness`` seconds
    (no I/O on the guard's hot path); a suspension by another replica is enforced once that
    bound passes, and this replica's own changes are seen at once."""
    clock = FrozenClock(START)
    uri = f"sqlite:///{tmp_path / 'state.db'}"
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", clock=clock, dev_mode=True)
    try:
        here = Escalation(uri, ledger, clock=clock, max_staleness=2.0)
        other = Escalation(uri, ledger, clock=clock, max_staleness=2.0)
        user = Subject("cached-user")
        assert here.standing(user).level == "none"
        assert here.cached_standing(user) is not None and here.clean_input_is_noop(user)
        other.impose(user, "suspended", reason="replica B")
        assert here.standing(user).level == "none"  # within the bound: the cached read
        clock.advance(2.5)
        assert here.cached_standing(user) is None
        assert here.standing(user).level == "suspended"  # past the bound: read again
        here.impose(user, "none", reason="lifted here")
        assert here.standing(user).level == "none"  # own change: seen at once
        fresh = Escalation(uri, ledger, clock=clock, max_staleness=0)
        assert fresh.cached_standing(user) is None and fresh.standing(user).level == "none"
        for esc in (here, other, fresh):
            esc.close()
    finally:
        ledger.close()


def test_standings_kept_in_the_former_table_survive_the_upgrade(ledger: Ledger,
                                                                sql_uri: str) -> None:
    """Existing deployments keep their illegal-use standing: the ``gc_escalation`` table
    of SQLite or PostgreSQL is moved into the store when the ladder is built (renamed
    ``gc_escalation_migrated``), once, whatever the key prefix."""
    import json

    from genai_compliance.stores import SQLDatabase

    clock = FrozenClock(START)
    user, other = _user(), _user()
    suspended = Standing(level="suspended", suspensions=1, since=clock.now(),
                         until=clock.now() + dt.timedelta(days=7))
    db = SQLDatabase(sql_uri)
    db.executescript(["CREATE TABLE IF NOT EXISTS gc_escalation (subject TEXT PRIMARY KEY, "
                      "state TEXT NOT NULL)"])
    with db.transaction(write=True) as tx:
        tx.execute("INSERT INTO gc_escalation(subject, state) VALUES (?, ?), (?, ?)",
                   (ledger.pseudonym(user), json.dumps(suspended.to_json()),
                    "t1:" + ledger.pseudonym(other), json.dumps(Standing(
                        level="warned", consecutive=1).to_json())))
    try:
        esc = Escalation(sql_uri, ledger, clock=clock)
        assert esc.standing(user) == suspended
        assert Escalation(sql_uri, ledger, clock=clock, key_prefix="t1:").standing(
            other).level == "warned"
        esc.close()
        again = Escalation(sql_uri, ledger, clock=clock)  # a second start: nothing to move
        assert again.standing(user).level == "suspended"
        again.close()
        assert db.query("SELECT COUNT(*) FROM gc_escalation_migrated") == [(2,)]
    finally:
        db.close()


def test_from_context_and_deprecated_from_compliance(tmp_path: Path) -> None:
    """Incidents are built from the duty context; the old constructor warns, naming it."""
    comp = make_compliance(tmp_path, checks=(), clock=FrozenClock(START))
    try:
        inc = Incidents.from_context(comp.context)
        assert inc.db is comp.ledger.db
        with pytest.warns(DeprecationWarning, match="from_context"):
            old = Incidents.from_compliance(comp)
        assert old.escalation.uri == inc.escalation.uri
    finally:
        comp.close()


def test_postgresql_illegal_use_store_from_context(tmp_path: Path, postgres_uri: str) -> None:
    """``[stores] illegal_use = postgresql://…`` keeps standings in that database's store."""
    comp = make_compliance(tmp_path, checks=(), clock=FrozenClock(START),
                           stores={"illegal_use": postgres_uri})
    try:
        inc = Incidents.from_context(comp.context)
        user = _user()
        inc.register_input(user, illegal=True)
        other = Escalation(postgres_uri, comp.ledger, clock=comp.clock)
        assert other.standing(user).level == "warned"
        other.close()
    finally:
        comp.close()
