"""EBML (Matroska/WebM) variable-length integers and elements, for the MKV handler."""

from __future__ import annotations

from typing import BinaryIO

import attrs

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.implicit._riff import file_size

__all__ = ["Element", "children", "element", "encode_size", "fit", "read_element_header", "void"]

FMT = "mkv"
UNKNOWN = -1


def _vint(data: bytes, pos: int, base: int, keep_marker: bool) -> tuple[int, int]:
    """(value, length) of the vint at ``data[pos:]``; sizes of all ones give UNKNOWN."""
    if pos >= len(data):
        raise MalformedMedia("EBML number truncated", format=FMT, offset=base + pos)
    first = data[pos]
    if first == 0:
        raise MalformedMedia("EBML number longer than 8 bytes", format=FMT, offset=base + pos)
    length = 9 - first.bit_length()
    if pos + length > len(data):
        raise MalformedMedia("EBML number truncated", format=FMT, offset=base + pos)
    raw = int.from_bytes(data[pos : pos + length], "big")
    if keep_marker:
        return raw, length
    value = raw & ((1 << (7 * length)) - 1)
    if value == (1 << (7 * length)) - 1:
        return UNKNOWN, length
    return value, length


@attrs.frozen
class Element:
    """An element: ``offset`` of its ID, header length, data size (UNKNOWN = -1)."""

    eid: int
    offset: int
    header: int
    size: int
    size_len: int

    @property
    def data(self) -> int:
        """Offset of the element's data."""
        return self.offset + self.header

    @property
    def end(self) -> int:
        """Offset after the element (only for a known size)."""
        return self.offset + self.header + self.size


def parse_header(data: bytes, pos: int, base: int) -> Element:
    """The element header at ``data[pos:]``."""
    eid, il = _vint(data, pos, base, True)
    if il > 4:
        raise MalformedMedia("EBML ID longer than 4 bytes", format=FMT, offset=base + pos)
    size, sl = _vint(data, pos + il, base, False)
    return Element(eid, base + pos, il + sl, size, sl)


def read_element_header(f: BinaryIO, offset: int) -> Element:
    """The element header at file ``offset``."""
    f.seek(offset)
    head = f.read(12)
    return parse_header(head, 0, offset)


def children(data: bytes, base: int) -> list[Element]:
    """The child elements of an in-memory element body (offsets are absolute)."""
    out = []
    pos = 0
    while pos < len(data):
        el = parse_header(data, pos, base)
        if el.size == UNKNOWN or pos + el.header + el.size > len(data):
            raise MalformedMedia(
                f"EBML element 0x{el.eid:X} overruns its parent", format=FMT, offset=base + pos
            )
        out.append(el)
        pos += el.header + el.size
    return out


def encode_id(eid: int) -> bytes:
    """An element ID (marker bits included in the value)."""
    return eid.to_bytes(max(1, (eid.bit_length() + 7) // 8), "big")


def encode_size(n: int, length: int | None = None) -> bytes:
    """A data-size vint, minimal or of the given ``length``."""
    if length is None:
        length = 1
        while n >= (1 << (7 * length)) - 1:
            length += 1
    if length > 8 or n >= (1 << (7 * length)) - 1:
        raise UnsupportedMedia("EBML size does not fit", format=FMT, offset=0)
    return (n | (1 << (7 * length))).to_bytes(length, "big")


def element(eid: int, body: bytes) -> bytes:
    """An element with a minimal size field."""
    return encode_id(eid) + encode_size(len(body)) + body


def void(total: int) -> bytes:
    """A Void element exactly ``total`` (>= 2) bytes long."""
    for length in range(1, 9):
        body = total - 1 - length
        if body >= 0 and body < (1 << (7 * length)) - 1:
            return b"\xec" + encode_size(body, length) + bytes(body)
    raise UnsupportedMedia(f"no Void of {total} bytes", format=FMT, offset=0)


def fit(eid: int, body: bytes, span: int) -> bytes | None:
    """Element ``eid`` with ``body`` padded (Void, or a longer size field) to exactly ``span``
    bytes; None when it does not fit."""
    idb = encode_id(eid)
    for length in range(1, 9):
        if len(body) >= (1 << (7 * length)) - 1:
            continue
        rest = span - (len(idb) + length + len(body))
        if rest == 0:
            return idb + encode_size(len(body), length) + body
        if rest >= 2:
            return idb + encode_size(len(body), length) + body + void(rest)
    return None


def level1(f: BinaryIO, start: int, end: int, limit: int = 10_000_000) -> list[Element]:
    """The elements between ``start`` and ``end`` in a file (headers only)."""
    out = []
    pos = start
    total = file_size(f)
    while pos < end:
        if end - pos < 2:
            break
        el = read_element_header(f, pos)
        if el.size == UNKNOWN:
            raise UnsupportedMedia(
                "Matroska element of unknown size inside the Segment (live stream); "
                "remux it first",
                format=FMT,
                offset=pos,
            )
        if el.end > end or el.end > total:
            raise MalformedMedia(
                f"EBML element 0x{el.eid:X} runs past the Segment", format=FMT, offset=pos
            )
        out.append(el)
        if len(out) > limit:
            raise UnsupportedMedia("too many Matroska elements", format=FMT, offset=pos)
        pos = el.end
    return out
