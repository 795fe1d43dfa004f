"""EXIF ``UserComment`` holding the implicit label, as generators and AigcTotal use it.

Not the TC260 guide's carrier (that is XMP), but real generators write the Annex E JSON —
bare or as ``{"AIGC":{…}}`` — into the EXIF ``UserComment`` (tag 0x9286 of the Exif IFD,
8-byte character-code prefix ``ASCII\\0\\0\\0``, ``UNICODE\\0`` or eight NULs), and the
public verifier reads it there (LM-5, LM-8). :func:`exif_labels` finds it in a TIFF-structured
EXIF block (JPEG ``APP1 Exif``, PNG ``eXIf``, WebP ``EXIF``); reading is bounded (at most 64
IFDs of 4096 entries, loops refused) and never raises for a damaged block (it yields nothing).
"""

from __future__ import annotations

import struct
from typing import Any

from genai_compliance.labelling.implicit._base import RawLabel

__all__ = ["blank_labels", "exif_labels", "is_label", "label_spans", "user_comment"]

_USER_COMMENT = 0x9286
_EXIF_IFD = 0x8769
_XP_COMMENT = 0x9C9C
_MAX_IFDS = 64
_MAX_ENTRIES = 4096


def _decode_comment(raw: bytes, big: bool) -> str:
    code, body = raw[:8], raw[8:]
    if code.startswith(b"UNICODE"):
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            return body.decode("utf-16", errors="replace").rstrip("\x00")
        return body.decode("utf-16-be" if big else "utf-16-le",
                           errors="replace").rstrip("\x00")
    if code.startswith((b"ASCII", b"\x00" * 8, b"JIS")) and len(raw) >= 8:
        return body.decode("utf-8", errors="replace").rstrip("\x00 ")
    return raw.decode("utf-8", errors="replace").rstrip("\x00 ")


def user_comment(tiff: Any) -> list[tuple[str, int, int, int]]:
    """[(text, tag, offset in ``tiff``, byte count)] of every UserComment/XPComment.
    ``tiff`` is bytes or any object with ``len()`` and byte slicing (a file view), so a
    large TIFF is walked without being read whole; comments over 1 MiB are skipped."""
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return []
    big = tiff[:2] == b"MM"
    e = ">" if big else "<"
    out: list[tuple[str, int, int, int]] = []
    todo = [struct.unpack(e + "I", tiff[4:8])[0]]
    seen: set[int] = set()
    while todo and len(seen) < _MAX_IFDS:
        ifd = todo.pop()
        if ifd in seen or ifd + 2 > len(tiff):
            continue
        seen.add(ifd)
        (count,) = struct.unpack(e + "H", tiff[ifd:ifd + 2])
        count = min(count, _MAX_ENTRIES)
        table = tiff[ifd + 2:ifd + 2 + 12 * count]
        for i in range(len(table) // 12):
            at = ifd + 2 + 12 * i
            tag, typ, n, value = struct.unpack_from(e + "HHII", table, 12 * i)
            if tag == _EXIF_IFD:
                todo.append(value)
            elif tag in (_USER_COMMENT, _XP_COMMENT) and typ in (1, 2, 7) and n <= 1 << 20:
                start = at + 8 if n <= 4 else value
                raw = tiff[start:start + n]
                if len(raw) != n:
                    continue
                text = (raw.decode("utf-16-le", errors="replace").rstrip("\x00")
                        if tag == _XP_COMMENT else _decode_comment(raw, big))
                out.append((text, tag, start, n))
        nxt_at = ifd + 2 + 12 * count
        if nxt_at + 4 <= len(tiff):
            nxt = struct.unpack(e + "I", tiff[nxt_at:nxt_at + 4])[0]
            if nxt:
                todo.append(nxt)
    return out


def is_label(text: str) -> bool:
    """Whether a comment's text is an Annex E JSON object (bare or wrapped)."""
    t = text.lstrip()
    return t.startswith("{") and ('"Label"' in t[:4096] or '"AIGC"' in t[:64])


def exif_labels(tiff: Any, carrier: str, base: int) -> list[RawLabel]:
    """The Annex E labels (bare or ``{"AIGC":…}``) in the UserComment of ``tiff``."""
    try:
        found = user_comment(tiff)
    except struct.error:
        return []
    return [RawLabel(carrier, text.strip(), base + off, preferred=False,
                     note="EXIF UserComment, not the XMP carrier the TC260 image guide names")
            for text, _tag, off, _n in found if is_label(text)]


_CODES = (b"ASCII\x00\x00\x00", b"UNICODE\x00", bytes(8))


def label_spans(tiff: Any) -> list[tuple[int, int]]:
    """[(offset, length)] of the bytes to blank so no UserComment holds a label (the
    8-byte character-code prefix kept)."""
    try:
        found = user_comment(tiff)
    except struct.error:
        return []
    spans = []
    for text, _tag, off, n in found:
        if is_label(text):
            keep = 8 if n >= 8 and tiff[off:off + 8] in _CODES else 0
            spans.append((off + keep, n - keep))
    return spans


def blank_labels(tiff: bytes) -> bytes:
    """``tiff`` with every label-bearing UserComment overwritten by NULs in place (the
    character-code prefix kept), so no EXIF offset moves and the writer leaves one label."""
    out = bytearray(tiff)
    for off, n in label_spans(tiff):
        out[off:off + n] = bytes(n)
    return bytes(out)
