"""``@compliance.guard``: run the checks around any inference callable.

Works on plain functions, coroutines, generators and async generators. On streams every chunk
passes the checks before the caller sees it; a refusal mid-stream closes the provider's
generator and the caller receives nothing after it. Every call ends in exactly one ledger
record (kind ``guard.call``) saying how it ended and why (CSL-21, IM-14a, IM-14b) — also when
the caller goes away mid-stream, the task is cancelled or the service shuts down.

The decision flow (before → call → each chunk → stream end → after → close → record) is
written once, in :class:`_Flow`, as generators that *yield* the operations to perform and
never do I/O themselves (STYLE 5, httpx ``auth_flow``). Two drivers run them: a sync one and
an async one. The async driver awaits a check's ``a``-prefixed twin when it has one, runs its
sync method in a worker thread when the check is ``blocking``, and inline otherwise, so the
event loop is never blocked by a check or by the ledger.

Fail closed: if a check's store or the ledger cannot answer, the call is denied with
:class:`~genai_compliance.errors.StoreUnavailable`. For a stream, the record is written when
it ends, so a ledger failure at that point surfaces after the last chunk.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import inspect
import itertools
import os
import threading
import weakref
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterator,
    MutableSet,
    Sequence,
)
from typing import Any, Final, Protocol, TypeVar, final, overload

from ._fork import reset_after_fork
from .checks import (
    UNLABELLED_PURPOSE,
    CallContext,
    Check,
    Outcome,
    request_calls,
    unlabelled_requested,
)
from .chunks import DEFAULT_CODEC, ChunkCodec
from .clock import Clock
from .errors import ComplianceError, ConfigurationError, Refusal, StoreUnavailable
from .rules import implements
from .subject import Subject, current_subject

__all__ = ["RAISE", "Guard", "GuardHost", "current_call"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


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


class _Seq(Protocol):
    @property
    def seq(self) -> int: ...


class GuardHost(Protocol):
    """What the guard needs from its owner (:class:`~genai_compliance.Compliance` is one):
    the checks, the clock, somewhere to record, and the set of calls in flight (so that
    shutdown can end them with a record)."""

    @property
    def checks(self) -> Sequence[Check]: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def inflight(self) -> MutableSet[CallContext]: ...

    def record(self, kind: str, payload: Any = None, *,
               subject: Subject | str | None = None) -> _Seq: ...

    async def arecord(self, kind: str, payload: Any = None, *,
                      subject: Subject | str | None = None) -> _Seq: ...


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


# -- operations the flow yields ----------------------------------------------------------------
_ASYNC_TWIN = {"before": "abefore", "on_chunk": "aon_chunk", "on_stream_end": "aon_stream_end",
               "after": "aafter", "close": "aclose"}


class _CallIds:
    """Call ids: a version 4 UUID's 32 hex digits, as ``uuid.uuid4().hex`` gives, drawn
    from BLAKE2b keyed with 32 random bytes over a counter — as unpredictable to a client
    as ``os.urandom``, but without a system call per call: ``os.urandom`` releases the GIL,
    and on an event loop thread each release can hand it to another thread (the ledger's
    writer) for up to the switch interval. A forked child draws a new key (the counter
    comes along with the parent's memory)."""

    def __init__(self) -> None:
        self._forked()

    def _forked(self) -> None:
        self._key = os.urandom(32)
        self._count = itertools.count()

    def __call__(self) -> str:
        raw = bytearray(hashlib.blake2b(next(self._count).to_bytes(8, "little"),
                                        key=self._key, digest_size=16).digest())
        raw[6] = (raw[6] & 0x0F) | 0x40
        raw[8] = (raw[8] & 0x3F) | 0x80
        return raw.hex()


_call_id = _CallIds()
reset_after_fork(_call_id)


def _overrides(cls: type[Check], method: str) -> bool:
    return getattr(cls, method) is not getattr(Check, method)


class _Hook:
    """One check's implementation of one hook, looked up once per guard (not per call):
    the sync method and the async twin when the check overrides it."""

    __slots__ = ("afn", "check", "fn", "inline")

    def __init__(self, check: Check, method: str) -> None:
        twin = _ASYNC_TWIN[method]
        self.check = check
        self.fn: Callable[..., Any] = getattr(check, method)
        self.afn: Callable[..., Awaitable[Any]] | None = (
            getattr(check, twin) if _overrides(type(check), twin) else None)
        #: the async driver calls ``fn`` right on the loop (no twin, no store I/O)
        self.inline = self.afn is None and not check.blocking


class _Plan:
    """The checks of calls of one modality and, per hook, the checks that implement it:
    hooks left as the base class's no-ops are skipped, so they cost nothing — not even a
    thread hop or a lookup."""

    __slots__ = ("after", "before", "checks", "close", "on_chunk", "on_chunk_at",
                 "on_stream_end", "on_stream_end_at")

    def __init__(self, checks: Sequence[Check], modality: str) -> None:
        self.checks = [c for c in checks if c.modalities is None or modality in c.modalities]

        def hooks(method: str) -> list[tuple[int, _Hook]]:
            return [(i, _Hook(c, method)) for i, c in enumerate(self.checks)
                    if _overrides(type(c), method) or _overrides(type(c), _ASYNC_TWIN[method])]

        self.before = hooks("before")
        self.after = hooks("after")
        self.on_chunk = hooks("on_chunk")
        self.on_stream_end = hooks("on_stream_end")
        self.close = hooks("close")
        self.on_chunk_at = {i: h for i, h in self.on_chunk}
        self.on_stream_end_at = {i: h for i, h in self.on_stream_end}


#: one check hook to run: ``(hook, ctx, args)`` — called as ``hook.fn(ctx, *args)`` (a plain
#: tuple: the flow makes one per check and hook of every call)
_CheckOp = tuple[_Hook, CallContext, tuple[Any, ...]]
_NO_ARGS: tuple[Any, ...] = ()


async def _arun(op: _CheckOp) -> Any:
    """Run a check op that is not :attr:`_Hook.inline` in the async driver: its async twin,
    else (a ``blocking`` check) its sync method in a worker thread."""
    hook, ctx, args = op
    if hook.afn is not None:
        return await hook.afn(ctx, *args)
    return await asyncio.to_thread(hook.fn, ctx, *args)


class _RecordOp:
    """Append the call's record; the result is its sequence number."""

    __slots__ = ("host", "payload", "subject")

    def __init__(self, host: GuardHost, payload: dict[str, Any], subject: Subject | None
                 ) -> None:
        self.host, self.payload, self.subject = host, payload, subject

    def run(self) -> int:
        return self.host.record("guard.call", self.payload, subject=self.subject).seq

    async def arun(self) -> int:
        return (await self.host.arecord("guard.call", self.payload, subject=self.subject)).seq


_Op = _CheckOp | _RecordOp
_Steps = Generator[_Op, Any, T]


def _drive(steps: _Steps[T]) -> T:
    """Run a flow's steps synchronously."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        value, error = None, None
        try:
            if isinstance(op, tuple):
                hook, ctx, args = op
                value = hook.fn(ctx, *args)
            else:
                value = op.run()
        except BaseException as exc:
            error = exc


async def _adrive(steps: _Steps[T], *, finishing: bool = False) -> T:
    """Run a flow's steps on the event loop. With ``finishing`` (closing checks and
    recording), a cancellation does not stop the steps: the rest run synchronously and the
    cancellation is re-raised afterwards, so the record is never lost."""
    value: Any = None
    error: BaseException | None = None
    cancelled: BaseException | None = None
    while True:
        try:
            op = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as stop:
            if cancelled is not None:
                raise cancelled from None
            result: T = stop.value
            return result
        value, error = None, None
        try:
            if isinstance(op, tuple):
                hook, ctx, args = op
                if hook.inline or cancelled is not None:  # no coroutine for a plain hook
                    value = hook.fn(ctx, *args)
                else:
                    value = await _arun(op)
            else:
                value = op.run() if cancelled is not None else await op.arun()
        except asyncio.CancelledError as exc:
            if not finishing:
                raise
            cancelled = exc  # an interrupted thread op still completes in its thread
        except BaseException as exc:
            error = exc


class _Flow:
    """The decision flow of one call, written once; see the module docstring."""

    __slots__ = ("_done", "_lock", "ctx", "guard", "inner", "plan", "ran")

    def __init__(self, guard: Guard, ctx: CallContext, plan: _Plan) -> None:
        self.guard = guard
        self.ctx = ctx
        self.plan = plan
        #: how many checks (in order) the call reached: those are closed at its end,
        #: including the one that refused
        self.ran = 0
        self.inner: Any = None
        self._done = False
        self._lock = threading.Lock()

    def before(self) -> _Steps[None]:
        ctx = self.ctx
        for i, hook in self.plan.before:
            self.ran = i + 1
            try:
                yield (hook, ctx, _NO_ARGS)
            except StoreUnavailable:
                if not hook.check.fail_open:
                    raise
                ctx.notes.setdefault("fail_open", []).append(hook.check.name)
        self.ran = len(self.plan.checks)

    def after(self, result: Any) -> _Steps[Any]:
        ctx = self.ctx
        for _, hook in self.plan.after:
            result = yield (hook, ctx, (result,))
        return result

    def chunk(self, chunk: Any) -> _Steps[list[Any]]:
        ctx = self.ctx
        ctx.last_chunk = chunk
        out = [chunk]
        for _, hook in self.plan.on_chunk:
            nxt: list[Any] = []
            for item in out:
                nxt.extend((yield (hook, ctx, (item,))))
            out = nxt
        ctx.chunks += len(out)
        return out

    def end(self) -> _Steps[list[Any]]:
        ctx = self.ctx
        plan = self.plan
        tail: list[Any] = []
        for i in range(len(plan.checks)):  # held-back chunks pass each later check, then
            on_chunk = plan.on_chunk_at.get(i)  # its own end
            nxt: list[Any] = []
            if on_chunk is not None:
                for item in tail:
                    nxt.extend((yield (on_chunk, ctx, (item,))))
            else:
                nxt.extend(tail)
            on_end = plan.on_stream_end_at.get(i)
            if on_end is not None:
                nxt.extend((yield (on_end, ctx, _NO_ARGS)))
            tail = nxt
        ctx.chunks += len(tail)
        return tail

    def claim(self) -> bool:
        """True once: the first caller finishes the call (exactly one record)."""
        with self._lock:
            if self._done:
                return False
            self._done = True
            return True

    def finish(self, outcome: Outcome, error: BaseException | None) -> _Steps[None]:
        if not self.claim():
            return
        ctx = self.ctx
        ctx.abandon = None  # ended: nothing left to abandon (and no ctx <-> flow cycle for
        ctx.outcome = outcome  # the garbage collector to find)
        ctx.refusal = error
        if isinstance(error, Refusal) and error.retry_after is not None:
            ctx.response.retry_after = error.retry_after
        first: BaseException | None = None
        ran = self.ran
        for i, hook in reversed(self.plan.close):
            if i >= ran:
                continue
            try:
                yield (hook, ctx, (outcome,))
            except Exception as exc:  # keep closing the others; report the first
                first = first or exc
        try:
            seq = yield _RecordOp(self.guard.host, _payload(ctx, outcome, error), ctx.subject)
        finally:
            self.guard.host.inflight.discard(ctx)
        if seq is not None:
            ctx.record_seq = seq
            ctx.response.record_seq = seq
        if first is not None and error is None:
            raise first

    def abandon(self) -> None:
        """End a call its caller gave up on (a stream never read to the end, a disconnected
        client, shutdown): close the provider's generator and record ``cancelled``."""
        inner, self.inner = self.inner, None
        if inner is not None:
            _close_inner(inner)
        _drive(self.finish("cancelled", None))


def _payload(ctx: CallContext, outcome: Outcome, error: BaseException | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "call_id": ctx.call_id,
        "function": ctx.function,
        "modality": ctx.modality,
        "purposes": list(ctx.purposes),
        "outcome": outcome,
        "streaming": ctx.streaming,
        "chunks": ctx.chunks,
        "duration_us": int(ctx.elapsed() * 1_000_000),
    }
    if ctx.optional_purposes:
        payload["optional_purposes"] = list(ctx.optional_purposes)
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


def _watched(stream: T, flow: _Flow) -> T:
    """End the call with a ``cancelled`` record if ``stream`` is dropped unfinished — even
    never started — and garbage-collected (the guard's last line of "one record per call")."""
    weakref.finalize(stream, flow.abandon)
    return stream


def _outcome(error: BaseException) -> Outcome:
    if isinstance(error, Refusal | StoreUnavailable):
        return "refused"
    if isinstance(error, GeneratorExit | asyncio.CancelledError | KeyboardInterrupt):
        return "cancelled"
    return "error"


def _close_inner(inner: Any) -> None:
    """Close the provider's generator (sync now; async scheduled on the running loop)."""
    close = getattr(inner, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # already running in another thread, or its cleanup failed
            pass
        return
    aclose = getattr(inner, "aclose", None)
    if callable(aclose):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        _spawn(loop, _aclose_quietly(inner))


_BACKGROUND: set[asyncio.Task[Any]] = set()


def _spawn(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> None:
    task: asyncio.Task[Any] = loop.create_task(coro)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def _aclose_quietly(gen: Any) -> None:
    try:
        await gen.aclose()
    except BaseException:  # the provider's cleanup failing must not hide the refusal
        pass


@final
@implements("CSL-21")
class Guard:
    """The decorator object returned by :meth:`Compliance.guard`.

    ``checks`` (when given) replaces the host's checks for this function; ``extra_checks``
    are appended to them. ``purposes`` must all be consented, unless a purpose is configured
    optional (``[[consent.purposes]] required = false``, or ``separate`` without ``required =
    true``); ``optional_purposes`` never refuse the call (PIPL Art. 16). ``refusal`` is
    returned (or, for a stream, yielded once) instead of raising when set; it may be a
    callable taking the error. ``chunk_codec``
    reads the text of streamed chunks (:mod:`genai_compliance.chunks`).

    .. versionchanged:: 0.2
       ``optional_purposes`` and ``chunk_codec``; the guard depends on :class:`GuardHost`.
    """

    def __init__(
        self,
        host: GuardHost,
        *,
        modality: str = "text",
        purposes: Sequence[str] = (),
        optional_purposes: Sequence[str] = (),
        checks: Sequence[Check] | None = None,
        extra_checks: Sequence[Check] = (),
        prompt: str | Callable[..., Any] | None = None,
        refusal: Any = RAISE,
        options: dict[str, Any] | None = None,
        chunk_codec: ChunkCodec | None = None,
    ) -> None:
        if modality not in ("text", "image", "audio", "video", "any"):
            raise ConfigurationError(
                f"modality must be one of text, image, audio, video, any; got {modality!r}",
                field="modality", value=modality,
            )
        for name, value in (("purposes", purposes), ("optional_purposes", optional_purposes)):
            if isinstance(value, str):
                raise ConfigurationError(
                    f"{name} must be a list of purpose names, got the string {value!r}; "
                    f"write {name}=[{value!r}]", field=name, value=value)
        both = set(purposes) & set(optional_purposes)
        if both:
            raise ConfigurationError(
                f"purposes {sorted(both)} are listed as both required and optional; keep each "
                "in one list", field="optional_purposes", value=sorted(both))
        if chunk_codec is not None and not isinstance(chunk_codec, ChunkCodec):
            raise ConfigurationError(
                "chunk_codec must have text(chunk, state) and replace(chunk, text) methods; "
                "see genai_compliance.chunks.FunctionCodec", field="chunk_codec",
                value=chunk_codec)
        self.host = host
        self.modality = modality
        self.purposes = tuple(purposes)
        self.optional_purposes = tuple(optional_purposes)
        self._checks = None if checks is None else list(checks)
        self.extra_checks = list(extra_checks)
        self.prompt = prompt
        self.refusal = refusal
        self.options = dict(options or {})
        self.codec: ChunkCodec = chunk_codec or DEFAULT_CODEC
        self._plans: tuple[tuple[Check, ...], _Plan] | None = None

    def checks(self) -> list[Check]:
        base = self.host.checks if self._checks is None else self._checks
        return [*base, *self.extra_checks]

    def _plan(self) -> _Plan:
        """The plan of this guard's calls, rebuilt only when the checks changed."""
        checks = tuple(self.checks())
        plan = self._plans
        if plan is None or plan[0] != checks:
            plan = self._plans = (checks, _Plan(checks, self.modality))
        return plan[1]

    # -- context -------------------------------------------------------------------------
    def _flow(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
              streaming: bool) -> tuple[_Flow, dict[str, Any]]:
        takes_subject = "subject" in _parameters(fn)
        subject = kwargs.get("subject") if takes_subject else kwargs.pop("subject", None)
        if subject is None:
            subject = current_subject.get()
        if subject is not None and not isinstance(subject, Subject):
            raise ConfigurationError(
                f"subject= must be a genai_compliance.Subject, got {type(subject).__name__}",
                field="subject", value=type(subject).__name__,
            )
        clock = self.host.clock
        unlabelled = bool(self.options.get("unlabelled", False)) or unlabelled_requested()
        optional = self.optional_purposes
        if unlabelled and UNLABELLED_PURPOSE not in optional + self.purposes:
            optional = (*optional, UNLABELLED_PURPOSE)  # the consent check looks it up
        ctx = CallContext(
            call_id=_call_id(),
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
            clock=clock,
            options=self.options,
            optional_purposes=optional,
            unlabelled_requested=unlabelled,
            codec=self.codec,
        )
        flow = _Flow(self, ctx, self._plan())
        ctx.abandon = flow.abandon
        self.host.inflight.add(ctx)
        collector = request_calls.get()
        if collector is not None:
            collector.append(ctx)
        return flow, kwargs

    def _refused(self, error: BaseException) -> Any:
        if self.refusal is RAISE or not isinstance(error, Refusal):
            raise error
        return self.refusal(error) if callable(self.refusal) else self.refusal

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

    # -- sync driver ---------------------------------------------------------------------
    def _wrap_sync(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        guard = self

        def guarded(*args: Any, **kwargs: Any) -> Any:
            flow, kwargs = guard._flow(fn, args, kwargs, streaming=False)
            token = current_call.set(flow.ctx)
            try:
                _drive(flow.before())
                result = fn(*args, **kwargs)
                if inspect.isgenerator(result):
                    flow.ctx.streaming = True
                    return _watched(guard._stream(flow, result), flow)
                result = _drive(flow.after(result))
            except BaseException as exc:
                _drive(flow.finish(_outcome(exc), exc))
                return guard._refused(exc)
            finally:
                current_call.reset(token)
            _drive(flow.finish("served", None))
            return result

        return guarded

    def _wrap_gen(self, fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        guard = self

        def guarded(*args: Any, **kwargs: Any) -> Iterator[Any]:
            flow, kwargs = guard._flow(fn, args, kwargs, streaming=True)
            return _watched(guard._stream(flow, None, fn, args, kwargs), flow)

        return guarded

    def _stream(self, flow: _Flow, inner: Iterator[Any] | None,
                fn: Callable[..., Iterator[Any]] | None = None, args: tuple[Any, ...] = (),
                kwargs: dict[str, Any] | None = None) -> Iterator[Any]:
        ctx = flow.ctx
        if inner is None:
            token = current_call.set(ctx)
            try:
                _drive(flow.before())
                assert fn is not None
                inner = fn(*args, **(kwargs or {}))
            except BaseException as exc:
                _drive(flow.finish(_outcome(exc), exc))
                value = self._refused(exc)
                if value is not None:
                    yield value
                return
            finally:
                current_call.reset(token)
        flow.inner = inner
        try:
            for chunk in inner:
                token = current_call.set(ctx)
                try:
                    ready = _drive(flow.chunk(chunk))
                finally:
                    current_call.reset(token)
                yield from ready
            yield from _drive(flow.end())
        except GeneratorExit as exc:
            flow.inner = None
            _close_inner(inner)
            _drive(flow.finish("cancelled", exc))
            raise
        except BaseException as exc:
            flow.inner = None
            _close_inner(inner)
            _drive(flow.finish(_outcome(exc), exc))
            value = self._refused(exc)
            if value is not None:
                yield value
            return
        flow.inner = None
        _drive(flow.finish("served", None))

    # -- async driver --------------------------------------------------------------------
    def _wrap_async(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        guard = self

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            flow, kwargs = guard._flow(fn, args, kwargs, streaming=False)
            token = current_call.set(flow.ctx)
            try:
                await _adrive(flow.before())
                result = await fn(*args, **kwargs)
                result = await _adrive(flow.after(result))
            except asyncio.CancelledError as exc:
                _drive(flow.finish("cancelled", exc))  # no await: the task is cancelled
                raise
            except BaseException as exc:
                await _adrive(flow.finish(_outcome(exc), exc), finishing=True)
                return guard._refused(exc)
            finally:
                current_call.reset(token)
            await _adrive(flow.finish("served", None), finishing=True)
            return result

        return guarded

    def _wrap_asyncgen(self, fn: Callable[..., AsyncIterator[Any]]) -> Callable[..., Any]:
        guard = self

        def guarded(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            flow, kwargs = guard._flow(fn, args, kwargs, streaming=True)
            return _watched(stream(flow, args, kwargs), flow)

        async def stream(flow: _Flow, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> AsyncIterator[Any]:
            ctx = flow.ctx
            token = current_call.set(ctx)
            try:
                await _adrive(flow.before())
                inner = fn(*args, **kwargs)
            except asyncio.CancelledError as exc:
                _drive(flow.finish("cancelled", exc))
                raise
            except BaseException as exc:
                await _adrive(flow.finish(_outcome(exc), exc), finishing=True)
                value = guard._refused(exc)
                if value is not None:
                    yield value
                return
            finally:
                current_call.reset(token)
            flow.inner = inner
            try:
                async for chunk in inner:
                    token = current_call.set(ctx)
                    try:
                        ready = await _adrive(flow.chunk(chunk))
                    finally:
                        current_call.reset(token)
                    for item in ready:
                        yield item
                for item in await _adrive(flow.end()):
                    yield item
            except (GeneratorExit, asyncio.CancelledError) as exc:
                # no await here: under a cancelled scope (anyio) every await is cancelled again
                flow.inner = None
                _close_inner(inner)
                _drive(flow.finish("cancelled", exc))
                raise
            except BaseException as exc:
                flow.inner = None
                await _aclose_quietly(inner)
                await _adrive(flow.finish(_outcome(exc), exc), finishing=True)
                value = guard._refused(exc)
                if value is not None:
                    yield value
                return
            flow.inner = None
            await _adrive(flow.finish("served", None), finishing=True)

        return guarded


@functools.lru_cache(maxsize=4096)
def _parameters(fn: Callable[..., Any]) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return frozenset()
