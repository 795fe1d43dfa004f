"""Tiny inline-SVG charts for the self-contained HTML report (no scripts, no CDN)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

__all__ = ["PALETTE", "bar_chart", "stacked_bars"]

PALETTE = ("#2f6fdf", "#e0533d", "#f2a33a", "#3aa55d", "#8c5bd6", "#19a3b5", "#d64f9a",
           "#7a7a7a", "#b5a02b", "#4d4d9e")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def stacked_bars(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    width: int = 720,
    height: int = 260,
    colors: Mapping[str, str] | None = None,
) -> str:
    """A stacked bar chart: one bar per category, one colour per series, with a legend."""
    pad_l, pad_r, pad_t, pad_b = 48, 12, 28, 56
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b
    totals = [sum(series[s][i] for s in series) for i in range(len(categories))]
    top = max(totals, default=0) or 1
    n = max(len(categories), 1)
    slot = inner_w / n
    bar_w = max(2.0, slot * 0.7)
    palette = dict(colors or {})
    for i, name in enumerate(series):
        palette.setdefault(name, PALETTE[i % len(PALETTE)])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'aria-label="{_esc(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">',
             f'<text x="{pad_l}" y="18" class="chart-title">{_esc(title)}</text>',
             f'<line x1="{pad_l}" y1="{pad_t + inner_h}" x2="{width - pad_r}" '
             f'y2="{pad_t + inner_h}" stroke="#999"/>',
             f'<text x="{pad_l - 6}" y="{pad_t + 4}" text-anchor="end" class="tick">'
             f'{_esc(_fmt(top))}</text>',
             f'<text x="{pad_l - 6}" y="{pad_t + inner_h}" text-anchor="end" class="tick">0</text>']
    for i, cat in enumerate(categories):
        x = pad_l + i * slot + (slot - bar_w) / 2
        y: float = pad_t + inner_h
        for name, values in series.items():
            v = values[i]
            if v <= 0:
                continue
            h = inner_h * v / top
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                         f'fill="{palette[name]}"><title>{_esc(cat)} · {_esc(name)}: '
                         f'{_esc(_fmt(v))}</title></rect>')
        if n <= 16 or i % max(1, n // 12) == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{pad_t + inner_h + 14}" '
                         f'text-anchor="middle" class="tick">{_esc(cat)}</text>')
    lx = pad_l
    for name in series:
        parts.append(f'<rect x="{lx}" y="{height - 18}" width="10" height="10" '
                     f'fill="{palette[name]}"/>')
        parts.append(f'<text x="{lx + 14}" y="{height - 9}" class="legend">{_esc(name)}</text>')
        lx += 14 + 8 * len(str(name)) + 18
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, values: Mapping[str, float], *, limit: float | None = None,
              width: int = 720, color: str = PALETTE[0],
              unit: str = "") -> str:
    """Horizontal bars (one per key); an optional dashed limit line."""
    rows = list(values.items())
    pad_l, pad_r, pad_t = 170, 60, 28
    row_h = 22
    height = pad_t + row_h * max(len(rows), 1) + 12
    inner_w = width - pad_l - pad_r
    top = max([v for _, v in rows] + ([limit] if limit else []) + [1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'aria-label="{_esc(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">',
             f'<text x="8" y="18" class="chart-title">{_esc(title)}</text>']
    for i, (name, v) in enumerate(rows):
        y = pad_t + i * row_h
        w = inner_w * v / top
        fill = PALETTE[1] if limit is not None and v > limit else color
        parts.append(f'<text x="{pad_l - 6}" y="{y + 14}" text-anchor="end" class="tick">'
                     f'{_esc(name)}</text>')
        parts.append(f'<rect x="{pad_l}" y="{y + 3}" width="{max(w, 1):.1f}" height="15" '
                     f'fill="{fill}"><title>{_esc(name)}: {_esc(_fmt(v))}{_esc(unit)}</title>'
                     f'</rect>')
        parts.append(f'<text x="{pad_l + w + 4:.1f}" y="{y + 14}" class="tick">'
                     f'{_esc(_fmt(v))}{_esc(unit)}</text>')
    if limit is not None:
        x = pad_l + inner_w * limit / top
        parts.append(f'<line x1="{x:.1f}" y1="{pad_t - 4}" x2="{x:.1f}" '
                     f'y2="{pad_t + row_h * len(rows)}" stroke="#e0533d" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x + 3:.1f}" y="{pad_t - 6}" class="tick">limit '
                     f'{_esc(_fmt(limit))}{_esc(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"
