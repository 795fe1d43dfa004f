"""Implicit (metadata) labels per GB 45438-2025 §5 / Annex E, one handler per format (LM-5).

See :mod:`._base` for the handler contract and :mod:`._dispatch` for format sniffing.
"""

from __future__ import annotations

from genai_compliance.labelling.implicit._base import RawLabel
from genai_compliance.labelling.implicit._dispatch import (
    HANDLERS,
    add_propagation,
    label_bytes,
    label_file,
    label_stream,
    read_labels,
    scan,
    sniff,
)

from ..._exports import publish as _publish

__all__ = ["HANDLERS", "RawLabel", "add_propagation", "label_bytes", "label_file",
           "label_stream", "read_labels", "scan", "sniff"]

_publish(__name__, globals(), __all__)
