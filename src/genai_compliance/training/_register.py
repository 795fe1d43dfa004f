"""The training-data register: sources, base models, labelling rules, labellers, inspections.

Interim Measures Art. 7 (IM-7: lawful sources and foundation models, no IP infringement, PI only
with consent), Art. 8 (IM-8: labelling rules, quality assessment by sampling, labeller
training), Art. 19 (IM-19: explain source, scale, type and labelling rules to the authority).
Every entry is kept as a JSON document (one table, SQLite or PostgreSQL) and every change is a
ledger record, so the register itself is evidence.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

from .._exports import deprecated
from ..clock import SystemClock
from ..errors import ConfigurationError, RecordNotFound
from ..ledger import Ledger
from ..rules import implements
from ..stats import cohen_kappa, fleiss_kappa, sample_indices, wilson_interval
from ..stores import SQLDatabase
from ._sampling import DEFAULT_THRESHOLDS, InspectionResult, Thresholds, source_gate

if TYPE_CHECKING:
    from ..context import DutyContext, HasContext

__all__ = [
    "LEGAL_BASES",
    "BaseModel",
    "DataSource",
    "LabellerTraining",
    "LabellingRules",
    "QualityAssessment",
    "TrainingRegister",
]

LEGAL_BASES = ("licence", "contract", "own-data", "public-domain", "user-consent",
               "open-licence", "other")
PI_STATUSES = ("none", "anonymised", "consented", "unconsented", "unknown")
IP_REVIEWS = ("cleared", "pending", "failed", "not-needed")

_DDL = [
    "CREATE TABLE IF NOT EXISTS gc_training_docs (collection TEXT NOT NULL, id TEXT NOT NULL, "
    "body TEXT NOT NULL, updated TEXT NOT NULL, PRIMARY KEY (collection, id))",
]


def _choice(options: Sequence[str]) -> Any:
    def check(_inst: Any, attr: attrs.Attribute[Any], value: str) -> None:
        if value not in options:
            raise ConfigurationError(
                f"{attr.name} must be one of {', '.join(options)}; got {value!r}",
                field=attr.name, value=value)
    return check


@attrs.frozen
class DataSource:
    """One training-data source and the evidence that it may be used (IM-7, SR-1, SR-2)."""

    source_id: str = attrs.field(validator=attrs.validators.min_len(1))
    name: str
    legal_basis: str = attrs.field(validator=_choice(LEGAL_BASES))
    data_types: tuple[str, ...] = attrs.field(converter=tuple, default=("text",))
    languages: tuple[str, ...] = attrs.field(converter=tuple, default=("zh",))
    items: int = 0
    size_bytes: int = 0
    licence_ref: str | None = None
    consent_purpose: str | None = None
    ip_review: str = attrs.field(default="pending", validator=_choice(IP_REVIEWS))
    pi_status: str = attrs.field(default="unknown", validator=_choice(PI_STATUSES))
    sampled_items: int = 0
    harmful_items: int = 0
    collected_at: str | None = None
    notes: str = ""

    def decision(self, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> tuple[str, tuple[str, ...]]:
        """``("accepted" | "rejected" | "pending", reasons)`` computed from the evidence."""
        reasons: list[str] = []
        rejected = False
        if self.sampled_items:
            ok, why = source_gate(self.harmful_items, self.sampled_items, thresholds)
            reasons.append(why)
            rejected |= not ok
        else:
            reasons.append("not yet sampled (SR-1)")
        if self.ip_review == "failed":
            rejected = True
            reasons.append("IP review failed (IM-7)")
        if self.pi_status == "unconsented":
            rejected = True
            reasons.append("personal information without consent or other legal basis (IM-7)")
        if self.legal_basis in ("licence", "contract") and not self.licence_ref:
            reasons.append("licence or contract reference missing (SR-2)")
        if self.legal_basis == "user-consent" and not self.consent_purpose:
            reasons.append("name the consent purpose that covers this data (IM-7)")
        if rejected:
            return "rejected", tuple(reasons)
        complete = (self.sampled_items and self.ip_review in ("cleared", "not-needed")
                    and self.pi_status in ("none", "anonymised", "consented")
                    and not any("missing" in r or "name the" in r for r in reasons))
        return ("accepted" if complete else "pending"), tuple(reasons)


@attrs.frozen
class BaseModel:
    """A foundation model the service builds on, with its own filing or licence (IM-7)."""

    name: str = attrs.field(validator=attrs.validators.min_len(1))
    version: str
    provider: str
    filing_number: str | None = None
    licence: str | None = None
    notes: str = ""

    def decision(self) -> tuple[str, tuple[str, ...]]:
        if self.filing_number or self.licence:
            return "accepted", ()
        return "pending", ("a filed base model or a licence is required (IM-7, SR-15)",)


@attrs.frozen
class LabellingRules:
    """A version of the data-labelling rules (IM-8); ``sha256`` identifies the text."""

    version: str
    text: str
    effective: str
    kind: Literal["functional", "safety"] = "functional"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@attrs.frozen
class LabellerTraining:
    """A labeller's training and assessment record (IM-8, SR-12)."""

    labeller_id: str
    course: str
    date: str
    score: float
    passed: bool


@attrs.frozen
class QualityAssessment:
    """Agreement between labellers and a sampling verification of one labelled batch (IM-8)."""

    batch_id: str
    kappa: float
    kappa_method: str
    sample_size: int
    correct: int
    pass_rate: float
    wilson_low: float
    min_pass: float
    passed: bool


class TrainingRegister:
    """The register, on a SQL database; every change is also a ledger record."""

    def __init__(self, db: SQLDatabase | str, ledger: Ledger | None = None,
                 thresholds: Thresholds = DEFAULT_THRESHOLDS) -> None:
        self.db = SQLDatabase(db) if isinstance(db, str) else db
        self.db.executescript(_DDL)
        self.ledger = ledger
        self.clock = ledger.clock if ledger is not None else SystemClock()
        self.thresholds = thresholds

    @classmethod
    def from_context(cls, ctx: DutyContext) -> TrainingRegister:
        """The register in ``stores.training`` (a SQL URI) or in the ledger's database
        (IM-7, IM-8)."""
        return cls(ctx.database("training", key="training"), ctx.ledger)

    @classmethod
    def from_compliance(cls, compliance: HasContext) -> TrainingRegister:
        """Deprecated: use :meth:`from_context` (``compliance.context``)."""
        deprecated("TrainingRegister.from_compliance",
                   "TrainingRegister.from_context(compliance.context)")
        return cls.from_context(compliance.context)

    # -- documents -------------------------------------------------------------------
    def _put(self, collection: str, doc_id: str, body: Mapping[str, Any], event: str) -> None:
        text = json.dumps(body, ensure_ascii=False, sort_keys=True)
        with self.db.transaction(write=True) as tx:
            tx.execute("INSERT INTO gc_training_docs(collection, id, body, updated) VALUES "
                       "(?, ?, ?, ?) ON CONFLICT (collection, id) DO UPDATE SET body = "
                       "excluded.body, updated = excluded.updated",
                       (collection, doc_id, text, self.clock.now().isoformat()))
        if self.ledger is not None:
            self.ledger.append(f"training.{event}", {"collection": collection, "id": doc_id,
                                                     "sha256": hashlib.sha256(
                                                         text.encode()).hexdigest(),
                                                     **_summary(collection, body)})

    def _all(self, collection: str) -> Iterator[dict[str, Any]]:
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT body FROM gc_training_docs WHERE collection = ? ORDER BY "
                              "id", (collection,)).fetchall()
        for (body,) in rows:
            yield json.loads(body)

    # -- sources and models ----------------------------------------------------------
    @implements("IM-7", "SR-1", "SR-2")
    def add_source(self, source: DataSource) -> tuple[str, tuple[str, ...]]:
        """Register (or update) a source; returns its computed decision."""
        decision = source.decision(self.thresholds)
        self._put("source", source.source_id, {**attrs.asdict(source), "decision": decision[0],
                                               "reasons": list(decision[1])}, "source")
        return decision

    def sources(self) -> list[DataSource]:
        names = {a.name for a in attrs.fields(DataSource)}
        return [DataSource(**{k: v for k, v in d.items() if k in names})
                for d in self._all("source")]

    def source(self, source_id: str) -> DataSource:
        for src in self.sources():
            if src.source_id == source_id:
                return src
        raise RecordNotFound(f"no training source {source_id!r}; list them with sources()",
                             value=source_id)

    def add_base_model(self, model: BaseModel) -> tuple[str, tuple[str, ...]]:
        decision = model.decision()
        self._put("base_model", f"{model.name}@{model.version}",
                  {**attrs.asdict(model), "decision": decision[0],
                   "reasons": list(decision[1])}, "base_model")
        return decision

    def base_models(self) -> list[BaseModel]:
        names = {a.name for a in attrs.fields(BaseModel)}
        return [BaseModel(**{k: v for k, v in d.items() if k in names})
                for d in self._all("base_model")]

    # -- labelling -------------------------------------------------------------------
    @implements("IM-8")
    def add_labelling_rules(self, rules: LabellingRules) -> str:
        self._put("labelling_rules", f"{rules.kind}:{rules.version}",
                  {**attrs.asdict(rules), "sha256": rules.sha256}, "labelling_rules")
        return rules.sha256

    def labelling_rules(self) -> list[LabellingRules]:
        names = {a.name for a in attrs.fields(LabellingRules)}
        return [LabellingRules(**{k: v for k, v in d.items() if k in names})
                for d in self._all("labelling_rules")]

    @implements("SR-12")
    def add_training(self, record: LabellerTraining) -> None:
        self._put("labeller_training", f"{record.labeller_id}:{record.course}:{record.date}",
                  attrs.asdict(record), "labeller_training")

    def trainings(self) -> list[LabellerTraining]:
        return [LabellerTraining(**d) for d in self._all("labeller_training")]

    @implements("IM-8", "SR-12")
    def assess_quality(self, batch_id: str, *, annotations: Sequence[Sequence[Any]],
                       verified: Sequence[bool], min_pass: float = 0.9) -> QualityAssessment:
        """Agreement (Cohen's kappa for 2 labellers, Fleiss' for more, items x labellers) and
        the pass rate of a sampling verification of the batch."""
        if len(annotations) < 2:
            raise ConfigurationError("give the labels of at least two labellers",
                                     field="annotations", value=len(annotations))
        if len(annotations) == 2:
            kappa, method = cohen_kappa(annotations[0], annotations[1]), "cohen"
        else:
            categories = sorted({str(x) for row in annotations for x in row})
            items = len(annotations[0])
            matrix = [[sum(1 for lab in annotations if str(lab[i]) == c) for c in categories]
                      for i in range(items)]
            kappa, method = fleiss_kappa(matrix), "fleiss"
        interval = wilson_interval(sum(bool(v) for v in verified), len(verified))
        qa = QualityAssessment(batch_id, round(kappa, 6), method, len(verified),
                               interval.successes, interval.rate, interval.low, min_pass,
                               bool(verified) and interval.rate >= min_pass)
        self._put("quality", batch_id, attrs.asdict(qa), "quality")
        return qa

    def quality_assessments(self) -> list[QualityAssessment]:
        return [QualityAssessment(**d) for d in self._all("quality")]

    @staticmethod
    def verification_sample(batch_size: int, seed: int | str, share: float = 0.05,
                            minimum: int = 50) -> list[int]:
        """Items of a labelled batch to verify: ``share`` of it, at least ``minimum``."""
        k = max(minimum, int(batch_size * share + 0.999999))
        return sample_indices(batch_size, k, f"verify/{seed}")

    # -- inspections -----------------------------------------------------------------
    @implements("SR-3", "SR-4")
    def record_inspection(self, name: str, result: InspectionResult) -> None:
        self._put("inspection", name, result.to_json(), "inspection")

    def inspections(self) -> dict[str, dict[str, Any]]:
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT id, body FROM gc_training_docs WHERE collection = ? "
                              "ORDER BY id", ("inspection",)).fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}

    # -- generic documents (evaluation reports, assessment, filing events) --------------
    def put_document(self, collection: str, doc_id: str, body: Mapping[str, Any]) -> None:
        self._put(collection, doc_id, body, collection)

    def documents(self, collection: str) -> list[dict[str, Any]]:
        return list(self._all(collection))


def _summary(collection: str, body: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("decision", "passed", "version", "name", "kappa", "pass_rate", "method")
    return {k: body[k] for k in keep if k in body and isinstance(body[k], str | int | float |
                                                                     bool)}
