"""Confidence intervals inside the one pass: per-row features of a loss, fed to the streamed
interval states of :mod:`losscli.stats.intervals` for the total and every group.

A loss whose value is a plain (weighted) mean of elementwise losses gets a normal (t) interval
from exact moments; any other supported metric (or any loss with ``--bootstrap``) a Poisson
bootstrap whose replicate sums reproduce the metric's own sufficient statistics. With a paired
baseline (a request of the same pass, e.g. ``--baseline-pred``) the interval is on the
difference candidate − baseline, row by row.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from losscli.errors import UsageError
from losscli.stats import (
    ExplainedVarianceState,
    MeanState,
    R2State,
    RootMeanState,
    explained_scores,
)
from losscli.stats.intervals import (
    BootstrapEstimate,
    ChunkCounts,
    Estimate,
    PoissonCounts,
    ReplicateSums,
    WeightedMoments,
    unit_of,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from losscli.catalogue.spec import LossSpec

    Array = NDArray[np.float64]
else:
    Array = np.ndarray

DEFAULT_REPLICATES = 200


class IntervalRequest(NamedTuple):
    """Intervals asked for one request of a run."""

    bootstrap: int | None = None  # replicates; None: normal for plain means, else 200
    seed: int = 0
    paired: int | None = None  # index of the request (same pass) whose rows are subtracted


class Intervals(NamedTuple):
    """Estimates for one result or group, one per value (one per output with ``--per output``):
    of the value itself and, when paired, of the difference candidate − baseline."""

    value: list[Estimate]
    difference: list[Estimate] | None = None
    paired: bool = False


def _kind(spec: LossSpec, reduction: str, params: dict[str, Any]) -> str:
    """``mean``/``root``/``r2``/``ev``, or a usage error for metrics with no interval."""
    state: object = spec.new_state(1, spec.defaults())
    if getattr(spec, "denominator", None) is not None and params.get("class_weight") is not None:
        raise UsageError(
            f"--confidence: {spec.name} with --class-weight is a ratio Σw[y]·l / Σw[y], not a "
            "plain mean; intervals cover it without class weights"
        )
    if isinstance(state, RootMeanState) and spec.elementwise is not None:
        return "root"
    if isinstance(state, MeanState) and spec.elementwise is not None:
        return "mean"
    if isinstance(state, R2State) and reduction == "mean":
        return "r2"
    if isinstance(state, ExplainedVarianceState) and reduction == "mean":
        return "ev"
    raise UsageError(
        f"--confidence: {spec.name} has no interval (intervals cover means of elementwise "
        "losses, rmse/rmsle, r2 and explained_variance)"
    )


class Features:
    """Turns a chunk of a plan into per-row features (m, n) and replicate sums into values."""

    def __init__(
        self, spec: LossSpec, reduction: str, per: str, outputs: int, params: dict[str, Any]
    ) -> None:
        self.kind = _kind(spec, reduction, params)
        self.reduction = reduction
        self.per = per
        self.outputs = outputs
        self.shift: Array | None = None  # R² / explained variance: the first row's values

    @property
    def normal_ok(self) -> bool:
        return self.kind == "mean" and self.reduction == "mean"

    @property
    def width(self) -> int:
        k = self.outputs
        if self.kind == "mean":
            return k if self.per == "output" else 1
        return {"root": k, "r2": 3 * k, "ev": 4 * k}[self.kind]

    def rows(self, losses: Array | None, inputs: dict[str, Array] | None) -> Array:
        """(m, n) features of a chunk: losses (elementwise kinds) or pred/target (scores)."""
        if self.kind in ("mean", "root"):
            assert losses is not None
            if self.kind == "mean" and self.per != "output" and losses.shape[0] > 1:
                row_mean: Array = losses.mean(axis=0, keepdims=True)
                return row_mean
            return losses
        assert inputs is not None
        pred, target = inputs["pred"], inputs["target"]
        if self.kind == "r2":
            if self.shift is None:
                self.shift = target[:, :1].copy()
            y = target - self.shift
            return np.concatenate([np.square(pred - target), y, np.square(y)])
        residual = target - pred
        if self.shift is None:
            self.shift = np.concatenate([residual[:, :1], target[:, :1]])
        k = self.outputs
        r = residual - self.shift[:k]
        y = target - self.shift[k:]
        return np.concatenate([r, np.square(r), y, np.square(y)])

    def values(self, sums: Array, weight: Array) -> Array:
        """Metric values (B,) or (k, B) from replicate sums (m, B) and weight sums (B,)."""
        k = self.outputs
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "mean":
                if self.reduction == "mean":
                    means: Array = sums / weight
                    return means if self.per == "output" else means[0]
                if self.per == "output":
                    return sums
                # one feature row (the row mean): --per all sums every element, --per row rows
                return sums[0] * (k if self.per == "all" else 1)
            if self.kind == "root":
                roots = np.sqrt(sums / weight)
                return roots if self.per == "output" else roots.mean(axis=0)
            if self.kind == "r2":
                num = sums[:k]
                den = sums[2 * k :] - np.square(sums[k : 2 * k]) / weight
            else:
                num = sums[k : 2 * k] - np.square(sums[:k]) / weight
                den = sums[3 * k :] - np.square(sums[2 * k : 3 * k]) / weight
            scores = explained_scores(num.ravel(), den.ravel()).reshape(num.shape)
            return scores if self.per == "output" else scores.mean(axis=0)


class _Cell:
    """The interval states of one result or group."""

    def __init__(self, width: int, normal: bool, replicates: int, paired: bool) -> None:
        self.own = WeightedMoments(width) if normal else None
        self.diff = WeightedMoments(width) if normal and paired else None
        self.sums = None if normal else ReplicateSums(width * (2 if paired else 1) + 1, replicates)


class IntervalTracker:
    """The interval states of one plan (total and per group), fed chunk by chunk."""

    def __init__(
        self, request: IntervalRequest, features: Features, partner: Features | None
    ) -> None:
        self.request = request
        self.features = features
        self.partner = partner
        self.normal = request.bootstrap is None and features.normal_ok
        self.replicates = request.bootstrap or DEFAULT_REPLICATES
        if self.replicates < 1:
            raise UsageError("--bootstrap must be a positive number of replicates")
        self.counts = None if self.normal else PoissonCounts(request.seed, self.replicates)
        self.total = self._cell()
        self.groups: dict[int, _Cell] = {}

    def _cell(self) -> _Cell:
        return _Cell(self.features.width, self.normal, self.replicates, self.partner is not None)

    def add(
        self,
        own: Array,
        other: Array | None,
        weights: Array | None,
        start: int,
        group_rows: list[tuple[int, NDArray[np.intp]]] | None,
    ) -> None:
        """Add a chunk's features (``other``: the paired baseline's) of rows ``start …``."""
        n = own.shape[1]
        units = chunk_counts = None
        if not self.normal:
            assert self.counts is not None
            units = unit_of(np.arange(start, start + n, dtype=np.int64))
            chunk_counts = ChunkCounts(self.counts, units)
        self._add(self.total, own, other, weights, units, chunk_counts)
        for gid, rows in group_rows or []:
            cell = self.groups.get(gid)
            if cell is None:
                cell = self.groups[gid] = self._cell()
            self._add(
                cell,
                own[:, rows],
                None if other is None else other[:, rows],
                None if weights is None else weights[rows],
                None if units is None else units[rows],
                chunk_counts,
            )

    def _add(
        self,
        cell: _Cell,
        own: Array,
        other: Array | None,
        weights: Array | None,
        units: NDArray[np.int64] | None,
        chunk_counts: ChunkCounts | None = None,
    ) -> None:
        if cell.own is not None:
            cell.own.add(own, weights)
            if cell.diff is not None and other is not None:
                cell.diff.add(own - other, weights)
            return
        assert cell.sums is not None and units is not None and chunk_counts is not None
        parts = [own] if other is None else [own, other]
        if weights is None:
            stacked = np.concatenate([*parts, np.ones((1, own.shape[1]))])
        else:
            stacked = np.concatenate([*(p * weights for p in parts), weights[None, :]])
        cell.sums.add(stacked, units, chunk_counts)

    def intervals(self, gid: int | None, value: Any, partner_value: Any) -> Intervals | None:
        """The estimates of the total (``gid=None``) or a group, given the point values."""
        cell = self.total if gid is None else self.groups.get(gid)
        if cell is None:
            return None
        paired = self.partner is not None
        if cell.own is not None:
            width = self.features.width
            own = [cell.own.estimate(j) for j in range(width)]
            diff = [cell.diff.estimate(j) for j in range(width)] if cell.diff is not None else None
            return Intervals(list(own), None if diff is None else list(diff), paired)
        assert cell.sums is not None
        sums = cell.sums.sums
        width = self.features.width
        weight = sums[-1]
        own_values = self.features.values(sums[:width], weight)
        estimates = _bootstrap(own_values, value)
        difference = None
        if paired:
            assert self.partner is not None
            base_values = self.partner.values(sums[width : 2 * width], weight)
            difference = _bootstrap(own_values - base_values, _minus(value, partner_value))
        return Intervals(estimates, difference, paired)


def _minus(a: Any, b: Any) -> Any:
    if isinstance(a, list):
        return [x - y for x, y in zip(a, b, strict=True)]
    return a - b


def _bootstrap(replicates: Array, point: Any) -> list[Estimate]:
    if replicates.ndim == 1:
        return [BootstrapEstimate(_float(point), replicates)]
    points = point if isinstance(point, list) else [point] * replicates.shape[0]
    return [BootstrapEstimate(_float(p), r) for p, r in zip(points, replicates, strict=True)]


def _float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan
