"""``genai-compliance agreement render``."""

from __future__ import annotations

import argparse
from pathlib import Path


def _render(args: argparse.Namespace) -> int:
    from ..compliance import Compliance
    from ._agreements import Agreements

    compliance = Compliance.from_toml(args.config)
    text = Agreements.from_compliance(compliance).render(args.lang, args.format)
    Path(args.output).write_text(text, encoding="utf-8")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``agreement render``."""
    p = subparsers.add_parser("agreement", help="service agreements (IM-9)")
    sub = p.add_subparsers(dest="agreement_command", required=True)
    r = sub.add_parser("render", help="render the agreement")
    r.add_argument("--lang", choices=("zh", "en"), default="zh")
    r.add_argument("--format", choices=("md", "html"), default="md")
    r.add_argument("--config", default="compliance.toml")
    r.add_argument("-o", "--output", required=True)
    r.set_defaults(func=_render)
