"""JPEG: the implicit label in the XMP ``APP1`` segment.

Carrier: TC260 image practice guide (PG-2025-CARRIERS; LM-5): XMP with ``TC260:AIGC``, in an
APP1 segment whose header is ``http://ns.adobe.com/xap/1.0/\\0``. The segment goes where the
old XMP segment was (merging its other properties) or after SOI and the leading APP0 (JFIF)
and APP1 (EXIF) segments; EXIF, ICC (APP2) and all entropy-coded data are copied unchanged,
in bounded pieces: only marker headers and the segments that can hold a label are read.

Reading also finds the forms generators and the public verifier AigcTotal use (reported as
not the preferred carrier, LM-8): the EXIF ``UserComment`` holding the Annex E JSON (bare or
``{"AIGC":…}``) and an ``APPn``/``COM`` segment whose payload is ``AIGC`` followed by the
JSON. Writing blanks such a UserComment in place (same length, so no EXIF offset moves) and
drops such segments, so the output carries exactly one label.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from genai_compliance.errors import LabelError, MalformedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._exif import blank_labels, exif_labels
from genai_compliance.labelling.implicit._riff import (
    copy_range,
    copy_spliced,
    file_size,
    read_at,
)
from genai_compliance.labelling.implicit._xmp import merge_xmp, read_xmp_labels

__all__ = ["HANDLER", "JpegHandler"]

_FMT = "jpeg"
XMP_HDR = b"http://ns.adobe.com/xap/1.0/\x00"
_MAX_SEGMENTS = 1_000_000
EXIF_HDR = b"Exif\x00\x00"


def _bare_aigc(marker: int, payload: bytes) -> bytes | None:
    """The JSON of an ``APPn``/``COM`` segment holding ``AIGC`` + JSON, else None."""
    if not (0xE0 <= marker <= 0xEF or marker == 0xFE) or not payload.startswith(b"AIGC"):
        return None
    rest = payload[4:].lstrip(b"\x00 :=\t\r\n")
    return rest.rstrip(b"\x00") if rest.startswith(b"{") or not rest else None


def _blank_comments(segment: bytes) -> bytes:
    """An EXIF APP1 segment with every label-bearing UserComment blanked in place."""
    tiff_at = 4 + len(EXIF_HDR)
    return segment[:tiff_at] + blank_labels(segment[tiff_at:])


def segments(src: BinaryIO) -> tuple[list[tuple[int, int, int]], int]:
    """([(marker, offset, total length incl. marker)], offset of SOS or EOI), reading only
    the marker headers (the entropy-coded data is never read into memory)."""
    size = file_size(src)
    if read_at(src, 0, min(2, size), _FMT) != b"\xff\xd8":
        raise MalformedMedia("not a JPEG (no SOI)", format=_FMT, offset=0)
    pos = 2
    out: list[tuple[int, int, int]] = []
    while True:
        if pos + 2 > size:
            raise MalformedMedia("JPEG ends before the image data", format=_FMT, offset=pos)
        head = read_at(src, pos, min(4, size - pos), _FMT)
        if head[0] != 0xFF:
            raise MalformedMedia("JPEG marker expected", format=_FMT, offset=pos)
        marker = head[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xDA, 0xD9):
            return out, pos
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out.append((marker, pos, 2))
            pos += 2
            continue
        if len(head) < 4:
            raise MalformedMedia("truncated JPEG segment", format=_FMT, offset=pos)
        (length,) = struct.unpack(">H", head[2:4])
        if length < 2 or pos + 2 + length > size:
            raise MalformedMedia("JPEG segment length runs past the end", format=_FMT,
                                 offset=pos)
        out.append((marker, pos, 2 + length))
        if len(out) > _MAX_SEGMENTS:
            raise MalformedMedia("more than a million JPEG segments before the image data",
                                 format=_FMT, offset=pos)
        pos += 2 + length


def _wanted(marker: int, src: BinaryIO, off: int, total: int) -> bytes | None:
    """The payload of a segment that can hold a label (APP1 XMP/EXIF, APPn/COM starting
    with ``AIGC``), else None; other segments are never read whole."""
    if not (0xE0 <= marker <= 0xEF or marker == 0xFE) or total < 4:
        return None
    peek = read_at(src, off + 4, min(total - 4, len(XMP_HDR)), _FMT)
    if (marker == 0xE1 and (peek.startswith(XMP_HDR) or peek.startswith(EXIF_HDR))) or \
            peek.startswith(b"AIGC"):
        return read_at(src, off + 4, total - 4, _FMT)
    return None


class JpegHandler:
    """JPEG XMP APP1 reader/writer (LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """SOI followed by a marker."""
        return head[:3] == b"\xff\xd8\xff"

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy with one XMP APP1 segment carrying ``TC260:AIGC`` (image data streamed)."""
        size = file_size(src)
        segs, sos = segments(src)
        old: bytes | None = None
        at: int | None = None
        drop: set[int] = set()
        patched: dict[int, bytes] = {}
        for marker, off, total in segs:
            payload = _wanted(marker, src, off, total)
            if payload is None:
                continue
            if marker == 0xE1 and payload.startswith(XMP_HDR):
                if old is None:
                    old, at = payload[len(XMP_HDR):], off
                drop.add(off)
            elif marker == 0xE1 and payload.startswith(EXIF_HDR):
                blanked = _blank_comments(read_at(src, off, total, _FMT))
                if blanked != read_at(src, off, total, _FMT):
                    patched[off] = blanked
            elif _bare_aigc(marker, payload) is not None:
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
        dst.write(b"\xff\xd8")
        copy_spliced(src, dst, ((off, total) for _marker, off, total in segs), _FMT,
                     insert_at=at, insert=new, drop=drop, patched=patched)
        if at == sos:
            dst.write(new)
        copy_range(src, dst, sos, size - sos, _FMT)

    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every label: XMP APP1 (preferred), EXIF UserComment, bare ``AIGC`` segments."""
        segs, _ = segments(src)
        out: list[RawLabel] = []
        for marker, off, total in segs:
            payload = _wanted(marker, src, off, total)
            if payload is None:
                continue
            if marker == 0xE1 and payload.startswith(XMP_HDR):
                out += read_xmp_labels(payload[len(XMP_HDR):], _FMT, "jpeg:APP1:XMP", off)
            elif marker == 0xE1 and payload.startswith(EXIF_HDR):
                out += exif_labels(payload[len(EXIF_HDR):], "jpeg:APP1:EXIF:UserComment",
                                   off + 4 + len(EXIF_HDR))
            else:
                bare = _bare_aigc(marker, payload)
                if bare is not None:
                    name = "COM" if marker == 0xFE else f"APP{marker - 0xE0}"
                    out.append(RawLabel(f"jpeg:{name}:AIGC", bare.decode("utf-8", "replace"),
                                        off, preferred=False, note=f"bare AIGC JSON in a "
                                        f"JPEG {name} segment, not the XMP carrier the TC260 "
                                        "image guide names"))
        return out


HANDLER = JpegHandler()
