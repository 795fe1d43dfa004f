"""``@compliance.guard``: run the checks around any inference callable.

Works on plain functions, coroutines, generators and async generators. On streams every chunk
passes the checks before the caller sees it; a refusal mid-stream closes the provider's
generator and the caller receives nothing after it. Every call ends in exactly one ledger
record (kind ``guard.call``) saying how it ended and why (CSL-21, IM-14a, IM-14b).

Fail closed: if a check's store or the ledger cannot answer, the call is denied with
:class:`~genai_compliance.errors.StoreUnavailable`. For a stream, the record is written when
it ends, so a ledger failure at that point surfaces after the last chunk.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar, final, overload

from .checks import CallContext, Check, Outcome, request_calls
from .errors import ComplianceError, ConfigurationError, Refusal, StoreUnavailable
from .rules import implements
from .subject import Subject, current_subject

if TYPE_CHECKING:
    from .compliance import Compliance

__all__ = ["RAISE", "Guard", "current_call"]

F = TypeVar("F", bound=Callable[..., Any])


class _Raise:
    def __repr__(self) -> str:
        return "RAISE"


#: Default refusal behaviour: raise the typed error.
RAISE: Final = _Raise()

#: The :class:`CallContext` of the guarded call running now (for the provider's function).
current_call: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "genai_compliance_call", default=None
)

_PROMPT_NAMES = ("prompt", "messages", "input", "text", "query")


def _extract_prompt(args: tuple[Any, ...], kwargs: dict[str, Any], prompt: Any) -> str | None:
    if callable(prompt):
        value = prompt(*args, **kwargs)
        return None if value is None else str(value)
    if isinstance(prompt, str):
        value = kwargs.get(prompt)
        return _flatten(value)
    for name in _PROMPT_NAMES:
        if name in kwargs:
            return _flatten(kwargs[name])
    for arg in args:
        if isinstance(arg, str | list):
            return _flatten(arg)
    return None


def _flatten(value: Any) -> str | None:
    """A prompt as text: strings as they are; chat messages as their contents joined."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict):
                content = item.get("content")
                if isinstance(content, str):
                    parts.append(content)
                elif isinstance(content, list):
                    parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
            elif isinstance(item, str):
                parts.append(item)
        return "\n".join(parts)
    return str(value)


@final
@implements("CSL-21")
class Guard:
    """The decorator object returned by :meth:`Compliance.guard`.

    ``checks`` (when given) replaces the compliance object's checks for this function;
    ``extra_checks`` are appended to them. ``refusal`` is returned (or, for a stream, yielded
    once) instead of raising when set; it may be a callable taking the error.
    """

    def __init__(
        self,
        compliance: Compliance,
        *,
        modality: str = "text",
        purposes: Sequence[str] = (),
        checks: Sequence[Check] | None = None,
        extra_checks: Sequence[Check] = (),
        prompt: str | Callable[..., Any] | None = None,
        refusal: Any = RAISE,
        options: dict[str, Any] | None = None,
    ) -> None:
        if modality not in ("text", "image", "audio", "video", "any"):
            raise ConfigurationError(
                f"modality must be one of text, image, audio, video, any; got {modality!r}",
                field="modality", value=modality,
            )
        if isinstance(purposes, str):
            raise ConfigurationError(
                f"purposes must be a list of purpose names, got the string {purposes!r}; "
                f"write purposes=[{purposes!r}]",
                field="purposes", value=purposes,
            )
        self.compliance = compliance
        self.modality = modality
        self.purposes = tuple(purposes)
        self._checks = None if checks is None else list(checks)
        self.extra_checks = list(extra_checks)
        self.prompt = prompt
        self.refusal = refusal
        self.options = dict(options or {})

    def checks(self) -> list[Check]:
        base = self.compliance.checks if self._checks is None else self._checks
        return [*base, *self.extra_checks]

    # -- context and records -------------------------------------------------------------
    def _context(self, fn: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any], streaming: bool) -> tuple[CallContext, dict[str, Any]]:
        takes_subject = "subject" in _parameters(fn)
        subject = kwargs.get("subject") if takes_subject else kwargs.pop("subject", None)
        if subject is None:
            subject = current_subject.get()
        if subject is not None and not isinstance(subject, Subject):
            raise ConfigurationError(
                f"subject= must be a genai_compliance.Subject, got {type(subject).__name__}",
                field="subject", value=subject,
            )
        clock = self.compliance.clock
        ctx = CallContext(
            call_id=uuid.uuid4().hex,
            function=f"{fn.__module__}.{fn.__qualname__}",
            modality=self.modality,
            purposes=self.purposes,
            subject=subject,
            started_at=clock.now(),
            started_mono=clock.monotonic(),
            streaming=streaming,
            prompt=_extract_prompt(args, kwargs, self.prompt),
            args=args,
            kwargs=kwargs,
            compliance=self.compliance,
            options=self.options,
        )
        collector = request_calls.get()
        if collector is not None:
            collector.append(ctx)
        return ctx, kwargs

    def _payload(self, ctx: CallContext, outcome: Outcome,
                 error: BaseException | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "call_id": ctx.call_id,
            "function": ctx.function,
            "modality": ctx.modality,
            "purposes": list(ctx.purposes),
            "outcome": outcome,
            "streaming": ctx.streaming,
            "chunks": ctx.chunks,
            "duration_ms": round(ctx.elapsed() * 1000, 3),
        }
        if isinstance(error, Refusal):
            payload["reason"] = error.reason
            payload["rules"] = list(error.rules)
            payload["error"] = type(error).__name__
        elif isinstance(error, ComplianceError):
            payload["reason"] = "store-unavailable" if isinstance(
                error, StoreUnavailable) else "error"
            payload["error"] = type(error).__name__
        elif error is not None:
            payload["error"] = type(error).__name__
        if ctx.notes:
            payload["notes"] = ctx.notes
        return payload

    def _record(self, ctx: CallContext, outcome: Outcome, error: BaseException | None) -> None:
        ctx.outcome = outcome
        record = self.compliance.record("guard.call", self._payload(ctx, outcome, error),
                                        subject=ctx.subject)
        ctx.record_seq = record.seq

    async def _arecord(self, ctx: CallContext, outcome: Outcome,
                       error: BaseException | None) -> None:
        ctx.outcome = outcome
        record = await self.compliance.arecord("guard.call", self._payload(ctx, outcome, error),
                                               subject=ctx.subject)
        ctx.record_seq = record.seq

    def _refused(self, error: BaseException) -> Any:
        if self.refusal is RAISE or not isinstance(error, Refusal):
            raise error
        return self.refusal(error) if callable(self.refusal) else self.refusal

    @staticmethod
    def _outcome(error: BaseException) -> Outcome:
        if isinstance(error, Refusal | StoreUnavailable):
            return "refused"
        if isinstance(error, GeneratorExit | asyncio.CancelledError | KeyboardInterrupt):
            return "cancelled"
        return "error"

    # -- the decorator -------------------------------------------------------------------
    @overload
    def __call__(self, fn: F) -> F: ...

    @overload
    def __call__(self, fn: None = None) -> Guard: ...

    def __call__(self, fn: F | None = None) -> F | Guard:
        if fn is None:
            return self
        if inspect.isasyncgenfunction(fn):
            wrapper: Any = self._wrap_asyncgen(fn)
        elif inspect.iscoroutinefunction(fn):
            wrapper = self._wrap_async(fn)
        elif inspect.isgeneratorfunction(fn):
            wrapper = self._wrap_gen(fn)
        else:
            wrapper = self._wrap_sync(fn)
        functools.update_wrapper(wrapper, fn)
        wrapper.__genai_guard__ = self
        return wrapper  # type: ignore[no-any-return]

    # -- sync ----------------------------------------------------------------------------
    def _run_before(self, ctx: CallContext, checks: list[Check], ran: list[Check]) -> None:
        """Run ``before``, appending each check to ``ran`` first (all of them are closed
        later, including the one that refused)."""
        for check in checks:
            ran.append(check)
            try:
                check.before(ctx)
            except StoreUnavailable:
                if not check.fail_open:
                    raise
                ctx.notes.setdefault("fail_open", []).append(check.name)

    @staticmethod
    def _close(ctx: CallContext, ran: list[Check], outcome: Outcome) -> BaseException | None:
        first: BaseException | None = None
        for check in reversed(ran):
            try:
                check.close(ctx, outcome)
            except Exception as exc:  # keep closing the others; report the first
                first = first or exc
        return first

    def _finish(self, ctx: CallContext, ran: list[Check], outcome: Outcome,
                error: BaseException | None) -> None:
        ctx.refusal = error
        close_error = self._close(ctx, ran, outcome)
        self._record(ctx, outcome, error)
        if close_error is not None and error is None:
            raise close_error

    def _wrap_sync(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        guard = self

        def guarded(*args: Any, **kwargs: Any) -> Any:
            ctx, kwargs = guard._context(fn, args, kwargs, streaming=False)
            ran: list[Check] = []
            token = current_call.set(ctx)
            try:
                checks = guard.checks()
                guard._run_before(ctx, checks, ran)
                result = fn(*args, **kwargs)
                if inspect.isgenerator(result):
                    ctx.streaming = True
                    return guard._stream(ctx, checks, ran, result)
                for check in checks:
                    result = check.after(ctx, result)
            except BaseException as exc:
                outcome = guard._outcome(exc)
                guard._finish(ctx, ran, outcome, exc)
                return guard._refused(exc)
            finally:
                current_call.reset(token)
            guard._finish(ctx, ran, "served", None)
            return result

        return guarded

    def _wrap_gen(self, fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        guard = self

        def guarded(*args: Any, **kwargs: Any) -> Iterator[Any]:
            ctx, kwargs = guard._context(fn, args, kwargs, streaming=True)
            ran: list[Check] = []
            token = current_call.set(ctx)
            try:
                checks = guard.checks()
                guard._run_before(ctx, checks, ran)
                inner = fn(*args, **kwargs)
            except BaseException as exc:
                guard._finish(ctx, ran, guard._outcome(exc), exc)
                value = guard._refused(exc)
                if value is not None:
                    yield value
                return
            finally:
                current_call.reset(token)
            yield from guard._stream(ctx, checks, ran, inner)

        return guarded

    def _stream(self, ctx: CallContext, checks: list[Check], ran: list[Check],
                inner: Iterator[Any]) -> Iterator[Any]:
        def through(chunks: Iterable[Any]) -> list[Any]:
            out = list(chunks)
            for check in checks:
                nxt: list[Any] = []
                for c in out:
                    nxt.extend(check.on_chunk(ctx, c))
                out = nxt
            return out

        try:
            for chunk in inner:
                token = current_call.set(ctx)
                try:
                    ready = through((chunk,))
                finally:
                    current_call.reset(token)
                for item in ready:
                    ctx.chunks += 1
                    yield item
            tail: list[Any] = []
            for check in checks:  # held-back chunks pass each later check, then its own end
                tail = [out for c in tail for out in check.on_chunk(ctx, c)]
                tail.extend(check.on_stream_end(ctx))
            for item in tail:
                ctx.chunks += 1
                yield item
        except GeneratorExit as exc:
            _close_quietly(inner)
            self._finish(ctx, ran, "cancelled", exc)
            raise
        except BaseException as exc:
            _close_quietly(inner)
            self._finish(ctx, ran, self._outcome(exc), exc)
            value = self._refused(exc)
            if value is not None:
                yield value
            return
        self._finish(ctx, ran, "served", None)

    # -- async ---------------------------------------------------------------------------
    async def _arun_before(self, ctx: CallContext, checks: list[Check],
                           ran: list[Check]) -> None:
        for check in checks:
            ran.append(check)
            try:
                await check.abefore(ctx)
            except StoreUnavailable:
                if not check.fail_open:
                    raise
                ctx.notes.setdefault("fail_open", []).append(check.name)

    async def _afinish(self, ctx: CallContext, ran: list[Check], outcome: Outcome,
                       error: BaseException | None) -> None:
        ctx.refusal = error
        close_error: BaseException | None = None
        for check in reversed(ran):
            try:
                await check.aclose(ctx, outcome)
            except Exception as exc:
                close_error = close_error or exc
        await self._arecord(ctx, outcome, error)
        if close_error is not None and error is None:
            raise close_error

    def _wrap_async(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        guard = self

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            ctx, kwargs = guard._context(fn, args, kwargs, streaming=False)
            ran: list[Check] = []
            token = current_call.set(ctx)
            try:
                checks = guard.checks()
                await guard._arun_before(ctx, checks, ran)
                result = await fn(*args, **kwargs)
                for check in checks:
                    result = await check.aafter(ctx, result)
            except BaseException as exc:
                await guard._afinish(ctx, ran, guard._outcome(exc), exc)
                return guard._refused(exc)
            finally:
                current_call.reset(token)
            await guard._afinish(ctx, ran, "served", None)
            return result

        return guarded

    def _wrap_asyncgen(self, fn: Callable[..., AsyncIterator[Any]]) -> Callable[..., Any]:
        guard = self

        async def guarded(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            ctx, kwargs = guard._context(fn, args, kwargs, streaming=True)
            ran: list[Check] = []
            token = current_call.set(ctx)
            try:
                checks = guard.checks()
                await guard._arun_before(ctx, checks, ran)
                inner = fn(*args, **kwargs)
            except BaseException as exc:
                await guard._afinish(ctx, ran, guard._outcome(exc), exc)
                value = guard._refused(exc)
                if value is not None:
                    yield value
                return
            finally:
                current_call.reset(token)

            async def through(chunks: Sequence[Any]) -> list[Any]:
                out = list(chunks)
                for check in checks:
                    nxt: list[Any] = []
                    for c in out:
                        nxt.extend(await check.aon_chunk(ctx, c))
                    out = nxt
                return out

            try:
                async for chunk in inner:
                    for item in await through((chunk,)):
                        ctx.chunks += 1
                        yield item
                tail: list[Any] = []
                for check in checks:
                    nxt: list[Any] = []
                    for c in tail:
                        nxt.extend(await check.aon_chunk(ctx, c))
                    tail = [*nxt, *(await check.aon_stream_end(ctx))]
                for item in tail:
                    ctx.chunks += 1
                    yield item
            except (GeneratorExit, asyncio.CancelledError) as exc:
                await _aclose_quietly(inner)
                await guard._afinish(ctx, ran, "cancelled", exc)
                raise
            except BaseException as exc:
                await _aclose_quietly(inner)
                await guard._afinish(ctx, ran, guard._outcome(exc), exc)
                value = guard._refused(exc)
                if value is not None:
                    yield value
                return
            await guard._afinish(ctx, ran, "served", None)

        return guarded


@functools.lru_cache(maxsize=4096)
def _parameters(fn: Callable[..., Any]) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return frozenset()


def _close_quietly(gen: Iterator[Any]) -> None:
    close = getattr(gen, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # the provider's cleanup failing must not hide the refusal
            pass


async def _aclose_quietly(gen: AsyncIterator[Any]) -> None:
    aclose = getattr(gen, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            pass
