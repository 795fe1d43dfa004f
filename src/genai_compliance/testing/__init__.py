"""Testing kit: in-memory-style compliance objects, a frozen clock and helpers (STYLE 15).

The pytest fixtures built on these are in :mod:`genai_compliance.testing.plugin`, registered
through the ``pytest11`` entry point.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

from ..checks import Check
from ..clock import Clock, FrozenClock
from ..compliance import Compliance
from ..config import Provider

__all__ = ["TEST_PROVIDER", "FrozenClock", "make_compliance"]

#: A provider with a valid (check-digit correct) unified social credit code, for tests only.
TEST_PROVIDER = Provider(
    legal_name="测试科技有限公司",
    legal_name_en="Test Technology Co., Ltd.",
    uscc="91440300708461136T",
    product_name="测试助手",
    product_name_en="Test Assistant",
    product_version="0.0.1",
    service_filing_number="TEST-FILING-0001",
    model_code="TST1",
    website="https://example.invalid",
    contact_email="compliance@example.invalid",
    contact_phone="+86-10-0000-0000",
)


def make_compliance(
    directory: str | os.PathLike[str] | None = None,
    *,
    clock: Clock | None = None,
    checks: Sequence[Check] | None = (),
    provider: Provider = TEST_PROVIDER,
    **options: Any,
) -> Compliance:
    """A :class:`Compliance` on a fresh SQLite ledger in ``directory`` (a temp folder when
    omitted) with a :class:`FrozenClock` unless ``clock`` is given. ``checks=()`` (default)
    runs no checks; ``checks=None`` the full default pipeline."""
    folder = str(directory) if directory is not None else tempfile.mkdtemp(prefix="gc-test-")
    os.makedirs(folder, exist_ok=True)
    options.setdefault("stores", {"default": "memory://"})
    return Compliance(
        provider,
        ledger="sqlite:///" + os.path.join(os.path.abspath(folder), "ledger.db"),
        clock=clock or FrozenClock(),
        checks=None if checks is None else list(checks),
        **options,
    )
