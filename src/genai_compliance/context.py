"""``DutyContext``: the narrow, typed room every duty is built in (issue 14).

A duty never sees the :class:`~genai_compliance.Compliance` facade. It is built from a
``DutyContext`` — the validated settings, the provider, the ledger, the clock and zone, and
its stores by duty name and needed capability — plus the other duties it depends on, which
``compliance.py`` passes in explicitly (minors ← consent's guardian check, moderation →
incidents' block handler, agreements → consent). So every arrow between duties is written in
one place and typed.

>>> ctx = compliance.context
>>> protection = MinorProtection.from_context(ctx, guardian_consent=consent.has_guardian_consent)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs

from ._exports import publish as _publish
from .clock import Clock
from .config import Provider
from .errors import ConfigurationError
from .ledger import Ledger, Record
from .stores import SQLDatabase, Store, open_sql, redact_uri, require_capabilities
from .subject import Subject

__all__ = ["DutyContext", "HasContext", "RecordingHost", "StoreSource"]


class StoreSource(Protocol):
    """Where a context finds stores: the configured URI and the opened store per duty."""

    def store_uri(self, duty: str) -> str: ...

    def store(self, duty: str) -> Store: ...


class RecordingHost(Protocol):
    """What the labelling pipeline needs of its caller: the provider, the settings and a
    ledger record. A :class:`DutyContext` is one, and so is the facade."""

    @property
    def provider(self) -> Provider: ...

    @property
    def settings(self) -> Mapping[str, Any]: ...

    def record(self, kind: str, payload: Mapping[str, Any] | None = None, *,
               subject: Subject | str | None = None) -> Record: ...


class HasContext(Protocol):
    """Anything that carries a :class:`DutyContext` (the facade does); only the
    deprecated ``from_compliance`` constructors take one."""

    @property
    def context(self) -> DutyContext: ...


@attrs.frozen(eq=False)
class DutyContext:
    """What a duty may touch.

    :ivar provider: who provides the service.
    :ivar settings: every validated ``compliance.toml`` section but provider/ledger/stores.
    :ivar base_dir: the folder relative paths in the settings resolve against.
    :ivar ledger: the record log (IM-14c retention, PI-14 receipts).
    :ivar clock: the one clock every duty reads (tests freeze it).
    :ivar tz: the zone of curfews, daily quotas and deadlines.
    """

    provider: Provider
    settings: Mapping[str, Any]
    base_dir: Path
    ledger: Ledger
    clock: Clock
    tz: dt.tzinfo
    stores: StoreSource
    #: store URIs set explicitly in ``[stores]`` (no fallback), by duty
    configured: Mapping[str, str] = attrs.field(factory=dict)
    _databases: dict[str, SQLDatabase] = attrs.field(factory=dict, init=False, repr=False)

    def section(self, name: str) -> Mapping[str, Any]:
        """One settings section (``{}`` when absent); nested names with dots
        (``"labelling.explicit"``)."""
        node: Any = self.settings
        for part in name.split("."):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        return node if isinstance(node, Mapping) else {}

    def path(self, value: str | Path) -> Path:
        """A settings path, resolved against :attr:`base_dir` when relative."""
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p

    def store(self, duty: str, *, needs: Iterable[str] = ()) -> Store:
        """The key-value store for ``duty`` (``[stores] <duty>``, then ``default``, then the
        embedded state file), refused at build time when it lacks a capability in
        ``needs`` (``"shared"``, ``"atomic"``, …)."""
        store = self.stores.store(duty)
        wanted = sorted(set(needs))
        if wanted:
            require_capabilities(store, *wanted, purpose=f"the {duty} duty")
        return store

    def store_uri(self, duty: str) -> str:
        """The URI :meth:`store` opens for ``duty``."""
        return self.stores.store_uri(duty)

    def database(self, duty: str, *, key: str | None = None) -> SQLDatabase:
        """The SQL database for a duty's tables: ``[stores] <key>`` (``<duty>_db`` unless
        given) when set, else the ledger's own database (one file or server for the
        embedded default)."""
        key = key or f"{duty}_db"
        uri = self.configured.get(key)
        if not uri:
            return self.ledger.db
        if uri not in self._databases:
            if not uri.startswith(("sqlite:", "postgresql:", "postgres:")):
                raise ConfigurationError(
                    f"stores.{key} must be a sqlite:/// or postgresql:// URI, got a "
                    f"{uri.split(':', 1)[0]!r} URI", field=f"stores.{key}",
                    value=redact_uri(uri))
            self._databases[uri] = open_sql(uri)
        return self._databases[uri]

    def record(self, kind: str, payload: Mapping[str, Any] | None = None, *,
               subject: Subject | str | None = None) -> Record:
        """Append one ledger record (durable when this returns)."""
        return self.ledger.append(kind, payload or {}, subject=subject)

    def close(self) -> None:
        """Close the databases this context opened for ``<duty>_db`` (not the ledger)."""
        for db in self._databases.values():
            db.close()
        self._databases.clear()


#: the signature of :meth:`DutyContext.record`, for duties that take a recorder
Recorder = Callable[..., Record]

_publish(__name__, globals(), __all__)
