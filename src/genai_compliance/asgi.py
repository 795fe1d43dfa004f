"""``ComplianceMiddleware``: plain ASGI, works under Starlette, FastAPI and any ASGI server.

Per HTTP request it resolves the :class:`~genai_compliance.Subject` (``subject_resolver``)
and makes it current, so every ``@compliance.guard``-ed function called while serving the
request sees it. Refusals raised by guarded calls become HTTP responses with a JSON body::

    403 consent, guardian consent, illegal use      (ConsentRequired, ServiceRestricted)
    429 curfew, daily quota                          (MinorCurfew, MinorQuotaExhausted)
    451 content blocked                              (ContentBlocked)
    503 a store or the ledger is down                (StoreUnavailable)

with ``Retry-After`` where the refusal knows when the call may succeed. Responses carry
``X-GenAI-Call-Id`` (every guarded call of the request), ``X-GenAI-Record`` (their ledger
sequence numbers) and ``X-GenAI-Label`` (the explicit label, percent-encoded UTF-8) when known
before the response starts. A stream refused after its headers went out ends with a final
Server-Sent Event ``event: error`` (for ``text/event-stream``) or is cut short; the caller never
receives a chunk the checks refused. Non-HTTP scopes pass straight through; the class keeps no
per-request state (STYLE 13).
"""

from __future__ import annotations

import inspect
import json
import math
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .checks import CallContext, request_calls
from .errors import ConfigurationError, Refusal, StoreUnavailable
from .rules import implements
from .subject import Subject, current_subject

__all__ = ["ComplianceMiddleware", "error_body", "request_calls"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
SubjectResolver = Callable[[Scope], "Subject | Awaitable[Subject | None] | None"]

_EVIDENCE_KEYS = ("purposes", "missing", "risk", "remaining_minutes", "notice", "state",
                  "level")


def error_body(error: BaseException, *, now: Any = None) -> dict[str, Any]:
    """The JSON body the middleware sends for a refusal (also usable by providers)."""
    body: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, Refusal):
        body["reason"] = error.reason
        body["rules"] = list(error.rules)
        if error.retry_after is not None:
            body["retry_after"] = error.retry_after.isoformat()
        for key in _EVIDENCE_KEYS:
            if key in error.evidence and error.evidence[key] is not None:
                body[key] = error.evidence[key]
    elif isinstance(error, StoreUnavailable):
        body["reason"] = "store-unavailable"
    return {"error": json.loads(json.dumps(body, default=str, ensure_ascii=False))}


def _first_refusal(group: BaseExceptionGroup[Any]) -> BaseException | None:
    for exc in group.exceptions:
        if isinstance(exc, Refusal | StoreUnavailable):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            inner = _first_refusal(exc)
            if inner is not None:
                return inner
    return None


def _status(error: BaseException) -> int:
    if isinstance(error, Refusal):
        return error.http_status
    return 503


@implements("LM-4", "IM-14a", "IM-14b")
class ComplianceMiddleware:
    """ASGI middleware tying the guard's refusals to HTTP.

    :param app: the ASGI application.
    :param compliance: the :class:`~genai_compliance.Compliance` object.
    :param subject_resolver: turns the ASGI scope into a ``Subject`` (sync or async; may
        return ``None`` for anonymous requests). It is the provider's job to authenticate.
    :param label_header: send ``X-GenAI-Label`` with the explicit label when known.
    """

    def __init__(
        self,
        app: ASGIApp,
        compliance: Any,
        subject_resolver: SubjectResolver | None = None,
        *,
        label_header: bool = True,
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

    async def _subject(self, scope: Scope) -> Subject | None:
        if self.subject_resolver is None:
            return None
        value = self.subject_resolver(scope)
        if inspect.isawaitable(value):
            value = await value
        if value is not None and not isinstance(value, Subject):
            raise ConfigurationError(
                f"subject_resolver returned {type(value).__name__}; return a "
                "genai_compliance.Subject or None", field="subject_resolver", value=value)
        return value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        calls: list[CallContext] = []
        state: dict[str, Any] = {"started": False, "sse": False, "ended": False}
        try:
            subject = await self._subject(scope)
        except StoreUnavailable as exc:
            await self._send_error(send, exc)
            return
        calls_token = request_calls.set(calls)
        subject_token = current_subject.set(subject)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                headers = list(message.get("headers", []))
                for name, value in headers:
                    if name.lower() == b"content-type" and value.startswith(b"text/event-stream"):
                        state["sse"] = True
                headers.extend(self._call_headers(calls))
                message = dict(message, headers=headers)
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                state["ended"] = True
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_wrapper)
            except BaseExceptionGroup as group:  # task groups (anyio) wrap the refusal
                found = _first_refusal(group)
                if found is None:
                    raise
                raise found from group
        except (Refusal, StoreUnavailable) as exc:
            if not state["started"]:
                await self._send_error(send, exc, calls)
            elif not state["ended"]:
                tail = b""
                if state["sse"]:
                    payload = json.dumps(error_body(exc), ensure_ascii=False)
                    tail = f"event: error\ndata: {payload}\n\n".encode()
                await send({"type": "http.response.body", "body": tail, "more_body": False})
        finally:
            current_subject.reset(subject_token)
            request_calls.reset(calls_token)

    def _call_headers(self, calls: list[CallContext]) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        if calls:
            headers.append((b"x-genai-call-id", ",".join(c.call_id for c in calls).encode()))
            seqs = [str(c.record_seq) for c in calls if c.record_seq is not None]
            if seqs:
                headers.append((b"x-genai-record", ",".join(seqs).encode()))
            if self.label_header:
                labels = [c.metadata["ai_label"] for c in calls if c.metadata.get("ai_label")]
                if labels:
                    headers.append((b"x-genai-label",
                                    urllib.parse.quote(str(labels[-1])).encode()))
            ids = [c.metadata["produce_id"] for c in calls if c.metadata.get("produce_id")]
            if ids:
                headers.append((b"x-genai-produce-id", ",".join(map(str, ids)).encode()))
            reminders = [c.metadata["minor_reminder"] for c in calls
                         if c.metadata.get("minor_reminder")]
            if reminders:
                last = reminders[-1]
                text = last.get("message", "") if isinstance(last, dict) else str(last)
                headers.append((b"x-genai-reminder", urllib.parse.quote(str(text)).encode()))
            quotas = [c.metadata["minor_quota"] for c in calls
                      if isinstance(c.metadata.get("minor_quota"), dict)]
            if quotas and quotas[-1].get("remaining_minutes") is not None:
                headers.append((b"x-genai-minor-remaining-minutes",
                                str(quotas[-1]["remaining_minutes"]).encode()))
        return headers

    async def _send_error(self, send: Send, error: BaseException,
                          calls: list[CallContext] | None = None) -> None:
        body = json.dumps(error_body(error), ensure_ascii=False).encode("utf-8")
        headers = [(b"content-type", b"application/json; charset=utf-8"),
                   (b"content-length", str(len(body)).encode())]
        retry = getattr(error, "retry_after", None)
        if retry is not None:
            seconds = (retry - self.compliance.clock.now()).total_seconds()
            headers.append((b"retry-after", str(max(0, math.ceil(seconds))).encode()))
        elif isinstance(error, StoreUnavailable):
            headers.append((b"retry-after", b"30"))
        headers.extend(self._call_headers(calls or []))
        await send({"type": "http.response.start", "status": _status(error),
                    "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
