"""Markdown: the implicit label as ``AIGC:`` in the YAML front matter.

Carrier: TC260 text practice guide (PG-2025-CARRIERS; LM-5): a front-matter key ``AIGC``
whose value is the GB 45438 Annex E JSON, written as a single-quoted YAML scalar. An
existing front matter keeps every other line; a file without one gets a new block. Content is
recognised as Markdown only when that is clear: UTF-8 text that starts with a front matter
(``---``). Other text (a heading-only Markdown file, but also PEM, JSON, CSV — a PEM bundle
starting with ``# comment`` lines looks like a heading) is not claimed; pass
``format="markdown"`` (CLI ``--format markdown``) to label it as Markdown anyway.
Reading accepts a quoted or plain scalar and a block mapping of the seven keys.
"""

from __future__ import annotations

import json
import re
from typing import BinaryIO

from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling.implicit._base import RawLabel

__all__ = ["HANDLER", "MarkdownHandler"]

_FMT = "markdown"
_MAX = 64 << 20
_FENCE = re.compile(r"^---[ \t]*\r?\n(.*?)(?:^|\n)(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_KEY = re.compile(r"^AIGC[ \t]*:(.*)$")


def _text(src: BinaryIO) -> str:
    data = src.read(_MAX + 1)
    if len(data) > _MAX:
        raise MalformedMedia("Markdown file too large to label", format=_FMT, offset=_MAX)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedMedia("Markdown is not UTF-8", format=_FMT, offset=exc.start) from None


def _front(text: str) -> tuple[list[str], int] | None:
    """(front-matter lines, offset where the body starts) or None."""
    m = _FENCE.match(text)
    if not m:
        return None
    return m.group(1).splitlines(), m.end()


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            out: str = json.loads(value)
            return out
        except ValueError:
            return value[1:-1]
    return value


def _aigc_entries(lines: list[str]) -> list[tuple[int, int, str]]:
    """[(first line, end line, label text)] of top-level AIGC keys."""
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(lines):
        m = _KEY.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and (lines[j][:1] in (" ", "\t") or not lines[j].strip()):
            j += 1
        value = m.group(1).strip()
        if value:
            text = _unquote(value)
        else:
            fields = {}
            for line in lines[i + 1:j]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    fields[k.strip()] = _unquote(v)
            text = json.dumps(fields, separators=(",", ":"))
        out.append((i, j, text))
        i = j
    return out


class MarkdownHandler:
    """Markdown front-matter ``AIGC`` reader/writer (LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """UTF-8 text starting with ``---`` front matter."""
        head = head.removeprefix(b"\xef\xbb\xbf")
        if b"\x00" in head or not (head.startswith((b"---\n", b"---\r\n"))):
            return False
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            return exc.start >= len(head) - 3  # a character cut by the head boundary
        return True

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Set ``AIGC: '<json>'`` in the front matter, keeping all other lines."""
        text = _text(src)
        line = "AIGC: '" + aigc_json.replace("'", "''") + "'"
        nl = "\r\n" if "\r\n" in text[:4096] else "\n"
        front = _front(text)
        if front is None:
            out = f"---{nl}{line}{nl}---{nl}{text}"
        else:
            lines, body_at = front
            first = None
            for start, end, _ in reversed(_aigc_entries(lines)):
                del lines[start:end]
                first = start
            lines.insert(len(lines) if first is None else first, line)
            out = f"---{nl}" + nl.join(lines) + f"{nl}---{nl}" + text[body_at:]
        dst.write(out.encode("utf-8"))

    def read(self, src: BinaryIO) -> list[RawLabel]:
        """Every top-level ``AIGC`` key of the front matter."""
        front = _front(_text(src))
        if front is None:
            return []
        return [RawLabel("markdown:front-matter", t, None) for _, _, t in _aigc_entries(front[0])]


HANDLER = MarkdownHandler()
