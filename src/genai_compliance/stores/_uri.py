"""Store URIs: one literal table of schemes (STYLE 3) and the optional drivers they need."""

from __future__ import annotations

import importlib
import urllib.parse
from types import ModuleType

import attrs

from ..errors import ConfigurationError

__all__ = ["KNOWN_SCHEMES", "StoreURI", "import_driver", "parse_uri", "redact_uri", "scrub"]

#: scheme -> (kind, driver module, extra to install)
KNOWN_SCHEMES: dict[str, tuple[str, str | None, str | None]] = {
    "memory": ("memory", None, None),
    "sqlite": ("sqlite", "sqlite3", None),
    "postgresql": ("postgresql", "psycopg", "postgres"),
    "postgres": ("postgresql", "psycopg", "postgres"),
    "redis": ("redis", "redis", "redis"),
}


#: query parameters the SDK reads itself (never handed to a driver)
_OWN_PARAMS = frozenset({"schema", "pool_size"})
#: query parameters that carry credentials (libpq, redis-py)
_SECRET_PARAMS = frozenset({"password", "passwd", "pass", "sslpassword", "token"})


def _secrets_of(uri: str) -> list[str]:
    """The credential strings inside ``uri`` (password in the authority or the query)."""
    try:
        parts = urllib.parse.urlsplit(uri)
        found = [parts.password] if parts.password else []
        found += [v for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
                  if k.lower() in _SECRET_PARAMS and v]
    except ValueError:
        return []
    return found


def redact_uri(uri: str) -> str:
    """``uri`` with its password (authority or ``?password=``) replaced by ``***``, for
    messages, logs and reprs.

    .. versionchanged:: 0.2 query-string passwords are redacted too.
    """
    if not isinstance(uri, str) or "://" not in uri:
        return uri
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return "<unparseable URI>"
    if not _secrets_of(uri) and parts.password is None:
        return uri
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
            query = "&".join(f"{k}=***" if k.lower() in _SECRET_PARAMS
                             else urllib.parse.urlencode({k: v}) for k, v in pairs)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def scrub(text: str, uri: str) -> str:
    """``text`` (e.g. a driver's error message) with every credential of ``uri`` and the
    raw URI itself replaced by their redacted forms, on one line (libpq's messages run over
    several, with a tab: shown as they are, they broke the CLI's one-line errors and log
    lines)."""
    text = str(text).replace(uri, redact_uri(uri))
    for secret in _secrets_of(uri):
        for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.unquote(secret)}:
            if len(form) >= 3:
                text = text.replace(form, "***")
    return " ".join(text.split())


@attrs.frozen(repr=False)
class StoreURI:
    """A parsed store URI. ``repr`` and :meth:`redacted` never show the password."""

    raw: str
    kind: str
    path: str
    query: dict[str, str]

    def redacted(self) -> str:
        """The URI without a password, for messages and logs."""
        return redact_uri(self.raw)

    def driver_params(self) -> dict[str, str]:
        """The query parameters for the database driver: all but the SDK's own
        (``schema``, ``pool_size``).

        .. versionadded:: 0.2
        """
        return {k: v for k, v in self.query.items() if k not in _OWN_PARAMS}

    def __repr__(self) -> str:
        return f"StoreURI({self.redacted()!r}, kind={self.kind!r})"


def parse_uri(uri: str) -> StoreURI:
    """Parse ``uri`` and check its scheme against :data:`KNOWN_SCHEMES`."""
    if not isinstance(uri, str) or "://" not in uri:
        raise ConfigurationError(
            f"store URI {redact_uri(uri)!r} has no scheme; use one of "
            + ", ".join(f"{s}://" for s in KNOWN_SCHEMES),
            field="uri",
            value=redact_uri(uri),
        )
    parts = urllib.parse.urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in KNOWN_SCHEMES:
        raise ConfigurationError(
            f"unknown store scheme {scheme!r} in {redact_uri(uri)!r}; known schemes: "
            + ", ".join(sorted(KNOWN_SCHEMES)),
            field="uri",
            value=redact_uri(uri),
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
