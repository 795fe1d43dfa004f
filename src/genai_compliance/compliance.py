"""``Compliance``: the one object a provider builds. It owns the stores, ledger and checks."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import gc
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._fork import reset_after_fork
from .checks import CallContext, Check
from .chunks import ChunkCodec
from .clock import Clock, SystemClock, zone
from .config import Provider, load_config, validate_settings
from .context import DutyContext
from .errors import ConfigurationError
from .guard import RAISE, Guard
from .ledger import DEFAULT_RETENTION, Ledger, Record, ledger_from_settings
from .stores import Store, open_store, redact_uri
from .subject import Subject

if TYPE_CHECKING:
    from .agreements import Agreements
    from .consent import ConsentService
    from .crypto import SigningCredentials
    from .incidents import Incidents
    from .interaction import Interaction
    from .labelling.pipeline import LabelResult
    from .minors import MinorProtection
    from .moderation import Moderation
    from .privacy import Privacy

__all__ = ["Compliance"]



F = TypeVar("F", bound=Callable[..., Any])

class Compliance:
    """Everything a provider configures, in one place.

    >>> compliance = Compliance(provider, ledger="sqlite:////var/lib/app/ledger.db",
    ...                         settings={"moderation": {"keyword_files": ["kw.csv"]}})
    >>> @compliance.guard(modality="text", purposes=["service"])
    ... def generate(prompt: str) -> str: ...

    :param provider: who provides the service.
    :param ledger: a ledger URI (``sqlite:///…`` or ``postgresql://…``) or a :class:`Ledger`.
    :param stores: store URIs by duty (``"minors"``, ``"consent"``, ``"illegal_use"``, …);
        ``"default"`` is used for duties not named. With none, state lives in the embedded
        SQLite file beside the ledger (``<ledger>-state.db``); ``memory://`` only when asked
        for.
    :param checks: the checks every guarded call runs, in order; ``None`` (the default)
        builds :meth:`default_checks` (the full pipeline) on first use; ``[]`` runs none —
        dropping checks is explicit, and the pipeline in force is recorded in the ledger
        once (``compliance.pipeline``).
    :param timezone: IANA zone for curfews, daily quotas and deadlines.
    :param settings: the other sections of ``compliance.toml`` (labelling, minors, …),
        validated against the shipped schemas.
    :param replicas: how many serving processes share these stores (``[deployment]
        replicas``); above 1, a duty on a per-process ``memory://`` store is refused.
    :param mode: ``"production"`` (default) refuses to build the pipeline without a keyword
        library (SR-5) unless ``[moderation] enabled = false``; ``"development"`` serves
        without one and records that it did.

    .. versionchanged:: 0.2
       Embedded SQLite state by default; the full pipeline everywhere; ``replicas`` and
       ``mode``.
    """

    def __init__(
        self,
        provider: Provider,
        *,
        ledger: str | Ledger,
        stores: Mapping[str, str] | None = None,
        checks: Sequence[Check] | None = None,
        clock: Clock | None = None,
        timezone: str = "Asia/Shanghai",
        signing_key: Any = None,
        checkpoint_every: int = 1000,
        retention: dt.timedelta = DEFAULT_RETENTION,
        pseudonym_secret: bytes | None = None,
        durability: str = "full",
        settings: Mapping[str, Any] | None = None,
        ledger_settings: Mapping[str, Any] | None = None,
        replicas: int | None = None,
        mode: str | None = None,
    ) -> None:
        if not isinstance(provider, Provider):
            raise ConfigurationError(
                f"provider must be a genai_compliance.Provider, got {type(provider).__name__}",
                field="provider", value=type(provider).__name__)
        self.settings: dict[str, Any] = dict(settings or {})
        #: folder that relative paths in the settings resolve against
        self.base_dir: str = str(self.settings.pop("_base_dir", os.getcwd()))
        validate_settings(self.settings)  # unknown keys and wrong types, by section
        deployment = dict(self.settings.get("deployment", {}) or {})
        self.replicas = int(replicas if replicas is not None else deployment.get("replicas", 1))
        self.mode = str(mode if mode is not None else deployment.get("mode", "production"))
        if self.mode not in ("production", "development"):
            raise ConfigurationError(
                f"mode must be 'production' or 'development', got {self.mode!r}",
                field="deployment.mode", value=self.mode)
        if self.replicas < 1:
            raise ConfigurationError(f"replicas must be at least 1, got {self.replicas}",
                                     field="deployment.replicas", value=self.replicas)
        self.provider = provider
        self.clock: Clock = clock or SystemClock()
        self.tz = zone(timezone)
        self.store_uris = dict(stores or {})
        self._check_replicas()
        if isinstance(ledger, Ledger):
            self.ledger = ledger
        else:
            self.ledger = ledger_from_settings(
                {"uri": ledger, "signing_key": signing_key, "checkpoint_every": checkpoint_every,
                 "retention": retention, "pseudonym_secret": pseudonym_secret,
                 "durability": durability, **dict(ledger_settings or {})},
                base_dir=self.base_dir, clock=self.clock)
        self._stores: dict[str, Store] = {}
        self._lock = threading.RLock()
        self._checks: list[Check] | None = None if checks is None else list(checks)
        self._pipeline_recorded = False
        #: guarded calls that have started and not yet ended (closed with a record at
        #: shutdown); see :class:`~genai_compliance.guard.GuardHost`
        self.inflight: set[CallContext] = set()
        reset_after_fork(self)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], *, clock: Clock | None = None,
                  checks: Sequence[Check] | None = None) -> Compliance:
        """Build from a ``compliance.toml`` validated against the shipped JSON Schema."""
        data, base = load_config(path)
        return cls.from_dict(data, clock=clock, checks=checks, base=str(base))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, clock: Clock | None = None,
                  checks: Sequence[Check] | None = None, base: str = ".") -> Compliance:
        """Build from an already validated configuration mapping."""
        provider = Provider(**data["provider"])
        ledger_cfg = dict(data.get("ledger", {}))
        uri = ledger_cfg.pop("uri", None) or "sqlite:///" + os.path.abspath(
            os.path.join(base, "genai_compliance.db"))
        settings = {k: v for k, v in data.items() if k not in ("provider", "ledger", "stores",
                                                               "timezone")}
        settings["_base_dir"] = os.path.abspath(base)
        return cls(
            provider,
            ledger=uri,
            stores=data.get("stores", {}),
            checks=checks,
            clock=clock,
            timezone=data.get("timezone", "Asia/Shanghai"),
            ledger_settings=ledger_cfg,
            settings=settings,
        )

    # -- stores and checks -------------------------------------------------------------
    def _check_replicas(self) -> None:
        if self.replicas <= 1:
            return
        for duty in ("minors", "consent", "illegal_use", "incidents", "interaction", "default"):
            uri = self.store_uris.get(duty)
            if uri is not None and uri.startswith("memory:"):
                raise ConfigurationError(
                    f"[deployment] replicas = {self.replicas}, but stores.{duty} is {uri!r}, "
                    "which each process keeps to itself: quotas, consent and illegal-use "
                    f"state would differ per replica; set stores.{duty} (or stores.default) "
                    "to a shared store such as redis://… or postgresql://…",
                    field=f"stores.{duty}", value=uri)
        missing = [d for d in ("minors", "illegal_use")
                   if not (self.store_uris.get(d) or self.store_uris.get("default"))]
        if missing:
            raise ConfigurationError(
                f"[deployment] replicas = {self.replicas}, but stores.{missing[0]} is not set "
                "and the embedded default is a file on one host; set stores.default (or "
                f"stores.{missing[0]}) to redis://… or postgresql://… shared by the replicas",
                field=f"stores.{missing[0]}", value=None)

    def _embedded_state_uri(self) -> str:
        """The embedded default: an SQLite file beside a SQLite ledger (or in
        ``base_dir``)."""
        uri = getattr(self.ledger, "uri", "")
        if isinstance(uri, str) and uri.startswith("sqlite:///") and ":memory:" not in uri:
            path = uri[len("sqlite:///"):]
            root, _ext = os.path.splitext(path)
            return f"sqlite:///{root}-state.db"
        return "sqlite:///" + os.path.join(os.path.abspath(self.base_dir),
                                           "genai_compliance-state.db")

    def store_uri(self, duty: str) -> str:
        """The URI configured for ``duty`` (falling back to ``default``, then the embedded
        SQLite state file beside the ledger)."""
        return (self.store_uris.get(duty) or self.store_uris.get("default")
                or self._embedded_state_uri())

    def store(self, duty: str) -> Store:
        """The key-value store for ``duty``, opened on first use and shared afterwards."""
        uri = self.store_uri(duty)
        with self._lock:
            if uri not in self._stores:
                self._stores[uri] = open_store(uri)
            return self._stores[uri]

    @functools.cached_property
    def context(self) -> DutyContext:
        """The typed room every duty is built in (:class:`~genai_compliance.DutyContext`):
        settings, provider, ledger, clock, zone and stores — never this facade."""
        from pathlib import Path

        return DutyContext(provider=self.provider, settings=self.settings,
                           base_dir=Path(self.base_dir), ledger=self.ledger, clock=self.clock,
                           tz=self.tz, stores=self, configured=dict(self.store_uris))

    @property
    def checks(self) -> list[Check]:
        """The checks every guarded call runs (built by :meth:`default_checks` when none
        were given). The first use records the pipeline in force (``compliance.pipeline``)."""
        if self._checks is None or not self._pipeline_recorded:
            with self._lock:
                if self._checks is None:
                    self._checks = self.default_checks()
                if not self._pipeline_recorded:
                    self._pipeline_recorded = True
                    self.record("compliance.pipeline", self.pipeline())
        return self._checks

    def pipeline(self) -> dict[str, Any]:
        """The pipeline in force, as recorded at start-up and printed by
        ``genai-compliance config check``: the checks in order with the rules each serves,
        the stores by duty and what was switched off."""
        checks = self._checks if self._checks is not None else self.default_checks()
        return {
            "checks": [{"name": c.name, "class": type(c).__name__, "rules": list(c.rules),
                        "fail_open": bool(c.fail_open)} for c in checks],
            "custom": self._checks is not None and not self._default_built,
            "disabled": sorted(self._disabled),
            "stores": {d: redact_uri(self.store_uri(d)) for d in
                       ("minors", "consent", "illegal_use", "interaction")},
            "ledger": redact_uri(str(getattr(self.ledger, "uri", ""))),
            "mode": self.mode,
            "replicas": self.replicas,
        }

    _default_built = False
    _disabled: tuple[str, ...] = ()

    def default_checks(self) -> list[Check]:
        """The pipeline of DESIGN.md, in order, each duty configured from its settings:

        1. ``consent`` — every required purpose granted and current (PI-14, PIPL Art. 16)
        2. ``minors`` — curfew, daily quota, rest reminders, guardian consent (IM-10)
        2a. ``interaction`` — the AI-interaction disclosure, continuous-use reminders, exit
           and minors' personas per jurisdiction profile (AN-14, EU-50-1, SB243-22602,
           NY-GBL-1702); off only with ``[interaction] enabled = false``
        3. ``illegal-use`` — the illegal-use ladder (IM-14b, SR-14); it runs before
           moderation so that it sees (and counts) every blocked prompt when it closes
        4. ``input-moderation`` — keywords and classifiers over the prompt (IM-4a, SR-5)
        5. ``output-moderation`` — results and streams chunk by chunk (IM-14a)
        6. ``explicit_text_label`` — the visible label on text (LM-4, GB-5.1)
        7. ``media_label`` — explicit + implicit (+ C2PA when ``[c2pa]`` has a signer)
           labels on image/audio/video outputs (LM-4, LM-5)

        Then the guard appends the call's ledger record. Moderation needs a keyword library
        (``[moderation] keyword_files``): in production mode its absence is an error unless
        ``[moderation] enabled = false``; labels are switched off only by ``enabled =
        false`` in ``[labelling.explicit]`` / ``[labelling.implicit]``.
        """
        from .consent import ConsentCheck
        from .incidents import IllegalUseCheck
        from .minors import MinorsCheck

        disabled: list[str] = []
        mod_cfg = self.settings.get("moderation", {}) or {}
        moderation_on = bool(mod_cfg.get("enabled", True))
        if moderation_on and not mod_cfg.get("keyword_files"):
            if self.mode == "production":
                raise ConfigurationError(
                    "moderation has no keyword library: set [moderation] keyword_files to "
                    "your keyword list (SR-5 asks for at least 10,000 keywords covering every "
                    "risk category), or switch moderation off explicitly with [moderation] "
                    "enabled = false (or mode=\"development\" while developing)",
                    field="moderation.keyword_files", value=None)
            moderation_on = False
            disabled.append("moderation (development mode: no keyword library)")
        elif not moderation_on:
            disabled.append("moderation")
        checks: list[Check] = [ConsentCheck(self.consent), MinorsCheck(self.minors)]
        if bool((self.settings.get("interaction", {}) or {}).get("enabled", True)):
            from .interaction import InteractionCheck

            checks.append(InteractionCheck(self.interaction))
        else:
            disabled.append("interaction")
        checks.append(IllegalUseCheck(self.incidents))
        if moderation_on:
            from .moderation import InputModerationCheck, OutputModerationCheck

            checks.append(InputModerationCheck(self.moderation))
            checks.append(OutputModerationCheck(self.moderation))
        labelling = self.settings.get("labelling", {}) or {}
        explicit = labelling.get("explicit", {}) if isinstance(labelling, Mapping) else {}
        explicit_cfg: dict[str, Any] = dict(explicit) if isinstance(explicit, Mapping) else {}
        explicit_on = bool(explicit_cfg.pop("enabled", True)) if isinstance(
            explicit, Mapping) else bool(explicit)
        if explicit_on:
            from .labelling.explicit import ExplicitTextLabelCheck

            checks.append(ExplicitTextLabelCheck.from_settings(explicit_cfg))
        else:
            disabled.append("explicit labels")
        implicit = labelling.get("implicit", {}) if isinstance(labelling, Mapping) else {}
        implicit_on = not (isinstance(implicit, Mapping) and implicit.get("enabled") is False)
        if implicit_on:
            from .labelling._media_check import MediaLabelCheck

            checks.append(MediaLabelCheck(
                self.provider.producer_code, explicit=explicit_on,
                explicit_settings=explicit_cfg, credentials=self._c2pa_credentials(),
                thumbnail=bool((self.settings.get("c2pa", {}) or {}).get("thumbnail", False))))
        else:
            disabled.append("implicit labels")
        self._default_built = True
        self._disabled = tuple(disabled)
        return checks

    def _c2pa_credentials(self) -> SigningCredentials | None:
        section = self.settings.get("c2pa", {}) or {}
        if not section:
            return None
        from pathlib import Path

        from .labelling.pipeline import credentials_from_settings

        return credentials_from_settings(section, Path(self.base_dir))

    def add_check(self, check: Check) -> Check:
        """Append ``check`` to the checks every guarded call runs."""
        if not isinstance(check, Check):
            raise ConfigurationError(
                f"checks must subclass genai_compliance.Check, got {type(check).__name__}",
                field="checks", value=type(check).__name__)
        self.checks.append(check)
        return check

    # -- guard -------------------------------------------------------------------------
    @overload
    def guard(self, fn: F) -> F: ...

    @overload
    def guard(
        self, fn: None = None, *, modality: str = ..., purposes: Sequence[str] = ...,
        optional_purposes: Sequence[str] = ...,
        checks: Sequence[Check] | None = ..., extra_checks: Sequence[Check] = ...,
        prompt: str | Callable[..., Any] | None = ..., refusal: Any = ...,
        options: dict[str, Any] | None = ..., chunk_codec: ChunkCodec | None = ...,
    ) -> Guard: ...

    def guard(
        self, fn: F | None = None, *, modality: str = "text", purposes: Sequence[str] = (),
        optional_purposes: Sequence[str] = (),
        checks: Sequence[Check] | None = None, extra_checks: Sequence[Check] = (),
        prompt: str | Callable[..., Any] | None = None, refusal: Any = RAISE,
        options: dict[str, Any] | None = None, chunk_codec: ChunkCodec | None = None,
    ) -> F | Guard:
        """Guard an inference callable: ``@compliance.guard`` or ``@compliance.guard(...)``.

        ``purposes`` must all be consented; ``optional_purposes`` never refuse the call
        (PIPL Art. 16). See :class:`~genai_compliance.guard.Guard`."""
        marker = Guard(self, modality=modality, purposes=purposes,
                       optional_purposes=optional_purposes, checks=checks,
                       extra_checks=extra_checks, prompt=prompt, refusal=refusal,
                       options=options, chunk_codec=chunk_codec)
        return marker if fn is None else marker(fn)

    # -- the duties (built on first use from the settings; see each package) -------------
    @functools.cached_property
    def consent(self) -> ConsentService:
        """The PIPL consent ledger (:class:`genai_compliance.consent.ConsentService`)."""
        from .consent import ConsentService

        return ConsentService.from_context(self.context)

    @functools.cached_property
    def agreements(self) -> Agreements:
        """Service agreements (:class:`genai_compliance.agreements.Agreements`)."""
        from .agreements import Agreements

        return Agreements.from_context(self.context, consent=self.consent)

    @functools.cached_property
    def minors(self) -> MinorProtection:
        """Minor protection (:class:`genai_compliance.minors.MinorProtection`)."""
        from .minors import MinorProtection

        return MinorProtection.from_context(
            self.context, guardian_consent=self.consent.has_guardian_consent)

    @functools.cached_property
    def interaction(self) -> Interaction:
        """AI-interaction disclosure and reminders
        (:class:`genai_compliance.interaction.Interaction`); companion personas for children
        go through the consent duty's guardian check."""
        from .interaction import Interaction

        return Interaction.from_context(self.context, consent=self.consent)

    @functools.cached_property
    def privacy(self) -> Privacy:
        """PI breaches, compliance audits and PIPIA records
        (:class:`genai_compliance.privacy.Privacy`; PIPL Art. 54–57)."""
        from .privacy import Privacy

        return Privacy.from_context(self.context)

    @functools.cached_property
    def moderation(self) -> Moderation:
        """Moderation (:class:`genai_compliance.moderation.Moderation`)."""
        from .moderation import Moderation

        def on_block(risk: str | None, content: str, where: str, subject: Subject | None,
                     profile: str) -> None:
            self.incidents.handle_block(risk=risk, content=content, where=where,
                                        subject=subject, detail={"profile": profile})

        return Moderation.from_context(self.context, on_block=on_block)

    @functools.cached_property
    def incidents(self) -> Incidents:
        """Incidents, illegal use and complaints (:class:`genai_compliance.incidents.Incidents`)."""
        from .incidents import Incidents

        return Incidents.from_context(self.context)

    def label_file(self, src: str | os.PathLike[str], dst: str | os.PathLike[str],
                   **options: Any) -> LabelResult:
        """Explicit label (when configured) + implicit label + C2PA signature + a ledger
        record of the label issued; see :func:`genai_compliance.labelling.pipeline.label_file`.
        """
        from .labelling.pipeline import label_file

        return label_file(src, dst, compliance=self, **options)

    # -- records -----------------------------------------------------------------------
    def record(self, kind: str, payload: Mapping[str, Any] | None = None, *,
               subject: Subject | str | None = None) -> Record:
        """Append one record to the ledger (durable when this returns)."""
        return self.ledger.append(kind, payload or {}, subject=subject)

    async def arecord(self, kind: str, payload: Mapping[str, Any] | None = None, *,
                      subject: Subject | str | None = None) -> Record:
        """Async twin of :meth:`record`: never blocks the event loop (the ledger's group
        commit writes it)."""
        return await self.ledger.aappend(kind, payload or {}, subject=subject)

    def records(self, kind: str | None = None, **filters: Any) -> Iterable[Record]:
        return self.ledger.records(kind=kind, **filters)

    # -- lifecycle ---------------------------------------------------------------------
    def warm(self, *, freeze_heap: bool = True) -> None:
        """Get ready to serve: build the pipeline now (recorded once, see :attr:`checks`),
        so that a configuration that cannot build fails here and not on a first request.

        With ``freeze_heap`` (the default) a full garbage collection runs and everything
        alive afterwards — modules, the pipeline, keyword libraries — is moved out of the
        cyclic garbage collector's reach (:func:`gc.freeze`). CPython's full collections
        otherwise walk that whole heap and stop every thread for 10–50 ms under load; then
        they walk only what calls created (under 2 ms measured, see docs/guard.md). Objects
        frozen are still freed when their last reference goes; only cycles among them that
        become garbage later are never collected. ``freeze_heap=False`` keeps CPython's
        default. :class:`~genai_compliance.asgi.ComplianceMiddleware` calls this on lifespan
        startup.

        .. versionadded:: 0.2
        """
        _ = self.checks
        if freeze_heap:
            gc.collect()
            gc.freeze()

    def _forked(self) -> None:
        """In a forked child: the calls in flight are the parent's (its threads did not
        come along) — the parent records them; the child must not end them ``cancelled``
        when it closes, which gave one call two records. A lock a parent thread held at the
        fork would stay held."""
        self.inflight.clear()
        self._lock = threading.RLock()

    def close(self) -> None:
        """End the guarded calls still in flight (each with a ``cancelled`` record), close
        the duties that hold resources, checkpoint and close the ledger, close every
        store. Safe to call twice."""
        for ctx in list(self.inflight):
            if ctx.abandon is not None:
                try:
                    ctx.abandon()
                except Exception:  # a store already gone: the others still get closed
                    pass
        for duty in ("consent", "minors", "interaction", "moderation", "incidents",
                     "privacy"):
            service = self.__dict__.get(duty)
            closer = getattr(service, "close", None)
            if callable(closer):
                closer()
        context = self.__dict__.get("context")
        if context is not None:
            context.close()
        self.ledger.close()
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()

    def __enter__(self) -> Compliance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close` (runs it in a worker thread)."""
        await asyncio.to_thread(self.close)

    def __repr__(self) -> str:
        return f"Compliance({self.provider.product_name!r}, ledger={self.ledger!r})"
