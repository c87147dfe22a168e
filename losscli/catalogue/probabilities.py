"""Keras's losses on predicted probabilities, under their Keras names and meaning:
``binary_crossentropy``, ``categorical_crossentropy``, ``sparse_categorical_crossentropy``, the
focal variants and ``kl_divergence``.

As in Keras, inputs are probabilities unless ``from_logits``; probabilities are clipped to
``[1e-7, 1 − 1e-7]`` (Keras ``backend.epsilon()``) and, for the categorical losses, each row is
first divided by its sum. Where it matters for the last digits the kernels evaluate in Keras's
order (``log(1 − p)``, not ``log1p(−p)``), so results equal Keras's float64 results. Values
outside [0, 1] are an error: they prove the input holds logits (``--from-logits``).
Kernels, registry entries and the Python API side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from losscli.catalogue.api import as_float64, check_same_shape
from losscli.catalogue.arrays import vdot, vsum
from losscli.catalogue.classification import (
    CLASS_INDEX,
    class_index_violations,
    probability_violations,
    softplus,
)
from losscli.catalogue.spec import (
    PRED,
    TARGET,
    DomainCheck,
    LossSpec,
    Param,
    Params,
    Role,
    float_in,
    non_negative,
    np,
    row,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from losscli.catalogue.api import Result
    from losscli.catalogue.spec import Inputs
    from losscli.catalogue.workspace import Workspace

    Array = NDArray[np.float64]
    Mask = NDArray[np.bool_]

__all__ = [
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "kl_divergence",
    "sparse_categorical_crossentropy",
]

#: Keras ``backend.epsilon()``: probabilities are clipped to ``[EPSILON, 1 − EPSILON]``.
EPSILON = 1e-7


# -- kernels ----------------------------------------------------------------------------------


def _smooth_binary(targets: Array, label_smoothing: float) -> Array:
    if not label_smoothing:
        return targets
    return targets * (1.0 - label_smoothing) + 0.5 * label_smoothing


def _smooth_categorical(targets: Array, label_smoothing: float, axis: int) -> Array:
    if not label_smoothing:
        return targets
    return targets * (1.0 - label_smoothing) + label_smoothing / targets.shape[axis]


def clipped_bce(targets: Array, probs: Array) -> Array:
    """Keras ``ops.binary_crossentropy`` on probabilities, in Keras's order:
    ``p = clip(p, 1e-7, 1 − 1e-7)``, ``−(y·log p + (1 − y)·log(1 − p))``."""
    p = np.clip(probs, EPSILON, 1.0 - EPSILON)
    loss = np.log(p)
    np.multiply(loss, targets, out=loss)
    np.subtract(1.0, p, out=p)
    np.log(p, out=p)
    np.multiply(p, np.subtract(1.0, targets), out=p)
    np.add(loss, p, out=loss)
    return np.negative(loss, out=loss)


def binary_crossentropy_kernel(
    inputs: Array, targets: Array, *, from_logits: bool = False, label_smoothing: float = 0.0
) -> Array:
    """Keras ``binary_crossentropy`` elementwise (Keras then averages the last axis):
    probabilities as :func:`clipped_bce`; logits ``y·softplus(−x) + (1 − y)·softplus(x)``
    (= ``−y·log σ(x) − (1 − y)·log σ(−x)``); targets smoothed to ``y·(1 − ls) + ls/2``."""
    y = _smooth_binary(targets, label_smoothing)
    if not from_logits:
        return clipped_bce(y, inputs)
    loss = softplus(-inputs)
    np.multiply(loss, y, out=loss)
    negative = softplus(inputs)
    np.multiply(negative, np.subtract(1.0, y), out=negative)
    return np.add(loss, negative, out=loss)


def binary_focal_crossentropy_kernel(
    inputs: Array,
    targets: Array,
    *,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
) -> Array:
    """Keras ``binary_focal_crossentropy`` elementwise: ``(1 − p_t)^γ · bce(y, p)`` with
    ``p_t = y·p + (1 − y)·(1 − p)`` and ``p = σ(x)`` for logits (bce on the clipped p, as
    Keras), times ``α·y + (1 − α)·(1 − y)`` with class balancing."""
    y = _smooth_binary(targets, label_smoothing)
    p = 1.0 / (1.0 + np.exp(-inputs)) if from_logits else inputs
    bce = clipped_bce(y, p)
    p_t = y * p + (1 - y) * (1 - p)
    loss = np.power(1.0 - p_t, gamma)
    np.multiply(loss, bce, out=loss)
    if apply_class_balancing:
        np.multiply(loss, y * alpha + (1 - y) * (1 - alpha), out=loss)
    return loss


def _log_softmax(logits: Array, axis: int) -> Array:
    z = np.subtract(logits, np.max(logits, axis=axis, keepdims=True))
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def normalised_probabilities(probs: Array, axis: int) -> Array:
    """Keras: each row divided by its sum, then clipped to ``[1e-7, 1 − 1e-7]``."""
    out = np.divide(probs, np.sum(probs, axis=axis, keepdims=True))
    return np.clip(out, EPSILON, 1.0 - EPSILON, out=out)


def categorical_crossentropy_kernel(
    inputs: Array,
    targets: Array,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Array:
    """Keras ``categorical_crossentropy``: ``−Σ_c y_c·log q_c`` with ``q`` the row-normalised,
    clipped probabilities (``log_softmax(x)`` with logits); targets smoothed to
    ``y·(1 − ls) + ls/C``."""
    y = _smooth_categorical(targets, label_smoothing, axis)
    log_q = (
        _log_softmax(inputs, axis)
        if from_logits
        else np.log(normalised_probabilities(inputs, axis))
    )
    loss = vdot(y, log_q, axis)
    return np.negative(loss, out=loss)


def sparse_categorical_crossentropy_kernel(
    inputs: Array, targets: Array, *, from_logits: bool = False, axis: int = -1
) -> Array:
    """Keras ``sparse_categorical_crossentropy``: ``−log q_y`` (q as in
    :func:`categorical_crossentropy_kernel`) for class-index targets."""
    log_q = (
        _log_softmax(inputs, axis)
        if from_logits
        else np.log(normalised_probabilities(inputs, axis))
    )
    index = np.expand_dims(np.asarray(targets).astype(np.intp, copy=False), axis)
    loss = np.take_along_axis(log_q, index, axis).squeeze(axis)
    return np.negative(loss, out=loss)


def categorical_focal_crossentropy_kernel(
    inputs: Array,
    targets: Array,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Array:
    """Keras ``categorical_focal_crossentropy``: ``Σ_c α·(1 − q_c)^γ·(−y_c·log q_c)``, q the
    row-normalised clipped probabilities (softmax first with logits)."""
    y = _smooth_categorical(targets, label_smoothing, axis)
    probs = np.exp(_log_softmax(inputs, axis)) if from_logits else inputs
    q = normalised_probabilities(probs, axis)
    cross = np.negative(y) * np.log(q)
    factor = np.power(1.0 - q, gamma)
    np.multiply(factor, alpha, out=factor)
    np.multiply(factor, cross, out=factor)
    return vsum(factor, axis)


def kl_divergence_kernel(inputs: Array, targets: Array, *, axis: int = -1) -> Array:
    """Keras ``kl_divergence``: ``Σ_c t·log(t/p)`` with ``t`` and ``p`` clipped to
    ``[1e-7, 1]``."""
    t = np.clip(targets, EPSILON, 1.0)
    p = np.clip(inputs, EPSILON, 1.0)
    ratio = np.divide(t, p)
    np.log(ratio, out=ratio)
    return vdot(t, ratio, axis)


def row_sum_violations(probs: Array, axis: int = 0) -> Mask:
    """Rows whose probabilities sum to 0 (Keras would divide by it); marks their first column."""
    bad = np.zeros(probs.shape, dtype=np.bool_)
    empty = np.sum(probs, axis=axis) <= 0
    index: list[Any] = [slice(None)] * probs.ndim
    index[axis] = 0
    bad[tuple(index)] = empty
    return bad


# -- registry entries -------------------------------------------------------------------------


def _binary(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    return binary_crossentropy_kernel(
        inputs["pred"],
        inputs["target"],
        from_logits=params["from_logits"],
        label_smoothing=params["label_smoothing"],
    )


def _binary_focal(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    return binary_focal_crossentropy_kernel(
        inputs["pred"],
        inputs["target"],
        apply_class_balancing=params["apply_class_balancing"],
        alpha=params["alpha"],
        gamma=params["gamma"],
        from_logits=params["from_logits"],
        label_smoothing=params["label_smoothing"],
    )


def _categorical(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    return row(
        categorical_crossentropy_kernel(
            inputs["pred"],
            inputs["target"],
            from_logits=params["from_logits"],
            label_smoothing=params["label_smoothing"],
            axis=0,
        )
    )


def _sparse(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    index = inputs["target"][0]
    missing = np.isnan(index)
    loss = sparse_categorical_crossentropy_kernel(
        inputs["pred"], np.where(missing, 0.0, index), from_logits=params["from_logits"], axis=0
    )
    loss[missing] = np.nan
    return row(loss)


def _categorical_focal(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    return row(
        categorical_focal_crossentropy_kernel(
            inputs["pred"],
            inputs["target"],
            alpha=params["alpha"],
            gamma=params["gamma"],
            from_logits=params["from_logits"],
            label_smoothing=params["label_smoothing"],
            axis=0,
        )
    )


def _kl_divergence(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    return row(kl_divergence_kernel(inputs["pred"], inputs["target"], axis=0))


def _not_logits(inputs: Inputs, params: Params) -> Mask:
    if params.get("from_logits"):
        return np.zeros(inputs["pred"].shape, dtype=np.bool_)
    return probability_violations(inputs["pred"])


def _empty_rows(inputs: Inputs, params: Params) -> Mask:
    if params.get("from_logits"):
        return np.zeros(inputs["pred"].shape, dtype=np.bool_)
    return row_sum_violations(inputs["pred"], axis=0)


def _target_probabilities(inputs: Inputs, params: Params) -> Mask:
    return probability_violations(inputs["target"])


PROBABILITIES = DomainCheck(
    "pred",
    _not_logits,
    "probabilities must lie in [0, 1] (logits? pass --from-logits)",
)
NONZERO_ROWS = DomainCheck(
    "pred", _empty_rows, "a row of probabilities must not sum to 0 (Keras divides by the sum)"
)
FROM_LOGITS = Param(
    "from_logits",
    False,
    "predictions are probabilities (--probs, Keras's default) or logits (--from-logits)",
    type=bool,
    cli_flags=("--from-logits", "--probs"),
)
SMOOTHING = Param(
    "label_smoothing",
    0.0,
    "label smoothing ls",
    valid=float_in(0.0, 1.0, low_open=False, high_open=False),
    valid_text="in [0, 1]",
)
ALPHA = Param(
    "alpha",
    0.25,
    "the focal weight α",
    valid=float_in(0.0, 1.0, low_open=False, high_open=False),
    valid_text="in [0, 1]",
)
GAMMA = Param("gamma", 2.0, "the focusing power γ", valid=non_negative, valid_text="≥ 0")
PROBS = Role(
    "pred",
    "--pred",
    "predicted probability (or, with --from-logits, logit) column(s)",
    short="-p",
    auto_names=PRED.auto_names,
)
CLASS_PROBS = Role(
    "pred",
    "--pred",
    "one predicted-probability (or logit) column per class",
    short="-p",
    auto_names=PRED.auto_names,
)
ONE_HOT = Role(
    "target",
    "--target",
    "one-hot (or probability) label columns, one per class column",
    short="-t",
    auto_names=TARGET.auto_names,
)
INDEX = Role(
    "target", "--target", "the class-index column", short="-t", auto_names=TARGET.auto_names
)
KERAS_CLIP = "probabilities clipped to [1e-7, 1 − 1e-7]"


def _positive_probabilities(inputs: Inputs, params: Params) -> Array:
    """The positive-class probability for the calibration chart: σ(x) with --from-logits."""
    pred = inputs["pred"]
    if not params["from_logits"]:
        return pred
    out: Array = np.exp(-np.logaddexp(0.0, -pred))  # σ(x) = 1 / (1 + e^−x), no overflow
    return out


LOSSES: tuple[LossSpec, ...] = (
    LossSpec(
        name="binary_crossentropy",
        summary="binary cross-entropy on probabilities (Keras; --from-logits for logits)",
        formula="−(y·log p + (1 − y)·log(1 − p)), p clipped to [1e-7, 1 − 1e-7]",
        api="binary_crossentropy",
        roles=(PROBS, TARGET),
        params=(FROM_LOGITS, SMOOTHING),
        elementwise=_binary,
        checks=(PROBABILITIES,),
        calibration=_positive_probabilities,
        reference="keras binary_crossentropy",
        notes=KERAS_CLIP,
    ),
    LossSpec(
        name="binary_focal_crossentropy",
        summary="binary focal cross-entropy (Keras)",
        formula="(1 − p_t)^γ·bce(y, p), p_t = y·p + (1 − y)(1 − p); ×(α·y + (1 − α)(1 − y)) with --apply-class-balancing",
        api="binary_focal_crossentropy",
        roles=(PROBS, TARGET),
        params=(
            Param("apply_class_balancing", False, "weigh classes by α and 1 − α", type=bool),
            ALPHA,
            GAMMA,
            FROM_LOGITS,
            SMOOTHING,
        ),
        elementwise=_binary_focal,
        checks=(PROBABILITIES,),
        calibration=_positive_probabilities,
        reference="keras binary_focal_crossentropy",
        notes=KERAS_CLIP,
    ),
    LossSpec(
        name="categorical_crossentropy",
        summary="categorical cross-entropy on class probabilities (Keras; --from-logits for logits)",
        formula="−Σ_c y_c·log q_c, q = p / Σp clipped to [1e-7, 1 − 1e-7]",
        api="categorical_crossentropy",
        roles=(CLASS_PROBS, ONE_HOT),
        params=(FROM_LOGITS, SMOOTHING),
        elementwise=_categorical,
        reduces_axis=True,
        checks=(PROBABILITIES, NONZERO_ROWS),
        aliases=("cce",),
        reference="keras categorical_crossentropy",
        notes="each row renormalised to sum 1, then " + KERAS_CLIP,
    ),
    LossSpec(
        name="sparse_categorical_crossentropy",
        summary="categorical cross-entropy with class-index targets (Keras)",
        formula="−log q_y, q = p / Σp clipped to [1e-7, 1 − 1e-7]",
        api="sparse_categorical_crossentropy",
        roles=(CLASS_PROBS, INDEX),
        params=(FROM_LOGITS,),
        elementwise=_sparse,
        reduces_axis=True,
        paired=False,
        checks=(PROBABILITIES, NONZERO_ROWS, CLASS_INDEX),
        aliases=("scce",),
        reference="keras sparse_categorical_crossentropy",
        notes="each row renormalised to sum 1, then " + KERAS_CLIP,
    ),
    LossSpec(
        name="categorical_focal_crossentropy",
        summary="categorical focal cross-entropy (Keras)",
        formula="Σ_c α·(1 − q_c)^γ·(−y_c·log q_c), q = p / Σp clipped to [1e-7, 1 − 1e-7]",
        api="categorical_focal_crossentropy",
        roles=(CLASS_PROBS, ONE_HOT),
        params=(ALPHA, GAMMA, FROM_LOGITS, SMOOTHING),
        elementwise=_categorical_focal,
        reduces_axis=True,
        checks=(PROBABILITIES, NONZERO_ROWS),
        reference="keras categorical_focal_crossentropy",
        notes="each row renormalised to sum 1, then " + KERAS_CLIP,
    ),
    LossSpec(
        name="kl_divergence",
        summary="Kullback-Leibler divergence between probability columns (Keras)",
        formula="Σ_c t·log(t/p), t and p clipped to [1e-7, 1]",
        api="kl_divergence",
        roles=(CLASS_PROBS, ONE_HOT._replace(help="target probability columns, one per class")),
        elementwise=_kl_divergence,
        reduces_axis=True,
        checks=(
            PROBABILITIES,
            DomainCheck("target", _target_probabilities, "probabilities must lie in [0, 1]"),
        ),
        aliases=("kld",),
        reference="keras kl_divergence",
    ),
)


# -- Python API -------------------------------------------------------------------------------


def _rows(loss: Array) -> Result:
    return np.float64(loss) if np.ndim(loss) == 0 else np.asarray(loss, dtype=np.float64)


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[Array, Array]:
    y, p = as_float64(y_true), as_float64(y_pred)
    check_same_shape(y, p, "y_true", "y_pred")
    return y, p


def binary_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Result:
    """Keras ``binary_crossentropy``: the mean over ``axis`` of
    ``−(y·log p + (1 − y)·log(1 − p))``, p clipped to ``[1e-7, 1 − 1e-7]``.

    >>> binary_crossentropy([[0.0, 1.0]], [[0.4, 0.6]]).round(6).tolist()
    [0.510826]
    """
    y, p = _pair(y_true, y_pred)
    loss = binary_crossentropy_kernel(
        p, y, from_logits=from_logits, label_smoothing=label_smoothing
    )
    return _rows(np.mean(loss, axis=axis))


def binary_focal_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Result:
    """Keras ``binary_focal_crossentropy``: the mean over ``axis`` of ``(1 − p_t)^γ·bce``.

    >>> binary_focal_crossentropy([[0.0, 1.0]], [[0.4, 0.6]]).round(6).tolist()
    [0.081732]
    """
    y, p = _pair(y_true, y_pred)
    loss = binary_focal_crossentropy_kernel(
        p,
        y,
        apply_class_balancing=apply_class_balancing,
        alpha=alpha,
        gamma=gamma,
        from_logits=from_logits,
        label_smoothing=label_smoothing,
    )
    return _rows(np.mean(loss, axis=axis))


def categorical_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Result:
    """Keras ``categorical_crossentropy``: ``−Σ y·log q`` over ``axis``, q the row-normalised,
    clipped probabilities.

    >>> categorical_crossentropy([[0.0, 1.0, 0.0]], [[0.05, 0.95, 0.0]]).round(6).tolist()
    [0.051293]
    """
    y, p = _pair(y_true, y_pred)
    return _rows(
        categorical_crossentropy_kernel(
            p, y, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis
        )
    )


def sparse_categorical_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Result:
    """Keras ``sparse_categorical_crossentropy``: ``−log q[y]``; rows whose label is
    ``ignore_class`` give 0, as in Keras.

    >>> sparse_categorical_crossentropy([1, 2], [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]).round(6).tolist()
    [0.051293, 2.302585]
    """
    t, p = as_float64(y_true), as_float64(y_pred)
    if t.ndim == p.ndim and t.shape[axis] == 1:
        t = np.squeeze(t, axis=axis)
    ignored = np.zeros(t.shape, dtype=bool) if ignore_class is None else t == ignore_class
    t = np.where(ignored, 0.0, t)
    if class_index_violations(t, p.shape[axis]).any() or np.isnan(t).any():
        raise ValueError(f"Class-index targets must be integers in [0, {p.shape[axis]}).")
    loss = sparse_categorical_crossentropy_kernel(p, t, from_logits=from_logits, axis=axis)
    return _rows(np.where(ignored, 0.0, loss))


def categorical_focal_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Result:
    """Keras ``categorical_focal_crossentropy``: ``Σ α·(1 − q)^γ·(−y·log q)`` over ``axis``.

    >>> categorical_focal_crossentropy([[0.0, 1.0, 0.0]], [[0.05, 0.95, 0.0]]).round(9).tolist()
    [3.2058e-05]
    """
    y, p = _pair(y_true, y_pred)
    return _rows(
        categorical_focal_crossentropy_kernel(
            p,
            y,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
    )


def kl_divergence(y_true: ArrayLike, y_pred: ArrayLike) -> Result:
    """Keras ``kl_divergence``: ``Σ t·log(t/p)`` over the last axis, both clipped to
    ``[1e-7, 1]``.

    >>> kl_divergence([[0.5, 0.5]], [[0.25, 0.75]]).round(6).tolist()
    [0.143841]
    """
    y, p = _pair(y_true, y_pred)
    return _rows(kl_divergence_kernel(p, y, axis=-1))
