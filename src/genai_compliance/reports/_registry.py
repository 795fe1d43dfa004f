"""Which code implements each rule: computed here, on the top floor, by importing every
module that declares implementations (the core's rule registry never imports a duty)."""

from __future__ import annotations

import importlib
from typing import Any

import attrs

from ..rules import load_rules, registered

__all__ = ["IMPLEMENTATION_MODULES", "implementations", "rules_table"]

#: Modules imported by :func:`implementations` to collect every implementer (a literal list,
#: so that nothing registers itself by import side effect from elsewhere).
IMPLEMENTATION_MODULES: tuple[str, ...] = (
    "genai_compliance.ledger",
    "genai_compliance.guard",
    "genai_compliance.checks",
    "genai_compliance.labelling",
    "genai_compliance.consent",
    "genai_compliance.agreements",
    "genai_compliance.minors",
    "genai_compliance.moderation",
    "genai_compliance.incidents",
    "genai_compliance.interaction",
    "genai_compliance.privacy",
    "genai_compliance.training",
    "genai_compliance.evaluation",
    "genai_compliance.asgi",
    "genai_compliance.reports",
    "genai_compliance.labelling.explicit",
    "genai_compliance.labelling.c2pa",
    "genai_compliance.labelling.inspect",
    "genai_compliance.labelling.pipeline",
)


def implementations() -> dict[str, list[str]]:
    """Every rule ID mapped to the sorted names of the code that implements it (imports
    every module of :data:`IMPLEMENTATION_MODULES` first)."""
    for module in IMPLEMENTATION_MODULES:
        importlib.import_module(module)
    return registered()


def rules_table() -> list[dict[str, Any]]:
    """Each rule of the registry with the code implementing it (``genai-compliance rules``)."""
    impls = implementations()
    return [dict(attrs.asdict(rule), implemented_by=impls[rule.id])
            for rule in load_rules().values()]
