"""``genai-compliance`` (also ``python -m genai_compliance``).

Each duty adds its sub-commands from a ``_cli`` module with ``register(subparsers)``; the
modules are listed here literally (:data:`COMMAND_MODULES`).

Exit codes, the same for every command (documented in docs/cli.md):

    0    success
    1    a finding: a ledger that does not verify, flagged content, a non-compliant file
    2    a usage or input error: missing or unreadable file, wrong format, bad URI or config,
         closed standard input or output (one line on stderr says what and what to do)
    3    inspect: a file whose label could not be judged (inconclusive)
    70   an error inside genai_compliance (one line; ``--debug`` shows the traceback)
    130  interrupted
    141  the reader of standard output went away (``… | head``); nothing more is printed

``--debug`` anywhere on the command line re-raises instead, showing the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ..errors import ComplianceError

__all__ = ["COMMAND_MODULES", "EXIT_FINDING", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PIPE",
           "EXIT_SOFTWARE", "EXIT_USAGE", "main"]

#: Exit codes, the same for every command.
EXIT_OK = 0
#: a finding: a ledger that does not verify, flagged content, a non-compliant file
EXIT_FINDING = 1
#: a usage or input error: a missing or unreadable file, a bad URI or config, bad arguments
EXIT_USAGE = 2
#: an error inside genai_compliance (a bug: please report it with ``--debug``)
EXIT_SOFTWARE = 70
#: interrupted (Ctrl-C)
EXIT_INTERRUPTED = 130
#: the reader of standard output went away (``… | head``); nothing is printed
EXIT_PIPE = 141

#: Modules contributing sub-commands, each with ``register(subparsers) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "genai_compliance.cli.labelling",
    "genai_compliance.cli.keys",
    "genai_compliance.cli.consent",
    "genai_compliance.cli.agreements",
    "genai_compliance.cli.minors",
    "genai_compliance.cli.scan",
    "genai_compliance.cli.incidents",
    "genai_compliance.cli.training",
    "genai_compliance.cli.privacy",
    "genai_compliance.cli.report",
    "genai_compliance.cli.config",
    "genai_compliance.ledger._cli",
)

#: The command words each module adds, so that only the module a command needs is imported
#: (``inspect`` on a small file does not load the database drivers or the moderation tables).
COMMANDS: dict[str, str] = {
    "label": "genai_compliance.cli.labelling",
    "inspect": "genai_compliance.cli.labelling",
    "producer-code": "genai_compliance.cli.labelling",
    "keys": "genai_compliance.cli.keys",
    "consent": "genai_compliance.cli.consent",
    "agreement": "genai_compliance.cli.agreements",
    "minors": "genai_compliance.cli.minors",
    "scan": "genai_compliance.cli.scan",
    "incidents": "genai_compliance.cli.incidents",
    "complaints": "genai_compliance.cli.incidents",
    "assess": "genai_compliance.cli.training",
    "dossier": "genai_compliance.cli.training",
    "filing": "genai_compliance.cli.training",
    "privacy": "genai_compliance.cli.privacy",
    "report": "genai_compliance.cli.report",
    "config": "genai_compliance.cli.config",
    "ledger": "genai_compliance.ledger._cli",
}



def _cmd_rules(args: argparse.Namespace) -> int:
    from ..reports import rules_table

    rows = rules_table()
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    missing = [r for r in rows if not r["implemented_by"]]
    for row in rows:
        impl = ", ".join(row["implemented_by"]) or "— none yet"
        print(f"{row['id']:<18} {row['summary'][:70]}")
        print(f"{'':<18} implemented by: {impl}")
    print(f"\n{len(rows) - len(missing)} of {len(rows)} rules have an implementation; "
          f"none yet: {', '.join(r['id'] for r in missing) or '-'}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2), like every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_one_line(message)} (see {self.prog} "
                              "--help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``command`` (a word of :data:`COMMANDS`) only the module
    that adds it is imported, otherwise every command module."""
    parser = _Parser(
        prog="genai-compliance",
        description="Compliance tooling for generative-AI services (Interim Measures, "
        "GB 45438 labels, PIPL, minors, moderation, C2PA).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    rules = sub.add_parser("rules", help="list obligation IDs and the code implementing each")
    rules.add_argument("--json", action="store_true", help="print JSON")
    rules.set_defaults(func=_cmd_rules)

    modules = (COMMAND_MODULES if command not in COMMANDS else (COMMANDS[command],))
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(message: str) -> None:
    try:
        print(f"genai-compliance: error: {_one_line(message)}", file=sys.stderr)
    except (OSError, ValueError):  # stderr closed too: nothing more to say
        pass


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the interpreter's final flush
    does not raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; see the module docstring for the exit codes. Errors are one line on
    stderr; ``--debug`` (anywhere on the command line) shows the traceback as well."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    if debug:
        args_list = [a for a in args_list if a != "--debug"]
    if sys.stdout is None or sys.stderr is None:  # started with a standard stream closed
        _fail("standard output is closed; run the command with it open")
        return EXIT_USAGE
    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(args_list)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `genai-compliance inspect … | head`: stop quietly
        _quiet_stdout()
        return EXIT_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except ComplianceError as exc:
        if debug:
            raise
        _fail(str(exc))
        return EXIT_USAGE
    except FileExistsError as exc:
        if debug:
            raise
        _fail(f"{exc.filename!r} already exists; choose another path (or pass --force where "
              "the command offers it)")
        return EXIT_USAGE
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        if debug:
            raise
        where = f" {exc.filename!r}" if exc.filename else ""
        _fail(f"cannot open{where}: {exc.strerror or exc}; check the path and its permissions")
        return EXIT_USAGE
    except UnicodeDecodeError as exc:
        if debug:
            raise
        _fail(f"expected a UTF-8 text file, found bytes that are not ({exc.reason} at byte "
              f"{exc.start}); pass the right file")
        return EXIT_USAGE
    except (OSError, ValueError) as exc:
        if debug:
            raise
        if ("closed file" in str(exc) or getattr(exc, "errno", None) == 9
                or "'NoneType' object has no attribute 'read" in str(exc)):
            _fail("standard input or output is closed; run the command with them open "
                  "(or pass -o FILE where the command takes one)")
            return EXIT_USAGE
        _fail(f"{type(exc).__name__}: {exc} (run again with --debug for the traceback)")
        return EXIT_SOFTWARE
    except AttributeError as exc:
        if debug:
            raise
        if "'NoneType' object has no attribute" in str(exc) and (
                sys.stdin is None or sys.stdout is None):
            _fail("standard input or output is closed; run the command with them open")
            return EXIT_USAGE
        _fail(f"internal error, AttributeError: {exc} (please report it with the output of "
              "--debug)")
        return EXIT_SOFTWARE
    except Exception as exc:  # never a traceback without --debug
        if debug:
            raise
        _fail(f"internal error, {type(exc).__name__}: {exc} (please report it with the "
              "output of --debug)")
        return EXIT_SOFTWARE
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
