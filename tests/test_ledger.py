"""The tamper-evident ledger: chain, checkpoints, mutations, retention, pseudonyms.

Tampered ledgers are checked the way an auditor does: opened read-only (``verify_ledger``),
never by a writer that would refuse to extend them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import (
    ConfigurationError,
    FrozenClock,
    Ledger,
    LedgerError,
    LedgerIntegrityError,
    RetentionError,
    Subject,
)
from genai_compliance.crypto import generate_ed25519
from genai_compliance.ledger import MIN_RETENTION, Entry, canonical, record_hash, verify_ledger
from strategies import entries


def _fill(ledger: Ledger, n: int) -> None:
    for i in range(n):
        ledger.append("test.event", {"i": i, "text": f"record {i}"},
                      subject=f"user-{i % 3}")


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_append_and_verify_on_every_backend(sql_uri: str) -> None:
    """Records appended on SQLite and PostgreSQL chain, checkpoint and verify."""
    ledger = Ledger(sql_uri, checkpoint_every=4)
    _fill(ledger, 10)
    report = ledger.verify()
    assert report.ok, report
    assert (report.records, report.first_seq, report.last_seq) == (10, 1, 10)
    assert report.checkpoints == 2  # at 4 and 8
    ledger.close()  # final checkpoint at 10
    reopened = Ledger(sql_uri, checkpoint_every=4)
    assert [cp.seq for cp in reopened.checkpoints()] == [4, 8, 10]
    assert reopened.verify().ok
    reopened.close()
    assert verify_ledger(sql_uri).ok


def test_record_hash_is_sha256_over_prev_and_canonical_json(sqlite_uri: str) -> None:
    """Each record's hash is sha256(prev_hash || RFC 8785 JSON), reproducible by a reader."""
    import hashlib

    ledger = Ledger(sqlite_uri)
    first = ledger.append("a.b", {"z": 1, "a": [1, 2, {"é": "中文"}]})
    second = ledger.append("a.c", {})
    body = canonical({"seq": 1, "time": first.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                      "kind": "a.b", "subject": None, "payload": first.payload,
                      "prev_hash": "0" * 64})
    assert first.hash == hashlib.sha256(bytes(32) + body).hexdigest()
    assert second.prev_hash == first.hash


def test_subject_is_pseudonymised_never_raw(sqlite_uri: str, tmp_path: Path) -> None:
    """The raw user id never reaches the ledger; the pseudonym is stable per subject."""
    ledger = Ledger(sqlite_uri)
    a = ledger.append("x", {}, subject=Subject("alice@example.com"))
    b = ledger.append("x", {}, subject="alice@example.com")
    c = ledger.append("x", {}, subject="bob")
    assert a.subject == b.subject != c.subject
    assert a.subject is not None and "alice" not in a.subject
    dump = Path(sqlite_uri.removeprefix("sqlite:///")).read_bytes()
    assert b"alice@example.com" not in dump
    assert [r.seq for r in ledger.records(subject="alice@example.com")] == [1, 2]


def test_forget_subject_unlinks_but_chain_still_verifies(sqlite_uri: str) -> None:
    """Destroying a subject's key makes old records unlinkable; the chain still verifies."""
    ledger = Ledger(sqlite_uri)
    old = ledger.append("x", {}, subject="carol")
    assert ledger.forget_subject("carol") is True
    assert ledger.forget_subject("carol") is False
    new = ledger.append("x", {}, subject="carol")
    assert new.subject != old.subject
    assert list(ledger.records(subject="carol")) == [new]
    assert ledger.verify().ok


def test_records_filters_kind_prefix_and_time(sqlite_uri: str) -> None:
    """Export filters: kind prefix matches dotted kinds only; time range is [since, until)."""
    clock = FrozenClock("2026-03-01T00:00:00+00:00")
    ledger = Ledger(sqlite_uri, clock=clock)
    ledger.append("consent.grant", {})
    clock.advance(hours=1)
    ledger.append("consentx", {})
    ledger.append("consent.withdraw", {})
    clock.advance(hours=1)
    ledger.append("guard.call", {})
    assert [r.kind for r in ledger.records(kind="consent")] == ["consent.grant",
                                                                "consent.withdraw"]
    since = dt.datetime(2026, 3, 1, 1, tzinfo=dt.UTC)
    until = dt.datetime(2026, 3, 1, 2, tzinfo=dt.UTC)
    assert [r.seq for r in ledger.records(since=since, until=until)] == [2, 3]


def test_non_json_payload_is_refused_and_nothing_written(sqlite_uri: str) -> None:
    """A payload that is not plain JSON raises LedgerError and appends nothing."""
    ledger = Ledger(sqlite_uri)
    with pytest.raises(LedgerError, match="plain JSON"):
        ledger.append_many([Entry("ok", {}), Entry("bad", {"when": dt.datetime.now()})])
    assert ledger.head()[0] == 0


@given(value=st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10))
def test_canonical_matches_rfc8785(value: Any) -> None:
    """Property: our canonical JSON (with its fast path) equals the rfc8785 reference."""
    import rfc8785

    assert canonical(value) == rfc8785.dumps(value)


def test_numbers_beyond_exact_json_range_are_refused(sqlite_uri: str) -> None:
    """Numbers a JSON reader cannot keep exactly are refused rather than silently changed."""
    ledger = Ledger(sqlite_uri)
    with pytest.raises(LedgerError, match="2\\*\\*53"):
        ledger.append("x", {"n": 2.0**53})
    ledger.append("x", {"n": 2**53 - 1, "f": 1.5})
    assert ledger.verify().ok


@settings(max_examples=25)
@given(items=st.lists(entries, min_size=0, max_size=25), every=st.integers(1, 7))
def test_any_sequence_of_appends_verifies(tmp_path_factory: Any, items: list[Any],
                                          every: int) -> None:
    """Property: whatever is appended, in whatever batches, the ledger verifies."""
    path = tmp_path_factory.mktemp("prop") / "l.db"
    ledger = Ledger(f"sqlite:///{path}", checkpoint_every=every)
    batch: list[Entry] = []
    for i, (kind, payload, user) in enumerate(items):
        batch.append(Entry(kind, payload, user))
        if i % 3 == 2:
            ledger.append_many(batch)
            batch = []
    ledger.append_many(batch) if batch else None
    report = ledger.verify()
    assert report.ok and report.records == len(items)
    ledger.close()
    assert Ledger(f"sqlite:///{path}").verify().ok


# -- tampering -------------------------------------------------------------------------

COLUMNS = ["time", "kind", "subject", "payload", "prev_hash", "hash"]


@settings(max_examples=40)
@given(data=st.data())
def test_any_changed_byte_is_caught_at_its_record(tmp_path_factory: Any, data: Any) -> None:
    """Property: changing any byte of any stored field makes verify fail at that record."""
    path = tmp_path_factory.mktemp("tamper") / "l.db"
    ledger = Ledger(f"sqlite:///{path}", checkpoint_every=5)
    _fill(ledger, 12)
    seq = data.draw(st.integers(1, 12), label="seq")
    column = data.draw(st.sampled_from(COLUMNS), label="column")
    conn = _raw(path)
    value = conn.execute(f"SELECT {column} FROM gc_ledger_records WHERE seq = ?",
                         (seq,)).fetchone()[0]
    raw = bytearray((value or "p:none").encode())
    pos = data.draw(st.integers(0, len(raw) - 1), label="pos")
    new = data.draw(st.integers(0x20, 0x7E).filter(lambda b: b != raw[pos]), label="byte")
    raw[pos] = new
    conn.execute(f"UPDATE gc_ledger_records SET {column} = ? WHERE seq = ?",
                 (raw.decode("latin-1"), seq))
    conn.close()
    report = verify_ledger(f"sqlite:///{path}")
    assert not report.ok
    # a changed hash is noticed at the record itself or (as a broken link) at the next one
    expected = {seq, seq + 1} if column == "hash" else {seq}
    assert report.first_bad_seq in expected, report


@pytest.mark.parametrize("seq", [1, 5, 9, 12])
def test_deleted_record_is_caught(sqlite_uri: str, seq: int) -> None:
    """Deleting any record (first, checkpointed, middle, last) is caught at its number."""
    path = Path(sqlite_uri.removeprefix("sqlite:///"))
    ledger = Ledger(sqlite_uri, checkpoint_every=5)
    _fill(ledger, 12)
    ledger.close()
    with _raw(path) as conn:
        conn.execute("DELETE FROM gc_ledger_records WHERE seq = ?", (seq,))
    report = verify_ledger(sqlite_uri)
    assert not report.ok and report.first_bad_seq == seq, report


def test_swapped_records_are_caught(sqlite_uri: str) -> None:
    """Swapping the contents of two records is caught at the first of them."""
    path = Path(sqlite_uri.removeprefix("sqlite:///"))
    ledger = Ledger(sqlite_uri)
    _fill(ledger, 8)
    conn = _raw(path)
    rows = {r[0]: r[1:] for r in conn.execute(
        "SELECT seq, time, kind, subject, payload, prev_hash, hash FROM gc_ledger_records")}
    for a, b in ((3, 6), (6, 3)):
        conn.execute("UPDATE gc_ledger_records SET time=?, kind=?, subject=?, payload=?, "
                     "prev_hash=?, hash=? WHERE seq=?", (*rows[b], a))
    conn.close()
    report = verify_ledger(sqlite_uri)
    assert not report.ok and report.first_bad_seq == 3


def test_inserted_record_is_caught(sqlite_uri: str) -> None:
    """A record inserted in the middle (renumbering the rest) is caught where it stands."""
    path = Path(sqlite_uri.removeprefix("sqlite:///"))
    ledger = Ledger(sqlite_uri)
    _fill(ledger, 6)
    conn = _raw(path)
    conn.execute("UPDATE gc_ledger_records SET seq = seq + 100 WHERE seq >= 4")
    conn.execute("UPDATE gc_ledger_records SET seq = seq - 99 WHERE seq >= 100")
    prev = conn.execute("SELECT hash FROM gc_ledger_records WHERE seq = 3").fetchone()[0]
    t = "2026-01-01T04:00:00.000000Z"
    forged = record_hash(4, t, "forged", None, {}, prev)
    conn.execute("INSERT INTO gc_ledger_records VALUES (4, ?, 'forged', NULL, '{}', ?, ?)",
                 (t, prev, forged))
    conn.close()
    report = verify_ledger(sqlite_uri)
    assert not report.ok and report.first_bad_seq == 5  # the old 4th no longer chains


def test_appended_tail_without_head_is_caught(sqlite_uri: str) -> None:
    """A well-formed record appended behind the ledger's back fails on the head."""
    path = Path(sqlite_uri.removeprefix("sqlite:///"))
    ledger = Ledger(sqlite_uri)
    _fill(ledger, 3)
    conn = _raw(path)
    prev = conn.execute("SELECT hash FROM gc_ledger_records WHERE seq = 3").fetchone()[0]
    t = "2026-01-01T04:00:00.000000Z"
    conn.execute("INSERT INTO gc_ledger_records VALUES (4, ?, 'x', NULL, '{}', ?, ?)",
                 (t, prev, record_hash(4, t, "x", None, {}, prev)))
    conn.close()
    report = verify_ledger(sqlite_uri)
    assert not report.ok and report.first_bad_seq == 4


def test_truncated_tail_is_caught_by_checkpoint(sqlite_uri: str) -> None:
    """Deleting the newest records and rewinding the head is caught by the last checkpoint."""
    path = Path(sqlite_uri.removeprefix("sqlite:///"))
    ledger = Ledger(sqlite_uri, checkpoint_every=1000)
    _fill(ledger, 6)
    ledger.close()  # checkpoint at 6
    conn = _raw(path)
    h4 = conn.execute("SELECT hash FROM gc_ledger_records WHERE seq = 4").fetchone()[0]
    conn.execute("DELETE FROM gc_ledger_records WHERE seq > 4")
    conn.execute("UPDATE gc_ledger_meta SET value = ? WHERE key = 'head'", (f"4:{h4}",))
    conn.close()
    report = verify_ledger(sqlite_uri, checkpoints=[])
    assert not report.ok and report.first_bad_seq == 5
    with pytest.raises(LedgerIntegrityError, match="truncated"):
        Ledger(sqlite_uri)  # a writer refuses to fork a ledger its witness saw longer


def test_forged_checkpoint_is_caught(sqlite_uri: str) -> None:
    """A checkpoint whose signature does not verify is reported at its sequence number."""
    path = Path(sqlite_uri.removeprefix("sqlite:///"))
    ledger = Ledger(sqlite_uri, checkpoint_every=3)
    _fill(ledger, 7)
    conn = _raw(path)
    note = conn.execute("SELECT note FROM gc_ledger_tree_heads WHERE size = 6").fetchone()[0]
    lines = note.split("\n")
    lines[2] = base64.b64encode(b"\xab" * 32).decode()
    conn.execute("UPDATE gc_ledger_tree_heads SET note = ? WHERE size = 6", ("\n".join(lines),))
    conn.close()
    report = verify_ledger(sqlite_uri, checkpoints=[])
    assert not report.ok and report.first_bad_seq == 6


def test_pinned_key_rejects_checkpoints_by_another_key(sqlite_uri: str) -> None:
    """With --public-key pinned, checkpoints signed by any other key fail verification."""
    key = generate_ed25519()
    ledger = Ledger(sqlite_uri, signing_key=key, checkpoint_every=2)
    _fill(ledger, 4)
    assert ledger.verify(key.public_key()).ok
    other = generate_ed25519().public_key()
    report = ledger.verify(other)
    assert not report.ok and report.first_bad_seq == 2


# -- retention -------------------------------------------------------------------------

def test_retention_below_six_months_is_refused(sqlite_uri: str) -> None:
    """Retention cannot be configured below 6 months (CSL-21, LM-9)."""
    with pytest.raises(RetentionError, match="6 months"):
        Ledger(sqlite_uri, retention=dt.timedelta(days=180))
    Ledger(sqlite_uri, retention=MIN_RETENTION)


def test_purge_drops_only_expired_prefix_and_stays_verifiable(sql_uri: str) -> None:
    """Purge removes only records older than retention; the rest still verifies."""
    clock = FrozenClock("2025-01-01T00:00:00+00:00")
    ledger = Ledger(sql_uri, clock=clock, checkpoint_every=2, retention=MIN_RETENTION)
    _fill(ledger, 5)                      # seq 1..5 on 2025-01-01
    clock.advance(days=100)
    _fill(ledger, 3)                      # seq 6..8 on 2025-04-11
    clock.advance(days=100)               # 2025-07-20: first five are 200 days old
    assert ledger.purge() == 5
    remaining = list(ledger.records())
    assert [r.seq for r in remaining] == [6, 7, 8, 9]
    assert remaining[-1].kind == "ledger.purge"
    assert remaining[-1].payload["up_to_seq"] == 5
    assert ledger.verify().ok
    assert ledger.purge() == 0           # nothing else is old enough
    ledger.append("after", {})
    assert ledger.verify().ok


def test_purge_goes_in_steps_and_appends_run_between_them(sql_uri: str) -> None:
    """A long purge drops the expired prefix a step (one transaction) at a time, each with
    its own anchor and ``ledger.purge`` record, so appends from other threads (and other
    replicas) run between the steps instead of waiting for — and timing out behind — one
    transaction holding the head for the whole purge. The ledger verifies afterwards."""
    import threading

    clock = FrozenClock("2025-01-01T00:00:00+00:00")
    ledger = Ledger(sql_uri, clock=clock, retention=MIN_RETENTION)
    try:
        _fill(ledger, 60)  # seq 1..60, expired once the clock moves on
        clock.advance(days=200)
        stop = threading.Event()
        appended: list[int] = []

        def appender() -> None:
            while not stop.is_set():
                appended.append(ledger.append("during", {}).seq)

        worker = threading.Thread(target=appender)
        worker.start()
        try:
            while not appended:  # the appender is running before the purge starts
                threading.Event().wait(0.001)
            assert ledger.purge(batch=4) == 60
        finally:
            stop.set()
            worker.join()
        purges = [r for r in ledger.records() if r.kind == "ledger.purge"]
        assert len(purges) == 15
        assert [p.payload["records"] for p in purges] == [4] * 15
        assert [p.payload["up_to_seq"] for p in purges] == list(range(4, 61, 4))
        # appends were served between the steps, not only before or after the purge
        assert any(purges[0].seq < seq < purges[-1].seq for seq in appended)
        assert min(r.seq for r in ledger.records()) == 61
        assert ledger.verify().ok
        assert ledger.purge() == 0
    finally:
        ledger.close()


def test_purge_batch_must_be_a_positive_integer(sqlite_uri: str) -> None:
    ledger = Ledger(sqlite_uri)
    try:
        for bad in (0, -1, 1.5, "10"):
            with pytest.raises(ConfigurationError, match="batch"):
                ledger.purge(batch=bad)  # type: ignore[arg-type]
    finally:
        ledger.close()


def test_purge_anchor_cannot_be_forged(sqlite_uri: str) -> None:
    """Editing the purge anchor makes verification fail."""
    path = Path(sqlite_uri.removeprefix("sqlite:///"))
    clock = FrozenClock("2025-01-01T00:00:00+00:00")
    ledger = Ledger(sqlite_uri, clock=clock)
    _fill(ledger, 3)
    clock.advance(days=400)
    ledger.purge()
    conn = _raw(path)
    anchor = json.loads(conn.execute("SELECT value FROM gc_ledger_meta WHERE key='anchor'")
                        .fetchone()[0])
    anchor["hash"] = "cd" * 32
    conn.execute("UPDATE gc_ledger_meta SET value=? WHERE key='anchor'", (json.dumps(anchor),))
    conn.close()
    report = verify_ledger(sqlite_uri)
    assert not report.ok and report.first_bad_seq == 4
