"""Moderation's short-text fast path (issue 19): ``str.translate``/``bytes.translate`` folding
with the origin map built only when asked, the clean-verdict shortcut and the stream's
open-prefix early exit answer exactly like the slow paths they replace."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance.moderation import Keyword, KeywordLibrary, Moderation, StreamScanner
from genai_compliance.moderation._normalise import _fold_large, _fold_small, fold_char
from genai_compliance.risks import Risk
from strategies_moderation import assert_same_fold

#: ASCII and not: padding runs (违违, aaa, 111), expansions (ﬁ ß ①), invisible and dropped
#: characters, upper case, full width, traditional Chinese
ALPHABET = "违違禁词样例 abcAB\u200b\u0301①ﬁß𝐀1,. ！ＡＢ"


def _agree(text: str) -> None:
    assert_same_fold(_fold_small(text), _fold_large(text))


@settings(max_examples=300)
@given(st.text(alphabet=ALPHABET, max_size=60))
def test_short_fold_agrees_with_the_stepwise_fold(text: str) -> None:
    """Property: the translate-based fold of short texts gives the same normalised text,
    bytes, spans, character/byte offsets and same-origin answers as the numpy fold."""
    _agree(text)


@settings(max_examples=200)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=60))
def test_ascii_fold_agrees_with_the_stepwise_fold(text: str) -> None:
    """Property: the ``bytes.translate`` path for ASCII texts (padding runs, digits,
    punctuation and controls included) agrees with the numpy fold."""
    _agree(text)


@settings(max_examples=200)
@given(st.text(max_size=40))
def test_any_short_text_folds_like_the_stepwise_fold(text: str) -> None:
    """Property: over any code points, the short fold agrees with the numpy fold."""
    _agree(text)


def test_short_fold_is_the_per_character_table() -> None:
    """The short fold is the per-code-point table, then the padding rule."""
    text = "違禁ＡＢ①ﬁ\u200b  goooood 1000 违违违禁"
    folded = _fold_small(text)
    assert folded.norm == "违禁ab1figood1000违禁"
    assert folded.n_pre == len("".join(fold_char(c) for c in text))


PREFIX_WORDS = ["甲乙丙丁", "甲乙", "cat", "dog term", "丙丁戊"]


def _open_prefix_reference(norm: str, terms: list[str]) -> int:
    """Longest suffix of ``norm`` that is a proper prefix of one of ``terms``."""
    best = 0
    for k in range(1, len(norm) + 1):
        tail = norm[-k:]
        if any(len(t) > k and t.startswith(tail) for t in terms):
            best = k
    return best


@settings(max_examples=300)
@given(st.text(alphabet="甲乙丙丁戊catdogerm ", max_size=12))
def test_open_prefix_equals_its_definition(text: str) -> None:
    """Property: the stream's withheld tail (with its early exit on the last character) is
    the longest suffix that could still grow into a keyword or an allow word."""
    library = KeywordLibrary([Keyword(w, Risk("A.1a")) for w in PREFIX_WORDS],
                             allow=["丁戊己庚"])
    matcher = library.matcher()
    norm = _fold_small(text).norm
    terms = [*matcher.terms, *matcher.allow]
    assert matcher.open_prefix(norm) == _open_prefix_reference(norm, terms)


def test_open_prefix_knows_keywords_added_by_an_incremental_swap() -> None:
    """After an incremental swap, a tail that can only grow into a new keyword is
    withheld."""
    moderation = Moderation(KeywordLibrary([Keyword("甲乙丙丁", Risk("A.1a"))]))
    moderation.reload(KeywordLibrary([Keyword("甲乙丙丁", Risk("A.1a")),
                                      Keyword("戊己庚辛", Risk("A.1b"))]))
    scanner = StreamScanner(moderation.matcher())
    assert scanner.feed("你好戊己") == ("你好", None)
    assert scanner.feed("庚辛")[1] is not None


def test_a_clean_verdict_is_shared_but_immutable() -> None:
    """A text with no keyword (and no classifier) gets the shared clean verdict, whose
    scores cannot be changed by one caller for the next."""
    moderation = Moderation(KeywordLibrary([Keyword("甲乙丙丁", Risk("A.1a"))]))
    verdict = moderation.check("请介绍一下长城的历史。")
    assert not verdict.flagged and verdict.matches == () and verdict.risk is None
    assert verdict.to_json() == {"flagged": False, "risk": None, "matches": [], "scores": {}}
    try:
        verdict.scores["A.1a"] = 1.0  # type: ignore[index]
    except TypeError:
        pass
    assert moderation.check("天气").scores == {}


def test_async_check_scans_a_long_text_off_the_event_loop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``acheck`` scans a prompt or result longer than ``OFF_LOOP_CHARS`` in a worker
    thread, so a long text — or one dense with keywords, which takes far longer — never
    holds the event loop; a short one is scanned in place (a thread hand-off would cost more
    than the scan). Both answer as ``check`` does."""
    import asyncio
    import threading

    from genai_compliance.moderation import Matcher, Moderation
    from genai_compliance.moderation._moderation import OFF_LOOP_CHARS
    from genai_compliance.testing import sample_keyword_file

    seen: list[tuple[int, bool]] = []
    real = Matcher.scan

    def scan(self: Matcher, text: str, **options: Any) -> Any:
        seen.append((len(text), threading.current_thread() is threading.main_thread()))
        return real(self, text, **options)

    monkeypatch.setattr(Matcher, "scan", scan)
    moderation = Moderation(KeywordLibrary.load(sample_keyword_file()))
    keyword = moderation.library.entries[0].term
    long_text = "正常的文本内容。" * (OFF_LOOP_CHARS // 8 + 1) + keyword

    async def main() -> tuple[Any, Any]:
        return await moderation.acheck("短的提问"), await moderation.acheck(long_text)

    short, long = asyncio.run(main())
    assert seen == [(4, True), (len(long_text), False)]
    assert not short.flagged and long.flagged
    assert [m.keyword for m in long.matches] == [m.keyword for m in
                                                 moderation.check(long_text).matches]


LIMIT_WORDS = [("禁词甲", "block"), ("复核乙", "review"), ("禁词甲乙", "block"), ("丙丁", "review")]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([w for w, _ in LIMIT_WORDS] + ["正常", "文本", " ", "乙"]),
                max_size=60),
       st.integers(min_value=1, max_value=6))
def test_a_match_limit_keeps_the_verdict(parts: list[str], limit: int) -> None:
    """Property: with a match limit, the scan stops only once that many matches are found
    and one blocks; the verdict (flagged, and the risk of the first blocking keyword) is the
    full scan's, and the matches are the full scan's first ones."""
    actions = {"A.1a": "block", "A.2a": "review"}
    library = KeywordLibrary([Keyword(w, Risk("A.1a" if a == "block" else "A.2a"))
                              for w, a in LIMIT_WORDS], actions=actions)
    moderation = Moderation(library)
    text = "".join(parts)
    full = moderation.check(text)
    capped = moderation.check(text, limit=limit)
    assert (capped.flagged, capped.risk) == (full.flagged, full.risk)
    assert capped.matches == full.matches[:len(capped.matches)]
    if not full.flagged or len(full.matches) <= limit:
        assert capped.matches == full.matches
    else:
        assert len(capped.matches) >= limit


def test_the_guard_checks_stop_at_the_match_limit(tmp_path: Any) -> None:
    """A prompt dense with blocked keywords: the guard's input check stops scanning once
    MATCH_LIMIT matches are found (the verdict is known then), so its block record counts
    about that many, not all 2,000; the block and its risk are a full scan's."""
    from genai_compliance.errors import ContentBlocked
    from genai_compliance.moderation._moderation import MATCH_LIMIT
    from genai_compliance.testing import make_compliance, sample_keyword_file

    comp = make_compliance(tmp_path, settings={
        "moderation": {"keyword_files": [sample_keyword_file()]}})
    try:
        keyword = comp.moderation.library.entries[0].term
        text = (keyword + " ") * (MATCH_LIMIT * 20)

        @comp.guard
        def answer(prompt: str) -> str:
            return "ok"

        with pytest.raises(ContentBlocked):
            answer(text)
        [rec] = [r.payload for r in comp.records("moderation.block")]
        assert MATCH_LIMIT <= rec["matches"] < MATCH_LIMIT + 5
        full = comp.moderation.check(text)
        assert len(full.matches) == MATCH_LIMIT * 20 and rec["risk"] == full.risk
    finally:
        comp.close()
