"""Who a call is for: :class:`Subject`, :class:`Guardian` and :class:`AgeBand`.

Age bands follow the Minors'-Mode Guidelines of 2024-11-15 (``MM-final``): under 3, 3-8, 8-12,
12-16 and 16-18, plus adults. PIPL Art. 28/31 (``PI-28/31``) makes under-14s a separate case:
their personal information is sensitive and needs a guardian's consent.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import enum
import hashlib
import hmac
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import attrs

from .errors import ConfigurationError

__all__ = ["AgeBand", "Guardian", "Subject", "SubjectKeyer", "SubjectKeys",
           "current_subject", "use_subject"]


class AgeBand(enum.Enum):
    """Content and time-limit bands of the minors' mode (MM-final)."""

    UNDER_3 = "under-3"
    AGE_3_8 = "3-8"
    AGE_8_12 = "8-12"
    AGE_12_16 = "12-16"
    AGE_16_18 = "16-18"
    ADULT = "adult"

    @classmethod
    def for_age(cls, age: int) -> AgeBand:
        """The band for a whole age in years."""
        if age < 0:
            raise ConfigurationError(f"age must be >= 0, got {age}", field="age", value=age)
        for upper, band in ((3, cls.UNDER_3), (8, cls.AGE_3_8), (12, cls.AGE_8_12),
                            (16, cls.AGE_12_16), (18, cls.AGE_16_18)):
            if age < upper:
                return band
        return cls.ADULT

    @property
    def is_minor(self) -> bool:
        return self is not AgeBand.ADULT

    @property
    def upper_age(self) -> int | None:
        """The first age no longer in the band (``None`` for adults)."""
        return {"under-3": 3, "3-8": 8, "8-12": 12, "12-16": 16, "16-18": 18}.get(self.value)


def _identifier(name: str, *, optional: bool = False) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: a non-empty ``str`` of valid Unicode (no lone surrogates, which
    a JSON body can carry as ``\\ud800`` and which no store or hash can encode). The
    error names the field, never the value (an identifier is personal information)."""
    def check(_: Any, __: Any, value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or not value:
            raise ConfigurationError(
                f"{name} must be a non-empty string, got "
                f"{'an empty string' if value == '' else type(value).__name__}",
                field=name, value=type(value).__name__)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ConfigurationError(
                f"{name} must be valid Unicode text; it holds a lone surrogate at position "
                f"{exc.start} (decode the request with errors='strict', or reject it)",
                field=name, value=None) from None
    return check


@attrs.frozen
class Guardian:
    """A minor's guardian (parent or other legal guardian)."""

    guardian_id: str = attrs.field(validator=_identifier("guardian_id"))
    relation: str = "parent"
    verified: bool = False


def _opt_date(value: dt.date | str | None) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigurationError(
            f"birth_date must be an ISO date like '2014-05-01', got {value!r}",
            field="birth_date",
            value=value,
        ) from exc


def _opt_band(value: AgeBand | str | None) -> AgeBand | None:
    if value is None or isinstance(value, AgeBand):
        return value
    try:
        return AgeBand(value)
    except ValueError as exc:
        known = ", ".join(b.value for b in AgeBand)
        raise ConfigurationError(
            f"age_band must be one of {known}; got {value!r}", field="age_band", value=value
        ) from exc


@attrs.frozen
class Subject:
    """The person a call is made for.

    ``birth_date`` or a verified ``age_band`` says how old they are; with neither, the age is
    unknown and the minors' policy decides how to treat them. ``user_id`` never reaches the
    ledger in clear: the ledger stores a keyed pseudonym.
    """

    user_id: str = attrs.field(validator=_identifier("user_id"))
    birth_date: dt.date | None = attrs.field(default=None, converter=_opt_date)
    age_band: AgeBand | None = attrs.field(default=None, converter=_opt_band)
    guardian: Guardian | None = None
    session_id: str | None = attrs.field(default=None,
                                         validator=_identifier("session_id", optional=True))

    def age_on(self, day: dt.date) -> int | None:
        """Whole years of age on ``day``, if the birth date is known."""
        if self.birth_date is None:
            return None
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    def band_on(self, day: dt.date) -> AgeBand | None:
        """The age band on ``day``; the birth date wins over a stored band. ``None``: unknown."""
        age = self.age_on(day)
        if age is not None:
            return AgeBand.for_age(age)
        return self.age_band

    def is_minor_on(self, day: dt.date) -> bool | None:
        band = self.band_on(day)
        return None if band is None else band.is_minor

    def is_under_14_on(self, day: dt.date) -> bool | None:
        """Under 14 (PIPL Art. 31)? ``None`` when unknown; a band straddling 14 counts as yes."""
        age = self.age_on(day)
        if age is not None:
            return age < 14
        if self.age_band is None:
            return None
        return self.age_band in (AgeBand.UNDER_3, AgeBand.AGE_3_8, AgeBand.AGE_8_12,
                                 AgeBand.AGE_12_16)


current_subject: contextvars.ContextVar[Subject | None] = contextvars.ContextVar(
    "genai_compliance_subject", default=None
)


@contextlib.contextmanager
def use_subject(subject: Subject) -> Iterator[Subject]:
    """Make ``subject`` the current one for guarded calls inside the block."""
    token = current_subject.set(subject)
    try:
        yield subject
    finally:
        current_subject.reset(token)


@runtime_checkable
class SubjectKeyer(Protocol):
    """What keys subjects for a duty's store: the ledger
    (:meth:`genai_compliance.Ledger.subject_key`)."""

    def subject_key(self, subject: Subject | str, *, purpose: str) -> str: ...


#: how many user ids a :class:`SubjectKeys` remembers before it forgets them all
MAX_REMEMBERED = 100_000


class SubjectKeys:
    """The store keys of one duty's subjects: ``prefix:`` + a keyed HMAC of the user id —
    the ledger's :meth:`~genai_compliance.Ledger.subject_key` under ``purpose`` or, for a
    duty built without a ledger, HMAC-SHA256 under a standalone secret of at least 16 bytes.
    Never the user id and never an unkeyed hash (a phone number is recovered from one in
    under a second). Each user id's key is derived once and remembered (bounded).

    ``setting`` names the configuration key of the secret, for the error a bad one gets.

    .. versionadded:: 0.2
    """

    __slots__ = ("_keyer", "_memo", "prefix", "purpose")

    def __init__(self, keyer: SubjectKeyer | bytes, *, purpose: str, prefix: str,
                 setting: str) -> None:
        if isinstance(keyer, bytes | bytearray):
            if len(keyer) < 16:
                raise ConfigurationError(
                    f"the {purpose} subject-key secret must be at least 16 bytes (got "
                    f"{len(keyer)}); use the ledger's (build the duty from its context) or "
                    f"set {setting}", field=setting, value=len(keyer))
            keyer = bytes(keyer)
        elif not isinstance(keyer, SubjectKeyer):
            raise ConfigurationError(
                f"the {purpose} duty keys subjects with the ledger (subject_key) or a secret "
                f"(bytes); got {type(keyer).__name__}", field=setting,
                value=type(keyer).__name__)
        self._keyer: SubjectKeyer | bytes = keyer
        self.purpose = purpose
        self.prefix = prefix
        self._memo: dict[str, str] = {}

    def digest(self, subject: Subject | str) -> str:
        """The keyed HMAC of the subject's user id (32 hex digits), without the prefix."""
        keyer = self._keyer
        if isinstance(keyer, bytes):
            user_id = subject.user_id if isinstance(subject, Subject) else subject
            if not isinstance(subject, Subject):
                _identifier("user_id")(None, None, user_id)  # a Subject checked its own
            return hmac.new(keyer, self.purpose.encode() + b"\x00" + user_id.encode(),
                            hashlib.sha256).hexdigest()[:32]
        return keyer.subject_key(subject, purpose=self.purpose)

    def __call__(self, subject: Subject | str) -> str:
        """The subject's store key (remembered per user id)."""
        user_id = subject.user_id if isinstance(subject, Subject) else subject
        found = self._memo.get(user_id)
        if found is None:
            if len(self._memo) >= MAX_REMEMBERED:  # bounded: forget the lot, derive again
                self._memo.clear()
            found = self._memo[user_id] = f"{self.prefix}:{self.digest(subject)}"
        return found
