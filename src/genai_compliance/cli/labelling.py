"""``genai-compliance label``, ``inspect`` and ``producer-code`` (LM-4, LM-5, LM-6).

Exit codes of ``inspect`` (the GB 45438 verdict only; the C2PA state is printed beside it
and never changes the code): 0 every file compliant; 1 some file non-compliant or
not-found; 3 no file non-compliant/not-found but some inconclusive (no claim either way);
2 a usage or input error (one line on stderr). ``label`` exits 0 on success, 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register"]


def _cmd_label(args: argparse.Namespace) -> int:
    from genai_compliance.errors import ConfigurationError
    from genai_compliance.labelling.aigc import AIGCLabel, validate_producer_code

    if not args.producer_name:
        validate_producer_code(args.producer)
    label = AIGCLabel(label=args.label, content_producer=args.producer,
                      produce_id=args.produce_id)
    signing = args.sign or args.cert or args.key or args.p12
    if not args.explicit and not signing:
        from genai_compliance.labelling.implicit import label_file
        from genai_compliance.labelling.pipeline import MANIFEST_BROKEN, _has_manifest

        signed_input = _has_manifest(args.input)
        fmt = label_file(args.input, args.output, label, format=args.format)
        print(f"{args.output}: implicit label written ({fmt})")
        if signed_input:
            print(f"warning: {MANIFEST_BROKEN}", file=sys.stderr)
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
                                 sign=bool(signing), format=args.format)
    extra = " + explicit" if result.explicit else ""
    signed = f" + C2PA ({'sidecar' if result.sidecar else 'embedded'})" if result.signed else ""
    parent = " (the input's manifest kept as parent ingredient)" if result.parent_ingredient \
        else ""
    print(f"{result.dst}: implicit{extra}{signed} label written ({result.mime}){parent}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _cmd_producer_code(args: argparse.Namespace) -> int:
    from genai_compliance.labelling.aigc import producer_code

    print(producer_code(args.uscc, args.service_type, args.model))
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from genai_compliance.labelling.inspect import inspect

    worst = 0
    docs: list[Any] = []
    for path in args.files:
        report = inspect(path, trust_anchors=args.trust_anchors)
        code = {"compliant": 0, "inconclusive": 3}.get(report.verdict, 1)
        worst = 1 if 1 in (worst, code) else max(worst, code)
        if args.json:
            docs.append(json.loads(report.to_json()))
            continue
        print(f"{path}: {report.verdict} (format {report.format or '?'}"
              f"{', tier ' + report.tier if report.tier else ''})")
        for lab in report.labels:
            print(f"  {lab.carrier}: {lab.raw}")
        for problem in report.problems:
            print(f"  problem: {problem}")
        if report.damage:
            print(f"  damage: {report.damage}")
        for note in report.notes:
            print(f"  note: {note}")
        if report.c2pa is not None:
            c = report.c2pa
            where = f" remote={c['remote_url']} (not fetched)" if c.get("remote_url") else ""
            print(f"  C2PA (beside the verdict): valid={c['valid']} trusted={c['trusted']} "
                  f"tampered={c['tampered']} signer={c['signer']}{where}")
            for problem in c.get("problems") or []:
                print(f"  C2PA problem: {problem}")
    if args.json:
        json.dump(docs if len(docs) != 1 else docs[0], sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    return worst


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``label`` and ``inspect``."""
    p = sub.add_parser("label", help="embed the GB 45438 implicit label (and optionally an "
                       "explicit label and a C2PA signature) into a file")
    p.add_argument("input", metavar="IN")
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    p.add_argument("--producer", required=True, help="ContentProducer: the 27-character "
                   "producer code (TC260-PG-20252A; build it with `genai-compliance "
                   "producer-code`), checked including the USCC check character")
    p.add_argument("--producer-name", action="store_true", help="--producer is the "
                   "provider's name, not a code (GB 45438 Annex E allows either)")
    p.add_argument("--format", default=None, metavar="NAME", help="the implicit-label "
                   "handler to use instead of sniffing, e.g. markdown for a Markdown file "
                   "without front matter")
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
                       " exit 0 all compliant, 1 some non-compliant/not-found, 3 some "
                       "inconclusive")
    i.add_argument("files", nargs="+", metavar="FILE")
    i.add_argument("--json", action="store_true")
    i.add_argument("--trust-anchors", default=None, metavar="PEM")
    i.set_defaults(func=_cmd_inspect)

    c = sub.add_parser("producer-code", help="build the 27-character ContentProducer code "
                       "(TC260-PG-20252A) from the USCC and model code")
    c.add_argument("--uscc", required=True, help="18-character unified social credit code")
    c.add_argument("--model", required=True, help="4-character model code [0-9A-Z]")
    c.add_argument("--service-type", default="1", choices=("1", "2"),
                   help="1 = generation service (default), 2 = propagation platform")
    c.set_defaults(func=_cmd_producer_code)
