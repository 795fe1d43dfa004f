"""Moderation: evasion-resistant keywords, spans, streams, checks, coverage and the CLI."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance import Compliance, ContentBlocked
from genai_compliance.cli import main
from genai_compliance.moderation import (
    InputModerationCheck,
    Keyword,
    KeywordLibrary,
    Moderation,
    OutputModerationCheck,
    StreamScanner,
    normalise,
)
from genai_compliance.risks import Risk
from genai_compliance.testing import make_compliance

LIB = KeywordLibrary([Keyword("违禁词样例", Risk("A.1a")), Keyword("forbidden term", Risk("A.1d")),
                      Keyword("禁書", Risk("A.1f"))])

EVASIONS = [
    "违 禁 词 样 例",            # spaces
    "违\u200b禁\u200c词\u200d样例",  # zero-width
    "違禁詞樣例",                # traditional
    "违-禁.词*样_例",            # punctuation between characters
    "ＦＯＲＢＩＤＤＥＮ ＴＥＲＭ",  # full-width
    "FoRbIdDeN-TeRm",             # case and punctuation
    "fоrbidden tеrm",             # Cyrillic о and е
    "禁书",                       # simplified form of a traditional keyword
]

CLEAN = [
    "今天天气很好，我们去公园散步吧。", "请帮我写一封求职信。", "The weather is lovely today.",
    "Please summarise this article about renewable energy.", "人工智能生成内容需要添加标识。",
    "他禁止吸烟，这是规定。", "forbidden fruit is a common phrase", "样例代码见附件。",
]


@pytest.mark.parametrize("text", EVASIONS)
def test_evasion_corpus_is_caught(text: str) -> None:
    """Spacing, zero-width, traditional, punctuation, full-width, case and homoglyphs."""
    matches = LIB.matcher().scan(f"前文 {text} 后文")
    assert matches, text
    assert matches[0].text.replace(" ", "") != ""


def test_clean_corpus_has_no_false_positives() -> None:
    """Ordinary Chinese and English text is not flagged (false positives counted: zero)."""
    matcher = KeywordLibrary.sample().matcher()
    false_positives = [t for t in CLEAN if matcher.scan(t)]
    assert false_positives == []


def test_span_points_at_the_original_text() -> None:
    """Match spans are in the original text, covering what the user saw."""
    text = "开头 違-禁 詞樣例 结尾"
    [m] = LIB.matcher().scan(text)
    assert text[m.start:m.end] == "違-禁 詞樣例" and m.risk == "A.1a"


@given(st.text(max_size=40))
def test_normalise_origin_map_is_monotonic(text: str) -> None:
    """Property: every normalised character maps to an original index, in order."""
    norm, origin = normalise(text)
    assert len(norm) == len(origin)
    assert origin == sorted(origin) and all(0 <= i < len(text) for i in origin)


@settings(max_examples=80)
@given(prefix=st.text(alphabet="好的今天abc ，", max_size=12),
       suffix=st.text(alphabet="明天后续xyz。", max_size=12),
       cuts=st.lists(st.integers(0, 60), max_size=8))
def test_stream_split_keyword_is_caught_and_nothing_after_it_leaks(
        prefix: str, suffix: str, cuts: list[int]) -> None:
    """Property: for any chunking, the keyword is caught and nothing of it or after it
    reaches the caller; without a keyword the stream arrives unchanged."""
    text = prefix + "违 禁词样例" + suffix
    points = sorted({c % (len(text) + 1) for c in cuts})
    chunks = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    scanner = StreamScanner(LIB.matcher())
    emitted = ""
    match = None
    for chunk in chunks:
        safe, match = scanner.feed(chunk)
        emitted += safe
        if match:
            break
    assert match is not None
    assert emitted == prefix and "违" not in emitted
    clean = StreamScanner(LIB.matcher())
    out = "".join(clean.feed(c)[0] for c in [prefix, suffix]) + clean.flush()
    assert out == prefix + suffix


@pytest.fixture(name="comp")
def _comp(tmp_path: Path) -> Iterator[Compliance]:
    comp = make_compliance(tmp_path, checks=())
    yield comp
    comp.close()


def test_guard_blocks_prompt_and_stream_and_records(comp: Compliance) -> None:
    """Input and output checks block, record moderation.block and an incident case."""
    moderation = Moderation(LIB, record=comp.record,
                            on_block=lambda risk, content, where, subject, profile:
                            comp.incidents.handle_block(risk=risk, content=content,
                                                        where=where, subject=subject))
    comp.add_check(InputModerationCheck(moderation))
    comp.add_check(OutputModerationCheck(moderation))

    @comp.guard
    def stream(prompt: str) -> Iterator[str]:
        yield from ["这是", "回答：违", "禁词", "样例", "以及秘密"]

    with pytest.raises(ContentBlocked) as info:
        list(stream("请说 違禁詞樣例"))
    assert info.value.evidence["where"] == "input" and info.value.http_status == 451
    received: list[str] = []
    with pytest.raises(ContentBlocked):
        for chunk in stream("hello"):
            received.append(chunk)
    assert "".join(received) == "这是回答："
    blocks = [r.payload for r in comp.records("moderation.block")]
    assert [b["where"] for b in blocks] == ["input", "output"]
    assert len(comp.incidents.export_retraining_cases()) == 2


def test_minors_profile_is_stricter(comp: Compliance) -> None:
    """The minors profile adds its own keywords; adults are not affected."""
    moderation = Moderation(LIB, profiles={"minors": [Keyword("恐怖故事", Risk("A.4a"))]})
    assert not moderation.check("讲个恐怖故事").flagged
    assert moderation.check("讲个恐怖故事", profile="minors").flagged


async def test_async_classifier_and_thresholds() -> None:
    """Classifier scores over the profile threshold flag a text (async classifiers too)."""
    async def classifier(text: str) -> dict[str, float]:
        return {"A.1g": 0.4 if "rumour" in text else 0.0}

    moderation = Moderation(KeywordLibrary([]), classifiers=[classifier])
    assert not (await moderation.acheck("a rumour")).flagged  # 0.4 < 0.5
    verdict = await moderation.acheck("a rumour", profile="minors")  # 0.4 >= 0.3
    assert verdict.flagged and verdict.risk == "A.1g"


def test_reload_swaps_the_automaton() -> None:
    """Reloading builds a new automaton; a scanner holding the old one keeps working."""
    moderation = Moderation(LIB)
    old = moderation.matcher()
    moderation.reload(KeywordLibrary([Keyword("新词", Risk("A.1b"))]))
    assert moderation.check("新词").flagged and not moderation.check("违禁词样例").flagged
    assert old.scan("违禁词样例")


def test_coverage_and_staleness() -> None:
    """SR-5 coverage: 10,000 entries and per-risk minimums; weekly staleness."""
    synthetic = KeywordLibrary.synthetic(20_000)
    assert len(synthetic) == 20_000
    assert synthetic.coverage().ok
    small = KeywordLibrary.sample().coverage(today=dt.date(2026, 1, 1))
    assert not small.ok and small.stale
    assert any("10,000" in p for p in small.problems)


def test_scan_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`genai-compliance scan`: exit 0 clean, 1 flagged, JSON with keyword, risk and span."""
    kw = tmp_path / "kw.csv"
    kw.write_text("keyword,risk,severity\n违禁词样例,A.1a,high\n", encoding="utf-8")
    clean, bad = tmp_path / "clean.txt", tmp_path / "bad.txt"
    clean.write_text("你好", encoding="utf-8")
    bad.write_text("xx 违 禁词样例 yy", encoding="utf-8")
    assert main(["scan", "--keywords", str(kw), str(clean)]) == 0
    assert main(["scan", "--keywords", str(kw), "--json", str(clean), str(bad)]) == 1
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert rows[1]["matches"][0] == {"keyword": "违禁词样例", "risk": "A.1a",
                                     "severity": "high", "start": 3, "end": 9,
                                     "text": "违 禁词样例"}


@given(st.text(max_size=60))
def test_fast_normalisation_equals_the_mapped_one(text: str) -> None:
    """Property: the translate-table fast path gives exactly the mapped normalisation."""
    from genai_compliance.moderation._normalise import normalise_fast  # internal fast path

    assert normalise_fast(text) == normalise(text)[0]
