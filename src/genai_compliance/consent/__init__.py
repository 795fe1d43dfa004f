"""PIPL consent: purposes, grants, withdrawal, guardians, signed receipts, data-subject
requests (PI-14, PI-15, PI-SEP, PI-28/31, PI-RIGHTS, IM-7, IM-11)."""

from ._retention import InputRecord, InputStore
from ._service import (
    DEFAULT_PURPOSES,
    ConsentCheck,
    ConsentService,
    Grant,
    NoticeRef,
    Purpose,
    verify_receipt,
)

__all__ = [
    "DEFAULT_PURPOSES",
    "ConsentCheck",
    "ConsentService",
    "Grant",
    "InputRecord",
    "InputStore",
    "NoticeRef",
    "Purpose",
    "verify_receipt",
]
