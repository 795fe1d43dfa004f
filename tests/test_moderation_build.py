"""Automata built off the serving threads (issue 19): a large automaton built during a swap
comes from a process of its own and answers exactly like one built here; when that process
cannot deliver, the automaton is built here, and the swap still answers old or new."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from genai_compliance.moderation import (
    Keyword,
    KeywordLibrary,
    Moderation,
    StreamScanner,
    _automaton,
    _pacing,
    normalise,
)
from genai_compliance.risks import Risk

N = _automaton.OWN_PROCESS_MIN + 100  # enough for a paced build to use its own process


def _library_of(word: str, n: int = N) -> KeywordLibrary:
    return KeywordLibrary([Keyword(f"{word}样例{i:05d}", Risk("A.1a")) for i in range(n)]
                          + [Keyword(f"{word} term {i}", Risk("A.2a")) for i in range(50)],
                          allow=[f"前{word}样例00007后"])


def _text(word: str) -> str:
    return (f"开头{word}样例00005 中间 前{word}样例00007后 {word} term 3, {word} terms 4 "
            f"{word}样例{N - 1:05d}。")


def _answers(moderation: Moderation, text: str) -> list[tuple[str, str, int, int]]:
    return [(m.keyword, m.risk, m.start, m.end) for m in moderation.check(text).matches]


def test_a_large_paced_build_comes_from_its_own_process_and_answers_alike() -> None:
    """A swap to a large library builds its automaton in a process of its own; every check
    and stream answers exactly as a moderation built here, in this thread."""
    moderation = Moderation(_library_of("甲", 10))
    before = dict(_automaton.built_aside)
    moderation.reload(_library_of("乙"), {"minors": [Keyword("档案样例", Risk("A.4a"))]})
    assert _automaton.built_aside["process"] >= before["process"] + 1
    here = Moderation(_library_of("乙"), profiles={"minors": [Keyword("档案样例", Risk("A.4a"))]})
    text = _text("乙")
    assert _answers(moderation, text) == _answers(here, text)
    assert [m.keyword for m in moderation.check(text).matches] == [
        "乙样例00005", "乙 term 3", f"乙样例{N - 1:05d}"]  # exempt, not a whole word: out
    scanner = StreamScanner(moderation.matcher())
    assert scanner.feed("你好乙样例0")[0] == "你好"  # prefixes held back, then the match
    assert scanner.feed("0005。")[1] is not None


def test_outside_a_swap_and_for_small_automata_nothing_is_spawned() -> None:
    """Start-up builds and small automata are built in this process."""
    before = dict(_automaton.built_aside)
    Moderation(_library_of("丙"))
    with _pacing.paced():
        _automaton.automaton([b"ab", b"abc"])
    assert _automaton.built_aside["process"] == before["process"]


@pytest.mark.parametrize("failure", ["no interpreter", "worker fails", "bad digest"])
def test_when_the_build_process_fails_the_automaton_is_built_here(
        failure: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A build process that cannot start, exits with an error or sends an automaton that does
    not match its digest is not trusted: the automaton is built in this process and the swap
    answers exactly like a full build here."""
    if failure == "no interpreter":
        monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    elif failure == "worker fails":
        worker = tmp_path / "worker.py"
        worker.write_text("import sys\nsys.stdin.buffer.read()\nsys.exit('boom')\n", "utf-8")
        monkeypatch.setattr(_automaton, "_WORKER", worker)
    else:
        real = _automaton._REPLY

        class Tampered:
            size = real.size

            @staticmethod
            def unpack(head: bytes) -> tuple[int, bytes]:
                size, _ = real.unpack(head)
                return size, bytes(32)

        monkeypatch.setattr(_automaton, "_REPLY", Tampered)
    moderation = Moderation(_library_of("甲", 10))
    before = dict(_automaton.built_aside)
    moderation.reload(_library_of("丁"), {"minors": [Keyword("档案样例", Risk("A.4a"))]})
    assert _automaton.built_aside["fallback"] >= before["fallback"] + 1
    assert _automaton.built_aside["process"] == before["process"]
    text = _text("丁")
    assert _answers(moderation, text) == _answers(Moderation(_library_of("丁")), text)


def test_checks_during_a_swap_built_in_its_own_process_see_old_or_new() -> None:
    """Checks on other threads while a large library is swapped in the background (its
    automaton built in a process of its own) each see exactly the old library's keywords or
    exactly the new one's, never neither and never a mix."""
    old, new = _library_of("甲"), _library_of("乙")
    text = "开头 甲样例00005 中间 乙样例00005 结尾"
    expected = ({"甲样例00005"}, {"乙样例00005"})
    moderation = Moderation(old)
    seen: list[frozenset[str]] = []
    stop = threading.Event()

    def check() -> None:
        while not stop.is_set():
            seen.append(frozenset(m.keyword for m in moderation.check(text).matches))

    worker = threading.Thread(target=check)
    worker.start()
    before = dict(_automaton.built_aside)
    try:
        for i, target in enumerate((new, old)):
            profiles = {"minors": [Keyword(f"档案样例{i}", Risk("A.4a"))]}  # a full build
            moderation.reload_in_background(target, profiles).result(timeout=120)
    finally:
        stop.set()
        worker.join()
    assert _automaton.built_aside["process"] >= before["process"] + 2
    assert seen and all(s in expected for s in seen)


def test_a_removed_keyword_is_found_in_the_serving_automaton_without_an_index() -> None:
    """An incremental update finds each removed keyword in the serving automaton itself (its
    whole term as one match); a prefix or a longer form of a keyword is no keyword."""
    base = [Keyword(f"词样例{i:04d}", Risk("A.1a")) for i in range(300)]
    moderation = Moderation(KeywordLibrary(base))
    moderation.reload(KeywordLibrary([*base[2:], Keyword("新样例词", Risk("A.1b"))]))
    matcher = moderation.matcher()
    assert matcher.delta_size == 1  # incremental: the serving automaton kept
    assert [m.keyword for m in moderation.check("词样例0000 词样例0001").matches] == []
    assert [m.keyword for m in moderation.check("词样例0002 新样例词").matches] == [
        "词样例0002", "新样例词"]
    assert matcher._base_index("词样例0005") == 5
    assert matcher._base_index("词样例") is None and matcher._base_index("词样例00050") is None


def test_the_collector_is_off_during_paced_blocks_and_back_on_after() -> None:
    """Inside paced blocks (nested too) the automatic garbage collector is off; when the last
    ends it is on again, and what was created meanwhile is in the oldest generation (moved
    there, not collected: a cycle made during the swap is still found by a full collection)."""
    import gc

    assert _pacing.wait_for_releases()  # the release thread's paced blocks have ended
    assert gc.isenabled()
    with _pacing.paced():
        assert not gc.isenabled()
        with _pacing.paced():
            assert not gc.isenabled()
        cycle: list[object] = []
        cycle.append(cycle)
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.is_tracked(cycle) and gc.get_count()[0] < 50  # the young generation is empty
    del cycle
    assert gc.collect() >= 1  # the cycle is still collectable


def test_an_application_s_collector_settings_are_left_alone() -> None:
    """A collector the application switched off stays off after a paced block, and objects it
    froze (before forking) stay frozen."""
    import gc

    assert _pacing.wait_for_releases()
    gc.disable()
    try:
        with _pacing.paced():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with _pacing.paced():
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_the_collector_comes_back_after_gc_pause_max(monkeypatch: pytest.MonkeyPatch) -> None:
    """A paced block that runs longer than GC_PAUSE_MAX gets the collector back while it
    still runs."""
    import gc
    import time

    assert _pacing.wait_for_releases()
    monkeypatch.setattr(_pacing, "GC_PAUSE_MAX", 0.05)
    with _pacing.paced():
        assert not gc.isenabled()
        deadline = time.monotonic() + 10
        while not gc.isenabled() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gc.isenabled()
    assert gc.isenabled()


def test_the_hold_back_automaton_answers_like_the_prefix_tables() -> None:
    """A large matcher built during a swap answers the stream's hold-back (the longest tail
    that could still grow into a keyword or an allow word) from an automaton built in its own
    process, exactly as the prefix tables of a matcher built at start-up do."""
    import random

    library = _library_of("戊")
    with _pacing.paced():
        aside = library.matcher()
    here = library.matcher()
    assert aside._open_ac is not None and here._open_ac is None
    rng = random.Random(7)
    words = [e.term for e in library.entries[:200]] + library.allow + ["戊 term 12", "其他"]
    for _ in range(2000):
        word = rng.choice(words)
        cut = rng.randrange(1, len(word) + 1)
        folded = normalise(rng.choice(["", "前文", "戊样例", "ab "]) + word[:cut])[0]
        assert aside.open_prefix(folded) == here.open_prefix(folded), folded


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_child_forked_during_a_swap_gets_its_collector_back() -> None:
    """A process forked while another thread is in a paced block (a swap) has the collector
    on and Python's switch interval again: the swap's thread did not come along."""
    import gc
    import os

    assert _pacing.wait_for_releases()
    before = sys.getswitchinterval()
    inside, leave = threading.Event(), threading.Event()

    def swap() -> None:
        with _pacing.paced():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=swap)
    thread.start()
    try:
        assert inside.wait(10) and not gc.isenabled()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            ok = gc.isenabled() and sys.getswitchinterval() == before
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
        os.close(write)
        answer = os.read(read, 1)
        os.close(read)
        os.waitpid(pid, 0)
        assert answer == b"1"
    finally:
        leave.set()
        thread.join()
    assert gc.isenabled()
