"""The illegal-use ladder (IM-14b, SR-14): warn → limit functions → suspend → terminate.

The decisions are one pure function, :func:`transition`, from a :class:`Standing` and an
event to the next standing and the ledger records the step needs (STYLE 5: the logic written
once). :class:`Escalation` drives it over a state store chosen by URI, each step an atomic
read-modify-write so that replicas never lose a count:

* ``memory://`` — one process (a lock);
* ``sqlite:///…`` — one host (``BEGIN IMMEDIATE`` on the store's table in that file);
* ``postgresql://…`` — every replica (``SELECT … FOR UPDATE``);
* ``redis://…`` — every replica (``WATCH``/``MULTI``/``EXEC``, retried on conflict).

The store owns that atomicity (:meth:`genai_compliance.stores.Store.update`); a standing is
one JSON document at ``gc:escalation:<prefix><pseudonym>``.

.. versionchanged:: 0.2 standings live in the store's key-value table; the former
   ``gc_escalation`` table is moved there when the ladder is built (and renamed
   ``gc_escalation_migrated``), so a deployment keeps every subject's standing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from ..clock import SHANGHAI, Clock, SystemClock
from ..errors import ConfigurationError, RecordNotFound
from ..ledger import Entry, Ledger
from ..rules import implements
from ..stores import (
    PostgreSQLStore,
    SQLDatabase,
    SQLiteStore,
    SQLStore,
    Store,
    open_store,
    redact_uri,
    require_capabilities,
)
from ..subject import Subject

__all__ = [
    "LEVELS",
    "Escalation",
    "EscalationPolicy",
    "Standing",
    "transition",
]

#: the ladder, lowest first
LEVELS: tuple[str, ...] = ("none", "warned", "limited", "suspended", "terminated")
_RANK = {name: i for i, name in enumerate(LEVELS)}

Event = Literal["illegal", "clean", "appeal", "uphold", "reject", "impose"]
Step = tuple[str, dict[str, Any]]


@attrs.frozen
class EscalationPolicy:
    """Thresholds and windows of the ladder; configured in ``[incidents.escalation]``.

    Defaults follow TC260-003 (SR-14, tag [K]): 3 illegal or inducing inputs in a row, or
    5 in a day, suspend the service. Below that a first illegal input warns and a second in
    a row limits functions; the third suspension terminates.

    :param warn_after: consecutive illegal inputs that warn.
    :param limit_after: consecutive illegal inputs that limit functions.
    :param suspend_consecutive: consecutive illegal inputs that suspend.
    :param suspend_daily: illegal inputs in the window that suspend.
    :param window_hours: the window of ``suspend_daily``: ``None`` is the local calendar day
        (SR-14's "per day"), a number a rolling window of that many hours.
    :param suspend_days: how long a suspension lasts; afterwards the subject is ``limited``.
    :param terminate_after_suspensions: the suspension that terminates instead (3: the third).
    :param reset_after_days: a warned or limited subject with no illegal input for this long
        returns to ``none`` (``None``: never).
    :param limited_modalities: modalities refused while ``limited``.
    :param limited_functions: guarded function names refused while ``limited``.
    :param count_output_blocks: whether an output blocked by moderation counts as an
        inducing input of the caller (SR-14 "illegal or inducing").
    """

    warn_after: int = 1
    limit_after: int = 2
    suspend_consecutive: int = 3
    suspend_daily: int = 5
    window_hours: float | None = None
    suspend_days: float = 7
    terminate_after_suspensions: int = 3
    reset_after_days: float | None = 30
    limited_modalities: tuple[str, ...] = ("image", "audio", "video")
    limited_functions: tuple[str, ...] = ()
    count_output_blocks: bool = True

    def __attrs_post_init__(self) -> None:
        for name in ("warn_after", "limit_after", "suspend_consecutive", "suspend_daily",
                     "terminate_after_suspensions"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"[incidents.escalation] {name} must be a whole "
                                         f"number >= 1, got {value!r}", field=name,
                                         value=value)
        if not self.warn_after <= self.limit_after <= self.suspend_consecutive:
            raise ConfigurationError(
                "[incidents.escalation] needs warn_after <= limit_after <= "
                f"suspend_consecutive, got {self.warn_after}, {self.limit_after}, "
                f"{self.suspend_consecutive}", field="limit_after", value=self.limit_after)
        for name in ("window_hours", "suspend_days", "reset_after_days"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                raise ConfigurationError(f"[incidents.escalation] {name} must be a positive "
                                         f"number, got {value!r}", field=name, value=value)
        if self.suspend_days is None:
            raise ConfigurationError("suspend_days cannot be empty", field="suspend_days",
                                     value=None)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> EscalationPolicy:
        """Build from ``[incidents.escalation]``; unknown keys are refused by name."""
        known = {a.name for a in attrs.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigurationError(f"unknown [incidents.escalation] keys {unknown}; known: "
                                     f"{', '.join(sorted(known))}", field="escalation",
                                     value=unknown)
        data = dict(settings)
        for key in ("limited_modalities", "limited_functions"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


@attrs.frozen
class Standing:
    """A subject's place on the ladder.

    ``recent`` holds the times of the illegal inputs still inside the window (at most
    ``suspend_daily`` of them); ``appeal`` the SHA-256 of a pending appeal's reason.
    """

    level: str = "none"
    consecutive: int = 0
    recent: tuple[dt.datetime, ...] = ()
    suspensions: int = 0
    until: dt.datetime | None = None
    last_illegal: dt.datetime | None = None
    since: dt.datetime | None = None
    appeal: str | None = None

    def window_count(self, now: dt.datetime, policy: EscalationPolicy,
                     tz: dt.tzinfo = SHANGHAI) -> int:
        """Illegal inputs counted towards ``suspend_daily`` at ``now``."""
        return len(_in_window(self.recent, now, policy, tz))

    def to_json(self) -> dict[str, Any]:
        def iso(t: dt.datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {"level": self.level, "consecutive": self.consecutive,
                "recent": [t.isoformat() for t in self.recent],
                "suspensions": self.suspensions, "until": iso(self.until),
                "last_illegal": iso(self.last_illegal), "since": iso(self.since),
                "appeal": self.appeal}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Standing:
        def when(v: Any) -> dt.datetime | None:
            return dt.datetime.fromisoformat(v) if v else None

        return cls(level=data["level"], consecutive=int(data["consecutive"]),
                   recent=tuple(dt.datetime.fromisoformat(t) for t in data["recent"]),
                   suspensions=int(data["suspensions"]), until=when(data.get("until")),
                   last_illegal=when(data.get("last_illegal")), since=when(data.get("since")),
                   appeal=data.get("appeal"))


def _in_window(times: tuple[dt.datetime, ...], now: dt.datetime, policy: EscalationPolicy,
               tz: dt.tzinfo) -> tuple[dt.datetime, ...]:
    if policy.window_hours is None:
        today = now.astimezone(tz).date()
        return tuple(t for t in times if t.astimezone(tz).date() == today)
    start = now - dt.timedelta(hours=policy.window_hours)
    return tuple(t for t in times if start < t <= now)


def _action(old: Standing, new: Standing, reason: str) -> Step:
    return ("illegal_use.action", {
        "level": new.level, "previous": old.level, "reason": reason,
        "until": new.until.isoformat() if new.until else None,
        "suspensions": new.suspensions, "rules": ["IM-14b", "SR-14"]})


def settle(s: Standing, now: dt.datetime, policy: EscalationPolicy) -> tuple[Standing,
                                                                              list[Step]]:
    """Apply what time alone changes: an ended suspension steps down to ``limited``; a
    quiet period returns a warned or limited subject to ``none``."""
    steps: list[Step] = []
    if s.level == "suspended" and s.until is not None and now >= s.until:
        new = attrs.evolve(s, level="limited", until=None, since=s.until)
        steps.append(_action(s, new, "suspension_ended"))
        s = new
    if (s.level in ("warned", "limited") and policy.reset_after_days is not None
            and s.last_illegal is not None and s.appeal is None):
        quiet_end = max(s.last_illegal, s.since or s.last_illegal) + dt.timedelta(
            days=policy.reset_after_days)
        if now >= quiet_end:
            new = attrs.evolve(s, level="none", consecutive=0, recent=(), since=quiet_end)
            steps.append(_action(s, new, "quiet_period"))
            s = new
    return s, steps


#: the standing of a subject with no history (frozen: shared)
_CLEAN = Standing()


@implements("IM-14b", "SR-14")
def transition(s: Standing, event: Event, *, now: dt.datetime, policy: EscalationPolicy,
               tz: dt.tzinfo = SHANGHAI, risk: str | None = None, reason: str = "",
               level: str | None = None) -> tuple[Standing, list[Step]]:
    """The next standing after ``event`` and the ledger records (kind, payload) it needs.

    Events: ``illegal`` (an illegal or inducing input), ``clean`` (an ordinary input),
    ``appeal`` (the subject contests the measure), ``uphold`` / ``reject`` (the appeal is
    decided), ``impose`` (an operator sets ``level`` directly, e.g. terminates at once).
    """
    s, steps = settle(s, now, policy)
    if event == "clean":
        return (attrs.evolve(s, consecutive=0) if s.consecutive else s), steps
    if event == "illegal":
        recent = _in_window((*s.recent, now), now, policy, tz)[-policy.suspend_daily:]
        new = attrs.evolve(s, consecutive=s.consecutive + 1, recent=recent, last_illegal=now)
        count = len(recent)
        steps.append(("illegal_use.input", {"risk": risk, "consecutive": new.consecutive,
                                            "window_count": count}))
        target = s.level
        if s.level in ("suspended", "terminated"):
            pass  # already out of service; the input is recorded, the measure stands
        elif new.consecutive >= policy.suspend_consecutive or count >= policy.suspend_daily:
            if s.suspensions + 1 >= policy.terminate_after_suspensions:
                target = "terminated"
                new = attrs.evolve(new, suspensions=s.suspensions + 1, until=None)
            else:
                target = "suspended"
                new = attrs.evolve(new, suspensions=s.suspensions + 1, consecutive=0,
                                   recent=(), until=now + dt.timedelta(days=policy.suspend_days))
        elif new.consecutive >= policy.limit_after and _RANK[s.level] < _RANK["limited"]:
            target = "limited"
        elif new.consecutive >= policy.warn_after and _RANK[s.level] < _RANK["warned"]:
            target = "warned"
        if target != s.level:
            new = attrs.evolve(new, level=target, since=now)
            why = ("consecutive" if s.consecutive + 1 >= policy.suspend_consecutive
                   or target in ("warned", "limited") else "window")
            steps.append(_action(s, new, why))
        return new, steps
    if event == "appeal":
        if s.level == "none":
            raise ConfigurationError("there is no measure to appeal: the subject's standing "
                                     "is 'none'", field="level", value=s.level)
        if s.appeal is not None:
            raise ConfigurationError("an appeal is already pending; decide it first",
                                     field="appeal", value=s.appeal)
        digest = hashlib.sha256(reason.encode("utf-8")).hexdigest()
        steps.append(("illegal_use.appeal", {"level": s.level, "reason_sha256": digest}))
        return attrs.evolve(s, appeal=digest), steps
    if event in ("uphold", "reject"):
        if s.appeal is None:
            raise RecordNotFound("no appeal is pending for this subject", value=s.level)
        if event == "reject":
            steps.append(("illegal_use.appeal_decided", {"upheld": False, "level": s.level,
                                                         "note": reason}))
            return attrs.evolve(s, appeal=None), steps
        back = s.suspensions - 1 if s.level in ("suspended", "terminated") else s.suspensions
        new = Standing(level="none", suspensions=max(0, back), since=now)
        steps.append(("illegal_use.appeal_decided", {"upheld": True, "level": "none",
                                                     "previous": s.level, "note": reason}))
        steps.append(_action(s, new, "appeal_upheld"))
        return new, steps
    if event == "impose":
        if level not in _RANK:
            raise ConfigurationError(f"level must be one of {', '.join(LEVELS)}; got {level!r}",
                                     field="level", value=level)
        new = attrs.evolve(s, level=level, since=now, appeal=None,
                           until=(now + dt.timedelta(days=policy.suspend_days)
                                  if level == "suspended" else None),
                           suspensions=s.suspensions + (level == "suspended"))
        if level == "none":
            new = attrs.evolve(new, consecutive=0, recent=())
        steps.append(_action(s, new, "imposed: " + reason if reason else "imposed"))
        return new, steps
    raise ConfigurationError(f"unknown escalation event {event!r}", field="event", value=event)


# -- the state store ---------------------------------------------------------------------
#: where a standing lives in the store: this + the key prefix + the subject's pseudonym
_KEY = "gc:escalation:"


def _state_store(target: str | Store | SQLDatabase) -> tuple[Store, bool]:
    """The store behind a URI (opened here, so owned), an opened store, or a database
    (its ``gc_kv`` table); the former ``gc_escalation`` table is moved into it once."""
    owned = isinstance(target, str)
    if isinstance(target, str):
        store = open_store(target)
    elif isinstance(target, SQLDatabase):
        store = PostgreSQLStore(target) if target.dialect == "postgresql" else SQLiteStore(target)
    else:
        store = target
    require_capabilities(store, "atomic", purpose="the illegal-use ladder")
    if isinstance(store, SQLStore):  # standings kept before 0.2 (issue 14)
        store.adopt_table("gc_escalation", key_column="subject", value_column="state",
                          key_prefix=_KEY)
    return store, owned


@implements("IM-14b", "SR-14")
class Escalation:
    """The per-subject illegal-use ladder, with appeals; every step a ledger record.

    :param state: where standings live: a URI (``memory://``, ``sqlite:///…``,
        ``postgresql://…``, ``redis://…``), an opened store or a :class:`SQLDatabase`.
    :param key_prefix: prefix of the subjects' keys (tenants or tests sharing one store).
    :param max_staleness: seconds a standing read from a shared store may be reused without
        reading it again (a suspension made by another replica is seen within this bound;
        this replica's own changes at once); ``0`` reads every time.

    .. versionchanged:: 0.2 ``max_staleness`` (default 2 s): the guard's hot path reads a
       clean subject's standing without I/O.
    """

    def __init__(self, state: str | Store | SQLDatabase, ledger: Ledger, *,
                 policy: EscalationPolicy | None = None, clock: Clock | None = None,
                 tz: dt.tzinfo = SHANGHAI, key_prefix: str = "",
                 max_staleness: float = 2.0) -> None:
        if max_staleness < 0:
            raise ConfigurationError(
                f"max_staleness must be >= 0 seconds, got {max_staleness}",
                field="incidents.standing_max_staleness", value=max_staleness)
        self.store, self._owns_store = _state_store(state)
        self.key_prefix = key_prefix
        self.ledger = ledger
        self.policy = policy or EscalationPolicy()
        self.clock: Clock = clock or SystemClock()
        self.tz = tz
        self.max_staleness = float(max_staleness)
        # pseudonym -> (clock.monotonic() when read or written, the stored document)
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._cache_lock = threading.Lock()

    @property
    def uri(self) -> str:
        """The state store's URI (credentials redacted)."""
        return redact_uri(self.store.uri)

    @property
    def blocking(self) -> bool:
        """Whether reading a standing does I/O (false for ``memory://``)."""
        return self.store.blocking

    def _key(self, subject: Subject | str) -> str:
        return _KEY + self.key_prefix + self.ledger.pseudonym(subject)

    def _read(self, key: str) -> dict[str, Any] | None:
        raw = self.store.get(key)
        return None if raw is None else dict(json.loads(raw))

    # -- the read cache (bounded staleness) ------------------------------------------------
    def _remember(self, key: str, raw: dict[str, Any] | None) -> None:
        if self.max_staleness <= 0:
            return
        with self._cache_lock:
            if len(self._cache) >= 100_000:
                self._cache.clear()
            self._cache[key] = (self.clock.monotonic(), raw)

    def _cached(self, key: str) -> tuple[bool, dict[str, Any] | None]:
        if self.max_staleness <= 0:
            return False, None
        with self._cache_lock:
            hit = self._cache.get(key)
        if hit is None or self.clock.monotonic() - hit[0] > self.max_staleness:
            return False, None
        return True, hit[1]

    def _load(self, key: str) -> dict[str, Any] | None:
        found, raw = self._cached(key)
        if not found:
            raw = self._read(key)
            self._remember(key, raw)
        return raw

    def cached_standing(self, subject: Subject | str) -> Standing | None:
        """The standing from the read cache, without I/O; ``None`` when it must be read."""
        found, raw = self._cached(self._key(subject))
        if not found:
            return None
        s = Standing.from_json(raw) if raw else _CLEAN
        return settle(s, self.clock.now(), self.policy)[0]

    def clean_input_is_noop(self, subject: Subject | str) -> bool:
        """Whether counting a clean input for ``subject`` would change nothing, known from
        the cache alone (so the guard need not leave the event loop to count it)."""
        found, raw = self._cached(self._key(subject))
        if not found:
            return False
        stored = Standing.from_json(raw) if raw else _CLEAN
        return stored.consecutive == 0 and settle(stored, self.clock.now(),
                                                  self.policy)[0] == stored

    def standing(self, subject: Subject | str) -> Standing:
        """The subject's standing now (time-only changes applied, nothing written); read
        through the cache (at most ``max_staleness`` old)."""
        raw = self._load(self._key(subject))
        s = Standing.from_json(raw) if raw else _CLEAN
        return settle(s, self.clock.now(), self.policy)[0]

    def _apply(self, subject: Subject | str, event: Event, **kw: Any) -> Standing:
        now = self.clock.now()
        steps: list[Step] = []

        def fn(current: bytes | None) -> bytes:
            raw = json.loads(current) if current else None
            s = Standing.from_json(raw) if raw else _CLEAN
            new, found = transition(s, event, now=now, policy=self.policy, tz=self.tz, **kw)
            steps[:] = found
            return json.dumps(new.to_json()).encode()

        key = self._key(subject)
        if event == "clean":
            # the common case: most inputs are clean, so skip the write when nothing changes
            raw = self._load(key)
            stored = Standing.from_json(raw) if raw else _CLEAN
            if stored.consecutive == 0 and settle(stored, now, self.policy)[0] == stored:
                return stored
        written = self.store.update(key, fn)
        doc: dict[str, Any] = json.loads(written) if written else _CLEAN.to_json()
        self._remember(key, doc)
        new = Standing.from_json(doc)
        if steps:
            self.ledger.append_many([Entry(kind, payload, subject) for kind, payload in steps])
        return new

    def register_input(self, subject: Subject | str, *, illegal: bool,
                       risk: str | None = None) -> Standing:
        """Count one input: an illegal or inducing one climbs the ladder, a clean one
        breaks the run of consecutive illegal inputs."""
        return self._apply(subject, "illegal" if illegal else "clean", risk=risk)

    def appeal(self, subject: Subject | str, reason: str) -> Standing:
        """The subject contests the current measure (recorded; the measure stays)."""
        return self._apply(subject, "appeal", reason=reason)

    def decide_appeal(self, subject: Subject | str, *, upheld: bool,
                      note: str = "") -> Standing:
        """Decide a pending appeal: upheld restores normal service, rejected keeps the
        measure."""
        return self._apply(subject, "uphold" if upheld else "reject", reason=note)

    def impose(self, subject: Subject | str, level: str, *, reason: str = "") -> Standing:
        """An operator sets the subject's level directly (e.g. terminates for a grave case,
        or lifts a measure with ``"none"``)."""
        return self._apply(subject, "impose", level=level, reason=reason)

    def close(self) -> None:
        """Close the state store when this ladder opened it from a URI."""
        if self._owns_store:
            self.store.close()
