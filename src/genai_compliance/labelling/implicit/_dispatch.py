"""Find a file's format by content and label/read it with that format's handler (LM-5).

The handler table is literal and ordered: the first handler whose ``sniff`` accepts the head
of the data wins. An ID3v2 tag at the start (which the MP3 sniffer would claim) is skipped
and the data behind it sniffed again, so FLAC or other streams with a leading ID3 tag reach
their own handler; MP3 is the fallback.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from genai_compliance.errors import LabelError, MalformedMedia, MediaError, UnsupportedMedia
from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit._base import FormatHandler, RawLabel
from genai_compliance.rules import implements

__all__ = ["HANDLERS", "add_propagation", "handler_for", "handler_named", "label_bytes",
           "label_file", "label_stream", "read_labels", "scan", "sniff"]

class _LazyHandler:
    """A format handler whose module is imported the first time it is used, so sniffing a
    PNG does not load the Matroska, MP4 or PDF code (CLI start-up, issue 14)."""

    __slots__ = ("_handler", "_module", "name")

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self.name = name
        self._handler: FormatHandler | None = None

    def load(self) -> FormatHandler:
        if self._handler is None:
            mod = importlib.import_module(f"genai_compliance.labelling.implicit.{self._module}")
            handler: FormatHandler = mod.HANDLER
            self._handler = handler
        return self._handler

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.load(), attr)

    def __repr__(self) -> str:
        return f"<handler {self.name}>"


#: Sniff order. MP3 after the binary formats (its sniffer accepts any leading ID3 tag);
#: the text formats HTML, SVG and Markdown last (HTML before SVG: inline <svg>).
HANDLERS: tuple[FormatHandler, ...] = tuple(
    _LazyHandler(f"_{name}", name) for name in (
        "png", "jpeg", "webp", "gif", "tiff", "wav", "avi", "flac", "ogg", "heif", "mp4",
        "mkv", "pdf", "ooxml", "mp3", "html", "svg", "markdown"))
_HEAD = 4096


def _id3_length(head: bytes) -> int | None:
    if len(head) < 10 or head[:3] != b"ID3":
        return None
    size_bytes = head[6:10]
    if any(b & 0x80 for b in size_bytes):
        return None
    raw = int.from_bytes(size_bytes, "big")
    size = (raw & 0x7F) | ((raw >> 8 & 0x7F) << 7) | ((raw >> 16 & 0x7F) << 14) | (
        (raw >> 24 & 0x7F) << 21)
    return 10 + size + (10 if head[5] & 0x10 else 0)


def _looks_like_text(head: bytes) -> str | None:
    """A name for text content no handler claims (PEM, JSON, CSV, plain text), or None."""
    if not head or b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return None
        text = head[:exc.start].decode("utf-8")
    stripped = text.lstrip("\ufeff \t\r\n")
    if "-----BEGIN " in text:
        return "PEM"
    if stripped[:1] in ("{", "["):
        return "JSON"
    first = stripped.split("\n", 1)[0]
    if first.count(",") >= 1 and "\n" in stripped and stripped.split("\n", 2)[1].count(
            ",") == first.count(","):
        return "CSV"
    return "plain text"


def handler_named(name: str) -> FormatHandler:
    """The handler called ``name`` (``"markdown"``, ``"png"`` …), for ``format=``."""
    for h in HANDLERS:
        if h.name == name:
            return h
    raise UnsupportedMedia(f"unknown format {name!r}; known: "
                           + ", ".join(h.name for h in HANDLERS), format=name)


def handler_for(src: BinaryIO, format: str | None = None) -> FormatHandler:
    """The handler for the stream (position is restored to 0); ``format`` names it instead
    of sniffing (only for content that is clear to the caller, e.g. Markdown without front
    matter)."""
    src.seek(0)
    if format is not None:
        return handler_named(format)
    head = src.read(_HEAD)
    skip = _id3_length(head)
    if skip is not None:
        src.seek(skip)
        inner = src.read(_HEAD)
        for h in HANDLERS:
            if h.name != "mp3" and h.sniff(inner):
                src.seek(0)
                return h
    src.seek(0)
    for h in HANDLERS:
        if h.sniff(head):
            return h
    kind = _looks_like_text(head)
    if kind is not None:
        raise UnsupportedMedia(
            f"this looks like {kind}, which carries no implicit label; only Markdown with a "
            "front matter is recognised as a text document. If it really is Markdown, pass "
            f"--format markdown (format='markdown'). First bytes {head[:16].hex()}",
            first_bytes=head[:16].hex(), kind=kind)
    raise UnsupportedMedia(
        f"no implicit-label handler recognises this content (first bytes {head[:16].hex()});"
        " supported: " + ", ".join(h.name for h in HANDLERS), first_bytes=head[:16].hex())


def sniff(data: bytes) -> str:
    """The format name of ``data`` (by content)."""
    return handler_for(io.BytesIO(data)).name


def _aigc_json(label: Any) -> str:
    if isinstance(label, AIGCLabel):
        return label.to_json()
    if isinstance(label, str | bytes | Mapping):
        return AIGCLabel.from_json(label).to_json()
    if hasattr(label, "to_json"):
        return AIGCLabel.from_json(label.to_json()).to_json()
    raise LabelError(f"label must be an AIGCLabel, a mapping or JSON text, got "
                     f"{type(label).__name__}", field="label", value=type(label).__name__)


def _call(handler: FormatHandler, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except MediaError:
        raise
    except (struct.error, IndexError, KeyError, ValueError, OverflowError, RecursionError,
            UnicodeError, MemoryError) as exc:
        if type(exc).__name__ == "LabelError":
            raise
        raise MalformedMedia(f"damaged {handler.name} file: {exc}", format=handler.name,
                             offset=None) from None


class _Region(io.RawIOBase):
    """Bytes ``[start, end)`` of a seekable stream as a file of their own, read in place:
    the output written after other data (``label_stream`` into an archive, a stream with a
    prefix) is read back without copying it into memory (issue 19)."""

    def __init__(self, f: BinaryIO, start: int, end: int) -> None:
        super().__init__()
        self._f, self._start, self._size, self._pos = f, start, end - start, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), self._size - self._pos))
        if n == 0:
            return 0
        self._f.seek(self._start + self._pos)
        data = self._f.read(n)
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)


def _verify(handler: FormatHandler, dst: BinaryIO, start: int, aigc: str,
            written: Any = None) -> None:
    """Read the label back from the written bytes, in the same carrier (issue 16). A writer
    that returned the ``(start, end)`` of the one block that can hold a label (it walked the
    whole input and found no other; GIF's one-pass write) has that block read back with its
    handler's ``read_block``, not the whole file walked again."""
    end = dst.tell()
    dst.seek(start)
    window: BinaryIO = dst if start == 0 else io.BufferedReader(_Region(dst, start, end))
    block = getattr(handler, "read_block", None)
    try:
        if written is not None and block is not None:
            raw = _call(handler, block, window, *written)
        else:
            raw = _call(handler, handler.read, window)
        found = [r for r in raw if r.text.strip()]
    finally:
        dst.seek(end)
    want = json.loads(aigc)
    texts = []
    for r in found:
        try:
            texts.append(AIGCLabel.from_json(r.text).to_dict())
        except LabelError:
            texts.append({})
    if texts != [want] or not found[0].preferred:
        raise LabelError(
            f"the {handler.name} writer's output does not read back with exactly the label "
            f"written in its carrier (found {len(found)} label(s)); nothing was reported as "
            "labelled. The file may be damaged: repair or re-export it and label again",
            field="AIGC", value=len(found))


def label_stream(src: BinaryIO, dst: BinaryIO, label: Any, *, format: str | None = None,
                 verify: bool = True) -> str:
    """Write ``src`` labelled with ``label`` to ``dst``; return the format name (LM-5).
    When ``dst`` can be read back (a file opened ``w+b``, a BytesIO) the label is read
    back from the written bytes before this returns; a mismatch is a LabelError."""
    aigc = _aigc_json(label)
    handler = handler_for(src, format)
    start = dst.tell() if verify and dst.seekable() else 0
    written = _call(handler, handler.write, src, dst, aigc)
    if verify and dst.seekable() and getattr(dst, "readable", lambda: False)():
        _verify(handler, dst, start, aigc, written)
    return handler.name


@implements("LM-5", "PG-2025-CARRIERS", "DSP-16")
def label_bytes(data: bytes, label: Any, *, format: str | None = None) -> bytes:
    """``data`` with the implicit label ``label`` embedded (LM-5), verified by reading it
    back. ``format`` names the handler instead of sniffing (e.g. ``"markdown"``)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise LabelError(f"label_bytes takes the file's bytes, got {type(data).__name__}; "
                         "use label_file for a path", field="data", value=type(data).__name__)
    out = io.BytesIO()
    label_stream(io.BytesIO(bytes(data)), out, label, format=format)
    return out.getvalue()


@implements("LM-5", "PG-2025-CARRIERS", "LM-4b")
def label_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], label: Any, *,
               format: str | None = None) -> str:
    """Label ``src`` into ``dst`` atomically: a temp file created exclusively beside ``dst``
    (``mkstemp``: O_EXCL, never following a symlink), verified, then ``os.replace``."""
    dst_path = Path(dst)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst_path.name}.", dir=dst_path.parent or ".")
    try:
        with open(src, "rb") as fin, os.fdopen(fd, "w+b") as fout:
            name = label_stream(fin, fout, label, format=format)
        os.replace(tmp, dst_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return name


def scan(data_or_path: bytes | str | os.PathLike[str]) -> tuple[str, list[RawLabel]]:
    """(format name, every implicit label found in file order)."""
    if isinstance(data_or_path, bytes | bytearray | memoryview):
        f: BinaryIO = io.BytesIO(bytes(data_or_path))
        handler = handler_for(f)
        return handler.name, list(_call(handler, handler.read, f))
    with open(data_or_path, "rb") as fh:
        handler = handler_for(fh)
        return handler.name, list(_call(handler, handler.read, fh))


def read_labels(data_or_path: bytes | str | os.PathLike[str]) -> list[RawLabel]:
    """Every implicit label found (raw text, carrier, offset)."""
    return scan(data_or_path)[1]


def add_propagation(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                    propagator: str, propagate_id: str, reserved_code2: str = "") -> AIGCLabel:
    """Re-label ``src`` into ``dst`` with the propagation platform's fields set, keeping the
    producer fields of the existing label (LM-8); no label -> LabelError."""
    labels = read_labels(src)
    if not labels:
        raise LabelError("the file carries no implicit label to add propagation fields to; "
                         "a propagation platform must first label it as suspected/possibly "
                         "AI-generated", field="AIGC")
    try:
        current = AIGCLabel.from_json(labels[0].text)
    except json.JSONDecodeError as exc:  # pragma: no cover - from_json maps this
        raise LabelError(str(exc), field="AIGC") from None
    new = current.with_propagation(propagator, propagate_id, reserved_code2)
    label_file(src, dst, new)
    return new
