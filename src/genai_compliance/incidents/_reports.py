"""Reports for the authority: incident reports, periodic summaries, complaint lists and a
signed bundle (IM-14a "report", IM-14b, IM-15, CSL-INC).

Every document is validated against the schema its ``schema`` field names
(``incident-report``, ``periodic-summary``, ``complaint``; shipped in
``genai_compliance/schemas``). A bundle is a zip or tar holding the JSON files, a
``manifest.json`` (``bundle-manifest.schema.json``: each file's SHA-256 and size, the signing
key's id) and ``manifest.sig`` (Ed25519 over the manifest's bytes, base64url). Bundles are
byte-for-byte reproducible: sorted members, fixed timestamps and owners.
:func:`verify_bundle` checks the signature, then every file against the manifest, and refuses
extra or missing members.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import tarfile
import zipfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..crypto import Ed25519Signer, key_id
from ..crypto import b64url_decode as _unb64
from ..crypto import b64url_encode as _b64
from ..errors import ConfigurationError, RecordNotFound, SigningError
from ..risks import CATEGORIES, Risk
from ..rules import implements
from ..schemas import validate
from ._incidents import Incidents

__all__ = [
    "incident_report",
    "periodic_summary",
    "provider_json",
    "verify_bundle",
    "write_bundle",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.json$")
_RESERVED = frozenset({"manifest.json", "manifest.sig"})
_SCHEMA_ID = re.compile(r"^genai-compliance/([a-z-]+)/\d+$")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def provider_json(provider: Any) -> dict[str, Any]:
    """The provider block of every report (``None`` fields when unknown)."""
    return {"legal_name": getattr(provider, "legal_name", None),
            "uscc": getattr(provider, "uscc", None),
            "product_name": getattr(provider, "product_name", None),
            "service_filing_number": getattr(provider, "service_filing_number", None)}


def _risk_names(code: str | None) -> dict[str, str | None]:
    if code is None:
        return {"risk_name_zh": None, "risk_name_en": None}
    if code in CATEGORIES:
        zh, en = CATEGORIES[code]
        return {"risk_name_zh": zh, "risk_name_en": en}
    risk = Risk(code)
    return {"risk_name_zh": risk.name_zh, "risk_name_en": risk.name_en}


@implements("IM-14a", "CSL-INC")
def incident_report(incidents: Incidents, *, provider: Any, case: str) -> dict[str, Any]:
    """The report of one case: an illegal-content case (``case-…``, IM-14a) or a security
    incident (``SI-…``, CSL-INC); validated against ``incident-report.schema.json``."""
    now = incidents.clock.now().isoformat()
    base = {"schema": "genai-compliance/incident-report/1", "provider": provider_json(provider),
            "id": case, "generated_at": now}
    if case.startswith("SI-"):
        inc = incidents.security_incident_by_id(case)
        sdoc: dict[str, Any] = {
               **base, "type": "security-incident", "detected_at": inc.detected_at.isoformat(),
               "rules": ["CSL-INC"], "title": inc.title, "severity": inc.severity,
               "critical_infrastructure": inc.critical_infrastructure,
               "state_organ": inc.state_organ,
               "recipient": ("the CII protection department and the public security organs"
                             if inc.critical_infrastructure else
                             "the department's cyberspace-affairs body" if inc.state_organ
                             else "the provincial cyberspace administration (CAC)"),
               "due": inc.due.isoformat() if inc.due else None,
               "reported_at": inc.reported_at.isoformat() if inc.reported_at else None,
               "late": bool(inc.due and (inc.reported_at or incidents.clock.now()) > inc.due)}
        validate(sdoc, "incident-report", what="incident report")
        return sdoc
    for rec in incidents.ledger.records(kind="incident.illegal_content"):
        if rec.payload.get("case") == case:
            p = rec.payload
            doc: dict[str, Any] = {
                   **base, "type": "illegal-content", "detected_at": rec.time.isoformat(),
                   "rules": ["IM-14a"], "risk": p.get("risk"), **_risk_names(p.get("risk")),
                   "where": p.get("where"), "content_sha256": p["sha256"],
                   "measures": list(p.get("steps", [])), "subject": rec.subject,
                   "ledger_seq": rec.seq, "ledger_hash": rec.hash}
            validate(doc, "incident-report", what="incident report")
            return doc
    raise RecordNotFound(f"no illegal-content case or security incident {case!r}; ids look "
                         "like case-0123456789abcdef or SI-0123456789ab", value=case)


@implements("IM-14a", "IM-14b", "IM-15", "CSL-INC")
def periodic_summary(incidents: Incidents, *, provider: Any, since: dt.datetime,
                     until: dt.datetime) -> dict[str, Any]:
    """Counts for ``[since, until)``: calls, blocks by risk and place, illegal-use measures
    and appeals, complaints, security incidents, retraining cases; validated against
    ``periodic-summary.schema.json``."""
    if since.tzinfo is None or until.tzinfo is None or until <= since:
        raise ConfigurationError("a period needs zone-aware since < until",
                                 field="period", value=(since, until))
    risks: Counter[str] = Counter()
    where: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    appeals = {"filed": 0, "upheld": 0, "rejected": 0}
    subjects: set[str] = set()
    cases = 0
    for rec in incidents.ledger.records(since=since, until=until):
        p = rec.payload
        if rec.kind == "incident.illegal_content":
            cases += 1
            risks[str(p.get("risk"))] += 1
            where[str(p.get("where"))] += 1
        elif rec.kind == "illegal_use.action":
            levels[str(p.get("level"))] += 1
            if rec.subject:
                subjects.add(rec.subject)
        elif rec.kind == "illegal_use.appeal":
            appeals["filed"] += 1
        elif rec.kind == "illegal_use.appeal_decided":
            appeals["upheld" if p.get("upheld") else "rejected"] += 1
        elif rec.kind == "guard.call":
            calls[str(p.get("outcome"))] += 1
        elif rec.kind.startswith("complaint."):
            steps[rec.kind.split(".", 1)[1]] += 1
    security = [i.to_json() for i in incidents.security_incidents()
                if since <= i.detected_at < until]
    stats = incidents.complaints.stats(since=since, until=until)
    doc = {"schema": "genai-compliance/periodic-summary/1",
           "provider": provider_json(provider),
           "period": {"since": since.isoformat(), "until": until.isoformat()},
           "generated_at": incidents.clock.now().isoformat(),
           "calls": dict(calls), "illegal_content_cases": cases,
           "blocked_by_risk": dict(risks), "blocked_by_place": dict(where),
           "illegal_use": {"measures": dict(levels), "subjects": len(subjects),
                           "appeals": appeals},
           "complaints": {**stats, "steps": dict(steps),
                          "overdue_now": len(incidents.complaints.find(overdue=True))},
           "security_incidents": security,
           "security_incidents_late": sum(
               1 for i in security if i["due"] and (i["reported_at"] or
                                                     incidents.clock.now().isoformat())
               > i["due"]),
           "retraining_cases": incidents.cases()}
    validate(doc, "periodic-summary", what="periodic summary")
    return doc


# -- bundles -----------------------------------------------------------------------------


def _validate_document(name: str, doc: Any) -> None:
    items = doc if isinstance(doc, list) else [doc]
    for item in items:
        sid = item.get("schema") if isinstance(item, dict) else None
        m = _SCHEMA_ID.match(sid) if isinstance(sid, str) else None
        if m:
            validate(item, m.group(1), what=name)


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("zip", "tar"):
            raise ConfigurationError(f"bundle format is 'zip' or 'tar', got {fmt!r}",
                                     field="format", value=fmt)
        return fmt
    return "tar" if path.name.endswith((".tar", ".tar.gz", ".tgz")) else "zip"


@implements("IM-14a", "IM-15", "CSL-INC")
def write_bundle(path: str | os.PathLike[str], documents: Mapping[str, Any],
                 key: Ed25519Signer, *, fmt: str | None = None,
                 created: dt.datetime | None = None) -> Path:
    """Write the signed bundle of ``documents`` (file name -> JSON value) atomically.

    The format follows the suffix (``.zip``; ``.tar``, ``.tar.gz``, ``.tgz``) unless ``fmt``
    is given. Documents naming a shipped schema are validated first.
    """
    out = Path(path)
    kind = _format_of(out, fmt)
    files: dict[str, bytes] = {}
    for name, doc in sorted(documents.items()):
        if not _NAME.match(name) or name in _RESERVED:
            raise ConfigurationError(f"bundle file names are plain *.json names other than "
                                     f"manifest.json; got {name!r}", field="name", value=name)
        _validate_document(name, doc)
        files[name] = (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True)
                       + "\n").encode("utf-8")
    manifest = {"schema": "genai-compliance/bundle-manifest/1", "algorithm": "Ed25519",
                "key_id": key_id(key.public_key()),
                "created": created.isoformat() if created else None,
                "files": {n: {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)}
                          for n, b in files.items()}}
    validate(manifest, "bundle-manifest", what="bundle manifest")
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    members = [*files.items(), ("manifest.json", manifest_bytes),
               ("manifest.sig", (_b64(key.sign(manifest_bytes)) + "\n").encode())]
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
    else:
        gz = out.name.endswith((".gz", ".tgz"))
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for name, data in members:
                tinfo = tarfile.TarInfo(name)
                tinfo.size, tinfo.mtime, tinfo.mode = len(data), 0, 0o644
                tf.addfile(tinfo, io.BytesIO(data))
        if gz:
            import gzip

            buf.write(gzip.compress(raw.getvalue(), mtime=0))
        else:
            buf.write(raw.getvalue())
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, out)
    return out


def _read_members(path: Path) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename in members:
                    raise SigningError("the bundle holds a file twice", value=info.filename)
                members[info.filename] = zf.read(info)
        return members
    try:
        with tarfile.open(path, mode="r:*") as tf:
            for tinfo in tf.getmembers():
                if not tinfo.isfile():
                    raise SigningError("the bundle holds something other than files",
                                       value=tinfo.name)
                if tinfo.name in members:
                    raise SigningError("the bundle holds a file twice", value=tinfo.name)
                handle = tf.extractfile(tinfo)
                members[tinfo.name] = handle.read() if handle else b""
    except tarfile.TarError as exc:
        raise SigningError(f"not a report bundle (zip or tar): {exc}") from exc
    return members


@implements("IM-14a", "IM-15", "CSL-INC")
def verify_bundle(path: str | os.PathLike[str], public_key: Ed25519PublicKey) -> list[str]:
    """Verify a bundle against the signer's public key; returns the names of the files it
    vouches for, or raises :class:`SigningError` saying what does not match."""
    try:
        members = _read_members(Path(path))
        manifest_bytes = members["manifest.json"]
        sig = members["manifest.sig"].decode("ascii").strip()
    except KeyError as exc:
        raise SigningError(f"not a report bundle: {exc.args[0]} is missing") from exc
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise SigningError(f"not a report bundle: {exc}") from exc
    try:
        raw = _unb64(sig)
        # only the exact bytes the writer produces: no extra whitespace, no non-canonical
        # base64 (the unused low bits of the last character), so every changed bit shows
        if (_b64(raw) + "\n").encode() != members["manifest.sig"]:
            raise ValueError("non-canonical signature encoding")
        public_key.verify(raw, manifest_bytes)
    except (InvalidSignature, ValueError) as exc:
        raise SigningError("the bundle's signature does not verify with this key") from exc
    manifest = json.loads(manifest_bytes)
    listed: dict[str, Any] = manifest["files"]
    names = set(members) - _RESERVED
    if names != set(listed):
        raise SigningError("the bundle's files do not match its manifest",
                           value=sorted(names ^ set(listed)))
    for name, entry in sorted(listed.items()):
        if hashlib.sha256(members[name]).hexdigest() != entry["sha256"]:
            raise SigningError(f"{name} was changed after signing", value=name)
    return sorted(listed)
