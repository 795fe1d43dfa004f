"""Inspect a file for its GB 45438 implicit label (and C2PA manifest) and give a verdict.

Obligations: LM-5 (implicit label present and well-formed), LM-6 (tier from Label:
"1" confirmed, "2" possibly, "3" suspected AI-generated), LM-8 (propagation platforms
check the label of content they carry).

The ``verdict`` is about GB 45438 alone:

``compliant``
    exactly one well-formed label, in any carrier the TC260 guides name or other tools write
    (a carrier other than the guide's preferred one is a note in ``notes``, not a failure);
``non-compliant``
    a label that breaks Annex E (bad Label value, unknown keys, empty producer or content
    ID), two or more labels (GB 45438 6.1 c)), or a SecurityData digest that no longer
    matches (PG-202511A);
``not-found``
    the format is supported, the file is intact and no label carrier is present;
``inconclusive``
    no claim either way: the format is unsupported, the file is damaged and no label could
    be located, or the only label carrier is emptied or truncated.

A label that can be located in a damaged or skeletal container is judged (``damage`` names
what was wrong with the container). The C2PA manifest is reported beside the verdict in
``c2pa`` (with its own ``problems``) and never changes it.
"""

from __future__ import annotations

import json
import os
from html import unescape
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
    """One label found: carrier, raw text, parsed fields or the parse error; ``preferred``
    whether the carrier is the one the TC260 guide names for the format, ``note`` which
    other form it was."""

    carrier: str
    raw: str
    fields: dict[str, str] | None
    error: str | None
    offset: int | None = None
    preferred: bool = True
    note: str | None = None


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
    #: what is wrong with the container when a label was still located in it, else None.
    damage: str | None = None
    #: observations that do not change the verdict (carrier not the preferred one …).
    notes: tuple[str, ...] = ()

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
            "damage": self.damage,
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        """Compact JSON, validated against ``inspect-report``."""
        from genai_compliance.schemas import validate

        doc = self.to_dict()
        validate(doc, "inspect-report", what="inspect report")
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


_RAW_MAX = 256 << 20
_KEYS = (b"AIGC", b"aigc", b"Aigc")
_WINDOW = 64
_SLICE = 64 << 10
_BUDGET = 32 << 20
_DECODER = json.JSONDecoder()


def _candidate(data: bytes, at: int) -> tuple[str, int] | None:
    """The Annex E JSON object starting at ``data[at]`` (``{``), raw or entity-encoded.
    A 4 KiB window is tried first (labels are short); 64 KiB only when the JSON runs on."""
    for size in (4096, _SLICE):
        chunk = data[at:at + size]
        text = chunk.decode("utf-8", errors="replace")
        if text.startswith(("{&quot;", "{ &quot;")):
            end = text.find("<")
            text = unescape(text[:end if end >= 0 else len(text)])
        try:
            obj, used = _DECODER.raw_decode(text)
        except json.JSONDecodeError as exc:
            cut = exc.pos >= len(text) - 1 or exc.msg.startswith("Unterminated string")
            if cut and len(chunk) == size and size != _SLICE:
                continue  # cut by the window: try the larger one
            raise _Spent(exc.pos) from None
        if not isinstance(obj, dict):
            return None
        if "Label" in obj or isinstance(obj.get("AIGC"), dict):
            return text[:used], used
        return None
    return None


class _Spent(Exception):
    def __init__(self, pos: int) -> None:
        self.pos = pos


def raw_scan(data: bytes) -> list[RawLabel]:
    """Labels in carriers no handler parsed: an Annex E JSON object (bare or
    ``{"AIGC":…}``, raw or XML-entity-encoded) that follows an ``AIGC`` key within 64 bytes
    (``AIGC=``, ``AIGC\\0``, ``"AIGC":``, ``:AIGC>`` …). JSON under other keys is never taken
    for a label. Linear: each ``AIGC`` occurrence is examined once, JSON decoding is capped
    per candidate (64 KiB) and in total (32 MiB)."""
    out: list[RawLabel] = []
    view = data[:_RAW_MAX]
    hits: list[int] = []
    for key in _KEYS:
        pos = 0
        while len(hits) < 100_000:
            i = view.find(key, pos)
            if i < 0:
                break
            hits.append(i)
            pos = i + 4
    spent = 0
    resume = 0
    for i in sorted(hits):
        if i < resume or spent > _BUDGET:
            continue
        j = view.find(b"{", i + 4, i + 4 + _WINDOW)
        if j < 0:
            continue
        try:
            found = _candidate(view, j)
        except _Spent as exc:
            spent += exc.pos + 1
            continue
        if found is None:
            continue
        text, used = found
        spent += used
        resume = j + 1
        out.append(RawLabel("raw-scan", text, j, preferred=False,
                            note="found by a byte scan under an AIGC key, in a carrier "
                            "this reader does not parse"))
    return out


def _c2pa(data: bytes | Path, trust_anchors: Any) -> dict[str, Any] | None:
    try:
        from genai_compliance.labelling.c2pa import may_hold_manifest, read_c2pa

        if not may_hold_manifest(data):
            return None
        report = read_c2pa(data, trust_anchors=trust_anchors)
    except (ComplianceError, ImportError, OSError) as exc:
        blob = _blob(data)
        if b"c2pa" not in blob and b"provenance" not in blob:
            return None  # c2pa could not parse the container, and it carries no manifest
        return {"present": True, "valid": False, "trusted": False, "tampered": False,
                "validation_state": None, "signer": None, "issuer": None, "algorithm": None,
                "claim_generator": None, "digital_source_type": None, "aigc": None,
                "failures": [], "codes": [], "sidecar": False, "remote_url": None,
                "problems": [f"the C2PA manifest could not be read: {exc}"]}
    if report is None:
        return None
    result: dict[str, Any] = json.loads(report.to_json())
    return result


def _blob(target: bytes | Path) -> bytes:
    if isinstance(target, bytes):
        return target
    with open(target, "rb") as fh:
        return fh.read(_RAW_MAX)


@implements("LM-6", "LM-10", "DSP-18", "LM-7")
def inspect(path_or_bytes: bytes | str | os.PathLike[str], trust_anchors: Any = None, *,
            c2pa: bool = True) -> InspectReport:
    """Inspect a file (path or bytes) for its implicit label (LM-5, LM-6, LM-8); see the
    module docstring for the verdicts."""
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
    notes: list[str] = []
    damage: str | None = None
    fmt: str | None
    unsupported = False
    try:
        fmt, raws = scan(target)
    except UnsupportedMedia as exc:
        raws = raw_scan(_blob(target))
        fmt = None
        unsupported = True
        if not raws:
            return InspectReport(format=None, labels=(), verdict="inconclusive",
                                 problems=(f"unsupported format: {exc.args[0]}",), tier=None,
                                 c2pa=None, source=source)
        problems.append("format not supported: a label was found by a raw byte scan, not "
                        "in a carrier we can read, so compliance is not judged")
    except MalformedMedia as exc:
        fmt = exc.evidence.get("format")
        damage = f"damaged file: {exc.args[0]}"
        raws = raw_scan(_blob(target))
        if not raws:
            return InspectReport(format=fmt, labels=(), verdict="inconclusive",
                                 problems=(damage,), tier=None, c2pa=None, source=source,
                                 damage=damage)
        notes.append("the label was located in the damaged container and judged (see damage)")
    if not raws and not unsupported:
        raws = raw_scan(_blob(target))
    found: list[FoundLabel] = []
    parsed: list[AIGCLabel] = []
    empty = unreadable = malformed = 0
    for raw in raws:
        text = raw.text.strip()
        if raw.note:
            notes.append(f"label in {raw.carrier}: {raw.note}" + (
                "" if raw.preferred else " (not the guide's preferred carrier; accepted)"))
        if not text:
            empty += 1
            found.append(FoundLabel(raw.carrier, raw.text, None, "the label carrier is empty",
                                    raw.offset, raw.preferred, raw.note))
            continue
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            unreadable += 1
            found.append(FoundLabel(raw.carrier, raw.text, None,
                                    "the label is truncated or is not JSON", raw.offset,
                                    raw.preferred, raw.note))
            continue
        try:
            lab = AIGCLabel.from_json(text)
        except LabelError as exc:
            malformed += 1
            found.append(FoundLabel(raw.carrier, raw.text, None, str(exc.args[0]), raw.offset,
                                    raw.preferred, raw.note))
            problems.append(f"label in {raw.carrier} is malformed: {exc.args[0]}")
            continue
        parsed.append(lab)
        found.append(FoundLabel(raw.carrier, raw.text, lab.to_dict(), None, raw.offset,
                                raw.preferred, raw.note))
        if not lab.content_producer:
            problems.append("ContentProducer is empty (LM-5 requires the producer's name "
                            "or code)")
        else:
            from genai_compliance.labelling.aigc import validate_producer_code

            try:
                validate_producer_code(lab.content_producer)
            except LabelError as exc:
                notes.append(f"ContentProducer {lab.content_producer!r} is not a valid "
                             f"TC260-PG-20252A producer code ({exc.args[0]}); accepted as "
                             "the producer's name, which GB 45438 Annex E also allows")
        if not lab.produce_id:
            problems.append("ProduceID is empty (LM-5 requires a content ID)")
    present = len(raws) - empty
    label_bad = bool(problems) and not unsupported
    if present > 1:
        carriers = ", ".join(dict.fromkeys(r.carrier for r in raws if r.text.strip()))
        problems.append(f"{present} implicit labels found ({carriers}); a file carries "
                        "exactly one (GB 45438 6.1 c))")
    if empty:
        (problems if present == 0 else notes).append(
            f"{empty} label carrier(s) present but emptied; no claim can be made from them")
    if unreadable and present == 1:
        problems.append("the label carrier is truncated or does not hold JSON, so the label "
                        "cannot be judged")
    c2pa_doc = _c2pa(target, trust_anchors) if c2pa else None
    if c2pa_doc is not None:
        c2pa_problems: list[str] = list(c2pa_doc.get("problems") or [])
        if c2pa_doc.get("tampered"):
            c2pa_problems.append("the C2PA manifest says the content was altered after "
                                 "signing")
        aigc = c2pa_doc.get("aigc")
        if aigc and len(parsed) == 1 and aigc.get("ProduceID") != parsed[0].produce_id:
            c2pa_problems.append("the C2PA gb45438 assertion and the implicit label disagree "
                                 "on ProduceID")
        c2pa_doc["problems"] = c2pa_problems
    security = None
    if len(parsed) == 1 and parsed[0].reserved_code1:
        from genai_compliance.labelling.security import security_summary

        whole = target if isinstance(target, bytes) else target.read_bytes()
        security = security_summary(whole, parsed[0])  # the digest covers the whole file
        if security is not None and security["content_digest_matches"] is False:
            problems.append("the SecurityData content digest in ReservedCode1 does not "
                            "match: the content was altered after labelling (PG-202511A)")
            label_bad = True
    tier = _TIERS.get(parsed[0].label) if len(parsed) == 1 and present == 1 else None
    if fmt is None:
        verdict = "inconclusive"
    elif not raws:
        verdict = "not-found"
    elif present > 1:
        verdict = "non-compliant"
    elif present == 0 or unreadable:
        verdict = "inconclusive"
    elif label_bad:
        verdict = "non-compliant"
    else:
        verdict = "compliant"
    return InspectReport(format=fmt, labels=tuple(found), verdict=verdict,
                         problems=tuple(problems), tier=tier, c2pa=c2pa_doc, source=source,
                         security=security, damage=damage, notes=tuple(dict.fromkeys(notes)))
