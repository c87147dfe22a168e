"""Charts from histogram states: rich renderables for the terminal, Mermaid ``xychart-beta``
blocks for Markdown and GitHub step summaries. Pure functions: data in, renderable or text out.

Data-derived text (group keys) is made safe for each channel: no control character or line
break reaches the terminal, and Mermaid labels carry no quote, backtick, backslash or angle
bracket (each replaced by a look-alike), so a key cannot end the label or the code fence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from losscli.stats.histograms import CalibrationResult, HistogramResult

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from rich.table import Table

    from losscli.engine import LossResult
    from losscli.gates.rules import GateSpec
    from losscli.report.terminal import Environment

    Array = NDArray[Any]
else:
    Array = np.ndarray

BAR_WIDTH = 40
MAX_BINS = 24
TOP_GROUPS = 10
_EIGHTHS = " ▏▎▍▌▋▊▉"


class GroupValue(NamedTuple):
    """One group's label (already joined from its key) and value."""

    label: str
    value: float


# -- numbers and text ----------------------------------------------------------------------------
def number(x: float) -> str:
    """Compact: 4 significant digits, no ``-0``; ``nan``/``inf`` spelled out."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    return f"{x:.4g}"


def terminal_text(text: str) -> str:
    """A data label for the terminal: :func:`losscli.report.sanitize.visible` (line breaks and
    escape sequences shown as ``\\n``, ``\\x1b``); labels go into ``rich.text.Text``, so rich
    markup in the data is not interpreted either."""
    from losscli.report.sanitize import visible

    return visible(text)


_MERMAID_SWAPS = str.maketrans({'"': "'", "`": "'", "\\": "/", "<": "‹", ">": "›", "#": "♯"})


def mermaid_text(text: str, limit: int = 40) -> str:
    """A label safe inside a quoted Mermaid string in a Markdown code fence (see module doc),
    cut to ``limit`` characters."""
    from losscli.report.sanitize import visible

    clean = visible(text).translate(_MERMAID_SWAPS)
    clean = " ".join(clean.split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _mermaid_number(x: float) -> str:
    return repr(float(x)) if math.isfinite(x) else "0"


# -- display bins ----------------------------------------------------------------------------------
def display_bins(result: HistogramResult, max_bins: int = MAX_BINS) -> tuple[Array, Array]:
    """(edges, counts) for a picture with at most ``max_bins`` bars; every count an exact sum.

    Empty bins at both ends are dropped. Default (symmetric) bins are grouped outward from the
    zero bin in powers of two (4 = whole octaves); innermost groups that are empty or hold
    (with the centre) at most 5 % of the values are folded into the centre bin first, so the tails (the outliers) keep
    their resolution. Other bins are merged in equal runs from the left.
    """
    edges, counts = result.edges, result.counts
    nz = np.flatnonzero(counts)
    if nz.size == 0:
        return edges[:2], np.zeros(1, dtype=np.int64)
    symmetric = edges.size % 2 == 0 and np.array_equal(edges, -edges[::-1])
    if not symmetric:
        lo, hi = int(nz[0]), int(nz[-1]) + 1
        edges, counts = edges[lo : hi + 1], counts[lo:hi]
        factor = max(1, -(-counts.size // max_bins))
        if factor == 1:
            return edges, counts
        starts = np.arange(0, counts.size, factor)
        return np.append(edges[starts], edges[-1]), np.add.reduceat(counts, starts)
    zero = counts.size // 2  # the centre bin
    m = zero  # bins per side
    pos, neg = counts[zero + 1 :], counts[:zero][::-1]  # outward from the centre
    pos_edges, neg_edges = edges[zero + 1 :], -edges[: zero + 1][::-1]  # magnitudes, outward
    total = int(counts.sum())
    group = 1
    while True:
        p, n = _outward(pos, group), _outward(neg, group)
        centre, fold = int(counts[zero]), 0
        while 1 + _used(p[fold:]) + _used(n[fold:]) > max_bins:
            extra = (int(p[fold]) if fold < p.size else 0) + (int(n[fold]) if fold < n.size else 0)
            if (extra and centre + extra > 0.05 * total) or fold >= max(p.size, n.size):
                break
            centre += extra
            fold += 1
        used_p, used_n = _used(p[fold:]), _used(n[fold:])
        if 1 + used_p + used_n <= max_bins or group >= m:
            break
        group *= 2
    start = fold * group
    pe = pos_edges[np.minimum(start + group * np.arange(used_p + 1), m)]
    ne = neg_edges[np.minimum(start + group * np.arange(used_n + 1), m)]
    out_edges = np.concatenate([-ne[::-1], pe])
    out_counts = np.concatenate([n[fold : fold + used_n][::-1], [centre], p[fold : fold + used_p]])
    return out_edges, out_counts.astype(np.int64)


def _outward(side: Array, group: int) -> Array:
    if group == 1:
        return side
    pad = (-side.size) % group
    return np.concatenate([side, np.zeros(pad, side.dtype)]).reshape(-1, group).sum(axis=1)


def _used(side: Array) -> int:
    nz = np.flatnonzero(side)
    return int(nz[-1]) + 1 if nz.size else 0


def bin_label(lo: float, hi: float, last: bool = False) -> str:
    return f"[{number(lo)}, {number(hi)}{']' if last else ')'}"


# -- terminal (rich) ---------------------------------------------------------------------------
def _bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``fraction`` × ``width`` cells, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def histogram_table(
    result: HistogramResult, title: str, max_bins: int = MAX_BINS, width: int = BAR_WIDTH
) -> Table:
    """The error histogram as one bar per bin, with counts and shares; underflow, overflow and
    NaN counts as extra rows when non-zero."""
    from rich.table import Table
    from rich.text import Text

    edges, counts = display_bins(result, max_bins)
    total = result.total
    peak = max(1, int(counts.max()) if counts.size else 1)
    table = Table(title=terminal_text(title), box=None, pad_edge=False, title_justify="left")
    table.add_column("error bin", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    extra = [
        ("< " + number(result.edges[0]), result.underflow),
        ("> " + number(result.edges[-1]), result.overflow),
        ("NaN", result.nan),
    ]
    if result.underflow:
        table.add_row(extra[0][0], Text(""), str(result.underflow), _share(result.underflow, total))
    for i, c in enumerate(counts.tolist()):
        last = i == counts.size - 1 and edges[i + 1] == result.edges[-1]
        label = bin_label(float(edges[i]), float(edges[i + 1]), last=last)
        zero_bin = edges[i] < 0 < edges[i + 1] or edges[i] == 0
        style = "cyan" if zero_bin else "blue"
        table.add_row(label, Text(_bar(c / peak, width), style=style), str(c), _share(c, total))
    for label, c in extra[1:]:
        if c:
            table.add_row(label, Text(""), str(c), _share(c, total))
    return table


def _share(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else "-"


def worst_groups(
    groups: Sequence[GroupValue], higher_is_better: bool, top: int = TOP_GROUPS
) -> tuple[list[GroupValue], int]:
    """The ``top`` worst groups first (highest loss, or lowest score); NaN counts as worst."""

    def badness(g: GroupValue) -> float:
        if math.isnan(g.value):
            return math.inf
        return -g.value if higher_is_better else g.value

    ranked = sorted(groups, key=lambda g: (-badness(g), g.label))
    return ranked[:top], max(0, len(ranked) - top)


def groups_table(
    groups: Sequence[GroupValue],
    metric: str,
    threshold: float | None = None,
    gate: str | None = None,
    higher_is_better: bool = False,
    top: int = TOP_GROUPS,
    width: int = BAR_WIDTH,
) -> Table:
    """The worst groups as bars from 0 (or the lowest value), with the gate's threshold marked
    by ``┃`` on every bar; bars breaking the gate are red."""
    from rich.table import Table
    from rich.text import Text

    shown, hidden = worst_groups(groups, higher_is_better, top)
    values = [g.value for g in shown if math.isfinite(g.value)]
    marks = [*values, 0.0] + ([threshold] if threshold is not None else [])
    lo, hi = min(marks), max(marks)
    span = hi - lo or 1.0
    mark = None if threshold is None else round((threshold - lo) / span * width)
    title = f"worst groups by {metric}"
    if threshold is not None:
        title += f" (┃ = {gate or 'threshold'} {number(threshold)})"
    table = Table(title=terminal_text(title), box=None, pad_edge=False, title_justify="left")
    table.add_column("group", no_wrap=True, max_width=32)
    table.add_column("", no_wrap=True)
    table.add_column(metric, justify="right")
    for g in shown:
        failed = _breaks(g.value, threshold, gate)
        bar = _bar((g.value - lo) / span, width) if math.isfinite(g.value) else ""
        cells = list(bar.ljust(width + 1))
        text = Text()
        for i, ch in enumerate(cells):
            if mark is not None and i == mark:
                text.append("┃", style="bold yellow")
            else:
                text.append(ch, style="red" if failed else "green")
        table.add_row(
            Text(terminal_text(g.label)),
            text,
            Text(number(g.value), style="bold red" if failed else ""),
        )
    if hidden:
        table.add_row(Text(f"… {hidden} more", style="dim"), "", "")
    return table


def _breaks(value: float, threshold: float | None, gate: str | None) -> bool:
    if threshold is None:
        return False
    if math.isnan(value):
        return True
    return value < threshold if gate == "min" else value > threshold


def calibration_table(result: CalibrationResult, width: int = 20) -> Table:
    """Per bin: mean predicted probability and observed frequency side by side, as bars."""
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"calibration ({result.edges.size - 1} bins, ECE {number(result.ece)})",
        box=None,
        pad_edge=False,
        title_justify="left",
    )
    for name, justify in (
        ("bin", "right"),
        ("predicted", "left"),
        ("", "right"),
        ("observed", "left"),
        ("", "right"),
        ("rows", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    n = result.edges.size - 1
    for b in range(n):
        if result.counts[b] == 0:
            continue
        lo, hi = float(result.edges[b]), float(result.edges[b + 1])
        label = f"[{number(lo)}, {number(hi)}]" if b == 0 else f"({number(lo)}, {number(hi)}]"
        mp, ob = float(result.mean_predicted[b]), float(result.observed[b])
        gap = abs(ob - mp) > 0.1
        table.add_row(
            label,
            Text(_bar(mp, width).ljust(width), style="blue"),
            f"{mp:.3f}",
            Text(_bar(ob, width).ljust(width), style="red" if gap else "green"),
            f"{ob:.3f}",
            str(int(result.counts[b])),
        )
    return table


# -- Mermaid ------------------------------------------------------------------------------------
def mermaid_groups(
    groups: Sequence[GroupValue],
    metric: str,
    threshold: float | None = None,
    gate: str | None = None,
    higher_is_better: bool = False,
    top: int = 20,
) -> str:
    """A Mermaid bar chart of the worst groups, with the threshold as a line."""
    shown, hidden = worst_groups(groups, higher_is_better, top)
    labels = ", ".join(f'"{mermaid_text(g.label, 24)}"' for g in shown)
    title = f"{metric} by group, worst {len(shown)}" + (
        f" of {len(shown) + hidden}" if hidden else ""
    )
    if threshold is not None:
        title += f", {gate or 'threshold'} {number(threshold)}"
    lines = [
        "```mermaid",
        "xychart-beta",
        f'    title "{mermaid_text(title, 80)}"',
        f"    x-axis [{labels}]",
        f'    y-axis "{mermaid_text(metric)}"',
        "    bar [" + ", ".join(_mermaid_number(g.value) for g in shown) + "]",
    ]
    if threshold is not None:
        lines.append("    line [" + ", ".join(_mermaid_number(threshold) for _ in shown) + "]")
    lines.append("```")
    return "\n".join(lines)


def mermaid_histogram(result: HistogramResult, title: str, max_bins: int = MAX_BINS) -> str:
    """A Mermaid bar chart of the error histogram (bins labelled ``lo..hi``)."""
    edges, counts = display_bins(result, max_bins)
    labels = ", ".join(
        f'"{number(float(edges[i]))}..{number(float(edges[i + 1]))}"' for i in range(counts.size)
    )
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'    title "{mermaid_text(title, 80)}"',
            f"    x-axis [{labels}]",
            '    y-axis "rows"',
            "    bar [" + ", ".join(str(int(c)) for c in counts) + "]",
            "```",
        ]
    )


def mermaid_calibration(result: CalibrationResult) -> str:
    """A Mermaid line chart: observed frequency (bars) and mean predicted probability (line)
    per non-empty bin, on a 0..1 axis."""
    used = np.flatnonzero(result.counts)
    labels = ", ".join(
        f'"{number(float(result.edges[b]))}..{number(float(result.edges[b + 1]))}"' for b in used
    )
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'    title "calibration: observed (bars) vs predicted (line), ECE {number(result.ece)}"',
            f"    x-axis [{labels}]",
            '    y-axis "frequency" 0 --> 1',
            "    bar [" + ", ".join(_mermaid_number(float(result.observed[b])) for b in used) + "]",
            "    line ["
            + ", ".join(_mermaid_number(float(result.mean_predicted[b])) for b in used)
            + "]",
            "```",
        ]
    )


# -- wiring: results → charts on each channel ---------------------------------------------------
def group_values(result: LossResult) -> list[GroupValue]:
    """The groups of a result as labelled values (a per-output list value is left out)."""
    out = []
    for g in result.groups:
        if isinstance(g.value, list):
            continue
        # keys as the result table writes them (render.text; not imported: render uses us)
        label = ", ".join(
            "∅" if k is None else repr(k) if isinstance(k, float) else str(k) for k in g.key
        )
        out.append(GroupValue(label, float(g.value)))
    return out


def gate_threshold(
    spec: GateSpec | None, higher_is_better: bool
) -> tuple[float | None, str | None]:
    """The absolute gate to mark on the group bars: ``--max`` (or ``--min`` for a
    higher-is-better metric, or when only ``--min`` is given)."""
    if spec is None:
        return None, None
    order = [("min", spec.min), ("max", spec.max)]
    if not higher_is_better:
        order.reverse()
    for name, value in order:
        if value is not None:
            return value, name
    return None, None


def _subject_title(result: LossResult) -> str:
    assert result.charts is not None
    if result.charts.subject == "error":
        return "errors (prediction − target)"
    return f"{result.loss} per element"


def _distinct(results: Sequence[LossResult], part: str) -> list[LossResult]:
    """Results whose ``part`` chart is not a repeat of an earlier one (``eval -m mse -m mae``
    shares one error histogram)."""
    seen: list[Any] = []
    out = []
    for r in results:
        if r.charts is None:
            continue
        data = getattr(r.charts, part)
        if data is None:
            continue
        if part == "histogram":
            marker: Any = (
                r.charts.subject,
                r.loss if r.charts.subject == "loss" else "",
                tuple(data.counts.tolist()),
            )
        else:
            marker = (
                tuple(data.counts.tolist()),
                tuple(np.nan_to_num(data.mean_predicted).tolist()),
            )
        if marker in seen:
            continue
        seen.append(marker)
        out.append(r)
    return out


def terminal_charts(
    results: Sequence[LossResult], show: Sequence[str], gate: GateSpec | None
) -> list[Any]:
    """The rich renderables (and one-line notes) for ``--show`` on a terminal."""
    from rich.text import Text

    out: list[Any] = []
    if "hist" in show:
        for r in _distinct(results, "histogram"):
            assert r.charts is not None and r.charts.histogram is not None
            out.append(histogram_table(r.charts.histogram, _subject_title(r)))
        if not _distinct(results, "histogram"):
            out.append(
                Text(
                    "no histogram: these losses have neither errors nor per-element values",
                    style="dim",
                )
            )
    if "groups" in show:
        drawn = False
        for r in results:
            values = group_values(r)
            if not values:
                continue
            threshold, name = gate_threshold(gate, r.higher_is_better)
            out.append(groups_table(values, r.loss, threshold, name, r.higher_is_better))
            drawn = True
        if not drawn:
            why = (
                "groups with one value per output (--per output) are not drawn"
                if any(r.groups for r in results)
                else "no groups to show: add --group-by COL"
            )
            out.append(Text(why, style="dim"))
    if "calibration" in show:
        cal = _distinct(results, "calibration")
        for r in cal:
            assert r.charts is not None and r.charts.calibration is not None
            out.append(calibration_table(r.charts.calibration))
        if not cal:
            out.append(
                Text(
                    "no calibration: only for probability losses (binary_cross_entropy, binary_crossentropy, ece, ...)",
                    style="dim",
                )
            )
    return out


def print_charts(
    results: Sequence[LossResult], show: Sequence[str], env: Environment, gate: GateSpec | None
) -> None:
    """Draw the ``--show`` charts under the result table (stdout)."""
    console = env.console()
    for renderable in terminal_charts(results, show, gate):
        console.print()
        console.print(renderable)


def markdown_charts(
    results: Sequence[LossResult], show: Sequence[str], gate: GateSpec | None
) -> str:
    """Mermaid blocks for ``--show`` in Markdown output and the GitHub step summary."""
    blocks: list[str] = []
    if "hist" in show:
        for r in _distinct(results, "histogram"):
            assert r.charts is not None and r.charts.histogram is not None
            blocks.append(mermaid_histogram(r.charts.histogram, _subject_title(r)))
    if "groups" in show:
        for r in results:
            values = group_values(r)
            if values:
                threshold, name = gate_threshold(gate, r.higher_is_better)
                blocks.append(mermaid_groups(values, r.loss, threshold, name, r.higher_is_better))
    if "calibration" in show:
        for r in _distinct(results, "calibration"):
            assert r.charts is not None and r.charts.calibration is not None
            blocks.append(mermaid_calibration(r.charts.calibration))
    return "\n\n".join(blocks)


def append_step_summary(env: Environment, markdown: str) -> None:
    """Append ``markdown`` to ``GITHUB_STEP_SUMMARY`` (when set); a failure is a warning."""
    path = env.env.get("GITHUB_STEP_SUMMARY")
    if not path or not markdown:
        return
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n\n")
    except OSError as exc:
        from losscli.report.sanitize import line

        env.stderr.write(
            f"losscli: warning: {line(f'cannot append to GITHUB_STEP_SUMMARY: {exc}')}\n"
        )


def _numbers(values: Array) -> list[Any]:
    """JSON-safe numbers (NaN → null)."""
    return [None if not math.isfinite(v) else v for v in values.tolist()]


def _occupied(result: HistogramResult, others: Sequence[HistogramResult]) -> tuple[int, int]:
    """The bin range from the first to the last bin non-empty in any of the histograms."""
    counts = result.counts.copy()
    for other in others:
        counts += other.counts
    nz = np.flatnonzero(counts)
    return (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)


def _histogram_dict(h: HistogramResult, lo: int, hi: int, with_edges: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if with_edges:
        out["edges"] = h.edges[lo : hi + 1].tolist() if hi > lo else []
    out["counts"] = h.counts[lo:hi].tolist()
    out["underflow"] = h.underflow + int(h.counts[:lo].sum())
    out["overflow"] = h.overflow + int(h.counts[hi:].sum())
    out["nan"] = h.nan
    if h.weights is not None:
        out["weights"] = _numbers(h.weights[lo:hi])
    return out


def histograms_json(result: LossResult) -> dict[str, Any]:
    """The ``"histograms"`` object of a result's JSON (see the README)."""
    charts = result.charts
    assert charts is not None
    out: dict[str, Any] = {}
    if charts.histogram is not None:
        lo, hi = _occupied(charts.histogram, charts.group_histograms)
        entry = {"of": "prediction - target" if charts.subject == "error" else result.loss}
        entry.update(_histogram_dict(charts.histogram, lo, hi, True))
        out["error" if charts.subject == "error" else "loss"] = entry
        if charts.group_histograms:
            out["groups"] = [
                {"key": g.key_dict(result.group_by), **_histogram_dict(h, lo, hi, False)}
                for g, h in zip(result.groups, charts.group_histograms, strict=True)
            ]
    if charts.density is not None:
        edges, counts = charts.density
        out["pred_vs_target"] = {"edges": edges.tolist(), "counts": counts.tolist()}
    if charts.calibration is not None:
        c = charts.calibration
        out["calibration"] = {
            "edges": c.edges.tolist(),
            "counts": c.counts.tolist(),
            "weight": _numbers(c.weight),
            "mean_predicted": _numbers(c.mean_predicted),
            "observed": _numbers(c.observed),
            "ece": c.ece if math.isfinite(c.ece) else None,
        }
    return out
