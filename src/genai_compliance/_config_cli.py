"""``genai-compliance config …``: check a configuration and print the pipeline in force."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``config`` sub-commands (filled in by issue 13)."""
    del subparsers


_ = argparse
