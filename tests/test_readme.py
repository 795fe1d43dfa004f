"""README.md's first example runs as written (issue 13: the examples are the truth)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _first_python_block() -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    match = re.search(r"```python\n(.*?)```", text, re.S)
    assert match, "README.md has no python example"
    return match.group(1)


def test_readme_first_example_runs_as_written(tmp_path: Path) -> None:
    """The first example, run from a fresh folder holding examples/keywords.csv, prints a
    labelled answer, and the ledger commands the README shows next all succeed on it."""
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "keywords.csv", tmp_path / "examples" / "keywords.csv")
    script = tmp_path / "first.py"
    script.write_text(_first_python_block(), "utf-8")
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("本内容由人工智能生成")
    assert "长城" in run.stdout
    assert (tmp_path / "example-ledger-state.db").exists()
    # the ledger commands the README shows next: public key, strict verify, a proof checked
    # offline, an export
    text = (ROOT / "README.md").read_text("utf-8")
    commands = re.findall(r"```sh\n(.*?)```", text, re.S)[1]
    assert "ledger verify" in commands
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}"
                                f"{os.environ.get('PATH', '')}")
    run = subprocess.run(["bash", "-e", "-c", commands], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
