"""Poisson-bootstrap replicates of quantile metrics (NumPy only): the exact weighted quantile of
every replicate, and from it ``d2_absolute_error``/``d2_pinball``, without a pass per replicate.

A replicate ``b`` gives row ``i`` the weight ``w_i·c_ib`` (``c`` the row's Poisson(1) count from
:class:`~losscli.stats.intervals.PoissonWeights`, keyed by the row's position in the input;
``w`` the ``--weight``, else 1). Its quantile is the metric's own rule applied to those weights:
unweighted, NumPy's ``np.quantile`` (or ``np.median``) of the resample, each row repeated
``c_ib`` times; weighted, scikit-learn's ``_weighted_percentile(average=True)`` or NumPy's
weighted ``inverted_cdf`` with weights ``w·c``.

The replicates' quantiles all lie near the sample's: with ``n`` rows the rank of replicate
``b``'s quantile among the sorted values has a standard deviation of at most ``√n / 2``. So for
each slot (group × output) a *window* of ranks ``r₀ ± h`` around the sample quantile (``h = 6√n
+ 16``) splits the values at ``v_lo = x_(r₀−h)`` and ``v_hi = x_(r₀+h)`` into regions: below
``v_lo``, equal to ``v_lo``, strictly inside, equal to ``v_hi``, above. One sweep over the rows
in input order draws each row's counts once and adds, per region and replicate, the exact sums
``Σ w·c`` (and for D² ``Σ w·c·distance to the edge`` and ``Σ w·c·loss``) — the grouped replicate
sums of :mod:`losscli.stats.intervals` with the region as the group, so the digits do not
depend on chunking or grouping — and keeps the counts of the (at most ``2h``) inside rows. The
cumulative weight of a replicate at each inside row is then its exact below-sum plus the
counts before it, which locates its quantile exactly. Should a replicate's quantile fall
outside the window (rare: the window spans twelve standard deviations) the slot's window
grows fourfold and the sweep runs again; a window covering every row cannot miss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from losscli.stats.intervals import (
    BATCH_ROWS,
    GroupedReplicateSums,
    PoissonWeights,
    group_products,
    split_parts,
)
from losscli.stats.quantiles import _lerp, _mean2, _numpy_virtual_index

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
else:
    Array = np.ndarray

#: Runs jobs (each returning a one-item list) and yields their items in job order.
Runner = Callable[[Iterable[Callable[[], list["list[_Products]"]]]], Iterator["list[_Products]"]]
_EPS = float(np.finfo(np.float64).eps)
#: Regions of a slot's values, relative to its window edges (the group of its sums).
BELOW, AT_LO, INSIDE, AT_HI, ABOVE, IGNORED = range(6)
_REGIONS = 6
#: uint8 counts drawn at once at most (a batch is drawn in parts beyond): 512 KiB, which
#: with their uniforms and products stay in cache (larger parts were slower and used more memory).
DRAWN_COUNTS = 1 << 19
#: The same with ``--group-by``, where each part's per-group work costs more than the cache.
GROUPED_COUNTS = 1 << 22


def counts_at(poisson: PoissonWeights, positions: NDArray[np.int64]) -> NDArray[np.uint8]:
    """(rows, B) counts of the rows at ascending input ``positions`` (a run with gaps, as
    ``--nan skip`` leaves it): drawn range by range, each no longer than the rows asked for,
    so memory stays that of the rows and a contiguous run is one draw."""
    first, last = int(positions[0]), int(positions[-1])
    rows = positions.size
    if last - first + 1 == rows:
        return poisson.counts(first, rows)
    out = np.empty((rows, poisson.replicates), dtype=np.uint8)
    i = 0
    for a in range(first, last + 1, rows):
        j = int(np.searchsorted(positions, a + rows, side="left"))
        if j > i:
            drawn = poisson.counts(a, min(rows, last + 1 - a))
            out[i:j] = drawn[positions[i:j] - a]
        i = j
    return out


class View(NamedTuple):
    """One way of slicing the kept rows into slots: the total (``codes`` None) or the groups."""

    codes: NDArray[np.intp] | None
    groups: int


class RowPositions:
    """Where the kept rows sit in the input, chunk by chunk: a chunk read whole is its first
    position only; a chunk with skipped rows (``--nan skip``) keeps its rows' offsets."""

    __slots__ = ("gaps", "offsets", "rows", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.offsets: list[int] = []  # the kept-row index of each chunk's first row
        self.gaps: list[NDArray[np.int64] | None] = []
        self.rows = 0

    def add(self, start: int, rows: int, positions: NDArray[np.intp] | None = None) -> None:
        """Rows ``start + positions`` (``positions`` None: ``start … start + rows − 1``)."""
        if rows == 0:
            return
        if positions is not None and int(positions[-1]) == rows - 1:
            positions = None  # nothing skipped
        if positions is None and self.starts and self.gaps[-1] is None:
            last_end = self.starts[-1] + (self.rows - self.offsets[-1])
            if last_end == start:  # continues the previous run
                self.rows += rows
                return
        self.starts.append(start)
        self.offsets.append(self.rows)
        self.gaps.append(None if positions is None else positions.astype(np.int64))
        self.rows += rows

    def take(self, a: int, e: int) -> NDArray[np.int64]:
        """Input positions of the kept rows ``a … e − 1``."""
        out = np.empty(e - a, dtype=np.int64)
        i = max(0, int(np.searchsorted(self.offsets, a, side="right")) - 1)
        at = a
        while at < e:
            first = self.offsets[i]
            end = self.offsets[i + 1] if i + 1 < len(self.offsets) else self.rows
            stop = min(e, end)
            gaps = self.gaps[i]
            if gaps is None:
                out[at - a : stop - a] = np.arange(at - first, stop - first) + self.starts[i]
            else:
                out[at - a : stop - a] = gaps[at - first : stop - first] + self.starts[i]
            at = stop
            i += 1
        return out


def window_half(n: int, factor: int) -> int:
    """Half-width in ranks of a slot's window (``factor`` grows it after a miss)."""
    return (6 * math.isqrt(n) + 16) * factor


class _Products(NamedTuple):
    """One output's exact region products of a piece of a batch, and its inside rows (kept-row
    indexes, group codes, counts)."""

    output: int
    present: NDArray[np.intp]
    products: Array
    kept: NDArray[np.intp]
    inside_codes: NDArray[np.intp]
    inside_rows: NDArray[np.intp]
    inside_counts: NDArray[np.uint8]


class Rule(NamedTuple):
    """How a replicate's quantile is read: ``kind`` is ``median`` (``np.median``), ``numpy``
    (``np.quantile(method=method)`` of the resample), ``avg_cdf`` (scikit-learn's weighted
    percentile) or ``inverted_cdf`` (NumPy's weighted quantile)."""

    kind: str
    q: float
    method: str = "linear"


class _Slot:
    """One (view, group, output): its sorted values' window edges and what the sweep kept."""

    __slots__ = ("hi", "inside_counts", "inside_rows", "lo", "nan", "rows")

    def __init__(self) -> None:
        self.lo = self.hi = math.nan
        self.nan = False
        self.rows = 0
        self.inside_rows: list[NDArray[np.intp]] = []
        self.inside_counts: list[NDArray[np.uint8]] = []


def _edges(values: Array, weights: Array | None, q: float, half: int) -> tuple[float, float]:
    """The values ``half`` ranks below and above the sample's q-quantile (its rank by count
    unweighted, by cumulative weight weighted): a selection (``np.partition``) unweighted."""
    n = values.size
    if weights is None:
        r0 = min(int(q * (n - 1)), n - 1)
        lo, hi = max(r0 - half, 0), min(r0 + half, n - 1)
        chosen = np.partition(values, [lo, hi])
        return float(chosen[lo]), float(chosen[hi])
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    r0 = min(int(np.searchsorted(cum, q * cum[-1])) if cum[-1] > 0 else 0, n - 1)
    return float(values[order[max(r0 - half, 0)]]), float(values[order[min(r0 + half, n - 1)]])


class ReplicateQuantiles:
    """Replicate quantiles (or D² pinball scores) of kept values, per slot of every view.

    ``values`` (k, N) are the kept rows in input order (targets for D²), ``losses`` (k, N) the
    D² numerator's per-row losses (None otherwise), ``weights`` (N,) the ``--weight`` (None:
    unweighted), ``positions`` each row's position in the input (ascending). ``runner`` runs
    the sweep's batch jobs and yields their results in order (threads; default: one by one). ``alpha``: the D² pinball's α
    (None: the quantile itself is the metric)."""

    def __init__(
        self,
        values: Array,
        losses: Array | None,
        weights: Array | None,
        positions: RowPositions,
        poisson: PoissonWeights,
        rule: Rule,
        alpha: float | None = None,
        runner: Runner | None = None,
    ) -> None:
        self.values = values
        self.losses = losses
        self.weights = weights
        self.positions = positions
        self.runner = runner
        self.poisson = poisson
        self.rule = rule
        self.alpha = alpha
        self.sweeps = 0

    def replicates(self, view: View) -> Array:
        """(groups, k, B) replicate values of every slot of ``view`` (NaN where a slot has a NaN,
        no rows, or no weight in a replicate)."""
        k, n = self.values.shape
        groups = view.groups
        factors = np.ones((groups, k), dtype=np.int64)
        rows_of = _rows_by_group(view, n)
        while True:
            slots = self._windows(rows_of, factors)
            sums = self._sweep(view, slots)
            out, missed = self._read(slots, sums)
            if not missed:
                return out
            for g, j in missed:
                factors[g, j] *= 4

    # -- the windows ----------------------------------------------------------------------------

    def _windows(
        self, rows_of: list[NDArray[np.intp] | None], factors: NDArray[np.int64]
    ) -> list[list[_Slot]]:
        out = []
        q = self.rule.q
        for g, rows in enumerate(rows_of):
            row_slots = []
            at: slice | NDArray[np.intp] = slice(None) if rows is None else rows
            size = self.values.shape[1] if rows is None else rows.size
            w = None if self.weights is None else self.weights[at]
            for j in range(self.values.shape[0]):
                slot = _Slot()
                slot.rows = size
                v = self.values[j, at]
                if self.losses is not None:
                    slot.nan = bool(np.isnan(self.losses[j, at]).any())
                if size == 0 or slot.nan or np.isnan(v).any():
                    slot.nan = True
                    row_slots.append(slot)
                    continue
                half = window_half(size, int(factors[g, j]))
                slot.lo, slot.hi = _edges(v, w, q, half)
                row_slots.append(slot)
            out.append(row_slots)
        return out

    # -- the sweep ------------------------------------------------------------------------------

    def _sweep(self, view: View, slots: list[list[_Slot]]) -> GroupedReplicateSums:
        """Draw every row's counts once; add the region sums; keep the inside rows' counts.
        Batches of :data:`BATCH_ROWS` kept rows are independent jobs (any thread); their
        exact products are added in batch order, so the digits do not depend on threads."""
        self.sweeps += 1
        k = self.values.shape[0]
        width = 1 if self.alpha is None else 3
        sums = GroupedReplicateSums(width, self.poisson.replicates)
        lo = np.array([[s.lo for s in row] for row in slots]).reshape(-1, k)
        hi = np.array([[s.hi for s in row] for row in slots]).reshape(-1, k)
        nan = np.array([[s.nan for s in row] for row in slots]).reshape(-1, k)

        def job(a: int) -> Callable[[], list[list[_Products]]]:
            return lambda: [self._batch(a, view, lo, hi, nan)]

        jobs = (job(a) for a in range(0, self.values.shape[1], BATCH_ROWS))
        results = (j()[0] for j in jobs) if self.runner is None else self.runner(jobs)
        for batch in results:
            for item in batch:
                sums.add_products(item.present, item.products, item.kept)
                if item.inside_rows.size:
                    self._keep(slots, item)
        return sums

    def _batch(
        self, a: int, view: View, lo: Array, hi: Array, nan: NDArray[np.bool_]
    ) -> list[_Products]:
        """The exact region products (and the inside rows' counts) of the kept rows ``a …``."""
        k = self.values.shape[0]
        poisson = self.poisson
        e = min(a + BATCH_ROWS, self.values.shape[1])
        at = slice(a, e)
        codes = np.zeros(e - a, dtype=np.intp) if view.codes is None else view.codes[at]
        prepared = [self._features(j, at, codes, lo, hi, nan) for j in range(k)]
        parts = [(split_parts(features), region) for features, region in prepared]
        positions = self.positions.take(a, e)
        part_rows = max(1, DRAWN_COUNTS // poisson.replicates)
        if view.codes is not None:  # many small groups: fewer, larger parts (per-part costs)
            part_rows = max(1, GROUPED_COUNTS // poisson.replicates)
        out = []
        for b in range(0, e - a, part_rows):
            c = min(b + part_rows, e - a)
            counts = counts_at(poisson, positions[b:c])
            for j, (split, region) in enumerate(parts):
                piece = split[:, b:c]
                kept = np.flatnonzero(piece.any(axis=1))
                slot_codes = (codes[b:c] * k + j) * _REGIONS + region[b:c]
                present, products = group_products(piece[kept], counts, slot_codes)
                inside = np.flatnonzero(region[b:c] == INSIDE)
                out.append(
                    _Products(
                        j,
                        present,
                        products,
                        kept,
                        codes[b:c][inside],
                        inside + a + b,
                        counts[inside],
                    )
                )
        return out

    def _features(
        self,
        j: int,
        at: slice,
        codes: NDArray[np.intp],
        lo: Array,
        hi: Array,
        nan: NDArray[np.bool_],
    ) -> tuple[Array, NDArray[np.intp]]:
        """(features, region) of output ``j``'s rows ``at``: the weight (and for D² the
        weighted distance beyond the window edge and the weighted loss) per row."""
        v = self.values[j, at]
        row_lo, row_hi = lo[codes, j], hi[codes, j]
        region = np.full(v.size, INSIDE, dtype=np.intp)
        region[v == row_hi] = AT_HI
        region[v == row_lo] = AT_LO
        region[v < row_lo] = BELOW
        region[v > row_hi] = ABOVE
        ignored = nan[codes, j]
        region[ignored] = IGNORED
        w = np.ones(v.size) if self.weights is None else self.weights[at]
        if self.alpha is None:
            return w[None, :], region
        assert self.losses is not None
        distance = np.zeros(v.size)
        below, above = region == BELOW, region == ABOVE
        distance[below] = row_lo[below] - v[below]
        distance[above] = v[above] - row_hi[above]
        loss = np.where(ignored, 0.0, self.losses[j, at])
        return np.stack([w, w * distance, w * loss]), region

    @staticmethod
    def _keep(slots: list[list[_Slot]], item: _Products) -> None:
        order = np.argsort(item.inside_codes, kind="stable")
        groups = item.inside_codes[order]
        heads = np.flatnonzero(np.diff(groups)) + 1
        for run in np.split(np.arange(order.size), heads):
            mine = order[run]
            slot = slots[int(groups[run[0]])][item.output]
            slot.inside_rows.append(item.inside_rows[mine])
            slot.inside_counts.append(item.inside_counts[mine])

    # -- reading the replicates -----------------------------------------------------------------

    def _read(
        self, slots: list[list[_Slot]], sums: GroupedReplicateSums
    ) -> tuple[Array, list[tuple[int, int]]]:
        k = self.values.shape[0]
        b = self.poisson.replicates
        out = np.full((len(slots), k, b), np.nan)
        missed = []
        for g, row in enumerate(slots):
            for j, slot in enumerate(row):
                if slot.nan:
                    continue
                base = (g * k + j) * _REGIONS
                region = [_sums(sums, base + r, b) for r in range(_REGIONS - 1)]
                value = self._slot(j, slot, region)
                if value is None:
                    missed.append((g, j))
                else:
                    out[g, j] = value
        return out, missed

    def _slot(self, j: int, slot: _Slot, region: list[Array]) -> Array | None:
        """Replicate values of one slot from its region sums and inside rows (None: a
        replicate's quantile lies outside the window)."""
        rows = np.concatenate(slot.inside_rows) if slot.inside_rows else np.zeros(0, dtype=np.intp)
        counts = (
            np.concatenate(slot.inside_counts).astype(np.float64)
            if slot.inside_counts
            else np.zeros((0, self.poisson.replicates))
        )
        v = self.values[j, rows]
        order = np.argsort(v, kind="stable")
        v, rows, counts = v[order], rows[order], counts[order]
        ww = counts if self.weights is None else counts * self.weights[rows][:, None]
        # the window: the ties at v_lo, the inside rows, the ties at v_hi (one row when equal)
        edge_lo, edge_hi = region[AT_LO][0], region[AT_HI][0]
        parts_v = [np.array([slot.lo]), v]
        parts_w = [edge_lo[None, :], ww]
        if slot.hi != slot.lo:
            parts_v.append(np.array([slot.hi]))
            parts_w.append(edge_hi[None, :])
        window_v = np.concatenate(parts_v)
        window_w = np.concatenate(parts_w)
        below, above = region[BELOW][0], region[ABOVE][0]
        total = below + edge_lo + region[INSIDE][0] + edge_hi + above
        cum = below[None, :] + np.cumsum(window_w, axis=0)
        rule = self.rule if self.alpha is None else Rule("avg_cdf", self.alpha)
        quantiles = _pick(rule, window_v, window_w, cum, below, above, total)
        if quantiles is None:
            return None
        if self.alpha is None:
            return quantiles
        return self._d2(slot, region, window_v, window_w, quantiles)

    def _d2(self, slot: _Slot, region: list[Array], v: Array, ww: Array, q: Array) -> Array:
        """``1 − Σw·c·loss / Σw·c·ρ_α(y − q_b)`` per replicate (scikit-learn's force_finite);
        the null deviance of rows beyond an edge is ``(q_b − v_lo)·Σw·c + Σw·c·(v_lo − y)``
        (×(1 − α)) below and ``Σw·c·(y − v_hi) + (v_hi − q_b)·Σw·c`` (×α) above: sums of
        non-negative terms, no cancellation."""
        alpha = self.alpha
        assert alpha is not None
        if slot.rows < 2:  # scikit-learn: not well-defined with less than two samples
            return np.full(q.shape, np.nan)
        below, above = region[BELOW], region[ABOVE]
        u = v[:, None] - q[None, :]
        rho = np.maximum(alpha * u, (alpha - 1) * u)
        window = np.sum(ww * rho, axis=0)
        null = window + (1 - alpha) * ((q - slot.lo) * below[0] + below[1])
        null = null + alpha * (above[1] + (slot.hi - q) * above[0])
        numerator = sum(r[2] for r in region)
        out = np.ones(q.shape)
        valid = (null != 0) & (numerator != 0)
        out[valid] = 1.0 - numerator[valid] / null[valid]
        out[(numerator != 0) & (null == 0)] = 0.0
        return out


def _sums(sums: GroupedReplicateSums, gid: int, replicates: int) -> Array:
    found = sums.sums(gid)
    if found is None:
        return np.zeros((sums.hi.shape[1], replicates))
    return found


def _rows_by_group(view: View, n: int) -> list[NDArray[np.intp] | None]:
    """Each group's kept rows (None: all of them, the total)."""
    if view.codes is None:
        return [None]
    order = np.argsort(view.codes, kind="stable")
    bounds = np.searchsorted(view.codes[order], np.arange(view.groups + 1))
    return [order[bounds[g] : bounds[g + 1]] for g in range(view.groups)]


def _pick(
    rule: Rule, v: Array, ww: Array, cum: Array, below: Array, above: Array, total: Array
) -> Array | None:
    """Per replicate the quantile read from the window ``v`` (ascending, weights ``ww`` (W, B),
    cumulative weights ``cum`` including ``below``), or None if one lies outside it."""
    replicates = total.size
    width = v.size
    if rule.kind == "median":
        return _pick_median(v, cum, below, total)
    if rule.kind == "avg_cdf":
        return _pick_averaged(rule.q, v, ww, cum, below, above, total)
    out = np.full(replicates, np.nan)
    for b in range(replicates):
        tot = float(total[b])
        if tot <= 0:
            continue
        column = cum[:, b]
        if rule.kind in ("median", "numpy"):
            n = round(tot)
            if rule.kind == "median":
                ranks, gamma, how = [(n - 1) // 2, n // 2], None, "mean2"
            else:
                prev, nxt, gamma = _numpy_virtual_index(n, rule.q, rule.method)
                ranks, how = [prev, nxt], "lerp"
            found = []
            for r in ranks:
                if r < below[b]:
                    return None
                i = int(np.searchsorted(column, r, side="right"))
                if i >= width:
                    return None
                found.append(float(v[i]))
            if how == "mean2":
                out[b] = found[0] if ranks[0] == ranks[1] else _mean2(found[0], found[1])
            elif gamma is None:
                out[b] = found[0]
            else:
                out[b] = _lerp(found[0], found[1], gamma)
            continue
        if rule.kind == "inverted_cdf":
            qf, tf = np.float64(rule.q), np.float64(tot)
            if below[b] > 0 and np.float64(below[b]) / tf >= qf:
                return None
            hits = np.flatnonzero(((column / tf) >= qf) & (column > 0))
            if not hits.size:
                return None
            out[b] = float(v[hits[0]])
            continue
        threshold = float(np.float64(100.0 * rule.q) / 100 * np.float64(tot))
        if threshold == 0:
            threshold = float(np.nextafter(0.0, 1.0))
        if below[b] >= threshold:
            return None
        i = int(np.searchsorted(column, threshold, side="left"))
        if i >= width:
            return None
        if column[i] - threshold > _EPS:
            out[b] = float(v[i])
            continue
        later = np.flatnonzero(ww[i + 1 :, b] > 0)
        if later.size:
            out[b] = _mean2(float(v[i]), float(v[i + 1 + later[0]]))
        elif above[b] > 0:
            return None
        else:
            out[b] = float(v[i])
    return out


def _pick_median(v: Array, cum: Array, below: Array, total: Array) -> Array | None:
    """``np.median`` of every replicate's resample at once: the middle ranks' values (their
    mean when the count is even), read where the cumulative counts pass them."""
    valid = total > 0
    n = np.rint(total).astype(np.int64)
    ranks = [(n - 1) // 2, n // 2]
    found = []
    for r in ranks:
        i = np.count_nonzero(cum <= r[None, :], axis=0)  # searchsorted(side='right') per column
        if np.any(valid & ((r < below) | (i >= v.size))):
            return None
        found.append(v[np.minimum(i, v.size - 1)] if v.size else np.full(n.shape, np.nan))
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.where(ranks[0] == ranks[1], found[0], (found[0] + found[1]) / 2)
    out[~valid] = np.nan
    return out


def _pick_averaged(
    q: float, v: Array, ww: Array, cum: Array, below: Array, above: Array, total: Array
) -> Array | None:
    """scikit-learn's weighted percentile (``average=True``) of every replicate at once: the
    first value whose cumulative weight reaches ``q·W``, averaged with the next value of
    positive weight where the cumulative weight lands on ``q·W`` within eps."""
    valid = total > 0
    threshold = np.float64(100.0 * q) / 100 * total
    threshold[threshold == 0] = np.nextafter(0.0, 1.0)
    i = np.count_nonzero(cum < threshold[None, :], axis=0)  # searchsorted(side='left')
    if np.any(valid & ((below >= threshold) | (i >= v.size))):
        return None
    columns = np.arange(total.size)
    at = np.minimum(i, max(v.size - 1, 0))
    out = v[at] if v.size else np.full(total.shape, np.nan)
    out = np.array(out, dtype=np.float64)
    landed = valid & (cum[at, columns] - threshold <= _EPS) if v.size else valid & False
    for b in np.flatnonzero(landed).tolist():
        later = np.flatnonzero(ww[i[b] + 1 :, b] > 0)
        if later.size:
            out[b] = _mean2(float(v[i[b]]), float(v[i[b] + 1 + later[0]]))
        elif above[b] > 0:
            return None
    out[~valid] = np.nan
    return out
