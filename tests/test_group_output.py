"""Grouped results as columns (losscli.engine.GroupTable) and their streamed output
(losscli.report.grouped): JSON, NDJSON, CSV and value lines written piece by piece from the
columns are byte for byte what the materialised objects give through ``json.dumps`` and the
``csv`` module; numbers read as Python's ``repr``; the table picks its worst groups as a sort
of the objects would."""

from __future__ import annotations

import csv
import heapq
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from losscli import engine
from losscli.catalogue import lookup
from losscli.engine import GroupResult, GroupTable, LossResult
from losscli.report import grouped, render
from tests.conftest import write_table

HOSTILE = [
    "plain",
    "007",
    "1e3",
    "-2.5",
    "a\nb",
    "esc\x1b[31m",
    'q"uote',
    "com,ma",
    "bidi\u202e",
    "back\\slash",
    "cr\rhere",
    "  12 ",
    "nan",
    "inf",
    "ünï",
    "",
    "\u0661\u0662",
    "::error::x",
]
#: per-group error scales: values across every form ``repr`` has (fixed, exponent, whole)
SCALES = [0.0, 1e-7, 3e-5, 0.01, 0.5, 1.0, 2.0, 7.0, 1e4, 3e5, 1e9, 4e10, 1e17, 1e30, 1e-160]


def _data(tmp_path: Path, n: int = 700) -> Path:
    rng = np.random.default_rng(11)
    kint = rng.integers(-3, 40, n)
    scale = np.array(SCALES)[kint % len(SCALES)]
    target = rng.standard_normal(n)
    texts = [HOSTILE[i % len(HOSTILE)] if i % 29 else None for i in range(n)]
    return write_table(
        tmp_path / "g.parquet",
        {
            "pred": target + scale * np.where(rng.random(n) < 0.5, 1.0, -1.0),
            "target": target,
            "pred2": target * 2 + rng.standard_normal(n),
            "target2": target * 2,
            "w": rng.uniform(0.5, 2.0, n),
            "kint": kint,
            "knull": [None if i % 7 == 0 else int(k) for i, k in enumerate(kint)],
            "kstr": texts,
            "kfloat": (kint % 5) / 4.0,
            "kbool": kint % 3 == 0,
            "kname": [f"store_{k:03d}" for k in kint],
        },
    )


def _run(path: Path, names: list[str], group_by: str, **options: Any) -> list[LossResult]:
    per = options.pop("per", "all")
    roles = {"pred": options.pop("pred", ["pred"]), "target": options.pop("target", ["target"])}
    requests = [
        engine.LossRequest(lookup(name), {}, {r: ",".join(c) for r, c in roles.items()})
        for name in names
    ]
    run_options = engine.RunOptions(files=[str(path)], group_by=group_by, per=per, **options)
    return engine.run(requests, run_options)


def _materialised_json(results: list[LossResult], many: bool, indent: int | None) -> str:
    dicts = [render.result_dict(r) for r in results]  # groups as a list of objects
    doc: dict[str, Any]
    if many:
        doc = {"schema_version": 1, "results": dicts}
    else:
        doc = {"schema_version": 1, **dicts[0]}
    return json.dumps(doc, indent=indent, allow_nan=False)


def _materialised_csv(results: list[LossResult]) -> str:
    """The CSV as the renderer wrote it from one object per group."""
    buf = io.StringIO()
    per_output = any(isinstance(r.value, list) for r in results)
    out = csv.writer(buf, lineterminator="\n")
    quoted = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    group_by = results[0].group_by
    output = ["output"] if per_output else []
    out.writerow(
        ["loss", "params", "reduction", "per", *group_by, *output, "rows", "skipped_rows", "value"]
    )
    for r in results:
        entries = [([""] * len(group_by), r.rows, r.value)] + [
            (["" if k is None else render.text(k) for k in g.key], g.rows, g.value)
            for g in r.groups
        ]
        for key, rows, value in entries:
            values = value if isinstance(value, list) else [value]
            labels = engine.output_labels(r, len(values)) if isinstance(value, list) else [""]
            for label, v in zip(labels, values, strict=True):
                row = [r.loss, render.params_text(r.params), r.reduction, r.per, *key]
                row += [*([label] if per_output else []), rows, r.skipped_rows, repr(v)]
                (quoted if any("\r" in str(f) for f in row) else out).writerow(row)
    return buf.getvalue().rstrip("\n")


CASES = {
    "int key": (["mse"], "kint", {}),
    "int key with nulls, weighted": (["mae"], "knull", {"weight": "w"}),
    "text keys": (["mse"], "kname", {}),
    "hostile text keys": (["mse"], "kstr", {}),
    "float and bool keys": (["mse"], "kfloat,kbool", {}),
    "three key columns": (["mse"], "kstr,knull,kbool", {}),
    "per output": (
        ["rmse"],
        "kint",
        {"per": "output", "pred": ["pred", "pred2"], "target": ["target", "target2"]},
    ),
    "eval, mixed outputs": (
        ["rmse", "mse", "r2"],
        "knull",
        {"per": "output", "pred": ["pred", "pred2"], "target": ["target", "target2"]},
    ),
    "eval": (["mse", "mae", "max_error", "r2"], "kint", {}),
}


@pytest.fixture(params=[(1, 7), (1, 1000), (10_000, 16_384)], ids=["pieces", "one", "small"])
def layout(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Columnar from the first group, in pieces of 7 (mixing plain and escaped pieces), in
    one piece; or the standard library's path for small tables."""
    columnar_from, piece = request.param
    monkeypatch.setattr(grouped, "COLUMNAR_FROM", columnar_from)
    monkeypatch.setattr(grouped, "PIECE", piece)


@pytest.mark.parametrize("case", CASES)
def test_streamed_output_equals_the_materialised_output(
    tmp_path: Path, case: str, layout: None
) -> None:
    names, group_by, options = CASES[case]
    results = _run(_data(tmp_path), names, group_by, **options)
    assert len(results[0].groups) > 7
    many = len(results) > 1
    assert render.to_json(results, many=many) == _materialised_json(results, many, 2)
    ndjson = [
        json.dumps({"schema_version": 1, **render.result_dict(r)}, allow_nan=False) for r in results
    ]
    assert render.to_ndjson(results) == "\n".join(ndjson)
    assert render.to_csv(results) == _materialised_csv(results)
    for r in results:  # and the JSON reads back as the values, keys and rows
        doc = json.loads(render.to_json([r], many=False))
        assert [g["rows"] for g in doc["groups"]] == r.groups.rows.tolist()
        got = np.array([np.nan if v is None else v for v in _flat(doc["groups"])], dtype=float)
        assert np.array_equal(got, r.groups.values.ravel(), equal_nan=True)


def _flat(groups: list[dict[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for g in groups:
        out += g["value"] if isinstance(g["value"], list) else [g["value"]]
    return out


def test_value_lines_and_markdown_match_one_group_at_a_time(tmp_path: Path, layout: None) -> None:
    results = _run(_data(tmp_path), ["mse", "mae"], "kstr,kint", nan="propagate")
    lines = []
    for r in results:
        lines.append(f"{r.loss}\t{render.text(r.value)}")
        for g in r.groups:
            key = ",".join(
                "" if k is None else render.sanitize.visible(render.text(k)) for k in g.key
            )
            lines.append(f"{r.loss}\t{key}\t{render.text(g.value)}")
    assert render.to_value(results) == "\n".join(lines)
    assert "\n" not in "".join(line.split("\t")[1] for line in lines[1:])  # keys escaped
    markdown = render.to_markdown(results).splitlines()
    assert len(markdown) == 2 + sum(1 + len(r.groups) for r in results)
    assert all(line.count(" | ") == 5 for line in markdown[2:])  # no key splits a cell


def test_numbers_read_as_pythons_repr() -> None:
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2**63, 200_000, dtype=np.int64) * np.where(
        rng.random(200_000) < 0.5, 1, -1
    )
    special = [0.0, -0.0, 1e-4, np.nextafter(1e-4, 0), 1e10, np.nextafter(1e10, 0), 1e16, 2.0**53]
    special += [5e-324, 1.7976931348623157e308, 0.1, 1 / 3, 100.0, 12345.0, 1e-5, 123456789.5]
    values = np.concatenate(
        [
            bits.view(np.float64),
            rng.standard_normal(100_000) * 10.0 ** rng.uniform(-6, 12, 100_000),
            np.round(rng.random(50_000) * 10.0 ** rng.integers(0, 12, 50_000)),
            special,
            [np.nan, np.inf, -np.inf],
        ]
    )
    want = [repr(v) for v in values.tolist()]
    assert grouped.float_texts(values).to_pylist() == want
    as_json = ["null" if not math.isfinite(v) else repr(v) for v in values.tolist()]
    assert grouped.float_texts(values, "null").to_pylist() == as_json


def _table(values: np.ndarray) -> GroupTable:
    n = len(values)
    return GroupTable(["k"], [list(range(n))], np.ones(n, dtype=np.int64), values)


@pytest.mark.parametrize("higher_is_better", [False, True])
@pytest.mark.parametrize("outputs", [1, 3])
def test_the_worst_groups_are_those_a_sort_of_the_objects_finds(
    higher_is_better: bool, outputs: int
) -> None:
    rng = np.random.default_rng(5)
    values = rng.integers(0, 20, (500, outputs)).astype(float)  # many ties
    values[rng.integers(0, 500, 15), rng.integers(0, outputs, 15)] = np.nan
    if outputs == 1:
        values = values[:, 0]
    table = _table(values)
    sign = -1.0 if higher_is_better else 1.0

    def badness(g: GroupResult) -> float:
        vs = g.value if isinstance(g.value, list) else [g.value]
        return math.inf if any(v != v for v in vs) else max(sign * v for v in vs)

    groups = list(table)
    for top in (1, 10, 499, None):
        want = (
            heapq.nlargest(top, groups, key=badness)
            if top is not None
            else sorted(groups, key=badness, reverse=True)
        )
        got = table.take(table.worst(higher_is_better, top))
        assert [g.key for g in got] == [g.key for g in want]


def test_a_group_table_reads_like_a_list_of_groups(tmp_path: Path) -> None:
    (result,) = _run(_data(tmp_path), ["mse"], "kstr,kint")
    table = result.groups
    groups = list(table)
    assert len(groups) == len(table) and table[-1].key == groups[-1].key
    assert [g.key for g in table[3:9]] == [g.key for g in groups[3:9]]
    assert [(g.key, g.rows, g.value) for g in GroupTable.of(table.names, groups)] == [
        (g.key, g.rows, g.value) for g in groups
    ]
    picked = table.take(np.array([5, 0, 2]))
    assert [g.key for g in picked] == [groups[i].key for i in (5, 0, 2)]
    with pytest.raises(IndexError):
        table[len(table)]


def test_check_json_streams_its_groups_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import invoke

    data = _data(tmp_path)
    gate_file = tmp_path / "losscli.toml"
    gate_file.write_text(
        f'[defaults]\nfile = "{data}"\npred = "pred"\ntarget = "target"\n'
        '[[check]]\nloss = "mse"\ngroup_by = "kstr,kint"\nmax = 1e70\n'
        '[[check]]\nloss = "mae"\ngroup_by = "kint"\n'
    )
    args = ["check", str(gate_file), "--format", "json", "--no-ci-report"]
    through_json = invoke(args)  # few groups: json.dumps of each group's object
    assert through_json.code == 0, through_json.err
    monkeypatch.setattr(grouped, "COLUMNAR_FROM", 1)
    monkeypatch.setattr(grouped, "PIECE", 5)
    from_columns = invoke(args)
    assert from_columns.out == through_json.out
    assert len(from_columns.json["checks"][0]["groups"]) > 100
