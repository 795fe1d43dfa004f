"""Objects a forked child must reset before it runs (gunicorn ``--preload``,
``multiprocessing`` with the fork start method): one :func:`os.register_at_fork` hook calls
``_forked()`` on every live object registered with :func:`reset_after_fork`, in the order
they were registered.

A child copies its parent's memory but only the thread that forked: locks another thread
held stay held, background threads are gone, and connections are shared with the parent
(closing one there ends the parent's session). Each ``_forked`` says what its object does
about it.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

__all__ = ["reset_after_fork"]

_LIVE: weakref.WeakKeyDictionary[Any, None] = weakref.WeakKeyDictionary()


def reset_after_fork(obj: Any) -> None:
    """Call ``obj._forked()`` in every child forked while ``obj`` is alive (held weakly)."""
    _LIVE[obj] = None


def _after_fork_in_child() -> None:
    for obj in list(_LIVE.keys()):
        obj._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
