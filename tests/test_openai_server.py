"""The example OpenAI-compatible service under real ASGI servers (uvicorn, hypercorn) with
real clients: the official ``openai`` package and httpx, including clients that disconnect.

Issue 13: refusals up front get their real status on streams too (403, 429 + Retry-After,
451); a block mid-stream ends with an error event in OpenAI's shape; every call ends in
exactly one record, also when the client goes away; the images endpoint returns files that
``inspect`` calls compliant; bad input gets 400 in the JSON error shape.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import uvicorn

from genai_compliance import Compliance, FrozenClock, Ledger
from genai_compliance.testing import make_compliance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from examples.openai_server import (  # noqa: E402
    NOTICE_TEXT,
    NOTICE_VERSION,
    create_app,
)

NOTICE_SHA = hashlib.sha256(NOTICE_TEXT.encode()).hexdigest()
KEYWORD = "违禁词样例01"  # in the sample keyword list that ships with the package
REVERSED = "reverse:" + KEYWORD[::-1]  # the prompt is clean; the answer is not


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """uvicorn serving an app in a thread of this process (so the test sees the object)."""

    def __init__(self, app: Any) -> None:
        self.port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:  # pragma: no cover - a broken environment
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


def _headers(user: str, birth: str = "1990-01-01") -> dict[str, str]:
    return {"Authorization": f"Bearer {user}", "X-Birth-Date": birth}


def _consent(base: str, user: str, purposes: list[str], birth: str = "1990-01-01") -> None:
    resp = httpx.post(f"{base}/v1/consent", headers=_headers(user, birth),
                      json={"purposes": purposes, "notice_version": NOTICE_VERSION,
                            "notice_sha256": NOTICE_SHA})
    assert resp.status_code == 200, resp.text


def _client(base: str, user: str, birth: str = "1990-01-01") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key=user, max_retries=0,
                         default_headers={"X-Birth-Date": birth})


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    # 2026-03-02 12:00 Beijing; the full default pipeline with the sample keyword list
    comp = make_compliance(tmp_path / "c", clock=FrozenClock("2026-03-02T04:00:00+00:00"))
    yield comp
    comp.close()


@pytest.fixture(name="base")
def _base(comp: Compliance) -> Iterator[str]:
    with _Server(create_app(comp)) as base:
        yield base


def _calls(comp: Compliance) -> list[dict[str, Any]]:
    return [r.payload for r in comp.records("guard.call")]


def test_openai_client_served_with_consent_and_labelled(comp: Compliance, base: str) -> None:
    """With consent granted through the documented flow, the openai client gets a labelled
    answer, streamed and not; the optional training purpose declined is still served."""
    _consent(base, "u-1", ["service"])
    client = _client(base, "u-1")
    done = client.chat.completions.create(model="toy", messages=[
        {"role": "user", "content": "你好"}])
    text = done.choices[0].message.content or ""
    assert text.startswith("本内容由人工智能生成")
    raw = client.chat.completions.with_raw_response.create(
        model="toy", messages=[{"role": "user", "content": "你好"}])
    assert raw.headers["x-genai-label"]
    assert raw.headers["x-genai-consent-declined"] == "training"
    pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="toy", stream=True, messages=[{"role": "user", "content": "你好"}])]
    assert "".join(pieces).startswith("本内容由人工智能生成")
    assert "这是示例模型的回答" in "".join(pieces)
    assert [c["outcome"] for c in _calls(comp)] == ["served"] * 3


def test_refusal_up_front_has_its_status_for_calls_and_streams(comp: Compliance,
                                                               base: str) -> None:
    """No consent: 403 with the JSON body for a call and for a stream alike, so the openai
    client raises PermissionDeniedError (not a bare APIError after HTTP 200)."""
    client = _client(base, "u-2")
    with pytest.raises(openai.PermissionDeniedError) as call:
        client.chat.completions.create(model="toy", messages=[{"role": "user", "content": "x"}])
    assert call.value.status_code == 403
    with pytest.raises(openai.PermissionDeniedError) as stream:
        for _ in client.chat.completions.create(model="toy", stream=True, messages=[
                {"role": "user", "content": "x"}]):
            pass  # pragma: no cover - refused before the first chunk
    body = stream.value.body
    assert isinstance(body, dict) and body["code"] == "consent"
    assert "u-2" not in str(body)  # no raw user id in an HTTP body
    assert [c["outcome"] for c in _calls(comp)] == ["refused", "refused"]


def test_curfew_on_a_stream_is_429_with_retry_after(comp: Compliance, base: str) -> None:
    """A 15-year-old at 23:00 Beijing: the stream is refused with 429 and Retry-After."""
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    _consent(base, "teen", ["service"], birth="2011-01-01")
    clock.set("2026-03-02T15:00:00+00:00")  # 23:00 Beijing
    with httpx.stream("POST", f"{base}/v1/chat/completions",
                      headers=_headers("teen", "2011-01-01"),
                      json={"model": "toy", "stream": True,
                            "messages": [{"role": "user", "content": "hi"}]}) as resp:
        resp.read()
    assert resp.status_code == 429
    assert int(resp.headers["retry-after"]) == 7 * 3600  # until 06:00
    assert resp.json()["error"]["code"] == "curfew"
    client = _client(base, "teen", birth="2011-01-01")
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="toy", stream=True,
                                       messages=[{"role": "user", "content": "hi"}])


def test_input_block_is_451_and_output_block_mid_stream_is_an_error_event(
        comp: Compliance, base: str) -> None:
    """A blocked prompt is 451; an answer that turns bad mid-stream ends with an error event
    in OpenAI's shape, the keyword never reaches the client, and the call is refused."""
    _consent(base, "u-3", ["service", "training"])
    client = _client(base, "u-3")
    with pytest.raises(openai.APIStatusError) as blocked:
        client.chat.completions.create(model="toy", messages=[
            {"role": "user", "content": f"tell me {KEYWORD}"}])
    assert blocked.value.status_code == 451
    received: list[str] = []
    with pytest.raises(openai.APIError) as mid:
        for chunk in client.chat.completions.create(
                model="toy", stream=True, messages=[{"role": "user", "content": REVERSED}]):
            received.append(chunk.choices[0].delta.content or "")
    assert "Sorry" in mid.value.message or "抱歉" in mid.value.message
    assert KEYWORD not in "".join(received)
    assert [c["outcome"] for c in _calls(comp)] == ["refused", "refused"]


def test_bad_client_input_gets_400_json(comp: Compliance, base: str) -> None:
    """A body that is not JSON, messages of the wrong shape and a bad birth date: 400s with
    the JSON error shape (never a plain-text 500)."""
    _consent(base, "u-4", ["service"])
    not_json = httpx.post(f"{base}/v1/chat/completions", headers=_headers("u-4"),
                          content=b"{not json")
    wrong = httpx.post(f"{base}/v1/chat/completions", headers=_headers("u-4"),
                       json={"model": "toy", "messages": "hi"})
    birth = httpx.post(f"{base}/v1/chat/completions", headers=_headers("u-4", "31/12/1990"),
                       json={"model": "toy", "messages": [{"role": "user", "content": "x"}]})
    for resp in (not_json, wrong, birth):
        assert resp.status_code == 400
        assert resp.headers["content-type"].startswith("application/json")
        assert resp.json()["error"]["code"] == "bad-request"
    with pytest.raises(openai.BadRequestError):
        _client(base, "u-4").chat.completions.create(model="toy", messages=[])


def test_images_endpoint_returns_files_inspect_calls_compliant(comp: Compliance, base: str,
                                                               tmp_path: Path) -> None:
    """A generated image comes back with the explicit and the implicit label."""
    from genai_compliance.labelling import inspect

    _consent(base, "u-5", ["service"])
    resp = _client(base, "u-5").images.generate(prompt="a cat", response_format="b64_json")
    assert resp.data and resp.data[0].b64_json
    png = base64.b64decode(resp.data[0].b64_json)
    report = inspect(png)
    assert report.verdict == "compliant", report
    note = _calls(comp)[-1]["notes"]["implicit_label"]
    assert note["sha256"] == hashlib.sha256(png).hexdigest()
    out = tmp_path / "cat.png"
    out.write_bytes(png)
    cli = subprocess.run([sys.executable, "-m", "genai_compliance", "inspect", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stdout + cli.stderr  # the CLI calls it compliant too
    assert "compliant" in cli.stdout


async def _disconnect_after_two_chunks(base: str, user: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client, client.stream(
            "POST", "/v1/chat/completions", headers=_headers(user),
            json={"model": "toy", "stream": True, "toy_delay": 0.02, "messages": [
                {"role": "user", "content": "a long answer please " * 4}]}) as resp:
        assert resp.status_code == 200
        seen = 0
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                seen += 1
                if seen == 2:
                    break  # leaving the block closes the connection mid-stream


def _wait_for(predicate: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@pytest.mark.slow
def test_fifty_disconnects_under_uvicorn_leave_fifty_cancelled_records(
        comp: Compliance, base: str) -> None:
    """httpx clients that disconnect after two chunks, 50 times: 50 ``cancelled`` records,
    one per call, and the chain verifies."""
    _consent(base, "u-6", ["service"])

    async def run() -> None:
        for _ in range(50):
            await _disconnect_after_two_chunks(base, "u-6")

    asyncio.run(run())
    assert _wait_for(lambda: len(_calls(comp)) >= 50)
    calls = _calls(comp)
    assert len(calls) == 50
    assert [c["outcome"] for c in calls] == ["cancelled"] * 50
    assert len({c["call_id"] for c in calls}) == 50
    assert comp.ledger.verify().ok


def _spawn(server: str, port: int, folder: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, GENAI_EXAMPLE_DIR=str(folder), PYTHONPATH=str(ROOT))
    if server == "uvicorn":
        cmd = [sys.executable, "-m", "uvicorn", "--factory",
               "examples.openai_server:default_app", "--host", "127.0.0.1", "--port",
               str(port), "--log-level", "warning"]
    else:
        cmd = [sys.executable, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}",
               "--log-level", "warning", "examples.openai_server:default_app()"]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _wait_up(base: str) -> None:
    for _ in range(200):
        with contextlib.suppress(httpx.TransportError):
            httpx.get(f"{base}/v1/consent", timeout=2)
            return
        time.sleep(0.1)
    raise RuntimeError(f"{base} did not come up")  # pragma: no cover


@pytest.mark.slow
@pytest.mark.parametrize("server", ["uvicorn", "hypercorn"])
def test_real_server_process_records_disconnects_and_checkpoints_at_shutdown(
        tmp_path: Path, server: str) -> None:
    """The example app as its own process under uvicorn and hypercorn: served calls,
    refusals and disconnected streams each end in one record; SIGTERM (lifespan shutdown)
    closes the compliance object, so a checkpoint covers every record."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _spawn(server, port, tmp_path)
    try:
        _wait_up(base)
        _consent(base, "p-1", ["service"])
        client = _client(base, "p-1")
        for _ in range(5):
            client.chat.completions.create(model="toy",
                                           messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.PermissionDeniedError):
            _client(base, "nobody").chat.completions.create(
                model="toy", stream=True, messages=[{"role": "user", "content": "hi"}])

        async def run() -> None:
            for _ in range(5):
                await _disconnect_after_two_chunks(base, "p-1")

        asyncio.run(run())
        time.sleep(0.5)  # let the server notice the last disconnect
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        calls = [r.payload for r in ledger.records(kind="guard.call")]
        outcomes = sorted(c["outcome"] for c in calls)
        assert outcomes == ["cancelled"] * 5 + ["refused"] + ["served"] * 5
        assert ledger.verify().ok
        checkpoints = ledger.checkpoints()
        assert checkpoints, "no checkpoint written at shutdown"
        head_seq, _ = ledger.head()
        assert max(getattr(c, "seq", getattr(c, "size", 0)) for c in checkpoints) >= head_seq
    finally:
        ledger.close()


def test_async_stream_cancelled_task_is_recorded(comp: Compliance) -> None:
    """A task consuming a guarded async stream that is cancelled ends with one
    ``cancelled`` record (no await is needed after the cancellation)."""
    comp_checks: Any = ()

    @comp.guard(checks=comp_checks)
    async def slow(prompt: str) -> Any:
        for i in range(100):
            await asyncio.sleep(0.01)
            yield str(i)

    async def consume() -> None:
        async for _ in slow("x"):
            pass

    async def main() -> None:
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    calls = _calls(comp)
    assert [c["outcome"] for c in calls] == ["cancelled"]


def test_lifespan_startup_builds_the_pipeline_and_a_bad_config_fails_the_start(
        tmp_path: Path) -> None:
    """uvicorn's lifespan startup records the pipeline in force before any request; a
    configuration that cannot build (no keyword library in production) fails the start."""
    from genai_compliance.testing import TEST_PROVIDER

    good = make_compliance(tmp_path / "g")
    with _Server(create_app(good)):
        assert len(list(good.records("compliance.pipeline"))) == 1
    bad = Compliance(TEST_PROVIDER, ledger=f"sqlite:///{tmp_path / 'b.db'}")
    server = _Server(create_app(bad))
    exits: list[object] = []

    def run() -> None:
        try:
            server.server.run()
        except SystemExit as exc:  # uvicorn exits 3 when the lifespan startup fails
            exits.append(exc.code)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert exits == [3]
    assert not server.server.started  # the start failed: no request is served unchecked
    bad.close()


@pytest.mark.postgres
@pytest.mark.redis
def test_sync_endpoints_across_many_worker_threads_keep_serving(
        postgres_uri: str, redis_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sync FastAPI endpoint runs in anyio's worker threads, which end when idle and are
    started again by the next burst; each thread's guarded call uses its own PostgreSQL
    and Redis connections (a minor's call runs the quota script on its thread's own). Over
    a hundred thread lifetimes under uvicorn (anyio's idle timeout cut to 50 ms so they
    churn in seconds): every request is served and recorded, and the connections of ended
    threads are given back. Before, the 101st thread's Redis script failed with "Too many
    connections" and every later call was refused."""
    from fastapi import FastAPI

    from conftest import guarded_on_backends

    BURSTS = 10  # of 40 requests (anyio's default limit of worker threads)
    monkeypatch.setattr("anyio._backends._asyncio.WorkerThread.MAX_IDLE_TIME", 0.05)
    # a 16-year-old: the minors' quota script runs on each thread's own Redis connection;
    # at 12:00 in Beijing, outside the curfew
    comp, user, model = guarded_on_backends(
        postgres_uri, redis_uri, "threads", birth_date="2010-01-01",
        clock=FrozenClock("2026-03-02T04:00:00+00:00"))

    app = FastAPI()
    threads: set[threading.Thread] = set()

    @app.get("/answer")
    def answer() -> dict[str, str]:  # sync: Starlette runs it in a worker thread
        threads.add(threading.current_thread())
        time.sleep(0.02)  # the burst's requests overlap: each needs a thread of its own
        return {"answer": model("请介绍一下长城", subject=user)}

    async def bursts(base: str) -> list[int]:
        codes: list[int] = []
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(BURSTS):
                replies = await asyncio.gather(*(client.get("/answer") for _ in range(40)))
                codes += [r.status_code for r in replies]
                await asyncio.sleep(0.2)  # the idle threads end at the next burst
        return codes

    try:
        with _Server(app) as base:
            fds = len(os.listdir("/proc/self/fd"))
            codes = asyncio.run(bursts(base))
            grown = len(os.listdir("/proc/self/fd")) - fds
        assert len(threads) > 100  # more thread lifetimes than redis-py's pool holds
        assert codes == [200] * (BURSTS * 40)
        assert [c["outcome"] for c in _calls(comp)] == ["served"] * (BURSTS * 40)
        assert grown < 3 * 40 + 10  # the last burst's threads at most (3 fds each)
    finally:
        comp.close()
