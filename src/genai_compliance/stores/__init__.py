"""Stores chosen by URI: ``memory://``, ``sqlite:///…``, ``postgresql://…``, ``redis://…``.

A duty asks for a store here and never opens a connection itself (DESIGN: Stores by URI).
"""

from ._kv import MemoryStore, RedisStore, SQLiteStore, Store, open_store, require_capabilities
from ._sql import SQLDatabase, Tx, open_sql
from ._uri import KNOWN_SCHEMES, StoreURI, parse_uri

__all__ = [
    "KNOWN_SCHEMES",
    "MemoryStore",
    "RedisStore",
    "SQLDatabase",
    "SQLiteStore",
    "Store",
    "StoreURI",
    "Tx",
    "open_sql",
    "open_store",
    "parse_uri",
    "require_capabilities",
]
