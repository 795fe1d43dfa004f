"""Every error genai_compliance raises, under one catchable base.

The tree::

    ComplianceError
    ├── ConfigurationError (ValueError)      a setting or argument is wrong; fix the config
    │   ├── BadRequest                       a request that cannot be read (HTTP 400)
    │   ├── UnsupportedChunk                 a streamed chunk whose text cannot be read
    │   ├── UnknownCalendarYear              a year the working-day calendar does not know
    │   ├── GuardianBoundExceeded            a guardian's adjustment beyond a [minors] bound
    │   └── StepOutOfOrder                   a PI-breach workflow step not possible now
    ├── Refusal                              a check refused the call (the guard records it)
    │   ├── ConsentRequired                  purposes not granted (PI-14, PI-SEP, IM-9)
    │   │   └── GuardianConsentRequired      a subject under 14 needs a guardian (PI-28/31)
    │   ├── MinorRestricted                  minors' rules (IM-10, MM-final)
    │   │   ├── MinorCurfew                  no service in the night window
    │   │   ├── MinorQuotaExhausted          the daily time quota is used up
    │   │   ├── AgeVerificationRequired      the policy wants the age verified first
    │   │   └── PersonaRestricted            a persona not offered to minors (AN-14)
    │   ├── ContentBlocked                   moderation blocked input or output (IM-4a, IM-14a)
    │   ├── ServiceRestricted                illegal-use escalation (IM-14b, SR-14)
    │   └── InteractionExited                the user ended the session (AN-EXIT, 410)
    ├── StoreUnavailable                     a store or ledger cannot answer: the call is denied
    ├── LedgerError                          the ledger cannot do what was asked
    │   ├── LedgerIntegrityError             verification failed (kept opaque on purpose)
    │   ├── LedgerNotFound                   no ledger to read at the URI (never created)
    │   ├── LedgerCorrupt                    the ledger's database cannot be read
    │   └── RetentionError                   a purge or retention setting below the legal floor
    ├── MediaError (ValueError)              a media file cannot be handled
    │   ├── MalformedMedia                   truncated or corrupt file, with format and offset
    │   └── UnsupportedMedia                 a format we do not write or read
    ├── LabelError (ValueError)              a label is invalid or cannot be applied
    ├── SigningError                         a signature could not be made or checked
    ├── MissingClause                        an agreement clause lacks a fact from the config
    └── RecordNotFound (LookupError)         an id that is not in a register

Every message states what was wrong, what was expected and what to do next; each error keeps
the evidence as declared, typed attributes (``.subject``, ``.purposes``, ``.path``,
``.value``, ...): the constructor of each type names what it takes, and ``.evidence`` gives
the declared attributes as a mapping (for logs and HTTP bodies).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "AgeVerificationRequired",
    "BadRequest",
    "ComplianceError",
    "ConfigurationError",
    "ConsentRequired",
    "ContentBlocked",
    "GuardianBoundExceeded",
    "GuardianConsentRequired",
    "InteractionExited",
    "LabelError",
    "LedgerCorrupt",
    "LedgerError",
    "LedgerIntegrityError",
    "LedgerNotFound",
    "MalformedMedia",
    "MediaError",
    "MinorCurfew",
    "MinorQuotaExhausted",
    "MinorRestricted",
    "MissingClause",
    "PersonaRestricted",
    "RecordNotFound",
    "Refusal",
    "RetentionError",
    "ServiceRestricted",
    "SigningError",
    "StepOutOfOrder",
    "StoreUnavailable",
    "UnknownCalendarYear",
    "UnsupportedChunk",
    "UnsupportedMedia",
]


class ComplianceError(Exception):
    """Base of every error raised by genai_compliance.

    Subclasses declare their evidence: typed keyword-only constructor parameters, stored as
    attributes of the same names and listed in ``_evidence``."""

    #: the evidence attributes of this type (each subclass adds its own)
    _evidence: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def _keep(self, **declared: Any) -> None:
        """Store declared evidence (called by each subclass's typed ``__init__``)."""
        known = self._declared()
        for key, value in declared.items():
            if key not in known:  # a programming error in this package, not user input
                raise TypeError(f"{type(self).__name__} declares no evidence {key!r}")
            object.__setattr__(self, key, value)

    @classmethod
    def _declared(cls) -> tuple[str, ...]:
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get("_evidence", ()):
                if name not in names:
                    names.append(name)
        return tuple(names)

    @property
    def evidence(self) -> dict[str, Any]:
        """The declared evidence attributes and their values (``None`` when not known)."""
        return {k: getattr(self, k, None) for k in self._declared()}

    def __repr__(self) -> str:
        fields = "".join(f", {k}={v!r}" for k, v in self.evidence.items()
                         if v is not None and v != ())
        return f"{type(self).__name__}({self.message!r}{fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.evidence))


def _rebuild(cls: type[ComplianceError], message: str, evidence: dict[str, Any]) -> Any:
    err = cls.__new__(cls)
    ComplianceError.__init__(err, message)
    for key, value in evidence.items():
        object.__setattr__(err, key, value)
    return err


class ConfigurationError(ComplianceError, ValueError):
    """A setting or argument is invalid.

    Evidence: ``.field`` (the dotted key, when known), ``.value`` (what was found, redacted
    where it could hold a secret), ``.path`` and ``.line`` (the file and line that holds it),
    ``.problems`` (every schema problem, :class:`genai_compliance.schemas.Problem`),
    ``.key``, ``.suggestion`` and ``.valid_keys`` (for an unknown key: the closest valid one
    and all of them)."""

    _evidence: ClassVar[tuple[str, ...]] = ("field", "value", "path", "line", "problems",
                                            "key", "suggestion", "valid_keys")
    field: str | None
    value: Any
    path: str | None
    line: int | None
    problems: tuple[Any, ...]
    key: str | None
    suggestion: str | None
    valid_keys: tuple[str, ...]

    def __init__(self, message: str, *, field: str | None = None, value: Any = None,
                 path: str | None = None, line: int | None = None,
                 problems: Sequence[Any] = (), key: str | None = None,
                 suggestion: str | None = None, valid_keys: Sequence[str] = ()) -> None:
        super().__init__(message)
        self._keep(field=field, value=value, path=None if path is None else str(path),
                   line=line, problems=tuple(problems), key=key, suggestion=suggestion,
                   valid_keys=tuple(valid_keys))


class Refusal(ComplianceError):
    """A check refused the call.

    ``reason`` is a stable machine-readable code (``"consent"``, ``"curfew"``, ...),
    ``rules`` the obligation IDs that required the refusal, ``http_status`` the status an ASGI
    response should carry and ``retry_after`` when the call may succeed again (UTC), if known.
    """

    reason: str = "refused"
    http_status: int = 403
    _evidence: ClassVar[tuple[str, ...]] = ("rules", "retry_after")
    rules: tuple[str, ...]
    retry_after: _dt.datetime | None

    def __init__(self, message: str, *, rules: Sequence[str] = (),
                 retry_after: _dt.datetime | None = None) -> None:
        super().__init__(message)
        self._keep(rules=tuple(rules), retry_after=retry_after)


class ConsentRequired(Refusal):
    """The subject has not granted (or has withdrawn) consent for ``.purposes``.

    Evidence: ``.purposes`` (the missing required purposes), ``.notice`` (the notice each is
    to be consented against: ``{purpose: {"version", "sha256"}}``) and ``.subject`` (the
    ledger's pseudonym of the subject, never the raw user id).
    """

    reason = "consent"
    http_status = 403
    _evidence: ClassVar[tuple[str, ...]] = ("purposes", "notice", "subject")
    purposes: Sequence[str]
    notice: dict[str, dict[str, str]]
    subject: str | None

    def __init__(self, message: str, *, purposes: Sequence[str] = (),
                 notice: Mapping[str, Mapping[str, str]] | None = None,
                 subject: str | None = None, rules: Sequence[str] = (),
                 retry_after: _dt.datetime | None = None) -> None:
        super().__init__(message, rules=rules, retry_after=retry_after)
        self._keep(purposes=purposes if isinstance(purposes, list | tuple) else tuple(purposes),
                   notice={k: dict(v) for k, v in (notice or {}).items()}, subject=subject)


class GuardianConsentRequired(ConsentRequired):
    """The subject is under 14: only a guardian's consent counts (PIPL Art. 31).
    ``.band`` is the subject's age band, ``.persona`` the companion persona asked for
    (AN-14), if that is what needs the consent."""

    reason = "guardian-consent"
    _evidence: ClassVar[tuple[str, ...]] = ("band", "persona")
    band: str | None
    persona: str | None

    def __init__(self, message: str, *, purposes: Sequence[str] = (),
                 notice: Mapping[str, Mapping[str, str]] | None = None,
                 subject: str | None = None, band: str | None = None,
                 persona: str | None = None, rules: Sequence[str] = (),
                 retry_after: _dt.datetime | None = None) -> None:
        super().__init__(message, purposes=purposes, notice=notice, subject=subject,
                         rules=rules, retry_after=retry_after)
        self._keep(band=band, persona=persona)


class MinorRestricted(Refusal):
    """A minors' protection rule refused the call.

    Evidence: ``.band`` (age band), ``.used_minutes`` and ``.limit_minutes`` (today's use
    and quota), ``.remaining_minutes``, ``.control`` (the guardian control that applies,
    e.g. ``"pause"``)."""

    reason = "minor"
    http_status = 403
    _evidence: ClassVar[tuple[str, ...]] = ("band", "used_minutes", "limit_minutes",
                                            "remaining_minutes", "control")
    band: str | None
    used_minutes: float | None
    limit_minutes: float | None
    remaining_minutes: float | None
    control: str | None

    def __init__(self, message: str, *, band: str | None = None,
                 used_minutes: float | None = None, limit_minutes: float | None = None,
                 remaining_minutes: float | None = None, control: str | None = None,
                 rules: Sequence[str] = (), retry_after: _dt.datetime | None = None) -> None:
        super().__init__(message, rules=rules, retry_after=retry_after)
        self._keep(band=band, used_minutes=used_minutes, limit_minutes=limit_minutes,
                   remaining_minutes=remaining_minutes, control=control)


class MinorCurfew(MinorRestricted):
    """The call falls in the minors' night window; ``.retry_after`` is when it ends.
    ``.source`` is ``"policy"`` (the curfew) or ``"guardian"`` (a guardian's window)."""

    reason = "curfew"
    http_status = 429
    _evidence: ClassVar[tuple[str, ...]] = ("source",)
    source: str | None

    def __init__(self, message: str, *, source: str | None = None, band: str | None = None,
                 used_minutes: float | None = None, limit_minutes: float | None = None,
                 remaining_minutes: float | None = None, control: str | None = None,
                 rules: Sequence[str] = (), retry_after: _dt.datetime | None = None) -> None:
        super().__init__(message, band=band, used_minutes=used_minutes,
                         limit_minutes=limit_minutes, remaining_minutes=remaining_minutes,
                         control=control, rules=rules, retry_after=retry_after)
        self._keep(source=source)


class MinorQuotaExhausted(MinorRestricted):
    """The daily time quota is used up; ``.retry_after`` is when service resumes and
    ``.resets_at`` the next local midnight."""

    reason = "quota"
    http_status = 429
    _evidence: ClassVar[tuple[str, ...]] = ("resets_at",)
    resets_at: _dt.datetime | None

    def __init__(self, message: str, *, resets_at: _dt.datetime | None = None,
                 band: str | None = None, used_minutes: float | None = None,
                 limit_minutes: float | None = None, remaining_minutes: float | None = None,
                 control: str | None = None, rules: Sequence[str] = (),
                 retry_after: _dt.datetime | None = None) -> None:
        super().__init__(message, band=band, used_minutes=used_minutes,
                         limit_minutes=limit_minutes, remaining_minutes=remaining_minutes,
                         control=control, rules=rules, retry_after=retry_after)
        self._keep(resets_at=resets_at)


class AgeVerificationRequired(MinorRestricted):
    """The subject's age is unknown and the policy says to verify it first (IM-10).
    ``.user_known`` says whether a user id came with the call.

    .. versionchanged:: 0.2
       Defined here (was ``genai_compliance.minors``, which still exports it)."""

    reason = "age-verification"
    http_status = 403
    _evidence: ClassVar[tuple[str, ...]] = ("user_known",)
    user_known: bool | None

    def __init__(self, message: str, *, user_known: bool | None = None,
                 rules: Sequence[str] = (), retry_after: _dt.datetime | None = None) -> None:
        super().__init__(message, rules=rules, retry_after=retry_after)
        self._keep(user_known=user_known)


class PersonaRestricted(MinorRestricted):
    """A persona the minors' rules do not allow for this user (AN-14): virtual relatives
    and partners are never served to minors. ``.persona`` names it, ``.age_unknown`` says
    whether the user's age was unknown (and so treated as a minor's).

    .. versionadded:: 0.3
    """

    reason = "persona"
    http_status = 403
    _evidence: ClassVar[tuple[str, ...]] = ("persona", "age_unknown")
    persona: str | None
    age_unknown: bool | None

    def __init__(self, message: str, *, persona: str | None = None,
                 age_unknown: bool | None = None, rules: Sequence[str] = (),
                 retry_after: _dt.datetime | None = None) -> None:
        super().__init__(message, rules=rules, retry_after=retry_after)
        self._keep(persona=persona, age_unknown=age_unknown)


class InteractionExited(Refusal):
    """The user ended the session (AN-EXIT): the service stops; a new session (logging in
    again) starts over. ``.session_id`` names the session, ``.via`` how it was ended
    (``"keyword"``, ``"button"``).

    .. versionadded:: 0.3
    """

    reason = "exit"
    http_status = 410
    _evidence: ClassVar[tuple[str, ...]] = ("session_id", "via")
    session_id: str | None
    via: str | None

    def __init__(self, message: str, *, session_id: str | None = None, via: str | None = None,
                 rules: Sequence[str] = (), retry_after: _dt.datetime | None = None) -> None:
        super().__init__(message, rules=rules, retry_after=retry_after)
        self._keep(session_id=session_id, via=via)


class ContentBlocked(Refusal):
    """Moderation blocked the prompt or the output: ``.risk`` is the risk code (A.1a ...),
    ``.where`` ``"input"`` or ``"output"``, ``.profile`` the keyword profile that matched."""

    reason = "content"
    http_status = 451
    _evidence: ClassVar[tuple[str, ...]] = ("risk", "where", "profile")
    risk: str | None
    where: str | None
    profile: str | None

    def __init__(self, message: str, *, risk: str | None = None, where: str | None = None,
                 profile: str | None = None, rules: Sequence[str] = (),
                 retry_after: _dt.datetime | None = None) -> None:
        super().__init__(message, rules=rules, retry_after=retry_after)
        self._keep(risk=risk, where=where, profile=profile)


class ServiceRestricted(Refusal):
    """The subject's use is limited, suspended or terminated for illegal use (IM-14b):
    ``.level`` is the ladder step, ``.appeal_pending`` whether an appeal is open."""

    reason = "illegal-use"
    http_status = 403
    _evidence: ClassVar[tuple[str, ...]] = ("level", "appeal_pending")
    level: str | None
    appeal_pending: bool | None

    def __init__(self, message: str, *, level: str | None = None,
                 appeal_pending: bool | None = None, rules: Sequence[str] = (),
                 retry_after: _dt.datetime | None = None) -> None:
        super().__init__(message, rules=rules, retry_after=retry_after)
        self._keep(level=level, appeal_pending=appeal_pending)


class _Located(ComplianceError):
    """An error about a resource: ``.uri`` (credentials redacted) and/or ``.path``."""

    _evidence: ClassVar[tuple[str, ...]] = ("uri", "path")
    uri: str | None
    path: str | None

    def __init__(self, message: str, *, uri: str | None = None,
                 path: str | None = None) -> None:
        super().__init__(message)
        self._keep(uri=uri, path=None if path is None else str(path))


class StoreUnavailable(_Located):
    """A store, cache or ledger backend did not answer. The call is denied (fail closed).
    ``.uri`` is the store's URI with credentials redacted."""


class LedgerError(ComplianceError):
    """The ledger cannot perform the operation; ``.seq`` is the record concerned and
    ``.value`` what was asked, when known."""

    _evidence: ClassVar[tuple[str, ...]] = ("seq", "value")
    seq: int | None
    value: Any

    def __init__(self, message: str, *, seq: int | None = None, value: Any = None) -> None:
        super().__init__(message)
        self._keep(seq=seq, value=value)


class LedgerIntegrityError(LedgerError):
    """Ledger verification failed at ``.seq``. The message stays opaque on purpose."""


class RetentionError(LedgerError):
    """A retention period or purge would drop records the law says to keep."""


class MediaError(ComplianceError, ValueError):
    """A media file cannot be handled. ``.format`` and ``.offset`` locate the problem."""

    _evidence: ClassVar[tuple[str, ...]] = ("format", "offset")
    format: str | None
    offset: int | None

    def __init__(self, message: str, *, format: str | None = None,
                 offset: int | None = None) -> None:
        super().__init__(message)
        self._keep(format=format, offset=offset)


class MalformedMedia(MediaError):
    """The file is truncated or corrupt at ``.offset`` for format ``.format``."""


class UnsupportedMedia(MediaError):
    """The file's format is not one this operation supports. Besides ``.format`` and
    ``.offset``: ``.kind`` (what it looked like), ``.first_bytes`` (hex of the start),
    ``.mode`` and ``.codec`` (an image mode or audio/video codec we do not handle)."""

    _evidence: ClassVar[tuple[str, ...]] = ("kind", "first_bytes", "mode", "codec")
    kind: str | None
    first_bytes: str | None
    mode: str | None
    codec: str | None

    def __init__(self, message: str, *, format: str | None = None,
                 offset: int | None = None, kind: str | None = None,
                 first_bytes: str | None = None, mode: str | None = None,
                 codec: str | None = None) -> None:
        super().__init__(message, format=format, offset=offset)
        self._keep(kind=kind, first_bytes=first_bytes, mode=mode, codec=codec)


class LabelError(ComplianceError, ValueError):
    """A label (explicit or implicit) is invalid or cannot be applied: ``.field`` names the
    part, ``.value`` what was found, ``.path`` the file, ``.tried`` what was attempted."""

    _evidence: ClassVar[tuple[str, ...]] = ("field", "value", "path", "tried")
    field: str | None
    value: Any
    path: str | None
    tried: Any

    def __init__(self, message: str, *, field: str | None = None, value: Any = None,
                 path: str | None = None, tried: Any = None) -> None:
        super().__init__(message)
        self._keep(field=field, value=value, path=None if path is None else str(path),
                   tried=tried)


class SigningError(ComplianceError):
    """A signature or certificate could not be created, loaded or verified: ``.field``
    names the setting, ``.value`` what was found, ``.format`` the media format."""

    _evidence: ClassVar[tuple[str, ...]] = ("field", "value", "format")
    field: str | None
    value: Any
    format: str | None

    def __init__(self, message: str, *, field: str | None = None, value: Any = None,
                 format: str | None = None) -> None:
        super().__init__(message)
        self._keep(field=field, value=value, format=format)


class MissingClause(ComplianceError):
    """An agreement clause (``.clause``) needs ``.fact`` from the config, which is missing;
    ``.key`` is the compliance.toml key to set."""

    _evidence: ClassVar[tuple[str, ...]] = ("clause", "fact", "key")
    clause: str | None
    fact: str | None
    key: str | None

    def __init__(self, message: str, *, clause: str | None = None, fact: str | None = None,
                 key: str | None = None) -> None:
        super().__init__(message)
        self._keep(clause=clause, fact=fact, key=key)


class RecordNotFound(ComplianceError, LookupError):
    """No record with ``.value`` exists in the register (``.version`` and ``.lang`` for an
    agreement version)."""

    _evidence: ClassVar[tuple[str, ...]] = ("value", "version", "lang")
    value: Any
    version: str | None
    lang: str | None

    def __init__(self, message: str, *, value: Any = None, version: str | None = None,
                 lang: str | None = None) -> None:
        super().__init__(message)
        self._keep(value=value, version=version, lang=lang)


class BadRequest(ConfigurationError):
    """A request that cannot be read (a bad subject header, a body that is not JSON); the
    ASGI middleware answers HTTP 400 in OpenAI's error shape. ``.field`` names the part.

    .. versionadded:: 0.2
    """


class UnsupportedChunk(ConfigurationError):
    """A streamed chunk whose text the guard cannot read; it is never passed on unscanned.
    Pass ``guard(chunk_codec=…)`` for chunks of another shape. ``.value`` names the type.

    .. versionadded:: 0.2
    """


class UnknownCalendarYear(ConfigurationError):
    """The working-day calendar has no holiday table for ``.year`` (``.known_years`` are
    the years it has); deadlines in that year are refused rather than guessed. Configure
    the year's holidays (``[complaints] holidays``) or update ``chinesecalendar``.

    .. versionadded:: 0.2
    """

    _evidence: ClassVar[tuple[str, ...]] = ("year", "known_years")
    year: int | None
    known_years: tuple[int, ...]

    def __init__(self, message: str, *, year: int | None = None,
                 known_years: Sequence[int] = (), field: str | None = None,
                 value: Any = None) -> None:
        super().__init__(message, field=field, value=value)
        self._keep(year=year, known_years=tuple(known_years))


class GuardianBoundExceeded(ConfigurationError):
    """A guardian's adjustment or exemption goes beyond a bound set in ``[minors]``
    (MM-adjust, MM-exempt). ``.bound`` names the setting (``guardian_max_daily_minutes.12-16``,
    ``exemption_max_minutes``, ``exemption_curfew``), ``.limit`` its value and ``.value`` what
    was asked for. Nothing is changed or recorded.

    .. versionadded:: 0.2
    """

    _evidence: ClassVar[tuple[str, ...]] = ("bound", "limit")
    bound: str
    limit: Any

    def __init__(self, message: str, *, bound: str, limit: Any, value: Any) -> None:
        super().__init__(message, field=bound, value=value)
        self._keep(bound=bound, limit=limit)


class StepOutOfOrder(ConfigurationError):
    """A breach-workflow step that is not possible now (taken already, or too early).
    ``.step`` is the step asked for, ``.done`` the steps taken, ``.allowed`` what is
    possible now, ``.breach`` the breach id when known."""

    _evidence: ClassVar[tuple[str, ...]] = ("step", "done", "allowed", "breach")
    step: str
    done: tuple[str, ...]
    allowed: tuple[str, ...]
    breach: str | None

    def __init__(self, message: str, *, step: str, done: Sequence[str] = (),
                 allowed: Sequence[str] = (), breach: str | None = None) -> None:
        super().__init__(message, field="step", value=step)
        self._keep(step=step, done=tuple(done), allowed=tuple(allowed), breach=breach)



class LedgerNotFound(_Located, LedgerError):
    """There is no ledger at ``.uri`` to read: no file, no tables or no records. Opening a
    ledger to verify it never creates one. (Not a tamper finding: exit code 2.)

    .. versionadded:: 0.2
    """

    def __init__(self, message: str, *, uri: str | None = None,
                 path: str | None = None) -> None:
        _Located.__init__(self, message, uri=uri, path=path)


class LedgerCorrupt(_Located, LedgerError):
    """The ledger's database cannot be read (not a database, damaged pages, malformed rows).

    .. versionadded:: 0.2
    """

    def __init__(self, message: str, *, uri: str | None = None,
                 path: str | None = None) -> None:
        _Located.__init__(self, message, uri=uri, path=path)


for _name in __all__:
    globals()[_name].__module__ = "genai_compliance"
