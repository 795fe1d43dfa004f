"""The tamper-evident record log (CSL-21, IM-14b, LM-9): hash chain, signed checkpoints."""

from ._ledger import (
    GENESIS_HASH,
    MIN_RETENTION,
    Checkpoint,
    Entry,
    Ledger,
    Record,
    VerifyReport,
    canonical,
    open_ledger,
    record_hash,
)

__all__ = [
    "GENESIS_HASH",
    "MIN_RETENTION",
    "Checkpoint",
    "Entry",
    "Ledger",
    "Record",
    "VerifyReport",
    "canonical",
    "open_ledger",
    "record_hash",
]
