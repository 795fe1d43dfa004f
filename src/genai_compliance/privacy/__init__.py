"""The PIPL duties that keep registers and deadlines: the personal-information breach
workflow and its notices (PI-57, PI-57-NOTICE, PI-57-EXEMPT, PI-BREACH-GRADE, NDSR-11), the
PI-protection compliance-audit schedule (PI-AUDIT) and the PIPIA records (PI-55/56,
PI-56-CONTENT), with one schedule of every deadline for the report and the dossier.

>>> privacy = Privacy.from_context(compliance.context)
>>> b = privacy.open_breach("export bucket left public", pi_kinds=["手机号码"], individuals=1200)
>>> privacy.remediate(b.id, ["bucket closed", "access keys rotated"])

.. versionadded:: 0.3
"""

from .._exports import publish as _publish
from ._machine import STEPS, BreachState, Step, StepOutOfOrder, allowed, apply
from ._schedule import STATUSES, DueItem, Status
from ._service import (
    EVENTS,
    GRADES,
    LANGS,
    TRIGGERS,
    Activity,
    Audit,
    Breach,
    Notice,
    Pipia,
    Privacy,
)
from ._settings import MEASURES_IN_FORCE, PrivacySettings

__all__ = [
    "EVENTS",
    "GRADES",
    "LANGS",
    "MEASURES_IN_FORCE",
    "STATUSES",
    "STEPS",
    "TRIGGERS",
    "Activity",
    "Audit",
    "Breach",
    "BreachState",
    "DueItem",
    "Notice",
    "Pipia",
    "Privacy",
    "PrivacySettings",
    "Status",
    "Step",
    "StepOutOfOrder",
    "allowed",
    "apply",
]

_publish(__name__, globals(), __all__)
