"""Witnesses: places outside the ledger's database that keep its signed checkpoints.

Someone who can rewrite the database can delete its checkpoints too; they cannot take back
the copies already written elsewhere. ``ledger verify --checkpoints`` compares the database
with them: a witnessed tree head bigger than the database (tail truncation, a wipe, a
rollback to a backup), a different root at a witnessed size (a rewrite or a fork) or a
witnessed checkpoint missing from the database all fail.

* :class:`DirectoryWitness` — one folder per ledger origin holding ``checkpoint`` (the
  newest, replaced atomically, never by a smaller one) and ``checkpoints.jsonl`` (every
  checkpoint, appended).
* :class:`SQLWitness` — a table ``gc_ledger_witness`` in a second database (a store URI).

Copies are written by one background thread per process (:func:`publish_later`), right
after the commit that signed them, so an append never waits for a witness's file writes and
fsync. :func:`flush_pending` waits for them; every in-process read of a witness
(:meth:`Witness.notes`: opening a writer, ``verify``) and ``Ledger.close``/``checkpoint``
call it, and an exit hook does too. The database is always written first, so a witness is
never ahead of it; a process killed in that instant leaves the witness one checkpoint
behind, which the next checkpoint makes up for.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from ..errors import ConfigurationError
from ..stores import parse_uri
from ._keys import _write_tmp
from ._note import Checkpoint, NoteError

__all__ = ["DirectoryWitness", "SQLWitness", "Witness", "flush_pending", "open_witness",
           "publish_later"]

log = logging.getLogger("genai_compliance.ledger")

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class Witness(Protocol):
    """Keeps copies of checkpoints; :meth:`notes` reads them back without writing."""

    where: str

    def publish(self, checkpoint: Checkpoint) -> None: ...

    def notes(self, origin: str | None) -> tuple[list[str], str]: ...


class _Publisher:
    """The process's witness-writing thread and its queue of jobs."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.jobs: collections.deque[Callable[[], None]] = collections.deque()
        self.thread: threading.Thread | None = None
        self.running = 0

    def put(self, job: Callable[[], None]) -> None:
        with self.cond:
            self.jobs.append(job)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, daemon=True,
                                               name="genai-compliance-ledger-witness")
                self.thread.start()
            else:
                self.cond.notify_all()

    def _run(self) -> None:
        while True:
            with self.cond:
                if not self.jobs:
                    self.cond.wait(5.0)
                if not self.jobs:  # idle: leave (put() starts another)
                    self.thread = None
                    self.cond.notify_all()
                    return
                job = self.jobs.popleft()
                self.running += 1
            try:
                job()
            except Exception as exc:  # pragma: no cover - jobs report their own failures
                log.error("ledger witness job failed: %s", exc)
            finally:
                with self.cond:
                    self.running -= 1
                    self.cond.notify_all()

    def flush(self) -> None:
        if threading.current_thread() is self.thread:
            return
        with self.cond:
            while self.jobs or self.running:
                if self.thread is None or not self.thread.is_alive():
                    # no thread left to run them (an exit in progress): run them here
                    job = self.jobs.popleft() if self.jobs else None
                    if job is None:
                        self.cond.wait(0.1)
                        continue
                    self.cond.release()
                    try:
                        job()
                    except Exception as exc:  # pragma: no cover
                        log.error("ledger witness job failed: %s", exc)
                    finally:
                        self.cond.acquire()
                    continue
                self.cond.wait(0.5)


_PUBLISHER = _Publisher()


def publish_later(job: Callable[[], None]) -> None:
    """Run ``job`` (writing checkpoints to witnesses) on the witness thread."""
    _PUBLISHER.put(job)


def flush_pending() -> None:
    """Wait until every checkpoint handed to :func:`publish_later` is written."""
    _PUBLISHER.flush()


def _reset_after_fork() -> None:  # the parent writes what it queued; the child starts empty
    global _PUBLISHER
    _PUBLISHER = _Publisher()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
atexit.register(flush_pending)


def _slug(origin: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", origin).strip("._") or "ledger"


@contextlib.contextmanager
def _locked(folder: str) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(os.path.join(folder, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _size_of(note: str) -> int:
    try:
        return Checkpoint.parse(note).size
    except NoteError:
        return -1


def _claimed_size(note: str) -> int:
    """The size line of a checkpoint note without parsing the rest (-1 if none)."""
    lines = note.split("\n", 2)
    return int(lines[1]) if len(lines) > 2 and lines[1].isdigit() and len(lines[1]) < 20 else -1


class DirectoryWitness:
    """Checkpoints in ``path/<origin>/``. ``durable`` fsyncs the newest checkpoint before it
    replaces the previous one (a crash may lose a copy, never leave a torn one; the
    database, written first, is never behind its witness)."""

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.where = self.path
        self.durable = durable

    def folder(self, origin: str) -> str:
        return os.path.join(self.path, _slug(origin))

    def publish(self, checkpoint: Checkpoint) -> None:
        folder = self.folder(checkpoint.origin)
        os.makedirs(folder, mode=0o755, exist_ok=True)
        latest = os.path.join(folder, "checkpoint")
        with _locked(folder):
            current = -1
            with contextlib.suppress(OSError, UnicodeDecodeError), open(
                    latest, encoding="utf-8") as fh:
                text = fh.read()
                # a full parse only when the file claims to be as new as this one
                current = _claimed_size(text)
                if current >= checkpoint.size:
                    current = _size_of(text)
            line = json.dumps({"size": checkpoint.size, "checkpoint": checkpoint.note}) + "\n"
            fd = os.open(os.path.join(folder, "checkpoints.jsonl"),
                         os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
            if checkpoint.size > current:
                tmp = _write_tmp(latest, checkpoint.note.encode(), sync=self.durable)
                os.chmod(tmp, 0o644)
                os.replace(tmp, latest)

    def _read(self, folder: str) -> list[str]:
        notes: list[str] = []
        with contextlib.suppress(OSError, UnicodeDecodeError), open(
                os.path.join(folder, "checkpoint"), encoding="utf-8") as fh:
            notes.append(fh.read())
        with contextlib.suppress(OSError, UnicodeDecodeError), open(
                os.path.join(folder, "checkpoints.jsonl"), encoding="utf-8") as fh:
            for line in fh:
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    notes.append(str(json.loads(line)["checkpoint"]))
        return list(dict.fromkeys(notes))

    def notes(self, origin: str | None) -> tuple[list[str], str]:
        """The checkpoints kept for ``origin`` and the folder they came from. Accepts the
        witness folder itself or one ledger's sub-folder; never writes."""
        flush_pending()
        if origin is not None and os.path.isdir(self.folder(origin)):
            folder = self.folder(origin)
            return self._read(folder), folder
        if os.path.isfile(os.path.join(self.path, "checkpoint")):
            return self._read(self.path), self.path
        try:
            subs = [e.path for e in os.scandir(self.path) if e.is_dir()
                    and os.path.isfile(os.path.join(e.path, "checkpoint"))]
        except OSError:
            subs = []
        if len(subs) == 1:
            return self._read(subs[0]), subs[0]
        return [], self.path

    def __repr__(self) -> str:
        return f"DirectoryWitness({self.path!r})"


_WITNESS_DDL = ["CREATE TABLE IF NOT EXISTS gc_ledger_witness (origin TEXT NOT NULL, "
                "size BIGINT NOT NULL, note TEXT NOT NULL, PRIMARY KEY (origin, size))"]


class SQLWitness:
    """Checkpoints in table ``gc_ledger_witness`` of another database."""

    def __init__(self, uri: str) -> None:
        self.uri = parse_uri(uri)
        if self.uri.kind not in ("sqlite", "postgresql"):
            raise ConfigurationError(
                f"a witness store must be sqlite:///… or postgresql://…, got "
                f"{self.uri.redacted()}", field="ledger.witness_uri", value=self.uri.redacted())
        self.where = self.uri.redacted()
        self._db: Any = None

    def publish(self, checkpoint: Checkpoint) -> None:
        if self._db is None:
            from ..stores import SQLDatabase

            self._db = SQLDatabase(self.uri, durable=True)
            self._db.executescript(_WITNESS_DDL)
        with self._db.transaction(write=True) as tx:
            tx.execute("INSERT INTO gc_ledger_witness(origin, size, note) VALUES (?, ?, ?) "
                       "ON CONFLICT (origin, size) DO NOTHING",
                       (checkpoint.origin, checkpoint.size, checkpoint.note))

    def notes(self, origin: str | None) -> tuple[list[str], str]:
        from ._readonly import open_readonly_db

        flush_pending()
        db = open_readonly_db(self.uri, what="witness store")
        try:
            if not db.has_table("gc_ledger_witness"):
                return [], self.where
            with db.transaction() as tx:
                if origin is None:
                    rows = tx.execute("SELECT note FROM gc_ledger_witness ORDER BY size"
                                      ).fetchall()
                else:
                    rows = tx.execute("SELECT note FROM gc_ledger_witness WHERE origin = ? "
                                      "ORDER BY size", (origin,)).fetchall()
            return [str(r[0]) for r in rows], self.where
        finally:
            db.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def __repr__(self) -> str:
        return f"SQLWitness({self.where!r})"


def open_witness(location: str | os.PathLike[str]) -> Witness:
    """A witness from a folder path or a store URI."""
    text = os.fspath(location)
    if "://" in text:
        return SQLWitness(text)
    return DirectoryWitness(text)
