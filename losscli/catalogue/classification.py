"""Classification losses: binary and softmax cross-entropy, NLL, KL divergence, hinge.

Kernels over a class axis take ``axis`` and drop it; targets are class indices or one probability
column per class. Kernels, registry entries and the Python API side by side."""

from __future__ import annotations

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
    float_in,
    np,
    pair,
    row,
)

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
    "cross_entropy",
    "hinge_loss",
    "kl_div_loss",
    "nll_loss",
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


def _cross_entropy(inputs: Inputs, params: Params, ws: Workspace) -> Array:

    targets, missing = _class_targets(inputs["pred"], inputs["target"])
    loss = cross_entropy_kernel(
        inputs["pred"], targets, axis=0, label_smoothing=params["label_smoothing"]
    )
    return _with_missing(loss, missing)


def _nll(inputs: Inputs, params: Params, ws: Workspace) -> Array:

    targets, missing = _class_targets(inputs["pred"], inputs["target"])
    return _with_missing(nll(inputs["pred"], targets, axis=0), missing)


def _kl_div(inputs: Inputs, params: Params, ws: Workspace) -> Array:

    return row(kl_div(inputs["pred"], inputs["target"], axis=0))


def _bce(inputs: Inputs, params: Params, ws: Workspace) -> Array:

    pred = inputs["pred"]
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
        ),
        elementwise=_bce,
        checks=(DomainCheck("pred", _probability_check, "probabilities must lie in [0, 1]"),),
        calibration=_bce_probabilities,
        # Not "binary_crossentropy"/"log_loss": Keras and scikit-learn take probabilities there.
        aliases=("bce",),
        reference="mlx.nn.losses.binary_cross_entropy, torch BCEWithLogitsLoss / BCELoss",
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
        ),
        elementwise=_cross_entropy,
        reduces_axis=True,
        paired=False,
        checks=(CLASS_INDEX,),
        # Not Keras' "categorical_crossentropy": it takes probabilities by default, this logits.
        aliases=("ce",),
        reference="mlx.nn.losses.cross_entropy, torch.nn.CrossEntropyLoss",
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
        summary="Kullback-Leibler divergence between log-probability columns",
        formula="Σ_c exp(t_c)·(t_c − x_c)  (both inputs are log probabilities, as in MLX)",
        api="kl_div_loss",
        roles=(
            LOGITS,
            Role(
                "target",
                "--target",
                "target log-probability columns, one per class",
                short="-t",
                auto_names=TARGET.auto_names,
            ),
        ),
        elementwise=_kl_div,
        reduces_axis=True,
        # Not Keras' "kld": it takes probabilities; MLX (and this) log probabilities.
        aliases=("kl_div_loss",),
        reference="mlx.nn.losses.kl_div_loss",
    ),
    LossSpec(
        name="hinge",
        summary="hinge loss with ±1 labels (used as given)",
        formula="max(0, 1 − y·x)",
        api="hinge_loss",
        elementwise=pair(hinge, scratch=0),
        aliases=("hinge_loss",),
        reference="mlx.nn.losses.hinge_loss, keras hinge",
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
