"""An OpenAI-compatible chat-completions and images endpoint guarded by genai_compliance.

Run it with ``uvicorn --factory examples.openai_server:default_app`` (after ``make demo``
has created .venv). The "model" is a deterministic toy so no weights are downloaded. The
subject comes from the ``Authorization: Bearer <user id>`` header plus ``X-Birth-Date`` (a real
service reads both from its own account system).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from genai_compliance import Compliance, Subject
from genai_compliance.asgi import ComplianceMiddleware


def toy_reply(prompt: str) -> str:
    """A deterministic stand-in for a language model."""
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    return f"关于“{prompt[:40]}”：这是示例模型的回答（{digest}）。"


def toy_image(prompt: str, size: int = 64) -> bytes:
    """A deterministic PNG derived from the prompt."""
    from PIL import Image

    seed = hashlib.sha256(prompt.encode()).digest()
    img = Image.new("RGB", (size, size), tuple(seed[:3]))
    for i in range(0, size, 8):
        for j in range(0, size, 8):
            img.putpixel((i, j), tuple(seed[(i + j) % 29: (i + j) % 29 + 3]))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def subject_from_headers(scope: dict[str, Any]) -> Subject | None:
    headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
    auth = headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        return None
    return Subject(user_id=auth.removeprefix("Bearer ").strip(),
                   birth_date=headers.get("x-birth-date") or None,
                   session_id=headers.get("x-session-id"))


def create_app(compliance: Compliance) -> FastAPI:
    """The FastAPI app with its guarded model functions and the middleware."""
    api = FastAPI(title="Example generative-AI service")

    @compliance.guard(modality="text", purposes=["service"])
    def complete(messages: list[dict[str, Any]]) -> str:
        return toy_reply(str(messages[-1].get("content", "")))

    @compliance.guard(modality="text", purposes=["service"])
    def complete_stream(messages: list[dict[str, Any]]) -> Iterator[str]:
        reply = toy_reply(str(messages[-1].get("content", "")))
        for i in range(0, len(reply), 4):
            yield reply[i:i + 4]

    @compliance.guard(modality="image", purposes=["service"])
    def draw(prompt: str) -> bytes:
        return toy_image(prompt)

    @api.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        messages = body.get("messages") or []
        model = body.get("model", "toy-1")
        created = int(time.time())
        if body.get("stream"):
            def events() -> Iterator[str]:
                for piece in complete_stream(messages=messages):
                    chunk = {"object": "chat.completion.chunk", "created": created,
                             "model": model, "choices": [{"index": 0,
                                                          "delta": {"content": piece}}]}
                    yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")
        text = complete(messages=messages)
        return JSONResponse({"object": "chat.completion", "created": created, "model": model,
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": text}}]})

    @api.post("/v1/images/generations")
    async def images(request: Request) -> Any:
        body = await request.json()
        png = draw(str(body.get("prompt", "")))
        return JSONResponse({"created": int(time.time()),
                             "data": [{"b64_json": base64.b64encode(png).decode()}]})

    api.add_middleware(ComplianceMiddleware, compliance=compliance,
                       subject_resolver=subject_from_headers)
    return api


def default_app() -> FastAPI:
    """App factory: ``uvicorn --factory examples.openai_server:default_app``.

    Uses ``$GENAI_COMPLIANCE_CONFIG`` (a compliance.toml) when set, else a fresh SQLite
    ledger in a temp folder (printed at start-up).
    """
    config = os.environ.get("GENAI_COMPLIANCE_CONFIG")
    if config:
        compliance = Compliance.from_toml(config)
    else:
        from genai_compliance import SystemClock
        from genai_compliance.testing import make_compliance

        folder = os.environ.get("GENAI_EXAMPLE_DIR") or tempfile.mkdtemp(prefix="openai-ex-")
        compliance = make_compliance(folder, clock=SystemClock(), durability="process")
        print(f"ledger: {compliance.ledger.uri}", flush=True)
    return create_app(compliance)
