"""Exact quantiles of streamed values in bounded memory (NumPy only).

A quantile is found by selection over re-readable data, never by keeping every value:

* pass 1 (:class:`KeyHistogram`) counts the values (and sums their weights) by the top bits of
  their *order-preserving key*, the float64 bit pattern with the sign bit flipped for positives
  and every bit flipped for negatives, so that ``a < b`` exactly when ``key(a) < key(b)``
  (``-0.0`` sorts just below ``+0.0``). Histograms of chunks, groups and machines merge by
  addition.
* later passes (:class:`Selection`) keep only the values whose keys fall in the bucket(s)
  holding the wanted rank(s) and select among them with ``np.partition``/``argsort``. A bucket
  too large for the selection budget is split on its next 16 bits by one more pass instead
  (at most four such passes: 64 bits); a bucket holding one distinct value resolves without
  keeping anything.

The answer is NumPy's ``np.quantile(values, q, method=...)`` (or ``np.median``) unweighted, and
with weights scikit-learn's ``_weighted_percentile`` (``averaged_inverted_cdf``, its weighted
median) or NumPy's weighted ``inverted_cdf``, to the last bit: the same order statistics,
combined with the same floating-point formula.

:class:`QuantileState` wraps both for the engine: ``add_chunk`` feeds whichever pass is
running, ``needs_pass``/``start_pass``/``finish_pass`` drive the passes, ``compute`` answers.
Memory: the chunk, 512 KiB of histogram per output (coarser with many groups), and at most
:data:`DEFAULT_SELECT_BUDGET` selected values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from losscli.defaults import NUMPY_QUANTILE_METHODS, WEIGHTED_QUANTILE_METHODS

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
    Keys = NDArray[np.uint64]
    Codes = NDArray[np.int64]
else:
    Array = Keys = Codes = np.ndarray

_SIGN = np.uint64(1 << 63)
_EPS = float(np.finfo(np.float64).eps)
REFINE_BITS = 16  # bits a refining pass splits a bucket on
DEFAULT_SELECT_BUDGET = 1 << 22  # values kept at once by a selecting pass (32 MiB of float64)

#: NumPy's interpolation methods (``np.quantile(method=...)``), plus ``median`` (``np.median``:
#: the mean of the two middle values, as scikit-learn's unweighted median_absolute_error).
UNWEIGHTED_METHODS = (*NUMPY_QUANTILE_METHODS, "median")
#: Methods defined with weights: scikit-learn's ``_weighted_percentile(average=True)`` and
#: NumPy's ``np.quantile(weights=..., method='inverted_cdf')``.
WEIGHTED_METHODS = WEIGHTED_QUANTILE_METHODS


# -- order-preserving keys ----------------------------------------------------------------------


def float_keys(values: Array, out: Keys | None = None) -> Keys:
    """Order-preserving uint64 keys of float64 values (NaN excluded by the caller)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    if out is None:
        out = np.empty(bits.shape, dtype=np.uint64)
    flip = np.right_shift(bits.view(np.int64), 63, out=out.view(np.int64)).view(np.uint64)
    np.bitwise_or(flip, _SIGN, out=flip)  # all ones for negatives, else the sign bit
    return np.bitwise_xor(bits, flip, out=flip)


class _Scratch:
    """A reused key buffer: fresh 8 MiB arrays per chunk cost more in page faults than the
    arithmetic on them."""

    __slots__ = ("buffer",)

    def __init__(self) -> None:
        self.buffer = np.empty(0, dtype=np.uint64)

    def keys(self, values: Array) -> Keys:
        n = values.shape[0]
        if self.buffer.shape[0] < n:
            self.buffer = np.empty(n, dtype=np.uint64)
        return float_keys(values, out=self.buffer[:n])


def key_floats(keys: Keys) -> Array:
    """Inverse of :func:`float_keys`."""
    keys = np.asarray(keys, dtype=np.uint64)
    positive = keys >= _SIGN
    bits = np.where(positive, keys ^ _SIGN, ~keys)
    return bits.view(np.float64)


def _key_float(key: int) -> float:
    return float(key_floats(np.array([key], dtype=np.uint64))[0])


# -- pass 1: the mergeable histogram ------------------------------------------------------------


def _bits_for(slots: int) -> int:
    """Histogram resolution: 16 bits (65,536 buckets, 512 KiB) per slot for up to 16 slots,
    12 bits up to 1,024 slots, then 8 bits: pass-1 memory stays under ~100 MiB."""
    if slots <= 16:
        return 16
    if slots <= 1024:
        return 12
    return 8


class KeyHistogram:
    """Pass 1: per slot (a group code × output column), counts (and weight sums) of values by
    the top ``bits`` of their keys, and the count of NaNs. Merges by addition."""

    __slots__ = (
        "_scratch",
        "bits",
        "constant_weight",
        "counts",
        "nans",
        "weighted",
        "weights",
        "weights_c",
    )

    def __init__(self, slots: int = 1, *, weighted: bool = False) -> None:
        self.weighted = weighted
        self._scratch = _Scratch()
        self.bits = _bits_for(slots)
        b = 1 << self.bits
        self.counts = np.zeros((slots, b), dtype=np.int64)
        self.nans = np.zeros(slots, dtype=np.int64)
        # weight sums per bucket, Neumaier-compensated across chunks (weights_c: the lost bits)
        self.weights = np.zeros((slots, b) if weighted else (0, b))
        self.weights_c = np.zeros_like(self.weights)
        # The one weight every row has had so far (None: none seen; NaN: they differ). With
        # equal weights scikit-learn's sequential cumulative sums can be reproduced exactly.
        self.constant_weight: float | None = None

    @property
    def slots(self) -> int:
        return int(self.counts.shape[0])

    def _coarsen(self, bits: int) -> None:
        if bits >= self.bits:
            return
        factor = 1 << (self.bits - bits)
        s = self.slots
        if s == 0:  # nothing counted yet: just the new resolution
            self.bits = bits
            self.counts = np.zeros((0, 1 << bits), dtype=np.int64)
            shape = (0, 1 << bits)
            self.weights, self.weights_c = np.zeros(shape), np.zeros(shape)
            return
        self.counts = self.counts.reshape(s, -1, factor).sum(axis=2)
        if self.weighted:
            self.weights = self.weights.reshape(s, -1, factor).sum(axis=2)
            self.weights_c = self.weights_c.reshape(s, -1, factor).sum(axis=2)
        else:
            self.weights = np.zeros((0, 1 << bits))
            self.weights_c = np.zeros_like(self.weights)
        self.bits = bits

    def ensure_slots(self, slots: int) -> None:
        """Grow to ``slots`` slots (coarsening when there are many)."""
        if slots <= self.slots:
            return
        self._coarsen(_bits_for(slots))
        extra = slots - self.slots
        b = 1 << self.bits
        self.counts = np.concatenate([self.counts, np.zeros((extra, b), dtype=np.int64)])
        self.nans = np.concatenate([self.nans, np.zeros(extra, dtype=np.int64)])
        if self.weighted:
            self.weights = np.concatenate([self.weights, np.zeros((extra, b))])
            self.weights_c = np.concatenate([self.weights_c, np.zeros((extra, b))])

    def update(
        self, values: Array, codes: Codes | None = None, weights: Array | None = None
    ) -> None:
        """Add a (k, n) block of values; ``codes`` (n,) dense group codes put row i of output j
        in slot ``codes[i]·k + j`` (ungrouped: slot j); ``weights`` (n,) when weighted."""
        values = np.atleast_2d(values)
        k, n = values.shape
        if n == 0:
            return
        if self.weighted and weights is None:
            raise ValueError("a weighted histogram needs weights")
        groups = 1 if codes is None else int(codes.max()) + 1
        self.ensure_slots(groups * k)
        b = 1 << self.bits
        shift = np.uint64(64 - self.bits)
        counts = self.counts
        wsums = np.zeros_like(self.weights) if self.weighted else None
        for j in range(k):
            column = values[j]
            nan = np.isnan(column)
            has_nan = bool(nan.any())
            keep = ~nan if has_nan else None
            col = column[keep] if keep is not None else column
            w = None if weights is None else (weights[keep] if keep is not None else weights)
            buckets = np.right_shift(self._scratch.keys(col), shift).view(np.int64)
            if codes is None:
                counts[j] += np.bincount(buckets, minlength=b)
                if wsums is not None:
                    wsums[j] += np.bincount(buckets, weights=w, minlength=b)
                if has_nan:
                    self.nans[j] += int(nan.sum())
                continue
            cj = codes[keep] if keep is not None else codes
            index = (cj * k + j) * b + buckets
            counts.reshape(-1)[:] += np.bincount(index, minlength=counts.size)
            if wsums is not None:
                wsums.reshape(-1)[:] += np.bincount(index, weights=w, minlength=wsums.size)
            if has_nan:
                self.nans += np.bincount(codes[nan] * k + j, minlength=self.slots)
        if wsums is not None:
            self._add_weights(wsums, np.zeros_like(wsums))
            assert weights is not None
            self._note_weights(float(weights[0]), bool(np.all(weights == weights[0])))

    def _note_weights(self, first: float, equal: bool) -> None:
        if self.constant_weight is None:
            self.constant_weight = first if equal else math.nan
        elif not equal or first != self.constant_weight:
            self.constant_weight = math.nan

    def _add_weights(self, add: Array, add_c: Array) -> None:
        """Neumaier: ``weights + weights_c`` stays the (nearly) exact running sum."""
        total = self.weights + add
        big = np.abs(self.weights) >= np.abs(add)
        lost = np.where(big, (self.weights - total) + add, (add - total) + self.weights)
        self.weights = total
        self.weights_c += lost + add_c

    def merge(self, other: KeyHistogram, slot_map: NDArray[np.intp] | None = None) -> None:
        """Add ``other``'s counts; its slot i goes to slot ``slot_map[i]`` (default: i)."""
        if other.weighted != self.weighted:
            raise ValueError("cannot merge weighted and unweighted histograms")
        if slot_map is None:
            slot_map = np.arange(other.slots)
        self.ensure_slots(int(slot_map.max()) + 1 if len(slot_map) else 0)
        bits = min(self.bits, other.bits)
        self._coarsen(bits)
        if other.bits != bits:
            other = other.copy()
            other._coarsen(bits)
        np.add.at(self.counts, slot_map, other.counts)
        np.add.at(self.nans, slot_map, other.nans)
        if self.weighted:
            pad = np.zeros_like(self.weights)
            pad_c = np.zeros_like(self.weights)
            np.add.at(pad, slot_map, other.weights)
            np.add.at(pad_c, slot_map, other.weights_c)
            self._add_weights(pad, pad_c)
            if other.constant_weight is not None:
                same_weight = not math.isnan(other.constant_weight)
                self._note_weights(other.constant_weight, same_weight)

    def copy(self) -> KeyHistogram:
        new = KeyHistogram.__new__(KeyHistogram)
        new.weighted, new.bits, new._scratch = self.weighted, self.bits, _Scratch()
        new.counts, new.nans = self.counts.copy(), self.nans.copy()
        new.weights, new.weights_c = self.weights.copy(), self.weights_c.copy()
        new.constant_weight = self.constant_weight
        return new

    def weight_sums(self) -> Array:
        """Per slot and bucket: the compensated weight sum."""
        return self.weights + self.weights_c


# -- rules: which order statistics a quantile needs, and how they combine -----------------------


def _numpy_virtual_index(n: int, q: float, method: str) -> tuple[int, int, float | None]:
    """(previous, next, gamma) as NumPy's ``_quantile`` computes them (indexes clipped into
    [0, n-1], gamma exactly NumPy's, None for the methods that take one value)."""
    qa = np.float64(q)
    if method in ("lower", "higher", "nearest"):
        v = (n - 1) * qa
        rounding: Callable[[Any], Any] = {"lower": np.floor, "higher": np.ceil}.get(
            method, np.around
        )
        idx = rounding(v)
        i = min(max(int(idx), 0), n - 1)
        return i, i, None
    if method in ("inverted_cdf", "closest_observation"):
        if method == "inverted_cdf":
            v = n * qa - 1
            cond = lambda g, _: g == 0  # noqa: E731
        else:
            v = n * qa - 1 - 0.5
            cond = lambda g, idx: (g == 0) & (np.floor(idx) % 2 == 1)  # noqa: E731
        prev = np.floor(v)
        gamma = v - prev
        i = int(prev) if cond(gamma, v) else int(prev + 1)
        i = min(max(i, 0), n - 1)
        return i, i, None
    if method == "linear":
        v = (n - 1) * qa
    elif method == "averaged_inverted_cdf":
        v = n * qa - 1
    elif method == "midpoint":
        v = 0.5 * (np.floor((n - 1) * qa) + np.ceil((n - 1) * qa))
    else:
        alpha, beta = {
            "interpolated_inverted_cdf": (0.0, 1.0),
            "hazen": (0.5, 0.5),
            "weibull": (0.0, 0.0),
            "median_unbiased": (1 / 3.0, 1 / 3.0),
            "normal_unbiased": (3 / 8.0, 3 / 8.0),
        }[method]
        v = n * qa + (alpha + qa * (1 - alpha - beta)) - 1
    v = np.float64(v)
    prev_np = np.floor(v)  # NumPy's previous index, before clipping (-1 means the last)
    if v >= n - 1:
        prev_np = np.float64(-1)
        prev = nxt = n - 1
    elif v < 0:
        prev_np = np.float64(0)
        prev = nxt = 0
    else:
        prev = int(prev_np)
        nxt = prev + 1
    gamma = v - prev_np
    if method == "averaged_inverted_cdf":
        gamma = np.float64(0.5) if gamma == 0 else np.float64(1.0)
    elif method == "midpoint":
        gamma = np.float64(0.0) if v % 1 == 0 else np.float64(0.5)
    return prev, nxt, float(gamma)


def _lerp(a: float, b: float, t: float) -> float:
    """NumPy's ``_lerp``: ``a + (b − a)·t``, or ``b − (b − a)·(1 − t)`` for ``t ≥ 0.5``."""
    fa, fb, ft = np.float64(a), np.float64(b), np.float64(t)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = fb - fa
        if ft >= 0.5:
            return float(fb - diff * (1 - ft))
        return float(fa + diff * ft)


def _mean2(a: float, b: float) -> float:
    """``(a + b) / 2`` in float64, as ``np.median`` and scikit-learn average two values."""
    with np.errstate(over="ignore", invalid="ignore"):
        return float((np.float64(a) + np.float64(b)) / 2)


def check_method(method: str, weighted: bool) -> None:
    allowed = WEIGHTED_METHODS if weighted else UNWEIGHTED_METHODS
    if method not in allowed:
        kind = "weighted" if weighted else "unweighted"
        raise ValueError(
            f"method {method!r} is not defined for {kind} quantiles; use one of "
            + ", ".join(allowed)
        )


# -- targets of the later passes ----------------------------------------------------------------


class _Target:
    """One wanted element of one slot: the element of 0-based rank ``rank`` (by key,
    ``kind='rank'``), the first element whose cumulative weight satisfies ``reached``
    (``kind='weight'``), or the smallest positive-weight key at or above ``above``
    (``kind='min'``). A rank or weight target narrows its interval ``[lo, lo + 2**(64-depth))``
    pass by pass until the interval is collected or holds one distinct value."""

    __slots__ = (
        "above",
        "count",
        "cum_weight",
        "depth",
        "key",
        "kind",
        "lo",
        "minimum",
        "next_positive",
        "offset_count",
        "offset_weight",
        "q",
        "rank",
        "reached",
        "slot",
        "threshold",
        "weight",
    )

    def __init__(self, slot: int, kind: str) -> None:
        self.slot = slot
        self.kind = kind
        self.rank = 0
        self.reached: Callable[[Array], NDArray[np.bool_]] | None = None
        self.threshold = 0.0  # scikit-learn's adjusted percentile rank ('fraction above')
        self.q = 0.0  # weighted: the probability, to redo the threshold on the exact sums
        self.above = 0
        self.lo = 0
        self.depth = 0
        self.count = 0  # values inside the interval
        self.weight = 0.0  # their weight
        self.offset_count = 0  # values with key < lo
        self.offset_weight = 0.0  # their weight
        self.key: int | None = None  # resolved key (None: pending; -1: no such element)
        self.cum_weight = math.nan  # weighted: the cumulative weight at the resolved element
        self.next_positive: int | None = None  # weighted: key of the next positive weight
        self.minimum: _Target | None = None  # weighted: a 'min' target finding that key


def _sequential_sums(c: float, n: int) -> Iterable[tuple[int, Array]]:
    """``(start, S[start:start+m])`` of ``S_i = fl(S_{i−1} + c)``, ``S_0 = c``, block by block
    (``np.cumsum`` adds sequentially, as ``np.cumsum`` over the sorted weights does)."""
    block = 1 << 20
    previous = 0.0
    for start in range(0, n, block):
        m = min(block, n - start)
        run = np.full(m + 1, c)
        run[0] = previous
        sums = np.cumsum(run)[1:]
        yield start, sums
        previous = float(sums[-1])


def _sequential_sum_at(c: float, i: int) -> float:
    last = 0.0
    for _, sums in _sequential_sums(c, i + 1):
        last = float(sums[-1])
    return last


def _first_reaching(
    c: float, n: int, reached: Callable[[Array], NDArray[np.bool_]]
) -> tuple[int, float]:
    """(first i with ``reached(S_i)``, ``S_i``), clipped to the last index like the libraries."""
    last = (n - 1, 0.0)
    for start, sums in _sequential_sums(c, n):
        hits = reached(sums)
        if hits.any():
            j = int(np.argmax(hits))
            return start + j, float(sums[j])
        last = (n - 1, float(sums[-1]))
    return last


def _last_positive(weights: Array, fallback: NDArray[Any]) -> int:
    """Index of the last positive weight (else of the last non-zero ``fallback``, else 0)."""
    for candidates in (weights, fallback):
        hits = np.flatnonzero(candidates > 0)
        if len(hits):
            return int(hits[-1])
    return 0


_NO_KEY = int(np.iinfo(np.uint64).max)


def _span(depth: int) -> int:
    """Largest offset inside an interval whose top ``depth`` bits are fixed."""
    return (1 << (64 - depth)) - 1


class _Rule:
    """How one quantile of one slot is made from resolved targets."""

    __slots__ = ("gamma", "kind", "targets")

    def __init__(self, kind: str, targets: list[_Target], gamma: float | None = None) -> None:
        self.kind = kind  # 'one' | 'lerp' | 'mean2' | 'avg_cdf' | 'nan'
        self.targets = targets
        self.gamma = gamma


class PassState:
    """What one selecting pass gathers; mergeable across chunks and workers.

    ``collect[i]``: values (and weights) inside collected interval i; ``refine[i]``: counts
    and weight sums of refined interval i on its next bits, with the min and max key seen;
    ``minimum[i]``: the smallest positive-weight key at or above a bound."""

    def __init__(self, plan: _PassPlan) -> None:
        self.plan = plan
        self._scratch = _Scratch()
        self._offsets = _Scratch()
        self.values: list[list[Array]] = [[] for _ in plan.collect]
        self.weights: list[list[Array]] = [[] for _ in plan.collect]
        r, b = len(plan.refine), 1 << plan.refine_bits
        self.sub_counts = np.zeros((r, b), dtype=np.int64)
        self.sub_weights = np.zeros((r, b) if plan.weighted else (0, 0))
        self.low = np.full(r, np.iinfo(np.uint64).max, dtype=np.uint64)
        self.high = np.zeros(r, dtype=np.uint64)
        self.minimum = np.full(len(plan.minimum), np.iinfo(np.uint64).max, dtype=np.uint64)

    def update(
        self, values: Array, codes: Codes | None = None, weights: Array | None = None
    ) -> None:
        """Add a (k, n) block, as :meth:`KeyHistogram.update`."""
        values = np.atleast_2d(values)
        k, n = values.shape
        if n == 0:
            return
        for j in range(k):
            column = values[j]
            nan = np.isnan(column)
            keep = ~nan if nan.any() else None
            keys = self._scratch.keys(column[keep] if keep is not None else column)
            w = None if weights is None else (weights[keep] if keep is not None else weights)
            if codes is None:
                self._update_slot(j, keys, column if keep is None else column[keep], w)
            else:
                cj = codes[keep] if keep is not None else codes
                self._update_grouped(cj * k + j, keys, w)

    def _update_slot(self, slot: int, keys: Keys, column: Array, w: Array | None) -> None:
        plan = self.plan
        offsets = self._offsets.buffer
        if offsets.shape[0] < keys.shape[0]:
            offsets = self._offsets.buffer = np.empty(keys.shape[0], dtype=np.uint64)
        offsets = offsets[: keys.shape[0]]
        for i in plan.collect_by_slot.get(slot, ()):
            lo, depth = plan.collect[i]
            off = np.subtract(keys, np.uint64(lo), out=offsets)
            inside = off <= np.uint64(_span(depth))
            if inside.any():
                self.values[i].append(column[inside])
                if w is not None:
                    self.weights[i].append(w[inside])
        for i in plan.refine_by_slot.get(slot, ()):
            lo, depth = plan.refine[i]
            off = np.subtract(keys, np.uint64(lo), out=offsets)
            inside = off <= np.uint64(_span(depth))
            if not inside.any():
                continue
            off = off[inside]
            sub = (off >> np.uint64(_sub_shift(depth, plan.refine_bits))).astype(np.intp)
            b = 1 << plan.refine_bits
            self.sub_counts[i] += np.bincount(sub, minlength=b)
            if w is not None:
                self.sub_weights[i] += np.bincount(sub, weights=w[inside], minlength=b)
            inside_keys = keys[inside]
            self.low[i] = min(self.low[i], inside_keys.min())
            self.high[i] = max(self.high[i], inside_keys.max())
        for i in plan.minimum_by_slot.get(slot, ()):
            bound = np.uint64(plan.minimum[i])
            above = keys >= bound
            if w is not None:
                above &= w > 0
            if above.any():
                self.minimum[i] = min(self.minimum[i], keys[above].min())

    def _update_grouped(self, slots: Codes, keys: Keys, w: Array | None) -> None:
        plan = self.plan
        # Only keys inside the band spanning every interval and minimum bound can matter: one
        # cheap scalar test drops most rows before the per-row table look-ups.
        near = (keys >= np.uint64(plan.band_lo)) & (keys <= np.uint64(plan.band_hi))
        near &= slots < plan.table_slots
        if not near.all():
            slots, keys = slots[near], keys[near]
            w = None if w is None else w[near]
        if not len(keys):
            return
        values = key_floats(keys)
        for m in range(plan.table_width):
            lo = plan.table_lo[slots, m]
            span = plan.table_span[slots, m]
            ident = plan.table_id[slots, m]
            inside = ((keys - lo) <= span) & (ident >= 0)
            if not inside.any():
                continue
            ids = ident[inside]
            kind = plan.table_kind[slots[inside], m]
            ik, iv = keys[inside], values[inside]
            iw = None if w is None else w[inside]
            for i in np.unique(ids[kind == 0]):
                sel = (ids == i) & (kind == 0)
                self.values[i].append(iv[sel])
                if iw is not None:
                    self.weights[i].append(iw[sel])
            ref = kind == 1
            if ref.any():
                rid, rk = ids[ref], ik[ref]
                depth = plan.table_depth[slots[inside][ref], m]
                bits = plan.refine_bits
                shift = np.maximum(64 - depth.astype(np.int64) - bits, 0).astype(np.uint64)
                sub = ((rk - lo[inside][ref]) >> shift).astype(np.intp)
                flat = rid * (1 << bits) + sub
                self.sub_counts.reshape(-1)[:] += np.bincount(flat, minlength=self.sub_counts.size)
                if iw is not None:
                    self.sub_weights.reshape(-1)[:] += np.bincount(
                        flat, weights=iw[ref], minlength=self.sub_weights.size
                    )
                np.minimum.at(self.low, rid, rk)
                np.maximum.at(self.high, rid, rk)
        for m in range(plan.min_width):
            bound = plan.min_bound[slots, m]
            ident = plan.min_id[slots, m]
            above = (keys >= bound) & (ident >= 0)
            if w is not None:
                above &= w > 0
            if above.any():
                np.minimum.at(self.minimum, ident[above], keys[above])

    def merge(self, other: PassState) -> None:
        for mine, theirs in zip(self.values, other.values, strict=True):
            mine.extend(theirs)
        for mine, theirs in zip(self.weights, other.weights, strict=True):
            mine.extend(theirs)
        self.sub_counts += other.sub_counts
        if self.plan.weighted:
            self.sub_weights += other.sub_weights
        np.minimum(self.low, other.low, out=self.low)
        np.maximum(self.high, other.high, out=self.high)
        np.minimum(self.minimum, other.minimum, out=self.minimum)


def _sub_shift(depth: int, bits: int) -> int:
    return max(64 - depth - bits, 0)


def _refine_bits(intervals: int) -> int:
    """Bits a refining pass splits each interval on: 16 (65,536 sub-buckets) for a few
    intervals, fewer when many groups refine at once, so the pass holds at most ~32 MiB."""
    if intervals <= 16:
        return REFINE_BITS
    if intervals <= 256:
        return 12
    return 8


class _PassPlan:
    """The intervals one pass collects or refines, and the bounds it takes minima above,
    with per-slot lookup tables for grouped data."""

    def __init__(
        self,
        collect: list[tuple[int, int, int]],
        refine: list[tuple[int, int, int]],
        minimum: list[tuple[int, int]],
        slots: int,
        weighted: bool,
    ) -> None:
        self.collect = [(lo, depth) for _, lo, depth in collect]
        self.refine = [(lo, depth) for _, lo, depth in refine]
        self.minimum = [bound for _, bound in minimum]
        self.weighted = weighted
        self.refine_bits = _refine_bits(len(refine))
        self.collect_by_slot: dict[int, list[int]] = {}
        self.refine_by_slot: dict[int, list[int]] = {}
        self.minimum_by_slot: dict[int, list[int]] = {}
        for i, (s, _, _) in enumerate(collect):
            self.collect_by_slot.setdefault(s, []).append(i)
        for i, (s, _, _) in enumerate(refine):
            self.refine_by_slot.setdefault(s, []).append(i)
        for i, (s, _) in enumerate(minimum):
            self.minimum_by_slot.setdefault(s, []).append(i)
        # tables for the grouped path: per slot, up to `table_width` intervals
        per_slot: dict[int, list[tuple[int, int, int, int]]] = {}
        for i, (s, lo, depth) in enumerate(collect):
            per_slot.setdefault(s, []).append((0, i, lo, depth))
        for i, (s, lo, depth) in enumerate(refine):
            per_slot.setdefault(s, []).append((1, i, lo, depth))
        self.table_slots = slots
        self.table_width = max((len(v) for v in per_slot.values()), default=0)
        shape = (slots, self.table_width)
        self.table_lo = np.zeros(shape, dtype=np.uint64)
        self.table_span = np.zeros(shape, dtype=np.uint64)
        self.table_id = np.full(shape, -1, dtype=np.intp)
        self.table_kind = np.zeros(shape, dtype=np.int8)
        self.table_depth = np.zeros(shape, dtype=np.int16)
        for s, entries in per_slot.items():
            for m, (kind, i, lo, depth) in enumerate(entries):
                self.table_lo[s, m] = lo
                self.table_span[s, m] = _span(depth)
                self.table_id[s, m] = i
                self.table_kind[s, m] = kind
                self.table_depth[s, m] = depth
        mins: dict[int, list[tuple[int, int]]] = {}
        for i, (s, bound) in enumerate(minimum):
            mins.setdefault(s, []).append((i, bound))
        self.min_width = max((len(v) for v in mins.values()), default=0)
        self.min_bound = np.full((slots, self.min_width), np.iinfo(np.uint64).max, dtype=np.uint64)
        self.min_id = np.full((slots, self.min_width), -1, dtype=np.intp)
        for s, bounds in mins.items():
            for m, (i, bound) in enumerate(bounds):
                self.min_bound[s, m] = bound
                self.min_id[s, m] = i
        # the key band holding every interval and everything above the lowest minimum bound
        los = [lo for lo, _ in self.collect + self.refine] + self.minimum
        his = [lo + _span(depth) for lo, depth in self.collect + self.refine]
        if self.minimum:
            his.append(_NO_KEY)
        self.band_lo = min(los, default=_NO_KEY)
        self.band_hi = max(his, default=0)


class Selection:
    """Passes 2, 3, ...: finds the order statistics the requested quantiles need.

    ``method`` is one of :data:`UNWEIGHTED_METHODS` (unweighted histogram) or
    :data:`WEIGHTED_METHODS`; ``qs`` are probabilities in [0, 1]; at most ``budget`` values
    are kept by a pass. Usage::

        sel = Selection(histogram, qs, method)
        while sel.pending:
            state = sel.new_pass()
            for values, codes, weights in source():  # a fresh read of the same data
                state.update(values, codes, weights)
            sel.finish_pass(state)
        sel.result()  # (slots, len(qs)) float64
    """

    def __init__(
        self,
        histogram: KeyHistogram,
        qs: Sequence[float],
        method: str,
        *,
        budget: int = DEFAULT_SELECT_BUDGET,
    ) -> None:
        check_method(method, histogram.weighted)
        for q in qs:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"quantile {q!r} is outside [0, 1]")
        self.histogram = histogram
        self.qs = [float(q) for q in qs]
        self.method = method
        self.budget = max(int(budget), 1)
        self.weighted = histogram.weighted
        self.passes = 1
        self.slots = histogram.slots
        self.targets: list[_Target] = []
        self._ranks: dict[tuple[int, int], _Target] = {}
        self._weights = histogram.weight_sums() if self.weighted else None
        self._totals = histogram.counts.sum(axis=1)
        self.rules = [[self._rule(s, q) for q in self.qs] for s in range(self.slots)]
        by_slot: dict[int, list[_Target]] = {}
        for t in self.targets:
            by_slot.setdefault(t.slot, []).append(t)
        # When every weighted slot fits the budget together, one pass keeps them whole
        weighted_rows = sum(
            int(self._totals[s]) for s, ts in by_slot.items() if any(t.kind == "weight" for t in ts)
        )
        keep_whole = weighted_rows <= self.budget
        for s, targets in by_slot.items():
            counts = histogram.counts[s]
            cum = np.cumsum(counts)
            weights = None if self._weights is None else self._weights[s]
            cum_w = None if weights is None else np.cumsum(weights)
            for t in targets:
                if t.kind == "weight" and keep_whole:
                    # Keep the whole slot, and sum its weights in sorted order exactly as
                    # scikit-learn / NumPy do (see _resolve).
                    t.count = int(cum[-1])
                    continue
                self._descend(t, counts, weights, histogram.bits, cum, cum_w)

    # -- rules and their targets

    def _new_target(self, slot: int, kind: str) -> _Target:
        t = _Target(slot, kind)
        self.targets.append(t)
        return t

    def _rank(self, slot: int, rank: int) -> _Target:
        t = self._ranks.get((slot, rank))  # quantiles needing the same rank share a target
        if t is None:
            t = self._ranks[(slot, rank)] = self._new_target(slot, "rank")
            t.rank = rank
        return t

    def _rule(self, slot: int, q: float) -> _Rule:
        n = int(self._totals[slot])
        if n == 0 or self.histogram.nans[slot] > 0:
            return _Rule("nan", [])
        if not self.weighted:
            if self.method == "median":
                lo, hi = (n - 1) // 2, n // 2
                if lo == hi:
                    return _Rule("one", [self._rank(slot, lo)])
                return _Rule("mean2", [self._rank(slot, lo), self._rank(slot, hi)])
            prev, nxt, gamma = _numpy_virtual_index(n, q, self.method)
            if gamma is None:
                return _Rule("one", [self._rank(slot, prev)])
            return _Rule("lerp", [self._rank(slot, prev), self._rank(slot, nxt)], gamma)
        assert self._weights is not None
        c = self.histogram.constant_weight
        if c is not None and not math.isnan(c):
            return self._constant_weight_rule(slot, q, c, n)
        total = math.fsum(self._weights[slot].tolist())
        if total == 0:
            return _Rule("nan", [])
        t = self._new_target(slot, "weight")
        t.q = q
        if self.method == "averaged_inverted_cdf":
            # scikit-learn: percentile_rank / 100 * weight_cdf[-1], 0 nudged to the next float
            threshold = float(np.float64(100.0 * q) / 100 * np.float64(total))
            if threshold == 0:
                threshold = float(np.nextafter(0.0, 1.0))
            t.threshold = threshold
            t.reached = lambda cum, th=threshold: cum >= th
            return _Rule("avg_cdf", [t])
        # NumPy's weighted inverted_cdf: the first i with cdf_i / cdf_last >= q (leading zero
        # weights never count)
        qf, tot = np.float64(q), np.float64(total)
        t.reached = lambda cum, qf=qf, tot=tot: ((cum / tot) >= qf) & (cum > 0)
        return _Rule("one", [t])

    def _constant_weight_rule(self, slot: int, q: float, c: float, n: int) -> _Rule:
        """Every weight is ``c``: the cumulative weights are scikit-learn's (and NumPy's)
        sequential float sums ``S_i = fl(S_{i−1} + c)``, computed here without the values, so
        the weighted rule becomes order statistics — bit for bit, even where ``n·c`` is
        inexact (``c = 0.1``)."""
        if c <= 0:
            return _Rule("nan", [])
        total = _sequential_sum_at(c, n - 1)
        if self.method == "averaged_inverted_cdf":
            threshold = float(np.float64(100.0 * q) / 100 * np.float64(total))
            if threshold == 0:
                threshold = float(np.nextafter(0.0, 1.0))
            i, s_i = _first_reaching(c, n, lambda cum: cum >= threshold)
            if s_i - threshold > _EPS:
                return _Rule("one", [self._rank(slot, i)])
            return _Rule("mean2", [self._rank(slot, i), self._rank(slot, min(i + 1, n - 1))])
        qf, tot = np.float64(q), np.float64(total)
        i, _ = _first_reaching(c, n, lambda cum: ((cum / tot) >= qf) & (cum > 0))
        return _Rule("one", [self._rank(slot, i)])

    def _descend(
        self,
        t: _Target,
        counts: NDArray[np.int64],
        weights: Array | None,
        bits: int,
        cum: NDArray[np.int64] | None = None,
        cum_w: Array | None = None,
    ) -> None:
        """Narrow ``t``'s interval to the sub-bucket (``bits`` more bits) that holds it."""
        if cum is None:
            cum = np.cumsum(counts)
        if t.kind == "rank":
            b = int(np.searchsorted(cum, t.rank - t.offset_count, side="right"))
        else:
            assert weights is not None and t.reached is not None
            if cum_w is None:
                cum_w = np.cumsum(weights)
            cum_w = t.offset_weight + cum_w
            hits = t.reached(cum_w)
            if hits.any():
                b = int(np.argmax(hits))
            else:  # rounding left the threshold just above the sum: the last positive weight
                b = _last_positive(weights, counts)
            t.offset_weight = float(cum_w[b] - weights[b])
            t.weight = float(weights[b])
        t.offset_count += int(cum[b] - counts[b])
        t.count = int(counts[b])
        width = 64 - t.depth
        step = min(bits, width)
        t.lo += b << (width - step)
        t.depth += step

    # -- passes

    @property
    def pending(self) -> bool:
        return any(t.key is None for t in self.targets)

    def new_pass(self) -> PassState:
        """Plan the next pass: collect the smallest intervals within the budget, refine the
        rest on their next bits, and take the minima the weighted rules still need."""
        sizes: dict[tuple[int, int, int], int] = {}
        for t in self.targets:
            if t.key is None and t.kind != "min":
                sizes[(t.slot, t.lo, t.depth)] = t.count
        collect: list[tuple[int, int, int]] = []
        refine: list[tuple[int, int, int]] = []
        used = 0
        for ident, size in sorted(sizes.items(), key=lambda kv: kv[1]):
            if used + size <= self.budget or ident[2] >= 64:
                collect.append(ident)
                used += size
            else:
                refine.append(ident)
        minimum = [(t.slot, t.above) for t in self.targets if t.key is None and t.kind == "min"]
        self.passes += 1
        return PassState(_PassPlan(collect, refine, minimum, self.slots, self.weighted))

    def finish_pass(self, state: PassState) -> None:
        plan = state.plan
        collected = {
            (s, *plan.collect[i]): i for s, ids in plan.collect_by_slot.items() for i in ids
        }
        refined = {(s, *plan.refine[i]): i for s, ids in plan.refine_by_slot.items() for i in ids}
        minima = {(s, plan.minimum[i]): i for s, ids in plan.minimum_by_slot.items() for i in ids}
        ready: dict[int, tuple[Array, Array | None]] = {}
        for t in list(self.targets):
            if t.key is not None:
                continue
            if t.kind == "min":
                i = minima[(t.slot, t.above)]
                t.key = -1 if int(state.minimum[i]) == _NO_KEY else int(state.minimum[i])
                continue
            ident = (t.slot, t.lo, t.depth)
            if ident in collected:
                i = collected[ident]
                if i not in ready:
                    ready[i] = self._gathered(state, i)
                self._resolve(t, *ready[i])
                continue
            i = refined[ident]
            low, high = int(state.low[i]), int(state.high[i])
            if low == high:  # one distinct value: nothing needs keeping
                self._resolve_single(t, low)
                continue
            weights = state.sub_weights[i] if self.weighted else None
            self._descend(t, state.sub_counts[i], weights, plan.refine_bits)

    def _gathered(self, state: PassState, i: int) -> tuple[Array, Array | None]:
        vals = np.concatenate(state.values[i]) if state.values[i] else np.empty(0)
        if not self.weighted:
            return vals, None
        w = np.concatenate(state.weights[i]) if state.weights[i] else np.empty(0)
        order = np.argsort(vals, kind="stable")
        return vals[order], w[order]

    def _resolve(self, t: _Target, vals: Array, w: Array | None) -> None:
        if t.kind == "rank":
            r = t.rank - t.offset_count
            part = np.partition(vals, r) if len(vals) > 1 else vals
            t.key = int(float_keys(part[r : r + 1])[0])
            return
        assert w is not None and t.reached is not None
        cum = t.offset_weight + np.cumsum(w)
        if t.depth == 0 and len(cum):
            self._library_threshold(t, float(cum[-1]))
        hits = t.reached(cum)
        i = int(np.argmax(hits)) if hits.any() else _last_positive(w, w)
        t.key = int(float_keys(vals[i : i + 1])[0])
        t.cum_weight = float(cum[i])
        later = np.flatnonzero(w[i + 1 :] > 0)
        if len(later):
            t.next_positive = int(float_keys(vals[i + 1 + later[0] : i + 2 + later[0]])[0])
        else:
            self._need_minimum_above(t)

    def _library_threshold(self, t: _Target, total: float) -> None:
        """The whole slot was kept: its sequential sum in sorted order is the libraries' own
        ``cdf[-1]``, so their threshold is computed from it, not from the compensated sum."""
        if total <= 0:
            return
        if self.method == "averaged_inverted_cdf":
            threshold = float(np.float64(100.0 * t.q) / 100 * np.float64(total))
            if threshold == 0:
                threshold = float(np.nextafter(0.0, 1.0))
            t.threshold = threshold
            t.reached = lambda cum, th=threshold: cum >= th
        else:
            qf, tot = np.float64(t.q), np.float64(total)
            t.reached = lambda cum, qf=qf, tot=tot: ((cum / tot) >= qf) & (cum > 0)

    def _resolve_single(self, t: _Target, key: int) -> None:
        t.key = key
        if t.kind == "weight":
            # every value of the interval is this one: the element reached is its last
            # positive-weight one only when the threshold is within eps of the interval's end
            t.cum_weight = t.offset_weight + t.weight
            if t.cum_weight - t.threshold <= _EPS:
                self._need_minimum_above(t)
            else:
                t.next_positive = key

    def _need_minimum_above(self, t: _Target) -> None:
        top = t.lo + _span(t.depth)
        if top >= _NO_KEY:
            t.next_positive = -1
            return
        m = self._new_target(t.slot, "min")
        m.above = top + 1
        t.minimum = m

    # -- results

    def result(self) -> Array:
        """(slots, len(qs)) quantiles; NaN for a slot with a NaN, no values or no weight."""
        if self.pending:
            raise RuntimeError("the selection still needs a pass")
        out = np.empty((self.slots, len(self.qs)))
        for s, rules in enumerate(self.rules):
            for j, rule in enumerate(rules):
                out[s, j] = self._apply(rule)
        return out

    def _apply(self, rule: _Rule) -> float:
        if rule.kind == "nan":
            return math.nan
        keys = [t.key for t in rule.targets]
        assert all(k is not None and k >= 0 for k in keys)
        values = [_key_float(k) for k in keys]  # type: ignore[arg-type]
        if rule.kind == "one":
            return values[0]
        if rule.kind == "mean2":
            return _mean2(values[0], values[1])
        if rule.kind == "lerp":
            assert rule.gamma is not None
            return _lerp(values[0], values[1], rule.gamma)
        t = rule.targets[0]  # avg_cdf: scikit-learn's fraction-above test
        if t.cum_weight - t.threshold > _EPS:
            return values[0]
        nxt = t.next_positive
        if nxt is None and t.minimum is not None:
            nxt = t.minimum.key
        if nxt is None or nxt < 0:  # no positive weight above: the value itself
            nxt = t.key
        return _mean2(values[0], _key_float(nxt))  # type: ignore[arg-type]


# -- one-shot helpers ---------------------------------------------------------------------------


ChunkSource = Callable[[], Iterable[tuple[Array, "Codes | None", "Array | None"]]]


def select_quantiles(
    source: ChunkSource,
    qs: Sequence[float],
    method: str,
    *,
    weighted: bool = False,
    budget: int = DEFAULT_SELECT_BUDGET,
) -> tuple[Array, int]:
    """Exact quantiles over a re-readable ``source`` (called once per pass, each call yielding
    ``(values (k, n), codes or None, weights or None)``): (slots × len(qs), passes)."""
    histogram = KeyHistogram(weighted=weighted)
    for values, codes, weights in source():
        histogram.update(values, codes, weights)
    selection = Selection(histogram, qs, method, budget=budget)
    while selection.pending:
        state = selection.new_pass()
        for values, codes, weights in source():
            state.update(values, codes, weights)
        selection.finish_pass(state)
    return selection.result(), selection.passes


def exact_quantiles(
    values: Array,
    qs: Sequence[float],
    method: str,
    *,
    weights: Array | None = None,
    budget: int = DEFAULT_SELECT_BUDGET,
) -> Array:
    """Quantiles of each row of a ``(k, n)`` array in memory, through the same passes as a
    stream: ``(k, len(qs))``."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))

    def source() -> Iterable[tuple[Array, Codes | None, Array | None]]:
        yield values, None, weights

    result, _ = select_quantiles(source, qs, method, weighted=weights is not None, budget=budget)
    return result


# -- the streaming state ------------------------------------------------------------------------


class QuantileState:
    """The ``q``-quantile of elementwise values per output (and per group code, when chunks
    come with ``codes``), then the uniform mean over outputs (scikit-learn's multioutput).

    ``method`` applies unweighted, ``weighted_method`` when the chunks carry weights. Exact
    and multi-pass: pass 1 builds a :class:`KeyHistogram`; while :meth:`needs_pass`, the
    engine calls :meth:`start_pass`, feeds the same chunks again through :meth:`add_chunk`,
    and calls :meth:`finish_pass`."""

    multi_pass = True

    def __init__(
        self,
        outputs: int,
        q: float,
        method: str,
        weighted_method: str = "averaged_inverted_cdf",
        *,
        budget: int = DEFAULT_SELECT_BUDGET,
    ) -> None:
        self.outputs = outputs
        self.q = q
        self.method = method
        self.weighted_method = weighted_method
        self.budget = budget
        self.count = 0  # rows fed to pass 1
        self.groups = 0
        self.histogram: KeyHistogram | None = None
        self.selection: Selection | None = None
        self.current: PassState | None = None

    def add_chunk(self, losses: Array, weights: Array | None, codes: Codes | None = None) -> Array:
        """Add ``(k, n)`` values (with their group codes) to the running pass; returns the
        per-output sums, which the engine uses to detect non-finite values cheaply."""
        if self.current is not None:
            self.current.update(losses, codes, weights)
            partial: Array = np.sum(losses, axis=1)
            return partial
        if self.histogram is None:
            slots = self.outputs if codes is None else max(int(codes.max()) + 1, 1) * self.outputs
            self.histogram = KeyHistogram(slots, weighted=weights is not None)
        self.histogram.update(losses, codes, weights)
        self.count += losses.shape[1]
        if codes is not None and len(codes):
            self.groups = max(self.groups, int(codes.max()) + 1)
        partial = np.sum(losses, axis=1)
        return partial

    def merge(self, other: QuantileState) -> None:
        """Merge a state fed other rows, in the same phase (histograms, or the same pass)."""
        if other.current is not None:
            assert self.current is not None
            self.current.merge(other.current)
            return
        if other.histogram is None:
            return
        if self.histogram is None:
            self.histogram = other.histogram.copy()
        else:
            self.histogram.merge(other.histogram)
        self.count += other.count
        self.groups = max(self.groups, other.groups)

    @property
    def rows(self) -> int:
        return self.count

    def grouped(self) -> GroupedQuantileState:
        """The same quantile, one per group code (``--group-by``)."""
        return GroupedQuantileState(
            self.outputs, self.q, self.method, self.weighted_method, budget=self.budget
        )

    # -- passes

    def needs_pass(self) -> bool:
        if self.histogram is None:
            return False
        if self.selection is None:
            method = self.weighted_method if self.histogram.weighted else self.method
            self.selection = Selection(self.histogram, [self.q], method, budget=self.budget)
        return self.selection.pending

    def start_pass(self) -> None:
        assert self.selection is not None
        self.current = self.selection.new_pass()

    def finish_pass(self) -> None:
        assert self.selection is not None and self.current is not None
        self.selection.finish_pass(self.current)
        self.current = None

    @property
    def passes(self) -> int:
        return 1 if self.selection is None else self.selection.passes

    # -- results

    def group_rows(self) -> NDArray[np.int64]:
        """Rows per group code (the rows of output 0's slots, NaN included)."""
        groups = max(self.groups, 1)
        if self.histogram is None:
            return np.zeros(groups, dtype=np.int64)
        h = self.histogram
        per_slot = h.counts.sum(axis=1) + h.nans
        out = np.zeros(groups * self.outputs, dtype=np.int64)
        out[: min(len(per_slot), len(out))] = per_slot[: len(out)]
        return out.reshape(groups, self.outputs)[:, 0].copy()

    def values(self) -> Array:
        """``(groups or 1, outputs)`` quantiles."""
        if self.histogram is None:
            return np.full((max(self.groups, 1), self.outputs), np.nan)
        if self.needs_pass():
            raise RuntimeError("the quantile state still needs a pass over the data")
        assert self.selection is not None
        result = self.selection.result()[:, 0]
        groups = max(self.groups, 1)
        out = np.full(groups * self.outputs, np.nan)
        out[: min(len(result), len(out))] = result[: len(out)]
        return out.reshape(groups, self.outputs)

    def compute(self, reduction: str, per: str) -> float | list[float]:
        row = self.values()[0]
        if per == "output":
            return [float(v) for v in row]
        return float(np.mean(row))


class GroupedQuantileState(QuantileState):
    """:class:`QuantileState` for every group at once: chunks come with dense group codes,
    each (group, output) is one histogram slot. ``rows`` and ``compute`` answer per group
    (``(groups,)``, or ``(outputs, groups)`` for ``--per output``); ``merge`` takes ``remap``,
    the other state's codes → this state's (pass-1 histograms only)."""

    def add_chunk(  # type: ignore[override]
        self, losses: Array, weights: Array | None, codes: Codes, size: int | None = None
    ) -> Array:
        partial = super().add_chunk(losses, weights, codes)
        if size is not None and self.current is None:
            self.groups = max(self.groups, size)
        return partial

    def merge(
        self, other: QuantileState, remap: Codes | None = None, size: int | None = None
    ) -> None:
        if remap is None or other.histogram is None or other.current is not None:
            super().merge(other)
            return
        k = self.outputs
        slot_map = (np.asarray(remap)[:, None] * k + np.arange(k)).reshape(-1)
        slot_map = slot_map[: other.histogram.slots]
        if self.histogram is None:
            self.histogram = KeyHistogram(0, weighted=other.histogram.weighted)
        self.histogram.merge(other.histogram, slot_map)
        self.count += other.count
        self.groups = max(self.groups, int(np.max(remap)) + 1, size or 0)

    @property
    def rows(self) -> NDArray[np.int64]:  # type: ignore[override]
        return self.group_rows()

    def compute(self, reduction: str, per: str) -> Array:  # type: ignore[override]
        values = self.values().T  # (outputs, groups)
        if per == "output":
            return values
        out: Array = np.mean(values, axis=0)
        return out
