"""genai_compliance: compliance for generative-AI services, embedded in the provider's code.

The public names are listed in ``__all__``; everything else is internal.
"""

from ._version import __version__
from .checks import HEADERS, CallContext, CallResponse, Check
from .chunks import ChunkCodec, FunctionCodec
from .clock import SHANGHAI, Clock, FrozenClock, SystemClock
from .compliance import Compliance
from .config import Provider
from .errors import (
    BadRequest,
    ComplianceError,
    ConfigurationError,
    ConsentRequired,
    ContentBlocked,
    GuardianConsentRequired,
    LabelError,
    LedgerError,
    LedgerIntegrityError,
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
from .guard import RAISE, Guard, current_call
from .ledger import Ledger, Record, VerifyReport, open_ledger
from .rules import implements
from .stores import open_store
from .subject import AgeBand, Guardian, Subject, current_subject, use_subject

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
    "FrozenClock",
    "FunctionCodec",
    "Guard",
    "Guardian",
    "GuardianConsentRequired",
    "LabelError",
    "Ledger",
    "LedgerError",
    "LedgerIntegrityError",
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

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        try:
            _obj.__module__ = "genai_compliance"
        except (AttributeError, TypeError):
            pass
del _name, _obj
