"""Margin losses: PyTorch's soft, multi-label soft and multi-class margins; Keras's squared and
categorical hinge.

Kernels over a class axis take ``axis`` and drop it. Kernels, registry entries and the Python
API side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING

from losscli.catalogue.api import as_float64, check_same_shape, reduce
from losscli.catalogue.arrays import vdot, vsum
from losscli.catalogue.classification import (
    CLASS_INDEX,
    LOGITS,
    class_index_violations,
    list_param,
    softplus,
)
from losscli.catalogue.spec import (
    PRED,
    TARGET,
    LossSpec,
    Param,
    Params,
    Role,
    all_non_negative,
    finite,
    np,
    pair,
    row,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from losscli.catalogue.api import Reduction, Result
    from losscli.catalogue.spec import Inputs
    from losscli.catalogue.workspace import Workspace

    Array = NDArray[np.float64]

__all__ = [
    "categorical_hinge",
    "multi_margin_loss",
    "multilabel_soft_margin_loss",
    "soft_margin_loss",
    "squared_hinge",
]


# -- kernels ----------------------------------------------------------------------------------


def soft_margin(inputs: Array, targets: Array, *, out: Array | None = None) -> Array:
    """PyTorch ``soft_margin_loss``: ``log(1 + exp(−y·x))``, as a softplus that neither
    overflows nor cancels (PyTorch's ``log1p(exp(·))`` overflows to inf beyond ``y·x < −709``)."""
    out = np.multiply(inputs, targets, out=out)
    np.negative(out, out=out)
    return softplus(out.copy(), out=out)


def multilabel_soft_margin(
    inputs: Array, targets: Array, *, weight: Array | None = None, axis: int = -1
) -> Array:
    """PyTorch ``multilabel_soft_margin_loss`` per row: the mean over the C classes of
    ``w_c·(y·softplus(−x) + (1 − y)·softplus(x))`` (= ``−w_c·(y·log σ(x) + (1 − y)·log σ(−x))``)."""
    loss = softplus(-inputs)
    np.multiply(loss, targets, out=loss)
    negative = softplus(inputs)
    np.multiply(negative, np.subtract(1.0, targets), out=negative)
    np.add(loss, negative, out=loss)
    if weight is not None:
        shape = [1] * loss.ndim
        shape[axis] = -1
        np.multiply(loss, np.asarray(weight, dtype=np.float64).reshape(shape), out=loss)
    total = vsum(loss, axis)
    return np.divide(total, inputs.shape[axis], out=total)


def multi_margin(
    inputs: Array,
    targets: Array,
    *,
    p: int = 1,
    margin: float = 1.0,
    weight: Array | None = None,
    axis: int = -1,
) -> Array:
    """PyTorch ``multi_margin_loss`` per row: ``Σ_{c≠y} w[y]·max(0, margin − x_y + x_c)^p / C``
    (p = 1 or 2; the class weight multiplies the powered hinge, as PyTorch computes it)."""
    index = np.expand_dims(np.asarray(targets).astype(np.intp, copy=False), axis)
    x_y = np.take_along_axis(inputs, index, axis)
    z = np.subtract(margin, x_y)
    z = np.add(z, inputs)
    np.maximum(z, 0.0, out=z)
    if p == 2:
        np.multiply(z, z, out=z)
    np.put_along_axis(z, index, 0.0, axis)
    loss = vsum(z, axis)
    if weight is not None:
        np.multiply(loss, np.asarray(weight, dtype=np.float64)[index.squeeze(axis)], out=loss)
    return np.divide(loss, inputs.shape[axis], out=loss)


def hinge_labels(targets: Array) -> Array:
    """Keras's labels for hinge losses: 0 becomes −1 (Keras converts 0/1 labels to ±1 by
    ``2y − 1``); other labels are used as given."""
    return np.where(np.equal(targets, 0.0), -1.0, targets)


def squared_hinge_kernel(inputs: Array, targets: Array, *, out: Array | None = None) -> Array:
    """Keras ``squared_hinge`` term: ``max(1 − y·x, 0)²`` with 0/1 labels read as −1/+1."""
    out = np.multiply(inputs, hinge_labels(targets), out=out)
    np.subtract(1.0, out, out=out)
    np.maximum(out, 0.0, out=out)
    return np.multiply(out, out, out=out)


def categorical_hinge_kernel(inputs: Array, targets: Array, *, axis: int = -1) -> Array:
    """Keras ``categorical_hinge`` per row: ``max(max_c((1 − y_c)·x_c) − Σ_c y_c·x_c + 1, 0)``."""
    positive = vdot(targets, inputs, axis)
    negative = np.max(np.multiply(np.subtract(1.0, targets), inputs), axis=axis)
    np.subtract(negative, positive, out=negative)
    np.add(negative, 1.0, out=negative)
    return np.maximum(negative, 0.0, out=negative)


# -- registry entries -------------------------------------------------------------------------


def _multilabel_soft_margin(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    x = inputs["pred"]
    weight = list_param(params, "class_weight", x.shape[0], "class")
    return row(multilabel_soft_margin(x, inputs["target"], weight=weight, axis=0))


def _multi_margin(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    x = inputs["pred"]
    weight = list_param(params, "class_weight", x.shape[0], "class")
    index = np.nan_to_num(inputs["target"][0])
    loss = multi_margin(x, index, p=params["p"], margin=params["margin"], weight=weight, axis=0)
    loss[np.isnan(inputs["target"][0])] = np.nan
    return row(loss)


def _categorical_hinge(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    return row(categorical_hinge_kernel(inputs["pred"], inputs["target"], axis=0))


CLASS_WEIGHT = Param(
    "class_weight",
    None,
    "per-class weights (PyTorch weight=)",
    item_type=float,
    valid=all_non_negative,
    valid_text="values ≥ 0",
)
SIGN_TARGET = Role(
    "target",
    "--target",
    "±1 label column(s), one per prediction column",
    short="-t",
    auto_names=TARGET.auto_names,
)
MULTI_LABELS = Role(
    "target",
    "--target",
    "0/1 label columns, one per class column",
    short="-t",
    auto_names=TARGET.auto_names,
)
CLASS_INDEX_TARGET = Role(
    "target", "--target", "the class-index column", short="-t", auto_names=TARGET.auto_names
)
ONE_HOT = Role(
    "target",
    "--target",
    "one-hot (or probability) label columns, one per class column",
    short="-t",
    auto_names=TARGET.auto_names,
)
HINGE_LABELS = Role(
    "target",
    "--target",
    "label column(s): ±1, or 0/1 (0 is read as −1, as Keras converts 0/1 labels)",
    short="-t",
    auto_names=TARGET.auto_names,
)


LOSSES: tuple[LossSpec, ...] = (
    LossSpec(
        name="soft_margin",
        summary="two-class logistic (soft margin) loss with ±1 labels",
        formula="log(1 + exp(−y·x))",
        api="soft_margin_loss",
        roles=(PRED, SIGN_TARGET),
        elementwise=pair(soft_margin, scratch=0),
        aliases=("soft_margin_loss",),
        reference="torch.nn.SoftMarginLoss",
    ),
    LossSpec(
        name="multilabel_soft_margin",
        summary="multi-label one-versus-all logistic loss, the mean over classes per row",
        formula="mean_c w_c·(y·softplus(−x) + (1 − y)·softplus(x))",
        api="multilabel_soft_margin_loss",
        roles=(LOGITS, MULTI_LABELS),
        params=(CLASS_WEIGHT,),
        elementwise=_multilabel_soft_margin,
        reduces_axis=True,
        aliases=("multilabel_soft_margin_loss",),
        reference="torch.nn.MultiLabelSoftMarginLoss",
    ),
    LossSpec(
        name="multi_margin",
        summary="multi-class margin (hinge) loss over class-score columns",
        formula="Σ_{c≠y} w[y]·max(0, margin − x_y + x_c)^p / C",
        api="multi_margin_loss",
        roles=(LOGITS, CLASS_INDEX_TARGET),
        params=(
            Param(
                "p",
                1,
                "the power of the hinge",
                type=int,
                valid=lambda v: v in (1, 2),
                valid_text="1 or 2",
            ),
            Param("margin", 1.0, "the margin", valid=finite, valid_text="a finite number"),
            CLASS_WEIGHT,
        ),
        elementwise=_multi_margin,
        reduces_axis=True,
        paired=False,
        checks=(CLASS_INDEX,),
        aliases=("multi_margin_loss",),
        reference="torch.nn.MultiMarginLoss",
    ),
    LossSpec(
        name="squared_hinge",
        summary="squared hinge loss (Keras): 0/1 labels read as −1/+1",
        formula="max(1 − y·x, 0)², y = −1 where the label is 0",
        api="squared_hinge",
        roles=(PRED, HINGE_LABELS),
        elementwise=pair(squared_hinge_kernel, scratch=0),
        reference="keras squared_hinge",
        notes="Keras converts 0/1 labels only when a whole batch is 0/1; losscli reads every 0 "
        "as −1, which differs only for data mixing 0 with labels other than 1.",
    ),
    LossSpec(
        name="categorical_hinge",
        summary="categorical hinge loss (Keras) over one-hot label columns",
        formula="max(max_c((1 − y_c)·x_c) − Σ_c y_c·x_c + 1, 0)",
        api="categorical_hinge",
        roles=(PRED, ONE_HOT),
        elementwise=_categorical_hinge,
        reduces_axis=True,
        reference="keras categorical_hinge",
    ),
)


# -- Python API -------------------------------------------------------------------------------


def soft_margin_loss(input: ArrayLike, target: ArrayLike, reduction: Reduction = "mean") -> Result:
    """PyTorch ``soft_margin_loss``: ``log(1 + exp(−y·x))``, reduced over every element.

    >>> round(float(soft_margin_loss([0.0, 2.0], [1.0, -1.0])), 6)
    1.410038
    """
    x, y = as_float64(input), as_float64(target)
    check_same_shape(x, y, "input", "target")
    return reduce(soft_margin(x, y), reduction)


def multilabel_soft_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
) -> Result:
    """PyTorch ``multilabel_soft_margin_loss`` on (N, C) logits and 0/1 targets: per row the
    mean over classes of ``−w_c·(y·log σ(x) + (1 − y)·log σ(−x))``, then ``reduction`` over rows.

    >>> round(float(multilabel_soft_margin_loss([[0.0, 0.0]], [[1.0, 0.0]])), 6)
    0.693147
    """
    x, y = as_float64(input), as_float64(target)
    check_same_shape(x, y, "input", "target")
    w = None if weight is None else as_float64(weight)
    return reduce(multilabel_soft_margin(x, y, weight=w, axis=-1), reduction)


def multi_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    p: int = 1,
    margin: float = 1.0,
    weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
) -> Result:
    """PyTorch ``multi_margin_loss`` on (N, C) scores and class indices:
    ``Σ_{c≠y} w[y]·max(0, margin − x_y + x_c)^p / C`` per row.

    >>> round(float(multi_margin_loss([[0.1, 0.2, 0.4, 0.8]], [3])), 6)
    0.325
    """
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    x, t = as_float64(input), as_float64(target)
    if class_index_violations(t, x.shape[-1]).any() or np.isnan(t).any():
        raise ValueError(f"Class-index targets must be integers in [0, {x.shape[-1]}).")
    w = None if weight is None else as_float64(weight)
    return reduce(multi_margin(x, t, p=p, margin=margin, weight=w, axis=-1), reduction)


def _last_axis_mean(loss: Array) -> Result:
    out = np.mean(loss, axis=-1)
    return np.float64(out) if np.ndim(out) == 0 else np.asarray(out, dtype=np.float64)


def squared_hinge(y_true: ArrayLike, y_pred: ArrayLike) -> Result:
    """Keras ``squared_hinge``: the mean over the last axis of ``max(1 − y·x, 0)²`` (0/1 labels
    read as −1/+1).

    >>> squared_hinge([[1.0, 0.0]], [[0.3, -0.7]]).round(12).tolist()
    [0.29]
    """
    y, x = as_float64(y_true), as_float64(y_pred)
    check_same_shape(y, x, "y_true", "y_pred")
    return _last_axis_mean(squared_hinge_kernel(x, y))


def categorical_hinge(y_true: ArrayLike, y_pred: ArrayLike) -> Result:
    """Keras ``categorical_hinge`` per row (last axis): ``max(neg − pos + 1, 0)`` with
    ``pos = Σ y·x`` and ``neg = max((1 − y)·x)``.

    >>> categorical_hinge([[0.0, 1.0]], [[0.6, 0.4]]).round(12).tolist()
    [1.2]
    """
    y, x = as_float64(y_true), as_float64(y_pred)
    check_same_shape(y, x, "y_true", "y_pred")
    out = categorical_hinge_kernel(x, y, axis=-1)
    return np.float64(out) if np.ndim(out) == 0 else out
