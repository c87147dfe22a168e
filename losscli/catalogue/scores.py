"""scikit-learn's regression scores that are not plain means: RMSE, RMSLE, R², explained variance
and max error, streamed through their own states (the median absolute error is in
:mod:`losscli.catalogue.quantiles`)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Literal

from losscli.catalogue.api import (
    UndefinedMetricWarning,
    check_reg_targets,
    column_mean,
    combine,
    single_output,
)
from losscli.catalogue.regression import (
    MSLE_CHECKS,
    absolute_error,
    msle_columns,
    squared_error,
    squared_log_error,
)
from losscli.catalogue.spec import (
    LossSpec,
    metric,
    module_on_first_use,
    np,
    pair,
    state_of,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from losscli import stats
    from losscli.catalogue.api import Multioutput, Result

    Array = NDArray[np.float64]
    Mask = NDArray[np.bool_]

#: The Python API functions of this family (re-exported by :mod:`losscli.losses`).
__all__ = [
    "explained_variance_score",
    "max_error",
    "r2_score",
    "root_mean_squared_error",
    "root_mean_squared_log_error",
]


# -- registry entries -------------------------------------------------------------------------


LOSSES: tuple[LossSpec, ...] = (
    metric(
        name="rmse",
        summary="root mean squared error",
        formula="√(Σw·e²/Σw) per output, then the mean over outputs",
        api="root_mean_squared_error",
        elementwise=pair(squared_error, scratch=0),
        make_state=state_of("RootMeanState"),
        aliases=("root_mean_squared_error",),
        reference="sklearn root_mean_squared_error, keras RootMeanSquaredError",
    ),
    metric(
        name="rmsle",
        summary="root mean squared logarithmic error",
        formula="√mean((log1p(p) − log1p(y))²) per output, then the mean over outputs",
        api="root_mean_squared_log_error",
        elementwise=pair(squared_log_error),
        make_state=state_of("RootMeanState"),
        checks=MSLE_CHECKS,
        aliases=("root_mean_squared_log_error",),
        reference="sklearn root_mean_squared_log_error",
    ),
    metric(
        name="r2",
        summary="coefficient of determination R² (higher is better)",
        formula="1 − Σw·e² / Σw·(y − ȳ)² per output, then the mean over outputs",
        api="r2_score",
        make_state=state_of("R2State"),
        higher_is_better=True,
        aliases=("r2_score", "r_squared"),
        reference="sklearn r2_score (force_finite=True)",
        notes="streamed exactly with Chan's merge of weighted moments",
    ),
    metric(
        name="explained_variance",
        summary="explained variance score (higher is better)",
        formula="1 − Var(y − p) / Var(y) per output, then the mean over outputs",
        api="explained_variance_score",
        make_state=state_of("ExplainedVarianceState"),
        higher_is_better=True,
        aliases=("explained_variance_score", "ev"),
        reference="sklearn explained_variance_score (force_finite=True)",
    ),
    metric(
        name="max_error",
        summary="largest absolute error",
        formula="max a",
        api="max_error",
        elementwise=pair(absolute_error, scratch=0),
        make_state=state_of("MaxState"),
        weighted=False,
        aliases=("max_abs_error",),
        reference="sklearn max_error",
    ),
)


# -- Python API -------------------------------------------------------------------------------


def root_mean_squared_error(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    multioutput: Multioutput = "uniform_average",
) -> Result:
    """RMSE: ``sqrt(mean((p − y)²))`` per output, then averaged (scikit-learn).

    >>> float(root_mean_squared_error([0.0, 0.0], [3.0, 4.0]))
    3.5355339059327378
    """
    y, p, w = check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    return combine(np.sqrt(column_mean(squared_error(p, y), w)), multioutput)


def root_mean_squared_log_error(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    multioutput: Multioutput = "uniform_average",
) -> Result:
    """RMSLE: ``sqrt(MSLE)`` per output, then averaged.

    >>> float(root_mean_squared_log_error([0.0, 3.0], [0.0, 0.0]))
    0.9802581434685471
    """
    y, p, w = check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    cols = msle_columns(y, p, w, "Root Mean Squared Logarithmic Error")
    return combine(np.sqrt(cols), multioutput)


def _explained_fraction(
    numerator: Array, denominator: Array, multioutput: Multioutput, force_finite: bool
) -> Result:
    """``1 − num/den`` per output; with ``force_finite`` a perfect fit is 1 and a constant
    target with imperfect predictions is 0 (scikit-learn), never NaN or −inf."""
    scores = stats.explained_scores(numerator, denominator, force_finite=force_finite)
    if isinstance(multioutput, str) and multioutput == "variance_weighted":
        if not np.any(denominator != 0):
            return np.float64(np.average(scores))
        return np.float64(np.average(scores, weights=denominator))
    return combine(scores, multioutput)


def r2_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    multioutput: Multioutput | Literal["variance_weighted"] = "uniform_average",
    force_finite: bool = True,
) -> Result:
    """R²: ``1 − Σ w·(y − p)² / Σ w·(y − ȳ)²`` per output, then averaged.

    Constant targets (zero denominator) score 1.0 if predicted perfectly, else 0.0
    (scikit-learn's ``force_finite=True``). Fewer than two samples give NaN with an
    :class:`UndefinedMetricWarning`. NaN or ±inf in any input is a ``ValueError``.

    >>> float(r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]))
    0.5
    """
    y, p, w = check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    if y.shape[0] < 2:
        warnings.warn(
            "R^2 score is not well-defined with less than two samples.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return np.float64(np.nan)
    state = stats.R2State(y.shape[1])  # the streaming statistic, fed once
    state.update({"pred": np.ascontiguousarray(p.T), "target": np.ascontiguousarray(y.T)}, w)
    return _explained_fraction(*state.parts(), multioutput, force_finite)


def explained_variance_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    multioutput: Multioutput | Literal["variance_weighted"] = "uniform_average",
    force_finite: bool = True,
) -> Result:
    """Explained variance: ``1 − Var_w(y − p) / Var_w(y)`` per output, then averaged.

    >>> float(explained_variance_score([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]))
    1.0
    """
    y, p, w = check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    state = stats.ExplainedVarianceState(y.shape[1])  # the streaming statistic, fed once
    state.update({"pred": np.ascontiguousarray(p.T), "target": np.ascontiguousarray(y.T)}, w)
    return _explained_fraction(*state.parts(), multioutput, force_finite)


def max_error(y_true: ArrayLike, y_pred: ArrayLike) -> np.float64:
    """Largest absolute residual ``max |y − p|`` (single output only).

    >>> float(max_error([3.0, 2.0, 7.0, 1.0], [4.0, 2.0, 7.0, 1.0]))
    1.0
    """
    y, p, _ = check_reg_targets(y_true, y_pred, None, None)
    single_output(y, "max_error")
    return np.float64(np.max(absolute_error(y, p)))


if not TYPE_CHECKING:
    stats = module_on_first_use("losscli.stats")  # NumPy-backed: loaded by a call, not by --help
