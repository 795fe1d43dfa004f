"""Input retention and the training filter (IM-11a, PI-19, IM-7)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from genai_compliance import FrozenClock, Subject
from genai_compliance.consent import InputStore, NoticeRef
from genai_compliance.testing import make_compliance

NOTICE = NoticeRef("1", hashlib.sha256(b"n").hexdigest())


def test_retention_purge_and_training_filter(tmp_path: Path) -> None:
    """Inputs expire after the retention period; only consenting subjects feed training."""
    clock = FrozenClock("2026-03-02T04:00:00+00:00")
    comp = make_compliance(tmp_path, clock=clock)
    store = InputStore(comp.consent, retention_days=30)
    yes, no = Subject("yes", birth_date="1990-01-01"), Subject("no", birth_date="1990-01-01")
    comp.consent.grant(yes, "training", notice=NOTICE)
    first = store.keep(yes, "prompt 1", "output 1")
    store.correct(yes, first, output="output 1 (corrected)")
    assert next(iter(store.records())).output == "output 1 (corrected)"
    assert next(iter(comp.records("dsr.correct"))).payload["answer"] == "corrected"
    store.keep(no, "prompt 2", "output 2")
    assert [r.prompt for r in store.training_eligible()] == ["prompt 1"]
    comp.consent.withdraw(yes, "training")
    comp.consent.max_staleness = 0
    assert list(store.training_eligible()) == []
    clock.advance(days=29)
    store.keep(no, "prompt 3")
    clock.advance(days=2)
    assert store.purge_expired() == 2
    assert [r.prompt for r in store.records()] == ["prompt 3"]
    assert next(iter(comp.records("retention.purge"))).payload["records"] == 2
    assert store.erase_subject(no) == 1
    comp.close()
