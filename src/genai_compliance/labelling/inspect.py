"""Inspect a file for its GB 45438 implicit label (and C2PA manifest) and give a verdict.

Obligations: LM-5 (implicit label present and well-formed), LM-6 (tier from Label:
"1" confirmed, "2" possibly, "3" suspected AI-generated), LM-8 (propagation platforms
check the label of content they carry).

Verdicts: ``compliant`` (exactly one well-formed label), ``non-compliant`` (label damaged,
several labels, or a tampered/contradicting C2PA manifest), ``not-found`` (the format is
supported and carries no label), ``inconclusive`` (format unsupported or file damaged: no
claim either way).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import attrs

from genai_compliance.errors import ComplianceError, LabelError, MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.rules import implements

__all__ = ["FoundLabel", "InspectReport", "inspect", "raw_scan"]

_TIERS = {"1": "confirmed", "2": "possibly", "3": "suspected"}


@attrs.frozen
class FoundLabel:
    """One label found: carrier, raw text, parsed fields or the parse error."""

    carrier: str
    raw: str
    fields: dict[str, str] | None
    error: str | None
    offset: int | None = None


@attrs.frozen
class InspectReport:
    """The result of :func:`inspect` (schema ``inspect-report``)."""

    format: str | None
    labels: tuple[FoundLabel, ...]
    verdict: str
    problems: tuple[str, ...]
    tier: str | None
    c2pa: dict[str, Any] | None
    source: str | None = None
    #: PG-202511A SecurityData summary (labelling.security.security_summary) or None.
    security: dict[str, Any] | None = None

    @property
    def compliant(self) -> bool:
        """Whether the verdict is ``compliant``."""
        return self.verdict == "compliant"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (schema ``inspect-report``)."""
        return {
            "source": self.source,
            "format": self.format,
            "labels": [attrs.asdict(lab) for lab in self.labels],
            "verdict": self.verdict,
            "problems": list(self.problems),
            "tier": self.tier,
            "c2pa": self.c2pa,
            "security": self.security,
        }

    def to_json(self) -> str:
        """Compact JSON, validated against ``inspect-report``."""
        from genai_compliance.schemas import validate

        doc = self.to_dict()
        validate(doc, "inspect-report", what="inspect report")
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


_RAW = re.compile(rb'\{\s*"Label"\s*:\s*"[^"]{0,8}"\s*,[^{}]{0,4000}\}')
_RAW_MAX = 256 << 20


def raw_scan(data: bytes) -> list[RawLabel]:
    """Labels written by other tools in carriers we do not parse: any bare Annex E JSON
    object (``{"Label":…}``, also after ``AIGC``/in EXIF UserComment) in the raw bytes, or
    the same XML-entity-encoded. Used only when the format handler found nothing."""
    out: list[RawLabel] = []
    seen: set[str] = set()
    view = data[:_RAW_MAX]
    for candidate in (view, view.replace(b"&quot;", b'"')):
        for m in _RAW.finditer(candidate):
            text = m.group(0).decode("latin-1")
            if text not in seen:
                seen.add(text)
                out.append(RawLabel("raw-scan", text, m.start()))
    return out


def _c2pa(data: bytes | Path, trust_anchors: Any, problems: list[str]) -> dict[str, Any] | None:
    try:
        from genai_compliance.labelling.c2pa import read_c2pa

        report = read_c2pa(data, trust_anchors=trust_anchors)
    except (ComplianceError, ImportError, OSError) as exc:
        problems.append(f"C2PA manifest could not be read: {exc}")
        return None
    if report is None:
        return None
    result: dict[str, Any] = json.loads(report.to_json())
    return result


@implements("LM-6", "LM-10", "DSP-18", "LM-7")
def inspect(path_or_bytes: bytes | str | os.PathLike[str], trust_anchors: Any = None, *,
            c2pa: bool = True) -> InspectReport:
    """Inspect a file (path or bytes) for its implicit label (LM-5, LM-6, LM-8)."""
    from genai_compliance.labelling.aigc import AIGCLabel
    from genai_compliance.labelling.implicit import scan

    source: str | None = None
    target: bytes | Path
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        target = bytes(path_or_bytes)
    else:
        target = Path(path_or_bytes)
        source = str(target)
    problems: list[str] = []
    fmt: str | None
    try:
        fmt, raws = scan(target)
    except UnsupportedMedia as exc:
        blob = target if isinstance(target, bytes) else target.read_bytes()
        raws = raw_scan(blob)
        if not raws:
            return InspectReport(format=None, labels=(), verdict="inconclusive",
                                 problems=(f"unsupported format: {exc.args[0]}",), tier=None,
                                 c2pa=None, source=source)
        fmt = None
        problems.append("format not supported: a label was found by a raw byte scan, not "
                        "in a carrier we can read, so compliance is not judged")
    except MalformedMedia as exc:
        fmt_name = exc.evidence.get("format")
        return InspectReport(format=fmt_name, labels=(), verdict="inconclusive",
                             problems=(f"damaged file: {exc.args[0]}",), tier=None,
                             c2pa=None, source=source)
    if not raws:
        blob = target if isinstance(target, bytes) else target.read_bytes()
        raws = raw_scan(blob)
        if raws:
            problems.append(f"the label is not in the {fmt} carrier the TC260 guide names; "
                            "found by a raw byte scan")
    found: list[FoundLabel] = []
    parsed: list[AIGCLabel] = []
    for raw in raws:
        try:
            lab = AIGCLabel.from_json(raw.text)
        except LabelError as exc:
            found.append(FoundLabel(raw.carrier, raw.text, None, str(exc.args[0]), raw.offset))
            problems.append(f"label in {raw.carrier} is malformed: {exc.args[0]}")
            continue
        parsed.append(lab)
        found.append(FoundLabel(raw.carrier, raw.text, lab.to_dict(), None, raw.offset))
        if not lab.content_producer:
            problems.append("ContentProducer is empty (LM-5 requires the producer's name "
                            "or code)")
        if not lab.produce_id:
            problems.append("ProduceID is empty (LM-5 requires a content ID)")
    if len(raws) > 1:
        problems.append(f"{len(raws)} implicit labels found; a file carries exactly one")
    c2pa_doc = _c2pa(target, trust_anchors, problems) if c2pa else None
    if c2pa_doc is not None:
        if c2pa_doc.get("tampered"):
            problems.append("the C2PA manifest says the content was altered after signing")
        aigc = c2pa_doc.get("aigc")
        if aigc and len(parsed) == 1 and aigc.get("ProduceID") != parsed[0].produce_id:
            problems.append("the C2PA gb45438 assertion and the implicit label disagree on "
                            "ProduceID")
    security = None
    if len(parsed) == 1 and parsed[0].reserved_code1:
        from genai_compliance.labelling.security import security_summary

        blob = target if isinstance(target, bytes) else target.read_bytes()
        security = security_summary(blob, parsed[0])
        if security is not None and security["content_digest_matches"] is False:
            problems.append("the SecurityData content digest in ReservedCode1 does not "
                            "match: the content was altered after labelling (PG-202511A)")
    tier = _TIERS.get(parsed[0].label) if len(parsed) == 1 else None
    if fmt is None:
        verdict = "inconclusive"
    elif not raws:
        verdict = "not-found"
    elif problems:
        verdict = "non-compliant"
    else:
        verdict = "compliant"
    return InspectReport(format=fmt, labels=tuple(found), verdict=verdict,
                         problems=tuple(problems), tier=tier, c2pa=c2pa_doc, source=source,
                         security=security)
