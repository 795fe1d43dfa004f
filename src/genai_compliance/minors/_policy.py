"""The minors' policy: daily limits per age band, the night curfew, rest reminders (MM-final).

Two named profiles ship:

``final-2024`` (default)
    Minors'-Mode Guidelines of 2024-11-15: under 16 at most 60 minutes a day, 16 to 18 at
    most 120 minutes, a rest reminder after 30 minutes of continuous use, no service
    22:00-06:00 local time (MM-final).
``draft-2023``
    The August 2023 consultation draft: under 8 at most 40 minutes, 8 to 16 at most 60,
    16 to 18 at most 120, same curfew (MM-draft; superseded, kept for providers who follow it).

Every figure is a setting; the profiles are starting points.

Guardians adjust within bounds the operator configures (MM-adjust, MM-exempt): a guardian's
daily limit may go up to ``guardian_max_daily_minutes`` of the band (by default the band's
own figure, so guardians can only lower it), an exemption lasts at most
``exemption_max_minutes``, and may lift the curfew only when ``exemption_curfew`` is true
(default false). ``unknown_age`` says how a user of unknown age is served (MM-age-unknown):
``"adult"``, ``"minors-mode"`` (the strictest band) or ``"refuse"``; the dossier states it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, Literal, cast

import attrs

from ..errors import ConfigurationError
from ..rules import implements
from ..schemas import validate
from ..subject import AgeBand

__all__ = ["MINOR_BANDS", "PROFILES", "UNKNOWN_AGE_MEANING", "MinorPolicy", "UnknownAge",
           "parse_clock_time"]

UnknownAge = Literal["adult", "minors-mode", "refuse"]
_UNKNOWN: tuple[str, ...] = ("adult", "minors-mode", "refuse")
#: the names of 0.1, still accepted: ``verify`` is ``refuse``, ``strictest`` ``minors-mode``
_UNKNOWN_ALIASES: Mapping[str, str] = {"verify": "refuse", "strictest": "minors-mode"}
#: what each unknown-age policy means, in the words the dossier prints
UNKNOWN_AGE_MEANING: Mapping[str, str] = {
    "adult": "a user of unknown age is served as an adult",
    "minors-mode": "a user of unknown age is served in minors' mode under the strictest band "
                   "(its daily limit, the curfew and the minors' moderation profile)",
    "refuse": "a user of unknown age is refused (AgeVerificationRequired) until the age is "
              "verified",
}

#: The minor bands, youngest first (MM-final content bands).
MINOR_BANDS: tuple[AgeBand, ...] = (AgeBand.UNDER_3, AgeBand.AGE_3_8, AgeBand.AGE_8_12,
                                    AgeBand.AGE_12_16, AgeBand.AGE_16_18)

#: Daily minutes per band of each named profile.
PROFILES: Mapping[str, Mapping[AgeBand, float]] = {
    "final-2024": {AgeBand.UNDER_3: 60.0, AgeBand.AGE_3_8: 60.0, AgeBand.AGE_8_12: 60.0,
                   AgeBand.AGE_12_16: 60.0, AgeBand.AGE_16_18: 120.0},
    "draft-2023": {AgeBand.UNDER_3: 40.0, AgeBand.AGE_3_8: 40.0, AgeBand.AGE_8_12: 60.0,
                   AgeBand.AGE_12_16: 60.0, AgeBand.AGE_16_18: 120.0},
}

_DEFAULT_REMINDER = "你已连续使用{minutes}分钟，请注意休息。"


def parse_clock_time(value: dt.time | str, field: str = "time") -> dt.time:
    """``"22:00"`` / ``"06:30:15"`` / a :class:`datetime.time` -> naive local time."""
    if isinstance(value, dt.time):
        if value.tzinfo is not None:
            raise ConfigurationError(
                f"{field} is a local wall-clock time; pass it without a time zone, got "
                f"{value!r}", field=field, value=value)
        return value
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigurationError(
            f"{field} must be a local time like '22:00', got {value!r}", field=field,
            value=value) from exc


def _seconds_of_day(t: dt.time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def _band(value: AgeBand | str, field: str = "daily_minutes") -> AgeBand:
    if isinstance(value, AgeBand):
        band = value
    else:
        try:
            band = AgeBand(value)
        except ValueError as exc:
            raise ConfigurationError(
                f"{field} has an unknown age band {value!r}; use one of "
                + ", ".join(b.value for b in MINOR_BANDS), field=field,
                value=value) from exc
    if band is AgeBand.ADULT:
        raise ConfigurationError(f"{field} applies to minors; remove the 'adult' entry",
                                 field=field, value=value)
    return band


def _limits(value: Mapping[AgeBand | str, float]) -> Mapping[AgeBand, float]:
    out: dict[AgeBand, float] = {}
    for key, minutes in value.items():
        band = _band(key)
        if (isinstance(minutes, bool) or not isinstance(minutes, int | float)
                or not math.isfinite(minutes) or minutes < 0):
            raise ConfigurationError(
                f"daily_minutes[{band.value!r}] must be a number of minutes >= 0, got "
                f"{minutes!r}", field=f"daily_minutes.{band.value}", value=minutes)
        out[band] = float(minutes)
    missing = [b.value for b in MINOR_BANDS if b not in out]
    if missing:
        raise ConfigurationError(
            f"daily_minutes lacks the bands {missing}; give all five minor bands (or start "
            "from a profile with MinorPolicy.profile(...))", field="daily_minutes",
            value=missing)
    return {b: out[b] for b in MINOR_BANDS}


def _curfew(value: tuple[dt.time | str, dt.time | str] | None) -> tuple[dt.time, dt.time] | None:
    if value is None:
        return None
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ConfigurationError(
            f"curfew must be a (start, end) pair like ('22:00', '06:00') or None, got "
            f"{value!r}", field="curfew", value=value)
    start = parse_clock_time(value[0], "curfew")
    end = parse_clock_time(value[1], "curfew")
    if start == end:
        raise ConfigurationError(
            f"curfew start and end are both {start}; use None for no curfew",
            field="curfew", value=value)
    return (start, end)


def _positive(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{attribute.name} must be > 0, got {value!r}",
                                 field=attribute.name, value=value)


def _non_negative(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"{attribute.name} must be >= 0, got {value!r}",
                                 field=attribute.name, value=value)


def _unknown_age(value: str) -> UnknownAge:
    """The canonical unknown-age policy (``verify``/``strictest`` are the 0.1 names)."""
    value = _UNKNOWN_ALIASES.get(value, value)
    if value not in _UNKNOWN:
        raise ConfigurationError(
            f"unknown_age must be one of {', '.join(_UNKNOWN)} (or the older names "
            f"'strictest', 'verify'); got {value!r}", field="unknown_age", value=value)
    return cast(UnknownAge, value)


def _bounds(value: Mapping[AgeBand | str, float] | None) -> Mapping[AgeBand, float] | None:
    """``guardian_max_daily_minutes``: some or all minor bands -> minutes (``None``: none)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"guardian_max_daily_minutes maps age bands to minutes, got {value!r}",
            field="guardian_max_daily_minutes", value=value)
    out: dict[AgeBand, float] = {}
    for key, minutes in value.items():
        band = _band(key, "guardian_max_daily_minutes")
        if (isinstance(minutes, bool) or not isinstance(minutes, int | float)
                or not math.isfinite(minutes) or minutes < 0 or minutes > 1440):
            raise ConfigurationError(
                f"guardian_max_daily_minutes[{band.value!r}] must be minutes between 0 and "
                f"1440, got {minutes!r}", field=f"guardian_max_daily_minutes.{band.value}",
                value=minutes)
        out[band] = float(minutes)
    return {b: out[b] for b in MINOR_BANDS if b in out}


@implements("IM-10", "MM-final", "MM-draft", "MN-43", "MN-LAW", "MM-adjust", "MM-exempt",
            "MM-age-unknown")
@attrs.frozen
class MinorPolicy:
    """What the minors' mode allows: daily minutes per band, curfew, reminders.

    :param daily_minutes: minutes of use a day for each minor band (all five).
    :param rest_reminder_minutes: continuous use after which (and after every further such
        span) a rest reminder is returned; ``0`` turns reminders off.
    :param rest_break_minutes: an idle gap at least this long ends "continuous use".
    :param curfew: local ``(start, end)`` with no service in between (wraps midnight when
        ``start > end``); ``None`` for no curfew.
    :param unknown_age: a subject of unknown age is served as an adult (``"adult"``), in
        minors' mode under the strictest band (``"minors-mode"``) or refused until verified
        (``"refuse"``); ``"strictest"`` and ``"verify"`` are accepted as the old names
        (MM-age-unknown).
    :param guardian_max_daily_minutes: the most a guardian may set a band's daily limit to;
        bands left out (and ``None``) are bounded by their ``daily_minutes`` (lower only) —
        MM-adjust. A bound below the band's figure is refused.
    :param exemption_max_minutes: the longest exemption a guardian may grant (``0``: none) —
        MM-exempt.
    :param exemption_curfew: whether an exemption may lift the curfew (default no).
    :param moderation_profile: the stricter moderation profile applied to minors (read by
        the moderation check); ``None`` to use the default profile.
    :param history_days: days of per-day usage kept for guardian summaries.
    :param lease_seconds: a call not heard of for this long (a crashed replica) stops being
        charged; streams renew their lease while they run.
    """

    name: str = "final-2024"
    daily_minutes: Mapping[AgeBand, float] = attrs.field(
        factory=lambda: dict(PROFILES["final-2024"]), converter=_limits)
    rest_reminder_minutes: float = attrs.field(default=30.0, validator=_non_negative)
    rest_break_minutes: float = attrs.field(default=10.0, validator=_non_negative)
    curfew: tuple[dt.time, dt.time] | None = attrs.field(
        default=(dt.time(22, 0), dt.time(6, 0)), converter=_curfew)
    unknown_age: UnknownAge = attrs.field(default="adult", converter=_unknown_age)
    moderation_profile: str | None = "minors"
    history_days: int = attrs.field(default=31, validator=attrs.validators.ge(1))
    lease_seconds: float = attrs.field(default=600.0, validator=_positive)
    reminder_text: str = _DEFAULT_REMINDER
    guardian_max_daily_minutes: Mapping[AgeBand, float] | None = attrs.field(
        default=None, converter=_bounds)
    exemption_max_minutes: float = attrs.field(default=120.0, validator=_non_negative)
    exemption_curfew: bool = attrs.field(default=False,
                                         validator=attrs.validators.instance_of(bool))

    def __attrs_post_init__(self) -> None:
        for band, bound in (self.guardian_max_daily_minutes or {}).items():
            if bound < self.daily_minutes[band]:
                raise ConfigurationError(
                    f"guardian_max_daily_minutes[{band.value!r}] = {bound:g} is below the "
                    f"band's daily_minutes ({self.daily_minutes[band]:g}); the bound is how "
                    "far a guardian may raise the limit, so it is at least the default",
                    field=f"guardian_max_daily_minutes.{band.value}", value=bound)
        if self.exemption_max_minutes > 1440:
            raise ConfigurationError(
                f"exemption_max_minutes must be at most 1440 (a day), got "
                f"{self.exemption_max_minutes:g}", field="exemption_max_minutes",
                value=self.exemption_max_minutes)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def profile(cls, name: str = "final-2024", **overrides: Any) -> MinorPolicy:
        """The named profile (``final-2024`` or ``draft-2023``) with ``overrides`` applied;
        ``daily_minutes`` overrides may name only some bands."""
        if name not in PROFILES:
            raise ConfigurationError(
                f"unknown minors profile {name!r}; known: {', '.join(PROFILES)}",
                field="profile", value=name)
        limits: dict[AgeBand | str, float] = {b: v for b, v in PROFILES[name].items()}
        for key, minutes in dict(overrides.pop("daily_minutes", None) or {}).items():
            limits[_band(key)] = minutes
        return cls(name=name, daily_minutes=limits, **overrides)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> MinorPolicy:
        """Build from the ``[minors]`` section of ``compliance.toml`` (validated against
        ``schemas/minors.schema.json``)."""
        validate(dict(settings), "minors", what="[minors]")
        keys = ("daily_minutes", "rest_reminder_minutes", "rest_break_minutes",
                "unknown_age", "moderation_profile", "history_days", "lease_seconds",
                "reminder_text", "guardian_max_daily_minutes", "exemption_max_minutes",
                "exemption_curfew")
        options: dict[str, Any] = {k: settings[k] for k in keys if k in settings}
        if "curfew" in settings:
            curfew = settings["curfew"]
            options["curfew"] = None if curfew is False else tuple(curfew)
        if options.get("moderation_profile") == "":
            options["moderation_profile"] = None
        return cls.profile(settings.get("profile", "final-2024"), **options)

    # -- questions ---------------------------------------------------------------------
    def limit_seconds(self, band: AgeBand) -> float:
        """The daily limit of ``band`` in seconds (``inf`` for adults)."""
        if band is AgeBand.ADULT:
            return math.inf
        return self.daily_minutes[band] * 60.0

    def guardian_max_minutes(self, band: AgeBand) -> float:
        """The most a guardian may set ``band``'s daily limit to (MM-adjust)."""
        bounds = self.guardian_max_daily_minutes or {}
        return bounds.get(band, self.daily_minutes[band])

    def guardian_max_seconds(self, band: AgeBand) -> float:
        """:meth:`guardian_max_minutes` in seconds (``inf`` for adults)."""
        if band is AgeBand.ADULT:
            return math.inf
        return self.guardian_max_minutes(band) * 60.0

    @property
    def unknown_age_meaning(self) -> str:
        """What :attr:`unknown_age` means, in a sentence (for the dossier)."""
        return UNKNOWN_AGE_MEANING[self.unknown_age]

    @property
    def strictest_band(self) -> AgeBand:
        """The band with the smallest daily limit (the youngest on a tie)."""
        return min(MINOR_BANDS, key=lambda b: (self.daily_minutes[b], MINOR_BANDS.index(b)))

    def in_curfew(self, local: dt.time) -> bool:
        """Whether local wall-clock time ``local`` falls in the curfew (start inclusive,
        end exclusive: 22:00:00 is refused, 06:00:00 served)."""
        if self.curfew is None:
            return False
        start, end = self.curfew
        if start < end:
            return start <= local < end
        return local >= start or local < end

    def reminder_message(self, continuous_seconds: float) -> str:
        minutes = int(continuous_seconds // 60)
        return self.reminder_text.format(minutes=minutes)

    def to_json(self) -> dict[str, Any]:
        """The policy as plain JSON (for reports and ``genai-compliance minors policy``)."""
        return {
            "profile": self.name,
            "daily_minutes": {b.value: m for b, m in self.daily_minutes.items()},
            "rest_reminder_minutes": self.rest_reminder_minutes,
            "rest_break_minutes": self.rest_break_minutes,
            "curfew": (False if self.curfew is None
                       else [format_clock_time(self.curfew[0]),
                             format_clock_time(self.curfew[1])]),
            "unknown_age": self.unknown_age,
            "moderation_profile": self.moderation_profile or "",
            "history_days": self.history_days,
            "lease_seconds": self.lease_seconds,
            "reminder_text": self.reminder_text,
            "guardian_max_daily_minutes": {b.value: self.guardian_max_minutes(b)
                                           for b in MINOR_BANDS},
            "exemption_max_minutes": self.exemption_max_minutes,
            "exemption_curfew": self.exemption_curfew,
        }

    def summary(self) -> dict[str, Any]:
        """What the filing dossier states about the minors' policy (MM-age-unknown,
        MM-adjust, MM-exempt): :meth:`to_json` plus what the unknown-age policy means and
        the band a user of unknown age is held to."""
        doc = self.to_json()
        doc["unknown_age_meaning"] = self.unknown_age_meaning
        doc["unknown_age_band"] = (self.strictest_band.value
                                   if self.unknown_age == "minors-mode" else None)
        return doc


def format_clock_time(t: dt.time) -> str:
    """``22:00`` (or ``22:00:30`` when seconds matter)."""
    return t.isoformat("minutes") if not (t.second or t.microsecond) else t.isoformat()


def seconds_of_day(t: dt.time) -> float:
    """Seconds since local midnight of wall-clock time ``t``."""
    return _seconds_of_day(t)
