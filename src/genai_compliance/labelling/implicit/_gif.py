"""GIF: the implicit label in an XMP application extension (``XMP DataXMP``).

Carrier: TC260 image practice guide (PG-2025-CARRIERS; LM-5): XMP with ``TC260:AIGC``, stored
the way the XMP specification (part 3) puts XMP in GIF: application extension with identifier
``XMP Data`` + auth code ``XMP``, the UTF-8 packet written raw and followed by the 258-byte
"magic trailer" so that decoders that walk sub-blocks skip it. The extension goes where the
old one was (merged) or right after the logical screen descriptor and global colour table;
frames and other extensions are copied byte for byte.

Reading accepts both layouts found in the wild: the XMP specification's (raw packet + magic
trailer, what exiftool and we write) and the sub-block layout the public verifier AigcTotal
reads (the packet split into length-prefixed sub-blocks, reassembled here).
"""

from __future__ import annotations

from typing import Any, BinaryIO, overload

from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._riff import copy_range, file_size, read_at
from genai_compliance.labelling.implicit._xmp import merge_xmp, read_xmp_labels

__all__ = ["HANDLER", "GifHandler"]

_FMT = "gif"
_APP = b"\x21\xff\x0bXMP DataXMP"
_MAGIC = b"\x01" + bytes(range(255, -1, -1)) + b"\x00"


class _Window:
    """The file as a byte sequence read through a 1 MiB sliding window: the block walk
    touches every sub-block length byte but never holds the frames."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.n = file_size(f)
        self.start = 0
        self.buf = b""

    def __len__(self) -> int:
        return self.n

    def _load(self, pos: int, need: int) -> None:
        if not (self.start <= pos and pos + need <= self.start + len(self.buf)):
            self.start = pos
            self.buf = read_at(self.f, pos, min(max(need, 1 << 20), self.n - pos), _FMT)

    @overload
    def __getitem__(self, key: int) -> int: ...

    @overload
    def __getitem__(self, key: slice) -> bytes: ...

    def __getitem__(self, key: int | slice) -> int | bytes:
        if isinstance(key, slice):
            a, b, _ = key.indices(self.n)
            if b <= a:
                return b""
            if b - a > _MAX_PACKET:
                raise MalformedMedia("GIF extension larger than 16 MiB", format=_FMT,
                                     offset=a)
            self._load(a, b - a)
            return self.buf[a - self.start:b - self.start]
        if not 0 <= key < self.n:
            raise IndexError(key)
        self._load(key, 1)
        return self.buf[key - self.start]


_MAX_PACKET = 16 << 20


def _sub_blocks(data: Any, pos: int) -> int:
    """Offset just past the block terminator of the sub-blocks starting at ``pos``. A run
    of full (255-byte) sub-blocks, what encoders write for image data, is skipped in one
    C-level step: its length bytes sit 256 apart, so the run is the leading ``0xFF`` bytes
    of the buffer sliced with step 256."""
    total = len(data)
    while True:
        if pos >= total:
            raise MalformedMedia("GIF sub-blocks run past the end", format=_FMT, offset=pos)
        if isinstance(data, _Window):
            data._load(pos, 1)
            buf, base = data.buf, data.start
        else:
            buf, base = data, 0
        rel, end = pos - base, len(buf)
        while rel < end:
            n = buf[rel]
            if n == 0:
                return base + rel + 1
            if n == 255:
                run = buf[rel:end:256]
                rel += 256 * (len(run) - len(run.lstrip(b"\xff")))
            else:
                rel += 1 + n
        pos = base + rel


def blocks(data: Any) -> tuple[int, list[tuple[int, int, bool]], int]:
    """(end of header+LSD+GCT, [(offset, end, is XMP extension)], offset of the trailer)."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise MalformedMedia("not a GIF header", format=_FMT, offset=0)
    flags = data[10]
    pos = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    head_end = pos
    out: list[tuple[int, int, bool]] = []
    while True:
        if pos >= len(data):
            raise MalformedMedia("GIF without a trailer", format=_FMT, offset=pos)
        b = data[pos]
        if b == 0x3B:
            return head_end, out, pos
        if b == 0x21:
            if pos + 2 > len(data):
                raise MalformedMedia("truncated GIF extension", format=_FMT, offset=pos)
            end = _sub_blocks(data, pos + 2)
            # identifier "XMP Data"; the authentication code is "XMP" in the XMP
            # specification's layout, other bytes in other writers' (AigcTotal's fixtures)
            out.append((pos, end, data[pos:pos + 11] == _APP[:11]))
            pos = end
        elif b == 0x2C:
            if pos + 10 > len(data):
                raise MalformedMedia("truncated GIF image descriptor", format=_FMT, offset=pos)
            lflags = data[pos + 9]
            p = pos + 10 + (3 * (2 << (lflags & 7)) if lflags & 0x80 else 0)
            end = _sub_blocks(data, p + 1)
            out.append((pos, end, False))
            pos = end
        else:
            raise MalformedMedia(f"unknown GIF block 0x{b:02x}", format=_FMT, offset=pos)


def _packet(data: Any, start: int, end: int) -> bytes:
    """The XMP packet of the extension at ``start``: raw + magic trailer (XMP spec part 3),
    else the data sub-blocks reassembled (the layout AigcTotal reads)."""
    raw: bytes = data[start + len(_APP):end]
    if raw.endswith(_MAGIC):
        return raw[:-len(_MAGIC)]
    out = bytearray()
    pos = 0
    while pos < len(raw):
        n = raw[pos]
        if n == 0:
            return bytes(out)
        out += raw[pos + 1:pos + 1 + n]
        pos += 1 + n
    raise MalformedMedia("GIF XMP extension without its magic trailer or sub-block "
                         "terminator", format=_FMT, offset=start)


class GifHandler:
    """GIF XMP application-extension reader/writer (LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """``GIF87a`` or ``GIF89a``."""
        return head[:6] in (b"GIF87a", b"GIF89a")

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy with one XMP application extension carrying ``TC260:AIGC`` (frames copied
        in pieces)."""
        data = _Window(src)
        head_end, table, trailer = blocks(data)
        old: bytes | None = None
        at = head_end
        for start, end, is_xmp in table:
            if is_xmp and old is None:
                old, at = _packet(data, start, end), start
        packet = merge_xmp(old, aigc_json, _FMT)
        if b"\x00" in packet:
            raise MalformedMedia("XMP packet holds a NUL byte, which GIF cannot carry",
                                 format=_FMT, offset=at)
        new = _APP + packet + _MAGIC
        header = bytearray(data[:head_end])
        if header[:6] == b"GIF87a":
            header[:6] = b"GIF89a"  # extensions need the 89a version
        dst.write(bytes(header))
        if at == head_end:
            dst.write(new)
        for start, end, is_xmp in table:
            if start == at and at != head_end:
                dst.write(new)
            if not is_xmp:
                copy_range(src, dst, start, end - start, _FMT)
        copy_range(src, dst, trailer, len(data) - trailer, _FMT)

    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every ``TC260:AIGC`` value in XMP application extensions."""
        data = _Window(src)
        _, table, _ = blocks(data)
        out: list[RawLabel] = []
        for start, end, is_xmp in table:
            if is_xmp:
                packet = _packet(data, start, end)
                out += read_xmp_labels(packet, _FMT, "gif:XMP", start)
        return out


HANDLER = GifHandler()
