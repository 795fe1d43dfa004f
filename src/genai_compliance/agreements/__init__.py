"""Service agreements (IM-9, LM-8, IM-14, IM-15): render, version, diff, accept."""

from .._exports import publish as _publish
from ._agreements import CLAUSES, TOML_KEYS, Agreements, AgreementVersion

__all__ = ["CLAUSES", "TOML_KEYS", "AgreementVersion", "Agreements"]

_publish(__name__, globals(), __all__)
