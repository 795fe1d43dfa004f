"""Stores chosen by URI: ``memory://``, ``sqlite:///…``, ``postgresql://…``, ``redis://…``.

A duty asks for a store here and never opens a connection itself (DESIGN: Stores by URI).
"""

from .._exports import publish as _publish
from ._kv import MemoryStore, RedisStore, SQLiteStore, Store, open_store, require_capabilities
from ._sql import SQLDatabase, Tx, open_sql
from ._uri import KNOWN_SCHEMES, StoreURI, import_driver, parse_uri, redact_uri, scrub

__all__ = [
    "KNOWN_SCHEMES",
    "MemoryStore",
    "RedisStore",
    "SQLDatabase",
    "SQLiteStore",
    "Store",
    "StoreURI",
    "Tx",
    "import_driver",
    "open_sql",
    "open_store",
    "parse_uri",
    "redact_uri",
    "require_capabilities",
    "scrub",
]

_publish(__name__, globals(), __all__)
