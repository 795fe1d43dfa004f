"""``genai-compliance label`` and ``genai-compliance inspect`` (LM-4, LM-5, LM-6)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register"]


def _cmd_label(args: argparse.Namespace) -> int:
    from genai_compliance.errors import ConfigurationError
    from genai_compliance.labelling.aigc import AIGCLabel

    label = AIGCLabel(label=args.label, content_producer=args.producer,
                      produce_id=args.produce_id)
    signing = args.sign or args.cert or args.key or args.p12
    if not args.explicit and not signing:
        from genai_compliance.labelling.implicit import label_file

        fmt = label_file(args.input, args.output, label)
        print(f"{args.output}: implicit label written ({fmt})")
        return 0
    from genai_compliance.crypto import SigningCredentials
    from genai_compliance.labelling.pipeline import label_file as pipeline_label_file

    credentials = None
    if signing:
        anchors = args.trust_anchors
        if args.p12:
            credentials = SigningCredentials.from_pkcs12(args.p12, args.p12_password,
                                                         trust_anchors=anchors)
        elif args.cert and args.key:
            credentials = SigningCredentials.from_pem(args.cert, args.key,
                                                      trust_anchors=anchors)
        else:
            raise ConfigurationError("--sign needs --cert CHAIN.pem and --key KEY.pem, or "
                                     "--p12 FILE", field="sign")
    result = pipeline_label_file(args.input, args.output, label=label,
                                 explicit=args.explicit, explicit_text=args.text,
                                 position=args.position, credentials=credentials,
                                 sign=bool(signing))
    extra = " + explicit" if result.explicit else ""
    signed = f" + C2PA ({'sidecar' if result.sidecar else 'embedded'})" if result.signed else ""
    print(f"{result.dst}: implicit{extra}{signed} label written ({result.mime})")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from genai_compliance.labelling.inspect import inspect

    ok = True
    docs: list[Any] = []
    for path in args.files:
        report = inspect(path, trust_anchors=args.trust_anchors)
        ok = ok and report.compliant
        if args.json:
            docs.append(json.loads(report.to_json()))
            continue
        print(f"{path}: {report.verdict} (format {report.format or '?'}"
              f"{', tier ' + report.tier if report.tier else ''})")
        for lab in report.labels:
            print(f"  {lab.carrier}: {lab.raw}")
        for problem in report.problems:
            print(f"  problem: {problem}")
        if report.c2pa is not None:
            c = report.c2pa
            print(f"  C2PA: valid={c['valid']} trusted={c['trusted']} "
                  f"tampered={c['tampered']} signer={c['signer']}")
    if args.json:
        json.dump(docs if len(docs) != 1 else docs[0], sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    return 0 if ok else 1


def register(sub: Any) -> None:
    """Add ``label`` and ``inspect``."""
    p = sub.add_parser("label", help="embed the GB 45438 implicit label (and optionally an "
                       "explicit label and a C2PA signature) into a file")
    p.add_argument("input", metavar="IN")
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    p.add_argument("--producer", required=True, help="ContentProducer (name or 27-char code)")
    p.add_argument("--produce-id", required=True, help="ProduceID (content ID)")
    p.add_argument("--label", default="1", choices=("1", "2", "3"))
    p.add_argument("--explicit", action="store_true", help="also add the visible label")
    p.add_argument("--text", help="explicit label text")
    p.add_argument("--position", default=None, help="explicit label position, e.g. "
                   "bottom-right")
    p.add_argument("--sign", action="store_true", help="sign with C2PA")
    p.add_argument("--cert", help="PEM certificate chain")
    p.add_argument("--key", help="PEM private key")
    p.add_argument("--p12", help="PKCS#12 bundle")
    p.add_argument("--p12-password", default=None)
    p.add_argument("--trust-anchors", default=None, help="PEM bundle of trusted roots")
    p.set_defaults(func=_cmd_label)

    i = sub.add_parser("inspect", help="report the implicit label and C2PA manifest of files;"
                       " exit 1 unless all are compliant")
    i.add_argument("files", nargs="+", metavar="FILE")
    i.add_argument("--json", action="store_true")
    i.add_argument("--trust-anchors", default=None, metavar="PEM")
    i.set_defaults(func=_cmd_inspect)
