"""``genai-compliance assess``, ``dossier build`` and ``filing deadline``.

``assess`` exits 0 when it concludes with no blocker and no checked obligation unmet, 1 when
the answers are incomplete (it lists what is missing) or it found a blocker or an unmet
obligation, 2 for a file it cannot read or answers of the wrong form (one line on stderr).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tomllib
from collections.abc import Mapping
from typing import Any

__all__ = ["register"]

_YES = ("y", "yes", "是", "1", "true")
_NO = ("n", "no", "否", "0", "false")


def _ask(question: Any) -> Any:
    """Ask one question on the terminal until the reply fits its kind."""
    while True:
        if question.kind == "choice":
            reply = input(f"{question.zh}\n{question.en} [{'/'.join(question.choices)}] "
                          ).strip()
            if reply in question.choices:
                return reply
            print(f"please answer one of {', '.join(question.choices)}")
            continue
        if question.kind == "text":
            return input(f"{question.zh}\n{question.en} (empty: none yet) ").strip()
        reply = input(f"{question.zh}\n{question.en} [y/n] ").strip().lower()
        if reply in _YES:
            return True
        if reply in _NO:
            return False
        print("please answer y or n")


def _load_answers(path: str) -> dict[str, Any]:
    """The answers of a TOML file: its ``[answers]`` table, or the whole file."""
    from ..errors import ConfigurationError

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"answers file {path!r} is not valid TOML ({exc}); write "
                                 "an [answers] table of key = value lines (see "
                                 "docs/training.md, Applicability)", field="answers",
                                 path=path) from exc
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"answers file {path!r} is not UTF-8 text; pass the TOML "
                                 "answers file", field="answers", path=path) from exc
    if "answers" in data:
        extra = sorted(set(data) - {"answers"})
        if extra or not isinstance(data["answers"], Mapping):
            raise ConfigurationError(
                f"answers file {path!r}: put every answer inside the [answers] table (found "
                f"{', '.join(extra) or 'answers that is not a table'} beside it)",
                field="answers", path=path, value=extra)
        return dict(data["answers"])
    return dict(data)


def _answer_line(missing: Any) -> str:
    question = {q.id: q for q in _questions()}[missing.question]
    if question.kind == "choice":
        value = " | ".join(f'"{c}"' for c in question.choices)
    elif question.kind == "text":
        value = '"…"'
    else:
        value = "true | false"
    return f"  {missing.question} = {value}    # {missing.en} — {missing.reason}"


def _questions() -> Any:
    from ..training import QUESTIONS

    return QUESTIONS


def _print_assessment(result: Any) -> None:
    if not result.complete:
        print(f"Assessment incomplete: {len(result.missing)} answer"
              f"{'' if len(result.missing) == 1 else 's'} missing, nothing concluded. Add "
              "them to the [answers] table:")
        for item in result.missing:
            print(_answer_line(item))
        return
    print(f"Interim Measures apply: {'YES' if result.applies else 'no'} — "
          f"{result.scope_reason} ({', '.join(result.scope_rules)})")
    for blocker in result.blockers:
        print(f"BLOCKER: {blocker.title} ({', '.join(blocker.rules)})")
        print(f"    {blocker.why}")
    marks = {"open": "[ ]", "met": "[x]", "not met": "[!] NOT MET", "": "-"}
    headings = {"filing": "Filing route", "obligation": "Obligations",
                "data-law": "Data laws", "licence": "Licences (confirm with counsel)",
                "note": "Notes"}
    for kind, heading in headings.items():
        items = [c for c in result.conclusions if c.kind == kind]
        if not items:
            continue
        print(f"{heading}:")
        for c in items:
            mark = marks[c.status] if kind == "obligation" else "-"
            when = f" — {c.when}" if c.when else ""
            print(f"  {mark} {c.title} ({', '.join(c.rules)}){when}")
            if c.status in ("met", "not met") or kind in ("note", "filing"):
                print(f"      {c.why}")
    if result.duties:
        print("Duties:")
    for duty in result.duties:
        print(f"  [ ] {duty.title}  ({', '.join(duty.rules)}; module: {duty.module})")
    if result.modules:
        print("enable: " + ", ".join(result.modules))


def _cmd_assess(args: argparse.Namespace) -> int:
    from ..errors import ConfigurationError
    from ..training import assess

    if args.answers:
        answers = _load_answers(args.answers)
        result = assess(answers)
    else:
        if not sys.stdin.isatty() and not args.interactive:
            raise ConfigurationError("no --answers file given and standard input is not a "
                                     "terminal; pass --answers FILE.toml (or --interactive)",
                                     field="answers")
        answers = {}
        result = assess(answers)
        by_id = {q.id: q for q in _questions()}
        while not result.complete:  # ask only what the answers so far still need
            question = by_id[result.missing[0].question]
            answers[question.id] = _ask(question)
            result = assess(answers)
        if answers.get("launched") and any("GAI-DISPLAY" in c.rules
                                           for c in result.conclusions):
            number = _ask(by_id["filing_number"])  # the report checks what users see
            if number:
                answers["filing_number"] = number
            answers["displays_filing_number"] = _ask(by_id["displays_filing_number"])
            result = assess(answers)
    if args.record:
        from ..training import TrainingRegister
        from ._open import open_compliance

        with open_compliance(args.record) as comp:
            TrainingRegister.from_context(comp.context).put_document("assessment", "latest",
                                                                result.to_json())
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_assessment(result)
    return 1 if not result.complete or result.findings else 0


def _cmd_dossier(args: argparse.Namespace) -> int:
    from ..reports import implementations
    from ..training import TrainingRegister, build_dossier, write_dossier
    from ._open import open_compliance

    with open_compliance(args.config) as comp:
        register = TrainingRegister.from_context(comp.context)
        filing = dict(comp.settings.get("filing", {}) or {})
        assessment = None
        if (comp.settings.get("interaction", {}) or {}).get("enabled", True):
            assessment = comp.interaction.security_assessment(
                registered_users=filing.pop("registered_users", None),
                monthly_active_users=filing.pop("monthly_active_users", None)).to_json()
        dossier = build_dossier(register, provider=comp.provider, filing=filing,
                                implementations=implementations(),
                                minors=comp.minors.policy.summary(),
                                security_assessment=assessment)
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


def _date(text: str) -> dt.date:
    from ..errors import ConfigurationError

    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigurationError(f"date {text!r} is not a calendar date; write YYYY-MM-DD, "
                                 "e.g. 2026-03-02", field="date", value=text) from exc


def _cmd_deadline(args: argparse.Namespace) -> int:
    from ..training import filing_deadline

    event = filing_deadline(args.kind, _date(args.date))
    print(f"{args.kind} on {event.event_date}: algorithm filing due by {event.due} "
          f"({event.working_days} working days, ARP-24; the generative-AI filing itself comes "
          "before public launch, GAI-FILING)")
    if not event.official:
        print(f"note: the working-day calendar does not know {event.due.year} yet, so this is "
              "the earliest possible date (every day of that year counted); configure "
              f"[complaints.calendar.{event.due.year}] from the State Council notice for the "
              "exact one")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    assess = sub.add_parser("assess", help="does the law apply; blockers, the filing route, "
                                           "obligations, licences and duties (interactive or "
                                           "--answers FILE.toml); exit 1 when incomplete or "
                                           "a blocker is found")
    assess.add_argument("--answers", help="TOML file of answers ([answers] table; keys in "
                                          "schemas/assess-answers.schema.json)")
    assess.add_argument("--interactive", action="store_true", help="ask even without a tty")
    assess.add_argument("--record", metavar="CONFIG", help="keep the result in the register "
                                                           "of this compliance.toml")
    assess.add_argument("--json", action="store_true",
                        help="print the assess-result.schema.json document")
    assess.set_defaults(func=_cmd_assess)

    dossier = sub.add_parser("dossier", help="the filing / security-assessment dossier")
    dsub = dossier.add_subparsers(dest="dossier_command", metavar="ACTION")
    dsub.required = True
    build = dsub.add_parser("build", help="write dossier.json, .md and .html; list what is "
                                          "missing (exit 1 when anything is)")
    build.add_argument("-o", "--output", required=True, help="folder to write into")
    build.add_argument("--config", default="compliance.toml")
    build.set_defaults(func=_cmd_dossier)

    filing = sub.add_parser("filing", help="algorithm-filing deadlines (ARP-24)")
    fsub = filing.add_subparsers(dest="filing_command", metavar="ACTION")
    fsub.required = True
    deadline = fsub.add_parser("deadline", help="due date of the algorithm filing after a "
                                                "launch/change/cancel")
    deadline.add_argument("kind", choices=["launch", "change", "cancel"])
    deadline.add_argument("date", help="date of the event, YYYY-MM-DD")
    deadline.set_defaults(func=_cmd_deadline)
