"""FLAC: the implicit label as a Vorbis comment ``AIGC=<json>`` in the VORBIS_COMMENT block.

Carrier: REQUIREMENTS §2.4 marks Ogg/FLAC "not verified" (TC260-PG-202510A annexes, Vorbis
comment ``AIGC`` in practice). We relied on the public verifier StarPluckerZ/AigcTotal
(FlacParser, citing PG-202510A): metadata block type 4 (VORBIS_COMMENT), the entry whose key is
``AIGC`` holds the GB 45438 Annex E JSON. Field names are matched case-insensitively, as the
Vorbis comment spec says (LM-5).

Writing parses the metadata blocks (headers and small bodies only), replaces every ``AIGC=``
entry of the VORBIS_COMMENT block by one new entry (other comments and the vendor string kept),
creates the block after STREAMINFO when missing, keeps STREAMINFO, SEEKTABLE, PICTURE,
APPLICATION, CUESHEET and PADDING byte for byte, fixes the last-block flag, and streams the
audio frames unchanged. A leading ID3v2 tag (written by some taggers) is kept as is.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._riff import copy_range, file_size, guarded, read_at

__all__ = ["HANDLER", "FlacHandler", "build_comments", "parse_comments"]

_FMT = "flac"
_VC = 4
_KEY = "AIGC"
_VENDOR = b"genai_compliance"


def parse_comments(data: bytes, fmt: str, base: int) -> tuple[bytes, list[bytes], bytes]:
    """Split a Vorbis comment structure into (vendor, entries, trailing bytes)."""

    def u32(pos: int) -> int:
        if pos + 4 > len(data):
            raise MalformedMedia("Vorbis comment truncated", format=fmt, offset=base + pos)
        return int(struct.unpack_from("<I", data, pos)[0])

    vlen = u32(0)
    pos = 4
    if pos + vlen > len(data):
        raise MalformedMedia("Vorbis comment vendor truncated", format=fmt, offset=base)
    vendor = data[pos : pos + vlen]
    pos += vlen
    count = u32(pos)
    pos += 4
    if count > len(data):
        raise MalformedMedia("Vorbis comment count too large", format=fmt, offset=base + pos - 4)
    entries = []
    for _ in range(count):
        n = u32(pos)
        pos += 4
        if pos + n > len(data):
            raise MalformedMedia("Vorbis comment entry truncated", format=fmt, offset=base + pos)
        entries.append(data[pos : pos + n])
        pos += n
    return vendor, entries, data[pos:]


def build_comments(vendor: bytes, entries: list[bytes], tail: bytes = b"") -> bytes:
    """The Vorbis comment structure (without any packet prefix)."""
    out = [struct.pack("<I", len(vendor)), vendor, struct.pack("<I", len(entries))]
    for e in entries:
        out += [struct.pack("<I", len(e)), e]
    return b"".join(out) + tail


def is_label_entry(entry: bytes) -> bool:
    """Whether a ``KEY=value`` entry has the key ``AIGC`` (case-insensitive)."""
    key, sep, _ = entry.partition(b"=")
    return bool(sep) and key.upper() == _KEY.encode()


def label_entries(entries: list[bytes]) -> list[str]:
    """The values of the ``AIGC`` entries."""
    return [
        e.partition(b"=")[2].decode("utf-8", errors="replace")
        for e in entries
        if is_label_entry(e)
    ]


def replace_label(entries: list[bytes], aigc_json: str) -> list[bytes]:
    """``entries`` without old ``AIGC`` entries, plus ``AIGC=<json>``."""
    return [e for e in entries if not is_label_entry(e)] + [
        (_KEY + "=" + aigc_json).encode("utf-8")
    ]


def _id3_skip(f: BinaryIO) -> int:
    head = f.read(10)
    if len(head) == 10 and head[:3] == b"ID3":
        size = 0
        for b in head[6:10]:
            size = (size << 7) | (b & 0x7F)
        return 10 + size + (10 if head[5] & 0x10 else 0)
    return 0


class FlacHandler:
    """FLAC VORBIS_COMMENT ``AIGC`` reader/writer (PG-202510A as read by AigcTotal; LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """``fLaC`` at the start."""
        return head[:4] == b"fLaC"

    def _blocks(self, f: BinaryIO) -> tuple[int, list[tuple[int, int, int]], int]:
        """(start of fLaC, [(type, header offset, length)], offset of the first frame)."""
        f.seek(0)
        start = _id3_skip(f)
        total = file_size(f)
        if read_at(f, start, 4, _FMT) != b"fLaC":
            raise MalformedMedia("no fLaC marker", format=_FMT, offset=start)
        pos = start + 4
        blocks = []
        while True:
            hdr = read_at(f, pos, 4, _FMT)
            btype = hdr[0] & 0x7F
            length = int.from_bytes(hdr[1:4], "big")
            if btype == 127:
                raise MalformedMedia("invalid FLAC metadata block type", format=_FMT, offset=pos)
            if pos + 4 + length > total:
                raise MalformedMedia("FLAC metadata block truncated", format=_FMT, offset=pos)
            blocks.append((btype, pos, length))
            pos += 4 + length
            if hdr[0] & 0x80:
                break
            if len(blocks) > 100_000:
                raise UnsupportedMedia("too many FLAC metadata blocks", format=_FMT, offset=pos)
        if not blocks or blocks[0][0] != 0:
            raise MalformedMedia("FLAC must start with STREAMINFO", format=_FMT, offset=start + 4)
        return start, blocks, pos

    @guarded
    def read(self, src: BinaryIO) -> list[RawLabel]:
        """``AIGC`` entries of every VORBIS_COMMENT block."""
        _, blocks, _ = self._blocks(src)
        found = []
        for btype, off, length in blocks:
            if btype == _VC:
                _, entries, _ = parse_comments(read_at(src, off + 4, length, _FMT), _FMT, off + 4)
                for text in label_entries(entries):
                    found.append(RawLabel("flac:VORBIS_COMMENT/AIGC", text, off + 4))
        return found

    @guarded
    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy ``src`` with one ``AIGC`` Vorbis comment; audio frames unchanged."""
        start, blocks, audio = self._blocks(src)
        total = file_size(src)
        out: list[tuple[int, bytes]] = []
        done = False
        for btype, off, length in blocks:
            body = read_at(src, off + 4, length, _FMT)
            if btype == _VC:
                if done:
                    continue  # a second VORBIS_COMMENT block is invalid; merge into the first
                vendor, entries, tail = parse_comments(body, _FMT, off + 4)
                body = build_comments(vendor, replace_label(entries, aigc_json), tail)
                done = True
            out.append((btype, body))
        if not done:
            body = build_comments(_VENDOR, replace_label([], aigc_json))
            out.insert(1, (_VC, body))
        copy_range(src, dst, 0, start, _FMT)
        dst.write(b"fLaC")
        for i, (btype, body) in enumerate(out):
            if len(body) >= 1 << 24:
                raise UnsupportedMedia(
                    "FLAC metadata block would pass 16 MiB", format=_FMT, offset=start
                )
            last = 0x80 if i == len(out) - 1 else 0
            dst.write(bytes((btype | last,)) + len(body).to_bytes(3, "big") + body)
        copy_range(src, dst, audio, total - audio, _FMT)


HANDLER = FlacHandler()
