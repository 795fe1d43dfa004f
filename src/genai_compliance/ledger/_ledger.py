"""The tamper-evident ledger: append-only, hash-chained, with signed checkpoints.

Every decision the Measures ask a provider to keep (CSL-21 logs, IM-14b illegal-use records,
LM-9 recipient logs, consent events, complaints, labels issued) is one :class:`Record`::

    hash = sha256(bytes.fromhex(prev_hash) || RFC8785({seq, time, kind, subject, payload,
                                                       prev_hash}))

An Ed25519-signed :class:`Checkpoint` over ``(seq, hash)`` is written every
``checkpoint_every`` records and on :meth:`Ledger.close`. Many processes may append at once:
each append takes the database's write lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL
``SELECT … FOR UPDATE`` on the head row), so there is one chain and never a fork.

Subjects are stored as keyed pseudonyms: ``HMAC-SHA256(k_subject, user_id)`` with a random
per-subject key ``k_subject`` found through ``HMAC(provider secret, user_id)``.
:meth:`Ledger.forget_subject` destroys that key, after which nobody can link the subject's
records to the person (PIPL Art. 47) while the chain still verifies.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..clock import Clock, SystemClock
from ..crypto import generate_ed25519, key_id, load_ed25519_public, private_pem, public_pem
from ..crypto._keys import load_ed25519_private
from ..errors import ConfigurationError, LedgerError, RetentionError, StoreUnavailable
from ..rules import implements
from ..stores import SQLDatabase, parse_uri
from ..subject import Subject

__all__ = [
    "GENESIS_HASH",
    "MIN_RETENTION",
    "Checkpoint",
    "Entry",
    "Ledger",
    "Record",
    "VerifyReport",
    "open_ledger",
]

GENESIS_HASH = "0" * 64
#: The shortest retention the SDK accepts: 184 days is the longest span of six calendar
#: months, so "at least 6 months" (CSL-21, LM-9) holds whatever the start date.
MIN_RETENTION = dt.timedelta(days=184)
DEFAULT_RETENTION = dt.timedelta(days=365)
_CHECKPOINT_DOMAIN = b"genai-compliance/ledger-checkpoint/v1\n"
_ANCHOR_DOMAIN = b"genai-compliance/ledger-anchor/v1\n"

_DDL = [
    "CREATE TABLE IF NOT EXISTS gc_ledger_records (seq BIGINT PRIMARY KEY, time TEXT NOT NULL, "
    "kind TEXT NOT NULL, subject TEXT, payload TEXT NOT NULL, prev_hash TEXT NOT NULL, "
    "hash TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS gc_ledger_records_kind ON gc_ledger_records (kind, seq)",
    "CREATE INDEX IF NOT EXISTS gc_ledger_records_time ON gc_ledger_records (time)",
    "CREATE TABLE IF NOT EXISTS gc_ledger_checkpoints (seq BIGINT PRIMARY KEY, "
    "hash TEXT NOT NULL, time TEXT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gc_ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gc_subject_keys (ref TEXT PRIMARY KEY, subject_key TEXT "
    "NOT NULL, created TEXT NOT NULL)",
]


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_iso(s: str) -> dt.datetime:
    if len(s) != 27 or s[-1] != "Z":
        raise ValueError(f"not a ledger timestamp: {s!r}")
    return dt.datetime.fromisoformat(s)


_SAFE_INT = 2**53 - 1


def _fast_ok(value: Any) -> bool:
    """True when ``json.dumps(sort_keys)`` already yields the RFC 8785 form: no floats
    (JCS prints numbers the ECMAScript way), ints within ±(2**53-1), keys in the BMP (JCS
    sorts by UTF-16 code units, Python by code points; they agree inside the BMP)."""
    if value is None or value is True or value is False or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, list | tuple):
        return all(_fast_ok(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and (k.isascii() or max(k) <= "\uffff") and _fast_ok(v)
                   for k, v in value.items())
    return False


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes (a fast path for float-free data, else ``rfc8785``)."""
    if _fast_ok(value):
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False, allow_nan=False).encode("utf-8")
        except UnicodeEncodeError:
            pass  # lone surrogates: let rfc8785 give its precise error
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise LedgerError(
            f"a ledger payload must be plain JSON (str, int, float, bool, None, list, dict "
            f"with str keys); {exc}",
            value=repr(value)[:200],
        ) from exc


def _envelope(seq: int, time: str, kind: str, subject: str | None, body: bytes,
              prev_hash: str) -> bytes:
    """RFC 8785 form of the record, splicing in the already canonical payload ``body``
    (keys in JCS order: kind, payload, prev_hash, seq, subject, time)."""
    return b"".join((
        b'{"kind":', canonical(kind), b',"payload":', body, b',"prev_hash":',
        canonical(prev_hash), b',"seq":', str(seq).encode(), b',"subject":',
        canonical(subject), b',"time":', canonical(time), b"}",
    ))


def record_hash(
    seq: int, time: str, kind: str, subject: str | None, payload: Any, prev_hash: str
) -> str:
    """The hash of one record, as defined in the module docstring."""
    return _hash_body(seq, time, kind, subject, canonical(payload), prev_hash)


def _hash_body(seq: int, time: str, kind: str, subject: str | None, body: bytes,
               prev_hash: str) -> str:
    return hashlib.sha256(
        bytes.fromhex(prev_hash) + _envelope(seq, time, kind, subject, body, prev_hash)
    ).hexdigest()


@attrs.frozen
class Record:
    """One ledger record. ``subject`` is a pseudonym, never a raw user id."""

    seq: int
    time: dt.datetime
    kind: str
    subject: str | None
    payload: Mapping[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": _iso(self.time), "kind": self.kind,
                "subject": self.subject, "payload": dict(self.payload),
                "prev_hash": self.prev_hash, "hash": self.hash}


@attrs.frozen
class Entry:
    """A record to append: ``kind``, a JSON ``payload`` and an optional subject."""

    kind: str
    payload: Mapping[str, Any] = attrs.field(factory=dict)
    subject: Subject | str | None = None


@attrs.frozen
class Checkpoint:
    """A signed statement that the chain's record ``seq`` has hash ``hash``."""

    seq: int
    hash: str
    time: dt.datetime
    key_id: str
    signature: str

    def message(self) -> bytes:
        return _CHECKPOINT_DOMAIN + canonical(
            {"seq": self.seq, "hash": self.hash, "time": _iso(self.time), "key_id": self.key_id}
        )


@attrs.frozen
class VerifyReport:
    """The outcome of :meth:`Ledger.verify`. ``first_bad_seq`` is set when ``ok`` is false."""

    ok: bool
    records: int
    checkpoints: int
    first_seq: int | None
    last_seq: int | None
    first_bad_seq: int | None = None
    problem: str | None = None
    key_ids: tuple[str, ...] = ()
    pinned_key: bool = False

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@implements("CSL-21", "IM-14b", "LM-9")
class Ledger:
    """An append-only, hash-chained record log on SQLite or PostgreSQL.

    :param uri: ``sqlite:///path.db`` (WAL, fsync on commit) or ``postgresql://…``.
    :param signing_key: Ed25519 key (object or PEM path) for checkpoints. Without one, a key
        is generated once and kept in the ledger itself; verification then proves
        consistency only, so production should pass a key kept elsewhere.
    :param checkpoint_every: records between two signed checkpoints.
    :param retention: how long records are kept before :meth:`purge` may drop them
        (at least :data:`MIN_RETENTION`).
    :param pseudonym_secret: provider secret indexing the per-subject keys; generated and
        kept in the ledger when not given.
    :param durability: ``"full"`` (default) fsyncs every SQLite commit, so a record that
        :meth:`append` returned survives a power loss; ``"process"`` survives the death of
        the process (SIGKILL) but not of the machine, and is several times faster.
        PostgreSQL follows the server's own ``synchronous_commit``.
    """

    def __init__(
        self,
        uri: str,
        *,
        signing_key: Ed25519PrivateKey | str | os.PathLike[str] | None = None,
        checkpoint_every: int = 1000,
        retention: dt.timedelta = DEFAULT_RETENTION,
        pseudonym_secret: bytes | None = None,
        clock: Clock | None = None,
        durability: str = "full",
    ) -> None:
        if durability not in ("full", "process"):
            raise ConfigurationError(
                f"durability must be 'full' or 'process', got {durability!r}",
                field="durability", value=durability,
            )
        if checkpoint_every < 1:
            raise ConfigurationError(
                f"checkpoint_every must be >= 1, got {checkpoint_every}",
                field="checkpoint_every", value=checkpoint_every,
            )
        if retention < MIN_RETENTION:
            raise RetentionError(
                f"retention {retention.days} days is below the legal minimum of 6 months; "
                f"set at least {MIN_RETENTION.days} days (CSL-21, LM-9)",
                value=retention,
            )
        self.uri = uri
        self.clock: Clock = clock or SystemClock()
        self.checkpoint_every = checkpoint_every
        self.retention = retention
        self.db = SQLDatabase(parse_uri(uri), durable=durability == "full")
        self.db.executescript(_DDL)
        with self.db.transaction(write=True) as tx:
            self._insert_meta(tx, "head", f"0:{GENESIS_HASH}")
            self._insert_meta(tx, "anchor", "")
        if signing_key is None:
            self._key = self._embedded("signing_key", lambda: private_pem(generate_ed25519()))
            self._key_obj = load_ed25519_private(self._key)
            self.embedded_key = True
        else:
            self._key_obj = (signing_key if isinstance(signing_key, Ed25519PrivateKey)
                             else load_ed25519_private(signing_key))
            self.embedded_key = False
        self.key_id = key_id(self._key_obj.public_key())
        with self.db.transaction(write=True) as tx:
            self._insert_meta(tx, f"pubkey:{self.key_id}",
                              public_pem(self._key_obj.public_key()).decode())
        secret = pseudonym_secret or self._embedded(
            "pseudonym_secret", lambda: secrets.token_hex(32).encode())
        self._pseudonym_secret = secret
        self._pseudonyms: dict[str, str] = {}
        self._closed = False

    # -- meta --------------------------------------------------------------------------
    def _insert_meta(self, tx: Any, key: str, value: str) -> None:
        tx.execute("INSERT INTO gc_ledger_meta(key, value) VALUES (?, ?) ON CONFLICT (key) DO "
                   "NOTHING", (key, value))

    def _embedded(self, name: str, make: Any) -> bytes:
        with self.db.transaction(write=True) as tx:
            self._insert_meta(tx, name, make().decode())
            row = tx.execute("SELECT value FROM gc_ledger_meta WHERE key = ?", (name,)).fetchone()
        assert row is not None
        return str(row[0]).encode()

    # -- pseudonyms --------------------------------------------------------------------
    def _ref(self, user_id: str) -> str:
        return hmac.new(self._pseudonym_secret, b"ref\x00" + user_id.encode(),
                        hashlib.sha256).hexdigest()

    def pseudonym(self, subject: Subject | str) -> str:
        """The subject's stable pseudonym in this ledger (creates its key on first use)."""
        user_id = subject.user_id if isinstance(subject, Subject) else subject
        cached = self._pseudonyms.get(user_id)
        if cached is not None:
            return cached
        ref = self._ref(user_id)
        with self.db.transaction(write=True) as tx:
            row = tx.execute("SELECT subject_key FROM gc_subject_keys WHERE ref = ?",
                             (ref,)).fetchone()
            if row is None:
                tx.execute("INSERT INTO gc_subject_keys(ref, subject_key, created) VALUES "
                           "(?, ?, ?) ON CONFLICT (ref) DO NOTHING",
                           (ref, secrets.token_hex(32), _iso(self.clock.now())))
                row = tx.execute("SELECT subject_key FROM gc_subject_keys WHERE ref = ?",
                                 (ref,)).fetchone()
        assert row is not None
        name = "p:" + hmac.new(bytes.fromhex(row[0]), user_id.encode(),
                               hashlib.sha256).hexdigest()[:32]
        if len(self._pseudonyms) > 100_000:
            self._pseudonyms.clear()
        self._pseudonyms[user_id] = name
        return name

    def forget_subject(self, subject: Subject | str) -> bool:
        """Destroy the subject's key: its records stay, but can no longer be linked to it.

        Returns whether a key existed. Call :meth:`pseudonym` first if you need the old
        pseudonym (e.g. to answer a data-subject request before erasing). Other processes
        drop their cached pseudonym for the subject when they restart; until then they
        would create a new key (and pseudonym) only if the subject came back.
        """
        user_id = subject.user_id if isinstance(subject, Subject) else subject
        self._pseudonyms.pop(user_id, None)
        with self.db.transaction(write=True) as tx:
            row = tx.execute("SELECT 1 FROM gc_subject_keys WHERE ref = ?",
                             (self._ref(user_id),)).fetchone()
            tx.execute("DELETE FROM gc_subject_keys WHERE ref = ?", (self._ref(user_id),))
        return row is not None

    # -- appending ---------------------------------------------------------------------
    def append(
        self, kind: str, payload: Mapping[str, Any] | None = None, *,
        subject: Subject | str | None = None,
    ) -> Record:
        """Append one record; it is durable when this returns."""
        return self.append_many([Entry(kind, payload or {}, subject)])[0]

    def append_many(self, entries: Iterable[Entry]) -> list[Record]:
        """Append records in one transaction (all or none); durable when this returns."""
        prepared: list[tuple[str, str | None, dict[str, Any], bytes]] = []
        for entry in entries:
            if not entry.kind or not isinstance(entry.kind, str):
                raise LedgerError(f"a record needs a non-empty kind, got {entry.kind!r}",
                                  value=entry.kind)
            raw_payload = dict(entry.payload)
            body = canonical(raw_payload)
            if _fast_ok(raw_payload):
                payload = raw_payload
            else:  # floats: keep what a reader of the canonical text will get back
                payload = json.loads(body)
                try:
                    same = canonical(payload) == body
                except LedgerError:
                    same = False
                if not same:
                    raise LedgerError(
                        "a ledger payload number is outside the range JSON readers keep "
                        "exactly (|n| < 2**53); store it as a string",
                        value=repr(entry.payload)[:200],
                    )
            subj = None if entry.subject is None else self.pseudonym(entry.subject)
            prepared.append((entry.kind, subj, payload, body))
        if self._closed:
            raise LedgerError("the ledger is closed; open a new one to append")
        now = _iso(self.clock.now())
        out: list[Record] = []
        with self.db.transaction(write=True) as tx:
            seq, head = self._lock_head(tx)
            rows = []
            for kind, subj, payload, body in prepared:
                seq += 1
                digest = _hash_body(seq, now, kind, subj, body, head)
                rows.append((seq, now, kind, subj, body.decode(), head, digest))
                out.append(Record(seq, _parse_iso(now), kind, subj, payload, head, digest))
                head = digest
            tx.executemany("INSERT INTO gc_ledger_records(seq, time, kind, subject, payload, "
                           "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            tx.execute("UPDATE gc_ledger_meta SET value = ? WHERE key = 'head'",
                       (f"{seq}:{head}",))
            for rec in out:
                if rec.seq % self.checkpoint_every == 0:
                    self._write_checkpoint(tx, rec.seq, rec.hash)
        return out

    def _lock_head(self, tx: Any) -> tuple[int, str]:
        lock = " FOR UPDATE" if self.db.dialect == "postgresql" else ""
        row = tx.execute(f"SELECT value FROM gc_ledger_meta WHERE key = 'head'{lock}").fetchone()
        if row is None:
            raise LedgerError("the ledger's head row is missing; the ledger was tampered with "
                              "or not created by genai_compliance")
        seq, _, digest = str(row[0]).partition(":")
        return int(seq), digest

    def _write_checkpoint(self, tx: Any, seq: int, digest: str) -> Checkpoint:
        unsigned = Checkpoint(seq, digest, self.clock.now().replace(microsecond=0), self.key_id,
                              "")
        sig = _b64(self._key_obj.sign(unsigned.message()))
        cp = attrs.evolve(unsigned, signature=sig)
        tx.execute("INSERT INTO gc_ledger_checkpoints(seq, hash, time, key_id, signature) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING",
                   (cp.seq, cp.hash, _iso(cp.time), cp.key_id, cp.signature))
        return cp

    def checkpoint(self) -> Checkpoint | None:
        """Sign the current head now (no-op on an empty ledger)."""
        with self.db.transaction(write=True) as tx:
            seq, head = self._lock_head(tx)
            if seq == 0:
                return None
            return self._write_checkpoint(tx, seq, head)

    # -- reading -----------------------------------------------------------------------
    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the newest record; ``(0, GENESIS_HASH)`` when empty."""
        with self.db.transaction() as tx:
            return self._lock_head(tx) if self.db.dialect == "sqlite" else _head_ro(tx)

    def records(
        self, *, kind: str | None = None, since: dt.datetime | None = None,
        until: dt.datetime | None = None, subject: Subject | str | None = None,
        after_seq: int = 0,
    ) -> Iterator[Record]:
        """Records in chain order, filtered by kind prefix (``"consent"`` matches
        ``"consent.grant"``), time range ``[since, until)`` and subject."""
        sql = ("SELECT seq, time, kind, subject, payload, prev_hash, hash FROM "
               "gc_ledger_records WHERE seq > ?")
        params: list[Any] = [after_seq]
        if kind:
            sql += " AND (kind = ? OR substr(kind, 1, ?) = ?)"
            params += [kind, len(kind) + 1, kind + "."]
        if since:
            sql += " AND time >= ?"
            params.append(_iso(since))
        if until:
            sql += " AND time < ?"
            params.append(_iso(until))
        if subject is not None:
            sql += " AND subject = ?"
            params.append(self.pseudonym(subject))
        sql += " ORDER BY seq"
        batch = 2000
        last = after_seq
        while True:
            params[0] = last
            with self.db.transaction() as tx:
                rows = tx.execute(sql + f" LIMIT {batch}", params).fetchall()
            for row in rows:
                yield Record(int(row[0]), _parse_iso(row[1]), row[2], row[3],
                             json.loads(row[4]), row[5], row[6])
            if len(rows) < batch:
                return
            last = int(rows[-1][0])

    def checkpoints(self) -> list[Checkpoint]:
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT seq, hash, time, key_id, signature FROM "
                              "gc_ledger_checkpoints ORDER BY seq").fetchall()
        return [Checkpoint(int(r[0]), r[1], _parse_iso(r[2]), r[3], r[4]) for r in rows]

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The checkpoint keys recorded in the ledger, by key id."""
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT key, value FROM gc_ledger_meta WHERE substr(key, 1, 7) "
                              "= ?", ("pubkey:",)).fetchall()
        return {r[0].split(":", 1)[1]: load_ed25519_public(r[1].encode()) for r in rows}

    # -- verification ------------------------------------------------------------------
    def verify(self, public_key: Ed25519PublicKey | None = None) -> VerifyReport:
        """Check the whole chain, every checkpoint signature and the head.

        With ``public_key`` the checkpoints must be signed by that key (pinned); otherwise
        by one of the keys recorded in the ledger, which proves consistency only.
        """
        return verify_ledger(self, public_key)

    # -- retention ---------------------------------------------------------------------
    def purge(self, *, now: dt.datetime | None = None) -> int:
        """Drop the oldest records older than the retention period; returns how many.

        Only a prefix of the chain is dropped. A signed anchor (the last dropped record's
        hash) is kept, so the rest still verifies; the purge itself is a new record.
        """
        now = now or self.clock.now()
        cutoff = _iso(now - self.retention)
        with self.db.transaction(write=True) as tx:
            head_seq, _ = self._lock_head(tx)  # also serialises with appenders
            first_kept = tx.execute("SELECT MIN(seq) FROM gc_ledger_records WHERE time >= ?",
                                    (cutoff,)).fetchone()
            upto = (int(first_kept[0]) - 1) if first_kept and first_kept[0] else head_seq
            row = tx.execute("SELECT hash, (SELECT COUNT(*) FROM gc_ledger_records WHERE "
                             "seq <= ?) FROM gc_ledger_records WHERE seq = ?",
                             (upto, upto)).fetchone()
            if row is None or int(row[1]) == 0:
                return 0
            anchor_hash, count = row[0], int(row[1])
            msg = _ANCHOR_DOMAIN + canonical({"seq": upto, "hash": anchor_hash,
                                              "key_id": self.key_id})
            anchor = json.dumps({"seq": upto, "hash": anchor_hash, "key_id": self.key_id,
                                 "signature": _b64(self._key_obj.sign(msg))})
            tx.execute("UPDATE gc_ledger_meta SET value = ? WHERE key = 'anchor'", (anchor,))
            tx.execute("DELETE FROM gc_ledger_records WHERE seq <= ?", (upto,))
            tx.execute("DELETE FROM gc_ledger_checkpoints WHERE seq <= ?", (upto,))
        self.append("ledger.purge", {"up_to_seq": upto, "records": count,
                                     "anchor_hash": anchor_hash, "cutoff": cutoff})
        return count

    def anchor(self) -> tuple[int, str, str, str] | None:
        """``(seq, hash, key_id, signature)`` of the purge anchor, if records were purged."""
        with self.db.transaction() as tx:
            row = tx.execute("SELECT value FROM gc_ledger_meta WHERE key = 'anchor'").fetchone()
        if not row or not row[0]:
            return None
        data = json.loads(row[0])
        return int(data["seq"]), data["hash"], data["key_id"], data["signature"]

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Write a final checkpoint (when records came after the last one) and close."""
        if self._closed:
            return
        try:
            with self.db.transaction(write=True) as tx:
                seq, head = self._lock_head(tx)
                last = tx.execute("SELECT MAX(seq) FROM gc_ledger_checkpoints").fetchone()
                if seq and (not last or last[0] is None or int(last[0]) < seq):
                    self._write_checkpoint(tx, seq, head)
        except StoreUnavailable:
            pass
        finally:
            self._closed = True
            self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.db.uri.redacted()!r})"


def _head_ro(tx: Any) -> tuple[int, str]:
    row = tx.execute("SELECT value FROM gc_ledger_meta WHERE key = 'head'").fetchone()
    if row is None:
        return 0, GENESIS_HASH
    seq, _, digest = str(row[0]).partition(":")
    return int(seq), digest


def verify_ledger(ledger: Ledger, public_key: Ed25519PublicKey | None = None) -> VerifyReport:
    """See :meth:`Ledger.verify`."""
    keys = {key_id(public_key): public_key} if public_key else ledger.public_keys()
    counts: dict[str, Any] = {"records": 0, "first": None, "last": None}

    def fail(seq: int | None, problem: str, checkpoints: int = 0) -> VerifyReport:
        return VerifyReport(False, counts["records"], checkpoints, counts["first"],
                            counts["last"], seq, problem, tuple(sorted(keys)),
                            public_key is not None)

    def check_sig(kid: str, message: bytes, signature: str) -> bool:
        key = keys.get(kid)
        if key is None:
            return False
        try:
            key.verify(_unb64(signature), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    anchor = ledger.anchor()
    expected_seq, running = 1, GENESIS_HASH
    if anchor is not None:
        a_seq, a_hash, a_kid, a_sig = anchor
        msg = _ANCHOR_DOMAIN + canonical({"seq": a_seq, "hash": a_hash, "key_id": a_kid})
        if not check_sig(a_kid, msg, a_sig):
            return fail(a_seq + 1, "the purge anchor's signature does not verify")
        expected_seq, running = a_seq + 1, a_hash

    hashes: dict[int, str] = {}
    cps = ledger.checkpoints()
    wanted = {cp.seq for cp in cps}
    for seq, time, kind, subject, payload_text, prev_hash, digest in _raw_rows(ledger):
        seq = int(seq)
        if seq != expected_seq:
            return fail(min(seq, expected_seq), "a record is missing or out of place")
        try:
            json.loads(payload_text)
            _parse_iso(time)
        except ValueError:
            return fail(seq, "the record does not verify")
        if prev_hash != running:
            return fail(seq, "the record does not chain to the one before")
        if _hash_body(seq, time, kind, subject, payload_text.encode(), prev_hash) != digest:
            return fail(seq, "the record does not verify")
        if counts["first"] is None:
            counts["first"] = seq
        counts["last"] = seq
        counts["records"] += 1
        if seq in wanted:
            hashes[seq] = digest
        running = digest
        expected_seq = seq + 1

    head_seq, head_hash = ledger.head()
    last_seq = expected_seq - 1
    for i, cp in enumerate(cps):
        if not check_sig(cp.key_id, cp.message(), cp.signature):
            return fail(cp.seq, "a checkpoint's signature does not verify", i)
        if anchor is not None and cp.seq <= anchor[0]:
            continue
        if cp.seq > last_seq:
            return fail(last_seq + 1, "records signed by a checkpoint are missing", i)
        if hashes.get(cp.seq) != cp.hash:
            return fail(cp.seq, "the record does not match its signed checkpoint", i)
    if (head_seq, head_hash) != (last_seq, running):
        return fail(min(head_seq, last_seq) + 1, "the ledger head does not match its records",
                    len(cps))
    return VerifyReport(True, counts["records"], len(cps), counts["first"], counts["last"],
                        None, None, tuple(sorted(keys)), public_key is not None)


def _raw_rows(ledger: Ledger, batch: int = 5000) -> Iterator[tuple[Any, ...]]:
    last = -1
    while True:
        with ledger.db.transaction() as tx:
            rows = tx.execute("SELECT seq, time, kind, subject, payload, prev_hash, hash FROM "
                              f"gc_ledger_records WHERE seq > ? ORDER BY seq LIMIT {batch}",
                              (last,)).fetchall()
        yield from rows
        if len(rows) < batch:
            return
        last = int(rows[-1][0])


def open_ledger(uri: str, **options: Any) -> Ledger:
    """Open (creating when missing) the ledger at ``uri``; see :class:`Ledger`."""
    return Ledger(uri, **options)
