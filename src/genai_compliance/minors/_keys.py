"""Store keys of subjects: the ledger's keyed pseudonym, never the user id (issue 15)."""

from __future__ import annotations

from ..subject import Subject, SubjectKeyer, SubjectKeys

__all__ = ["SubjectKeyer", "guardian_pseudonym", "minors_keys", "subject_store_key"]


def subject_store_key(keyer: SubjectKeyer | bytes, subject: Subject | str, *,
                      prefix: str = "gc:minors") -> str:
    """The store key of a subject: ``prefix:`` + the ledger's keyed HMAC of the user id
    (purpose ``"minors"``), so every duty keys subjects with the one pseudonym secret and a
    store dump reveals no user id, even for guessable ids such as phone numbers. ``keyer``
    may be a standalone secret (bytes, at least 16) for a protection built without a
    ledger; an unkeyed hash is never used. (:class:`~genai_compliance.subject.SubjectKeys`
    does this and remembers the keys; :class:`MinorProtection` uses that.)

    .. versionadded:: 0.2
    """
    return minors_keys(keyer, prefix)(subject)


def minors_keys(keyer: SubjectKeyer | bytes, prefix: str = "gc:minors") -> SubjectKeys:
    """The minors' :class:`~genai_compliance.subject.SubjectKeys` (purpose ``"minors"``)."""
    return SubjectKeys(keyer, purpose="minors", prefix=prefix, setting="minors.key_secret_env")


def guardian_pseudonym(keyer: SubjectKeyer | bytes, guardian_id: str) -> str:
    """The keyed pseudonym of a guardian in the minors' ledger records (MM-adjust,
    MM-exempt): ``g:`` + the ledger's ``subject_key`` under purpose ``"minors.guardian"`` (or
    an HMAC under the standalone secret), so a record names no guardian id in clear, and the
    same guardian gets the same pseudonym in every record."""
    return SubjectKeys(keyer, purpose="minors.guardian", prefix="g",
                       setting="minors.key_secret_env")(guardian_id)
