"""The contract between the implicit-label dispatcher and the per-format modules.

Each format module ``_<format>.py`` in this package defines one handler object named
``HANDLER`` with:

``name``
    the format's short name (``"png"``, ``"mp4"`` …), used in errors and reports.
``sniff(head: bytes) -> bool``
    whether the first bytes (at least 64 are given when the file has them) are this format.
    Formats are found by content only, never by file name.
``write(src: BinaryIO, dst: BinaryIO, aigc_json: str) -> tuple[int, int] | None``
    copy ``src`` to ``dst`` with the label carried as the format's carrier requires
    (TC260 practice guides of 2025-08-28, PG-2025-CARRIERS), replacing any existing AIGC label
    and keeping every other byte of metadata and every byte of sample/pixel/frame data.
    ``aigc_json`` is the compact JSON object of the seven GB 45438 Annex E keys, e.g.
    ``{"Label":"1","ContentProducer":"…","ProduceID":"…", …}``; the handler decides how the
    carrier wraps it (XMP property ``TC260:AIGC``, MP4 key ``AIGC``, RIFF chunk ``AIGC`` …).
    Large files are streamed: memory stays bounded whatever the file size. Returns ``None``,
    or — for a handler that also has ``read_block`` — the ``(start, end)`` of the only block
    of the output that can hold a label (the write walked the whole input and met no other),
    so the read-back checks that block instead of walking the file again.
``read_block(src: BinaryIO, start: int, end: int) -> list[RawLabel]`` (optional)
    the labels of the block at ``[start, end)``, parsed as ``read`` parses each.
``read(src: BinaryIO) -> list[RawLabel]``
    every AIGC label found, in file order, as raw text (entities already decoded), in every
    carrier the guides name and every form other tools write (see :class:`RawLabel`).

Handlers raise only :class:`~genai_compliance.errors.MalformedMedia` (with ``format`` and
``offset``) or :class:`~genai_compliance.errors.UnsupportedMedia`.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

import attrs

__all__ = ["FormatHandler", "RawLabel"]


@attrs.frozen
class RawLabel:
    """One label as found in a file: where (``carrier``), the JSON text and its offset.

    ``preferred`` is False when the carrier or form is not the one the TC260 guide names
    for the format (a tEXt chunk instead of XMP, an XMP property outside the TC260
    namespace …); ``note`` then says which form it was. An empty ``text`` means the carrier
    is present but emptied (inspect calls that inconclusive, never not-found).
    """

    carrier: str
    text: str
    offset: int | None = None
    preferred: bool = True
    note: str | None = None


class FormatHandler(Protocol):
    """See the module docstring."""

    name: str

    def sniff(self, head: bytes) -> bool: ...

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> tuple[int, int] | None: ...

    def read(self, src: BinaryIO) -> list[RawLabel]: ...
