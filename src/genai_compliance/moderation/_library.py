"""Keyword libraries and the Aho–Corasick matcher (SR-5, IM-4a).

A library is loaded from files of three types: *deny* lists (the keywords; CSV
``keyword,risk,severity,action`` or one keyword a line), *allow* lists (exemption words: a
keyword found wholly inside one of them is not a match, e.g. a place name that contains a
keyword) and, opt-in, *pinyin* lists (deny rows whose Chinese keywords are also matched as
full pinyin and as initial letters, ``weijinci`` / ``wjc``). Files are validated on load: a
wrong CSV header, an empty file, an unknown risk code, a bad severity or action and a keyword
listed twice are errors naming the file, the line and the expected form.

Each risk code or category has an action (``block`` by default, or ``review``: reported, not
blocked); a row's ``action`` column overrides it. Coverage is checked against SR-5 (at least
10,000 entries, 200 per A.1 risk and 100 per A.2 risk; the per-risk figures are unverified
[K] and configurable) and weekly staleness.

The matcher is one ``daachorse`` automaton (leftmost-longest) over the UTF-8 of the
normalised keywords (built off the serving threads during a swap: :mod:`._automaton`);
scans fold the text (:mod:`._normalise`), run the automaton over the folded bytes, and only
for candidate matches map offsets back to the original text, check Latin word boundaries
(a Latin keyword inside a longer word is not a match, configurable) and exemptions. A
candidate that is turned down is re-scanned from its next character, in its neighbourhood
only, so an overlapping keyword is not hidden by it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from ..errors import ConfigurationError
from ..risks import Risk
from ..rules import implements
from ._automaton import OWN_PROCESS_MIN, STANDARD, automaton, prefix_automaton
from ._normalise import (
    Folded,
    fold,
    is_invisible,
    is_word_char,
    normalise_term,
    normalise_terms,
)
from ._pacing import copied, drain, is_paced, pace, release_when_unused

__all__ = ["ACTIONS", "SEVERITIES", "Coverage", "Keyword", "KeywordLibrary", "Match", "Matcher"]

SEVERITIES = ("low", "medium", "high")
ACTIONS = ("block", "review")
CSV_COLUMNS = ("keyword", "risk", "severity", "action")
_CSV_FORM = "keyword,risk,severity,action (risk, severity and action optional)"
_WIDE = 0x2E80
_BATCH = 128  # keywords per step of a build; a paced build may hand the GIL over between steps


def _latin(ch: str) -> bool:
    return ch.isalnum() and ord(ch) < _WIDE


@attrs.frozen
class Keyword:
    """One library entry: the term, its risk code, severity and action (``None``: the
    action configured for its risk or category, else ``block``)."""

    term: str
    risk: Risk
    severity: str = "high"
    action: str | None = None
    source: str | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Match:
    """A keyword found in a text: ``text[start:end]`` is what matched in the original."""

    keyword: str
    risk: str
    severity: str
    start: int
    end: int
    text: str
    action: str = "block"

    def to_json(self) -> dict[str, Any]:
        """The ``scan-result`` form (the action is implied by ``flagged``)."""
        return {"keyword": self.keyword, "risk": self.risk, "severity": self.severity,
                "start": self.start, "end": self.end, "text": self.text}


@attrs.frozen
class Coverage:
    """The library against SR-5: entries per risk code beside each minimum."""

    total: int
    per_risk: dict[str, int]
    problems: tuple[str, ...]
    stale: bool
    minimums: dict[str, int] = attrs.field(factory=dict)
    minimum_total: int = 10_000

    @property
    def ok(self) -> bool:
        return not self.problems

    def per_category(self) -> dict[str, int]:
        """Entries per category (``A.1`` … ``A.5``)."""
        out: Counter[str] = Counter()
        for code, n in self.per_risk.items():
            out[code[:3]] += n
        return dict(sorted(out.items()))

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "minimum_total": self.minimum_total, "ok": self.ok,
                "stale": self.stale, "problems": list(self.problems),
                "per_risk": {code: {"entries": self.per_risk.get(code, 0), "minimum": need}
                             for code, need in self.minimums.items()},
                "per_category": self.per_category()}

    def report(self) -> str:
        """A table of entries per risk against SR-5's minimums."""
        lines = [f"SR-5 coverage: {self.total:,} entries (minimum {self.minimum_total:,}) — "
                 + ("ok" if self.ok else f"{len(self.problems)} problem(s)")]
        for code, need in self.minimums.items():
            have = self.per_risk.get(code, 0)
            lines.append(f"  {code:<5} {Risk(code).name_en:<55} {have:>7,} / {need:<5,} "
                         + ("ok" if have >= need else "SHORT"))
        others = {c: n for c, n in self.per_risk.items() if c not in self.minimums}
        for code, n in others.items():
            lines.append(f"  {code:<5} {Risk(code).name_en:<55} {n:>7,}   (no minimum)")
        lines.extend(f"  problem: {p}" for p in self.problems)
        return "\n".join(lines)


def _is_csv(where: str, first: str) -> bool:
    return where.lower().endswith(".csv") or "," in first


def _parse_header(first: str, where: str, n: int) -> list[str]:
    columns = [c.strip().lower() for c in next(csv.reader([first]))]
    wrong = (not columns or columns[0] != "keyword" or len(set(columns)) != len(columns)
             or any(c not in CSV_COLUMNS for c in columns))
    if wrong:
        raise ConfigurationError(
            f"{where}:{n}: header {first.strip()!r} is not a keyword-file header; expected "
            f"`{_CSV_FORM}`, keyword first, each column once; fix the first line",
            field="keyword_files", path=where, line=n, value=first.strip())
    return columns


class KeywordLibrary:
    """Deny keywords with their risk codes, allow (exemption) words and per-category actions
    (SR-5).

    :param actions: ``{risk code or category: action}``, e.g. ``{"A.2": "review"}``; the
        most specific key wins; a row's own action wins over both.
    """

    def __init__(self, entries: Iterable[Keyword], *, updated: dt.date | None = None,
                 allow: Iterable[str] = (), actions: Mapping[str, str] | None = None) -> None:
        entries = copied(entries)
        normalised = normalise_terms([e.term for e in entries])
        seen: dict[str, Keyword] = {}
        for n, (entry, norm) in enumerate(zip(entries, normalised, strict=True)):
            if n % _BATCH == 0:
                pace()  # a library may be built beside serving threads (a paced swap)
            if not norm:
                raise ConfigurationError(
                    f"keyword {entry.term!r}{_at(entry)} is empty after normalisation (only "
                    "punctuation, spaces or invisible characters); remove it",
                    field="keyword", value=entry.term)
            seen.setdefault(norm, entry)
        self.entries: list[Keyword] = copied(seen.values())
        self._normalised: list[str] = copied(seen)
        self._by_norm = seen
        self.allow: list[str] = [a for a in dict.fromkeys(allow) if normalise_term(a)]
        self.actions: dict[str, str] = _check_actions(actions or {})
        self.updated = updated

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def normalised(self) -> list[str]:
        """The normalised form of each entry, in order."""
        return self._normalised

    @property
    def by_normalised(self) -> Mapping[str, Keyword]:
        """Normalised form -> entry."""
        return self._by_norm

    def action_of(self, entry: Keyword) -> str:
        """The action of one entry (its own, else its risk's, its category's, ``block``)."""
        if entry.action is not None:
            return entry.action
        code = entry.risk.value
        return self.actions.get(code) or self.actions.get(code[:3]) or "block"

    @classmethod
    def load(cls, *paths: str | Path, default_risk: str = "A.1h",
             updated: dt.date | None = None, allow: Sequence[str | Path] = (),
             pinyin: Sequence[str | Path] = (),
             actions: Mapping[str, str] | None = None) -> KeywordLibrary:
        """Read deny lists (``paths``), allow lists and opt-in pinyin lists.

        A file ending ``.csv``, or whose first line has a comma, is CSV with the header
        ``keyword,risk,severity,action`` (only ``keyword`` required); any other file has one
        keyword a line (``#`` comments) with ``default_risk``. Raises ConfigurationError naming
        the file and line for a wrong header, an empty file, an unknown risk code, a bad
        severity or action, or a keyword listed twice (after normalisation)."""
        entries: list[Keyword] = []
        for path in paths:
            entries.extend(cls._parse(_read(path), str(path), default_risk))
        for path in pinyin:
            rows = cls._parse(_read(path), str(path), default_risk)
            entries.extend(rows)
            entries.extend(_pinyin_forms(rows))
        _no_duplicates(entries)
        words: list[str] = []
        for path in allow:
            words.extend(k.term for k in cls._parse(_read(path), str(path), default_risk,
                                                    kind="allow"))
        return cls(entries, updated=updated, allow=words, actions=actions)

    @staticmethod
    def _parse(text: str, where: str, default_risk: str, *, kind: str = "deny") -> list[Keyword]:
        lines = text.splitlines()
        body = [(n, line) for n, line in enumerate(lines, 1)
                if line.strip() and not line.lstrip().startswith("#")]
        if not body:
            raise ConfigurationError(
                f"{where}: the {kind} list has no entries; expected "
                + (f"the header `{_CSV_FORM}` and one row a keyword" if where.endswith(".csv")
                   else "one keyword a line (or a CSV file with the header "
                        f"`{_CSV_FORM}`)"),
                field="keyword_files", path=where)
        out: list[Keyword] = []
        first_n, first = body[0]
        if not _is_csv(where, first):
            risk = Risk.parse(default_risk)
            return [Keyword(line.strip(), risk, source=f"{where}:{n}") for n, line in body]
        columns = _parse_header(first, where, first_n)
        rows = [(n, line) for n, line in body[1:]]
        if not rows:
            raise ConfigurationError(f"{where}: the header is there but no keyword rows follow; "
                                     f"add one row a keyword (`{_CSV_FORM}`)",
                                     field="keyword_files", path=where)
        for n, line in rows:
            cells = next(csv.reader(io.StringIO(line)))
            if len(cells) > len(columns):
                raise ConfigurationError(
                    f"{where}:{n}: {len(cells)} fields but the header has {len(columns)} "
                    f"({','.join(columns)}); quote a keyword that contains a comma",
                    field="keyword_files", path=where, line=n)
            row = dict(zip(columns, (c.strip() for c in cells), strict=False))
            term = row.get("keyword", "")
            if not term:
                raise ConfigurationError(f"{where}:{n}: the keyword is empty; expected "
                                         f"`{_CSV_FORM}`", field="keyword", path=where, line=n)
            code = row.get("risk") or default_risk
            try:
                risk = Risk.parse(code)
            except ConfigurationError as exc:
                raise ConfigurationError(
                    f"{where}:{n}: unknown risk category {code!r}; expected a code A.1a … A.1h, "
                    "A.2a … A.2i, A.3a … A.3e, A.4a … A.4g, A.5a or A.5b",
                    field="risk", path=where, line=n, value=code) from exc
            severity = (row.get("severity") or "high").lower()
            if severity not in SEVERITIES:
                raise ConfigurationError(f"{where}:{n}: severity must be one of "
                                         f"{', '.join(SEVERITIES)}, got {severity!r}",
                                         field="severity", path=where, line=n, value=severity)
            action = (row.get("action") or "").lower() or None
            if action is not None and action not in ACTIONS:
                raise ConfigurationError(f"{where}:{n}: action must be one of "
                                         f"{', '.join(ACTIONS)} (or empty), got {action!r}",
                                         field="action", path=where, line=n, value=action)
            out.append(Keyword(term, risk, severity, action, source=f"{where}:{n}"))
        return out

    @classmethod
    def sample(cls) -> KeywordLibrary:
        """The small placeholder library shipped for tests and demos (no real content)."""
        text = resources.files(__package__).joinpath("data/sample_keywords.csv").read_text(
            "utf-8")
        return cls(cls._parse(text, "sample_keywords.csv", "A.1h"))

    @classmethod
    def synthetic(cls, n: int = 20_000, *, seed: int = 0) -> KeywordLibrary:
        """``n`` made-up placeholder terms spread over the 17 A.1/A.2 risks (benchmarks)."""
        rng = random.Random(seed)
        risks = [r for r in Risk if r.keyword_risk]
        alphabet = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥"
        entries = []
        for i in range(n):
            term = "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 6))) + f"{i:x}"
            entries.append(Keyword(term, risks[i % len(risks)]))
        return cls(entries)

    @implements("SR-5")
    def coverage(self, *, minimum: int = 10_000, per_a1: int = 200, per_a2: int = 100,
                 today: dt.date | None = None, max_age_days: int = 7) -> Coverage:
        """Check SR-5: total size, every A.1/A.2 risk covered with its minimum, freshness."""
        counts: Counter[str] = Counter()
        for lo in range(0, len(self.entries), _BATCH * 4):  # paced between steps
            counts.update(e.risk.value for e in self.entries[lo:lo + _BATCH * 4])
            pace()
        problems: list[str] = []
        if len(self) < minimum:
            problems.append(f"{len(self)} entries; at least {minimum:,} are required (SR-5)")
        minimums: dict[str, int] = {}
        for risk in Risk:
            if not risk.keyword_risk:
                continue
            need = per_a1 if risk.category == "A.1" else per_a2
            minimums[risk.value] = need
            if counts[risk.value] < need:
                problems.append(f"{risk.value} has {counts[risk.value]} entries; {need} needed")
        stale = False
        if today is not None:
            stale = self.updated is None or (today - self.updated).days > max_age_days
            if stale:
                problems.append(f"not updated within {max_age_days} days (weekly update, SR-5)")
        return Coverage(len(self), dict(sorted(counts.items())), tuple(problems), stale,
                        minimums, minimum)

    def matcher(self, extra: Sequence[Keyword] = (), *, word_boundaries: bool = True,
                allow: Sequence[str] = ()) -> Matcher:
        """The automaton over this library's keywords (plus ``extra``) and allow words."""
        entries = copied(itertools.chain(self.entries, extra)) if extra else self.entries
        return Matcher(entries, allow=[*self.allow, *allow],
                       actions=[self.action_of(e) for e in entries],
                       word_boundaries=word_boundaries)


def _at(entry: Keyword) -> str:
    return f" ({entry.source})" if entry.source else ""


def _read(path: str | Path) -> str:
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigurationError(f"cannot read keyword file {str(p)!r}: {exc.strerror}",
                                 field="keyword_files", path=str(p)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"keyword file {str(p)!r} is not UTF-8 (byte {exc.start}); "
                                 "save it as UTF-8", field="keyword_files", path=str(p)) from exc


def _check_actions(actions: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, action in actions.items():
        known = key in {r.value for r in Risk} or key in {r.category for r in Risk}
        if not known:
            raise ConfigurationError(f"actions: {key!r} is neither a risk code (A.1a …) nor a "
                                     "category (A.1 … A.5)", field="actions", value=key)
        if action not in ACTIONS:
            raise ConfigurationError(f"actions: {key} = {action!r}; expected one of "
                                     f"{', '.join(ACTIONS)}", field="actions", value=action)
        out[key] = action
    return out


def _no_duplicates(entries: Sequence[Keyword]) -> None:
    seen: dict[str, Keyword] = {}
    for entry, norm in zip(entries, normalise_terms([e.term for e in entries]), strict=True):
        first = seen.get(norm)
        if first is None:
            seen[norm] = entry
            continue
        if entry.source and entry.source.endswith(" (pinyin)"):
            continue  # a pinyin form that another row already has: nothing to report
        what = ("with a different risk category "
                f"({first.risk.value} there, {entry.risk.value} here)"
                if first.risk != entry.risk else "with the same risk category")
        raise ConfigurationError(
            f"{entry.source or entry.term}: keyword {entry.term!r} duplicates "
            f"{first.term!r} ({first.source or 'an earlier entry'}) {what}; both normalise "
            f"to {norm!r}; keep one line", field="keyword", value=entry.term)


def _pinyin_forms(rows: Sequence[Keyword]) -> list[Keyword]:
    """Full pinyin and initial letters of each Chinese keyword (opt-in pinyin lists)."""
    try:
        from pypinyin import Style, lazy_pinyin
    except ModuleNotFoundError as exc:  # pragma: no cover - moderation extra
        raise ConfigurationError("pinyin keyword lists need pypinyin: pip install "
                                 "'genai-compliance[moderation]'", field="pinyin") from exc
    out: list[Keyword] = []
    for row in rows:
        if not any("\u3400" <= c <= "\u9fff" for c in row.term):
            continue
        full = "".join(lazy_pinyin(row.term, errors="default"))
        initials = "".join(lazy_pinyin(row.term, style=Style.FIRST_LETTER, errors="default"))
        for form in dict.fromkeys((full, initials)):
            out.append(Keyword(form, row.risk, row.severity, row.action,
                               source=f"{row.source} (pinyin)"))
    return out


class _Chain(Sequence[Any]):
    """``base + delta`` without copying ``base`` (an incremental swap must not spend long
    copying a 100,000-entry list while holding the GIL)."""

    __slots__ = ("base", "delta")

    def __init__(self, base: Sequence[Any], delta: Sequence[Any]) -> None:
        self.base: Sequence[Any] = base
        self.delta = delta

    def __len__(self) -> int:
        return len(self.base) + len(self.delta)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return list(self)[i]
        n = len(self.base)
        if i < 0:
            i += len(self)
        return self.base[i] if i < n else self.delta[i - n]

    def __iter__(self) -> Any:
        yield from self.base
        yield from self.delta


class _Layer:
    """One automaton of a matcher over ``entries[offset:offset + count]``."""

    __slots__ = ("ac", "count", "offset")

    def __init__(self, ac: Any, offset: int, count: int) -> None:
        self.ac = ac
        self.offset = offset
        self.count = count


def _chain(items: Any, base: int, delta: Sequence[Any]) -> Any:
    """The first ``base`` of ``items`` (the serving automaton's) followed by ``delta``."""
    head = items.base if isinstance(items, _Chain) else items
    assert len(head) == base
    return _Chain(head, delta)


#: boundary flags of an entry (``Matcher._bounds``): its first / last character is Latin
_START, _END = 1, 2
#: keys a prefix table's dict holds at most (about): resizing a dict copies all its keys in
#: one go, holding the GIL (measured: 16-40 ms at 670,000 keys, 2 ms at 67,000, under 0.1 ms
#: up to 5,500)
_SHARD_KEYS = 4096


class _Prefixes:
    """A set of strings (the proper prefixes of some terms) split by hash over dicts of at
    most about :data:`_SHARD_KEYS` keys each, so that building it never resizes a large
    dict. Lookups pick the dict by the string's hash: ``s in shards[hash(s) & mask]``."""

    __slots__ = ("mask", "shards")

    def __init__(self, expected: int) -> None:
        n = 1
        while n * _SHARD_KEYS < expected:
            n *= 2
        self.shards: tuple[dict[str, None], ...] = tuple({} for _ in range(n))
        self.mask = n - 1

    def add_prefixes_of(self, terms: Iterable[str]) -> None:
        shards, mask = self.shards, self.mask
        for t in terms:
            for k in range(1, len(t)):
                p = t[:k]
                shards[hash(p) & mask][p] = None

    def __contains__(self, s: str) -> bool:
        return s in self.shards[hash(s) & self.mask]

    def __len__(self) -> int:
        return sum(len(d) for d in self.shards)


def _prepare(entries: Sequence[Keyword], word_boundaries: bool, *, with_prefixes: bool = True
             ) -> tuple[list[str], bytearray, _Prefixes, set[str], list[bytes]]:
    """Normalised terms, boundary flags, proper prefixes, the characters those prefixes end
    with and UTF-8 patterns, in batches that a paced build hands the GIL over between.

    The flags are a ``bytearray`` and the prefixes the keys of dicts of ``None``
    (:class:`_Prefixes`): neither is traversed by the garbage collector (a set or a list of
    tuples of a few hundred thousand items is, at every collection of its generation)."""
    out_terms: list[str] = []
    bounds = bytearray()
    prefixes = _Prefixes(sum(len(e.term) for e in entries) if with_prefixes else 0)
    lasts: set[str] = set()
    patterns: list[bytes] = []
    for lo in range(0, len(entries), _BATCH):
        batch = entries[lo:lo + _BATCH]
        terms = normalise_terms([e.term for e in batch])
        for entry, term in zip(batch, terms, strict=True):
            if not term:
                raise ConfigurationError(
                    f"keyword {entry.term!r}{_at(entry)} is empty after normalisation "
                    "(only punctuation, spaces or invisible characters); remove it",
                    field="keyword", value=entry.term)
        out_terms.extend(terms)
        if word_boundaries:
            bounds.extend((_START if _latin(t[0]) else 0) | (_END if _latin(t[-1]) else 0)
                          for t in terms)
        else:
            bounds.extend(bytes(len(terms)))
        if with_prefixes:
            prefixes.add_prefixes_of(terms)
        lasts.update(c for t in terms for c in t[:-1])
        patterns.extend(t.encode("utf-8") for t in terms)
        pace()
    return out_terms, bounds, prefixes, lasts, patterns


def _scanned(layers: list[_Layer]) -> tuple[_Layer, ...]:
    """The layers that have an automaton (a layer of no keywords has none)."""
    return tuple(layer for layer in layers if layer.ac is not None)


def _open_sets(tables: Iterable[_Prefixes]
               ) -> tuple[tuple[tuple[dict[str, None], ...], int], ...]:
    """``(shards, mask)`` of each non-empty prefix table, for :meth:`Matcher.open_prefix`."""
    return tuple((p.shards, p.mask) for p in tables if len(p))




class Matcher:
    """An Aho–Corasick automaton over normalised keywords (leftmost-longest matches), with
    allow words, per-entry actions and Latin word boundaries (SR-5, IM-4a).

    :meth:`extended` derives a matcher for a small library update (a weekly SR-5 update)
    that shares this one's automaton and adds a small one for the new keywords: its build
    holds the GIL for a moment only (see :meth:`Moderation.reload`)."""

    def __init__(self, entries: Sequence[Keyword], *, allow: Sequence[str] = (),
                 actions: Sequence[str] | None = None, word_boundaries: bool = True) -> None:
        self.entries = copied(entries)
        self.actions = copied(actions) if actions is not None else ["block"] * len(self.entries)
        self.word_boundaries = word_boundaries
        # a large automaton built during a swap comes from a process of its own, and so does
        # the one answering the stream's hold-back (see open_prefix)
        aside = is_paced() and len(self.entries) >= OWN_PROCESS_MIN
        self.terms, self._bounds, prefixes, lasts, patterns = _prepare(
            self.entries, word_boundaries, with_prefixes=not aside)
        self.max_len = max((len(t) for t in self.terms), default=0)
        self._max_bytes = max((len(p) for p in patterns), default=0)
        self._layers = [_Layer(automaton(patterns), 0, len(self.entries))]
        self._open_ac = prefix_automaton(patterns) if aside else None
        if aside and self._open_ac is None:  # its process failed: the table here, paced
            prefixes = _Prefixes(sum(len(t) for t in self.terms))
            for lo in range(0, len(self.terms), _BATCH):
                prefixes.add_prefixes_of(self.terms[lo:lo + _BATCH])
                pace()
        self._prefix_sets: tuple[_Prefixes, ...] = (prefixes,)
        drain(patterns)  # the automata keep their own copies
        self._scanned = _scanned(self._layers)
        self._suppressed: frozenset[int] = frozenset()
        self._key_last = frozenset(lasts)
        self._set_allow(allow)

    def _set_allow(self, allow: Sequence[str]) -> None:
        """The allow words and what is derived from them (a small automaton of their own)."""
        allow_terms = [a for a in dict.fromkeys(normalise_terms(list(allow))) if a]
        self.allow = allow_terms
        self._allow_bytes = max((len(a.encode("utf-8")) for a in allow_terms), default=0)
        self._allow_prefixes = _Prefixes(sum(len(a) for a in allow_terms))
        self._allow_prefixes.add_prefixes_of(allow_terms)
        self._allow_max_len = max((len(a) for a in allow_terms), default=0)
        self._allow_ac = automaton([a.encode("utf-8") for a in allow_terms], STANDARD)
        self._open_sets = _open_sets((self._allow_prefixes, *self._prefix_sets))
        self._open_last = self._key_last.union(c for a in allow_terms for c in a[:-1])

    def release_when_unused(self) -> None:
        """Once this matcher is no longer used (swapped out, every stream on it ended), empty
        its large tables on the release thread, a step at a time; tables shared with a
        matcher derived from it are left alone (see :mod:`._pacing`)."""
        owned = [c.delta if isinstance(c, _Chain) else c
                 for c in (self.entries, self.actions, self.terms, self._bounds)]
        release_when_unused(self, [*owned, *(d for p in self._prefix_sets for d in p.shards)])

    @property
    def delta_size(self) -> int:
        """Keywords in automata added by :meth:`extended` since the last full build."""
        return sum(layer.count for layer in self._layers[1:])

    def _base_index(self, term: str) -> int | None:
        """The entry index of ``term`` (normalised) in the first automaton, if it is one of
        its keywords: the leftmost-longest match over the term's own UTF-8 spans all of it
        exactly when the term is a pattern (no table of all terms is needed)."""
        ac = self._layers[0].ac
        if ac is None:
            return None
        data = term.encode("utf-8")
        for s, e, i in ac.find(data):
            if s == 0 and e == len(data):
                return int(i)
            break
        return None

    def extended(self, added: Sequence[Keyword], added_actions: Sequence[str],
                 removed: Iterable[str], *, allow: Sequence[str] | None = None) -> Matcher:
        """A matcher with ``added`` keywords and without the normalised terms ``removed``,
        sharing this matcher's first automaton: only the keywords added since the last full
        build are built into a new, small automaton. ``allow``: new allow words (their own
        small automaton is rebuilt), else this matcher's."""
        removed = set(removed)
        base = self._layers[0].count
        suppressed = set(self._suppressed)
        for n, term in enumerate(removed):
            i = self._base_index(term)
            if i is not None:
                suppressed.add(i)
            if n % _BATCH == 0:
                pace()
        keep = []
        for i in range(base, len(self.entries)):
            if self.terms[i] not in removed:
                keep.append(i)
            if i % _BATCH == 0:
                pace()
        delta = [self.entries[i] for i in keep] + list(added)
        delta_actions = [self.actions[i] for i in keep] + list(added_actions)
        terms, bounds, prefixes, lasts, patterns = _prepare(delta, self.word_boundaries)
        new = Matcher.__new__(Matcher)
        new.word_boundaries = self.word_boundaries
        new.entries = _chain(self.entries, base, delta)
        new.actions = _chain(self.actions, base, delta_actions)
        new.terms = _chain(self.terms, base, terms)
        new._bounds = _chain(self._bounds, base, bounds)
        new._prefix_sets = (self._prefix_sets[0], prefixes)
        new._open_ac = self._open_ac
        new.max_len = max(self.max_len, max((len(t) for t in terms), default=0))
        new._max_bytes = max(self._max_bytes, max((len(p) for p in patterns), default=0))
        new._layers = [self._layers[0], _Layer(automaton(patterns), base, len(delta))]
        drain(patterns)
        new._scanned = _scanned(new._layers)
        new._suppressed = frozenset(suppressed)
        new._key_last = self._key_last | lasts
        if allow is not None:
            new._set_allow(allow)
            return new
        new.allow = self.allow
        new._allow_bytes = self._allow_bytes
        new._allow_prefixes = self._allow_prefixes
        new._allow_max_len = self._allow_max_len
        new._allow_ac = self._allow_ac
        new._open_sets = _open_sets((self._allow_prefixes, *new._prefix_sets))
        new._open_last = self._open_last | lasts
        return new

    # -- scanning ----------------------------------------------------------------------
    def hits(self, data: bytes) -> list[tuple[int, int, int]]:
        """``(start, end, entry index)`` of the leftmost-longest, non-overlapping matches in
        the folded UTF-8 ``data`` (byte offsets; no word boundaries or exemptions) — what one
        automaton over this matcher's keywords would report.

        A matcher of one automaton answers with it. After :meth:`extended` there are two, and
        the first may hold keywords removed since: there each automaton's own scan is exact
        only where it alone has matches and none of them removed. Elsewhere the answer is
        worked out position by position (:meth:`_union_hits`) in the neighbourhoods of those
        matches only: every occurrence of an automaton's keyword starts at or inside a match
        of that automaton's scan, so outside them no keyword starts."""
        found = []
        for layer in self._scanned:
            raw = layer.ac.find(data)
            if raw:
                found.append((layer, raw))
        if not found:
            return []
        if len(found) == 1:
            layer, raw = found[0]
            off, gone = layer.offset, self._suppressed
            out = [(s, e, off + int(i)) for s, e, i in raw]
            if not gone or not any(h[2] in gone for h in out):
                return out
        return self._union_hits(data, found)

    def _union_hits(self, data: bytes, found: list[tuple[_Layer, Any]]
                    ) -> list[tuple[int, int, int]]:
        """:meth:`hits` where several automata have matches or a removed keyword matched.

        The automata's matches are grouped into neighbourhoods (one ends less than the
        longest keyword before the next starts). In one with matches of a single automaton
        and none removed, no other automaton's keyword starts, and those matches stand. In any
        other, a leftmost-longest walk asks at each position for the longest keyword that
        starts there (:meth:`_longest_at`)."""
        gone, reach = self._suppressed, self._max_bytes
        tagged = sorted((s, e, layer.offset + int(i), n)
                        for n, (layer, raw) in enumerate(found) for s, e, i in raw)
        hoods: list[list[tuple[int, int, int, int]]] = []
        end = -1
        for hit in tagged:
            if hoods and hit[0] < end + reach:
                hoods[-1].append(hit)
            else:
                hoods.append([hit])
            end = max(end, hit[1]) if len(hoods[-1]) > 1 else hit[1]
        out: list[tuple[int, int, int]] = []
        for hood in hoods:
            if len({h[3] for h in hood}) == 1 and not any(h[2] in gone for h in hood):
                out.extend((s, e, idx) for s, e, idx, _ in hood)
                continue
            pos, stop = hood[0][0], max(h[1] for h in hood)
            while pos < stop:
                best = self._longest_at(data, pos)
                if best is None:
                    pos += 1
                else:
                    out.append((pos, pos + best[0], best[1]))
                    pos += best[0]
        return out

    def _longest_at(self, data: bytes, pos: int) -> tuple[int, int] | None:
        """``(length, entry index)`` of the longest keyword (not removed) whose UTF-8 starts
        at byte ``pos`` of ``data``; of equal length, the lowest index."""
        best: tuple[int, int] | None = None
        gone = self._suppressed
        for layer in self._scanned:
            window = data[pos:pos + self._max_bytes]
            while window:
                first = layer.ac.find(window)
                if not first or first[0][0] != 0:
                    break  # no keyword of this automaton starts here
                _, e, i = first[0]
                idx = layer.offset + int(i)
                if idx not in gone:
                    if best is None or e > best[0] or (e == best[0] and idx < best[1]):
                        best = (e, idx)
                    break
                window = window[:e - 1]  # a removed keyword: a shorter one may start here
        return best

    def scan_normalised(self, norm: str) -> list[tuple[int, int, int]]:
        """``(entry index, start, end)`` over normalised text (character offsets; no word
        boundaries or exemptions: those need the original text)."""
        if not self._scanned or not norm:
            return []
        folded = fold(norm)
        return [(idx, folded.char_of(s), folded.char_of(e))
                for s, e, idx in self.hits(folded.data)]

    def scan(self, text: str, *, limit: int | None = None) -> list[Match]:
        """Every keyword in ``text``, with spans in the original text; with ``limit``, the
        scan stops once ``limit`` matches are found and one of them blocks (see
        :meth:`find`)."""
        return self.find(text, fold(text), limit=limit)[0]

    def find(self, text: str, folded: Folded, *, final: bool = True,
             skip_before: int = 0, limit: int | None = None) -> tuple[list[Match], int | None]:
        """``(matches, pending)`` in ``text`` (already folded). With ``final=False`` (a stream
        whose text may go on) a candidate whose end boundary or exemption depends on text not
        yet seen is not reported: ``pending`` is then the original offset it starts at.
        Candidates ending at or before ``skip_before`` (original offset) are ignored.

        With ``limit``, judging stops once ``limit`` matches are accepted and one of them
        blocks: the verdict (blocked, by the first blocking keyword in the text) is then
        known, and a text dense with keywords costs no more than its first ``limit``
        matches (every match is judged and built in Python: 1 MB of keywords took 1.4 s)."""
        if not self._scanned or not folded.length:
            return [], None
        data = folded.data
        hits = self.hits(data)
        if not hits:
            return [], None
        scan = _Scan(self, text, folded, data, final, skip_before, limit)
        scan.run(hits, 0)
        scan.matches.sort(key=lambda m: (m.start, m.end))
        return scan.matches, scan.pending

    def open_prefix(self, norm: str) -> int:
        """Length of the longest suffix of ``norm`` that could still grow into a keyword or
        an allow word. For a matcher built during a swap the first automaton's keywords are
        answered by an automaton over their reversed proper prefixes (a leftmost-longest
        match at 0 in the reversed tail), the others by the prefix tables."""
        if not norm or norm[-1] not in self._open_last:
            return 0  # no keyword or allow word goes on from its last character
        longest = min(len(norm), max(self.max_len, self._allow_max_len) - 1)
        found = 0
        if self._open_ac is not None:  # the first automaton's keywords
            rev = norm[-longest:][::-1].encode("utf-8")
            for s, e, _ in self._open_ac.find(rev):
                if s == 0:
                    found = len(rev[:e].decode("utf-8"))
                break
        sets = self._open_sets
        for k in range(longest, found, -1):
            tail = norm[-k:]
            h = hash(tail)
            for shards, mask in sets:
                if tail in shards[h & mask]:
                    return k
        return found


class _Scan:
    """One scan's candidates: accept, turn down (then re-scan the neighbourhood), or defer."""

    def __init__(self, matcher: Matcher, text: str, folded: Folded, data: bytes, final: bool,
                 skip_before: int, limit: int | None = None) -> None:
        self.m = matcher
        self.limit = limit
        #: whether an accepted match blocks (with ``limit``: judging may stop)
        self.blocked = False
        self.text = text
        self.folded = folded
        self.data = data
        self.final = final
        self.skip_before = skip_before
        self.conv = folded.char_of
        self.matches: list[Match] = []
        self.pending: int | None = None
        self._allow_cache: dict[tuple[int, int], list[tuple[int, int]]] = {}

    def run(self, hits: Sequence[tuple[int, int, int]], base: int) -> None:
        """Judge ``(start, end, entry index)`` hits, byte offsets ``base`` into the folded
        text; a candidate turned down leaves the keywords that start inside it to a re-scan
        of its neighbourhood."""
        limit = self.limit
        for bs, be, idx in hits:
            if limit is not None and self.blocked and len(self.matches) >= limit:
                return  # the verdict is known (see Matcher.find)
            bs, be = bs + base, be + base
            if self.judge(idx, bs, be) == "rejected":
                nxt = self.folded.byte_of(self.conv(bs) + 1)
                hi = min(len(self.data), be + self.m._max_bytes)
                sub = [h for h in self.m.hits(self.data[nxt:hi]) if h[0] + nxt < be]
                if sub:
                    self.run(sub, nxt)

    def judge(self, idx: int, bs: int, be: int) -> str:
        s, e = self.conv(bs), self.conv(be)
        a, b = self.folded.span(s, e)
        if b <= self.skip_before:
            return "skipped"
        flags = self.m._bounds[idx]
        latin_start, latin_end = flags & _START, flags & _END
        if latin_start and not self._start_ok(s, a):
            return "rejected"
        if latin_end:
            end = self._end_ok(e, b)
            if end is None:
                self._defer(a)
                return "pending"
            if not end:
                return "rejected"
        exempt = self._exempt(bs, be)
        if exempt is None:
            self._defer(a)
            return "pending"
        if exempt:
            return "rejected"
        entry = self.m.entries[idx]
        action = self.m.actions[idx]
        self.matches.append(Match(entry.term, entry.risk.value, entry.severity, a, b,
                                  self.text[a:b], action))
        if action == "block":
            self.blocked = True
        return "accepted"

    def _defer(self, a: int) -> None:
        self.pending = a if self.pending is None else min(self.pending, a)

    def _start_ok(self, s: int, a: int) -> bool:
        if self.folded.same_origin(s):
            return False
        i = a - 1
        while i >= 0 and is_invisible(self.text[i]):
            i -= 1
        return i < 0 or not is_word_char(self.text[i])

    def _end_ok(self, e: int, b: int) -> bool | None:
        if self.folded.same_origin(e):
            return False
        j = b
        while j < len(self.text) and is_invisible(self.text[j]):
            j += 1
        if j >= len(self.text):
            return True if self.final else None
        return not is_word_char(self.text[j])

    def _exempt(self, bs: int, be: int) -> bool | None:
        """Inside an allow word (``None``: an allow word may still complete it)."""
        ac = self.m._allow_ac
        if ac is None:
            return False
        reach = self.m._allow_bytes
        lo, hi = max(0, bs - reach), min(len(self.data), be + reach)
        for s, e in self._allow_hits(lo, hi):
            if s <= bs and e >= be:
                return True
        if not self.final and hi == len(self.data):
            # an allow word that starts at or before the keyword and runs past the end of
            # the text seen so far could still exempt it
            start_char = self.conv(lo)
            norm = self.folded.norm
            for st in range(start_char, self.conv(bs) + 1):
                if norm[st:] in self.m._allow_prefixes:
                    return None
        return False

    def _allow_hits(self, lo: int, hi: int) -> list[tuple[int, int]]:
        key = (lo, hi)
        hits = self._allow_cache.get(key)
        if hits is None:
            assert self.m._allow_ac is not None
            hits = [(s + lo, e + lo) for s, e, _ in
                    self.m._allow_ac.find_overlapping(self.data[lo:hi])]
            self._allow_cache[key] = hits
        return hits
