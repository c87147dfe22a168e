"""Reports CI systems read: JUnit XML parsed back, the GitHub step summary and ``::error::``
lines under a faked GitHub environment, ``--no-ci-report``, and the Markdown summary."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from losscli.engine import LossResult
from losscli.gates.rules import Change, GateSpec, evaluate
from losscli.gates.run import Check, Outcome
from losscli.report.ci import github_error_lines, junit_xml, markdown_summary
from tests.conftest import SAMPLE, invoke, write_table

PRED = [1.0, 3.0, 0.5, 10.0]
TARGET = [2.0, 1.0, 0.5, 7.0]  # mse 3.5; seg x 0.5, seg y 6.5


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_table(
        tmp_path / "d.csv", {"pred": PRED, "target": TARGET, "seg": ["x", "y", "x", "y"]}
    )


def _suites(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return root


# -- JUnit ----------------------------------------------------------------------------------
def test_junit_one_testcase_per_gated_value(tmp_path: Path, data: Path) -> None:
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    result = invoke(
        ["mse", str(data), "-g", "seg", "--max", "4", "--min", "0.1", "--junit", str(junit)]
    )
    assert result.code == 1
    root = _suites(junit)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "0")
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "losscli mse"
    assert (
        suite.get("tests"),
        suite.get("failures"),
        suite.get("errors"),
        suite.get("skipped"),
    ) == ("3", "1", "0", "0")
    # the attributes the Ant/Jenkins JUnit schema requires
    for attribute in ("name", "package", "id", "timestamp", "hostname", "time"):
        assert suite.get(attribute), attribute
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.get("timestamp", ""))
    assert [child.tag for child in suite] == [
        "properties",
        "testcase",
        "testcase",
        "testcase",
        "system-out",
        "system-err",
    ]
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("losscli", "mse"),
        ("losscli", "mse [seg=x]"),
        ("losscli", "mse [seg=y]"),
    ]
    assert [c.find("failure") is not None for c in cases] == [False, False, True]
    failure = cases[2].find("failure")
    assert failure is not None
    assert failure.get("type") == "max"
    assert failure.get("message") == "mse [seg=y] = 6.5 > max 4"
    assert (
        failure.text
        == "[FAIL] max: mse [seg=y] = 6.5 > max 4\n[PASS] min: mse [seg=y] = 6.5 >= min 0.1"
    )
    assert not list(tmp_path.joinpath("out").glob(".losscli-*"))  # no temporary file left


def test_junit_when_everything_passes(tmp_path: Path, data: Path) -> None:
    junit = tmp_path / "junit.xml"
    assert invoke(["mse", str(data), "--max", "4", "--junit", str(junit)]).code == 0
    root = _suites(junit)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("1", "0", "0")
    assert root.find("./testsuite/testcase/failure") is None


def test_junit_several_failed_gates_on_one_value() -> None:
    result = LossResult("mse", {}, "mean", "all", {"pred": ["p"]}, None, 4, 0, 3.5, ["d.csv"])
    gates = evaluate(result, GateSpec(max=1.0, min=5.0))
    root = ET.fromstring(junit_xml([Check("gate", [Outcome(result, gates)])]))
    (case,) = root.iter("testcase")
    (failure,) = case.findall("failure")  # one failure element per testcase
    assert failure.get("type") == "max,min"
    assert failure.get("message") == "mse = 3.5 > max 1; mse = 3.5 < min 5"


def test_junit_from_check_file(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    result = invoke(["check", str(SAMPLE / "losscli.toml"), "--junit", str(junit)])
    assert result.code == 0
    root = _suites(junit)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites][:2] == ["mse overall", "weighted mae per segment"]
    assert suites[1].findall("testcase")[3].get("classname") == "losscli.weighted mae per segment"
    assert suites[1].findall("testcase")[3].get("name") == "l1 [segment=rural]"
    assert [len(s.findall("testcase")) for s in suites] == [1, 5, 5, 1, 1, 1, 1]
    assert root.get("tests") == "15" and root.get("failures") == "0"


def test_junit_escapes_markup() -> None:
    result = LossResult("mse", {}, "mean", "all", {"pred": ["p"]}, None, 4, 0, 3.5, ["a&b<c>.csv"],
                        group_by=["k"], groups=[])  # fmt: skip
    gates = evaluate(result, GateSpec(max=1.0))
    text = junit_xml([Check('odd "name" <&>', [Outcome(result, gates)])])
    root = ET.fromstring(text)
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == 'odd "name" <&>'


# -- GitHub Actions -------------------------------------------------------------------------
def test_github_step_summary_and_error_lines(tmp_path: Path, data: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true", "CI": "true"}
    result = invoke(["mse", str(data), "-g", "seg", "--max", "4"], env=env)
    assert result.code == 1
    assert result.err.splitlines() == [
        "::error title=losscli gate failed::mse [seg=y] = 6.5 > max 4",
        "losscli: gate failed: mse [seg=y] = 6.5 > max 4",
    ]
    assert summary.read_text().splitlines() == [
        "earlier step",
        "### ❌ losscli: 1 of 3 gates failed",
        "",
        "| check | value of | rows | value | gate | verdict |",
        "| --- | --- | ---: | ---: | --- | --- |",
        "| losscli mse | mse | 4 | 3.5 | max 4 | ✅ pass |",
        "| losscli mse | mse [seg=x] | 2 | 0.5 | max 4 | ✅ pass |",
        "| losscli mse | mse [seg=y] | 2 | 6.5 | max 4 | ❌ FAIL |",
        "",
        "**Failures**",
        "",
        "- mse [seg=y] = 6.5 > max 4",
        "",
    ]
    assert result.json["passed"] is False  # stdout is untouched by the annotations


def test_github_summary_appends_on_success_without_error_lines(tmp_path: Path, data: Path) -> None:
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    for _ in range(2):
        result = invoke(["mse", str(data), "--max", "4"], env=env)
        assert (result.code, result.err) == (0, "")
    text = summary.read_text()
    assert text.count("### ✅ losscli: the gate passed") == 2


def test_no_ci_report_turns_both_off(tmp_path: Path, data: Path) -> None:
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    result = invoke(["mse", str(data), "--max", "1", "--no-ci-report"], env=env)
    assert result.code == 1
    assert result.err == "losscli: gate failed: mse = 3.5 > max 1\n"
    assert not summary.exists()


def test_ungated_runs_write_no_ci_report(tmp_path: Path, data: Path) -> None:
    summary = tmp_path / "summary.md"
    assert invoke(["mse", str(data)], env={"GITHUB_STEP_SUMMARY": str(summary)}).code == 0
    assert not summary.exists()


def test_check_file_under_github(tmp_path: Path) -> None:
    write_table(tmp_path / "p.csv", {"pred": PRED, "target": TARGET})
    gate_file = tmp_path / "g.toml"
    gate_file.write_text(
        '[[check]]\nname = "mse, 50% worse"\nfile = "p.csv"\nloss = "mse"\nmax = 1\n'
    )
    summary = tmp_path / "summary.md"
    result = invoke(
        ["check", str(gate_file), "-f", "json"], env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert result.code == 1
    # "%" is escaped in workflow commands; the check name prefixes the message
    assert (
        result.err.splitlines()[0]
        == "::error title=losscli gate failed::mse, 50%25 worse: mse = 3.5 > max 1"
    )
    assert "| mse, 50% worse | mse | 4 | 3.5 | max 1 | ❌ FAIL |" in summary.read_text()


def test_unwritable_step_summary_is_an_output_error(tmp_path: Path, data: Path) -> None:
    path = tmp_path / "missing-dir" / "summary.md"
    result = invoke(["mse", str(data), "--max", "4"], env={"GITHUB_STEP_SUMMARY": str(path)})
    assert result.code == 3
    assert result.err == (
        f"losscli: error: cannot write GITHUB_STEP_SUMMARY {path}: No such file or directory\n"
    )


def test_error_line_escaping() -> None:
    result = LossResult("mse", {}, "mean", "all", {"pred": ["p"]}, None, 4, 0, 3.5, ["d.csv"])
    gates = evaluate(result, GateSpec(max=1.0))
    check = Check("a:b,c\nd", [Outcome(result, gates)], error="100%\nbroken")
    assert github_error_lines([check]) == [
        "::error title=losscli check could not run::a:b,c%0Ad: 100%25%0Abroken",
        "::error title=losscli gate failed::a:b,c%0Ad: mse = 3.5 > max 1",
    ]


def test_markdown_summary_of_baseline_gates() -> None:
    result = LossResult("r2", {}, "mean", "all", {"pred": ["p"]}, None, 10, 0, 0.7, ["d.csv"],
                        higher_is_better=True)  # fmt: skip
    from losscli.gates.rules import Baseline

    gates = evaluate(result, GateSpec(min_decrease=Change.parse("0.01", "x")), Baseline(0.75))
    text = markdown_summary([Check("r2 gate", [Outcome(result, gates)])])
    assert (
        "| r2 gate | r2 | 10 | 0.7 | min_decrease 0.01 (baseline 0.75, limit 0.74) | ❌ FAIL |"
        in text
    )
    assert text.startswith("### ❌ losscli: the gate failed\n")
