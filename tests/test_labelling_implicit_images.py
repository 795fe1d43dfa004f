"""Image implicit labels: XMP TC260:AIGC round trip, byte level, pixels kept (LM-5)."""

from __future__ import annotations

import functools
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit import label_bytes, read_labels, sniff
from genai_compliance.labelling.implicit._xmp import build_xmp, merge_xmp, read_xmp
from strategies_labelling import labels

LABEL = AIGCLabel(content_producer="001191110108MA01ABCDE1A1B2", produce_id="img-0001")
EXIFTOOL = shutil.which("exiftool")


def _image(fmt: str, mode: str = "RGB", **kw: object) -> bytes:
    im = Image.new(mode, (37, 23), (10, 200, 30, 128)[: len(mode)])
    for x in range(37):
        im.putpixel((x, x % 23), (x * 5, 255 - x, 7, 200)[: len(mode)])
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _icc() -> bytes:
    data: bytes = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return data


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "TestMake"
    data: bytes = exif.tobytes()
    return data


def _gif_animated() -> bytes:
    frames = [Image.new("P", (20, 10), i * 40) for i in range(3)]
    for i, fr in enumerate(frames):
        fr.putpixel((i, i), 255)
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=70, loop=0)
    return buf.getvalue()


def _tiff_icc_exif() -> bytes:
    im = Image.new("RGB", (37, 23), (10, 200, 30))
    im.info["icc_profile"] = _icc()
    buf = io.BytesIO()
    im.save(buf, "TIFF", exif=_exif(), icc_profile=_icc())
    return buf.getvalue()


def _frames(data: bytes) -> list[bytes]:
    with Image.open(io.BytesIO(data)) as im:
        out = []
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            out.append(im.convert("RGBA").tobytes())
        return out


SAMPLES = {
    "gif": lambda: _image("GIF"),
    "tiff": lambda: _image("TIFF", compression="tiff_lzw"),
    "tiff-icc-exif": lambda: _tiff_icc_exif(),
    "gif-animated": _gif_animated,
    "png": lambda: _image("PNG"),
    "png-rgba-icc": lambda: _image("PNG", "RGBA", icc_profile=_icc()),
    "jpeg": lambda: _image("JPEG", quality=90),
    "jpeg-exif-icc": lambda: _image("JPEG", exif=_exif(), icc_profile=_icc()),
    "webp-lossy": lambda: _image("WEBP", quality=80),
    "webp-lossless-alpha": lambda: _image("WEBP", "RGBA", lossless=True),
    "webp-extended": lambda: _image("WEBP", icc_profile=_icc(), lossless=True),
}


def _pixels(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im.mode, im.size, im.tobytes()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip_keeps_pixels_and_metadata(name: str) -> None:
    """The label reads back, Pillow decodes identical pixels, ICC/EXIF stay (LM-5)."""
    src = SAMPLES[name]()
    out = label_bytes(src, LABEL)
    assert sniff(out) == name.split("-")[0]
    found = read_labels(out)
    assert [AIGCLabel.from_json(r.text) for r in found] == [LABEL]
    assert _pixels(out) == _pixels(src)
    assert _frames(out) == _frames(src)
    with Image.open(io.BytesIO(src)) as a, Image.open(io.BytesIO(out)) as b:
        assert a.info.get("icc_profile") == b.info.get("icc_profile")
        after = dict(b.getexif())
        after.pop(700, None)  # TIFF: the XMP tag itself lives in IFD0
        assert dict(a.getexif()) == after


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_relabel_replaces_the_single_label(name: str) -> None:
    """Labelling twice leaves exactly one label, the newest, and the file size stable."""
    once = label_bytes(SAMPLES[name](), LABEL)
    new = LABEL.with_propagation("PLATFORM", "p-1")
    twice = label_bytes(once, new)
    thrice = label_bytes(twice, new)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(twice)] == [new]
    assert thrice == twice


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool not installed")
@pytest.mark.parametrize("name", ["png", "jpeg-exif-icc", "webp-lossy", "gif", "tiff"])
def test_exiftool_reads_the_label_and_other_xmp(name: str, tmp_path: Path) -> None:
    """exiftool sees XMP-TC260:Aigc, and an existing dc:title survives our merge."""
    path = tmp_path / f"in.{name.split('-')[0]}"
    path.write_bytes(SAMPLES[name]())
    subprocess.run([EXIFTOOL, "-q", "-overwrite_original", "-XMP-dc:Title=Kept title",
                    str(path)], check=True)
    path.write_bytes(label_bytes(path.read_bytes(), LABEL))
    res = subprocess.run([EXIFTOOL, "-j", "-a", "-G1", "-XMP:all", str(path)], check=True,
                         capture_output=True, text=True)
    doc = json.loads(res.stdout)[0]
    assert json.loads(doc["XMP-TC260:Aigc"]) == json.loads(LABEL.to_json())
    assert doc["XMP-dc:Title"] == "Kept title"
    assert [AIGCLabel.from_json(r.text) for r in read_labels(path)] == [LABEL]


def test_webp_simple_becomes_extended_with_canvas_size() -> None:
    """A simple VP8 WebP gains a VP8X chunk with the canvas size and the XMP flag."""
    out = label_bytes(SAMPLES["webp-lossy"](), LABEL)
    assert out[12:16] == b"VP8X"
    assert out[20] & 0x04
    assert int.from_bytes(out[24:27], "little") + 1 == 37
    assert int.from_bytes(out[27:30], "little") + 1 == 23
    assert int.from_bytes(out[4:8], "little") == len(out) - 8


def test_xmp_escapes_and_reads_attribute_form() -> None:
    """Entities in the packet are decoded; the attribute form is read too."""
    assert read_xmp(build_xmp('{"a":"<&>"}')) == ['{"a":"<&>"}']
    packet = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/'
              b'1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:TC260="http://www.tc260.org'
              b'.cn/ns/AIGC/1.0/" TC260:AIGC="{&quot;Label&quot;:&quot;1&quot;}"/>'
              b"</rdf:RDF></x:xmpmeta>")
    assert read_xmp(packet) == ['{"Label":"1"}']
    merged = merge_xmp(packet, "{}")
    assert read_xmp(merged) == ["{}"]


def test_xmp_with_entity_declarations_is_refused() -> None:
    """A DOCTYPE in an XMP packet is MalformedMedia (no entity expansion)."""
    with pytest.raises(MalformedMedia):
        merge_xmp(b'<!DOCTYPE x [<!ENTITY a "b">]><x/>', "{}")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labels, st.sampled_from(sorted(SAMPLES)))
def test_any_label_round_trips(label: AIGCLabel, name: str) -> None:
    """Any valid label written into any image format reads back unchanged."""
    out = label_bytes(SAMPLES[name](), label)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [label]


@functools.cache
def _labelled(name: str) -> bytes:
    """One labelled sample per format, fixed for the session (ICC profiles carry a creation
    time, so regenerating could change the bytes between Hypothesis replays)."""
    return label_bytes(SAMPLES[name](), LABEL)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_mutations_raise_only_media_errors(name: str, data: st.DataObject) -> None:
    """Truncated or corrupted images raise only MalformedMedia/UnsupportedMedia."""
    blob = bytearray(_labelled(name))
    op = data.draw(st.sampled_from(["truncate", "flip", "insert"]))
    pos = data.draw(st.integers(0, len(blob) - 1))
    if op == "truncate":
        blob = blob[:pos]
    elif op == "flip":
        blob[pos] ^= data.draw(st.integers(1, 255))
    else:
        blob[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    for call in (lambda: read_labels(bytes(blob)), lambda: label_bytes(bytes(blob), LABEL)):
        try:
            call()
        except (MalformedMedia, UnsupportedMedia):
            pass
