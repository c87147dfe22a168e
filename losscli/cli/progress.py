"""A progress bar on stderr for long runs on a terminal: rows, bytes read of total, rate, ETA.

It implements the engine's ``Progress`` protocol (``advance(rows, nbytes)``). It is shown only
when stderr is a terminal, ``CI`` is not set, ``TERM`` is not ``dumb`` and ``--quiet`` was not
given, and only once a run has lasted :data:`SHOW_AFTER_SECONDS`, so quick runs print nothing.
It never touches stdout, and it erases itself when the run ends.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from losscli.io.streams import PARQUET_EXTENSIONS
from losscli.report.sanitize import rich_text
from losscli.report.terminal import Environment

if TYPE_CHECKING:
    from rich.console import Console

SHOW_AFTER_SECONDS = 0.5
REFRESH_SECONDS = 0.1
_TEXT = (".csv", ".tsv", ".txt", ".ndjson", ".jsonl")
_SAMPLE_BYTES = 1 << 20
_MAX_FOOTERS = 256  # reading more Parquet footers than this just to size a bar is not worth it


def enabled(env: Environment, *, quiet: bool) -> bool:
    """Whether a progress bar may be drawn: a terminal on stderr, not CI, not --quiet."""
    return env.stderr_isatty and not env.in_ci and not quiet and env.env.get("TERM") != "dumb"


def expand(files: Sequence[str]) -> list[str]:
    """The regular files behind FILE arguments (directories and globs expanded; not stdin)."""
    from losscli.io.sources import expand_files

    out: list[str] = []
    for spec in files:
        expanded = expand_files(spec)
        if expanded is not None:
            out += expanded
        elif spec != "-" and os.path.isfile(spec):
            out.append(spec)
    return out


def _estimate_rows(path: str) -> int | None:
    """Rows in a file, cheaply: a Parquet footer, or for plain text the file size over the mean
    line length of the first MiB (less the header); None when it cannot be told (compressed)."""
    lower = path.lower()
    if lower.endswith(PARQUET_EXTENSIONS):
        try:
            from losscli.io.parquet import parquet_metadata

            return int(parquet_metadata(path).num_rows)
        except Exception:
            return None
    if not lower.endswith(_TEXT):
        return None
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            sample = fh.read(_SAMPLE_BYTES)
    except OSError:
        return None
    lines = sample.count(b"\n")
    header = 0 if lower.endswith((".ndjson", ".jsonl")) else 1
    if len(sample) >= size:  # the whole file: exact
        lines += 0 if sample.endswith(b"\n") or not sample else 1
        return max(lines - header, 0)
    if lines == 0:
        return None
    return max(round(size * lines / len(sample)) - header, 0)


def input_totals(files: Sequence[str]) -> tuple[int | None, int | None]:
    """(total bytes, total rows) of the inputs; None where unknown (stdin, compressed text)."""
    if any(f == "-" for f in files):
        return None, None
    paths = expand(files)
    if not paths:
        return None, None
    total_bytes = sum(os.path.getsize(p) for p in paths)
    if len(paths) > _MAX_FOOTERS:
        return total_bytes, None
    rows = [_estimate_rows(p) for p in paths]
    known = [r for r in rows if r is not None]
    return total_bytes, (sum(known) if len(known) == len(rows) else None)


class ProgressBar:
    """The engine's ``Progress``: counts rows and bytes, and draws a rich bar on a console.

    Bytes read are those the engine reports (a file's size when it is done) or, when the total
    row count is known, the share of the total bytes that the rows read so far stand for.
    """

    def __init__(
        self,
        console: Console,
        *,
        total_bytes: int | None,
        total_rows: int | None,
        description: str = "reading",
        show_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.total_bytes = total_bytes
        self.total_rows = total_rows
        self.description = description
        self.show_after = SHOW_AFTER_SECONDS if show_after is None else show_after
        self.clock = clock
        self.rows = 0
        self.bytes_reported = 0
        self.started = clock()
        self._last_draw = -1.0
        self._progress: Any = None
        self._task: Any = None

    @property
    def shown(self) -> bool:
        return self._progress is not None

    @property
    def bytes_read(self) -> int:
        done = self.bytes_reported
        if self.total_rows and self.total_bytes:
            share = min(self.rows / self.total_rows, 1.0)
            done = max(done, round(share * self.total_bytes))
        return min(done, self.total_bytes) if self.total_bytes else done

    def rate(self) -> float:
        """Rows per second since the run started."""
        elapsed = self.clock() - self.started
        return self.rows / elapsed if elapsed > 0 else 0.0

    def advance(self, rows: int, nbytes: int) -> None:
        self.rows += rows
        self.bytes_reported += nbytes
        now = self.clock()
        if self._progress is None:
            if now - self.started < self.show_after:
                return
            self._start()
        elif now - self._last_draw < REFRESH_SECONDS:
            return
        self._draw(now)

    def _start(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[rows]} rows"),
            DownloadColumn(),
            TextColumn("{task.fields[rate]} rows/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            redirect_stdout=False,  # results go to stdout untouched, even per-row streams
            redirect_stderr=False,
            get_time=self.clock,
        )
        self._task = self._progress.add_task(
            self.description, total=self.total_bytes, rows="0", rate="0"
        )
        self._progress.start()

    def _draw(self, now: float) -> None:
        self._last_draw = now
        self._progress.update(
            self._task,
            completed=self.bytes_read,
            rows=f"{self.rows:,}",
            rate=f"{self.rate():,.0f}",
        )

    def close(self) -> None:
        """Stop drawing and erase the bar."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@contextmanager
def progress_for(
    env: Environment, files: Sequence[str], *, quiet: bool, description: str | None = None
) -> Iterator[ProgressBar | None]:
    """A :class:`ProgressBar` for a pass over ``files`` when one may be shown, else None."""
    if not enabled(env, quiet=quiet):
        yield None
        return
    total_bytes, total_rows = input_totals(files)
    if description is None:
        names = ["stdin" if f == "-" else os.path.basename(f.rstrip("/")) for f in files]
        description = names[0] if len(names) == 1 else f"{len(names)} inputs"
    description = rich_text(description)  # a file name is data: no markup, no escapes
    bar = ProgressBar(
        env.console(stderr=True),
        total_bytes=total_bytes,
        total_rows=total_rows,
        description=description,
    )
    try:
        yield bar
    finally:
        bar.close()
