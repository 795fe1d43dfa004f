"""Normalisation against evasion, keeping a map back to the original text (SR-5, IM-4a).

Every code point is folded through one table, ``data/fold.tsv``, generated from Unicode data
by :mod:`._gentables` (see there for the sources): NFKD compatibility forms (full width,
circled and parenthesised digits ①⑸㈤, mathematical alphanumerics 𝐀 𝒜, enclosed letters,
superscripts), case folding, decimal digits of every script, traditional → simplified Chinese
(zhconv), Unicode's confusables prototypes (Cyrillic/Greek look-alikes …), and dropping every
``Default_Ignorable_Code_Point``, combining mark, format control, space, punctuation and symbol.
ASCII letters and digits fold to themselves (lower case).

Then repeated-character padding is folded: a run of the same CJK (or other non-alphabetic,
≥ U+2E80) character counts once (``违违违禁`` → ``违禁``); a run of three or more of the same
letter counts twice (``goooood`` → ``good``); digits are never folded (``1000`` stays).

The fold is per code point, so text and keywords fold alike and no insertion of a dropped
character between a keyword's characters can hide it. Short texts (prompts, replies, stream
chunks) are folded by ``str.translate`` through the same table (``bytes.translate`` for
ASCII); long texts with numpy in cache-sized steps (one gather, one compress, the padding
rule). :class:`Folded` keeps what is needed to map any normalised span back to the original
text exactly, built only when a match asks for it (for a long text, only for the steps the
match falls in).
"""

from __future__ import annotations

import bisect
import codecs
import functools
import itertools
import re
from importlib import resources
from typing import Any

try:
    import numpy as np
except ModuleNotFoundError:  # pragma: no cover - the moderation extra; see _tables
    np = None  # type: ignore[assignment]

from ..errors import ConfigurationError
from ._pacing import pace

__all__ = ["Folded", "fold", "fold_char", "is_invisible", "is_word_char", "normalise",
           "normalise_fast", "normalise_term", "normalise_terms"]

MAX_CP = 0x110000
_EXP_BASE = 0x200000  # a table value v >= this folds to the sequence expansions[v - _EXP_BASE]
_WIDE = 0x2E80  # from here on (CJK radicals, kana, ideographs …) a repeat counts once
_SMALL = 160  # texts up to this length are folded in pure Python (cheaper than numpy's setup)

Array = Any  # numpy arrays (numpy's own stubs are too loose to help here)


@functools.cache
def _tables() -> tuple[Array, Array, list[str], dict[str, str]]:
    """(code point -> folded code point | 0 dropped | _EXP_BASE+k, invisible mask,
    expansions, per-character cache)."""
    if np is None:  # pragma: no cover - the moderation extra
        raise ConfigurationError("keyword moderation needs numpy: pip install "
                                 "'genai-compliance[moderation]'", field="moderation")
    table = np.arange(MAX_CP, dtype=np.uint32)
    invisible = np.zeros(MAX_CP, dtype=bool)
    expansions: list[str] = []
    text = resources.files(__package__).joinpath("data/fold.tsv").read_text("utf-8")
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        kind, a, b = line.split(" ")
        if kind == "M":
            cp = int(a, 16)
            seq = "".join(chr(int(c, 16)) for c in b.split(","))
            if len(seq) == 1:
                table[cp] = ord(seq)
            else:
                table[cp] = _EXP_BASE + len(expansions)
                expansions.append(seq)
        else:
            lo, hi = int(a, 16), int(b, 16) + 1
            table[lo:hi] = 0
            if kind == "I":
                invisible[lo:hi] = True
    table.setflags(write=False)
    invisible.setflags(write=False)
    return table, invisible, expansions, {}


def fold_char(ch: str) -> str:
    """The folded form of one code point ('' when it is dropped)."""
    table, _, expansions, cache = _tables()
    out = cache.get(ch)
    if out is None:
        v = int(table[ord(ch)])
        out = "" if v == 0 else (expansions[v - _EXP_BASE] if v >= _EXP_BASE else chr(v))
        if len(cache) < 100_000:  # bounded: a text of every code point must not grow it
            cache[ch] = out
    return out


def is_invisible(ch: str) -> bool:
    """Dropped and invisible: a default ignorable, a combining mark or a format control (not a
    word break, unlike a space or punctuation)."""
    return bool(_tables()[1][ord(ch)])


def is_word_char(ch: str) -> bool:
    """Folds to a letter or digit of an alphabetic script (Latin, Greek, Cyrillic …): the
    characters that make a Latin keyword part of a longer word."""
    f = fold_char(ch)
    return bool(f) and f[0].isalnum() and ord(f[0]) < _WIDE


class _Chunk:
    """One step of a fold: where it starts in the original text, how many normalised
    characters each original code point produced, and the padding dropped (local indexes)."""

    __slots__ = ("_origin", "_shifted", "_starts", "drops", "expanded", "lengths", "lo")

    def __init__(self, lo: int, lengths: Array, drops: Array | None, expanded: bool,
                 origin: Array | list[int] | None = None) -> None:
        self.lo = lo
        self.lengths = lengths
        self.drops = drops
        self.expanded = expanded
        self._origin = origin
        self._shifted: Array | None = None
        self._starts: Array | None = None

    def origin(self) -> Array | list[int]:
        """Local original index of each pre-padding normalised character."""
        if self._origin is None:
            self._origin = (np.repeat(np.arange(len(self.lengths)), self.lengths)
                            if self.expanded else np.flatnonzero(self.lengths))
        return self._origin

    def pre(self, s: int) -> int:
        """Local pre-padding index of local normalised position ``s``."""
        d = self.drops
        if d is None:
            return s
        if self._shifted is None:
            self._shifted = d - np.arange(len(d))
        return s + int(np.searchsorted(self._shifted, s, side="right"))


class Folded:
    """A text folded for matching: the normalised text (``norm``, ``length`` characters),
    its UTF-8 for the automaton (``data``) and the map back to the original.

    ``span(s, e)`` turns a normalised span into ``(start, end)`` in the original text: from
    the first original character of ``norm[s]`` to the last one folded into ``norm[e-1]``
    (a padded run included). Two forms: :class:`_Short` (texts up to ``_SMALL`` code
    points) and :class:`_Stepwise` (longer ones); both build the map only when asked."""

    __slots__ = ()

    length: int
    n_pre: int  # normalised characters before the padding rule

    @property
    def norm(self) -> str:
        raise NotImplementedError

    @property
    def data(self) -> bytes:
        """The normalised text as UTF-8, what the automaton scans."""
        raise NotImplementedError

    def char_of(self, b: int) -> int:
        """Character index of byte offset ``b`` of :attr:`data`."""
        raise NotImplementedError

    def byte_of(self, c: int) -> int:
        """Byte offset in :attr:`data` of character ``c``."""
        raise NotImplementedError

    def span(self, s: int, e: int) -> tuple[int, int]:
        raise NotImplementedError

    def same_origin(self, s: int) -> bool:
        """``norm[s-1]`` and ``norm[s]`` come from one original character (a ligature …)."""
        raise NotImplementedError


class _Short(Folded):
    """A short text folded by ``str.translate`` (or ``bytes.translate`` for ASCII): the
    origin map and the character offsets of :attr:`data` are built on first use, so a text
    with no candidate match never pays for them."""

    __slots__ = ("_data", "_norm", "_origin", "_shifted", "_starts", "length", "n_pre", "text")

    def __init__(self, text: str, norm: str, data: bytes, n_pre: int,
                 drops: list[int]) -> None:
        self.text = text
        self._norm = norm
        self._data = data
        self.length = len(norm)
        self.n_pre = n_pre
        # drops[k] - k for the k-th character dropped as padding: pre-padding index of a
        # normalised position is s + (number of those <= s)
        self._shifted = [d - k for k, d in enumerate(drops)] if drops else None
        self._origin: list[int] | None = None
        self._starts: list[int] | None = None

    @property
    def norm(self) -> str:
        return self._norm

    @property
    def data(self) -> bytes:
        return self._data

    def _origins(self) -> list[int]:
        """Original index of each pre-padding normalised character."""
        if self._origin is None:
            table = _FOLD_MAP
            self._origin = [i for i, ch in enumerate(self.text)
                            for _ in range(len(table[ord(ch)]))]
        return self._origin

    def _pre(self, s: int) -> int:
        if s >= self.length:
            return self.n_pre
        shifted = self._shifted
        return s if shifted is None else s + bisect.bisect_right(shifted, s)

    def _char_starts(self) -> list[int] | None:
        """Byte offset of each character of :attr:`data` (``None``: ASCII, one byte each)."""
        if len(self._data) == self.length:
            return None
        if self._starts is None:
            self._starts = [i for i, x in enumerate(self._data) if x & 0xC0 != 0x80]
        return self._starts

    def char_of(self, b: int) -> int:
        if b >= len(self._data):
            return self.length
        starts = self._char_starts()
        return b if starts is None else bisect.bisect_left(starts, b)

    def byte_of(self, c: int) -> int:
        if c >= self.length:
            return len(self._data)
        starts = self._char_starts()
        return c if starts is None else starts[c]

    def span(self, s: int, e: int) -> tuple[int, int]:
        origin = self._origins()
        return origin[self._pre(s)], origin[self._pre(e) - 1] + 1

    def same_origin(self, s: int) -> bool:
        if s <= 0 or s >= self.length:
            return False
        origin = self._origins()
        return origin[self._pre(s - 1)] == origin[self._pre(s)]


class _Stepwise(Folded):
    """A long text folded with numpy in steps (:func:`_fold_large`). The map back to the
    original is kept per step and built only for the steps a match falls in: a match costs
    work in its neighbourhood, not over the text."""

    __slots__ = ("_bytes_cum", "_chunks", "_data", "_norm", "_post_cum", "_pre_cum", "_vals",
                 "length", "n_pre")

    def __init__(self, chunks: list[_Chunk], posts: list[int], pres: list[int],
                 nbytes: list[int], *, norm: str | None = None, vals: Array = None,
                 data: bytes | None = None) -> None:
        self._chunks = chunks
        self._post_cum = list(itertools.accumulate(posts, initial=0))
        self._pre_cum = list(itertools.accumulate(pres, initial=0))
        self._bytes_cum = (list(itertools.accumulate(nbytes, initial=0)) if data is not None
                           else None)
        self._norm = norm
        self._vals: Array = vals
        self._data = data
        self.length: int = self._post_cum[-1]
        self.n_pre: int = self._pre_cum[-1]

    @property
    def norm(self) -> str:
        if self._norm is None:
            self._norm = str(codecs.utf_32_le_decode(self._vals)[0])
        return self._norm

    @property
    def data(self) -> bytes:
        """The normalised text as UTF-8, what the automaton scans."""
        if self._data is None:
            self._data = self.norm.encode("utf-8")
        return self._data

    def _byte_chunk(self, b: int) -> int:
        if self._bytes_cum is None:
            return 0
        return min(bisect.bisect_right(self._bytes_cum, b) - 1, len(self._chunks) - 1)

    def _starts(self, k: int) -> tuple[Array | None, int, int]:
        """(byte offset of each character of chunk k, or None for ASCII; chunk's first
        byte; its first character)."""
        chunk = self._chunks[k]
        b0 = 0 if self._bytes_cum is None else int(self._bytes_cum[k])
        c0 = int(self._post_cum[k]) if self._bytes_cum is not None else 0
        if chunk._starts is None:
            if self._bytes_cum is None:
                seg, n = self.data, self.length
            else:
                seg = self.data[b0:int(self._bytes_cum[k + 1])]
                n = int(self._post_cum[k + 1]) - c0
            chunk._starts = (np.zeros(0, dtype=np.int64) if len(seg) == n else
                             np.flatnonzero((np.frombuffer(seg, dtype=np.uint8) & 0xC0) != 0x80))
        return (None if not len(chunk._starts) else chunk._starts), b0, c0

    def char_of(self, b: int) -> int:
        """Character index of byte offset ``b`` of :attr:`data`."""
        if b >= len(self.data):
            return self.length
        starts, b0, c0 = self._starts(self._byte_chunk(b))
        return c0 + (b - b0 if starts is None else int(np.searchsorted(starts, b - b0)))

    def byte_of(self, c: int) -> int:
        """Byte offset in :attr:`data` of character ``c``."""
        if c >= self.length:
            return len(self.data)
        k = 0 if self._bytes_cum is None else self._post_chunk(c)
        starts, b0, c0 = self._starts(k)
        return b0 + (c - c0 if starts is None else int(starts[c - c0]))

    def _post_chunk(self, s: int) -> int:
        return min(bisect.bisect_right(self._post_cum, s) - 1, len(self._chunks) - 1)

    def _pre(self, s: int) -> int:
        """Global pre-padding index of normalised position ``s``."""
        if s >= self.length:
            return self.n_pre
        k = self._post_chunk(s)
        return int(self._pre_cum[k]) + self._chunks[k].pre(s - int(self._post_cum[k]))

    def _origin(self, p: int) -> int:
        """Original index of pre-padding normalised character ``p``."""
        k = min(bisect.bisect_right(self._pre_cum, p) - 1, len(self._chunks) - 1)
        chunk = self._chunks[k]
        return chunk.lo + int(chunk.origin()[p - int(self._pre_cum[k])])

    def span(self, s: int, e: int) -> tuple[int, int]:
        a = self._origin(self._pre(s))
        return a, self._origin(self._pre(e) - 1) + 1

    def same_origin(self, s: int) -> bool:
        """``norm[s-1]`` and ``norm[s]`` come from one original character (a ligature …)."""
        if s <= 0 or s >= self.length:
            return False
        return self._origin(self._pre(s - 1)) == self._origin(self._pre(s))


#: a padding run: the same wide character twice or more (all but the first dropped), the
#: same other non-digit character three times or more (all but the first two dropped)
_PADDING = re.compile("([\u2e80-\U0010ffff])\\1+|([^0-9\u2e80-\U0010ffff])\\2\\2+", re.DOTALL)


def _collapse_py(chars: str) -> list[int]:
    """Indexes of ``chars`` dropped as repeated-character padding."""
    dropped: list[int] = []
    for m in _PADDING.finditer(chars):
        dropped.extend(range(m.start() + (1 if m.group(1) else 2), m.end()))
    return dropped


class _FoldTable(dict[int, str]):
    """Code point -> its folded form, filled on first use: ``str.translate``'s table."""

    def __missing__(self, cp: int) -> str:
        out = fold_char(chr(cp))
        if len(self) < 100_000:  # bounded, like fold_char's cache
            self[cp] = out
        return out


_FOLD_MAP = _FoldTable()


@functools.cache
def _ascii_tables() -> tuple[bytes, bytes] | None:
    """``bytes.translate`` table and deletions folding ASCII text (``None`` if some ASCII
    character folded to anything but itself lower-cased or nothing)."""
    table = bytearray(range(256))
    delete = bytearray()
    for b in range(128):
        out = fold_char(chr(b))
        if not out:
            delete.append(b)
        elif len(out) == 1 and out.isascii():
            table[b] = ord(out)
        else:  # pragma: no cover - not so in the shipped table
            return None
    return bytes(table), bytes(delete)


def _fold_small(text: str) -> Folded:
    ascii_tables = _ascii_tables() if text.isascii() else None
    if ascii_tables is not None:
        data = text.encode("ascii").translate(*ascii_tables)
        pre = data.decode("ascii")
    else:
        pre = text.translate(_FOLD_MAP)
        data = b""
    drops = _collapse_py(pre) if _PADDING.search(pre) else []
    if drops:
        gone = set(drops)
        norm = "".join(c for i, c in enumerate(pre) if i not in gone)
        data = norm.encode("utf-8")
    else:
        norm = pre
        if not data and norm:
            data = norm.encode("utf-8")
    return _Short(text, norm, data, len(pre), drops)


def _expand(mapped: Array, expansions: list[str]) -> tuple[Array, Array]:
    """(values, characters produced per input code point) when some fold to several."""
    lengths = (mapped != 0).view(np.uint8).copy()
    exp_at = np.flatnonzero(mapped >= _EXP_BASE)
    seqs = [expansions[int(mapped[i]) - _EXP_BASE] for i in exp_at]
    lengths[exp_at] = [len(q) for q in seqs]
    ends = np.cumsum(lengths, dtype=np.int64)
    vals = np.empty(int(ends[-1]) if len(ends) else 0, dtype=np.uint32)
    singles = lengths == 1
    vals[ends[singles] - 1] = mapped[singles]
    for i, seq in zip(exp_at, seqs, strict=True):
        end = int(ends[i])
        vals[end - len(seq):end] = [ord(c) for c in seq]
    return vals, lengths


def _padding(vals: Array, prev: Array) -> Array:
    """Indexes of ``vals`` dropped as repeated-character padding (``prev``: up to two values
    before them, from the previous chunk)."""
    ext = np.concatenate((prev, vals)) if len(prev) else vals
    if len(ext) < 2:
        return ext[:0].astype(np.int64)
    eq = ext[1:] == ext[:-1]
    at = np.flatnonzero(eq) + 1
    at = at[at >= len(prev)]
    if not len(at):
        return at
    v = ext[at]
    triple = np.zeros(len(at), dtype=bool)
    ok = at >= 2
    triple[ok] = eq[at[ok] - 2]
    digit = (v >= 0x30) & (v <= 0x39)
    return at[(v >= _WIDE) | (triple & ~digit)] - len(prev)


_CHUNK = 1 << 16  # code points per step: the working arrays stay in the CPU cache


def _fold_large(text: str, separators: Array | None = None) -> Folded:
    table, _, expansions, _ = _tables()
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    sep_vals = None
    if separators is not None:
        # kept; alternating 1 and 2 so that neighbouring separators never form a padding run
        sep_vals = (1 + (np.arange(len(separators)) & 1)).astype(np.uint32)
    outs: list[Array] = []
    data: list[bytes] = []
    chunks: list[_Chunk] = []
    posts: list[int] = []
    pres: list[int] = []
    nbytes: list[int] = []
    prev = codes[:0]
    for lo in range(0, len(codes), _CHUNK):
        mapped = np.take(table, codes[lo:lo + _CHUNK], mode="wrap")
        if separators is not None and sep_vals is not None:
            i, j = np.searchsorted(separators, (lo, lo + _CHUNK))
            mapped[separators[i:j] - lo] = sep_vals[i:j]
        expanded = bool(expansions) and bool((mapped >= _EXP_BASE).any())
        if expanded:
            vals, produced = _expand(mapped, expansions)
        else:
            keep = mapped != 0
            vals, produced = np.compress(keep, mapped), keep.view(np.uint8)
        n_pre = len(vals)
        drop = None
        if n_pre:
            found = _padding(vals, prev)
            prev = vals[-2:] if n_pre >= 2 else np.concatenate((prev, vals))[-2:]
            if len(found):
                drop = found
                vals = np.delete(vals, found)
        piece = codecs.utf_32_le_decode(vals)[0].encode("utf-8")
        chunks.append(_Chunk(lo, produced, drop, expanded))
        outs.append(vals)
        data.append(piece)
        posts.append(len(vals))
        pres.append(n_pre)
        nbytes.append(len(piece))
    if not chunks:
        return _Stepwise([_Chunk(0, codes[:0].view(np.uint8), None, False, [])], [0], [0],
                         [0], norm="", data=b"")
    all_vals = np.concatenate(outs)
    return _Stepwise(chunks, posts, pres, nbytes, vals=all_vals, data=b"".join(data))


def fold(text: str) -> Folded:
    """Fold ``text`` (see the module docstring)."""
    return _fold_small(text) if len(text) <= _SMALL else _fold_large(text)


def normalise(text: str) -> tuple[str, list[int]]:
    """``(normalised, origin)`` where ``origin[i]`` is the index in ``text`` of the first
    character that produced ``normalised[i]``."""
    f = fold(text)
    return f.norm, [f.span(i, i + 1)[0] for i in range(len(f.norm))]


def normalise_fast(text: str) -> str:
    """The normalised text without the origin map."""
    return fold(text).norm


def normalise_term(term: str) -> str:
    """A keyword in the same normal form as scanned text."""
    return fold(term).norm


def normalise_terms(terms: list[str]) -> list[str]:
    """``[normalise_term(t) for t in terms]``, folded in vectorised passes of
    ``_TERMS_STEP`` terms (library builds; a paced build hands the GIL over between them)."""
    if len(terms) < 64:
        return [normalise_term(t) for t in terms]
    if len(terms) > _TERMS_STEP:
        out: list[str] = []
        for lo in range(0, len(terms), _TERMS_STEP):
            out.extend(_normalise_batch(terms[lo:lo + _TERMS_STEP]))
            pace()
        return out
    return _normalise_batch(terms)


_TERMS_STEP = 256


def _normalise_batch(terms: list[str]) -> list[str]:
    joined = "\x01".join(terms)
    lengths = np.fromiter((len(t) + 1 for t in terms), dtype=np.int64, count=len(terms))
    separators = np.cumsum(lengths)[:-1] - 1
    return re.split("[\x01\x02]", _fold_large(joined, separators).norm)
