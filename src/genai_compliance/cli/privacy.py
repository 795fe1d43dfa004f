"""``genai-compliance privacy breach|audit|pipia|schedule`` (PIPL Art. 54–57).

``--config FILE`` opens the privacy duty of a ``compliance.toml``; ``--ledger URI`` opens
only the ledger (its database holds the tables) with the ``[privacy]`` section of
``--settings FILE``. Errors are :class:`~genai_compliance.ComplianceError` subclasses, which
``cli.main`` prints as one line with exit code 2. Exit codes: 0 ok, 1 a finding
(``schedule --due`` or ``pipia missing`` with something to do), 2 usage or input error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ._args import aware_time, config_or_ledger, iso_date
from ._open import open_compliance

if TYPE_CHECKING:
    from ..privacy import Privacy

__all__ = ["register"]


def _settings_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path!r} is not valid TOML: {exc}", field="settings",
                                 path=path) from exc
    section = data.get("privacy", data)
    return dict(section) if isinstance(section, dict) else {}


@contextlib.contextmanager
def _opened(args: argparse.Namespace) -> Iterator[Privacy]:
    if not getattr(args, "ledger", None):
        with open_compliance(args.config) as comp:
            yield comp.privacy
        return
    from ..clock import zone
    from ..ledger import Ledger
    from ..privacy import Privacy

    ledger = Ledger(args.ledger)
    try:
        privacy = Privacy(ledger.db, ledger, clock=ledger.clock, tz=zone(args.timezone),
                          settings=_settings_file(args.settings))
        yield privacy
        privacy.close()
    finally:
        ledger.close()


def _print(doc: Any) -> int:
    json.dump(doc, sys.stdout, ensure_ascii=False, indent=2, sort_keys=True)
    print()
    return 0


def _source(p: argparse.ArgumentParser) -> None:
    config_or_ledger(p, with_ledger="the tables live in its database")
    p.add_argument("--settings", help="with --ledger: a TOML file with the [privacy] section")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``privacy`` and its actions to ``sub``."""

    def run(fn: Callable[[Privacy, argparse.Namespace], int]) -> Callable[
            [argparse.Namespace], int]:
        def call(args: argparse.Namespace) -> int:
            with _opened(args) as privacy:
                return fn(privacy, args)
        return call

    top = sub.add_parser("privacy", help="PI breaches, compliance audits, PIPIAs and their "
                         "deadlines (PI-57, PI-AUDIT, PI-55/56)")
    psub = top.add_subparsers(dest="privacy_command", metavar="AREA")
    psub.required = True

    breach = psub.add_parser("breach", help="the PI-breach workflow (PIPL Art. 57)")
    bsub = breach.add_subparsers(dest="breach_command", metavar="STEP")
    bsub.required = True
    p = bsub.add_parser("open", help="open a breach")
    _source(p)
    p.add_argument("summary")
    p.add_argument("--pi-kind", action="append", required=True, dest="pi_kinds",
                   help="a kind of PI involved (repeat)")
    p.add_argument("--individuals", type=int, required=True, help="how many (an estimate)")
    p.add_argument("--event", action="append", choices=("leak", "falsification", "loss"),
                   dest="events", help="what happened (repeat; default leak)")
    p.add_argument("--may-have", action="store_true", help="may have happened, not certain")
    p.add_argument("--sensitive", action="store_true", help="sensitive PI is involved")
    p.add_argument("--detected-at", type=aware_time, help="when it was detected (default now)")
    p.add_argument("--grade", choices=("general", "relatively-major", "major",
                                       "particularly-major"), help="your grading by the guide")
    p.add_argument("--cause")
    p.add_argument("--possible-harm")
    p.set_defaults(func=run(lambda pr, a: _print(pr.open_breach(
        a.summary, pi_kinds=a.pi_kinds, individuals=a.individuals,
        events=a.events or ("leak",), occurred=not a.may_have, sensitive=a.sensitive,
        detected_at=a.detected_at, grade=a.grade, cause=a.cause,
        possible_harm=a.possible_harm).to_json())))

    p = bsub.add_parser("remediate", help="record the remedial measures taken")
    _source(p)
    p.add_argument("breach")
    p.add_argument("--measure", action="append", required=True, dest="measures")
    p.add_argument("--cause")
    p.add_argument("--possible-harm")
    p.set_defaults(func=run(lambda pr, a: _print(pr.remediate(
        a.breach, a.measures, cause=a.cause, possible_harm=a.possible_harm).to_json())))

    for name, audience in (("notify-authority", "authority"),
                           ("notify-individuals", "individuals")):
        p = bsub.add_parser(name, help=f"notify the {audience}; prints the notice (zh, en)")
        _source(p)
        p.add_argument("breach")
        p.add_argument("--cause")
        p.add_argument("--possible-harm")
        p.add_argument("--individual-measure", action="append", dest="individual_measures",
                       help="what individuals can do to reduce harm (repeat)")
        if audience == "authority":
            p.add_argument("--authority", help="default: privacy.authority")
            p.add_argument("--channel", default="12387", help="how it was reported")
        else:
            p.add_argument("--channel", required=True, help="SMS, e-mail, in-app, …")
            p.add_argument("--recipients", type=int)
        p.set_defaults(func=run(_notify_cmd), audience=audience)

    for name, method in (("exempt", "exempt_individuals"),
                         ("authority-requires-notice", "authority_requires_notice")):
        p = bsub.add_parser(name, help="PIPL Art. 57 ¶2: " + (
            "measures avoid the harm, individuals not notified" if name == "exempt"
            else "the authority requires the individual notice"))
        _source(p)
        p.add_argument("breach")
        p.add_argument("--reason", required=True)
        p.set_defaults(func=run(_reason_cmd), method=method)

    p = bsub.add_parser("close", help="close a notified breach")
    _source(p)
    p.add_argument("breach")
    p.add_argument("--note", default="")
    p.set_defaults(func=run(lambda pr, a: _print(
        pr.close_breach(a.breach, note=a.note).to_json())))

    p = bsub.add_parser("show", help="print a breach, or --notice AUDIENCE its notice text")
    _source(p)
    p.add_argument("breach")
    p.add_argument("--notice", choices=("authority", "individuals"))
    p.add_argument("--lang", choices=("zh", "en"), default="zh")
    p.set_defaults(func=run(_show_cmd))

    audit = psub.add_parser("audit", help="record a PI-protection compliance audit")
    asub = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    asub.required = True
    p = asub.add_parser("record", help="record an audit done")
    _source(p)
    p.add_argument("--completed-on", type=iso_date, required=True)
    p.add_argument("--kind", choices=("internal", "commissioned"), default="internal")
    p.add_argument("--trigger", choices=("periodic", "authority-request"), default="periodic")
    p.add_argument("--auditor", required=True)
    p.add_argument("--scope", default="all personal-information processing")
    p.add_argument("--report-ref")
    p.set_defaults(func=run(lambda pr, a: _print(pr.record_audit(
        completed_on=a.completed_on, kind=a.kind, trigger=a.trigger, auditor=a.auditor,
        scope=a.scope, report_ref=a.report_ref).to_json())))

    pipia = psub.add_parser("pipia", help="PIPIA records (PIPL Art. 55-56)")
    isub = pipia.add_subparsers(dest="pipia_command", metavar="ACTION")
    isub.required = True
    p = isub.add_parser("missing", help="activities without a current PIPIA (exit 1 if any)")
    _source(p)
    p.set_defaults(func=run(_missing_cmd))

    p = psub.add_parser("schedule", help="every deadline: ok / due-soon / overdue")
    _source(p)
    p.add_argument("--due", action="store_true", help="only items to act on (exit 1 if any)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run(_schedule_cmd))


def _notify_cmd(pr: Privacy, a: argparse.Namespace) -> int:
    facts = {"cause": a.cause, "possible_harm": a.possible_harm,
             "individual_measures": a.individual_measures}
    if a.audience == "authority":
        b, notices = pr.notify_authority(a.breach, authority=a.authority, channel=a.channel,
                                         **facts)
    else:
        b, notices = pr.notify_individuals(a.breach, channel=a.channel,
                                           recipients=a.recipients, **facts)
    for n in notices.values():
        print(n.text)
    print(f"{b.id}: steps {', '.join(b.steps)}; next: {', '.join(b.allowed) or '-'}")
    return 0


def _reason_cmd(pr: Privacy, a: argparse.Namespace) -> int:
    step = getattr(pr, a.method)
    return _print(step(a.breach, reason=a.reason).to_json())


def _show_cmd(pr: Privacy, a: argparse.Namespace) -> int:
    if a.notice:
        print(pr.render_notice(a.breach, a.notice)[a.lang].text, end="")
    else:
        _print(pr.breach(a.breach).to_json())
    return 0


def _missing_cmd(pr: Privacy, a: argparse.Namespace) -> int:
    missing = pr.lacking_pipia()
    for act in missing:
        print(f"{act.id}  {act.name}  triggers: {', '.join(act.triggers)}")
    return 1 if missing else 0


def _schedule_cmd(pr: Privacy, a: argparse.Namespace) -> int:
    items = pr.due_items() if a.due else pr.schedule()
    if a.json:
        _print([i.to_json() for i in items])
    else:
        for i in items:
            due = i.due.astimezone(pr.tz).strftime("%Y-%m-%d %H:%M") if i.due else "now"
            print(f"{i.status:<9} {due:<16} {i.rule:<16} {i.what}")
    return 1 if a.due and items else 0
