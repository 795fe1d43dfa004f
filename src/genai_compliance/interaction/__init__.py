"""AI-interaction disclosure and continuous-use reminders, one engine with a profile per
jurisdiction; exit that stops the service; minors' personas; training consent; the
security-assessment item (AN-DISCLOSE, AN-PAUSE, AN-EXIT, AN-14, AN-TRAIN, AN-ASSESS,
EU-50-1, EU-50-5, SB243-22602, NY-GBL-1702).

>>> interaction = Interaction.from_context(compliance.context, consent=compliance.consent)
>>> compliance.add_check(InteractionCheck(interaction))

.. versionadded:: 0.3
"""

from .._exports import publish as _publish
from ._check import InteractionCheck
from ._profiles import PROFILES, Audience, InteractionSettings, Profile
from ._service import (
    Admission,
    GuardianConsent,
    Interaction,
    InteractionExited,
    Notice,
    PersonaRestricted,
    SecurityAssessment,
    TrainingDecision,
    security_assessment_needed,
)

__all__ = [
    "PROFILES",
    "Admission",
    "Audience",
    "GuardianConsent",
    "Interaction",
    "InteractionCheck",
    "InteractionExited",
    "InteractionSettings",
    "Notice",
    "PersonaRestricted",
    "Profile",
    "SecurityAssessment",
    "TrainingDecision",
    "security_assessment_needed",
]

_publish(__name__, globals(), __all__)
