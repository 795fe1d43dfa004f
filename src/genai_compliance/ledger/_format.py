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
import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs

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
_PLAIN = ("a ledger payload must be plain JSON (str, int, float, bool, None, list, dict with "
          "str keys)")
# for the envelope's fields (read back from a database, so of any type when tampered with)
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True,
                           separators=(",", ":")).encode
_encode_str = json.encoder.encode_basestring  # the C string encoder, RFC 8785's escapes
_sha256 = hashlib.sha256


def _not_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not plain JSON")


def _c_encoder() -> Callable[[Any], str] | None:
    """The C JSON encoder made once, without circularity bookkeeping (:func:`fast_ok` has
    already walked the value): sorted keys, compact separators, UTF-8 text. ``None`` where
    the interpreter has no C encoder (the caller then uses :data:`_encode`)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return None
    try:
        iterencode = make(None, _not_json, _encode_str, None, ":", ",", True, False, False)
        join = "".join

        def encode(value: Any) -> str:
            return join(iterencode(value, 0))

        if encode({"b": [1, None], "a": "\u00e9"}) != '{"a":"\u00e9","b":[1,null]}':
            return None  # pragma: no cover - a C encoder with another signature
    except Exception:  # pragma: no cover - ditto
        return None
    return encode


_fast_encode: Callable[[Any], str] = _c_encoder() or json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"),
    check_circular=False).encode


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
        if value:
            try:
                keys = "".join(value)  # fails unless every key is a str
            except TypeError:
                return False
            if not keys.isascii() and max(keys) > "\uffff":
                return False
        for v in value.values():
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


# -- the shaped path: dicts of str, int, bool, None, lists and dicts ---------------------
#: a dict's keys in insertion order -> the keys in JCS order, each with its encoded prefix
#: (``{"a":`` for the first, ``,"b":`` after), or None (a key that is not a str, or is
#: outside the BMP: the other paths decide). Payloads of one kind share their keys, so a
#: dict is neither sorted nor are its keys encoded again.
_SHAPES: dict[tuple[Any, ...], tuple[tuple[str, str], ...] | None] = {}
_SHAPES_MAX = 4096
_MISSING: Any = object()


def _shape(keys: tuple[Any, ...]) -> tuple[tuple[str, str], ...] | None:
    try:
        joined = "".join(keys)
    except TypeError:
        return None
    if not joined.isascii() and max(joined) > "\uffff":
        return None  # JCS sorts by UTF-16 code units, sorted() by code points
    return tuple((key, ("," if i else "{") + _encode_str(key) + ":")
                 for i, key in enumerate(sorted(keys)))


def _shaped_dict(value: dict[Any, Any], add: Callable[[str], None]) -> bool:
    """Append the RFC 8785 text of ``value`` to a list through ``add``; False (the list is
    then garbage) as soon as something is not an exact str, int within ±(2**53-1), bool,
    None, list, tuple or dict, or a key is not a BMP str. What it writes is what the C
    encoder of the fast path writes (the same string escaper, ``int.__repr__``, sorted
    keys, compact separators)."""
    keys = tuple(value)
    shape = _SHAPES.get(keys, _MISSING)
    if shape is _MISSING:
        shape = _shape(keys)
        if len(_SHAPES) >= _SHAPES_MAX:
            _SHAPES.clear()
        _SHAPES[keys] = shape
    if shape is None:
        return False
    if not shape:
        add("{}")
        return True
    for key, prefix in shape:
        add(prefix)
        v = value[key]
        t = type(v)  # (the same dispatch as in _shaped_list, inlined: this is per value)
        if t is str:
            add(_encode_str(v))
        elif t is int:
            if not -_SAFE_INT <= v <= _SAFE_INT:
                return False
            add(int.__repr__(v))
        elif t is bool:
            add("true" if v else "false")
        elif v is None:
            add("null")
        elif t is dict:
            if not _shaped_dict(v, add):
                return False
        elif t is list or t is tuple:
            if not _shaped_list(v, add):
                return False
        else:
            return False
    add("}")
    return True


def _shaped_list(value: list[Any] | tuple[Any, ...], add: Callable[[str], None]) -> bool:
    """:func:`_shaped_dict` for a list or tuple."""
    if not value:
        add("[]")
        return True
    sep = "["
    for v in value:
        add(sep)
        sep = ","
        t = type(v)
        if t is str:
            add(_encode_str(v))
        elif t is int:
            if not -_SAFE_INT <= v <= _SAFE_INT:
                return False
            add(int.__repr__(v))
        elif t is bool:
            add("true" if v else "false")
        elif v is None:
            add("null")
        elif t is dict:
            if not _shaped_dict(v, add):
                return False
        elif t is list or t is tuple:
            if not _shaped_list(v, add):
                return False
        else:
            return False
    add("]")
    return True


def shaped_text(value: Any) -> str | None:
    """The RFC 8785 text of a dict of str, int, bool, None, lists and dicts (exact types,
    BMP keys), one walk for checking and writing; ``None`` for anything else (the fast or
    the general path then decides). Raises ``RecursionError`` for a circular value.

    .. versionadded:: 0.2
    """
    if type(value) is not dict:
        return None
    parts: list[str] = []
    return "".join(parts) if _shaped_dict(value, parts.append) else None


# -- the general path: floats, big ints, keys outside the BMP, errors --------------------
def es_number(f: float) -> str:
    """RFC 8785 §3.2.2.3: a double the way ECMAScript's ``Number.prototype.toString``
    prints it (the shortest digits that read back as ``f``, which ``repr`` also finds;
    plain notation from 1e-6 up to 1e21, ``1e+21`` style outside). Raises ``ValueError``
    for NaN and the infinities, which JSON cannot hold."""
    if f != f or f in (math.inf, -math.inf):
        raise ValueError(f"{f!r} is not a JSON number")
    if f == 0:
        return "0"  # -0 too
    if f < 0:
        return "-" + es_number(-f)
    text = repr(float(f))
    mantissa, marker, exp = text.partition("e")
    if not marker:  # 1e-4 <= f < 1e16: repr's plain form, minus a trailing ".0"
        return text[:-2] if text.endswith(".0") else text
    e = int(exp)
    digits = mantissa.replace(".", "")
    if 0 < e < 21:
        return digits + "0" * (e + 1 - len(digits))
    if -7 < e < 0:
        return "0." + "0" * (-e - 1) + digits
    return f"{mantissa}e{'+' if e > 0 else '-'}{-e if e < 0 else e}"


def _where(path: str) -> str:
    return f"payload{path}" if path else "the payload"


def _jcs(value: Any, out: list[str], path: str, exact: bool) -> None:
    """Append the RFC 8785 form of ``value`` to ``out``; raises :class:`LedgerError` naming
    where the value is not plain JSON. ``exact``: also refuse a float that prints as an
    integer beyond 2**53 (a reader would get back an int it cannot re-encode)."""
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_str(value))
    elif isinstance(value, int):
        if not -_SAFE_INT <= value <= _SAFE_INT:
            raise LedgerError(
                f"{_where(path)} is the integer {value}, outside the range JSON readers keep "
                "exactly (|n| < 2**53); store it as a string", value=repr(value)[:200])
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        try:
            text = es_number(value)
        except ValueError:
            raise LedgerError(f"{_PLAIN}; {_where(path)} is {value!r}, which JSON cannot "
                              "hold (store it as a string or null)",
                              value=repr(value)) from None
        if exact and abs(value) > _SAFE_INT and "e" not in text:
            # it prints as an integer, which a reader gets back as one beyond 2**53
            raise LedgerError(
                f"{_where(path)} is the number {text}, outside the range JSON readers keep "
                "exactly (|n| < 2**53); store it as a string", value=repr(value))
        out.append(text)
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _jcs(item, out, f"{path}[{i}]", exact)
        out.append("]")
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise LedgerError(f"{_PLAIN}; {_where(path)} has the key {key!r} "
                                  f"({type(key).__name__}); use str keys",
                                  value=repr(key)[:200])
        keys = "".join(value)
        if keys.isascii() or max(keys) <= "\uffff":
            order = sorted(value)
        else:  # JCS sorts by UTF-16 code units
            order = sorted(value, key=lambda k: k.encode("utf-16-be"))
        out.append("{")
        for i, key in enumerate(order):
            if i:
                out.append(",")
            out.append(_encode_str(key))
            out.append(":")
            _jcs(value[key], out, f"{path}[{key!r}]", exact)
        out.append("}")
    else:
        raise LedgerError(f"{_PLAIN}; {_where(path)} is a {type(value).__name__} — convert it "
                          "first (an ISO 8601 string for a time, a list for a set, str() for "
                          "an id)", value=repr(value)[:200])


def _utf8(text: str) -> bytes:
    """``text`` in UTF-8; a :class:`LedgerError` for a lone surrogate."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LedgerError(f"{_PLAIN}; it holds a lone surrogate ({exc.object[exc.start]!r}"
                          "), which is not Unicode text: decode the bytes it came from "
                          "properly", value=repr(exc.object)[:200]) from None


def _utf8_checked(text: str) -> str:
    if not text.isascii():
        _utf8(text)
    return text


def canonical_text(value: Any, *, exact: bool = False) -> str:
    """RFC 8785 canonical JSON as ``str``: the C encoder when :func:`fast_ok` (no floats,
    safe ints, BMP keys), else the general encoder here. Raises :class:`LedgerError` for
    what is not plain JSON, naming where it is (and with ``exact`` for a float that reads
    back as an integer beyond 2**53).

    .. versionchanged:: 0.2 no longer goes through the ``rfc8785`` package (same output).
    """
    try:
        text = shaped_text(value)
        if text is not None:
            return _utf8_checked(text)
        if fast_ok(value):
            return _utf8_checked(_fast_encode(value))
        out: list[str] = []
        _jcs(value, out, "", exact)
    except RecursionError as exc:
        raise LedgerError(f"{_PLAIN}; this one is circular or nested too deeply",
                          value=repr(value)[:200]) from exc
    return _utf8_checked("".join(out))


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes (see :func:`canonical_text`)."""
    return canonical_text(value).encode("utf-8")


def json_str(s: str) -> str:
    """The RFC 8785 form of a string (equal to ``json.dumps(ensure_ascii=False)``)."""
    return _encode_str(s)


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
                                          canonical_text(payload), prev_hash))


def record_leaf(seq: int, time: str, kind: str, subject: str | None, payload: Any,
                prev_hash: str) -> bytes:
    """The record's Merkle leaf hash ``sha256(0x00 || envelope)``."""
    return _sha256(b"\x00" + envelope(seq, time, kind, subject, canonical_text(payload),
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


def _record_maker() -> Callable[[int, dt.datetime, str, str | None, Mapping[str, Any], str, str],
                                 Record]:
    """``Record(...)`` for the writer, which makes one per appended record: the same frozen
    object, its slots filled through their descriptors instead of attrs' seven
    ``object.__setattr__`` calls (falls back to the class if its fields ever change)."""
    names = tuple(a.name for a in attrs.fields(Record))
    slots = [Record.__dict__.get(n) for n in names]
    if (names != ("seq", "time", "kind", "subject", "payload", "prev_hash", "hash")
            or not all(hasattr(s, "__set__") for s in slots)):
        return Record  # pragma: no cover
    s_seq, s_time, s_kind, s_subject, s_payload, s_prev, s_hash = (
        s.__set__ for s in slots)  # type: ignore[union-attr]
    new = object.__new__

    def make(seq: int, time: dt.datetime, kind: str, subject: str | None,
             payload: Mapping[str, Any], prev_hash: str, hash: str) -> Record:
        r: Record = new(Record)
        s_seq(r, seq)
        s_time(r, time)
        s_kind(r, kind)
        s_subject(r, subject)
        s_payload(r, payload)
        s_prev(r, prev_hash)
        s_hash(r, hash)
        return r

    return make


new_record = _record_maker()


@attrs.frozen
class Entry:
    """A record to append: ``kind``, a JSON ``payload`` and an optional subject."""

    kind: str
    payload: Mapping[str, Any] = attrs.field(factory=dict)
    subject: Subject | str | None = None


def prepare_payload(payload: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """``(payload, canonical text)``; raises :class:`LedgerError`. The payload is returned as
    given (a reader of the text gets back an equal value: the encoder refuses what would
    not read back the same), and the text is never parsed again.

    .. versionchanged:: 0.2 floats no longer take a JSON round trip.
    """
    value, text, _ = prepare_body(payload)
    return value, text


def prepare_body(payload: Mapping[str, Any]) -> tuple[dict[str, Any], str, bytes]:
    """:func:`prepare_payload` and the text's UTF-8 bytes (what the record's hashes cover;
    checking the text is valid Unicode encodes it anyway)."""
    raw = payload if type(payload) is dict else dict(payload)
    try:
        parts: list[str] = []
        if _shaped_dict(raw, parts.append):  # the common payload: one walk
            text = "".join(parts)
            return raw, text, text.encode() if text.isascii() else _utf8(text)
        if fast_ok(raw):
            text = _fast_encode(raw)
            return raw, text, text.encode() if text.isascii() else _utf8(text)
    except RecursionError as exc:
        raise LedgerError(f"{_PLAIN}; this one is circular or nested too deeply",
                          value=repr(payload)[:200]) from exc
    text = canonical_text(raw, exact=True)
    return raw, text, text.encode("utf-8")
