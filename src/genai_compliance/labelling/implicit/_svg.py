"""SVG: the implicit label as XMP (``TC260:AIGC``) inside an SVG ``<metadata>`` element.

Carrier: TC260 image practice guide (PG-2025-CARRIERS; LM-5): XMP property ``TC260:AIGC``;
SVG carries XMP in ``<metadata>`` (SVG 1.1 §21). We write one
``<metadata id="tc260-aigc">`` right after the opening ``<svg …>`` tag, replacing the one a
previous run wrote; every other byte of the document is kept. Reading finds the property
anywhere in the document (element or attribute form).
"""

from __future__ import annotations

from typing import BinaryIO

from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._xmp import build_xmp, read_xmp_labels, strip_xpacket

__all__ = ["HANDLER", "SvgHandler"]

_FMT = "svg"
_MAX = 64 << 20
_OPEN = b'<metadata id="tc260-aigc">'
_CLOSE = b"</metadata>"


def _svg_open(data: bytes) -> int:
    """Offset of the first ``<svg`` start tag (followed by space, ``>`` or ``/``), or -1."""
    pos = 0
    while True:
        i = data.find(b"<svg", pos)
        if i < 0 or data[i + 4:i + 5] in (b" ", b"\t", b"\r", b"\n", b">", b"/"):
            return i
        pos = i + 4


def _strip_ours(data: bytes) -> bytes:
    """``data`` without the ``<metadata id="tc260-aigc">…</metadata>`` blocks we wrote
    (linear: one forward pass with ``bytes.find``)."""
    out = bytearray()
    pos = 0
    while True:
        i = data.find(_OPEN, pos)
        if i < 0:
            break
        j = data.find(_CLOSE, i + len(_OPEN))
        if j < 0:
            break
        out += data[pos:i]
        pos = j + len(_CLOSE)
    out += data[pos:]
    return bytes(out)


class SvgHandler:
    """SVG ``<metadata>`` XMP reader/writer (LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """XML text whose head holds an ``<svg`` root element."""
        head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
        return head.startswith(b"<") and _svg_open(head) >= 0

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy with one ``<metadata id="tc260-aigc">`` XMP element."""
        data = src.read(_MAX + 1)
        if len(data) > _MAX:
            raise MalformedMedia("SVG too large to label", format=_FMT, offset=_MAX)
        data = _strip_ours(data)
        start = _svg_open(data)
        if start < 0:
            raise MalformedMedia("no <svg> element", format=_FMT, offset=0)
        end = data.find(b">", start)
        if end < 0:
            raise MalformedMedia("unterminated <svg> tag", format=_FMT, offset=start)
        if data[end - 1:end] == b"/":
            raise MalformedMedia("empty <svg/> element cannot hold metadata", format=_FMT,
                                 offset=start)
        packet = strip_xpacket(build_xmp(aigc_json))
        block = b'<metadata id="tc260-aigc">' + packet + b"</metadata>"
        dst.write(data[:end + 1] + block + data[end + 1:])

    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every ``AIGC`` XMP value in the document (any XMP form)."""
        data = src.read(_MAX + 1)
        if len(data) > _MAX:
            raise MalformedMedia("SVG too large to read", format=_FMT, offset=_MAX)
        if b"AIGC" not in data and b"ContentProducer" not in data:
            return []
        return [lab for lab in read_xmp_labels(data, _FMT, "svg:metadata:XMP", None)
                if lab.text or lab.note != "empty XMP packet"]


HANDLER = SvgHandler()
