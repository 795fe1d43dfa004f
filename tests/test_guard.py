"""The guard: sync, async, generator and async-generator callables; refusals; fail closed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from genai_compliance import (
    CallContext,
    Check,
    Compliance,
    ConfigurationError,
    ContentBlocked,
    Refusal,
    StoreUnavailable,
    Subject,
    current_call,
    use_subject,
)
from genai_compliance.stores import open_store
from genai_compliance.testing import make_compliance


class Recorder(Check):
    """Logs every hook; refuses on a chosen chunk or before the call."""

    name = "recorder"
    rules = ("IM-14a",)

    def __init__(self, refuse_before: bool = False, refuse_on: str | None = None) -> None:
        self.refuse_before = refuse_before
        self.refuse_on = refuse_on
        self.events: list[Any] = []

    def before(self, ctx: CallContext) -> None:
        self.events.append(("before", ctx.prompt, ctx.subject.user_id if ctx.subject else None))
        if self.refuse_before:
            raise ContentBlocked("blocked for the test", rules=("IM-14a",), risk="A.1a")

    def on_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        self.events.append(("chunk", chunk))
        if self.refuse_on is not None and chunk == self.refuse_on:
            raise ContentBlocked("stream blocked", rules=("IM-14a",), risk="A.1f")
        return (chunk,)

    def on_stream_end(self, ctx: CallContext) -> Sequence[Any]:
        return ("[end]",)

    def after(self, ctx: CallContext, result: Any) -> Any:
        self.events.append(("after", result))
        return f"{result}!"

    def close(self, ctx: CallContext, outcome: str) -> None:
        self.events.append(("close", outcome))


class Prefix(Check):
    """Holds the first chunk back and releases it, prefixed, at the end (tests ordering)."""

    name = "prefix"

    def on_chunk(self, ctx: CallContext, chunk: Any) -> Sequence[Any]:
        return (f"<{chunk}>",)


class DownStore(Check):
    """A check whose store is down."""

    name = "down"

    def __init__(self, fail_open: bool = False) -> None:
        self.fail_open = fail_open
        self.store = open_store("redis://127.0.0.1:1/0")

    def before(self, ctx: CallContext) -> None:
        self.store.get("x")


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    comp = make_compliance(tmp_path, checks=())
    yield comp
    comp.close()


def _calls(comp: Compliance) -> list[dict[str, Any]]:
    return [dict(r.payload) for r in comp.records("guard.call")]


ADULT = Subject("u-1", birth_date="1990-01-01")


def test_sync_call_runs_checks_and_records(comp: Compliance) -> None:
    """A plain function: before, after (rewriting), close, and one ledger record."""
    check = comp.add_check(Recorder())
    assert isinstance(check, Recorder)

    @comp.guard(purposes=["service"])
    def generate(prompt: str) -> str:
        assert current_call.get() is not None
        return prompt.upper()

    assert generate("hi", subject=ADULT) == "HI!"
    assert check.events == [("before", "hi", "u-1"), ("after", "HI"), ("close", "served")]
    [call] = _calls(comp)
    assert call["outcome"] == "served" and call["purposes"] == ["service"]
    assert call["function"].endswith("generate")
    record = next(iter(comp.records("guard.call")))
    assert record.subject == comp.ledger.pseudonym("u-1")


async def test_async_call(comp: Compliance) -> None:
    """A coroutine function is guarded the same way, subject from the context variable."""
    check = comp.add_check(Recorder())

    @comp.guard
    async def generate(prompt: str) -> str:
        return prompt[::-1]

    with use_subject(ADULT):
        assert await generate(prompt="abc") == "cba!"
    assert check.events[0] == ("before", "abc", "u-1")
    assert _calls(comp)[0]["outcome"] == "served"


def test_generator_stream_passes_every_chunk_through_checks(comp: Compliance) -> None:
    """Generators: every chunk passes the checks in order; end chunks pass later checks."""
    comp.add_check(Recorder())
    comp.add_check(Prefix())

    @comp.guard
    def stream(prompt: str) -> Iterator[str]:
        yield from ["a", "b"]

    assert list(stream("p")) == ["<a>", "<b>", "<[end]>"]
    [call] = _calls(comp)
    assert call["streaming"] and call["chunks"] == 3 and call["outcome"] == "served"


def test_refusal_mid_stream_stops_and_caller_sees_nothing_after(comp: Compliance) -> None:
    """A refusing check stops a stream mid-way; nothing after it reaches the caller."""
    comp.add_check(Recorder(refuse_on="bad"))
    closed: list[bool] = []

    @comp.guard
    def stream(prompt: str) -> Iterator[str]:
        try:
            yield from ["one", "two", "bad", "secret", "more"]
        finally:
            closed.append(True)

    seen: list[str] = []
    with pytest.raises(ContentBlocked) as info:
        for chunk in stream("p"):
            seen.append(chunk)
    assert seen == ["one", "two"]
    assert info.value.rules == ("IM-14a",) and info.value.evidence["risk"] == "A.1f"
    assert closed == [True]  # the provider's generator was closed
    [call] = _calls(comp)
    assert call["outcome"] == "refused" and call["reason"] == "content" and call["chunks"] == 2


async def test_async_generator_refusal_mid_stream(comp: Compliance) -> None:
    """Async generators: same guarantees as sync ones."""
    comp.add_check(Recorder(refuse_on="bad"))

    @comp.guard
    async def stream(prompt: str) -> AsyncIterator[str]:
        for chunk in ["x", "bad", "leak"]:
            yield chunk

    seen = []
    with pytest.raises(ContentBlocked):
        async for chunk in stream("p"):
            seen.append(chunk)
    assert seen == ["x"]
    assert _calls(comp)[0]["outcome"] == "refused"


async def test_async_generator_served(comp: Compliance) -> None:
    """Async generators that finish get the end chunks and a served record."""
    comp.add_check(Recorder())

    @comp.guard
    async def stream(prompt: str) -> AsyncIterator[str]:
        yield "x"

    assert [c async for c in stream("p")] == ["x", "[end]"]
    assert _calls(comp)[0]["outcome"] == "served"


def test_refusal_before_call_never_runs_the_function(comp: Compliance) -> None:
    """A refusal in before() means the provider's function is never called."""
    comp.add_check(Recorder(refuse_before=True))
    ran: list[bool] = []

    @comp.guard
    def generate(prompt: str) -> str:
        ran.append(True)
        return prompt

    with pytest.raises(ContentBlocked):
        generate("x")
    assert ran == []
    assert _calls(comp)[0]["reason"] == "content"


def test_configured_refusal_value_is_returned_and_yielded(comp: Compliance) -> None:
    """With refusal= set, the value (or callable's result) replaces the raise."""
    comp.add_check(Recorder(refuse_before=True))

    @comp.guard(refusal="抱歉，无法回答。")
    def generate(prompt: str) -> str:
        return prompt

    @comp.guard(refusal=lambda err: f"refused: {err.reason}")
    def stream(prompt: str) -> Iterator[str]:
        yield prompt

    assert generate("x") == "抱歉，无法回答。"
    assert list(stream("x")) == ["refused: content"]


def test_consumer_closing_a_stream_is_recorded_as_cancelled(comp: Compliance) -> None:
    """A caller that stops reading early ends the call as cancelled, checks closed."""
    check = comp.add_check(Recorder())

    @comp.guard
    def stream(prompt: str) -> Iterator[str]:
        yield from ["a", "b", "c"]

    gen = stream("p")
    assert next(gen) == "a"
    gen.close()
    assert ("close", "cancelled") in check.events  # type: ignore[attr-defined]
    assert _calls(comp)[0]["outcome"] == "cancelled"


def test_store_down_denies_the_call(comp: Compliance) -> None:
    """Fail closed: a check whose store cannot answer denies the call, and it is recorded."""
    comp.add_check(DownStore())
    ran: list[bool] = []

    @comp.guard
    def generate(prompt: str) -> str:
        ran.append(True)
        return prompt

    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:1"):
        generate("x")
    assert ran == []
    call = _calls(comp)[0]
    assert call["outcome"] == "refused" and call["reason"] == "store-unavailable"


def test_fail_open_is_explicit_per_check(comp: Compliance) -> None:
    """A check marked fail_open lets the call through and notes it in the record."""
    comp.add_check(DownStore(fail_open=True))

    @comp.guard
    def generate(prompt: str) -> str:
        return prompt

    assert generate("x") == "x"
    assert _calls(comp)[0]["notes"] == {"fail_open": ["down"]}


def test_provider_errors_propagate_and_are_recorded(comp: Compliance) -> None:
    """The provider's own exception reaches the caller unchanged; the record says error."""

    @comp.guard
    def generate(prompt: str) -> str:
        raise KeyError("model crashed")

    with pytest.raises(KeyError):
        generate("x")
    assert _calls(comp)[0]["outcome"] == "error"


def test_function_taking_subject_keeps_it(comp: Compliance) -> None:
    """A function with its own subject parameter still receives it."""

    @comp.guard
    def generate(prompt: str, subject: Subject) -> str:
        return subject.user_id

    assert generate("x", subject=ADULT) == "u-1"


def test_chat_messages_become_the_prompt(comp: Compliance) -> None:
    """OpenAI-style messages are flattened into the prompt the checks see."""
    check = comp.add_check(Recorder())

    @comp.guard
    def chat(messages: list[dict[str, str]]) -> str:
        return "ok"

    chat(messages=[{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
    assert check.events[0] == ("before", "s\nu", None)


def test_bad_guard_options_fail_early(comp: Compliance) -> None:
    """Wrong options raise ConfigurationError at decoration time, with the fix."""
    with pytest.raises(ConfigurationError, match="modality"):
        comp.guard(modality="smell")
    with pytest.raises(ConfigurationError, match=r"purposes=\['service'\]"):
        comp.guard(purposes="service")
    with pytest.raises(ConfigurationError, match="Subject"):
        comp.guard(lambda prompt: prompt)("x", subject="not a subject")


def test_refusal_errors_are_catchable_as_one_base(comp: Compliance) -> None:
    """Every refusal subclasses Refusal and carries an HTTP status for middleware."""
    comp.add_check(Recorder(refuse_before=True))

    @comp.guard
    def generate(prompt: str) -> str:
        return prompt

    with pytest.raises(Refusal) as info:
        generate("x")
    assert info.value.http_status == 451
    assert "ContentBlocked" in repr(info.value)


def test_checks_are_closed_when_a_later_check_refuses(comp: Compliance) -> None:
    """Every check whose before() ran is closed, including the refusing one and after a
    later refusal; the checks after the refusing one neither start nor close."""
    first = comp.add_check(Recorder())
    refusing = comp.add_check(Recorder(refuse_before=True))
    later = comp.add_check(Recorder())

    @comp.guard
    def generate(prompt: str) -> str:
        return prompt

    with pytest.raises(ContentBlocked):
        generate("x")
    assert first.events[-1] == ("close", "refused")  # type: ignore[attr-defined]
    assert refusing.events[-1] == ("close", "refused")  # type: ignore[attr-defined]
    assert later.events == []  # type: ignore[attr-defined]


def test_a_check_added_after_the_first_call_runs_on_the_next(comp: Compliance) -> None:
    """The guard works out its hooks once, but a change to the checks is seen."""

    @comp.guard
    def generate(prompt: str) -> str:
        return prompt

    assert generate("a") == "a"
    check = comp.add_check(Recorder())
    assert generate("b") == "b!"
    assert check.events == [("before", "b", None), ("after", "b"),  # type: ignore[attr-defined]
                            ("close", "served")]


def test_every_call_id_is_a_distinct_version_4_uuid(comp: Compliance) -> None:
    import uuid

    @comp.guard
    def generate(prompt: str) -> str:
        return prompt

    for _ in range(50):
        generate("a")
    ids = [c["call_id"] for c in _calls(comp)]
    assert len(set(ids)) == 50
    for call_id in ids:
        parsed = uuid.UUID(hex=call_id)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and parsed.hex == call_id


class _Witness(Check):
    """Keeps a weak reference to every call's context."""

    name = "witness"

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def before(self, ctx: CallContext) -> None:
        import weakref

        self.seen.append(weakref.ref(ctx))


@pytest.mark.parametrize("shape", ["sync", "async", "generator", "async generator"])
async def test_a_served_call_leaves_nothing_for_the_garbage_collector(
        comp: Compliance, shape: str) -> None:
    """A served call's context and flow are freed by reference counting when it ends — no
    reference cycle left for the cyclic collector (whose full passes stop every thread)."""
    import gc

    witness = comp.add_check(_Witness())
    assert isinstance(witness, _Witness)

    def f_sync(prompt: str) -> str:
        return prompt

    async def f_async(prompt: str) -> str:
        return prompt

    def f_gen(prompt: str) -> Iterator[str]:
        yield prompt

    async def f_agen(prompt: str) -> AsyncIterator[str]:
        yield prompt

    fn = {"sync": f_sync, "async": f_async, "generator": f_gen,
          "async generator": f_agen}[shape]
    guarded: Any = comp.guard(fn)
    gc.collect()
    gc.disable()
    try:
        if shape == "sync":
            assert guarded("hi") == "hi"
        elif shape == "async":
            assert await guarded("hi") == "hi"
        elif shape == "generator":
            assert "".join(guarded("hi")) == "hi"
        else:
            assert "".join([c async for c in guarded("hi")]) == "hi"
        assert len(witness.seen) == 1
        assert witness.seen[0]() is None, "the call's context outlived it (a reference cycle)"
    finally:
        gc.enable()
