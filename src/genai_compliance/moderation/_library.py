"""Keyword libraries and the Aho–Corasick matcher (SR-5, IM-4a).

A library is loaded from files — one keyword a line, or CSV ``keyword,risk,severity`` — and
checked for coverage (SR-5: at least 10,000 entries, 200 per A.1 risk and 100 per A.2 risk;
the per-risk figures are unverified [K] and configurable) and staleness (weekly update [K]).
The matcher is an ``ahocorasick_rs`` automaton over normalised keywords, built once;
``Matcher.scan`` reports spans in the original text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from ..errors import ConfigurationError
from ..risks import Risk
from ..rules import implements
from ._normalise import normalise, normalise_fast, normalise_term

__all__ = ["Coverage", "Keyword", "KeywordLibrary", "Match", "Matcher"]

SEVERITIES = ("low", "medium", "high")


@attrs.frozen
class Keyword:
    """One library entry: the term, its risk code and severity."""

    term: str
    risk: Risk
    severity: str = "high"


@attrs.frozen
class Match:
    """A keyword found in a text: ``text[start:end]`` is what matched in the original."""

    keyword: str
    risk: str
    severity: str
    start: int
    end: int
    text: str

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class Coverage:
    """The library against SR-5."""

    total: int
    per_risk: dict[str, int]
    problems: tuple[str, ...]
    stale: bool

    @property
    def ok(self) -> bool:
        return not self.problems


class KeywordLibrary:
    """A set of keywords with their risk codes."""

    def __init__(self, entries: Iterable[Keyword], *, updated: dt.date | None = None) -> None:
        seen: dict[str, Keyword] = {}
        for entry in entries:
            norm = normalise_term(entry.term)
            if not norm:
                raise ConfigurationError(
                    f"keyword {entry.term!r} is empty after normalisation (only punctuation or "
                    "spaces); remove it", field="keyword", value=entry.term)
            seen.setdefault(norm, entry)
        self.entries: list[Keyword] = list(seen.values())
        self._normalised: list[str] = list(seen)
        self.updated = updated

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def load(cls, *paths: str | Path, default_risk: str = "A.1h",
             updated: dt.date | None = None) -> KeywordLibrary:
        """Read keyword files: CSV with a ``keyword`` header column (``risk``, ``severity``
        optional) or plain text, one keyword a line (``#`` comments)."""
        entries: list[Keyword] = []
        for path in paths:
            p = Path(path)
            try:
                text = p.read_text(encoding="utf-8-sig")
            except OSError as exc:
                raise ConfigurationError(f"cannot read keyword file {str(p)!r}: "
                                         f"{exc.strerror}", field="keyword_files",
                                         path=str(p)) from exc
            entries.extend(cls._parse(text, str(p), default_risk))
        return cls(entries, updated=updated)

    @staticmethod
    def _parse(text: str, where: str, default_risk: str) -> list[Keyword]:
        lines = text.splitlines()
        first = lines[0].strip().lower() if lines else ""
        out: list[Keyword] = []
        if first.startswith("keyword"):
            for n, row in enumerate(csv.DictReader(io.StringIO(text)), 2):
                term = (row.get("keyword") or "").strip()
                if not term:
                    continue
                severity = (row.get("severity") or "high").strip().lower()
                if severity not in SEVERITIES:
                    raise ConfigurationError(f"{where}:{n}: severity must be one of "
                                             f"{', '.join(SEVERITIES)}, got {severity!r}",
                                             field="severity", value=severity)
                out.append(Keyword(term, Risk.parse(row.get("risk") or default_risk),
                                   severity))
        else:
            for line in lines:
                term = line.strip()
                if term and not term.startswith("#"):
                    out.append(Keyword(term, Risk.parse(default_risk)))
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
        counts = Counter(e.risk.value for e in self.entries)
        problems: list[str] = []
        if len(self) < minimum:
            problems.append(f"{len(self)} entries; at least {minimum:,} are required (SR-5)")
        for risk in Risk:
            if not risk.keyword_risk:
                continue
            need = per_a1 if risk.category == "A.1" else per_a2
            if counts[risk.value] < need:
                problems.append(f"{risk.value} has {counts[risk.value]} entries; {need} needed")
        stale = False
        if today is not None:
            stale = self.updated is None or (today - self.updated).days > max_age_days
            if stale:
                problems.append(f"not updated within {max_age_days} days (weekly update, SR-5)")
        return Coverage(len(self), dict(sorted(counts.items())), tuple(problems), stale)

    def matcher(self, extra: Sequence[Keyword] = ()) -> Matcher:
        return Matcher([*self.entries, *extra])


class Matcher:
    """An Aho–Corasick automaton over normalised keywords (leftmost-longest matches)."""

    def __init__(self, entries: Sequence[Keyword]) -> None:
        import ahocorasick_rs

        self.entries = list(entries)
        self.terms = [normalise_term(e.term) for e in self.entries]
        self.max_len = max((len(t) for t in self.terms), default=0)
        self._prefixes = {t[:k] for t in self.terms for k in range(1, len(t))}
        self._ac = (ahocorasick_rs.AhoCorasick(self.terms,
                                               matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
                    if self.terms else None)

    def scan_normalised(self, norm: str) -> list[tuple[int, int, int]]:
        """``(entry index, start, end)`` over normalised text."""
        if self._ac is None or not norm:
            return []
        return [(int(i), int(s), int(e)) for i, s, e in
                self._ac.find_matches_as_indexes(norm, overlapping=False)]

    def scan(self, text: str) -> list[Match]:
        """Every keyword in ``text``, with spans in the original text."""
        if not self.scan_normalised(normalise_fast(text)):
            return []  # the common case: no origin map needed
        norm, origin = normalise(text)
        out = []
        for idx, start, end in self.scan_normalised(norm):
            a, b = origin[start], origin[end - 1] + 1
            e = self.entries[idx]
            out.append(Match(e.term, e.risk.value, e.severity, a, b, text[a:b]))
        return out

    def open_prefix(self, norm: str) -> int:
        """Length of the longest suffix of ``norm`` that could still grow into a keyword."""
        for k in range(min(len(norm), self.max_len - 1), 0, -1):
            if norm[-k:] in self._prefixes:
                return k
        return 0
