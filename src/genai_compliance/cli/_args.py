"""Argument types the commands share: argparse reports their message as one line (exit 2)."""

from __future__ import annotations

import argparse
import datetime as dt

__all__ = ["aware_time", "iso_date"]


def aware_time(text: str) -> dt.datetime:
    """An ISO 8601 time with its UTC offset (``2026-03-01T08:00:00+08:00``)."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time like 2026-03-01T08:00:00+08:00") from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} needs a UTC offset, e.g. 2026-03-01T08:00:00+08:00")
    return value


def iso_date(text: str) -> dt.date:
    """A calendar date (``2026-05-01``)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-05-01") from exc
