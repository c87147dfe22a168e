"""Renderers: results → table, JSON, CSV, NDJSON, Markdown or a bare value (SPEC §4).

JSON never holds a bare NaN/Infinity token: non-finite numbers become ``null``.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from losscli.engine import GroupResult, GroupTable, LossResult, output_labels
from losscli.io.writers import csv_writer
from losscli.report import sanitize
from losscli.report.terminal import Environment

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from losscli.gates.columns import Gates
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


def result_dict(
    result: LossResult,
    gates: Sequence[GateResult] | None = None,
    groups: Callable[[LossResult, float | None], Any] | None = None,
) -> dict[str, Any]:
    """The JSON object of one result (without ``schema_version``); with ``gates``, also
    ``"gates"`` (one entry per gate and gated value) and ``"passed"``. ``groups`` stands in
    for the list of groups (a placeholder the streaming writers replace)."""
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
    level = confidence_level(gates)
    if level is not None:
        out.update(interval_fields(result.intervals, result.value, level))
    if result.group_by:
        out["group_by"] = result.group_by
        if groups is not None:
            out["groups"] = groups(result, level)
        else:
            out["groups"] = [group_dict(g, result.group_by, level) for g in result.groups]
    if result.charts is not None:  # --show / --report: the bins and counts
        from losscli.report.charts import histograms_json

        out["histograms"] = histograms_json(result)
    if gates is not None:
        from losscli.gates.columns import as_gates

        verdicts = as_gates(gates)
        if isinstance(groups, GroupSlots) and verdicts.groups is not None:
            out["gates"] = groups.gates(verdicts)  # every group's, written from the columns
        else:
            out["gates"] = [g.to_dict() for g in verdicts]
        out["passed"] = verdicts.passed
    return out


def confidence_level(gates: Sequence[GateResult] | None) -> float | None:
    """The ``--confidence`` level of a result's gates (None: no intervals)."""
    if gates is None:
        return None
    from losscli.gates.columns import as_gates

    return as_gates(gates).confidence


def all_passed(gates: Sequence[Sequence[GateResult]]) -> bool:
    """Whether every gate of every result passed (columns counted, not made into objects)."""
    from losscli.gates.columns import as_gates

    return all(as_gates(per_result).passed for per_result in gates)


def group_dict(group: GroupResult, group_by: Sequence[str], level: float | None) -> dict[str, Any]:
    """The JSON object of one group."""
    return {
        "key": group.key_dict(group_by),
        "rows": group.rows,
        "value": number(group.value),
        **(interval_fields(group.intervals, group.value, level) if level is not None else {}),
    }


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
    return gates is not None and any(confidence_level(per) is not None for per in gates)


def _gates_of(gates: Verdicts, index: int) -> Sequence[GateResult] | None:
    return None if gates is None else gates[index]


class GroupSlots:
    """Placeholders for the groups of a JSON document: the document is dumped with a token
    in place of each list of groups, then written in pieces with the groups streamed into
    the tokens' places (:mod:`losscli.report.grouped`)."""

    def __init__(self) -> None:
        self.nonce = os.urandom(8).hex()
        self.slots: list[tuple[str, Callable[[int | None], Iterator[str]]]] = []

    def _token(self, write: Callable[[int | None], Iterator[str]]) -> str:
        token = f"groups-{self.nonce}-{len(self.slots)}"
        self.slots.append((token, write))
        return token

    def __call__(self, result: LossResult, level: float | None) -> str:
        from losscli.report.grouped import json_groups

        dicts = partial(_group_dict_at, level=level)
        plain = level is None or not any(result.groups.intervals or [])
        return self._token(lambda indent: json_groups(result, indent, dicts, columnar=plain))

    def gates(self, gates: Gates) -> str:
        """A placeholder for a result's ``"gates"`` list (every group's from its columns)."""
        from losscli.report.gated import json_gates

        return self._token(lambda indent: json_gates(gates, indent))

    def splice(self, text: str, indented: bool) -> Iterator[str]:
        pos = 0
        for token, write in self.slots:
            at = text.index(f'"{token}"', pos)
            line = text[text.rfind("\n", 0, at) + 1 : at]
            indent = len(line) - len(line.lstrip(" ")) if indented else None
            yield text[pos:at]
            yield from write(indent)
            pos = at + len(token) + 2
        yield text[pos:]


def _group_dict_at(result: LossResult, index: int, level: float | None) -> dict[str, Any]:
    return group_dict(result.groups[index], result.group_by, level)


def json_pieces(
    results: Sequence[LossResult], *, many: bool, gates: Verdicts = None
) -> Iterator[str]:
    """The JSON document of ``results``, in pieces (every group, streamed)."""
    slots = GroupSlots()
    if many:
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "results": [result_dict(r, _gates_of(gates, i), slots) for i, r in enumerate(results)],
        }
        if gates is not None:
            doc["passed"] = all_passed(gates)
    else:
        doc = {
            "schema_version": SCHEMA_VERSION,
            **result_dict(results[0], _gates_of(gates, 0), slots),
        }
    yield from slots.splice(json.dumps(doc, indent=2, allow_nan=False), indented=True)


def to_json(results: Sequence[LossResult], *, many: bool, gates: Verdicts = None) -> str:
    return "".join(json_pieces(results, many=many, gates=gates))


def ndjson_pieces(results: Sequence[LossResult], gates: Verdicts = None) -> Iterator[str]:
    """One JSON line per result, in pieces."""
    for i, r in enumerate(results):
        if i:
            yield "\n"
        slots = GroupSlots()
        doc = {"schema_version": SCHEMA_VERSION, **result_dict(r, _gates_of(gates, i), slots)}
        yield from slots.splice(json.dumps(doc, allow_nan=False), indented=False)


def to_ndjson(results: Sequence[LossResult], gates: Verdicts = None) -> str:
    return "".join(ndjson_pieces(results, gates))


def csv_pieces(results: Sequence[LossResult]) -> Iterator[str]:
    """The CSV table (a header, a record per result and per group), in pieces; a record per
    output with ``--per output``."""
    from losscli.report.grouped import csv_groups

    group_cols = results[0].group_by
    per_output = any(isinstance(r.value, list) for r in results)
    buf = io.StringIO()
    writer = csv_writer(buf)
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
        values = r.value if isinstance(r.value, list) else [r.value]
        labels = output_labels(r, len(values)) if isinstance(r.value, list) else [""]
        for label, v in zip(labels, values, strict=True):
            writer.writerow(
                [
                    r.loss,
                    params_text(r.params),
                    r.reduction,
                    r.per,
                    *[""] * len(group_cols),
                    *([label] if per_output else []),
                    r.rows,
                    r.skipped_rows,
                    text(v),
                ]
            )
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
        yield from csv_groups(r, per_output, text, params_text(r.params))


def _last_line_open(pieces: Iterator[str]) -> Iterator[str]:
    """``pieces`` without the line break that ends the last one."""
    held = ""
    for piece in pieces:
        if piece:
            if held:
                yield held
            held = piece
    yield held[:-1] if held.endswith("\n") else held


def to_csv(results: Sequence[LossResult]) -> str:
    return "".join(_last_line_open(csv_pieces(results)))


def value_pieces(results: Sequence[LossResult]) -> Iterator[str]:
    """Bare numbers: the value; per group ``key<TAB>value``; per output ``column<TAB>value``;
    for several losses ``loss<TAB>value`` (each line ending in a line break). The format is
    line-based, so keys and column names are shown with their control characters escaped
    (:func:`sanitize.visible`): a key cannot add a line or a field."""
    many = len(results) > 1

    def lines() -> Iterator[str]:
        for r in results:
            prefix = f"{r.loss}\t" if many else ""
            if isinstance(r.value, list):
                labels = output_labels(r, len(r.value))
                for label, v in zip(labels, r.value, strict=True):
                    yield f"{prefix}{sanitize.visible(label)}\t{text(v)}\n"
            else:
                yield f"{prefix}{text(r.value)}\n"
            for g in r.groups:
                key = ",".join("" if k is None else sanitize.visible(text(k)) for k in g.key)
                yield f"{prefix}{key}\t{text(g.value)}\n"

    return _batched(lines())


def to_value(results: Sequence[LossResult]) -> str:
    return "".join(_last_line_open(value_pieces(results)))


def _batched(lines: Iterator[str], size: int = 16_384) -> Iterator[str]:
    """Lines joined ``size`` at a time (fewer, larger writes)."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield "".join(batch)
            batch = []
    yield "".join(batch)


def markdown_cell(cell: Any) -> str:
    """A Markdown table cell: control characters shown escaped, Markdown syntax escaped."""
    return sanitize.markdown(cell)


def markdown_pieces(results: Sequence[LossResult], gates: Verdicts = None) -> Iterator[str]:
    """A GitHub-flavoured Markdown table: one row for the total, one per group; with gates a
    ``gate`` column holds the verdict of that row's value."""
    from losscli.gates.rules import verdict_text

    header = ["loss", "params", "reduction", "group", "rows", "value"]
    align = ["---", "---", "---", "---", "---:", "---:"]
    intervals = _with_intervals(gates)
    if intervals:
        header.append("interval")
        align.append("---")
    if gates is not None:
        header.append("gate")
        align.append("---")

    def lines() -> Iterator[str]:
        yield "| " + " | ".join(header) + " |\n"
        yield "| " + " | ".join(align) + " |\n"
        for i, r in enumerate(results):
            verdicts = VerdictCells(gates[i], r) if gates is not None else None
            rows: list[tuple[GroupResult | None, int, Any]] = [(None, r.rows, r.value)]
            groups = ((g, g.rows, g.value) for g in r.groups)
            for position, (g, n, value) in enumerate(itertools.chain(rows, groups), -1):
                key = None if g is None else g.key_dict(r.group_by)
                group = (
                    "all" if key is None else ", ".join(f"{c}={text(k)}" for c, k in key.items())
                )
                cells = [r.loss, params_text(r.params), r.reduction, group, n, text(value)]
                if verdicts is not None:
                    if g is None:
                        mine = verdicts.total()
                        cell = (interval_cell(mine), verdict_text(mine))
                    else:
                        cell = verdicts.group(position, g)
                    cells += list(cell) if intervals else [cell[1]]
                yield "| " + " | ".join(markdown_cell(c) for c in cells) + " |\n"

    return _batched(lines())


def to_markdown(results: Sequence[LossResult], gates: Verdicts = None) -> str:
    return "".join(_last_line_open(markdown_pieces(results, gates)))


class TableView(NamedTuple):
    """Which groups the table shows (``--top``, ``--sort``)."""

    top: int | None = None
    sort: str | None = None  # "value" (worst first) | "key"


#: Groups shown when there are more and no ``--top`` is given: the worst ones.
DEFAULT_TOP = 50


def shown_groups(result: LossResult, view: TableView | None) -> GroupTable:
    """The groups a table shows: every group in key order when they fit (``DEFAULT_TOP``),
    else the worst ones first (one sort of the values; NaN is the worst, ties keep key
    order); ``--top`` and ``--sort`` choose."""
    indices = shown_indices(result, view)
    return result.groups if indices is None else result.groups.take(indices)


def shown_indices(result: LossResult, view: TableView | None) -> NDArray[np.intp] | None:
    """The indices of :func:`shown_groups` (None: every group, in order)."""
    view = view or TableView()
    groups = result.groups
    top = view.top if view.top is not None else (DEFAULT_TOP if len(groups) > DEFAULT_TOP else None)
    hiding = top is not None and top < len(groups)
    sort = view.sort or ("value" if hiding else "key")
    if sort == "value":
        return groups.worst(result.higher_is_better, top if hiding else None)
    if hiding:
        assert top is not None
        return np.arange(top)
    return None


class VerdictCells:
    """The gate cells (interval, verdict) of a result's total and of its groups, without a
    gate object per group where the groups' gates are columns."""

    def __init__(
        self,
        gates: Sequence[GateResult],
        result: LossResult,
        indices: NDArray[np.intp] | None = None,
    ) -> None:
        from losscli.gates.columns import as_gates
        from losscli.gates.rules import by_group, for_group

        verdicts = as_gates(gates)
        self.columns = verdicts.groups
        self.group_by = result.group_by
        if self.columns is None:
            self.index = by_group(verdicts)
            self.cells: list[str] = []
        else:
            self.index = {None: for_group(verdicts.total, None)}
            self.cells = self.columns.verdict_cells(indices)

    def total(self) -> list[GateResult]:
        return self.index.get(None, [])

    def group(self, position: int, group: GroupResult) -> tuple[str, str]:
        """(interval cell, verdict cell) of the group at ``position`` (of the indices)."""
        from losscli.gates.rules import verdict_text

        if self.columns is not None:
            return "-", self.cells[position]
        mine = self.index.get(tuple(group.key_dict(self.group_by).items()), [])
        return interval_cell(mine), verdict_text(mine)


def print_table(
    results: Sequence[LossResult],
    env: Environment,
    gates: Verdicts = None,
    view: TableView | None = None,
) -> None:
    """A rich table on stdout: one row per loss, then one per group (with a gate column);
    with many groups, the worst (:func:`shown_groups`) and a row counting the others."""
    from rich.table import Table

    from losscli.gates.rules import verdict_text

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

    def verdict(cells: VerdictCells | None, position: int, group: GroupResult | None) -> list[str]:
        if cells is None:
            return []
        if group is None:
            mine = cells.total()
            shown, cell = interval_cell(mine), verdict_text(mine)
        else:
            shown, cell = cells.group(position, group)
        if cell.startswith("FAIL"):
            cell = f"[red]{cell}[/red]"
        elif cell.startswith("inconclusive"):
            cell = f"[yellow]{cell}[/yellow]"
        return [shown, cell] if intervals else [cell]

    for i, r in enumerate(results):
        cols = [
            r.loss,
            sanitize.rich_text(params_text(r.params) or "-"),
            f"{r.reduction} ({r.per})" if r.per != "all" else r.reduction,
        ]
        if grouped:
            cols.append("(all)")
        indices = shown_indices(r, view)
        shown = r.groups if indices is None else r.groups.take(indices)
        cells = VerdictCells(gates[i], r, indices) if gates is not None else None
        total_verdict = verdict(cells, -1, None)
        table.add_row(*cols, str(r.rows), str(r.skipped_rows), text(r.value), *total_verdict)
        for position, g in enumerate(shown):
            key = sanitize.rich_text(", ".join("∅" if k is None else text(k) for k in g.key))
            group_verdict = verdict(cells, position, g)
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
    pieces = {
        "json": lambda: json_pieces(results, many=many, gates=gates),
        "ndjson": lambda: ndjson_pieces(results, gates),
        "csv": lambda: _last_line_open(csv_pieces(results)),
        "markdown": lambda: _last_line_open(markdown_pieces(results, gates)),
        "value": lambda: _last_line_open(value_pieces(results)),
    }
    write = env.stdout.write
    for piece in pieces[fmt]():
        write(piece)
    write("\n")
    env.stdout.flush()
