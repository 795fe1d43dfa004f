"""Explicit audio labels (GB-5.3): Morse "AI" rhythm cue found by an independent decoder,
spoken label via espeak-ng, sample rate/channels/width kept, PyAV formats."""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from genai_compliance.errors import LabelError, MalformedMedia
from genai_compliance.labelling.explicit import (
    CueTiming,
    EspeakTTS,
    apply_explicit,
    label_audio,
    sniff_modality,
)


def _wav(seconds: float = 1.0, rate: int = 16000, channels: int = 1, width: int = 2,
         level: float = 0.0) -> bytes:
    n = int(seconds * rate)
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((n, channels)) * level).clip(-1, 0.99)
    if width == 1:
        raw = (x * 127 + 128).astype(np.uint8).tobytes()
    elif width == 3:
        v = (x * (1 << 23)).astype(np.int32) & 0xFFFFFF
        raw = np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], -1).astype(
            np.uint8).tobytes()
    else:
        raw = (x * (1 << (8 * width - 1))).astype({2: np.int16, 4: np.int32}[width]).tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wf:
        wf.setnchannels(channels)
        wf.setsampwidth(width)
        wf.setframerate(rate)
        wf.writeframes(raw)
    return buf.getvalue()


def _read(data: bytes) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(io.BytesIO(data)) as wf:
        params = wf.getparams()
        raw = wf.readframes(wf.getnframes())
    assert params.sampwidth == 2
    x = np.frombuffer(raw, np.int16).reshape(-1, params.nchannels)[:, 0] / 32768.0
    return params, x


def _tones(x: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """Independent envelope decoder: rectify, 5 ms moving average, threshold, runs."""
    win = max(1, int(0.005 * rate))
    env = np.convolve(np.abs(x), np.ones(win) / win, mode="same")
    on = env > 0.1
    edges = np.diff(on.astype(np.int8), prepend=0, append=0)
    starts = np.nonzero(edges == 1)[0]
    ends = np.nonzero(edges == -1)[0]
    return [(s / rate, (e - s) / rate) for s, e in zip(starts, ends, strict=True)
            if (e - s) / rate > 0.02]


def _classify(tones: list[tuple[float, float]]) -> str:
    short = min(length for _, length in tones)
    return "".join("." if length < 2 * short else "-" for _, length in tones)


@pytest.mark.parametrize("rate", [8000, 22050, 48000])
def test_rhythm_cue_decoded_at_start(rate: int) -> None:
    """GB-5.3: the decoder finds short-long, short-short (Morse AI) at the start, on time."""
    out = label_audio(_wav(1.0, rate), position="start")
    params, x = _read(out)
    timing = CueTiming()
    tones = _tones(x, rate)
    assert _classify(tones) == ".-.."
    for (start, length), (t0, l0) in zip(tones, timing.tones(), strict=True):
        assert abs(start - t0) < 0.01 and abs(length - l0) < 0.015
    assert params.framerate == rate
    assert params.nframes == int(rate * 1.0) + round(timing.duration() * rate)


def test_rhythm_cue_end_and_middle() -> None:
    """The cue can go at the end and in the middle; the content itself is kept around it."""
    rate = 16000
    content = _wav(2.0, rate)
    _, orig = _read(content)
    timing = CueTiming()
    n = round(timing.duration() * rate)
    _, end = _read(label_audio(content, position="end"))
    assert np.array_equal(end[: len(orig)], orig)
    assert [round(s - 2.0, 2) for s, _ in _tones(end, rate)] == \
        [round(s, 2) for s, _ in timing.tones()]
    _, mid = _read(label_audio(content, position=("middle",)))
    assert np.array_equal(mid[: len(orig) // 2], orig[: len(orig) // 2])
    assert np.array_equal(mid[len(orig) // 2 + n:], orig[len(orig) // 2:])
    assert _classify(_tones(mid, rate)) == ".-.."
    _, both = _read(label_audio(content, position=("start", "end")))
    assert _classify(_tones(both, rate)) == ".-.." * 2


def test_cue_survives_busy_content() -> None:
    """On noisy content at the end the decoder still finds the cue after the content."""
    rate = 16000
    _, x = _read(label_audio(_wav(1.0, rate, level=0.02), position="end"))
    tones = [t for t in _tones(x, rate) if t[0] >= 1.0]
    assert _classify(tones) == ".-.."


@pytest.mark.parametrize(("width", "channels"), [(1, 1), (2, 2), (3, 2), (4, 1), (2, 6)])
def test_wav_params_kept(width: int, channels: int) -> None:
    """Sample rate, channels and sample width are kept; content samples are unchanged."""
    src = _wav(0.5, 44100, channels, width, level=0.1)
    out = label_audio(src, position="end")
    with wave.open(io.BytesIO(src)) as a, wave.open(io.BytesIO(out)) as b:
        assert (b.getnchannels(), b.getsampwidth(), b.getframerate()) == \
            (a.getnchannels(), a.getsampwidth(), a.getframerate())
        raw = a.readframes(a.getnframes())
        assert b.readframes(a.getnframes()) == raw


def test_custom_timing() -> None:
    """The cue timing is configurable (unit, frequency)."""
    timing = CueTiming(unit=0.06, frequency=700.0)
    _, x = _read(label_audio(_wav(0.2), timing=timing))
    tones = _tones(x, 16000)
    assert _classify(tones) == ".-.."
    assert abs(tones[1][1] - 0.18) < 0.015


def test_voice_prompt_with_pluggable_tts() -> None:
    """A voice prompt comes from the pluggable TTS callable at the chosen place."""
    seen: list[tuple[str, int]] = []

    def tts(text: str, rate: int) -> np.ndarray:
        seen.append((text, rate))
        return np.full(rate // 2, 0.25, dtype=np.float32)

    out = label_audio(_wav(1.0), voice=True, cue=False, tts=tts, text="本音频由AI合成")
    assert seen == [("本音频由AI合成", 16000)]
    _, x = _read(out)
    assert np.allclose(x[:8000], 0.25, atol=1e-3)
    with pytest.raises(LabelError):
        label_audio(_wav(1.0), voice=True, cue=False, tts=tts, text="AI")
    with pytest.raises(LabelError):
        label_audio(_wav(1.0), cue=False)
    with pytest.raises(LabelError):
        label_audio(_wav(1.0), position="before")


@pytest.mark.skipif(not EspeakTTS.available(), reason="espeak-ng not installed")
def test_espeak_voice_rate() -> None:
    """espeak-ng (-v cmn) speaks the label at about 120–160 characters a minute."""
    speech = EspeakTTS()("本内容由人工智能生成", 16000)
    voiced = np.nonzero(np.abs(speech) > 0.01)[0]
    seconds = (voiced[-1] - voiced[0]) / 16000
    assert 120 <= 10 / seconds * 60 <= 180
    out = label_audio(_wav(0.5), voice=True)
    _, x = _read(out)
    assert len(x) > 8000 + len(speech)


def _ff(fmt: str, extra: list[str], tmp: Path) -> bytes:
    assert shutil.which("ffmpeg"), "ffmpeg is required"
    dst = tmp / f"in.{fmt}"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=300:duration=1:sample_rate=44100", "-ac", "2",
                    *extra, "-f", fmt, str(dst)], capture_output=True, check=True, timeout=60)
    return dst.read_bytes()


@pytest.mark.parametrize(("fmt", "extra", "codec"), [
    ("flac", [], "flac"), ("mp3", ["-c:a", "libmp3lame"], "mp3"),
    ("ipod", ["-c:a", "aac"], "aac"),
])
def test_pyav_formats_keep_rate_channels(fmt: str, extra: list[str], codec: str,
                                         tmp_path: Path) -> None:
    """FLAC, MP3 and M4A are re-encoded with the same codec, rate and channels, cue added."""
    import av

    src = _ff(fmt, extra, tmp_path)
    assert sniff_modality(src) == "audio"
    out = apply_explicit(src, position="start")
    with av.open(io.BytesIO(out)) as c:
        st = c.streams.audio[0]
        assert (st.codec_context.name.startswith(codec[:3]), st.sample_rate, st.channels) == \
            (True, 44100, 2)
        parts = []
        for f in c.decode(st):
            arr = f.to_ndarray()
            if not f.format.is_planar:
                arr = arr.reshape(-1, st.channels).T
            if arr.dtype.kind == "i":
                arr = arr / float(np.iinfo(arr.dtype).max)
            parts.append(arr[0])
        pcm = np.concatenate(parts)
    rate = 44100
    tones = _tones(pcm[: int(rate * 1.8)], rate)
    assert _classify(tones[:4]) == ".-.."


def test_malformed_audio() -> None:
    """A truncated container raises MalformedMedia."""
    with pytest.raises(MalformedMedia):
        label_audio(b"fLaC\x00\x00")


def test_float_wav_goes_through_pyav(tmp_path: Path) -> None:
    """A float WAV (not readable by stdlib wave) keeps codec, rate and channels via PyAV."""
    import av

    src = _ff("wav", ["-c:a", "pcm_f32le"], tmp_path)
    out = label_audio(src)
    with av.open(io.BytesIO(out)) as c:
        st = c.streams.audio[0]
        assert (c.format.name, st.codec_context.name, st.sample_rate, st.channels) == \
            ("wav", "pcm_f32le", 44100, 2)
        pcm = np.concatenate([f.to_ndarray().reshape(-1, 2)[:, 0] for f in c.decode(st)])
    assert _classify(_tones(pcm[: int(44100 * 1.6)], 44100)) == ".-.."
