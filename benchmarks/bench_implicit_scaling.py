"""Implicit-label cost against input size, per format (issues 16, 19; LM-5): label_file on a
1x, 2x and 4x file of PNG, JPEG, GIF, WebP, TIFF, HEIC, MP4, WAV, MP3, MKV, FLAC, Ogg Opus,
AVI, PDF (a sound file: incremental update; a damaged one: the streamed repair rewrite) and
DOCX, each beside a plain copy of the same file measured in this run (the formats made by
ffmpeg are skipped without it). Label, copy and floor runs go in shuffled rounds and the
medians are printed (the machine is shared, so single runs are noisy). Every run writes a
fresh target (the old one is removed untimed; bench_implicit_floor shows what replacing an
existing one adds). ``label/copy`` is the median of the per-round ratios, the figure the
"at most 1.5x a file copy" target is read from; ``atomic/copy`` is the floor every safe
writer pays on top of a copy, measured as in bench_implicit_floor (temp file beside the
target, 1.5 KB inserted after 20 bytes, the rest through a 1 MiB buffer, renamed; no fsync,
as label_file does none), ``label/atomic`` the writer against it, and ``cfr/copy`` the
same floor with the rest copied by ``copy_file_range`` (the writers' copy before issue
19). Linear cost shows as a steady ratio and a time that doubles with the size; the
hostile-input tests cover the pathological inputs. ``GC_BENCH_REPEAT`` sets the runs per
size (default 7)."""

from __future__ import annotations

import io
import os
import shutil
import statistics
import struct
import subprocess
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from _util import big_png as _png
from bench_implicit_floor import atomic_floor, compare, plain_copy, ratio

from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit import label_file
from genai_compliance.testing import one_page_pdf

LABEL = AIGCLabel(content_producer="001191350100M000100Y431A001", produce_id="bench-scale")
BASE = 16 << 20  # the 1x size; 2x and 4x follow
REPEAT = int(os.environ.get("GC_BENCH_REPEAT", "7"))


def _jpeg(path: Path, size: int) -> None:
    with path.open("wb") as f:
        f.write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
                b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00")
        block = b"\x12\x34" * (1 << 19)
        for _ in range(size // len(block)):
            f.write(block)
        f.write(b"\xff\xd9")


def _padded(base: bytes, path: Path, size: int) -> None:
    """An ISO BMFF file padded with a trailing ``free`` box to ``size``."""
    pad = max(16, size - len(base))
    with path.open("wb") as f:
        f.write(base + struct.pack(">I4s", pad, b"free"))
        block = bytes(1 << 20)
        left = pad - 8
        while left > 0:
            f.write(block[:left])
            left -= len(block)


def _heic_base() -> bytes | None:
    try:
        import pillow_heif
        from PIL import Image
    except ImportError:
        return None
    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(buf, "HEIF")
    return buf.getvalue()


def _ffmpeg(args: list[str], suffix: str) -> bytes | None:
    if shutil.which("ffmpeg") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"x{suffix}"
        subprocess.run(["ffmpeg", "-v", "error", "-y", *args, str(out)], check=True)
        return out.read_bytes()


def _wav(path: Path, size: int) -> None:
    n = size - 44
    with path.open("wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + n) + b"WAVEfmt " + struct.pack(
            "<IHHIIHH", 16, 1, 1, 44100, 88200, 2, 16) + b"data" + struct.pack("<I", n))
        block = bytes(1 << 20)
        left = n
        while left > 0:
            f.write(block[:left])
            left -= len(block)


def _mkv(base: bytes | None) -> Callable[[Path, int], None] | None:
    if base is None:
        return None

    def make(path: Path, size: int) -> None:
        # a Void element at the end of the Segment is not possible without knowing its
        # size field, so the clip is re-muxed with an attachment of the wanted size.
        blob = path.with_suffix(".bin")
        blob.write_bytes(bytes(size))
        src = path.with_suffix(".src.mkv")
        src.write_bytes(base)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-attach", str(blob),
                        "-metadata:s:t", "mimetype=application/octet-stream", "-c", "copy",
                        str(path)], check=True)
        blob.unlink()
        src.unlink()

    return make


def _ffmpeg_sized(*args: str) -> Callable[[Path, int], None] | None:
    """A maker that has ffmpeg encode ``args`` until the output reaches the size (-fs)."""
    if shutil.which("ffmpeg") is None:
        return None

    def make(path: Path, size: int) -> None:
        subprocess.run(["ffmpeg", "-v", "error", "-y", *args, "-fs", str(size), str(path)],
                       check=True)

    return make


def _pdf(path: Path, size: int) -> None:
    path.write_bytes(one_page_pdf(b"0 0 m\n" * (size // 6)))


def _pdf_damaged(path: Path, size: int) -> None:
    """The PDF above with its startxref pointing at nothing: the repair rewrite."""
    _pdf(path, size)
    data = path.read_bytes()
    cut = data.rindex(b"startxref")
    path.write_bytes(data[:cut] + b"startxref\n17\n%%EOF\n")


def _docx(path: Path, size: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"></Types>')
        info = zipfile.ZipInfo("word/media/image1.bin")
        with z.open(info, "w", force_zip64=True) as part:
            block = bytes(range(256)) * 4096
            for _ in range(size >> 20):
                part.write(block)


def _webp(path: Path, size: int) -> None:
    n = size - 20
    with path.open("wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 12 + n) + b"WEBP" + b"VP8L" + struct.pack("<I", n)
                + b"\x2f" + struct.pack("<I", (63 << 14) | 63))
        _zeros(f, n - 5)


def _gif(path: Path, size: int) -> None:
    with path.open("wb") as f:
        f.write(b"GIF89a" + struct.pack("<HH", 64, 64) + b"\x00\x00\x00"
                + b"\x2c" + struct.pack("<HHHH", 0, 0, 64, 64) + b"\x00\x08")
        block = (b"\xff" + bytes(255)) * 4096
        for _ in range(size // len(block)):
            f.write(block)
        f.write(b"\x00\x3b")


def _tiff(path: Path, size: int) -> None:
    width, height = 1024, size // 1024
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8), (278, 4, 1, height), (279, 4, 1, width * height)]
    with path.open("wb") as f:
        f.write(b"II*\x00" + struct.pack("<I", 8 + width * height))
        _zeros(f, width * height)
        f.write(struct.pack("<H", len(entries)) + b"".join(
            struct.pack("<HHII", *e) for e in entries) + bytes(4))


def _mp3(path: Path, size: int) -> None:
    frame = b"\xff\xfb\x90\x00" + bytes(413)  # MPEG-1 layer III 128 kbit/s 44.1 kHz
    with path.open("wb") as f:
        for _ in range(size // len(frame)):
            f.write(frame)


def _zeros(f: BinaryIO, n: int) -> None:
    block = bytes(1 << 20)
    while n > 0:
        f.write(block[:n])
        n -= len(block)


def _best(fn: Callable[[], None], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _rounds(src: Path, work: Path) -> tuple[float, float, float, float, float, float]:
    """(median label s, median copy s, label/copy, atomic/copy, label/atomic,
    atomic-cfr/copy), the ratios as medians of the per-round ones (fresh targets)."""
    times = compare(src, work, {
        "copy": plain_copy,
        "atomic": atomic_floor,
        "cfr": lambda s, d: atomic_floor(s, d, kernel=True),
        "label": lambda s, d: label_file(s, d, LABEL),
    }, repeat=REPEAT)
    return (statistics.median(times["label"]), statistics.median(times["copy"]),
            ratio(times, "label", "copy"), ratio(times, "atomic", "copy"),
            ratio(times, "label", "atomic"), ratio(times, "cfr", "copy"))


def _hostile() -> None:
    """inspect() on the issue's stall inputs at 1x/2x/4x: time doubles with the size."""
    from genai_compliance.labelling import inspect

    def png_xmp(packet: bytes) -> bytes:
        def chunk(t: bytes, p: bytes) -> bytes:
            return struct.pack(">I", len(p)) + t + p + struct.pack(">I", zlib.crc32(t + p))

        return b"\x89PNG\r\n\x1a\n" + chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00"
                                           + packet) + chunk(b"IEND", b"")

    cases: dict[str, Callable[[int], bytes]] = {
        "png <a:AIGC> x n": lambda n: png_xmp(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>"
                                              + b"<a:AIGC>" * n),
        "png <?xpacket x n": lambda n: png_xmp(b"<?xpacket " * n),
        "html <meta x n": lambda n: b"<!DOCTYPE html><html><head>" + b"<meta name=AIGC " * n,
        "svg <metadata x n": lambda n: b'<svg xmlns="http://www.w3.org/2000/svg">'
        + b'<metadata id="tc260-aigc">AIGC' * n,
        "raw AIGC{ x n": lambda n: b"\x00junk" + b'AIGC{"Label":"' * n,
    }
    print(f"\n  {'hostile input':<20} {'bytes':>9} {'inspect s':>10} {'time vs 1x':>11}")
    for name, make in cases.items():
        first = None
        for factor in (1, 2, 4):
            data = make(25_000 * factor)
            took = _best(lambda d=data: inspect(d, c2pa=False), 2)  # type: ignore[misc]
            first = first or took
            print(f"  {name:<20} {len(data):>9} {took:>10.4f} {took / first:>11.2f}")


def main() -> None:
    """Print, per format and size, the label time, MB/s and the ratio to a file copy; then
    inspect() on hostile inputs at growing sizes."""
    heic = _heic_base()
    mp4 = _ffmpeg(["-f", "lavfi", "-i", "testsrc=duration=0.5:size=64x48:rate=10",
                   "-c:v", "mpeg4"], ".mp4")
    mkv = _ffmpeg(["-f", "lavfi", "-i", "testsrc=duration=0.5:size=64x48:rate=10",
                   "-c:v", "mpeg4"], ".mkv")
    makers: dict[str, Callable[[Path, int], None] | None] = {
        "png": _png, "jpeg": _jpeg, "gif": _gif, "webp": _webp, "tiff": _tiff, "wav": _wav,
        "mp3": _mp3, "pdf": _pdf, "pdf-rep": _pdf_damaged, "docx": _docx,
        "heic": None if heic is None else (lambda p, s: _padded(heic, p, s)),
        "mp4": None if mp4 is None else (lambda p, s: _padded(mp4, p, s)),
        "mkv": _mkv(mkv),
        "flac": _ffmpeg_sized("-f", "lavfi", "-i", "anoisesrc=d=3600:r=48000", "-ac", "2",
                              "-sample_fmt", "s16", "-c:a", "flac", "-f", "flac"),
        "ogg": _ffmpeg_sized("-f", "lavfi", "-i", "anoisesrc=d=3600:r=48000", "-ac", "8",
                             "-c:a", "libopus", "-b:a", "2048k", "-compression_level", "0",
                             "-f", "ogg"),
        "avi": _ffmpeg_sized("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:d=3600",
                             "-c:v", "mjpeg", "-q:v", "1", "-f", "avi"),
    }
    print(f"  {'format':<7} {'size':>7} {'label s':>9} {'copy s':>9} {'MB/s':>8} "
          f"{'label/copy':>10} {'atomic/copy':>11} {'label/atomic':>12} {'cfr/copy':>9} "
          f"{'time vs 1x':>10}   (medians of {REPEAT} shuffled rounds, fresh targets)")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, make in makers.items():
            if make is None:
                print(f"  {name:<7} skipped (its tool is not installed)")
                continue
            first = None
            for factor in (1, 2, 4):
                src = d / f"in-{name}-{factor}.{name}"
                make(src, BASE * factor)
                mb = src.stat().st_size / 1e6
                took, copy, ratio_copy, floor, ratio_floor, cfr = _rounds(src, d)
                first = first or took
                print(f"  {name:<7} {mb:>6.1f}M {took:>9.4f} {copy:>9.4f} {mb / took:>8.1f} "
                      f"{ratio_copy:>10.2f} {floor:>11.2f} {ratio_floor:>12.2f} {cfr:>9.2f} "
                      f"{took / first:>10.2f}")
                src.unlink()
    _hostile()


if __name__ == "__main__":
    main()
