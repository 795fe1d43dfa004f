"""Checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes.

A checkpoint is three lines, ``origin``, ``tree size`` and the base64 RFC 6962 root, then a
blank line and two signature lines by the ledger's Ed25519 key, whose key name is the
origin::

    genai-compliance.invalid/ledger/3f9c2a7e41d05b68
    1200
    q1Y…=

    — genai-compliance.invalid/ledger/3f9c2a7e41d05b68 AbCd…   (Ed25519 note signature, 0x01)
    — genai-compliance.invalid/ledger/3f9c2a7e41d05b68 EfGh…   (timestamped cosignature, 0x04)

The first line is a plain signed-note Ed25519 signature, so any C2SP verifier (Go's
``sumdb/note``, Tessera, Sigstore tooling) checks it with the ``vkey`` of :func:`vkey`. The
second is a ``cosignature/v1`` (c2sp.org/tlog-cosignature) by the same key: it signs the
time of the tree head without extension lines, which the checkpoint spec advises against.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..crypto import key_id as _key_id

__all__ = [
    "Checkpoint",
    "NoteError",
    "Signer",
    "check_origin",
    "key_hash",
    "parse_vkey",
    "raw_public",
    "sign_checkpoint",
    "vkey",
]

_ED25519 = 0x01
_COSIG = 0x04
_DASH = "\u2014 "


class NoteError(ValueError):
    """A signed note that is not well formed."""


@runtime_checkable
class Signer(Protocol):
    """What signs checkpoints: an ``Ed25519PrivateKey`` or a callback signer (KMS/HSM)."""

    def public_key(self) -> Ed25519PublicKey: ...

    def sign(self, data: bytes) -> bytes: ...


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hash(name: str, key: Ed25519PublicKey, sig_type: int = _ED25519) -> bytes:
    """The 4-byte signed-note key ID: ``SHA-256(name || 0x0A || type || key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + raw_public(key)).digest()[:4]


def vkey(name: str, key: Ed25519PublicKey) -> str:
    """The signed-note verifier key ``name+hash+base64(0x01 || key)``."""
    return (f"{name}+{key_hash(name, key).hex()}+"
            + base64.b64encode(bytes([_ED25519]) + raw_public(key)).decode())


def parse_vkey(text: str) -> tuple[str, Ed25519PublicKey]:
    """``(name, key)`` from a vkey; raises :class:`NoteError`."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("a verifier key has the form name+hash+base64key")
    name, hash_hex, b64 = parts
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("the verifier key's key part is not base64") from exc
    if len(raw) != 33 or raw[0] != _ED25519:
        raise NoteError("only Ed25519 verifier keys (type 0x01) are supported")
    key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_hash(name, key).hex() != hash_hex.lower():
        raise NoteError("the verifier key's hash does not match its name and key")
    return name, key


def check_origin(origin: str) -> str:
    """An origin usable as a checkpoint origin and a note key name."""
    if (not origin or any(c.isspace() or c == "+" or ord(c) < 0x20 for c in origin)
            or origin.startswith("cosignature/") or origin.startswith("subtree/")):
        raise NoteError(f"checkpoint origin {origin!r} must be non-empty, without spaces or "
                        "'+', e.g. example.cn/compliance-ledger")
    return origin


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("not base64") from exc


def _body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{_b64(root)}\n"


@attrs.frozen
class Checkpoint:
    """A signed tree head: the ledger had ``size`` records with Merkle ``root`` at ``time``.

    ``note`` is the whole signed note as written; ``key_id`` is the SDK's short id of the
    signing key (``crypto.key_id``). ``seq`` and ``hash`` are the names of 0.1.
    """

    origin: str
    size: int
    root: bytes
    time: dt.datetime | None
    key_id: str
    note: str

    @property
    def seq(self) -> int:
        return self.size

    @property
    def hash(self) -> str:
        return self.root.hex()

    @property
    def root_b64(self) -> str:
        return _b64(self.root)

    def body(self) -> str:
        return _body(self.origin, self.size, self.root)

    def to_json(self) -> dict[str, Any]:
        return {"origin": self.origin, "size": self.size, "root": self.root_b64,
                "time": None if self.time is None else _iso_s(self.time),
                "key_id": self.key_id, "checkpoint": self.note}

    @classmethod
    def parse(cls, note: str) -> Checkpoint:
        """Parse (without checking any signature): raises :class:`NoteError`."""
        origin, size, root, _sigs = _parse(note)
        return cls(origin, size, root, None, "", note)

    def verify(self, keys: Iterable[Ed25519PublicKey]) -> Checkpoint | None:
        """The checkpoint with its signed ``time`` and ``key_id`` when one of ``keys`` signed
        it (every signature by a known key must verify); ``None`` otherwise."""
        return verify_note(self.note, keys)


def _iso_s(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(note: str) -> tuple[str, int, bytes, list[tuple[str, bytes]]]:
    if not isinstance(note, str) or any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a signed note is UTF-8 text without control characters")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("a signed note is text, a blank line, then signature lines")
    text, sig_block = note[:cut + 1], note[cut + 2:]
    lines = text[:-1].split("\n")
    if len(lines) != 3:
        raise NoteError("a checkpoint has exactly three lines: origin, tree size, root hash")
    origin, size_s, root_s = lines
    if not origin or not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")):
        raise NoteError("the checkpoint's origin or tree size is malformed")
    root = _unb64(root_s)
    if len(root) != 32:
        raise NoteError("the checkpoint's root hash is not 32 bytes")
    sigs: list[tuple[str, bytes]] = []
    for line in sig_block[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise NoteError("a signature line starts with an em dash and a space")
        name, sep, b64 = line[len(_DASH):].partition(" ")
        if not sep or not name:
            raise NoteError("a signature line is '— name base64'")
        raw = _unb64(b64)
        if len(raw) < 5:
            raise NoteError("a note signature is too short")
        sigs.append((name, raw))
    if not sigs or len(sigs) > 16:
        raise NoteError("a signed note needs between 1 and 16 signatures")
    return origin, int(size_s), root, sigs


def sign_checkpoint(origin: str, size: int, root: bytes, when: dt.datetime,
                    signer: Signer) -> Checkpoint:
    """Sign the tree head with an Ed25519 note signature and a timestamped cosignature."""
    check_origin(origin)
    public = signer.public_key()
    text = _body(origin, size, root)
    ts = int(when.timestamp())
    sig = signer.sign(text.encode())
    cosig = signer.sign(f"cosignature/v1\ntime {ts}\n".encode() + text.encode())
    stamped = key_hash(origin, public, _COSIG) + struct.pack(">Q", ts) + cosig
    lines = (f"{_DASH}{origin} {_b64(key_hash(origin, public) + sig)}\n"
             f"{_DASH}{origin} {_b64(stamped)}\n")
    return Checkpoint(origin, size, root, dt.datetime.fromtimestamp(ts, dt.UTC),
                      _key_id(public), text + "\n" + lines)


def verify_note(note: str, keys: Iterable[Ed25519PublicKey]) -> Checkpoint | None:
    """See :meth:`Checkpoint.verify`."""
    try:
        origin, size, root, sigs = _parse(note)
    except NoteError:
        return None
    text = _body(origin, size, root).encode()
    plain: dict[bytes, Ed25519PublicKey] = {}
    cosig: dict[bytes, Ed25519PublicKey] = {}
    for key in keys:
        plain[key_hash(origin, key)] = key
        cosig[key_hash(origin, key, _COSIG)] = key
    signed_by: Ed25519PublicKey | None = None
    when: dt.datetime | None = None
    for name, raw in sigs:
        if name != origin:
            continue
        khash, body = raw[:4], raw[4:]
        try:
            if khash in plain and len(body) == 64:
                plain[khash].verify(body, text)
                signed_by = plain[khash]
            elif khash in cosig and len(body) == 72:
                (ts,) = struct.unpack(">Q", body[:8])
                if ts > 2**63 - 1:
                    return None
                cosig[khash].verify(body[8:], f"cosignature/v1\ntime {ts}\n".encode() + text)
                when = dt.datetime.fromtimestamp(ts, dt.UTC)
                signed_by = signed_by or cosig[khash]
            elif khash in plain or khash in cosig:
                return None  # a known key with a malformed signature: reject the note
        except InvalidSignature:
            return None
        except (OverflowError, OSError, ValueError):
            return None
    if signed_by is None:
        return None
    return Checkpoint(origin, size, root, when, _key_id(signed_by), note)


def keys_by_id(keys: Iterable[Ed25519PublicKey]) -> Mapping[str, Ed25519PublicKey]:
    return {_key_id(k): k for k in keys}


def signer_public(signer: Signer) -> Ed25519PublicKey:
    key = signer.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError("a ledger signer's public_key() must return an Ed25519PublicKey")
    return key


def as_keys(keys: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None
            ) -> list[Ed25519PublicKey]:
    if keys is None:
        return []
    if isinstance(keys, Ed25519PublicKey):
        return [keys]
    return list(keys)
