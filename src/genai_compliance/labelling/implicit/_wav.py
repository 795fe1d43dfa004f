"""WAV (RIFF/WAVE): the implicit label as a top-level RIFF chunk with id ``AIGC``.

Carrier: TC260-PG-202510A (audio practice guide, 2025-08-28) puts the GB 45438 Annex E JSON
in a RIFF sub-chunk whose id is ``AIGC`` (REQUIREMENTS §2.4, tag S; LM-5). The public verifier
StarPluckerZ/AigcTotal (WavParser) reads every top-level ``AIGC`` chunk of ``RIFF/WAVE`` and
takes its payload as the JSON; we write the bare UTF-8 JSON (no NUL), pad odd sizes with one
zero byte as RIFF requires, and strip trailing NULs when reading.

Writing keeps every other chunk byte for byte and in order (``fmt ``, ``fact``, ``LIST/INFO``,
``bext``, ``iXML``, ``cue ``, ``data`` …), drops any earlier ``AIGC`` chunk, puts the new chunk
where the first old one was (else at the end) and fixes the RIFF size. WAV holds no absolute
offsets, so nothing else changes; ``data`` is streamed, never loaded.
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

__all__ = ["HANDLER", "WavHandler"]

_FMT = "wav"
_AIGC = b"AIGC"
_MAX_LABEL = 1 << 20


class WavHandler:
    """RIFF/WAVE ``AIGC`` chunk reader/writer (TC260-PG-202510A, LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """``RIFF····WAVE`` (and RF64/BW64, which :meth:`write` refuses as unsupported)."""
        return head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE"

    @staticmethod
    def _chunks(src: BinaryIO) -> list[Chunk]:
        riff_end, _ = riff_header(src, _FMT, b"WAVE")
        chunks = riff_chunks(src, 12, riff_end, _FMT)
        if not any(ch.cid == b"fmt " for ch in chunks):
            raise MalformedMedia("WAVE file without a 'fmt ' chunk", format=_FMT, offset=12)
        return chunks

    @guarded
    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every top-level ``AIGC`` chunk, in file order."""
        found = []
        for ch in self._chunks(src):
            if ch.cid == _AIGC:
                if ch.size > _MAX_LABEL:
                    raise UnsupportedMedia(
                        f"AIGC chunk of {ch.size} bytes is too large for a label",
                        format=_FMT,
                        offset=ch.offset,
                    )
                raw = read_at(src, ch.data_offset, ch.size, _FMT)
                found.append(RawLabel("wav:RIFF/AIGC", strip_label_text(raw), ch.data_offset))
        return found

    @guarded
    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy ``src`` with exactly one ``AIGC`` chunk holding ``aigc_json``."""
        chunks = self._chunks(src)
        new = label_chunk(_AIGC, aigc_json.encode("utf-8"))
        body = 4  # "WAVE"
        placed = False
        plan: list[Chunk | bytes] = []
        for ch in chunks:
            if ch.cid == _AIGC:
                if not placed:
                    plan.append(new)
                    body += len(new)
                    placed = True
                continue
            plan.append(ch)
            body += 8 + ch.size + (ch.size & 1)
        if not placed:
            plan.append(new)
            body += len(new)
        if body > 0xFFFFFFFF:
            raise UnsupportedMedia(
                "the labelled WAV would pass the 4 GiB RIFF limit", format=_FMT, offset=0
            )
        dst.write(struct.pack("<4sI4s", b"RIFF", body, b"WAVE"))
        for item in plan:
            if isinstance(item, bytes):
                dst.write(item)
                continue
            copy_range(src, dst, item.offset, 8 + item.size, _FMT)
            if item.size & 1:
                dst.write(b"\x00")


HANDLER = WavHandler()
