"""Byte streams under every format: sniffing, decompression, spooling checks, slicing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from losscli.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

    from losscli.io.source import Source


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


STDIN_LABEL = "<stdin>"


def sniff(head: bytes) -> str | None:
    """The format or compression announced by a file's first bytes, if any."""
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    if head.lstrip()[:1] == b"{":
        return "ndjson"
    return None


def clean_arrow_message(exc: Exception) -> str:
    return " ".join(str(exc).split())


def open_binary(source: Source) -> IO[bytes]:
    """A binary stream of the source's decompressed bytes (used for header sniffing and xz)."""
    import lzma

    if source._stream is not None:
        return source._stream
    if source.location is not None:
        return _remote_stream(source)
    assert source.path is not None
    if source.compression == "xz":
        return lzma.open(source.path, "rb")
    import pyarrow as pa

    stream = pa.input_stream(source.path, compression=source.compression)
    return stream


def _remote_stream(source: Source) -> Any:
    """A remote object's decompressed bytes, streamed (ranged reads ahead of the parser)."""
    from losscli.io import remote

    assert source.location is not None
    raw = remote.open_stream(source.location)
    if source.compression is None:
        return raw
    if source.compression == "xz":
        import lzma

        return lzma.open(raw, "rb")
    import pyarrow as pa

    return pa.CompressedInputStream(raw, source.compression)


def check_unchanged(source: Source, size_now: int, size: int) -> None:
    """A memory-mapped file must not shrink while it is read (touching a page past its new end
    kills the process with SIGBUS), so its size is checked before each block or column job:
    a file rewritten or truncated meanwhile is an input error instead. (A file that only grows
    is read up to its size at the start.)"""
    if size_now < size:
        raise InputError(
            f"the file shrank while being read ({size} → {size_now} bytes)", file=source.label
        )


def decompressing(stream: IO[bytes], codec: str) -> IO[bytes]:
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


# -- helpers ------------------------------------------------------------------------------------
def slices(batch: pa.RecordBatch, chunk_size: int) -> Iterator[pa.RecordBatch]:
    if batch.num_rows <= chunk_size:
        if batch.num_rows:
            yield batch
        return
    for start in range(0, batch.num_rows, chunk_size):
        yield batch.slice(start, chunk_size)


# -- CSV ----------------------------------------------------------------------------------------
class PrefixedStream(io.RawIOBase):
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


#: The longest header line read (CSV, TSV, NDJSON's first object): a file without a line break
#: in its first 8 MiB (a binary file, a decompression bomb of zeros) is an error, not a read
#: of the whole input into memory. 100,000 columns of 80-character names fit.
MAX_HEADER_BYTES = 8 << 20


def first_line(source: Source) -> tuple[bytes, bool]:
    """The input's first line (without the newline) and whether more follows; on stdin the
    consumed bytes are put back in front of the stream for the real read. A first line longer
    than :data:`MAX_HEADER_BYTES` is an :class:`InputError`."""
    from losscli.errors import InputError

    stream = open_binary(source)
    parts: list[bytes] = []
    size = 0
    while True:
        block = stream.read(1 << 16)
        if not block:
            break
        parts.append(block)
        size += len(block)
        if line_break(block) >= 0:
            break
        if size > MAX_HEADER_BYTES:
            if source._stream is None:
                stream.close()
            raise InputError(
                f"no line break in the first {MAX_HEADER_BYTES >> 20} MiB: the header line is "
                f"longer than losscli reads ({MAX_HEADER_BYTES >> 20} MiB), or this is not a "
                "text file",
                file=source.label,
            )
    head = b"".join(parts)
    if source._stream is not None:
        source._stream = io.BufferedReader(PrefixedStream(head, source._stream), 1 << 20)
    else:
        stream.close()
    cut = line_break(head)
    if cut < 0:
        return head, False
    return head[:cut], True


def line_break(data: Any, start: int = 0) -> int:
    """Index of the first line break (LF, or CR as in CR LF and old Mac files) at or after
    ``start``, or -1."""
    breaks = [i for i in (data.find(b"\n", start), data.find(b"\r", start)) if i >= 0]
    return min(breaks) if breaks else -1


def arrow_input(source: Source) -> Any:
    """What ``pyarrow.csv.open_csv`` reads: the path (native I/O) or a wrapped stream."""
    import pyarrow as pa

    if source._stream is not None or source.compression == "xz":
        return pa.PythonFile(open_binary(source), mode="r")
    if source.location is not None:
        return _remote_stream(source)
    assert source.path is not None
    return pa.input_stream(source.path, compression=source.compression)
