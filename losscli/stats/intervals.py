"""Confidence-interval statistics: streamed, mergeable and independent of chunking (NumPy only).

Two kinds of state, both fed chunk by chunk and merged by addition:

* :class:`WeightedMoments` — ``Σw, Σw², Σw·d, Σw·d²`` per output, each sum exact until its final
  rounding (:func:`exact_sum_levels` + :class:`~losscli.stats.sums.CompensatedSum`), so any
  chunking or grouping gives the same digits. :meth:`WeightedMoments.estimate` gives the
  weighted mean, its standard error with Kish's effective sample size ``n_eff = (Σw)²/Σw²``
  and ``n_eff − 1`` degrees of freedom: a t interval (normal for large ``n_eff``).
* :class:`ReplicateSums` — a Poisson bootstrap. Every row gets a Poisson(1) weight per
  replicate from a counter-based generator keyed by ``(seed, row position)``
  (:class:`PoissonWeights`); a replicate's sufficient statistics are ``Σ_rows weight·features``.
  Weights depend on the row's position only, never on the chunk: the same rows get the same
  weights in any chunking, grouping, thread or machine, and a piece of rows draws its own
  weights without the rest. The cost is ``rows × B`` draws and multiply-adds.
* :class:`ReplicateMax` — the same weights for a maximum: per replicate the largest value
  over the rows drawn at least once.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from losscli.stats.sums import CompensatedSum

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
else:
    Array = np.ndarray

#: Rows per piece of the bootstrap: a piece's (rows × B) float64 weights stay in cache
#: (800 KB at B = 200) and below the size where each allocation maps fresh pages.
PIECE_ROWS = 512
#: Weights a piece holds at most (PIECE_ROWS × B ≤ this): large ``--bootstrap`` counts take
#: fewer rows per piece, so memory does not grow with B.
_PIECE_WEIGHTS = 1 << 18
#: uint8 weights a grouped batch draws at once at most (a batch is cut into parts beyond).
_GROUPED_WEIGHTS = 1 << 24
#: Rows per batch of the bootstrap (its threads' unit of work): features are split into exact
#: parts once per batch, for sums of up to this many rows, so its pieces' products add exactly.
BATCH_ROWS = 1 << 16
#: Largest Poisson count the 16-bit inverse-CDF table can give (P(k ≥ 9) rounds to 0 slots).
MAX_COUNT = 8


# -- exact sums ---------------------------------------------------------------------------------
def exact_sum_levels(
    x: Array, *, factor: int = 1, levels: int = 2, terms: int | None = None
) -> list[Array]:
    """Split each row of a (k, n) block into ``levels`` exact parts plus a remainder.

    Rump–Ogita–Oishi extraction: with ``σ = 2^e ≥ 2·factor·terms·max|x|`` the part
    ``h = (σ + x) − σ`` is ``x`` rounded to a multiple of ``ulp(σ)`` and ``x − h`` is exact, so
    any sum of up to ``terms`` (default ``n``) parts, even multiplied by integers up to
    ``factor``, is computed exactly in float64 in any order (pairwise, BLAS, per group).
    Returns ``levels + 1`` arrays of shape (k, n): the parts and the (tiny) remainder; their
    exact sum equals ``x``. Non-finite rows are returned unsplit (their sums are non-finite).
    """
    x = np.asarray(x, dtype=np.float64)
    k, n = x.shape
    out: list[Array] = []
    rest = x
    bits = (max(n if terms is None else terms, 1) * factor).bit_length() + 1
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


@functools.lru_cache(maxsize=1 << 14)  # groups of equal size share df: one solve each
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
        density = _t_density(t, df)
        if not density > 0:  # far in a heavy tail (df ≪ 1): the density underflowed
            if t > 1e300:
                return math.inf  # the quantile is beyond float64: the interval is unbounded
            t = t * 1e10 if t_cdf(t, df) < p else t / 2
            continue
        step = (t_cdf(t, df) - p) / density
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
        return moments_estimate(
            _fraction(self.weight, 0),
            _fraction(self.weight2, 0),
            _fraction(self.linear, j),
            _fraction(self.square, j),
        )


def moments_estimate(
    w: Fraction | float, w2: Fraction | float, s1: Fraction | float, s2: Fraction | float
) -> NormalEstimate:
    """The t estimate of a weighted mean from its exact sums ``Σw, Σw², Σw·d, Σw·d²`` (a float
    among them is non-finite: no estimate); see :class:`WeightedMoments`."""
    if not all(isinstance(v, Fraction) for v in (w, w2, s1, s2)) or w == 0 or w2 == 0:
        return NormalEstimate(math.nan, math.nan, 0.0, 0.0)  # w2: subnormal w² underflow
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


class PoissonWeights:
    """Poisson(1) weights per (row, replicate), keyed by ``(seed, row position)``.

    Row ``r`` (0-based position in the input) owns the ``S = ⌈B/16⌉`` Philox4x64-10 counter
    values ``r·S + 1 … r·S + S`` under the key ``seed`` (NumPy's ``Philox``, whose raw stream
    is fixed by its bit-generator compatibility policy); their 4·S 64-bit outputs, read as
    little-endian 16-bit uniforms, give the row's first ``B`` uniforms, each mapped to a count
    through a 16-bit inverse-CDF table. Any run of rows is one contiguous counter range, so a
    piece of any chunk draws its own rows' weights independently: the same row gets the same
    weights whatever the chunking, grouping, thread or machine.
    """

    def __init__(self, seed: int, replicates: int) -> None:
        self.seed = seed
        self.replicates = replicates
        self.steps = -(-replicates // 16)
        self.table = _poisson_table()
        #: rows per piece: :data:`PIECE_ROWS`, fewer for large B (memory bounded, not by B)
        self.piece_rows = max(1, min(PIECE_ROWS, _PIECE_WEIGHTS // replicates))
        self._float_table: Array | None = None

    def _uniforms(self, start: int, rows: int) -> NDArray[np.uint16]:
        generator = np.random.Philox(key=self.seed, counter=[start * self.steps, 0, 0, 0])
        raw = generator.random_raw(rows * self.steps * 4).astype("<u8", copy=False)
        out: NDArray[np.uint16] = raw.view("<u2").reshape(rows, self.steps * 16)
        return out[:, : self.replicates]

    def counts(self, start: int, rows: int) -> NDArray[np.uint8]:
        """(rows, B) counts of the rows at positions ``start … start + rows − 1``."""
        out: NDArray[np.uint8] = self.table.take(self._uniforms(start, rows))
        return out

    def float_counts(self, start: int, rows: int, out: Array) -> Array:
        """:meth:`counts` as float64, written into ``out`` (a reused buffer: a fresh one
        would be a fresh mapping of memory, whose page faults cost more than the lookup)."""
        view = out[:rows]
        if self._float_table is None:
            self._float_table = self.table.astype(np.float64)
        np.take(self._float_table, self._uniforms(start, rows), out=view, mode="wrap")
        return view


#: Arrays :func:`exact_sum_levels` gives by default (two exact parts and a remainder).
_LEVELS = 3


def split_parts(x: Array) -> Array:
    """Exact parts of a (m, n) batch of features for :func:`replicate_products`: the
    :func:`exact_sum_levels` parts, (levels × m, n), level-major, on a grid where any sum of
    up to :data:`BATCH_ROWS` parts times Poisson counts is exact."""
    return np.concatenate(exact_sum_levels(x, factor=MAX_COUNT, terms=BATCH_ROWS))


def replicate_products(parts: Array, counts: Array) -> Array:
    """``Σ_rows count(row, b) · part(row)`` for each part row and replicate b: exact, since
    the parts sit on a grid where any such sum is representable (BLAS, in any order)."""
    out: Array = parts @ counts
    return out


#: A group with at least this many rows in a batch gets its own product (BLAS); smaller ones
#: are summed together, :data:`_SMALL_ROWS` rows at a time, by ``reduceat``.
_GROUP_GEMM_ROWS = 8
_SMALL_ROWS = 1024


def group_products(
    parts: Array, counts: NDArray[np.uint8], codes: NDArray[np.intp]
) -> tuple[NDArray[np.intp], Array]:
    """:func:`replicate_products` per group of a batch's rows (``codes``: group per row;
    ``counts``: the rows' (n, B) weights): the groups present (ascending) and their products,
    (groups, part rows, B). The rows are sorted by group once per batch, so a group's rows
    are one slice and its product one BLAS call; groups too small for that are summed
    together. Every product is exact, so neither the order nor the grouping shows."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    bounds = np.flatnonzero(np.diff(ordered)) + 1
    starts = np.concatenate(([0], bounds))
    sizes = np.diff(np.concatenate((starts, [len(order)])))
    gids = ordered[starts]
    if len(starts) == 1:
        return gids, replicate_products(parts, counts.astype(np.float64))[None]
    parts, counts = parts[:, order], counts[order]
    out = np.empty((len(starts), parts.shape[0], counts.shape[1]))
    small = sizes < _GROUP_GEMM_ROWS
    for j in np.flatnonzero(~small).tolist():
        a, b = int(starts[j]), int(starts[j] + sizes[j])
        out[j] = 0.0
        step = 4 * max(1, min(PIECE_ROWS, _PIECE_WEIGHTS // counts.shape[1]))
        for c in range(a, b, step):  # float64 weights a few pieces at a time
            d = min(c + step, b)
            out[j] += parts[:, c:d] @ counts[c:d].astype(np.float64)
    small_groups = np.flatnonzero(small)
    if len(small_groups):
        group_of_row = np.repeat(np.arange(len(starts)), sizes)
        ends = np.cumsum(sizes[small_groups])
        cuts = np.searchsorted(ends, np.arange(_SMALL_ROWS, ends[-1], _SMALL_ROWS))
        for block in np.split(small_groups, np.unique(cuts)):
            if not len(block):
                continue
            chosen = np.zeros(len(starts), dtype=bool)
            chosen[block] = True
            rows = np.flatnonzero(chosen[group_of_row])
            heads = np.concatenate(([0], np.cumsum(sizes[block])[:-1]))
            sub = counts[rows].astype(np.float64)
            for i, p in enumerate(parts[:, rows]):  # each group's rows summed exactly
                out[block, i] = np.add.reduceat(sub * p[:, None], heads, axis=0)
    return gids, out


class BatchProducts(NamedTuple):
    """A batch's exact replicate products: of the part rows ``kept`` (the others are zero),
    over all its rows (``total``, (kept, B)) and per group (``gids``, (groups, kept, B))."""

    kept: NDArray[np.intp]
    total: Array
    gids: NDArray[np.intp] | None
    groups: Array | None


def batch_products(
    features: Array,
    weights: PoissonWeights,
    start: int,
    codes: NDArray[np.intp] | None = None,
    buffer: Array | None = None,
) -> BatchProducts:
    """The products of a (m, n ≤ :data:`BATCH_ROWS`) batch of features of the rows at positions
    ``start …``: split once, then piece by piece (weights drawn into ``buffer``, a reused
    (piece rows, B) array), the pieces' exact products added exactly. With group
    ``codes`` the batch's weights are drawn whole (uint8) and :func:`group_products` sums each
    group; the total is the exact sum of the groups'."""
    n = features.shape[1]
    parts = split_parts(features)
    kept = np.flatnonzero(parts.any(axis=1))  # a weight of ones needs one part, not three
    parts = parts[kept]
    rows = weights.piece_rows
    if buffer is None:
        buffer = np.empty((rows, weights.replicates))
    if codes is not None:  # weights of the whole batch (uint8), its rows sorted by group once
        part_rows = max(rows, _GROUPED_WEIGHTS // weights.replicates)
        gids = groups = None
        for b in range(0, n, part_rows):
            e = min(b + part_rows, n)
            whole = np.empty((e - b, weights.replicates), dtype=np.uint8)
            for a in range(b, e, rows):
                whole[a - b : a - b + rows] = weights.counts(start + a, min(rows, e - a))
            present, products = group_products(parts[:, b:e], whole, codes[b:e])
            if gids is None or groups is None:
                gids, groups = present, products
            else:  # products of one batch share its grid: they add exactly
                union = np.union1d(gids, present)
                merged = np.zeros((len(union), *products.shape[1:]))
                merged[np.searchsorted(union, gids)] += groups
                merged[np.searchsorted(union, present)] += products
                gids, groups = union, merged
        assert gids is not None and groups is not None
        return BatchProducts(kept, groups.sum(axis=0), gids, groups)  # exact sums
    total = np.zeros((len(kept), weights.replicates))
    for a in range(0, n, rows):
        piece = parts[:, a : a + rows]
        drawn = weights.float_counts(start + a, piece.shape[1], buffer)
        total += replicate_products(piece, drawn)
    return BatchProducts(kept, total, None, None)


class ReplicateSums:
    """Per replicate, the Poisson-weighted sums ``Σ_rows count(row, b) · feature(row)`` of
    ``m`` per-row features.

    The features are split into exact parts (:func:`split_parts`) whose weighted sums are
    exact in any order (:func:`replicate_products`); each part's sums are accumulated in
    double-double (hi, lo) arrays, so the replicate sums agree across chunkings, groupings and
    threads to the last digit except in the vanishingly rare case of a result within ~2⁻¹⁰⁰ of
    a rounding boundary.
    """

    __slots__ = ("hi", "lo")

    def __init__(self, features: int, replicates: int) -> None:
        self.hi = np.zeros((features, replicates))
        self.lo = np.zeros((features, replicates))

    def _accumulate(self, x: Array) -> None:
        s = self.hi + x
        back = s - self.hi
        self.lo += (self.hi - (s - back)) + (x - back)
        self.hi = s

    def add_products(self, products: Array, kept: NDArray[np.intp]) -> None:
        """Add a piece's :func:`replicate_products` of the part rows ``kept`` (of
        :func:`split_parts`)."""
        m = self.hi.shape[0]
        full = np.zeros((_LEVELS * m, self.hi.shape[1]))
        full[kept] = products
        for level in range(_LEVELS):
            self._accumulate(full[level * m : (level + 1) * m])

    def add(self, features: Array, weights: PoissonWeights, start: int) -> None:
        """Add (m, n) features of the rows at positions ``start …`` (batch by batch)."""
        for a in range(0, features.shape[1], BATCH_ROWS):
            batch = batch_products(features[:, a : a + BATCH_ROWS], weights, start + a)
            self.add_products(batch.total, batch.kept)

    def merge(self, other: ReplicateSums) -> None:
        self._accumulate(other.hi)
        self._accumulate(other.lo)

    @property
    def sums(self) -> Array:
        """(m, B) replicate sums."""
        out: Array = self.hi + self.lo
        return out


def _two_sum_into(hi: Array, lo: Array, x: Array) -> None:
    """``(hi, lo) += x`` in double-double, in place (Knuth's TwoSum: ``hi + x`` is split
    into its rounded sum and the exact error, which goes to ``lo``)."""
    s = hi + x
    back = s - hi
    error = x - back
    np.subtract(s, back, out=back)
    np.subtract(hi, back, out=back)
    lo += back
    lo += error
    hi[...] = s


class GroupedReplicateSums:
    """:class:`ReplicateSums` for many groups at once: (groups, m, B) double-double arrays,
    grown as group codes turn up; a piece's groups are added in one vectorised step."""

    __slots__ = ("hi", "lo")

    def __init__(self, features: int, replicates: int) -> None:
        self.hi = np.zeros((0, features, replicates))
        self.lo = np.zeros((0, features, replicates))

    def _grow(self, size: int) -> None:
        if size > len(self.hi):
            extra = max(size, 2 * len(self.hi)) - len(self.hi)
            pad = np.zeros((extra, *self.hi.shape[1:]))
            self.hi = np.concatenate([self.hi, pad])
            self.lo = np.concatenate([self.lo, pad])

    def add_products(self, gids: NDArray[np.intp], products: Array, kept: NDArray[np.intp]) -> None:
        """Add the :func:`group_products` of distinct ascending groups ``gids``."""
        self._grow(int(gids[-1]) + 1)
        m = self.hi.shape[1]
        full = np.zeros((len(gids), _LEVELS * m, self.hi.shape[2]))
        full[:, kept] = products
        span = int(gids[-1]) - int(gids[0]) + 1
        at: slice | NDArray[np.intp] = gids
        if span == len(gids):  # consecutive codes (the usual case): views, no gather/scatter
            at = slice(int(gids[0]), int(gids[-1]) + 1)
        hi, lo = self.hi[at], self.lo[at]
        for level in sorted(set((kept // m).tolist())):
            _two_sum_into(hi, lo, full[:, level * m : (level + 1) * m])
        if not isinstance(at, slice):
            self.hi[at], self.lo[at] = hi, lo

    def merge(self, other: GroupedReplicateSums, remap: NDArray[np.intp]) -> None:
        """Add another pass's groups, whose code ``g`` is ``remap[g]`` here."""
        n = min(len(other.hi), len(remap))
        if n == 0:
            return
        targets = remap[:n]
        self._grow(int(targets.max()) + 1)
        hi, lo = self.hi[targets], self.lo[targets]
        for x in (other.hi[:n], other.lo[:n]):
            s = hi + x
            back = s - hi
            lo += (hi - (s - back)) + (x - back)
            hi = s
        self.hi[targets], self.lo[targets] = hi, lo

    def sums(self, gid: int) -> Array | None:
        """(m, B) replicate sums of group ``gid`` (None if it has no rows here)."""
        if gid >= len(self.hi):
            return None
        out: Array = self.hi[gid] + self.lo[gid]
        return out


# -- the bootstrap of a maximum -----------------------------------------------------------------
def _drawn_maxima(x: Array, drawn: NDArray[np.bool_], heads: NDArray[np.intp] | None) -> Array:
    """Per feature row and replicate, the largest value over the rows drawn at least once
    (−inf where none is): (m, B), or (m, groups, B) over the row runs starting at ``heads``."""
    out = []
    for row in x:
        masked = np.where(drawn, row[:, None], -np.inf)
        out.append(masked.max(axis=0) if heads is None else np.maximum.reduceat(masked, heads))
    return np.stack(out)


class BatchMaxima(NamedTuple):
    """A batch's replicate maxima: over all its rows, (m, B), and per group, (groups, m, B)."""

    total: Array
    gids: NDArray[np.intp] | None
    groups: Array | None


def batch_maxima(
    features: Array, weights: PoissonWeights, start: int, codes: NDArray[np.intp] | None = None
) -> BatchMaxima:
    """Per replicate the maximum of each of ``m`` features (m, n) over the rows at positions
    ``start …`` whose Poisson weight is not zero: the bootstrap of ``max_error``, streamed (a
    maximum of maxima is the maximum, in any order)."""
    n = features.shape[1]
    total = np.full((features.shape[0], weights.replicates), -np.inf)
    gids = groups = None
    if codes is not None:
        gids = np.unique(codes)
        groups = np.full((len(gids), features.shape[0], weights.replicates), -np.inf)
    for a in range(0, n, weights.piece_rows):
        piece = features[:, a : a + weights.piece_rows]
        drawn = weights.counts(start + a, piece.shape[1]) > 0
        np.maximum(total, _drawn_maxima(piece, drawn, None), out=total)
        if codes is not None:
            assert gids is not None and groups is not None
            piece_codes = codes[a : a + weights.piece_rows]
            order = np.argsort(piece_codes, kind="stable")
            ordered = piece_codes[order]
            heads = np.concatenate(([0], np.flatnonzero(np.diff(ordered)) + 1))
            maxima = _drawn_maxima(piece[:, order], drawn[order], heads)  # (m, groups, B)
            at = np.searchsorted(gids, ordered[heads])
            groups[at] = np.maximum(groups[at], maxima.transpose(1, 0, 2))
    return BatchMaxima(total, gids, groups)


class ReplicateMaxima:
    """Per replicate the running maxima of ``m`` features, for the total and per group."""

    __slots__ = ("groups", "total")

    def __init__(self, features: int, replicates: int) -> None:
        self.total = np.full((features, replicates), -np.inf)
        self.groups = np.full((0, features, replicates), -np.inf)

    def _grow(self, size: int) -> None:
        if size > len(self.groups):
            extra = max(size, 2 * len(self.groups)) - len(self.groups)
            pad = np.full((extra, *self.groups.shape[1:]), -np.inf)
            self.groups = np.concatenate([self.groups, pad])

    def add(self, batch: BatchMaxima) -> None:
        np.maximum(self.total, batch.total, out=self.total)
        if batch.gids is None or batch.groups is None:
            return
        self._grow(int(batch.gids.max()) + 1)
        self.groups[batch.gids] = np.maximum(self.groups[batch.gids], batch.groups)

    def merge(self, other: ReplicateMaxima, remap: NDArray[np.intp] | None) -> None:
        """Take another pass's maxima (its group ``g`` is ``remap[g]`` here)."""
        np.maximum(self.total, other.total, out=self.total)
        n = 0 if remap is None else min(len(other.groups), len(remap))
        if remap is not None and n:
            self._grow(int(remap[:n].max()) + 1)
            targets = remap[:n]
            self.groups[targets] = np.maximum(self.groups[targets], other.groups[:n])

    def group(self, gid: int) -> Array | None:
        return self.groups[gid] if gid < len(self.groups) else None
