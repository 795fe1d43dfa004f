"""PDF: the implicit label as the ``/AIGC`` entry of the document information dictionary.

Carrier: TC260 document practice guide (PG-2025-CARRIERS; LM-5): document information
dictionary key ``AIGC`` whose value is the GB 45438 Annex E JSON. Written as an
*incremental update* (ISO 32000-1 §7.5.6): the original bytes are kept unchanged and a new
Info dictionary (the old entries plus ``/AIGC``), a cross-reference section of the same kind
as the file's last one (table or stream) and a trailer with ``/Prev`` are appended, so
earlier signatures over the original byte range still cover it. Encrypted files are refused.
When the cross-reference state is not sound — the last ``startxref`` points at no xref,
pypdf reports repairing the chain (a stale ``/Prev``), or pypdf would have to rebuild the
table from the whole file — an update chained onto it would be lost by strict readers, so
the file is rewritten in full, streamed (:mod:`._pdf_repair`): memory does not grow with
the file in either path.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import struct
import warnings
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

from genai_compliance.errors import MalformedMedia, MediaError, UnsupportedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._riff import copy_range, file_size, read_at

__all__ = ["HANDLER", "PdfHandler"]

_FMT = "pdf"
_T = TypeVar("_T")
_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF", re.S)


def _literal(text: str) -> bytes:
    esc = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + esc.encode("latin-1") + b")"


class _Repairs(logging.Handler):
    """Collects pypdf's warnings about the cross-reference state it had to repair."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if any(w in text.lower() for w in ("xref", "startxref", "trailer", "rebuild")):
            self.seen.append(text)


class _NeedsRepair(BaseException):
    """pypdf asked for the whole file (to rebuild a broken cross-reference table or build
    its recovery cache). A BaseException, so pypdf's broad ``except Exception`` around its
    rebuild cannot swallow it; :meth:`PdfHandler.write` turns it into the streamed
    rewrite."""


class _Bounded:
    """The source as pypdf sees it while labelling: reads of a given size pass through, a
    read of "all the rest" raises :class:`_NeedsRepair` instead of loading the file."""

    mode = "rb"

    def __init__(self, f: BinaryIO) -> None:
        self._f = f

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            raise _NeedsRepair
        return self._f.read(n)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()


def _reader(src: Any, repairs: list[str] | None = None) -> Any:
    """pypdf's reader over the stream itself (objects are parsed on demand, content
    streams never read), so labelling does not hold the file in memory. ``repairs``
    collects what pypdf says it repaired in the cross-reference chain (a stale /Prev …)."""
    import pypdf
    from pypdf.errors import PyPdfError

    handler = _Repairs()
    log = logging.getLogger("pypdf")
    log.addHandler(handler)
    try:
        src.seek(0)
        reader = pypdf.PdfReader(src, strict=False)
        _ = reader.trailer["/Root"]
        _ = reader.trailer.get("/Info")
    except (PyPdfError, KeyError, ValueError, TypeError, AttributeError, IndexError,
            struct.error, RecursionError) as exc:
        raise MalformedMedia(f"PDF cannot be parsed: {exc}", format=_FMT, offset=None) from None
    finally:
        log.removeHandler(handler)
    if repairs is not None:
        repairs.extend(handler.seen)
    if reader.is_encrypted:
        raise UnsupportedMedia("encrypted PDFs cannot take an implicit label without the key",
                               format=_FMT)
    return reader


def _pdf_errors(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Map pypdf's own errors (raised lazily while objects resolve) to MalformedMedia."""

    @functools.wraps(fn)
    def wrapper(*args: Any) -> _T:
        from pypdf.errors import PyPdfError

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return fn(*args)
            except PyPdfError as exc:
                raise MalformedMedia(f"PDF cannot be parsed: {exc}", format=_FMT,
                                     offset=None) from None
            except (AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:
                # a damaged object graph (e.g. /Info resolving to nothing) surfaces as these
                # inside pypdf; the file is malformed, not our code
                if isinstance(exc, MediaError):
                    raise
                raise MalformedMedia(f"PDF object structure is damaged ({type(exc).__name__}: "
                                     f"{exc}); re-export the PDF", format=_FMT,
                                     offset=None) from None

    return wrapper


def _serialise(obj: Any) -> bytes:
    buf = io.BytesIO()
    obj.write_to_stream(buf)
    return buf.getvalue()


def _xref_at(src: BinaryIO, offset: int, total: int) -> bool:
    """Whether ``offset`` (the last startxref) really points at a cross-reference table
    (``xref``) or an XRef stream object (``N G obj`` … ``/XRef``)."""
    if offset < 0 or offset >= total:
        return False
    head = read_at(src, offset, min(256, total - offset), _FMT)
    if head.startswith(b"xref"):
        return True
    parts = head.split(None, 3)
    return (len(parts) >= 3 and parts[0].isdigit() and parts[1].isdigit()
            and parts[2].startswith(b"obj") and b"/XRef" in head)


class PdfHandler:
    """PDF Info-dictionary ``/AIGC`` reader/writer via incremental update (LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """``%PDF-`` within the first 1024 bytes (as readers accept)."""
        return b"%PDF-" in head[:1024]

    @_pdf_errors
    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy unchanged and append an incremental update with the labelled Info dict; a
        file whose cross-reference state is not sound is rewritten in full, streamed."""
        total = file_size(src)
        try:
            update = self._update(src, total, aigc_json)
        except _NeedsRepair:
            update = None
        if update is None:
            # the cross-reference state needs repair: an incremental update whose /Prev
            # points at a stale startxref would be lost, so rewrite the whole file from the
            # objects it holds (issue 16), streamed
            from genai_compliance.labelling.implicit._pdf_repair import rewrite

            rewrite(src, total, dst, _literal(aigc_json))
            return
        copy_range(src, dst, 0, total, _FMT)
        dst.write(update)

    @staticmethod
    def _update(src: BinaryIO, total: int, aigc_json: str) -> bytes | None:
        """The incremental update appended to a sound file (computed before anything is
        written); None when the cross-reference state is not sound. Every read through
        pypdf is bounded (a whole-file read raises :class:`_NeedsRepair`)."""
        from pypdf.generic import IndirectObject

        end = read_at(src, max(0, total - 2048), min(2048, total), _FMT)
        tail = list(_STARTXREF.finditer(end))
        prev = int(tail[-1].group(1)) if tail else -1
        if not tail or not _xref_at(src, prev, total):
            return None
        repairs: list[str] = []
        reader = _reader(_Bounded(src), repairs)
        if repairs:
            return None
        trailer = reader.trailer
        root = trailer.raw_get("/Root")
        if not isinstance(root, IndirectObject):
            raise MalformedMedia("PDF trailer /Root is not a reference", format=_FMT,
                                 offset=prev)
        size = int(trailer["/Size"])
        entries: list[bytes] = []
        info = trailer.get("/Info")
        if info is not None:
            info = info.get_object()
            for key in info:
                if key != "/AIGC":
                    entries.append(_serialise(key) + b" " + _serialise(info.raw_get(key)))
        entries.append(b"/AIGC " + _literal(aigc_json))
        root_ref = b"%d %d R" % (root.idnum, root.generation)
        ident = trailer.raw_get("/ID") if "/ID" in trailer else None
        id_part = b" /ID " + _serialise(ident) if ident is not None else b""
        classic = read_at(src, prev, 4, _FMT) == b"xref"
        base = total
        body = bytearray()
        if not end.endswith(b"\n"):
            body += b"\n"
        info_num = size
        info_off = base + len(body)
        body += b"%d 0 obj\n<< " % info_num + b" ".join(entries) + b" >>\nendobj\n"
        xref_off = base + len(body)
        if classic:
            body += (b"xref\n%d 1\n%010d 00000 n \ntrailer\n<< /Size %d /Root %s /Info %d"
                     b" 0 R /Prev %d%s >>\n" % (info_num, info_off, size + 1, root_ref,
                                                info_num, prev, id_part))
        else:
            xnum = size + 1
            rows = (struct.pack(">BIH", 1, info_off, 0)
                    + struct.pack(">BIH", 1, xref_off, 0))
            body += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Index [%d 2] /Root %s"
                     b" /Info %d 0 R /Prev %d%s /Length %d >>\nstream\n" % (
                         xnum, size + 2, info_num, root_ref, info_num, prev, id_part,
                         len(rows)))
            body += rows + b"\nendstream\nendobj\n"
        body += b"startxref\n%d\n%%%%EOF\n" % xref_off
        return bytes(body)

    @_pdf_errors
    def read(self, src: BinaryIO) -> list[RawLabel]:
        """The ``/AIGC`` entry of the current Info dictionary, if any."""
        reader = _reader(src)
        info = reader.trailer.get("/Info")
        if info is None:
            return []
        value = info.get_object().get("/AIGC")
        if value is None:
            return []
        return [RawLabel("pdf:Info/AIGC", str(value), None)]


HANDLER = PdfHandler()
