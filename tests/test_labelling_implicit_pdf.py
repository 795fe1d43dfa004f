"""PDF implicit label: /AIGC in the Info dictionary via incremental update (LM-5)."""

from __future__ import annotations

import functools
import io
import json
import shutil
import struct
import subprocess
from pathlib import Path

import pypdf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit import label_bytes, read_labels, sniff

LABEL = AIGCLabel(content_producer="Producer", produce_id="doc-1")


def _table_pdf() -> bytes:
    w = pypdf.PdfWriter()
    w.add_blank_page(100, 100)
    w.add_metadata({"/Title": "Kept title"})
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _stream_pdf() -> bytes:
    """A minimal PDF 1.5 whose cross-reference is an xref stream."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 50 50] >>",
            b"<< /Title (Kept title) >>"]
    out = bytearray(b"%PDF-1.5\n")
    offs = []
    for i, obj in enumerate(objs, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xoff = len(out)
    rows = struct.pack(">BIH", 0, 0, 65535) + b"".join(
        struct.pack(">BIH", 1, o, 0) for o in offs) + struct.pack(">BIH", 1, xoff, 0)
    out += (b"5 0 obj\n<< /Type /XRef /Size 6 /W [1 4 2] /Root 1 0 R /Info 4 0 R /Length %d"
            b" >>\nstream\n" % len(rows)) + rows
    out += b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xoff
    return bytes(out)


SAMPLES = {"xref-table": _table_pdf, "xref-stream": _stream_pdf}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip_incremental(name: str) -> None:
    """The label reads back, original bytes are a prefix, pypdf opens it, Title kept."""
    src = SAMPLES[name]()
    assert sniff(src) == "pdf"
    out = label_bytes(src, LABEL)
    assert out.startswith(src)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]
    reader = pypdf.PdfReader(io.BytesIO(out), strict=True)
    assert len(reader.pages) == 1
    assert reader.metadata is not None and reader.metadata["/Title"] == "Kept title"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_relabel_keeps_single_current_label(name: str) -> None:
    """A second update replaces the current /AIGC; one label is reported."""
    new = LABEL.with_propagation("Platform", "p-2")
    out = label_bytes(label_bytes(SAMPLES[name](), LABEL), new)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [new]


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")
def test_exiftool_reads_pdf_aigc(tmp_path: Path) -> None:
    """exiftool reports the PDF:AIGC entry."""
    path = tmp_path / "a.pdf"
    path.write_bytes(label_bytes(_table_pdf(), LABEL))
    res = subprocess.run(["exiftool", "-j", "-a", "-G1", "-PDF:all", str(path)], check=True,
                         capture_output=True, text=True)
    assert json.loads(json.loads(res.stdout)[0]["PDF:AIGC"]) == json.loads(LABEL.to_json())


def test_parentheses_are_escaped() -> None:
    """Values with parentheses survive the PDF literal string."""
    lab = AIGCLabel(content_producer="a(b)c", produce_id="x)")
    assert AIGCLabel.from_json(read_labels(label_bytes(_table_pdf(), lab))[0].text) == lab


def test_unlabelled_pdf_has_no_label() -> None:
    """A PDF without /AIGC reads as no label."""
    assert read_labels(_table_pdf()) == []


@functools.cache
def _labelled(name: str) -> bytes:
    """One labelled sample per kind, fixed for the session (stable Hypothesis replays)."""
    return label_bytes(SAMPLES[name](), LABEL)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_mutations_raise_only_media_errors(name: str, data: st.DataObject) -> None:
    """Truncated or corrupted PDFs raise only MalformedMedia/UnsupportedMedia."""
    blob = bytearray(_labelled(name))
    pos = data.draw(st.integers(8, len(blob) - 1))
    if data.draw(st.booleans()):
        blob = blob[:pos]
    else:
        blob[pos] ^= data.draw(st.integers(1, 255))
    try:
        read_labels(bytes(blob))
        label_bytes(bytes(blob), LABEL)
    except (MalformedMedia, UnsupportedMedia):
        pass
