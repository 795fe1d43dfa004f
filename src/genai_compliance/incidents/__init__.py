"""Illegal content (IM-14a), illegal use (IM-14b, SR-14), complaints (IM-15), security-incident
timers (CSL-INC) and signed reports for the authority."""

from ._calendar import DEFAULT_CALENDAR, HOLIDAY_SOURCES, WorkingCalendar, add_working_days
from ._complaints import COMPLAINT_STATUSES, OPEN_STATUSES, TRANSITIONS, Complaint, Complaints
from ._escalation import LEVELS, Escalation, EscalationPolicy, Standing, transition
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

#: the earlier name of :class:`Standing`
SubjectStanding = Standing

__all__ = [
    "COMPLAINT_STATUSES",
    "DEFAULT_CALENDAR",
    "HANDLING_STEPS",
    "HOLIDAY_SOURCES",
    "LEVELS",
    "OPEN_STATUSES",
    "SEVERITIES",
    "TRANSITIONS",
    "Complaint",
    "Complaints",
    "Escalation",
    "EscalationPolicy",
    "IllegalUseCheck",
    "Incidents",
    "SecurityIncident",
    "Standing",
    "SubjectStanding",
    "WorkingCalendar",
    "add_working_days",
    "incident_report",
    "periodic_summary",
    "provider_json",
    "transition",
    "verify_bundle",
    "write_bundle",
]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and isinstance(_obj, type | type(add_working_days)):
        _obj.__module__ = __name__
