"""The full rewrite of a PDF whose cross-reference state is not sound, streamed (issue 16;
LM-5, PG-2025-CARRIERS).

When the last ``startxref`` points at no cross-reference section, or the chain of ``/Prev``
links is broken, an incremental update chained onto it would be lost by strict readers, so
the file is rewritten in full. The rewrite recovers the objects the way PDF readers repair
files (ISO 32000-1 §7.5.4 leaves recovery to the reader; every major reader does this): it
scans the file once, front to back, for ``N G obj`` definitions and ``trailer``
dictionaries, the later definition of an object winning (incremental updates append).
Stream data is never read into memory: a stream's extent comes from its direct ``/Length``
when ``endstream`` follows it, else from the ``endstream`` keyword, and the data is copied
in bounded pieces to the output (:func:`._riff.copy_range`). Objects inside object streams
(``/Type /ObjStm``, structural dictionaries only) are decoded one object stream at a time
and written as plain objects; old cross-reference streams are dropped.

The output is ``%PDF-x.y``, every recovered object (plain objects byte for byte; stream
dictionaries re-serialised with the true ``/Length``), the Info dictionary with ``/AIGC``
set (its other entries kept), one classic cross-reference table and a trailer with
``/Root``, ``/Info`` and ``/ID``. Memory: the object table (a few numbers per object), one
1 MiB read buffer, and the largest dictionary or object stream we parse — independent of
the size of the file's content streams, images and fonts.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import Any, BinaryIO

import attrs

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.implicit._riff import copy_range, read_at

__all__ = ["rewrite"]

_FMT = "pdf"
_WS = b"\x00\t\n\x0c\r "
_DELIM = b"()<>[]{}/%"
_CHUNK = 1 << 20
#: the largest dictionary (before ``stream``/``endobj``) and non-stream object we accept
_MAX_DICT = 4 << 20
_MAX_PLAIN = 16 << 20
#: the largest object stream (encoded and decoded) we decode to recover its objects
_MAX_OBJSTM = 64 << 20
#: ISO 32000-1 Annex C: at most 8,388,607 indirect objects; generations up to 65,535
_MAX_NUM = 8_388_607
_MAX_TRIES = 8


class _Strict:
    """The reader pypdf's object parser is given while we recover: strict (a malformed
    token raises instead of returning partial data) and resolving nothing."""

    strict = True

    def get_object(self, ref: Any) -> None:
        return None


_STRICT = _Strict()


class _Source:
    """Random access to the file through one 1 MiB buffer. ``find`` remembers its last
    answer per keyword, so the forward scan searches each stretch of the file once; parse
    attempts that fail are charged to a budget of a few times the file, so a hostile file
    cannot make the recovery super-linear."""

    def __init__(self, f: BinaryIO, total: int) -> None:
        self.f = f
        self.total = total
        self.start = 0
        self.buf = b""
        self.budget = 4 * total + (4 << 20)
        self._found: dict[bytes, tuple[int, int, int]] = {}

    def _load(self, pos: int) -> None:
        self.start = pos
        self.buf = read_at(self.f, pos, min(_CHUNK, self.total - pos), _FMT)

    def slice(self, a: int, b: int) -> bytes:
        a, b = max(a, 0), min(b, self.total)
        if b <= a:
            return b""
        if not (self.start <= a and b <= self.start + len(self.buf)):
            if b - a > _CHUNK:
                return read_at(self.f, a, b - a, _FMT)
            self._load(a)
        return self.buf[a - self.start:b - self.start]

    def charge(self, n: int) -> None:
        self.budget -= n
        if self.budget < 0:
            raise MalformedMedia("PDF is too damaged to recover its objects (the scan for "
                                 "object boundaries exceeded its budget); re-export it",
                                 format=_FMT, offset=None)

    def find(self, needle: bytes, pos: int, limit: int | None = None) -> int:
        """Absolute offset of ``needle`` at or after ``pos`` (before ``limit``), or -1.
        Only ``[pos, limit)`` is searched; the answer is remembered, so a later query
        that the earlier search already covers costs nothing."""
        end = self.total if limit is None else min(self.total, limit)
        since, hit, upto = self._found.get(needle, (-1, -1, -1))
        if 0 <= since <= pos and (hit >= pos or (hit < 0 and upto >= end)):
            return hit if 0 <= hit < end else -1
        hit = self._search(needle, pos, end)
        self._found[needle] = (pos, hit, end)
        return hit

    def _search(self, needle: bytes, pos: int, end: int) -> int:
        while pos < end:
            if not self.start <= pos < self.start + len(self.buf):
                self._load(pos)
            i = self.buf.find(needle, pos - self.start, end - self.start)
            if i >= 0:
                return self.start + i
            buf_end = self.start + len(self.buf)
            if buf_end >= end:
                return -1
            pos = max(pos + 1, buf_end - len(needle) + 1)
            self._load(pos)
        return -1


@attrs.define
class _Obj:
    """One recovered object definition: where it is and what kind."""

    num: int
    gen: int
    start: int  #: offset of ``N G obj``
    end: int  #: offset just past ``endobj`` (or ``endstream`` when endobj is missing)
    kind: str  #: "plain", "stream", "objstm" or "xref"
    value: int = 0  #: offset of the value (the dictionary's ``<<``)
    cut: int = 0  #: offset of the keyword ending the dictionary (``stream``/``endobj``)
    data: int = 0  #: stream data offset
    length: int = 0  #: stream data length
    catalog: bool = False
    members: tuple[int, ...] = ()  #: object numbers inside an object stream


def _parse_dict(text: bytes, src: _Source | None = None, *, exact: bool = True) -> Any:
    """``text`` as one PDF dictionary (``exact``: nothing but whitespace after it), or
    None. With ``src`` a failed attempt is charged to its budget (its bytes plus 1 KiB for
    the parser's fixed cost); a success moves the scan past the object, so needs none."""
    found = _try_dict(text, exact)
    if found is None and src is not None:
        src.charge(len(text) + 1024)
    return found


def _try_dict(text: bytes, exact: bool) -> Any:
    from pypdf.errors import PyPdfError
    from pypdf.generic import DictionaryObject, StreamObject, read_object

    buf = io.BytesIO(text)
    try:
        obj = read_object(buf, _STRICT)  # type: ignore[arg-type]
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            RecursionError, struct.error, UnicodeError):
        return None
    if not isinstance(obj, DictionaryObject) or isinstance(obj, StreamObject):
        return None
    if exact and text[buf.tell():].strip(_WS):
        return None
    return obj


def _header_before(src: _Source, at: int) -> tuple[int, int, int] | None:
    """``(num, gen, offset)`` of ``num gen obj`` whose ``obj`` keyword is at ``at``."""
    after = src.slice(at + 3, at + 4)
    if after and after not in _WS and after not in _DELIM:
        return None
    lo = max(0, at - 32)
    back = src.slice(lo, at)
    q = len(back)

    def skip(pred: Callable[[int], bool], most: int) -> int:
        nonlocal q
        p = q
        while q > 0 and p - q < most and pred(back[q - 1]):
            q -= 1
        return p - q

    if not skip(lambda c: c in _WS, 32):
        return None
    gen_end = q
    if not skip(lambda c: 48 <= c <= 57, 5):
        return None
    gen = int(back[q:gen_end])
    if not skip(lambda c: c in _WS, 32):
        return None
    num_end = q
    if not skip(lambda c: 48 <= c <= 57, 7):
        return None
    if q > 0 and back[q - 1] not in _WS and back[q - 1] not in _DELIM:
        return None
    if q == 0 and lo > 0:
        return None
    num = int(back[q:num_end])
    if not 0 < num <= _MAX_NUM or gen > 65535:
        return None
    return num, gen, lo + q


def _skip_ws(src: _Source, pos: int) -> int:
    while pos < src.total:
        piece = src.slice(pos, pos + 256)
        rest = piece.lstrip(_WS)
        pos += len(piece) - len(rest)
        if rest:
            return pos
    return pos


def _dict_at(src: _Source, v: int) -> tuple[Any, int, bytes] | None:
    """The dictionary at ``v`` and the keyword that follows it (``stream`` or ``endobj``):
    each occurrence of either is tried as the dictionary's end in turn (a string inside
    the dictionary may hold the word)."""
    limit = v + _MAX_DICT
    pos = v
    for _ in range(_MAX_TRIES):
        s = src.find(b"stream", pos, limit)
        while s >= 3 and src.slice(s - 3, s) == b"end":
            s = src.find(b"stream", s + 1, limit)
        # only an endobj before that stream keyword can end the dictionary first: never
        # search on through the stream's data (a 16 MB content stream cost 2.2 ms here)
        e = src.find(b"endobj", pos, s if s >= 0 else limit)
        hits = [(x, kw) for x, kw in ((s, b"stream"), (e, b"endobj")) if x >= 0]
        if not hits:
            return None
        cut, kw = min(hits)
        d = _parse_dict(src.slice(v, cut), src)
        if d is not None:
            return d, cut, kw
        pos = cut + 1
    return None


def _name(d: Any, key: str) -> str:
    value = d.get(key)
    return str(value) if value is not None else ""


def _object_at(src: _Source, num: int, gen: int, start: int, vpos: int) -> _Obj | None:
    """The object whose ``num gen obj`` header starts at ``start`` (value after ``vpos``),
    or None when it cannot be delimited (it is then left out, as readers do)."""
    from pypdf.generic import IndirectObject, NumberObject

    v = _skip_ws(src, vpos)
    if src.slice(v, v + 2) != b"<<":
        e = src.find(b"endobj", v, v + _MAX_PLAIN)
        return None if e < 0 else _Obj(num, gen, start, e + 6, "plain", v, e)
    found = _dict_at(src, v)
    if found is None:
        return None
    d, cut, kw = found
    kind = _name(d, "/Type")
    if kw == b"endobj":
        return _Obj(num, gen, start, cut + 6, "plain", v, cut, catalog=kind == "/Catalog")
    p = cut + 6
    while src.slice(p, p + 1) == b" ":
        p += 1
    eol = src.slice(p, p + 2)
    p += 2 if eol == b"\r\n" else 1 if eol[:1] in (b"\n", b"\r") else 0
    length = d.get("/Length")
    size = -1
    if isinstance(length, NumberObject) and not isinstance(length, IndirectObject) \
            and 0 <= int(length) <= src.total - p:
        after = src.slice(p + int(length), p + int(length) + 64).lstrip(_WS)
        if after.startswith(b"endstream"):
            size = int(length)
    if size < 0:  # indirect or wrong /Length: the data ends before the endstream keyword
        e = src.find(b"endstream", p)
        if e < 0:
            return None
        size = e - p
        tail = src.slice(e - 2, e)
        size -= 2 if tail == b"\r\n" else 1 if tail[-1:] in (b"\n", b"\r") else 0
        size = max(size, 0)
    es = src.find(b"endstream", p + size, p + size + 64)
    end = es + 9 if es >= 0 else p + size
    t = _skip_ws(src, end)
    if src.slice(t, t + 6) == b"endobj":
        end = t + 6
    kind_name = {"/ObjStm": "objstm", "/XRef": "xref"}.get(kind, "stream")
    obj = _Obj(num, gen, start, end, kind_name, v, cut, p, size)
    if kind_name == "objstm":
        obj.members = tuple(n for n, _ in _objstm_index(src, obj, d)[1])
    return obj


def _objstm_index(src: _Source, obj: _Obj, d: Any) -> tuple[bytes, list[tuple[int, int]]]:
    """The decoded object stream and its ``(object number, offset)`` pairs (absolute in
    the decoded data); empty when it cannot be decoded within the limits."""
    from pypdf.errors import PyPdfError
    from pypdf.generic import StreamObject

    if obj.length > _MAX_OBJSTM:
        return b"", []
    try:
        data = dict(d)
        data["__streamdata__"] = read_at(src.f, obj.data, obj.length, _FMT)
        decoded = StreamObject.initialize_from_dictionary(data).get_data()
        if not isinstance(decoded, bytes) or len(decoded) > _MAX_OBJSTM:
            return b"", []
        first, n = int(d["/First"]), int(d["/N"])
        tokens = decoded[:first].split()
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            RecursionError, struct.error, UnicodeError, NotImplementedError):
        return b"", []
    pairs: list[tuple[int, int]] = []
    for i in range(0, min(len(tokens), 2 * n) - 1, 2):
        if not (tokens[i].isdigit() and tokens[i + 1].isdigit()):
            break
        num = int(tokens[i])
        if 0 < num <= _MAX_NUM:
            pairs.append((num, first + int(tokens[i + 1])))
    return decoded, pairs


def _member(decoded: bytes, offset: int) -> Any:
    from pypdf.errors import PyPdfError
    from pypdf.generic import StreamObject, read_object

    buf = io.BytesIO(decoded)
    buf.seek(offset)
    try:
        obj = read_object(buf, _STRICT)  # type: ignore[arg-type]
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            RecursionError, struct.error, UnicodeError):
        return None
    return None if isinstance(obj, StreamObject) else obj


def _serialise(obj: Any) -> bytes:
    buf = io.BytesIO()
    obj.write_to_stream(buf)
    return buf.getvalue()


def _scan(src: _Source) -> tuple[list[_Obj], list[tuple[int, Any]]]:
    """Every object definition and every trailer dictionary, in file order (one pass;
    the data of a delimited stream is skipped, not searched)."""
    objects: list[_Obj] = []
    trailers: list[tuple[int, Any]] = []
    pos = 0
    while pos < src.total:
        at = src.find(b"obj", pos)
        # a trailer sits between objects: search only the gap before the next candidate
        t = src.find(b"trailer", pos, at if at >= 0 else None)
        if t >= 0:
            d = _trailer_at(src, t)
            if d is not None:
                trailers.append((t, d))
            pos = t + 7
            continue
        if at < 0:
            break
        head = _header_before(src, at)
        obj = None if head is None else _object_at(src, head[0], head[1], head[2], at + 3)
        if obj is None:
            pos = at + 3
            continue
        objects.append(obj)
        if obj.kind == "xref":
            d = _parse_dict(src.slice(obj.value, obj.cut))
            if d is not None:
                trailers.append((obj.start, d))
        pos = obj.end
    return objects, trailers


def _trailer_at(src: _Source, at: int) -> Any:
    """The dictionary after the ``trailer`` keyword at ``at``, or None."""
    v = _skip_ws(src, at + 7)
    if src.slice(v, v + 2) != b"<<":
        return None
    end = src.find(b"startxref", v, v + _MAX_DICT)
    return _parse_dict(src.slice(v, end if end >= 0 else v + (64 << 10)), src, exact=False)


def _version(src: _Source) -> bytes:
    head = src.slice(0, 1024)
    at = head.find(b"%PDF-")
    ver = head[at + 5:at + 8] if at >= 0 else b""
    return ver if len(ver) == 3 and ver[:1].isdigit() and ver[1:2] == b"." \
        and ver[2:].isdigit() else b"1.7"


def rewrite(f: BinaryIO, total: int, dst: BinaryIO, aigc_literal: bytes) -> None:
    """Write the recovered document with the Info entry ``/AIGC aigc_literal`` to ``dst``
    (see the module docstring). Encrypted files are refused; a file without a document
    catalog is malformed."""
    from pypdf.generic import DictionaryObject, IndirectObject

    src = _Source(f, total)
    objects, trailers = _scan(src)
    winner: dict[int, tuple[int, int, int]] = {}  # num -> (offset, object index, member)
    for i, obj in enumerate(objects):
        if obj.kind in ("plain", "stream"):
            winner[obj.num] = (obj.start, i, -1)
        elif obj.kind == "objstm":
            for m, num in enumerate(obj.members):
                winner[num] = (obj.start, i, m)
    merged: dict[str, Any] = {}
    for _, t in sorted(trailers, key=lambda p: p[0]):
        merged.update({str(k): t.raw_get(k) for k in t})
    if "/Encrypt" in merged:
        raise UnsupportedMedia("encrypted PDFs cannot take an implicit label without the key",
                               format=_FMT)
    root = merged.get("/Root")
    if not (isinstance(root, IndirectObject) and root.idnum in winner):
        catalogs = [o for i, o in enumerate(objects)
                    if o.catalog and winner.get(o.num, (0, -1, -1))[1] == i]
        if not catalogs:
            raise MalformedMedia("PDF has no document catalog (/Root) that can be recovered;"
                                 " re-export it from the application that made it",
                                 format=_FMT, offset=None)
        root = IndirectObject(catalogs[-1].num, catalogs[-1].gen, None)
    info_ref = merged.get("/Info")
    info_entries: list[bytes] = []
    info_num = max(winner, default=0) + 1
    info_gen = 0
    if isinstance(info_ref, IndirectObject) and info_ref.idnum in winner:
        _, i, m = winner[info_ref.idnum]
        old = _load(src, objects[i], m)
        if isinstance(old, DictionaryObject):
            info_num, info_gen = info_ref.idnum, objects[i].gen if m < 0 else 0
            info_entries = [_serialise(k) + b" " + _serialise(old.raw_get(k)) for k in old
                            if k != "/AIGC"]
    base = dst.tell()
    offsets: dict[int, tuple[int, int]] = {}
    dst.write(b"%PDF-" + _version(src) + b"\n%\xe2\xe3\xcf\xd3\n")
    for i, obj in enumerate(objects):
        if obj.kind == "objstm":
            _write_members(src, dst, base, obj, i, winner, info_num, offsets)
            continue
        if obj.kind == "xref" or obj.num == info_num or winner.get(obj.num, (0, -1, -1))[1] != i:
            continue
        offsets[obj.num] = (dst.tell() - base, obj.gen)
        if obj.kind == "plain":
            copy_range(f, dst, obj.start, obj.cut + 6 - obj.start, _FMT)
            dst.write(b"\n")
            continue
        d = _parse_dict(src.slice(obj.value, obj.cut))
        if d is None:  # pragma: no cover - it parsed during the scan
            offsets.pop(obj.num)
            continue
        from pypdf.generic import NameObject, NumberObject

        d[NameObject("/Length")] = NumberObject(obj.length)
        dst.write(b"%d %d obj\n" % (obj.num, obj.gen) + _serialise(d) + b"\nstream\n")
        copy_range(f, dst, obj.data, obj.length, _FMT)
        dst.write(b"\nendstream\nendobj\n")
    offsets[info_num] = (dst.tell() - base, info_gen)
    dst.write(b"%d %d obj\n<< " % (info_num, info_gen)
              + b" ".join([*info_entries, b"/AIGC " + aigc_literal]) + b" >>\nendobj\n")
    xref = dst.tell() - base
    rows = [b"xref\n0 1\n0000000000 65535 f \n"]
    nums = sorted(offsets)
    run: list[int] = []
    for num in nums:
        if run and num != run[-1] + 1:
            rows.append(_subsection(run, offsets))
            run = []
        run.append(num)
    if run:
        rows.append(_subsection(run, offsets))
    ident = merged.get("/ID")
    id_part = b" /ID " + _serialise(ident) if ident is not None else b""
    rows.append(b"trailer\n<< /Size %d /Root %d %d R /Info %d %d R%s >>\nstartxref\n%d\n"
                b"%%%%EOF\n" % (nums[-1] + 1, root.idnum, root.generation, info_num,
                                info_gen, id_part, xref))
    dst.write(b"".join(rows))


def _subsection(run: list[int], offsets: dict[int, tuple[int, int]]) -> bytes:
    return b"%d %d\n" % (run[0], len(run)) + b"".join(
        b"%010d %05d n \n" % offsets[n] for n in run)


def _load(src: _Source, obj: _Obj, member: int) -> Any:
    """The parsed value of a plain dictionary object or of an object-stream member."""
    if member < 0:
        return _parse_dict(src.slice(obj.value, obj.cut)) if obj.cut > obj.value else None
    d = _parse_dict(src.slice(obj.value, obj.cut))
    if d is None:
        return None
    decoded, pairs = _objstm_index(src, obj, d)
    return _member(decoded, pairs[member][1]) if member < len(pairs) else None


def _write_members(src: _Source, dst: BinaryIO, base: int, obj: _Obj, index: int,
                   winner: dict[int, tuple[int, int, int]], info_num: int,
                   offsets: dict[int, tuple[int, int]]) -> None:
    """The winning members of the object stream ``obj`` as plain objects."""
    wanted = [m for m, num in enumerate(obj.members)
              if num != info_num and winner.get(num, (0, -1, -1))[1:] == (index, m)]
    if not wanted:
        return
    d = _parse_dict(src.slice(obj.value, obj.cut))
    decoded, pairs = _objstm_index(src, obj, d) if d is not None else (b"", [])
    for m in wanted:
        if m >= len(pairs):
            continue
        value = _member(decoded, pairs[m][1])
        if value is None:
            continue
        num = pairs[m][0]
        offsets[num] = (dst.tell() - base, 0)
        dst.write(b"%d 0 obj\n" % num + _serialise(value) + b"\nendobj\n")
