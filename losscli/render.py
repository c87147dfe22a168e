"""Renderers: results → table, JSON, CSV, NDJSON, Markdown or a bare value (SPEC §4).

JSON never holds a bare NaN/Infinity token: non-finite numbers become ``null``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from losscli.engine import LossResult
from losscli.terminal import Environment

SCHEMA_VERSION = 1
FORMATS = ("table", "json", "csv", "ndjson", "markdown", "value")


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


def result_dict(result: LossResult) -> dict[str, Any]:
    """The JSON object of one result (without ``schema_version``)."""
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
    if result.group_by:
        out["group_by"] = result.group_by
        out["groups"] = [
            {
                "key": dict(zip(result.group_by, g.key, strict=True)),
                "rows": g.rows,
                "value": number(g.value),
            }
            for g in result.groups
        ]
    return out


def to_json(results: Sequence[LossResult], *, many: bool) -> str:
    if many:
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "results": [result_dict(r) for r in results],
        }
    else:
        doc = {"schema_version": SCHEMA_VERSION, **result_dict(results[0])}
    return json.dumps(doc, indent=2, allow_nan=False)


def to_ndjson(results: Sequence[LossResult]) -> str:
    lines = [
        json.dumps({"schema_version": SCHEMA_VERSION, **result_dict(r)}, allow_nan=False)
        for r in results
    ]
    return "\n".join(lines)


def _value_rows(result: LossResult) -> list[tuple[str, Any]]:
    """(output label, value) pairs: one for a scalar, one per output column for --per output."""
    if isinstance(result.value, list):
        preds = next(iter(result.columns.values()))
        labels = (
            preds if len(preds) == len(result.value) else [str(i) for i in range(len(result.value))]
        )
        return list(zip(labels, result.value, strict=True))
    return [("", result.value)]


def to_csv(results: Sequence[LossResult]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
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
            labels = [lbl for lbl, _ in _value_rows(r)] if isinstance(value, list) else [""]
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
    for several losses ``loss<TAB>value``."""
    lines: list[str] = []
    many = len(results) > 1
    for r in results:
        prefix = f"{r.loss}\t" if many else ""
        if isinstance(r.value, list):
            lines += [f"{prefix}{label}\t{text(v)}" for label, v in _value_rows(r)]
        else:
            lines.append(prefix + text(r.value))
        for g in r.groups:
            key = ",".join("" if k is None else text(k) for k in g.key)
            lines.append(f"{prefix}{key}\t{text(g.value)}")
    return "\n".join(lines)


def to_markdown(results: Sequence[LossResult]) -> str:
    header = ["loss", "params", "reduction", "group", "rows", "value"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        rows = [("all", r.rows, r.value)] + [
            (
                ", ".join(f"{c}={text(k)}" for c, k in zip(r.group_by, g.key, strict=True)),
                g.rows,
                g.value,
            )
            for g in r.groups
        ]
        for group, n, value in rows:
            lines.append(
                f"| {r.loss} | {params_text(r.params)} | {r.reduction} | {group} | {n} | {text(value)} |"
            )
    return "\n".join(lines)


def print_table(results: Sequence[LossResult], env: Environment) -> None:
    """A rich table on stdout: one row per loss, then one per group."""
    from rich.table import Table

    console = env.console()
    grouped = bool(results[0].group_by)
    table = Table(show_header=True, header_style="bold", box=None if console.no_color else None)
    table.add_column("loss", style="cyan")
    table.add_column("params")
    table.add_column("reduction")
    if grouped:
        table.add_column(", ".join(results[0].group_by))
    table.add_column("rows", justify="right")
    table.add_column("skipped", justify="right")
    table.add_column("value", justify="right", style="bold green")
    for r in results:
        cols = [
            r.loss,
            params_text(r.params) or "-",
            f"{r.reduction} ({r.per})" if r.per != "all" else r.reduction,
        ]
        if grouped:
            cols.append("(all)")
        table.add_row(*cols, str(r.rows), str(r.skipped_rows), text(r.value))
        for g in r.groups:
            key = ", ".join("∅" if k is None else text(k) for k in g.key)
            table.add_row("", "", "", key, str(g.rows), "", text(g.value))
    files = ", ".join(results[0].files[:3]) + (" ..." if len(results[0].files) > 3 else "")
    table.caption = files
    console.print(table)


def render(
    results: Sequence[LossResult], fmt: str, env: Environment, *, many: bool = False
) -> None:
    """Write the results to stdout in ``fmt``."""
    if fmt == "table":
        print_table(results, env)
        return
    renderers = {
        "json": lambda: to_json(results, many=many),
        "ndjson": lambda: to_ndjson(results),
        "csv": lambda: to_csv(results),
        "markdown": lambda: to_markdown(results),
        "value": lambda: to_value(results),
    }
    env.stdout.write(renderers[fmt]() + "\n")
    env.stdout.flush()
