"""``[privacy]`` settings, validated by ``privacy-config.schema.json`` and read once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import ConfigurationError, RetentionError
from ..schemas import validate
from ._schedule import add_years

__all__ = ["MEASURES_IN_FORCE", "PrivacySettings"]

#: the Compliance Audit Measures took effect on this day (PI-AUDIT)
MEASURES_IN_FORCE = dt.date(2025, 5, 1)


def _date(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigurationError(f"privacy.{field} must be a date like 2027-05-01, got "
                                 f"{value!r}", field=f"privacy.{field}", value=value) from exc


@attrs.frozen
class PrivacySettings:
    """The validated ``[privacy]`` section (see the schema for each key's meaning).

    .. versionadded:: 0.3
    """

    individuals_count: int = 0
    audit_threshold: int = 10_000_000
    audit_interval_years: int = 2
    below_threshold_interval_years: int | None = None
    first_audit_due: dt.date | None = None
    due_soon_days: float = 60
    due_soon_hours: float = 1
    pipia_retention_years: int = 3
    pipia_review_years: int | None = None
    authority: str = "属地省级网信部门"
    authority_en: str = "the provincial cyberspace administration"
    contact: Mapping[str, str] = attrs.field(factory=dict)
    critical_infrastructure: bool = False
    state_organ: bool = False
    particularly_major_individuals: int = 100_000_000
    major_individuals: int = 10_000_000
    relatively_major_individuals: int = 1_000_000
    notify_within_hours: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.pipia_retention_years < 3:
            raise RetentionError(
                f"privacy.pipia_retention_years must be at least 3 (PIPL Art. 56 keeps PIPIA "
                f"records >= 3 years), got {self.pipia_retention_years}",
                value=self.pipia_retention_years)
        if not (self.relatively_major_individuals <= self.major_individuals
                <= self.particularly_major_individuals):
            raise ConfigurationError(
                "privacy.breach needs relatively_major_individuals <= major_individuals <= "
                f"particularly_major_individuals, got {self.relatively_major_individuals}, "
                f"{self.major_individuals}, {self.particularly_major_individuals}",
                field="privacy.breach", value=(self.relatively_major_individuals,
                                               self.major_individuals,
                                               self.particularly_major_individuals))

    @property
    def audit_mandatory(self) -> bool:
        """More than :attr:`audit_threshold` individuals: the fixed interval applies."""
        return self.individuals_count > self.audit_threshold

    @property
    def interval_years(self) -> int | None:
        """The audit interval in force (``None``: no fixed interval)."""
        return (self.audit_interval_years if self.audit_mandatory
                else self.below_threshold_interval_years)

    @property
    def first_due(self) -> dt.date:
        """When the first audit is due with none on record."""
        if self.first_audit_due is not None:
            return self.first_audit_due
        return add_years(MEASURES_IN_FORCE, self.interval_years or self.audit_interval_years)

    @classmethod
    def from_settings(cls, section: Mapping[str, Any] | None) -> PrivacySettings:
        """From the ``[privacy]`` mapping; unknown keys and bad values raise
        :class:`~genai_compliance.ConfigurationError` naming ``privacy.<key>``."""
        data = dict(section or {})
        try:
            validate(data, "privacy-config", what="[privacy]")
        except ConfigurationError as exc:
            field = exc.field or ""
            raise ConfigurationError(
                str(exc), field="privacy" + (f".{field}" if field and
                                              field != "(top level)" else ""),
                value=exc.value, problems=exc.problems, key=exc.key,
                suggestion=exc.suggestion, valid_keys=exc.valid_keys) from exc
        breach = dict(data.pop("breach", {}) or {})
        contact = {k: str(v) for k, v in dict(data.pop("contact", {}) or {}).items()}
        if "first_audit_due" in data:
            data["first_audit_due"] = _date(data["first_audit_due"], "first_audit_due")
        return cls(**data, **breach, contact=contact)
