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

__all__ = ["AIGCLabel", "FoundLabel", "InspectReport", "add_propagation", "inspect",
           "label_bytes", "label_file", "producer_code", "read_labels", "sniff",
           "validate_producer_code"]
