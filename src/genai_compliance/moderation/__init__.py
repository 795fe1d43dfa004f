"""Moderation: keyword library with evasion-resistant normalisation, Aho–Corasick matching,
streaming scanner, classifier protocol and the input/output guard checks (IM-4a, IM-14a,
SR-5, SR-11). Risk codes come from :mod:`genai_compliance.risks`."""

from .._exports import publish as _publish
from ._checks import InputModerationCheck, OutputModerationCheck
from ._library import Coverage, Keyword, KeywordLibrary, Match, Matcher
from ._moderation import (
    Classifier,
    Moderation,
    StreamScanner,
    Verdict,
    minors_harm_library,
)
from ._normalise import normalise, normalise_term

__all__ = [
    "Classifier",
    "Coverage",
    "InputModerationCheck",
    "Keyword",
    "KeywordLibrary",
    "Match",
    "Matcher",
    "Moderation",
    "OutputModerationCheck",
    "StreamScanner",
    "Verdict",
    "minors_harm_library",
    "normalise",
    "normalise_term",
]

_publish(__name__, globals(), __all__)
