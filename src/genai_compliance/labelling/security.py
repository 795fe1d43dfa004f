"""TC260 *SecurityData* integrity protection of the implicit label (PG-202511A, GB-E, LM-5).

TC260-PG-202511A lets the producer put a ``SecurityData`` JSON object in ``ReservedCode1``
(the platform uses ``ReservedCode2``): mandatory ``Type`` and ``Version``; optional
``Bindings``, ``PrivSD``, ``PubSD``, ``Extension``; a signature over the label string (Annex
A.1 signs ``"Label":"1","ContentProducer":"…","ProduceID":"…"``) and optionally over the
content; the algorithm named by its OID.

Encoding choice (documented, not from the guide): GB 45438 Annex E allows only printable
ASCII without space, ``"`` or ``\\`` in label values, so raw JSON cannot sit in
``ReservedCode1``. We store **base64url without padding of the compact UTF-8 JSON**; its
alphabet ``[A-Za-z0-9_-]`` is inside the Annex E charset. The JSON we write::

    {"Type":"SecurityData","Version":"1.0",
     "Bindings":{"Label":…,"ContentProducer":…,"ProduceID":…,"ContentSHA256":<hex>},
     "Algorithm":"1.3.101.112" | "1.2.840.10045.4.3.2","KeyID":<hex>,"PubSD":<base64url sig>}

The signed message is the UTF-8 of
``"Label":"…","ContentProducer":"…","ProduceID":"…","ContentSHA256":"<hex>"`` — the Annex A.1
label string extended with the content digest. Verification rebuilds it from the label's own
fields and the file's own digest, so an edited field or edited content both fail.

Content digest: :func:`content_digest` hashes the file *with its implicit label replaced by a
fixed placeholder label* (``label_bytes(data, PLACEHOLDER)``, repeated until a fixed point:
XMP carriers merge into an existing packet, so a second pass normalises it). Every format
handler replaces an existing label, so this value is the same before and after the real
(protected) label — or a later propagation label (LM-8) — is written. Cost: two or three
relabel passes in memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ..errors import LabelError, MediaError, SigningError
from ..rules import implements
from .aigc import _MAX_VALUE, AIGCLabel
from .implicit import label_bytes

__all__ = ["ECDSA_SHA256_OID", "ED25519_OID", "PLACEHOLDER", "SecurityVerdict",
           "content_digest", "decode_security_data", "key_id", "protect", "security_summary",
           "verify_security"]

ED25519_OID = "1.3.101.112"
ECDSA_SHA256_OID = "1.2.840.10045.4.3.2"
TYPE = "SecurityData"
VERSION = "1.0"
#: The fixed label written in place of any existing one before hashing.
PLACEHOLDER = AIGCLabel(label="1", content_producer="0", produce_id="0")

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


@attrs.frozen
class SecurityVerdict:
    """Outcome of :func:`verify_security` (PG-202511A): ``present`` = ReservedCode1 holds
    SecurityData; ``valid`` = signature, bindings and content digest all check out."""

    present: bool
    valid: bool
    reason: str


@implements("PG-202511A")
def content_digest(data: bytes) -> str:
    """Hex SHA-256 of ``data`` with its implicit label replaced by :data:`PLACEHOLDER`,
    re-applied until the bytes stop changing (XMP carriers merge with an existing packet,
    so the first pass over an unlabelled file differs from the second); stable across
    writing the label. Unsupported/malformed media raise MediaError."""
    canon = label_bytes(data, PLACEHOLDER)
    for _ in range(3):  # XMP carriers merge into an existing packet: settle to a fixed point
        again = label_bytes(canon, PLACEHOLDER)
        if again == canon:
            break
        canon = again
    return hashlib.sha256(canon).hexdigest()


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not a string")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public(key: PrivateKey | PublicKey) -> PublicKey:
    if isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        return key.public_key()
    return key


def _algorithm(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return ED25519_OID
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise SigningError("SecurityData ECDSA keys must be on P-256 (secp256r1)",
                               field="key", value=key.curve.name)
        return ECDSA_SHA256_OID
    raise SigningError("SecurityData keys are Ed25519 or ECDSA P-256 (cryptography objects)",
                       field="key", value=type(key).__name__)


def key_id(key: PrivateKey | PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the DER SubjectPublicKeyInfo of ``key``."""
    _algorithm(key)
    spki = _public(key).public_bytes(serialization.Encoding.DER,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()[:16]


def _message(label: AIGCLabel, digest: str) -> bytes:
    return (f'"Label":"{label.label}","ContentProducer":"{label.content_producer}",'
            f'"ProduceID":"{label.produce_id}","ContentSHA256":"{digest}"').encode()


@implements("PG-202511A", "LM-5")
def protect(data: bytes, label: AIGCLabel, private_key: PrivateKey) -> AIGCLabel:
    """``label`` with ``reserved_code1`` = base64url SecurityData signing the label fields
    and :func:`content_digest` of ``data`` (PG-202511A). Write it with ``label_bytes``.
    A wrong key type raises SigningError; a result over 1024 characters LabelError."""
    oid = _algorithm(private_key)
    if not isinstance(private_key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise SigningError("protect() needs a private key", field="key",
                           value=type(private_key).__name__)
    digest = content_digest(data)
    msg = _message(label, digest)
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        sig = private_key.sign(msg)
    else:
        sig = private_key.sign(msg, ec.ECDSA(hashes.SHA256()))
    doc = {"Type": TYPE, "Version": VERSION,
           "Bindings": {"Label": label.label, "ContentProducer": label.content_producer,
                        "ProduceID": label.produce_id, "ContentSHA256": digest},
           "Algorithm": oid, "KeyID": key_id(private_key), "PubSD": _b64e(sig)}
    value = _b64e(json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode())
    if len(value) > _MAX_VALUE:
        raise LabelError(f"the encoded SecurityData has {len(value)} characters, over the "
                         f"{_MAX_VALUE} allowed in ReservedCode1; shorten ProduceID or "
                         "ContentProducer", field="ReservedCode1", value=value[:80])
    return attrs.evolve(label, reserved_code1=value)


def decode_security_data(value: str) -> dict[str, Any]:
    """The SecurityData object in a ReservedCode1/2 value; LabelError if it is not one."""
    try:
        obj = json.loads(_b64d(value))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise LabelError(f"ReservedCode1 is not base64url SecurityData JSON: {exc}",
                         field="ReservedCode1", value=value[:80]) from None
    if not isinstance(obj, dict) or obj.get("Type") != TYPE or not isinstance(
            obj.get("Version"), str):
        raise LabelError("SecurityData needs Type=\"SecurityData\" and a Version string "
                         "(PG-202511A)", field="ReservedCode1", value=value[:80])
    return obj


@implements("PG-202511A")
def verify_security(data: bytes, label: AIGCLabel, public_key: PublicKey
                    | PrivateKey) -> SecurityVerdict:
    """Check the SecurityData in ``label.reserved_code1`` against ``data`` (the labelled
    file) and ``public_key``: detects edited content, edited label fields, a wrong key and
    malformed SecurityData. Bad input never raises; an unusable key raises SigningError."""
    expected_oid = _algorithm(public_key)
    pub = _public(public_key)
    if not label.reserved_code1:
        return SecurityVerdict(False, False, "ReservedCode1 is empty: no SecurityData")
    try:
        doc = decode_security_data(label.reserved_code1)
    except LabelError as exc:
        return SecurityVerdict(False, False, str(exc.args[0]))
    bindings = doc.get("Bindings")
    if not isinstance(bindings, dict):
        return SecurityVerdict(True, False, "SecurityData lacks Bindings")
    for key, value in (("Label", label.label), ("ContentProducer", label.content_producer),
                       ("ProduceID", label.produce_id)):
        if bindings.get(key) != value:
            return SecurityVerdict(True, False, f"label field {key} differs from the signed "
                                   "binding: the label was edited")
    if doc.get("Algorithm") != expected_oid:
        return SecurityVerdict(True, False, f"algorithm {doc.get('Algorithm')!r} does not "
                               f"match the key ({expected_oid})")
    if doc.get("KeyID") != key_id(pub):
        return SecurityVerdict(True, False, "KeyID does not match the given key: signed "
                               "with another key")
    try:
        digest = content_digest(data)
    except MediaError as exc:
        return SecurityVerdict(True, False, f"content unreadable: {exc.args[0]}")
    if bindings.get("ContentSHA256") != digest:
        return SecurityVerdict(True, False, "content digest mismatch: the content was "
                               "modified after labelling")
    try:
        sig = _b64d(str(doc.get("PubSD", "")))
        msg = _message(label, digest)
        if isinstance(pub, ed25519.Ed25519PublicKey):
            pub.verify(sig, msg)
        else:
            pub.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        return SecurityVerdict(True, False, "signature does not verify")
    return SecurityVerdict(True, True, "signature, bindings and content digest verified")


@implements("PG-202511A")
def security_summary(data: bytes, label: AIGCLabel) -> dict[str, Any] | None:
    """Keyless check for :func:`~genai_compliance.labelling.inspect.inspect`: ``None`` when
    ReservedCode1 holds no SecurityData, else its Algorithm/KeyID and whether the signed
    content digest still matches ``data`` (the signature needs the key: verify_security)."""
    if not label.reserved_code1:
        return None
    try:
        doc = decode_security_data(label.reserved_code1)
    except LabelError:
        return None
    bindings = doc.get("Bindings")
    if not isinstance(bindings, dict):
        bindings = {}
    matches: bool | None
    try:
        matches = bindings.get("ContentSHA256") == content_digest(data)
    except MediaError:
        matches = None
    return {"type": TYPE, "version": str(doc.get("Version")),
            "algorithm": str(doc.get("Algorithm", "")), "key_id": str(doc.get("KeyID", "")),
            "content_digest_matches": matches, "signature_verified": False}
