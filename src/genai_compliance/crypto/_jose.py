"""base64url and compact JWS (RFC 7515, EdDSA over Ed25519): the one implementation that
consent receipts, report bundles, the ledger and the labels' SecurityData share.

Decoding is strict: only the canonical encoding of a byte string is accepted (no padding,
no whitespace, no stray low bits in the last character), so a changed character in a token
or a signature file is always a different — and failing — value.

.. versionadded:: 0.2
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import ConfigurationError, SigningError

__all__ = ["b64url_decode", "b64url_encode", "jws_sign", "jws_verify"]


class _Signs(Protocol):
    def sign(self, data: bytes) -> bytes: ...


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of a canonical unpadded base64url string; a
    :class:`~genai_compliance.ConfigurationError` (a ``ValueError``) for anything else
    (padding, whitespace, other alphabets, non-zero unused bits)."""
    if not isinstance(text, str):
        raise ConfigurationError(f"base64url text expected, got {type(text).__name__}",
                                 field="base64url", value=type(text).__name__)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError("not base64url text (RFC 7515 §2: A-Z a-z 0-9 - _, no "
                                 "padding)", field="base64url") from exc
    if b64url_encode(raw) != text:
        raise ConfigurationError("not the canonical base64url encoding (no padding, unused "
                                 "bits zero)", field="base64url")
    return raw


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def jws_sign(header: Mapping[str, Any], claims: Mapping[str, Any], signer: _Signs) -> str:
    """A compact JWS ``header.claims.signature`` signed by ``signer`` (an Ed25519 private
    key or a callback signer); ``header["alg"]`` must be ``EdDSA``."""
    if header.get("alg") != "EdDSA":
        raise SigningError("only EdDSA (Ed25519) tokens are made here", value=header.get("alg"))
    h, c = b64url_encode(_json(header)), b64url_encode(_json(claims))
    return f"{h}.{c}.{b64url_encode(signer.sign(f'{h}.{c}'.encode('ascii')))}"


def jws_verify(token: str, public_key: Ed25519PublicKey, *,
               what: str = "token") -> tuple[dict[str, Any], dict[str, Any]]:
    """``(header, claims)`` of a compact EdDSA JWS that verifies with ``public_key``; a
    :class:`SigningError` naming ``what`` otherwise (kept opaque: no detail of why)."""
    try:
        h, c, s = token.split(".")
        header: dict[str, Any] = json.loads(b64url_decode(h))
        if header.get("alg") != "EdDSA":
            raise ValueError("not EdDSA")
        public_key.verify(b64url_decode(s), f"{h}.{c}".encode("ascii"))
        claims: dict[str, Any] = json.loads(b64url_decode(c))
    except (ValueError, TypeError, AttributeError, InvalidSignature, UnicodeError) as exc:
        raise SigningError(f"the {what} does not verify") from exc
    return header, claims
