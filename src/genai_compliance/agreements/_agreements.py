"""Service agreements (IM-9, LM-8, IM-14, IM-15, PIPL): render, version, diff, accept."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from typing import Any

import attrs
import jinja2

from ..errors import ConfigurationError, MissingClause
from ..rules import implements

#: Every clause the agreement must carry and the config facts it needs (IM-9, LM-8, IM-15).
CLAUSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("parties-and-service", ("provider.legal_name", "provider.product_name",
                             "agreement.service_description")),
    ("rights-and-duties", ("provider.legal_name",)),
    ("labelling", ("labelling.methods", "labelling.styles")),
    ("illegal-use-measures", ("agreement.illegal_use_measures",)),
    ("complaints", ("complaints.channel", "complaints.response_working_days")),
    ("minors", ("agreement.minors_policy",)),
    ("personal-information", ("agreement.pi_purposes",)),
    ("retention", ("agreement.input_retention_days",)),
    ("intellectual-property", ("agreement.ip_policy",)),
    ("changes-and-termination", ("agreement.change_notice_days",)),
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


@implements("IM-9", "LM-8", "PI-17")
@attrs.define
class Agreements:
    """Renders the user service agreement from provider config (IM-9, LM-8, IM-14, IM-15).

    Rendering fails with :class:`MissingClause` naming the missing fact.
    """

    facts: dict[str, Any]
    version: str = "1.0"
    consent: Any = None
    _env: jinja2.Environment = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("genai_compliance.agreements", "templates"),
            undefined=jinja2.ChainableUndefined, autoescape=False, keep_trailing_newline=True)

    @classmethod
    def from_compliance(cls, compliance: Any) -> Agreements:
        """Build from [agreement], [labelling], [complaints] and the provider."""
        s = compliance.settings
        p = compliance.provider
        facts = {
            "provider": {k: getattr(p, k) for k in (
                "legal_name", "legal_name_en", "product_name", "product_name_en", "uscc",
                "service_filing_number", "website", "contact_email", "contact_phone")},
            "agreement": dict(s.get("agreement", {})),
            "labelling": dict(s.get("labelling", {})),
            # the deadline the incidents module enforces (IM-15), 15 working days by default
            "complaints": {"response_working_days": 15, **dict(s.get("complaints", {}))},
        }
        try:
            consent = compliance.consent
        except Exception:  # acceptance optional without a consent store
            consent = None
        return cls(facts, str(facts["agreement"].get("version", "1.0")), consent)

    def check(self) -> None:
        """Raise :class:`MissingClause` for the first clause lacking a fact."""
        for clause, needs in CLAUSES:
            for fact in needs:
                if _lookup(self.facts, fact) is None:
                    raise MissingClause(
                        f"agreement clause {clause!r} needs {fact!r}; add it to the config",
                        clause=clause, fact=fact)
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
            import html

            body = "\n".join(
                f"<h{len(ln) - len(ln.lstrip('#'))}>{html.escape(ln.lstrip('# '))}"
                f"</h{len(ln) - len(ln.lstrip('#'))}>" if ln.startswith("#")
                else (f"<p>{html.escape(ln)}</p>" if ln.strip() else "")
                for ln in text.splitlines())
            return (f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}">'
                    f'<meta charset="utf-8"><body>\n{body}\n</body></html>\n')
        raise ConfigurationError("format must be md or html", field="format", value=fmt)

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

    def accept(self, subject: Any, lang: str = "zh", **kwargs: Any) -> str:
        """Record acceptance as consent on ``service-agreement`` bound to the version hash."""
        from ..consent import NoticeRef

        if self.consent is None:
            raise ConfigurationError("no consent service configured", field="consent")
        v = self.render_version(lang)
        notice = NoticeRef(version=v.version, sha256=v.sha256)
        return str(self.consent.grant(subject, "service-agreement", notice=notice,
                                      method=kwargs.pop("method", "agreement-accept"), **kwargs))
