"""Illegal content (IM-14a), illegal use (IM-14b, SR-14), complaints (IM-15), security-incident
timers (CSL-INC) and signed reports for the authority."""

from .._exports import deprecated as _deprecated
from .._exports import publish as _publish
from ..workdays import DEFAULT_CALENDAR, HOLIDAY_SOURCES, WorkingCalendar, add_working_days
from ._complaints import COMPLAINT_STATUSES, OPEN_STATUSES, Complaint, Complaints
from ._escalation import LEVELS, Escalation, EscalationPolicy, Standing
from ._incidents import (
    HANDLING_STEPS,
    SEVERITIES,
    IllegalUseCheck,
    Incidents,
    SecurityIncident,
)
from ._reports import (
    incident_report,
    periodic_summary,
    provider_json,
    verify_bundle,
    write_bundle,
)


def __getattr__(name: str) -> object:
    if name == "SubjectStanding":  # the earlier name of Standing
        _deprecated("genai_compliance.incidents.SubjectStanding",
                    "genai_compliance.incidents.Standing")
        return Standing
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "COMPLAINT_STATUSES",
    "DEFAULT_CALENDAR",
    "HANDLING_STEPS",
    "HOLIDAY_SOURCES",
    "LEVELS",
    "OPEN_STATUSES",
    "SEVERITIES",
    "Complaint",
    "Complaints",
    "Escalation",
    "EscalationPolicy",
    "IllegalUseCheck",
    "Incidents",
    "SecurityIncident",
    "Standing",
    "WorkingCalendar",
    "add_working_days",
    "incident_report",
    "periodic_summary",
    "provider_json",
    "verify_bundle",
    "write_bundle",
]

_publish(__name__, globals(), __all__)
