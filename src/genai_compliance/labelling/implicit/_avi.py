"""AVI: the implicit label as an ``AIGC`` sub-chunk of ``LIST/INFO``.

Carrier: TC260-PG-20257A (video practice guide, 2025-08-28): a custom ``AIGC`` sub-chunk in the
``LIST`` ``INFO`` list (REQUIREMENTS §2.4, tag S; LM-5). The public verifier
StarPluckerZ/AigcTotal (AviParser) reads ``AIGC`` inside any top-level ``LIST/INFO`` of
``RIFF/AVI `` and trims one trailing NUL ("value ends with NUL", its note on the guide's
annex D). We write the JSON followed by a NUL, like every other INFO string (ZSTR).

Offsets: ``idx1`` entries are relative to ``movi`` (or, in some files, absolute) and OpenDML
``indx`` super-indexes hold absolute file offsets, so ``movi`` must not move. We rewrite only
the region before ``LIST/movi`` (``hdrl`` kept byte for byte, ``INFO`` rebuilt, ``JUNK``
re-sized): ffmpeg, VirtualDub and most muxers leave a ``JUNK`` chunk there "for easier tag
editing", so the label fits and every byte from ``movi`` on is unchanged. When there is no room,
a single-RIFF file gets a new ``LIST/INFO`` appended after ``idx1`` (nothing moves) and any old
``AIGC`` sub-chunk is blanked into ``JUNK`` in place; a multi-RIFF (``AVIX``) file without room
is refused as :class:`UnsupportedMedia`.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from genai_compliance.errors import MalformedMedia, UnsupportedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._riff import (
    Chunk,
    copy_range,
    guarded,
    label_chunk,
    read_at,
    riff_chunks,
    riff_header,
    strip_label_text,
)

__all__ = ["HANDLER", "AviHandler"]

_FMT = "avi"
_AIGC = b"AIGC"
_MAX_REGION = 64 << 20


def _list_type(f: BinaryIO, ch: Chunk) -> bytes:
    if ch.cid != b"LIST" or ch.size < 4:
        return b""
    return read_at(f, ch.data_offset, 4, _FMT)


def _junk(total: int) -> bytes:
    """A JUNK chunk exactly ``total`` bytes long (``total`` >= 8 and even)."""
    return struct.pack("<4sI", b"JUNK", total - 8) + bytes(total - 8)


class AviHandler:
    """``LIST/INFO/AIGC`` reader/writer (TC260-PG-20257A, LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """``RIFF····AVI ``."""
        return head[:4] == b"RIFF" and head[8:12] == b"AVI "

    @staticmethod
    def _chunks(src: BinaryIO) -> tuple[int, int, list[Chunk]]:
        riff_end, total = riff_header(src, _FMT, b"AVI ")
        chunks = riff_chunks(src, 12, riff_end, _FMT)
        if not chunks or _list_type(src, chunks[0]) != b"hdrl":
            raise MalformedMedia("AVI file without a leading LIST hdrl", format=_FMT, offset=12)
        return riff_end, total, chunks

    def _info_subs(self, f: BinaryIO, ch: Chunk) -> list[Chunk]:
        return riff_chunks(f, ch.data_offset + 4, ch.data_offset + ch.size, _FMT)

    @guarded
    def read(self, src: BinaryIO) -> list[RawLabel]:
        """``AIGC`` sub-chunks of every top-level ``LIST/INFO``, in file order."""
        found = []
        for ch in self._chunks(src)[2]:
            if _list_type(src, ch) != b"INFO":
                continue
            for sub in self._info_subs(src, ch):
                if sub.cid == _AIGC:
                    if sub.size > 1 << 20:
                        raise UnsupportedMedia(
                            "AIGC sub-chunk too large for a label", format=_FMT, offset=sub.offset
                        )
                    raw = read_at(src, sub.data_offset, sub.size, _FMT)
                    found.append(
                        RawLabel("avi:LIST/INFO/AIGC", strip_label_text(raw), sub.data_offset)
                    )
        return found

    def _new_info(self, f: BinaryIO, info: Chunk | None, aigc_json: str) -> bytes:
        body = b"INFO"
        if info is not None:
            for sub in self._info_subs(f, info):
                if sub.cid != _AIGC:
                    body += label_chunk(sub.cid, read_at(f, sub.data_offset, sub.size, _FMT))
        body += label_chunk(_AIGC, aigc_json.encode("utf-8") + b"\x00")
        return label_chunk(b"LIST", body)

    @guarded
    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy ``src`` with one ``AIGC`` INFO sub-chunk; ``movi`` and ``idx1`` never move."""
        riff_end, total, chunks = self._chunks(src)
        movi_i = next(
            (i for i, ch in enumerate(chunks) if _list_type(src, ch) == b"movi"), len(chunks)
        )
        head, tail = chunks[:movi_i], chunks[movi_i:]
        region_end = tail[0].offset if tail else riff_end
        if region_end - 12 > _MAX_REGION:
            raise UnsupportedMedia("AVI header region too large", format=_FMT, offset=12)
        infos = [ch for ch in head if _list_type(src, ch) == b"INFO"]
        later_infos = [ch for ch in tail if _list_type(src, ch) == b"INFO"]
        new_info = self._new_info(src, infos[0] if infos else None, aigc_json)
        # Rebuild the header region: keep non-JUNK chunks, INFO replaced, JUNK re-sized.
        parts: list[bytes] = []
        for ch in head:
            if ch.cid == b"JUNK":
                continue
            if infos and ch == infos[0]:
                parts.append(new_info)
            elif ch in infos:
                parts.append(self._without_aigc(src, ch))
            else:
                parts.append(read_at(src, ch.offset, 8 + ch.size, _FMT) + b"\x00" * (ch.size & 1))
        if not infos:
            # put INFO right after hdrl (the first chunk), where players look for it
            parts.insert(min(1, len(parts)), new_info)
        region = b"".join(parts)
        room = region_end - 12 - len(region)
        if room == 0 or room >= 8:
            if room:
                region += _junk(room)
            self._emit(src, dst, riff_end, total, region, region_end, later_infos, None)
            return
        # No room before movi: append a fresh LIST/INFO after the last chunk.
        if riff_end < total and read_at(src, riff_end, 4, _FMT) == b"RIFF":
            raise UnsupportedMedia(
                "multi-RIFF (OpenDML AVIX) AVI without JUNK room before movi; remux with "
                "header padding first",
                format=_FMT,
                offset=region_end,
            )
        region = b"".join(
            self._without_aigc(src, ch)
            if ch in infos
            else read_at(src, ch.offset, 8 + ch.size, _FMT) + b"\x00" * (ch.size & 1)
            for ch in head
        )
        info = label_chunk(_AIGC, aigc_json.encode("utf-8") + b"\x00")
        appended = label_chunk(b"LIST", b"INFO" + info)
        self._emit(src, dst, riff_end, total, region, region_end, later_infos, appended)

    def _without_aigc(self, f: BinaryIO, info: Chunk) -> bytes:
        """``info`` with every AIGC sub-chunk turned into a zeroed JUNK of the same size."""
        data = bytearray(read_at(f, info.offset, 8 + info.size, _FMT) + b"\x00" * (info.size & 1))
        for sub in self._info_subs(f, info):
            if sub.cid == _AIGC:
                rel = sub.offset - info.offset
                data[rel : rel + 4] = b"JUNK"
                data[rel + 8 : rel + 8 + sub.size] = bytes(sub.size)
        return bytes(data)

    def _emit(
        self,
        src: BinaryIO,
        dst: BinaryIO,
        riff_end: int,
        total: int,
        region: bytes,
        region_end: int,
        later_infos: list[Chunk],
        appended: bytes | None,
    ) -> None:
        riff_size = struct.unpack("<I", read_at(src, 4, 4, _FMT))[0]
        pad = b""
        if appended is not None:
            pad = b"\x00" * (riff_end & 1)
            riff_size = riff_end + len(pad) - 8 + len(appended)
            if riff_size > 0xFFFFFFFF:
                raise UnsupportedMedia("labelled AVI would pass 4 GiB", format=_FMT, offset=0)
        dst.write(b"RIFF" + struct.pack("<I", riff_size) + b"AVI ")
        dst.write(region)
        pos = region_end
        for info in later_infos:  # blank stale labels that sit after movi
            copy_range(src, dst, pos, info.offset - pos, _FMT)
            end = min(info.end, riff_end)
            dst.write(self._without_aigc(src, info)[: end - info.offset])
            pos = end
        copy_range(src, dst, pos, riff_end - pos, _FMT)
        if appended is not None:
            dst.write(pad + appended)
        copy_range(src, dst, riff_end, total - riff_end, _FMT)


HANDLER = AviHandler()
