"""Moderation against evasion (issue 17): the evasion corpus is caught, the clean corpus
passes (false positives counted and printed), and property tests show that no insertion of
invisible characters or combining marks, and no chunking, hides a keyword (SR-5, IM-4a,
IM-14a)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance.moderation import (
    KeywordLibrary,
    Matcher,
    StreamScanner,
    _normalise,
    normalise,
)
from genai_compliance.moderation._normalise import (
    _fold_large,
    _fold_small,
    fold,
    normalise_term,
    normalise_terms,
)
from strategies_moderation import assert_same_fold, chunkings, insertion, plain_zh_en

DATA = Path(__file__).parent / "data" / "moderation"
CORPUS = [json.loads(line) for line in (DATA / "evasion.jsonl").read_text("utf-8").splitlines()]
CLEAN = [line for name in ("clean_zh.txt", "clean_en.txt")
         for line in (DATA / name).read_text("utf-8").splitlines() if line.strip()]
KEYWORDS = ["违禁词样例", "forbidden term", "禁书样例", "样例123"]


@pytest.fixture(scope="module", name="library")
def _library() -> KeywordLibrary:
    return KeywordLibrary.load(DATA / "keywords.csv", allow=[DATA / "allow.txt"],
                               pinyin=[DATA / "pinyin.csv"])


@pytest.fixture(scope="module", name="matcher")
def _matcher(library: KeywordLibrary) -> Matcher:
    return library.matcher()


def _stream(matcher: Matcher, chunks: list[str]) -> tuple[str, Any]:
    scanner = StreamScanner(matcher)
    emitted = ""
    for chunk in chunks:
        safe, match = scanner.feed(chunk)
        emitted += safe
        if match is not None:
            return emitted, match
    rest, match = scanner.finish()
    return emitted + rest, match


@pytest.mark.parametrize("case", CORPUS, ids=[f"{i}-{c['class']}" for i, c in enumerate(CORPUS)])
def test_evasion_corpus_is_caught_whole_and_streamed(matcher: Matcher,
                                                     case: dict[str, str]) -> None:
    """Every evasion class is caught in a whole text and in a stream of 3-character chunks,
    and the span is the original run the user saw."""
    text = f"前文 {case['text']} 后文"
    matches = matcher.scan(text)
    assert case["keyword"] in [m.keyword for m in matches], case["class"]
    for m in matches:
        assert text[m.start:m.end] == m.text and m.text.strip() == m.text
    emitted, match = _stream(matcher, [text[i:i + 3] for i in range(0, len(text), 3)])
    assert match is not None, case["class"]
    assert emitted == text[:match.start]


def test_clean_corpus_passes_and_false_positives_are_counted(
        matcher: Matcher, library: KeywordLibrary, capsys: pytest.CaptureFixture[str]) -> None:
    """Ordinary zh/en text (with 'education', 'category', '南京市长江大桥' …) is not flagged;
    the count is printed, beside the count without Latin word boundaries."""
    false_positives = [(line, [m.keyword for m in matcher.scan(line)]) for line in CLEAN
                       if matcher.scan(line)]
    loose = library.matcher(word_boundaries=False)
    loose_count = sum(1 for line in CLEAN if loose.scan(line))
    with capsys.disabled():
        print(f"\nclean corpus: {len(CLEAN)} lines, {len(false_positives)} false positives "
              f"({loose_count} without word boundaries)")
    assert false_positives == []
    assert loose_count > 0  # the boundaries are what keeps 'cat' out of 'education'


@settings(max_examples=150)
@given(keyword=st.sampled_from(KEYWORDS), data=st.data(), prefix=plain_zh_en,
       suffix=plain_zh_en)
def test_insertions_between_characters_never_hide_a_keyword(
        matcher: Matcher, keyword: str, data: st.DataObject, prefix: str, suffix: str) -> None:
    """Property: any invisible character or combining mark (any number) between a keyword's
    characters never hides it, in a whole text or in any chunking of a stream."""
    parts = [keyword[0]]
    for ch in keyword[1:]:
        parts.append("".join(data.draw(st.lists(insertion, max_size=3))))
        parts.append(ch)
    core = "".join(parts)
    text = f"{prefix} {core} {suffix}"
    found = [m for m in matcher.scan(text) if m.keyword == keyword]
    assert found
    chunks = data.draw(chunkings(text))
    emitted, match = _stream(matcher, chunks)
    assert match is not None
    assert keyword[0] not in emitted[len(prefix):]


@settings(max_examples=150)
@given(data=st.data(), keyword=st.sampled_from(KEYWORDS), prefix=plain_zh_en,
       suffix=plain_zh_en)
def test_any_chunking_catches_the_keyword_and_leaks_nothing_after_it(
        matcher: Matcher, data: st.DataObject, keyword: str, prefix: str, suffix: str) -> None:
    """Property: split anywhere, the keyword is caught and the caller receives exactly the
    text before it; without the keyword the stream arrives unchanged."""
    text = f"{prefix} {keyword} {suffix}"
    emitted, match = _stream(matcher, data.draw(chunkings(text)))
    assert match is not None and match.keyword == keyword
    assert emitted == text[:match.start] == f"{prefix} "
    assert text[match.start:match.end] == keyword == match.text
    clean = f"{prefix} {suffix}"
    emitted, match = _stream(matcher, data.draw(chunkings(clean)))
    assert match is None and emitted == clean


@settings(max_examples=150)
@given(data=st.data(), keyword=st.sampled_from(KEYWORDS), prefix=plain_zh_en,
       suffix=plain_zh_en)
def test_offsets_map_back_to_the_original_text(matcher: Matcher, data: st.DataObject,
                                               keyword: str, prefix: str, suffix: str) -> None:
    """Property: with insertions, the span runs exactly from the keyword's first original
    character to its last, in short texts and long ones (the vectorised path)."""
    parts = [keyword[0]]
    for ch in keyword[1:]:
        parts.append("".join(data.draw(st.lists(insertion, max_size=2))))
        parts.append(ch)
    core = "".join(parts)
    for pad in ("", "今天天气很好。" * 40):
        head = pad + prefix + " "
        text = head + core + " " + suffix
        [m] = [m for m in matcher.scan(text) if m.keyword == keyword]
        assert (m.start, m.end) == (len(head), len(head) + len(core))
        assert m.text == core


@settings(max_examples=200)
@given(st.text(max_size=400))
def test_short_and_long_folding_agree(text: str) -> None:
    """Property: the pure-Python fold (short texts) and the numpy fold (long texts) give the
    same normalised text, bytes and spans; folding is idempotent."""
    small, large = _fold_small(text), _fold_large(text)
    assert small.norm == large.norm and small.data == large.data
    for i in range(0, small.length, 7):
        assert small.span(i, i + 1) == large.span(i, i + 1)
    assert fold(small.norm).norm == small.norm


@settings(max_examples=200)
@given(st.text(alphabet="违违禁禁词样例 ab\u200bcC①ﬁß𝐀1 ", max_size=120), st.integers(1, 9))
def test_chunked_folding_maps_spans_across_chunk_edges(text: str, size: int) -> None:
    """Property: folding in steps of any size (padding runs and spans crossing step edges)
    gives the same text, bytes and spans as folding in one piece."""
    small = _fold_small(text)
    with mock.patch.object(_normalise, "_CHUNK", size):
        large = _fold_large(text)
    assert_same_fold(large, small)


@settings(max_examples=100)
@given(st.lists(st.text(max_size=12), max_size=120))
def test_batch_normalisation_equals_one_by_one(terms: list[str]) -> None:
    """Property: the vectorised keyword normalisation equals normalising each keyword."""
    assert normalise_terms(terms) == [normalise_term(t) for t in terms]


@given(st.text(max_size=60))
def test_origin_map_is_monotonic_and_in_range(text: str) -> None:
    """Property: every normalised character maps to an original index, in order."""
    norm, origin = normalise(text)
    assert len(norm) == len(origin)
    assert origin == sorted(origin) and all(0 <= i < len(text) for i in origin)


def test_issue_examples_are_caught(matcher: Matcher) -> None:
    """The five characters of issue 17 between a keyword's characters: flagged=True, in
    whole texts and in streams."""
    for ch in ("\ufe0f", "\u0301", "\u034f", "\u3164", "\U000e0101"):
        text = ch.join("违禁词样例")
        assert matcher.scan(text), repr(ch)
        assert _stream(matcher, list(text))[1] is not None, repr(ch)


def test_shipped_fold_table_is_a_fixed_point_and_drops_default_ignorables() -> None:
    """Folding a folded character changes nothing (whole table), and the generated table
    drops every invisible character class the issue names."""
    import numpy as np

    table, invisible, expansions, _ = _normalise._tables()
    kept = table[(table != 0) & (table < _normalise._EXP_BASE)]
    assert bool((table[kept] == kept).all())
    assert all(_normalise.fold_char(c) == c for seq in expansions for c in seq)
    for cp in (0x200B, 0xFE0F, 0x034F, 0x3164, 0xE0101, 0x00AD, 0x2060, 0x180E, 0x115F,
               0xFFA0, 0x1D173, 0xE0001, 0x0301, 0x20DD):
        assert table[cp] == 0 and bool(invisible[cp]), hex(cp)
    assert int(np.count_nonzero(invisible)) > 4_000
