"""``genai-compliance keys ...``: key material for development.

::

    genai-compliance keys test-ca OUT_DIR [--algorithm es256|es384|ps256|ed25519] [--days 365]
                                          [--force]

writes ``chain.pem`` (leaf then intermediate), ``signing.key`` (PKCS#8),
``trust-anchors.pem`` (the root) and ``root.key`` - a C2PA test CA for tests and
development only (every file says so). An existing test CA in ``OUT_DIR`` is never
overwritten without ``--force`` (exit 2 instead).
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register"]


def _cmd_test_ca(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..crypto import SigningCredentials, create_test_ca
    from ..errors import ConfigurationError

    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigurationError(f"{str(out)!r} exists and is not a folder; name a folder for "
                                 "the test CA", field="out_dir", path=str(out))
    existing = [n for n in ("chain.pem", "signing.key", "trust-anchors.pem", "root.key")
                if (out / n).exists()]
    if existing and not args.force:
        raise ConfigurationError(
            f"{str(out)!r} already holds a test CA ({', '.join(existing)}); replacing it would "
            "lose its root key and invalidate everything signed with it. Pass --force to "
            "replace it, or name another folder", field="out_dir", path=str(out))
    ca = create_test_ca(args.out_dir, algorithm=args.algorithm, days=args.days)
    creds = SigningCredentials.from_pem(ca.chain, ca.key)
    info = {"chain": str(ca.chain), "key": str(ca.key), "trust_anchors": str(ca.trust_anchors),
            "algorithm": creds.algorithm, "signer": creds.subject}
    if args.json:
        print(json.dumps(info))
    else:
        print("TEST CA - for tests and development only, never for published content")
        for name, value in info.items():
            print(f"  {name:<14} {value}")
        print(f"sign:   genai-compliance label IN OUT --sign --cert {ca.chain} --key {ca.key}")
        print(f"verify: genai-compliance inspect OUT --trust-anchors {ca.trust_anchors}",
              file=sys.stdout)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys test-ca``."""
    keys = subparsers.add_parser("keys", help="key material (test CA for C2PA signing)")
    sub = keys.add_subparsers(dest="keys_command", required=True)
    ca = sub.add_parser("test-ca", help="create a C2PA test CA (tests/development only)")
    ca.add_argument("out_dir", metavar="OUT_DIR")
    ca.add_argument("--algorithm", choices=("es256", "es384", "ps256", "ed25519"), default="es256")
    ca.add_argument("--days", type=int, default=365)
    ca.add_argument("--json", action="store_true")
    ca.add_argument("--force", action="store_true",
                    help="replace a test CA already in OUT_DIR (its root key is lost)")
    ca.set_defaults(func=_cmd_test_ca)
