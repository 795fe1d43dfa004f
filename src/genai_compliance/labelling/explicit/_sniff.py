"""Modality sniffing by content for :func:`apply_explicit`."""

from __future__ import annotations

from typing import Literal

Modality = Literal["image", "audio", "video", "text"]

_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM",
                b"II*\x00", b"MM\x00*")
_AUDIO_MAGIC = (b"fLaC", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xf1", b"\xff\xf9")


def sniff_modality(data: bytes) -> Modality | None:
    """image / audio / video / text from the leading bytes (PyAV probes the containers that
    hold either audio or video: MP4/MOV, Matroska/WebM, Ogg, AVI)."""
    head = data[:16]
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image"
    if head.startswith(_IMAGE_MAGIC):
        return "image"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio"
    if head.startswith(_AUDIO_MAGIC):
        return "audio"
    if data[4:8] == b"ftyp" or data[:4] in (b"\x1aE\xdf\xa3", b"OggS") or (
            data[:4] == b"RIFF" and data[8:12] == b"AVI "):
        return _probe(data)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text"


def _probe(data: bytes) -> Modality | None:
    import io

    import av

    try:
        with av.open(io.BytesIO(data), "r") as c:
            if c.streams.video:
                return "video"
            if c.streams.audio:
                return "audio"
    except (av.FFmpegError, ValueError):
        return None
    return None
