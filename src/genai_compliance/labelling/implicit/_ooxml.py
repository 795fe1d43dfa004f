"""OOXML (docx/xlsx/pptx): the implicit label as the custom document property ``AIGC``.

Carrier: TC260 document practice guide (PG-2025-CARRIERS; LM-5): a custom property ``AIGC``
(``docProps/custom.xml``, type ``vt:lpwstr``) holding the GB 45438 Annex E JSON. The package
is rewritten entry by entry: every part other than ``docProps/custom.xml``,
``[Content_Types].xml`` and ``_rels/.rels`` is copied with its content unchanged (the zip
container is re-deflated, so the compressed bytes may differ); the custom-properties part
keeps its other properties, the content type and package relationship are added when missing.

Hostile packages: parts are streamed (1 MiB at a time) from the input zip to the output,
never held whole; a part that inflates more than 200 times its compressed size beyond
16 MiB is refused (a decompression bomb). The three XML parts we rewrite are parsed by the
hardened parser (:mod:`._xmlsafe`: no DTD, bounded depth and size). A package without
``[Content_Types].xml`` (skeletal) is still read when it has ``docProps/custom.xml``.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from typing import IO, BinaryIO

from genai_compliance.errors import MalformedMedia
from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._riff import copy_range
from genai_compliance.labelling.implicit._xmlsafe import parse_tree, serialize, walk

__all__ = ["HANDLER", "OoxmlHandler"]

_FMT = "ooxml"
_CUSTOM = "docProps/custom.xml"
_CT = "[Content_Types].xml"
_RELS = "_rels/.rels"
_CT_CUSTOM = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
_REL_CUSTOM = ("http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
               "custom-properties")
_FMTID = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"
_P = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
_VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
_RELNS = "http://schemas.openxmlformats.org/package/2006/relationships"
_MAX_PART = 64 << 20
_RATIO = 200
_RATIO_FLOOR = 16 << 20
_CHUNK = 1 << 20
_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
           zlib.error, RuntimeError, KeyError, NotImplementedError)


def _open(src: BinaryIO, need_types: bool) -> zipfile.ZipFile:
    try:
        z = zipfile.ZipFile(src)
        names = set(z.namelist())
    except _ERRORS as exc:
        raise MalformedMedia(f"OOXML package is not a valid zip: {exc}", format=_FMT,
                             offset=None) from None
    if need_types and _CT not in names:
        raise MalformedMedia("OOXML package without [Content_Types].xml; it cannot be "
                             "relabelled (repair it in an office application)", format=_FMT,
                             offset=None)
    return z


def _check_ratio(info: zipfile.ZipInfo, produced: int) -> None:
    if produced > _RATIO_FLOOR and produced > _RATIO * max(1, info.compress_size):
        raise MalformedMedia(f"OOXML part {info.filename} inflates more than {_RATIO} times "
                             "its compressed size (a decompression bomb); refused",
                             format=_FMT, offset=info.header_offset)


def _stream(z: zipfile.ZipFile, info: zipfile.ZipInfo, out: IO[bytes] | None,
            limit: int | None) -> bytes:
    """Inflate ``info`` chunk by chunk into ``out`` (or into the returned bytes, at most
    ``limit``), checking the decompression ratio as it goes."""
    held = bytearray()
    produced = 0
    try:
        with z.open(info) as part:
            while True:
                block = part.read(_CHUNK)
                if not block:
                    break
                produced += len(block)
                _check_ratio(info, produced)
                if out is not None:
                    out.write(block)
                else:
                    held += block
                    if limit is not None and produced > limit:
                        raise MalformedMedia(f"OOXML part {info.filename} larger than "
                                             f"{limit >> 20} MiB", format=_FMT, offset=None)
    except _ERRORS as exc:
        raise MalformedMedia(f"OOXML part {info.filename} cannot be read: {exc}",
                             format=_FMT, offset=None) from None
    return bytes(held)


def _without_zip64(extra: bytes) -> bytes:
    """``extra`` without its ZIP64 field (id 1): zipfile writes a fresh one when needed."""
    out = bytearray()
    pos = 0
    while pos + 4 <= len(extra):
        xid, xlen = struct.unpack_from("<HH", extra, pos)
        if xid != 1:
            out += extra[pos:pos + 4 + xlen]
        pos += 4 + xlen
    return bytes(out)


def _copy_raw(src: BinaryIO, dst: BinaryIO, out: zipfile.ZipFile,
              info: zipfile.ZipInfo) -> None:
    """Append the part ``info`` of ``src`` to the archive ``out`` (writing to ``dst``) as
    it is: a new local header, then its compressed bytes copied unchanged."""
    src.seek(info.header_offset)
    head = src.read(30)
    if len(head) != 30 or head[:4] != b"PK\x03\x04":
        raise MalformedMedia(f"OOXML part {info.filename}: no local file header where the "
                             "central directory points", format=_FMT,
                             offset=info.header_offset)
    nlen, xlen = struct.unpack_from("<HH", head, 26)
    target = zipfile.ZipInfo(info.filename, info.date_time)
    for attr in ("compress_type", "CRC", "compress_size", "file_size", "external_attr",
                 "internal_attr", "create_system", "create_version", "extract_version",
                 "comment"):
        setattr(target, attr, getattr(info, attr))
    target.flag_bits = info.flag_bits & ~0x08  # sizes go in the local header: no descriptor
    target.extra = _without_zip64(info.extra)
    zip64 = max(info.file_size, info.compress_size) > zipfile.ZIP64_LIMIT
    target.header_offset = dst.tell()
    dst.write(target.FileHeader(zip64))
    copy_range(src, dst, info.header_offset + 30 + nlen + xlen, info.compress_size, _FMT)
    out.filelist.append(target)
    out.NameToInfo[target.filename] = target
    out.start_dir = dst.tell()


def _part(z: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        info = z.getinfo(name)
    except KeyError:
        return None
    return _stream(z, info, None, _MAX_PART)


def _walk_complete(data: bytes) -> bool:
    """Whether the local file headers, followed by their declared sizes, tile the data up
    to its end or to a central directory (nothing truncated, nothing unexplained)."""
    pos = 0
    for _ in range(100_000):
        if pos == len(data) or data[pos:pos + 4] in (b"PK\x01\x02", b"PK\x05\x06"):
            return True
        if data[pos:pos + 4] != b"PK\x03\x04" or pos + 30 > len(data):
            return False
        flags, csize, nlen, xlen = (struct.unpack_from("<H", data, pos + 6)[0],
                                    *struct.unpack_from("<I", data, pos + 18),
                                    *struct.unpack_from("<HH", data, pos + 26))
        if flags & 8:
            return False  # sizes only in a data descriptor: cannot tell
        pos += 30 + nlen + xlen + csize
        if pos > len(data):
            return False
    return False


def _local_part(src: BinaryIO, name: str) -> bytes | None:
    """``name``'s data found by walking local file headers (stored or deflated, with or
    without a data descriptor), inflating at most :data:`_MAX_PART`; None if absent."""
    src.seek(0)
    data = src.read(_MAX_PART + (1 << 16))
    want = name.encode()
    pos = 0
    for _ in range(100_000):
        at = data.find(b"PK\x03\x04", pos)
        if at < 0 or at + 30 > len(data):
            return None
        (_sig, _ver, flags, method, _t, _d, _crc, csize, _usize, nlen,
         xlen) = struct.unpack_from("<IHHHHHIIIHH", data, at)
        fname = data[at + 30:at + 30 + nlen]
        start = at + 30 + nlen + xlen
        pos = at + 4
        if fname != want:
            continue
        if method == 0:
            if csize or not flags & 8:
                return data[start:start + csize]
            end = data.find(b"</Properties>", start)  # size only in the data descriptor
            return data[start:end + 13] if end >= 0 else None
        if method == 8:
            d = zlib.decompressobj(-15)
            try:
                out = d.decompress(data[start:], _MAX_PART)
            except zlib.error:
                return None
            return out
        return None
    return None


def _labels(custom: bytes) -> list[str]:
    """The text of every ``property name="AIGC"`` (its ``vt:lpwstr`` or direct text)."""
    out: list[str] = []
    depth = [0]
    inside = [-1]
    parts: list[str] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        depth[0] += 1
        if tag.rpartition("}")[2] == "property" and attrs.get("name") == "AIGC":
            inside[0] = depth[0]
            parts.clear()

    def data(text: str) -> None:
        if inside[0] >= 0:
            parts.append(text)

    def end(tag: str) -> None:
        if depth[0] == inside[0]:
            out.append("".join(parts).strip())
            inside[0] = -1
        depth[0] -= 1

    walk(custom, _FMT, start, end, data)
    return out


def _text(root: ET.Element, default_ns: str, prefixes: dict[str, str]) -> bytes:
    body = serialize(root, default_ns, {"vt": _VT, **prefixes})
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + body).encode()


def _new_custom(old: bytes | None, aigc_json: str) -> bytes:
    prefixes: dict[str, str] = {}
    root = (parse_tree(old, _FMT, prefixes) if old else ET.Element(f"{{{_P}}}Properties"))
    pids = []
    for prop in list(root):
        if prop.get("name") == "AIGC":
            root.remove(prop)
            continue
        pid = prop.get("pid", "")
        if pid.isdigit():
            pids.append(int(pid))
    prop = ET.SubElement(root, f"{{{_P}}}property", {"fmtid": _FMTID,
                                                      "pid": str(max([1, *pids]) + 1),
                                                      "name": "AIGC"})
    ET.SubElement(prop, f"{{{_VT}}}lpwstr").text = aigc_json
    return _text(root, _P, prefixes)


def _new_types(old: bytes) -> bytes:
    prefixes: dict[str, str] = {}
    root = parse_tree(old, _FMT, prefixes)
    for el in root:
        if el.get("PartName") == "/docProps/custom.xml":
            return old
    ET.SubElement(root, f"{{{_TYPES}}}Override", {"PartName": "/docProps/custom.xml",
                                                   "ContentType": _CT_CUSTOM})
    return _text(root, _TYPES, prefixes)


def _new_rels(old: bytes) -> bytes:
    prefixes: dict[str, str] = {}
    root = parse_tree(old, _FMT, prefixes)
    ids = []
    for el in root:
        if el.get("Target", "").lstrip("/") == _CUSTOM:
            return old
        rid = el.get("Id", "")
        if rid.startswith("rId") and rid[3:].isdigit():
            ids.append(int(rid[3:]))
    ET.SubElement(root, f"{{{_RELNS}}}Relationship", {"Id": f"rId{max([0, *ids]) + 1}",
                                                       "Type": _REL_CUSTOM,
                                                       "Target": _CUSTOM})
    return _text(root, _RELNS, prefixes)


class OoxmlHandler:
    """OOXML custom-property ``AIGC`` reader/writer (LM-5)."""

    name = _FMT

    def sniff(self, head: bytes) -> bool:
        """A zip whose first entries name ``[Content_Types].xml`` or an OOXML part folder
        (``docProps/``, ``word/``, ``xl/``, ``ppt/``, ``_rels/``)."""
        if head[:4] != b"PK\x03\x04":
            return False
        first = head[30:30 + int.from_bytes(head[26:28], "little")]
        return (b"[Content_Types].xml" in head or b"docProps/" in head
                or first.startswith((b"word/", b"xl/", b"ppt/", b"_rels/")))

    def write(self, src: BinaryIO, dst: BinaryIO, aigc_json: str) -> None:
        """Rewrite the package with the ``AIGC`` custom property set (parts streamed)."""
        z = _open(src, need_types=True)
        replaced: dict[str, bytes] = {_CUSTOM: _new_custom(_part(z, _CUSTOM), aigc_json)}
        replaced[_CT] = _new_types(_part(z, _CT) or b"")
        rels = _part(z, _RELS)
        if rels is not None:
            replaced[_RELS] = _new_rels(rels)
        try:
            with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
                for info in z.infolist():
                    if info.filename in replaced:
                        out.writestr(info, replaced.pop(info.filename),
                                     compress_type=zipfile.ZIP_DEFLATED)
                        continue
                    _check_ratio(info, info.file_size)
                    _copy_raw(src, dst, out, info)
                for name, text in replaced.items():
                    out.writestr(name, text, compress_type=zipfile.ZIP_DEFLATED)
        except MalformedMedia:
            raise
        except _ERRORS as exc:
            raise MalformedMedia(f"OOXML package cannot be rewritten: {exc}", format=_FMT,
                                 offset=None) from None

    def read(self, src: BinaryIO) -> list[RawLabel]:
        """The ``AIGC`` custom property values. A package whose central directory is
        missing or damaged (skeletal) is read from its local file headers."""
        try:
            z = _open(src, need_types=False)
        except MalformedMedia:
            custom = _local_part(src, _CUSTOM)
            if custom is None:
                src.seek(0)
                if _walk_complete(src.read(_MAX_PART + (1 << 16))):
                    return []  # a skeletal package, complete, without custom properties
                raise
            return [RawLabel("ooxml:custom.xml", text, None,
                             note="read from the zip's local file header: the package has "
                             "no readable central directory (skeletal container)")
                    for text in _labels(custom)]
        custom = _part(z, _CUSTOM)
        if custom is None:
            return []
        return [RawLabel("ooxml:custom.xml", text, None) for text in _labels(custom)]


HANDLER = OoxmlHandler()
