"""Ogg (Vorbis, Opus): the implicit label as a comment ``AIGC=<json>`` in the comment header.

Carrier: REQUIREMENTS §2.4 marks Ogg "not verified" (TC260-PG-202510A annexes, Vorbis comment
``AIGC`` in practice). We relied on the public verifier StarPluckerZ/AigcTotal (OggParser,
citing PG-202510A, "Vorbis/OPUS"): the second packet of the stream is the comment header
(``\\x03vorbis`` or ``OpusTags``) and its ``AIGC`` entry holds the GB 45438 Annex E JSON (LM-5).

Writing: the header packets after the identification header (Vorbis: comment + setup; Opus:
tags) are re-packed into new pages (granule 0 where a packet ends, -1 where none does), the
comment packet carries every old comment except ``AIGC`` plus the new entry (the vendor string
and any trailing bytes — Vorbis framing bit, Opus padding — kept). When the number of header
pages changes, every later page of the same logical stream gets its sequence number shifted and
its CRC recomputed; page bodies (the audio packets) are copied byte for byte. Pages are at most
64 KiB, so memory stays bounded. Multiplexed streams whose headers interleave are refused as
:class:`UnsupportedMedia`; other codecs (Theora, FLAC-in-Ogg, Speex) likewise.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

import attrs

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._flac import (
    build_comments,
    label_entries,
    parse_comments,
    replace_label,
)
from genai_compliance.labelling.implicit._riff import copy_range, file_size, guarded, read_at

__all__ = ["HANDLER", "OggHandler", "ogg_crc"]

_FMT = "ogg"
_MAX_HEADER_PAGES = 4096


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_TABLE = _crc_table()


def ogg_crc(data: bytes) -> int:
    """The Ogg page CRC (poly 0x04C11DB7, init 0, no reflection, no final xor)."""
    crc = 0
    table = _TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ b]
    return crc


@attrs.frozen
class _Page:
    offset: int
    flags: int
    granule: int
    serial: int
    seq: int
    lacing: bytes
    header_len: int
    body_len: int

    @property
    def end(self) -> int:
        return self.offset + self.header_len + self.body_len


def _page_at(f: BinaryIO, pos: int) -> _Page:
    hdr = read_at(f, pos, 27, _FMT)
    if hdr[:4] != b"OggS":
        raise MalformedMedia("Ogg page capture pattern missing", format=_FMT, offset=pos)
    if hdr[4] != 0:
        raise UnsupportedMedia(f"Ogg stream structure version {hdr[4]}", format=_FMT, offset=pos)
    flags = hdr[5]
    granule, serial, seq = struct.unpack_from("<qII", hdr, 6)
    nseg = hdr[26]
    lacing = read_at(f, pos + 27, nseg, _FMT)
    return _Page(pos, flags, granule, serial, seq, lacing, 27 + nseg, sum(lacing))


def _page_bytes(
    flags: int, granule: int, serial: int, seq: int, lacing: bytes, body: bytes
) -> bytes:
    hdr = b"OggS\x00" + struct.pack("<BqIII", flags, granule, serial, seq, 0)
    page = bytearray(hdr + bytes((len(lacing),)) + lacing + body)
    struct.pack_into("<I", page, 22, ogg_crc(bytes(page)))
    return bytes(page)


@attrs.frozen
class _Headers:
    serial: int
    kind: str  # "vorbis" | "opus"
    first: _Page  # the identification header page
    pages: list[_Page]  # the pages holding the remaining header packets
    packets: list[bytes]  # the remaining header packets (comment first)


def _headers(f: BinaryIO) -> _Headers:
    total = file_size(f)
    first = _page_at(f, 0)
    if not first.flags & 0x02:
        raise MalformedMedia("first Ogg page is not a stream start", format=_FMT, offset=0)
    ident = read_at(f, first.header_len, first.body_len, _FMT)
    if ident.startswith(b"\x01vorbis"):
        kind, need = "vorbis", 2
    elif ident.startswith(b"OpusHead"):
        kind, need = "opus", 1
    else:
        raise UnsupportedMedia(
            "only Ogg Vorbis and Ogg Opus carry the AIGC comment here", format=_FMT, offset=0
        )
    if len(first.lacing) == 0 or first.lacing[-1] == 255:
        raise MalformedMedia("identification header spans pages", format=_FMT, offset=0)
    pos = first.end
    pages: list[_Page] = []
    packets: list[bytes] = []
    cur = b""
    while len(packets) < need:
        if pos >= total:
            raise MalformedMedia("Ogg headers truncated", format=_FMT, offset=pos)
        page = _page_at(f, pos)
        if page.serial != first.serial:
            if page.flags & 0x02:
                raise UnsupportedMedia(
                    "multiplexed Ogg (several logical streams) is not supported",
                    format=_FMT,
                    offset=pos,
                )
            raise MalformedMedia("foreign Ogg page inside headers", format=_FMT, offset=pos)
        body = read_at(f, pos + page.header_len, page.body_len, _FMT)
        i = 0
        for n, lace in enumerate(page.lacing):
            cur += body[i : i + lace]
            i += lace
            if lace < 255:
                packets.append(cur)
                cur = b""
                if len(packets) == need and n != len(page.lacing) - 1:
                    raise UnsupportedMedia(
                        "audio data shares a page with the last header packet",
                        format=_FMT,
                        offset=pos,
                    )
        pages.append(page)
        if len(pages) > _MAX_HEADER_PAGES:
            raise UnsupportedMedia("Ogg header too long", format=_FMT, offset=pos)
        pos = page.end
    comment = packets[0]
    prefix = b"\x03vorbis" if kind == "vorbis" else b"OpusTags"
    if not comment.startswith(prefix):
        raise MalformedMedia("no Ogg comment header", format=_FMT, offset=first.end)
    return _Headers(first.serial, kind, first, pages, packets)


def _paginate(packets: list[bytes], serial: int, seq0: int) -> list[bytes]:
    """Pack ``packets`` into pages (each packet's lacing; at most 255 segments per page)."""
    segs: list[tuple[int, bool]] = []  # (length, ends a packet)
    bodies: list[bytes] = []
    for p in packets:
        n = len(p) // 255
        for k in range(n):
            segs.append((255, False))
            bodies.append(p[k * 255 : (k + 1) * 255])
        segs.append((len(p) % 255, True))
        bodies.append(p[n * 255 :])
    pages = []
    i = 0
    continued = False
    seq = seq0
    while i < len(segs):
        chunk = segs[i : i + 255]
        body = b"".join(bodies[i : i + 255])
        lacing = bytes(s for s, _ in chunk)
        ends = any(e for _, e in chunk)
        pages.append(
            _page_bytes(0x01 if continued else 0, 0 if ends else -1, serial, seq, lacing, body)
        )
        continued = not chunk[-1][1]
        i += 255
        seq += 1
    return pages


class OggHandler:
    """Ogg Vorbis/Opus comment ``AIGC`` reader/writer (PG-202510A as read by AigcTotal; LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """``OggS`` at the start."""
        return head[:4] == b"OggS"

    @guarded
    def read(self, src: BinaryIO) -> list[RawLabel]:
        """``AIGC`` entries of the comment header."""
        h = _headers(src)
        plen = 7 if h.kind == "vorbis" else 8
        _, entries, _ = parse_comments(h.packets[0][plen:], _FMT, h.pages[0].offset)
        return [
            RawLabel(f"ogg:{h.kind}-comment/AIGC", text, h.pages[0].offset)
            for text in label_entries(entries)
        ]

    @guarded
    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy ``src`` with one ``AIGC`` comment; audio pages copied (renumbered if needed)."""
        h = _headers(src)
        total = file_size(src)
        plen = 7 if h.kind == "vorbis" else 8
        comment = h.packets[0]
        vendor, entries, tail = parse_comments(comment[plen:], _FMT, h.pages[0].offset)
        new_comment = comment[:plen] + build_comments(
            vendor, replace_label(entries, aigc_json), tail
        )
        new_pages = _paginate([new_comment, *h.packets[1:]], h.serial, h.pages[0].seq)
        delta = len(new_pages) - len(h.pages)
        copy_range(src, dst, 0, h.first.end, _FMT)
        for blob in new_pages:
            dst.write(blob)
        pos = h.pages[-1].end
        if delta == 0:
            copy_range(src, dst, pos, total - pos, _FMT)
            return
        while pos < total:
            page = _page_at(src, pos)
            raw = read_at(src, pos, page.header_len + page.body_len, _FMT)
            if page.serial == h.serial:
                buf = bytearray(raw)
                struct.pack_into("<II", buf, 18, (page.seq + delta) & 0xFFFFFFFF, 0)
                struct.pack_into("<I", buf, 22, ogg_crc(bytes(buf)))
                raw = bytes(buf)
            dst.write(raw)
            pos = page.end


HANDLER = OggHandler()
