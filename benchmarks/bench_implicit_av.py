"""label_file on large files (issue 19; LM-5): a 200 MB MP4 (moov before mdat, so every
chunk offset shifts; TC260-PG-20257A ``moov/udta/meta`` key ``AIGC``), a 200 MB PDF
(incremental update), a 100 MB WAV and a 100 MB MP3, each beside a plain file copy and the
atomic floor (bench_implicit_floor: temp file, insertion, rename, no fsync, as label_file),
into a fresh and an existing target; on the MP4 also ``ffmpeg -c copy -movflags
use_metadata_tags`` and ``exiftool -Keys:AIGC=`` writing the same key. All in this run."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from bench_implicit_floor import Runner, atomic_floor, both, compare, plain_copy, report
from bench_implicit_scaling import _mp3, _pdf, _wav

from genai_compliance.labelling.implicit import label_file, read_labels
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
    """Print label_file beside the plain copy and the atomic floor for each large file,
    then ffmpeg and exiftool on the MP4."""
    if shutil.which("ffmpeg") is None:
        print("  ffmpeg missing: skipped")
        return
    src = _make_source()
    mb = src.stat().st_size / 10**6
    work = Path(tempfile.mkdtemp(prefix="bench-av-"))
    cfg = work / "aigc.cfg"
    cfg.write_text(
        "%Image::ExifTool::UserDefined = ("
        " 'Image::ExifTool::QuickTime::Keys' => { AIGC => { Name => 'AIGC' } } );\n1;\n"
    )

    def ours(s: Path, t: Path) -> None:
        label_file(s, t, LABEL)

    def ffmpeg(s: Path, t: Path) -> None:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(s), "-map", "0", "-c", "copy",
             "-f", "mp4", "-movflags", "use_metadata_tags+faststart", "-metadata",
             f"AIGC={LABEL}", str(t)],
            check=True,
        )  # fmt: skip

    def exiftool(s: Path, t: Path) -> None:
        t.unlink(missing_ok=True)
        subprocess.run(
            ["exiftool", "-config", str(cfg), "-q", f"-Keys:AIGC={LABEL}", "-o", str(t),
             str(s)],
            check=True,
        )  # fmt: skip

    try:
        print(f"  input: {mb:.0f} MB MP4, moov before mdat (all chunk offsets shift)")
        both("MP4 (ffmpeg MJPEG, faststart)", src, work, ours)
        label_file(src, work / "check.mp4", LABEL)
        with (work / "check.mp4").open("rb") as f:
            assert [r.text for r in HANDLER.read(f)] == [LABEL]
        tools: dict[str, Runner] = {"copy": plain_copy, "atomic": atomic_floor,
                                    "label_file": ours, "ffmpeg -c copy": ffmpeg}
        if shutil.which("exiftool"):
            tools["exiftool -Keys:AIGC="] = exiftool
        report(f"MP4, {mb:.0f} MB, against ffmpeg and exiftool writing the same key", mb,
               compare(src, work, tools, repeat=3))
        for name, make, size in (("PDF (one 200 MB content stream)", _pdf, 200),
                                 ("WAV (PCM)", _wav, 100), ("MP3 (CBR frames)", _mp3, 100)):
            path = work / "in.bin"
            make(path, size * 10**6)
            both(name, path, work, ours)
            label_file(path, work / "check", LABEL)
            assert [r.text for r in read_labels(work / "check")] == [LABEL]
            path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
