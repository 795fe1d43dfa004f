"""Relabelling C2PA-signed files, remote manifests and c2pa errors at the boundary
(issue 16; LM-5, C2PA, EU-50-2): with a signer the new manifest takes the old signed file
as its parentOf ingredient and c2pa-python's Reader says the result is valid; without one
the result warns that the old manifest is now invalid; a remote manifest is reported as
present and never fetched; only our typed errors leave read_c2pa; temp files never follow a
symlink."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from genai_compliance.crypto import SigningCredentials, TestCA, create_test_ca
from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling import inspect, pipeline
from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.c2pa import read_c2pa, sign_bytes

FIRST = AIGCLabel(label="1", content_producer="001191350100M000100Y431A001",
                  produce_id="first")
SECOND = AIGCLabel(label="1", content_producer="001191350100M000100Y431A001",
                   produce_id="second")


@pytest.fixture(name="ca", scope="module")
def _ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return create_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(name="creds", scope="module")
def _creds(ca: TestCA) -> SigningCredentials:
    return SigningCredentials.from_pem(ca.chain, ca.key, trust_anchors=ca.trust_anchors)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


def _ffmpeg(tmp: Path, name: str, *args: str) -> bytes:
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg")
    out = tmp / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-fflags", "+bitexact", *args, str(out)],
                   check=True, capture_output=True)
    return out.read_bytes()


def _media(kind: str, tmp: Path) -> bytes:
    if kind == "jpeg":
        return _jpeg()
    if kind == "png":
        buf = io.BytesIO()
        Image.new("RGB", (32, 24), (200, 100, 50)).save(buf, "PNG")
        return buf.getvalue()
    if kind == "mp4":
        return _ffmpeg(tmp, "a.mp4", "-f", "lavfi", "-i",
                       "testsrc=duration=0.3:size=32x24:rate=10", "-c:v", "libx264")
    return _ffmpeg(tmp, "a.wav", "-f", "lavfi", "-i", "sine=duration=0.3")


@pytest.mark.parametrize("kind", ["jpeg", "mp4", "wav", "png"])
def test_relabel_signed_file_with_signer_keeps_chain_valid(kind: str, ca: TestCA,
                                                           creds: SigningCredentials,
                                                           tmp_path: Path) -> None:
    """A C2PA-signed JPEG/MP4/WAV/PNG labelled again with a signer is Valid for c2pa's Reader,
    with the previous signed file as the parentOf ingredient."""
    import c2pa

    signed, _ = sign_bytes(_media(kind, tmp_path), creds, label=FIRST)
    src = tmp_path / f"signed.{kind}"
    src.write_bytes(signed)
    dst = tmp_path / f"relabelled.{kind}"
    result = pipeline.label_file(src, dst, label=SECOND, credentials=creds)
    assert result.had_manifest and result.parent_ingredient and not result.warnings
    report = read_c2pa(dst, trust_anchors=ca.trust_anchors)
    assert report is not None and report.valid and report.trusted, report.failures
    assert report.aigc is not None and report.aigc["ProduceID"] == "second"
    mime = {"jpeg": "image/jpeg", "mp4": "video/mp4", "wav": "audio/wav",
            "png": "image/png"}[kind]
    with c2pa.Reader(mime, io.BytesIO(dst.read_bytes())) as reader:
        active = reader.get_active_manifest()
        assert reader.get_validation_state() in ("Valid", "Trusted")
    ingredients = active.get("ingredients", [])
    assert [i.get("relationship") for i in ingredients] == ["parentOf"]
    assert ingredients[0].get("active_manifest")  # the old manifest travels with it
    verdict = inspect(dst, trust_anchors=ca.trust_anchors)
    assert verdict.verdict == "compliant" and verdict.labels[0].fields is not None
    assert verdict.labels[0].fields["ProduceID"] == "second"


def test_relabel_signed_file_without_signer_warns(creds: SigningCredentials, ca: TestCA,
                                                  tmp_path: Path) -> None:
    """Without a signer the label is written, the result says the old manifest is now
    invalid and how to fix it; inspect's verdict is about GB 45438 alone."""
    signed, _ = sign_bytes(_jpeg(), creds, label=FIRST)
    src = tmp_path / "signed.jpg"
    src.write_bytes(signed)
    dst = tmp_path / "relabelled.jpg"
    result = pipeline.label_file(src, dst, label=SECOND, sign=False)
    assert result.had_manifest and not result.parent_ingredient
    assert result.warnings == (pipeline.MANIFEST_BROKEN,)
    report = inspect(dst, trust_anchors=ca.trust_anchors)
    assert report.verdict == "compliant"
    assert report.c2pa is not None and not report.c2pa["valid"]
    assert report.c2pa["problems"]


def test_remote_manifest_is_reported_not_fetched(creds: SigningCredentials) -> None:
    """A file whose manifest lives at a URL: present, not valid, URL named, no fetch."""
    import c2pa

    from genai_compliance.labelling.c2pa import _settings, manifest_definition

    builder = c2pa.Builder.from_json(manifest_definition(label=FIRST), _settings())
    builder.set_no_embed()
    builder.set_remote_url("https://manifests.example.invalid/m.c2pa")
    out = io.BytesIO()
    builder.sign(creds.c2pa_signer(), "image/jpeg", io.BytesIO(_jpeg()), out)
    report = read_c2pa(out.getvalue())
    assert report is not None and report.present and not report.valid
    assert report.remote_url == "https://manifests.example.invalid/m.c2pa"
    doc = inspect(out.getvalue())
    assert doc.c2pa is not None and doc.c2pa["remote_url"] == report.remote_url
    assert doc.verdict == "not-found"  # no GB 45438 label; the manifest is beside it
    doc.to_json()


@pytest.fixture(name="signed_media", scope="module")
def _signed_media(creds: SigningCredentials, tmp_path_factory: pytest.TempPathFactory
                  ) -> list[bytes]:
    tmp = tmp_path_factory.mktemp("sm")
    out = [sign_bytes(_jpeg(), creds, label=FIRST)[0]]
    if shutil.which("ffmpeg"):
        out.append(sign_bytes(_media("mp4", tmp), creds, label=FIRST)[0])
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_manifest_raises_only_typed_errors(signed_media: list[bytes],
                                                   data: st.DataObject) -> None:
    """Bytes flipped or cut anywhere in a signed JPEG/MP4: read_c2pa returns a report or
    None, or raises MalformedMedia; inspect always returns a report (no KeyError)."""
    blob = bytearray(data.draw(st.sampled_from(signed_media)))
    start = blob.find(b"jumb")
    start = start if start >= 0 else 0
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(max(0, start - 64), len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del blob[data.draw(st.integers(start, len(blob) - 1)):]
    try:
        read_c2pa(bytes(blob))
    except MalformedMedia:
        pass
    inspect(bytes(blob)).to_json()


def test_temp_file_never_follows_a_symlink(tmp_path: Path) -> None:
    """The writers' temp file is created exclusively: a symlink planted at the old
    predictable name is never written through."""
    from genai_compliance.labelling.c2pa import _atomic_write

    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    dst = tmp_path / "out.bin"
    os.symlink(victim, tmp_path / f".out.bin.{os.getpid()}.tmp")
    _atomic_write(dst, b"new")
    assert dst.read_bytes() == b"new" and victim.read_text() == "keep"
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".out.bin.")
                 and not p.is_symlink()]
    assert leftovers == []


def test_unparsable_container_without_manifest_reports_no_c2pa() -> None:
    """A skeletal file c2pa cannot parse but that holds no C2PA data gets ``c2pa: null``,
    not a phantom unreadable manifest."""
    import struct
    import zlib

    payload = b"AIGC\x00" + FIRST.to_json().encode()
    chunk = (struct.pack(">I", len(payload)) + b"tEXt" + payload
             + struct.pack(">I", zlib.crc32(b"tEXt" + payload)))
    report = inspect(b"\x89PNG\r\n\x1a\n" + chunk)
    assert report.verdict == "compliant" and report.c2pa is None
