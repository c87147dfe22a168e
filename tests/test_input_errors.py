"""Ambiguous input is an error, never a choice; every data error names file, column, row and
what is wrong with the value (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import invoke


def _csv(tmp_path: Path, text: str, name: str = "d.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _one_error(args: list[str], code: int) -> str:
    result = invoke(args)
    assert result.code == code, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("losscli: error: "), result.err
    return lines[0].removeprefix("losscli: error: ")


# -- ambiguity -----------------------------------------------------------------------------
@pytest.mark.parametrize("args", [[], ["-p", "pred"], ["-p", "p*"]])
def test_duplicate_csv_column(tmp_path: Path, args: list[str]) -> None:
    path = _csv(tmp_path, "pred,target,pred\n1,2,3\n")
    message = _one_error(["mse", path, *args], 2)
    assert message == (
        f"column name 'pred' appears 2 times in {path} (positions 1 and 3): rename the "
        "duplicates so the choice is not ambiguous"
    )


def test_duplicate_parquet_field(tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    table = pa.Table.from_arrays(
        [pa.array([1.0]), pa.array([2.0]), pa.array([3.0]), pa.array([5.0])],
        names=["x", "pred", "target", "pred"],
    )
    pq.write_table(table, path)
    message = _one_error(["mse", str(path), "-p", "pred", "-t", "target"], 2)
    assert "column name 'pred' appears 2 times" in message and "(positions 2 and 4)" in message


def test_unused_duplicate_is_not_an_error(tmp_path: Path) -> None:
    path = _csv(tmp_path, "pred,target,id,id\n1,3,a,b\n")
    assert invoke(["mse", path]).json["value"] == 4.0


@pytest.mark.parametrize(
    "option", [["--pred", ""], ["--target", " "], ["-p", "pred,,x"], ["-w", ""], ["-g", ""]]
)
def test_empty_column_name(tmp_path: Path, option: list[str]) -> None:
    path = _csv(tmp_path, "pred,target,w\n1,2,1\n")
    assert "empty column name" in _one_error(["mse", path, *option], 2)


def test_empty_column_name_in_eval(tmp_path: Path) -> None:
    path = _csv(tmp_path, "pred,target\n1,2\n")
    assert "empty column name" in _one_error(["eval", path, "-m", "mse", "-p", ""], 2)
    assert "empty column name" in _one_error(["eval", path, "-m", "mse:target="], 2)


@pytest.mark.parametrize(
    "args, message",
    [
        (["-p", "y", "-t", "y"], "column 'y' is selected as both pred and target"),
        (["-p", "y", "-t", "t", "-w", "y"], "column 'y' is selected as both pred and weight"),
    ],
)
def test_one_column_in_two_roles(tmp_path: Path, args: list[str], message: str) -> None:
    path = _csv(tmp_path, "y,t\n1,2\n")
    assert _one_error(["mse", path, *args], 2).startswith(message)


def test_grouping_by_the_target_is_allowed(tmp_path: Path) -> None:
    path = _csv(tmp_path, "pred,target\n1,0\n3,1\n")
    groups = invoke(["mse", path, "-g", "target"]).json["groups"]
    assert [(g["key"]["target"], g["value"]) for g in groups] == [(0, 1.0), (1, 4.0)]


# -- weights, overflow, domain ---------------------------------------------------------------
@pytest.mark.parametrize(
    "weight, message",
    [
        (
            "nan",
            "column 'w', row 2: missing weight (empty cell or NaN); use --nan skip to drop such rows",
        ),
        (
            "",
            "column 'w', row 2: missing weight (empty cell or NaN); use --nan skip to drop such rows",
        ),
        ("inf", "column 'w', row 2: infinite weight (inf)"),
        ("-inf", "column 'w', row 2: infinite weight (-inf)"),
        ("-0.5", "column 'w', row 2: negative weight (-0.5): weights must be ≥ 0"),
    ],
)
@pytest.mark.parametrize("extra", [[], ["-g", "g"], ["-r", "sum"], ["-r", "none"]])
def test_bad_weights(tmp_path: Path, weight: str, message: str, extra: list[str]) -> None:
    path = _csv(tmp_path, f"pred,target,w,g\n1,2,1,a\n3,1,{weight},b\n")
    assert _one_error(["mse", path, "-w", "w", *extra], 3) == f"{path}, {message}"


def test_weights_summing_to_zero(tmp_path: Path) -> None:
    path = _csv(tmp_path, "pred,target,w,g\n1,2,0,a\n3,1,0,a\n1,1,1,b\n")
    assert _one_error(["mse", path, "-w", "w", "-g", "g"], 3) == (
        f"{path}, column 'w': the weights sum to 0 in group g=a: the weighted mean is undefined"
    )
    path = _csv(tmp_path, "pred,target,w\n1,2,0\n", "z.csv")
    assert _one_error(["mse", path, "-w", "w"], 3) == (
        f"{path}, column 'w': the weights sum to 0: the weighted mean is undefined"
    )


@pytest.mark.parametrize("extra", [[], ["-g", "g"], ["-r", "none"], ["--chunk-size", "1"]])
def test_overflow_in_the_loss_names_the_inputs(tmp_path: Path, extra: list[str]) -> None:
    path = _csv(tmp_path, "pred,target,g\n1,2,a\n1e308,-1e308,a\n")
    assert _one_error(["mse", path, *extra], 3) == (
        f"{path}, column 'pred', row 2: the loss overflows float64 for finite inputs "
        "(pred=1e+308, target=-1e+308)"
    )


def test_overflow_of_loss_times_weight(tmp_path: Path) -> None:
    path = _csv(tmp_path, "pred,target,w\n1,2,1\n1e150,0,1e10\n")
    assert _one_error(["mse", path, "-w", "w"], 3) == (
        f"{path}, column 'w', row 2: loss × weight overflows float64 "
        "(loss 9.999999999999999e+299, weight 10000000000.0)"
    )


def test_overflow_of_the_exact_sum(tmp_path: Path) -> None:
    path = _csv(tmp_path, "pred,target\n1.7e308,0\n1.7e308,0\n")
    for reduction in ("sum", "mean"):
        assert _one_error(["l1", path, "-r", reduction], 3) == (
            f"{path}, column 'pred': the sum of the l1 losses overflows float64"
        )


def test_domain_error_names_the_value(tmp_path: Path) -> None:
    path = _csv(tmp_path, "pred,target\n1,2\n-1.5,1\n")
    message = _one_error(["msle", path], 3)
    assert message.startswith(f"{path}, column 'pred', row 2: ") and "-1.5" in message


def test_missing_and_infinite_inputs(tmp_path: Path) -> None:
    path = _csv(tmp_path, "pred,target\n1,2\n1,\n")
    assert _one_error(["mse", path], 3) == (
        f"{path}, column 'target', row 2: missing value (empty cell or NaN); "
        "use --nan skip to drop such rows"
    )
    path = _csv(tmp_path, "pred,target\n1,2\n-inf,1\n", "i.csv")
    assert _one_error(["mse", path], 3) == f"{path}, column 'pred', row 2: infinite value (-inf)"


# -- delimiters and decimal commas -------------------------------------------------------------
EUROPEAN = "pred;target;w\n1,5;2,5;1\n3;1;0,5\n-0,25;0,75;2\n"


def _expected_european() -> float:
    import math

    losses = [(1.5 - 2.5) ** 2, (3.0 - 1.0) ** 2, (-0.25 - 0.75) ** 2]
    weights = [1.0, 0.5, 2.0]
    return math.fsum(w * x for w, x in zip(weights, losses, strict=True)) / math.fsum(weights)


@pytest.mark.parametrize("delimiter", [[], ["--delimiter", ";"]])
def test_semicolons_and_decimal_commas(tmp_path: Path, delimiter: list[str]) -> None:
    path = _csv(tmp_path, EUROPEAN)
    result = invoke(["mse", path, "-w", "w", "--decimal-comma", *delimiter])
    assert result.code == 0, result.err
    assert result.json["value"] == _expected_european()
    piped = invoke(["mse", "-w", "w", "--decimal-comma", "-f", "value"], stdin=EUROPEAN.encode())
    assert float(piped.out) == _expected_european()


def test_without_decimal_comma_the_text_is_named(tmp_path: Path) -> None:
    path = _csv(tmp_path, EUROPEAN)
    assert _one_error(["mse", path], 3) == f"{path}, column 'pred', row 1: non-numeric value '1,5'"


@pytest.mark.parametrize("delimiter, expected", [("|", "|"), ("tab", "\t"), ("\\t", "\t")])
def test_explicit_delimiter(tmp_path: Path, delimiter: str, expected: str) -> None:
    path = _csv(tmp_path, f"pred{expected}target{expected}note\n1{expected}3{expected}a;b,c\n")
    assert invoke(["mse", path, "--delimiter", delimiter]).json["value"] == 4.0


def test_ambiguous_header_is_an_error(tmp_path: Path) -> None:
    path = _csv(tmp_path, "pred;target;a,b\n1;2;3\n")
    assert _one_error(["mse", path], 2) == (
        f"{path}: cannot tell the delimiter: the header holds ',' and ';'; give --delimiter"
    )
    assert invoke(["mse", path, "--delimiter", ";"]).json["value"] == 1.0
    quoted = _csv(tmp_path, 'pred;target;"a,b"\n1;2;3\n', "q.csv")  # a quoted comma is no delimiter
    assert invoke(["mse", quoted]).json["value"] == 1.0


@pytest.mark.parametrize("bad", [";;", "", '"', "."])
def test_bad_delimiter_option(tmp_path: Path, bad: str) -> None:
    path = _csv(tmp_path, "pred,target\n1,2\n")
    assert "--delimiter must be one character" in _one_error(["mse", path, "--delimiter", bad], 2)


def test_decimal_comma_with_comma_delimiter(tmp_path: Path) -> None:
    path = _csv(tmp_path, "pred,target\n1,2\n")
    assert "--decimal-comma needs a delimiter other than ','" in _one_error(
        ["mse", path, "--decimal-comma"], 2
    )


def test_check_file_delimiter_and_decimal_comma(tmp_path: Path) -> None:
    _csv(tmp_path, EUROPEAN)
    gates = tmp_path / "gates.toml"
    gates.write_text(
        '[[check]]\nloss = "mse"\nfile = "d.csv"\nweight = "w"\ndelimiter = ";"\n'
        "decimal_comma = true\nmax = 100\n",
        encoding="utf-8",
    )
    result = invoke(["check", str(gates), "--format", "json"])
    assert result.code == 0, result.err
    assert result.json["checks"][0]["value"] == _expected_european()
    gates.write_text('[[check]]\nloss = "mse"\nfile = "d.csv"\ndelimiter = "ab"\n', "utf-8")
    result = invoke(["check", str(gates)])
    assert result.code == 2 and "'delimiter': --delimiter must be one character" in result.err


@pytest.mark.parametrize(
    "loss", ["r2", "rmse", "explained_variance", "median_absolute_error", "mae", "pinball"]
)
def test_weights_of_every_statistic(tmp_path: Path, loss: str) -> None:
    """No statistic turns a NaN weight into a number, or all-zero weights into 1.0 or NaN."""
    nan = _csv(tmp_path, "pred,target,w\n1,2,1\n2,3,nan\n3,3,1\n", "nan.csv")
    assert _one_error([loss, nan, "-w", "w"], 3) == (
        f"{nan}, column 'w', row 2: missing weight (empty cell or NaN); "
        "use --nan skip to drop such rows"
    )
    zero = _csv(tmp_path, "pred,target,w\n1,2,0\n2,3,0\n3,3,0\n", "zero.csv")
    message = _one_error([loss, zero, "-w", "w"], 3)
    assert message.startswith(f"{zero}, column 'w': the weights sum to 0: the weighted ")
    negative = _csv(tmp_path, "pred,target,w\n1,2,1\n2,3,-2\n", "neg.csv")
    assert _one_error([loss, negative, "-w", "w"], 3) == (
        f"{negative}, column 'w', row 2: negative weight (-2.0): weights must be ≥ 0"
    )
