"""Signed content credentials (C2PA) over generated files, via c2pa-python.

A manifest carries the claim generator (product name + version), a ``c2pa.actions``
assertion whose ``c2pa.created`` action has the IPTC digital source type
``trainedAlgorithmicMedia`` (``compositeWithTrainedAlgorithmicMedia`` plus the user's input
as an ingredient for edits), and a custom assertion :data:`GB45438_ASSERTION`
(``cn.gb45438.aigc``) holding the same seven GB 45438 fields as the implicit label (LM-5,
IM-12; also EU AI Act Art. 50 machine-readable marking).

Nothing here reaches the network: no timestamp authority, no remote manifest fetch, no
OCSP fetch; trust is decided against the trust-anchor bundle you pass. Formats c2pa cannot
embed into get a sidecar ``<dst>.c2pa`` manifest.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import attrs

from ..errors import MalformedMedia, SigningError, UnsupportedMedia
from ..rules import implements

if TYPE_CHECKING:
    from ..context import RecordingHost
    from ..crypto import SigningCredentials

__all__ = [
    "COMPOSITE",
    "GB45438_ASSERTION",
    "GB45438_FIELDS",
    "TRAINED",
    "C2paReport",
    "manifest_definition",
    "read_c2pa",
    "sidecar_path",
    "sign_bytes",
    "sign_file",
    "sniff_mime",
]

#: Label of our custom assertion carrying the GB 45438 implicit-label fields.
GB45438_ASSERTION = "cn.gb45438.aigc"
#: IPTC digital source types.
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
#: The seven GB 45438-2025 implicit-label metadata fields (Annex E).
GB45438_FIELDS = ("Label", "ContentProducer", "ProduceID", "ReservedCode1",
                  "ContentPropagator", "PropagateID", "ReservedCode2")
_TAMPER_CODES = ("dataHash.mismatch", "bmffHash.mismatch", "boxesHash.mismatch",
                 "collectionHash.mismatch", "hashedURI.mismatch")
_UNTRUSTED = ("signingCredential.untrusted",)


def sidecar_path(dst: str | os.PathLike[str]) -> Path:
    """Where the sidecar manifest of ``dst`` lives: ``dst`` with ``.c2pa`` appended."""
    p = Path(dst)
    return p.with_name(p.name + ".c2pa")


def sniff_mime(data: bytes) -> str | None:
    """The MIME type c2pa should use for ``data`` (from magic bytes), or None."""
    head = data[:64]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/avi"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1"):
            return "image/heic"
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/mp4"
    return None


def _fields(label: Any) -> dict[str, str]:
    if label is None:
        return {}
    if isinstance(label, Mapping):
        raw = dict(label)
    elif hasattr(label, "to_json"):
        raw = json.loads(label.to_json())
    else:
        raw = {f: getattr(label, f) for f in GB45438_FIELDS if hasattr(label, f)}
    if isinstance(raw.get("AIGC"), Mapping):
        raw = dict(raw["AIGC"])
    return {k: str(raw.get(k, "")) for k in GB45438_FIELDS}


#: instance id of the parent ingredient when a signed file is relabelled.
PARENT_ID = "xmp:iid:genai-compliance-parent"


def manifest_definition(*, label: Any = None, generator: str = "genai-compliance",
                        version: str = "1.0", composite: bool = False,
                        title: str | None = None, parent: bool = False) -> dict[str, Any]:
    """The c2pa manifest definition we sign (LM-5): claim generator, ``c2pa.actions`` with
    ``c2pa.created`` and the IPTC digital source type, and ``cn.gb45438.aigc``. With
    ``parent`` (relabelling a file that was already signed) the actions are
    ``c2pa.opened`` of the parent ingredient then ``c2pa.edited.metadata``."""
    action: dict[str, Any] = {"action": "c2pa.created",
                              "digitalSourceType": COMPOSITE if composite else TRAINED}
    actions = [action]
    if parent:
        actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": [PARENT_ID]}},
                   {"action": "c2pa.edited.metadata",
                    "description": "GB 45438 implicit label written"}]
    assertions: list[dict[str, Any]] = [
        {"label": "c2pa.actions", "data": {"actions": actions}}]
    fields = _fields(label)
    if fields:
        assertions.append({"label": GB45438_ASSERTION, "data": fields})
    definition: dict[str, Any] = {
        "claim_generator_info": [{"name": generator, "version": version}],
        "assertions": assertions,
    }
    if title:
        definition["title"] = title
    return definition


#: c2pa settings that keep every operation offline (LM-5): no remote-manifest fetch, no
#: OCSP fetch, no network host allowed at all (a timestamp authority included); the
#: signing buffer spills to a temp file past 8 MiB instead of holding the file (c2pa's
#: default keeps up to 512 MiB in memory).
OFFLINE_SETTINGS: dict[str, Any] = {
    "verify": {"verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False},
    "core": {"allowed_network_hosts": [], "backing_store_memory_threshold_in_mb": 8},
}
_CONTEXTS = threading.local()
_MAX_CONTEXTS = 8


def _settings(*, trust_anchors: bytes | None = None, thumbnail: bool = False) -> Any:
    """The c2pa ``Context`` for these options, built once per thread and process and reused
    for every signature and read (a new context per signature cost 6-10 %, issue 19).
    Always :data:`OFFLINE_SETTINGS`; contexts are not shared across threads or a fork."""
    import c2pa

    cache: dict[tuple[bytes | None, bool], Any] | None = getattr(_CONTEXTS, "cache", None)
    if cache is None or getattr(_CONTEXTS, "pid", None) != os.getpid():
        cache = _CONTEXTS.cache = {}
        _CONTEXTS.pid = os.getpid()
    key = (trust_anchors, thumbnail)
    ctx = cache.get(key)
    if ctx is None or not ctx.is_valid:
        cfg: dict[str, Any] = {k: dict(v) for k, v in OFFLINE_SETTINGS.items()}
        cfg["builder"] = {"thumbnail": {"enabled": thumbnail}}
        if trust_anchors:
            cfg["trust"] = {"trust_anchors": trust_anchors.decode("utf-8")}
        if len(cache) >= _MAX_CONTEXTS:
            cache.clear()
        ctx = cache[key] = c2pa.Context(c2pa.Settings.from_dict(cfg))
    return ctx


def _generator(compliance: RecordingHost | None, generator: str | None,
               version: str | None) -> tuple[str, str]:
    if compliance is not None:
        prov = compliance.provider
        return (generator or prov.product_name_en or prov.product_name,
                version or prov.product_version)
    from .._version import __version__

    return generator or "genai-compliance", version or __version__


_MARKERS = (b"c2pa", b"provenance")  # the manifest store's JUMBF label; a remote reference


def may_hold_manifest(data: bytes | str | os.PathLike[str]) -> bool:
    """Whether ``data`` (bytes, or a path scanned in chunks, or its ``.c2pa`` sidecar) can
    carry a C2PA manifest: the manifest store's JUMBF label ``c2pa`` or an XMP
    ``provenance`` reference appears somewhere. False means certainly none, without loading
    c2pa; True means ask c2pa.

    .. versionadded:: 0.2
    """
    if isinstance(data, bytes):
        return any(m in data for m in _MARKERS)
    path = Path(data)
    if sidecar_path(path).is_file():
        return True
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            window = tail + chunk
            if any(m in window for m in _MARKERS):
                return True
            tail = window[-16:]
    return False


def _sign(src: BinaryIO, dst: BinaryIO, credentials: SigningCredentials, *, mime: str,
          label: Any, ingredient: BinaryIO | None, parent: BinaryIO | None,
          generator: str | None, version: str | None, compliance: RecordingHost | None,
          thumbnail: bool, title: str | None, sidecar: bool) -> bytes:
    """Sign the stream ``src`` into the stream ``dst`` (c2pa reads and writes them in
    pieces; nothing here holds the file); return the manifest store."""
    import c2pa

    gen, ver = _generator(compliance, generator, version)
    definition = manifest_definition(label=label, generator=gen, version=ver,
                                     composite=ingredient is not None, title=title,
                                     parent=parent is not None)
    try:
        builder = c2pa.Builder.from_json(definition, _settings(thumbnail=thumbnail))
        if sidecar:
            builder.set_no_embed()
        if ingredient is not None:
            imime = sniff_mime(_head(ingredient)) or _OPAQUE
            builder.add_ingredient({"title": "input", "relationship": "inputTo"}, imime,
                                   ingredient)
        if parent is not None:
            builder.add_ingredient({"title": "parent", "relationship": "parentOf",
                                    "instance_id": PARENT_ID, "label": PARENT_ID},
                                   sniff_mime(_head(parent)) or mime, parent)
        return bytes(builder.sign(credentials.c2pa_signer(), mime, src, dst))
    except c2pa.C2paError as exc:
        text = str(exc)
        if "NotSupported" in type(exc).__name__ or "not supported" in text.lower():
            raise UnsupportedMedia(f"c2pa cannot sign {mime}: {text}; use a sidecar",
                                   format=mime) from None
        raise SigningError(f"c2pa could not sign the {mime} file: {text}",
                           format=mime) from None
    except (KeyError, ValueError, TypeError, OSError, RuntimeError) as exc:
        raise SigningError(f"c2pa could not sign the {mime} file: {type(exc).__name__}: "
                           f"{exc}", format=mime) from None


def _head(stream: BinaryIO) -> bytes:
    """The first 64 bytes of ``stream``, which is left at its start."""
    stream.seek(0)
    head = stream.read(64)
    stream.seek(0)
    return head


@implements("C2PA", "EU-50-2")
def sign_bytes(data: bytes, credentials: SigningCredentials, *, label: Any = None,
               mime: str | None = None, ingredient: bytes | None = None,
               generator: str | None = None, version: str | None = None,
               compliance: RecordingHost | None = None, thumbnail: bool = False,
               title: str | None = None, sidecar: bool = False,
               parent: bytes | None = None) -> tuple[bytes, bytes]:
    """Sign ``data``; return ``(signed_asset, manifest_store)``. With ``sidecar`` the
    asset is returned unchanged and the manifest store is meant for ``<file>.c2pa``.

    ``ingredient`` (the user's input) makes the source type ``compositeWith...`` (LM-5).
    ``parent`` (the signed file before relabelling) becomes the ``parentOf`` ingredient, so
    the provenance chain stays valid when an already signed file is labelled.
    Raises :class:`UnsupportedMedia` for a format c2pa cannot embed into (use a sidecar).
    For files, :func:`sign_file` streams instead of holding them.
    """
    mime = mime or sniff_mime(data)
    if mime is None:
        raise UnsupportedMedia("C2PA cannot embed a manifest in this format; sign it with a "
                               "sidecar (sign_file(..., sidecar=True))", format="unknown")
    out = io.BytesIO()
    manifest = _sign(io.BytesIO(data), out, credentials, mime=mime, label=label,
                     ingredient=None if ingredient is None else io.BytesIO(ingredient),
                     parent=None if parent is None else io.BytesIO(parent),
                     generator=generator, version=version, compliance=compliance,
                     thumbnail=thumbnail, title=title, sidecar=sidecar)
    return (data if sidecar else out.getvalue()), manifest


def _input(stack: contextlib.ExitStack,
           value: str | os.PathLike[str] | bytes | None) -> BinaryIO | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return io.BytesIO(value)
    return stack.enter_context(Path(value).open("rb"))


@implements("C2PA", "EU-50-2")
def sign_file(src: str | os.PathLike[str], dst: str | os.PathLike[str],
              credentials: SigningCredentials, *, label: Any = None,
              ingredient: str | os.PathLike[str] | bytes | None = None,
              parent: str | os.PathLike[str] | bytes | None = None,
              sidecar: bool | None = None, mime: str | None = None,
              generator: str | None = None, version: str | None = None,
              compliance: RecordingHost | None = None, thumbnail: bool = False,
              title: str | None = None) -> Path:
    """Sign ``src`` into ``dst`` (embedded manifest), streamed: c2pa reads ``src`` and
    writes a temp file beside ``dst`` in pieces (renamed over ``dst`` when done), so memory
    does not grow with the file. ``sidecar=None`` falls back to a sidecar ``dst.c2pa``
    (``dst`` a byte copy of ``src``) when the format cannot embed one; returns the path
    holding the manifest (``dst`` or the sidecar). ``ingredient`` and ``parent`` (see
    :func:`sign_bytes`) are paths or bytes."""
    out = Path(dst)
    common: dict[str, Any] = {"label": label, "generator": generator, "version": version,
                              "compliance": compliance, "thumbnail": thumbnail,
                              "title": title}
    with contextlib.ExitStack() as stack:
        fin = stack.enter_context(Path(src).open("rb"))
        known = mime or sniff_mime(_head(fin))
        if known is None and sidecar is False:
            raise UnsupportedMedia("C2PA cannot embed a manifest in this format; allow a "
                                   "sidecar", format="unknown")
        ing, par = _input(stack, ingredient), _input(stack, parent)

        def attempt(kind: str, detached: bool) -> bytes:
            for stream in (fin, ing, par):
                if stream is not None:
                    stream.seek(0)
            if detached:  # c2pa still writes an asset: a scratch file, dropped
                with tempfile.TemporaryFile(dir=out.parent) as scratch:
                    return _sign(fin, scratch, credentials, mime=kind, ingredient=ing,
                                 parent=par, sidecar=True, **common)
            found: list[bytes] = []
            _atomic_stream(out, lambda fh: found.append(
                _sign(fin, fh, credentials, mime=kind, ingredient=ing, parent=par,
                      sidecar=False, **common)))
            return found[0]

        use_sidecar = bool(sidecar) or known is None
        try:
            manifest = attempt(known or _OPAQUE, use_sidecar)
        except UnsupportedMedia:
            if sidecar is False or use_sidecar:
                raise
            manifest = attempt(_OPAQUE, True)
            use_sidecar = True
        if use_sidecar:
            _atomic_stream(out, lambda fh: _copy(fin, fh))
    if use_sidecar:
        _atomic_write(sidecar_path(dst), manifest)
        return sidecar_path(dst)
    return out


_OPAQUE = "application/octet-stream"


def _copy(src: BinaryIO, dst: BinaryIO) -> None:
    import shutil

    src.seek(0)
    shutil.copyfileobj(src, dst, 1 << 20)


def _atomic_stream(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Have ``write`` fill a temp file created exclusively in the target directory
    (``mkstemp``: O_CREAT|O_EXCL, unpredictable name, never follows a symlink), opened
    ``w+b`` so it can be read back, then ``os.replace`` it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w+b") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`_atomic_stream`)."""
    _atomic_stream(path, lambda fh: fh.write(data))


@attrs.frozen
class C2paReport:
    """What a C2PA manifest says and whether it holds (LM-5; report of ``inspect``).

    ``valid``: signature and hashes check out (trust aside); ``trusted``: the signer
    chains to one of the trust anchors given; ``tampered``: the content no longer matches
    the hash the manifest signed.
    """

    present: bool
    valid: bool
    trusted: bool
    tampered: bool
    validation_state: str | None
    signer: str | None
    issuer: str | None
    algorithm: str | None
    claim_generator: str | None
    digital_source_type: str | None
    aigc: dict[str, str] | None
    failures: tuple[str, ...]
    codes: tuple[str, ...]
    sidecar: bool = False
    #: the manifest is not embedded but referenced at this URL (never fetched).
    remote_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (schema ``c2pa-report``)."""
        out = attrs.asdict(self)
        out["failures"] = list(self.failures)
        out["codes"] = list(self.codes)
        return out

    def to_json(self) -> str:
        """Compact JSON (schema ``c2pa-report``)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def _codes(results: Any) -> tuple[list[str], list[str]]:
    failures: list[str] = []
    all_codes: list[str] = []
    if not isinstance(results, Mapping):
        return failures, all_codes
    active = results.get("activeManifest") or {}
    for kind in ("success", "informational", "failure"):
        for item in active.get(kind, []) or []:
            code = str(item.get("code", ""))
            all_codes.append(code)
            if kind == "failure":
                failures.append(code)
    for ing in results.get("ingredientDeltas", []) or []:
        for item in (ing.get("validationDeltas") or {}).get("failure", []) or []:
            failures.append(str(item.get("code", "")))
    return failures, all_codes


def _remote_url(text: str) -> str | None:
    """The URL in c2pa's "must fetch remote manifests from url …" error, if that is it."""
    marker = "from url "
    if "remote" not in text.lower() or marker not in text:
        return None
    return text.split(marker, 1)[1].strip().split()[0] or None


def _remote_report(url: str) -> C2paReport:
    """A manifest referenced by URL: reported present, never fetched (no network)."""
    return C2paReport(present=True, valid=False, trusted=False, tampered=False,
                      validation_state=None, signer=None, issuer=None, algorithm=None,
                      claim_generator=None, digital_source_type=None, aigc=None,
                      failures=("manifest.remote.notFetched",), codes=(), sidecar=False,
                      remote_url=url)


@implements("C2PA", "LM-6")
def read_c2pa(data: bytes | str | os.PathLike[str], *,
              trust_anchors: bytes | str | os.PathLike[str] | None = None,
              manifest: bytes | None = None, mime: str | None = None) -> C2paReport | None:
    """Read and verify the C2PA manifest of a file (bytes or path) - None when there is
    none. A path with a ``.c2pa`` sidecar next to it is read with that sidecar.
    ``trust_anchors``: PEM bytes or a path to a PEM bundle of roots (LM-5). A manifest the
    file only references by URL is reported (``remote_url``, present, not valid) and never
    fetched. c2pa's own exceptions leave as MalformedMedia."""
    import c2pa

    sidecar = manifest is not None
    with contextlib.ExitStack() as stack:
        stream: Any
        if isinstance(data, bytes):
            stream, head = io.BytesIO(data), data[:64]
        else:
            path = Path(data)
            if manifest is None and sidecar_path(path).is_file():
                manifest, sidecar = sidecar_path(path).read_bytes(), True
            stream = stack.enter_context(path.open("rb"))  # c2pa reads it as a stream
            head = stream.read(64)
            stream.seek(0)
        report = _read(c2pa, stream, head, trust_anchors, manifest, mime, sidecar)
    return report


def _read(c2pa: Any, stream: Any, head: bytes, trust_anchors: Any, manifest: bytes | None,
          mime: str | None, sidecar: bool) -> C2paReport | None:
    anchors: bytes | None
    if trust_anchors is None or isinstance(trust_anchors, bytes):
        anchors = trust_anchors
    elif isinstance(trust_anchors, str) and trust_anchors.lstrip().startswith(("-----", "#")):
        anchors = trust_anchors.encode()
    else:
        anchors = Path(trust_anchors).read_bytes()
    fmt = mime or sniff_mime(head) or _OPAQUE
    try:
        reader = c2pa.Reader.try_create(fmt, stream, manifest,
                                        _settings(trust_anchors=anchors))
    except c2pa.C2paError as exc:
        remote = _remote_url(str(exc))
        if remote is not None:
            return _remote_report(remote)
        if manifest is None and sniff_mime(head) is None:
            return None
        raise MalformedMedia(f"the C2PA data cannot be read: {exc}", format=fmt) from None
    except Exception as exc:  # c2pa raises KeyError etc. on damaged stores
        raise MalformedMedia(f"the C2PA data cannot be read: {type(exc).__name__}: {exc}",
                             format=fmt) from None
    if reader is None:
        return None
    try:
        with reader:
            state = reader.get_validation_state()
            failures, codes = _codes(reader.get_validation_results())
            active = reader.get_active_manifest() or {}
    except Exception as exc:  # e.g. KeyError('Active manifest not found') on damage
        raise MalformedMedia(f"the C2PA manifest store is damaged: {type(exc).__name__}: "
                             f"{exc}", format=fmt) from None
    if not isinstance(active, Mapping):
        raise MalformedMedia("the C2PA manifest store has no readable active manifest",
                             format=fmt)
    sig = active.get("signature_info") or {}
    source = None
    aigc = None
    for assertion in active.get("assertions", []) or []:
        lab = str(assertion.get("label", ""))
        if lab.startswith("c2pa.actions"):
            for act in (assertion.get("data") or {}).get("actions", []) or []:
                created = act.get("action") == "c2pa.created"
                if created or (source is None and act.get("digitalSourceType")):
                    source = act.get("digitalSourceType")
        elif lab == GB45438_ASSERTION:
            aigc = {k: str(v) for k, v in (assertion.get("data") or {}).items()}
    gen_info = active.get("claim_generator_info") or []
    generator = None
    if gen_info:
        first = gen_info[0]
        generator = " ".join(str(x) for x in (first.get("name"), first.get("version")) if x)
    hard = [f for f in failures if f not in _UNTRUSTED]
    tampered = any(any(t in f for t in _TAMPER_CODES) for f in failures)
    return C2paReport(
        present=True, valid=not hard and state in ("Valid", "Trusted"),
        trusted=state == "Trusted" and not hard, tampered=tampered,
        validation_state=state, signer=sig.get("common_name"), issuer=sig.get("issuer"),
        algorithm=sig.get("alg"), claim_generator=generator, digital_source_type=source,
        aigc=aigc, failures=tuple(failures), codes=tuple(codes), sidecar=sidecar)
