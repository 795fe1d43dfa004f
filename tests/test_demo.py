"""`make demo`'s script runs end to end and leaves a ledger that verifies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from genai_compliance.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_runs_and_its_ledger_verifies(tmp_path: Path) -> None:
    """The demo exits 0, writes its outputs and a ledger `ledger verify` accepts."""
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[11/11]" in proc.stdout and "ledger intact" in proc.stdout
    for name in ("report.html", "image.png", "audio.wav", "answer.txt", "ledger.db"):
        assert (tmp_path / name).is_file(), name
    assert "refused" in proc.stdout and "curfew" in proc.stdout
    assert main(["ledger", "verify", f"sqlite:///{tmp_path / 'ledger.db'}"]) == 0


@pytest.mark.slow
def test_dossier_from_the_demos_registers_is_complete(tmp_path: Path) -> None:
    """The dossier built from the demo's registers validates and names no missing item."""
    import json

    from genai_compliance.schemas import validate

    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "dossier" / "dossier.json").read_text(encoding="utf-8"))
    validate(doc, "dossier")
    assert doc["missing"] == []
    assert doc["training_data"]["accepted_sources"] == 1
    assert doc["evaluation"][0]["passed"] is True
