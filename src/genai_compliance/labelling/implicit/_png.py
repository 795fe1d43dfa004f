"""PNG: the implicit label in an XMP ``iTXt`` chunk (keyword ``XML:com.adobe.xmp``).

Carrier: TC260 image practice guide (PG-2025-CARRIERS; LM-5): XMP with ``TC260:AIGC``. The
chunk is written before the first ``IDAT`` (where the old XMP chunk was, if any, merging
its other properties); every other chunk is copied byte for byte, CRCs are computed anew
only for the chunk we write. Pixel data is never decoded, nor read into memory: chunks are
located by their headers and copied in bounded pieces.

Reading also finds the forms generators and the public verifier AigcTotal use: ``tEXt``,
``zTXt`` and ``iTXt`` chunks with keyword ``AIGC`` (bare Annex E JSON or ``{"AIGC":…}``)
and an EXIF ``UserComment`` in ``eXIf``; those are reported as not the preferred carrier
(a note, LM-8). Writing removes ``AIGC`` text chunks so the file keeps exactly one label.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from typing import BinaryIO

from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._exif import blank_labels, exif_labels
from genai_compliance.labelling.implicit._riff import (
    copy_range,
    copy_spliced,
    file_size,
    read_at,
)
from genai_compliance.labelling.implicit._xmp import merge_xmp, read_xmp_labels

__all__ = ["HANDLER", "PngHandler"]

_FMT = "png"
SIG = b"\x89PNG\r\n\x1a\n"
_KEY = b"XML:com.adobe.xmp"
_AIGC = b"AIGC"
_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")
_MAX_TEXT = 16 << 20
_MAX_CHUNKS = 10_000_000
_HEADER = struct.Struct(">I4s")


def _header_reader(src: BinaryIO) -> Callable[[int], bytes]:
    """``read(offset) -> 8 bytes``: one ``pread`` on a file (no seek, no 8 KiB buffer
    refill per chunk; a file being written, as when label_file reads its output back, is
    flushed first), else seek and read."""
    if type(src) in (io.BufferedReader, io.BufferedRandom):
        try:
            fd = src.fileno()
            if type(src) is io.BufferedRandom:
                src.flush()
        except (OSError, io.UnsupportedOperation):
            pass
        else:
            return lambda pos: os.pread(fd, 8, pos)

    def read(pos: int) -> bytes:
        src.seek(pos)
        return src.read(8)

    return read


def chunks(src: BinaryIO) -> list[tuple[bytes, int, int]]:
    """[(type, offset of chunk start, payload length)] up to and including IEND, reading
    only the 8-byte chunk headers (pixel data is never read into memory). A file that ends
    exactly after a chunk without IEND (skeletal, as some tools write) is accepted."""
    total = file_size(src)
    if read_at(src, 0, min(8, total), _FMT) != SIG:
        raise MalformedMedia("not a PNG signature", format=_FMT, offset=0)
    out: list[tuple[bytes, int, int]] = []
    head = _header_reader(src)
    pos = 8
    while True:
        if pos == total and out:
            return out
        if pos + 12 > total:
            raise MalformedMedia("PNG chunk runs past the end of the file", format=_FMT,
                                 offset=pos)
        length, ctype = _HEADER.unpack(head(pos))  # 8 bytes are there: checked above
        if length > 0x7FFFFFFF or pos + 12 + length > total:
            raise MalformedMedia("PNG chunk length runs past the end of the file",
                                 format=_FMT, offset=pos)
        out.append((ctype, pos, length))
        if len(out) > _MAX_CHUNKS:
            raise MalformedMedia("more than 10 million PNG chunks", format=_FMT, offset=pos)
        pos += 12 + length
        if ctype == b"IEND":
            return out


def _payload(src: BinaryIO, ctype: bytes, off: int, length: int) -> bytes | None:
    """A metadata chunk's payload when it can hold a label (XMP, AIGC text, eXIf), else
    None; the keyword is read first so unrelated text chunks are never loaded whole."""
    if ctype == b"eXIf" or ctype in _TEXT_TYPES:
        head = read_at(src, off + 8, min(length, 80), _FMT)
        wanted = ctype == b"eXIf" or head.startswith((_AIGC + b"\x00", _KEY + b"\x00"))
        if not wanted:
            return None
        if length > _MAX_TEXT:
            raise MalformedMedia(f"PNG {ctype.decode()} chunk larger than 16 MiB",
                                 format=_FMT, offset=off)
        return read_at(src, off + 8, length, _FMT)
    return None


def _itxt_text(payload: bytes, offset: int) -> bytes | None:
    """The text of an XMP iTXt chunk, or None when the chunk is another iTXt."""
    if not payload.startswith(_KEY + b"\x00"):
        return None
    rest = payload[len(_KEY) + 1:]
    if len(rest) < 2:
        raise MalformedMedia("truncated iTXt chunk", format=_FMT, offset=offset)
    comp, _method = rest[0], rest[1]
    rest = rest[2:]
    parts = rest.split(b"\x00", 2)
    if len(parts) != 3:
        raise MalformedMedia("iTXt chunk without language/keyword terminators", format=_FMT,
                             offset=offset)
    text = parts[2]
    if comp:
        text = _inflate(text, offset)
    return text


def _inflate(blob: bytes, offset: int) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(blob, _MAX_TEXT)
    except zlib.error:
        raise MalformedMedia("compressed PNG text does not inflate", format=_FMT,
                             offset=offset) from None
    if d.unconsumed_tail:
        raise MalformedMedia("compressed PNG text inflates past 16 MiB", format=_FMT,
                             offset=offset)
    return out


def aigc_text(ctype: bytes, payload: bytes, offset: int) -> bytes | None:
    """The text of a ``tEXt``/``zTXt``/``iTXt`` chunk with keyword ``AIGC``, else None."""
    if not payload.startswith(_AIGC + b"\x00"):
        return None
    rest = payload[len(_AIGC) + 1:]
    if ctype == b"tEXt":
        return rest
    if ctype == b"zTXt":
        return _inflate(rest[1:], offset) if rest else b""
    if len(rest) < 2:
        return b""
    comp = rest[0]
    parts = rest[2:].split(b"\x00", 2)
    if len(parts) != 3:
        return b""
    return _inflate(parts[2], offset) if comp else parts[2]


def make_chunk(ctype: bytes, payload: bytes) -> bytes:
    """A PNG chunk with length and CRC."""
    return (struct.pack(">I", len(payload)) + ctype + payload
            + struct.pack(">I", zlib.crc32(ctype + payload) & 0xFFFFFFFF))


class PngHandler:
    """PNG XMP iTXt reader/writer (LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """The 8-byte PNG signature."""
        return head[:8] == SIG

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> tuple[int, int] | None:
        """Copy with one XMP iTXt chunk carrying ``TC260:AIGC`` (chunks streamed).

        Returns, when the input had no chunk that can carry a label (no XMP or AIGC text
        chunk, no eXIf) — every byte before the new chunk copied unchanged — the
        ``(start, end)`` of the chunk written (offsets from where ``dst`` was): the only
        place the output can carry a label, which the read-back then checks
        (:meth:`read_block`) instead of walking every chunk again."""
        table = chunks(src)
        total = file_size(src)
        old: bytes | None = None
        insert_at: int | None = None
        drop: set[int] = set()
        patched: dict[int, bytes] = {}
        carriers = False
        for ctype, off, length in table:
            payload = _payload(src, ctype, off, length)
            carriers = carriers or payload is not None
            if payload is not None and ctype == b"eXIf":
                blanked = blank_labels(payload)
                if blanked != payload:
                    patched[off] = make_chunk(b"eXIf", blanked)
            if payload is not None and ctype in _TEXT_TYPES:
                if aigc_text(ctype, payload, off) is not None:
                    drop.add(off)
                    continue
                if ctype == b"iTXt":
                    text = _itxt_text(payload, off)
                    if text is not None:
                        if old is None:
                            old = text
                            insert_at = off
                        drop.add(off)
            if ctype in (b"IDAT", b"IEND") and insert_at is None:
                insert_at = off
        packet = merge_xmp(old, aigc_json, _FMT)
        new = make_chunk(b"iTXt", _KEY + b"\x00\x00\x00\x00\x00" + packet)
        dst.write(SIG)
        copy_spliced(src, dst, ((off, 12 + length) for _ctype, off, length in table), _FMT,
                     insert_at=insert_at, insert=new, drop=drop, patched=patched)
        if insert_at is None:  # a skeletal file without IDAT/IEND: the chunk goes last
            dst.write(new)
        end = table[-1][1] + 12 + table[-1][2]
        copy_range(src, dst, end, total - end, _FMT)
        if carriers:
            return None
        start = end if insert_at is None else insert_at
        return start, start + len(new)

    def read_block(self, src: BinaryIO, start: int, end: int) -> list[RawLabel]:
        """The labels of the one chunk at ``[start, end)`` (what :meth:`write` returned),
        parsed as :meth:`read` parses an XMP iTXt chunk; anything else there reads as no
        label."""
        if not 8 <= start < end <= file_size(src) or end - start > _MAX_TEXT + 12:
            return []
        raw = read_at(src, start, end - start, _FMT)
        length, ctype = _HEADER.unpack(raw[:8])
        if ctype != b"iTXt" or length + 12 != len(raw):
            return []
        xmp = _itxt_text(raw[8:8 + length], start)
        return [] if xmp is None else read_xmp_labels(xmp, _FMT, "png:iTXt:XMP", start)

    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every label: XMP iTXt (preferred), ``AIGC`` text chunks, EXIF UserComment."""
        out: list[RawLabel] = []
        for ctype, off, length in chunks(src):
            payload = _payload(src, ctype, off, length)
            if payload is None:
                continue
            if ctype in _TEXT_TYPES:
                text = aigc_text(ctype, payload, off)
                if text is not None:
                    out.append(RawLabel(f"png:{ctype.decode()}:AIGC",
                                        text.decode("utf-8", "replace").strip(), off,
                                        preferred=False, note=f"PNG {ctype.decode()} chunk "
                                        "with keyword AIGC, not the XMP carrier the TC260 "
                                        "image guide names"))
                    continue
            if ctype == b"iTXt":
                xmp = _itxt_text(payload, off)
                if xmp is not None:
                    out += read_xmp_labels(xmp, _FMT, "png:iTXt:XMP", off)
            elif ctype == b"eXIf":
                out += exif_labels(payload, "png:eXIf:UserComment", off + 8)
        return out


HANDLER = PngHandler()
