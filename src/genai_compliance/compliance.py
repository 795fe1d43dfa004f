"""``Compliance``: the one object a provider builds. It owns the stores, ledger and checks."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, overload

from .checks import Check
from .clock import Clock, SystemClock, zone
from .config import Provider, load_config
from .errors import ConfigurationError
from .guard import RAISE, Guard
from .ledger import Ledger, Record
from .ledger._ledger import DEFAULT_RETENTION
from .ledger._settings import ledger_from_settings
from .stores import Store, open_store
from .subject import Subject

__all__ = ["Compliance"]

F = TypeVar("F", bound=Callable[..., Any])


class Compliance:
    """Everything a provider configures, in one place.

    >>> compliance = Compliance(provider, ledger="sqlite:////var/lib/app/ledger.db")
    >>> @compliance.guard(modality="text", purposes=["service"])
    ... def generate(prompt: str) -> str: ...

    :param provider: who provides the service.
    :param ledger: a ledger URI (``sqlite:///…`` or ``postgresql://…``) or a :class:`Ledger`.
    :param stores: store URIs by duty (``"minors"``, ``"consent"``, …); ``"default"`` is used
        for duties not named (``memory://`` when absent).
    :param checks: the checks every guarded call runs, in order; ``None`` (the default)
        builds :meth:`default_checks` on first use, ``[]`` runs none.
    :param timezone: IANA zone for curfews, daily quotas and deadlines.
    :param settings: the other sections of ``compliance.toml`` (labelling, minors, …).
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
    ) -> None:
        if not isinstance(provider, Provider):
            raise ConfigurationError(
                f"provider must be a genai_compliance.Provider, got {type(provider).__name__}",
                field="provider", value=provider)
        self.provider = provider
        self.clock: Clock = clock or SystemClock()
        self.tz = zone(timezone)
        if isinstance(ledger, Ledger):
            self.ledger = ledger
        else:
            self.ledger = ledger_from_settings(
                {"uri": ledger, "signing_key": signing_key, "checkpoint_every": checkpoint_every,
                 "retention": retention, "pseudonym_secret": pseudonym_secret,
                 "durability": durability, **dict(ledger_settings or {})},
                base_dir=str((settings or {}).get("_base_dir", os.getcwd())), clock=self.clock)
        self.store_uris = dict(stores or {})
        self._stores: dict[str, Store] = {}
        self._lock = threading.RLock()
        self._checks: list[Check] | None = None if checks is None else list(checks)
        self.settings: dict[str, Any] = dict(settings or {})
        #: folder that relative paths in the settings resolve against
        self.base_dir: str = str(self.settings.pop("_base_dir", os.getcwd()))

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
    def store_uri(self, duty: str) -> str:
        """The URI configured for ``duty`` (falling back to ``default``, then memory)."""
        return self.store_uris.get(duty) or self.store_uris.get("default") or "memory://"

    def store(self, duty: str) -> Store:
        """The key-value store for ``duty``, opened on first use and shared afterwards."""
        uri = self.store_uri(duty)
        with self._lock:
            if uri not in self._stores:
                self._stores[uri] = open_store(uri)
            return self._stores[uri]

    @property
    def checks(self) -> list[Check]:
        """The checks every guarded call runs (built by :meth:`default_checks` when none
        were given)."""
        if self._checks is None:
            with self._lock:
                if self._checks is None:
                    self._checks = self.default_checks()
        return self._checks

    def default_checks(self) -> list[Check]:
        """The pipeline of DESIGN.md, each duty configured from its settings section:
        consent → minors → illegal use → input moderation → output moderation → explicit
        text label. Moderation joins when ``[moderation] keyword_files`` is set; the text
        label unless ``[labelling.explicit] enabled = false``."""
        from .consent import ConsentCheck
        from .incidents import IllegalUseCheck
        from .minors import MinorsCheck

        checks: list[Check] = [ConsentCheck(self.consent), MinorsCheck(self.minors),
                               IllegalUseCheck(self.incidents)]
        if self.settings.get("moderation", {}).get("keyword_files"):
            from .moderation import InputModerationCheck, OutputModerationCheck

            checks += [InputModerationCheck(self.moderation),
                       OutputModerationCheck(self.moderation)]
        explicit = self.settings.get("labelling", {}).get("explicit", {})
        if not isinstance(explicit, Mapping) or explicit.get("enabled", True):
            from .labelling.explicit import ExplicitTextLabelCheck

            cfg = {k: v for k, v in (explicit or {}).items() if k != "enabled"} \
                if isinstance(explicit, Mapping) else {}
            checks.append(ExplicitTextLabelCheck.from_settings(cfg))
        return checks

    def add_check(self, check: Check) -> Check:
        """Append ``check`` to the checks every guarded call runs."""
        if not isinstance(check, Check):
            raise ConfigurationError(
                f"checks must subclass genai_compliance.Check, got {type(check).__name__}",
                field="checks", value=check)
        self.checks.append(check)
        return check

    # -- guard -------------------------------------------------------------------------
    @overload
    def guard(self, fn: F) -> F: ...

    @overload
    def guard(
        self, fn: None = None, *, modality: str = ..., purposes: Sequence[str] = ...,
        checks: Sequence[Check] | None = ..., extra_checks: Sequence[Check] = ...,
        prompt: str | Callable[..., Any] | None = ..., refusal: Any = ...,
        options: dict[str, Any] | None = ...,
    ) -> Guard: ...

    def guard(
        self, fn: F | None = None, *, modality: str = "text", purposes: Sequence[str] = (),
        checks: Sequence[Check] | None = None, extra_checks: Sequence[Check] = (),
        prompt: str | Callable[..., Any] | None = None, refusal: Any = RAISE,
        options: dict[str, Any] | None = None,
    ) -> F | Guard:
        """Guard an inference callable: ``@compliance.guard`` or ``@compliance.guard(...)``."""
        marker = Guard(self, modality=modality, purposes=purposes, checks=checks,
                       extra_checks=extra_checks, prompt=prompt, refusal=refusal,
                       options=options)
        return marker if fn is None else marker(fn)

    # -- the duties (built on first use from the settings; see each package) -------------
    @functools.cached_property
    def consent(self) -> Any:
        """The PIPL consent ledger (:class:`genai_compliance.consent.ConsentService`)."""
        from .consent import ConsentService

        return ConsentService.from_compliance(self)

    @functools.cached_property
    def agreements(self) -> Any:
        """Service agreements (:class:`genai_compliance.agreements.Agreements`)."""
        from .agreements import Agreements

        return Agreements.from_compliance(self)

    @functools.cached_property
    def minors(self) -> Any:
        """Minor protection (:class:`genai_compliance.minors.MinorProtection`)."""
        from .minors import MinorProtection

        return MinorProtection.from_compliance(self)

    @functools.cached_property
    def moderation(self) -> Any:
        """Moderation (:class:`genai_compliance.moderation.Moderation`)."""
        from .moderation import Moderation

        return Moderation.from_compliance(self)

    @functools.cached_property
    def incidents(self) -> Any:
        """Incidents, illegal use and complaints (:class:`genai_compliance.incidents.Incidents`)."""
        from .incidents import Incidents

        return Incidents.from_compliance(self)

    def label_file(self, src: str | os.PathLike[str], dst: str | os.PathLike[str],
                   **options: Any) -> Any:
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
        """Async twin of :meth:`record` (the write runs in a worker thread)."""
        return await asyncio.to_thread(self.record, kind, payload, subject=subject)

    def records(self, kind: str | None = None, **filters: Any) -> Iterable[Record]:
        return self.ledger.records(kind=kind, **filters)

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Close the duties that hold resources, checkpoint and close the ledger, close
        every store."""
        for duty in ("consent", "moderation", "incidents"):
            service = self.__dict__.get(duty)
            closer = getattr(service, "close", None)
            if callable(closer):
                closer()
        self.ledger.close()
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()

    def __enter__(self) -> Compliance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Compliance({self.provider.product_name!r}, ledger={self.ledger!r})"
