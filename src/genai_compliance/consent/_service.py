"""The PIPL consent ledger: purposes, grants, withdrawal, guardians, receipts, requests.

PIPL Art. 13-17 (PI-14, PI-15, PI-17), separate consent (PI-SEP: Art. 23, 25, 29, 39), minors
under 14 (PI-28/31: only a guardian's consent counts), individuals' requests (PI-RIGHTS,
IM-11b), Interim Measures Art. 7 (training on user inputs only with consent) and Art. 9
(agreement acceptance is a grant on the purpose ``service-agreement``).

State lives in one table (``gc_consent``) on SQLite or PostgreSQL, keyed by the ledger's
pseudonym of the subject, so erasing the subject's pseudonym key (``ledger.forget_subject``)
also makes the consent rows unreachable. Every grant, withdrawal and request is a ledger
record. ``require`` is served from an in-process cache that is never older than
``max_staleness`` seconds on the service's clock; a withdrawal clears it at once in this
process and, with a consent store that declares the ``"pubsub"`` capability (``redis://``),
in every replica through pub/sub.

Required and optional purposes (PI-16, PIPL Art. 16): a purpose is *required* when the service
cannot be provided without it, and only a missing required consent refuses a guarded call.
:attr:`Purpose.required` says which (by default: required unless the purpose needs separate
consent); the guard's ``optional_purposes`` are optional for that call whatever the purpose
says. :meth:`ConsentService.decide` splits a call's purposes into what is missing, granted and
declined; :class:`ConsentCheck` refuses only for the first and records the others.

No error message names the subject by its user id: messages carry the ledger's keyed
pseudonym (issue 15, PI-RIGHTS).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
import json
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .._exports import deprecated
from .._fork import reset_after_fork
from ..checks import UNLABELLED_PURPOSE, CallContext, Check
from ..clock import SHANGHAI, Clock, SystemClock
from ..crypto import generate_ed25519, jws_sign, jws_verify, key_id
from ..errors import (
    ConfigurationError,
    ConsentRequired,
    GuardianConsentRequired,
    StoreUnavailable,
)
from ..ledger import Ledger
from ..rules import implements
from ..schemas import validate
from ..stores import (
    PubSubStore,
    SQLDatabase,
    Store,
    Subscription,
    open_store,
    require_capabilities,
)
from ..stores import pubsub as pubsub_of
from ..subject import Guardian, Subject

if TYPE_CHECKING:
    from ..context import DutyContext, HasContext

__all__ = [
    "DEFAULT_PURPOSES",
    "ConsentCheck",
    "ConsentDecision",
    "ConsentService",
    "Grant",
    "NoticeRef",
    "Purpose",
    "purposes_from_settings",
    "verify_receipt",
]


@attrs.frozen
class Purpose:
    """A processing purpose; ``separate`` marks those needing separate consent (PI-SEP).

    ``required`` says whether the service cannot be provided without this purpose (PI-16,
    PIPL Art. 16): only a missing *required* consent refuses a guarded call. Left ``None`` it
    follows ``separate``: a purpose needing separate consent is optional unless marked
    required (see :attr:`is_required` and docs/consent.md).

    .. versionchanged:: 0.2
       ``required``.
    """

    name: str = attrs.field(validator=attrs.validators.matches_re(r"^[a-z0-9][a-z0-9._-]*$"))
    zh: str
    en: str
    separate: bool = False
    legal_ref: str = ""
    required: bool | None = None

    @property
    def is_required(self) -> bool:
        """Whether a missing consent to this purpose refuses the call (PI-16)."""
        return (not self.separate) if self.required is None else self.required


DEFAULT_PURPOSES: tuple[Purpose, ...] = (
    Purpose("service", "提供生成式人工智能服务", "Providing the generative-AI service",
            legal_ref="PIPL Art. 13(1)"),
    Purpose("service-agreement", "接受服务协议", "Accepting the service agreement",
            legal_ref="Interim Measures Art. 9"),
    Purpose("training", "使用输入内容训练和优化模型", "Training models on user inputs",
            separate=True, legal_ref="Interim Measures Art. 7; TC260-003"),
    # PIPL Art. 24 (PI-24): a non-personalised option must be offered, so never required
    Purpose("personalisation", "个性化推荐", "Personalisation", legal_ref="PIPL Art. 24",
            required=False),
    Purpose("third-party", "向其他个人信息处理者提供", "Provision to another handler",
            separate=True, legal_ref="PIPL Art. 23"),
    # Art. 38-39: a call that declares it transfers abroad does so while it runs, and the
    # separate consent must come first; a later, separable transfer is an optional purpose
    Purpose("cross-border", "向境外提供个人信息", "Cross-border transfer", separate=True,
            legal_ref="PIPL Art. 39", required=True),
    # Art. 28-29: sensitive PI only with sufficient necessity and separate consent; a call
    # that processes it cannot be served without that consent (Art. 16's exception)
    Purpose("sensitive", "处理敏感个人信息（生物识别、声纹、人脸等）",
            "Sensitive personal information (biometrics, voice, face)", separate=True,
            legal_ref="PIPL Art. 29", required=True),
    Purpose("public-disclosure", "公开个人信息", "Public disclosure", separate=True,
            legal_ref="PIPL Art. 25"),
    # LM-9: output without the explicit label, only on the user's request; asked for per
    # call, so never required (genai_compliance.checks.unlabelled_output)
    Purpose(UNLABELLED_PURPOSE, "申请提供无显式标识的生成内容",
            "Receiving output without the explicit label, on request",
            legal_ref="Labelling Measures Art. 9", required=False),
)

_PURPOSE_KEYS: Mapping[str, type] = {"name": str, "zh": str, "en": str, "separate": bool,
                                      "legal_ref": str, "required": bool}


def purposes_from_settings(entries: object,
                           base: Iterable[Purpose] = DEFAULT_PURPOSES) -> list[Purpose]:
    """The purposes of ``[[consent.purposes]]`` entries on top of ``base``.

    An entry naming a known purpose changes only the keys it gives (e.g. ``name =
    "cross-border"``, ``required = false``); a new purpose needs ``name``, ``zh`` and ``en``.
    Unknown keys and wrong types are a :class:`ConfigurationError` naming the key.

    .. versionadded:: 0.2
    """
    purposes = {p.name: p for p in base}
    if not isinstance(entries, list | tuple):
        raise ConfigurationError(
            f"[consent] purposes must be a list of tables ([[consent.purposes]]), got "
            f"{type(entries).__name__}", field="consent.purposes", value=entries)
    for i, entry in enumerate(entries):
        where = f"[consent] purposes[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigurationError(f"{where} must be a table with name, zh, en, …; got "
                                     f"{type(entry).__name__}", field="consent.purposes",
                                     value=entry)
        for key, value in entry.items():
            if key not in _PURPOSE_KEYS:
                close = difflib.get_close_matches(str(key), list(_PURPOSE_KEYS), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigurationError(
                    f"{where} has unknown key {key!r}{hint} (valid: "
                    f"{', '.join(_PURPOSE_KEYS)})", field=f"consent.purposes.{key}",
                    value=value)
            if not isinstance(value, _PURPOSE_KEYS[key]):
                raise ConfigurationError(
                    f"{where}.{key} must be a {_PURPOSE_KEYS[key].__name__}, got "
                    f"{value!r}", field=f"consent.purposes.{key}", value=value)
        name = entry.get("name")
        if name is None:
            raise ConfigurationError(f"{where} needs a name", field="consent.purposes.name")
        fields = {k: v for k, v in entry.items() if k != "name"}
        try:
            if name in purposes:
                purposes[name] = attrs.evolve(purposes[name], **fields)
            else:
                missing = [k for k in ("zh", "en") if k not in entry]
                if missing:
                    raise ConfigurationError(
                        f"{where} defines the new purpose {name!r} and needs "
                        f"{' and '.join(missing)} (the notice text in Chinese and English)",
                        field=f"consent.purposes.{missing[0]}", value=name)
                purposes[name] = Purpose(name=name, **fields)
        except ValueError as exc:
            if isinstance(exc, ConfigurationError):
                raise
            raise ConfigurationError(
                f"{where}.name {name!r} is not a purpose name: use lower-case letters, "
                "digits, '.', '_' and '-'", field="consent.purposes.name", value=name) from exc
    return list(purposes.values())


@attrs.frozen
class ConsentDecision:
    """How one call's purposes stand for one subject (PI-14, PI-16).

    ``missing`` are required purposes without an active, current grant: the call must be
    refused. ``optional_granted`` and ``optional_declined`` split the optional ones; a declined
    optional purpose never refuses the call, but its use must not happen.

    .. versionadded:: 0.2
    """

    missing: tuple[str, ...] = ()
    optional_granted: tuple[str, ...] = ()
    optional_declined: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return bool(self.missing)


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




def verify_receipt(token: str, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """Verify a consent receipt (compact JWS, EdDSA) and return its claims."""
    _header, claims = jws_verify(token, public_key, what="consent receipt")
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
        pubsub: Store | None = None,
    ) -> None:
        self.db = SQLDatabase(db) if isinstance(db, str) else db
        self.db.executescript(_DDL)
        self.ledger = ledger
        self._in_memory = any(db.dialect == "sqlite" and db.uri.path == ":memory:"
                              for db in (self.db, ledger.db))
        self.clock: Clock = clock or SystemClock()
        self.tz = tz
        self.max_staleness = max_staleness
        self.purposes: dict[str, Purpose] = {p.name: p for p in purposes}
        self.controller = controller
        self._key = receipt_key or getattr(ledger, "signer", None) or generate_ed25519()
        # (pseudonym, purpose) -> (clock.monotonic() when read, grant)
        self._cache: dict[tuple[str, str], tuple[float, Grant | None]] = {}
        self._notices: dict[str, tuple[float, NoticeRef | None]] = {}
        # user id -> ledger pseudonym, so a cache hit needs no I/O at all
        self._refs: dict[str, str] = {}
        self._lock = threading.Lock()
        self._remote = threading.Condition(self._lock)
        self._remote_count = 0
        self._channel = "genai-compliance:consent"
        self._origin = secrets.token_hex(8)
        #: where invalidations are published to other replicas (a ``"pubsub"`` store)
        self._bus: PubSubStore | None = None
        self._subscription: Subscription | None = None
        self._owned_bus: Store | None = None
        #: a forked child subscribes again at its first use (see _forked)
        self._resubscribe = False
        self._pubsub_store: Store | None = None
        if pubsub is None and pubsub_uri:
            pubsub = self._owned_bus = open_store(pubsub_uri)
        if pubsub is not None:
            require_capabilities(pubsub, "pubsub", purpose="consent invalidation")
            self._start_pubsub(pubsub)
            self._pubsub_store = pubsub
        reset_after_fork(self)

    @classmethod
    def from_context(cls, ctx: DutyContext) -> ConsentService:
        """Tables in ``ctx.database("consent")`` (``stores.consent_db`` or the ledger's
        database); invalidations published through ``stores.consent`` when that store
        declares the ``"pubsub"`` capability (Redis: every replica); settings from
        ``[consent]``.

        .. versionadded:: 0.2
        """
        settings = ctx.section("consent")
        purposes = purposes_from_settings(settings.get("purposes", []))
        bus: Store | None = None
        if "consent" in ctx.configured:
            store = ctx.store("consent")
            bus = store if pubsub_of(store) is not None else None
        return cls(ctx.database("consent"), ctx.ledger, purposes=purposes, clock=ctx.clock,
                   tz=ctx.tz, max_staleness=float(settings.get("max_staleness", 5.0)),
                   pubsub=bus, controller=ctx.provider.legal_name)

    @classmethod
    def from_compliance(cls, compliance: HasContext) -> ConsentService:
        """Deprecated: use :meth:`from_context`.

        .. deprecated:: 0.2
        """
        deprecated("ConsentService.from_compliance",
                   "ConsentService.from_context(compliance.context)")
        return cls.from_context(compliance.context)

    @property
    def in_memory(self) -> bool:
        """Whether the consent state (or the ledger's pseudonym keys) lives in this process
        only (SQLite ``:memory:``, one database per thread): reading it is no I/O and must
        stay on the calling thread."""
        return self._in_memory

    def _ref(self, subject: Subject) -> str:
        ref = self._refs.get(subject.user_id)
        if ref is None:
            ref = self.ledger.pseudonym(subject)
            with self._lock:
                if len(self._refs) > 100_000:
                    self._refs.clear()
                self._refs[subject.user_id] = ref
        return ref

    # -- purposes and notices --------------------------------------------------------------
    def add_purpose(self, purpose: Purpose) -> None:
        self.purposes[purpose.name] = purpose

    def classify(self, purposes: Sequence[str],
                 optional: Sequence[str] = ()) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Split a call's purposes into ``(required, optional)`` (PI-16).

        A purpose in ``purposes`` is required when :attr:`Purpose.is_required` says so and
        optional otherwise: a purpose the provider declared not necessary for the service
        never refuses it, whichever list a guard puts it in. ``optional`` are always optional.
        Unknown names raise :class:`ConfigurationError`.
        """
        required: list[str] = []
        opt: list[str] = []
        for name in purposes:
            target = required if self._purpose(name).is_required else opt
            if name not in target:
                target.append(name)
        for name in optional:
            self._purpose(name)
            if name not in required and name not in opt:
                opt.append(name)
        return tuple(required), tuple(opt)

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
                    f"this subject is under 14: only a guardian's consent counts for "
                    f"{purpose!r}; call grant(..., guardian=Guardian(...))",
                    purposes=[purpose], subject=self._ref(subject), rules=("PI-28/31",))
            if subject.guardian is not None and subject.guardian.guardian_id != \
                    guardian.guardian_id:
                raise GuardianConsentRequired(
                    "the guardian given is not the recorded guardian of this subject; pass "
                    "the guardian recorded on the Subject", purposes=[purpose],
                    subject=self._ref(subject), rules=("PI-28/31",))
        now = self.clock.now()
        expires = now + ttl if ttl else None
        ref = self._ref(subject)
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

    def _under_14(self, subject: Subject, now: dt.datetime | None = None) -> bool:
        today = self._today() if now is None else now.astimezone(self.tz).date()
        return bool(subject.is_under_14_on(today))

    def withdraw(self, subject: Subject, purpose: str, *, method: str = "settings") -> bool:
        """Withdraw at once (PI-15); returns whether a grant was active."""
        self._purpose(purpose)
        ref = self._ref(subject)
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

    def state(self, subject: Subject, purpose: str, *, fresh: bool = False) -> Grant | None:
        """The stored grant (cached for at most ``max_staleness`` seconds of the clock;
        ``fresh=True`` reads the store)."""
        key = (self._ref(subject), purpose)
        if not fresh:
            found, grant = self._cached_grant(key)
            if found:
                return grant
        mono = self.clock.monotonic()
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

    def _cached_grant(self, key: tuple[str, str]) -> tuple[bool, Grant | None]:
        """``(True, grant)`` from a cache entry younger than ``max_staleness``, else
        ``(False, None)``."""
        if self._resubscribe:
            self._resume_pubsub()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and self.clock.monotonic() - hit[0] < self.max_staleness:
            return True, hit[1]
        return False, None

    def missing(self, subject: Subject | None, purposes: Sequence[str], *,
                fresh: bool = False) -> list[str]:
        """The purposes among ``purposes`` without an active, current grant (``fresh=True``
        reads the store instead of the cache)."""
        if subject is None:
            for purpose in purposes:
                self._purpose(purpose)
            return list(purposes)
        now = self.clock.now()
        under_14 = self._under_14(subject, now)
        out = []
        for purpose in purposes:
            self._purpose(purpose)
            grant = self.state(subject, purpose, fresh=fresh)
            notice = None
            if grant is not None and grant.active(now):
                notice = self._cached_notice(purpose, fresh=fresh)
            if not self._counts(grant, notice, now, under_14):
                out.append(purpose)
        return out

    @staticmethod
    def _counts(grant: Grant | None, notice: NoticeRef | None, now: dt.datetime,
                under_14: bool) -> bool:
        """Whether ``grant`` is an active consent against the current ``notice``."""
        if grant is None or not grant.active(now):
            return False
        if under_14 and not grant.guardian_id:
            return False  # PI-28/31: only a guardian's consent counts
        return notice is None or notice.sha256 == grant.notice_sha256

    def decide(self, subject: Subject | None, purposes: Sequence[str],
               optional: Sequence[str] = ()) -> ConsentDecision:
        """How ``purposes`` (classified by :meth:`classify`) and ``optional`` stand for
        ``subject``: the required ones missing, the optional ones granted and declined."""
        required, opt = self.classify(purposes, optional)
        missing = set(self.missing(subject, required + opt))
        return ConsentDecision(
            missing=tuple(p for p in required if p in missing),
            optional_granted=tuple(p for p in opt if p not in missing),
            optional_declined=tuple(p for p in opt if p in missing))

    def cached_decision(self, subject: Subject | None, purposes: Sequence[str],
                        optional: Sequence[str] = ()) -> ConsentDecision | None:
        """:meth:`decide` answered from the cache alone, with no I/O; ``None`` when some
        entry is absent or stale (then call :meth:`decide`, off the event loop)."""
        required, opt = self.classify(purposes, optional)
        if subject is None:
            return ConsentDecision(missing=required, optional_declined=opt)
        ref = self._refs.get(subject.user_id)
        if ref is None:
            return None
        now = self.clock.now()
        under_14 = self._under_14(subject, now)
        missing: set[str] = set()
        for purpose in required + opt:
            found, grant = self._cached_grant((ref, purpose))
            if not found:
                return None
            notice = None
            if grant is not None and grant.active(now):
                found, notice = self._cached_notice_hit(purpose)
                if not found:
                    return None
            if not self._counts(grant, notice, now, under_14):
                missing.add(purpose)
        return ConsentDecision(
            missing=tuple(p for p in required if p in missing),
            optional_granted=tuple(p for p in opt if p not in missing),
            optional_declined=tuple(p for p in opt if p in missing))

    def _cached_notice_hit(self, purpose: str) -> tuple[bool, NoticeRef | None]:
        with self._lock:
            hit = self._notices.get(purpose)
        if hit is not None and self.clock.monotonic() - hit[0] < self.max_staleness:
            return True, hit[1]
        return False, None

    def _cached_notice(self, purpose: str, *, fresh: bool = False) -> NoticeRef | None:
        if not fresh:
            found, notice = self._cached_notice_hit(purpose)
            if found:
                return notice
        mono = self.clock.monotonic()
        notice = self.current_notice(purpose)
        with self._lock:
            self._notices[purpose] = (mono, notice)
        return notice

    def require(self, subject: Subject | None, purposes: Sequence[str]) -> None:
        """Raise :class:`ConsentRequired` (or :class:`GuardianConsentRequired` for under-14s)
        listing the purposes without an active grant and the notices to show.

        Every purpose passed is required here, whatever :attr:`Purpose.required` says; the
        guard's :class:`ConsentCheck` uses :meth:`decide` instead. The message names the
        subject by its ledger pseudonym, never by its user id.
        """
        missing = self.missing(subject, purposes)
        if missing:
            raise self.refusal(subject, missing)

    def refusal(self, subject: Subject | None, missing: Sequence[str]) -> ConsentRequired:
        """The error refusing a call for the ``missing`` purposes, with the notices to show
        and the subject's pseudonym (``.subject``) as evidence."""
        missing = list(missing)
        notices = {p: attrs.asdict(n) for p in missing if (n := self.current_notice(p))}
        ref = None if subject is None else self._ref(subject)
        if subject is not None and self._under_14(subject):
            return GuardianConsentRequired(
                f"subject {ref} is under 14: a guardian's consent is needed for "
                f"{', '.join(missing)}; show the notice to the guardian and call "
                "consent.grant(subject, purpose, notice=..., guardian=Guardian(...))",
                purposes=missing, notice=notices, subject=ref, rules=("PI-28/31",))
        who = "an anonymous caller" if ref is None else f"subject {ref}"
        return ConsentRequired(
            f"no consent from {who} for {', '.join(missing)}; show the notice and call "
            "consent.grant()", purposes=missing, notice=notices, subject=ref,
            rules=("PI-14",) + (("PI-SEP",) if any(self.purposes[p].separate
                                                   for p in missing) else ()))

    def has_guardian_consent(self, subject: Subject) -> bool:
        """Whether a guardian consented to ``service`` for this subject (minors module)."""
        grant = self.state(subject, "service")
        return bool(grant and grant.active(self.clock.now()) and grant.guardian_id)

    # -- cache invalidation ------------------------------------------------------------
    def _drop(self, key: tuple[str, str] | None) -> None:
        """Drop cache entries (all when ``key`` is None); the caller holds the lock."""
        if key is None:
            self._cache.clear()
            self._notices.clear()
            self._refs.clear()
        else:
            self._cache.pop(key, None)

    def _invalidate(self, key: tuple[str, str] | None) -> None:
        if self._resubscribe:
            self._resume_pubsub()
        with self._lock:
            self._drop(key)
        if self._bus is not None:
            try:
                self._bus.publish(self._channel, json.dumps(
                    {"origin": self._origin, "key": list(key) if key else None}).encode())
            except StoreUnavailable:  # other replicas fall back to the staleness bound
                pass

    @property
    def remote_invalidations(self) -> int:
        """How many invalidations published by other replicas this service has applied."""
        with self._lock:
            return self._remote_count

    def wait_remote_invalidation(self, after: int, timeout: float = 5.0) -> bool:
        """Block until more than ``after`` remote invalidations were applied (for health
        checks and tests); ``False`` when ``timeout`` seconds pass first."""
        with self._remote:
            return self._remote.wait_for(lambda: self._remote_count > after, timeout)

    def _handle_remote(self, message: bytes) -> None:
        data = json.loads(message)
        if isinstance(data, dict):
            if data.get("origin") == self._origin:
                return  # our own: already applied
            data = data.get("key")
        with self._remote:
            self._drop(None if data is None else (data[0], data[1]))
            self._remote_count += 1
            self._remote.notify_all()

    def _subscribe(self, bus: Store) -> None:
        """Subscribe to the invalidations on ``bus``; returns once subscribed, so a
        withdrawal published afterwards is seen here. Raises ``StoreUnavailable``."""
        found = pubsub_of(bus)
        if found is None:  # pragma: no cover - require_capabilities refused it
            return
        self._subscription = found.subscribe(self._channel, self._handle_remote)
        self._bus = found

    def _start_pubsub(self, bus: Store) -> None:
        try:
            self._subscribe(bus)
        except StoreUnavailable:
            self.close()
            raise

    def _forked(self) -> None:
        """In a forked child: the parent's subscription thread did not come along (its
        object shares the parent's connection: left alone, never closed), and the child's
        invalidations must not carry the parent's origin, which the parent skips as its
        own — a withdrawal in a worker then reached the other workers only after
        ``max_staleness``. The child gets its own origin, an empty cache, fresh locks,
        and subscribes again at its first use."""
        self._lock = threading.Lock()
        self._remote = threading.Condition(self._lock)
        self._origin = secrets.token_hex(8)
        self._cache.clear()
        self._notices.clear()
        self._refs.clear()
        self._subscription = None
        self._resubscribe = self._bus is not None
        self._bus = None

    def _resume_pubsub(self) -> None:
        """Subscribe again (a forked child, at its first use); while the store does not
        answer, the staleness bound holds and the next use tries again."""
        with self._lock:
            if not self._resubscribe:
                return
            self._resubscribe = False
        if self._pubsub_store is None:
            return
        try:
            self._subscribe(self._pubsub_store)
        except StoreUnavailable:
            with self._lock:
                self._resubscribe = True

    def close(self) -> None:
        """End the subscription; close the pub/sub store when built from ``pubsub_uri``."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        self._bus = None
        if self._owned_bus is not None:
            self._owned_bus.close()
            self._owned_bus = None

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
        return jws_sign(header, claims, self._key)

    # -- data-subject requests (PI-RIGHTS, IM-11b) ---------------------------------------
    @implements("PI-RIGHTS", "IM-11b")
    def export_subject(self, subject: Subject) -> dict[str, Any]:
        """Everything held on the subject: consent state and ledger records (JSON)."""
        ref = self._ref(subject)
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
        ref = self._ref(subject)
        self.ledger.append("dsr.erase", {"reason": reason}, subject=subject)
        with self.db.transaction(write=True) as tx:
            count = len(tx.execute("SELECT purpose FROM gc_consent WHERE subject = ?",
                                   (ref,)).fetchall())
            tx.execute("DELETE FROM gc_consent WHERE subject = ?", (ref,))
        self.ledger.forget_subject(subject)
        self._invalidate(None)
        return count


class ConsentCheck(Check):
    """Guard check: the call's required purposes are granted and current (PI-14, PI-SEP,
    IM-9); optional ones never refuse it (PI-16, PIPL Art. 16).

    ``ctx.purposes`` are classified by :meth:`ConsentService.classify` (a purpose configured
    optional stays optional) and ``ctx.optional_purposes`` are optional. A missing required
    consent raises :class:`ConsentRequired`. Optional purposes without consent go into
    ``ctx.response.optional_declined`` and the call's record (``notes["consent_declined"]``);
    the granted ones into ``notes["consent_optional_granted"]``. The declined use must not
    happen: :meth:`InputStore.training_eligible` never yields such a call's input.

    In the async driver :meth:`abefore` answers from the cache on the event loop when it can
    and otherwise reads the store in a worker thread; the other hooks do no I/O, hence
    ``blocking`` is false. The check keeps no per-call state.

    .. versionchanged:: 0.2
       Optional purposes; the async twin ``abefore``.
    """

    name = "consent"
    rules = ("PI-14", "PI-16", "PI-SEP", "IM-9")

    def __init__(self, service: ConsentService) -> None:
        self.service = service
        # only ``before`` reads the store, and its async twin keeps that off the event loop
        self.blocking = False

    def before(self, ctx: CallContext) -> None:
        if ctx.purposes or ctx.optional_purposes:
            self._apply(ctx, self.service.decide(ctx.subject, ctx.purposes,
                                                 ctx.optional_purposes))

    async def abefore(self, ctx: CallContext) -> None:
        if not (ctx.purposes or ctx.optional_purposes):
            return
        if self.service.in_memory:  # no I/O, and the state lives on this thread
            self.before(ctx)
            return
        decision = self.service.cached_decision(ctx.subject, ctx.purposes,
                                                ctx.optional_purposes)
        if decision is not None and not decision.refused:
            self._apply(ctx, decision)
            return
        # a cache miss, or a refusal (which reads the notices to show): off the loop
        await asyncio.to_thread(self.before, ctx)

    def _apply(self, ctx: CallContext, decision: ConsentDecision) -> None:
        if decision.refused:
            raise self.service.refusal(ctx.subject, decision.missing)
        if decision.optional_granted or decision.optional_declined:
            declined = ctx.response.optional_declined
            declined.extend(p for p in decision.optional_declined if p not in declined)
            ctx.notes["consent_declined"] = list(decision.optional_declined)
            ctx.notes["consent_optional_granted"] = list(decision.optional_granted)
