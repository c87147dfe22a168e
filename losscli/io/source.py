"""One readable input and its Arrow record batches.

Supported: CSV/TSV (plain, .gz, .bz2, .zst, .lz4, .xz), Parquet (a file, a directory or a glob
of files read as one dataset), Arrow IPC/Feather, NDJSON, and ``-`` for stdin (format sniffed
from the first bytes). Only the requested columns are read, and at most one bounded batch is
alive at a time, so memory follows the chunk size, not the file size. Each format is one module
with ``column_names(source)`` and ``batches(source, columns, numeric, chunk_size)``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from losscli.errors import InputError, LossCliError
from losscli.io.streams import clean_arrow_message

if TYPE_CHECKING:
    import pyarrow as pa

    from losscli.io.remote import Location


class Source:
    """One readable input. ``batches`` yields Arrow record batches of the requested columns."""

    __slots__ = (
        "_names",
        "_stream",
        "compression",
        "decimal_comma",
        "delimiter",
        "first_row",
        "format",
        "label",
        "location",
        "path",
        "row_groups",
        "size_bytes",
        "sniff",
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
        location: Location | None = None,
        decimal_comma: bool = False,
        sniff: bool | None = None,
    ) -> None:
        self.label = label
        self.path = path
        self.format = format
        self.compression = compression
        self.delimiter = delimiter
        #: CSV: numbers written with a decimal comma (``1,5``), as European spreadsheets do.
        self.decimal_comma = decimal_comma
        #: CSV: the delimiter is found from the header (no --delimiter, not a .tsv).
        self.sniff = format == "csv" and delimiter == "," if sniff is None else sniff
        self.size_bytes = size_bytes
        self._stream = _stream
        self._names: list[str] | None = None
        #: Where a remote object lives (``s3://``, ``gs://``, ``http(s)://``); None for local.
        self.location = location
        #: A Dask unit's Parquet row groups ``(start, stop)`` (None: all) and the file row
        #: number of its first row (0-based), so errors name rows as a local run does.
        self.row_groups: tuple[int, int] | None = None
        self.first_row = 0

    def __repr__(self) -> str:
        return f"Source({self.label!r}, format={self.format!r})"

    def set_dialect(self, delimiter: str | None, decimal_comma: bool) -> None:
        """Apply ``--delimiter`` / ``--decimal-comma`` (CSV only; other formats ignore them)."""
        if self.format != "csv":
            return
        if delimiter is not None:
            self.delimiter = delimiter
            self.sniff = False
        self.decimal_comma = decimal_comma

    # -- schema -------------------------------------------------------------------------------
    def column_names(self) -> list[str]:
        """The input's column names, in file order."""
        if self._names is None:
            self._names = _column_names(self)
        return self._names

    # -- data ---------------------------------------------------------------------------------
    def batches(
        self,
        columns: Sequence[str],
        numeric: Sequence[str],
        chunk_size: int,
        dictionary: Sequence[str] = (),
    ) -> Iterator[pa.RecordBatch]:
        """Record batches holding ``columns`` (``numeric`` ones typed float64 where the format
        lets us declare it), each at most ``chunk_size`` rows; ``dictionary`` columns (group
        keys) may arrive dictionary-encoded where the format stores them so (Parquet)."""
        import pyarrow as pa

        reader = _reader(self.format)
        extra = {"dictionary": dictionary} if dictionary and self.format == "parquet" else {}
        try:
            yield from reader.batches(self, columns, numeric, chunk_size, **extra)
        except pa.ArrowInvalid as exc:
            raise InputError(clean_arrow_message(exc), file=self.label) from None
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot read: {clean_arrow_message(exc)}", file=self.label) from None
        except pa.ArrowException as exc:  # e.g. an unsupported codec or a corrupt page
            raise InputError(f"cannot read: {clean_arrow_message(exc)}", file=self.label) from None
        except (ValueError, RuntimeError) as exc:
            if self.location is None:  # a local read: not a storage failure, a bug
                raise
            from losscli.io import remote  # only a URI gets here

            # fsspec's HTTP file raises plain ValueErrors (no range requests, a short body)
            raise remote.explain(exc, self.location) from None


def _reader(format: str) -> Any:
    """The module that reads ``format``: each has ``column_names`` and ``batches``."""
    from losscli.io import csv, ipc, ndjson, parquet  # Arrow's readers load on first use

    return {"parquet": parquet, "ipc": ipc, "ndjson": ndjson}.get(format, csv)


def _column_names(source: Source) -> list[str]:
    try:
        return list(_reader(source.format).column_names(source))
    except LossCliError:
        raise
    except Exception as exc:  # corrupt or unreadable input of any kind
        raise InputError(f"cannot read: {clean_arrow_message(exc)}", file=source.label) from None
