"""OOXML implicit label: custom document property AIGC in docProps/custom.xml (LM-5)."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit import label_bytes, read_labels, sniff

LABEL = AIGCLabel(content_producer="Producer", produce_id="docx-1")
_DOC = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="http://'
        'schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Hi'
        "</w:t></w:r></w:p></w:body></w:document>")


def _docx(custom: str | None = None) -> bytes:
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://'
          'schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" '
          'ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default '
          'Extension="xml" ContentType="application/xml"/><Override PartName="/word/document'
          '.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.'
          'document.main+xml"/></Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns='
            '"http://schemas.openxmlformats.org/package/2006/relationships"><Relationship '
            'Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="word/document.xml"/></Relationships>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", ct)
        z.writestr("_rels/.rels", rels)
        z.writestr("word/document.xml", _DOC)
        if custom is not None:
            z.writestr("docProps/custom.xml", custom)
    return buf.getvalue()


def test_round_trip_adds_part_type_and_relationship() -> None:
    """The AIGC property reads back; content type and package relationship are added."""
    src = _docx()
    assert sniff(src) == "ooxml"
    out = label_bytes(src, LABEL)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]
    with zipfile.ZipFile(io.BytesIO(out)) as z:
        assert z.read("word/document.xml").decode() == _DOC
        assert "/docProps/custom.xml" in z.read("[Content_Types].xml").decode()
        assert 'Target="docProps/custom.xml"' in z.read("_rels/.rels").decode()
        assert z.testzip() is None


def test_existing_custom_properties_kept_and_label_replaced() -> None:
    """Other custom properties stay; relabelling leaves one AIGC property."""
    custom = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Properties xmlns="'
              'http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
              'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
              '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Owner">'
              "<vt:lpwstr>Team</vt:lpwstr></property></Properties>")
    new = LABEL.with_propagation("P", "9")
    out = label_bytes(label_bytes(_docx(custom), LABEL), new)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [new]
    with zipfile.ZipFile(io.BytesIO(out)) as z:
        text = z.read("docProps/custom.xml").decode()
        assert 'name="Owner"' in text and text.count('name="AIGC"') == 1
        assert z.read("[Content_Types].xml").decode().count("/docProps/custom.xml") == 1


def test_damaged_zip_is_malformed() -> None:
    """A truncated package cannot be relabelled (media error); reading it either raises a
    media error or, when the custom-properties part's local header survived, returns
    exactly the label (skeletal containers are read tolerantly, issue 16)."""
    blob = label_bytes(_docx(), LABEL)
    for cut in (50, len(blob) // 2, len(blob) - 10):
        with pytest.raises((MalformedMedia, UnsupportedMedia)):
            label_bytes(blob[:cut], LABEL)
        try:
            found = read_labels(blob[:cut])
        except (MalformedMedia, UnsupportedMedia):
            continue
        assert [AIGCLabel.from_json(r.text) for r in found] in ([], [LABEL])


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_mutations_raise_only_media_errors(data: st.DataObject) -> None:
    """Corrupted packages raise only MalformedMedia/UnsupportedMedia."""
    blob = bytearray(label_bytes(_docx(), LABEL))
    pos = data.draw(st.integers(0, len(blob) - 1))
    blob[pos] ^= data.draw(st.integers(1, 255))
    try:
        read_labels(bytes(blob))
        label_bytes(bytes(blob), LABEL)
    except (MalformedMedia, UnsupportedMedia):
        pass


class _Unseekable(io.RawIOBase):
    """A write-only sink, so zipfile writes parts with data descriptors."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def _raw_parts(data: bytes) -> dict[str, tuple[int, int, bytes]]:
    """name -> (compression method, CRC, the compressed bytes) of every part."""
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for info in z.infolist():
            head = data[info.header_offset:info.header_offset + 30]
            start = (info.header_offset + 30 + int.from_bytes(head[26:28], "little")
                     + int.from_bytes(head[28:30], "little"))
            out[info.filename] = (info.compress_type, info.CRC,
                                  data[start:start + info.compress_size])
    return out


@pytest.mark.parametrize("descriptors", [False, True])
def test_other_parts_are_copied_raw_and_the_package_stays_valid(descriptors: bool) -> None:
    """Parts we do not rewrite keep their compressed bytes, method and CRC (copied, never
    re-deflated) — also when the input used data descriptors — and the output passes
    zipfile's CRC check with the label readable."""
    src = _docx()
    if descriptors:
        sink = _Unseekable()
        with zipfile.ZipFile(sink, "w") as z, zipfile.ZipFile(io.BytesIO(src)) as zin:
            for info in zin.infolist():
                method = zipfile.ZIP_STORED if info.filename.endswith(".rels") else \
                    zipfile.ZIP_DEFLATED
                z.writestr(info.filename, zin.read(info), compress_type=method)
            z.writestr("word/media/image1.png", bytes(range(256)) * 64,
                       compress_type=zipfile.ZIP_DEFLATED)
        src = bytes(sink.data)
    out = label_bytes(src, LABEL)
    before, after = _raw_parts(src), _raw_parts(out)
    for name in before.keys() - {"[Content_Types].xml", "_rels/.rels", "docProps/custom.xml"}:
        assert after[name] == before[name], name
    with zipfile.ZipFile(io.BytesIO(out)) as z:
        assert z.testzip() is None
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]
