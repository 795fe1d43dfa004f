"""Every CLI sub-command meets bad input with a documented exit code and a one-line message
on stderr, never a traceback (issue 14): a missing file, an unreadable file, a file of the
wrong format, a bad URI, a malformed config, and closed standard input or output.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from genai_compliance.cli import EXIT_FINDING, EXIT_PIPE, EXIT_USAGE, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
INT_ARGS = {"minutes", "seq", "old", "new"}
#: commands whose paths are outputs they create (a missing folder is made, not an error)
CREATES = {"keys test-ca", "ledger keygen"}


def _commands() -> Iterator[tuple[list[str], list[str], list[str], bool]]:
    """(command words, positional names, required options, takes --config) of every leaf."""
    def walk(parser: argparse.ArgumentParser, words: list[str]) -> Iterator[
            tuple[list[str], list[str], list[str], bool]]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*words, name])
                return
        positional = [a.dest for a in parser._actions if not a.option_strings]
        required = [a.option_strings[-1] for a in parser._actions
                    if a.option_strings and a.required]
        config = any("--config" in a.option_strings for a in parser._actions)
        yield words, positional, required, config

    yield from walk(build_parser(), [])


COMMANDS = list(_commands())
IDS = [" ".join(c[0]) for c in COMMANDS]


def _argv(words: list[str], positional: list[str], required: list[str], value: str,
          extra: list[str] | None = None) -> list[str]:
    argv = list(words)
    for name in positional:
        argv.append("1" if name in INT_ARGS and value.startswith("/") is False else value)
    for option in required:
        argv += [option, value]
    return argv + list(extra or [])


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    return code, err


def _assert_one_line(code: int, err: str, allowed: tuple[int, ...] = (EXIT_USAGE,)) -> None:
    assert "Traceback" not in err, err
    assert code in allowed, (code, err)
    if code != EXIT_USAGE and not err.strip():
        return  # a finding (exit 1, 3) is the command's report on stdout, not an error
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("genai-compliance")


@pytest.mark.parametrize(("words", "positional", "required", "config"), COMMANDS, ids=IDS)
def test_missing_file(words: list[str], positional: list[str], required: list[str],
                      config: bool, capsys: pytest.CaptureFixture[str],
                      tmp_path: Path) -> None:
    """A path that does not exist, wherever the command takes one: exit 2, one line."""
    if (not positional and not required and not config) or " ".join(words) in CREATES:
        pytest.skip("takes no input")
    missing = str(tmp_path / "missing" / "nothing.bin")
    argv = _argv(words, positional, required, missing,
                 ["--config", missing] if config else None)
    code, err = _run(argv, capsys)
    _assert_one_line(code, err, (EXIT_USAGE, EXIT_FINDING))


@pytest.mark.parametrize(("words", "positional", "required", "config"), COMMANDS, ids=IDS)
def test_wrong_format_and_bad_uri(words: list[str], positional: list[str],
                                  required: list[str], config: bool,
                                  capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A file of the wrong format (binary junk where text, JSON, TOML or media is expected)
    and a URI with an unknown scheme: a documented exit code and one line."""
    if not positional and not required and not config:
        pytest.skip("takes no input")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff\xfe\x00junk\x80\x81" * 10)
    value = "nosuch://host/x" if words[0] == "ledger" else str(junk)
    argv = _argv(words, positional, required, value, ["--config", str(junk)] if config
                 else None)
    code, err = _run(argv, capsys)
    if code == 0:
        return  # a command may legitimately accept the junk (e.g. scan a binary file)
    _assert_one_line(code, err, (EXIT_USAGE, EXIT_FINDING, 3))


LEDGER_URI_COMMANDS = [c for c in COMMANDS if c[0][0] == "ledger" and "uri" in c[1]]


@pytest.mark.parametrize(("words", "positional", "required", "config"), LEDGER_URI_COMMANDS,
                         ids=[" ".join(c[0]) for c in LEDGER_URI_COMMANDS])
def test_unreachable_database_is_one_line(words: list[str], positional: list[str],
                                          required: list[str], config: bool,
                                          capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    """A PostgreSQL URI where nothing listens: exit 2 and one line, although libpq's own
    message runs over two (with a tab). Before, the second line of the driver's text went
    out as it was."""
    argv = list(words)
    for name in positional:
        argv.append("postgresql://nobody@127.0.0.1:1/x" if name == "uri"
                    else "1" if name in INT_ARGS else str(tmp_path / "x"))
    for option in required:
        argv += [option, str(tmp_path / "x")]
    code, err = _run(argv, capsys)
    _assert_one_line(code, err)
    assert "127.0.0.1" in err


@pytest.mark.parametrize(("words", "positional", "required", "config"),
                         [c for c in COMMANDS if c[3]], ids=[i for i, c in zip(IDS, COMMANDS,
                                                                                strict=True)
                                                             if c[3]])
def test_malformed_config(words: list[str], positional: list[str], required: list[str],
                          config: bool, capsys: pytest.CaptureFixture[str],
                          tmp_path: Path) -> None:
    """A config that is not valid TOML: exit 2 naming the file, one line."""
    cfg = tmp_path / "compliance.toml"
    cfg.write_text("[provider\nlegal_name = ", encoding="utf-8")
    argv = _argv(words, positional, required, str(tmp_path / "x"), ["--config", str(cfg)])
    code, err = _run(argv, capsys)
    _assert_one_line(code, err, (EXIT_USAGE,))


def _shell(args: str, redirect: str) -> subprocess.CompletedProcess[str]:
    cmd = f"{sys.executable} -m genai_compliance {args} {redirect}"
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))


def test_closed_stdout_and_stdin() -> None:
    """With standard output or input closed: one line on stderr and exit 2, no traceback."""
    out = _shell("rules", ">&-")
    assert "Traceback" not in out.stderr
    assert out.returncode == EXIT_USAGE and len(out.stderr.strip().splitlines()) == 1
    inp = _shell("scan - --keywords examples/keywords.csv", "<&-")
    assert "Traceback" not in inp.stderr
    assert inp.returncode == EXIT_USAGE, inp.stderr
    assert len(inp.stderr.strip().splitlines()) == 1


def test_closed_pipe_is_quiet() -> None:
    """``genai-compliance rules | head -1``: the reader goes away; no traceback, exit 141."""
    cmd = (f"{sys.executable} -m genai_compliance rules 2>/tmp/gc-pipe-err | head -c 10; "
           "echo; echo ${PIPESTATUS[0]}; cat /tmp/gc-pipe-err")
    run = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    lines = run.stdout.splitlines()
    assert str(EXIT_PIPE) in lines or "0" in lines  # 0 when all output fit in the pipe
    assert "Traceback" not in run.stdout


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str],
                                   tmp_path: Path) -> None:
    """``--debug`` re-raises, so the traceback is there for a bug report."""
    with pytest.raises(FileNotFoundError):
        main(["--debug", "inspect", str(tmp_path / "missing.png")])


def test_test_ca_refuses_to_overwrite_without_force(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``keys test-ca DIR`` twice: the second refuses (exit 2) and the root key survives;
    with --force it is replaced."""
    assert main(["keys", "test-ca", str(tmp_path)]) == 0
    root = (tmp_path / "root.key").read_bytes()
    capsys.readouterr()
    assert main(["keys", "test-ca", str(tmp_path)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--force" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "root.key").read_bytes() == root
    assert main(["keys", "test-ca", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "root.key").read_bytes() != root
