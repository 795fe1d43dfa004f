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

Checks keep no per-call state on themselves: what a check remembers between the points of one
call lives in ``ctx.state`` (:meth:`CallContext.state_for`). What the caller must be shown goes
into the one typed :class:`CallResponse` at ``ctx.response``; the ASGI middleware emits its
:meth:`~CallResponse.headers` as they are.

In the async driver, a check's sync method runs inline when the check is not ``blocking``
(pure computation, in-memory stores), and in a worker thread when it is, unless the check
overrides the ``a``-prefixed twin; so no check ever blocks the event loop with I/O.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import math
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, TypeVar

import attrs

from .chunks import DEFAULT_CODEC, ChunkCodec
from .rules import register
from .subject import Subject

if TYPE_CHECKING:
    from .clock import Clock

__all__ = ["HEADERS", "UNLABELLED_PURPOSE", "CallContext", "CallResponse", "Check", "Outcome",
           "omit_explicit_label", "request_calls", "retry_after_seconds", "unlabelled_output"]

Outcome = Literal["served", "refused", "error", "cancelled"]

T = TypeVar("T")

#: The one header naming, used by the middleware, the checks and the docs alike.
HEADERS: Final[Mapping[str, str]] = {
    "call_ids": "X-GenAI-Call-Id",
    "record_seqs": "X-GenAI-Record",
    "label": "X-GenAI-Label",
    "content_ids": "X-GenAI-Content-Id",
    "reminder": "X-GenAI-Reminder",
    "remaining_minutes": "X-GenAI-Minor-Remaining-Minutes",
    "warning": "X-GenAI-Warning",
    "optional_declined": "X-GenAI-Consent-Declined",
    "unlabelled": "X-GenAI-Unlabelled",
    "retry_after": "Retry-After",
}

#: The consent purpose that lets a user receive output without the explicit label (LM-9):
#: granted by ``Agreements.request_unlabelled`` after the user accepted the agreement that
#: fixes their own labelling duty; checked on every call that asks for unlabelled output.
UNLABELLED_PURPOSE: Final = "unlabelled-output"


def retry_after_seconds(when: dt.datetime, now: dt.datetime) -> str:
    """The ``Retry-After`` value (whole seconds, never negative) for a call that may
    succeed again at ``when``."""
    return str(max(0, math.ceil((when - now).total_seconds())))


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe=" /:;,.()-_")


@attrs.define(eq=False)
class CallResponse:
    """What the caller of one guarded call must be shown, filled in by the checks.

    The ASGI middleware sends :meth:`headers` as they are; a provider serving another
    protocol reads the fields. Text values are UTF-8, percent-encoded in headers.

    .. versionadded:: 0.2
    """

    call_id: str
    #: sequence number of the call's ledger record, once written
    record_seq: int | None = None
    #: the explicit label shown with the output (LM-4)
    label: str | None = None
    #: content IDs of implicit labels written into media outputs (LM-5)
    content_ids: list[str] = attrs.field(factory=list)
    #: a rest reminder for a minor (IM-10)
    reminder: str | None = None
    #: minutes left of a minor's daily quota (IM-10)
    remaining_minutes: int | None = None
    #: a warning to the user, e.g. after illegal use (IM-14b)
    warning: str | None = None
    #: optional purposes the subject has not consented to; served anyway (PIPL Art. 16)
    optional_declined: list[str] = attrs.field(factory=list)
    #: what became of a request for output without the explicit label (LM-9):
    #: ``"omitted"`` (served unlabelled) or ``"refused"`` (labelled: no current grant)
    unlabelled: str | None = None
    #: when a refused call may succeed
    retry_after: dt.datetime | None = None

    def headers(self, *, now: dt.datetime | None = None) -> list[tuple[str, str]]:
        """This call's response headers (names from :data:`HEADERS`)."""
        out = [(HEADERS["call_ids"], self.call_id)]
        if self.record_seq is not None:
            out.append((HEADERS["record_seqs"], str(self.record_seq)))
        if self.label:
            out.append((HEADERS["label"], _quote(self.label)))
        if self.content_ids:
            out.append((HEADERS["content_ids"], ",".join(self.content_ids)))
        if self.reminder:
            out.append((HEADERS["reminder"], _quote(self.reminder)))
        if self.remaining_minutes is not None:
            out.append((HEADERS["remaining_minutes"], str(self.remaining_minutes)))
        if self.warning:
            out.append((HEADERS["warning"], _quote(self.warning)))
        if self.optional_declined:
            out.append((HEADERS["optional_declined"], ",".join(self.optional_declined)))
        if self.unlabelled:
            out.append((HEADERS["unlabelled"], self.unlabelled))
        if self.retry_after is not None and now is not None:
            out.append((HEADERS["retry_after"], retry_after_seconds(self.retry_after, now)))
        return out

    @staticmethod
    def merge(responses: Sequence[CallResponse], *,
              now: dt.datetime | None = None) -> list[tuple[str, str]]:
        """The headers of several guarded calls made while serving one request: ids and
        record numbers joined with commas, the other fields from the last call that set
        them."""
        if not responses:
            return []
        merged = CallResponse(call_id=",".join(r.call_id for r in responses))
        seqs = [str(r.record_seq) for r in responses if r.record_seq is not None]
        for r in responses:
            merged.content_ids.extend(r.content_ids)
            for name in ("label", "reminder", "remaining_minutes", "warning", "unlabelled",
                         "retry_after"):
                value = getattr(r, name)
                if value is not None:
                    setattr(merged, name, value)
            merged.optional_declined.extend(
                p for p in r.optional_declined if p not in merged.optional_declined)
        out = merged.headers(now=now)
        if seqs:
            out.insert(1, (HEADERS["record_seqs"], ",".join(seqs)))
        return out


@attrs.define(eq=False)
class CallContext:
    """What the checks know about one guarded call.

    ``response`` is what the caller is shown; ``notes`` go into the call's ledger record;
    ``metadata`` carries structured details between checks (e.g. the minors' quota);
    ``state`` holds each check's per-call state (:meth:`state_for`).

    ``purposes`` must all be consented for the call to be served, unless a purpose is
    configured optional (``[[consent.purposes]] required = false``, or ``separate`` without
    ``required = true``); ``optional_purposes`` never refuse it (PIPL Art. 16): the ones not
    consented are listed in ``response.optional_declined`` and the record, and gate the
    optional use.
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
    clock: Clock | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)
    optional_purposes: tuple[str, ...] = ()
    #: the caller asked for output without the explicit label (LM-9; see
    #: :func:`unlabelled_output`); served so only with a current ``unlabelled-output`` grant
    unlabelled_requested: bool = False
    response: CallResponse = attrs.field(
        default=attrs.Factory(lambda self: CallResponse(call_id=self.call_id), takes_self=True))
    state: dict[str, Any] = attrs.field(factory=dict)
    #: reads and rewrites the text of streamed chunks (:mod:`genai_compliance.chunks`)
    codec: ChunkCodec = DEFAULT_CODEC
    metadata: dict[str, Any] = attrs.field(factory=dict)
    notes: dict[str, Any] = attrs.field(factory=dict)
    chunks: int = 0
    #: the last chunk the provider streamed (a template for chunks a check adds at the end)
    last_chunk: Any = None
    outcome: Outcome | None = None
    #: the error the call ended with (refusal or otherwise), set before the checks close
    refusal: BaseException | None = None
    #: sequence number of the call's ledger record, once written
    record_seq: int | None = None
    #: set by the guard: end the call with a ``cancelled`` record if it has not ended (the
    #: middleware calls it for streams a disconnected client never finished)
    abandon: Callable[[], None] | None = attrs.field(default=None, repr=False)

    def text_of(self, chunk: Any, reader: object = None) -> str | None:
        """The text of a streamed chunk, through the call's codec (``None``: no text).
        ``reader`` (the check asking) keeps its own decoding state, so two checks reading
        the same byte stream do not disturb each other."""
        return self.codec.text(chunk, self.state.setdefault(f"_codec:{id(reader)}", {}))

    def elapsed(self) -> float:
        """Seconds since the call started, on the compliance clock."""
        if self.clock is None:
            return 0.0
        return max(0.0, float(self.clock.monotonic()) - self.started_mono)

    def state_for(self, check: Check, factory: Callable[[], T]) -> T:
        """The per-call state of ``check`` (made by ``factory`` on first use)."""
        key = f"{check.name}:{id(check)}"
        try:
            value: T = self.state[key]
        except KeyError:
            value = self.state[key] = factory()
        return value

    def pop_state(self, check: Check) -> Any:
        """Remove and return the per-call state of ``check`` (``None`` if it had none)."""
        return self.state.pop(f"{check.name}:{id(check)}", None)


#: The guarded calls made while serving the current request; the ASGI middleware sets a
#: list here and the guard appends each call's context to it.
request_calls: contextvars.ContextVar[list[CallContext] | None] = contextvars.ContextVar(
    "genai_compliance_request_calls", default=None
)


_UNLABELLED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "genai_compliance_unlabelled", default=False)


class unlabelled_output:
    """Ask for the guarded calls made inside the block to be served without the explicit
    label (LM-9). It is honoured only for a subject holding a current ``unlabelled-output``
    grant (``Agreements.request_unlabelled``: after accepting the agreement that fixes the
    user's own labelling duty); implicit labels (metadata, C2PA) are always written, and the
    call's ledger record names the recipient (kept ≥ 6 months). Without a grant the output
    is labelled as usual and ``X-GenAI-Unlabelled: refused`` says why.

    >>> with unlabelled_output():
    ...     text = generate("…")

    The ASGI middleware does this for requests carrying ``X-GenAI-Unlabelled: request``.
    """

    def __init__(self, requested: bool = True) -> None:
        self.requested = requested
        self._token: contextvars.Token[bool] | None = None

    def __enter__(self) -> unlabelled_output:
        self._token = _UNLABELLED.set(self.requested)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _UNLABELLED.reset(self._token)
            self._token = None


def unlabelled_requested() -> bool:
    """Whether the current context asked for unlabelled output (:class:`unlabelled_output`)."""
    return _UNLABELLED.get()


def omit_explicit_label(ctx: CallContext) -> bool:
    """Decide, once per call, whether the explicit label is left off (LM-9): only when the
    call asked for it and the consent check found the ``unlabelled-output`` grant current.
    Fails closed: a request without a grant (or with the consent check dropped) is labelled.
    Records the decision in the call's notes and response."""
    if not ctx.unlabelled_requested:
        return False
    decided = ctx.notes.get("unlabelled_output")
    if isinstance(decided, Mapping):
        return decided.get("outcome") == "omitted"
    granted = UNLABELLED_PURPOSE in ctx.notes.get("consent_optional_granted", ())
    ctx.notes["unlabelled_output"] = {
        "outcome": "omitted" if granted else "refused", "rule": "LM-9",
        **({} if granted else {"reason": "no current unlabelled-output grant"})}
    ctx.response.unlabelled = "omitted" if granted else "refused"
    return granted


class Check:
    """Base class of guard checks. Subclasses set ``name`` and ``rules`` (obligation IDs)."""

    name: ClassVar[str] = "check"
    rules: ClassVar[tuple[str, ...]] = ()
    #: Serve the call anyway when this check's store is down (default: deny).
    fail_open: bool = False
    #: The sync methods do I/O: the async driver runs them in a worker thread (unless the
    #: check overrides the ``a``-prefixed twin). Checks on in-memory stores leave it false.
    blocking: bool = False
    #: Streamed chunks reach ``on_chunk`` as text (``str``) through the guard's text hook.
    wants_text: ClassVar[bool] = False
    #: The call modalities this check works on (``None``: every one). The guard leaves the
    #: check out of calls of other modalities altogether — no hook, no thread hop.
    modalities: tuple[str, ...] | None = None

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
