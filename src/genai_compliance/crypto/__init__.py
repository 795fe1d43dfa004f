"""Key material: loading Ed25519 keys for ledger checkpoints and receipts.

Certificate chains, PKCS#12 and callback signers for C2PA live in :mod:`.credentials`
(added with the content-credentials work). Private keys are never logged or put in errors.
"""

from ._keys import (
    generate_ed25519,
    key_id,
    load_ed25519_private,
    load_ed25519_public,
    private_pem,
    public_pem,
)

__all__ = [
    "generate_ed25519",
    "key_id",
    "load_ed25519_private",
    "load_ed25519_public",
    "private_pem",
    "public_pem",
]
