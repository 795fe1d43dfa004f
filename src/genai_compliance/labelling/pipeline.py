"""One call labels a generated file: explicit label (when asked or configured) -> implicit
label (GB 45438 metadata) -> C2PA signature -> a ``label.issued`` ledger record.

Obligations: LM-4 (explicit), LM-5 (implicit metadata), IM-12 (label generated content),
LM-9-style retention of what was issued via the ledger record. The signature is made after
the implicit label so it covers it.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..crypto import SigningCredentials
from ..errors import ConfigurationError, LabelError
from . import c2pa as _c2pa

__all__ = ["LabelResult", "credentials_from_settings", "default_label", "label_file"]


@attrs.frozen
class LabelResult:
    """What :func:`label_file` did. ``manifest`` is ``dst`` (embedded) or the ``.c2pa``
    sidecar path, None when unsigned; ``record_seq`` the ledger record, if any."""

    dst: Path
    mime: str | None
    produce_id: str
    label: dict[str, str]
    explicit: bool
    signed: bool
    manifest: Path | None
    sidecar: bool
    signer: str | None
    sha256: str
    record_seq: int | None = None


def default_label(compliance: Any = None, *, produce_id: str | None = None) -> Any:
    """An :class:`AIGCLabel` for a generated file: Label 1 (AI-generated), the provider's
    producer code as ContentProducer (TC260-PG-20252A) and a fresh ProduceID (LM-5)."""
    try:
        from .aigc import AIGCLabel
    except ImportError as exc:  # the label module ships with the implicit-labels work
        raise LabelError("no default implicit label available (genai_compliance.labelling."
                         "aigc is missing); pass label= with the seven GB 45438 fields",
                         field="label") from exc

    pid = produce_id or uuid.uuid4().hex
    producer = compliance.provider.producer_code if compliance is not None else ""
    factory = getattr(AIGCLabel, "generated", None)
    if callable(factory):
        return factory(content_producer=producer, produce_id=pid)
    return AIGCLabel(label="1", content_producer=producer, produce_id=pid)


def _read(path: Any) -> bytes:
    return Path(path).read_bytes()


def credentials_from_settings(section: Mapping[str, Any],
                              base: Path | None = None) -> SigningCredentials | None:
    """Credentials from the ``[c2pa]`` config section: ``cert`` + ``key`` (+
    ``key_password_env``) or ``p12`` (+ ``p12_password_env``), and ``trust_anchors``."""
    def path(name: str) -> Path | None:
        value = section.get(name)
        if not value:
            return None
        p = Path(str(value))
        return p if p.is_absolute() or base is None else base / p

    def secret(name: str) -> bytes | None:
        env = section.get(name)
        if not env:
            return None
        value = os.environ.get(str(env))
        if value is None:
            raise ConfigurationError(f"environment variable {env} (from c2pa.{name}) is not "
                                     "set", field=f"c2pa.{name}")
        return value.encode()

    anchors = path("trust_anchors")
    if path("p12") is not None:
        return SigningCredentials.from_pkcs12(path("p12"),  # type: ignore[arg-type]
                                              secret("p12_password_env"),
                                              trust_anchors=anchors)
    cert, key = path("cert"), path("key")
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigurationError("c2pa needs both cert and key (or p12)", field="c2pa")
    return SigningCredentials.from_pem(cert, key, password=secret("key_password_env"),
                                       trust_anchors=anchors)


def _label_fields(label: Any) -> dict[str, str]:
    return _c2pa._fields(label)


def label_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
               label: Any = None, explicit: bool | None = None,
               explicit_text: str | None = None, position: str | None = None,
               credentials: SigningCredentials | None = None, compliance: Any = None,
               thumbnail: bool | None = None, ingredient: str | os.PathLike[str] | None = None,
               sign: bool | None = None, subject: Any = None) -> LabelResult:
    """Label ``src`` into ``dst`` (LM-4, LM-5, IM-12): explicit label when ``explicit`` (or
    ``[labelling] explicit = true``), the implicit GB 45438 label, a C2PA signature with
    ``credentials`` (or those in ``[c2pa]``), and a ``label.issued`` ledger record when a
    ``compliance`` is given. ``label`` defaults to the provider's producer code and a fresh
    ProduceID. ``ingredient`` (the user's input) marks the file as a composite edit.
    """
    settings: Mapping[str, Any] = compliance.settings if compliance is not None else {}
    lab_cfg = settings.get("labelling", {}) or {}
    c2pa_cfg = settings.get("c2pa", {}) or {}
    if explicit is None:
        section = lab_cfg.get("explicit", False)
        # [labelling] explicit = true, or a [labelling.explicit] table (enabled unless
        # enabled = false)
        explicit = (bool(section.get("enabled", True)) if isinstance(section, Mapping)
                    else bool(section))
    if thumbnail is None:
        thumbnail = bool(c2pa_cfg.get("thumbnail", False))
    if credentials is None and sign is not False and c2pa_cfg:
        base = getattr(compliance, "base_dir", None)
        credentials = credentials_from_settings(c2pa_cfg, Path(base) if base else None)
    if sign and credentials is None:
        raise ConfigurationError("signing was asked for but no C2PA credentials were given "
                                 "(pass credentials= or configure [c2pa] cert/key or p12)",
                                 field="c2pa")
    if label is None:
        label = default_label(compliance)
    fields = _label_fields(label)
    if not fields.get("ProduceID"):
        raise LabelError("the implicit label needs a ProduceID", field="ProduceID")

    data = _read(src)
    if explicit:
        from .explicit import apply_explicit

        data = apply_explicit(data, text=explicit_text, position=position)
    from .implicit import label_bytes

    data = label_bytes(data, label)
    mime = _c2pa.sniff_mime(data)

    manifest: Path | None = None
    sidecar = False
    out = Path(dst)
    if credentials is not None and sign is not False:
        tmp = out.with_name(f".{out.name}.{os.getpid()}.unsigned")
        tmp.write_bytes(data)
        try:
            manifest = _c2pa.sign_file(
                tmp, out, credentials, label=label, compliance=compliance,
                thumbnail=thumbnail,
                ingredient=None if ingredient is None else Path(ingredient).read_bytes())
        finally:
            tmp.unlink(missing_ok=True)
        sidecar = manifest != out
        data = out.read_bytes()
    else:
        _c2pa._atomic_write(out, data)
    digest = hashlib.sha256(data).hexdigest()
    result = LabelResult(dst=out, mime=mime, produce_id=fields["ProduceID"], label=fields,
                         explicit=bool(explicit), signed=manifest is not None,
                         manifest=manifest, sidecar=sidecar,
                         signer=credentials.subject if manifest is not None and credentials
                         else None, sha256=digest)
    if compliance is not None:
        record = compliance.record("label.issued", {
            "sha256": digest, "produce_id": fields["ProduceID"], "label": fields,
            "formats": {"mime": mime, "explicit": bool(explicit), "implicit": True,
                        "c2pa": None if manifest is None else
                        ("sidecar" if sidecar else "embedded")},
            "signer": result.signer, "file": out.name,
        }, subject=subject)
        result = attrs.evolve(result, record_seq=record.seq)
    return result
