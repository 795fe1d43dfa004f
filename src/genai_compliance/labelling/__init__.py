"""Content labelling per GB 45438-2025: implicit metadata labels (LM-5), inspection with
LM-6 tiers, explicit labels (LM-4) and C2PA signing (see :mod:`.pipeline`, :mod:`.c2pa`).

Imports stay light: format handlers, C2PA and rendering load on first use.
"""

from __future__ import annotations

from genai_compliance.labelling.aigc import AIGCLabel, producer_code, validate_producer_code
from genai_compliance.labelling.implicit import (
    add_propagation,
    label_bytes,
    label_file,
    read_labels,
    sniff,
)
from genai_compliance.labelling.inspect import FoundLabel, InspectReport, inspect
from genai_compliance.labelling.security import (
    SecurityVerdict,
    content_digest,
    protect,
    verify_security,
)

from .._exports import publish as _publish

__all__ = ["AIGCLabel", "FoundLabel", "InspectReport", "SecurityVerdict", "add_propagation",
           "content_digest", "inspect", "label_bytes", "label_file", "producer_code", "protect",
           "read_labels", "sniff", "validate_producer_code", "verify_security"]

_publish(__name__, globals(), __all__)
