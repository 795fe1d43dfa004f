"""The ledger's hot path (issues 15 and 19): records canonicalised by the fast path with the
bytes RFC 8785 (and so every existing ledger) has, floats without a JSON round trip, one
transaction per append and none for a cached read, multi-row inserts, witnesses written
off the append path yet seen by every read."""

from __future__ import annotations

import io
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import FrozenClock, Ledger, LedgerError
from genai_compliance.crypto import generate_ed25519
from genai_compliance.ledger import Entry, ReadOnlyLedger, canonical, verify_ledger, verify_proof
from genai_compliance.ledger._format import (
    _jcs,
    es_number,
    prepare_body,
    prepare_payload,
    shaped_text,
)
from genai_compliance.ledger._proofs import export_records
from genai_compliance.ledger._witness import DirectoryWitness
from strategies_ledger import shaped_payloads, shaped_values

finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | finite | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


@given(value=finite)
def test_every_double_prints_as_rfc8785_says(value: float) -> None:
    """Property over all finite doubles (subnormals, 1e21 and beyond, -0): our ECMAScript
    number form equals the rfc8785 reference."""
    assert es_number(value) == rfc8785.dumps(value).decode()


@given(value=json_values)
def test_canonical_bytes_are_those_of_rfc8785(value: Any) -> None:
    """Property: any plain JSON value (floats, non-BMP keys, escapes) canonicalises to the
    bytes the rfc8785 package — which wrote the 0.1 ledgers — gives."""
    assert canonical(value) == rfc8785.dumps(value)


def _general(value: Any) -> str:
    """The general encoder's text (the slow path: no C encoder, no shapes)."""
    out: list[str] = []
    _jcs(value, out, "", True)
    return "".join(out)


def _bmp_keys(value: Any) -> bool:
    if isinstance(value, dict):
        return (all(max(k, default="a") <= "\uffff" for k in value)
                and all(_bmp_keys(v) for v in value.values()))
    if isinstance(value, list | tuple):
        return all(_bmp_keys(v) for v in value)
    return True


@given(payload=shaped_payloads, others=st.lists(shaped_values, min_size=6, max_size=6))
def test_the_shaped_path_writes_the_bytes_of_the_general_one(payload: dict[str, Any],
                                                             others: list[Any]) -> None:
    """Property: a payload of str, int, bool, None, lists, tuples and dicts takes the
    one-walk shaped path unless a key is outside the BMP, and writes byte for byte what the
    general RFC 8785 encoder and the rfc8785 package write — also for a second payload with
    the same keys and other values (its shape then comes from the cache)."""
    for value in (payload, dict(zip(payload, others, strict=False))):
        text = shaped_text(value)
        if not _bmp_keys(value):
            assert text is None or text == _general(value)
            continue
        assert text is not None
        assert text == _general(value) == rfc8785.dumps(value).decode()
        assert prepare_body(value)[1:] == (text, text.encode("utf-8"))


@pytest.mark.parametrize("payload", [
    {"a": 1.5}, {"a": [1, 2.0]}, {"a": 2**53}, {"a": -(2**53)}, {"a": {"b": 1e21}},
    {1: "x"}, {"\U0001f600": 1, "\uffff": 2}, {"a": __import__("enum").IntEnum("E", "X").X},
    {"a": type("S", (str,), {})("s")}, {"a": {"b": type("D", (dict,), {})(c=1)}},
])
def test_the_shaped_path_declines_what_it_does_not_write(payload: dict[Any, Any]) -> None:
    """Floats, integers beyond 2**53, non-str keys, keys outside the BMP and subclasses
    are left to the other paths, whose text (or error) is what it was before."""
    assert shaped_text(payload) is None
    try:
        expected = rfc8785.dumps(payload).decode()
    except Exception:  # not plain JSON: the ledger refuses it
        with pytest.raises(LedgerError):
            prepare_body(payload)
        return
    if any(type(v) is int and abs(v) >= 2**53 for v in payload.values()):
        with pytest.raises(LedgerError):
            prepare_body(payload)
        return
    assert canonical(payload).decode() == expected


def test_a_circular_payload_is_refused_by_the_shaped_path() -> None:
    """A dict that contains itself is a LedgerError, not a RecursionError."""
    payload: dict[str, Any] = {"a": 1}
    payload["self"] = payload
    with pytest.raises(LedgerError, match="circular"):
        prepare_body(payload)


@settings(max_examples=50)
@given(payload=st.dictionaries(st.text(), json_values, max_size=5))
def test_a_payload_reads_back_equal_and_re_encodes_to_its_text(payload: dict[str, Any]
                                                               ) -> None:
    """Property: what a reader parses from the stored text equals the payload appended and
    canonicalises back to the same text (what exports and proofs rely on), or the payload
    is refused."""
    try:
        value, text = prepare_payload(payload)
    except LedgerError:
        return
    assert value == payload
    assert json.loads(text) == payload
    assert canonical(json.loads(text)).decode() == text


def test_floats_are_appended_without_parsing_json(sqlite_uri: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A float payload is stored in its RFC 8785 form without the append parsing JSON, and
    the ledger verifies and reads it back equal."""
    ledger = Ledger(sqlite_uri, witness_dir=False)
    ledger.append("warm", {}, subject="u1")
    payload = {"duration_ms": 190.402, "ratio": 1e-7, "big": 1e21, "whole": 2.0, "neg": -0.0}

    def no_parse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the append parsed JSON")

    monkeypatch.setattr(json, "loads", no_parse)
    record = ledger.append("guard.call", payload, subject="u1")
    monkeypatch.undo()
    assert record.payload == payload
    stored = next(r for r in ledger.records() if r.seq == record.seq)
    assert stored.payload == payload
    conn = sqlite3.connect(sqlite_uri.removeprefix("sqlite:///"))
    text = conn.execute("SELECT payload FROM gc_ledger_records WHERE seq = ?",
                        (record.seq,)).fetchone()
    conn.close()
    assert text is not None and text[0].encode() == rfc8785.dumps(payload)
    assert ledger.verify().ok
    ledger.close()


def test_a_ledger_with_floats_exports_proofs_that_verify(tmp_path: Path) -> None:
    """Exported records carrying floats are re-canonicalised by the offline checker to the
    stored bytes, so their inclusion proofs verify with only the public key."""
    key = generate_ed25519()
    uri = f"sqlite:///{tmp_path / 'l.db'}"
    ledger = Ledger(uri, signing_key=key, pseudonym_secret=b"s" * 32, witness_dir=False,
                    clock=FrozenClock("2026-03-01T00:00:00+00:00"), checkpoint_every=4)
    ledger.append_many([Entry("m", {"x": i / 7, "tiny": 5e-324 * (i + 1)}) for i in range(9)])
    ledger.checkpoint()
    out = io.StringIO()
    with ReadOnlyLedger(uri) as ro:
        assert export_records(ro.reader, out) == 9
    (tmp_path / "export.jsonl").write_text(out.getvalue())
    assert verify_proof(tmp_path / "export.jsonl", key.public_key()).ok
    ledger.close()


@pytest.mark.parametrize(("payload", "where"), [
    ({"a": {"b": {1, 2}}}, "payload['a']['b'] is a set"),
    ({"a": [1, math.nan]}, "payload['a'][1] is nan"),
    ({"n": 2**60}, "payload['n'] is the integer"),
    ({"n": 1e16}, "payload['n'] is the number 10000000000000000"),
    ({"k": {7: "x"}}, "payload['k'] has the key 7"),
    ({"s": "\ud800"}, "lone surrogate"),
])
def test_a_payload_that_is_not_plain_json_is_refused_naming_where(
        sqlite_uri: str, payload: dict[str, Any], where: str) -> None:
    """The error says which value is wrong and what to do; nothing is written."""
    ledger = Ledger(sqlite_uri, witness_dir=False)
    with pytest.raises(LedgerError) as caught:
        ledger.append_many([Entry("ok", {}), Entry("bad", payload)])
    assert where in str(caught.value)
    assert ledger.head()[0] == 0
    ledger.close()


def _count_transactions(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts transactions: ``transaction()`` blocks, and the PostgreSQL writer's
    one-statement commits (each a transaction of its own)."""
    count = [0]
    targets: list[tuple[Any, str]] = [(ledger.db, "transaction")]
    if ledger._pg_writer is not None:
        targets += [(ledger._pg_writer, "transaction"), (ledger._pg_writer, "execute")]
    for target, name in targets:
        inner = getattr(target, name)

        def counted(*args: Any, _inner: Any = inner, **kwargs: Any) -> Any:
            count[0] += 1
            return _inner(*args, **kwargs)

        monkeypatch.setattr(target, name, counted)
    return count


def test_one_transaction_per_append_and_none_for_cached_reads(
        sql_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite and PostgreSQL: each append of a known subject is one transaction; its
    pseudonym and subject key, once known, cost none."""
    ledger = Ledger(sql_uri, checkpoint_every=10_000, witness_dir=False)
    ledger.append("warm", {}, subject="alice")
    count = _count_transactions(ledger, monkeypatch)
    for i in range(12):
        ledger.append("guard.call", {"i": i, "duration_us": 1000 + i}, subject="alice")
    assert count[0] == 12
    ledger.pseudonym("alice")
    ledger.subject_key("alice", purpose="minors")
    assert count[0] == 12
    monkeypatch.undo()
    assert ledger.verify().ok
    ledger.close()


@pytest.mark.parametrize("size", [1, 7, 100, 777, 1000])
def test_batches_of_any_size_chain_in_order(sql_uri: str, size: int) -> None:
    """A batch of any size (written as multi-row inserts) gets consecutive seqs in entry
    order and verifies, on SQLite and PostgreSQL."""
    if sql_uri.startswith("postgresql"):
        sql_uri = sql_uri.replace("schema=", f"schema=b{size}_")
    ledger = Ledger(sql_uri, checkpoint_every=64, witness_dir=False)
    ledger.append("first", {})
    records = ledger.append_many([Entry("b", {"i": i}, f"u{i % 3}") for i in range(size)])
    assert [r.seq for r in records] == list(range(2, size + 2))
    assert [r.payload["i"] for r in ledger.records(kind="b")] == list(range(size))
    assert ledger.verify().ok
    ledger.close()


def test_a_witness_read_in_process_sees_every_committed_checkpoint(tmp_path: Path) -> None:
    """Witness copies are written off the append path, yet reading the witness (as opening
    a writer or verify does) waits for them: it holds every checkpoint committed so far."""
    uri = f"sqlite:///{tmp_path / 'l.db'}"
    ledger = Ledger(uri, checkpoint_every=5, witness_dir=tmp_path / "w")
    for i in range(25):
        ledger.append("x", {"i": i})
    notes, _ = DirectoryWitness(tmp_path / "w").notes(ledger.origin)
    sizes = {int(n.split("\n")[1]) for n in notes}
    assert sizes == {5, 10, 15, 20, 25}
    report = verify_ledger(uri, checkpoints=[tmp_path / "w"])
    assert report.ok and report.witnessed == 5
    ledger.close()


@pytest.mark.postgres
def test_a_read_in_the_pg_pipeline_gets_its_own_result_when_writes_answer_late(
        postgres_uri: str) -> None:
    """In the PostgreSQL writer's pipelined transaction, a SELECT after inserts reads its
    own rows even when the inserts' results reach the client while the SELECT is being
    sent (what made a 1000-record batch fail under load with "the last operation didn't
    produce records")."""
    import select

    from genai_compliance.ledger._pg import PGWriter
    from genai_compliance.stores import parse_uri

    ledger = Ledger(postgres_uri, witness_dir=False)  # creates the schema and tables
    ledger.close()
    writer = PGWriter(parse_uri(postgres_uri), durable=True)
    try:
        with writer.transaction() as tx:
            tx.executemany("INSERT INTO gc_ledger_meta(key, value) VALUES (?, ?)",
                           [(f"probe{i}", "x") for i in range(5)])
            pgconn = writer._conn.pgconn
            pgconn.send_flush_request()  # the inserts' results are now on their way
            pgconn.flush()
            select.select([pgconn.socket], [], [], 10)
            row = tx.execute("SELECT COUNT(*) FROM gc_ledger_meta WHERE key LIKE ?",
                             ("probe%",)).fetchone()
            assert row == (5,)
    finally:
        writer.close()


def test_two_writers_taking_turns_keep_one_chain(sql_uri: str) -> None:
    """Two ledgers on one database append in turn, so each commit finds the head moved by
    the other (the optimistic commit writes nothing and the locked one takes over), across
    cached tree nodes and checkpoints: one chain of every record, in order, that verifies."""
    first = Ledger(sql_uri, checkpoint_every=64, witness_dir=False)
    second = Ledger(sql_uri, checkpoint_every=64, witness_dir=False)
    seqs: list[int] = []
    for turn in range(12):
        ledger = (first, second)[turn % 2]
        batch = ledger.append_many([Entry("t", {"turn": turn, "i": i}, f"u{i % 4}")
                                    for i in range(50)])
        seqs += [r.seq for r in batch]
        seqs.append(ledger.append("one", {"turn": turn}, subject="u1").seq)
    assert seqs == list(range(1, 12 * 51 + 1))
    assert [r.seq for r in first.records()] == seqs
    second.close()
    report = first.verify()
    assert report.ok and report.records == len(seqs)
    first.close()
