"""OOXML (docx/xlsx/pptx): the implicit label as the custom document property ``AIGC``.

Carrier: TC260 document practice guide (PG-2025-CARRIERS; LM-5): a custom property ``AIGC``
(``docProps/custom.xml``, type ``vt:lpwstr``) holding the GB 45438 Annex E JSON. The package
is rewritten entry by entry: every part other than ``docProps/custom.xml``,
``[Content_Types].xml`` and ``_rels/.rels`` is copied with its content unchanged (the zip
container is re-deflated, so the compressed bytes may differ); the custom-properties part
keeps its other properties, the content type and package relationship are added when missing.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from html import escape, unescape
from typing import BinaryIO

from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling.implicit._base import RawLabel

__all__ = ["HANDLER", "OoxmlHandler"]

_FMT = "ooxml"
_CUSTOM = "docProps/custom.xml"
_CT = "[Content_Types].xml"
_RELS = "_rels/.rels"
_CT_CUSTOM = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
_REL_CUSTOM = ("http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
               "custom-properties")
_FMTID = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"
_NS = ('xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
       'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"')
_PROP = re.compile(r'<property\b[^>]*\bname="AIGC"[^>]*>(.*?)</property>', re.S)
_VALUE = re.compile(r"<vt:lpwstr>(.*?)</vt:lpwstr>", re.S)
_PID = re.compile(r'\bpid="(\d+)"')
_MAX_PART = 64 << 20


def _open(data: bytes) -> zipfile.ZipFile:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error,
            RuntimeError, KeyError) as exc:
        raise MalformedMedia(f"OOXML package is not a valid zip: {exc}", format=_FMT,
                             offset=None) from None
    if _CT not in names:
        raise MalformedMedia("OOXML package without [Content_Types].xml", format=_FMT,
                             offset=None)
    return z


def _part(z: zipfile.ZipFile, name: str) -> str | None:
    try:
        info = z.getinfo(name)
    except KeyError:
        return None
    if info.file_size > _MAX_PART:
        raise MalformedMedia(f"OOXML part {name} too large", format=_FMT, offset=None)
    try:
        return z.read(name).decode("utf-8")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error,
            RuntimeError, KeyError) as exc:
        raise MalformedMedia(f"OOXML part {name} cannot be read: {exc}", format=_FMT,
                             offset=None) from None


class OoxmlHandler:
    """OOXML custom-property ``AIGC`` reader/writer (LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """A zip whose first entries name ``[Content_Types].xml``."""
        return head[:4] == b"PK\x03\x04" and b"[Content_Types].xml" in head

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Rewrite the package with the ``AIGC`` custom property set."""
        z = _open(src.read())
        custom = _part(z, _CUSTOM)
        value = f"<vt:lpwstr>{escape(aigc_json, quote=False)}</vt:lpwstr>"
        if custom is None:
            custom = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                      f"<Properties {_NS}></Properties>")
        custom = _PROP.sub("", custom)
        pids = [int(p) for p in _PID.findall(custom)]
        prop = (f'<property fmtid="{_FMTID}" pid="{max([1, *pids]) + 1}" name="AIGC">'
                f"{value}</property>")
        if "</Properties>" not in custom:
            raise MalformedMedia("docProps/custom.xml without </Properties>", format=_FMT,
                                 offset=None)
        custom = custom.replace("</Properties>", prop + "</Properties>", 1)
        ct = _part(z, _CT) or ""
        if "/docProps/custom.xml" not in ct:
            ct = ct.replace("</Types>", f'<Override PartName="/docProps/custom.xml" '
                            f'ContentType="{_CT_CUSTOM}"/></Types>', 1)
        rels = _part(z, _RELS)
        if rels is not None and "docProps/custom.xml" not in rels:
            ids = re.findall(r'Id="rId(\d+)"', rels)
            rid = max([0, *map(int, ids)]) + 1
            rels = rels.replace("</Relationships>", f'<Relationship Id="rId{rid}" '
                                f'Type="{_REL_CUSTOM}" Target="docProps/custom.xml"/>'
                                "</Relationships>", 1)
        replaced = {_CUSTOM: custom, _CT: ct}
        if rels is not None:
            replaced[_RELS] = rels
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
            for info in z.infolist():
                if info.filename in replaced:
                    out.writestr(info, replaced.pop(info.filename).encode("utf-8"),
                                 compress_type=zipfile.ZIP_DEFLATED)
                else:
                    try:
                        out.writestr(info, z.read(info))
                    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error,
            RuntimeError, KeyError) as exc:
                        raise MalformedMedia(f"OOXML part {info.filename} cannot be read: "
                                             f"{exc}", format=_FMT, offset=None) from None
            for name, text in replaced.items():
                out.writestr(name, text.encode("utf-8"), compress_type=zipfile.ZIP_DEFLATED)

    def read(self, src: BinaryIO) -> list[RawLabel]:
        """The ``AIGC`` custom property values."""
        custom = _part(_open(src.read()), _CUSTOM)
        if custom is None:
            return []
        out: list[RawLabel] = []
        for m in _PROP.finditer(custom):
            v = _VALUE.search(m.group(1))
            out.append(RawLabel("ooxml:custom.xml", unescape(v.group(1) if v else m.group(1)),
                                None))
        return out


HANDLER = OoxmlHandler()
