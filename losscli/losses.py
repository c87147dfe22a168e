"""The Python API: ``mlx.nn.losses`` and scikit-learn regression metrics on NumPy float64.

The fourteen MLX losses keep MLX 0.32's names, argument names, order and defaults (so
``huber_loss`` defaults to ``reduction='none'`` and ``mse_loss`` to ``'mean'``); the regression
metrics keep scikit-learn's signatures and results. Inputs may be NumPy arrays, sequences,
pandas Series/DataFrames or pyarrow Arrays/ChunkedArrays/Tables; everything is computed in
float64 by the kernels in :mod:`losscli.kernels`. ``mean``/``sum`` results are ``np.float64``
scalars, ``none`` gives an array.

>>> float(mse_loss([1.0, 2.0], [0.0, 0.0]))
2.5
"""

from __future__ import annotations

import warnings
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from losscli import kernels as K
from losscli.stats import ExplainedVarianceState, R2State, explained_scores

Array = NDArray[np.float64]
Reduction = Literal["none", "mean", "sum"]
Multioutput = Literal["raw_values", "uniform_average"] | ArrayLike
Result = Array | np.float64

__all__ = [
    "binary_cross_entropy",
    "cosine_similarity_loss",
    "cross_entropy",
    "explained_variance_score",
    "gaussian_nll_loss",
    "hinge_loss",
    "huber_loss",
    "kl_div_loss",
    "l1_loss",
    "log_cosh_loss",
    "margin_ranking_loss",
    "max_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_gamma_deviance",
    "mean_pinball_loss",
    "mean_poisson_deviance",
    "mean_squared_log_error",
    "mean_tweedie_deviance",
    "median_absolute_error",
    "mse_loss",
    "nll_loss",
    "poisson_loss",
    "r2_score",
    "root_mean_squared_error",
    "root_mean_squared_log_error",
    "smooth_l1_loss",
    "triplet_loss",
]


# ---------------------------------------------------------------------------------------------
# Input conversion and the shared reduction
# ---------------------------------------------------------------------------------------------


def _arrow_to_numpy(x: Any) -> Array:
    """pyarrow Array/ChunkedArray/Table/RecordBatch → float64 (nulls become NaN).

    Reads the value buffer directly: ``Array.to_numpy()`` would import pandas (+0.45 s).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(x, pa.Table | pa.RecordBatch):
        cols = [_arrow_to_numpy(c) for c in x.columns]
        return np.column_stack(cols) if cols else np.empty((x.num_rows, 0))
    if isinstance(x, pa.ChunkedArray):
        parts = [_arrow_to_numpy(c) for c in x.chunks]
        return np.concatenate(parts) if parts else np.empty(0)
    arr = x.cast(pa.float64())
    if arr.null_count:
        arr = pc.fill_null(arr, float("nan"))
    values = arr.buffers()[1]
    if values is None:
        return np.full(len(arr), np.nan)
    return np.frombuffer(values, dtype=np.float64, count=len(arr), offset=arr.offset * 8)


def _as_float64(x: Any) -> Array:
    """Any supported array-like as a float64 NumPy array (pandas/pyarrow imported lazily)."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float64, copy=False)
    module = type(x).__module__
    if module.startswith("pyarrow"):
        return _arrow_to_numpy(x)
    if module.startswith("pandas"):
        return np.asarray(x.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    return np.asarray(x, dtype=np.float64)


def _reduce(loss: Array, reduction: Reduction = "none") -> Result:
    """Apply ``reduction`` (``'none'`` | ``'mean'`` | ``'sum'``) like MLX's ``_reduce``."""
    if reduction not in get_args(Reduction):
        raise ValueError(f"Invalid reduction. Must be one of {get_args(Reduction)}.")
    if reduction == "mean":
        return np.float64(np.mean(loss))
    if reduction == "sum":
        return np.float64(np.sum(loss))
    return loss


def _check_same_shape(a: Array, b: Array, a_name: str, b_name: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{a_name.capitalize()} shape {a.shape} does not match {b_name} shape {b.shape}."
        )


def _apply_weights(loss: Array, weights: ArrayLike | None) -> Array:
    if weights is None:
        return loss
    w = _as_float64(weights)
    if w.shape != loss.shape:
        raise ValueError(
            f"Weights with shape {w.shape} is not the same as output loss with shape {loss.shape}."
        )
    return np.multiply(loss, w, out=loss)


# ---------------------------------------------------------------------------------------------
# mlx.nn.losses
# ---------------------------------------------------------------------------------------------


def mse_loss(predictions: ArrayLike, targets: ArrayLike, reduction: Reduction = "mean") -> Result:
    """Mean squared error: ``(p − y)²``.

    >>> float(mse_loss([1.0, 2.0], [0.0, 0.0]))
    2.5
    """
    p, y = _as_float64(predictions), _as_float64(targets)
    _check_same_shape(p, y, "predictions", "targets")
    return _reduce(K.squared_error(p, y), reduction)


def l1_loss(predictions: ArrayLike, targets: ArrayLike, reduction: Reduction = "mean") -> Result:
    """L1 loss: ``|p − y|``.

    >>> float(l1_loss([1.0, -2.0], [0.0, 0.0]))
    1.5
    """
    p, y = _as_float64(predictions), _as_float64(targets)
    _check_same_shape(p, y, "predictions", "targets")
    return _reduce(K.l1(p, y), reduction)


def huber_loss(
    inputs: ArrayLike, targets: ArrayLike, delta: float = 1.0, reduction: Reduction = "none"
) -> Result:
    """Huber: ``0.5·a²`` if ``a ≤ δ`` else ``δ·(a − δ/2)``, ``a = |x − y|``.

    >>> huber_loss([0.5, 3.0], [0.0, 0.0]).tolist()
    [0.125, 2.5]
    """
    return _reduce(K.huber(_as_float64(inputs), _as_float64(targets), delta), reduction)


def smooth_l1_loss(
    predictions: ArrayLike,
    targets: ArrayLike,
    beta: float = 1.0,
    reduction: Reduction = "mean",
) -> Result:
    """Smooth L1: ``0.5·a²/β`` if ``a < β`` else ``a − β/2`` (``β = 0`` is L1).

    >>> smooth_l1_loss([0.5, 3.0], [0.0, 0.0], reduction="none").tolist()
    [0.125, 2.5]
    """
    p, y = _as_float64(predictions), _as_float64(targets)
    _check_same_shape(p, y, "predictions", "targets")
    return _reduce(K.smooth_l1(p, y, beta), reduction)


def log_cosh_loss(inputs: ArrayLike, targets: ArrayLike, reduction: Reduction = "none") -> Result:
    """Log-cosh: ``log(cosh(x − y))``, accurate for tiny and huge errors.

    >>> round(float(log_cosh_loss([1.0], [0.0])[0]), 6)
    0.433781
    """
    return _reduce(K.log_cosh(_as_float64(inputs), _as_float64(targets)), reduction)


def binary_cross_entropy(
    inputs: ArrayLike,
    targets: ArrayLike,
    weights: ArrayLike | None = None,
    with_logits: bool = True,
    reduction: Reduction = "mean",
) -> Result:
    """Binary cross-entropy on logits (default) or probabilities (log clamped at −100).

    Logits: ``max(x, 0) − x·y + log1p(exp(−|x|))``; probabilities:
    ``−(y·log p + (1−y)·log(1−p))``. ``weights`` multiply the elementwise loss.

    >>> round(float(binary_cross_entropy([0.0, 0.0], [0.0, 1.0])), 6)
    0.693147
    """
    x, y = _as_float64(inputs), _as_float64(targets)
    _check_same_shape(x, y, "inputs", "targets")
    loss = K.binary_cross_entropy(x, y, with_logits=with_logits)
    return _reduce(_apply_weights(loss, weights), reduction)


def cross_entropy(
    logits: ArrayLike,
    targets: ArrayLike,
    weights: ArrayLike | None = None,
    axis: int = -1,
    label_smoothing: float = 0.0,
    reduction: Reduction = "none",
) -> Result:
    """Softmax cross-entropy over ``axis`` with class-index or probability targets.

    ``logsumexp(z) − (1−ls)·z[target] − ls·mean(z)`` (for probability targets ``Σ z·t``
    replaces ``z[target]``), ``z = logits − max(logits)``.

    >>> cross_entropy([[2.0, -1.0], [-1.0, 2.0]], [0, 1]).round(6).tolist()
    [0.048587, 0.048587]
    """
    if label_smoothing < 0 or label_smoothing >= 1:
        raise ValueError(f"Label smoothing must be in [0, 1), got {label_smoothing}.")
    z, t = _as_float64(logits), _as_float64(targets)
    as_probs = t.ndim == z.ndim
    expected = z.shape if as_probs else z.shape[: axis % z.ndim] + z.shape[axis % z.ndim + 1 :]
    if t.shape != expected:
        raise ValueError(f"Targets shape {t.shape} does not match logits shape {z.shape}.")
    if not as_probs:
        bad = K.class_index_violations(t, z.shape[axis])
        if bad.any() or np.isnan(t).any():
            raise ValueError(f"Class-index targets must be integers in [0, {z.shape[axis]}).")
    loss = K.cross_entropy(z, t, axis=axis, label_smoothing=label_smoothing)
    return _reduce(_apply_weights(loss, weights), reduction)


def nll_loss(
    inputs: ArrayLike, targets: ArrayLike, axis: int = -1, reduction: Reduction = "none"
) -> Result:
    """Negative log-likelihood: ``−inputs[target]`` along ``axis`` (inputs are log-probs).

    >>> nll_loss([[-0.1, -2.3], [-1.2, -0.4]], [0, 1]).tolist()
    [0.1, 0.4]
    """
    x, t = _as_float64(inputs), _as_float64(targets)
    if K.class_index_violations(t, x.shape[axis]).any() or np.isnan(t).any():
        raise ValueError(f"Class-index targets must be integers in [0, {x.shape[axis]}).")
    return _reduce(K.nll(x, t, axis=axis), reduction)


def kl_div_loss(
    inputs: ArrayLike, targets: ArrayLike, axis: int = -1, reduction: Reduction = "none"
) -> Result:
    """KL divergence ``Σ exp(t)·(t − x)`` over ``axis``; both are log-probabilities.

    >>> kl_div_loss([[-1.0, -1.0]], [[0.0, 0.0]]).tolist()
    [2.0]
    """
    return _reduce(K.kl_div(_as_float64(inputs), _as_float64(targets), axis=axis), reduction)


def gaussian_nll_loss(
    inputs: ArrayLike,
    targets: ArrayLike,
    vars: ArrayLike,
    full: bool = False,
    eps: float = 1e-6,
    reduction: Reduction = "mean",
) -> Result:
    """Gaussian NLL: ``0.5·(log v + (x − y)²/v)`` with ``v = max(vars, eps)``, plus
    ``0.5·log 2π`` if ``full``.

    >>> float(gaussian_nll_loss([1.0], [3.0], [1.0]))
    2.0
    """
    x, y, v = _as_float64(inputs), _as_float64(targets), _as_float64(vars)
    _check_same_shape(x, y, "inputs", "targets")
    _check_same_shape(x, v, "inputs", "vars")
    return _reduce(K.gaussian_nll(x, y, v, full=full, eps=eps), reduction)


def hinge_loss(inputs: ArrayLike, targets: ArrayLike, reduction: Reduction = "none") -> Result:
    """Hinge: ``max(0, 1 − x·y)`` with labels as given (normally ±1).

    >>> hinge_loss([0.5, 2.0], [1.0, -1.0]).tolist()
    [0.5, 3.0]
    """
    return _reduce(K.hinge(_as_float64(inputs), _as_float64(targets)), reduction)


def margin_ranking_loss(
    inputs1: ArrayLike,
    inputs2: ArrayLike,
    targets: ArrayLike,
    margin: float = 0.0,
    reduction: Reduction = "none",
) -> Result:
    """Margin ranking: ``max(0, −y·(x1 − x2) + margin)``.

    >>> margin_ranking_loss([1.0, 1.0], [0.0, 0.0], [1.0, -1.0]).tolist()
    [0.0, 1.0]
    """
    x1, x2, y = _as_float64(inputs1), _as_float64(inputs2), _as_float64(targets)
    if not (x1.shape == x2.shape == y.shape):
        raise ValueError(
            "The shapes of the arguments do not match. The provided shapes are "
            f"inputs1.shape={x1.shape}, inputs2.shape={x2.shape}, and "
            f"targets.shape={y.shape}."
        )
    return _reduce(K.margin_ranking(x1, x2, y, margin), reduction)


def cosine_similarity_loss(
    x1: ArrayLike,
    x2: ArrayLike,
    axis: int = 1,
    eps: float = 1e-8,
    reduction: Reduction = "none",
) -> Result:
    """Cosine similarity ``Σ x1·x2 / max(‖x1‖·‖x2‖, eps)`` over ``axis`` (``+cos``, as MLX).

    >>> cosine_similarity_loss([[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, -3.0]]).tolist()
    [1.0, -1.0]
    """
    return _reduce(
        K.cosine_similarity(_as_float64(x1), _as_float64(x2), axis=axis, eps=eps), reduction
    )


def triplet_loss(
    anchors: ArrayLike,
    positives: ArrayLike,
    negatives: ArrayLike,
    axis: int = -1,
    p: int = 2,
    margin: float = 1.0,
    eps: float = 1e-6,
    reduction: Reduction = "none",
) -> Result:
    """Triplet: ``max(d(A, P) − d(A, N) + margin, 0)``, ``d = (Σ |·|^p + eps)^(1/p)``.

    >>> triplet_loss([[0.0, 0.0]], [[3.0, 4.0]], [[0.0, 0.0]], eps=0.0).tolist()
    [6.0]
    """
    a, pos, neg = _as_float64(anchors), _as_float64(positives), _as_float64(negatives)
    return _reduce(K.triplet(a, pos, neg, axis=axis, p=p, margin=margin, eps=eps), reduction)


# ---------------------------------------------------------------------------------------------
# scikit-learn regression metrics (and Keras poisson)
# ---------------------------------------------------------------------------------------------


def _check_reg_targets(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    sample_weight: ArrayLike | None,
    multioutput: Multioutput | None = "uniform_average",
) -> tuple[Array, Array, Array | None]:
    """As scikit-learn's: 1-D targets become one column; lengths, outputs and weights agree."""
    y, p = _as_float64(y_true), _as_float64(y_pred)
    if y.ndim > 2 or p.ndim > 2:
        raise ValueError(f"Expected 1-D or 2-D targets, got shapes {y.shape} and {p.shape}.")
    y = y.reshape(-1, 1) if y.ndim < 2 else y
    p = p.reshape(-1, 1) if p.ndim < 2 else p
    if y.shape[0] != p.shape[0]:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{y.shape[0]}, {p.shape[0]}]"
        )
    if y.shape[1] != p.shape[1]:
        raise ValueError(
            f"y_true and y_pred have different number of output ({y.shape[1]}!={p.shape[1]})"
        )
    w = None
    if sample_weight is not None:
        w = _as_float64(sample_weight)
        if w.ndim == 0:
            w = np.full(y.shape[0], float(w))
        if w.shape != (y.shape[0],):
            raise ValueError(f"sample_weight.shape == {w.shape}, expected {(y.shape[0],)}!")
    if isinstance(multioutput, str):
        allowed = ("raw_values", "uniform_average", "variance_weighted")
        if multioutput not in allowed:
            raise ValueError(
                f"Allowed 'multioutput' string values are {allowed}. "
                f"You provided multioutput={multioutput!r}"
            )
    elif multioutput is not None:
        mw = _as_float64(multioutput)
        if y.shape[1] == 1:
            raise ValueError("Custom weights are useful only in multi-output cases.")
        if mw.shape != (y.shape[1],):
            raise ValueError(
                f"There must be equally many custom weights ({mw.shape[0]}) "
                f"as outputs ({y.shape[1]})."
            )
    return y, p, w


def _column_mean(loss: Array, w: Array | None) -> Array:
    """Per-output weighted mean ``Σ w·l / Σ w`` (``np.average``, as scikit-learn)."""
    return np.asarray(np.average(loss, axis=0, weights=w), dtype=np.float64)


def _combine(output_errors: Array, multioutput: Multioutput) -> Result:
    """Per-output values → ``raw_values`` array or their (weighted) average."""
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return output_errors
        return np.float64(np.average(output_errors))
    return np.float64(np.average(output_errors, weights=_as_float64(multioutput)))


def _single_output(y: Array, name: str) -> None:
    if y.shape[1] != 1:
        raise ValueError(f"Multioutput not supported in {name}")


def mean_absolute_error(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    multioutput: Multioutput = "uniform_average",
) -> Result:
    """MAE: weighted mean of ``|p − y|`` per output, then averaged.

    >>> float(mean_absolute_error([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0]))
    0.5
    """
    y, p, w = _check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    return _combine(_column_mean(K.absolute_error(p, y), w), multioutput)


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
    y, p, w = _check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    return _combine(np.sqrt(_column_mean(K.squared_error(p, y), w)), multioutput)


def mean_absolute_percentage_error(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    multioutput: Multioutput = "uniform_average",
) -> Result:
    """MAPE as a fraction: mean of ``|p − y| / max(|y|, 2.22e-16)``.

    >>> float(mean_absolute_percentage_error([1.0, 2.0], [1.5, 1.0]))
    0.5
    """
    y, p, w = _check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    return _combine(_column_mean(K.absolute_percentage_error(p, y), w), multioutput)


def _msle_columns(y: Array, p: Array, w: Array | None, name: str) -> Array:
    if K.msle_violations(y).any() or K.msle_violations(p).any():
        raise ValueError(
            f"{name} cannot be used when targets contain values less than or equal to -1."
        )
    return _column_mean(K.squared_log_error(p, y), w)


def mean_squared_log_error(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    multioutput: Multioutput = "uniform_average",
) -> Result:
    """MSLE: mean of ``(log1p(p) − log1p(y))²``; values ≤ −1 raise ``ValueError``.

    >>> float(mean_squared_log_error([0.0, 3.0], [0.0, 0.0]))
    0.9609060278364028
    """
    y, p, w = _check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    cols = _msle_columns(y, p, w, "Mean Squared Logarithmic Error")
    return _combine(cols, multioutput)


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
    y, p, w = _check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    cols = _msle_columns(y, p, w, "Root Mean Squared Logarithmic Error")
    return _combine(np.sqrt(cols), multioutput)


def _explained_fraction(
    numerator: Array, denominator: Array, multioutput: Multioutput, force_finite: bool
) -> Result:
    """``1 − num/den`` per output; with ``force_finite`` a perfect fit is 1 and a constant
    target with imperfect predictions is 0 (scikit-learn), never NaN or −inf."""
    scores = explained_scores(numerator, denominator, force_finite=force_finite)
    if isinstance(multioutput, str) and multioutput == "variance_weighted":
        if not np.any(denominator != 0):
            return np.float64(np.average(scores))
        return np.float64(np.average(scores, weights=denominator))
    return _combine(scores, multioutput)


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
    (scikit-learn's ``force_finite=True``). Fewer than two samples give NaN with a warning.

    >>> float(r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]))
    0.5
    """
    y, p, w = _check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    if y.shape[0] < 2:
        warnings.warn("R^2 score is not well-defined with less than two samples.", stacklevel=2)
        return np.float64(np.nan)
    state = R2State(y.shape[1])  # the streaming statistic, fed once
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
    y, p, w = _check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    state = ExplainedVarianceState(y.shape[1])  # the streaming statistic, fed once
    state.update({"pred": np.ascontiguousarray(p.T), "target": np.ascontiguousarray(y.T)}, w)
    return _explained_fraction(*state.parts(), multioutput, force_finite)


def max_error(y_true: ArrayLike, y_pred: ArrayLike) -> np.float64:
    """Largest absolute residual ``max |y − p|`` (single output only).

    >>> float(max_error([3.0, 2.0, 7.0, 1.0], [4.0, 2.0, 7.0, 1.0]))
    1.0
    """
    y, p, _ = _check_reg_targets(y_true, y_pred, None, None)
    _single_output(y, "max_error")
    return np.float64(np.max(K.absolute_error(y, p)))


def mean_pinball_loss(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    alpha: float = 0.5,
    multioutput: Multioutput = "uniform_average",
) -> Result:
    """Pinball / quantile loss: mean of ``α·max(y − p, 0) + (1 − α)·max(p − y, 0)``.

    >>> float(mean_pinball_loss([1.0, 2.0, 3.0], [0.0, 2.0, 3.0], alpha=0.1))
    0.03333333333333333
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    y, p, w = _check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    return _combine(_column_mean(K.pinball(p, y, alpha), w), multioutput)


def poisson_loss(y_true: ArrayLike, y_pred: ArrayLike) -> Result:
    """Keras ``poisson``: mean over the last axis of ``p − y·log(p + 1e-7)``.

    >>> round(float(poisson_loss([1.0, 0.0], [1.0, 2.0])), 6)
    1.5
    """
    y, p = _as_float64(y_true), _as_float64(y_pred)
    loss = np.mean(K.poisson(p, y), axis=-1)
    return np.float64(loss) if np.ndim(loss) == 0 else np.asarray(loss, dtype=np.float64)


def mean_tweedie_deviance(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    power: float = 0,
) -> np.float64:
    """Mean Tweedie deviance with ``power`` ≤ 0 or ≥ 1 (0 normal, 1 Poisson, 2 gamma).

    Domains (scikit-learn): power < 0 needs p > 0; 1 ≤ power < 2 needs y ≥ 0, p > 0;
    power ≥ 2 needs y > 0, p > 0. Violations raise ``ValueError``.

    >>> round(float(mean_tweedie_deviance([2, 0, 1, 4], [0.5, 0.5, 2.0, 2.0], power=1)), 4)
    1.426
    """
    if 0 < power < 1:
        raise ValueError(f"power must be <= 0 or >= 1, got {power}.")
    y, p, w = _check_reg_targets(y_true, y_pred, sample_weight, None)
    _single_output(y, "mean_tweedie_deviance")
    message = f"Mean Tweedie deviance error with power={power} can only be used on "
    if K.tweedie_pred_violations(p, power).any() or K.tweedie_target_violations(y, power).any():
        if power < 0:
            raise ValueError(message + "strictly positive y_pred.")
        if power < 2:
            raise ValueError(message + "non-negative y and strictly positive y_pred.")
        raise ValueError(message + "strictly positive y and y_pred.")
    dev = K.tweedie_deviance(p, y, power)
    return np.float64(np.average(dev, weights=None if w is None else w[:, None]))


def mean_poisson_deviance(
    y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> np.float64:
    """Mean Poisson deviance ``2·(y·log(y/p) − y + p)`` (Tweedie power 1).

    >>> round(float(mean_poisson_deviance([2, 0, 1, 4], [0.5, 0.5, 2.0, 2.0])), 4)
    1.426
    """
    return mean_tweedie_deviance(y_true, y_pred, sample_weight=sample_weight, power=1)


def mean_gamma_deviance(
    y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> np.float64:
    """Mean gamma deviance ``2·(log(p/y) + y/p − 1)`` (Tweedie power 2).

    >>> round(float(mean_gamma_deviance([2, 0.5, 1, 4], [0.5, 0.5, 2.0, 2.0])), 4)
    1.0569
    """
    return mean_tweedie_deviance(y_true, y_pred, sample_weight=sample_weight, power=2)


def _weighted_median(values: Array, w: Array) -> Array:
    """Per-column weighted median, scikit-learn's ``averaged_inverted_cdf``: where the half
    weight falls exactly on a data point, average it with the next positively weighted one."""
    order = np.argsort(values, axis=0)
    out = np.empty(values.shape[1], dtype=np.float64)
    for j in range(values.shape[1]):
        v = values[order[:, j], j]
        cdf = np.cumsum(w[order[:, j]])
        if cdf[-1] == 0:
            out[j] = np.nan
            continue
        half = 0.5 * cdf[-1]
        last = len(v) - 1
        i = min(int(np.searchsorted(cdf, half)), last)
        if cdf[i] - half > np.finfo(np.float64).eps:
            out[j] = v[i]
        else:
            nxt = int(np.searchsorted(cdf, cdf[i], side="right"))
            out[j] = (v[i] + v[nxt if nxt <= last else i]) / 2
    return out


def median_absolute_error(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    multioutput: Multioutput = "uniform_average",
    sample_weight: ArrayLike | None = None,
) -> Result:
    """Median of ``|p − y|`` per output (weighted: averaged inverted CDF), then averaged.

    >>> float(median_absolute_error([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0]))
    0.5
    """
    y, p, w = _check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    errors = K.absolute_error(p, y)
    if w is None:
        cols = np.asarray(np.median(errors, axis=0), dtype=np.float64)
    else:
        cols = _weighted_median(errors, w)
    return _combine(cols, multioutput)
