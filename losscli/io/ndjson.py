"""Newline-delimited JSON."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from losscli.errors import InputError
from losscli.io.streams import (
    arrow_input,
    clean_arrow_message,
    first_line,
    slices,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from losscli.io.source import Source


# -- NDJSON -------------------------------------------------------------------------------------
class _Pairs(list[tuple[str, object]]):
    """A JSON object's (key, value) pairs in order, duplicates kept (a JSON array is a list
    too, so objects get a type of their own)."""


def _first_record(source: Source) -> list[tuple[str, object]]:
    import json

    first, _ = first_line(source)
    try:
        pairs = json.loads(first, object_pairs_hook=_Pairs)
    except ValueError:
        raise InputError("not valid NDJSON (first line)", file=source.label) from None
    if not isinstance(pairs, _Pairs):  # a number, a string, an array: not a record
        raise InputError("NDJSON lines must be objects", file=source.label)
    return pairs


def column_names(source: Source) -> list[str]:
    # Duplicate keys stay in the list: the column check then names them (never a silent pick).
    return [key for key, _ in _first_record(source)]


def _text_column_type(value: object) -> pa.DataType:
    """The Arrow type of a label or key column, from its value on the first line: JSON numbers
    and booleans stay numbers and booleans (as a Parquet column would; Arrow's JSON reader
    cannot read a number as text), anything else is text."""
    import pyarrow as pa

    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    return pa.string()


#: Bytes Arrow's JSON reader parses per block.
BLOCK_BYTES = 1 << 20


def batches(
    source: Source, columns: Sequence[str], numeric: Sequence[str], chunk_size: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.json as pajson

    first = dict(_first_record(source))
    schema = pa.schema(
        [(c, pa.float64() if c in numeric else _text_column_type(first.get(c))) for c in columns]
    )
    try:  # opening parses the first block
        reader = pajson.open_json(
            arrow_input(source),
            read_options=pajson.ReadOptions(block_size=BLOCK_BYTES),
            parse_options=pajson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
        )
    except pa.ArrowInvalid as exc:
        raise _located(exc, source.label, 0) from None
    rows_before = 0  # Arrow numbers a parse error's row within its block: make it the file's
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise _located(exc, source.label, rows_before) from None
        rows_before += batch.num_rows
        yield from slices(batch.select(list(columns)), chunk_size)


def _located(exc: Exception, label: str, rows_before: int) -> InputError:
    """Arrow's ``JSON parse error: Column(/c) changed from … in row 3`` as one error naming the
    file, the column and the line (1-based, counted from the file's start)."""
    import re

    message = clean_arrow_message(exc)
    at = re.search(r"\s*in row (\d+)$", message)
    row = rows_before + int(at.group(1)) + 1 if at else None
    message = message[: at.start()] if at else message
    named = re.match(r"JSON parse error: Column\(/([^)]*)\) (.*)$", message)
    column = named.group(1) if named else None
    message = (named.group(2) if named else message).rstrip(".")
    changed = re.match(r"changed from (\w+) to (\w+)$", message)
    if changed:
        message = (
            f"a JSON {changed.group(2)} where the column's earlier values are {changed.group(1)}s"
        )
    return InputError(message, file=label, column=column, row=row)
