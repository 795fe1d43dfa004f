"""Moderation: keyword library with evasion-resistant normalisation, Aho–Corasick matching,
streaming scanner, classifier protocol and the input/output guard checks (IM-4a, IM-14a,
SR-5, SR-11). Risk codes come from :mod:`genai_compliance.risks`."""

from ._checks import InputModerationCheck, OutputModerationCheck
from ._library import Coverage, Keyword, KeywordLibrary, Match, Matcher
from ._moderation import (
    Classifier,
    Moderation,
    StreamScanner,
    Verdict,
)
from ._normalise import normalise, normalise_fast, normalise_term

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
    "normalise",
    "normalise_fast",
    "normalise_term",
]
