"""Ed25519 key helpers over ``cryptography``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ConfigurationError, SigningError

__all__ = ["generate_ed25519", "key_id", "load_ed25519_private", "load_ed25519_public",
           "private_pem", "public_pem"]


def generate_ed25519() -> Ed25519PrivateKey:
    """A fresh Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def key_id(public: Ed25519PublicKey) -> str:
    """A short stable id: the first 16 hex digits of SHA-256 over the raw public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def private_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _read(source: str | os.PathLike[str] | bytes, what: str) -> bytes:
    if isinstance(source, bytes):
        return source
    path = Path(source)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the {what} at {str(path)!r}: {exc.strerror}; check the path",
            field=what,
            path=str(path),
        ) from exc


def load_ed25519_private(
    source: str | os.PathLike[str] | bytes, password: bytes | None = None
) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from a PEM file path or PEM bytes."""
    data = _read(source, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise SigningError(
            "the private key is not a readable PEM key (or the password is wrong); "
            "create one with `openssl genpkey -algorithm ed25519`",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(
            f"the ledger needs an Ed25519 key, got {type(key).__name__}; "
            "create one with `openssl genpkey -algorithm ed25519`",
        )
    return key


def load_ed25519_public(source: str | os.PathLike[str] | bytes) -> Ed25519PublicKey:
    """Load an Ed25519 public key (or the public half of a private key) from PEM."""
    data = _read(source, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        return load_ed25519_private(data).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(
            f"expected an Ed25519 public key, got {type(key).__name__}",
        )
    return key
