"""ConsentService.require() checks per second with the in-process cache warm, beside a plain
dict lookup of the same (subject, purpose) keys measured in the same run."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from _util import line, rate

from genai_compliance import FrozenClock, Subject
from genai_compliance.consent import NoticeRef
from genai_compliance.testing import make_compliance

N = 20_000


def main() -> None:
    """Print require() checks/s beside dict lookups/s."""
    with tempfile.TemporaryDirectory() as tmp:
        comp = make_compliance(Path(tmp), clock=FrozenClock("2026-01-10T04:00:00+00:00"))
        consent = comp.consent
        notice = NoticeRef("2026-01", hashlib.sha256(b"notice").hexdigest())
        subject = Subject("bench-1", birth_date="1990-01-01")
        consent.grant(subject, "service", notice=notice)
        consent.require(subject, ["service"])
        table = {("bench-1", "service"): True}

        def cached() -> int:
            for _ in range(N):
                consent.require(subject, ["service"])
            return N

        def lookup() -> int:
            for _ in range(N):
                if not table[("bench-1", "service")]:
                    raise AssertionError
            return N

        base = rate(lookup)
        print("consent require() (cached, SQLite backing)")
        line("dict lookup (baseline)", base, base)
        line("ConsentService.require(subject, ['service'])", rate(cached), base)
        comp.close()


if __name__ == "__main__":
    main()
