"""Reports for the authority: incident reports, periodic summaries and a signed bundle.

Documents are validated against ``incident-report.schema.json`` and
``periodic-summary.schema.json``. The bundle is a zip holding the JSON files, a
``manifest.json`` of their SHA-256 hashes and ``manifest.sig`` (Ed25519 over the manifest);
:func:`verify_bundle` checks both and names the first file that does not match.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..crypto import key_id
from ..errors import SigningError
from ..ledger import Ledger
from ..rules import implements
from ..schemas import validate
from ._incidents import Incidents

__all__ = ["incident_report", "periodic_summary", "verify_bundle", "write_bundle"]


@implements("IM-14a", "IM-14b")
def incident_report(incidents: Incidents, *, provider: Any, case: str) -> dict[str, Any]:
    """The report of one illegal-content case (IM-14a: report to the authority)."""
    for rec in incidents.ledger.records(kind="incident.illegal_content"):
        if rec.payload.get("case") == case:
            doc = {"schema": "genai-compliance/incident-report/1",
                   "provider": {"legal_name": provider.legal_name, "uscc": provider.uscc,
                                "product_name": provider.product_name},
                   "case": case, "detected_at": rec.time.isoformat(),
                   "risk": rec.payload.get("risk"), "where": rec.payload.get("where"),
                   "content_sha256": rec.payload["sha256"],
                   "measures": list(rec.payload.get("steps", [])),
                   "ledger_seq": rec.seq, "ledger_hash": rec.hash}
            validate(doc, "incident-report", what="incident report")
            return doc
    from ..errors import RecordNotFound

    raise RecordNotFound(f"no illegal-content case {case!r} in the ledger", value=case)


@implements("IM-14a", "IM-14b", "IM-15", "CSL-INC")
def periodic_summary(incidents: Incidents, *, provider: Any, since: dt.datetime,
                     until: dt.datetime) -> dict[str, Any]:
    """Counts for a period: blocks by risk and place, illegal-use measures, complaints,
    security incidents; validated against ``periodic-summary.schema.json``."""
    ledger: Ledger = incidents.ledger
    risks: Counter[str] = Counter()
    where: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    complaints: Counter[str] = Counter()
    for rec in ledger.records(since=since, until=until):
        p = rec.payload
        if rec.kind in ("incident.illegal_content", "moderation.block"):
            risks[str(p.get("risk"))] += 1
            where[str(p.get("where"))] += 1
        elif rec.kind == "illegal_use.action":
            levels[str(p.get("level"))] += 1
        elif rec.kind == "guard.call":
            calls[str(p.get("outcome"))] += 1
        elif rec.kind.startswith("complaint."):
            complaints[rec.kind.split(".", 1)[1]] += 1
    security = [i.to_json() for i in incidents.security_incidents()
                if since <= i.detected_at < until]
    doc = {"schema": "genai-compliance/periodic-summary/1",
           "provider": {"legal_name": provider.legal_name, "uscc": provider.uscc,
                        "product_name": provider.product_name},
           "period": {"since": since.isoformat(), "until": until.isoformat()},
           "calls": dict(calls), "blocked_by_risk": dict(risks), "blocked_by_place": dict(where),
           "illegal_use_measures": dict(levels), "complaints": dict(complaints),
           "complaints_overdue": len(incidents.complaints(overdue=True)),
           "security_incidents": security,
           "retraining_cases": len(incidents.export_retraining_cases())}
    validate(doc, "periodic-summary", what="periodic summary")
    return doc


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write_bundle(path: str | os.PathLike[str], documents: Mapping[str, Any],
                 key: Ed25519PrivateKey) -> Path:
    """Write the signed zip bundle of ``documents`` (name -> JSON-able) atomically."""
    files = {name: json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True).encode()
             for name, doc in documents.items()}
    manifest = {"files": {n: hashlib.sha256(b).hexdigest() for n, b in sorted(files.items())},
                "key_id": key_id(key.public_key())}
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(files.items()):
            zf.writestr(name, data)
        zf.writestr("manifest.json", manifest_bytes)
        zf.writestr("manifest.sig", _b64(key.sign(manifest_bytes)))
    out = Path(path)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, out)
    return out


def verify_bundle(path: str | os.PathLike[str], public_key: Ed25519PublicKey) -> list[str]:
    """Verify a bundle; returns the names of the files it vouches for, or raises
    :class:`SigningError` naming what does not match."""
    try:
        with zipfile.ZipFile(path) as zf:
            manifest_bytes = zf.read("manifest.json")
            sig = zf.read("manifest.sig").decode()
            public_key.verify(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)),
                              manifest_bytes)
            manifest = json.loads(manifest_bytes)
            names = set(zf.namelist()) - {"manifest.json", "manifest.sig"}
            if names != set(manifest["files"]):
                raise SigningError("the bundle's files do not match its manifest",
                                   value=sorted(names ^ set(manifest["files"])))
            for name, digest in manifest["files"].items():
                if hashlib.sha256(zf.read(name)).hexdigest() != digest:
                    raise SigningError(f"{name} was changed after signing", value=name)
    except (KeyError, zipfile.BadZipFile, ValueError) as exc:
        raise SigningError(f"not a valid report bundle: {exc}") from exc
    except InvalidSignature as exc:
        raise SigningError("the bundle's signature does not verify") from exc
    return sorted(manifest["files"])
