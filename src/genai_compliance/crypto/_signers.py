"""Ed25519 signers for ledger checkpoints: a private key in this process, or a callback to a
KMS/HSM so the private key never enters it (the habit of c2pa-python's callback signer).

A signer is anything with ``public_key() -> Ed25519PublicKey`` and ``sign(data) -> bytes``;
``cryptography``'s ``Ed25519PrivateKey`` already is one.

.. versionadded:: 0.2
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import SigningError
from ._keys import key_id, load_ed25519_private, load_ed25519_public

__all__ = ["Ed25519CallbackSigner", "Ed25519Signer", "as_ed25519_signer"]


@runtime_checkable
class Ed25519Signer(Protocol):
    """Signs bytes with an Ed25519 key whose public half it tells."""

    def public_key(self) -> Ed25519PublicKey: ...

    def sign(self, data: bytes) -> bytes: ...


class Ed25519CallbackSigner:
    """An Ed25519 signer whose private key lives elsewhere (KMS, HSM, a signing service).

    :param public_key: the public key (object, PEM bytes or a PEM file path).
    :param sign: called with the bytes to sign; returns the 64-byte Ed25519 signature.
    :param check: verify each signature against ``public_key`` before using it (default),
        so a misconfigured KMS key fails loudly instead of writing unverifiable checkpoints.
    """

    def __init__(self, public_key: Ed25519PublicKey | bytes | str | os.PathLike[str],
                 sign: Callable[[bytes], bytes], *, check: bool = True) -> None:
        self._public = (public_key if isinstance(public_key, Ed25519PublicKey)
                        else load_ed25519_public(public_key))
        if not callable(sign):
            raise SigningError("sign must be a callable taking bytes and returning the "
                               "64-byte Ed25519 signature")
        self._sign = sign
        self._check = check

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        try:
            signature = bytes(self._sign(data))
        except SigningError:
            raise
        except Exception as exc:
            raise SigningError(f"the signing callback failed: {type(exc).__name__}; check "
                               "the KMS/HSM connection and permissions") from exc
        if len(signature) != 64:
            raise SigningError(f"the signing callback returned {len(signature)} bytes; an "
                               "Ed25519 signature has 64")
        if self._check:
            try:
                self._public.verify(signature, data)
            except InvalidSignature as exc:
                raise SigningError("the signing callback's signature does not verify with "
                                   f"public key {key_id(self._public)}; the callback signs "
                                   "with another key") from exc
        return signature

    def __repr__(self) -> str:
        return f"Ed25519CallbackSigner(key_id={key_id(self._public)!r})"


def as_ed25519_signer(value: object) -> Ed25519Signer:
    """A signer from an ``Ed25519PrivateKey``, a signer object or a PEM private-key path."""
    if isinstance(value, Ed25519PrivateKey):
        return value
    if isinstance(value, str | os.PathLike | bytes):
        return load_ed25519_private(value)
    if isinstance(value, Ed25519Signer) and isinstance(value.public_key(), Ed25519PublicKey):
        return value
    raise SigningError(f"a ledger signing key must be an Ed25519 private key, a PEM path or a "
                       f"signer with public_key() and sign(); got {type(value).__name__}")
