"""Exact float64 sums: compensated accumulators and blocked chunk sums.

Per block of a chunk the values are split without error into parts NumPy adds exactly
(Demmel and Nguyen's pre-rounding); the parts are then added without rounding error into
Shewchuk's partials (the algorithm behind ``math.fsum``), so a sum is ``math.fsum``'s correctly
rounded value whatever the chunk size, the grouping or the order of merging.
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
        """Add one value per output, or a (k, m) array: m exact parts per output."""
        array = np.asarray(values, dtype=np.float64)
        rows = array.tolist() if array.ndim == 2 else [[x] for x in np.atleast_1d(array).tolist()]
        for j, parts in enumerate(rows):
            for x in parts:
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
    """Row sums of a (k, n) array as (k, m) exact parts, block by block
    (:func:`blocked_loss_sums` over slices of ``x``): added into a :class:`CompensatedSum`, a
    chunk adds no rounding of its own, so the total is ``math.fsum``'s correctly rounded value
    whatever the chunk size. A row holding inf/NaN gives its NumPy sum (the special value)."""
    return blocked_loss_sums(lambda start, stop: x[:, start:stop], x.shape[1], x.shape[0])


def split_sums(x: Array, buffer: Array | None = None) -> Array:
    """Error-free split of finite rows (Demmel and Nguyen's pre-rounding): with σ = 1.5·2^E,
    2^E ≥ 2·n·max|x|, ``h = (x + σ) − σ`` is x rounded to a multiple of ulp(σ) and ``x − h`` is
    exact; every partial sum of the h is a multiple of ulp(σ) below 2^E, so NumPy adds them
    without rounding, in any order. Only the sum of the small remainders (|x − h| ≤ ulp(σ)/2)
    rounds, ~n·2⁻¹⁰⁶·2^E: far below the last bit of a sum of non-negative losses; for signed
    values it is the same absolute error. Rows too large for σ are summed by ``math.fsum``.
    ``buffer``: scratch of ``x``'s shape (a fresh one when None)."""
    k, n = x.shape
    if buffer is None:
        buffer = np.empty_like(x)
    out = np.zeros((k, 2))
    for j in range(k):
        row, high = x[j], buffer[j]
        largest = max(float(row.max()), -float(row.min())) if n else 0.0
        if largest == 0.0:
            continue
        if not math.isfinite(largest):  # inf or NaN: the special value wins anyway
            out[j, 0] = float(np.sum(row))
            continue
        exponent = math.frexp(largest)[1] + n.bit_length() + 1
        if exponent > 1000:  # σ would overflow: exact but slow (huge values are rare)
            out[j, 0] = math.fsum(row.tolist())
            continue
        sigma = 1.5 * math.ldexp(1.0, exponent)
        np.add(row, sigma, out=high)
        np.subtract(high, sigma, out=high)
        out[j, 0] = float(np.sum(high))
        np.subtract(row, high, out=high)
        out[j, 1] = float(np.sum(high))
    return out


KERNEL_BLOCK = 64 * SUM_BLOCK  # 512 KiB per float64 buffer: a kernel's passes stay in cache


def blocked_loss_sums(block_losses: Callable[[int, int], Array], rows: int, outputs: int) -> Array:
    """Per-output sums of a chunk's elementwise losses, computed block by block, as (k, m)
    exact parts (see :func:`accurate_row_sums`).

    ``block_losses(start, stop)`` returns the (k, stop − start) losses of those rows. Blocks of
    ``KERNEL_BLOCK`` rows keep a kernel's several ufunc passes in cache instead of streaming
    the whole chunk through memory for each pass; each block is split exactly.
    """
    parts = []
    buffer = np.empty((outputs, min(rows, KERNEL_BLOCK)))
    for start in range(0, rows, KERNEL_BLOCK):
        stop = min(rows, start + KERNEL_BLOCK)
        parts.append(split_sums(block_losses(start, stop), buffer[:, : stop - start]))
    if not parts:
        return np.zeros((outputs, 1))
    return np.concatenate(parts, axis=1)


_VELTKAMP = 134217729.0  # 2**27 + 1: splits a double into two halves of ≤ 26 bits


def halves(x: Array) -> tuple[Array, Array]:
    """Veltkamp's split: ``x = hi + lo`` exactly, each half with at most 26 significant bits,
    so the product of two halves is exact (for |x| well inside the float64 range)."""
    scaled = x * _VELTKAMP
    hi = scaled - (scaled - x)
    return hi, x - hi


def two_product(a: Array, b: Array) -> tuple[Array, Array]:
    """``(p, e)`` with ``p = fl(a·b)`` and ``p + e = a·b`` exactly (Dekker's product, from
    the :func:`halves` of both factors), barring overflow and underflow."""
    product = a * b
    a_hi, a_lo = halves(a)
    b_hi, b_lo = (a_hi, a_lo) if b is a else halves(b)
    error = ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return product, error
