"""Resource limits (issue 10): a huge header line, very many columns, a huge single record and
a decompression bomb are bounded in memory and time, with a clear error where a limit is hit.
The limits are module constants; the tests lower them to keep their data small."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from losscli.io import csv as csv_reader
from losscli.io import streams
from tests.conftest import invoke


def _error(args: list[str], code: int = 3, stdin: bytes | None = None) -> str:
    result = invoke(args, stdin=stdin)
    assert result.code == code, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "MAX_HEADER_BYTES", 100_000)
    monkeypatch.setattr(csv_reader, "MAX_RECORD_BYTES", 1 << 17)
    monkeypatch.setattr(csv_reader, "CSV_PARALLEL_BLOCK_BYTES", 1 << 14)
    monkeypatch.setattr(csv_reader, "MAX_COLUMNS", 1000)


HEADER_ERROR = "no line break in the first 0 MiB"  # 100,000 bytes, in whole MiB


@pytest.mark.usefixtures("small_limits")
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".ndjson", "-"])
def test_header_line_too_long(tmp_path: Path, suffix: str) -> None:
    data = b"x" * 300_000 + b"\n1\n"
    if suffix == "-":
        assert HEADER_ERROR in _error(["mse", "-"], stdin=data)
        return
    path = tmp_path / f"h{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    assert _error(["mse", str(path)]).startswith(f"losscli: error: {path}: {HEADER_ERROR}")


@pytest.mark.usefixtures("small_limits")
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", "-"])
def test_record_too_long(tmp_path: Path, suffix: str) -> None:
    data = b"pred,target\n1,2\n" + b"9" * 400_000 + b",1\n3,4\n"
    message = "a record longer than 0 MiB starts at byte 16"
    if suffix == "-":
        assert message in _error(["mse", "-"], stdin=data)
        return
    path = tmp_path / f"r{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    assert _error(["mse", str(path)]).startswith(f"losscli: error: {path}: {message}")


@pytest.mark.usefixtures("small_limits")
def test_records_under_the_limit_still_parse(tmp_path: Path) -> None:
    long_quoted = '"' + "a\n" * 30_000 + '"'  # 60 kB in one quoted field, under 128 kB
    path = tmp_path / "ok.csv"
    path.write_text(f"pred,target,note\n1,2,{long_quoted}\n3,1,x\n", encoding="utf-8")
    assert invoke(["mse", str(path)]).json["value"] == 2.5


@pytest.mark.usefixtures("small_limits")
def test_too_many_columns(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    names = ["pred", "target", *(f"c{i}" for i in range(1500))]
    path.write_text(",".join(names) + "\n" + ",".join(["1"] * len(names)) + "\n", "utf-8")
    assert _error(["mse", str(path)]) == (
        f"losscli: error: {path}: the header names 1,502 columns; losscli reads at most 1,000"
    )


def test_many_columns_within_the_limit(tmp_path: Path) -> None:
    n = 20_000
    path = tmp_path / "wide.csv"
    names = ["pred", "target", *(f"c{i}" for i in range(n))]
    rows = [",".join(["3", "1", *["0"] * n]), ",".join(["1", "1", *["0"] * n])]
    path.write_text(",".join(names) + "\n" + "\n".join(rows) + "\n", "utf-8")
    assert invoke(["mse", str(path)]).json["value"] == 2.0


@pytest.mark.usefixtures("small_limits")
def test_decompression_bomb(tmp_path: Path) -> None:
    """A few kB of gzip inflating to 50 MB of one endless line stops at the record limit
    after reading a fraction of it."""
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(b"pred,target\n" + b"0" * (50 << 20), compresslevel=9))
    assert path.stat().st_size < 100_000
    assert "a record longer than 0 MiB starts at byte 12" in _error(["mse", str(path)])
    zeros = tmp_path / "zeros.csv.gz"
    zeros.write_bytes(gzip.compress(b"\0" * (50 << 20), compresslevel=9))
    assert HEADER_ERROR in _error(["mse", str(zeros)])


def test_duplicate_ndjson_keys(tmp_path: Path) -> None:
    path = tmp_path / "d.ndjson"
    path.write_text('{"pred": 1, "target": 2, "pred": 5}\n', encoding="utf-8")
    assert "column name 'pred' appears 2 times" in _error(["mse", str(path)], code=2)
