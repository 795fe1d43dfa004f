"""Moderation libraries (issues 17 and 19): files validated on load, allow and deny lists,
per-category actions, pinyin lists, Latin word boundaries, SR-5 coverage in the library
and in `scan` (SR-5, IM-4a)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_compliance.cli import main
from genai_compliance.errors import ConfigurationError
from genai_compliance.moderation import Keyword, KeywordLibrary, Moderation, StreamScanner
from genai_compliance.risks import Risk
from strategies_moderation import actions, keyword_terms, risk_codes, severities

DATA = Path(__file__).parent / "data" / "moderation"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_wrong_header_is_an_error_naming_the_line_and_the_form(tmp_path: Path) -> None:
    """A CSV whose header is not `keyword,risk,severity,action` fails on load (it used to
    load nothing and say nothing)."""
    path = _write(tmp_path, "kw.csv", "term,risk,severity\n违禁词样例,A.1a,high\n")
    with pytest.raises(ConfigurationError) as info:
        KeywordLibrary.load(path)
    message = str(info.value)
    assert "kw.csv:1" in message and "keyword,risk,severity,action" in message
    assert "'term,risk,severity'" in message


def test_header_with_unknown_or_repeated_column_is_an_error(tmp_path: Path) -> None:
    """Unknown and repeated header columns are refused, as is a comma-separated .txt file
    with a wrong header."""
    for name, text in [("a.csv", "keyword,risk,colour\nx,A.1a,red\n"),
                       ("b.csv", "keyword,risk,risk\nx,A.1a,A.1b\n"),
                       ("c.txt", "word,category\nx,A.1a\n")]:
        with pytest.raises(ConfigurationError, match=rf"{name}:1: header"):
            KeywordLibrary.load(_write(tmp_path, name, text))


def test_empty_files_are_errors(tmp_path: Path) -> None:
    """An empty file, a file of comments and a header without rows are errors that say
    what is expected."""
    for name, text in [("empty.csv", ""), ("comments.txt", "# nothing\n\n"),
                       ("header.csv", "keyword,risk,severity\n")]:
        with pytest.raises(ConfigurationError, match=r"expected|add one row"):
            KeywordLibrary.load(_write(tmp_path, name, text))


def test_unknown_risk_category_names_the_line(tmp_path: Path) -> None:
    """A risk code that is not one of A.1a … A.5b fails with the file, line and the form."""
    path = _write(tmp_path, "kw.csv", "keyword,risk\n甲词,A.1a\n乙词,A.9z\n")
    with pytest.raises(ConfigurationError, match=r"kw.csv:3: unknown risk category 'A.9z'"):
        KeywordLibrary.load(path)


def test_duplicate_keyword_names_both_lines(tmp_path: Path) -> None:
    """The same keyword twice (after normalisation), in one file or across files, is an
    error naming both places and both categories when they differ."""
    one = _write(tmp_path, "one.csv", "keyword,risk\n违禁词样例,A.1a\n")
    two = _write(tmp_path, "two.csv", "keyword,risk\n其他,A.1c\n違禁詞樣例,A.1b\n")
    with pytest.raises(ConfigurationError) as info:
        KeywordLibrary.load(one, two)
    message = str(info.value)
    assert "two.csv:3" in message and "one.csv:2" in message
    assert "A.1a there, A.1b here" in message
    same = _write(tmp_path, "same.csv", "keyword,risk\n甲词,A.1a\n甲 词,A.1a\n")
    with pytest.raises(ConfigurationError, match=r"same.csv:3.*same risk category"):
        KeywordLibrary.load(same)


def test_bad_severity_action_and_extra_fields_name_the_line(tmp_path: Path) -> None:
    """Severity, action and field count are checked row by row."""
    cases = [("keyword,risk,severity\n甲词,A.1a,urgent\n", "severity must be"),
             ("keyword,risk,severity,action\n甲词,A.1a,high,delete\n", "action must be"),
             ("keyword,risk\n甲词,A.1a,extra\n", "3 fields but the header has 2")]
    for n, (text, expected) in enumerate(cases):
        with pytest.raises(ConfigurationError, match=rf"k{n}.csv:2: {expected}"):
            KeywordLibrary.load(_write(tmp_path, f"k{n}.csv", text))


def test_plain_lists_still_load_with_the_default_risk(tmp_path: Path) -> None:
    """One keyword a line, `#` comments: each entry gets the default risk."""
    path = _write(tmp_path, "kw.txt", "# placeholder list\n甲词\n\n乙词\n")
    library = KeywordLibrary.load(path, default_risk="A.1c")
    assert [(k.term, k.risk.value) for k in library.entries] == [("甲词", "A.1c"),
                                                                ("乙词", "A.1c")]


def test_allow_list_exempts_only_keywords_wholly_inside_an_allow_word() -> None:
    """'市长' inside '南京市长江大桥' is exempt; elsewhere it matches, and an allow word does
    not hide a keyword that overlaps it."""
    library = KeywordLibrary([Keyword("市长", Risk("A.1b")), Keyword("大桥坏了", Risk("A.1g"))],
                             allow=["南京市长江大桥"])
    matcher = library.matcher()
    assert matcher.scan("南京市长江大桥很美") == []
    assert [m.text for m in matcher.scan("市长说南京市长江大桥坏了")] == ["市长", "大桥坏了"]


def test_allow_word_still_arriving_in_a_stream_keeps_the_keyword_withheld() -> None:
    """In a stream, a keyword that an allow word may still cover is held, not blocked, until
    the allow word completes or fails."""
    library = KeywordLibrary([Keyword("市长", Risk("A.1b"))], allow=["南京市长江大桥"])
    scanner = StreamScanner(library.matcher())
    assert scanner.feed("我在南京市长") == ("我在", None)
    assert scanner.feed("江大桥上") == ("南京市长江大桥上", None)
    blocked = StreamScanner(library.matcher())
    blocked.feed("南京市长")
    safe, match = blocked.feed("说")
    assert match is not None and match.text == "市长" and safe == "南京"


def test_per_category_actions_review_is_reported_not_blocked(tmp_path: Path) -> None:
    """An action per category (`A.2` → review) and per row: review matches are reported in
    the verdict but do not flag it; the row's action wins over the category's."""
    path = _write(tmp_path, "kw.csv", "keyword,risk,severity,action\n甲词,A.2a,low,\n"
                  "乙词,A.2b,low,block\n丙词,A.1a,high,\n")
    library = KeywordLibrary.load(path, actions={"A.2": "review"})
    moderation = Moderation(library)
    verdict = moderation.check("这里有甲词")
    assert not verdict.flagged and [m.keyword for m in verdict.review] == ["甲词"]
    assert moderation.check("这里有乙词").flagged
    assert moderation.check("这里有丙词").flagged
    scanner = StreamScanner(moderation.matcher())
    streamed = [scanner.feed(c) for c in ["这里有甲", "词，", "继续"]]
    assert all(match is None for _, match in streamed)  # review: not stopped
    assert "".join(safe for safe, _ in streamed) + scanner.flush() == "这里有甲词，继续"
    with pytest.raises(ConfigurationError, match="neither a risk code"):
        KeywordLibrary([], actions={"B.1": "review"})


def test_latin_keyword_inside_a_longer_word_is_not_a_match_by_default() -> None:
    """Word boundaries for Latin keywords (issue 19): 'cat' is not found in 'education' or
    'cats', is found as a word, next to Chinese and across spaced-out letters; switching
    boundaries off restores substring matching."""
    library = KeywordLibrary([Keyword("cat", Risk("A.2a")), Keyword("forbidden term",
                                                                    Risk("A.1d"))])
    matcher = library.matcher()
    for text in ("education", "cats", "concatenate", "xforbidden term", "forbidden terms"):
        assert matcher.scan(text) == [], text
    for text in ("a cat.", "猫是cat吗", "c a t!", "CAT", "the forbidden\u200bterm"):
        assert matcher.scan(text), text
    assert library.matcher(word_boundaries=False).scan("education")
    assert Moderation(library, word_boundaries=False).check("education").flagged


def test_boundary_rejection_does_not_hide_an_overlapping_keyword() -> None:
    """A candidate turned down for a word boundary is re-scanned in its neighbourhood, so a
    keyword overlapping it is still found."""
    library = KeywordLibrary([Keyword("ab", Risk("A.1a")), Keyword("bcd", Risk("A.1b"))])
    [m] = library.matcher().scan("xa bcd")  # 'ab' (from 'xa b') is inside a word
    assert m.keyword == "bcd" and m.text == "bcd"


def test_stream_holds_a_latin_keyword_until_the_next_character_decides() -> None:
    """'cat' at the end of a chunk is held: 's' next makes it a longer word (released),
    a space makes it a match; at the end of the stream finish() reports it and flush()
    withholds it."""
    matcher = KeywordLibrary([Keyword("cat", Risk("A.2a"))]).matcher()
    scanner = StreamScanner(matcher)
    assert scanner.feed("a cat") == ("a ", None)
    assert scanner.feed("s here") == ("cats here", None)
    scanner = StreamScanner(matcher)
    scanner.feed("a cat")
    safe, match = scanner.feed(" here")
    assert match is not None and safe == "" and match.start == 2
    ended = StreamScanner(matcher)
    ended.feed("a cat")
    rest, match = ended.finish()
    assert rest == "" and match is not None
    flushed = StreamScanner(matcher)
    flushed.feed("the cat")
    assert flushed.flush() == "" and flushed.match is not None


def test_pinyin_lists_are_opt_in(tmp_path: Path) -> None:
    """A pinyin list matches its keywords as full pinyin and initials; a deny list with the
    same words does not."""
    opt_in = KeywordLibrary.load(pinyin=[DATA / "pinyin.csv"]).matcher()
    assert [m.keyword for m in opt_in.scan("说 yang li jin ci 吧")] == ["yanglijinci"]
    assert [m.keyword for m in opt_in.scan("说 YLJC 吧")] == ["yljc"]
    assert opt_in.scan("样例禁词")
    plain = KeywordLibrary.load(DATA / "pinyin.csv").matcher()
    assert plain.scan("说 yang li jin ci 吧") == []


def test_coverage_reports_each_risk_against_its_minimum() -> None:
    """Coverage lists every A.1/A.2 risk with its count and SR-5 minimum, and per category."""
    coverage = KeywordLibrary.load(DATA / "keywords.csv").coverage()
    doc = coverage.to_json()
    assert doc["per_risk"]["A.1a"] == {"entries": 1, "minimum": 200}
    assert doc["per_risk"]["A.2i"] == {"entries": 0, "minimum": 100}
    assert doc["per_category"]["A.1"] == 6 and not doc["ok"]
    report = coverage.report()
    assert "A.1a" in report and "SHORT" in report and "10,000" in report
    assert KeywordLibrary.synthetic(20_000).coverage().report().count("SHORT") == 0


def test_scan_cli_reports_coverage_and_refuses_bad_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`scan --coverage` prints the SR-5 table (exit 1 when short, JSON with --json); a bad
    keyword file is one line on stderr and exit 2, no traceback."""
    kw = str(DATA / "keywords.csv")
    assert main(["scan", "--keywords", kw, "--coverage"]) == 1
    assert "A.2a" in capsys.readouterr().out
    assert main(["scan", "--keywords", kw, "--coverage", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["per_risk"]["A.1b"]["entries"] == 2
    bad = _write(tmp_path, "bad.csv", "term,risk\nx,A.1a\n")
    assert main(["scan", "--keywords", str(bad), "--coverage"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.csv:1" in err and "Traceback" not in err


def test_scan_cli_allow_and_pinyin_lists(tmp_path: Path) -> None:
    """`scan --allow` exempts, `scan --pinyin` opts in to pinyin matching."""
    text = _write(tmp_path, "t.txt", "南京市长江大桥, yljc")
    kw = str(DATA / "keywords.csv")
    assert main(["scan", "--keywords", kw, str(text)]) == 1
    assert main(["scan", "--keywords", kw, "--allow", str(DATA / "allow.txt"), str(text)]) == 0
    assert main(["scan", "--keywords", kw, "--allow", str(DATA / "allow.txt"),
                 "--pinyin", str(DATA / "pinyin.csv"), str(text)]) == 1


def test_scan_cli_shows_review_matches_without_flagging(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A text whose only match has the review action exits 0, shown as `review` with the
    match and its action."""
    text = _write(tmp_path, "t.txt", "这是一条占位评论。")
    assert main(["scan", "--keywords", str(DATA / "keywords.csv"), str(text)]) == 0
    out = capsys.readouterr().out
    assert "t.txt: review" in out and "占位评论 (A.2e, low, review)" in out


def test_scan_notes_a_library_short_of_sr5_on_stderr(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Scanning with a library short of SR-5 still scans, and says so in one stderr line."""
    text = _write(tmp_path, "t.txt", "你好")
    assert main(["scan", "--keywords", str(DATA / "keywords.csv"), str(text)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{text}: clean")
    assert captured.err.count("\n") == 1 and "short of SR-5" in captured.err


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(keyword_terms, risk_codes, severities, actions), min_size=1,
                     max_size=12),
       order=st.permutations(["keyword", "risk", "severity", "action"]))
def test_csv_rows_load_back_exactly_in_any_column_order(
        rows: list[tuple[str, str, str, str]], order: list[str]) -> None:
    """Property: rows written as CSV (quoted as needed, columns in any order with keyword
    first) load back as the same keywords, risks, severities and actions."""
    import csv
    import io
    import tempfile

    from genai_compliance.moderation._normalise import normalise_term

    columns = ["keyword", *[c for c in order if c != "keyword"]]
    unique: dict[str, tuple[str, str, str, str]] = {}
    for row in rows:
        unique.setdefault(normalise_term(row[0]), row)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for term, risk, severity, action in unique.values():
        values = {"keyword": term, "risk": risk, "severity": severity, "action": action}
        writer.writerow([values[c] for c in columns])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kw.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        library = KeywordLibrary.load(path)
    got = [(k.term, k.risk.value, k.severity, k.action or "") for k in library.entries]
    assert got == [(t.strip(), r, s, a) for t, r, s, a in unique.values()]
