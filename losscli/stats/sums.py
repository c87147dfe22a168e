"""Exact float64 sums: compensated accumulators and blocked chunk sums.

Per chunk NumPy's pairwise sum runs over blocks of 1024 contiguous values; block sums and chunk
partials are then added without rounding error (Shewchuk's partials, stronger than Neumaier
compensation), so results do not depend on the chunk size beyond ~1e-16 relative.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
else:
    Array = np.ndarray


class CompensatedSum:
    """A vector of running sums that are exact until the final rounding.

    Each output keeps Shewchuk's non-overlapping partials (the algorithm behind ``math.fsum``):
    adding a chunk partial is error-free, so merging chunks, groups or machines in any order
    gives the same, correctly rounded total. Non-finite values are kept aside and win.
    """

    __slots__ = ("partials", "special")

    def __init__(self, size: int) -> None:
        self.partials: list[list[float]] = [[] for _ in range(size)]
        self.special = [0.0] * size

    def add(self, values: Array | float) -> None:
        for j, x in enumerate(np.atleast_1d(np.asarray(values, dtype=np.float64)).tolist()):
            if math.isfinite(x):
                _grow(self.partials[j], x)
            else:
                self.special[j] += x

    def merge(self, other: CompensatedSum) -> None:
        for j, parts in enumerate(other.partials):
            for x in parts:
                _grow(self.partials[j], x)
            self.special[j] += other.special[j]

    @property
    def value(self) -> Array:
        return np.array(
            [
                special if special != 0.0 or math.isnan(special) else math.fsum(parts)
                for parts, special in zip(self.partials, self.special, strict=True)
            ]
        )


def _grow(partials: list[float], x: float) -> None:
    """Add ``x`` to Shewchuk's list of non-overlapping partials, without rounding error."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


SUM_BLOCK = 1024


def accurate_row_sums(x: Array) -> Array:
    """Row sums of a (k, n) block: NumPy's pairwise sum over blocks of 1024 values, then an
    exactly rounded ``math.fsum`` of the block sums, so a long chunk adds no more error than
    one 1024-value block (and the result is nearly independent of the chunk size). Chunks of
    at most 1024 values are summed exactly."""
    k, n = x.shape
    if n <= SUM_BLOCK:  # small chunks: the exactly rounded sum is cheap
        if not np.isfinite(x).all():
            out: Array = np.sum(x, axis=1)
            return out
        return np.array([math.fsum(row) for row in x.tolist()])
    whole = n - n % SUM_BLOCK
    blocks = x[:, :whole].reshape(k, -1, SUM_BLOCK).sum(axis=2)
    tail = x[:, whole:].sum(axis=1)
    if not np.isfinite(blocks).all():
        return blocks.sum(axis=1) + tail
    return np.array([math.fsum([*blocks[j].tolist(), float(tail[j])]) for j in range(k)])


KERNEL_BLOCK = 64 * SUM_BLOCK  # 512 KiB per float64 buffer: a kernel's passes stay in cache


def blocked_loss_sums(block_losses: Callable[[int, int], Array], rows: int, outputs: int) -> Array:
    """Per-output sums of a chunk's elementwise losses, computed block by block.

    ``block_losses(start, stop)`` returns the (k, stop − start) losses of those rows. Blocks of
    ``KERNEL_BLOCK`` rows keep a kernel's several ufunc passes in cache instead of streaming
    the whole chunk through memory for each pass; the 1024-value sub-block sums are then
    added exactly, as in :func:`accurate_row_sums`.
    """
    sums = np.empty((outputs, -(-rows // SUM_BLOCK)))
    column = 0
    for start in range(0, rows, KERNEL_BLOCK):
        stop = min(rows, start + KERNEL_BLOCK)
        losses = block_losses(start, stop)
        width = stop - start
        whole = width - width % SUM_BLOCK
        blocks = whole // SUM_BLOCK
        if blocks:
            sums[:, column : column + blocks] = (
                losses[:, :whole].reshape(outputs, blocks, SUM_BLOCK).sum(axis=2)
            )
            column += blocks
        if whole < width:
            sums[:, column] = losses[:, whole:].sum(axis=1)
            column += 1
    if not np.isfinite(sums).all():
        return sums.sum(axis=1)
    return np.array([math.fsum(row) for row in sums.tolist()])
