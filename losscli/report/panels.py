"""The one-page report laid out as a :class:`~losscli.report.scene.Scene`.

Four panels (error histogram, worst groups against the threshold, prediction-vs-target
density, calibration curve) and the result table, drawn from the computed chart states. Plain
arithmetic on at most a few thousand numbers: no plotting library, so a report costs
milliseconds. A panel without data says why (no ``--group-by``, not a probability loss, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from losscli.report.charts import display_bins, number, worst_groups
from losscli.report.sanitize import visible
from losscli.report.scene import Circle, Line, Polyline, Rect, Scene, Shape, Text

if TYPE_CHECKING:
    from losscli.report.image import ReportData

WIDTH = 1200
PANEL_W, PANEL_H = 560, 400
LEFT, GAP = 25, 30  # page margin; space between panels
BLUE, RED, GREEN, ORANGE, GREY = "#4c72b0", "#c44e52", "#55a868", "#dd8452", "#666666"
FRAME, LIGHT = "#444444", "#dddddd"
HIST_BARS = 40  # at most this many histogram bars (exact merges of neighbouring bins)
TOP_GROUPS = 20
TABLE_ROWS = 60  # result rows drawn in the picture (the HTML table holds more)
ROW_H = 22
CHAR_W = 7.0  # average width of a 12 px character, for the table's column widths
#: viridis (matplotlib's default colour map) at 0, 0.1, ..., 1
VIRIDIS = (
    (68, 1, 84),
    (72, 36, 117),
    (65, 68, 135),
    (53, 95, 141),
    (42, 120, 142),
    (33, 145, 140),
    (34, 168, 132),
    (68, 191, 112),
    (122, 209, 81),
    (189, 223, 38),
    (253, 231, 37),
)


class Box(NamedTuple):
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h


Transform = Callable[[float], float]


def scale(d0: float, d1: float, r0: float, r1: float, f: Transform = float) -> Transform:
    """Map ``f(d0)..f(d1)`` linearly onto ``r0..r1`` (pixels)."""
    a, b = f(d0), f(d1)
    k = (r1 - r0) / (b - a) if b != a else 0.0
    return lambda v: r0 + (f(v) - a) * k


def symlog(linthresh: float, linscale: float = 0.4) -> Transform:
    """matplotlib's ``symlog``: linear within ``±linthresh``, logarithmic (by decades)
    outside; fits errors from 1e-9 to 1e15 on one axis with zero in the middle."""

    def f(v: float) -> float:
        a = abs(v) / linthresh
        out = linscale * a if a <= 1 else linscale + math.log10(a)
        return math.copysign(out, v)

    return f


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 × 10^k steps) covering ``[lo, hi]``: the first at or
    below ``lo``, the last at or above ``hi``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def viridis(t: float) -> str:
    """The colour at ``t`` in [0, 1] as ``#rrggbb``."""
    t = min(1.0, max(0.0, t)) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    f = t - i
    (r0, g0, b0), (r1, g1, b1) = VIRIDIS[i], VIRIDIS[i + 1]
    # one call per density cell: plain arithmetic, no generator (~4x faster)
    return f"#{round(r0 + (r1 - r0) * f):02x}{round(g0 + (g1 - g0) * f):02x}{round(b0 + (b1 - b0) * f):02x}"


def short(text: object, limit: int) -> str:
    clean = visible(text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _tick_text(v: float) -> str:
    return number(v) if abs(v) < 1e5 and (v == 0 or abs(v) >= 1e-3) else f"{v:.0e}"


# -- frames and axes ----------------------------------------------------------------------------
def _frame(out: list[Shape], panel: Box, title: str, plot: Box) -> None:
    out.append(Text(panel.x + panel.w / 2, panel.y + 16, title, size=14, anchor="middle"))
    out.append(Rect(plot.x, plot.y, plot.w, plot.h, fill="none", stroke=FRAME))


def _x_ticks(out: list[Shape], plot: Box, ticks: Sequence[float], x: Transform) -> None:
    for v in ticks:
        px = x(v)
        if plot.x - 0.5 <= px <= plot.right + 0.5:
            out.append(Line(px, plot.bottom, px, plot.bottom + 5, FRAME))
            out.append(Text(px, plot.bottom + 18, _tick_text(v), size=11, anchor="middle"))


def _y_ticks(out: list[Shape], plot: Box, ticks: Sequence[float], y: Transform) -> None:
    for v in ticks:
        py = y(v)
        if plot.y - 0.5 <= py <= plot.bottom + 0.5:
            out.append(Line(plot.x - 5, py, plot.x, py, FRAME))
            out.append(Text(plot.x - 8, py + 4, _tick_text(v), size=11, anchor="end"))


def _labels(out: list[Shape], plot: Box, xlabel: str, ylabel: str) -> None:
    out.append(Text(plot.x + plot.w / 2, plot.bottom + 36, xlabel, size=12, anchor="middle"))
    if ylabel:
        out.append(Text(plot.x - 8, plot.y - 12, ylabel, size=12, anchor="end"))


def _missing(out: list[Shape], panel: Box, title: str, why: str) -> None:
    plot = Box(panel.x + 10, panel.y + 30, panel.w - 20, panel.h - 40)
    _frame(out, panel, title, plot)
    out.append(Text(plot.x + plot.w / 2, plot.y + plot.h / 2, why, anchor="middle", fill=GREY))


# -- panels -------------------------------------------------------------------------------------
def histogram_panel(out: list[Shape], panel: Box, data: ReportData) -> None:
    """Bars of the error histogram (at most :data:`HIST_BARS`; exact merges of bins), on a
    symmetric log axis for the default bins, a linear one for ``--bins``."""
    title = (
        "error histogram (prediction − target)"
        if data.subject == "error"
        else "histogram of the per-element loss values"
    )
    result = data.histogram
    if result is None or int(result.counts.sum()) == 0:
        _missing(out, panel, title, "no errors to show")
        return
    edges, counts = display_bins(result, HIST_BARS)
    plot = Box(panel.x + 60, panel.y + 44, panel.w - 80, panel.h - 94)
    symmetric = result.edges.size % 2 == 0 and np.array_equal(result.edges, -result.edges[::-1])
    lo, hi = float(edges[0]), float(edges[-1])
    if symmetric:
        inner = float(np.min(np.abs(edges[edges != 0]))) if np.any(edges != 0) else 1.0
        f = symlog(inner)
        x = scale(lo, hi, plot.x, plot.right, f)
        low = math.floor(math.log10(inner)) + 1
        high = math.ceil(math.log10(max(abs(lo), abs(hi))))
        step = max(1, (high - low + 1) // 4)
        powers = [10.0**k for k in range(low, high + 1, step)]
        xticks = [-p for p in reversed(powers)] + [0.0] + powers
    else:
        x = scale(lo, hi, plot.x, plot.right)
        xticks = nice_ticks(lo, hi)
    yticks = nice_ticks(0.0, float(counts.max()))
    y = scale(0.0, yticks[-1], plot.bottom, plot.y)
    _frame(out, panel, title, plot)
    for a, b, c in zip(edges[:-1].tolist(), edges[1:].tolist(), counts.tolist(), strict=True):
        x0, x1, top = x(a), x(b), y(c)
        last = b == hi
        out.append(
            Rect(
                x0,
                top,
                max(x1 - x0, 0.5),
                plot.bottom - top,
                fill=BLUE,
                kind="bar",
                data=(("lo", repr(a)), ("hi", repr(b)), ("count", str(c))),
                tip=f"[{number(a)}, {number(b)}{']' if last else ')'}: {c} rows",
            )
        )
    if lo < 0 < hi:
        out.append(Line(x(0.0), plot.y, x(0.0), plot.bottom, "#333333", 0.8))
    _x_ticks(out, plot, xticks, x)
    _y_ticks(out, plot, yticks, y)
    _labels(out, plot, "prediction − target" if data.subject == "error" else "loss", "rows")
    notes = [
        f"{name} {n}"
        for name, n in (
            ("below", result.underflow),
            ("above", result.overflow),
            ("NaN", result.nan),
        )
        if n
    ]
    if notes:
        out.append(Text(plot.right - 4, plot.y + 14, ", ".join(notes), 11, "end", fill=GREY))


def groups_panel(out: list[Shape], panel: Box, data: ReportData) -> None:
    """The worst groups first as horizontal bars, red where they break the gate, with the
    threshold as a dashed line."""
    title = f"{short(data.metric, 30)} by group (worst first)"
    if not data.groups:
        _missing(out, panel, title, "no --group-by")
        return
    shown, hidden = worst_groups(data.groups, data.higher_is_better, TOP_GROUPS)
    if hidden:
        title += f", {hidden} more not shown"
    plot = Box(panel.x + 170, panel.y + 44, panel.w - 190, panel.h - 94)
    values = [g.value for g in shown if math.isfinite(g.value)]
    threshold = data.threshold
    if threshold is not None and not math.isfinite(threshold):
        threshold = None  # --max inf: nothing to draw
    ends = [0.0, *values] + ([threshold] if threshold is not None else [])
    ticks = nice_ticks(min(ends), max(ends))
    x = scale(ticks[0], ticks[-1], plot.x, plot.right)
    _frame(out, panel, title, plot)
    slot = plot.h / len(shown)
    base = x(0.0)
    for i, g in enumerate(shown):
        mid = plot.y + (i + 0.5) * slot
        out.append(Text(plot.x - 8, mid + 4, short(g.label, 22), size=11, anchor="end"))
        if not math.isfinite(g.value):
            out.append(Text(base + 4, mid + 4, number(g.value), size=11, fill=RED))
            continue
        bad = data.threshold is not None and (
            g.value < data.threshold if data.gate == "min" else g.value > data.threshold
        )
        end = x(g.value)
        out.append(
            Rect(
                min(base, end),
                mid - slot * 0.4,
                abs(end - base),
                slot * 0.8,
                fill=RED if bad else GREEN,
                kind="group-bar",
                data=(("value", repr(g.value)),),
                tip=f"{visible(g.label)}: {number(g.value)}",
            )
        )
    if threshold is not None:
        tx = x(threshold)
        out.append(Line(tx, plot.y, tx, plot.bottom, ORANGE, 1.5, dash=6, kind="threshold"))
        name = f"{data.gate or 'threshold'} {number(threshold)}"
        out.append(Text(plot.right - 4, plot.bottom - 8, name, 11, "end", fill=ORANGE))
    _x_ticks(out, plot, ticks, x)
    _labels(out, plot, short(data.metric, 40), "")


def density_panel(out: list[Shape], panel: Box, data: ReportData) -> None:
    """Rows per (target, prediction) cell, colour on a log scale, with the diagonal."""
    title = "prediction vs target (rows per cell)"
    if data.density is None or data.density[1].size == 0:
        _missing(out, panel, title, "no prediction/target pairs")
        return
    edges, counts = data.density
    side = min(panel.h - 94, panel.w - 160)
    plot = Box(panel.x + 70, panel.y + 44, side, side)
    lo, hi = float(edges[0]), float(edges[-1])
    x = scale(lo, hi, plot.x, plot.right)
    y = scale(lo, hi, plot.bottom, plot.y)
    peak = int(counts.max())
    top = math.log(peak) if peak > 1 else 1.0
    _frame(out, panel, title, plot)
    cell = edges.tolist()
    for i, j in zip(*np.nonzero(counts), strict=True):  # i: target cell, j: prediction cell
        c = int(counts[i, j])
        x0, x1, y0, y1 = x(cell[i]), x(cell[i + 1]), y(cell[j + 1]), y(cell[j])
        out.append(
            Rect(
                x0,
                y0,
                x1 - x0,
                y1 - y0,
                fill=viridis(math.log(c) / top),
                kind="cell",
                data=(("count", str(c)),),
            )
        )
    out.append(Line(plot.x, plot.bottom, plot.right, plot.y, RED, 1.0, kind="diagonal"))
    out.append(Text(plot.right, plot.y - 6, "— prediction = target", 11, "end", fill=RED))
    ticks = [t for t in nice_ticks(lo, hi) if lo <= t <= hi]
    _x_ticks(out, plot, ticks, x)
    _y_ticks(out, plot, ticks, y)
    _labels(out, plot, "target", "prediction")
    # colour bar: 1 … the fullest cell, log scale
    bar = Box(plot.right + 30, plot.y, 14, plot.h)
    steps = 32
    for k in range(steps):
        out.append(
            Rect(
                bar.x,
                bar.bottom - (k + 1) * bar.h / steps,
                bar.w,
                bar.h / steps + 0.5,
                fill=viridis((k + 0.5) / steps),
            )
        )
    out.append(Rect(bar.x, bar.y, bar.w, bar.h, fill="none", stroke=FRAME))
    out.append(Text(bar.right + 4, bar.bottom, "1", size=11))
    out.append(Text(bar.right + 4, bar.y + 10, str(peak), size=11))
    out.append(Text(bar.x, bar.y - 6, "rows", size=11))


def calibration_panel(out: list[Shape], panel: Box, data: ReportData) -> None:
    """Mean predicted probability against observed frequency per bin, the diagonal, and the
    share of rows per bin as light bars."""
    cal = data.calibration
    if cal is None or int(cal.counts.sum()) == 0:
        _missing(
            out, panel, "calibration", "for probability losses (binary_cross_entropy, ece, ...)"
        )
        return
    title = f"calibration ({cal.edges.size - 1} bins, ECE {number(cal.ece)})"
    side = min(panel.h - 94, panel.w - 100)
    plot = Box(panel.x + (panel.w - side) / 2, panel.y + 44, side, side)
    x = scale(0.0, 1.0, plot.x, plot.right)
    y = scale(0.0, 1.0, plot.bottom, plot.y)
    _frame(out, panel, title, plot)
    total = int(cal.counts.sum())
    for a, b, n in zip(
        cal.edges[:-1].tolist(), cal.edges[1:].tolist(), cal.counts.tolist(), strict=True
    ):
        share = n / total
        out.append(
            Rect(
                x(a) + 1,
                y(share),
                x(b) - x(a) - 2,
                plot.bottom - y(share),
                fill="#e4e4e4",
                kind="share",
                data=(("rows", str(n)),),
            )
        )
    out.append(Line(x(0), y(0), x(1), y(1), "#888888", 1.0, dash=3, kind="perfect"))
    used = cal.counts > 0
    points = tuple(
        (x(p), y(o))
        for p, o in zip(cal.mean_predicted[used].tolist(), cal.observed[used].tolist(), strict=True)
    )
    if len(points) > 1:
        out.append(Polyline(points, BLUE, 1.8, kind="model"))
    for (px, py), p, o in zip(points, cal.mean_predicted[used], cal.observed[used], strict=True):
        tip = f"mean predicted {number(float(p))}, observed {number(float(o))}"
        out.append(Circle(px, py, 3.5, BLUE, kind="point", tip=tip))
    ticks = nice_ticks(0.0, 1.0)
    _x_ticks(out, plot, ticks, x)
    _y_ticks(out, plot, ticks, y)
    _labels(out, plot, "mean predicted probability", "observed")
    out.append(
        Text(plot.x + 6, plot.y + 14, "● model   - - perfect   ▮ share of rows", 11, fill=GREY)
    )


def table_shapes(
    out: list[Shape], top: float, header: Sequence[str], rows: Sequence[Sequence[str]]
) -> float:
    """The result table as text in columns (right-aligned); returns its bottom."""
    rows = list(rows)
    shown = rows[:TABLE_ROWS]
    cells = [list(header), *shown]
    available = (WIDTH - 2 * LEFT) / CHAR_W - 3 * len(header)
    widths = [max(len(visible(r[k])) for r in cells) for k in range(len(header))]
    while sum(widths) > available and max(widths) > 6:
        widths[widths.index(max(widths))] -= 1
    x = float(LEFT)
    rights = []
    for w in widths:
        x += (w + 3) * CHAR_W
        rights.append(x)
    y = top
    out.append(Line(LEFT, y - 16, rights[-1] + 4, y - 16, FRAME))
    for n, row in enumerate(cells):
        for k, text in enumerate(row):
            out.append(Text(rights[k], y, short(text, widths[k]), 12, "end", bold=n == 0))
        if n == 0:
            out.append(Line(LEFT, y + 7, rights[-1] + 4, y + 7, FRAME))
        y += ROW_H
    out.append(Line(LEFT, y - 15, rights[-1] + 4, y - 15, FRAME))
    if len(rows) > len(shown):
        note = f"{len(rows) - len(shown)} more rows not drawn (--format json has every value)"
        out.append(Text(LEFT, y + 4, note, 11, fill=GREY))
        y += ROW_H
    return y


def report_scene(data: ReportData, title: bool = True, table: bool = True) -> Scene:
    """The report: title, the four panels, then (``table``) the result table."""
    out: list[Shape] = []
    top = 0.0
    if title:
        heading = data.title + (f" — {data.verdict}" if data.verdict else "")
        out.append(Text(WIDTH / 2, 32, short(heading, 140), size=18, anchor="middle", bold=True))
        top = 50.0
    cols = (LEFT, LEFT + PANEL_W + GAP)
    rows = (top, top + PANEL_H + GAP)
    histogram_panel(out, Box(cols[0], rows[0], PANEL_W, PANEL_H), data)
    groups_panel(out, Box(cols[1], rows[0], PANEL_W, PANEL_H), data)
    density_panel(out, Box(cols[0], rows[1], PANEL_W, PANEL_H), data)
    calibration_panel(out, Box(cols[1], rows[1], PANEL_W, PANEL_H), data)
    bottom = rows[1] + PANEL_H + 10
    if table and data.table_rows:
        bottom = table_shapes(out, bottom + 30, data.table_header, data.table_rows)
    return Scene(WIDTH, math.ceil(bottom + 10), out)
