"""The text of a streamed chunk, whatever its shape: one hook for every check that reads text.

Providers stream ``str``, UTF-8 ``bytes``, OpenAI-style chat or completion deltas (dicts or
the ``openai`` package's objects) and objects with a ``text`` attribute. A
:class:`ChunkCodec` reads the text of a chunk and builds the chunk again with other text
(moderation withholds the tail that could still become a keyword; the explicit label is
prepended to the first chunk). A chunk the codec does not know is refused with
:class:`~genai_compliance.errors.UnsupportedChunk` rather than passed on unscanned; pass a
codec of your own (``guard(chunk_codec=…)``) for other shapes.

``bytes`` chunks are decoded incrementally, so a character split across two chunks is still
one character; what is emitted is UTF-8 again.

.. versionadded:: 0.2
"""

from __future__ import annotations

import codecs
import copy
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from .errors import UnsupportedChunk

__all__ = ["DEFAULT_CODEC", "ChunkCodec", "DefaultCodec", "FunctionCodec"]


@runtime_checkable
class ChunkCodec(Protocol):
    """Reads and rewrites the text of streamed chunks."""

    def text(self, chunk: Any, state: dict[str, Any]) -> str | None:
        """The text of ``chunk`` (``None``: a chunk that carries no text, e.g. a final
        ``finish_reason`` delta). Raise :class:`UnsupportedChunk` for an unknown shape.
        ``state`` is per call (e.g. an incremental UTF-8 decoder)."""
        ...

    def replace(self, chunk: Any, text: str) -> Any:
        """``chunk`` with its text replaced by ``text`` (the original is not modified)."""
        ...


def _delta_holder(chunk: Mapping[str, Any]) -> tuple[Mapping[str, Any], str] | None:
    """Where an OpenAI-style dict keeps its text: ``choices[0].delta.content`` (chat),
    ``choices[0].text`` (completions) or a top-level ``content``/``text``/``delta``."""
    choices = chunk.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        first = choices[0]
        delta = first.get("delta")
        if isinstance(delta, Mapping):
            return delta, "content"
        message = first.get("message")
        if isinstance(message, Mapping):
            return message, "content"
        if "text" in first:
            return first, "text"
        return None
    for key in ("content", "text", "delta"):
        if key in chunk and (chunk[key] is None or isinstance(chunk[key], str)):
            return chunk, key
    return None


class DefaultCodec:
    """str, bytes, OpenAI-style dicts and objects (``openai`` chunks, objects with ``text``)."""

    def text(self, chunk: Any, state: dict[str, Any]) -> str | None:
        if isinstance(chunk, str):
            return chunk
        if isinstance(chunk, bytes | bytearray | memoryview):
            decoder = state.get("utf8")
            if decoder is None:
                decoder = state["utf8"] = codecs.getincrementaldecoder("utf-8")("replace")
            out: str = decoder.decode(bytes(chunk))
            return out
        if isinstance(chunk, Mapping):
            where = _delta_holder(chunk)
            if where is None:
                if "choices" in chunk:
                    return None  # e.g. a usage-only chunk with empty choices
                raise UnsupportedChunk(
                    f"a streamed dict with keys {sorted(map(str, chunk))[:8]} has no text the "
                    "guard knows how to read (expected choices[0].delta.content, "
                    "choices[0].text, content or text); pass guard(chunk_codec=…) to read it",
                    value=type(chunk).__name__)
            holder, key = where
            value = holder.get(key)
            if value is None:
                return None
            if not isinstance(value, str):
                raise UnsupportedChunk(
                    f"the chunk's {key!r} is {type(value).__name__}, not text; pass "
                    "guard(chunk_codec=…) to read it", value=type(chunk).__name__)
            return value
        choices = getattr(chunk, "choices", None)
        if isinstance(choices, list):
            if not choices:
                return None
            first = choices[0]
            delta = getattr(first, "delta", None)
            if delta is not None:
                content = getattr(delta, "content", None)
                return content if isinstance(content, str) else None
            text = getattr(first, "text", None)
            return text if isinstance(text, str) else None
        text = getattr(chunk, "text", None)
        if isinstance(text, str):
            return text
        raise UnsupportedChunk(
            f"cannot read the text of a streamed {type(chunk).__name__}; stream str, bytes, "
            "OpenAI-style deltas or objects with a .text attribute, or pass "
            "guard(chunk_codec=…) that reads it", value=type(chunk).__name__)

    def replace(self, chunk: Any, text: str) -> Any:
        if isinstance(chunk, str):
            return text
        if isinstance(chunk, bytes | bytearray | memoryview):
            return text.encode("utf-8")
        if isinstance(chunk, Mapping):
            new = copy.deepcopy(dict(chunk))
            where = _delta_holder(new)
            if where is None:
                return new
            holder, key = where
            holder[key] = text  # type: ignore[index]
            return new
        model_copy = getattr(chunk, "model_copy", None)
        new = model_copy(deep=True) if callable(model_copy) else copy.deepcopy(chunk)
        choices = getattr(new, "choices", None)
        if isinstance(choices, list) and choices:
            first = choices[0]
            delta = getattr(first, "delta", None)
            if delta is not None:
                delta.content = text
            else:
                first.text = text
            return new
        target: Any = new
        target.text = text
        return target


class FunctionCodec:
    """A codec from two functions: ``text(chunk) -> str | None`` and
    ``replace(chunk, text) -> chunk`` (default: the text itself)."""

    def __init__(self, text: Callable[[Any], str | None],
                 replace: Callable[[Any, str], Any] | None = None) -> None:
        self._text = text
        self._replace = replace

    def text(self, chunk: Any, state: dict[str, Any]) -> str | None:
        return self._text(chunk)

    def replace(self, chunk: Any, text: str) -> Any:
        return text if self._replace is None else self._replace(chunk, text)


#: The codec the guard uses unless given another.
DEFAULT_CODEC: ChunkCodec = DefaultCodec()
