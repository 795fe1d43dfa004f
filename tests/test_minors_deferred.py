"""A release that rides with the next call on Redis (issue 19): the end is noted in the
store's outbox (``fin``) and charged by the next operation on the minor's state. It is still
charged when no next call comes (within ``flush_after``, and at ``close``), replicas see each
other's use and share one quota, and the async check needs no worker thread to release."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from genai_compliance.compliance import Compliance
from genai_compliance.errors import MinorQuotaExhausted, StoreUnavailable
from genai_compliance.minors import MINOR_BANDS, MinorPolicy, MinorProtection, MinorsCheck
from genai_compliance.minors._machine import LUA, argv_of, pack, state_of
from genai_compliance.stores import RedisStore
from genai_compliance.subject import Subject
from genai_compliance.testing import FrozenClock, make_compliance

pytestmark = pytest.mark.redis

#: the secret that keys the minors' store (shared stores refuse to run without one)
SECRET = b"test-minors-secret-0123456789"
SH = dt.timezone(dt.timedelta(hours=8))
KID = Subject("kid-d", birth_date="2012-06-01")


@pytest.fixture(name="clock")
def _clock() -> FrozenClock:
    return FrozenClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=SH))


@pytest.fixture(name="replica")
def _replica(redis_uri: str, unique: str,
             clock: FrozenClock) -> Iterator[Callable[..., MinorProtection]]:
    """Makes replicas: each a MinorProtection with its own Redis connection and outbox."""
    made: list[MinorProtection] = []

    def make(minutes: float = 60) -> MinorProtection:
        policy = MinorPolicy(daily_minutes={b: minutes for b in MINOR_BANDS})
        prot = MinorProtection(policy, key_secret=SECRET, store=redis_uri, clock=clock,
                               key_prefix=f"test:{unique}", guardian_consent=lambda s: True,
                               replicas=2)
        made.append(prot)
        return prot

    yield make
    for prot in made:
        prot.store.close()


def _until(done: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Wait for ``done()`` (an event, not a duration: no timing is asserted)."""
    end = time.monotonic() + seconds
    while not done():
        if time.monotonic() > end:
            return False
        time.sleep(0.005)
    return True


def _raw(prot: MinorProtection, subject: Subject) -> dict[str, str]:
    store = prot.store
    assert isinstance(store, RedisStore)
    return state_of(store.client.get(prot.key(subject)))


def test_a_release_with_no_next_call_is_charged_within_flush_after(
        replica: Callable[..., MinorProtection], clock: FrozenClock) -> None:
    """No further call on the replica: its outbox still sends the end within flush_after;
    another replica then sees the call ended and charged, and no more accrues."""
    a, b = replica(), replica()
    assert isinstance(a.store, RedisStore)
    a.store.flush_after = 0.05
    adm = a.admit(KID)
    assert adm is not None
    clock.advance(90)
    told = a.release(adm, 90, wait=False)
    assert told["used_minutes"] == 1.5
    # the end reaches the store without a next call: the call is noted ended there
    assert _until(lambda: f"e:{adm.call_id}" in _raw(b, KID))
    clock.advance(600)  # long after: nothing more is charged for the ended call
    seen = b.usage(KID)
    assert seen.in_flight == 0
    assert seen.used_minutes == pytest.approx(1.5)
    assert not any(f.startswith(("c:", "e:")) for f in _raw(b, KID))  # charged, gone


def test_a_release_is_sent_at_close(replica: Callable[..., MinorProtection],
                                    clock: FrozenClock) -> None:
    """The replica shuts down right after the call: close() sends the noted end, so the
    call is charged its real duration, not until its lease runs out."""
    a, b = replica(), replica()
    assert isinstance(a.store, RedisStore)
    a.store.flush_after = 3600.0  # the background sender would not send it in time
    adm = a.admit(KID)
    assert adm is not None
    clock.advance(45)
    a.release(adm, 45, wait=False)
    assert f"e:{adm.call_id}" not in _raw(b, KID)  # still in a's outbox
    a.store.close()
    clock.advance(3600)  # beyond the lease: a lost end would show as 10 minutes charged
    seen = b.usage(KID)
    assert seen.in_flight == 0
    assert seen.used_minutes == pytest.approx(0.75)


def test_replicas_see_each_others_use_and_share_one_quota(
        replica: Callable[..., MinorProtection], clock: FrozenClock) -> None:
    """Two replicas take turns serving one minor (3 minutes a day), each release noted in
    its own outbox: each admission counts the other replica's calls, and the fourth is
    refused whichever replica gets it."""
    a, b = replica(3), replica(3)
    used = []
    for prot in (a, b, a):
        adm = prot.admit(KID)
        assert adm is not None
        used.append(adm.used_seconds)
        clock.advance(60)
        prot.release(adm, 60, wait=False)
    assert used == [0, 60, 120]
    for prot in (b, a):
        with pytest.raises(MinorQuotaExhausted):
            prot.admit(KID)
    assert a.usage(KID).used_minutes == pytest.approx(3)


def test_concurrent_calls_on_two_replicas_charge_their_union(
        replica: Callable[..., MinorProtection], clock: FrozenClock) -> None:
    """Two tabs of one minor on two replicas, overlapping (0-60 s and 30-100 s): 100 s are
    charged, once, whatever order the noted ends arrive in."""
    a, b = replica(), replica()
    first = a.admit(KID)
    clock.advance(30)
    second = b.admit(KID)
    assert first is not None and second is not None
    clock.advance(30)
    a.release(first, 60, wait=False)
    clock.advance(40)
    b.release(second, 70, wait=False)
    assert isinstance(b.store, RedisStore) and isinstance(a.store, RedisStore)
    b.store.flush()  # the later end reaches the store first
    a.store.flush()
    clock.advance(300)
    seen = a.usage(KID)
    assert seen.in_flight == 0
    assert seen.used_minutes == pytest.approx(100 / 60)


def test_a_release_only_the_store_can_tell_waits_for_it(
        replica: Callable[..., MinorProtection]) -> None:
    """A call that ends on the next local day is not told from its admission: the release
    waits for the store, which splits it at midnight."""
    a = replica()
    start = dt.datetime(2026, 3, 2, 15, 59, tzinfo=dt.UTC)  # 23:59 in Shanghai
    assert isinstance(a.clock, FrozenClock)
    a.clock.set(start)
    policy_free = MinorPolicy(daily_minutes={b: 1440 for b in MINOR_BANDS}, curfew=None)
    late = MinorProtection(policy_free, key_secret=SECRET, store=a.store, clock=a.clock,
                           key_prefix=a.key_prefix, guardian_consent=lambda s: True)
    adm = late.admit(KID, at=start)
    assert adm is not None
    a.clock.advance(120)
    assert late.release(adm, 120, wait=False)["used_minutes"] == 1  # today's minute
    summary = late.usage(KID, days=2)
    assert [round(d.used_minutes, 3) for d in summary.history] == [1, 1]


def _twin(tmp_path: Path, name: str, clock: FrozenClock, redis_uri: str,
          unique: str) -> Compliance:
    """A replica of the service: its own ledger, the shared Redis for minors."""
    comp = make_compliance(tmp_path / name, clock=clock, checks=(),
                           stores={"minors": redis_uri},
                           settings={"minors": {"key_prefix": f"test:{unique}",
                                                "key_secret_env": "GC_TEST_MINORS_SECRET",
                                                "daily_minutes": {b.value: 3 for b in
                                                                  MINOR_BANDS}}})
    comp.add_check(MinorsCheck(MinorProtection.from_context(
        comp.context, guardian_consent=lambda s: True)))
    return comp


async def test_two_guarded_replicas_share_the_quota_sync_and_async(
        tmp_path: Path, clock: FrozenClock, redis_uri: str, unique: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the guard: replica A serves a sync call, replica B an async one, A another;
    each record states the minor's day so far across both, and the fourth call is refused
    on either. The async check releases without a worker thread (the charge is only
    queued), while its admission still runs in one (it waits for Redis)."""
    monkeypatch.setenv("GC_TEST_MINORS_SECRET", "s" * 32)
    a = _twin(tmp_path, "a", clock, redis_uri, unique)
    b = _twin(tmp_path, "b", clock, redis_uri, unique)
    hops: list[str] = []
    real = asyncio.to_thread

    async def counting(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__name__", "?"))
        return await real(fn, *args, **kwargs)

    try:
        @a.guard
        def sync_call(prompt: str) -> str:
            clock.advance(60)
            return "ok"

        @b.guard
        async def async_call(prompt: str) -> str:
            clock.advance(60)
            return "ok"

        assert sync_call("x", subject=KID) == "ok"
        monkeypatch.setattr(asyncio, "to_thread", counting)
        assert await async_call("x", subject=KID) == "ok"
        monkeypatch.setattr(asyncio, "to_thread", real)
        assert sync_call("x", subject=KID) == "ok"
        with pytest.raises(MinorQuotaExhausted):
            await async_call("x", subject=KID)
        with pytest.raises(MinorQuotaExhausted):
            sync_call("x", subject=KID)
        used = [r.payload["notes"].get("minor_used_ms")
                for comp in (a, b) for r in comp.records("guard.call")
                if r.payload["outcome"] == "served"]
        assert sorted(used) == [60_000, 120_000, 180_000]
        assert "_admit" in hops and "_release" not in hops and "close" not in hops
    finally:
        a.close()
        b.close()


def test_a_connection_dropped_while_idle_is_replaced_before_the_call(
        replica: Callable[..., MinorProtection], clock: FrozenClock) -> None:
    """The server dropping the store's connection while it is idle (a restart, a proxy's
    idle timeout): the next call sees the end of the stream waiting on the socket before
    it writes, and runs on a new connection; the end that waited in the outbox leaves with
    it, so nothing is lost and nothing is refused."""
    a = replica()
    store = a.store
    assert isinstance(store, RedisStore)
    adm = a.admit(KID)
    assert adm is not None
    a.release(adm, 60, wait=False)  # rides with the next call
    # only this store's connection: killing every client would cut other tests' (and, on
    # a shared server, other processes') connections under them
    host, port = store._lane().socket().getsockname()[:2]
    assert store.client.client_kill_filter(addr=f"{host}:{port}") == 1
    time.sleep(0.1)  # the server's close reaches the socket
    again = a.admit(KID)  # on a new connection
    assert again is not None
    a.release(again, 0)
    assert a.usage(KID).in_flight == 0  # the first call's end arrived too


def test_a_connection_lost_during_a_call_fails_it_closed(
        replica: Callable[..., MinorProtection], clock: FrozenClock) -> None:
    """A connection lost between a call's write and its reply denies that call with
    StoreUnavailable (fail closed: the server may have admitted it, so it is charged
    until its lease runs out — more, never less), and the next call reconnects."""
    a = replica()
    store = a.store
    assert isinstance(store, RedisStore)
    assert a.admit(KID) is not None
    lane_type = type(store._lane())
    real = lane_type.reply

    def cut(self: Any) -> Any:  # what reading a connection that went mid-call raises
        lane_type.reply = real  # type: ignore[method-assign]
        raise ConnectionError("the server closed the connection")

    lane_type.reply = cut  # type: ignore[method-assign]
    try:
        with pytest.raises(StoreUnavailable):
            a.admit(KID)
    finally:
        lane_type.reply = real  # type: ignore[method-assign]
    again = a.admit(KID)  # a new connection
    assert again is not None
    in_flight = a.usage(KID).in_flight
    assert in_flight >= 2  # the lost call is charged as running (its lease)
    clock.advance(a.policy.lease_seconds)
    summary = a.usage(KID)
    assert summary.used_minutes * 60 >= a.policy.lease_seconds


def test_an_interrupted_call_leaves_no_reply_for_the_next(redis_uri: str, unique: str) -> None:
    """A call interrupted between its write and its reply (KeyboardInterrupt) drops the
    connection, so the next call never reads the reply the first one left unread."""
    store = RedisStore(redis_uri)
    try:
        echo = store.script("return ARGV[1]")
        assert echo([f"{unique}:k"], ["warm"]) == b"warm"
        lane_type = type(store._lane())
        real = lane_type.reply

        def interrupted(self: Any) -> Any:
            lane_type.reply = real  # type: ignore[method-assign]
            raise KeyboardInterrupt

        lane_type.reply = interrupted  # type: ignore[method-assign]
        try:
            with pytest.raises(KeyboardInterrupt):
                echo([f"{unique}:k"], ["first"])
        finally:
            lane_type.reply = real  # type: ignore[method-assign]
        assert echo([f"{unique}:k"], ["second"]) == b"second"
    finally:
        store.close()


def test_a_noted_end_is_sent_as_the_text_appended(redis_uri: str, unique: str) -> None:
    """A ``fin`` leaves as ``ttl|e:<id>|t,x|`` (issue 19: the script appends what follows
    the ttl instead of matching and joining the fields): :func:`argv_of` reads it back as
    the arguments :func:`apply` takes; on Redis the state gets exactly that entry, a state
    the append creates gets the ttl, and anything else before a call is refused."""
    fin = ["fin", "c1", "1772416800.1210001", "1772416800.1199999", "259200000"]
    line = pack(fin)
    assert line == "259200000|e:c1|1772416800.1210001,1772416800.1199999|"
    assert argv_of(line) == fin
    start = ["start", "c2", "1772416800.5", "2026-03-02", "1772380800", "600", "2026-01-30",
             "259200000", "36000.5", "3600", "0", "600", "1800"]
    assert argv_of(pack(start)) == start
    store = RedisStore(redis_uri)
    try:
        script = store.script(LUA, batched=True)
        new, old = f"{unique}:fresh", f"{unique}:kept"
        store.client.set(old, b"day|2026-03-02|used|0|last|1772416800|streak|0|rl|0|")
        assert script([new, old], [line, line]) == b"0"
        assert store.client.get(new) == b"e:c1|1772416800.1210001,1772416800.1199999|"
        assert 0 < store.client.pttl(new) <= 259_200_000
        assert store.client.get(old).endswith(b"|e:c1|1772416800.1210001,1772416800.1199999|")
        with pytest.raises(StoreUnavailable):  # the previous form: refused, nothing written
            script([new, old], ["fin|c3|1772416801|1772416800|259200000", pack(start)])
        assert store.client.get(old).endswith(b"|e:c1|1772416800.1210001,1772416800.1199999|")
    finally:
        store.client.delete(f"{unique}:fresh", f"{unique}:kept")
        store.close()
