"""genai_compliance: compliance for generative-AI services, embedded in the provider's code.

The public names are listed in ``__all__``; everything else is internal. The heavier ones
(``Compliance``, ``Guard``, ``Ledger`` and what they pull in: the database drivers, the
schemas) are imported on first use, so a command-line tool that needs none of them starts
fast (PEP 562 ``__getattr__``).
"""

from typing import TYPE_CHECKING, Any

from ._exports import publish as _publish
from ._version import __version__
from .checks import HEADERS, CallContext, CallResponse, Check
from .chunks import ChunkCodec, FunctionCodec
from .clock import SHANGHAI, Clock, FrozenClock, SystemClock
from .config import Provider
from .errors import (
    BadRequest,
    ComplianceError,
    ConfigurationError,
    ConsentRequired,
    ContentBlocked,
    GuardianConsentRequired,
    LabelError,
    LedgerCorrupt,
    LedgerError,
    LedgerIntegrityError,
    LedgerNotFound,
    MalformedMedia,
    MediaError,
    MinorCurfew,
    MinorQuotaExhausted,
    MinorRestricted,
    MissingClause,
    RecordNotFound,
    Refusal,
    RetentionError,
    ServiceRestricted,
    SigningError,
    StoreUnavailable,
    UnsupportedChunk,
    UnsupportedMedia,
)
from .rules import implements
from .subject import AgeBand, Guardian, Subject, current_subject, use_subject

if TYPE_CHECKING:
    from .compliance import Compliance
    from .context import DutyContext
    from .guard import RAISE, Guard, current_call
    from .ledger import Ledger, Record, VerifyReport, open_ledger
    from .stores import open_store

#: names imported on first use: name -> module
_LAZY = {
    "Compliance": ".compliance", "DutyContext": ".context", "Guard": ".guard", "RAISE": ".guard",
    "current_call": ".guard", "Ledger": ".ledger", "Record": ".ledger",
    "VerifyReport": ".ledger", "open_ledger": ".ledger", "open_store": ".stores",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'genai_compliance' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    _publish(__name__, {name: value}, [name])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

__all__ = [
    "HEADERS",
    "RAISE",
    "SHANGHAI",
    "AgeBand",
    "BadRequest",
    "CallContext",
    "CallResponse",
    "Check",
    "ChunkCodec",
    "Clock",
    "Compliance",
    "ComplianceError",
    "ConfigurationError",
    "ConsentRequired",
    "ContentBlocked",
    "DutyContext",
    "FrozenClock",
    "FunctionCodec",
    "Guard",
    "Guardian",
    "GuardianConsentRequired",
    "LabelError",
    "Ledger",
    "LedgerCorrupt",
    "LedgerError",
    "LedgerIntegrityError",
    "LedgerNotFound",
    "MalformedMedia",
    "MediaError",
    "MinorCurfew",
    "MinorQuotaExhausted",
    "MinorRestricted",
    "MissingClause",
    "Provider",
    "Record",
    "RecordNotFound",
    "Refusal",
    "RetentionError",
    "ServiceRestricted",
    "SigningError",
    "StoreUnavailable",
    "Subject",
    "SystemClock",
    "UnsupportedChunk",
    "UnsupportedMedia",
    "VerifyReport",
    "__version__",
    "current_call",
    "current_subject",
    "implements",
    "open_ledger",
    "open_store",
    "use_subject",
]

_publish(__name__, {k: v for k, v in globals().items() if k not in _LAZY},
        [n for n in __all__ if n not in _LAZY])
