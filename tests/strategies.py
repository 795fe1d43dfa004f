"""Hypothesis strategies shared by the foundation tests (STYLE 17)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-(2.0**52),
                max_value=2.0**52)
    | st.text(max_size=20)
)

json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)

payloads = st.dictionaries(st.text(min_size=1, max_size=10), json_values, max_size=5)
kinds = st.sampled_from(["guard.call", "consent.grant", "consent.withdraw", "label.issued",
                         "moderation.block", "complaint.received"])
user_ids = st.one_of(st.none(), st.text(min_size=1, max_size=12))
entries = st.tuples(kinds, payloads, user_ids)
