"""The public verifier AigcTotal's fixture corpus, rebuilt here, against its golden verdicts
(issue 16; LM-5, LM-6, LM-8).

AigcTotal (github.com/StarPluckerZ/AigcTotal) generates its golden fixtures with small
builders (``tests/AigcTotal.TestSupport/CorpusBuilders.cs``): skeletal files that hold only
what a carrier needs — a PNG of a signature and one ``tEXt`` chunk, a JPEG of SOI, one APP1
and SOS/EOI, a zip with one local header and no central directory, a PDF whose ``/AIGC``
sits outside any dictionary. The byte layouts below follow those builders' descriptions
(written anew, no code copied); the expected verdicts are the golden reports'
(``tests/AigcTotal.Report.Tests/Golden/*.report.json``). One case differs on purpose and
says why (``png-truncated``).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable

import pytest

from genai_compliance.labelling import inspect

FIELDS = {"Label": "1", "ContentProducer": "CorpusStudio", "ProduceID": "C-001",
          "ReservedCode1": "", "ContentPropagator": "", "PropagateID": "",
          "ReservedCode2": ""}
JSON = json.dumps(FIELDS, separators=(",", ":"))
TC260 = "http://www.tc260.org.cn/ns/AIGC/1.0/"
XMP = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
       f'22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:TC260="{TC260}"><TC260:AIGC>'
       + JSON.replace("&", "&amp;").replace("<", "&lt;")
       + "</TC260:AIGC></rdf:Description></rdf:RDF></x:xmpmeta>")


def _j(**changes: object) -> str:
    doc: dict[str, object] = {**FIELDS, **changes}
    return json.dumps({k: v for k, v in doc.items() if v is not None}, separators=(",", ":"),
                      ensure_ascii=False)


def _chunk(ctype: bytes, data: bytes, bad_crc: bool = False) -> bytes:
    crc = zlib.crc32(ctype + data) ^ (0xDEADBEEF if bad_crc else 0)
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", crc & 0xFFFFFFFF)


def _png(*chunks: bytes) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _text(keyword: str, text: str, bad_crc: bool = False) -> bytes:
    return _chunk(b"tEXt", keyword.encode() + b"\x00" + text.encode(), bad_crc)


def _jpeg(*segments: bytes) -> bytes:
    return b"\xff\xd8" + b"".join(segments) + b"\xff\xda\xff\xd9"


def _app(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _exif_user_comment(text: str) -> bytes:
    comment = b"ASCII\x00\x00\x00" + text.encode()
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, 26) + bytes(4)
    exif = struct.pack("<H", 1) + struct.pack("<HHII", 0x9286, 7, len(comment), 44) + bytes(4)
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd0 + exif + comment


def _box(btype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body) + 8) + btype + body


def _ftyp() -> bytes:
    return _box(b"ftyp", b"isom\x00\x00\x00\x01")


def _mp4_meta_keys() -> bytes:
    key = struct.pack(">I", 13) + b"mdta" + b"AIGC\x00"
    keys = _box(b"keys", bytes(4) + struct.pack(">I", 1) + key)
    data = _box(b"data", struct.pack(">II", 1, 0) + JSON.encode())
    ilst = _box(b"ilst", _box(struct.pack(">I", 1), data))
    return _box(b"udta", _box(b"meta", bytes(4) + keys + ilst))


def _riff(form: bytes, *chunks: tuple[bytes, bytes]) -> bytes:
    body = form
    for cid, data in chunks:
        body += cid + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _id3(*frames: tuple[bytes, bytes]) -> bytes:
    def syncsafe(n: int) -> bytes:
        return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])

    body = b"".join(fid + syncsafe(len(d)) + b"\x00\x00" + d for fid, d in frames)
    return b"ID3\x04\x00\x00" + syncsafe(len(body)) + body


def _txxx(desc: str, text: str) -> tuple[bytes, bytes]:
    return b"TXXX", b"\x03" + desc.encode() + b"\x00" + text.encode()


def _flac(key: str) -> bytes:
    entry = f"{key}={JSON}".encode()
    comment = (struct.pack("<I", 4) + b"test" + struct.pack("<I", 1)
               + struct.pack("<I", len(entry)) + entry)
    return (b"fLaC" + bytes([0]) + (34).to_bytes(3, "big") + bytes(34)
            + bytes([0x84]) + len(comment).to_bytes(3, "big") + comment)


def _ogg() -> bytes:
    ident = b"\x01vorbis" + bytes(26)
    entry = f"AIGC={JSON}".encode()
    comment = (b"\x03vorbis" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 1)
               + struct.pack("<I", len(entry)) + entry)
    header = (b"OggS\x00\x02" + bytes(8) + b"\x01\x00\x00\x00" + bytes(8) + b"\x02"
              + bytes([len(ident), len(comment)]))
    return header + ident + comment


def _avi(label: bool) -> bytes:
    info = b"INFO"
    if label:
        info += b"AIGC" + struct.pack("<I", len(JSON)) + JSON.encode() + b"\x00" * (
            len(JSON) & 1)
    info += b"JUNK" + struct.pack("<I", 4) + b"\x01\x02\x03\x04"
    return _riff(b"AVI ", (b"LIST", info))


def _gif(packet: bytes, truncate: int = 0) -> bytes:
    blocks = b"".join(bytes([len(packet[i:i + 255])]) + packet[i:i + 255]
                      for i in range(0, len(packet), 255))
    data = (b"GIF89a" + bytes([1, 0, 1, 0, 0, 0, 0]) + b"\x21\xff\x0bXMP Data\xec\x1b\xdf"
            + blocks + b"\x00\x3b")
    return data[:len(data) - truncate] if truncate else data


def _webp(packet: bytes) -> bytes:
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + bytes(10) + b"XMP " + struct.pack(
        "<I", len(packet)) + packet + b"\x00" * (len(packet) & 1)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _tiff(packet: bytes) -> bytes:
    return (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHII", 0x2BC, 7, len(packet), 26) + bytes(4) + packet)


def _ooxml(method: int = 0, descriptor: bool = False) -> bytes:
    xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Properties xmlns="http://'
           'schemas.openxmlformats.org/officeDocument/2006/custom-properties" xmlns:vt="http://'
           'schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"><property fmtid="{D5'
           'CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="AIGC"><vt:lpwstr>'
           + JSON.replace("&", "&amp;").replace('"', "&quot;")
           + "</vt:lpwstr></property></Properties>").encode()
    name = b"docProps/custom.xml"
    if method == 8:
        comp = zlib.compressobj(wbits=-15)
        data = comp.compress(xml) + comp.flush()
    else:
        data = xml
    flags = 8 if descriptor else 0
    sizes = (0, 0) if descriptor else (len(data), len(xml))
    head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0, 0, *sizes,
                       len(name), 0)
    tail = struct.pack("<IIII", 0x08074B50, 0, len(data), len(xml)) if descriptor else b""
    return head + name + data + tail


def _zip_entry(name: bytes, data: bytes) -> bytes:
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, 0, len(data), len(data),
                       len(name), 0) + name + data


def _pdf(label: bool) -> bytes:
    return (b"%PDF-1.7\n1 0 obj<</Producer(CorpusStudio)>>endobj\n"
            b"trailer<</Root 1 0 R/Info 1 0 R>>\n"
            + (b"/AIGC (" + JSON.encode() + b")\n" if label else b"") + b"%%EOF")


CASES: dict[str, tuple[Callable[[], bytes], str]] = {
    "png-label-valid": (lambda: _png(_text("AIGC", JSON)), "compliant"),
    "png-text-wrapped": (lambda: _png(_text("AIGC", json.dumps({"AIGC": FIELDS}))),
                         "compliant"),
    "png-ztxt-aigc": (lambda: _png(_chunk(b"zTXt", b"AIGC\x00\x00" + zlib.compress(
        JSON.encode()))), "compliant"),
    "png-itxt-xmp": (lambda: _png(_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00"
                                         + XMP.encode())), "compliant"),
    "png-crc-corrupt": (lambda: _png(_text("AIGC", JSON, bad_crc=True)), "compliant"),
    "png-no-label": (lambda: _png(_text("Comment", "hello")), "not-found"),
    "png-text-empty-shell": (lambda: _png(_chunk(b"tEXt", b"AIGC\x00")), "inconclusive"),
    "png-ztxt-truncated-tail": (lambda: _png(_chunk(b"zTXt", b"AIGC\x00\x00\x78")),
                                "inconclusive"),
    "png-label-invalid-enum": (lambda: _png(_text("AIGC", _j(Label="9"))), "non-compliant"),
    "png-label-unknown-field": (lambda: _png(_text("AIGC", _j(Extra="x"))), "non-compliant"),
    "png-label-missing-field": (lambda: _png(_text("AIGC", json.dumps(
        {"Label": "1", "ContentProducer": "CorpusStudio"}))), "non-compliant"),
    "png-label-charset-violation": (lambda: _png(_text("AIGC", _j(ProduceID="C 001"))),
                                    "non-compliant"),
    "png-label-duplicate": (lambda: _png(_text("AIGC", JSON), _text("AIGC", JSON)),
                            "non-compliant"),
    "png-label-disagree": (lambda: _png(_text("AIGC", _j(ContentProducer="StudioA")),
                                        _text("AIGC", _j(ContentProducer="StudioB",
                                                         Label="2"))), "non-compliant"),
    "jpeg-xmp-valid": (lambda: _jpeg(_app(0xE1, b"http://ns.adobe.com/xap/1.0/\x00"
                                          + XMP.encode())), "compliant"),
    "jpeg-no-xmp": (lambda: b"\xff\xd8\xff\xd9", "not-found"),
    "jpeg-exif-usercomment": (lambda: _jpeg(_app(0xE1, _exif_user_comment(JSON))),
                              "compliant"),
    "gif-xmp": (lambda: _gif(XMP.encode()), "compliant"),
    "gif-xmp-eof-truncated": (lambda: _gif(XMP.encode(), truncate=60), "inconclusive"),
    "webp-xmp": (lambda: _webp(XMP.encode()), "compliant"),
    "tiff-xmp": (lambda: _tiff(XMP.encode()), "compliant"),
    "mp4-udta-aigc": (lambda: _ftyp() + _box(b"moov", _box(b"udta", _box(
        b"aigc", JSON.encode()))), "compliant"),
    "mp4-udta-meta-aigc": (lambda: _ftyp() + _box(b"moov", _mp4_meta_keys()), "compliant"),
    "mp4-uuid-xmp": (lambda: _ftyp() + _box(b"uuid", bytes.fromhex(
        "BE7ACFCB97A942E89C71999491E3AFAC") + XMP.encode()), "compliant"),
    "wav-aigc": (lambda: _riff(b"WAVE", (b"fmt ", bytes(16)), (b"AIGC", JSON.encode())),
                 "compliant"),
    "wav-no-label": (lambda: _riff(b"WAVE", (b"fmt ", bytes(16))), "not-found"),
    "mp3-txxx-aigc": (lambda: _id3(_txxx("AIGC", JSON)), "compliant"),
    "mp3-no-label": (lambda: _id3(_txxx("OTHER", "x")), "not-found"),
    "flac-aigc": (lambda: _flac("AIGC"), "compliant"),
    "flac-no-label": (lambda: _flac("OTHER"), "not-found"),
    "ogg-aigc": (_ogg, "compliant"),
    "avi-aigc": (lambda: _avi(True), "compliant"),
    "ooxml-custom-aigc": (lambda: _ooxml(), "compliant"),
    "ooxml-custom-aigc-deflate": (lambda: _ooxml(8), "compliant"),
    "ooxml-custom-aigc-streaming": (lambda: _ooxml(8, descriptor=True), "compliant"),
    "pdf-info-aigc": (lambda: _pdf(True), "compliant"),
    "mp4-no-label": (lambda: _ftyp() + _box(b"mdat", bytes(32)), "not-found"),
    "ooxml-no-label": (lambda: _zip_entry(b"word/document.xml", b"<w/>"), "not-found"),
    "md-front-matter": (lambda: ("---\nAIGC:\n  Label: '1'\n  ContentProducer: 'CorpusStudio'"
                                 "\n  ProduceID: 'C-001'\n---\n\n正文内容。\n").encode(),
                        "compliant"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_aigctotal_corpus_verdict(name: str) -> None:
    """Each rebuilt AigcTotal fixture gets the verdict of its golden report."""
    build, verdict = CASES[name]
    report = inspect(build(), c2pa=False)
    assert report.verdict == verdict, (report.labels, report.problems, report.damage)
    if verdict == "compliant":
        assert report.labels[0].fields is not None
        assert report.labels[0].fields["ProduceID"] == "C-001"
    report.to_json()


def test_pdf_without_xref_and_label_is_inconclusive() -> None:
    """AigcTotal calls a PDF of one object, a trailer and no xref not-found; pypdf cannot
    parse it, so a label hidden in a compressed object stream could not be ruled out: ours
    is inconclusive (deliberate, documented)."""
    assert inspect(_pdf(False), c2pa=False).verdict == "inconclusive"


def test_png_truncated_is_judged_with_the_damage_beside() -> None:
    """AigcTotal calls a PNG whose label chunk is intact but whose last chunk header is cut
    inconclusive; issue 16 asks for the verdict from a label that can be located, with the
    damage reported beside it, so ours is compliant with ``damage`` set (deliberate)."""
    data = _png(_text("AIGC", JSON)) + b"\x00\x00\x00\x0dIHDR"
    report = inspect(data, c2pa=False)
    assert report.verdict == "compliant"
    assert report.damage is not None and "damaged" in report.damage
