"""``genai-compliance config check FILE``: validate a ``compliance.toml`` and print the
pipeline it puts in force (the same one :class:`~genai_compliance.Compliance` records in the
ledger at start-up as ``compliance.pipeline``).

Exit codes: 0 the configuration builds; 2 it does not (the one-line reason on stderr).
Checking opens nothing for writing: the ledger is not created, no key is generated — the
checks are built against a throw-away ledger in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Any

__all__ = ["register"]


def _cmd_check(args: argparse.Namespace) -> int:
    from ..compliance import Compliance
    from ..config import load_config
    from ..stores import redact_uri

    data, base = load_config(args.file)
    data = dict(data)
    with tempfile.TemporaryDirectory(prefix="gc-config-check-") as tmp:
        # validate the real ledger section, but build against a scratch ledger
        real_ledger = dict(data.get("ledger", {}) or {})
        scratch = {k: v for k, v in real_ledger.items() if k in ("checkpoint_every",
                                                                 "retention_days")}
        scratch["uri"] = "sqlite:///" + os.path.join(tmp, "check.db")
        data["ledger"] = scratch
        comp = Compliance.from_dict(data, base=str(base))
        try:
            comp.checks  # noqa: B018 - builds the pipeline exactly as serving would
            pipeline: dict[str, Any] = comp.pipeline()
        finally:
            comp.close()
    pipeline["ledger"] = redact_uri(real_ledger.get("uri") or "sqlite:///" + os.path.join(
        str(base), "genai_compliance.db"))
    pipeline["stores"] = {d: ("(embedded, beside the ledger)" if "gc-config-check-" in u
                              else u) for d, u in pipeline["stores"].items()}
    if args.json:
        json.dump(pipeline, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"{args.file}: OK ({pipeline['mode']}, {pipeline['replicas']} replica(s))")
    print("checks, in order:")
    for i, check in enumerate(pipeline["checks"], 1):
        flag = "  (fail-open)" if check["fail_open"] else ""
        print(f"  {i}. {check['name']:<22} {', '.join(check['rules'])}{flag}")
    print("  then: one guard.call record per call in the ledger")
    if pipeline["disabled"]:
        print(f"switched off: {', '.join(pipeline['disabled'])}")
    print(f"ledger: {pipeline['ledger']}")
    for duty, uri in pipeline["stores"].items():
        print(f"store {duty}: {uri}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``config check``."""
    config = subparsers.add_parser("config", help="check a compliance.toml")
    csub = config.add_subparsers(dest="config_command", metavar="ACTION")
    csub.required = True
    check = csub.add_parser(
        "check", help="validate the file and print the pipeline it puts in force (exit 0 "
        "when it builds, 2 when it does not)")
    check.add_argument("file", help="path of the compliance.toml")
    check.add_argument("--json", action="store_true", help="print the pipeline as JSON")
    check.set_defaults(func=_cmd_check)
