"""Explicit-label guard checks built from compliance settings ([labelling.explicit])."""

from __future__ import annotations

import datetime as dt
import io
import wave
from pathlib import Path

import pytest
from PIL import Image

from genai_compliance.checks import CallContext
from genai_compliance.errors import ConfigurationError, LabelError
from genai_compliance.labelling.explicit import (
    ExplicitMediaLabelCheck,
    ExplicitTextLabelCheck,
    label_text,
)
from genai_compliance.testing import TEST_PROVIDER


def _ctx(modality: str) -> CallContext:
    return CallContext(call_id="c", function="f", modality=modality, purposes=(), subject=None,
                       started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), started_mono=0.0)


def test_text_check_from_settings() -> None:
    """from_settings reads text, mode and separator from [labelling.explicit]."""
    check = ExplicitTextLabelCheck.from_settings(
        {"text": "AI-generated", "mode": "suffix", "separator": " "})
    assert check.after(_ctx("text"), "hi") == label_text("hi", label="AI-generated",
                                                         mode="suffix", separator=" ")
    default = ExplicitTextLabelCheck.from_settings({})
    assert default.after(_ctx("text"), "x").startswith("本内容由人工智能生成")


def test_checks_from_context(tmp_path: Path) -> None:
    """A Compliance's context hands [labelling.explicit] (without ``enabled``) to the
    checks; the default pipeline's text label is the configured one."""
    from genai_compliance import Compliance

    with Compliance(TEST_PROVIDER, ledger=f"sqlite:///{tmp_path}/l.db", mode="development",
                    settings={"labelling": {"explicit": {"enabled": True,
                                                         "text": "AI-generated"}}}) as comp:
        check = ExplicitTextLabelCheck.from_context(comp.context)
        assert check.label == "AI-generated"
        assert ExplicitMediaLabelCheck.from_context(comp.context).modalities
        built = [c for c in comp.checks if isinstance(c, ExplicitTextLabelCheck)]
        assert [c.label for c in built] == ["AI-generated"]


def test_bad_settings_rejected() -> None:
    """Unknown keys, a bad mode or a too-short video duration are configuration errors;
    a label text without both elements is a LabelError."""
    for section in ({"colour": "red"}, {"mode": "middle"}, {"video_duration": 1}):
        with pytest.raises(ConfigurationError):
            ExplicitMediaLabelCheck.from_settings(section)
    with pytest.raises(LabelError):
        ExplicitTextLabelCheck.from_settings({"text": "AI"})


def test_media_check_routes_per_modality() -> None:
    """The media check labels audio at audio_position and images at the corner."""
    check = ExplicitMediaLabelCheck.from_settings(
        {"position": "top-left", "audio_position": "end"})
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(8000)
        wf.writeframes(b"\x00\x00" * 8000)
    src = buf.getvalue()
    ctx = _ctx("audio")
    out = check.after(ctx, src)
    with wave.open(io.BytesIO(out)) as wf:
        frames = wf.readframes(wf.getnframes())
    assert frames[:16000] == b"\x00\x00" * 8000 and len(frames) > 16000
    assert ctx.notes["explicit_label"]["modality"] == "audio"
    img = io.BytesIO()
    Image.new("RGB", (300, 300), "white").save(img, "PNG")
    labelled = Image.open(io.BytesIO(check.after(_ctx("image"), img.getvalue())))
    assert labelled.crop((0, 0, 60, 40)).convert("L").getextrema()[0] < 50
    assert labelled.crop((0, 240, 300, 300)).convert("L").getextrema()[0] == 255
    assert check.after(_ctx("text"), b"bytes") == b"bytes"
