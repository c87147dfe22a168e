"""Per-row output sinks for ``--reduction none``: CSV/NDJSON on a stream, or a file.

Files are written to a temporary name beside the target and renamed on success, so an
interrupted run never leaves a partial file that looks complete.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from losscli.errors import UsageError

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
else:
    Array = np.ndarray


def _cells(column: Any) -> list[Any]:
    """A column (NumPy or Arrow) as Python values; NaN/inf floats stay floats."""
    if isinstance(column, np.ndarray):
        return column.tolist()
    return column.to_pylist()


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class StreamSink:
    """CSV (with a header) or NDJSON lines on a text stream, one line per input row."""

    def __init__(self, stream: IO[str], fmt: str) -> None:
        if fmt not in ("csv", "ndjson"):
            raise UsageError("per-row output is written as csv or ndjson (--format csv|ndjson)")
        self.stream = stream
        self.fmt = fmt
        self.names: list[str] = []

    def open(self, names: list[str]) -> None:
        self.names = names
        if self.fmt == "csv":
            self.stream.write(",".join(_csv_text(n) for n in names) + "\n")

    def write(self, kept: dict[str, Any], values: dict[str, Array]) -> None:
        columns = [_cells(c) for c in kept.values()] + [v.tolist() for v in values.values()]
        if self.fmt == "csv":
            if len(columns) == 1:
                lines = [_csv_text(v) for v in columns[0]]
            else:
                lines = [",".join(_csv_text(v) for v in row) for row in zip(*columns, strict=True)]
        else:
            lines = [
                json.dumps(
                    dict(zip(self.names, map(_json_value, row), strict=True)), allow_nan=False
                )
                for row in zip(*columns, strict=True)
            ]
        if lines:
            self.stream.write("\n".join(lines) + "\n")

    def close(self) -> None:
        self.stream.flush()


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
        handle, self.temporary = tempfile.mkstemp(prefix=".losscli-", suffix=".part", dir=directory)
        os.close(handle)
        self._writer: Any = None
        self._text: IO[str] | None = None
        self._stream_sink: StreamSink | None = None
        self.names: list[str] = []

    def open(self, names: list[str]) -> None:
        self.names = names
        if self.kind == "csv":
            self._text = open(self.temporary, "w", encoding="utf-8", newline="")
            self._stream_sink = StreamSink(self._text, "csv")
            self._stream_sink.open(names)

    def write(self, kept: dict[str, Any], values: dict[str, Array]) -> None:
        if self._stream_sink is not None:
            self._stream_sink.write(kept, values)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = [c if not isinstance(c, np.ndarray) else pa.array(c) for c in kept.values()]
        arrays += [pa.array(v) for v in values.values()]
        batch = pa.record_batch(arrays, names=self.names)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.temporary, batch.schema)
        self._writer.write_batch(batch)

    def close(self) -> None:
        if self._text is not None:
            self._text.close()
        if self.kind == "parquet" and self._writer is None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pa.schema([(n, pa.float64()) for n in self.names])
            self._writer = pq.ParquetWriter(self.temporary, schema)
        if self._writer is not None:
            self._writer.close()
        os.replace(self.temporary, self.path)

    def abort(self) -> None:
        """Remove the temporary file after a failure or an interrupt."""
        try:
            if self._text is not None:
                self._text.close()
            if self._writer is not None:
                self._writer.close()
        finally:
            if os.path.exists(self.temporary):
                os.unlink(self.temporary)
