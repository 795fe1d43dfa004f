"""The pytest plugin: the documented example test file passes in a subprocess pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "plugin_tests" / "test_my_service.py"


def test_example_test_file_passes_in_a_fresh_pytest(tmp_path: Path) -> None:
    """docs/testing.md's example runs green with only the installed plugin."""
    target = tmp_path / "test_my_service.py"
    target.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(target)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout


def test_unmet_expectation_fails_at_teardown(pytester: pytest.Pytester) -> None:
    """expect_record fails the test at teardown when the record was never written."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile("""
        def test_forgot(expect_record):
            expect_record("consent.grant", purpose="training")
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*expected ledger records were not written*"])


def test_subject_factory_ages(pytester: pytest.Pytester) -> None:
    """subject_factory presets have the right ages on the frozen clock's date."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile("""
        def test_ages(subject_factory, frozen_clock):
            import datetime as dt
            day = dt.date(2026, 1, 1)
            assert subject_factory("child").age_on(day) == 7
            assert subject_factory("preteen").age_on(day) == 12
            assert subject_factory("teen").age_on(day) == 17
            assert subject_factory(age=40).age_on(day) == 40
            assert subject_factory("teen", guardian=True).guardian is not None
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
