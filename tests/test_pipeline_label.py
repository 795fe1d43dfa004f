"""The one-call labelling pipeline (LM-4, LM-5, IM-12): explicit -> implicit -> C2PA sign ->
`label.issued` ledger record."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from genai_compliance.crypto import SigningCredentials, TestCA, create_test_ca
from genai_compliance.errors import ConfigurationError
from genai_compliance.labelling import pipeline
from genai_compliance.labelling.c2pa import read_c2pa, sidecar_path

LABEL = {"Label": "1", "ContentProducer": "0011TEST", "ProduceID": "pid-42",
         "ReservedCode1": "", "ContentPropagator": "", "PropagateID": "", "ReservedCode2": ""}


def _real_implicit() -> bool:
    try:
        return hasattr(importlib.import_module("genai_compliance.labelling.implicit"),
                       "label_bytes") and importlib.util.find_spec(
                           "genai_compliance.labelling.aigc") is not None
    except ImportError:
        return False


@pytest.fixture(name="ca", scope="module")
def _ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return create_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(name="creds", scope="module")
def _creds(ca: TestCA) -> SigningCredentials:
    return SigningCredentials.from_pem(ca.chain, ca.key, trust_anchors=ca.trust_anchors)


@pytest.fixture(name="png")
def _png(tmp_path: Path) -> Path:
    path = tmp_path / "gen.png"
    Image.new("RGB", (80, 60), "orange").save(path, "PNG")
    return path


@pytest.fixture(name="stub_implicit")
def _stub_implicit(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A stand-in implicit labeller writing the AIGC JSON into a PNG tEXt chunk."""
    calls: list[str] = []

    def label_file(src: Path, dst: Path, label: Any, *, format: str | None = None) -> str:
        text = json.dumps(label, separators=(",", ":"))
        calls.append(text)
        info = PngImagePlugin.PngInfo()
        info.add_text("AIGC", text)
        Image.open(src).save(dst, "PNG", pnginfo=info)
        return "png"

    implicit = importlib.import_module("genai_compliance.labelling.implicit")
    monkeypatch.setattr(implicit, "label_file", label_file)
    return calls


def test_pipeline_signs_over_the_implicit_label_and_records(
        compliance: Any, png: Path, tmp_path: Path, creds: SigningCredentials,
        ca: TestCA, stub_implicit: list[str]) -> None:
    """Implicit label first, then a trusted signature covering it, then a label.issued
    record naming hash, ProduceID, formats and signer."""
    dst = tmp_path / "out.png"
    result = pipeline.label_file(png, dst, label=LABEL, credentials=creds,
                                 compliance=compliance)
    assert stub_implicit and result.signed and not result.sidecar
    assert Image.open(dst).text["AIGC"] == json.dumps(LABEL, separators=(",", ":"))
    report = read_c2pa(dst, trust_anchors=ca.trust_anchors)
    assert report is not None and report.trusted and report.aigc == LABEL
    prov = compliance.provider
    name = prov.product_name_en or prov.product_name
    assert report.claim_generator == f"{name} {prov.product_version}"
    records = list(compliance.records("label.issued"))
    assert len(records) == 1 and records[0].seq == result.record_seq
    payload = records[0].payload
    assert payload["produce_id"] == "pid-42" and payload["sha256"] == result.sha256
    assert payload["formats"] == {"mime": "image/png", "explicit": False, "implicit": True,
                                  "c2pa": "embedded"}
    assert payload["signer"] == creds.subject


def test_unsigned_without_credentials(compliance: Any, png: Path, tmp_path: Path,
                                      stub_implicit: list[str]) -> None:
    """Without credentials the file is implicitly labelled, unsigned, and still recorded."""
    result = pipeline.label_file(png, tmp_path / "o.png", label=LABEL, compliance=compliance)
    assert not result.signed and result.manifest is None
    assert read_c2pa(tmp_path / "o.png") is None
    (record,) = compliance.records("label.issued")
    assert record.payload["formats"]["c2pa"] is None


def test_sign_true_without_credentials_is_a_configuration_error(
        png: Path, tmp_path: Path, stub_implicit: list[str]) -> None:
    """sign=True with no credentials anywhere fails before writing anything."""
    with pytest.raises(ConfigurationError):
        pipeline.label_file(png, tmp_path / "o.png", label=LABEL, sign=True)
    assert not (tmp_path / "o.png").exists()


def test_credentials_from_config_section(compliance: Any, png: Path, tmp_path: Path,
                                         ca: TestCA, stub_implicit: list[str]) -> None:
    """[c2pa] cert/key/trust_anchors/thumbnail in the settings sign without arguments."""
    compliance.settings["c2pa"] = {"cert": str(ca.chain), "key": str(ca.key),
                                   "trust_anchors": str(ca.trust_anchors)}
    result = pipeline.label_file(png, tmp_path / "c.png", label=LABEL, compliance=compliance)
    assert result.signed and result.signer == "C=CN,O=genai-compliance TEST ONLY," \
        "CN=genai-compliance TEST Content Signer"
    report = read_c2pa(tmp_path / "c.png", trust_anchors=ca.trust_anchors)
    assert report is not None and report.trusted


def test_explicit_label_applied_when_configured(compliance: Any, png: Path, tmp_path: Path,
                                               creds: SigningCredentials,
                                               stub_implicit: list[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """[labelling] explicit = true runs apply_explicit (with text/position) before the
    implicit label."""
    seen: list[tuple[str | None, str | None]] = []
    explicit = importlib.import_module("genai_compliance.labelling.explicit")

    def apply_explicit(data: bytes, *, text: str | None = None,
                       position: str | None = None) -> bytes:
        seen.append((text, position))
        assert not stub_implicit, "explicit must run before the implicit label"
        return data

    monkeypatch.setattr(explicit, "apply_explicit", apply_explicit)
    compliance.settings["labelling"] = {"explicit": True}
    result = pipeline.label_file(png, tmp_path / "e.png", label=LABEL, credentials=creds,
                                 compliance=compliance, explicit_text="AI生成",
                                 position="bottom-right")
    assert result.explicit and seen == [("AI生成", "bottom-right")]


def test_sidecar_when_the_format_cannot_embed(tmp_path: Path, creds: SigningCredentials,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A format c2pa cannot embed into gets the label and a .c2pa sidecar."""
    implicit = importlib.import_module("genai_compliance.labelling.implicit")
    monkeypatch.setattr(implicit, "label_file",
                        lambda src, dst, label, format=None: Path(dst).write_bytes(
                            Path(src).read_bytes() + b"\nAIGC " + json.dumps(label).encode()))
    src = tmp_path / "t.txt"
    src.write_text("generated text", encoding="utf-8")
    result = pipeline.label_file(src, tmp_path / "o.txt", label=LABEL, credentials=creds)
    assert result.sidecar and result.manifest == sidecar_path(tmp_path / "o.txt")
    report = read_c2pa(tmp_path / "o.txt")
    assert report is not None and report.valid and report.sidecar


@pytest.mark.skipif(not _real_implicit(),
                    reason="labelling.implicit.label_bytes / labelling.aigc not merged yet")
@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")
def test_real_pipeline_default_label_exiftool_reads_xmp(compliance: Any, tmp_path: Path,
                                                         creds: SigningCredentials,
                                                         ca: TestCA) -> None:
    """With the real implicit labeller: the default label carries the producer code and a
    fresh ProduceID, exiftool still reads the XMP AIGC after signing, and it is trusted."""
    src = tmp_path / "in.jpg"
    Image.new("RGB", (64, 64), "red").save(src, "JPEG")
    dst = tmp_path / "out.jpg"
    result = pipeline.label_file(src, dst, credentials=creds, compliance=compliance)
    assert result.label["ContentProducer"] == compliance.provider.producer_code
    assert result.produce_id
    out = subprocess.run(["exiftool", "-j", "-XMP:all", str(dst)], check=True,
                         capture_output=True, text=True).stdout
    assert result.produce_id in out
    report = read_c2pa(dst, trust_anchors=ca.trust_anchors)
    assert report is not None and report.trusted
