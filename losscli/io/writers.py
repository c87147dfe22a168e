"""Per-row output sinks for ``--reduction none``: CSV/NDJSON on a stream, or a file.

Rows are written chunk by chunk as Arrow record batches (Arrow formats floats with the
shortest text that reads back to the same double, ~6× faster than Python's ``repr``). Files
are written to a temporary name beside the target and renamed on success, so an interrupted
run never leaves a partial file that looks complete.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from losscli.errors import OutputError, UsageError, io_error_text

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    import pyarrow as pa
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
else:
    Array = np.ndarray


def arrow_column(values: Any) -> pa.Array:
    """An Arrow array for a NumPy float64 column (zero-copy; ``pa.array(ndarray)`` would import
    pandas) or an Arrow column passed through."""
    import pyarrow as pa

    if not isinstance(values, np.ndarray):
        return values
    contiguous = np.ascontiguousarray(values, dtype=np.float64)
    return pa.Array.from_buffers(pa.float64(), len(contiguous), [None, pa.py_buffer(contiguous)])


def record_batch(
    names: list[str], kept: dict[str, Any], values: dict[str, Array]
) -> pa.RecordBatch:
    import pyarrow as pa

    columns = [arrow_column(c) for c in kept.values()] + [arrow_column(v) for v in values.values()]
    return pa.RecordBatch.from_arrays(columns, names=names)


def csv_quoting(batch: pa.RecordBatch) -> str:
    """Arrow's ``needed`` quoting quotes every text value; quote only when some text (or a
    column name) holds a delimiter, a quote or a line break."""
    import pyarrow as pa

    special = ',"\r\n'
    if any(ch in name for name in batch.schema.names for ch in special):
        return "needed"
    text_columns = [
        c for c in batch.columns if pa.types.is_string(c.type) or pa.types.is_large_string(c.type)
    ]
    if text_columns:
        import pyarrow.compute as pc

        for column in text_columns:
            if pc.any(pc.match_substring_regex(column, '[,"\r\n]')).as_py():
                return "needed"
    return "none"


def _header_line(names: list[str]) -> str:
    buffer = io.StringIO()
    csv_writer(buffer).writerow(names)
    return buffer.getvalue()


class csv_writer:
    """``csv.writer`` with ``\n`` line ends that also quotes a field holding a bare ``\r``
    (the standard writer quotes only the characters of its line terminator, so ``a\rb`` went
    out unquoted and split the record for readers that end lines at CR)."""

    def __init__(self, stream: Any) -> None:
        import csv

        self._plain = csv.writer(stream, lineterminator="\n")
        self._quoted = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row: Sequence[Any]) -> None:
        cr = any(isinstance(field, str) and "\r" in field for field in row)
        (self._quoted if cr else self._plain).writerow(row)


def _value_text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else ("" if value is None else str(value))


def _json_value(value: Any) -> Any:
    """A kept or computed value as JSON holds it: NaN/±inf as null, the rest as
    :func:`plain_value` gives it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return plain_value(value)


def plain_value(value: Any) -> Any:
    """A non-float Arrow value as JSON and text outputs hold it: None, str and int as they are,
    dates and times in ISO 8601, bytes as UTF-8 (invalid bytes as ``\\xNN``), anything else
    (decimals, durations) as its text."""
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)


class StreamSink:
    """Per-row output on a text stream, one line (or JSON list item) per input row.

    ``csv``: a header, then the rows. ``ndjson``: one object per row. ``value``: the bare
    numbers, tab-separated when there are several columns. ``json``: one document whose
    ``"value"`` is the list of per-row losses (a list per row for several outputs) — what MLX
    returns for ``reduction='none'`` — written as it streams, ``"rows"`` at the end.
    """

    FORMATS = ("csv", "ndjson", "value", "json")

    def __init__(
        self,
        stream: IO[str],
        fmt: str,
        preamble: dict[str, Any] | None = None,
        escape: Callable[[str], str] | None = None,
    ) -> None:
        if fmt not in self.FORMATS:
            raise UsageError(
                "per-row output (--reduction none) is written as csv, ndjson, value or json"
            )
        self.stream = stream
        self.fmt = fmt
        self.preamble = preamble or {}
        # ``value`` is line-based: kept text is shown as the human channels show it (escaped)
        self.escape = escape or (lambda text: text)
        self.names: list[str] = []
        self._header = True
        self._rows = 0

    def open(self, names: list[str]) -> None:
        self.names = names
        if self.fmt == "json":
            head = json.dumps({**self.preamble, "value": []}, allow_nan=False)
            self.stream.write(head[: -len("[]}")] + "[")  # the value list stays open

    def write(self, kept: dict[str, Any], values: dict[str, Array]) -> None:
        batch = record_batch(self.names, kept, values)
        if self.fmt == "csv":
            self._write_csv(batch)
            return
        columns = [c.to_pylist() for c in batch.columns]
        rows = zip(*columns, strict=True)
        if self.fmt == "ndjson":
            lines = [
                json.dumps(
                    dict(zip(self.names, map(_json_value, row), strict=True)), allow_nan=False
                )
                for row in rows
            ]
            text = "".join(line + "\n" for line in lines)
        elif self.fmt == "value":
            escape = self.escape
            text = "".join("\t".join(escape(_value_text(v)) for v in row) + "\n" for row in rows)
        else:
            items = [
                json.dumps(_json_value(row[0]) if len(row) == 1 else [_json_value(v) for v in row])
                for row in rows
            ]
            text = ("," if self._rows else "") + ",".join(items)
        self._rows += batch.num_rows
        if text:
            self.stream.write(text)

    def _write_csv(self, batch: pa.RecordBatch) -> None:
        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        if self._header:  # Arrow always quotes header names; write them like the values
            buffer.write(_header_line(self.names).encode("utf-8"))
            self._header = False
        options = pacsv.WriteOptions(include_header=False, quoting_style=csv_quoting(batch))
        pacsv.write_csv(batch, buffer, write_options=options)
        raw = getattr(self.stream, "buffer", None)
        if raw is not None:
            self.stream.flush()
            raw.write(buffer.getbuffer())
        else:
            self.stream.write(buffer.getvalue().decode("utf-8"))

    def close(self) -> None:
        if self._header and self.fmt == "csv":  # no rows at all: still a header
            self.stream.write(_header_line(self.names))
        if self.fmt == "json":
            self.stream.write(f'], "rows": {self._rows}}}\n')
        self.stream.flush()


class _CsvFileWriter:
    """CSV to a file with the same per-chunk quoting rule as the stream output."""

    def __init__(self, path: str, names: list[str]) -> None:
        self._file = open(path, "w", encoding="utf-8", newline="")
        self._sink = StreamSink(self._file, "csv")
        self._sink.open(names)

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self._sink._write_csv(batch)

    def close(self) -> None:
        if not self._file.closed:
            self._sink.close()
            self._file.close()


class FileSink:
    """Per-row output to a ``.csv`` or ``.parquet`` file, streamed chunk by chunk."""

    def __init__(self, path: str) -> None:
        lower = path.lower()
        if lower.endswith((".parquet", ".pq")):
            self.kind = "parquet"
        elif lower.endswith(".csv"):
            self.kind = "csv"
        else:
            raise UsageError(f"--output must end in .csv or .parquet (got {path})")
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        try:
            handle, self.temporary = tempfile.mkstemp(
                prefix=".losscli-", suffix=".part", dir=directory
            )
        except OSError as exc:
            raise OutputError(io_error_text(exc, f"--output {path}")) from None
        os.close(handle)
        self._writer: Any = None
        self.names: list[str] = []

    def open(self, names: list[str]) -> None:
        self.names = names

    def write(self, kept: dict[str, Any], values: dict[str, Array]) -> None:
        batch = record_batch(self.names, kept, values)
        if self._writer is None:
            self._writer = self._new_writer(batch.schema)
        self._writer.write_batch(batch)

    def _new_writer(self, schema: pa.Schema) -> Any:
        if self.kind == "csv":
            return _CsvFileWriter(self.temporary, self.names)
        import pyarrow.parquet as pq

        # Dictionary encoding never pays off for loss values and halves the write speed.
        return pq.ParquetWriter(self.temporary, schema, use_dictionary=False)

    def close(self) -> None:
        if self._writer is None:  # no rows: an empty file with the right columns
            import pyarrow as pa

            self._writer = self._new_writer(pa.schema([(n, pa.float64()) for n in self.names]))
        self._writer.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.temporary, 0o666 & ~umask)  # mkstemp creates 0600; use the usual mode
        os.replace(self.temporary, self.path)

    def abort(self) -> None:
        """Remove the temporary file after a failure or an interrupt."""
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            if os.path.exists(self.temporary):
                os.unlink(self.temporary)


def dataset_part(directory: str, position: int) -> Any:
    """A sink writing one part of a partitioned Parquet dataset, ``part-NNNNN.parquet`` under
    ``directory`` (a local directory or an ``s3://``/``gs://`` prefix); parts sort in input
    order by name. Each part appears whole or not at all."""
    name = f"part-{position:05d}.parquet"
    from losscli.io.sources import is_remote

    if is_remote(directory):
        return _UploadedPart(directory.rstrip("/") + "/" + name)
    return FileSink(os.path.join(directory, name))


class _UploadedPart(FileSink):
    """A Parquet part written to a local temporary file, then uploaded in one piece (an
    interrupted part never appears in the bucket)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.folder = tempfile.mkdtemp(prefix="losscli-part-")
        super().__init__(os.path.join(self.folder, "part.parquet"))

    def close(self) -> None:
        super().close()  # renames the temporary file to self.path
        from losscli.io import remote

        try:
            remote.upload(self.path, self.uri)
        finally:
            os.unlink(self.path)
            os.rmdir(self.folder)

    def abort(self) -> None:
        try:
            super().abort()
        finally:
            if os.path.exists(self.path):
                os.unlink(self.path)
            os.rmdir(self.folder)
