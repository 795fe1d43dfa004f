"""PIPL consent: purposes, grants, withdrawal, guardians, signed receipts, data-subject
requests; required and optional purposes (PI-14, PI-15, PI-16, PI-SEP, PI-28/31, PI-RIGHTS,
IM-7, IM-11)."""

from .._exports import publish as _publish
from ._retention import InputRecord, InputStore
from ._service import (
    DEFAULT_PURPOSES,
    ConsentCheck,
    ConsentDecision,
    ConsentService,
    Grant,
    NoticeRef,
    Purpose,
    purposes_from_settings,
    verify_receipt,
)

__all__ = [
    "DEFAULT_PURPOSES",
    "ConsentCheck",
    "ConsentDecision",
    "ConsentService",
    "Grant",
    "InputRecord",
    "InputStore",
    "NoticeRef",
    "Purpose",
    "purposes_from_settings",
    "verify_receipt",
]

_publish(__name__, globals(), __all__)
