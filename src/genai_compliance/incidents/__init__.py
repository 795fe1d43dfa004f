"""Illegal content and illegal use (IM-14a/b, SR-14), complaints (IM-15), security-incident
timers (CSL-INC) and signed reports for the authority."""

from ._calendar import DEFAULT_CALENDAR, WorkingCalendar, add_working_days
from ._incidents import (
    COMPLAINT_STATUSES,
    LEVELS,
    Complaint,
    EscalationPolicy,
    IllegalUseCheck,
    Incidents,
    SecurityIncident,
    SubjectStanding,
)
from ._reports import incident_report, periodic_summary, verify_bundle, write_bundle

__all__ = [
    "COMPLAINT_STATUSES",
    "DEFAULT_CALENDAR",
    "LEVELS",
    "Complaint",
    "EscalationPolicy",
    "IllegalUseCheck",
    "Incidents",
    "SecurityIncident",
    "SubjectStanding",
    "WorkingCalendar",
    "add_working_days",
    "incident_report",
    "periodic_summary",
    "verify_bundle",
    "write_bundle",
]
