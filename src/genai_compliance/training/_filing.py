"""Filing deadlines (ARP-24, ARP-25/26) and the applicability assessment (IM-2, IM-17, IM-20).

Deadlines count working days on the incidents package's Chinese calendar: weekends and
public holidays are skipped, adjusted working weekends count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from ..errors import ConfigurationError
from ..rules import implements

__all__ = [
    "QUESTIONS",
    "Assessment",
    "Duty",
    "FilingEvent",
    "assess",
    "filing_deadline",
]

FilingKind = Literal["launch", "change", "cancel"]
#: working days allowed after the event (ARP-24): filing 10, change 10, cancellation 20
FILING_DAYS: dict[str, int] = {"launch": 10, "change": 10, "cancel": 20}


@attrs.frozen
class FilingEvent:
    """A launch, change or cancellation and the date its filing is due."""

    kind: str
    event_date: dt.date
    due: dt.date
    working_days: int
    filed_on: dt.date | None = None

    def overdue(self, today: dt.date) -> bool:
        return self.filed_on is None and today > self.due

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "event_date": self.event_date.isoformat(),
                "due": self.due.isoformat(), "working_days": self.working_days,
                "filed_on": self.filed_on.isoformat() if self.filed_on else None}


@implements("ARP-24", "ARP-25/26")
def filing_deadline(kind: FilingKind, event_date: dt.date, *,
                    add_working_days: Callable[[dt.date, int], dt.date] | None = None,
                    filed_on: dt.date | None = None) -> FilingEvent:
    """The algorithm-filing deadline for a launch (10 WD), change (10 WD) or cancel (20 WD)."""
    if kind not in FILING_DAYS:
        raise ConfigurationError(f"kind must be launch, change or cancel; got {kind!r}",
                                 field="kind", value=kind)
    days = FILING_DAYS[kind]
    if add_working_days is None:
        from ..workdays import add_working_days as chinese_working_days

        add_working_days = chinese_working_days
    add = add_working_days
    return FilingEvent(kind, event_date, add(event_date, days), days, filed_on)


# -- applicability -----------------------------------------------------------------------

@attrs.frozen
class Question:
    id: str
    zh: str
    en: str
    kind: Literal["bool", "choice"] = "bool"
    choices: tuple[str, ...] = ()


QUESTIONS: tuple[Question, ...] = (
    Question("generates_content", "服务是否生成文本、图片、音频、视频等内容？",
             "Does the service generate text, images, audio or video?"),
    Question("public_in_prc", "是否向中华人民共和国境内公众提供（含通过API、从境外提供）？",
             "Is it offered to the public in the PRC (including via API or from abroad)?"),
    Question("internal_only", "是否仅用于研发或内部使用、不向境内公众提供？",
             "Is it only for research or internal use, not offered to the public?"),
    Question("public_opinion", "是否具有舆论属性或社会动员能力？",
             "Does it have public-opinion attributes or social-mobilisation capacity?"),
    Question("registered_users", "用户是否注册账号？", "Do users register accounts?"),
    Question("minors_may_use", "未成年人是否可能使用？", "May minors use the service?"),
    Question("collects_pi", "是否处理个人信息（含输入内容、使用记录）？",
             "Does it process personal information (inputs, usage records)?"),
    Question("face_or_voice", "是否处理人脸、声纹等生物识别信息或编辑人脸/人声？",
             "Does it process biometrics or edit faces or voices?"),
    Question("cross_border", "个人信息是否出境？", "Is personal information transferred abroad?"),
    Question("trains_on_user_data", "是否使用用户输入训练模型？",
             "Are user inputs used to train models?"),
    Question("news", "是否提供互联网新闻信息服务？", "Does it provide internet news information?"),
    Question("audio_visual", "是否提供网络视听节目服务？",
             "Does it provide online audio-visual programmes?"),
    Question("internet_culture", "是否经营网络文化产品（如网络游戏、动漫、演出）？",
             "Does it operate internet culture products (games, animation, performances)?"),
    Question("commercial", "是否为经营性（收费或广告）服务？",
             "Is it a commercial service (paid or advertising-funded)?"),
    Question("foreign_invested", "提供者是否有外资？",
             "Does the provider have foreign investment?"),
)


@attrs.frozen
class Duty:
    """One duty the assessment found, with its obligation IDs and the SDK module serving it."""

    title: str
    rules: tuple[str, ...]
    module: str
    why: str


@attrs.frozen
class Assessment:
    """The result of :func:`assess`."""

    answers: dict[str, bool]
    applies: bool
    scope_reason: str
    duties: tuple[Duty, ...]
    licences: tuple[str, ...]
    foreign_investment_notes: tuple[str, ...]
    security_assessment: bool
    algorithm_filing: bool
    modules: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@implements("IM-17", "DSP-19", "ARP-24")
def assess(answers: Mapping[str, Any]) -> Assessment:
    """Decide which duties apply from yes/no ``answers`` keyed by :data:`QUESTIONS` ids.

    Scope follows Interim Measures Art. 2 and Art. 20 (services to the public in the PRC,
    including by API and from abroad; research and internal use not offered to the public are
    out of scope). Licence and foreign-investment notes are [K]-level pointers to confirm
    with counsel, not conclusions.
    """
    known = {q.id for q in QUESTIONS}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise ConfigurationError(f"unknown assessment answers {unknown}; known: "
                                 f"{', '.join(sorted(known))}", field="answers", value=unknown)
    a = {q.id: bool(answers.get(q.id, False)) for q in QUESTIONS}
    duties: list[Duty] = []
    if not a["generates_content"]:
        applies, reason = False, "the service does not generate content (Art. 2)"
    elif a["internal_only"] and not a["public_in_prc"]:
        applies, reason = False, ("research or internal use not offered to the public in the "
                                  "PRC is outside the Measures (Art. 2)")
    elif a["public_in_prc"]:
        applies, reason = True, ("generated content offered to the public in the PRC (Art. 2; "
                                 "API providers included, Art. 22; services from abroad, "
                                 "Art. 20)")
    else:
        applies, reason = False, "not offered to the public in the PRC (Art. 2)"

    def duty(title: str, rules: tuple[str, ...], module: str, why: str) -> None:
        duties.append(Duty(title, rules, module, why))

    if applies:
        duty("Label generated content explicitly and implicitly", ("LM-4", "LM-5", "IM-12"),
             "labelling", "all generated content (Labeling Measures)")
        duty("Moderate inputs and outputs; handle illegal content", ("IM-4a", "IM-14a", "SR-5"),
             "moderation", "content-producer duties (Art. 4, 14)")
        duty("Escalate illegal use; keep records >= 6 months", ("IM-14b", "SR-14", "CSL-21"),
             "incidents, ledger", "Art. 14 ¶2")
        duty("Complaint and reporting channel with a published time limit", ("IM-15",),
             "incidents", "Art. 15")
        duty("Training data: lawful sources, labelling rules, sampling", ("IM-7", "IM-8",
                                                                          "SR-1", "SR-3"),
             "training", "Art. 7, 8")
        duty("Safety evaluation: banks, refusal rates", ("SR-6", "SR-9", "SR-10"),
             "evaluation", "TC260-003 / GB/T 45654")
        if a["registered_users"]:
            duty("Service agreement with every registered user", ("IM-9", "LM-8"),
                 "agreements", "Art. 9")
        if a["minors_may_use"]:
            duty("Minors: anti-addiction, time limits, guardian tools", ("IM-10", "MM-final",
                                                                         "MN-43"),
                 "minors", "Art. 10; Minors Online Regulations")
        if a["collects_pi"]:
            duty("Consent, PI requests, no unlawful retention", ("PI-14", "PI-15", "IM-11a",
                                                                  "IM-11b"),
                 "consent", "Art. 11; PIPL")
        if a["face_or_voice"]:
            duty("Separate consent for biometrics / face and voice editing", ("PI-SEP",
                                                                               "DSP-14"),
                 "consent", "PIPL Art. 29; DSP 14")
        if a["cross_border"]:
            duty("Separate consent and a PIPIA for cross-border transfer", ("PI-SEP",
                                                                             "PI-55/56"),
                 "consent", "PIPL Art. 39, 55")
        if a["trains_on_user_data"]:
            duty("Consent before training on user inputs; easy opt-out", ("IM-7", "SR-13"),
                 "consent", "Art. 7; TC260-003")
        if a["public_opinion"]:
            duty("Security assessment and algorithm filing (10 working days)", ("IM-17",
                                                                                 "ARP-24",
                                                                                 "DSP-19"),
                 "training (dossier)", "Art. 17")
    licences: list[str] = []
    notes: list[str] = []
    if applies:
        if a["commercial"]:
            licences.append("Value-added telecom business licence (ICP) for commercial internet "
                            "information services [K]")
            if a["foreign_invested"]:
                notes.append("Value-added telecom: foreign ownership caps apply to many "
                             "categories [K]; confirm the current negative list")
        if a["news"]:
            licences.append("Internet news information service licence [K]")
            if a["foreign_invested"]:
                notes.append("Internet news information services are closed to foreign "
                             "investment under the negative list [K]")
        if a["audio_visual"]:
            licences.append("Online audio-visual programme licence "
                            "(信息网络传播视听节目许可证) [K]")
            if a["foreign_invested"]:
                notes.append("Online audio-visual programme services are closed to foreign "
                             "investment [K]")
        if a["internet_culture"]:
            licences.append("Internet culture business licence (网络文化经营许可证) [K]")
            if a["foreign_invested"]:
                notes.append("Internet culture operations are restricted for foreign "
                             "investment [K]")
    modules = tuple(sorted({m.strip() for d in duties for m in
                            d.module.replace("(dossier)", "").split(",") if m.strip()}))
    return Assessment(a, applies, reason, tuple(duties), tuple(licences), tuple(notes),
                      applies and a["public_opinion"], applies and a["public_opinion"],
                      modules)
