"""The tamper-evident ledger: append-only, hash-chained, a Merkle tree with signed tree heads
kept outside the database, and group commit.

Every decision the Measures ask a provider to keep (CSL-21 logs, IM-14b illegal-use records,
LM-9 recipient logs, consent events, complaints, labels issued) is one :class:`Record`; its
format is that of 0.1 (see :mod:`._format`). Since 0.2:

* the records are the leaves of an RFC 6962 Merkle tree, in ``seq`` order; a
  :class:`Checkpoint` is a C2SP signed tree head written every ``checkpoint_every`` records,
  every ``checkpoint_interval`` seconds while records wait, on :meth:`Ledger.close` — into
  the database *and* into witnesses outside it (a folder or a second store);
* the signing key and the pseudonym secret are never kept in the ledger's tables unless
  ``dev_mode=True`` says so (see :mod:`._keys`);
* appends are group-committed: one writer thread per ledger takes every append that arrived
  while its previous commit ran and writes them in one transaction with one fsync, for
  threads (:meth:`Ledger.append`) and coroutines (:meth:`Ledger.aappend`) alike.

Many processes may append at once: each transaction takes the database's write lock (SQLite
``BEGIN IMMEDIATE``, PostgreSQL ``SELECT … FOR UPDATE`` on the head row), so there is one
chain and never a fork.

Subjects are stored as keyed pseudonyms: ``HMAC-SHA256(K, k_subject || user_id)`` with a
random per-subject key ``k_subject`` found through ``HMAC(secret, user_id)``, ``K`` derived
from the provider secret. :meth:`Ledger.forget_subject` destroys ``k_subject``, after which
nobody can link the subject's records to the person (PIPL Art. 47) while the chain still
verifies.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import collections
import contextlib
import datetime as dt
import hashlib
import hmac
import itertools
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
import weakref
from _thread import allocate_lock as _allocate_lock
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..clock import Clock, SystemClock
from ..crypto import (
    Ed25519Signer,
    as_ed25519_signer,
    generate_ed25519,
    key_id,
    load_ed25519_private,
    private_pem,
    public_pem,
)
from ..crypto import b64url_encode as _b64
from ..errors import (
    ConfigurationError,
    LedgerError,
    LedgerIntegrityError,
    RetentionError,
    StoreUnavailable,
)
from ..rules import implements
from ..stores import SQLDatabase, StoreURI, parse_uri
from ..subject import Subject
from . import _keys
from ._format import (
    GENESIS_HASH,
    Entry,
    Record,
    canonical,
    iso,
    json_str,
    new_record,
    parse_iso,
    prepare_body,
    record_hash,
)
from ._merkle import CompactRange
from ._note import Checkpoint, check_origin, raw_public, sign_checkpoint
from ._pg import PGWriter
from ._reader import CACHE_LEVEL, LedgerReader, NodeSource, TreeMeta, row_leaf
from ._witness import DirectoryWitness, Witness, flush_pending, open_witness, publish_later

if TYPE_CHECKING:
    from ._verify import ReadOnlyLedger, VerifyReport

__all__ = [
    "DEFAULT_CHECKPOINT_INTERVAL",
    "DEFAULT_RETENTION",
    "GENESIS_HASH",
    "MIN_RETENTION",
    "Checkpoint",
    "Entry",
    "Ledger",
    "Record",
    "canonical",
    "open_ledger",
    "record_hash",
]

log = logging.getLogger("genai_compliance.ledger")

#: records :meth:`Ledger.purge` drops per transaction (appends wait for one step at most)
PURGE_BATCH = 10_000
#: The shortest retention the SDK accepts: 184 days is the longest span of six calendar
#: months, so "at least 6 months" (CSL-21, LM-9) holds whatever the start date.
MIN_RETENTION = dt.timedelta(days=184)
DEFAULT_RETENTION = dt.timedelta(days=365)
#: seconds a record may wait for a signed checkpoint while the writer runs
DEFAULT_CHECKPOINT_INTERVAL = 60.0
_ANCHOR_DOMAIN = b"genai-compliance/ledger-anchor/v1\n"
_ANCHOR_TREE_DOMAIN = b"genai-compliance/ledger-anchor/v2\n"
ROTATION_DOMAIN = b"genai-compliance/ledger-key-rotation/v1\n"
ROTATION_KIND = "ledger.key"
_PSEUDONYM_V2 = b"genai-compliance/pseudonym/v2"
_SUBJECT_KEY = b"genai-compliance/subject-key/v1"
_SECRET_CHECK = b"genai-compliance/pseudonym-check/v1"

_RECORDS_DDL = ("CREATE TABLE IF NOT EXISTS gc_ledger_records (seq {seq} PRIMARY KEY, time TEXT "
                "NOT NULL, kind TEXT NOT NULL, subject TEXT, payload TEXT NOT NULL, prev_hash "
                "TEXT NOT NULL, hash TEXT NOT NULL)")
_DDL = [
    # (SQLite: INTEGER PRIMARY KEY makes seq the rowid, one B-tree fewer per insert; 0.1
    # ledgers keep their BIGINT column, which reads the same)
    "CREATE INDEX IF NOT EXISTS gc_ledger_records_kind ON gc_ledger_records (kind, seq)",
    "CREATE INDEX IF NOT EXISTS gc_ledger_records_time ON gc_ledger_records (time)",
    # 0.1 checkpoints (a signature over one record's chain hash); still verified
    "CREATE TABLE IF NOT EXISTS gc_ledger_checkpoints (seq BIGINT PRIMARY KEY, "
    "hash TEXT NOT NULL, time TEXT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gc_ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gc_subject_keys (ref TEXT PRIMARY KEY, subject_key TEXT "
    "NOT NULL, created TEXT NOT NULL)",
    # 0.2: signed tree heads (C2SP checkpoints) and cached perfect Merkle subtrees
    "CREATE TABLE IF NOT EXISTS gc_ledger_tree_heads (size BIGINT PRIMARY KEY, root TEXT NOT "
    "NULL, time TEXT NOT NULL, key_id TEXT NOT NULL, note TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gc_ledger_tree_nodes (level INTEGER NOT NULL, idx BIGINT NOT "
    "NULL, hash TEXT NOT NULL, PRIMARY KEY (level, idx))",
]

_INSERT_RECORDS = ("INSERT INTO gc_ledger_records(seq, time, kind, subject, payload, "
                   "prev_hash, hash) VALUES ")
_RECORD_MARKS = "(?, ?, ?, ?, ?, ?, ?)"
_CHUNKS = tuple(1 << k for k in range(9, -1, -1))  # 512, 256, …, 1


def _insert_records(tx: Any, rows: list[tuple[Any, ...]]) -> None:
    """Insert records. SQLite: multi-row ``INSERT … VALUES (…), (…)`` statements — a few per
    commit instead of one per record, in power-of-two chunks so the statement cache holds at
    most ten texts. PostgreSQL: ``executemany``, which psycopg pipelines (faster there than
    one statement with hundreds of parameters)."""
    if tx.dialect == "postgresql":
        tx.executemany(_INSERT_RECORDS + _RECORD_MARKS, rows)
        return
    flat = list(itertools.chain.from_iterable(rows))
    count = len(rows)
    start = 0
    for size in _CHUNKS:
        while count >= size:
            sql = _INSERT_SQL.get(size)
            if sql is None:
                sql = _INSERT_SQL[size] = _INSERT_RECORDS + ", ".join([_RECORD_MARKS] * size)
            end = start + 7 * size
            tx.execute(sql, flat[start:end])
            start = end
            count -= size


_INSERT_SQL: dict[int, str] = {}
# SQLite: the head and tree rows set in one statement if the head is still what this process
# wrote last (two rows come back), else nothing changes (RETURNING needs SQLite 3.35)
_CAS_SQLITE = ("UPDATE gc_ledger_meta SET value = CASE key WHEN 'head' THEN ? ELSE ? END "
               "WHERE key IN ('head', 'tree') AND (SELECT value FROM gc_ledger_meta WHERE "
               "key = 'head') = ? RETURNING key")
_SQLITE_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
_sha256 = hashlib.sha256




def _std_b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _user_id(subject: Subject | str) -> str:
    user_id = subject.user_id if isinstance(subject, Subject) else subject
    if not isinstance(user_id, str) or not user_id:
        raise LedgerError("a subject needs a non-empty user id (the ledger stores only its "
                          "pseudonym)")
    if not user_id.isascii():
        try:
            user_id.encode("utf-8")
        except UnicodeEncodeError:
            raise LedgerError("a subject's user id must be valid Unicode text; this one holds "
                              "a lone surrogate (decode the request strictly, or reject it)"
                              ) from None
    return user_id


def rotation_statement(payload: Mapping[str, Any]) -> bytes:
    """What both keys sign in a key-rotation record."""
    return ROTATION_DOMAIN + canonical({k: payload[k] for k in (
        "origin", "old_key_id", "old_public_key", "new_key_id", "new_public_key")})


def anchor_tree_message(origin: str, seq: int, digest: str, base: int,
                        nodes: Sequence[bytes]) -> bytes:
    return _ANCHOR_TREE_DOMAIN + canonical({"origin": origin, "seq": seq, "hash": digest,
                                            "tree_base": base,
                                            "tree_nodes": [n.hex() for n in nodes]})


def legacy_anchor_message(seq: int, digest: str, kid: str) -> bytes:
    return _ANCHOR_DOMAIN + canonical({"seq": seq, "hash": digest, "key_id": kid})


# -- writer requests ---------------------------------------------------------------------
# prepared entry: (kind, user id or None, pseudonym or None, payload, body (its canonical
# JSON text), the envelope's bytes up to the previous hash: b'{"kind":…,"payload":…,
# "prev_hash":"')
_Item = tuple[str, "str | None", "str | None", dict[str, Any], str, bytes]


class _Request:
    """Records (or an operation) for the writer, and how its caller learns the outcome:
    a thread blocks on ``waiter`` (a lock held until :func:`_settle` releases it, or until
    the commit token is handed to it: ``promoted``); a coroutine awaits ``future``, settled
    on its own event loop."""

    __slots__ = ("error", "future", "items", "loop", "op", "promoted", "result", "waiter")

    def __init__(self, items: list[_Item] | None = None,
                 op: Callable[[Any, _State], Any] | None = None) -> None:
        self.items = items
        self.op = op
        self.result: Any = None
        self.error: BaseException | None = None
        self.waiter: Any = None  # a held _thread.lock, for blocking callers
        self.loop: asyncio.AbstractEventLoop | None = None
        self.future: asyncio.Future[Any] | None = None
        self.promoted = False

    @classmethod
    def blocking(cls, items: list[_Item] | None = None,
                 op: Callable[[Any, _State], Any] | None = None) -> _Request:
        """A request whose caller will :meth:`wait` in this thread."""
        request = cls(items, op)
        waiter = request.waiter = _allocate_lock()
        waiter.acquire()
        return request

    def wait(self) -> Any:
        self.waiter.acquire()
        if self.error is not None:
            raise self.error
        return self.result


def _settle(requests: Sequence[_Request]) -> None:
    """Tell the callers of finished requests: each waiting thread through its lock, the
    coroutines with one ``call_soon_threadsafe`` per event loop for the whole lot (not one
    self-pipe write per record)."""
    loop: asyncio.AbstractEventLoop | None = None
    mine: list[_Request] = []
    others: dict[asyncio.AbstractEventLoop, list[_Request]] | None = None
    for request in requests:
        waiter = request.waiter
        if waiter is not None:
            waiter.release()
            continue
        target = request.loop
        if target is None:
            continue
        if target is loop or loop is None:
            loop = target
            mine.append(request)
        else:
            if others is None:
                others = {}
            others.setdefault(target, []).append(request)
    if loop is None:
        return
    batches = [(loop, mine)]
    if others:
        batches.extend(others.items())
    for target, settled in batches:
        try:
            target.call_soon_threadsafe(_settle_futures, settled)
        except RuntimeError:  # the loop was closed meanwhile: nobody awaits these any more
            pass


def _settle_futures(requests: list[_Request]) -> None:
    """On the event loop: settle the futures of finished requests (not the cancelled ones:
    a record handed to the writer stays appended)."""
    for request in requests:
        future = request.future
        if future is None or future.done():
            continue
        if request.error is not None:
            future.set_exception(request.error)
        else:
            future.set_result(request.result)


class _State:
    """The chain head and the tree's right edge, as of one transaction."""

    __slots__ = ("base", "head", "head_text", "heads", "rng", "seq", "tree_text")

    def __init__(self, seq: int, head: str, base: int, rng: CompactRange, head_text: str,
                 tree_text: str) -> None:
        self.seq, self.head, self.base, self.rng = seq, head, base, rng
        self.head_text, self.tree_text = head_text, tree_text
        #: tree heads to sign once the transaction has committed
        self.heads: list[tuple[int, bytes, dt.datetime]] = []

    def copy(self) -> _State:
        return _State(self.seq, self.head, self.base, self.rng.copy(), self.head_text,
                      self.tree_text)


class _Writer:
    """The queue and thread of one ledger in one process (rebuilt after ``fork``)."""

    def __init__(self, max_batch: int = 1000) -> None:
        #: guards every field; ``cond`` waits on it (``with writer.lock`` is the same as
        #: ``with writer.cond``, without a Python-level call)
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.queue: collections.deque[_Request] = collections.deque()
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()
        self.stopping = False
        self.max_batch = max_batch
        #: someone (a calling thread or the writer thread) is committing: the commit token
        self.busy = False
        #: the writer thread waits on ``cond`` (so a new request must wake it)
        self.sleeping = False

    def take(self) -> list[_Request]:
        """The next batch: every queued request up to ``max_batch`` records (under cond)."""
        batch: list[_Request] = []
        count = 0
        while self.queue:
            n = len(self.queue[0].items or ()) or 1
            if batch and count + n > self.max_batch:
                break
            batch.append(self.queue.popleft())
            count += n
        return batch


_LIVE: weakref.WeakSet[Ledger] = weakref.WeakSet()


def _close_live_ledgers() -> None:  # atexit: final checkpoints of ledgers written to
    for ledger in list(_LIVE):
        with contextlib.suppress(Exception):
            if ledger._wrote and not ledger._closed:
                if ledger.db.dialect == "sqlite" and not os.path.exists(ledger.db.uri.path):
                    continue
                ledger.close()


def _after_fork() -> None:
    for ledger in list(_LIVE):
        ledger._writer = _Writer(ledger.max_batch)
        ledger._state = None


_ATEXIT = threading.Lock()
_atexit_registered = False


def _register_atexit() -> None:
    """Register the exit hook after the first database finalizer exists: atexit runs in
    reverse order, so ledgers close before their connections are finalized."""
    global _atexit_registered
    with _ATEXIT:
        if not _atexit_registered:
            atexit.register(_close_live_ledgers)
            _atexit_registered = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


@implements("CSL-21", "IM-14b", "LM-9")
class Ledger:
    """An append-only, hash-chained, Merkle-checkpointed record log on SQLite or PostgreSQL.

    :param uri: ``sqlite:///path.db`` (WAL) or ``postgresql://…`` (``?schema=NAME``).
    :param signing_key: the checkpoint key: an ``Ed25519PrivateKey``, a PEM path, or a
        signer with ``public_key()`` and ``sign(data)`` such as
        :class:`~genai_compliance.crypto.Ed25519CallbackSigner` (KMS/HSM).
    :param pseudonym_secret: the secret that keys subject pseudonyms (bytes).
    :param key_file: a key file holding both (created once, mode 0600, when missing).
    :param key_env: an environment variable holding a key file's text (or its base64).
    :param key_dir: the folder of the default key file (see :mod:`genai_compliance.ledger`).
    :param pseudonym_secret_env: an environment variable holding the pseudonym secret alone.
    :param dev_mode: keep generated secrets in the ledger's own tables (development only:
        verification then proves consistency, not origin).
    :param checkpoint_every: records between two signed checkpoints.
    :param checkpoint_interval: seconds (or a timedelta) a record may wait for a checkpoint.
    :param witness_dir: folder that receives every checkpoint (default: beside the SQLite
        file, or under ``$GENAI_COMPLIANCE_HOME`` for PostgreSQL); ``False`` for none.
    :param witness_uri: a second store (``sqlite:///…``/``postgresql://…``) that receives
        every checkpoint.
    :param origin: the checkpoint origin line (default ``genai-compliance.invalid/ledger/<id>``).
    :param retention: how long records are kept before :meth:`purge` may drop them
        (at least :data:`MIN_RETENTION`).
    :param durability: ``"full"`` (default): an append that returned survives a power loss
        (SQLite ``synchronous=FULL``, PostgreSQL ``synchronous_commit=on``); ``"process"``:
        it survives the death of the process (SIGKILL) but not of the machine or the
        database server (SQLite ``NORMAL``, PostgreSQL ``synchronous_commit=off``).
    :param max_batch: most records one group commit writes.

    .. versionchanged:: 0.2 secrets kept outside the ledger by default; Merkle tree, C2SP
       checkpoints, witnesses, key rotation, group commit, :meth:`aappend`.
    """

    def __init__(
        self,
        uri: str,
        *,
        signing_key: Ed25519PrivateKey | Ed25519Signer | str | os.PathLike[str] | None = None,
        checkpoint_every: int = 1000,
        retention: dt.timedelta = DEFAULT_RETENTION,
        pseudonym_secret: bytes | None = None,
        clock: Clock | None = None,
        durability: str = "full",
        key_file: str | os.PathLike[str] | None = None,
        key_env: str | None = None,
        key_dir: str | os.PathLike[str] | None = None,
        pseudonym_secret_env: str | None = None,
        dev_mode: bool = False,
        checkpoint_interval: float | dt.timedelta = DEFAULT_CHECKPOINT_INTERVAL,
        witness_dir: str | os.PathLike[str] | bool | None = None,
        witness_uri: str | None = None,
        origin: str | None = None,
        max_batch: int = 1000,
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
        interval = (checkpoint_interval.total_seconds()
                    if isinstance(checkpoint_interval, dt.timedelta)
                    else float(checkpoint_interval))
        if not interval > 0:
            raise ConfigurationError(
                f"checkpoint_interval must be a positive number of seconds, got "
                f"{checkpoint_interval!r}", field="checkpoint_interval_seconds",
                value=checkpoint_interval)
        if max_batch < 1:
            raise ConfigurationError(f"max_batch must be >= 1, got {max_batch}",
                                     field="max_batch", value=max_batch)
        if retention < MIN_RETENTION:
            raise RetentionError(
                f"retention {retention.days} days is below the legal minimum of 6 months; "
                f"set at least {MIN_RETENTION.days} days (CSL-21, LM-9)",
                value=retention,
            )
        self.uri = uri
        self.clock: Clock = clock or SystemClock()
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = interval
        self.retention = retention
        self.durability = durability
        self.max_batch = max_batch
        self._parsed: StoreURI = parse_uri(uri)
        self.db = SQLDatabase(self._parsed, durable=durability == "full")
        self._pg_writer: PGWriter | None = (
            PGWriter(self._parsed, durable=durability == "full")
            if self.db.dialect == "postgresql" else None)
        _register_atexit()
        self.reader = LedgerReader(self.db, uri=self._parsed.redacted())
        self._closed = False
        self._wrote = False
        self._pseudonyms: dict[str, str] = {}
        #: kind -> the envelope's first bytes, b'{"kind":"…","payload":'
        self._kind_json: dict[str, bytes] = {}
        self._state: _State | None = None
        #: group commits made by this process (the benchmark divides records by it)
        self._commits = 0
        self._writer = _Writer(max_batch)
        self._lock = threading.Lock()
        # SQLite :memory: is one database per connection: write on the caller's thread
        self._inline = self._parsed.kind == "sqlite" and self._parsed.path == ":memory:"
        self._inline_lock = threading.RLock()
        self._last_cp_size = 0
        self._last_cp_time: dt.datetime | None = None
        self._witness_failed: str | None = None
        self.witnesses: list[Witness] = []
        self._key_path: str | None = None
        self.db.executescript([_RECORDS_DDL.format(
            seq="INTEGER" if self.db.dialect == "sqlite" else "BIGINT"), *_DDL])
        with self.db.transaction(write=True) as tx:
            for key, value in (("head", f"0:{GENESIS_HASH}"), ("anchor", ""), ("tree", "")):
                self._insert_meta(tx, key, value)
        self._origin = self._init_origin(origin)
        self._init_keys(signing_key=signing_key, pseudonym_secret=pseudonym_secret,
                        key_file=key_file, key_env=key_env, key_dir=key_dir,
                        pseudonym_secret_env=pseudonym_secret_env, dev_mode=dev_mode)
        self.witnesses = self._init_witnesses(witness_dir, witness_uri)
        self._run_direct(self._op_sync_tree)
        self._load_last_checkpoint()
        self._check_witnesses()
        _LIVE.add(self)

    # -- set-up ------------------------------------------------------------------------
    def _insert_meta(self, tx: Any, key: str, value: str) -> None:
        tx.execute("INSERT INTO gc_ledger_meta(key, value) VALUES (?, ?) ON CONFLICT (key) DO "
                   "NOTHING", (key, value))

    def _meta_value(self, tx: Any, key: str) -> str | None:
        row = tx.execute("SELECT value FROM gc_ledger_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _init_origin(self, origin: str | None) -> str:
        if origin is not None:
            check_origin(origin)
        with self.db.transaction(write=True) as tx:
            self._insert_meta(tx, "origin", origin or
                              f"genai-compliance.invalid/ledger/{secrets.token_hex(8)}")
            stored = self._meta_value(tx, "origin")
        assert stored is not None
        if origin is not None and stored != origin:
            raise ConfigurationError(
                f"the ledger's checkpoint origin is {stored!r}; ledger.origin = {origin!r} "
                "cannot rename an existing ledger (remove the setting)", field="ledger.origin",
                value=origin)
        return stored

    def _init_keys(self, *, signing_key: Any, pseudonym_secret: bytes | None,
                   key_file: Any, key_env: str | None, key_dir: Any,
                   pseudonym_secret_env: str | None, dev_mode: bool) -> None:
        embedded = self.reader.meta("signing_key", "pseudonym_secret")
        self.dev_mode = bool(dev_mode)
        secret: bytes | None = pseudonym_secret
        if secret is not None and (not isinstance(secret, bytes) or len(secret) < 16):
            raise ConfigurationError("pseudonym_secret must be at least 16 bytes",
                                     field="pseudonym_secret")
        if secret is None and pseudonym_secret_env:
            value = os.environ.get(pseudonym_secret_env)
            if not value:
                raise ConfigurationError(
                    f"ledger.pseudonym_secret_env names {pseudonym_secret_env!r}, which is not "
                    "set; export it or remove the setting", field="ledger.pseudonym_secret_env",
                    value=pseudonym_secret_env)
            secret = value.encode()
        signer: Ed25519Signer | None = (None if signing_key is None
                                        else as_ed25519_signer(signing_key))
        self._key_path = None
        source = "code"
        material: _keys.KeyMaterial | None = None
        if key_env:
            value = os.environ.get(key_env)
            if not value:
                raise ConfigurationError(
                    f"ledger.key_env names {key_env!r}, which is not set; export the key file's "
                    "text (or its base64) there, or remove the setting", field="ledger.key_env",
                    value=key_env)
            material = _keys.parse_key_material(value, source=f"environment variable {key_env}")
        elif signer is None or secret is None:
            if self.dev_mode and key_file is None:
                material = self._embedded_material()
            else:
                path = (os.path.abspath(os.fspath(key_file)) if key_file is not None
                        else _keys.default_key_file(
                            self._parsed, None if key_dir is None else os.fspath(key_dir)))
                if path is None:  # in-memory SQLite: keys live as long as the database
                    material = _keys.KeyMaterial(generate_ed25519(), secrets.token_bytes(32),
                                                 "memory (in-memory ledger)")
                else:
                    self._finish_rotation(path)
                    seed = embedded.get("pseudonym_secret")
                    if not os.path.exists(path):
                        _keys.write_key_file(path, generate_ed25519(),
                                             seed.encode() if seed else secrets.token_bytes(32))
                    material = _keys.read_key_file(path)
                    self._key_path = path
        if material is not None:
            source = material.source
            if signer is None:
                if material.signer is None:
                    raise ConfigurationError(f"{material.source} holds no signing key; add one "
                                             "(`genai-compliance ledger keygen`)",
                                             field="ledger.key_file")
                signer = material.signer
            if secret is None:
                if material.secret is None:
                    raise ConfigurationError(f"{material.source} holds no pseudonym secret; "
                                             "add one (`genai-compliance ledger keygen`)",
                                             field="ledger.key_file")
                secret = material.secret
        assert signer is not None and secret is not None
        self.key_source = source
        self.embedded_key = source.startswith("ledger tables")
        self._signer = signer
        self._set_secret(secret)
        self.key_id = key_id(signer.public_key())
        self._check_secret_and_key(embedded)

    def _embedded_material(self) -> _keys.KeyMaterial:
        """Development mode: secrets generated once and kept in ``gc_ledger_meta``."""
        with self.db.transaction(write=True) as tx:
            self._insert_meta(tx, "signing_key", private_pem(generate_ed25519()).decode())
            self._insert_meta(tx, "pseudonym_secret", secrets.token_hex(32))
            key = self._meta_value(tx, "signing_key")
            secret = self._meta_value(tx, "pseudonym_secret")
        assert key is not None and secret is not None
        return _keys.KeyMaterial(load_ed25519_private(key.encode()), secret.encode(),
                                 "ledger tables (development mode)")

    def _set_secret(self, secret: bytes) -> None:
        self._pseudonym_secret = secret
        self._pkey = hmac.new(secret, _PSEUDONYM_V2, _sha256).digest()
        self._skey = hmac.new(secret, _SUBJECT_KEY, _sha256).digest()
        self._secret_check = hmac.new(secret, _SECRET_CHECK, _sha256).hexdigest()[:32]

    def _finish_rotation(self, path: str) -> None:
        """A rotation that committed but stopped before replacing the key file."""
        pending = path + ".next"
        if not os.path.exists(pending):
            return
        current = self.reader.meta("current_key").get("current_key")
        try:
            nxt = _keys.read_key_file(pending)
        except ConfigurationError:
            return
        if nxt.signer is not None and key_id(nxt.signer.public_key()) == current:
            os.replace(pending, path)
        else:
            with contextlib.suppress(OSError):
                os.unlink(pending)

    def _check_secret_and_key(self, embedded: Mapping[str, str]) -> None:
        """The secret must be the ledger's own (else pseudonyms would silently change) and
        the key its current checkpoint key; a 0.1 ledger's embedded secrets move out."""
        seed = embedded.get("pseudonym_secret")
        if seed and not self.embedded_key and seed.encode() != self._pseudonym_secret:
            raise ConfigurationError(
                "this ledger keeps a pseudonym secret in its own tables (the 0.1 default) and "
                f"{self.key_source} holds another one; move the embedded one into your key "
                "file with `genai-compliance ledger migrate-keys URI --key-file PATH`",
                field="ledger.key_file")
        legacy = embedded.get("signing_key")
        legacy_id = (None if not legacy
                     else key_id(load_ed25519_private(legacy.encode()).public_key()))
        with self.db.transaction(write=True) as tx:
            self._insert_meta(tx, "pseudonym_check", self._secret_check)
            if self._meta_value(tx, "pseudonym_check") != self._secret_check:
                raise ConfigurationError(
                    f"the pseudonym secret from {self.key_source} is not the one this ledger "
                    "was created with, so subjects would get new pseudonyms; use that ledger's "
                    "key file (copy it to every host) or ledger.key_env",
                    field="ledger.key_file")
            self._insert_meta(tx, "current_key", legacy_id or self.key_id)
            current = self._meta_value(tx, "current_key")
            if current == self.key_id:
                self._insert_meta(tx, f"pubkey:{self.key_id}",
                                  public_pem(self._signer.public_key()).decode())
        if embedded and not self.embedded_key:
            self._migrate_embedded(embedded, current)
        elif current != self.key_id:
            raise ConfigurationError(
                f"this ledger's checkpoints are signed by key {current}; the configured key "
                f"({self.key_source}) is {self.key_id}. Use the key that signs this ledger, or "
                "rotate to the new one with `genai-compliance ledger rotate-key`",
                field="ledger.key_file", value=self.key_id)

    def _migrate_embedded(self, embedded: Mapping[str, str], current: str | None) -> None:
        """Move a 0.1 ledger's embedded secrets out: the key file already holds the
        pseudonym secret; the embedded signing key hands over to the configured one in a
        rotation record signed by both; both rows are deleted."""
        old_pem = embedded.get("signing_key")
        if old_pem:
            old = load_ed25519_private(old_pem.encode())
            if key_id(old.public_key()) == current != self.key_id:
                mine = self._signer
                self._signer, self.key_id = old, key_id(old.public_key())
                try:
                    self._run_direct(lambda tx, st: self._op_rotate(
                        tx, st, old, mine, "the signing key left the ledger's tables"))
                except BaseException:
                    self._signer, self.key_id = mine, key_id(mine.public_key())
                    raise
        with self.db.transaction(write=True) as tx:
            tx.execute("DELETE FROM gc_ledger_meta WHERE key IN ('signing_key', "
                       "'pseudonym_secret')")
            tx.execute("UPDATE gc_ledger_meta SET value = ? WHERE key = 'current_key'",
                       (self.key_id,))
            self._insert_meta(tx, f"pubkey:{self.key_id}",
                              public_pem(self._signer.public_key()).decode())
        log.warning("moved the signing key and pseudonym secret of %s out of its tables (now: "
                    "%s)", self.reader.uri, self.key_source)

    def _init_witnesses(self, witness_dir: Any, witness_uri: str | None) -> list[Witness]:
        out: list[Witness] = []
        if witness_dir is None or witness_dir is True:
            default = _keys.default_witness_dir(self._parsed)
            if default is not None:
                out.append(DirectoryWitness(default, durable=self.durability == "full"))
        elif witness_dir is not False and witness_dir != "":
            out.append(DirectoryWitness(os.fspath(witness_dir),
                                        durable=self.durability == "full"))
        if witness_uri:
            out.append(open_witness(witness_uri))
        return out

    def _check_witnesses(self) -> None:
        """Refuse to extend a ledger that is behind a witnessed checkpoint of itself: it was
        truncated, wiped or rolled back, and appending would fork its history."""
        size = self._tree_size_now()
        for witness in self.witnesses:
            try:
                notes, where = witness.notes(self._origin)
            except Exception:
                continue
            best = 0
            for note in notes:
                cp = self._verify_own(note)
                if cp is not None and cp.origin == self._origin:
                    best = max(best, cp.size)
            if best > size:
                raise LedgerIntegrityError(
                    f"the ledger holds {size} records in its tree but {where} witnessed a "
                    f"checkpoint of {best}: it was truncated, wiped or rolled back. Restore the "
                    "newer database; run `genai-compliance ledger verify` for details",
                    seq=size + 1)

    def _verify_own(self, note: str) -> Checkpoint | None:
        keys = [*self.reader.recorded_keys().values(), self._signer.public_key()]
        return Checkpoint.parse(note).verify(keys) if note else None

    # -- pseudonyms --------------------------------------------------------------------
    def _ref(self, user_id: str) -> str:
        return hmac.new(self._pseudonym_secret, b"ref\x00" + user_id.encode(),
                        _sha256).hexdigest()

    def _name(self, stored: str, user_id: str) -> str:
        if stored.startswith("v2:"):
            mac = hmac.new(self._pkey, bytes.fromhex(stored[3:]) + b"\x00" + user_id.encode(),
                           _sha256)
        else:  # 0.1 subject keys
            mac = hmac.new(bytes.fromhex(stored), user_id.encode(), _sha256)
        return "p:" + mac.hexdigest()[:32]

    def _remember(self, user_id: str, name: str) -> None:
        if len(self._pseudonyms) > 100_000:
            self._pseudonyms.clear()
        self._pseudonyms[user_id] = name

    def pseudonym(self, subject: Subject | str) -> str:
        """The subject's stable pseudonym in this ledger (creates its key on first use)."""
        user_id = _user_id(subject)
        cached = self._pseudonyms.get(user_id)
        if cached is not None:
            return cached
        ref = self._ref(user_id)
        with self.db.transaction(write=True) as tx:
            stored = self._subject_keys(tx, {ref: user_id})[ref]
        name = self._name(stored, user_id)
        self._remember(user_id, name)
        return name

    def _subject_keys(self, tx: Any, refs: Mapping[str, str]) -> dict[str, str]:
        """Stored subject keys by ref, creating the missing ones (inside ``tx``)."""
        found: dict[str, str] = {}
        wanted = list(refs)
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            marks = ", ".join("?" for _ in chunk)
            for ref, key in tx.execute(f"SELECT ref, subject_key FROM gc_subject_keys WHERE ref "
                                       f"IN ({marks})", chunk).fetchall():
                found[str(ref)] = str(key)
        missing = [r for r in wanted if r not in found]
        if missing:
            now = iso(self.clock.now())
            tx.executemany("INSERT INTO gc_subject_keys(ref, subject_key, created) VALUES "
                           "(?, ?, ?) ON CONFLICT (ref) DO NOTHING",
                           [(r, "v2:" + secrets.token_hex(32), now) for r in missing])
            for i in range(0, len(missing), 500):
                chunk = missing[i:i + 500]
                marks = ", ".join("?" for _ in chunk)
                for ref, key in tx.execute(f"SELECT ref, subject_key FROM gc_subject_keys "
                                           f"WHERE ref IN ({marks})", chunk).fetchall():
                    found[str(ref)] = str(key)
        return found

    def subject_key(self, subject: Subject | str, *, purpose: str) -> str:
        """A stable keyed id of the subject for another duty's store (minors' counters,
        caches): ``HMAC-SHA256`` under a key derived from the ledger's pseudonym secret,
        separated by ``purpose``. No I/O, never the raw id, and unlike :meth:`pseudonym` not
        changed by :meth:`forget_subject` (the duty erases its own rows).

        .. versionadded:: 0.2
        """
        user_id = _user_id(subject)
        if not purpose or "\x00" in purpose:
            raise ConfigurationError("subject_key needs a purpose name such as 'minors'",
                                     field="purpose", value=purpose)
        return hmac.new(self._skey, purpose.encode() + b"\x00" + user_id.encode(),
                        _sha256).hexdigest()[:32]

    def forget_subject(self, subject: Subject | str) -> bool:
        """Destroy the subject's key: its records stay, but can no longer be linked to it.

        Returns whether a key existed. Call :meth:`pseudonym` first if you need the old
        pseudonym (e.g. to answer a data-subject request before erasing). Other processes
        drop their cached pseudonym for the subject when they restart; until then they
        would create a new key (and pseudonym) only if the subject came back.
        """
        user_id = _user_id(subject)
        self._pseudonyms.pop(user_id, None)
        ref = self._ref(user_id)
        with self.db.transaction(write=True) as tx:
            row = tx.execute("SELECT 1 FROM gc_subject_keys WHERE ref = ?", (ref,)).fetchone()
            tx.execute("DELETE FROM gc_subject_keys WHERE ref = ?", (ref,))
        return row is not None

    def has_subject(self, subject: Subject | str) -> bool:
        """Whether the subject has a key (has been seen and not forgotten)."""
        user_id = _user_id(subject)
        with self.db.transaction() as tx:
            row = tx.execute("SELECT 1 FROM gc_subject_keys WHERE ref = ?",
                             (self._ref(user_id),)).fetchone()
        return row is not None

    # -- appending ---------------------------------------------------------------------
    def _prepare(self, entries: Iterable[Entry]) -> list[_Item]:
        item = self._item
        return [item(e.kind, e.payload, e.subject) for e in entries]

    def _item(self, kind: str, payload: Mapping[str, Any],
              subject: Subject | str | None) -> _Item:
        """One record made ready for the writer (its kind and payload canonicalised and
        checked here, in the caller's thread, so a bad record never fails a batch)."""
        start = self._kind_json.get(kind) if type(kind) is str else None
        if start is None:
            start = self._new_kind(kind)
        value, body, data = prepare_body(payload)
        env = start + data + b',"prev_hash":"'
        if subject is None:
            return (kind, None, None, value, body, env)
        uid = (subject if type(subject) is str and subject and subject.isascii()
               else _user_id(subject))
        return (kind, uid, self._pseudonyms.get(uid), value, body, env)

    def _new_kind(self, kind: Any) -> bytes:
        if not kind or not isinstance(kind, str):
            raise LedgerError(f"a record needs a non-empty kind, got {kind!r}", value=kind)
        try:
            start = b'{"kind":' + json_str(kind).encode("utf-8") + b',"payload":'
        except UnicodeEncodeError as exc:
            raise LedgerError("a record kind must be valid Unicode text",
                              value=repr(kind)) from exc
        if len(self._kind_json) < 1000:
            self._kind_json[kind] = start
        return start

    def append(
        self, kind: str, payload: Mapping[str, Any] | None = None, *,
        subject: Subject | str | None = None,
    ) -> Record:
        """Append one record; it is durable (as ``durability`` says) when this returns.
        Thread-safe: appends from many threads share one transaction."""
        request = _Request.blocking([self._item(kind, payload or {}, subject)])
        self._submit(request)
        record: Record = self._wait(request)[0]
        return record

    def append_many(self, entries: Iterable[Entry]) -> list[Record]:
        """Append records in one transaction (all or none); durable when this returns."""
        items = self._prepare(entries)
        if not items:
            return []
        request = _Request.blocking(items)
        self._submit(request)
        result: list[Record] = self._wait(request)
        return result

    async def aappend(self, kind: str, payload: Mapping[str, Any] | None = None, *,
                      subject: Subject | str | None = None) -> Record:
        """Async twin of :meth:`append`: the event loop never waits on the database; the
        record joins the writer's next group commit. Cancelling the awaiting task does not
        withdraw a record already handed to the writer.

        .. versionadded:: 0.2
        """
        records: list[Record] = await self._asubmit([self._item(kind, payload or {},
                                                                 subject)])
        return records[0]

    async def aappend_many(self, entries: Iterable[Entry]) -> list[Record]:
        """Async twin of :meth:`append_many`.

        .. versionadded:: 0.2
        """
        items = self._prepare(entries)
        if not items:
            return []
        records: list[Record] = await self._asubmit(items)
        return records

    def _asubmit(self, items: list[_Item]) -> asyncio.Future[Any]:
        """Queue ``items`` for the writer thread; the future is settled on this event loop
        once they are committed (or failed)."""
        loop = asyncio.get_running_loop()
        request = _Request(items)
        request.loop = loop
        future = request.future = loop.create_future()
        self._submit(request, lead=False)
        return future

    def _submit(self, request: _Request, *, lead: bool = True) -> None:
        """Queue ``request`` for the next group commit.

        Leader/follower: a calling thread that finds nobody committing takes the commit
        token and commits everything queued (its own request and whatever arrived before),
        then hands the token to the first thread waiting in the queue, which commits the
        next batch (see :meth:`_wait`) — so every thread goes back to its work as soon as
        its own batch is committed, instead of one committing for the others until the
        queue runs dry. Coroutines (``lead=False``) never commit on the event loop: the
        writer thread does it for them.
        """
        if self._inline:
            if self._closed:
                raise LedgerError("the ledger is closed; open a new one to append")
            with self._inline_lock:
                self._execute([request])
            self._wrote = self._wrote or bool(request.items)
            return
        writer = self._writer
        if writer.pid != os.getpid():
            _after_fork()
            writer = self._writer
        with writer.lock:
            if self._closed or writer.stopping:
                raise LedgerError("the ledger is closed; open a new one to append")
            writer.queue.append(request)
            leader = lead and not writer.busy
            if leader:
                writer.busy = True
            elif not lead:  # a coroutine's: the writer thread commits it
                if writer.sleeping:  # alive and idle: wake it (a busy one looks again)
                    writer.cond.notify_all()
                elif writer.thread is None:  # (a writer thread clears it when it leaves)
                    self._start_writer(writer)
            # (a thread that waits behind a leader is handed the token when its turn
            # comes, see _lead, or is committed by the writer thread holding it: neither
            # needs the writer thread woken)
        if request.items:
            self._wrote = True
        if leader:
            self._lead(writer)

    def _start_writer(self, writer: _Writer) -> None:
        """Start the writer thread (under ``writer.lock``)."""
        thread = writer.thread = threading.Thread(
            target=_writer_loop, args=(weakref.ref(self), writer), daemon=True,
            name="genai-compliance-ledger-writer")
        try:
            thread.start()
        except BaseException:
            writer.thread = None
            raise

    def _lead(self, writer: _Writer) -> None:
        """Hold the commit token: commit one batch, then hand the token on."""
        try:
            with writer.lock:
                batch = writer.take()
            if batch:
                self._execute(batch)
        except BaseException:  # interrupted: hand what others queued to the writer thread
            with writer.lock:
                self._release_token(writer)
            raise
        with writer.lock:
            for request in writer.queue:  # the first thread waiting leads next
                waiter = request.waiter
                if waiter is not None:
                    request.promoted = True
                    waiter.release()
                    return
            self._release_token(writer)

    def _release_token(self, writer: _Writer) -> None:
        """Nobody commits now (under ``writer.lock``): what coroutines queued goes to the
        writer thread."""
        writer.busy = False
        if writer.queue and not writer.sleeping and writer.thread is None:
            self._start_writer(writer)
        if writer.sleeping or writer.stopping:  # only they wait on cond
            writer.cond.notify_all()

    def _wait(self, request: _Request) -> Any:
        """Block until ``request`` (submitted by this thread) is settled; commit the next
        batch whenever the token is handed here meanwhile."""
        writer = self._writer
        waiter = request.waiter
        try:
            waiter.acquire()
            while request.promoted:
                request.promoted = False
                self._lead(writer)
                waiter.acquire()
        except BaseException:  # interrupted: nobody may hand the token here any more
            with writer.lock:
                request.waiter = None
                if request.promoted:
                    request.promoted = False
                    self._release_token(writer)
            raise
        if request.error is not None:
            raise request.error
        return request.result

    def _run(self, op: Callable[[Any, _State], Any]) -> Any:
        """Run a write operation in the writer (serialised with appends)."""
        request = _Request.blocking(op=op)
        self._submit(request)
        return self._wait(request)

    def _run_direct(self, op: Callable[[Any, _State], Any]) -> Any:
        """Run a write operation in this thread (only before the writer exists)."""
        request = _Request.blocking(op=op)
        self._execute([request])
        return request.wait()

    # -- the writer's work ---------------------------------------------------------------
    def _execute(self, batch: list[_Request]) -> None:
        """Commit ``batch``: appends share one transaction; each operation has its own.
        Every request is settled, whatever happens."""
        i = 0
        while i < len(batch):
            if batch[i].op is not None:
                group = [batch[i]]
                i += 1
            else:
                j = i
                while j < len(batch) and batch[j].op is None:
                    j += 1
                group = batch if i == 0 and j == len(batch) else batch[i:j]
                i = j
            try:
                self._commit(group)
            except BaseException as exc:  # interrupted: what was not attempted fails
                rest = batch[i:]
                for request in rest:
                    request.error = LedgerError("not appended: the ledger's writer was "
                                                f"interrupted ({type(exc).__name__})")
                _settle(rest)
                raise

    def _commit(self, group: list[_Request]) -> None:
        local = isinstance(self._signer, Ed25519PrivateKey)
        signed: list[Checkpoint] = []
        self._commits += 1
        try:
            attempt = self._optimistic(group, local)
            if attempt is not None:
                work, results, signed = attempt
            else:
                with self._write_transaction() as tx:
                    work = self._lock_state(tx).copy()
                    op = group[0].op
                    results = ([op(tx, work)] if op is not None
                               else self._append_locked(tx, work, group))
                    if work.heads and local:  # a local key signs in microseconds
                        signed = self._sign_heads(work.heads, tx)
                    self._store_state(tx, work)
        except BaseException as exc:
            self._state = None
            for request in group:
                request.error = exc
            _settle(group)
            if not isinstance(exc, Exception):
                raise
            return
        self._state = work
        told = 0
        try:
            sign_error: Exception | None = None
            if work.heads and not local:  # a KMS/HSM callback: never while holding the lock
                try:
                    signed = self._sign_heads(work.heads)
                except Exception as exc:  # the records are committed all the same
                    sign_error = exc
                    log.error("ledger %s: signing checkpoint %d failed: %s", self.reader.uri,
                              work.heads[-1][0], exc)
            if signed:
                self._signed(signed, work.heads[-1][2])
            for request, result in zip(group, results, strict=True):
                if isinstance(result, _Deferred):
                    found = next((cp for cp in signed if cp.size == result.size), None)
                    if found is None:
                        found = self.reader.checkpoint_at(result.size)
                    if found is None:
                        request.error = sign_error or LedgerError(
                            "the checkpoint could not be signed (see the log)")
                    result = found
                request.result = result
                told += 1
        except BaseException as exc:  # committed, but the outcome could not be told
            for request in group[told:]:
                request.error = LedgerError(f"the outcome of this write is unknown "
                                            f"({type(exc).__name__}); run `genai-compliance "
                                            "ledger verify`")
            raise
        finally:
            _settle(group)

    def _optimistic(self, group: list[_Request], local: bool
                    ) -> tuple[_State, list[Any], list[Checkpoint]] | None:
        """When this process wrote the head last and knows every pseudonym: the records
        are hashed from the cached state before the transaction, and the head row is
        compare-and-set as the transaction's first statement (PostgreSQL: one statement
        doing it all, :data:`_PG_COMMIT`, or pipelined statements when a checkpoint is due;
        SQLite: inside ``BEGIN IMMEDIATE``, in place of reading the head). If another
        process moved the head, the transaction is rolled back and the caller retries the
        locked way. ``None``: not attempted or lost the race."""
        cached = self._state
        if cached is None or group[0].op is not None:
            return None
        if self._pg_writer is None and not _SQLITE_RETURNING:
            return None
        names = self._pseudonyms
        for request in group:
            for item in request.items or ():
                if item[1] is not None and item[2] is None and item[1] not in names:
                    return None
        work = cached.copy()
        old_head = work.head_text
        signed: list[Checkpoint] = []
        deferred = _Deferring(self.db.dialect)
        try:
            results = self._append_locked(deferred, work, group)  # hashed, rows held
        except _Stale:
            return None
        head_text = f"{work.seq}:{work.head}"
        tree_text = self._tree_text(work)
        if self._pg_writer is None:
            try:
                with self.db.transaction(write=True) as tx:
                    moved = tx.execute(_CAS_SQLITE, (head_text, tree_text, old_head)).fetchall()
                    if len(moved) != 2:
                        raise _Stale
                    deferred.replay(tx)
                    if work.heads and local:
                        signed = self._sign_heads(work.heads, tx)
            except _Stale:
                self._state = None
                return None
            work.head_text, work.tree_text = head_text, tree_text
            return work, results, signed
        pg = self._pg_writer.pg
        try:
            if not work.heads:  # the common case: one statement
                self._pg_writer.execute(*_pg_commit(head_text, old_head, deferred.rows,
                                                    deferred.nodes, tree_text))
            else:  # a checkpoint is due: sign it inside the transaction
                self._pg_optimistic_signing(work, deferred, head_text, old_head, tree_text,
                                            local, signed)
        except (pg.errors.DivisionByZero, pg.errors.UniqueViolation):
            self._state = None
            return None
        work.head_text, work.tree_text = head_text, tree_text
        return work, results, signed

    def _pg_optimistic_signing(self, work: _State, deferred: _Deferring, head_text: str,
                               old_head: str, tree_text: str, local: bool,
                               signed: list[Checkpoint]) -> None:
        """The optimistic PostgreSQL commit when tree heads are due: pipelined statements,
        the checkpoints signed (a local key) and stored in the same transaction."""
        assert self._pg_writer is not None
        with self._pg_writer.transaction() as tx:
            # the head row first: every writer locks it before anything else
            tx.execute("WITH moved AS (UPDATE gc_ledger_meta SET value = ? WHERE key = "
                       "'head' AND value = ? RETURNING 1) SELECT 1 / (SELECT COUNT(*) "
                       "FROM moved)", (head_text, old_head))
            deferred.replay(tx)
            if local:
                signed[:] = self._sign_heads(work.heads, tx)
            tx.execute("UPDATE gc_ledger_meta SET value = ? WHERE key = 'tree'",
                       (tree_text,))

    def _write_transaction(self) -> Any:
        """The writer's transaction: SQLite ``BEGIN IMMEDIATE``; PostgreSQL on its own
        pipelined connection (see :mod:`._pg`)."""
        if self._pg_writer is not None:
            return self._pg_writer.transaction()
        return self.db.transaction(write=True)

    def _lock_state(self, tx: Any) -> _State:
        lock = " FOR UPDATE" if self.db.dialect == "postgresql" else ""
        # ORDER BY: every writer locks 'head' before 'tree', so two never deadlock
        rows = dict(tx.execute("SELECT key, value FROM gc_ledger_meta WHERE key IN ('head', "
                               f"'tree') ORDER BY key{lock}").fetchall())
        head_text = rows.get("head")
        if head_text is None:
            raise LedgerError("the ledger's head row is missing; the ledger was tampered with "
                              "or not created by genai_compliance")
        tree_text = str(rows.get("tree") or "")
        cached = self._state
        if cached is not None and cached.head_text == head_text and cached.tree_text == tree_text:
            return cached
        seq_s, _, head = str(head_text).partition(":")
        try:
            seq = int(seq_s)
        except ValueError as exc:
            raise LedgerError("the ledger's head row is damaged; run `genai-compliance ledger "
                              "verify`") from exc
        meta = TreeMeta.parse(tree_text)
        if meta is None or meta.base + meta.size != seq:
            return self._rebuild_tree(tx, seq, head, str(head_text))
        return _State(seq, head, meta.base, CompactRange(meta.size, meta.nodes), str(head_text),
                      tree_text)

    def _rebuild_tree(self, tx: Any, seq: int, head: str, head_text: str) -> _State:
        """Compute the tree's right edge from the records (a 0.1 ledger, or one a 0.1
        process appended to), caching perfect nodes on the way."""
        anchor = _TxReader(tx, self.reader).anchor()
        if anchor is None:
            base, rng = 0, CompactRange()
        elif anchor.tree_nodes is not None and anchor.tree_base is not None:
            base = anchor.tree_base
            rng = CompactRange(anchor.seq - base, anchor.tree_nodes)
        else:
            base, rng = anchor.seq, CompactRange()
        after = base + rng.size
        nodes: list[tuple[int, int, bytes]] = []
        last = after
        while True:
            rows = tx.execute("SELECT seq, time, kind, subject, payload, prev_hash, hash FROM "
                              "gc_ledger_records WHERE seq > ? ORDER BY seq LIMIT 5000",
                              (last,)).fetchall()
            for row in rows:
                if int(row[0]) != base + rng.size + 1:
                    raise LedgerError(f"record {base + rng.size + 1} is missing; run "
                                      "`genai-compliance ledger verify`",
                                      seq=base + rng.size + 1)
                rng.append(row_leaf(row), nodes, CACHE_LEVEL)
            if nodes:
                tx.executemany("INSERT INTO gc_ledger_tree_nodes(level, idx, hash) VALUES "
                               "(?, ?, ?) ON CONFLICT (level, idx) DO NOTHING",
                               [(lv, ix, h.hex()) for lv, ix, h in nodes])
                nodes.clear()
            if len(rows) < 5000:
                break
            last = int(rows[-1][0])
        if base + rng.size != seq:
            raise LedgerError(f"the ledger's head says seq {seq} but its records end at "
                              f"{base + rng.size}; run `genai-compliance ledger verify`",
                              seq=seq)
        return _State(seq, head, base, rng, head_text, "")

    @staticmethod
    def _tree_text(st: _State) -> str:
        """The TreeMeta.dumps() form, built directly (this runs on every commit)."""
        return (f'{{"base":{st.base},"size":{st.rng.size},"nodes":['
                + ",".join(f'"{n.hex()}"' for n in st.rng.nodes) + "]}")

    def _store_state(self, tx: Any, st: _State) -> None:
        head_text = f"{st.seq}:{st.head}"
        tree_text = self._tree_text(st)
        if head_text != st.head_text or tree_text != st.tree_text:
            tx.execute("UPDATE gc_ledger_meta SET value = CASE key WHEN 'head' THEN ? ELSE ? END "
                       "WHERE key IN ('head', 'tree')", (head_text, tree_text))
            st.head_text, st.tree_text = head_text, tree_text

    def _append_locked(self, tx: Any, st: _State, group: Sequence[_Request]) -> list[Any]:
        """Append every request's records inside the locked transaction ``tx``; tree heads
        that are due go to ``st.heads``."""
        names = self._pseudonyms
        # pseudonyms of the subjects not known when their records were prepared: from the
        # cache now, else from (or into) the subject keys table
        local: dict[str, str] = {}
        wanted: dict[str, str] = {}
        asked: set[str] = set()
        for request in group:
            for item in request.items or ():
                uid = item[1]
                if uid is not None and item[2] is None and uid not in local and uid not in asked:
                    name = names.get(uid)
                    if name is not None:
                        local[uid] = name
                    else:
                        asked.add(uid)
                        wanted[self._ref(uid)] = uid
        resolved: dict[str, str] = {}
        if wanted:
            if type(tx) is _Deferring:  # a pseudonym left the cache meanwhile
                raise _Stale
            stored = self._subject_keys(tx, wanted)
            for ref, uid in wanted.items():
                local[uid] = resolved[uid] = self._name(stored[ref], uid)
        when = self.clock.now()
        now = iso(when)
        # (the time read back from the text: the same datetime when it already is UTC)
        now_dt = (when if type(when) is dt.datetime and when.tzinfo is dt.UTC
                  else parse_iso(now))
        seq, head, rng, base = st.seq, st.head, st.rng, st.base
        every = self.checkpoint_every
        rows: list[tuple[Any, ...]] = []
        add = rows.append
        nodes: list[tuple[int, int, bytes]] = []
        results: list[Any] = []
        sha = _sha256
        make = new_record
        frontier = rng.nodes
        size = rng.size
        prev = bytes.fromhex(head)
        head_b = head.encode()
        # the envelope (see _format.envelope) after the previous hash
        tail = b'","seq":%d,"subject":%b,"time":"' + now.encode() + b'"}'
        subjects: dict[str | None, bytes] = {None: b"null"}
        for request in group:
            out: list[Record] = []
            for kind, uid, name, payload, body, start in request.items or ():
                if uid is not None and name is None:
                    name = local[uid]
                seq += 1
                subj = subjects.get(name)
                if subj is None:
                    subj = subjects[name] = f'"{name}"'.encode()
                env = start + head_b + tail % (seq, subj)
                prev = sha(prev + env).digest()
                digest = prev.hex()
                head_b = digest.encode()
                # the compact range grows by one leaf (CompactRange.append, inlined)
                h = sha(b"\x00" + env).digest()
                bits, level = size, 0
                while bits & 1:
                    h = sha(b"\x01" + frontier.pop() + h).digest()
                    bits >>= 1
                    level += 1
                    if level >= CACHE_LEVEL:
                        nodes.append((level, ((size + 1) >> level) - 1, h))
                frontier.append(h)
                size += 1
                add((seq, now, kind, name, body, head, digest))
                out.append(make(seq, now_dt, kind, name, payload, head, digest))
                head = digest
                if seq % every == 0:
                    rng.size = size
                    st.heads.append((size, rng.root(), when))
            results.append(out)
        rng.size = size
        node_rows = [(lv, ix, h.hex()) for lv, ix, h in nodes]
        if type(tx) is _Deferring:
            tx.rows, tx.nodes = rows, node_rows
        else:
            _write_rows(tx, rows, node_rows)
        st.seq, st.head = seq, head
        if base + rng.size != seq:  # pragma: no cover - guarded by _lock_state
            raise LedgerError("the ledger's tree and chain disagree")
        if not st.heads and rng.size > self._last_cp_size and self._time_due(when):
            st.heads.append((rng.size, rng.root(), when))
        for uid, name in resolved.items():
            self._remember(uid, name)
        return results

    def _pending(self) -> bool:
        """Whether records this process knows of wait for a checkpoint."""
        st = self._state
        return st is not None and st.rng.size > self._last_cp_size

    def _time_due(self, when: dt.datetime) -> bool:
        last = self._last_cp_time
        return last is None or (when - last).total_seconds() >= self.checkpoint_interval

    # -- checkpoints -------------------------------------------------------------------
    def _current_signer(self, tx: Any = None) -> Ed25519Signer | None:
        """The signer to use now: reload the key file after another process rotated."""
        if tx is not None:
            current = self._meta_value(tx, "current_key")
        else:
            current = self.reader.meta("current_key").get("current_key")
        if current in (None, self.key_id):
            return self._signer
        if self._key_path is not None:
            with contextlib.suppress(ConfigurationError):
                material = _keys.read_key_file(self._key_path)
                if material.signer is not None and key_id(material.signer.public_key()) == current:
                    self._signer = material.signer
                    self.key_id = current
                    return self._signer
        log.error("ledger %s: its signing key was rotated to %s; this process holds %s and "
                  "stops signing checkpoints until it is restarted with the new key",
                  self.reader.uri, current, self.key_id)
        return None

    def _sign_heads(self, heads: Sequence[tuple[int, bytes, dt.datetime]],
                    tx: Any = None) -> list[Checkpoint]:
        """Sign tree heads and store them (in ``tx``, or in a transaction of their own)."""
        signer = self._current_signer(tx)
        if signer is None:
            return []
        cps = [sign_checkpoint(self._origin, size, root, when, signer)
               for size, root, when in heads]
        rows = [(cp.size, cp.root.hex(), cp.time.strftime("%Y-%m-%dT%H:%M:%SZ")
                 if cp.time else "", cp.key_id, cp.note) for cp in cps]
        sql = ("INSERT INTO gc_ledger_tree_heads(size, root, time, key_id, note) "
               "VALUES (?, ?, ?, ?, ?) ON CONFLICT (size) DO NOTHING")
        if tx is not None:
            tx.executemany(sql, rows)
        else:
            with self.db.transaction(write=True) as own:
                own.executemany(sql, rows)
        return cps

    def _signed(self, cps: Sequence[Checkpoint], when: dt.datetime) -> None:
        """After commit: remember the newest checkpoint and copy them to the witnesses."""
        newest = max(cps, key=lambda c: c.size)
        with self._lock:
            if newest.size >= self._last_cp_size:
                self._last_cp_size = newest.size
                self._last_cp_time = when
        if self.witnesses:
            cps = list(cps)
            publish_later(lambda: self._publish(cps))

    def _publish(self, cps: Sequence[Checkpoint]) -> None:
        for witness in self.witnesses:
            try:
                for cp in cps:
                    witness.publish(cp)
            except Exception as exc:  # records are committed; say so loudly
                self._witness_failed = f"{witness.where}: {type(exc).__name__}: {exc}"
                log.error("ledger %s: could not write checkpoint %d to witness %s: %s",
                          self.reader.uri, cps[-1].size, witness.where, exc)
            else:
                self._witness_failed = None

    def _load_last_checkpoint(self) -> None:
        with self.db.transaction() as tx:
            row = tx.execute("SELECT size, time FROM gc_ledger_tree_heads ORDER BY size DESC "
                             "LIMIT 1").fetchone()
        if row is None:  # the first record may wait one interval from now
            self._last_cp_time = self.clock.now()
            return
        self._last_cp_size = int(row[0])
        try:
            self._last_cp_time = dt.datetime.strptime(
                str(row[1]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            self._last_cp_time = None

    def _tree_size_now(self) -> int:
        meta = self.reader.tree_meta()
        return 0 if meta is None else meta.size

    def checkpoint(self) -> Checkpoint | None:
        """Sign the current tree head now (``None`` on an empty ledger)."""
        if self._closed:
            raise LedgerError("the ledger is closed")
        result: Checkpoint | None = self._run(self._op_checkpoint)
        flush_pending()  # the witnesses have it too when this returns
        return result

    def _op_checkpoint(self, tx: Any, st: _State) -> Checkpoint | None:
        if st.rng.size == 0:
            return None
        existing = _TxReader(tx, self.reader).checkpoint_at(st.rng.size)
        if existing is not None:
            return existing
        st.heads.append((st.rng.size, st.rng.root(), self.clock.now()))
        return _Deferred(st.rng.size)  # type: ignore[return-value]

    def _checkpoint_if_due(self, *, force: bool = False) -> Checkpoint | None:
        """Sign the tree head when records wait longer than ``checkpoint_interval`` (or
        always with ``force``); reads without taking the write lock."""
        now = self.clock.now()
        if not force and not self._time_due(now):
            return None
        meta = self.reader.tree_meta()
        if meta is None or meta.size == 0:
            return None
        with self.db.transaction() as tx:
            row = tx.execute("SELECT MAX(size) FROM gc_ledger_tree_heads").fetchone()
        newest = int(row[0]) if row and row[0] is not None else 0
        if newest >= meta.size:
            with self._lock:
                self._last_cp_size = max(self._last_cp_size, newest)
            return None
        cps = self._sign_heads([(meta.size, CompactRange(meta.size, meta.nodes).root(), now)])
        if cps:
            self._signed(cps, now)
        return cps[0] if cps else None

    def checkpoint_if_due(self) -> Checkpoint | None:
        """Sign the tree head if records have waited ``checkpoint_interval`` seconds on the
        ledger's clock (the writer calls this by itself while it runs).

        .. versionadded:: 0.2
        """
        found = self._checkpoint_if_due()
        if found is not None:
            flush_pending()
        return found

    def checkpoints(self) -> list[Checkpoint]:
        """The checkpoints stored in the ledger, oldest first."""
        return self.reader.checkpoints()

    @property
    def signer(self) -> Ed25519Signer:
        """The current checkpoint signer (``sign(data)``, ``public_key()``); other duties may
        sign with it (consent receipts, report bundles) without seeing the private key.

        .. versionadded:: 0.2
        """
        return self._signer

    @property
    def _key_obj(self) -> Ed25519Signer:  # 0.1 name, still used by consent and incidents
        return self._signer

    @property
    def origin(self) -> str:
        """The checkpoint origin line (also the note key name)."""
        return self._origin

    def public_key(self) -> Ed25519PublicKey:
        """The current checkpoint key's public half (give it to auditors)."""
        return self._signer.public_key()

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The checkpoint keys recorded in the ledger, by key id (an index, not trust)."""
        return self.reader.recorded_keys()

    # -- keys --------------------------------------------------------------------------
    def rotate_key(self, new_signing_key: Ed25519PrivateKey | Ed25519Signer | None = None, *,
                   reason: str = "scheduled rotation") -> Record:
        """Hand checkpoint signing over to a new key.

        A ``ledger.key`` record announces the new public key, signed by the old key and the
        new one, and the next checkpoint is signed by the new key; ``verify`` follows the
        chain of keys from any pinned one. Without ``new_signing_key`` a key is generated
        and, when the keys come from a key file, written there (the pseudonym secret
        stays). Returns the rotation record.

        .. versionadded:: 0.2
        """
        new = generate_ed25519() if new_signing_key is None else as_ed25519_signer(
            new_signing_key)
        pending: str | None = None
        if self._key_path is not None:
            if not isinstance(new, Ed25519PrivateKey):
                raise ConfigurationError("a ledger keyed by a key file rotates to a private key "
                                         "it can store; pass an Ed25519PrivateKey or nothing",
                                         field="new_signing_key")
            pending = self._key_path + ".next"
            with contextlib.suppress(OSError):
                os.unlink(pending)
            _keys.write_key_file(pending, new, self._pseudonym_secret)
        old_signer, old_id = self._signer, self.key_id
        try:
            record: Record = self._run(lambda tx, st: self._op_rotate(tx, st, old_signer, new,
                                                                      reason))
        except BaseException:
            self._signer, self.key_id = old_signer, old_id
            if pending is not None:
                with contextlib.suppress(OSError):
                    os.unlink(pending)
            raise
        if pending is not None and self._key_path is not None:
            os.replace(pending, self._key_path)
        return record

    def _op_rotate(self, tx: Any, st: _State, old: Ed25519Signer, new: Ed25519Signer,
                   reason: str) -> Record:
        current = self._meta_value(tx, "current_key")
        old_id, new_id = key_id(old.public_key()), key_id(new.public_key())
        if current not in (None, old_id):
            raise ConfigurationError(f"the ledger's current key is {current}, not {old_id}; "
                                     "only the current key can hand over", field="signing_key")
        payload = {"action": "rotate", "origin": self._origin, "reason": reason,
                   "old_key_id": old_id, "old_public_key": _std_b64(raw_public(old.public_key())),
                   "new_key_id": new_id, "new_public_key": _std_b64(raw_public(new.public_key()))}
        statement = rotation_statement(payload)
        payload["old_signature"] = _std_b64(old.sign(statement))
        payload["new_signature"] = _std_b64(new.sign(statement))
        request = _Request(self._prepare([Entry(ROTATION_KIND, payload)]))  # not queued
        results = self._append_locked(tx, st, [request])
        self._insert_meta(tx, f"pubkey:{new_id}", public_pem(new.public_key()).decode())
        self._insert_meta(tx, "current_key", new_id)
        tx.execute("UPDATE gc_ledger_meta SET value = ? WHERE key = 'current_key'", (new_id,))
        self._signer, self.key_id = new, new_id  # restored by rotate_key if this fails
        st.heads[:] = [(st.rng.size, st.rng.root(), self.clock.now())]
        record: Record = results[0][0]
        return record

    # -- reading -----------------------------------------------------------------------
    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the newest record; ``(0, GENESIS_HASH)`` when empty."""
        return self.reader.head()

    def tree_head(self) -> tuple[int, bytes]:
        """``(size, root)`` of the Merkle tree now (not necessarily signed yet).

        .. versionadded:: 0.2
        """
        meta = self.reader.tree_meta()
        if meta is None:
            return 0, CompactRange().root()
        return meta.size, CompactRange(meta.size, meta.nodes).root()

    def records(
        self, *, kind: str | None = None, since: dt.datetime | None = None,
        until: dt.datetime | None = None, subject: Subject | str | None = None,
        after_seq: int = 0,
    ) -> Iterator[Record]:
        """Records in chain order, filtered by kind prefix (``"consent"`` matches
        ``"consent.grant"``), time range ``[since, until)`` and subject."""
        name = None if subject is None else self.pseudonym(subject)
        return self.reader.records(kind=kind, since=since, until=until, subject=name,
                                   after_seq=after_seq)

    def anchor(self) -> tuple[int, str, str, str] | None:
        """``(seq, hash, key_id, signature)`` of the purge anchor, if records were purged."""
        a = self.reader.anchor()
        return None if a is None else (a.seq, a.hash, a.key_id, a.signature)

    # -- verification ------------------------------------------------------------------
    def verify(self, public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None = None,
               *, checkpoints: Sequence[str | os.PathLike[str]] | None = None,
               strict: bool = False, now: dt.datetime | None = None) -> VerifyReport:
        """Check the whole chain, the Merkle tree, every checkpoint (in the database and in
        the witnesses) and the head; see :func:`genai_compliance.ledger.verify_ledger`.

        With ``public_key`` (one or several) checkpoints must be signed by those keys or by
        keys they handed over to (pinned); otherwise by keys recorded in the ledger, which
        proves consistency only. ``checkpoints`` are witness folders or store URIs (default:
        this ledger's witnesses).
        """
        from ._verify import verify_reader

        sources: list[Witness] = (self.witnesses if checkpoints is None
                                  else [open_witness(c) for c in checkpoints])
        if self.db.dialect == "sqlite" and self._parsed.path == ":memory:":
            return verify_reader(self.reader, public_key, witnesses=sources, strict=strict,
                                 now=now or self.clock.now(),
                                 interval=self.checkpoint_interval)
        from ._readonly import open_readonly_db

        with open_readonly_db(self._parsed) as db:
            return verify_reader(LedgerReader(db, uri=self._parsed.redacted()), public_key,
                                 witnesses=sources, strict=strict,
                                 now=now or self.clock.now(),
                                 interval=self.checkpoint_interval)

    # -- retention ---------------------------------------------------------------------
    def purge(self, *, now: dt.datetime | None = None, batch: int = PURGE_BATCH) -> int:
        """Drop the oldest records older than the retention period; returns how many.

        Only a prefix of the chain is dropped. A signed anchor (the last dropped record's
        hash and the compact range of the Merkle tree over the dropped records) is kept, so
        the rest still verifies and stays provable; the purge itself is a new record.

        The prefix goes in steps of at most ``batch`` records, each its own transaction with
        its own anchor and ``ledger.purge`` record: appends from this process and other
        replicas wait for one step, not for the whole purge (a day of records at a busy
        service is millions, and a single DELETE of them held the ledger's head lock past
        the store timeout, so their appends — and the calls behind them — failed). A purge
        interrupted between steps leaves a ledger that verifies, with the steps done.

        .. versionchanged:: 0.2 in steps of ``batch`` records.
        """
        if type(batch) is not int or batch < 1:
            raise ConfigurationError(f"purge batch must be a positive integer, got {batch!r}",
                                     field="batch", value=batch)
        when = now or self.clock.now()
        total = 0
        while True:
            count: int = self._run(lambda tx, st: self._op_purge(tx, st, when, batch))
            total += count
            if count < batch:
                return total

    def _op_purge(self, tx: Any, st: _State, now: dt.datetime, batch: int) -> int:
        """One step of :meth:`purge`: at most ``batch`` of the expired records."""
        cutoff = iso(now - self.retention)
        first = tx.execute("SELECT MIN(seq) FROM gc_ledger_records").fetchone()
        if not first or first[0] is None:
            return 0
        first_kept = tx.execute("SELECT MIN(seq) FROM gc_ledger_records WHERE time >= ?",
                                (cutoff,)).fetchone()
        target = (int(first_kept[0]) - 1) if first_kept and first_kept[0] else st.seq
        upto = min(target, int(first[0]) + batch - 1)
        row = tx.execute("SELECT hash, (SELECT COUNT(*) FROM gc_ledger_records "
                         "WHERE seq BETWEEN ? AND ?) FROM gc_ledger_records WHERE seq = ?",
                         (int(first[0]), upto, upto)).fetchone()
        if row is None or int(row[1]) == 0:
            return 0
        anchor_hash, count = str(row[0]), int(row[1])
        source = NodeSource(_TxReader(tx, self.reader))
        purged = upto - st.base
        frontier = source.compact_range(purged)
        signer = self._signer
        anchor = {"seq": upto, "hash": anchor_hash, "key_id": self.key_id,
                  "signature": _b64(signer.sign(legacy_anchor_message(upto, anchor_hash,
                                                                      self.key_id))),
                  "tree": {"base": st.base, "nodes": [n.hex() for n in frontier.nodes]},
                  "origin": self._origin,
                  "tree_signature": _b64(signer.sign(anchor_tree_message(
                      self._origin, upto, anchor_hash, st.base, frontier.nodes)))}
        tx.execute("UPDATE gc_ledger_meta SET value = ? WHERE key = 'anchor'",
                   (json.dumps(anchor),))
        tx.execute("DELETE FROM gc_ledger_records WHERE seq <= ?", (upto,))
        tx.execute("DELETE FROM gc_ledger_checkpoints WHERE seq <= ?", (upto,))
        tx.execute("DELETE FROM gc_ledger_tree_heads WHERE size <= ?", (purged,))
        request = _Request(self._prepare([Entry("ledger.purge", {
            "up_to_seq": upto, "records": count, "anchor_hash": anchor_hash,
            "cutoff": cutoff})]))
        self._append_locked(tx, st, [request])
        return count

    def _op_sync_tree(self, tx: Any, st: _State) -> None:
        """Opening: the tree state is loaded (or rebuilt) by :meth:`_lock_state`."""

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Finish pending appends, write a final checkpoint (when records came after the
        last one) to the database and the witnesses, and close."""
        if self._closed:
            return
        writer = self._writer
        with writer.cond:
            writer.stopping = True
            writer.cond.notify_all()
            while writer.busy or (writer.queue and writer.thread is not None
                                  and writer.thread.is_alive()):
                writer.cond.wait(1.0)
            thread = writer.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        if writer.queue:  # queued by coroutines with no writer left: commit them here
            with writer.cond:
                writer.busy = True
            self._lead(writer)
        try:
            self._checkpoint_if_due(force=True)
        except (StoreUnavailable, LedgerError):
            pass
        finally:
            flush_pending()
            self._closed = True
            for witness in self.witnesses:
                closer = getattr(witness, "close", None)
                if callable(closer):
                    closer()
            if self._pg_writer is not None:
                self._pg_writer.close()
            self.db.close()
            _LIVE.discard(self)

    async def aclose(self) -> None:
        """Async twin of :meth:`close`.

        .. versionadded:: 0.2
        """
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.db.uri.redacted()!r})"


class _Stale(Exception):
    """The optimistic commit found the head moved by another process (rolled back)."""


class _Deferred:
    """Stands for the checkpoint of ``size``, signed once the transaction commits."""

    def __init__(self, size: int) -> None:
        self.size = size


class _Deferring:
    """Stands in for a transaction: holds the rows :meth:`Ledger._append_locked` writes
    (records and cached tree nodes), so the optimistic commit can lock the head row before
    inserting them."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.rows: list[tuple[Any, ...]] = []
        self.nodes: list[tuple[int, int, str]] = []

    def replay(self, tx: Any) -> None:
        _write_rows(tx, self.rows, self.nodes)


def _write_rows(tx: Any, rows: list[tuple[Any, ...]], nodes: list[tuple[int, int, str]]
                ) -> None:
    _insert_records(tx, rows)
    if nodes:
        tx.executemany("INSERT INTO gc_ledger_tree_nodes(level, idx, hash) VALUES (?, ?, ?) "
                       "ON CONFLICT (level, idx) DO NOTHING", nodes)


# PostgreSQL: an optimistic commit as one statement, so one round trip and (autocommit) its
# own transaction. The head row is compare-and-set first (``moved``; every writer locks it
# before anything else), the records and tree nodes are inserted and the tree row set only
# if it moved; if it did not, the division fails and nothing is written. The columns go as
# binary arrays, whatever the number of records.
_PG_COMMIT = (
    "WITH moved AS (UPDATE gc_ledger_meta SET value = %s WHERE key = 'head' AND value = %s "
    "RETURNING 1), records AS (INSERT INTO gc_ledger_records(seq, time, kind, subject, "
    "payload, prev_hash, hash) SELECT * FROM unnest(%b::bigint[], %b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::text[], %b::text[]) WHERE EXISTS (SELECT 1 FROM moved)), "
    "{nodes}tree AS (UPDATE gc_ledger_meta SET value = %s WHERE key = 'tree' AND EXISTS "
    "(SELECT 1 FROM moved)) SELECT 1 / (SELECT COUNT(*) FROM moved)")
_PG_COMMIT_ROWS = _PG_COMMIT.format(nodes="")
_PG_COMMIT_NODES = _PG_COMMIT.format(nodes=(
    "nodes AS (INSERT INTO gc_ledger_tree_nodes(level, idx, hash) SELECT * FROM "
    "unnest(%b::integer[], %b::bigint[], %b::text[]) WHERE EXISTS (SELECT 1 FROM moved) "
    "ON CONFLICT (level, idx) DO NOTHING), "))


def _pg_commit(head_text: str, old_head: str, rows: list[tuple[Any, ...]],
               nodes: list[tuple[int, int, str]], tree_text: str) -> tuple[str, list[Any]]:
    """The statement and parameters of :data:`_PG_COMMIT`."""
    params: list[Any] = [head_text, old_head, *(list(c) for c in zip(*rows, strict=True))]
    if nodes:
        params.extend(list(c) for c in zip(*nodes, strict=True))
    params.append(tree_text)
    return (_PG_COMMIT_NODES if nodes else _PG_COMMIT_ROWS), params


class _TxReader(LedgerReader):
    """A reader over the open transaction ``tx`` (for work inside the writer)."""

    def __init__(self, tx: Any, base: LedgerReader) -> None:
        super().__init__(_OneTx(tx), uri=base.uri)


class _OneTx:
    def __init__(self, tx: Any) -> None:
        self.tx = tx
        self.dialect = tx.dialect

    @contextlib.contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Any]:
        yield self.tx


def _writer_loop(ref: weakref.ReferenceType[Ledger], writer: _Writer) -> None:
    """The writer thread: see :func:`_writer_work`; however it leaves, ``writer.thread``
    no longer names it, so the next request starts another."""
    try:
        _writer_work(ref, writer)
    finally:
        with writer.lock:
            if writer.thread is threading.current_thread():
                writer.thread = None


def _writer_work(ref: weakref.ReferenceType[Ledger], writer: _Writer) -> None:
    """Commit for coroutines (and whatever else is queued when no caller leads), and sign
    idle checkpoints. Holds the ledger only while working, so an unclosed ledger can still
    be garbage-collected; leaves after 30 idle seconds when no record waits for a
    checkpoint."""
    idle_since = time.monotonic()
    while True:
        with writer.lock:
            if (not writer.queue or writer.busy) and not writer.stopping:
                writer.sleeping = True
                try:
                    writer.cond.wait(1.0)
                finally:
                    writer.sleeping = False
            batch: list[_Request] = []
            if not writer.busy:
                batch = writer.take()
                if batch:
                    writer.busy = True
            stopping = writer.stopping and not writer.queue and not writer.busy
        ledger = ref()
        if ledger is None:
            for request in batch:
                request.error = LedgerError("the ledger was garbage-collected")
            _settle(batch)
            return
        try:
            if batch:
                try:
                    ledger._execute(batch)
                finally:
                    with writer.cond:
                        writer.busy = False
                        writer.cond.notify_all()
                idle_since = time.monotonic()
            elif not stopping and ledger._pending():
                with writer.cond:
                    claimed = not writer.busy
                    if claimed:
                        writer.busy = True
                if claimed:
                    try:
                        ledger._checkpoint_if_due()
                    finally:
                        with writer.cond:
                            writer.busy = False
                            writer.cond.notify_all()
        except Exception as exc:  # keep the writer alive; callers got their errors
            log.error("ledger %s: writer error: %s", ledger.reader.uri, exc)
        idle = not batch and time.monotonic() - idle_since > 30 and not ledger._pending()
        del ledger
        if stopping or idle:
            with writer.cond:
                if not writer.queue:
                    writer.thread = None
                    return


def open_ledger(uri: str, *, readonly: bool = False, **options: Any
                ) -> Ledger | ReadOnlyLedger:
    """Open the ledger at ``uri``; see :class:`Ledger`. With ``readonly=True`` a
    :class:`~genai_compliance.ledger.ReadOnlyLedger` that never writes (and never creates
    anything) is returned instead."""
    if readonly:
        from ._verify import ReadOnlyLedger

        return ReadOnlyLedger(uri)
    return Ledger(uri, **options)
