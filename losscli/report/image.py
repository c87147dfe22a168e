"""A one-page report (``--report FILE.png|svg|html``): error histogram, per-group bars with the
gate threshold, predicted-vs-target density, calibration curve and the result table.

The panels are laid out once as shapes (:mod:`losscli.report.panels`); SVG and HTML are written
as text by :mod:`losscli.report.svg` (no plotting library: milliseconds). The HTML page holds
the table as HTML and the charts as inline SVG, and links nothing, so it opens offline as a CI
artifact. PNG is painted with Pillow (the ``plot`` extra, :mod:`losscli.report.raster`),
imported only for a ``.png`` report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from losscli.defaults import REPORT_SUFFIXES, report_suffix
from losscli.report.charts import (
    GroupValue,
    gate_threshold,
    group_values,
)
from losscli.stats.histograms import CalibrationResult, HistogramResult

if TYPE_CHECKING:
    from losscli.engine import LossResult
    from losscli.gates.rules import GateResult, GateSpec

FORMATS = REPORT_SUFFIXES
HTML_ROWS = 1000  # result rows in the HTML table (one per group: a million groups stay JSON)


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
    subject: str = "error"  # what the histogram counts: "error" or per-element "loss" values
    density: tuple[Any, Any] | None = None  # (edges, counts[target cell, prediction cell])
    calibration: CalibrationResult | None = None
    verdict: str | None = None  # "passed" / "FAILED" when gated


def report_format(path: str) -> str:
    """The output format from the file name; ValueError for anything else."""
    suffix = report_suffix(path)
    if suffix not in FORMATS:
        raise ValueError(f"--report needs a .png, .svg or .html file name, got {path!r}")
    return suffix


def write_report(path: str, data: ReportData) -> None:
    """Draw the report and write it to ``path`` (format from the suffix), atomically."""
    from losscli.report import svg
    from losscli.report.panels import report_scene

    suffix = report_format(path)
    title = data.title + (f" — {data.verdict}" if data.verdict else "")
    if suffix == ".svg":
        payload = svg.svg(report_scene(data), title).encode("utf-8")
    elif suffix == ".html":
        rows = data.table_rows[:HTML_ROWS]
        hidden = len(data.table_rows) - len(rows)
        note = f"{hidden} more rows not shown (--format json has every value)" if hidden else ""
        charts = report_scene(data, title=False, table=False)
        page = svg.html_page(title, charts, data.table_header, rows, note)
        payload = page.encode("utf-8")
    else:
        from losscli.report.raster import png

        payload = png(report_scene(data))
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(payload)
        os.replace(tmp, path)
    except OSError as exc:  # a missing or read-only directory, a full disk: one line, exit 3
        from losscli.errors import OutputError, io_error_text

        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OutputError(io_error_text(exc, f"--report {path}")) from None


def report_data(
    results: Sequence[LossResult],
    gate: GateSpec | None = None,
    gates: Sequence[Sequence[GateResult]] | None = None,
) -> ReportData:
    """What the report of a run shows: the first result's charts (the error histogram and
    density are shared by losses on the same columns), every result in the table."""
    from losscli.report.render import VerdictCells, all_passed, params_text, text

    if gates is not None:  # the verdict column (gates.rules costs ~5 ms to import: gated only)
        from losscli.gates.rules import verdict_text

    first = results[0]
    header = ["loss", "params", "group", "rows", "value"] + (["gate"] if gates is not None else [])
    rows: list[list[str]] = []
    for i, r in enumerate(results):
        cells = VerdictCells(gates[i], r) if gates is not None else None
        row = [r.loss, params_text(r.params) or "-", "all", str(r.rows), text(r.value)]
        if cells is not None:
            row.append(verdict_text(cells.total()))
        rows.append(row)
        for position, g in enumerate(r.groups):  # each group's verdict from the gates' columns
            label = ", ".join(text(k) for k in g.key)
            row = [r.loss, params_text(r.params) or "-", label, str(g.rows), text(g.value)]
            if cells is not None:
                row.append(cells.group(position, g)[1])
            rows.append(row)
    charted = next((r for r in results if r.charts is not None), first)
    grouped = next((r for r in results if group_values(r)), first)
    threshold, name = gate_threshold(gate, grouped.higher_is_better)
    calibrated = next(
        (r for r in results if r.charts is not None and r.charts.calibration is not None), None
    )
    verdict = None
    if gates is not None:
        verdict = "passed" if all_passed(gates) else "FAILED"
    files = ", ".join(first.files[:2]) + (" ..." if len(first.files) > 2 else "")
    charts = charted.charts
    return ReportData(
        title=f"losscli {', '.join(dict.fromkeys(r.loss for r in results))}: {files}",
        table_header=header,
        table_rows=rows,
        histogram=None if charts is None else charts.histogram,
        subject=charts.subject if charts is not None else "error",
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
