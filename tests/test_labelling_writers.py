"""Writers verify their own output (issue 16; LM-5): the label is read back from the written
bytes in the same carrier before success is reported; a PDF whose cross-reference state
pypdf had to repair is rewritten in full instead of getting an incremental update that
points at a stale startxref; an M4A's existing iTunes meta is not doubled."""

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
