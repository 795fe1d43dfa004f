"""Safety evaluation: question banks, the harness, refusal and content pass rates (SR-6–SR-10)."""

from .._exports import publish as _publish
from ._harness import (
    BANKS,
    BankCheck,
    BankRequirements,
    EvaluationReport,
    MethodResult,
    Question,
    QuestionBank,
    default_refusal_detector,
    evaluate,
    risk_codes,
)

__all__ = [
    "BANKS",
    "BankCheck",
    "BankRequirements",
    "EvaluationReport",
    "MethodResult",
    "Question",
    "QuestionBank",
    "default_refusal_detector",
    "evaluate",
    "risk_codes",
]

_publish(__name__, globals(), __all__)
