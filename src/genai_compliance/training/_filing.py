"""Filing deadlines (ARP-24, ARP-25/26) and the applicability assessment (IM-2, IM-17, IM-20).

Deadlines count working days on the Chinese calendar of :mod:`genai_compliance.workdays`
(``chinese-calendar`` plus the configured years): weekends and public holidays are skipped,
adjusted working weekends count, and a year the calendar does not know is refused.

The assessment (:func:`assess`) takes the answers of ``schemas/assess-answers.schema.json``
(the questions are that schema's properties, :data:`QUESTIONS`), lists the answers still
needed when the file is empty or partial instead of concluding, and otherwise concludes:
scope (IM-2), blockers (a service that cannot be offered as planned), the filing route
(generative-AI filing or registration before public launch; algorithm filing within 10
working days of launch), obligations the report checks (the filing number shown to users),
the data laws that apply whatever the scope, licences, and the SDK duties to enable. Every
conclusion cites the rule IDs it rests on (``rules.toml``).

.. versionchanged:: 0.1
   Answers validated by a schema; incomplete answers conclude nothing; blockers, the filing
   route, offshore and internal-use outcomes (issue 18).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from ..errors import ConfigurationError
from ..rules import implements
from ..schemas import load_schema, validate

__all__ = [
    "QUESTIONS",
    "Assessment",
    "Conclusion",
    "Duty",
    "FilingEvent",
    "MissingAnswer",
    "assess",
    "filing_deadline",
]

FilingKind = Literal["launch", "change", "cancel"]
#: working days allowed after the event (ARP-24): filing 10, change 10, cancellation 20
FILING_DAYS: dict[str, int] = {"launch": 10, "change": 10, "cancel": 20}


@attrs.frozen
class FilingEvent:
    """A launch, change or cancellation and the date its algorithm filing is due."""

    kind: str
    event_date: dt.date
    due: dt.date
    working_days: int
    filed_on: dt.date | None = None
    #: ``False`` when the count reached a year the working-day calendar does not know: then
    #: ``due`` is the earliest possible date (every unknown day counted), never too late
    official: bool = True

    def overdue(self, today: dt.date) -> bool:
        return self.filed_on is None and today > self.due

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "event_date": self.event_date.isoformat(),
                "due": self.due.isoformat(), "working_days": self.working_days,
                "filed_on": self.filed_on.isoformat() if self.filed_on else None,
                "official": self.official}


@implements("ARP-24", "ARP-25/26")
def filing_deadline(kind: FilingKind, event_date: dt.date, *,
                    add_working_days: Callable[[dt.date, int], dt.date] | None = None,
                    filed_on: dt.date | None = None) -> FilingEvent:
    """The *algorithm*-filing deadline (ARP-24) for a launch (10 WD), change (10 WD) or
    cancellation (20 WD). The generative-AI filing (GAI-FILING) is not a deadline after
    launch: it is done before the service is offered to the public.

    On the default Chinese calendar, a count that reaches a year it does not know gives the
    earliest possible date and ``official=False`` (never a guess that could be too late)."""
    if kind not in FILING_DAYS:
        raise ConfigurationError(f"kind must be launch, change or cancel; got {kind!r}",
                                 field="kind", value=kind)
    days = FILING_DAYS[kind]
    if add_working_days is None:
        from ..workdays import DEFAULT_CALENDAR

        due = DEFAULT_CALENDAR.add(event_date, days, unknown="bound")
        return FilingEvent(kind, event_date, due, days, filed_on,
                           official=DEFAULT_CALENDAR.covers_span(event_date, due))
    return FilingEvent(kind, event_date, add_working_days(event_date, days), days, filed_on)


# -- the questions ----------------------------------------------------------------------

@attrs.frozen
class Question:
    """One question of the assessment: its id (the answers key), the Chinese and English
    wording, and its kind (``bool``, ``choice`` with ``choices``, or ``text``)."""

    id: str
    zh: str
    en: str
    kind: Literal["bool", "choice", "text"] = "bool"
    choices: tuple[str, ...] = ()


def _questions() -> tuple[Question, ...]:
    """The questions, in asking order, from ``assess-answers.schema.json`` (one source)."""
    out = []
    for key, prop in load_schema("assess-answers")["properties"].items():
        if "enum" in prop:
            out.append(Question(key, prop["x-zh"], prop["description"], "choice",
                                tuple(prop["enum"])))
        elif prop.get("type") == "string":
            out.append(Question(key, prop["x-zh"], prop["description"], "text"))
        else:
            out.append(Question(key, prop["x-zh"], prop["description"]))
    return tuple(out)


#: Every question, in the order they are asked (the properties of the answers schema).
QUESTIONS: tuple[Question, ...] = _questions()
_BY_ID = {q.id: q for q in QUESTIONS}


# -- the result ----------------------------------------------------------------------------

@attrs.frozen
class Duty:
    """One duty the assessment found, with its obligation IDs and the SDK module serving it."""

    title: str
    rules: tuple[str, ...]
    module: str
    why: str


@attrs.frozen
class Conclusion:
    """One conclusion and the rule IDs it rests on.

    ``kind`` is ``blocker`` (the service cannot be offered as planned), ``filing`` (the
    filing route), ``obligation`` (something to do; ``status`` is ``open``, ``met`` or
    ``not met`` where the report can check it from the answers), ``data-law`` (a law that
    applies whatever the Measures' scope), ``licence`` or ``note``. ``when`` says by when.
    """

    kind: Literal["blocker", "filing", "obligation", "data-law", "licence", "note"]
    title: str
    rules: tuple[str, ...]
    why: str
    when: str = ""
    status: Literal["", "open", "met", "not met"] = ""


@attrs.frozen
class MissingAnswer:
    """A question the answers must still give before anything is concluded."""

    question: str
    en: str
    zh: str
    reason: str


@attrs.frozen
class Assessment:
    """The result of :func:`assess`.

    When :attr:`complete` is false nothing is concluded: :attr:`applies` is None and only
    :attr:`missing` says something. Otherwise :attr:`blockers` come first, then the other
    :attr:`conclusions` and the SDK :attr:`duties`.
    """

    answers: dict[str, Any]
    complete: bool
    missing: tuple[MissingAnswer, ...]
    applies: bool | None
    scope_reason: str
    scope_rules: tuple[str, ...]
    blockers: tuple[Conclusion, ...]
    conclusions: tuple[Conclusion, ...]
    duties: tuple[Duty, ...]
    modules: tuple[str, ...]
    #: a security assessment is due (IM-17, PO-SA)
    security_assessment: bool
    #: an algorithm filing is due within 10 working days of launch (ARP-24)
    algorithm_filing: bool
    #: ``"filing"``, ``"registration"``, ``"unavailable"`` (offshore) or None (none needed)
    filing_route: str | None

    @property
    def licences(self) -> tuple[str, ...]:
        return tuple(c.title for c in self.conclusions if c.kind == "licence")

    @property
    def findings(self) -> tuple[Conclusion, ...]:
        """Blockers and checked obligations that are not met: what the CLI exits 1 for."""
        return self.blockers + tuple(c for c in self.conclusions if c.status == "not met")

    @property
    def rules_cited(self) -> tuple[str, ...]:
        ids = set(self.scope_rules)
        for c in (*self.blockers, *self.conclusions):
            ids.update(c.rules)
        for d in self.duties:
            ids.update(d.rules)
        return tuple(sorted(ids))

    def to_json(self) -> dict[str, Any]:
        """The ``assess-result.schema.json`` document."""
        doc = attrs.asdict(self)
        doc = {"schema": "genai-compliance/assessment/1", **doc,
               "rules_cited": list(self.rules_cited)}
        out: dict[str, Any] = _lists(doc)
        return out


def _lists(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


# -- which answers are needed ----------------------------------------------------------------

def _missing(a: Mapping[str, Any]) -> list[MissingAnswer]:
    """The questions still needed, given what is answered. A question whose relevance
    depends on an unanswered one is listed too, so one round of answers is enough."""

    def v(key: str) -> Any:
        return a.get(key)

    need: list[tuple[str, str]] = [("generates_content", "decides the scope (IM-2)"),
                                   ("collects_pi", "decides whether PIPL applies "
                                                   "(DATA-LAWS)")]
    g, p, o, n = v("generates_content"), v("public_in_prc"), v("offshore"), v("news")
    if g is not False:
        need.append(("public_in_prc", "decides the scope (IM-2)"))
    if g is not False and p is not True:
        need.append(("internal_only", "research or internal use is outside the Measures "
                                      "(IM-2 ¶3)"))
    in_scope = g is not False and p is not False
    if in_scope:
        need.append(("offshore", "an offshore provider cannot file (IM-20, GAI-FILING)"))
        need.append(("news", "news is licensed, closed to foreign investment and has "
                             "public-opinion attributes (INS-LIC, INS-7, ASSESS-NEWS)"))
        if n is not True:
            need.append(("public_opinion", "decides security assessment and filing (IM-17)"))
        if o is not True:
            need.append(("foreign_invested", "some services are closed to foreign investment "
                                             "(FI-NEG)"))
            need.append(("model_source", "decides filing or registration (GAI-FILING, "
                                         "GAI-REG)"))
            need.append(("launched", "filing comes before public launch; the number must "
                                     "then be shown (GAI-FILING, GAI-DISPLAY)"))
        if v("collects_pi") is not False and o is not True:
            need.append(("cross_border", "a transfer abroad needs a mechanism (PI-38)"))
        for key in ("registered_users", "minors_may_use", "face_or_voice",
                    "trains_on_user_data", "audio_visual", "internet_culture", "commercial"):
            need.append((key, "selects the duties and licences"))
    order = {q.id: i for i, q in enumerate(QUESTIONS)}
    out = [MissingAnswer(key, _BY_ID[key].en, _BY_ID[key].zh, reason)
           for key, reason in need if key not in a]
    if a.get("internal_only") is True and p is True:
        out.append(MissingAnswer("internal_only", _BY_ID["internal_only"].en,
                                 _BY_ID["internal_only"].zh,
                                 "contradicts public_in_prc = true: a service offered to the "
                                 "public is not internal-only; correct one of the two"))
    return sorted(out, key=lambda m: order[m.question])


# -- the engine ----------------------------------------------------------------------------

_DATA_LAWS = ("DATA-LAWS",)


@implements("IM-2", "IM-17", "IM-20", "IM-22", "DSP-19", "ARP-24", "GAI-FILING", "GAI-REG",
            "GAI-DISPLAY", "PO-SA", "ASSESS-NEWS", "INS-LIC", "INS-7", "FI-NEG", "TEL-13",
            "LIC-AV", "LIC-CULTURE", "PI-3", "PI-53", "PI-38", "DATA-LAWS")
def assess(answers: Mapping[str, Any]) -> Assessment:
    """Decide what applies from ``answers`` keyed by :data:`QUESTIONS` ids.

    ``answers`` is validated by ``assess-answers.schema.json`` (a wrong type or an unknown
    key raises :class:`~genai_compliance.errors.ConfigurationError` naming the key). When a
    needed answer is missing the result is incomplete (:attr:`Assessment.missing`) and
    concludes nothing. Legal conclusions carry the rule IDs they rest on; those tagged [K]
    in ``rules.toml`` are pointers to confirm with counsel.
    """
    if not isinstance(answers, Mapping):
        raise ConfigurationError(f"assessment answers are a table of question ids; got "
                                 f"{type(answers).__name__}", field="answers")
    a = dict(answers)
    validate(a, "assess-answers", what="assessment answers")
    missing = _missing(a)
    if missing:
        return Assessment(a, False, tuple(missing), None,
                          f"incomplete: {len(missing)} answer"
                          f"{'' if len(missing) == 1 else 's'} missing, nothing concluded",
                          (), (), (), (), (), False, False, None)
    return _conclude(a)


def _conclude(a: Mapping[str, Any]) -> Assessment:
    blockers: list[Conclusion] = []
    out: list[Conclusion] = []
    duties: list[Duty] = []

    def add(kind: Any, title: str, rules: tuple[str, ...], why: str, when: str = "",
            status: Any = "") -> None:
        (blockers if kind == "blocker" else out).append(
            Conclusion(kind, title, rules, why, when, status))

    offshore = bool(a.get("offshore"))
    pi = bool(a["collects_pi"])
    scope: tuple[str, ...]
    if not a["generates_content"]:
        applies, reason, scope = False, ("the service does not generate text, images, audio "
                                         "or video, so the Interim Measures do not apply"), \
            ("IM-2",)
    elif not a["public_in_prc"] and a["internal_only"]:
        applies, reason, scope = False, (
            "research or internal use, not offered to the public in the PRC: the Interim "
            "Measures do not apply (Art. 2 ¶3), but the data laws below still do"), ("IM-2",)
    elif not a["public_in_prc"]:
        applies, reason, scope = False, ("not offered to the public in the PRC: the Interim "
                                         "Measures do not apply (Art. 2)"), ("IM-2",)
    else:
        applies = True
        reason = ("generated content offered to the public in the PRC (Art. 2), API "
                  "providers included (Art. 22)")
        scope = ("IM-2", "IM-22")
        if offshore:
            reason += "; from abroad, so Art. 20 applies"
            scope = (*scope, "IM-20")

    # -- data laws: whatever the Measures' scope ------------------------------------------
    verb, verbs = ("also applies", "also apply") if applies else ("still applies",
                                                                   "still apply")
    if pi:
        add("data-law", f"PIPL {verb}: a lawful basis or consent, notice, security "
            "measures, rights requests, impact assessments where required",
            (*_DATA_LAWS, "PI-14", "PI-55/56", *(("PI-3",) if offshore else ())),
            "personal information is processed" + (
                "; PIPL reaches an offshore processor serving persons in the PRC (Art. 3 ¶2)"
                if offshore else ""))
    add("data-law", f"Data Security Law {verb}: data classification, security management, "
        "duties for important data", _DATA_LAWS, "data is processed")
    add("data-law", f"Cybersecurity Law {verb}: network security protection, network logs "
        "kept >= 6 months", (*_DATA_LAWS, "CSL-21"), "a network is operated")
    add("data-law", f"Network Data Security Management Regulations {verbs} (in force "
        "2025-01-01): incl. security of training data for generative-AI providers (Art. 19)",
        _DATA_LAWS, "network data is processed" + (
            " (they reach offshore processing of PRC persons' PI, Art. 2 ¶2)"
            if offshore else ""))

    security = algorithm = False
    route: str | None = None
    if applies and offshore:
        route = "unavailable"
        add("blocker", "The service cannot be filed or registered from abroad",
            ("GAI-FILING", "GAI-REG", "IM-20"),
            "filing and registration are made by a provider in the PRC with its provincial "
            "CAC; an offshore service to the PRC public that does not comply is blocked "
            "(technical measures, Art. 20). To serve the PRC public, offer it through an "
            "entity established in the PRC that files it")
        add("blocker", "No ICP licence or ICP filing is available to an offshore provider",
            ("TEL-13",), "the value-added telecom operator must be a company lawfully "
            "established in the PRC")
        if pi:
            add("obligation", "Designate a representative or set up a dedicated body in the "
                "PRC for personal-information matters, and report its name and contact",
                ("PI-53", "PI-3"), "an overseas processor serving persons in the PRC",
                "before processing", "open")
            add("obligation", "A transfer mechanism for PRC users' personal information held "
                "abroad (CAC security assessment, certification or standard contract) and "
                "separate consent", ("PI-38", "PI-SEP"),
                "the personal information leaves the PRC", "before transfer", "open")
    elif applies:
        news = bool(a["news"])
        opinion = news or bool(a.get("public_opinion"))
        foreign = bool(a["foreign_invested"])
        if news and not a.get("public_opinion"):
            add("note", "Treated as having public-opinion attributes because it distributes "
                "news to the public", ("ASSESS-NEWS", "PO-SA"),
                "a news service is a channel of public information")
        if foreign and news:
            add("blocker", "Internet news information services are closed to foreign-invested "
                "entities", ("INS-7", "FI-NEG"),
                "no joint-venture or foreign-owned internet news information service unit may "
                "be set up; this provider cannot offer the news function (drop it, or have a "
                "domestic licensed entity provide it)")
        if foreign and a["audio_visual"]:
            add("blocker", "Online audio-visual programme services are closed to "
                "foreign-invested entities", ("FI-NEG",),
                "prohibited on the foreign-investment negative list")
        if foreign and a["internet_culture"]:
            add("blocker", "Internet culture operations are closed to foreign-invested "
                "entities (music excepted)", ("FI-NEG",),
                "prohibited on the foreign-investment negative list")
        if foreign and a["commercial"]:
            add("note", "Value-added telecom: foreign ownership caps apply to many categories "
                "[K]; confirm the current negative list", ("FI-NEG", "TEL-13"),
                "a foreign-invested ICP operator")
        source = a["model_source"]
        filed_number = str(a.get("filing_number") or "").strip()
        if opinion:
            security = algorithm = True
            if source == "filed_api":
                route = "registration"
                add("filing", "Registration (登记) with the local CAC, before public launch: "
                    "the app calls a filed model by API without modifying it",
                    ("GAI-REG", "IM-17"), "a generative-AI service with public-opinion "
                    "attributes built on a model already filed", "before public launch")
            else:
                route = "filing"
                add("filing", "Generative-AI service filing (备案) through the provincial CAC, "
                    "completed before public launch", ("GAI-FILING", "IM-17"),
                    "a generative-AI service with public-opinion attributes on its own or a "
                    "modified model", "before public launch")
                if source == "other_api":
                    add("note", "The registration route is not open: it is for apps calling a "
                        "model already filed in the PRC; the filing must show the model's "
                        "lawful source", ("GAI-REG", "IM-7"), "the model is not filed in the "
                        "PRC")
            add("obligation", "Security assessment of a service with public-opinion "
                "attributes, submitted to the city-level CAC and public security",
                ("IM-17", "PO-SA"), "at launch and whenever such functions are added",
                "before public launch", "open")
            add("obligation", "Algorithm filing (算法备案, beian.cac.gov.cn) within 10 working "
                "days of launch; changes within 10, cancellation within 20 (a separate "
                "filing from the generative-AI one)", ("ARP-24", "DSP-19"),
                "a generation/synthesis algorithm with public-opinion attributes",
                "within 10 working days of launch", "open")
            if a["launched"] and not filed_number:
                add("blocker", "Offered to the public without a filing or registration number",
                    (("GAI-REG",) if route == "registration" else ("GAI-FILING",))
                    + ("IM-17",), "the filing comes before public launch: take the service "
                    "off public access until the number is issued, then record it "
                    "(filing_number)")
        else:
            add("note", "No generative-AI filing, security assessment or algorithm filing "
                "needed: no public-opinion attributes", ("IM-17", "PO-SA"),
                "reassess before adding publishing, sharing, comments, groups or news")
        if opinion or source == "filed_api":
            shown = bool(a.get("displays_filing_number"))
            if not a["launched"]:
                status, why = "open", "prepare the notice for launch"
            elif shown and filed_number:
                status, why = "met", f"shown with number {filed_number}"
            else:
                status, why = "not met", ("the service is public but the model name and "
                                          "number are not shown" if not shown else
                                          "shown, but no number is recorded (filing_number)")
            add("obligation", "Show the model name and the filing number (or registration / "
                "launch number) in a prominent place or on the product-details page",
                ("GAI-DISPLAY",), why, "from launch", status)
        if a["commercial"]:
            add("licence", "Value-added telecom business licence (ICP licence) for a "
                "commercial internet information service [K]", ("TEL-13",),
                "a commercial service")
        else:
            add("licence", "ICP filing (ICP备案) for a non-commercial internet information "
                "service [K]", ("TEL-13",), "a non-commercial service")
        if news:
            add("licence", "Internet news information service licence", ("INS-LIC",),
                "news is distributed to the public")
        if a["audio_visual"]:
            add("licence", "Online audio-visual programme licence (信息网络传播视听节目许可证) "
                "[K]", ("LIC-AV",), "audio-visual programmes are offered")
        if a["internet_culture"]:
            add("licence", "Internet culture business licence (网络文化经营许可证) [K]",
                ("LIC-CULTURE",), "internet culture products are operated")

    if applies:
        def duty(title: str, rules: tuple[str, ...], module: str, why: str) -> None:
            duties.append(Duty(title, rules, module, why))

        duty("Label generated content explicitly and implicitly", ("LM-4", "LM-5", "IM-12"),
             "labelling", "all generated content (Labeling Measures)")
        duty("Moderate inputs and outputs; handle illegal content", ("IM-4a", "IM-14a", "SR-5"),
             "moderation", "content-producer duties (Art. 4, 14)")
        duty("Escalate illegal use; keep records >= 6 months", ("IM-14b", "SR-14", "CSL-21"),
             "incidents, ledger", "Art. 14 ¶2")
        duty("Complaint and reporting channel with a published time limit", ("IM-15",),
             "incidents", "Art. 15")
        duty("Training data: lawful sources, labelling rules, sampling",
             ("IM-7", "IM-8", "SR-1", "SR-3"), "training", "Art. 7, 8")
        duty("Safety evaluation: banks, refusal rates", ("SR-6", "SR-9", "SR-10"),
             "evaluation", "TC260-003 / GB/T 45654")
        if a["registered_users"]:
            duty("Service agreement with every registered user", ("IM-9", "LM-8"),
                 "agreements", "Art. 9")
        if a["minors_may_use"]:
            duty("Minors: anti-addiction, time limits, guardian tools",
                 ("IM-10", "MM-final", "MN-43"), "minors",
                 "Art. 10; Minors Online Regulations")
        if pi:
            duty("Consent, PI requests, no unlawful retention",
                 ("PI-14", "PI-15", "IM-11a", "IM-11b"), "consent", "Art. 11; PIPL")
        if a["face_or_voice"]:
            duty("Separate consent for biometrics / face and voice editing",
                 ("PI-SEP", "DSP-14"), "consent", "PIPL Art. 29; DSP 14")
        if pi and a.get("cross_border") and not offshore:
            duty("Transfer mechanism, separate consent and a PIPIA for cross-border transfer",
                 ("PI-38", "PI-SEP", "PI-55/56"), "consent", "PIPL Art. 38, 39, 55")
        if a["trains_on_user_data"]:
            duty("Consent before training on user inputs; easy opt-out", ("IM-7", "SR-13"),
                 "consent", "Art. 7; TC260-003")
        if security:
            duty("Security assessment and filing materials in the dossier",
                 ("IM-17", "GAI-REG" if route == "registration" else "GAI-FILING", "LM-12"),
                 "training (dossier)", "Art. 17")
    modules = tuple(sorted({m.strip() for d in duties for m in
                            d.module.replace("(dossier)", "").split(",") if m.strip()}))
    return Assessment(dict(a), True, (), applies, reason, scope, tuple(blockers), tuple(out),
                      tuple(duties), modules, security, algorithm, route)
