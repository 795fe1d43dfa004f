"""An OpenAI-compatible chat-completions and images service guarded by genai_compliance.

Run it with::

    .venv/bin/uvicorn --factory examples.openai_server:default_app --port 8000

It serves with the full default pipeline (consent, minors, moderation, illegal use, explicit
and implicit labels, one ledger record per call). The "model" is a deterministic toy, so no
weights are downloaded. The subject comes from ``Authorization: Bearer <user id>`` plus
``X-Birth-Date`` (a real service reads both from its own account system).

The consent flow, before the first completion (PIPL Art. 14, 17)::

    GET  /v1/consent                 the notice each purpose is consented against
    POST /v1/consent                 {"purposes": ["service"], "notice_version": "…",
                                      "notice_sha256": "…"} grants them (receipts in reply)
    DELETE /v1/consent/{purpose}     withdraws (as easy as granting, PIPL Art. 15)

``service`` is required; ``training`` is optional: a user who declines it is still served
(PIPL Art. 16) and the reply says so in ``X-GenAI-Consent-Declined``.

Errors use OpenAI's error shape, so the official ``openai`` client raises
``PermissionDeniedError`` (403), ``RateLimitError`` (429), ``BadRequestError`` (400) …
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from genai_compliance import BadRequest, Compliance, Provider, Subject
from genai_compliance.asgi import ComplianceMiddleware

#: the notice users consent against (a real service publishes its agreement and notice)
NOTICE_TEXT = ("示例助手个人信息处理规则：我们处理您的输入以提供生成服务；"
               "经您单独同意后，方将交互数据用于模型训练。")
NOTICE_VERSION = "2026-03-01"
PURPOSES = ("service", "training")

EXAMPLE_PROVIDER = Provider(
    legal_name="示例智能科技有限公司", legal_name_en="Example Intelligence Technology Co., Ltd.",
    uscc="91440300708461136T", product_name="示例助手", product_name_en="Example Assistant",
    service_filing_number="Beijing-ExampleAssistant-20260101", model_code="EXA1")


def toy_reply(prompt: str) -> str:
    """A deterministic stand-in for a language model (``reverse:<text>`` answers the text
    reversed, which lets a demo produce an output that moderation must stop)."""
    if prompt.startswith("reverse:"):
        return prompt.removeprefix("reverse:")[::-1]
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    return f"关于“{prompt[:40]}”：这是示例模型的回答（{digest}）。"


def toy_image(prompt: str, size: int = 64) -> bytes:
    """A deterministic PNG derived from the prompt."""
    from PIL import Image

    seed = hashlib.sha256(prompt.encode()).digest()
    img = Image.new("RGB", (size, size), (seed[0], seed[1], seed[2]))
    for i in range(0, size, 8):
        for j in range(0, size, 8):
            k = (i + j) % 29
            img.putpixel((i, j), (seed[k], seed[k + 1], seed[k + 2]))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def subject_from_headers(scope: dict[str, Any]) -> Subject | None:
    """The subject of a request: ``Authorization: Bearer <id>`` and ``X-Birth-Date``; a
    birth date that is not ``YYYY-MM-DD`` is a 400 (the middleware sends it)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1")
               for k, v in scope.get("headers", [])}
    auth = headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        return None
    birth = headers.get("x-birth-date") or None
    try:
        return Subject(user_id=auth.removeprefix("Bearer ").strip(), birth_date=birth,
                       session_id=headers.get("x-session-id"))
    except ValueError as exc:
        raise BadRequest(f"X-Birth-Date must be a date like 1990-04-01, got {birth!r}",
                         field="X-Birth-Date") from exc


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("the request body is not JSON; send Content-Type: application/json "
                         "with an OpenAI-style body", field="body") from exc
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object", field="body")
    return body


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("content", ""), str) for m in messages):
        raise BadRequest("messages must be a non-empty list of {role, content} objects",
                         field="messages")
    return messages


def create_app(compliance: Compliance) -> FastAPI:
    """The FastAPI app with its guarded model functions, the consent endpoints and the
    middleware."""
    api = FastAPI(title="Example generative-AI service")
    notice_hash = hashlib.sha256(NOTICE_TEXT.encode()).hexdigest()

    @compliance.guard(modality="text", purposes=["service"], optional_purposes=["training"])
    async def complete(messages: list[dict[str, Any]]) -> str:
        return toy_reply(str(messages[-1].get("content", "")))

    @compliance.guard(modality="text", purposes=["service"], optional_purposes=["training"])
    async def complete_stream(messages: list[dict[str, Any]], model: str,
                              delay: float = 0.0) -> AsyncIterator[dict[str, Any]]:
        reply = toy_reply(str(messages[-1].get("content", "")))
        created = int(time.time())
        for i in range(0, len(reply), 4):
            if delay:
                await asyncio.sleep(delay)
            yield {"id": "chatcmpl-toy", "object": "chat.completion.chunk", "created": created,
                   "model": model, "choices": [{"index": 0, "finish_reason": None,
                                                "delta": {"content": reply[i:i + 4]}}]}

    @compliance.guard(modality="image", purposes=["service"])
    async def draw(prompt: str) -> bytes:
        return toy_image(prompt)

    @api.get("/v1/consent")
    async def notice() -> Any:
        return {"notice_version": NOTICE_VERSION, "notice_sha256": notice_hash,
                "notice": NOTICE_TEXT, "purposes": [
                    {"name": "service", "required": True},
                    {"name": "training", "required": False}]}

    @api.post("/v1/consent")
    async def grant(request: Request) -> Any:
        from genai_compliance import current_subject
        from genai_compliance.consent import NoticeRef

        subject = current_subject.get()
        if subject is None:
            raise BadRequest("consent needs an authenticated user (Authorization: Bearer …)",
                             field="Authorization")
        body = await _json_body(request)
        purposes = body.get("purposes")
        if not isinstance(purposes, list) or not purposes or any(
                p not in PURPOSES for p in purposes):
            raise BadRequest(f"purposes must be a non-empty list drawn from {list(PURPOSES)}",
                             field="purposes")
        if (body.get("notice_version"), body.get("notice_sha256")) != (NOTICE_VERSION,
                                                                       notice_hash):
            raise BadRequest("consent must name the current notice: GET /v1/consent for its "
                             "version and sha256", field="notice_version")
        ref = NoticeRef(NOTICE_VERSION, notice_hash)
        granted = []
        for purpose in purposes:
            g = await _to_thread(compliance.consent.grant, subject, purpose, notice=ref)
            granted.append({"purpose": purpose, "receipt": getattr(g, "receipt", None)})
        return {"granted": granted}

    @api.delete("/v1/consent/{purpose}")
    async def withdraw(purpose: str) -> Any:
        from genai_compliance import current_subject

        subject = current_subject.get()
        if subject is None or purpose not in PURPOSES:
            raise BadRequest(f"withdraw needs an authenticated user and one of {PURPOSES}",
                             field="purpose")
        done = await _to_thread(compliance.consent.withdraw, subject, purpose)
        return {"withdrawn": bool(done)}

    @api.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await _json_body(request)
        messages = _messages(body)
        model = str(body.get("model", "toy-1"))
        delay = body.get("toy_delay", 0.0)  # seconds between chunks, to demo slow models
        if not isinstance(delay, int | float) or not 0 <= delay <= 1:
            raise BadRequest("toy_delay must be a number of seconds from 0 to 1",
                             field="toy_delay")
        if body.get("stream"):
            async def events() -> AsyncIterator[str]:
                async for chunk in complete_stream(messages=messages, model=model,
                                                   delay=float(delay)):
                    yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")
        text = await complete(messages=messages)
        return JSONResponse({"id": "chatcmpl-toy", "object": "chat.completion",
                             "created": int(time.time()), "model": model,
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": text}}]})

    @api.post("/v1/images/generations")
    async def images(request: Request) -> Any:
        body = await _json_body(request)
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise BadRequest("prompt must be a non-empty string", field="prompt")
        png = await draw(prompt)
        return JSONResponse({"created": int(time.time()),
                             "data": [{"b64_json": base64.b64encode(png).decode()}]})

    api.add_middleware(ComplianceMiddleware, compliance=compliance,
                       subject_resolver=subject_from_headers)
    return api


async def _to_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


def default_compliance(folder: str | None = None) -> Compliance:
    """The example's compliance object: ``$GENAI_COMPLIANCE_CONFIG`` (a compliance.toml)
    when set, else an SQLite ledger (and the embedded state beside it) in ``folder`` or a
    temp folder, moderated with the sample keyword list that ships with the package."""
    config = os.environ.get("GENAI_COMPLIANCE_CONFIG")
    if config:
        return Compliance.from_toml(config)
    from genai_compliance.testing import sample_keyword_file

    folder = folder or os.environ.get("GENAI_EXAMPLE_DIR") or tempfile.mkdtemp(
        prefix="openai-ex-")
    return Compliance(EXAMPLE_PROVIDER,
                      ledger="sqlite:///" + os.path.join(os.path.abspath(folder), "ledger.db"),
                      settings={"moderation": {"keyword_files": [sample_keyword_file()]}})


def default_app() -> FastAPI:
    """App factory: ``uvicorn --factory examples.openai_server:default_app``."""
    compliance = default_compliance()
    print(f"ledger: {compliance.ledger.uri}", flush=True)
    return create_app(compliance)
