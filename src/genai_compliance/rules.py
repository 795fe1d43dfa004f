"""The rule registry: obligation IDs (``IM-14a``, ``LM-5``, ``SR-5`` …) and who implements them.

The IDs, summaries and sources live in ``rules.toml`` beside this module, taken from the
project's REQUIREMENTS. Code declares what it serves in one of two ways:

* a guard check sets ``rules = ("IM-14a", ...)`` on its class (see :mod:`.checks`);
* any other class or function is decorated with :func:`implements`.

An unknown ID fails at import time, so a typo cannot hide an obligation.
"""

from __future__ import annotations

import functools
import importlib
import tomllib
from collections.abc import Callable
from importlib import resources
from typing import TypeVar

import attrs

from ._exports import deprecated
from .errors import ConfigurationError

__all__ = ["Rule", "implementations", "implements", "load_rules", "registered", "rule_ids"]

T = TypeVar("T")

_IMPLEMENTERS: dict[str, set[str]] = {}


@attrs.frozen
class Rule:
    """One obligation: ID, one-line summary, source and how sure the figure is (tag)."""

    id: str
    summary: str
    source: str
    tag: str
    coined: bool = False


@functools.cache
def load_rules() -> dict[str, Rule]:
    """All rules by ID, in registry order: ``rules.toml`` first, then each ``rules-*.toml``
    beside it in name order (one file per rulebook, e.g. the 2026 interaction measures).
    An ID given twice is an error, so two rulebooks cannot silently disagree."""
    package = resources.files("genai_compliance")
    names = sorted(f.name for f in package.iterdir()
                   if f.name.startswith("rules-") and f.name.endswith(".toml"))
    rules: dict[str, Rule] = {}
    for name in ("rules.toml", *names):
        data = tomllib.loads(package.joinpath(name).read_text("utf-8"))
        for item in data.get("rule", ()):
            rule = Rule(item["id"], item["summary"], item["source"], item["tag"],
                        bool(item.get("coined", False)))
            if rule.id in rules:
                raise RuntimeError(f"rule {rule.id} is defined twice (again in {name})")
            rules[rule.id] = rule
    return rules


def rule_ids() -> frozenset[str]:
    return frozenset(load_rules())


def check_ids(ids: tuple[str, ...], where: str) -> tuple[str, ...]:
    """Raise :class:`ConfigurationError` naming any ID not in the registry."""
    unknown = [i for i in ids if i not in load_rules()]
    if unknown:
        raise ConfigurationError(
            f"{where} cites unknown rule IDs {unknown}; see `genai-compliance rules` for the "
            "list, or add the rule to rules.toml",
            field="rules",
            value=unknown,
        )
    return ids


def register(ids: tuple[str, ...], name: str) -> None:
    for rid in check_ids(ids, name):
        _IMPLEMENTERS.setdefault(rid, set()).add(name)


def implements(*ids: str) -> Callable[[T], T]:
    """Mark a class or function as implementing the obligations ``ids``."""

    def mark(obj: T) -> T:
        name = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
        register(ids, name)
        existing: tuple[str, ...] = getattr(obj, "__rules__", ())
        try:
            obj.__rules__ = existing + tuple(ids)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass
        return obj

    return mark


def registered() -> dict[str, list[str]]:
    """Every rule ID mapped to the sorted names of the code registered so far as
    implementing it — only what has been imported (no import happens here; the full table
    is :func:`genai_compliance.reports.implementations`)."""
    return {rid: sorted(_IMPLEMENTERS.get(rid, ())) for rid in load_rules()}


def implementations() -> dict[str, list[str]]:
    """Deprecated: use :func:`genai_compliance.reports.implementations` (the core no longer
    imports the duties to fill the table)."""
    deprecated("genai_compliance.rules.implementations",
               "genai_compliance.reports.implementations")
    registry = importlib.import_module("genai_compliance.reports")
    table: dict[str, list[str]] = registry.implementations()
    return table
