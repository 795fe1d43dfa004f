"""Matroska / WebM: the label as ``Segment/Tags/Tag/SimpleTag`` with TagName ``AIGC``.

Carrier: TC260-PG-20257A (video practice guide, 2025-08-28): a SimpleTag named ``AIGC`` whose
TagString is the GB 45438 Annex E JSON (REQUIREMENTS §2.4, tag S; LM-5). We write it in a
global Tag (empty ``Targets``), as ffmpeg does for ``-metadata AIGC=…``, so ffprobe shows it
as a format tag and exiftool as ``Matroska:AIGC``.

Offsets stay valid: SeekHead and Cues positions are relative to the Segment data, so no
existing element may move. The merged ``Tags`` (old tags minus any ``AIGC`` SimpleTag, plus
the label) is written where the old ``Tags`` was when it fits there with the ``Void`` that
follows; otherwise every old ``Tags`` becomes a ``Void`` of the same length and the new
``Tags`` is appended at the end of the Segment, whose size is updated (unknown-size Segments
stay unknown), and the SeekHead's ``Tags`` entry is updated or added when the SeekHead (with
the ``Void`` after it) has room — if not, the entry is dropped rather than left pointing at a
Void. A ``CRC-32`` child of ``Tags``/``SeekHead`` is recomputed. Clusters are streamed.
"""

from __future__ import annotations

import collections
import struct
import zlib
from typing import BinaryIO

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._ebml import (
    FMT,
    UNKNOWN,
    Element,
    children,
    element,
    encode_id,
    encode_size,
    fit,
    level1,
    read_element_header,
    void,
)
from genai_compliance.labelling.implicit._riff import copy_range, file_size, guarded, read_at

__all__ = ["HANDLER", "MkvHandler"]

EBML = 0x1A45DFA3
SEGMENT = 0x18538067
SEEKHEAD = 0x114D9B74
SEEK = 0x4DBB
SEEKID = 0x53AB
SEEKPOS = 0x53AC
TAGS = 0x1254C367
TAG = 0x7373
TARGETS = 0x63C0
SIMPLETAG = 0x67C8
TAGNAME = 0x45A3
TAGSTRING = 0x4487
TAGLANG = 0x447A
VOID = 0xEC
CRC32 = 0xBF
_MAX_META = 64 << 20


def _with_crc(had_crc: bool, body: bytes) -> bytes:
    if not had_crc:
        return body
    return element(CRC32, struct.pack("<I", zlib.crc32(body))) + body


#: deepest SimpleTag nesting accepted (real files nest two or three levels).
_MAX_NEST = 32


class MkvHandler:
    """Matroska/WebM SimpleTag ``AIGC`` reader/writer (TC260-PG-20257A, LM-5)."""

    name = FMT

    def sniff(self, head: bytes) -> bool:
        """An EBML header whose DocType is ``matroska`` or ``webm``."""
        return head[:4] == b"\x1a\x45\xdf\xa3" and (b"matroska" in head or b"webm" in head)

    def _segment(self, f: BinaryIO) -> tuple[Element, int, list[Element]]:
        total = file_size(f)
        head = read_element_header(f, 0)
        if head.eid != EBML or head.size == UNKNOWN:
            raise MalformedMedia("no EBML header", format=FMT, offset=0)
        pos = head.end
        while True:
            if pos >= total:
                raise MalformedMedia("no Matroska Segment", format=FMT, offset=pos)
            seg = read_element_header(f, pos)
            if seg.eid == SEGMENT:
                break
            if seg.eid != VOID or seg.size == UNKNOWN:
                raise MalformedMedia("no Matroska Segment", format=FMT, offset=pos)
            pos = seg.end
        end = total if seg.size == UNKNOWN else seg.end
        if end > total:
            raise MalformedMedia("Matroska Segment truncated", format=FMT, offset=seg.offset)
        return seg, end, level1(f, seg.data, end)

    @staticmethod
    def _body(f: BinaryIO, el: Element) -> bytes:
        if el.size > _MAX_META:
            raise UnsupportedMedia("metadata element too large", format=FMT, offset=el.offset)
        return read_at(f, el.data, el.size, FMT)

    @staticmethod
    def _simple(data: bytes, base: int, st: Element) -> tuple[str, str | None]:
        name, value = "", None
        body = data[st.data - base : st.end - base]
        for c in children(body, st.data):
            cb = body[c.data - st.data : c.end - st.data]
            if c.eid == TAGNAME:
                name = cb.decode("utf-8", errors="replace")
            elif c.eid == TAGSTRING:
                value = cb.rstrip(b"\x00").decode("utf-8", errors="replace")
        return name, value

    def _labels(self, data: bytes, base: int) -> list[RawLabel]:
        out = []
        for tag in children(data, base):
            if tag.eid != TAG:
                continue
            tb = data[tag.data - base : tag.end - base]
            stack = collections.deque([(tb, tag.data, 0)])
            while stack:
                body, at, depth = stack.popleft()
                if depth > _MAX_NEST:
                    raise MalformedMedia(f"SimpleTags nested deeper than {_MAX_NEST}; the "
                                         "file is refused as hostile or damaged", format=FMT,
                                         offset=at)
                for st in children(body, at):
                    if st.eid != SIMPLETAG:
                        continue
                    name, value = self._simple(body, at, st)
                    if name.upper() == "AIGC" and value is not None:
                        out.append(RawLabel("mkv:Tags/SimpleTag:AIGC", value, st.offset))
                    stack.append((body[st.data - at : st.end - at], st.data, depth + 1))
        return out

    @guarded
    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every SimpleTag named ``AIGC`` in every ``Tags`` of the Segment."""
        _, _, els = self._segment(src)
        found = []
        for el in els:
            if el.eid == TAGS:
                found += self._labels(self._body(src, el), el.data)
        return found

    def _strip(self, body: bytes, base: int) -> tuple[bytes, bool]:
        """A ``Tags`` body without AIGC SimpleTags (recursively) or the CRC; had a CRC?"""
        out = []
        had_crc = False
        for tag in children(body, base):
            raw = body[tag.offset - base : tag.end - base]
            if tag.eid == CRC32:
                had_crc = True
                continue
            if tag.eid != TAG:
                out.append(raw)
                continue
            kept = self._strip_container(body[tag.data - base : tag.end - base], tag.data)
            if any(c.eid == SIMPLETAG for c in children(kept, 0)):
                out.append(element(TAG, kept))
        return b"".join(out), had_crc

    def _strip_container(self, body: bytes, base: int, depth: int = 0) -> bytes:
        if depth > _MAX_NEST:
            raise MalformedMedia(f"SimpleTags nested deeper than {_MAX_NEST}; the file is "
                                 "refused as hostile or damaged", format=FMT, offset=base)
        parts = []
        for c in children(body, base):
            raw = body[c.offset - base : c.end - base]
            if c.eid == SIMPLETAG:
                name, _ = self._simple(body, base, c)
                if name.upper() == "AIGC":
                    continue
                inner = self._strip_container(body[c.data - base : c.end - base], c.data,
                                              depth + 1)
                raw = element(SIMPLETAG, inner)
            parts.append(raw)
        return b"".join(parts)

    @staticmethod
    def _label_tag(aigc_json: str) -> bytes:
        simple = element(TAGNAME, b"AIGC") + element(TAGLANG, b"und")
        simple += element(TAGSTRING, aigc_json.encode("utf-8"))
        return element(TAG, element(TARGETS, b"") + element(SIMPLETAG, simple))

    @guarded
    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy ``src`` with one ``AIGC`` SimpleTag; Clusters and Cues never move."""
        total = file_size(src)
        seg, seg_end, els = self._segment(src)
        tags = [e for e in els if e.eid == TAGS]
        merged = []
        crc = False
        for t in tags:
            body, had = self._strip(self._body(src, t), t.data)
            merged.append(body)
            crc = crc or had
        new_body = _with_crc(crc, b"".join(merged) + self._label_tag(aigc_json))
        patches: list[tuple[int, int, bytes]] = []  # (offset, old length, new bytes)
        appended = b""
        placed = None
        if len(tags) == 1:
            t = tags[0]
            span = t.end - t.offset
            i = els.index(t) + 1
            while i < len(els) and els[i].eid == VOID:
                span = els[i].end - t.offset
                i += 1
            placed = fit(TAGS, new_body, span)
            if placed is not None:
                patches.append((t.offset, span, placed))
        tail = [e for e in els if e.eid != VOID]
        if placed is None and len(tags) == 1 and tail and tail[-1] is tags[0]:
            # Tags is already the Segment's last element: rewrite it there, at any length
            t = tags[0]
            placed = encode_id(TAGS) + encode_size(len(new_body)) + new_body
            patches.append((t.offset, seg_end - t.offset, placed))
            if seg.size != UNKNOWN:
                grown = seg.size + len(placed) - (seg_end - t.offset)
                size = encode_size(grown, seg.size_len)
                patches.append((seg.offset + seg.header - seg.size_len, seg.size_len, size))
        if placed is None:
            for t in tags:
                patches.append((t.offset, t.end - t.offset, void(t.end - t.offset)))
            appended = encode_id(TAGS) + encode_size(len(new_body)) + new_body
            new_pos = seg_end - seg.data
            patches += self._seekhead(src, els, new_pos, bool(tags))
            if seg.size != UNKNOWN:
                size = encode_size(seg.size + len(appended), seg.size_len)
                patches.append((seg.offset + seg.header - seg.size_len, seg.size_len, size))
        patches.sort()
        pos = 0
        for off, old, new in patches:
            if off < pos:
                raise MalformedMedia("overlapping Matroska edits", format=FMT, offset=off)
            copy_range(src, dst, pos, off - pos, FMT)
            dst.write(new)
            pos = off + old
        copy_range(src, dst, pos, seg_end - pos, FMT)
        dst.write(appended)
        copy_range(src, dst, seg_end, total - seg_end, FMT)

    def _seekhead(
        self, f: BinaryIO, els: list[Element], new_pos: int, had_tags: bool
    ) -> list[tuple[int, int, bytes]]:
        """Patch the first SeekHead so its Tags entry points at ``new_pos``."""
        heads = [e for e in els if e.eid == SEEKHEAD]
        if not heads:
            return []
        sh = heads[0]
        body = self._body(f, sh)
        entries: list[bytes] = []
        had_crc = False
        for c in children(body, sh.data):
            raw = body[c.offset - sh.data : c.end - sh.data]
            if c.eid == CRC32:
                had_crc = True
                continue
            if c.eid == SEEK:
                sub = children(body[c.data - sh.data : c.end - sh.data], c.data)
                ids = [
                    body[s.data - sh.data : s.end - sh.data] for s in sub if s.eid == SEEKID
                ]
                if ids and ids[0] == encode_id(TAGS):
                    continue
            entries.append(raw)
        span = sh.end - sh.offset
        i = els.index(sh) + 1
        while i < len(els) and els[i].eid == VOID:
            span = els[i].end - sh.offset
            i += 1
        pos_bytes = new_pos.to_bytes(max(1, (new_pos.bit_length() + 7) // 8), "big")
        entry = element(SEEK, element(SEEKID, encode_id(TAGS)) + element(SEEKPOS, pos_bytes))
        for candidate in ([*entries, entry], entries):
            new = fit(SEEKHEAD, _with_crc(had_crc, b"".join(candidate)), span)
            if new is not None:
                return [(sh.offset, span, new)]
        if not had_tags:
            return []
        raise UnsupportedMedia("SeekHead cannot be rewritten", format=FMT, offset=sh.offset)


HANDLER = MkvHandler()
