"""``genai-compliance incidents export|verify-bundle`` and ``complaints list``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _cmd_export(args: argparse.Namespace) -> int:
    from ..compliance import Compliance
    from . import periodic_summary, write_bundle

    comp = Compliance.from_toml(args.config)
    try:
        now = comp.clock.now()
        since = (dt.datetime.fromisoformat(args.since) if args.since
                 else now - dt.timedelta(days=30))
        if since.tzinfo is None:
            since = since.replace(tzinfo=comp.tz)
        docs: dict[str, Any] = {
            "periodic-summary.json": periodic_summary(comp.incidents, provider=comp.provider,
                                                      since=since, until=now),
            "complaints.json": [c.to_json() for c in comp.incidents.complaints()],
        }
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        for name, doc in docs.items():
            (out / name).write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n",
                                    encoding="utf-8")
        bundle = write_bundle(out / "bundle.zip", docs, comp.ledger._key_obj)
    finally:
        comp.close()
    print(f"wrote {len(docs)} documents and the signed bundle {bundle}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from ..crypto import load_ed25519_public
    from ..errors import SigningError
    from . import verify_bundle

    try:
        names = verify_bundle(args.bundle, load_ed25519_public(args.public_key))
    except SigningError as exc:
        print(f"bundle NOT valid: {exc}")
        return 1
    print("bundle valid: " + ", ".join(names))
    return 0


def _cmd_complaints(args: argparse.Namespace) -> int:
    from ..compliance import Compliance

    comp = Compliance.from_toml(args.config)
    try:
        items = comp.incidents.complaints(overdue=args.overdue)
    finally:
        comp.close()
    for c in items:
        print(f"{c.id}  {c.status:<13} due {c.due}  {c.channel}/{c.category}")
    return 1 if args.overdue and items else 0


def register(sub: Any) -> None:
    inc = sub.add_parser("incidents", help="reports for the authority")
    isub = inc.add_subparsers(dest="incidents_command", metavar="ACTION")
    isub.required = True
    export = isub.add_parser("export", help="periodic summary, complaints and a signed bundle")
    export.add_argument("-o", "--output", required=True)
    export.add_argument("--config", default="compliance.toml")
    export.add_argument("--since", help="start of the period (default: 30 days ago)")
    export.set_defaults(func=_cmd_export)
    verify = isub.add_parser("verify-bundle", help="check a bundle's signature and hashes")
    verify.add_argument("bundle")
    verify.add_argument("--public-key", required=True)
    verify.set_defaults(func=_cmd_verify)
    comp = sub.add_parser("complaints", help="list complaints (IM-15)")
    csub = comp.add_subparsers(dest="complaints_command", metavar="ACTION")
    csub.required = True
    lst = csub.add_parser("list")
    lst.add_argument("--overdue", action="store_true", help="only overdue (exit 1 if any)")
    lst.add_argument("--config", default="compliance.toml")
    lst.set_defaults(func=_cmd_complaints)
