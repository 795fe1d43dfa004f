"""inspect(): verdicts, LM-6 tiers, C2PA report, schema-valid JSON (LM-5, LM-6, LM-8)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from genai_compliance.crypto import SigningCredentials, TestCA, create_test_ca
from genai_compliance.labelling import AIGCLabel, InspectReport, inspect, label_bytes
from genai_compliance.labelling.implicit._png import make_chunk
from genai_compliance.labelling.implicit._xmp import build_xmp
from genai_compliance.schemas import validate

LABEL = AIGCLabel(content_producer="Producer", produce_id="pid-7")


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "teal").save(buf, "PNG")
    return buf.getvalue()


def _with_xmp_chunks(*texts: str) -> bytes:
    data = _png()
    extra = b"".join(make_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00"
                                + build_xmp(t)) for t in texts)
    return data[:33] + extra + data[33:]


def _check(report: InspectReport) -> dict[str, object]:
    doc = json.loads(report.to_json())
    validate(doc, "inspect-report")
    return doc  # type: ignore[no-any-return]


@pytest.mark.parametrize(("value", "tier"), [("1", "confirmed"), ("2", "possibly"),
                                             ("3", "suspected")])
def test_compliant_with_tier(value: str, tier: str) -> None:
    """One well-formed label is compliant, with the LM-6 tier of its Label value."""
    lab = AIGCLabel(label=value, content_producer="P", produce_id="I")
    report = inspect(label_bytes(_png(), lab), c2pa=False)
    assert (report.verdict, report.tier, report.format) == ("compliant", tier, "png")
    assert report.labels[0].fields == lab.to_dict()
    _check(report)


def test_not_found_for_supported_format_without_label() -> None:
    """A supported file with no label is not-found."""
    report = inspect(_png())
    assert (report.verdict, report.tier, report.labels) == ("not-found", None, ())
    _check(report)


def test_two_labels_are_non_compliant() -> None:
    """Two implicit labels in one file is non-compliant."""
    report = inspect(_with_xmp_chunks(LABEL.to_json(), LABEL.to_json()), c2pa=False)
    assert report.verdict == "non-compliant"
    assert len(report.labels) == 2
    assert any("2 implicit labels" in p for p in report.problems)
    _check(report)


def test_malformed_label_is_non_compliant_with_parse_error() -> None:
    """A label that is not valid Annex E JSON is non-compliant and its error is reported."""
    report = inspect(_with_xmp_chunks('{"Label":"9"}'), c2pa=False)
    assert report.verdict == "non-compliant"
    assert report.labels[0].fields is None and report.labels[0].error
    assert report.tier is None
    _check(report)


def test_empty_produce_id_is_non_compliant() -> None:
    """An empty ProduceID is a problem (LM-5 needs a content ID)."""
    lab = AIGCLabel(content_producer="P", produce_id="")
    report = inspect(_with_xmp_chunks(lab.to_json()), c2pa=False)
    assert report.verdict == "non-compliant"


def test_unsupported_is_inconclusive_never_not_found() -> None:
    """Unknown content is inconclusive, not not-found."""
    report = inspect(b"%!PS-Adobe-3.0 not something we read")
    assert (report.verdict, report.format) == ("inconclusive", None)
    _check(report)


def test_damaged_file_is_inconclusive() -> None:
    """A truncated PNG is inconclusive with the damage named."""
    report = inspect(label_bytes(_png(), LABEL)[:40])
    assert report.verdict == "inconclusive"
    assert report.format == "png"
    _check(report)


def test_path_input_sets_source(tmp_path: Path) -> None:
    """A path is read from disk and named in the report."""
    path = tmp_path / "x.png"
    path.write_bytes(label_bytes(_png(), LABEL))
    report = inspect(path)
    assert report.source == str(path) and report.verdict == "compliant"


@pytest.fixture(name="ca", scope="module")
def _ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return create_test_ca(tmp_path_factory.mktemp("ca"))


def test_c2pa_signed_file_reports_manifest(ca: TestCA, tmp_path: Path) -> None:
    """A signed file's C2PA report is included; a tampered copy keeps its GB 45438 verdict
    (the label is intact) and the C2PA report beside it says tampered (issue 16)."""
    from genai_compliance.labelling import pipeline

    src = tmp_path / "in.png"
    src.write_bytes(_png())
    creds = SigningCredentials.from_pem(ca.chain, ca.key, trust_anchors=ca.trust_anchors)
    dst = tmp_path / "signed.png"
    pipeline.label_file(src, dst, label=LABEL, credentials=creds)
    report = inspect(dst, trust_anchors=ca.trust_anchors)
    assert report.verdict == "compliant", report.problems
    assert report.c2pa is not None and report.c2pa["valid"] and report.c2pa["trusted"]
    _check(report)
    data = bytearray(dst.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 6] ^= 0xFF
    tampered = tmp_path / "tampered.png"
    tampered.write_bytes(bytes(data))
    bad = inspect(tampered, trust_anchors=ca.trust_anchors)
    assert bad.verdict == "compliant"
    assert bad.c2pa is not None and bad.c2pa["tampered"] and not bad.c2pa["valid"]
    assert any("altered" in p for p in bad.c2pa["problems"])


def test_raw_label_in_unsupported_format_is_listed_but_inconclusive() -> None:
    """A bare Annex E JSON in an unknown format is reported; the verdict stays inconclusive."""
    report = inspect(b"\x00\x01junk AIGC" + LABEL.to_json().encode() + b"\x00tail")
    assert report.verdict == "inconclusive"
    assert [lab.carrier for lab in report.labels] == ["raw-scan"]
    assert report.tier == "confirmed"
    _check(report)


def test_json_under_another_key_is_not_a_label() -> None:
    """Annex E JSON under a tEXt key other than AIGC is not mistaken for a label (issue 16:
    the raw scan looks only under AIGC keys)."""
    data = _png()
    extra = make_chunk(b"tEXt", b"Comment\x00" + LABEL.to_json().encode())
    report = inspect(data[:33] + extra + data[33:], c2pa=False)
    assert report.verdict == "not-found"


def test_label_in_text_chunk_is_judged_with_a_note() -> None:
    """A PNG tEXt chunk with key AIGC is read and judged; not the preferred carrier is a
    note, not a failure (issue 16)."""
    data = _png()
    extra = make_chunk(b"tEXt", b"AIGC\x00" + LABEL.to_json().encode())
    report = inspect(data[:33] + extra + data[33:], c2pa=False)
    assert report.verdict == "compliant", report.problems
    assert report.labels[0].fields == LABEL.to_dict()
    assert report.labels[0].carrier == "png:tEXt:AIGC" and not report.labels[0].preferred
    assert any("png:tEXt:AIGC" in n for n in report.notes)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_inspect_never_raises_on_junk(blob: bytes) -> None:
    """inspect() returns a schema-valid report for any bytes."""
    report = inspect(b"\x89PNG\r\n\x1a\n" + blob, c2pa=False)
    assert report.verdict in ("not-found", "inconclusive", "non-compliant", "compliant")
    _check(report)
