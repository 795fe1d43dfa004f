"""Corpus sampling inspections (SR-1, SR-3, SR-4) with sizes and decisions computed.

``manual_inspection_plan`` and ``technical_inspection_plan`` say which items to look at
(reproducibly, from a seed); ``decide`` turns the verdicts into a recorded result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from ..errors import ConfigurationError
from ..rules import implements
from ..stats import DEFAULT_THRESHOLDS, Interval, Thresholds, sample_indices, wilson_interval

__all__ = [
    "DEFAULT_THRESHOLDS",
    "InspectionPlan",
    "InspectionResult",
    "Thresholds",
    "decide",
    "manual_inspection_plan",
    "source_gate",
    "technical_inspection_plan",
]

Method = Literal["manual", "technical"]




@attrs.frozen
class InspectionPlan:
    """Which items to inspect: ``indices`` into the corpus, reproducible from ``seed``."""

    method: Method
    corpus_size: int
    sample_size: int
    indices: tuple[int, ...]
    seed: str
    min_pass: float

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "corpus_size": self.corpus_size,
                "sample_size": self.sample_size, "seed": self.seed, "min_pass": self.min_pass}


@attrs.frozen
class InspectionResult:
    """The outcome of one inspection: pass rate with its Wilson interval and the decision."""

    plan: InspectionPlan
    passed_items: int
    inspected: int
    interval: Interval
    passed: bool
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.plan.to_json(), "passed_items": self.passed_items,
                "inspected": self.inspected, "pass_rate": self.interval.rate,
                "wilson_low": self.interval.low, "wilson_high": self.interval.high,
                "passed": self.passed, "reasons": list(self.reasons)}


@implements("SR-3")
def manual_inspection_plan(corpus_size: int, seed: int | str,
                           thresholds: Thresholds = DEFAULT_THRESHOLDS) -> InspectionPlan:
    """SR-3: at least 4,000 random items (every item when the corpus is smaller)."""
    k = min(corpus_size, thresholds.manual_min_items)
    return InspectionPlan("manual", corpus_size, k,
                          tuple(sample_indices(corpus_size, k, f"manual/{seed}")), str(seed),
                          thresholds.manual_min_pass)


@implements("SR-4")
def technical_inspection_plan(corpus_size: int, seed: int | str,
                              thresholds: Thresholds = DEFAULT_THRESHOLDS) -> InspectionPlan:
    """SR-4: at least 10 % of the corpus (rounded up), checked by keyword/classifier."""
    k = min(corpus_size, math.ceil(corpus_size * thresholds.technical_min_share))
    return InspectionPlan("technical", corpus_size, k,
                          tuple(sample_indices(corpus_size, k, f"technical/{seed}")),
                          str(seed), thresholds.technical_min_pass)


def decide(plan: InspectionPlan, verdicts: Mapping[int, bool] | Sequence[bool]) -> InspectionResult:
    """Judge an inspection: every planned item needs a verdict; pass rate >= the minimum."""
    if isinstance(verdicts, Mapping):
        missing = [i for i in plan.indices if i not in verdicts]
        if missing:
            raise ConfigurationError(
                f"{len(missing)} planned items have no verdict (first: {missing[:5]}); "
                "inspect every item of the plan", field="verdicts", value=missing[:5])
        values = [bool(verdicts[i]) for i in plan.indices]
    else:
        if len(verdicts) != plan.sample_size:
            raise ConfigurationError(
                f"the plan has {plan.sample_size} items but {len(verdicts)} verdicts were "
                "given", field="verdicts", value=len(verdicts))
        values = [bool(v) for v in verdicts]
    good = sum(values)
    interval = wilson_interval(good, len(values))
    reasons = []
    if interval.n and interval.rate < plan.min_pass:
        reasons.append(f"pass rate {interval.rate:.2%} below {plan.min_pass:.0%}")
    if plan.sample_size == 0:
        reasons.append("empty corpus: nothing was inspected")
    return InspectionResult(plan, good, len(values), interval, not reasons, tuple(reasons))


@implements("SR-1")
def source_gate(harmful_items: int, sampled_items: int,
                thresholds: Thresholds = DEFAULT_THRESHOLDS) -> tuple[bool, str]:
    """SR-1: a source whose sampled share of illegal/harmful items exceeds 5 % is rejected.

    Returns ``(accepted, reason)``.
    """
    if sampled_items <= 0:
        return False, "no items of the source were sampled; sample it before deciding"
    share = harmful_items / sampled_items
    if share > thresholds.source_max_harmful:
        return False, (f"{share:.2%} of sampled items are illegal or harmful (> "
                       f"{thresholds.source_max_harmful:.0%}, SR-1)")
    return True, f"{share:.2%} harmful in the sample (<= {thresholds.source_max_harmful:.0%})"
