"""MP4 / MOV / M4A / 3GP (fragmented MP4 included): the label as QuickTime metadata key ``AIGC``.

Carrier: TC260-PG-20257A §6.1.1 (video practice guide, 2025-08-28): ``moov/udta/meta`` with the
key ``AIGC`` in ``keys`` and the GB 45438 Annex E JSON in ``ilst`` (REQUIREMENTS §2.4, tag S,
"tested" with ffmpeg ``-movflags use_metadata_tags``; LM-5). We write exactly what ffmpeg
writes with that flag: ``meta`` (full box) → ``hdlr`` type ``mdta`` → ``keys`` (namespace
``mdta``, key ``AIGC``) → ``ilst`` item numbered by the key index → ``data`` (type 1 = UTF-8,
locale 0). M4A uses the same carrier (REQUIREMENTS marks M4A "not verified"; the audio guide's
annex was not available, so we chose the video guide's box, which ffprobe and exiftool read).

Reading finds ``AIGC`` keys in every ``mdta`` ``meta`` of ``moov`` (``moov/meta`` as Apple writes
it, ``moov/udta/meta`` as ffmpeg does, track ``udta``), iTunes free-form ``----`` items named
``AIGC`` and legacy ``udta/AIGC`` boxes (read by StarPluckerZ/AigcTotal). Writing removes all of
those and writes one ``AIGC`` key (into the ``mdta`` meta that held it, else a new or existing
``udta`` ``mdta`` meta); every other box of ``moov`` is kept byte for byte.

Offsets stay valid: when the new ``moov`` has a different size, a following ``free``/``skip``
box absorbs the change, or a ``free`` box fills a shrink; otherwise every chunk offset in
``stco``/``co64`` that points past the old ``moov`` is shifted (``stco`` promoted to ``co64``
when a value passes 4 GiB), and in fragmented files every explicit ``tfhd`` base-data-offset and
``tfra`` moof offset past it too (moof-relative offsets and ``sidx`` references after ``moov``
need no change). ``mdat`` is never read into memory: only box headers, ``moov``, ``moof`` and
``mfra`` are, so a 2 GB file is labelled in bounded memory. Not handled: ``saio`` tables with
absolute offsets in ``moov`` (CENC-encrypted files) when ``moov`` precedes ``mdat`` and grows —
such files are refused as :class:`UnsupportedMedia` rather than silently broken.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._isobmff import (
    FMT,
    Box,
    TopBox,
    box_bytes,
    parse_tree,
    serialize,
    top_boxes,
)
from genai_compliance.labelling.implicit._riff import copy_range as _copy
from genai_compliance.labelling.implicit._riff import file_size, guarded, read_at
from genai_compliance.labelling.implicit._xmp import merge_xmp, read_xmp_labels

__all__ = ["HANDLER", "Mp4Handler"]

_KEY = b"AIGC"
#: ISO BMFF ``uuid`` box type for XMP (XMP specification part 3).
XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
_MAX_UUID = 16 << 20
_MAX_MOOV = 256 << 20
_IMAGE_BRANDS = {
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis",
    b"jpeg", b"avci",
}  # fmt: skip
_QT_TOPS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def _is_key(name: bytes) -> bool:
    """``AIGC``, or a reverse-DNS key ending in ``.AIGC`` (exiftool writes
    ``com.apple.quicktime.AIGC`` into ``moov/meta``)."""
    up = name.upper()
    return up == _KEY or up.endswith(b"." + _KEY)


def _walk(box: Box) -> list[Box]:
    out = [box]
    for c in box.children:
        out += _walk(c)
    return out


def _hdlr_type(meta: Box) -> bytes:
    for c in meta.find(b"hdlr"):
        p = c.payload()
        if len(p) >= 12:
            return p[8:12]
    return b""


def _parse_keys(meta: Box) -> list[tuple[bytes, bytes]]:
    """(namespace, name) per key index (1-based in ilst)."""
    keys = meta.find(b"keys")
    if not keys:
        return []
    p = keys[0].payload()
    if len(p) < 8:
        raise MalformedMedia("keys box truncated", format=FMT, offset=keys[0].offset)
    count = struct.unpack_from(">I", p, 4)[0]
    pos = 8
    out = []
    for _ in range(count):
        if pos + 8 > len(p):
            raise MalformedMedia("keys entry truncated", format=FMT, offset=keys[0].offset + pos)
        size, ns = struct.unpack_from(">I4s", p, pos)
        if size < 8 or pos + size > len(p):
            raise MalformedMedia("keys entry size", format=FMT, offset=keys[0].offset + pos)
        out.append((ns, p[pos + 8 : pos + size]))
        pos += size
    return out


def _data_values(item: Box) -> list[str]:
    """The text of the ``data`` boxes inside an ``ilst`` item (a leaf kept raw)."""
    raw = item.payload() if item.raw is not None else b""
    if item.raw is None:
        raw = b"".join(serialize(c) for c in item.children)
    out = []
    for c in parse_tree(raw, item.offset):
        if c.btype == b"data" and c.raw is not None:
            p = c.payload()
            if len(p) >= 8:
                out.append(p[8:].decode("utf-8", errors="replace"))
    return out


def _is_freeform_label(item: Box) -> bool:
    for c in item.children:
        if c.btype == b"name" and c.raw is not None and c.payload()[4:].upper() == _KEY:
            return True
    return False


def _is_mdta(meta: Box) -> bool:
    """A QuickTime keys/ilst ``meta``: ``hdlr`` type ``mdta``, or no ``hdlr`` at all but a
    ``keys`` box (some writers omit the handler; AigcTotal reads those too)."""
    kind = _hdlr_type(meta)
    return kind == b"mdta" or (not meta.find(b"hdlr") and bool(meta.find(b"keys")))


def _uuid_xmp(box: Box) -> list[RawLabel]:
    if box.btype != b"uuid" or box.raw is None:
        return []
    p = box.payload()
    if p[:16] != XMP_UUID:
        return []
    return read_xmp_labels(p[16:], FMT, "mp4:uuid:XMP", box.offset)


def _labels_in(moov: Box) -> list[RawLabel]:
    found: list[RawLabel] = []
    for box in _walk(moov):
        found += _uuid_xmp(box)
        if box.btype in (b"AIGC", b"aigc") and box.raw is not None:
            text = box.payload().rstrip(b"\x00").decode("utf-8", errors="replace")
            found.append(RawLabel("mp4:udta/AIGC", text, box.offset))
        if box.btype != b"meta":
            continue
        ilst = box.find(b"ilst")
        if not ilst:
            continue
        if _is_mdta(box):
            keys = _parse_keys(box)
            wanted = {i + 1 for i, (_, name) in enumerate(keys) if _is_key(name)}
            for item in ilst[0].children:
                if len(item.btype) == 4 and struct.unpack(">I", item.btype)[0] in wanted:
                    for text in _data_values(item):
                        found.append(RawLabel("mp4:meta/keys/AIGC", text, item.offset))
        for item in ilst[0].find(b"----"):
            if _is_freeform_label(item):
                for c in item.find(b"data"):
                    p = c.payload()
                    text = p[8:].decode("utf-8", errors="replace")
                    found.append(RawLabel("mp4:ilst/----:AIGC", text, c.offset))
    return found


def _new_meta(full_box: bool = True) -> Box:
    """A fresh mdta meta: an ISO full box in ``udta``, a plain QuickTime atom (no
    version/flags, as Apple and exiftool write it) directly in ``moov``."""
    hdlr = box_bytes(b"hdlr", bytes(8) + b"mdta" + bytes(12) + b"\x00")
    return Box(
        b"meta",
        prefix=bytes(4) if full_box else b"",
        children=[
            Box(b"hdlr", raw=hdlr),
            Box(b"keys", raw=box_bytes(b"keys", bytes(4) + struct.pack(">I", 0))),
            Box(b"ilst", children=[]),
        ],
    )


def _rebuild_mdta(meta: Box, aigc_json: str | None) -> None:
    """Drop ``AIGC`` keys (renumbering ilst items); add one holding ``aigc_json`` if given."""
    keys = _parse_keys(meta)
    if not meta.find(b"ilst"):
        meta.children.append(Box(b"ilst", children=[]))
    ilst = meta.find(b"ilst")[0]
    renumber: dict[int, int] = {}
    kept: list[tuple[bytes, bytes]] = []
    for i, (ns, name) in enumerate(keys):
        if not _is_key(name):
            kept.append((ns, name))
            renumber[i + 1] = len(kept)
    items: list[Box] = []
    for item in ilst.children:
        idx = struct.unpack(">I", item.btype)[0] if len(item.btype) == 4 else -1
        if idx not in renumber:
            continue  # an AIGC item, or one pointing at no key
        if item.raw is None:
            items.append(Box(item.btype, raw=serialize(item)))
            item = items[-1]
        new_type = struct.pack(">I", renumber[idx])
        raw = item.raw
        assert raw is not None
        items.append(Box(new_type, raw=raw[:4] + new_type + raw[8:], offset=item.offset))
    if aigc_json is not None:
        kept.append((b"mdta", _KEY))
        value = box_bytes(b"data", struct.pack(">II", 1, 0) + aigc_json.encode("utf-8"))
        new_type = struct.pack(">I", len(kept))
        items.append(Box(new_type, raw=box_bytes(new_type, value)))
    ilst.children = items
    entries = b"".join(struct.pack(">I4s", 8 + len(n), ns) + n for ns, n in kept)
    keys_raw = box_bytes(b"keys", bytes(4) + struct.pack(">I", len(kept)) + entries)
    old = meta.find(b"keys")
    if old:
        old[0].raw = keys_raw
    else:
        pos = next((i for i, c in enumerate(meta.children) if c.btype == b"ilst"), 0)
        meta.children.insert(pos, Box(b"keys", raw=keys_raw))


def _stripped_uuid(raw: bytes) -> bytes | None:
    """A moov-level XMP ``uuid`` leaf without its AIGC properties, or None if it has none."""
    box = Box(b"uuid", raw=raw)
    if not _uuid_xmp(box):
        return None
    p = box.payload()
    return box_bytes(b"uuid", XMP_UUID + merge_xmp(p[16:], None, FMT))


def _strip_other_carriers(moov: Box) -> None:
    for box in _walk(moov):
        if box.btype == b"uuid" and box.raw is not None:
            new = _stripped_uuid(box.raw)
            if new is not None:
                box.raw = new
        if box.btype == b"udta":
            box.children = [c for c in box.children if c.btype not in (b"AIGC", b"aigc")]
        if box.btype == b"ilst":
            box.children = [
                c for c in box.children if not (c.btype == b"----" and _is_freeform_label(c))
            ]


def _label_moov(moov: Box, aigc_json: str) -> None:
    _strip_other_carriers(moov)
    metas = [b for b in _walk(moov) if b.btype == b"meta" and _is_mdta(b)]
    holders = [m for m in metas if any(_is_key(n) for _, n in _parse_keys(m))]
    for m in holders[1:]:
        _rebuild_mdta(m, None)
    if holders:
        _rebuild_mdta(holders[0], aigc_json)
        return
    udtas = moov.find(b"udta")
    if not udtas:
        udta = Box(b"udta", children=[])
        moov.children.append(udta)
    else:
        udta = udtas[0]
    target = next((m for m in [*udta.find(b"meta"), *moov.find(b"meta")] if _is_mdta(m)),
                  None)  # merge into an existing mdta meta (udta's, else Apple's moov/meta)
    if target is None:
        if udta.find(b"meta"):
            # udta already holds a meta of another handler (iTunes mdir): a container holds
            # at most one meta (ISO/IEC 14496-12 8.11.1), so the mdta keys go to moov/meta,
            # where Apple writes them and ffprobe/exiftool read them, merged if present.
            top = next((m for m in moov.find(b"meta") if _is_mdta(m)), None)
            if top is None and not moov.find(b"meta"):
                top = _new_meta(full_box=False)
                moov.children.append(top)
            if top is not None:
                _rebuild_mdta(top, aigc_json)
                return
        target = _new_meta()
        udta.children.append(target)
    _rebuild_mdta(target, aigc_json)


def _patch_table(box: Box, shift: int, after: int, promote: set[int]) -> bytes:
    """``stco``/``co64`` with entries >= ``after`` shifted by ``shift``."""
    assert box.raw is not None
    if box.btype not in (b"stco", b"co64") or (shift == 0 and id(box) not in promote):
        return box.raw
    p = box.payload()
    if len(p) < 8:
        raise MalformedMedia(f"{box.btype!r} truncated", format=FMT, offset=box.offset)
    count = struct.unpack_from(">I", p, 4)[0]
    width = 4 if box.btype == b"stco" else 8
    if 8 + count * width > len(p):
        raise MalformedMedia(f"{box.btype!r} entries truncated", format=FMT, offset=box.offset)
    vals = struct.unpack_from(f">{count}{'I' if width == 4 else 'Q'}", p, 8)
    vals = tuple(v + shift if v >= after else v for v in vals)
    if box.btype == b"co64" or id(box) in promote:
        return box_bytes(b"co64", p[:8] + struct.pack(f">{count}Q", *vals) + p[8 + count * width :])
    return box_bytes(b"stco", p[:8] + struct.pack(f">{count}I", *vals) + p[8 + count * width :])


def _needs_promotion(moov: Box, shift: int, after: int) -> list[Box]:
    out = []
    for box in _walk(moov):
        if box.btype == b"stco" and box.raw is not None and shift > 0:
            p = box.payload()
            count = struct.unpack_from(">I", p, 4)[0] if len(p) >= 8 else 0
            vals = struct.unpack_from(f">{count}I", p, 8) if len(p) >= 8 + 4 * count else ()
            if any(v >= after and v + shift > 0xFFFFFFFF for v in vals):
                out.append(box)
    return out


def _patch_moof(data: bytearray, shift: int, after: int, base: int) -> None:
    """Shift explicit ``tfhd`` base-data-offsets inside a ``moof`` (in place)."""
    for traf in parse_tree(bytes(data[8:]), base + 8):
        if traf.btype != b"traf" or traf.raw is None:
            continue
        payload = traf.payload()
        for c in parse_tree(payload, traf.offset + len(traf.raw) - len(payload)):
            if c.btype == b"tfhd" and c.raw is not None:
                p = c.payload()
                if len(p) >= 16 and int.from_bytes(p[1:4], "big") & 1:
                    v = struct.unpack_from(">Q", p, 8)[0]
                    if v >= after:
                        rel = c.offset - base + (len(c.raw) - len(p)) + 8
                        struct.pack_into(">Q", data, rel, v + shift)


def _patch_mfra(data: bytearray, shift: int, after: int, base: int) -> None:
    """Shift ``tfra`` moof offsets inside an ``mfra`` (in place)."""
    for c in parse_tree(bytes(data[8:]), base + 8):
        if c.btype != b"tfra" or c.raw is None:
            continue
        p = c.payload()
        if len(p) < 16:
            raise MalformedMedia("tfra truncated", format=FMT, offset=c.offset)
        version = p[0]
        sizes = struct.unpack_from(">I", p, 8)[0]
        count = struct.unpack_from(">I", p, 12)[0]
        extra = ((sizes >> 4) & 3) + ((sizes >> 2) & 3) + (sizes & 3) + 3
        w = 8 if version == 1 else 4
        entry = 2 * w + extra
        if 16 + count * entry > len(p):
            raise MalformedMedia("tfra entries truncated", format=FMT, offset=c.offset)
        for i in range(count):
            at = 16 + i * entry + w
            v = int.from_bytes(p[at : at + w], "big")
            if v >= after:
                if v + shift >= 1 << (8 * w):
                    raise UnsupportedMedia("tfra offset overflow", format=FMT, offset=c.offset)
                rel = c.offset - base + (len(c.raw) - len(p)) + at
                data[rel : rel + w] = (v + shift).to_bytes(w, "big")


def _copy_patched(src: BinaryIO, dst: BinaryIO, start: int, length: int,
                  patches: list[tuple[int, bytes]]) -> None:
    """Copy a range of ``src`` with same-length ``patches`` (offset, bytes) applied."""
    pos, end = start, start + length
    for at, blob in sorted(patches):
        s, e = max(at, pos), min(at + len(blob), end)
        if s >= e:
            continue
        _copy(src, dst, pos, s - pos, FMT)
        dst.write(blob[s - at:e - at])
        pos = e
    _copy(src, dst, pos, end - pos, FMT)


def _free(n: int) -> bytes:
    return struct.pack(">I4s", n, b"free") + bytes(n - 8)


def _write_free(dst: BinaryIO, n: int) -> None:
    """A ``free`` box of ``n`` bytes written in bounded pieces (a consumed free box can be
    as large as the file: it is never built in memory)."""
    if n == 0:
        return
    if n > 0xFFFFFFFF:
        dst.write(struct.pack(">I4sQ", 1, b"free", n))
        left = n - 16
    else:
        dst.write(struct.pack(">I4s", n, b"free"))
        left = n - 8
    block = bytes(min(left, 1 << 20))
    while left > 0:
        dst.write(block[:left])
        left -= len(block)


class Mp4Handler:
    """QuickTime ``mdta`` key ``AIGC`` reader/writer (TC260-PG-20257A §6.1.1, LM-5)."""

    name = FMT

    def sniff(self, head: bytes) -> bool:
        """``ftyp`` with a video/audio brand, or a QuickTime file starting with a known atom."""
        if head[4:8] == b"ftyp":
            return head[8:12] not in _IMAGE_BRANDS
        return head[4:8] in _QT_TOPS and len(head) >= 8

    def _moov(self, src: BinaryIO) -> tuple[list[TopBox], int, Box]:
        tops = top_boxes(src)
        idx = next((i for i, b in enumerate(tops) if b.btype == b"moov"), None)
        if idx is None:
            raise MalformedMedia("no moov box", format=FMT, offset=0)
        top = tops[idx]
        if top.size > _MAX_MOOV:
            raise UnsupportedMedia("moov box larger than 256 MiB", format=FMT, offset=top.offset)
        raw = read_at(src, top.offset, top.size, FMT)
        tree = parse_tree(raw, top.offset)
        if len(tree) != 1:
            raise MalformedMedia("moov box unreadable", format=FMT, offset=top.offset)
        return tops, idx, tree[0]

    @guarded
    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every ``AIGC`` key value (and legacy carrier) in ``moov``, and XMP ``uuid`` boxes.
        A file whose top-level boxes are intact but that has no ``moov`` (skeletal) holds
        no key carrier: only its top-level ``uuid`` boxes are read."""
        tops = top_boxes(src)
        if not tops or (tops[0].btype != b"ftyp" and not any(t.btype == b"moov"
                                                                for t in tops)):
            raise MalformedMedia("neither ftyp nor moov: not an MP4/QuickTime file",
                                 format=FMT, offset=0)
        found = (_labels_in(self._moov(src)[2]) if any(t.btype == b"moov" for t in tops)
                 else [])
        for top in tops:
            if top.btype == b"uuid" and top.size <= _MAX_UUID:
                raw = read_at(src, top.offset, top.size, FMT)
                found += _uuid_xmp(Box(b"uuid", raw=raw, offset=top.offset))
        return found

    @guarded
    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy ``src`` with one ``AIGC`` key; ``mdat`` streamed, offsets kept valid."""
        total = file_size(src)
        tops, idx, moov = self._moov(src)
        top = tops[idx]
        _label_moov(moov, aigc_json)
        after = top.end
        nxt = tops[idx + 1] if idx + 1 < len(tops) else None
        spare = nxt.size if nxt is not None and nxt.btype in (b"free", b"skip") else 0
        promote: set[int] = set()
        while True:
            new_len = len(serialize(moov, lambda b: _patch_table(b, 0, after, promote)))
            fill, consumed = self._fit(new_len, top.size, spare)
            shift = 0 if fill is not None else new_len - top.size
            more = [b for b in _needs_promotion(moov, shift, after) if id(b) not in promote]
            if not more:
                break
            promote.update(id(b) for b in more)
        data_after = any(b.btype != b"free" and b.btype != b"skip" for b in tops[idx + 1 :])
        if shift and data_after and any(b.btype == b"saio" for b in _walk(moov)):
            raise UnsupportedMedia(
                "moov with saio offsets cannot grow in front of its data", format=FMT,
                offset=top.offset,
            )  # fmt: skip
        new = serialize(moov, lambda b: _patch_table(b, shift, after, promote))
        patches = self._uuid_patches(src, tops)

        def copy_range(src: BinaryIO, dst: BinaryIO, start: int, length: int,
                       fmt: str) -> None:
            _copy_patched(src, dst, start, length, patches)

        copy_range(src, dst, 0, top.offset, FMT)
        dst.write(new)
        if fill:
            _write_free(dst, fill)
        pos = top.end + (spare if consumed else 0)
        if shift == 0:
            copy_range(src, dst, pos, total - pos, FMT)
            return
        for box in tops[idx + 1 :]:
            if box.offset < pos:
                continue
            if box.btype in (b"moof", b"mfra") and box.size <= _MAX_MOOV:
                data = bytearray(read_at(src, box.offset, box.size, FMT))
                if box.header != 8:
                    raise UnsupportedMedia("moof with a 64-bit size", format=FMT, offset=box.offset)
                if box.btype == b"moof":
                    _patch_moof(data, shift, after, box.offset)
                else:
                    _patch_mfra(data, shift, after, box.offset)
                dst.write(data)
            else:
                copy_range(src, dst, box.offset, box.size, FMT)
            pos = box.end
        copy_range(src, dst, pos, total - pos, FMT)

    @staticmethod
    def _uuid_patches(src: BinaryIO, tops: list[TopBox]) -> list[tuple[int, bytes]]:
        """Same-size rewrites of top-level XMP ``uuid`` boxes holding an AIGC property: the
        packet without it, padded; a ``free`` box when it would not fit (nothing moves)."""
        out = []
        for top in tops:
            if top.btype != b"uuid" or top.size > _MAX_UUID or top.header != 8:
                continue
            raw = read_at(src, top.offset, top.size, FMT)
            new = _stripped_uuid(raw)
            if new is None:
                continue
            if len(new) <= len(raw):
                tail = b'<?xpacket end="w"?>'
                body = new[8:]
                pad = len(raw) - len(new)
                if body.endswith(tail):
                    body = body[:-len(tail)] + b" " * pad + tail
                else:
                    body += b" " * pad
                out.append((top.offset, struct.pack(">I4s", len(raw), b"uuid") + body))
            else:
                out.append((top.offset, _free(len(raw))))
        return out

    @staticmethod
    def _fit(new_len: int, old_len: int, spare: int) -> tuple[int | None, bool]:
        """(size of the filler free box, 0 for none, or None if the size change cannot be
        absorbed; whether the following free box was consumed)."""
        diff = old_len - new_len
        if diff == 0:
            return 0, False
        if diff >= 8 and (diff <= 0xFFFFFFFF or diff >= 16):
            return diff, False
        if spare:
            room = old_len + spare - new_len
            if room == 0:
                return 0, True
            if room >= 8 and (room <= 0xFFFFFFFF or room >= 16):
                return room, True
        return None, False


HANDLER = Mp4Handler()
