"""Minor protection: age bands, daily quotas, curfew, rest reminders, guardian controls.

IM-10 asks providers to prevent minors' over-reliance on and addiction to generative AI; the
Minors'-Mode Guidelines (MM-final, 2024-11-15) give the defaults: under 16 at most 1 hour a
day, 16-18 at most 2 hours, a rest reminder after 30 minutes, no service 22:00-06:00. Under 14
a guardian's consent comes first (PI-28/31). Guardians adjust limits and grant exemptions
within bounds set in ``[minors]`` (MM-adjust, MM-exempt); the unknown-age policy is explicit
and stated in the dossier (MM-age-unknown). Limits hold across replicas through a shared
store (``redis://``, one atomic script per operation).

>>> protection = MinorProtection.from_context(ctx, guardian_consent=consent.has_guardian_consent)
>>> compliance.add_check(MinorsCheck(protection))
"""

from .._exports import publish as _publish
from ._check import MinorsCheck
from ._policy import MINOR_BANDS, PROFILES, UNKNOWN_AGE_MEANING, MinorPolicy, UnknownAge
from ._protection import (
    Admission,
    AgeVerificationRequired,
    DayUsage,
    Exemption,
    GuardianBoundExceeded,
    MinorProtection,
    UsageSummary,
)

__all__ = [
    "MINOR_BANDS",
    "PROFILES",
    "UNKNOWN_AGE_MEANING",
    "Admission",
    "AgeVerificationRequired",
    "DayUsage",
    "Exemption",
    "GuardianBoundExceeded",
    "MinorPolicy",
    "MinorProtection",
    "MinorsCheck",
    "UnknownAge",
    "UsageSummary",
]

_publish(__name__, globals(), __all__)
