"""What a run is asked and what it answers: requests, options, results, and the
protocols of progress reporting and per-row sinks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

from losscli.catalogue.spec import LossSpec
from losscli.defaults import DEFAULT_CHUNK_SIZE, DEFAULT_MEMORY_LIMIT, DEFAULT_UNIT_ROWS
from losscli.engine.grouptable import GroupResult, GroupTable
from losscli.stats import Per, Reduction, Value

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    from losscli.engine.intervals import IntervalRequest, Intervals
    from losscli.stats.histograms import CalibrationResult, HistogramResult

    Array = NDArray[np.float64]
else:
    Array = np.ndarray


class LossRequest:
    """One loss to compute: its spec, parameter values and column options per role."""

    __slots__ = ("columns", "interval", "params", "spec")

    def __init__(
        self,
        spec: LossSpec,
        params: dict[str, Any],
        columns: dict[str, str | None] | None = None,
        interval: IntervalRequest | None = None,
    ) -> None:
        self.spec = spec
        self.params = params
        self.columns: dict[str, str | None] = {} if columns is None else columns
        self.interval = interval  # confidence intervals asked for (``--confidence``)


class ChartRequest(NamedTuple):
    """What to collect: the error histogram (over ``bins``, None: the default grid), the
    predicted-vs-target grid, the calibration bins (probability losses only)."""

    bins: tuple[float, ...] | None = None
    calibration_bins: int = 10
    histogram: bool = True  # --show hist, --report
    density: bool = True  # --report (the costliest state: two values per row)
    calibration: bool = True  # --show calibration, --report


class ChartData(NamedTuple):
    """The computed charts of one result; ``group_histograms`` lines up with its groups."""

    subject: str  # "error" (prediction − target) or "loss" (per-element loss values)
    histogram: HistogramResult | None
    group_histograms: list[HistogramResult]
    density: tuple[Array, NDArray[np.int64]] | None  # (edges, counts[target cell, prediction cell])
    calibration: CalibrationResult | None


class RunOptions(NamedTuple):
    """How to read and reduce (shared by every loss of one pass)."""

    files: Sequence[str]
    reduction: Reduction = "mean"
    per: Per = "all"
    nan: str = "error"
    weight: str | None = None
    group_by: str | None = None
    keep: str | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    input_format: str | None = None
    targets_from: str | None = None
    delimiter: str | None = None  # CSV: --delimiter (None: from the header)
    decimal_comma: bool = False  # CSV: --decimal-comma
    anon: bool = False  # object storage without credentials (public buckets)
    engine: str = "local"  # local | dask
    scheduler: str | None = None  # a Dask scheduler address; None: DASK_SCHEDULER_ADDRESS
    unit_rows: int = DEFAULT_UNIT_ROWS  # --engine dask: rows per unit of work
    charts: ChartRequest | None = None  # collect histograms in the same pass (--show, --report)
    # --confidence against a baseline predictions file: read it row-aligned in the same pass;
    # the requests at these indices take their columns from it (see engine.local.PAIRED)
    paired_file: str | None = None
    paired_requests: tuple[int, ...] = ()
    memory_limit: int = DEFAULT_MEMORY_LIMIT


class LossResult:
    """The outcome of one loss over the data (JSON/table renderers read this).

    Plain classes rather than dataclasses here and in the registry: generating a dataclass's
    methods costs ~1 ms of start-up each, on every run."""

    __slots__ = (
        "charts",
        "columns",
        "files",
        "group_by",
        "groups",
        "higher_is_better",
        "intervals",
        "loss",
        "notes",
        "params",
        "per",
        "reduction",
        "rows",
        "skipped_rows",
        "value",
        "weight",
    )

    def __init__(
        self,
        loss: str,
        params: dict[str, Any],
        reduction: str,
        per: str,
        columns: dict[str, list[str]],
        weight: str | None,
        rows: int,
        skipped_rows: int,
        value: Value,
        files: list[str],
        group_by: list[str] | None = None,
        groups: Sequence[GroupResult] | None = None,
        higher_is_better: bool = False,
        intervals: Intervals | None = None,
        charts: ChartData | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.loss = loss
        self.params = params
        self.reduction = reduction
        self.per = per
        self.columns = columns
        self.weight = weight
        self.rows = rows
        self.skipped_rows = skipped_rows
        self.value = value
        self.files = files
        self.group_by: list[str] = [] if group_by is None else group_by
        # every group's key, rows and value as columns (a list of GroupResults is turned
        # into one)
        self.groups = GroupTable.of(self.group_by, groups or [])
        self.higher_is_better = higher_is_better
        self.intervals = intervals  # with ``--confidence``: the value's interval estimates
        self.charts = charts
        self.notes: list[str] = [] if notes is None else notes  # for stderr, not the output


class Progress(Protocol):
    def advance(self, rows: int, nbytes: int) -> None: ...


class RowSink(Protocol):
    """Receives per-row output (``--reduction none`` / ``--per row``) chunk by chunk."""

    def open(self, names: list[str]) -> None: ...

    def write(self, kept: dict[str, Any], values: dict[str, Array]) -> None: ...

    def close(self) -> None: ...


def output_labels(result: LossResult, n: int) -> list[str]:
    """Labels of the ``n`` values of a ``--per output`` result: its prediction columns, or
    ``0 … n-1`` when they do not line up."""
    preds = next(iter(result.columns.values()), [])
    return list(preds) if len(preds) == n else [str(i) for i in range(n)]
