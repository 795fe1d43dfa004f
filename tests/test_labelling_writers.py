"""Writers verify their own output (issue 16; LM-5): the label is read back from the written
bytes in the same carrier before success is reported; a PDF whose cross-reference state
pypdf had to repair is rewritten in full (streamed, from a scan of its objects) instead of
getting an incremental update that points at a stale startxref; an M4A's existing iTunes
meta is not doubled."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path
from typing import BinaryIO

import pytest

from genai_compliance.errors import LabelError
from genai_compliance.labelling import inspect
from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit import _dispatch, label_bytes, label_file, read_labels

LABEL = AIGCLabel(label="1", content_producer="001191350100M000100Y431A001", produce_id="w-1")


def _pdf() -> bytes:
    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_blank_page(100, 100)
    writer.add_metadata({"/Title": "keep-me"})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_pdf_with_stale_startxref_is_rewritten_and_keeps_the_label() -> None:
    """startxref pointing at no xref (pypdf repairs it silently): the output is a full
    rewrite that every reader sees labelled, other Info entries kept."""
    import pypdf

    good = _pdf()
    cut = good.rindex(b"startxref")
    stale = good[:cut] + b"startxref\n17\n%%EOF\n"
    out = label_bytes(stale, LABEL)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]
    info = pypdf.PdfReader(io.BytesIO(out), strict=True).metadata
    assert info is not None and info["/Title"] == "keep-me"
    assert inspect(out, c2pa=False).verdict == "compliant"


def test_pdf_with_stale_prev_in_an_update_is_rewritten() -> None:
    """An earlier incremental update whose /Prev points at nothing (pypdf repairs it while
    reading): the output is a full rewrite that a strict reader opens, labelled."""
    import pypdf

    good = _pdf()
    off = len(good)
    upd = good + b"9 0 obj\n<< /Title (updated) >>\nendobj\n"
    xref = len(upd)
    upd += (b"xref\n9 1\n%010d 00000 n \ntrailer\n<< /Size 10 /Root 1 0 R /Info 9 0 R"
            b" /Prev 7 >>\nstartxref\n%d\n%%%%EOF\n" % (off, xref))
    out = label_bytes(upd, LABEL)
    assert not out.startswith(upd)  # not an update chained onto the broken chain
    reader = pypdf.PdfReader(io.BytesIO(out), strict=True)
    assert reader.metadata is not None and reader.metadata["/AIGC"] == LABEL.to_json()


def test_pdf_incremental_update_kept_for_a_sound_file() -> None:
    """A sound PDF still gets an incremental update: the original bytes are a prefix."""
    good = _pdf()
    out = label_bytes(good, LABEL)
    assert out.startswith(good.rstrip(b"\n"))


class _Lossy:
    """A handler whose writer silently loses the label (the failure issue 16 found)."""

    name = "png"

    def __init__(self, real: object) -> None:
        self.real = real

    def sniff(self, head: bytes) -> bool:
        return bool(self.real.sniff(head))  # type: ignore[attr-defined]

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        dst.write(src.read())

    def read(self, src: BinaryIO) -> list[object]:
        return list(self.real.read(src))  # type: ignore[attr-defined]


def test_writer_that_loses_the_label_is_an_error(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """A write whose output does not read back with the label raises LabelError, and
    label_file leaves no output behind."""
    from PIL import Image

    lossy = _Lossy(_dispatch.HANDLERS[0].load())  # the PNG handler itself
    monkeypatch.setattr(_dispatch, "HANDLERS", (lossy, *_dispatch.HANDLERS[1:]))
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG")
    with pytest.raises(LabelError, match="does not read back"):
        label_bytes(buf.getvalue(), LABEL)
    src = tmp_path / "a.png"
    src.write_bytes(buf.getvalue())
    with pytest.raises(LabelError):
        label_file(src, tmp_path / "b.png", LABEL)
    assert not (tmp_path / "b.png").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def _meta_parents(data: bytes) -> list[bytes]:
    """The type of the container of every ``meta`` box under ``moov``."""
    found: list[bytes] = []

    def walk(start: int, end: int, parent: bytes) -> None:
        pos = start
        while pos + 8 <= end:
            size, btype = struct.unpack_from(">I4s", data, pos)
            if size < 8:
                return
            if btype == b"meta":
                found.append(parent)
            if btype in (b"moov", b"udta", b"trak"):
                walk(pos + 8, pos + size, btype)
            pos += size

    walk(0, len(data), b"")
    return found


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_m4a_itunes_meta_is_not_doubled(tmp_path: Path) -> None:
    """An M4A whose udta already holds an iTunes meta gets no second meta in udta (one
    meta per container); its tags and our key both read, exiftool warns nothing."""
    src = tmp_path / "a.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=0.3",
                    "-c:a", "aac", "-metadata", "artist=Me", str(src)], check=True)
    out = tmp_path / "b.m4a"
    label_file(src, out, LABEL)
    parents = _meta_parents(out.read_bytes())
    assert parents.count(b"udta") <= 1 and parents.count(b"moov") <= 1
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]
    if shutil.which("exiftool"):
        text = subprocess.run(["exiftool", "-a", "-G1", "-warning", "-Artist", "-Keys:AIGC",
                               str(out)], check=True, capture_output=True, text=True).stdout
        assert "Me" in text and "w-1" in text and "Warning" not in text


def test_mp4_merges_into_an_existing_moov_meta(tmp_path: Path) -> None:
    """An MP4 whose keys live in Apple's moov/meta (exiftool -Keys:… writes them there)
    gets the AIGC key merged into that meta: no second mdta meta, its keys kept."""
    if shutil.which("ffmpeg") is None or shutil.which("exiftool") is None:
        pytest.skip("needs ffmpeg and exiftool")
    src = tmp_path / "a.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=duration=0.3:size=32x24:rate=10", "-c:v", "mpeg4", str(src)],
                   check=True)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-Keys:Author=keep-me",
                    str(src)], check=True)
    before = _meta_parents(src.read_bytes())
    out = tmp_path / "b.mp4"
    label_file(src, out, LABEL)
    assert _meta_parents(out.read_bytes()) == before
    text = subprocess.run(["exiftool", "-a", "-G1", "-warning", "-Keys:all", str(out)],
                          check=True, capture_output=True, text=True).stdout
    assert "keep-me" in text and "w-1" in text and "Warning" not in text


def _objstm_pdf(startxref: int | None) -> tuple[bytes, bytes]:
    """A PDF 1.5 file whose catalog, pages, page and Info live in a compressed object
    stream with a cross-reference stream; ``startxref`` overrides the real pointer.
    Returns (file, the page's content stream data)."""
    import zlib

    content = b"BT /F1 12 Tf 10 10 Td (endobj stream) Tj ET\n" * 50
    members = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
               2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R >>",
               6: b"<< /Title (kept: stream endobj) /Producer (hand) >>"}
    index, body = [], b""
    for num, text in members.items():
        index.append(b"%d %d" % (num, len(body)))
        body += text + b"\n"
    head = b" ".join(index) + b"\n"
    packed = zlib.compress(head + body)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    o4 = len(out)
    out += (b"4 0 obj\n<< /Length %d >>\nstream\n" % len(content) + content
            + b"\nendstream\nendobj\n")
    o5 = len(out)
    out += (b"5 0 obj\n<< /Type /ObjStm /N 4 /First %d /Filter /FlateDecode /Length %d >>\n"
            b"stream\n" % (len(head), len(packed)) + packed + b"\nendstream\nendobj\n")
    o7 = len(out)
    rows = [(0, 0, 65535), (2, 5, 0), (2, 5, 1), (2, 5, 2), (1, o4, 0), (1, o5, 0),
            (2, 5, 3), (1, o7, 0)]
    table = b"".join(struct.pack(">BIH", *r) for r in rows)
    out += (b"7 0 obj\n<< /Type /XRef /Size 8 /W [1 4 2] /Root 1 0 R /Info 6 0 R /Length %d"
            b" >>\nstream\n" % len(table) + table + b"\nendstream\nendobj\n")
    out += b"startxref\n%d\n%%%%EOF\n" % (o7 if startxref is None else startxref)
    return bytes(out), content


def test_pdf_repair_recovers_objects_from_object_streams() -> None:
    """A damaged PDF 1.5 (startxref wrong; catalog, pages and Info compressed in an object
    stream): the streamed rewrite opens in a strict reader with the same page content
    bytes, the Info entries kept and exactly one label; a sound one gets an update."""
    import pypdf

    sound, content = _objstm_pdf(None)
    assert label_bytes(sound, LABEL).startswith(sound)
    damaged, _ = _objstm_pdf(5)
    out = label_bytes(damaged, LABEL)
    reader = pypdf.PdfReader(io.BytesIO(out), strict=True)
    assert len(reader.pages) == 1
    assert reader.pages[0].get_contents().get_data() == content  # type: ignore[union-attr]
    assert reader.metadata is not None
    assert reader.metadata["/Title"] == "kept: stream endobj"
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]
    assert b"/ObjStm" not in out and b"/XRef" not in out


def test_pdf_repair_finds_the_true_extent_of_a_stream() -> None:
    """A stream whose /Length is wrong and one whose /Length is indirect: the rewrite
    copies exactly the bytes before ``endstream`` and writes the true length; an object
    redefined by a later update wins."""
    import pypdf

    data = bytes(range(256)) * 40
    pdf = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
           b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
           b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 9 9] /Contents 4 0 R"
           b" /Thumb 5 0 R >>\nendobj\n"
           b"4 0 obj\n<< /Length 99999 >>\nstream\n" + data + b"\nendstream\nendobj\n"
           b"5 0 obj\n<< /Length 6 0 R /Note (a stream) >>\nstream\r\n" + data
           + b"\r\nendstream\nendobj\n6 0 obj\n%d\nendobj\n" % len(data)
           + b"7 0 obj\n<< /Title (old) >>\nendobj\n7 0 obj\n<< /Title (new) >>\nendobj\n"
           b"trailer\n<< /Size 8 /Root 1 0 R /Info 7 0 R >>\n%%EOF\n")
    out = label_bytes(pdf, LABEL)
    reader = pypdf.PdfReader(io.BytesIO(out), strict=True)
    page = reader.pages[0]
    assert page.get_contents().get_data() == data  # type: ignore[union-attr]
    assert page["/Thumb"].get_object().get_data() == data
    assert reader.metadata is not None and reader.metadata["/Title"] == "new"
    assert reader.metadata["/AIGC"] == LABEL.to_json()


def test_pdf_repair_does_not_search_through_stream_data(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The repair scan looks for the end of each object's dictionary: the ``stream``
    keyword or an ``endobj`` before it. It never searches on through the stream's data
    for an ``endobj`` (it searched up to 4 MiB past every stream dictionary: most of the
    scan's time on a large content stream); the bytes searched stay a small part of the
    file, and the output is the same."""
    from genai_compliance.labelling.implicit import _pdf_repair
    from genai_compliance.testing import one_page_pdf

    good = one_page_pdf(b"0 0 m\n" * ((6 << 20) // 6))  # a 6 MiB content stream
    cut = good.rindex(b"startxref")
    stale = good[:cut] + b"startxref\n17\n%%EOF\n"
    searched: list[int] = []
    real = _pdf_repair._Source._search

    def counted(self: object, needle: bytes, pos: int, end: int) -> int:
        hit: int = real(self, needle, pos, end)  # type: ignore[arg-type]
        searched.append((hit if hit >= 0 else end) - pos)
        return hit

    monkeypatch.setattr(_pdf_repair._Source, "_search", counted)
    out = label_bytes(stale, LABEL)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]
    assert sum(searched) < len(stale) // 4


def test_pdf_repair_refuses_an_encrypted_or_catalog_less_file() -> None:
    """The rewrite fails closed: an /Encrypt trailer is refused, and so is a file with no
    recoverable document catalog."""
    from genai_compliance.errors import MalformedMedia, UnsupportedMedia

    body = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n")
    with pytest.raises(UnsupportedMedia, match="encrypted"):
        label_bytes(body + b"trailer\n<< /Root 1 0 R /Encrypt 3 0 R >>\n%%EOF\n", LABEL)
    with pytest.raises(MalformedMedia, match="catalog"):
        label_bytes(b"%PDF-1.4\n2 0 obj\n<< /Count 0 >>\nendobj\n%%EOF\n", LABEL)
