"""Input retention (IM-11a, PI-19) and the training filter (IM-7).

Prompts and outputs are kept only as long as configured (``[consent] input_retention_days``,
default 30) and dropped by :meth:`InputStore.purge_expired` (run it from a periodic job).
:meth:`InputStore.training_eligible` yields only the records whose subject consented to the
``training`` purpose when the record was kept *and* still consents now — what a training
pipeline may read (IM-7, PI-16).

Both answers come from the consent service's own state (``gc_consent``, read fresh, not from
its cache): an input kept while ``training`` was declined — by the subject's consent state
then, or by the guarded call it came from (``keep(..., call=ctx)``, whose consent check put
``training`` in ``ctx.response.optional_declined``) — is never eligible, even after a later
grant; a withdrawal makes every earlier input ineligible at once.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import attrs

from .._exports import deprecated
from ..checks import CallContext
from ..errors import ConfigurationError
from ..rules import implements
from ..stores import SQLDatabase
from ..subject import Subject
from ._service import ConsentService

if TYPE_CHECKING:
    from ..context import DutyContext


class _Facade(Protocol):
    """The deprecated :meth:`InputStore.from_compliance` argument."""

    @property
    def context(self) -> DutyContext: ...

    @property
    def consent(self) -> ConsentService: ...

__all__ = ["InputRecord", "InputStore"]

_DDL = [
    "CREATE TABLE IF NOT EXISTS gc_inputs (id TEXT PRIMARY KEY, subject TEXT NOT NULL, "
    "user_id TEXT NOT NULL, prompt TEXT NOT NULL, output TEXT, at TEXT NOT NULL, "
    "expires TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS gc_inputs_expires ON gc_inputs (expires)",
    # the optional purposes declined when the input was kept: that use never applies to it
    "CREATE TABLE IF NOT EXISTS gc_inputs_declined (input_id TEXT NOT NULL, purpose TEXT "
    "NOT NULL, PRIMARY KEY (input_id, purpose))",
]

#: the optional uses of kept inputs whose consent is looked up when an input is kept
_GATED_PURPOSES = ("training",)


@attrs.frozen
class InputRecord:
    """One kept prompt (and its output) of a subject."""

    id: str
    subject: Subject
    prompt: str
    output: str | None
    at: dt.datetime


@implements("IM-11a", "PI-19", "IM-7", "SR-13")
class InputStore:
    """Prompts and outputs with a retention period; the training filter."""

    def __init__(self, consent: ConsentService, db: SQLDatabase | None = None, *,
                 retention_days: int = 30) -> None:
        if retention_days < 1:
            raise ConfigurationError(f"input retention must be at least 1 day, got "
                                     f"{retention_days}", field="input_retention_days",
                                     value=retention_days)
        self.consent = consent
        self.db = db or consent.db
        self.db.executescript(_DDL)
        self.retention = dt.timedelta(days=retention_days)

    @classmethod
    def from_context(cls, ctx: DutyContext, *, consent: ConsentService) -> InputStore:
        """Kept in ``consent``'s database for ``[consent] input_retention_days`` (30).

        .. versionadded:: 0.2
        """
        days = int(ctx.section("consent").get("input_retention_days", 30))
        return cls(consent, retention_days=days)

    @classmethod
    def from_compliance(cls, compliance: _Facade) -> InputStore:
        """Deprecated: use :meth:`from_context`.

        .. deprecated:: 0.2
        """
        deprecated("InputStore.from_compliance", "InputStore.from_context("
                   "compliance.context, consent=compliance.consent)")
        return cls.from_context(compliance.context, consent=compliance.consent)

    def keep(self, subject: Subject, prompt: str, output: str | None = None, *,
             call: CallContext | None = None) -> str:
        """Store a prompt (and output) until the retention period ends; returns its id.

        The optional purposes the subject has not consented to now (``training``), and those
        the guarded ``call`` found declined, are kept with the input: those uses never apply
        to it (PI-16, IM-7).
        """
        now = self.consent.clock.now()
        rid = secrets.token_hex(8)
        pseudonym = self.consent.ledger.pseudonym(subject)  # its own transaction, first
        declined = set(self.consent.missing(subject, _GATED_PURPOSES, fresh=True))
        if call is not None:
            declined.update(call.response.optional_declined)
        with self.db.transaction(write=True) as tx:
            tx.execute("INSERT INTO gc_inputs(id, subject, user_id, prompt, output, at, "
                       "expires) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (rid, pseudonym, subject.user_id, prompt,
                        output, now.isoformat(), (now + self.retention).isoformat()))
            if declined:
                tx.executemany("INSERT INTO gc_inputs_declined(input_id, purpose) VALUES "
                               "(?, ?)", [(rid, p) for p in sorted(declined)])
        return rid

    def purge_expired(self) -> int:
        """Delete records past their retention period; the purge is a ledger record."""
        now = self.consent.clock.now().isoformat()
        with self.db.transaction(write=True) as tx:
            count = len(tx.execute("SELECT id FROM gc_inputs WHERE expires <= ?",
                                   (now,)).fetchall())
            tx.execute("DELETE FROM gc_inputs_declined WHERE input_id IN (SELECT id FROM "
                       "gc_inputs WHERE expires <= ?)", (now,))
            tx.execute("DELETE FROM gc_inputs WHERE expires <= ?", (now,))
        self.consent.ledger.append("retention.purge", {"table": "inputs", "records": count})
        return count

    @implements("PI-RIGHTS", "IM-11b")
    def correct(self, subject: Subject, record_id: str, *, prompt: str | None = None,
                output: str | None = None) -> None:
        """Correct or supplement a kept record at the subject's request (PIPL Art. 46);
        the request and its answer are ledger records."""
        from ..errors import RecordNotFound

        with self.db.transaction(write=True) as tx:
            row = tx.execute("SELECT id FROM gc_inputs WHERE id = ? AND user_id = ?",
                             (record_id, subject.user_id)).fetchone()
            if row is not None:
                tx.execute("UPDATE gc_inputs SET prompt = COALESCE(?, prompt), output = "
                           "COALESCE(?, output) WHERE id = ?", (prompt, output, record_id))
        self.consent.ledger.append("dsr.correct", {
            "record": record_id, "fields": [f for f, v in (("prompt", prompt),
                                                          ("output", output)) if v is not None],
            "answer": "corrected" if row is not None else "not-found"}, subject=subject)
        if row is None:
            raise RecordNotFound(f"no kept record {record_id!r} of this subject",
                                 value=record_id)

    def erase_subject(self, subject: Subject) -> int:
        """Delete everything kept for ``subject`` (a deletion request)."""
        with self.db.transaction(write=True) as tx:
            count = len(tx.execute("SELECT id FROM gc_inputs WHERE user_id = ?",
                                   (subject.user_id,)).fetchall())
            tx.execute("DELETE FROM gc_inputs_declined WHERE input_id IN (SELECT id FROM "
                       "gc_inputs WHERE user_id = ?)", (subject.user_id,))
            tx.execute("DELETE FROM gc_inputs WHERE user_id = ?", (subject.user_id,))
        return count

    def records(self) -> Iterator[InputRecord]:
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT id, user_id, prompt, output, at FROM gc_inputs ORDER BY "
                              "at, id").fetchall()
        for rid, user_id, prompt, output, at in rows:
            yield InputRecord(rid, Subject(user_id), prompt, output,
                              dt.datetime.fromisoformat(at))

    def eligible(self, purpose: str) -> Iterator[InputRecord]:
        """The records that may be used for the optional ``purpose``: not declined when kept,
        and the subject consents now (read fresh from the consent store)."""
        self.consent.classify((purpose,))  # an unknown purpose is a ConfigurationError
        with self.db.transaction() as tx:
            declined = {row[0] for row in tx.execute(
                "SELECT input_id FROM gc_inputs_declined WHERE purpose = ?", (purpose,))}
        verdict: dict[str, bool] = {}
        for record in self.records():
            if record.id in declined:
                continue
            uid = record.subject.user_id
            if uid not in verdict:
                verdict[uid] = not self.consent.missing(record.subject, [purpose], fresh=True)
            if verdict[uid]:
                yield record

    def training_eligible(self) -> Iterator[InputRecord]:
        """Only the records whose subject consented to ``training`` when they were kept and
        still consents now (IM-7, PI-16)."""
        return self.eligible("training")
