"""Moderation: scan-result schema, stdin CLI, span mapping under noise, tail hold-back."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance.cli import main
from genai_compliance.moderation import Keyword, KeywordLibrary, StreamScanner
from genai_compliance.risks import Risk
from genai_compliance.schemas import validate

LIB = KeywordLibrary([Keyword("违禁词样例", Risk("A.1a")), Keyword("forbidden term", Risk("A.1d"))])
NOISE = st.sampled_from(["", " ", "\u200b", "-", "·", "  ", "\ufeff", "*"])


@settings(max_examples=100)
@given(prefix=st.text(alphabet="好天abc ，。", max_size=10), noise=st.lists(NOISE, min_size=4,
       max_size=4), suffix=st.text(alphabet="后续xyz", max_size=10))
def test_span_maps_back_to_the_noisy_original(prefix: str, noise: list[str],
                                             suffix: str) -> None:
    """Property (SR-5): with noise between characters, the span is exactly the original run
    from the keyword's first to its last character."""
    core = "违" + noise[0] + "禁" + noise[1] + "词" + noise[2] + "样" + noise[3] + "例"
    text = prefix + core + suffix
    [m] = LIB.matcher().scan(text)
    assert (m.start, m.end) == (len(prefix), len(prefix) + len(core))
    assert text[m.start:m.end] == core == m.text


def test_stream_holds_back_only_a_possible_keyword_start() -> None:
    """A chunk ending in a keyword prefix holds that prefix only; the rest is emitted at once."""
    scanner = StreamScanner(LIB.matcher())
    safe, match = scanner.feed("今天很好 违禁")
    assert match is None and safe == "今天很好 " and scanner.held == "违禁"
    safe, match = scanner.feed("的东西")
    assert match is None and safe == "违禁的东西" and scanner.held == ""


def test_scan_cli_reads_stdin_and_emits_schema_valid_json(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`scan` without files reads stdin; --json output validates against scan-result."""
    kw = tmp_path / "kw.txt"
    kw.write_text("forbidden term\n", encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO("a ＦＯＲＢＩＤＤＥＮ　term here"))
    assert main(["scan", "--keywords", str(kw), "--json"]) == 1
    out = capsys.readouterr().out
    rows = json.loads(out[out.index("["):])
    validate(rows, "scan-result")
    assert rows[0]["input"] == "<stdin>" and rows[0]["matches"][0]["start"] == 2


def test_scan_result_schema_rejects_a_bad_risk_code() -> None:
    """The schema refuses a match whose risk code is not one of A.1a … A.5b."""
    from genai_compliance.errors import ConfigurationError

    row = {"input": "x", "flagged": True, "risk": "B.9", "matches": [], "scores": {}}
    with pytest.raises(ConfigurationError):
        validate([row], "scan-result")


def test_synthetic_library_meets_sr5_and_matches_its_own_terms() -> None:
    """The 20,000-entry synthetic library passes SR-5 coverage and every sampled term matches."""
    lib = KeywordLibrary.synthetic()
    assert len(lib) >= 20_000 and lib.coverage().ok
    matcher = lib.matcher()
    for entry in lib.entries[::997]:
        assert any(m.keyword == entry.term for m in matcher.scan(f"前 {entry.term} 后"))


def test_from_context_minors_profile_from_ctx_notes(tmp_path: Any) -> None:
    """[moderation] settings build the profiles; the minors profile is chosen from
    ctx.notes["moderation_profile"] and the block record carries risk, sha256 and profile."""
    import hashlib

    from genai_compliance import ContentBlocked
    from genai_compliance.checks import CallContext, Check
    from genai_compliance.moderation import InputModerationCheck, Moderation
    from genai_compliance.testing import make_compliance

    (tmp_path / "kw.csv").write_text("keyword,risk,severity\n违禁词样例,A.1a,high\n", "utf-8")
    (tmp_path / "minors.csv").write_text("keyword,risk,severity\n恐怖故事,A.4a,high\n", "utf-8")
    settings = {"_base_dir": str(tmp_path), "moderation": {
        "keyword_files": ["kw.csv"], "refusal_text": "不能回答",
        "profiles": {"minors": {"keyword_files": ["minors.csv"]}}}}
    comp = make_compliance(tmp_path / "c", checks=(), settings=settings)
    try:
        moderation = Moderation.from_context(comp.context)

        class MinorsNote(Check):
            name = "test-minors-note"
            rules = ("IM-4a",)

            def before(self, ctx: CallContext) -> None:
                if ctx.prompt and ctx.prompt.startswith("child:"):
                    ctx.notes["moderation_profile"] = "minors"

        comp.add_check(MinorsNote())
        comp.add_check(InputModerationCheck(moderation))

        @comp.guard
        def answer(prompt: str) -> str:
            return "ok"

        assert answer("adult: 讲个恐怖故事") == "ok"
        with pytest.raises(ContentBlocked) as info:
            answer("child: 讲个恐怖故事")
        assert str(info.value).startswith("不能回答")
        [rec] = [r.payload for r in comp.records("moderation.block")]
        assert rec["risk"] == "A.4a" and rec["profile"] == "minors" and rec["where"] == "input"
        assert rec["sha256"] == hashlib.sha256("child: 讲个恐怖故事".encode()).hexdigest()
    finally:
        comp.close()


def test_stream_block_record_hashes_the_output_up_to_the_match(tmp_path: Any) -> None:
    """A blocked stream's record hashes all output generated up to the match (IM-14a)."""
    import hashlib
    from collections.abc import Iterator

    from genai_compliance import ContentBlocked
    from genai_compliance.moderation import Moderation, OutputModerationCheck
    from genai_compliance.testing import make_compliance

    comp = make_compliance(tmp_path, checks=())
    try:
        comp.add_check(OutputModerationCheck(Moderation(LIB, record=comp.record)))

        @comp.guard
        def stream(prompt: str) -> Iterator[str]:
            yield from ["前文", "违禁", "词样例", "之后"]

        with pytest.raises(ContentBlocked):
            list(stream("x"))
        [rec] = [r.payload for r in comp.records("moderation.block")]
        assert rec["sha256"] == hashlib.sha256("前文违禁词样例".encode()).hexdigest()
    finally:
        comp.close()
