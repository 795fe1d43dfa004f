"""``genai-compliance privacy breach|audit|pipia|schedule`` (PIPL Art. 54–57): the privacy
duty's commands, opened from ``--config FILE`` (or ``--ledger URI``)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ._open import open_compliance

if TYPE_CHECKING:
    from ..privacy import Privacy


@contextlib.contextmanager
def _opener(path: str) -> Iterator[Privacy]:
    with open_compliance(path) as comp:
        yield comp.privacy


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ..privacy._cli import register as _register

    _register(sub, opener=_opener)
