"""Implicit-label dispatcher: sniffing, ID3-wrapped streams, files, propagation (LM-5, LM-8)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import wave
from pathlib import Path

import pytest
from PIL import Image

from genai_compliance.errors import LabelError, UnsupportedMedia
from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit import (
    HANDLERS,
    add_propagation,
    label_bytes,
    label_file,
    label_stream,
    read_labels,
    scan,
    sniff,
)

LABEL = AIGCLabel(content_producer="Producer", produce_id="id-42")


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * 800)
    return buf.getvalue()


def _id3(padding: int = 20) -> bytes:
    size = padding
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + b"\x00" * padding


def test_handler_table_names_are_unique() -> None:
    """Every handler has its own name; MP3 (claims any ID3 tag) and text formats are last."""
    names = [h.name for h in HANDLERS]
    assert len(names) == len(set(names))
    assert names[-4:] == ["mp3", "html", "svg", "markdown"]
    assert {"png", "jpeg", "webp", "wav", "flac", "mp4"} <= set(names)


def test_unsupported_names_first_bytes() -> None:
    """Unknown content raises UnsupportedMedia naming its first bytes."""
    with pytest.raises(UnsupportedMedia) as err:
        label_bytes(b"hello world, not media", LABEL)
    assert "68656c6c6f" in str(err.value)
    with pytest.raises(UnsupportedMedia):
        read_labels(b"")


def test_wav_through_dispatcher() -> None:
    """A WAV is routed to the WAV handler and its label reads back."""
    out = label_bytes(_wav(), LABEL)
    fmt, raws = scan(out)
    assert fmt == "wav"
    assert [AIGCLabel.from_json(r.text) for r in raws] == [LABEL]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_id3_wrapped_flac_goes_to_flac(tmp_path: Path) -> None:
    """FLAC behind an ID3v2 tag is sniffed as FLAC, not MP3, and labelled as FLAC."""
    path = tmp_path / "a.flac"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=0.05", "-y",
                    str(path)], check=True)
    data = _id3() + path.read_bytes()
    assert sniff(data) == "flac"
    out = label_bytes(data, LABEL)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]


def test_id3_followed_by_unknown_falls_back_to_mp3() -> None:
    """An ID3 tag in front of something that is not another known format stays MP3."""
    frame = b"\xff\xfb\x90\x64" + b"\x00" * 413
    assert sniff(_id3() + frame * 3) == "mp3"


def test_label_file_is_atomic_and_leaves_no_temp(tmp_path: Path) -> None:
    """label_file writes dst via a temp file in its folder; a failure leaves nothing."""
    src = tmp_path / "in.png"
    src.write_bytes(_png())
    dst = tmp_path / "out.png"
    assert label_file(src, dst, LABEL) == "png"
    assert [r.text for r in read_labels(dst)] == [LABEL.to_json()]
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"nothing we know")
    with pytest.raises(UnsupportedMedia):
        label_file(bad, tmp_path / "never.bin", LABEL)
    assert sorted(os.listdir(tmp_path)) == ["bad.bin", "in.png", "out.png"]


def test_label_accepts_json_and_mapping() -> None:
    """label may be an AIGCLabel, its JSON or a {"AIGC": {...}} mapping."""
    a = label_bytes(_png(), LABEL)
    b = label_bytes(_png(), LABEL.to_json())
    c = label_bytes(_png(), {"AIGC": LABEL.to_dict()})
    assert a == b == c
    out = io.BytesIO()
    assert label_stream(io.BytesIO(_png()), out, LABEL) == "png"
    assert out.getvalue() == a


def test_add_propagation_keeps_producer(tmp_path: Path) -> None:
    """add_propagation sets propagator fields and keeps producer fields (LM-8)."""
    src = tmp_path / "in.wav"
    src.write_bytes(label_bytes(_wav(), LABEL))
    dst = tmp_path / "out.wav"
    new = add_propagation(src, dst, "Platform", "share-9")
    assert new == LABEL.with_propagation("Platform", "share-9")
    assert [AIGCLabel.from_json(r.text) for r in read_labels(dst)] == [new]


def test_add_propagation_needs_a_label(tmp_path: Path) -> None:
    """A file without an implicit label cannot get propagation fields."""
    src = tmp_path / "in.png"
    src.write_bytes(_png())
    with pytest.raises(LabelError):
        add_propagation(src, tmp_path / "o.png", "P", "1")


def test_id3_size_parsing() -> None:
    """The ID3 footer flag adds 10 bytes to the skipped length."""
    from genai_compliance.labelling.implicit._dispatch import _id3_length

    assert _id3_length(_id3(20)) == 30
    footer = bytearray(_id3(20))
    footer[5] = 0x10
    assert _id3_length(bytes(footer)) == 40
    assert _id3_length(b"ID3\x04\x00\x00\x80\x00\x00\x00") is None
