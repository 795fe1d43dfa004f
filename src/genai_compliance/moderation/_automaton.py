"""Building the Aho–Corasick automata off the serving threads (issue 19).

The automata are ``daachorse`` double arrays over UTF-8 patterns. Their constructor builds
with the GIL released; what it keeps the GIL for is reading the Python list of patterns
(about 60 ns a pattern: 6 ms for 100,000 keywords). So a large automaton built during a
paced swap (:func:`._pacing.paced`) is built in a process of its own
(``_build_worker.py``): the patterns are written to it a step at a time, it sends back the
serialized automaton with its SHA-256, and this process checks the digest (``hashlib``
releases the GIL on large data) and deserializes it (about 0.2 ms for 100,000 keywords,
checked by daachorse). If that process cannot be started or fails, the automaton is built
here instead: the same automaton, with the longer stall. A small automaton (fewer than
:data:`OWN_PROCESS_MIN` patterns) and any automaton built outside a swap (at start-up) are
built here.

:func:`prefix_automaton` builds, the same way, the automaton over the reversed proper prefixes
of the keywords that answers a stream's hold-back after such a swap, in place of the
prefix tables a start-up build fills in this process (~460,000 prefixes for 100,000
keywords: the largest part of the Python work a swap did here).
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
import subprocess
import sys
import tempfile
import threading
from array import array
from pathlib import Path
from typing import Any

from ._pacing import is_paced, pace

__all__ = ["LONGEST", "OWN_PROCESS_MIN", "REVERSED_PREFIXES", "STANDARD", "BuildFailed",
           "automaton", "built_aside", "prefix_automaton"]

#: match kinds (daachorse's values): leftmost-longest for keywords, standard (overlapping
#: search) for allow words; and what the build process makes of the patterns for
#: :func:`prefix_automaton`
LONGEST, STANDARD, REVERSED_PREFIXES = 1, 0, 2
#: patterns from which a paced build runs in a process of its own (reading fewer in this
#: process keeps the GIL for less than ~150 µs)
OWN_PROCESS_MIN = 2048
#: patterns written to the build process between two hand-overs of the GIL
_STEP = 1024
#: the longest a build process may take before it is killed (then built here)
_TIMEOUT = 600.0
_HEADER = struct.Struct("<BQ")  # match kind, number of patterns
_REPLY = struct.Struct("<Q32s")  # size of the serialized automaton, its SHA-256

_WORKER = Path(__file__).with_name("_build_worker.py")
_stats_lock = threading.Lock()
#: how many automata were built in a process of their own / here (tests, benchmarks)
built_aside = {"process": 0, "here": 0, "fallback": 0}


class BuildFailed(RuntimeError):
    """The build process did not deliver an automaton (the build then runs here)."""


def automaton(patterns: list[bytes], kind: int = LONGEST) -> Any:
    """The automaton over ``patterns`` (``None`` for none): a pattern's value is its index;
    of equal patterns the first is reported. Built in a process of its own when paced and
    large, else here (see the module docstring)."""
    import daachorse

    if not patterns:
        return None
    if is_paced() and len(patterns) >= OWN_PROCESS_MIN and _WORKER.exists() and sys.executable:
        try:
            built = _in_process_of_its_own(patterns, kind)
        except (BuildFailed, OSError, ValueError):
            _count("fallback")
        else:
            _count("process")
            return built
    _count("here")
    return daachorse.DoubleArrayAhoCorasick(patterns, kind)


def prefix_automaton(patterns: list[bytes]) -> Any:
    """A leftmost-longest automaton over the reversed proper prefixes of the UTF-8
    ``patterns`` (``None`` when it cannot be built in a process of its own: outside a paced
    swap, too few patterns, or that process failed). A match at 0 in a reversed tail is the
    longest suffix of the text that is a proper prefix of a pattern (see
    :meth:`Matcher.open_prefix`): the stream's hold-back without a table of hundreds of
    thousands of prefixes built in this process."""
    if not (is_paced() and len(patterns) >= OWN_PROCESS_MIN and _WORKER.exists()
            and sys.executable):
        return None
    try:
        built = _in_process_of_its_own(patterns, REVERSED_PREFIXES)
    except (BuildFailed, OSError, ValueError):
        _count("fallback")
        return None
    _count("process")
    return built


def _count(key: str) -> None:
    with _stats_lock:
        built_aside[key] += 1


def _in_process_of_its_own(patterns: list[bytes], kind: int) -> Any:
    import daachorse

    assert array("I").itemsize == 4
    with tempfile.TemporaryFile() as errors, subprocess.Popen(
            [sys.executable, str(_WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=errors) as proc:
        timer = threading.Timer(_TIMEOUT, proc.kill)
        timer.daemon = True
        timer.start()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _send(proc.stdin, patterns, kind)
            except BrokenPipeError as exc:  # it failed early: say why
                raise BuildFailed(_why(proc, errors)) from exc
            head = proc.stdout.read(_REPLY.size)
            if len(head) != _REPLY.size:
                raise BuildFailed(_why(proc, errors))
            size, digest = _REPLY.unpack(head)
            data = proc.stdout.read(size)  # read into one bytes object (no join)
            if proc.wait() != 0 or len(data) != size:
                raise BuildFailed(_why(proc, errors))
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(OSError):  # a pipe the process left broken
                proc.stdin.close()  # type: ignore[union-attr]
    if hashlib.sha256(data).digest() != digest:
        raise BuildFailed("the serialized automaton does not match its digest")
    return daachorse.DoubleArrayAhoCorasick.deserialize(data)


def _send(stdin: Any, patterns: list[bytes], kind: int) -> None:
    """Kind and count, every pattern's length, then the patterns, a step at a time."""
    stdin.write(_HEADER.pack(kind, len(patterns)))
    for lo in range(0, len(patterns), _STEP):
        stdin.write(array("I", map(len, patterns[lo:lo + _STEP])).tobytes())
        pace()
    for lo in range(0, len(patterns), _STEP):
        stdin.write(b"".join(patterns[lo:lo + _STEP]))
        pace()
    stdin.close()


def _why(proc: subprocess.Popen[bytes], errors: Any) -> str:
    if proc.poll() is None:
        proc.kill()
    code = proc.wait()
    errors.seek(0)
    tail = errors.read()[-2000:].decode("utf-8", "replace").strip()
    return f"the automaton build process exited with {code}: {tail or 'no message'}"
