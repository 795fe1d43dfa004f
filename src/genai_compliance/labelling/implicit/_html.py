"""HTML: the implicit label as ``<meta name="AIGC" content="…">`` in the document head.

Carrier: the issue's SVG/HTML text carrier (TC260 text practice guide, PG-2025-CARRIERS,
LM-5): a ``meta`` element named ``AIGC`` whose ``content`` is the GB 45438 Annex E JSON,
attribute-escaped. It goes right after the opening ``<head>`` tag (a ``<head>`` is added after
``<html …>`` when missing); an earlier ``AIGC`` meta element is removed; every other byte
is kept. Recognised by content: text starting with ``<!DOCTYPE html`` or ``<html``.
"""

from __future__ import annotations

from html import escape, unescape
from typing import BinaryIO

from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling.implicit._base import RawLabel

__all__ = ["HANDLER", "HtmlHandler"]

_FMT = "html"
_MAX = 64 << 20
_SPACE = b" \t\r\n\f"


def _attrs(tag: bytes) -> dict[bytes, bytes]:
    """The attributes of one start tag ``<name …>`` (names lower-cased), by a single
    forward pass: no regular expression meets the markup."""
    out: dict[bytes, bytes] = {}
    n = len(tag)
    i = 1
    while i < n and tag[i] not in _SPACE and tag[i] not in b"/>":
        i += 1
    while i < n:
        while i < n and (tag[i] in _SPACE or tag[i] == 0x2F):
            i += 1
        if i >= n or tag[i] == 0x3E:
            break
        start = i
        while i < n and tag[i] not in _SPACE and tag[i] not in b"=>":
            i += 1
        name = tag[start:i].lower()
        while i < n and tag[i] in _SPACE:
            i += 1
        value = b""
        if i < n and tag[i] == 0x3D:
            i += 1
            while i < n and tag[i] in _SPACE:
                i += 1
            if i < n and tag[i] in b"\"'":
                q = tag[i]
                j = tag.find(bytes([q]), i + 1)
                j = n if j < 0 else j
                value = tag[i + 1:j]
                i = j + 1
            else:
                start = i
                while i < n and tag[i] not in _SPACE and tag[i] != 0x3E:
                    i += 1
                value = tag[start:i]
        out.setdefault(name, value)
    return out


def _metas(data: bytes) -> list[tuple[int, int, bytes]]:
    """[(start, end incl. trailing blanks and one newline, content)] of every
    ``<meta name="AIGC" …>`` element (linear: each tag is found with ``bytes.find``)."""
    lower = data.lower()
    out: list[tuple[int, int, bytes]] = []
    pos = 0
    while True:
        i = lower.find(b"<meta", pos)
        if i < 0:
            return out
        j = lower.find(b">", i)
        if j < 0:
            return out  # an unclosed tag: nothing after it can close either
        pos = j + 1
        if lower[i + 5:i + 6] not in (b" ", b"\t", b"\r", b"\n", b"\f", b"/"):
            continue
        attrs = _attrs(data[i:j + 1])
        if attrs.get(b"name", b"").upper() != b"AIGC":
            continue
        end = j + 1
        while end < len(data) and data[end] in b" \t":
            end += 1
        if data[end:end + 2] == b"\r\n":
            end += 2
        elif data[end:end + 1] == b"\n":
            end += 1
        out.append((i, end, attrs.get(b"content", b"")))


def _tag_end(data: bytes, name: bytes) -> int | None:
    """Offset after the first ``<name>``/``<name …>`` start tag, or None."""
    lower = data.lower()
    pos = 0
    while True:
        i = lower.find(b"<" + name, pos)
        if i < 0:
            return None
        after = lower[i + 1 + len(name):i + 2 + len(name)]
        if after in (b">", b" ", b"\t", b"\r", b"\n", b"\f"):
            j = lower.find(b">", i)
            return None if j < 0 else j + 1
        pos = i + 1


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
        raw = _read(src)
        parts: list[bytes] = []
        pos = 0
        for start, end, _ in _metas(raw):
            parts.append(raw[pos:start])
            pos = end
        data = b"".join(parts) + raw[pos:]
        meta = b'<meta name="AIGC" content="' + escape(aigc_json, quote=True).encode() + b'">'
        head = _tag_end(data, b"head")
        if head is None:
            html = _tag_end(data, b"html")
            if html is None:
                raise MalformedMedia("HTML without <html> or <head>", format=_FMT, offset=0)
            dst.write(data[:html] + b"<head>" + meta + b"</head>" + data[html:])
            return
        dst.write(data[:head] + meta + data[head:])

    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every ``AIGC`` meta element's content."""
        data = _read(src)
        return [RawLabel("html:meta", unescape(content.decode("utf-8", "replace")), start)
                for start, _, content in _metas(data)]


HANDLER = HtmlHandler()
