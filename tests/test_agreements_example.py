"""The shipped examples/compliance.toml renders the agreement through the CLI (IM-9)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from genai_compliance.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "compliance.toml"


@pytest.mark.parametrize(("lang", "fmt"), [("zh", "md"), ("en", "html")])
def test_example_config_renders(tmp_path: Path, lang: str, fmt: str) -> None:
    """`agreement render` on the example config writes every clause and exits 0."""
    cfg = tmp_path / "compliance.toml"
    shutil.copy(EXAMPLE, cfg)
    out = tmp_path / f"agreement.{fmt}"
    assert main(["agreement", "render", "--lang", lang, "--format", fmt,
                 "--config", str(cfg), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "https://example.cn/report" in text and "15" in text
