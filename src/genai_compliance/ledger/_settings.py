"""Build a :class:`Ledger` from the ``[ledger]`` settings section (the one seam through which
:class:`~genai_compliance.Compliance` opens its ledger)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any

from ..clock import Clock
from ..errors import ConfigurationError
from ._ledger import DEFAULT_RETENTION, Ledger

__all__ = ["ledger_from_settings"]


def ledger_from_settings(settings: Mapping[str, Any], *, base_dir: str,
                         clock: Clock | None = None) -> Ledger:
    """Open the ledger described by a validated ``[ledger]`` section.

    ``uri`` defaults to ``sqlite:///<base_dir>/genai_compliance.db``. Other keys are those of
    ``schemas/ledger-config.schema.json``; ``signing_key`` and ``pseudonym_secret`` may also be
    given as objects/bytes by :class:`~genai_compliance.Compliance`'s keyword arguments.
    """
    uri = settings.get("uri") or "sqlite:///" + os.path.abspath(
        os.path.join(base_dir, "genai_compliance.db"))
    secret = settings.get("pseudonym_secret")
    env = settings.get("pseudonym_secret_env")
    if secret is None and env:
        value = os.environ.get(env)
        if not value:
            raise ConfigurationError(
                f"ledger.pseudonym_secret_env names {env!r}, which is not set; export it "
                "or remove the setting", field="ledger.pseudonym_secret_env", value=env)
        secret = value.encode()
    if "retention_days" in settings:
        retention = dt.timedelta(days=settings["retention_days"])
    else:
        retention = settings.get("retention") or DEFAULT_RETENTION
    return Ledger(
        uri,
        signing_key=settings.get("signing_key"),
        checkpoint_every=settings.get("checkpoint_every") or 1000,
        retention=retention,
        pseudonym_secret=secret,
        clock=clock,
        durability=settings.get("durability") or "full",
    )
