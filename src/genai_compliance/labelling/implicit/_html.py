"""HTML: the implicit label as ``<meta name="AIGC" content="…">`` in the document head.

Carrier: the issue's SVG/HTML text carrier (TC260 text practice guide, PG-2025-CARRIERS,
LM-5): a ``meta`` element named ``AIGC`` whose ``content`` is the GB 45438 Annex E JSON,
attribute-escaped. It goes right after the opening ``<head>`` tag (a ``<head>`` is added after
``<html …>`` when missing); an earlier ``AIGC`` meta element is removed; every other byte
is kept. Recognised by content: text starting with ``<!DOCTYPE html`` or ``<html``.
"""

from __future__ import annotations

import re
from html import escape, unescape
from typing import BinaryIO

from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling.implicit._base import RawLabel

__all__ = ["HANDLER", "HtmlHandler"]

_FMT = "html"
_MAX = 64 << 20
_META = re.compile(rb"""<meta\s+[^>]*?name\s*=\s*["']?AIGC["']?[^>]*>[ \t]*\r?\n?""", re.I)
_CONTENT = re.compile(rb"""content\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_HEAD = re.compile(rb"<head(?:\s[^>]*)?>", re.I)
_HTML = re.compile(rb"<html(?:\s[^>]*)?>", re.I)


def _read(src: BinaryIO) -> bytes:
    data = src.read(_MAX + 1)
    if len(data) > _MAX:
        raise MalformedMedia("HTML too large to label", format=_FMT, offset=_MAX)
    return data


class HtmlHandler:
    """HTML ``<meta name="AIGC">`` reader/writer (LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """Text starting with ``<!DOCTYPE html`` or ``<html`` (case-insensitive)."""
        h = head.removeprefix(b"\xef\xbb\xbf").lstrip()[:20].lower()
        return h.startswith((b"<!doctype html", b"<html"))

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Copy with one ``AIGC`` meta element at the start of the head."""
        data = _META.sub(b"", _read(src))
        meta = b'<meta name="AIGC" content="' + escape(aigc_json, quote=True).encode() + b'">'
        m = _HEAD.search(data)
        if m is None:
            h = _HTML.search(data)
            if h is None:
                raise MalformedMedia("HTML without <html> or <head>", format=_FMT, offset=0)
            dst.write(data[:h.end()] + b"<head>" + meta + b"</head>" + data[h.end():])
            return
        dst.write(data[:m.end()] + meta + data[m.end():])

    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every ``AIGC`` meta element's content."""
        data = _read(src)
        out: list[RawLabel] = []
        for m in _META.finditer(data):
            c = _CONTENT.search(m.group(0))
            if c is not None:
                raw = c.group(1) if c.group(1) is not None else c.group(2)
                out.append(RawLabel("html:meta", unescape(raw.decode("utf-8", "replace")),
                                    m.start()))
        return out


HANDLER = HtmlHandler()
