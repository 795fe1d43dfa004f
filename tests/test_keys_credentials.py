"""Signing credentials and the test CA (LM-5, IM-12): PEM, PKCS#12, callback signers
(KMS/HSM), algorithms, and `genai-compliance keys test-ca`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from genai_compliance.cli import main
from genai_compliance.crypto import (
    C2PA_CLAIM_SIGNING_EKU,
    TEST_CA_ALGORITHMS,
    SigningCredentials,
    create_test_ca,
)
from genai_compliance.errors import ConfigurationError, SigningError
from genai_compliance.labelling.c2pa import read_c2pa, sign_bytes


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (48, 48), "green").save(buf, "PNG")
    return buf.getvalue()


def test_test_ca_profile_and_warnings(tmp_path: Path) -> None:
    """The CA writes leaf-then-intermediate, a PKCS#8 key, the root; every file says it is
    for tests only; the leaf has emailProtection + C2PA claimSigning and no serverAuth."""
    ca = create_test_ca(tmp_path)
    for path in (ca.chain, ca.key, ca.trust_anchors, ca.root_key, tmp_path / "README.txt"):
        assert "TESTS AND DEVELOPMENT ONLY" in path.read_text()
    certs = x509.load_pem_x509_certificates(ca.chain.read_bytes())
    root = x509.load_pem_x509_certificate(ca.trust_anchors.read_bytes())
    assert len(certs) == 2 and certs[0].issuer == certs[1].subject
    assert certs[1].issuer == root.subject and root.subject == root.issuer
    eku = certs[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert C2PA_CLAIM_SIGNING_EKU in eku and ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    assert ExtendedKeyUsageOID.SERVER_AUTH not in eku
    assert b"BEGIN PRIVATE KEY" in ca.key.read_bytes()
    assert ca.key.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("algorithm", TEST_CA_ALGORITHMS)
def test_each_algorithm_signs_trusted(algorithm: str, tmp_path: Path) -> None:
    """ES256, ES384, PS256 and Ed25519 keys each sign a manifest that verifies as trusted."""
    ca = create_test_ca(tmp_path, algorithm=algorithm)
    creds = SigningCredentials.from_pem(ca.chain, ca.key)
    assert creds.algorithm == algorithm
    signed, _ = sign_bytes(_png(), creds)
    report = read_c2pa(signed, trust_anchors=ca.trust_anchors)
    assert report is not None and report.trusted
    assert (report.algorithm or "").lower() == algorithm


def test_encrypted_pem_key_needs_its_password(tmp_path: Path) -> None:
    """An encrypted PEM key loads with its password and is refused without it."""
    ca = create_test_ca(tmp_path)
    key = serialization.load_pem_private_key(ca.key.read_bytes(), None)
    enc = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"s3cret"))
    creds = SigningCredentials.from_pem(ca.chain, enc, password=b"s3cret")
    assert read_c2pa(sign_bytes(_png(), creds)[0]) is not None
    with pytest.raises(SigningError):
        SigningCredentials.from_pem(ca.chain, enc)


def test_pkcs12_bundle(tmp_path: Path) -> None:
    """A PKCS#12 bundle with key, leaf and intermediate signs a trusted manifest."""
    ca = create_test_ca(tmp_path)
    key = serialization.load_pem_private_key(ca.key.read_bytes(), None)
    leaf, inter = x509.load_pem_x509_certificates(ca.chain.read_bytes())
    blob = pkcs12.serialize_key_and_certificates(
        b"signer", key, leaf, [inter],  # type: ignore[arg-type]
        serialization.BestAvailableEncryption(b"pw"))
    creds = SigningCredentials.from_pkcs12(blob, "pw", trust_anchors=ca.trust_anchors)
    report = read_c2pa(sign_bytes(_png(), creds)[0], trust_anchors=creds.trust_anchors)
    assert report is not None and report.trusted
    with pytest.raises(SigningError):
        SigningCredentials.from_pkcs12(blob, "wrong")


class _Vault:
    """Stands in for a KMS/HSM: holds the key; only hands out signatures (DER ECDSA)."""

    def __init__(self, pem: bytes) -> None:
        self.__key = serialization.load_pem_private_key(pem, None)
        self.calls = 0

    def sign(self, data: bytes) -> bytes:
        self.calls += 1
        assert isinstance(self.__key, ec.EllipticCurvePrivateKey)
        return self.__key.sign(data, ec.ECDSA(hashes.SHA256()))


def test_callback_signer_key_stays_in_the_vault(tmp_path: Path) -> None:
    """A callback signer signs with a key the SDK never sees; the result is trusted."""
    ca = create_test_ca(tmp_path)
    vault = _Vault(ca.key.read_bytes())
    creds = SigningCredentials.from_callback(ca.chain, vault.sign, "es256")
    assert "PRIVATE" not in repr(creds) and creds.callback is not None
    report = read_c2pa(sign_bytes(_png(), creds)[0], trust_anchors=ca.trust_anchors)
    assert report is not None and report.trusted and vault.calls == 1


def test_key_must_match_the_leaf(tmp_path: Path) -> None:
    """A key that is not the leaf's is refused before any signing."""
    a, b = create_test_ca(tmp_path / "a"), create_test_ca(tmp_path / "b")
    with pytest.raises(SigningError, match="does not match"):
        SigningCredentials.from_pem(a.chain, b.key)


def test_repr_never_shows_the_key(tmp_path: Path) -> None:
    """repr names algorithm and signer, never key bytes."""
    ca = create_test_ca(tmp_path)
    creds = SigningCredentials.from_pem(ca.chain, ca.key)
    assert "BEGIN" not in repr(creds) and "es256" in repr(creds)


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A missing chain file names the path in a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        SigningCredentials.from_pem(tmp_path / "nope.pem", tmp_path / "nope.key")


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_chain_is_a_signing_error(blob: bytes) -> None:
    """Arbitrary bytes as a chain raise SigningError (never a raw parser exception)."""
    with pytest.raises((SigningError, ConfigurationError)):
        SigningCredentials.from_callback(blob, lambda d: d, "es256")


def test_cli_test_ca_output_signs_and_verifies(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`keys test-ca OUT` writes a CA whose files sign a trusted manifest."""
    out = tmp_path / "ca"
    assert main(["keys", "test-ca", str(out)]) == 0
    assert "tests and development only" in capsys.readouterr().out
    creds = SigningCredentials.from_pem(out / "chain.pem", out / "signing.key")
    report = read_c2pa(sign_bytes(_png(), creds)[0], trust_anchors=out / "trust-anchors.pem")
    assert report is not None and report.trusted


@given(st.binary(max_size=200))
def test_b64url_round_trips_and_refuses_every_other_spelling(data: bytes) -> None:
    """base64url: what is encoded decodes back; a padded, whitespace-carrying or otherwise
    non-canonical spelling of the same bytes is refused (no malleable tokens)."""
    from genai_compliance.crypto import b64url_decode, b64url_encode

    text = b64url_encode(data)
    assert b64url_decode(text) == data and "=" not in text
    for other in (text + "=" * (-len(text) % 4 or 4), text + "\n", " " + text):
        if other != text:
            with pytest.raises(ValueError):
                b64url_decode(other)
    if text and len(data) % 3:  # the last character carries unused low bits
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        flipped = text[:-1] + alphabet[alphabet.index(text[-1]) ^ 1]
        if flipped != text:
            try:
                assert b64url_decode(flipped) != data
            except ValueError:
                pass


def test_jws_round_trip_and_tamper() -> None:
    """A compact EdDSA JWS verifies with its key, not another, and not after any change."""
    from genai_compliance import SigningError
    from genai_compliance.crypto import generate_ed25519, jws_sign, jws_verify

    key = generate_ed25519()
    token = jws_sign({"alg": "EdDSA", "typ": "JWT"}, {"sub": "x", "n": 1}, key)
    assert jws_verify(token, key.public_key())[1] == {"sub": "x", "n": 1}
    with pytest.raises(SigningError, match="does not verify"):
        jws_verify(token, generate_ed25519().public_key())
    for i in range(len(token)):
        changed = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        with pytest.raises(SigningError):
            jws_verify(changed, key.public_key())
