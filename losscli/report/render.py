"""Renderers: results → table, JSON, CSV, NDJSON, Markdown or a bare value (SPEC §4).

JSON never holds a bare NaN/Infinity token: non-finite numbers become ``null``.
"""

from __future__ import annotations

import heapq
import io
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from losscli.engine import GroupResult, LossResult, output_labels
from losscli.io.writers import csv_writer
from losscli.report import sanitize
from losscli.report.terminal import Environment

if TYPE_CHECKING:
    from losscli.gates.rules import GateResult

    Verdicts = Sequence[Sequence[GateResult]] | None  # per result, aligned; None: ungated

SCHEMA_VERSION = 1


def number(x: Any) -> Any:
    """A JSON-safe number: floats that are NaN or infinite become None."""
    if isinstance(x, list):
        return [number(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def text(x: Any) -> str:
    """A value as humans and machines read it: shortest round-trip repr, 'nan'/'inf' spelled out."""
    if isinstance(x, list):
        return "[" + ", ".join(text(v) for v in x) + "]"
    if isinstance(x, float):
        return repr(x)
    return str(x)


def params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={text(v)}" for k, v in params.items())


def result_dict(result: LossResult, gates: Sequence[GateResult] | None = None) -> dict[str, Any]:
    """The JSON object of one result (without ``schema_version``); with ``gates``, also
    ``"gates"`` (one entry per gate and gated value) and ``"passed"``."""
    out: dict[str, Any] = {
        "loss": result.loss,
        "params": {k: number(v) for k, v in result.params.items()},
        "reduction": result.reduction,
        "per": result.per,
        "columns": result.columns,
        "weight": result.weight,
        "files": result.files,
        "rows": result.rows,
        "skipped_rows": result.skipped_rows,
        "value": number(result.value),
    }
    level = next((g.confidence for g in gates or [] if g.confidence is not None), None)
    if level is not None:
        out.update(interval_fields(result.intervals, result.value, level))
    if result.group_by:
        out["group_by"] = result.group_by
        out["groups"] = [
            {
                "key": g.key_dict(result.group_by),
                "rows": g.rows,
                "value": number(g.value),
                **(interval_fields(g.intervals, g.value, level) if level is not None else {}),
            }
            for g in result.groups
        ]
    if result.charts is not None:  # --show / --report: the bins and counts
        from losscli.report.charts import histograms_json

        out["histograms"] = histograms_json(result)
    if gates is not None:
        out["gates"] = [g.to_dict() for g in gates]
        out["passed"] = all(g.passed for g in gates)
    return out


def interval_fields(intervals: Any, value: Any, level: float) -> dict[str, Any]:
    """``interval`` ([lo, hi], or one pair per output), ``confidence`` and ``method`` of a
    value's own interval (what a later run reads back from a JSON baseline)."""
    if intervals is None or not intervals.value:
        return {}
    pairs = [[number(x) for x in e.interval(level)] for e in intervals.value]
    return {
        "interval": pairs if isinstance(value, list) else pairs[0],
        "confidence": level,
        "method": intervals.value[0].method,
    }


def interval_cell(gates: Sequence[GateResult]) -> str:
    """``[lo, hi]`` of each distinct gate interval (one per output with ``--per output``),
    ``-`` if none."""
    cells = [
        "[" + ", ".join(text(x) for x in g.interval) + "]" for g in gates if g.interval is not None
    ]
    return "; ".join(dict.fromkeys(cells)) or "-"


def _with_intervals(gates: Verdicts) -> bool:
    return gates is not None and any(g.confidence is not None for per in gates for g in per)


def _gates_of(gates: Verdicts, index: int) -> Sequence[GateResult] | None:
    return None if gates is None else gates[index]


def to_json(results: Sequence[LossResult], *, many: bool, gates: Verdicts = None) -> str:
    if many:
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "results": [result_dict(r, _gates_of(gates, i)) for i, r in enumerate(results)],
        }
        if gates is not None:
            doc["passed"] = all(g.passed for per_result in gates for g in per_result)
    else:
        doc = {"schema_version": SCHEMA_VERSION, **result_dict(results[0], _gates_of(gates, 0))}
    return json.dumps(doc, indent=2, allow_nan=False)


def to_ndjson(results: Sequence[LossResult], gates: Verdicts = None) -> str:
    lines = [
        json.dumps(
            {"schema_version": SCHEMA_VERSION, **result_dict(r, _gates_of(gates, i))},
            allow_nan=False,
        )
        for i, r in enumerate(results)
    ]
    return "\n".join(lines)


def to_csv(results: Sequence[LossResult]) -> str:
    buf = io.StringIO()
    writer = csv_writer(buf)
    group_cols = results[0].group_by
    per_output = any(isinstance(r.value, list) for r in results)
    writer.writerow(
        [
            "loss",
            "params",
            "reduction",
            "per",
            *group_cols,
            *(["output"] if per_output else []),
            "rows",
            "skipped_rows",
            "value",
        ]
    )
    for r in results:
        blank = [""] * len(group_cols)
        entries = [(blank, r.rows, r.value)] + [
            ([text(k) if k is not None else "" for k in g.key], g.rows, g.value) for g in r.groups
        ]
        for key, rows, value in entries:
            values = value if isinstance(value, list) else [value]
            labels = output_labels(r, len(values)) if isinstance(value, list) else [""]
            for label, v in zip(labels, values, strict=True):
                writer.writerow(
                    [
                        r.loss,
                        params_text(r.params),
                        r.reduction,
                        r.per,
                        *key,
                        *([label] if per_output else []),
                        rows,
                        r.skipped_rows,
                        text(v),
                    ]
                )
    return buf.getvalue().rstrip("\n")


def to_value(results: Sequence[LossResult]) -> str:
    """Bare numbers: the value; per group ``key<TAB>value``; per output ``column<TAB>value``;
    for several losses ``loss<TAB>value``. The format is line-based, so keys and column names
    are shown with their control characters escaped (:func:`sanitize.visible`): a key cannot
    add a line or a field."""
    lines: list[str] = []
    many = len(results) > 1
    for r in results:
        prefix = f"{r.loss}\t" if many else ""
        if isinstance(r.value, list):
            labels = output_labels(r, len(r.value))
            lines += [
                f"{prefix}{sanitize.visible(label)}\t{text(v)}"
                for label, v in zip(labels, r.value, strict=True)
            ]
        else:
            lines.append(prefix + text(r.value))
        for g in r.groups:
            key = ",".join("" if k is None else sanitize.visible(text(k)) for k in g.key)
            lines.append(f"{prefix}{key}\t{text(g.value)}")
    return "\n".join(lines)


def markdown_cell(cell: Any) -> str:
    """A Markdown table cell: control characters shown escaped, Markdown syntax escaped."""
    return sanitize.markdown(cell)


def to_markdown(results: Sequence[LossResult], gates: Verdicts = None) -> str:
    """A GitHub-flavoured Markdown table: one row for the total, one per group; with gates a
    ``gate`` column holds the verdict of that row's value."""
    from losscli.gates.rules import for_group, verdict_text

    header = ["loss", "params", "reduction", "group", "rows", "value"]
    align = ["---", "---", "---", "---", "---:", "---:"]
    intervals = _with_intervals(gates)
    if intervals:
        header.append("interval")
        align.append("---")
    if gates is not None:
        header.append("gate")
        align.append("---")
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    for i, r in enumerate(results):
        rows: list[tuple[dict[str, Any] | None, int, Any]] = [(None, r.rows, r.value)] + [
            (g.key_dict(r.group_by), g.rows, g.value) for g in r.groups
        ]
        for key, n, value in rows:
            group = "all" if key is None else ", ".join(f"{c}={text(k)}" for c, k in key.items())
            cells = [r.loss, params_text(r.params), r.reduction, group, n, text(value)]
            if gates is not None:
                mine = for_group(gates[i], key)
                if intervals:
                    cells.append(interval_cell(mine))
                cells.append(verdict_text(mine))
            lines.append("| " + " | ".join(markdown_cell(c) for c in cells) + " |")
    return "\n".join(lines)


class TableView(NamedTuple):
    """Which groups the table shows (``--top``, ``--sort``)."""

    top: int | None = None
    sort: str | None = None  # "value" (worst first) | "key"


#: Groups shown when there are more and no ``--top`` is given: the worst ones.
DEFAULT_TOP = 50


def shown_groups(result: LossResult, view: TableView | None) -> list[GroupResult]:
    """The groups a table shows: every group in key order when they fit (``DEFAULT_TOP``),
    else the worst ones first; ``--top`` and ``--sort`` choose."""
    view = view or TableView()
    groups = result.groups
    top = view.top if view.top is not None else (DEFAULT_TOP if len(groups) > DEFAULT_TOP else None)
    hiding = top is not None and top < len(groups)
    sort = view.sort or ("value" if hiding else "key")
    if sort == "value":
        sign = -1.0 if result.higher_is_better else 1.0

        def badness(g: GroupResult) -> float:
            values = g.value if isinstance(g.value, list) else [g.value]
            if any(v != v for v in values):
                return math.inf  # NaN is the worst
            return max(sign * v for v in values)

        if hiding:
            assert top is not None
            return heapq.nlargest(top, groups, key=badness)
        return sorted(groups, key=badness, reverse=True)
    return groups[:top] if hiding else list(groups)


def print_table(
    results: Sequence[LossResult],
    env: Environment,
    gates: Verdicts = None,
    view: TableView | None = None,
) -> None:
    """A rich table on stdout: one row per loss, then one per group (with a gate column);
    with many groups, the worst (:func:`shown_groups`) and a row counting the others."""
    from rich.table import Table

    from losscli.gates.rules import for_group, verdict_text

    grouped = bool(results[0].group_by)
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("loss", style="cyan")
    table.add_column("params")
    table.add_column("reduction")
    if grouped:
        table.add_column(sanitize.rich_text(", ".join(results[0].group_by)))
    table.add_column("rows", justify="right")
    table.add_column("skipped", justify="right")
    table.add_column("value", justify="right", style="bold green")
    intervals = _with_intervals(gates)
    if intervals:
        table.add_column("interval", justify="right")
    if gates is not None:
        table.add_column("gate")

    def verdict(index: int, key: dict[str, Any] | None) -> list[str]:
        if gates is None:
            return []
        mine = for_group(gates[index], key)
        cell = verdict_text(mine)
        if cell.startswith("FAIL"):
            cell = f"[red]{cell}[/red]"
        elif cell.startswith("inconclusive"):
            cell = f"[yellow]{cell}[/yellow]"
        return [interval_cell(mine), cell] if intervals else [cell]

    for i, r in enumerate(results):
        cols = [
            r.loss,
            sanitize.rich_text(params_text(r.params) or "-"),
            f"{r.reduction} ({r.per})" if r.per != "all" else r.reduction,
        ]
        if grouped:
            cols.append("(all)")
        table.add_row(*cols, str(r.rows), str(r.skipped_rows), text(r.value), *verdict(i, None))
        shown = shown_groups(r, view)
        for g in shown:
            key = sanitize.rich_text(", ".join("∅" if k is None else text(k) for k in g.key))
            group_verdict = verdict(i, g.key_dict(r.group_by))
            table.add_row("", "", "", key, str(g.rows), "", text(g.value), *group_verdict)
        hidden = len(r.groups) - len(shown)
        if hidden:
            table.add_row("", "", "", f"[dim]… {hidden} more not shown (--top N)[/dim]")
    files = ", ".join(results[0].files[:3]) + (" ..." if len(results[0].files) > 3 else "")
    table.caption = sanitize.rich_text(files)
    env.print_table(table)


def render(
    results: Sequence[LossResult],
    fmt: str,
    env: Environment,
    *,
    many: bool = False,
    gates: Verdicts = None,
    view: TableView | None = None,
) -> None:
    """Write the results to stdout in ``fmt``; ``gates`` (aligned with ``results``) adds the
    verdicts to the table, JSON, NDJSON and Markdown; ``view`` picks the table's groups."""
    if fmt == "table":
        print_table(results, env, gates, view)
        return
    renderers = {
        "json": lambda: to_json(results, many=many, gates=gates),
        "ndjson": lambda: to_ndjson(results, gates),
        "csv": lambda: to_csv(results),
        "markdown": lambda: to_markdown(results, gates),
        "value": lambda: to_value(results),
    }
    env.stdout.write(renderers[fmt]() + "\n")
    env.stdout.flush()
