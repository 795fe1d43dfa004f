"""Hypothesis strategies for moderation: invisible characters, combining marks, keywords,
surrounding text and chunkings (shared by the moderation property tests), and the check
that two folds of one text agree."""

from __future__ import annotations

import functools
import unicodedata

from hypothesis import strategies as st

from genai_compliance.moderation._normalise import Folded, _tables


@functools.cache
def _invisible_code_points() -> list[int]:
    """Every code point the fold table drops as invisible (Default_Ignorable_Code_Point,
    combining marks, format controls), surrogates excluded."""
    invisible = _tables()[1]
    return [cp for cp in range(0x110000) if invisible[cp] and not 0xD800 <= cp <= 0xDFFF]


@functools.cache
def _default_ignorables() -> list[int]:
    return [cp for cp in _invisible_code_points()
            if unicodedata.category(chr(cp)) not in ("Mn", "Mc", "Me")]


#: any invisible character: a default ignorable, a combining mark, a format control
invisible = st.sampled_from(_invisible_code_points()).map(chr)
#: any combining mark (Mn, Mc, Me)
combining_mark = st.characters(categories=["Mn", "Mc", "Me"])
#: a default-ignorable code point (variation selectors, fillers, joiners, tag characters …)
default_ignorable = st.sampled_from(_default_ignorables()).map(chr)
#: what an attacker puts between a keyword's characters
insertion = st.one_of(invisible, combining_mark, default_ignorable)

#: ordinary surrounding text that holds no keyword of the test libraries
plain_zh_en = st.text(alphabet="好的今天明后续天气我们你 ，。abcxyz!?\n", max_size=20)


@st.composite
def chunkings(draw: st.DrawFn, text: str) -> list[str]:
    """``text`` cut into chunks at arbitrary points (including empty chunks)."""
    cuts = draw(st.lists(st.integers(0, len(text)), max_size=10))
    points = sorted(cuts)
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


#: a keyword that survives normalisation: CJK or Latin letters, maybe spaces and commas
keyword_terms = st.text(alphabet="甲乙丙丁戊己庚辛样例词abcxyz ,", min_size=1, max_size=8).filter(
    lambda t: any(c not in " ," for c in t))
risk_codes = st.sampled_from(["A.1a", "A.1h", "A.2c", "A.3e", "A.4g", "A.5b"])
severities = st.sampled_from(["low", "medium", "high"])
actions = st.sampled_from(["", "block", "review"])


def assert_same_fold(got: Folded, expected: Folded) -> None:
    """``got`` folds like ``expected``: normalised text, bytes, lengths, spans (up to five
    characters), same-origin answers and character/byte offsets."""
    assert (got.norm, got.data, got.length, got.n_pre) == (
        expected.norm, expected.data, expected.length, expected.n_pre)
    for i in range(got.length):
        for j in range(i + 1, min(got.length, i + 5) + 1):
            assert got.span(i, j) == expected.span(i, j)
        assert got.same_origin(i) == expected.same_origin(i)
    for b in range(len(got.data) + 1):
        assert got.char_of(b) == expected.char_of(b)
    for c in range(got.length + 1):
        assert got.byte_of(c) == expected.byte_of(c)
