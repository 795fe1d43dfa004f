"""Jurisdiction profiles of the disclosure-and-reminder engine, and the ``[interaction]``
settings.

One engine serves every regime; a :class:`Profile` says when it discloses ("you are
interacting with AI"), how often it reminds during continuous use, to whom, and with which
words. Four ship (each figure a setting, tagged as in REQUIREMENTS.md):

``cn-anthropomorphic``
    Anthropomorphic AI Interaction Measures (final 2026-04-10, in force 2026-07-15):
    disclosure at first use, at re-login and on over-dependence signals (AN-DISCLOSE, S);
    a pause prompt after 2 hours of continuous use (AN-PAUSE, S for the draft's 2 h);
    to every user.
``eu-art50``
    EU AI Act Art. 50(1)/(5) (applies 2026-08-02): disclosure at the latest at the first
    interaction (EU-50-1, EU-50-5, S); no reminders.
``us-sb243``
    California SB 243, Bus. & Prof. Code § 22602 (in force 2026-01-01): disclosure where a
    reasonable person would be misled (every user, first interaction), and for users known
    to be minors a reminder at least every 3 hours to take a break and that the chatbot is
    not human (SB243-22602, V).
``ny-gbl47``
    New York GBL § 1702 (in force 2025-11-05): a notification at the beginning of every
    interaction (it "need not exceed once per day": ``session_cooldown_minutes`` up to 1440)
    and at least every 3 hours of continuing interaction, to every user (NY-GBL-1702, V).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs

from ..errors import ConfigurationError
from ..rules import check_ids
from ..schemas import validate

__all__ = ["PROFILES", "Audience", "InteractionSettings", "Profile"]

#: who a notice is for: every user; minors (known, or of unknown age when
#: ``unknown_age = "minor"``); users *known* to be minors (SB 243's wording)
Audience = Literal["all", "minors", "known-minors"]
_AUDIENCES: tuple[str, ...] = ("all", "minors", "known-minors")


def _audience(value: str) -> str:
    if value not in _AUDIENCES:
        raise ConfigurationError(
            f"an interaction audience must be one of {', '.join(_AUDIENCES)}, got {value!r}",
            field="interaction.overrides.*.audience", value=value)
    return value


def _minutes(value: float | None) -> float | None:
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value <= 0):
        raise ConfigurationError(
            f"a reminder interval is a number of minutes > 0 (or none), got {value!r}",
            field="interaction.overrides.*.reminder_minutes", value=value)
    return float(value)


def _ids(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _profiles(value: Iterable[Profile]) -> tuple[Profile, ...]:
    return tuple(value)


@attrs.frozen
class Profile:
    """When and how one regime wants the AI-interaction notices shown.

    :param name: the profile's name (``cn-anthropomorphic`` …).
    :param rules: the obligation IDs its notices serve (cited in each notice record).
    :param in_force_from: the date the regime applies from (informational: shown in the
        dossier; a provider may apply a profile early).
    :param disclose_first_use: disclose on the subject's first interaction under this
        profile.
    :param disclose_on_session: disclose at the start of every new session (re-login).
    :param session_cooldown_minutes: a new session within this many minutes of the last
        disclosure is not disclosed again (NY allows once a day: 1440).
    :param disclose_on_dependence: disclose when an over-dependence signal was raised.
    :param disclose_audience: who is disclosed to.
    :param reminder_minutes: remind after every this many minutes of continuous use
        (``None``: no reminders).
    :param reminder_audience: who is reminded.
    :param disclosure_text: the disclosure shown.
    :param reminder_text: the reminder shown; ``{minutes}`` and ``{hours}`` are filled in.
    """

    name: str
    rules: tuple[str, ...] = attrs.field(converter=_ids)
    in_force_from: dt.date | None = None
    disclose_first_use: bool = True
    disclose_on_session: bool = False
    session_cooldown_minutes: float = attrs.field(default=0.0, converter=float)
    disclose_on_dependence: bool = False
    disclose_audience: str = attrs.field(default="all", converter=_audience)
    reminder_minutes: float | None = attrs.field(default=None, converter=_minutes)
    reminder_audience: str = attrs.field(default="all", converter=_audience)
    disclosure_text: str = "You are interacting with an AI system, not a human."
    reminder_text: str = "You have been using this service for {minutes} minutes."

    def __attrs_post_init__(self) -> None:
        check_ids(self.rules, f"interaction profile {self.name!r}")
        if not 0 <= self.session_cooldown_minutes <= 1440:
            raise ConfigurationError(
                f"session_cooldown_minutes of profile {self.name!r} must be between 0 and "
                f"1440 (once a day), got {self.session_cooldown_minutes:g}",
                field=f"interaction.overrides.{self.name}.session_cooldown_minutes",
                value=self.session_cooldown_minutes)
        for name in ("disclosure_text", "reminder_text"):
            if not getattr(self, name).strip():
                raise ConfigurationError(
                    f"{name} of profile {self.name!r} is empty; a notice must say something",
                    field=f"interaction.overrides.{self.name}.{name}", value="")

    def reminder_message(self, continuous_seconds: float) -> str:
        minutes = int(continuous_seconds // 60)
        return self.reminder_text.format(minutes=minutes, hours=round(minutes / 60, 1))


#: The shipped profiles; every figure can be overridden in ``[interaction.overrides.NAME]``.
PROFILES: Mapping[str, Profile] = {
    "cn-anthropomorphic": Profile(
        "cn-anthropomorphic", ("AN-DISCLOSE", "AN-PAUSE"), dt.date(2026, 7, 15),
        disclose_first_use=True, disclose_on_session=True, disclose_on_dependence=True,
        reminder_minutes=120,
        disclosure_text="你正在与人工智能而非真人互动，以下内容由人工智能生成。",
        reminder_text="你已连续使用{minutes}分钟，请暂停使用，注意休息。"),
    "eu-art50": Profile(
        "eu-art50", ("EU-50-1", "EU-50-5"), dt.date(2026, 8, 2),
        disclose_first_use=True,
        disclosure_text="You are interacting with an AI system."),
    "us-sb243": Profile(
        "us-sb243", ("SB243-22602",), dt.date(2026, 1, 1),
        disclose_first_use=True, reminder_minutes=180, reminder_audience="known-minors",
        disclosure_text="You are chatting with an AI companion. It is artificially generated "
                        "and not human.",
        reminder_text="You have been chatting for {hours} hours. Time to take a break: this "
                      "companion is artificially generated and not human."),
    "ny-gbl47": Profile(
        "ny-gbl47", ("NY-GBL-1702",), dt.date(2025, 11, 5),
        disclose_first_use=True, disclose_on_session=True, reminder_minutes=180,
        disclosure_text="You are not communicating with a human: this AI companion is a "
                        "computer program.",
        reminder_text="Reminder: you are not communicating with a human. This AI companion "
                      "is a computer program."),
}

_OVERRIDABLE = ("disclose_first_use", "disclose_on_session", "session_cooldown_minutes",
                "disclose_on_dependence", "disclose_audience", "reminder_minutes",
                "reminder_audience", "disclosure_text", "reminder_text")


@attrs.frozen
class InteractionSettings:
    """The validated ``[interaction]`` section (``schemas/interaction-config.schema.json``).

    :param profiles: the profiles in force for every call (a call may narrow them with the
        guard option ``interaction_profiles``).
    :param idle_gap_minutes: a pause longer than this ends a period of continuous use (the
        measures do not define "continuous"; K, configurable).
    :param unknown_age: how a user of unknown age is treated for the minors' persona rules
        and the ``minors`` audience: ``"minor"`` (fail closed, default) or ``"adult"``.
    :param exit_keywords: prompts that end the session (AN-EXIT), compared after trimming
        and case-folding.
    :param exit_poll_seconds: how often a stream in flight checks whether its session was
        ended (one store read each time).
    :param max_staleness: how old (seconds) this process's copy of a user's state may be
        for a call that changes nothing but the last-seen time to be answered with no store
        read at all; an exit or dependence signal from another replica is seen within this
        (``0`` reads the store on every call).
    :param persona_option: the guard option (or keyword argument of the guarded function)
        naming the persona of a call.
    :param minor_forbidden_personas: personas never served to minors (AN-14).
    :param guardian_consent_personas: personas a child under ``guardian_consent_under``
        may use only with a guardian's consent (AN-14, PI-28/31).
    :param training_purpose / sensitive_purpose: the consent purposes that training on
        interaction data needs (AN-TRAIN, PI-SEP).
    :param registered_users_threshold / monthly_active_threshold: the security-assessment
        triggers (AN-ASSESS).
    """

    profiles: tuple[Profile, ...] = attrs.field(
        default=(PROFILES["cn-anthropomorphic"],), converter=_profiles)
    idle_gap_minutes: float = 30.0
    unknown_age: str = "minor"
    exit_keywords: tuple[str, ...] = ("退出", "结束对话", "exit", "quit", "stop", "/exit")
    exit_poll_seconds: float = 2.0
    max_staleness: float = 2.0
    persona_option: str = "persona"
    minor_forbidden_personas: tuple[str, ...] = ("virtual-relative", "virtual-partner")
    guardian_consent_personas: tuple[str, ...] = ("companion",)
    guardian_consent_under: int = 14
    training_purpose: str = "training"
    sensitive_purpose: str = "sensitive"
    registered_users_threshold: int = 1_000_000
    monthly_active_threshold: int = 100_000
    key_prefix: str = "gc:interaction"
    #: the exit keywords trimmed and case-folded, as prompts are compared with them
    _exit_folded: frozenset[str] = attrs.field(
        init=False, repr=False, eq=False,
        default=attrs.Factory(lambda self: frozenset(k.strip().casefold()
                                                     for k in self.exit_keywords),
                              takes_self=True))

    def __attrs_post_init__(self) -> None:
        if not self.profiles:
            raise ConfigurationError(
                "[interaction] profiles is empty; name at least one of "
                + ", ".join(PROFILES), field="interaction.profiles", value=[])
        names = [p.name for p in self.profiles]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"[interaction] profiles lists a profile twice: {names}",
                                     field="interaction.profiles", value=names)
        if self.unknown_age not in ("minor", "adult"):
            raise ConfigurationError(
                f"[interaction] unknown_age must be 'minor' or 'adult', got "
                f"{self.unknown_age!r}", field="interaction.unknown_age",
                value=self.unknown_age)
        for name in ("idle_gap_minutes", "exit_poll_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigurationError(f"[interaction] {name} must be a number > 0, got "
                                         f"{value!r}", field=f"interaction.{name}", value=value)
        if (not isinstance(self.max_staleness, int | float)
                or not math.isfinite(self.max_staleness) or self.max_staleness < 0):
            raise ConfigurationError(
                f"[interaction] max_staleness must be a number >= 0, got "
                f"{self.max_staleness!r}", field="interaction.max_staleness",
                value=self.max_staleness)

    @property
    def idle_gap_seconds(self) -> float:
        return self.idle_gap_minutes * 60

    def profile(self, name: str) -> Profile:
        for p in self.profiles:
            if p.name == name:
                return p
        raise ConfigurationError(
            f"interaction profile {name!r} is not in force; in force: "
            + ", ".join(p.name for p in self.profiles), field="interaction_profiles",
            value=name)

    def exit_requested(self, prompt: str | None) -> bool:
        """Whether ``prompt`` is one of the exit keywords (AN-EXIT)."""
        if prompt is None:
            return False
        return prompt.strip().casefold() in self._exit_folded

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> InteractionSettings:
        """Build from the ``[interaction]`` mapping, validated against its schema (unknown
        keys and wrong types are refused by name)."""
        data = dict(settings or {})
        try:
            validate(data, "interaction-config", what="[interaction]")
        except ConfigurationError as exc:  # name the key from the top of compliance.toml
            evidence = dict(exc.evidence)
            field = evidence.pop("field", None)
            where = "interaction" if field in (None, "(top level)") else f"interaction.{field}"
            raise ConfigurationError(exc.message, field=where, **evidence) from None
        data.pop("enabled", None)  # read by the pipeline, not by the engine
        overrides: Mapping[str, Mapping[str, Any]] = data.pop("overrides", {})
        names: Sequence[str] = data.pop("profiles", ["cn-anthropomorphic"])
        for name in overrides:
            if name not in names:
                raise ConfigurationError(
                    f"[interaction.overrides.{name}] changes a profile that is not in "
                    f"[interaction] profiles ({', '.join(names)}); add it there or drop the "
                    "table", field=f"interaction.overrides.{name}", value=name)
        profiles = []
        for name in names:
            base = PROFILES[name]
            changes = {k: v for k, v in overrides.get(name, {}).items() if k in _OVERRIDABLE}
            profiles.append(attrs.evolve(base, **changes))
        for key in ("exit_keywords", "minor_forbidden_personas", "guardian_consent_personas"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(profiles=tuple(profiles), **data)
