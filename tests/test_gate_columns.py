"""Gates over many groups as columns (gates.columns, report.gated) against the gates made one
GateResult at a time (rules.evaluate_each) and written by json.dumps / ElementTree: the same
verdicts and the same bytes, on random small results with NaN and infinite values, null keys,
text keys that need escaping and hostile strings."""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from losscli.engine import GroupTable, LossResult
from losscli.gates import rules
from losscli.gates.columns import Gates
from losscli.gates.confidence import ConfidenceSpec
from losscli.gates.rules import Baseline, Change, GateSpec, evaluate, evaluate_each
from losscli.gates.run import Check, Outcome
from losscli.report import ci, image, render
from losscli.report.gated import num_texts, percent_texts, signed_texts
from losscli.report.terminal import Environment
from tests.conftest import invoke, write_table

TEXT_KEYS = [
    "north", "south east", "a\"quote", "back\\slash", "tab\there", "new\nline", "é漢字🙂",
    "\x1b[31mred", "b\n::add-mask::x", "rlo\u202etxt", "nul\x00byte", "pipe|cell",
    "<img src=x>", "&amp;", "##[group]x", "::warning::y", "007", "1e5", "None", "nan", "-0",
    "$x$", "`code`", "[t](u)", "  padded  ", "",
]  # fmt: skip
SPECIAL_VALUES = [
    0.0, -0.0, math.nan, math.inf, -math.inf, 2.5, 1e-7, 9.999995e-5, 1e-4, 123456.5,
    999999.5, 1.234565, 1e12, 1e300, 5e-324, -3.75, 100000.0,
]  # fmt: skip


def _keys(rng: np.random.Generator, kind: str, n: int) -> tuple[list[str], list[object]]:
    if kind == "int":
        values = np.sort(rng.choice(10_000, n, replace=False)) - 5_000
        mask = np.zeros(n, dtype=bool)
        mask[-1] = rng.random() < 0.5  # a null key: its own group
        return ["k"], [pa.array(values, mask=mask)]
    if kind == "text":
        pool = [*TEXT_KEYS, *(f"store_{i:03d}" for i in range(40))]
        chosen = sorted(rng.choice(pool, min(n, len(pool)), replace=False).tolist())
        return ["seg"], [pa.array([*chosen, None][: max(n, 1)], pa.string())]
    if kind == "plain":
        return ["store"], [pa.array([f"store_{i:05d}" for i in range(n)], pa.string())]
    if kind == "none":  # a null key and the text "None": one testcase name, as objects have it
        return ["seg"], [pa.array(["None", "north", None], pa.string())]
    if kind == "python":
        return ["k"], [[None, 1.5, 'x"y', "t", *range(n)][:n]]
    # two columns: an integer and a text key
    words = [f"w{i}" for i in range(n)]
    return ["a", 'b"name'], [pa.array(np.arange(n)), pa.array(words, pa.string())]


def _values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    values = np.asarray(rng.random(shape) * 10.0 ** rng.integers(-6, 7, shape))
    special = rng.random(shape) < 0.3
    values[special] = rng.choice(SPECIAL_VALUES, int(special.sum()))
    return values


def _result(rng: np.random.Generator, kind: str, per_output: bool, hib: bool) -> LossResult:
    n = int(rng.integers(1, 30)) if kind != "text" else len(TEXT_KEYS)
    names, keys = _keys(rng, kind, n)
    n = len(keys[0])
    shape = (n, 2) if per_output else (n,)
    table = GroupTable(names, keys, rng.integers(1, 9, n), _values(rng, shape))
    total: object = [2.0, math.nan] if per_output else float(_values(rng, ())) or 1.0
    columns = {"pred": ["p1", 'p"2'] if per_output else ["p"], "target": ["t"]}
    per = "output" if per_output else "all"
    return LossResult(
        "mse", {}, "mean", per, columns, None, 99, 0, total, ["f.csv"], names, table, hib
    )


def _baseline(rng: np.random.Generator, result: LossResult) -> Baseline:
    groups = {}
    for g in result.groups:
        if rng.random() < 0.2:
            continue  # a group the baseline lacks: no baseline gate
        width = len(g.value) if isinstance(g.value, list) else 0
        if width and rng.random() < 0.2:
            width += 1  # another number of outputs: no baseline gate either
        base = _values(rng, (width,)).tolist() if width else float(_values(rng, ()))
        groups[rules._plain_key(g.key)] = base
    value = [1.0, 2.0] if isinstance(result.value, list) else 3.0
    return Baseline(value, groups, "base.json")


def _specs(rng: np.random.Generator) -> Iterator[GateSpec]:
    yield GateSpec(max=2.5)
    yield GateSpec(min=float(rng.choice([0.5, 0.0, 1e-5])))
    yield GateSpec(max=1e6, min=1e-3)
    yield GateSpec(max_increase=Change.parse("5%", "--max-increase"))
    yield GateSpec(max=3.0, max_increase=Change.parse("0.01", "--max-increase"))
    yield GateSpec(min_decrease=Change.parse("１0%", "--min-decrease"), min=0.1)


def _cases() -> Iterator[tuple[LossResult, GateSpec, Baseline | None]]:
    rng = np.random.default_rng(20261129)
    for _ in range(1):
        for kind in ("int", "text", "plain", "none", "python", "multi"):
            for per_output in (False, True):
                hib = bool(rng.random() < 0.3)
                result = _result(rng, kind, per_output, hib)
                for spec in _specs(rng):
                    baseline = _baseline(rng, result) if spec.needs_baseline else None
                    yield result, spec, baseline


CASES = list(_cases())


@pytest.fixture(autouse=True)
def _columns_from_one_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small results are written from the columns too (by default only from 2,048 groups,
    the standard library writes fewer without loading ``pyarrow.compute``)."""
    from losscli.gates import columns
    from losscli.report import gated

    monkeypatch.setattr(gated, "COLUMNAR_FROM", 1)
    monkeypatch.setattr(columns, "ARROW_FROM", 1)


def _objects(result: LossResult, spec: GateSpec, baseline: Baseline | None) -> list[object]:
    return evaluate_each(result, spec, baseline)


def test_columns_give_the_gates_one_at_a_time() -> None:
    for result, spec, baseline in CASES:
        columns = evaluate(result, spec, baseline)
        assert isinstance(columns, Gates)
        objects = evaluate_each(result, spec, baseline)
        assert len(columns) == len(objects)
        made = [json.dumps(g.to_dict()) for g in columns]
        assert made == [json.dumps(g.to_dict()) for g in objects]
        assert [g.passed for g in columns] == [g.passed for g in objects]
        assert columns.passed == all(g.passed for g in objects)
        assert columns.failed_count() == sum(not g.passed for g in objects)


def _documents(result: LossResult, gates: object, tables: bool = True) -> list[str]:
    check = Check("per <segment>", [Outcome(result, gates), Outcome(result, gates)])  # type: ignore[arg-type]
    return [
        render.to_json([result], many=False, gates=[gates]),  # type: ignore[list-item]
        render.to_json([result, result], many=True, gates=[gates, gates]),  # type: ignore[list-item]
        render.to_ndjson([result], gates=[gates]),  # type: ignore[list-item]
        ci.checks_json([check]),
        "\n".join(ci.failure_lines([check])),
        "\n".join(ci.github_error_lines([check])),
        ci.markdown_summary([check]),
        repr(ci.verdict_line([check])),
        re.sub(r' (time|timestamp)="[^"]*"', "", ci.junit_xml([check, check])),
        render.to_markdown([result], gates=[gates]),  # type: ignore[list-item]
        *(_tables(result, gates) if tables else []),
    ]


def _tables(result: LossResult, gates: object) -> list[str]:
    return [
        repr(image.report_data([result], None, [gates]).table_rows),  # type: ignore[list-item]
        _table(result, gates, render.TableView()),
        _table(result, gates, render.TableView(top=3, sort="value")),
    ]


def _table(result: LossResult, gates: object, view: render.TableView) -> str:
    out = io.StringIO()
    env = Environment(out, io.StringIO(), None, True, False, True, {})
    render.print_table([result], env, [gates], view)  # type: ignore[list-item]
    return out.getvalue()


def test_reports_from_columns_are_byte_identical() -> None:
    """JSON (indented, compact, several results, check files), failure lines, annotations
    and the step summary: the same text from the columns as from the objects."""
    for i, (result, spec, baseline) in enumerate(CASES):
        tables = i % 3 == 0  # rich tables are slow to draw: a third of the cases
        columnar = _documents(result, evaluate(result, spec, baseline), tables)
        reference = _documents(result, evaluate_each(result, spec, baseline), tables)
        for got, want in zip(columnar, reference, strict=True):
            assert got == want
        doc = json.loads(columnar[0])
        assert len(doc["gates"]) == len(evaluate_each(result, spec, baseline))


def test_gates_compare_as_lists() -> None:
    n = 5
    table = GroupTable(
        ["k"], [pa.array(np.arange(n))], np.ones(n, dtype=np.int64), np.arange(n) / 2
    )
    result = LossResult(
        "mse", {}, "mean", "all", {"pred": ["p"]}, None, n, 0, 1.0, ["f"], ["k"], table
    )
    columns = evaluate(result, GateSpec(max=1.0))
    assert columns == evaluate_each(result, GateSpec(max=1.0)) and len(columns) == n + 1
    assert columns != evaluate_each(result, GateSpec(max=1.5))
    assert columns[-1].reason == "mse [k=4] = 2 > max 1" and columns[1:3][0].passed


def test_confidence_gates_stay_objects() -> None:
    result = CASES[0][0]
    gates = evaluate(result, GateSpec(max=2.5, confidence=ConfidenceSpec(0.95)))
    assert gates.groups is None and len(gates.total) == 1 + len(result.groups)


def test_many_groups_list_the_worst_and_count_the_rest() -> None:
    """Past the caps, failure lines, annotations and the summary name the worst groups (as
    :func:`ci.worst_first` orders every failure) and count the others."""
    rng = np.random.default_rng(7)
    n = 3_000
    table = GroupTable(["k"], [pa.array(np.arange(n))], np.ones(n, dtype=np.int64), rng.random(n))
    result = LossResult(
        "mse", {}, "mean", "all", {"pred": ["p"]}, None, n, 0, 0.5, ["f"], ["k"], table
    )
    spec = GateSpec(max=0.25)
    columns = evaluate(result, spec)
    objects = evaluate_each(result, spec)
    failed = [g for g in objects if not g.passed]
    check = Check("c", [Outcome(result, columns)], named=False)
    lines = ci.failure_lines([check])
    worst = ci.worst_first([g for g in failed if g.group])
    assert lines[0] == "mse = 0.5 > max 0.25"
    assert lines[1:11] == [g.reason for g in worst[:10]]
    assert lines[11:] == [
        f"… and {len(worst) - 10} more group failures (every group is in the JSON and JUnit reports)"
    ]
    annotations = ci.github_error_lines([check])
    assert len(annotations) == 1 + ci.ANNOTATED_GROUP_FAILURES + 1
    assert annotations[-1].endswith(
        f"… and {len(worst) - ci.ANNOTATED_GROUP_FAILURES} more group failures (every group is in the JSON and JUnit reports)"
    )
    summary = ci.markdown_summary([check])
    table_rows = [line for line in summary.splitlines() if line.startswith("| c |")]
    assert len(table_rows) == 1 + ci.SUMMARY_GROUP_ROWS + 1
    assert (
        f"… {n - ci.SUMMARY_GROUP_ROWS} more group gates, {len(worst) - ci.SUMMARY_GROUP_ROWS} of them failed"
        in summary
    )
    assert ci.verdict_line([check]) == (False, f"{len(failed)} of {n + 1} gates failed")


@pytest.mark.parametrize(
    "function, fmt", [(num_texts, None), (signed_texts, "+.6g"), (percent_texts, "+.2%")]
)
def test_number_texts_match_python(function: object, fmt: str | None) -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    values = np.concatenate(
        [
            rng.random(n) * 10.0 ** rng.integers(-9, 10, n),
            -rng.random(n) * 10.0 ** rng.integers(-9, 10, n),
            np.round(rng.random(n) * 10.0 ** rng.integers(0, 7, n), int(rng.integers(0, 6))),
            rng.integers(-(10**6), 10**6, n) / 2.0 ** rng.integers(0, 12, n),
            SPECIAL_VALUES,
            np.nextafter(np.array([1e-4, 1e6, 999999.5, 0.5, 1.234565]), np.inf),
            np.nextafter(np.array([1e-4, 1e6, 999999.5, 0.5, 1.234565]), -np.inf),
        ]
    )
    with np.errstate(over="ignore"):
        got = function(values).to_pylist()  # type: ignore[operator]
    want = [rules.num(v) if fmt is None else format(v, fmt) for v in values.tolist()]
    assert got == want


def test_cli_gated_groups_same_as_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the CLI (a loss command with JSON, JUnit and the step summary, and a check
    file with group_by): the columnar gates write what the gate objects wrote."""
    rng = np.random.default_rng(11)
    n = 600
    seg = [TEXT_KEYS[i % len(TEXT_KEYS)] + f"-{i % 97}" for i in range(n)]
    data = write_table(
        tmp_path / "d.parquet",
        {
            "pred": rng.random(n) * 3,
            "target": np.zeros(n),
            "seg": seg,
            "k": rng.integers(0, 300, n),
        },
    )
    other = write_table(
        tmp_path / "other.parquet",
        {
            "pred": rng.random(n) * 3,
            "target": np.zeros(n),
            "seg": seg,
            "k": rng.integers(0, 320, n),
        },
    )
    base = tmp_path / "base.json"
    base.write_text(invoke(["mse", str(data), "-g", "k", "--format", "json"]).out)
    toml = tmp_path / "losscli.toml"
    toml.write_text(
        f'[[check]]\nname = "by k"\nfile = "{data}"\nloss = "mse"\ngroup_by = "k"\nmax = 2\n'
        f'[[check]]\nname = "by seg"\nfile = "{data}"\nloss = "mae"\ngroup_by = ["seg", "k"]\nmin = 0.3\n'
    )
    runs = [
        ["mse", str(data), "-g", "seg", "--max", "2", "--format", "json"],
        ["mse", str(data), "-g", "k", "--max", "1.5", "--min", "0.2", "--format", "ndjson"],
        [
            "mse",
            str(data),
            "-g",
            "k",
            "--baseline",
            str(base),
            "--max-increase",
            "1%",
            "--format",
            "json",
        ],
        [
            "mae",
            str(data),
            "-g",
            "seg",
            "-g",
            "k",
            "--baseline",
            str(other),
            "--max-increase",
            "0.2",
        ],
        ["check", str(toml), "--format", "json"],
        ["check", str(toml), "--format", "markdown"],
    ]

    def outputs() -> list[tuple[object, ...]]:
        out = []
        for i, args in enumerate(runs):
            junit, summary = tmp_path / f"j{i}.xml", tmp_path / f"s{i}.md"
            summary.write_text("")
            result = invoke(
                [*args, "--junit", str(junit)], env={"GITHUB_STEP_SUMMARY": str(summary)}
            )
            xml = re.sub(r' (time|timestamp)="[^"]*"', "", junit.read_text())
            out.append((result.code, result.out, result.err, xml, summary.read_text()))
        return out

    columnar = outputs()
    from losscli.gates import run

    monkeypatch.setattr(run, "evaluate", lambda r, s, b=None: Gates(evaluate_each(r, s, b)))
    reference = outputs()
    for got, want in zip(columnar, reference, strict=True):
        assert got == want
    assert [code for code, *_ in columnar] == [1, 1, 0, 1, 1, 1]
