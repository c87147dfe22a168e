"""Gates: thresholds on the value and every group, NaN, baselines in every form, the verdict in
each output format, and the exit code of every outcome (SPEC §5)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from losscli.engine import GroupResult, LossResult
from losscli.errors import UsageError
from losscli.gates.rules import (
    Baseline,
    Change,
    GateSpec,
    baseline_from_json,
    check_direction,
    evaluate,
    verdict_text,
)
from tests.conftest import invoke, write_table

# squared errors 1, 4, 0, 9: mse 3.5; group x (rows 1, 3) 0.5, group y (rows 2, 4) 6.5
PRED = [1.0, 3.0, 0.5, 10.0]
TARGET = [2.0, 1.0, 0.5, 7.0]
# a baseline model 0.5 closer on every row: errors 0.5, 1.5, 0.5, 2.5 → mse 2.25
OLD = [1.5, 2.5, 1.0, 9.5]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_table(
        tmp_path / "d.parquet",
        {"pred": PRED, "target": TARGET, "old": OLD, "seg": ["x", "y", "x", "y"]},
    )


def _result(
    value: float | list[float], groups: dict[str, float] | None = None, *, hib: bool = False
) -> LossResult:
    return LossResult(
        loss="r2" if hib else "mse",
        params={},
        reduction="mean",
        per="all",
        columns={"pred": ["p1", "p2"] if isinstance(value, list) else ["pred"], "target": ["t"]},
        weight=None,
        rows=10,
        skipped_rows=0,
        value=value,
        files=["d.csv"],
        group_by=["seg"] if groups else [],
        groups=[GroupResult((k,), 5, v) for k, v in (groups or {}).items()],
        higher_is_better=hib,
    )


# -- pure evaluation ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "amount", "relative"),
    [
        ("5%", 0.05, True),
        (" 2.5 % ", 0.025, True),
        ("0.01", 0.01, False),
        (0.01, 0.01, False),
        ("0", 0.0, False),
    ],
)
def test_change_parse(text: str | float, amount: float, relative: bool) -> None:
    change = Change.parse(text, "--max-increase")
    assert (change.amount, change.relative) == (pytest.approx(amount), relative)


@pytest.mark.parametrize("text", ["-1", "abc", "nan", "inf", "-5%", "%"])
def test_change_parse_rejects(text: str) -> None:
    with pytest.raises(UsageError, match=r"--max-increase must be a number ≥ 0 or a percentage"):
        Change.parse(text, "--max-increase")


def test_change_allowed_is_relative_to_the_baseline_magnitude() -> None:
    assert Change.parse("10%", "x").allowed(-20.0) == pytest.approx(2.0)
    assert Change.parse("0.5", "x").allowed(-20.0) == 0.5


#: (gate, group, passed) for max 5 / min 1 on a total of 3.5 and groups x = 0.5, y = 6.5
#: (the CLI test gates the same data at max 4).
MAX_MIN_VERDICTS = [
    ("max", None, True),
    ("min", None, True),
    ("max", {"seg": "x"}, True),
    ("min", {"seg": "x"}, False),
    ("max", {"seg": "y"}, False),
    ("min", {"seg": "y"}, True),
]


def test_max_and_min_on_total_and_each_group() -> None:
    gates = evaluate(_result(3.5, {"x": 0.5, "y": 6.5}), GateSpec(max=5.0, min=1.0))
    assert [(g.name, g.group, g.passed) for g in gates] == MAX_MIN_VERDICTS
    assert gates[3].reason == "mse [seg=x] = 0.5 < min 1"
    assert gates[4].reason == "mse [seg=y] = 6.5 > max 5"
    assert gates[0].reason == "mse = 3.5 <= max 5"


def test_bounds_are_inclusive() -> None:
    assert all(g.passed for g in evaluate(_result(3.5), GateSpec(max=3.5, min=3.5)))


def test_nan_fails_every_gate() -> None:
    base = Baseline(1.0)
    spec = GateSpec(max=math.inf, min=-math.inf, max_increase=Change.parse("100%", "x"))
    gates = evaluate(_result(math.nan), spec, base)
    assert [(g.name, g.passed) for g in gates] == [
        ("max", False),
        ("min", False),
        ("max_increase", False),
    ]
    assert gates[0].reason == "mse is NaN: a NaN result fails every gate (max inf)"
    assert gates[0].to_dict()["value"] is None  # never a bare NaN in JSON


def test_nan_baseline_fails() -> None:
    gates = evaluate(
        _result(1.0), GateSpec(max_increase=Change.parse("5%", "x")), Baseline(math.nan)
    )
    assert [g.passed for g in gates] == [False]
    assert "NaN baseline" in gates[0].reason


def test_per_output_values_are_gated_one_by_one() -> None:
    gates = evaluate(_result([1.0, 4.0]), GateSpec(max=2.0))
    assert [(g.group, g.passed) for g in gates] == [
        ({"output": "p1"}, True),
        ({"output": "p2"}, False),
    ]


def test_max_increase_absolute_and_relative() -> None:
    result = _result(10.5, {"x": 10.0, "y": 12.0})
    base = Baseline(10.0, {("x",): 10.0, ("y",): 10.0})
    relative = evaluate(result, GateSpec(max_increase=Change.parse("5%", "x")), base)
    assert [(g.group, g.threshold, g.passed) for g in relative] == [
        (None, pytest.approx(10.5), True),  # exactly at the limit passes
        ({"seg": "x"}, pytest.approx(10.5), True),
        ({"seg": "y"}, pytest.approx(10.5), False),
    ]
    assert relative[2].reason == (
        "mse [seg=y] = 12, +2 (+20.00%) vs the baseline 10: rose more than max_increase 5% (limit 10.5)"
    )
    absolute = evaluate(result, GateSpec(max_increase=Change.parse("0.4", "x")), base)
    assert [g.passed for g in absolute] == [False, True, False]
    assert absolute[0].to_dict() == {
        "name": "max_increase",
        "threshold": 10.4,
        "value": 10.5,
        "group": None,
        "passed": False,
        "reason": "mse = 10.5, +0.5 (+5.00%) vs the baseline 10: rose more than max_increase 0.4 (limit 10.4)",
        "baseline": 10.0,
        "allowed": "0.4",
    }


def test_group_missing_from_the_baseline_is_not_compared() -> None:
    gates = evaluate(
        _result(1.0, {"x": 1.0, "new": 50.0}),
        GateSpec(max_increase=Change.parse("1%", "x")),
        Baseline(1.0, {("x",): 1.0}),
    )
    assert [g.group for g in gates] == [None, {"seg": "x"}]


def test_direction_comes_from_higher_is_better() -> None:
    spec = GateSpec(max_increase=Change.parse("1%", "x"), min_decrease=Change.parse("0.01", "x"))
    loss = evaluate(_result(2.0), spec, Baseline(1.0))
    assert [(g.name, g.passed) for g in loss] == [("max_increase", False)]  # a rise is worse
    r2 = evaluate(_result(0.70, hib=True), spec, Baseline(0.75))
    assert [(g.name, g.threshold, g.passed) for g in r2] == [
        ("min_decrease", pytest.approx(0.74), False)
    ]
    assert r2[0].reason.startswith("r2 = 0.7, -0.05 (-6.67%) vs the baseline 0.75: fell more than")
    assert evaluate(_result(0.9, hib=True), spec, Baseline(0.75))[0].passed  # a rise is fine


def test_check_direction() -> None:
    with pytest.raises(UsageError, match=r"but r2 is higher-is-better .* with --min-decrease$"):
        check_direction(GateSpec(max_increase=Change.parse("1%", "x")), [("r2", True)])
    with pytest.raises(UsageError, match="mse is lower-is-better"):
        check_direction(GateSpec(min_decrease=Change.parse("1%", "x")), [("mse", False)])
    # several losses: each option applies to the losses of its direction
    check_direction(
        GateSpec(max_increase=Change.parse("1%", "x"), min_decrease=Change.parse("1%", "x")),
        [("mse", False), ("r2", True)],
    )


def test_verdict_text() -> None:
    gates = evaluate(_result(3.5), GateSpec(max=1.0, min=5.0))
    assert verdict_text(gates) == "FAIL max, min"
    assert verdict_text(gates[:0]) == "-"
    assert verdict_text(evaluate(_result(3.5), GateSpec(max=4.0))) == "pass"


def test_baseline_from_json_single_eval_and_check(tmp_path: Path) -> None:
    single = tmp_path / "single.json"
    single.write_text(json.dumps({
        "schema_version": 1, "loss": "mse", "params": {}, "reduction": "mean", "per": "all",
        "value": 2.0, "group_by": ["seg"],
        "groups": [{"key": {"seg": "x"}, "rows": 2, "value": 1.0}, {"key": {"seg": 7}, "rows": 2, "value": None}],
    }))  # fmt: skip
    base = baseline_from_json(str(single), "mse", {}, "mean", "all", ["seg"])
    assert base.value == 2.0
    assert base.groups[("x",)] == 1.0
    assert math.isnan(base.groups[("7",)])
    many = tmp_path / "many.json"
    many.write_text(json.dumps({"schema_version": 1, "results": [
        {"loss": "huber", "params": {"delta": 1.0}, "reduction": "mean", "per": "all", "value": 5.0},
        {"loss": "huber", "params": {"delta": 2}, "reduction": "mean", "per": "all", "value": 6.0},
    ]}))  # fmt: skip
    assert baseline_from_json(str(many), "huber", {"delta": 2.0}, "mean", "all", []).value == 6.0
    with pytest.raises(
        UsageError,
        match=r"no baseline for huber\(delta=3.0\) mean, --per all; "
        r"the file holds: huber\(delta=1.0\) mean, huber\(delta=2\) mean",
    ):
        baseline_from_json(str(many), "huber", {"delta": 3.0}, "mean", "all", [])
    with pytest.raises(UsageError, match="no baseline for mse"):
        baseline_from_json(str(many), "mse", {}, "sum", "all", [])


# -- through the CLI ------------------------------------------------------------------------
def test_passing_gate_json_and_exit_0(data: Path) -> None:
    result = invoke(["mse", str(data), "--max", "4", "--min", "3"])
    assert (result.code, result.err) == (0, "")
    doc = result.json
    assert doc["value"] == 3.5
    assert doc["passed"] is True
    assert doc["gates"] == [
        {
            "name": "max",
            "threshold": 4.0,
            "value": 3.5,
            "group": None,
            "passed": True,
            "reason": "mse = 3.5 <= max 4",
        },
        {
            "name": "min",
            "threshold": 3.0,
            "value": 3.5,
            "group": None,
            "passed": True,
            "reason": "mse = 3.5 >= min 3",
        },
    ]


def test_failing_group_exit_1_one_line_per_failure(data: Path) -> None:
    result = invoke(["mse", str(data), "-g", "seg", "--max", "4", "--min", "1"])
    assert result.code == 1
    assert result.err.splitlines() == [  # worst first: 6.5 is 62.5% over 4, 0.5 50% under 1
        "losscli: gate failed: mse [seg=y] = 6.5 > max 4",
        "losscli: gate failed: mse [seg=x] = 0.5 < min 1",
    ]
    doc = result.json  # stdout still holds the complete result
    assert doc["passed"] is False
    assert [(g["name"], g["group"], g["passed"]) for g in doc["gates"]] == MAX_MIN_VERDICTS


def test_nan_result_fails_the_gate(tmp_path: Path) -> None:
    path = write_table(tmp_path / "n.csv", {"pred": [1.0, None], "target": [1.0, 2.0]})
    result = invoke(["mse", str(path), "--nan", "propagate", "--max", "1e300"])
    assert result.code == 1
    assert result.json["value"] is None
    assert result.json["gates"][0]["passed"] is False
    assert (
        result.err
        == "losscli: gate failed: mse is NaN: a NaN result fails every gate (max 1e+300)\n"
    )


def test_verdict_in_table_markdown_and_ndjson(data: Path) -> None:
    table = invoke(["mse", str(data), "-g", "seg", "--max", "4", "-f", "table"])
    assert table.code == 1
    lines = table.out.splitlines()
    assert "gate" in lines[0]
    assert [line.split()[-1] for line in lines[1:4]] == ["pass", "pass", "max"]  # "FAIL max"
    assert "FAIL max" in lines[3]
    markdown = invoke(["mse", str(data), "-g", "seg", "--max", "4", "-f", "markdown"]).out
    assert markdown.splitlines() == [
        "| loss | params | reduction | group | rows | value | gate |",
        "| --- | --- | --- | --- | ---: | ---: | --- |",
        "| mse |  | mean | all | 4 | 3.5 | pass |",
        "| mse |  | mean | seg=x | 2 | 0.5 | pass |",
        "| mse |  | mean | seg=y | 2 | 6.5 | FAIL max |",
    ]
    ndjson = json.loads(invoke(["mse", str(data), "--max", "4", "-f", "ndjson"]).out)
    assert (ndjson["passed"], len(ndjson["gates"])) == (True, 1)


def test_ungated_output_has_no_gate_fields(data: Path) -> None:
    doc = invoke(["mse", str(data)]).json
    assert "gates" not in doc and "passed" not in doc
    assert "gate" not in invoke(["mse", str(data), "-f", "markdown"]).out


def test_value_format_keeps_bare_numbers(data: Path) -> None:
    result = invoke(["mse", str(data), "--max", "3", "-f", "value"])
    assert (result.code, result.out) == (1, "3.5\n")
    assert result.err == "losscli: gate failed: mse = 3.5 > max 3\n"


def test_baseline_pred_column_in_the_same_file(data: Path) -> None:
    # candidate 3.5 vs baseline 2.25: +55.6 %
    ok = invoke(["mse", str(data), "--baseline-pred", "old", "--max-increase", "60%"])
    assert ok.code == 0
    gate = ok.json["gates"][0]
    assert (gate["name"], gate["baseline"], gate["threshold"], gate["allowed"]) == (
        "max_increase", 2.25, pytest.approx(3.6), "60%",
    )  # fmt: skip
    bad = invoke(
        ["mse", str(data), "--baseline-pred", "old", "--max-increase", "1.0", "-f", "value"]
    )
    assert bad.code == 1
    assert bad.err == (
        "losscli: gate failed: mse = 3.5, +1.25 (+55.56%) vs the baseline 2.25: "
        "rose more than max_increase 1.0 (limit 3.25)\n"
    )


def test_baseline_predictions_file_with_groups(tmp_path: Path, data: Path) -> None:
    old = write_table(
        tmp_path / "old.csv", {"pred": OLD, "target": TARGET, "seg": ["x", "y", "x", "y"]}
    )
    result = invoke(
        ["mse", str(data), "--baseline", str(old), "-g", "seg", "--max-increase", "0.5"]
    )
    assert result.code == 1
    gates = result.json["gates"]
    # baseline groups: x (0.25, 0.25) → 0.25; y (2.25, 6.25) → 4.25
    assert [(g["group"], g["baseline"], g["passed"]) for g in gates] == [
        (None, 2.25, False),
        ({"seg": "x"}, 0.25, True),
        ({"seg": "y"}, 4.25, False),
    ]
    # the baseline file under another column name
    renamed = write_table(tmp_path / "old2.parquet", {"yhat_v1": OLD, "target": TARGET})
    assert invoke(["mse", str(data), "--baseline", str(renamed), "--baseline-pred", "yhat_v1",
                   "--max-increase", "2"]).code == 0  # fmt: skip


def test_baseline_predictions_file_missing_column_is_usage_error(
    tmp_path: Path, data: Path
) -> None:
    other = write_table(tmp_path / "o.csv", {"yhat_v1": OLD, "target": TARGET})
    result = invoke(["mse", str(data), "--baseline", str(other), "--max-increase", "1"])
    assert result.code == 2
    assert "--baseline-pred COL" in result.err
    assert len(result.err.splitlines()) == 1


def test_baseline_json_from_an_earlier_run(tmp_path: Path, data: Path) -> None:
    earlier = write_table(tmp_path / "earlier.parquet", {"pred": OLD, "target": TARGET})
    saved = tmp_path / "baseline.json"
    saved.write_text(invoke(["eval", str(earlier), "-m", "mse", "-m", "r2"]).out)
    worse = invoke(["mse", str(data), "--baseline", str(saved), "--max-increase", "10%"])
    assert worse.code == 1
    assert worse.json["gates"][0]["baseline"] == 2.25
    # r2 fell: higher-is-better, so --min-decrease is its gate
    r2 = invoke(["r2", str(data), "--baseline", str(saved), "--min-decrease", "0.05"])
    assert r2.code == 1
    assert r2.json["gates"][0]["name"] == "min_decrease"
    assert r2.json["gates"][0]["value"] < r2.json["gates"][0]["baseline"]
    # a single-result JSON works too
    single = tmp_path / "single.json"
    single.write_text(invoke(["mse", str(earlier)]).out)
    assert invoke(["mse", str(data), "--baseline", str(single), "--max-increase", "100%"]).code == 0


def test_eval_with_gates_has_top_level_passed(data: Path) -> None:
    result = invoke(["eval", str(data), "-m", "mse", "-m", "l1", "--max", "3"])
    assert result.code == 1
    doc = result.json
    assert doc["passed"] is False
    assert [(r["loss"], r["passed"]) for r in doc["results"]] == [("mse", False), ("l1", True)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--max-increase", "5%"],
            "compare with a baseline: add --baseline FILE or --baseline-pred COL",
        ),
        (["--baseline-pred", "old"], "a baseline needs a gate to compare with it"),
        (["--baseline-pred", "old", "--min-decrease", "1"], "mse is lower-is-better"),
        (
            ["--baseline-pred", "old", "--max-increase", "five"],
            "--max-increase must be a number ≥ 0",
        ),
        (["--max", "1", "-r", "none"], "gates need a reduced value"),
        (["--max", "abc"], "'abc' is not a valid float"),
        (["--baseline-pred", "nope", "--max-increase", "1"], "column 'nope' not found"),
    ],
)
def test_gate_usage_errors_exit_2(data: Path, args: list[str], message: str) -> None:
    result = invoke(["mse", str(data), *args])
    assert result.code == 2
    assert message in result.err
    assert result.out == ""


def test_r2_max_increase_is_a_usage_error(data: Path) -> None:
    result = invoke(["r2", str(data), "--baseline-pred", "old", "--max-increase", "1%"])
    assert result.code == 2
    assert "r2 is higher-is-better" in result.err and "--min-decrease" in result.err


def test_many_failing_groups_worst_first_and_the_rest_counted(tmp_path: Path) -> None:
    """Every group is gated; stderr names the ten worst failures, then counts the rest."""
    n_groups = 25
    errors = np.arange(1, n_groups + 1, dtype=float)  # group g's MSE is (g+1)²
    rng = np.random.default_rng(3)
    seg = rng.permutation(n_groups)
    path = write_table(
        tmp_path / "many.csv",
        {"pred": errors[seg], "target": np.zeros(n_groups), "seg": [f"s{g:02d}" for g in seg]},
    )
    result = invoke(["mse", str(path), "-g", "seg", "--max", "30.5", "-f", "json"])
    assert result.code == 1
    failing = [g for g in range(n_groups) if (g + 1) ** 2 > 30.5]  # 20 groups: 6² … 25²
    lines = result.err.splitlines()
    worst = sorted(failing, reverse=True)[:10]
    assert lines[0] == "losscli: gate failed: mse = 221 > max 30.5"  # the total first
    assert lines[1:11] == [
        f"losscli: gate failed: mse [seg=s{g:02d}] = {(g + 1) ** 2} > max 30.5" for g in worst
    ]
    assert lines[11:] == [
        "losscli: gate failed: … and 10 more group failures "
        "(every group is in the JSON and JUnit reports)"
    ]
    gates = result.json["gates"]
    assert sum(not g["passed"] for g in gates) == len(failing) + 1
    assert len(gates) == n_groups + 1
