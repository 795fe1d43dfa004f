"""Labelling a 200 MB MP4 (moov before mdat, so every chunk offset shifts) with the implicit
GB 45438 label (LM-5, TC260-PG-20257A ``moov/udta/meta`` key ``AIGC``), beside a plain file copy
(the floor), ``ffmpeg -c copy -movflags use_metadata_tags`` and ``exiftool -Keys:AIGC=``
writing the same key, all measured in this run. Throughput in MB/s of input."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from _util import line, rate

from genai_compliance.labelling.implicit._mp4 import HANDLER

LABEL = (
    '{"Label":"1","ContentProducer":"001191100000000000000000X10001","ProduceID":"bench-1",'
    '"ReservedCode1":"","ContentPropagator":"","PropagateID":"","ReservedCode2":""}'
)
SOURCE = Path(tempfile.gettempdir()) / "genai-compliance-bench-200mb.mp4"
TARGET_MB = 200


def _make_source() -> Path:
    """A real, decodable ~200 MB MP4 (MJPEG 720p + faststart), generated once."""
    if SOURCE.exists() and SOURCE.stat().st_size >= TARGET_MB * 10**6:
        return SOURCE
    tmp = SOURCE.with_suffix(".part.mp4")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
         "-frames:v", "3200", "-c:v", "mjpeg", "-q:v", "1", "-movflags", "+faststart",
         "-fs", str(TARGET_MB * 10**6 + 10**6), str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.replace(SOURCE)
    return SOURCE


def main() -> None:
    """Print MB/s for each writer beside the plain copy."""
    if shutil.which("ffmpeg") is None:
        print("  ffmpeg missing: skipped")
        return
    src = _make_source()
    mb = src.stat().st_size / 10**6
    work = Path(tempfile.mkdtemp(prefix="bench-av-"))
    out = work / "out.mp4"
    cfg = work / "aigc.cfg"
    cfg.write_text(
        "%Image::ExifTool::UserDefined = ("
        " 'Image::ExifTool::QuickTime::Keys' => { AIGC => { Name => 'AIGC' } } );\n1;\n"
    )

    def copy() -> int:
        shutil.copyfile(src, out)
        return int(mb)

    def ours() -> int:
        with src.open("rb") as f, out.open("wb") as g:
            HANDLER.write(f, g, LABEL)
        return int(mb)

    def ffmpeg() -> int:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-map", "0", "-c", "copy",
             "-movflags", "use_metadata_tags+faststart", "-metadata", f"AIGC={LABEL}", str(out)],
            check=True,
        )  # fmt: skip
        return int(mb)

    def exiftool() -> int:
        out.unlink(missing_ok=True)
        subprocess.run(
            ["exiftool", "-config", str(cfg), "-q", f"-Keys:AIGC={LABEL}", "-o", str(out),
             str(src)],
            check=True,
        )  # fmt: skip
        return int(mb)

    try:
        print(f"  input: {mb:.0f} MB MP4, moov before mdat (all chunk offsets shift)")
        base = rate(copy, repeat=2)
        line("plain file copy (baseline, the floor)", base, base, "MB/s")
        line("genai_compliance mp4 handler (stream, fix stco)", rate(ours, repeat=2), base, "MB/s")
        with out.open("rb") as f:
            assert [r.text for r in HANDLER.read(f)] == [LABEL]
        line("ffmpeg -c copy -movflags use_metadata_tags", rate(ffmpeg, repeat=1), base, "MB/s")
        if shutil.which("exiftool"):
            line("exiftool -Keys:AIGC= -o", rate(exiftool, repeat=1), base, "MB/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.sync()


if __name__ == "__main__":
    main()
