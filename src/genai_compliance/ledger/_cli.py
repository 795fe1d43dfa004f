"""``genai-compliance ledger …``: verify, prove, consistency, verify-proof, export, keys.

``verify``, ``prove``, ``consistency`` and ``export`` open the ledger read-only: they never
create a file, a table or a key. ``verify-proof`` touches no database at all. Exit codes: 0
intact / proven, 1 a finding (not intact, a proof that fails, ``--strict`` unmet), 2 a usage
or input error (no ledger there, an empty or unreadable one, a bad argument).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import ComplianceError, ConfigurationError

__all__ = ["register"]


def _parse_time(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time like 2026-01-31 or 2026-01-31T08:00:00+08:00"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _load_keys(values: Sequence[str] | None) -> list[Ed25519PublicKey]:
    """Public keys from PEM files (public or private), vkey strings or files holding one."""
    from ..crypto import load_ed25519_public
    from ._note import NoteError, parse_vkey

    keys: list[Ed25519PublicKey] = []
    for value in values or ():
        text = value
        if os.path.isfile(value):
            data = Path(value).read_bytes()
            if b"-----BEGIN" in data:
                keys.append(load_ed25519_public(data))
                continue
            text = data.decode("utf-8", "replace").strip()
        try:
            keys.append(parse_vkey(text)[1])
        except NoteError as exc:
            raise ConfigurationError(
                f"--public-key {value!r} is neither a PEM file nor a verifier key "
                f"(name+hash+key): {exc}", field="public-key", value=value) from exc
    return keys


def _out(path: str | None) -> IO[str]:
    return open(path, "w", encoding="utf-8") if path else sys.stdout


def _readonly(uri: str) -> Any:
    from ._verify import ReadOnlyLedger

    return ReadOnlyLedger(uri)


def _cmd_verify(args: argparse.Namespace) -> int:
    from ..errors import LedgerNotFound

    try:
        keys = _load_keys(args.public_key)
        with _readonly(args.uri) as ledger:
            if ledger.is_empty() and not args.checkpoints:
                defaults = ledger.default_witnesses()
                if not any(w.notes(ledger.origin)[0] for w in defaults):
                    raise LedgerNotFound(f"the ledger at {ledger.reader.uri} is empty: it holds "
                                         "no records, so there is nothing to verify",
                                         uri=ledger.reader.uri)
            report = ledger.verify(keys or None, checkpoints=args.checkpoints,
                                   strict=args.strict, interval=args.interval)
    except ComplianceError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": type(exc).__name__, "message": str(exc)}))
        print(f"genai-compliance: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if report.empty:
        message = (f"the ledger at {ledger.reader.uri} is empty: it holds no records, so there "
                   "is nothing to verify")
        if args.json:
            print(json.dumps({"ok": False, "error": "LedgerNotFound", "message": message}))
        print(f"genai-compliance: error: {message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return 0 if report.ok else 1
    print(f"ledger: {ledger.reader.uri} (origin {report.origin or '-'})")
    span = f"seq {report.first_seq}..{report.last_seq}" if report.records else "none left"
    print(f"records: {report.records} ({span}); Merkle tree of {report.tree_size} records, "
          f"root {report.root}")
    if report.checkpoints or report.witnessed:
        if report.newest_checkpoint is not None:
            newest = (f"newest covers {report.newest_checkpoint} records"
                      + (f" at {report.newest_checkpoint_time}"
                         if report.newest_checkpoint_time else ""))
        else:
            newest = "none verified"
        keys_text = ", ".join(report.key_ids)
        if report.pinned_key:
            trust = "the pinned public key" + (" and the keys it handed over to"
                                               if len(report.key_ids) > 1 else "")
        else:
            trust = ("keys recorded in the ledger itself: this proves consistency only; pin "
                     "the key with --public-key")
        signed = f"; signed by {keys_text} ({trust})" if keys_text else ""
        print(f"checkpoints: {report.checkpoints} in the ledger, {newest}{signed}")
    else:
        print("checkpoints: 0 (no signed tree head yet: nothing binds these records)")
    if report.witnesses:
        print(f"witnesses: {report.witnessed} checkpoints compared from "
              + ", ".join(report.witnesses))
    else:
        print("witnesses: none given (--checkpoints DIR): truncation, a wipe or a rollback "
              "after the newest stored checkpoint cannot be detected")
    if report.unprotected:
        print(f"unprotected tail: {report.unprotected} records after the newest checkpoint")
    for warning in report.warnings:
        print(f"warning: {warning}")
    if report.ok:
        print("ledger intact" + (" (strict)" if report.strict else ""))
    else:
        where = ("" if report.first_bad_seq is None
                 else f"first bad sequence number {report.first_bad_seq}: ")
        print(f"ledger NOT intact: {where}{report.problem}")
    return 0 if report.ok else 1


def _write_json(doc: Any, path: str | None) -> None:
    out = _out(path)
    try:
        out.write(json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()


def _cmd_prove(args: argparse.Namespace) -> int:
    from ._proofs import prove_inclusion

    with _readonly(args.uri) as ledger:
        doc = prove_inclusion(ledger.reader, args.seq, size=args.size)
    _write_json(doc, args.output)
    if args.output:
        print(f"inclusion proof of record {args.seq} in the checkpoint of {doc['tree_size']} "
              f"records written to {args.output}", file=sys.stderr)
    return 0


def _cmd_consistency(args: argparse.Namespace) -> int:
    from ._proofs import prove_consistency

    with _readonly(args.uri) as ledger:
        doc = prove_consistency(ledger.reader, args.old, args.new)
    _write_json(doc, args.output)
    if args.output:
        print(f"consistency proof {doc['old_size']} -> {doc['new_size']} written to "
              f"{args.output}", file=sys.stderr)
    return 0


def _cmd_verify_proof(args: argparse.Namespace) -> int:
    from ._proofs import verify_proof

    keys = _load_keys(args.public_key)
    if not keys:
        raise ConfigurationError("verify-proof needs --public-key (the ledger's public key)",
                                 field="public-key")
    try:
        report = verify_proof(args.file, keys)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {args.file!r}: {exc.strerror}", field="file",
                                 path=args.file) from exc
    if args.json:
        print(json.dumps(report.to_json()))
    elif report.ok:
        what = {"inclusion": "record is included in",
                "consistency": "tree extends the older one, as signed in",
                "export": f"{report.records} records are included in"}.get(report.type, "")
        extra = (f" ({report.unproven} records after the checkpoint carry no proof)"
                 if report.unproven else "")
        print(f"proof valid: {what} the checkpoint of {report.size} records of "
              f"{report.origin}, signed by {report.key_id}{extra}")
    else:
        print(f"proof NOT valid ({report.type}): {report.problem}")
    return 0 if report.ok else 1


def _cmd_export(args: argparse.Namespace) -> int:
    from ._proofs import export_records

    with _readonly(args.uri) as ledger:
        out = _out(args.output)
        try:
            count = export_records(ledger.reader, out, kind=args.kind, since=args.since,
                                   until=args.until, proofs=not args.no_proofs)
        finally:
            if out is not sys.stdout:
                out.close()
    print(f"exported {count} records", file=sys.stderr)
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    from ..crypto import generate_ed25519, public_pem
    from ._keys import read_key_file, write_key_file

    if "://" in args.key_file:
        raise ConfigurationError(f"--key-file {args.key_file!r} looks like a URI; a key file is "
                                 "a path such as /etc/genai-compliance/ledger.key",
                                 field="key-file", value=args.key_file)
    if os.path.exists(args.key_file):
        raise ConfigurationError(f"{args.key_file!r} exists; keygen never overwrites a key "
                                 "file (rotate with `ledger rotate-key`)", field="key-file",
                                 path=args.key_file)
    import secrets

    write_key_file(args.key_file, generate_ed25519(), secrets.token_bytes(32))
    material = read_key_file(args.key_file)
    assert material.signer is not None
    pem = public_pem(material.signer.public_key())
    if args.public_key_out:
        Path(args.public_key_out).write_bytes(pem)
    print(f"key file written to {args.key_file} (mode 0600): keep it secret and back it up",
          file=sys.stderr)
    sys.stdout.write(pem.decode())
    return 0


def _cmd_public_key(args: argparse.Namespace) -> int:
    from ..crypto import public_pem
    from ._keys import read_key_file
    from ._note import vkey

    material = read_key_file(args.key_file)
    if material.signer is None:
        raise ConfigurationError(f"{args.key_file!r} holds no signing key", field="key-file")
    public = material.signer.public_key()
    sys.stdout.write(public_pem(public).decode())
    origin = args.origin
    if origin is None and args.uri:
        with _readonly(args.uri) as ledger:
            origin = ledger.origin
    if origin:
        print(vkey(origin, public))
    return 0


def _writable(args: argparse.Namespace) -> Any:
    from ._ledger import Ledger

    options: dict[str, Any] = {}
    if getattr(args, "key_file", None):
        options["key_file"] = args.key_file
    return Ledger(args.uri, **options)


def _cmd_checkpoint(args: argparse.Namespace) -> int:
    ledger = _writable(args)
    try:
        cp = ledger.checkpoint()
    finally:
        ledger.close()
    if cp is None:
        print("the ledger is empty: nothing to sign")
        return 0
    sys.stdout.write(cp.note)
    return 0


def _cmd_rotate(args: argparse.Namespace) -> int:
    ledger = _writable(args)
    try:
        record = ledger.rotate_key(reason=args.reason)
        pem = ledger.public_key()
    finally:
        ledger.close()
    from ..crypto import public_pem

    print(f"rotated to key {record.payload['new_key_id']} in record {record.seq}; give "
          "auditors the new public key:", file=sys.stderr)
    sys.stdout.write(public_pem(pem).decode())
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    """Move a 0.1 ledger's embedded secrets into a key file."""
    from ..crypto import generate_ed25519
    from ._keys import read_key_file, write_key_file

    with _readonly(args.uri) as ledger:
        meta = ledger.reader.meta("pseudonym_secret", "signing_key")
    seed = meta.get("pseudonym_secret")
    if not seed:
        print("the ledger keeps no secrets in its tables: nothing to migrate")
        return 0
    if os.path.exists(args.key_file):
        material = read_key_file(args.key_file)
        if material.secret != seed.encode():
            raise ConfigurationError(
                f"{args.key_file!r} already holds another pseudonym secret; give a new path",
                field="key-file", path=args.key_file)
    else:
        write_key_file(args.key_file, generate_ed25519(), seed.encode())
    from ._ledger import Ledger

    Ledger(args.uri, key_file=args.key_file).close()
    print(f"the signing key and pseudonym secret now live in {args.key_file}; the ledger's "
          "copies are deleted and a rotation record hands over to the new key")
    return 0


def register(subparsers: Any) -> None:
    """Add ``genai-compliance ledger …``."""
    ledger = subparsers.add_parser(
        "ledger", help="verify, prove or export the tamper-evident ledger; manage its keys")
    lsub = ledger.add_subparsers(dest="ledger_command", metavar="ACTION")
    lsub.required = True

    verify = lsub.add_parser("verify", help="check the chain, the Merkle tree and the signed "
                             "checkpoints (read-only)")
    verify.add_argument("uri", help="ledger URI, e.g. sqlite:////path/ledger.db")
    verify.add_argument("--checkpoints", action="append", metavar="DIR|URI",
                        help="witness folder or store holding the ledger's checkpoints "
                        "(repeatable; default: the ledger's default witness folder if any)")
    verify.add_argument("--public-key", action="append", metavar="PEM|VKEY",
                        help="public key the checkpoints must be signed by (repeatable)")
    verify.add_argument("--strict", action="store_true",
                        help="also fail unless the result proves origin: a pinned key, secrets "
                        "outside the ledger, a signed checkpoint, no stale unsigned tail")
    verify.add_argument("--interval", type=float, metavar="SECONDS",
                        help="checkpoint interval the tail is judged by (default: the "
                        "ledger's, else 60)")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=_cmd_verify)

    prove = lsub.add_parser("prove", help="write the inclusion proof of one record")
    prove.add_argument("uri")
    prove.add_argument("seq", type=int, help="the record's sequence number")
    prove.add_argument("--size", type=int, help="prove against the checkpoint of this size "
                       "(default: the newest covering the record)")
    prove.add_argument("-o", "--output", help="file to write (default: standard output)")
    prove.set_defaults(func=_cmd_prove)

    cons = lsub.add_parser("consistency", help="write a consistency proof between two sizes")
    cons.add_argument("uri")
    cons.add_argument("old", type=int, help="the older tree size (records)")
    cons.add_argument("new", type=int, nargs="?", help="the newer size, a stored checkpoint "
                      "(default: the newest)")
    cons.add_argument("-o", "--output", help="file to write (default: standard output)")
    cons.set_defaults(func=_cmd_consistency)

    vproof = lsub.add_parser("verify-proof", help="check a proof or an export offline, with "
                             "only the public key")
    vproof.add_argument("file", help="a proof (JSON) or an export (JSON Lines)")
    vproof.add_argument("--public-key", action="append", metavar="PEM|VKEY", required=True)
    vproof.add_argument("--json", action="store_true", help="print the result as JSON")
    vproof.set_defaults(func=_cmd_verify_proof)

    export = lsub.add_parser("export", help="write records as JSON Lines with the tree head "
                             "and an inclusion proof per record")
    export.add_argument("uri")
    export.add_argument("--kind", help="only this kind (a prefix: 'consent' matches 'consent.*')")
    export.add_argument("--since", type=_parse_time, help="from this time (inclusive)")
    export.add_argument("--until", type=_parse_time, help="until this time (exclusive)")
    export.add_argument("--no-proofs", action="store_true", help="records only")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    export.set_defaults(func=_cmd_export)

    keygen = lsub.add_parser("keygen", help="create a key file (signing key + pseudonym "
                             "secret, mode 0600) and print its public key")
    keygen.add_argument("--key-file", required=True)
    keygen.add_argument("--public-key-out", help="also write the public key (PEM) here")
    keygen.set_defaults(func=_cmd_keygen)

    pub = lsub.add_parser("public-key", help="print a key file's public key (PEM, and the "
                          "signed-note verifier key when the origin is known)")
    pub.add_argument("--key-file", required=True)
    pub.add_argument("--origin", help="the ledger's origin (for the verifier key)")
    pub.add_argument("--uri", help="read the origin from this ledger (read-only)")
    pub.set_defaults(func=_cmd_public_key)

    checkpoint = lsub.add_parser("checkpoint", help="sign the current tree head now")
    checkpoint.add_argument("uri")
    checkpoint.add_argument("--key-file", help="the ledger's key file (default: its default)")
    checkpoint.set_defaults(func=_cmd_checkpoint)

    rotate = lsub.add_parser("rotate-key", help="hand checkpoint signing to a new key, "
                             "announced in a record signed by the old and the new key")
    rotate.add_argument("uri")
    rotate.add_argument("--key-file", help="the ledger's key file (rewritten with the new key)")
    rotate.add_argument("--reason", default="scheduled rotation")
    rotate.set_defaults(func=_cmd_rotate)

    migrate = lsub.add_parser("migrate-keys", help="move a 0.1 ledger's embedded signing key "
                              "and pseudonym secret into a key file")
    migrate.add_argument("uri")
    migrate.add_argument("--key-file", required=True)
    migrate.set_defaults(func=_cmd_migrate)
