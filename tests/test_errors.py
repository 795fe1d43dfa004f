"""The error tree (issue 14): every type declares its evidence, typed; nothing else can be
attached; evidence survives pickling (process pools, logging handlers)."""

from __future__ import annotations

import inspect
import pickle
import typing

import pytest

import genai_compliance.errors as errors
from genai_compliance.errors import ComplianceError, ConsentRequired, MalformedMedia


def _types() -> list[type[ComplianceError]]:
    return [getattr(errors, n) for n in errors.__all__
            if issubclass(getattr(errors, n), ComplianceError)]


@pytest.mark.parametrize("cls", _types(), ids=lambda c: c.__name__)
def test_every_evidence_attribute_is_declared_typed_and_a_parameter(
        cls: type[ComplianceError]) -> None:
    """Each declared evidence name has a type annotation on the class and is a keyword
    parameter of its constructor; each keyword parameter is declared evidence."""
    hints = typing.get_type_hints(cls, vars(errors))
    params = {n for n, p in inspect.signature(cls.__init__).parameters.items()
              if p.kind is inspect.Parameter.KEYWORD_ONLY}
    declared = set(cls._declared())
    for name in declared:
        assert name in hints, f"{cls.__name__}.{name} has no type annotation"
    assert params <= declared, f"{cls.__name__} takes undeclared {params - declared}"
    assert cls.__module__ == "genai_compliance"


def test_undeclared_evidence_is_refused_and_declared_evidence_pickles() -> None:
    """A keyword an error does not declare cannot be attached; declared evidence is kept
    as attributes and in ``.evidence``, also through pickle."""
    with pytest.raises(TypeError):
        ConsentRequired("x", purpose="service")  # type: ignore[call-arg]
    err = MalformedMedia("truncated PNG chunk at 41", format="png", offset=41)
    assert (err.format, err.offset) == ("png", 41)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is MalformedMedia and again.evidence == err.evidence
    assert str(again) == str(err) and again.offset == 41
