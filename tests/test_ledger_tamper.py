"""The tampers of issue 15, each against the real SQLite and the real PostgreSQL: detected
with the witness checkpoints (and, where the database alone cannot tell, shown to need
them)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

from genai_compliance import FrozenClock, Ledger, LedgerIntegrityError
from genai_compliance.crypto import generate_ed25519
from genai_compliance.ledger import Entry, record_hash, verify_ledger
from genai_compliance.ledger._merkle import CompactRange
from genai_compliance.ledger._reader import TreeMeta, row_leaf
from strategies_ledger import fix_up, q, raw, sqlite_path, wipe

START = "2026-03-01T00:00:00+00:00"


class Setup:
    """A ledger of 30 records with checkpoints at 10, 20, 30, its witness folder and key."""

    def __init__(self, uri: str, tmp: Path) -> None:
        self.uri = uri
        self.witness = tmp / "witness"
        self.key = generate_ed25519()
        self.clock = FrozenClock(START)
        self.ledger = self.open()
        for i in range(30):
            self.ledger.append("guard.call", {"i": i, "outcome": "served"}, subject=f"u{i % 4}")
            self.clock.advance(seconds=5)
        self.ledger.close()  # checkpoints at 10, 20 and 30 (the last one on close)

    def open(self) -> Ledger:
        return Ledger(self.uri, signing_key=self.key, pseudonym_secret=b"p" * 32,
                      checkpoint_every=10, clock=self.clock, witness_dir=self.witness)

    def verify(self, *, witness: bool = True, pinned: bool = True, **kw: Any) -> Any:
        return verify_ledger(self.uri, self.key.public_key() if pinned else None,
                             checkpoints=[self.witness] if witness else [],
                             now=self.clock.now(), **kw)


@pytest.fixture(name="setup")
def _setup(sql_uri: str, tmp_path: Path) -> Setup:
    return Setup(sql_uri, tmp_path)


def test_an_untouched_ledger_verifies_against_its_witness(setup: Setup) -> None:
    """Baseline: the intact ledger verifies, pinned, with 3 witnessed checkpoints."""
    report = setup.verify(strict=True)
    assert report.ok, report
    assert (report.records, report.witnessed, report.newest_checkpoint) == (30, 3, 30)
    assert report.proves == "origin" and report.unprotected == 0


def test_tail_truncation_with_a_fixed_up_head(setup: Setup) -> None:
    """Deleting records 26..30 and fixing the head, the tree state and the stored
    checkpoints fools the database alone, not the witness."""
    fix_up(setup.uri, 25)
    assert setup.verify(witness=False).ok  # the known limit of a self-contained log
    report = setup.verify()
    assert not report.ok and report.first_bad_seq == 26
    assert "truncated, wiped or rolled back" in (report.problem or "")
    with pytest.raises(LedgerIntegrityError):
        setup.open()  # and no writer extends (forks) it


def test_a_wipe(setup: Setup) -> None:
    """Every row of every table deleted: empty to the database alone, caught by the
    witness."""
    wipe(setup.uri)
    assert setup.verify(witness=False, pinned=False).empty
    report = setup.verify()
    assert not report.ok and report.first_bad_seq == 1


def test_a_forged_record_after_the_last_checkpoint(setup: Setup) -> None:
    """A well-formed record appended after the final checkpoint, head and tree fixed up:
    dated inside the ledger's life it is caught at once; dated later it is caught once it
    is older than the checkpoint interval (strict)."""
    with raw(setup.uri) as conn:
        prev = q(conn, "SELECT hash FROM gc_ledger_records WHERE seq = 30")[0][0]
        when = "2026-03-01T00:01:00.000000Z"  # between records 12 and 13
        digest = record_hash(31, when, "consent.grant", None, {"purpose": "marketing"}, prev)
        q(conn, "INSERT INTO gc_ledger_records VALUES (31, ?, 'consent.grant', NULL, ?, ?, ?)",
          (when, '{"purpose":"marketing"}', prev, digest))
        rows = q(conn, "SELECT seq, time, kind, subject, payload, prev_hash, hash FROM "
                 "gc_ledger_records ORDER BY seq")
        rng = CompactRange()
        for row in rows:
            rng.append(row_leaf(row))
        q(conn, "UPDATE gc_ledger_meta SET value = ? WHERE key = 'head'", (f"31:{digest}",))
        q(conn, "UPDATE gc_ledger_meta SET value = ? WHERE key = 'tree'",
          (TreeMeta(0, 31, tuple(rng.nodes)).dumps(),))
    report = setup.verify()
    assert not report.ok and report.first_bad_seq == 31
    assert "dated before" in (report.problem or "")
    # the same forgery dated after the final checkpoint
    with raw(setup.uri) as conn:
        later = (setup.clock.now() + dt.timedelta(seconds=30)).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ")
        digest = record_hash(31, later, "consent.grant", None, {"purpose": "marketing"}, prev)
        q(conn, "UPDATE gc_ledger_records SET time = ?, hash = ? WHERE seq = 31",
          (later, digest))
        q(conn, "UPDATE gc_ledger_meta SET value = ? WHERE key = 'head'", (f"31:{digest}",))
        rows = q(conn, "SELECT seq, time, kind, subject, payload, prev_hash, hash FROM "
                 "gc_ledger_records ORDER BY seq")
        rng = CompactRange()
        for row in rows:
            rng.append(row_leaf(row))
        q(conn, "UPDATE gc_ledger_meta SET value = ? WHERE key = 'tree'",
          (TreeMeta(0, 31, tuple(rng.nodes)).dumps(),))
    assert setup.verify().ok  # may still be a writer that has not signed yet
    setup.clock.advance(minutes=10)
    report = setup.verify()
    assert report.ok and report.unprotected == 1 and report.warnings
    report = setup.verify(strict=True)
    assert not report.ok and report.first_bad_seq == 31


def test_deleted_checkpoints(setup: Setup) -> None:
    """All stored checkpoints deleted: the witness still has them, so it is caught."""
    with raw(setup.uri) as conn:
        q(conn, "DELETE FROM gc_ledger_tree_heads")
    report = setup.verify()
    assert not report.ok and "checkpoints were deleted" in (report.problem or "")
    assert not setup.verify(witness=False, strict=True).ok  # strict: nothing signed


def test_a_rechain_signed_with_a_different_key(setup: Setup, tmp_path: Path) -> None:
    """Every record rewritten, re-hashed and re-signed with the attacker's own key (a
    consistent forgery with the original origin): caught by the witness even without a
    pinned key, and by the pinned key even without the witness."""
    origin = Ledger(setup.uri, signing_key=setup.key, pseudonym_secret=b"p" * 32,
                    witness_dir=False).origin
    forged_uri = setup.uri
    wipe(forged_uri)
    evil = generate_ed25519()
    clock = FrozenClock(START)
    forged = Ledger(forged_uri, signing_key=evil, pseudonym_secret=b"x" * 32,
                    checkpoint_every=10, clock=clock, origin=origin,
                    witness_dir=tmp_path / "attacker-witness")
    forged.append_many([Entry("guard.call", {"i": i, "outcome": "refused"})
                        for i in range(30)])
    forged.close()
    assert verify_ledger(forged_uri, checkpoints=[]).ok  # consistent, but proves nothing
    report = setup.verify(pinned=False)
    assert not report.ok and "not signed by a trusted key" in (report.problem or "")
    report = setup.verify(witness=False)
    assert not report.ok and "not signed by a trusted key" in (report.problem or "")


def test_a_rollback_to_an_older_copy(setup: Setup, tmp_path: Path) -> None:
    """The database put back to an older state (SQLite: the file restored from a copy;
    PostgreSQL: the newer rows removed): the witness saw it longer."""
    if setup.uri.startswith("sqlite"):
        path = sqlite_path(setup.uri)
        shutil.copy(path, tmp_path / "backup.db")
        ledger = setup.open()
        ledger.append_many([Entry("guard.call", {"i": i}) for i in range(15)])
        ledger.close()
        shutil.copy(tmp_path / "backup.db", path)
        for suffix in ("-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        ledger = setup.open()
        ledger.append_many([Entry("guard.call", {"i": i}) for i in range(15)])
        ledger.close()
        fix_up(setup.uri, 30)
    assert setup.verify(witness=False).ok  # a consistent older ledger on its own
    report = setup.verify()
    assert not report.ok and report.first_bad_seq == 31


def test_an_edited_record_is_caught_at_its_seq(setup: Setup) -> None:
    """A record's payload edited (chain not fixed): caught at that record."""
    with raw(setup.uri) as conn:
        q(conn, "UPDATE gc_ledger_records SET payload = ? WHERE seq = 17",
          ('{"i":17,"outcome":"refused"}',))
    report = setup.verify()
    assert not report.ok and report.first_bad_seq == 17


def test_a_second_store_as_witness(sql_uri: str, tmp_path: Path) -> None:
    """``witness_uri``: checkpoints also go to a table in a second database, which verify
    reads (read-only) to catch a truncation."""
    witness = f"sqlite:///{tmp_path / 'witness.db'}"
    key = generate_ed25519()
    ledger = Ledger(sql_uri, signing_key=key, pseudonym_secret=b"w" * 32, checkpoint_every=5,
                    witness_dir=False, witness_uri=witness, clock=FrozenClock(START))
    ledger.append_many([Entry("x", {"i": i}) for i in range(12)])
    ledger.close()
    report = verify_ledger(sql_uri, key.public_key(), checkpoints=[witness])
    assert report.ok and report.witnessed == 3 and report.witnesses == (witness,)
    fix_up(sql_uri, 7)
    report = verify_ledger(sql_uri, key.public_key(), checkpoints=[witness])
    assert not report.ok and report.first_bad_seq == 8
