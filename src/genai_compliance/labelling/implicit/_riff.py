"""Stream helpers shared by the audio/video handlers, and RIFF chunk walking (WAV, AVI).

Everything here works on seekable binary file objects and reads only what it needs: sample
and frame data are copied in 1 MiB pieces, so memory stays bounded whatever the file size
(GB 45438 / LM-5 implicit labels must be writable into files of any size).
"""

from __future__ import annotations

import functools
import io
import os
import stat
import struct
from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any, BinaryIO, TypeVar

import attrs

from genai_compliance.errors import MalformedMedia, MediaError, UnsupportedMedia

_T = TypeVar("_T")

__all__ = [
    "COPY_BLOCK",
    "Chunk",
    "copy_range",
    "copy_spliced",
    "file_size",
    "guarded",
    "label_chunk",
    "read_at",
    "riff_chunks",
    "riff_header",
    "strip_label_text",
]

#: bytes moved per read when copying sample/frame data
COPY_BLOCK = 1 << 20


def file_size(f: BinaryIO) -> int:
    """Size of a seekable stream (position is restored)."""
    pos = f.tell()
    size = f.seek(0, 2)
    f.seek(pos)
    return size


def read_at(f: BinaryIO, offset: int, n: int, fmt: str) -> bytes:
    """Exactly ``n`` bytes at ``offset``; :class:`MalformedMedia` when the file is shorter
    (checked before reading, so a corrupt size never allocates a huge buffer)."""
    size = f.seek(0, 2)
    if offset < 0 or n < 0 or offset + n > size:
        raise MalformedMedia(
            f"{fmt} file is truncated: {n} bytes needed at offset {offset}, file has {size}",
            format=fmt,
            offset=offset,
        )
    f.seek(offset)
    data = f.read(n)
    if len(data) != n:
        raise MalformedMedia(
            f"{fmt} file is truncated: {n} bytes needed at offset {offset}, {len(data)} present",
            format=fmt,
            offset=offset,
        )
    return data


#: ``copy_file_range`` is used only when the source and the target offsets are both
#: multiples of this (a PDF's update appended after the whole file; where a filesystem can
#: share blocks, XFS or Btrfs, the kernel then clones them). At other offsets, shifted by an
#: inserted label or not, it measured 1.3-1.6x a plain file copy on Linux 6.18 / ext4
#: (page-cache folios split), where a read/write loop through one COPY_BLOCK buffer stays
#: at 0.8-1.1x (benchmarks/bench_implicit_floor.py, issue 19).
_FOLIO_ALIGN = 1 << 16


def _kernel_copy(src: BinaryIO, dst: BinaryIO, offset: int, length: int) -> int:
    """Copy between the descriptors when both ends are regular files, bypassing the
    buffered objects: ``os.copy_file_range`` when both offsets are ``_FOLIO_ALIGN``-aligned,
    else ``preadv``/``write`` through one COPY_BLOCK buffer (no seek, no allocation per
    piece). Returns the bytes copied (0 when not possible, then the
    caller loops through the buffered objects)."""
    if length < COPY_BLOCK or not hasattr(os, "preadv"):
        return 0
    try:
        sfd, dfd = src.fileno(), dst.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return 0
    if not (stat.S_ISREG(os.fstat(sfd).st_mode) and stat.S_ISREG(os.fstat(dfd).st_mode)):
        return 0
    dst.flush()
    start = os.lseek(dfd, 0, os.SEEK_CUR)
    done = 0
    if offset % _FOLIO_ALIGN == start % _FOLIO_ALIGN == 0 and hasattr(os, "copy_file_range"):
        try:
            while done < length:
                n = os.copy_file_range(sfd, dfd, min(length - done, 1 << 30), offset + done)
                if n == 0:
                    break
                done += n
        except OSError:  # EXDEV, ENOSYS … on some kernels: the buffer loop does the rest
            os.lseek(dfd, start + done, os.SEEK_SET)
            done += _buffered_copy(sfd, dfd, offset + done, length - done)
    else:
        done = _buffered_copy(sfd, dfd, offset, length)
    dst.seek(start + done)  # resynchronise the buffered writer with the descriptor
    return done


def _buffered_copy(sfd: int, dfd: int, offset: int, length: int) -> int:
    """``length`` bytes from ``sfd`` at ``offset`` to ``dfd`` at its position, through one
    COPY_BLOCK buffer; returns the bytes copied (short at the source's end)."""
    buf = memoryview(bytearray(COPY_BLOCK))
    done = 0
    while done < length:
        n = os.preadv(sfd, [buf[:min(COPY_BLOCK, length - done)]], offset + done)
        if n == 0:
            break
        written = 0
        while written < n:
            written += os.write(dfd, buf[written:n])
        done += n
    return done


def copy_spliced(src: BinaryIO, dst: BinaryIO, spans: Iterable[tuple[int, int]], fmt: str, *,
                 insert_at: int | None, insert: bytes, drop: Container[int],
                 patched: Mapping[int, bytes]) -> None:
    """Copy the ``(offset, size)`` spans of ``src`` to ``dst`` in order, contiguous runs in
    one piece each; before the span at ``insert_at`` write ``insert``, leave out the spans
    at ``drop`` and write ``patched[offset]`` in place of those spans."""
    run_start: int | None = None
    run_end = 0
    for off, size in spans:
        if off == insert_at or off in drop or off in patched:
            if run_start is not None:
                copy_range(src, dst, run_start, run_end - run_start, fmt)
                run_start = None
            if off == insert_at:
                dst.write(insert)
            if off in drop:
                continue
            if off in patched:
                dst.write(patched[off])
                continue
        if run_start is None:
            run_start = off
        run_end = off + size
    if run_start is not None:
        copy_range(src, dst, run_start, run_end - run_start, fmt)


def copy_range(src: BinaryIO, dst: BinaryIO, offset: int, length: int, fmt: str) -> None:
    """Copy ``length`` bytes of ``src`` starting at ``offset`` to ``dst`` in bounded pieces
    (in the kernel when both are regular files)."""
    done = _kernel_copy(src, dst, offset, length)
    offset += done
    length -= done
    src.seek(offset)
    left = length
    while left > 0:
        piece = src.read(min(COPY_BLOCK, left))
        if not piece:
            raise MalformedMedia(
                f"{fmt} file ends inside a data block at offset {offset + length - left}",
                format=fmt,
                offset=offset + length - left,
            )
        dst.write(piece)
        left -= len(piece)


def strip_label_text(raw: bytes) -> str:
    """Decode a label payload: UTF-8, trailing NUL/padding removed (INFO strings are ZSTR)."""
    return raw.rstrip(b"\x00").decode("utf-8", errors="replace")


@attrs.frozen
class Chunk:
    """One RIFF chunk: ``offset`` of its 8-byte header, ``size`` of its data (no pad byte)."""

    cid: bytes
    offset: int
    size: int

    @property
    def data_offset(self) -> int:
        """Where the chunk data starts."""
        return self.offset + 8

    @property
    def end(self) -> int:
        """Offset after the data and its pad byte (RIFF chunks are word aligned)."""
        return self.offset + 8 + self.size + (self.size & 1)


def riff_chunks(
    f: BinaryIO, start: int, end: int, fmt: str, max_chunks: int = 1_000_000
) -> list[Chunk]:
    """The chunks between ``start`` and ``end`` (headers only; data is never read).

    A missing final pad byte at the very end of the file is tolerated (many writers omit it);
    a chunk running past ``end`` is :class:`MalformedMedia`.
    """
    chunks: list[Chunk] = []
    pos = start
    while pos < end:
        if end - pos < 8:
            raise MalformedMedia(
                f"{fmt}: {end - pos} stray bytes where a chunk header was expected",
                format=fmt,
                offset=pos,
            )
        cid, size = struct.unpack("<4sI", read_at(f, pos, 8, fmt))
        if pos + 8 + size > end:
            raise MalformedMedia(
                f"{fmt}: chunk {cid!r} of {size} bytes runs past its parent (ends at {end})",
                format=fmt,
                offset=pos,
            )
        chunk = Chunk(cid, pos, size)
        chunks.append(chunk)
        if len(chunks) > max_chunks:
            raise UnsupportedMedia(f"{fmt}: more than {max_chunks} chunks", format=fmt, offset=pos)
        pos = chunk.end  # may pass ``end`` by one when the final pad byte is missing
    return chunks


def riff_header(f: BinaryIO, fmt: str, form: bytes) -> tuple[int, int]:
    """Check the ``RIFF`` header with form type ``form``; return (riff_end, file_size).

    A RIFF size larger than the file (written by a streaming muxer) is clamped to the file.
    """
    size_total = file_size(f)
    head = read_at(f, 0, 12, fmt)
    magic, riff_size, got_form = struct.unpack("<4sI4s", head)
    if magic in (b"RF64", b"BW64"):
        raise UnsupportedMedia(
            f"{fmt}: RF64/BW64 files (over 4 GiB) are not supported; label a RIFF file",
            format=fmt,
            offset=0,
        )
    if magic != b"RIFF" or got_form != form:
        raise MalformedMedia(f"not a RIFF {form!r} file", format=fmt, offset=0)
    return min(8 + riff_size, size_total), size_total


def guarded(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Wrap a handler's ``read``/``write`` so that a structure our checks missed surfaces as
    :class:`MalformedMedia` (with the stream position as offset), never as a bare
    ``struct.error``/``IndexError``/…: the handler contract allows only the media errors."""

    @functools.wraps(fn)
    def wrapper(self: Any, src: BinaryIO, *args: Any) -> _T:
        try:
            return fn(self, src, *args)
        except MediaError:
            raise
        except (
            struct.error,
            IndexError,
            KeyError,
            ValueError,
            OverflowError,
            RecursionError,
            UnicodeError,
            MemoryError,
        ) as exc:
            try:
                where = src.tell()
            except (OSError, ValueError):
                where = None
            raise MalformedMedia(
                f"{self.name} structure is corrupt ({type(exc).__name__}: {exc})",
                format=self.name,
                offset=where,
            ) from exc

    return wrapper


def label_chunk(cid: bytes, payload: bytes) -> bytes:
    """A RIFF chunk: id, little-endian size, payload and the pad byte to an even length."""
    return struct.pack("<4sI", cid, len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")
