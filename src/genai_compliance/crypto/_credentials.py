"""C2PA signing credentials: a PEM chain + key, PKCS#12, or a callback signer (KMS/HSM).

The private key is never logged, put in an error or shown by ``repr``. With a callback
signer the key never enters this process at all: the SDK hands the callback the bytes to
sign and ships the certificate chain. Supports LM-5 / IM-12 signed content credentials.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import pkcs12

from ..errors import ConfigurationError, SigningError

__all__ = ["ALGORITHMS", "SigningCredentials"]

#: Signing algorithms accepted (C2PA names, lower case).
ALGORITHMS = ("es256", "es384", "ps256", "ed25519")
_EC_SIZES = {"es256": 32, "es384": 48}

Source = str | os.PathLike[str] | bytes


def _read(source: Source, what: str) -> bytes:
    if isinstance(source, bytes):
        return source
    path = Path(source)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the {what} at {str(path)!r}: {exc.strerror}; "
                                 "check the path", field=what, path=str(path)) from exc


def _certs(chain: bytes) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(chain)
    except ValueError as exc:
        raise SigningError("the certificate chain is not PEM certificates; give the leaf "
                           "certificate then its intermediates in one PEM file") from exc
    return certs


def _algorithm_for(key: Any) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if isinstance(key.curve, ec.SECP256R1):
            return "es256"
        if isinstance(key.curve, ec.SECP384R1):
            return "es384"
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    raise SigningError(f"unsupported key type {type(key).__name__}; use ES256 (P-256), "
                       "ES384 (P-384), PS256 (RSA) or Ed25519")


def _check_alg(alg: str) -> str:
    alg = alg.lower()
    if alg not in ALGORITHMS:
        raise SigningError(f"unsupported signing algorithm {alg!r}; use one of "
                           f"{', '.join(ALGORITHMS)}", field="algorithm", value=alg)
    return alg


def _pkcs8(key: Any) -> bytes:
    return bytes(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


@attrs.frozen(repr=False)
class SigningCredentials:
    """Who signs C2PA manifests: a certificate chain (leaf first) and either a private key
    or a ``sign(bytes) -> signature`` callback; plus optional trust anchors (root PEMs)
    used when verifying. Build with :meth:`from_pem`, :meth:`from_pkcs12` or
    :meth:`from_callback`.
    """

    chain_pem: bytes
    algorithm: str = attrs.field(converter=_check_alg)
    _key_pem: bytes | None = attrs.field(default=None, alias="key_pem")
    callback: Callable[[bytes], bytes] | None = None
    trust_anchors: bytes | None = None

    def __attrs_post_init__(self) -> None:
        if (self._key_pem is None) == (self.callback is None):
            raise ConfigurationError("signing credentials need exactly one of a private key "
                                     "or a callback signer")

    def __repr__(self) -> str:
        kind = "callback" if self.callback is not None else "key"
        return f"SigningCredentials(algorithm={self.algorithm!r}, signer={self.subject!r}, {kind})"

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_pem(cls, chain: Source, key: Source, *, password: bytes | None = None,
                 trust_anchors: Source | None = None) -> SigningCredentials:
        """A PEM chain (leaf then intermediates) and a PEM private key (PKCS#8 or
        traditional, optionally encrypted with ``password``); the algorithm follows the key."""
        chain_pem = _read(chain, "certificate chain")
        certs = _certs(chain_pem)
        try:
            private = serialization.load_pem_private_key(_read(key, "private key"),
                                                         password=password)
        except (ValueError, TypeError) as exc:
            raise SigningError("the private key is not a readable PEM key (or the password "
                               "is wrong)") from exc
        cls._match(certs[0], private)
        return cls(chain_pem=chain_pem, algorithm=_algorithm_for(private),
                   key_pem=_pkcs8(private),
                   trust_anchors=None if trust_anchors is None
                   else _read(trust_anchors, "trust anchors"))

    @classmethod
    def from_pkcs12(cls, p12: Source, password: bytes | str | None = None, *,
                    trust_anchors: Source | None = None) -> SigningCredentials:
        """A PKCS#12 (.p12/.pfx) bundle holding the key, the leaf and its intermediates."""
        if isinstance(password, str):
            password = password.encode()
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(_read(p12, "PKCS#12 file"),
                                                                password)
        except (ValueError, TypeError) as exc:
            raise SigningError("the PKCS#12 file cannot be opened (wrong password or not "
                               "PKCS#12)") from exc
        if key is None or cert is None:
            raise SigningError("the PKCS#12 file must hold a private key and its certificate")
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [cert, *extra])
        cls._match(cert, key)
        return cls(chain_pem=chain, algorithm=_algorithm_for(key), key_pem=_pkcs8(key),
                   trust_anchors=None if trust_anchors is None
                   else _read(trust_anchors, "trust anchors"))

    @classmethod
    def from_callback(cls, chain: Source, sign: Callable[[bytes], bytes], algorithm: str, *,
                      trust_anchors: Source | None = None) -> SigningCredentials:
        """A callback signer: ``sign(data) -> signature`` (Ed25519 raw, PS256 PKCS#1-PSS,
        ECDSA either DER as most KMS APIs return it or raw r||s). The key stays in the KMS."""
        chain_pem = _read(chain, "certificate chain")
        _certs(chain_pem)
        return cls(chain_pem=chain_pem, algorithm=algorithm, callback=sign,
                   trust_anchors=None if trust_anchors is None
                   else _read(trust_anchors, "trust anchors"))

    @staticmethod
    def _match(cert: x509.Certificate, key: Any) -> None:
        pub = serialization.PublicFormat.SubjectPublicKeyInfo
        enc = serialization.Encoding.DER
        if cert.public_key().public_bytes(enc, pub) != key.public_key().public_bytes(enc, pub):
            raise SigningError("the private key does not match the leaf certificate (the "
                               "first certificate in the chain)")

    # -- facts ---------------------------------------------------------------------------
    @property
    def leaf(self) -> x509.Certificate:
        """The signing (leaf) certificate."""
        return _certs(self.chain_pem)[0]

    @property
    def subject(self) -> str:
        """The leaf certificate's subject (RFC 4514)."""
        return self.leaf.subject.rfc4514_string()

    # -- c2pa ----------------------------------------------------------------------------
    def c2pa_signer(self) -> Any:
        """A fresh ``c2pa.Signer`` (consumed by one signing; no timestamp authority)."""
        import c2pa

        alg = getattr(c2pa.C2paSigningAlg, self.algorithm.upper())
        try:
            if self.callback is not None:
                return c2pa.Signer.from_callback(self._wrapped_callback(), alg,
                                                 self.chain_pem.decode("ascii"), None)
            assert self._key_pem is not None
            info = c2pa.C2paSignerInfo(alg, self.chain_pem, self._key_pem, None)
            return c2pa.Signer.from_info(info)
        except c2pa.C2paError as exc:
            raise SigningError(f"c2pa refused the signing credentials: {exc}") from None

    def _wrapped_callback(self) -> Callable[[bytes], bytes]:
        sign = self.callback
        assert sign is not None
        size = _EC_SIZES.get(self.algorithm)

        def call(data: bytes) -> bytes:
            sig = bytes(sign(bytes(data)))
            if size is not None and len(sig) != 2 * size:
                r, s = decode_dss_signature(sig)  # DER -> raw r||s (COSE form)
                sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
            return sig

        return call
