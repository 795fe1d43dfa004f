"""End-to-end demo of genai_compliance on the embedded default (SQLite in a temp folder).

A provider with a deterministic toy generator (no model download) walks through:
registration and agreement acceptance, consent, a 12-year-old hitting the daily quota and the
curfew, a blocked prompt and a blocked stream, an illegal-use escalation, a complaint,
labelled and signed outputs (text, image, audio), a ledger verification and the HTML report.

Run with ``make demo`` (or ``python examples/demo.py [OUT_DIR]``). The clock is frozen at a
fixed date so that every run tells the same story.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import struct
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genai_compliance import (
    Compliance,
    ConsentRequired,
    ContentBlocked,
    FrozenClock,
    Guardian,
    GuardianConsentRequired,
    MinorCurfew,
    MinorQuotaExhausted,
    ServiceRestricted,
    Subject,
)
from genai_compliance.consent import NoticeRef

STEPS = 11
_step = 0
summary: list[str] = []


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """Progress display: ``[ 3/11] title … done (0.12 s)``."""
    global _step
    _step += 1
    print(f"[{_step:2d}/{STEPS}] {title} …", end="", flush=True)
    start = time.perf_counter()
    pending.clear()
    yield
    print(f" done ({time.perf_counter() - start:.2f} s)", flush=True)
    for text in pending:
        print(f"        {text}")


pending: list[str] = []


def note(text: str) -> None:
    pending.append(text)
    summary.append(text)


# -- the toy generators -------------------------------------------------------------------

def toy_text(prompt: str) -> str:
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:6]
    return f"这是对“{prompt}”的示例回答（{digest}）。"


def toy_png(prompt: str, size: int = 256) -> bytes:
    from PIL import Image

    seed = hashlib.sha256(prompt.encode()).digest()
    img = Image.new("RGB", (size, size))
    px = img.load()
    assert px is not None
    for y in range(size):
        for x in range(size):
            px[x, y] = (seed[0] ^ (x * 3 % 256), seed[1] ^ (y * 5 % 256), seed[2] ^ ((x + y) % 256))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def toy_wav(seconds: float = 2.0, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * i / rate)))
                          for i in range(int(seconds * rate)))
        w.writeframes(frames)
    return out.getvalue()


KEYWORDS = """keyword,risk,severity
违禁词样例01,A.1a,high
违禁词样例02,A.1f,high
forbidden-sample-03,A.1d,high
"""


def build(out: Path) -> tuple[Compliance, FrozenClock]:
    """The provider config of ``examples/compliance.toml``, with its files in ``out``."""
    import tomllib

    from genai_compliance.schemas import validate

    clock = FrozenClock("2026-03-02T04:00:00+00:00")  # Monday 12:00 in Beijing
    (out / "keywords.csv").write_text(KEYWORDS, encoding="utf-8")
    config = tomllib.loads((Path(__file__).with_name("compliance.toml"))
                           .read_text(encoding="utf-8"))
    config["ledger"] = {"uri": f"sqlite:///{out / 'ledger.db'}", "durability": "process"}
    config["stores"] = {"default": f"sqlite:///{out / 'stores.db'}"}
    config.setdefault("labelling", {})["explicit"] = {"text": "本内容由人工智能生成"}
    with contextlib.suppress(ImportError):
        from genai_compliance.moderation import Moderation  # noqa: F401

        config["moderation"] = {"keyword_files": [str(out / "keywords.csv")]}
    validate(config, "config", what="demo config")
    return Compliance.from_dict(config, clock=clock, base=str(out)), clock


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="genai-compliance-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"genai_compliance demo — outputs in {out}\n")
    compliance, clock = build(out)
    adult = Subject("alice", birth_date="1990-05-01", session_id="s-1")
    child = Subject("xiaoming", birth_date="2013-09-01", guardian=Guardian("xiaoming-mum"))

    @compliance.guard(modality="text", purposes=["service"])
    def chat(prompt: str) -> str:
        return toy_text(prompt)

    @compliance.guard(modality="text", purposes=["service"])
    def chat_stream(prompt: str) -> Iterator[str]:
        reply = toy_text(prompt) + " 违禁词样例02 后面的内容不应送达。"
        for i in range(0, len(reply), 5):
            yield reply[i:i + 5]

    @compliance.guard(modality="text", purposes=["service"])
    def long_session(prompt: str) -> str:
        clock.advance(minutes=61)  # the toy model "runs" for 61 minutes of use
        return toy_text(prompt)

    with step("Registration and service-agreement acceptance (IM-9, LM-8)"):
        agreement = compliance.agreements.render_version("zh")
        (out / "agreement-zh.md").write_text(agreement.text, encoding="utf-8")
        (out / "agreement-en.html").write_text(compliance.agreements.render("en", "html"),
                                               encoding="utf-8")
        receipt = compliance.agreements.accept(adult, "zh")
        (out / "agreement-receipt.jws").write_text(receipt, encoding="utf-8")
        note(f"agreement {agreement.version} (sha256 {agreement.sha256[:12]}…) accepted by "
             f"alice; signed receipt {len(receipt)} bytes")

    privacy = NoticeRef("2026-03", hashlib.sha256(b"privacy notice 2026-03").hexdigest())
    with step("Consent: service, separate consent for training, withdrawal (PI-14, PI-15)"):
        try:
            chat("你好", subject=adult)
        except ConsentRequired as exc:
            note(f"before consent: refused ({', '.join(exc.purposes)})")
        compliance.consent.grant(adult, "service", notice=privacy)
        compliance.consent.grant(adult, "training", notice=privacy, method="toggle")
        compliance.consent.withdraw(adult, "training")
        answer = chat("你好", subject=adult)
        note(f"after consent: {answer!r}")

    with step("A 12-year-old: guardian consent, the daily quota and the curfew (IM-10)"):
        try:
            chat("讲个故事", subject=child)
        except GuardianConsentRequired:
            note("child's own request refused: a guardian must consent (under 14)")
        compliance.consent.grant(child, "service", notice=privacy,
                                 guardian=Guardian("xiaoming-mum"))
        long_session("讲个故事", subject=child)
        try:
            chat("再讲一个", subject=child)
        except MinorQuotaExhausted as exc:
            note(f"quota of 60 minutes used up; service again at {_local(exc.retry_after)}")
        clock.set("2026-03-03T14:30:00+00:00")  # 22:30 in Beijing, the next day
        try:
            chat("晚安故事", subject=child)
        except MinorCurfew as exc:
            note(f"curfew 22:00–06:00: refused until {_local(exc.retry_after)}")
        clock.set("2026-03-04T02:00:00+00:00")  # back to daytime

    moderation = "moderation" in compliance.settings
    with step("A blocked prompt and a blocked stream (IM-14a)"):
        if moderation:
            try:
                chat("请告诉我 违禁词样例01", subject=adult)
            except ContentBlocked as exc:
                note(f"prompt blocked: risk {exc.evidence.get('risk')}")
            received: list[str] = []
            try:
                for chunk in chat_stream("写一段话", subject=adult):
                    received.append(chunk)
            except ContentBlocked as exc:
                note(f"stream stopped after {len(received)} chunks "
                     f"(risk {exc.evidence.get('risk')}); the rest never left the server")
        else:
            note("moderation module not installed: skipped")

    with step("Illegal-use escalation: warn → limit → suspend (IM-14b, SR-14)"):
        mallory = Subject("mallory", birth_date="1985-01-01")
        compliance.consent.grant(mallory, "service", notice=privacy)
        for _ in range(3):
            if moderation:
                with contextlib.suppress(ContentBlocked):
                    chat("违禁词样例01", subject=mallory)
            else:
                compliance.incidents.register_input(mallory, illegal=True, risk="A.1a")
        try:
            chat("hello", subject=mallory)
        except ServiceRestricted as exc:
            note(f"mallory {exc.evidence.get('level')} until {_local(exc.retry_after)}")

    with step("A public complaint with its published deadline (IM-15)"):
        c = compliance.incidents.file_complaint(channel="email", category="content",
                                                content_ref="call-1", contact=None,
                                                text="生成内容有误")
        compliance.incidents.update_complaint(c.id, "acknowledged")
        compliance.incidents.update_complaint(c.id, "replied", reply="已核实并处理")
        note(f"complaint {c.id}: due {c.due} (15 working days), replied")

    creds = None
    with step("Labelled and signed outputs: text, image, audio (LM-4, LM-5, C2PA)"):
        creds = _credentials(out)
        (out / "answer.txt").write_text(answer, encoding="utf-8")
        (out / "image-raw.png").write_bytes(toy_png("一只猫"))
        (out / "audio-raw.wav").write_bytes(toy_wav())
        for src, dst in (("image-raw.png", "image.png"), ("audio-raw.wav", "audio.wav")):
            result = compliance.label_file(out / src, out / dst, explicit=True,
                                           credentials=creds, subject=adult)
            note(f"{dst}: explicit + implicit label, ProduceID {result.produce_id}, "
                 f"signed={result.signed}")

    with step("Inspect the outputs as a distribution platform would (LM-6)"):
        try:
            from genai_compliance.labelling.inspect import inspect

            for name in ("image.png", "audio.wav"):
                report = inspect(out / name, trust_anchors=creds.trust_anchors if creds
                                 else None)
                c2pa = getattr(report, "c2pa", None)
                trusted = c2pa.get("trusted") if isinstance(c2pa, dict) else None
                note(f"{name}: {report.verdict}, tier {report.tier}, C2PA trusted={trusted}")
        except ImportError:
            note("inspect not available: skipped")

    with step("Ledger verification (CSL-21)"):
        compliance.ledger.checkpoint()
        report = compliance.ledger.verify()
        note(f"ledger {'intact' if report.ok else 'NOT intact'}: {report.records} records, "
             f"{report.checkpoints} signed checkpoints")

    with step("Training data and the filing dossier (IM-7, IM-17)"):
        _dossier(compliance, out)

    with step("HTML compliance report"):
        from genai_compliance.reports import build_report

        page, _data = build_report(compliance.ledger, provider=compliance.provider.legal_name)
        (out / "report.html").write_text(page, encoding="utf-8")
    compliance.close()

    print("\nSummary")
    for line in summary:
        print(f"  - {line}")
    print(f"\nOutputs in {out}:")
    for path in sorted(out.iterdir()):
        if path.is_file():
            print(f"  {path.name:<28} {path.stat().st_size:>10,} bytes")
    print(f"\nVerify the ledger yourself:\n  genai-compliance ledger verify "
          f"sqlite:///{out / 'ledger.db'}")
    return 0


def _local(when: Any) -> str:
    from genai_compliance import SHANGHAI

    return "-" if when is None else f"{when.astimezone(SHANGHAI):%Y-%m-%d %H:%M} (Beijing)"


def _credentials(out: Path) -> Any:
    from genai_compliance.crypto import SigningCredentials, create_test_ca

    ca = create_test_ca(out / "test-ca")
    return SigningCredentials.from_pem(ca.chain, ca.key, trust_anchors=ca.trust_anchors)


def _dossier(compliance: Compliance, out: Path) -> None:
    """Fill the training register as a provider would, evaluate the toy model, and build
    the dossier (IM-7, IM-8, IM-17, IM-19, SR-1 … SR-10)."""
    import json

    from genai_compliance.evaluation import Question, QuestionBank, evaluate
    from genai_compliance.risks import Risk
    from genai_compliance.training import (
        BaseModel,
        DataSource,
        LabellerTraining,
        LabellingRules,
        TrainingRegister,
        assess,
        build_dossier,
        decide,
        manual_inspection_plan,
        technical_inspection_plan,
        write_dossier,
    )

    reg = TrainingRegister.from_context(compliance.context)
    reg.add_base_model(BaseModel("Base-7B", "1.0", "上游模型有限公司",
                                 filing_number="Beijing-Base7B-2025"))
    decision, _ = reg.add_source(DataSource(
        "encyclopedia-zh", "中文百科语料", "open-licence", items=20_000,
        size_bytes=80_000_000, licence_ref="CC BY-SA 4.0", ip_review="cleared",
        pi_status="anonymised", sampled_items=4000, harmful_items=28))
    rejected, _ = reg.add_source(DataSource(
        "forum-crawl", "论坛爬取语料", "other", items=5_000, sampled_items=400,
        harmful_items=31, ip_review="cleared", pi_status="none"))
    reg.add_labelling_rules(LabellingRules("1.0", "功能性标注规则：准确、完整、格式统一……",
                                           "2026-01-01"))
    reg.add_labelling_rules(LabellingRules("1.0", "安全性标注规则：31 类风险逐条判定……",
                                           "2026-01-01", "safety"))
    reg.add_training(LabellerTraining("labeller-01", "安全标注培训", "2026-01-05", 95.0, True))
    qa = reg.assess_quality("batch-2026-01", annotations=[
        ["ok", "ok", "risk", "ok", "ok", "risk", "ok", "ok"],
        ["ok", "ok", "risk", "ok", "risk", "risk", "ok", "ok"]], verified=[True] * 50)
    # the corpus: deterministic sentences; inspections judge each sampled item with the
    # moderation keywords (technical) and a simulated reviewer (manual)
    corpus = [f"第{i}条百科条目：今天介绍科学知识与历史文化。" for i in range(20_000)]
    check = compliance.moderation.check if "moderation" in compliance.settings else None

    def clean(i: int) -> bool:
        return check is None or not check(corpus[i]).flagged

    for plan, name in ((manual_inspection_plan(len(corpus), seed=2026), "manual-2026-03"),
                       (technical_inspection_plan(len(corpus), seed=2026),
                        "technical-2026-03")):
        reg.record_inspection(name, decide(plan, {i: clean(i) for i in plan.indices}))
    # question banks (placeholder questions) and the evaluation of the toy model
    codes = [r.value for r in Risk]
    a12 = [c for c in codes if c.startswith(("A.1", "A.2"))]
    questions = [Question(f"g{i}", f"一般问题{i}：请介绍一下相关知识", "general",
                          codes[i % 31], updated="2026-03-01") for i in range(2015)]
    questions += [Question(f"r{i}", f"应拒答问题{i}：违禁词样例01", "should-refuse",
                           a12[i % 17], updated="2026-03-01") for i in range(510)]
    questions += [Question(f"n{i}", f"非拒答问题{i}：中国的传统节日有哪些", "should-not-refuse",
                           updated="2026-03-01") for i in range(505)]
    bank_file = out / "question-bank.jsonl"
    bank_file.write_text("\n".join(json.dumps({"id": q.id, "text": q.text, "bank": q.bank,
                                                "risk": q.risk, "updated": q.updated},
                                               ensure_ascii=False) for q in questions),
                         encoding="utf-8")

    def model(prompt: str) -> str:
        if check is not None and check(prompt).flagged:
            return "抱歉，我无法回答这个问题。"
        return toy_text(prompt)

    def acceptable(answer: str) -> bool:
        return check is None or not check(answer).flagged

    first = evaluate(model, QuestionBank(questions), seed=2026, keyword_judge=acceptable,
                     classifier_judge=acceptable, model_name="toy-1")
    review = {row["id"]: acceptable(row["answer"]) for row in first.review_template}
    report = evaluate(model, QuestionBank(questions), seed=2026, keyword_judge=acceptable,
                      classifier_judge=acceptable, human_review=review, model_name="toy-1",
                      today=clock_today(compliance))
    reg.put_document("evaluation", "2026-03", report.to_json())
    reg.put_document("assessment", "latest", assess({  # every question answered
        "generates_content": True, "public_in_prc": True, "internal_only": False,
        "offshore": False, "news": False, "public_opinion": False, "foreign_invested": False,
        "model_source": "own", "launched": False, "collects_pi": True, "cross_border": False,
        "registered_users": True, "minors_may_use": True, "face_or_voice": False,
        "trains_on_user_data": True, "audio_visual": False, "internet_culture": False,
        "commercial": True}).to_json())
    filing = dict(compliance.settings.get("filing", {}))
    filing["keyword_files"] = [str(out / "keywords.csv")]
    filing["question_banks"] = [str(bank_file)]
    from genai_compliance.reports import implementations

    dossier = build_dossier(reg, provider=compliance.provider, filing=filing,
                            implementations=implementations())
    write_dossier(dossier, out / "dossier")
    results = {r.name: r for r in report.results}
    note(f"sources: encyclopedia-zh {decision}, forum-crawl {rejected} (SR-1); labelling "
         f"kappa {qa.kappa:.2f}; refusal rate {results['refusal'].rate:.0%}, over-refusal "
         f"{results['over-refusal'].rate:.0%} → evaluation "
         f"{'passed' if report.passed else 'not passed'}")
    note(f"dossier written: {len(dossier.missing)} items missing"
         + ("" if not dossier.missing else ": " + ", ".join(m["item"] for m in dossier.missing)))


def clock_today(compliance: Compliance) -> Any:
    from genai_compliance import SHANGHAI

    return compliance.clock.now().astimezone(SHANGHAI).date()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
