"""The tamper-evident record log (CSL-21, IM-14b, LM-9): a hash chain and an RFC 6962 Merkle
tree over the records, C2SP signed checkpoints kept in the database and in witnesses outside
it, inclusion and consistency proofs checkable offline, group commit.

.. versionchanged:: 0.2 see ``docs/ledger.md``.
"""

from .._exports import publish as _publish
from ..errors import LedgerCorrupt, LedgerNotFound
from ._format import GENESIS_HASH, Entry, Record, canonical, record_hash, record_leaf
from ._ledger import (
    DEFAULT_CHECKPOINT_INTERVAL,
    DEFAULT_RETENTION,
    MIN_RETENTION,
    Ledger,
    open_ledger,
)
from ._merkle import verify_consistency, verify_inclusion
from ._note import Checkpoint, parse_vkey, vkey
from ._proofs import ProofReport, verify_proof
from ._settings import ledger_from_settings
from ._verify import ReadOnlyLedger, VerifyReport, verify_ledger

__all__ = [
    "DEFAULT_CHECKPOINT_INTERVAL",
    "DEFAULT_RETENTION",
    "GENESIS_HASH",
    "MIN_RETENTION",
    "Checkpoint",
    "Entry",
    "Ledger",
    "LedgerCorrupt",
    "LedgerNotFound",
    "ProofReport",
    "ReadOnlyLedger",
    "Record",
    "VerifyReport",
    "canonical",
    "ledger_from_settings",
    "open_ledger",
    "parse_vkey",
    "record_hash",
    "record_leaf",
    "verify_consistency",
    "verify_inclusion",
    "verify_ledger",
    "verify_proof",
    "vkey",
]

_publish(__name__, globals(), __all__)
