"""The readers' fast paths against plain, independent reads of the same files.

The parallel CSV reader cuts a file into blocks at record boundaries (memory-mapped when plain,
inflated piece by piece when gzipped) and the Parquet reader maps each row group on its own;
both are checked here with tiny blocks, so that every boundary case (quotes, CRLF, a record
longer than a block, no final newline, a header longer than a block) falls on a cut.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from losscli.errors import InputError
from losscli.io import csv as csv_reader
from losscli.io import parquet as parquet_reader
from losscli.io import sources
from losscli.io.source import Source
from tests.conftest import Outcome

BLOCK_SIZES = [1, 7, 64, 4096]


def _source(path: Path) -> Source:
    (source,) = sources.open_sources([str(path)])
    return source


def _blocks(path: Path) -> list[bytes]:
    return [bytes(block) for block, _ in csv_reader._csv_record_blocks(_source(path))]


def _write(path: Path, text: bytes) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text))
    else:
        path.write_bytes(text)
    return path


TRICKY_CSV = {
    "plain": b"a,b\n1,2\n3,4\n5,6\n",
    "no_final_newline": b"a,b\n1,2\n3,4\n5,6",
    "crlf": b"a,b\r\n1,2\r\n3,4\r\n5,6\r\n",
    "cr_only": b"a,b\r1,2\r3,4\r5,6\r",
    "quoted_newlines": b'a,b,note\n1,2,"x\ny"\n3,4,"say ""hi""\n,ok"\n5,6,plain\n',
    "long_record": b"a,b,note\n1,2," + b"z" * 300 + b"\n3,4,w\n",
    "long_header": b"a,b," + b"h" * 200 + b"\n1,2,3\n",
    "header_only": b"a,b\n",
    "header_only_no_newline": b"a,b",
    "blank_tail": b"a,b\n1,2\n\n\n",
    "quoted_header": b'"a","b"\n1,2\n3,4\n',
}


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("name", sorted(TRICKY_CSV))
def test_csv_blocks_are_whole_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, block_size: int, suffix: str
) -> None:
    text = TRICKY_CSV[name]
    monkeypatch.setattr(csv_reader, "CSV_PARALLEL_BLOCK_BYTES", block_size)
    blocks = _blocks(_write(tmp_path / f"{name}{suffix}", text))
    breaks = [i for i in (text.find(b"\n"), text.find(b"\r")) if i >= 0]
    header_end = min(breaks) + 1 if breaks else len(text)
    body = text[header_end:].lstrip(b"\n")
    # Together the blocks are exactly the body (a blank tail may be left out) ...
    joined = b"".join(blocks).lstrip(b"\n")
    assert body.startswith(joined) and not body[len(joined) :].strip()
    for block in blocks:
        # ... each ends outside quotes, at a line break or the end of the file (a CR LF pair
        # may be cut between its two bytes: an empty line, which the parser skips).
        assert block.count(b'"') % 2 == 0
        assert block.endswith((b"\n", b"\r")) or block is blocks[-1]


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_csv_blocked_read_matches_one_pass(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Outcome],
    rng: np.random.Generator,
    block_size: int,
    suffix: str,
    newline: bytes,
) -> None:
    n = 300
    pred, target = rng.normal(size=n), rng.normal(size=n)
    notes = [f'"q{i}\n""x"""' if i % 17 == 0 else f"n{i}" for i in range(n)]
    lines = [b"id,pred,note,target"]
    lines += [
        f"{i},{float(p)!r},{s},{float(t)!r}".encode()
        for i, (p, s, t) in enumerate(zip(pred, notes, target, strict=True))
    ]
    path = _write(tmp_path / f"d{suffix}", newline.join(lines) + newline)
    monkeypatch.setattr(csv_reader, "CSV_PARALLEL_BLOCK_BYTES", block_size)
    result = cli(["mse", str(path), "-f", "json"])
    assert result.code == 0, result.err
    expected = math.fsum((p - t) ** 2 for p, t in zip(pred, target, strict=True)) / n
    assert result.json["rows"] == n
    assert result.json["value"] == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("block_size", [16, 4096])
def test_null_words_are_missing_in_every_block(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Outcome],
    block_size: int,
) -> None:
    """ "NA", "null", "NaN" and empty cells are missing values wherever a block cut falls
    (the fast parse knows only ""; blocks with other null words are parsed again)."""
    rows = [(float(i), float(i) + 0.5) for i in range(40)]
    words = {5: "NA", 11: "null", 23: "NaN", 31: ""}
    lines = ["g,pred,target"]
    for i, (p, t) in enumerate(rows):
        lines.append(f"{'NA' if i % 2 else 'x'},{words.get(i, repr(p))},{t!r}")
    path = _write(tmp_path / "na.csv", ("\n".join(lines) + "\n").encode())
    monkeypatch.setattr(csv_reader, "CSV_PARALLEL_BLOCK_BYTES", block_size)
    result = cli(["mae", str(path), "--nan", "skip", "-f", "json"])
    assert result.code == 0, result.err
    assert (result.json["rows"], result.json["skipped_rows"]) == (36, 4)
    assert result.json["value"] == 0.5
    # A text column keeps Arrow's null words: "NA" groups as a missing key, as in one pass.
    grouped = cli(["mae", str(path), "--nan", "skip", "--group-by", "g", "-f", "json"])
    assert grouped.code == 0, grouped.err
    monkeypatch.setattr(csv_reader, "CSV_PARALLEL_BLOCK_BYTES", 1 << 22)
    assert cli(["mae", str(path), "--nan", "skip", "--group-by", "g", "-f", "json"]).json == (
        grouped.json
    )


def test_csv_non_numeric_text_still_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Outcome]
) -> None:
    lines = ["pred,target"] + [f"{i},{i}" for i in range(50)] + ["oops,1"]
    path = _write(tmp_path / "bad.csv", ("\n".join(lines) + "\n").encode())
    monkeypatch.setattr(csv_reader, "CSV_PARALLEL_BLOCK_BYTES", 32)
    result = cli(["mse", str(path)])
    assert result.code == 3
    assert "non-numeric value 'oops'" in result.err and "row 51" in result.err


@pytest.mark.parametrize("job_rows", [1, 100, 1 << 19])
@pytest.mark.parametrize("group_rows", [1, 10, 333, 1000])
def test_parquet_groups_match_one_pass(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Outcome],
    rng: np.random.Generator,
    group_rows: int,
    job_rows: int,
) -> None:
    """Row groups of any size, decoded one per job or gathered into runs of ``job_rows``."""
    monkeypatch.setattr(parquet_reader, "PARQUET_JOB_ROWS", job_rows)
    n = 1000
    pred, target = rng.normal(size=n), rng.normal(size=n)
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"pred": pred, "target": target}), path, row_group_size=group_rows)
    result = cli(["mse", str(path), "-f", "json", "--chunk-size", "64"])
    assert result.code == 0, result.err
    assert result.json["value"] == pytest.approx(
        math.fsum((p - t) ** 2 for p, t in zip(pred, target, strict=True)) / n, rel=1e-15
    )


def test_parquet_large_group_is_streamed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Outcome],
    rng: np.random.Generator,
) -> None:
    """A row group above PARQUET_GROUP_ROWS is decoded batch by batch, mixed with whole ones."""
    n = 500
    pred, target = rng.normal(size=n), rng.normal(size=n)
    path = tmp_path / "d.parquet"
    with pq.ParquetWriter(path, pa.schema([("pred", pa.float64()), ("target", pa.float64())])) as w:
        for lo, hi in [(0, 50), (50, 400), (400, 450), (450, 500)]:
            w.write_table(pa.table({"pred": pred[lo:hi], "target": target[lo:hi]}))
    monkeypatch.setattr(parquet_reader, "PARQUET_GROUP_ROWS", 100)
    monkeypatch.setattr(parquet_reader, "PARQUET_BATCH_ROWS", 64)
    result = cli(["mae", str(path), "-f", "json"])
    assert result.code == 0, result.err
    assert result.json["value"] == pytest.approx(
        math.fsum(abs(p - t) for p, t in zip(pred, target, strict=True)) / n, rel=1e-15
    )


@pytest.mark.parametrize("block_size", [16, 100, 1 << 22])
def test_malformed_row_is_named_by_its_file_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Outcome], block_size: int
) -> None:
    lines = ["pred,target"] + [f"{i},{i}" for i in range(1, 60)] + ["7"] + ["1,1"] * 5
    path = _write(tmp_path / "ragged.csv", ("\n".join(lines) + "\n").encode())
    monkeypatch.setattr(csv_reader, "CSV_PARALLEL_BLOCK_BYTES", block_size)
    result = cli(["mse", str(path)])
    assert result.code == 3
    assert "ragged.csv, row 60: malformed CSV: expected 2 columns, got 1: 7" in result.err


def test_parquet_nested_and_dotted_columns(tmp_path: Path, cli: Callable[..., Outcome]) -> None:
    path = tmp_path / "n.parquet"
    table = pa.table(
        {
            "pred": pa.array([[1.0, 2.0], [3.0]]),
            "s": pa.array([{"a": 1.0}, {"a": 2.0}]),
            "y.pred": [1.0, 2.0],
            "target": [1.0, 4.0],
        }
    )
    pq.write_table(table, path)
    listed = cli(["mse", str(path)])
    assert listed.code == 3
    assert "column 'pred': has type list<element: double>, expected numbers" in listed.err
    struct = cli(["mse", str(path), "--pred", "s"])
    assert struct.code == 3 and "column 's': has type struct<a: double>" in struct.err
    dotted = cli(["mse", str(path), "--pred", "y.pred", "-f", "value"])
    assert (dotted.code, dotted.out) == (0, "2.0\n")


def test_parquet_falls_back_to_the_public_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Outcome]
) -> None:
    """Another pyarrow whose internal reader class differs still reads, via ParquetFile."""
    import pyarrow._parquet as internal
    import pyarrow.parquet  # noqa: F401 — bound to the real class before the patch

    class Changed:
        def open(self, *args: object, **kwargs: object) -> None:
            raise TypeError("unexpected keyword")

    monkeypatch.setattr(internal, "ParquetReader", Changed)
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"pred": [1.0, 2.0, 3.0], "target": [1.0, 4.0, 3.0]}), path)
    result = cli(["mse", str(path), "-f", "value"])
    assert (result.code, result.out) == (0, f"{4.0 / 3.0!r}\n")


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "parquet"])
def test_named_pipe_is_read_like_stdin(
    tmp_path: Path, cli: Callable[..., Outcome], kind: str
) -> None:
    """``losscli mse <(zcat preds.csv.gz)``: a FIFO is read once, as a stream, never seeked."""
    import io
    import os
    import threading

    table = pa.table({"pred": [1.0, 2.0, 3.0], "target": [1.0, 4.0, 3.0]})
    if kind == "parquet":
        sink = io.BytesIO()
        pq.write_table(table, sink)
        payload = sink.getvalue()
    else:
        payload = b"pred,target\n1,1\n2,4\n3,3\n"
        if kind == "csv.gz":
            payload = gzip.compress(payload)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as out:
            out.write(payload)

    writer = threading.Thread(target=feed)
    writer.start()
    result = cli(["mse", str(fifo), "-f", "value"])
    writer.join(timeout=10)
    assert (result.code, result.out) == (0, f"{4.0 / 3.0!r}\n"), result.err


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("block_size", [7, 64, 1 << 22])
def test_stdin_quoted_newlines_across_blocks(
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Outcome],
    block_size: int,
    compress: bool,
) -> None:
    """Stdin is cut at record boundaries like a file: a quoted newline on a block edge once
    made Arrow's own chunker lose sync ("CSV parser got out of sync with chunker")."""
    lines = ["note,pred,target"] + [
        f'"first\nsecond, third",{i % 10},{i % 10 + 1}' for i in range(400)
    ]
    payload = ("\n".join(lines) + "\n").encode()
    monkeypatch.setattr(csv_reader, "CSV_PARALLEL_BLOCK_BYTES", block_size)
    result = cli(["mse", "-", "-f", "json"], stdin=gzip.compress(payload) if compress else payload)
    assert result.code == 0, result.err
    assert (result.json["rows"], result.json["value"]) == (400, 1.0)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_without_mmap_the_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Outcome], kind: str
) -> None:
    """A file system that cannot memory-map a file: CSV is streamed, Parquet read from disk."""
    import mmap

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(19, "No such device")

    monkeypatch.setattr(mmap, "mmap", refuse)
    monkeypatch.setattr(pa, "memory_map", refuse)
    path = tmp_path / f"d.{kind}"
    if kind == "csv":
        _write(path, b"pred,target\n1,1\n2,4\n3,3\n")
    else:
        pq.write_table(pa.table({"pred": [1.0, 2.0, 3.0], "target": [1.0, 4.0, 3.0]}), path)
    result = cli(["mse", str(path), "-f", "value"])
    assert (result.code, result.out) == (0, f"{4.0 / 3.0!r}\n"), result.err


def test_random_csv_matches_arrow_whole_file_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random files with quoted commas, doubled quotes, CR/LF inside quotes, empty and blank
    lines, with or without a final newline, plain or gzipped, cut into tiny blocks: the values
    read equal Arrow's own one-piece read (newlines_in_values on) of the same file."""
    import random

    import pyarrow.csv as pacsv

    rng = random.Random(20261124)
    quoted = ['"a\nb"', '"x""y"', '"p,q"', '""', '"z\r\nw"', '""""']
    for trial in range(150):
        newline = rng.choice(["\n", "\r\n", "\r"])
        lines = ["note,pred,target"]
        for _ in range(rng.randint(1, 40)):
            note = rng.choice(quoted) if rng.random() < 0.3 else rng.choice(["", "n1", "a b"])
            lines.append(f"{note},{rng.uniform(-5, 5)!r},{rng.uniform(-5, 5)!r}")
        text = newline.join(lines) + newline * rng.choice([0, 1, 1, 3])
        path = _write(tmp_path / f"r{trial}.csv{'.gz' if trial % 3 == 0 else ''}", text.encode())
        monkeypatch.setattr(csv_reader, "CSV_PARALLEL_BLOCK_BYTES", rng.choice([1, 5, 17, 64, 300]))
        batches = list(_source(path).batches(["pred", "target"], ["pred", "target"], 1 << 20))
        got = pa.Table.from_batches(batches).column("pred").to_pylist()
        want = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                include_columns=["pred"], column_types={"pred": pa.float64()}
            ),
        )
        assert got == want.column("pred").to_pylist(), (trial, text)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_file_shrinking_while_read_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Memory-mapped input truncated mid-run: an error naming the file, never a SIGBUS."""
    n = 400
    path = tmp_path / f"d.{kind}"
    if kind == "csv":
        lines = ["pred,target"] + [f"{i},{i + 1}" for i in range(n)]
        _write(path, ("\n".join(lines) + "\n").encode())
        monkeypatch.setattr(csv_reader, "CSV_PARALLEL_BLOCK_BYTES", 64)
    else:
        table = pa.table({"pred": np.arange(n, dtype=float), "target": np.ones(n)})
        pq.write_table(table, path, row_group_size=10)
        monkeypatch.setattr(parquet_reader, "PARQUET_JOB_ROWS", 10)
    batches = _source(path).batches(["pred", "target"], ["pred", "target"], 1 << 20)
    next(batches)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)
    with pytest.raises(InputError, match="shrank while being read"):
        for _ in batches:
            pass
