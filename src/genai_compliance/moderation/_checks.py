"""The moderation guard checks: input (the prompt) and output (whole results and streams,
chunk by chunk) (IM-4a, IM-14a, SR-5, SR-11).

Streams are scanned through the call's chunk codec (:mod:`genai_compliance.chunks`), so
``str``, ``bytes``, OpenAI-style deltas and objects with text are all scanned; a chunk whose
text cannot be read is refused, never passed on unscanned. Keywords are matched chunk by
chunk across chunk boundaries; classifiers judge the whole output when the stream ends,
before the withheld tail is released. Per-call state lives on the context.

Recording a block (ledger and incident case) is I/O: in the async twins it runs in a worker
thread, so the event loop is never blocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import attrs

from ..checks import CallContext, Check
from ..errors import ContentBlocked
from ._moderation import MATCH_LIMIT, Moderation, StreamScanner, Verdict

__all__ = ["InputModerationCheck", "OutputModerationCheck"]


def _profile(ctx: CallContext) -> str:
    profile = ctx.notes.get("moderation_profile")
    if not profile:
        return "default"
    return profile if isinstance(profile, str) else str(profile)


def _block(moderation: Moderation, ctx: CallContext, verdict: Verdict, content: str,
           where: str, matches: int | None = None) -> ContentBlocked:
    return moderation.blocked(risk=verdict.risk, content=content, where=where,
                              subject=ctx.subject, profile=_profile(ctx),
                              matches=len(verdict.matches) if matches is None else matches)


class InputModerationCheck(Check):
    """Blocks prompts that match the keyword library or a classifier (IM-4a, SR-5)."""

    name = "input-moderation"
    rules = ("IM-4a", "SR-5", "SR-11")

    def __init__(self, moderation: Moderation) -> None:
        self.moderation = moderation

    def before(self, ctx: CallContext) -> None:
        if not ctx.prompt:
            return
        verdict = self.moderation.check(ctx.prompt, profile=_profile(ctx),
                                        limit=MATCH_LIMIT)
        if verdict.flagged:
            raise _block(self.moderation, ctx, verdict, ctx.prompt, "input")

    async def abefore(self, ctx: CallContext) -> None:
        if not ctx.prompt:
            return
        verdict = await self.moderation.acheck(ctx.prompt, profile=_profile(ctx),
                                               limit=MATCH_LIMIT)
        if verdict.flagged:
            raise await asyncio.to_thread(_block, self.moderation, ctx, verdict, ctx.prompt,
                                          "input")


@attrs.define
class _StreamState:
    scanner: StreamScanner
    seen: list[str] = attrs.field(factory=list)
    template: Any = ""


class OutputModerationCheck(Check):
    """Blocks outputs: whole results, and streams chunk by chunk (IM-14a: stop generation
    and transmission). See the module docstring.

    .. versionchanged:: 0.2
       Chunks of any shape; async after-hook and stream end (async classifiers); per-call
       state on the context.
    """

    name = "output-moderation"
    rules = ("IM-14a", "IM-4a")

    def __init__(self, moderation: Moderation) -> None:
        self.moderation = moderation

    def _state(self, ctx: CallContext) -> _StreamState:
        return ctx.state_for(self, lambda: _StreamState(
            StreamScanner(self.moderation.matcher(_profile(ctx)))))

    def _scan_chunk(self, ctx: CallContext, chunk: Any) -> tuple[Sequence[Any], str | None,
                                                                 Any]:
        """(chunks to pass on, the output so far when a keyword completed, the match)."""
        text = ctx.text_of(chunk, self)
        if text is None:
            return (chunk,), None, None  # carries no text (e.g. a finish_reason delta)
        state = self._state(ctx)
        state.template = chunk
        state.seen.append(text)
        safe, match = state.scanner.feed(text)
        if match is not None:
            ctx.pop_state(self)
            # the record hashes (and incidents keep) the output generated up to the match
            return (), "".join(state.seen), match
        if safe == text and not isinstance(chunk, bytes | bytearray | memoryview):
            return (chunk,), None, None  # unchanged; bytes are re-encoded, so a character
            # cut across chunks is held until it is whole
        return ((ctx.codec.replace(chunk, safe),) if safe else ()), None, None

    def _blocked(self, ctx: CallContext, content: str, match: Any) -> ContentBlocked:
        return self.moderation.blocked(risk=match.risk, content=content, where="output",
                                       subject=ctx.subject, profile=_profile(ctx), matches=1)

    def on_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        out, content, match = self._scan_chunk(ctx, chunk)
        if content is not None:
            raise self._blocked(ctx, content, match)
        return out

    async def aon_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        out, content, match = self._scan_chunk(ctx, chunk)
        if content is not None:  # recording the block is I/O: off the event loop
            raise await asyncio.to_thread(self._blocked, ctx, content, match)
        return out

    def _end(self, ctx: CallContext) -> tuple[_StreamState | None, str, Any]:
        """Pop the call's state: (state, the withheld rest, a match completed by the
        stream's last character)."""
        state: _StreamState | None = ctx.pop_state(self)
        if state is None:
            return None, "", None
        rest, match = state.scanner.finish()
        return state, rest, match

    def on_stream_end(self, ctx: CallContext) -> Sequence[Any]:
        state, rest, match = self._end(ctx)
        if state is None:
            return ()
        if match is not None:
            raise self._blocked(ctx, "".join(state.seen), match)
        if self.moderation.classifiers:
            whole = "".join(state.seen)
            verdict = self.moderation.check(whole, profile=_profile(ctx))
            if verdict.flagged:
                raise _block(self.moderation, ctx, verdict, whole, "output")
        return (ctx.codec.replace(state.template, rest),) if rest else ()

    async def aon_stream_end(self, ctx: CallContext) -> Sequence[Any]:
        state, rest, match = self._end(ctx)
        if state is None:
            return ()
        if match is not None:
            raise await asyncio.to_thread(self._blocked, ctx, "".join(state.seen), match)
        if self.moderation.classifiers:
            whole = "".join(state.seen)
            verdict = await self.moderation.acheck(whole, profile=_profile(ctx))
            if verdict.flagged:
                raise await asyncio.to_thread(_block, self.moderation, ctx, verdict, whole,
                                              "output")
        return (ctx.codec.replace(state.template, rest),) if rest else ()

    def after(self, ctx: CallContext, result: Any) -> Any:
        text = _result_text(ctx, result)
        if text:
            verdict = self.moderation.check(text, profile=_profile(ctx),
                                            limit=MATCH_LIMIT)
            if verdict.flagged:
                raise _block(self.moderation, ctx, verdict, text, "output")
        return result

    async def aafter(self, ctx: CallContext, result: Any) -> Any:
        text = _result_text(ctx, result)
        if text:
            verdict = await self.moderation.acheck(text, profile=_profile(ctx),
                                                   limit=MATCH_LIMIT)
            if verdict.flagged:
                raise await asyncio.to_thread(_block, self.moderation, ctx, verdict, text,
                                              "output")
        return result


def _result_text(ctx: CallContext, result: Any) -> str | None:
    """The text of a non-streamed result: a ``str``; for a text call also UTF-8 ``bytes``, an
    OpenAI-style completion or an object with text (through the codec, which refuses a shape
    it cannot read). Media results carry no text to scan here."""
    if isinstance(result, str):
        return result
    if ctx.modality != "text" or result is None:
        return None
    return ctx.codec.text(result, {})
