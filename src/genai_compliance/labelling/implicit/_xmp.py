"""XMP packets carrying the implicit label as ``TC260:AIGC`` (LM-5).

Carrier: TC260 practice guide for images/documents (PG-2025-CARRIERS): XMP namespace
``http://www.tc260.org.cn/ns/AIGC/1.0/`` (prefix ``TC260``), simple property ``AIGC`` whose
value is the GB 45438 Annex E JSON, XML-escaped. :func:`merge_xmp` keeps every other property
of an existing packet; :func:`read_xmp` finds the property as an element or an attribute.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import unescape

from genai_compliance.errors import MalformedMedia

__all__ = ["TC260_NS", "build_xmp", "merge_xmp", "read_xmp"]

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_X = "adobe:ns:meta/"
_HEAD = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
_TAIL = '<?xpacket end="w"?>'
_MAX = 16 << 20


def _esc(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def build_xmp(aigc_json: str) -> bytes:
    """A fresh XMP packet holding only ``TC260:AIGC``."""
    return (f'{_HEAD}<x:xmpmeta xmlns:x="{_X}"><rdf:RDF xmlns:rdf="{_RDF}">'
            f'<rdf:Description rdf:about="" xmlns:TC260="{TC260_NS}">'
            f"<TC260:AIGC>{_esc(aigc_json)}</TC260:AIGC></rdf:Description></rdf:RDF>"
            f"</x:xmpmeta>{_TAIL}").encode()


def _parse(packet: bytes, fmt: str) -> ET.Element:
    if len(packet) > _MAX:
        raise MalformedMedia("XMP packet too large", format=fmt, offset=None)
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        raise MalformedMedia("XMP packet with a DOCTYPE/ENTITY declaration is refused",
                             format=fmt, offset=None)
    text = packet.decode("utf-8", errors="strict") if packet else ""
    text = re.sub(r"<\?xpacket[^>]*\?>", "", text).strip().lstrip("\ufeff")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise MalformedMedia(f"XMP packet is not well-formed XML: {exc}", format=fmt,
                             offset=None) from None


def merge_xmp(packet: bytes | None, aigc_json: str, fmt: str = "xmp") -> bytes:
    """``packet`` with any old ``TC260:AIGC`` removed and the new one added."""
    if not packet or not packet.strip(b"\x00 \r\n\t"):
        return build_xmp(aigc_json)
    try:
        root = _parse(packet.rstrip(b"\x00 \r\n\t"), fmt)
    except UnicodeDecodeError:
        raise MalformedMedia("XMP packet is not UTF-8", format=fmt, offset=None) from None
    rdf = root if root.tag == f"{{{_RDF}}}RDF" else root.find(f".//{{{_RDF}}}RDF")
    if rdf is None:
        return build_xmp(aigc_json)
    tag = f"{{{TC260_NS}}}AIGC"
    for desc in rdf.iter(f"{{{_RDF}}}Description"):
        desc.attrib.pop(tag, None)
        for child in list(desc):
            if child.tag == tag:
                desc.remove(child)
    for desc in rdf.findall(f"{{{_RDF}}}Description"):
        if len(desc) == 0 and set(desc.attrib) <= {f"{{{_RDF}}}about"}:
            rdf.remove(desc)
    desc = ET.SubElement(rdf, f"{{{_RDF}}}Description", {f"{{{_RDF}}}about": ""})
    ET.SubElement(desc, tag).text = aigc_json
    ET.register_namespace("x", _X)
    ET.register_namespace("rdf", _RDF)
    ET.register_namespace("TC260", TC260_NS)
    body = ET.tostring(root, encoding="unicode")
    if root.tag != f"{{{_X}}}xmpmeta":
        body = f'<x:xmpmeta xmlns:x="{_X}">{body}</x:xmpmeta>'
    return f"{_HEAD}{body}{_TAIL}".encode()


_ELEM = re.compile(r"<([\w.-]+):AIGC(?:\s[^>]*)?>(.*?)</\1:AIGC>", re.S)
_ATTR = re.compile(r"""\s([\w.-]+):AIGC\s*=\s*(["'])(.*?)\2""", re.S)


def read_xmp(packet: bytes, fmt: str = "xmp") -> list[str]:
    """Every ``TC260:AIGC`` value (entities decoded) in ``packet``."""
    try:
        root = _parse(packet.rstrip(b"\x00 \r\n\t"), fmt)
    except (MalformedMedia, UnicodeDecodeError):
        # Damaged packet: fall back to a textual scan for a TC260-bound AIGC property.
        text = packet.decode("utf-8", errors="replace")
        if TC260_NS not in text:
            return []
        return ([unescape(m.group(2)) for m in _ELEM.finditer(text)]
                + [unescape(m.group(3)) for m in _ATTR.finditer(text)])
    tag = f"{{{TC260_NS}}}AIGC"
    out: list[str] = []
    for el in root.iter():
        if tag in el.attrib:
            out.append(el.attrib[tag])
        for child in el:
            if child.tag == tag:
                out.append("".join(child.itertext()).strip())
    return out
