"""Property tests of the continuous-use timer and the disclosure triggers (issue 18): for any
sequence of calls, pauses, sessions and exits, a reminder is never missed once due nor shown
twice within an interval of one continuous period; first-use disclosures happen once; an
ended session stays ended. Then the same through the real service on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import FrozenClock, Subject
from genai_compliance.interaction import PROFILES, Interaction, InteractionSettings
from genai_compliance.interaction import _timer as timer

CN = PROFILES["cn-anthropomorphic"]
EU = PROFILES["eu-art50"]

#: one step: ("call", pause before it in s, its duration in s, session) | ("exit", pause)
steps = st.lists(st.one_of(
    st.tuples(st.just("call"), st.floats(0, 4 * 3600), st.floats(0, 3 * 3600),
              st.sampled_from(["", "a", "b", "c"])),
    st.tuples(st.just("exit"), st.floats(0, 3600), st.just(0.0), st.sampled_from(["a", "b"])),
), max_size=60)


def _drive(seq: list[tuple[str, float, float, str]], interval_min: float,
           gap: float, *, eu: bool = True) -> list[dict[str, Any]]:
    """Run ``seq`` through the pure timer; one entry per call with what was decided."""
    profile = attrs.evolve(CN, reminder_minutes=interval_min)
    state: dict[str, Any] | None = None
    t = 1_800_000_000.0
    out = []
    for kind, pause, duration, session in seq:
        t += pause
        if kind == "exit":
            state = timer.mark_exit(state, t, session)
            continue
        if timer.is_exited(state, session):
            out.append({"t": t, "refused": True, "session": session})
            continue
        before = state
        chosen = [(profile, True, True)] + ([(EU, True, False)] if eu else [])
        state, due = timer.begin(state, t, session, chosen, gap)
        out.append({"t": t, "refused": False, "session": session, "due": due,
                    "state": state, "before": before})
        t += duration
        state = timer.end(state, t)
    return out


@given(seq=steps, interval=st.sampled_from([30.0, 120.0, 180.0]),
       gap=st.sampled_from([60.0, 900.0, 1800.0]))
def test_reminder_never_missed_and_never_early(seq: list[Any], interval: float,
                                               gap: float) -> None:
    """After each call at t: t - max(last reminder, start of continuous use) < interval; two
    reminders of one continuous period are at least the interval apart."""
    seconds = interval * 60
    last: tuple[float, float] | None = None  # (continuous start, reminder time)
    for call in _drive(seq, interval, gap):
        if call["refused"]:
            continue
        mine = call["state"]["p"]["cn-anthropomorphic"]
        cs = float(call["state"]["cs"])
        assert call["t"] - max(cs, float(mine.get("r", cs))) < seconds
        if any(d.kind == "reminder" for d in call["due"]):
            assert call["t"] - cs >= seconds
            if last is not None and last[0] == cs:
                assert call["t"] - last[1] >= seconds
            last = (cs, call["t"])


@given(seq=steps)
def test_disclosures_first_use_once_and_each_new_session(seq: list[Any]) -> None:
    """The EU profile discloses exactly once (first interaction); CN discloses at the first
    call and at each call that opens a session different from the previous one."""
    served = [c for c in _drive(seq, 120.0, 1800.0) if not c["refused"]]
    eu = [c for c in served if any(d.profile == "eu-art50" for d in c["due"])]
    assert len(eu) == (1 if served else 0)
    if served:
        assert eu[0] is served[0]
    for i, call in enumerate(served):
        cn = [d for d in call["due"] if d.profile == "cn-anthropomorphic"
              and d.kind == "disclosure"]
        prev = (call["before"] or {}).get("sid")
        expected = i == 0 or prev != call["session"]
        assert bool(cn) == expected


@given(seq=steps)
def test_an_ended_session_stays_ended(seq: list[Any]) -> None:
    """A call in a session the user ended is refused, and one in any other session is not."""
    ended: set[str] = set()
    calls = iter(_drive(seq, 120.0, 1800.0))
    for kind, _pause, _duration, session in seq:
        if kind == "exit":
            ended.add(session)
            continue
        call = next(calls)
        assert call["refused"] == (session in ended and session != "")


@given(pauses=st.lists(st.integers(0, 40), min_size=1, max_size=30))
def test_service_matches_the_pure_timer_on_sqlite(tmp_path_factory: Any,
                                                  pauses: list[int]) -> None:
    """The service over SQLite decides what the pure timer decides (minutes between calls
    of 5 minutes each; 15-minute idle gap; 30-minute reminders)."""
    db = Path(tmp_path_factory.mktemp("t")) / "s.db"
    clock = FrozenClock("2026-07-20T04:00:00+00:00")
    records: list[tuple[str, dict[str, Any]]] = []
    settings = InteractionSettings(
        profiles=(attrs.evolve(CN, reminder_minutes=30),), idle_gap_minutes=15)
    service = Interaction(settings, store=f"sqlite:///{db}", clock=clock,
                          record=lambda kind, payload, subject=None: records.append(
                              (kind, payload)), keyer=b"k" * 32)
    user = Subject("p1", birth_date="1990-01-01", session_id="s")
    seq = [("call", p * 60.0, 300.0, "s") for p in pauses]
    expected = [[d.kind for d in c["due"]] for c in _drive(seq, 30.0, 900.0, eu=False)]
    got = []
    for p in pauses:
        clock.advance(minutes=p)
        adm = service.admit(user)
        service.notify(adm)
        got.append([d.kind for d in adm.due])
        clock.advance(minutes=5)
        service.release(adm, clock.now())
    service.close()
    assert got == expected
    assert len(records) == sum(len(g) for g in got)



_ago = st.sampled_from([0.0, 30.0, 600.0, 1799.0, 1800.0, 7200.0, 10800.0]) | st.floats(
    0, 5 * 3600)
#: a subject's state as the stores hold it, each time some seconds before the call
states = st.fixed_dictionaries(
    {"cs": _ago, "ls": _ago, "sid": st.sampled_from(["a", "a", "b"]), "p": st.dictionaries(
        st.sampled_from([CN.name, EU.name]),
        st.fixed_dictionaries({}, optional={"d": _ago, "ds": st.sampled_from(["a", "b"]),
                                            "r": _ago}))},
    optional={"dep": _ago})


@settings(max_examples=400)
@given(state=states, interval=st.sampled_from([30.0, 120.0, 180.0]),
       gap=st.sampled_from([60.0, 900.0, 1800.0]), session=st.sampled_from(["a", "a", "b"]),
       eu=st.booleans(), remind=st.booleans(), disclose=st.booleans())
def test_quiet_only_when_begin_shows_and_changes_nothing(
        state: dict[str, Any], interval: float, gap: float, session: str, eu: bool,
        remind: bool, disclose: bool) -> None:
    """The quick admission's shortcut (``quiet``) may answer "quiet" only for a call that
    ``begin`` would give no notice and whose state it would change in ``ls`` alone: else a
    due reminder or disclosure would be skipped. And the common quiet call takes it."""
    at = 1_800_000_000.0
    state = {k: (at - v if isinstance(v, float) else v) for k, v in state.items()}
    state["p"] = {name: {k: (at - v if isinstance(v, float) else v) for k, v in mine.items()}
                  for name, mine in state.get("p", {}).items()}
    profile = attrs.evolve(CN, reminder_minutes=interval)
    chosen = [(profile, disclose, remind)] + ([(EU, True, False)] if eu else [])
    quiet = timer.quiet(state, at, session, chosen, gap)
    new, due = timer.begin(state, at, session, chosen, gap)
    changed = {k for k in set(new) | set(state) if k != "ls" and new.get(k) != state.get(k)}
    if quiet:
        assert due == [] and changed == set()
    elif not due and not changed:  # the shortcut is conservative only past the idle gap
        assert at - state["ls"] > gap
