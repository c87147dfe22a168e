"""Arrow IPC / Feather files and streams."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from losscli.io.streams import (
    slices,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from losscli.io.source import Source


# -- Arrow IPC ----------------------------------------------------------------------------------
def _ipc_reader(source: Source) -> Any:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    if source.location is not None:
        from losscli.io import remote

        try:
            return ipc.open_file(remote.open_random_access(source.location))
        except pa.ArrowInvalid:
            return ipc.open_stream(remote.open_stream(source.location))
    assert source.path is not None
    try:
        return ipc.open_file(pa.memory_map(source.path))
    except pa.ArrowInvalid:
        return ipc.open_stream(pa.memory_map(source.path))


def column_names(source: Source) -> list[str]:
    return list(_ipc_reader(source).schema.names)


def batches(
    source: Source, columns: Sequence[str], numeric: Sequence[str], chunk_size: int
) -> Iterator[pa.RecordBatch]:
    reader = _ipc_reader(source)
    if hasattr(reader, "num_record_batches"):
        stored: Iterator[Any] = (reader.get_batch(i) for i in range(reader.num_record_batches))
    else:
        stored = iter(reader)
    for batch in stored:
        yield from slices(batch.select(list(columns)), chunk_size)
