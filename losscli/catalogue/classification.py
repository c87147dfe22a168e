"""Classification losses: binary and softmax cross-entropy, NLL, KL divergence, hinge.

Kernels over a class axis take ``axis`` and drop it; targets are class indices or one probability
column per class. Kernels, registry entries and the Python API side by side."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from losscli.catalogue.api import apply_weights, as_float64, check_same_shape, reduce
from losscli.catalogue.arrays import scratch_buffer, vdot, vsum
from losscli.catalogue.spec import (
    METRIC,
    PRED,
    TARGET,
    DomainCheck,
    LossSpec,
    Param,
    Params,
    Role,
    all_non_negative,
    float_in,
    np,
    pair,
    row,
)
from losscli.errors import UsageError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from losscli.catalogue.api import Reduction, Result
    from losscli.catalogue.spec import Inputs
    from losscli.catalogue.workspace import Workspace
    from losscli.stats import LossState

    Array = NDArray[np.float64]
    Mask = NDArray[np.bool_]

#: The Python API functions of this family (re-exported by :mod:`losscli.losses`).
__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "expected_calibration_error",
    "hinge_loss",
    "kl_div_loss",
    "nll_loss",
    "weighted_cross_entropy",
]


# -- kernels ----------------------------------------------------------------------------------


def binary_cross_entropy_kernel(
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
    s = scratch_buffer(scratch, inputs, targets)
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
        out = np.log(inputs, out=scratch_buffer(out, inputs, targets))
        np.negative(inputs, out=s)
        np.log1p(s, out=s)
    np.maximum(out, -100.0, out=out)
    np.maximum(s, -100.0, out=s)
    np.subtract(s, out, out=out)
    np.multiply(out, targets, out=out)
    return np.subtract(out, s, out=out)


def cross_entropy_kernel(
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
        score = vdot(z, targets, axis)
    else:
        idx = np.expand_dims(np.asarray(targets).astype(np.intp, copy=False), axis)
        score = np.take_along_axis(z, idx, axis).squeeze(axis)
    smoothed = None
    if label_smoothing > 0:
        smoothed = np.multiply(np.mean(z, axis=axis), -label_smoothing)
        np.multiply(score, 1.0 - label_smoothing, out=score)
    np.exp(z, out=z)
    np.put_along_axis(z, top, 0.0, axis)  # the max's own e^0 = 1 becomes the "1 +" of log1p
    loss = vsum(z, axis)
    np.log1p(loss, out=loss)
    np.subtract(loss, score, out=loss)
    if smoothed is not None:
        np.add(loss, smoothed, out=loss)
    return loss


def softplus(z: Array, *, out: Array | None = None) -> Array:
    """``log(1 + e^z)`` without overflow or cancellation: ``max(z, 0) + log1p(e^{−|z|})``."""
    out = np.abs(z, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    return np.add(out, np.maximum(z, 0.0), out=out)


def bce_pos_weight(inputs: Array, targets: Array, pos_weight: Array | float) -> Array:
    """PyTorch ``BCEWithLogitsLoss(pos_weight=pw)``: ``pw·y·softplus(−x) + (1 − y)·softplus(x)``
    (= ``−(pw·y·log σ(x) + (1 − y)·log(1 − σ(x)))``), both softplus terms free of cancellation
    (PyTorch's own ``(1 − y)·x + lw·softplus(−x)`` loses all digits for x ≪ 0, y = 0)."""
    loss = softplus(-inputs)
    np.multiply(loss, targets, out=loss)
    np.multiply(loss, pos_weight, out=loss)
    negative = softplus(inputs)
    np.multiply(negative, np.subtract(1.0, targets), out=negative)
    return np.add(loss, negative, out=loss)


def _shifted_lse(logits: Array, axis: int) -> tuple[Array, Array]:
    """``z = logits − max`` and ``logsumexp(z) = log1p(Σ_{j ≠ argmax} e^{z_j})`` over ``axis``."""
    top = np.expand_dims(np.argmax(logits, axis=axis), axis)
    z = np.subtract(logits, np.take_along_axis(logits, top, axis))
    e = np.exp(z)
    np.put_along_axis(e, top, 0.0, axis)
    lse = vsum(e, axis)
    return z, np.log1p(lse, out=lse)


def class_weighted_cross_entropy(
    logits: Array,
    targets: Array,
    class_weight: Array,
    *,
    axis: int = -1,
    label_smoothing: float = 0.0,
) -> Array:
    """PyTorch ``cross_entropy(weight=w)`` per row, before PyTorch's weighted mean:

    class-index targets: ``(1−ε)·w[y]·(−log p_y) + (ε/C)·Σ_c w_c·(−log p_c)`` (PyTorch's mean
    then divides by ``Σ w[y]``); probability targets: ``−Σ_c w_c·t_c·log p_c`` (a plain mean).
    ``−log p_c = lse(z) − z_c`` with ``z = logits − max`` and ``lse`` as in
    :func:`cross_entropy_kernel`.
    """
    w = np.asarray(class_weight, dtype=np.float64)
    shape = [1] * logits.ndim
    shape[axis] = -1
    w_axis = w.reshape(shape)
    z, lse = _shifted_lse(logits, axis)
    if targets.ndim == logits.ndim:
        wt = np.multiply(targets, w_axis)
        return np.subtract(lse * vsum(wt, axis), vdot(z, wt, axis))
    index = np.asarray(targets).astype(np.intp, copy=False)
    z_y = np.take_along_axis(z, np.expand_dims(index, axis), axis).squeeze(axis)
    loss = np.subtract(lse, z_y)
    np.multiply(loss, w[index], out=loss)
    if label_smoothing > 0:
        smooth = np.subtract(
            lse * math.fsum(w.tolist()), vdot(z, np.broadcast_to(w_axis, z.shape), axis)
        )
        loss = (1.0 - label_smoothing) * loss + (label_smoothing / logits.shape[axis]) * smooth
    return loss


def kl_div_probability_targets(inputs: Array, targets: Array, *, axis: int = -1) -> Array:
    """PyTorch ``kl_div(input, target, log_target=False)`` summed over ``axis``:
    ``Σ_c t·(log t − x)`` with ``0·log 0 = 0``; the mean of these row sums is PyTorch's
    ``reduction='batchmean'``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t_log_t = np.multiply(targets, np.log(targets))
    np.copyto(t_log_t, 0.0, where=np.equal(targets, 0.0))
    return np.subtract(vsum(t_log_t, axis), vdot(targets, inputs, axis))


def nll(inputs: Array, targets: Array, *, axis: int = -1) -> Array:
    """Negative log-likelihood (MLX): ``−inputs[target]`` along ``axis``; inputs are log-probs."""
    idx = np.expand_dims(np.asarray(targets).astype(np.intp, copy=False), axis)
    loss = np.take_along_axis(inputs, idx, axis).squeeze(axis)  # a fresh array
    return np.negative(loss, out=loss)


def kl_div(inputs: Array, targets: Array, *, axis: int = -1) -> Array:
    """KL divergence (MLX): ``Σ exp(t)·(t − x)`` over ``axis``; both are log-probabilities."""
    d = np.subtract(targets, inputs)
    return vdot(np.exp(targets), d, axis)


def hinge(inputs: Array, targets: Array, *, out: Array | None = None) -> Array:
    """Hinge (MLX): ``max(0, 1 − x·y)`` with labels used as given (normally ±1)."""
    out = np.multiply(inputs, targets, out=out)
    np.subtract(1.0, out, out=out)
    return np.maximum(out, 0.0, out=out)


def probability_violations(probs: Array) -> Mask:
    """Probabilities (binary cross-entropy on probabilities) must lie in [0, 1]."""
    return np.less(probs, 0.0) | np.greater(probs, 1.0)


def class_index_violations(targets: Array, n_classes: int) -> Mask:
    """Class-index targets must be whole numbers in ``[0, n_classes)``."""
    fractional = np.greater(np.abs(np.subtract(targets, np.trunc(targets))), 0.0)
    return np.less(targets, 0.0) | np.greater_equal(targets, n_classes) | fractional


# -- registry entries -------------------------------------------------------------------------


def _class_targets(logits: Array, targets: Array) -> tuple[Array, Array | None]:
    """Class-index targets as a 1-D array (NaN rows replaced by 0 and returned as a mask), or
    probability targets unchanged."""

    if targets.shape[0] == 1 and logits.shape[0] > 1:
        index = targets[0]
        missing = np.isnan(index)
        if missing.any():
            return np.where(missing, 0.0, index), missing
        return index, None
    return targets, None


def _with_missing(loss: Array, missing: Array | None) -> Array:
    if missing is not None:
        loss = loss.copy()
        loss[missing] = float("nan")
    return row(loss)


def list_param(params: Params, name: str, size: int, what: str) -> Array | None:
    """A list parameter as an array of ``size`` values (one value is repeated), or None."""
    values = params.get(name)
    if values is None:
        return None
    if len(values) not in (1, size):
        flag = "--" + name.replace("_", "-")
        raise UsageError(f"{flag} needs 1 or {size} values (one per {what}), got {len(values)}")
    return np.resize(np.asarray(values, dtype=np.float64), size)


def _cross_entropy(inputs: Inputs, params: Params, ws: Workspace) -> Array:

    logits = inputs["pred"]
    targets, missing = _class_targets(logits, inputs["target"])
    weight = list_param(params, "class_weight", logits.shape[0], "class")
    if weight is None:
        loss = cross_entropy_kernel(
            logits, targets, axis=0, label_smoothing=params["label_smoothing"]
        )
    else:
        loss = class_weighted_cross_entropy(
            logits, targets, weight, axis=0, label_smoothing=params["label_smoothing"]
        )
    return _with_missing(loss, missing)


def _cross_entropy_denominator(inputs: Inputs, params: Params) -> Array:
    """PyTorch's class-weighted mean divides by ``Σ w[y]`` (class-index targets only)."""
    logits, targets = inputs["pred"], inputs["target"]
    weight = list_param(params, "class_weight", logits.shape[0], "class")
    if weight is None or not (targets.shape[0] == 1 and logits.shape[0] > 1):
        return np.ones(targets.shape[1])
    index = np.nan_to_num(targets[0]).astype(np.intp)
    return weight[index]


def _nll(inputs: Inputs, params: Params, ws: Workspace) -> Array:

    targets, missing = _class_targets(inputs["pred"], inputs["target"])
    return _with_missing(nll(inputs["pred"], targets, axis=0), missing)


def _kl_div(inputs: Inputs, params: Params, ws: Workspace) -> Array:

    if not params["log_target"]:
        return row(kl_div_probability_targets(inputs["pred"], inputs["target"], axis=0))
    return row(kl_div(inputs["pred"], inputs["target"], axis=0))


def _bce(inputs: Inputs, params: Params, ws: Workspace) -> Array:

    pred = inputs["pred"]
    pos_weight = list_param(params, "pos_weight", pred.shape[0], "prediction column")
    if pos_weight is not None:
        if not params["with_logits"]:
            raise UsageError("--pos-weight needs --logits (PyTorch BCEWithLogitsLoss)")
        return bce_pos_weight(pred, inputs["target"], pos_weight[:, None])
    return binary_cross_entropy_kernel(
        pred,
        inputs["target"],
        with_logits=params["with_logits"],
        out=ws.get("out", pred.shape),
        scratch=ws.get("scratch", pred.shape),
    )


def _class_index_check(inputs: Inputs, params: Params) -> NDArray[np.bool_]:

    logits, targets = inputs["pred"], inputs["target"]
    if targets.shape[0] == 1 and logits.shape[0] > 1:
        mask: NDArray[np.bool_] = class_index_violations(targets, logits.shape[0])
        return mask
    return np.zeros(targets.shape, dtype=bool)


def _probability_check_always(inputs: Inputs, params: Params) -> NDArray[np.bool_]:
    mask: NDArray[np.bool_] = probability_violations(inputs["pred"])
    return mask


def _target_check(inputs: Inputs, params: Params) -> NDArray[np.bool_]:
    mask: NDArray[np.bool_] = probability_violations(inputs["target"])
    return mask


def _probability_check(inputs: Inputs, params: Params) -> NDArray[np.bool_]:

    if params["with_logits"]:
        return np.zeros(inputs["pred"].shape, dtype=bool)
    mask: NDArray[np.bool_] = probability_violations(inputs["pred"])
    return mask


def _bce_probabilities(inputs: Inputs, params: Params) -> Array:
    """The positive-class probability: σ(x) for logits, the input itself for probabilities."""
    pred = inputs["pred"]
    if not params["with_logits"]:
        return pred
    out: Array = np.exp(-np.logaddexp(0.0, -pred))  # σ(x) = 1 / (1 + e^−x), no overflow
    return out


def _probabilities(inputs: Inputs, params: Params) -> Array:
    return inputs["pred"]


def _ece_state(outputs: int, params: Params) -> LossState:
    from losscli.stats.histograms import CalibrationErrorState  # NumPy-backed: run time only

    return CalibrationErrorState(outputs, params["n_bins"])


def _probability_target_check(inputs: Inputs, params: Params) -> NDArray[np.bool_]:

    if params["log_target"]:
        return np.zeros(inputs["target"].shape, dtype=bool)
    mask: NDArray[np.bool_] = probability_violations(inputs["target"])
    return mask


CLASS_INDEX = DomainCheck(
    "target", _class_index_check, "a class index must be a whole number in [0, number of classes)"
)


LOGITS = Role(
    "pred",
    "--pred",
    "logit / log-probability columns, one per class (a comma list or a glob such as 'logit_*')",
    short="-p",
    auto_names=PRED.auto_names,
)


LABELS = Role(
    "target",
    "--target",
    "the class-index column, or one probability column per class",
    short="-t",
    auto_names=TARGET.auto_names,
)


LOSSES: tuple[LossSpec, ...] = (
    LossSpec(
        name="binary_cross_entropy",
        summary="binary cross-entropy on logits (default) or probabilities",
        formula="logits: max(x,0) − x·y + log1p(exp(−|x|)); probs: −(y·log p + (1−y)·log(1−p)), logs clamped at −100",
        api="binary_cross_entropy",
        params=(
            Param(
                "with_logits",
                True,
                "inputs are logits (--logits) or probabilities (--probs)",
                type=bool,
                cli_flags=("--logits", "--probs"),
            ),
            Param(
                "pos_weight",
                None,
                "weight of the positive term per prediction column (PyTorch pos_weight; logits)",
                item_type=float,
                valid=all_non_negative,
                valid_text="values ≥ 0",
            ),
        ),
        elementwise=_bce,
        checks=(DomainCheck("pred", _probability_check, "probabilities must lie in [0, 1]"),),
        calibration=_bce_probabilities,
        # Not "binary_crossentropy"/"log_loss": Keras and scikit-learn take probabilities there.
        aliases=("bce",),
        reference="mlx.nn.losses.binary_cross_entropy, torch BCEWithLogitsLoss(pos_weight) / BCELoss",
        notes="--pos-weight: pw·y·softplus(−x) + (1 − y)·softplus(x), computed without cancellation",
    ),
    LossSpec(
        name="cross_entropy",
        summary="softmax cross-entropy over class-logit columns",
        formula="logsumexp(z) − (1−ls)·z[y] − ls·mean(z)",
        api="cross_entropy",
        roles=(LOGITS, LABELS),
        params=(
            Param(
                "label_smoothing",
                0.0,
                "label smoothing ls",
                valid=float_in(0.0, 1.0, low_open=False, high_open=True),
                valid_text="in [0, 1)",
            ),
            Param(
                "class_weight",
                None,
                "per-class weights w (PyTorch weight=): mean = Σ w[y]·l / Σ w[y]",
                item_type=float,
                valid=all_non_negative,
                valid_text="values ≥ 0",
            ),
        ),
        elementwise=_cross_entropy,
        denominator=_cross_entropy_denominator,
        reduces_axis=True,
        paired=False,
        checks=(CLASS_INDEX,),
        # Not Keras' "categorical_crossentropy": it takes probabilities by default, this logits.
        aliases=("ce",),
        reference="mlx.nn.losses.cross_entropy, torch.nn.CrossEntropyLoss(weight, label_smoothing)",
    ),
    LossSpec(
        name="nll",
        summary="negative log-likelihood over log-probability columns",
        formula="−logp[y]",
        api="nll_loss",
        roles=(LOGITS, LABELS),
        elementwise=_nll,
        reduces_axis=True,
        paired=False,
        checks=(CLASS_INDEX,),
        aliases=("nll_loss",),
        reference="mlx.nn.losses.nll_loss, torch.nn.NLLLoss",
    ),
    LossSpec(
        name="kl_div",
        summary="Kullback-Leibler divergence of log-probability columns from target columns",
        formula="Σ_c exp(t_c)·(t_c − x_c) (log-probability targets, MLX); --prob-target: Σ_c t_c·(log t_c − x_c)",
        api="kl_div_loss",
        roles=(
            LOGITS,
            Role(
                "target",
                "--target",
                "target columns, one per class: log probabilities (or probabilities with --prob-target)",
                short="-t",
                auto_names=TARGET.auto_names,
            ),
        ),
        params=(
            Param(
                "log_target",
                True,
                "targets are log probabilities (--log-target, MLX) or probabilities "
                "(--prob-target, PyTorch log_target=False)",
                type=bool,
                cli_flags=("--log-target", "--prob-target"),
            ),
        ),
        elementwise=_kl_div,
        checks=(
            DomainCheck(
                "target", _probability_target_check, "probability targets must lie in [0, 1]"
            ),
        ),
        reduces_axis=True,
        # Not Keras' "kld": it takes probabilities; MLX (and this) log probabilities.
        aliases=("kl_div_loss",),
        reference="mlx.nn.losses.kl_div_loss; --prob-target: torch kl_div(log_target=False), the mean is reduction='batchmean'",
    ),
    LossSpec(
        name="hinge",
        summary="hinge loss with ±1 labels (used as given)",
        formula="max(0, 1 − y·x)",
        api="hinge_loss",
        elementwise=pair(hinge, scratch=0),
        aliases=("hinge_loss",),
        reference="mlx.nn.losses.hinge_loss, keras hinge (with ±1 labels; Keras reads 0/1 as ∓1)",
    ),
    LossSpec(
        name="ece",
        summary="expected calibration error of probabilities (10 equal-width bins by default)",
        formula="Σ_b (W_b/W)·|ȳ_b − p̄_b| over n equal-width bins of p: [0, 1/n], then ((b−1)/n, b/n]",
        api="expected_calibration_error",
        params=(
            Param(
                "n_bins",
                10,
                "number of equal-width probability bins",
                type=int,
                valid=lambda n: 1 <= n <= 10_000,
                valid_text="a whole number in [1, 10000]",
            ),
        ),
        make_state=_ece_state,
        reductions=METRIC,
        pers=("all",),
        checks=(
            DomainCheck("pred", _probability_check_always, "probabilities must lie in [0, 1]"),
            DomainCheck("target", _target_check, "targets must lie in [0, 1] (labels 0/1)"),
        ),
        calibration=_probabilities,
        aliases=("expected_calibration_error",),
        reference="Naeini et al. 2015 / Guo et al. 2017 (positive-class probability), "
        "bins as sklearn calibration_curve",
        notes="every prediction column is a binary problem; the bins are those of the calibration chart",
    ),
)


# -- Python API -------------------------------------------------------------------------------


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
    x, y = as_float64(inputs), as_float64(targets)
    check_same_shape(x, y, "inputs", "targets")
    loss = binary_cross_entropy_kernel(x, y, with_logits=with_logits)
    return reduce(apply_weights(loss, weights), reduction)


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
    z, t = as_float64(logits), as_float64(targets)
    as_probs = t.ndim == z.ndim
    expected = z.shape if as_probs else z.shape[: axis % z.ndim] + z.shape[axis % z.ndim + 1 :]
    if t.shape != expected:
        raise ValueError(f"Targets shape {t.shape} does not match logits shape {z.shape}.")
    if not as_probs:
        bad = class_index_violations(t, z.shape[axis])
        if bad.any() or np.isnan(t).any():
            raise ValueError(f"Class-index targets must be integers in [0, {z.shape[axis]}).")
    loss = cross_entropy_kernel(z, t, axis=axis, label_smoothing=label_smoothing)
    return reduce(apply_weights(loss, weights), reduction)


def nll_loss(
    inputs: ArrayLike, targets: ArrayLike, axis: int = -1, reduction: Reduction = "none"
) -> Result:
    """Negative log-likelihood: ``−inputs[target]`` along ``axis`` (inputs are log-probs).

    >>> nll_loss([[-0.1, -2.3], [-1.2, -0.4]], [0, 1]).tolist()
    [0.1, 0.4]
    """
    x, t = as_float64(inputs), as_float64(targets)
    if class_index_violations(t, x.shape[axis]).any() or np.isnan(t).any():
        raise ValueError(f"Class-index targets must be integers in [0, {x.shape[axis]}).")
    return reduce(nll(x, t, axis=axis), reduction)


def kl_div_loss(
    inputs: ArrayLike, targets: ArrayLike, axis: int = -1, reduction: Reduction = "none"
) -> Result:
    """KL divergence ``Σ exp(t)·(t − x)`` over ``axis``; both are log-probabilities.

    >>> kl_div_loss([[-1.0, -1.0]], [[0.0, 0.0]]).tolist()
    [2.0]
    """
    return reduce(kl_div(as_float64(inputs), as_float64(targets), axis=axis), reduction)


def hinge_loss(inputs: ArrayLike, targets: ArrayLike, reduction: Reduction = "none") -> Result:
    """Hinge: ``max(0, 1 − x·y)`` with labels as given (normally ±1).

    >>> hinge_loss([0.5, 2.0], [1.0, -1.0]).tolist()
    [0.5, 3.0]
    """
    return reduce(hinge(as_float64(inputs), as_float64(targets)), reduction)


def expected_calibration_error(
    probs: ArrayLike,
    targets: ArrayLike,
    *,
    n_bins: int = 10,
    sample_weight: ArrayLike | None = None,
) -> np.float64:
    """Expected calibration error of positive-class probabilities against 0/1 labels.

    ``Σ_b (W_b / W)·|ȳ_b − p̄_b|`` over ``n_bins`` equal-width bins of p (the first ``[0, 1/n]``,
    then ``((b−1)/n, b/n]``, as scikit-learn's ``calibration_curve``); W_b is the bin's weight.

    >>> round(float(expected_calibration_error([0.2, 0.4, 0.5, 0.6, 0.9], [0, 1, 0, 1, 1])), 6)
    0.36
    """
    from losscli.stats.histograms import Calibration

    p, y = as_float64(probs), as_float64(targets)
    check_same_shape(p, y, "probs", "targets")
    if probability_violations(p).any() or probability_violations(y).any():
        raise ValueError("probabilities and targets must lie in [0, 1]")
    state = Calibration(n_bins)
    state.update(p, y, None if sample_weight is None else as_float64(sample_weight))
    return np.float64(state.compute().ece)


def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
    pos_weight: ArrayLike | None = None,
) -> Result:
    """PyTorch ``binary_cross_entropy_with_logits``:
    ``−w·(pw·y·log σ(x) + (1 − y)·log(1 − σ(x)))``, ``pos_weight`` broadcast over the last axis.

    >>> round(float(binary_cross_entropy_with_logits([0.0], [1.0], pos_weight=[3.0])), 6)
    2.079442
    """
    x, y = as_float64(input), as_float64(target)
    check_same_shape(x, y, "input", "target")
    pw = 1.0 if pos_weight is None else as_float64(pos_weight)
    loss = bce_pos_weight(x, y, pw)
    if weight is not None:
        loss = np.multiply(loss, as_float64(weight))
    return reduce(loss, reduction)


def weighted_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
) -> Result:
    """PyTorch ``cross_entropy(input, target, weight=w)`` on (N, C) logits: class-index targets
    give ``Σ w[y]·l / Σ w[y]`` for ``'mean'`` (probability targets a plain mean).

    >>> round(float(weighted_cross_entropy([[0.0, 0.0], [0.0, 0.0]], [0, 1], [1.0, 3.0])), 6)
    0.693147
    """
    z, t = as_float64(input), as_float64(target)
    if reduction not in ("none", "mean", "sum"):
        reduce(z, reduction)  # raises the shared message
    c = z.shape[-1]
    w = np.ones(c) if weight is None else as_float64(weight)
    if t.ndim != z.ndim and (class_index_violations(t, c).any() or np.isnan(t).any()):
        raise ValueError(f"Class-index targets must be integers in [0, {c}).")
    loss = class_weighted_cross_entropy(z, t, w, axis=-1, label_smoothing=label_smoothing)
    if reduction == "mean" and t.ndim != z.ndim:
        return np.float64(np.sum(loss) / np.sum(w[t.astype(np.intp)]))
    return reduce(loss, reduction)
