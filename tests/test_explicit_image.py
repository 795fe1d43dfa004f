"""Explicit image labels (GB-5.2, LM-4b): glyph height, position, plate, format keeping, OCR."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageCms

from genai_compliance.errors import LabelError, MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.explicit import (
    DEFAULT_LABEL_ZH,
    POSITIONS,
    ExplicitMediaLabelCheck,
    _fonts,
    apply_explicit,
    find_cjk_font,
    label_image,
    make_overlay,
    sniff_modality,
)


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _ocr(img: Image.Image) -> str:
    assert shutil.which("tesseract"), "tesseract-ocr with chi_sim is required (Makefile)"
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "PNG")
    res = subprocess.run(["tesseract", "stdin", "stdout", "-l", "chi_sim+eng", "--psm", "3"],
                         input=buf.getvalue(), capture_output=True, check=True, timeout=60)
    return "".join(res.stdout.decode("utf-8").split())


def _ink_height(labelled: Image.Image, original: Image.Image) -> tuple[int, tuple[int, ...]]:
    """Independent measure: rows of the changed area whose pixels are text ink (extreme)."""
    a = np.asarray(labelled.convert("L"), dtype=np.int16)
    b = np.asarray(original.convert("L"), dtype=np.int16)
    changed = np.abs(a - b) > 0
    ys, xs = np.nonzero(changed)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    plate = a[box[1]:box[3], box[0]:box[2]]
    ink_plate = np.median(plate)
    ink = np.abs(plate - ink_plate) > 100
    rows = np.nonzero(ink.any(axis=1))[0]
    return int(rows.max() - rows.min() + 1), box


@pytest.mark.parametrize("size", [(300, 200), (1000, 1400), (64, 900)])
@pytest.mark.parametrize("position", ["top-left", "top-right", "bottom-left", "bottom-right",
                                      "top", "bottom"])
def test_glyph_height_and_position(size: tuple[int, int], position: str) -> None:
    """GB-5.2: the ink of the drawn text is at least 5.5 % of the shortest side (5 % plus the
    margin issue 16 asks for), on that edge."""
    original = Image.new("RGB", size, (240, 240, 240))
    out = Image.open(io.BytesIO(label_image(_encode(original, "PNG"), position=position)))
    height, box = _ink_height(out, original)
    assert height >= 0.055 * min(size)
    w, h = size
    margin = max(1, round(min(size) * 0.02))
    if position.startswith("top"):
        assert box[1] == margin
    else:
        assert box[3] == h - margin
    if position.endswith("left"):
        assert box[0] == margin
    elif position.endswith("right"):
        assert box[2] == w - margin


def test_overlay_measures_rendered_glyph_not_font_size() -> None:
    """The overlay's glyph height is the measured ink box and reaches the fraction."""
    ov = make_overlay((2000, 1000), height_fraction=0.08)
    assert ov.glyph_height >= 80
    assert ov.image.size[1] > ov.glyph_height


def test_contrast_aware_plate() -> None:
    """A light background gets an outlined plate, a dark one a plain white plate."""
    dark = Image.new("RGB", (400, 300), (10, 10, 10))
    light = Image.new("RGB", (400, 300), (250, 250, 250))
    plain = make_overlay(dark.size, background=dark)
    outlined = make_overlay(light.size, background=light)
    assert not plain.outlined and outlined.outlined
    assert outlined.image.getpixel((0, 0))[:3] == (0, 0, 0)
    assert plain.image.getpixel((0, 0))[:3] == (255, 255, 255)


def _icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize(("mode", "fmt"), [
    ("RGB", "JPEG"), ("CMYK", "JPEG"), ("L", "JPEG"), ("RGBA", "PNG"), ("L", "PNG"),
    ("LA", "PNG"), ("P", "PNG"), ("1", "PNG"), ("P", "GIF"), ("RGB", "WEBP"),
    ("RGBA", "WEBP"), ("RGB", "TIFF"), ("RGB", "BMP"),
])
def test_keeps_format_size_mode(mode: str, fmt: str) -> None:
    """LM-4b: the labelled file keeps its format, size and mode."""
    img = Image.new("RGB", (320, 240), (30, 120, 200)).convert(mode)
    if "A" in mode:
        img.putalpha(Image.linear_gradient("L").resize((320, 240)))
    data = _encode(img, fmt)
    src_mode = Image.open(io.BytesIO(data)).mode
    out = Image.open(io.BytesIO(label_image(data)))
    assert (out.format, out.size, out.mode) == (fmt, (320, 240), src_mode)


def test_keeps_icc_exif_xmp_and_png_text() -> None:
    """ICC profile, EXIF, XMP, DPI and PNG text chunks survive labelling."""
    img = Image.new("RGB", (400, 300), "white")
    exif = Image.Exif()
    exif[0x010F] = "CameraCo"
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    jpeg = _encode(img, "JPEG", icc_profile=_icc(), exif=exif.tobytes(), xmp=xmp,
                   dpi=(300, 300), quality=80)
    out = Image.open(io.BytesIO(label_image(jpeg)))
    assert out.info["icc_profile"] == _icc()
    assert out.getexif()[0x010F] == "CameraCo"
    assert out.info["xmp"] == xmp
    assert tuple(round(v) for v in out.info["dpi"]) == (300, 300)
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "hello")
    info.add_itxt("Title", "画")
    png = _encode(img, "PNG", pnginfo=info, icc_profile=_icc())
    out = Image.open(io.BytesIO(label_image(png)))
    assert out.text["Comment"] == "hello"
    assert out.text["Title"] == "画"
    assert out.info["icc_profile"] == _icc()


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animated_every_frame_labelled(fmt: str) -> None:
    """Animated GIF/WebP/APNG: every frame carries the label; frame count, timing, loop kept."""
    frames = [Image.new("RGB", (300, 200), (60 * i, 90, 200 - 50 * i)) for i in range(4)]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:],
                   duration=[80, 120, 80, 200], loop=3)
    out = Image.open(io.BytesIO(label_image(buf.getvalue(), position="top-left")))
    assert (out.format, out.size, out.n_frames) == (fmt, (300, 200), 4)
    assert out.info.get("loop") == 3
    durations = []
    for i in range(4):
        out.seek(i)
        out.load()
        durations.append(out.info.get("duration"))
        corner = out.convert("L").crop((0, 0, 80, 30))
        assert corner.getextrema()[0] < 60 and corner.getextrema()[1] > 200
    assert durations == [80, 120, 80, 200]


def test_jpeg_keeps_quantization_tables() -> None:
    """JPEG re-encodes with the source's quantization tables (no silent quality change)."""
    img = Image.new("RGB", (256, 256), "gray")
    src = Image.open(io.BytesIO(_encode(img, "JPEG", quality=60)))
    out = Image.open(io.BytesIO(label_image(_encode(img, "JPEG", quality=60))))
    assert out.quantization == src.quantization


def test_errors() -> None:
    """Bad input raises typed errors: MalformedMedia, UnsupportedMedia, LabelError."""
    with pytest.raises(MalformedMedia):
        label_image(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(UnsupportedMedia):
        label_image(_encode(Image.new("I;16", (200, 200)), "PNG"))
    with pytest.raises(LabelError):
        label_image(_encode(Image.new("RGB", (100, 100)), "PNG"), position="middle")
    with pytest.raises(LabelError):
        label_image(_encode(Image.new("RGB", (100, 100)), "PNG"), text="AI")
    with pytest.raises(LabelError):  # too long to fit at the required height
        label_image(_encode(Image.new("RGB", (40, 30)), "PNG"), text="本内容由人工智能生成" * 20)


def test_missing_font_names_debian_package(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """No CJK font: LabelError names fonts-noto-cjk; a configured bad path is refused too."""
    _fonts._find.cache_clear()
    monkeypatch.setattr(_fonts, "_fontconfig", lambda: [])
    monkeypatch.setattr(_fonts, "_KNOWN", ("/nonexistent.ttc",))
    monkeypatch.delenv("GENAI_COMPLIANCE_LABEL_FONT", raising=False)
    with pytest.raises(LabelError, match="fonts-noto-cjk"):
        find_cjk_font()
    latin = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    with pytest.raises(LabelError, match="fonts-noto-cjk"):
        find_cjk_font(latin if Path(latin).exists() else str(tmp_path / "x.ttf"))
    _fonts._find.cache_clear()


def test_media_check_labels_image_bytes() -> None:
    """The media check labels image bytes results and notes it for the ledger."""
    import datetime as dt

    from genai_compliance.checks import CallContext

    ctx = CallContext(call_id="c", function="f", modality="image", purposes=(), subject=None,
                      started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), started_mono=0.0)
    check = ExplicitMediaLabelCheck(position="top-left")
    data = _encode(Image.new("RGB", (200, 200), "white"), "PNG")
    out = check.after(ctx, data)
    assert out != data and Image.open(io.BytesIO(out)).format == "PNG"
    assert ctx.notes["explicit_label"]["modality"] == "image"
    assert apply_explicit(data, position="top-left") == out


def _noise(size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(5)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@pytest.mark.parametrize(("bg", "size"), [
    ("light", (900, 600)), ("dark", (600, 800)), ("noise", (1280, 720)),
])
def test_ocr_reads_label(bg: str, size: tuple[int, int]) -> None:
    """tesseract (chi_sim) reads the label on light, dark and busy-noise images."""
    img = {"light": Image.new("RGB", size, (245, 245, 235)),
           "dark": Image.new("RGB", size, (15, 20, 30)), "noise": _noise(size)}[bg]
    out = Image.open(io.BytesIO(label_image(_encode(img, "PNG"))))
    text = _ocr(out)
    assert DEFAULT_LABEL_ZH in text, text
    assert "人工智能" not in _ocr(img)


def test_ocr_reads_english_label() -> None:
    """tesseract reads an English label."""
    img = Image.new("RGB", (800, 500), (200, 220, 240))
    out = Image.open(io.BytesIO(label_image(_encode(img, "PNG"), text="AI-generated content")))
    assert "generatedcontent" in _ocr(out)


def test_height_fraction_is_configurable_upwards_only() -> None:
    """A fraction below the 5.5 % default (even the standard's bare 5 %) is refused."""
    from genai_compliance.errors import LabelError

    with pytest.raises(LabelError, match="upwards only"):
        make_overlay((800, 600), height_fraction=0.05)
    assert make_overlay((800, 600)).glyph_height >= 0.055 * 600


@given(w=st.integers(200, 4000), h=st.integers(200, 4000), pos=st.sampled_from(POSITIONS),
       frac=st.sampled_from([0.055, 0.06, 0.08]))
def test_overlay_invariants(w: int, h: int, pos: str, frac: float) -> None:
    """Property: measured glyph >= fraction of the shortest side and the plate is inside."""
    ov = make_overlay((w, h), position=pos, height_fraction=frac)
    assert ov.glyph_height >= frac * min(w, h)
    x, y = ov.box
    pw, ph = ov.image.size
    assert x >= 0 and x + pw <= w and y >= 0 and y + ph <= h


@given(data=st.binary(max_size=64))
def test_sniff_never_crashes(data: bytes) -> None:
    """Property: sniffing arbitrary bytes gives a modality or None, never an exception."""
    assert sniff_modality(data) in (None, "image", "audio", "video", "text")
