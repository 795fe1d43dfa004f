"""Statistics, sample sizes and pass/fail decisions of the training-data duties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genai_compliance import ConfigurationError
from genai_compliance.training import (
    cohen_kappa,
    decide,
    fleiss_kappa,
    manual_inspection_plan,
    sample_indices,
    source_gate,
    technical_inspection_plan,
    wilson_interval,
)


def test_wilson_interval_known_values() -> None:
    """Wilson 95 % intervals match published values (e.g. 81/263 → 0.2553–0.3662)."""
    ci = wilson_interval(81, 263)
    assert (round(ci.low, 4), round(ci.high, 4)) == (0.2553, 0.3662)
    ci = wilson_interval(0, 10)
    assert round(ci.low, 12) == 0.0 and round(ci.high, 4) == 0.2775
    ci = wilson_interval(10, 10)
    assert round(ci.low, 4) == 0.7225 and round(ci.high, 12) == 1.0
    assert wilson_interval(0, 0).high == 1.0


@given(st.integers(0, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_rate(pair: tuple[int, int]) -> None:
    """Property: the interval lies in [0, 1] and contains the observed rate."""
    k, n = pair
    ci = wilson_interval(k, n)
    assert 0.0 <= ci.low <= ci.rate + 1e-12 and ci.rate - 1e-12 <= ci.high <= 1.0


def test_cohen_kappa_hand_computed() -> None:
    """Cohen's kappa: 20 items, p_o = 0.7, p_e = 0.5 → 0.4 (worked by hand)."""
    a = ["y"] * 10 + ["n"] * 10
    b = ["y"] * 7 + ["n"] * 3 + ["y"] * 3 + ["n"] * 7
    assert math.isclose(cohen_kappa(a, b), 0.4)
    assert cohen_kappa(a, a) == 1.0
    with pytest.raises(ConfigurationError, match="equally long"):
        cohen_kappa(a, b[:-1])


def test_fleiss_kappa_wikipedia_example() -> None:
    """Fleiss' kappa on the classic 10-item, 14-rater example equals 0.210."""
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
             [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
             [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert round(fleiss_kappa(table), 3) == 0.210
    with pytest.raises(ConfigurationError, match="same number"):
        fleiss_kappa([[1, 1], [2, 1]])


def test_manual_plan_is_4000_or_everything() -> None:
    """SR-3: 4,000 random items, or all of a smaller corpus; reproducible from the seed."""
    plan = manual_inspection_plan(1_000_000, seed=7)
    assert plan.sample_size == 4000 and len(set(plan.indices)) == 4000
    assert plan.indices == manual_inspection_plan(1_000_000, seed=7).indices
    assert plan.indices != manual_inspection_plan(1_000_000, seed=8).indices
    assert manual_inspection_plan(1234, seed=1).sample_size == 1234


def test_technical_plan_is_ten_percent_rounded_up() -> None:
    """SR-4: at least 10 % of the corpus, rounded up."""
    assert technical_inspection_plan(1001, seed=1).sample_size == 101
    assert technical_inspection_plan(10, seed=1).sample_size == 1


def test_decisions_at_threshold_edges() -> None:
    """96 % passes the manual test and 95.975 % fails; 98 % passes the technical one."""
    plan = manual_inspection_plan(10_000, seed=3)
    assert decide(plan, [True] * 3840 + [False] * 160).passed  # exactly 96 %
    failed = decide(plan, [True] * 3839 + [False] * 161)
    assert not failed.passed and "below 96%" in failed.reasons[0]
    tech = technical_inspection_plan(1000, seed=3)
    assert decide(tech, [True] * 98 + [False] * 2).passed
    assert not decide(tech, [True] * 97 + [False] * 3).passed
    with pytest.raises(ConfigurationError, match="no verdict"):
        decide(tech, {tech.indices[0]: True})


def test_source_gate_at_five_percent() -> None:
    """SR-1: exactly 5 % harmful is accepted, anything above is rejected."""
    assert source_gate(50, 1000)[0] is True
    ok, why = source_gate(51, 1000)
    assert ok is False and "5.10%" in why
    assert source_gate(0, 0)[0] is False


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.text(max_size=5))
def test_sample_indices_distinct_and_in_range(pop: int, k: int, seed: str) -> None:
    """Property: samples are distinct, in range, of size min(k, population), reproducible."""
    idx = sample_indices(pop, k, seed)
    assert len(idx) == min(pop, k) == len(set(idx))
    assert all(0 <= i < pop for i in idx) and idx == sample_indices(pop, k, seed)
