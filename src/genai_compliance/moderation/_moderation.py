"""Moderation: profiles, the streaming scanner, classifiers and the guard checks (IM-4a,
IM-14a, SR-5, SR-11).

``Moderation`` holds one matcher per profile (``default``, ``minors`` …), swapped atomically
when the library is reloaded: a request keeps the matcher it started with. The
``StreamScanner`` keeps state across chunk boundaries: it withholds only the tail that could
still become a keyword, and stops the moment a match completes, so the caller never receives
a keyword — not even its first characters — nor anything after it.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs

from ..errors import ConfigurationError, ContentBlocked
from ..rules import implements
from ._library import Keyword, KeywordLibrary, Match, Matcher
from ._normalise import normalise

__all__ = ["Classifier", "Moderation", "StreamScanner", "Verdict"]

#: text -> {risk code: score in [0, 1]} (sync or async); adapters wrap your models
Classifier = Callable[[str], "Mapping[str, float] | Awaitable[Mapping[str, float]]"]

DEFAULT_REFUSAL = "抱歉，该请求涉及违规内容，无法提供。/ Sorry, this request cannot be served."


@attrs.frozen
class Verdict:
    """The outcome of moderating one text."""

    flagged: bool
    matches: tuple[Match, ...] = ()
    scores: Mapping[str, float] = attrs.field(factory=dict)
    risk: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"flagged": self.flagged, "risk": self.risk,
                "matches": [m.to_json() for m in self.matches], "scores": dict(self.scores)}


class StreamScanner:
    """Scan a text arriving in chunks; see the module docstring."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.held = ""
        self.offset = 0  # characters already emitted

    def feed(self, chunk: str) -> tuple[str, Match | None]:
        """Returns ``(text safe to emit now, the match if one completed)``."""
        text = self.held + chunk
        norm, origin = normalise(text)
        hits = self.matcher.scan_normalised(norm)
        if hits:
            idx, s, e = hits[0]
            a, b = origin[s], origin[e - 1] + 1
            entry = self.matcher.entries[idx]
            match = Match(entry.term, entry.risk.value, entry.severity, self.offset + a,
                          self.offset + b, text[a:b])
            safe = text[:a]
            self.held = ""
            return safe, match
        keep = self.matcher.open_prefix(norm)
        cut = origin[len(norm) - keep] if keep else len(text)
        safe, self.held = text[:cut], text[cut:]
        self.offset += len(safe)
        return safe, None

    def flush(self) -> str:
        out, self.held = self.held, ""
        self.offset += len(out)
        return out


@implements("IM-4a", "IM-14a", "SR-5", "SR-11")
class Moderation:
    """Keyword matching and classifiers per profile; blocks are recorded.

    :param library: the keyword library of the ``default`` profile.
    :param profiles: extra keywords per named profile (e.g. ``minors``), added to the default.
    :param classifiers: callables returning risk scores; ``thresholds`` per profile.
    :param on_block: called with ``(risk, content, where, subject, profile)`` for each block
        (wired to ``compliance.incidents.handle_block`` by :meth:`from_compliance`).
    """

    def __init__(self, library: KeywordLibrary, *,
                 profiles: Mapping[str, Sequence[Keyword]] | None = None,
                 classifiers: Sequence[Classifier] = (),
                 thresholds: Mapping[str, float] | None = None,
                 refusal_text: str = DEFAULT_REFUSAL,
                 record: Callable[..., Any] | None = None,
                 on_block: Callable[..., Any] | None = None) -> None:
        self.classifiers = list(classifiers)
        self.thresholds = {"default": 0.5, "minors": 0.3, **dict(thresholds or {})}
        self.refusal_text = refusal_text
        self._record = record
        self.on_block = on_block
        self.reload(library, profiles)

    def reload(self, library: KeywordLibrary,
               profiles: Mapping[str, Sequence[Keyword]] | None = None) -> None:
        """Build new automata and swap them in at once; running scans keep the old ones."""
        profiles = dict(profiles or {})
        profiles.setdefault("minors", ())
        matchers = {"default": library.matcher()}
        for name, extra in profiles.items():
            matchers[name] = library.matcher(extra)
        self.library = library
        self._matchers = matchers  # one assignment: atomic for readers

    @classmethod
    def from_compliance(cls, compliance: Any) -> Moderation:
        """From ``[moderation]``: ``keyword_files``, ``profiles.<name>.keyword_files``,
        ``thresholds``, ``refusal_text``."""
        settings: Mapping[str, Any] = compliance.settings.get("moderation", {})
        base = getattr(compliance, "base_dir", ".")
        from pathlib import Path

        def paths(items: Sequence[str]) -> list[Path]:
            return [p if p.is_absolute() else Path(base) / p for p in map(Path, items)]

        files = paths(settings.get("keyword_files", []))
        library = KeywordLibrary.load(*files) if files else KeywordLibrary([])
        profiles = {name: KeywordLibrary.load(*paths(cfg.get("keyword_files", []))).entries
                    for name, cfg in settings.get("profiles", {}).items()}

        def on_block(risk: str | None, content: str, where: str, subject: Any,
                     profile: str) -> None:
            compliance.incidents.handle_block(risk=risk, content=content, where=where,
                                              subject=subject, detail={"profile": profile})

        return cls(library, profiles=profiles, thresholds=settings.get("thresholds"),
                   refusal_text=settings.get("refusal_text", DEFAULT_REFUSAL),
                   record=compliance.record, on_block=on_block)

    def matcher(self, profile: str = "default") -> Matcher:
        try:
            return self._matchers[profile]
        except KeyError as exc:
            raise ConfigurationError(f"unknown moderation profile {profile!r}; known: "
                                     f"{', '.join(sorted(self._matchers))}", field="profile",
                                     value=profile) from exc

    def check(self, text: str, *, profile: str = "default") -> Verdict:
        """Keywords and (sync) classifiers over a whole text."""
        matches = tuple(self.matcher(profile).scan(text))
        scores: dict[str, float] = {}
        for classifier in self.classifiers:
            result = classifier(text)
            if inspect.isawaitable(result):
                raise ConfigurationError("an async classifier needs acheck()", field="classifier",
                                         value=classifier)
            for risk, score in dict(result).items():
                scores[risk] = max(scores.get(risk, 0.0), float(score))
        return self._verdict(matches, scores, profile)

    async def acheck(self, text: str, *, profile: str = "default") -> Verdict:
        """Async twin of :meth:`check` (awaits async classifiers)."""
        matches = tuple(self.matcher(profile).scan(text))
        scores: dict[str, float] = {}
        for classifier in self.classifiers:
            result = classifier(text)
            if inspect.isawaitable(result):
                result = await result
            for risk, score in dict(result).items():
                scores[risk] = max(scores.get(risk, 0.0), float(score))
        return self._verdict(matches, scores, profile)

    def _verdict(self, matches: tuple[Match, ...], scores: Mapping[str, float],
                 profile: str) -> Verdict:
        threshold = self.thresholds.get(profile, self.thresholds["default"])
        over = sorted((r for r, s in scores.items() if s >= threshold),
                      key=lambda r: -scores[r])
        risk = matches[0].risk if matches else (over[0] if over else None)
        return Verdict(bool(matches or over), matches, dict(scores), risk)

    def blocked(self, *, risk: str | None, content: str, where: str, subject: Any,
                profile: str, matches: int) -> ContentBlocked:
        """Record a block and return the error to raise."""
        if self._record is not None:
            self._record("moderation.block", {
                "risk": risk, "where": where, "profile": profile, "matches": matches,
                "sha256": hashlib.sha256(content.encode("utf-8")).hexdigest()},
                subject=subject)
        if self.on_block is not None:
            self.on_block(risk, content, where, subject, profile)
        return ContentBlocked(self.refusal_text, risk=risk, where=where, profile=profile,
                              rules=("IM-4a", "IM-14a"))
