"""Testing kit: in-memory-style compliance objects, a frozen clock and helpers (STYLE 15).

The pytest fixtures built on these are in :mod:`genai_compliance.testing.plugin`, registered
through the ``pytest11`` entry point.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

from .._exports import publish as _publish
from ..checks import Check
from ..clock import Clock, FrozenClock
from ..compliance import Compliance
from ..config import Provider

__all__ = ["TEST_PROVIDER", "FrozenClock", "make_compliance", "one_page_pdf",
           "sample_keyword_file"]

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


def sample_keyword_file() -> str:
    """Path of the small sample keyword library shipped with the package (neutral
    placeholder terms such as ``违禁词样例01``; for tests and examples, not production)."""
    from importlib import resources

    return str(resources.files("genai_compliance.moderation").joinpath(
        "data", "sample_keywords.csv"))


def one_page_pdf(content: bytes) -> bytes:
    """A minimal valid PDF 1.7 file: one page whose content stream is ``content`` (give it
    the size a test needs), a classic cross-reference table and no Info dictionary — a
    file to label and read back in tests and benchmarks.

    .. versionadded:: 0.2
    """
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1, xref)
    return bytes(out)


def make_compliance(
    directory: str | os.PathLike[str] | None = None,
    *,
    clock: Clock | None = None,
    checks: Sequence[Check] | None = None,
    provider: Provider = TEST_PROVIDER,
    **options: Any,
) -> Compliance:
    """A :class:`Compliance` on a fresh SQLite ledger in ``directory`` (a temp folder when
    omitted) with a :class:`FrozenClock` unless ``clock`` is given, and in-memory stores
    unless ``stores=`` says otherwise.

    It builds the same checks as :class:`Compliance` (``checks=None``, the default: the full
    pipeline); moderation uses :func:`sample_keyword_file` unless ``settings`` has a
    ``[moderation]`` section. ``checks=()`` runs none.

    .. versionchanged:: 0.2
       The full pipeline by default (was: no checks).
    """
    folder = str(directory) if directory is not None else tempfile.mkdtemp(prefix="gc-test-")
    os.makedirs(folder, exist_ok=True)
    options.setdefault("stores", {"default": "memory://"})
    settings = dict(options.pop("settings", None) or {})
    settings.setdefault("moderation", {"keyword_files": [sample_keyword_file()]})
    return Compliance(
        provider,
        ledger="sqlite:///" + os.path.join(os.path.abspath(folder), "ledger.db"),
        clock=clock or FrozenClock(),
        checks=None if checks is None else list(checks),
        settings=settings,
        **options,
    )

_publish(__name__, globals(), __all__)
