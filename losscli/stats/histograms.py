"""Mergeable histogram states: the error histogram, predicted-vs-target 2-D counts, calibration.

Every state has ``update`` (add a chunk), ``merge`` (add another state) and ``compute`` (the
result): counts are exact integers and weighted counts exact sums, so chunks, groups, threads and
machines compose through ``merge`` and the result does not depend on the chunk size.

Error histogram bins (``e = prediction − target``), fixed and documented:

* default (:func:`default_edges`): symmetric and log-spaced over ``|e|`` by octaves, each octave
  ``[2^k, 2^(k+1))`` split into four equal parts (edges ``±2^k·{1, 1.25, 1.5, 1.75}``, at most
  25 % relative width) for ``k`` from ``LOW_OCTAVE`` (−30, 2^−30 ≈ 9.3e−10) to ``HIGH_OCTAVE``
  (50, 2^50 ≈ 1.1e15); the linear part around zero is the one bin ``[−2^−30, 2^−30)``. Every edge
  is an exact binary number, so a value falls into one bin without rounding doubt; the bin of a
  value is read from its IEEE-754 bits (exponent and two leading mantissa bits) instead of a
  binary search: ~2 ns a value.
* ``--bins``: any increasing edges (or ``lo:hi:n``, ``n`` equal-width bins like ``np.linspace``).

Bins are half-open ``[a, b)`` except the last, ``[a, b]``: NumPy's ``np.histogram`` convention,
so counts equal ``np.histogram(e, edges)``. Values below the first edge are ``underflow``,
above the last ``overflow`` (±inf included); NaN is counted apart (``nan``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from losscli.stats.sums import _grow as grow_partials  # Shewchuk partials, shared

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    Array = NDArray[Any]
else:
    Array = np.ndarray

LOW_OCTAVE = -30
HIGH_OCTAVE = 50
SUB_BITS = 2  # two leading mantissa bits: four linear sub-bins per octave
SUBS = 1 << SUB_BITS
_SHIFT = np.uint64(52 - SUB_BITS)
_SIGN_KEYS = 1 << (11 + SUB_BITS)  # keys of one sign: 2048 exponents × 4 sub-bins
_KEYS = 2 * _SIGN_KEYS
_SPECIAL = 2047 * SUBS  # keys from here on (per sign) hold inf and NaN
_TOP_KEY = (1023 + HIGH_OCTAVE) * SUBS  # the key of 2^HIGH_OCTAVE, the default top edge
BLOCK = 1 << 15  # values per block: the temporaries stay in cache
#: Rows per slice of the pair counters (:func:`update_pairs`): 512 KiB per float64 buffer, kept
#: in a :class:`Workspace` and reused chunk after chunk (no page faults from fresh temporaries).
#: Measured in the background thread of a 10M-row Parquet report: ~80 ms of CPU at 64K rows,
#: ~95 at 16K (more calls, more waits for the GIL) and at 256K-1M (the passes leave the cache).
SLICE = 1 << 16


class Workspace:
    """Named scratch buffers reused across calls (one per thread counting at a time)."""

    __slots__ = ("_buffers",)

    def __init__(self) -> None:
        self._buffers: dict[str, Array] = {}

    def get(self, name: str, n: int, dtype: Any = np.float64) -> Array:
        """A buffer of ``n`` values (contents undefined)."""
        buf = self._buffers.get(name)
        if buf is None or buf.size < n:
            buf = self._buffers[name] = np.empty(max(n, 1), dtype=dtype)
        return buf[:n]


# -- exact sums ---------------------------------------------------------------------------------
class ExactSums:
    """A vector of running sums kept as Shewchuk's non-overlapping partials (``math.fsum``'s
    algorithm): adding is error-free, so merging in any order gives the same correctly rounded
    totals."""

    __slots__ = ("partials",)

    def __init__(self, size: int) -> None:
        self.partials: list[list[float]] = [[] for _ in range(size)]

    def add(self, index: int, x: float) -> None:
        if x:
            grow_partials(self.partials[index], x)

    def merge(self, other: ExactSums) -> None:
        for mine, theirs in zip(self.partials, other.partials, strict=True):
            for x in theirs:
                grow_partials(mine, x)

    def values(self) -> Array:
        return np.array([math.fsum(p) for p in self.partials], dtype=np.float64)


def binned_sums(index: Array, values: Array, size: int) -> tuple[Array, Array]:
    """Per-bin sums of ``values`` as two parts whose sum is exact to ~2^−26·n·ε relative.

    Each value is split into ``hi`` (rounded to a multiple of ``q = 2^(E − 26)``, ``E`` the
    exponent of the largest magnitude) and the exact rest ``lo`` (|lo| ≤ q/2). Any ordering of
    sums of ``hi`` is exact while the count stays below 2^27 (the sums need at most 53 bits),
    and the ``lo`` sums carry an error 2^26 times smaller than a plain sum: two ``np.bincount``
    calls give what sorting and ``math.fsum`` per bin would, ~20× faster."""
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    if not math.isfinite(peak) or peak == 0.0:
        return np.bincount(index, weights=values, minlength=size), np.zeros(size)
    if values.size > 1 << 27:
        cut = 1 << 27
        a_hi, a_lo = binned_sums(index[:cut], values[:cut], size)
        b_hi, b_lo = binned_sums(index[cut:], values[cut:], size)
        return a_hi + b_hi, a_lo + b_lo  # both sums exact: multiples of one q
    q_exp = math.frexp(peak)[1] - 26
    if q_exp <= 960:
        # (x + C) − C with C = 1.5·2^(q+52) rounds x to a multiple of 2^q: the ulp of every
        # x + C is 2^q while |x| < 2^(q+51) (two additions, no rint/ldexp passes).
        magic = 1.5 * math.ldexp(1.0, q_exp + 52)
        hi = values + magic
        hi -= magic
    else:
        hi = np.ldexp(np.rint(np.ldexp(values, -q_exp)), q_exp)
    lo = values - hi
    return (
        np.bincount(index, weights=hi, minlength=size),
        np.bincount(index, weights=lo, minlength=size),
    )


# -- bins ---------------------------------------------------------------------------------------
def default_edges(low: int = LOW_OCTAVE, high: int = HIGH_OCTAVE) -> Array:
    """The default symmetric log-spaced edges: ``±2^k·(1 + j/4)`` for ``low ≤ k < high``, the
    outer edges ``±2^high`` and the zero bin ``[−2^low, 2^low)``."""
    octaves = np.ldexp(1.0, np.arange(low, high))
    positive = np.concatenate(
        [(octaves[:, None] * (1 + np.arange(SUBS) / SUBS)).ravel(), [math.ldexp(1.0, high)]]
    )
    return np.concatenate([-positive[::-1], positive])


def parse_bins(text: str) -> Array:
    """``--bins``: ``a,b,c,...`` (increasing edges) or ``lo:hi:n`` (``n`` equal-width bins,
    the edges of ``np.linspace(lo, hi, n + 1)``). Raises ValueError with the reason."""
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError("expected LO:HI:N, e.g. -5:5:20")
        lo, hi = float(parts[0]), float(parts[1])
        try:
            n = int(parts[2])
        except ValueError:
            raise ValueError(f"N must be a whole number of bins, got {parts[2]!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"need finite LO < HI, got {lo!r}:{hi!r}")
        if not 1 <= n <= 10_000:
            raise ValueError(f"N must be between 1 and 10000, got {n}")
        return np.linspace(lo, hi, n + 1)
    try:
        edges = np.array([float(p) for p in text.split(",")], dtype=np.float64)
    except ValueError:
        raise ValueError(f"edges must be numbers separated by commas, got {text!r}") from None
    if edges.size < 2:
        raise ValueError("give at least two edges (one bin)")
    if not np.isfinite(edges).all() or not (np.diff(edges) > 0).all():
        raise ValueError("edges must be finite and strictly increasing")
    if edges.size > 10_001:
        raise ValueError("at most 10000 bins")
    return edges


def _key_lut(low: int, high: int) -> Array:
    """Bin index (0 underflow, 1..nbins, nbins + 1 overflow, nbins + 2 special) of each key."""
    per_side = SUBS * (high - low)
    zero = 1 + per_side  # the zero bin's index (0 is underflow)
    nbins = 2 * per_side + 1
    lut = np.empty(_KEYS, dtype=np.intp)
    k = np.arange(_SIGN_KEYS)
    first, last = (1023 + low) * SUBS, (1023 + high) * SUBS
    pos = np.where(k < first, zero, np.where(k < last, zero + 1 + (k - first), nbins + 1))
    neg = np.where(k < first, zero, np.where(k < last, zero - 1 - (k - first), 0))
    pos[_SPECIAL:] = nbins + 2
    neg[_SPECIAL:] = nbins + 2
    lut[:_SIGN_KEYS] = pos
    lut[_SIGN_KEYS:] = neg
    return lut


def _keys(e: Array, out: Array) -> Array:
    """Each value's key: its sign, exponent and two leading mantissa bits. A negative value on a
    bin edge (low mantissa bits all zero) moves one key down, into the bin to its right, so that
    bins are ``[a, b)`` on both sides of zero. −0.0 and NaN land in the special keys."""
    bits = e.view(np.uint64)
    np.right_shift(bits, np.uint64(63), out=out)
    np.subtract(bits, out, out=out)
    np.right_shift(out, _SHIFT, out=out)
    return out.view(np.int64)


class HistogramResult(NamedTuple):
    """Edges (``nbins + 1``), counts per bin, out-of-range and NaN counts; with weights the
    exactly summed weights per bin (and of underflow, overflow)."""

    edges: Array
    counts: Array
    underflow: int
    overflow: int
    nan: int
    weights: Array | None = None
    weight_underflow: float = 0.0
    weight_overflow: float = 0.0

    @property
    def total(self) -> int:
        return int(self.counts.sum()) + self.underflow + self.overflow + self.nan


class ErrorHistogram:
    """A mergeable histogram of errors over fixed bins (default or ``--bins`` edges).

    Counts are held with the underflow in slot 0 and the overflow in slot ``nbins + 1``.
    """

    __slots__ = ("_lut", "_top", "_uniform", "counts", "edges", "nan", "weighted", "weights")

    def __init__(self, edges: Array | None = None, weighted: bool = False) -> None:
        self.edges = default_edges() if edges is None else np.asarray(edges, dtype=np.float64)
        self._lut = _key_lut(LOW_OCTAVE, HIGH_OCTAVE) if edges is None else None
        self._top = float(self.edges[-1])
        nbins = self.edges.size - 1
        self._uniform = edges is not None and bool(
            np.array_equal(self.edges, np.linspace(self.edges[0], self.edges[-1], nbins + 1))
        )
        self.counts = np.zeros(nbins + 2, dtype=np.int64)
        self.nan = 0
        self.weighted = weighted
        self.weights = ExactSums(nbins + 2) if weighted else None

    @property
    def nbins(self) -> int:
        return int(self.edges.size - 1)

    def empty_like(self) -> ErrorHistogram:
        out = ErrorHistogram.__new__(ErrorHistogram)
        out.edges, out._lut, out._top, out._uniform = (
            self.edges,
            self._lut,
            self._top,
            self._uniform,
        )
        out.counts = np.zeros_like(self.counts)
        out.nan = 0
        out.weighted = self.weighted
        out.weights = ExactSums(self.counts.size) if self.weighted else None
        return out

    # -- update ---------------------------------------------------------------------------------
    def bin_index(self, e: Array) -> Array:
        """Slot of each value (0 underflow, 1..nbins, nbins + 1 overflow, nbins + 2 NaN)."""
        nbins = self.nbins
        if self._lut is not None:
            keys = _keys(e, np.empty(e.shape, dtype=np.uint64))
            slots = self._lut[keys]
            special = slots == nbins + 2
            if special.any():
                bad = e[special]
                slots[special] = np.where(
                    np.isnan(bad),
                    nbins + 2,
                    np.where(bad == 0, 1 + nbins // 2, np.where(bad > 0, nbins + 1, 0)),
                )
        elif self._uniform:
            slots = self._uniform_slots(e)
        else:
            slots = np.searchsorted(self.edges, e, side="right")
            slots[np.isnan(e)] = nbins + 2
        top = slots == nbins + 1
        if top.any():  # the last bin is closed: [a, b]
            slots[top & (e == self._top)] = nbins
        return slots

    def _uniform_slots(self, e: Array) -> Array:
        """Equal-width edges (``np.linspace``): the slot by arithmetic, then mended against the
        edges themselves, as ``np.histogram`` does, so values on an edge land as a binary
        search would put them."""
        edges = self.edges
        nbins = self.nbins
        lo, hi = float(edges[0]), float(edges[-1])
        f = e - lo
        f *= nbins / (hi - lo)
        np.clip(f, -1, nbins, out=f)
        with np.errstate(invalid="ignore"):
            slots = f.astype(np.intp)  # truncation; NaN mended below
        slots += 1
        slots[f < 0] = 0
        inside = (slots >= 1) & (slots <= nbins)
        idx = np.where(inside, slots, 1)
        slots -= inside & (e < edges[idx - 1])
        idx = np.where(inside, slots, 1)
        slots += inside & (slots < nbins) & (e >= edges[np.minimum(idx, nbins)])
        slots[(slots == nbins + 1) & (e < hi)] = nbins  # rounding just below the top edge
        slots[(slots == 0) & (e >= lo)] = 1
        slots[np.isnan(e)] = nbins + 2
        return slots

    def update(self, errors: Array, weights: Array | None = None) -> None:
        """Add a chunk of errors (any shape; with several outputs each value counts, with its
        row's weight: ``weights`` has one value per row, the last axis)."""
        e = np.ascontiguousarray(errors, dtype=np.float64)
        if weights is not None and e.ndim > 1:
            weights = np.broadcast_to(weights, e.shape).ravel()
        e = e.ravel()
        if not self.weighted and self._lut is not None:
            self._update_fast(e)
            return
        size = self.counts.size
        w_all = None
        if self.weighted:
            w_all = np.ones_like(e) if weights is None else np.asarray(weights, dtype=np.float64)
        found = np.zeros(size + 1, dtype=np.int64)
        for start in range(0, e.size, BLOCK):  # blocks: the temporaries stay in cache
            part = e[start : start + BLOCK]
            slots = self.bin_index(part)
            found += np.bincount(slots, minlength=size + 1)
            if w_all is not None:
                self._add_weights(slots, w_all[start : start + BLOCK])
        self.counts += found[:size]
        self.nan += int(found[size])

    def update_pairs(
        self,
        pred: Array,
        target: Array,
        weights: Array | None = None,
        work: Workspace | None = None,
    ) -> None:
        """Add the errors ``pred − target`` of a chunk; unweighted default bins subtract slice
        by slice into reused buffers (no chunk-sized temporary)."""
        update_pairs(pred, target, self, None, weights, work)

    @property
    def counts_keys(self) -> bool:
        """Whether a value's bin is read from its bits (unweighted default bins)."""
        return not self.weighted and self._lut is not None

    def _update_fast(self, e: Array) -> None:
        """Unweighted default bins: count the keys slice by slice, then fold them into bins."""
        keys = _KeyCounts(self)
        work = Workspace()
        for start in range(0, e.size, SLICE):
            part = e[start : start + SLICE]
            keys.add(part, work.get("keys", part.size, np.uint64))
        keys.fold()

    def _add_weights(self, slots: Array, w: Array) -> None:
        assert self.weights is not None
        hi, lo = binned_sums(slots, w, self.counts.size + 1)
        for slot in np.flatnonzero(hi[:-1] != 0).tolist():
            self.weights.add(slot, float(hi[slot]))
        for slot in np.flatnonzero(lo[:-1] != 0).tolist():
            self.weights.add(slot, float(lo[slot]))

    # -- merge / compute ------------------------------------------------------------------------
    def merge(self, other: ErrorHistogram) -> None:
        if not np.array_equal(self.edges, other.edges):
            raise ValueError("histograms over different bins cannot be merged")
        self.counts += other.counts
        self.nan += other.nan
        if self.weights is not None and other.weights is not None:
            self.weights.merge(other.weights)

    def parts(self) -> tuple[Array, int, list[list[float]] | None]:
        """The state as plain values (counts, NaN count, weight partials), to ship elsewhere;
        :meth:`add_parts` merges them into a histogram over the same bins."""
        return self.counts, self.nan, None if self.weights is None else self.weights.partials

    def add_parts(self, parts: tuple[Array, int, list[list[float]] | None]) -> None:
        counts, nan, partials = parts
        self.counts += counts
        self.nan += nan
        if self.weights is not None and partials is not None:
            other = ExactSums(0)
            other.partials = partials
            self.weights.merge(other)

    def compute(self) -> HistogramResult:
        counts = self.counts
        weights = self.weights.values() if self.weights is not None else None
        return HistogramResult(
            edges=self.edges.copy(),
            counts=counts[1:-1].copy(),
            underflow=int(counts[0]),
            overflow=int(counts[-1]),
            nan=self.nan,
            weights=None if weights is None else weights[1:-1],
            weight_underflow=0.0 if weights is None else float(weights[0]),
            weight_overflow=0.0 if weights is None else float(weights[-1]),
        )


class _KeyCounts:
    """The default bins' key counts of a histogram's slices (16384 keys: sign, exponent and two
    leading mantissa bits), folded into its bins at the end. Only a slice holding inf, NaN or
    −0.0 takes the slow way (:meth:`ErrorHistogram.bin_index`)."""

    __slots__ = ("at_top", "counts", "histogram")

    def __init__(self, histogram: ErrorHistogram) -> None:
        self.histogram = histogram
        self.counts = np.zeros(_KEYS, dtype=np.int64)
        self.at_top = 0  # values exactly on the top edge: the last bin is closed

    def add(self, part: Array, keys: Array) -> None:
        found = np.bincount(_keys(part, keys), minlength=_KEYS)
        if found[_SPECIAL:_SIGN_KEYS].any() or found[_SIGN_KEYS + _SPECIAL :].any():
            h = self.histogram
            more = np.bincount(h.bin_index(part), minlength=h.counts.size + 1)
            h.counts += more[:-1]
            h.nan += int(more[-1])
            return
        self.counts += found
        if found[_TOP_KEY]:
            self.at_top += int(np.count_nonzero(part == self.histogram._top))

    def fold(self) -> None:
        h = self.histogram
        assert h._lut is not None
        nbins = h.nbins
        h.counts += np.bincount(h._lut, weights=self.counts, minlength=nbins + 3)[
            : nbins + 2
        ].astype(np.int64)
        h.counts[nbins + 1] -= self.at_top
        h.counts[nbins] += self.at_top


def update_pairs(
    pred: Array,
    target: Array,
    histogram: ErrorHistogram | None,
    density: Density2D | None,
    weights: Array | None = None,
    work: Workspace | None = None,
) -> None:
    """Add a chunk's pairs to the error histogram (errors ``pred − target``) and the
    predicted-vs-target grid, either may be None, in one pass over :data:`SLICE`-row slices:
    each slice is read once for both (a single output; several outputs, weights or ``--bins``
    edges take :meth:`ErrorHistogram.update`)."""
    if histogram is not None and (
        not histogram.counts_keys or (pred.ndim > 1 and pred.shape[0] > 1)
    ):
        histogram.update(np.subtract(pred, target), weights)
        histogram = None
    if histogram is None and density is None:
        return
    work = Workspace() if work is None else work
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(target, dtype=np.float64).ravel()
    keys = None if histogram is None else _KeyCounts(histogram)
    for start in range(0, p.size, SLICE):
        ps, ts = p[start : start + SLICE], t[start : start + SLICE]
        m = ps.size
        if keys is not None:
            diff = np.subtract(ps, ts, out=work.get("diff", m))
            keys.add(diff, work.get("keys", m, np.uint64))
        if density is not None:
            density.add_slice(ps, ts, work)
    if keys is not None:
        keys.fold()


def update_groups(
    states: dict[int, ErrorHistogram],
    template: ErrorHistogram,
    errors: Array,
    group_ids: Array,
    weights: Array | None = None,
) -> None:
    """Add a chunk to one histogram per group: one bincount over (group, slot) pairs."""
    e = np.ascontiguousarray(errors, dtype=np.float64)
    if e.ndim > 1:
        group_ids = np.broadcast_to(group_ids, e.shape).ravel()
        if weights is not None:
            weights = np.broadcast_to(weights, e.shape).ravel()
    e = e.ravel()
    slots = template.bin_index(e)
    width = template.counts.size + 1
    present = np.unique(group_ids)
    dense = np.searchsorted(present, group_ids)
    found = np.bincount(dense * width + slots, minlength=present.size * width).reshape(
        present.size, width
    )
    for i, gid in enumerate(present.tolist()):
        state = states.get(gid)
        if state is None:
            state = states[gid] = template.empty_like()
        state.counts += found[i, :-1]
        state.nan += int(found[i, -1])
        if state.weighted:
            rows = dense == i
            w = np.ones(int(found[i].sum())) if weights is None else weights[rows]
            state._add_weights(slots[rows], w)


def coarsen(result: HistogramResult, max_bins: int) -> HistogramResult:
    """Trim empty bins at both ends and merge neighbours (exact sums of counts) until at most
    ``max_bins`` remain: for display only."""
    counts = result.counts
    nz = np.flatnonzero(counts)
    if nz.size == 0:
        return result
    lo, hi = int(nz[0]), int(nz[-1]) + 1
    edges = result.edges[lo : hi + 1]
    counts = counts[lo:hi]
    weights = None if result.weights is None else result.weights[lo:hi]
    factor = max(1, -(-counts.size // max_bins))
    if factor > 1:
        pad = (-counts.size) % factor
        counts = np.concatenate([counts, np.zeros(pad, np.int64)]).reshape(-1, factor).sum(axis=1)
        if weights is not None:
            weights = np.array(
                [
                    math.fsum(c)
                    for c in np.concatenate([weights, np.zeros(pad)]).reshape(-1, factor).tolist()
                ]
            )
        idx = np.arange(0, edges.size - 1 + pad + 1, factor)
        idx = np.minimum(idx, edges.size - 1)
        edges = edges[idx]
    return result._replace(edges=edges, counts=counts, weights=weights)


# -- predicted vs target ------------------------------------------------------------------------
GRID = 64  # cells per axis; the data always span more than half of them


class Density2D:
    """Counts of (target, prediction) pairs over square cells of a power-of-two size.

    Cells are ``[i·h, (i+1)·h)`` with ``h = 2^scale`` on one lattice anchored at 0, the same for
    both axes (so the diagonal is ``prediction = target``). The state holds a ``GRID × GRID``
    window whose first cell index is a multiple of ``GRID/2``: any range of at most ``GRID/2``
    cells fits in such a window. The first chunk picks the smallest scale at which its range
    fits; a later chunk (or a merge) outside the window doubles ``h`` (cell ``i`` → ``i >> 1``,
    exact) until everything fits. The final scale is the smallest at which the whole data's
    range fits, whatever the chunking, so the counts equal ``np.histogram2d`` over the reported
    edges for every chunk size. NaN/inf pairs are counted apart (``dropped``).
    """

    __slots__ = ("counts", "dropped", "hi", "lo", "origin", "scale")

    def __init__(self) -> None:
        self.scale: int | None = None
        self.origin = 0  # first cell index of the window (a multiple of GRID // 2)
        self.counts = np.zeros((GRID, GRID), dtype=np.int64)  # [target cell, prediction cell]
        self.lo = 0  # occupied cell range (inclusive), at the current scale
        self.hi = -1
        self.dropped = 0

    def update(self, pred: Array, target: Array, work: Workspace | None = None) -> None:
        """Add a chunk of pairs, slice by slice (the window widens as a slice needs)."""
        update_pairs(pred, target, None, self, None, work)

    def add_slice(self, p: Array, t: Array, work: Workspace) -> None:
        """Add one slice of pairs (1-D, at most :data:`SLICE` long): the window widens to hold
        the slice's range first, so the counts are those over the final grid."""
        if p.size == 0:
            return
        lo_v = min(float(p.min()), float(t.min()))
        hi_v = max(float(p.max()), float(t.max()))
        if not (math.isfinite(lo_v) and math.isfinite(hi_v)):  # NaN or inf: counted apart
            ok = np.isfinite(p) & np.isfinite(t)
            self.dropped += int(p.size - np.count_nonzero(ok))
            p, t = p[ok], t[ok]
            if p.size == 0:
                return
            lo_v = min(float(p.min()), float(t.min()))
            hi_v = max(float(p.max()), float(t.max()))
        self._widen(lo_v, hi_v)
        assert self.scale is not None
        step = math.ldexp(1.0, -self.scale)
        # flat cell floor(t·step)·GRID + floor(p·step) − origin·(GRID + 1) in float64: cell
        # indices are at most 2^46 (see _min_scale), so every intermediate is an integer below
        # 2^53 and each step exact; then to int32 and on to intp (two vector casts: float64 to
        # intp directly is ~4× slower)
        m = p.size
        a, b = work.get("cell_t", m), work.get("cell_p", m)
        np.multiply(t, step, out=a)
        np.floor(a, out=a)
        np.multiply(p, step, out=b)
        np.floor(b, out=b)
        a *= GRID
        a += b
        a -= float(self.origin * (GRID + 1))
        small = work.get("cell32", m, np.int32)
        np.copyto(small, a, casting="unsafe")
        flat = work.get("cell", m, np.intp)
        np.copyto(flat, small)
        cells = self.counts.reshape(-1)  # a view: counts is C-contiguous
        cells += np.bincount(flat, minlength=GRID * GRID)

    def _widen(self, lo_v: float, hi_v: float) -> None:
        """Move to the smallest scale (and window) holding ``[lo_v, hi_v]`` and what is
        counted already."""
        empty = self.scale is None or self.hi < self.lo
        scale = _fit_scale(lo_v, hi_v) if self.scale is None else self.scale
        lo_c, hi_c = _cell(lo_v, scale), _cell(hi_v, scale)
        if not empty:
            lo_c, hi_c = min(lo_c, self.lo), max(hi_c, self.hi)
        floor = _min_scale(lo_v, hi_v)
        while not _fits(lo_c, hi_c) or scale < floor:
            scale += 1
            lo_c, hi_c = lo_c >> 1, hi_c >> 1
        if scale != self.scale or lo_c != self.lo or hi_c != self.hi:
            self._rescale(scale, lo_c, hi_c)

    def _rescale(self, scale: int, lo_c: int, hi_c: int) -> None:
        """Move the state to ``scale`` with the occupied cell range ``lo_c..hi_c`` (which holds
        the current occupied range at the new scale): cell ``i`` becomes ``i >> shift``."""
        origin = _origin(lo_c, hi_c)
        if self.scale is not None and self.hi >= self.lo:
            a, b = self.lo - self.origin, self.hi - self.origin + 1
            block = self.counts[a:b, a:b]
            cells = (np.arange(self.lo, self.hi + 1) >> (scale - self.scale)) - origin
            new = np.zeros((GRID, GRID), dtype=np.int64)
            np.add.at(new, (cells[:, None], cells[None, :]), block)
            self.counts = new
        self.origin, self.scale, self.lo, self.hi = origin, scale, lo_c, hi_c

    def merge(self, other: Density2D) -> None:
        self.dropped += other.dropped
        if other.scale is None or other.hi < other.lo:
            return
        if self.scale is None or self.hi < self.lo:
            self.scale, self.origin, self.lo, self.hi = (
                other.scale,
                other.origin,
                other.lo,
                other.hi,
            )
            self.counts = other.counts.copy()
            return
        scale = max(self.scale, other.scale)
        a_lo, a_hi = self.lo >> (scale - self.scale), self.hi >> (scale - self.scale)
        b_lo, b_hi = other.lo >> (scale - other.scale), other.hi >> (scale - other.scale)
        lo_c, hi_c = min(a_lo, b_lo), max(a_hi, b_hi)
        while not _fits(lo_c, hi_c):
            scale += 1
            lo_c, hi_c = lo_c >> 1, hi_c >> 1
        theirs = Density2D()
        theirs.scale, theirs.origin, theirs.lo, theirs.hi = (
            other.scale,
            other.origin,
            other.lo,
            other.hi,
        )
        theirs.counts = other.counts
        theirs._rescale(scale, lo_c, hi_c)
        self._rescale(scale, lo_c, hi_c)
        self.counts += theirs.counts

    def compute(self) -> tuple[Array, Array]:
        """(edges, counts[target cell, prediction cell]) over the occupied cells' square."""
        if self.scale is None or self.hi < self.lo:
            return np.zeros(1), np.zeros((0, 0), dtype=np.int64)
        a, b = self.lo - self.origin, self.hi - self.origin + 1
        edges = np.ldexp(np.arange(self.lo, self.hi + 2, dtype=np.float64), self.scale)
        return edges, self.counts[a:b, a:b].copy()


def _cell(x: float, scale: int) -> int:
    return math.floor(math.ldexp(x, -scale))


def _fits(lo_c: int, hi_c: int) -> bool:
    return hi_c < _origin(lo_c, hi_c) + GRID


def _origin(lo_c: int, hi_c: int) -> int:
    half = GRID // 2
    return (lo_c // half) * half


def _min_scale(lo_v: float, hi_v: float) -> int:
    """Cells no finer than 2^(E − 46) (E: the exponent of the largest magnitude, which is below
    2^E) keep cell indices within ±2^46: a flat index ``i·GRID + j`` is then exact in float64.
    Nor finer than 2^−1023, so that ``2^−scale`` is a finite float (subnormal data)."""
    return max(math.frexp(max(abs(hi_v), abs(lo_v), 5e-324))[1] - 46, -1023)


def _fit_scale(lo_v: float, hi_v: float) -> int:
    """The smallest power-of-two cell size (not below :func:`_min_scale`) at which
    ``[lo_v, hi_v]`` fits one window."""
    scale = _min_scale(lo_v, hi_v)
    while True:
        if _fits(_cell(lo_v, scale), _cell(hi_v, scale)):
            return scale
        scale += 1


# -- calibration --------------------------------------------------------------------------------
class CalibrationResult(NamedTuple):
    """Per bin: weight (row count unweighted), mean predicted probability, observed frequency
    (mean target); NaN for an empty bin. ``ece`` = Σ_b (W_b / W)·|freq_b − mean_p_b|."""

    edges: Array
    counts: Array
    weight: Array
    mean_predicted: Array
    observed: Array
    ece: float


class Calibration:
    """Binned calibration of probabilities ``p`` against targets ``y`` (labels 0/1, or soft
    targets in [0, 1]): per bin Σw, Σw·p, Σw·y as exact sums.

    Bins are ``n_bins`` equal-width bins on [0, 1], right-closed like scikit-learn's
    ``calibration_curve`` (the first bin is ``[0, 1/n]``, then ``(b/n, (b+1)/n]``), with edges
    ``np.linspace(0, 1, n_bins + 1)``. The expected calibration error (Naeini et al. 2015;
    Guo et al. 2017 with the positive-class probability as the score) is
    ``ECE = Σ_b (W_b / W)·|ȳ_b − p̄_b|``.
    """

    __slots__ = ("counts", "edges", "n_bins", "nan", "sums")

    def __init__(self, n_bins: int = 10) -> None:
        if n_bins < 1:
            raise ValueError("n_bins must be at least 1")
        self.n_bins = n_bins
        self.edges = np.linspace(0.0, 1.0, n_bins + 1)
        self.counts = np.zeros(n_bins, dtype=np.int64)
        self.nan = 0
        self.sums = ExactSums(3 * n_bins)  # Σw, Σw·p, Σw·y per bin

    def update(self, prob: Array, target: Array, weights: Array | None = None) -> None:
        p = np.asarray(prob, dtype=np.float64).ravel()
        y = np.asarray(target, dtype=np.float64).ravel()
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if weights.size != p.size:
                weights = np.broadcast_to(weights, np.asarray(prob).shape).ravel()
        for start in range(0, p.size, BLOCK):  # blocks: the temporaries stay in cache
            cut = slice(start, start + BLOCK)
            self._update_block(p[cut], y[cut], None if weights is None else weights[cut])

    def _update_block(self, p: Array, y: Array, weights: Array | None) -> None:
        n = self.n_bins
        bins = self.bin_index(p)
        if bins.size and bins.max() == n:  # NaN probabilities: the ECE becomes NaN
            self.nan += int(np.count_nonzero(bins == n))
            keep = bins != n
            bins, p, y = bins[keep], p[keep], y[keep]
            weights = None if weights is None else weights[keep]
        self.counts += np.bincount(bins, minlength=n)
        if weights is None:
            parts = [(np.bincount(bins, minlength=n).astype(np.float64), np.zeros(n))]
            parts += [binned_sums(bins, p, n), binned_sums(bins, y, n)]
        else:
            parts = [binned_sums(bins, v, n) for v in (weights, weights * p, weights * y)]
        for j, (hi, lo) in enumerate(parts):
            for b in np.flatnonzero(hi).tolist():
                self.sums.add(j * n + b, float(hi[b]))
            for b in np.flatnonzero(lo).tolist():
                self.sums.add(j * n + b, float(lo[b]))

    def bin_index(self, p: Array) -> Array:
        """Each probability's bin as ``np.searchsorted(edges[1:-1], p)`` (``n_bins`` for NaN;
        values outside [0, 1] fall in the end bins), by arithmetic then an exact fix-up against
        the edges (a binary search costs ~5× more)."""
        n = self.n_bins
        edges = self.edges
        f = p * n
        np.ceil(f, out=f)
        f -= 1
        np.clip(f, 0, n - 1, out=f)
        with np.errstate(invalid="ignore"):
            bins = f.astype(np.intp)  # NaN → a garbage index, mended below
        nan = np.isnan(p)
        bins[nan] = 0
        bins -= (p <= edges[bins]) & (bins > 0)
        bins += (p > edges[bins + 1]) & (bins < n - 1)
        bins[nan] = n
        return bins

    def merge(self, other: Calibration) -> None:
        if other.n_bins != self.n_bins:
            raise ValueError("calibrations with different bin counts cannot be merged")
        self.counts += other.counts
        self.nan += other.nan
        self.sums.merge(other.sums)

    def compute(self) -> CalibrationResult:
        n = self.n_bins
        sums = self.sums.values()
        w, wp, wy = sums[:n], sums[n : 2 * n], sums[2 * n :]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_p = np.where(w != 0, wp / w, np.nan)
            freq = np.where(w != 0, wy / w, np.nan)
        # W_b·|ȳ_b − p̄_b| = |Σ_b w·y − Σ_b w·p|: no per-bin division, one rounding per bin
        total = math.fsum(w.tolist())
        gaps = np.abs(wy - wp).tolist()
        ece = math.fsum(gaps) / total if total and not self.nan else math.nan
        return CalibrationResult(self.edges.copy(), self.counts.copy(), w, mean_p, freq, ece)


class LabelCalibration:
    """Calibration against class labels whose positive class is known only after the last row
    (``brier_score_loss``: the greater label, or ``--pos-label``): per distinct label key a
    :class:`Calibration` of its rows, so every bin holds Σw and Σw·p per label;
    :meth:`compute` adds them up with ``y = 1`` for the positive label's rows, ``0`` else."""

    __slots__ = ("n_bins", "nan", "per_label")

    def __init__(self, n_bins: int = 10) -> None:
        self.n_bins = n_bins
        self.per_label: dict[float, Calibration] = {}
        self.nan = 0  # rows with a missing label (--nan propagate): the ECE becomes NaN

    def update(self, prob: Array, labels: Array, weights: Array | None = None) -> None:
        p = np.asarray(prob, dtype=np.float64).ravel()
        keys = np.asarray(labels, dtype=np.float64).ravel()
        w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
        missing = np.isnan(keys)
        if missing.any():
            self.nan += int(np.count_nonzero(missing))
            keep = ~missing
            p, keys, w = p[keep], keys[keep], None if w is None else w[keep]
        distinct, inverse = np.unique(keys, return_inverse=True)
        for i, key in enumerate(distinct.tolist()):
            state = self.per_label.get(key)
            if state is None:
                state = self.per_label[key] = Calibration(self.n_bins)
            if distinct.size == 1:
                part, w_part = p, w
            else:
                rows = inverse == i
                part, w_part = p[rows], None if w is None else w[rows]
            state.update(part, np.ones_like(part), w_part)

    def merge(self, other: LabelCalibration) -> None:
        self.nan += other.nan
        for key, theirs in other.per_label.items():
            mine = self.per_label.get(key)
            if mine is None:
                self.per_label[key] = mine = Calibration(self.n_bins)
            mine.merge(theirs)

    def keys(self) -> list[float]:
        """The label keys seen."""
        return list(self.per_label)

    def compute(self, positive: float) -> CalibrationResult:
        """The calibration with the rows of label key ``positive`` as the positive class."""
        n = self.n_bins
        total = Calibration(n)
        total.nan = self.nan
        for key, state in self.per_label.items():
            total.counts += state.counts
            total.nan += state.nan
            for j in range(2 * n):  # Σw, Σw·p of every label
                for x in state.sums.partials[j]:
                    grow_partials(total.sums.partials[j], x)
            if key == positive:  # Σw·y: the positive label's Σw
                for b in range(n):
                    for x in state.sums.partials[b]:
                        grow_partials(total.sums.partials[2 * n + b], x)
        return total.compute()


class CalibrationErrorState:
    """The ``ece`` metric: a :class:`Calibration` over every (probability, target) element;
    ``compute`` gives the expected calibration error (NaN when a NaN got through)."""

    __slots__ = ("calibration", "rows")

    def __init__(self, outputs: int, n_bins: int = 10) -> None:
        self.calibration = Calibration(n_bins)
        self.rows = 0

    def update(self, inputs: dict[str, Array], weights: Array | None) -> None:
        pred = inputs["pred"]
        self.calibration.update(pred, inputs["target"], weights)
        self.rows += int(pred.shape[-1])

    def merge(self, other: Any) -> None:
        assert isinstance(other, CalibrationErrorState)
        self.calibration.merge(other.calibration)
        self.rows += other.rows

    def compute(self, reduction: str, per: str) -> float:
        return self.calibration.compute().ece
