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
import threading
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from losscli.engine.groups import group_rows
from losscli.errors import UsageError
from losscli.stats import (
    ExplainedVarianceState,
    MaxState,
    MeanState,
    R2State,
    RootMeanState,
    explained_scores,
)
from losscli.stats.intervals import (
    BATCH_ROWS,
    BatchMaxima,
    BatchProducts,
    BootstrapEstimate,
    Estimate,
    GroupedReplicateSums,
    NormalEstimate,
    PoissonWeights,
    ReplicateMaxima,
    ReplicateSums,
    WeightedMoments,
    _fraction,
    batch_maxima,
    batch_products,
    group_products,
    moments_estimate,
    split_parts,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from losscli.catalogue.spec import LossSpec
    from losscli.stats.replicate_quantiles import Rule

    Array = NDArray[np.float64]
else:
    Array = np.ndarray

DEFAULT_REPLICATES = 200
#: Threads drawing the bootstrap's pieces (None: one per core, at most two). Pieces are added
#: in input order whatever the count, so the digits do not depend on it.
BOOTSTRAP_WORKERS: int | None = None


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


#: Why the metrics outside :func:`_kind` have no interval (one line of a usage error).
NO_INTERVAL = (
    "intervals cover means and sums of elementwise losses (class-weighted too), rmse/rmsle, "
    "r2, explained_variance, the d2 scores, max_error, median/quantile_absolute_error, ece "
    "and the means of the label metrics"
)
#: Candidate pairs (own × baseline columns) a paired label interval keeps per distinct label.
MAX_LABEL_PAIRS = 4096
#: Values a quantile bootstrap keeps in memory at most (own and paired, every output): 512 MiB.
MAX_KEPT_VALUES = 1 << 26


def _kind(spec: LossSpec, reduction: str, params: dict[str, Any]) -> str:
    """``mean``/``ratio``/``root``/``r2``/``ev``/``max``, or a usage error for metrics with
    no interval."""
    try:  # the run's own parameters: label metrics need their label context
        state: object = spec.new_state(1, {**spec.defaults(), **params})
    except (KeyError, TypeError, ValueError):
        state = None
    class_weighted = (
        getattr(spec, "denominator", None) is not None and params.get("class_weight") is not None
    )
    if class_weighted and reduction == "mean":
        return "ratio"  # PyTorch's class-weighted mean Σw[y]·l / Σw[y]: a bootstrap
    if isinstance(state, RootMeanState) and spec.elementwise is not None:
        return "root"
    if isinstance(state, MeanState) and spec.elementwise is not None:
        return "mean"
    if isinstance(state, R2State) and reduction == "mean":
        return "r2"
    if isinstance(state, ExplainedVarianceState) and reduction == "mean":
        return "ev"
    if isinstance(state, MaxState) and spec.elementwise is not None:
        return "max"
    if getattr(state, "kind", None) == "tweedie" and spec.name == "d2_tweedie":
        return "d2t"
    if getattr(state, "kind", None) == "pinball" and reduction == "mean":
        return "d2q"  # d2_absolute_error, d2_pinball: the replicates' own quantiles
    if getattr(state, "multi_pass", False) and spec.elementwise is not None:  # QuantileState
        return "quantile"
    if type(state).__name__ == "CalibrationErrorState":  # by name: see _CalibrationReplicates
        return "ece"
    if type(state).__name__ == "LabelMetricState":  # by name: its module loads with a run
        if reduction != "mean":
            raise UsageError(
                f"--confidence: {spec.name} --reduction {reduction} has no interval (a label "
                "metric's interval is a t interval of its mean; use --reduction mean)"
            )
        return "label"
    raise UsageError(f"--confidence: {spec.name} has no interval ({NO_INTERVAL})")


class Features:
    """Turns a chunk of a plan into per-row features (m, n) and replicate sums into values."""

    def __init__(
        self, spec: LossSpec, reduction: str, per: str, outputs: int, params: dict[str, Any]
    ) -> None:
        self.kind = _kind(spec, reduction, params)
        self.spec = spec
        self.params = params
        self.reduction = reduction
        self.per = per
        self.outputs = outputs
        self.shift: Array | None = None  # R² / explained variance: the first row's values
        #: label metrics: the run's state, whose candidates and class order the interval uses
        self.label_state: Any = None
        if self.kind == "label":
            self.label_state = spec.new_state(1, {**spec.defaults(), **params})

    @property
    def normal_ok(self) -> bool:
        return self.kind in ("mean", "label") and self.reduction == "mean"

    @property
    def needs_inputs(self) -> bool:
        """Whether :meth:`rows` reads the chunk's inputs (not only elementwise losses)."""
        return self.kind in ("ratio", "r2", "ev", "d2t", "label")

    @property
    def width(self) -> int:
        k = self.outputs
        if self.kind == "mean":
            return k if self.per == "output" else 1
        widths = {"root": k, "max": k, "ratio": 2, "r2": 3 * k, "ev": 4 * k, "d2t": 3 * k}
        return widths.get(self.kind, 2 * k)  # quantile: k; d2q, ece: 2k (kept, not summed)

    @property
    def kept(self) -> bool:
        """Whether the bootstrap keeps the rows' values (a replicate's own quantile)."""
        return self.kind in ("quantile", "d2q")

    def rule(self, weighted: bool) -> Rule:
        """How a replicate's quantile is read: the state's own method, on the resample
        (unweighted) or with weights ``w·count`` (weighted); D²'s null model is always
        scikit-learn's weighted percentile."""
        from losscli.stats.quantiles import QuantileState
        from losscli.stats.replicate_quantiles import Rule

        state = self.spec.new_state(self.outputs, {**self.spec.defaults(), **self.params})
        if self.kind == "d2q":
            return Rule("avg_cdf", float(getattr(state, "parameter", 0.5)))
        assert isinstance(state, QuantileState)
        method = state.weighted_method if weighted else state.method
        if not weighted:
            return Rule("median" if method == "median" else "numpy", state.q, method)
        return Rule("avg_cdf" if method == "averaged_inverted_cdf" else method, state.q, method)

    @property
    def alpha(self) -> float | None:
        """D²'s pinball α (None for the quantile metrics)."""
        if self.kind != "d2q":
            return None
        state = self.spec.new_state(self.outputs, {**self.spec.defaults(), **self.params})
        return float(getattr(state, "parameter", 0.5))

    @property
    def bins(self) -> int:
        return int(self.params.get("n_bins", self.spec.defaults().get("n_bins", 10)))

    @property
    def centred(self) -> bool:
        """Whether the features are centred on the first row seen (r2, explained variance,
        d2_tweedie with power 0): sums of squares without cancellation, but a Dask unit
        would centre on its own first row."""
        return self.kind in ("r2", "ev") or (self.kind == "d2t" and self.power == 0)

    @property
    def power(self) -> float:
        return float(self.params.get("power", 0.0))

    def rows(self, losses: Array | None, inputs: dict[str, Array] | None) -> Array:
        """(m, n) features of a chunk: losses (elementwise kinds) or pred/target (scores)."""
        if self.kind == "ratio":  # the class-weighted losses and their class weights
            assert losses is not None and inputs is not None and self.spec.denominator
            denominator = self.spec.denominator(inputs, self.params)
            return np.concatenate([losses.sum(axis=0, keepdims=True), denominator[None, :]])
        if self.kind in ("mean", "root", "max", "quantile"):
            assert losses is not None
            if self.kind == "mean" and self.per != "output" and losses.shape[0] > 1:
                row_mean: Array = losses.mean(axis=0, keepdims=True)
                return row_mean
            return losses
        assert inputs is not None
        pred, target = inputs["pred"], inputs["target"]
        if self.kind == "label":  # the true-label keys, then the candidate row losses
            return np.concatenate([target[:1], self.label_state.candidates(inputs)])
        if self.kind == "ece":
            return np.concatenate([pred, target])
        if self.kind == "d2q":
            from losscli.catalogue.regression import pinball

            alpha = self.alpha
            assert alpha is not None
            return np.concatenate([target, pinball(pred, target, alpha)])
        if self.kind == "d2t":
            return self._d2_tweedie_rows(pred, target)
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

    def _d2_tweedie_rows(self, pred: Array, target: Array) -> Array:
        """``D(y, p)``, ``a(y)`` and ``y`` per output: the null deviance of any weighting is
        a function of ``Σw·a(y)``, ``Σw·y`` and ``Σw`` (see :meth:`_null_deviance`)."""
        from losscli.catalogue.distributions import tweedie_deviance

        q = self.power
        with np.errstate(divide="ignore", invalid="ignore"):
            deviance = tweedie_deviance(pred, target, q)
            y = target
            if q == 0:
                if self.shift is None:
                    self.shift = target[:, :1].copy()
                y = target - self.shift
                a = np.square(y)
            elif q == 1:
                a = np.where(target == 0, 0.0, target * np.log(target))
            elif q == 2:
                a = np.log(target)
            else:
                a = np.maximum(target, 0.0) ** (2 - q) if q < 0 else target ** (2 - q)
        return np.concatenate([deviance, a, y])

    def _null_deviance(self, a: Array, s1: Array, w: Array) -> Array:
        """``Σw·D(y, μ)`` at the weighted mean ``μ = Σw·y/Σw``, from the sums: the terms in
        ``μ`` collapse since ``μ·Σw = Σw·y``. Power 0: ``Σw·y² − (Σw·y)²/Σw`` (on centred
        targets); 1: ``2(Σw·y·log y − Σw·y·log μ)``; 2: ``2(Σw·log μ − Σw·log y)``; else
        ``2(Σw·y₊^(2−q) − Σw·μ^(2−q))/((1−q)(2−q))``."""
        q = self.power
        mu = s1 / w
        if q == 0:
            out: Array = a - s1 * mu
        elif q == 1:
            out = 2 * (a - s1 * np.log(mu))
        elif q == 2:
            out = 2 * (w * np.log(mu) - a)
        else:
            out = 2 * (a - w * mu ** (2 - q)) / ((1 - q) * (2 - q))
        return out

    def values(self, sums: Array, weight: Array | None) -> Array:
        """Metric values (B,) or (k, B) from replicate sums (m, B) and weight sums (B,)
        (``max``: replicate maxima (k, B), no weights)."""
        k = self.outputs
        if self.kind == "max":
            return sums if self.per == "output" else sums.max(axis=0)
        assert weight is not None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "ratio":
                ratio: Array = sums[0] / sums[1]
                return ratio
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
            if self.kind == "d2t":
                num = sums[:k]
                den = self._null_deviance(sums[k : 2 * k], sums[2 * k :], weight)
                scores = explained_scores(num.ravel(), den.ravel(), force_finite=False)
                scores = scores.reshape(num.shape)
                return scores if self.per == "output" else scores.mean(axis=0)
            if self.kind == "r2":
                num = sums[:k]
                den = sums[2 * k :] - np.square(sums[k : 2 * k]) / weight
            else:
                num = sums[k : 2 * k] - np.square(sums[:k]) / weight
                den = sums[3 * k :] - np.square(sums[2 * k : 3 * k]) / weight
            scores = explained_scores(num.ravel(), den.ravel()).reshape(num.shape)
            return scores if self.per == "output" else scores.mean(axis=0)


class _Cell:
    """The moments of one result or group (t intervals)."""

    def __init__(self, width: int, paired: bool) -> None:
        self.own = WeightedMoments(width)
        self.diff = WeightedMoments(width) if paired else None

    def merge(self, other: _Cell) -> None:
        self.own.merge(other.own)
        if self.diff is not None and other.diff is not None:
            self.diff.merge(other.diff)


class IntervalTracker:
    """The interval states of one plan (total and per group), fed chunk by chunk."""

    def __init__(
        self, request: IntervalRequest, features: Features, partner: Features | None
    ) -> None:
        self.request = request
        self.features = features
        self.partner = partner
        if features.kind == "label" and request.bootstrap is not None:
            raise UsageError(
                f"--bootstrap: {features.spec.name} gets a t interval from per-label moments, "
                "not a bootstrap; drop --bootstrap"
            )
        self.normal = request.bootstrap is None and features.normal_ok
        self.replicates = request.bootstrap or DEFAULT_REPLICATES
        if self.replicates < 1:
            raise UsageError("--bootstrap must be a positive number of replicates")
        self.weights = None if self.normal else PoissonWeights(request.seed, self.replicates)
        self.special: _Special | None = None
        self.reset()

    def reset(self) -> None:
        """Fresh, empty states (a Dask unit sends one set per chunk)."""
        features, partner = self.features, self.partner
        self.total = self._cell()
        self.groups: dict[int, _Cell] = {}
        # the bootstrap: features own (and the baseline's) and the weight, per replicate
        m = features.width * (1 if partner is None else 2) + 1
        self.sums = ReplicateSums(m, self.replicates)
        self.group_sums = GroupedReplicateSums(m, self.replicates)
        self.maxima = ReplicateMaxima(m - 1, self.replicates) if features.kind == "max" else None
        if features.kept:
            self.special = _KeptRows(self, partner is not None)
        elif features.kind == "ece":
            self.special = _CalibrationReplicates(self, partner is not None)
        elif features.kind == "label":
            self.special = _LabelMoments(self)

    def payload(self) -> tuple[Any, ...]:
        """The states, as a Dask unit sends them back (see :meth:`absorb`)."""
        if self.special is not None:  # kept rows or per-bin sums, as plain arrays
            return (None, {}, None, None, self.special.payload())
        if self.normal:
            return (self.total, self.groups, None, None, None)
        if self.maxima is not None:
            return (None, {}, None, None, self.maxima)
        return (None, {}, self.sums, self.group_sums, None)

    def absorb(self, payload: tuple[Any, ...], remap: NDArray[np.intp] | None) -> None:
        """Merge another pass's :meth:`payload` (its group ``g`` is ``remap[g]`` here): exact
        moments and maxima; replicate sums in double-double, as a local run adds them."""
        total, groups, sums, group_sums, maxima = payload
        if self.special is not None:
            self.special.absorb(maxima, remap)
        elif self.normal:
            self.total.merge(total)
            for gid, cell in groups.items():
                assert remap is not None
                self._group(int(remap[gid])).merge(cell)
        elif self.maxima is not None:
            self.maxima.merge(maxima, remap)
        else:
            self.sums.merge(sums)
            if remap is not None:
                self.group_sums.merge(group_sums, remap)

    def _cell(self) -> _Cell:
        return _Cell(self.features.width, self.partner is not None)

    def _group(self, gid: int) -> _Cell:
        cell = self.groups.get(gid)
        if cell is None:
            cell = self.groups[gid] = self._cell()
        return cell

    def add(
        self,
        own: Array,
        other: Array | None,
        weights: Array | None,
        start: int,
        codes: NDArray[np.intp] | None,
        positions: NDArray[np.intp] | None = None,
    ) -> None:
        """Add a chunk's features (``other``: the paired baseline's) of the rows at positions
        ``start …`` of the input (``codes``: their group codes, with ``--group-by``). After
        ``--nan skip`` the rows are at ``start + positions``: a row's bootstrap weights are
        those of its place in the input, whether or not rows before it were skipped."""
        if self.special is not None:
            self.special.add(own, other, weights, start, codes, positions)
            return
        if not self.normal:
            parts = [own] if other is None else [own, other]
            if self.maxima is not None:  # max_error takes no weights
                stacked = np.concatenate(parts)
            elif weights is None:
                stacked = np.concatenate([*parts, np.ones((1, own.shape[1]))])
            else:
                stacked = np.concatenate([*(p * weights for p in parts), weights[None, :]])
            if positions is not None:
                stacked, codes = self._as_read(stacked, codes, positions)
            self._bootstrap(stacked, start, codes)
            return
        self._moments(self.total, own, other, weights)
        if codes is None:
            return
        for gid, rows in group_rows(codes):
            self._moments(
                self._group(gid),
                own[:, rows],
                None if other is None else other[:, rows],
                None if weights is None else weights[rows],
            )

    def _as_read(
        self, stacked: Array, codes: NDArray[np.intp] | None, positions: NDArray[np.intp]
    ) -> tuple[Array, NDArray[np.intp] | None]:
        """The kept rows back at their places in the chunk as read; a skipped row adds
        nothing: zero features and weight (exact zeros in every sum), or −inf for maxima,
        in the group of the chunk's first kept row."""
        width = int(positions[-1]) + 1
        fill = -np.inf if self.maxima is not None else 0.0
        spread = np.full((stacked.shape[0], width), fill)
        spread[:, positions] = stacked
        if codes is not None:
            spread_codes = np.full(width, codes[0], dtype=codes.dtype)
            spread_codes[positions] = codes
            codes = spread_codes
        return spread, codes

    @staticmethod
    def _moments(cell: _Cell, own: Array, other: Array | None, weights: Array | None) -> None:
        cell.own.add(own, weights)
        if cell.diff is not None and other is not None:
            cell.diff.add(own - other, weights)

    def _bootstrap(self, stacked: Array, start: int, codes: NDArray[np.intp] | None) -> None:
        """Feed the replicate sums batch by batch: each batch's weights are drawn and its
        products formed on worker threads (NumPy and BLAS release the GIL); the sums take
        them in input order, so the digits do not depend on the number of threads."""
        from losscli.io.parallel import cores, ordered_map  # threads only for the bootstrap

        weights = self.weights
        assert weights is not None
        n = stacked.shape[1]

        local = threading.local()  # each thread's (piece rows, B) weight buffer

        def job(a: int) -> Callable[[], list[BatchProducts | BatchMaxima]]:
            def run() -> list[BatchProducts | BatchMaxima]:
                if self.maxima is not None:
                    part_codes = None if codes is None else codes[a : a + BATCH_ROWS]
                    return [
                        batch_maxima(stacked[:, a : a + BATCH_ROWS], weights, start + a, part_codes)
                    ]
                buffer = getattr(local, "buffer", None)
                if buffer is None:
                    buffer = local.buffer = np.empty((weights.piece_rows, weights.replicates))
                batch = stacked[:, a : a + BATCH_ROWS]
                chunk_codes = None if codes is None else codes[a : a + BATCH_ROWS]
                return [batch_products(batch, weights, start + a, chunk_codes, buffer)]

            return run

        starts = range(0, n, BATCH_ROWS)
        workers = BOOTSTRAP_WORKERS or cores()
        if workers == 1 or len(starts) == 1:
            results: Iterable[BatchProducts | BatchMaxima] = (job(a)()[0] for a in starts)
        else:
            results = ordered_map((job(a) for a in starts), workers=workers, ahead=workers + 1)
        for batch in results:
            if isinstance(batch, BatchMaxima):
                assert self.maxima is not None
                self.maxima.add(batch)
                continue
            self.sums.add_products(batch.total, batch.kept)
            if batch.gids is not None and batch.groups is not None:
                self.group_sums.add_products(batch.gids, batch.groups, batch.kept)

    def intervals(self, gid: int | None, value: Any, partner_value: Any) -> Intervals | None:
        """The estimates of the total (``gid=None``) or a group, given the point values."""
        paired = self.partner is not None
        width = self.features.width
        if isinstance(self.special, _LabelMoments):
            return self.special.intervals(gid)
        if self.normal:
            cell = self.total if gid is None else self.groups.get(gid)
            if cell is None:
                return None
            own = [cell.own.estimate(j) for j in range(width)]
            diff = [cell.diff.estimate(j) for j in range(width)] if cell.diff is not None else None
            return Intervals(list(own), None if diff is None else list(diff), paired)
        if self.special is not None:
            found = self.special.replicates(gid)
            if found is None:
                return None
            own_values, base_values = found
            if base_values is None:
                return Intervals(_bootstrap(own_values, value), None, paired)
            changes = _bootstrap(own_values - base_values, _minus(value, partner_value))
            return Intervals(_bootstrap(own_values, value), changes, paired)
        weight: Array | None = None
        if self.maxima is not None:  # replicate maxima of max_error
            stats = self.maxima.total if gid is None else self.maxima.group(gid)
        else:
            stats = self.sums.sums if gid is None else self.group_sums.sums(gid)
            weight = None if stats is None else stats[-1]
        if stats is None:
            return None
        own_values = self.features.values(stats[:width], weight)
        estimates = _bootstrap(own_values, value)
        difference = None
        if paired:
            assert self.partner is not None
            base_values = self.partner.values(stats[width : 2 * width], weight)
            difference = _bootstrap(own_values - base_values, _minus(value, partner_value))
        return Intervals(estimates, difference, paired)


class _KeptRows:
    """The rows a quantile bootstrap keeps (values in input order, their positions in the
    input, weights and group codes): every replicate's own quantile is read from them after
    the last row by :class:`~losscli.stats.replicate_quantiles.ReplicateQuantiles`, one sweep
    that draws each row's counts once. Memory: 8 bytes per value kept (own and paired) and 8
    per row, up to :data:`MAX_KEPT_VALUES` values."""

    def __init__(self, tracker: IntervalTracker, paired: bool) -> None:
        from losscli.stats.replicate_quantiles import RowPositions  # loaded by these runs only

        self.tracker = tracker
        self.paired = paired
        self.own: list[Array] = []
        self.other: list[Array] = []
        self.weights: list[Array] = []
        self.codes: list[NDArray[np.intp]] = []
        self.positions = RowPositions()
        self.rows = 0
        self.values = 0
        self.results: dict[str, tuple[Array, Array | None]] = {}

    def add(
        self,
        own: Array,
        other: Array | None,
        weights: Array | None,
        start: int,
        codes: NDArray[np.intp] | None,
        positions: NDArray[np.intp] | None,
    ) -> None:
        n = own.shape[1]
        if n == 0:
            return
        self.values += own.size + (0 if other is None else other.size)
        self._check_budget()
        self.own.append(np.array(own, dtype=np.float64, copy=True))
        if other is not None:
            self.other.append(np.array(other, dtype=np.float64, copy=True))
        if weights is not None:
            self.weights.append(np.array(weights, dtype=np.float64, copy=True))
        if codes is not None:
            self.codes.append(np.array(codes, dtype=np.intp, copy=True))
        self.positions.add(start, n, positions)
        self.rows += n

    def payload(self) -> tuple[Any, ...]:
        """The kept rows as plain arrays (what a Dask unit sends back)."""
        return (self.own, self.other, self.weights, self.codes, self.positions, self.values)

    def absorb(self, payload: tuple[Any, ...], remap: NDArray[np.intp] | None) -> None:
        """Append the rows another pass kept (a Dask unit's chunk, later in the input); its
        group ``g`` is ``remap[g]`` here."""
        own, other, weights, codes, positions, values = payload
        self.values += values
        self._check_budget()
        self.own.extend(own)
        self.other.extend(other)
        self.weights.extend(weights)
        if remap is not None:
            self.codes.extend(remap[c] for c in codes)
        for i, start in enumerate(positions.starts):
            last = i + 1 == len(positions.offsets)
            end = positions.rows if last else positions.offsets[i + 1]
            self.positions.add(start, end - positions.offsets[i], positions.gaps[i])
            self.rows += end - positions.offsets[i]

    def _check_budget(self) -> None:
        if self.values > MAX_KEPT_VALUES:
            raise UsageError(
                f"--confidence: the bootstrap of {self.tracker.features.spec.name} keeps its "
                f"values in memory, at most {MAX_KEPT_VALUES:,} (8 bytes each); fewer rows, "
                "or a --group-by sample, or no --confidence"
            )

    def replicates(self, gid: int | None) -> tuple[Array, Array | None] | None:
        key = "total" if gid is None else "groups"
        if key not in self.results:
            self.results[key] = self._compute(gid is not None)
        own, other = self.results[key]
        index = 0 if gid is None else gid
        if self.rows == 0 or index >= own.shape[0]:
            return None
        return (
            self._reduce(own[index]),
            None if other is None else self._reduce(other[index]),
        )

    def _reduce(self, values: Array) -> Array:
        """(k, B) per output → the metric's value: per output, or their mean."""
        if self.tracker.features.per == "output":
            return values
        out: Array = values.mean(axis=0)
        return out

    def _joined(self) -> None:
        """Each kept list as one array (the chunks' arrays are freed as they are joined)."""
        for name in ("own", "other"):
            parts = getattr(self, name)
            if len(parts) > 1:
                joined = np.concatenate(parts, axis=1)
                parts.clear()
                parts.append(joined)
        for parts in (self.weights, self.codes):
            if len(parts) > 1:
                joined = np.concatenate(parts)
                parts.clear()
                parts.append(joined)

    def _compute(self, grouped: bool) -> tuple[Array, Array | None]:
        # the quantile bootstrap's module: loaded by the runs that use it, not by every run
        from losscli.io.parallel import cores, ordered_map  # threads only for the bootstrap
        from losscli.stats.replicate_quantiles import ReplicateQuantiles, View

        features = self.tracker.features
        weights = self.tracker.weights
        assert weights is not None
        k = features.outputs
        if self.rows == 0:
            empty = np.zeros((0, k, self.tracker.replicates))
            return empty, (empty if self.paired else None)
        self._joined()
        row_weights = self.weights[0] if self.weights else None
        view = View(None, 1)
        if grouped:
            codes = self.codes[0] if self.codes else np.zeros(0, dtype=np.intp)
            view = View(codes, int(codes.max()) + 1 if codes.size else 0)
        rule = features.rule(row_weights is not None)
        workers = BOOTSTRAP_WORKERS or cores()

        def runner(jobs: Iterable[Callable[[], list[Any]]]) -> Iterator[Any]:
            return ordered_map(jobs, workers=workers, ahead=workers + 1)

        def run(rows: Array) -> Array:
            values, losses = (rows, None) if features.kind == "quantile" else (rows[:k], rows[k:])
            bootstrap = ReplicateQuantiles(
                values,
                losses,
                row_weights,
                self.positions,
                weights,
                rule,
                features.alpha,
                runner if workers > 1 else None,
            )
            return bootstrap.replicates(view)

        return run(self.own[0]), (run(self.other[0]) if self.paired else None)


class _CalibrationReplicates:
    """The bootstrap of ``ece``: per replicate, per probability bin, the exact sums ``Σw·c``,
    ``Σw·c·p`` and ``Σw·c·y`` (the replicate sums with the bin as the group, for the total and
    per group × bin), streamed in bounded memory; ``ECE_b = Σ_bins |Σw·c·y − Σw·c·p| / Σw·c``."""

    def __init__(self, tracker: IntervalTracker, paired: bool) -> None:
        # the chart module: imported only by runs that use it (plain runs never load it)
        from losscli.stats.histograms import Calibration

        self.tracker = tracker
        self.bins = tracker.features.bins
        self.calibration = Calibration(self.bins)
        self.paired = paired
        b = tracker.replicates
        self.total = [GroupedReplicateSums(3, b) for _ in range(2 if paired else 1)]
        self.groups = [GroupedReplicateSums(3, b) for _ in range(2 if paired else 1)]
        self.nan_total = [False, False]
        self.nan_groups: list[set[int]] = [set(), set()]

    def add(
        self,
        own: Array,
        other: Array | None,
        weights: Array | None,
        start: int,
        codes: NDArray[np.intp] | None,
        positions: NDArray[np.intp] | None,
    ) -> None:
        from losscli.stats.replicate_quantiles import (  # ece runs only
            DRAWN_COUNTS,
            GROUPED_COUNTS,
            counts_at,
        )

        poisson = self.tracker.weights
        assert poisson is not None
        at = np.arange(own.shape[1], dtype=np.int64) if positions is None else positions
        rows_at = at.astype(np.int64) + start
        sides = [own] if other is None else [own, other]
        n = own.shape[1]
        part_rows = max(
            1, (DRAWN_COUNTS if codes is None else GROUPED_COUNTS) // poisson.replicates
        )
        for a in range(0, n, BATCH_ROWS):
            e = min(a + BATCH_ROWS, n)
            w = np.ones(e - a) if weights is None else weights[a:e]
            batch_codes = None if codes is None else codes[a:e]
            prepared = [
                self._prepare(side, s[:, a:e], w, batch_codes) for side, s in enumerate(sides)
            ]
            for b in range(0, e - a, part_rows):
                c = min(b + part_rows, e - a)
                counts = counts_at(poisson, rows_at[a + b : a + c])
                for side, items in enumerate(prepared):
                    for split, bins, group_bins in items:
                        piece = split[:, b:c]
                        kept = np.flatnonzero(piece.any(axis=1))
                        gids, products = group_products(piece[kept], counts, bins[b:c])
                        self.total[side].add_products(gids, products, kept)
                        if group_bins is not None:
                            gids, products = group_products(piece[kept], counts, group_bins[b:c])
                            self.groups[side].add_products(gids, products, kept)

    def payload(self) -> tuple[Any, ...]:
        """The per-bin sums as plain arrays (what a Dask unit sends back)."""
        return (self.total, self.groups, self.nan_total, self.nan_groups)

    def absorb(self, payload: tuple[Any, ...], remap: NDArray[np.intp] | None) -> None:
        """Add another pass's per-bin sums (its group ``g`` is ``remap[g]`` here)."""
        total, groups, nan_total, nan_groups = payload
        bins = self.bins
        for side in range(len(self.total)):
            self.total[side].merge(total[side], np.arange(len(total[side].hi)))
            self.nan_total[side] = self.nan_total[side] or nan_total[side]
            if remap is None or not len(remap):
                continue
            # the unit's codes group × bin (its arrays' spare capacity past them is left out)
            codes = np.arange(min(len(groups[side].hi), len(remap) * bins))
            if codes.size:
                self.groups[side].merge(groups[side], remap[codes // bins] * bins + codes % bins)
            self.nan_groups[side].update(int(remap[g]) for g in nan_groups[side])

    def _prepare(
        self, side: int, rows: Array, w: Array, codes: NDArray[np.intp] | None
    ) -> list[tuple[Array, NDArray[np.intp], NDArray[np.intp] | None]]:
        """Per output: the exact parts of ``[w, w·p, w·y]`` and each row's bin (and group × bin
        code); a NaN probability makes its total's (and group's) ECE NaN."""
        k = rows.shape[0] // 2
        out = []
        for j in range(k):
            p, y = rows[j], rows[k + j]
            bins = self.calibration.bin_index(p)
            missing = bins == self.bins
            if missing.any():
                self.nan_total[side] = True
                if codes is not None:
                    self.nan_groups[side].update(np.unique(codes[missing]).tolist())
                p, y, bins = np.where(missing, 0.0, p), np.where(missing, 0.0, y), bins.copy()
                bins[missing] = 0
                weight = np.where(missing, 0.0, w)
            else:
                weight = w
            split = split_parts(np.stack([weight, weight * p, weight * y]))
            group_bins = None if codes is None else codes * self.bins + bins
            out.append((split, bins.astype(np.intp), group_bins))
        return out

    def _ece(self, sums: GroupedReplicateSums, first: int) -> Array:
        b = self.tracker.replicates
        per_bin = np.zeros((self.bins, 3, b))
        for i in range(self.bins):
            found = sums.sums(first + i)
            if found is not None:
                per_bin[i] = found
        total = per_bin[:, 0].sum(axis=0)
        gaps = np.abs(per_bin[:, 2] - per_bin[:, 1]).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out: Array = np.where(total != 0, gaps / total, np.nan)
        return out

    def replicates(self, gid: int | None) -> tuple[Array, Array | None] | None:
        values = []
        for side in range(2 if self.paired else 1):
            if gid is None:
                ece = self._ece(self.total[side], 0)
                if self.nan_total[side]:
                    ece[:] = np.nan
            else:
                ece = self._ece(self.groups[side], gid * self.bins)
                if gid in self.nan_groups[side]:
                    ece[:] = np.nan
            values.append(ece)
        return values[0], (values[1] if self.paired else None)


class _LabelMoments:
    """The t interval of a label metric's mean. A row's loss is its candidate ``c_j`` for the
    column ``j = pick(L)`` of its true label ``L``, known only after the last row (the sorted
    classes), so per distinct label (as :class:`~losscli.stats.labels.LabelSums`, for the total
    and each group) the exact sums of ``w·c_j``, ``w·c_j²`` and ``w²`` are kept for every
    candidate ``j`` (paired: ``w·(c_j − c'_k)`` and its square for every pair ``j, k``); at
    the end ``Σw·d = Σ_L S[L][pick(L)]`` and ``Σw·d²`` alike, exact, give the moments of
    :func:`~losscli.stats.intervals.moments_estimate`. Memory: per distinct label and group
    ``2m + 1`` sums (paired ``2m + 2mm' + 1``), whatever the number of rows.

    Groups: one cell per (group, label) present, their sums in a
    :class:`~losscli.stats.grouped.GroupedSums` (vectorised over the cells, each sum correctly
    rounded, then added exactly over the group's labels): the same digits for any chunking."""

    def __init__(self, tracker: IntervalTracker) -> None:
        from losscli.stats.labels import LabelSums  # label runs only

        self.tracker = tracker
        self.features = tracker.features
        self.partner = tracker.partner
        if self.partner is not None and self.partner.kind != "label":
            raise UsageError("--confidence: a label metric pairs with the same metric only")
        self.total = LabelSums()
        self.groups: Any = None  # GroupedSums over the cells, from the first grouped chunk
        self.cells: dict[tuple[int, Any], int] = {}  # (group, label key or "nan") → cell
        self.cell_keys: list[tuple[int, float]] = []  # cell → (group, label key)
        self.group_cells: dict[int, list[int]] = {}
        self.totals: Array | None = None  # the cells' sums, rounded (after the last row)
        self.width = 0  # own candidates m (set by the first chunk)
        self.other_width = 0  # the baseline's m'

    def _stack(self, own: Array, other: Array | None, weights: Array | None) -> Array:
        """Per row ``[c, c², (d, d²), w or 1]``: ``LabelSums`` multiplies every row by w."""
        c = own[1:]
        self.width = c.shape[0]
        parts = [c, c * c]
        if other is not None:
            base = other[1:]
            self.other_width = base.shape[0]
            if c.shape[0] * base.shape[0] > MAX_LABEL_PAIRS:
                raise UsageError(
                    f"--confidence: a paired {self.features.spec.name} interval keeps "
                    f"{c.shape[0]}×{base.shape[0]} sums per label, at most {MAX_LABEL_PAIRS}; "
                    "drop the baseline or the --confidence"
                )
            d = (c[:, None, :] - base[None, :, :]).reshape(-1, c.shape[1])
            parts += [d, d * d]
        parts.append(np.ones((1, c.shape[1])) if weights is None else weights[None, :])
        return np.concatenate(parts)

    def add(
        self,
        own: Array,
        other: Array | None,
        weights: Array | None,
        start: int,
        codes: NDArray[np.intp] | None,
        positions: NDArray[np.intp] | None,
    ) -> None:
        if own.shape[1] == 0:
            return
        stacked = self._stack(own, other, weights)
        labels = own[0]
        if self.features.label_state.pick_free:  # one candidate whatever the label: one key
            labels = np.where(np.isnan(labels), labels, 0.0)
        self.total.add(labels, stacked, weights)
        if codes is None:
            return
        # each row's cell: (group, label) pairs, numbered in order of appearance
        keys, inverse = np.unique(labels, return_inverse=True)
        pairs = codes.astype(np.int64) * len(keys) + inverse.reshape(-1)
        present, at = np.unique(pairs, return_inverse=True)
        ids = np.array(
            [self._cell(int(p) // len(keys), float(keys[p % len(keys)])) for p in present.tolist()],
            dtype=np.intp,
        )
        if weights is None:
            values = np.concatenate([stacked, np.ones((1, stacked.shape[1]))])
        else:
            values = np.concatenate([stacked * weights, weights[None, :]])
        if self.groups is None:
            from losscli.stats.grouped import GroupedSums  # grouped runs only

            self.groups = GroupedSums(values.shape[0])
        self.groups.add(values, ids[at.reshape(-1)], len(self.cell_keys))

    def _cell(self, gid: int, key: float) -> int:
        name = (gid, "nan" if math.isnan(key) else key)
        found = self.cells.get(name)
        if found is None:
            found = self.cells[name] = len(self.cell_keys)
            self.cell_keys.append((gid, key))
            self.group_cells.setdefault(gid, []).append(found)
        return found

    def payload(self) -> tuple[Any, ...]:
        """The per-label sums and the label context that reads their keys (a Dask unit's own
        text codes)."""
        context = self.features.label_state.context
        cells = (self.groups, self.cell_keys)
        return (self.total, cells, context, self.width, self.other_width)

    def absorb(self, payload: tuple[Any, ...], remap: NDArray[np.intp] | None) -> None:
        total, (groups, cell_keys), context, width, other_width = payload
        mine = self.features.label_state.context
        self.width = self.width or width
        self.other_width = self.other_width or other_width

        def translate(key: float) -> float:
            return key if math.isnan(key) else float(mine.key_of(context.label(key)))

        self.total.merge(total, None if context is mine else translate)
        if groups is None:
            return
        assert remap is not None
        ids = np.array(
            [
                self._cell(int(remap[gid]), key if context is mine else translate(key))
                for gid, key in cell_keys
            ],
            dtype=np.intp,
        )
        if self.groups is None:
            from losscli.stats.grouped import GroupedSums  # grouped runs only

            self.groups = GroupedSums(groups.width)
        self.groups.merge(groups, ids, len(self.cell_keys))

    def _group_sums(self, gid: int) -> tuple[dict[float, Array], Fraction | float] | None:
        """A group's sums per label (rounded once) and its weight ``Σw``."""
        cells = self.group_cells.get(gid)
        if not cells or self.groups is None:
            return None
        if self.totals is None:
            self.totals = self.groups.totals()
        assert self.totals is not None
        per_label = {self.cell_keys[c][1]: self.totals[:-1, c] for c in cells}
        weight = sum((_exact(float(self.totals[-1, c])) for c in cells), Fraction(0))
        return per_label, weight

    def intervals(self, gid: int | None) -> Intervals | None:
        if gid is None:
            if self.total.rows == 0:
                return None
            sums: dict[float, Any] = self.total.sums
            weight = _fraction(self.total.weight, 0)
        else:
            found = self._group_sums(gid)
            if found is None:
                return None
            sums, weight = found
        state = self.features.label_state
        state.sums = self.total  # the class order of all rows (a group's too)
        pick = state.pick()
        kind = state.kind
        m = self.width
        if any(math.isnan(key) for key in sums):  # a missing label: NaN, as the value
            weight = math.nan
        last = 2 * m + 2 * m * self.other_width
        weight2 = _sum_picked(sums, lambda key: last)
        own = _label_estimate(
            kind,
            weight,
            weight2,
            _sum_picked(sums, pick),
            _sum_picked(sums, lambda key: m + pick(key)),
            paired=False,
        )
        if self.partner is None:
            return Intervals([own], None, False)
        base = self.partner.label_state
        base.sums = self.total
        base_pick = base.pick()
        k, pairs = self.other_width, m * self.other_width

        def pair(key: float) -> int:
            return 2 * m + pick(key) * k + base_pick(key)

        diff = _label_estimate(
            kind,
            weight,
            weight2,
            _sum_picked(sums, pair),
            _sum_picked(sums, lambda key: pair(key) + pairs),
            paired=True,
        )
        return Intervals([own], [diff], True)


def _sum_picked(sums: dict[float, Any], pick: Callable[[float], int]) -> Fraction | float:
    """``Σ_L S[L][pick(L)]`` exactly (a float when a sum is not finite): ``S[L]`` a
    compensated sum (exact) or an array of rounded sums."""
    total: Fraction | float = Fraction(0)
    for key, label_sums in sums.items():
        if math.isnan(key):
            return math.nan
        j = pick(key)
        if isinstance(label_sums, np.ndarray):
            part = _exact(float(label_sums[j]))
        else:
            part = _fraction(label_sums, j)
        if not isinstance(part, Fraction):
            return math.nan
        total = total + part
    return total


def _exact(x: float) -> Fraction | float:
    return Fraction(x) if math.isfinite(x) else x


def _label_estimate(
    kind: str,
    w: Fraction | float,
    w2: Fraction | float,
    s1: Fraction | float,
    s2: Fraction | float,
    *,
    paired: bool,
) -> Estimate:
    """The estimate of the metric's mean from the picked candidates' sums: Brier halves the
    candidate (``s1/2``, ``s2/4``); zero-one is ``1 − c`` (``W − s1``, ``W − 2·s1 + s2``; a
    paired difference just changes sign)."""
    if not all(isinstance(v, Fraction) for v in (w, s1, s2)):
        return NormalEstimate(math.nan, math.nan, 0.0, 0.0)
    assert isinstance(w, Fraction) and isinstance(s1, Fraction) and isinstance(s2, Fraction)
    if kind == "brier":
        s1, s2 = s1 / 2, s2 / 4
    elif kind == "zero_one":
        s1, s2 = (-s1, s2) if paired else (w - s1, w - 2 * s1 + s2)
    return moments_estimate(w, w2, s1, s2)


_Special = _KeptRows | _CalibrationReplicates | _LabelMoments


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
