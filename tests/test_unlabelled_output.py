"""Output without the explicit label, on request (LM-9).

The labelling measures (Art. 9) let a provider hand out content without the explicit label
only when the user asks for it, after the user agreement has fixed the user's own labelling
duty, and the provider keeps the recipient's records for at least six months. Implicit
labels are never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from genai_compliance import Compliance, Subject, use_subject
from genai_compliance.asgi import ComplianceMiddleware
from genai_compliance.checks import (
    UNLABELLED_PURPOSE,
    CallContext,
    request_calls,
    unlabelled_output,
)
from genai_compliance.errors import ConfigurationError
from genai_compliance.labelling.explicit import DEFAULT_LABEL_ZH
from genai_compliance.labelling.inspect import inspect

EXAMPLE = Path(__file__).resolve().parent.parent / "examples"
ADULT = Subject("reader-1", birth_date="1990-01-01")


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    shutil.copy(EXAMPLE / "compliance.toml", tmp_path / "compliance.toml")
    shutil.copy(EXAMPLE / "keywords.csv", tmp_path / "keywords.csv")
    comp = Compliance.from_toml(tmp_path / "compliance.toml")
    try:
        yield comp
    finally:
        comp.close()


def _guarded(comp: Compliance) -> object:
    @comp.guard(modality="text")
    def generate(prompt: str) -> str:
        return "答案：" + prompt

    return generate


@contextlib.contextmanager
def _calls() -> Iterator[list[CallContext]]:
    """The contexts of the guarded calls made inside the block."""
    made: list[CallContext] = []
    token = request_calls.set(made)
    try:
        yield made
    finally:
        request_calls.reset(token)


def _unlabelled_notes(comp: Compliance) -> list[object]:
    return [r.payload.get("notes", {}).get("unlabelled_output")
            for r in comp.records("guard.call")]


def test_request_needs_the_accepted_agreement(comp: Compliance) -> None:
    """Asking before accepting the agreement that fixes the user's labelling duty is
    refused with a message saying to accept first."""
    with pytest.raises(ConfigurationError, match=r"Agreements\.accept first"):
        comp.agreements.request_unlabelled(ADULT)


def test_request_without_grant_is_labelled(comp: Compliance) -> None:
    """Fail closed: asking for unlabelled output without a grant still gets the label,
    and the response and the record say the request was refused."""
    generate = _guarded(comp)
    with use_subject(ADULT), unlabelled_output(), _calls() as made:
        text = generate("你好")  # type: ignore[operator]
    call = made[0]
    assert text.startswith(DEFAULT_LABEL_ZH)
    assert call.response.unlabelled == "refused"
    assert ("X-GenAI-Unlabelled", "refused") in call.response.headers()
    assert _unlabelled_notes(comp)[-1] == {
        "outcome": "refused", "rule": "LM-9", "reason": "no current unlabelled-output grant"}


def test_granted_request_is_served_unlabelled_and_logged(comp: Compliance) -> None:
    """After accept + request, calls inside unlabelled_output() carry no explicit label;
    calls outside it are labelled; the recipient log names the pseudonym; withdrawing
    ends it at once."""
    generate = _guarded(comp)
    comp.agreements.accept(ADULT, "zh")
    receipt = comp.agreements.request_unlabelled(ADULT, "zh")
    assert comp.consent.state(ADULT, UNLABELLED_PURPOSE) is not None and receipt
    with use_subject(ADULT):
        with unlabelled_output(), _calls() as made:
            plain = generate("你好")  # type: ignore[operator]
        labelled = generate("你好")  # type: ignore[operator]
    call = made[0]
    assert plain == "答案：你好"
    assert call.response.unlabelled == "omitted"
    assert call.response.label is None
    assert labelled.startswith(DEFAULT_LABEL_ZH)
    log = comp.agreements.unlabelled_recipients()
    assert [e["recipient"] for e in log] == [comp.ledger.pseudonym(ADULT)]
    assert log[0]["call_id"] == call.call_id and log[0]["modality"] == "text"
    assert ADULT.user_id not in repr(log)

    assert comp.agreements.withdraw_unlabelled(ADULT)
    with use_subject(ADULT), unlabelled_output():
        again = generate("你好")  # type: ignore[operator]
    assert again.startswith(DEFAULT_LABEL_ZH)
    assert len(comp.agreements.unlabelled_recipients()) == 1


def test_stream_and_async_are_unlabelled_on_request(comp: Compliance) -> None:
    """Streams (sync and async) get no label chunk when the request is granted."""
    comp.agreements.accept(ADULT, "zh")
    comp.agreements.request_unlabelled(ADULT, "zh")

    @comp.guard(modality="text")
    def stream(prompt: str) -> Iterator[str]:
        yield "一"
        yield "二"

    @comp.guard(modality="text")
    async def astream(prompt: str):  # type: ignore[no-untyped-def]
        for part in ("三", "四"):
            yield part

    async def collect() -> list[str]:
        return [c async for c in astream("x")]

    with use_subject(ADULT), unlabelled_output():
        assert list(stream("x")) == ["一", "二"]
        assert asyncio.run(collect()) == ["三", "四"]
    with use_subject(ADULT):
        assert DEFAULT_LABEL_ZH in "".join(stream("x"))
    assert [n["outcome"] for n in _unlabelled_notes(comp) if n] == ["omitted", "omitted"]


def test_media_keeps_the_implicit_label(comp: Compliance) -> None:
    """An image served unlabelled on request has no visible label but still carries the
    implicit (metadata) label: LM-9 only waives the explicit one."""
    comp.agreements.accept(ADULT, "zh")
    comp.agreements.request_unlabelled(ADULT, "zh")
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 210, 220)).save(buf, "PNG")
    original = buf.getvalue()

    @comp.guard(modality="image")
    def draw(prompt: str) -> bytes:
        return original

    with use_subject(ADULT), unlabelled_output():
        out = draw("cat")
    with Image.open(io.BytesIO(out)) as got, Image.open(io.BytesIO(original)) as want:
        assert got.tobytes() == want.tobytes()  # no pixel changed: no visible label
    report = inspect(out)
    assert report.compliant and len(report.labels) == 1, report


def test_asgi_header_requests_unlabelled(comp: Compliance) -> None:
    """``X-GenAI-Unlabelled: request`` on an HTTP request is honoured for a granted user
    and answered with ``X-GenAI-Unlabelled: omitted``; without a grant, ``refused``."""
    comp.agreements.accept(ADULT, "zh")
    generate = _guarded(comp)

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        body = generate("hi").encode()  # type: ignore[operator]
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "http.response.body", "body": body})

    wrapped = ComplianceMiddleware(app, comp, subject_resolver=lambda scope: ADULT)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=wrapped)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/", headers={"X-GenAI-Unlabelled": "request"})

    refused = asyncio.run(get())
    assert refused.headers["x-genai-unlabelled"] == "refused"
    assert refused.text.startswith(DEFAULT_LABEL_ZH)
    comp.agreements.request_unlabelled(ADULT, "zh")
    served = asyncio.run(get())
    assert served.headers["x-genai-unlabelled"] == "omitted"
    assert served.text == "答案：hi"
