"""``genai-compliance scan``: flag texts against a keyword library."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register"]


def _cmd_scan(args: argparse.Namespace) -> int:
    from . import KeywordLibrary, Moderation

    library = KeywordLibrary.load(*args.keywords)
    profiles = {"minors": KeywordLibrary.load(*args.minors_keywords).entries} \
        if args.minors_keywords else None
    moderation = Moderation(library, profiles=profiles)
    inputs: list[tuple[str, str]] = []
    if args.files:
        for path in args.files:
            with open(path, encoding="utf-8") as fh:
                inputs.append((path, fh.read()))
    else:
        inputs.append(("<stdin>", sys.stdin.read()))
    flagged = False
    results = []
    for name, text in inputs:
        verdict = moderation.check(text, profile=args.profile)
        flagged |= verdict.flagged
        results.append({"input": name, **verdict.to_json()})
    if args.json:
        from ..schemas import validate

        validate(results, "scan-result", what="scan result")
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for row in results:
            state = "FLAGGED" if row["flagged"] else "clean"
            print(f"{row['input']}: {state}")
            for m in row["matches"]:
                print(f"  {m['keyword']} ({m['risk']}, {m['severity']}) at "
                      f"{m['start']}-{m['end']}: {m['text']!r}")
    return 1 if flagged else 0


def register(sub: Any) -> None:
    scan = sub.add_parser("scan", help="scan texts against a keyword library (exit 1 if any "
                                       "is flagged)")
    scan.add_argument("files", nargs="*", metavar="TEXTFILE",
                      help="files to scan (default: standard input)")
    scan.add_argument("--keywords", action="append", required=True, metavar="FILE",
                      help="keyword file (one per line, or CSV keyword,risk,severity)")
    scan.add_argument("--minors-keywords", action="append", default=[], metavar="FILE",
                      help="extra keywords of the minors profile")
    scan.add_argument("--profile", default="default", help="profile: default or minors")
    scan.add_argument("--json", action="store_true")
    scan.set_defaults(func=_cmd_scan)
