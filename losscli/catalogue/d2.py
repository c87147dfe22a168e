"""scikit-learn's D² scores, the fraction of deviance explained:
``d2_absolute_error_score``, ``d2_pinball_score`` (α) and ``d2_tweedie_score`` (power).

``D² = 1 − D(y, p) / D(y, null)`` per output, then the uniform mean over outputs, with D the
weighted mean pinball loss (null model: the weighted α-quantile of the targets, scikit-learn's
averaged inverted CDF) or the mean Tweedie deviance (null model: the weighted mean target).
The null model is known only after the last row, so the state keeps the targets (and weights):
8 bytes per row and output, plus 8 per row with ``--weight``. Kernels, state, registry entries
and the Python API side by side."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from losscli.catalogue.api import check_reg_targets, combine
from losscli.catalogue.distributions import _tweedie_checks, _tweedie_power, tweedie_deviance
from losscli.catalogue.regression import pinball
from losscli.catalogue.spec import Param, Params, float_in, metric, np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from losscli.catalogue.api import Multioutput, Result
    from losscli.stats import LossState, Per, Reduction, Value

    Array = NDArray[np.float64]

__all__ = ["d2_absolute_error_score", "d2_pinball_score", "d2_tweedie_score"]

_EPS = 2.220446049250313e-16  # np.finfo(np.float64).eps


# -- kernels ----------------------------------------------------------------------------------


def weighted_percentile(values: Array, weights: Array, q: float) -> Array:
    """Per column of ``values`` (n, k): scikit-learn's ``_weighted_percentile(values, weights,
    100·q, average=True)``. Sort; the weight CDF's first index reaching ``q·W`` is the answer,
    unless the CDF lands on ``q·W`` exactly (within eps), where it is averaged with the next
    value of positive weight (NumPy's ``averaged_inverted_cdf`` for unit weights)."""
    n, k = values.shape
    out = np.empty(k, dtype=np.float64)
    for j in range(k):
        order = np.argsort(values[:, j], kind="stable")
        v = values[order, j]
        w = weights[order]
        cdf = np.cumsum(w)
        total = cdf[-1]
        if np.all(w == 0):
            out[j] = np.nan
            continue
        rank = q * 100 / 100 * total  # scikit-learn's percentile_rank / 100 · total
        if rank == 0:
            rank = np.nextafter(rank, rank + 1)
        i = min(int(np.searchsorted(cdf, rank)), n - 1)
        if cdf[i] - rank > _EPS:
            out[j] = v[i]
            continue
        nxt = min(i + 1, n - 1)
        if w[nxt] == 0:
            nxt = int(np.searchsorted(cdf, cdf[i], side="right"))
            if nxt > n - 1:
                nxt = i
        out[j] = (v[i] + v[nxt]) / 2
    return out


def explained_fraction(numerator: Array, denominator: Array, *, force_finite: bool) -> Array:
    """``1 − num/den`` per output; with scikit-learn's ``force_finite`` a zero numerator scores 1
    and a zero denominator (with a non-zero numerator) 0."""
    if not force_finite:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(1.0 - numerator / denominator, dtype=np.float64)
    out = np.ones(numerator.shape, dtype=np.float64)
    valid = (denominator != 0) & (numerator != 0)
    out[valid] = 1.0 - numerator[valid] / denominator[valid]
    out[(numerator != 0) & (denominator == 0)] = 0.0
    return out


def _weighted_sums(losses: Array, weights: Array | None) -> Array:
    """Exact per-column ``Σ w·l`` of (n, k) losses (math.fsum: correctly rounded)."""
    if weights is not None:
        losses = losses * weights[:, None]
    return np.array([math.fsum(losses[:, j].tolist()) for j in range(losses.shape[1])])


# -- the state --------------------------------------------------------------------------------


class D2State:
    """Keeps targets, predictions' deviance sums and weights; ``compute`` finds the null model
    and returns ``1 − D(y, p)/D(y, null)`` per output, then their uniform mean.

    ``kind`` is ``"pinball"`` (parameter α) or ``"tweedie"`` (parameter power)."""

    def __init__(self, outputs: int, kind: str, parameter: float) -> None:
        self.outputs = outputs
        self.kind = kind
        self.parameter = parameter
        self.targets: list[Array] = []
        self.preds: list[Array] = []
        self.weights: list[Array] = []
        self.weighted = False
        self.rows = 0

    def _deviance(self, pred: Array, target: Array) -> Array:
        if self.kind == "pinball":
            return pinball(pred, target, self.parameter)
        with np.errstate(divide="ignore", invalid="ignore"):
            return tweedie_deviance(pred, target, self.parameter)

    def update(self, inputs: dict[str, Array], weights: Array | None) -> None:
        target = inputs["target"]
        self.targets.append(np.array(target.T, copy=True))
        self.preds.append(np.array(inputs["pred"].T, copy=True))
        n = target.shape[1]
        if weights is not None:
            self.weighted = True
        self.weights.append(np.ones(n) if weights is None else np.array(weights, copy=True))
        self.rows += n

    def merge(self, other: LossState) -> None:
        assert isinstance(other, D2State)
        self.targets.extend(other.targets)
        self.preds.extend(other.preds)
        self.weights.extend(other.weights)
        self.weighted = self.weighted or other.weighted
        self.rows += other.rows

    def scores(self) -> Array:
        if self.rows < 2:  # scikit-learn: "not well-defined with less than two samples"
            return np.full(self.outputs, np.nan)
        y = np.concatenate(self.targets)
        p = np.concatenate(self.preds)
        w = np.concatenate(self.weights)
        weights = w if self.weighted else None
        if self.kind == "pinball":
            null = weighted_percentile(y, w, self.parameter)
        else:
            null = _weighted_sums(y, weights) / math.fsum(w.tolist())
        numerator = _weighted_sums(self._deviance(p, y), weights)
        denominator = _weighted_sums(self._deviance(np.broadcast_to(null, y.shape), y), weights)
        # d2_pinball/d2_absolute_error force finite scores; d2_tweedie returns 1 − num/den
        return explained_fraction(numerator, denominator, force_finite=self.kind == "pinball")

    def compute(self, reduction: Reduction, per: Per) -> Value:
        scores = self.scores()
        if per == "output":
            return [float(v) for v in scores]
        return float(np.mean(scores))


def _state(kind: str, param: str | None) -> Any:
    def make(outputs: int, params: Params) -> D2State:
        return D2State(outputs, kind, 0.5 if param is None else params[param])

    return make


# -- registry entries -------------------------------------------------------------------------

MEMORY = "keeps the targets: 8 bytes per row and output (+8 per row with --weight)"

LOSSES = (
    metric(
        name="d2_absolute_error",
        summary="D² absolute error: fraction of absolute error explained (higher is better)",
        formula="1 − Σw·|y − p| / Σw·|y − median_w(y)| per output, then the mean over outputs",
        api="d2_absolute_error_score",
        make_state=_state("pinball", None),
        higher_is_better=True,
        streams_exactly=False,
        memory_note=MEMORY,
        aliases=("d2_absolute_error_score",),
        reference="sklearn d2_absolute_error_score",
    ),
    metric(
        name="d2_pinball",
        summary="D² pinball score: fraction of pinball loss explained (higher is better)",
        formula="1 − pinball_α(y, p) / pinball_α(y, q_α,w(y)) per output, then the mean over outputs",
        api="d2_pinball_score",
        params=(
            Param(
                "alpha",
                0.5,
                "the quantile α",
                valid=float_in(0.0, 1.0, low_open=False, high_open=False),
                valid_text="in [0, 1]",
            ),
        ),
        make_state=_state("pinball", "alpha"),
        higher_is_better=True,
        streams_exactly=False,
        memory_note=MEMORY,
        aliases=("d2_pinball_score",),
        reference="sklearn d2_pinball_score",
    ),
    metric(
        name="d2_tweedie",
        summary="D² Tweedie score: fraction of Tweedie deviance explained (higher is better)",
        formula="1 − D_power(y, p) / D_power(y, ȳ_w) per output, then the mean over outputs",
        api="d2_tweedie_score",
        params=(
            Param("power", 0.0, "Tweedie power", valid=_tweedie_power, valid_text="≤ 0 or ≥ 1"),
        ),
        make_state=_state("tweedie", "power"),
        checks=_tweedie_checks("power"),
        higher_is_better=True,
        streams_exactly=False,
        memory_note=MEMORY,
        aliases=("d2_tweedie_score",),
        reference="sklearn d2_tweedie_score (several outputs: per output, then the mean)",
    ),
)


# -- Python API -------------------------------------------------------------------------------


def _scores(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    sample_weight: ArrayLike | None,
    multioutput: Multioutput,
    kind: str,
    parameter: float,
) -> Result:
    y, p, w = check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    state = D2State(y.shape[1], kind, parameter)
    state.update({"target": y.T, "pred": p.T}, w)
    return combine(state.scores(), multioutput)


def d2_pinball_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    alpha: float = 0.5,
    multioutput: Multioutput = "uniform_average",
) -> Result:
    """D² pinball score (scikit-learn): ``1 − pinball(y, p) / pinball(y, q_α(y))``.

    >>> float(d2_pinball_score([1.0, 2.0, 3.0], [1.0, 3.0, 3.0], alpha=0.9))
    0.6666666666666667
    """
    return _scores(y_true, y_pred, sample_weight, multioutput, "pinball", alpha)


def d2_absolute_error_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    multioutput: Multioutput = "uniform_average",
) -> Result:
    """D² absolute error (scikit-learn): ``1 − Σ|y − p| / Σ|y − median(y)|``.

    >>> float(d2_absolute_error_score([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0]))
    0.7647058823529411
    """
    return _scores(y_true, y_pred, sample_weight, multioutput, "pinball", 0.5)


def d2_tweedie_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    power: float = 0,
) -> Result:
    """D² Tweedie score (scikit-learn, one output): ``1 − D(y, p) / D(y, ȳ)``.

    >>> float(d2_tweedie_score([0.5, 1.0, 2.5, 7.0], [1.0, 1.0, 5.0, 3.5], power=1))
    0.4879151349031142
    """
    if 0 < power < 1:
        raise ValueError(f"Tweedie power must be <= 0 or >= 1, got {power}.")
    y, p, w = check_reg_targets(y_true, y_pred, sample_weight, None)
    if y.shape[1] != 1:
        raise ValueError("Multioutput not supported in d2_tweedie_score")
    return _scores(y, p, w, "uniform_average", "tweedie", power)
