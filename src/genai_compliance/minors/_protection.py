"""``MinorProtection``: admit, time and release minors' calls; guardian controls and summaries.

The guard check (:class:`~genai_compliance.minors.MinorsCheck`) drives it; a provider may also
call :meth:`MinorProtection.admit` / :meth:`MinorProtection.release` around work it times
itself. Obligations: IM-10 (no over-reliance or addiction of minors), MM-final / MM-draft
(daily limits, 22:00-06:00 curfew, rest reminders, content bands), MN-43 / MN-44 (minors' mode,
guardian tools, anti-addiction), PI-28/31 and MN-PI (under 14: a guardian's consent first).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from .._exports import deprecated
from ..clock import SHANGHAI, Clock, SystemClock, local_midnight_after
from ..errors import (
    AgeVerificationRequired,
    ConfigurationError,
    GuardianBoundExceeded,
    GuardianConsentRequired,
    MinorCurfew,
    MinorQuotaExhausted,
    MinorRestricted,
    Refusal,
)
from ..rules import implements
from ..schemas import validate
from ..stores import MemoryStore, SQLStore, Store, open_store, require_capabilities, scripting
from ..subject import AgeBand, Guardian, Subject
from . import _machine as m
from ._keys import SubjectKeyer, guardian_pseudonym, minors_keys
from ._policy import (
    MINOR_BANDS,
    MinorPolicy,
    format_clock_time,
    parse_clock_time,
    seconds_of_day,
)

if TYPE_CHECKING:
    from ..context import DutyContext

__all__ = ["Admission", "AgeVerificationRequired", "DayUsage", "Exemption",
           "GuardianBoundExceeded", "MinorProtection", "UsageSummary"]

#: ``pause`` value meaning "until resumed".
INDEFINITE = 253402300799.0  # 9999-12-31T23:59:59Z
_CURFEW_RULES = ("IM-10", "MM-final", "MN-43", "MN-LAW")
_QUOTA_RULES = ("IM-10", "MM-final", "MN-44")
_GUARDIAN_RULES = ("MN-43", "MM-final")
_CONSENT_RULES = ("PI-28/31", "MN-PI")
_VERIFY_RULES = ("IM-10", "MM-final", "MM-age-unknown")
_ADJUST_RULES = ("MN-43", "MM-final", "MM-adjust")
_EXEMPT_RULES = ("MN-43", "MM-final", "MM-exempt")


class _Day:
    """What a local day means to the machine, worked out once per day (not per call): its
    ISO name, start and end (the next local midnight, epoch seconds), the history cutoff,
    the middle of an operation's arguments (day .. ttl, see :mod:`._machine`; ``compact``:
    without the lease and the ttl, which the script holds) and when the curfew starts on it
    and on the next day."""

    __slots__ = ("curfew_next", "curfew_today", "cutoff", "date", "end", "iso", "middle",
                 "start")

    def __init__(self, date: dt.date, tz: dt.tzinfo, policy: MinorPolicy,
                 constants: tuple[str, str, str, str], *, compact: bool = False) -> None:
        start = dt.datetime.combine(date, dt.time(0), tzinfo=tz)
        self.date = date
        self.iso = date.isoformat()
        self.start = start.timestamp()
        self.end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(0),
                                       tzinfo=tz).timestamp()  # local_midnight_after
        self.cutoff = (date - dt.timedelta(days=policy.history_days)).isoformat()
        lease, ttl, _brk, _remind = constants
        self.middle = (f"|{self.iso}|{m.fmt(self.start)}|{self.cutoff}|" if compact else
                       f"|{self.iso}|{m.fmt(self.start)}|{lease}|{self.cutoff}|{ttl}|")
        self.curfew_today = self.curfew_next = math.inf  # epoch seconds
        if policy.curfew is not None:
            self.curfew_today = dt.datetime.combine(date, policy.curfew[0],
                                                    tzinfo=tz).timestamp()
            self.curfew_next = dt.datetime.combine(date + dt.timedelta(days=1),
                                                   policy.curfew[0], tzinfo=tz).timestamp()


def _clean_id(call_id: str) -> str:
    """A call id as the machine takes it: ``|`` is the script's field separator."""
    return call_id.replace("|", "%7C") if "|" in call_id else call_id


def _sod(local: dt.datetime) -> float:
    """Local second of day of ``local`` (as :func:`._policy.seconds_of_day`)."""
    return (local.hour * 3600 + local.minute * 60 + local.second
            + local.microsecond / 1e6)


@attrs.frozen
class Exemption:
    """A guardian's time-boxed exemption (MM-exempt): from ``start`` until ``until`` (UTC)
    the daily quota and the guardian's windows do not refuse the minor, nor the curfew when
    ``curfew`` is true. Use during it is still charged to the day."""

    start: dt.datetime
    until: dt.datetime
    curfew: bool
    purpose: str

    @property
    def minutes(self) -> float:
        return (self.until - self.start).total_seconds() / 60

    def active(self, at: dt.datetime) -> bool:
        """Whether the exemption is in force at ``at`` (start inclusive, end exclusive)."""
        return self.start <= at < self.until


@attrs.frozen
class Admission:
    """A minor's call that was let through: when it started and when it must end.

    ``deadline`` is the instant the call must stop (quota used up, curfew, end of a
    guardian's window), ``deadline_reason`` which of them; ``None`` when nothing ends it.
    """

    subject: Subject
    key: str
    call_id: str
    band: AgeBand
    started: dt.datetime
    used_seconds: float
    limit_seconds: float
    continuous_seconds: float
    deadline: dt.datetime | None
    deadline_reason: str | None
    reminder: Mapping[str, Any] | None = None
    windows: str = ""
    #: the guardian's exemption in force when the call was admitted (MM-exempt)
    exemption: Exemption | None = None
    #: (charged up to, reminders given, local day) as the store replied, and the start
    #: (epoch seconds) and end of the local day it was admitted on: what a release needs
    #: to tell its result without asking the store (``release(wait=False)``)
    _basis: tuple[float, int, str, float, float] | None = attrs.field(
        default=None, repr=False, eq=False, kw_only=True)

    @property
    def remaining_seconds(self) -> float:
        return max(0.0, self.limit_seconds - self.used_seconds)

    @property
    def started_ts(self) -> float:
        return self.started.timestamp()


@attrs.frozen
class DayUsage:
    """Minutes used on one local day."""

    day: dt.date
    used_minutes: float


@attrs.frozen
class UsageSummary:
    """A minor's usage as a guardian sees it (MN-43); ``to_json`` follows
    ``schemas/minors-usage.schema.json``."""

    day: dt.date
    timezone: str
    band: AgeBand | None
    used_minutes: float
    limit_minutes: float | None
    policy_limit_minutes: float | None
    guardian_limit_minutes: float | None
    continuous_minutes: float
    in_flight: int
    paused_until: dt.datetime | None
    paused_indefinitely: bool
    allowed_windows: tuple[str, ...]
    history: tuple[DayUsage, ...]
    #: the guardian's exemption in force or scheduled, if any (MM-exempt)
    exemption: Exemption | None = None

    @property
    def remaining_minutes(self) -> float | None:
        if self.limit_minutes is None:
            return None
        return max(0.0, self.limit_minutes - self.used_minutes)

    def to_json(self) -> dict[str, Any]:
        paused: str | None = None
        if self.paused_indefinitely:
            paused = "indefinite"
        elif self.paused_until is not None:
            paused = self.paused_until.isoformat().replace("+00:00", "Z")
        doc: dict[str, Any] = {
            "day": self.day.isoformat(),
            "timezone": self.timezone,
            "band": None if self.band is None else self.band.value,
            "used_minutes": round(self.used_minutes, 3),
            "limit_minutes": self.limit_minutes,
            "policy_limit_minutes": self.policy_limit_minutes,
            "guardian_limit_minutes": self.guardian_limit_minutes,
            "remaining_minutes": (None if self.remaining_minutes is None
                                  else round(self.remaining_minutes, 3)),
            "continuous_minutes": round(self.continuous_minutes, 3),
            "in_flight": self.in_flight,
            "paused_until": paused,
            "allowed_windows": list(self.allowed_windows),
            "history": [{"day": d.day.isoformat(), "used_minutes": round(d.used_minutes, 3)}
                        for d in self.history],
        }
        if self.exemption is not None:
            x = self.exemption
            doc["exemption"] = {"from": x.start.isoformat().replace("+00:00", "Z"),
                                "until": x.until.isoformat().replace("+00:00", "Z"),
                                "curfew": x.curfew, "purpose": x.purpose}
        validate(doc, "minors-usage", what="usage summary")
        return doc


def _exemption(fields: Sequence[str]) -> Exemption | None:
    """The exemption in a machine reply's ``xfrom``, ``xuntil``, ``xcurfew`` (or a state's)."""
    if len(fields) < 2 or not fields[0] or not fields[1]:
        return None
    purpose = fields[3] if len(fields) > 3 else ""
    return Exemption(start=dt.datetime.fromtimestamp(float(fields[0]), dt.UTC),
                     until=dt.datetime.fromtimestamp(float(fields[1]), dt.UTC),
                     curfew=len(fields) > 2 and fields[2] == "1", purpose=purpose)


def _utc_text(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _window_text(win: str) -> tuple[str, ...]:
    out = []
    for part in win.split(","):
        if "-" in part:
            a, b = (float(x) for x in part.split("-", 1))
            out.append(f"{_hms(a)}-{_hms(b)}")
    return tuple(out)


def _sod_time(sod: float) -> dt.time:
    """Local second-of-day -> wall-clock time."""
    seconds, micro = divmod(round(sod * 1e6), 1_000_000)
    return dt.time(seconds // 3600 % 24, seconds // 60 % 60, seconds % 60, micro)


def _hms(sod: float) -> str:
    return format_clock_time(_sod_time(sod))


def _parse_windows(windows: Sequence[tuple[dt.time | str, dt.time | str] | str]) -> str:
    parts = []
    for item in windows:
        if isinstance(item, str):
            if "-" not in item:
                raise ConfigurationError(
                    f"an allowed window is written 'HH:MM-HH:MM', got {item!r}",
                    field="windows", value=item)
            start_text, end_text = item.split("-", 1)
            pair: tuple[dt.time | str, dt.time | str] = (start_text.strip(), end_text.strip())
        else:
            pair = item
        if len(pair) != 2:
            raise ConfigurationError(f"an allowed window is a (start, end) pair, got {item!r}",
                                     field="windows", value=item)
        start = seconds_of_day(parse_clock_time(pair[0], "windows"))
        end = seconds_of_day(parse_clock_time(pair[1], "windows"))
        if start == end:
            raise ConfigurationError(
                f"allowed window {item!r} is empty (start equals end); to block all use, "
                "pause instead", field="windows", value=item)
        parts.append(f"{m.fmt(start)}-{m.fmt(end)}")
    if not parts:
        raise ConfigurationError(
            "allowed windows must name at least one window; pass None to remove them, or "
            "pause the service to block it", field="windows", value=list(windows))
    return ",".join(parts)


class _GuardianLookup(Protocol):
    def has_guardian_consent(self, subject: Subject) -> bool: ...


class _FacadeWithConsent(Protocol):
    """The deprecated :meth:`MinorProtection.from_compliance` argument."""

    @property
    def context(self) -> DutyContext: ...

    @property
    def consent(self) -> _GuardianLookup: ...


def _consent_from(compliance: _FacadeWithConsent) -> Callable[[Subject], bool]:
    def has_guardian_consent(subject: Subject) -> bool:
        try:
            service = compliance.consent
        except ModuleNotFoundError as exc:
            raise ConfigurationError(
                "minors need a guardian-consent lookup for under-14s (PIPL Art. 31) and the "
                "consent module is not available; pass guardian_consent= to "
                "MinorProtection.from_context", field="guardian_consent") from exc
        return bool(service.has_guardian_consent(subject))

    return has_guardian_consent


@implements("IM-10", "MM-final", "MM-draft", "MN-43", "MN-44", "MN-LAW", "PI-28/31", "MN-PI",
            "MM-adjust", "MM-exempt", "MM-age-unknown")
class MinorProtection:
    """Minor protection across replicas: bands, daily quotas, curfew, reminders, guardians.

    :param policy: the :class:`MinorPolicy` (default: the ``final-2024`` profile).
    :param store: a store or store URI (``memory://``, ``sqlite:///…``, ``redis://…``);
        with more than one replica it must be shared (``redis://``).
    :param clock: the time source; ``tz`` the zone of curfews and day boundaries.
    :param record: appends a ledger record (``compliance.record``); guardian changes need it.
    :param guardian_consent: ``subject -> bool``, whether a guardian consented for an
        under-14 (wire to ``ConsentService.has_guardian_consent``). Without it every under-14
        is refused (fail closed).
    :param key_prefix: prefix of the store keys; ``key_secret`` keys the hash that turns user
        ids into store keys, so the store never holds a user id in clear (IM-11a).
    :param replicas: how many serving processes share the limits; above 1 the store must
        declare the ``shared`` capability.

    State is one map per subject: a Redis string updated by one registered script (one
    ``EVALSHA`` per operation), elsewhere a JSON document changed by the store's atomic
    :meth:`~genai_compliance.stores.Store.update`.

    .. versionchanged:: 0.2 the stores own atomicity (the private backend layer is gone);
       the former ``gc_minors_state`` table of a SQLite store is moved into the store once.
    """

    def __init__(
        self,
        policy: MinorPolicy | None = None,
        *,
        store: Store | str = "memory://",
        clock: Clock | None = None,
        tz: dt.tzinfo = SHANGHAI,
        record: Callable[..., Any] | None = None,
        guardian_consent: Callable[[Subject], bool] | None = None,
        key_prefix: str = "gc:minors",
        key_secret: bytes | None = None,
        replicas: int = 1,
        keyer: SubjectKeyer | None = None,
    ) -> None:
        self.policy = policy or MinorPolicy()
        self.store: Store = open_store(store) if isinstance(store, str) else store
        require_capabilities(self.store, "atomic", purpose="minor protection")
        if replicas > 1:
            require_capabilities(self.store, "shared",
                                 purpose=f"minor protection across {replicas} replicas")
        if isinstance(self.store, SQLStore):  # state kept before 0.2 (issue 14)
            self.store.adopt_table("gc_minors_state", key_column="key", value_column="state")
        p = self.policy
        self._constants = (m.fmt(p.lease_seconds), str(int((p.history_days + 2) * 86_400_000)),
                           m.fmt(p.rest_break_minutes * 60), m.fmt(p.rest_reminder_minutes * 60))
        script_store = scripting(self.store)
        #: the constants the script holds, so that a call's arguments leave without them
        #: (``m.pack``'s compact form, issue 19); None: every argument is sent
        self._wire: tuple[str, str, str, str] | None = None
        if script_store is not None and m.compact_arguments(self._constants):
            self._wire = self._constants
        self._script = (None if script_store is None else script_store.script(
            m.LUA if self._wire is None else m.lua_for(self._wire), batched=True))
        #: whether an operation does I/O (the async check leaves the event loop for it)
        self.blocking = self.store.blocking
        self.clock: Clock = clock or SystemClock()
        self.tz = tz
        self._record = record
        self.guardian_consent = guardian_consent
        self.key_prefix = key_prefix
        if keyer is not None:
            self._keyer: SubjectKeyer | bytes = keyer
        elif key_secret is not None:
            self._keyer = bytes(key_secret)
        elif isinstance(self.store, MemoryStore):
            # a per-process store: a per-object random secret keys it as well as any
            self._keyer = secrets.token_bytes(32)
        else:
            raise ConfigurationError(
                "minor protection on a shared store needs a secret to key subjects with "
                "(an unkeyed hash of a phone-number user id is reversed in seconds): build it "
                "with MinorProtection.from_context (the ledger's pseudonym secret), or pass "
                "key_secret= / set minors.key_secret_env", field="minors.key_secret_env")
        self._keys = minors_keys(self._keyer, key_prefix)  # validates the secret now
        self.replicas = replicas
        self._days: dict[dt.date, _Day] = {}
        #: per band: the end of an operation's arguments (limit .. ceiling) without and with
        #: the curfew flag, worked out once (the policy is frozen), not per call
        self._tails: dict[AgeBand, tuple[str, str]] = {}
        for band in MINOR_BANDS:
            limit, ceiling = p.limit_seconds(band), p.guardian_max_seconds(band)
            ceiling_text = m.fmt(ceiling) if math.isfinite(ceiling) else ""
            if self._wire is not None:  # compact: the ceiling's field is always there
                rest = f"|{ceiling_text}"
            else:
                rest = f"|{self._constants[2]}|{self._constants[3]}" + (
                    f"|{ceiling_text}" if ceiling_text else "")
            self._tails[band] = (f"|{m.fmt(limit)}|0{rest}", f"|{m.fmt(limit)}|1{rest}")

    @classmethod
    def from_context(cls, ctx: DutyContext, *,
                     guardian_consent: Callable[[Subject], bool]) -> MinorProtection:
        """Build from ``[minors]``, the ``minors`` store (atomic; shared when ``replicas``
        is above 1), the ledger (records and the subjects' key), clock and zone.
        ``guardian_consent`` answers whether a guardian consented for an under-14 (the
        facade passes ``consent.has_guardian_consent``; PI-28/31).

        .. versionadded:: 0.2
        """
        settings = ctx.section("minors")
        policy = MinorPolicy.from_settings(settings)
        secret = None
        env = settings.get("key_secret_env")
        if env:
            value = os.environ.get(env)
            if not value:
                raise ConfigurationError(
                    f"minors.key_secret_env names {env!r}, which is not set; export it or "
                    "remove the setting", field="minors.key_secret_env", value=env)
            secret = value.encode()
        replicas = int(settings.get("replicas", 1))
        return cls(
            policy,
            store=ctx.store("minors"),
            clock=ctx.clock,
            tz=ctx.tz,
            record=ctx.record,
            guardian_consent=guardian_consent,
            key_prefix=settings.get("key_prefix", "gc:minors"),
            key_secret=secret,
            keyer=None if secret is not None else ctx.ledger,
            replicas=replicas,
        )

    @classmethod
    def from_compliance(
        cls, compliance: _FacadeWithConsent, *,
        guardian_consent: Callable[[Subject], bool] | None = None,
    ) -> MinorProtection:
        """Deprecated: use :meth:`from_context`.

        .. deprecated:: 0.2
        """
        deprecated("MinorProtection.from_compliance",
                    "MinorProtection.from_context(compliance.context, "
                    "guardian_consent=compliance.consent.has_guardian_consent)")
        return cls.from_context(compliance.context,
                                guardian_consent=guardian_consent or _consent_from(compliance))

    # -- the store ----------------------------------------------------------------------
    def _run(self, key: str, argv: Sequence[str]) -> list[str]:
        """Run one :mod:`._machine` operation on ``key`` atomically: the registered script
        on a ``"script"`` store, else :func:`._machine.apply` inside ``Store.update``."""
        return self._run_line(key, m.pack(argv, self._wire))

    def _run_line(self, key: str, line: str) -> list[str]:
        """:meth:`_run` with the arguments already packed (:func:`._machine.pack`)."""
        if self._script is not None:
            return m.unpack(self._script([key], [line]))
        out: list[str] = []
        argv = m.argv_of(line)

        def step(current: bytes | None) -> bytes:
            state: dict[str, str] = json.loads(current.decode()) if current else {}
            out[:] = m.apply(state, argv)
            return json.dumps(state, separators=(",", ":")).encode()

        self.store.update(key, step)
        return out

    # -- who --------------------------------------------------------------------------
    def key(self, subject: Subject | str) -> str:
        """The store key of a subject: the ledger's keyed HMAC of the user id (or of the
        configured secret), never the id itself nor an unkeyed hash (issue 15). Derived
        once per user id and remembered (bounded)."""
        return self._keys(subject)

    def band(self, subject: Subject | None, at: dt.datetime | None = None) -> AgeBand:
        """The band whose rules apply to ``subject`` now, after the unknown-age setting.

        Raises :class:`AgeVerificationRequired` when the age is unknown and the policy says
        ``"refuse"`` (also for ``"minors-mode"`` when there is no subject to count time for);
        MM-age-unknown.
        """
        day = (at or self.clock.now()).astimezone(self.tz).date()
        band = None if subject is None else subject.band_on(day)
        if band is not None:
            return band
        return self._unknown_band(subject)

    def _unknown_band(self, subject: Subject | None) -> AgeBand:
        """The band a subject of unknown age is served under (or the refusal)."""
        mode = self.policy.unknown_age
        if mode == "adult":
            return AgeBand.ADULT
        if mode == "minors-mode" and subject is not None:
            return self.policy.strictest_band
        raise AgeVerificationRequired(
            "the user's age is unknown and this service verifies age before serving (minors' "
            "mode); ask for a birth date or a verified age band and pass it on the Subject",
            rules=_VERIFY_RULES, user_known=subject is not None)

    def moderation_profile(self, subject: Subject | None,
                           at: dt.datetime | None = None) -> str | None:
        """The stricter moderation profile for minors (``policy.moderation_profile``), or
        ``None`` for adults; read by the moderation check (IM-10, MM-final content bands)."""
        try:
            band = self.band(subject, at)
        except AgeVerificationRequired:
            return self.policy.moderation_profile
        return self.policy.moderation_profile if band.is_minor else None

    # -- time helpers -----------------------------------------------------------------
    def _day(self, date: dt.date) -> _Day:
        """The :class:`_Day` of local ``date`` (a few kept)."""
        found = self._days.get(date)
        if found is None:
            found = _Day(date, self.tz, self.policy, self._constants,
                         compact=self._wire is not None)
            if len(self._days) > 8:
                self._days.clear()
            self._days[date] = found
        return found

    def _argv(self, op: str, call_id: str, at: dt.datetime, *, x: float = 0.0,
              limit: float = 0.0, curfew: bool = False,
              ceiling: float | None = None) -> list[str]:
        """The machine's arguments; ``ceiling`` is the most a guardian's limit may reach for
        the subject's band (``guardian_max_daily_minutes``, MM-adjust). (The call path
        writes the same arguments as one string from per-day and per-band parts.)"""
        lease, ttl, brk, remind = self._constants
        local = at.astimezone(self.tz)
        day = self._day(local.date())
        argv = [op, _clean_id(call_id), m.fmt(at.timestamp()), day.iso, m.fmt(day.start),
                lease, day.cutoff, ttl, m.fmt(_sod(local) if op == "start" else x),
                m.fmt(limit), "1" if curfew else "0", brk, remind]
        if ceiling is not None and math.isfinite(ceiling):
            argv.append(m.fmt(ceiling))
        return argv

    def _next_local(self, at: dt.datetime, tod: dt.time) -> dt.datetime:
        """The first instant strictly after ``at`` whose local time is ``tod``."""
        local = at.astimezone(self.tz)
        cand = dt.datetime.combine(local.date(), tod, tzinfo=self.tz)
        if cand <= local:
            cand = dt.datetime.combine(local.date() + dt.timedelta(days=1), tod, tzinfo=self.tz)
        return cand.astimezone(dt.UTC)

    def _curfew_end_after(self, at: dt.datetime) -> dt.datetime:
        assert self.policy.curfew is not None
        return self._next_local(at, self.policy.curfew[1])

    def _quota_retry(self, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        midnight = local_midnight_after(at, self.tz)
        retry = midnight
        if self.policy.in_curfew(midnight.astimezone(self.tz).time()):
            retry = self._curfew_end_after(midnight)
        return retry, midnight

    # -- the call path ------------------------------------------------------------------
    def admit(
        self,
        subject: Subject | None,
        *,
        call_id: str | None = None,
        at: dt.datetime | None = None,
        purposes: Sequence[str] = (),
    ) -> Admission | None:
        """Let a call start, or raise the refusal. ``None``: minors' rules do not apply.

        Order: unknown age (:class:`AgeVerificationRequired`), under-14 guardian consent
        (:class:`GuardianConsentRequired`), guardian pause (:class:`MinorRestricted`),
        curfew and guardian windows (:class:`MinorCurfew`), daily quota
        (:class:`MinorQuotaExhausted`). Admitted calls must be :meth:`release`\\ d.
        """
        at = at or self.clock.now()
        local = at.astimezone(self.tz)
        band = None if subject is None else subject.band_on(local.date())
        if band is None:
            band = self._unknown_band(subject)
        if not band.is_minor:
            return None
        assert subject is not None
        return self._admit(subject, band, at, local, call_id or secrets.token_hex(16), purposes)

    def _admit(self, subject: Subject, band: AgeBand, at: dt.datetime, local: dt.datetime,
               call_id: str, purposes: Sequence[str]) -> Admission:
        """:meth:`admit` for a minor whose band is known (``local``: ``at`` in the zone)."""
        day = self._day(local.date())
        if subject.is_under_14_on(day.date):
            consent = self.guardian_consent
            if consent is None or not consent(subject):
                raise GuardianConsentRequired(
                    "this user is under 14: a guardian must consent before the service may "
                    "be used (PIPL Art. 31); ask the guardian to consent through the consent "
                    "flow" + ("" if consent is not None else
                              " (no guardian_consent lookup is configured)"),
                    rules=_CONSENT_RULES, purposes=tuple(purposes), band=band.value)
        tail, tail_curfew = self._tails[band]
        curfew = self.policy.in_curfew(local.time())
        key = self.key(subject)
        t = at.timestamp()
        out = self._run_line(key, f"start|{_clean_id(call_id)}|{t:.17g}{day.middle}"
                                  f"{_sod(local):.17g}{tail_curfew if curfew else tail}")
        used, eff = float(out[1]), float(out[2])
        if out[0] != "0":
            self._refuse(int(out[0]), at, band, used, eff, out[6], out[7])
        streak = float(out[3])
        reminder = self._reminder(streak) if out[4] == "1" else None
        exemption = _exemption(out[11:15]) if out[12] else None
        deadline, reason = self._deadline(at, used, eff, out[7], exemption, day=day, t=t)
        return Admission(subject=subject, key=key, call_id=call_id, band=band, started=at,
                         used_seconds=used, limit_seconds=eff, continuous_seconds=streak,
                         deadline=deadline, deadline_reason=reason, reminder=reminder,
                         windows=out[7], exemption=exemption,
                         basis=(float(out[10]), int(out[9]), out[8], t,
                                day.end if out[8] == day.iso else -math.inf))

    def _reminder(self, streak: float) -> dict[str, Any]:
        return {"continuous_minutes": round(streak / 60, 1),
                "message": self.policy.reminder_message(streak),
                "rules": ["MM-final", "MN-44"]}

    def _deadline(self, at: dt.datetime, used: float, limit: float, win: str,
                  exemption: Exemption | None = None, *, day: _Day | None = None,
                  t: float | None = None) -> tuple[dt.datetime | None, str | None]:
        """When a call admitted at ``at`` must stop if it runs on: the quota, the curfew, the
        end of the guardian's window; an exemption (MM-exempt) moves each of the limits it
        lifts to the exemption's end (or later, when the limit is not reached by then).
        ``day``: the local day of ``at``, ``t``: its timestamp (when the caller has them)."""
        if t is None:
            t = at.timestamp()
        if day is None:
            day = self._day(at.astimezone(self.tz).date())
        candidates: list[tuple[float, str]] = []
        midnight = day.end
        quota_end = t + max(0.0, limit - used)
        if quota_end > midnight:  # a new day brings a new quota
            quota_end = midnight + limit
        if (exemption is not None
                and exemption.start.timestamp() <= quota_end < exemption.until.timestamp()):
            x_end = exemption.until.timestamp()
            quota_end = max(x_end, midnight + limit) if x_end > midnight else x_end
        candidates.append((quota_end, "quota"))
        exempt = exemption is not None and exemption.active(at)
        if self.policy.curfew is not None:
            if exempt and exemption is not None and exemption.curfew:
                until = exemption.until
                stop = (until if self.policy.in_curfew(until.astimezone(self.tz).time())
                        else self._next_local(until, self.policy.curfew[0]))
                candidates.append((stop.timestamp(), "curfew"))
            else:  # the next curfew start after ``at`` (as _next_local, from the day)
                candidates.append((day.curfew_today if day.curfew_today > t
                                   else day.curfew_next, "curfew"))
        if win:
            # the end of the window in force; under an exemption, of the one in force when
            # the exemption ends, or the exemption's end when that is outside every window
            when = exemption.until if exempt and exemption is not None else at
            sod = seconds_of_day(when.astimezone(self.tz).time())
            inside = False
            for part in win.split(","):
                b = float(part.split("-", 1)[1])
                if m.in_windows(part, sod):
                    inside = True
                    candidates.append((self._next_local(when, _sod_time(b)).timestamp(),
                                       "window"))
            if not inside:
                candidates.append((when.timestamp(), "window"))
        end, reason = min(candidates)
        if math.isinf(end):
            return None, None
        return dt.datetime.fromtimestamp(end, dt.UTC), reason

    def _refuse(self, code: int, at: dt.datetime, band: AgeBand, used: float, limit: float,
                pause: str, win: str) -> None:
        def minutes(seconds: float) -> float:
            return round(max(0.0, seconds) / 60, 3)

        evidence: dict[str, Any] = {"band": band.value, "used_minutes": minutes(used),
                                    "limit_minutes": minutes(limit)}
        if code == m.PAUSED:
            until = float(pause)
            raise MinorRestricted(
                "a guardian has paused this service for the user"
                + ("" if until >= INDEFINITE else " until the time in retry_after")
                + "; only the guardian can resume it",
                rules=_GUARDIAN_RULES,
                retry_after=None if until >= INDEFINITE else dt.datetime.fromtimestamp(
                    until, dt.UTC),
                control="pause", remaining_minutes=minutes(limit - used), **evidence)
        if code in (m.CURFEW, m.WINDOW):
            if code == m.CURFEW:
                retry = self._curfew_end_after(at)
                source, what = "policy", "no service for minors between {} and {} local time"
                assert self.policy.curfew is not None
                what = what.format(*(format_clock_time(x) for x in self.policy.curfew))
            else:
                sod_starts = [float(p.split("-", 1)[0]) for p in win.split(",")]
                retry = min(self._next_local(at, _sod_time(s)) for s in sod_starts)
                source = "guardian"
                what = "outside the hours a guardian allowed (" + ", ".join(
                    _window_text(win)) + ")"
            same_day = retry.astimezone(self.tz).date() == at.astimezone(self.tz).date()
            remaining = limit - used if same_day else limit
            raise MinorCurfew(
                f"{what}; the service is available again at retry_after",
                rules=_CURFEW_RULES if code == m.CURFEW else _GUARDIAN_RULES,
                retry_after=retry, source=source, remaining_minutes=minutes(remaining),
                **evidence)
        retry, midnight = self._quota_retry(at)
        raise MinorQuotaExhausted(
            f"today's {minutes(limit):g} minutes for this user are used up; the quota resets "
            "at local midnight (retry_after says when service resumes)",
            rules=_QUOTA_RULES, retry_after=retry, resets_at=midnight, remaining_minutes=0.0,
            **evidence)

    def deadline_refusal(self, admission: Admission, at: dt.datetime) -> Refusal:
        """The refusal that ends a stream which reached ``admission.deadline`` at ``at``."""
        try:
            if admission.deadline_reason == "quota":
                self._refuse(m.QUOTA, at, admission.band, admission.limit_seconds,
                             admission.limit_seconds, "", "")
            code = m.CURFEW if admission.deadline_reason == "curfew" else m.WINDOW
            self._refuse(code, at, admission.band,
                         admission.used_seconds + (at - admission.started).total_seconds(),
                         admission.limit_seconds, "", admission.windows)
        except Refusal as exc:
            return exc
        raise AssertionError("unreachable")  # pragma: no cover

    def heartbeat(self, admission: Admission, at: dt.datetime) -> Refusal | None:
        """Renew a long call's lease; returns a refusal when a guardian paused meanwhile."""
        out = self._run(admission.key, self._argv("beat", admission.call_id, at))
        if out[6] and float(out[6]) > at.timestamp():
            try:
                self._refuse(m.PAUSED, at, admission.band, float(out[1]), float(out[2]),
                             out[6], out[7])
            except Refusal as exc:
                return exc
        return None

    def release(self, admission: Admission, duration: float,
                renewed_at: dt.datetime | None = None, *, wait: bool = True) -> dict[str, Any]:
        """Charge an admitted call that ran ``duration`` seconds (``renewed_at``: its last
        :meth:`heartbeat`); returns the minor's usage after it (``used_minutes``,
        ``remaining_minutes``, ``used_seconds``; ``reminder`` and ``continuous_seconds``
        when one is due).

        ``wait=False`` (what :class:`MinorsCheck` does) notes the call's end on a
        ``"script"`` store without waiting: it goes to the store's outbox and leaves with
        its next call (any thread's), within ``flush_after`` when none comes, or at
        ``close``; the next operation on the minor's state charges it, exactly as a
        waited-for release would have. So a call costs one round trip (issue 19). The
        usage is told from what the store replied at admission: use accrues one second per
        second while the call is in flight, so the figures are the store's own as long as
        the call ended on the day it started and within its lease (otherwise this waits for
        the store). A reminder another call of the same minor gave meanwhile may be given
        again.

        .. versionchanged:: 0.2 ``wait``; ``used_seconds`` and ``continuous_seconds``.
        """
        if not wait:
            told = self._release_told(admission, duration, renewed_at)
            if told is not None:
                return told
        out = self._run_line(admission.key, self._end_line(admission, duration, renewed_at))
        used = float(out[1])
        limit = float(out[2]) if out[2] else math.inf
        result: dict[str, Any] = {
            "used_minutes": round(used / 60, 3),
            "remaining_minutes": round(max(0.0, limit - used) / 60, 3),
            "used_seconds": used,
        }
        if out[4] == "1":
            streak = float(out[3])
            result["reminder"] = self._reminder(streak)
            result["continuous_seconds"] = streak
        return result

    def _end_line(self, admission: Admission, duration: float,
                  renewed_at: dt.datetime | None) -> str:
        """The packed ``end`` operation of ``admission`` after ``duration`` seconds."""
        end = admission.started + dt.timedelta(seconds=max(0.0, duration))
        seen = (renewed_at or admission.started).timestamp()
        tails = self._tails.get(admission.band)
        if tails is None:  # not a minor's band (an Admission made by hand)
            return m.pack(self._argv("end", admission.call_id, end, x=seen,
                                     limit=self.policy.limit_seconds(admission.band),
                                     ceiling=self.policy.guardian_max_seconds(
                                         admission.band)), self._wire)
        day = self._day(end.astimezone(self.tz).date())
        return (f"end|{_clean_id(admission.call_id)}|{end.timestamp():.17g}{day.middle}"
                f"{seen:.17g}{tails[0]}")

    def _release_told(self, admission: Admission, duration: float,
                      renewed_at: dt.datetime | None = None) -> dict[str, Any] | None:
        """``release(wait=False)`` when it needs no reply: the end noted (``fin``) in the
        ``"script"`` store's outbox — no I/O here, but when the outbox is full or the store
        closed — and the usage told from the admission; ``None`` (nothing sent) when only
        the store can tell, or the store runs no scripts."""
        if self._script is None:
            return None
        basis = admission._basis
        if basis is not None and renewed_at is None:  # worked out from the admission
            seen = basis[3]  # as the datetime arithmetic below: in whole microseconds
            t = (round(seen * 1e6) + round(max(0.0, duration) * 1e6)) / 1e6
            day = basis[2] if t < basis[4] else ""  # "": another day, only the store can tell
        else:
            end = admission.started + dt.timedelta(seconds=max(0.0, duration))
            t = end.timestamp()
            seen = (renewed_at or admission.started).timestamp()
            day = self._day(end.astimezone(self.tz).date()).iso
        told = self._told(admission, t, seen, day)
        if told is not None:  # the end noted (``fin``): charged by the next operation
            self._script.send([admission.key], [  # as ``m.pack`` writes a fin
                f"{self._constants[1]}|e:{_clean_id(admission.call_id)}|{t:.17g},"
                f"{seen:.17g}|"])
        return told

    def _told(self, admission: Admission, t: float, seen: float,
              day: str) -> dict[str, Any] | None:
        """The usage after ``admission`` ends at ``t``, from the admission's reply (as
        :func:`._machine.apply` would compute it); ``None`` when only the store can tell
        (another day, or the lease ran out so the store may have let the call go)."""
        basis = admission._basis
        if basis is None or basis[2] != day or t >= seen + self.policy.lease_seconds:
            return None
        last, given = basis[0], basis[1]
        extra = t - last if t > last else 0.0
        used = admission.used_seconds + extra
        streak = admission.continuous_seconds + extra
        result: dict[str, Any] = {
            "used_minutes": round(used / 60, 3),
            "remaining_minutes": round(max(0.0, admission.limit_seconds - used) / 60, 3),
            "used_seconds": used,
        }
        every = self.policy.rest_reminder_minutes * 60
        if every > 0 and math.floor(streak / every) > given:
            result["reminder"] = self._reminder(streak)
            result["continuous_seconds"] = streak
        return result

    # -- guardian controls ----------------------------------------------------------------
    def _guardian(self, subject: Subject, guardian: Guardian, at: dt.datetime) -> AgeBand | None:
        if not isinstance(guardian, Guardian):
            raise ConfigurationError(
                f"guardian= must be a genai_compliance.Guardian, got {type(guardian).__name__}",
                field="guardian", value=guardian)
        if subject.guardian is not None and subject.guardian.guardian_id != guardian.guardian_id:
            raise ConfigurationError(
                f"{guardian.guardian_id!r} is not the guardian recorded for this user; only "
                "the user's guardian may change the minors' settings", field="guardian",
                value=guardian.guardian_id)
        band = subject.band_on(at.astimezone(self.tz).date())
        if band is AgeBand.ADULT:
            raise ConfigurationError(
                "guardian controls apply to minors; this user is an adult", field="subject",
                value=band.value)
        if self._record is None:
            raise ConfigurationError(
                "guardian changes are ledger records; build MinorProtection with record= "
                "(MinorProtection.from_context does)", field="record")
        return band

    def _control(self, kind: str, subject: Subject, guardian: Guardian, at: dt.datetime,
                 fields: Sequence[str], payload: dict[str, Any],
                 rules: Sequence[str] = _GUARDIAN_RULES) -> None:
        """Apply a guardian's change to the store, then record it: who (the guardian's
        pseudonym, relation, verification), what, the bound it was checked against, until
        when. The minor is linked by the ledger's pseudonym, the guardian by
        :func:`._keys.guardian_pseudonym`: no record holds either id in clear."""
        self._run(self.key(subject), ["control", *fields])
        assert self._record is not None
        body = {"guardian": guardian_pseudonym(self._keyer, guardian.guardian_id),
                "relation": guardian.relation, "guardian_verified": guardian.verified,
                "at": _utc_text(at), "rules": list(rules), **payload}
        self._record(f"minors.guardian.{kind}", body, subject=subject)

    def _limit_band(self, subject: Subject, band: AgeBand | None) -> AgeBand | None:
        """The band whose bounds apply to a guardian's change: the subject's, else the one a
        user of unknown age is held to (``minors-mode``), else ``None`` (unknown)."""
        del subject
        if band is not None and band.is_minor:
            return band
        if self.policy.unknown_age == "minors-mode":
            return self.policy.strictest_band
        return None

    def set_daily_limit(self, subject: Subject, minutes: float | None, *, guardian: Guardian,
                        at: dt.datetime | None = None) -> None:
        """A guardian sets the daily limit to ``minutes`` (``None`` removes it: the policy's
        figure applies again). It may be lowered to anything and raised up to the band's
        ``guardian_max_daily_minutes`` (by default the policy's figure: lower only);
        beyond it :class:`GuardianBoundExceeded` names the bound and nothing changes
        (MN-43, MM-final, MM-adjust). The bound is applied again at every admission, so a
        stored limit never outlives a bound lowered later."""
        at = at or self.clock.now()
        band = self._limit_band(subject, self._guardian(subject, guardian, at))
        if band is not None:
            policy_minutes: float | None = self.policy.daily_minutes[band]
            ceiling = self.policy.guardian_max_minutes(band)
            bound = f"guardian_max_daily_minutes.{band.value}"
        else:  # unknown age: the loosest bound now; each admission applies the band's own
            policy_minutes = None
            ceiling = max(self.policy.guardian_max_minutes(b) for b in MINOR_BANDS)
            bound = "guardian_max_daily_minutes"
        if minutes is not None:
            if (isinstance(minutes, bool) or not isinstance(minutes, int | float)
                    or not math.isfinite(minutes) or minutes < 0):
                raise ConfigurationError(f"minutes must be a number >= 0, got {minutes!r}",
                                         field="minutes", value=minutes)
            if minutes > ceiling:
                what = ("a guardian may lower the daily limit, not raise it"
                        if policy_minutes is not None and ceiling <= policy_minutes
                        else "a guardian may not raise the daily limit beyond the bound")
                raise GuardianBoundExceeded(
                    f"{what}: {minutes:g} minutes is above {bound} = {ceiling:g}; the "
                    "operator sets the bound in [minors] (MM-adjust)",
                    bound=bound, limit=ceiling, value=minutes)
        self._control("limit", subject, guardian, at,
                      ["glimit", "" if minutes is None else m.fmt(minutes * 60)],
                      {"minutes": minutes, "policy_minutes": policy_minutes,
                       "bound": bound, "bound_minutes": ceiling,
                       "direction": ("reset" if minutes is None
                                     else "raise" if policy_minutes is not None
                                     and minutes > policy_minutes else "lower"),
                       "band": None if band is None else band.value},
                      rules=_ADJUST_RULES)

    def grant_exemption(self, subject: Subject, minutes: float, *, guardian: Guardian,
                        purpose: str = "study", curfew: bool = False,
                        start: dt.datetime | None = None,
                        at: dt.datetime | None = None) -> Exemption:
        """A guardian exempts the minor for ``minutes`` from ``start`` (default now): until it
        ends the daily quota and the guardian's windows do not refuse, nor the curfew when
        ``curfew`` is true and ``[minors] exemption_curfew`` allows it (default: it does
        not). A pause still applies; use is still charged. At most
        ``exemption_max_minutes`` long; beyond a bound :class:`GuardianBoundExceeded`
        names it and nothing changes. A new exemption replaces the one before; it is a
        ledger record ``minors.guardian.exemption`` (who, purpose, bound, from, until) —
        MN-43, MM-final, MM-exempt."""
        at = at or self.clock.now()
        self._guardian(subject, guardian, at)
        start = at if start is None else start
        if start.tzinfo is None:
            raise ConfigurationError("start must be timezone-aware", field="start", value=start)
        if start < at:
            raise ConfigurationError(
                f"an exemption cannot start in the past ({_utc_text(start)} is before "
                f"{_utc_text(at)}); leave start out to begin now", field="start", value=start)
        if (isinstance(minutes, bool) or not isinstance(minutes, int | float)
                or not math.isfinite(minutes) or minutes <= 0):
            raise ConfigurationError(f"minutes must be a number > 0, got {minutes!r}",
                                     field="minutes", value=minutes)
        if not isinstance(purpose, str) or not purpose.strip() or "|" in purpose:
            raise ConfigurationError(
                f"purpose must be a short non-empty text such as 'study', got {purpose!r}",
                field="purpose", value=purpose)
        most = self.policy.exemption_max_minutes
        if minutes > most:
            raise GuardianBoundExceeded(
                f"an exemption of {minutes:g} minutes is longer than exemption_max_minutes = "
                f"{most:g}" + (" (exemptions are off)" if most == 0 else "")
                + "; the operator sets the bound in [minors] (MM-exempt)",
                bound="exemption_max_minutes", limit=most, value=minutes)
        if curfew and not self.policy.exemption_curfew:
            raise GuardianBoundExceeded(
                "this service does not let an exemption lift the night curfew "
                "(exemption_curfew = false in [minors]); grant it without curfew=True",
                bound="exemption_curfew", limit=False, value=True)
        until = start + dt.timedelta(minutes=minutes)
        self._control("exemption", subject, guardian, at,
                      ["xfrom", m.fmt(start.timestamp()), "xuntil", m.fmt(until.timestamp()),
                       "xcurfew", "1" if curfew else "", "xpurpose", purpose.strip()],
                      {"purpose": purpose.strip(), "minutes": minutes,
                       "from": _utc_text(start), "until": _utc_text(until),
                       "curfew": bool(curfew), "bound": "exemption_max_minutes",
                       "bound_minutes": most, "curfew_allowed": self.policy.exemption_curfew},
                      rules=_EXEMPT_RULES)
        return Exemption(start=start.astimezone(dt.UTC), until=until.astimezone(dt.UTC),
                         curfew=bool(curfew), purpose=purpose.strip())

    def end_exemption(self, subject: Subject, *, guardian: Guardian,
                      at: dt.datetime | None = None) -> None:
        """A guardian ends an exemption early (recorded as ``minors.guardian.exemption_end``;
        a call already admitted under it runs to the deadline it was given)."""
        at = at or self.clock.now()
        self._guardian(subject, guardian, at)
        self._control("exemption_end", subject, guardian, at,
                      ["xfrom", "", "xuntil", "", "xcurfew", "", "xpurpose", ""], {},
                      rules=_EXEMPT_RULES)

    def set_allowed_windows(
        self,
        subject: Subject,
        windows: Sequence[tuple[dt.time | str, dt.time | str] | str] | None,
        *,
        guardian: Guardian,
        at: dt.datetime | None = None,
    ) -> None:
        """A guardian allows use only inside ``windows`` (local ``("08:00", "12:00")`` or
        ``"08:00-12:00"``; may wrap midnight); the policy's curfew still applies. ``None``
        removes the restriction (MN-43)."""
        at = at or self.clock.now()
        self._guardian(subject, guardian, at)
        win = None if windows is None else _parse_windows(windows)
        self._control("windows", subject, guardian, at, ["win", win or ""],
                      {"windows": None if win is None else list(_window_text(win))})

    def pause(self, subject: Subject, *, guardian: Guardian, until: dt.datetime | None = None,
              at: dt.datetime | None = None) -> None:
        """A guardian pauses the service for the minor, until ``until`` or :meth:`resume`."""
        at = at or self.clock.now()
        self._guardian(subject, guardian, at)
        if until is not None and until.tzinfo is None:
            raise ConfigurationError("until must be timezone-aware", field="until", value=until)
        ts = INDEFINITE if until is None else until.timestamp()
        self._control("pause", subject, guardian, at, ["pause", m.fmt(ts)],
                      {"until": None if until is None
                       else until.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")})

    def resume(self, subject: Subject, *, guardian: Guardian,
               at: dt.datetime | None = None) -> None:
        """A guardian lifts a pause."""
        at = at or self.clock.now()
        self._guardian(subject, guardian, at)
        self._control("resume", subject, guardian, at, ["pause", ""], {})

    def usage(self, subject: Subject | str, *, days: int = 7,
              at: dt.datetime | None = None) -> UsageSummary:
        """Today's use, the effective limit, controls in force and ``days`` days of history
        (today first), as a guardian or support agent sees them (MN-43)."""
        at = at or self.clock.now()
        if days < 1 or days > self.policy.history_days + 1:
            raise ConfigurationError(
                f"days must be between 1 and {self.policy.history_days + 1}, got {days}",
                field="days", value=days)
        subj = subject if isinstance(subject, Subject) else None
        band = None
        if subj is not None:
            band = subj.band_on(at.astimezone(self.tz).date())
            if band is None and self.policy.unknown_age == "minors-mode":
                band = self.policy.strictest_band
        minor = band is not None and band.is_minor
        policy_limit = self.policy.limit_seconds(band) if band is not None and minor else None
        raw = self._run(self.key(subject), self._argv("snapshot", "-", at))
        state = dict(zip(raw[::2], raw[1::2], strict=True))
        today = at.astimezone(self.tz).date()
        used = float(state.get("used", "0")) if state.get("day") == today.isoformat() else 0.0
        glimit = float(state["glimit"]) if "glimit" in state else None
        if glimit is not None and band is not None and minor:  # as the machine: MM-adjust
            glimit = min(glimit, self.policy.guardian_max_seconds(band))
        limit = glimit if glimit is not None else policy_limit
        history = [DayUsage(today, used / 60)]
        for i in range(1, days):
            d = today - dt.timedelta(days=i)
            history.append(DayUsage(d, float(state.get("h:" + d.isoformat(), "0")) / 60))
        pause = float(state["pause"]) if "pause" in state else None
        active_pause = pause is not None and pause > at.timestamp()
        return UsageSummary(
            day=today, timezone=str(self.tz), band=band, used_minutes=used / 60,
            limit_minutes=None if limit is None else limit / 60,
            policy_limit_minutes=None if policy_limit is None else policy_limit / 60,
            guardian_limit_minutes=None if glimit is None else glimit / 60,
            continuous_minutes=float(state.get("streak", "0")) / 60,
            in_flight=sum(1 for f in state if f.startswith("c:")),
            paused_until=(dt.datetime.fromtimestamp(pause, dt.UTC)
                          if active_pause and pause is not None and pause < INDEFINITE
                          else None),
            paused_indefinitely=bool(active_pause and pause is not None and pause >= INDEFINITE),
            allowed_windows=_window_text(state["win"]) if "win" in state else (),
            history=tuple(history),
            exemption=_exemption([state.get(f, "") for f in m.EXEMPTION_FIELDS]),
        )

    def __repr__(self) -> str:
        return f"MinorProtection({self.policy.name!r}, store={self.store!r})"
