"""Hostile text in data never acts on a human or CI channel (SPEC §9, issue 10).

Group keys, column names and file names full of control characters, escape sequences, bidi
overrides, workflow commands and markup go through every output: the terminal table, stderr
errors and gate failures, Markdown (stdout and the step summary), ``::error::`` lines, JUnit
XML and the progress bar. Machine formats (JSON, CSV) keep the exact data.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from losscli.report import sanitize
from tests.conftest import invoke, write_table

# Each acts on some channel when printed raw: a colour, an OSC clipboard write, a window title,
# a workflow command after a line break, a C1 "next line", a Unicode line separator, a bidi
# override, a NUL, rich markup, a Markdown cell break, HTML and a character reference.
HOSTILE = [
    "\x1b[31mred",
    "\x1b]52;c;aGk=\x07",
    "\x1b]0;title\x1b\\",
    "b\n::add-mask::x\n::error file=x::forged",
    "cr\r::warning::y",
    "nel\x85::notice::z",
    "ls\u2028sep",
    "rlo\u202etxt.exe",
    "nul\x00byte",
    "[bold red]markup[/]",
    "pipe|cell",
    "<img src=x onerror=alert(1)>",
    "&#8238;[link](https://evil)",
]

RAW_SEQUENCES = ["\x1b", "\x07", "\x85", "\u2028", "\u202e", "\x00", "\r"]


def _lines_are_clean(text: str, *, own_prefixes: tuple[str, ...] = ()) -> None:
    """No raw control character but the line breaks losscli writes itself, and no line that
    begins a workflow command unless it is one of losscli's own."""
    for raw in RAW_SEQUENCES:
        assert raw not in text, (raw, text)
    for line in text.split("\n"):
        assert all(ch.isprintable() for ch in line), repr(line)
        if line.lstrip().startswith("::"):
            assert line.startswith(own_prefixes) and own_prefixes, repr(line)


@pytest.fixture
def hostile_csv(tmp_path: Path) -> Path:
    keys = [*HOSTILE, "plain"]
    return write_table(
        tmp_path / "keys.csv",
        {
            "pred": [float(i + 2) for i in range(len(keys))],
            "target": [0.0] * len(keys),
            "seg": keys,
        },
    )


def test_sanitiser_escapes_what_acts() -> None:
    assert sanitize.visible("a\nb\x1b[31m\u202e\x85\u2028\t\x00") == (
        "a\\nb\\x1b[31m\\u202e\\x85\\u2028\\t\\x00"
    )
    assert sanitize.visible("plain é 漢字 🙂") == "plain é 漢字 🙂"
    assert sanitize.visible("\U000e0041") == "\\U000e0041"  # a tag character (invisible)
    assert sanitize.rich_text("[bold]x\x1b") == "\\[bold]x\\x1b"
    assert sanitize.markdown("a|b<c>&d`e$f\\g [t](u) seg_x") == (
        "a\\|b\\<c>\\&d\\`e\\$f\\\\g [t]\\(u) seg_x"
    )
    assert sanitize.workflow_data("50%\r\nx\x1b") == "50%25%0D%0Ax\\x1b"
    assert sanitize.workflow_property("a:b,c") == "a%3Ab%2Cc"
    for text in HOSTILE:
        for escape in (sanitize.visible, sanitize.line, sanitize.xml, sanitize.markdown):
            assert escape(text).isprintable()


def test_gate_failures_and_ci_reports(tmp_path: Path, hostile_csv: Path) -> None:
    junit, summary = tmp_path / "report.xml", tmp_path / "summary.md"
    result = invoke(
        [
            "mse", str(hostile_csv), "-g", "seg", "--max", "1", "--junit", str(junit),
            "--format", "markdown",
        ],
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert result.code == 1
    _lines_are_clean(result.out)
    _lines_are_clean(result.err, own_prefixes=("::error title=losscli gate failed::",))
    # every group fails (every loss is >= 4 > 1), and the total: one ::error:: line each; the
    # plain lines name the total and the ten worst groups, then count the rest
    failing = len(HOSTILE) + 2
    plain = 1 + min(10, failing - 1) + (failing - 1 > 10)
    assert len(result.err.splitlines()) == failing + plain
    # the forged-command key is named (in a plain line when among the ten worst, else in its
    # ::error:: line) and never starts a line of its own
    lines = result.err.splitlines()
    assert any("add-mask::x" in line for line in lines)
    assert not any(line.startswith(("::add-mask", "::error file=")) for line in lines)
    # Markdown: each table row has exactly the table's cells (no `|` from data splits one)
    for text in (result.out, summary.read_text(encoding="utf-8")):
        _lines_are_clean(text)
        table = [line for line in text.splitlines() if line.startswith("|")]
        widths = {len(line.replace("\\|", "").split("|")) for line in table}
        assert len(widths) == 1, table
        assert "\\<img" in text and "\\&#8238;" in text and "]\\(https" in text
        assert " <img" not in text and "|&#" not in text and "](https" not in text
    # JUnit parses, and every key is in it, escaped
    root = ET.parse(junit).getroot()
    names = [case.get("name") or "" for case in root.iter("testcase")]
    assert len(names) == len(HOSTILE) + 2
    for key in HOSTILE:
        assert f"mse [seg={sanitize.xml(key)}]" in names
    for element in root.iter():
        for value in [element.text or "", *element.attrib.values()]:
            assert value.replace("\n", "").isprintable(), repr(value)


def test_terminal_table(hostile_csv: Path) -> None:
    result = invoke(["mse", str(hostile_csv), "-g", "seg", "--max", "1e9"], tty=True)
    assert result.code == 0
    for raw in RAW_SEQUENCES:
        assert raw not in result.out.replace("\x1b[", "")  # rich's own styles aside
    assert "\\x1b[31mred" in result.out and "[bold red]markup[/]" in result.out
    assert "\\u202e" in result.out


def test_machine_formats_keep_the_exact_data(hostile_csv: Path) -> None:
    result = invoke(["mse", str(hostile_csv), "-g", "seg", "--format", "json"])
    assert result.code == 0
    keys = [g["key"]["seg"] for g in result.json["groups"]]
    assert sorted(keys) == sorted([*HOSTILE, "plain"])
    assert result.out.isascii()  # JSON escapes every control character itself
    result = invoke(["mse", str(hostile_csv), "-g", "seg", "--format", "csv"])
    rows = list(csv.reader(io.StringIO(result.out)))
    assert sorted(r[4] for r in rows[2:]) == sorted([*HOSTILE, "plain"])


def test_value_format_keeps_one_line_per_group(hostile_csv: Path) -> None:
    result = invoke(["mse", str(hostile_csv), "-g", "seg", "--format", "value"])
    assert result.code == 0
    assert len(result.out.splitlines()) == len(HOSTILE) + 2
    _lines_are_clean(result.out.replace("\t", " "))


def test_hostile_column_and_file_names_in_errors(tmp_path: Path) -> None:
    name = "p\x1b[2J\n::error::x"
    path = write_table(tmp_path / "f\x1b]0;t\x07.parquet", {name: [1.0], "target": [1.0]})
    result = invoke(["mse", str(path), "--pred", "missing\x1b[1m"])
    assert result.code == 2 and len(result.err.splitlines()) == 1
    _lines_are_clean(result.err)
    assert "p\\x1b[2J\\n::error::x" in result.err  # the file's columns are listed, escaped
    assert "f\\x1b]0;t\\x07.parquet" in result.err
    text = write_table(tmp_path / "t.csv", {"pred": [1.0], "target": ["9\x1b[31m\u202e"]})
    result = invoke(["mse", str(text)])
    assert result.code == 3 and len(result.err.splitlines()) == 1
    _lines_are_clean(result.err)
    assert "'9\\x1b[31m\\u202e'" in result.err  # the offending cell text, escaped


def test_json_of_a_hostile_file_name(tmp_path: Path) -> None:
    path = write_table(tmp_path / "f\x1b[1m.csv", {"pred": [1.0], "target": [0.0]})
    result = invoke(["mse", str(path)])
    assert result.code == 0 and result.json["files"] == [str(path)]


def test_progress_bar_description_is_escaped(tmp_path: Path) -> None:
    from losscli.cli.progress import progress_for
    from losscli.report.terminal import Environment

    path = write_table(tmp_path / "[red]x\x1b[1m.csv", {"pred": [1.0], "target": [0.0]})
    env = Environment(io.StringIO(), io.StringIO(), None, True, True, True, env={})
    with progress_for(env, [str(path)], quiet=False) as bar:
        assert bar is not None
        assert bar.description == "\\[red]x\\x1b[1m.csv"


def test_check_file_names_are_escaped(tmp_path: Path) -> None:
    data = write_table(tmp_path / "d.csv", {"pred": [3.0], "target": [0.0]})
    gate = tmp_path / "gates.toml"
    gate.write_text(
        f'[[check]]\nname = "evil\\n::error::x\\u001b[31m"\nloss = "mse"\nfile = "{data}"\n'
        "max = 1\n",
        encoding="utf-8",
    )
    junit = tmp_path / "j.xml"
    result = invoke(["check", str(gate), "--junit", str(junit), "--format", "json"],
                    env={"GITHUB_STEP_SUMMARY": str(tmp_path / "s.md")})  # fmt: skip
    assert result.code == 1
    assert json.loads(result.out)["checks"][0]["name"] == "evil\n::error::x\x1b[31m"
    _lines_are_clean(result.err, own_prefixes=("::error title=losscli gate failed::",))
    ET.parse(junit)
    _lines_are_clean((tmp_path / "s.md").read_text(encoding="utf-8"))


def test_option_values_in_click_errors_are_escaped(hostile_csv: Path) -> None:
    result = invoke(["mse", str(hostile_csv), "--reduction", "\x1b[31mx\n::error::y"])
    assert result.code == 2
    _lines_are_clean(result.err)
    assert "'\\x1b[31mx\\n::error::y' is not one of" in result.err
