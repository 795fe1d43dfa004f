"""The disclosure-and-reminder decisions, written once and I/O-free (STYLE 5).

A subject's state is a small JSON document (times are epoch seconds)::

    {"cs": 1767240000.0,           start of the current period of continuous use
     "ls": 1767243600.0,           end of the last call seen (or start of one in flight)
     "sid": "s-2",                 the session the last call belonged to
     "dep": 1767243000.0,          an over-dependence signal not yet answered
     "ex": {"s-1": 1767241000.0},  sessions the user ended (AN-EXIT), newest kept
     "p": {"cn-anthropomorphic": {"d": …, "ds": "s-2", "r": …}}}

``d`` is the last disclosure, ``ds`` the session it was for, ``r`` the last continuous-use
reminder. :func:`begin` decides a call's notices and returns the new state; :func:`end`
extends the continuous period by the call's duration; :func:`mark_exit` ends a session.
The stores (:mod:`._state`) run these inside one atomic read-modify-write.

Invariant (property-tested): after :func:`begin` at time ``t`` for a profile that reminds
every ``I`` seconds, ``t - max(r, cs) < I`` — no call is served once a reminder is due
without it, and two reminders of one continuous period are at least ``I`` apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from ._profiles import Profile

__all__ = ["Due", "begin", "end", "is_exited", "mark_exit", "quiet", "signal"]

#: how many ended sessions a subject's state remembers
MAX_EXITED = 16


@attrs.frozen
class Due:
    """One notice a call must show: ``kind`` is ``"disclosure"`` or ``"reminder"``;
    ``trigger`` says why (``first-use``, ``session``, ``dependence``, ``continuous-use``)."""

    profile: str
    kind: str
    trigger: str
    continuous_seconds: float


def is_exited(state: dict[str, Any] | None, session: str) -> bool:
    """Whether the user ended ``session`` (only sessions with an id stay ended)."""
    return bool(session) and state is not None and session in state.get("ex", {})


def begin(state: dict[str, Any] | None, at: float, session: str,
          profiles: Sequence[tuple[Profile, bool, bool]],
          idle_gap: float) -> tuple[dict[str, Any], list[Due]]:
    """The notices due for a call starting at ``at`` and the state after it.

    ``profiles`` are ``(profile, disclose_to_this_user, remind_this_user)`` (the audience
    already applied). Nothing is shown for a session the user ended: the caller refuses
    such a call before asking (:func:`is_exited`).
    """
    new: dict[str, Any] = {k: v for k, v in (state or {}).items()}
    last = new.get("ls")
    if last is None or at - float(last) > idle_gap:
        new["cs"] = at
    cs = float(new["cs"])
    new["ls"] = max(at, float(last)) if last is not None else at
    new_session = new.get("sid") != session
    new["sid"] = session
    dependence = new.pop("dep", None) is not None
    per: dict[str, Any] = {k: dict(v) for k, v in new.get("p", {}).items()}
    due: list[Due] = []
    continuous = max(0.0, at - cs)
    for profile, disclose, remind in profiles:
        mine = per.setdefault(profile.name, {})
        if disclose:
            trigger = None
            shown = mine.get("d")
            if shown is None:
                if profile.disclose_first_use:
                    trigger = "first-use"
            elif (profile.disclose_on_session and new_session
                  and at - float(shown) >= profile.session_cooldown_minutes * 60):
                trigger = "session"
            if trigger is None and dependence and profile.disclose_on_dependence:
                trigger = "dependence"
            if trigger is not None:
                mine["d"], mine["ds"] = at, session
                due.append(Due(profile.name, "disclosure", trigger, continuous))
        if remind and profile.reminder_minutes is not None:
            interval = profile.reminder_minutes * 60
            since = max(cs, float(mine.get("r", cs)))
            if at - since >= interval:
                mine["r"] = at
                due.append(Due(profile.name, "reminder", "continuous-use", continuous))
    new["p"] = per
    return new, due


def quiet(state: dict[str, Any], at: float, session: str,
          profiles: Sequence[tuple[Profile, bool, bool]], idle_gap: float) -> bool:
    """True only when :func:`begin` would show nothing and change nothing but ``ls`` (most
    calls: same session, within the idle gap, every notice shown and no reminder due) —
    decided without copying the state. False means "ask :func:`begin`", never "something
    is due": it may be False for a call that is quiet after all (property-tested against
    :func:`begin`)."""
    last = state.get("ls")
    cs = state.get("cs")
    if (last is None or cs is None or at - last > idle_gap or state.get("sid") != session
            or "dep" in state):
        return False
    per = state.get("p")
    if per is None:
        return False
    for profile, disclose, remind in profiles:
        mine = per.get(profile.name)
        if mine is None:
            return False
        if disclose and mine.get("d") is None:
            return False
        if remind and profile.reminder_minutes is not None:
            since = max(cs, mine.get("r", cs))
            if at - since >= profile.reminder_minutes * 60:
                return False
    return True


def end(state: dict[str, Any] | None, at: float) -> dict[str, Any]:
    """The state after a call that ended at ``at`` (its time counts as use)."""
    new = dict(state or {})
    last = new.get("ls")
    new["ls"] = at if last is None else max(float(last), at)
    new.setdefault("cs", at)
    return new


def mark_exit(state: dict[str, Any] | None, at: float, session: str) -> dict[str, Any]:
    """The state after the user ended ``session`` at ``at``. Ending the current session
    ends the period of continuous use there and makes the next call a new interaction
    (disclosed again as a re-login); a session with an id stays ended."""
    new = dict(state or {})
    if new.get("sid", session) == session:
        new["ls"] = at
        new["cs"] = at
        new.pop("sid", None)
    if session:
        ended = dict(new.get("ex", {}))
        ended[session] = at
        while len(ended) > MAX_EXITED:
            ended.pop(min(ended, key=lambda s: ended[s]))
        new["ex"] = ended
    return new


def signal(state: dict[str, Any] | None, at: float) -> dict[str, Any]:
    """The state after an over-dependence signal: the next call discloses again."""
    new = dict(state or {})
    new["dep"] = at
    return new
