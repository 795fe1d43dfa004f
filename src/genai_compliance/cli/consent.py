"""``genai-compliance consent purposes|export|verify-receipt``."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def _cmd_purposes(args: argparse.Namespace) -> int:
    from ..consent import DEFAULT_PURPOSES

    for p in DEFAULT_PURPOSES:
        flag = "separate" if p.separate else "        "
        need = "required" if p.is_required else "optional"
        print(f"{p.name:<18} {need}  {flag}  {p.zh} / {p.en}  ({p.legal_ref})")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from ..subject import Subject
    from ._open import open_compliance

    with open_compliance(args.config) as comp:
        data = comp.consent.export_subject(Subject(args.user))
    print(json.dumps(data, ensure_ascii=False, indent=2))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from ..consent import verify_receipt
    from ..crypto import load_ed25519_public
    from ..errors import SigningError

    with open(args.receipt, encoding="utf-8") as fh:
        token = fh.read().strip()
    try:
        claims = verify_receipt(token, load_ed25519_public(args.public_key))
    except SigningError as exc:
        print(f"receipt NOT valid: {exc}")
        return 1
    print(json.dumps(claims, ensure_ascii=False, indent=2))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consent = sub.add_parser("consent", help="consent purposes, exports and receipts")
    csub = consent.add_subparsers(dest="consent_command", metavar="ACTION")
    csub.required = True
    csub.add_parser("purposes", help="list the default purposes").set_defaults(
        func=_cmd_purposes)
    export = csub.add_parser("export", help="everything held on a subject, as JSON (PIPL 45)")
    export.add_argument("user")
    export.add_argument("--config", default="compliance.toml")
    export.set_defaults(func=_cmd_export)
    verify = csub.add_parser("verify-receipt", help="verify a consent receipt (JWS)")
    verify.add_argument("receipt", help="file holding the compact JWS")
    verify.add_argument("--public-key", required=True, help="PEM public key")
    verify.set_defaults(func=_cmd_verify)
