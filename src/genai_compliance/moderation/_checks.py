"""The moderation guard checks: input (the prompt) and output (whole results and streams,
chunk by chunk) (IM-4a, IM-14a, SR-5, SR-11)."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from ..checks import CallContext, Check
from ._moderation import Moderation, StreamScanner

__all__ = ["InputModerationCheck", "OutputModerationCheck"]


def _profile(ctx: CallContext) -> str:
    return str(ctx.notes.get("moderation_profile") or "default")


class InputModerationCheck(Check):
    """Blocks prompts that match the keyword library or a classifier (IM-4a, SR-5)."""

    name = "input-moderation"
    rules = ("IM-4a", "SR-5", "SR-11")

    def __init__(self, moderation: Moderation) -> None:
        self.moderation = moderation

    def before(self, ctx: CallContext) -> None:
        if not ctx.prompt:
            return
        profile = _profile(ctx)
        verdict = self.moderation.check(ctx.prompt, profile=profile)
        if verdict.flagged:
            raise self.moderation.blocked(risk=verdict.risk, content=ctx.prompt, where="input",
                                          subject=ctx.subject, profile=profile,
                                          matches=len(verdict.matches))

    async def abefore(self, ctx: CallContext) -> None:
        if not ctx.prompt:
            return
        profile = _profile(ctx)
        verdict = await self.moderation.acheck(ctx.prompt, profile=profile)
        if verdict.flagged:
            raise self.moderation.blocked(risk=verdict.risk, content=ctx.prompt, where="input",
                                          subject=ctx.subject, profile=profile,
                                          matches=len(verdict.matches))


class OutputModerationCheck(Check):
    """Blocks outputs: whole results, and streams chunk by chunk (IM-14a: stop generation
    and transmission). Text chunks only; other chunks pass unchanged."""

    name = "output-moderation"
    rules = ("IM-14a", "IM-4a")

    def __init__(self, moderation: Moderation) -> None:
        self.moderation = moderation
        self._scanners: weakref.WeakKeyDictionary[CallContext, StreamScanner] = (
            weakref.WeakKeyDictionary())
        self._seen: weakref.WeakKeyDictionary[CallContext, list[str]] = (
            weakref.WeakKeyDictionary())

    def on_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        if not isinstance(chunk, str):
            return (chunk,)
        scanner = self._scanners.get(ctx)
        if scanner is None:
            scanner = StreamScanner(self.moderation.matcher(_profile(ctx)))
            self._scanners[ctx] = scanner
        seen = self._seen.setdefault(ctx, [])
        seen.append(chunk)
        safe, match = scanner.feed(chunk)
        if match is not None:
            # the record hashes (and incidents keep) the output generated up to the match
            content = "".join(self._seen.pop(ctx, seen))
            self._scanners.pop(ctx, None)
            raise self.moderation.blocked(risk=match.risk, content=content, where="output",
                                          subject=ctx.subject, profile=_profile(ctx),
                                          matches=1)
        return (safe,) if safe else ()

    def on_stream_end(self, ctx: CallContext) -> Sequence[Any]:
        scanner = self._scanners.pop(ctx, None)
        self._seen.pop(ctx, None)
        if scanner is None:
            return ()
        rest = scanner.flush()
        return (rest,) if rest else ()

    def after(self, ctx: CallContext, result: Any) -> Any:
        if isinstance(result, str):
            profile = _profile(ctx)
            verdict = self.moderation.check(result, profile=profile)
            if verdict.flagged:
                raise self.moderation.blocked(risk=verdict.risk, content=result,
                                              where="output", subject=ctx.subject,
                                              profile=profile, matches=len(verdict.matches))
        return result
