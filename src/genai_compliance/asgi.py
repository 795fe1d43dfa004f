"""``ComplianceMiddleware``: plain ASGI, works under Starlette, FastAPI and any ASGI server.

Per HTTP request it resolves the :class:`~genai_compliance.Subject` (``subject_resolver``)
and makes it current, so every ``@compliance.guard``-ed function called while serving the
request sees it. Refusals raised by guarded calls become HTTP responses with a JSON body in
OpenAI's error shape (``{"error": {"message", "type", "code", "param", …}}``)::

    400 the request cannot be read (a bad subject header, a body that is not JSON)
    403 consent, guardian consent, illegal use      (ConsentRequired, ServiceRestricted)
    429 curfew, daily quota                          (MinorCurfew, MinorQuotaExhausted)
    451 content blocked                              (ContentBlocked)
    503 a store or the ledger is down                (StoreUnavailable)

with ``Retry-After`` where the refusal knows when the call may succeed.

The middleware holds back ``http.response.start`` until the first body bytes are ready, so a
stream whose before-call checks refuse (they run when the first chunk is asked for) still
gets its real status and body — the OpenAI client raises ``PermissionDeniedError`` or
``RateLimitError``, not a bare ``APIError``. A stream refused after its first bytes went out
ends with a final Server-Sent Event ``event: error`` whose data is the same JSON error (the
OpenAI client raises ``APIError`` with its message), or is cut short for other content
types; the caller never receives a chunk the checks refused.

Response headers come from the calls' typed :class:`~genai_compliance.CallResponse`
(:data:`~genai_compliance.checks.HEADERS`): ``X-GenAI-Call-Id``, ``X-GenAI-Record``,
``X-GenAI-Label`` (percent-encoded UTF-8), ``X-GenAI-Content-Id``, ``X-GenAI-Reminder``,
``X-GenAI-Minor-Remaining-Minutes``, ``X-GenAI-Warning``, ``X-GenAI-Consent-Declined``.

Every guarded call of the request ends in exactly one record: a stream the client abandoned
(disconnect, cancelled task) is ended with a ``cancelled`` record when the request ends. On
lifespan startup the middleware builds the pipeline (a configuration that cannot build fails
the start, and the pipeline in force is recorded then) and freezes the heap it leaves
(:meth:`Compliance.warm <genai_compliance.Compliance.warm>`); on shutdown it closes the compliance
object (in-flight calls recorded, final checkpoint). Other non-HTTP scopes pass straight
through; the class keeps no per-request state (STYLE 13).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import attrs

from .checks import (
    CallContext,
    CallResponse,
    request_calls,
    retry_after_seconds,
    unlabelled_output,
)
from .errors import (
    BadRequest,
    ComplianceError,
    ConfigurationError,
    Refusal,
    StoreUnavailable,
)
from .rules import implements
from .subject import Subject, current_subject

if TYPE_CHECKING:
    from .compliance import Compliance

__all__ = ["BadRequest", "ComplianceMiddleware", "error_body", "request_calls"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
SubjectResolver = Callable[[Scope], "Subject | Awaitable[Subject | None] | None"]

_EVIDENCE_KEYS = ("purposes", "missing", "risk", "remaining_minutes", "notice", "state",
                  "level")


def error_body(error: BaseException, *, now: Any = None) -> dict[str, Any]:
    """The JSON body the middleware sends for a refusal or an unreadable request, in
    OpenAI's error shape (also usable by providers)."""
    body: dict[str, Any] = {"message": str(error), "type": type(error).__name__,
                            "param": None, "code": None}
    if isinstance(error, Refusal):
        body["code"] = body["reason"] = error.reason
        body["rules"] = list(error.rules)
        if error.retry_after is not None:
            body["retry_after"] = error.retry_after.isoformat()
        for key in _EVIDENCE_KEYS:
            if key in error.evidence and error.evidence[key] is not None:
                body[key] = error.evidence[key]
    elif isinstance(error, StoreUnavailable):
        body["code"] = body["reason"] = "store-unavailable"
    elif isinstance(error, ConfigurationError):
        body["code"] = body["reason"] = "bad-request"
        body["param"] = error.evidence.get("field")
    return {"error": json.loads(json.dumps(body, default=str, ensure_ascii=False))}


def _first_refusal(group: BaseExceptionGroup[Any]) -> BaseException | None:
    for exc in group.exceptions:
        if isinstance(exc, Refusal | StoreUnavailable | BadRequest):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            inner = _first_refusal(exc)
            if inner is not None:
                return inner
    return None


def _status(error: BaseException) -> int:
    if isinstance(error, Refusal):
        return error.http_status
    if isinstance(error, BadRequest):
        return 400
    return 503


@implements("LM-4", "IM-14a", "IM-14b")
def _asks_unlabelled(scope: Scope) -> bool:
    """The request carries ``X-GenAI-Unlabelled: request`` (LM-9)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"x-genai-unlabelled":
            return value.strip().lower() in (b"request", b"1", b"true", b"yes")
    return False


class ComplianceMiddleware:
    """ASGI middleware tying the guard's refusals to HTTP.

    :param app: the ASGI application.
    :param compliance: the :class:`~genai_compliance.Compliance` object.
    :param subject_resolver: turns the ASGI scope into a ``Subject`` (sync or async; may
        return ``None`` for anonymous requests). It is the provider's job to authenticate.
    :param label_header: send ``X-GenAI-Label`` with the explicit label when known.
    :param freeze_heap: on lifespan startup, after building the pipeline, keep what is
        alive out of the garbage collector's full collections (see
        :meth:`Compliance.warm <genai_compliance.Compliance.warm>`); ``False`` keeps
        CPython's default.
    """

    def __init__(
        self,
        app: ASGIApp,
        compliance: Compliance,
        subject_resolver: SubjectResolver | None = None,
        *,
        label_header: bool = True,
        freeze_heap: bool = True,
    ) -> None:
        if not callable(app):
            raise ConfigurationError("ComplianceMiddleware needs the ASGI app as first "
                                     "argument", field="app", value=app)
        if subject_resolver is not None and not callable(subject_resolver):
            raise ConfigurationError(
                "subject_resolver must be a callable taking the ASGI scope and returning a "
                "Subject or None", field="subject_resolver", value=subject_resolver)
        self.app = app
        self.compliance = compliance
        self.subject_resolver = subject_resolver
        self.label_header = label_header
        self.freeze_heap = freeze_heap

    async def _subject(self, scope: Scope) -> Subject | None:
        if self.subject_resolver is None:
            return None
        try:
            value = self.subject_resolver(scope)
            if inspect.isawaitable(value):
                value = await value
        except (StoreUnavailable, Refusal, BadRequest):
            raise
        except (ValueError, TypeError, KeyError) as exc:  # e.g. a bad X-Birth-Date header
            raise BadRequest(f"the request's subject cannot be read: {exc}",
                             field="subject") from exc
        if value is not None and not isinstance(value, Subject):
            raise ConfigurationError(
                f"subject_resolver returned {type(value).__name__}; return a "
                "genai_compliance.Subject or None", field="subject_resolver",
                value=type(value).__name__)
        return value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        calls: list[CallContext] = []
        state: dict[str, Any] = {"start": None, "started": False, "sse": False,
                                 "ended": False}
        try:
            subject = await self._subject(scope)
        except (StoreUnavailable, Refusal, BadRequest) as exc:
            await self._send_error(send, exc)
            return
        calls_token = request_calls.set(calls)
        subject_token = current_subject.set(subject)
        unlabelled = unlabelled_output(_asks_unlabelled(scope))  # LM-9, honoured with a grant
        unlabelled.__enter__()

        async def start(extra: Message | None = None) -> None:
            message = state["start"]
            state["start"] = None
            state["started"] = True
            headers = list(message.get("headers", []))
            headers.extend(self._call_headers(calls))
            await send(dict(message, headers=headers))
            if extra is not None:
                await send(extra)

        async def send_wrapper(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type" and value.startswith(b"text/event-stream"):
                        state["sse"] = True
                state["start"] = message  # held back until the first body bytes
                return
            if kind == "http.response.body":
                if not message.get("more_body"):
                    state["ended"] = True
                if state["start"] is not None:
                    if not message.get("body") and message.get("more_body"):
                        return  # an empty first chunk: keep waiting for real bytes
                    await start(message)
                    return
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_wrapper)
            except BaseExceptionGroup as group:  # task groups (anyio) wrap the refusal
                found = _first_refusal(group)
                if found is None:
                    raise
                raise found from group
            if state["start"] is not None:  # the app ended without a body message
                await start()
        except (Refusal, StoreUnavailable, BadRequest) as exc:
            if not state["started"]:
                await self._send_error(send, exc, calls)
            elif not state["ended"]:
                tail = b""
                if state["sse"]:
                    payload = json.dumps(error_body(exc), ensure_ascii=False)
                    tail = f"event: error\ndata: {payload}\n\n".encode()
                await send({"type": "http.response.body", "body": tail, "more_body": False})
        finally:
            unlabelled.__exit__()
            current_subject.reset(subject_token)
            request_calls.reset(calls_token)
            for ctx in calls:  # streams the client never finished: exactly one record each
                if ctx.outcome is None and ctx.abandon is not None:
                    try:
                        ctx.abandon()
                    except Exception:  # the ledger being down must not hide the response
                        pass

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_wrapper(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                try:  # build the pipeline now: a bad config fails the start, not a request
                    await asyncio.to_thread(self._warm)
                except ComplianceError as exc:
                    message = {"type": "lifespan.startup.failed", "message": str(exc)}
            elif message["type"] == "lifespan.shutdown.complete":
                await self._close()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            await self._close()
            raise

    def _warm(self) -> None:
        self.compliance.warm(freeze_heap=self.freeze_heap)

    async def _close(self) -> None:
        aclose = getattr(self.compliance, "aclose", None)
        if aclose is not None:
            await aclose()
        elif callable(getattr(self.compliance, "close", None)):
            self.compliance.close()

    def _call_headers(self, calls: list[CallContext]) -> list[tuple[bytes, bytes]]:
        """The calls' response headers (``Retry-After`` is the refusal's, see
        :meth:`_send_error`, so no time is passed here)."""
        responses = [c.response for c in calls]
        if not self.label_header:
            responses = [attrs.evolve(r, label=None) for r in responses]
        return [(k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in CallResponse.merge(responses)]

    async def _send_error(self, send: Send, error: BaseException,
                          calls: list[CallContext] | None = None) -> None:
        body = json.dumps(error_body(error), ensure_ascii=False).encode("utf-8")
        headers = [(b"content-type", b"application/json; charset=utf-8"),
                   (b"content-length", str(len(body)).encode())]
        retry = getattr(error, "retry_after", None)
        if retry is not None:
            headers.append((b"retry-after",
                            retry_after_seconds(retry, self.compliance.clock.now()).encode()))
        elif isinstance(error, StoreUnavailable):
            headers.append((b"retry-after", b"30"))
        headers.extend(self._call_headers(calls or []))
        await send({"type": "http.response.start", "status": _status(error),
                    "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
