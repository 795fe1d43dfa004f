"""How label_file moves the bulk of a file (issue 19; LM-5): data shifted by an inserted
label, or at offsets that are not 64 KiB-aligned, goes through one reused buffer (the
kernel's ``copy_file_range`` costs up to 1.6x a plain copy there); a PDF's incremental
update, appended after the unchanged file, is still copied in the kernel; a GIF without
XMP is walked and copied in one pass. Either way the output is byte for byte the
two-pass / in-memory writer's, and the label reads back."""

from __future__ import annotations

import errno
import io
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit import (
    _riff,
    label_bytes,
    label_file,
    label_stream,
    read_labels,
)
from genai_compliance.testing import one_page_pdf

LABEL = AIGCLabel(label="1", content_producer="001191350100M000100Y431A001", produce_id="c-1")
MIB = 1 << 20

needs_cfr = pytest.mark.skipif(not hasattr(os, "copy_file_range"),
                               reason="os.copy_file_range is Linux-only")


def _chunk(ctype: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(
        ">I", zlib.crc32(ctype + payload))


def _png(path: Path, mib: int = 5) -> bytes:
    """A PNG whose IDAT data (``mib`` MiB of varied bytes) follows the inserted XMP."""
    data = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + b"".join(_chunk(b"IDAT", bytes([i]) * (MIB - 7) + os.urandom(7))
                       for i in range(mib))
            + _chunk(b"IEND", b""))
    path.write_bytes(data)
    return data


def _pdf(path: Path, mib: int = 3) -> bytes:
    data = one_page_pdf(os.urandom(mib * MIB))
    path.write_bytes(data)
    return data


def _spy(monkeypatch: pytest.MonkeyPatch, name: str,
         wrap: Callable[..., Any] | None = None) -> list[tuple[Any, ...]]:
    """Record the calls of ``os.<name>`` (optionally through ``wrap``)."""
    calls: list[tuple[Any, ...]] = []
    real = getattr(os, name)

    def spy(*args: Any) -> Any:
        calls.append(args)
        return (wrap or real)(*args)

    monkeypatch.setattr(os, name, spy)
    return calls


@needs_cfr
def test_shifted_data_is_not_copied_with_copy_file_range(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A PNG's IDAT data, shifted by the inserted XMP chunk, goes through the buffer loop;
    the output equals the in-memory writer's and carries the label."""
    data = _png(tmp_path / "in.png")
    calls = _spy(monkeypatch, "copy_file_range")
    reads = _spy(monkeypatch, "preadv")
    label_file(tmp_path / "in.png", tmp_path / "out.png", LABEL)
    assert calls == []
    assert sum(len(buffers[0]) for _fd, buffers, _off in reads) >= 5 * MIB
    out = (tmp_path / "out.png").read_bytes()
    assert out == label_bytes(data, LABEL)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]


@needs_cfr
def test_pdf_update_appended_after_a_kernel_copy(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A sound PDF is copied from offset 0 to offset 0 (aligned): in the kernel, once, then
    the incremental update is appended; bytes equal the in-memory writer's."""
    data = _pdf(tmp_path / "in.pdf")
    calls = _spy(monkeypatch, "copy_file_range")
    label_file(tmp_path / "in.pdf", tmp_path / "out.pdf", LABEL)
    assert calls and calls[0][3] == 0
    out = (tmp_path / "out.pdf").read_bytes()
    assert out[:len(data)] == data
    assert out == label_bytes(data, LABEL)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]


@needs_cfr
def test_copy_file_range_failing_midway_falls_back_to_the_buffer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """copy_file_range that copies a piece and then fails (EXDEV, as across filesystems on
    some kernels) leaves the rest to the buffer loop: the output is still exact."""
    data = _pdf(tmp_path / "in.pdf")
    real = os.copy_file_range
    state = {"calls": 0}

    def flaky(src: int, dst: int, count: int, offset_src: int | None = None) -> int:
        state["calls"] += 1
        if state["calls"] > 1:
            raise OSError(errno.EXDEV, "cross-device")
        return real(src, dst, min(count, MIB + 3), offset_src)

    monkeypatch.setattr(os, "copy_file_range", flaky)
    label_file(tmp_path / "in.pdf", tmp_path / "out.pdf", LABEL)
    assert state["calls"] == 2
    assert (tmp_path / "out.pdf").read_bytes() == label_bytes(data, LABEL)


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.write that takes only part of the buffer (allowed for any file) is called again
    for the rest: nothing is lost from the shifted data."""
    data = _png(tmp_path / "in.png", 3)
    real = os.write
    short = _spy(monkeypatch, "write", lambda fd, b: real(fd, b[:4097]))
    label_file(tmp_path / "in.png", tmp_path / "out.png", LABEL)
    monkeypatch.undo()
    assert len(short) > 3 * MIB // 4097
    assert (tmp_path / "out.png").read_bytes() == label_bytes(data, LABEL)


def test_buffer_copy_stops_at_the_end_of_the_source(tmp_path: Path) -> None:
    """A source shorter than the range asked for (a truncated file) is MalformedMedia
    from copy_range, never a short output reported as done."""
    src = tmp_path / "short.bin"
    src.write_bytes(os.urandom(2 * MIB))
    with src.open("rb") as f, (tmp_path / "out.bin").open("wb") as g:
        g.write(b"x" * 10)
        with pytest.raises(MalformedMedia):
            _riff.copy_range(f, g, 5, 3 * MIB, "test")


def _gif() -> bytes:
    """An animated GIF of about 2 MB (noise frames: the sub-blocks cross many windows)."""
    from PIL import Image

    frames = [Image.frombytes("P", (700, 700), os.urandom(700 * 700)) for _ in range(4)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50)
    assert buf.tell() > 1_500_000
    return buf.getvalue()


class _Counting(io.BytesIO):
    """A source that counts the bytes read from it."""

    read_bytes = 0

    def read(self, n: int | None = -1) -> bytes:
        data = super().read(n)
        self.read_bytes += len(data)
        return data


class _OneWay(io.BytesIO):
    """A target that cannot be rewound (a pipe, a socket): the two-pass GIF path."""

    def seekable(self) -> bool:
        return False


def test_gif_without_xmp_is_read_once() -> None:
    """A GIF without XMP: the frames are read once, walking and copying together (the
    two-pass writer read them twice), and the bytes equal the two-pass output."""
    data = _gif()
    src = _Counting(data)
    out = io.BytesIO()
    label_stream(src, out, LABEL)
    assert src.read_bytes < 1.25 * len(data)
    two_pass = _OneWay()
    label_stream(io.BytesIO(data), two_pass, LABEL, verify=False)
    assert out.getvalue() == two_pass.getvalue()
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out.getvalue())] == [LABEL]


class _CountingOut(io.BytesIO):
    """A target that counts the bytes read back from it."""

    read_bytes = 0

    def read(self, n: int | None = -1) -> bytes:
        data = super().read(n)
        self.read_bytes += len(data)
        return data

    def readinto(self, b: Any) -> int:
        n = super().readinto(b)
        self.read_bytes += n
        return n


def test_gif_one_pass_read_back_reads_the_label_block_only() -> None:
    """After the one-pass write (the walk met no XMP extension, so the label block written
    after the header is the only one the output can carry), the read-back parses that block
    and not the frames again: the output's bytes are read back in kilobytes, not once more
    in full. The label still reads back from the whole file."""
    data = _gif()
    out = _CountingOut()
    label_stream(io.BytesIO(data), out, LABEL)
    assert out.read_bytes < 64 * 1024 < len(data) // 20
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out.getvalue())] == [LABEL]


def test_gif_one_pass_read_back_still_catches_a_wrong_label(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The shortened read-back is still a read-back: an extension that does not carry the
    label asked for (a writer bug, simulated) fails the write with LabelError."""
    from genai_compliance.errors import LabelError
    from genai_compliance.labelling.implicit import _gif as gif

    real = gif.GifHandler._extension

    def wrong(old: bytes | None, aigc_json: str, at: int) -> bytes:
        return real(old, aigc_json.replace("c-1", "c-9"), at)

    monkeypatch.setattr(gif.GifHandler, "_extension", staticmethod(wrong))
    with pytest.raises(LabelError, match="does not read back"):
        label_stream(io.BytesIO(_gif()), io.BytesIO(), LABEL)


def _many_chunk_png(chunks: int = 2000) -> bytes:
    """An 8x8 PNG whose image data comes in ``chunks`` IDAT chunks of 1 KiB (libpng writes
    8 KiB ones: a large PNG has thousands)."""
    ihdr = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", bytes(1024)) * chunks + _chunk(b"IEND", b""))


class _CountingReads(io.BytesIO):
    """A target that counts the reads made on it (the PNG walk reads 8-byte headers)."""

    reads = 0

    def read(self, n: int | None = -1) -> bytes:
        self.reads += 1
        return super().read(n)


def test_png_read_back_of_a_file_without_carriers_reads_the_new_chunk_only() -> None:
    """A PNG with no chunk that can carry a label: the read-back parses the iTXt chunk
    written, not every chunk header of the output again (2,000 reads for 2,000 chunks
    before); the label still reads back from the whole file."""
    data = _many_chunk_png()
    out = _CountingReads()
    label_stream(io.BytesIO(data), out, LABEL)
    assert out.reads < 10
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out.getvalue())] == [LABEL]


def test_png_with_a_carrier_is_read_back_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PNG that already carries a label (an old XMP chunk) is relabelled and read back in
    full, every chunk walked — and a label that does not read back (a writer bug,
    simulated) fails the write with LabelError on either path."""
    from genai_compliance.errors import LabelError
    from genai_compliance.labelling.implicit import _png as png

    first = label_bytes(_many_chunk_png(200), LABEL)
    out = _CountingReads()
    label_stream(io.BytesIO(first), out, LABEL)
    assert out.reads > 200
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out.getvalue())] == [LABEL]
    real = png.merge_xmp

    def wrong(old: bytes | None, aigc_json: str, fmt: str) -> bytes:
        return real(old, aigc_json.replace("c-1", "c-9"), fmt)

    monkeypatch.setattr(png, "merge_xmp", wrong)
    for source in (_many_chunk_png(50), first):
        with pytest.raises(LabelError, match="does not read back"):
            label_stream(io.BytesIO(source), io.BytesIO(), LABEL)


def test_gif_relabel_rewinds_to_the_two_pass_writer() -> None:
    """A GIF that already has XMP: the streamed attempt is cut back to where the target
    stood (bytes before it kept) and the merged packet goes where the old one was."""
    first = label_bytes(_gif(), LABEL)
    other = AIGCLabel(label="2", content_producer="001191350100M000100Y431A001",
                      produce_id="c-2")
    out = io.BytesIO(b"kept")
    out.seek(0, 2)
    label_stream(io.BytesIO(first), out, other)
    two_pass = _OneWay()
    label_stream(io.BytesIO(first), two_pass, other, verify=False)
    assert out.getvalue() == b"kept" + two_pass.getvalue()
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out.getvalue()[4:])] == [other]
    assert out.getvalue().count(b"\x21\xff\x0bXMP DataXMP") == 1  # replaced, not added


def test_damaged_gif_leaves_the_target_as_it_was() -> None:
    """A GIF cut short (no trailer) is MalformedMedia and nothing of it stays in the
    target, as with the two-pass writer, which failed before writing."""
    data = _gif()[:-40_000]
    out = io.BytesIO(b"kept")
    out.seek(0, 2)
    with pytest.raises(MalformedMedia):
        label_stream(io.BytesIO(data), out, LABEL)
    assert out.getvalue() == b"kept"


def _prefixed_cases(tmp_path: Path) -> dict[str, bytes]:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buf, "JPEG")
    return {"png": _png(tmp_path / "p.png", 2), "pdf": _pdf(tmp_path / "p.pdf", 2),
            "gif": _gif(), "jpeg": buf.getvalue()}


def test_output_after_a_prefix_is_read_back_in_place(tmp_path: Path) -> None:
    """label_stream into a file that already holds other bytes: the output is the prefix
    plus exactly what label_bytes gives, read back (and checked) where it lies."""
    for name, data in _prefixed_cases(tmp_path).items():
        path = tmp_path / f"out-{name}"
        with path.open("w+b") as out:
            out.write(b"archive header " * 7)
            assert label_stream(io.BytesIO(data), out, LABEL) == name
        assert path.read_bytes() == b"archive header " * 7 + label_bytes(data, LABEL), name


def test_read_back_after_a_prefix_does_not_load_the_output(tmp_path: Path) -> None:
    """Reading back an output written after a prefix holds no copy of it (the check used to
    read the whole output into memory): the traced peak stays far below the file's size."""
    import tracemalloc

    src = tmp_path / "in.png"
    _png(src, 12)
    with src.open("rb") as fin, (tmp_path / "out.png").open("w+b") as out:
        out.write(b"x" * 100)
        tracemalloc.start()
        try:
            label_stream(fin, out, LABEL)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 4 * MIB
