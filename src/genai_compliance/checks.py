"""The check protocol: one small interface every duty plugs into the guard with.

A check sees a call at up to five points::

    before(ctx)                 before the provider's function runs; raise a Refusal to stop
    on_chunk(ctx, chunk)        each streamed chunk; return the chunks to pass on (0..n)
    on_stream_end(ctx)          when a stream ends normally; return chunks to append
    after(ctx, result)          a non-streamed result; return it (possibly rewritten)
    close(ctx, outcome)         always, last: "served", "refused", "error" or "cancelled"

Every method has an ``a``-prefixed async twin that defaults to the sync one; a check whose
work is I/O overrides the twin so the event loop is not blocked (STYLE 4). Checks run in list
order for ``before``/``on_chunk``/``after`` and in reverse order for ``close``.

A check that raises :class:`~genai_compliance.errors.StoreUnavailable` denies the call unless
its ``fail_open`` attribute is true (set explicitly, per check: DESIGN "fail closed").
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import attrs

from .rules import register
from .subject import Subject

__all__ = ["CallContext", "Check", "Outcome", "request_calls"]

Outcome = Literal["served", "refused", "error", "cancelled"]


@attrs.define(eq=False)
class CallContext:
    """What the checks know about one guarded call; checks may add to ``metadata``/``notes``.

    ``metadata`` is returned to the caller (response headers in ASGI, e.g. a rest reminder or
    the label id); ``notes`` go into the call's ledger record.
    """

    call_id: str
    function: str
    modality: str
    purposes: tuple[str, ...]
    subject: Subject | None
    started_at: dt.datetime
    started_mono: float
    streaming: bool = False
    prompt: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)
    compliance: Any = None
    options: Mapping[str, Any] = attrs.field(factory=dict)
    metadata: dict[str, Any] = attrs.field(factory=dict)
    notes: dict[str, Any] = attrs.field(factory=dict)
    chunks: int = 0
    outcome: Outcome | None = None
    #: the error the call ended with (refusal or otherwise), set before the checks close
    refusal: BaseException | None = None
    #: sequence number of the call's ledger record, once written
    record_seq: int | None = None

    def elapsed(self) -> float:
        """Seconds since the call started, on the compliance clock."""
        clock = getattr(self.compliance, "clock", None)
        if clock is None:
            return 0.0
        return max(0.0, float(clock.monotonic()) - self.started_mono)


#: The guarded calls made while serving the current request; the ASGI middleware sets a
#: list here and the guard appends each call's context to it.
request_calls: contextvars.ContextVar[list[CallContext] | None] = contextvars.ContextVar(
    "genai_compliance_request_calls", default=None
)


class Check:
    """Base class of guard checks. Subclasses set ``name`` and ``rules`` (obligation IDs)."""

    name: ClassVar[str] = "check"
    rules: ClassVar[tuple[str, ...]] = ()
    #: Serve the call anyway when this check's store is down (default: deny).
    fail_open: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.rules:
            register(tuple(cls.rules), f"{cls.__module__}.{cls.__qualname__}")

    # -- sync ----------------------------------------------------------------------------
    def before(self, ctx: CallContext) -> None:
        """Run before the call; raise a :class:`~genai_compliance.errors.Refusal` to stop."""

    def on_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        """Return the chunks to deliver in place of ``chunk`` (``()`` holds it back)."""
        return (chunk,)

    def on_stream_end(self, ctx: CallContext) -> Sequence[Any]:
        """Return chunks to deliver after the last one (e.g. held-back text, a suffix)."""
        return ()

    def after(self, ctx: CallContext, result: Any) -> Any:
        """Return the (possibly rewritten) non-streamed result."""
        return result

    def close(self, ctx: CallContext, outcome: Outcome) -> None:
        """Always called last, once, with how the call ended."""

    # -- async twins ---------------------------------------------------------------------
    async def abefore(self, ctx: CallContext) -> None:
        self.before(ctx)

    async def aon_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        return self.on_chunk(ctx, chunk)

    async def aon_stream_end(self, ctx: CallContext) -> Sequence[Any]:
        return self.on_stream_end(ctx)

    async def aafter(self, ctx: CallContext, result: Any) -> Any:
        return self.after(ctx, result)

    async def aclose(self, ctx: CallContext, outcome: Outcome) -> None:
        self.close(ctx, outcome)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {list(self.rules)}>"
