"""``--engine dask``: the local pass, unit by unit, on a Dask cluster, merged in plan order.

The plan cuts the input into units of work: for Parquet, ranges of whole row-group runs (the
runs the local reader decodes, see :func:`losscli.io.parquet.parquet_runs`) of about
``unit_rows`` rows; every other format, and a ``--targets-from`` pair, one unit per file (per
pair). A task is a small descriptor (file, row-group range, first row number); the worker opens
the file itself — from its own disk or from object storage, with its own credentials — runs the
same reader, chunking and kernels as the local engine (:class:`~losscli.engine.local.Pass`) and
returns the mergeable states, grouped ones included. The client merges them in unit order, so
the digits are the local run's: the chunks are the same chunks and the sums are exact.

Footers are read by the workers when there are many files (:data:`FOOTERS_ON_CLIENT`), so
planning never reads thousands of footers one after another on the client. Tasks are pure
functions of their unit, so a task lost with its worker is simply run again elsewhere. A data
error on a worker comes back as a value and is raised on the client exactly as locally (the
first failing unit in input order wins), never as a remote traceback.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from losscli import errors
from losscli.engine.columns import Selection
from losscli.engine.intervals import IntervalRequest
from losscli.engine.local import (
    Pass,
    _drop_missing,
    _resolve,
    _resolve_paired,
    _validate,
    open_inputs,
)
from losscli.engine.request import LossRequest, LossResult, Progress, RowSink, RunOptions
from losscli.errors import InputError, LossCliError, UsageError
from losscli.io.source import Source
from losscli.io.sources import open_sources

#: With more files than this, their footers (row groups, column names) are read by the workers.
FOOTERS_ON_CLIENT = 8

#: Seconds to wait for a scheduler before giving up (``LOSSCLI_DASK_TIMEOUT`` overrides).
CONNECT_TIMEOUT = 10.0


# -- descriptors sent to workers (plain values: no open files, no credentials) -------------------
class SourceSpec(NamedTuple):
    label: str
    path: str | None
    location: Any  # losscli.io.remote.Location | None
    format: str
    compression: str | None
    delimiter: str
    size_bytes: int | None
    decimal_comma: bool = False
    sniff: bool = True

    @classmethod
    def of(cls, source: Source) -> SourceSpec:
        path = os.path.abspath(source.path) if source.path is not None else None
        return cls(
            source.label,
            path,
            source.location,
            source.format,
            source.compression,
            source.delimiter,
            source.size_bytes,
            source.decimal_comma,
            source.sniff,
        )

    def open(self) -> Source:
        return Source(
            label=self.label,
            path=self.path,
            format=self.format,
            compression=self.compression,
            delimiter=self.delimiter,
            size_bytes=self.size_bytes,
            location=self.location,
            decimal_comma=self.decimal_comma,
            sniff=self.sniff,
        )


class Window(NamedTuple):
    """A unit's rows of a row-aligned baseline file (Parquet): the baseline files and row-group
    ranges that hold them, the file row number each range starts at, and how many rows of
    that stream to skip and then to take (the unit's own rows, by position)."""

    sources: tuple[SourceSpec, ...]
    row_groups: tuple[tuple[int, int], ...]
    first_rows: tuple[int, ...]
    skip: int
    take: int


class Unit(NamedTuple):
    """One task: a file (or a run range of a Parquet file), or a ``--targets-from`` pair."""

    position: int
    sources: tuple[SourceSpec, ...]
    targets: tuple[SourceSpec, ...] | None = None
    row_groups: tuple[int, int] | None = None
    first_row: int = 0
    rows: int | None = None  # known for Parquet (progress)
    nbytes: int = 0
    offset: int | None = 0  # rows of the input before this unit's (None: not known before)
    paired: tuple[SourceSpec, ...] | None = None  # a --baseline predictions file, row-aligned
    window: Window | None = None  # or this unit's rows of it


class Job(NamedTuple):
    """What every unit of one run shares: the losses (by name), options and resolved columns."""

    losses: tuple[tuple[str, dict[str, Any], dict[str, str | None]], ...]
    options: RunOptions
    selections: list[Selection]
    dataset: str | None = None  # --reduction none: each unit writes its part here
    intervals: tuple[IntervalRequest | None, ...] = ()  # --confidence, per loss
    centres: tuple[Any, ...] = ()  # per plan, the centre of its centred features (or None)


class Done(NamedTuple):
    """A unit's states, one piece per chunk: (rows, skipped, states, group keys with grouped states,
    chart states, interval states)."""

    position: int
    rows: int
    pieces: list[tuple[int, int, list[Any], tuple[Any, list[Any]] | None, list[Any], list[Any]]]


class Failed(NamedTuple):
    """A losscli error raised on a worker, carried back as plain values."""

    position: int
    kind: str
    message: str
    file: str | None
    column: str | None
    row: int | None

    def error(self) -> LossCliError:
        cls = getattr(errors, self.kind, None)
        if not (isinstance(cls, type) and issubclass(cls, LossCliError)):
            cls = InputError
        return cls(self.message, file=self.file, column=self.column, row=self.row)


class FileShape(NamedTuple):
    names: list[str]
    runs: list[tuple[int, int, int]] | None  # Parquet: (first group, stop group, rows) per run


# -- worker side --------------------------------------------------------------------------------
#: What Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_`` to in the workers it starts.
DASK_TRIM_THRESHOLD = "65536"
_malloc_tuned = False


def _tune_malloc() -> None:
    """Undo, in a worker process, what Dask's ``MALLOC_TRIM_THRESHOLD_=65536`` does to glibc:
    setting it also fixes the mmap threshold at 128 KiB, so every array above that (a
    bootstrap's weights, a chunk's columns) is a fresh mapping whose page faults cost more
    than the work — a bootstrap unit ran 2.5x slower than in a plain process (1M CSV rows,
    B = 200: 4.1–6.2 s against 1.6–2.4 s). Set the thresholds a plain process settles at
    (mmap above 32 MiB, trim beyond 64 MiB). Only glibc, only once, only Dask's own value."""
    global _malloc_tuned
    if _malloc_tuned or os.environ.get("MALLOC_TRIM_THRESHOLD_") != DASK_TRIM_THRESHOLD:
        return
    _malloc_tuned = True
    try:
        import ctypes  # only in a worker Dask's nanny started

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameters
        libc.mallopt(m_mmap_threshold, 32 << 20)
        libc.mallopt(m_trim_threshold, 64 << 20)
    except (OSError, AttributeError):  # not glibc: nothing to undo
        pass


def describe(spec: SourceSpec) -> FileShape | Failed:
    """A file's column names and, for Parquet, its row-group runs (one footer read)."""
    try:
        source = spec.open()
        names = source.column_names()
        runs = None
        if source.format == "parquet":
            from losscli.io.parquet import row_group_runs

            runs = row_group_runs(source)
        return FileShape(names, runs)
    except LossCliError as exc:
        return Failed(-1, type(exc).__name__, exc.message, exc.file, exc.column, exc.row)


def count_rows(spec: SourceSpec, column: str, typed: bool, chunk_size: int) -> int | Failed:
    """A file's rows as a unit reads them (the same reader: quoted line breaks, skipped blank
    lines), counted from one of the run's columns read as the run reads it."""
    _tune_malloc()
    try:
        source = spec.open()
        batches = source.batches([column], [column] if typed else [], chunk_size)
        return sum(batch.num_rows for batch in batches)
    except LossCliError as exc:
        return Failed(-1, type(exc).__name__, exc.message, exc.file, exc.column, exc.row)


def _requests(job: Job) -> list[LossRequest]:
    from losscli.catalogue import lookup

    requests = []
    intervals = job.intervals or (None,) * len(job.losses)
    for (name, params, columns), interval in zip(job.losses, intervals, strict=True):
        spec = lookup(name)
        assert spec is not None
        requests.append(LossRequest(spec, params, columns, interval))
    return requests


def read_centres(job: Job, whole: Unit) -> tuple[Any, ...]:
    """Per plan, the centre of its centred interval features (r2, explained variance,
    d2_tweedie power 0), or None: the features of the input's first row (its first kept row
    with ``--nan skip``), read from ``whole`` (every input file) before any unit runs, as a
    local run centres on the first row it sees. Every unit then centres on the same values,
    so the replicate sums are the local run's. Run on a worker: the client reads no data."""
    _tune_malloc()
    try:
        probe = Pass(
            _requests(job),
            job.options._replace(chunk_size=1024),  # only the first row is wanted
            [s.open() for s in whole.sources],
            [s.open() for s in whole.targets] if whole.targets else None,
            job.selections,
            check_columns=False,
            paired_sources=[s.open() for s in whole.paired] if whole.paired else None,
        )
        chunks = probe.chunks()
        try:
            first = None
            with np.errstate(all="ignore"):  # non-finite values are reported by the units
                for chunk in chunks:
                    if job.options.nan == "skip":
                        chunk, _ = _drop_missing(chunk, probe.union.numeric)
                    if chunk.n:
                        first = chunk.head(1)
                        break
                if first is None:
                    return ()  # no rows: the units say so
                for plan in probe.plans:
                    if plan.features is not None and plan.features.centred:
                        plan.feature_rows(first, bool(probe.union.weight))
        finally:
            chunks.close()  # type: ignore[attr-defined]
    except LossCliError:
        return ()  # a bad first row (or file): the units report it as a local run would
    return tuple(
        None if plan.features is None or not plan.features.centred else plan.features.shift
        for plan in probe.plans
    )


def run_unit(job: Job, unit: Unit) -> Done | Failed:
    """The local pass over one unit; its states (or its error) as plain values."""
    _tune_malloc()
    try:
        requests = _requests(job)
        sources = [s.open() for s in unit.sources]
        sources[0].row_groups = unit.row_groups
        sources[0].first_row = unit.first_row
        targets = [s.open() for s in unit.targets] if unit.targets else None
        paired = [s.open() for s in unit.paired] if unit.paired else None
        if unit.window is not None:
            paired = [s.open() for s in unit.window.sources]
            for source, groups, first in zip(
                paired, unit.window.row_groups, unit.window.first_rows, strict=True
            ):
                source.row_groups, source.first_row = groups, first
        one = Pass(
            requests,
            job.options,
            sources,
            targets,
            job.selections,
            check_columns=False,
            paired_sources=paired,
        )
        if unit.window is not None:
            one.paired_window = (unit.window.skip, unit.window.take)
        for plan, centre in zip(one.plans, job.centres, strict=False):
            if centre is not None and plan.features is not None:
                plan.features.shift = centre  # the input's first row, not the unit's
        if job.dataset is not None:
            return _write_part(job.dataset, unit, one)
        # One piece per chunk, merged by the client in order: the very fold a local run makes,
        # so even states whose merge rounds (Chan's moments for R²) keep every digit.
        pieces = []
        rows = read = 0  # rows kept, rows read (skipped ones too)
        with np.errstate(all="ignore"):  # non-finite values are reported as data errors
            for chunk in one.chunks():
                one.restart()
                one.row_offset = (unit.offset or 0) + read  # the bootstrap's row positions
                one.feed(iter((chunk,)))
                del chunk
                pieces.append(one.states())
                rows += one.rows
                read += one.rows + one.skipped
        return Done(unit.position, rows, pieces)
    except LossCliError as exc:
        return Failed(unit.position, type(exc).__name__, exc.message, exc.file, exc.column, exc.row)


def _write_part(dataset: str, unit: Unit, one: Pass) -> Done:
    """``--reduction none``: the unit's per-row values as one part of the Parquet dataset."""
    from losscli.io.writers import dataset_part

    sink = dataset_part(dataset, unit.position)
    try:
        with np.errstate(all="ignore"):
            one.feed(one.chunks(), sink)
    except BaseException:
        sink.abort()
        raise
    return Done(unit.position, one.rows, [one.states()])


# -- client side --------------------------------------------------------------------------------
def connect(address: str | None) -> tuple[Any, Any]:
    """(client, cluster): the scheduler at ``address`` (or ``DASK_SCHEDULER_ADDRESS``), else a
    ``LocalCluster`` of one single-threaded worker process per core. TLS addresses take their
    certificates from Dask's configuration (``distributed.comm.tls``)."""
    try:
        import distributed
    except ImportError:
        raise UsageError(
            "--engine dask needs Dask: pip install 'losscli[dask]' (dask[distributed])"
        ) from None
    import logging

    address = address or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if address:
        try:
            timeout = float(os.environ.get("LOSSCLI_DASK_TIMEOUT", CONNECT_TIMEOUT))
        except ValueError:
            timeout = CONNECT_TIMEOUT
        try:
            return distributed.Client(address, timeout=timeout), None
        except (OSError, TimeoutError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise InputError(f"cannot reach the Dask scheduler at {address}: {reason}") from None
        except ValueError as exc:  # an address Dask cannot parse
            raise UsageError(f"--scheduler {address!r}: {exc}") from None
        except TypeError:  # tls:// without certificates: Dask finds no SSL context
            raise UsageError(
                f"--scheduler {address}: a tls:// scheduler needs certificates in Dask's "
                "configuration (distributed.comm.tls.ca-file, .client.cert, .client.key)"
            ) from None
    from losscli.io.parallel import cores

    cluster = distributed.LocalCluster(
        n_workers=cores(),
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    return distributed.Client(cluster), cluster


def run(
    requests: Sequence[LossRequest],
    options: RunOptions,
    *,
    stdin: Any = None,
    progress: Progress | None = None,
    sink: RowSink | None = None,
    dataset: str | None = None,
) -> list[LossResult]:
    """The results of :func:`losscli.engine.local.run`, to the last digit, computed on Dask.

    Per-row output (``--reduction none``) goes to ``dataset``, a directory or bucket prefix
    that receives one Parquet part per unit (``part-00000.parquet``, ... in input order)."""
    _validate(requests, options)
    if sink is not None or (options.reduction == "none" and dataset is None):
        raise UsageError(
            "--engine dask writes per-row values as a Parquet dataset: give -o DIR/ "
            "(a directory or an s3:// or gs:// prefix)"
        )
    if "-" in options.files or "-" in (options.targets_from, options.paired_file):
        raise UsageError("--engine dask reads files or URIs, not stdin")
    sources, target_sources = open_inputs(options)
    paired_sources = None
    if options.paired_file:
        paired_sources = open_sources([options.paired_file], input_format=None)
    if dataset is not None:
        dataset = _prepare_dataset(dataset)
    client, cluster = connect(options.scheduler)
    try:
        return _run(
            client, requests, options, sources, target_sources, progress, dataset, paired_sources
        )
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run(
    client: Any,
    requests: Sequence[LossRequest],
    options: RunOptions,
    sources: list[Source],
    target_sources: list[Source] | None,
    progress: Progress | None,
    dataset: str | None = None,
    paired_sources: list[Source] | None = None,
) -> list[LossResult]:
    shapes = _shapes(client, [SourceSpec.of(s) for s in sources])
    for source, shape in zip(sources, shapes, strict=True):
        source._names = shape.names  # the column check below reads no file again
    selections = _resolve(requests, options, sources, target_sources)
    paired_shapes: list[FileShape] = []
    if paired_sources:
        paired_shapes = _shapes(client, [SourceSpec.of(s) for s in paired_sources])
        for source, shape in zip(paired_sources, paired_shapes, strict=True):
            source._names = shape.names
        _resolve_paired(requests, options, selections, paired_sources)
    merged = Pass(
        requests, options, sources, target_sources, selections, paired_sources=paired_sources
    )
    units = None
    if paired_sources and not target_sources and all(s.runs is not None for s in paired_shapes):
        # a Parquet baseline: each unit can read its own rows of it, once their count is known
        split = plan_units(sources, shapes, None, options.unit_rows)
        failed = None
        if any(unit.rows is None for unit in split):
            split, failed = _count_offsets(client, merged, split, every=True)
        if failed is None:
            units = paired_units(split, [SourceSpec.of(s) for s in paired_sources], paired_shapes)
    if units is None:
        units = plan_units(sources, shapes, target_sources, options.unit_rows, paired_sources)
    uncounted: Failed | None = None
    if _positions_needed(merged) and any(unit.offset is None for unit in units):
        units, uncounted = _count_offsets(client, merged, units)
    job = Job(
        tuple((r.spec.name, dict(r.params), dict(r.columns)) for r in requests),
        options,
        selections,
        dataset,
        tuple(r.interval for r in requests),
    )
    if any(plan.features is not None and plan.features.centred for plan in merged.plans):
        whole = Unit(
            0,
            tuple(SourceSpec.of(s) for s in sources),
            tuple(SourceSpec.of(s) for s in target_sources) if target_sources else None,
            paired=tuple(SourceSpec.of(s) for s in paired_sources) if paired_sources else None,
        )
        job = job._replace(centres=_on_worker(client, read_centres, job, whole))
    if progress is not None and getattr(progress, "total_bytes", 0) is None:
        # A progress bar over the units: their sizes are known from the plan (object sizes
        # come from the listing), so the bar has a total even for s3:// inputs.
        progress.total_bytes = sum(unit.nbytes for unit in units) or None  # type: ignore[attr-defined]
    try:
        outcomes = _gather(client, job, units, progress)
    except BaseException:
        if dataset is not None:
            _remove_parts(dataset, len(units))
        raise
    if uncounted is not None:  # a file could not be counted, yet its unit ran: say why
        raise uncounted.error()
    for done in outcomes:
        for piece in done.pieces:
            merged.absorb(*piece)
    with np.errstate(all="ignore"):
        return merged.results()


def _positions_needed(merged: Pass) -> bool:
    """Whether a bootstrap runs: its weights are keyed by each row's position in the input."""
    return any(plan.tracker is not None and not plan.tracker.normal for plan in merged.plans)


def _on_worker(client: Any, function: Any, *args: Any) -> Any:
    """``function(*args)`` run on a worker (where the data is read, with its credentials)."""
    try:
        return client.submit(function, *args, pure=False).result()
    except Exception as exc:  # the cluster itself failed
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"the Dask cluster failed: {reason}") from None


def _count_offsets(
    client: Any, merged: Pass, units: list[Unit], *, every: bool = False
) -> tuple[list[Unit], Failed | None]:
    """Units given the rows of the input before them: files whose row count no footer gives
    (CSV, NDJSON, IPC) are counted first, in parallel on the workers (the last one too, and
    each unit given its own rows, with ``every``). A file that cannot be counted leaves the
    units after it without an offset; its own unit then fails as it would locally, or the
    count's error is raised (returned here)."""
    numeric, other, _, _ = merged.columns
    typed = [c for c in numeric if c not in merged.codes.columns]
    column = typed[0] if typed else [*numeric, *other][0]
    last = len(units) - 1
    wanted = [u for u in units if u.rows is None and (every or u.position < last)]
    try:
        counts = client.gather(
            client.map(
                count_rows,
                [u.sources[0] for u in wanted],
                [column] * len(wanted),
                [bool(typed)] * len(wanted),
                [merged.options.chunk_size] * len(wanted),
                pure=False,
            )
        )
    except Exception as exc:  # the cluster itself failed
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"the Dask cluster failed: {reason}") from None
    rows = {u.position: n for u, n in zip(wanted, counts, strict=True)}
    out: list[Unit] = []
    offset: int | None = 0
    failure = None
    for unit in units:
        n = unit.rows if unit.rows is not None else rows.get(unit.position)
        if isinstance(n, Failed):
            failure = failure or n
            n = None
        out.append(unit._replace(offset=offset, rows=n if every else unit.rows))
        offset = None if offset is None or n is None else offset + n
    return out, failure


def _prepare_dataset(dataset: str) -> str:
    """The per-row output dataset: a new or empty directory (made here), or an empty prefix."""
    from losscli.io.sources import is_remote

    if is_remote(dataset):
        from losscli.io import remote

        if remote.listing(dataset):
            raise UsageError(f"--output {dataset}: the prefix is not empty")
        return dataset.rstrip("/") + "/"
    if os.path.isfile(dataset) or (os.path.isdir(dataset) and os.listdir(dataset)):
        raise UsageError(f"--output {dataset}: with --engine dask, give a new or empty directory")
    try:
        os.makedirs(dataset, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write --output {dataset}: {exc.strerror}") from None
    return os.path.abspath(dataset)


def _remove_parts(dataset: str, count: int) -> None:
    """After a failure: no partial dataset is left behind (best effort)."""
    from losscli.io.sources import is_remote

    names = {f"part-{i:05d}.parquet" for i in range(count)}
    if is_remote(dataset):
        from losscli.io import remote

        for uri in remote.listing(dataset):
            if uri.rsplit("/", 1)[-1] in names:
                remote.delete(uri)
        return
    for name in os.listdir(dataset):
        if name in names:
            os.unlink(os.path.join(dataset, name))


def _shapes(client: Any, specs: list[SourceSpec]) -> list[FileShape]:
    if len(specs) > FOOTERS_ON_CLIENT:
        found = client.gather(client.map(describe, specs, pure=False))
    else:
        found = [describe(spec) for spec in specs]
    for shape in found:
        if isinstance(shape, Failed):
            raise shape.error()
    return found


def plan_units(
    sources: Sequence[Source],
    shapes: Sequence[FileShape],
    target_sources: Sequence[Source] | None,
    unit_rows: int,
    paired_sources: Sequence[Source] | None = None,
) -> list[Unit]:
    """Units in input order: Parquet files cut at run boundaries into about ``unit_rows`` rows
    each (a run larger than that is a unit of its own); other files whole; a ``--targets-from``
    pair, or the input with a ``--baseline`` predictions file read row-aligned for paired
    intervals, is one unit (its files are aligned row by row)."""
    specs = [SourceSpec.of(s) for s in sources]
    if target_sources or paired_sources:
        targets = tuple(SourceSpec.of(s) for s in target_sources) if target_sources else None
        paired = tuple(SourceSpec.of(s) for s in paired_sources) if paired_sources else None
        size = sum(s.size_bytes or 0 for s in specs)
        return [Unit(0, tuple(specs), targets, nbytes=size, paired=paired)]
    units: list[Unit] = []
    offset: int | None = 0  # rows of the input before this file (None once unknown)
    for spec, shape in zip(specs, shapes, strict=True):
        if shape.runs is None:
            units.append(Unit(len(units), (spec,), nbytes=spec.size_bytes or 0, offset=offset))
            offset = None  # a CSV file's rows are known only once read
            continue
        total = sum(rows for _, _, rows in shape.runs) or 1
        first_row = 0
        pending: list[tuple[int, int, int]] = []
        for run in [*shape.runs, None]:
            rows = sum(r for _, _, r in pending)
            if pending and (run is None or rows + run[2] > unit_rows):
                nbytes = (spec.size_bytes or 0) * rows // total
                span = (pending[0][0], pending[-1][1])
                at = None if offset is None else offset + first_row
                units.append(Unit(len(units), (spec,), None, span, first_row, rows, nbytes, at))
                first_row += rows
                pending = []
            if run is not None:
                pending.append(run)
        if not shape.runs:  # a file with no row groups: one (empty) unit
            units.append(
                Unit(len(units), (spec,), None, (0, 0), 0, 0, spec.size_bytes or 0, offset)
            )
        if offset is not None:
            offset += sum(rows for _, _, rows in shape.runs)
    return units


def paired_units(
    units: list[Unit], specs: Sequence[SourceSpec], shapes: Sequence[FileShape]
) -> list[Unit] | None:
    """Units that each read their own rows of a row-aligned ``--baseline`` file, or None when
    that cannot be planned before the run (then input and baseline are one unit): the
    baseline must be Parquet (rows by row group in its footers), every unit's rows known (a
    Parquet input's footers, or other files counted first) and the row counts equal (else
    the one unit reports the difference as a local run does). A unit's window starts at the baseline's run holding its first row;
    local and unit then see the very same aligned chunks (runs start the same batches)."""
    if any(shape.runs is None for shape in shapes):
        return None
    if any(unit.rows is None or unit.offset is None for unit in units):
        return None
    total = sum(rows for shape in shapes for _, _, rows in shape.runs or ())
    if sum(unit.rows or 0 for unit in units) != total:
        return None
    out = []
    for unit in units:
        assert unit.offset is not None and unit.rows is not None
        out.append(unit._replace(window=_window_of(specs, shapes, unit.offset, unit.rows)))
    return out


def _window_of(
    specs: Sequence[SourceSpec], shapes: Sequence[FileShape], lo: int, rows: int
) -> Window:
    """The baseline runs holding rows ``lo … lo + rows − 1`` of the input."""
    hi = lo + rows
    chosen: list[tuple[SourceSpec, tuple[int, int], int]] = []
    skip = 0
    at = 0  # the baseline's rows before the run looked at
    for spec, shape in zip(specs, shapes, strict=True):
        in_file = 0
        first: tuple[int, int] | None = None  # (first group, file row) of the runs chosen
        stop = 0
        for start_group, stop_group, count in shape.runs or ():
            if at < hi and at + count > lo:
                if first is None:
                    first = (start_group, in_file)
                    if not chosen:
                        skip = lo - at
                stop = stop_group
            at += count
            in_file += count
        if first is not None:
            chosen.append((spec, (first[0], stop), first[1]))
    if not chosen:  # an empty unit: nothing to read
        chosen = [(specs[0], (0, 0), 0)]
    return Window(
        tuple(c[0] for c in chosen),
        tuple(c[1] for c in chosen),
        tuple(c[2] for c in chosen),
        skip,
        rows,
    )


def _gather(client: Any, job: Job, units: list[Unit], progress: Progress | None) -> list[Done]:
    """Every unit's outcome, in unit order; the first failing unit (in input order) raises its
    error once every unit before it has finished (as a local run would have reached it)."""
    from distributed import as_completed

    futures = client.map(run_unit, [job] * len(units), units, pure=False)
    outcomes: list[Done | Failed | None] = [None] * len(units)
    try:
        for _, outcome in as_completed(futures, with_results=True):
            outcomes[outcome.position] = outcome
            unit = units[outcome.position]
            if progress is not None and isinstance(outcome, Done):
                progress.advance(outcome.rows, unit.nbytes)
            failure = _first_failure(outcomes)
            if failure is not None:
                client.cancel(futures)
                raise failure.error()
    except LossCliError:
        raise
    except Exception as exc:  # the cluster itself failed (workers lost for good, scheduler gone)
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"the Dask cluster failed: {reason}") from None
    assert all(isinstance(o, Done) for o in outcomes)
    return outcomes  # type: ignore[return-value]


def _first_failure(outcomes: Sequence[Done | Failed | None]) -> Failed | None:
    """The earliest failed unit, once every unit before it is known to have succeeded."""
    for outcome in outcomes:
        if outcome is None:
            return None
        if isinstance(outcome, Failed):
            return outcome
    return None
