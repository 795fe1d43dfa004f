"""XMP packets carrying the implicit label as ``TC260:AIGC`` (LM-5).

Carrier: TC260 practice guide for images/documents (PG-2025-CARRIERS): XMP namespace
``http://www.tc260.org.cn/ns/AIGC/1.0/`` (prefix ``TC260``), simple property ``AIGC`` whose
value is the GB 45438 Annex E JSON, XML-escaped. :func:`merge_xmp` keeps every other property
of an existing packet.

Reading (:func:`read_xmp_labels`) accepts every form other tools write, as the public
verifier AigcTotal does: the ``AIGC`` property as an element or an attribute in the TC260
namespace (preferred), the same in any other namespace (one open toolkit binds the prefix
``TC260`` to ``http://ns.adobe.com/xap/1.0/tc/``), and the seven Annex E fields as plain
``rdf:Description`` attributes or elements. All parsing goes through :mod:`._xmlsafe`
(expat, no DTD, bounded depth and size); a packet that is not well-formed XML is searched
by a linear text scan for an ``AIGC`` element or attribute.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html import unescape

from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._xmlsafe import parse_tree, walk

__all__ = ["TC260_NS", "build_xmp", "merge_xmp", "read_xmp", "read_xmp_labels",
           "strip_xpacket"]

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_X = "adobe:ns:meta/"
_HEAD = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
_TAIL = '<?xpacket end="w"?>'
_MAX = 16 << 20
_FIELDS = ("Label", "ContentProducer", "ProduceID", "ReservedCode1",
           "ContentPropagator", "PropagateID", "ReservedCode2")
_KEEP = {"x": _X, "rdf": _RDF, "TC260": TC260_NS}


def _esc(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def build_xmp(aigc_json: str) -> bytes:
    """A fresh XMP packet holding only ``TC260:AIGC``."""
    return (f'{_HEAD}<x:xmpmeta xmlns:x="{_X}"><rdf:RDF xmlns:rdf="{_RDF}">'
            f'<rdf:Description rdf:about="" xmlns:TC260="{TC260_NS}">'
            f"<TC260:AIGC>{_esc(aigc_json)}</TC260:AIGC></rdf:Description></rdf:RDF>"
            f"</x:xmpmeta>{_TAIL}").encode()


def strip_xpacket(packet: bytes) -> bytes:
    """``packet`` without ``<?xpacket …?>`` processing instructions, BOM and padding
    (linear: each instruction is found with ``bytes.find``)."""
    out = bytearray()
    pos = 0
    while True:
        i = packet.find(b"<?xpacket", pos)
        if i < 0:
            out += packet[pos:]
            break
        j = packet.find(b"?>", i + 9)
        if j < 0:
            out += packet[pos:]
            break
        out += packet[pos:i]
        pos = j + 2
    return bytes(out).strip(b"\x00 \r\n\t").removeprefix(b"\xef\xbb\xbf").strip()


def _parse(packet: bytes, fmt: str, prefixes: dict[str, str] | None = None) -> ET.Element:
    if len(packet) > _MAX:
        raise MalformedMedia("XMP packet larger than 16 MiB is refused", format=fmt,
                             offset=None)
    return parse_tree(strip_xpacket(packet), fmt, prefixes)


def merge_xmp(packet: bytes | None, aigc_json: str | None, fmt: str = "xmp") -> bytes:
    """``packet`` with every old ``AIGC`` property removed and the new one added (only
    removed when ``aigc_json`` is None)."""
    if not packet or not strip_xpacket(packet):
        return build_xmp(aigc_json) if aigc_json is not None else b""
    prefixes: dict[str, str] = {}
    root = _parse(packet, fmt, prefixes)
    rdf = root if root.tag == f"{{{_RDF}}}RDF" else root.find(f".//{{{_RDF}}}RDF")
    if rdf is None:
        return build_xmp(aigc_json) if aigc_json is not None else packet
    for desc in rdf.iter(f"{{{_RDF}}}Description"):
        for key in [k for k in desc.attrib if k.rpartition("}")[2] == "AIGC"]:
            desc.attrib.pop(key)
        for child in list(desc):
            if child.tag.rpartition("}")[2] == "AIGC":
                desc.remove(child)
    for desc in rdf.findall(f"{{{_RDF}}}Description"):
        if len(desc) == 0 and set(desc.attrib) <= {f"{{{_RDF}}}about"}:
            rdf.remove(desc)
    if aigc_json is not None:
        desc = ET.SubElement(rdf, f"{{{_RDF}}}Description", {f"{{{_RDF}}}about": ""})
        ET.SubElement(desc, f"{{{TC260_NS}}}AIGC").text = aigc_json
    for prefix, uri in {**prefixes, **_KEEP}.items():
        try:
            ET.register_namespace(prefix, uri)
        except ValueError:
            continue  # ElementTree's reserved ns0… prefixes
    body = ET.tostring(root, encoding="unicode")
    if root.tag != f"{{{_X}}}xmpmeta":
        body = f'<x:xmpmeta xmlns:x="{_X}">{body}</x:xmpmeta>'
    return f"{_HEAD}{body}{_TAIL}".encode()


def _local(tag: str) -> tuple[str, str]:
    uri, _, local = tag.rpartition("}")
    return uri.lstrip("{"), local


def _structured(packet: bytes, fmt: str) -> list[tuple[str, str, bool]]:
    """[(value, form, preferred)] from a well-formed packet."""
    wrapped: list[tuple[str, str, bool]] = []
    fields: dict[str, str] = {}
    stack: list[tuple[str, list[str]]] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        for key, value in attrs.items():
            uri, local = _local(key)
            if local == "AIGC":
                ns = uri == TC260_NS
                wrapped.append((value, "XMP attribute" if ns else
                                f"XMP attribute in namespace {uri or '(none)'}", ns))
            elif local in _FIELDS:
                fields.setdefault(local, value)
        stack.append((tag, []))

    def data(text: str) -> None:
        if stack:
            stack[-1][1].append(text)

    def end(tag: str) -> None:
        _, parts = stack.pop()
        uri, local = _local(tag)
        text = "".join(parts).strip()
        if local == "AIGC":
            ns = uri == TC260_NS
            wrapped.append((text, "XMP element" if ns else
                            f"XMP element in namespace {uri or '(none)'}", ns))
        elif local in _FIELDS and text:
            fields.setdefault(local, text)

    walk(strip_xpacket(packet), fmt, start, end, data)
    preferred = [w for w in wrapped if w[2]]
    if preferred:
        return preferred
    if wrapped:
        return wrapped
    if "Label" in fields:
        doc = {k: fields[k] for k in _FIELDS if k in fields}
        return [(json.dumps(doc, separators=(",", ":"), ensure_ascii=False),
                 "Annex E fields as plain XMP properties", False)]
    return []


def _scan_text(text: str) -> list[tuple[str, str, bool]]:
    """Linear fallback for a damaged packet: ``…:AIGC>value<`` and ``…:AIGC="value"``."""
    out: list[tuple[str, str, bool]] = []
    pos = 0
    n = len(text)
    while True:
        i = text.find("AIGC", pos)
        if i < 0:
            return out
        pos = i + 4
        if i == 0 or text[i - 1] not in ":<":
            continue
        j = pos
        while j < n and text[j] in " \t\r\n":
            j += 1
        if j < n and text[j] == "=":
            j += 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j < n and text[j] in "\"'":
                k = text.find(text[j], j + 1)
                if k < 0:
                    return out
                out.append((unescape(text[j + 1:k]), "XMP attribute (damaged packet)", False))
                pos = k + 1
            continue
        if j < n and text[j] in ">" and text[i - 1] == ":":
            k = text.find("<", j + 1)
            if k < 0:
                k = n
            value = unescape(text[j + 1:k]).strip()
            if value:
                out.append((value, "XMP element (damaged packet)", False))
            pos = k


def _values(packet: bytes, fmt: str) -> list[tuple[str, str, bool]]:
    try:
        return _structured(packet, fmt)
    except MalformedMedia:
        if len(packet) > _MAX:
            raise
        return _scan_text(packet.decode("utf-8", errors="replace"))


def read_xmp(packet: bytes, fmt: str = "xmp") -> list[str]:
    """Every ``AIGC`` value (entities decoded) in ``packet`` (see the module docstring)."""
    return [v for v, _, _ in _values(packet, fmt)]


def read_xmp_labels(packet: bytes, fmt: str, carrier: str,
                    offset: int | None) -> list[RawLabel]:
    """The labels of ``packet`` as :class:`RawLabel` s of ``carrier``; a label in a form other
    than the guide's ``TC260:AIGC`` is marked not preferred, the form named in the note."""
    if not strip_xpacket(packet):
        return [RawLabel(carrier, "", offset, preferred=False,
                         note="empty XMP packet")]
    return [RawLabel(carrier, v, offset, preferred=pref, note=None if pref else form)
            for v, form, pref in _values(packet, fmt)]
