"""The command-line contract: JSON schema and values, formats, every input kind, every error
case with its exit code and one-line message, and what only a real process shows."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLE, invoke, run_process, write_table

PRED = [1.0, 3.0, 0.5, 10.0]
TARGET = [2.0, 1.0, 0.5, 7.0]  # squared errors 1, 4, 0, 9 → mean 3.5


@pytest.fixture
def table() -> dict[str, object]:
    return {"id": [1, 2, 3, 4], "y_pred": PRED, "y_true": TARGET, "seg": ["x", "y", "x", "y"]}


@pytest.mark.parametrize(
    "name", ["d.csv", "d.tsv", "d.csv.gz", "d.csv.bz2", "d.csv.zst", "d.parquet"]
)
def test_every_file_kind(tmp_path: Path, table: dict, name: str) -> None:
    path = write_table(tmp_path / name, table)
    result = invoke(["mse", str(path), "--format", "json"])
    assert (result.code, result.err) == (0, "")
    assert result.json["value"] == 3.5


def test_json_schema(tmp_path: Path, table: dict) -> None:
    path = write_table(tmp_path / "d.parquet", table)
    doc = invoke(["huber", str(path), "--delta", "1.5"]).json  # not a terminal → JSON
    assert doc == {
        "schema_version": 1,
        "loss": "huber",
        "params": {"delta": 1.5},
        "reduction": "mean",
        "per": "all",
        "columns": {"pred": ["y_pred"], "target": ["y_true"]},
        "weight": None,
        "files": [str(path)],
        "rows": 4,
        "skipped_rows": 0,
        "value": 1.4375,
    }


def test_groups_in_json_csv_and_value(tmp_path: Path, table: dict) -> None:
    path = write_table(tmp_path / "d.csv", table)
    doc = invoke(["mse", str(path), "-g", "seg"]).json
    assert doc["groups"] == [
        {"key": {"seg": "x"}, "rows": 2, "value": 0.5},
        {"key": {"seg": "y"}, "rows": 2, "value": 6.5},
    ]
    assert invoke(["mse", str(path), "-g", "seg", "-f", "value"]).out == "3.5\nx\t0.5\ny\t6.5\n"
    csv_lines = invoke(["mse", str(path), "-g", "seg", "-f", "csv"]).out.splitlines()
    assert csv_lines == [
        "loss,params,reduction,per,seg,rows,skipped_rows,value",
        "mse,,mean,all,,4,0,3.5",
        "mse,,mean,all,x,2,0,0.5",
        "mse,,mean,all,y,2,0,6.5",
    ]


def test_directory_and_glob_are_one_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    write_table(folder / "a.parquet", {"pred": PRED[:2], "target": TARGET[:2]})
    write_table(folder / "b.parquet", {"pred": PRED[2:], "target": TARGET[2:]})
    assert invoke(["mse", str(folder), "-f", "value"]).out == "3.5\n"
    assert invoke(["mse", str(folder / "*.parquet"), "-f", "value"]).out == "3.5\n"


def test_stdin_csv_and_gzip(table: dict, tmp_path: Path) -> None:
    text = write_table(tmp_path / "d.csv", table).read_bytes()
    assert invoke(["mse", "-", "-f", "value"], stdin=text).out == "3.5\n"
    assert invoke(["mse", "-f", "value"], stdin=text).out == "3.5\n"  # implicit stdin
    assert invoke(["mse", "-", "-f", "value"], stdin=gzip.compress(text)).out == "3.5\n"


def test_stdin_parquet_in_real_processes(tmp_path: Path, table: dict) -> None:
    # pyarrow can abort at exit when reading Parquet from a stream (SPEC §6): run it repeatedly.
    data = write_table(tmp_path / "d.parquet", table).read_bytes()
    for _ in range(6):
        proc = run_process(["mse", "-", "--format", "value"], stdin=data)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"3.5\n", b"")


def test_reduction_none_streams_rows_in_order(tmp_path: Path, table: dict) -> None:
    path = write_table(tmp_path / "d.csv", table)
    out = invoke(["mse", str(path), "-r", "none", "--keep", "id"]).out
    assert out.splitlines() == [
        "id,mse",
        "1,1",
        "2,4",
        "3,0",
        "4,9",
    ]  # Arrow: shortest round-trip text
    nd = invoke(["huber", str(path), "-r", "none", "-f", "ndjson"]).out.splitlines()
    assert [json.loads(line) for line in nd] == [
        {"huber": 0.5},
        {"huber": 1.5},
        {"huber": 0.0},
        {"huber": 2.5},
    ]


def test_reduction_none_to_parquet_file(tmp_path: Path, table: dict) -> None:
    import pyarrow.parquet as pq

    path = write_table(tmp_path / "d.csv", table)
    out = tmp_path / "rows.parquet"
    result = invoke(["mse", str(path), "-r", "none", "-o", str(out), "--keep", "id,seg"])
    assert result.code == 0
    got = pq.read_table(out).to_pydict()
    assert got == {
        "id": ["1", "2", "3", "4"],
        "seg": ["x", "y", "x", "y"],
        "mse": [1.0, 4.0, 0.0, 9.0],
    }
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".losscli-")] == []


def test_table_on_a_terminal(tmp_path: Path, table: dict) -> None:
    path = write_table(tmp_path / "d.csv", table)
    result = invoke(["mse", str(path)], tty=True, env={"NO_COLOR": "1"})
    assert result.code == 0
    assert "3.5" in result.out and "mse" in result.out and "\x1b[" not in result.out


# -- errors: one line on stderr, named exit codes ----------------------------------------------
def _one_line_error(result: object, code: int, *needles: str) -> None:
    assert result.code == code, (result.code, result.err)  # type: ignore[attr-defined]
    lines = result.err.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("losscli: error: "), lines
    for needle in needles:
        assert needle in lines[0]
    assert result.out == ""  # type: ignore[attr-defined]


def test_missing_file(tmp_path: Path) -> None:
    _one_line_error(invoke(["mse", str(tmp_path / "nope.csv")]), 3, "nope.csv", "no such file")


def test_unknown_column_lists_columns(tmp_path: Path, table: dict) -> None:
    path = write_table(tmp_path / "d.csv", table)
    _one_line_error(invoke(["mse", str(path), "-p", "zzz"]), 2, "'zzz'", "y_pred", "y_true")


def test_no_detectable_column(tmp_path: Path) -> None:
    path = write_table(tmp_path / "d.csv", {"a": [1.0], "b": [2.0]})
    _one_line_error(invoke(["mse", str(path)]), 2, "--pred", "columns: a, b")


def test_non_numeric_text_names_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("pred,target\n1,2\n3,4\n5,abc\n")
    _one_line_error(invoke(["mse", str(path)]), 3, "bad.csv", "column 'target'", "row 3", "'abc'")


def test_nan_cell_names_row(tmp_path: Path) -> None:
    path = tmp_path / "nan.csv"
    path.write_text("pred,target\n1,2\n,4\n")
    _one_line_error(invoke(["mse", str(path)]), 3, "column 'pred'", "row 2", "--nan skip")


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _one_line_error(invoke(["mse", str(empty)]), 3, "empty")
    header = tmp_path / "header.csv"
    header.write_text("pred,target\n")
    _one_line_error(invoke(["mse", str(header)]), 3, "no rows")


def test_corrupt_parquet(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1" + b"\x00" * 100)
    _one_line_error(invoke(["mse", str(bad)]), 3, "bad.parquet")
    truncated = tmp_path / "trunc.parquet"
    good = write_table(tmp_path / "good.parquet", {"pred": PRED, "target": TARGET}).read_bytes()
    truncated.write_bytes(good[: len(good) // 2])
    _one_line_error(invoke(["mse", str(truncated)]), 3, "trunc.parquet")


def test_ragged_csv(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("pred,target\n1,2\n3,4,5\n")
    _one_line_error(invoke(["mse", str(path)]), 3, "ragged.csv")


def test_text_column_in_parquet(tmp_path: Path) -> None:
    path = write_table(tmp_path / "s.parquet", {"pred": ["a"], "target": [1.0]})
    _one_line_error(invoke(["mse", str(path)]), 3, "column 'pred'", "string")


def test_mismatched_lengths_with_targets_from(tmp_path: Path) -> None:
    preds = write_table(tmp_path / "p.csv", {"pred": PRED})
    truth = write_table(tmp_path / "t.csv", {"target": TARGET[:2]})
    _one_line_error(invoke(["mse", str(preds), "--targets-from", str(truth)]), 3, "4 rows", "has 2")


def test_bad_delta_is_usage_error(tmp_path: Path, table: dict) -> None:
    path = write_table(tmp_path / "d.csv", table)
    _one_line_error(invoke(["huber", str(path), "--delta", "-1"]), 2, "--delta", "> 0")


def test_no_input_on_a_terminal() -> None:
    _one_line_error(invoke(["mse"]), 2, "no input")


def test_list_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    listing = json.loads(invoke(["list", "--format", "json"]).out)
    names = [entry["name"] for entry in listing]
    assert {"mse", "huber"} <= set(names)
    huber = next(e for e in listing if e["name"] == "huber")
    assert huber["params"][0]["name"] == "delta" and huber["params"][0]["default"] == 1.0
    for command in names:
        assert invoke([command, "--help"]).code == 0
        help_text = capsys.readouterr().out  # click writes help to sys.stdout
        assert "Examples:" in help_text and "--reduction" in help_text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke(["--version"]).code == 0
    out = capsys.readouterr().out
    assert out.startswith("losscli ") and "numpy" in out


def test_version_line_names_installed_versions() -> None:
    from importlib.metadata import version

    from losscli.cli.version import installed_version, version_line

    for package in ("numpy", "pyarrow", "click", "rich"):
        assert installed_version(package) == version(package)
        assert f"{package} {version(package)}" in version_line()
    assert installed_version("no-such-package-xyz") is None


def test_console_entry_version_and_exit_code() -> None:
    """The console entry answers --version without Click, and leaves through os._exit with
    the CLI's exit code and its output flushed."""
    ok = subprocess.run(
        [sys.executable, "-c", "from losscli.cli.startup import main; main()", "--version"],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and ok.stdout.startswith("losscli ")
    missing = subprocess.run(
        [sys.executable, "-c", "from losscli.cli.startup import main; main()", "mse", "nope.csv"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 3 and missing.stderr.startswith("losscli: error: ")


# -- real processes ---------------------------------------------------------------------------
def test_help_does_not_import_pyarrow_or_pandas() -> None:
    code = (
        "import sys; from losscli.cli.app import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('pyarrow', 'pandas', 'numpy') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_scoring_skips_pandas_and_pyarrow_filesystems(tmp_path: Path, table: dict) -> None:
    """Neither pandas nor pyarrow.parquet (which loads pyarrow.fs: S3, GCS, Azure, ssl; ~20 ms
    of start-up) is imported to score a Parquet file."""
    path = write_table(tmp_path / "d.parquet", table)
    code = (
        "import sys; from losscli.cli.app import main\n"
        f"try:\n    main(['mse', {str(path)!r}, '-f', 'value'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('pandas', 'pyarrow.fs', 'pyarrow.parquet', 'ssl')"
        " if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines() == ["3.5", "[]"]


def test_python_dash_m_and_sample_data() -> None:
    proc = run_process(["mse", str(SAMPLE / "predictions.parquet"), "--format", "json"])
    assert proc.returncode == 0 and proc.stderr == b""
    assert json.loads(proc.stdout)["rows"] == 1000


def test_head_closes_the_pipe_quietly(tmp_path: Path) -> None:
    n = 200_000
    rng = np.random.default_rng(1)
    path = write_table(
        tmp_path / "big.parquet", {"pred": rng.normal(size=n), "target": rng.normal(size=n)}
    )
    proc = subprocess.run(
        f"{sys.executable} -m losscli mse {path} -r none | head -n 3",
        shell=True,
        capture_output=True,
        check=False,
        executable="/bin/bash",
    )
    assert proc.returncode == 0
    assert proc.stdout.decode().splitlines()[0] == "mse"
    assert len(proc.stdout.decode().splitlines()) == 3
    assert proc.stderr == b""


def test_traceback_never_reaches_the_user(tmp_path: Path) -> None:
    weird = tmp_path / "weird.csv"
    weird.write_bytes(b"pred,target\n\xff\xfe,1\n")
    proc = run_process(["mse", str(weird)])
    assert proc.returncode == 3
    assert b"Traceback" not in proc.stderr
    assert len(proc.stderr.decode().splitlines()) == 1


# -- more input kinds and a corpus of malformed inputs ----------------------------------------
def test_ipc_ndjson_xz_and_sniffed_delimiters(tmp_path: Path) -> None:
    import lzma

    import pyarrow as pa
    import pyarrow.feather as feather

    table = pa.table({"pred": PRED, "target": TARGET})
    feather.write_feather(table, tmp_path / "d.arrow")
    lines = "".join(f'{{"pred": {p}, "target": {t}}}\n' for p, t in zip(PRED, TARGET, strict=True))
    (tmp_path / "d.ndjson").write_text(lines)
    csv_text = "pred,target\n" + "".join(f"{p},{t}\n" for p, t in zip(PRED, TARGET, strict=True))
    (tmp_path / "d.csv.xz").write_bytes(lzma.compress(csv_text.encode()))
    (tmp_path / "semi.csv").write_text(csv_text.replace(",", ";"))
    (tmp_path / "tabs.txt").write_text(csv_text.replace(",", "\t"))
    (tmp_path / "crlf.csv").write_bytes(csv_text.replace("\n", "\r\n").encode())
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + csv_text.encode())
    for name in ("d.arrow", "d.ndjson", "d.csv.xz", "semi.csv", "tabs.txt", "crlf.csv", "bom.csv"):
        result = invoke(["mse", str(tmp_path / name), "-f", "value"])
        assert (result.code, result.out, result.err) == (0, "3.5\n", ""), name
    assert invoke(["mse", "-", "-f", "value"], stdin=lines.encode()).out == "3.5\n"


def test_ndjson_label_and_key_columns_keep_their_json_type(tmp_path: Path) -> None:
    """Label and key columns are read with the type their first value has (Arrow's JSON reader
    cannot read a number as text): numeric labels score like the same CSV, text labels as text,
    boolean keys group like Parquet booleans; a column that changes type is one error line."""
    rows = [(1, 1, True), (0, 1, False), (2, 2, True), (2, 1, True)]
    numbers = "".join(
        f'{{"pred": {p}, "target": {t}, "g": {str(g).lower()}}}\n' for p, t, g in rows
    )
    (tmp_path / "n.ndjson").write_text(numbers)
    (tmp_path / "n.csv").write_text("pred,target\n" + "".join(f"{p},{t}\n" for p, t, _ in rows))
    text = "".join(f'{{"pred": "c{p}", "target": "c{t}"}}\n' for p, t, _ in rows)
    (tmp_path / "s.ndjson").write_text(text)
    for name in ("n.ndjson", "n.csv", "s.ndjson"):
        result = invoke(["accuracy", str(tmp_path / name), "-f", "value"])
        assert (result.code, result.out, result.err) == (0, "0.5\n", ""), name
    grouped = invoke(["accuracy", str(tmp_path / "n.ndjson"), "--group-by", "g", "-f", "json"])
    assert grouped.code == 0, grouped.err
    by_key = {g["key"]["g"]: g["value"] for g in json.loads(grouped.out)["groups"]}
    assert by_key == {True: 2 / 3, False: 0.0}
    (tmp_path / "mixed.ndjson").write_text(numbers + '{"pred": "x", "target": 1, "g": true}\n')
    mixed = invoke(["accuracy", str(tmp_path / "mixed.ndjson")])
    assert mixed.code == 3
    assert mixed.err.endswith(
        "mixed.ndjson, column 'pred', row 5: a JSON string where the column's earlier values "
        "are numbers\n"
    )
    # The row counts from the file's start, not from Arrow's block (1 MiB) holding the error.
    many = "".join('{"pred": 1, "target": 1}\n' for _ in range(60_000))
    (tmp_path / "late.ndjson").write_text(many + '{"pred": 1, "target": [1]}\n')
    late = invoke(["mse", str(tmp_path / "late.ndjson")])
    assert (late.code, late.err.count("\n")) == (3, 1)
    assert "late.ndjson, column 'target', row 60001: " in late.err


MALFORMED = {
    "ragged.csv": b"pred,target\n1,2\n3\n",
    "only_header_no_newline.csv": b"pred,target",
    "blank.csv": b"\n\n",
    "binary.csv": bytes(range(256)),
    "bad.csv.gz": b"\x1f\x8bnot really gzip",
    "bool.csv": b"pred,target\ntrue,1\n",
    "hex.csv": b"pred,target\n0x10,2\n",
    "overflow.csv": b"pred,target\n1e400,2\n",
    "unterminated_quote.csv": b'pred,target\n"1,2\n3,4\n',
    "magic_only.parquet": b"PAR1",
    "footer_garbage.parquet": b"PAR1" + b"\x00" * 64 + b"PAR1",
    "text.parquet": b"pred,target\n1,2\n",
    "bad.ndjson": b'{"pred": 1, "target": 2}\n{"pred": "x", "target": 3}\n',
    "not_object.ndjson": b"[1, 2]\n",
    "bad.arrow": b"ARROW1\x00\x00garbage",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_inputs_fail_cleanly(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(MALFORMED[name])
    result = invoke(["mse", str(path)])
    assert result.code in (2, 3), (result.code, result.err)
    assert result.err.startswith("losscli: error: ") and result.err.count("\n") == 1, result.err
    assert "unexpected" not in result.err, result.err
    assert name in result.err
    assert result.out == ""


def test_non_numeric_text_deep_in_a_large_csv(tmp_path: Path) -> None:
    n = 300_000
    lines = [f"{i % 7}.5,{i % 5}" for i in range(n)]
    lines[249_999] = "1.5,oops"
    path = tmp_path / "large.csv"
    path.write_text("pred,target\n" + "\n".join(lines) + "\n")
    result = invoke(["mse", str(path)])
    assert result.code == 3
    assert "column 'target', row 250000: non-numeric value 'oops'" in result.err


def test_skipped_rows_keep_their_file_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "skip.csv"
    path.write_text("id,pred,target\n1,1,2\n2,,1\n3,2,2\n4,inf,1\n")
    result = invoke(["mse", str(path), "--nan", "skip"])
    assert result.code == 3 and "column 'pred', row 4: infinite value" in result.err
    path.write_text("id,pred,target\n1,1,2\n2,,1\n3,2,5\n")
    rows = invoke(["mse", str(path), "--nan", "skip", "-r", "none", "--keep", "id"])
    assert rows.out.splitlines() == ["id,mse", "1,1", "3,9"]
    doc = invoke(["mse", str(path), "--nan", "skip", "-f", "json"]).json
    assert (doc["value"], doc["rows"], doc["skipped_rows"]) == (5.0, 2, 1)


def test_skip_reports_how_many_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("pred,target\n1,2\n,1\nnan,3\n")
    result = invoke(["mse", str(path), "--nan", "skip", "-f", "value"])
    assert (result.code, result.out) == (0, "1.0\n")
    assert result.err == "losscli: note: skipped 2 rows with missing values (--nan skip)\n"
    assert invoke(["mse", str(path), "--nan", "skip", "-f", "value", "-q"]).err == ""


def test_per_row_json_and_value_formats(tmp_path: Path, table: dict) -> None:
    path = write_table(tmp_path / "d.csv", table)
    doc = invoke(["mse", str(path), "-r", "none", "-f", "json"]).json
    assert doc["value"] == [1.0, 4.0, 0.0, 9.0] and doc["rows"] == 4
    assert doc["reduction"] == "none" and doc["loss"] == "mse"
    assert invoke(["mse", str(path), "-r", "none", "-f", "value"]).out == "1.0\n4.0\n0.0\n9.0\n"
    both = invoke(["eval", str(path), "-m", "mse", "-m", "l1", "-r", "none", "-f", "value"])
    assert both.out.splitlines()[:2] == ["1.0\t1.0", "4.0\t2.0"]
    refused = invoke(["eval", str(path), "-m", "mse", "-m", "l1", "-r", "none", "-f", "json"])
    assert refused.code == 2 and "ndjson" in refused.err


def test_per_row_json_of_several_outputs(tmp_path: Path) -> None:
    path = write_table(
        tmp_path / "m.csv", {"p1": [1.0, 0.0], "p2": [3.0, 5.0], "t1": [0.0, 2.0], "t2": [0.0, 5.0]}
    )
    doc = invoke(["mse", str(path), "-p", "p1,p2", "-t", "t1,t2", "-r", "none", "-f", "json"]).json
    assert doc["value"] == [[1.0, 9.0], [4.0, 0.0]]
    rows = invoke(
        ["mse", str(path), "-p", "p1,p2", "-t", "t1,t2", "-r", "none", "--per", "row", "-f", "json"]
    )
    assert rows.json["value"] == [5.0, 2.0]  # Keras: mean over the last axis


def test_shell_completion_lists_losses_and_options() -> None:
    losses = run_process(
        [],
        env={"_LOSSCLI_COMPLETE": "bash_complete", "COMP_WORDS": "losscli hu", "COMP_CWORD": "1"},
    )
    assert (losses.returncode, losses.stdout.decode().split()) == (0, ["plain,huber"])
    options = run_process(
        [],
        env={
            "_LOSSCLI_COMPLETE": "bash_complete",
            "COMP_WORDS": "losscli mse --max-",
            "COMP_CWORD": "2",
        },
    )
    assert options.stdout.decode().split() == ["plain,--max-increase"]


def test_corrupt_parquet_page_with_checksums_is_an_input_error(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    table = {"pred": rng.normal(size=100_000), "target": np.zeros(100_000)}
    path = tmp_path / "crc.parquet"
    import pyarrow as pa

    pq.write_table(pa.table(table), path, row_group_size=25_000, write_page_checksum=True)
    data = bytearray(path.read_bytes())
    middle = len(data) // 3
    data[middle : middle + 2000] = bytes(2000)
    path.write_bytes(bytes(data))
    _one_line_error(invoke(["mse", str(path)]), 3, "crc.parquet", "checksum")


def test_ctrl_c_while_loading_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C during the imports (before the CLI's own handler exists): no traceback."""
    import types

    from losscli.cli import startup

    class Interrupted(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            raise KeyboardInterrupt

    def fake_exit(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setitem(sys.modules, "losscli.cli.app", Interrupted("losscli.cli.app"))
    monkeypatch.setattr(startup.os, "_exit", fake_exit)
    monkeypatch.setattr(sys, "argv", ["losscli", "mse", "x.csv"])
    with pytest.raises(SystemExit) as leaving:
        startup.main()
    assert leaving.value.code == 130
    assert capsys.readouterr().err == "losscli: error: interrupted\n"
