"""``genai-compliance report``."""

from __future__ import annotations

import argparse
import json
import os
import tempfile

__all__ = ["register"]


def _cmd_report(args: argparse.Namespace) -> int:
    from ..crypto import load_ed25519_public
    from ..reports import build_report

    key = load_ed25519_public(args.public_key) if args.public_key else None
    deadlines: list[dict[str, object]] = []
    if args.config:
        from ._open import open_compliance

        with open_compliance(args.config) as comp:
            deadlines = [item.to_json() for item in comp.privacy.schedule()]
    page, data = build_report(args.ledger, public_key=key, provider=args.provider,
                              deadlines=deadlines)
    folder = os.path.dirname(os.path.abspath(args.output))
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, delete=False,
                                     suffix=".tmp") as tmp:
        tmp.write(page)
    os.replace(tmp.name, args.output)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(data.to_json(), out, ensure_ascii=False, indent=2)
    state = "intact" if data.integrity["ok"] else "NOT intact"
    overdue = sum(1 for d in data.deadlines if d.get("status") == "overdue")
    print(f"wrote {args.output}: {data.totals.get('calls', 0)} guarded calls, "
          f"{data.integrity['records']} records, ledger {state}"
          + (f", {overdue} PIPL deadline(s) overdue" if overdue else ""))
    return 0 if data.integrity["ok"] and not overdue else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("report", help="write the self-contained HTML compliance report")
    parser.add_argument("--ledger", required=True, help="ledger URI (sqlite:///… or postgresql://…)")
    parser.add_argument("-o", "--output", required=True, help="HTML file to write")
    parser.add_argument("--json", help="also write the aggregated data as JSON here")
    parser.add_argument("--public-key", help="PEM key the ledger checkpoints must be signed by")
    parser.add_argument("--provider", help="provider name shown in the header")
    parser.add_argument("--config", help="compliance.toml: adds the privacy duty's deadlines "
                                         "(breach notices, audits, PIPIA); an overdue one "
                                         "makes the exit code 1")
    parser.set_defaults(func=_cmd_report)
