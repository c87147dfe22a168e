"""CSV/TSV: quote-aware record blocks (memory-mapped or streamed), parsed in parallel by Arrow."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from losscli.errors import DataError, EmptyInputError, InputError, UsageError
from losscli.io.streams import (
    arrow_input,
    check_unchanged,
    clean_arrow_message,
    first_line,
    line_break,
    open_binary,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from losscli.io.source import Source


#: CSV blocks parsed in parallel: big enough to amortise a parse call, small enough that the
#: few blocks in flight stay a few MiB.
CSV_PARALLEL_BLOCK_BYTES = 1 << 22

#: The longest CSV record (one row, quoted line breaks included) losscli parses: a longer one
#: (a 1 GB line, a decompression bomb) is an error instead of a block of that size in memory.
MAX_RECORD_BYTES = 64 << 20

#: The most columns a CSV header may name (100,000 read in ~1 s).
MAX_COLUMNS = 200_000


def _record_too_long(source: Source, offset: int) -> InputError:
    return InputError(
        f"a record longer than {MAX_RECORD_BYTES >> 20} MiB starts at byte {offset} "
        "(a single line that long is not a table row, or a quote is never closed)",
        file=source.label,
    )


def column_names(source: Source) -> list[str]:
    first_bytes, more = first_line(source)
    if first_bytes.startswith((b"\xff\xfe", b"\xfe\xff")):  # what Excel's "Unicode text" saves
        raise InputError(
            "UTF-16 text (a byte-order mark FF FE / FE FF): save the CSV as UTF-8",
            file=source.label,
        )
    if not first_bytes.strip():
        raise InputError("empty input: no header row", file=source.label)
    if not more:
        raise EmptyInputError("no rows (only a header line)", file=source.label)
    first = first_bytes.decode("utf-8-sig", errors="replace")
    if source.format == "csv" and source.sniff:
        source.delimiter = sniff_delimiter(first, source.label)
    if source.decimal_comma and source.delimiter == ",":
        raise UsageError(
            "--decimal-comma needs a delimiter other than ',' (e.g. --delimiter ';')",
            file=source.label,
        )
    import csv

    names = next(csv.reader([first], delimiter=source.delimiter))
    if len(names) > MAX_COLUMNS:
        raise InputError(
            f"the header names {len(names):,} columns; losscli reads at most {MAX_COLUMNS:,}",
            file=source.label,
        )
    return [name.strip() for name in names]


#: Delimiters the header is searched for when none is given.
SNIFFED_DELIMITERS = (",", "\t", ";", "|")


def sniff_delimiter(header: str, label: str) -> str:
    """The one candidate delimiter the header holds outside quotes (``,`` when none: one
    column). Two or more is ambiguous (``a;b,c``): an error asking for ``--delimiter``, never a
    guess."""
    import re

    unquoted = re.sub(r'"[^"]*"', "", header)
    found = [c for c in SNIFFED_DELIMITERS if c in unquoted]
    if len(found) > 1:
        shown = " and ".join(repr(c) for c in found)
        raise UsageError(
            f"cannot tell the delimiter: the header holds {shown}; give --delimiter",
            file=label,
        )
    return found[0] if found else ","


def parse_delimiter(text: str) -> str:
    """``--delimiter`` / ``delimiter =``: one character (``\\t`` or ``tab`` for a tab), not a
    quote, a line break or a decimal separator's ``.``."""
    value = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(text, text)
    if len(value) != 1 or value in ('"', "\n", "\r", "."):
        raise UsageError(
            f"--delimiter must be one character other than a quote, '.' or a line break "
            f"(got {text!r}); e.g. ';', '|', 'tab'"
        )
    return value


def batches(
    source: Source, columns: Sequence[str], numeric: Sequence[str], chunk_size: int
) -> Iterator[pa.RecordBatch]:
    """CSV parsed in parallel: the input is cut into blocks at record boundaries
    (:func:`_csv_record_blocks`), each block parsed on its own, the batches returned in file
    order (memory: a few blocks)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from losscli.io.parallel import cores, ordered_map

    names = source.column_names()  # reads the header first: it settles the delimiter
    decimal = {"decimal_point": ","} if source.decimal_comma else {}
    column_types = {c: (pa.float64() if c in numeric else pa.string()) for c in columns}
    parse = pacsv.ParseOptions(delimiter=source.delimiter)
    read_options = pacsv.ReadOptions(
        column_names=names,
        use_threads=False,
        block_size=2 * CSV_PARALLEL_BLOCK_BYTES,  # a block parses as one piece
    )
    # Without a quote character in a block, quote handling can be switched off (~10% faster).
    unquoted = pacsv.ParseOptions(delimiter=source.delimiter, quote_char=False)

    # Try each block with "" as the only null spelling first: text columns (group keys, labels,
    # kept ids) must keep "NA", "null" or "nan" as the text they are (a key "NA" is Namibia, not
    # a missing key), and for numbers the null-word lookup is ~8% of parsing. A block whose
    # numbers hold "NA", "null", ... fails that; its numbers are then parsed again with Arrow's
    # full list (those cells become missing values, as before), its text still with "" only.
    exact = pacsv.ConvertOptions(
        include_columns=list(columns),
        column_types=column_types,
        null_values=[""],
        strings_can_be_null=True,
        **decimal,
    )
    numbers = [c for c in columns if c in numeric]
    texts = [c for c in columns if c not in numeric]
    numbers_only = pacsv.ConvertOptions(
        include_columns=numbers,
        column_types={c: pa.float64() for c in numbers},
        **decimal,
    )
    exact_text = pacsv.ConvertOptions(
        include_columns=texts,
        column_types={c: pa.string() for c in texts},
        null_values=[""],
        strings_can_be_null=True,
    )

    def parse_block(block: Any, quoted: bool) -> list[pa.RecordBatch]:
        options = read_options
        if len(block) >= read_options.block_size:  # a record longer than a block: still one piece
            options = pacsv.ReadOptions(
                column_names=names, use_threads=False, block_size=len(block) + 1
            )
        parse_block_options = parse if quoted else unquoted
        data = pa.py_buffer(block)
        try:
            table = pacsv.read_csv(data, options, parse_block_options, exact)
        except pa.ArrowInvalid:
            if not numbers:
                raise
            table = pacsv.read_csv(data, options, parse_block_options, numbers_only)
            if texts:
                text_table = pacsv.read_csv(data, options, parse_block_options, exact_text)
                for name in texts:
                    table = table.append_column(name, text_table.column(name))
                table = table.select(list(columns))
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
    :func:`open_binary` gives it (stdin, a pipe, bz2/zstd/lz4 through Arrow, xz)."""
    if source._stream is None and source.path is not None and source.compression == "gzip":
        try:
            from isal import igzip
        except ImportError:
            pass
        else:
            return igzip.open(source.path, "rb")
    return open_binary(source)


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
            cut = line_break(data, cut)
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
    if source._stream is None and source.compression is None and source.location is None:
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
            check_unchanged(source, os.fstat(fd).st_size, size)
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
                if length >= MAX_RECORD_BYTES:
                    raise _record_too_long(source, start)
                length *= 2  # one record longer than the window (or a long quoted field)
                continue
            if cut < 0:
                cut = len(window)
            if header:
                header = False
            elif not last or window[offset:cut].strip():
                yield memoryview(window)[offset:cut], _quotes(window, offset, cut) > 0
            start, length = base + cut, CSV_PARALLEL_BLOCK_BYTES


def _streamed_record_blocks(source: Source) -> Iterator[tuple[memoryview, bool]]:
    """Blocks of a stream (stdin, a pipe, a compressed file), read piece by piece (one copy per
    block: the unfinished record carried over, joined to the next piece)."""
    with _open_decompressed(source) as stream:
        pending, header, offset = b"", True, 0
        while True:
            if len(pending) > MAX_RECORD_BYTES:
                raise _record_too_long(source, offset)
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
                data, header, offset = data[first:], False, first
            cut = _record_end(data)
            if cut <= 0:
                pending = data  # one record longer than a block (or a long quoted field)
                continue
            yield memoryview(data)[:cut], _quotes(data, 0, cut) > 0
            pending = data[cut:]
            offset += cut


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

    message = clean_arrow_message(exc)
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
    readable_again = source.path is not None or source.location is not None
    row = _find_text_row(source, column, text) if column and readable_again else None
    where = f"at or after row {rows_before + 1}" if row is None else None
    detail = f"non-numeric value {text!r}" + (f" ({where})" if where else "")
    raise DataError(detail, file=source.label, column=column, row=row) from None


def _find_text_row(source: Source, column: str, text: str) -> int | None:
    """Re-scan ``column`` as text to find the 1-based row holding ``text`` (error path only)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(
        arrow_input(source),
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
