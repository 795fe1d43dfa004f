"""C2PA signing and verification per format (LM-5, IM-12): embedded manifests, sidecars,
trust, tampering, the GB 45438 assertion and the IPTC digital source type."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import c2pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from genai_compliance.crypto import SigningCredentials, TestCA, create_test_ca
from genai_compliance.errors import ComplianceError, UnsupportedMedia
from genai_compliance.labelling.c2pa import (
    COMPOSITE,
    GB45438_ASSERTION,
    GB45438_FIELDS,
    TRAINED,
    manifest_definition,
    read_c2pa,
    sidecar_path,
    sign_bytes,
    sign_file,
    sniff_mime,
)
from genai_compliance.schemas import validate

LABEL = {"Label": "1", "ContentProducer": "001191110000000000000000X10000",
         "ProduceID": "p-123", "ReservedCode1": "", "ContentPropagator": "",
         "PropagateID": "", "ReservedCode2": ""}
IMAGES = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "gif": "GIF", "tiff": "TIFF",
          "pdf": "PDF"}
AV = {"wav": ["-f", "lavfi", "-i", "sine=d=0.2"], "mp3": ["-f", "lavfi", "-i", "sine=d=0.2"],
      "flac": ["-f", "lavfi", "-i", "sine=d=0.2"], "m4a": ["-f", "lavfi", "-i", "sine=d=0.2"],
      "mp4": ["-f", "lavfi", "-i", "testsrc=size=64x64:rate=5", "-t", "0.4",
              "-pix_fmt", "yuv420p"]}
SIDECAR = {"ogg": ["-f", "lavfi", "-i", "sine=d=0.2"],
           "mkv": ["-f", "lavfi", "-i", "testsrc=size=64x64:rate=5", "-t", "0.4"]}


@pytest.fixture(name="ca", scope="module")
def _ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return create_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(name="creds", scope="module")
def _creds(ca: TestCA) -> SigningCredentials:
    return SigningCredentials.from_pem(ca.chain, ca.key, trust_anchors=ca.trust_anchors)


@pytest.fixture(name="media", scope="module")
def _media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    out: dict[str, Path] = {}
    img = Image.effect_noise((96, 96), 60).convert("RGB")
    for ext, fmt in IMAGES.items():
        out[ext] = folder / f"in.{ext}"
        img.save(out[ext], fmt)
    if shutil.which("ffmpeg"):
        for ext, args in {**AV, **SIDECAR}.items():
            out[ext] = folder / f"in.{ext}"
            subprocess.run(["ffmpeg", "-v", "error", "-y", *args, str(out[ext])], check=True)
    (folder / "in.txt").write_text("本内容由人工智能生成 hello\n", encoding="utf-8")
    out["txt"] = folder / "in.txt"
    return out


def _flip_content_byte(original: bytes, signed: bytes) -> bytes:
    """Flip one byte of the asset's own data (a snippet of the original found in the signed
    file, taken from its second half where pixel/sample data lives)."""
    for start in range(len(original) * 2 // 3, len(original) - 16, 7):
        snippet = original[start:start + 16]
        where = signed.find(snippet)
        if where >= 0 and signed.count(snippet) == 1:
            out = bytearray(signed)
            out[where + 8] ^= 0x01
            return bytes(out)
    raise AssertionError("no unique content snippet found")


EMBEDDED = [*IMAGES, *AV]


@pytest.mark.parametrize("ext", EMBEDDED)
def test_sign_then_reader_valid_trusted_untrusted_tampered(ext: str, media: dict[str, Path],
                                                          creds: SigningCredentials,
                                                          ca: TestCA, tmp_path: Path) -> None:
    """Each embeddable format: signed, read by c2pa.Reader as Trusted with our anchors,
    untrusted without, and tampered after one changed content byte (LM-5)."""
    if ext not in media:
        pytest.fail("ffmpeg is required to generate the audio/video fixtures")
    dst = tmp_path / f"out.{ext}"
    manifest_at = sign_file(media[ext], dst, creds, label=LABEL)
    assert manifest_at == dst and not sidecar_path(dst).exists()
    signed = dst.read_bytes()
    settings_ = {"verify": {"verify_trust": True, "remote_manifest_fetch": False},
                 "trust": {"trust_anchors": ca.trust_anchors.read_text()}}
    with c2pa.Reader(sniff_mime(signed), io.BytesIO(signed), None,
                     c2pa.Context(c2pa.Settings.from_dict(settings_))) as reader:
        assert reader.get_validation_state() == "Trusted"
    trusted = read_c2pa(dst, trust_anchors=ca.trust_anchors)
    assert trusted is not None and trusted.valid and trusted.trusted and not trusted.tampered
    assert trusted.aigc == LABEL and trusted.digital_source_type == TRAINED
    untrusted = read_c2pa(signed)
    assert untrusted is not None and untrusted.valid and not untrusted.trusted
    assert "signingCredential.untrusted" in untrusted.failures
    tampered = read_c2pa(_flip_content_byte(media[ext].read_bytes(), signed),
                         trust_anchors=ca.trust_anchors)
    assert tampered is not None and tampered.tampered and not tampered.valid


@pytest.mark.parametrize("ext", [*SIDECAR, "txt"])
def test_sidecar_for_formats_c2pa_cannot_embed(ext: str, media: dict[str, Path],
                                               creds: SigningCredentials, ca: TestCA,
                                               tmp_path: Path) -> None:
    """Ogg, Matroska and text get an unchanged copy plus a `.c2pa` sidecar that verifies
    and detects a changed byte."""
    if ext not in media:
        pytest.fail("ffmpeg is required to generate the fixtures")
    dst = tmp_path / f"out.{ext}"
    at = sign_file(media[ext], dst, creds, label=LABEL)
    assert at == sidecar_path(dst) and dst.read_bytes() == media[ext].read_bytes()
    report = read_c2pa(dst, trust_anchors=ca.trust_anchors)
    assert report is not None and report.sidecar and report.trusted and report.aigc == LABEL
    data = bytearray(dst.read_bytes())
    data[len(data) // 2] ^= 0x01
    dst.write_bytes(bytes(data))
    again = read_c2pa(dst, trust_anchors=ca.trust_anchors)
    assert again is not None and again.tampered and not again.valid


def test_forced_sidecar_on_png_leaves_the_png_unchanged(media: dict[str, Path],
                                                        creds: SigningCredentials,
                                                        tmp_path: Path) -> None:
    """sidecar=True writes the manifest beside an unchanged PNG."""
    dst = tmp_path / "side.png"
    at = sign_file(media["png"], dst, creds, sidecar=True)
    assert at == sidecar_path(dst) and dst.read_bytes() == media["png"].read_bytes()
    assert read_c2pa(dst.read_bytes()) is None
    report = read_c2pa(dst)
    assert report is not None and report.valid and report.sidecar


def test_sidecar_false_refuses_an_unknown_format(media: dict[str, Path],
                                                 creds: SigningCredentials,
                                                 tmp_path: Path) -> None:
    """sidecar=False on a format c2pa cannot embed into raises UnsupportedMedia."""
    with pytest.raises(UnsupportedMedia):
        sign_file(media["txt"], tmp_path / "x.txt", creds, sidecar=False)


def test_unsigned_file_reads_as_none(media: dict[str, Path]) -> None:
    """A file without a manifest gives None, not an empty report."""
    assert read_c2pa(media["png"]) is None
    assert read_c2pa(b"plain text") is None


def test_report_json_matches_schema_and_names_the_signer(media: dict[str, Path],
                                                         creds: SigningCredentials,
                                                         ca: TestCA) -> None:
    """The report's JSON validates against c2pa-report and carries signer, generator and
    the seven GB 45438 fields."""
    signed, _ = sign_bytes(media["jpg"].read_bytes(), creds, label=LABEL,
                           generator="TestGPT", version="2.1")
    report = read_c2pa(signed, trust_anchors=ca.trust_anchors.read_bytes())
    assert report is not None
    doc = json.loads(report.to_json())
    validate(doc, "c2pa-report")
    assert doc["signer"] == "genai-compliance TEST Content Signer"
    assert doc["claim_generator"] == "TestGPT 2.1"
    assert set(doc["aigc"]) == set(GB45438_FIELDS)


def test_composite_edit_records_the_input_as_ingredient(media: dict[str, Path],
                                                        creds: SigningCredentials) -> None:
    """An edit of a user's input is compositeWithTrainedAlgorithmicMedia with the input as
    an ingredient."""
    signed, _ = sign_bytes(media["png"].read_bytes(), creds, label=LABEL,
                           ingredient=media["jpg"].read_bytes())
    report = read_c2pa(signed)
    assert report is not None and report.digital_source_type == COMPOSITE
    with c2pa.Reader("image/png", io.BytesIO(signed)) as reader:
        active = reader.get_active_manifest()
    assert active is not None and len(active.get("ingredients", [])) == 1


def test_thumbnail_is_off_by_default_and_on_when_asked(media: dict[str, Path],
                                                       creds: SigningCredentials) -> None:
    """No claim thumbnail unless thumbnail=True."""
    data = media["jpg"].read_bytes()
    plain, _ = sign_bytes(data, creds)
    thumb, _ = sign_bytes(data, creds, thumbnail=True)
    with c2pa.Reader("image/jpeg", io.BytesIO(plain)) as r1:
        assert "thumbnail" not in (r1.get_active_manifest() or {})
    with c2pa.Reader("image/jpeg", io.BytesIO(thumb)) as r2:
        assert "thumbnail" in (r2.get_active_manifest() or {})


_EXIFTOOL_CONFIG = """%Image::ExifTool::UserDefined = ('Image::ExifTool::XMP::Main' => {
    TC260 => { SubDirectory => { TagTable => 'Image::ExifTool::UserDefined::TC260' } } });
%Image::ExifTool::UserDefined::TC260 = (
    GROUPS => { 0 => 'XMP', 1 => 'XMP-TC260', 2 => 'Image' },
    NAMESPACE => { 'TC260' => 'http://www.tc260.org.cn/ns/AIGC/1.0/' },
    WRITABLE => 'string', AIGC => { });
1;
"""


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")
def test_xmp_written_before_signing_survives_the_signature(tmp_path: Path,
                                                           creds: SigningCredentials) -> None:
    """An XMP TC260:AIGC label written first is still read by exiftool after signing."""
    src = tmp_path / "x.jpg"
    Image.new("RGB", (64, 64), "blue").save(src, "JPEG")
    cfg = tmp_path / "tc260.cfg"
    cfg.write_text(_EXIFTOOL_CONFIG, encoding="utf-8")
    value = json.dumps({"Label": "1", "ProduceID": "p-123"}, separators=(",", ":"))
    subprocess.run(["exiftool", "-config", str(cfg), "-q", "-overwrite_original",
                    f"-XMP-TC260:AIGC={value}", str(src)], check=True)
    dst = tmp_path / "signed.jpg"
    sign_file(src, dst, creds, label=LABEL)
    out = subprocess.run(["exiftool", "-config", str(cfg), "-j", "-XMP-TC260:AIGC", str(dst)],
                         check=True, capture_output=True, text=True).stdout
    assert json.loads(json.loads(out)[0]["AIGC"]) == {"Label": "1", "ProduceID": "p-123"}
    report = read_c2pa(dst)
    assert report is not None and report.valid


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=256))
def test_sniff_and_read_never_crash_on_arbitrary_bytes(data: bytes) -> None:
    """Arbitrary bytes: sniff_mime returns a type or None; read_c2pa None or a typed error."""
    assert sniff_mime(data) is None or "/" in (sniff_mime(data) or "")
    try:
        result = read_c2pa(data)
    except ComplianceError:
        return
    assert result is None or result.present


@settings(max_examples=50, deadline=None)
@given(st.fixed_dictionaries({f: st.text(max_size=40) for f in GB45438_FIELDS}),
       st.booleans())
def test_manifest_definition_carries_all_seven_fields(fields: dict[str, str],
                                                      composite: bool) -> None:
    """The definition holds c2pa.created with the right source type and the seven fields
    unchanged under cn.gb45438.aigc."""
    definition = manifest_definition(label=fields, composite=composite)
    by_label = {a["label"]: a["data"] for a in definition["assertions"]}
    assert by_label[GB45438_ASSERTION] == fields
    action = by_label["c2pa.actions"]["actions"][0]
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"] == (COMPOSITE if composite else TRAINED)


def test_one_offline_context_is_reused_per_thread() -> None:
    """Signatures and reads reuse one c2pa Context per thread and option set (a new one per
    signature cost 6-10 %, issue 19), never shared across threads; every context keeps
    c2pa offline: no remote-manifest fetch, no OCSP fetch, no network host allowed."""
    import threading

    from genai_compliance.labelling import c2pa as ours

    first = ours._settings()
    assert ours._settings() is first
    assert ours._settings(thumbnail=True) is not first
    other: list[object] = []
    worker = threading.Thread(target=lambda: other.append(ours._settings()))
    worker.start()
    worker.join()
    assert other and other[0] is not first
    offline = ours.OFFLINE_SETTINGS
    assert offline["verify"]["remote_manifest_fetch"] is False
    assert offline["verify"]["ocsp_fetch"] is False
    assert offline["core"]["allowed_network_hosts"] == []


def test_sign_file_streams_into_a_temp_file_beside_the_target(
        media: dict[str, Path], tmp_path: Path, creds: SigningCredentials) -> None:
    """sign_file writes through a temp file beside dst and leaves only dst behind; the
    relabel parent and the ingredient may be paths."""
    dst = tmp_path / "out" / "signed.jpg"
    dst.parent.mkdir()
    sign_file(media["jpg"], dst, creds, label=LABEL, ingredient=media["png"],
              parent=media["jpg"])
    assert [p.name for p in dst.parent.iterdir()] == ["signed.jpg"]
    report = read_c2pa(dst)
    assert report is not None and report.valid and report.aigc == LABEL
