"""``genai-compliance label`` / ``inspect`` command lines (LM-4, LM-5, LM-6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from genai_compliance.cli import main
from genai_compliance.crypto import create_test_ca
from genai_compliance.labelling import AIGCLabel, read_labels


@pytest.fixture(name="png")
def _png(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    Image.new("RGB", (64, 48), "navy").save(path, "PNG")
    return path


def test_label_then_inspect(png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                            ) -> None:
    """label writes the implicit label; inspect reports compliant and exits 0."""
    out = tmp_path / "out.png"
    assert main(["label", str(png), "-o", str(out), "--producer", "Prod",
                 "--produce-id", "p-1", "--label", "2"]) == 0
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [
        AIGCLabel(label="2", content_producer="Prod", produce_id="p-1")]
    capsys.readouterr()
    assert main(["inspect", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["verdict"], doc["tier"]) == ("compliant", "possibly")


def test_inspect_exits_1_when_any_file_lacks_a_label(png: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    """inspect exits 1 unless every file is compliant, and prints each verdict."""
    out = tmp_path / "out.png"
    main(["label", str(png), "-o", str(out), "--producer", "P", "--produce-id", "x"])
    capsys.readouterr()
    assert main(["inspect", str(out), str(png)]) == 1
    text = capsys.readouterr().out
    assert "compliant" in text and "not-found" in text


def test_bad_label_value_is_usage_error(png: Path, tmp_path: Path) -> None:
    """A producer with a space is refused (exit 2) and nothing is written."""
    out = tmp_path / "o.png"
    assert main(["label", str(png), "-o", str(out), "--producer", "a b",
                 "--produce-id", "x"]) == 2
    assert not out.exists()


def test_label_sign_with_pem(png: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    """--sign --cert --key signs with C2PA; inspect with the trust anchors is compliant."""
    ca = create_test_ca(tmp_path / "ca")
    out = tmp_path / "signed.png"
    assert main(["label", str(png), "-o", str(out), "--producer", "P", "--produce-id", "s1",
                 "--sign", "--cert", str(ca.chain), "--key", str(ca.key)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out), "--json", "--trust-anchors",
                 str(ca.trust_anchors)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["c2pa"]["valid"] and doc["c2pa"]["trusted"]


def test_label_explicit_changes_pixels(png: Path, tmp_path: Path) -> None:
    """--explicit adds the visible label (pixels change) and the implicit one."""
    out = tmp_path / "e.png"
    assert main(["label", str(png), "-o", str(out), "--producer", "P", "--produce-id", "e1",
                 "--explicit", "--text", "AI生成", "--position", "bottom-right"]) == 0
    with Image.open(png) as a, Image.open(out) as b:
        assert a.tobytes() != b.convert(a.mode).tobytes()
    assert len(read_labels(out)) == 1
