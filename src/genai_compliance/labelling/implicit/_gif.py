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

import io
import os
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
    touches every sub-block length byte but never holds the frames.

    With a ``sink``, the window also copies the file to it as the walk moves forward: every
    byte from ``emitted`` up to the start of each new window is written from the window
    already read (or, for the few bytes a walk steps over, read again), so labelling reads
    the frames once instead of walking them and then copying them."""

    def __init__(self, f: BinaryIO, sink: BinaryIO | None = None, emitted: int = 0) -> None:
        self.f = f
        self.n = file_size(f)
        self.start = 0
        self.buf: bytes | bytearray = b""
        self.sink = sink
        self.emitted = emitted
        try:  # a real file is read into one reused buffer (no 1 MiB allocation per window)
            self._fd: int | None = f.fileno() if hasattr(os, "preadv") else None
            if isinstance(f, io.BufferedRandom):
                f.flush()  # a file being written (read back by label_file): reads see it all
        except (AttributeError, OSError, io.UnsupportedOperation):
            self._fd = None
        self._store = bytearray(_WINDOW if self._fd is not None else 0)

    def __len__(self) -> int:
        return self.n

    def emit(self, upto: int) -> None:
        """Write the file's bytes from ``emitted`` up to ``upto`` to the sink."""
        if self.sink is None or upto <= self.emitted:
            return
        lo, end = self.emitted, self.start + len(self.buf)
        if self.start <= lo < end:
            hi = min(upto, end)
            self.sink.write(memoryview(self.buf)[lo - self.start:hi - self.start])
            lo = hi
        if lo < upto:
            copy_range(self.f, self.sink, lo, upto - lo, _FMT)
        self.emitted = upto

    def _load(self, pos: int, need: int) -> None:
        if not (self.start <= pos and pos + need <= self.start + len(self.buf)):
            self.emit(pos)
            self.start = pos
            size = min(max(need, _WINDOW), self.n - pos)
            if self._fd is None or size != _WINDOW or pos + need > self.n:
                self.buf = read_at(self.f, pos, size, _FMT)
                return
            got = os.preadv(self._fd, [self._store], pos)
            if got != size:
                raise MalformedMedia(f"gif file is truncated: {size} bytes needed at offset "
                                     f"{pos}, {got} present", format=_FMT, offset=pos)
            self.buf = self._store

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
            return bytes(self.buf[a - self.start:b - self.start])
        if not 0 <= key < self.n:
            raise IndexError(key)
        self._load(key, 1)
        return self.buf[key - self.start]


_MAX_PACKET = 16 << 20
_WINDOW = 1 << 20


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


class _HasXmp(Exception):
    """The streamed write met an XMP extension: the label goes there, merged (two passes)."""


def _head_end(head: bytes) -> int:
    """End of the header, logical screen descriptor and global colour table."""
    flags = head[10]
    return 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)


def blocks(data: Any, stop_at_xmp: bool = False) -> tuple[int, list[tuple[int, int, bool]], int]:
    """(end of header+LSD+GCT, [(offset, end, is XMP extension)], offset of the trailer);
    ``stop_at_xmp`` raises :class:`_HasXmp` at the first XMP extension instead."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise MalformedMedia("not a GIF header", format=_FMT, offset=0)
    pos = head_end = _head_end(data[:13])
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
            is_xmp = data[pos:pos + 11] == _APP[:11]
            if is_xmp and stop_at_xmp:
                raise _HasXmp
            out.append((pos, end, is_xmp))
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

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> tuple[int, int] | None:
        """Copy with one XMP application extension carrying ``TC260:AIGC`` (frames copied
        in pieces). A file without XMP is walked and copied in one pass (the label goes
        right after the header); one with XMP, or a target that cannot be rewound, takes two
        (walk, then copy with the merged packet where the old one was).

        Returns, for the one-pass write, the ``(start, end)`` of the extension written
        (offsets from where ``dst`` was): the walk found no other XMP extension, so that is
        the only place the output can carry a label, and reading it back
        (:meth:`read_block`) need not walk the frames again."""
        if dst.seekable():
            written = self._streamed(src, dst, aigc_json)
            if written is not None:
                return written
        data = _Window(src)
        head_end, table, trailer = blocks(data)
        old: bytes | None = None
        at = head_end
        for start, end, is_xmp in table:
            if is_xmp and old is None:
                old, at = _packet(data, start, end), start
        new = self._extension(old, aigc_json, at)
        dst.write(self._header(data[:head_end]))
        if at == head_end:
            dst.write(new)
        for start, end, is_xmp in table:
            if start == at and at != head_end:
                dst.write(new)
            if not is_xmp:
                copy_range(src, dst, start, end - start, _FMT)
        copy_range(src, dst, trailer, len(data) - trailer, _FMT)
        return None

    def _streamed(self, src: BinaryIO, dst: BinaryIO, aigc_json: str
                  ) -> tuple[int, int] | None:
        """Header, new extension, then the rest of the file written while it is walked: the
        extension's ``(start, end)``; ``None`` (``dst`` rewound and cut back) when an XMP
        extension turns up. A damaged file leaves ``dst`` as it was, as the two-pass path
        does."""
        mark = dst.tell()
        head = read_at(src, 0, min(13, file_size(src)), _FMT)
        if head[:6] not in (b"GIF87a", b"GIF89a") or len(head) < 13:
            raise MalformedMedia("not a GIF header", format=_FMT, offset=0)
        head_end = _head_end(head)
        new = self._extension(None, aigc_json, head_end)
        data = _Window(src, dst, emitted=head_end)
        try:
            dst.write(self._header(read_at(src, 0, head_end, _FMT)))
            dst.write(new)
            blocks(data, stop_at_xmp=True)
            data.emit(len(data))
        except BaseException as exc:
            dst.seek(mark)
            dst.truncate()
            if isinstance(exc, _HasXmp):
                return None
            raise
        return head_end, head_end + len(new)

    @staticmethod
    def _extension(old: bytes | None, aigc_json: str, at: int) -> bytes:
        packet = merge_xmp(old, aigc_json, _FMT)
        if b"\x00" in packet:
            raise MalformedMedia("XMP packet holds a NUL byte, which GIF cannot carry",
                                 format=_FMT, offset=at)
        return _APP + packet + _MAGIC

    @staticmethod
    def _header(head: bytes) -> bytes:
        header = bytearray(head)
        if header[:6] == b"GIF87a":
            header[:6] = b"GIF89a"  # extensions need the 89a version
        return bytes(header)

    def read_block(self, src: BinaryIO, start: int, end: int) -> list[RawLabel]:
        """The labels of the one extension at ``[start, end)`` (what :meth:`write` returned),
        parsed as :meth:`read` parses each: an extension that is not a whole XMP
        application extension there reads as no label."""
        if not 0 <= start < end <= file_size(src) or end - start > _MAX_PACKET:
            return []
        raw = read_at(src, start, end - start, _FMT)
        if raw[0] != 0x21 or raw[:11] != _APP[:11] or _sub_blocks(raw, 2) != len(raw):
            return []
        return read_xmp_labels(_packet(raw, 0, len(raw)), _FMT, "gif:XMP", start)

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
