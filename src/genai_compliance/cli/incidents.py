"""``genai-compliance incidents export|verify-bundle|report`` and ``complaints list|alerts``.

Exit codes: 0 ok, 1 a finding (an invalid bundle, overdue complaints), 2 usage or input error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._args import config_or_ledger

if TYPE_CHECKING:
    from ..config import Provider
    from ..crypto import Ed25519Signer
    from ..incidents import Incidents

__all__ = ["register"]


@contextlib.contextmanager
def _open(args: argparse.Namespace) -> Iterator[tuple[Incidents, Provider | None]]:
    """(incidents, provider) from ``--config`` or from ``--ledger`` alone."""
    if getattr(args, "ledger", None):
        from ..clock import zone
        from ..incidents import Incidents
        from ..ledger import Ledger

        ledger = Ledger(args.ledger)
        inc = Incidents(ledger.db, ledger, clock=ledger.clock, tz=zone(args.timezone))
        try:
            yield inc, None
        finally:
            inc.close()
            ledger.close()
        return
    from ._open import open_compliance

    with open_compliance(args.config) as comp:
        yield comp.incidents, comp.provider


def _when(text: str | None, tz: dt.tzinfo, default: dt.datetime) -> dt.datetime:
    from ..errors import ConfigurationError

    if not text:
        return default
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigurationError(f"{text!r} is not an ISO date or date-time",
                                 field="since", value=text) from exc
    return value if value.tzinfo else value.replace(tzinfo=tz)


def _signing_key(args: argparse.Namespace, incidents: Incidents) -> Ed25519Signer:
    if args.signing_key:
        from ..crypto import load_ed25519_private

        return load_ed25519_private(args.signing_key)
    return incidents.ledger.signer


def _cmd_export(args: argparse.Namespace) -> int:
    from ..crypto import public_pem
    from ..incidents import incident_report, periodic_summary, write_bundle

    with _open(args) as (inc, provider):
        now = inc.clock.now()
        until = _when(args.until, inc.tz, now)
        since = _when(args.since, inc.tz, until - dt.timedelta(days=30))
        docs: dict[str, Any] = {
            "periodic-summary.json": periodic_summary(inc, provider=provider, since=since,
                                                      until=until),
            "complaints.json": inc.complaints.export(),
        }
        for rec in inc.ledger.records(kind="incident.illegal_content", since=since,
                                      until=until):
            case = rec.payload["case"]
            docs[f"incident-report-{case}.json"] = incident_report(inc, provider=provider,
                                                                   case=case)
        for si in inc.security_incidents():
            if since <= si.detected_at < until:
                docs[f"incident-report-{si.id}.json"] = incident_report(inc, provider=provider,
                                                                        case=si.id)
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        for name, doc in docs.items():
            (out / name).write_text(json.dumps(doc, ensure_ascii=False, indent=2,
                                               sort_keys=True) + "\n", encoding="utf-8")
        key = _signing_key(args, inc)
        bundle = write_bundle(out / f"bundle.{args.format}", docs, key, created=now)
        (out / "signer.pub.pem").write_bytes(public_pem(key.public_key()))
    print(f"wrote {len(docs)} documents to {out} and the signed bundle {bundle} "
          f"(public key: {out / 'signer.pub.pem'})")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from ..crypto import load_ed25519_public
    from ..errors import SigningError
    from ..incidents import verify_bundle

    try:
        names = verify_bundle(args.bundle, load_ed25519_public(args.public_key))
    except SigningError as exc:
        print(f"bundle NOT valid: {exc}")
        return 1
    print("bundle valid: " + ", ".join(names))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ..incidents import incident_report

    with _open(args) as (inc, provider):
        doc = incident_report(inc, provider=provider, case=args.case)
    json.dump(doc, sys.stdout, ensure_ascii=False, indent=2, sort_keys=True)
    print()
    return 0


def _cmd_complaints(args: argparse.Namespace) -> int:
    with _open(args) as (inc, _provider):
        items = inc.complaints.find(overdue=args.overdue, status=args.status)
        today = inc.clock.now().astimezone(inc.tz).date()
    if args.json:
        json.dump([c.to_json() for c in items], sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        for c in items:
            late = "  OVERDUE" if c.overdue(today) else ""
            print(f"{c.id}  {c.status:<13} due {c.due}  {c.channel}/{c.category}{late}")
    return 1 if args.overdue and items else 0


def _cmd_alerts(args: argparse.Namespace) -> int:
    with _open(args) as (inc, _provider):
        fresh = inc.complaints.overdue_alerts()
    for c in fresh:
        print(f"OVERDUE {c.id}  {c.status}  due {c.due}")
    return 1 if fresh else 0


def _source(p: argparse.ArgumentParser) -> None:
    config_or_ledger(p, with_ledger="the provider block is then left empty")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    inc = sub.add_parser("incidents", help="reports for the authority (IM-14, IM-15, CSL-INC)")
    isub = inc.add_subparsers(dest="incidents_command", metavar="ACTION")
    isub.required = True
    export = isub.add_parser("export", help="periodic summary, complaints, incident reports "
                             "and a signed bundle")
    _source(export)
    export.add_argument("-o", "--output", required=True, help="folder to write to")
    export.add_argument("--since", help="start of the period (default: 30 days before --until)")
    export.add_argument("--until", help="end of the period (default: now)")
    export.add_argument("--format", choices=("zip", "tar"), default="zip")
    export.add_argument("--signing-key", help="Ed25519 private key PEM (default: the ledger's)")
    export.set_defaults(func=_cmd_export)
    verify = isub.add_parser("verify-bundle", help="check a bundle's signature and hashes "
                             "(exit 1 when it does not verify)")
    verify.add_argument("bundle")
    verify.add_argument("--public-key", required=True, help="the signer's public key PEM")
    verify.set_defaults(func=_cmd_verify)
    report = isub.add_parser("report", help="print one incident report as JSON")
    _source(report)
    report.add_argument("case", help="case-… or SI-…")
    report.set_defaults(func=_cmd_report)

    comp = sub.add_parser("complaints", help="the complaint desk (IM-15)")
    csub = comp.add_subparsers(dest="complaints_command", metavar="ACTION")
    csub.required = True
    lst = csub.add_parser("list", help="list complaints")
    _source(lst)
    lst.add_argument("--overdue", action="store_true", help="only overdue ones (exit 1 if any)")
    lst.add_argument("--status", help="only this status")
    lst.add_argument("--json", action="store_true", help="complaint.schema.json documents")
    lst.set_defaults(func=_cmd_complaints)
    alerts = csub.add_parser("alerts", help="record and print new overdue alerts (exit 1 if "
                             "any); run from a scheduler")
    _source(alerts)
    alerts.set_defaults(func=_cmd_alerts)
