"""``genai-compliance agreement render`` and ``agreement diff``."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path


def _render(args: argparse.Namespace) -> int:
    from ._open import open_compliance

    with open_compliance(args.config) as compliance:
        text = compliance.agreements.render(args.lang, args.format)
    Path(args.output).write_text(text, encoding="utf-8")
    return 0


def _diff(args: argparse.Namespace) -> int:
    """Unified diff of two agreement files, or two published versions (--config)."""
    old, new = Path(args.old), Path(args.new)
    if old.is_file() and new.is_file():
        a, b = old.read_text(encoding="utf-8"), new.read_text(encoding="utf-8")
        text = "".join(difflib.unified_diff(a.splitlines(keepends=True),
                                            b.splitlines(keepends=True), args.old, args.new))
    else:
        from ..agreements import Agreements
        from ._open import open_compliance

        with open_compliance(args.config) as compliance:
            agreements = compliance.agreements
            text = Agreements.diff(agreements.get(args.old, args.lang),
                                   agreements.get(args.new, args.lang))
    sys.stdout.write(text)
    return 1 if text else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``agreement render`` and ``agreement diff``."""
    p = subparsers.add_parser("agreement", help="service agreements (IM-9)")
    sub = p.add_subparsers(dest="agreement_command", required=True)
    r = sub.add_parser("render", help="render the agreement")
    r.add_argument("--lang", choices=("zh", "en"), default="zh")
    r.add_argument("--format", choices=("md", "html"), default="md")
    r.add_argument("--config", default="compliance.toml")
    r.add_argument("-o", "--output", required=True)
    r.set_defaults(func=_render)
    d = sub.add_parser("diff", help="unified diff of two agreement files or published versions")
    d.add_argument("old")
    d.add_argument("new")
    d.add_argument("--lang", choices=("zh", "en"), default="zh")
    d.add_argument("--config", default="compliance.toml")
    d.set_defaults(func=_diff)
