"""``genai-compliance scan``: flag texts against a keyword library, or report its SR-5
coverage (exit 0 clean / covered, 1 flagged / short of SR-5, 2 bad input such as a keyword
file with a wrong header)."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import ConfigurationError

__all__ = ["register"]


def _cmd_scan(args: argparse.Namespace) -> int:
    from ..moderation import KeywordLibrary, Moderation

    library = KeywordLibrary.load(*args.keywords, allow=args.allow, pinyin=args.pinyin)
    if args.coverage:
        coverage = library.coverage()
        if args.json:
            print(json.dumps(coverage.to_json(), ensure_ascii=False, indent=2))
        else:
            print(coverage.report())
        return 0 if coverage.ok else 1
    profiles = {"minors": KeywordLibrary.load(*args.minors_keywords).entries} \
        if args.minors_keywords else None
    moderation = Moderation(library, profiles=profiles,
                            word_boundaries=not args.no_word_boundaries)
    inputs: list[tuple[str, str]] = []
    if args.files:
        for path in args.files:
            try:
                with open(path, encoding="utf-8") as fh:
                    inputs.append((path, fh.read()))
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigurationError(f"cannot read {path!r} as UTF-8 text: {exc}",
                                         field="files", path=path) from exc
    else:
        inputs.append(("<stdin>", sys.stdin.read()))
    flagged = False
    results = []
    verdicts = []
    for name, text in inputs:
        verdict = moderation.check(text, profile=args.profile)
        flagged |= verdict.flagged
        verdicts.append(verdict)
        results.append({"input": name, **verdict.to_json()})
    if args.json:
        from ..schemas import validate

        validate(results, "scan-result", what="scan result")
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for row, verdict in zip(results, verdicts, strict=True):
            state = ("FLAGGED" if verdict.flagged else "review" if verdict.review
                     else "clean")
            print(f"{row['input']}: {state}")
            for m in verdict.matches:
                print(f"  {m.keyword} ({m.risk}, {m.severity}, {m.action}) at "
                      f"{m.start}-{m.end}: {m.text!r}")
    coverage = library.coverage()
    if not coverage.ok:
        print(f"genai-compliance: note: the keyword library is short of SR-5 "
              f"({len(coverage.problems)} problem(s), {coverage.total:,} entries); "
              "see `genai-compliance scan --coverage`", file=sys.stderr)
    return 1 if flagged else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scan = sub.add_parser("scan", help="scan texts against a keyword library (exit 1 if any "
                                       "is flagged)")
    scan.add_argument("files", nargs="*", metavar="TEXTFILE",
                      help="files to scan (default: standard input)")
    scan.add_argument("--keywords", action="append", required=True, metavar="FILE",
                      help="keyword file (one per line, or CSV keyword,risk,severity)")
    scan.add_argument("--minors-keywords", action="append", default=[], metavar="FILE",
                      help="extra keywords of the minors profile")
    scan.add_argument("--allow", action="append", default=[], metavar="FILE",
                      help="allow list: exemption words (a keyword inside one is not a match)")
    scan.add_argument("--pinyin", action="append", default=[], metavar="FILE",
                      help="opt-in pinyin list: its keywords also match as pinyin and initials")
    scan.add_argument("--no-word-boundaries", action="store_true",
                      help="let Latin keywords match inside longer words")
    scan.add_argument("--coverage", action="store_true",
                      help="report the library's coverage per risk against SR-5 and exit "
                           "(0 covered, 1 short)")
    scan.add_argument("--profile", default="default", help="profile: default or minors")
    scan.add_argument("--json", action="store_true")
    scan.set_defaults(func=_cmd_scan)
