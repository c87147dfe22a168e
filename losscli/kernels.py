"""Elementwise loss kernels: pure functions of NumPy float64 arrays.

Each kernel returns the unreduced loss (reduction is a separate, shared step) and accepts an
optional preallocated ``out`` buffer (and, where a second buffer saves a temporary, ``scratch``)
so the streaming engine can reuse memory chunk after chunk. Buffers must have the broadcast shape
of the inputs; ``out`` is returned. Kernels over a vector axis (cross entropy, NLL, KL, cosine
similarity, triplet) take ``axis`` and return the input shape with that axis removed; the engine
calls them on column blocks of shape ``(k, n)`` with ``axis=0``.
Notation: ``e = pred - target``, ``a = |e|``.

Domain checks (which values make a loss undefined) are at the end of the module; kernels never
check, so a violated domain yields NaN/inf rather than an error.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
    Mask = NDArray[np.bool_]
else:
    Array = np.ndarray
    Mask = np.ndarray


#: scikit-learn's MAPE floor for ``|y|``: ``np.finfo(np.float64).eps`` (2.220446049250313e-16).
MAPE_EPS = float(np.finfo(np.float64).eps)
#: Keras ``backend.epsilon()``, added to the predicted rate inside the Poisson log.
POISSON_EPS = 1e-7
#: log(cosh a) is computed as ``log1p(cosh m − 1) + (a − m)`` with ``m = min(a, 20)``.
#: Beyond 20 the dropped term ``log1p(e^{−2a}) − log1p(e^{−40})`` is below 4.3e-18, far under
#: half an ulp of the result (≥ 19.3), and expm1(20) is nowhere near overflow.
_LOGCOSH_CLAMP = 20.0
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _scratch(buf: Array | None, *arrays: Array) -> Array:
    """``buf``, or a new float64 buffer of the inputs' broadcast shape."""
    if buf is not None:
        return buf
    return np.empty(np.broadcast_shapes(*(np.shape(x) for x in arrays)), dtype=np.float64)


def _vsum(x: Array, axis: int) -> Array:
    """Sum over ``axis``; einsum is 2-3× faster than ``x.sum(axis)`` for a short last axis."""
    return np.asarray(np.einsum("i...->...", np.moveaxis(x, axis, 0)), dtype=np.float64)


def _vdot(x: Array, y: Array, axis: int) -> Array:
    """``sum(x·y)`` over ``axis`` without materialising the product."""
    return np.asarray(
        np.einsum("i...,i...->...", np.moveaxis(x, axis, 0), np.moveaxis(y, axis, 0)),
        dtype=np.float64,
    )


# ---------------------------------------------------------------------------------------------
# Regression losses (MLX / PyTorch / Keras)
# ---------------------------------------------------------------------------------------------


def squared_error(pred: Array, target: Array, *, out: Array | None = None) -> Array:
    """``e²`` — the elementwise term of MSE."""
    out = np.subtract(pred, target, out=out)
    return np.multiply(out, out, out=out)


def absolute_error(pred: Array, target: Array, *, out: Array | None = None) -> Array:
    """``a = |e|`` — the elementwise term of L1 / MAE."""
    out = np.subtract(pred, target, out=out)
    return np.abs(out, out=out)


#: MLX ``l1_loss`` term: the same kernel as :func:`absolute_error`.
l1 = absolute_error


def huber(
    pred: Array,
    target: Array,
    delta: float = 1.0,
    *,
    out: Array | None = None,
    scratch: Array | None = None,
    scratch2: Array | None = None,
) -> Array:
    """Huber: ``0.5·a²`` if ``a ≤ δ`` else ``δ·(a − δ/2)`` (MLX = PyTorch = Keras).

    Computed branch-free as ``m = min(a, δ); (a − m/2)·m``, which rounds exactly like the
    two-branch formula (halving is exact, and ``a − a/2 = a/2``) and is several times faster
    than ``np.where``: six passes, with ``m/2`` kept beside ``m`` instead of rescaled.
    """
    a = absolute_error(pred, target, out=out)
    m = np.clip(a, 0.0, delta, out=_scratch(scratch, pred, target))  # NaN stays NaN
    h = np.multiply(m, 0.5, out=_scratch(scratch2, pred, target))
    np.subtract(a, h, out=a)  # a − m/2
    return np.multiply(a, m, out=a)


def smooth_l1(
    pred: Array,
    target: Array,
    beta: float = 1.0,
    *,
    out: Array | None = None,
    scratch: Array | None = None,
    scratch2: Array | None = None,
) -> Array:
    """Smooth L1 = huber(β)/β: ``0.5·a²/β`` if ``a < β`` else ``a − β/2``; ``β = 0`` is L1.

    Branch-free as ``(a − m/2)·(m/β)`` with ``m = min(a, β)``: on the linear side ``m/β`` is
    exactly 1, so ``a − β/2`` rounds exactly as in MLX/PyTorch. ``m/β`` is a multiplication
    by ``1/β`` when β is a power of two (exact, and none at all for the default β = 1).
    """
    a = absolute_error(pred, target, out=out)
    if beta == 0:
        return a
    m = np.clip(a, 0.0, beta, out=_scratch(scratch, pred, target))
    h = np.multiply(m, 0.5, out=_scratch(scratch2, pred, target))
    np.subtract(a, h, out=a)  # a − m/2
    if math.frexp(beta)[0] != 0.5:  # β not a power of two: divide, correctly rounded
        np.divide(m, beta, out=m)
    elif beta != 1:
        np.multiply(m, 1.0 / beta, out=m)
    return np.multiply(a, m, out=a)


def log_cosh(
    pred: Array,
    target: Array,
    *,
    out: Array | None = None,
    scratch: Array | None = None,
) -> Array:
    """``log(cosh e)``, within 2 ulp of the exact value everywhere and never overflowing.

    ``log cosh a = log1p(x)`` with ``x = cosh a − 1 = expm1(a)·(−expm1(−a))/2``: no cancellation
    for tiny ``a`` (≈ a²/2), and the product of two accurate factors beats ``2·sinh²(a/2)``
    (≤ 2 ulp against ≤ 3). Beyond ``a = 20`` it is ``log cosh 20 + (a − 20)``, which equals
    ``a − log 2 + log1p(e^{−2a})`` to far below an ulp and keeps ``expm1`` finite.
    """
    m = absolute_error(pred, target, out=out)
    large = bool(np.greater(m, _LOGCOSH_CLAMP).any())  # else the (a − 20)₊ tail is all zero
    np.minimum(m, _LOGCOSH_CLAMP, out=m)
    s = np.negative(m, out=_scratch(scratch, pred, target))
    np.expm1(s, out=s)  # expm1(−m) ∈ (−1, 0]
    np.expm1(m, out=m)
    np.multiply(m, s, out=m)
    np.multiply(m, -0.5, out=m)  # cosh m − 1
    np.log1p(m, out=m)
    if large:  # add a − min(a, 20) = max(a − 20, 0)
        absolute_error(pred, target, out=s)
        np.subtract(s, _LOGCOSH_CLAMP, out=s)
        np.maximum(s, 0.0, out=s)
        np.add(m, s, out=m)
    return m


def gaussian_nll(
    inputs: Array,
    targets: Array,
    vars: Array,
    *,
    full: bool = False,
    eps: float = 1e-6,
    out: Array | None = None,
    scratch: Array | None = None,
) -> Array:
    """Gaussian NLL (MLX): ``0.5·(log v + e²/v) [+ 0.5·log 2π]`` with ``v = max(vars, eps)``."""
    v = np.maximum(vars, eps, out=_scratch(scratch, inputs, targets, vars))
    out = squared_error(targets, inputs, out=_scratch(out, inputs, targets, vars))
    np.divide(out, v, out=out)
    np.log(v, out=v)
    np.add(v, out, out=out)
    np.multiply(out, 0.5, out=out)
    if full:
        np.add(out, _HALF_LOG_2PI, out=out)
    return out


# ---------------------------------------------------------------------------------------------
# Classification and ranking losses (MLX)
# ---------------------------------------------------------------------------------------------


def binary_cross_entropy(
    inputs: Array,
    targets: Array,
    *,
    with_logits: bool = True,
    out: Array | None = None,
    scratch: Array | None = None,
) -> Array:
    """Binary cross-entropy with logits ``x`` or probabilities ``p`` and targets ``y``.

    Logits: ``max(x, 0) − x·y + log1p(exp(−|x|))`` (stable for any ``x``; exact 0 for a
    confident right answer). Probabilities: ``−(y·max(log p, −100) + (1−y)·max(log(1−p), −100))``
    like MLX and PyTorch (``log(1−p)`` is evaluated as ``log1p(−p)``).
    """
    s = _scratch(scratch, inputs, targets)
    if with_logits:
        out = np.multiply(inputs, targets, out=out)
        np.maximum(inputs, 0.0, out=s)
        np.subtract(s, out, out=s)  # max(x, 0) − x·y
        np.abs(inputs, out=out)
        np.negative(out, out=out)
        np.exp(out, out=out)
        np.log1p(out, out=out)
        return np.add(out, s, out=out)
    # A = max(log p, −100), B = max(log(1−p), −100); loss = y·(B − A) − B.
    with np.errstate(divide="ignore"):
        out = np.log(inputs, out=_scratch(out, inputs, targets))
        np.negative(inputs, out=s)
        np.log1p(s, out=s)
    np.maximum(out, -100.0, out=out)
    np.maximum(s, -100.0, out=s)
    np.subtract(s, out, out=out)
    np.multiply(out, targets, out=out)
    return np.subtract(out, s, out=out)


def cross_entropy(
    logits: Array,
    targets: Array,
    *,
    axis: int = -1,
    label_smoothing: float = 0.0,
) -> Array:
    """Softmax cross-entropy over ``axis`` (MLX), with ``z = logits − max(logits)``:

    ``logsumexp(z) − (1−ls)·score − ls·mean(z)`` where ``score`` is ``z[target]`` for class-index
    targets (``targets.ndim == logits.ndim − 1``, float or int) or ``Σ z·targets`` for
    probability targets (same shape as ``logits``). ``logsumexp(z)`` is evaluated as
    ``log1p(Σ_{j ≠ argmax} e^{z_j})``, so a confident right answer keeps full relative accuracy.
    """
    top = np.expand_dims(np.argmax(logits, axis=axis), axis)
    z = np.subtract(logits, np.take_along_axis(logits, top, axis))
    if targets.ndim == logits.ndim:
        score = _vdot(z, targets, axis)
    else:
        idx = np.expand_dims(np.asarray(targets).astype(np.intp, copy=False), axis)
        score = np.take_along_axis(z, idx, axis).squeeze(axis)
    smoothed = None
    if label_smoothing > 0:
        smoothed = np.multiply(np.mean(z, axis=axis), -label_smoothing)
        np.multiply(score, 1.0 - label_smoothing, out=score)
    np.exp(z, out=z)
    np.put_along_axis(z, top, 0.0, axis)  # the max's own e^0 = 1 becomes the "1 +" of log1p
    loss = _vsum(z, axis)
    np.log1p(loss, out=loss)
    np.subtract(loss, score, out=loss)
    if smoothed is not None:
        np.add(loss, smoothed, out=loss)
    return loss


def nll(inputs: Array, targets: Array, *, axis: int = -1) -> Array:
    """Negative log-likelihood (MLX): ``−inputs[target]`` along ``axis``; inputs are log-probs."""
    idx = np.expand_dims(np.asarray(targets).astype(np.intp, copy=False), axis)
    loss = np.take_along_axis(inputs, idx, axis).squeeze(axis)  # a fresh array
    return np.negative(loss, out=loss)


def kl_div(inputs: Array, targets: Array, *, axis: int = -1) -> Array:
    """KL divergence (MLX): ``Σ exp(t)·(t − x)`` over ``axis``; both are log-probabilities."""
    d = np.subtract(targets, inputs)
    return _vdot(np.exp(targets), d, axis)


def hinge(inputs: Array, targets: Array, *, out: Array | None = None) -> Array:
    """Hinge (MLX): ``max(0, 1 − x·y)`` with labels used as given (normally ±1)."""
    out = np.multiply(inputs, targets, out=out)
    np.subtract(1.0, out, out=out)
    return np.maximum(out, 0.0, out=out)


def margin_ranking(
    inputs1: Array,
    inputs2: Array,
    targets: Array,
    margin: float = 0.0,
    *,
    out: Array | None = None,
) -> Array:
    """Margin ranking (MLX): ``max(0, −y·(x1 − x2) + margin)``."""
    out = np.subtract(inputs1, inputs2, out=out)
    np.multiply(out, targets, out=out)
    np.subtract(margin, out, out=out)
    return np.maximum(out, 0.0, out=out)


def cosine_similarity(x1: Array, x2: Array, *, axis: int = -1, eps: float = 1e-8) -> Array:
    """Cosine similarity (MLX, ``+cos``): ``Σ x1·x2 / max(‖x1‖·‖x2‖, eps)`` over ``axis``."""
    n1 = np.sqrt(_vdot(x1, x1, axis))
    n2 = np.sqrt(_vdot(x2, x2, axis))
    np.multiply(n1, n2, out=n1)
    np.maximum(n1, eps, out=n1)
    dot = _vdot(x1, x2, axis)
    return np.divide(dot, n1, out=dot)


def _p_distance(x: Array, y: Array, axis: int, p: float, eps: float) -> Array:
    d = np.subtract(x, y)
    np.abs(d, out=d)
    if p == 2:
        np.multiply(d, d, out=d)
    elif p != 1:
        np.power(d, p, out=d)
    s = _vsum(d, axis)
    np.add(s, eps, out=s)
    if p == 2:
        return np.sqrt(s, out=s)
    return s if p == 1 else np.power(s, 1.0 / p, out=s)


def triplet(
    anchors: Array,
    positives: Array,
    negatives: Array,
    *,
    axis: int = -1,
    p: float = 2,
    margin: float = 1.0,
    eps: float = 1e-6,
) -> Array:
    """Triplet (MLX): ``max(d(A, P) − d(A, N) + margin, 0)`` over ``axis``,
    with ``d(x, y) = (Σ |x − y|^p + eps)^(1/p)``."""
    loss = _p_distance(anchors, positives, axis, p, eps)
    np.subtract(loss, _p_distance(anchors, negatives, axis, p, eps), out=loss)
    np.add(loss, margin, out=loss)
    return np.maximum(loss, 0.0, out=loss)


# ---------------------------------------------------------------------------------------------
# Regression-metric terms (scikit-learn, Keras)
# ---------------------------------------------------------------------------------------------


def absolute_percentage_error(
    pred: Array,
    target: Array,
    *,
    out: Array | None = None,
    scratch: Array | None = None,
) -> Array:
    """MAPE term (scikit-learn, a fraction): ``|e| / max(|y|, 2.22e-16)``."""
    out = absolute_error(pred, target, out=out)
    s = np.abs(target, out=_scratch(scratch, pred, target))
    np.maximum(s, MAPE_EPS, out=s)
    return np.divide(out, s, out=out)


def squared_log_error(
    pred: Array,
    target: Array,
    *,
    out: Array | None = None,
    scratch: Array | None = None,
) -> Array:
    """MSLE term: ``(log1p(p) − log1p(y))²``; values ≤ −1 are the caller's to reject."""
    out = np.log1p(pred, out=_scratch(out, pred, target))
    s = np.log1p(target, out=_scratch(scratch, pred, target))
    np.subtract(out, s, out=out)
    return np.multiply(out, out, out=out)


def pinball(
    pred: Array,
    target: Array,
    alpha: float = 0.5,
    *,
    out: Array | None = None,
    scratch: Array | None = None,
) -> Array:
    """Pinball / quantile loss (scikit-learn): ``α·max(y−p, 0) + (1−α)·max(p−y, 0)``.

    Branch-free as ``max(α·d, (α−1)·d)`` with ``d = y − p``, bit-identical to scikit-learn's.
    """
    out = np.subtract(target, pred, out=out)
    s = np.multiply(out, alpha - 1.0, out=_scratch(scratch, pred, target))
    np.multiply(out, alpha, out=out)
    return np.maximum(out, s, out=out)


def poisson(
    pred: Array,
    target: Array,
    *,
    out: Array | None = None,
) -> Array:
    """Keras ``poisson`` term: ``p − y·log(p + 1e-7)``."""
    out = np.add(pred, POISSON_EPS, out=_scratch(out, pred, target))
    np.log(out, out=out)
    np.multiply(out, target, out=out)
    return np.subtract(pred, out, out=out)


def tweedie_deviance(
    pred: Array,
    target: Array,
    power: float = 0.0,
    *,
    out: Array | None = None,
    scratch: Array | None = None,
) -> Array:
    """Unit Tweedie deviance (scikit-learn ``_mean_tweedie_deviance``, same evaluation order):

    - ``power = 0``: ``(y − p)²``
    - ``power = 1``: ``2·(y·log(y/p) − y + p)`` with ``0·log 0 = 0`` (Poisson)
    - ``power = 2``: ``2·(log(p/y) + y/p − 1)`` (gamma)
    - otherwise: ``2·(y₊^(2−q)/((1−q)(2−q)) − y·p^(1−q)/(1−q) + p^(2−q)/(2−q))`` with
      ``y₊ = max(y, 0)`` for ``q < 0`` (else ``y``). Powers in (0, 1) are undefined.
    """
    q = float(power)
    if 0 < q < 1:
        raise ValueError(f"Tweedie power must be <= 0 or >= 1, got {power}.")
    if q == 0:
        return squared_error(pred, target, out=out)
    if q == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.divide(target, pred, out=out)
            np.log(out, out=out)
            np.multiply(out, target, out=out)
        np.copyto(out, 0.0, where=np.equal(target, 0.0))  # xlogy: 0·log 0 = 0
        np.subtract(out, target, out=out)
        np.add(out, pred, out=out)
        return np.multiply(out, 2.0, out=out)
    s = _scratch(scratch, pred, target)
    if q == 2:
        out = np.divide(pred, target, out=out)
        np.log(out, out=out)
        np.divide(target, pred, out=s)
        np.add(out, s, out=out)
        np.subtract(out, 1.0, out=out)
        return np.multiply(out, 2.0, out=out)
    out = _scratch(out, pred, target)
    np.power(np.maximum(target, 0.0, out=out) if q < 0 else target, 2.0 - q, out=out)
    np.divide(out, (1.0 - q) * (2.0 - q), out=out)
    np.power(pred, 1.0 - q, out=s)
    np.multiply(target, s, out=s)
    np.divide(s, 1.0 - q, out=s)
    np.subtract(out, s, out=out)
    np.power(pred, 2.0 - q, out=s)
    np.divide(s, 2.0 - q, out=s)
    np.add(out, s, out=out)
    return np.multiply(out, 2.0, out=out)


def poisson_deviance(
    pred: Array, target: Array, *, out: Array | None = None, scratch: Array | None = None
) -> Array:
    """Unit Poisson deviance: ``2·(y·log(y/p) − y + p)`` (Tweedie power 1)."""
    return tweedie_deviance(pred, target, 1.0, out=out, scratch=scratch)


def gamma_deviance(
    pred: Array, target: Array, *, out: Array | None = None, scratch: Array | None = None
) -> Array:
    """Unit gamma deviance: ``2·(log(p/y) + y/p − 1)`` (Tweedie power 2)."""
    return tweedie_deviance(pred, target, 2.0, out=out, scratch=scratch)


# ---------------------------------------------------------------------------------------------
# Domain checks: each returns a boolean mask, True where a value is outside the loss's domain.
# NaN is never flagged (NaN policy is the engine's); ``np.flatnonzero(mask)[:1]`` or
# ``mask.argmax()`` (after ``mask.any()``) gives the first offending row.
# ---------------------------------------------------------------------------------------------


def msle_violations(values: Array) -> Mask:
    """MSLE / RMSLE: predictions and targets must be > −1 (scikit-learn rejects ``≤ −1``)."""
    return np.less_equal(values, -1.0)


def tweedie_pred_violations(pred: Array, power: float = 0.0) -> Mask:
    """Tweedie deviance predictions (scikit-learn): any real for power 0, else must be > 0."""
    if power == 0:
        return np.zeros(np.shape(pred), dtype=np.bool_)
    return np.less_equal(pred, 0.0)


def tweedie_target_violations(target: Array, power: float = 0.0) -> Mask:
    """Tweedie deviance targets (scikit-learn): any real for power ≤ 0, ``≥ 0`` for
    1 ≤ power < 2 (Poisson, compound Poisson), ``> 0`` for power ≥ 2 (gamma, inverse Gaussian)."""
    if power <= 0:
        return np.zeros(np.shape(target), dtype=np.bool_)
    if power < 2:
        return np.less(target, 0.0)
    return np.less_equal(target, 0.0)


def variance_violations(vars: Array) -> Mask:
    """Gaussian NLL variances must be ≥ 0 (MLX clamps small ones to ``eps``, not negative ones)."""
    return np.less(vars, 0.0)


def probability_violations(probs: Array) -> Mask:
    """Probabilities (binary cross-entropy on probabilities) must lie in [0, 1]."""
    return np.less(probs, 0.0) | np.greater(probs, 1.0)


def class_index_violations(targets: Array, n_classes: int) -> Mask:
    """Class-index targets must be whole numbers in ``[0, n_classes)``."""
    fractional = np.greater(np.abs(np.subtract(targets, np.trunc(targets))), 0.0)
    return np.less(targets, 0.0) | np.greater_equal(targets, n_classes) | fractional


def poisson_pred_violations(pred: Array) -> Mask:
    """Keras Poisson needs ``p + 1e-7 > 0`` for its logarithm to be finite."""
    return np.less_equal(np.add(pred, POISSON_EPS), 0.0)
