"""Mergeable loss statistics (update / merge / compute).

A state only ever *adds* chunk partials (exactly, through :mod:`losscli.stats.sums`), so chunks,
groups, threads and machines combine the same way — through ``merge`` — and only ``compute``
divides.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from losscli.stats.sums import (
    CompensatedSum,
    accurate_row_sums,
    blocked_loss_sums,
    two_product,
)

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from fractions import Fraction

    from numpy.typing import NDArray

    Array = NDArray[np.float64]
else:
    Array = np.ndarray


Reduction = Literal["none", "mean", "sum"]


Per = Literal["all", "row", "output"]


Value = float | list[float]


class LossState(Protocol):
    """What every loss statistic offers the driver."""

    rows: int

    def merge(self, other: LossState) -> None: ...

    def compute(self, reduction: Reduction, per: Per) -> Value: ...


class MeanState:
    """Sufficient statistics of a (weighted) mean of elementwise losses over ``k`` outputs.

    Holds ``S_j = Σ_i w_i·l_ij`` per output j, ``W = Σ_i w_i`` (the row count when unweighted)
    and the row count. Then, with k outputs:

    * ``mean``: ``all``/``row`` → ``Σ_j S_j / (k·W)``; ``output`` → ``S_j / W``
    * ``sum``:  ``all`` → ``Σ_j S_j``; ``row`` → ``Σ_j S_j / k``; ``output`` → ``S_j``
    """

    __slots__ = ("loss_sums", "outputs", "rows", "weight_sum")

    def __init__(self, outputs: int) -> None:
        self.outputs = outputs
        self.loss_sums = CompensatedSum(outputs)
        self.weight_sum = CompensatedSum(1)
        self.rows = 0

    def add_chunk(self, losses: Array, weights: Array | None) -> Array:
        """Add elementwise losses of shape (k, n); with weights, ``losses`` is scaled in place.

        Returns the chunk's per-output partial sums (for cheap non-finite detection).
        """
        n = losses.shape[1]
        if weights is not None:
            np.multiply(losses, weights, out=losses)
        partial = accurate_row_sums(losses)
        self.add_sums(partial, weights, n)
        return partial

    def add_sums(self, partial: Array, weights: Array | None, rows: int) -> None:
        """Add a chunk's per-output loss sums (already weighted) and its weights."""
        self.loss_sums.add(partial)
        if weights is None:
            self.weight_sum.add(float(rows))
        else:
            self.weight_sum.add(accurate_row_sums(weights.reshape(1, -1)))
        self.rows += rows

    def merge(self, other: LossState) -> None:
        assert isinstance(other, MeanState)
        self.loss_sums.merge(other.loss_sums)
        self.weight_sum.merge(other.weight_sum)
        self.rows += other.rows

    def compute(self, reduction: Reduction, per: Per) -> Value:
        sums = self.loss_sums.value
        weight = float(self.weight_sum.value[0])
        k = self.outputs
        if reduction == "sum":
            if per == "output":
                return [float(s) for s in sums]
            total = math.fsum(sums.tolist()) if np.isfinite(sums).all() else float(np.sum(sums))
            return total / k if per == "row" else total
        if reduction != "mean":
            raise ValueError(f"reduction {reduction!r} has no single value")
        with np.errstate(divide="ignore", invalid="ignore"):
            if per == "output":
                return [float(s / weight) for s in sums]
            total = math.fsum(sums.tolist()) if np.isfinite(sums).all() else float(np.sum(sums))
            return float(np.float64(total) / (k * weight))


def _uniform(values: Array, per: Per) -> Value:
    """scikit-learn's multioutput: ``raw_values`` for ``--per output``, else the uniform mean."""
    if per == "output":
        return [float(v) for v in values]
    return float(np.mean(values))


class RootMeanState(MeanState):
    """RMSE-style metrics: ``sqrt(Σ_i w_i·l_ij / Σ_i w_i)`` per output, then averaged uniformly
    over outputs (scikit-learn ``root_mean_squared_error``)."""

    def compute(self, reduction: Reduction, per: Per) -> Value:
        means = super().compute("mean", "output")
        assert isinstance(means, list)
        return _uniform(np.sqrt(np.array(means)), per)


class ChanMoments:
    """Weighted count, mean and centred second moment per output, merged with Chan's formula.

    For a chunk with weight ``W_b``, mean ``m_b`` and ``M2_b = Σ w·(x − m_b)²``, merging into
    ``(W_a, m_a, M2_a)`` gives ``δ = m_b − m_a``, ``W = W_a + W_b``, ``m = m_a + δ·W_b/W`` and
    ``M2 = M2_a + M2_b + δ²·W_a·W_b/W`` — no Σx² − (Σx)²/n cancellation, but a rounding per
    merge, so the last digits depend on how the rows were cut into chunks.
    """

    __slots__ = ("m2", "mean", "weight")

    def __init__(self, outputs: int) -> None:
        self.weight = 0.0
        self.mean = np.zeros(outputs)
        self.m2 = np.zeros(outputs)

    def add(self, x: Array, weights: Array | None) -> None:
        """Add a (k, n) block of values."""
        if weights is None:
            w_b = float(x.shape[1])
            mean_b = np.mean(x, axis=1)
        else:
            w_b = float(np.sum(weights))
            if w_b == 0:
                return
            mean_b = np.sum(x * weights, axis=1) / w_b
        d = np.subtract(x, mean_b[:, None])
        np.multiply(d, d, out=d)
        if weights is not None:
            np.multiply(d, weights, out=d)
        m2_b = np.sum(d, axis=1)
        self._combine(w_b, mean_b, m2_b)

    def _combine(self, w_b: float, mean_b: Array, m2_b: Array) -> None:
        w_a = self.weight
        total = w_a + w_b
        if total == 0:
            return
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (w_b / total)
        self.m2 = self.m2 + m2_b + np.square(delta) * (w_a * w_b / total)
        self.weight = total

    def merge(self, other: ChanMoments) -> None:
        self._combine(other.weight, other.mean, other.m2)


#: Largest magnitude of a value or weight whose split products cannot overflow (w·x² summed
#: over any number of rows stays finite); beyond it, or with inf/NaN, a state answers with
#: Chan's moments. (Values below ~1e-130 lose the lowest bits of their squares to underflow,
#: the same bits for every chunking: their sums stay independent of it.)
EXACT_MOMENT_LIMIT = 1e60


def _in_exact_range(x: Array) -> bool:
    if not x.size:
        return True
    return bool(max(float(x.max()), -float(x.min())) <= EXACT_MOMENT_LIMIT)  # NaN: False


class MomentState:
    """Weighted count and centred second moment ``M2 = Σw·(x − x̄_w)²`` per output.

    ``S1 = Σw·x``, ``S2 = Σw·x²`` and ``W = Σw`` are summed exactly: each product is split
    without error by Dekker's product into two terms, whose sums are exact (see
    :mod:`losscli.stats.sums`). ``M2 = S2 − S1²/W`` is then formed in rational arithmetic and
    rounded once: correctly rounded (no cancellation), and the same digits whatever the
    chunking, the threads or the machines. A value or weight beyond ``EXACT_MOMENT_LIMIT``
    (or inf/NaN) turns the state into :class:`ChanMoments` from then on.
    """

    __slots__ = ("chan", "first", "second", "weight_sum")

    def __init__(self, outputs: int) -> None:
        self.chan: ChanMoments | None = None  # once a value is out of the exact range
        self.first = CompensatedSum(outputs)
        self.second = CompensatedSum(outputs)
        self.weight_sum = CompensatedSum(1)

    @property
    def exact(self) -> bool:
        return self.chan is None

    @property
    def weight(self) -> float:
        """``Σw`` (the row count unweighted)."""
        if self.chan is not None:
            return self.chan.weight
        return float(self.weight_sum.value[0])

    def add(self, x: Array, weights: Array | None) -> None:
        """Add a (k, n) block of values."""
        if self.chan is None and not (
            _in_exact_range(x) and (weights is None or _in_exact_range(weights))
        ):
            self.chan = self._as_chan()
        if self.chan is not None:
            self.chan.add(x, weights)
            return
        k, n = x.shape
        first_terms = 1 if weights is None else 2  # x, or w·x as two terms

        def block_terms(start: int, stop: int) -> Array:
            xb = x[:, start:stop]
            if weights is None:
                return np.concatenate([xb, *two_product(xb, xb)])
            high, low = two_product(np.broadcast_to(weights[start:stop], xb.shape), xb)
            return np.concatenate([high, low, *two_product(high, xb), *two_product(low, xb)])

        terms = 3 * first_terms  # then x², or w·x² = (w·x)·x as four terms
        parts = blocked_loss_sums(block_terms, n, terms * k).reshape(terms, k, -1)
        self.first.add(parts[:first_terms].transpose(1, 0, 2).reshape(k, -1))
        self.second.add(parts[first_terms:].transpose(1, 0, 2).reshape(k, -1))
        if weights is None:
            self.weight_sum.add(float(n))
        else:
            self.weight_sum.add(accurate_row_sums(weights.reshape(1, -1)))

    def merge(self, other: MomentState) -> None:
        if self.chan is None and other.chan is None:
            self.first.merge(other.first)
            self.second.merge(other.second)
            self.weight_sum.merge(other.weight_sum)
            return
        if self.chan is None:
            self.chan = self._as_chan()
        self.chan.merge(other.chan if other.chan is not None else other._as_chan())

    def _as_chan(self) -> ChanMoments:
        """Chan's moments of the rows summed so far."""
        chan = ChanMoments(len(self.first.partials))
        weight = _exact(self.weight_sum.partials[0])
        if weight:
            chan.weight = float(weight)
            chan.mean = np.array([float(_exact(s1) / weight) for s1 in self.first.partials])
            chan.m2 = self.m2
        return chan

    @property
    def m2(self) -> Array:
        """``Σw·(x − x̄_w)²`` per output."""
        if self.chan is not None:
            return self.chan.m2
        weight = _exact(self.weight_sum.partials[0])
        if weight == 0:
            return np.zeros(len(self.first.partials))
        return np.array(
            [
                float(_exact(s2) - _exact(s1) ** 2 / weight)
                for s1, s2 in zip(self.first.partials, self.second.partials, strict=True)
            ]
        )


def _exact(partials: list[float]) -> Fraction:
    """The exact sum of a list of partials."""
    from fractions import Fraction  # only when a moment is computed (start-up)

    return sum((Fraction(p) for p in partials), Fraction(0))


def explained_scores(numerator: Array, denominator: Array, *, force_finite: bool = True) -> Array:
    """``1 − num/den`` per output (R², explained variance). With scikit-learn's
    ``force_finite`` a perfect fit scores 1 and a constant target with imperfect predictions
    scores 0, never NaN or −inf."""
    if not force_finite:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(1.0 - numerator / denominator, dtype=np.float64)
    out = np.ones(numerator.shape, dtype=np.float64)
    valid = (denominator != 0) & (numerator != 0)
    out[valid] = 1.0 - numerator[valid] / denominator[valid]
    out[(numerator != 0) & (denominator == 0)] = 0.0
    return out


class _ScoreState:
    """Shared by R² and explained variance: weighted moments of the target (Chan merges) and a
    residual statistic, combined by :func:`explained_scores`, then averaged over outputs."""

    residual: MeanState | MomentState

    def __init__(self, outputs: int) -> None:
        self.outputs = outputs
        self.target = MomentState(outputs)
        self.rows = 0

    def update(self, inputs: dict[str, Array], weights: Array | None) -> None:
        pred, target = inputs["pred"], inputs["target"]
        self.target.add(target, weights)
        self._add_residual(pred, target, weights)
        self.rows += target.shape[1]

    def _add_residual(self, pred: Array, target: Array, weights: Array | None) -> None:
        raise NotImplementedError

    def parts(self) -> tuple[Array, Array]:
        """(numerator, denominator) per output of ``1 − num/den``."""
        raise NotImplementedError

    def merge(self, other: LossState) -> None:
        assert isinstance(other, type(self))
        self.residual.merge(other.residual)  # type: ignore[arg-type]
        self.target.merge(other.target)
        self.rows += other.rows

    def compute(self, reduction: Reduction, per: Per) -> Value:
        return _uniform(explained_scores(*self.parts()), per)


class R2State(_ScoreState):
    """R² per output: ``1 − Σw·e² / Σw·(y − ȳ_w)²``, then the uniform average (scikit-learn)."""

    def __init__(self, outputs: int) -> None:
        super().__init__(outputs)
        self.residual = MeanState(outputs)

    def _add_residual(self, pred: Array, target: Array, weights: Array | None) -> None:
        assert isinstance(self.residual, MeanState)
        residuals = np.subtract(pred, target)
        self.residual.add_chunk(np.square(residuals, out=residuals), weights)

    def compute(self, reduction: Reduction, per: Per) -> Value:
        if self.rows < 2:  # scikit-learn: "not well-defined with less than two samples" → NaN
            return _uniform(np.full(self.outputs, np.nan), per)
        return super().compute(reduction, per)

    def parts(self) -> tuple[Array, Array]:
        """(Σw·e², Σw·(y − ȳ)²) per output."""
        assert isinstance(self.residual, MeanState)
        return self.residual.loss_sums.value, self.target.m2


class ExplainedVarianceState(_ScoreState):
    """Explained variance per output: ``1 − Var_w(y − ŷ) / Var_w(y)`` (scikit-learn)."""

    def __init__(self, outputs: int) -> None:
        super().__init__(outputs)
        self.residual = MomentState(outputs)

    def _add_residual(self, pred: Array, target: Array, weights: Array | None) -> None:
        assert isinstance(self.residual, MomentState)
        self.residual.add(target - pred, weights)

    def parts(self) -> tuple[Array, Array]:
        """(Var_w(y − ŷ), Var_w(y)) per output, both scaled by Σw."""
        assert isinstance(self.residual, MomentState)
        return self.residual.m2, self.target.m2


class MaxState:
    """Largest elementwise value per output (``max_error``); ``--per all`` takes the overall
    maximum."""

    def __init__(self, outputs: int) -> None:
        self.maximum = np.full(outputs, -np.inf)
        self.rows = 0

    def add_chunk(self, losses: Array, weights: Array | None) -> Array:
        partial: Array = np.max(losses, axis=1)
        self.maximum = np.fmax(self.maximum, partial)
        self.rows += losses.shape[1]
        return partial

    def merge(self, other: LossState) -> None:
        assert isinstance(other, MaxState)
        self.maximum = np.fmax(self.maximum, other.maximum)
        self.rows += other.rows

    def compute(self, reduction: Reduction, per: Per) -> Value:
        if per == "output":
            return [float(v) for v in self.maximum]
        return float(np.max(self.maximum))
