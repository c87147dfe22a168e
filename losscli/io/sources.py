"""Sources: FILE arguments (paths, directories, globs, named pipes, ``-`` for stdin) resolved
into :class:`~losscli.io.source.Source` objects, in order."""

from __future__ import annotations

import glob
import os
import stat
import sys
from collections.abc import Sequence
from typing import IO

from losscli.defaults import INPUT_FORMATS as FORMATS
from losscli.errors import DataError, InputError, UsageError
from losscli.io.source import Source
from losscli.io.streams import (
    COMPRESSION_EXTENSIONS,
    IPC_EXTENSIONS,
    NDJSON_EXTENSIONS,
    PARQUET_EXTENSIONS,
    STDIN_LABEL,
    decompressing,
    sniff,
)


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


def _text_layout(fmt: str) -> tuple[str, str]:
    """(format, delimiter): TSV is CSV with a tab delimiter."""
    return ("csv", "\t") if fmt == "tsv" else (fmt, ",")


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
    fmt, delimiter = _text_layout(fmt)
    return Source(
        label=path,
        path=path,
        format=fmt,
        delimiter=delimiter,
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
        stream = decompressing(stdin, compression)
    fmt, delimiter = _text_layout(fmt)
    return Source(label=label, path=None, format=fmt, delimiter=delimiter, _stream=stream)


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
        found = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        parquet = [p for p in found if _format_from_name(p)[0] == "parquet"]
        # Data of another format in a Parquet dataset would be left out silently: an error
        # (a .txt note, Spark's _SUCCESS and hidden .crc files are not data).
        other = [
            p
            for p in found
            if _format_from_name(p)[0] in ("csv", "tsv", "ipc", "ndjson")
            and not p.lower().endswith(".txt")
        ]
        if other:
            shown = os.path.relpath(other[0], spec) + (
                f" (+{len(other) - 1} more)" if len(other) > 1 else ""
            )
            if parquet:
                what, pick = f"mixes Parquet files with {shown}", "*.parquet"
            else:
                what, pick = (
                    f"holds {shown} and no .parquet file",
                    "*" + os.path.splitext(other[0])[1],
                )
            raise InputError(
                f"the directory {what}: a directory is read as one Parquet dataset; name the "
                f"files, or use a glob such as {os.path.join(spec, pick)}",
                file=spec,
            )
        return parquet
    if glob.has_magic(spec) and not os.path.exists(spec):
        return sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
    return None


def _remote_sources(spec: str, input_format: str | None, anonymous: bool) -> list[Source]:
    """An ``s3://``, ``gs://`` or ``http(s)://`` FILE argument: an object, a prefix (a Parquet
    dataset) or a glob. The format comes from the name, else from the first bytes."""
    from losscli.io import remote  # object-storage clients load only for a URI

    sources = []
    for found in remote.expand(spec, anonymous):
        location = found.location
        name = location.key.split("?", 1)[0]
        fmt, compression = _format_from_name(name)
        if input_format is None and fmt is None:
            kind = sniff(remote.read_head(location.uri, 8, anonymous))
            if kind in ("gzip", "bz2", "zstd", "lz4", "xz"):
                compression = kind
            elif kind in ("parquet", "ipc", "ipc-stream"):
                fmt = "ipc" if kind.startswith("ipc") else kind
            elif kind == "ndjson":
                fmt = "ndjson"
        fmt = input_format or fmt or "csv"
        if fmt in ("parquet", "ipc") and compression is not None:
            raise InputError(f"{fmt} files cannot be {compression}-compressed", file=location.label)
        sources.append(
            Source(
                label=location.label,
                path=None,
                format="csv" if fmt == "tsv" else fmt,
                delimiter="\t" if fmt == "tsv" else ",",
                compression=compression,
                size_bytes=found.size,
                location=location,
            )
        )
    return sources


def is_remote(spec: str) -> bool:
    """Whether a FILE argument is a URI (``s3://``, ``gs://``, ``http(s)://``)."""
    return spec[:8].lower().startswith(("s3://", "gs://", "gcs://", "http://", "https://"))


def open_sources(
    specs: Sequence[str],
    *,
    input_format: str | None = None,
    stdin: IO[bytes] | None = None,
    anonymous: bool = False,
) -> list[Source]:
    """Expand FILE arguments (paths, directories, globs, URIs, ``-``) into sources, in order."""
    if input_format is not None and input_format not in FORMATS:
        raise UsageError(f"unknown input format {input_format!r}; choose from {', '.join(FORMATS)}")
    sources: list[Source] = []
    for spec in specs:
        if spec == "-":
            sources.append(_stream_source(input_format, stdin or sys.stdin.buffer))
            continue
        if is_remote(spec):
            sources.extend(_remote_sources(spec, input_format, anonymous))
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
