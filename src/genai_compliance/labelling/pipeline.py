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
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import ConfigurationError, LabelError, MalformedMedia, UnsupportedMedia
from . import c2pa as _c2pa

if TYPE_CHECKING:
    from ..context import RecordingHost
    from ..crypto import SigningCredentials
    from ..subject import Subject

__all__ = ["MANIFEST_BROKEN", "LabelResult", "credentials_from_settings", "default_label",
           "label_file"]


@attrs.frozen
class LabelResult:
    """What :func:`label_file` did. ``manifest`` is ``dst`` (embedded) or the ``.c2pa``
    sidecar path, None when unsigned; ``record_seq`` the ledger record, if any;
    ``warnings`` what went wrong around the label (an input manifest left invalid)."""

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
    #: the input already carried a C2PA manifest (camera/editor output, an earlier step).
    had_manifest: bool = False
    #: that manifest was taken as the parent ingredient of the new one (signed relabel).
    parent_ingredient: bool = False
    #: what the caller must know, e.g. that the input's C2PA manifest is now invalid.
    warnings: tuple[str, ...] = ()


def default_label(compliance: RecordingHost | None = None, *, produce_id: str | None = None) -> Any:
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


def _temp_beside(out: Path, suffix: str, staged: list[Path]) -> Path:
    """A fresh empty file created exclusively beside ``out`` (``mkstemp``), remembered in
    ``staged`` so the caller removes it."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix, dir=out.parent)
    os.close(fd)
    staged.append(Path(name))
    return staged[-1]


def credentials_from_settings(section: Mapping[str, Any],
                              base: Path | None = None) -> SigningCredentials | None:
    """Credentials from the ``[c2pa]`` config section: ``cert`` + ``key`` (+
    ``key_password_env``) or ``p12`` (+ ``p12_password_env``), and ``trust_anchors``."""
    from ..crypto import SigningCredentials

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


#: the warning when a signed input is labelled without credentials.
MANIFEST_BROKEN = ("the input carried a C2PA manifest; writing the implicit label changed the "
                   "signed bytes, so that manifest is now invalid. Re-sign the output (pass "
                   "credentials, or --sign --cert CHAIN.pem --key KEY.pem: the old manifest "
                   "becomes the parent ingredient) or strip the manifest before publishing")


def _has_manifest(data: bytes | str | os.PathLike[str]) -> bool:
    """Whether ``data`` (bytes or a path, streamed) carries a C2PA manifest (embedded or
    referenced), read offline."""
    try:
        if not _c2pa.may_hold_manifest(data):
            return False  # no JUMBF c2pa box and no XMP dcterms:provenance reference
        return _c2pa.read_c2pa(data) is not None
    except (MalformedMedia, UnsupportedMedia, ImportError, OSError):
        return _both_markers(data)


def _both_markers(data: bytes | str | os.PathLike[str]) -> bool:
    """Whether a JUMBF box (``jumb``) and the c2pa label both occur (a manifest store c2pa
    could not read is still one); a path is scanned in 1 MiB pieces."""
    if isinstance(data, bytes):
        return b"c2pa" in data and b"jumb" in data
    seen: set[bytes] = set()
    tail = b""
    try:
        with Path(data).open("rb") as fh:
            while chunk := fh.read(1 << 20):
                window = tail + chunk
                seen.update(m for m in (b"c2pa", b"jumb") if m in window)
                tail = window[-8:]
    except OSError:
        return False
    return len(seen) == 2


def _label_fields(label: Any) -> dict[str, str]:
    return _c2pa._fields(label)


def label_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
               label: Any = None, explicit: bool | None = None,
               explicit_text: str | None = None, position: str | None = None,
               credentials: SigningCredentials | None = None,
               compliance: RecordingHost | None = None, thumbnail: bool | None = None,
               ingredient: str | os.PathLike[str] | None = None,
               sign: bool | None = None, subject: Subject | str | None = None,
               format: str | None = None) -> LabelResult:
    """Label ``src`` into ``dst`` (LM-4, LM-5, IM-12): explicit label when ``explicit`` (or
    ``[labelling] explicit = true``), the implicit GB 45438 label, a C2PA signature with
    ``credentials`` (or those in ``[c2pa]``), and a ``label.issued`` ledger record when a
    ``compliance`` is given. ``label`` defaults to the provider's producer code and a fresh
    ProduceID. ``ingredient`` (the user's input) marks the file as a composite edit.

    Streamed (issue 16): the implicit label is written file to file and the signature made
    from that file into a temp file beside ``dst``, so memory does not grow with the file
    (only the explicit label, which re-renders the media, decodes it).

    Relabelling a file that already carries a C2PA manifest: with credentials the new
    manifest takes the old signed file as its ``parentOf`` ingredient, so the provenance
    chain stays valid; without, the label is written and ``warnings`` says the old manifest
    no longer matches and how to re-sign or strip it. ``format`` names the implicit-label
    handler instead of sniffing (e.g. ``"markdown"``).
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

    src_path, out = Path(src), Path(dst)
    had_manifest = _has_manifest(src_path)
    warnings: list[str] = []
    signing = credentials is not None and sign is not False
    if had_manifest and not signing:
        warnings.append(MANIFEST_BROKEN)
    from .implicit import label_file as implicit_label_file

    manifest: Path | None = None
    sidecar = False
    staged: list[Path] = []
    try:
        stage = src_path
        if explicit:
            # the explicit label re-renders pixels or samples: that step holds the decoded
            # media; everything after it is streamed file to file
            from .explicit import apply_explicit

            stage = _temp_beside(out, ".explicit", staged)
            _c2pa._atomic_write(stage, apply_explicit(src_path.read_bytes(),
                                                      text=explicit_text, position=position))
        if signing:
            assert credentials is not None
            unsigned = _temp_beside(out, ".unsigned", staged)
            implicit_label_file(stage, unsigned, label, format=format)
            manifest = _c2pa.sign_file(
                unsigned, out, credentials, label=label, compliance=compliance,
                thumbnail=thumbnail, ingredient=ingredient,
                parent=src_path if had_manifest else None)
            sidecar = manifest != out
        else:
            implicit_label_file(stage, out, label, format=format)
    finally:
        for path in staged:
            path.unlink(missing_ok=True)
    with out.open("rb") as fh:
        mime = _c2pa.sniff_mime(fh.read(64))
        fh.seek(0)
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    result = LabelResult(dst=out, mime=mime, produce_id=fields["ProduceID"], label=fields,
                         explicit=bool(explicit), signed=manifest is not None,
                         manifest=manifest, sidecar=sidecar,
                         signer=credentials.subject if manifest is not None and credentials
                         else None, sha256=digest, had_manifest=had_manifest,
                         parent_ingredient=had_manifest and manifest is not None,
                         warnings=tuple(warnings))
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
