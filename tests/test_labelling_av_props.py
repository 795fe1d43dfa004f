"""Hypothesis properties of the audio/video label handlers (GB 45438 Annex E, LM-5): any label
text round-trips, relabelling replaces, sample/frame data bytes never change; mutated real files
raise only MalformedMedia/UnsupportedMedia, never hang and stay within bounded memory."""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.implicit import _avi, _flac, _mkv, _mp3, _mp4, _ogg, _wav
from genai_compliance.labelling.implicit._ebml import level1, read_element_header
from genai_compliance.labelling.implicit._isobmff import top_boxes
from genai_compliance.labelling.implicit._ogg import _headers, _page_at
from genai_compliance.labelling.implicit._riff import riff_chunks

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")

A = ["-f", "lavfi", "-i", "sine=frequency=330:duration=0.25"]
V = ["-f", "lavfi", "-i", "testsrc=duration=0.3:size=32x24:rate=10"]
SAMPLES: dict[str, tuple[Any, list[str], str]] = {
    "wav": (_wav.HANDLER, [*A, "-metadata", "title=t"], "wav"),
    "mp3": (_mp3.HANDLER, [*A, "-metadata", "title=t"], "mp3"),
    "flac": (_flac.HANDLER, [*A, "-metadata", "title=t"], "flac"),
    "ogg": (_ogg.HANDLER, [*A, "-c:a", "libvorbis"], "ogg"),
    "opus": (_ogg.HANDLER, [*A, "-c:a", "libopus"], "opus"),
    "mp4": (_mp4.HANDLER, [*V, "-c:v", "libx264", "-movflags", "+faststart"], "mp4"),
    "fmp4": (_mp4.HANDLER, [*V, "-c:v", "libx264", "-movflags", "frag_keyframe+empty_moov",
                            "-frag_duration", "100000"], "mp4"),
    "mkv": (_mkv.HANDLER, [*V, "-c:v", "mpeg4"], "mkv"),
    "avi": (_avi.HANDLER, [*V, "-c:v", "mpeg4"], "avi"),
}  # fmt: skip


@functools.cache
def sample(kind: str) -> bytes:
    """A small ffmpeg-made file of ``kind`` (cached for the session)."""
    _, args, ext = SAMPLES[kind]
    path = Path(tempfile.mkdtemp(prefix="av-props-")) / f"s.{ext}"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-fflags", "+bitexact", *args, str(path)],
        check=True,
        capture_output=True,
    )
    return path.read_bytes()


def essence(kind: str, data: bytes) -> bytes:
    """The sample/frame data of a file, which labelling must never change."""
    f = io.BytesIO(data)
    if kind in ("wav", "avi"):
        out = b""
        for c in riff_chunks(f, 12, len(data), kind):
            if c.cid in (b"data", b"idx1") or data[c.data_offset : c.data_offset + 4] == b"movi":
                out += data[c.offset : c.end]
        return out
    if kind == "mp3":
        tag = _mp3.HANDLER._parse(f)
        return data[tag.end if tag else 0 :]
    if kind == "flac":
        return data[_flac.HANDLER._blocks(f)[2] :]
    if kind in ("ogg", "opus"):
        h = _headers(f)
        pos, bodies = h.pages[-1].end, []
        while pos < len(data):
            p = _page_at(f, pos)
            bodies.append(data[pos + p.header_len : p.end])
            pos = p.end
        return b"".join(bodies)
    if kind in ("mp4", "fmp4"):
        return b"".join(data[b.offset : b.end] for b in top_boxes(f) if b.btype == b"mdat")
    seg = read_element_header(f, read_element_header(f, 0).end)
    return b"".join(
        data[e.offset : e.end]
        for e in level1(f, seg.data, len(data))
        if e.eid in (0x1F43B675, 0x1C53BB6B)
    )


def label(handler: Any, data: bytes, text: str) -> bytes:
    dst = io.BytesIO()
    handler.write(io.BytesIO(data), dst, text)
    return dst.getvalue()


def read(handler: Any, data: bytes) -> list[str]:
    return [r.text for r in handler.read(io.BytesIO(data))]


# label texts: printable ASCII as Annex E allows, plus some UTF-8 for robustness
TEXTS = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=400
) | st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60)

KINDS = sorted(SAMPLES)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=TEXTS, second=TEXTS)
def test_round_trip_replace_and_essence(kind: str, first: str, second: str) -> None:
    """write→read gives the text; a second write replaces it; essence bytes never change."""
    handler = SAMPLES[kind][0]
    src = sample(kind)
    once = label(handler, src, first)
    assert read(handler, once) == [first]
    twice = label(handler, once, second)
    assert read(handler, twice) == [second]
    assert essence(kind, twice) == essence(kind, src)


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    head = min(len(buf), 4096)  # headers live near the start (and moov/idx near the end)
    for pos, val in edits:
        where = pos % head if pos >= 0 else len(buf) - 1 - (-pos % min(len(buf), 2048))
        buf[where] = val
    if cut is not None:
        del buf[cut % max(1, len(buf)) :]
    return bytes(buf)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(st.tuples(st.integers(-5000, 5000), st.integers(0, 255)), max_size=6),
    cut=st.none() | st.integers(0, 1 << 20),
)
def test_mutated_files_raise_only_media_errors(
    kind: str, edits: list[tuple[int, int]], cut: int | None
) -> None:
    """Fuzzing: a corrupted file is labelled or refused with a typed media error, within a
    memory bound of a few times the file size."""
    handler = SAMPLES[kind][0]
    data = _mutate(sample(kind), edits, cut)
    tracemalloc.start()
    try:
        for op in ("read", "write"):
            try:
                if op == "read":
                    read(handler, data)
                else:
                    label(handler, data, "{}")
            except (MalformedMedia, UnsupportedMedia) as exc:
                assert exc.format in {"wav", "avi", "mp3", "flac", "ogg", "mp4", "mkv"}
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * len(sample(kind)) + (4 << 20)


@pytest.mark.parametrize("kind", KINDS)
def test_empty_and_tiny_inputs(kind: str) -> None:
    """Empty and few-byte inputs are MalformedMedia/UnsupportedMedia, never another error."""
    handler = SAMPLES[kind][0]
    for data in (b"", sample(kind)[:3], sample(kind)[:12], sample(kind)[:40]):
        with pytest.raises((MalformedMedia, UnsupportedMedia)):
            handler.read(io.BytesIO(data))
        with pytest.raises((MalformedMedia, UnsupportedMedia)):
            handler.write(io.BytesIO(data), io.BytesIO(), "{}")
