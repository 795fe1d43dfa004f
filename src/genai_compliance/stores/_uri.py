"""Store URIs: one literal table of schemes (STYLE 3) and the optional drivers they need."""

from __future__ import annotations

import importlib
import urllib.parse
from types import ModuleType

import attrs

from ..errors import ConfigurationError

__all__ = ["KNOWN_SCHEMES", "StoreURI", "import_driver", "parse_uri"]

#: scheme -> (kind, driver module, extra to install)
KNOWN_SCHEMES: dict[str, tuple[str, str | None, str | None]] = {
    "memory": ("memory", None, None),
    "sqlite": ("sqlite", "sqlite3", None),
    "postgresql": ("postgresql", "psycopg", "postgres"),
    "postgres": ("postgresql", "psycopg", "postgres"),
    "redis": ("redis", "redis", "redis"),
}


@attrs.frozen
class StoreURI:
    """A parsed store URI."""

    raw: str
    kind: str
    path: str
    query: dict[str, str]

    def redacted(self) -> str:
        """The URI without a password, for messages and logs."""
        parts = urllib.parse.urlsplit(self.raw)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
        return self.raw


def parse_uri(uri: str) -> StoreURI:
    """Parse ``uri`` and check its scheme against :data:`KNOWN_SCHEMES`."""
    if not isinstance(uri, str) or "://" not in uri:
        raise ConfigurationError(
            f"store URI {uri!r} has no scheme; use one of "
            + ", ".join(f"{s}://" for s in KNOWN_SCHEMES),
            field="uri",
            value=uri,
        )
    parts = urllib.parse.urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in KNOWN_SCHEMES:
        raise ConfigurationError(
            f"unknown store scheme {scheme!r} in {uri!r}; known schemes: "
            + ", ".join(sorted(KNOWN_SCHEMES)),
            field="uri",
            value=uri,
        )
    kind = KNOWN_SCHEMES[scheme][0]
    query = dict(urllib.parse.parse_qsl(parts.query))
    if kind == "sqlite":
        # sqlite:///relative.db, sqlite:////abs/path.db, sqlite:///:memory:
        path = uri.split("://", 1)[1].split("?", 1)[0]
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise ConfigurationError(
                f"sqlite URI {uri!r} names no file; write sqlite:////abs/path.db",
                field="uri",
                value=uri,
            )
    else:
        path = parts.path
    return StoreURI(raw=uri, kind=kind, path=path, query=query)


def import_driver(kind: str) -> ModuleType:
    """Import the driver for ``kind`` or say which extra to install (STYLE 7)."""
    for _scheme, (k, module, extra) in KNOWN_SCHEMES.items():
        if k == kind and module is not None:
            try:
                return importlib.import_module(module)
            except ImportError as exc:
                raise ConfigurationError(
                    f"the {kind} backend needs the {module!r} package; install it with "
                    f"pip install 'genai-compliance[{extra}]'",
                    field="uri",
                    value=kind,
                ) from exc
    raise ConfigurationError(f"backend {kind!r} needs no driver", field="uri", value=kind)
