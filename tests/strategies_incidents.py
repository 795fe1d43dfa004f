"""Hypothesis strategies and simple reference models for the incidents tests (IM-14b, IM-15).

The models are written from the rules' plain wording, separately from the package's own
``transition`` function, so a property test compares two independent readings.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from genai_compliance.incidents import EscalationPolicy

TZ = dt.timezone(dt.timedelta(hours=8))

# -- the illegal-use ladder --------------------------------------------------------------
LadderOp = tuple[str, Any]

ladder_ops = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["illegal", "illegal", "illegal", "clean", "clean"]),
                  st.none()),
        st.tuples(st.just("advance"), st.sampled_from([0.5, 3, 7, 13, 25, 24 * 8, 24 * 31])),
        st.tuples(st.sampled_from(["appeal", "uphold", "reject"]), st.none()),
        st.tuples(st.just("impose"), st.sampled_from(
            ["none", "warned", "limited", "suspended", "terminated"])),
    ),
    max_size=40,
)

policies = st.builds(
    lambda warn, extra_limit, extra_susp, daily, window, days, term, reset: EscalationPolicy(
        warn_after=warn, limit_after=warn + extra_limit,
        suspend_consecutive=warn + extra_limit + extra_susp, suspend_daily=daily,
        window_hours=window, suspend_days=days, terminate_after_suspensions=term,
        reset_after_days=reset),
    st.integers(1, 2), st.integers(0, 2), st.integers(0, 2), st.integers(1, 6),
    st.sampled_from([None, None, 6.0, 24.0]), st.sampled_from([1, 7]), st.integers(1, 4),
    st.sampled_from([None, 30, 2]),
)


class LadderModel:
    """SR-14 read plainly: count runs and a day's total; warn, limit, suspend, terminate."""

    def __init__(self, policy: EscalationPolicy, tz: dt.tzinfo = TZ) -> None:
        self.p, self.tz = policy, tz
        self.level = "none"
        self.run = 0
        self.times: list[dt.datetime] = []
        self.suspensions = 0
        self.until: dt.datetime | None = None
        self.last: dt.datetime | None = None
        self.since: dt.datetime | None = None
        self.pending = False
        self.changes = 0  # level changes a write would record

    def _same_window(self, t: dt.datetime, now: dt.datetime) -> bool:
        if self.p.window_hours is None:
            return t.astimezone(self.tz).date() == now.astimezone(self.tz).date()
        return now - dt.timedelta(hours=self.p.window_hours) < t <= now

    def _time(self, now: dt.datetime) -> None:
        if self.level == "suspended" and self.until is not None and now >= self.until:
            self.level, self.since, self.until = "limited", self.until, None
            self.changes += 1
        if (self.level in ("warned", "limited") and self.p.reset_after_days is not None
                and self.last is not None and not self.pending):
            assert self.since is not None
            end = max(self.last, self.since) + dt.timedelta(days=self.p.reset_after_days)
            if now >= end:
                self.level, self.run, self.times, self.since = "none", 0, [], end
                self.changes += 1

    def peek(self, now: dt.datetime) -> str:
        """The level a read at ``now`` shows (without recording anything)."""
        saved = (self.level, self.run, list(self.times), self.since, self.until, self.changes)
        self._time(now)
        level = self.level
        (self.level, self.run, self.times, self.since, self.until, self.changes) = saved
        return level

    def set_level(self, level: str, now: dt.datetime) -> None:
        if level != self.level:
            self.changes += 1
        self.level, self.since = level, now

    def illegal(self, now: dt.datetime) -> None:
        self._time(now)
        self.run += 1
        self.last = now
        self.times = [t for t in [*self.times, now] if self._same_window(t, now)]
        if self.level in ("suspended", "terminated"):
            return
        if self.run >= self.p.suspend_consecutive or len(self.times) >= self.p.suspend_daily:
            self.suspensions += 1
            if self.suspensions >= self.p.terminate_after_suspensions:
                self.set_level("terminated", now)
                self.until = None
            else:
                self.set_level("suspended", now)
                self.until = now + dt.timedelta(days=self.p.suspend_days)
                self.run, self.times = 0, []
        elif self.run >= self.p.limit_after and self.level in ("none", "warned"):
            self.set_level("limited", now)
        elif self.run >= self.p.warn_after and self.level == "none":
            self.set_level("warned", now)

    def clean(self, now: dt.datetime) -> None:
        self._time(now)
        self.run = 0

    def _snapshot(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in vars(self).items()}

    def appeal(self, now: dt.datetime) -> bool:
        """Whether the appeal is accepted; a refused one changes (and records) nothing."""
        saved = self._snapshot()
        self._time(now)
        if self.level == "none" or self.pending:
            self.__dict__.update(saved)
            return False
        self.pending = True
        return True

    def decide(self, now: dt.datetime, upheld: bool) -> bool:
        saved = self._snapshot()
        self._time(now)
        if not self.pending:
            self.__dict__.update(saved)
            return False
        self.pending = False
        if upheld:
            if self.level in ("suspended", "terminated"):
                self.suspensions = max(0, self.suspensions - 1)
            self.set_level("none", now)
            self.since = now
            self.run, self.times, self.until, self.last = 0, [], None, None
        return True

    def impose(self, now: dt.datetime, level: str) -> None:
        self._time(now)
        self.changes += 1  # an imposed level is always recorded, even when unchanged
        self.level, self.since, self.pending = level, now, False
        self.until = now + dt.timedelta(days=self.p.suspend_days) if level == "suspended" \
            else None
        if level == "suspended":
            self.suspensions += 1
        if level == "none":
            self.run, self.times = 0, []


# -- complaints --------------------------------------------------------------------------
complaint_ops = st.lists(
    st.one_of(
        st.tuples(st.just("file"), st.sampled_from(["web", "app", "email", "phone"])),
        st.tuples(st.just("move"), st.tuples(
            st.integers(0, 5), st.sampled_from(["received", "acknowledged", "investigating",
                                                "replied", "closed", "withdrawn"]))),
        st.tuples(st.just("advance"), st.sampled_from([1, 3, 9, 30])),
        st.tuples(st.just("to_due"), st.tuples(st.integers(0, 5), st.sampled_from([0, 1]))),
        st.tuples(st.just("alerts"), st.none()),
    ),
    max_size=25,
)

#: IM-15 handling, read plainly: forward only, a reply may be reopened, closed is final
COMPLAINT_MOVES: dict[str, set[str]] = {
    "received": {"acknowledged", "investigating", "replied", "withdrawn"},
    "acknowledged": {"investigating", "replied", "withdrawn"},
    "investigating": {"replied", "withdrawn"},
    "replied": {"closed", "investigating"},
    "closed": set(),
    "withdrawn": set(),
}
