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
character between a keyword's characters can hide it. Long texts are folded with numpy (one
gather, one compress); :class:`Folded` keeps what is needed to map any normalised span back to
the original text exactly, computed only when a match asks for it.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import numpy as np

__all__ = ["Folded", "fold", "fold_char", "is_invisible", "is_word_char", "normalise",
           "normalise_fast", "normalise_term", "normalise_terms"]

MAX_CP = 0x110000
_EXP_BASE = 0x200000  # table values at or above this index _EXPANSIONS
_WIDE = 0x2E80  # from here on (CJK radicals, kana, ideographs …) a repeat counts once
_SMALL = 160  # texts up to this length are folded in pure Python (cheaper than numpy's setup)

Array = Any  # numpy arrays (numpy's own stubs are too loose to help here)


@functools.cache
def _tables() -> tuple[Array, Array, list[str], dict[str, str]]:
    """(code point -> folded code point | 0 dropped | _EXP_BASE+k, invisible mask,
    expansions, per-character cache)."""
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


class Folded:
    """A text folded for matching: ``norm`` and the map back to the original.

    ``span(s, e)`` turns a normalised span into ``(start, end)`` in the original text: from
    the first original character of ``norm[s]`` to the last one folded into ``norm[e-1]``
    (a padded run included)."""

    __slots__ = ("_dropped", "_n_pre", "_origin", "_origin_fn", "norm")

    def __init__(self, norm: str, origin_fn: Any, dropped: Array | None, n_pre: int) -> None:
        self.norm = norm
        self._origin_fn = origin_fn  # () -> origin of each pre-collapse normalised character
        self._origin: Array | list[int] | None = None
        self._dropped = dropped  # sorted indexes (pre-collapse) removed as padding
        self._n_pre = n_pre

    def origin(self) -> Array | list[int]:
        if self._origin is None:
            self._origin = self._origin_fn()
        return self._origin

    def _pre(self, s: int) -> int:
        """Pre-collapse index of normalised position ``s``."""
        d = self._dropped
        if d is None or len(d) == 0:
            return s
        shifted = d - np.arange(len(d))
        return s + int(np.searchsorted(shifted, s, side="right"))

    def span(self, s: int, e: int) -> tuple[int, int]:
        origin = self.origin()
        a = int(origin[self._pre(s)])
        last = self._pre(e) - 1 if e < len(self.norm) else self._n_pre - 1
        return a, int(origin[last]) + 1

    def same_origin(self, s: int) -> bool:
        """``norm[s-1]`` and ``norm[s]`` come from one original character (a ligature …)."""
        if s <= 0 or s >= len(self.norm):
            return False
        origin = self.origin()
        return bool(origin[self._pre(s - 1)] == origin[self._pre(s)])


def _collapse_py(chars: list[str]) -> list[int]:
    """Indexes of ``chars`` dropped as repeated-character padding."""
    dropped = []
    for i in range(1, len(chars)):
        c = chars[i]
        if c != chars[i - 1]:
            continue
        if ord(c) >= _WIDE or (i >= 2 and chars[i - 2] == c and not ("0" <= c <= "9")):
            dropped.append(i)
    return dropped


def _fold_small(text: str) -> Folded:
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        f = fold_char(ch)
        if f:
            chars.extend(f)
            origin.extend([i] * len(f))
    dropped = _collapse_py(chars)
    n_pre = len(chars)
    if dropped:
        gone = set(dropped)
        chars = [c for i, c in enumerate(chars) if i not in gone]
    return Folded("".join(chars), lambda: origin,
                  np.asarray(dropped, dtype=np.int64) if dropped else None, n_pre)


def _fold_large(text: str, separators: Array | None = None) -> Folded:
    table, _, expansions, _ = _tables()
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    mapped = np.take(table, codes, mode="wrap")
    if separators is not None:
        # kept; alternating 1 and 2 so that neighbouring separators never form a padding run
        mapped[separators] = 1 + (np.arange(len(separators)) & 1)
    if expansions and bool((mapped >= _EXP_BASE).any()):
        lengths = np.ones(len(mapped), dtype=np.int64)
        lengths[mapped == 0] = 0
        exp_at = np.flatnonzero(mapped >= _EXP_BASE)
        seqs = [expansions[int(mapped[i]) - _EXP_BASE] for i in exp_at]
        lengths[exp_at] = [len(s) for s in seqs]
        ends = np.cumsum(lengths)
        vals = np.empty(int(ends[-1]) if len(ends) else 0, dtype=np.uint32)
        singles = lengths == 1
        vals[ends[singles] - 1] = mapped[singles]
        for i, seq in zip(exp_at, seqs, strict=True):
            end = int(ends[i])
            vals[end - len(seq):end] = [ord(c) for c in seq]

        def origin_fn() -> Array:
            return np.repeat(np.arange(len(lengths)), lengths)
    else:
        keep = mapped != 0
        vals = np.compress(keep, mapped)

        def origin_fn() -> Array:
            return np.flatnonzero(keep)
    n_pre = len(vals)
    dropped = None
    if n_pre > 1:
        eq = vals[1:] == vals[:-1]
        at = np.flatnonzero(eq) + 1
        if len(at):
            v = vals[at]
            triple = np.zeros(len(at), dtype=bool)
            ok = at >= 2
            triple[ok] = eq[at[ok] - 2]
            digit = (v >= 0x30) & (v <= 0x39)
            drop = at[(v >= _WIDE) | (triple & ~digit)]
            if len(drop):
                dropped = drop
                vals = np.delete(vals, drop)
    norm = vals.tobytes().decode("utf-32-le")
    return Folded(norm, origin_fn, dropped, n_pre)


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
    """``[normalise_term(t) for t in terms]``, folded in one vectorised pass (library builds)."""
    if len(terms) < 64:
        return [normalise_term(t) for t in terms]
    joined = "\x01".join(terms)
    lengths = np.fromiter((len(t) + 1 for t in terms), dtype=np.int64, count=len(terms))
    separators = np.cumsum(lengths)[:-1] - 1
    return re.split("[\x01\x02]", _fold_large(joined, separators).norm)
