"""Moderation library swaps while serving (issues 17 and 19): built aside, swapped at once,
recorded in the ledger (SR-5 weekly updates); a check during a swap answers against the old
or the new library, never neither; `[moderation]` settings for the new list types."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance.moderation import Keyword, KeywordLibrary, Moderation, StreamScanner
from genai_compliance.risks import Risk
from genai_compliance.testing import make_compliance

OLD = KeywordLibrary([Keyword("甲乙丙丁", Risk("A.1a")), Keyword("旧词样例", Risk("A.1b"))])
NEW = KeywordLibrary([Keyword("戊己庚辛", Risk("A.1c")), Keyword("新词样例", Risk("A.1d"))])
TEXT = "开头 甲乙丙丁 中间 戊己庚辛 旧词样例 新词样例 结尾"


def test_a_check_during_a_hot_swap_answers_old_or_new_never_neither() -> None:
    """Checks running on other threads while the library is swapped back and forth each see
    exactly the old library's matches or exactly the new one's."""
    moderation = Moderation(OLD)
    expected = ({"甲乙丙丁", "旧词样例"}, {"戊己庚辛", "新词样例"})
    seen: list[frozenset[str]] = []
    stop = threading.Event()

    def check() -> None:
        while not stop.is_set():
            verdict = moderation.check(TEXT)
            seen.append(frozenset(m.keyword for m in verdict.matches))

    workers = [threading.Thread(target=check) for _ in range(2)]
    for w in workers:
        w.start()
    for i in range(40):
        moderation.reload(NEW if i % 2 == 0 else OLD)
    stop.set()
    for w in workers:
        w.join()
    assert seen and all(s in expected for s in seen)


def test_swap_is_recorded_in_the_ledger(tmp_path: Path) -> None:
    """Each swap writes `moderation.library` with the new and previous digests, the entry
    counts and the SR-5 coverage figures."""
    comp = make_compliance(tmp_path)
    try:
        moderation = Moderation(OLD, record=comp.record)
        first = moderation.digest
        digest = moderation.reload(NEW, reason="weekly update")
        [rec] = [r.payload for r in comp.records("moderation.library")]
        assert rec["sha256"] == digest == moderation.digest and rec["previous"] == first
        assert rec["reason"] == "weekly update" and rec["entries"] == 2
        assert rec["per_risk"] == {"A.1c": 1, "A.1d": 1} and rec["sr5_ok"] is False
    finally:
        comp.close()


def test_background_reload_builds_off_the_caller_and_streams_keep_their_library() -> None:
    """`reload_in_background` returns a future of the new digest; a stream that started on
    the old library finishes on it, a new stream uses the new one."""
    moderation = Moderation(OLD)
    before = StreamScanner(moderation.matcher())
    future = moderation.reload_in_background(lambda: NEW)  # loaded on the builder thread
    assert future.result(timeout=30) == moderation.digest
    assert before.feed("旧词样例")[1] is not None
    after = StreamScanner(moderation.matcher())
    assert after.feed("旧词样例 ")[1] is None and after.feed("新词样例")[1] is not None
    assert moderation.check("新词样例").flagged and not moderation.check("旧词样例").flagged


def test_background_reload_hands_back_a_build_error() -> None:
    """A library that cannot be built leaves the old one serving; the future holds the
    error."""
    moderation = Moderation(OLD)
    future = moderation.reload_in_background(OLD, {"minors": [Keyword("  ", Risk("A.4a"))]})
    assert future.exception(timeout=30) is not None
    assert moderation.check("甲乙丙丁").flagged


def test_from_context_reads_allow_pinyin_actions_and_boundaries(tmp_path: Path) -> None:
    """`[moderation]` takes allow_files, pinyin_files, actions and word_boundaries."""
    (tmp_path / "kw.csv").write_text("keyword,risk\n市长,A.1b\ncat,A.2a\n", "utf-8")
    (tmp_path / "allow.txt").write_text("南京市长江大桥\n", "utf-8")
    (tmp_path / "py.csv").write_text("keyword,risk\n样例禁词,A.1h\n", "utf-8")
    settings = {"_base_dir": str(tmp_path), "moderation": {
        "keyword_files": ["kw.csv"], "allow_files": ["allow.txt"], "pinyin_files": ["py.csv"],
        "actions": {"A.2": "review"}, "word_boundaries": False}}
    comp = make_compliance(tmp_path / "c", settings=settings)
    try:
        moderation = Moderation.from_context(comp.context)
        assert not moderation.check("南京市长江大桥").flagged
        assert moderation.check("市长说").flagged
        verdict = moderation.check("education")  # boundaries off: 'cat' inside a word
        assert not verdict.flagged and [m.keyword for m in verdict.review] == ["cat"]
        assert moderation.check("yljc").flagged
    finally:
        comp.close()


POOL = [f"{a}{b}样例词{n}" for n, (a, b) in enumerate(
    (a, b) for a in "甲乙丙丁戊己" for b in "子丑寅卯辰")] + ["cat", "dog term", "市长"]
RISKS = [Risk("A.1a"), Risk("A.1b"), Risk("A.2c")]
#: allow words that exempt some pool words (and one that exempts none)
ALLOW = ["甲子样例词0号", "前乙丑样例词", "南京市长江大桥", "catalogue", "无关词"]
TEXTS = [" ".join(POOL), "前文 " + " ".join(reversed(POOL)) + " 后文", "a cat.",
         "甲子样例词0号 前乙丑样例词6 南京市长江大桥 catalogue cat"]


def _streamed(moderation: Moderation, text: str) -> tuple[str, Any]:
    """``text`` streamed in 7-character chunks: what was emitted, and the blocking match."""
    scanner = StreamScanner(moderation.matcher())
    emitted = ""
    for i in range(0, len(text), 7):
        safe, match = scanner.feed(text[i:i + 7])
        emitted += safe
        if match is not None:
            return emitted, (match.keyword, match.start, match.end)
    rest, match = scanner.finish()
    return emitted + rest, match and (match.keyword, match.start, match.end)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sets(st.sampled_from(POOL)), st.sampled_from(RISKS),
                          st.sets(st.sampled_from(ALLOW))),
                min_size=1, max_size=4))
def test_incremental_swaps_answer_like_a_full_build(
        updates: list[tuple[set[str], Risk, set[str]]]) -> None:
    """Property: after any sequence of library updates (keywords, risks and allow words)
    applied as incremental swaps, every check and stream answers exactly as a moderation
    built from scratch on the last library."""
    moderation = Moderation(KeywordLibrary([Keyword(w, Risk("A.1h")) for w in POOL[:10]]))
    for words, risk, allow in updates:
        library = KeywordLibrary([Keyword(w, risk if i % 2 else Risk("A.1h"))
                                  for i, w in enumerate(sorted(words))], allow=sorted(allow))
        moderation.reload(library)
        fresh = Moderation(library)
        for text in TEXTS:
            got = [(m.keyword, m.risk, m.start, m.end) for m in moderation.check(text).matches]
            want = [(m.keyword, m.risk, m.start, m.end) for m in fresh.check(text).matches]
            assert got == want
            # streamed: the same text emitted and the same match (a removed keyword's prefix
            # may still hold a tail back for a chunk: withheld longer, never leaked)
            assert _streamed(moderation, text) == _streamed(fresh, text)
        assert moderation.digest == fresh.digest


#: keywords that overlap one another (prefixes, suffixes, shared middles), Chinese and
#: Latin (whose word boundaries turn candidates down); texts are drawn from their characters
OVERLAPPING = ["甲乙", "乙丙", "丙丁", "甲乙丙", "乙丙丁", "丁甲", "丙", "ab", "abc", "bc",
               "ca"]
ALPHABET = "甲乙丙丁ab c"


@settings(max_examples=150, deadline=None)
@given(st.sets(st.sampled_from(OVERLAPPING)),
       st.lists(st.tuples(st.sets(st.sampled_from(OVERLAPPING)),
                          st.sets(st.sampled_from(OVERLAPPING))), min_size=1, max_size=3),
       st.lists(st.text(ALPHABET, min_size=1, max_size=24), min_size=1, max_size=4))
def test_incremental_swaps_of_overlapping_keywords_answer_like_a_full_build(
        first: set[str], updates: list[tuple[set[str], set[str]]], texts: list[str]) -> None:
    """Property: with keywords that overlap in the text — one kept in the serving automaton,
    one added by an update, one removed (and so still in the serving automaton) or given a
    new risk — an incrementally updated moderation reports the same matches as one built
    from scratch, so a keyword is never hidden by one that only the other build has."""
    moderation = Moderation(KeywordLibrary([Keyword(w, Risk("A.1h")) for w in sorted(first)]))
    for words, riskier in updates:
        library = KeywordLibrary([Keyword(w, Risk("A.1a") if w in riskier else Risk("A.1h"))
                                  for w in sorted(words)])
        moderation.reload(library)
        fresh = Moderation(library)
        for text in texts:
            got = [(m.keyword, m.risk, m.start, m.end) for m in moderation.check(text).matches]
            want = [(m.keyword, m.risk, m.start, m.end) for m in fresh.check(text).matches]
            assert got == want, text
            assert _streamed(moderation, text) == _streamed(fresh, text)


def test_a_removed_keyword_does_not_hide_a_shorter_one_at_its_start() -> None:
    """After an update removes 甲乙丙 but keeps 甲乙, the serving automaton still holds 甲乙丙 (the
    longer match at that start); the update must still find 甲乙 there — and a keyword added
    by the update that overlaps a kept one must not hide a third (乙丙 vs 丙丁 after 甲乙)."""
    moderation = Moderation(KeywordLibrary([Keyword("甲乙丙", Risk("A.1a")),
                                            Keyword("甲乙", Risk("A.1b"))]))
    moderation.reload(KeywordLibrary([Keyword("甲乙", Risk("A.1b"))]))
    assert moderation.matcher().delta_size == 0  # incremental: 甲乙丙 only suppressed
    assert [(m.keyword, m.start, m.end) for m in moderation.check("前甲乙丙后").matches] == [
        ("甲乙", 1, 3)]
    moderation.reload(KeywordLibrary([Keyword("甲乙", Risk("A.1b")), Keyword("乙丙", Risk("A.1h")),
                                      Keyword("丙丁", Risk("A.1a"))]))
    assert moderation.matcher().delta_size == 2
    verdict = moderation.check("甲乙丙丁")
    assert [(m.keyword, m.start) for m in verdict.matches] == [("甲乙", 0), ("丙丁", 2)]


def test_small_update_is_incremental_large_or_profile_change_is_full(tmp_path: Path) -> None:
    """A weekly update of a few keywords keeps the serving automaton (`build: incremental`
    with the counts in the ledger record), and so does a change of allow words (only their
    small automaton is rebuilt); a change of profiles rebuilds everything."""
    comp = make_compliance(tmp_path)
    try:
        base = [Keyword(f"词样例{i:04d}", Risk("A.1a")) for i in range(300)]
        moderation = Moderation(KeywordLibrary(base), record=comp.record)
        first = moderation.matcher()
        update = [*base[10:], Keyword("新增样例", Risk("A.1b"))]
        moderation.reload(KeywordLibrary(update), reason="weekly update")
        assert moderation.matcher()._layers[0] is first._layers[0]
        assert moderation.check("新增样例").flagged and not moderation.check("词样例0003").flagged
        moderation.reload(KeywordLibrary(update, allow=["新增样例词典"]))
        assert moderation.matcher()._layers[0] is first._layers[0]
        assert not moderation.check("新增样例词典").flagged and moderation.check("新增样例").flagged
        moderation.reload(KeywordLibrary(update), profiles={"minors": [base[0]]})
        assert moderation.matcher()._layers[0] is not first._layers[0]
        assert moderation.check("新增样例词典").flagged  # the allow word is gone again
        records = [r.payload for r in comp.records("moderation.library")]
        assert [(r["build"], r["added"], r["removed"]) for r in records] == [
            ("incremental", 1, 10), ("incremental", 0, 0), ("full", 0, 0)]
    finally:
        comp.close()


def test_incremental_swap_keeps_profile_keywords() -> None:
    """A profile's own keyword survives an update that removes the same word from the
    default library."""
    shared = Keyword("恐怖故事", Risk("A.4a"))
    moderation = Moderation(KeywordLibrary([shared, Keyword("甲词样例", Risk("A.1a"))]),
                            profiles={"minors": [shared]})
    moderation.reload(KeywordLibrary([Keyword("甲词样例", Risk("A.1a"))]),
                      profiles={"minors": [shared]})
    assert not moderation.check("恐怖故事").flagged
    assert moderation.check("恐怖故事", profile="minors").flagged


def _library_of(n: int, word: str, risk: str = "A.1a") -> KeywordLibrary:
    """``n`` keywords ``{word}样例{i}`` (enough for the release thread to empty its tables)."""
    return KeywordLibrary([Keyword(f"{word}样例{i:04d}", Risk(risk)) for i in range(n)])


def test_paced_blocks_restore_the_switch_interval_and_nest() -> None:
    """Inside a paced swap the interpreter switches threads every 100 µs; nested paced
    blocks keep it; the interval in force before is back afterwards; outside, pace() is a
    no-op."""
    import sys

    from genai_compliance.moderation import _pacing

    assert _pacing.wait_for_releases()  # the release thread paces too: let it finish
    before = sys.getswitchinterval()
    assert not _pacing.is_paced()
    _pacing.pace()  # outside a paced block: returns at once
    short = pytest.approx(min(before, _pacing.SWITCH_INTERVAL), abs=2e-6)  # whole µs stored
    with _pacing.paced():
        assert _pacing.is_paced()
        assert sys.getswitchinterval() == short
        with _pacing.paced():
            assert sys.getswitchinterval() == short
        assert _pacing.is_paced()
        _pacing.pace()
    assert not _pacing.is_paced() and sys.getswitchinterval() == before
    assert before == pytest.approx(0.005)  # Python's default: every paced block restored it


def test_drain_empties_lists_sets_and_dicts() -> None:
    """`drain` empties a container a step at a time, whatever its size."""
    from genai_compliance.moderation import _pacing

    items: list[Any] = [list(range(2000)), set(range(2000)), dict.fromkeys(range(2000)), []]
    with _pacing.paced():
        for container in items:
            _pacing.drain(container)
    assert all(len(c) == 0 for c in items)


def test_a_swapped_out_library_is_emptied_only_after_its_last_stream(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The tables of a library swapped out are emptied on the release thread, and only once
    the last stream on them has ended: a stream started before the swap still finds the old
    keywords afterwards."""
    from genai_compliance.moderation import _pacing

    drained: list[int] = []
    real_drain = _pacing.drain

    def spy(container: Any) -> None:
        drained.append(len(container))
        real_drain(container)

    monkeypatch.setattr(_pacing, "drain", spy)
    moderation = Moderation(_library_of(1200, "甲"))
    scanner = StreamScanner(moderation.matcher())
    # a change of profiles: a full build
    moderation.reload(_library_of(1200, "乙"), {"minors": [Keyword("档案样例", Risk("A.4a"))]})
    assert _pacing.wait_for_releases()
    # the old library object is gone (its three tables emptied), not the matcher's tables
    assert drained == [1200, 1200, 1200]
    assert scanner.feed("前文甲样例0007。")[1] is not None
    assert moderation.check("乙样例0007").flagged and not moderation.check("甲样例0007").flagged
    del scanner
    assert _pacing.wait_for_releases()
    assert drained[3:] == [1200] * 3  # now the old matcher's: entries, actions, terms
    assert moderation.check("乙样例1199").flagged  # the library served is untouched


def test_an_incremental_swap_leaves_the_shared_tables_alone() -> None:
    """After an incremental swap, releasing the matcher swapped out leaves the automaton,
    prefixes and index it shares with the one serving intact."""
    from genai_compliance.moderation import _pacing

    base = [Keyword(f"甲样例{i:04d}", Risk("A.1a")) for i in range(1200)]
    moderation = Moderation(KeywordLibrary(base))
    moderation.reload(KeywordLibrary([*base[10:], Keyword("新增样例词", Risk("A.1b"))]))
    moderation.reload(KeywordLibrary([*base[20:], Keyword("再增样例词", Risk("A.1b"))]))
    assert _pacing.wait_for_releases()
    assert moderation.check("甲样例1199").flagged and moderation.check("再增样例词").flagged
    assert not moderation.check("甲样例0015").flagged and not moderation.check("新增样例词").flagged
    scanner = StreamScanner(moderation.matcher())
    assert scanner.feed("你好甲样例11") == ("你好", None)  # the shared prefixes are there
    assert scanner.feed("99。")[1] is not None


def test_checks_during_background_swaps_answer_old_or_new_never_neither() -> None:
    """Checks and streams on other threads while the library is swapped in the background
    (full and incremental builds, the release thread emptying what was swapped out) each see
    exactly the old library's keywords or exactly the new one's."""
    from genai_compliance.moderation import _pacing

    old, new = _library_of(600, "甲"), _library_of(600, "乙")
    text = "开头 甲样例0005 中间 乙样例0005 结尾"
    expected = ({"甲样例0005"}, {"乙样例0005"})
    moderation = Moderation(old)
    seen: list[frozenset[str]] = []
    stop = threading.Event()

    def check() -> None:
        while not stop.is_set():
            seen.append(frozenset(m.keyword for m in moderation.check(text).matches))
            scanner = StreamScanner(moderation.matcher())
            found = {m.keyword for m in (scanner.feed(text[:9])[1], scanner.feed(text[9:])[1],
                                         scanner.finish()[1]) if m is not None}
            assert found <= expected[0] | expected[1] and len(found) <= 1

    workers = [threading.Thread(target=check) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        profiles = None
        for i in range(12):
            target = new if i % 2 == 0 else old
            if i % 3 == 2:  # the same profiles as before: incremental
                target = KeywordLibrary(target.entries[1:], allow=["无关样例词"])
            else:  # other profiles: a full build
                profiles = {"minors": [Keyword(f"档案样例{i}", Risk("A.4a"))]}
            moderation.reload_in_background(target, profiles).result(timeout=60)
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert _pacing.wait_for_releases()
    assert seen and all(s in expected for s in seen)
