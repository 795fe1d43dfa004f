"""Moderation: profiles, the streaming scanner, classifiers and the guard checks (IM-4a,
IM-14a, SR-5, SR-11).

``Moderation`` holds one matcher per profile (``default``, ``minors`` …), swapped atomically
when the library is reloaded (built aside, on a thread of its own with
``reload_in_background``, incrementally for a small update, paced so that serving threads
keep the GIL (:mod:`._pacing`); each swap is one ledger record, SR-5's weekly update): a
request keeps the matcher it started with. The ``StreamScanner``
keeps state across chunk boundaries: it withholds only the tail that could still become a
keyword, and stops the moment a match completes, so the caller never receives a keyword —
not even its first characters — nor anything after it (IM-14a).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from .._exports import deprecated
from ..errors import ConfigurationError, ContentBlocked
from ..rules import implements
from ._library import _BATCH, Keyword, KeywordLibrary, Match, Matcher
from ._normalise import fold, normalise_terms
from ._pacing import pace, paced, release_when_unused

if TYPE_CHECKING:
    from ..context import DutyContext, HasContext
    from ..subject import Subject

#: ``on_block(risk, content, where, subject, profile)``: told of every block (the facade
#: wires it to the incidents duty's illegal-content handling, IM-14a)
BlockHandler = Callable[[str | None, str, str, "Subject | None", str], None]

__all__ = ["DELTA_MAX", "Classifier", "Moderation", "StreamScanner", "Verdict",
           "minors_harm_library"]

#: text -> {risk code: score in [0, 1]} (sync or async); adapters wrap your models
Classifier = Callable[[str], "Mapping[str, float] | Awaitable[Mapping[str, float]]"]

DEFAULT_REFUSAL = "抱歉，该请求涉及违规内容，无法提供。/ Sorry, this request cannot be served."


@attrs.frozen
class Verdict:
    """The outcome of moderating one text. ``matches`` holds every keyword found; only those
    whose action is ``block`` (and classifier scores over the threshold) set ``flagged``."""

    flagged: bool
    matches: tuple[Match, ...] = ()
    scores: Mapping[str, float] = attrs.field(factory=dict)
    risk: str | None = None

    @property
    def review(self) -> tuple[Match, ...]:
        """Matches whose action is ``review``: reported for a person to look at, not blocked."""
        return tuple(m for m in self.matches if m.action == "review")

    def to_json(self) -> dict[str, Any]:
        return {"flagged": self.flagged, "risk": self.risk,
                "matches": [m.to_json() for m in self.matches], "scores": dict(self.scores)}


class StreamScanner:
    """Scan a text arriving in chunks; see the module docstring.

    ``feed`` folds the held tail plus the new chunk (and a few already emitted characters,
    for Latin word boundaries), reports the first blocking match, and otherwise withholds only
    what could still become (or still be exempted from) a keyword. ``finish`` ends the stream:
    ``(rest, match)``; ``flush`` is ``finish`` returning the text only (a final match is then
    withheld and kept in ``.match``).
    """

    CONTEXT = 16

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.held = ""
        self.offset = 0  # characters already emitted
        self.match: Match | None = None
        self._context = ""

    def _scan(self, chunk: str, final: bool) -> tuple[str, Match | None]:
        ctx = len(self._context)
        text = self._context + self.held + chunk
        folded = fold(text)
        matches, pending = self.matcher.find(text, folded, final=final, skip_before=ctx)
        for m in matches:
            if m.action != "block":
                continue
            start = max(m.start, ctx)
            safe = text[ctx:start]
            match = attrs.evolve(m, start=self.offset + start - ctx,
                                 end=self.offset + m.end - ctx, text=text[start:m.end])
            self.offset += len(safe)
            self.held = ""
            self.match = match
            return safe, match
        cut = len(text)
        if not final:
            keep = self.matcher.open_prefix(folded.norm)
            if keep:
                cut = folded.span(len(folded.norm) - keep, len(folded.norm))[0]
            if pending is not None:
                cut = min(cut, pending)
        cut = max(cut, ctx)
        safe, self.held = text[ctx:cut], text[cut:]
        self.offset += len(safe)
        self._context = (self._context + safe)[-self.CONTEXT:]
        return safe, None

    def feed(self, chunk: str) -> tuple[str, Match | None]:
        """Returns ``(text safe to emit now, the match if one completed)``."""
        return self._scan(chunk, final=False)

    def finish(self) -> tuple[str, Match | None]:
        """End of stream: ``(the rest that is safe to emit, a match completed by the end)``."""
        if not self.held:
            return "", None
        return self._scan("", final=True)

    def flush(self) -> str:
        """End of stream, text only: a keyword completed by the end is withheld (``.match``)."""
        return self.finish()[0]


#: the verdict on a text with no keyword and no classifier to ask (shared: it is immutable)
_CLEAN = Verdict(False, (), MappingProxyType({}))


@attrs.frozen
class _Served:
    """What the checks read, swapped as one object: the library and its automata."""

    library: KeywordLibrary
    matchers: Mapping[str, Matcher]
    digest: str
    profiles: Mapping[str, tuple[Keyword, ...]] = attrs.field(factory=dict)
    build: str = "full"
    added: int = 0
    removed: int = 0


#: matches the guard's moderation checks collect once one blocks (the verdict is then known;
#: a prompt dense with keywords costs no more than these: 1 MB of keywords took 1.4 s)
MATCH_LIMIT = 100

#: texts longer than this (characters) :meth:`Moderation.acheck` scans in a worker thread:
#: below it a scan costs under ~0.1 ms (a prompt), above it the event loop would wait for it
OFF_LOOP_CHARS = 4096

#: at most this many keywords in the small automata of incremental updates; past it, or when
#: the profiles change, a swap builds everything anew
DELTA_MAX = 5_000


def _same(old: KeywordLibrary, before: Keyword, new: KeywordLibrary, after: Keyword) -> bool:
    return (before.risk == after.risk and before.severity == after.severity
            and old.action_of(before) == new.action_of(after))


def _diff(old: KeywordLibrary, new: KeywordLibrary
          ) -> tuple[list[Keyword], list[str], set[str]] | None:
    """``(added entries, their actions, removed normalised terms)`` from ``old`` to ``new``
    (a changed risk, severity or action is both), or ``None`` when too much changed for an
    incremental update. Looks entries up in the libraries' own tables, in steps that yield
    the GIL: no large table is built or freed while checks are being served."""
    before, after = old.by_normalised, new.by_normalised
    added: list[Keyword] = []
    actions: list[str] = []
    for lo in range(0, len(new.entries), _BATCH):
        for n, e in zip(new.normalised[lo:lo + _BATCH], new.entries[lo:lo + _BATCH],
                        strict=True):
            was = before.get(n)
            if was is None or not _same(old, was, new, e):
                added.append(e)
                actions.append(new.action_of(e))
        pace()
        if len(added) > DELTA_MAX:
            return None
    removed: set[str] = set()
    for lo in range(0, len(old.entries), _BATCH):
        for n, e in zip(old.normalised[lo:lo + _BATCH], old.entries[lo:lo + _BATCH],
                        strict=True):
            now = after.get(n)
            if now is None or not _same(old, e, new, now):
                removed.add(n)
        pace()
    return added, actions, removed


def _digest(library: KeywordLibrary, profiles: Mapping[str, Sequence[Keyword]]) -> str:
    """SHA-256 over the entries in library order (batched: yields the GIL, see reload)."""
    h = hashlib.sha256()
    entries = library.entries
    for lo in range(0, len(entries), _BATCH):
        h.update("".join(f"{e.term}\t{e.risk.value}\t{e.severity}\t{library.action_of(e)}\n"
                         for e in entries[lo:lo + _BATCH]).encode())
        pace()
    h.update("".join(f"allow\t{word}\n" for word in library.allow).encode())
    for name in sorted(profiles):
        h.update("".join(f"{name}\t{e.term}\t{e.risk.value}\n" for e in profiles[name])
                 .encode())
    return h.hexdigest()


def _release(previous: _Served, served: _Served) -> None:
    """Free what only the swapped-out library used, a step at a time, once its last user is
    gone (see :func:`._pacing.release_when_unused`)."""
    current = {id(m) for m in served.matchers.values()}
    for matcher in {id(m): m for m in previous.matchers.values()}.values():
        if id(matcher) not in current:
            matcher.release_when_unused()
    old = previous.library
    if old is not served.library:
        release_when_unused(old, [old.entries, old.normalised, old._by_norm])


@implements("MH-2026")
def minors_harm_library() -> KeywordLibrary:
    """The shipped seed list of the four kinds of online information that may harm minors
    (M.1 … M.4; Classification Measures in force 2026-03-01): merged into the ``minors``
    profile by default (``[moderation] minors_harm_profile``), so the stricter profile the
    minors duty picks for a minor blocks them. A seed of typical phrases per kind, not a
    library: add your own list under ``[moderation.profiles.minors] keyword_files``."""
    from importlib import resources

    ref = resources.files("genai_compliance.moderation").joinpath(
        "data", "minors_harm_2026.csv")
    with resources.as_file(ref) as path:
        return KeywordLibrary.load(path)


@implements("IM-4a", "IM-14a", "SR-5", "SR-11")
class Moderation:
    """Keyword matching and classifiers per profile; blocks and library swaps are recorded.

    :param library: the keyword library of the ``default`` profile.
    :param profiles: extra keywords per named profile (e.g. ``minors``), added to the default.
    :param classifiers: callables returning risk scores; ``thresholds`` per profile.
    :param word_boundaries: a Latin keyword matches only as a whole word (default ``True``).
    :param on_block: called with ``(risk, content, where, subject, profile)`` for each block
        (the facade wires it to ``compliance.incidents.handle_block``).
    :param record: ``record(kind, payload, subject=None)``: ``moderation.block`` per block and
        ``moderation.library`` per library swap (SR-5 weekly updates).
    """

    def __init__(self, library: KeywordLibrary, *,
                 profiles: Mapping[str, Sequence[Keyword]] | None = None,
                 classifiers: Sequence[Classifier] = (),
                 thresholds: Mapping[str, float] | None = None,
                 refusal_text: str = DEFAULT_REFUSAL,
                 record: Callable[..., Any] | None = None,
                 on_block: BlockHandler | None = None,
                 word_boundaries: bool = True) -> None:
        self.classifiers = list(classifiers)
        self.thresholds = {"default": 0.5, "minors": 0.3, **dict(thresholds or {})}
        self.refusal_text = refusal_text
        self.word_boundaries = word_boundaries
        self._record = record
        self.on_block = on_block
        self._swap_lock = threading.Lock()
        self._served = self._build(library, profiles)

    @property
    def library(self) -> KeywordLibrary:
        return self._served.library

    @property
    def digest(self) -> str:
        """SHA-256 of the library being served (entries, allow words, profiles)."""
        return self._served.digest

    def _build(self, library: KeywordLibrary,
               profiles: Mapping[str, Sequence[Keyword]] | None,
               previous: _Served | None = None) -> _Served:
        extras = {name: tuple(extra) for name, extra in (profiles or {}).items()}
        extras.setdefault("minors", ())
        digest = _digest(library, extras)
        if previous is not None and previous.profiles == extras:
            served = self._build_incremental(library, extras, previous, digest)
            if served is not None:
                return served
        wb = self.word_boundaries
        matchers = {"default": library.matcher(word_boundaries=wb)}
        for name, extra in extras.items():
            matchers[name] = (library.matcher(extra, word_boundaries=wb) if extra
                              else matchers["default"])
        return _Served(library, matchers, digest, extras)

    def _build_incremental(self, library: KeywordLibrary,
                           extras: Mapping[str, tuple[Keyword, ...]], previous: _Served,
                           digest: str) -> _Served | None:
        """Derive the matchers from the ones serving: only the keywords added since the
        last full build go into new (small) automata, so the swap holds the GIL briefly."""
        diff = _diff(previous.library, library)
        if diff is None:
            return None
        added, actions, removed = diff
        default = previous.matchers["default"]
        if default.delta_size + len(added) > DELTA_MAX:
            return None
        allow = library.allow if library.allow != previous.library.allow else None
        matchers: dict[str, Matcher] = {
            "default": default.extended(added, actions, removed, allow=allow)}
        for name, old in previous.matchers.items():
            if name == "default":
                continue
            if old is default:
                matchers[name] = matchers["default"]
                continue
            own = set(normalise_terms([e.term for e in extras.get(name, ())]))
            matchers[name] = old.extended(added, actions, removed - own, allow=allow)
        return _Served(library, matchers, digest, extras, "incremental", len(added),
                       len(removed))

    def reload(self, library: KeywordLibrary,
               profiles: Mapping[str, Sequence[Keyword]] | None = None, *,
               reason: str = "reload") -> str:
        """Build new automata in this thread, then swap them in with one assignment: a
        check or stream already running finishes on the old ones, every later one uses the
        new ones. A small update (at most :data:`DELTA_MAX` keywords added or changed since
        the last full build, same profiles; the allow words may change) keeps the serving
        automaton and builds only the new keywords into a small one (and the allow words,
        when they changed, into theirs); otherwise everything is rebuilt.
        Records ``moderation.library`` (SR-5: the weekly update is evidenced in the ledger).
        Returns the new library's digest.

        The build is paced (:mod:`._pacing`): it hands the GIL over to the threads serving
        checks every 100 µs of work, a large automaton is built in a process of its own
        (:mod:`._automaton`), and the tables of the library swapped out are freed a step at a
        time on a release thread once the last check or stream on them ends.

        .. versionchanged:: 0.2 automata of 2,048 keywords or more are built in a process of
           their own during a swap (the ``ahocorasick-rs`` constructor kept the GIL for its
           whole build; issue 19)."""
        with paced():
            return self._reload(library, profiles, reason)

    def _reload(self, library: KeywordLibrary,
                profiles: Mapping[str, Sequence[Keyword]] | None, reason: str) -> str:
        served = self._build(library, profiles, self._served)
        with self._swap_lock:
            previous, self._served = self._served, served  # one assignment: atomic for readers
        _release(previous, served)
        if self._record is not None:
            coverage = library.coverage()
            self._record("moderation.library", {
                "reason": reason, "sha256": served.digest, "previous": previous.digest,
                "build": served.build, "added": served.added, "removed": served.removed,
                "entries": len(library), "allow": len(library.allow),
                "profiles": {n: len(m.entries) for n, m in sorted(served.matchers.items())},
                "per_risk": coverage.per_risk, "sr5_ok": coverage.ok,
                "problems": list(coverage.problems),
                "updated": library.updated.isoformat() if library.updated else None})
        return served.digest

    def reload_in_background(self, library: KeywordLibrary | Callable[[], KeywordLibrary],
                             profiles: Mapping[str, Sequence[Keyword]] | None = None, *,
                             reason: str = "reload") -> Future[str]:
        """:meth:`reload` on a thread of its own, off the serving threads; the future gives
        the new digest (or the build's error, the old library still serving). ``library``
        may be a callable (e.g. ``lambda: KeywordLibrary.load(...)``) so that loading the
        files happens on that thread too."""
        future: Future[str] = Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                with paced():  # the loader too: parsing the files is paced by the interpreter
                    built = library() if callable(library) else library
                    future.set_result(self.reload(built, profiles, reason=reason))
            except BaseException as exc:  # handed to the caller through the future
                future.set_exception(exc)

        threading.Thread(target=work, name="moderation-reload", daemon=True).start()
        return future

    @classmethod
    def from_context(cls, ctx: DutyContext, *,
                     on_block: BlockHandler | None = None) -> Moderation:
        """From ``[moderation]``: ``keyword_files`` (deny lists), ``allow_files``,
        ``pinyin_files`` (opt-in), ``actions`` (``{"A.2" = "review"}``),
        ``word_boundaries``, ``profiles.<name>.keyword_files``, ``thresholds``,
        ``refusal_text``; blocks are recorded in the context's ledger and handed to
        ``on_block``."""
        settings = ctx.section("moderation")

        def paths(items: Sequence[str]) -> list[Path]:
            return [ctx.path(p) for p in items]

        files = paths(settings.get("keyword_files", []))
        allow = paths(settings.get("allow_files", []))
        pinyin = paths(settings.get("pinyin_files", []))
        actions = settings.get("actions")
        library = (KeywordLibrary.load(*files, allow=allow, pinyin=pinyin, actions=actions)
                   if files or allow or pinyin else KeywordLibrary([], actions=actions))
        profiles: dict[str, Sequence[Keyword]] = {
            name: KeywordLibrary.load(*paths(cfg.get("keyword_files", []))).entries
            for name, cfg in settings.get("profiles", {}).items()}
        if settings.get("minors_harm_profile", True):  # MH-2026: never pushed to minors
            profiles["minors"] = (*profiles.get("minors", ()), *minors_harm_library().entries)
        return cls(library, profiles=profiles, thresholds=settings.get("thresholds"),
                   refusal_text=settings.get("refusal_text", DEFAULT_REFUSAL),
                   record=ctx.record, on_block=on_block,
                   word_boundaries=bool(settings.get("word_boundaries", True)))

    @classmethod
    def from_compliance(cls, compliance: HasContext) -> Moderation:
        """Deprecated: use ``compliance.moderation`` or :meth:`from_context`."""
        deprecated("Moderation.from_compliance", "compliance.moderation or "
                   "Moderation.from_context(compliance.context, on_block=...)")
        return cls.from_context(compliance.context)

    def matcher(self, profile: str = "default") -> Matcher:
        matchers = self._served.matchers
        try:
            return matchers[profile]
        except KeyError as exc:
            raise ConfigurationError(f"unknown moderation profile {profile!r}; known: "
                                     f"{', '.join(sorted(matchers))}", field="profile",
                                     value=profile) from exc

    def check(self, text: str, *, profile: str = "default",
              limit: int | None = None) -> Verdict:
        """Keywords and (sync) classifiers over a whole text. With ``limit``, the keyword scan
        stops once ``limit`` matches are found and one of them blocks (:meth:`Matcher.find`):
        ``matches`` then lists those, and the verdict is the same as the full scan's. The
        guard's checks pass :data:`MATCH_LIMIT`."""
        matches = tuple(self.matcher(profile).scan(text, limit=limit))
        if not matches and not self.classifiers:
            return _CLEAN
        scores: dict[str, float] = {}
        for classifier in self.classifiers:
            result = classifier(text)
            if inspect.isawaitable(result):
                raise ConfigurationError("an async classifier needs acheck()", field="classifier",
                                         value=classifier)
            for risk, score in dict(result).items():
                scores[risk] = max(scores.get(risk, 0.0), float(score))
        return self._verdict(matches, scores, profile)

    async def acheck(self, text: str, *, profile: str = "default",
                     limit: int | None = None) -> Verdict:
        """Async twin of :meth:`check` (awaits async classifiers). A text longer than
        :data:`OFF_LOOP_CHARS` is scanned in a worker thread, so a long prompt or result
        never holds the event loop (1 MB of plain text takes ~26 ms to scan)."""
        matcher = self.matcher(profile)
        if len(text) > OFF_LOOP_CHARS:
            matches = tuple(await asyncio.to_thread(matcher.scan, text, limit=limit))
        else:
            matches = tuple(matcher.scan(text, limit=limit))
        if not matches and not self.classifiers:
            return _CLEAN
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
        blocking = [m for m in matches if m.action == "block"]
        risk = blocking[0].risk if blocking else (over[0] if over else None)
        return Verdict(bool(blocking or over), matches, dict(scores), risk)

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
