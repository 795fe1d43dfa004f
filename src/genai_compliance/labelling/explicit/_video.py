"""Explicit video labels via PyAV (GB 45438-2025 §5.4, GB-5.4; LM-4, LM-4b).

The label is drawn from the first frame for at least ``duration`` seconds (default 2.2 s:
the standard's 2 s minimum plus a margin; ``None`` = the whole video) in a corner, with a
rendered ink height of at least 5.5 % of the shortest side (5 % plus a margin). The video
stream is re-encoded with the same codec, frame rate,
resolution and pixel format; audio and other streams are remuxed packet for packet.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

from ...errors import LabelError, MalformedMedia, UnsupportedMedia
from ._image import MIN_HEIGHT_FRACTION, LabelOverlay, make_overlay

#: seconds the label stays by default and at least (GB-5.4's 2 s plus a margin).
MIN_DURATION = 2.2

__all__ = ["label_video"]

_ENCODERS = {"h264": "libx264", "hevc": "libx265", "vp8": "libvpx", "vp9": "libvpx-vp9",
             "av1": "libaom-av1"}


_CRF = {"libx264": "18", "libx265": "20", "libvpx-vp9": "24", "libvpx": "10",
        "libaom-av1": "28"}


def _muxer(demuxer: str, data: bytes) -> str:
    if demuxer.startswith("mov,"):
        return "mov" if data[8:12] == b"qt  " else "mp4"
    if demuxer.startswith("matroska"):
        return "webm" if b"webm" in data[:64] else "matroska"
    return demuxer.split(",")[0]


def label_video(
    data: bytes,
    *,
    text: str | None = None,
    position: str | None = None,
    duration: float | None = MIN_DURATION,
    font_path: str | None = None,
    height_fraction: float = MIN_HEIGHT_FRACTION,
) -> bytes:
    """Draw the explicit label on the video from its first frame (GB-5.4, LM-4).

    ``duration``: seconds the label stays (default and minimum 2.2: GB-5.4 asks for 2 s and
    we keep a margin above it), ``None`` for the whole video.
    Keeps container format, video codec, frame rate, resolution and pixel format; copies the
    audio stream's packets untouched.
    """
    import av

    if duration is not None and duration < MIN_DURATION:
        raise LabelError(f"GB 45438 §5.4 asks for at least 2 seconds and we keep a margin: use "
                         f"duration >= {MIN_DURATION} or None for the whole video",
                         field="duration", value=duration)
    try:
        src = av.open(io.BytesIO(data), "r")
    except (av.FFmpegError, ValueError) as exc:
        raise MalformedMedia(f"cannot open video: {exc}", format="video", offset=0) from exc
    out = io.BytesIO()
    with src:
        if not src.streams.video:
            raise UnsupportedMedia("no video stream", format=src.format.name, offset=0)
        vin = src.streams.video[0]
        fmt_name = _muxer(src.format.name, data)
        try:
            _transcode(src, vin, out, fmt_name, text, position, duration, font_path,
                       height_fraction)
        except (av.FFmpegError, ValueError) as exc:
            if isinstance(exc, LabelError):
                raise
            raise UnsupportedMedia(f"cannot re-encode the video: {exc}", format=fmt_name,
                                   offset=0) from exc
    return out.getvalue()


def _transcode(src: Any, vin: Any, out: io.BytesIO, fmt_name: str, text: str | None,
               position: str | None, duration: float | None, font_path: str | None,
               height_fraction: float) -> None:
    import av

    cc = vin.codec_context
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    codec = _ENCODERS.get(cc.name, cc.name)
    with av.open(out, "w", format=fmt_name) as dst:
        vout = dst.add_stream(codec, rate=rate)
        vout.width = cc.width
        vout.height = cc.height
        vout.pix_fmt = cc.pix_fmt or "yuv420p"
        vout.time_base = vin.time_base
        if codec in _CRF:
            # quality-targeted: a copied (possibly tiny) bitrate would starve the new overlay
            vout.options = {"crf": _CRF[codec]}
        elif cc.bit_rate:
            vout.bit_rate = max(cc.bit_rate, 2_000_000)
        copies: dict[int, Any] = {}
        for s in src.streams:
            if s.index == vin.index or s.type not in ("audio", "subtitle"):
                continue
            copies[s.index] = dst.add_stream_from_template(s)
        overlay: LabelOverlay | None = None
        first_pts: float | None = None
        for packet in src.demux():
            if packet.stream.index in copies:
                if packet.dts is None:
                    continue
                packet.stream = copies[packet.stream.index]
                dst.mux(packet)
                continue
            if packet.stream.index != vin.index:
                continue
            for frame in packet.decode():
                t = float(frame.time) if frame.time is not None else 0.0
                if first_pts is None:
                    first_pts = t
                img = None
                if duration is None or t - first_pts < duration:
                    img = frame.to_image()
                    if overlay is None:
                        overlay = make_overlay(img.size, text=text, position=position,
                                               font_path=font_path,
                                               height_fraction=height_fraction,
                                               background=img)
                    img = overlay.apply(img).convert("RGB")
                    new = av.VideoFrame.from_image(img)  # type: ignore[no-untyped-call]
                    new = new.reformat(format=vout.pix_fmt)
                else:
                    new = frame.reformat(format=vout.pix_fmt)
                new.pts = frame.pts
                new.time_base = frame.time_base
                for pkt in vout.encode(new):
                    dst.mux(pkt)
        for pkt in vout.encode(None):
            dst.mux(pkt)
