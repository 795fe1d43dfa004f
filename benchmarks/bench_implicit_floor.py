"""The floor of an implicit-label writer (issue 19; LM-5), and the helpers the other
``bench_implicit_*`` benchmarks use to print every writer beside it in the same run.

``label_file`` writes a temp file beside the target (``mkstemp``), the head of the source,
the label (inserted, so the rest of the file is shifted), the rest, and ``os.replace``\\ s
the temp file onto the target. It does not ``fsync``, so neither does the floor: the
*atomic floor* is exactly that pattern without parsing (20 bytes, 1,500 bytes inserted, the
rest copied, renamed). Two things make it dearer than a plain ``shutil.copyfile``, and
``main`` measures each of them here:

* how the rest is copied: ``copy_file_range`` (what the writers did up to issue 19) is as
  fast as a copy only from and to 64 KiB-aligned offsets (measured on Linux 6.18 / ext4);
  shifted by an inserted label, or even unshifted from an offset such as 5,742 (an AVI's
  ``movi``), it costs 1.3-1.6x, where a read/write loop through one 1 MiB buffer stays at
  about a copy (the writers now use that loop there);
* whether the target exists: on ext4, renaming over an existing file (and truncating one,
  as ``copyfile`` does) starts the writeback of the new data (``auto_da_alloc``), which
  costs about what an ``fsync`` does. Labelling into a new path does not pay it; relabelling
  in place does, whatever the writer.

The writer's figures are printed against the plain copy (the issue's "at most 1.5x a file
copy") and against the atomic floor, for a fresh target and for an existing one.
Medians of ``GC_BENCH_REPEAT`` (default 7) rounds; in each round the runs go in a shuffled
order and every target is prepared outside the timed part.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPEAT = int(os.environ.get("GC_BENCH_REPEAT", "7"))
BLOCK = 1 << 20
INSERT = 1500  # about the size of the XMP packet the image writers insert


def plain_copy(src: Path, dst: Path) -> None:
    """The plain copy the issue's ratio is read from."""
    shutil.copyfile(src, dst)


def _loop(sfd: int, dfd: int, off: int, end: int) -> None:
    buf = memoryview(bytearray(BLOCK))
    while off < end:
        n = os.preadv(sfd, [buf[:min(BLOCK, end - off)]], off)
        if n == 0:
            raise EOFError(off)
        w = 0
        while w < n:
            w += os.write(dfd, buf[w:n])
        off += n


def _kernel(sfd: int, dfd: int, off: int, end: int) -> None:
    while off < end:
        n = os.copy_file_range(sfd, dfd, end - off, off)
        if n == 0:
            raise EOFError(off)
        off += n


def atomic_floor(src: Path, dst: Path, *, kernel: bool = False, insert: int = INSERT,
                 head: int = 20, fsync: bool = False) -> None:
    """A temp file beside ``dst``, the first ``head`` bytes of ``src``, ``insert`` bytes,
    the rest (``copy_file_range`` when ``kernel``, else a 1 MiB read/write loop), renamed
    onto ``dst``; ``fsync`` before the rename only when asked (label_file does not)."""
    n = src.stat().st_size
    head = min(head, n)
    fd, tmp = tempfile.mkstemp(prefix=".floor.", dir=dst.parent)
    try:
        with src.open("rb") as fin:
            sfd = fin.fileno()
            os.write(fd, os.pread(sfd, head, 0))
            os.write(fd, b" " * insert)
            (_kernel if kernel else _loop)(sfd, fd, head, n)
            if fsync:
                os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, dst)


Runner = Callable[[Path, Path], object]


def compare(src: Path, work: Path, runners: dict[str, Runner], *, existing: bool = False,
            repeat: int = REPEAT) -> dict[str, list[float]]:
    """Seconds per run of each runner (``runner(src, target)``), in shuffled rounds. The
    target is removed before each run (``existing=False``) or is a full copy of ``src``
    (``existing=True``: an earlier output being replaced), prepared untimed, and dirty data
    is written back (``os.sync``) before each timed run."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    rng = random.Random(19)
    for _ in range(repeat):
        names = list(runners)
        rng.shuffle(names)
        for name in names:
            target = work / f"target-{name.split()[0]}"
            if existing:
                if not target.exists():
                    shutil.copyfile(src, target)
            else:
                target.unlink(missing_ok=True)
            os.sync()  # no run pays for the writeback of the data an earlier one left dirty
            start = time.perf_counter()
            runners[name](src, target)
            times[name].append(time.perf_counter() - start)
    for name in runners:
        (work / f"target-{name.split()[0]}").unlink(missing_ok=True)
    return times


def ratio(times: dict[str, list[float]], a: str, b: str) -> float:
    """Median over the rounds of ``a``'s time over ``b``'s (same round)."""
    return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))


def report(title: str, mb: float, times: dict[str, list[float]], ours: str = "label_file",
           copy: str = "copy", floor: str = "atomic") -> None:
    """One line per runner: median ms, MB/s, time ratio to the copy and to the floor."""
    print(f"  {title}")
    print(f"    {'':<44} {'ms':>8} {'MB/s':>8} {'x copy':>7} {'x atomic':>9}")
    for name, vals in times.items():
        med = statistics.median(vals)
        print(f"    {name:<44} {med * 1e3:>8.1f} {mb / med:>8.0f} "
              f"{ratio(times, name, copy):>7.2f} {ratio(times, name, floor):>9.2f}")
    if ours in times:
        print(f"    -> {ours}: {ratio(times, ours, copy):.2f}x the plain copy, "
              f"{ratio(times, ours, floor):.2f}x the atomic floor")


def both(title: str, src: Path, work: Path, ours: Runner, extra: dict[str, Runner] | None = None,
         repeat: int = REPEAT) -> None:
    """``ours`` beside the plain copy and the atomic floor, for a fresh and an existing
    target."""
    mb = src.stat().st_size / 1e6
    runners: dict[str, Runner] = {
        "copy": plain_copy,
        "atomic": atomic_floor,
        "label_file": ours,
        **(extra or {}),
    }
    for existing in (False, True):
        where = "existing target (replaced)" if existing else "fresh target"
        report(f"{title}, {mb:.0f} MB, {where}", mb,
               compare(src, work, runners, existing=existing, repeat=repeat))


def main() -> None:
    """The anatomy of the floor on a 64 MiB file: copy method, target state, fsync."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = work / "src.bin"
        with src.open("wb") as f:
            for _ in range(64):
                f.write(os.urandom(BLOCK))
        mb = src.stat().st_size / 1e6
        runners: dict[str, Runner] = {
            "copy": plain_copy,
            "atomic": atomic_floor,
            "atomic_cfr (copy_file_range, shifted)": lambda s, d: atomic_floor(s, d,
                                                                               kernel=True),
            "atomic_cfr0 (copy_file_range, no insert)": lambda s, d: atomic_floor(
                s, d, kernel=True, insert=0),
            "atomic_cfr5742 (copy_file_range, 5742 B head, no insert)": lambda s, d: (
                atomic_floor(s, d, kernel=True, insert=0, head=5742)),
            "atomic_cfr64k (copy_file_range, 64 KiB head, no insert)": lambda s, d: (
                atomic_floor(s, d, kernel=True, insert=0, head=1 << 16)),
            "atomic_64k (1 MiB loop, 64 KiB inserted)": lambda s, d: atomic_floor(
                s, d, insert=1 << 16),
            "atomic_fsync (1 MiB loop, fsync)": lambda s, d: atomic_floor(s, d, fsync=True),
            "copy_fsync (copyfile, fsync)": _copy_fsync,
        }
        for existing in (False, True):
            where = "existing target (replaced)" if existing else "fresh target"
            report(f"floor anatomy, {mb:.0f} MB, {where}", mb,
                   compare(src, work, runners, existing=existing))


def _copy_fsync(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


if __name__ == "__main__":
    main()
