"""ComplianceMiddleware under Starlette and FastAPI: refusal mapping, SSE, headers, load."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from genai_compliance import (
    CallContext,
    Check,
    Compliance,
    ConsentRequired,
    ContentBlocked,
    Ledger,
    MinorCurfew,
    MinorQuotaExhausted,
    ServiceRestricted,
    StoreUnavailable,
)
from genai_compliance.asgi import ComplianceMiddleware
from genai_compliance.testing import make_compliance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from examples.openai_server import create_app, subject_from_headers  # noqa: E402


class ScriptedCheck(Check):
    """Refuses as the prompt says (``refuse:<reason>``); stops streams at ``BAD``."""

    name = "scripted"

    def before(self, ctx: CallContext) -> None:
        prompt = ctx.prompt or ""
        now = ctx.clock.now() if ctx.clock else None
        if "refuse:consent" in prompt:
            raise ConsentRequired("consent missing for training", purposes=["training"],
                                  rules=("PI-14",))
        if "refuse:quota" in prompt:
            raise MinorQuotaExhausted("daily quota used up", rules=("MM-final",),
                                      retry_after=now + dt.timedelta(hours=3),
                                      remaining_minutes=0)
        if "refuse:curfew" in prompt:
            raise MinorCurfew("curfew", rules=("MM-final",),
                              retry_after=now + dt.timedelta(minutes=90))
        if "refuse:content" in prompt:
            raise ContentBlocked("prompt blocked", rules=("IM-14a",), risk="A.1f")
        if "refuse:illegal" in prompt:
            raise ServiceRestricted("suspended", rules=("IM-14b",), level="suspend")
        if "refuse:store" in prompt:
            raise StoreUnavailable("redis://127.0.0.1:1 failed")
        ctx.response.label = "本内容由人工智能生成"

    def on_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        seen = ctx.notes.setdefault("seen", "") + (ctx.text_of(chunk, self) or "")
        ctx.notes["seen"] = seen
        if "BAD" in seen:
            raise ContentBlocked("output blocked", rules=("IM-14a",), risk="A.1a")
        return (chunk,)


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    comp = make_compliance(tmp_path, checks=[ScriptedCheck()])
    yield comp
    comp.close()


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


HEADERS = {"Authorization": "Bearer user-1", "X-Birth-Date": "1990-01-01"}


def _chat(content: str, stream: bool = False) -> dict[str, Any]:
    return {"model": "toy", "stream": stream, "messages": [{"role": "user", "content": content}]}


@pytest.mark.parametrize(("prompt", "status", "reason"), [
    ("refuse:consent", 403, "consent"),
    ("refuse:illegal", 403, "illegal-use"),
    ("refuse:quota", 429, "quota"),
    ("refuse:curfew", 429, "curfew"),
    ("refuse:content", 451, "content"),
    ("refuse:store", 503, "store-unavailable"),
])
async def test_fastapi_refusals_map_to_http(comp: Compliance, prompt: str, status: int,
                                            reason: str) -> None:
    """Every refusal path becomes its HTTP status with a JSON error body."""
    async with _client(create_app(comp)) as client:
        resp = await client.post("/v1/chat/completions", json=_chat(prompt), headers=HEADERS)
    assert resp.status_code == status
    body = resp.json()["error"]
    assert body["reason"] == reason
    if reason == "quota":
        assert resp.headers["retry-after"] == str(3 * 3600)
        assert body["retry_after"].startswith("2026-01-01T07:00")
    if reason == "curfew":
        assert resp.headers["retry-after"] == "5400"
    if reason == "consent":
        assert body["purposes"] == ["training"] and body["rules"] == ["PI-14"]
    if reason == "store-unavailable":
        assert resp.headers["retry-after"] == "30"
    calls = [r.payload for r in comp.records("guard.call")]
    assert calls[-1]["outcome"] == "refused"


async def test_served_response_carries_call_and_record_headers(comp: Compliance) -> None:
    """A served call: call id, ledger record number and label in the response headers."""
    async with _client(create_app(comp)) as client:
        resp = await client.post("/v1/chat/completions", json=_chat("你好"), headers=HEADERS)
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"].startswith("关于")
    record = list(comp.records("guard.call"))[-1]
    assert resp.headers["x-genai-call-id"] == record.payload["call_id"]
    assert resp.headers["x-genai-record"] == str(record.seq)
    assert resp.headers["x-genai-label"] == (
        "%E6%9C%AC%E5%86%85%E5%AE%B9%E7%94%B1%E4%BA%BA%E5%B7%A5%E6%99%BA%E8%83%BD%E7%94%9F%E6%88%90")
    assert record.subject == comp.ledger.pseudonym("user-1")


async def test_sse_stream_stopped_midway_ends_with_error_event(comp: Compliance) -> None:
    """A stream refused mid-way: chunks before it arrive, then an error event, nothing after."""
    async with _client(create_app(comp)) as client:
        resp = await client.post("/v1/chat/completions",
                                 json=_chat("please say BAD things and more", stream=True),
                                 headers=HEADERS)
    assert resp.status_code == 200
    events = [e for e in resp.text.split("\n\n") if e]
    assert events[-1].startswith("event: error")
    error = json.loads(events[-1].split("data: ", 1)[1])["error"]
    assert error["reason"] == "content" and error["risk"] == "A.1a"
    text = "".join(json.loads(e.removeprefix("data: "))["choices"][0]["delta"]["content"]
                   for e in events[:-1])
    assert "BAD" not in text and "[DONE]" not in resp.text
    assert list(comp.records("guard.call"))[-1].payload["outcome"] == "refused"


async def test_sse_stream_served_completely(comp: Compliance) -> None:
    """An allowed stream arrives whole and ends with [DONE]."""
    async with _client(create_app(comp)) as client:
        resp = await client.post("/v1/chat/completions", json=_chat("hello", stream=True),
                                 headers=HEADERS)
    assert resp.text.rstrip().endswith("data: [DONE]")


async def test_images_endpoint_is_guarded(comp: Compliance) -> None:
    """The images endpoint goes through the same guard and records the image modality."""
    async with _client(create_app(comp)) as client:
        ok = await client.post("/v1/images/generations", json={"prompt": "a cat"},
                               headers=HEADERS)
        blocked = await client.post("/v1/images/generations",
                                    json={"prompt": "refuse:content"}, headers=HEADERS)
    assert ok.status_code == 200 and ok.json()["data"][0]["b64_json"]
    assert blocked.status_code == 451
    assert [r.payload["modality"] for r in comp.records("guard.call")] == ["image", "image"]


async def test_plain_starlette_and_anonymous_subject(comp: Compliance) -> None:
    """Under plain Starlette; no Authorization header means no subject."""
    @comp.guard
    def generate(prompt: str) -> str:
        return prompt.upper()

    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"text": generate((await request.json())["prompt"])})

    async def stream(request: Request) -> StreamingResponse:
        @comp.guard
        async def pieces(prompt: str) -> Any:
            for p in ["ok ", "BAD ", "secret"]:
                yield p
        return StreamingResponse(pieces("x"), media_type="text/plain")

    app = Starlette(routes=[Route("/g", endpoint, methods=["POST"]),
                            Route("/s", stream, methods=["POST"])],
                    middleware=[Middleware(ComplianceMiddleware, compliance=comp,
                                           subject_resolver=subject_from_headers)])
    async with _client(app) as client:
        resp = await client.post("/g", json={"prompt": "hi"})
        cut = await client.post("/s")
        refused = await client.post("/g", json={"prompt": "refuse:content"})
    assert resp.json() == {"text": "HI"}
    assert cut.text == "ok "
    assert refused.status_code == 451
    assert next(iter(comp.records("guard.call"))).subject is None


async def test_non_http_scopes_pass_through(comp: Compliance) -> None:
    """Websocket scopes go straight to the app; lifespan reaches it too (wrapped only to close
    the compliance object at shutdown)."""
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await ComplianceMiddleware(app, comp)({"type": "websocket"}, None, None)  # type: ignore[arg-type]
    await ComplianceMiddleware(app, comp)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["websocket", "lifespan"]


@pytest.mark.parametrize("freeze", [True, False])
async def test_lifespan_startup_warms_and_freezes_the_heap(comp: Compliance,
                                                           freeze: bool) -> None:
    """On lifespan startup the pipeline is built (and recorded) before any request, and by
    default the heap alive then leaves the garbage collector's full collections
    (gc.freeze); ``freeze_heap=False`` leaves the collector alone."""
    import gc

    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    async def app(scope: Any, receive: Any, send: Any) -> None:  # a minimal lifespan app
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
                frozen.append(gc.get_freeze_count())
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    frozen: list[int] = []
    gc.unfreeze()
    try:
        await ComplianceMiddleware(app, comp, freeze_heap=freeze)(
            {"type": "lifespan"}, receive, send)
    finally:
        gc.unfreeze()
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert [r.kind for r in comp.records("compliance.pipeline")] == ["compliance.pipeline"]
    assert (frozen[0] > 0) is freeze


def test_constructor_checks_options(comp: Compliance) -> None:
    """Bad options raise a typed error, not an assert."""
    from genai_compliance import ConfigurationError

    with pytest.raises(ConfigurationError, match="subject_resolver"):
        ComplianceMiddleware(lambda *a: None, comp, subject_resolver="header")  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
async def test_load_2000_requests_50_clients_lose_no_record(tmp_path: Path) -> None:
    """2,000 requests from 50 concurrent clients against uvicorn: one ledger record each."""
    port = _free_port()
    env = dict(os.environ, GENAI_EXAMPLE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "examples.openai_server:default_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(100):
                try:
                    await client.get("/docs")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            statuses: list[int] = []
            queue = list(range(2000))
            notice = (await client.get("/v1/consent")).json()
            for user in range(37):  # the documented consent flow, once per user
                granted = await client.post("/v1/consent", json={
                    "purposes": ["service"], "notice_version": notice["notice_version"],
                    "notice_sha256": notice["notice_sha256"]},
                    headers={"Authorization": f"Bearer u{user}"})
                assert granted.status_code == 200

            async def worker() -> None:
                while queue:
                    i = queue.pop()
                    stream = i % 4 == 0
                    content = f"question {i}"
                    resp = await client.post("/v1/chat/completions",
                                             json=_chat(content, stream=stream),
                                             headers={"Authorization": f"Bearer u{i % 37}"})
                    statuses.append(resp.status_code)

            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(50)))
            assert time.monotonic() - started < 600
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert len(statuses) == 2000
    assert statuses.count(200) == 2000
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    calls = list(ledger.records(kind="guard.call"))
    assert len(calls) == 2000
    assert sum(1 for c in calls if c.payload["streaming"]) == 500
    assert ledger.verify().ok
    ledger.db.close()
