"""pytest plugin (entry point ``pytest11``): fixtures for testing code that uses the SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..clock import FrozenClock
from ..compliance import Compliance
from . import make_compliance


@pytest.fixture(name="frozen_clock")
def _frozen_clock() -> FrozenClock:
    """A clock frozen at 2026-01-01 12:00 Asia/Shanghai; move it with ``advance``/``set``."""
    return FrozenClock()


@pytest.fixture(name="compliance")
def _compliance(tmp_path: Path, frozen_clock: FrozenClock) -> Iterator[Compliance]:
    """A Compliance on a fresh SQLite ledger in ``tmp_path``, driven by ``frozen_clock``."""
    comp = make_compliance(tmp_path / "genai-compliance", clock=frozen_clock)
    yield comp
    comp.close()
