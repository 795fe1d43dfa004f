"""Build one automaton in a process of its own (run by :mod:`._automaton` as a script).

Reads from stdin the match kind (or ``2``: build over the reversed proper prefixes of the
patterns) and the number of patterns, every pattern's length (native
``uint32``) and the patterns; writes to stdout the size of the serialized ``daachorse``
automaton, its SHA-256 and the automaton. Runs at the lowest priority (see
:func:`_step_back`). Imports nothing of this package (it starts in a few tens of milliseconds).
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
from array import array
from typing import BinaryIO

_HEADER = struct.Struct("<BQ")
_LONGEST, _REVERSED_PREFIXES = 1, 2  # as in _automaton
_REPLY = struct.Struct("<Q32s")


def _read(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise SystemExit(f"expected {size} bytes of input, got {len(data)}")
    return data


def _step_back() -> None:
    """Run after every thread of the serving process: a batch job (Linux) at the lowest
    priority, so that on a busy machine the build waits, not the checks."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        pass
    try:
        os.nice(19)
    except (AttributeError, OSError):  # pragma: no cover - not on this platform
        pass


def main() -> None:
    _step_back()
    import daachorse

    source = sys.stdin.buffer
    kind, count = _HEADER.unpack(_read(source, _HEADER.size))
    lengths = array("I")
    lengths.frombytes(_read(source, lengths.itemsize * count))
    data = _read(source, sum(lengths))
    patterns = []
    pos = 0
    for length in lengths:
        patterns.append(data[pos:pos + length])
        pos += length
    del data
    if kind == _REVERSED_PREFIXES:  # the reversed proper prefixes, leftmost-longest
        prefixes: set[bytes] = set()
        for pattern in patterns:
            term = pattern.decode("utf-8")
            prefixes.update(term[:k][::-1].encode("utf-8") for k in range(1, len(term)))
        patterns, kind = sorted(prefixes), _LONGEST
    serialized = daachorse.DoubleArrayAhoCorasick(patterns, kind).serialize()
    out = sys.stdout.buffer
    out.write(_REPLY.pack(len(serialized), hashlib.sha256(serialized).digest()))
    out.write(serialized)
    out.flush()


if __name__ == "__main__":
    main()
