"""TIFF: the implicit label as XMP in tag 700 (``XMLPacket``) of the first IFD.

Carrier: TC260 image practice guide (PG-2025-CARRIERS; LM-5): XMP property ``TC260:AIGC``;
TIFF carries XMP in tag 0x02BC (XMP spec part 3). Written without moving any existing byte:
the (merged) XMP packet and a copy of IFD0 with tag 700 added or replaced are appended to
the file and the header's first-IFD offset is pointed at the copy. All other entries keep
their absolute offsets, so strips/tiles and EXIF/ICC stay valid. Classic TIFF only (BigTIFF
is refused as unsupported). When IFD0 and its XMP are already the file's last bytes (our
previous label) they are overwritten instead of appended again. The file is walked through a
seek-and-read view and copied in pieces, so strips and tiles are never held in memory.
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._exif import exif_labels, label_spans
from genai_compliance.labelling.implicit._riff import copy_range, file_size, read_at
from genai_compliance.labelling.implicit._xmp import merge_xmp, read_xmp_labels

__all__ = ["HANDLER", "TiffHandler"]

_FMT = "tiff"
_XMP_TAG = 700
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
               13: 4}


class _View:
    """The file as a read-only sequence of bytes: ``len()`` and slicing read only what is
    asked (seek + read), so the TIFF structure is walked without holding the image data."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.n = file_size(f)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: slice) -> bytes:
        start, stop, step = key.indices(self.n)
        if step != 1:  # pragma: no cover - never used
            raise ValueError("step")
        if stop <= start:
            return b""
        if stop - start > _MAX_READ:
            raise MalformedMedia("TIFF metadata value larger than 16 MiB", format=_FMT,
                                 offset=start)
        return read_at(self.f, start, stop - start, _FMT)


_MAX_READ = 16 << 20


def _ifd0(data: Any) -> tuple[str, int, list[bytes], int]:
    """(byte order, IFD0 offset, raw 12-byte entries, next-IFD offset)."""
    if data[:4] in (b"II+\x00", b"MM\x00+"):
        raise UnsupportedMedia("BigTIFF is not supported for implicit labels yet", format=_FMT)
    if data[:4] == b"II*\x00":
        bo = "<"
    elif data[:4] == b"MM\x00*":
        bo = ">"
    else:
        raise MalformedMedia("not a TIFF header", format=_FMT, offset=0)
    (off,) = struct.unpack(bo + "I", data[4:8])
    if off < 8 or off + 2 > len(data):
        raise MalformedMedia("TIFF IFD0 offset outside the file", format=_FMT, offset=4)
    (n,) = struct.unpack(bo + "H", data[off:off + 2])
    end = off + 2 + 12 * n
    if n == 0 or end + 4 > len(data):
        raise MalformedMedia("TIFF IFD0 runs past the end of the file", format=_FMT,
                             offset=off)
    table = data[off + 2:end]
    entries = [table[12 * i:12 * i + 12] for i in range(n)]
    (nxt,) = struct.unpack(bo + "I", data[end:end + 4])
    return bo, off, entries, nxt


def _xmp_value(data: Any, bo: str, entry: bytes) -> bytes:
    tag, typ, count = struct.unpack(bo + "HHI", entry[:8])
    size = _TYPE_SIZES.get(typ, 1) * count
    if size <= 4:
        return entry[8:8 + size]
    (off,) = struct.unpack(bo + "I", entry[8:12])
    if off + size > len(data):
        raise MalformedMedia(f"TIFF tag {tag} value runs past the end", format=_FMT,
                             offset=off)
    value: bytes = data[off:off + size]
    return value


class TiffHandler:
    """TIFF tag-700 XMP reader/writer (LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """``II*\\0`` or ``MM\\0*`` (and BigTIFF, which is refused on use)."""
        return head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Append the XMP packet and a new IFD0 with tag 700; repoint the header. The
        original bytes are copied in pieces (label-bearing EXIF comments blanked)."""
        data = _View(src)
        bo, _off, entries, nxt = _ifd0(data)
        old = None
        keep: list[bytes] = []
        for e in entries:
            (tag,) = struct.unpack(bo + "H", e[:2])
            if tag == _XMP_TAG:
                old = _xmp_value(data, bo, e)
            else:
                keep.append(e)
        packet = merge_xmp(old, aigc_json, _FMT)
        cut = self._reusable_tail(data, bo, _off, entries)
        length = cut + (cut & 1)
        xmp_off = length
        ifd_off = xmp_off + len(packet) + (len(packet) & 1)
        if ifd_off + 2 + 12 * (len(keep) + 1) + 4 > 0xFFFFFFFF:
            raise UnsupportedMedia("the labelled TIFF would exceed 4 GiB", format=_FMT)
        header = bytearray(data[0:8])
        header[4:8] = struct.pack(bo + "I", ifd_off)
        patches = [(0, bytes(header))] + [(o, bytes(n)) for o, n in label_spans(data)
                                          if o + n <= cut]
        pos = 0
        for at, blob in sorted(patches):
            if at < pos:
                continue
            copy_range(src, dst, pos, at - pos, _FMT)
            dst.write(blob)
            pos = at + len(blob)
        copy_range(src, dst, pos, cut - pos, _FMT)
        if cut & 1:
            dst.write(b"\x00")
        dst.write(packet)
        if len(packet) & 1:
            dst.write(b"\x00")
        new_entry = struct.pack(bo + "HHII", _XMP_TAG, 1, len(packet), xmp_off)
        table = sorted([*keep, new_entry], key=lambda e: struct.unpack(bo + "H", e[:2])[0])
        dst.write(struct.pack(bo + "H", len(table)) + b"".join(table)
                  + struct.pack(bo + "I", nxt))

    @staticmethod
    def _reusable_tail(data: Any, bo: str, off: int, entries: list[bytes]) -> int:
        """Where our previous append starts, when IFD0 (and its XMP just before it) are the
        last bytes of the file - so relabelling does not grow the file; else its length."""
        if off + 2 + 12 * len(entries) + 4 != len(data):
            return len(data)
        cut = off
        for e in entries:
            tag, typ, count = struct.unpack(bo + "HHI", e[:8])
            if tag == _XMP_TAG and typ in (1, 7) and count > 4:
                (xoff,) = struct.unpack(bo + "I", e[8:12])
                if xoff + count in (off, off - 1):
                    cut = xoff
        return cut

    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Labels in IFD0's XMP packet (any XMP form) and the EXIF UserComment."""
        data = _View(src)
        bo, off, entries, _ = _ifd0(data)
        out: list[RawLabel] = []
        for e in entries:
            (tag,) = struct.unpack(bo + "H", e[:2])
            if tag == _XMP_TAG:
                out += read_xmp_labels(_xmp_value(data, bo, e), _FMT, "tiff:XMP", off)
        out += exif_labels(data, "tiff:EXIF:UserComment", 0)
        return out


HANDLER = TiffHandler()
