"""Usage accounting invariants (IM-10, MM-final): property tests over calls and clock moves,
and the Redis Lua script against the Python reference machine."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance.minors import MinorPolicy, MinorProtection
from genai_compliance.minors._machine import (
    LUA,
    apply,
    argv_of,
    compact_arguments,
    fmt,
    lua_for,
    pack,
    state_of,
    unpack,
)
from genai_compliance.stores import RedisStore
from genai_compliance.stores._redis import _merged
from genai_compliance.subject import AgeBand, Subject
from genai_compliance.testing import FrozenClock

SH = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2026, 3, 2, 7, 30, tzinfo=SH)
_ids = itertools.count()

steps = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.integers(0, 4 * 3600)),
        st.tuples(st.just("call"), st.integers(0, 1500)),
    ),
    max_size=40,
)


@given(steps=steps, birth=st.sampled_from(["2020-01-01", "2012-01-01", "2009-01-01"]))
def test_charged_total_equals_allowed_durations(steps: list[tuple[str, int]],
                                                birth: str) -> None:
    """For any sequence of calls and clock moves, charged == sum of allowed durations."""
    clock = FrozenClock(START)
    prot = MinorProtection(MinorPolicy(history_days=60), clock=clock,
                           guardian_consent=lambda s: True)
    kid = Subject(f"p{next(_ids)}", birth_date=birth)
    allowed = 0.0
    for kind, amount in steps:
        if kind == "wait":
            clock.advance(amount)
            continue
        try:
            adm = prot.admit(kid)
        except Exception as exc:  # curfew or quota
            assert type(exc).__name__ in ("MinorCurfew", "MinorQuotaExhausted")
            continue
        assert adm is not None
        clock.advance(amount)
        prot.release(adm, amount)
        allowed += amount
    summary = prot.usage(kid, days=min(prot.policy.history_days, 10))
    charged = sum(d.used_minutes for d in summary.history) * 60
    assert charged == pytest.approx(allowed, abs=1e-6)


@given(st.lists(st.tuples(st.integers(0, 4 * 3600), st.integers(0, 590)), min_size=1,
                max_size=12))
def test_overlapping_calls_charge_their_union(intervals: list[tuple[int, int]]) -> None:
    """Calls in flight at once charge the wall time covered by at least one of them."""
    clock = FrozenClock(START)
    policy = MinorPolicy(daily_minutes={b: 1440 for b in (
        AgeBand.UNDER_3, AgeBand.AGE_3_8, AgeBand.AGE_8_12, AgeBand.AGE_12_16,
        AgeBand.AGE_16_18)}, curfew=None)
    prot = MinorProtection(policy, clock=clock, guardian_consent=lambda s: True)
    kid = Subject(f"u{next(_ids)}", birth_date="2009-01-01")
    base = START
    events = sorted([(s, 1, i) for i, (s, _d) in enumerate(intervals)]
                    + [(s + d, 0 if d else 2, i) for i, (s, d) in enumerate(intervals)])
    admitted = {}
    for when, kind, i in events:
        at = base + dt.timedelta(seconds=when)
        if kind == 1:
            adm = prot.admit(kid, at=at)
            assert adm is not None
            admitted[i] = adm
        else:
            prot.release(admitted[i], intervals[i][1])
    merged: list[list[int]] = []
    for s, d in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], s + d)
        else:
            merged.append([s, s + d])
    union = sum(e - s for s, e in merged)
    at_end = base + dt.timedelta(seconds=max(s + d for s, d in intervals))
    assert prot.usage(kid, at=at_end).used_minutes * 60 == pytest.approx(union, abs=1e-6)


def _fin(call_id: str, at: dt.datetime, seen: float) -> list[str]:
    """The arguments of ``fin``: the end of ``call_id`` at ``at`` noted (last heard of at
    ``seen``), as a release riding with the next call sends it."""
    return ["fin", call_id, fmt(at.timestamp()), fmt(seen), "259200000"]


def _op_argv(prot: MinorProtection, op: str, call: int, at: dt.datetime, step: int,
             curfew: bool, control: tuple[str, str], ceiling: float | None = None
             ) -> list[str]:
    """The machine's arguments for one drawn operation at ``at`` (the call last heard of half
    a step before)."""
    seen = (at - dt.timedelta(seconds=step / 2)).timestamp()
    if op == "control":
        return ["control", *control]
    if op == "fin":
        return _fin(f"call{call}", at, seen)
    return prot._argv(op, f"call{call}", at, x=seen, limit=3600, curfew=curfew,
                      ceiling=ceiling)


def _script_matches_python(script: Any, client: Any, key: str, state: dict[str, str],
                           op: str, argv: list[str], line: str) -> None:
    """Run ``argv`` (sent as ``line``) through the script on ``key`` and the Python machine
    on ``state``: the same reply, and the state stored is the Python one."""
    expected = apply(state, argv)
    got = unpack(script([key], [line]))
    if op == "snapshot":
        assert dict(zip(got[::2], got[1::2], strict=True)) == state
    else:
        assert got == expected, argv
    assert state_of(client.get(key)) == state


ops = st.lists(
    st.tuples(
        st.sampled_from(["start", "start", "end", "end", "fin", "beat", "snapshot",
                         "control"]),
        st.integers(0, 3),           # which call
        st.integers(0, 5000),        # seconds to move on
        st.booleans(),               # curfew flag for start
        st.sampled_from([("glimit", "600"), ("glimit", ""), ("pause", "0"), ("pause", ""),
                         ("win", "28800-36000,57600-3600"), ("win", "")]),
    ),
    max_size=30,
)


@pytest.mark.redis
@given(ops=ops)
@settings(max_examples=40)
def test_lua_script_matches_python_machine(ops: list[tuple[str, int, int, bool,
                                                           tuple[str, str]]],
                                           redis_uri: str, unique: str) -> None:
    """The Redis Lua script returns and stores exactly what the Python machine does."""
    store = RedisStore(redis_uri)
    client = store.client
    script = store.script(LUA)
    key = f"test:{unique}:lua:{next(_ids)}"
    prot = MinorProtection(MinorPolicy(lease_seconds=1800, history_days=2),
                           clock=FrozenClock(START), guardian_consent=lambda s: True)
    state: dict[str, str] = {}
    at = START
    try:
        for op, call, step, curfew, control in ops:
            at += dt.timedelta(seconds=step)
            argv = _op_argv(prot, op, call, at, step, curfew, control)
            _script_matches_python(script, client, key, state, op, argv, pack(argv))
    finally:
        client.delete(key)
        store.close()



@pytest.mark.redis
@given(ops=ops, ceiling=st.sampled_from([None, 1800.0, 7200.0]))
@settings(max_examples=40)
def test_the_script_with_the_policys_constants_matches_python_on_compact_arguments(
        ops: list[tuple[str, int, int, bool, tuple[str, str]]], ceiling: float | None,
        redis_uri: str, unique: str) -> None:
    """The script built with the policy's constants (``lua_for``, what MinorProtection
    registers, issue 19) takes a call's arguments without them (``pack(argv, constants)``:
    10 fields, the ceiling empty when there is none) and returns and stores exactly what
    the Python machine does with all of them; ``argv_of`` reads the compact form back."""
    prot = MinorProtection(MinorPolicy(lease_seconds=1800, history_days=2),
                           clock=FrozenClock(START), guardian_consent=lambda s: True)
    constants = prot._constants
    store = RedisStore(redis_uri)
    client = store.client
    script = store.script(lua_for(constants))
    key = f"test:{unique}:compact:{next(_ids)}"
    state: dict[str, str] = {}
    at = START
    try:
        for op, call, step, curfew, control in ops:
            at += dt.timedelta(seconds=step)
            argv = _op_argv(prot, op, call, at, step, curfew, control, ceiling)
            line = pack(argv, constants)
            assert argv_of(line, constants) == argv
            if op not in ("control", "fin"):
                assert line.count("|") == 9  # compact
            _script_matches_python(script, client, key, state, op, argv, line)
    finally:
        client.delete(key)
        store.close()


def test_constants_a_script_cannot_hold_leave_every_argument() -> None:
    """A policy whose constants do not print as plain numbers gets the generic script and
    sends every argument (there is no such policy today; the guard is for later ones)."""
    assert compact_arguments(("1800", "345600000", "600", "1800"))
    assert not compact_arguments(("1800", "3.5e8", "600", "1800"))  # the ttl: an integer
    assert not compact_arguments(("inf", "345600000", "600", "1800"))
    with pytest.raises(ValueError):
        lua_for(("1800", "x", "600", "1800"))


@pytest.mark.redis
@given(ops=ops, order=st.randoms(use_true_random=False))
@settings(max_examples=40)
def test_lua_reads_a_state_in_any_field_order(ops: list[tuple[str, int, int, bool,
                                                             tuple[str, str]]],
                                              order: Any, redis_uri: str, unique: str) -> None:
    """The script writes a state's figures first and reads them in one match when they are;
    a state whose fields come in another order (as the script before issue 19 wrote them,
    in table order: a rolling upgrade) is read field by field, with the same result."""
    store = RedisStore(redis_uri)
    client = store.client
    script = store.script(LUA)
    key = f"test:{unique}:order:{next(_ids)}"
    prot = MinorProtection(MinorPolicy(lease_seconds=1800, history_days=2),
                           clock=FrozenClock(START), guardian_consent=lambda s: True)
    state: dict[str, str] = {}
    at = START
    try:
        for op, call, step, curfew, control in ops:
            raw = client.get(key)
            if raw:  # the same fields, in another order (a field appended twice: the last)
                parts = raw.decode().split("|")[:-1]
                pairs = list(dict(zip(parts[::2], parts[1::2], strict=True)).items())
                order.shuffle(pairs)
                client.set(key, "".join(f"{f}|{v}|" for f, v in pairs), keepttl=True)
            at += dt.timedelta(seconds=step)
            argv = _op_argv(prot, op, call, at, step, curfew, control)
            _script_matches_python(script, client, key, state, op, argv, pack(argv))
    finally:
        client.delete(key)
        store.close()

deferred_ops = st.lists(
    st.tuples(
        st.sampled_from(["start", "start", "end", "end", "beat", "snapshot", "control"]),
        st.integers(0, 3),           # which call
        st.integers(0, 5000),        # seconds to move on
        st.booleans(),               # curfew flag for start
        st.sampled_from([("glimit", "600"), ("glimit", ""), ("pause", "0"), ("pause", ""),
                         ("win", "28800-36000,57600-3600"), ("win", ""),
                         ("exempt", "900"), ("exempt", "4000"), ("exempt", "")]),
        st.booleans(),               # an end noted (fin) instead of run
    ),
    max_size=40,
)


@given(ops=deferred_ops)
@settings(max_examples=200)
def test_a_noted_end_charges_what_the_end_would_have(
        ops: list[tuple[str, int, int, bool, tuple[str, str], bool]]) -> None:
    """An end noted (``fin``, how a release rides with the next call on Redis) and charged
    by the next operation leaves the state, and that operation's reply, exactly as the
    ``end`` run in its place — leases that ran out meanwhile, reminders and several noted
    ends included."""
    prot = MinorProtection(MinorPolicy(lease_seconds=1800, history_days=2),
                           clock=FrozenClock(START), guardian_consent=lambda s: True)
    now: dict[str, str] = {}    # every end run at once
    later: dict[str, str] = {}  # some ends noted, charged by the next operation
    at = START
    noted = 0
    for op, call, step, curfew, control, defer in ops:
        at += dt.timedelta(seconds=step)
        if op == "control" and control[0] == "exempt":  # as a guardian grants or ends one
            until = "" if not control[1] else fmt(at.timestamp() + float(control[1]))
            argv = ["control", "xfrom", until and fmt(at.timestamp()), "xuntil", until,
                    "xcurfew", "", "xpurpose", until and "study"]
        elif op == "control":
            argv = ["control", *control]
        else:
            seen = (at - dt.timedelta(seconds=step / 2)).timestamp()
            argv = prot._argv(op, f"call{call}", at, x=seen, limit=3600, curfew=curfew)
        # as a release told from its admission: an end on the state's own day, one per call
        if (op == "end" and defer and now.get("day", "") >= argv[3]
                and f"e:call{call}" not in later):
            apply(now, argv)
            assert apply(later, _fin(f"call{call}", at, seen)) == ["0"]
            noted += 1
            continue
        got_now, got_later = apply(now, argv), apply(later, argv)
        if op == "control":
            continue
        if op == "snapshot":
            assert dict(zip(got_later[::2], got_later[1::2], strict=True)) == dict(
                zip(got_now[::2], got_now[1::2], strict=True))
        else:
            assert got_later == got_now, argv
        assert later == now
        noted = 0
    if noted:  # still noted: the next operation (here a snapshot) charges them
        argv = prot._argv("snapshot", "-", at)
        apply(now, argv)
        apply(later, argv)
        assert later == now


batched_ops = st.lists(
    st.tuples(
        st.sampled_from(["start", "start", "end", "fin", "fin", "beat", "snapshot",
                         "control"]),
        st.integers(0, 2),           # which state (key)
        st.integers(0, 3),           # which call
        st.integers(0, 5000),        # seconds to move on
        st.booleans(),               # sent (queued) rather than called: fins only
    ),
    max_size=30,
)


@pytest.mark.redis
@given(ops=batched_ops)
@settings(max_examples=40)
def test_batched_runs_match_the_python_machine_in_order(
        ops: list[tuple[str, int, int, int, bool]], redis_uri: str, unique: str) -> None:
    """Noted ends queued in the outbox (for the same state or others) and the call they
    leave with run as one script (one EVALSHA): every state, and the call's reply, are
    exactly what the Python machine gives running the operations one by one in order."""
    store = RedisStore(redis_uri)
    store.flush_after = 60.0  # only the calls (and the final flush) send what is queued
    script = store.script(LUA, batched=True)
    keys = [f"test:{unique}:batch:{next(_ids)}:{i}" for i in range(3)]
    prot = MinorProtection(MinorPolicy(lease_seconds=1800, history_days=2),
                           clock=FrozenClock(START), guardian_consent=lambda s: True)
    states: list[dict[str, str]] = [{}, {}, {}]
    at = START
    runs: list[list[tuple[str, bool, int]]] = []  # this thread's writes: their EVALSHAs
    real = store._execute
    main = threading.get_ident()

    def counting(commands: list[Any]) -> Any:
        # only this thread's: the outbox's sender (which flush_after keeps idle here) would
        # write on its own; each EVALSHA kept as (sha, batched, keys) for the failure message
        if threading.get_ident() == main:
            runs.append([(c[0].sha[:8], c[0].batched, len(c[1])) for c in _merged(commands)])
        return real(commands)

    store._execute = counting  # type: ignore[method-assign]
    try:
        for op, which, call, step, queued in ops:
            at += dt.timedelta(seconds=step)
            seen = (at - dt.timedelta(seconds=step / 2)).timestamp()
            if op == "fin":
                argv = _fin(f"call{call}", at, seen)
            elif op == "control":
                argv = ["control", "glimit", "600" if call % 2 else ""]
            else:
                argv = prot._argv(op, f"call{call}", at, x=seen, limit=3600)
            expected = apply(states[which], argv)
            if op == "fin" and queued:
                script.send([keys[which]], [pack(argv)])
                continue
            got = unpack(script([keys[which]], [pack(argv)]))
            assert len(runs[-1]) == 1, runs[-1]  # the queued ends and the call: one run
            if op == "snapshot":
                assert dict(zip(got[::2], got[1::2], strict=True)) == states[which]
            else:
                assert got == expected, argv
            for key, state in zip(keys, states, strict=True):
                assert state_of(store.client.get(key)) == state
        store.flush()
        for key, state in zip(keys, states, strict=True):
            assert state_of(store.client.get(key)) == state
    finally:
        store._execute = real  # type: ignore[method-assign]
        for key in keys:
            store.client.delete(key)
        store.close()


@pytest.mark.redis
def test_a_state_kept_as_a_hash_is_rewritten_as_a_string(redis_uri: str, unique: str) -> None:
    """A state an earlier version kept as a Redis hash (history as h:<day> fields) is read
    by the first operation on it, rewritten as one string with its expiry, and charged on:
    by an admission, and by a noted end appended to it."""
    store = RedisStore(redis_uri)
    script = store.script(LUA, batched=True)
    client = store.client
    prot = MinorProtection(MinorPolicy(lease_seconds=1800, history_days=2),
                           clock=FrozenClock(START), guardian_consent=lambda s: True)
    old = {"day": START.date().isoformat(), "used": "600", "last": fmt(START.timestamp()),
           "streak": "0", "rl": "0", "h:2026-03-01": "1200.5", "glimit": "3000"}
    keys = [f"test:{unique}:hash:{i}" for i in range(2)]
    try:
        for key in keys:
            client.hset(key, mapping=old)
            client.pexpire(key, 3_600_000)
        state = dict(old)
        argv = prot._argv("start", "c1", START, limit=3600)
        expected = apply(state, argv)
        assert unpack(script([keys[0]], [pack(argv)])) == expected
        assert client.type(keys[0]) == b"string"
        assert state_of(client.get(keys[0])) == state
        assert client.pttl(keys[0]) > 3_600_000  # kept for the state's ttl from now on
        other = dict(old)
        fin = _fin("c9", START, START.timestamp())
        apply(other, fin)
        script.send([keys[1]], [pack(fin)])
        store.flush()
        assert client.type(keys[1]) == b"string"
        assert state_of(client.get(keys[1])) == other
        assert 0 < client.pttl(keys[1]) <= 3_600_000  # its expiry carried over
    finally:
        for key in keys:
            client.delete(key)
        store.close()
