"""``genai-compliance`` (also ``python -m genai_compliance``).

Each duty adds its sub-commands from a ``_cli`` module with ``register(subparsers)``; the
modules are listed here literally (:data:`COMMAND_MODULES`). Exit codes: 0 success, 1 a
finding (a ledger that does not verify, flagged content, …), 2 a usage or input error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .errors import ComplianceError
from .rules import _as_json

__all__ = ["COMMAND_MODULES", "main"]

#: Modules contributing sub-commands, each with ``register(subparsers) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "genai_compliance.labelling._cli",
    "genai_compliance.crypto._cli",
    "genai_compliance.consent._cli",
    "genai_compliance.agreements._cli",
    "genai_compliance.minors._cli",
    "genai_compliance.moderation._cli",
    "genai_compliance.incidents._cli",
    "genai_compliance.training._cli",
    "genai_compliance.reports._cli",
    "genai_compliance._config_cli",
)



def _parse_time(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time like 2026-01-31 or 2026-01-31T08:00:00+08:00"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _cmd_rules(args: argparse.Namespace) -> int:
    rows = _as_json()
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    missing = [r for r in rows if not r["implemented_by"]]
    for row in rows:
        impl = ", ".join(row["implemented_by"]) or "— none yet"
        print(f"{row['id']:<18} {row['summary'][:70]}")
        print(f"{'':<18} implemented by: {impl}")
    print(f"\n{len(rows) - len(missing)} of {len(rows)} rules have an implementation; "
          f"none yet: {', '.join(r['id'] for r in missing) or '-'}")
    return 0


def _open_ledger(uri: str) -> Any:
    from .ledger import Ledger

    return Ledger(uri)


def _cmd_ledger_verify(args: argparse.Namespace) -> int:
    from .crypto import load_ed25519_public

    key = load_ed25519_public(args.public_key) if args.public_key else None
    ledger = _open_ledger(args.uri)
    try:
        report = ledger.verify(key)
    finally:
        ledger.db.close()
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        span = (f"seq {report.first_seq}..{report.last_seq}" if report.records else "empty")
        keys = ", ".join(report.key_ids) or "-"
        pin = "pinned key" if report.pinned_key else "keys recorded in the ledger"
        print(f"records: {report.records} ({span}); checkpoints: {report.checkpoints}; "
              f"signed by {keys} ({pin})")
        if report.ok:
            print("ledger intact")
        else:
            print(f"ledger NOT intact: first bad sequence number {report.first_bad_seq}: "
                  f"{report.problem}")
    return 0 if report.ok else 1


def _cmd_ledger_export(args: argparse.Namespace) -> int:
    ledger = _open_ledger(args.uri)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    count = 0
    try:
        for record in ledger.records(kind=args.kind, since=args.since, until=args.until):
            out.write(json.dumps(record.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    finally:
        ledger.db.close()
        if out is not sys.stdout:
            out.close()
    print(f"exported {count} records", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genai-compliance",
        description="Compliance tooling for generative-AI services (Interim Measures, "
        "GB 45438 labels, PIPL, minors, moderation, C2PA).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    rules = sub.add_parser("rules", help="list obligation IDs and the code implementing each")
    rules.add_argument("--json", action="store_true", help="print JSON")
    rules.set_defaults(func=_cmd_rules)

    ledger = sub.add_parser("ledger", help="verify or export the tamper-evident ledger")
    lsub = ledger.add_subparsers(dest="ledger_command", metavar="ACTION")
    lsub.required = True
    verify = lsub.add_parser("verify", help="check the hash chain and signed checkpoints")
    verify.add_argument("uri", help="ledger URI, e.g. sqlite:////path/ledger.db")
    verify.add_argument("--public-key", help="PEM public key the checkpoints must be signed by")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=_cmd_ledger_verify)
    export = lsub.add_parser("export", help="write records as JSON Lines")
    export.add_argument("uri")
    export.add_argument("--kind", help="only this kind (a prefix: 'consent' matches 'consent.*')")
    export.add_argument("--since", type=_parse_time, help="from this time (inclusive)")
    export.add_argument("--until", type=_parse_time, help="until this time (exclusive)")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    export.set_defaults(func=_cmd_ledger_export)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ComplianceError as exc:
        print(f"genai-compliance: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
