"""``Interaction``: the AI-interaction disclosure and continuous-use reminder engine, exit,
minors' personas, training consent and the security-assessment item.

The guard check (:class:`~genai_compliance.interaction.InteractionCheck`) drives it; a
provider may call it directly too (a chat UI's exit button calls :meth:`Interaction.exit`,
an over-dependence detector :meth:`Interaction.signal_dependence`). Every notice shown is a
ledger record (``interaction.notice``), as are exits, dependence signals and training-use
decisions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import secrets
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from .._fork import reset_after_fork
from ..clock import SHANGHAI, Clock, SystemClock
from ..errors import (
    ConfigurationError,
    GuardianConsentRequired,
    InteractionExited,
    PersonaRestricted,
)
from ..rules import implements
from ..stores import SQLDatabase, Store
from ..subject import Subject, SubjectKeyer, SubjectKeys
from . import _timer as timer
from ._profiles import InteractionSettings, Profile
from ._state import StateStore, open_state

if TYPE_CHECKING:
    from ..context import DutyContext


def _end_at(ts: float, state: dict[str, Any] | None) -> dict[str, Any]:
    return timer.end(state, ts)

__all__ = ["Admission", "GuardianConsent", "Interaction", "InteractionExited", "Notice",
           "PersonaRestricted", "SecurityAssessment", "TrainingDecision",
           "security_assessment_needed"]

Recorder = Callable[..., Any]
ARecorder = Callable[..., Awaitable[Any]]




@runtime_checkable
class GuardianConsent(Protocol):
    """What the engine needs from the consent duty (:class:`~genai_compliance.consent.
    ConsentService` is one): a guardian's consent for a child, and the purposes without an
    active grant."""

    def has_guardian_consent(self, subject: Subject) -> bool: ...

    def missing(self, subject: Subject | None, purposes: Sequence[str]) -> list[str]: ...


@attrs.frozen
class Notice:
    """One notice shown to the user, and the sequence number of its ledger record."""

    profile: str
    kind: str
    trigger: str
    text: str
    rules: tuple[str, ...]
    record_seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"profile": self.profile, "kind": self.kind, "trigger": self.trigger,
                "text": self.text, "rules": list(self.rules), "record_seq": self.record_seq}


@attrs.frozen
class Admission:
    """A call let through: who (``key``), which session, when, and the notices it must
    show (not yet recorded: :meth:`Interaction.notify` records and returns them)."""

    subject: Subject | None
    key: str | None
    session_id: str
    started: dt.datetime
    due: tuple[timer.Due, ...]
    continuous_seconds: float


@attrs.frozen
class TrainingDecision:
    """Whether interaction data of a subject may be used for training (AN-TRAIN)."""

    allowed: bool
    purposes: tuple[str, ...]
    missing: tuple[str, ...]
    record_seq: int | None = None


@attrs.frozen
class SecurityAssessment:
    """The computed "security assessment needed" item of the dossier (AN-ASSESS, AN-14).

    ``to_json()`` is what the dossier embeds: ``needed``, the ``triggers`` met, the figures
    compared, the thresholds and the rules.
    """

    needed: bool
    triggers: tuple[str, ...]
    registered_users: int | None
    monthly_active_users: int | None
    registered_users_threshold: int
    monthly_active_threshold: int
    rules: tuple[str, ...] = ("AN-ASSESS", "AN-14")
    in_force_from: dt.date = dt.date(2026, 7, 15)

    def to_json(self) -> dict[str, Any]:
        return {
            "item": "security-assessment",
            "needed": self.needed,
            "triggers": list(self.triggers),
            "registered_users": self.registered_users,
            "monthly_active_users": self.monthly_active_users,
            "thresholds": {"registered_users": self.registered_users_threshold,
                           "monthly_active_users": self.monthly_active_threshold},
            "rules": list(self.rules),
            "in_force_from": self.in_force_from.isoformat(),
            "action": ("carry out a security assessment and submit the report to the "
                       "provincial cyberspace office" if self.needed else "none now"),
        }


def _count(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{name} must be a whole number >= 0 (or None when "
                                 f"unknown), got {value!r}", field=name, value=value)
    return value


@implements("AN-ASSESS", "AN-14")
def security_assessment_needed(
    registered_users: int | None, monthly_active_users: int | None, *,
    registered_users_threshold: int = 1_000_000, monthly_active_threshold: int = 100_000,
    launching: bool = False, major_change: bool = False,
) -> SecurityAssessment:
    """Whether the anthropomorphic service needs a security assessment now (AN-ASSESS):
    when registered users reach ``registered_users_threshold`` (1,000,000) **or** monthly
    active users reach ``monthly_active_threshold`` (100,000), when the function launches
    or is added (``launching``), or on a major change by new technology (``major_change``).
    ``None`` means the figure is unknown: it triggers nothing, and is shown as unknown."""
    registered = _count("registered_users", registered_users)
    active = _count("monthly_active_users", monthly_active_users)
    triggers: list[str] = []
    if launching:
        triggers.append("launch")
    if major_change:
        triggers.append("major-change")
    if registered is not None and registered >= registered_users_threshold:
        triggers.append("registered-users")
    if active is not None and active >= monthly_active_threshold:
        triggers.append("monthly-active-users")
    return SecurityAssessment(
        needed=bool(triggers), triggers=tuple(triggers), registered_users=registered,
        monthly_active_users=active, registered_users_threshold=registered_users_threshold,
        monthly_active_threshold=monthly_active_threshold)


#: the youngest age in each band (MM-final bands)
_BAND_LOWER = {"under-3": 0, "3-8": 3, "8-12": 8, "12-16": 12, "16-18": 16, "adult": 18}


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@implements("AN-DISCLOSE", "AN-PAUSE", "AN-EXIT", "AN-14", "AN-TRAIN", "EU-50-1", "EU-50-5",
            "SB243-22602", "NY-GBL-1702")
class Interaction:
    """The disclosure-and-reminder engine with a profile per jurisdiction.

    :param settings: the validated ``[interaction]`` settings (:class:`InteractionSettings`).
    :param store: where per-user state lives: ``memory://``, ``sqlite:///…``,
        ``postgresql://…``, ``redis://…``, an opened store or a :class:`SQLDatabase`.
    :param clock: the time source.
    :param record: appends a ledger record (``kind, payload, *, subject``): every notice
        shown, every exit, every dependence signal and training decision is one.
    :param arecord: its async twin (``Ledger.aappend``); without it the async driver runs
        ``record`` in a worker thread.
    :param consent: the consent duty, for guardians' consent under 14 and the training
        purposes; without it those requests are refused (fail closed).
    :param keyer: keys subjects for the store (the ledger: ``subject_key``) or a secret of
        at least 16 bytes; only a ``memory://`` store may go without (a random secret).
    :param tz: the zone in which ages are counted.
    """

    def __init__(
        self,
        settings: InteractionSettings | None = None,
        *,
        store: str | Store | SQLDatabase | StateStore = "memory://",
        clock: Clock | None = None,
        record: Recorder,
        arecord: ARecorder | None = None,
        consent: GuardianConsent | None = None,
        keyer: SubjectKeyer | bytes | None = None,
        tz: dt.tzinfo = SHANGHAI,
    ) -> None:
        if not callable(record):
            raise ConfigurationError(
                "every notice shown is a ledger record: pass record= (compliance.record or "
                "Ledger.append)", field="record", value=record)
        self.settings = settings or InteractionSettings()
        self.state: StateStore = open_state(store)
        #: call ends not yet written, by state key (written with the key's next admission,
        #: or by the flusher within ``flush_after`` seconds, or at close)
        self._pending: dict[str, float] = {}
        self._pending_lock = threading.Lock()
        self._flusher: threading.Timer | None = None
        self.flush_after = 0.5
        #: this process's copy of recently seen states: key -> (monotonic time read, state)
        self._seen: dict[str, tuple[float, dict[str, Any]]] = {}
        #: bumped whenever a write lands (under ``_pending_lock``): a copy read before it is
        #: not kept
        self._gen = 0
        reset_after_fork(self)
        self.clock: Clock = clock or SystemClock()
        self._record = record
        self._arecord = arecord
        self.consent = consent
        self.tz = tz
        if keyer is None:
            if self.state.blocking:
                raise ConfigurationError(
                    "interaction state on a shared store needs a secret to key users with "
                    "(an unkeyed hash of a phone number is reversed in seconds): pass "
                    "keyer=compliance.ledger, or build with Interaction.from_context",
                    field="interaction.key_secret", value=None)
            keyer = secrets.token_bytes(32)
        self._keys = SubjectKeys(keyer, purpose="interaction",
                                 prefix=self.settings.key_prefix, setting="interaction.key_secret")
        #: session ids in records: a keyed HMAC too (a session id can carry or be
        #: guessed from the user's identity), under a purpose of its own
        self._sessions = SubjectKeys(keyer, purpose="interaction-session", prefix="",
                                     setting="interaction.key_secret")

    # -- construction the lead wires in -------------------------------------------------
    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any] | None, *, store: str | Store | SQLDatabase,
        record: Recorder, arecord: ARecorder | None = None, clock: Clock | None = None,
        consent: GuardianConsent | None = None, keyer: SubjectKeyer | bytes | None = None,
        tz: dt.tzinfo = SHANGHAI,
    ) -> Interaction:
        """Build from the ``[interaction]`` mapping (validated against
        ``schemas/interaction-config.schema.json``)."""
        return cls(InteractionSettings.from_settings(settings), store=store, clock=clock,
                   record=record, arecord=arecord, consent=consent, keyer=keyer, tz=tz)

    @classmethod
    def from_context(cls, ctx: DutyContext, *,
                     consent: GuardianConsent | None = None) -> Interaction:
        """Build in a :class:`~genai_compliance.DutyContext`: ``[interaction]`` settings,
        the ``interaction`` store (a ``postgresql://`` URI is opened as a database), the
        ledger (records, subject keys), clock and zone. ``consent`` is the consent duty."""
        settings = ctx.section("interaction")
        uri = ctx.store_uri("interaction")
        store: str | Store = uri if uri.startswith(("postgresql:", "postgres:")) else \
            ctx.store("interaction", needs=("atomic",))
        return cls.from_settings(settings, store=store, record=ctx.record,
                                 arecord=getattr(ctx.ledger, "aappend", None), clock=ctx.clock,
                                 consent=consent, keyer=ctx.ledger, tz=ctx.tz)

    @property
    def blocking(self) -> bool:
        """Whether a call's state update does I/O (false for ``memory://``)."""
        return self.state.blocking

    # -- who ----------------------------------------------------------------------------
    def key(self, subject: Subject | str) -> str:
        """The store key of a subject: the ledger's keyed HMAC, never the user id
        (remembered per user id: the same key on every call)."""
        return self._keys(subject)

    def _day(self, at: dt.datetime) -> dt.date:
        return at.astimezone(self.tz).date()

    def is_minor(self, subject: Subject | None, at: dt.datetime, *,
                 known: bool = False) -> bool:
        """Whether the minors' rules apply: a known minor, or (unless ``known``) a user of
        unknown age when ``unknown_age = "minor"``."""
        minor = None if subject is None else subject.is_minor_on(self._day(at))
        if minor is None:
            return not known and self.settings.unknown_age == "minor"
        return minor

    def _under(self, subject: Subject | None, at: dt.datetime, age: int) -> bool:
        """Younger than ``age``? A band straddling it counts as yes; unknown follows
        ``unknown_age``."""
        if subject is not None:
            years = subject.age_on(self._day(at))
            if years is not None:
                return years < age
            band = subject.band_on(self._day(at))
            if band is not None:
                return _BAND_LOWER[band.value] < age
        return self.settings.unknown_age == "minor"

    def _profiles(self, names: Sequence[str] | None) -> tuple[Profile, ...]:
        if names is None:
            return self.settings.profiles
        if isinstance(names, str):
            names = [names]
        return tuple(self.settings.profile(n) for n in names)

    def _audience(self, audience: str, subject: Subject | None, at: dt.datetime) -> bool:
        if audience == "all":
            return True
        return self.is_minor(subject, at, known=audience == "known-minors")

    # -- personas (AN-14) -----------------------------------------------------------------
    def check_persona(self, subject: Subject | None, persona: str | None,
                      at: dt.datetime | None = None) -> None:
        """Refuse a persona the minors' rules forbid for ``subject`` (AN-14): virtual
        relatives and partners never for minors (:class:`PersonaRestricted`); a companion
        persona under ``guardian_consent_under`` only with a guardian's consent through the
        consent duty (:class:`~genai_compliance.GuardianConsentRequired`)."""
        if not persona:
            return
        at = at or self.clock.now()
        s = self.settings
        if persona in s.minor_forbidden_personas and self.is_minor(subject, at):
            unknown = subject is None or subject.band_on(self._day(at)) is None
            raise PersonaRestricted(
                f"the persona {persona!r} (a virtual relative or partner) is not offered to "
                "minors" + (": this user's age is unknown, so give a verified birth date or "
                            "age band on the Subject" if unknown else "; offer another "
                            "persona"), rules=("AN-14",), persona=persona, age_unknown=unknown)
        if persona in s.guardian_consent_personas and self._under(
                subject, at, s.guardian_consent_under):
            if subject is not None and self.consent is not None and \
                    self.consent.has_guardian_consent(subject):
                return
            raise GuardianConsentRequired(
                f"the persona {persona!r} is an emotional-companionship service: a child under "
                f"{s.guardian_consent_under} may use it only with a guardian's consent; record "
                "it with consent.grant(subject, 'service', notice=..., guardian=Guardian(...))"
                + ("" if self.consent is not None else " (no consent duty is configured "
                   "for the interaction duty, so none can count)"),
                purposes=["service"], notice={}, subject=None if subject is None else
                self.key(subject), rules=("AN-14", "PI-28/31"), persona=persona)

    # -- the call ------------------------------------------------------------------------
    def admit(self, subject: Subject | None, *, session_id: str | None = None,
              at: dt.datetime | None = None,
              profiles: Sequence[str] | None = None) -> Admission:
        """Start a call: refuse it if the user ended its session (:class:`InteractionExited`),
        else decide the notices it must show and update the continuous-use timer
        atomically. The notices are recorded by :meth:`notify`."""
        at = at or self.clock.now()
        session = session_id if session_id is not None else (
            "" if subject is None else subject.session_id or "")
        chosen = [(p, self._audience(p.disclose_audience, subject, at),
                   self._audience(p.reminder_audience, subject, at))
                  for p in self._profiles(profiles)]
        if subject is None:  # nobody to remember: disclose on every call (fail closed)
            due = tuple(timer.Due(p.name, "disclosure", "anonymous", 0.0)
                        for p, disclose, _ in chosen if disclose)
            return Admission(None, None, session, at, due, 0.0)
        key = self.key(subject)
        ts = at.timestamp()
        quick = self._quick_admit(subject, key, session, at, chosen)
        if quick is not None:
            return quick
        found: dict[str, Any] = {}
        with self._pending_lock:
            ended = self._pending.get(key)  # this key's last call end rides along

        def step(state: dict[str, Any] | None) -> dict[str, Any]:
            found.clear()
            if ended is not None:
                state = timer.end(state, ended)
            if timer.is_exited(state, session):
                found["exited"] = True
                return dict(state or {})
            new, due = timer.begin(state, ts, session, chosen, self.settings.idle_gap_seconds)
            found["due"] = due
            found["cs"] = float(new["cs"])
            return new

        written = self.state.update(key, step)  # not written: the end stays pending
        self._landed(key, ended, written)
        if found.get("exited"):
            raise self.exited_refusal(session, "earlier")
        return Admission(subject, key, session, at, tuple(found["due"]),
                         max(0.0, ts - found["cs"]))

    def _quick_admit(self, subject: Subject, key: str, session: str, at: dt.datetime,
                     chosen: Sequence[tuple[Profile, bool, bool]], *,
                     cached_only: bool = False) -> Admission | None:
        """Most calls change nothing but the last-seen time: answered from this process's
        copy of the state when it is at most ``max_staleness`` old (no I/O), else from one
        read; the time is deferred like a call's end (written with the next update or the
        flush). Any notice, a new session, a new continuous period or an exit takes the
        atomic path (``None``), so no notice is missed or shown twice. With
        ``cached_only``, ``None`` also when the copy is missing or stale."""
        now = self.clock.monotonic()
        with self._pending_lock:  # one snapshot: the copy with the ends not yet in it
            seen = self._seen.get(key)
            ended = self._pending.get(key)
            gen = self._gen
        if seen is not None and now - seen[0] < self.settings.max_staleness:
            state: dict[str, Any] | None = seen[1]
        elif cached_only:
            return None
        else:
            state = self.state.load(key)
        if state is None:
            return None
        view = state if ended is None else timer.end(state, ended)
        if seen is None or state is not seen[1]:
            with self._pending_lock:  # keep the copy unless a write landed since the snapshot
                if self._gen == gen:
                    self._remember(key, view, now)
        if timer.is_exited(view, session):
            raise self.exited_refusal(session, "earlier")
        ts = at.timestamp()
        gap = self.settings.idle_gap_seconds
        if not timer.quiet(view, ts, session, chosen, gap):  # the common case skips begin
            new, due = timer.begin(view, ts, session, chosen, gap)
            if due or {k: v for k, v in new.items() if k != "ls"} != {
                    k: v for k, v in view.items() if k != "ls"}:
                return None
        self._defer(key, ts)
        return Admission(subject, key, session, at, (), max(0.0, ts - float(view["cs"])))

    def _landed(self, key: str, ended: float | None, written: dict[str, Any]) -> None:
        """A write that carried the pending end ``ended`` landed: the copy becomes
        ``written`` and the end stops being pending (if no later one came meanwhile), both
        under the lock that the quick admission reads them under."""
        with self._pending_lock:
            self._gen += 1
            self._remember(key, written)
            if ended is not None and self._pending.get(key) == ended:
                del self._pending[key]

    def _remember(self, key: str, state: dict[str, Any], at: float | None = None) -> None:
        if len(self._seen) > 100_000:  # bounded: forget the lot, re-read as needed
            self._seen.clear()
        self._seen[key] = (self.clock.monotonic() if at is None else at, state)

    def admit_cached(self, subject: Subject | None, *, session_id: str | None = None,
                     at: dt.datetime | None = None,
                     profiles: Sequence[str] | None = None) -> Admission | None:
        """:meth:`admit` answered with no I/O, or ``None`` when that needs the store (the
        async check runs this on the event loop and hops to a thread only on ``None``)."""
        if subject is None:
            return None
        at = at or self.clock.now()
        session = session_id if session_id is not None else (subject.session_id or "")
        chosen = [(p, self._audience(p.disclose_audience, subject, at),
                   self._audience(p.reminder_audience, subject, at))
                  for p in self._profiles(profiles)]
        return self._quick_admit(subject, self.key(subject), session, at, chosen,
                                 cached_only=True)

    def exited_refusal(self, session: str, via: str) -> InteractionExited:
        """The refusal of a call in a session the user ended (AN-EXIT)."""
        return InteractionExited(
            "the user ended this conversation, so the service has stopped; a new session "
            "(logging in again) starts a new one", rules=("AN-EXIT",), session_id=session,
            via=via)

    def _notice(self, due: timer.Due) -> Notice:
        profile = self.settings.profile(due.profile)
        text = profile.disclosure_text if due.kind == "disclosure" else \
            profile.reminder_message(due.continuous_seconds)
        return Notice(profile.name, due.kind, due.trigger, text, profile.rules)

    def _payload(self, adm: Admission, notice: Notice) -> dict[str, Any]:
        return {"profile": notice.profile, "kind": notice.kind, "trigger": notice.trigger,
                "text": notice.text, "rules": list(notice.rules), "at": _iso(adm.started),
                "session": self.session_ref(adm.session_id),
                "continuous_minutes": round(adm.continuous_seconds / 60, 1)}

    def session_ref(self, session_id: str | None) -> str | None:
        """How records name a session: 16 hex digits of a keyed HMAC of its id (the
        ledger's subject key under ``interaction-session``), never the id or an unkeyed
        hash of it; ``None`` for no session. The same id always gives the same ref, so an
        auditor holding the key (or the ledger) can match a session to its records.

        .. versionadded:: 0.2
        """
        return self._sessions.digest(session_id)[:16] if session_id else None

    def notify(self, admission: Admission) -> list[Notice]:
        """Record every notice ``admission`` must show (``interaction.notice``, one record
        each) and return them with their record numbers."""
        out = []
        for due in admission.due:
            notice = self._notice(due)
            rec = self._record("interaction.notice", self._payload(admission, notice),
                               subject=admission.subject)
            out.append(attrs.evolve(notice, record_seq=getattr(rec, "seq", None)))
        return out

    async def anotify(self, admission: Admission) -> list[Notice]:
        """Async twin of :meth:`notify` (``arecord`` when given, else a worker thread)."""
        if not admission.due:
            return []
        if self._arecord is None:
            return await asyncio.to_thread(self.notify, admission)
        out = []
        for due in admission.due:
            notice = self._notice(due)
            rec = await self._arecord("interaction.notice", self._payload(admission, notice),
                                      subject=admission.subject)
            out.append(attrs.evolve(notice, record_seq=getattr(rec, "seq", None)))
        return out

    def release(self, admission: Admission, ended: dt.datetime, *,
                wait: bool = True) -> None:
        """End a call: its time up to ``ended`` counts as continuous use. With
        ``wait=False`` (the guard check) no store write happens now: the end rides with the
        key's next admission on this process, or is written by a background flush within
        :attr:`flush_after` seconds, or at :meth:`close` — one store update per call."""
        if admission.key is None:
            return
        ts = ended.timestamp()
        if not wait:
            self._defer(admission.key, ts)
            return
        self.state.update(admission.key, lambda state: timer.end(state, ts))

    def _defer(self, key: str, ts: float) -> None:
        with self._pending_lock:
            self._pending[key] = max(ts, self._pending.get(key, ts))
            if self._flusher is None:
                self._flusher = threading.Timer(self.flush_after, self.flush)
                self._flusher.daemon = True
                self._flusher.start()

    def flush(self) -> None:
        """Write every pending call end now (the background flusher and close call it).

        An end stays pending until its write has landed, and then leaves together with the
        new copy of the state (:meth:`_landed`), so an admission racing the flush always
        sees it: still pending, or in the copy or the store (writing an end twice changes
        nothing)."""
        with self._pending_lock:
            pending = dict(self._pending)
            self._flusher = None
        for key, ts in pending.items():
            try:
                written = self.state.update(key, functools.partial(_end_at, ts))
            except Exception:  # a store down: kept for the next admission or flush
                continue
            self._landed(key, ts, written)

    def exited_since(self, admission: Admission) -> bool:
        """Whether the user ended the call's session after it started (one store read)."""
        if admission.key is None or not admission.session_id:
            return False
        state = self.state.load(admission.key)
        ended = (state or {}).get("ex", {}).get(admission.session_id)
        return ended is not None and float(ended) >= admission.started.timestamp()

    # -- what the user and the provider do between calls ----------------------------------
    def exit(self, subject: Subject, *, session_id: str | None = None, via: str = "button",
             at: dt.datetime | None = None) -> Any:
        """The user asks to exit (a button, a keyword: AN-EXIT): the session ends now —
        later calls in it are refused and a stream in flight stops within
        ``exit_poll_seconds`` — and the exit is a ledger record (``interaction.exit``)."""
        if not isinstance(subject, Subject):
            raise ConfigurationError("exit needs the Subject whose session ends",
                                     field="subject", value=type(subject).__name__)
        at = at or self.clock.now()
        session = session_id if session_id is not None else subject.session_id or ""
        ts = at.timestamp()
        key = self.key(subject)
        self._landed(key, None, self.state.update(key, lambda state: timer.mark_exit(
            state, ts, session)))
        return self._record("interaction.exit", {
            "via": via, "at": _iso(at), "rules": ["AN-EXIT"],
            "session": self.session_ref(session),
        }, subject=subject)

    def signal_dependence(self, subject: Subject, *, reason: str,
                          at: dt.datetime | None = None) -> Any:
        """Signs of over-dependence or addiction were seen (by the provider's detector): the
        next call discloses again under every profile that asks for it (AN-DISCLOSE). The
        signal is a ledger record (``interaction.dependence``)."""
        if not reason or not isinstance(reason, str):
            raise ConfigurationError("signal_dependence needs a reason (what was observed)",
                                     field="reason", value=reason)
        at = at or self.clock.now()
        ts = at.timestamp()
        key = self.key(subject)
        self._landed(key, None, self.state.update(key, lambda state: timer.signal(state,
                                                                                    ts)))
        return self._record("interaction.dependence", {"reason": reason, "at": _iso(at),
                                                       "rules": ["AN-DISCLOSE"]},
                            subject=subject)

    def training_use(self, subject: Subject, *, sensitive: bool,
                     at: dt.datetime | None = None) -> TrainingDecision:
        """May this subject's interaction data train models? Only with the
        ``training_purpose`` consent and, when the data contains sensitive personal
        information, the ``sensitive_purpose`` separate consent too (AN-TRAIN, PI-SEP).
        Without a consent duty the answer is no. The decision is a ledger record
        (``interaction.training_use``)."""
        at = at or self.clock.now()
        s = self.settings
        purposes = (s.training_purpose,) + ((s.sensitive_purpose,) if sensitive else ())
        missing = tuple(purposes) if self.consent is None else tuple(
            self.consent.missing(subject, list(purposes)))
        rec = self._record("interaction.training_use", {
            "allowed": not missing, "sensitive": bool(sensitive), "purposes": list(purposes),
            "missing": list(missing), "at": _iso(at), "rules": ["AN-TRAIN", "PI-SEP"]},
            subject=subject)
        return TrainingDecision(not missing, purposes, missing, getattr(rec, "seq", None))

    def security_assessment(self, *, registered_users: int | None,
                            monthly_active_users: int | None, launching: bool = False,
                            major_change: bool = False) -> SecurityAssessment:
        """The dossier's "security assessment needed" item, with the configured thresholds
        (:func:`security_assessment_needed`)."""
        return security_assessment_needed(
            registered_users, monthly_active_users,
            registered_users_threshold=self.settings.registered_users_threshold,
            monthly_active_threshold=self.settings.monthly_active_threshold,
            launching=launching, major_change=major_change)

    def forget(self, subject: Subject | str) -> None:
        """Erase the subject's interaction state (a deletion request)."""
        key = self.key(subject)
        self._seen.pop(key, None)
        self.state.delete(key)

    def _forked(self) -> None:
        """In a forked child: the parent's pending ends are the parent's to write, its
        flush timer did not come along (a stale one would keep the child from starting its
        own), and a lock some parent thread held at the fork would stay held."""
        self._pending_lock = threading.Lock()
        self._pending = {}
        self._flusher = None
        self._seen = {}

    def close(self) -> None:
        """Write the pending call ends, then close the state store."""
        with self._pending_lock:
            flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
        self.flush()
        self.state.close()

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.settings.profiles)
        return f"Interaction([{names}], store={self.state.uri!r})"

