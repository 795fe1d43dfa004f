"""ISO BMFF / QuickTime box helpers for the MP4 handler: walking top-level boxes in a file
(headers only) and an editable in-memory tree for ``moov`` (leaves kept byte for byte)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import BinaryIO

import attrs

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.implicit._riff import file_size, read_at

__all__ = ["Box", "TopBox", "box_bytes", "parse_tree", "serialize", "top_boxes"]

FMT = "mp4"
#: the boxes we descend into while editing ``moov``
DESCEND = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"meta", b"ilst", b"----"}
_MAX_DEPTH = 32


@attrs.frozen
class TopBox:
    """A top-level box: ``offset`` of its header, header length and total size."""

    btype: bytes
    offset: int
    header: int
    size: int

    @property
    def end(self) -> int:
        """Offset after the box."""
        return self.offset + self.size


def _header(data: bytes, pos: int, end: int, base: int) -> tuple[bytes, int, int]:
    """(type, header length, total size) of the box at ``data[pos:]``."""
    if end - pos < 8:
        raise MalformedMedia("box header truncated", format=FMT, offset=base + pos)
    size, btype = struct.unpack_from(">I4s", data, pos)
    hl = 8
    if size == 1:
        if end - pos < 16:
            raise MalformedMedia("box largesize truncated", format=FMT, offset=base + pos)
        size = struct.unpack_from(">Q", data, pos + 8)[0]
        hl = 16
    elif size == 0:
        size = end - pos
    if size < hl or pos + size > end:
        raise MalformedMedia(
            f"box {btype!r} has an impossible size {size}", format=FMT, offset=base + pos
        )
    return btype, hl, size


def top_boxes(f: BinaryIO, limit: int = 10_000_000) -> list[TopBox]:
    """Every top-level box of the file, reading only the headers."""
    total = file_size(f)
    pos = 0
    out: list[TopBox] = []
    while pos < total:
        if total - pos < 8:
            if not any(read_at(f, pos, total - pos, FMT)):
                break  # trailing zero padding
            raise MalformedMedia("stray bytes after the last box", format=FMT, offset=pos)
        head = read_at(f, pos, min(16, total - pos), FMT)
        btype, hl, size = _header(head + bytes(16 - len(head)), 0, total - pos, pos)
        out.append(TopBox(btype, pos, hl, size))
        if len(out) > limit:
            raise UnsupportedMedia("too many top-level boxes", format=FMT, offset=pos)
        pos += size
    return out


@attrs.define
class Box:
    """A box of the edit tree: a leaf (``raw`` = whole box, header included) or a container
    (``prefix`` = full-box version/flags when it has them, ``children``, ``tail`` = stray bytes
    such as QuickTime's 32-bit zero ``udta`` terminator)."""

    btype: bytes
    raw: bytes | None = None
    prefix: bytes = b""
    children: list[Box] = attrs.field(factory=list)
    tail: bytes = b""
    offset: int = 0

    def payload(self) -> bytes:
        """A leaf's bytes after its header."""
        assert self.raw is not None
        size = struct.unpack_from(">I", self.raw, 0)[0]
        return self.raw[16:] if size == 1 else self.raw[8:]

    def find(self, btype: bytes) -> list[Box]:
        """Direct children of type ``btype``."""
        return [c for c in self.children if c.btype == btype]


def _meta_prefix(data: bytes, start: int, end: int) -> int:
    """Length of ``meta``'s version/flags: ISO full box (4) or QuickTime plain atom (0)."""
    if end - start >= 8 and data[start + 4 : start + 8] in (b"hdlr", b"keys", b"ilst"):
        return 0
    return 4


def parse_tree(data: bytes, base: int, depth: int = 0) -> list[Box]:
    """The boxes of ``data`` (one level; descends into :data:`DESCEND` types)."""
    if depth > _MAX_DEPTH:
        raise UnsupportedMedia("boxes nested too deep", format=FMT, offset=base)
    out: list[Box] = []
    pos = 0
    end = len(data)
    while pos < end:
        if end - pos < 8:
            out.append(Box(b"", raw=None, tail=data[pos:], offset=base + pos))
            break
        btype, hl, size = _header(data, pos, end, base)
        if btype in DESCEND:
            inner_start = pos + hl
            plen = _meta_prefix(data, inner_start, pos + size) if btype == b"meta" else 0
            if btype == b"----":
                plen = 0
            inner = data[inner_start + plen : pos + size]
            kids = parse_tree(inner, base + inner_start + plen, depth + 1)
            tail = b""
            if kids and kids[-1].btype == b"" and kids[-1].raw is None:
                tail = kids.pop().tail
            out.append(
                Box(
                    btype,
                    prefix=data[inner_start : inner_start + plen],
                    children=kids,
                    tail=tail,
                    offset=base + pos,
                )
            )
        else:
            out.append(Box(btype, raw=data[pos : pos + size], offset=base + pos))
        pos += size
    return out


def box_bytes(btype: bytes, body: bytes) -> bytes:
    """A box with the smallest header that fits."""
    if len(body) + 8 <= 0xFFFFFFFF:
        return struct.pack(">I4s", len(body) + 8, btype) + body
    return struct.pack(">I4sQ", 1, btype, len(body) + 16) + body


def serialize(box: Box, leaf: Callable[[Box], bytes] | None = None) -> bytes:
    """The bytes of ``box``; ``leaf`` may rewrite leaves (offset tables)."""
    if box.raw is not None:
        return leaf(box) if leaf else box.raw
    body = box.prefix + b"".join(serialize(c, leaf) for c in box.children) + box.tail
    return box_bytes(box.btype, body)
