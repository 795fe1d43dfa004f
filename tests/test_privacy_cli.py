"""The privacy duty as a provider meets it: ``compliance.privacy``, the ``privacy`` commands
through ``genai-compliance`` (one-line errors, documented exit codes), and the report
showing an overdue PIPL deadline as a finding (PI-57, PI-AUDIT, PI-55/56)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from genai_compliance.cli import EXIT_FINDING, EXIT_OK, EXIT_USAGE, main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(name="config")
def _config(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLES / "keywords.csv", tmp_path / "keywords.csv")
    text = (EXAMPLES / "compliance.toml").read_text(encoding="utf-8")
    cfg = tmp_path / "compliance.toml"
    cfg.write_text(text + '\n[privacy]\nindividuals_count = 12000000\n\n[privacy.contact]\n'
                   'name = "个人信息保护负责人"\nemail = "dpo@example.com"\n', encoding="utf-8")
    return cfg


def test_breach_through_the_cli_and_an_overdue_audit_in_the_report(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A relatively major breach detected two days ago and not yet reported, opened from the
    CLI: its report to the authority is overdue, so `privacy schedule --due` exits 1, and
    the report lists the deadline as overdue and exits 1."""
    import datetime as dt

    detected = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).isoformat()
    assert main(["privacy", "breach", "open", "导出桶公开", "--config", str(config),
                 "--pi-kind", "手机号码", "--individuals", "1200", "--grade",
                 "relatively-major", "--detected-at", detected]) == EXIT_OK
    capsys.readouterr()
    code = main(["privacy", "schedule", "--due", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == EXIT_FINDING and "overdue" in out
    from genai_compliance import Compliance

    with Compliance.from_toml(config) as comp:
        ledger = str(comp.ledger.uri)
    html = tmp_path / "report.html"
    data = tmp_path / "report.json"
    code = main(["report", "--ledger", ledger, "-o", str(html), "--json", str(data),
                 "--config", str(config)])
    assert code == EXIT_FINDING, capsys.readouterr()
    rows = json.loads(data.read_text("utf-8"))["deadlines"]
    assert any(r["status"] == "overdue" for r in rows)
    assert any(r["rule"] == "PI-AUDIT" for r in rows)  # the audit schedule is listed too
    assert "PIPL deadlines" in html.read_text("utf-8")
    assert "overdue" in capsys.readouterr().out


def test_bad_input_is_one_line(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A step out of order or a missing breach: exit 2 and one line, never a traceback."""
    assert main(["privacy", "breach", "remediate", "PB-000000000000", "--measure", "x",
                 "--config", str(config)]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
