"""``genai-compliance assess``, ``dossier build`` and ``filing deadline``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tomllib
from typing import Any

__all__ = ["register"]


def _ask(question: Any) -> bool:
    while True:
        reply = input(f"{question.zh}\n{question.en} [y/n] ").strip().lower()
        if reply in ("y", "yes", "是", "1", "true"):
            return True
        if reply in ("n", "no", "否", "0", "false"):
            return False
        print("please answer y or n")


def _cmd_assess(args: argparse.Namespace) -> int:
    from ..errors import ConfigurationError
    from ..training import QUESTIONS, assess

    if args.answers:
        try:
            with open(args.answers, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read answers file {args.answers!r}: {exc}",
                                     field="answers", path=args.answers) from exc
        answers = data.get("answers", data)
    else:
        if not sys.stdin.isatty() and not args.interactive:
            raise ConfigurationError("no --answers file given and standard input is not a "
                                     "terminal; pass --answers FILE.toml (or --interactive)",
                                     field="answers")
        answers = {q.id: _ask(q) for q in QUESTIONS}
    result = assess(answers)
    if args.record:
        from ..training import TrainingRegister
        from ._open import open_compliance

        with open_compliance(args.record) as comp:
            TrainingRegister.from_context(comp.context).put_document("assessment", "latest",
                                                                result.to_json())
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return 0
    print(f"Interim Measures apply: {'YES' if result.applies else 'no'} — {result.scope_reason}")
    if result.security_assessment:
        print("Security assessment and algorithm filing required (IM-17, ARP-24: file within "
              "10 working days of launch)")
    for duty in result.duties:
        print(f"  [ ] {duty.title}  ({', '.join(duty.rules)}; module: {duty.module})")
    for lic in result.licences:
        print(f"  licence: {lic}")
    for note in result.foreign_investment_notes:
        print(f"  foreign investment: {note}")
    if result.modules:
        print("enable: " + ", ".join(result.modules))
    return 0


def _cmd_dossier(args: argparse.Namespace) -> int:
    from ..training import TrainingRegister, build_dossier, write_dossier
    from ._open import open_compliance

    with open_compliance(args.config) as comp:
        register = TrainingRegister.from_context(comp.context)
        dossier = build_dossier(register, provider=comp.provider,
                                filing=comp.settings.get("filing", {}))
        paths = write_dossier(dossier, args.output)
    for path in paths:
        print(f"wrote {path}")
    if dossier.missing:
        print(f"{len(dossier.missing)} items missing:")
        for item in dossier.missing:
            print(f"  - {item['item']}: {item['how']}")
        return 1
    print("dossier complete")
    return 0


def _cmd_deadline(args: argparse.Namespace) -> int:
    from ..training import filing_deadline

    event = filing_deadline(args.kind, dt.date.fromisoformat(args.date))
    print(f"{args.kind} on {event.event_date}: file by {event.due} "
          f"({event.working_days} working days, ARP-24)")
    return 0


def register(sub: Any) -> None:
    assess = sub.add_parser("assess", help="does the law apply; which duties, filings and "
                                           "licences (interactive or --answers FILE.toml)")
    assess.add_argument("--answers", help="TOML file of yes/no answers ([answers] table)")
    assess.add_argument("--interactive", action="store_true", help="ask even without a tty")
    assess.add_argument("--record", metavar="CONFIG", help="keep the result in the register "
                                                           "of this compliance.toml")
    assess.add_argument("--json", action="store_true")
    assess.set_defaults(func=_cmd_assess)

    dossier = sub.add_parser("dossier", help="the filing / security-assessment dossier")
    dsub = dossier.add_subparsers(dest="dossier_command", metavar="ACTION")
    dsub.required = True
    build = dsub.add_parser("build", help="write dossier.json, .md and .html; list what is "
                                          "missing (exit 1 when anything is)")
    build.add_argument("-o", "--output", required=True, help="folder to write into")
    build.add_argument("--config", default="compliance.toml")
    build.set_defaults(func=_cmd_dossier)

    filing = sub.add_parser("filing", help="algorithm-filing deadlines")
    fsub = filing.add_subparsers(dest="filing_command", metavar="ACTION")
    fsub.required = True
    deadline = fsub.add_parser("deadline", help="due date of a launch/change/cancel filing")
    deadline.add_argument("kind", choices=["launch", "change", "cancel"])
    deadline.add_argument("date", help="date of the event, YYYY-MM-DD")
    deadline.set_defaults(func=_cmd_deadline)
