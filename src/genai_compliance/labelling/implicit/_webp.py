"""WebP: the implicit label in the extended format's ``XMP `` chunk.

Carrier: TC260 image practice guide (PG-2025-CARRIERS; LM-5): XMP with ``TC260:AIGC``. A
simple (``VP8 ``/``VP8L``) file is turned into the extended layout: a ``VP8X`` chunk with the
canvas size read from the bitstream header (and the alpha flag of a VP8L image) is put first.
The XMP flag is set, an old ``XMP `` chunk is merged and replaced, the new one goes last,
and the RIFF size is fixed. Bitstream chunks are copied byte for byte, in bounded pieces.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._exif import blank_labels, exif_labels
from genai_compliance.labelling.implicit._riff import copy_range, file_size, read_at
from genai_compliance.labelling.implicit._xmp import merge_xmp, read_xmp_labels

__all__ = ["HANDLER", "WebpHandler"]

_FMT = "webp"
_XMP_FLAG = 0x04
_ALPHA_FLAG = 0x10


def chunks(src: BinaryIO) -> list[tuple[bytes, int, int]]:
    """[(fourcc, offset, payload length)] of the RIFF WEBP body, reading chunk headers only
    (bitstreams are never read into memory)."""
    total = file_size(src)
    head = read_at(src, 0, min(12, total), _FMT)
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise MalformedMedia("not a RIFF WEBP file", format=_FMT, offset=0)
    (size,) = struct.unpack("<I", head[4:8])
    end = min(8 + size, total)
    pos = 12
    out: list[tuple[bytes, int, int]] = []
    while pos + 8 <= end:
        cid, length = struct.unpack("<4sI", read_at(src, pos, 8, _FMT))
        if pos + 8 + length > end:
            raise MalformedMedia("WebP chunk runs past the RIFF end", format=_FMT, offset=pos)
        out.append((cid, pos, length))
        if len(out) > 1_000_000:
            raise MalformedMedia("more than a million WebP chunks", format=_FMT, offset=pos)
        pos += 8 + length + (length & 1)
    if not out:
        raise MalformedMedia("WebP without chunks", format=_FMT, offset=12)
    return out


def _chunk(cid: bytes, payload: bytes) -> bytes:
    return cid + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")


def _canvas(src: BinaryIO, cid: bytes, off: int, length: int) -> tuple[int, int, int]:
    """(width, height, extra flags) of a simple-format bitstream (its first bytes only)."""
    p = read_at(src, off + 8, min(length, 16), _FMT)
    if cid == b"VP8 ":
        if len(p) < 10 or p[3:6] != b"\x9d\x01\x2a":
            raise MalformedMedia("VP8 bitstream without a key-frame start code", format=_FMT,
                                 offset=off + 8)
        w, h = struct.unpack("<HH", p[6:10])
        return w & 0x3FFF, h & 0x3FFF, 0
    if len(p) < 5 or p[0] != 0x2F:
        raise MalformedMedia("VP8L bitstream without its signature", format=_FMT,
                             offset=off + 8)
    (bits,) = struct.unpack("<I", p[1:5])
    w = (bits & 0x3FFF) + 1
    h = ((bits >> 14) & 0x3FFF) + 1
    return w, h, _ALPHA_FLAG if (bits >> 28) & 1 else 0


_MAX_META = 16 << 20


def _meta(src: BinaryIO, off: int, length: int) -> bytes:
    if length > _MAX_META:
        raise MalformedMedia("WebP metadata chunk larger than 16 MiB", format=_FMT,
                             offset=off)
    return read_at(src, off + 8, length, _FMT)


class WebpHandler:
    """WebP XMP chunk reader/writer (LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """``RIFF····WEBP``."""
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy as extended WebP with one ``XMP `` chunk carrying ``TC260:AIGC`` (bitstream
        chunks copied in pieces, never held)."""
        total = file_size(src)
        table = chunks(src)
        old: bytes | None = None
        first_cid, first_off, first_len = table[0]
        if first_cid == b"VP8X":
            if first_len < 10:
                raise MalformedMedia("VP8X chunk too short", format=_FMT, offset=first_off)
            vp8x = bytearray(_meta(src, first_off, first_len))
            rest = table[1:]
        elif first_cid in (b"VP8 ", b"VP8L"):
            w, h, extra = _canvas(src, first_cid, first_off, first_len)
            vp8x = bytearray(struct.pack("<I", extra) + (w - 1).to_bytes(3, "little")
                             + (h - 1).to_bytes(3, "little"))
            rest = table
        else:
            raise MalformedMedia(f"WebP starts with an unknown chunk {first_cid!r}",
                                 format=_FMT, offset=first_off)
        vp8x[0] |= _XMP_FLAG
        # plan: (offset, length to copy, pad to add) or bytes to write
        plan: list[tuple[int, int, int] | bytes] = []
        size = 0
        for cid, off, length in rest:
            if cid == b"XMP ":
                if old is None:
                    old = _meta(src, off, length)
                continue
            if cid == b"EXIF":
                blob = _meta(src, off, length)
                skip = 6 if blob.startswith(b"Exif\x00\x00") else 0
                piece = _chunk(b"EXIF", blob[:skip] + blank_labels(blob[skip:]))
                plan.append(piece)
                size += len(piece)
                continue
            have = min(8 + length + (length & 1), total - off)
            pad = 8 + length + (length & 1) - have  # a final pad byte some writers omit
            plan.append((off, have, pad))
            size += have + pad
        packet = merge_xmp(old, aigc_json, _FMT)
        head = _chunk(b"VP8X", bytes(vp8x))
        xmp = _chunk(b"XMP ", packet)
        dst.write(b"RIFF" + struct.pack("<I", 4 + len(head) + size + len(xmp)) + b"WEBP"
                  + head)
        for step in plan:
            if isinstance(step, bytes):
                dst.write(step)
            else:
                off, have, pad = step
                copy_range(src, dst, off, have, _FMT)
                dst.write(bytes(pad))
        dst.write(xmp)

    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every label in ``XMP `` chunks (any XMP form) and EXIF UserComment."""
        out: list[RawLabel] = []
        for cid, off, length in chunks(src):
            if cid == b"XMP ":
                packet = _meta(src, off, length)
                out += read_xmp_labels(packet, _FMT, "webp:XMP", off)
            elif cid == b"EXIF":
                blob = _meta(src, off, length)
                skip = 6 if blob.startswith(b"Exif\x00\x00") else 0
                out += exif_labels(blob[skip:], "webp:EXIF:UserComment", off + 8 + skip)
        return out


HANDLER = WebpHandler()
