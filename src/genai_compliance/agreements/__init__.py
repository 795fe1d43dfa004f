"""Service agreements (IM-9, LM-8, IM-14, IM-15): render, version, diff, accept."""

from ._agreements import CLAUSES, TOML_KEYS, Agreements, AgreementVersion

__all__ = ["CLAUSES", "TOML_KEYS", "AgreementVersion", "Agreements"]
