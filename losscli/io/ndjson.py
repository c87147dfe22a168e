"""Newline-delimited JSON."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from losscli.errors import InputError
from losscli.io.streams import (
    arrow_input,
    first_line,
    slices,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from losscli.io.source import Source


# -- NDJSON -------------------------------------------------------------------------------------
def column_names(source: Source) -> list[str]:
    import json

    first, _ = first_line(source)
    try:
        pairs = json.loads(first, object_pairs_hook=lambda items: items)
    except ValueError:
        raise InputError("not valid NDJSON (first line)", file=source.label) from None
    if not isinstance(pairs, list):
        raise InputError("NDJSON lines must be objects", file=source.label)
    # Duplicate keys stay in the list: the column check then names them (never a silent pick).
    return [key for key, _ in pairs]


#: Bytes Arrow's JSON reader parses per block.
BLOCK_BYTES = 1 << 20


def batches(
    source: Source, columns: Sequence[str], numeric: Sequence[str], chunk_size: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.json as pajson

    schema = pa.schema([(c, pa.float64() if c in numeric else pa.string()) for c in columns])
    reader = pajson.open_json(
        arrow_input(source),
        read_options=pajson.ReadOptions(block_size=BLOCK_BYTES),
        parse_options=pajson.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"
        ),
    )
    for batch in reader:
        yield from slices(batch.select(list(columns)), chunk_size)
