"""``genai-compliance minors ...``: the policy in force, a minor's usage, guardian requests.

::

    genai-compliance minors policy [--profile draft-2023] [-c compliance.toml] [--json]
    genai-compliance minors usage USER [--birth-date 2013-05-01 | --band 12-16] [--days 7] [--json]
    genai-compliance minors limit USER MINUTES|none --guardian G [--birth-date D | --band B]
    genai-compliance minors windows USER --allow 08:00-12:00 ... | --clear --guardian G
    genai-compliance minors pause USER --guardian G [--until 2026-03-01T08:00:00+08:00]
    genai-compliance minors resume USER --guardian G
    genai-compliance minors exempt USER --minutes N --guardian G [--purpose study] [--curfew]
                                    [--start 2026-03-01T19:00:00+08:00]
    genai-compliance minors exempt USER --end --guardian G

Guardian requests are ledger records (``minors.guardian.*``), as when made through the API.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import ConfigurationError
from ..subject import AgeBand, Guardian, Subject
from ._args import aware_time

__all__ = ["register"]


def _compliance(args: argparse.Namespace) -> Any:
    """The configured Compliance; every caller closes it in a ``finally``."""
    from ..compliance import Compliance

    return Compliance.from_toml(args.config)


def _subject(args: argparse.Namespace) -> Subject:
    guardian = Guardian(args.guardian) if getattr(args, "guardian", None) else None
    return Subject(args.user, birth_date=getattr(args, "birth_date", None),
                   age_band=getattr(args, "band", None), guardian=guardian)


def _cmd_policy(args: argparse.Namespace) -> int:
    from ..minors import MinorPolicy

    if args.config:
        comp = _compliance(args)
        try:
            policy = MinorPolicy.from_settings(comp.settings.get("minors", {}))
        finally:
            comp.close()
    else:
        policy = MinorPolicy.profile(args.profile)
    doc = policy.to_json()
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    print(f"profile: {doc['profile']}")
    for band, minutes in doc["daily_minutes"].items():
        print(f"  {band:<8} {minutes:g} min/day")
    curfew = doc["curfew"]
    print(f"curfew: {'none' if curfew is False else curfew[0] + '-' + curfew[1]} (local time)")
    print(f"rest reminder after {doc['rest_reminder_minutes']:g} min of continuous use; "
          f"a break of {doc['rest_break_minutes']:g} min resets it")
    print(f"unknown age: {doc['unknown_age']} ({policy.unknown_age_meaning}); moderation "
          f"profile for minors: {doc['moderation_profile'] or '(default)'}")
    print("guardians may set the daily limit up to: " + ", ".join(
        f"{band} {minutes:g}" for band, minutes in doc["guardian_max_daily_minutes"].items()))
    print(f"guardian exemptions: at most {doc['exemption_max_minutes']:g} min; the curfew "
          + ("may" if doc["exemption_curfew"] else "may not") + " be lifted")
    return 0


def _cmd_usage(args: argparse.Namespace) -> int:
    comp = _compliance(args)
    try:
        summary = comp.minors.usage(_subject(args), days=args.days)
    finally:
        comp.close()
    doc = summary.to_json()
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    limit = doc["limit_minutes"]
    print(f"{doc['day']} ({doc['timezone']}), band {doc['band'] or 'unknown'}: "
          f"{doc['used_minutes']:g} min used"
          + ("" if limit is None else f" of {limit:g}, {doc['remaining_minutes']:g} left"))
    if doc["paused_until"]:
        print(f"paused until {doc['paused_until']}")
    if doc["allowed_windows"]:
        print("allowed windows: " + ", ".join(doc["allowed_windows"]))
    for day in doc["history"][1:]:
        print(f"  {day['day']}  {day['used_minutes']:g} min")
    return 0


def _guardian_cmd(args: argparse.Namespace) -> int:
    comp = _compliance(args)
    try:
        subject = _subject(args)
        assert subject.guardian is not None
        guardian = subject.guardian
        minors = comp.minors
        if args.minors_command == "limit":
            minutes = None if args.minutes.lower() == "none" else _minutes(args.minutes)
            minors.set_daily_limit(subject, minutes, guardian=guardian)
            print(f"daily limit for {args.user}: "
                  + ("policy default" if minutes is None else f"{minutes:g} min"))
        elif args.minors_command == "windows":
            if args.clear == bool(args.windows):
                raise ConfigurationError("give --allow 08:00-12:00 (one or more), or --clear",
                                         field="windows")
            minors.set_allowed_windows(subject, None if args.clear else args.windows,
                                       guardian=guardian)
            print(f"allowed windows for {args.user}: "
                  + ("any time outside the curfew" if args.clear else ", ".join(args.windows)))
        elif args.minors_command == "exempt":
            if args.end == (args.minutes is not None):
                raise ConfigurationError("give --minutes N for an exemption, or --end to end one",
                                         field="minutes")
            if args.end:
                minors.end_exemption(subject, guardian=guardian)
                print(f"exemption for {args.user} ended")
            else:
                granted = minors.grant_exemption(
                    subject, _minutes(args.minutes), guardian=guardian, purpose=args.purpose,
                    curfew=args.curfew, start=args.start)
                print(f"exemption for {args.user} ({granted.purpose}): "
                      f"{granted.start.isoformat()} to {granted.until.isoformat()}"
                      + (", curfew lifted" if granted.curfew else ""))
        elif args.minors_command == "pause":
            minors.pause(subject, guardian=guardian, until=args.until)
            print(f"paused {args.user}" + (f" until {args.until.isoformat()}"
                                           if args.until else " until resumed"))
        else:
            minors.resume(subject, guardian=guardian)
            print(f"resumed {args.user}")
    finally:
        comp.close()
    return 0


def _minutes(text: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise ConfigurationError(f"MINUTES must be a number or 'none', got {text!r}",
                                 field="minutes", value=text) from exc


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``minors`` and its actions to the ``genai-compliance`` parser."""
    minors = subparsers.add_parser(
        "minors", help="minors' policy, usage and guardian controls (IM-10, MM-final)")
    sub = minors.add_subparsers(dest="minors_command", metavar="ACTION")
    sub.required = True
    bands = [b.value for b in AgeBand]

    def common(p: argparse.ArgumentParser, *, config_default: str | None = "compliance.toml",
               who: bool = True) -> None:
        p.add_argument("-c", "--config", default=config_default,
                       help="compliance.toml (default: %(default)s)")
        if who:
            p.add_argument("user", help="the user id")
            p.add_argument("--birth-date", help="the user's birth date (YYYY-MM-DD)")
            p.add_argument("--band", choices=bands, help="the user's verified age band")

    policy = sub.add_parser("policy", help="show the minors' policy in force")
    common(policy, config_default=None, who=False)
    policy.add_argument("--profile", default="final-2024",
                        choices=["final-2024", "draft-2023"],
                        help="named profile when no --config is given")
    policy.add_argument("--json", action="store_true", help="print JSON")
    policy.set_defaults(func=_cmd_policy)

    usage = sub.add_parser("usage", help="a minor's usage today and recent days")
    common(usage)
    usage.add_argument("--days", type=int, default=7, help="days of history (default 7)")
    usage.add_argument("--json", action="store_true",
                       help="print JSON (schemas/minors-usage.schema.json)")
    usage.set_defaults(func=_cmd_usage)

    limit = sub.add_parser(
        "limit", help="a guardian sets the daily limit (up to guardian_max_daily_minutes)")
    common(limit)
    limit.add_argument("minutes", help="minutes a day, or 'none' for the policy default")
    limit.add_argument("--guardian", required=True, help="the guardian's id")
    limit.set_defaults(func=_guardian_cmd)

    windows = sub.add_parser("windows", help="a guardian sets the hours use is allowed")
    common(windows)
    windows.add_argument("--allow", dest="windows", action="append", default=[],
                         metavar="HH:MM-HH:MM", help="an allowed window (repeat for more)")
    windows.add_argument("--clear", action="store_true", help="remove the restriction")
    windows.add_argument("--guardian", required=True, help="the guardian's id")
    windows.set_defaults(func=_guardian_cmd)

    pause = sub.add_parser("pause", help="a guardian pauses the service for a minor")
    common(pause)
    pause.add_argument("--until", type=aware_time, help="end of the pause (default: until resumed)")
    pause.add_argument("--guardian", required=True, help="the guardian's id")
    pause.set_defaults(func=_guardian_cmd)

    exempt = sub.add_parser(
        "exempt", help="a guardian grants a time-boxed exemption (within the bounds)")
    common(exempt)
    exempt.add_argument("--minutes", help="how long the exemption lasts, in minutes")
    exempt.add_argument("--purpose", default="study", help="what it is for (default: study)")
    exempt.add_argument("--curfew", action="store_true",
                        help="also lift the night curfew (only if exemption_curfew = true)")
    exempt.add_argument("--start", type=aware_time, help="when it starts (default: now)")
    exempt.add_argument("--end", action="store_true", help="end the exemption in force")
    exempt.add_argument("--guardian", required=True, help="the guardian's id")
    exempt.set_defaults(func=_guardian_cmd)

    resume = sub.add_parser("resume", help="a guardian lifts a pause")
    common(resume)
    resume.add_argument("--guardian", required=True, help="the guardian's id")
    resume.set_defaults(func=_guardian_cmd)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: genai-compliance minors ...")
