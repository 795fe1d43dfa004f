"""TC260 SecurityData in ReservedCode1: protect, embed, read back, verify (PG-202511A, LM-5)."""

from __future__ import annotations

import io
import struct
import wave
import zlib

import attrs
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from genai_compliance.errors import SigningError
from genai_compliance.labelling.aigc import AIGCLabel
from genai_compliance.labelling.implicit import label_bytes, read_labels
from genai_compliance.labelling.security import (
    content_digest,
    decode_security_data,
    protect,
    verify_security,
)

LABEL = AIGCLabel(content_producer="001191440300708461136T1XGW3", produce_id="img-0001")
ED = ed25519.Ed25519PrivateKey.generate()
EC = ec.generate_private_key(ec.SECP256R1())
_VALUES = st.text(alphabet="".join(chr(c) for c in [0x21, *range(0x23, 0x5C),
                                                    *range(0x5D, 0x7F)]), max_size=60)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, "PNG", compress_level=0)
    return buf.getvalue()


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * 800)
    return buf.getvalue()


def _labelled(data: bytes, key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
              label: AIGCLabel = LABEL) -> tuple[bytes, AIGCLabel]:
    out = label_bytes(data, protect(data, label, key))
    return out, AIGCLabel.from_json(read_labels(out)[0].text)


def _flip_png_pixel(png: bytes) -> bytes:
    """Change one byte inside IDAT's (stored, uncompressed) pixel data and fix the CRC."""
    i = png.index(b"IDAT")
    length = struct.unpack(">I", png[i - 4:i])[0]
    body = bytearray(png[i + 4:i + 4 + length])
    raw = zlib.decompress(bytes(body))
    raw = raw[:5] + bytes([raw[5] ^ 0xFF]) + raw[6:]
    new = zlib.compress(raw, 0)
    chunk = struct.pack(">I", len(new)) + b"IDAT" + new + struct.pack(
        ">I", zlib.crc32(b"IDAT" + new))
    return png[:i - 4] + chunk + png[i + 8 + length:]


@pytest.mark.parametrize("key", [ED, EC], ids=["ed25519", "ecdsa-p256"])
@pytest.mark.parametrize("make", [_png, _wav], ids=["png", "wav"])
def test_protected_label_round_trips_and_verifies(make, key) -> None:  # type: ignore[no-untyped-def]
    """A protected label written into PNG/WAV reads back and verifies (PG-202511A)."""
    out, read = _labelled(make(), key)
    assert read.reserved_code1
    doc = decode_security_data(read.reserved_code1)
    assert doc["Type"] == "SecurityData" and doc["Version"] == "1.0"
    assert doc["Bindings"]["ContentSHA256"] == content_digest(out)
    verdict = verify_security(out, read, key.public_key())
    assert (verdict.present, verdict.valid) == (True, True), verdict.reason


def test_content_digest_is_stable_across_labelling() -> None:
    """Writing a label does not change content_digest, changing pixels does (PG-202511A)."""
    png = _png()
    assert content_digest(png) == content_digest(label_bytes(png, LABEL))
    assert content_digest(png) != content_digest(_flip_png_pixel(png))


def test_changed_pixel_is_detected() -> None:
    """One changed pixel byte in a protected PNG makes the verdict invalid (PG-202511A)."""
    out, read = _labelled(_png(), ED)
    verdict = verify_security(_flip_png_pixel(out), read, ED.public_key())
    assert verdict.present and not verdict.valid
    assert "digest" in verdict.reason


def test_changed_sample_is_detected() -> None:
    """One changed sample byte in a protected WAV makes the verdict invalid (PG-202511A)."""
    out, read = _labelled(_wav(), EC)
    j = out.rindex(b"data") + 8 + 10
    tampered = out[:j] + bytes([out[j] ^ 0x55]) + out[j + 1:]
    verdict = verify_security(tampered, read, EC.public_key())
    assert verdict.present and not verdict.valid


def test_edited_produce_id_is_detected() -> None:
    """Changing ProduceID after signing invalidates the SecurityData (PG-202511A)."""
    out, read = _labelled(_png(), ED)
    edited = attrs.evolve(read, produce_id="img-0002")
    relabelled = label_bytes(out, edited)
    verdict = verify_security(relabelled, edited, ED.public_key())
    assert not verdict.valid and "ProduceID" in verdict.reason


def test_forged_bindings_fail_the_signature() -> None:
    """Rewriting Bindings to match an edited label still fails on the signature."""
    import base64
    import json

    out, read = _labelled(_wav(), ED)
    doc = decode_security_data(read.reserved_code1)
    doc["Bindings"]["ProduceID"] = "forged"
    value = base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()
    forged = attrs.evolve(read, produce_id="forged", reserved_code1=value)
    verdict = verify_security(label_bytes(out, forged), forged, ED.public_key())
    assert verdict.present and not verdict.valid and "signature" in verdict.reason


@pytest.mark.parametrize("other", [ed25519.Ed25519PrivateKey.generate(),
                                   ec.generate_private_key(ec.SECP256R1())],
                         ids=["other-ed25519", "ecdsa"])
def test_other_key_is_rejected(other) -> None:  # type: ignore[no-untyped-def]
    """Verifying with a key other than the signer's is invalid (PG-202511A)."""
    out, read = _labelled(_png(), ED)
    verdict = verify_security(out, read, other.public_key())
    assert verdict.present and not verdict.valid


@pytest.mark.parametrize("value", ["", "not-base64!", "e30", "eyJUeXBlIjoieCJ9"])
def test_absent_or_malformed_security_data(value: str) -> None:
    """Empty or malformed ReservedCode1 gives a not-present verdict, never an exception."""
    verdict = verify_security(_png(), attrs.evolve(LABEL, reserved_code1=value),
                              ED.public_key())
    assert not verdict.present and not verdict.valid and verdict.reason


def test_unsupported_keys_raise_signing_error() -> None:
    """RSA or non-P-256 keys are a typed SigningError, not a silent pass."""
    with pytest.raises(SigningError):
        protect(_png(), LABEL, rsa.generate_private_key(65537, 1024))  # type: ignore[arg-type]
    with pytest.raises(SigningError):
        verify_security(_png(), LABEL, ec.generate_private_key(ec.SECP384R1()).public_key())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(label=st.sampled_from(["1", "2", "3"]), producer=_VALUES,
       produce_id=_VALUES.filter(bool), propagator=_VALUES)
def test_random_labels_round_trip(label: str, producer: str, produce_id: str,
                                  propagator: str) -> None:
    """Any Annex E label protects, embeds within the charset, reads back and verifies."""
    base = AIGCLabel(label=label, content_producer=producer, produce_id=produce_id,
                     content_propagator=propagator)
    out, read = _labelled(_WAV, ED, base)
    assert read == protect(_WAV, base, ED)
    assert verify_security(out, read, ED.public_key()).valid


_WAV = _wav()


def test_inspect_reports_security_data_and_tampering() -> None:
    """inspect() summarises SecurityData and flags content altered after labelling."""
    from genai_compliance.labelling.inspect import inspect

    out, _ = _labelled(_png(), EC)
    report = inspect(out, c2pa=False)
    assert report.verdict == "compliant", report.problems
    assert report.security is not None and report.security["content_digest_matches"] is True
    assert report.security["algorithm"] == "1.2.840.10045.4.3.2"
    assert '"security"' in report.to_json()
    bad = inspect(_flip_png_pixel(out), c2pa=False)
    assert bad.verdict == "non-compliant"
    assert bad.security is not None and bad.security["content_digest_matches"] is False
    plain = inspect(label_bytes(_png(), LABEL), c2pa=False)
    assert plain.security is None and plain.verdict == "compliant"
