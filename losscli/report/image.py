"""A one-page report (``--report FILE.png|svg|html``): error histogram, per-group bars with the
gate threshold, predicted-vs-target density, calibration curve and the result table.

matplotlib is imported inside :func:`write_report` only (the ``plot`` extra): a run without
``--report`` never pays for it. The Agg canvas is used directly (no pyplot, no GUI backend,
no global state). The HTML page embeds its picture as a ``data:`` URI and links nothing, so it
opens offline as a CI artifact.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from losscli.defaults import REPORT_SUFFIXES
from losscli.report.charts import (
    GroupValue,
    display_bins,
    gate_threshold,
    group_values,
    number,
    worst_groups,
)
from losscli.stats.histograms import CalibrationResult, HistogramResult

if TYPE_CHECKING:
    from losscli.engine import LossResult
    from losscli.gates.rules import GateResult, GateSpec

FORMATS = REPORT_SUFFIXES


class ReportData(NamedTuple):
    """What the report shows; any part may be missing (its panel then says why)."""

    title: str
    table_header: list[str]
    table_rows: list[list[str]]
    histogram: HistogramResult | None = None
    groups: Sequence[GroupValue] = ()
    metric: str = "loss"
    threshold: float | None = None
    gate: str | None = None
    higher_is_better: bool = False
    density: tuple[Any, Any] | None = None  # (edges, counts[target cell, prediction cell])
    calibration: CalibrationResult | None = None
    verdict: str | None = None  # "passed" / "FAILED" when gated


def report_format(path: str) -> str:
    """The output format from the file name; ValueError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"--report needs a .png, .svg or .html file name, got {path!r}")
    return suffix


def write_report(path: str, data: ReportData) -> None:
    """Draw the report and write it to ``path`` (format from the suffix), atomically."""
    suffix = report_format(path)
    figure = _figure(data)
    buffer = io.BytesIO()
    if suffix == ".svg":
        figure.savefig(buffer, format="svg", metadata={"Date": None})
        payload = buffer.getvalue()
    else:
        figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
        payload = buffer.getvalue()
        if suffix == ".html":
            payload = _html_page(data, payload).encode("utf-8")
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(payload)
    tmp.replace(target)


def _figure(data: ReportData) -> Any:
    # matplotlib: ~0.3 s to import, only ever for --report (the `plot` extra).
    from matplotlib.figure import Figure

    rows = len(data.table_rows)
    table_height = 0.5 + 0.28 * (rows + 1)
    height = 9 + table_height
    # Fixed margins: constrained layout would cost ~0.2 s of a report's ~0.5 s of drawing.
    figure = Figure(figsize=(12, height))
    grid = figure.add_gridspec(
        3,
        2,
        height_ratios=[4, 4, table_height],
        left=0.08,
        right=0.95,
        top=1 - 0.75 / height,
        bottom=0.15 / height,
        hspace=0.45,
        wspace=0.3,
    )
    title = data.title + (f" — {data.verdict}" if data.verdict else "")
    figure.suptitle(title, fontsize=14, fontweight="bold")
    _histogram_panel(figure.add_subplot(grid[0, 0]), data)
    _groups_panel(figure.add_subplot(grid[0, 1]), data)
    _density_panel(figure, figure.add_subplot(grid[1, 0]), data)
    _calibration_panel(figure.add_subplot(grid[1, 1]), data)
    _table_panel(figure.add_subplot(grid[2, :]), data)
    return figure


def _missing(ax: Any, title: str, why: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", color="0.4", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _histogram_panel(ax: Any, data: ReportData) -> None:
    title = "error histogram (prediction − target)"
    result = data.histogram
    if result is None or result.counts.sum() == 0:
        _missing(ax, title, "no errors to show")
        return
    edges, counts = display_bins(result, 40)
    symmetric = np.array_equal(result.edges, -result.edges[::-1]) and result.edges.size % 2 == 0
    ax.stairs(counts, edges, fill=True, color="#4c72b0", alpha=0.85)
    if symmetric and edges[0] < 0 < edges[-1]:
        inner = float(np.min(np.abs(edges)))
        ax.set_xscale("symlog", linthresh=max(inner, 1e-300), linscale=0.4)
        # ticks at 0 and ±10^k outside the linear part (the default ones crowd the centre)
        low = math.floor(math.log10(max(inner, 1e-300))) + 1
        high = math.ceil(math.log10(max(abs(float(edges[0])), abs(float(edges[-1])))))
        step = max(1, (high - low + 1) // 4)
        powers = [10.0**k for k in range(low, high + 1, step)]
        ax.set_xticks([-p for p in reversed(powers)] + [0.0] + powers)
        ax.tick_params(axis="x", labelsize=8)
    ax.axvline(0.0, color="0.2", linewidth=0.8)
    ax.set_title(title)
    ax.set_ylabel("rows")
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
        ax.text(
            0.99,
            0.97,
            ", ".join(notes),
            ha="right",
            va="top",
            transform=ax.transAxes,
            fontsize=8,
            color="0.3",
        )


def _groups_panel(ax: Any, data: ReportData) -> None:
    title = f"{data.metric} by group (worst first)"
    if not data.groups:
        _missing(ax, title, "no --group-by")
        return
    shown, hidden = worst_groups(data.groups, data.higher_is_better, 20)
    labels = [_short(g.label) for g in shown][::-1]
    values = [g.value if math.isfinite(g.value) else 0.0 for g in shown][::-1]
    colours = []
    for g in shown[::-1]:
        bad = data.threshold is not None and (
            math.isnan(g.value)
            or (g.value < data.threshold if data.gate == "min" else g.value > data.threshold)
        )
        colours.append("#c44e52" if bad else "#55a868")
    ax.barh(range(len(values)), values, color=colours)
    ax.set_yticks(range(len(values)), labels, fontsize=8)
    if data.threshold is not None:
        ax.axvline(
            data.threshold,
            color="#dd8452",
            linestyle="--",
            linewidth=1.5,
            label=f"{data.gate or 'threshold'} {number(data.threshold)}",
        )
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title + (f", {hidden} more not shown" if hidden else ""))
    ax.set_xlabel(data.metric)


def _short(label: str, limit: int = 28) -> str:
    from losscli.report.sanitize import visible

    clean = visible(label)
    # matplotlib treats $...$ as mathtext: escape the dollar sign
    clean = clean.replace("$", r"\$")
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _density_panel(figure: Any, ax: Any, data: ReportData) -> None:
    title = "prediction vs target (rows per cell)"
    if data.density is None or data.density[1].size == 0:
        _missing(ax, title, "no prediction/target pairs")
        return
    from matplotlib.colors import LogNorm

    edges, counts = data.density
    shown = np.ma.masked_equal(counts.T.astype(float), 0.0)  # rows: prediction, columns: target
    mesh = ax.pcolormesh(
        edges,
        edges,
        shown,
        cmap="viridis",
        norm=LogNorm(vmin=1, vmax=max(1.0, float(counts.max()))),
    )
    ax.plot(
        [edges[0], edges[-1]],
        [edges[0], edges[-1]],
        color="#c44e52",
        linewidth=1,
        label="prediction = target",
    )
    ax.set_aspect("equal")
    ax.set_xlabel("target")
    ax.set_ylabel("prediction")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    figure.colorbar(mesh, ax=ax, shrink=0.8)


def _calibration_panel(ax: Any, data: ReportData) -> None:
    cal = data.calibration
    if cal is None or cal.counts.sum() == 0:
        _missing(ax, "calibration", "for probability losses (binary_cross_entropy, ece, ...)")
        return
    used = cal.counts > 0
    ax.plot([0, 1], [0, 1], color="0.5", linestyle=":", label="perfect")
    ax.plot(
        cal.mean_predicted[used], cal.observed[used], marker="o", color="#4c72b0", label="model"
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title(f"calibration ({cal.edges.size - 1} bins, ECE {number(cal.ece)})")
    share = ax.twinx()
    share.bar(
        (cal.edges[:-1] + cal.edges[1:]) / 2,
        cal.counts / cal.counts.sum(),
        width=np.diff(cal.edges) * 0.9,
        alpha=0.15,
        color="0.3",
    )
    share.set_ylim(0, 1)
    share.set_ylabel("share of rows", color="0.4")
    ax.legend(loc="upper left", fontsize=8)


def _table_panel(ax: Any, data: ReportData) -> None:
    ax.axis("off")
    if not data.table_rows:
        return
    cells = [[_short(c, 40) for c in row] for row in data.table_rows]
    table = ax.table(
        cellText=cells,
        colLabels=[_short(h) for h in data.table_header],
        loc="center",
        cellLoc="right",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.3)


def _html_page(data: ReportData, png: bytes) -> str:
    """One self-contained page: the picture as a data: URI, the table as HTML (escaped)."""
    image = base64.b64encode(png).decode("ascii")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in data.table_header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for row in data.table_rows
    )
    title = html.escape(data.title + (f" — {data.verdict}" if data.verdict else ""))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>"
        "body{font-family:sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;"
        "text-align:right}img{max-width:100%}</style></head><body>"
        f"<h1>{title}</h1><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f'<p><img alt="charts of {title}" src="data:image/png;base64,{image}"></p>'
        "</body></html>\n"
    )


def report_data(
    results: Sequence[LossResult],
    gate: GateSpec | None = None,
    gates: Sequence[Sequence[GateResult]] | None = None,
) -> ReportData:
    """What the report of a run shows: the first result's charts (the error histogram and
    density are shared by losses on the same columns), every result in the table."""
    from losscli.gates.rules import for_group, verdict_text
    from losscli.report.render import params_text, text

    first = results[0]
    header = ["loss", "params", "group", "rows", "value"] + (["gate"] if gates is not None else [])
    rows: list[list[str]] = []
    for i, r in enumerate(results):
        entries = [(None, "all", r.rows, r.value)] + [
            (g.key_dict(r.group_by), ", ".join(text(k) for k in g.key), g.rows, g.value)
            for g in r.groups
        ]
        for key, label, n, value in entries:
            row = [r.loss, params_text(r.params) or "-", label, str(n), text(value)]
            if gates is not None:
                row.append(verdict_text(for_group(gates[i], key)))
            rows.append(row)
    charted = next((r for r in results if r.charts is not None), first)
    grouped = next((r for r in results if group_values(r)), first)
    threshold, name = gate_threshold(gate, grouped.higher_is_better)
    calibrated = next(
        (r for r in results if r.charts is not None and r.charts.calibration is not None), None
    )
    verdict = None
    if gates is not None:
        verdict = "passed" if all(g.passed for per in gates for g in per) else "FAILED"
    files = ", ".join(first.files[:2]) + (" ..." if len(first.files) > 2 else "")
    charts = charted.charts
    return ReportData(
        title=f"losscli {', '.join(dict.fromkeys(r.loss for r in results))}: {files}",
        table_header=header,
        table_rows=rows,
        histogram=None if charts is None else charts.histogram,
        groups=group_values(grouped),
        metric=grouped.loss,
        threshold=threshold,
        gate=name,
        higher_is_better=grouped.higher_is_better,
        density=None if charts is None else charts.density,
        calibration=None
        if calibrated is None or calibrated.charts is None
        else calibrated.charts.calibration,
        verdict=verdict,
    )
