"""Store keys of subjects: the ledger's keyed pseudonym, never the user id (issue 15)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol, runtime_checkable

from ..errors import ConfigurationError
from ..subject import Subject

__all__ = ["SubjectKeyer", "guardian_pseudonym", "subject_store_key"]


@runtime_checkable
class SubjectKeyer(Protocol):
    """What keys subjects: the ledger (:meth:`genai_compliance.Ledger.subject_key`)."""

    def subject_key(self, subject: Subject | str, *, purpose: str) -> str: ...


def subject_store_key(keyer: SubjectKeyer | bytes, subject: Subject | str, *,
                      prefix: str = "gc:minors") -> str:
    """The store key of a subject: ``prefix:`` + the ledger's keyed HMAC of the user id
    (purpose ``"minors"``), so every duty keys subjects with the one pseudonym secret and a
    store dump reveals no user id, even for guessable ids such as phone numbers. ``keyer``
    may be a standalone secret (bytes, at least 16) for a protection built without a
    ledger; an unkeyed hash is never used.

    .. versionadded:: 0.2
    """
    if isinstance(keyer, bytes | bytearray):
        if len(keyer) < 16:
            raise ConfigurationError(
                "the minors' subject-key secret must be at least 16 bytes; use the ledger's "
                "(MinorProtection.from_context) or set minors.key_secret_env",
                field="minors.key_secret_env")
        user_id = subject.user_id if isinstance(subject, Subject) else subject
        digest = hmac.new(bytes(keyer), b"minors\x00" + user_id.encode(),
                          hashlib.sha256).hexdigest()[:32]
    elif isinstance(keyer, SubjectKeyer):
        digest = keyer.subject_key(subject, purpose="minors")
    else:
        raise ConfigurationError(
            f"minor protection keys subjects with the ledger's secret; got "
            f"{type(keyer).__name__}", field="minors.key_secret_env")
    return f"{prefix}:{digest}"


def guardian_pseudonym(keyer: SubjectKeyer | bytes, guardian_id: str) -> str:
    """The keyed pseudonym of a guardian in the minors' ledger records (MM-adjust,
    MM-exempt): the ledger's ``subject_key`` under purpose ``"minors.guardian"`` (or an HMAC
    under the standalone secret), so a record names no guardian id in clear, and the same
    guardian gets the same pseudonym in every record."""
    if isinstance(keyer, bytes | bytearray):
        return "g:" + hmac.new(bytes(keyer), b"minors.guardian\x00" + guardian_id.encode(),
                               hashlib.sha256).hexdigest()[:32]
    return "g:" + keyer.subject_key(guardian_id, purpose="minors.guardian")
