"""The one config opener of the command line: a ``Compliance`` built from a
``compliance.toml`` and closed when the command is done (ledger checkpoint, stores)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..compliance import Compliance

__all__ = ["open_compliance"]


@contextlib.contextmanager
def open_compliance(path: str | os.PathLike[str]) -> Iterator[Compliance]:
    """``with open_compliance(args.config) as comp: …`` — closed on the way out, also when
    the command fails."""
    from ..compliance import Compliance

    comp = Compliance.from_toml(path)
    try:
        yield comp
    finally:
        comp.close()
