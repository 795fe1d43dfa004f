"""Normalisation against evasion, keeping a map back to the original text.

Width (NFKC), case (casefold), traditional → simplified Chinese (zhconv), zero-width
characters, punctuation, spaces and symbols inserted between characters, and common
Latin/Cyrillic/Greek homoglyphs. ``normalise`` returns the normalised text and, for each of
its characters, the index of the original character it came from, so matches are reported
as spans of the text the user actually saw.
"""

from __future__ import annotations

import functools
import unicodedata

__all__ = ["HOMOGLYPHS", "ZERO_WIDTH", "normalise", "normalise_fast", "normalise_term"]

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
                       "\u00ad\u180e")
#: look-alike letters folded to their Latin counterparts (after casefold)
HOMOGLYPHS: dict[str, str] = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
    "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h", "ӏ": "l", "в": "b", "к": "k", "м": "m",
    "н": "h", "т": "t", "α": "a", "ο": "o", "ρ": "p", "ν": "v", "ι": "i", "κ": "k",
    "τ": "t", "υ": "u", "χ": "x", "ε": "e",
}


@functools.lru_cache(maxsize=65536)
def _fold(ch: str) -> str:
    """The normalised form of one original character ('' when it is dropped)."""
    if ch in ZERO_WIDTH:
        return ""
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        c = HOMOGLYPHS.get(c, c)
        cat = unicodedata.category(c)
        if cat[0] in "PZCS":  # punctuation, separators, controls, symbols
            continue
        if "\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff":
            c = _simplified(c)
        out.append(c)
    return "".join(out)


@functools.cache
def _t2s_table() -> dict[str, str]:
    """Single-character traditional → simplified pairs from zhconv's MediaWiki table."""
    try:
        from importlib import resources

        text = resources.files("zhconv").joinpath("zhcdict.json").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - moderation extra
        return {}
    import json

    table: dict[str, str] = json.loads(text)["zh2Hans"]
    return {k: v for k, v in table.items() if len(k) == 1 and len(v) == 1}


def _simplified(ch: str) -> str:
    return _t2s_table().get(ch, ch)


def normalise(text: str) -> tuple[str, list[int]]:
    """``(normalised, origin)`` where ``origin[i]`` is the index in ``text`` of the
    character that produced ``normalised[i]``."""
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii() and ch.isalnum():  # fast path for plain ASCII letters and digits
            chars.append(ch.lower())
            origin.append(i)
            continue
        folded = _fold(ch)
        for c in folded:
            chars.append(c)
            origin.append(i)
    return "".join(chars), origin


class _FoldTable(dict[int, str]):
    """A ``str.translate`` table that folds each new code point once, then runs in C."""

    def __missing__(self, code: int) -> str:
        folded = _fold(chr(code))
        self[code] = folded
        return folded


_TABLE = _FoldTable()


def normalise_fast(text: str) -> str:
    """The normalised text without the origin map (for scans that usually find nothing)."""
    return text.translate(_TABLE)


def normalise_term(term: str) -> str:
    """A keyword in the same normal form as scanned text."""
    return normalise(term)[0]
