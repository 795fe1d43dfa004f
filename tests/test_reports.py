"""The HTML compliance report: content, integrity status, and a real render in Chromium."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from genai_compliance import Compliance, FrozenClock
from genai_compliance.cli import main
from genai_compliance.reports import build_report
from genai_compliance.testing import make_compliance


@pytest.fixture(name="filled")
def _filled(tmp_path: Path) -> Iterator[Compliance]:
    clock = FrozenClock("2026-03-01T02:00:00+00:00")
    comp = make_compliance(tmp_path / "c", clock=clock)
    for day in range(3):
        for i in range(5 + day):
            comp.record("guard.call", {"outcome": "served", "call_id": f"{day}-{i}"},
                        subject=f"u{i}")
        comp.record("guard.call", {"outcome": "refused", "reason": "content"}, subject="u1")
        comp.record("guard.call", {"outcome": "refused", "reason": "quota"}, subject="kid")
        clock.advance(days=1)
    comp.record("consent.grant", {"purpose": "service"}, subject="u1")
    comp.record("consent.grant", {"purpose": "training"}, subject="u2")
    comp.record("consent.withdraw", {"purpose": "training"}, subject="u2")
    comp.record("complaint.received", {"complaint_id": "C-1", "channel": "email",
                                       "due": "2026-03-02T00:00:00+08:00"})
    comp.record("moderation.block", {"risk": "A.1f", "where": "output"}, subject="u1")
    comp.record("label.issued", {"format": "png"})
    comp.record("label.issued", {"format": "jpeg"})
    yield comp
    comp.close()


def test_report_shows_each_section(filled: Compliance) -> None:
    """The page has every section, counts refusals by reason and flags overdue complaints."""
    page, data = build_report(filled.ledger, provider="测试科技有限公司")
    assert data.integrity["ok"]
    assert data.totals["calls"] == 24 and data.totals["content"] == 3
    assert data.calls_by_day["2026-03-01"] == {"served": 5, "content": 1, "quota": 1}
    assert data.consent == {"service": {"active": 1, "withdrawn": 0},
                            "training": {"active": 0, "withdrawn": 1}}
    assert data.complaints[0]["overdue"] is True
    assert data.labels == {"issued": {"png": 1, "jpeg": 1}}
    for heading in ("Ledger integrity", "Requests and refusals", "Minors' usage",
                    "Consent coverage", "Incidents", "Complaints", "Labels issued"):
        assert heading in page
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count("<svg") >= 3


def test_report_cli_flags_a_tampered_ledger(filled: Compliance, tmp_path: Path) -> None:
    """`genai-compliance report` writes the page; a tampered ledger shows and exits 1."""
    uri = filled.ledger.uri
    out = tmp_path / "r.html"
    assert main(["report", "--ledger", uri, "-o", str(out), "--json",
                 str(tmp_path / "r.json")]) == 0
    assert "intact" in out.read_text(encoding="utf-8")
    with sqlite3.connect(uri.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE gc_ledger_records SET kind = 'x' WHERE seq = 2")
    assert main(["report", "--ledger", uri, "-o", str(out)]) == 1
    assert "NOT intact — first bad record 2" in out.read_text(encoding="utf-8")


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed; `make test` installs the Debian package")
    return path


@pytest.mark.slow
def test_report_renders_in_headless_chromium(filled: Compliance, tmp_path: Path) -> None:
    """Chromium opens the page with no console errors; the screenshot's charts are drawn."""
    page, _ = build_report(filled.ledger)
    html_path = tmp_path / "report.html"
    html_path.write_text(page, encoding="utf-8")
    shot = tmp_path / "report.png"
    proc = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", "--hide-scrollbars", "--window-size=1000,2400", f"--screenshot={shot}",
         html_path.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert shot.exists(), proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == []
    image = Image.open(shot).convert("RGB")
    assert image.size == (1000, 2400)
    colors = image.getcolors(maxcolors=1 << 20) or []
    counts = {rgb: n for n, rgb in colors}
    # the chart palette is actually painted: blue bars (served), green (consent coverage)
    blue = sum(n for rgb, n in counts.items() if abs(rgb[0] - 0x2F) < 12
               and abs(rgb[1] - 0x6F) < 12 and abs(rgb[2] - 0xDF) < 12)
    green = sum(n for rgb, n in counts.items() if abs(rgb[0] - 0x3A) < 12
                and abs(rgb[1] - 0xA5) < 12 and abs(rgb[2] - 0x5D) < 12)
    assert blue > 500 and green > 200
