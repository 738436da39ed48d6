"""Charts drawn on the server as SVG: no script, no font or library fetched at run time.

Every label is escaped; numbers are formatted here. Colours follow one palette so a
series keeps its colour from chart to chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from markupsafe import Markup, escape

PALETTE = ("#2563eb", "#db2777", "#16a34a", "#ea580c", "#7c3aed", "#0891b2", "#ca8a04", "#4b5563")
POSITIVE, NEGATIVE, NEUTRAL = "#16a34a", "#dc2626", "#6b7280"


def fmt_number(value, places: int = 0) -> str:
    if value is None:
        return "–"
    value = float(value)
    for unit, size in (("bn", 1e9), ("m", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:,.{places}f}"


def fmt_percent(value) -> str:
    return "–" if value is None else f"{float(value) * 100:.1f}%"


def _empty(width: int, height: int, text: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(text)}">'
        f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="muted">{escape(text)}</text></svg>'
    )


def bars(
    items: Sequence[tuple[str, float | Decimal]],
    title: str,
    fmt=fmt_number,
    width: int = 520,
    colour: str = PALETTE[0],
    limit: int = 12,
    other: bool = True,
) -> Markup:
    """Horizontal bars, largest first as given; ``limit`` rows, the rest summed as "other" (or left out)."""
    items = [(str(label), float(value or 0)) for label, value in items]
    if not items:
        return _empty(width, 60, f"{title}: nothing to show")
    if len(items) > limit:
        rest = [("other", sum(v for _, v in items[limit - 1 :]))] if other else []
        items = items[: limit - (1 if other else 0)] + rest
    row, label_w, pad = 24, 170, 8
    height = row * len(items) + 2 * pad
    top = max(max(v for _, v in items), 0) or 1
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">']
    span = width - label_w - 80
    for i, (label, value) in enumerate(items):
        y = pad + i * row
        w = max(0.0, value) / top * span
        short = label if len(label) <= 26 else label[:25] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" class="label"><title>{escape(label)}</title>'
            f"{escape(short)}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" rx="3" fill="{colour}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" class="value">{escape(fmt(value))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(
    items: Sequence[tuple[str, float]],
    title: str,
    fmt=fmt_number,
    width: int = 520,
    height: int = 200,
    colours: Sequence[str] | None = None,
) -> Markup:
    """Vertical columns in the order given (ageing buckets, days)."""
    items = [(str(label), float(value or 0)) for label, value in items]
    if not items or not any(v for _, v in items):
        return _empty(width, 80, f"{title}: nothing to show")
    pad_b, pad_t = 36, 18
    top = max(v for _, v in items) or 1
    slot = (width - 20) / len(items)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">']
    for i, (label, value) in enumerate(items):
        h = value / top * (height - pad_b - pad_t)
        x = 10 + i * slot + slot * 0.15
        colour = (colours or PALETTE)[i % len(colours or PALETTE)] if colours else PALETTE[0]
        parts.append(
            f'<rect x="{x:.1f}" y="{height - pad_b - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" rx="3" '
            f'fill="{colour}"><title>{escape(label)}: {escape(fmt(value))}</title></rect>'
            f'<text x="{x + slot * 0.35:.1f}" y="{height - pad_b - h - 4:.1f}" text-anchor="middle" class="value">'
            f"{escape(fmt(value))}</text>"
            f'<text x="{x + slot * 0.35:.1f}" y="{height - pad_b + 16}" text-anchor="middle" class="label">'
            f"{escape(label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def lines(
    series: dict[str, Sequence[tuple[datetime | date, float | None]]],
    title: str,
    fmt=fmt_percent,
    width: int = 640,
    height: int = 220,
    y_min: float | None = None,
    y_max: float | None = None,
) -> Markup:
    """One line per series over time, with points; a single point is drawn as a dot."""
    points = [(t, v) for s in series.values() for t, v in s if v is not None]
    if not points:
        return _empty(width, 80, f"{title}: no history yet (one point per publication)")
    legend_rows = -(-len(series) // 3)
    height += 14 * max(0, legend_rows - 1)
    pad_l, pad_r, pad_t, pad_b = 52, 12, 12, 30 + 14 * legend_rows
    times = [_epoch(t) for t, _ in points]
    t0, t1 = min(times), max(times)
    values = [float(v) for _, v in points]
    lo = min(values) if y_min is None else y_min
    hi = max(values) if y_max is None else y_max
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5 if y_min is None else lo, hi + 0.5 if y_max is None else hi + 1
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b

    def xy(t, v) -> tuple[float, float]:
        x = pad_l + (0.5 if t1 == t0 else (_epoch(t) - t0) / (t1 - t0)) * inner_w
        return x, pad_t + (1 - (float(v) - lo) / (hi - lo)) * inner_h

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">']
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        y = pad_t + (1 - k / 4) * inner_h
        parts.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end" class="label">{escape(fmt(v))}</text>'
        )
    for i, (name, s) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        pts = [xy(t, v) for t, v in s if v is not None]
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for (t, v), (x, y) in zip([p for p in s if p[1] is not None], pts, strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)} {escape(str(t)[:16])}: {escape(fmt(v))}</title></circle>"
            )
        lx = pad_l + (i % 3) * (inner_w / 3)
        ly = height - pad_b + 30 + (i // 3) * 14
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14:.1f}" y="{ly}" class="label">{escape(name)}</text>'
        )
    parts.append(
        f'<text x="{pad_l}" y="{height - pad_b + 14}" class="label">{escape(str(_first(points))[:10])}</text>'
        f'<text x="{width - pad_r}" y="{height - pad_b + 14}" text-anchor="end" class="label">'
        f"{escape(str(_last(points))[:10])}</text></svg>"
    )
    return Markup("".join(parts))


def waterfall(prior: float, components: Sequence[tuple[str, str, float]], title: str, width: int = 560) -> Markup:
    """Splink-style: the prior, then each field's weight moving the running total, then the final weight."""
    steps = [("prior", "", float(prior))] + [(f, lvl, float(w)) for f, lvl, w in components]
    total = sum(w for _, _, w in steps)
    rows = steps + [("match weight", "", total)]
    running, spans = 0.0, []
    for i, (_, _, w) in enumerate(rows):
        if i == len(rows) - 1:
            spans.append((0.0, total))
        else:
            spans.append((running, running + w))
            running += w
    lo = min(min(a, b) for a, b in spans + [(0, 0)])
    hi = max(max(a, b) for a, b in spans + [(0, 0)])
    if hi - lo < 1e-9:
        hi = lo + 1
    row, label_w, pad = 22, 210, 8
    height = row * len(rows) + 2 * pad + 14
    span = width - label_w - 70

    def x(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * span

    parts = [f'<svg class="chart waterfall" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">']
    parts.append(f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{pad}" y2="{height - 14}" class="axis"/>')
    for i, ((field, level, w), (a, b)) in enumerate(zip(rows, spans, strict=True)):
        y = pad + i * row
        colour = NEUTRAL if i in (0, len(rows) - 1) else (POSITIVE if w >= 0 else NEGATIVE)
        label = f"{field} = {level}" if level else field
        short = label if len(label) <= 32 else label[:31] + "…"
        left, right = sorted((a, b))
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" class="label"><title>{escape(label)}</title>'
            f"{escape(short)}</text>"
            f'<rect x="{x(left):.1f}" y="{y + 3}" width="{max(1.0, x(right) - x(left)):.1f}" height="{row - 6}" '
            f'rx="2" fill="{colour}"/>'
            f'<text x="{x(right) + 4:.1f}" y="{y + 15}" class="value">{w:+.2f}</text>'
        )
    parts.append(f'<text x="{x(0):.1f}" y="{height - 2}" text-anchor="middle" class="label">0 (even odds)</text></svg>')
    return Markup("".join(parts))


def _epoch(t) -> float:
    if isinstance(t, datetime):
        return t.timestamp()
    if isinstance(t, date):
        return datetime(t.year, t.month, t.day).timestamp()
    return datetime.fromisoformat(str(t)).timestamp()


def _first(points):
    return min(points, key=lambda p: _epoch(p[0]))[0]


def _last(points):
    return max(points, key=lambda p: _epoch(p[0]))[0]
