"""Moderation library swaps while serving (issues 17 and 19): built aside, swapped at once,
recorded in the ledger (SR-5 weekly updates); a check during a swap answers against the old
or the new library, never neither; `[moderation]` settings for the new list types."""

from __future__ import annotations

import threading
from pathlib import Path

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


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sets(st.sampled_from(POOL)), st.sampled_from(RISKS)),
                min_size=1, max_size=4))
def test_incremental_swaps_answer_like_a_full_build(updates: list[tuple[set[str], Risk]]
                                                    ) -> None:
    """Property: after any sequence of library updates applied as incremental swaps, every
    check answers exactly as a moderation built from scratch on the last library."""
    moderation = Moderation(KeywordLibrary([Keyword(w, Risk("A.1h")) for w in POOL[:10]]))
    for words, risk in updates:
        library = KeywordLibrary([Keyword(w, risk if i % 2 else Risk("A.1h"))
                                  for i, w in enumerate(sorted(words))])
        moderation.reload(library)
        fresh = Moderation(library)
        for text in [" ".join(POOL), "前文 " + " ".join(reversed(POOL)) + " 后文", "a cat."]:
            got = [(m.keyword, m.risk, m.start, m.end) for m in moderation.check(text).matches]
            want = [(m.keyword, m.risk, m.start, m.end) for m in fresh.check(text).matches]
            assert got == want
        assert moderation.digest == fresh.digest


def test_small_update_is_incremental_large_or_allow_change_is_full(tmp_path: Path) -> None:
    """A weekly update of a few keywords keeps the serving automaton (`build: incremental`
    with the counts in the ledger record); a change of allow words rebuilds everything."""
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
        assert moderation.matcher()._layers[0] is not first._layers[0]
        records = [r.payload for r in comp.records("moderation.library")]
        assert [(r["build"], r["added"], r["removed"]) for r in records] == [
            ("incremental", 1, 10), ("full", 0, 0)]
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
