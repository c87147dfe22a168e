"""Grouped statistics in NumPy arrays indexed by a dense group code (``--group-by``).

Every group's sufficient statistics live in one array per statistic, updated per chunk with
scatter-adds (``np.bincount``): no Python loop over groups or rows. Sums stay exact:
:class:`GroupedSums` splits each value error-free against a global grid of power-of-two
boundaries (Demmel and Nguyen's pre-rounding, with a fixed grid so that chunks, threads and
machines add bin by bin), so every group's sum is the correctly rounded exact sum, whatever
the chunk size, row order or merge order.

Each state has ``update``/``add_chunk`` (a chunk with its group codes), ``merge`` (another
state plus ``remap``: its codes → this state's codes, since codes differ between partitions)
and ``compute`` (one value per group: shape ``(groups,)``, or ``(outputs, groups)`` for
``--per output``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from losscli.stats.states import Per, Reduction, explained_scores
from losscli.stats.sums import KERNEL_BLOCK, split_sums

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
    Codes = NDArray[np.intp]
else:
    Array = np.ndarray
    Codes = np.ndarray

#: Bits per grid bin: bin ``j`` holds multiples of ``2**(BIN_BITS*j)``, as an integer count.
BIN_BITS = 32
_EXACT = 2.0**53  # integers up to here are exact in float64
_HUGE = 2.0**960  # above this the splitting constant would overflow: such values are scaled
_HUGE_SHIFT = 128  # ...by 2**-128 (exact), their units moved up by as much
_TINY_UNIT = -1074 - 52  # at or below this unit every double is a whole number of units
#: Rows per update block up to ``SMALL_GROUPS`` groups: the block's parts and rests (2 MiB
#: each) stay in cache, and a 1M-row chunk pays 4 blocks' Python overhead, not 16 (1M rows,
#: 20 groups: 7.5 ms with blocks of 2**16 rows, 6.8 with 2**18, 8.4 with 2**20; 100,000
#: groups: 14.3 / 9.0 / 9.6 ms). More groups take the chunk whole: each block would walk
#: every group's sums (1M groups: 102 against 35 ms).
SMALL_BLOCK = 1 << 18
SMALL_GROUPS = 1 << 17
#: Up to this many groups a mean's chunk is computed and peeled in cache-sized blocks
#: (:meth:`GroupedMeanState.add_blocks`); each block's levels walk every group's sums.
BLOCKED_GROUPS = 1 << 12


def _largest(x: Array) -> float:
    """max |x| without a temporary array (NaN if any is NaN)."""
    if not len(x):
        return 0.0
    return max(float(np.max(x)), -float(np.min(x)))


def _scatter(codes: Codes, weights: Array, size: int) -> Array:
    """Per-group sums of ``weights`` (``np.bincount``: one rounding per row unless the values
    are whole multiples of one unit that fit, as :class:`GroupedSums` arranges)."""
    return np.asarray(np.bincount(codes, weights, size), dtype=np.float64)


def _scaled(x: Array, exponent: int) -> Array:
    """``x · 2**exponent`` in place, exact for whole counts (a product when the factor is a
    double)."""
    if -1022 <= exponent <= 1023:
        return np.multiply(x, 2.0**exponent, out=x)
    return np.ldexp(x, exponent, out=x)


class GroupedSums:
    """Exact per-group sums of ``width`` columns, as integer counts of grid units per bin.

    ``add`` pre-rounds each value error-free against the bin boundary ``σ = 1.5·2**(52+32j)``:
    ``q = (x + σ) − σ`` is ``x`` rounded to a multiple of ``2**(32j)``, and ``x − q`` (exact) goes
    on to the next lower bin until nothing is left. The ``q`` of up to 2**20 rows add exactly
    by ``np.bincount``; bins are carried upward before they could round. ``totals`` adds the
    few bins of each group from the lowest up with an error-free transformation (TwoSum), which
    gives the correctly rounded sum in all but halfway ties. Non-finite values are summed
    aside and win, like :class:`~losscli.stats.sums.CompensatedSum`.
    """

    __slots__ = ("_buffers", "bins", "bounds", "size", "special", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self.size = 0
        self.bins: dict[int, Array] = {}  # bin → (width, capacity) integer-valued float64
        self.bounds: dict[int, float] = {}  # bin → bound on any |unit count| in it
        self.special: Array | None = None  # (width, capacity) sums of non-finite values
        self._buffers: tuple[Array, Array] | None = None  # reused per block: part, rest

    def resize(self, size: int) -> None:
        """Make room for group codes below ``size`` (new groups start at zero)."""
        if size <= self.size:
            return
        capacity = self._capacity()
        if size > capacity:
            capacity = grown_capacity(capacity, size)
            for j, old in self.bins.items():
                self.bins[j] = _grown(old, capacity)
            if self.special is not None:
                self.special = _grown(self.special, capacity)
        self.size = size

    def _capacity(self) -> int:
        for arr in self.bins.values():
            return int(arr.shape[1])
        return self.size if self.special is None else int(self.special.shape[1])

    def add(self, values: Array, codes: Codes, size: int, max_rows: int | None = None) -> None:
        """Add a ``(width, n)`` block of values, row i to group ``codes[i]`` (< ``size``).

        ``max_rows``, the most rows any one group has here, lets each level peel more bits
        (a group's sum needs fewer headroom bits). ``values`` is left unchanged.
        """
        self.resize(size)
        n = values.shape[1]
        block = SMALL_BLOCK if self.size <= SMALL_GROUPS else 1 << 20
        most = min(block, n if max_rows is None else max_rows)
        bits = max(1, (most - 1).bit_length())  # a group adds at most 2**bits values at once
        for row in range(self.width):
            x = self._set_aside(row, values[row], codes, bits)
            if x is None:
                continue
            for start in range(0, n, block):
                stop = min(n, start + block)
                self._levels(row, x[start:stop], codes[start:stop], 0, bits)

    def add_split(self, values: Array, codes: Codes, size: int) -> Array:
        """:meth:`add` of one cache-sized block (a slice of a chunk, at most
        :data:`~losscli.stats.sums.KERNEL_BLOCK` rows), which also returns the block's
        ungrouped sums as :func:`~losscli.stats.sums.split_sums` gives them, ``(width, 2)``:
        its first level is the same error-free split (the same σ, as the block's ``n`` gives
        the headroom bits), so they cost two sums of arrays in cache."""
        self.resize(size)
        n = values.shape[1]
        bits = n.bit_length()  # split_sums' headroom: σ = 1.5·2**(e + bits + 1)
        out = np.zeros((self.width, 2))
        for row in range(self.width):
            x = values[row]
            top = _largest(x)
            if top < _HUGE:  # finite, and σ fits: the first level gives the split's parts
                if top:
                    self._levels(row, x, codes, 0, bits, top, out[row])
                continue
            out[row] = split_sums(values[row : row + 1])[0]  # NaN, inf or huge values: rare
            rest = self._set_aside(row, x, codes, bits)
            if rest is not None:
                self._levels(row, rest, codes, 0, bits)
        return out

    def _set_aside(self, row: int, x: Array, codes: Codes, bits: int) -> Array | None:
        """``x`` without its non-finite values (summed aside) and huge ones (peeled scaled
        down); None when nothing is left to peel."""
        top = _largest(x)  # NaN or inf if any value is not finite
        if not top < np.inf:
            bad = ~np.isfinite(x)
            self._add_special(row, x[bad], codes[bad])
            x = np.where(bad, 0.0, x)
            top = _largest(x)
        if top >= _HUGE:  # split off the huge values, scaled down exactly
            huge = np.abs(x) >= 2.0**900
            scaled = x[huge] * 2.0**-_HUGE_SHIFT
            self._levels(row, scaled, codes[huge], _HUGE_SHIFT, bits)
            x = np.where(huge, 0.0, x)
            top = _largest(x)
        return None if top == 0.0 else x

    def _levels(
        self,
        row: int,
        x: Array,
        codes: Codes,
        shift: int,
        bits: int,
        top: float | None = None,
        first: Array | None = None,
    ) -> None:
        """Peel ``x`` level by level from its largest value down until nothing is left: each
        level's parts are whole multiples of one power of two, 2**unit, and no group gets more
        than 2**bits of them, so ``np.bincount`` adds them exactly; the sums land on the grid.
        ``top``: max |x| if known; ``first``: receives the sums of the first level's parts
        and rests."""
        if top is None:
            top = _largest(x)
        if top == 0.0:
            return
        unit = int(np.frexp(top)[1]) + bits - 51  # 2**bits values < 2**e sum below 2**51 units
        stride = 52 - bits  # the rest is below half a unit: 2**bits of those, 2**51 units lower
        part, rest = self._scratch(len(x))
        source = x
        at: Codes | None = None  # the groups present, once only a few values are left
        while True:
            if unit <= _TINY_UNIT:  # every remaining value is a whole number of units
                np.copyto(part, source)
                rest.fill(0.0)
            else:
                sigma = float(np.ldexp(1.5, 52 + unit))
                np.add(source, sigma, out=part)
                np.subtract(part, sigma, out=part)
                np.subtract(source, part, out=rest)
            if first is not None:
                first[0], first[1] = float(np.sum(part)), float(np.sum(rest))
                first = None
            sums = _scatter(codes, part, self.size if at is None else 0)
            self._deposit(row, unit + shift, _scaled(sums, -unit), 2.0**51, at)
            left = int(np.count_nonzero(rest.view(np.int64)))  # x − q is never −0.0
            if left == 0:
                return
            unit -= stride
            source = rest
            if left * 64 < len(rest):  # few values go on: carry only those
                keep = np.flatnonzero(rest != 0)  # 4× faster than on the int64 view
                source, codes = rest[keep], codes[keep]
                if at is None and left * 8 < self.size:  # ... and only their groups
                    at, codes = np.unique(codes, return_inverse=True)
                part, rest = np.empty(left), np.empty(left)
                unit = min(unit, int(np.frexp(_largest(source))[1]) + bits - 51)

    def _scratch(self, n: int) -> tuple[Array, Array]:
        buffers = self._buffers
        if buffers is None or len(buffers[0]) < n:
            buffers = self._buffers = (np.empty(n), np.empty(n))
        return buffers[0][:n], buffers[1][:n]

    def _deposit(self, row: int, unit: int, counts: Array, bound: float, at: Codes | None) -> None:
        """Add whole ``counts`` of ``2**unit`` (|count| ≤ ``bound`` ≤ 2**51) onto the grid:
        split exactly between bin ``unit // 32`` and the bin above (``counts`` is reused)."""
        j, d = divmod(unit, BIN_BITS)
        if d == 0:
            self._add_bin(row, j, counts, bound, at)
            return
        high = np.multiply(counts, 2.0 ** (d - BIN_BITS))
        np.rint(high, out=high)
        # low = counts·2**d − high·2**32 = (counts − high·2**(32−d))·2**d: the difference is
        # a whole number below 2**31, so both steps are exact (in place: no 8 MB temporaries
        # at a million groups).
        np.subtract(counts, high * 2.0 ** (BIN_BITS - d), out=counts)
        low = np.multiply(counts, 2.0**d, out=counts)
        self._add_bin(row, j, low, 2.0**31, at)
        self._add_bin(row, j + 1, high, bound * 2.0 ** (d - BIN_BITS) + 1.0, at)

    def _add_bin(
        self, row: int, j: int, counts: Array, bound: float, at: Codes | None = None
    ) -> None:
        acc = self.bins.get(j)
        if acc is None:
            acc = self.bins[j] = np.zeros((self.width, self._capacity()))
            self.bounds[j] = 0.0
        elif self.bounds[j] + bound > _EXACT:  # the sum could round: carry first
            self._carry(j)
            acc = self.bins[j]
        if at is None:
            acc[row, : len(counts)] += counts
        else:
            acc[row, at] += counts
        self.bounds[j] += bound

    def _carry(self, j: int) -> None:
        """Move each count's multiples of 2**32 into bin ``j + 1`` (exact), bounding bin j."""
        acc = self.bins[j]
        carry = np.rint(acc * 2.0**-BIN_BITS)
        acc -= carry * 2.0**BIN_BITS
        carried = self.bounds[j] * 2.0**-BIN_BITS + 1.0
        self.bounds[j] = 2.0**31
        upper = self.bins.get(j + 1)
        if upper is None:
            self.bins[j + 1] = carry
            self.bounds[j + 1] = carried
            return
        if self.bounds[j + 1] + carried > _EXACT:
            self._carry(j + 1)  # in place: ``upper`` stays the same array
        upper += carry
        self.bounds[j + 1] += carried

    def _add_special(self, row: int, x: Array, codes: Codes) -> None:
        if self.special is None:
            self.special = np.zeros((self.width, self._capacity()))
        with np.errstate(invalid="ignore"):  # inf − inf is NaN, as intended
            np.add.at(self.special[row], codes, x)

    def merge(self, other: GroupedSums, remap: Codes, size: int) -> None:
        """Add ``other``'s sums, its group g landing on this state's group ``remap[g]``
        (``other`` is carried in place first)."""
        self.resize(size)
        other._normalised()
        m = other.size
        for j, theirs in other.bins.items():
            acc = self.bins.get(j)
            if acc is None:
                acc = self.bins[j] = np.zeros((self.width, self._capacity()))
                self.bounds[j] = 0.0
            elif self.bounds[j] + other.bounds[j] > _EXACT:
                self._carry(j)
                acc = self.bins[j]
            acc[:, remap[:m]] += theirs[:, :m]
            self.bounds[j] += other.bounds[j]
        if other.special is not None:
            if self.special is None:
                self.special = np.zeros((self.width, self._capacity()))
            self.special[:, remap[:m]] += other.special[:, :m]

    def _normalised(self) -> list[tuple[int, Array]]:
        """Bins from the lowest up, each count carried so that |count| ≤ 2**31 below the top."""
        for j in sorted(self.bins):
            if j in self.bounds and self.bounds[j] > 2.0**31:
                self._carry(j)
        return [(j, self.bins[j][:, : self.size]) for j in sorted(self.bins)]

    def totals(self) -> Array:
        """``(width, groups)``: each group's sum, correctly rounded."""
        return self._round([(j, acc) for j, acc in self._normalised()], self.special)

    def row_totals(self) -> Array:
        """``(groups,)``: each group's sum over all ``width`` columns, correctly rounded."""
        if self.width == 1:  # its bins are carried already
            return self.totals()[0]
        bins = _carried([(j, acc.sum(axis=0, keepdims=True)) for j, acc in self._normalised()])
        special = None if self.special is None else self.special[:, : self.size].sum(axis=0)
        return self._round(bins, None if special is None else special[None, :])[0]

    def _round(self, bins: list[tuple[int, Array]], special: Array | None) -> Array:
        rows = 1 if not bins else bins[0][1].shape[0]
        if special is not None:
            rows = special.shape[0]
        out = np.zeros((rows, self.size))
        for start in range(0, self.size, ROUND_BLOCK):  # a block's bins stay in cache
            stop = min(self.size, start + ROUND_BLOCK)
            if bins:
                values = [_times_power(c[:, start:stop], BIN_BITS * j) for j, c in bins]
                out[:, start:stop] = _rounded_sum(values)
        if special is not None:
            sp = special[:, : self.size]
            hit = (sp != 0) | np.isnan(sp)
            out[hit] = sp[hit]
        return out


def _times_power(counts: Array, exponent: int) -> Array:
    """``counts · 2**exponent`` (a product where the factor is a double: ~3× ``np.ldexp``)."""
    if -1022 <= exponent <= 1023:
        return np.multiply(counts, 2.0**exponent)
    return np.ldexp(counts, exponent)


#: Groups per block when the bins are rounded to one value each (128 KiB per bin and row).
ROUND_BLOCK = 1 << 14


def _carried(bins: list[tuple[int, Array]]) -> list[tuple[int, Array]]:
    """Bins (lowest first, |counts| < 2**52) carried so that every count below the top one is
    at most 2**31 in magnitude (each bin's multiples of 2**32 moved up, exactly)."""
    out: list[tuple[int, Array]] = []
    carry: Array | None = None
    at = None if not bins else bins[0][0]
    pending = dict(bins)
    while pending or carry is not None:
        assert at is not None
        counts = pending.pop(at, None)
        if counts is None:
            assert carry is not None
            counts = carry
        elif carry is not None:
            counts = counts + carry
        if not pending:
            out.append((at, counts))
            break
        carry = np.rint(counts * 2.0**-BIN_BITS)
        out.append((at, counts - carry * 2.0**BIN_BITS))
        at += 1
    return out


def _rounded_sum(values: list[Array]) -> Array:
    """The correctly rounded sum of each column of a non-overlapping expansion: ``values``
    from the smallest up, every bit of one below every bit of the next (or zero), as the
    grid's bins are once carried. ``math.fsum``'s last step, vectorised: add from the top
    down until an addition is inexact; the lower rest only decides a halfway case, by its
    sign (the largest non-zero value below dominates the rest)."""
    hi = values[-1].copy()
    lo = np.zeros_like(hi)
    done = np.zeros(hi.shape, dtype=bool)
    below = np.zeros_like(hi)  # after the stop: the first non-zero value below it
    for y in reversed(values[:-1]):
        np.copyto(below, y, where=done & (below == 0))
        s = hi + y
        rest = y - (s - hi)  # Fast2Sum: |hi| ≥ |y| or hi = 0
        going = ~done
        np.copyto(hi, s, where=going)
        np.copyto(lo, rest, where=going)
        done |= going & (rest != 0)
    # Halfway: lo is half an ulp of hi and the rest below pushes the same way.
    with np.errstate(invalid="ignore"):
        push = ((lo < 0) & (below < 0)) | ((lo > 0) & (below > 0))
        twice = lo * 2
        s = hi + twice
        np.copyto(hi, s, where=push & (s - hi == twice))
    return hi


def grown_capacity(have: int, size: int) -> int:
    """The new capacity of per-group arrays that hold ``have`` groups and need ``size``: a
    quarter more (not double), so a million groups leave at most ~25% unused (doubling
    left 1.3M slots for 1M text keys, ~30 MiB of a 450 MiB peak) for one more copy."""
    return max(size, have + have // 4, 16)


def _grown(arr: Array, capacity: int) -> Array:
    out = np.zeros((arr.shape[0], capacity), dtype=arr.dtype)
    out[:, : arr.shape[1]] = arr
    return out


def _grown1(arr: NDArray[Any], size: int, fill: float | int = 0) -> NDArray[Any]:
    if len(arr) >= size:
        return arr
    out = np.full(grown_capacity(len(arr), size), fill, dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


def _grown2(arr: Array, size: int, fill: float) -> Array:
    if arr.shape[1] >= size:
        return arr
    out = np.full((arr.shape[0], grown_capacity(arr.shape[1], size)), fill, dtype=arr.dtype)
    out[:, : arr.shape[1]] = arr
    return out


def _uniform(values: Array, per: Per) -> Array:
    """scikit-learn's multioutput per group: ``(outputs, groups)`` for ``--per output``, else
    the uniform mean over outputs."""
    if per == "output":
        return values
    out: Array = np.mean(values, axis=0) if values.shape[0] > 1 else values[0].copy()
    return out


class GroupedRows:
    """Row counts per group (exact integers)."""

    def __init__(self) -> None:
        self.counts = np.zeros(0, dtype=np.int64)
        self.size = 0

    def add(self, codes: Codes, size: int) -> NDArray[np.int64]:
        """Count a chunk's rows per group; returns this chunk's counts."""
        chunk = np.bincount(codes, minlength=size)
        self.counts = _grown1(self.counts, size)
        self.counts[: len(chunk)] += chunk
        self.size = max(self.size, size)
        return chunk

    def merge(self, other: GroupedRows, remap: Codes, size: int) -> None:
        self.counts = _grown1(self.counts, size)
        self.counts[remap[: other.size]] += other.counts[: other.size]
        self.size = max(self.size, size)

    @property
    def rows(self) -> NDArray[np.int64]:
        return self.counts[: self.size]


class GroupedMeanState:
    """Per group: ``S_j = Σ w·l_j`` per output (exact), ``W = Σ w`` (exact; the row count when
    unweighted) and the row count — :class:`~losscli.stats.states.MeanState` for every group."""

    def __init__(self, outputs: int) -> None:
        self.outputs = outputs
        self.loss_sums = GroupedSums(outputs)
        self.weight_sums: GroupedSums | None = None
        self.counts = GroupedRows()

    @property
    def rows(self) -> NDArray[np.int64]:
        return self.counts.rows

    def add_chunk(self, losses: Array, weights: Array | None, codes: Codes, size: int) -> None:
        """Add ``(k, n)`` elementwise losses; with weights, ``losses`` is scaled in place."""
        if weights is not None:
            np.multiply(losses, weights, out=losses)
        self.add_sums(losses, weights, codes, size)

    def add_sums(self, weighted: Array, weights: Array | None, codes: Codes, size: int) -> None:
        """Add ``(k, n)`` losses already multiplied by their ``weights`` (the row's weight in
        the mean's denominator; None: each row counts 1)."""
        chunk_rows = self.counts.add(codes, size)
        most = int(chunk_rows.max()) if len(chunk_rows) else 0
        if weights is not None:
            if self.weight_sums is None:
                self.weight_sums = GroupedSums(1)
            self.weight_sums.add(weights.reshape(1, -1), codes, size, most)
        self.loss_sums.add(weighted, codes, size, most)

    def add_blocks(
        self,
        block_losses: Callable[[int, int], Array],
        weights: Array | None,
        codes: Codes,
        size: int,
    ) -> Array:
        """Add a chunk of up to :data:`BLOCKED_GROUPS` groups block by block:
        ``block_losses(start, stop)`` gives the ``(k, stop − start)`` losses of those rows,
        already weighted, and each block is peeled while it is in cache
        (:meth:`GroupedSums.add_split`). Returns the chunk's ungrouped sums as
        :func:`~losscli.stats.sums.blocked_loss_sums` gives them, from the same blocks."""
        n = len(codes)
        chunk_rows = self.counts.add(codes, size)
        if weights is not None:
            if self.weight_sums is None:
                self.weight_sums = GroupedSums(1)
            most = int(chunk_rows.max()) if len(chunk_rows) else 0
            self.weight_sums.add(weights.reshape(1, -1), codes, size, most)
        parts = [
            self.loss_sums.add_split(
                block_losses(start, min(n, start + KERNEL_BLOCK)),
                codes[start : start + KERNEL_BLOCK],
                size,
            )
            for start in range(0, n, KERNEL_BLOCK)
        ]
        if not parts:
            return np.zeros((self.outputs, 1))
        return np.concatenate(parts, axis=1)

    def merge(self, other: GroupedMeanState, remap: Codes, size: int) -> None:
        self.counts.merge(other.counts, remap, size)
        self.loss_sums.merge(other.loss_sums, remap, size)
        if other.weight_sums is not None:
            if self.weight_sums is None:
                self.weight_sums = GroupedSums(1)
            self.weight_sums.merge(other.weight_sums, remap, size)

    def weights(self) -> Array:
        """``W`` per group."""
        size = self.counts.size
        if self.weight_sums is None:
            return self.rows.astype(np.float64)
        self.weight_sums.resize(size)
        return self.weight_sums.totals()[0]

    def compute(self, reduction: Reduction, per: Per) -> Array:
        self.loss_sums.resize(self.counts.size)
        k = self.outputs
        if per == "output":
            sums = self.loss_sums.totals()
            if reduction == "sum":
                return sums
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.asarray(sums / self.weights(), dtype=np.float64)
        total = self.loss_sums.row_totals()
        if reduction == "sum":
            return total / k if per == "row" else total
        if reduction != "mean":
            raise ValueError(f"reduction {reduction!r} has no single value")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(total / (k * self.weights()), dtype=np.float64)


class GroupedRootMeanState(GroupedMeanState):
    """RMSE-style per group: ``sqrt(S_j / W)`` per output, then the uniform mean."""

    def compute(self, reduction: Reduction, per: Per) -> Array:
        means = super().compute("mean", "output")
        return _uniform(np.sqrt(means), per)


class GroupedMoments:
    """Per group and output: weight ``W``, mean and ``M2 = Σ w·(x − mean)²``; each chunk's
    moments (two passes over the chunk) join the running ones by Chan's formula, vectorised
    over groups: ``δ = m_b − m_a``, ``m = m_a + δ·W_b/W``, ``M2 = M2_a + M2_b + δ²·W_a·W_b/W``."""

    def __init__(self, outputs: int) -> None:
        self.outputs = outputs
        self.weight = np.zeros(0)
        self.mean = np.zeros((outputs, 0))
        self.m2 = np.zeros((outputs, 0))
        self.size = 0

    def add(self, x: Array, weights: Array | None, codes: Codes, size: int) -> None:
        if weights is None:
            w_b = np.bincount(codes, minlength=size).astype(np.float64)
            sums = np.stack([_scatter(codes, xj, size) for xj in x])
        else:
            w_b = _scatter(codes, weights, size)
            sums = np.stack([_scatter(codes, xj * weights, size) for xj in x])
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_b = np.where(w_b > 0, sums / w_b, 0.0)
        d = x - mean_b[:, codes]
        np.multiply(d, d, out=d)
        if weights is not None:
            np.multiply(d, weights, out=d)
        m2_b = np.stack([_scatter(codes, dj, size) for dj in d])
        self._combine(w_b, mean_b, m2_b, np.arange(size))

    def _combine(self, w_b: Array, mean_b: Array, m2_b: Array, at: Codes) -> None:
        size = max(self.size, int(at.max()) + 1 if len(at) else 0)
        self.weight = _grown1(self.weight, size)
        self.mean = _grown2(self.mean, size, 0.0)
        self.m2 = _grown2(self.m2, size, 0.0)
        self.size = size
        w_a = self.weight[at]
        mean_a = self.mean[:, at]
        total = w_a + w_b
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(total > 0, w_b / total, 0.0)
            cross = np.where(total > 0, w_a * w_b / total, 0.0)
        delta = mean_b - mean_a
        self.mean[:, at] = mean_a + delta * share
        self.m2[:, at] = self.m2[:, at] + m2_b + np.square(delta) * cross
        self.weight[at] = total

    def merge(self, other: GroupedMoments, remap: Codes, size: int) -> None:
        m = other.size
        if m:
            self._combine(other.weight[:m], other.mean[:, :m], other.m2[:, :m], remap[:m])
        if size > self.size:
            self.weight = _grown1(self.weight, size)
            self.mean = _grown2(self.mean, size, 0.0)
            self.m2 = _grown2(self.m2, size, 0.0)
            self.size = size

    def central(self, size: int) -> Array:
        """``M2`` per output and group."""
        out = np.zeros((self.outputs, size))
        out[:, : self.size] = self.m2[:, : self.size]
        return out


class _GroupedScoreState:
    """R² and explained variance per group: target moments plus a residual statistic."""

    def __init__(self, outputs: int) -> None:
        self.outputs = outputs
        self.target = GroupedMoments(outputs)
        self.counts = GroupedRows()
        self.residual_elsewhere = False  # its residual sums are merged in from another state

    @property
    def rows(self) -> NDArray[np.int64]:
        return self.counts.rows

    def update(
        self, inputs: dict[str, Array], weights: Array | None, codes: Codes, size: int
    ) -> None:
        pred, target = inputs["pred"], inputs["target"]
        self.counts.add(codes, size)
        self.target.add(target, weights, codes, size)
        if not self.residual_elsewhere:
            self._add_residual(pred, target, weights, codes, size)

    def _add_residual(
        self, pred: Array, target: Array, weights: Array | None, codes: Codes, size: int
    ) -> None:
        raise NotImplementedError

    def merge(self, other: _GroupedScoreState, remap: Codes, size: int) -> None:
        self.counts.merge(other.counts, remap, size)
        self.target.merge(other.target, remap, size)
        self._merge_residual(other, remap, size)

    def _merge_residual(self, other: Any, remap: Codes, size: int) -> None:
        raise NotImplementedError

    def parts(self) -> tuple[Array, Array]:
        raise NotImplementedError

    def compute(self, reduction: Reduction, per: Per) -> Array:
        return _uniform(explained_scores(*self.parts()), per)


class GroupedR2State(_GroupedScoreState):
    """R² per group and output: ``1 − Σw·e² / Σw·(y − ȳ_w)²`` (the numerator exact)."""

    def __init__(self, outputs: int) -> None:
        super().__init__(outputs)
        self.residual = GroupedMeanState(outputs)

    def _add_residual(
        self, pred: Array, target: Array, weights: Array | None, codes: Codes, size: int
    ) -> None:
        errors = np.subtract(pred, target)
        np.multiply(errors, errors, out=errors)
        self.residual.add_chunk(errors, weights, codes, size)

    def _merge_residual(self, other: Any, remap: Codes, size: int) -> None:
        self.residual.merge(other.residual, remap, size)

    def parts(self) -> tuple[Array, Array]:
        size = self.counts.size
        self.residual.loss_sums.resize(size)
        return self.residual.loss_sums.totals(), self.target.central(size)

    def compute(self, reduction: Reduction, per: Per) -> Array:
        out = super().compute(reduction, per)
        few = self.rows < 2  # scikit-learn: "not well-defined with less than two samples"
        if per == "output":
            out[:, few] = np.nan
        else:
            out[few] = np.nan
        return out


class GroupedExplainedVarianceState(_GroupedScoreState):
    """Explained variance per group and output: ``1 − Var_w(y − ŷ) / Var_w(y)``."""

    def __init__(self, outputs: int) -> None:
        super().__init__(outputs)
        self.residual = GroupedMoments(outputs)

    def _add_residual(
        self, pred: Array, target: Array, weights: Array | None, codes: Codes, size: int
    ) -> None:
        self.residual.add(target - pred, weights, codes, size)

    def _merge_residual(self, other: Any, remap: Codes, size: int) -> None:
        self.residual.merge(other.residual, remap, size)

    def parts(self) -> tuple[Array, Array]:
        size = self.counts.size
        return self.residual.central(size), self.target.central(size)


class GroupedMaxState:
    """Largest elementwise value per group and output (``max_error``); NaN propagates."""

    def __init__(self, outputs: int) -> None:
        self.outputs = outputs
        self.maximum = np.full((outputs, 0), -np.inf)
        self.counts = GroupedRows()

    @property
    def rows(self) -> NDArray[np.int64]:
        return self.counts.rows

    def add_chunk(self, losses: Array, weights: Array | None, codes: Codes, size: int) -> None:
        self.counts.add(codes, size)
        self.maximum = _grown2(self.maximum, size, -np.inf)
        for j in range(self.outputs):
            np.maximum.at(self.maximum[j], codes, losses[j])

    def merge(self, other: GroupedMaxState, remap: Codes, size: int) -> None:
        self.counts.merge(other.counts, remap, size)
        self.maximum = _grown2(self.maximum, size, -np.inf)
        m = other.counts.size
        at = remap[:m]
        self.maximum[:, at] = np.maximum(self.maximum[:, at], other.maximum[:, :m])

    def compute(self, reduction: Reduction, per: Per) -> Array:
        values = self.maximum[:, : self.counts.size]
        if per == "output":
            return values.copy()
        return np.asarray(np.max(values, axis=0), dtype=np.float64)


GROUPED_STATES: dict[str, type] = {
    "MeanState": GroupedMeanState,
    "RootMeanState": GroupedRootMeanState,
    "R2State": GroupedR2State,
    "ExplainedVarianceState": GroupedExplainedVarianceState,
    "MaxState": GroupedMaxState,
}
