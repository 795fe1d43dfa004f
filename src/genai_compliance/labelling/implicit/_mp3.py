"""MP3: the implicit label as an ID3v2 ``TXXX`` frame with description ``AIGC``.

Carrier: TC260-PG-202510A (audio practice guide, 2025-08-28): ID3v2 user-defined text frame
``TXXX``, description ``AIGC``, value the GB 45438 Annex E JSON (REQUIREMENTS §2.4, tag S;
LM-5). StarPluckerZ/AigcTotal ships a ``mp3-txxx-aigc.mp3`` sample read the same way.

Writing: the leading ID3v2 tag (v2.2, v2.3 or v2.4) is parsed — tag-level unsynchronisation
(v2.3) is undone, an extended header is skipped — every frame except an earlier ``TXXX``/``TXX``
``AIGC`` is kept byte for byte (with its own flags; v2.4 per-frame unsynchronisation is kept as
is), the new frame is appended and the tag is written again without tag-level
unsynchronisation and without the extended header (its CRC would no longer match), keeping the
old padding size. A file without a tag gets an ID3v2.4 tag prepended. The audio frames that
follow (and an ID3v1 tag at the end) are copied unchanged. The value is UTF-8 (encoding 3) in
v2.4, ISO-8859-1 (encoding 0) in v2.2/v2.3 when ASCII, else UTF-16 with BOM (encoding 1).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

import attrs

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._riff import copy_range, file_size, guarded, read_at

__all__ = ["HANDLER", "Mp3Handler"]

_FMT = "mp3"
_DESC = "AIGC"
_MAX_TAG = 256 << 20


def _syncsafe(b: bytes, offset: int) -> int:
    if any(x & 0x80 for x in b):
        raise MalformedMedia(
            "ID3v2 syncsafe integer has its high bit set", format=_FMT,
            offset=offset,
        )
    v = 0
    for x in b:
        v = (v << 7) | x
    return v


def _to_syncsafe(n: int, width: int = 4) -> bytes:
    return bytes((n >> (7 * (width - 1 - i))) & 0x7F for i in range(width))


def _deunsync(data: bytes) -> bytes:
    return data.replace(b"\xff\x00", b"\xff")


@attrs.frozen
class _Frame:
    fid: bytes
    raw: bytes  # the whole frame as stored (header + body)
    body: bytes  # body with per-frame unsynchronisation / data-length indicator undone
    offset: int


@attrs.frozen
class _Tag:
    version: int
    end: int  # offset after the tag (incl. footer)
    frames: list[_Frame]
    padding: int
    footer: bool
    flags: int


def _decode_text(enc: int, data: bytes) -> list[str]:
    """The NUL-separated strings of a text frame body."""
    if enc in (1, 2):
        parts, i = [], 0
        while i <= len(data):
            j = i
            while j + 1 < len(data) and data[j : j + 2] != b"\x00\x00":
                j += 2
            if j + 1 >= len(data):
                j = len(data)
            chunk = data[i:j]
            codec = "utf-16" if enc == 1 else "utf-16-be"
            parts.append(chunk.decode(codec, errors="replace") if chunk else "")
            i = j + 2
        return parts
    codec = "utf-8" if enc == 3 else "latin-1"
    return [p.decode(codec, errors="replace") for p in data.split(b"\x00")]


def _txxx(body: bytes) -> tuple[str, str] | None:
    """(description, value) of a TXXX body, or None when it is not well formed."""
    if not body:
        return None
    parts = _decode_text(body[0], body[1:])
    if len(parts) < 2:
        return None
    return parts[0], parts[1].rstrip("\x00")


class Mp3Handler:
    """ID3v2 ``TXXX:AIGC`` reader/writer (TC260-PG-202510A, LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """An ID3v2 tag, or an MPEG-1/2/2.5 audio frame header (layer I–III)."""
        if head[:3] == b"ID3":
            return True
        if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
            return False
        version = (head[1] >> 3) & 3
        layer = (head[1] >> 1) & 3
        bitrate = head[2] >> 4
        rate = (head[2] >> 2) & 3
        return version != 1 and layer != 0 and bitrate not in (0, 15) and rate != 3

    def _parse(self, f: BinaryIO) -> _Tag | None:
        tag = self._parse_tag(f)
        start = tag.end if tag else 0
        if start >= file_size(f):
            raise MalformedMedia("no MPEG audio data", format=_FMT, offset=start)
        if tag is None and not self.sniff(read_at(f, 0, min(4, file_size(f)), _FMT)):
            raise MalformedMedia("neither an ID3v2 tag nor an MPEG frame", format=_FMT, offset=0)
        return tag

    def _parse_tag(self, f: BinaryIO) -> _Tag | None:
        total = file_size(f)
        if total < 10:
            head = read_at(f, 0, min(total, 3), _FMT)
            if head[:3] == b"ID3":
                raise MalformedMedia("ID3v2 header truncated", format=_FMT, offset=0)
            return None
        hdr = read_at(f, 0, 10, _FMT)
        if hdr[:3] != b"ID3":
            return None
        major, _rev, flags = hdr[3], hdr[4], hdr[5]
        if major not in (2, 3, 4):
            raise UnsupportedMedia(f"ID3v2.{major} is not supported", format=_FMT, offset=3)
        size = _syncsafe(hdr[6:10], 6)
        if size > _MAX_TAG:
            raise UnsupportedMedia("ID3v2 tag too large", format=_FMT, offset=6)
        footer = major == 4 and bool(flags & 0x10)
        end = 10 + size + (10 if footer else 0)
        data = read_at(f, 10, size, _FMT)
        if flags & 0x80 and major < 4:
            data = _deunsync(data)
        pos = 0
        if flags & 0x40 and major >= 3:  # extended header
            if len(data) < 4:
                raise MalformedMedia("ID3v2 extended header truncated", format=_FMT, offset=10)
            ext = struct.unpack(">I", data[:4])[0] + 4 if major == 3 else _syncsafe(data[:4], 10)
            if ext > len(data) or ext < 4:
                raise MalformedMedia("ID3v2 extended header size", format=_FMT, offset=10)
            pos = ext
        frames: list[_Frame] = []
        hlen = 6 if major == 2 else 10
        while pos + hlen <= len(data):
            if data[pos] == 0:
                break  # padding
            fid = data[pos : pos + (3 if major == 2 else 4)]
            if not all(48 <= c <= 57 or 65 <= c <= 90 for c in fid):
                raise MalformedMedia(
                    f"ID3v2 frame id {fid!r} is not valid", format=_FMT, offset=10 + pos
                )
            if major == 2:
                fsize = int.from_bytes(data[pos + 3 : pos + 6], "big")
                fflags = 0
            elif major == 3:
                fsize = struct.unpack(">I", data[pos + 4 : pos + 8])[0]
                fflags = struct.unpack(">H", data[pos + 8 : pos + 10])[0]
            else:
                fsize = _syncsafe(data[pos + 4 : pos + 8], 10 + pos + 4)
                fflags = struct.unpack(">H", data[pos + 8 : pos + 10])[0]
            if pos + hlen + fsize > len(data):
                raise MalformedMedia(
                    f"ID3v2 frame {fid!r} runs past the tag", format=_FMT, offset=10 + pos
                )
            body = data[pos + hlen : pos + hlen + fsize]
            if major == 4:
                if fflags & 0x0002 or flags & 0x80:
                    body = _deunsync(body)
                if fflags & 0x0001 and len(body) >= 4:
                    body = body[4:]
            elif major == 3 and fflags & 0x0040 and len(body) >= 1:
                body = body[1:]  # grouping identity byte
            frames.append(_Frame(fid, data[pos : pos + hlen + fsize], body, 10 + pos))
            pos += hlen + fsize
        return _Tag(major, end, frames, max(0, len(data) - pos), footer, flags)

    @staticmethod
    def _is_label(fr: _Frame) -> bool:
        if fr.fid not in (b"TXXX", b"TXX"):
            return False
        got = _txxx(fr.body)
        return got is not None and got[0].strip().upper() == _DESC

    @guarded
    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every ``TXXX`` frame described ``AIGC`` in the leading ID3v2 tag. A tag with no
        MPEG audio after it (a skeletal file) is still read; the label says so in its note."""
        tag = self._parse_tag(src)
        skeletal = tag is not None and tag.end >= file_size(src)
        if not skeletal:
            tag = self._parse(src)
        if tag is None:
            return []
        found = []
        for fr in tag.frames:
            if self._is_label(fr):
                got = _txxx(fr.body)
                assert got is not None
                found.append(RawLabel("mp3:ID3v2/TXXX:AIGC", got[1], fr.offset,
                                      note="the file holds no MPEG audio frames after its "
                                      "ID3v2 tag (skeletal container)" if skeletal else None))
        return found

    @guarded
    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy ``src`` with exactly one ``TXXX:AIGC`` frame holding ``aigc_json``."""
        total = file_size(src)
        tag = self._parse(src)
        version = tag.version if tag else 4
        kept = [fr.raw for fr in tag.frames if not self._is_label(fr)] if tag else []
        if version == 4:
            body = b"\x03" + _DESC.encode() + b"\x00" + aigc_json.encode("utf-8")
        elif aigc_json.isascii():
            body = b"\x00" + _DESC.encode() + b"\x00" + aigc_json.encode("latin-1")
        else:
            body = b"\x01" + (_DESC.encode("utf-16") + b"\x00\x00") + aigc_json.encode("utf-16")
        if version == 2:
            frame = b"TXX" + len(body).to_bytes(3, "big") + body
        elif version == 3:
            frame = b"TXXX" + struct.pack(">I", len(body)) + b"\x00\x00" + body
        else:
            frame = b"TXXX" + _to_syncsafe(len(body)) + b"\x00\x00" + body
        frames = b"".join(kept) + frame
        footer = bool(tag and tag.footer)
        padding = 0 if footer else (tag.padding if tag else 1024)
        size = len(frames) + padding
        if size >= 1 << 28:
            raise UnsupportedMedia("ID3v2 tag would pass 256 MiB", format=_FMT, offset=0)
        flags = 0x10 if footer else 0
        if tag and version == 4:
            flags |= tag.flags & 0x80  # frames keep their own unsynchronisation flags
        dst.write(b"ID3" + bytes((version, 0, flags)) + _to_syncsafe(size))
        dst.write(frames + bytes(padding))
        if footer:
            dst.write(b"3DI" + bytes((version, 0, flags)) + _to_syncsafe(size))
        start = tag.end if tag else 0
        copy_range(src, dst, start, total - start, _FMT)


HANDLER = Mp3Handler()
