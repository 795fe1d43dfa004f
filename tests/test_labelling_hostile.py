"""Hostile inputs cannot stall the label parsers or exhaust memory (issue 16; LM-5, LM-6).

Each case is a small file crafted against a super-linear or unbounded parser (backtracking
regexes over repeated ``<property``/``<meta``/``<metadata``/``<?xpacket``/``<a:AIGC>``,
100 000 nested Matroska SimpleTags, deep XML, a decompression bomb, an EXIF IFD loop …),
at sizes where a quadratic parser would run for minutes. ``inspect`` and the writer run on it
in a child process under a generous wall-clock limit and an address-space limit
(``resource.setrlimit``); the child must finish, and only our typed errors may leave the
package. No timing is asserted: the limit only turns a stall into a failure.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from genai_compliance.labelling.implicit._png import make_chunk

#: generous per-case limits: a stall or a blow-up fails, a slow machine does not.
WALL_SECONDS = 120
MEMORY_BYTES = 1536 << 20

_CHILD = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({mem}, {mem}))
    from genai_compliance.errors import ComplianceError
    from genai_compliance.labelling import inspect
    from genai_compliance.labelling.implicit import label_file
    path, out = sys.argv[1], sys.argv[2]
    report = inspect(path, c2pa=False)
    print("inspect", report.verdict)
    try:
        label_file(path, out, {{"Label": "1", "ContentProducer": "p", "ProduceID": "x"}})
        print("label ok")
    except ComplianceError as exc:
        print("label", type(exc).__name__)
""")


def _run(tmp_path: Path, data: bytes) -> list[str]:
    src = tmp_path / "hostile.bin"
    src.write_bytes(data)
    proc = subprocess.run([sys.executable, "-c", _CHILD.format(mem=MEMORY_BYTES), str(src),
                           str(tmp_path / "out.bin")], capture_output=True, text=True,
                          timeout=WALL_SECONDS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split("\n")


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG")
    return buf.getvalue()


def _png_xmp(packet: bytes) -> bytes:
    data = _png()
    chunk = make_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + packet)
    return data[:33] + chunk + data[33:]


def _docx(custom: bytes, extra: tuple[str, int] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"></Types>')
        z.writestr("docProps/custom.xml", custom)
        if extra is not None:
            name, size = extra
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w", force_zip64=True) as part:
                block = bytes(16 << 20)
                for _ in range(size // len(block)):
                    part.write(block)
    return buf.getvalue()


def _ebml(eid: int, size: int) -> bytes:
    idb = eid.to_bytes((eid.bit_length() + 7) // 8, "big")
    return idb + b"\x01" + size.to_bytes(7, "big")


def _mkv_nested(depth: int) -> bytes:
    """A Matroska file whose Tags hold ``depth`` SimpleTags nested in one another."""
    name = bytes.fromhex("45A3") + b"\x81" + b"x"
    inner = bytes.fromhex("45A3") + b"\x84AIGC" + bytes.fromhex("4487") + b"\x82{}"
    sizes = [len(inner)]
    for _ in range(depth - 1):
        sizes.append(len(name) + 10 + sizes[-1])
    heads = [_ebml(0x67C8, size) + name for size in reversed(sizes[1:])]
    simple = b"".join(heads) + _ebml(0x67C8, sizes[0]) + inner
    tag = _ebml(0x7373, len(simple)) + simple
    tags = _ebml(0x1254C367, len(tag)) + tag
    doctype = bytes.fromhex("4282") + b"\x88matroska"
    header = bytes.fromhex("1A45DFA3") + bytes([0x80 | len(doctype)]) + doctype
    segment = bytes.fromhex("18538067") + b"\x01\xff\xff\xff\xff\xff\xff\xff"
    return header + segment + tags


def _jpeg_exif_loop() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "JPEG")
    data = buf.getvalue()
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack(
        "<HHII", 0x8769, 4, 1, 8) + struct.pack("<I", 8)
    payload = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def _bbox(btype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body) + 8) + btype + body


def _heif_many_items() -> bytes:
    """A HEIF meta whose iinf/iloc declare 65535 items with the most extents each."""
    ftyp = _bbox(b"ftyp", b"heic\x00\x00\x00\x00mif1heic")
    hdlr = _bbox(b"hdlr", bytes(8) + b"pict" + bytes(13))
    pitm = _bbox(b"pitm", bytes(4) + b"\x00\x01")
    iloc = _bbox(b"iloc", b"\x01\x00\x00\x00\x44\x40\xff\xff"
                 + (b"\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00") * 4000)
    infe = _bbox(b"infe", b"\x02\x00\x00\x00\x00\x01\x00\x00hvc1\x00")
    iinf = _bbox(b"iinf", bytes(4) + b"\xff\xff" + infe * 20000)
    meta = _bbox(b"meta", bytes(4) + hdlr + pitm + iloc + iinf)
    return ftyp + meta + _bbox(b"mdat", bytes(64))


def _mp4_deep() -> bytes:
    """An MP4 whose moov nests 100 000 trak boxes in one another."""
    depth = 100_000
    inner = b""
    sizes = [8]
    for _ in range(depth - 1):
        sizes.append(sizes[-1] + 8)
    heads = b"".join(struct.pack(">I", n) + b"trak" for n in reversed(sizes))
    moov = struct.pack(">I", len(heads) + 8) + b"moov" + heads + inner
    return _bbox(b"ftyp", b"isom\x00\x00\x00\x00") + moov


N = 1 << 20  # about a megabyte of repetition per case

CASES: dict[str, Callable[[], bytes]] = {
    "docx-repeated-property": lambda: _docx(b"<Properties>" + b"<property " * (N // 10)),
    "docx-repeated-property-closed": lambda: _docx(
        b'<Properties xmlns:vt="urn:vt">' + b'<property name="AIGC"><vt:lpwstr>'
        * (N // 34)),
    "docx-1gib-part": lambda: _docx(b"<Properties/>", ("word/media/big.bin", 1 << 30)),
    "png-repeated-aigc-element": lambda: _png_xmp(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>"
                                                  + b"<a:AIGC>" * (N // 8)),
    "png-repeated-aigc-attribute": lambda: _png_xmp(b" a:AIGC='" * (N // 9)),
    "png-repeated-xpacket": lambda: _png_xmp(b"<?xpacket " * (N // 10)),
    "png-deep-xmp": lambda: _png_xmp(b"<a>" * (N // 3)),
    "png-entity-bomb": lambda: _png_xmp(
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "' + b"A" * 1000 + b'">'
        + b"".join(b'<!ENTITY a%d "&a%d;&a%d;">' % (i + 1, i, i) for i in range(30))
        + b"]><x>&a30;</x>"),
    "html-unclosed-meta": lambda: b"<!DOCTYPE html><html><head>" + b"<meta name=AIGC " * (
        N // 16),
    "html-many-meta": lambda: b"<!DOCTYPE html><html><head>" + b"<meta x>" * (N // 8),
    "svg-unclosed-metadata": lambda: b'<svg xmlns="http://www.w3.org/2000/svg">' + (
        b'<metadata id="tc260-aigc">AIGC' * (N // 30)),
    "markdown-unclosed-front-matter": lambda: b"---\n" + b"AIGC: x\n  y\n" * (N // 12),
    "mkv-nested-simpletags": lambda: _mkv_nested(100_000),
    "jpeg-exif-ifd-loop": _jpeg_exif_loop,
    "heif-many-items": _heif_many_items,
    "mp4-deep-boxes": _mp4_deep,
    "pdf-repeated-startxref": lambda: b"%PDF-1.4\n" + b"startxref 1 " * (N // 12) + b"%%EOF",
    "pdf-deep-arrays": lambda: b"%PDF-1.4\n1 0 obj " + b"[" * N + b"\nendobj\n%%EOF",
    "raw-scan-nested-candidates": lambda: b"\x00junk" + b'AIGC{"Label":"' * (N // 14),
    "raw-scan-long-strings": lambda: b"\x00junk" + (b'AIGC{"a":"' + b"x" * 60_000) * 64,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_finishes_with_typed_errors(name: str, tmp_path: Path) -> None:
    """Each hostile file is inspected and labelled within the limits; only typed errors."""
    out = _run(tmp_path, CASES[name]())
    assert out[0].startswith("inspect ")
    assert out[1] in {"label ok", "label MalformedMedia", "label UnsupportedMedia",
                      "label LabelError"}, out


def test_decompression_bomb_is_refused() -> None:
    """A DOCX part that inflates far past its compressed size is refused, not inflated."""
    from genai_compliance.errors import MalformedMedia
    from genai_compliance.labelling.implicit import label_bytes

    data = _docx(b"<Properties/>", ("word/media/big.bin", 64 << 20))
    assert len(data) < 1 << 20
    with pytest.raises(MalformedMedia, match="decompression bomb"):
        label_bytes(data, {"Label": "1", "ContentProducer": "p", "ProduceID": "x"})


def test_nested_simpletags_are_refused_by_depth() -> None:
    """SimpleTags nested past the bound are a typed error naming the nesting."""
    from genai_compliance.errors import MalformedMedia
    from genai_compliance.labelling.implicit import read_labels

    with pytest.raises(MalformedMedia, match="nested deeper"):
        read_labels(_mkv_nested(1000))


def test_entity_declarations_are_refused() -> None:
    """An XMP packet with a DOCTYPE/ENTITY is never expanded."""
    from genai_compliance.labelling import inspect

    report = inspect(CASES["png-entity-bomb"](), c2pa=False)
    assert report.verdict in ("not-found", "inconclusive")


def test_unknown_xml_encoding_is_a_typed_error() -> None:
    """An XML declaration naming an unknown encoding (found by fuzzing: LookupError from
    expat) is a media error, and inspect still reports."""
    from genai_compliance.errors import MalformedMedia
    from genai_compliance.labelling import inspect
    from genai_compliance.labelling.implicit import label_bytes

    data = _png_xmp(b'<?xml version="1.0" encoding="UTF-8AIGC"?><x/>')
    with pytest.raises(MalformedMedia):
        label_bytes(data, {"Label": "1", "ContentProducer": "p", "ProduceID": "x"})
    inspect(data, c2pa=False).to_json()


def test_zlib_bomb_in_png_text_is_bounded() -> None:
    """A zTXt AIGC chunk inflating past 16 MiB is a typed error, not 1 GiB of memory."""
    from genai_compliance.labelling import inspect

    comp = zlib.compressobj()
    blob = b"".join(comp.compress(bytes(1 << 20)) for _ in range(64)) + comp.flush()
    data = _png()
    chunk = make_chunk(b"zTXt", b"AIGC\x00\x00" + blob)
    report = inspect(data[:33] + chunk + data[33:], c2pa=False)
    assert report.verdict == "inconclusive"
