"""Fuzzing the command line with hostile and careless input (issue 10).

Random CSV/Parquet/gzip bytes, random column names (control characters, duplicates, empty,
markup) and random group keys go through the CLI in-process (and a few times as a real
process). Whatever the input: no traceback, an exit status from the documented set, one line
per error on stderr, no raw control character on stderr, and well-formed JSON and JUnit
whenever they are written.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import invoke

EXIT_CODES = {0, 1, 2, 3}
FUZZ = settings(
    max_examples=int(os.environ.get("LOSSCLI_FUZZ_EXAMPLES", "40")),
    deadline=None,
    derandomize=not os.environ.get(
        "LOSSCLI_FUZZ_EXAMPLES"
    ),  # the suite stays deterministic; the cases still cover the classes
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

names = st.one_of(
    st.sampled_from(["pred", "target", "g", "y", "PRED"]),
    st.text(  # names a user can still select (no comma: that separates a list)
        alphabet=st.sampled_from(list("pt_;|\"'[]<>&%:\\é\x00\x01\x1b\n\r\t\x85\u202e\u2028")),
        min_size=1,
        max_size=6,
    ),
    st.text(max_size=4),  # anything, commas and empty names included
)
keys = st.text(max_size=8)
cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-(10**20), 10**20),
    st.sampled_from(["", "NA", "abc", "1,5", "1e400", "-0", " 3 ", '"']),
)


def _check_outcome(code: int, out: str, err: str, *, fmt: str, junit: Path | None) -> None:
    assert code in EXIT_CODES, (code, err)
    assert "Traceback" not in err and "unexpected" not in err, err
    for line in err.splitlines():
        assert line.startswith(("losscli: ", "::error title=losscli")), repr(line)
        assert line.isprintable(), repr(line)
    if code in (0, 1) and fmt == "json":
        json.loads(out)  # never a bare NaN: json.loads accepts those, so check the text too
        assert "NaN" not in out and "Infinity" not in out
    if code != 0 and code != 1:
        assert len(err.splitlines()) == 1, err
    if junit is not None and junit.exists():
        ET.parse(junit)


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


@FUZZ
@given(
    header=st.lists(names, min_size=1, max_size=4),
    unique=st.booleans(),
    rows=st.lists(st.lists(cells, min_size=4, max_size=4), min_size=0, max_size=6),
    group_keys=st.lists(keys, min_size=6, max_size=6),
    order=st.permutations(range(7)),
    parquet=st.booleans(),
    fmt=st.sampled_from(["json", "table", "markdown", "csv", "value"]),
)
def test_random_tables(
    header: list[str],
    unique: bool,
    rows: list[list[object]],
    group_keys: list[str],
    order: list[int],
    parquet: bool,
    fmt: str,
) -> None:
    if unique:  # mostly valid tables: the values and keys then reach every output
        header = list(dict.fromkeys(header))
        columns = [*header, *(n for n in ("pred", "target", "key\x1b") if n not in header)]
    else:  # duplicates and all
        columns = [*header, "pred", "target", "g"][: len(header) + 3]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        body = [[*row[: len(columns) - 1], group_keys[i]] for i, row in enumerate(rows)]
        body = [row + [""] * (len(columns) - len(row)) for row in body]
        if parquet:
            path = directory / "t.parquet"
            arrays = [
                pa.array([_as_number(r[j]) for r in body], type=pa.float64())
                if j < len(columns) - 1
                else pa.array([str(r[j]) for r in body])
                for j in range(len(columns))
            ]
            pq.write_table(pa.Table.from_arrays(arrays, names=columns), path)
        else:
            path = directory / "t.csv"
            _write_csv(path, columns, body)
        numeric = columns[:-1]  # the last column holds the (random) group keys
        pick = [*[numeric[i] for i in order if i < len(numeric)][:2], columns[-1]]
        junit = directory / "report.xml"
        args = ["mse", str(path), "-p", pick[0], "-t", pick[1], "-g", pick[2], "--format", fmt]
        args += ["--max", "1", "--junit", str(junit)]
        result = invoke(args, env={"GITHUB_STEP_SUMMARY": str(directory / "summary.md")})
        _check_outcome(result.code, result.out, result.err, fmt=fmt, junit=junit)
        summary = directory / "summary.md"
        if summary.exists():
            text = summary.read_text(encoding="utf-8")
            assert all(line.isprintable() for line in text.splitlines())


def _as_number(cell: object) -> float | None:
    if isinstance(cell, float | int):
        try:
            return float(cell)
        except OverflowError:
            return math.inf
    return None


@FUZZ
@given(
    data=st.binary(max_size=300),
    kind=st.sampled_from([".csv", ".parquet", ".csv.gz", ".ndjson", "-"]),
    extra=st.sampled_from([[], ["--nan", "skip"], ["-r", "none"], ["--delimiter", ";"]]),
)
def test_random_bytes(data: bytes, kind: str, extra: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "-":
            result = invoke(["mse", "-", *extra], stdin=data)
        else:
            path = Path(tmp) / f"x{kind}"
            if kind == ".parquet":  # a real footer and magic around random bytes
                data = b"PAR1" + data + b"PAR1"
            path.write_bytes(gzip.compress(data) if kind.endswith(".gz") else data)
            result = invoke(["mse", str(path), *extra])
        fmt = "csv" if "none" in extra else "json"
        _check_outcome(result.code, result.out, result.err, fmt=fmt, junit=None)


def test_a_few_real_processes(tmp_path: Path) -> None:
    """What only a real process shows: no traceback at exit, status codes as documented."""
    cases = [
        b"pred,target\n1,2\n\x1b[31m,3\n",
        b"\x00\x01\x02garbage",
        b"PAR1\x00\x00\x00\x00PAR1",
        b"pred;target,x\n1;2\n",
        gzip.compress(b"pred,target\n1,2\n")[:-5],  # truncated gzip
    ]
    for i, data in enumerate(cases):
        path = tmp_path / f"c{i}.csv"
        path.write_bytes(data)
        process = subprocess.run(
            [sys.executable, "-m", "losscli", "mse", str(path), "--junit", str(tmp_path / "j.xml")],
            capture_output=True,
            timeout=60,
            check=False,
        )
        err = process.stderr.decode("utf-8", "replace")
        _check_outcome(
            process.returncode, process.stdout.decode(), err, fmt="json", junit=tmp_path / "j.xml"
        )
        assert process.returncode in (2, 3) and err.count("\n") == 1, (data, err)


def test_csv_output_of_random_keys_round_trips() -> None:
    """CSV keeps the exact keys (quoted where needed, also for a bare CR)."""
    values = ["a\rb", "x,y", 'q"r', "\n", "\x1b[1m", "plain"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "k.parquet"
        pq.write_table(pa.table({"pred": [1.0] * 6, "target": [0.0] * 6, "g": values}), path)
        result = invoke(["mse", str(path), "-g", "g", "--format", "csv"])
        assert result.code == 0
        rows = list(csv.reader(io.StringIO(result.out, newline="")))
        assert sorted(r[4] for r in rows[2:]) == sorted(values)
