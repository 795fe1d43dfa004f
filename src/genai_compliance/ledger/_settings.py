"""Build a :class:`Ledger` from the ``[ledger]`` settings section (the one seam through which
:class:`~genai_compliance.Compliance` opens its ledger)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any

from ..clock import Clock
from ..errors import ConfigurationError
from ._ledger import DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_RETENTION, Ledger

__all__ = ["ledger_from_settings"]

_PATH_KEYS = ("key_file", "key_dir", "signing_key")


def _resolve(value: Any, base_dir: str) -> Any:
    if isinstance(value, str | os.PathLike):
        return os.path.abspath(os.path.join(base_dir, os.path.expanduser(os.fspath(value))))
    return value


def _resolve_uri(uri: str, base_dir: str) -> str:
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        rel = uri[len("sqlite:///"):]
        if rel and rel != ":memory:":
            return "sqlite:///" + os.path.abspath(os.path.join(base_dir, rel))
    return uri


def ledger_from_settings(settings: Mapping[str, Any], *, base_dir: str,
                         clock: Clock | None = None) -> Ledger:
    """Open the ledger described by a validated ``[ledger]`` section.

    ``uri`` defaults to ``sqlite:///<base_dir>/genai_compliance.db``. Other keys are those of
    ``schemas/ledger-config.schema.json``; relative paths resolve against ``base_dir``.
    ``signing_key`` (an ``Ed25519PrivateKey``, a callback signer or a PEM path),
    ``pseudonym_secret`` (bytes) and ``retention`` (a timedelta) may also be given as objects
    by :class:`~genai_compliance.Compliance`'s keyword arguments.

    .. versionchanged:: 0.2 ``key_file``, ``key_env``, ``key_dir``, ``dev_mode``,
       ``witness_dir``, ``witness_uri``, ``checkpoint_interval_seconds``, ``origin``,
       ``max_batch``.
    """
    uri = settings.get("uri") or "sqlite:///" + os.path.abspath(
        os.path.join(base_dir, "genai_compliance.db"))
    if "retention_days" in settings:
        retention = dt.timedelta(days=settings["retention_days"])
    else:
        retention = settings.get("retention") or DEFAULT_RETENTION
    paths = {k: _resolve(settings.get(k), base_dir) if k != "signing_key"
             or isinstance(settings.get(k), str | os.PathLike) else settings.get(k)
             for k in _PATH_KEYS}
    witness_dir = settings.get("witness_dir")
    if isinstance(witness_dir, str) and witness_dir:
        witness_dir = _resolve(witness_dir, base_dir)
    witness_uri = settings.get("witness_uri")
    if witness_uri:
        witness_uri = _resolve_uri(str(witness_uri), base_dir)
    interval = settings.get("checkpoint_interval_seconds")
    if interval is None:
        interval = settings.get("checkpoint_interval") or DEFAULT_CHECKPOINT_INTERVAL
    dev_mode = settings.get("dev_mode", False)
    if not isinstance(dev_mode, bool):
        raise ConfigurationError(f"ledger.dev_mode must be true or false, got {dev_mode!r}",
                                 field="ledger.dev_mode", value=dev_mode)
    return Ledger(
        uri,
        signing_key=paths["signing_key"],
        checkpoint_every=settings.get("checkpoint_every") or 1000,
        retention=retention,
        pseudonym_secret=settings.get("pseudonym_secret"),
        pseudonym_secret_env=settings.get("pseudonym_secret_env"),
        key_file=paths["key_file"],
        key_env=settings.get("key_env"),
        key_dir=paths["key_dir"],
        dev_mode=dev_mode,
        checkpoint_interval=interval,
        witness_dir=witness_dir,
        witness_uri=witness_uri,
        origin=settings.get("origin"),
        max_batch=settings.get("max_batch") or 1000,
        clock=clock,
        durability=settings.get("durability") or "full",
    )
