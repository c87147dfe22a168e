"""Streaming state: compensated sums and mergeable loss statistics (update / merge / compute).

A state only ever *adds* chunk partials, so chunks, groups, threads and machines combine the
same way — through ``merge`` — and only ``compute`` divides. Per chunk NumPy's pairwise sum
runs along contiguous rows; across chunks partials are combined with Neumaier's compensated
summation, so results do not depend on the chunk size beyond ~1e-15 relative.
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Reduction = Literal["none", "mean", "sum"]
Per = Literal["all", "row", "output"]
Value = float | list[float]


class CompensatedSum:
    """A vector of Neumaier-compensated running sums.

    ``add(x)`` does, elementwise: ``t = s + x``; the rounding error ``(s − t) + x`` (or
    ``(x − t) + s`` when ``|x| > |s|``) goes into a separate compensation term.
    """

    __slots__ = ("compensation", "total")

    def __init__(self, size: int) -> None:
        self.total = np.zeros(size)
        self.compensation = np.zeros(size)

    def add(self, values: Array | float) -> None:
        x = np.asarray(values, dtype=np.float64)
        t = self.total + x
        with np.errstate(invalid="ignore"):
            big = np.abs(self.total) >= np.abs(x)
            self.compensation += np.where(big, (self.total - t) + x, (x - t) + self.total)
        self.total = t

    def merge(self, other: CompensatedSum) -> None:
        self.add(other.total)
        self.add(other.compensation)

    @property
    def value(self) -> Array:
        # An inf/NaN total makes the compensation NaN; the plain total is then the answer.
        out = self.total + self.compensation
        return np.where(np.isfinite(self.total), out, self.total)


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
        if weights is None:
            self.weight_sum.add(float(n))
        else:
            np.multiply(losses, weights, out=losses)
            self.weight_sum.add(float(np.sum(weights)))
        partial: Array = np.sum(losses, axis=1)
        self.loss_sums.add(partial)
        self.rows += n
        return partial

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
