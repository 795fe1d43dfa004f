"""Stores chosen by URI: ``memory://``, ``sqlite:///…``, ``postgresql://…``, ``redis://…``.

A duty asks for a store here and never opens a connection itself (DESIGN: Stores by URI).
Stores own atomicity (:meth:`Store.update`), declare their capabilities (``atomic``,
``shared``, ``script``, ``pubsub``) and translate their drivers' errors; see docs/stores.md.
"""

from .._exports import publish as _publish
from ._kv import (
    MemoryStore,
    PostgreSQLStore,
    PubSubStore,
    Script,
    ScriptStore,
    SQLiteStore,
    SQLStore,
    Store,
    Subscription,
    Updater,
    open_store,
    pubsub,
    require_capabilities,
    scripting,
)
from ._redis import RedisScript, RedisStore
from ._sql import SQLDatabase, Tx, open_sql, pg_dropped, pg_timeouts
from ._uri import KNOWN_SCHEMES, StoreURI, import_driver, parse_uri, redact_uri, scrub

__all__ = [
    "KNOWN_SCHEMES",
    "MemoryStore",
    "PostgreSQLStore",
    "PubSubStore",
    "RedisScript",
    "RedisStore",
    "SQLDatabase",
    "SQLStore",
    "SQLiteStore",
    "Script",
    "ScriptStore",
    "Store",
    "StoreURI",
    "Subscription",
    "Tx",
    "Updater",
    "import_driver",
    "open_sql",
    "open_store",
    "parse_uri",
    "pg_dropped",
    "pg_timeouts",
    "pubsub",
    "redact_uri",
    "require_capabilities",
    "scripting",
    "scrub",
]

_publish(__name__, globals(), __all__)
