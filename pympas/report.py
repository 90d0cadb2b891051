"""Self-contained HTML reports: images as inline base64 PNG, charts as inline SVG, no assets.

Used by ``pympas demo`` (and the accuracy benchmark) so a report opens offline from one file.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence

import numpy as np

from pympas.files import encode_png

#: line colours of the chart series, in order
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def png_data_uri(rgb: np.ndarray) -> str:
    """An (H, W, 3) uint8 RGB or (H, W) bool/uint8 image as a ``data:image/png;base64`` URI."""
    return "data:image/png;base64," + base64.b64encode(encode_png(rgb)).decode("ascii")


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def line_chart_svg(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    width: int = 640,
    height: int = 260,
    x_label: str = "step",
    y_label: str = "loss",
) -> str:
    """An inline SVG line chart of ``series`` (name -> values, each len(x)) against ``x``."""
    x = np.asarray(x, float)
    ml, mr, mt, mb = 56, 120, 12, 40
    pw, ph = width - ml - mr, height - mt - mb
    values = [np.asarray(v, float) for v in series.values()]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(0)
    if len(x) == 0 or finite.size == 0:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text></svg>'
        )
    x0, x1 = float(x.min()), float(x.max())
    if x1 == x0:
        x1 = x0 + 1
    y0, y1 = min(0.0, float(finite.min())), float(finite.max())
    if y1 == y0:
        y1 = y0 + 1

    def px(v: float) -> float:
        return ml + (v - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return mt + (1 - (v - y0) / (y1 - y0)) * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
    ]
    for t in _nice_ticks(y0, y1):
        parts.append(
            f'<line x1="{ml}" x2="{ml + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eee"/>'
            f'<text x="{ml - 4}" y="{py(t) + 4:.1f}" text-anchor="end">{t:g}</text>'
        )
    for t in _nice_ticks(x0, x1):
        parts.append(f'<text x="{px(t):.1f}" y="{mt + ph + 14}" text-anchor="middle">{t:g}</text>')
    parts.append(
        f'<text x="{ml + pw / 2}" y="{height - 6}" text-anchor="middle">{html.escape(x_label)}'
        f'</text><text x="12" y="{mt + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {mt + ph / 2})">{html.escape(y_label)}</text>'
    )
    for i, (name, v) in enumerate(zip(series, values, strict=True)):
        colour = PALETTE[i % len(PALETTE)]
        ok = np.isfinite(v)
        pts = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x[ok], v[ok], strict=True))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}"/>')
        ly = mt + 14 + 16 * i
        parts.append(
            f'<line x1="{ml + pw + 10}" x2="{ml + pw + 28}" y1="{ly - 4}" y2="{ly - 4}" '
            f'stroke="{colour}" stroke-width="2"/><text x="{ml + pw + 32}" y="{ly}">'
            f"{html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def html_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table; floats are printed with 4 decimals, NaN as n/a."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return "n/a" if math.isnan(v) else f"{v:.4f}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image_strip(images: Sequence[tuple[str, np.ndarray]], height: int = 200) -> str:
    """A row of captioned images (Fig. 4 style), each shown ``height`` pixels high."""
    cells = "".join(
        f'<figure><img src="{png_data_uri(img)}" height="{height}" alt="{html.escape(cap)}">'
        f"<figcaption>{html.escape(cap)}</figcaption></figure>"
        for cap, img in images
    )
    return f'<div class="strip">{cells}</div>'


STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.strip { display: flex; gap: 6px; flex-wrap: wrap; margin-bottom: 1.5em; }
figure { margin: 0; } figcaption { font-size: 12px; text-align: center; }
.note { color: #555; font-size: 13px; }
"""


def html_page(title: str, body: str) -> str:
    """A complete HTML document with the report style."""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>'
        f"{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )
