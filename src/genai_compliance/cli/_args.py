"""Argument types the commands share: argparse reports their message as one line (exit 2)."""

from __future__ import annotations

import argparse
import datetime as dt

__all__ = ["aware_time", "config_or_ledger", "iso_date"]


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


def config_or_ledger(p: argparse.ArgumentParser, *, with_ledger: str) -> None:
    """``--config FILE`` (default ``./compliance.toml``) or ``--ledger URI`` (then
    ``with_ledger`` says what is missing), and ``--timezone`` for local dates with
    ``--ledger``."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--config", default="compliance.toml",
                       help="compliance.toml (default: ./compliance.toml)")
    group.add_argument("--ledger", help="a ledger URI instead of a config (sqlite:///…, "
                       f"postgresql://…); {with_ledger}")
    p.add_argument("--timezone", default="Asia/Shanghai",
                   help="zone of local dates with --ledger (default Asia/Shanghai)")
