"""Confidence-interval statistics: streamed, mergeable and independent of chunking (NumPy only).

Two kinds of state, both fed chunk by chunk and merged by addition:

* :class:`WeightedMoments` — ``Σw, Σw², Σw·d, Σw·d²`` per output, each sum exact until its final
  rounding (:func:`exact_sum_levels` + :class:`~losscli.stats.sums.CompensatedSum`), so any
  chunking or grouping gives the same digits. :meth:`WeightedMoments.estimate` gives the
  weighted mean, its standard error with Kish's effective sample size ``n_eff = (Σw)²/Σw²``
  and ``n_eff − 1`` degrees of freedom: a t interval (normal for large ``n_eff``).
* :class:`ReplicateSums` — a Poisson bootstrap. Each resampling unit gets a Poisson(1) count
  per replicate from a counter-based generator keyed by ``(seed, unit, replicate)``
  (:class:`PoissonCounts`); a replicate's sufficient statistics are ``Σ_units count·(Σ rows
  features)``. A unit is one row for the first :data:`SINGLE_ROWS` rows of the input and an
  aligned block of :data:`BLOCK_ROWS` consecutive rows after that (a cluster bootstrap there),
  so the cost grows as ``rows·B/64`` on large inputs while small inputs are resampled row by
  row. Units are fixed by row position, never by chunk: the same rows get the same counts in
  any chunking, grouping or machine.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from losscli.stats.sums import CompensatedSum

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
else:
    Array = np.ndarray

#: Rows resampled one by one at the start of the input; beyond, units are blocks.
SINGLE_ROWS = 1 << 16
#: Rows per resampling unit after the first :data:`SINGLE_ROWS` rows.
BLOCK_ROWS = 64
#: Units whose counts are drawn from one Philox stream (one counter value per block).
_UNITS_PER_STREAM = 1024
#: Rows per piece of :meth:`ReplicateSums.add` (bounds its memory).
_PIECE_ROWS = 1 << 13
#: Largest Poisson count the 16-bit inverse-CDF table can give (P(k ≥ 9) rounds to 0 slots).
MAX_COUNT = 8


# -- exact sums ---------------------------------------------------------------------------------
def exact_sum_levels(x: Array, *, factor: int = 1, levels: int = 2) -> list[Array]:
    """Split each row of a (k, n) block into ``levels`` exact parts plus a remainder.

    Rump–Ogita–Oishi extraction: with ``σ = 2^e ≥ 2·factor·n·max|x|`` the part
    ``h = (σ + x) − σ`` is ``x`` rounded to a multiple of ``ulp(σ)`` and ``x − h`` is exact, so
    any sum of up to ``n`` parts, even multiplied by integers up to ``factor``, is computed
    exactly in float64 in any order (pairwise, BLAS, per group). Returns ``levels + 1`` arrays
    of shape (k, n): the parts and the (tiny) remainder; their exact sum equals ``x``.
    Non-finite rows are returned unsplit (their sums are non-finite anyway).
    """
    x = np.asarray(x, dtype=np.float64)
    k, n = x.shape
    out: list[Array] = []
    rest = x
    bits = (max(n, 1) * factor).bit_length() + 1
    for _ in range(levels):
        top = np.maximum(rest.max(axis=1), -rest.min(axis=1)) if n else np.zeros(k)
        sigma = _sigma(top, bits)
        if not sigma.any():
            out.append(np.zeros_like(rest))
            continue
        col = sigma[:, None]
        part = (rest + col) - col  # σ = 0 rows: part = rest, remainder 0
        out.append(part)
        rest = rest - part
    out.append(rest)
    return out


#: Values per block of :func:`exact_row_sums`: the block's passes stay in cache.
_EXACT_BLOCK = 1 << 15


def _sigma(top: Array, bits: int) -> Array:
    """Per row ``2^(exponent of max|x| + bits)``, or 0 where that is not finite/usable."""
    sigma = np.zeros(top.shape)
    for j, m in enumerate(top.tolist()):
        if m > 0 and math.isfinite(m):
            exponent = math.frexp(m)[1] + bits
            sigma[j] = math.ldexp(1.0, exponent) if exponent < 1020 else 0.0
    return sigma


def exact_row_sums(x: Array) -> list[Array]:
    """Per-row sums of a (k, n) block as float64 parts whose sum is the exact sum up to
    ~2⁻⁸³ of ``n·max|x|``: per block of 32,768 values one exact extraction (the block's part
    on the grid of ``ulp(σ)``, summed exactly) and a rounded remainder below 2⁻³⁶ of the
    block's largest value. Blocks run in cache, so this costs a few passes over cached data.
    Add the parts to a :class:`~losscli.stats.sums.CompensatedSum` for a chunk-invariant total.
    """
    k, n = x.shape
    parts: list[Array] = []
    remainder = np.zeros(k)
    buffer = np.empty((k, min(n, _EXACT_BLOCK)))
    for start in range(0, n, _EXACT_BLOCK):
        block = x[:, start : start + _EXACT_BLOCK]
        width = block.shape[1]
        top = np.maximum(block.max(axis=1), -block.min(axis=1))
        sigma = _sigma(top, width.bit_length() + 1)[:, None]
        grid = buffer[:, :width]
        np.add(block, sigma, out=grid)
        np.subtract(grid, sigma, out=grid)  # σ = 0 (zero or non-finite rows): grid = block
        parts.append(grid.sum(axis=1))
        np.subtract(block, grid, out=grid)
        remainder += grid.sum(axis=1)
    parts.append(remainder)
    return parts


def _fraction(total: CompensatedSum, j: int) -> Fraction | float:
    """The exact value of a compensated sum as a Fraction (a float when non-finite)."""
    special = total.special[j]
    if special != 0.0 or math.isnan(special):
        return special
    return sum((Fraction(p) for p in total.partials[j]), Fraction(0))


# -- quantiles ----------------------------------------------------------------------------------
def normal_quantile(p: float) -> float:
    """Φ⁻¹(p) (Wichura's AS241 in the standard library)."""
    from statistics import NormalDist  # stdlib; only needed when an interval is computed

    return NormalDist().inv_cdf(p)


def _log_beta_front(a: float, b: float) -> float:
    """``lgamma(a + b) − lgamma(a) − lgamma(b)``; for ``b = ½`` and large ``a`` through the
    asymptotic series of ``log Γ(a + ½)/Γ(a)`` (the lgamma difference loses ~1e-12 there)."""
    if b == 0.5 and a >= 20:
        return (
            0.5 * math.log(a)
            - 1 / (8 * a)
            + 1 / (192 * a**3)
            - 1 / (640 * a**5)
            + 17 / (14336 * a**7)
            - math.lgamma(0.5)
        )
    if a == 0.5 and b >= 20:
        return _log_beta_front(b, a)
    return math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)


def _betainc(a: float, b: float, x: float, y: float) -> float:
    """The regularized incomplete beta function I_x(a, b), with ``y = 1 − x`` given
    separately (accurately) by the caller; Lentz's continued fraction."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _betainc(b, a, y, x)
    log_front = _log_beta_front(a, b) + a * math.log(x) + b * math.log(y)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return math.exp(log_front) * h / a


def t_cdf(t: float, df: float) -> float:
    """Student's t distribution function with ``df`` (real, > 0) degrees of freedom."""
    t2 = t * t
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))
    return 1.0 - tail if t > 0 else tail


def _t_density(t: float, df: float) -> float:
    log_c = _log_beta_front(df / 2, 0.5) - 0.5 * math.log(df)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile: Newton's method on :func:`t_cdf` from the normal quantile."""
    if df >= 1e4 or not math.isfinite(df):  # Cornish–Fisher (A&S 26.7.5): error O(ν⁻⁵)
        z = normal_quantile(p)
        if not math.isfinite(df):
            return z
        z2 = z * z
        g = (
            z * (z2 + 1) / 4,
            z * ((5 * z2 + 16) * z2 + 3) / 96,
            z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / 384,
            z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) / 92160,
        )
        return z + g[0] / df + g[1] / df**2 + g[2] / df**3 + g[3] / df**4
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    t = max(normal_quantile(p), 1e-3)
    for _ in range(100):
        step = (t_cdf(t, df) - p) / _t_density(t, df)
        t_next = t - step
        if t_next <= 0:
            t_next = t / 2
        if abs(t_next - t) <= 1e-15 * abs(t):
            return t_next
        t = t_next
    return t


# -- estimates ----------------------------------------------------------------------------------
class NormalEstimate:
    """A mean with its standard error: the t interval ``mean ± t_{df}·se`` (normal when ``df``
    is large), one-sided p-values against a limit."""

    method = "normal"

    __slots__ = ("df", "estimate", "n_eff", "se")

    def __init__(self, estimate: float, se: float, df: float, n_eff: float) -> None:
        self.estimate = estimate
        self.se = se
        self.df = df
        self.n_eff = n_eff

    def interval(self, confidence: float) -> tuple[float, float]:
        if not (math.isfinite(self.estimate) and math.isfinite(self.se)) or self.df <= 0:
            return (math.nan, math.nan)
        q = t_quantile(0.5 + confidence / 2, self.df)
        return (self.estimate - q * self.se, self.estimate + q * self.se)

    def p_above(self, limit: float) -> float:
        """One-sided p-value of 'the true value ≤ limit' (small: the value is above)."""
        if not (math.isfinite(self.estimate) and math.isfinite(self.se)) or self.df <= 0:
            return math.nan
        if self.se == 0:
            return 0.0 if self.estimate > limit else 1.0
        return 1.0 - t_cdf((self.estimate - limit) / self.se, self.df)

    def shifted(self, offset: float) -> NormalEstimate:
        return NormalEstimate(self.estimate + offset, self.se, self.df, self.n_eff)

    def negated(self) -> NormalEstimate:
        return NormalEstimate(-self.estimate, self.se, self.df, self.n_eff)


class BootstrapEstimate:
    """A point value and its bootstrap replicate values: percentile intervals (NumPy's
    ``median_unbiased`` quantiles, Hyndman–Fan type 8: with B = 200 replicates the default
    ``linear`` type 7 is ~0.7 points too narrow at 95%, type 8 is on target) and one-sided
    p-values."""

    method = "bootstrap-percentile"

    __slots__ = ("estimate", "replicates")

    def __init__(self, estimate: float, replicates: Array) -> None:
        self.estimate = estimate
        self.replicates = replicates

    def interval(self, confidence: float) -> tuple[float, float]:
        reps = self.replicates
        if reps.size == 0 or not np.isfinite(reps).all():
            return (math.nan, math.nan)
        alpha = 1.0 - confidence
        lo, hi = np.quantile(reps, [alpha / 2, 1.0 - alpha / 2], method="median_unbiased")
        return (float(lo), float(hi))

    def p_above(self, limit: float) -> float:
        """The share of replicates at or below ``limit`` (small: the value is above)."""
        reps = self.replicates
        if reps.size == 0 or not np.isfinite(reps).all():
            return math.nan
        return float(np.count_nonzero(reps <= limit)) / reps.size

    def shifted(self, offset: float) -> BootstrapEstimate:
        return BootstrapEstimate(self.estimate + offset, self.replicates + offset)

    def negated(self) -> BootstrapEstimate:
        return BootstrapEstimate(-self.estimate, -self.replicates)


Estimate = NormalEstimate | BootstrapEstimate


# -- moments ------------------------------------------------------------------------------------
class WeightedMoments:
    """``Σw, Σw², Σw·d_j, Σw·d_j²`` over rows for ``k`` outputs, exact until the final rounding.

    ``estimate(j)`` is the weighted mean of ``d_j`` with the standard error
    ``sqrt(s²/n_eff)``, ``s² = M2/Σw · n_eff/(n_eff − 1)``, ``M2 = Σw·(d − d̄)²`` evaluated
    exactly from the sums (no cancellation), ``n_eff = (Σw)²/Σw²`` (Kish); unweighted this is
    the textbook ``s/√n`` with ``n − 1`` degrees of freedom.
    """

    __slots__ = ("linear", "outputs", "rows", "square", "weight", "weight2")

    def __init__(self, outputs: int) -> None:
        self.outputs = outputs
        self.weight = CompensatedSum(1)
        self.weight2 = CompensatedSum(1)
        self.linear = CompensatedSum(outputs)
        self.square = CompensatedSum(outputs)
        self.rows = 0

    def add(self, d: Array, weights: Array | None) -> None:
        """Add a (k, n) block of values (row weights ``weights`` of shape (n,))."""
        n = d.shape[1]
        if n == 0:
            return
        if weights is None:
            self.weight.add(float(n))
            self.weight2.add(float(n))
        else:
            for part in exact_row_sums(np.stack([weights, weights * weights])):
                self.weight.add(part[0])
                self.weight2.add(part[1])
        # w·d and w·d² block by block in cache-sized buffers, each block's sums split exactly
        k = d.shape[0]
        width = min(n, _EXACT_BLOCK)
        linear, square = np.empty((k, width)), np.empty((k, width))
        for start in range(0, n, _EXACT_BLOCK):
            block = d[:, start : start + _EXACT_BLOCK]
            w = block.shape[1]
            sq = square[:, :w]
            if weights is None:
                lin = block
            else:
                lin = np.multiply(block, weights[start : start + w], out=linear[:, :w])
            np.multiply(lin, block, out=sq)
            for part in exact_row_sums(lin):
                self.linear.add(part)
            for part in exact_row_sums(sq):
                self.square.add(part)
        self.rows += n

    def merge(self, other: WeightedMoments) -> None:
        self.weight.merge(other.weight)
        self.weight2.merge(other.weight2)
        self.linear.merge(other.linear)
        self.square.merge(other.square)
        self.rows += other.rows

    def estimate(self, j: int = 0) -> NormalEstimate:
        w, w2 = _fraction(self.weight, 0), _fraction(self.weight2, 0)
        s1, s2 = _fraction(self.linear, j), _fraction(self.square, j)
        if not all(isinstance(v, Fraction) for v in (w, w2, s1, s2)) or w == 0:
            return NormalEstimate(math.nan, math.nan, 0.0, 0.0)
        assert isinstance(w, Fraction) and isinstance(w2, Fraction)
        assert isinstance(s1, Fraction) and isinstance(s2, Fraction)
        mean = s1 / w
        m2 = max(s2 - s1 * mean, Fraction(0))
        n_eff = w * w / w2
        if n_eff <= 1:
            return NormalEstimate(float(mean), math.nan, 0.0, float(n_eff))
        # se² = M2/W · n_eff/(n_eff − 1) / n_eff = M2 / (W·(n_eff − 1))
        se = math.sqrt(float(m2 / (w * (n_eff - 1))))
        return NormalEstimate(float(mean), se, float(n_eff - 1), float(n_eff))


# -- the Poisson bootstrap ----------------------------------------------------------------------
def _poisson_table() -> NDArray[np.uint8]:
    """Poisson(1) counts by inverse CDF for the 65,536 values of a 16-bit uniform:
    entry u is the smallest k with F(k) > (u + ½)/65536."""
    cdf = []
    total = 0.0
    for k in range(MAX_COUNT + 1):
        total += math.exp(-1.0) / math.factorial(k)
        cdf.append(total)
    cdf[-1] = 1.0
    u = (np.arange(1 << 16) + 0.5) / (1 << 16)
    return np.searchsorted(np.array(cdf), u, side="right").astype(np.uint8)


def unit_of(positions: NDArray[np.int64]) -> NDArray[np.int64]:
    """The resampling unit of each 0-based row position (see the module docstring)."""
    late = positions >= SINGLE_ROWS
    if not late.any():
        return positions
    out = positions.copy()
    out[late] = SINGLE_ROWS + (positions[late] - SINGLE_ROWS) // BLOCK_ROWS
    return out


class PoissonCounts:
    """Poisson(1) counts per (unit, replicate), keyed by ``(seed, unit, replicate)``.

    Units are drawn in streams of 1,024: stream ``s`` is NumPy's Philox4x64-10 with key
    ``seed`` and counter ``(0, s, 0, 0)``; its raw 64-bit outputs, read as little-endian 16-bit
    uniforms, give unit-major counts through a 16-bit inverse-CDF table. Philox is
    counter-based and its raw stream is fixed by NumPy's bit-generator compatibility policy,
    so the counts do not depend on how rows are chunked or grouped, nor on the machine.
    """

    def __init__(self, seed: int, replicates: int) -> None:
        self.seed = seed
        self.replicates = replicates
        self.table = _poisson_table()
        self._cache: dict[int, NDArray[np.uint8]] = {}

    def _stream(self, s: int) -> NDArray[np.uint8]:
        block = self._cache.get(s)
        if block is None:
            if len(self._cache) > 8:
                self._cache.clear()
            b = self.replicates
            generator = np.random.Philox(key=self.seed, counter=[0, s, 0, 0])
            words = -(-_UNITS_PER_STREAM * b // 4)
            raw = generator.random_raw(words).astype("<u8", copy=False)
            uniforms = raw.view("<u2")[: _UNITS_PER_STREAM * b]
            block = self.table[uniforms].reshape(_UNITS_PER_STREAM, b)
            self._cache[s] = block
        return block

    def counts(self, units: NDArray[np.int64]) -> Array:
        """(len(units), B) float64 counts for sorted unit ids."""
        return self.small_counts(units).astype(np.float64)

    def small_counts(self, units: NDArray[np.int64]) -> NDArray[np.uint8]:
        """(len(units), B) counts as uint8 (8× smaller) for sorted unit ids."""
        out = np.empty((len(units), self.replicates), dtype=np.uint8)
        if not len(units):
            return out
        streams = units // _UNITS_PER_STREAM
        bounds = np.flatnonzero(np.diff(streams)) + 1
        starts = [0, *bounds.tolist()]
        ends = [*bounds.tolist(), len(units)]
        for a, b in zip(starts, ends, strict=True):
            s = int(streams[a])
            out[a:b] = self._stream(s)[units[a:b] - s * _UNITS_PER_STREAM]
        return out


class ChunkCounts:
    """The counts of one chunk's units, drawn once and shared by the total and every group
    (a group's rows index into them instead of drawing their streams again)."""

    def __init__(self, counts: PoissonCounts, units: NDArray[np.int64]) -> None:
        self.units = np.unique(units)
        self.table = counts.small_counts(self.units)

    def counts(self, units: NDArray[np.int64]) -> Array:
        """(len(units), B) float64 counts of sorted units of this chunk."""
        return self.table[np.searchsorted(self.units, units)].astype(np.float64)


class ReplicateSums:
    """Per replicate, the Poisson-weighted sums of ``m`` per-row features.

    ``add(features, units, counts)`` adds ``Σ_rows count(unit(row), b) · feature(row)``: the
    features are split into exact parts (:func:`exact_sum_levels`), summed per unit and
    multiplied by the counts exactly (BLAS in any order), and accumulated in double-double
    (hi, lo) arrays, so the replicate sums agree across chunkings to the last digit except in
    the vanishingly rare case of a result within ~2⁻¹⁰⁰ of a rounding boundary.
    """

    __slots__ = ("hi", "lo", "rows")

    def __init__(self, features: int, replicates: int) -> None:
        self.hi = np.zeros((features, replicates))
        self.lo = np.zeros((features, replicates))
        self.rows = 0

    def _accumulate(self, x: Array) -> None:
        s = self.hi + x
        back = s - self.hi
        self.lo += (self.hi - (s - back)) + (x - back)
        self.hi = s

    def add(
        self,
        features: Array,
        unit_ids: NDArray[np.int64],
        counts: PoissonCounts | ChunkCounts,
    ) -> None:
        """Add (m, n) features of rows whose (sorted, non-decreasing) units are ``unit_ids``."""
        n = features.shape[1]
        # Pieces of at most _PIECE_ROWS rows bound the (units × B) count matrix and the parts
        # in memory; a unit cut by a piece boundary simply contributes twice (sums are linear).
        for start in range(0, n, _PIECE_ROWS):
            piece = features[:, start : start + _PIECE_ROWS]
            units = unit_ids[start : start + _PIECE_ROWS]
            bounds = np.flatnonzero(np.diff(units)) + 1
            starts = np.concatenate(([0], bounds))
            weights = counts.counts(units[starts])
            parts = exact_sum_levels(piece, factor=MAX_COUNT)
            m = piece.shape[0]
            # all parts in one product: the (units × B) counts are read once
            products = np.add.reduceat(np.concatenate(parts), starts, axis=1) @ weights
            for level in range(len(parts)):
                self._accumulate(products[level * m : (level + 1) * m])
        self.rows += n

    def merge(self, other: ReplicateSums) -> None:
        self._accumulate(other.hi)
        self._accumulate(other.lo)
        self.rows += other.rows

    @property
    def sums(self) -> Array:
        """(m, B) replicate sums."""
        out: Array = self.hi + self.lo
        return out
