"""Verification: the chain, the Merkle tree, the checkpoints in the database and in the
witnesses, the chain of keys and the unprotected tail — read-only throughout.

What each finding means:

* a record that does not hash, chain or parse, a gap or an inserted record — edited rows;
* a stored or witnessed checkpoint bigger than the records — the tail was truncated, the
  ledger wiped or rolled back to an older copy;
* a root that differs from a signed checkpoint — records rewritten (a rechain), or a fork;
* a witnessed checkpoint missing from the database — checkpoints deleted;
* a checkpoint no trusted key signed — a rechain signed with another key;
* a record after the newest checkpoint dated before it — a forged (back-dated) tail;
* records after the newest checkpoint older than the checkpoint interval — either the
  writer stopped without closing or they were added afterwards (a warning; a failure with
  ``strict``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..crypto import key_id
from ..errors import ConfigurationError, LedgerCorrupt, LedgerNotFound
from ..stores import parse_uri
from ._format import GENESIS_HASH, Record, canonical, chain_hash, envelope, iso, parse_iso
from ._merkle import CompactRange, leaf_hash
from ._note import Checkpoint, NoteError, as_keys
from ._reader import LedgerReader, require_tables
from ._witness import Witness, open_witness

__all__ = ["ReadOnlyLedger", "VerifyReport", "verify_ledger", "verify_reader"]

_LEGACY_CHECKPOINT_DOMAIN = b"genai-compliance/ledger-checkpoint/v1\n"
_ROTATION_KIND = "ledger.key"


@attrs.frozen
class VerifyReport:
    """The outcome of a verification. ``first_bad_seq`` and ``problem`` are set when ``ok``
    is false.

    ``checkpoints`` counts the checkpoints stored in the ledger, ``witnessed`` those read
    from witnesses; ``key_ids`` are the keys that signed them; ``pinned_key`` says whether
    they were checked against keys given by the verifier (``proves == "origin"``) or only
    against keys the ledger itself lists (``"consistency"``). ``unprotected`` records come
    after the newest checkpoint. ``empty`` is a ledger with no records at all.

    .. versionchanged:: 0.2 origin, tree, witness, tail, strict and key-source fields.
    """

    ok: bool
    records: int
    checkpoints: int
    first_seq: int | None
    last_seq: int | None
    first_bad_seq: int | None = None
    problem: str | None = None
    key_ids: tuple[str, ...] = ()
    pinned_key: bool = False
    origin: str | None = None
    tree_size: int = 0
    root: str | None = None
    witnessed: int = 0
    witnesses: tuple[str, ...] = ()
    newest_checkpoint: int | None = None
    newest_checkpoint_time: str | None = None
    unprotected: int = 0
    embedded_key: bool = False
    proves: str = "consistency"
    strict: bool = False
    empty: bool = False
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["key_ids"] = list(self.key_ids)
        out["witnesses"] = list(self.witnesses)
        out["warnings"] = list(self.warnings)
        return out


class _Fail(Exception):
    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(problem)
        self.seq = seq
        self.problem = problem


def _raw_key(b64: Any) -> Ed25519PublicKey:
    raw = base64.b64decode(str(b64), validate=True)
    return Ed25519PublicKey.from_public_bytes(raw)


def _check_sig(key: Ed25519PublicKey, sig_b64: Any, message: bytes, *,
               urlsafe: bool = False) -> bool:
    try:
        text = str(sig_b64)
        sig = (base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)) if urlsafe
               else base64.b64decode(text, validate=True))
        key.verify(sig, message)
    except (InvalidSignature, ValueError, binascii.Error, TypeError):
        return False
    return True


@attrs.define
class _Rotation:
    seq: int
    old: Ed25519PublicKey
    new: Ed25519PublicKey


def verify_reader(reader: LedgerReader,
                  public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None = None, *,
                  witnesses: Sequence[Witness] = (), strict: bool = False,
                  now: dt.datetime | None = None, interval: float | None = None,
                  clock_skew: float = 30.0) -> VerifyReport:
    """Verify the ledger read by ``reader``; see the module docstring."""
    from ._ledger import anchor_tree_message, legacy_anchor_message, rotation_statement

    pinned = as_keys(public_key)
    state: dict[str, Any] = {"records": 0, "first": None, "last": None, "checkpoints": 0,
                             "witnessed": 0, "signers": set(), "origin": None,
                             "tree_size": 0, "root": None, "embedded": False,
                             "newest": None, "unprotected": 0, "where": []}
    warnings: list[str] = []

    def report(ok: bool, seq: int | None = None, problem: str | None = None, *,
               empty: bool = False) -> VerifyReport:
        newest: Checkpoint | None = state["newest"]
        return VerifyReport(
            ok, state["records"], state["checkpoints"], state["first"], state["last"], seq,
            problem, tuple(sorted(state["signers"])), bool(pinned), state["origin"],
            state["tree_size"], state["root"], state["witnessed"], tuple(state["where"]),
            None if newest is None else newest.size + base,
            None if newest is None or newest.time is None else iso(newest.time)[:19] + "Z",
            state["unprotected"], state["embedded"],
            "origin" if pinned and not state["embedded"] else "consistency", strict, empty,
            tuple(warnings))

    base = 0
    try:
        meta = reader.meta()
        origin = meta.get("origin") or None
        state["origin"] = origin
        state["embedded"] = "signing_key" in meta
        recorded = reader.recorded_keys()
        try:
            anchor = reader.anchor()
        except (ValueError, KeyError, TypeError) as exc:
            raise _Fail(None, "the purge anchor is unreadable") from exc
        if interval is None:
            try:
                interval = float(meta.get("checkpoint_interval") or 60.0)
            except ValueError:
                interval = 60.0

        # -- the chain and the tree ------------------------------------------------------
        expected, running = 1, GENESIS_HASH
        rng = CompactRange()
        if anchor is not None:
            if anchor.tree_nodes is not None and anchor.tree_base is not None:
                base = anchor.tree_base
                try:
                    rng = CompactRange(anchor.seq - base, anchor.tree_nodes)
                except ValueError as exc:
                    raise _Fail(anchor.seq + 1, "the purge anchor's tree is malformed") from exc
            else:
                base = anchor.seq
            expected, running = anchor.seq + 1, anchor.hash
        heads = reader.tree_heads()
        legacy = reader.legacy_checkpoints()
        state["checkpoints"] = len(heads) + len(legacy)
        notes_by_witness: list[tuple[str, list[str]]] = []
        for witness in witnesses:
            try:
                notes, where = witness.notes(origin)
            except (LedgerNotFound, LedgerCorrupt, OSError) as exc:
                raise _Fail(None, f"the witness {witness.where} cannot be read: {exc}") from exc
            notes_by_witness.append((where, notes))
            state["where"].append(where)
        parsed_witness: list[tuple[str, Checkpoint]] = []
        for where, notes in notes_by_witness:
            for note in notes:
                try:
                    parsed_witness.append((where, Checkpoint.parse(note)))
                except NoteError as exc:
                    raise _Fail(None, f"a checkpoint in the witness {where} is "
                                      "malformed") from exc
        wanted_sizes = {size for size, *_ in heads} | {cp.size for _, cp in parsed_witness}
        roots: dict[int, bytes] = {}
        if rng.size in wanted_sizes:
            roots[rng.size] = rng.root()
        legacy_seqs = {seq for seq, *_ in legacy}
        legacy_hashes: dict[int, str] = {}
        rotations: list[_Rotation] = []
        for row in reader.raw_rows():
            try:
                seq = int(row[0])
            except (TypeError, ValueError) as exc:
                raise _Fail(expected, "a record's sequence number is malformed") from exc
            if seq != expected:
                raise _Fail(min(seq, expected), "a record is missing or out of place")
            _, time, kind, subject, payload_text, prev_hash, digest = row
            try:
                payload = json.loads(payload_text)
                parse_iso(time)
                env = envelope(seq, time, kind, subject, payload_text, prev_hash)
            except (ValueError, TypeError, UnicodeError) as exc:
                raise _Fail(seq, "the record does not verify") from exc
            if prev_hash != running:
                raise _Fail(seq, "the record does not chain to the one before")
            try:
                ok_hash = chain_hash(prev_hash, env) == digest
            except ValueError:
                ok_hash = False
            if not ok_hash:
                raise _Fail(seq, "the record does not verify")
            rng.append(leaf_hash(env))
            if rng.size in wanted_sizes:
                roots[rng.size] = rng.root()
            if seq in legacy_seqs:
                legacy_hashes[seq] = digest
            if kind == _ROTATION_KIND:
                rotations.append(_rotation(seq, payload, rotation_statement))
            if state["first"] is None:
                state["first"] = seq
            state["last"] = seq
            state["records"] += 1
            running = digest
            expected = seq + 1
        last_seq = expected - 1
        total = rng.size
        state["tree_size"] = total + base
        state["root"] = base64.b64encode(rng.root()).decode()

        head_value = meta.get("head") or f"0:{GENESIS_HASH}"
        h_seq, _, h_hash = head_value.partition(":")
        try:
            head = (int(h_seq), h_hash)
        except ValueError as exc:
            raise _Fail(last_seq + 1, "the ledger head does not match its records") from exc
        if head != (last_seq, running):
            raise _Fail(min(head[0], last_seq) + 1, "the ledger head does not match its records")

        # -- keys ------------------------------------------------------------------------
        trusted: dict[str, Ed25519PublicKey] = ({key_id(k): k for k in pinned} if pinned
                                                else dict(recorded))
        if not pinned:
            for rot in rotations:
                trusted.setdefault(key_id(rot.old), rot.old)
                trusted.setdefault(key_id(rot.new), rot.new)
        changed = True
        while changed:
            changed = False
            for rot in rotations:
                old_id, new_id = key_id(rot.old), key_id(rot.new)
                if (old_id in trusted) != (new_id in trusted):
                    trusted.setdefault(old_id, rot.old)
                    trusted.setdefault(new_id, rot.new)
                    changed = True
        retired: dict[str, int] = {}
        for rot in rotations:
            retired.setdefault(key_id(rot.old), rot.seq - base)

        def signed_ok(cp: Checkpoint, where: str, seq_for: int) -> Checkpoint:
            checked = cp.verify(trusted.values())
            if checked is None:
                raise _Fail(seq_for, f"a checkpoint {where} is not signed by a trusted key")
            limit = retired.get(checked.key_id)
            if limit is not None and checked.size >= limit:
                raise _Fail(seq_for, f"a checkpoint {where} is signed by key "
                                     f"{checked.key_id}, retired at seq {limit + base}")
            state["signers"].add(checked.key_id)
            return checked

        # -- the purge anchor ------------------------------------------------------------
        if anchor is not None:
            akey = trusted.get(anchor.key_id)
            if akey is None or not _check_sig(akey, anchor.signature, legacy_anchor_message(
                    anchor.seq, anchor.hash, anchor.key_id), urlsafe=True):
                raise _Fail(anchor.seq + 1, "the purge anchor's signature does not verify")
            if anchor.tree_nodes is not None and anchor.tree_base is not None and not (
                    anchor.tree_signature and _check_sig(akey, anchor.tree_signature,
                                                         anchor_tree_message(
                                                             str(anchor.raw.get("origin")),
                                                             anchor.seq, anchor.hash,
                                                             anchor.tree_base,
                                                             anchor.tree_nodes),
                                                         urlsafe=True)):
                raise _Fail(anchor.seq + 1, "the purge anchor's signature does not verify")
        purged = 0 if anchor is None else anchor.seq - base

        # -- checkpoints in the database -------------------------------------------------
        verified: list[Checkpoint] = []
        db_sizes: dict[int, bytes] = {}
        for size, _root, _time, _kid, note in heads:
            seq_for = size + base
            try:
                cp = Checkpoint.parse(note)
            except NoteError as exc:
                raise _Fail(seq_for, "a checkpoint in the ledger is malformed") from exc
            if cp.size != size:
                raise _Fail(seq_for, "a checkpoint in the ledger is malformed")
            if origin is not None and cp.origin != origin:
                raise _Fail(seq_for, "a checkpoint in the ledger names another origin")
            checked = signed_ok(cp, "in the ledger", seq_for)
            if size <= purged:
                continue
            if size > total:
                raise _Fail(total + base + 1, "records signed by a checkpoint are missing")
            if roots.get(size) != checked.root:
                raise _Fail(seq_for, "the record does not match its signed checkpoint")
            db_sizes[size] = checked.root
            verified.append(checked)
        for seq, digest, time, kid, sig in legacy:
            key = trusted.get(kid)
            message = _LEGACY_CHECKPOINT_DOMAIN + canonical(
                {"seq": seq, "hash": digest, "time": time, "key_id": kid})
            if key is None or not _check_sig(key, sig, message, urlsafe=True):
                raise _Fail(seq, "a checkpoint's signature does not verify")
            limit = retired.get(kid)
            if limit is not None and seq - base >= limit:
                raise _Fail(seq, f"a checkpoint is signed by key {kid}, retired at seq "
                                 f"{limit + base}")
            state["signers"].add(kid)
            if anchor is not None and seq <= anchor.seq:
                continue
            if seq > last_seq:
                raise _Fail(last_seq + 1, "records signed by a checkpoint are missing")
            if legacy_hashes.get(seq) != digest:
                raise _Fail(seq, "the record does not match its signed checkpoint")

        # -- witnessed checkpoints -------------------------------------------------------
        witnessed = 0
        for where, cp in sorted(parsed_witness, key=lambda w: -w[1].size):
            seq_for = cp.size + base
            if origin is not None and cp.origin != origin:
                raise _Fail(seq_for, f"the witness {where} holds checkpoints of another origin "
                                     f"({cp.origin}): the ledger's origin was changed")
            checked = signed_ok(cp, f"in the witness {where}", seq_for)
            witnessed += 1
            if cp.size <= purged:
                continue
            if cp.size > total:
                raise _Fail(total + base + 1,
                            f"the ledger is shorter than a checkpoint witnessed in {where} "
                            f"({cp.size + base} records): records were truncated, wiped or "
                            "rolled back")
            if roots.get(cp.size) != checked.root:
                raise _Fail(seq_for, f"the records differ from a checkpoint witnessed in "
                                     f"{where}: they were rewritten")
            if db_sizes.get(cp.size) != checked.root:
                raise _Fail(seq_for, f"a checkpoint witnessed in {where} is missing from the "
                                     "ledger: its checkpoints were deleted")
            verified.append(checked)
        state["witnessed"] = witnessed
        for where, notes in notes_by_witness:
            if not notes:
                warnings.append(f"the witness {where} holds no checkpoint of this ledger")
                if strict:
                    raise _Fail(None, f"strict: the witness {where} holds no checkpoint of "
                                      "this ledger")

        if total == 0 and anchor is None:
            return report(True, empty=True)

        # -- the tail after the newest checkpoint ---------------------------------------
        newest = max(verified, key=lambda c: (c.size, c.time or dt.datetime.min.replace(
            tzinfo=dt.UTC)), default=None)
        state["newest"] = newest
        covered = purged if newest is None else max(newest.size, purged)
        state["unprotected"] = total - covered
        if total > covered:
            tail = _tail(reader, covered + base)
            if newest is not None and newest.time is not None:
                limit_t = newest.time - dt.timedelta(seconds=clock_skew)
                for seq, when in tail:
                    if when < limit_t:
                        raise _Fail(seq, "a record after the newest checkpoint is dated before "
                                         "it: it was added later (forged)")
            oldest = min((w for _, w in tail), default=None)
            if now is not None and oldest is not None and (
                    now - oldest).total_seconds() > interval + max(interval, 60.0):
                stale = (f"{total - covered} records after the newest checkpoint are older "
                         f"than the checkpoint interval ({interval:g} s): the writer stopped "
                         "without closing, or they were added afterwards")
                if strict:
                    raise _Fail(covered + base + 1, "strict: " + stale)
                warnings.append(stale)
        if strict:
            if state["embedded"]:
                raise _Fail(None, "strict: the signing key is kept in the ledger itself "
                                  "(development mode): this proves consistency only")
            if not pinned:
                raise _Fail(None, "strict: no public key was given (--public-key), so only "
                                  "consistency is proven")
            if not verified:
                raise _Fail(None, "strict: no signed checkpoint covers the records")
        elif state["embedded"]:
            warnings.append("the signing key is kept in the ledger itself (development mode): "
                            "this proves consistency only")
    except _Fail as failure:
        return report(False, failure.seq, failure.problem)
    return report(True)


def _rotation(seq: int, payload: Any, statement: Any) -> _Rotation:
    try:
        old = _raw_key(payload["old_public_key"])
        new = _raw_key(payload["new_public_key"])
        message = statement(payload)
        if (key_id(old) != payload["old_key_id"] or key_id(new) != payload["new_key_id"]
                or not _check_sig(old, payload["old_signature"], message)
                or not _check_sig(new, payload["new_signature"], message)):
            raise ValueError("bad signature")
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise _Fail(seq, "a key rotation record does not verify") from exc
    return _Rotation(seq, old, new)


def _tail(reader: LedgerReader, after_seq: int) -> list[tuple[int, dt.datetime]]:
    out = []
    for row in reader.raw_rows(after_seq):
        out.append((int(row[0]), parse_iso(row[1])))
    return out


class ReadOnlyLedger:
    """A ledger opened for reading only: never creates a file, table or key.

    Raises :class:`~genai_compliance.errors.LedgerNotFound` when there is nothing at
    ``uri`` and :class:`~genai_compliance.errors.LedgerCorrupt` when it cannot be read.

    .. versionadded:: 0.2
    """

    def __init__(self, uri: str) -> None:
        from ._readonly import open_readonly_db

        self.uri = uri
        self._parsed = parse_uri(uri)
        self.db = open_readonly_db(self._parsed)
        try:
            require_tables(self.db, self._parsed.redacted())
        except BaseException:
            self.db.close()
            raise
        self.reader = LedgerReader(self.db, uri=self._parsed.redacted())

    @property
    def origin(self) -> str | None:
        return self.reader.origin()

    def is_empty(self) -> bool:
        return self.reader.count() == 0 and self.reader.anchor() is None

    def default_witnesses(self) -> list[Witness]:
        """The default witness folder of this ledger, when it exists (never created)."""
        from ._keys import default_witness_dir

        folder = default_witness_dir(self._parsed)
        return [open_witness(folder)] if folder and os.path.isdir(folder) else []

    def verify(self, public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None = None,
               *, checkpoints: Sequence[str | os.PathLike[str]] | None = None,
               strict: bool = False, now: dt.datetime | None = None,
               interval: float | None = None) -> VerifyReport:
        witnesses = (self.default_witnesses() if checkpoints is None
                     else [open_witness(c) for c in checkpoints])
        return verify_reader(self.reader, public_key, witnesses=witnesses, strict=strict,
                             now=now or dt.datetime.now(dt.UTC), interval=interval)

    def records(self, **filters: Any) -> Iterator[Record]:
        if filters.get("subject") is not None:
            raise ConfigurationError("a read-only ledger cannot look subjects up (it holds no "
                                     "pseudonym secret); filter by kind or time",
                                     field="subject")
        return self.reader.records(**filters)

    def checkpoints(self) -> list[Checkpoint]:
        return self.reader.checkpoints()

    def head(self) -> tuple[int, str]:
        return self.reader.head()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ReadOnlyLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ReadOnlyLedger({self._parsed.redacted()!r})"


def verify_ledger(uri: str, public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None
                  = None, *, checkpoints: Sequence[str | os.PathLike[str]] | None = None,
                  strict: bool = False, now: dt.datetime | None = None,
                  interval: float | None = None) -> VerifyReport:
    """Open ``uri`` read-only and verify it (see :class:`ReadOnlyLedger`).

    .. versionadded:: 0.2
    """
    with ReadOnlyLedger(uri) as ledger:
        return ledger.verify(public_key, checkpoints=checkpoints, strict=strict, now=now,
                             interval=interval)
