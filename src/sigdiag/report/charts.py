"""Small inline SVG charts for the HTML report: a line chart over time, a bar chart, share bars.

Each function returns one ``<svg>`` element (a string) that scales with its container (``viewBox``,
``width="100%"``; inline in HTML, so without a namespace declaration), names itself with a ``<title>``
and ``<desc>`` (``role="img"``, ``aria-labelledby``; ``cid`` makes their ids, unique in a page), and
draws with nothing outside itself (no font, no script, no link).  Every label is escaped here
(:func:`html.escape` with quotes): labels come from captures and user files (trunk names, causes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

__all__ = ["PALETTE", "bar_chart", "line_chart", "share_bars"]

#: Series colours (distinguishable for the common colour-vision deficiencies: Okabe-Ito).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442")


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _head(title: str, desc: str, width: int, height: int, cid: str) -> str:
    """The opening of a chart with its title and description (ids ``cid-t`` and ``cid-d``)."""
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" aria-labelledby="{cid}-t {cid}-d">'
        f'<title id="{cid}-t">{_e(title)}</title><desc id="{cid}-d">{_e(desc)}</desc>'
    )


def _pct(v: float) -> str:
    return f"{v * 100:.1f} %"


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    y_max: float = 1.0,
    y_text: Callable[[float], str] = _pct,
    width: int = 720,
    height: int = 260,
    cid: str = "line",
) -> str:
    """Lines over ``x_labels`` (time buckets), one per ``(name, values)`` series (None: no value in that
    bucket, the line breaks); y from 0 to ``y_max``; a point for every value (one bucket still shows)."""
    left, right, top, bottom = 100, 16, 12, 92
    legend_h = 18 * ((len(series) + 2) // 3)
    height += legend_h
    head = _head(title, _line_desc(x_labels, series, y_text), width, height, cid)
    pw, ph = width - left - right, height - top - bottom - legend_h
    n = max(len(x_labels), 1)
    y_max = y_max if y_max > 0 else 1.0

    def x(i: int) -> float:
        return left + (pw * (i + 0.5) / n)

    def y(v: float) -> float:
        return top + ph - ph * min(max(v / y_max, 0.0), 1.0)

    out = [head, '<g class="axes" font-size="11" fill="#333">']
    for k in range(5):
        tick = y_max * k / 4
        yy = y(tick)
        out.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{_e(y_text(tick))}</text>'
        )
    step = max(1, (n + 7) // 8)
    for i, label in enumerate(x_labels):
        if i % step == 0:
            out.append(
                f'<text x="{x(i):.1f}" y="{top + ph + 14}" text-anchor="end" '
                f'transform="rotate(-30 {x(i):.1f} {top + ph + 14})">{_e(label)}</text>'
            )
    out.append("</g>")
    for s, (name, values) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        out.append(f'<g class="series" stroke="{colour}" fill="{colour}"><title>{_e(name)}</title>')
        path: list[str] = []
        for i, v in enumerate(values):
            if v is None:
                path.append("")
                continue
            path.append(f"{x(i):.1f},{y(v):.1f}")
            out.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3">'
                f"<title>{_e(name)} {_e(x_labels[i])}: {_e(y_text(v))}</title></circle>"
            )
        for run in " ".join(path).split("  "):
            pts = run.split()
            if len(pts) > 1:
                out.append(f'<polyline fill="none" stroke-width="2" points="{" ".join(pts)}"/>')
        out.append("</g>")
    out.append(_legend([name for name, _ in series], left, height - legend_h - 4, width - left))
    out.append("</svg>")
    return "".join(out)


def _line_desc(
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    y_text: Callable[[float], str],
) -> str:
    """The chart in words (its description for screen readers): each series' values by bucket."""
    parts = []
    for name, values in series:
        pts = ", ".join(f"{x} {y_text(v)}" for x, v in zip(x_labels, values, strict=False) if v is not None)
        parts.append(f"{name}: {pts or 'no value'}")
    return "; ".join(parts)


def _legend(names: Sequence[str], left: int, top: int, width: int) -> str:
    out = ['<g class="legend" font-size="12" fill="#222">']
    col = width // 3
    for i, name in enumerate(names):
        xx, yy = left + (i % 3) * col, top + 18 * (i // 3)
        colour = PALETTE[i % len(PALETTE)]
        label = name if len(name) <= 40 else name[:39] + "…"
        out.append(
            f'<rect x="{xx}" y="{yy}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{xx + 16}" y="{yy + 10}">{_e(label)}</text>'
        )
    out.append("</g>")
    return "".join(out)


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float]],
    *,
    value_text: Callable[[float], str] = lambda v: f"{v:g}",
    width: int = 720,
    cid: str = "bars",
) -> str:
    """Horizontal bars, one per ``(label, value)``, longest to scale, each with its label and value."""
    row, top, label_w = 24, 8, 300
    height = top * 2 + row * max(len(bars), 1)
    desc = "; ".join(f"{label}: {value_text(v)}" for label, v in bars) or "no data"
    head = _head(title, desc, width, height, cid)
    out = [head, '<g font-size="12" fill="#222">']
    vmax = max((v for _, v in bars), default=0) or 1
    bar_w = width - label_w - 80
    for i, (label, v) in enumerate(bars):
        yy = top + i * row
        w = bar_w * v / vmax
        text = label if len(label) <= 48 else label[:47] + "…"
        out.append(
            f'<g class="bar"><title>{_e(label)}: {_e(value_text(v))}</title>'
            f'<text x="{label_w - 8}" y="{yy + 16}" text-anchor="end">{_e(text)}</text>'
            f'<rect x="{label_w}" y="{yy + 4}" width="{max(w, 1):.1f}" height="16" fill="{PALETTE[0]}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{yy + 16}">{_e(value_text(v))}</text></g>'
        )
    if not bars:
        out.append(f'<text x="8" y="{top + 16}">no data</text>')
    out.append("</g></svg>")
    return "".join(out)


def share_bars(
    title: str, counts: Sequence[tuple[str, int]], *, width: int = 720, cid: str = "shares"
) -> str:
    """One bar split into the shares of ``counts`` (e.g. calls by outcome), with a legend giving each
    part's count and percentage."""
    total = sum(n for _, n in counts)
    items = [(label, n) for label, n in counts if n > 0]
    legend_rows = (len(items) + 2) // 3
    height = 48 + 18 * max(legend_rows, 1)
    desc = "; ".join(f"{label}: {n} ({_pct(n / total)})" for label, n in items) if total else "no data"
    head = _head(title, desc, width, height, cid)
    out = [head]
    xx, bar_w = 8.0, width - 16
    for i, (label, n) in enumerate(items):
        w = bar_w * n / total
        out.append(
            f'<rect x="{xx:.1f}" y="8" width="{w:.1f}" height="24" fill="{PALETTE[i % len(PALETTE)]}">'
            f"<title>{_e(label)}: {n} ({_e(_pct(n / total))})</title></rect>"
        )
        xx += w
    if not items:
        out.append('<text x="8" y="24" font-size="12">no data</text>')
    names = [f"{label} {n} ({_pct(n / total)})" for label, n in items]
    out.append(_legend(names, 8, 42, width - 8))
    out.append("</svg>")
    return "".join(out)
