"""The PIPL consent ledger: purposes, grants, withdrawal, guardians, receipts, requests.

PIPL Art. 13-17 (PI-14, PI-15, PI-17), separate consent (PI-SEP: Art. 23, 25, 29, 39), minors
under 14 (PI-28/31: only a guardian's consent counts), individuals' requests (PI-RIGHTS,
IM-11b), Interim Measures Art. 7 (training on user inputs only with consent) and Art. 9
(agreement acceptance is a grant on the purpose ``service-agreement``).

State lives in one table (``gc_consent``) on SQLite or PostgreSQL, keyed by the ledger's
pseudonym of the subject, so erasing the subject's pseudonym key (``ledger.forget_subject``)
also makes the consent rows unreachable. Every grant, withdrawal and request is a ledger
record. ``require`` is served from an in-process cache that is never older than
``max_staleness`` seconds; a withdrawal clears it at once in this process and, with a
``redis://`` consent store, in every replica through pub/sub.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..checks import CallContext, Check
from ..clock import SHANGHAI, Clock, SystemClock
from ..crypto import generate_ed25519, key_id
from ..errors import (
    ConfigurationError,
    ConsentRequired,
    GuardianConsentRequired,
    SigningError,
)
from ..ledger import Ledger
from ..rules import implements
from ..schemas import validate
from ..stores import SQLDatabase, parse_uri
from ..subject import Guardian, Subject

__all__ = [
    "DEFAULT_PURPOSES",
    "ConsentCheck",
    "ConsentService",
    "Grant",
    "NoticeRef",
    "Purpose",
    "verify_receipt",
]


@attrs.frozen
class Purpose:
    """A processing purpose; ``separate`` marks those needing separate consent (PI-SEP)."""

    name: str = attrs.field(validator=attrs.validators.matches_re(r"^[a-z0-9][a-z0-9._-]*$"))
    zh: str
    en: str
    separate: bool = False
    legal_ref: str = ""


DEFAULT_PURPOSES: tuple[Purpose, ...] = (
    Purpose("service", "提供生成式人工智能服务", "Providing the generative-AI service",
            legal_ref="PIPL Art. 13(1)"),
    Purpose("service-agreement", "接受服务协议", "Accepting the service agreement",
            legal_ref="Interim Measures Art. 9"),
    Purpose("training", "使用输入内容训练和优化模型", "Training models on user inputs",
            separate=True, legal_ref="Interim Measures Art. 7; TC260-003"),
    Purpose("personalisation", "个性化推荐", "Personalisation", legal_ref="PIPL Art. 24"),
    Purpose("third-party", "向其他个人信息处理者提供", "Provision to another handler",
            separate=True, legal_ref="PIPL Art. 23"),
    Purpose("cross-border", "向境外提供个人信息", "Cross-border transfer", separate=True,
            legal_ref="PIPL Art. 39"),
    Purpose("sensitive", "处理敏感个人信息（生物识别、声纹、人脸等）",
            "Sensitive personal information (biometrics, voice, face)", separate=True,
            legal_ref="PIPL Art. 29"),
    Purpose("public-disclosure", "公开个人信息", "Public disclosure", separate=True,
            legal_ref="PIPL Art. 25"),
)


@attrs.frozen
class NoticeRef:
    """The privacy notice (or agreement) a grant was given against: version and hash."""

    version: str = attrs.field(validator=attrs.validators.min_len(1))
    sha256: str = attrs.field(validator=attrs.validators.matches_re(r"^[0-9a-f]{64}$"))


@attrs.frozen
class Grant:
    """The current state of one subject's consent to one purpose."""

    purpose: str
    state: str
    notice_version: str | None
    notice_sha256: str | None
    at: dt.datetime
    expires_at: dt.datetime | None
    method: str
    guardian_id: str | None

    def active(self, now: dt.datetime) -> bool:
        return self.state == "granted" and (self.expires_at is None or now < self.expires_at)


_DDL = [
    "CREATE TABLE IF NOT EXISTS gc_consent (subject TEXT NOT NULL, purpose TEXT NOT NULL, "
    "state TEXT NOT NULL, notice_version TEXT, notice_sha256 TEXT, at TEXT NOT NULL, "
    "expires_at TEXT, method TEXT NOT NULL, guardian_id TEXT, PRIMARY KEY (subject, purpose))",
    "CREATE TABLE IF NOT EXISTS gc_consent_notices (purpose TEXT PRIMARY KEY, "
    "version TEXT NOT NULL, sha256 TEXT NOT NULL)",
]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_receipt(token: str, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """Verify a consent receipt (compact JWS, EdDSA) and return its claims."""
    try:
        header_b64, payload_b64, sig_b64 = token.split(".")
        header = json.loads(_unb64(header_b64))
        if header.get("alg") != "EdDSA":
            raise SigningError("the receipt is not signed with EdDSA")
        public_key.verify(_unb64(sig_b64), f"{header_b64}.{payload_b64}".encode())
        claims: dict[str, Any] = json.loads(_unb64(payload_b64))
    except (ValueError, InvalidSignature) as exc:
        raise SigningError("the consent receipt does not verify") from exc
    return claims


@implements("PI-14", "PI-15", "PI-16", "PI-SEP", "PI-28/31", "IM-7", "IM-11a")
class ConsentService:
    """Grant, withdraw and check consent; see the module docstring."""

    def __init__(
        self,
        db: SQLDatabase | str,
        ledger: Ledger,
        *,
        purposes: Iterable[Purpose] = DEFAULT_PURPOSES,
        clock: Clock | None = None,
        tz: dt.tzinfo = SHANGHAI,
        max_staleness: float = 5.0,
        pubsub_uri: str | None = None,
        receipt_key: Ed25519PrivateKey | None = None,
        controller: str = "",
    ) -> None:
        self.db = SQLDatabase(db) if isinstance(db, str) else db
        self.db.executescript(_DDL)
        self.ledger = ledger
        self.clock: Clock = clock or SystemClock()
        self.tz = tz
        self.max_staleness = max_staleness
        self.purposes: dict[str, Purpose] = {p.name: p for p in purposes}
        self.controller = controller
        self._key = receipt_key or getattr(ledger, "_key_obj", None) or generate_ed25519()
        self._cache: dict[tuple[str, str], tuple[float, Grant | None]] = {}
        self._notices: dict[str, tuple[float, NoticeRef | None]] = {}
        self._lock = threading.Lock()
        self._channel = "genai-compliance:consent"
        self._redis: Any = None
        if pubsub_uri:
            self._start_pubsub(pubsub_uri)

    @classmethod
    def from_compliance(cls, compliance: Any) -> ConsentService:
        """Tables in ``stores.consent_db`` (a SQL URI) or the ledger's database; pub/sub
        invalidation when ``stores.consent`` is ``redis://``; settings from ``[consent]``."""
        settings: Mapping[str, Any] = compliance.settings.get("consent", {})
        uri = compliance.store_uris.get("consent_db")
        db = SQLDatabase(uri) if uri else compliance.ledger.db
        purposes = list(DEFAULT_PURPOSES)
        for extra in settings.get("purposes", []):
            purposes.append(Purpose(**extra))
        pubsub = compliance.store_uris.get("consent")
        if pubsub and parse_uri(pubsub).kind != "redis":
            pubsub = None
        return cls(db, compliance.ledger, purposes=purposes, clock=compliance.clock,
                   tz=compliance.tz, max_staleness=float(settings.get("max_staleness", 5.0)),
                   pubsub_uri=pubsub, controller=compliance.provider.legal_name)

    # -- purposes and notices --------------------------------------------------------------
    def add_purpose(self, purpose: Purpose) -> None:
        self.purposes[purpose.name] = purpose

    def _purpose(self, name: str) -> Purpose:
        if name not in self.purposes:
            raise ConfigurationError(
                f"unknown consent purpose {name!r}; known: {', '.join(sorted(self.purposes))}"
                " (add your own with add_purpose)", field="purpose", value=name)
        return self.purposes[name]

    def set_notice(self, purpose: str, notice: NoticeRef) -> None:
        """Make ``notice`` current for ``purpose``: grants against older notices stop
        counting and the subject must consent again (PI-14: re-consent on change)."""
        self._purpose(purpose)
        with self.db.transaction(write=True) as tx:
            tx.execute("INSERT INTO gc_consent_notices(purpose, version, sha256) VALUES "
                       "(?, ?, ?) ON CONFLICT (purpose) DO UPDATE SET version = "
                       "excluded.version, sha256 = excluded.sha256",
                       (purpose, notice.version, notice.sha256))
        self.ledger.append("consent.notice", {"purpose": purpose, "version": notice.version,
                                              "sha256": notice.sha256})
        self._invalidate(None)

    def current_notice(self, purpose: str) -> NoticeRef | None:
        with self.db.transaction() as tx:
            row = tx.execute("SELECT version, sha256 FROM gc_consent_notices WHERE purpose = ?",
                             (purpose,)).fetchone()
        return None if row is None else NoticeRef(row[0], row[1])

    # -- grants ------------------------------------------------------------------------
    def _today(self) -> dt.date:
        return self.clock.now().astimezone(self.tz).date()

    def grant(
        self,
        subject: Subject,
        purpose: str,
        *,
        notice: NoticeRef,
        method: str = "click",
        evidence: Mapping[str, Any] | None = None,
        guardian: Guardian | None = None,
        ttl: dt.timedelta | None = None,
    ) -> str:
        """Record consent and return a signed receipt (compact JWS).

        For a subject under 14 only a guardian's grant counts (PIPL Art. 31): pass
        ``guardian=`` (it must match ``subject.guardian`` when that is set), otherwise
        :class:`GuardianConsentRequired` is raised.
        """
        p = self._purpose(purpose)
        if self._under_14(subject):
            if guardian is None:
                raise GuardianConsentRequired(
                    f"{subject.user_id!r} is under 14: only a guardian's consent counts for "
                    f"{purpose!r}; call grant(..., guardian=Guardian(...))",
                    purposes=[purpose], rules=("PI-28/31",))
            if subject.guardian is not None and subject.guardian.guardian_id != \
                    guardian.guardian_id:
                raise GuardianConsentRequired(
                    f"guardian {guardian.guardian_id!r} is not the recorded guardian of this "
                    "subject", purposes=[purpose], rules=("PI-28/31",))
        now = self.clock.now()
        expires = now + ttl if ttl else None
        ref = self.ledger.pseudonym(subject)
        with self.db.transaction(write=True) as tx:
            tx.execute(
                "INSERT INTO gc_consent(subject, purpose, state, notice_version, notice_sha256,"
                " at, expires_at, method, guardian_id) VALUES (?, ?, 'granted', ?, ?, ?, ?, ?, "
                "?) ON CONFLICT (subject, purpose) DO UPDATE SET state = 'granted', "
                "notice_version = excluded.notice_version, notice_sha256 = "
                "excluded.notice_sha256, at = excluded.at, expires_at = excluded.expires_at, "
                "method = excluded.method, guardian_id = excluded.guardian_id",
                (ref, purpose, notice.version, notice.sha256, now.isoformat(),
                 expires.isoformat() if expires else None, method,
                 guardian.guardian_id if guardian else None))
        record = self.ledger.append("consent.grant", {
            "purpose": purpose, "separate": p.separate, "notice_version": notice.version,
            "notice_sha256": notice.sha256, "method": method,
            "guardian": guardian.guardian_id if guardian else None,
            "expires_at": expires.isoformat() if expires else None,
            "evidence": dict(evidence or {})}, subject=subject)
        self._invalidate((ref, purpose))
        return self._receipt(ref, p, notice, method, now, expires, guardian, record.seq)

    def _under_14(self, subject: Subject) -> bool:
        return bool(subject.is_under_14_on(self._today()))

    def withdraw(self, subject: Subject, purpose: str, *, method: str = "settings") -> bool:
        """Withdraw at once (PI-15); returns whether a grant was active."""
        self._purpose(purpose)
        ref = self.ledger.pseudonym(subject)
        now = self.clock.now()
        with self.db.transaction(write=True) as tx:
            row = tx.execute("SELECT state FROM gc_consent WHERE subject = ? AND purpose = ?",
                             (ref, purpose)).fetchone()
            tx.execute("UPDATE gc_consent SET state = 'withdrawn', at = ?, method = ? WHERE "
                       "subject = ? AND purpose = ?", (now.isoformat(), method, ref, purpose))
        self.ledger.append("consent.withdraw", {"purpose": purpose, "method": method},
                           subject=subject)
        self._invalidate((ref, purpose))
        return bool(row and row[0] == "granted")

    def state(self, subject: Subject, purpose: str) -> Grant | None:
        """The stored grant (cached for at most ``max_staleness`` seconds)."""
        ref = self.ledger.pseudonym(subject)
        key = (ref, purpose)
        mono = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and mono - hit[0] < self.max_staleness:
            return hit[1]
        with self.db.transaction() as tx:
            row = tx.execute("SELECT purpose, state, notice_version, notice_sha256, at, "
                             "expires_at, method, guardian_id FROM gc_consent WHERE subject = ?"
                             " AND purpose = ?", key).fetchone()
        grant = None if row is None else Grant(
            row[0], row[1], row[2], row[3], dt.datetime.fromisoformat(row[4]),
            dt.datetime.fromisoformat(row[5]) if row[5] else None, row[6], row[7])
        with self._lock:
            self._cache[key] = (mono, grant)
        return grant

    def missing(self, subject: Subject | None, purposes: Sequence[str]) -> list[str]:
        """The purposes among ``purposes`` without an active, current grant."""
        if subject is None:
            return list(purposes)
        now = self.clock.now()
        under_14 = self._under_14(subject)
        out = []
        for purpose in purposes:
            self._purpose(purpose)
            grant = self.state(subject, purpose)
            ok = grant is not None and grant.active(now)
            if ok and under_14 and grant is not None and not grant.guardian_id:
                ok = False
            if ok and grant is not None:
                notice = self._cached_notice(purpose)
                if notice is not None and notice.sha256 != grant.notice_sha256:
                    ok = False
            if not ok:
                out.append(purpose)
        return out

    def _cached_notice(self, purpose: str) -> NoticeRef | None:
        mono = time.monotonic()
        with self._lock:
            hit = self._notices.get(purpose)
        if hit is not None and mono - hit[0] < self.max_staleness:
            return hit[1]
        notice = self.current_notice(purpose)
        with self._lock:
            self._notices[purpose] = (mono, notice)
        return notice

    def require(self, subject: Subject | None, purposes: Sequence[str]) -> None:
        """Raise :class:`ConsentRequired` (or :class:`GuardianConsentRequired` for under-14s)
        listing the purposes without an active grant and the notices to show."""
        missing = self.missing(subject, purposes)
        if not missing:
            return
        notices = {p: attrs.asdict(n) for p in missing if (n := self.current_notice(p))}
        if subject is not None and self._under_14(subject):
            raise GuardianConsentRequired(
                f"a guardian's consent is needed for {', '.join(missing)} (subject under 14)",
                purposes=missing, notice=notices, rules=("PI-28/31",))
        who = "an anonymous caller" if subject is None else repr(subject.user_id)
        raise ConsentRequired(
            f"no consent from {who} for {', '.join(missing)}; show the notice and call "
            "consent.grant()", purposes=missing, notice=notices,
            rules=("PI-14",) + (("PI-SEP",) if any(self.purposes[p].separate
                                                   for p in missing) else ()))

    def has_guardian_consent(self, subject: Subject) -> bool:
        """Whether a guardian consented to ``service`` for this subject (minors module)."""
        grant = self.state(subject, "service")
        return bool(grant and grant.active(self.clock.now()) and grant.guardian_id)

    # -- cache invalidation ------------------------------------------------------------
    def _invalidate(self, key: tuple[str, str] | None) -> None:
        with self._lock:
            if key is None:
                self._cache.clear()
                self._notices.clear()
            else:
                self._cache.pop(key, None)
        if self._redis is not None:
            try:
                self._redis.publish(self._channel, json.dumps(list(key) if key else None))
            except Exception:  # other replicas fall back to the staleness bound
                pass

    def _start_pubsub(self, uri: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(uri, socket_timeout=5)
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)

        def handle(message: Mapping[str, Any]) -> None:
            data = json.loads(message["data"])
            with self._lock:
                if data is None:
                    self._cache.clear()
                    self._notices.clear()
                else:
                    self._cache.pop((data[0], data[1]), None)

        def on_error(exc: BaseException, ps: Any, thread: Any) -> None:
            thread.stop()  # connection lost or closing: fall back to the staleness bound

        pubsub.subscribe(**{self._channel: handle})
        self._pubsub = pubsub
        self._pubsub_thread = pubsub.run_in_thread(sleep_time=0.05, daemon=True,
                                                   exception_handler=on_error)

    def close(self) -> None:
        thread = getattr(self, "_pubsub_thread", None)
        if thread is not None:
            thread.stop()
            thread.join(timeout=2)
            self._pubsub.close()
        if self._redis is not None:
            self._redis.close()

    # -- receipts ----------------------------------------------------------------------
    @property
    def receipt_public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def _receipt(self, ref: str, p: Purpose, notice: NoticeRef, method: str, now: dt.datetime,
                 expires: dt.datetime | None, guardian: Guardian | None, seq: int) -> str:
        header = {"alg": "EdDSA", "typ": "JWT", "kid": key_id(self._key.public_key())}
        claims = {
            "version": "genai-compliance/consent-receipt/1 (after ISO/IEC 27560)",
            "jurisdiction": "CN", "iat": int(now.timestamp()), "consentTimestamp":
            now.isoformat(), "collectionMethod": method, "consentReceiptID": f"seq-{seq}",
            "piiPrincipalId": ref, "piiControllers": [{"piiController": self.controller}],
            "policyUrl": None, "notice": {"version": notice.version, "sha256": notice.sha256},
            "services": [{"service": p.name, "purposes": [{
                "purpose": p.en, "purposeZh": p.zh, "consentType": "EXPLICIT",
                "separateConsent": p.separate, "legalRef": p.legal_ref,
                "termination": expires.isoformat() if expires else None}]}],
            "guardian": guardian.guardian_id if guardian else None,
            "ledgerSeq": seq,
        }
        validate(claims, "consent-receipt", what="consent receipt")
        h = _b64(json.dumps(header, separators=(",", ":")).encode())
        c = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
        return f"{h}.{c}.{_b64(self._key.sign(f'{h}.{c}'.encode()))}"

    # -- data-subject requests (PI-RIGHTS, IM-11b) ---------------------------------------
    @implements("PI-RIGHTS", "IM-11b")
    def export_subject(self, subject: Subject) -> dict[str, Any]:
        """Everything held on the subject: consent state and ledger records (JSON)."""
        ref = self.ledger.pseudonym(subject)
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT purpose, state, notice_version, at, expires_at, method, "
                              "guardian_id FROM gc_consent WHERE subject = ? ORDER BY purpose",
                              (ref,)).fetchall()
        consents = [dict(zip(("purpose", "state", "notice_version", "at", "expires_at",
                              "method", "guardian_id"), r, strict=True)) for r in rows]
        records = [r.to_json() for r in self.ledger.records(subject=subject)]
        out = {"subject": ref, "generated_at": self.clock.now().isoformat(),
               "consents": consents, "records": records}
        validate(out, "dsr-export", what="data-subject export")
        self.ledger.append("dsr.export", {"consents": len(consents), "records": len(records)},
                           subject=subject)
        return out

    @implements("PI-RIGHTS")
    def erase_subject(self, subject: Subject, *, reason: str = "request") -> int:
        """Delete the subject's consent rows and destroy its pseudonym key, so remaining
        ledger records can no longer be linked to the person. Returns rows deleted."""
        ref = self.ledger.pseudonym(subject)
        self.ledger.append("dsr.erase", {"reason": reason}, subject=subject)
        with self.db.transaction(write=True) as tx:
            count = len(tx.execute("SELECT purpose FROM gc_consent WHERE subject = ?",
                                   (ref,)).fetchall())
            tx.execute("DELETE FROM gc_consent WHERE subject = ?", (ref,))
        self.ledger.forget_subject(subject)
        self._invalidate(None)
        return count


class ConsentCheck(Check):
    """Guard check: every purpose of the guarded call is granted and current (PI-14)."""

    name = "consent"
    rules = ("PI-14", "PI-SEP", "IM-9")

    def __init__(self, service: ConsentService) -> None:
        self.service = service

    @classmethod
    def from_compliance(cls, compliance: Any) -> ConsentCheck:
        return cls(compliance.consent)

    def before(self, ctx: CallContext) -> None:
        if ctx.purposes:
            self.service.require(ctx.subject, ctx.purposes)
