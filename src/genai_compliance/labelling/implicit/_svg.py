"""SVG: the implicit label as XMP (``TC260:AIGC``) inside an SVG ``<metadata>`` element.

Carrier: TC260 image practice guide (PG-2025-CARRIERS; LM-5): XMP property ``TC260:AIGC``;
SVG carries XMP in ``<metadata>`` (SVG 1.1 §21). We write one
``<metadata id="tc260-aigc">`` right after the opening ``<svg …>`` tag, replacing the one a
previous run wrote; every other byte of the document is kept. Reading finds the property
anywhere in the document (element or attribute form).
"""

from __future__ import annotations

import re
from typing import BinaryIO

from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._xmp import TC260_NS, build_xmp, read_xmp

__all__ = ["HANDLER", "SvgHandler"]

_FMT = "svg"
_MAX = 64 << 20
_OURS = re.compile(rb'<metadata id="tc260-aigc">.*?</metadata>', re.S)
_SVG_OPEN = re.compile(rb"<svg[\s>/]")
_PACKET = re.compile(rb"<\?xpacket[^>]*\?>")


class SvgHandler:
    """SVG ``<metadata>`` XMP reader/writer (LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """XML text whose head holds an ``<svg`` root element."""
        head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
        return head.startswith(b"<") and _SVG_OPEN.search(head) is not None

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy with one ``<metadata id="tc260-aigc">`` XMP element."""
        data = src.read(_MAX + 1)
        if len(data) > _MAX:
            raise MalformedMedia("SVG too large to label", format=_FMT, offset=_MAX)
        data = _OURS.sub(b"", data)
        m = _SVG_OPEN.search(data)
        if m is None:
            raise MalformedMedia("no <svg> element", format=_FMT, offset=0)
        end = data.find(b">", m.start())
        if end < 0:
            raise MalformedMedia("unterminated <svg> tag", format=_FMT, offset=m.start())
        if data[end - 1:end] == b"/":
            raise MalformedMedia("empty <svg/> element cannot hold metadata", format=_FMT,
                                 offset=m.start())
        packet = _PACKET.sub(b"", build_xmp(aigc_json))
        block = b'<metadata id="tc260-aigc">' + packet + b"</metadata>"
        dst.write(data[:end + 1] + block + data[end + 1:])

    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every ``TC260:AIGC`` value in the document."""
        data = src.read(_MAX + 1)
        if TC260_NS.encode() not in data:
            return []
        return [RawLabel("svg:metadata:XMP", t, None) for t in read_xmp(data, _FMT)]


HANDLER = SvgHandler()
