"""Pacing a library swap beside the threads that serve checks (issue 19).

A swap runs on its own thread, but Python runs one thread at a time: a step that keeps the
GIL holds every check up for as long. Inside :func:`paced` (what :meth:`Moderation.reload`
runs in):

- :func:`pace`, called between the small steps of a build, hands the GIL over once the
  thread has worked :data:`STEP` since it last did (a short sleep, long enough for a waiting
  thread to wake and take it; ``sleep(0)`` releases the GIL too briefly for that);
- the interpreter's switch interval is :data:`SWITCH_INTERVAL` (the backstop for work that
  does not call :func:`pace`, e.g. parsing keyword files in a loader);
- the garbage collector does not run automatically (a swap creates hundreds of thousands of
  objects and large lists: a collection of the young generations traversed them for ~12 ms,
  and the full collection they triggered kept the GIL 48-64 ms with 300,000 other objects
  alive); when the last paced block ends, everything created meanwhile is moved to the
  oldest generation without being traversed (``gc.freeze()`` then ``gc.unfreeze()``, two
  list splices) and the collector is switched back on. It stays off for at most
  :data:`GC_PAUSE_MAX`; an application that disabled it keeps it disabled, and one that froze
  objects (before forking) keeps them frozen (nothing is moved then);
- large containers are emptied a step at a time (:func:`drain`), and those of a library no
  longer served are handed to one release thread when their last user drops them
  (:func:`release_when_unused`), so that neither the builder nor a serving thread frees
  hundreds of thousands of objects in one go.

What cannot be paced is one call into a C extension that keeps the GIL; the automata are
therefore built where that does not hold the serving threads up (:mod:`._automaton`).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["GC_PAUSE_MAX", "HANDOVER", "STEP", "SWITCH_INTERVAL", "copied", "drain", "is_paced",
           "pace", "paced", "release_when_unused", "wait_for_releases"]

#: work a paced thread does between two hand-overs of the GIL (seconds)
STEP = 100e-6
#: how long a hand-over sleeps (the actual sleep is longer: the kernel's timer slack)
HANDOVER = 20e-6
#: the interpreter's switch interval while a paced swap runs (Python's default is 5 ms)
SWITCH_INTERVAL = 100e-6
#: the longest the garbage collector stays off for paced blocks (seconds)
GC_PAUSE_MAX = 30.0
#: items removed from a container between two calls of :func:`pace`
_DRAIN_STEP = 512
#: items copied between two calls of :func:`pace`
_COPY_STEP = 4096

_local = threading.local()
_lock = threading.Lock()
_users = 0
_saved = _ours = 0.0
_gc_paused = False  # the collector was switched off by paced() (see _pause_gc)
_gc_timer: threading.Timer | None = None


def pace() -> None:
    """Hand the GIL over if this thread is in :func:`paced` and has worked :data:`STEP`
    since it last did; otherwise return at once."""
    if not getattr(_local, "on", False):
        return
    now = time.perf_counter()
    if now - _local.last >= STEP:
        time.sleep(HANDOVER)
        _local.last = time.perf_counter()


def is_paced() -> bool:
    """Whether this thread is in :func:`paced`."""
    return bool(getattr(_local, "on", False))


@contextlib.contextmanager
def paced() -> Iterator[None]:
    """Run the block paced (see the module docstring); nests, and restores the switch
    interval when the last paced block of the process ends."""
    global _users, _saved, _ours
    if is_paced():
        yield
        return
    with _lock:
        if _users == 0:
            _saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_saved, SWITCH_INTERVAL))
            _ours = sys.getswitchinterval()  # as stored (whole microseconds)
            _pause_gc()
        _users += 1
    _local.on, _local.last = True, time.perf_counter()
    try:
        yield
    finally:
        _local.on = False
        with _lock:
            _users -= 1
            # restore unless someone else set another interval meanwhile
            if _users == 0 and sys.getswitchinterval() == _ours:
                sys.setswitchinterval(_saved)
            if _users == 0:
                _resume_gc()


def _pause_gc() -> None:
    """Switch the automatic collector off (if it is on); called with ``_lock`` held."""
    global _gc_paused, _gc_timer
    if not gc.isenabled():
        return
    gc.disable()
    _gc_paused = True
    _gc_timer = threading.Timer(GC_PAUSE_MAX, _resume_gc_late)
    _gc_timer.daemon = True
    _gc_timer.start()


def _resume_gc() -> None:
    """Move what was created meanwhile to the oldest generation and switch the collector
    back on, if :func:`_pause_gc` switched it off and it is still off; called with
    ``_lock`` held."""
    global _gc_paused, _gc_timer
    if _gc_timer is not None:
        _gc_timer.cancel()
        _gc_timer = None
    if not _gc_paused:
        return
    _gc_paused = False
    if gc.isenabled():  # someone switched it on meanwhile: leave it to them
        return
    if gc.get_freeze_count() == 0:  # never unfreeze an application's frozen objects
        gc.freeze()
        gc.unfreeze()
    gc.enable()


def _after_fork_in_child() -> None:
    """Only the thread that forked comes along: forget the paced blocks of the others (the
    collector and the switch interval are restored when none is left)."""
    global _users, _gc_timer, _lock
    _lock = threading.Lock()
    _gc_timer = None  # its thread did not come along
    _users = 1 if is_paced() else 0
    if _users == 0:
        if sys.getswitchinterval() == _ours:
            sys.setswitchinterval(_saved)
        _resume_gc()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _resume_gc_late() -> None:
    """The collector was off for :data:`GC_PAUSE_MAX`: switch it back on although a paced
    block is still running (a build that takes that long)."""
    with _lock:
        _resume_gc()


def copied(items: Iterable[T]) -> list[T]:
    """``list(items)``, a step at a time when paced (copying 100,000 items in one call keeps
    the GIL ~0.3 ms)."""
    if not is_paced():
        return list(items)
    out: list[T] = []
    if isinstance(items, list | tuple):
        for lo in range(0, len(items), _COPY_STEP):
            out.extend(items[lo:lo + _COPY_STEP])
            pace()
        return out
    it = iter(items)
    while chunk := list(itertools.islice(it, _COPY_STEP)):
        out.extend(chunk)
        pace()
    return out


def drain(container: Any) -> None:
    """Empty a list, set or dict a step at a time, pacing between steps (the objects it
    held are freed a few hundred at a time instead of all at once)."""
    if isinstance(container, list):
        while container:
            del container[-_DRAIN_STEP:]
            pace()
    elif isinstance(container, set | dict):
        pop = container.pop if isinstance(container, set) else container.popitem
        while container:
            for _ in range(min(_DRAIN_STEP, len(container))):
                pop()
            pace()


_releases: queue.SimpleQueue[list[Any] | threading.Event] = queue.SimpleQueue()
_releaser: threading.Thread | None = None


def _release_loop() -> None:
    while True:
        held = _releases.get()
        if isinstance(held, threading.Event):  # see wait_for_releases
            held.set()
            continue
        try:
            with paced():
                while held:
                    container = held.pop()
                    # ours alone: this local, the getrefcount argument (held let go of it)
                    if sys.getrefcount(container) <= 2:
                        drain(container)
                    del container
                    pace()
        except Exception:  # pragma: no cover - never lose the thread; the rest is freed as usual
            held.clear()


_releaser_lock = threading.Lock()


def _ensure_releaser() -> None:
    """Start the release thread if it is not running (also after a fork). Never waits: it
    may run in a finalizer, on any thread, at any allocation."""
    global _releaser
    if _releaser is not None and _releaser.is_alive():
        return
    if not _releaser_lock.acquire(blocking=False):
        return  # another thread is starting it
    try:
        if _releaser is None or not _releaser.is_alive():
            _releaser = threading.Thread(target=_release_loop, name="moderation-release",
                                         daemon=True)
            _releaser.start()
    finally:
        _releaser_lock.release()


def _hand_over(held: list[Any] | threading.Event) -> None:
    """Queue ``held`` for the release thread (a finalizer: no lock is waited for)."""
    _releases.put(held)
    _ensure_releaser()


def release_when_unused(owner: object, containers: list[Any]) -> None:
    """When ``owner`` (a matcher or library no longer served) is freed, empty those of
    ``containers`` that nothing else holds on the release thread, paced. A container still
    held elsewhere (shared with the library now served, or kept by the caller) is left
    alone."""
    big = [c for c in containers if isinstance(c, list | set | dict) and len(c) > _DRAIN_STEP]
    if big:
        _ensure_releaser()
        finalizer = weakref.finalize(owner, _hand_over, big)
        finalizer.atexit = False


def wait_for_releases(timeout: float = 30.0) -> bool:
    """Wait until the release thread has emptied everything handed to it so far (tests,
    benchmarks); ``False`` on timeout."""
    done = threading.Event()
    _hand_over(done)
    return done.wait(timeout)
