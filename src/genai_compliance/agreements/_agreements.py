"""Service agreements (IM-9, LM-8, IM-14, IM-15, PIPL): render, version, diff, accept."""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

import attrs
import jinja2

from .._exports import deprecated
from ..clock import Clock
from ..errors import ConfigurationError, MissingClause, RecordNotFound
from ..ledger import Ledger
from ..rules import implements
from ..schemas import validate
from ..stores import SQLDatabase
from ..subject import Subject

if TYPE_CHECKING:
    from ..consent import ConsentService
    from ..context import DutyContext, HasContext


def _load_clauses() -> tuple[tuple[tuple[str, tuple[str, ...]], ...], dict[str, str]]:
    doc = json.loads(resources.files(__package__).joinpath("clauses.json").read_text("utf-8"))
    validate(doc, "agreement-clause-list", what="agreement clause list")
    clauses = tuple((c["id"], tuple(f["fact"] for f in c["facts"])) for c in doc["clauses"])
    keys = {f["fact"]: f["toml"] for c in doc["clauses"] for f in c["facts"]}
    return clauses, keys


#: Every clause the agreement must carry and the config facts it needs (IM-9, IM-10,
#: IM-14b, IM-15, LM-8), read from ``clauses.json`` (schema ``agreement-clause-list``).
CLAUSES: tuple[tuple[str, tuple[str, ...]], ...]
TOML_KEYS: dict[str, str]
CLAUSES, TOML_KEYS = _load_clauses()
_DDL = (
    "CREATE TABLE IF NOT EXISTS gc_agreement_versions (version TEXT NOT NULL, "
    "lang TEXT NOT NULL, sha256 TEXT NOT NULL, text TEXT NOT NULL, published_at TEXT NOT NULL, "
    "PRIMARY KEY (version, lang))",
)
LANGS = ("zh", "en")


def _lookup(facts: Mapping[str, Any], dotted: str) -> Any:
    node: Any = facts
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or node.get(part) in (None, "", [], {}):
            return None
        node = node[part]
    return node


@attrs.frozen
class AgreementVersion:
    """One rendered agreement: its text, version label and SHA-256 content hash (IM-9)."""

    lang: str
    text: str
    version: str
    sha256: str


@implements("IM-9", "LM-8", "LM-9", "PI-17")
@attrs.define
class Agreements:
    """Renders the user service agreement from provider config (IM-9, LM-8, IM-14, IM-15).

    Rendering fails with :class:`MissingClause` naming the missing fact.
    """

    facts: dict[str, Any]
    version: str = "1.0"
    consent: ConsentService | None = None
    db: SQLDatabase | None = None
    ledger: Ledger | None = None
    clock: Clock | None = None
    _env: jinja2.Environment = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("genai_compliance.agreements", "templates"),
            undefined=jinja2.ChainableUndefined, autoescape=False, keep_trailing_newline=True)

    @classmethod
    def from_context(cls, ctx: DutyContext, *,
                     consent: ConsentService | None = None) -> Agreements:
        """Build from [agreement], [labelling], [complaints] and the provider; acceptances
        are recorded as ``service-agreement`` consent in ``consent`` (PI-14, IM-9)."""
        s = ctx.settings
        p = ctx.provider
        facts = {
            "provider": {k: getattr(p, k) for k in (
                "legal_name", "legal_name_en", "product_name", "product_name_en", "uscc",
                "service_filing_number", "website", "contact_email", "contact_phone")},
            "agreement": dict(s.get("agreement", {})),
            "labelling": dict(s.get("labelling", {})),
            # the deadline the incidents module enforces (IM-15), 15 working days by default
            "complaints": {"response_working_days": 15, **dict(s.get("complaints", {}))},
        }
        agr = facts["agreement"]
        if not facts["complaints"].get("channel"):
            channel = "；".join(str(agr[k]) for k in ("complaint_email", "complaint_phone",
                                                     "complaint_url") if agr.get(k))
            if channel:
                facts["complaints"]["channel"] = channel
        if agr.get("response_working_days"):
            facts["complaints"]["response_working_days"] = agr["response_working_days"]
        if agr.get("retention_days") and not agr.get("input_retention_days"):
            agr["input_retention_days"] = agr["retention_days"]
        return cls(facts, str(facts["agreement"].get("version", "1.0")), consent,
                   db=ctx.database("agreements"), ledger=ctx.ledger, clock=ctx.clock)

    @classmethod
    def from_compliance(cls, compliance: HasContext) -> Agreements:
        """Deprecated: use ``compliance.agreements`` or :meth:`from_context`."""
        deprecated("Agreements.from_compliance", "compliance.agreements or "
                   "Agreements.from_context(compliance.context, consent=...)")
        return cls.from_context(compliance.context, consent=getattr(compliance, "consent", None))

    def check(self) -> None:
        """Raise :class:`MissingClause` for the first clause lacking a fact."""
        for clause, needs in CLAUSES:
            for fact in needs:
                if _lookup(self.facts, fact) is None:
                    raise MissingClause(
                        f"agreement clause {clause!r} needs {fact!r}; set "
                        f"{TOML_KEYS.get(fact, fact)} in compliance.toml",
                        clause=clause, fact=fact, key=TOML_KEYS.get(fact, fact))
        from ..schemas import validate

        validate(dict(self.facts), "agreement-clauses", what="agreement facts")

    def render(self, lang: str = "zh", fmt: str = "md") -> str:
        """Render the agreement in ``lang`` (zh|en) as Markdown or HTML."""
        if lang not in LANGS:
            raise ConfigurationError("language must be zh or en", field="lang", value=lang)
        self.check()
        text = self._env.get_template(f"agreement.{lang}.md.j2").render(
            **self.facts, version=self.version)
        if fmt == "md":
            return text
        if fmt == "html":
            return self._html(text, lang)
        raise ConfigurationError("format must be md or html", field="format", value=fmt)

    def _html(self, markdown: str, lang: str) -> str:
        """HTML from the clause sections, through ``agreement.<lang>.html.j2`` (autoescaped)."""
        title = ""
        sections: list[dict[str, Any]] = []
        for line in markdown.splitlines():
            if line.startswith("## "):
                ids = [c for c, _ in CLAUSES]
                sections.append({"id": ids[len(sections)] if len(sections) < len(ids)
                                 else f"clause-{len(sections) + 1}",
                                 "heading": line[3:].strip(), "paragraphs": []})
            elif line.startswith("# "):
                title = line[2:].strip()
            elif line.strip() and sections:
                sections[-1]["paragraphs"].append(line.strip())
        env = self._env.overlay(autoescape=True)
        return env.get_template(f"agreement.{lang}.html.j2").render(
            title=title, sections=sections, version=self.version,
            html_lang="zh-CN" if lang == "zh" else "en")

    def render_version(self, lang: str = "zh") -> AgreementVersion:
        """Render and return the text with its version label and content hash."""
        text = self.render(lang)
        return AgreementVersion(lang, text, self.version,
                                hashlib.sha256(text.encode("utf-8")).hexdigest())

    @staticmethod
    def diff(old: AgreementVersion, new: AgreementVersion) -> str:
        """A unified, readable diff between two versions (for change notices)."""
        return "".join(difflib.unified_diff(
            old.text.splitlines(keepends=True), new.text.splitlines(keepends=True),
            f"{old.version} ({old.sha256[:12]})", f"{new.version} ({new.sha256[:12]})"))

    # -- published versions ------------------------------------------------------------
    def _db(self) -> SQLDatabase:
        if self.db is None:
            raise ConfigurationError("publishing needs a SQL database: build with "
                                     "Agreements.from_context or pass db=", field="db")
        self.db.executescript(_DDL)
        return self.db

    def publish(self, version: str | None = None) -> list[AgreementVersion]:
        """Render every language as ``version``, store it and record ``agreement.publish``
        in the ledger (IM-9: the text users accepted stays provable). Republishing the same
        version with a different text is refused."""
        if version is not None:
            self.version = version
        out = []
        db = self._db()
        for lang in LANGS:
            v = self.render_version(lang)
            with db.transaction(write=True) as tx:
                row = tx.execute("SELECT sha256 FROM gc_agreement_versions WHERE version = ? "
                                 "AND lang = ?", (v.version, lang)).fetchone()
                if row is not None and row[0] != v.sha256:
                    raise ConfigurationError(
                        f"agreement version {v.version!r} ({lang}) was already published with "
                        "another text; publish the change under a new version",
                        field="version", value=v.version)
                if row is None:
                    at = self.clock.now().isoformat() if self.clock is not None else ""
                    tx.execute("INSERT INTO gc_agreement_versions(version, lang, sha256, text, "
                               "published_at) VALUES (?, ?, ?, ?, ?)",
                               (v.version, lang, v.sha256, v.text, at))
            if row is None and self.ledger is not None:
                self.ledger.append("agreement.publish", {"version": v.version, "lang": lang,
                                                         "sha256": v.sha256})
            out.append(v)
        return out

    def get(self, version: str, lang: str = "zh") -> AgreementVersion:
        """A published version (RecordNotFound if it was never published)."""
        with self._db().transaction() as tx:
            row = tx.execute("SELECT text, sha256 FROM gc_agreement_versions WHERE version = ? "
                             "AND lang = ?", (version, lang)).fetchone()
        if row is None:
            raise RecordNotFound(f"agreement version {version!r} ({lang}) was never published; "
                                 "run Agreements.publish first", version=version, lang=lang)
        return AgreementVersion(lang, row[0], version, row[1])

    def versions(self, lang: str = "zh") -> list[str]:
        """Published version labels in ``lang``, oldest first."""
        with self._db().transaction() as tx:
            rows = tx.execute("SELECT version FROM gc_agreement_versions WHERE lang = ? "
                              "ORDER BY published_at, version", (lang,)).fetchall()
        return [r[0] for r in rows]

    def accept(self, subject: Subject, lang: str = "zh", *, version: str | None = None,
               **kwargs: Any) -> str:
        """Record acceptance as consent on ``service-agreement`` bound to the version hash."""
        from ..consent import NoticeRef

        if self.consent is None:
            raise ConfigurationError("no consent service configured", field="consent")
        v = self.render_version(lang) if version is None else self.get(version, lang)
        notice = NoticeRef(version=v.version, sha256=v.sha256)
        return str(self.consent.grant(subject, "service-agreement", notice=notice,
                                      method=kwargs.pop("method", "agreement-accept"), **kwargs))

    # -- output without the explicit label, on request (LM-9) ---------------------------
    def request_unlabelled(self, subject: Subject, lang: str = "zh", *,
                           version: str | None = None, **kwargs: Any) -> str:
        """Record the user's request for output without the explicit label (LM-9) and
        return the receipt id. Allowed only after the user accepted the agreement version
        that fixes their own labelling duty (the clause on labels, LM-8/LM-10): the request
        is a grant of ``unlabelled-output`` bound to that version's hash, so it lapses when
        a new agreement version is published and not yet accepted. Under 14 only a
        guardian's request counts (pass ``guardian=``, as for consent).

        Afterwards, calls made inside :func:`genai_compliance.checks.unlabelled_output` (or
        with ``X-GenAI-Unlabelled: request``) are served without the explicit label; the
        implicit labels are still written, and each call's ledger record names the
        recipient (kept ≥ 6 months, see :meth:`unlabelled_recipients`)."""
        from ..checks import UNLABELLED_PURPOSE
        from ..consent import NoticeRef

        if self.consent is None:
            raise ConfigurationError("no consent service configured", field="consent")
        v = self.render_version(lang) if version is None else self.get(version, lang)
        accepted = self.consent.state(subject, "service-agreement")
        now = self.clock.now() if self.clock is not None else None
        if (accepted is None or (now is not None and not accepted.active(now))
                or accepted.notice_sha256 != v.sha256):
            raise ConfigurationError(
                f"the user has not accepted agreement version {v.version!r} ({lang}), whose "
                "clause on labels fixes the user's own labelling duty; call "
                "Agreements.accept first, then request_unlabelled (LM-9)",
                field="service-agreement", value=v.version)
        notice = NoticeRef(version=v.version, sha256=v.sha256)
        return str(self.consent.grant(subject, UNLABELLED_PURPOSE, notice=notice,
                                      method=kwargs.pop("method", "unlabelled-request"),
                                      **kwargs))

    def withdraw_unlabelled(self, subject: Subject) -> bool:
        """End the user's request for unlabelled output at once; returns whether one was
        active. Later calls are labelled again."""
        from ..checks import UNLABELLED_PURPOSE

        if self.consent is None:
            raise ConfigurationError("no consent service configured", field="consent")
        return self.consent.withdraw(subject, UNLABELLED_PURPOSE, method="unlabelled-withdraw")

    def unlabelled_recipients(self, *, since: dt.datetime | None = None,
                              until: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Who received output without the explicit label (LM-9's recipient log, kept in
        the ledger, whose retention floor is six months): one entry per served call, with
        the ledger sequence number, time, the recipient's pseudonym, call id and modality."""
        if self.ledger is None:
            raise ConfigurationError("the recipient log is read from the ledger: build with "
                                     "Agreements.from_context", field="ledger")
        out: list[dict[str, Any]] = []
        for rec in self.ledger.records(kind="guard.call", since=since, until=until):
            notes = rec.payload.get("notes")
            decided = notes.get("unlabelled_output") if isinstance(notes, Mapping) else None
            if (isinstance(decided, Mapping) and decided.get("outcome") == "omitted"
                    and rec.payload.get("outcome") == "served"):
                out.append({"seq": rec.seq, "time": rec.time, "recipient": rec.subject,
                            "call_id": rec.payload.get("call_id"),
                            "modality": rec.payload.get("modality")})
        return out

