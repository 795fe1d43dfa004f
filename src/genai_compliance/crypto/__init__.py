"""Key material: Ed25519 keys for ledger checkpoints and receipts; C2PA signing
credentials (PEM chain + key, PKCS#12, callback signer for a KMS/HSM) and a test CA.

Private keys are never logged or put in errors.
"""

from .._exports import publish as _publish
from ._credentials import ALGORITHMS, SigningCredentials
from ._jose import b64url_decode, b64url_encode, jws_sign, jws_verify
from ._keys import (
    generate_ed25519,
    key_id,
    load_ed25519_private,
    load_ed25519_public,
    private_pem,
    public_pem,
)
from ._signers import Ed25519CallbackSigner, Ed25519Signer, as_ed25519_signer
from ._testca import C2PA_CLAIM_SIGNING_EKU, TEST_CA_ALGORITHMS, TestCA, create_test_ca

__all__ = [
    "ALGORITHMS",
    "C2PA_CLAIM_SIGNING_EKU",
    "TEST_CA_ALGORITHMS",
    "Ed25519CallbackSigner",
    "Ed25519Signer",
    "SigningCredentials",
    "TestCA",
    "as_ed25519_signer",
    "b64url_decode",
    "b64url_encode",
    "create_test_ca",
    "generate_ed25519",
    "jws_sign",
    "jws_verify",
    "key_id",
    "load_ed25519_private",
    "load_ed25519_public",
    "private_pem",
    "public_pem",
]

_publish(__name__, globals(), __all__)
