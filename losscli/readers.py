"""Readers: turn a FILE argument into sources that yield bounded Arrow record batches.

Supported: CSV/TSV (plain, .gz, .bz2, .zst, .lz4, .xz), Parquet (a file, a directory or a glob
of files read as one dataset), Arrow IPC/Feather, NDJSON, and ``-`` for stdin (format sniffed
from the first bytes). Only the requested columns are read, and at most one bounded batch is
alive at a time, so memory follows the chunk size, not the file size.
"""

from __future__ import annotations

import functools
import glob
import io
import os
import stat
import sys
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from losscli.errors import DataError, EmptyInputError, InputError, UsageError

if TYPE_CHECKING:
    import pyarrow as pa

from losscli.defaults import INPUT_FORMATS as FORMATS

PARQUET_EXTENSIONS = (".parquet", ".pq", ".parq")
IPC_EXTENSIONS = (".arrow", ".feather", ".ipc")
NDJSON_EXTENSIONS = (".ndjson", ".jsonl", ".json")
COMPRESSION_EXTENSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4", ".xz": "xz"}
MAGIC = (
    (b"PAR1", "parquet"),
    (b"ARROW1", "ipc"),
    (b"\xff\xff\xff\xff", "ipc-stream"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\xfd7zXZ\x00", "xz"),
)
CSV_BLOCK_BYTES = 1 << 20
#: Rows per decoded Parquet batch: small batches are recycled by Arrow's allocator, so memory
#: stays flat; large enough that per-chunk Python overhead is negligible.
PARQUET_BATCH_ROWS = 1 << 17
#: Row groups up to this many rows are decoded whole (≤ 32 MiB per float64 column pair);
#: larger ones are streamed batch by batch.
PARQUET_GROUP_ROWS = 1 << 21
PARQUET_BUFFER_BYTES = 1 << 20
#: Rows per Parquet decode job: consecutive small row groups are read together up to this.
PARQUET_JOB_ROWS = 1 << 19
#: CSV blocks parsed in parallel: big enough to amortise a parse call, small enough that the
#: few blocks in flight stay a few MiB.
CSV_PARALLEL_BLOCK_BYTES = 1 << 22
STDIN_LABEL = "<stdin>"


def sniff(head: bytes) -> str | None:
    """The format or compression announced by a file's first bytes, if any."""
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    if head.lstrip()[:1] == b"{":
        return "ndjson"
    return None


class Source:
    """One readable input. ``batches`` yields Arrow record batches of the requested columns."""

    __slots__ = (
        "_names",
        "_stream",
        "compression",
        "delimiter",
        "format",
        "label",
        "path",
        "size_bytes",
    )

    def __init__(
        self,
        label: str,
        path: str | None,
        format: str,
        compression: str | None = None,
        delimiter: str = ",",
        size_bytes: int | None = None,
        _stream: IO[bytes] | None = None,
    ) -> None:
        self.label = label
        self.path = path
        self.format = format
        self.compression = compression
        self.delimiter = delimiter
        self.size_bytes = size_bytes
        self._stream = _stream
        self._names: list[str] | None = None

    def __repr__(self) -> str:
        return f"Source({self.label!r}, format={self.format!r})"

    # -- schema -------------------------------------------------------------------------------
    def column_names(self) -> list[str]:
        """The input's column names, in file order."""
        if self._names is None:
            self._names = _column_names(self)
        return self._names

    # -- data ---------------------------------------------------------------------------------
    def batches(
        self, columns: Sequence[str], numeric: Sequence[str], chunk_size: int
    ) -> Iterator[pa.RecordBatch]:
        """Record batches holding ``columns`` (``numeric`` ones typed float64 where the format
        lets us declare it), each at most ``chunk_size`` rows."""
        import pyarrow as pa

        try:
            if self.format == "parquet":
                yield from _parquet_batches(self, columns, chunk_size)
            elif self.format == "ipc":
                yield from _ipc_batches(self, columns, chunk_size)
            elif self.format == "ndjson":
                yield from _ndjson_batches(self, columns, numeric, chunk_size)
            else:
                yield from _csv_batches(self, columns, numeric, chunk_size)
        except pa.ArrowInvalid as exc:
            raise InputError(_clean_arrow_message(exc), file=self.label) from None
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot read: {exc}", file=self.label) from None
        except pa.ArrowException as exc:  # e.g. an unsupported codec or a corrupt page
            raise InputError(f"cannot read: {_clean_arrow_message(exc)}", file=self.label) from None


def _clean_arrow_message(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _open_binary(source: Source) -> IO[bytes]:
    """A binary stream of the source's decompressed bytes (used for header sniffing and xz)."""
    import lzma

    if source._stream is not None:
        return source._stream
    assert source.path is not None
    if source.compression == "xz":
        return lzma.open(source.path, "rb")
    import pyarrow as pa

    stream = pa.input_stream(source.path, compression=source.compression)
    return stream


def _csv_input(source: Source) -> Any:
    """What ``pyarrow.csv.open_csv`` reads: the path (native I/O) or a wrapped stream."""
    import pyarrow as pa

    if source._stream is not None or source.compression == "xz":
        return pa.PythonFile(_open_binary(source), mode="r")
    assert source.path is not None
    return pa.input_stream(source.path, compression=source.compression)


def _column_names(source: Source) -> list[str]:
    try:
        if source.format == "parquet":
            return list(_parquet_file(source).schema_arrow.names)
        if source.format == "ipc":
            return list(_ipc_reader(source).schema.names)
        if source.format == "ndjson":
            return _ndjson_names(source)
        return _csv_header(source)
    except (InputError, DataError):
        raise
    except Exception as exc:  # corrupt or unreadable input of any kind
        raise InputError(f"cannot read: {_clean_arrow_message(exc)}", file=source.label) from None


# -- CSV ----------------------------------------------------------------------------------------
class _PrefixedStream(io.RawIOBase):
    """A read-only stream that replays already-consumed bytes before the rest of ``raw``."""

    def __init__(self, prefix: bytes, raw: IO[bytes]) -> None:
        self._prefix = memoryview(prefix)
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _first_line(source: Source) -> tuple[bytes, bool]:
    """The input's first line (without the newline) and whether more follows; on stdin the
    consumed bytes are put back in front of the stream for the real read."""
    stream = _open_binary(source)
    head = b""
    while _line_break(head) < 0:
        block = stream.read(1 << 16)
        if not block:
            break
        head += block
    if source._stream is not None:
        source._stream = io.BufferedReader(_PrefixedStream(head, source._stream), 1 << 20)
    else:
        stream.close()
    cut = _line_break(head)
    if cut < 0:
        return head, False
    return head[:cut], True


def _line_break(data: Any, start: int = 0) -> int:
    """Index of the first line break (LF, or CR as in CR LF and old Mac files) at or after
    ``start``, or -1."""
    breaks = [i for i in (data.find(b"\n", start), data.find(b"\r", start)) if i >= 0]
    return min(breaks) if breaks else -1


def _csv_header(source: Source) -> list[str]:
    first_bytes, more = _first_line(source)
    if not first_bytes.strip():
        raise InputError("empty input: no header row", file=source.label)
    if not more:
        raise EmptyInputError("no rows (only a header line)", file=source.label)
    first = first_bytes.decode("utf-8-sig", errors="replace")
    if source.format == "csv" and "," not in first:
        for candidate in ("\t", ";", "|"):
            if candidate in first:
                source.delimiter = candidate
                break
    import csv

    names = next(csv.reader([first], delimiter=source.delimiter))
    return [name.strip() for name in names]


def _csv_batches(
    source: Source, columns: Sequence[str], numeric: Sequence[str], chunk_size: int
) -> Iterator[pa.RecordBatch]:
    """CSV parsed in parallel: the input is cut into blocks at record boundaries
    (:func:`_csv_record_blocks`), each block parsed on its own, the batches returned in file
    order (memory: a few blocks)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from losscli.parallel import cores, ordered_map

    names = source.column_names()  # reads the header first: it settles the delimiter
    convert = pacsv.ConvertOptions(
        include_columns=list(columns),
        column_types={c: (pa.float64() if c in numeric else pa.string()) for c in columns},
        strings_can_be_null=True,
    )
    parse = pacsv.ParseOptions(delimiter=source.delimiter)
    read_options = pacsv.ReadOptions(
        column_names=names,
        use_threads=False,
        block_size=2 * CSV_PARALLEL_BLOCK_BYTES,  # a block parses as one piece
    )
    # Without a quote character in a block, quote handling can be switched off (~10% faster).
    unquoted = pacsv.ParseOptions(delimiter=source.delimiter, quote_char=False)

    # Numbers only: try the block with "" as the only null spelling (the null-word lookup is
    # ~8% of parsing); a block holding "NA", "null", ... fails that and is parsed again with
    # Arrow's full list, so the result is the same. (Text columns keep the full list: there
    # "NA" would otherwise become a string.)
    fast = None
    if all(name in numeric for name in columns):
        fast = pacsv.ConvertOptions(
            include_columns=list(columns),
            column_types=convert.column_types,
            null_values=[""],
        )

    def parse_block(block: Any, quoted: bool) -> list[pa.RecordBatch]:
        options = read_options
        if len(block) >= read_options.block_size:  # a record longer than a block: still one piece
            options = pacsv.ReadOptions(
                column_names=names, use_threads=False, block_size=len(block) + 1
            )
        parse_block_options = parse if quoted else unquoted
        data = pa.py_buffer(block)
        table = None
        if fast is not None:
            try:
                table = pacsv.read_csv(data, options, parse_block_options, fast)
            except pa.ArrowInvalid:
                pass
        if table is None:
            table = pacsv.read_csv(data, options, parse_block_options, convert)
        return [b for b in table.to_batches(max_chunksize=chunk_size) if b.num_rows]

    jobs = (
        functools.partial(parse_block, block, quoted)
        for block, quoted in _csv_record_blocks(source)
    )
    rows = 0
    try:
        # One thread more than cores: a spare keeps the cores busy while another waits its
        # turn. 10M rows on two cores: 1.10 s with three threads, 1.16 s with two (peak RSS
        # 120 against 101 MiB).
        threads = cores() + 1
        for batch in ordered_map(jobs, workers=threads, ahead=threads + 1):
            rows += batch.num_rows
            yield batch
    except pa.ArrowInvalid as exc:
        _raise_csv_error(source, exc, rows, numeric, block_rows=True)


def _open_decompressed(source: Source) -> IO[bytes]:
    """The input's decompressed bytes: a gzip file inflated by ISA-L when ``isal`` is installed
    (about twice as fast as zlib, and it releases the GIL), anything else as
    :func:`_open_binary` gives it (stdin, a pipe, bz2/zstd/lz4 through Arrow, xz)."""
    if source._stream is None and source.path is not None and source.compression == "gzip":
        try:
            from isal import igzip
        except ImportError:
            pass
        else:
            return igzip.open(source.path, "rb")
    return _open_binary(source)


def _quotes(data: Any, start: int, end: int) -> int:
    """Quote characters in ``data[start:end]`` (a memchr scan when there are none)."""
    if data.find(b'"', start, end) < 0:
        return 0
    return int(data[start:end].count(b'"'))


def _record_end(data: Any, start: int = 0, *, first: bool = False) -> int:
    """Index just past the last complete record in ``data[start:]`` (the first one with
    ``first``), or -1 if none ends there. ``data[start:]`` must begin a record.

    A line break ends a record only outside quotes, i.e. where the number of quote characters
    since ``start`` is even (a doubled quote inside a field counts twice, keeping the parity)."""
    if first:
        cut = start
        while True:
            cut = _line_break(data, cut)
            if cut < 0:
                return -1
            if _quotes(data, start, cut) % 2 == 0:
                return cut + 1  # after CR LF's CR, the LF left is an empty line: skipped
            cut += 1
    end = len(data)
    while True:
        cut = data.rfind(b"\n", start, end)
        if cut < 0:
            cut = data.rfind(b"\r", start, end)
        if cut < 0:
            return -1
        if _quotes(data, start, cut) % 2 == 0:
            return cut + 1
        end = cut  # inside a quoted field: try an earlier line break


def _csv_record_blocks(source: Source) -> Iterator[tuple[Any, bool]]:
    """Blocks of about :data:`CSV_PARALLEL_BLOCK_BYTES` holding whole records (header left
    out), each of which parses on its own, with whether the block holds a quote character."""
    if source._stream is None and source.compression is None:
        yield from _mapped_record_blocks(source)
    else:
        yield from _streamed_record_blocks(source)


def _mapped_record_blocks(source: Source) -> Iterator[tuple[memoryview, bool]]:
    """Zero-copy blocks of an uncompressed file: each is a view of its own read-only memory
    map, unmapped once parsed, so nothing is copied out of the page cache and the mapped pages
    leave RSS block by block (10M rows: 3 copies of 462 MB saved, ~0.2 s of CPU)."""
    import mmap

    assert source.path is not None
    with open(source.path, "rb") as fh:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        start, length, header = 0, CSV_PARALLEL_BLOCK_BYTES, True
        while start < size:
            _check_unchanged(source, os.fstat(fd).st_size, size)
            base = start - start % mmap.ALLOCATIONGRANULARITY
            stop = min(size, start + length)
            try:
                window = mmap.mmap(fd, stop - base, offset=base, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                if start > 0:
                    raise
                yield from _streamed_record_blocks(source)  # a file system without mmap
                return
            offset = start - base
            last = stop == size
            cut = len(window) if last and not header else _record_end(window, offset, first=header)
            if cut < 0 and not last:
                length *= 2  # one record longer than the window (or a long quoted field)
                continue
            if cut < 0:
                cut = len(window)
            if header:
                header = False
            elif not last or window[offset:cut].strip():
                yield memoryview(window)[offset:cut], _quotes(window, offset, cut) > 0
            start, length = base + cut, CSV_PARALLEL_BLOCK_BYTES


def _check_unchanged(source: Source, size_now: int, size: int) -> None:
    """A memory-mapped file must not shrink while it is read (touching a page past its new end
    kills the process with SIGBUS), so its size is checked before each block or column job:
    a file rewritten or truncated meanwhile is an input error instead. (A file that only grows
    is read up to its size at the start.)"""
    if size_now < size:
        raise InputError(
            f"the file shrank while being read ({size} → {size_now} bytes)", file=source.label
        )


def _streamed_record_blocks(source: Source) -> Iterator[tuple[memoryview, bool]]:
    """Blocks of a stream (stdin, a pipe, a compressed file), read piece by piece (one copy per
    block: the unfinished record carried over, joined to the next piece)."""
    with _open_decompressed(source) as stream:
        pending, header = b"", True
        while True:
            data = stream.read(CSV_PARALLEL_BLOCK_BYTES)
            if not data:
                if not header and pending.strip():
                    yield memoryview(pending), _quotes(pending, 0, len(pending)) > 0
                return
            if pending:
                data = pending + data
            if header:
                first = _record_end(data, first=True)
                if first < 0:
                    pending = data
                    continue
                data, header = data[first:], False
            cut = _record_end(data)
            if cut <= 0:
                pending = data  # one record longer than a block (or a long quoted field)
                continue
            yield memoryview(data)[:cut], _quotes(data, 0, cut) > 0
            pending = data[cut:]


def _raise_csv_error(
    source: Source,
    exc: Exception,
    rows_before: int,
    numeric: Sequence[str],
    *,
    block_rows: bool = False,
) -> Any:
    """Turn pyarrow's CSV error into one naming the column and row of the offending text.

    ``rows_before`` rows were read before the failing piece; with ``block_rows`` that piece is
    one parallel block, whose parse errors count rows from its own start ("Row #N")."""
    import re

    message = _clean_arrow_message(exc)
    malformed = re.match(r"CSV parse error: (?:Row #(\d+): )?(.+)$", message, re.DOTALL)
    if malformed:
        problem = malformed.group(2)
        problem = problem[:1].lower() + problem[1:]
        if block_rows and malformed.group(1):
            at = rows_before + int(malformed.group(1))
            raise InputError(f"malformed CSV: {problem}", file=source.label, row=at) from None
        after = f" (at or after row {rows_before + 1})"
        raise InputError(f"malformed CSV: {problem}{after}", file=source.label) from None
    match = re.search(
        # "Row #N" appears only with single-threaded parsing and counts from the start of the
        # parsed piece, not the file: the row is found by re-scanning the column instead.
        r"CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to double: invalid value '(.*)'$",
        message,
    )
    if not match:
        raise InputError(f"malformed CSV: {message}", file=source.label) from None
    names = source.column_names()
    index, text = int(match.group(1)), match.group(2)
    column = names[index] if index < len(names) else None
    row = _find_text_row(source, column, text) if column and source.path else None
    where = f"at or after row {rows_before + 1}" if row is None else None
    detail = f"non-numeric value {text!r}" + (f" ({where})" if where else "")
    raise DataError(detail, file=source.label, column=column, row=row) from None


def _find_text_row(source: Source, column: str, text: str) -> int | None:
    """Re-scan ``column`` as text to find the 1-based row holding ``text`` (error path only)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(
        _csv_input(source),
        read_options=pacsv.ReadOptions(column_names=source.column_names(), skip_rows=1),
        parse_options=pacsv.ParseOptions(delimiter=source.delimiter),
        convert_options=pacsv.ConvertOptions(
            include_columns=[column], column_types={column: pa.string()}
        ),
    )
    offset = 0
    for batch in reader:
        values = batch.column(0).to_pylist()
        for i, value in enumerate(values):
            if value is not None and value.strip() == text.strip():
                return offset + i + 1
        offset += batch.num_rows
    return None


# -- Parquet ------------------------------------------------------------------------------------
def _parquet_file(source: Source, *, streaming: bool = False) -> Any:
    """The Parquet file's reader; ``streaming`` reads pages through a small buffer instead of
    loading whole column chunks first (less memory, same speed when decoding on two threads)."""
    assert source.path is not None
    options: dict[str, Any] = (
        {"pre_buffer": False, "buffer_size": PARQUET_BUFFER_BYTES} if streaming else {}
    )
    try:
        return _open_parquet(source.path, **options)
    except Exception as exc:
        raise InputError(
            f"not a readable Parquet file ({_clean_arrow_message(exc)})", file=source.label
        ) from None


def parquet_metadata(path: str) -> Any:
    """The footer metadata of a Parquet file (row count, row groups, schema)."""
    return _open_parquet(path).metadata


def _open_parquet(file: Any, **options: Any) -> Any:
    """pyarrow's ``ParquetReader`` for ``file`` (a path or an Arrow file).

    This is the class behind ``pyarrow.parquet.ParquetFile``, opened directly: importing
    ``pyarrow.parquet`` also loads ``pyarrow.fs`` (S3, GCS, Azure, HDFS, ssl), ~20 ms of
    start-up a local file never needs. Where the class differs (another pyarrow), the public
    wrapper is used. Page CRCs, where the writer stored them, are verified, so a corrupt page
    is an error instead of wrong numbers.
    """
    options["page_checksum_verification"] = True
    try:
        from pyarrow._parquet import ParquetReader

        reader = ParquetReader()
        reader.open(file, **options)
    except (ImportError, TypeError, AttributeError):
        import pyarrow.parquet as pq

        memory_map = options.pop("use_memory_map", False)
        return pq.ParquetFile(file, memory_map=memory_map, **options).reader
    return reader


def _parquet_batches(
    source: Source, columns: Sequence[str], chunk_size: int
) -> Iterator[pa.RecordBatch]:
    """Row group by row group: groups of at most ``PARQUET_GROUP_ROWS`` rows decoded whole by
    :func:`_parquet_groups`, larger ones streamed in batches (:func:`_parquet_streamed`).

    ``iter_batches`` over a whole file buffers far ahead (~1 GB at 50M rows), hence one group
    at a time; and small batches decoded on Python worker threads cost twice the CPU (1.0 s
    against 0.6 s at 50M rows) for no gain in wall time, hence whole groups where they fit.
    """
    reader = _parquet_file(source, streaming=True)
    metadata = reader.metadata
    per_column = _parquet_leaves(reader, columns)
    small = [
        metadata.row_group(g).num_rows <= PARQUET_GROUP_ROWS for g in range(metadata.num_row_groups)
    ]
    group = 0
    while group < len(small):
        if not small[group]:
            leaves = [i for indices in per_column for i in indices]
            yield from _parquet_streamed(reader, group, leaves, chunk_size)
            group += 1
            continue
        end = small.index(False, group) if False in small[group:] else len(small)
        yield from _parquet_groups(source, metadata, range(group, end), per_column, chunk_size)
        group = end


def _parquet_groups(
    source: Source,
    metadata: Any,
    groups: range,
    per_column: list[list[int]],
    chunk_size: int,
) -> Iterator[pa.RecordBatch]:
    """Whole row groups, each column chunk (the leaves ``per_column`` lists for one column)
    decoded as its own job on one thread per core, in file order, at most two jobs ahead of
    the caller.

    Column jobs rather than whole groups keep both cores busy across group boundaries (a group
    read with pyarrow's own column threads waits for its slowest column). Each job maps the
    file on its own and unmaps it once decoded: no copy out of the page cache (0.27 against
    0.37 s to read 50M rows), and the mapped pages leave RSS with the job. Measured on 50M rows
    (MSE, two cores): 0.55 s at ~145 MiB, against 0.58 s / 130 MiB for whole groups prefetched
    one ahead and 0.54 s / 185 MiB with a third thread.
    """
    import pyarrow as pa

    from losscli.parallel import cores, ordered_map

    path = source.path
    assert path is not None
    size = os.path.getsize(path)

    def read(run: list[int], indices: list[int]) -> list[Any]:
        _check_unchanged(source, os.path.getsize(path), size)
        try:
            file = pa.memory_map(path)
        except OSError:  # a file system without mmap: read the file
            file = pa.OSFile(path)
        with file:
            reader = _open_parquet(file, metadata=metadata)
            return [reader.read_row_groups(run, column_indices=indices, use_threads=False)]

    runs = _group_runs(metadata, groups)
    jobs = (functools.partial(read, run, indices) for run in runs for indices in per_column)
    decoded = ordered_map(jobs, workers=cores(), ahead=2)
    try:
        for run in runs:
            parts = [next(decoded) for _ in per_column]
            table = pa.Table.from_arrays(
                [part.column(0) for part in parts],
                schema=pa.schema([part.schema.field(0) for part in parts]),
            )
            del parts
            if len(run) > 1:  # many small groups: one chunk, not one per group
                table = table.combine_chunks()
            yield from (b for b in table.to_batches(max_chunksize=chunk_size) if b.num_rows)
            del table
    finally:
        decoded.close()  # joins the threads: a decode must never outlive the interpreter


def _group_runs(metadata: Any, groups: range) -> list[list[int]]:
    """Consecutive row groups gathered into runs of up to ``PARQUET_JOB_ROWS`` rows (at least
    one group each): a file of many small groups is decoded in few, large jobs (2,000 groups
    of 1,000 rows: 1.7 s with one job per group, 0.33 s in runs, at 118 MiB)."""
    runs: list[list[int]] = []
    rows = 0
    for group in groups:
        n = metadata.row_group(group).num_rows
        if runs and rows + n <= PARQUET_JOB_ROWS:
            runs[-1].append(group)
            rows += n
        else:
            runs.append([group])
            rows = n
    return runs


def _parquet_leaves(reader: Any, columns: Sequence[str]) -> list[list[int]]:
    """Per named top-level column, its leaf column indices (all leaves of a nested one, which
    then reaches the type check as the whole list or struct column)."""
    schema = reader.metadata.schema
    paths = [schema.column(i).path for i in range(len(schema))]
    return [
        [i for i, path in enumerate(paths) if path == name or path.startswith(name + ".")]
        for name in columns
    ]


def _parquet_streamed(
    reader: Any, group: int, indices: list[int], chunk_size: int
) -> Iterator[pa.RecordBatch]:
    """A row group too large to hold whole, decoded batch by batch (through ``reader``'s small
    page buffer)."""
    batch_rows = max(1, min(chunk_size, PARQUET_BATCH_ROWS))
    for batch in reader.iter_batches(batch_rows, [group], column_indices=indices):
        if batch.num_rows:
            yield batch


# -- Arrow IPC ----------------------------------------------------------------------------------
def _ipc_reader(source: Source) -> Any:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    assert source.path is not None
    try:
        return ipc.open_file(pa.memory_map(source.path))
    except pa.ArrowInvalid:
        return ipc.open_stream(pa.memory_map(source.path))


def _ipc_batches(
    source: Source, columns: Sequence[str], chunk_size: int
) -> Iterator[pa.RecordBatch]:
    reader = _ipc_reader(source)
    if hasattr(reader, "num_record_batches"):
        batches: Iterator[Any] = (reader.get_batch(i) for i in range(reader.num_record_batches))
    else:
        batches = iter(reader)
    for batch in batches:
        yield from _slices(batch.select(list(columns)), chunk_size)


# -- NDJSON -------------------------------------------------------------------------------------
def _ndjson_names(source: Source) -> list[str]:
    import json

    first, _ = _first_line(source)
    try:
        record = json.loads(first)
    except ValueError:
        raise InputError("not valid NDJSON (first line)", file=source.label) from None
    if not isinstance(record, dict):
        raise InputError("NDJSON lines must be objects", file=source.label)
    return list(record)


def _ndjson_batches(
    source: Source, columns: Sequence[str], numeric: Sequence[str], chunk_size: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.json as pajson

    schema = pa.schema([(c, pa.float64() if c in numeric else pa.string()) for c in columns])
    reader = pajson.open_json(
        _csv_input(source),
        read_options=pajson.ReadOptions(block_size=CSV_BLOCK_BYTES),
        parse_options=pajson.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"
        ),
    )
    for batch in reader:
        yield from _slices(batch.select(list(columns)), chunk_size)


# -- helpers ------------------------------------------------------------------------------------
def _slices(batch: pa.RecordBatch, chunk_size: int) -> Iterator[pa.RecordBatch]:
    if batch.num_rows <= chunk_size:
        if batch.num_rows:
            yield batch
        return
    for start in range(0, batch.num_rows, chunk_size):
        yield batch.slice(start, chunk_size)


def _format_from_name(name: str) -> tuple[str | None, str | None]:
    """(format, compression) from a file name's extensions; None where they say nothing."""
    lower = name.lower()
    compression = None
    for ext, codec in COMPRESSION_EXTENSIONS.items():
        if lower.endswith(ext):
            compression, lower = codec, lower[: -len(ext)]
            break
    if lower.endswith(PARQUET_EXTENSIONS):
        return "parquet", compression
    if lower.endswith(IPC_EXTENSIONS):
        return "ipc", compression
    if lower.endswith(NDJSON_EXTENSIONS):
        return "ndjson", compression
    if lower.endswith(".tsv") or lower.endswith(".tab"):
        return "tsv", compression
    if lower.endswith(".csv") or lower.endswith(".txt"):
        return "csv", compression
    return None, compression


def _file_source(path: str, input_format: str | None) -> Source:
    if not os.path.exists(path):
        raise InputError("no such file", file=path)
    if not os.access(path, os.R_OK):
        raise InputError("permission denied", file=path)
    if not stat.S_ISREG(os.stat(path).st_mode):  # a pipe: read once, like stdin
        named_format = input_format or _format_from_name(path)[0]
        return _stream_source(named_format, open(path, "rb"), label=path)
    fmt, compression = _format_from_name(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    kind = sniff(head)
    if kind in ("gzip", "bz2", "zstd", "lz4", "xz"):
        compression = kind
    elif kind in ("parquet", "ipc", "ipc-stream") and input_format is None:
        fmt = "ipc" if kind.startswith("ipc") else kind
    if input_format is not None:
        fmt = input_format
    if fmt is None:
        fmt = "ndjson" if kind == "ndjson" else "csv"
    if not head and fmt in ("parquet", "ipc"):
        raise InputError("empty file", file=path)
    if fmt in ("parquet", "ipc") and compression is not None:
        raise InputError(f"{fmt} files cannot be {compression}-compressed", file=path)
    return Source(
        label=path,
        path=path,
        format="csv" if fmt == "tsv" else fmt,
        delimiter="\t" if fmt == "tsv" else ",",
        compression=compression,
        size_bytes=os.path.getsize(path),
    )


def _stream_source(input_format: str | None, stdin: IO[bytes], label: str = STDIN_LABEL) -> Source:
    """Stdin (or a named pipe such as ``<(zcat x.gz)``): CSV/NDJSON stream straight through;
    Parquet/IPC (which need seeking) are spooled to a temporary file on disk, never into
    memory."""
    peek = getattr(stdin, "peek", None)
    head = peek(8)[:8] if peek else b""
    kind = sniff(head)
    fmt = input_format
    if fmt is None:
        fmt = {"parquet": "parquet", "ipc": "ipc", "ipc-stream": "ipc", "ndjson": "ndjson"}.get(
            kind or "", "csv"
        )
    if fmt in ("parquet", "ipc"):
        import shutil
        import tempfile

        handle, spooled = tempfile.mkstemp(prefix="losscli-stdin-")
        with os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(stdin, out, 1 << 20)
        _TEMPORARY_FILES.append(spooled)
        if os.path.getsize(spooled) == 0:
            raise InputError("empty input", file=label)
        return Source(label=label, path=spooled, format=fmt)
    stream: IO[bytes] = stdin
    compression = kind if kind in ("gzip", "bz2", "zstd", "lz4", "xz") else None
    if compression is not None:
        stream = _decompressing(stdin, compression)
    return Source(
        label=label,
        path=None,
        format="csv" if fmt == "tsv" else fmt,
        delimiter="\t" if fmt == "tsv" else ",",
        _stream=stream,
    )


def _decompressing(stream: IO[bytes], codec: str) -> IO[bytes]:
    import bz2
    import gzip
    import lzma

    if codec == "gzip":
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    if codec == "bz2":
        return bz2.BZ2File(stream, "rb")
    if codec == "xz":
        return lzma.LZMAFile(stream, "rb")
    import pyarrow as pa

    return pa.CompressedInputStream(pa.PythonFile(stream, mode="r"), codec)


_TEMPORARY_FILES: list[str] = []


def cleanup_temporary_files() -> None:
    """Remove spooled stdin copies (called at exit)."""
    while _TEMPORARY_FILES:
        try:
            os.unlink(_TEMPORARY_FILES.pop())
        except OSError:
            pass


def expand_files(spec: str) -> list[str] | None:
    """The files behind one FILE argument: a directory's Parquet files (recursively) or a
    glob's matches, sorted; None when ``spec`` names a single path (or ``-``)."""
    if spec == "-":
        return None
    if os.path.isdir(spec):
        pattern = os.path.join(glob.escape(spec), "**", "*")
        return sorted(
            p
            for p in glob.glob(pattern, recursive=True)
            if os.path.isfile(p) and _format_from_name(p)[0] == "parquet"
        )
    if glob.has_magic(spec) and not os.path.exists(spec):
        return sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
    return None


def open_sources(
    specs: Sequence[str],
    *,
    input_format: str | None = None,
    stdin: IO[bytes] | None = None,
) -> list[Source]:
    """Expand FILE arguments (paths, directories, globs, ``-``) into sources, in order."""
    if input_format is not None and input_format not in FORMATS:
        raise UsageError(f"unknown input format {input_format!r}; choose from {', '.join(FORMATS)}")
    sources: list[Source] = []
    for spec in specs:
        if spec == "-":
            sources.append(_stream_source(input_format, stdin or sys.stdin.buffer))
            continue
        files = expand_files(spec)
        if files is None:
            sources.append(_file_source(spec, input_format))
        elif not files:
            what = (
                "directory holds no .parquet files"
                if os.path.isdir(spec)
                else "no file matches this pattern"
            )
            raise InputError(what, file=spec)
        else:
            default = "parquet" if os.path.isdir(spec) else None
            sources.extend(_file_source(p, input_format or default) for p in files)
    return sources


def check_same_columns(sources: Sequence[Source], needed: Sequence[str]) -> None:
    """Every source of a multi-file dataset must hold the needed columns."""
    for source in sources[1:]:
        names = source.column_names()
        missing = [c for c in needed if c not in names]
        if missing:
            raise DataError(
                f"missing column(s) {', '.join(repr(c) for c in missing)} present in "
                f"{sources[0].label}",
                file=source.label,
            )
