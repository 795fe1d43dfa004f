"""The filing and security-assessment dossier a provider hands the regulator.

IM-17 (security assessment, algorithm filing), IM-19 (explain source, scale, type and labelling
rules of the training data and the algorithm mechanism), LM-12 (labelling materials), SR §3.3
(assessment report: corpus, generated-content and refusal assessments; attachments 4 and 5:
keyword list and test question sets). Written as JSON (validated by ``dossier.schema.json``),
Markdown and HTML; :attr:`Dossier.missing` lists what is still needed and how to supply it,
including what the stored applicability assessment found: its blockers, the obligations it
checked and found unmet, and the filing number users must be shown (GAI-DISPLAY) when
``[provider] service_filing_number`` is unset.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from ..rules import implements, load_rules, registered
from ..schemas import validate
from ._register import TrainingRegister

__all__ = ["SERVICE_FIELDS", "Dossier", "build_dossier", "write_dossier"]

#: Facts of the filing form that come from the ``[filing]`` config section.
SERVICE_FIELDS: dict[str, str] = {
    "service_name": "name of the service / algorithm (算法名称)",
    "algorithm_type": "algorithm type, e.g. generation/synthesis (算法类型)",
    "service_form": "service form: app, website, API … (服务形式)",
    "application_field": "application field (应用领域)",
    "functions": "what the service does (主要功能)",
    "target_users": "target users (服务对象)",
    "scenarios": "usage scenarios (应用场景)",
    "mechanism": "algorithm mechanism and principle (算法机制机理)",
    "architecture": "model architecture (模型架构)",
    "training_compute": "training compute (训练算力)",
    "inference_compute": "inference compute (推理算力)",
    "user_scale": "user scale (用户规模)",
}

MEASURES: dict[str, tuple[str, ...]] = {
    "labelling": ("LM-4", "LM-5"),
    "consent": ("PI-14", "PI-15"),
    "agreements": ("IM-9",),
    "minors": ("IM-10", "MM-final"),
    "moderation": ("IM-4a", "IM-14a", "SR-5"),
    "illegal_use": ("IM-14b", "SR-14"),
    "complaints": ("IM-15",),
    "records": ("CSL-21",),
}


@attrs.frozen
class Dossier:
    """The assembled dossier; ``document`` is the JSON form, ``missing`` the gaps."""

    document: dict[str, Any]

    @property
    def missing(self) -> list[dict[str, str]]:
        return list(self.document["missing"])

    @property
    def complete(self) -> bool:
        return not self.document["missing"]


def _keyword_attachment(paths: list[str]) -> dict[str, Any] | None:
    if not paths:
        return None
    try:
        from ..moderation import KeywordLibrary
    except ImportError:
        return None
    library = KeywordLibrary.load(*paths)
    per_risk: Counter[str] = Counter()
    for entry in getattr(library, "entries", []):
        risk = getattr(entry, "risk", None)
        per_risk[str(getattr(risk, "value", risk))] += 1
    return {"files": [os.path.basename(p) for p in paths], "entries": len(library),
            "per_risk": dict(sorted(per_risk.items()))}


def _bank_attachment(paths: list[str]) -> dict[str, Any] | None:
    if not paths:
        return None
    from ..evaluation import QuestionBank

    bank = QuestionBank.load(*paths)
    check = bank.check()
    return {"files": [os.path.basename(p) for p in paths], "sizes": check.sizes,
            "problems": list(check.problems)}


@implements("IM-17", "IM-19", "LM-12", "GAI-DISPLAY")
def build_dossier(
    register: TrainingRegister,
    *,
    provider: Any,
    filing: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
    implementations: Mapping[str, Sequence[str]] | None = None,
    minors: Mapping[str, Any] | None = None,
    security_assessment: Mapping[str, Any] | None = None,
) -> Dossier:
    """Assemble the dossier from the register, the provider and the ``[filing]`` facts.

    ``filing`` may also name ``keyword_files`` and ``question_banks`` (paths) for
    attachments 4 and 5. ``implementations`` maps rule IDs to the code implementing them
    (:func:`genai_compliance.reports.implementations`, which the CLI passes); without it,
    only what has been imported so far counts (:func:`genai_compliance.rules.registered`).
    ``minors`` is the minors' policy in force (``MinorPolicy.summary()``): the dossier then
    states it, the unknown-age policy first (MM-age-unknown, MM-adjust, MM-exempt).
    ``security_assessment`` is the computed "security assessment needed" item of an
    AI-interaction service (``Interaction.security_assessment(...).to_json()``, AN-ASSESS):
    stated in the dossier, and a missing item when it is needed.
    """
    filing = dict(filing or {})
    now = now or register.clock.now()
    missing: list[dict[str, str]] = []

    def need(item: str, how: str) -> None:
        missing.append({"item": item, "how": how})

    prov = {"legal_name": provider.legal_name, "uscc": provider.uscc,
            "product_name": provider.product_name,
            "filing_number": provider.service_filing_number,
            "contact_email": provider.contact_email, "contact_phone": provider.contact_phone,
            "producer_code": provider.producer_code}
    for key in ("contact_email", "contact_phone"):
        if not prov[key]:
            need(f"provider.{key}", f"set [provider] {key} in compliance.toml")
    service = {k: filing.get(k) for k in SERVICE_FIELDS}
    for key, meaning in SERVICE_FIELDS.items():
        if not service[key]:
            need(f"filing.{key}", f"set [filing] {key} ({meaning}) in compliance.toml")

    sources = register.documents("source")
    models = register.documents("base_model")
    if not models:
        need("base models", "register each foundation model with add_base_model() (IM-7)")
    for m in models:
        if m.get("decision") != "accepted":
            need(f"base model {m['name']}@{m['version']}",
                 "give its filing number or licence (IM-7)")
    if not sources:
        need("training data sources", "register each source with add_source() (IM-7, IM-19)")
    for s in sources:
        if s.get("decision") == "pending":
            need(f"source {s['source_id']}",
                 "complete its evidence: " + "; ".join(s.get("reasons", [])))
    used = [s for s in sources if s.get("decision") == "accepted"]
    types: Counter[str] = Counter()
    langs: Counter[str] = Counter()
    for s in used:
        for t in s.get("data_types", []):
            types[t] += int(s.get("items", 0))
        for lang in s.get("languages", []):
            langs[lang] += int(s.get("items", 0))
    rules_docs = register.documents("labelling_rules")
    kinds = {r.get("kind") for r in rules_docs}
    for kind in ("functional", "safety"):
        if kind not in kinds:
            need(f"{kind} labelling rules", f"add_labelling_rules(kind={kind!r}) (IM-8, SR-12)")
    trainings = register.documents("labeller_training")
    if not trainings:
        need("labeller training records", "add_training() for each labeller (IM-8, SR-12)")
    quality = register.documents("quality")
    if not any(q.get("passed") for q in quality):
        need("labelling quality assessment", "assess_quality() with a passing batch (IM-8)")
    inspections = register.inspections()
    for method in ("manual", "technical"):
        runs = [r for r in inspections.values() if r.get("method") == method]
        if not any(r.get("passed") for r in runs):
            rule = "SR-3" if method == "manual" else "SR-4"
            need(f"{method} corpus inspection",
                 f"record_inspection() of a passing {method} inspection ({rule})")
    evaluations = register.documents("evaluation")
    if not any(e.get("passed") is True for e in evaluations):
        need("safety evaluation", "run evaluation.evaluate() and store the passing report "
             "with put_document('evaluation', …) (SR-9, SR-10)")
    assessments = register.documents("assessment")
    if not assessments:
        need("applicability assessment", "run `genai-compliance assess` (IM-17)")
    else:
        _assessment_gaps(assessments[-1], prov, need)
    impl = dict(implementations) if implementations is not None else registered()
    measures = {name: {"rules": list(ids), "implemented_by": sorted(
        {x for i in ids for x in impl.get(i, [])})} for name, ids in MEASURES.items()}
    for name, info in measures.items():
        if not info["implemented_by"]:
            need(f"measure: {name}", "enable the genai_compliance module for it")
    keywords = _keyword_attachment(list(filing.get("keyword_files", [])))
    if keywords is None:
        need("attachment 4: keyword list", "set [filing] keyword_files (SR-5)")
    banks = _bank_attachment(list(filing.get("question_banks", [])))
    if banks is None:
        need("attachment 5: test question sets", "set [filing] question_banks (SR-6–SR-8)")
    registry = load_rules()
    document: dict[str, Any] = {
        "schema": "genai-compliance/dossier/1",
        "generated_at": now.isoformat(),
        "provider": prov,
        "service": service,
        "algorithm": {"mechanism": service["mechanism"], "architecture": service["architecture"],
                      "base_models": models},
        "training_data": {"sources": sources, "accepted_sources": len(used),
                          "items": sum(int(s.get("items", 0)) for s in used),
                          "bytes": sum(int(s.get("size_bytes", 0)) for s in used),
                          "by_type": dict(types), "by_language": dict(langs)},
        "labelling": {"rules": rules_docs, "trainings": len(trainings), "quality": quality},
        "inspections": inspections,
        "evaluation": evaluations,
        "assessment": assessments[-1] if assessments else None,
        "measures": measures,
        "attachments": {"keywords": keywords, "question_sets": banks},
        "rules_cited": sorted({r for ids in MEASURES.values() for r in ids if r in registry}
                              | {r for r in (assessments[-1].get("rules_cited", [])
                                             if assessments else []) if r in registry}),
        "missing": missing,
    }
    if security_assessment is not None:
        item = dict(security_assessment)
        document["security_assessment"] = item
        if item.get("needed"):
            need("security assessment (AN-ASSESS)",
                 f"{item.get('action', 'carry out a security assessment')}; triggered by "
                 + ", ".join(str(t) for t in item.get("triggers", [])))
        document["rules_cited"] = sorted(set(document["rules_cited"]) | {
            r for r in item.get("rules", []) if r in registry})
    if minors is not None:
        document["minors"] = _minors_summary(minors)
        document["rules_cited"] = sorted(set(document["rules_cited"]) | {
            r for r in ("MM-age-unknown", "MM-adjust", "MM-exempt") if r in registry})
    validate(document, "dossier", what="dossier")
    return Dossier(document)


def _minors_summary(minors: Mapping[str, Any]) -> dict[str, Any]:
    """The minors' policy as the dossier states it (``MinorPolicy.summary()``; the training
    layer does not import the minors' duty, so the caller passes the summary)."""
    return {k: v for k, v in minors.items()}


def _minors_markdown(mn: Mapping[str, Any]) -> list[str]:
    lines = ["", "## Minors' mode (IM-10, MM-final, MM-age-unknown)", "",
             f"- Unknown age: **{mn['unknown_age']}** — {mn.get('unknown_age_meaning', '')}"
             + (f" (band {mn['unknown_age_band']})" if mn.get("unknown_age_band") else "")]
    curfew = mn.get("curfew")
    night = (f"{curfew[0]}–{curfew[1]}" if isinstance(curfew, list | tuple) and len(curfew) == 2
             else "none")
    lines.append(f"- Profile {mn['profile']}; daily minutes: " + ", ".join(
        f"{band} {minutes:g}" for band, minutes in mn["daily_minutes"].items())
        + f"; curfew: {night}")
    bounds = mn.get("guardian_max_daily_minutes")
    if bounds:
        lines.append("- Guardians may set the daily limit up to (MM-adjust): " + ", ".join(
            f"{band} {minutes:g}" for band, minutes in bounds.items()))
    if "exemption_max_minutes" in mn:
        lines.append(f"- Guardian exemptions (MM-exempt): at most "
                     f"{mn['exemption_max_minutes']:g} min; the curfew "
                     + ("may" if mn.get("exemption_curfew") else "may not") + " be lifted")
    if mn.get("moderation_profile"):
        lines.append(f"- Moderation profile for minors: {mn['moderation_profile']}")
    return lines


def _assessment_gaps(assessment: Mapping[str, Any], provider: Mapping[str, Any],
                     need: Any) -> None:
    """What a complete stored assessment still asks for: its blockers, the obligations it
    checked and found unmet, and the filing number users must be shown (GAI-DISPLAY)."""
    if assessment.get("complete") is not True:
        missing = [m.get("question", "?") for m in assessment.get("missing", [])]
        need("applicability assessment: incomplete",
             "answer every question (" + (", ".join(missing) if missing else "see assess")
             + "), then run `genai-compliance assess --record` again")
        return
    for blocker in assessment.get("blockers", []):
        need(f"blocker: {blocker['title']}",
             f"{blocker['why']} ({', '.join(blocker['rules'])}); then run "
             "`genai-compliance assess --record` again")
    for item in assessment.get("conclusions", []):
        if item.get("status") == "not met":
            need(f"not met: {item['title']}",
                 f"{item['why']} ({', '.join(item['rules'])})")
    shows = any("GAI-DISPLAY" in c.get("rules", []) for c in assessment.get("conclusions", []))
    answered = str(assessment.get("answers", {}).get("filing_number") or "").strip()
    if shows and not provider.get("filing_number"):
        need("provider.service_filing_number",
             "set [provider] service_filing_number to the filing (备案号) or registration / "
             "launch number once issued: users must be shown it with the model name "
             "(GAI-DISPLAY)")
    elif shows and answered and answered != provider.get("filing_number"):
        need("provider.service_filing_number",
             f"the assessment records filing number {answered!r} but [provider] "
             f"service_filing_number is {provider.get('filing_number')!r}; make them the "
             "number users are shown (GAI-DISPLAY)")


def _assessment_markdown(a: Mapping[str, Any]) -> list[str]:
    lines = ["", "## Applicability assessment", ""]
    if a.get("complete") is False:
        lines.append(f"Incomplete — nothing concluded; {len(a.get('missing', []))} answers "
                     "missing:")
        lines += [f"- {m['question']}: {m['en']}" for m in a.get("missing", [])]
        return lines
    lines += [f"Applies: {a['applies']} — {a['scope_reason']}.", ""]
    for b in a.get("blockers", []):
        lines.append(f"- **BLOCKER: {b['title']}** ({', '.join(b['rules'])}) — {b['why']}")
    marks = {"open": "[ ] ", "met": "[x] ", "not met": "[!] not met: "}
    for c in a.get("conclusions", []):
        when = f" — {c['when']}" if c.get("when") else ""
        lines.append(f"- {marks.get(c.get('status', ''), '')}{c['title']} "
                     f"({', '.join(c['rules'])}){when}")
    lines += [f"- {d['title']} ({', '.join(d['rules'])})" for d in a.get("duties", [])]
    return lines


def _markdown(doc: Mapping[str, Any]) -> str:
    lines = [f"# Filing dossier — {doc['provider']['product_name']}", "",
             f"Generated {doc['generated_at']}. Provider: {doc['provider']['legal_name']} "
             f"(USCC {doc['provider']['uscc']}).", ""]
    if doc["missing"]:
        lines += ["## Still missing", ""] + [f"- **{m['item']}** — {m['how']}"
                                             for m in doc["missing"]] + [""]
    else:
        lines += ["All items present.", ""]
    lines += ["## Service (filing form: basic information)", ""]
    lines += [f"- {SERVICE_FIELDS[k]}: {v or '—'}" for k, v in doc["service"].items()] + [""]
    lines += ["## Base models", ""] + [
        f"- {m['name']} {m['version']} ({m['provider']}): filing {m.get('filing_number') or '—'},"
        f" licence {m.get('licence') or '—'} → {m.get('decision')}"
        for m in doc["algorithm"]["base_models"]] + [""]
    td = doc["training_data"]
    lines += ["## Training data (IM-7, IM-19)", "",
              f"{td['accepted_sources']} accepted sources, {td['items']:,} items, "
              f"{td['bytes']:,} bytes. By type: {td['by_type']}. By language: "
              f"{td['by_language']}.", "",
              "| source | legal basis | items | harmful in sample | IP | PI | decision |",
              "|---|---|---|---|---|---|---|"]
    for s in td["sources"]:
        share = (f"{s['harmful_items']}/{s['sampled_items']}" if s.get("sampled_items")
                 else "—")
        lines.append(f"| {s['name']} | {s['legal_basis']} | {s['items']:,} | {share} | "
                     f"{s['ip_review']} | {s['pi_status']} | {s['decision']} |")
    lines += ["", "## Labelling (IM-8)", ""]
    lines += [f"- {r['kind']} rules v{r['version']} (effective {r['effective']}, sha256 "
              f"{r['sha256'][:16]}…)" for r in doc["labelling"]["rules"]]
    lines += [f"- labeller training records: {doc['labelling']['trainings']}"]
    lines += [f"- batch {q['batch_id']}: kappa {q['kappa']:.3f} ({q['kappa_method']}), "
              f"verification {q['correct']}/{q['sample_size']} → "
              f"{'pass' if q['passed'] else 'fail'}" for q in doc["labelling"]["quality"]]
    lines += ["", "## Corpus inspections (SR-3, SR-4)", ""]
    lines += [f"- {name}: {r['method']}, {r['inspected']} of {r['corpus_size']} items, pass "
              f"rate {r['pass_rate']:.2%} (Wilson low {r['wilson_low']:.2%}) → "
              f"{'pass' if r['passed'] else 'fail'}" for name, r in doc["inspections"].items()]
    lines += ["", "## Safety evaluation (SR-9, SR-10)", ""]
    for ev in doc["evaluation"]:
        lines.append(f"- model {ev.get('model')}, seed {ev.get('seed')}: "
                     f"{'pass' if ev.get('passed') else 'not passed'}")
        for r in ev.get("results", []):
            lines.append(f"  - {r['name']}: {r['hits']}/{r['n']} = {r['rate']:.2%} "
                         f"(95 % CI {r['wilson_low']:.2%}–{r['wilson_high']:.2%}) "
                         f"{r['comparison']} {r['threshold']:.0%}")
    lines += ["", "## Measures in place", ""]
    lines += [f"- {name}: {', '.join(info['rules'])} — "
              f"{', '.join(info['implemented_by']) or 'none'}"
              for name, info in doc["measures"].items()]
    att = doc["attachments"]
    lines += ["", "## Attachments", "",
              f"- 附件4 keyword list: {json.dumps(att['keywords'], ensure_ascii=False)}",
              f"- 附件5 test question sets: {json.dumps(att['question_sets'], ensure_ascii=False)}"]
    if doc.get("minors"):
        lines += _minors_markdown(doc["minors"])
    sa = doc.get("security_assessment")
    if sa:
        lines += ["", "## Security assessment (AN-ASSESS)", "",
                  f"- Needed: **{'yes' if sa.get('needed') else 'no'}**"
                  + (f" — triggers: {', '.join(map(str, sa.get('triggers', [])))}"
                     if sa.get("triggers") else ""),
                  f"- Action: {sa.get('action', '')}"]
    if doc["assessment"]:
        lines += _assessment_markdown(doc["assessment"])
    return "\n".join(lines) + "\n"


def _html(markdown: str, title: str) -> str:
    body: list[str] = []
    in_table = False
    for line in markdown.splitlines():
        esc = html.escape(line)
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= {"-"}:
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells)
                        + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("# "):
            body.append(f"<h1>{esc[2:]}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{esc[3:]}</h2>")
        elif line.lstrip().startswith("- "):
            body.append(f"<li>{esc.lstrip()[2:].replace('**', '')}</li>")
        elif line:
            body.append(f"<p>{esc}</p>")
    if in_table:
        body.append("</table>")
    return (f'<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>'
            f"{html.escape(title)}</title><style>body{{font-family:sans-serif;max-width:960px;"
            f"margin:24px auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;"
            f"padding:3px 6px}}</style></head><body>{''.join(body)}</body></html>\n")


def write_dossier(dossier: Dossier, directory: str | os.PathLike[str]) -> list[Path]:
    """Write ``dossier.json``, ``dossier.md`` and ``dossier.html`` into ``directory``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    md = _markdown(dossier.document)
    files = {
        "dossier.json": json.dumps(dossier.document, ensure_ascii=False, indent=2,
                                   default=str) + "\n",
        "dossier.md": md,
        "dossier.html": _html(md, "Filing dossier"),
    }
    written = []
    for name, text in files.items():
        path = out / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        written.append(path)
    return written
