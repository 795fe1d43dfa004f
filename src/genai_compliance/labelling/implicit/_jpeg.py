"""JPEG: the implicit label in the XMP ``APP1`` segment.

Carrier: TC260 image practice guide (PG-2025-CARRIERS; LM-5): XMP with ``TC260:AIGC``, in an
APP1 segment whose header is ``http://ns.adobe.com/xap/1.0/\\0``. The segment goes where the
old XMP segment was (merging its other properties) or after SOI and the leading APP0 (JFIF)
and APP1 (EXIF) segments; EXIF, ICC (APP2) and all entropy-coded data are copied unchanged.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from genai_compliance.errors import LabelError, MalformedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._xmp import merge_xmp, read_xmp

__all__ = ["HANDLER", "JpegHandler"]

_FMT = "jpeg"
XMP_HDR = b"http://ns.adobe.com/xap/1.0/\x00"


def segments(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """([(marker, offset, total length incl. marker)], offset of SOS or EOI)."""
    if data[:2] != b"\xff\xd8":
        raise MalformedMedia("not a JPEG (no SOI)", format=_FMT, offset=0)
    pos = 2
    out: list[tuple[int, int, int]] = []
    while True:
        if pos + 2 > len(data):
            raise MalformedMedia("JPEG ends before the image data", format=_FMT, offset=pos)
        if data[pos] != 0xFF:
            raise MalformedMedia("JPEG marker expected", format=_FMT, offset=pos)
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xDA, 0xD9):
            return out, pos
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out.append((marker, pos, 2))
            pos += 2
            continue
        if pos + 4 > len(data):
            raise MalformedMedia("truncated JPEG segment", format=_FMT, offset=pos)
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            raise MalformedMedia("JPEG segment length runs past the end", format=_FMT,
                                 offset=pos)
        out.append((marker, pos, 2 + length))
        pos += 2 + length


class JpegHandler:
    """JPEG XMP APP1 reader/writer (LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """SOI followed by a marker."""
        return head[:3] == b"\xff\xd8\xff"

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy with one XMP APP1 segment carrying ``TC260:AIGC``."""
        data = src.read()
        segs, sos = segments(data)
        old: bytes | None = None
        at: int | None = None
        drop: set[int] = set()
        for marker, off, total in segs:
            if marker == 0xE1 and data[off + 4:off + 4 + len(XMP_HDR)] == XMP_HDR:
                if old is None:
                    old, at = data[off + 4 + len(XMP_HDR):off + total], off
                drop.add(off)
        if at is None:
            at = sos
            for marker, off, _total in segs:
                if marker in (0xE0, 0xE1):
                    continue
                at = off
                break
        packet = merge_xmp(old, aigc_json, _FMT)
        body = XMP_HDR + packet
        if len(body) + 2 > 0xFFFF:
            raise LabelError("the XMP packet does not fit one JPEG APP1 segment (64 KiB); "
                             "shorten the other XMP properties", field="AIGC",
                             value=len(body))
        new = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
        dst.write(data[:2])
        for _marker, off, total in segs:
            if off == at:
                dst.write(new)
            if off not in drop:
                dst.write(data[off:off + total])
        if at == sos:
            dst.write(new)
        dst.write(data[sos:])

    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every ``TC260:AIGC`` value in XMP APP1 segments."""
        data = src.read()
        segs, _ = segments(data)
        out: list[RawLabel] = []
        for marker, off, total in segs:
            if marker == 0xE1 and data[off + 4:off + 4 + len(XMP_HDR)] == XMP_HDR:
                packet = data[off + 4 + len(XMP_HDR):off + total]
                out += [RawLabel("jpeg:APP1:XMP", t, off) for t in read_xmp(packet, _FMT)]
        return out


HANDLER = JpegHandler()
