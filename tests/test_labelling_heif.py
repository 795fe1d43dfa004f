"""HEIF/HEIC and AVIF implicit labels (issue 16; LM-5, PG-2025-CARRIERS): the XMP item in
the ``meta`` box written without re-encoding, read back by our reader and by exiftool,
every decoded image identical, other items' offsets still valid; mutated files raise only
typed errors."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from genai_compliance.errors import LabelError, MediaError
from genai_compliance.labelling import inspect
from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit import label_bytes, label_file, read_labels, sniff

pillow_heif = pytest.importorskip("pillow_heif")
pillow_heif.register_heif_opener()

LABEL = AIGCLabel(label="1", content_producer="001191350100M000100Y431A001", produce_id="h-1")
OTHER = AIGCLabel(label="2", content_producer="001191350100M000100Y431A001", produce_id="h-2")
EXIFTOOL = shutil.which("exiftool") is not None


def _image(seed: int = 0) -> Image.Image:
    img = Image.new("RGB", (64, 48))
    img.putdata([((x * 7 + seed) % 256, (y * 5) % 256, (x * y) % 256)
                 for y in range(48) for x in range(64)])
    return img


def _heic(**kw: object) -> bytes:
    buf = io.BytesIO()
    _image().save(buf, "HEIF", quality=80, **kw)
    return buf.getvalue()


def _avif() -> bytes:
    buf = io.BytesIO()
    _image().save(buf, "AVIF", quality=80)
    return buf.getvalue()


def _multi() -> bytes:
    """A HEIC with three images (three coded items, offsets into one mdat)."""
    buf = io.BytesIO()
    _image(0).save(buf, "HEIF", save_all=True, append_images=[_image(50), _image(99)])
    return buf.getvalue()


def _decoded(data: bytes) -> list[bytes]:
    """Every decoded image: libheif for HEIC, Pillow's libavif plugin for AVIF."""
    if data[8:12] == b"avif":
        with Image.open(io.BytesIO(data)) as im:
            frames = []
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                frames.append(im.tobytes())
            return frames
    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
    return [bytes(im.data) for im in heif]


MAKERS = {"heic": _heic, "avif": _avif, "multi": _multi}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_label_round_trip_and_decoded_images_identical(kind: str) -> None:
    """The label is read back from the XMP item; every decoded image is bit-identical."""
    src = MAKERS[kind]()
    assert sniff(src) == "heif"
    out = label_bytes(src, LABEL)
    labels = read_labels(out)
    assert [AIGCLabel.from_json(r.text) for r in labels] == [LABEL]
    assert labels[0].carrier == "heif:XMP item" and labels[0].preferred
    assert _decoded(out) == _decoded(src)
    report = inspect(out, c2pa=False)
    assert report.verdict == "compliant" and report.format == "heif"


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_relabel_replaces_the_label_in_place(kind: str) -> None:
    """Labelling again leaves one label (the new one), the same size, images identical."""
    once = label_bytes(MAKERS[kind](), LABEL)
    twice = label_bytes(once, OTHER)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(twice)] == [OTHER]
    assert len(twice) == len(once)
    assert _decoded(twice) == _decoded(once)


def test_exif_item_survives_the_offset_shift() -> None:
    """A HEIC with an EXIF item: after labelling (meta grows) the EXIF still reads."""
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    src = _heic(exif=exif.tobytes())
    out = label_bytes(src, LABEL)
    heif = pillow_heif.open_heif(io.BytesIO(out))
    assert b"CameraMaker" in heif.info["exif"]
    assert _decoded(out) == _decoded(src)


@pytest.mark.skipif(not EXIFTOOL, reason="needs exiftool")
@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_exiftool_reads_the_label(kind: str, tmp_path: Path) -> None:
    """exiftool (independent reader) finds XMP-TC260:AIGC with our JSON and no warning."""
    path = tmp_path / f"x.{kind}"
    path.write_bytes(label_bytes(MAKERS[kind](), LABEL))
    doc = json.loads(subprocess.run(["exiftool", "-j", "-G1", "-a", "-warning",
                                     "-XMP-TC260:all", str(path)], check=True,
                                    capture_output=True, text=True).stdout)[0]
    assert json.loads(doc["XMP-TC260:Aigc"]) == LABEL.to_dict()
    assert "ExifTool:Warning" not in doc


@pytest.mark.skipif(not EXIFTOOL, reason="needs exiftool")
def test_exiftool_xmp_is_merged(tmp_path: Path) -> None:
    """An XMP item exiftool wrote keeps its other properties when we add the label."""
    path = tmp_path / "e.heic"
    path.write_bytes(_heic())
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Title=keep-me",
                    str(path)], check=True)
    out = tmp_path / "l.heic"
    label_file(path, out, LABEL)
    doc = json.loads(subprocess.run(["exiftool", "-j", "-G1", "-XMP-dc:Title",
                                     "-XMP-TC260:Aigc", str(out)], check=True,
                                    capture_output=True, text=True).stdout)[0]
    assert doc["XMP-dc:Title"] == "keep-me"
    assert json.loads(doc["XMP-TC260:Aigc"]) == LABEL.to_dict()
    assert _decoded(out.read_bytes()) == _decoded(path.read_bytes())


def test_cli_labels_heic(tmp_path: Path) -> None:
    """`label` accepts a HEIC (it exited 2 before) and `inspect` calls it compliant."""
    from genai_compliance.cli import main

    src = tmp_path / "a.heic"
    src.write_bytes(_heic())
    out = tmp_path / "b.heic"
    assert main(["label", str(src), "-o", str(out), "--producer", LABEL.content_producer,
                 "--produce-id", "h-1"]) == 0
    assert main(["inspect", str(out)]) == 0


@pytest.fixture(name="labelled", scope="module")
def _labelled() -> list[bytes]:
    return [label_bytes(_heic(), LABEL), label_bytes(_avif(), LABEL)]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_heif_raises_only_typed_errors(labelled: list[bytes],
                                               data: st.DataObject) -> None:
    """Flipped, cut or inserted bytes anywhere in a HEIC/AVIF: read and write raise only
    MediaError/LabelError; inspect always returns a report."""
    blob = bytearray(data.draw(st.sampled_from(labelled)))
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(blob) - 1))
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip":
            blob[at] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del blob[at:at + data.draw(st.integers(1, 16))]
        else:
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        if not blob:
            blob = bytearray(b"\x00")
    try:
        read_labels(bytes(blob))
    except MediaError:
        pass
    try:
        label_bytes(bytes(blob), LABEL)
    except (MediaError, LabelError):
        pass
    inspect(bytes(blob), c2pa=False).to_json()


def _meta_last(data: bytes) -> bytes:
    """The same HEIC with ``mdat`` moved before ``meta`` (iloc offsets rewritten), the
    layout some encoders write."""
    from genai_compliance.labelling.implicit import _heif
    from genai_compliance.labelling.implicit._isobmff import top_boxes

    tops = top_boxes(io.BytesIO(data))
    ftyp, meta, mdat = (next(t for t in tops if t.btype == k) for k in (b"ftyp", b"meta",
                                                                          b"mdat"))
    assert ftyp.end == meta.offset and meta.end == mdat.offset
    raw = data[meta.offset:meta.end]
    body_at = meta.header + 4
    children = _heif._children(raw[body_at:], 0)
    shift = -meta.size
    parts = []
    for c in children:
        if c.btype == b"iloc":
            table = _heif._Iloc.parse(_heif._payload(c.raw))
            for loc in table.items:
                if loc.base:
                    loc.base += shift
                for e in loc.extents:
                    if not loc.base:
                        e.offset += shift
            parts.append(table.serialize())
        else:
            parts.append(c.raw)
    new_meta = _heif.box_bytes(b"meta", raw[meta.header:body_at] + b"".join(parts))
    assert len(new_meta) == meta.size
    return data[:ftyp.end] + data[mdat.offset:mdat.end] + new_meta


def test_meta_after_mdat_is_labelled() -> None:
    """A HEIC whose meta follows mdat (nothing after meta to shift) is labelled, images
    identical, and labels again in place."""
    src = _meta_last(_heic())
    assert _decoded(src) == _decoded(_heic())
    out = label_bytes(src, LABEL)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [LABEL]
    assert _decoded(out) == _decoded(src)
    again = label_bytes(out, OTHER)
    assert [AIGCLabel.from_json(r.text) for r in read_labels(again)] == [OTHER]
    assert _decoded(again) == _decoded(src)
