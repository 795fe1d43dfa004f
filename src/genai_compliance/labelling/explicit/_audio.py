"""Explicit audio labels: the rhythm cue and spoken prompts (GB 45438-2025 §5.3, GB-5.3; LM-4).

GB-5.3 accepts a spoken label at a normal rate or the rhythm "short long, short short" — the
Morse code of "AI" (A = · —, I = · ·) — at the start, end or middle of the audio. WAV (PCM 8/16/
24/32-bit) is handled natively with :mod:`wave` and numpy; other formats are decoded and
re-encoded with the same codec, sample rate and channel layout through PyAV.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from collections.abc import Callable
from typing import Any, Literal

import attrs
import numpy as np
import numpy.typing as npt

from ...errors import LabelError, MalformedMedia, UnsupportedMedia
from ._text import DEFAULT_LABEL_ZH, validate_label_text

__all__ = [
    "AudioPlacement",
    "CueTiming",
    "EspeakTTS",
    "TTSFunction",
    "label_audio",
    "rhythm_cue",
]

FloatArray = npt.NDArray[np.float32]
AudioPlacement = Literal["start", "end", "middle"]
#: A text-to-speech callable: ``tts(text, sample_rate) -> mono float32 samples in [-1, 1]``.
TTSFunction = Callable[[str, int], FloatArray]


@attrs.frozen
class CueTiming:
    """Timing of the Morse "AI" cue (GB-5.3): short = ``unit``, long = 3 units, gap between
    tones 1 unit, gap between letters 3 units; ``frequency`` in Hz; ``amplitude`` 0..1."""

    unit: float = 0.1
    frequency: float = 1000.0
    amplitude: float = 0.5
    ramp: float = 0.005
    pad: float = 0.2

    def tones(self) -> list[tuple[float, float]]:
        """(start, length) in seconds of the four tones: short, long, short, short."""
        u = self.unit
        out: list[tuple[float, float]] = []
        t = self.pad
        for letter in ((1, 3), (1, 1)):
            for i, length in enumerate(letter):
                if i:
                    t += u
                out.append((t, length * u))
                t += length * u
            t += 3 * u
        return out

    def duration(self) -> float:
        start, length = self.tones()[-1]
        return start + length + self.pad


def rhythm_cue(sample_rate: int, timing: CueTiming | None = None) -> FloatArray:
    """Mono float32 samples of the Morse "AI" rhythm cue (short-long, short-short; GB-5.3)."""
    tm = timing or CueTiming()
    n = round(tm.duration() * sample_rate)
    out = np.zeros(n, dtype=np.float32)
    ramp = max(1, int(tm.ramp * sample_rate))
    for start, length in tm.tones():
        a = round(start * sample_rate)
        m = round(length * sample_rate)
        t = np.arange(m, dtype=np.float64) / sample_rate
        tone = np.sin(2 * np.pi * tm.frequency * t) * tm.amplitude
        env = np.ones(m)
        r = min(ramp, m // 2)
        if r:
            env[:r] = np.linspace(0, 1, r)
            env[-r:] = np.linspace(1, 0, r)
        out[a:a + m] = (tone * env).astype(np.float32)
    return out


@attrs.frozen
class EspeakTTS:
    """espeak-ng adapter (GB-5.3 spoken label). ``voice`` "cmn" is Mandarin; ``speed`` is
    espeak-ng's ``-s`` (words per minute). Measured with espeak-ng 1.51 ``-v cmn``: ``-s 160``
    speaks 本内容由人工智能生成 at about 139 characters a minute, inside the standard's "normal
    rate" of about 120–160 (140 gives ~121, 175 gives ~154)."""

    voice: str = "cmn"
    speed: int = 160
    executable: str = "espeak-ng"

    @staticmethod
    def available(executable: str = "espeak-ng") -> bool:
        """True when espeak-ng is on PATH."""
        return shutil.which(executable) is not None

    def __call__(self, text: str, sample_rate: int) -> FloatArray:
        exe = shutil.which(self.executable)
        if exe is None:
            raise LabelError("espeak-ng is not installed (Debian: apt install espeak-ng); or "
                             "pass tts= your own text-to-speech callable", field="tts",
                             value=self.executable)
        res = subprocess.run(
            [exe, "-v", self.voice, "-s", str(self.speed), "--stdout", text],
            capture_output=True, timeout=60, check=False,
        )
        if res.returncode != 0 or not res.stdout:
            raise LabelError("espeak-ng failed", field="tts",
                             value=res.stderr.decode("utf-8", "replace")[:200])
        rate, _ch, samples = _read_wav_float(_fix_stream_wav(res.stdout))
        return _resample(samples.mean(axis=1).astype(np.float32), rate, sample_rate)


def _fix_stream_wav(data: bytes) -> bytes:
    # espeak-ng --stdout writes 0xFFFFFFFF sizes (streamed): patch them to the real sizes.
    if data[:4] == b"RIFF" and len(data) > 44:
        buf = bytearray(data)
        buf[4:8] = (len(buf) - 8).to_bytes(4, "little")
        idx = buf.find(b"data", 12)
        if idx > 0:
            buf[idx + 4:idx + 8] = (len(buf) - idx - 8).to_bytes(4, "little")
        return bytes(buf)
    return data


def _resample(x: FloatArray, src: int, dst: int) -> FloatArray:
    if src == dst or len(x) == 0:
        return x
    n = round(len(x) * dst / src)
    pos = np.arange(n, dtype=np.float64) * (src / dst)
    return np.interp(pos, np.arange(len(x)), x).astype(np.float32)


_DTYPES = {1: np.uint8, 2: np.int16, 4: np.int32}


def _read_wav_float(data: bytes) -> tuple[int, int, FloatArray]:
    try:
        with wave.open(io.BytesIO(data), "rb") as wf:
            rate, ch, width = wf.getframerate(), wf.getnchannels(), wf.getsampwidth()
            raw = wf.readframes(wf.getnframes())
    except (wave.Error, EOFError) as exc:
        raise MalformedMedia(f"cannot read WAV: {exc}", format="wav", offset=0) from exc
    return rate, ch, _pcm_to_float(raw, width, ch)


def _pcm_to_float(raw: bytes, width: int, ch: int) -> FloatArray:
    usable = len(raw) - len(raw) % (width * ch)
    raw = raw[:usable]
    if width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        ints = (b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8)
                | (b[:, 2].astype(np.int32) << 16))
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        f = ints.astype(np.float64) / (1 << 23)
    elif width == 1:
        f = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128) / 128
    elif width in (2, 4):
        f = np.frombuffer(raw, dtype=_DTYPES[width]).astype(np.float64) / (1 << (8 * width - 1))
    else:
        raise UnsupportedMedia(f"WAV sample width {width} not supported", format="wav", offset=0)
    return f.reshape(-1, ch).astype(np.float32)


def _float_to_pcm(x: FloatArray, width: int) -> bytes:
    y = np.clip(x.astype(np.float64), -1.0, 1.0 - 1.0 / (1 << (8 * width - 1)))
    if width == 1:
        return (np.round(y * 128) + 128).astype(np.uint8).tobytes()
    scaled = np.round(y * (1 << (8 * width - 1))).astype(np.int64)
    if width == 3:
        v = (scaled & 0xFFFFFF).astype(np.uint32)
        b = np.stack([(v & 0xFF), (v >> 8) & 0xFF, (v >> 16) & 0xFF], axis=-1)
        return b.astype(np.uint8).tobytes()
    return scaled.astype(_DTYPES[width]).tobytes()


def _build_label(sample_rate: int, *, cue: bool, voice: str | None, tts: TTSFunction | None,
                 timing: CueTiming | None) -> FloatArray:
    parts: list[FloatArray] = []
    if cue:
        parts.append(rhythm_cue(sample_rate, timing))
    if voice is not None:
        speak = tts if tts is not None else EspeakTTS()
        spoken = np.asarray(speak(voice, sample_rate), dtype=np.float32).reshape(-1)
        parts.append(spoken)
        parts.append(np.zeros(int(0.2 * sample_rate), dtype=np.float32))
    if not parts:
        raise LabelError("an audio label needs the rhythm cue, a voice prompt or both",
                         field="cue", value=cue)
    return np.concatenate(parts)


def _insert(samples: FloatArray, label: FloatArray, placements: tuple[str, ...]) -> FloatArray:
    ch = samples.shape[1]
    lab = np.repeat(label.reshape(-1, 1), ch, axis=1)
    out = samples
    if "middle" in placements:
        mid = len(samples) // 2
        out = np.concatenate([out[:mid], lab, out[mid:]])
    if "start" in placements:
        out = np.concatenate([lab, out])
    if "end" in placements:
        out = np.concatenate([out, lab])
    return out


def _placements(position: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if position is None:
        return ("start",)
    pl = (position,) if isinstance(position, str) else tuple(position)
    bad = [p for p in pl if p not in ("start", "end", "middle")]
    if bad or not pl:
        raise LabelError("audio label position must be start, end and/or middle",
                         field="position", value=position)
    return pl


def label_audio(
    data: bytes,
    *,
    text: str | None = None,
    position: str | tuple[str, ...] | None = None,
    cue: bool = True,
    voice: bool = False,
    tts: TTSFunction | None = None,
    timing: CueTiming | None = None,
) -> bytes:
    """Insert the audible label (GB-5.3, LM-4) and return audio in the input's format.

    ``cue``: the Morse "AI" rhythm (short-long, short-short); ``voice``: speak ``text``
    (default 本内容由人工智能生成) with ``tts`` (default :class:`EspeakTTS`). ``position``:
    "start" (default), "end", "middle" or a tuple of them. Sample rate, channels and (for WAV)
    sample width are kept; the label is inserted, not mixed, so the content is unchanged.
    """
    places = _placements(position)
    spoken = validate_label_text(text if text is not None else DEFAULT_LABEL_ZH) if voice else None
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _label_wav(data, places, cue, spoken, tts, timing)
    return _label_av(data, places, cue, spoken, tts, timing)


def _label_wav(data: bytes, places: tuple[str, ...], cue: bool, spoken: str | None,
               tts: TTSFunction | None, timing: CueTiming | None) -> bytes:
    try:
        with wave.open(io.BytesIO(data), "rb") as wf:
            params = wf.getparams()
            raw = wf.readframes(wf.getnframes())
    except (wave.Error, EOFError):
        # float / A-law / extensible WAV: decode and re-encode with the same codec via PyAV
        return _label_av(data, places, cue, spoken, tts, timing)
    label = _build_label(params.framerate, cue=cue, voice=spoken, tts=tts, timing=timing)
    frame = params.sampwidth * params.nchannels
    raw = raw[: len(raw) - len(raw) % frame]
    lab = _float_to_pcm(np.repeat(label.reshape(-1, 1), params.nchannels, axis=1),
                        params.sampwidth)
    # The content's PCM bytes are spliced, never re-quantized: they stay bit-exact.
    if "middle" in places:
        mid = (len(raw) // frame // 2) * frame
        raw = raw[:mid] + lab + raw[mid:]
    if "start" in places:
        raw = lab + raw
    if "end" in places:
        raw = raw + lab
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wf:
        wf.setnchannels(params.nchannels)
        wf.setsampwidth(params.sampwidth)
        wf.setframerate(params.framerate)
        wf.writeframes(raw)
    return buf.getvalue()


_ENCODERS = {"mp3float": "libmp3lame", "mp3": "libmp3lame", "vorbis": "libvorbis",
             "opus": "libopus"}


def _muxer(demuxer: str, data: bytes) -> str:
    if demuxer.startswith("mov,"):
        brand = data[8:12]
        return {b"qt  ": "mov", b"M4A ": "ipod", b"M4B ": "ipod"}.get(brand, "mp4")
    if demuxer.startswith("matroska"):
        return "webm" if b"webm" in data[:64] else "matroska"
    return demuxer.split(",")[0]


def _label_av(data: bytes, places: tuple[str, ...], cue: bool, spoken: str | None,
              tts: TTSFunction | None, timing: CueTiming | None) -> bytes:
    import av

    try:
        src = av.open(io.BytesIO(data), "r")
    except av.FFmpegError as exc:
        raise MalformedMedia(f"cannot open audio: {exc}", format="audio", offset=0) from exc
    with src:
        if not src.streams.audio or src.streams.video:
            raise UnsupportedMedia("not an audio-only file", format=src.format.name, offset=0)
        ast = src.streams.audio[0]
        codec = _ENCODERS.get(ast.codec_context.name, ast.codec_context.name)
        rate = ast.codec_context.sample_rate
        layout = ast.codec_context.layout.name
        ch = ast.codec_context.channels
        fmt_name = _muxer(src.format.name, data)
        chunks: list[FloatArray] = []
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        try:
            for frame in src.decode(ast):
                for f in resampler.resample(frame):
                    chunks.append(f.to_ndarray().T.astype(np.float32))
        except av.FFmpegError as exc:
            raise MalformedMedia(f"cannot decode audio: {exc}", format=fmt_name,
                                 offset=0) from exc
        bitrate = ast.codec_context.bit_rate
    samples = np.concatenate(chunks) if chunks else np.zeros((0, ch), np.float32)
    label = _build_label(rate, cue=cue, voice=spoken, tts=tts, timing=timing)
    out = _insert(samples, label, places)
    buf = io.BytesIO()
    try:
        _encode(buf, fmt_name, codec, rate, layout, bitrate, out)
    except (av.FFmpegError, ValueError) as exc:
        raise UnsupportedMedia(f"cannot re-encode {codec} in {fmt_name}: {exc}",
                               format=fmt_name, offset=0, codec=codec) from exc
    return buf.getvalue()


def _encode(buf: io.BytesIO, fmt_name: str, codec: str, rate: int, layout: str,
            bitrate: int | None, out: FloatArray) -> None:
    import av

    with av.open(buf, "w", format=fmt_name) as dst:
        ost: Any = dst.add_stream(codec, rate=rate, layout=layout)
        if bitrate:
            ost.bit_rate = bitrate
        enc_fmt = ost.codec_context.format.name
        res = av.AudioResampler(format=enc_fmt, layout=layout, rate=rate)
        block = 4096
        for i in range(0, len(out), block):
            piece = np.ascontiguousarray(out[i:i + block].T)
            frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout=layout)
            frame.sample_rate = rate
            for f in res.resample(frame):
                for pkt in ost.encode(f):
                    dst.mux(pkt)
        for f in res.resample(None):
            for pkt in ost.encode(f):
                dst.mux(pkt)
        for pkt in ost.encode(None):
            dst.mux(pkt)
