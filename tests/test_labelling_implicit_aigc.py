"""AIGCLabel: GB 45438 Annex E fields, JSON form and producer codes (LM-5, LM-6)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genai_compliance.config import uscc_check_char
from genai_compliance.errors import LabelError
from genai_compliance.labelling.aigc import (
    FIELDS,
    AIGCLabel,
    producer_code,
    validate_producer_code,
)
from genai_compliance.schemas import validate
from strategies_labelling import labels

USCC17 = "91110108MA01ABCDE"
USCC = USCC17 + uscc_check_char(USCC17)


def test_to_json_has_annex_e_key_order_and_is_compact() -> None:
    """to_json() lists the seven Annex E keys in order, without spaces (LM-5)."""
    text = AIGCLabel(content_producer="P", produce_id="I").to_json()
    assert list(json.loads(text)) == list(FIELDS)
    assert " " not in text
    assert text.startswith('{"Label":"1","ContentProducer":"P","ProduceID":"I"')


@given(labels)
def test_json_round_trip_and_schema(label: AIGCLabel) -> None:
    """Any valid label survives to_json/from_json and matches the aigc-label schema."""
    assert AIGCLabel.from_json(label.to_json()) == label
    assert AIGCLabel.from_json({"AIGC": json.loads(label.to_json())}) == label
    validate(json.loads(label.to_json()), "aigc-label")


@pytest.mark.parametrize("bad", ['a"b', "a b", "a\\b", "中文", "x\n", "\x7f"])
def test_forbidden_characters_rejected(bad: str) -> None:
    """Space, quote, backslash and non-ASCII are refused with the field named."""
    with pytest.raises(LabelError) as err:
        AIGCLabel(content_producer=bad, produce_id="x")
    assert err.value.evidence["field"] == "ContentProducer"


@pytest.mark.parametrize("value", ["0", "4", "", "11"])
def test_label_value_must_be_1_2_3(value: str) -> None:
    """Label is one of "1", "2", "3" (LM-6)."""
    with pytest.raises(LabelError) as err:
        AIGCLabel(label=value, produce_id="x")
    assert err.value.evidence["field"] == "Label"


@pytest.mark.parametrize("text", ["[]", "not json", '{"Label":"1"}',
                                  '{"Label":"1","ContentProducer":"a","ProduceID":"b","X":"1"}',
                                  '{"Label":1,"ContentProducer":"a","ProduceID":"b"}'])
def test_from_json_rejects_bad_documents(text: str) -> None:
    """Non-objects, missing required keys, unknown keys and non-strings are LabelError."""
    with pytest.raises(LabelError):
        AIGCLabel.from_json(text)


@given(st.text(max_size=60))
def test_from_json_only_raises_label_error(text: str) -> None:
    """Arbitrary text parses or raises LabelError, nothing else."""
    try:
        AIGCLabel.from_json(text)
    except LabelError:
        pass


def test_producer_code_layout() -> None:
    """producer_code builds 00+1+1+USCC+service type+model code, 27 characters."""
    code = producer_code(USCC, "1", "A1B2")
    assert code == "0011" + USCC + "1A1B2"
    assert len(code) == 27
    assert validate_producer_code(code) == code


@pytest.mark.parametrize("args", [(USCC[:-1] + ("0" if USCC[-1] != "0" else "1"), "1", "A1B2"),
                                  (USCC, "3", "A1B2"), (USCC, "1", "a1b2"),
                                  (USCC, "1", "A1B")])
def test_producer_code_rejects_bad_parts(args: tuple[str, str, str]) -> None:
    """A wrong USCC check character, service type or model code is a LabelError."""
    with pytest.raises(LabelError):
        producer_code(*args)


def test_with_propagation_keeps_producer_fields() -> None:
    """with_propagation sets the propagator fields and keeps the producer ones (LM-8)."""
    lab = AIGCLabel(label="2", content_producer="P", produce_id="I", reserved_code1="R")
    new = lab.with_propagation("Q", "J", "S")
    assert (new.label, new.content_producer, new.produce_id, new.reserved_code1) == (
        "2", "P", "I", "R")
    assert (new.content_propagator, new.propagate_id, new.reserved_code2) == ("Q", "J", "S")
