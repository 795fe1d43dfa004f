"""Hypothesis strategies shared by the implicit-label tests."""

from __future__ import annotations

from hypothesis import strategies as st

from genai_compliance.labelling.aigc import AIGCLabel

_ALPHABET = "".join(chr(c) for c in [0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F)])
values = st.text(alphabet=_ALPHABET, max_size=40)
labels = st.builds(AIGCLabel, label=st.sampled_from(["1", "2", "3"]),
                   content_producer=values, produce_id=values.filter(bool),
                   reserved_code1=values, content_propagator=values, propagate_id=values,
                   reserved_code2=values)
