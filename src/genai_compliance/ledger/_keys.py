"""The ledger's two secrets, kept outside the ledger: the checkpoint signing key and the
pseudonym secret.

They come from (first match wins, each secret on its own):

1. objects passed in code: ``signing_key=`` (an ``Ed25519PrivateKey``, a PEM path or a
   callback signer for a KMS/HSM) and ``pseudonym_secret=`` (bytes);
2. ``pseudonym_secret_env`` (the secret alone) and ``key_env``: an environment variable
   holding a whole key file (its text, or that text base64-encoded);
3. ``key_file``: a key file, created once (mode 0600) when missing;
4. development mode only (``dev_mode=True``): generated once and kept in the ledger's own
   tables, as 0.1 did — verification then proves consistency only;
5. otherwise the default key file, created once (mode 0600, folder 0700) beside the SQLite
   file in ``genai-compliance-keys/`` or, for PostgreSQL, under ``$GENAI_COMPLIANCE_HOME``
   (default ``$XDG_DATA_HOME/genai-compliance``, i.e. ``~/.local/share/genai-compliance``)
   in ``keys/``.

A key file is two PEM blocks::

    -----BEGIN PRIVATE KEY-----                       (PKCS#8 Ed25519)
    -----BEGIN GENAI-COMPLIANCE PSEUDONYM SECRET-----  (base64 of 32 random bytes)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import secrets
import stat
import sys
from pathlib import Path

import attrs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..crypto import Ed25519Signer, generate_ed25519, private_pem
from ..errors import ConfigurationError
from ..stores import StoreURI

__all__ = [
    "KeyMaterial",
    "default_home",
    "default_key_file",
    "default_witness_dir",
    "generate_key_file",
    "parse_key_material",
    "read_key_file",
    "replace_key_file",
    "write_key_file",
]

_SECRET_LABEL = "GENAI-COMPLIANCE PSEUDONYM SECRET"
_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 -]+)-----\s*(.*?)\s*-----END \1-----", re.S)
_HEADER = ("# genai-compliance ledger key file: the checkpoint signing key and the pseudonym\n"
           "# secret. Keep it secret (mode 0600), back it up apart from the database, and give\n"
           "# auditors only the public key (`genai-compliance ledger public-key`).\n")


@attrs.frozen(repr=False)
class KeyMaterial:
    """A signing key and/or a pseudonym secret, and where they came from (for messages)."""

    signer: Ed25519Signer | None
    secret: bytes | None
    source: str
    path: str | None = None

    def __repr__(self) -> str:  # never show key material
        return f"KeyMaterial(source={self.source!r})"


def parse_key_material(text: str, *, source: str) -> KeyMaterial:
    """Read a key file's text (or the same text base64-encoded, as in an environment
    variable)."""
    if "-----BEGIN" not in text:
        try:
            text = base64.b64decode(text.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"{source} is not a genai-compliance key file (PEM blocks, or their base64); "
                "create one with `genai-compliance ledger keygen --key-file PATH`",
                field="ledger.key_file") from exc
    key: Ed25519PrivateKey | None = None
    secret: bytes | None = None
    for match in _BLOCK.finditer(text):
        label, body = match.group(1), match.group(0)
        if label == _SECRET_LABEL:
            try:
                secret = base64.b64decode("".join(match.group(2).split()), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ConfigurationError(f"the pseudonym secret in {source} is not base64",
                                         field="ledger.key_file") from exc
            if len(secret) < 16:
                raise ConfigurationError(f"the pseudonym secret in {source} is shorter than "
                                         "16 bytes", field="ledger.key_file")
        elif label == "PRIVATE KEY":
            try:
                loaded = serialization.load_pem_private_key(body.encode(), password=None)
            except (ValueError, TypeError) as exc:
                raise ConfigurationError(f"the private key in {source} cannot be read",
                                         field="ledger.key_file") from exc
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ConfigurationError(f"the private key in {source} is not Ed25519",
                                         field="ledger.key_file")
            key = loaded
    if key is None and secret is None:
        raise ConfigurationError(f"{source} holds neither a signing key nor a pseudonym "
                                 "secret; create it with `genai-compliance ledger keygen`",
                                 field="ledger.key_file")
    return KeyMaterial(key, secret, source)


def render_key_file(key: Ed25519PrivateKey, secret: bytes) -> bytes:
    b64 = base64.b64encode(secret).decode()
    return (_HEADER + private_pem(key).decode()
            + f"-----BEGIN {_SECRET_LABEL}-----\n{b64}\n-----END {_SECRET_LABEL}-----\n"
            ).encode()


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_tmp(path: str, data: bytes, *, sync: bool = True) -> str:
    folder = os.path.dirname(path) or "."
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def _ensure_dir(folder: str, what: str) -> None:
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the {what} folder {folder!r}: {exc.strerror}; "
                                 "create it or set ledger.key_file", field="ledger.key_file",
                                 path=folder) from exc


def write_key_file(path: str, key: Ed25519PrivateKey, secret: bytes) -> bool:
    """Create the key file atomically, mode 0600; ``False`` when it already exists (another
    process won the race: read that one)."""
    folder = os.path.dirname(os.path.abspath(path))
    _ensure_dir(folder, "key")
    tmp = _write_tmp(path, render_key_file(key, secret))
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # no hard links here: fall back to an exclusive create
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        try:
            os.write(fd, render_key_file(key, secret))
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _fsync_dir(folder)
    return True


def replace_key_file(path: str, key: Ed25519PrivateKey, secret: bytes) -> None:
    """Replace the key file atomically (key rotation)."""
    folder = os.path.dirname(os.path.abspath(path))
    _ensure_dir(folder, "key")
    tmp = _write_tmp(path, render_key_file(key, secret))
    os.replace(tmp, path)
    _fsync_dir(folder)


def read_key_file(path: str) -> KeyMaterial:
    """Read a key file, refusing one that others may read (as ssh does)."""
    try:
        info = os.stat(path)
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the ledger key file {path!r}: {exc.strerror}",
                                 field="ledger.key_file", path=path) from exc
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"the ledger key file {path!r} is not text",
                                 field="ledger.key_file", path=path) from exc
    if sys.platform != "win32" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"the ledger key file {path!r} can be read by other users (mode "
            f"{stat.S_IMODE(info.st_mode):o}); run `chmod 600 {path}`",
            field="ledger.key_file", path=path)
    material = parse_key_material(text, source=f"key file {path}")
    return attrs.evolve(material, path=path)


def generate_key_file(path: str, *, secret: bytes | None = None) -> KeyMaterial:
    """Create a key file with a fresh key (and ``secret`` or a fresh one) unless it exists;
    returns what the file holds."""
    if not os.path.exists(path):
        write_key_file(path, generate_ed25519(), secret or secrets.token_bytes(32))
    return read_key_file(path)


def default_home() -> str:
    """``$GENAI_COMPLIANCE_HOME``, else ``$XDG_DATA_HOME/genai-compliance``, else
    ``~/.local/share/genai-compliance``."""
    home = os.environ.get("GENAI_COMPLIANCE_HOME")
    if home:
        return os.path.abspath(home)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return os.path.join(base, "genai-compliance")


def _slug(uri: StoreURI) -> str:
    import urllib.parse

    parts = urllib.parse.urlsplit(uri.raw)
    ident = f"{parts.hostname or 'local'}:{parts.port or 5432}{parts.path}" \
            f"?schema={uri.query.get('schema', '')}&user={parts.username or ''}"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{parts.hostname or 'local'}-"
                  f"{parts.path.strip('/') or 'db'}-{uri.query.get('schema', 'public')}")
    return f"{name[:60]}-{hashlib.sha256(ident.encode()).hexdigest()[:10]}"


def default_key_file(uri: StoreURI, key_dir: str | None = None) -> str | None:
    """Where the key file of the ledger at ``uri`` lives by default (``None`` for an
    in-memory SQLite ledger, whose keys live in memory)."""
    if uri.kind == "sqlite":
        if uri.path == ":memory:":
            return None
        db = os.path.abspath(uri.path)
        folder = key_dir or os.path.join(os.path.dirname(db), "genai-compliance-keys")
        return os.path.join(folder, os.path.basename(db) + ".key")
    folder = key_dir or os.path.join(default_home(), "keys")
    return os.path.join(folder, _slug(uri) + ".key")


def default_witness_dir(uri: StoreURI) -> str | None:
    """The default witness folder of the ledger at ``uri`` (``None`` for in-memory)."""
    if uri.kind == "sqlite":
        if uri.path == ":memory:":
            return None
        return os.path.join(os.path.dirname(os.path.abspath(uri.path)),
                            "genai-compliance-witness")
    return os.path.join(default_home(), "witness")
