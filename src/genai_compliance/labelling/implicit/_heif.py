"""HEIF / HEIC / AVIF: the implicit label as an XMP metadata item (ISO/IEC 23008-12).

Carrier: TC260 image practice guide (PG-2025-CARRIERS; LM-5) names HEIF among the XMP
carriers: XMP with ``TC260:AIGC``. In a HEIF file XMP is an *item* of the top-level ``meta``
box: an ``infe`` entry (item type ``mime``, content type ``application/rdf+xml``), an ``iloc``
entry saying where its bytes are, and an ``iref`` ``cdsc`` reference from the XMP item to
the primary item (``pitm``) it describes — the layout exiftool and libheif write and read.

Writing never decodes or re-encodes an image: an existing XMP item is merged (its other
properties kept) and its old bytes blanked in place; the new packet goes into a new ``mdat``
box appended at the end of the file, the XMP item's ``iloc`` entry pointing at it (a new item,
``infe`` and ``cdsc`` reference are added when there was none). ``meta`` changes size, so
every ``iloc`` offset (construction method 0, this file) at or past the old end of ``meta`` is
shifted by the difference; field widths grow (4 to 8 bytes) when a value needs it. Only
``ftyp``, ``meta`` and box headers are read into memory (``meta`` at most 16 MiB); image data
is streamed. Reading also finds an EXIF item's ``UserComment`` holding the Annex E JSON.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

import attrs

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._exif import blank_labels, exif_labels
from genai_compliance.labelling.implicit._isobmff import TopBox, box_bytes, top_boxes
from genai_compliance.labelling.implicit._riff import copy_range, file_size, guarded, read_at
from genai_compliance.labelling.implicit._xmp import merge_xmp, read_xmp_labels

__all__ = ["BRANDS", "HANDLER", "HeifHandler"]

_FMT = "heif"
#: ftyp brands of HEIF image files (HEIC, HEIF, AVIF; image sequences too).
BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2",
          b"avif", b"avis", b"avio"}
_XMP_TYPE = b"application/rdf+xml"
_MAX_META = 16 << 20
_MAX_ITEMS = 65_536
_MAX_EXTENTS = 4096


def _u(data: bytes, pos: int, size: int) -> int:
    if size == 0:
        return 0
    if pos + size > len(data):
        raise MalformedMedia("HEIF box truncated", format=_FMT, offset=pos)
    return int.from_bytes(data[pos:pos + size], "big")


@attrs.define
class _Extent:
    index: int
    offset: int
    length: int


@attrs.define
class _Loc:
    item_id: int
    method: int
    dref: int
    base: int
    extents: list[_Extent]


@attrs.define
class _Iloc:
    version: int
    flags: int
    offset_size: int
    length_size: int
    base_size: int
    index_size: int
    items: list[_Loc]

    @classmethod
    def parse(cls, p: bytes) -> _Iloc:
        """``iloc`` payload (after the box header)."""
        if len(p) < 6:
            raise MalformedMedia("iloc box truncated", format=_FMT, offset=None)
        version, flags = p[0], int.from_bytes(p[1:4], "big")
        if version > 2:
            raise UnsupportedMedia(f"iloc version {version} is not supported", format=_FMT)
        offset_size, length_size = p[4] >> 4, p[4] & 15
        base_size, index_size = p[5] >> 4, (p[5] & 15) if version else 0
        for s in (offset_size, length_size, base_size, index_size):
            if s not in (0, 4, 8):
                raise MalformedMedia(f"iloc field size {s} is not 0, 4 or 8", format=_FMT,
                                     offset=None)
        pos = 6
        wid = 4 if version == 2 else 2
        count = _u(p, pos, wid)
        pos += wid
        if count > _MAX_ITEMS:
            raise UnsupportedMedia("more than 65536 HEIF items", format=_FMT)
        items = []
        for _ in range(count):
            item_id = _u(p, pos, wid)
            pos += wid
            method = 0
            if version:
                method = _u(p, pos, 2) & 15
                pos += 2
            dref = _u(p, pos, 2)
            pos += 2
            base = _u(p, pos, base_size)
            pos += base_size
            n = _u(p, pos, 2)
            pos += 2
            if n > _MAX_EXTENTS:
                raise UnsupportedMedia("HEIF item with more than 4096 extents", format=_FMT)
            extents = []
            for _ in range(n):
                index = _u(p, pos, index_size)
                pos += index_size
                off = _u(p, pos, offset_size)
                pos += offset_size
                length = _u(p, pos, length_size)
                pos += length_size
                extents.append(_Extent(index, off, length))
            items.append(_Loc(item_id, method, dref, base, extents))
        return cls(version, flags, offset_size, length_size, base_size, index_size, items)

    def serialize(self) -> bytes:
        """The ``iloc`` box (header included)."""
        wid = 4 if self.version == 2 else 2
        out = bytearray([self.version]) + self.flags.to_bytes(3, "big")
        out += bytes([self.offset_size << 4 | self.length_size,
                      self.base_size << 4 | (self.index_size if self.version else 0)])
        out += len(self.items).to_bytes(wid, "big")
        for it in self.items:
            out += it.item_id.to_bytes(wid, "big")
            if self.version:
                out += it.method.to_bytes(2, "big")
            out += it.dref.to_bytes(2, "big") + it.base.to_bytes(self.base_size, "big")
            out += len(it.extents).to_bytes(2, "big")
            for e in it.extents:
                if self.version and self.index_size:
                    out += e.index.to_bytes(self.index_size, "big")
                out += e.offset.to_bytes(self.offset_size, "big")
                out += e.length.to_bytes(self.length_size, "big")
        return box_bytes(b"iloc", bytes(out))

    def widen(self) -> None:
        """Grow field widths so every value fits (4 -> 8 bytes; 0 -> 4 when a value needs
        one); item ids past 65535 need version 2."""
        def need(v: int) -> int:
            return 0 if v == 0 else (4 if v <= 0xFFFFFFFF else 8)

        for it in self.items:
            self.base_size = max(self.base_size, need(it.base))
            for e in it.extents:
                self.offset_size = max(self.offset_size, need(e.offset))
                self.length_size = max(self.length_size, need(e.length))
            if it.item_id > 0xFFFF:
                self.version = 2


@attrs.define
class _Child:
    btype: bytes
    raw: bytes
    offset: int


def _children(data: bytes, base: int) -> list[_Child]:
    out = []
    pos = 0
    while pos + 8 <= len(data):
        size, btype = struct.unpack_from(">I4s", data, pos)
        hl = 8
        if size == 1:
            size, hl = _u(data, pos + 8, 8), 16
        elif size == 0:
            size = len(data) - pos
        if size < hl or pos + size > len(data):
            raise MalformedMedia(f"HEIF box {btype!r} has an impossible size", format=_FMT,
                                 offset=base + pos)
        out.append(_Child(btype, data[pos:pos + size], base + pos))
        pos += size
        if len(out) > _MAX_ITEMS:
            raise UnsupportedMedia("too many boxes in HEIF meta", format=_FMT)
    return out


def _payload(raw: bytes) -> bytes:
    return raw[16:] if struct.unpack_from(">I", raw)[0] == 1 else raw[8:]


@attrs.define
class _Info:
    item_id: int
    item_type: bytes
    content_type: bytes


def _infes(iinf: bytes) -> list[_Info]:
    p = _payload(iinf)
    if len(p) < 6:
        raise MalformedMedia("iinf box truncated", format=_FMT, offset=None)
    start = 6 if p[0] == 0 else 8
    out = []
    for c in _children(p[start:], 0):
        if c.btype != b"infe":
            continue
        q = _payload(c.raw)
        version = q[0] if q else 0
        if version < 2:
            out.append(_Info(_u(q, 4, 2), b"", b""))
            continue
        wid = 2 if version == 2 else 4
        item_id = _u(q, 4, wid)
        pos = 4 + wid + 2
        item_type = q[pos:pos + 4]
        pos += 4
        end = q.find(b"\x00", pos)
        pos = len(q) if end < 0 else end + 1
        content = b""
        if item_type == b"mime":
            end = q.find(b"\x00", pos)
            content = q[pos:end if end >= 0 else len(q)]
        out.append(_Info(item_id, item_type, content))
    return out


def _infe(item_id: int) -> bytes:
    version = 2 if item_id <= 0xFFFF else 3
    wid = 2 if version == 2 else 4
    body = (bytes([version, 0, 0, 0]) + item_id.to_bytes(wid, "big") + b"\x00\x00" + b"mime"
            + b"XMP\x00" + _XMP_TYPE + b"\x00")
    return box_bytes(b"infe", body)


def _with_infe(iinf: bytes, item_id: int) -> bytes:
    p = _payload(iinf)
    version = p[0]
    count = _u(p, 4, 2 if version == 0 else 4) + 1
    if version == 0 and count > 0xFFFF:
        version = 1
    head = bytes([version]) + p[1:4] + count.to_bytes(2 if version == 0 else 4, "big")
    start = 6 if p[0] == 0 else 8
    return box_bytes(b"iinf", head + p[start:] + _infe(item_id))


def _with_cdsc(iref: bytes | None, from_id: int, to_id: int) -> bytes:
    version = 0
    body = b""
    if iref is not None:
        p = _payload(iref)
        version, body = p[0], p[4:]
    if version == 0 and max(from_id, to_id) > 0xFFFF:
        raise UnsupportedMedia("HEIF item ids past 65535 in a version-0 iref", format=_FMT)
    wid = 2 if version == 0 else 4
    ref = box_bytes(b"cdsc", from_id.to_bytes(wid, "big") + (1).to_bytes(2, "big")
                    + to_id.to_bytes(wid, "big"))
    return box_bytes(b"iref", bytes([version, 0, 0, 0]) + body + ref)


def _primary(children: list[_Child]) -> int | None:
    for c in children:
        if c.btype == b"pitm":
            p = _payload(c.raw)
            return _u(p, 4, 2 if p[0] == 0 else 4)
    return None


class HeifHandler:
    """HEIF/HEIC/AVIF XMP metadata item reader/writer (ISO/IEC 23008-12; LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """``ftyp`` whose major or a compatible brand is a HEIF/AVIF image brand."""
        if head[4:8] != b"ftyp" or len(head) < 16:
            return False
        size = min(int.from_bytes(head[:4], "big"), len(head))
        brands = [head[8:12]] + [head[i:i + 4] for i in range(16, size - 3, 4)]
        if head[8:12] in (b"qt  ", b"isom", b"mp41", b"mp42", b"M4A ", b"M4V ", b"3gp4",
                          b"3gp5", b"dash", b"iso5", b"iso6", b"avc1", b"crx "):
            return head[8:12] in BRANDS
        return any(b in BRANDS for b in brands)

    def _meta(self, src: BinaryIO) -> tuple[list[TopBox], TopBox, bytes, list[_Child], int]:
        tops = top_boxes(src)
        meta = next((t for t in tops if t.btype == b"meta"), None)
        if meta is None:
            raise MalformedMedia("HEIF file without a top-level meta box", format=_FMT,
                                 offset=0)
        if meta.size > _MAX_META:
            raise UnsupportedMedia("HEIF meta box larger than 16 MiB", format=_FMT,
                                   offset=meta.offset)
        raw = read_at(src, meta.offset, meta.size, _FMT)
        body_at = meta.header + 4
        return tops, meta, raw, _children(raw[body_at:], meta.offset + body_at), body_at

    @staticmethod
    def _item_bytes(src: BinaryIO, loc: _Loc, idat: bytes | None, total: int) -> bytes:
        parts = []
        for e in loc.extents:
            if loc.method == 0 and loc.dref == 0:
                start = loc.base + e.offset
                length = e.length or (total - start)
                if start < 0 or start + length > total or length > _MAX_META:
                    raise MalformedMedia("HEIF item extent outside the file", format=_FMT,
                                         offset=start)
                parts.append(read_at(src, start, length, _FMT))
            elif loc.method == 1 and idat is not None:
                start = loc.base + e.offset
                parts.append(idat[start:start + (e.length or len(idat))])
            else:
                raise UnsupportedMedia("HEIF item stored by reference or in another file",
                                       format=_FMT)
        return b"".join(parts)

    def _items(self, children: list[_Child]) -> tuple[list[_Info], _Iloc | None, bytes | None]:
        infos: list[_Info] = []
        iloc = None
        idat = None
        for c in children:
            if c.btype == b"iinf":
                infos = _infes(c.raw)
            elif c.btype == b"iloc":
                iloc = _Iloc.parse(_payload(c.raw))
            elif c.btype == b"idat":
                idat = _payload(c.raw)
        return infos, iloc, idat

    @guarded
    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Labels in XMP items (any XMP form) and EXIF items' UserComment."""
        total = file_size(src)
        _, meta, _, children, _ = self._meta(src)
        infos, iloc, idat = self._items(children)
        locs = {loc.item_id: loc for loc in (iloc.items if iloc else [])}
        out: list[RawLabel] = []
        for info in infos:
            loc = locs.get(info.item_id)
            if loc is None:
                continue
            if info.item_type == b"mime" and info.content_type == _XMP_TYPE:
                packet = self._item_bytes(src, loc, idat, total)
                out += read_xmp_labels(packet, _FMT, "heif:XMP item", meta.offset)
            elif info.item_type == b"Exif":
                blob = self._item_bytes(src, loc, idat, total)
                skip = 4 + _u(blob, 0, 4) if len(blob) >= 4 else 0
                out += exif_labels(blob[skip:], "heif:Exif item:UserComment", meta.offset)
        return out

    @guarded
    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy with the XMP item carrying ``TC260:AIGC``; image data streamed, untouched."""
        total = file_size(src)
        tops, meta, raw, children, body_at = self._meta(src)
        infos, iloc, idat = self._items(children)
        if iloc is None:
            raise MalformedMedia("HEIF meta without an iloc box", format=_FMT,
                                 offset=meta.offset)
        primary = _primary(children)
        if primary is None:
            raise MalformedMedia("HEIF meta without a primary item (pitm)", format=_FMT,
                                 offset=meta.offset)
        locs = {loc.item_id: loc for loc in iloc.items}
        xmp = next((i for i in infos if i.item_type == b"mime"
                    and i.content_type == _XMP_TYPE and i.item_id in locs), None)
        old: bytes | None = None
        blank: list[tuple[int, int]] = []
        if xmp is not None:
            loc = locs[xmp.item_id]
            old = self._item_bytes(src, loc, idat, total)
            if loc.method == 0:
                blank = [(loc.base + e.offset, e.length or total - loc.base - e.offset)
                         for e in loc.extents]
        zeros = [(start, bytes(n)) for start, n in blank] + self._exif_patches(
            src, infos, locs, idat, total)
        packet = merge_xmp(old, aigc_json, _FMT)
        if xmp is not None and blank and len(blank) == 1 and len(packet) <= blank[0][1]:
            # the merged packet fits the old item's bytes: rewrite them in place (padded
            # with the whitespace XMP allows before the trailer), nothing else moves.
            start, n = blank[0]
            tail = b'<?xpacket end="w"?>'
            body = packet[:-len(tail)] if packet.endswith(tail) else packet
            fill = n - len(body) - (len(tail) if packet.endswith(tail) else 0)
            padded = body + b" " * fill + (tail if packet.endswith(tail) else b"")
            self._copy(src, dst, 0, total, [(start, padded), *self._exif_patches(
                src, infos, locs, idat, total)])
            return
        last = tops[-1]
        if last.end != total:
            raise MalformedMedia("HEIF file with bytes after its last box", format=_FMT,
                                 offset=last.end)
        head = read_at(src, last.offset, 8, _FMT)
        open_ended = struct.unpack(">I", head[:4])[0] == 0
        if open_ended and last.size > 0xFFFFFFFF:
            raise UnsupportedMedia("a last box of size 0 larger than 4 GiB", format=_FMT,
                                   offset=last.offset)
        # build the new meta with a placeholder offset, then fix the offset (sizes stable).
        new_id = xmp.item_id if xmp is not None else max(
            [0, *(i.item_id for i in infos), *locs]) + 1
        if not any(c.btype == b"iinf" for c in children):
            raise MalformedMedia("HEIF meta without an iinf box", format=_FMT,
                                 offset=meta.offset)
        old_end = meta.end

        def shifted(delta: int, xmp_offset: int) -> bytes:
            items = []
            for loc in iloc.items:
                if loc.item_id == new_id:
                    continue
                loc = attrs.evolve(loc, extents=[attrs.evolve(e) for e in loc.extents])
                if loc.method == 0 and loc.dref == 0 and delta:
                    if loc.base:
                        if loc.base >= old_end:
                            loc.base += delta
                    else:
                        for e in loc.extents:
                            if e.offset >= old_end:
                                e.offset += delta
                items.append(loc)
            items.append(_Loc(new_id, 0, 0, 0, [_Extent(0, xmp_offset, len(packet))]))
            table = _Iloc(iloc.version, iloc.flags, max(iloc.offset_size, 4),
                          max(iloc.length_size, 4), iloc.base_size, iloc.index_size, items)
            table.widen()
            if table.version == 0 and any(it.method for it in items):  # pragma: no cover
                table.version = 1
            parts = []
            have_iref = False
            for c in children:
                if c.btype == b"iloc":
                    parts.append(table.serialize())
                elif c.btype == b"iinf" and xmp is None:
                    parts.append(_with_infe(c.raw, new_id))
                elif c.btype == b"iref" and xmp is None:
                    parts.append(_with_cdsc(c.raw, new_id, primary))
                    have_iref = True
                else:
                    parts.append(c.raw)
            if xmp is None and not have_iref:
                parts.append(_with_cdsc(None, new_id, primary))
            return box_bytes(b"meta", raw[meta.header:body_at] + b"".join(parts))

        xmp_offset = 0
        new_meta = shifted(0, 0)
        for _ in range(4):  # the offset's width can change the meta size once or twice
            delta = len(new_meta) - meta.size
            xmp_offset = total + delta + 8
            candidate = shifted(delta, xmp_offset)
            if len(candidate) == len(new_meta):
                new_meta = candidate
                break
            new_meta = candidate
        else:  # pragma: no cover - widths only grow, so this converges
            raise MalformedMedia("HEIF meta size does not settle", format=_FMT,
                                 offset=meta.offset)
        delta = len(new_meta) - meta.size
        if total + delta + 8 != xmp_offset:  # pragma: no cover - checked by the loop
            raise MalformedMedia("HEIF offsets inconsistent", format=_FMT, offset=None)
        self._copy(src, dst, 0, meta.offset, zeros)
        dst.write(new_meta)
        if open_ended and last.offset >= meta.end:
            self._copy(src, dst, meta.end, last.offset - meta.end, zeros)
            dst.write(struct.pack(">I", last.size) + head[4:8])
            self._copy(src, dst, last.offset + 8, total - last.offset - 8, zeros)
        else:
            self._copy(src, dst, meta.end, total - meta.end, zeros)
        dst.write(box_bytes(b"mdat", packet))

    def _exif_patches(self, src: BinaryIO, infos: list[_Info], locs: dict[int, _Loc],
                      idat: bytes | None, total: int) -> list[tuple[int, bytes]]:
        """Same-length rewrites blanking a label-bearing UserComment in EXIF items stored
        in one extent of this file (so the output keeps exactly one label)."""
        out = []
        for info in infos:
            loc = locs.get(info.item_id)
            if info.item_type != b"Exif" or loc is None or loc.method != 0 \
                    or len(loc.extents) != 1:
                continue
            blob = self._item_bytes(src, loc, idat, total)
            skip = 4 + _u(blob, 0, 4) if len(blob) >= 4 else 0
            blanked = blob[:skip] + blank_labels(blob[skip:])
            if blanked != blob:
                out.append((loc.base + loc.extents[0].offset, blanked))
        return out

    @staticmethod
    def _copy(src: BinaryIO, dst: BinaryIO, offset: int, length: int,
              patches: list[tuple[int, bytes]]) -> None:
        """Copy a range, writing ``patches`` (offset, same-length bytes) over it: zeros over
        the old XMP item's bytes, or the new packet in their place."""
        pos = offset
        end = offset + length
        for start, blob in sorted(patches):
            s, e = max(start, pos), min(start + len(blob), end)
            if s >= e:
                continue
            copy_range(src, dst, pos, s - pos, _FMT)
            dst.write(blob[s - start:e - start])
            pos = e
        copy_range(src, dst, pos, end - pos, _FMT)


HANDLER = HeifHandler()
