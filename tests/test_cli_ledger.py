"""`genai-compliance ledger verify|export` and `rules`, as a user runs them."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from genai_compliance import FrozenClock, Ledger
from genai_compliance.cli import main
from genai_compliance.crypto import generate_ed25519, public_pem


def _ledger(tmp_path: Path, n: int = 5) -> tuple[str, Path]:
    path = tmp_path / "ledger.db"
    clock = FrozenClock("2026-02-01T00:00:00+00:00")
    ledger = Ledger(f"sqlite:///{path}", clock=clock, checkpoint_every=2)
    for i in range(n):
        ledger.append("consent.grant" if i % 2 else "guard.call", {"i": i})
        clock.advance(days=1)
    ledger.close()
    return f"sqlite:///{path}", path


def test_verify_intact_ledger_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    """An intact ledger: exit 0, record and checkpoint counts printed."""
    uri, _ = _ledger(tmp_path)
    assert main(["ledger", "verify", uri]) == 0
    out = capsys.readouterr().out
    assert "records: 5" in out and "checkpoints: 3" in out and "intact" in out


def test_verify_tampered_ledger_exits_one_naming_seq(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """An edited record: exit 1 and the first bad sequence number."""
    uri, path = _ledger(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE gc_ledger_records SET payload = '{\"i\":99}' WHERE seq = 3")
    assert main(["ledger", "verify", uri]) == 1
    assert "first bad sequence number 3" in capsys.readouterr().out


def test_verify_with_pinned_public_key(tmp_path: Path) -> None:
    """--public-key pins the checkpoint key: the embedded key's checkpoints are refused."""
    uri, _ = _ledger(tmp_path)
    pem = tmp_path / "other.pub"
    pem.write_bytes(public_pem(generate_ed25519().public_key()))
    assert main(["ledger", "verify", uri, "--public-key", str(pem)]) == 1
    key = generate_ed25519()
    signed = Ledger(f"sqlite:///{tmp_path / 's.db'}", signing_key=key)
    signed.append("x", {})
    signed.close()
    pem.write_bytes(public_pem(key.public_key()))
    assert main(["ledger", "verify", f"sqlite:///{tmp_path / 's.db'}", "--public-key",
                 str(pem)]) == 0


def test_export_json_lines_with_filters(tmp_path: Path) -> None:
    """export writes JSON Lines, filtered by kind prefix and time range."""
    uri, _ = _ledger(tmp_path)
    out = tmp_path / "out.jsonl"
    assert main(["ledger", "export", uri, "--kind", "consent", "--since", "2026-02-02",
                 "--until", "2026-02-04T12:00:00+00:00", "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["seq"], r["kind"]) for r in rows] == [(2, "consent.grant"), (4, "consent.grant")]
    assert set(rows[0]) == {"seq", "time", "kind", "subject", "payload", "prev_hash", "hash"}


def test_bad_uri_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown scheme exits 2 with the list of known schemes."""
    assert main(["ledger", "verify", "mongo://x"]) == 2
    assert "known schemes" in capsys.readouterr().err


def test_rules_lists_ids_and_implementations(capsys: pytest.CaptureFixture[str]) -> None:
    """`rules --json` lists every obligation with the code implementing it."""
    assert main(["rules", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"IM-14a", "LM-5", "SR-5", "CSL-21", "PI-15"} <= set(rows)
    assert "genai_compliance.ledger._ledger.Ledger" in rows["CSL-21"]["implemented_by"]
    assert main(["rules"]) == 0
    assert "rules have an implementation; none yet:" in capsys.readouterr().out


def test_console_script_and_module_entry_point(tmp_path: Path) -> None:
    """`python -m genai_compliance` works as the console script does."""
    uri, _ = _ledger(tmp_path, 2)
    proc = subprocess.run([sys.executable, "-m", "genai_compliance", "ledger", "verify", uri],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "intact" in proc.stdout
