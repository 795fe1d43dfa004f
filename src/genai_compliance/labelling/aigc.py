"""The GB 45438-2025 implicit label: the seven Annex E fields and their JSON form.

Obligations: LM-5 (implicit label in file metadata with the producer's name/code and a
content ID), LM-6 (Label "1" confirmed / "2" possibly / "3" suspected AI-generated).
The producer code follows TC260-PG-20252A: ``"00"`` + ``"1"`` + ``"1"`` + the 18-character
unified social credit code + service type (``"1"``/``"2"``) + a 4-character model code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import attrs

from ..config import validate_uscc
from ..errors import ConfigurationError, LabelError
from ..rules import implements

__all__ = ["FIELDS", "LABEL_VALUES", "AIGCLabel", "producer_code", "validate_producer_code"]

#: Annex E key order.
FIELDS = ("Label", "ContentProducer", "ProduceID", "ReservedCode1",
          "ContentPropagator", "PropagateID", "ReservedCode2")
_ATTRS = ("label", "content_producer", "produce_id", "reserved_code1",
          "content_propagator", "propagate_id", "reserved_code2")
#: LM-6 tiers.
LABEL_VALUES = {"1": "confirmed", "2": "possibly", "3": "suspected"}
_VALUE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]*\Z")
_MODEL = re.compile(r"[0-9A-Z]{4}\Z")
_MAX_VALUE = 1024


def _check_value(field: str, value: object) -> None:
    if not isinstance(value, str):
        raise LabelError(f"{field} must be a string, got {type(value).__name__}",
                         field=field, value=value)
    if len(value) > _MAX_VALUE or not _VALUE.match(value):
        raise LabelError(
            f"{field} may hold only printable ASCII without space, double quote or backslash "
            f"(GB 45438 Annex E), at most {_MAX_VALUE} characters; got {value!r}",
            field=field, value=value)


def _validate(inst: AIGCLabel, attribute: attrs.Attribute[str], value: str) -> None:
    field = FIELDS[_ATTRS.index(attribute.name)]
    _check_value(field, value)
    if field == "Label" and value not in LABEL_VALUES:
        raise LabelError('Label must be "1" (AI-generated), "2" (possibly) or "3" (suspected)'
                         f" (GB 45438 Annex E, LM-6); got {value!r}", field="Label",
                         value=value)


@implements("LM-5", "GB-E", "IM-12", "DSP-16")
@attrs.frozen
class AIGCLabel:
    """One implicit label (GB 45438 Annex E; LM-5, LM-6). Values are validated on creation."""

    label: str = attrs.field(default="1", validator=_validate)
    content_producer: str = attrs.field(default="", validator=_validate)
    produce_id: str = attrs.field(default="", validator=_validate)
    reserved_code1: str = attrs.field(default="", validator=_validate)
    content_propagator: str = attrs.field(default="", validator=_validate)
    propagate_id: str = attrs.field(default="", validator=_validate)
    reserved_code2: str = attrs.field(default="", validator=_validate)

    @classmethod
    def generated(cls, *, content_producer: str, produce_id: str,
                  reserved_code1: str = "") -> AIGCLabel:
        """A label for content our service generated: Label "1" (LM-6 confirmed)."""
        return cls(label="1", content_producer=content_producer, produce_id=produce_id,
                   reserved_code1=reserved_code1)

    @property
    def tier(self) -> str:
        """LM-6 tier: ``confirmed`` / ``possibly`` / ``suspected``."""
        return LABEL_VALUES[self.label]

    def to_dict(self) -> dict[str, str]:
        """The seven fields under their Annex E keys, in Annex E order."""
        return {k: getattr(self, a) for k, a in zip(FIELDS, _ATTRS, strict=True)}

    def to_json(self) -> str:
        """Compact JSON object with the Annex E keys in order (schema ``aigc-label``)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=True)

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> AIGCLabel:
        """Parse ``{"AIGC": {...}}`` or the bare object; unknown keys and non-string
        values are a :class:`LabelError`; missing optional keys default to ``""``."""
        if isinstance(data, str | bytes):
            try:
                obj = json.loads(data)
            except (ValueError, UnicodeError) as exc:
                raise LabelError(f"the implicit label is not JSON: {exc}", field="AIGC",
                                 value=data[:200]) from None
        else:
            obj = data
        if isinstance(obj, Mapping) and set(obj) == {"AIGC"} and isinstance(obj["AIGC"],
                                                                           Mapping):
            obj = obj["AIGC"]
        if not isinstance(obj, Mapping):
            raise LabelError("the implicit label must be a JSON object", field="AIGC",
                             value=str(obj)[:200])
        unknown = [k for k in obj if k not in FIELDS]
        if unknown:
            raise LabelError(f"unknown implicit-label keys {unknown}; GB 45438 Annex E "
                             f"defines {list(FIELDS)}", field=str(unknown[0]),
                             value=str(unknown[0]))
        for key in ("Label", "ContentProducer", "ProduceID"):
            if key not in obj:
                raise LabelError(f"the implicit label lacks the required key {key}",
                                 field=key)
        kwargs = {}
        for k, a in zip(FIELDS, _ATTRS, strict=True):
            if k in obj:
                v = obj[k]
                if not isinstance(v, str):
                    raise LabelError(f"{k} must be a string", field=k, value=v)
                kwargs[a] = v
        return cls(**kwargs)

    def with_propagation(self, propagator: str, propagate_id: str,
                         reserved_code2: str = "") -> AIGCLabel:
        """The same producer fields with the propagation platform's fields set (LM-8)."""
        return attrs.evolve(self, content_propagator=propagator, propagate_id=propagate_id,
                            reserved_code2=reserved_code2)


@implements("PG-20252A")
def producer_code(uscc: str, service_type: str | int, model_code: str) -> str:
    """The 27-character ContentProducer code (TC260-PG-20252A; LM-5)."""
    code = "001" + "1" + uscc + str(service_type) + model_code
    return validate_producer_code(code)


def validate_producer_code(code: str) -> str:
    """Return ``code`` if it is a well-formed producer code, else raise LabelError."""
    if not isinstance(code, str) or len(code) != 27:
        raise LabelError(f"a producer code has 27 characters, got {code!r}",
                         field="ContentProducer", value=code)
    if code[:4] != "0011":
        raise LabelError(f"a producer code starts with '00','1','1'; got {code[:4]!r}",
                         field="ContentProducer", value=code)
    try:
        validate_uscc(code[4:22])
    except ConfigurationError as exc:
        raise LabelError(f"producer code {code!r}: {exc.args[0]}", field="ContentProducer",
                         value=code) from None
    if code[22] not in "12":
        raise LabelError(f"producer code service type must be '1' or '2', got {code[22]!r}",
                         field="ContentProducer", value=code)
    if not _MODEL.match(code[23:]):
        raise LabelError(f"producer code model code must be 4 of [0-9A-Z], got "
                         f"{code[23:]!r}", field="ContentProducer", value=code)
    return code
