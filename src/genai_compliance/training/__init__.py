"""Training-data and filing duties: provenance register, labelling quality, corpus sampling,
filing deadlines, the applicability assessment and the regulator's dossier (IM-7, IM-8,
IM-17, IM-19, SR-1 to SR-4, SR-12, ARP-24)."""

from .._exports import publish as _publish
from ..stats import Interval, cohen_kappa, fleiss_kappa, sample_indices, wilson_interval
from ._dossier import SERVICE_FIELDS, Dossier, build_dossier, write_dossier
from ._filing import (
    QUESTIONS,
    Assessment,
    Conclusion,
    Duty,
    FilingEvent,
    MissingAnswer,
    assess,
    filing_deadline,
)
from ._register import (
    LEGAL_BASES,
    BaseModel,
    DataSource,
    LabellerTraining,
    LabellingRules,
    QualityAssessment,
    TrainingRegister,
)
from ._sampling import (
    InspectionPlan,
    InspectionResult,
    Thresholds,
    decide,
    manual_inspection_plan,
    source_gate,
    technical_inspection_plan,
)

__all__ = [
    "LEGAL_BASES",
    "QUESTIONS",
    "SERVICE_FIELDS",
    "Assessment",
    "BaseModel",
    "Conclusion",
    "DataSource",
    "Dossier",
    "Duty",
    "FilingEvent",
    "InspectionPlan",
    "InspectionResult",
    "Interval",
    "LabellerTraining",
    "LabellingRules",
    "MissingAnswer",
    "QualityAssessment",
    "Thresholds",
    "TrainingRegister",
    "assess",
    "build_dossier",
    "cohen_kappa",
    "decide",
    "filing_deadline",
    "fleiss_kappa",
    "manual_inspection_plan",
    "sample_indices",
    "source_gate",
    "technical_inspection_plan",
    "wilson_interval",
    "write_dossier",
]

_publish(__name__, globals(), __all__)
