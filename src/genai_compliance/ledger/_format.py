"""The record format (unchanged since 0.1, so every existing ledger still verifies).

A record's canonical form is the RFC 8785 JSON of ``{seq, time, kind, subject, payload,
prev_hash}`` (the *envelope*). Two hashes cover it:

* the chain hash ``sha256(bytes.fromhex(prev_hash) || envelope)``, stored as ``hash`` and
  linked by the next record's ``prev_hash`` (0.1);
* the Merkle leaf ``sha256(0x00 || envelope)`` of the RFC 6962 tree over all records in
  ``seq`` order (0.2): what checkpoints sign and proofs prove.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs
import rfc8785

from ..errors import LedgerError
from ..subject import Subject

__all__ = [
    "GENESIS_HASH",
    "Entry",
    "Record",
    "canonical",
    "envelope",
    "record_hash",
    "record_leaf",
]

GENESIS_HASH = "0" * 64
_SAFE_INT = 2**53 - 1
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True,
                           separators=(",", ":")).encode
# the payload path: fast_ok has already walked the value, so no circularity bookkeeping
_encode_checked = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True,
                                   separators=(",", ":"), check_circular=False).encode
_sha256 = hashlib.sha256


def iso(t: dt.datetime) -> str:
    """The ledger's timestamp form: UTC with microseconds, ``…Z`` (27 characters)."""
    u = t if t.tzinfo is dt.UTC else t.astimezone(dt.UTC)
    return (f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:"
            f"{u.second:02d}.{u.microsecond:06d}Z")


def parse_iso(s: str) -> dt.datetime:
    if not isinstance(s, str) or len(s) != 27 or s[-1] != "Z":
        raise ValueError(f"not a ledger timestamp: {s!r}")
    return dt.datetime.fromisoformat(s)


def fast_ok(value: Any) -> bool:
    """True when ``json.dumps(sort_keys)`` already yields the RFC 8785 form: no floats
    (JCS prints numbers the ECMAScript way), ints within ±(2**53-1), keys in the BMP (JCS
    sorts by UTF-16 code units, Python by code points; they agree inside the BMP)."""
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if type(k) is not str:
                return False
            tv = type(v)
            if tv is str or v is None or tv is bool:
                continue
            if tv is int:
                if not -_SAFE_INT <= v <= _SAFE_INT:
                    return False
            elif tv is list:  # the common list of strings, without a call
                for x in v:
                    if type(x) is not str and not fast_ok(x):
                        return False
            elif not fast_ok(v):
                return False
        if value:
            keys = "".join(value)
            if not keys.isascii() and max(keys) > "\uffff":
                return False
        return True
    if t is str or value is None or t is bool:
        return True
    if t is int:
        return bool(-_SAFE_INT <= value <= _SAFE_INT)
    if t is list or t is tuple:
        for v in value:
            tv = type(v)
            if tv is str or v is None or tv is bool:
                continue
            if tv is int:
                if not -_SAFE_INT <= v <= _SAFE_INT:
                    return False
            elif not fast_ok(v):
                return False
        return True
    if isinstance(value, bool):
        return True
    if isinstance(value, str):
        return True
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, dict):
        return fast_ok(dict(value))
    if isinstance(value, list | tuple):
        return fast_ok(list(value))
    return False


def _rfc8785(value: Any) -> bytes:
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise LedgerError(
            f"a ledger payload must be plain JSON (str, int, float, bool, None, list, dict "
            f"with str keys); {exc}",
            value=repr(value)[:200],
        ) from exc


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes (a fast path for float-free data, else ``rfc8785``)."""
    if fast_ok(value):
        try:
            return _encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # lone surrogates: let rfc8785 give its precise error
    return _rfc8785(value)


def canonical_text(value: Any) -> str:
    """:func:`canonical` as ``str`` (what the ledger stores in its ``payload`` column)."""
    if fast_ok(value):
        text = _encode(value)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            return text
    return _rfc8785(value).decode("utf-8")


def json_str(s: str) -> str:
    """The RFC 8785 form of a string (equal to ``json.dumps(ensure_ascii=False)``)."""
    return _encode(s)


def envelope(seq: int, time: str, kind: str, subject: str | None, body: str,
             prev_hash: str) -> bytes:
    """RFC 8785 form of the record, splicing in the already canonical payload ``body``
    (keys in JCS order: kind, payload, prev_hash, seq, subject, time)."""
    subj = "null" if subject is None else _encode(subject)
    text = (f'{{"kind":{_encode(kind)},"payload":{body},"prev_hash":{_encode(prev_hash)},'
            f'"seq":{seq},"subject":{subj},"time":{_encode(time)}}}')
    return text.encode("utf-8")


def chain_hash(prev_hash: str, env: bytes) -> str:
    return _sha256(bytes.fromhex(prev_hash) + env).hexdigest()


def record_hash(
    seq: int, time: str, kind: str, subject: str | None, payload: Any, prev_hash: str
) -> str:
    """The chain hash of one record, as defined in the module docstring."""
    return chain_hash(prev_hash, envelope(seq, time, kind, subject,
                                          canonical(payload).decode(), prev_hash))


def record_leaf(seq: int, time: str, kind: str, subject: str | None, payload: Any,
                prev_hash: str) -> bytes:
    """The record's Merkle leaf hash ``sha256(0x00 || envelope)``."""
    return _sha256(b"\x00" + envelope(seq, time, kind, subject, canonical(payload).decode(),
                                      prev_hash)).digest()


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
        return {"seq": self.seq, "time": iso(self.time), "kind": self.kind,
                "subject": self.subject, "payload": dict(self.payload),
                "prev_hash": self.prev_hash, "hash": self.hash}

    def leaf(self) -> bytes:
        """This record's Merkle leaf hash."""
        return record_leaf(self.seq, iso(self.time), self.kind, self.subject,
                           dict(self.payload), self.prev_hash)


@attrs.frozen
class Entry:
    """A record to append: ``kind``, a JSON ``payload`` and an optional subject."""

    kind: str
    payload: Mapping[str, Any] = attrs.field(factory=dict)
    subject: Subject | str | None = None


def prepare_payload(payload: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """``(payload as a reader gets it back, canonical text)``; raises :class:`LedgerError`."""
    raw = payload if type(payload) is dict else dict(payload)
    try:
        simple = fast_ok(raw)
    except RecursionError as exc:
        raise LedgerError("a ledger payload must be plain JSON; this one is circular or "
                          "nested too deeply", value=repr(payload)[:200]) from exc
    if simple:
        text = _encode_checked(raw)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                _rfc8785(raw)  # raises with the precise reason
        return raw, text
    body = _rfc8785(raw)
    value = json.loads(body)  # floats: keep what a reader of the canonical text gets back
    try:
        same = canonical(value) == body
    except LedgerError:
        same = False
    if not same:
        raise LedgerError(
            "a ledger payload number is outside the range JSON readers keep exactly "
            "(|n| < 2**53); store it as a string",
            value=repr(payload)[:200],
        )
    return value, body.decode("utf-8")
