"""Implicit labels in audio/video containers (GB 45438 Annex E, LM-5, TC260 PG-20257A/202510A):
real files made by ffmpeg, labelled, read back by our reader, ffprobe and exiftool, decoded
data compared before and after."""

from __future__ import annotations

import functools
import io
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from genai_compliance.labelling.implicit import _avi, _flac, _mkv, _mp3, _mp4, _ogg, _wav

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="needs ffmpeg"
)

LABEL = json.dumps(
    {
        "Label": "1",
        "ContentProducer": "001191100000000000000000X10001",
        "ProduceID": "gen-0001",
        "ReservedCode1": "",
        "ContentPropagator": "",
        "PropagateID": "",
        "ReservedCode2": "",
    },
    separators=(",", ":"),
)
OTHER = LABEL.replace("gen-0001", "gen-0002")

HANDLERS: dict[str, Any] = {
    "wav": _wav.HANDLER,
    "avi": _avi.HANDLER,
    "mp3": _mp3.HANDLER,
    "flac": _flac.HANDLER,
    "ogg": _ogg.HANDLER,
    "mp4": _mp4.HANDLER,
    "mkv": _mkv.HANDLER,
}

A = ["-f", "lavfi", "-i", "sine=frequency=440:duration=0.4"]
V = ["-f", "lavfi", "-i", "testsrc=duration=0.6:size=64x48:rate=10"]
# name -> (handler key, ffmpeg arguments after the inputs)
MEDIA: dict[str, tuple[str, list[str]]] = {
    "plain.wav": ("wav", [*A, "-metadata", "title=keep-me"]),
    "plain.mp3": ("mp3", [*A, "-metadata", "title=keep-me", "-metadata", "artist=Me"]),
    "v23.mp3": ("mp3", [*A, "-id3v2_version", "3", "-metadata", "title=keep-me"]),
    "notag.mp3": ("mp3", [*A, "-write_id3v2", "0"]),
    "plain.flac": ("flac", [*A, "-metadata", "title=keep-me"]),
    "vorbis.ogg": ("ogg", [*A, "-c:a", "libvorbis", "-metadata", "title=keep-me"]),
    "opus.opus": ("ogg", [*A, "-c:a", "libopus", "-metadata", "title=keep-me"]),
    "plain.mp4": ("mp4", [*V, *A, "-c:v", "libx264", "-c:a", "aac", "-shortest",
                          "-metadata", "title=keep-me"]),
    "fast.mp4": ("mp4", [*V, *A, "-c:v", "libx264", "-c:a", "aac", "-shortest",
                         "-movflags", "+faststart", "-metadata", "title=keep-me"]),
    "frag.mp4": ("mp4", [*V, *A, "-c:v", "libx264", "-c:a", "aac", "-shortest", "-movflags",
                         "frag_keyframe+empty_moov", "-frag_duration", "200000",
                         "-metadata", "title=keep-me"]),
    "plain.mov": ("mp4", [*V, "-c:v", "mpeg4", "-metadata", "title=keep-me"]),
    "audio.m4a": ("mp4", [*A, "-c:a", "aac", "-metadata", "artist=Me"]),
    "phone.3gp": ("mp4", [*V, "-c:v", "h263", "-s", "176x144", "-metadata", "title=keep-me"]),
    "plain.mkv": ("mkv", [*V, *A, "-c:v", "mpeg4", "-c:a", "pcm_s16le", "-shortest",
                          "-metadata", "title=keep-me"]),
    "plain.webm": ("mkv", [*V, "-c:v", "libvpx", "-metadata", "title=keep-me"]),
    "plain.avi": ("avi", [*V, *A, "-c:v", "mpeg4", "-c:a", "pcm_s16le", "-shortest",
                          "-metadata", "title=keep-me"]),
}  # fmt: skip


@functools.cache
def _dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="av-labels-"))


@functools.cache
def media(name: str) -> Path:
    """Generate (once per session) the ffmpeg test file ``name``."""
    path = _dir() / name
    _, args = MEDIA[name]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-fflags", "+bitexact", *args, str(path)],
        check=True,
        capture_output=True,
    )
    assert path.stat().st_size < 1 << 20
    return path


def label(path: Path, text: str, out: Path, key: str | None = None) -> Path:
    """Label ``path`` into ``out`` with its handler."""
    handler = HANDLERS[key or MEDIA[path.name][0]]
    with path.open("rb") as src, out.open("wb") as dst:
        handler.write(src, dst, text)
    return out


def read(path: Path, key: str) -> list[str]:
    """Our reader's texts."""
    with path.open("rb") as f:
        return [r.text for r in HANDLERS[key].read(f)]


def ffprobe_tags(path: Path) -> dict[str, str]:
    """Format tags and stream tags merged, as ffprobe reports them."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    doc = json.loads(out)
    tags = dict(doc["format"].get("tags", {}))
    for s in doc.get("streams", []):
        tags.update(s.get("tags", {}))
    return tags


def decoded_hash(path: Path) -> str:
    """The hash of every packet (``-c copy``) and of the decoded samples/frames."""
    packets = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0", "-c", "copy", "-f", "framemd5",
         "-"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    frames = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0", "-f", "framemd5", "-"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    # packet side data carries the (changed) Vorbis comment header as a metadata update
    keep = [
        ln.split(", S=")[0] for ln in (packets + frames).splitlines() if not ln.startswith("#")
    ]
    return "\n".join(keep)


def exiftool(path: Path) -> dict[str, Any]:
    """exiftool's JSON for ``path`` (unknown tags included)."""
    out = subprocess.run(
        ["exiftool", "-j", "-a", "-u", "-G1", str(path)], check=True, capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    doc: dict[str, Any] = json.loads(out)[0]
    return doc


@pytest.mark.parametrize("name", sorted(MEDIA))
def test_label_round_trip_ffprobe_and_decoded_data(name: str, tmp_path: Path) -> None:
    """LM-5: the label reads back (ours + ffprobe), other tags stay, decoded data is identical."""
    key = MEDIA[name][0]
    src = media(name)
    before = ffprobe_tags(src)
    assert read(src, key) == []
    out = label(src, LABEL, tmp_path / f"out-{name}")
    assert read(out, key) == [LABEL]
    tags = ffprobe_tags(out)
    if key != "wav":  # ffmpeg does not map an unknown RIFF chunk to a tag
        assert json.loads(tags["AIGC"]) == json.loads(LABEL)
    for k, v in before.items():
        assert tags.get(k) == v, k
    assert decoded_hash(out) == decoded_hash(src)


@pytest.mark.parametrize("name", sorted(MEDIA))
def test_relabel_replaces_never_duplicates(name: str, tmp_path: Path) -> None:
    """GB 45438: a file carries one label; labelling again replaces it."""
    key = MEDIA[name][0]
    once = label(media(name), LABEL, tmp_path / f"1-{name}")
    twice = label(once, OTHER, tmp_path / f"2-{name}", key)
    assert read(twice, key) == [OTHER]
    again = label(twice, OTHER, tmp_path / f"3-{name}", key)
    assert again.read_bytes() == twice.read_bytes()


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("plain.wav", "RIFF:Unknown_AIGC"),
        ("plain.mp3", "ID3v2_4:UserDefinedText"),
        ("v23.mp3", "ID3v2_3:UserDefinedText"),
        ("plain.flac", "Vorbis:Aigc"),
        ("vorbis.ogg", "Vorbis:Aigc"),
        ("opus.opus", "Vorbis:Aigc"),
        ("plain.mp4", "Keys:AIGC"),
        ("frag.mp4", "Keys:AIGC"),
        ("plain.mov", "Keys:AIGC"),
        ("audio.m4a", "Keys:AIGC"),
    ],
)
@pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")
def test_exiftool_reads_the_label(name: str, tag: str, tmp_path: Path) -> None:
    """exiftool (an independent reader) sees the same JSON where it reads the carrier."""
    out = label(media(name), LABEL, tmp_path / f"x-{name}")
    doc = exiftool(out)
    value = str(doc[tag])
    if value.startswith("(AIGC) "):
        value = value[len("(AIGC) ") :]
    if value.startswith("(Binary data"):
        value = subprocess.run(
            ["exiftool", "-b", "-u", f"-{tag}", str(out)], capture_output=True, text=True,
            check=True,
        ).stdout.rstrip("\x00")  # exiftool keeps the RIFF pad byte
    assert json.loads(value) == json.loads(LABEL)


def test_ffmpeg_written_mdta_key_is_replaced(tmp_path: Path) -> None:
    """A label written by ffmpeg -movflags use_metadata_tags is replaced, other keys kept."""
    src = tmp_path / "k.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(media("fast.mp4")), "-c", "copy", "-movflags",
         "use_metadata_tags+faststart", "-metadata", "AIGC={\"old\":1}", "-metadata", "foo=bar",
         str(src)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert read(src, "mp4") == ['{"old":1}']
    out = label(src, LABEL, tmp_path / "o.mp4", "mp4")
    assert read(out, "mp4") == [LABEL]
    tags = ffprobe_tags(out)
    assert tags["foo"] == "bar"
    assert decoded_hash(out) == decoded_hash(src)


def test_exiftool_written_keys_label_is_read_and_replaced(tmp_path: Path) -> None:
    """A Keys:AIGC written by exiftool is found by our reader and replaced, not duplicated."""
    src = tmp_path / "e.mp4"
    shutil.copy(media("plain.mp4"), src)
    cfg = tmp_path / "aigc.cfg"
    cfg.write_text(
        "%Image::ExifTool::UserDefined = ("
        " 'Image::ExifTool::QuickTime::Keys' => { AIGC => { Name => 'AIGC' } } );\n1;\n"
    )
    subprocess.run(
        ["exiftool", "-config", str(cfg), "-q", "-overwrite_original", f"-Keys:AIGC={OTHER}",
         str(src)],
        check=True,
    )  # fmt: skip
    assert read(src, "mp4") == [OTHER]  # exiftool's key is com.apple.quicktime.AIGC
    out = label(src, LABEL, tmp_path / "o.mp4", "mp4")
    assert read(out, "mp4") == [LABEL]
    assert exiftool(out)["Keys:AIGC"] == LABEL
    assert decoded_hash(out) == decoded_hash(src)


def test_bytes_and_streams_work_in_memory() -> None:
    """Handlers take any seekable binary stream (BytesIO), not only files."""
    src = io.BytesIO(media("plain.flac").read_bytes())
    dst = io.BytesIO()
    _flac.HANDLER.write(src, dst, LABEL)
    dst.seek(0)
    assert [r.text for r in _flac.HANDLER.read(dst)] == [LABEL]


@pytest.mark.parametrize(
    ("name", "key"),
    [(n, k) for n, (k, _) in MEDIA.items()],
)
def test_sniff_by_content_only(name: str, key: str) -> None:
    """Formats are found by content: exactly one of our handlers claims each file."""
    head = media(name).read_bytes()[:64]
    claims = [k for k, h in HANDLERS.items() if h.sniff(head)]
    assert claims == [key]
