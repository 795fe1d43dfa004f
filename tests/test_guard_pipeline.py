"""The full default pipeline through the guard, in every shape (issue 13).

Every check × sync/async × call/stream: consent, minors, input moderation, illegal use,
output moderation (with an async classifier on an async stream), the explicit text label
and the media label. Plus: chunks of every shape are scanned (property test), per-call
state stays on the context, blocking checks leave the event loop, the pipeline in force is
recorded once, embedded state persists, and the secure defaults refuse what they must.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genai_compliance import (
    CallContext,
    Check,
    Compliance,
    ConfigurationError,
    ConsentRequired,
    ContentBlocked,
    FrozenClock,
    LabelError,
    MinorCurfew,
    ServiceRestricted,
    Subject,
    UnsupportedChunk,
)
from genai_compliance.consent import NoticeRef
from genai_compliance.moderation import OutputModerationCheck
from genai_compliance.testing import TEST_PROVIDER, make_compliance, sample_keyword_file

NOTICE = NoticeRef("1", hashlib.sha256(b"notice").hexdigest())
KEYWORD = "违禁词样例01"
NOON = "2026-03-02T04:00:00+00:00"  # Monday 12:00 Beijing
SHAPES = ["sync", "async", "gen", "agen"]


def _guarded(comp: Compliance, shape: str, output: Sequence[Any], **guard: Any) -> Callable[
        ..., Any]:
    """A guarded function of ``shape`` that returns (or streams) ``output``."""
    if shape == "sync":
        def fn(prompt: str) -> Any:
            return output[0]
    elif shape == "async":
        async def fn(prompt: str) -> Any:  # type: ignore[misc]
            return output[0]
    elif shape == "gen":
        def fn(prompt: str) -> Iterator[Any]:  # type: ignore[misc]
            yield from output
    else:
        async def fn(prompt: str) -> AsyncIterator[Any]:  # type: ignore[misc]
            for item in output:
                yield item
    return comp.guard(**guard)(fn)


def _run(shape: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` as its shape is called; a stream is collected into a list."""
    if shape == "sync":
        return fn(*args, **kwargs)
    if shape == "async":
        return asyncio.run(fn(*args, **kwargs))
    if shape == "gen":
        return list(fn(*args, **kwargs))

    async def collect() -> list[Any]:
        return [item async for item in fn(*args, **kwargs)]

    return asyncio.run(collect())


def _text(result: Any) -> str:
    return result if isinstance(result, str) else "".join(result)


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    comp = make_compliance(tmp_path / "c", clock=FrozenClock(NOON))
    yield comp
    comp.close()


def _adult(comp: Compliance, user: str = "a1") -> Subject:
    subject = Subject(user, birth_date="1990-01-01")
    comp.consent.grant(subject, "service", notice=NOTICE)
    return subject


def _outcomes(comp: Compliance) -> list[str]:
    return [r.payload["outcome"] for r in comp.records("guard.call")]


@pytest.mark.parametrize("shape", SHAPES)
def test_consent_refuses_without_and_serves_with(comp: Compliance, shape: str) -> None:
    """consent: no grant → ConsentRequired; granted → served, in every shape."""
    fn = _guarded(comp, shape, ["ok"], purposes=["service"])
    user = Subject("c1", birth_date="1990-01-01")
    with pytest.raises(ConsentRequired):
        _run(shape, fn, "hi", subject=user)
    comp.consent.grant(user, "service", notice=NOTICE)
    assert _text(_run(shape, fn, "hi", subject=user)).endswith("ok")
    assert _outcomes(comp) == ["refused", "served"]


@pytest.mark.parametrize("shape", SHAPES)
def test_optional_purpose_never_refuses(comp: Compliance, shape: str) -> None:
    """PIPL Art. 16: a declined optional purpose is served and recorded as declined."""
    user = _adult(comp)
    fn = _guarded(comp, shape, ["ok"], purposes=["service"], optional_purposes=["training"])
    assert _text(_run(shape, fn, "hi", subject=user)).endswith("ok")
    record = list(comp.records("guard.call"))[-1].payload
    assert record["outcome"] == "served"
    assert record["notes"]["consent_declined"] == ["training"]


@pytest.mark.parametrize("shape", SHAPES)
def test_minors_curfew(comp: Compliance, shape: str) -> None:
    """minors: a 15-year-old at 23:00 Beijing is refused with MinorCurfew and Retry-After."""
    teen = _adult(comp, "t1")
    teen = Subject("t1", birth_date="2011-01-01")
    comp.consent.grant(teen, "service", notice=NOTICE)
    fn = _guarded(comp, shape, ["ok"], purposes=["service"])
    assert _text(_run(shape, fn, "hi", subject=teen)).endswith("ok")
    clock = comp.clock
    assert isinstance(clock, FrozenClock)
    clock.set("2026-03-02T15:00:00+00:00")
    with pytest.raises(MinorCurfew) as info:
        _run(shape, fn, "hi", subject=teen)
    assert info.value.retry_after is not None


@pytest.mark.parametrize("shape", SHAPES)
def test_input_moderation_blocks_the_prompt(comp: Compliance, shape: str) -> None:
    """input moderation: a prompt with a keyword is refused before the model runs."""
    ran: list[bool] = []

    def model(prompt: str) -> str:
        ran.append(True)
        return "ok"

    fn = _guarded(comp, shape, ["ok"], purposes=["service"])
    with pytest.raises(ContentBlocked) as info:
        _run(shape, fn, f"say {KEYWORD}", subject=_adult(comp))
    assert info.value.evidence["where"] == "input"
    assert not ran


@pytest.mark.parametrize("shape", SHAPES)
def test_illegal_use_ladder_suspends(comp: Compliance, shape: str) -> None:
    """illegal use: after three blocked prompts in a row the user is suspended."""
    user = _adult(comp)
    fn = _guarded(comp, shape, ["ok"], purposes=["service"])
    for _ in range(3):
        with pytest.raises(ContentBlocked):
            _run(shape, fn, f"say {KEYWORD}", subject=user)
    with pytest.raises(ServiceRestricted):
        _run(shape, fn, "a clean question", subject=user)


@pytest.mark.parametrize("shape", SHAPES)
def test_output_moderation_blocks_the_answer(comp: Compliance, shape: str) -> None:
    """output moderation: an answer with a keyword (split across chunks for streams) is
    refused; no chunk with any part of the keyword reaches the caller."""
    received: list[Any] = []
    fn = _guarded(comp, shape, ["前文", KEYWORD[:3], KEYWORD[3:], "后文"]
                  if shape in ("gen", "agen") else [f"前文{KEYWORD}后文"], purposes=["service"])
    user = _adult(comp)
    if shape in ("gen", "agen"):
        async def collect() -> None:
            async for item in fn("q", subject=user):
                received.append(item)

        with pytest.raises(ContentBlocked):
            if shape == "gen":
                for item in fn("q", subject=user):
                    received.append(item)
            else:
                asyncio.run(collect())
        assert KEYWORD[:2] not in "".join(received)
    else:
        with pytest.raises(ContentBlocked):
            _run(shape, fn, "q", subject=user)
    assert _outcomes(comp) == ["refused"]


@pytest.mark.parametrize("shape", SHAPES)
def test_explicit_text_label(comp: Compliance, shape: str) -> None:
    """explicit label: every text answer, streamed or not, carries the visible label."""
    fn = _guarded(comp, shape, ["答案"], purposes=["service"])
    out = _text(_run(shape, fn, "q", subject=_adult(comp)))
    assert out.startswith("本内容由人工智能生成") and out.endswith("答案")


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("shape", ["sync", "async"])
@pytest.mark.parametrize("form", ["bytes", "path", "pil"])
def test_media_outputs_get_explicit_and_implicit_labels(comp: Compliance, tmp_path: Path,
                                                        shape: str, form: str) -> None:
    """media label: bytes, a path or a Pillow image from an image function come back with
    the visible and the metadata label; ``inspect`` calls the result compliant."""
    from PIL import Image

    from genai_compliance.labelling import inspect

    png = _png()
    result: Any = png
    if form == "path":
        result = tmp_path / "out.png"
        result.write_bytes(png)
    elif form == "pil":
        result = Image.open(io.BytesIO(png))
    fn = _guarded(comp, shape, [result], modality="image", purposes=["service"])
    out = _run(shape, fn, "a cat", subject=_adult(comp))
    data = Path(out).read_bytes() if form == "path" else out
    assert isinstance(data, bytes) and data != png
    assert inspect(data).verdict == "compliant"
    call = list(comp.records("guard.call"))[-1]
    assert call.payload["notes"]["implicit_label"]["sha256"] == hashlib.sha256(
        data).hexdigest()


@pytest.mark.parametrize("shape", ["sync", "async"])
def test_media_output_of_unknown_type_is_refused(comp: Compliance, shape: str) -> None:
    """A media call returning something that cannot be labelled fails closed."""
    fn = _guarded(comp, shape, [{"url": "https://example.invalid/cat.png"}],
                  modality="image", purposes=["service"])
    with pytest.raises(LabelError, match="bytes, a file path or a Pillow image"):
        _run(shape, fn, "a cat", subject=_adult(comp))
    assert _outcomes(comp) == ["error"]


@pytest.mark.parametrize("shape", ["async", "agen"])
def test_async_classifier_on_async_calls_and_streams(tmp_path: Path, shape: str) -> None:
    """An async classifier judges async results and async streams (at stream end, before
    the withheld tail is released) — no ConfigurationError, no blocked event loop."""
    async def classifier(text: str) -> dict[str, float]:
        await asyncio.sleep(0)
        return {"A.1a": 0.99 if "dangerous" in text else 0.0}

    comp = make_compliance(tmp_path, clock=FrozenClock(NOON))
    try:
        comp.moderation.classifiers.append(classifier)
        user = _adult(comp)
        bad = _guarded(comp, shape, ["a ", "dangerous", " answer"] if shape == "agen" else
                       ["a dangerous answer"], purposes=["service"])
        good = _guarded(comp, shape, ["a ", "fine", " answer"] if shape == "agen" else
                        ["a fine answer"], purposes=["service"])
        with pytest.raises(ContentBlocked):
            _run(shape, bad, "q", subject=user)
        assert _text(_run(shape, good, "q", subject=user)).endswith("a fine answer")
    finally:
        comp.close()


# -- chunks of any shape -------------------------------------------------------------------
def _as_form(pieces: list[str], form: str) -> list[Any]:
    if form == "str":
        return pieces
    if form == "dict":
        return [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    raw = "".join(pieces).encode("utf-8")
    cuts = [len("".join(pieces[:i]).encode("utf-8")) for i in range(1, len(pieces))]
    bounds = [0, *cuts, len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(bounds)]


def _chunk_text(chunk: Any) -> str:
    if isinstance(chunk, bytes):
        return chunk.decode("utf-8", "replace")
    if isinstance(chunk, dict):
        return str(chunk["choices"][0]["delta"]["content"])
    return str(chunk)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.text(alphabet="你好世界 abc，。", max_size=12),
       after=st.text(alphabet="你好世界 abc，。", max_size=12),
       cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=8),
       form=st.sampled_from(["str", "bytes", "dict"]),
       byte_cuts=st.booleans())
def test_any_chunking_of_any_shape_never_leaks_the_keyword(
        comp: Compliance, before: str, after: str, cuts: list[int], form: str,
        byte_cuts: bool) -> None:
    """For any chunking of an output containing a keyword, as str, bytes (cut anywhere,
    even inside a character) or OpenAI-style dict deltas, no chunk with the keyword (or its
    first characters) reaches the caller and the stream is refused."""
    text = before + KEYWORD + "。" + after  # a boundary after it (Latin-edge keywords)
    points = sorted({c % (len(text) + 1) for c in cuts} - {0})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=False)]
    chunks = _as_form([p for p in pieces if p], form)
    if form == "bytes" and byte_cuts:
        raw = text.encode("utf-8")
        bpoints = sorted({c % (len(raw) + 1) for c in cuts} - {0})
        chunks = [raw[a:b] for a, b in zip([0, *bpoints], [*bpoints, len(raw)], strict=False)]
    check = OutputModerationCheck(comp.moderation)

    @comp.guard(checks=[check])
    def stream(prompt: str) -> Iterator[Any]:
        yield from chunks

    received: list[Any] = []
    with pytest.raises(ContentBlocked):
        for chunk in stream("q"):
            received.append(chunk)
    shown = "".join(_chunk_text(c) for c in received)
    assert KEYWORD[:2] not in shown
    assert shown == (before + KEYWORD)[:len(shown)]  # what was shown is a clean prefix


def test_unknown_chunk_type_is_refused_not_passed(comp: Compliance) -> None:
    """A chunk whose text cannot be read is refused with UnsupportedChunk; a codec passed
    by the provider reads it."""
    from genai_compliance import FunctionCodec

    class Token:
        def __init__(self, value: str) -> None:
            self.value = value

    check = OutputModerationCheck(comp.moderation)

    @comp.guard(checks=[check])
    def tokens(prompt: str) -> Iterator[Token]:
        yield Token("hello")
        yield Token(KEYWORD)

    with pytest.raises(UnsupportedChunk):
        list(tokens("q"))

    @comp.guard(checks=[check], chunk_codec=FunctionCodec(
        lambda t: t.value, lambda t, text: Token(text)))
    def read(prompt: str) -> Iterator[Token]:
        yield Token("hello")
        yield Token(KEYWORD)

    seen: list[str] = []
    with pytest.raises(ContentBlocked):
        for tok in read("q"):
            seen.append(tok.value)
    assert seen == ["hello"]


# -- the spine's contract ------------------------------------------------------------------
class _Recorder(Check):
    """Remembers the thread each method ran on; per-call state on the context."""

    name = "recorder"

    def __init__(self, blocking: bool) -> None:
        self.blocking = blocking
        self.threads: list[int] = []

    def before(self, ctx: CallContext) -> None:
        self.threads.append(threading.get_ident())
        ctx.state_for(self, list).append("before")

    def close(self, ctx: CallContext, outcome: Any) -> None:
        self.threads.append(threading.get_ident())
        assert ctx.pop_state(self) == ["before"]


@pytest.mark.parametrize("blocking", [True, False])
def test_blocking_checks_leave_the_event_loop(comp: Compliance, blocking: bool) -> None:
    """A blocking check's sync methods run in a worker thread under the async driver, a
    non-blocking one inline on the loop; either way its state lives on the context."""
    check = _Recorder(blocking)

    @comp.guard(checks=[check])
    async def answer(prompt: str) -> str:
        return "ok"

    async def main() -> int:
        await asyncio.gather(*(answer("q") for _ in range(4)))
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert len(check.threads) == 8
    on_loop = [t == loop_thread for t in check.threads]
    assert not any(on_loop) if blocking else all(on_loop)
    assert not hasattr(check, "_calls") and not vars(check).get("_streams")


def test_abandoned_stream_is_recorded_once(comp: Compliance) -> None:
    """A stream never read to the end and then dropped ends with one ``cancelled`` record,
    and closing the compliance object ends calls still in flight."""
    @comp.guard(checks=())
    def stream(prompt: str) -> Iterator[str]:
        yield "a"
        yield "b"

    it = stream("q")
    assert next(it) == "a"
    it.close()
    pending = stream("q")
    assert next(pending) == "a"
    comp.close()
    assert _outcomes(comp) == ["cancelled", "cancelled"]
    pending.close()  # a late close after shutdown adds no second record
    assert _outcomes(comp) == ["cancelled", "cancelled"]


def test_pipeline_in_force_is_recorded_once(comp: Compliance) -> None:
    """The first guarded call records the pipeline in force, once."""
    fn = _guarded(comp, "sync", ["ok"], purposes=["service"])
    user = _adult(comp)
    fn("q", subject=user)
    fn("q", subject=user)
    records = list(comp.records("compliance.pipeline"))
    assert len(records) == 1
    names = [c["name"] for c in records[0].payload["checks"]]
    assert names == ["consent", "minors", "interaction", "illegal-use", "input-moderation",
                     "output-moderation", "explicit_text_label", "media_label"]


def test_embedded_state_persists_across_restarts(tmp_path: Path) -> None:
    """With no [stores], a guardian's daily limit survives a restart (SQLite beside the
    ledger, not memory)."""
    from genai_compliance import Guardian

    def build() -> Compliance:
        return Compliance(TEST_PROVIDER, ledger=f"sqlite:///{tmp_path / 'ledger.db'}",
                          clock=FrozenClock(NOON),
                          settings={"moderation": {"keyword_files": [sample_keyword_file()]}})

    guardian = Guardian("g1")
    kid = Subject("kid1", birth_date="2016-01-01", guardian=guardian)
    first = build()
    assert first.store_uri("minors") == f"sqlite:///{tmp_path / 'ledger'}-state.db"
    first.minors.set_daily_limit(kid, 30, guardian=guardian)
    first.close()
    second = build()
    try:
        usage = second.minors.usage(kid)
        assert usage.guardian_limit_minutes == 30
    finally:
        second.close()


def test_production_without_keywords_refuses_to_build(tmp_path: Path) -> None:
    """No keyword library in production mode: building the pipeline is an error naming the
    setting; switching moderation off is explicit and recorded."""
    comp = Compliance(TEST_PROVIDER, ledger=f"sqlite:///{tmp_path / 'l.db'}")
    try:
        with pytest.raises(ConfigurationError, match=r"\[moderation\] keyword_files"):
            comp.checks  # noqa: B018
    finally:
        comp.close()
    off = Compliance(TEST_PROVIDER, ledger=f"sqlite:///{tmp_path / 'm.db'}",
                     settings={"moderation": {"enabled": False}})
    try:
        assert "input-moderation" not in [c.name for c in off.checks]
        assert off.pipeline()["disabled"] == ["moderation"]
    finally:
        off.close()


def test_replicas_refuse_per_process_stores(tmp_path: Path) -> None:
    """A config for several replicas that leaves a duty on memory:// (or on the embedded
    per-host file) is refused at build time, naming the key to set."""
    with pytest.raises(ConfigurationError, match=r"stores\.minors"):
        Compliance(TEST_PROVIDER, ledger=f"sqlite:///{tmp_path / 'l.db'}", replicas=4,
                   stores={"minors": "memory://"})
    with pytest.raises(ConfigurationError, match=r"stores\.minors"):
        Compliance(TEST_PROVIDER, ledger=f"sqlite:///{tmp_path / 'l.db'}", replicas=4)
    ok = Compliance(TEST_PROVIDER, ledger=f"sqlite:///{tmp_path / 'l.db'}", replicas=4,
                    stores={"default": "redis://127.0.0.1:6379/0"})
    ok.close()


@pytest.mark.parametrize("shape", ["gen", "agen"])
def test_stream_dropped_without_being_started_is_recorded(comp: Compliance,
                                                          shape: str) -> None:
    """A guarded stream that is created and dropped without ever being iterated still
    ends in exactly one ``cancelled`` record once it is garbage-collected."""
    import gc

    fn = _guarded(comp, shape, ["a", "b"], checks=())
    stream = fn("q")
    del stream
    gc.collect()
    assert _outcomes(comp) == ["cancelled"]
    assert not comp.inflight


def test_checks_of_other_modalities_are_left_out(tmp_path: Path) -> None:
    """A check that declares ``modalities`` is never run for calls of another modality —
    not even its close — so a blocking media check costs a text call nothing."""
    seen: list[str] = []

    class ImagesOnly(Check):
        name = "images-only"
        rules = ("LM-5",)
        blocking = True
        modalities = ("image",)

        def before(self, ctx: CallContext) -> None:
            seen.append("before:" + ctx.modality)

        def close(self, ctx: CallContext, outcome: str) -> None:
            seen.append("close:" + ctx.modality)

    comp = make_compliance(tmp_path, checks=[ImagesOnly()])
    try:
        text = comp.guard(modality="text")(lambda prompt: "t")
        image = comp.guard(modality="image")(lambda prompt: b"i")

        async def atext() -> None:
            await comp.guard(modality="text")(_async_echo)("x")

        text("x")
        asyncio.run(atext())
        assert seen == []
        image("x")
        assert seen == ["before:image", "close:image"]
    finally:
        comp.close()


async def _async_echo(prompt: str) -> str:
    return prompt


@pytest.mark.parametrize("shape", SHAPES)
def test_interaction_disclosure_exit_and_personas(comp: Compliance, shape: str) -> None:
    """interaction (default pipeline): the first call of a user carries the "interacting
    with AI" notice (a record of its own), the second does not; an exit keyword ends the
    session without calling the model (410); a virtual partner is refused to a minor."""
    from genai_compliance.checks import CallContext as Ctx
    from genai_compliance.checks import request_calls
    from genai_compliance.interaction import InteractionExited, PersonaRestricted

    user = _adult(comp, "i1")
    fn = _guarded(comp, shape, ["ok"], purposes=["service"])
    made: list[Ctx] = []
    token = request_calls.set(made)
    try:
        _run(shape, fn, "hi", subject=user)
        _run(shape, fn, "hi again", subject=user)
    finally:
        request_calls.reset(token)
    assert made[0].response.reminder and "人工智能" in made[0].response.reminder
    assert not made[1].response.reminder
    assert len(list(comp.records("interaction.notice"))) >= 1
    with pytest.raises(InteractionExited) as exited:
        _run(shape, fn, "退出", subject=user)
    assert exited.value.http_status == 410
    teen = Subject("i2", birth_date="2011-01-01")
    comp.consent.grant(teen, "service", notice=NOTICE)
    partner = _guarded(comp, shape, ["ok"], purposes=["service"],
                       options={"persona": "virtual-partner"})
    with pytest.raises(PersonaRestricted):
        _run(shape, partner, "hi", subject=teen)
    assert _outcomes(comp).count("refused") == 2
