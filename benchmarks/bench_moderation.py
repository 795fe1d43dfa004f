"""Keyword scanning beside the raw automaton, in the same run (issue 17, SR-5).

- 10 MB of mixed Chinese/English text, 20,000 and 100,000 keywords: the raw automata
  (leftmost-longest, no normalisation, the same word list: ``daachorse``, which we use, over
  the text's UTF-8, and ``ahocorasick-rs``'s ``str`` API, the floor before issue 19) against
  our normalised scan (fold + automaton + Latin word boundaries); interleaved, median of 5.
- the same text with 20 keywords hidden in it (evasion forms): the cost of the match path.
- automaton build for 100,000 words (ours against the raw automata's own builds).
- the added latency per 20-character stream chunk (StreamScanner.feed against str.upper).
- per guarded call, the CPU the moderation checks add for a short prompt and a 30-character
  reply (``before``/``abefore``, ``after``/``aafter``, a streamed reply chunk by chunk),
  beside the raw automaton on the same text (``time.process_time``, best of 5).
- hot swaps while another thread checks short texts: check latency (from when the check was
  due, waiting for the GIL included) during the swap against idle, for a full swap to
  100,000 words (its automata built in a process of their own) and for a weekly update of 300
  words into 100,000 (incremental: a small automaton); idle is probed for 0.5 s before and
  as long again as the swap took after it (so that the maxima cover as many checks); the
  last lines put the worst stall of a concurrent check during the full swap beside the idle
  check latency.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from _util import line

from genai_compliance.moderation import KeywordLibrary, Moderation, StreamScanner

WORDS = (  # noqa: SIM905 - a sentence is easier to read than a list literal
    "今天 天气 很好 我们 一起 去 公园 散步 人工智能 生成 内容 需要 标识 the weather is lovely "
    "today please summarise this article about renewable energy").split()


def _text(size: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        word = rng.choice(WORDS)
        parts.append(word)
        total += len(word.encode()) + 1
    return " ".join(parts)


def _median(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _side_by_side(label: str, raw: Callable[[], object], ours: Callable[[], object],
                  size: int, repeat: int = 5) -> None:
    raw_t: list[float] = []
    our_t: list[float] = []
    for _ in range(repeat):  # interleaved, so both see the same machine load
        raw_t.append(_median(raw, 1))
        our_t.append(_median(ours, 1))
    raw_mbps = size / statistics.median(raw_t) / 1e6
    our_mbps = size / statistics.median(our_t) / 1e6
    line(f"raw automaton, {label}", raw_mbps, raw_mbps, "MB/s")
    line(f"normalised scan (ours), {label}", our_mbps, raw_mbps, "MB/s")


def _hidden(text: str, terms: list[str], n: int = 20, seed: int = 2) -> str:
    rng = random.Random(seed)
    cuts = sorted(rng.randrange(len(text)) for _ in range(n))
    out, last = [], 0
    for i, cut in enumerate(cuts):
        term = terms[rng.randrange(len(terms))]
        hidden = "\u200b".join(term) if i % 2 else " ".join(term)
        out += [text[last:cut], " ", hidden, " "]
        last = cut
    out.append(text[last:])
    return "".join(out)


PROMPT = "请介绍一下长城的历史。"
REPLY = "长城是中国古代的军事防御工程，始建于春秋战国时期。"  # 25 characters


def _cpu_us(fn: Callable[[], object], n: int = 20_000) -> float:
    """CPU µs per call of ``fn``: best of 5 runs of ``n`` calls (``time.process_time``)."""
    for _ in range(200):
        fn()
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - start) / n * 1e6)
    return best


def _drive(make: Callable[[], Coroutine[Any, Any, object]]) -> Callable[[], None]:
    """Run a coroutine that never suspends (no classifier, no block) without a loop."""
    def run() -> None:
        coro = make()
        try:
            coro.send(None)
        except StopIteration:
            return
        raise RuntimeError("the coroutine suspended")  # pragma: no cover
    return run


def per_call() -> None:
    """CPU µs per guarded call that the moderation checks add, by hook."""
    import daachorse

    from genai_compliance.checks import CallContext
    from genai_compliance.moderation import InputModerationCheck, OutputModerationCheck
    from genai_compliance.testing import sample_keyword_file

    now = dt.datetime.now(dt.UTC)

    def context(streaming: bool = False) -> CallContext:
        return CallContext(call_id="c", function="f", modality="text", purposes=("service",),
                           subject=None, started_at=now, started_mono=0.0, prompt=PROMPT,
                           streaming=streaming)

    chunks = [REPLY[i:i + 5] for i in range(0, len(REPLY), 5)]
    for label, library in (("sample list", KeywordLibrary.load(sample_keyword_file())),
                           ("20,000 keywords", KeywordLibrary.synthetic(20_000))):
        moderation = Moderation(library)
        inp, out = InputModerationCheck(moderation), OutputModerationCheck(moderation)
        ctx = context()
        raw = daachorse.DoubleArrayAhoCorasick([t.encode() for t in library.normalised],
                                               daachorse.MATCH_KIND_LEFTMOST_LONGEST)
        data = PROMPT.encode()
        floor = _cpu_us(lambda: raw.find(data))  # noqa: B023
        fresh = _cpu_us(context)

        def stream() -> None:
            c = context(True)
            for chunk in chunks:
                out.on_chunk(c, chunk)  # noqa: B023
            out.on_stream_end(c)  # noqa: B023

        per_chunk = (_cpu_us(stream, 5_000) - fresh) / len(chunks)
        print(f"moderation checks, CPU per call ({label}; prompt {len(PROMPT)} characters, "
              f"reply {len(REPLY)}, streamed in {len(chunks)} chunks):")
        line("raw automaton over the prompt's UTF-8 (floor, µs)", floor, floor, "µs")
        line("InputModerationCheck.before (µs)", _cpu_us(lambda: inp.before(ctx)),  # noqa: B023
             floor, "µs")
        line("InputModerationCheck.abefore (µs)",
             _cpu_us(_drive(lambda: inp.abefore(ctx))), floor, "µs")  # noqa: B023
        line("OutputModerationCheck.after (µs)",
             _cpu_us(lambda: out.after(ctx, REPLY)), floor, "µs")  # noqa: B023
        line("OutputModerationCheck.aafter (µs)",
             _cpu_us(_drive(lambda: out.aafter(ctx, REPLY))), floor, "µs")  # noqa: B023
        line("OutputModerationCheck.on_chunk, per chunk, end included (µs)", per_chunk, floor,
             "µs")


def main() -> None:
    known = ["scan", "per-call", "swap"]
    # run directly: `bench_moderation.py swap`; through run.py argv holds its own arguments
    sections = [a for a in sys.argv[1:] if a in known] or known
    if "scan" in sections:
        scanning()
    if "per-call" in sections:
        per_call()
    if "swap" in sections:
        swaps()


def scanning() -> None:
    """Throughput beside the raw automaton, the build, the stream chunk latency."""
    import ahocorasick_rs
    import daachorse

    ll = ahocorasick_rs.MatchKind.LeftmostLongest
    text10 = _text(10_000_000)
    size10 = len(text10.encode())
    for n in (20_000, 100_000):
        library = KeywordLibrary.synthetic(n)
        terms = [k.term for k in library.entries]
        start = time.perf_counter()
        raw = ahocorasick_rs.AhoCorasick(terms, matchkind=ll)
        raw_build = time.perf_counter() - start
        start = time.perf_counter()
        daa = daachorse.DoubleArrayAhoCorasick([t.encode() for t in terms],
                                               daachorse.MATCH_KIND_LEFTMOST_LONGEST)
        daa_build = time.perf_counter() - start
        start = time.perf_counter()
        matcher = library.matcher()
        our_build = time.perf_counter() - start
        print(f"scanning 10 MB mixed zh/en with {n:,} keywords (MB/s; ratio to the raw automaton):")
        _side_by_side("10 MB (raw: daachorse, text.encode() included)",
                      lambda: daa.find(text10.encode()),  # noqa: B023
                      lambda: matcher.scan(text10), size10)  # noqa: B023
        _side_by_side("10 MB (raw: ahocorasick-rs str API)",
                      lambda: raw.find_matches_as_indexes(text10),  # noqa: B023
                      lambda: matcher.scan(text10), size10)  # noqa: B023
        standard = ahocorasick_rs.AhoCorasick(terms)
        _side_by_side("10 MB (raw: standard match kind)",
                      lambda: standard.find_matches_as_indexes(text10),  # noqa: B023
                      lambda: matcher.scan(text10), size10)  # noqa: B023
        hidden = _hidden(text10, terms)
        found = len(matcher.scan(hidden))
        _side_by_side(f"10 MB, 20 evasive keywords ({found} found; raw: daachorse)",
                      lambda: daa.find(hidden.encode()),  # noqa: B023
                      lambda: matcher.scan(hidden), len(hidden.encode()))  # noqa: B023
        print(f"automaton build, {n:,} keywords (s):")
        line("raw daachorse build", daa_build, daa_build, "s")
        line("raw ahocorasick-rs build", raw_build, daa_build, "s")
        line("ours (normalise, prefixes, automaton)", our_build, daa_build, "s")

    library = KeywordLibrary.synthetic(20_000)
    matcher = library.matcher()
    text1 = text10[:200_000]
    chunks = [text1[i:i + 20] for i in range(0, len(text1), 20)]
    raw20 = ahocorasick_rs.AhoCorasick([k.term for k in library.entries], matchkind=ll)
    base = _median(lambda: [raw20.find_matches_as_indexes(c) for c in chunks]) / len(chunks) * 1e6
    scanner = StreamScanner(matcher)
    per_chunk = _median(lambda: [scanner.feed(c) for c in chunks], 3) / len(chunks) * 1e6
    print("stream (20-character chunks, 20,000 keywords):")
    line("raw automaton per chunk (µs)", base, base, "µs")
    line("StreamScanner.feed per chunk (µs)", per_chunk, base, "µs")
    line("added latency per chunk (µs)", per_chunk - base, base, "µs")


def swaps() -> None:
    """Check latency on another thread during hot swaps."""
    from genai_compliance.moderation import _automaton

    library = KeywordLibrary.synthetic(20_000)
    big = KeywordLibrary.synthetic(100_000, seed=1)
    moderation = Moderation(library)
    before = dict(_automaton.built_aside)
    idle, during = _swap_latency(moderation, big, "full swap to 100,000 keywords")
    aside = {k: v - before[k] for k, v in _automaton.built_aside.items()}
    weekly = KeywordLibrary([*big.entries[100:],
                             *KeywordLibrary.synthetic(200, seed=9).entries])
    _swap_latency(Moderation(big), weekly,
                  "weekly update of 100,000 keywords (100 removed, 200 added; incremental)")
    print(f"full swap to 100,000 keywords: worst stall of a concurrent check beside idle (µs; "
          f"automata built in their own process {aside['process']}, here {aside['here']}, "
          f"fallback {aside['fallback']}):")
    base = _q(idle, 0.5)
    line("idle check latency, p50", base, base, "µs")
    line("idle check latency, max", _q(idle, 1.0), base, "µs")
    line("check during the full swap, p50", _q(during, 0.5), base, "µs")
    line("check during the full swap, max (the worst stall)", _q(during, 1.0), base, "µs")


def _swap_latency(moderation: Moderation, new: KeywordLibrary, label: str
                  ) -> tuple[list[float], list[float]]:
    """Check latency on another thread while ``moderation`` swaps to ``new``: the sorted
    latencies idle and during the swap (seconds)."""
    probe_text = "请帮我写一封求职信, please summarise this article about renewable energy."

    def probe(seconds: float, until: threading.Event | None = None) -> list[float]:
        """Latency of a check due every 0.2 ms, from when it was due (waiting for the GIL
        included) to its answer; for ``seconds``, or until ``until`` is set."""
        out: list[float] = []
        end = time.perf_counter() + seconds
        while (not until.is_set()) if until is not None else time.perf_counter() < end:
            due = time.perf_counter() + 0.0002
            time.sleep(0.0002)
            moderation.check(probe_text)
            out.append(time.perf_counter() - due)
        return out

    idle = probe(0.5)
    during: list[float] = []
    swapped = threading.Event()
    worker = threading.Thread(target=lambda: during.extend(probe(0.0, swapped)))
    worker.start()
    time.sleep(0.05)
    start = time.perf_counter()
    moderation.reload_in_background(new).result()
    swap = time.perf_counter() - start
    swapped.set()
    worker.join()
    from genai_compliance.moderation import _pacing

    _pacing.wait_for_releases()
    idle = sorted(idle + probe(swap))  # idle as long as the swap ran: comparable maxima
    during.sort()
    base = _q(idle, 0.5)
    print(f"{label}, another thread checking (µs per check, from when it was due):")
    for name, q in (("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)):
        line(f"idle check, {name}", _q(idle, q), base, "µs")
        line(f"check during swap, {name}", _q(during, q), base, "µs")
    line(f"swap wall time (s); {len(during)} checks ran", swap, swap, "s")
    return idle, during


def _q(values: list[float], q: float) -> float:
    """Quantile ``q`` of sorted ``values``, in µs."""
    return values[min(len(values) - 1, int(len(values) * q))] * 1e6


if __name__ == "__main__":
    main()
