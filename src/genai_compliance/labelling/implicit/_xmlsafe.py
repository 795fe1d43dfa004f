"""Hardened XML for attacker-controlled metadata (LM-5 readers and writers).

Every XML packet a label reader or writer meets (XMP, OOXML parts, SVG) comes from the file
being labelled or inspected, so it is parsed here and only here: expat (linear in the input),
no DOCTYPE, no entity declarations, no external entities, a byte limit and an element-depth
limit. Violations raise :class:`~genai_compliance.errors.MalformedMedia`; nothing else leaves.
No backtracking regular expression ever sees the markup.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import xml.parsers.expat as expat
from collections.abc import Callable

from genai_compliance.errors import MalformedMedia

__all__ = ["MAX_DEPTH", "MAX_XML", "parse_tree", "walk"]

#: Deepest element nesting accepted (XMP needs < 10; OOXML parts < 30).
MAX_DEPTH = 256
#: Largest XML text parsed.
MAX_XML = 64 << 20


class _Refused(Exception):
    pass


def _name(raw: str) -> str:
    uri, sep, local = raw.rpartition("\x01")
    return f"{{{uri}}}{local}" if sep else raw


def _parser(fmt: str, start: Callable[[str, dict[str, str]], None],
            end: Callable[[str], None], data: Callable[[str], None] | None,
            prefixes: dict[str, str] | None, max_depth: int) -> expat.XMLParserType:
    p = expat.ParserCreate(namespace_separator="\x01")
    depth = [0]

    def on_start(name: str, attrs: dict[str, str]) -> None:
        depth[0] += 1
        if depth[0] > max_depth:
            raise _Refused(f"XML nested deeper than {max_depth} elements")
        start(_name(name), {_name(k): v for k, v in attrs.items()})

    def on_end(name: str) -> None:
        depth[0] -= 1
        end(_name(name))

    def refuse_doctype(*_args: object) -> None:
        raise _Refused("XML with a DOCTYPE declaration is refused")

    def refuse_entity(*_args: object) -> None:
        raise _Refused("XML with an ENTITY declaration is refused")

    def refuse_external(*_args: object) -> int:
        raise _Refused("XML with an external entity reference is refused")

    p.StartElementHandler = on_start
    p.EndElementHandler = on_end
    if data is not None:
        p.CharacterDataHandler = data
    p.StartDoctypeDeclHandler = refuse_doctype
    p.EntityDeclHandler = refuse_entity
    p.UnparsedEntityDeclHandler = refuse_entity
    p.ExternalEntityRefHandler = refuse_external
    if prefixes is not None:
        def on_ns(prefix: str | None, uri: str) -> None:
            if prefix and uri not in prefixes.values():
                prefixes.setdefault(prefix, uri)
        p.StartNamespaceDeclHandler = on_ns
    p.buffer_text = True
    return p


def _run(p: expat.XMLParserType, text: bytes, fmt: str) -> None:
    if len(text) > MAX_XML:
        raise MalformedMedia(f"XML larger than {MAX_XML >> 20} MiB is refused", format=fmt,
                             offset=None)
    try:
        p.Parse(text, True)
    except _Refused as exc:
        raise MalformedMedia(f"{exc}; the file is refused as hostile or damaged", format=fmt,
                             offset=p.CurrentByteIndex) from None
    except expat.ExpatError as exc:
        raise MalformedMedia(f"XML is not well-formed: {exc}", format=fmt,
                             offset=p.CurrentByteIndex) from None
    except (ValueError, RecursionError, LookupError) as exc:  # LookupError: bad encoding=
        raise MalformedMedia(f"XML cannot be parsed: {exc}", format=fmt, offset=None) from None


def parse_tree(text: bytes, fmt: str, prefixes: dict[str, str] | None = None,
               max_depth: int = MAX_DEPTH) -> ET.Element:
    """``text`` as an ElementTree root, through the hardened parser. ``prefixes`` (when
    given) collects the document's namespace prefixes so a rewrite can keep them."""
    builder = ET.TreeBuilder()

    def start(tag: str, attrs: dict[str, str]) -> None:
        builder.start(tag, attrs)

    def end(tag: str) -> None:
        builder.end(tag)

    p = _parser(fmt, start, end, builder.data, prefixes, max_depth)
    _run(p, text, fmt)
    try:
        return builder.close()
    except (AssertionError, ValueError) as exc:  # pragma: no cover - expat checks balance
        raise MalformedMedia(f"XML is not well-formed: {exc}", format=fmt,
                             offset=None) from None


def walk(text: bytes, fmt: str, start: Callable[[str, dict[str, str]], None],
         end: Callable[[str], None], data: Callable[[str], None] | None = None,
         max_depth: int = MAX_DEPTH) -> None:
    """Stream ``text`` through the hardened parser calling ``start``/``end``/``data``."""
    _run(_parser(fmt, start, end, data, None, max_depth), text, fmt)


def _esc(text: str, attr: bool = False) -> str:
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return out.replace('"', "&quot;") if attr else out


def serialize(root: ET.Element, default_ns: str, prefixes: dict[str, str]) -> str:
    """``root`` as XML text with ``default_ns`` as the default namespace and ``prefixes``
    (prefix -> URI) for the others (unknown namespaces get ``ns1``, ``ns2`` …); unqualified
    attributes stay unqualified. Iterative, so any depth the parser accepted serializes."""
    names = {uri: p for p, uri in prefixes.items()}
    used: dict[str, str] = {}

    def qname(tag: str, is_attr: bool) -> str:
        if not tag.startswith("{"):
            return tag
        uri, _, local = tag[1:].partition("}")
        if uri == default_ns and not is_attr:
            return local
        if uri == "http://www.w3.org/XML/1998/namespace":
            return f"xml:{local}"
        prefix = names.get(uri)
        if prefix is None:
            prefix = names[uri] = f"ns{len(names) + 1}"
        used[prefix] = uri
        return f"{prefix}:{local}"

    parts: list[str] = []
    stack: list[tuple[ET.Element, bool]] = [(root, False)]
    while stack:
        el, closing = stack.pop()
        if closing:
            parts.append(f"</{qname(el.tag, False)}>")
            if el.tail:
                parts.append(_esc(el.tail))
            continue
        attrs = "".join(f' {qname(k, True)}="{_esc(v, True)}"' for k, v in el.attrib.items())
        parts.append(f"<{qname(el.tag, False)}{attrs}>")
        if el.text:
            parts.append(_esc(el.text))
        stack.append((el, True))
        stack.extend((child, False) for child in reversed(list(el)))
    body = "".join(parts)
    decl = f' xmlns="{_esc(default_ns, True)}"' + "".join(
        f' xmlns:{p}="{_esc(u, True)}"' for p, u in sorted(used.items()))
    first = body.index(">")
    if body[first - 1] == "/":  # pragma: no cover - we never emit self-closing tags
        first -= 1
    return body[:first] + decl + body[first:]
