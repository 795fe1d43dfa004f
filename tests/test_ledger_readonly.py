"""Verification is read-only: it never creates a file, a schema, a table or a key; a
missing, empty or corrupt ledger is one line and a typed error; URIs in messages never
show a password."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from genai_compliance import FrozenClock, Ledger, StoreUnavailable
from genai_compliance.cli import main
from genai_compliance.crypto import generate_ed25519
from genai_compliance.errors import LedgerCorrupt, LedgerNotFound
from genai_compliance.ledger import Entry, ReadOnlyLedger, verify_ledger
from genai_compliance.stores import open_sql, parse_uri


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _filled(tmp_path: Path, n: int = 6) -> str:
    uri = f"sqlite:///{tmp_path / 'l.db'}"
    ledger = Ledger(uri, clock=FrozenClock("2026-02-01T00:00:00+00:00"), checkpoint_every=4)
    ledger.append_many([Entry("x", {"i": i}) for i in range(n)])
    ledger.close()
    return uri


def test_verify_of_a_missing_file_creates_nothing(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`ledger verify sqlite:///typo.db`: exit 2 saying there is no ledger; no file, no key,
    no witness folder appears."""
    before = _tree(tmp_path)
    assert main(["ledger", "verify", f"sqlite:///{tmp_path / 'typo.db'}"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1 and "Traceback" not in err
    assert _tree(tmp_path) == before
    with pytest.raises(LedgerNotFound):
        verify_ledger(f"sqlite:///{tmp_path / 'typo.db'}")


def test_verify_leaves_no_wal_or_shm_behind(tmp_path: Path) -> None:
    """A closed ledger verified read-only: not one file created or changed."""
    uri = _filled(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert main(["ledger", "verify", uri]) == 0
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_verify_of_a_postgres_uri_creates_no_schema(postgres_uri: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """On PostgreSQL a missing schema is exit 2; it is not created."""
    import psycopg

    from conftest import PG_BASE

    assert main(["ledger", "verify", postgres_uri]) == 2
    assert "does not exist" in capsys.readouterr().err
    schema = postgres_uri.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_BASE) as conn:
        row = conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                           (schema,)).fetchone()
    assert row is None
    other = postgres_uri.replace(schema, "t_" + uuid.uuid4().hex[:12])
    open_sql(other).executescript(["CREATE TABLE unrelated (x int)"])
    try:
        assert main(["ledger", "verify", other]) == 2
        assert "holds no genai_compliance ledger" in capsys.readouterr().err
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{other.rsplit("schema=", 1)[1]}" CASCADE')


def test_an_empty_ledger_exits_2(sql_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A ledger with its tables but no record: exit 2, 'empty', not 'intact'."""
    Ledger(sql_uri, witness_dir=False).close()
    assert main(["ledger", "verify", sql_uri]) == 2
    captured = capsys.readouterr()
    assert "empty" in captured.err and "intact" not in captured.out
    assert main(["ledger", "verify", sql_uri, "--json"]) == 2
    assert '"LedgerNotFound"' in capsys.readouterr().out


def test_a_corrupt_file_is_one_line_and_typed(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Not a database, or damaged pages: a typed LedgerCorrupt, exit 2, one line."""
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerCorrupt):
        verify_ledger(f"sqlite:///{bad}")
    assert main(["ledger", "verify", f"sqlite:///{bad}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an SQLite database" in err
    uri = _filled(tmp_path, 300)
    path = Path(uri.removeprefix("sqlite:///"))
    data = bytearray(path.read_bytes())
    for offset in range(4096 + 100, len(data), 4096):  # every page but the first
        data[offset:offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    code = main(["ledger", "verify", uri])
    captured = capsys.readouterr()
    assert code in (1, 2) and "Traceback" not in captured.err
    assert captured.err.count("\n") <= 1


def test_a_flipped_byte_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    """Invalid UTF-8 or a non-hex hash in a row fails that record with a report."""
    uri = _filled(tmp_path)
    path = uri.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE gc_ledger_records SET kind = CAST(X'78FF' AS TEXT) WHERE seq = 2")
        conn.execute("UPDATE gc_ledger_records SET prev_hash = 'zz' WHERE seq = 4")
    report = verify_ledger(uri)
    assert not report.ok and report.first_bad_seq == 2


def test_signed_by_is_printed_only_when_a_checkpoint_exists(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With no checkpoint yet the output says so and names no signer."""
    uri = f"sqlite:///{tmp_path / 'n.db'}"
    ledger = Ledger(uri, clock=FrozenClock(), witness_dir=False)
    ledger.append("x", {})
    assert main(["ledger", "verify", uri]) == 0
    out = capsys.readouterr().out
    assert "checkpoints: 0" in out and "signed by" not in out
    ledger.close()
    assert main(["ledger", "verify", uri]) == 0
    out = capsys.readouterr().out
    assert "checkpoints: 1 in the ledger" in out and "signed by" in out


def test_read_only_ledger_reads_records_and_refuses_subject_lookups(tmp_path: Path) -> None:
    """ReadOnlyLedger lists records and checkpoints; it holds no secret, so no pseudonyms."""
    uri = _filled(tmp_path)
    with ReadOnlyLedger(uri) as ro:
        assert [r.seq for r in ro.records(kind="x")] == list(range(1, 7))
        assert [cp.size for cp in ro.checkpoints()] == [4, 6]
        with pytest.raises(Exception, match="pseudonym"):
            list(ro.records(subject="alice"))


def test_credentials_never_appear_in_messages_or_reprs() -> None:
    """A password in a store URI is redacted in StoreUnavailable, in reprs and errors."""
    uri = "postgresql://bob:hunter2secret@127.0.0.1:1/db?schema=s"
    with pytest.raises(StoreUnavailable) as info:
        verify_ledger(uri)
    assert "hunter2secret" not in str(info.value) and "***" in str(info.value)
    assert "hunter2secret" not in repr(info.value)
    assert "hunter2secret" not in repr(parse_uri(uri))
    with pytest.raises(StoreUnavailable) as info:
        Ledger(uri, signing_key=generate_ed25519(), pseudonym_secret=b"x" * 32)
    assert "hunter2secret" not in str(info.value)
    query = "postgresql://127.0.0.1:1/db?password=hunter2secret"
    assert "hunter2secret" not in parse_uri(query).redacted()
    with pytest.raises(Exception) as unknown:
        parse_uri("mongo://bob:hunter2secret@h/db")
    assert "hunter2secret" not in str(unknown.value)


def test_verify_is_read_only_even_with_a_live_writer(tmp_path: Path) -> None:
    """Verifying while a writer appends sees a consistent snapshot and changes nothing."""
    uri = f"sqlite:///{tmp_path / 'live.db'}"
    ledger = Ledger(uri, checkpoint_every=5)
    ledger.append_many([Entry("x", {"i": i}) for i in range(12)])
    report = verify_ledger(uri)
    assert report.ok and report.records == 12
    ledger.append("y", {})
    assert verify_ledger(uri).records == 13
    ledger.close()


