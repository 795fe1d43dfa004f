"""A corpus of real-world label variants with their expected verdicts (issue 16; LM-5, LM-6,
LM-8): the carriers the TC260 guides name and the forms other tools write (AigcTotal's
readers, generators, a C++ toolkit, exiftool, ffmpeg), damaged and skeletal containers,
emptied and truncated carriers, two labels. Every file is built here from real media made
by Pillow or ffmpeg; ``inspect`` must give the verdict a platform would."""

from __future__ import annotations

import functools
import io
import json
import shutil
import struct
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from genai_compliance.errors import LabelError, MediaError
from genai_compliance.labelling import inspect, label_bytes
from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit._png import make_chunk

LABEL = AIGCLabel(label="1", content_producer="001191100000000000000000X10001",
                  produce_id="gen-0001")
JSON = LABEL.to_json()
WRAPPED = json.dumps({"AIGC": LABEL.to_dict()}, separators=(",", ":"))
ESC = JSON.replace('"', "&quot;")
FFMPEG = shutil.which("ffmpeg") is not None
EXIFTOOL = shutil.which("exiftool") is not None


def _image(fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", (16, 12), (200, 30, 40))
    if fmt == "GIF":
        img = img.convert("P")
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_with(*extra: bytes) -> bytes:
    data = _image("PNG")
    return data[:33] + b"".join(extra) + data[33:]


def _jpeg_with(segment: bytes) -> bytes:
    data = _image("JPEG")
    return data[:2] + segment + data[2:]


def _app(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _xmp(body: str, ns: str = "http://www.tc260.org.cn/ns/AIGC/1.0/") -> bytes:
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
            f'02/22-rdf-syntax-ns#" xmlns:TC260="{ns}">{body}</rdf:RDF></x:xmpmeta>').encode()


# The C++ toolkit's form: TC260:AIGC as an attribute, prefix bound to Adobe's tc namespace.
TOOLKIT = _xmp(f'<rdf:Description rdf:about="" TC260:AIGC="{ESC}"/>',
               "http://ns.adobe.com/xap/1.0/tc/")
OTHER_NS_ELEMENT = _xmp(f'<rdf:Description rdf:about=""><a:AIGC xmlns:a="urn:x">{ESC}</a:AIGC>'
                        "</rdf:Description>")
TC260_ELEMENT = _xmp(f'<rdf:Description rdf:about=""><TC260:AIGC>{ESC}</TC260:AIGC>'
                     "</rdf:Description>")
PLAIN_FIELDS = _xmp('<rdf:Description rdf:about="" xmlns:t="urn:t" t:Label="1" '
                    't:ContentProducer="001191100000000000000000X10001" t:ProduceID="gen-0001"/>')


def _exif_user_comment(text: str, big: bool = False) -> bytes:
    """A TIFF-structured EXIF block whose Exif IFD holds a UserComment."""
    e = ">" if big else "<"
    comment = b"ASCII\x00\x00\x00" + text.encode()
    ifd0 = struct.pack(e + "H", 1) + struct.pack(e + "HHII", 0x8769, 4, 1, 26) + bytes(4)
    exif_ifd = (struct.pack(e + "H", 1) + struct.pack(e + "HHII", 0x9286, 7, len(comment), 44)
                + bytes(4))
    head = (b"MM\x00*" if big else b"II*\x00") + struct.pack(e + "I", 8)
    return head + ifd0 + exif_ifd + comment


def _gif_xmp_subblocks(packet: bytes) -> bytes:
    data = _image("GIF")
    blocks = b"".join(bytes([len(packet[i:i + 255])]) + packet[i:i + 255]
                      for i in range(0, len(packet), 255))
    ext = b"\x21\xff\x0bXMP DataXMP" + blocks + b"\x00"
    flags = data[10]
    head = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    return data[:head] + ext + data[head:]


def _webp_with_xmp(packet: bytes) -> bytes:
    data = _image("WEBP", lossless=True)
    body = data[12:]
    w, h = Image.open(io.BytesIO(data)).size
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([0x04, 0, 0, 0]) + (w - 1).to_bytes(
        3, "little") + (h - 1).to_bytes(3, "little")
    chunk = b"XMP " + struct.pack("<I", len(packet)) + packet + b"\x00" * (len(packet) & 1)
    payload = b"WEBP" + vp8x + body + chunk
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def _tiff_with_xmp(packet: bytes) -> bytes:
    src = _image("TIFF")
    img = Image.open(io.BytesIO(src))
    buf = io.BytesIO()
    img.save(buf, "TIFF", tiffinfo={700: packet})
    return buf.getvalue()


def _ooxml(with_ct: bool) -> bytes:
    custom = ('<?xml version="1.0" encoding="UTF-8"?><Properties xmlns="http://schemas.openxml'
              'formats.org/officeDocument/2006/custom-properties" xmlns:vt="http://schemas.'
              'openxmlformats.org/officeDocument/2006/docPropsVTypes"><property fmtid="{D5CDD5'
              '05-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="AIGC"><vt:lpwstr>'
              + JSON.replace("&", "&amp;") + "</vt:lpwstr></property></Properties>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if with_ct:
            z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://'
                       'schemas.openxmlformats.org/package/2006/content-types"></Types>')
        z.writestr("word/document.xml", "<w:document/>")
        z.writestr("docProps/custom.xml", custom)
    return buf.getvalue()


def _pdf_without_startxref() -> bytes:
    return (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
            b"3 0 obj\n<< /AIGC (" + JSON.encode() + b") >>\nendobj\ntrailer\n"
            b"<< /Root 1 0 R /Info 3 0 R >>\n%%EOF\n")


@functools.cache
def _media_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="label-variants-"))


def _ffmpeg(name: str, *args: str) -> bytes:
    path = _media_dir() / name
    if not path.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-fflags", "+bitexact", "-f", "lavfi",
                        "-i", "sine=frequency=440:duration=0.3", *args, str(path)],
                       check=True, capture_output=True)
    return path.read_bytes()


def _flac_comment(key: str) -> bytes:
    return _ffmpeg(f"{key}.flac", "-metadata", f"{key}={JSON}")


def _mp4_ffmpeg_keys() -> bytes:
    return _ffmpeg("keys.m4a", "-c:a", "aac", "-movflags", "use_metadata_tags",
                   "-metadata", f"AIGC={JSON}")


def _box(btype: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", len(body) + 8, btype) + body


def _mp4_insert_in_moov(extra: bytes) -> bytes:
    """A plain M4A with ``extra`` appended inside moov (moov last, so no offset moves)."""
    data = _ffmpeg("plain.m4a", "-c:a", "aac")
    pos = 0
    while pos < len(data):
        size, btype = struct.unpack_from(">I4s", data, pos)
        if btype == b"moov":
            moov = data[pos:pos + size]
            new = struct.pack(">I", size + len(extra)) + moov[4:] + extra
            head, tail = data[:pos], data[pos + size:]
            if tail:  # moov before mdat: shift stco entries
                pytest.skip("ffmpeg put moov first")
            return head + new + tail
        pos += size
    raise AssertionError("no moov")


def _mp4_meta_without_hdlr() -> bytes:
    keys = _box(b"keys", bytes(4) + struct.pack(">I", 1) + struct.pack(">I4s", 12, b"mdta")
                + b"AIGC")
    data = _box(b"data", struct.pack(">II", 1, 0) + JSON.encode())
    ilst = _box(b"ilst", _box(struct.pack(">I", 1), data))
    return _mp4_insert_in_moov(_box(b"udta", _box(b"meta", bytes(4) + keys + ilst)))


def _mp4_uuid_xmp() -> bytes:
    uuid = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
    data = _ffmpeg("plain.m4a", "-c:a", "aac")
    return data + _box(b"uuid", uuid + TOOLKIT)


def _syncsafe(size: int) -> bytes:
    return bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])


def _mp3_tag_only() -> bytes:
    """An ID3v2.4 tag with a TXXX:AIGC frame and no MPEG audio frames after it."""
    body = b"\x03" + b"AIGC\x00" + JSON.encode()
    frame = b"TXXX" + _syncsafe(len(body)) + b"\x00\x00" + body
    return b"ID3\x04\x00\x00" + _syncsafe(len(frame)) + frame


def _ogg_truncated() -> bytes:
    data = _ffmpeg("aigc.ogg", "-c:a", "libvorbis", "-metadata", f"AIGC={JSON}")
    cut = data.find(JSON.encode()) + len(JSON) + 40
    return data[:cut]


def _avi_without_hdrl() -> bytes:
    chunk = b"AIGC" + struct.pack("<I", len(JSON)) + JSON.encode() + b"\x00" * (len(JSON) & 1)
    movi = b"LIST" + struct.pack("<I", 4) + b"movi"
    body = b"AVI " + movi + chunk
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _wav_chunk() -> bytes:
    data = _ffmpeg("plain.wav")
    chunk = b"AIGC" + struct.pack("<I", len(JSON)) + JSON.encode() + b"\x00" * (len(JSON) & 1)
    body = data[12:] + chunk
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WAVE" + body


def _ztxt() -> bytes:
    return make_chunk(b"zTXt", b"AIGC\x00\x00" + zlib.compress(JSON.encode()))


def _itxt_aigc() -> bytes:
    return make_chunk(b"iTXt", b"AIGC\x00\x00\x00\x00\x00" + WRAPPED.encode())


def _xmp_png(packet: bytes) -> bytes:
    return make_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + packet)


# name -> (builder, expected verdict, expected carrier of the first label or None, needs)
CASES: dict[str, tuple[Callable[[], bytes], str, str | None, str]] = {
    "png-xmp-tc260": (lambda: label_bytes(_image("PNG"), LABEL), "compliant",
                      "png:iTXt:XMP", ""),
    "png-text-bare": (lambda: _png_with(make_chunk(b"tEXt", b"AIGC\x00" + JSON.encode())),
                      "compliant", "png:tEXt:AIGC", ""),
    "png-text-wrapped": (lambda: _png_with(make_chunk(b"tEXt", b"AIGC\x00" + WRAPPED.encode())),
                         "compliant", "png:tEXt:AIGC", ""),
    "png-ztxt": (lambda: _png_with(_ztxt()), "compliant", "png:zTXt:AIGC", ""),
    "png-itxt-aigc": (lambda: _png_with(_itxt_aigc()), "compliant", "png:iTXt:AIGC", ""),
    "png-xmp-and-text": (lambda: _png_with(_xmp_png(TC260_ELEMENT), make_chunk(
        b"tEXt", b"AIGC\x00" + JSON.encode())), "non-compliant", None, ""),
    "png-text-emptied": (lambda: _png_with(make_chunk(b"tEXt", b"AIGC\x00")), "inconclusive",
                         "png:tEXt:AIGC", ""),
    "png-text-truncated": (lambda: _png_with(make_chunk(b"tEXt", b"AIGC\x00"
                                                        + JSON.encode()[:30])),
                           "inconclusive", "png:tEXt:AIGC", ""),
    "png-json-other-key": (lambda: _png_with(make_chunk(b"tEXt", b"parameters\x00"
                                                        + JSON.encode())), "not-found", None, ""),
    "png-exif": (lambda: _png_with(make_chunk(b"eXIf", _exif_user_comment(WRAPPED))),
                 "compliant", "png:eXIf:UserComment", ""),
    "png-xmp-toolkit": (lambda: _png_with(_xmp_png(TOOLKIT)), "compliant", "png:iTXt:XMP", ""),
    "png-xmp-emptied": (lambda: _png_with(_xmp_png(b"")), "inconclusive", "png:iTXt:XMP", ""),
    "jpeg-exif-wrapped": (lambda: _jpeg_with(_app(0xE1, b"Exif\x00\x00" + _exif_user_comment(
        WRAPPED))), "compliant", "jpeg:APP1:EXIF:UserComment", ""),
    "jpeg-exif-bare-big-endian": (lambda: _jpeg_with(_app(0xE1, b"Exif\x00\x00"
                                                          + _exif_user_comment(JSON, True))),
                                  "compliant", "jpeg:APP1:EXIF:UserComment", ""),
    "jpeg-bare-app11": (lambda: _jpeg_with(_app(0xEB, b"AIGC" + JSON.encode())), "compliant",
                        "jpeg:APP11:AIGC", ""),
    "jpeg-xmp-toolkit": (lambda: _jpeg_with(_app(0xE1, b"http://ns.adobe.com/xap/1.0/\x00"
                                                 + TOOLKIT)), "compliant", "jpeg:APP1:XMP", ""),
    "jpeg-xmp-other-ns": (lambda: _jpeg_with(_app(0xE1, b"http://ns.adobe.com/xap/1.0/\x00"
                                                  + OTHER_NS_ELEMENT)), "compliant",
                          "jpeg:APP1:XMP", ""),
    "jpeg-xmp-plain-fields": (lambda: _jpeg_with(_app(0xE1, b"http://ns.adobe.com/xap/1.0/\x00"
                                                      + PLAIN_FIELDS)), "compliant",
                              "jpeg:APP1:XMP", ""),
    "jpeg-xmp-emptied": (lambda: _jpeg_with(_app(0xE1, b"http://ns.adobe.com/xap/1.0/\x00")),
                         "inconclusive", "jpeg:APP1:XMP", ""),
    "webp-xmp-toolkit": (lambda: _webp_with_xmp(TOOLKIT), "compliant", "webp:XMP", ""),
    "tiff-xmp-toolkit": (lambda: _tiff_with_xmp(TOOLKIT), "compliant", "tiff:XMP", ""),
    "gif-xmp-subblocks": (lambda: _gif_xmp_subblocks(TOOLKIT), "compliant", "gif:XMP", ""),
    "gif-xmp-ours": (lambda: label_bytes(_image("GIF"), LABEL), "compliant", "gif:XMP", ""),
    "mp4-ffmpeg-keys": (_mp4_ffmpeg_keys, "compliant", "mp4:meta/keys/AIGC", "ffmpeg"),
    "mp4-meta-without-hdlr": (_mp4_meta_without_hdlr, "compliant", "mp4:meta/keys/AIGC",
                              "ffmpeg"),
    "mp4-uuid-xmp": (_mp4_uuid_xmp, "compliant", "mp4:uuid:XMP", "ffmpeg"),
    "flac-aigc-key": (lambda: _flac_comment("AIGC"), "compliant", None, "ffmpeg"),
    "flac-other-key": (lambda: _flac_comment("OTHER"), "not-found", None, "ffmpeg"),
    "mp3-tag-without-frames": (_mp3_tag_only, "compliant", "mp3:ID3v2/TXXX:AIGC", ""),
    "ogg-truncated-headers": (_ogg_truncated, "compliant", None, "ffmpeg"),
    "avi-without-hdrl": (_avi_without_hdrl, "compliant", None, ""),
    "wav-riff-chunk": (_wav_chunk, "compliant", None, "ffmpeg"),
    "pdf-without-startxref": (_pdf_without_startxref, "compliant", None, ""),
    "ooxml-without-content-types": (lambda: _ooxml(False), "compliant", "ooxml:custom.xml", ""),
    "ooxml-custom-xml": (lambda: _ooxml(True), "compliant", "ooxml:custom.xml", ""),
    "markdown-front-matter": (lambda: label_bytes(b"---\ntitle: x\n---\n# Hi\n", LABEL),
                              "compliant", None, ""),
    "svg-metadata": (lambda: label_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>',
                                         LABEL), "compliant", "svg:metadata:XMP", ""),
    "svg-toolkit-xmp": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><metadata>' + TOOLKIT
                        + b"</metadata></svg>", "compliant", "svg:metadata:XMP", ""),
    "html-meta": (lambda: label_bytes(b"<!DOCTYPE html><html><head></head><body></body></html>",
                                      LABEL), "compliant", None, ""),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_variant_verdict(name: str) -> None:
    """Each real-world variant gets the verdict a distribution platform would give it."""
    build, verdict, carrier, needs = CASES[name]
    if needs == "ffmpeg" and not FFMPEG:
        pytest.skip("needs ffmpeg")
    report = inspect(build(), c2pa=False)
    assert report.verdict == verdict, (report.labels, report.problems, report.damage)
    if carrier is not None:
        assert report.labels and report.labels[0].carrier == carrier
    if verdict == "compliant":
        assert report.labels[0].fields is not None
        assert report.labels[0].fields["ProduceID"] == "gen-0001"
        assert report.tier == "confirmed"
    report.to_json()  # schema-valid


def test_two_labels_name_both_carriers() -> None:
    """XMP plus a tEXt label is non-compliant and the problem names both carriers (6.1 c))."""
    data = label_bytes(_image("PNG"), LABEL)
    extra = make_chunk(b"tEXt", b"AIGC\x00" + JSON.encode())
    report = inspect(data[:33] + extra + data[33:], c2pa=False)
    assert report.verdict == "non-compliant"
    assert any("png:iTXt:XMP" in p and "png:tEXt:AIGC" in p for p in report.problems)


def _webp_with_exif(tiff: bytes) -> bytes:
    data = _webp_with_xmp(b"")
    body = data[12:]
    chunk = b"EXIF" + struct.pack("<I", len(tiff)) + tiff + b"\x00" * (len(tiff) & 1)
    vp8x = bytearray(body[:18])
    vp8x[8] |= 0x08
    # drop the empty XMP chunk the helper added, keep VP8X + bitstream, add EXIF
    rest = body[18:body.rindex(b"XMP ")]
    payload = b"WEBP" + bytes(vp8x) + rest + chunk
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def _tiff_with_exif() -> bytes:
    """A TIFF whose Exif IFD UserComment holds the label, written by exiftool."""
    if not EXIFTOOL:
        pytest.skip("needs exiftool")
    path = _media_dir() / "exif.tif"
    path.write_bytes(_image("TIFF"))
    subprocess.run(["exiftool", "-q", "-overwrite_original", f"-UserComment={WRAPPED}",
                    str(path)], check=True)
    return path.read_bytes()


RELABEL = {
    "png-text": lambda: _png_with(make_chunk(b"tEXt", b"AIGC\x00" + JSON.encode())),
    "png-exif": lambda: _png_with(make_chunk(b"eXIf", _exif_user_comment(WRAPPED))),
    "jpeg-exif": lambda: _jpeg_with(_app(0xE1, b"Exif\x00\x00" + _exif_user_comment(WRAPPED))),
    "jpeg-bare": lambda: _jpeg_with(_app(0xEB, b"AIGC" + JSON.encode())),
    "webp-exif": lambda: _webp_with_exif(_exif_user_comment(WRAPPED)),
    "tiff-exif": _tiff_with_exif,
    "webp-toolkit-xmp": lambda: _webp_with_xmp(TOOLKIT),
    "gif-subblock-xmp": lambda: _gif_xmp_subblocks(TOOLKIT),
}


@pytest.mark.parametrize("name", sorted(RELABEL))
def test_relabelling_removes_other_carriers(name: str) -> None:
    """Labelling a file whose label sits in another carrier or form leaves exactly one
    label (the preferred XMP one), so the output is compliant (GB 45438 6.1 c))."""
    data = RELABEL[name]()
    assert inspect(data, c2pa=False).verdict == "compliant"
    report = inspect(label_bytes(data, LABEL), c2pa=False)
    assert report.verdict == "compliant", report.problems
    assert [lab.preferred for lab in report.labels] == [True]


@pytest.mark.skipif(not FFMPEG, reason="needs ffmpeg")
def test_relabelling_mp4_with_uuid_xmp_label_leaves_one() -> None:
    """An MP4 whose label is in an XMP uuid box is relabelled with one mdta key left."""
    data = _mp4_uuid_xmp()
    report = inspect(label_bytes(data, LABEL), c2pa=False)
    assert report.verdict == "compliant", report.problems
    assert [lab.carrier for lab in report.labels] == ["mp4:meta/keys/AIGC"]


def test_non_preferred_carrier_is_a_note() -> None:
    """A label outside the guide's carrier is judged; the report notes which carrier."""
    report = inspect(_jpeg_with(_app(0xEB, b"AIGC" + JSON.encode())), c2pa=False)
    assert report.compliant and report.labels[0].preferred is False
    assert any("APP11" in n for n in report.notes)


def test_damaged_container_with_label_reports_damage_beside_verdict() -> None:
    """A label located in a skeletal container is judged; the damage is reported beside it."""
    report = inspect(_avi_without_hdrl(), c2pa=False)
    assert report.verdict == "compliant"
    assert report.damage is None or "damaged" in report.damage


@pytest.mark.skipif(not EXIFTOOL, reason="needs exiftool")
def test_exiftool_written_user_comment_is_read(tmp_path: Path) -> None:
    """A UserComment written by exiftool (as generators do) is read as the label."""
    path = tmp_path / "gen.jpg"
    path.write_bytes(_image("JPEG"))
    subprocess.run(["exiftool", "-q", "-overwrite_original", f"-UserComment={WRAPPED}",
                    str(path)], check=True)
    report = inspect(path, c2pa=False)
    assert report.verdict == "compliant", report.problems
    assert report.labels[0].carrier == "jpeg:APP1:EXIF:UserComment"


@functools.cache
def _corpus() -> tuple[bytes, ...]:
    out = []
    for name in sorted(CASES):
        build, _, _, needs = CASES[name]
        if needs == "ffmpeg" and not FFMPEG:
            continue
        out.append(build())
    return tuple(out)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_variants_raise_only_typed_errors(data: st.DataObject) -> None:
    """Every corpus file with bytes flipped, cut or inserted: inspect returns a
    schema-valid report and the writer raises only MediaError/LabelError."""
    blob = bytearray(data.draw(st.sampled_from(_corpus())))
    for _ in range(data.draw(st.integers(1, 5))):
        at = data.draw(st.integers(0, max(0, len(blob) - 1)))
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip" and blob:
            blob[at] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del blob[at:at + data.draw(st.integers(1, 32))]
        else:
            blob[at:at] = data.draw(st.sampled_from(
                [b"AIGC", b"<", b"\x00", b'{"Label":"1"', b"<?xpacket", b"\xff\xff\xff\xff"]))
    report = inspect(bytes(blob), c2pa=False)
    report.to_json()
    try:
        label_bytes(bytes(blob), LABEL)
    except (MediaError, LabelError):
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([b"", b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>",
                                                 b"<a:AIGC>", b" b:AIGC='", b"<?xpacket "]))
def test_xmp_reader_never_raises(blob: bytes, prefix: bytes) -> None:
    """The XMP reader returns labels or nothing for any bytes; never an untyped error."""
    from genai_compliance.labelling.implicit._xmp import read_xmp_labels

    try:
        read_xmp_labels(prefix + blob, "xmp", "x", 0)
    except MediaError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_raw_scan_finds_only_labels_under_aigc_keys(blob: bytes) -> None:
    """The raw scan returns only objects with a Label (or wrapped AIGC), each after AIGC."""
    from genai_compliance.labelling.inspect import raw_scan

    data = blob + b"AIGC=" + JSON.encode() + blob
    found = raw_scan(data)
    assert any(json.loads(r.text) == LABEL.to_dict() for r in found)
    for r in found:
        obj = json.loads(r.text)
        assert "Label" in obj or "AIGC" in obj
        assert r.offset is not None and b"AIGC" in data[max(0, r.offset - 68):r.offset].upper()


def test_producer_code_checked_in_a_note() -> None:
    """A ContentProducer that is not a valid producer code is noted (a name is allowed)."""
    good = AIGCLabel(content_producer="001191350100M000100Y431A001", produce_id="p")
    report = inspect(label_bytes(_image("PNG"), good), c2pa=False)
    assert report.compliant and not any("producer code" in n for n in report.notes)
    report = inspect(label_bytes(_image("PNG"), LABEL), c2pa=False)
    assert report.compliant and any("not a valid TC260-PG-20252A" in n for n in report.notes)


def test_raw_scan_finds_a_long_label() -> None:
    """A label longer than the scan's first window (values near the 1024-character limit)
    is still found under its AIGC key."""
    from genai_compliance.labelling.inspect import raw_scan

    long = AIGCLabel(label="1", content_producer="P" * 1000, produce_id="I" * 1000,
                     reserved_code1="R" * 1000, content_propagator="C" * 1000,
                     propagate_id="D" * 1000)
    data = b"\x00junk AIGC=" + long.to_json().encode() + b"\x00tail"
    assert [AIGCLabel.from_json(r.text) for r in raw_scan(data)] == [long]
