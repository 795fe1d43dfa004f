"""``genai-compliance label`` / ``inspect`` command lines (LM-4, LM-5, LM-6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from genai_compliance.cli import main
from genai_compliance.crypto import create_test_ca
from genai_compliance.labelling import AIGCLabel, read_labels

#: a valid producer code (TC260-PG-20252A) built from a USCC with a correct check character.
CODE = "001191350100M000100Y431A001"


@pytest.fixture(name="png")
def _png(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    Image.new("RGB", (64, 48), "navy").save(path, "PNG")
    return path


def test_label_then_inspect(png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                            ) -> None:
    """label writes the implicit label; inspect reports compliant and exits 0."""
    out = tmp_path / "out.png"
    assert main(["label", str(png), "-o", str(out), "--producer", CODE,
                 "--produce-id", "p-1", "--label", "2"]) == 0
    assert [AIGCLabel.from_json(r.text) for r in read_labels(out)] == [
        AIGCLabel(label="2", content_producer=CODE, produce_id="p-1")]
    capsys.readouterr()
    assert main(["inspect", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["verdict"], doc["tier"]) == ("compliant", "possibly")


def test_inspect_exits_1_when_any_file_lacks_a_label(png: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    """inspect exits 1 unless every file is compliant, and prints each verdict."""
    out = tmp_path / "out.png"
    main(["label", str(png), "-o", str(out), "--producer", CODE, "--produce-id", "x"])
    capsys.readouterr()
    assert main(["inspect", str(out), str(png)]) == 1
    text = capsys.readouterr().out
    assert "compliant" in text and "not-found" in text


def test_bad_label_value_is_usage_error(png: Path, tmp_path: Path) -> None:
    """A producer with a space is refused (exit 2) and nothing is written."""
    out = tmp_path / "o.png"
    assert main(["label", str(png), "-o", str(out), "--producer", "a b", "--producer-name",
                 "--produce-id", "x"]) == 2
    assert not out.exists()


def test_label_sign_with_pem(png: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    """--sign --cert --key signs with C2PA; inspect with the trust anchors is compliant."""
    ca = create_test_ca(tmp_path / "ca")
    out = tmp_path / "signed.png"
    assert main(["label", str(png), "-o", str(out), "--producer", CODE, "--produce-id", "s1",
                 "--sign", "--cert", str(ca.chain), "--key", str(ca.key)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out), "--json", "--trust-anchors",
                 str(ca.trust_anchors)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["c2pa"]["valid"] and doc["c2pa"]["trusted"]


def test_label_explicit_changes_pixels(png: Path, tmp_path: Path) -> None:
    """--explicit adds the visible label (pixels change) and the implicit one."""
    out = tmp_path / "e.png"
    assert main(["label", str(png), "-o", str(out), "--producer", CODE, "--produce-id", "e1",
                 "--explicit", "--text", "AI生成", "--position", "bottom-right"]) == 0
    with Image.open(png) as a, Image.open(out) as b:
        assert a.tobytes() != b.convert(a.mode).tobytes()
    assert len(read_labels(out)) == 1


def test_bad_producer_code_is_refused(png: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """--producer BADCODE is refused with one line naming the 27-character code (exit 2);
    a code whose USCC check character is wrong is refused too (issue 16)."""
    out = tmp_path / "o.png"
    assert main(["label", str(png), "-o", str(out), "--producer", "BADCODE",
                 "--produce-id", "x"]) == 2
    err = capsys.readouterr().err
    assert "27 characters" in err and len(err.strip().splitlines()) == 1
    bad_check = CODE[:21] + ("0" if CODE[21] != "0" else "1") + CODE[22:]
    assert main(["label", str(png), "-o", str(out), "--producer", bad_check,
                 "--produce-id", "x"]) == 2
    assert "check character" in capsys.readouterr().err
    assert not out.exists()


def test_producer_name_is_allowed_when_said(png: Path, tmp_path: Path) -> None:
    """--producer-name takes a provider name instead of a code (Annex E allows either)."""
    out = tmp_path / "o.png"
    assert main(["label", str(png), "-o", str(out), "--producer", "ExampleAI",
                 "--producer-name", "--produce-id", "x"]) == 0


def test_producer_code_command(capsys: pytest.CaptureFixture[str]) -> None:
    """producer-code builds the code from the USCC and model code; a bad USCC exits 2."""
    assert main(["producer-code", "--uscc", "91350100M000100Y43", "--model", "A001"]) == 0
    assert capsys.readouterr().out.strip() == CODE
    assert main(["producer-code", "--uscc", "911100007109344040", "--model", "A001"]) == 2
    assert "check character" in capsys.readouterr().err


def test_format_markdown_labels_heading_only_text(tmp_path: Path) -> None:
    """A heading-only Markdown file is refused without --format and labelled with it."""
    src = tmp_path / "a.md"
    src.write_text("# Title\n\nBody\n")
    out = tmp_path / "b.md"
    args = ["label", str(src), "-o", str(out), "--producer", CODE, "--produce-id", "m"]
    assert main(args) == 2
    assert main([*args, "--format", "markdown"]) == 0
    assert len(read_labels(out)) == 1


def test_test_ca_chain_is_not_labelled_as_markdown(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The test CA's chain.pem is refused (PEM), not given front matter (issue 16)."""
    ca = create_test_ca(tmp_path / "ca")
    before = ca.chain.read_bytes()
    out = tmp_path / "chain-labelled.pem"
    assert main(["label", str(ca.chain), "-o", str(out), "--producer", CODE,
                 "--produce-id", "x"]) == 2
    assert "PEM" in capsys.readouterr().err
    assert ca.chain.read_bytes() == before and not out.exists()


def test_inspect_exit_codes(png: Path, tmp_path: Path) -> None:
    """inspect exits 0 all compliant, 1 some non-compliant/not-found, 3 inconclusive."""
    out = tmp_path / "out.png"
    main(["label", str(png), "-o", str(out), "--producer", CODE, "--produce-id", "x"])
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02 not media")
    assert main(["inspect", str(out)]) == 0
    assert main(["inspect", str(out), str(junk)]) == 3
    assert main(["inspect", str(junk), str(png)]) == 1


def test_relabelling_signed_file_without_signer_warns(png: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """Labelling a C2PA-signed file without a signer says the manifest is now invalid and
    how to re-sign or strip it; inspect's verdict stays about GB 45438 (exit 0)."""
    ca = create_test_ca(tmp_path / "ca")
    signed = tmp_path / "signed.png"
    assert main(["label", str(png), "-o", str(signed), "--producer", CODE,
                 "--produce-id", "s1", "--sign", "--cert", str(ca.chain),
                 "--key", str(ca.key)]) == 0
    capsys.readouterr()
    out = tmp_path / "relabelled.png"
    assert main(["label", str(signed), "-o", str(out), "--producer", CODE,
                 "--produce-id", "s2"]) == 0
    err = capsys.readouterr().err
    assert "C2PA manifest" in err and "now invalid" in err and "Re-sign" in err
    assert main(["inspect", str(out), "--json", "--trust-anchors",
                 str(ca.trust_anchors)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "compliant" and doc["c2pa"]["valid"] is False
