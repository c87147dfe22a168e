"""``losscli check``: the sample gate file, failing and malformed gate files, shared passes,
baselines, and a check that cannot run next to ones that can."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from losscli import engine
from tests.conftest import SAMPLE, invoke, write_table

PRED = [1.0, 3.0, 0.5, 10.0]
TARGET = [2.0, 1.0, 0.5, 7.0]  # mse 3.5; seg x 0.5, seg y 6.5
OLD = [1.5, 2.5, 1.0, 9.5]  # mse 2.25


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_table(
        tmp_path / "preds.parquet",
        {"pred": PRED, "target": TARGET, "old": OLD, "seg": ["x", "y", "x", "y"]},
    )
    return tmp_path


def _gate_file(folder: Path, text: str, name: str = "losscli.toml") -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Records each engine pass as the list of losses it computed."""
    calls: list[list[str]] = []
    real = engine.run

    def counting(requests: Any, options: Any, **kw: Any) -> Any:
        calls.append([r.spec.name for r in requests])
        return real(requests, options, **kw)

    monkeypatch.setattr(engine, "run", counting)
    return calls


def test_sample_gate_file_passes() -> None:
    result = invoke(["check", str(SAMPLE / "losscli.toml")])
    assert (result.code, result.err) == (0, "")
    doc = result.json
    assert doc["schema_version"] == 1 and doc["passed"] is True
    assert [c["name"] for c in doc["checks"]] == [
        "mse overall",
        "weighted mae per segment",
        "huber per segment",
        "r2 floor",
        "mse vs baseline",
        "r2 vs baseline",
        "rmse from the CSV copy",
    ]
    assert all(c["passed"] for c in doc["checks"])
    by_name = {c["name"]: c for c in doc["checks"]}
    assert by_name["mse overall"]["value"] == pytest.approx(28.322682499)
    assert by_name["weighted mae per segment"]["weight"] == "weight"
    assert len(by_name["huber per segment"]["gates"]) == 5  # the total and four segments
    assert by_name["huber per segment"]["params"] == {"delta": 5.0}
    assert by_name["r2 vs baseline"]["gates"][0]["name"] == "min_decrease"
    assert by_name["rmse from the CSV copy"]["files"] == [str(SAMPLE / "predictions.csv")]


def test_failing_check_exit_1_and_reasons(folder: Path) -> None:
    gate_file = _gate_file(folder, """
[defaults]
file = "preds.parquet"

[[check]]
name = "overall"
loss = "mse"
max = 4.0

[[check]]
name = "per segment"
loss = "mse"
group_by = "seg"
max = 4.0
""")  # fmt: skip
    result = invoke(["check", gate_file])
    assert result.code == 1
    assert result.err.splitlines() == [
        "losscli: gate failed: per segment: mse [seg=y] = 6.5 > max 4"
    ]
    doc = result.json
    assert doc["passed"] is False
    assert [(c["name"], c["passed"]) for c in doc["checks"]] == [
        ("overall", True),
        ("per segment", False),
    ]


def test_checks_on_the_same_input_share_one_pass(folder: Path, passes: list[list[str]]) -> None:
    gate_file = _gate_file(folder, """
[defaults]
file = "preds.parquet"

[[check]]
loss = "mse"
max = 4

[[check]]
loss = "huber"
params = { delta = 2.0 }
max = 4

[[check]]
loss = "l1"
baseline_pred = "old"
max_increase = "100%"

[[check]]
loss = "mse"
group_by = "seg"
max = 10
""")  # fmt: skip
    result = invoke(["check", gate_file])
    assert result.code == 0, result.err
    # one pass for the three ungrouped checks (and l1's baseline column), one for the grouped one
    assert passes == [["mse", "huber", "l1", "l1"], ["mse"]]
    names = [c["name"] for c in result.json["checks"]]
    assert names == ["mse #1", "huber #2", "l1 #3", "mse #4"]  # file order, default names


def test_baseline_forms_in_a_check_file(folder: Path) -> None:
    write_table(folder / "old.csv", {"pred": OLD, "target": TARGET})
    (folder / "base.json").write_text(invoke(["mse", str(folder / "old.csv")]).out)
    gate_file = _gate_file(folder, """
[defaults]
file = "preds.parquet"
loss = "mse"
max_increase = "50%"

[[check]]
name = "column"
baseline_pred = "old"

[[check]]
name = "predictions file"
baseline = "old.csv"

[[check]]
name = "json"
baseline = "base.json"
max_increase = 2.0
""")  # fmt: skip
    result = invoke(["check", gate_file, "--format", "json"])
    assert result.code == 1
    gates = {c["name"]: c["gates"][0] for c in result.json["checks"]}
    assert {n: (g["baseline"], g["passed"]) for n, g in gates.items()} == {
        "column": (2.25, False),  # 3.5 > 2.25 · 1.5
        "predictions file": (2.25, False),
        "json": (2.25, True),  # 3.5 ≤ 2.25 + 2
    }


def test_a_check_that_cannot_run_does_not_hide_the_others(folder: Path) -> None:
    gate_file = _gate_file(folder, """
[defaults]
file = "preds.parquet"

[[check]]
name = "fine"
loss = "mse"
max = 1

[[check]]
name = "missing file"
loss = "mse"
file = "nowhere.parquet"
max = 10

[[check]]
name = "bad data"
loss = "msle"
pred = "old"
target = "target"
file = "neg.csv"
max = 10
""")  # fmt: skip
    write_table(folder / "neg.csv", {"old": [1.0, -3.0], "target": [1.0, 1.0]})
    junit = folder / "junit.xml"
    result = invoke(["check", gate_file, "--junit", str(junit)])
    assert result.code == 3  # an input error outranks a failed gate
    err = result.err.splitlines()
    assert err[0].startswith("losscli: error: missing file: ")
    assert "no such file" in err[0]
    assert err[1].startswith("losscli: error: bad data: ")
    assert err[2] == "losscli: gate failed: fine: mse = 3.5 > max 1"
    doc = result.json
    assert [(c["name"], c["passed"], "error" in c) for c in doc["checks"]] == [
        ("fine", False, False),
        ("missing file", False, True),
        ("bad data", False, True),
    ]
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "2")
    errors = root.findall("./testsuite/testcase/error")
    assert errors[0].get("message") == f"{folder / 'nowhere.parquet'}: no such file"
    assert errors[1].get("message", "").startswith(f"{folder / 'neg.csv'}, column 'old', row 2: ")


def test_markdown_format(folder: Path) -> None:
    gate_file = _gate_file(
        folder, '[[check]]\nname = "m"\nfile = "preds.parquet"\nloss = "mse"\nmax = 3\n'
    )
    result = invoke(["check", gate_file, "--format", "markdown"])
    assert result.code == 1
    assert result.out.splitlines() == [
        "### ❌ losscli: the gate failed",
        "",
        "| check | value of | rows | value | gate | verdict |",
        "| --- | --- | ---: | ---: | --- | --- |",
        "| m | mse | 4 | 3.5 | max 3 | ❌ FAIL |",
        "",
        "**Failures**",
        "",
        "- m: mse = 3.5 > max 3",
    ]


def test_table_on_a_terminal(folder: Path) -> None:
    gate_file = _gate_file(folder, """
[[check]]
name = "by segment"
file = "preds.parquet"
loss = "mse"
group_by = "seg"
max = 4
""")  # fmt: skip
    result = invoke(["check", gate_file], tty=True)
    assert result.code == 1
    assert "mse [seg=y]" in result.out  # group labels are not eaten as markup
    assert "1 of 3 gates failed" in result.out


def test_default_gate_file_name(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _gate_file(folder, '[[check]]\nfile = "preds.parquet"\nloss = "mse"\nmax = 4\n')
    monkeypatch.chdir(folder)
    result = invoke(["check"])
    assert result.code == 0
    assert result.json["checks"][0]["files"] == ["preds.parquet"]


# -- malformed gate files: exit 2 naming the key ---------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[check]\nloss =", "invalid TOML: "),
        (
            '[[check]]\nfile = "p.csv"\nloss = "mse"\nmaxx = 3\n',
            "check 1: unknown key 'maxx' (did you mean 'max'?)",
        ),
        (
            '[defaults]\ntreshold = 1\n[[check]]\nfile = "p.csv"\nloss = "mse"\n',
            "[defaults]: unknown key 'treshold'",
        ),
        ('gates = 1\n[[check]]\nfile = "p.csv"\nloss = "mse"\n', "unknown top-level key 'gates'"),
        (
            '[[check]]\nfile = "p.csv"\nloss = "huber"\nparams = { delt = 2 }\n',
            "unknown key 'params.delt' (did you mean 'delta'?)",
        ),
        (
            '[[check]]\nfile = "p.csv"\nloss = "huber"\nparams = { delta = -2 }\n',
            "params.delta: --delta must be a finite number > 0",
        ),
        (
            '[[check]]\nfile = "p.csv"\nloss = "huber"\nparams = { delta = "2" }\n',
            "'params.delta' must be float",
        ),
        (
            '[[check]]\nfile = "p.csv"\nloss = "mse"\nmax = "3"\n',
            "check 1: 'max' must be a number (got '3')",
        ),
        (
            '[[check]]\nfile = "p.csv"\nloss = "mse"\nmax = true\n',
            "'max' must be a number (got True)",
        ),
        ('[[check]]\nfile = "p.csv"\nloss = "mse"\nvar = "v"\n', "check 1: unknown key 'var'"),
        ('[[check]]\nfile = "p.csv"\nloss = "msqe"\n', "check 1: unknown loss 'msqe'"),
        ('[[check]]\nfile = "p.csv"\n', "check 1: 'loss' is required"),
        ('[[check]]\nloss = "mse"\nname = "a"\n', "check 1 ('a'): 'file' is required"),
        (
            '[[check]]\nfile = "p.csv"\nloss = "mse"\nreduction = "none"\n',
            "'reduction' must be one of mean, sum",
        ),
        (
            '[[check]]\nfile = "p.csv"\nloss = "mse"\nmax_increase = "5%"\n',
            "need 'baseline' or 'baseline_pred'",
        ),
        (
            '[[check]]\nfile = "p.csv"\nloss = "mse"\nbaseline = "b.json"\n',
            "a baseline needs 'max_increase'",
        ),
        (
            '[[check]]\nfile = "p.csv"\nloss = "mse"\nbaseline_pred = "o"\nmax_increase = "x%"\n',
            "max_increase must be a number",
        ),
        (
            '[[check]]\nfile = "p.csv"\nloss = "r2"\nbaseline_pred = "o"\nmax_increase = 1\n',
            "r2 is higher-is-better",
        ),
        (
            '[[check]]\nname = "a"\nfile = "p.csv"\nloss = "mse"\n[[check]]\nname = "a"\nfile = "p.csv"\nloss = "l1"\n',
            "two checks are named 'a'",
        ),
        ("[defaults]\n", "no checks"),
    ],
)
def test_malformed_gate_file_exit_2(folder: Path, text: str, message: str) -> None:
    gate_file = _gate_file(folder, text)
    result = invoke(["check", gate_file])
    assert result.code == 2
    assert message in result.err
    assert len(result.err.splitlines()) == 1
    assert result.out == ""


def test_missing_gate_file_exit_2(tmp_path: Path) -> None:
    result = invoke(["check", str(tmp_path / "nope.toml")])
    assert result.code == 2
    assert (
        result.err
        == f"losscli: error: {tmp_path / 'nope.toml'}: cannot read: No such file or directory\n"
    )


def test_check_json_is_a_baseline(folder: Path) -> None:
    """`losscli check --format json` output serves as a baseline for the next run."""
    gate_file = _gate_file(
        folder, '[[check]]\nfile = "preds.parquet"\nloss = "mse"\npred = "old"\nmax = 9\n'
    )
    (folder / "last.json").write_text(invoke(["check", gate_file]).out)
    result = invoke(["mse", str(folder / "preds.parquet"), "--baseline", str(folder / "last.json"),
                     "--max-increase", "1%"])  # fmt: skip
    assert result.code == 1
    assert json.loads(result.out)["gates"][0]["baseline"] == 2.25


# -- check --show: charts per check ---------------------------------------------------------
def test_check_show_draws_per_check_charts(folder: Path, tmp_path: Path) -> None:
    gate = _gate_file(
        folder,
        '[defaults]\nfile = "preds.parquet"\n'
        '[[check]]\nname = "overall <b>"\nloss = "mse"\nmax = 5\n'
        '[[check]]\nname = "by seg"\nloss = "mae"\ngroup_by = "seg"\nmax = 2\n',
    )
    plain = invoke(["check", gate, "-f", "markdown", "--no-ci-report"]).out
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true"}
    out = invoke(["check", gate, "-f", "markdown", "--show", "hist", "--show", "groups"], env=env)
    assert out.code == 1  # seg y: mae (2 + 3) / 2 = 2.5 > 2
    assert out.out.startswith(plain)  # the summary first, unchanged
    charts = out.out[len(plain) :].strip().split("\n\n")
    # errors 1 − 2, 3 − 1, 0.5 − 0.5, 10 − 7 = −1, 2, 0, 3: one bar each, once (shared pass)
    assert charts[0] == "#### overall \\<b>"
    hist = charts[1].splitlines()
    labels = json.loads(hist[3].removeprefix("    x-axis "))
    counts = json.loads(hist[5].removeprefix("    bar "))
    assert {label: n for label, n in zip(labels, counts, strict=True) if n} == {
        "-1..-0.875": 1,  # −1 = −2^0: its bin [−1, −0.875)
        "-0.25..0.25": 1,  # 0, in the centre bar (the empty inner octaves folded into it)
        "2..2.5": 1,
        "3..3.5": 1,
    }
    assert charts[2] == "#### by seg"  # no second histogram: the same errors as above
    groups = charts[3].splitlines()
    assert groups[2] == '    title "l1 by group, worst 2, max 2"'
    assert groups[3:7] == [
        '    x-axis ["y", "x"]',
        '    y-axis "l1"',
        "    bar [2.5, 0.5]",
        "    line [2.0, 2.0]",
    ]
    assert len(charts) == 4
    assert summary.read_text().rstrip("\n").endswith(out.out[len(plain) :].strip())
    # JSON: the bins and counts under "histograms"; nothing chart-related without --show
    data = invoke(["check", gate, "-f", "json", "--show", "hist", "--no-ci-report"]).json
    hist = data["checks"][0]["histograms"]["error"]
    assert sum(hist["counts"]) == 4 and hist["underflow"] == hist["overflow"] == 0
    plain_json = invoke(["check", gate, "-f", "json", "--no-ci-report"]).json
    assert "histograms" not in plain_json["checks"][0]
