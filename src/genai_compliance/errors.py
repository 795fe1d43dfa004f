"""Every error genai_compliance raises, under one catchable base.

The tree::

    ComplianceError
    ├── ConfigurationError (ValueError)      a setting or argument is wrong; fix the config
    │   ├── BadRequest                       a request that cannot be read (HTTP 400)
    │   └── UnsupportedChunk                 a streamed chunk whose text cannot be read
    ├── Refusal                              a check refused the call (the guard records it)
    │   ├── ConsentRequired                  purposes not granted (PI-14, PI-SEP, IM-9)
    │   │   └── GuardianConsentRequired      a subject under 14 needs a guardian (PI-28/31)
    │   ├── MinorRestricted                  minors' rules (IM-10, MM-final)
    │   │   ├── MinorCurfew                  no service in the night window
    │   │   └── MinorQuotaExhausted          the daily time quota is used up
    │   ├── ContentBlocked                   moderation blocked input or output (IM-4a, IM-14a)
    │   └── ServiceRestricted                illegal-use escalation (IM-14b, SR-14)
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
the evidence as attributes (``.subject``, ``.purposes``, ``.path``, ``.value``, ...).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

__all__ = [
    "BadRequest",
    "ComplianceError",
    "ConfigurationError",
    "ConsentRequired",
    "ContentBlocked",
    "GuardianConsentRequired",
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
    "RecordNotFound",
    "Refusal",
    "RetentionError",
    "ServiceRestricted",
    "SigningError",
    "StoreUnavailable",
    "UnsupportedChunk",
    "UnsupportedMedia",
]


class ComplianceError(Exception):
    """Base of every error raised by genai_compliance."""

    def __init__(self, message: str, **evidence: Any) -> None:
        super().__init__(message)
        self.message = message
        self.evidence: dict[str, Any] = dict(evidence)
        for key, value in evidence.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        fields = "".join(f", {k}={v!r}" for k, v in self.evidence.items())
        return f"{type(self).__name__}({self.message!r}{fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.evidence))


def _rebuild(cls: type[ComplianceError], message: str, evidence: dict[str, Any]) -> Any:
    err = cls.__new__(cls)
    ComplianceError.__init__(err, message, **evidence)
    return err


class ConfigurationError(ComplianceError, ValueError):
    """A setting or argument is invalid. ``.field`` names it when known."""


class Refusal(ComplianceError):
    """A check refused the call.

    ``reason`` is a stable machine-readable code (``"consent"``, ``"curfew"``, ...),
    ``rules`` the obligation IDs that required the refusal, ``http_status`` the status an ASGI
    response should carry and ``retry_after`` when the call may succeed again (UTC), if known.
    """

    reason: str = "refused"
    http_status: int = 403

    def __init__(
        self,
        message: str,
        *,
        rules: Sequence[str] = (),
        retry_after: _dt.datetime | None = None,
        **evidence: Any,
    ) -> None:
        super().__init__(message, rules=tuple(rules), retry_after=retry_after, **evidence)
        self.rules: tuple[str, ...] = tuple(rules)
        self.retry_after: _dt.datetime | None = retry_after


class ConsentRequired(Refusal):
    """The subject has not granted (or has withdrawn) consent for ``.purposes``.

    Evidence: ``.purposes`` (the missing required purposes), ``.notice`` (the notice each is
    to be consented against: ``{purpose: {"version", "sha256"}}``) and ``.subject`` (the
    ledger's pseudonym of the subject, never the raw user id).
    """

    reason = "consent"
    http_status = 403
    purposes: list[str]
    notice: dict[str, dict[str, str]]
    subject: str | None


class GuardianConsentRequired(ConsentRequired):
    """The subject is under 14: only a guardian's consent counts (PIPL Art. 31)."""

    reason = "guardian-consent"


class MinorRestricted(Refusal):
    """A minors' protection rule refused the call."""

    reason = "minor"
    http_status = 403


class MinorCurfew(MinorRestricted):
    """The call falls in the minors' night window; ``.retry_after`` is when it ends."""

    reason = "curfew"
    http_status = 429


class MinorQuotaExhausted(MinorRestricted):
    """The daily time quota is used up; ``.retry_after`` is the next local midnight."""

    reason = "quota"
    http_status = 429


class ContentBlocked(Refusal):
    """Moderation blocked the prompt or the output; ``.risk`` is the risk code (A.1a ...)."""

    reason = "content"
    http_status = 451


class ServiceRestricted(Refusal):
    """The subject's use is limited, suspended or terminated for illegal use (IM-14b)."""

    reason = "illegal-use"
    http_status = 403


class StoreUnavailable(ComplianceError):
    """A store, cache or ledger backend did not answer. The call is denied (fail closed)."""


class LedgerError(ComplianceError):
    """The ledger cannot perform the operation."""


class LedgerIntegrityError(LedgerError):
    """Ledger verification failed at ``.seq``. The message stays opaque on purpose."""


class RetentionError(LedgerError):
    """A retention period or purge would drop records the law says to keep."""


class MediaError(ComplianceError, ValueError):
    """A media file cannot be handled. ``.format`` and ``.offset`` locate the problem."""


class MalformedMedia(MediaError):
    """The file is truncated or corrupt at ``.offset`` for format ``.format``."""


class UnsupportedMedia(MediaError):
    """The file's format is not one this operation supports."""


class LabelError(ComplianceError, ValueError):
    """A label (explicit or implicit) is invalid or cannot be applied."""


class SigningError(ComplianceError):
    """A signature or certificate could not be created, loaded or verified."""


class MissingClause(ComplianceError):
    """An agreement clause needs ``.fact`` from the config, which is missing."""


class RecordNotFound(ComplianceError, LookupError):
    """No record with ``.value`` exists in the register."""


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


class LedgerNotFound(LedgerError):
    """There is no ledger at ``.uri`` to read: no file, no tables or no records. Opening a
    ledger to verify it never creates one. (Not a tamper finding: exit code 2.)

    .. versionadded:: 0.2
    """


class LedgerCorrupt(LedgerError):
    """The ledger's database cannot be read (not a database, damaged pages, malformed rows).

    .. versionadded:: 0.2
    """


for _name in __all__:
    globals()[_name].__module__ = "genai_compliance"
